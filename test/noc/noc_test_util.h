/*
 * noc_test_util.h - shared helpers of the NoC tests: a deterministic PRNG
 * and a generator of random *valid* messages of every type, built both as a
 * struct dl_msg (the expected decode) and through the typed encoders.
 */
#ifndef NOC_TEST_UTIL_H
#define NOC_TEST_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "dl_msg.h"

struct rng {
	uint64_t s;
};

static inline uint64_t rng_next(struct rng *r)
{
	/* xorshift64* */
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * UINT64_C(2685821657736338717);
}

/* Uniform-ish in [0, n). */
static inline uint64_t rng_below(struct rng *r, uint64_t n)
{
	return n == 0 ? 0 : rng_next(r) % n;
}

static inline struct dl_msg_ref random_ref(struct rng *r, bool allow_more)
{
	struct dl_msg_ref ref = {
	    .off = rng_next(r) & DL_MSG_REF_OFF_MAX,
	    .len = (uint32_t)(1 + rng_below(r, DL_MSG_REF_LEN_MAX)),
	    .region = (uint8_t)rng_below(r, DL_MSG_REF_REGION_MAX + 1),
	    .more = allow_more && (rng_next(r) & 1),
	};
	if (rng_below(r, 8) == 0) { /* extremes */
		ref.off = DL_MSG_REF_OFF_MAX;
		ref.len = DL_MSG_REF_LEN_MAX;
		ref.region = DL_MSG_REF_REGION_MAX;
	}
	return ref;
}

/*
 * Fill @p m with a random valid message of @p type. Array payloads are
 * packed into @p refw (room for DL_MSG_MAX_REFS words) with @p nrefs refs
 * (0: random count).
 */
static inline void random_msg(struct rng *r, unsigned type, struct dl_msg *m, uint64_t *refw,
			      unsigned nrefs)
{
	static uint8_t fake_data[64], fake_scratch[32];

	memset(m, 0, sizeof(*m));
	m->type = (uint8_t)type;
	m->core = (uint8_t)rng_below(r, DL_MAX_CORES);
	m->conn = (uint32_t)rng_next(r);
	switch (type) {
	case DL_MSG_NEW_CONN:
		m->u.new_conn.local_port = (uint16_t)rng_next(r);
		m->u.new_conn.peer_port = (uint16_t)rng_next(r);
		m->u.new_conn.peer_ip = (uint32_t)rng_next(r);
		break;
	case DL_MSG_CONNECTED:
		m->u.connected.cookie = rng_next(r);
		break;
	case DL_MSG_CONNECT_FAILED:
		m->conn = 0;
		m->u.connect_failed.cookie = rng_next(r);
		m->u.connect_failed.err = (int)(1 + rng_below(r, 0x7ffffffe));
		break;
	case DL_MSG_NEW_DATA:
	case DL_MSG_SEND:
		m->u.data.n = nrefs != 0 ? nrefs : (unsigned)(1 + rng_below(r, DL_MSG_MAX_REFS));
		for (unsigned i = 0; i < m->u.data.n; i++) {
			struct dl_msg_ref ref = random_ref(r, type == DL_MSG_SEND);
			refw[i] = dl_msg_ref_pack(&ref);
		}
		m->u.data.refs = refw;
		break;
	case DL_MSG_ACKED_NEW_DATA:
	case DL_MSG_SEND_RECV_DONE:
		m->u.data.n =
		    nrefs != 0 ? nrefs : (unsigned)(1 + rng_below(r, DL_MSG_MAX_REFS_PAIRED));
		for (unsigned i = 0; i < m->u.data.n; i++) {
			struct dl_msg_ref ref = random_ref(r, type == DL_MSG_SEND_RECV_DONE);
			refw[i] = dl_msg_ref_pack(&ref);
		}
		m->u.data.refs = refw;
		m->u.data.bytes = (uint32_t)(1 + rng_below(r, 0xfffffffe));
		break;
	case DL_MSG_DATA_ACKED:
		m->u.data_acked.bytes = (uint32_t)rng_next(r);
		break;
	case DL_MSG_REMOTE_CLOSED:
		m->u.remote_closed.reason = (unsigned)rng_below(r, 4);
		break;
	case DL_MSG_CMD_ERROR:
		m->u.cmd_error.cmd = (unsigned)(DL_MSG_LISTEN + rng_below(r, 7));
		m->u.cmd_error.err = (int)(1 + rng_below(r, 65535));
		m->u.cmd_error.context = rng_next(r);
		break;
	case DL_MSG_LISTEN:
		m->conn = 0;
		m->u.listen.port = (uint16_t)rng_next(r);
		m->u.listen.backlog = (uint32_t)rng_next(r);
		break;
	case DL_MSG_ACCEPT:
		m->u.accept.port = (uint16_t)rng_next(r);
		break;
	case DL_MSG_CONNECT:
		m->conn = 0;
		m->u.connect.cookie = rng_next(r);
		m->u.connect.ip = (uint32_t)rng_next(r);
		m->u.connect.port = (uint16_t)rng_next(r);
		break;
	case DL_MSG_RECV_DONE:
		m->u.recv_done.bytes = (uint32_t)rng_next(r);
		break;
	case DL_MSG_SHUTDOWN:
		m->u.shutdown.how = (unsigned)rng_below(r, 3);
		break;
	case DL_MSG_PKT_HANDOFF:
		m->conn = 0;
		m->u.handoff.data = fake_data + rng_below(r, 8);
		m->u.handoff.len = (uint32_t)(1 + rng_below(r, 0xfffffffe));
		m->u.handoff.hash = (uint32_t)rng_next(r);
		m->u.handoff.flags = (uint32_t)rng_below(r, DL_RX_HANDOFF * 2);
		m->u.handoff.region = (uint16_t)rng_below(r, DL_REGION_MAX);
		m->u.handoff.queue = (uint16_t)rng_next(r);
		m->u.handoff.scratch = rng_next(r) & 1 ? fake_scratch : NULL;
		m->u.handoff.buf = (struct dl_buf *)(uintptr_t)(rng_next(r) & ~UINT64_C(7));
		break;
	case DL_MSG_ARP_LEARN:
		m->conn = 0;
		m->u.arp_learn.ip = (uint32_t)(1 + rng_below(r, 0xfffffffe));
		for (int i = 0; i < 6; i++)
			m->u.arp_learn.mac[i] = (uint8_t)rng_next(r);
		m->u.arp_learn.mac[0] &= 0xfe; /* unicast */
		m->u.arp_learn.mac[1] |= 1;    /* not all-zero */
		break;
	default: /* CLEANUP, CLOSE */
		break;
	}
}

#endif
