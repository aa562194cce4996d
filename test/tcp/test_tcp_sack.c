/*
 * test_tcp_sack.c - crafted-segment tests of TCP for real networks: SACK
 * both ways (RFC 2018, D-SACK RFC 2883), RACK-TLP loss detection and PRR
 * (RFC 8985, RFC 6937) on the pooled scoreboard, CUBIC and HyStart++
 * (RFC 9438, RFC 9406), cwnd restart after idle (RFC 5681 4.1) and
 * validation (RFC 7661), RTT from timestamps (RFC 7323 4), ICMP errors
 * and path MTU (RFC 1122 4.2.3.9, RFC 1191, RFC 5927), simultaneous open
 * (RFC 9293), compact TIME_WAIT with a limit and reuse (RFC 6191), the
 * core-wide receive limits, and the keyed connection table.
 *
 * Names follow test_<state>_<event>. The peer (the test) offers
 * SACK-permitted unless said otherwise; segments are 1460 bytes (MSS 1460,
 * no timestamps) unless said otherwise.
 */
#include "tcp_test.h"
#include "dl_tcp_cc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static int setup(void **state)
{
	struct tf *f = tf_new(NULL);
	f->p.sack_ok = true;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	tf_free(*state);
	return 0;
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
#define MSS	1460u

static uint8_t big[400000];

static void fill_big(void)
{
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 131 + (i >> 8));
}

static struct tf *new_sack(void (*edit)(struct dl_stack_config *cfg))
{
	struct tf *f = tf_new(edit);
	f->p.sack_ok = true;
	return f;
}

/* Queue len bytes of the stream (from stream offset off) and run. */
static void send_at(struct tf *f, uint32_t off, uint32_t len)
{
	struct dl_tx_frag fr = {big + off, len, DL_REGION_NONE};
	assert_int_equal(dl_stack_send(f->s, APP, f->id, &fr, 1), 0);
	tf_run(f);
}

/* A segment the stack sent, relative to the stream start. */
struct sent {
	uint32_t off, len;
	uint8_t flags;
	uint8_t nsack;
	uint32_t sack[DL_TCP_MAX_SACK][2];
};

/* Pop everything sent; check payloads against the stream (iss1 = seq of
 * stream byte 0). @return segments popped. */
static unsigned pop(struct tf *f, uint32_t iss1, struct sent *out, unsigned max)
{
	struct tseg r;
	unsigned n = 0;

	while (tf_recv(f, &r)) {
		assert_true(n < max);
		out[n].off = r.seq - iss1;
		out[n].len = r.len;
		out[n].flags = r.flags;
		out[n].nsack = r.nsack;
		memcpy(out[n].sack, r.sack, sizeof(r.sack));
		if (r.len > 0)
			assert_memory_equal(r.payload, big + (r.seq - iss1), r.len);
		n++;
	}
	return n;
}

/* The peer acknowledges stream offset ack_off with SACK blocks (stream
 * offsets). */
static void peer_ack(struct tf *f, uint32_t iss1, uint32_t ack_off, unsigned n,
		     const uint32_t blocks[][2])
{
	struct tseg s = {
	    .seq = f->p.nxt,
	    .ack = iss1 + ack_off,
	    .flags = DL_TCP_ACK,
	    .wnd = f->p.wnd,
	};

	if (f->p.ts) {
		s.opts |= DL_TCP_OPT_TS;
		s.tsval = ++f->p.tsval;
		s.tsecr = f->p.ts_recent;
	}
	if (n > 0) {
		s.opts |= DL_TCP_OPT_SACK;
		s.nsack = (uint8_t)n;
		for (unsigned k = 0; k < n; k++) {
			s.sack[k][0] = iss1 + blocks[k][0];
			s.sack[k][1] = iss1 + blocks[k][1];
		}
	}
	f->p.ack = iss1 + ack_off;
	tf_send(f, &s);
}

/* Open a SACK connection whose handshake took rtt_us (so RACK and PTO
 * have a real round trip to work with); returns the stream start. */
static uint32_t open_rtt(struct tf *f, bool ts, uint32_t rtt_us)
{
	struct tseg syn = {
	    .seq = 1000, .flags = DL_TCP_SYN, .wnd = 65535, .opts = DL_TCP_OPT_MSS, .mss = 1460};
	struct tseg sa;

	if (dl_tcp_listener_find(f->t, OUR_PORT) == NULL)
		assert_int_equal(dl_stack_listen(f->s, OUR_PORT, 0), 0);
	f->p.iss = 1000;
	f->p.ts = ts;
	f->p.tsval = 500;
	if (ts) {
		syn.opts |= DL_TCP_OPT_TS;
		syn.tsval = f->p.tsval;
	}
	if (f->p.sack_ok)
		syn.opts |= DL_TCP_OPT_SACKOK;
	tf_send(f, &syn);
	assert_true(tf_recv(f, &sa));
	f->p.nxt = 1001;
	f->p.ack = sa.seq + 1;
	if (ts)
		f->p.ts_recent = sa.tsval;
	f->now += rtt_us;
	tf_seg(f, DL_TCP_ACK, NULL, 0);
	f->id = tf_last(f, EV_NEW_CONN)->id;
	return f->p.ack;
}

/* ---- SACK negotiation ---------------------------------------------------------- */

static void test_listen_syn_sackok_negotiated(void **state)
{
	struct tf *f = *state;

	tf_open(f, false, -1);
	assert_true(tf_tcb(f, f->id)->flags & TF_SACK);
	assert_int_equal(tf_cnt(f, TCP_SACK_CONNS), 1);
	/* a peer that does not offer it gets no SACK */
	struct tf *g = tf_new(NULL);
	tf_open(g, false, -1);
	assert_false(tf_tcb(g, g->id)->flags & TF_SACK);
	tf_free(g);
}

static void edit_nosack(struct dl_stack_config *c)
{
	c->tcp.sack = false;
}

static void test_listen_syn_sack_off_not_offered(void **state)
{
	struct tf *f = new_sack(edit_nosack);
	struct tseg syn = {.seq = 1000,
			   .flags = DL_TCP_SYN,
			   .wnd = 65535,
			   .opts = DL_TCP_OPT_MSS | DL_TCP_OPT_SACKOK,
			   .mss = 1460};
	struct tseg r;
	(void)state;

	assert_int_equal(dl_stack_listen(f->s, OUR_PORT, 0), 0);
	tf_send(f, &syn);
	assert_true(tf_recv(f, &r));
	assert_int_equal(r.opts, DL_TCP_OPT_MSS);
	tf_free(f);
}

/* ---- SACK blocks we send (RFC 2018 4, RFC 2883) ----------------------------------- */

static void test_established_ooo_ack_carries_sack_blocks_most_recent_first(void **state)
{
	struct tf *f = *state;
	uint32_t irs1, ack;
	struct tseg r;

	fill_big();
	tf_open(f, false, -1);
	irs1 = f->p.nxt;
	ack = f->p.ack;
	/* A [0,1000) in order; C [2000,3000) and E [4000,5000) after holes */
	tf_seg(f, DL_TCP_ACK, big, 1000);
	while (tf_recv(f, &r))
		;
	f->p.nxt = irs1 + 2000;
	tf_seg(f, DL_TCP_ACK, big + 2000, 1000);
	r = tf_expect(f, DL_TCP_ACK, ack, irs1 + 1000);
	assert_int_equal(r.nsack, 1);
	assert_int_equal(r.sack[0][0], irs1 + 2000);
	assert_int_equal(r.sack[0][1], irs1 + 3000);
	f->p.nxt = irs1 + 4000;
	tf_seg(f, DL_TCP_ACK, big + 4000, 1000);
	r = tf_expect(f, DL_TCP_ACK, ack, irs1 + 1000);
	assert_int_equal(r.nsack, 2); /* the newest first */
	assert_int_equal(r.sack[0][0], irs1 + 4000);
	assert_int_equal(r.sack[1][0], irs1 + 2000);
	/* D fills between C and E: one block for the whole run */
	f->p.nxt = irs1 + 3000;
	tf_seg(f, DL_TCP_ACK, big + 3000, 1000);
	r = tf_expect(f, DL_TCP_ACK, ack, irs1 + 1000);
	assert_int_equal(r.nsack, 1);
	assert_int_equal(r.sack[0][0], irs1 + 2000);
	assert_int_equal(r.sack[0][1], irs1 + 5000);
	/* B fills the hole: everything in order, no block left */
	f->p.nxt = irs1 + 1000;
	tf_seg(f, DL_TCP_ACK, big + 1000, 1000);
	r = tf_expect(f, DL_TCP_ACK, ack, irs1 + 5000);
	assert_int_equal(r.nsack, 0);
	assert_int_equal(f->rx_len, 5000);
	assert_memory_equal(f->rx, big, 5000);
	assert_int_equal(tf_cnt(f, TCP_TX_SACK_BLOCKS), 4);
}

static void islands(struct tf *f, uint32_t irs1, unsigned n)
{
	for (unsigned k = 1; k <= n; k++) {
		f->p.nxt = irs1 + 2000 * k;
		tf_seg(f, DL_TCP_ACK, big + 2000 * k, 1000);
	}
}

static void test_established_sack_blocks_fit_options(void **state)
{
	struct tf *f = *state;
	struct tseg r, last = {0};
	uint32_t irs1;

	fill_big();
	tf_open(f, true, 7); /* timestamps: 3 blocks fit beside them */
	irs1 = f->p.nxt;
	islands(f, irs1, 5);
	while (tf_recv(f, &r))
		last = r;
	assert_int_equal(last.nsack, 3);
	assert_int_equal(last.sack[0][0], irs1 + 10000);
	assert_int_equal(last.sack[2][0], irs1 + 6000);
	struct tf *g = new_sack(NULL); /* without timestamps: 4 */
	tf_open(g, false, -1);
	irs1 = g->p.nxt;
	islands(g, irs1, 5);
	while (tf_recv(g, &r))
		last = r;
	assert_int_equal(last.nsack, 4);
	assert_int_equal(last.sack[3][0], irs1 + 4000);
	tf_free(g);
}

/* Data segments are ACKs too: while data waits out of order they carry
 * the SACK blocks (RFC 2018 4), and as much less payload, so the frame
 * still fits the MTU; once the hole is filled, full segments again. */
static void test_established_data_segments_carry_sack_blocks(void **state)
{
	struct tf *f = *state;
	struct tseg r;
	uint32_t irs1, mss, sent = 0, segs = 0;

	fill_big();
	tf_open(f, true, 7);
	irs1 = f->p.nxt;
	mss = tf_tcb(f, f->id)->mss;
	f->p.nxt = irs1 + 2000;
	tf_seg(f, DL_TCP_ACK, big, 1000); /* [2000, 3000): a hole before it */
	while (tf_recv(f, &r))
		;
	send_at(f, 0, 3 * mss);
	while (tf_recv(f, &r)) {
		assert_int_equal(r.nsack, 1);
		assert_int_equal(r.sack[0][0], irs1 + 2000);
		assert_int_equal(r.sack[0][1], irs1 + 3000);
		assert_int_equal(r.ack, irs1);
		/* 20 + 20 + 12 (timestamps) + 12 (one block) + payload */
		assert_true(r.len <= mss - 12);
		assert_true(20 + 20 + 12 + 12 + r.len <= 1500);
		assert_memory_equal(r.payload, big + sent, r.len);
		sent += r.len;
		segs++;
	}
	assert_int_equal(sent, 3 * mss);
	assert_int_equal(segs, 4); /* three full segments' worth, shorter */
	f->p.nxt = irs1;
	f->p.ack = tf_tcb(f, f->id)->snd_max;
	tf_seg(f, DL_TCP_ACK, big, 1000); /* the hole filled */
	tf_seg(f, DL_TCP_ACK, big + 1000, 1000);
	while (tf_recv(f, &r))
		;
	send_at(f, 3 * mss, 2 * mss);
	segs = 0;
	while (tf_recv(f, &r)) {
		assert_int_equal(r.nsack, 0);
		assert_int_equal(r.len, mss);
		segs++;
	}
	assert_int_equal(segs, 2);
	assert_int_equal(f->rx_len, 3000);
}

static void test_established_duplicate_gets_dsack(void **state)
{
	struct tf *f = *state;
	uint32_t irs1, ack;
	struct tseg r;

	fill_big();
	tf_open(f, false, -1);
	irs1 = f->p.nxt;
	ack = f->p.ack;
	tf_seg(f, DL_TCP_ACK, big, 1000);
	while (tf_recv(f, &r))
		;
	/* the same segment again: below RCV.NXT, reported once (RFC 2883) */
	f->p.nxt = irs1;
	tf_seg(f, DL_TCP_ACK, big, 1000);
	r = tf_expect(f, DL_TCP_ACK, ack, irs1 + 1000);
	assert_int_equal(r.nsack, 1);
	assert_int_equal(r.sack[0][0], irs1);
	assert_int_equal(r.sack[0][1], irs1 + 1000);
	/* an out-of-order segment twice: D-SACK first, then its block */
	f->p.nxt = irs1 + 2000;
	tf_seg(f, DL_TCP_ACK, big + 2000, 1000);
	while (tf_recv(f, &r))
		;
	f->p.nxt = irs1 + 2000;
	tf_seg(f, DL_TCP_ACK, big + 2000, 1000);
	r = tf_expect(f, DL_TCP_ACK, ack, irs1 + 1000);
	assert_int_equal(r.nsack, 2);
	assert_int_equal(r.sack[0][0], irs1 + 2000);
	assert_int_equal(r.sack[1][0], irs1 + 2000);
	assert_int_equal(r.sack[1][1], irs1 + 3000);
	assert_int_equal(tf_cnt(f, TCP_TX_DSACK), 2);
	/* the next ACK no longer repeats the D-SACK */
	f->p.nxt = irs1 + 4000;
	tf_seg(f, DL_TCP_ACK, big + 4000, 1000);
	r = tf_expect(f, DL_TCP_ACK, ack, irs1 + 1000);
	assert_int_equal(r.nsack, 2);
	assert_int_equal(r.sack[0][0], irs1 + 4000);
	assert_int_equal(tf_cnt(f, TCP_TX_DSACK), 2);
}

static void test_established_sack_off_peer_gets_no_blocks(void **state)
{
	struct tf *f = tf_new(NULL); /* the peer does not offer SACK */
	uint32_t irs1;
	struct tseg r;
	(void)state;

	fill_big();
	tf_open(f, false, -1);
	irs1 = f->p.nxt;
	f->p.nxt = irs1 + 2000;
	tf_seg(f, DL_TCP_ACK, big + 2000, 1000);
	assert_true(tf_recv(f, &r));
	assert_int_equal(r.nsack, 0);
	assert_int_equal(r.ack, irs1);
	tf_free(f);
}

/* ---- SACK-based loss recovery (RACK, PRR) ------------------------------------------- */

static bool retransmitted(const struct sent *s, unsigned n, uint32_t off)
{
	for (unsigned k = 0; k < n; k++)
		if (s[k].off == off && s[k].len > 0)
			return true;
	return false;
}

/* Three segments SACKed above a hole (DupThresh worth, no reordering
 * seen): RACK marks the hole lost at once; PRR lets the retransmission
 * out first; only the hole is resent; a full ACK ends recovery at
 * ssthresh = 0.7 cwnd (CUBIC). */
static void test_established_sack_hole_retransmitted_at_once(void **state)
{
	struct tf *f = *state;
	struct sent s[64];
	unsigned n;
	uint32_t iss1;

	fill_big();
	iss1 = open_rtt(f, false, 20000);
	struct dl_tcb *c = tf_tcb(f, f->id);
	send_at(f, 0, 100000);
	assert_int_equal(pop(f, iss1, s, 64), 10); /* the initial window */
	f->now += 20000;
	const uint32_t b1[][2] = {{2 * MSS, 5 * MSS}};
	peer_ack(f, iss1, MSS, 1, b1); /* segment 2 lost */
	n = pop(f, iss1, s, 64);
	assert_true(n >= 1);
	assert_int_equal(s[0].off, MSS); /* the hole first */
	assert_int_equal(s[0].len, MSS);
	for (unsigned k = 1; k < n; k++)
		assert_true(s[k].off >= 10 * MSS); /* then new data, never SACKed data */
	assert_int_equal(tf_cnt(f, TCP_SACK_RECOVERY), 1);
	assert_int_equal(tf_cnt(f, TCP_RACK_LOST), 1);
	assert_true(c->flags & TF_RECOVERY);
	assert_non_null(c->sb);
	assert_int_equal(c->ssthresh, (uint32_t)((14600ull * 717) >> 10));
	/* the rest of the window SACKed, then the retransmission's ACK */
	f->now += 20000;
	const uint32_t b2[][2] = {{2 * MSS, 10 * MSS}};
	peer_ack(f, iss1, MSS, 1, b2);
	pop(f, iss1, s, 64);
	f->now += 20000;
	peer_ack(f, iss1, c->snd_max - iss1, 0, NULL);
	assert_false(c->flags & TF_RECOVERY);
	assert_null(c->sb); /* back to the pool */
	/* RFC 6937: recovery ends at ssthresh; avoidance then grows it by
	 * what this ACK newly delivered (the one retransmitted segment) */
	assert_true(c->cwnd >= c->ssthresh && c->cwnd < c->ssthresh + MSS);
	assert_int_equal(tf_cnt(f, TCP_TX_REXMIT_SEGS), 1);
	assert_int_equal(tf_cnt(f, TCP_RTO), 0);
	assert_int_equal(f->t->sb_used, 0);
}

static void edit_iw20(struct dl_stack_config *c)
{
	c->tcp.init_cwnd_segs = 20;
}

/* ACKs come in bursts and output runs after the burst: when the loss shows
 * in the middle of one, what the burst acknowledged before it counts as
 * delivered in recovery, so PRR lets the window out to ssthresh at once
 * instead of one segment per ACK still to come (regression: PRR started
 * from a flight the burst had drained, cwnd stayed far below ssthresh). */
static void test_established_prr_counts_the_burst_before_the_loss(void **state)
{
	struct tf *f = new_sack(edit_iw20);
	struct sent s[64];
	unsigned n;
	uint32_t iss1;
	(void)state;

	fill_big();
	iss1 = open_rtt(f, false, 20000);
	struct dl_tcb *c = tf_tcb(f, f->id);
	send_at(f, 0, 60 * MSS);
	assert_int_equal(pop(f, iss1, s, 64), 20);
	f->now += 20000;
	f->no_run = true; /* one burst: the ACKs wait for one loop iteration */
	peer_ack(f, iss1, 10 * MSS, 0, NULL);
	for (uint32_t k = 12; k <= 14; k++) {
		const uint32_t b[][2] = {{11 * MSS, k * MSS}};
		peer_ack(f, iss1, 10 * MSS, 1, b); /* segment 11 lost */
	}
	f->no_run = false;
	tf_run(f);
	n = pop(f, iss1, s, 64);
	assert_true(c->flags & TF_RECOVERY);
	assert_int_equal(s[0].off, 10 * MSS);
	/* pipe was 10 - 3 SACKed - 1 lost = 6 segments; PRR-SSRB lets out
	 * what the burst delivered (13 segments) plus one: cwnd near ssthresh
	 * (without the burst's deliveries: 2 segments) */
	assert_true(n >= 10);
	assert_true(c->cwnd + 2 * MSS >= c->ssthresh);
	tf_free(f);
}

/* One segment SACKed (fewer than DupThresh): reordering is possible, so
 * RACK waits min_RTT / 4 on its timer before the hole counts as lost. */
/* A connection with an RTT of rtt us sends ten segments; one RTT later
 * the peer acknowledges the first and SACKs the third only: the second
 * is missing with a single SACKed segment after it, so RACK waits its
 * reordering window (a quarter of the minimum RTT). @return iss1. */
static uint32_t one_sacked_after_hole(struct tf *f, uint32_t rtt)
{
	struct sent s[64];
	uint32_t iss1;

	fill_big();
	iss1 = open_rtt(f, false, rtt);
	send_at(f, 0, 10 * MSS);
	pop(f, iss1, s, 64);
	f->now += rtt;
	const uint32_t b[][2] = {{2 * MSS, 3 * MSS}};
	peer_ack(f, iss1, MSS, 1, b);
	assert_int_equal(pop(f, iss1, s, 64), 0); /* within the window: wait */
	assert_int_equal(tf_cnt(f, TCP_RACK_LOST), 0);
	assert_non_null(tf_tcb(f, f->id)->sb);
	return iss1;
}

static void test_established_sack_one_segment_waits_reordering_window(void **state)
{
	struct tf *f = *state;
	struct sent s[64];
	uint32_t iss1 = one_sacked_after_hole(f, 20000);
	struct dl_tcb *c = tf_tcb(f, f->id);

	assert_true(c->sb->t_reo >= f->now + 20000 / 4);
	uint64_t t0 = f->now;
	tf_next(f);
	assert_true(f->now >= t0 + 5000 && f->now < t0 + 20000);
	assert_int_equal(pop(f, iss1, s, 64), 1);
	assert_int_equal(s[0].off, MSS);
	assert_int_equal(tf_cnt(f, TCP_RACK_REO_TIMER), 1);
	assert_int_equal(tf_cnt(f, TCP_RTO), 0);
}

/* On a LAN the reordering window is a few tens of microseconds (a
 * quarter of an 80 us minimum RTT here): the timer that ends it must fire
 * within about an RTT of its deadline, not a coarse tick later (a 256 us
 * wheel tick tripled the median request time at 3% loss). */
static void test_established_sack_reordering_timer_precise_on_lan(void **state)
{
	struct tf *f = *state;
	struct sent s[64];
	uint32_t iss1 = one_sacked_after_hole(f, 80);
	struct dl_tcb *c = tf_tcb(f, f->id);

	assert_true(c->sb->t_reo > f->now && c->sb->t_reo <= f->now + 80 / 4 + 1);
	uint64_t due = c->sb->t_reo;
	tf_next(f);
	assert_true(f->now >= due && f->now < due + 80);
	assert_int_equal(pop(f, iss1, s, 64), 1);
	assert_int_equal(s[0].off, MSS);
	assert_int_equal(tf_cnt(f, TCP_RACK_REO_TIMER), 1);
}

/* Two holes in one window: both retransmitted in the same round, the
 * SACKed data never. */
static void test_established_sack_two_holes_one_round(void **state)
{
	struct tf *f = *state;
	struct sent s[64];
	unsigned n;
	uint32_t iss1;

	fill_big();
	iss1 = open_rtt(f, false, 20000);
	send_at(f, 0, 10 * MSS);
	pop(f, iss1, s, 64);
	f->now += 20000;
	const uint32_t b[][2] = {{5 * MSS, 10 * MSS}, {2 * MSS, 4 * MSS}};
	peer_ack(f, iss1, MSS, 2, b); /* segments 2 and 5 lost */
	n = pop(f, iss1, s, 64);
	assert_int_equal(n, 2);
	assert_true(retransmitted(s, n, MSS));
	assert_true(retransmitted(s, n, 4 * MSS));
	assert_int_equal(tf_cnt(f, TCP_SACK_RECOVERY), 1);
	f->now += 20000;
	peer_ack(f, iss1, 10 * MSS, 0, NULL);
	assert_int_equal(tf_cnt(f, TCP_TX_REXMIT_SEGS), 2);
	assert_false(tf_tcb(f, f->id)->flags & TF_RECOVERY);
}

/* A retransmission lost again: RACK sees it by time (data sent after it
 * was delivered) and resends it once more, no RTO. */
static void test_established_rack_lost_retransmission_resent(void **state)
{
	struct tf *f = *state;
	struct sent s[64];
	unsigned n;
	uint32_t iss1;

	fill_big();
	iss1 = open_rtt(f, false, 20000);
	send_at(f, 0, 60 * MSS);
	pop(f, iss1, s, 64);
	f->now += 20000;
	const uint32_t b1[][2] = {{2 * MSS, 5 * MSS}};
	peer_ack(f, iss1, MSS, 1, b1);
	n = pop(f, iss1, s, 64);
	assert_true(retransmitted(s, n, MSS));
	uint32_t new_end = s[n - 1].off + s[n - 1].len;
	assert_true(new_end > 10 * MSS); /* new data went out after the retransmission */
	/* the retransmission is lost; what was sent after it arrives */
	f->now += 20000;
	const uint32_t b2[][2] = {{2 * MSS, new_end}};
	peer_ack(f, iss1, MSS, 1, b2);
	n = pop(f, iss1, s, 64);
	assert_true(retransmitted(s, n, MSS));
	assert_int_equal(tf_cnt(f, TCP_RACK_LOST_REXMIT), 1);
	assert_int_equal(tf_cnt(f, TCP_RTO), 0);
}

/* The scoreboard pool is empty: the connection recovers NewReno-style
 * on duplicate ACKs, counted. */
static void edit_nopool(struct dl_stack_config *c)
{
	c->tcp.sack_pool = 0;
}

static void test_established_sack_pool_exhausted_newreno_fallback(void **state)
{
	struct tf *f = new_sack(edit_nopool);
	struct sent s[64];
	unsigned n;
	uint32_t iss1;
	(void)state;

	fill_big();
	iss1 = open_rtt(f, false, 20000);
	send_at(f, 0, 10 * MSS);
	pop(f, iss1, s, 64);
	f->now += 20000;
	peer_ack(f, iss1, MSS, 0, NULL);
	pop(f, iss1, s, 64);
	for (uint32_t k = 2; k <= 4; k++) {
		const uint32_t b[][2] = {{2 * MSS, (k + 1) * MSS}};
		peer_ack(f, iss1, MSS, 1, b); /* three duplicate ACKs */
	}
	n = pop(f, iss1, s, 64);
	assert_true(retransmitted(s, n, MSS));
	assert_int_equal(tf_cnt(f, TCP_SB_EXHAUSTED), 1);
	assert_int_equal(tf_cnt(f, TCP_FAST_REXMIT), 1);
	assert_int_equal(tf_cnt(f, TCP_SACK_RECOVERY), 0);
	assert_null(tf_tcb(f, f->id)->sb);
	tf_free(f);
}

static void test_established_sack_invalid_blocks_ignored(void **state)
{
	struct tf *f = *state;
	struct sent s[64];
	uint32_t iss1;

	fill_big();
	iss1 = open_rtt(f, false, 20000);
	send_at(f, 0, 20 * MSS);
	pop(f, iss1, s, 64);
	const uint32_t b[][2] = {{12 * MSS, 14 * MSS}, {4 * MSS, 3 * MSS}};
	peer_ack(f, iss1, MSS, 2, b); /* beyond SND.MAX; start after end */
	assert_int_equal(tf_cnt(f, TCP_DROP_SACK_INVALID), 2);
	assert_null(tf_tcb(f, f->id)->sb);
	unsigned n = pop(f, iss1, s, 64); /* only new data the ACK allows */
	assert_true(n >= 1);
	for (unsigned k = 0; k < n; k++)
		assert_true(s[k].off >= 10 * MSS);
}

/* After an RTO the scoreboard keeps the SACKed data: only the rest is
 * resent, from SND.UNA, one segment first (cwnd = 1 MSS). */
static void test_established_rto_keeps_sacked_data(void **state)
{
	struct tf *f = *state;
	struct sent s[64];
	unsigned n;
	uint32_t iss1;

	fill_big();
	iss1 = open_rtt(f, false, 20000);
	send_at(f, 0, 10 * MSS);
	pop(f, iss1, s, 64);
	const uint32_t b[][2] = {{2 * MSS, 3 * MSS}};
	peer_ack(f, iss1, MSS, 1, b); /* 1 SACKed: RACK waits */
	while (tf_cnt(f, TCP_RTO) == 0)
		tf_next(f);
	n = pop(f, iss1, s, 64);
	/* RACK's timer resent segment 2 before the RTO; the RTO resends
	 * segment 2 again: one MSS, cwnd 1 */
	assert_true(n >= 1);
	assert_int_equal(s[n - 1].off, MSS);
	f->now += 20000;
	const uint32_t b2[][2] = {{2 * MSS, 3 * MSS}};
	peer_ack(f, iss1, 2 * MSS, 0, NULL);
	(void)b2;
	n = pop(f, iss1, s, 64);
	/* segment 3 is SACKed: never resent; segments 4.. are */
	for (unsigned k = 0; k < n; k++)
		assert_true(s[k].off != 2 * MSS);
	assert_true(retransmitted(s, n, 3 * MSS));
}

/* The peer reneged (RFC 2018 8): it SACKed segment 4, then acknowledged
 * up to it and no further. The RTO sees SND.UNA SACKed, forgets the
 * SACKs and resends from SND.UNA, not from the first unSACKed byte. */
static void test_established_rto_after_reneging_resends_sacked(void **state)
{
	struct tf *f = *state;
	struct sent s[64];
	unsigned n;
	uint32_t iss1;

	fill_big();
	iss1 = open_rtt(f, false, 20000);
	send_at(f, 0, 10 * MSS);
	pop(f, iss1, s, 64);
	const uint32_t b[][2] = {{3 * MSS, 4 * MSS}};
	peer_ack(f, iss1, MSS, 1, b);
	f->now += 5000;
	peer_ack(f, iss1, 3 * MSS, 0, NULL); /* 4 no longer reported */
	while (tf_cnt(f, TCP_RTO) == 0) {
		pop(f, iss1, s, 64);
		tf_next(f);
	}
	n = pop(f, iss1, s, 64);
	assert_int_equal(tf_cnt(f, TCP_SACK_RENEGING), 1);
	assert_true(n >= 1);
	assert_int_equal(s[0].off, 3 * MSS);
}

/* D-SACKs: counted as spurious retransmissions, proof of reordering,
 * and the reordering window widens (RFC 8985 6.2 step 4). */
static void test_established_dsack_received_widens_reordering_window(void **state)
{
	struct tf *f = *state;
	struct sent s[64];
	uint32_t iss1;

	fill_big();
	iss1 = open_rtt(f, false, 20000);
	struct dl_tcb *c = tf_tcb(f, f->id);
	send_at(f, 0, 10 * MSS);
	pop(f, iss1, s, 64);
	const uint32_t b[][2] = {{2 * MSS, 5 * MSS}};
	peer_ack(f, iss1, MSS, 1, b);
	pop(f, iss1, s, 64); /* segment 2 resent */
	/* the original arrives late: ACK past it with a D-SACK for the copy */
	const uint32_t d[][2] = {{MSS, 2 * MSS}};
	peer_ack(f, iss1, 5 * MSS, 1, d);
	assert_int_equal(tf_cnt(f, TCP_RX_DSACK), 1);
	assert_int_equal(tf_cnt(f, TCP_SPURIOUS_REXMIT), 1);
	assert_true(c->flags & TF_REORDER);
	assert_int_equal(c->reo_mult, 2);
}

/* ---- tail loss probes (RFC 8985 7) ------------------------------------------------ */

/* The last two segments of a response are lost: a probe (the last
 * segment again) goes after 2 SRTT, well before the 200 ms RTO; its
 * SACK shows the other one lost; no RTO. */
static void tail_loss(struct tf *f, bool expect_probe)
{
	struct sent s[64];
	unsigned n;
	uint32_t iss1;

	fill_big();
	iss1 = open_rtt(f, false, 20000);
	send_at(f, 0, 5 * MSS);
	assert_int_equal(pop(f, iss1, s, 64), 5);
	uint64_t t0 = f->now;
	f->now += 20000;
	peer_ack(f, iss1, 3 * MSS, 0, NULL); /* 4 and 5 lost */
	tf_next(f);
	n = pop(f, iss1, s, 64);
	if (!expect_probe) {
		assert_true(f->now >= t0 + 200000); /* the RTO */
		assert_int_equal(tf_cnt(f, TCP_RTO), 1);
		assert_int_equal(tf_cnt(f, TCP_TLP_PROBES), 0);
		return;
	}
	assert_true(f->now < t0 + 20000 + 100000); /* 2 SRTT, not the RTO */
	assert_int_equal(n, 1);
	assert_int_equal(s[0].off, 4 * MSS); /* the last segment */
	assert_int_equal(tf_cnt(f, TCP_TLP_PROBES), 1);
	f->now += 20000;
	const uint32_t b[][2] = {{4 * MSS, 5 * MSS}};
	peer_ack(f, iss1, 3 * MSS, 1, b);
	n = pop(f, iss1, s, 64);
	assert_int_equal(n, 1);
	assert_int_equal(s[0].off, 3 * MSS);
	f->now += 20000;
	peer_ack(f, iss1, 5 * MSS, 0, NULL);
	assert_int_equal(tf_cnt(f, TCP_RTO), 0);
	assert_int_equal(tf_tcb(f, f->id)->snd_una, iss1 + 5 * MSS);
	assert_true(f->now < t0 + 200000);
}

static void test_established_tail_loss_probe_before_rto(void **state)
{
	tail_loss(*state, true);
}

static void edit_notlp(struct dl_stack_config *c)
{
	c->tcp.tlp = false;
}

static void test_established_tail_loss_without_tlp_waits_rto(void **state)
{
	struct tf *f = new_sack(edit_notlp);
	(void)state;
	tail_loss(f, false);
	tf_free(f);
}

/* The last segment alone lost (one segment in flight after the ACK of
 * the rest): the probe waits 2 SRTT plus an allowance for the peer's
 * delayed ACK, at first an eighth of tlp_delack_us (50 ms), well before
 * the 200 ms RTO. */
static void test_established_tlp_single_segment_tail_before_rto(void **state)
{
	struct tf *f = *state;
	struct sent s[64];
	uint32_t iss1;

	fill_big();
	iss1 = open_rtt(f, false, 20000);
	send_at(f, 0, 3 * MSS);
	assert_int_equal(pop(f, iss1, s, 64), 3);
	f->now += 20000;
	peer_ack(f, iss1, 2 * MSS, 0, NULL);
	uint64_t t0 = f->now;
	tf_next(f);
	assert_int_equal(pop(f, iss1, s, 64), 1);
	assert_int_equal(s[0].off, 2 * MSS);
	assert_true(f->now >= t0 + 2 * 20000 + 50000 / 8 - 1000 && f->now < t0 + 2 * 20000 + 50000 / 8 + 1000);
	assert_int_equal(tf_cnt(f, TCP_TLP_PROBES), 1);
	assert_int_equal(tf_cnt(f, TCP_RTO), 0);
}

/* A peer that delays its ACK of a lone segment makes the single-segment
 * probe needless (it D-SACKs it): each such probe doubles the allowance,
 * 6.25, 12.5, 25, then 50 ms (tlp_delack_us) and no more. A probe after a
 * timeout with more in flight changes nothing. */
static void test_established_tlp_single_segment_allowance_adapts(void **state)
{
	struct tf *f = *state;
	struct sent s[64];
	uint32_t iss1, off = 0;
	const uint32_t want[] = {6250, 12500, 25000, 50000, 50000};

	fill_big();
	iss1 = open_rtt(f, false, 20000);
	struct dl_tcb *c = tf_tcb(f, f->id);
	for (unsigned k = 0; k < 5; k++) {
		send_at(f, off, 2 * MSS);
		assert_int_equal(pop(f, iss1, s, 64), 2);
		f->now += 20000;
		peer_ack(f, iss1, off + MSS, 0, NULL); /* one segment left in flight */
		uint64_t t0 = f->now, pto = 2 * (uint64_t)(c->srtt8 >> 3) + want[k];
		tf_next(f);
		assert_int_equal(pop(f, iss1, s, 64), 1); /* the probe: the last segment again */
		assert_true(f->now >= t0 + pto && f->now < t0 + pto + 1000);
		/* the peer had it: it ACKs it late, then D-SACKs the probe */
		peer_ack(f, iss1, off + 2 * MSS, 0, NULL);
		const uint32_t d[][2] = {{off + MSS, off + 2 * MSS}};
		peer_ack(f, iss1, off + 2 * MSS, 1, d);
		assert_int_equal(tf_cnt(f, TCP_TLP_SPURIOUS), k + 1);
		off += 2 * MSS;
		f->now += 1000000; /* idle: the next send starts afresh */
	}
	assert_int_equal(tf_cnt(f, TCP_TLP_DELACK_RAISED), 3);
	assert_int_equal(c->tlp_dack_up, 3);
	assert_int_equal(tf_cnt(f, TCP_RTO), 0);
}

/* A probe that repaired the only loss: one congestion response. */
static void test_established_tlp_repairs_single_tail_loss(void **state)
{
	struct tf *f = *state;
	struct sent s[64];
	uint32_t iss1;

	fill_big();
	iss1 = open_rtt(f, false, 20000);
	struct dl_tcb *c = tf_tcb(f, f->id);
	send_at(f, 0, 4 * MSS);
	pop(f, iss1, s, 64);
	f->now += 20000;
	peer_ack(f, iss1, 2 * MSS, 0, NULL); /* 3 and 4 in flight, 4 lost */
	uint32_t cwnd = c->cwnd;
	tf_next(f);
	assert_int_equal(pop(f, iss1, s, 64), 1);
	assert_int_equal(s[0].off, 3 * MSS);
	f->now += 20000;
	peer_ack(f, iss1, 4 * MSS, 0, NULL);
	assert_int_equal(tf_cnt(f, TCP_TLP_RECOVERED), 0); /* ACK = end: not yet known */
	send_at(f, 4 * MSS, MSS);
	pop(f, iss1, s, 64);
	peer_ack(f, iss1, 5 * MSS, 0, NULL);
	assert_int_equal(tf_cnt(f, TCP_TLP_RECOVERED), 1);
	assert_true(c->cwnd < cwnd);
}

/* A probe for nothing: the peer D-SACKs it; no congestion response. */
static void test_established_tlp_spurious_dsack(void **state)
{
	struct tf *f = *state;
	struct sent s[64];
	uint32_t iss1;

	fill_big();
	iss1 = open_rtt(f, false, 20000);
	struct dl_tcb *c = tf_tcb(f, f->id);
	send_at(f, 0, 4 * MSS);
	pop(f, iss1, s, 64);
	f->now += 20000;
	peer_ack(f, iss1, 2 * MSS, 0, NULL);
	uint32_t cwnd = c->cwnd;
	tf_next(f);
	assert_int_equal(pop(f, iss1, s, 64), 1);
	/* the ACKs were only late: all arrives, the probe is a duplicate */
	peer_ack(f, iss1, 4 * MSS, 0, NULL);
	const uint32_t d[][2] = {{3 * MSS, 4 * MSS}};
	peer_ack(f, iss1, 4 * MSS, 1, d);
	assert_int_equal(tf_cnt(f, TCP_TLP_SPURIOUS), 1);
	assert_int_equal(tf_cnt(f, TCP_TLP_RECOVERED), 0);
	assert_true(c->cwnd >= cwnd);
	assert_false(c->flags & TF_REORDER); /* a probe's D-SACK is no reordering */
	assert_int_equal(c->tlp_dack_up, 0); /* two were in flight: no delayed ACK to learn */
}

/* Without SACK there is no probe (RFC 8985 7.2). */
static void test_established_no_tlp_without_sack(void **state)
{
	struct tf *f = tf_new(NULL);
	struct sent s[64];
	uint32_t iss1;
	(void)state;

	fill_big();
	iss1 = open_rtt(f, false, 20000);
	send_at(f, 0, 5 * MSS);
	pop(f, iss1, s, 64);
	f->now += 20000;
	peer_ack(f, iss1, 3 * MSS, 0, NULL);
	assert_false(tf_tcb(f, f->id)->flags & TF_PTO);
	tf_next(f);
	assert_int_equal(tf_cnt(f, TCP_TLP_PROBES), 0);
	assert_int_equal(tf_cnt(f, TCP_RTO), 1);
	tf_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_listen_syn_sackok_negotiated),
	    cmocka_unit_test(test_listen_syn_sack_off_not_offered),
	    T(test_established_ooo_ack_carries_sack_blocks_most_recent_first),
	    T(test_established_sack_blocks_fit_options),
	    T(test_established_data_segments_carry_sack_blocks),
	    T(test_established_duplicate_gets_dsack),
	    cmocka_unit_test(test_established_sack_off_peer_gets_no_blocks),
	    T(test_established_sack_hole_retransmitted_at_once),
	    cmocka_unit_test(test_established_prr_counts_the_burst_before_the_loss),
	    T(test_established_sack_one_segment_waits_reordering_window),
	    T(test_established_sack_reordering_timer_precise_on_lan),
	    T(test_established_sack_two_holes_one_round),
	    T(test_established_rack_lost_retransmission_resent),
	    cmocka_unit_test(test_established_sack_pool_exhausted_newreno_fallback),
	    T(test_established_sack_invalid_blocks_ignored),
	    T(test_established_rto_keeps_sacked_data),
	    T(test_established_rto_after_reneging_resends_sacked),
	    T(test_established_dsack_received_widens_reordering_window),
	    T(test_established_tail_loss_probe_before_rto),
	    cmocka_unit_test(test_established_tail_loss_without_tlp_waits_rto),
	    T(test_established_tlp_single_segment_tail_before_rto),
	    T(test_established_tlp_repairs_single_tail_loss),
	    T(test_established_tlp_single_segment_allowance_adapts),
	    T(test_established_tlp_spurious_dsack),
	    cmocka_unit_test(test_established_no_tlp_without_sack),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
