/*
 * test_tcp_data.c - crafted-segment tests of the ESTABLISHED state: zero-
 * copy receive and credits, delayed ACKs, reassembly and its bounds,
 * windows (RFC 7323 scaling, SWS, persist), zero-touch scatter-gather
 * transmit and TSO, IW10, RTO (RFC 6298) and NewReno (RFC 5681/6582),
 * RFC 5961 checks, timestamps/PAWS, keepalive.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tcp_test.h"

static int setup(void **state)
{
	*state = tf_new(NULL);
	return 0;
}

static int teardown(void **state)
{
	tf_free(*state);
	return 0;
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

static uint8_t big[200000];

static void fill_big(void)
{
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 131 + (i >> 8));
}

static int send_bytes(struct tf *f, const uint8_t *p, uint32_t len)
{
	struct dl_tx_frag fr = {p, len, DL_REGION_NONE};
	int rc = dl_stack_send(f->s, APP, f->id, &fr, 1);
	tf_run(f);
	return rc;
}

/* Next sequence number the stack is expected to send data at. */
static uint32_t next_seq;

/* Pop every segment the stack sent; assert they carry the stream in
 * order from next_seq (iss1 = sequence number of stream byte 0); return
 * the byte count. */
static uint32_t drain_data(struct tf *f, const uint8_t *stream_base, uint32_t iss1)
{
	struct tseg r;
	uint32_t n = 0;

	if (seq_lt(next_seq, iss1) || seq_gt(next_seq, iss1 + sizeof(big)))
		next_seq = iss1;
	while (tf_recv(f, &r)) {
		assert_int_equal(r.seq, next_seq);
		if (r.len > 0)
			assert_memory_equal(r.payload, stream_base + (r.seq - iss1), r.len);
		next_seq += r.len;
		n += r.len;
	}
	return n;
}

/* Start a new stream at iss1. */
static uint32_t stream_start(struct tf *f)
{
	next_seq = f->p.ack;
	return f->p.ack;
}

/* ---- receive: zero copy, credits, ACK policy ----------------------------- */

static void test_established_data_zero_copy_held_until_recv_done(void **state)
{
	struct tf *f = *state;
	uint32_t id = tf_open(f, false, -1);
	unsigned bufs0 = dl_memwire_bufs_in_use(f->w);

	f->auto_return = false;
	tf_seg(f, DL_TCP_ACK | DL_TCP_PSH, "0123456789", 10);
	const struct tf_ev *e = tf_last(f, EV_NEW_DATA);
	assert_non_null(e);
	assert_int_equal(e->app, APP);
	assert_int_equal(e->val, 10);
	assert_int_equal(e->nrefs, 1);
	/* the reference points into the RX buffer the frame arrived in */
	const struct dl_region *rx = dl_region_get(dl_memwire_nic(f->w, 0)->rx_region);
	assert_int_equal(e->ref0.region, rx->id);
	assert_true(e->ref0.data >= rx->base && e->ref0.data + 10 <= rx->base + rx->len);
	assert_memory_equal(e->ref0.data, "0123456789", 10);
	assert_int_equal(dl_memwire_bufs_in_use(f->w), bufs0 + 1);
	struct dl_tcb *c = tf_tcb(f, id);
	assert_int_equal(c->rx_unret, 10);
	assert_int_equal(c->rx_nbufs, 1);
	/* returning part keeps the buffer, returning the rest frees it */
	assert_int_equal(dl_stack_recv_done(f->s, APP, id, 4), 0);
	assert_int_equal(dl_memwire_bufs_in_use(f->w), bufs0 + 1);
	assert_int_equal(dl_stack_recv_done(f->s, APP, id, 6), 0);
	assert_int_equal(dl_memwire_bufs_in_use(f->w), bufs0);
	assert_int_equal(c->rx_nbufs, 0);
}

static void test_established_recv_done_more_than_delivered_einval(void **state)
{
	struct tf *f = *state;
	uint32_t id = tf_open(f, false, -1);

	f->auto_return = false;
	tf_seg(f, DL_TCP_ACK, "abcdef", 6);
	assert_int_equal(dl_stack_recv_done(f->s, APP, id, 7), -EINVAL);
	assert_int_equal(tf_tcb(f, id)->rx_unret, 6); /* nothing changed */
	assert_int_equal(tf_cnt(f, TCP_CMD_RECV_EINVAL), 1);
	assert_int_equal(dl_stack_recv_done(f->s, 2, id, 1), -EPERM);
	assert_int_equal(dl_stack_recv_done(f->s, APP, id, 6), 0);
	assert_int_equal(dl_stack_recv_done(f->s, APP, id, 1), -EINVAL);
}

static void test_established_delayed_ack_fires_after_delack(void **state)
{
	struct tf *f = *state;
	uint64_t t0;
	uint32_t id = tf_open(f, false, -1);

	tf_seg(f, DL_TCP_ACK, "hello", 5);
	tf_none(f);
	t0 = f->now;
	uint64_t d = dl_stack_next_deadline(f->s);
	assert_true(d >= t0 + 40000 && d < t0 + 40000 + (1u << DL_TCP_TICK_SHIFT));
	tf_next(f);
	struct tseg r = tf_expect(f, DL_TCP_ACK, tf_tcb(f, id)->snd_nxt, 1001 + 5);
	assert_int_equal(r.len, 0);
	assert_int_equal(tf_cnt(f, TCP_TX_DELACK), 1);
}

static void test_established_ack_every_second_full_segment(void **state)
{
	struct tf *f = *state;
	tf_open(f, false, -1);

	fill_big();
	tf_seg(f, DL_TCP_ACK, big, 1460);
	tf_none(f);
	tf_seg(f, DL_TCP_ACK, big + 1460, 1460);
	tf_expect(f, DL_TCP_ACK, f->p.ack, 1001 + 2920);
	assert_memory_equal(f->rx, big, 2920);
}

static void test_established_ooo_dupack_then_reassembly(void **state)
{
	struct tf *f = *state;
	uint32_t base;
	tf_open(f, false, -1);

	base = f->p.nxt;
	/* second segment first: immediate duplicate ACK */
	f->p.nxt = base + 100;
	tf_seg(f, DL_TCP_ACK, "BBBBBBBBBB", 10);
	tf_expect(f, DL_TCP_ACK, f->p.ack, base);
	assert_int_equal(tf_count(f, EV_NEW_DATA, ~0u), 0);
	/* a third, adjacent, out of order too */
	tf_seg(f, DL_TCP_ACK, "CCCCC", 5);
	tf_expect(f, DL_TCP_ACK, f->p.ack, base);
	/* the hole: filled, everything delivered in order, ACKed at once */
	f->p.nxt = base;
	uint8_t a[100];
	memset(a, 'A', sizeof(a));
	tf_seg(f, DL_TCP_ACK, a, 100);
	tf_expect(f, DL_TCP_ACK, f->p.ack, base + 115);
	assert_int_equal(f->rx_len, 115);
	assert_memory_equal(f->rx + 100, "BBBBBBBBBBCCCCC", 15);
	assert_int_equal(tf_cnt(f, TCP_RX_OOO), 2);
}

/* Regression: out-of-order segments arriving in one receive burst get one
 * duplicate ACK each (RFC 5681 4.2), not one for the burst: a Linux sender
 * without SACK counts them towards its fast-retransmit threshold and fell
 * back to RTOs when a burst of 30 out-of-order segments produced one. */
static void test_established_ooo_burst_one_dupack_each(void **state)
{
	struct tf *f = *state;
	uint32_t base;
	uint8_t d[100];
	tf_open(f, true, 7);

	base = f->p.nxt;
	memset(d, 'D', sizeof(d));
	f->p.nxt = base + 100; /* [base, base + 100) lost */
	f->no_run = true;
	for (int i = 0; i < 5; i++)
		tf_seg(f, DL_TCP_ACK, d, sizeof(d));
	f->no_run = false;
	tf_run(f);
	for (int i = 0; i < 5; i++)
		tf_expect(f, DL_TCP_ACK, f->p.ack, base);
	tf_none(f);
	assert_int_equal(tf_cnt(f, TCP_RX_OOO), 5);
	assert_int_equal(tf_count(f, EV_NEW_DATA, ~0u), 0);
	/* The retransmission fills the hole: one cumulative ACK. */
	f->p.nxt = base;
	tf_seg(f, DL_TCP_ACK, d, sizeof(d));
	tf_expect(f, DL_TCP_ACK, f->p.ack, base + 600);
	tf_none(f);
	assert_int_equal(f->rx_len, 600);
}

static void test_established_ooo_overlap_trimmed(void **state)
{
	struct tf *f = *state;
	uint32_t base;
	tf_open(f, false, -1);

	base = f->p.nxt;
	fill_big();
	f->p.nxt = base + 10;
	tf_seg(f, DL_TCP_ACK, big + 10, 20); /* [10, 30) */
	f->p.nxt = base + 20;
	tf_seg(f, DL_TCP_ACK, big + 20, 30); /* [20, 50): keeps [30, 50) */
	f->p.nxt = base + 12;
	tf_seg(f, DL_TCP_ACK, big + 12, 5); /* inside: dropped */
	f->p.nxt = base;
	tf_seg(f, DL_TCP_ACK, big, 15); /* [0, 15): overlaps the first */
	while (tf_recv(f, &(struct tseg){0}))
		;
	assert_int_equal(f->rx_len, 50);
	assert_memory_equal(f->rx, big, 50);
	assert_int_equal(tf_cnt(f, TCP_DROP_DUPLICATE), 1);
}

static void edit_ooo2(struct dl_stack_config *c)
{
	c->tcp.ooo_max_segs = 2;
}

static void test_established_ooo_limit_drops_and_counts(void **state)
{
	struct tf *f = tf_new(edit_ooo2);
	uint32_t base;
	(void)state;

	tf_open(f, false, -1);
	base = f->p.nxt;
	for (unsigned k = 1; k <= 3; k++) {
		f->p.nxt = base + 100 * k;
		tf_seg(f, DL_TCP_ACK, "xxxxxxxxxx", 10);
	}
	assert_int_equal(tf_cnt(f, TCP_DROP_OOO_LIMIT), 1);
	assert_int_equal(tf_tcb(f, f->id)->ooo_segs, 2);
	while (tf_recv(f, &(struct tseg){0}))
		;
	f->p.nxt = base;
	uint8_t a[100] = {0};
	tf_seg(f, DL_TCP_ACK, a, 100);
	tf_expect(f, DL_TCP_ACK, f->p.ack, base + 110); /* up to the next hole */
	tf_free(f);
}

/* Regression: with the default bounds a loss in a full window of
 * full-sized segments keeps everything behind the hole (a 64-segment
 * bound dropped two thirds of a 256 KiB window, and a Linux sender
 * without SACK then recovered one segment per RTT or by RTO). */
static void test_established_ooo_full_window_held(void **state)
{
	struct tf *f = *state;
	const uint32_t mss = 1448, nseg = 256u * 1024 / 1448; /* 181 */
	uint32_t base;

	tf_open(f, true, 7);
	fill_big();
	base = f->p.nxt;
	for (uint32_t k = 1; k < nseg; k++) {
		f->p.nxt = base + k * mss;
		tf_seg(f, DL_TCP_ACK, big + k * 1000, mss);
		tf_expect(f, DL_TCP_ACK, f->p.ack, base);
	}
	assert_int_equal(tf_cnt(f, TCP_DROP_OOO_LIMIT), 0);
	assert_int_equal(tf_cnt(f, TCP_RX_OOO), nseg - 1);
	f->p.nxt = base;
	tf_seg(f, DL_TCP_ACK, big, mss);
	tf_expect(f, DL_TCP_ACK, f->p.ack, base + nseg * mss);
	assert_int_equal(f->rx_len, nseg * mss);
	assert_memory_equal(f->rx + mss, big + 1000, mss);
	assert_memory_equal(f->rx + (nseg - 1) * mss, big + (nseg - 1) * 1000, mss);
}

static void edit_huge_window(struct dl_stack_config *c)
{
	c->tcp.wscale = 14;
	c->tcp.rcv_wnd = 256u << 20;
}

/* The derived buffer and out-of-order bounds stay within the 16-bit
 * per-connection counts they bound (rx_nbufs, ooo_segs), whatever the
 * window: a 256 MiB window would derive 183,000 out-of-order segments. */
static void test_established_huge_window_bounds_fit_counters(void **state)
{
	struct tf *f = tf_new(edit_huge_window);
	(void)state;

	assert_int_equal(f->t->p.rcv_wnd, 256u << 20);
	assert_true(f->t->rx_bufs_max <= UINT16_MAX);
	assert_true(f->t->p.ooo_max_segs <= UINT16_MAX);
	assert_true(f->t->p.ooo_max_segs >= 1000);
	tf_free(f);
}

static void edit_bufcap(struct dl_stack_config *c)
{
	c->tcp.rx_bufs_max = 4;
	c->tcp.rcv_wnd = 60000;
}

/* Tiny segments pin whole buffers: the window follows the buffers left. */
static void test_established_rx_buffer_cap_shrinks_window(void **state)
{
	struct tf *f = tf_new(edit_bufcap);
	struct tseg r;
	(void)state;

	f->auto_accept = true;
	assert_int_equal(dl_stack_listen(f->s, OUR_PORT, 0), 0);
	struct tseg syn = {.seq = 1000, .flags = DL_TCP_SYN, .wnd = 65535};
	tf_send(f, &syn);
	assert_true(tf_recv(f, &r));
	assert_int_equal(r.wnd, 4 * 1460); /* buffers, not bytes, bound it */
	f->p.nxt = 1001;
	f->p.ack = r.seq + 1;
	tf_seg(f, DL_TCP_ACK, NULL, 0);
	f->id = tf_last(f, EV_NEW_CONN)->id;
	f->auto_return = false;
	for (unsigned k = 1; k <= 4; k++) {
		tf_seg(f, DL_TCP_ACK, "z", 1);
		tf_next(f); /* delayed ACK */
		r = tf_expect(f, DL_TCP_ACK, f->p.ack, 1001 + k);
		assert_int_equal(r.wnd, (4 - k) * 1460);
	}
	tf_seg(f, DL_TCP_ACK, "z", 1); /* inside the old window, no buffer left */
	r = tf_expect(f, DL_TCP_ACK, f->p.ack, 1005);
	assert_int_equal(r.wnd, 0);
	assert_int_equal(tf_cnt(f, TCP_DROP_RXBUF_LIMIT), 1);
	f->p.nxt--;
	assert_int_equal(dl_stack_recv_done(f->s, APP, f->id, 4), 0);
	tf_run(f);
	r = tf_expect(f, DL_TCP_ACK, f->p.ack, 1005); /* window update */
	assert_int_equal(r.wnd, 4 * 1460);
	assert_int_equal(tf_cnt(f, TCP_TX_WINUPD), 1);
	tf_free(f);
}

static void edit_wnd20000(struct dl_stack_config *c)
{
	c->tcp.rcv_wnd = 20000;
}

static void test_established_window_follows_application_credit(void **state)
{
	struct tf *f = tf_new(edit_wnd20000);
	struct tseg r;
	(void)state;

	fill_big();
	tf_open(f, false, -1);
	f->auto_return = false;
	tf_seg(f, DL_TCP_ACK, big, 1460);
	tf_seg(f, DL_TCP_ACK, big + 1460, 1460);
	r = tf_expect(f, DL_TCP_ACK, f->p.ack, 1001 + 2920);
	assert_int_equal(r.wnd, 20000 - 2920);
	for (unsigned k = 2; k < 7; k++)
		tf_seg(f, DL_TCP_ACK, big + 1460 * k, k == 6 ? 1240 : 1460);
	while (tf_recv(f, &r))
		;
	tf_next(f);
	while (tf_recv(f, &r))
		;
	assert_int_equal(r.ack, 1001 + 10000);
	assert_int_equal(r.wnd, 10000);
	/* the application returns it all: the window reopens at once */
	assert_int_equal(dl_stack_recv_done(f->s, APP, f->id, 10000), 0);
	tf_run(f);
	r = tf_expect(f, DL_TCP_ACK, f->p.ack, 1001 + 10000);
	assert_int_equal(r.wnd, 20000);
	assert_int_equal(dl_memwire_bufs_in_use(f->w), 0);
	tf_free(f);
}

static void edit_credit2000(struct dl_stack_config *c)
{
	c->tcp.app_rx_credit = 2000;
}

/* An application core over its RX credit (--app-rx-credit) gets no more
 * buffers: payload is dropped and counted, the ACK does not move, and the
 * same bytes are accepted once the core returns what it holds. */
static void test_established_app_over_credit_dropped_until_returned(void **state)
{
	struct tf *f = tf_new(edit_credit2000);
	struct tseg r;
	(void)state;

	fill_big();
	tf_open(f, false, -1);
	f->auto_return = false;
	tf_seg(f, DL_TCP_ACK, big, 1460);
	tf_seg(f, DL_TCP_ACK, big + 1460, 1460); /* accepted: 1460 <= credit */
	r = tf_expect(f, DL_TCP_ACK, f->p.ack, 1001 + 2920);
	tf_seg(f, DL_TCP_ACK, big + 2920, 1460); /* 2920 held > 2000: dropped */
	while (tf_recv(f, &r))
		assert_int_equal(r.ack, 1001 + 2920);
	assert_int_equal(tf_cnt(f, TCP_DROP_APP_THROTTLED), 1);
	assert_int_equal(dl_stack_recv_done(f->s, APP, f->id, 2920), 0);
	tf_run(f);
	while (tf_recv(f, &r))
		;
	f->p.nxt -= 1460; /* the peer retransmits */
	tf_seg(f, DL_TCP_ACK, big + 2920, 1460);
	tf_next(f);
	r = tf_expect(f, DL_TCP_ACK, f->p.ack, 1001 + 4380);
	assert_int_equal(tf_cnt(f, TCP_DROP_APP_THROTTLED), 1);
	tf_free(f);
}

static void test_established_shutdown_rd_discards_input(void **state)
{
	struct tf *f = *state;
	uint32_t id = tf_open(f, false, -1);

	assert_int_equal(dl_stack_shutdown(f->s, APP, id, SHUT_RD), 0);
	tf_seg(f, DL_TCP_ACK, "ignored", 7);
	tf_expect(f, DL_TCP_ACK, f->p.ack, 1001 + 7);
	assert_int_equal(tf_count(f, EV_NEW_DATA, ~0u), 0);
	assert_int_equal(tf_cnt(f, TCP_DROP_DATA_SHUT_RD), 1);
	assert_int_equal(tf_tcb(f, id)->rx_nbufs, 0);
	assert_int_equal(dl_stack_shutdown(f->s, APP, id, 7), -EINVAL);
}

/* ---- sequence checks, RFC 5961 ------------------------------------------------ */

static void test_established_duplicate_segment_acked(void **state)
{
	struct tf *f = *state;
	tf_open(f, false, -1);

	tf_seg(f, DL_TCP_ACK, "abc", 3);
	f->p.nxt -= 3;
	tf_seg(f, DL_TCP_ACK, "abc", 3); /* the peer did not see our ACK */
	tf_expect(f, DL_TCP_ACK, f->p.ack, 1004);
	assert_int_equal(tf_cnt(f, TCP_DROP_DUPLICATE), 1);
	assert_int_equal(f->rx_len, 3);
}

static void test_established_out_of_window_segment_acked(void **state)
{
	struct tf *f = *state;
	tf_open(f, false, -1);

	f->p.nxt += 70000; /* beyond the 65535-byte window */
	tf_seg(f, DL_TCP_ACK, "far", 3);
	tf_expect(f, DL_TCP_ACK, f->p.ack, 1001);
	assert_int_equal(tf_cnt(f, TCP_DROP_OUT_OF_WINDOW), 1);
	assert_int_equal(tf_tcb(f, f->id)->ooo_segs, 0);
}

/* Regression: a peer that filled our window (its data still in flight)
 * ACKs our data with SEQ = RCV.NXT + RCV.WND, the right edge. Such a pure
 * ACK is acceptable (BSD, Linux); the strict RFC 9293 test dropped it as
 * out of window, and an echo over an impaired link lost most ACKs. */
static void test_established_ack_at_right_edge_accepted(void **state)
{
	struct tf *f = *state;
	uint32_t id = tf_open(f, false, -1), iss1 = stream_start(f);
	struct dl_tcb *c = tf_tcb(f, id);

	fill_big();
	assert_int_equal(send_bytes(f, big, 3000), 0);
	assert_int_equal(drain_data(f, big, iss1), 3000);
	assert_int_equal(c->rcv_adv - c->rcv_nxt, 65535);
	f->p.nxt += 65535; /* a full window sent, none of it arrived yet */
	f->p.ack = iss1 + 3000;
	tf_seg(f, DL_TCP_ACK, NULL, 0);
	assert_int_equal(tf_cnt(f, TCP_DROP_OUT_OF_WINDOW), 0);
	assert_non_null(tf_last(f, EV_DATA_ACKED));
	assert_int_equal(tf_last(f, EV_DATA_ACKED)->val, 3000);
	assert_int_equal(c->snd_una, iss1 + 3000);
	tf_none(f);
	/* One byte further is beyond the window: dropped and ACKed. */
	f->p.nxt += 1;
	tf_seg(f, DL_TCP_ACK, NULL, 0);
	assert_int_equal(tf_cnt(f, TCP_DROP_OUT_OF_WINDOW), 1);
	tf_expect(f, DL_TCP_ACK, iss1 + 3000, c->rcv_nxt);
}

static void test_established_rst_exact_resets(void **state)
{
	struct tf *f = *state;
	uint32_t id = tf_open(f, false, -1);

	tf_seg(f, DL_TCP_RST, NULL, 0);
	tf_none(f);
	const struct tf_ev *e = tf_last(f, EV_REMOTE_CLOSED);
	assert_non_null(e);
	assert_int_equal(e->val, DL_CLOSE_RESET);
	assert_int_equal(e->id, id);
	assert_int_equal(tf_count(f, EV_CLEANUP, id), 1);
	assert_int_equal(tf_cnt(f, TCP_CONN_RESET_RX), 1);
	assert_int_equal(
	    dl_stack_send(f->s, APP, id, &(struct dl_tx_frag){(const uint8_t *)"x", 1, 0}, 1),
	    -ENOENT); /* a stale id names nothing */
}

static void test_established_rst_in_window_challenge_ack(void **state)
{
	struct tf *f = *state;
	uint32_t id = tf_open(f, false, -1);
	struct tseg rst = {.seq = 1001 + 10, .flags = DL_TCP_RST};

	tf_send(f, &rst);
	tf_expect(f, DL_TCP_ACK, tf_tcb(f, id)->snd_nxt, 1001);
	assert_int_equal(tf_tcb(f, id)->state, DL_TCP_ESTABLISHED);
	assert_int_equal(tf_cnt(f, TCP_DROP_RST_CHALLENGE), 1);
	assert_int_equal(tf_cnt(f, TCP_TX_CHALLENGE_ACK), 1);
	rst.seq = 1001 + 100000; /* out of window: silently dropped */
	tf_send(f, &rst);
	tf_none(f);
	assert_int_equal(tf_cnt(f, TCP_DROP_RST_OOW), 1);
	assert_int_equal(tf_count(f, EV_REMOTE_CLOSED, ~0u), 0);
}

static void test_established_syn_challenge_ack(void **state)
{
	struct tf *f = *state;
	uint32_t id = tf_open(f, false, -1);
	struct tseg syn = {.seq = 123456, .flags = DL_TCP_SYN, .wnd = 1000};

	tf_send(f, &syn);
	tf_expect(f, DL_TCP_ACK, tf_tcb(f, id)->snd_nxt, 1001);
	syn.seq = 1001; /* in window too */
	tf_send(f, &syn);
	tf_expect(f, DL_TCP_ACK, tf_tcb(f, id)->snd_nxt, 1001);
	assert_int_equal(tf_tcb(f, id)->state, DL_TCP_ESTABLISHED);
	assert_int_equal(tf_cnt(f, TCP_DROP_SYN_CHALLENGE), 2);
}

static void edit_chal2(struct dl_stack_config *c)
{
	c->tcp.challenge_ack_limit = 2;
}

static void test_established_challenge_acks_rate_limited(void **state)
{
	struct tf *f = tf_new(edit_chal2);
	struct tseg rst = {.seq = 1001 + 10, .flags = DL_TCP_RST};
	(void)state;

	tf_open(f, false, -1);
	for (int k = 0; k < 3; k++)
		tf_send(f, &rst);
	assert_int_equal(tf_pending(f), 2);
	assert_int_equal(tf_cnt(f, TCP_CHALLENGE_LIMITED), 1);
	while (tf_recv(f, &(struct tseg){0}))
		;
	f->now += 1000000; /* a new second, a new budget */
	tf_send(f, &rst);
	assert_int_equal(tf_pending(f), 1);
	tf_free(f);
}

static void test_established_old_ack_challenged(void **state)
{
	struct tf *f = *state;
	uint32_t id = tf_open(f, false, -1);
	struct dl_tcb *c = tf_tcb(f, id);
	uint32_t save = f->p.ack;

	/* RFC 5961 5.2: SEG.ACK below SND.UNA - MAX.SND.WND */
	f->p.ack = c->snd_una - c->max_snd_wnd - 10;
	tf_seg(f, DL_TCP_ACK, "data", 4);
	tf_expect(f, DL_TCP_ACK, c->snd_nxt, 1001);
	assert_int_equal(f->rx_len, 0); /* the data went with it */
	assert_int_equal(tf_cnt(f, TCP_DROP_ACK_CHALLENGE), 1);
	/* an ACK of data never sent: ACK and drop */
	f->p.ack = c->snd_max + 100;
	f->p.nxt -= 4;
	tf_seg(f, DL_TCP_ACK, "data", 4);
	tf_expect(f, DL_TCP_ACK, c->snd_nxt, 1001);
	assert_int_equal(f->rx_len, 0);
	assert_int_equal(tf_cnt(f, TCP_DROP_ACK_UNSENT), 1);
	f->p.ack = save;
}

static void test_established_no_ack_flag_dropped(void **state)
{
	struct tf *f = *state;
	tf_open(f, false, -1);

	tf_seg(f, DL_TCP_PSH, "noack", 5);
	tf_none(f);
	assert_int_equal(f->rx_len, 0);
	assert_int_equal(tf_cnt(f, TCP_DROP_NO_ACK), 1);
}

/* ---- timestamps (RFC 7323) ------------------------------------------------------- */

static void test_established_timestamps_echoed(void **state)
{
	struct tf *f = *state;
	uint32_t id = tf_open(f, true, 2);
	struct dl_tcb *c = tf_tcb(f, id);

	struct tseg r;
	tf_seg(f, DL_TCP_ACK, "tick", 4);
	/* the SYN-ACK could only offer 65535 bytes: the returned data makes
	 * the scaled window worth an update at once */
	assert_true(tf_recv(f, &r));
	assert_int_equal(r.wnd, 256 * 1024 >> 7);
	f->now += 5000;
	tf_seg(f, DL_TCP_ACK, "tock", 4);
	tf_none(f);
	tf_next(f); /* delayed ACK */
	assert_true(tf_recv(f, &r));
	assert_int_equal(r.opts, DL_TCP_OPT_TS);
	assert_int_equal(r.tsecr, f->p.tsval); /* TS.Recent: the segment at the left edge */
	assert_int_equal(r.tsval, (uint32_t)(f->now >> DL_TCP_TS_SHIFT) + c->ts_off);
	/* scaled by our shift; the edge moved by less than an MSS: kept */
	assert_int_equal(r.wnd, (256 * 1024 - 4) >> 7);
}

static void test_established_paws_drops_old_timestamp(void **state)
{
	struct tf *f = *state;
	uint32_t id = tf_open(f, true, 2);

	tf_seg(f, DL_TCP_ACK, "new", 3);
	f->p.tsval -= 10; /* an old duplicate from a previous incarnation */
	tf_seg(f, DL_TCP_ACK, "old", 3);
	tf_expect(f, DL_TCP_ACK, tf_tcb(f, id)->snd_nxt, 1004);
	assert_int_equal(f->rx_len, 3);
	assert_int_equal(tf_cnt(f, TCP_DROP_PAWS), 1);
}

/* A duplicate ACK overtaken by a later one carries an older timestamp:
 * processed (counted), not dropped as PAWS would; data, a window change
 * or a timestamp older than an RTO still are. */
static void test_established_paws_lets_disordered_dup_ack_through(void **state)
{
	struct tf *f = *state;
	uint32_t id = tf_open(f, true, 2);
	static const uint8_t msg[3000];
	struct dl_tx_frag fr = {msg, sizeof(msg), DL_REGION_NONE};
	struct tseg r;
	uint32_t recent;

	assert_int_equal(dl_stack_send(f->s, APP, id, &fr, 1), 0);
	tf_run(f);
	while (tf_recv(f, &r))
		;
	f->p.tsval += 5;
	tf_seg(f, DL_TCP_ACK, NULL, 0); /* a duplicate ACK (acknowledges nothing new) */
	recent = tf_tcb(f, id)->ts_recent;
	f->p.tsval -= 3;		/* ... and one sent before it, arriving after */
	tf_seg(f, DL_TCP_ACK, NULL, 0);
	tf_none(f);
	assert_int_equal(tf_cnt(f, TCP_DROP_PAWS), 0);
	assert_int_equal(tf_cnt(f, TCP_PAWS_DISORDERED_ACK), 1);
	assert_int_equal(tf_cnt(f, TCP_RX_DUPACK), 2);
	assert_int_equal(tf_tcb(f, id)->ts_recent, recent); /* the newer one stays */

	f->p.tsval = recent - 2;
	tf_seg(f, DL_TCP_ACK, "old", 3); /* data: PAWS */
	assert_int_equal(tf_cnt(f, TCP_DROP_PAWS), 1);
	f->p.nxt -= 3;
	f->p.tsval = recent - 2;
	f->p.wnd = (uint16_t)(f->p.wnd - 100); /* a window change: PAWS */
	tf_seg(f, DL_TCP_ACK, NULL, 0);
	assert_int_equal(tf_cnt(f, TCP_DROP_PAWS), 2);
	f->p.wnd = (uint16_t)(f->p.wnd + 100);
	f->p.tsval = recent - 100000; /* older than an RTO: PAWS */
	tf_seg(f, DL_TCP_ACK, NULL, 0);
	assert_int_equal(tf_cnt(f, TCP_DROP_PAWS), 3);
	assert_int_equal(tf_cnt(f, TCP_PAWS_DISORDERED_ACK), 1);
	assert_int_equal(f->rx_len, 0);
}

static void test_established_missing_timestamp_dropped(void **state)
{
	struct tf *f = *state;
	uint32_t id = tf_open(f, true, 2);

	f->p.ts = false;
	tf_seg(f, DL_TCP_ACK, "nots", 4);
	tf_none(f);
	assert_int_equal(f->rx_len, 0);
	assert_int_equal(tf_cnt(f, TCP_DROP_NO_TS), 1);
	f->p.ts = true;
	f->p.nxt -= 4;
	tf_seg(f, DL_TCP_ACK, "nots", 4);
	assert_int_equal(f->rx_len, 4);
	(void)id;
}

/* The same when TS.Recent is in the upper half of the sequence space
 * (a segment without the option reads as TSval 0, "newer" than it by
 * sequence arithmetic): still dropped, header prediction included. */
static void test_established_missing_timestamp_dropped_high_ts_recent(void **state)
{
	struct tf *f = *state;
	uint32_t id = tf_open(f, true, 2);

	/* Jumps forward (each less than 2^31) are legitimate (RFC 7323 5.3). */
	f->p.tsval += 0x70000000u;
	tf_seg(f, DL_TCP_ACK, "h", 1);
	f->p.tsval = 0xe0000000u;
	tf_seg(f, DL_TCP_ACK, "i", 1);
	assert_int_equal(f->rx_len, 2);
	assert_int_equal(tf_tcb(f, id)->ts_recent, f->p.tsval);
	assert_true(f->p.tsval >= 0xe0000000u);
	f->p.ts = false;
	tf_seg(f, DL_TCP_ACK, "nots", 4);
	assert_int_equal(f->rx_len, 2);
	assert_int_equal(tf_cnt(f, TCP_DROP_NO_TS), 1);
}

/* ---- transmit: zero touch, segmentation, TSO, IW ---------------------------------- */

static void test_established_send_mss_segments(void **state)
{
	struct tf *f = *state;
	struct tseg syn = {
	    .seq = 1000, .flags = DL_TCP_SYN, .wnd = 65535, .opts = DL_TCP_OPT_MSS, .mss = 1000};
	struct tseg r;

	fill_big();
	assert_int_equal(dl_stack_listen(f->s, OUR_PORT, 0), 0);
	tf_send(f, &syn);
	assert_true(tf_recv(f, &r));
	f->p.nxt = 1001;
	f->p.ack = r.seq + 1;
	tf_seg(f, DL_TCP_ACK, NULL, 0);
	f->id = tf_last(f, EV_NEW_CONN)->id;
	uint32_t iss1 = stream_start(f);
	assert_int_equal(send_bytes(f, big, 2500), 0);
	r = tf_expect(f, DL_TCP_ACK, iss1, 1001);
	assert_int_equal(r.len, 1000);
	assert_memory_equal(r.payload, big, 1000);
	r = tf_expect(f, DL_TCP_ACK, iss1 + 1000, 1001);
	assert_int_equal(r.len, 1000);
	r = tf_expect(f, DL_TCP_ACK | DL_TCP_PSH, iss1 + 2000, 1001);
	assert_int_equal(r.len, 500);
	assert_memory_equal(r.payload, big + 2000, 500);
	tf_none(f);
	assert_int_equal(tf_cnt(f, TCP_TX_TSO), 0);
}

static void test_established_send_scatter_gather_spans_segments(void **state)
{
	struct tf *f = *state;
	/* three fragments apart in memory (separate arrays may be laid out
	 * back to back, and contiguous fragments merge: clang does that) */
	static uint8_t mem[2400];
	uint8_t *a = mem, *b = mem + 200, *c = mem + 2300;
	uint8_t all[2150];
	struct dl_tx_frag fr[3] = {
	    {a, 100, DL_REGION_NONE}, {b, 2000, DL_REGION_NONE}, {c, 50, DL_REGION_NONE}};
	struct tseg syn = {
	    .seq = 1000, .flags = DL_TCP_SYN, .wnd = 65535, .opts = DL_TCP_OPT_MSS, .mss = 1000};
	struct tseg r;

	memset(a, 'a', 100);
	for (size_t i = 0; i < 2000; i++)
		b[i] = (uint8_t)i;
	memset(c, 'c', 50);
	memcpy(all, a, 100);
	memcpy(all + 100, b, 2000);
	memcpy(all + 2100, c, 50);
	assert_int_equal(dl_stack_listen(f->s, OUR_PORT, 0), 0);
	tf_send(f, &syn);
	assert_true(tf_recv(f, &r));
	f->p.nxt = 1001;
	f->p.ack = r.seq + 1;
	tf_seg(f, DL_TCP_ACK, NULL, 0);
	f->id = tf_last(f, EV_NEW_CONN)->id;
	uint32_t iss1 = stream_start(f);
	assert_int_equal(dl_stack_send(f->s, APP, f->id, fr, 3), 0);
	assert_int_equal(tf_tcb(f, f->id)->sq_nfrags, 3);
	tf_run(f);
	assert_int_equal(drain_data(f, all, iss1), 2150);
	/* the stack kept references, not copies: data_acked frees them */
	f->p.ack = next_seq;
	tf_seg(f, DL_TCP_ACK, NULL, 0);
	assert_int_equal(tf_last(f, EV_DATA_ACKED)->val, 2150);
	assert_int_equal(tf_tcb(f, f->id)->sq_nfrags, 0);
	assert_int_equal(f->t->chunks_used, 0);
}

static void edit_tso(struct dl_stack_config *c)
{
	c->tcp.tso = true;
	c->tcp.init_cwnd_segs = 40; /* a packet is at most cwnd / 4 */
}

static void edit_tso_iw10(struct dl_stack_config *c)
{
	c->tcp.tso = true;
}

/* TSO packets are at most a quarter of cwnd (at least 2 segments): the
 * initial window leaves as 5 packets of 2 segments, not one burst. */
static void test_established_tso_packets_bounded_by_cwnd(void **state)
{
	struct tf *f = tf_new(edit_tso_iw10);
	(void)state;

	fill_big();
	tf_open(f, false, -1);
	uint32_t iss1 = stream_start(f);
	assert_int_equal(send_bytes(f, big, 100000), 0);
	assert_int_equal(tf_cnt(f, TCP_TX_TSO), 5);
	assert_int_equal(tf_cnt(f, TCP_TX_SEGS), 1 + 5);
	assert_int_equal(drain_data(f, big, iss1), 14600);
	tf_free(f);
}

static void test_established_send_tso_large_packet(void **state)
{
	struct tf *f = tf_new(edit_tso);
	(void)state;

	fill_big();
	tf_open(f, false, -1);
	uint32_t iss1 = stream_start(f);
	assert_int_equal(send_bytes(f, big, 10000), 0);
	/* one TSO packet of up to tso_max, cut by the wire into MSS frames */
	assert_int_equal(tf_cnt(f, TCP_TX_TSO), 1);
	assert_int_equal(tf_cnt(f, TCP_TX_SEGS), 2); /* SYN-ACK + one data packet */
	assert_int_equal(tf_pending(f), 7);
	for (unsigned k = 0; k < 7; k++) {
		struct tseg r =
		    tf_expect(f, DL_TCP_ACK | (k == 6 ? DL_TCP_PSH : 0), iss1 + 1460 * k, 1001);
		assert_int_equal(r.len, k == 6 ? 10000 - 6 * 1460 : 1460);
		assert_memory_equal(r.payload, big + 1460 * k, r.len);
	}
	tf_free(f);
}

static void edit_newreno(struct dl_stack_config *c)
{
	c->tcp.cc = DL_TCP_CC_NEWRENO;
}

static void test_established_initial_window_ten_segments(void **state)
{
	struct tf *f = tf_new(edit_newreno);
	uint32_t iss1;
	(void)state;

	fill_big();
	tf_open(f, false, -1);
	iss1 = stream_start(f);
	struct dl_tcb *c = tf_tcb(f, f->id);
	assert_int_equal(c->cwnd, 14600); /* min(10 * 1460, max(2 * 1460, 14600)) */
	assert_int_equal(send_bytes(f, big, 100000), 0);
	assert_int_equal(drain_data(f, big, iss1), 14600);
	/* one ACK of everything: slow start opens by 2 MSS (RFC 3465 L=2) */
	f->p.ack = next_seq;
	tf_seg(f, DL_TCP_ACK, NULL, 0);
	assert_int_equal(c->cwnd, 14600 + 2920);
	assert_int_equal(drain_data(f, big, iss1), 14600 + 2920);
	tf_free(f);
}

/* CUBIC's slow start (RFC 9406 without pacing): at most L = 8 segments per ACK. */
static void test_established_cubic_slow_start_l8(void **state)
{
	struct tf *f = *state;
	uint32_t iss1;

	fill_big();
	tf_open(f, false, -1);
	iss1 = stream_start(f);
	struct dl_tcb *c = tf_tcb(f, f->id);
	assert_int_equal(c->cc, DL_TCP_CC_CUBIC);
	assert_int_equal(send_bytes(f, big, 100000), 0);
	assert_int_equal(drain_data(f, big, iss1), 14600);
	f->p.ack = next_seq;
	tf_seg(f, DL_TCP_ACK, NULL, 0);
	assert_int_equal(c->cwnd, 14600 + 8 * 1460);
	assert_int_equal(drain_data(f, big, iss1), 14600 + 8 * 1460);
	assert_int_equal(tf_cnt(f, TCP_CC_CUBIC), 1);
}

/* RFC 7661: a window the application does not fill does not grow. */
static void test_established_app_limited_cwnd_does_not_grow(void **state)
{
	struct tf *f = *state;
	uint32_t iss1;

	fill_big();
	tf_open(f, false, -1);
	iss1 = stream_start(f);
	struct dl_tcb *c = tf_tcb(f, f->id);
	for (int k = 0; k < 20; k++) {
		assert_int_equal(send_bytes(f, big + 1000 * k, 1000), 0);
		assert_int_equal(drain_data(f, big, iss1), 1000);
		f->p.ack = next_seq;
		tf_seg(f, DL_TCP_ACK, NULL, 0);
	}
	assert_int_equal(c->cwnd, 14600);
}

static void test_established_window_scale_applied(void **state)
{
	struct tf *f = *state;
	uint32_t iss1;

	fill_big();
	tf_open(f, false, 2);
	iss1 = stream_start(f);
	f->p.wnd = 1000; /* x 4 = 4000 bytes */
	tf_seg(f, DL_TCP_ACK, NULL, 0);
	assert_int_equal(tf_tcb(f, f->id)->snd_wnd, 4000);
	assert_int_equal(send_bytes(f, big, 10000), 0);
	/* two full segments fit; the 1080-byte rest waits (sender SWS) */
	assert_int_equal(drain_data(f, big, iss1), 2920);
}

static void test_established_send_errors(void **state)
{
	struct tf *f = *state;
	uint32_t id = tf_open(f, false, -1);
	struct dl_tx_frag fr = {big, 10, DL_REGION_NONE};

	assert_int_equal(dl_stack_send(f->s, 2, id, &fr, 1), -EPERM);
	assert_int_equal(dl_stack_send(f->s, APP, id ^ 0x10000, &fr, 1), -ENOENT);
	assert_int_equal(dl_stack_send(f->s, APP, id, &fr, 0), -EINVAL);
	fr.len = 0;
	assert_int_equal(dl_stack_send(f->s, APP, id, &fr, 1), -EINVAL);
	assert_int_equal(tf_cnt(f, TCP_CMD_EPERM), 1);
	assert_int_equal(tf_cnt(f, TCP_CMD_ENOENT), 1);
	assert_int_equal(dl_stack_shutdown(f->s, APP, id, SHUT_WR), 0);
	fr.len = 10;
	assert_int_equal(dl_stack_send(f->s, APP, id, &fr, 1), -EPIPE);
}

static void edit_sq4(struct dl_stack_config *c)
{
	c->tcp.snd_queue_frags = 4;
}

static void test_established_send_queue_full_enobufs(void **state)
{
	struct tf *f = tf_new(edit_sq4);
	struct dl_tx_frag fr[5];
	(void)state;

	tf_open(f, false, -1);
	for (int i = 0; i < 5; i++)
		fr[i] = (struct dl_tx_frag){big + 100 * i, 10, DL_REGION_NONE}; /* not contiguous */
	assert_int_equal(dl_stack_send(f->s, APP, f->id, fr, 5), -ENOBUFS);
	assert_int_equal(tf_tcb(f, f->id)->sq_bytes, 0); /* nothing queued */
	assert_int_equal(dl_stack_send(f->s, APP, f->id, fr, 4), 0);
	assert_int_equal(dl_stack_send(f->s, APP, f->id, fr + 4, 1), -ENOBUFS);
	/* contiguous with the last fragment: merged, so it still fits */
	struct dl_tx_frag more = {big + 310, 5, DL_REGION_NONE};
	assert_int_equal(dl_stack_send(f->s, APP, f->id, &more, 1), 0);
	assert_int_equal(tf_tcb(f, f->id)->sq_nfrags, 4);
	assert_int_equal(tf_tcb(f, f->id)->sq_bytes, 45);
	assert_int_equal(tf_cnt(f, TCP_SEND_ENOBUFS), 2);
	tf_free(f);
}

/* ---- ACK processing, RTO, NewReno -------------------------------------------- */

static void test_established_data_acked_reports_bytes(void **state)
{
	struct tf *f = *state;
	uint32_t id = tf_open(f, false, -1), iss1 = stream_start(f);

	fill_big();
	assert_int_equal(send_bytes(f, big, 3000), 0);
	assert_int_equal(drain_data(f, big, iss1), 3000);
	f->p.ack = iss1 + 1000;
	tf_seg(f, DL_TCP_ACK, NULL, 0);
	assert_int_equal(tf_last(f, EV_DATA_ACKED)->val, 1000);
	f->p.ack = iss1 + 3000;
	tf_seg(f, DL_TCP_ACK, NULL, 0);
	assert_int_equal(tf_last(f, EV_DATA_ACKED)->val, 2000);
	assert_int_equal(tf_count(f, EV_DATA_ACKED, id), 2);
	assert_int_equal(tf_tcb(f, id)->t_rtx, 0); /* RTO stopped */
}

static void edit_rto_min_1ms(struct dl_stack_config *c)
{
	c->tcp.rto_min_us = 1000;
}

/* RFC 6298 2.3: SRTT, RTTVAR and RTO follow the samples. */
static void test_established_rtt_sample_updates_rto(void **state)
{
	struct tf *f = tf_new(edit_rto_min_1ms);
	(void)state;

	fill_big();
	tf_open(f, false, -1); /* handshake sample: 0 us, counted as 1 */
	struct dl_tcb *c = tf_tcb(f, f->id);
	assert_int_equal(c->srtt8, 8);
	assert_int_equal(c->rttvar4, 2);
	assert_int_equal(c->rto, 1000); /* 1 + max(G, 4 * 0.5) below the minimum */
	assert_int_equal(send_bytes(f, big, 100), 0);
	drain_data(f, big, stream_start(f));
	f->p.ack = next_seq;
	f->now += 50000;
	tf_seg(f, DL_TCP_ACK, NULL, 0);
	/* R = 50000: SRTT = 1 + (50000 - 1) / 8, RTTVAR = 0.5 * 3/4 + |1 - 50000| / 4 */
	assert_int_equal(c->srtt8, 8 + 49999);
	assert_int_equal(c->rttvar4, 2 - 0 + 49999);
	assert_int_equal(c->rto, (8 + 49999) / 8 + (2 + 49999));
	assert_int_equal(tf_cnt(f, TCP_RTT_SAMPLES), 2);
	tf_free(f);
}

static void test_established_rto_retransmits_with_backoff_and_karn(void **state)
{
	struct tf *f = *state;
	uint32_t iss1;
	uint64_t t0;

	fill_big();
	tf_open(f, false, -1);
	iss1 = stream_start(f);
	struct dl_tcb *c = tf_tcb(f, f->id);
	assert_int_equal(c->rto, 200000); /* rto_min */
	assert_int_equal(send_bytes(f, big, 500), 0);
	t0 = f->now;
	assert_int_equal(drain_data(f, big, iss1), 500);
	for (unsigned k = 0; k < 3; k++) {
		uint64_t t = tf_next(f);
		uint64_t want = t0 + (200000ull << k);
		assert_true(t >= want && t < want + (1u << DL_TCP_TICK_SHIFT));
		struct tseg r = tf_expect(f, DL_TCP_ACK | DL_TCP_PSH, iss1, 1001);
		assert_int_equal(r.len, 500);
		assert_memory_equal(r.payload, big, 500);
		t0 = t;
	}
	assert_int_equal(tf_cnt(f, TCP_RTO), 3);
	assert_int_equal(c->cwnd, c->mss); /* loss window */
	uint64_t samples = tf_cnt(f, TCP_RTT_SAMPLES);
	f->p.ack = iss1 + 500;
	tf_seg(f, DL_TCP_ACK, NULL, 0);
	assert_int_equal(tf_cnt(f, TCP_RTT_SAMPLES), samples); /* Karn: no sample */
	assert_int_equal(c->backoff, 0);
	assert_int_equal(tf_last(f, EV_DATA_ACKED)->val, 500);
}

static void edit_rto_max(struct dl_stack_config *c)
{
	c->tcp.rto_max_us = 500000;
}

/* RFC 6298 5.5: the backoff doubles up to the configured maximum. */
static void test_established_rto_backoff_capped_at_max(void **state)
{
	struct tf *f = tf_new(edit_rto_max);
	uint64_t t0, t;
	(void)state;

	fill_big();
	tf_open(f, false, -1);
	uint32_t iss1 = stream_start(f);
	assert_int_equal(send_bytes(f, big, 10), 0);
	drain_data(f, big, iss1);
	t0 = f->now;
	uint64_t want[] = {200000, 400000, 500000, 500000, 500000};
	for (unsigned k = 0; k < 5; k++) {
		t = tf_next(f);
		assert_true(t >= t0 + want[k] && t < t0 + want[k] + (1u << DL_TCP_TICK_SHIFT));
		tf_expect(f, DL_TCP_ACK | DL_TCP_PSH, iss1, 1001);
		t0 = t;
	}
	tf_free(f);
}

/* Receiver SWS avoidance: returning a few bytes does not send an update. */
static void test_established_small_credit_no_window_update(void **state)
{
	struct tf *f = *state;
	uint32_t id = tf_open(f, false, -1);

	f->auto_return = false;
	tf_seg(f, DL_TCP_ACK, "abcdefgh", 8);
	assert_int_equal(dl_stack_recv_done(f->s, APP, id, 8), 0);
	tf_run(f);
	tf_none(f); /* only the delayed ACK, later */
	assert_int_equal(tf_cnt(f, TCP_TX_WINUPD), 0);
}

static void test_established_urgent_data_delivered_inline(void **state)
{
	struct tf *f = *state;
	tf_open(f, false, -1);

	tf_seg(f, DL_TCP_ACK | DL_TCP_URG, "urgent", 6);
	assert_int_equal(f->rx_len, 6);
	assert_int_equal(tf_cnt(f, TCP_IGN_URG), 1);
}

static void edit_retries2(struct dl_stack_config *c)
{
	c->tcp.max_retries = 2;
}

static void test_established_rto_exhausted_resets(void **state)
{
	struct tf *f = tf_new(edit_retries2);
	uint32_t iss1, id;
	(void)state;

	fill_big();
	id = tf_open(f, false, -1);
	iss1 = stream_start(f);
	assert_int_equal(send_bytes(f, big, 100), 0);
	drain_data(f, big, iss1);
	tf_next(f);
	tf_expect(f, DL_TCP_ACK | DL_TCP_PSH, iss1, 1001);
	tf_next(f);
	tf_expect(f, DL_TCP_ACK | DL_TCP_PSH, iss1, 1001);
	tf_next(f);
	tf_expect(f, DL_TCP_RST | DL_TCP_ACK, iss1 + 100, 1001);
	const struct tf_ev *e = tf_last(f, EV_REMOTE_CLOSED);
	assert_non_null(e);
	assert_int_equal(e->val, DL_CLOSE_TIMEOUT);
	assert_int_equal(tf_count(f, EV_CLEANUP, id), 1);
	assert_int_equal(tf_cnt(f, TCP_CONN_TIMEOUT), 1);
	tf_free(f);
}

/* RFC 5681 3.2 + RFC 6582: three duplicate ACKs, fast retransmit, fast
 * recovery with window inflation, a partial ACK, then the full ACK. */
static void test_established_fast_retransmit_and_newreno_recovery(void **state)
{
	struct tf *f = tf_new(edit_newreno);
	uint32_t iss1;
	struct tseg r;
	(void)state;

	fill_big();
	tf_open(f, false, -1);
	iss1 = stream_start(f);
	struct dl_tcb *c = tf_tcb(f, f->id);
	assert_int_equal(send_bytes(f, big, 100000), 0);
	assert_int_equal(drain_data(f, big, iss1), 14600); /* 10 segments */
	/* segment 2 and 5 were lost; the peer ACKs segment 1, then dups */
	f->p.ack = iss1 + 1460;
	tf_seg(f, DL_TCP_ACK, NULL, 0);
	assert_int_equal(drain_data(f, big, iss1), 2920); /* cwnd + 1 MSS: 2 more */
	uint32_t snd_max = iss1 + 14600 + 2920;
	for (int k = 0; k < 2; k++) {
		/* RFC 3042 limited transmit: one new segment per early dup */
		tf_seg(f, DL_TCP_ACK, NULL, 0);
		r = tf_expect(f, DL_TCP_ACK, snd_max, 1001);
		assert_int_equal(r.len, 1460);
		snd_max += 1460;
		assert_int_equal(c->cwnd, 14600 + 1460); /* unchanged */
	}
	next_seq = snd_max;
	tf_seg(f, DL_TCP_ACK, NULL, 0); /* third duplicate */
	r = tf_expect(f, DL_TCP_ACK, iss1 + 1460, 1001);
	assert_int_equal(r.len, 1460);
	assert_memory_equal(r.payload, big + 1460, 1460);
	assert_int_equal(tf_cnt(f, TCP_FAST_REXMIT), 1);
	assert_true(c->flags & TF_RECOVERY);
	uint32_t flight = snd_max - (iss1 + 1460);
	assert_int_equal(c->ssthresh, flight / 2);
	assert_int_equal(c->cwnd, flight / 2 + 3 * 1460);
	assert_int_equal(c->recover, snd_max);
	/* partial ACK: up to the second hole: retransmit it at once */
	f->p.ack = iss1 + 4 * 1460;
	tf_seg(f, DL_TCP_ACK, NULL, 0);
	r = tf_expect(f, DL_TCP_ACK, iss1 + 4 * 1460, 1001);
	assert_int_equal(r.len, 1460);
	assert_int_equal(tf_cnt(f, TCP_PARTIAL_ACK), 1);
	while (tf_recv(f, &r))
		;
	/* full ACK: leave recovery, cwnd = min(ssthresh, max(flight, MSS) + MSS) */
	f->p.ack = c->snd_max;
	tf_seg(f, DL_TCP_ACK, NULL, 0);
	assert_false(c->flags & TF_RECOVERY);
	assert_int_equal(c->cwnd, min_u32(flight / 2, 1460 + 1460));
	tf_free(f);
}

/* Regression: a fast retransmission resends data that was sent, never
 * more: with 100 bytes in flight (the peer's window) and 3,000 queued, it
 * once sent a full MSS, new data beyond the peer's window that snd_max did
 * not cover, so the peer's ACK of it was dropped as acknowledging unsent
 * data (seen with 1,000 echo connections against Linux with --impair). */
static void test_established_fast_retransmit_resends_only_sent_data(void **state)
{
	struct tf *f = *state;
	uint32_t iss1;
	struct tseg r;

	fill_big();
	tf_open(f, false, -1);
	iss1 = stream_start(f);
	struct dl_tcb *c = tf_tcb(f, f->id);
	f->p.wnd = 100;
	tf_seg(f, DL_TCP_ACK, NULL, 0); /* window update: 100 bytes */
	assert_int_equal(send_bytes(f, big, 3000), 0);
	assert_int_equal(drain_data(f, big, iss1), 100);
	for (int k = 0; k < 3; k++)
		tf_seg(f, DL_TCP_ACK, NULL, 0);
	assert_int_equal(tf_cnt(f, TCP_FAST_REXMIT), 1);
	r = tf_expect(f, DL_TCP_ACK, iss1, 1001);
	assert_int_equal(r.len, 100);
	tf_none(f);
	assert_true(seq_le(c->snd_nxt, c->snd_max));
	assert_int_equal(c->snd_max, iss1 + 100);
	/* The peer takes the 100 bytes and opens its window: the rest flows. */
	f->p.ack = iss1 + 100;
	f->p.wnd = 65535;
	tf_seg(f, DL_TCP_ACK, NULL, 0);
	assert_int_equal(tf_cnt(f, TCP_DROP_ACK_UNSENT), 0);
	assert_int_equal(tf_last(f, EV_DATA_ACKED)->val, 100);
	next_seq = iss1 + 100;
	assert_int_equal(drain_data(f, big, iss1), 2900);
}

/* ---- zero window, persist -------------------------------------------------------- */

static void test_established_zero_window_persist_probes(void **state)
{
	struct tf *f = *state;
	uint32_t iss1;
	uint64_t t0;

	fill_big();
	tf_open(f, false, -1);
	iss1 = stream_start(f);
	struct dl_tcb *c = tf_tcb(f, f->id);
	f->p.wnd = 0;
	tf_seg(f, DL_TCP_ACK, NULL, 0);
	assert_int_equal(send_bytes(f, big, 5000), 0);
	tf_none(f); /* nothing fits */
	assert_true(c->flags & TF_PERSIST);
	t0 = f->now;
	uint64_t t = tf_next(f);
	assert_true(t >= t0 + 200000 && t < t0 + 200000 + (1u << DL_TCP_TICK_SHIFT));
	struct tseg r = tf_expect(f, DL_TCP_ACK, iss1, 1001); /* one byte past the window */
	assert_int_equal(r.len, 1);
	assert_int_equal(r.payload[0], big[0]);
	tf_seg(f, DL_TCP_ACK, NULL, 0); /* still closed: the probe byte was not taken */
	t0 = t;
	t = tf_next(f);
	assert_true(t >= t0 + 400000 && t < t0 + 400000 + (1u << DL_TCP_TICK_SHIFT));
	r = tf_expect(f, DL_TCP_ACK, iss1, 1001);
	assert_int_equal(r.len, 1);
	assert_int_equal(tf_cnt(f, TCP_TX_PROBE), 2);
	assert_int_equal(tf_cnt(f, TCP_RTO), 0);
	/* the window opens: data flows, persist ends */
	f->p.wnd = 65535;
	tf_seg(f, DL_TCP_ACK, NULL, 0);
	assert_false(c->flags & TF_PERSIST);
	assert_int_equal(drain_data(f, big, iss1), 5000);
}

/* The probe carried the last queued byte (nothing else unsent): the next
 * persist timeout still probes, with the same byte, until the peer takes it
 * (found by fuzz_tcp_session: the byte stayed in flight with no timer). */
static void test_established_zero_window_probe_of_the_last_byte(void **state)
{
	struct tf *f = *state;
	uint32_t iss1;

	fill_big();
	tf_open(f, false, -1);
	iss1 = stream_start(f);
	struct dl_tcb *c = tf_tcb(f, f->id);
	f->p.wnd = 0;
	tf_seg(f, DL_TCP_ACK, NULL, 0);
	assert_int_equal(send_bytes(f, big, 1), 0);
	tf_none(f);
	for (int k = 0; k < 3; k++) { /* unanswered: probe again and again */
		tf_next(f);
		struct tseg r = tf_expect(f, DL_TCP_ACK, iss1, 1001);
		assert_int_equal(r.len, 1);
		assert_true(c->flags & TF_PERSIST);
		assert_true(c->t_rtx != 0);
	}
	assert_int_equal(tf_cnt(f, TCP_TX_PROBE), 3);
	f->p.ack = iss1 + 1; /* taken at last, window still closed */
	tf_seg(f, DL_TCP_ACK, NULL, 0);
	assert_int_equal(c->snd_una, c->snd_max);
}

/* A peer whose window closes while data is in flight: go back, persist;
 * never an RTO abort while the peer answers. */
static void test_established_window_closes_with_data_in_flight(void **state)
{
	struct tf *f = *state;
	uint32_t iss1;

	fill_big();
	tf_open(f, false, -1);
	iss1 = stream_start(f);
	struct dl_tcb *c = tf_tcb(f, f->id);
	assert_int_equal(send_bytes(f, big, 6000), 0);
	assert_int_equal(drain_data(f, big, iss1), 6000);
	f->p.ack = iss1 + 2000;
	f->p.wnd = 0;
	tf_seg(f, DL_TCP_ACK, NULL, 0);
	assert_true(c->flags & TF_PERSIST);
	assert_int_equal(c->snd_nxt, iss1 + 2000);
	for (int k = 0; k < 20; k++) { /* more than max_retries probes, all answered */
		tf_next(f);
		struct tseg r = tf_expect(f, DL_TCP_ACK, iss1 + 2000, 1001);
		assert_int_equal(r.len, 1);
		tf_seg(f, DL_TCP_ACK, NULL, 0);
	}
	assert_int_equal(c->state, DL_TCP_ESTABLISHED);
	f->p.wnd = 65535;
	next_seq = iss1 + 2000; /* go-back: everything past the ACK again */
	tf_seg(f, DL_TCP_ACK, NULL, 0);
	assert_int_equal(drain_data(f, big, iss1), 4000);
}

/* ---- keepalive ---------------------------------------------------------------------- */

static void edit_keepalive(struct dl_stack_config *c)
{
	c->tcp.keepalive_us = 10000000;
	c->tcp.keepalive_intvl_us = 1000000;
	c->tcp.keepalive_probes = 3;
}

static void test_established_keepalive_probes_then_timeout(void **state)
{
	struct tf *f = tf_new(edit_keepalive);
	uint64_t t0;
	(void)state;

	tf_open(f, false, -1);
	struct dl_tcb *c = tf_tcb(f, f->id);
	t0 = f->now;
	uint64_t t = tf_next(f);
	assert_true(t >= t0 + 10000000 && t < t0 + 10000000 + (1u << DL_TCP_TICK_SHIFT));
	tf_expect(f, DL_TCP_ACK, c->snd_una - 1, 1001);
	tf_seg(f, DL_TCP_ACK, NULL, 0); /* the peer answers: idle again */
	assert_int_equal(c->ka_probes, 0);
	t0 = f->now;
	t = tf_next(f);
	assert_true(t >= t0 + 10000000);
	for (int k = 0; k < 3; k++) {
		tf_expect(f, DL_TCP_ACK, c->snd_una - 1, 1001);
		if (k < 2)
			tf_next(f);
	}
	tf_next(f);
	tf_expect(f, DL_TCP_RST | DL_TCP_ACK, c->snd_max, 1001);
	assert_int_equal(tf_last(f, EV_REMOTE_CLOSED)->val, DL_CLOSE_TIMEOUT);
	assert_int_equal(tf_cnt(f, TCP_CONN_KA_TIMEOUT), 1);
	assert_int_equal(tf_cnt(f, TCP_TX_KEEPALIVE), 4);
	tf_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_established_data_zero_copy_held_until_recv_done),
	    T(test_established_recv_done_more_than_delivered_einval),
	    T(test_established_delayed_ack_fires_after_delack),
	    T(test_established_ack_every_second_full_segment),
	    T(test_established_ooo_dupack_then_reassembly),
	    T(test_established_ooo_burst_one_dupack_each),
	    T(test_established_ooo_overlap_trimmed),
	    cmocka_unit_test(test_established_ooo_limit_drops_and_counts),
	    T(test_established_ooo_full_window_held),
	    cmocka_unit_test(test_established_huge_window_bounds_fit_counters),
	    cmocka_unit_test(test_established_rx_buffer_cap_shrinks_window),
	    cmocka_unit_test(test_established_window_follows_application_credit),
	    cmocka_unit_test(test_established_app_over_credit_dropped_until_returned),
	    T(test_established_shutdown_rd_discards_input),
	    T(test_established_duplicate_segment_acked),
	    T(test_established_out_of_window_segment_acked),
	    T(test_established_ack_at_right_edge_accepted),
	    T(test_established_rst_exact_resets),
	    T(test_established_rst_in_window_challenge_ack),
	    T(test_established_syn_challenge_ack),
	    cmocka_unit_test(test_established_challenge_acks_rate_limited),
	    T(test_established_old_ack_challenged),
	    T(test_established_no_ack_flag_dropped),
	    T(test_established_timestamps_echoed),
	    T(test_established_paws_drops_old_timestamp),
	    T(test_established_paws_lets_disordered_dup_ack_through),
	    T(test_established_missing_timestamp_dropped),
	    T(test_established_missing_timestamp_dropped_high_ts_recent),
	    T(test_established_send_mss_segments),
	    T(test_established_send_scatter_gather_spans_segments),
	    cmocka_unit_test(test_established_send_tso_large_packet),
	    cmocka_unit_test(test_established_tso_packets_bounded_by_cwnd),
	    cmocka_unit_test(test_established_initial_window_ten_segments),
	    T(test_established_cubic_slow_start_l8),
	    T(test_established_app_limited_cwnd_does_not_grow),
	    T(test_established_window_scale_applied),
	    T(test_established_send_errors),
	    cmocka_unit_test(test_established_send_queue_full_enobufs),
	    T(test_established_data_acked_reports_bytes),
	    cmocka_unit_test(test_established_rtt_sample_updates_rto),
	    T(test_established_rto_retransmits_with_backoff_and_karn),
	    cmocka_unit_test(test_established_rto_exhausted_resets),
	    cmocka_unit_test(test_established_rto_backoff_capped_at_max),
	    T(test_established_small_credit_no_window_update),
	    T(test_established_urgent_data_delivered_inline),
	    cmocka_unit_test(test_established_fast_retransmit_and_newreno_recovery),
	    T(test_established_fast_retransmit_resends_only_sent_data),
	    T(test_established_zero_window_persist_probes),
	    T(test_established_zero_window_probe_of_the_last_byte),
	    T(test_established_window_closes_with_data_in_flight),
	    cmocka_unit_test(test_established_keepalive_probes_then_timeout),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
