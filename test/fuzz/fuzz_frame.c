/*
 * fuzz_frame.c - frames from the wire into one network core's stack.
 *
 * The stack sits on the in-memory wire with two listeners, three
 * established passive connections and one active one (fuzz_net.h). The
 * input is a configuration byte (timestamps, window scale, SYN cookies,
 * keepalive, delayed ACKs, gateway, small windows and queues) and then a
 * list of records, each one of:
 *
 *   TCP segment   a template: flow (or a random peer port), flags, sequence
 *                 and acknowledgment numbers (relative to what each side
 *                 sent, or absolute), window, options (MSS, WS, SACK-OK,
 *                 timestamps, raw option bytes), payload (the flow's
 *                 pattern or raw bytes), sometimes one corruption (checksum,
 *                 lengths, data offset, truncation, TTL, fragment, IP
 *                 options, addresses, MAC, padding). Checksums are right
 *                 unless corrupted, so the TCP state machine is reached.
 *   raw frame     bytes as they are, or behind a valid Ethernet header, or
 *                 behind valid Ethernet and IPv4 headers (L4 checksum set);
 *   ARP           request/reply/other from several senders and MACs;
 *   ICMP          echo (or another type) with or without a good checksum;
 *   time          a step of milliseconds or seconds, or to the next deadline;
 *   application   send, recv_done, shutdown, close, abort, accept, commands
 *                 of another core, a new connect.
 *
 * A record's top bit holds it back: records are injected as a burst until
 * one without it, then the stack runs one iteration. The oracles are those
 * of fuzz_net.h (the stack's invariants after every iteration, well-formed
 * output, payload integrity both ways, the API's rules, no buffer leaked).
 */
#include "fuzz_net.h"
#include "dl_tcp.h"

#define MAX_RECORDS 400

static void seg_record(struct fn *w, struct fz *in, uint8_t op)
{
	uint8_t fsel = fz_u8(in), m, ob;
	struct fn_seg sg;
	const struct fn_flow *f;
	size_t n;

	fn_seg_default(w, fsel & 7, fz_u8(in), &sg);
	f = &w->fl[sg.flow];
	if (fsel & 8)
		sg.sport_override = (uint16_t)(fz_u16(in) | 1);
	m = fz_u8(in);
	switch (m & 3) {
	case 0:
		sg.seq = f->p_nxt + (uint32_t)fz_delta(in);
		break;
	case 1:
		sg.seq = f->st_ack + (uint32_t)fz_delta(in);
		break;
	case 2:
		sg.seq = fz_u32(in);
		break;
	default:
		sg.seq = f->p_iss + (uint32_t)fz_delta(in);
		break;
	}
	switch ((m >> 2) & 3) {
	case 0:
		sg.ack = f->st_max + (uint32_t)fz_delta(in);
		break;
	case 1:
		sg.ack = f->st_iss + 1 + (uint32_t)fz_delta(in);
		break;
	case 2:
		sg.ack = fz_u32(in);
		break;
	default:
		sg.ack = f->p_acked + (uint32_t)fz_delta(in);
		break;
	}
	switch ((m >> 4) & 3) {
	case 0:
		sg.wnd = 65535;
		break;
	case 1:
		sg.wnd = fz_u16(in);
		break;
	case 2:
		sg.wnd = 0;
		break;
	default:
		sg.wnd = (uint16_t)(fz_u8(in) * 16);
		break;
	}
	ob = fz_u8(in);
	if (ob & 1) {
		sg.mss = true;
		sg.mss_val = fz_u16(in);
	}
	if (ob & 2) {
		sg.ws = true;
		sg.ws_val = fz_u8(in);
	}
	sg.sackok = (ob & 4) != 0;
	if (ob & 8) { /* flip the flow's usual choice */
		sg.ts = !sg.ts;
		sg.tsecr = f->st_tsval;
	}
	if (sg.ts && (ob & 0x20)) {
		sg.tsval += (uint32_t)fz_delta(in);
		sg.tsecr += (uint32_t)fz_delta(in);
	}
	if (ob & 0x10)
		sg.raw_opts = fz_bytes(in, 40, &sg.raw_opts_len);
	uint8_t l = fz_u8(in);
	sg.len = l < 64 ? 0 : l < 192 ? (uint32_t)(l - 64) * 12 : fz_u16(in) % 1461;
	if (op & 0x40) {
		sg.payload = fz_bytes(in, 1460, &n);
		sg.len = (uint32_t)n;
		w->taint = true;
	}
	uint8_t c = fz_u8(in);
	sg.corrupt = c >= 232 ? (uint8_t)(c - 231) : 0;
	fn_seg(w, &sg);
}

static void raw_record(struct fn *w, struct fz *in)
{
	uint8_t mode = fz_u8(in), fr[2048];
	size_t n, at = 0;
	const uint8_t *p;

	p = fz_bytes(in, 1600, &n);
	switch (mode % 3) {
	case 0:
		fn_raw(w, p, n);
		return;
	case 1: /* a valid Ethernet header to us, then the bytes */
		memcpy(fr, w->s->cfg.mac, 6);
		memset(fr + 6, 0x02, 6);
		fr[12] = 0x08;
		fr[13] = (mode & 0x80) ? 0x06 : 0x00;
		at = 14;
		break;
	default: { /* and a valid IPv4 header from the peer, protocol from the mode */
		uint8_t *ip = fr + 14;
		static const uint8_t protos[4] = {6, 1, 17, 99};
		uint32_t sum = 0;
		memcpy(fr, w->s->cfg.mac, 6);
		memset(fr + 6, 0x02, 6);
		fr[12] = 0x08;
		fr[13] = 0x00;
		ip[0] = 0x45;
		ip[1] = 0;
		ip[2] = (uint8_t)((20 + n) >> 8);
		ip[3] = (uint8_t)(20 + n);
		ip[4] = ip[5] = 0;
		ip[6] = 0x40;
		ip[7] = 0;
		ip[8] = 64;
		ip[9] = protos[(mode >> 2) & 3];
		ip[10] = ip[11] = 0;
		dl_put32(ip + 12, FN_PEER_IP);
		dl_put32(ip + 16, FN_OUR_IP);
		for (int i = 0; i < 20; i += 2)
			sum += (uint32_t)ip[i] << 8 | ip[i + 1];
		while (sum >> 16)
			sum = (sum & 0xffff) + (sum >> 16);
		ip[10] = (uint8_t)(~sum >> 8);
		ip[11] = (uint8_t)~sum;
		at = 34;
		break;
	}
	}
	memcpy(fr + at, p, n);
	if (mode % 3 == 2 && fr[23] == 6 && n >= 20) {
		/* a right TCP checksum, so the header reaches the parser */
		uint32_t sum = 0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 6 + (uint32_t)n;
		fr[at + 16] = fr[at + 17] = 0;
		for (size_t i = 0; i + 1 < n; i += 2)
			sum += (uint32_t)fr[at + i] << 8 | fr[at + i + 1];
		if (n & 1)
			sum += (uint32_t)fr[at + n - 1] << 8;
		while (sum >> 16)
			sum = (sum & 0xffff) + (sum >> 16);
		fr[at + 16] = (uint8_t)(~sum >> 8);
		fr[at + 17] = (uint8_t)~sum;
	}
	fn_raw(w, fr, at + n);
}

static void arp_record(struct fn *w, struct fz *in)
{
	static const uint32_t ips[6] = {FN_PEER_IP, FN_PEER2_IP, FN_GW_IP,
					FN_OUR_IP,  0x0a0000ffu, 0};
	static const uint8_t macs[4][6] = {{2, 0, 0, 0, 0, 2},
					   {2, 0, 0, 0, 0, 0x77},
					   {0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
					   {0, 0, 0, 0, 0, 0}};
	uint8_t a = fz_u8(in), b = fz_u8(in);
	uint16_t op = (a & 3) == 3 ? fz_u16(in) : (uint16_t)((a & 1) + 1);
	uint32_t sip = ips[(a >> 2) % 6], tip = (b & 1) ? FN_OUR_IP : ips[(b >> 1) % 6];

	if (sip == 0)
		sip = fz_u32(in);
	fn_arp(w, op, sip, macs[(a >> 5) & 3], tip);
}

static void icmp_record(struct fn *w, struct fz *in)
{
	static const uint32_t ips[4] = {FN_PEER_IP, FN_PEER2_IP, FN_FAR_IP, 0x0a0000ffu};
	uint8_t a = fz_u8(in);
	uint32_t len = fz_u16(in) % 1600;
	uint8_t type = (a & 8) ? fz_u8(in) : 8, code = (a & 16) ? fz_u8(in) : 0;

	fn_ping(w, ips[a & 3], len, (a & 4) != 0, type, code);
}

static void convenience(struct fn *w, struct fz *in, bool data)
{
	struct fn_seg sg;
	uint8_t fsel = fz_u8(in);

	fn_seg_default(w, fsel & 7, data ? DL_TCP_ACK | DL_TCP_PSH : DL_TCP_ACK, &sg);
	if (data) {
		sg.len = fz_u16(in) % 1461;
		if (fsel & 0x80)
			sg.flags |= DL_TCP_FIN;
	}
	fn_seg(w, &sg);
}

/* LLVMFuzzerInitialize: fuzz_net.c. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = {data, size};
	struct fn *w = fn_new(fz_u8(&in));

	for (unsigned r = 0; r < MAX_RECORDS && fz_left(&in); r++) {
		uint8_t op = fz_u8(&in);

		switch (op & 15) {
		case 0:
		case 1:
		case 2:
		case 3:
		case 4:
		case 5:
			seg_record(w, &in, op);
			break;
		case 6:
			raw_record(w, &in);
			break;
		case 7:
			arp_record(w, &in);
			break;
		case 8:
			icmp_record(w, &in);
			break;
		case 9:
			w->now += (uint64_t)fz_u8(&in) * 1000;
			break;
		case 10:
			w->now += (uint64_t)fz_u16(&in) * 10000;
			break;
		case 11:
			fn_next_deadline(w, 120000000);
			continue;
		case 12:
		case 13: {
			uint8_t k = fz_u8(&in), o = fz_u8(&in);
			fn_app(w, k, o % 11, fz_u32(&in));
			break;
		}
		case 14:
			convenience(w, &in, false);
			break;
		default:
			convenience(w, &in, true);
			break;
		}
		if (!(op & 0x80))
			fn_run(w);
	}
	fn_run(w);
	fn_free(w);
	return 0;
}
