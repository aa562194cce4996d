/*
 * test_tcp_transfer.c - two stacks moving seeded byte streams both ways
 * over an impaired in-memory link (tcp_harness.h), byte-exact, with no
 * connection left stuck, every timer drained and every buffer returned.
 *
 *   unit   (default)  a few seeds, small transfers, each impairment alone
 *                     and in combination, TSO on and off, slow readers;
 *   stress (--stress) TH_STRESS_SEEDS seeds (default 100, seeds 1..100)
 *                     of TH_STRESS_MB MiB each way (default 64), the
 *                     impairment mix and TSO chosen by the seed.
 *
 * Environment: TH_SEED_FIRST, TH_STRESS_SEEDS, TH_STRESS_MB override the
 * stress sizes (the meson 'stress' suite splits the seeds in parts that
 * run in parallel).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dl_stats.h"
#include "tcp_harness.h"

static void base_cfg(struct dl_stack_config *cfg)
{
	dl_stack_config_defaults(cfg);
	cfg->tcp.msl_us = 2u * 1000 * 1000; /* 4 s TIME_WAIT, virtual anyway */
}

static void run_one(uint64_t seed, const struct th_link *link, const struct th_app_cfg *app,
		    bool tso, const struct dl_stack_config *cfg_over)
{
	struct dl_stack_config cfg;
	struct th *h;
	bool ok;

	if (cfg_over != NULL)
		cfg = *cfg_over;
	else
		base_cfg(&cfg);
	h = th_create(&cfg, link, app, seed, tso);
	th_start(h);
	ok = th_run(h, 36000ull * 1000 * 1000); /* 10 h of virtual time */
	if (!ok) {
		th_dump(h);
		dl_stats_dump(stderr, false);
	}
	assert_true(ok);
	if (getenv("TH_VERBOSE") != NULL) {
		uint64_t ls[4];
		th_link_stats(h, ls);
		fprintf(stderr,
			"seed %llu: t=%llu us, link lost %llu dup %llu corrupt %llu reorder %llu\n",
			(unsigned long long)seed, (unsigned long long)th_now(h),
			(unsigned long long)ls[0], (unsigned long long)ls[1],
			(unsigned long long)ls[2], (unsigned long long)ls[3]);
		dl_stats_dump(stderr, false);
	}
	uint64_t want = (app->bytes_c2s + app->bytes_s2c) * app->conns;
	assert_int_equal(th_verified(h), want);
	for (int i = 0; i < 2; i++) {
		struct dl_stack_tcp_mem m;
		dl_stack_tcp_mem(th_stack(h, i), &m);
		assert_int_equal(m.conns, 0);
		assert_int_equal(m.time_wait, 0);
		assert_int_equal(m.timers, 0);
		assert_int_equal(m.chunks_used, 0);
		assert_int_equal(m.sb_used, 0);
		assert_int_equal(dl_stack_next_deadline(th_stack(h, i)), UINT64_MAX);
	}
	/* Nothing in flight, nothing held: every buffer is back. */
	assert_int_equal(dl_memwire_bufs_in_use(th_wire(h)), 0);
	th_destroy(h);
}

static const struct th_app_cfg small_app = {
    .conns = 2,
    .bytes_c2s = 300000,
    .bytes_s2c = 500000,
    .max_frag = 3000,
    .frags_per_send = 4,
    .ring = 128 * 1024,
};

static void test_transfer_clean(void **state)
{
	struct th_link l = {.delay_us = 100};
	(void)state;
	run_one(1, &l, &small_app, true, NULL);
	run_one(2, &l, &small_app, false, NULL);
}

static void test_transfer_loss(void **state)
{
	struct th_link l = {.delay_us = 200, .loss = 0.03};
	(void)state;
	run_one(3, &l, &small_app, true, NULL);
	run_one(4, &l, &small_app, false, NULL);
}

static void test_transfer_reorder(void **state)
{
	struct th_link l = {.delay_us = 200, .reorder = 0.05, .reorder_us = 700};
	(void)state;
	run_one(5, &l, &small_app, true, NULL);
}

static void test_transfer_dup(void **state)
{
	struct th_link l = {.delay_us = 200, .dup = 0.05};
	(void)state;
	run_one(6, &l, &small_app, false, NULL);
}

static void test_transfer_corrupt(void **state)
{
	struct th_link l = {.delay_us = 200, .corrupt = 0.03};
	(void)state;
	run_one(7, &l, &small_app, true, NULL);
}

static void test_transfer_jitter_bottleneck(void **state)
{
	struct th_link l = {
	    .delay_us = 500, .jitter_us = 300, .rate_bps = 100000000, .queue_max = 40};
	(void)state;
	run_one(8, &l, &small_app, true, NULL);
}

static void test_transfer_combined(void **state)
{
	struct th_link l = {.delay_us = 300,
			    .loss = 0.02,
			    .dup = 0.01,
			    .reorder = 0.02,
			    .reorder_us = 900,
			    .corrupt = 0.01,
			    .jitter_us = 50};
	(void)state;
	for (uint64_t seed = 10; seed < 14; seed++)
		run_one(seed, &l, &small_app, seed & 1, NULL);
}

static void test_transfer_slow_reader_zero_window(void **state)
{
	struct th_link l = {.delay_us = 100, .loss = 0.01};
	struct th_app_cfg a = small_app;
	struct dl_stack_config cfg;
	(void)state;
	base_cfg(&cfg);
	cfg.tcp.rcv_wnd = 32 * 1024; /* the window closes while the reader sleeps */
	a.slow_reader_us = 300000;
	a.slow_reader_bytes = 32 * 1024;
	run_one(20, &l, &a, true, &cfg);
}

static void test_transfer_tiny_fragments(void **state)
{
	struct th_link l = {.delay_us = 100, .loss = 0.01, .reorder = 0.01, .reorder_us = 300};
	struct th_app_cfg a = small_app;
	(void)state;
	a.bytes_c2s = 60000;
	a.bytes_s2c = 40000;
	a.max_frag = 7;
	a.frags_per_send = 15;
	run_one(21, &l, &a, true, NULL);
}

static void test_transfer_no_timestamps_no_wscale(void **state)
{
	struct th_link l = {.delay_us = 100, .loss = 0.02, .reorder = 0.02, .reorder_us = 400};
	struct dl_stack_config cfg;
	(void)state;
	base_cfg(&cfg);
	cfg.tcp.timestamps = false;
	cfg.tcp.wscale = 0;
	cfg.tcp.rcv_wnd = 60000;
	run_one(22, &l, &small_app, false, &cfg);
}

/* ---- stress ---------------------------------------------------------------- */

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *v = getenv(name);
	return v != NULL && *v ? strtoull(v, NULL, 0) : def;
}

/* The seed picks the impairment mix (every kind alone and in combination,
 * a heavy one, a bottleneck), TSO on or off, the fragment sizes, and for
 * some seeds a slow reader whose zero window the sender must probe. */
static void stress_case(uint64_t seed, struct th_link *l, bool *tso, struct th_app_cfg *a,
			struct dl_stack_config *cfg)
{
	memset(l, 0, sizeof(*l));
	base_cfg(cfg);
	a->slow_reader_us = 0;
	a->slow_reader_bytes = 0;
	a->max_frag = seed % 3 == 0 ? 1500 : 65536;
	l->delay_us = 50 + (uint32_t)(seed * 37 % 500);
	switch (seed % 10) {
	case 0:
		l->loss = 0.01;
		break;
	case 1:
		l->reorder = 0.02;
		l->reorder_us = 3 * l->delay_us;
		break;
	case 2:
		l->dup = 0.02;
		break;
	case 3:
		l->corrupt = 0.01;
		break;
	case 4:
		l->jitter_us = l->delay_us;
		l->rate_bps = 1000000000;
		l->queue_max = 64;
		break;
	case 5:
		l->loss = 0.005;
		l->reorder = 0.01;
		l->reorder_us = 2 * l->delay_us;
		l->dup = 0.005;
		break;
	case 6:
		l->loss = 0.01;
		l->corrupt = 0.005;
		l->dup = 0.01;
		l->jitter_us = 20;
		break;
	case 7: /* heavy */
		l->loss = 0.03;
		l->reorder = 0.03;
		l->reorder_us = 2 * l->delay_us;
		l->dup = 0.01;
		l->corrupt = 0.01;
		break;
	case 8: /* slow reader: the window closes and reopens */
		l->loss = 0.005;
		cfg->tcp.rcv_wnd = 64 * 1024;
		a->slow_reader_us = 2000;
		a->slow_reader_bytes = 64 * 1024;
		break;
	default:
		l->loss = 0.005;
		l->dup = 0.005;
		l->reorder = 0.005;
		l->reorder_us = l->delay_us;
		l->corrupt = 0.005;
		l->rate_bps = 2000000000;
		l->queue_max = 128;
		break;
	}
	*tso = (seed / 10) % 2 == 0;
}

static void test_transfer_stress(void **state)
{
	uint64_t first = env_u64("TH_SEED_FIRST", 1);
	uint64_t n = env_u64("TH_STRESS_SEEDS", 100);
	uint64_t mb = env_u64("TH_STRESS_MB", 64);
	struct th_app_cfg a = {
	    .conns = 1,
	    .bytes_c2s = mb << 20,
	    .bytes_s2c = mb << 20,
	    .frags_per_send = 8,
	    .ring = 4u << 20,
	};
	(void)state;
	for (uint64_t seed = first; seed < first + n; seed++) {
		struct dl_stack_config cfg;
		struct th_link l;
		bool tso;
		stress_case(seed, &l, &tso, &a, &cfg);
		fprintf(stderr,
			"seed %llu: loss %.3f dup %.3f reorder %.3f corrupt %.3f rate %llu tso %d "
			"frag %u slow reader %u\n",
			(unsigned long long)seed, l.loss, l.dup, l.reorder, l.corrupt,
			(unsigned long long)l.rate_bps, tso, a.max_frag, a.slow_reader_us);
		run_one(seed, &l, &a, tso, &cfg);
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest unit[] = {
	    cmocka_unit_test(test_transfer_clean),
	    cmocka_unit_test(test_transfer_loss),
	    cmocka_unit_test(test_transfer_reorder),
	    cmocka_unit_test(test_transfer_dup),
	    cmocka_unit_test(test_transfer_corrupt),
	    cmocka_unit_test(test_transfer_jitter_bottleneck),
	    cmocka_unit_test(test_transfer_combined),
	    cmocka_unit_test(test_transfer_slow_reader_zero_window),
	    cmocka_unit_test(test_transfer_tiny_fragments),
	    cmocka_unit_test(test_transfer_no_timestamps_no_wscale),
	};
	const struct CMUnitTest stress[] = {
	    cmocka_unit_test(test_transfer_stress),
	};

	if (argc > 1 && strcmp(argv[1], "--stress") == 0)
		return cmocka_run_group_tests(stress, NULL, NULL);
	return cmocka_run_group_tests(unit, NULL, NULL);
}
