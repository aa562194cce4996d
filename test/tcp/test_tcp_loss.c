/*
 * test_tcp_loss.c - loss recovery between two DLibOS stacks over the
 * in-memory wire (tcp_harness.h), with deterministic loss patterns, SACK
 * on and off, asserting what the RFCs promise rather than timings:
 *
 *   - k holes per window (k = 1, 2, 5), each segment lost once: with SACK
 *     (RFC 2018, RACK RFC 8985, PRR RFC 6937) every episode is repaired
 *     within 3 round trips, no RTO, each lost segment resent once; with
 *     SACK off (NewReno, RFC 6582) an episode takes about one round trip
 *     per hole, still no RTO;
 *   - tail drops: the last segments of a response lost: a loss probe
 *     repairs them long before the 200 ms minimum RTO; with SACK (so
 *     probes) off, an RTO;
 *   - reordering: no RTO, spurious retransmissions bounded once RACK has
 *     seen reordering (D-SACK widens its window);
 *   - simultaneous open: two stacks connecting to each other complete the
 *     handshake with crossed SYNs (RFC 9293 figure 8) and transfer.
 *
 * Every run moves seeded streams both ways and checks them byte for
 * byte (the harness), closes cleanly and leaves no memory behind.
 * Virtual time: one-way delay 5 ms (RTT 10 ms), so 200 ms of RTO and a
 * few ms of PTO are far apart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dl_tcp.h"
#include "tcp_harness.h"

#define DELAY_US 5000u
#define RTT_US	 (2 * DELAY_US)

/* ---- deterministic loss: k holes in every window, first copies only ------------ */

struct holes {
	uint32_t window;    /**< bytes per window */
	uint32_t span;	    /**< the holes lie in the window's first span bytes */
	unsigned k;	    /**< holes per window */
	uint32_t first_win; /**< windows before the first with holes */
	bool tail;	    /**< instead: drop the last `k` segments of the stream */
	uint64_t stream;    /**< bytes of the stream (tail mode) */
	uint32_t iss;	    /**< the server's ISS (from its SYN or SYN-ACK) */
	bool have_iss;
	uint8_t *seen;	    /**< per segment offset / 100: dropped once already */
	size_t nseen;
	unsigned dropped;
};

/* Frames side 0 (the server) sends to side 1: Ethernet, IPv4, TCP. */
static bool drop_holes(void *arg, int to, const uint8_t *p, uint32_t len)
{
	struct holes *H = arg;
	const uint8_t *tcp = p + 14 + 20;
	uint32_t seq, off, plen, hlen;

	if (to != 1 || len < 14 + 20 + 20 || p[14 + 9] != DL_IPPROTO_TCP)
		return false;
	hlen = (uint32_t)(tcp[12] >> 4) * 4;
	plen = dl_get16(p + 14 + 2) - 20 - hlen;
	seq = dl_get32(tcp + 4);
	if (tcp[13] & DL_TCP_SYN) {
		H->iss = seq;
		H->have_iss = true;
		return false;
	}
	if (!H->have_iss || plen == 0)
		return false;
	off = seq - (H->iss + 1);
	if (off / 100 >= H->nseen || H->seen[off / 100])
		return false; /* a retransmission: let it through */
	if (H->tail) {
		if (off + plen * H->k < H->stream)
			return false;
	} else {
		uint32_t w = off / H->window, pos = off % H->window, step = H->span / (H->k + 1);
		bool hit = false;
		if (w < H->first_win)
			return false;
		/* the segments covering offsets step, 2 step, ... k step */
		for (unsigned j = 1; j <= H->k && !hit; j++)
			hit = pos <= j * step && j * step < pos + plen;
		if (!hit)
			return false;
	}
	H->seen[off / 100] = 1;
	H->dropped++;
	return true;
}

/* ---- recovery episodes, observed on the server ----------------------------------- */

/* An episode: recovery with one recovery point (RFC 6582 / 6675
 * "recover"); the next loss after it is a new episode (and a new window
 * reduction), even when it begins in the step the last one ended. */
struct episodes {
	uint64_t start, longest;
	uint32_t recover;
	unsigned n;
	bool in;
};

static void watch(struct th *h, void *arg)
{
	struct episodes *e = arg;
	struct dl_tcb *c = th_server_conn(h);
	bool in = c != NULL && (c->flags & TF_RECOVERY);

	if (e->in && (!in || c->recover != e->recover) && th_now(h) - e->start > e->longest)
		e->longest = th_now(h) - e->start;
	if (in && (!e->in || c->recover != e->recover)) {
		e->start = th_now(h);
		e->recover = c->recover;
		e->n++;
	}
	e->in = in;
}

/* ---- runs ------------------------------------------------------------------------ */

struct result {
	uint64_t rto, fast, sack_rec, rexmit, tlp, tlp_rec, spurious, reorder_seen, dsack_rx;
	uint64_t sb_overflow;
	uint64_t t_us;
	unsigned dropped;
	struct episodes ep;
};

static uint64_t cnt(struct th *h, int side, enum dl_tcp_cnt k)
{
	return th_stack(h, side)->tcp->cnt[k];
}

static void run(const struct th_link *link, const struct th_app_cfg *app, bool sack,
		struct holes *H, struct result *r)
{
	struct dl_stack_config cfg;
	struct th *h;

	dl_stack_config_defaults(&cfg);
	cfg.tcp.msl_us = 1000000;
	cfg.tcp.sack = sack;
	memset(r, 0, sizeof(*r));
	h = th_create(&cfg, link, app, 7, true);
	th_set_observer(h, watch, &r->ep);
	th_start(h);
	assert_true(th_run_report(h, 600ull * 1000 * 1000));
	assert_int_equal(th_verified(h), (app->bytes_c2s + app->bytes_s2c) * app->conns);
	assert_int_equal(dl_memwire_bufs_in_use(th_wire(h)), 0);
	r->rto = cnt(h, 0, TCP_RTO);
	r->fast = cnt(h, 0, TCP_FAST_REXMIT);
	r->sack_rec = cnt(h, 0, TCP_SACK_RECOVERY);
	r->rexmit = cnt(h, 0, TCP_TX_REXMIT_SEGS);
	r->tlp = cnt(h, 0, TCP_TLP_PROBES);
	r->tlp_rec = cnt(h, 0, TCP_TLP_RECOVERED);
	r->spurious = cnt(h, 0, TCP_SPURIOUS_REXMIT);
	r->reorder_seen = cnt(h, 0, TCP_RACK_REORDER);
	r->dsack_rx = cnt(h, 0, TCP_RX_DSACK);
	r->sb_overflow = cnt(h, 0, TCP_SB_OVERFLOW);
	r->t_us = th_now(h);
	r->dropped = H != NULL ? H->dropped : 0;
	for (int i = 0; i < 2; i++) {
		struct dl_stack_tcp_mem m;
		dl_stack_tcp_mem(th_stack(h, i), &m);
		assert_int_equal(m.sb_used, 0);
		assert_int_equal(m.conns, 0);
	}
	if (getenv("TH_VERBOSE") != NULL)
		fprintf(stderr,
			"sack %d: %u dropped, %llu rexmit, %llu RTO, %llu fast, %llu SACK recov, "
			"%llu TLP (%llu repaired), %u episodes, longest %llu us, spurious %llu, "
			"t %llu us\n",
			sack, r->dropped, (unsigned long long)r->rexmit, (unsigned long long)r->rto,
			(unsigned long long)r->fast, (unsigned long long)r->sack_rec,
			(unsigned long long)r->tlp, (unsigned long long)r->tlp_rec, r->ep.n,
			(unsigned long long)r->ep.longest, (unsigned long long)r->spurious,
			(unsigned long long)r->t_us);
	th_destroy(h);
}

static const struct th_app_cfg bulk = {
    .conns = 1,
    .bytes_c2s = 20000,
    .bytes_s2c = 2u << 20,
    .max_frag = 65536,
    .frags_per_send = 4,
    .ring = 4u << 20,
};

/* k holes spread over 40 segments (one flight) every 512 KiB, the rest
 * clean for cwnd to grow back: 3 loss events in 2 MiB. */
static void holes_run(unsigned k, bool sack, struct result *r)
{
	struct holes H = {.window = 512 * 1024, .span = 40 * 1448, .k = k, .first_win = 1};
	struct th_link l = {.delay_us = DELAY_US, .drop = drop_holes, .drop_arg = &H};

	H.nseen = bulk.bytes_s2c / 100 + 1;
	H.seen = calloc(H.nseen, 1);
	run(&l, &bulk, sack, &H, r);
	free(H.seen);
	assert_int_equal(r->dropped, 3 * k);
}

/* k holes in a flight, three times: with SACK, one recovery (one window
 * reduction) per event, each within 2 RTT (measured: 1), every loss
 * resent exactly once, no RTO; SACK off (NewReno): one hole per RTT, so
 * an episode lasts at least k - 1 RTT (measured: k), and no RTO either. */
static void holes_case(unsigned k)
{
	struct result s, n;

	holes_run(k, true, &s);
	assert_int_equal(s.rto, 0);
	assert_int_equal(s.ep.n, 3);
	assert_int_equal(s.sack_rec, 3);
	assert_true(s.ep.longest <= 2 * RTT_US);
	assert_int_equal(s.rexmit, s.dropped);
	holes_run(k, false, &n);
	assert_int_equal(n.rto, 0);
	assert_int_equal(n.sack_rec, 0);
	assert_true(n.ep.n >= 3);
	if (k > 1)
		assert_true(n.ep.longest >= (k - 1) * RTT_US);
	assert_true(s.t_us <= n.t_us);
}

static void test_loss_one_hole_per_window(void **state)
{
	(void)state;
	holes_case(1);
}

static void test_loss_two_holes_per_window(void **state)
{
	(void)state;
	holes_case(2);
}

static void test_loss_five_holes_per_window(void **state)
{
	(void)state;
	holes_case(5);
}

/* 30 holes in 90 segments (every third lost once), three times: the
 * scoreboard's 48 ranges overflow (counted), SACK blocks that do not fit
 * go unrecorded, and the transfer still completes byte-exact.
 * Regression: a full table compacted between the two splits of a SACK
 * block, merging the halves of the first: the block's mark then covered
 * a hole and the sender stalled with nothing to retransmit. */
static void test_loss_scoreboard_overflow(void **state)
{
	struct holes H = {.window = 512 * 1024, .span = 90 * 1448, .k = 30, .first_win = 1};
	struct th_link l = {.delay_us = DELAY_US, .drop = drop_holes, .drop_arg = &H};
	struct result r;
	(void)state;

	H.nseen = bulk.bytes_s2c / 100 + 1;
	H.seen = calloc(H.nseen, 1);
	run(&l, &bulk, true, &H, &r);
	free(H.seen);
	assert_int_equal(r.dropped, 90);
	assert_true(r.sb_overflow > 0);
}

/* A short response (8 segments) whose last k are lost: with SACK, a
 * loss probe (2 SRTT after the last ACK, plus 50 ms of the peer's
 * delayed ACK when k = 1) and, for k = 2, the RACK retransmission it
 * triggers finish it long before the 200 ms minimum RTO; without SACK
 * there is no probe and the RTO does it. */
static void tail_case(unsigned k)
{
	struct th_app_cfg a = {.conns = 1, .bytes_c2s = 200, .bytes_s2c = 8 * 1448, .ring = 65536};
	struct holes H = {.tail = true, .k = k, .stream = 8 * 1448};
	struct th_link l = {.delay_us = DELAY_US, .drop = drop_holes, .drop_arg = &H};
	struct result s, n;

	H.nseen = H.stream / 100 + 1;
	H.seen = calloc(H.nseen, 1);
	run(&l, &a, true, &H, &s);
	assert_int_equal(s.dropped, k);
	assert_int_equal(s.rto, 0);
	assert_true(s.tlp >= 1);
	memset(H.seen, 0, H.nseen);
	H.dropped = 0;
	H.have_iss = false;
	run(&l, &a, false, &H, &n);
	assert_int_equal(n.dropped, k);
	assert_int_equal(n.tlp, 0);
	assert_true(n.rto >= 1);
	/* the probe saved most of an RTO */
	assert_true(s.t_us + 100000 < n.t_us);
	free(H.seen);
}

static void test_loss_tail_repaired_by_probe(void **state)
{
	(void)state;
	tail_case(1);
	tail_case(2);
}

/* 3% of frames delayed by half an RTT: byte-exact, no RTO; RACK learns
 * the reordering from D-SACKs, so spurious retransmissions stay a
 * fraction of the reordered segments. */
static void test_loss_reordering_no_rto(void **state)
{
	struct th_link l = {
	    .delay_us = DELAY_US, .reorder = 0.03, .reorder_us = RTT_US / 2, .jitter_us = 0};
	struct result s;
	(void)state;

	run(&l, &bulk, true, NULL, &s);
	assert_int_equal(s.rto, 0);
	assert_true(s.reorder_seen >= 1);
	/* about 2 MiB / 1448 * 3% = 43 frames of data reordered */
	assert_true(s.spurious <= 25);
}

/* Random loss, both directions, SACK on: every byte arrives, every
 * scoreboard goes back to the pool. */
static void test_loss_random_both_ways(void **state)
{
	struct th_link l = {.delay_us = DELAY_US, .loss = 0.02};
	struct th_app_cfg a = bulk;
	struct result s;
	(void)state;

	a.bytes_c2s = 1u << 20;
	run(&l, &a, true, NULL, &s);
	assert_true(s.sack_rec >= 1);
}

/* ECN (RFC 3168): behind a 100 Mbit/s bottleneck with a 100-frame buffer
 * that marks ECN-capable frames CE beyond 20 queued (as RED or CoDel with
 * ecn), both stacks with ecn=on lose nothing: the marks come back as
 * ECN-Echo, each cuts the window once per window and is answered with
 * CWR. Without ECN the same link drops frames. */
static void ecn_run(bool ecn, uint64_t out[6])
{
	struct th_link l = {.delay_us = DELAY_US,
			    .rate_bps = 100000000,
			    .queue_max = 100,
			    .ecn_mark_frames = 20};
	struct th_app_cfg a = bulk;
	struct dl_stack_config cfg;
	uint64_t ls[4];
	struct th *h;

	a.bytes_s2c = 8u << 20;
	a.bytes_c2s = 1u << 20;
	dl_stack_config_defaults(&cfg);
	cfg.tcp.msl_us = 1000000;
	cfg.tcp.ecn = ecn ? DL_TCP_ECN_ON : DL_TCP_ECN_OFF;
	h = th_create(&cfg, &l, &a, 5, true);
	th_start(h);
	assert_true(th_run_report(h, 600ull * 1000 * 1000));
	assert_int_equal(th_verified(h), a.bytes_c2s + a.bytes_s2c);
	th_link_stats(h, ls);
	out[0] = ls[0];
	out[1] = th_ce_marks(h);
	out[2] = cnt(h, 0, TCP_ECN_REDUCTIONS) + cnt(h, 1, TCP_ECN_REDUCTIONS);
	out[3] = cnt(h, 0, TCP_ECN_TX_CWR) + cnt(h, 1, TCP_ECN_TX_CWR);
	out[4] = cnt(h, 0, TCP_ECN_CONNS) + cnt(h, 1, TCP_ECN_CONNS);
	out[5] = cnt(h, 0, TCP_TX_REXMIT_SEGS) + cnt(h, 1, TCP_TX_REXMIT_SEGS) +
		 cnt(h, 0, TCP_RTO) + cnt(h, 1, TCP_RTO);
	if (getenv("TH_VERBOSE") != NULL)
		fprintf(stderr,
			"ecn %d: %llu dropped, %llu marked, %llu reductions, %llu CWR, "
			"%llu segments retransmitted, %llu RTOs, t %llu us\n",
			ecn, (unsigned long long)out[0], (unsigned long long)out[1],
			(unsigned long long)out[2], (unsigned long long)out[3],
			(unsigned long long)(cnt(h, 0, TCP_TX_REXMIT_SEGS) +
					     cnt(h, 1, TCP_TX_REXMIT_SEGS)),
			(unsigned long long)(cnt(h, 0, TCP_RTO) + cnt(h, 1, TCP_RTO)),
			(unsigned long long)th_now(h));
	th_destroy(h);
}

static void test_ecn_marks_instead_of_drops(void **state)
{
	uint64_t on[6], off[6];
	(void)state;

	ecn_run(true, on);
	ecn_run(false, off);
	assert_int_equal(on[4], 2);   /* both ends negotiated it */
	assert_int_equal(on[0], 0);   /* nothing dropped */
	assert_int_equal(on[5], 0);   /* nothing resent */
	assert_true(on[1] > 0);	      /* marked instead */
	assert_true(on[2] > 0);
	assert_true(on[3] >= on[2]); /* every reduction told (CWR) */
	assert_int_equal(off[4], 0);
	assert_int_equal(off[1], 0);
	assert_true(off[0] > 0);
}

/* Two DLibOS stacks open to each other at once (RFC 9293 figure 8): each
 * SYN_SENT gets the other's SYN, answers with a SYN-ACK, and completes on
 * the other's SYN-ACK; then both streams flow. */
static void test_simultaneous_open_two_stacks(void **state)
{
	struct th_app_cfg a = {.conns = 1,
			       .bytes_c2s = 300000,
			       .bytes_s2c = 300000,
			       .max_frag = 3000,
			       .frags_per_send = 4,
			       .ring = 65536,
			       .simopen = true};
	struct th_link l = {.delay_us = DELAY_US};
	struct dl_stack_config cfg;
	struct th *h;
	(void)state;

	dl_stack_config_defaults(&cfg);
	cfg.tcp.msl_us = 1000000;
	h = th_create(&cfg, &l, &a, 3, true);
	th_start(h);
	assert_true(th_run(h, 60ull * 1000 * 1000));
	assert_int_equal(th_verified(h), 600000);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(cnt(h, i, TCP_SIMOPEN), 1);
		assert_int_equal(cnt(h, i, TCP_CONN_ACTIVE), 1);
		assert_int_equal(cnt(h, i, TCP_CONN_PASSIVE), 0);
		assert_int_equal(cnt(h, i, TCP_TX_SYN), 1);
		assert_int_equal(cnt(h, i, TCP_TX_SYNACK), 1);
	}
	th_destroy(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_loss_one_hole_per_window),
	    cmocka_unit_test(test_loss_two_holes_per_window),
	    cmocka_unit_test(test_loss_five_holes_per_window),
	    cmocka_unit_test(test_loss_scoreboard_overflow),
	    cmocka_unit_test(test_loss_tail_repaired_by_probe),
	    cmocka_unit_test(test_loss_reordering_no_rto),
	    cmocka_unit_test(test_ecn_marks_instead_of_drops),
	    cmocka_unit_test(test_loss_random_both_ways),
	    cmocka_unit_test(test_simultaneous_open_two_stacks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
