/*
 * test_tcp_misc.c - the building blocks under TCP: header and option
 * parsing/building (dl_tcp_wire.h), SipHash-2-4 against the published
 * vectors, and the hierarchical timing wheel (dl_wheel.h) against a
 * brute-force model with random inserts, cancels and time jumps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dl_siphash.h"
#include "dl_tcp_wire.h"
#include "dl_wheel.h"

/* ---- wire ------------------------------------------------------------------- */

static void test_wire_build_parse_roundtrip(void **state)
{
	uint8_t b[60];
	struct dl_tcp_hdr h = {.sport = 1234,
			       .dport = 80,
			       .seq = 0xdeadbeef,
			       .ack = 0x01020304,
			       .flags = DL_TCP_SYN | DL_TCP_ACK,
			       .wnd = 65535,
			       .opts = DL_TCP_OPT_MSS | DL_TCP_OPT_WS | DL_TCP_OPT_TS |
				       DL_TCP_OPT_SACKOK,
			       .mss = 1460,
			       .wscale = 7,
			       .tsval = 11,
			       .tsecr = 22};
	struct dl_tcp_hdr p;
	(void)state;

	assert_int_equal(dl_tcp_build(b, &h), 20 + 4 + 4 + 4 + 12);
	assert_int_equal(b[16] | b[17], 0); /* checksum left to the NIC */
	assert_int_equal(dl_tcp_parse(b, h.hlen, &p), DL_WIRE_OK);
	assert_int_equal(p.sport, 1234);
	assert_int_equal(p.dport, 80);
	assert_int_equal(p.seq, 0xdeadbeef);
	assert_int_equal(p.ack, 0x01020304);
	assert_int_equal(p.flags, DL_TCP_SYN | DL_TCP_ACK);
	assert_int_equal(p.opts, h.opts);
	assert_int_equal(p.mss, 1460);
	assert_int_equal(p.wscale, 7);
	assert_int_equal(p.tsval, 11);
	assert_int_equal(p.tsecr, 22);
	/* the established fast path: NOP NOP TS */
	h.opts = DL_TCP_OPT_TS;
	assert_int_equal(dl_tcp_build(b, &h), 32);
	assert_int_equal(dl_get32(b + 20), 0x0101080a);
	assert_int_equal(dl_tcp_parse(b, 32, &p), DL_WIRE_OK);
	assert_int_equal(p.opts, DL_TCP_OPT_TS);
	assert_int_equal(p.tsecr, 22);
}

static void test_wire_options_odd_layouts(void **state)
{
	uint8_t b[60] = {0};
	struct dl_tcp_hdr p;
	(void)state;

	b[12] = (uint8_t)(8 << 4); /* 32-byte header */
	/* unknown option 30 (len 4), WS with shift 20 (clamped), EOL */
	uint8_t o[] = {
	    30,		  4, 0, 0, DL_TCPOPT_WS, 3, 20, DL_TCPOPT_NOP, DL_TCPOPT_MSS, 4, 0x05, 0xb4,
	    DL_TCPOPT_EOL};
	memcpy(b + 20, o, sizeof(o));
	assert_int_equal(dl_tcp_parse(b, 32, &p), DL_WIRE_OK);
	assert_int_equal(p.opts, DL_TCP_OPT_WS | DL_TCP_OPT_MSS);
	assert_int_equal(p.wscale, DL_TCP_MAX_WSCALE);
	assert_int_equal(p.mss, 1460);
	/* a known option with a wrong length is ignored, not trusted */
	uint8_t o2[] = {DL_TCPOPT_MSS, 3, 0, DL_TCPOPT_TS, 6, 0, 0, 0, 0, 0, 0, 0};
	memcpy(b + 20, o2, sizeof(o2));
	assert_int_equal(dl_tcp_parse(b, 32, &p), DL_WIRE_OK);
	assert_int_equal(p.opts, 0);
	/* a length running past the header, a length of 0, a missing length */
	uint8_t o3[12] = {DL_TCPOPT_NOP, DL_TCPOPT_TS, 12};
	memcpy(b + 20, o3, sizeof(o3));
	assert_int_equal(dl_tcp_parse(b, 32, &p), DL_WIRE_BAD_FORMAT);
	o3[2] = 0;
	memcpy(b + 20, o3, sizeof(o3));
	assert_int_equal(dl_tcp_parse(b, 32, &p), DL_WIRE_BAD_FORMAT);
	memset(b + 20, DL_TCPOPT_NOP, 12);
	b[31] = DL_TCPOPT_MSS;
	assert_int_equal(dl_tcp_parse(b, 32, &p), DL_WIRE_BAD_FORMAT);
	/* header length checks */
	assert_int_equal(dl_tcp_parse(b, 19, &p), DL_WIRE_TRUNCATED);
	b[12] = 4 << 4;
	assert_int_equal(dl_tcp_parse(b, 32, &p), DL_WIRE_BAD_LENGTH);
	b[12] = 15 << 4;
	assert_int_equal(dl_tcp_parse(b, 32, &p), DL_WIRE_BAD_LENGTH);
}

/* ---- SipHash-2-4 (Aumasson & Bernstein, appendix vectors) ------------------------ */

static void test_siphash_reference_vectors(void **state)
{
	uint8_t key[16], msg[16];
	(void)state;

	for (int i = 0; i < 16; i++)
		key[i] = msg[i] = (uint8_t)i;
	assert_true(dl_siphash24(key, msg, 0) == 0x726fdb47dd0e0e31ull);
	assert_true(dl_siphash24(key, msg, 1) == 0x74f839c593dc67fdull);
	assert_true(dl_siphash24(key, msg, 8) == 0x93f5f5799a932462ull);
	assert_true(dl_siphash24(key, msg, 12) == 0x751e8fbc860ee5fbull); /* our ISN input size */
	assert_true(dl_siphash24(key, msg, 15) == 0xa129ca6149be45e5ull);
	key[0] ^= 1; /* a different key: a different value */
	assert_true(dl_siphash24(key, msg, 12) != 0x751e8fbc860ee5fbull);
}

/* ---- timing wheel ----------------------------------------------------------------- */

#define NODES 400

struct wnode {
	struct dl_wheel_node n;
	uint64_t due;	/* model: 0 = not armed */
	uint64_t fired; /* time it fired */
	unsigned count;
};

static struct wnode nodes[NODES];
static uint64_t now_us;
static struct wnode *fired_order[NODES * 64];
static unsigned nfired;

static void on_fire(struct dl_wheel *w, struct dl_wheel_node *n, void *arg)
{
	struct wnode *x = (struct wnode *)n;
	(void)w;
	(void)arg;
	assert_false(dl_wheel_armed(n));
	assert_true(x->due != 0);
	/* never early (never late is checked after each advance: no armed
	 * node may be due then) */
	assert_true(now_us >= x->due);
	x->due = 0;
	x->fired = now_us;
	x->count++;
	fired_order[nfired++ % (NODES * 64)] = x;
}

static void test_wheel_fires_on_time_in_order(void **state)
{
	struct dl_wheel w;
	uint64_t t0 = 1000000;
	(void)state;

	memset(nodes, 0, sizeof(nodes));
	nfired = 0;
	now_us = t0;
	dl_wheel_init(&w, 8, t0, on_fire, NULL);
	assert_true(dl_wheel_next(&w) == UINT64_MAX);
	/* a spread over every level: 1 us .. ~1 hour */
	uint64_t d[] = {1, 255, 256, 257, 16000, 16384, 1000000, 40000000, 3000000000ull};
	for (unsigned i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
		nodes[i].due = t0 + d[i];
		dl_wheel_insert(&w, &nodes[i].n, t0 + d[i]);
	}
	assert_int_equal(dl_wheel_count(&w), 9);
	while (dl_wheel_count(&w) > 0) {
		uint64_t nx = dl_wheel_next(&w);
		assert_true(nx >= now_us);
		now_us = nx;
		dl_wheel_advance(&w, now_us);
	}
	assert_int_equal(nfired, 9);
	for (unsigned i = 0; i < 9; i++) {
		/* in time order (same-tick order unspecified) ... */
		if (i > 0)
			assert_true(fired_order[i]->fired >= fired_order[i - 1]->fired);
		/* ... and the next deadline was exact: fired at its tick */
		assert_true(nodes[i].fired == ((t0 + d[i] + 255) >> 8) << 8);
		assert_int_equal(nodes[i].count, 1);
	}
}

static void test_wheel_cancel_and_rearm(void **state)
{
	struct dl_wheel w;
	(void)state;

	memset(nodes, 0, sizeof(nodes));
	nfired = 0;
	now_us = 0;
	dl_wheel_init(&w, 8, 0, on_fire, NULL);
	dl_wheel_insert(&w, &nodes[0].n, 5000);
	nodes[0].due = 5000;
	dl_wheel_insert(&w, &nodes[1].n, 6000);
	nodes[1].due = 6000;
	dl_wheel_cancel(&w, &nodes[0].n);
	nodes[0].due = 0;
	dl_wheel_cancel(&w, &nodes[0].n);	     /* twice: no-op */
	dl_wheel_insert(&w, &nodes[1].n, 100000000); /* re-arm moves it */
	nodes[1].due = 100000000;
	now_us = 50000000;
	dl_wheel_advance(&w, now_us);
	assert_int_equal(nfired, 0);
	assert_int_equal(dl_wheel_count(&w), 1);
	now_us = 100000000;
	dl_wheel_advance(&w, now_us);
	assert_int_equal(nfired, 1);
	assert_int_equal(dl_wheel_count(&w), 0);
	/* a timer beyond the span (2^38 us) is parked and still fires on time */
	dl_wheel_insert(&w, &nodes[2].n, now_us + (1ull << 40));
	nodes[2].due = now_us + (1ull << 40);
	while (dl_wheel_count(&w) > 0) {
		now_us = dl_wheel_next(&w);
		dl_wheel_advance(&w, now_us);
	}
	assert_int_equal(nodes[2].count, 1);
}

/* Callbacks may arm and cancel nodes of the same batch. */
static struct dl_wheel *cb_wheel;

static void on_fire_rearm(struct dl_wheel *w, struct dl_wheel_node *n, void *arg)
{
	struct wnode *x = (struct wnode *)n;
	(void)arg;
	on_fire(w, n, NULL);
	if (x == &nodes[0]) {
		dl_wheel_cancel(w, &nodes[1].n); /* same slot, not fired yet */
		nodes[1].due = 0;
		dl_wheel_insert(w, n, now_us); /* again: next tick, not this one */
		x->due = now_us;
	}
}

static void test_wheel_callback_rearms_and_cancels(void **state)
{
	struct dl_wheel w;
	(void)state;

	memset(nodes, 0, sizeof(nodes));
	nfired = 0;
	now_us = 0;
	cb_wheel = &w;
	dl_wheel_init(&w, 8, 0, on_fire_rearm, NULL);
	dl_wheel_insert(&w, &nodes[1].n, 1000);
	nodes[1].due = 1000;
	dl_wheel_insert(&w, &nodes[0].n, 1000);
	nodes[0].due = 1000;
	now_us = 1024;
	dl_wheel_advance(&w, now_us);
	assert_int_equal(nodes[0].count, 1);
	assert_int_equal(nodes[1].count, 0);
	assert_int_equal(dl_wheel_count(&w), 1);
	now_us = 1280;
	dl_wheel_advance(&w, now_us);
	assert_int_equal(nodes[0].count, 2);
}

static uint64_t rng = 88172645463325252ull;

static uint64_t xr(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Random inserts, re-arms, cancels and time jumps against the model:
 * every armed node fires exactly once, at its tick; none fires early. */
static void test_wheel_random_against_model(void **state)
{
	struct dl_wheel w;
	uint64_t spans[] = {300, 20000, 1500000, 120000000, 1ull << 36};
	(void)state;

	memset(nodes, 0, sizeof(nodes));
	nfired = 0;
	now_us = 123456789;
	dl_wheel_init(&w, 8, now_us, on_fire, NULL);
	for (int round = 0; round < 20000; round++) {
		struct wnode *x = &nodes[xr() % NODES];
		unsigned op = (unsigned)(xr() % 10);
		if (op < 6) {
			uint64_t due = now_us + xr() % spans[xr() % 5];
			dl_wheel_insert(&w, &x->n, due);
			x->due = due;
		} else if (op < 8) {
			dl_wheel_cancel(&w, &x->n);
			x->due = 0;
		} else {
			/* jump: to the next event or a random time */
			uint64_t nx = dl_wheel_next(&w);
			uint64_t to = (xr() & 1) && nx != UINT64_MAX ? nx : now_us + xr() % 3000000;
			if (to < now_us)
				to = now_us;
			/* the model: the earliest armed node is never before next */
			uint64_t earliest = UINT64_MAX;
			for (unsigned i = 0; i < NODES; i++)
				if (nodes[i].due != 0 &&
				    ((nodes[i].due + 255) >> 8 << 8) < earliest)
					earliest = (nodes[i].due + 255) >> 8 << 8;
			if (earliest != UINT64_MAX)
				assert_true(nx <= (earliest > now_us ? earliest : now_us + 256));
			now_us = to;
			dl_wheel_advance(&w, now_us);
			for (unsigned i = 0; i < NODES; i++)
				if (nodes[i].due != 0)
					assert_true(((nodes[i].due + 255) >> 8) > (now_us >> 8));
		}
		size_t armed = 0;
		for (unsigned i = 0; i < NODES; i++)
			armed += nodes[i].due != 0;
		assert_int_equal(dl_wheel_count(&w), armed);
	}
	while (dl_wheel_count(&w) > 0) {
		now_us = dl_wheel_next(&w);
		dl_wheel_advance(&w, now_us);
	}
	for (unsigned i = 0; i < NODES; i++)
		assert_int_equal(nodes[i].due, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_wire_build_parse_roundtrip),
	    cmocka_unit_test(test_wire_options_odd_layouts),
	    cmocka_unit_test(test_siphash_reference_vectors),
	    cmocka_unit_test(test_wheel_fires_on_time_in_order),
	    cmocka_unit_test(test_wheel_cancel_and_rearm),
	    cmocka_unit_test(test_wheel_callback_rearms_and_cancels),
	    cmocka_unit_test(test_wheel_random_against_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
