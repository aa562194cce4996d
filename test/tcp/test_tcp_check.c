/*
 * test_tcp_check.c - dl_stack_check() (dl_tcp_check.h) finds what it is
 * meant to find: a consistent stack passes, and each kind of corruption
 * (send space, send queue, receive queues, per-core accounting, listener
 * counts, timers) written into a live connection is reported, naming the
 * connection and the values. Every tf_run() of the crafted-segment tests
 * runs the same check after its flush.
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

/* The check fails and its message contains `what`. */
static void expect_violation(struct tf *f, const char *what)
{
	char why[512];

	assert_int_equal(dl_stack_check(f->s, why, sizeof(why)), -1);
	if (strstr(why, what) == NULL)
		fail_msg("expected \"%s\" in \"%s\"", what, why);
}

static void expect_ok(struct tf *f)
{
	char why[512];

	if (dl_stack_check(f->s, why, sizeof(why)) != 0)
		fail_msg("%s", why);
}

/* A connection with data both ways: queued unsent, in flight, held. */
static struct dl_tcb *busy_conn(struct tf *f)
{
	static const uint8_t out[3000];
	struct dl_tx_frag fr[2] = {{out, 1000, DL_REGION_NONE}, {out + 2000, 1000, DL_REGION_NONE}};
	uint32_t id = tf_open(f, true, 7);

	f->auto_return = false;
	tf_seg(f, DL_TCP_ACK | DL_TCP_PSH, "hello", 5);
	assert_int_equal(dl_stack_send(f->s, APP, id, fr, 2), 0);
	tf_run(f);
	while (tf_pending(f) > 0) {
		struct tseg r;
		tf_recv(f, &r);
	}
	expect_ok(f);
	return tf_tcb(f, id);
}

static void test_check_consistent_stack_passes(void **state)
{
	struct tf *f = *state;
	struct dl_tcb *c = busy_conn(f);

	assert_true(c->sq_bytes > 0 && c->rx_held > 0 && c->t_rtx != 0);
	expect_ok(f);
}

static void test_check_send_space(void **state)
{
	struct tf *f = *state;
	struct dl_tcb *c = busy_conn(f);
	uint32_t nxt = c->snd_nxt, seq = c->sq_seq;

	c->snd_nxt = c->snd_max + 1;
	expect_violation(f, "send space out of order");
	c->snd_nxt = nxt;
	c->sq_seq = seq + 1;
	expect_violation(f, "sq_seq");
	c->sq_seq = seq;
	expect_ok(f);
}

static void test_check_send_queue(void **state)
{
	struct tf *f = *state;
	struct dl_tcb *c = busy_conn(f);

	c->sq_bytes += 1;
	expect_violation(f, "send queue holds 2000 bytes in 2 fragments, counted 2001");
	c->sq_bytes -= 1;
	c->sq_nfrags += 1;
	expect_violation(f, "send queue holds");
	c->sq_nfrags -= 1;
	c->sq_cur.off += 1;
	expect_violation(f, "sq_cur");
	c->sq_cur.off -= 1;
	f->t->chunks_used += 1;
	expect_violation(f, "send-queue chunks");
	f->t->chunks_used -= 1;
	expect_ok(f);
}

static void test_check_receive_queues(void **state)
{
	struct tf *f = *state;
	struct dl_tcb *c = busy_conn(f);

	c->rx_held += 1;
	expect_violation(f, "in-order buffers hold");
	c->rx_held -= 1;
	c->rcv_nxt += 1;
	expect_violation(f, "in-order data ends at");
	c->rcv_nxt -= 1;
	c->rx_nbufs += 1;
	expect_violation(f, "RX buffers held");
	c->rx_nbufs -= 1;
	f->t->app_unret[APP] += 1;
	expect_violation(f, "application core 1 holds");
	f->t->app_unret[APP] -= 1;
	expect_ok(f);
}

static void test_check_counts(void **state)
{
	struct tf *f = *state;

	busy_conn(f);
	f->t->nconns += 1;
	expect_violation(f, "connections in use");
	f->t->nconns -= 1;
	f->t->lst[0].n_acc += 1;
	expect_violation(f, "listener 0 (port 80)");
	f->t->lst[0].n_acc -= 1;
	expect_ok(f);
}

static void test_check_timers(void **state)
{
	struct tf *f = *state;
	struct dl_tcb *c = busy_conn(f);
	uint64_t rtx = c->t_rtx;

	c->t_rtx = 0;
	expect_violation(f, "no retransmission/persist timer");
	c->t_rtx = rtx;
	c->t_idle = c->tn.expires - 1; /* earlier than the node: it would fire late */
	expect_violation(f, "deadline 2");
	c->t_idle = 0;
	c->last_ack_sent -= 1;
	expect_violation(f, "an ACK is owed");
	c->last_ack_sent += 1;
	expect_ok(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_check_consistent_stack_passes),
	    T(test_check_send_space),
	    T(test_check_send_queue),
	    T(test_check_receive_queues),
	    T(test_check_counts),
	    T(test_check_timers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
