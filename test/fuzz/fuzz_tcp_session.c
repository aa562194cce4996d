/*
 * fuzz_tcp_session.c - one TCP connection driven by a script.
 *
 * The input picks the configuration (fuzz_net.h) and the connection (a
 * passive one with timestamps and window scale, one without options, or
 * the stack's active open), then is a script of steps on it:
 *
 *   peer data in order (length, FIN), data out of order (a gap), a segment
 *   with chosen fields (flags, sequence and acknowledgment offsets, window,
 *   timestamp offset, length), acknowledgments (all, partial, duplicates,
 *   a zero window), the application's send / recv_done / hold / shutdown /
 *   close, and time steps (milliseconds, seconds, to the next deadline).
 *
 * After every step the stack runs one iteration and dl_stack_check()
 * verifies its invariants (send and receive sequence space, queue
 * accounting, timers armed when they must be); the fixture also checks
 * both byte streams end to end and the API's rules (fuzz_net.h).
 */
#include "fuzz_net.h"
#include "dl_tcp.h"

#define MAX_STEPS 600

static const unsigned conn_flows[3] = {FN_F_EST_TS, FN_F_EST, FN_F_ACTIVE};

static const uint8_t flag_table[16] = {
    DL_TCP_ACK,
    DL_TCP_ACK | DL_TCP_PSH,
    DL_TCP_ACK | DL_TCP_FIN,
    DL_TCP_RST,
    DL_TCP_RST | DL_TCP_ACK,
    DL_TCP_SYN,
    DL_TCP_SYN | DL_TCP_ACK,
    DL_TCP_FIN,
    0,
    DL_TCP_ACK | DL_TCP_URG,
    DL_TCP_ACK | DL_TCP_PSH | DL_TCP_FIN,
    DL_TCP_ACK | DL_TCP_ECE | DL_TCP_CWR,
    DL_TCP_SYN | DL_TCP_FIN,
    DL_TCP_ACK,
    DL_TCP_ACK | DL_TCP_PSH,
    0xff,
};

/* The peer's data: in MSS-sized segments, pattern bytes, optional FIN. */
static void peer_data(struct fn *w, unsigned flow, uint32_t len, bool fin)
{
	struct fn_seg sg;

	do {
		uint32_t k = len > 1400 ? 1400 : len;
		fn_seg_default(w, flow, DL_TCP_ACK | (k == len ? DL_TCP_PSH : 0), &sg);
		sg.len = k;
		if (k == len && fin)
			sg.flags |= DL_TCP_FIN;
		fn_seg(w, &sg);
		len -= k;
	} while (len > 0);
}

/* LLVMFuzzerInitialize: fuzz_net.c. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = {data, size};
	struct fn *w = fn_new(fz_u8(&in));
	unsigned flow = conn_flows[fz_u8(&in) % 3];
	struct fn_flow *f = &w->fl[flow];
	struct fn_seg sg;

	for (unsigned step = 0; step < MAX_STEPS && fz_left(&in); step++) {
		uint8_t op = fz_u8(&in);

		switch (op % 14) {
		case 0: /* in-order data */
			peer_data(w, flow, fz_u16(&in) % 6000 + 1, (op & 0x80) != 0);
			break;
		case 1: { /* out of order: a gap before it, the peer's next byte unchanged */
			uint32_t nxt = f->p_nxt, gap = fz_u16(&in) % 8000 + 1;
			fn_seg_default(w, flow, DL_TCP_ACK, &sg);
			sg.seq = nxt + gap;
			sg.len = fz_u16(&in) % 1400 + 1;
			fn_seg(w, &sg);
			f->p_nxt = nxt;
			break;
		}
		case 2: { /* a segment with chosen fields */
			uint8_t fl = fz_u8(&in);
			fn_seg_default(w, flow, flag_table[fl & 15], &sg);
			if ((fl & 15) == 15)
				sg.flags = fz_u8(&in);
			sg.seq += (uint32_t)fz_delta(&in);
			sg.ack += (uint32_t)fz_delta(&in);
			if (fl & 0x10)
				sg.wnd = fz_u16(&in);
			if (fl & 0x20)
				sg.tsval += (uint32_t)fz_delta(&in);
			if (fl & 0x40)
				sg.ts = !sg.ts;
			sg.len = (fl & 0x80) ? fz_u16(&in) % 1461 : 0;
			if (!(op & 0x80))
				f->p_nxt = sg.seq; /* the model follows only when told */
			{
				uint32_t keep = f->p_nxt;
				fn_seg(w, &sg);
				if (op & 0x80)
					f->p_nxt = keep;
			}
			break;
		}
		case 3: /* acknowledge everything */
			fn_seg_default(w, flow, DL_TCP_ACK, &sg);
			fn_seg(w, &sg);
			break;
		case 4: { /* a partial or old acknowledgment, sometimes a zero window */
			uint8_t a = fz_u8(&in);
			fn_seg_default(w, flow, DL_TCP_ACK, &sg);
			sg.ack = f->p_acked + (f->st_max - f->p_acked) * (a & 15) / 16;
			if (a & 0x10)
				sg.wnd = 0;
			else if (a & 0x20)
				sg.wnd = (uint16_t)(fz_u8(&in) + 1);
			fn_seg(w, &sg);
			break;
		}
		case 5: /* three duplicate ACKs */
			for (int i = 0; i < 3; i++) {
				fn_seg_default(w, flow, DL_TCP_ACK, &sg);
				sg.ack = f->p_acked;
				fn_seg(w, &sg);
			}
			break;
		case 6:
		case 7: /* the application sends */
			fn_app_flow(w, flow, 0, fz_u16(&in) % 20000);
			break;
		case 8: { /* the application reads or holds */
			uint8_t a = fz_u8(&in);
			fn_app_flow(w, flow, a % 4, fz_u32(&in));
			break;
		}
		case 9: { /* the application ends it */
			uint8_t a = fz_u8(&in);
			static const unsigned ops[4] = {4, 5, 6, 8};
			fn_app_flow(w, flow, ops[a & 3], a >> 2);
			break;
		}
		case 10:
			w->now += (uint64_t)fz_u8(&in) * 1000;
			break;
		case 11:
			w->now += (uint64_t)fz_u16(&in) * 10000;
			break;
		case 12:
			fn_next_deadline(w, 120000000);
			continue;
		default: /* data and its acknowledgment crossing: both at once */
			peer_data(w, flow, fz_u8(&in) + 1u, false);
			fn_app_flow(w, flow, 0, fz_u8(&in) + 1u);
			break;
		}
		fn_run(w);
	}
	fn_run(w);
	fn_free(w);
	return 0;
}
