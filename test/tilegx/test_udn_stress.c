/*
 * test_udn_stress.c - the UDN transport under storms on the MDE model
 * (suite 'stress'): 36 tiles, one thread each (oversubscribing the
 * host's CPUs on purpose), every thread a NoC endpoint of one fabric.
 *
 *   all-to-all   every core sends to every other core
 *   many-to-one  35 cores send to core 0, which also sends back a little
 *
 * each with the smallest FIFOs the transport can use (a 3-word switch
 * FIFO: UDN header, framing word, one message word; 1-word demux queues)
 * and with the model's defaults (16 and 32 words). Messages carry their
 * per-pair sequence number in the connection id and a payload derived
 * from it, sizes from 2 to 126 words (the largest go in pieces). Checked:
 * every message arrives exactly once, in order per (sender, receiver),
 * with its payload; the model recorded zero send stalls (the credit
 * check never let a tile write into a full FIFO); no watchdog fired (the
 * model's aborts the process after MDE_MODEL_UDN_WATCHDOG_MS of stall,
 * ours fails the test when the storm does not finish).
 *
 * UDN_STRESS_MSGS scales the message counts (quick runs, or longer ones).
 */
#include <tmc/cpus.h>
#include <tmc/udn.h>

#include "dl_msg.h"
#include "dl_noc.h"
#include "dl_stats.h"
#include "mde_model.h"

#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define NCORES	   36
#define WATCHDOG_S 120

struct stress;

struct core_state {
	struct stress *st;
	unsigned id;
	struct dl_noc_ep *ep;
	uint64_t to_send; /* messages this core sends in all */
	uint64_t sent;
	uint32_t next_to[NCORES]; /* next sequence number per destination */
	uint32_t expect_from[NCORES];
	uint64_t received, owed;
	unsigned errors;
	char first_error[160];
};

struct stress {
	struct dl_noc_fabric *fab;
	uint32_t per_pair[NCORES][NCORES]; /* messages from s to d */
	int abort;			   /* 1 finished, 2 watchdog, 3 error */
	unsigned ready;			   /* cores that announced their tile */
	struct core_state core[NCORES];
};

static unsigned size_of(uint32_t seq, unsigned src)
{
	if (seq % 16 == 5)
		return 126; /* the codec's largest */
	if (seq % 16 == 13)
		return 30 + src % 20;
	return 2 + (seq + src) % 7;
}

static int build(uint64_t *w, unsigned src, uint32_t seq)
{
	struct dl_msg_ref refs[DL_MSG_MAX_REFS];
	unsigned n = size_of(seq, src) - 1;

	for (unsigned i = 0; i < n; i++)
		refs[i] = (struct dl_msg_ref){
		    .off = ((uint64_t)src << 24 | (uint64_t)seq << 8 | i) & DL_MSG_REF_OFF_MAX,
		    .len = 1 + (unsigned)((seq + i) % 60000),
		    .region = (uint8_t)(src % 100)};
	return dl_msg_enc_new_data(w, src, seq, refs, n);
}

static bool payload_ok(const struct dl_msg *m, unsigned src, uint32_t seq)
{
	if (m->type != DL_MSG_NEW_DATA || m->nwords != size_of(seq, src) ||
	    m->u.data.n != m->nwords - 1u)
		return false;
	for (unsigned i = 0; i < m->u.data.n; i++) {
		struct dl_msg_ref r = dl_msg_ref_unpack(m->u.data.refs[i]);
		if (r.off !=
			(((uint64_t)src << 24 | (uint64_t)seq << 8 | i) & DL_MSG_REF_OFF_MAX) ||
		    r.len != 1 + (seq + i) % 60000 || r.region != src % 100)
			return false;
	}
	return true;
}

static void core_error(struct core_state *cs, const char *what, unsigned src, uint32_t seq)
{
	__atomic_store_n(&cs->st->abort, 3, __ATOMIC_RELAXED);
	if (cs->errors++ == 0)
		snprintf(cs->first_error, sizeof(cs->first_error),
			 "core %u: %s (src %u, expected seq %u)", cs->id, what, src, seq);
}

static void on_msg(void *arg, unsigned src, const struct dl_msg *m)
{
	struct core_state *cs = arg;
	uint32_t seq;

	if (src >= NCORES || src == cs->id) {
		core_error(cs, "message from an impossible source", src, 0);
		return;
	}
	seq = cs->expect_from[src];
	if (m->conn != seq)
		core_error(cs, "lost, duplicated or reordered message", src, seq);
	else if (!payload_ok(m, src, seq))
		core_error(cs, "corrupted payload", src, seq);
	cs->expect_from[src] = seq + 1;
	cs->received++;
}

/* Up to @p max messages, round robin over destinations that are owed some. */
static unsigned send_some(struct core_state *cs, unsigned max)
{
	struct stress *st = cs->st;
	uint64_t w[DL_MSG_MAX_WORDS];
	unsigned done = 0;

	for (unsigned k = 0; k < NCORES && done < max && cs->sent < cs->to_send; k++) {
		unsigned dst = (cs->id + 1 + (unsigned)((cs->sent + k) % (NCORES - 1))) % NCORES;
		int n, rc;

		if (cs->next_to[dst] >= st->per_pair[cs->id][dst])
			continue;
		n = build(w, cs->id, cs->next_to[dst]);
		rc = dl_noc_send(cs->ep, dst, w, (unsigned)n);
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

static void *core_main(void *arg)
{
	struct core_state *cs = arg;
	struct stress *st = cs->st;

	if (tmc_cpus_set_my_cpu((int)cs->id) != 0 || tmc_udn_activate() != 0) {
		core_error(cs, "cannot bind and activate", cs->id, 0);
		return NULL;
	}
	/* Announce the tile (the first poll), then wait for everybody, so the
	 * storm starts at once rather than trickling through overflow. */
	dl_noc_poll(cs->ep, 1, on_msg, cs);
	__atomic_fetch_add(&st->ready, 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&st->ready, __ATOMIC_ACQUIRE) < NCORES &&
	       __atomic_load_n(&st->abort, __ATOMIC_RELAXED) == 0)
		sched_yield();
	while (__atomic_load_n(&st->abort, __ATOMIC_RELAXED) == 0 && cs->errors == 0) {
		unsigned progress = dl_noc_poll(cs->ep, 64, on_msg, cs);
		uint64_t pending;

		/* Application back-pressure: no new messages while 32 wait. */
		if (dl_noc_pending(cs->ep, -1) < 32)
			progress += send_some(cs, 8);
		pending = dl_noc_flush(cs->ep);
		if (cs->sent == cs->to_send && pending == 0 && cs->received == cs->owed)
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
				    __ATOMIC_RELAXED);
	return NULL;
}

static unsigned scaled(unsigned dflt)
{
	const char *e = getenv("UDN_STRESS_MSGS");
	unsigned long v = e != NULL ? strtoul(e, NULL, 10) : dflt;

	return v > 0 ? (unsigned)v : 1;
}

/* Run a storm: @p per_pair(s, d) messages from s to d. */
static void storm(const char *name, unsigned fifo, unsigned demux,
		  uint32_t (*per_pair)(unsigned s, unsigned d, unsigned scale), unsigned scale)
{
	struct mde_model_udn_config cfg = {6, 6, fifo, demux, 10000};
	struct stress *st = calloc(1, sizeof(*st));
	struct mde_model_udn_stats us;
	pthread_t th[NCORES], wd;
	struct timespec t0, t1;
	uint64_t total = 0;
	cpu_set_t all;

	assert_non_null(st);
	assert_int_equal(mde_model_udn_configure(&cfg), 0);
	tmc_cpus_get_online_cpus(&all);
	assert_int_equal(tmc_udn_init(&all), 0);
	st->fab = dl_noc_fabric_create(NCORES, 4096, NULL);
	assert_non_null(st->fab);
	for (unsigned s = 0; s < NCORES; s++)
		for (unsigned d = 0; d < NCORES; d++)
			st->per_pair[s][d] = s == d ? 0 : per_pair(s, d, scale);
	for (unsigned c = 0; c < NCORES; c++) {
		struct core_state *cs = &st->core[c];

		cs->st = st;
		cs->id = c;
		for (unsigned o = 0; o < NCORES; o++) {
			cs->to_send += st->per_pair[c][o];
			cs->owed += st->per_pair[o][c];
		}
		total += cs->to_send;
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
				    __ATOMIC_RELAXED);
	pthread_join(wd, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	mde_model_udn_stats(-1, &us);
	printf("# %s: FIFO %u, demux %u words: %llu messages, %llu UDN packets (%llu words), "
	       "%llu split, %llu credit waits, %llu send stalls, %.2f s\n",
	       name, fifo, demux, (unsigned long long)total, (unsigned long long)us.packets_sent,
	       (unsigned long long)us.words_sent,
	       (unsigned long long)dl_stats_get("udn", "tx_split_msgs"),
	       (unsigned long long)dl_stats_get("udn", "tx_credit_waits"),
	       (unsigned long long)us.send_stalls,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	for (unsigned c = 0; c < NCORES; c++)
		if (st->core[c].errors != 0)
			fail_msg("%s (%u errors)", st->core[c].first_error, st->core[c].errors);
	if (st->abort == 2)
		fail_msg("no completion within %d s: deadlock or livelock", WATCHDOG_S);
	/* The paper's rule held: no tile ever wrote into a full FIFO. */
	assert_int_equal(us.send_stalls, 0);
	assert_true(dl_stats_get("udn", "tx_credit_waits") > 0); /* the check did refuse */
	assert_true(dl_stats_get("udn", "tx_split_msgs") > 0);
	for (unsigned c = 0; c < NCORES; c++) {
		struct core_state *cs = &st->core[c];
		const uint64_t *cnt = dl_noc_counters(cs->ep);

		assert_int_equal(cs->sent, cs->to_send);
		assert_int_equal(cs->received, cs->owed);
		for (unsigned s = 0; s < NCORES; s++)
			assert_int_equal(cs->expect_from[s], st->per_pair[s][c]);
		assert_int_equal(cnt[DL_NOC_TX_MSGS], cs->to_send);
		assert_int_equal(cnt[DL_NOC_RX_MSGS], cs->owed);
		assert_int_equal(dl_noc_pending(cs->ep, -1), 0);
		assert_int_equal(cnt[DL_NOC_TX_NOMEM] + cnt[DL_NOC_RX_DECODE_ERR] +
				     cnt[DL_NOC_RX_REJECTED] + cnt[DL_NOC_TX_CHAN_BROKEN] +
				     cnt[DL_NOC_RX_CHAN_BROKEN],
				 0);
	}
	assert_int_equal(dl_stats_get("udn", "rx_drop_bad_frame"), 0);
	assert_int_equal(dl_stats_get("udn", "rx_drop_words"), 0);
	for (unsigned c = 0; c < NCORES; c++)
		dl_noc_ep_destroy(st->core[c].ep);
	dl_noc_fabric_destroy(st->fab);
	free(st);
}

static uint32_t all_to_all(unsigned s, unsigned d, unsigned scale)
{
	(void)s;
	(void)d;
	return scale;
}

static uint32_t many_to_one(unsigned s, unsigned d, unsigned scale)
{
	if (d == 0)
		return 20 * scale;	   /* everybody to core 0 */
	return s == 0 ? scale / 2 + 1 : 0; /* and a little back */
}

static void test_all_to_all_smallest_fifos(void **state)
{
	(void)state;
	storm("all-to-all", 3, 1, all_to_all, scaled(4));
}

static void test_many_to_one_smallest_fifos(void **state)
{
	(void)state;
	/* Every word a packet of its own into a 1-word queue: the slowest
	 * storm on the model, half the messages. */
	storm("many-to-one", 3, 1, many_to_one, (scaled(4) + 1) / 2);
}

static void test_all_to_all_default_fifos(void **state)
{
	(void)state;
	storm("all-to-all", 16, 32, all_to_all, scaled(4) * 4);
}

static void test_many_to_one_default_fifos(void **state)
{
	(void)state;
	storm("many-to-one", 16, 32, many_to_one, scaled(4) * 4);
}

/* A failed storm leaves its hardwall: the next one makes its own. */
static int teardown(void **state)
{
	(void)state;
	tmc_udn_close();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_all_to_all_smallest_fifos, teardown),
	    cmocka_unit_test_teardown(test_many_to_one_smallest_fifos, teardown),
	    cmocka_unit_test_teardown(test_all_to_all_default_fifos, teardown),
	    cmocka_unit_test_teardown(test_many_to_one_default_fifos, teardown),
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
