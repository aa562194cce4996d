/*
 * test_tcp_close.c - crafted-segment tests of connection tear-down
 * (RFC 9293 3.6: FIN_WAIT_1/2, CLOSING, TIME_WAIT, CLOSE_WAIT, LAST_ACK,
 * simultaneous close, half-close, 2*MSL, RFC 6191 TIME_WAIT reuse) and of
 * the command/upcall contract of dl_stack.h (re-entrant commands,
 * ownership, stale ids, abort_app, destroy).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dl_stack_info.h"
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

static uint32_t conns(struct tf *f)
{
	struct dl_stack_tcp_mem m;
	dl_stack_tcp_mem(f->s, &m);
	return m.conns;
}

/* Our next sequence number (the stack's snd_nxt) of connection f->id. */
static uint32_t our_nxt(struct tf *f)
{
	return tf_tcb(f, f->id)->snd_nxt;
}

/* ---- passive close -------------------------------------------------------- */

static void test_established_fin_to_close_wait(void **state)
{
	struct tf *f = *state;
	uint32_t id = tf_open(f, false, -1);
	uint32_t seq = our_nxt(f);

	tf_seg(f, DL_TCP_ACK | DL_TCP_FIN, "bye", 3);
	tf_expect(f, DL_TCP_ACK, seq, 1001 + 3 + 1); /* at once */
	assert_int_equal(tf_tcb(f, id)->state, DL_TCP_CLOSE_WAIT);
	assert_int_equal(tf_last(f, EV_REMOTE_CLOSED)->val, DL_CLOSE_FIN);
	assert_true(tf_last(f, EV_REMOTE_CLOSED) > tf_last(f, EV_NEW_DATA));
	/* half-close: we may still send */
	struct dl_tx_frag fr = {(const uint8_t *)"still", 5, DL_REGION_NONE};
	assert_int_equal(dl_stack_send(f->s, APP, id, &fr, 1), 0);
	tf_run(f);
	struct tseg r = tf_expect(f, DL_TCP_ACK | DL_TCP_PSH, seq, 1005);
	assert_memory_equal(r.payload, "still", 5);
}

/* A second FIN, past the first (nothing follows a FIN): acknowledged where
 * the stream ended, no sequence number more, no second remote_closed
 * (found by fuzz_frame: rcv_nxt moved one further per extra FIN). */
static void test_close_wait_second_fin_ignored(void **state)
{
	struct tf *f = *state;
	uint32_t id = tf_open(f, false, -1);
	uint32_t seq = our_nxt(f);

	tf_seg(f, DL_TCP_ACK | DL_TCP_FIN, NULL, 0);
	tf_expect(f, DL_TCP_ACK, seq, 1002);
	tf_seg(f, DL_TCP_ACK | DL_TCP_FIN, NULL, 0); /* seq 1002: after the first FIN */
	tf_expect(f, DL_TCP_ACK, seq, 1002);
	assert_int_equal(tf_tcb(f, id)->rcv_nxt, 1002);
	assert_int_equal(tf_count(f, EV_REMOTE_CLOSED, id), 1);
	assert_int_equal(tf_cnt(f, TCP_DROP_DATA_AFTER_FIN), 1);
	assert_int_equal(tf_tcb(f, id)->state, DL_TCP_CLOSE_WAIT);
}

static void test_close_wait_close_sends_fin_then_last_ack_closes(void **state)
{
	struct tf *f = *state;
	uint32_t id = tf_open(f, false, -1);
	uint32_t seq = our_nxt(f);

	tf_seg(f, DL_TCP_ACK | DL_TCP_FIN, NULL, 0);
	tf_expect(f, DL_TCP_ACK, seq, 1002);
	assert_int_equal(dl_stack_close(f->s, APP, id), 0);
	tf_run(f);
	tf_expect(f, DL_TCP_ACK | DL_TCP_FIN, seq, 1002);
	assert_int_equal(tf_tcb(f, id)->state, DL_TCP_LAST_ACK);
	assert_int_equal(tf_count(f, EV_CLEANUP, id), 0);
	f->p.ack = seq + 1;
	tf_seg(f, DL_TCP_ACK, NULL, 0);
	tf_none(f);
	assert_int_equal(tf_count(f, EV_CLEANUP, id), 1);
	assert_int_equal(tf_last(f, EV_CLEANUP)->app, APP);
	assert_int_equal(conns(f), 0);
	assert_int_equal(tf_count(f, EV_DATA_ACKED, id), 0); /* a FIN is no byte */
	assert_int_equal(dl_stack_close(f->s, APP, id), -ENOENT);
}

/* ---- active close ----------------------------------------------------------- */

static void test_established_close_sends_fin(void **state)
{
	struct tf *f = *state;
	uint32_t id = tf_open(f, false, -1);
	uint32_t seq = our_nxt(f);

	assert_int_equal(dl_stack_close(f->s, APP, id), 0);
	assert_int_equal(tf_tcb(f, id)->state, DL_TCP_FIN_WAIT_1);
	tf_run(f);
	tf_expect(f, DL_TCP_ACK | DL_TCP_FIN, seq, 1001);
	tf_none(f);
	/* the id is given up: commands refuse it, cleanup will still come */
	assert_int_equal(dl_stack_recv_done(f->s, APP, id, 0), -ENOENT);
	assert_int_equal(tf_count(f, EV_CLEANUP, id), 0);
}

static void test_established_close_sends_queued_data_then_fin(void **state)
{
	struct tf *f = *state;
	static uint8_t d[3000];
	uint32_t id = tf_open(f, false, -1);
	uint32_t seq = our_nxt(f);
	struct dl_tx_frag fr = {d, sizeof(d), DL_REGION_NONE};

	memset(d, 'q', sizeof(d));
	assert_int_equal(dl_stack_send(f->s, APP, id, &fr, 1), 0);
	assert_int_equal(dl_stack_close(f->s, APP, id), 0);
	tf_run(f);
	struct tseg r = tf_expect(f, DL_TCP_ACK, seq, 1001);
	assert_int_equal(r.len, 1460);
	tf_expect(f, DL_TCP_ACK, seq + 1460, 1001);
	r = tf_expect(f, DL_TCP_ACK | DL_TCP_PSH | DL_TCP_FIN, seq + 2920, 1001);
	assert_int_equal(r.len, 80);
	tf_none(f);
	f->p.ack = seq + 3001;
	tf_seg(f, DL_TCP_ACK, NULL, 0);
	assert_int_equal(tf_last(f, EV_DATA_ACKED)->val, 3000); /* the FIN is not a byte */
	assert_int_equal(tf_tcb(f, id)->state, DL_TCP_FIN_WAIT_2);
}

static void test_fin_wait_1_fin_retransmitted_on_rto(void **state)
{
	struct tf *f = *state;
	uint32_t id = tf_open(f, false, -1);
	uint32_t seq = our_nxt(f);

	assert_int_equal(dl_stack_close(f->s, APP, id), 0);
	tf_run(f);
	tf_expect(f, DL_TCP_ACK | DL_TCP_FIN, seq, 1001);
	tf_next(f);
	tf_expect(f, DL_TCP_ACK | DL_TCP_FIN, seq, 1001);
	assert_int_equal(tf_cnt(f, TCP_RTO), 1);
}

static void edit_fw2(struct dl_stack_config *c)
{
	c->tcp.fin_wait2_us = 5000000;
}

static void test_fin_wait_1_ack_to_fin_wait_2_then_timeout(void **state)
{
	struct tf *f = tf_new(edit_fw2);
	(void)state;
	uint32_t id = tf_open(f, false, -1);
	uint32_t seq = our_nxt(f);

	assert_int_equal(dl_stack_close(f->s, APP, id), 0);
	tf_run(f);
	tf_expect(f, DL_TCP_ACK | DL_TCP_FIN, seq, 1001);
	f->p.ack = seq + 1;
	tf_seg(f, DL_TCP_ACK, NULL, 0);
	assert_int_equal(tf_tcb(f, id)->state, DL_TCP_FIN_WAIT_2);
	uint64_t t0 = f->now;
	uint64_t t = tf_next(f);
	/* the peer never closes: an orphan FIN_WAIT_2 is not kept forever */
	assert_true(t >= t0 + 5000000 && t < t0 + 5000000 + (1u << DL_TCP_TICK_SHIFT));
	assert_int_equal(conns(f), 0);
	assert_int_equal(tf_cnt(f, TCP_FW2_TIMEOUT), 1);
	assert_int_equal(tf_count(f, EV_CLEANUP, id), 1);
	tf_free(f);
}

static void edit_msl(struct dl_stack_config *c)
{
	c->tcp.msl_us = 3000000;
}

static void test_fin_wait_2_fin_to_time_wait_then_2msl(void **state)
{
	struct tf *f = tf_new(edit_msl);
	(void)state;
	uint32_t id = tf_open(f, false, -1);
	uint32_t seq = our_nxt(f);

	assert_int_equal(dl_stack_close(f->s, APP, id), 0);
	tf_run(f);
	tf_expect(f, DL_TCP_ACK | DL_TCP_FIN, seq, 1001);
	f->p.ack = seq + 1;
	tf_seg(f, DL_TCP_ACK, NULL, 0);
	tf_seg(f, DL_TCP_ACK | DL_TCP_FIN, NULL, 0);
	tf_expect(f, DL_TCP_ACK, seq + 1, 1002);
	/* closed by the app: the id dies now, the TCB goes, a compact entry
	 * keeps the 4-tuple 2*MSL */
	assert_int_equal(tf_count(f, EV_CLEANUP, id), 1);
	assert_int_equal(tf_count(f, EV_REMOTE_CLOSED, id), 0);
	assert_int_equal(conns(f), 0);
	assert_non_null(tf_tw(f));
	assert_int_equal(tf_cnt(f, TCP_TW_ENTERED), 1);
	/* listed for telemetry, with its 4-tuple and 2*MSL (6 s) to go */
	struct dl_stack_tw_info tw;
	int64_t cur = dl_stack_tw_next(f->s, DL_STACK_TW_FIRST, &tw);
	assert_true(cur > 0);
	assert_int_equal(tw.local_ip, OUR_IP);
	assert_int_equal(tw.remote_ip, PEER_IP);
	assert_int_equal(tw.local_port, OUR_PORT);
	assert_int_equal(tw.remote_port, f->p.port);
	assert_true(tw.expires_ms > 5900 && tw.expires_ms <= 6002);
	assert_false(tw.timestamps); /* tf_open(f, false, ...): no timestamps */
	assert_int_equal(dl_stack_tw_next(f->s, (uint64_t)cur, &tw), -1);
	assert_int_equal(dl_stack_tw_count(f->s), 1);
	uint64_t t0 = f->now;
	uint64_t t = tf_next(f);
	assert_true(t >= t0 + 6000000 && t < t0 + 6000000 + (2u << DL_TCP_TS_SHIFT));
	assert_null(tf_tw(f));
	assert_int_equal(dl_stack_tw_next(f->s, DL_STACK_TW_FIRST, &tw), -1);
	assert_int_equal(dl_stack_tw_count(f->s), 0);
	assert_int_equal(tf_count(f, EV_CLEANUP, id), 1); /* only one cleanup */
	assert_int_equal(tf_cnt(f, TCP_TW_EXPIRED), 1);
	assert_int_equal(dl_stack_next_deadline(f->s), UINT64_MAX);
	tf_free(f);
}

static void test_fin_wait_1_fin_ack_together_to_time_wait(void **state)
{
	struct tf *f = *state;
	uint32_t id = tf_open(f, false, -1);
	uint32_t seq = our_nxt(f);

	assert_int_equal(dl_stack_close(f->s, APP, id), 0);
	tf_run(f);
	tf_expect(f, DL_TCP_ACK | DL_TCP_FIN, seq, 1001);
	f->p.ack = seq + 1;
	tf_seg(f, DL_TCP_ACK | DL_TCP_FIN, NULL, 0);
	tf_expect(f, DL_TCP_ACK, seq + 1, 1002);
	assert_non_null(tf_tw(f));
	assert_int_equal(tf_count(f, EV_CLEANUP, id), 1);
}

/* Simultaneous close: both FINs cross. */
static void test_fin_wait_1_fin_simultaneous_close_closing(void **state)
{
	struct tf *f = *state;
	uint32_t id = tf_open(f, false, -1);
	uint32_t seq = our_nxt(f);

	assert_int_equal(dl_stack_close(f->s, APP, id), 0);
	tf_run(f);
	tf_expect(f, DL_TCP_ACK | DL_TCP_FIN, seq, 1001);
	tf_seg(f, DL_TCP_ACK | DL_TCP_FIN, NULL, 0); /* ACKs nothing of ours yet */
	tf_expect(f, DL_TCP_ACK, seq + 1, 1002);
	assert_int_equal(tf_tcb(f, id)->state, DL_TCP_CLOSING);
	f->p.ack = seq + 1;
	tf_seg(f, DL_TCP_ACK, NULL, 0);
	assert_non_null(tf_tw(f));
	assert_int_equal(conns(f), 0);
	tf_none(f);
}

static void test_time_wait_fin_retransmission_reacked(void **state)
{
	struct tf *f = tf_new(edit_msl);
	(void)state;
	uint32_t id = tf_open(f, false, -1);
	uint32_t seq = our_nxt(f);

	assert_int_equal(dl_stack_close(f->s, APP, id), 0);
	tf_run(f);
	tf_expect(f, DL_TCP_ACK | DL_TCP_FIN, seq, 1001);
	f->p.ack = seq + 1;
	tf_seg(f, DL_TCP_ACK | DL_TCP_FIN, NULL, 0);
	tf_expect(f, DL_TCP_ACK, seq + 1, 1002);
	f->now += 4000000; /* our ACK was lost: the FIN comes again */
	f->p.nxt--;
	tf_seg(f, DL_TCP_ACK | DL_TCP_FIN, NULL, 0);
	tf_expect(f, DL_TCP_ACK, seq + 1, 1002);
	uint64_t t0 = f->now;
	uint64_t t = tf_next(f);
	while (tf_tw(f) != NULL)
		t = tf_next(f);
	assert_true(t >= t0 + 6000000 - (1u << DL_TCP_TS_SHIFT)); /* 2*MSL counted again */
	assert_int_equal(conns(f), 0);
	tf_free(f);
}

/* RFC 6191: a SYN with a newer timestamp reopens a TIME_WAIT connection. */
static void test_time_wait_syn_reopens(void **state)
{
	struct tf *f = *state;
	uint32_t id = tf_open(f, true, 2);
	uint32_t seq = our_nxt(f);

	assert_int_equal(dl_stack_close(f->s, APP, id), 0);
	tf_run(f);
	tf_expect(f, DL_TCP_ACK | DL_TCP_FIN, seq, 1001);
	f->p.ack = seq + 1;
	tf_seg(f, DL_TCP_ACK | DL_TCP_FIN, NULL, 0);
	tf_expect(f, DL_TCP_ACK, seq + 1, 1002);
	assert_non_null(tf_tw(f));
	struct tseg syn = {.seq = 1,
			   .flags = DL_TCP_SYN,
			   .wnd = 65535,
			   .opts = DL_TCP_OPT_TS | DL_TCP_OPT_MSS,
			   .mss = 1460,
			   .tsval = f->p.tsval + 100};
	tf_send(f, &syn);
	tf_expect(f, DL_TCP_SYN | DL_TCP_ACK, dl_tcp_isn(f->t, PEER_IP, OUR_PORT, PEER_PORT, NULL),
		  2);
	assert_int_equal(tf_cnt(f, TCP_TW_REUSED), 1);
	assert_null(tf_tw(f));
	assert_int_equal(conns(f), 1); /* the entry went, the new TCB is SYN_RCVD */
	assert_int_equal(dl_tcp_lookup(f->t, PEER_IP, OUR_PORT, PEER_PORT, NULL)->state, DL_TCP_SYN_RCVD);
}

static void test_time_wait_old_syn_challenged(void **state)
{
	struct tf *f = *state;
	uint32_t id = tf_open(f, true, 2);
	uint32_t seq = our_nxt(f);

	assert_int_equal(dl_stack_close(f->s, APP, id), 0);
	tf_run(f);
	tf_expect(f, DL_TCP_ACK | DL_TCP_FIN, seq, 1001);
	f->p.ack = seq + 1;
	tf_seg(f, DL_TCP_ACK | DL_TCP_FIN, NULL, 0);
	tf_expect(f, DL_TCP_ACK, seq + 1, 1002);
	struct tseg syn = {.seq = 1,
			   .flags = DL_TCP_SYN,
			   .wnd = 65535,
			   .opts = DL_TCP_OPT_TS,
			   .tsval = f->p.tsval}; /* not newer */
	tf_send(f, &syn);
	tf_expect(f, DL_TCP_ACK, seq + 1, 1002);
	assert_non_null(tf_tw(f));
	assert_int_equal(tf_cnt(f, TCP_DROP_SYN_CHALLENGE), 1);
}

static void test_time_wait_rst_closes(void **state)
{
	struct tf *f = *state;
	uint32_t id = tf_open(f, false, -1);
	uint32_t seq = our_nxt(f);

	assert_int_equal(dl_stack_close(f->s, APP, id), 0);
	tf_run(f);
	tf_expect(f, DL_TCP_ACK | DL_TCP_FIN, seq, 1001);
	f->p.ack = seq + 1;
	tf_seg(f, DL_TCP_ACK | DL_TCP_FIN, NULL, 0);
	tf_expect(f, DL_TCP_ACK, seq + 1, 1002);
	tf_seg(f, DL_TCP_RST, NULL, 0);
	tf_none(f);
	assert_int_equal(conns(f), 0);
	assert_null(tf_tw(f));
	assert_int_equal(tf_cnt(f, TCP_TW_RST_KILLED), 1);
	assert_int_equal(tf_count(f, EV_CLEANUP, id), 1);
}

static void test_fin_wait_1_data_after_close_resets(void **state)
{
	struct tf *f = *state;
	uint32_t id = tf_open(f, false, -1);
	uint32_t seq = our_nxt(f);

	assert_int_equal(dl_stack_close(f->s, APP, id), 0);
	tf_run(f);
	tf_expect(f, DL_TCP_ACK | DL_TCP_FIN, seq, 1001);
	tf_seg(f, DL_TCP_ACK, "late", 4); /* nobody will read it */
	tf_expect(f, DL_TCP_RST | DL_TCP_ACK, seq + 1, 1001);
	assert_int_equal(tf_cnt(f, TCP_DROP_DATA_AFTER_CLOSE), 1);
	assert_int_equal(conns(f), 0);
	assert_int_equal(tf_count(f, EV_CLEANUP, id), 1);
	assert_int_equal(tf_count(f, EV_NEW_DATA, id), 0);
}

/* shutdown(SHUT_WR): our FIN goes, the peer keeps sending, we keep reading. */
static void test_fin_wait_2_half_close_still_receives(void **state)
{
	struct tf *f = *state;
	uint32_t id = tf_open(f, false, -1);
	uint32_t seq = our_nxt(f);

	assert_int_equal(dl_stack_shutdown(f->s, APP, id, SHUT_WR), 0);
	tf_run(f);
	tf_expect(f, DL_TCP_ACK | DL_TCP_FIN, seq, 1001);
	f->p.ack = seq + 1;
	tf_seg(f, DL_TCP_ACK, "more data", 9);
	assert_int_equal(tf_tcb(f, id)->state, DL_TCP_FIN_WAIT_2);
	assert_int_equal(f->rx_len, 9);
	tf_seg(f, DL_TCP_ACK | DL_TCP_FIN, NULL, 0);
	tf_expect(f, DL_TCP_ACK, seq + 1, 1011);
	assert_int_equal(tf_tcb(f, id)->state, DL_TCP_TIME_WAIT);
	assert_int_equal(tf_last(f, EV_REMOTE_CLOSED)->val, DL_CLOSE_FIN);
	/* not closed by the app: the id lives until close, then cleanup */
	assert_int_equal(tf_count(f, EV_CLEANUP, id), 0);
	assert_int_equal(dl_stack_close(f->s, APP, id), 0);
	tf_run(f);
	assert_int_equal(tf_count(f, EV_CLEANUP, id), 1);
}

static void test_established_abort_sends_rst(void **state)
{
	struct tf *f = *state;
	uint32_t id = tf_open(f, false, -1);
	uint32_t seq = our_nxt(f);

	assert_int_equal(dl_stack_abort(f->s, 2, id), -EPERM);
	assert_int_equal(dl_stack_abort(f->s, APP, id), 0);
	tf_run(f);
	tf_expect(f, DL_TCP_RST | DL_TCP_ACK, seq, 1001);
	assert_int_equal(tf_count(f, EV_CLEANUP, id), 1);
	assert_int_equal(tf_count(f, EV_REMOTE_CLOSED, id), 0);
	assert_int_equal(conns(f), 0);
	assert_int_equal(tf_cnt(f, TCP_CONN_ABORT), 1);
}

/* Memory of the application's unacknowledged data is the application's
 * again once cleanup is told: no frame may carry it afterwards. */
static uint8_t app_mem[1000];

/* The peer's ARP entry back to "resolving" (as after three unanswered
 * refreshes, or an eviction); its MAC address into mac. */
static void forget_peer_mac(struct tf *f, uint8_t mac[6])
{
	for (uint32_t i = 0; i <= f->s->arp_mask; i++) {
		struct dl_arp_entry *e = &f->s->arp_tab[i];
		if (e->ip == PEER_IP && e->state == ARP_VALID) {
			memcpy(mac, e->mac, 6);
			e->state = ARP_INCOMPLETE;
			e->retries = 0;
			return;
		}
	}
	fail_msg("no ARP entry for the peer");
}

static void test_established_abort_drops_data_parked_for_arp(void **state)
{
	struct tf *f = *state;
	uint32_t id = tf_open(f, false, -1);
	uint32_t seq = our_nxt(f);
	struct dl_tx_frag fr = {app_mem, sizeof(app_mem), DL_REGION_NONE};
	uint8_t mac[6];

	memset(app_mem, 'a', sizeof(app_mem));
	forget_peer_mac(f, mac);
	assert_int_equal(dl_stack_send(f->s, APP, id, &fr, 1), 0);
	tf_run(f);
	tf_none(f); /* parked until the peer's address resolves */
	assert_int_equal(f->s->arp_pend_n, 1);
	assert_int_equal(dl_stack_abort(f->s, APP, id), 0);
	tf_run(f);
	assert_int_equal(tf_count(f, EV_CLEANUP, id), 1);
	memset(app_mem, 'X', sizeof(app_mem)); /* the application's again */
	dl_stack_arp_learn(f->s, PEER_IP, mac, f->now);
	tf_run(f);
	/* Only the RST leaves (it lies in its header buffer); the peer,
	 * still expecting seq, answers it with a challenge ACK. */
	tf_expect(f, DL_TCP_RST | DL_TCP_ACK, seq + sizeof(app_mem), 1001);
	tf_none(f);
	assert_int_equal(f->s->arp_cnt[ARP_DROP_PENDING_CONN_GONE], 1);
	assert_int_equal(f->s->arp_cnt[ARP_PENDING_SENT], 1);
	assert_int_equal(f->s->arp_pend_n, 0);
}

/* Cleanup of B aborts A, whose data went into the transmit batch earlier
 * in the same flush; A's cleanup reuses the memory. */
struct two_conns {
	uint32_t a, b;
};

static void abort_a_in_cleanup_of_b(struct tf *f, const struct tf_ev *e)
{
	const struct two_conns *tc = f->hook_arg;

	if (e->type != EV_CLEANUP)
		return;
	if (e->id == tc->b)
		assert_int_equal(dl_stack_abort(f->s, APP, tc->a), 0);
	else if (e->id == tc->a)
		memset(app_mem, 'X', sizeof(app_mem));
}

static void test_established_abort_sends_batched_data_before_cleanup(void **state)
{
	struct tf *f = *state;
	struct two_conns tc;
	struct dl_tx_frag fr = {app_mem, sizeof(app_mem), DL_REGION_NONE};
	struct tseg r;
	unsigned data = 0, rst = 0;

	tc.a = tf_open(f, false, -1);
	f->p.port = PEER_PORT + 1;
	tc.b = tf_open(f, false, -1);
	memset(app_mem, 'a', sizeof(app_mem));
	assert_int_equal(dl_stack_send(f->s, APP, tc.a, &fr, 1), 0);
	assert_int_equal(dl_stack_abort(f->s, APP, tc.b), 0);
	f->hook = abort_a_in_cleanup_of_b;
	f->hook_arg = &tc;
	tf_run(f);
	assert_int_equal(tf_count(f, EV_CLEANUP, tc.a), 1);
	assert_int_equal(tf_count(f, EV_CLEANUP, tc.b), 1);
	while (tf_recv(f, &r)) {
		if (r.flags & DL_TCP_RST) {
			rst++;
			continue;
		}
		assert_int_equal(r.dport, PEER_PORT);
		for (uint32_t i = 0; i < r.len; i++)
			assert_int_equal(r.payload[i], 'a');
		data += r.len;
	}
	assert_int_equal(data, sizeof(app_mem));
	assert_int_equal(rst, 2);
}

/* ---- upcalls and commands ------------------------------------------------------ */

static void close_in_new_data(struct tf *f, const struct tf_ev *e)
{
	if (e->type != EV_NEW_DATA)
		return;
	assert_int_equal(dl_stack_close(f->s, e->app, e->id), 0);
	/* the reference stays valid for the rest of the upcall */
	struct dl_tcb *c = tf_tcb(f, e->id);
	assert_non_null(c->rx_head);
	assert_memory_equal(f->rx + f->rx_len - e->val, "request", 7);
}

static void test_api_close_inside_new_data(void **state)
{
	struct tf *f = *state;
	uint32_t id = tf_open(f, false, -1);
	uint32_t seq = our_nxt(f);

	f->auto_return = false;
	f->hook = close_in_new_data;
	tf_seg(f, DL_TCP_ACK, "request", 7);
	f->hook = NULL;
	tf_expect(f, DL_TCP_ACK | DL_TCP_FIN, seq, 1008);
	assert_int_equal(tf_tcb(f, id)->state, DL_TCP_FIN_WAIT_1);
	assert_int_equal(tf_tcb(f, id)->rx_nbufs, 0); /* freed after the upcall */
}

static void abort_in_new_data(struct tf *f, const struct tf_ev *e)
{
	if (e->type != EV_NEW_DATA)
		return;
	assert_int_equal(dl_stack_abort(f->s, e->app, e->id), 0);
	/* no cleanup from inside the upcall */
	assert_int_equal(tf_count(f, EV_CLEANUP, e->id), 0);
}

static void test_api_abort_inside_new_data(void **state)
{
	struct tf *f = *state;
	uint32_t id = tf_open(f, false, -1);
	uint32_t seq = our_nxt(f);

	f->auto_return = false;
	f->hook = abort_in_new_data;
	tf_seg(f, DL_TCP_ACK | DL_TCP_FIN, "x", 1);
	f->hook = NULL;
	tf_expect(f, DL_TCP_RST | DL_TCP_ACK, seq, 1002);
	tf_none(f);
	assert_int_equal(tf_count(f, EV_CLEANUP, id), 1);
	assert_int_equal(tf_count(f, EV_REMOTE_CLOSED, id), 0); /* the app aborted first */
	assert_int_equal(conns(f), 0);
}

static void send_in_new_data(struct tf *f, const struct tf_ev *e)
{
	static const uint8_t resp[] = "response";
	struct dl_tx_frag fr = {resp, 8, DL_REGION_NONE};

	if (e->type != EV_NEW_DATA)
		return;
	assert_int_equal(dl_stack_recv_done(f->s, e->app, e->id, (uint32_t)e->val), 0);
	assert_int_equal(dl_stack_send(f->s, e->app, e->id, &fr, 1), 0);
}

/* Request/response: the response carries the ACK of the request (no
 * separate ACK), which is what makes a 64-byte exchange one segment each
 * way. */
static void test_api_response_piggybacks_ack(void **state)
{
	struct tf *f = *state;
	tf_open(f, false, -1);
	uint32_t seq = our_nxt(f);

	f->auto_return = false;
	f->hook = send_in_new_data;
	tf_seg(f, DL_TCP_ACK | DL_TCP_PSH, "request", 7);
	f->hook = NULL;
	struct tseg r = tf_expect(f, DL_TCP_ACK | DL_TCP_PSH, seq, 1008);
	assert_memory_equal(r.payload, "response", 8);
	tf_none(f);
	assert_int_equal(tf_cnt(f, TCP_TX_PURE_ACK), 0);
}

static void test_api_abort_app_only_its_connections(void **state)
{
	struct tf *f = *state;
	uint32_t a, b, c;

	f->auto_accept = false;
	a = tf_open(f, false, -1);
	f->p.port = PEER_PORT + 1;
	b = tf_open(f, false, -1);
	f->p.port = PEER_PORT + 2;
	c = tf_open(f, false, -1);
	assert_int_equal(dl_stack_accept(f->s, 1, a), 0);
	assert_int_equal(dl_stack_accept(f->s, 2, b), 0);
	assert_int_equal(dl_stack_accept(f->s, 1, c), 0);
	dl_stack_abort_app(f->s, 1);
	tf_run(f);
	assert_int_equal(tf_pending(f), 2); /* two RSTs */
	assert_int_equal(tf_count(f, EV_CLEANUP, a), 1);
	assert_int_equal(tf_count(f, EV_CLEANUP, c), 1);
	assert_int_equal(tf_count(f, EV_CLEANUP, b), 0);
	assert_int_equal(tf_tcb(f, b)->state, DL_TCP_ESTABLISHED);
	assert_int_equal(conns(f), 1);
}

static void test_api_destroy_aborts_everything(void **state)
{
	struct tf *f = *state;
	uint32_t a, b, id;

	a = tf_open(f, false, -1);
	f->p.port = PEER_PORT + 1;
	b = tf_open(f, false, -1);
	assert_int_equal(dl_stack_connect(f->s, APP, 42, PEER_IP, 9, &id), 0);
	dl_stack_destroy(f->s);
	f->s = NULL;
	assert_int_equal(tf_count(f, EV_CLEANUP, a), 1);
	assert_int_equal(tf_count(f, EV_CLEANUP, b), 1);
	const struct tf_ev *e = tf_last(f, EV_CONNECT_FAILED);
	assert_non_null(e);
	assert_int_equal(e->val & 0xffffffffu, ECONNABORTED);
	assert_int_equal(tf_pending(f), 2); /* RST to each established peer */
}

static void test_api_stale_id_never_reaches_reused_slot(void **state)
{
	struct tf *f = *state;
	uint32_t a = tf_open(f, false, -1), b;

	assert_int_equal(dl_stack_abort(f->s, APP, a), 0);
	tf_run(f);
	while (tf_recv(f, &(struct tseg){0}))
		;
	f->p.port = PEER_PORT + 1;
	b = tf_open(f, false, -1);
	assert_int_equal(b & f->t->idx_mask, a & f->t->idx_mask); /* same slot ... */
	assert_int_not_equal(a, b);				  /* ... new generation */
	struct dl_tx_frag fr = {(const uint8_t *)"x", 1, DL_REGION_NONE};
	assert_int_equal(dl_stack_send(f->s, APP, a, &fr, 1), -ENOENT);
	assert_int_equal(dl_stack_close(f->s, APP, a), -ENOENT);
	assert_int_equal(dl_stack_send(f->s, APP, b, &fr, 1), 0);
}

static void test_api_unlisten_resets_half_open(void **state)
{
	struct tf *f = *state;
	struct tseg syn = {.seq = 1000, .flags = DL_TCP_SYN, .wnd = 1000}, r;

	assert_int_equal(dl_stack_listen(f->s, OUR_PORT, 0), 0);
	assert_int_equal(dl_stack_listen(f->s, OUR_PORT, 0), -EADDRINUSE);
	tf_send(f, &syn);
	assert_true(tf_recv(f, &r));
	assert_int_equal(dl_stack_unlisten(f->s, OUR_PORT), 0);
	tf_run(f);
	tf_expect(f, DL_TCP_RST | DL_TCP_ACK, r.seq + 1, 1001);
	assert_int_equal(conns(f), 0);
	tf_send(f, &syn); /* now a closed port */
	tf_expect(f, DL_TCP_RST | DL_TCP_ACK, 0, 1001);
	assert_int_equal(dl_stack_unlisten(f->s, OUR_PORT), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_established_fin_to_close_wait),
	    T(test_close_wait_second_fin_ignored),
	    T(test_close_wait_close_sends_fin_then_last_ack_closes),
	    T(test_established_close_sends_fin),
	    T(test_established_close_sends_queued_data_then_fin),
	    T(test_fin_wait_1_fin_retransmitted_on_rto),
	    cmocka_unit_test(test_fin_wait_1_ack_to_fin_wait_2_then_timeout),
	    cmocka_unit_test(test_fin_wait_2_fin_to_time_wait_then_2msl),
	    T(test_fin_wait_1_fin_ack_together_to_time_wait),
	    T(test_fin_wait_1_fin_simultaneous_close_closing),
	    cmocka_unit_test(test_time_wait_fin_retransmission_reacked),
	    T(test_time_wait_syn_reopens),
	    T(test_time_wait_old_syn_challenged),
	    T(test_time_wait_rst_closes),
	    T(test_fin_wait_1_data_after_close_resets),
	    T(test_fin_wait_2_half_close_still_receives),
	    T(test_established_abort_sends_rst),
	    T(test_established_abort_drops_data_parked_for_arp),
	    T(test_established_abort_sends_batched_data_before_cleanup),
	    T(test_api_close_inside_new_data),
	    T(test_api_abort_inside_new_data),
	    T(test_api_response_piggybacks_ack),
	    T(test_api_abort_app_only_its_connections),
	    T(test_api_destroy_aborts_everything),
	    T(test_api_stale_id_never_reaches_reused_slot),
	    T(test_api_unlisten_resets_half_open),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
