/*
 * test_noc_stress.c - loss-free, ordered, deadlock-free delivery under
 * stress (suite 'stress').
 *
 * Four threads, one endpoint each, all-to-all over 8-word channels (a
 * message of 7 words, the largest they take, fills a channel alone). Every thread sends its
 * quota round-robin to the three others, each message carrying the
 * sender's per-destination sequence number in the header's connection id
 * and a payload derived from it (several types and sizes, 2..7 words),
 * while it keeps polling its mailbox and flushing its overflow. A thread
 * stops when it has sent everything, its overflow is empty and it has
 * received everything the others owe it. In the first test senders stop
 * producing while 64 of their messages wait in overflow (the application
 * back-pressure a real core would apply), so ring and overflow alternate
 * constantly. If any message were lost,
 * duplicated or reordered the receiver flags it; if channels could
 * deadlock the run would not finish (a watchdog turns that into a
 * failure). Threads outnumber the 2 CPUs on purpose; a thread that made no
 * progress calls sched_yield().
 *
 * The second test makes one receiver sleep 20-50 ms at intervals: the
 * senders' overflow towards it grows (checked) and then drains completely.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "core_bind.h"
#include "dl_msg.h"
#include "dl_noc.h"
#include "dl_stats.h"

#define NCORES	     4
#define STRESS_WORDS 8
#define WATCHDOG_S   240

struct stress;

struct core_state {
	struct stress *st;
	unsigned id;
	struct dl_noc_ep *ep;
	uint64_t sent;		      /* messages sent, all destinations */
	uint64_t next_to[NCORES];     /* next sequence number per destination */
	uint64_t expect_from[NCORES]; /* next sequence number expected per source */
	uint64_t received, owed;      /* received so far / in total */
	uint64_t max_pending_to_pauser;
	unsigned pauses;
	unsigned errors;
	char first_error[160];
};

struct stress {
	struct dl_noc_fabric *fab;
	uint64_t per_sender; /* messages each core sends (multiple of NCORES - 1) */
	int pauser;	     /* core that sleeps now and then, -1 for none */
	uint64_t throttle;   /* no new messages while this many are pending, 0 = never */
	int abort;	     /* 1: finished, 2: watchdog fired, 3: error (atomic) */
	struct core_state core[NCORES];
};

static void core_error(struct core_state *cs, const char *what, unsigned src, uint64_t seq)
{
	/* Stop everybody: the others would wait for this core forever. */
	__atomic_store_n(&cs->st->abort, 3, __ATOMIC_RELAXED);
	if (cs->errors++ == 0)
		snprintf(cs->first_error, sizeof(cs->first_error),
			 "core %u: %s (src %u, expected seq %llu)", cs->id, what, src,
			 (unsigned long long)seq);
}

/* Message @p seq from @p src: its type and size follow from seq. */
static int build_msg(uint64_t *w, unsigned src, uint64_t seq)
{
	struct dl_msg_ref refs[7];
	unsigned nrefs;

	switch (seq % 4) {
	case 0:
		return dl_msg_enc_connected(w, src, (uint32_t)seq, seq * 3 + src);
	case 1:
	case 3:
		nrefs = 1 + (unsigned)(seq % 6); /* 2..7 words */
		for (unsigned i = 0; i < nrefs; i++) {
			refs[i].off = (seq + i) & DL_MSG_REF_OFF_MAX;
			refs[i].len = 1 + src;
			refs[i].region = (uint8_t)i;
			refs[i].more = seq % 4 == 1 && (i & 1);
		}
		return seq % 4 == 1 ? dl_msg_enc_send(w, src, (uint32_t)seq, refs, nrefs)
				    : dl_msg_enc_new_data(w, src, (uint32_t)seq, refs, nrefs);
	default:
		return dl_msg_enc_data_acked(w, src, (uint32_t)seq, (uint32_t)(seq ^ src));
	}
}

static bool payload_ok(const struct dl_msg *m, unsigned src, uint64_t seq)
{
	switch (seq % 4) {
	case 0:
		return m->type == DL_MSG_CONNECTED && m->u.connected.cookie == seq * 3 + src;
	case 1:
	case 3:
		if (m->type != (seq % 4 == 1 ? DL_MSG_SEND : DL_MSG_NEW_DATA) ||
		    m->u.data.n != 1 + seq % 6)
			return false;
		for (unsigned i = 0; i < m->u.data.n; i++) {
			struct dl_msg_ref r = dl_msg_ref_unpack(m->u.data.refs[i]);
			if (r.off != ((seq + i) & DL_MSG_REF_OFF_MAX) || r.len != 1 + src ||
			    r.region != i || r.more != (seq % 4 == 1 && (i & 1)))
				return false;
		}
		return true;
	default:
		return m->type == DL_MSG_DATA_ACKED &&
		       m->u.data_acked.bytes == (uint32_t)(seq ^ src);
	}
}

static void on_msg(void *arg, unsigned src, const struct dl_msg *m)
{
	struct core_state *cs = arg;
	uint64_t seq;

	if (src >= NCORES || src == cs->id) {
		core_error(cs, "message from an impossible source", src, 0);
		return;
	}
	seq = cs->expect_from[src];
	if (m->core != src)
		core_error(cs, "core field does not name the sender", src, seq);
	else if (m->conn != (uint32_t)seq)
		core_error(cs, "lost, duplicated or reordered message", src, seq);
	else if (!payload_ok(m, src, seq))
		core_error(cs, "corrupted payload", src, seq);
	cs->expect_from[src] = seq + 1;
	cs->received++;
}

/* Send up to @p max messages, round-robin over the other cores. */
static unsigned send_some(struct core_state *cs, unsigned max)
{
	struct stress *st = cs->st;
	uint64_t w[DL_MSG_MAX_WORDS];
	unsigned done = 0;

	while (done < max && cs->sent < st->per_sender) {
		unsigned dst = (cs->id + 1 + (unsigned)(cs->sent % (NCORES - 1))) % NCORES;
		int n = build_msg(w, cs->id, cs->next_to[dst]);
		int rc = n > 0 ? dl_noc_send(cs->ep, dst, w, (unsigned)n) : n;

		if (rc != 0) {
			core_error(cs, "send refused", dst, cs->next_to[dst]);
			return done;
		}
		cs->next_to[dst]++;
		cs->sent++;
		done++;
	}
	return done;
}

static void maybe_pause(struct core_state *cs, uint64_t *next_pause_at)
{
	if (cs->st->pauser != (int)cs->id || cs->received < *next_pause_at || cs->pauses >= 10)
		return;
	/* 20..50 ms without polling: the senders' overflow towards us grows. */
	usleep(20000 + 3000 * (cs->pauses % 11));
	cs->pauses++;
	*next_pause_at += cs->owed / 12;
}

static void *core_main(void *arg)
{
	struct core_state *cs = arg;
	struct stress *st = cs->st;
	uint64_t next_pause_at = cs->owed / 12;

	test_core_bind(cs->id); /* UDN: the thread runs on the core's tile */

	while (__atomic_load_n(&st->abort, __ATOMIC_RELAXED) == 0 && cs->errors == 0) {
		unsigned progress = dl_noc_poll(cs->ep, 64, on_msg, cs);
		uint64_t pending;

		if (st->throttle == 0 || dl_noc_pending(cs->ep, -1) < st->throttle)
			progress += send_some(cs, 4);
		pending = dl_noc_flush(cs->ep);
		if (st->pauser >= 0 && st->pauser != (int)cs->id) {
			uint64_t p = dl_noc_pending(cs->ep, st->pauser);
			if (p > cs->max_pending_to_pauser)
				cs->max_pending_to_pauser = p;
		}
		maybe_pause(cs, &next_pause_at);
		if (cs->sent == st->per_sender && pending == 0 && cs->received == cs->owed)
			break;
		if (progress == 0)
			sched_yield();
	}
	return NULL;
}

static void *watchdog_main(void *arg)
{
	struct stress *st = arg;

	int expected = 0;

	for (int i = 0; i < WATCHDOG_S * 10 && __atomic_load_n(&st->abort, __ATOMIC_RELAXED) == 0;
	     i++)
		usleep(100000);
	__atomic_compare_exchange_n(&st->abort, &expected, 2, false, __ATOMIC_RELAXED,
				    __ATOMIC_RELAXED); /* timed out unless finished */
	return NULL;
}

static void run_stress(uint64_t per_sender, int pauser, uint64_t throttle)
{
	struct stress *st = calloc(1, sizeof(*st));
	pthread_t th[NCORES], wd;
	struct timespec t0, t1;

	assert_non_null(st);
	st->per_sender = per_sender;
	st->pauser = pauser;
	st->throttle = throttle;
	st->fab = dl_noc_fabric_create(NCORES, STRESS_WORDS, NULL);
	assert_non_null(st->fab);
	for (unsigned c = 0; c < NCORES; c++) {
		struct core_state *cs = &st->core[c];

		cs->st = st;
		cs->id = c;
		cs->owed = per_sender; /* (NCORES - 1) senders x per_sender / (NCORES - 1) */
		cs->ep = dl_noc_ep_create(st->fab, c, NULL);
		assert_non_null(cs->ep);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(pthread_create(&wd, NULL, watchdog_main, st), 0);
	for (unsigned c = 0; c < NCORES; c++)
		assert_int_equal(pthread_create(&th[c], NULL, core_main, &st->core[c]), 0);
	for (unsigned c = 0; c < NCORES; c++)
		pthread_join(th[c], NULL);
	int expected = 0;
	__atomic_compare_exchange_n(&st->abort, &expected, 1, false, __ATOMIC_RELAXED,
				    __ATOMIC_RELAXED); /* stop the watchdog */
	pthread_join(wd, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);

	printf("# %llu msgs/sender, pauser %d, throttle %llu: %.2f s\n",
	       (unsigned long long)per_sender, pauser, (unsigned long long)throttle,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	dl_stats_dump(stdout, false);
	for (unsigned c = 0; c < NCORES; c++)
		if (st->core[c].errors != 0)
			fail_msg("%s (%u errors)", st->core[c].first_error, st->core[c].errors);
	if (st->abort == 2)
		fail_msg("no completion within %d s: deadlock or livelock", WATCHDOG_S);
	for (unsigned c = 0; c < NCORES; c++) {
		struct core_state *cs = &st->core[c];
		const uint64_t *cnt = dl_noc_counters(cs->ep);

		assert_int_equal(cs->sent, per_sender);
		assert_int_equal(cs->received, cs->owed);
		for (unsigned s = 0; s < NCORES; s++)
			assert_int_equal(cs->expect_from[s],
					 s == c ? 0 : per_sender / (NCORES - 1));
		assert_int_equal(cnt[DL_NOC_TX_MSGS], per_sender);
		assert_int_equal(cnt[DL_NOC_RX_MSGS], cs->owed);
		assert_int_equal(cnt[DL_NOC_OVF_PENDING_MSGS], 0);
		assert_int_equal(cnt[DL_NOC_OVF_PENDING_WORDS], 0);
		assert_int_equal(dl_noc_pending(cs->ep, -1), 0);
		assert_int_equal(cnt[DL_NOC_TX_NOMEM], 0);
		assert_int_equal(cnt[DL_NOC_RX_DECODE_ERR], 0);
		assert_int_equal(cnt[DL_NOC_RX_REJECTED], 0);
		assert_int_equal(cnt[DL_NOC_TX_CHAN_BROKEN] + cnt[DL_NOC_RX_CHAN_BROKEN], 0);
		/* 8-word channels cannot hold the traffic: overflow was used. */
		assert_true(cnt[DL_NOC_TX_OVERFLOWED] > 0);
		assert_true(cnt[DL_NOC_OVF_HWM_MSGS] > 0);
		if (pauser >= 0 && (int)c != pauser) {
			assert_true(cs->max_pending_to_pauser > 0);
			printf("# core %u: overflow towards the sleeper peaked at %llu messages\n",
			       c, (unsigned long long)cs->max_pending_to_pauser);
		}
	}
	assert_int_equal(dl_stats_get("noc", "tx_msgs"), NCORES * per_sender);
	assert_int_equal(dl_stats_get("noc", "rx_msgs"), NCORES * per_sender);
	if (pauser >= 0)
		assert_true(st->core[pauser].pauses >= 5);
	for (unsigned c = 0; c < NCORES; c++)
		dl_noc_ep_destroy(st->core[c].ep);
	dl_noc_fabric_destroy(st->fab);
	free(st);
}

/* Message count per sender: NOC_STRESS_MSGS overrides (for quick runs). */
static uint64_t msgs_per_sender(uint64_t dflt)
{
	const char *e = getenv("NOC_STRESS_MSGS");
	uint64_t n = e != NULL ? strtoull(e, NULL, 10) : dflt;

	n -= n % (NCORES - 1);
	return n > 0 ? n : NCORES - 1;
}

static void test_all_to_all(void **state)
{
	(void)state;
	/* Senders hold back while 64 messages wait: ring and overflow take
	 * turns all the time instead of "queue everything, then drain". */
	run_stress(msgs_per_sender(1000002), -1, 64);
}

static void test_all_to_all_sleeping_receiver(void **state)
{
	(void)state;
	/* No holding back: overflow towards the sleeper grows without bound. */
	run_stress(msgs_per_sender(1000002), NCORES - 1, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_all_to_all),
	    cmocka_unit_test(test_all_to_all_sleeping_receiver),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
