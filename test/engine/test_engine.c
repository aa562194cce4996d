/*
 * test_engine.c - the execution modes end to end over the in-memory wire:
 * the same echo application in rtc mode (1 and 2 cores) and in dlibos mode
 * (1+1, 2+2, 1+3, three layouts, two dispatch policies), driven by a client
 * stack that checks every echoed byte. Also: a connection's events never
 * reach another application core; an application core that hoards received
 * data stalls only its own connections; layout errors are explained.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <stdio.h>

#include "dl_engine_priv.h"
#include "dl_stats.h"
#include "engine_harness.h"

/* Run the echo; returns frames handed between network cores. */
static uint64_t run_echo(enum dl_mode mode, unsigned ncores, unsigned net, enum dl_layout layout,
			 enum dl_dispatch dispatch, unsigned nconns, uint64_t bytes)
{
	uint64_t handoffs;
	struct harness h;

	assert_int_equal(h_setup(&h, mode, ncores, net, layout, dispatch), 0);
	h_open(&h, nconns, bytes);
	unsigned done = h_run(&h, 400000);
	if (done != nconns) {
		/* Say where it got stuck before failing. */
		for (unsigned i = 0; i < nconns; i++)
			if (!h.conns[i].done)
				fprintf(stderr, "conn %u: connected %d failed %d sent %llu recvd %llu\n",
					i, h.conns[i].connected, h.conns[i].failed,
					(unsigned long long)h.conns[i].sent,
					(unsigned long long)h.conns[i].recvd);
		dl_stats_dump(stderr, false);
	}
	assert_int_equal(done, nconns);
	for (unsigned i = 0; i < nconns; i++) {
		assert_false(h.conns[i].failed);
		assert_int_equal(h.conns[i].recvd, bytes);
	}
	assert_int_equal(h.corrupt, 0);
	assert_int_equal(h_server.wrong_core_events, 0);
	/* Let the closes finish: every accepted connection is cleaned up. */
	for (int r = 0; r < 20000 && h_server.cleanups < nconns; r++)
		h_round(&h, 100);
	assert_int_equal(h_server.cleanups, nconns);
	uint64_t accepted = 0;
	unsigned cores_used = 0;
	for (unsigned a = 0; a < DL_MAX_CORES; a++) {
		accepted += h_server.accepted[a];
		cores_used += h_server.accepted[a] > 0;
	}
	assert_int_equal(accepted, nconns);
	/* Dispatch spreads connections over every application core. */
	assert_int_equal(cores_used, h.e->n_app);
	handoffs = dl_stats_get("eth", "handoff_in");
	assert_int_equal(dl_stats_get("eth", "handoff_out"), handoffs);
	assert_int_equal(h_teardown(&h), 0);
	return handoffs;
}

static void test_rtc_one_core(void **s)
{
	(void)s;
	run_echo(DL_MODE_RTC, 1, 0, DL_LAYOUT_NAIVE, DL_DISPATCH_RR, 50, 20000);
}

static void test_rtc_two_cores_handoff(void **s)
{
	(void)s;
	/* The wire steers flows to queues unlike the stack's flow hash, so
	 * some frames had to be handed to their owner over the NoC. */
	assert_true(run_echo(DL_MODE_RTC, 2, 0, DL_LAYOUT_NAIVE, DL_DISPATCH_RR, 50, 20000) > 0);
}

static void test_dlibos_1_1(void **s)
{
	(void)s;
	run_echo(DL_MODE_DLIBOS, 2, 1, DL_LAYOUT_NAIVE, DL_DISPATCH_RR, 50, 20000);
}

static void test_dlibos_2_2(void **s)
{
	(void)s;
	run_echo(DL_MODE_DLIBOS, 4, 2, DL_LAYOUT_NAIVE, DL_DISPATCH_RR, 60, 20000);
}

static void test_dlibos_1_3_least_loaded(void **s)
{
	(void)s;
	run_echo(DL_MODE_DLIBOS, 4, 1, DL_LAYOUT_NAIVE, DL_DISPATCH_LEAST_LOADED, 60, 20000);
}

static void test_dlibos_quadrant_all(void **s)
{
	(void)s;
	run_echo(DL_MODE_DLIBOS, 8, 4, DL_LAYOUT_QUADRANT_ALL, DL_DISPATCH_RR, 64, 10000);
}

static void test_dlibos_quadrant_dedicated(void **s)
{
	(void)s;
	run_echo(DL_MODE_DLIBOS, 4, 2, DL_LAYOUT_QUADRANT_DEDICATED, DL_DISPATCH_RR, 40, 10000);
}

/* More cores than a 64-bit mask holds: core sets, channel plans and the
 * NoC endpoints work past bit 63 (DL_MAX_CORES is 128 by default). */
static void test_dlibos_beyond_64_cores(void **s)
{
	(void)s;
	if (DL_MAX_CORES < 100)
		skip();
	run_echo(DL_MODE_DLIBOS, 100, 4, DL_LAYOUT_NAIVE, DL_DISPATCH_RR, 640, 1000);
}

/* Request/response in dlibos mode: the data_acked of the previous answer
 * travels with the next request (ACKED_NEW_DATA) and the answer with the
 * recv_done of the request (SEND_RECV_DONE): two NoC messages per
 * exchange, every byte echoed. */
static void test_dlibos_pairs_messages(void **s)
{
	struct harness h;
	(void)s;

	assert_int_equal(h_setup(&h, DL_MODE_DLIBOS, 2, 1, DL_LAYOUT_NAIVE, DL_DISPATCH_RR), 0);
	h.pingpong = 100;
	h_open(&h, 1, 300 * 100);
	while (h.conns[0].recvd < 100 * 100)
		h_round(&h, 10);
	uint64_t m0 = dl_engine_noc_messages(h.e), ev0 = dl_stats_get("engine", "events_paired"),
		 cmd0 = dl_stats_get("engine", "commands_paired"), r0 = h.conns[0].recvd;
	while (h.conns[0].recvd < 200 * 100)
		h_round(&h, 10);
	assert_int_equal(h.conns[0].recvd - r0, 100 * 100);
	assert_int_equal(dl_engine_noc_messages(h.e) - m0, 2 * 100);
	assert_int_equal(dl_stats_get("engine", "events_paired") - ev0, 100);
	assert_int_equal(dl_stats_get("engine", "commands_paired") - cmd0, 100);
	assert_int_equal(h_run(&h, 100000), 1);
	assert_int_equal(h.corrupt, 0);
	assert_int_equal(h_teardown(&h), 0);
}

static void test_hoarding_core_stalls_only_itself(void **s)
{
	struct harness h;
	(void)s;

	h_rx_credit = 256 * 1024;
	assert_int_equal(h_setup(&h, DL_MODE_DLIBOS, 3, 1, DL_LAYOUT_NAIVE, DL_DISPATCH_RR), 0);
	h_rx_credit = 0;
	h.hoard_core = 1;
	h_open(&h, 40, 200000);
	h_run(&h, 200000);
	unsigned done = 0, stalled = 0;
	for (unsigned i = 0; i < h.nconns; i++) {
		done += h.conns[i].done;
		stalled += !h.conns[i].done;
	}
	/* Round robin gave each app core half; the hoarder's half stalls. */
	assert_int_equal(h_server.accepted[0], 20);
	assert_int_equal(h_server.accepted[1], 20);
	assert_int_equal(done, 20);
	assert_int_equal(stalled, 20);
	assert_int_equal(h.corrupt, 0);
	/* The hoarder's connections hit its credit; payload was dropped. */
	assert_true(dl_stats_get("tcp", "drop_app_throttled") > 0);
	assert_int_equal(h_teardown(&h), 0);
}

/* The dispatch decision itself: with the network core's load figures set
 * to {5, 9, 0}, least-loaded offers the next connection to application
 * core 2, round robin to core 0 whatever the load. */
static void test_dispatch_decision(void **s)
{
	(void)s;
	for (int least = 0; least < 2; least++) {
		struct harness h;
		struct dl_netcore *g;

		assert_int_equal(h_setup(&h, DL_MODE_DLIBOS, 4, 1, DL_LAYOUT_NAIVE,
					 least ? DL_DISPATCH_LEAST_LOADED : DL_DISPATCH_RR),
				 0);
		g = h.e->cores[h.e->net_core[0]].net;
		assert_non_null(g);
		g->app_conns[0] = 5;
		g->app_conns[1] = 9;
		g->app_conns[2] = 0;
		h_open(&h, 1, 1000);
		assert_int_equal(h_run(&h, 100000), 1);
		for (unsigned a = 0; a < 3; a++)
			assert_int_equal(h_server.accepted[a], a == (least ? 2u : 0u));
		/* Back to the real counts before the closes decrement them. */
		g->app_conns[0] = least ? 0 : 1;
		g->app_conns[1] = 0;
		g->app_conns[2] = least ? 1 : 0;
		assert_int_equal(h_teardown(&h), 0);
	}
}

/* An engine over @p n cores with the given topology (x < 0: no mesh),
 * not started: where the layout put the network cores. */
static struct dl_engine *layout_engine(struct dl_memwire *w, unsigned n, unsigned net,
				       enum dl_layout layout, const int *l3, int mesh_w)
{
	struct dl_engine_conf ec;
	char err[256];
	struct dl_engine *e;

	memset(&ec, 0, sizeof(ec));
	ec.nic = dl_memwire_nic(w, 0);
	ec.app = &h_echo_app;
	ec.quiet = true;
	ec.mode = DL_MODE_DLIBOS;
	ec.layout = layout;
	ec.ncores = n;
	ec.net_cores = net;
	for (unsigned i = 0; i < n; i++)
		ec.cores[i] = (struct dl_core_info){.id = i,
						    .hw_id = i,
						    .cpu = (int)i,
						    .l3_domain = l3 != NULL ? l3[i] : 0,
						    .x = mesh_w > 0 ? (int)i % mesh_w : -1,
						    .y = mesh_w > 0 ? (int)i / mesh_w : -1};
	dl_stack_config_defaults(&ec.stack);
	e = dl_engine_create(&ec, err, sizeof(err));
	if (e == NULL)
		fprintf(stderr, "engine: %s\n", err);
	return e;
}

static bool is_net(const struct dl_engine *e, unsigned i)
{
	return (e->cores[i].role & DL_ROLE_NET) != 0;
}

/* Where each layout puts the network cores: naive the first ones; the
 * quadrant layouts one share per quadrant, quadrants being L3 domains on
 * x86 and the four quarters of the mesh on TILE-Gx (paper Figure 3);
 * quadrant-dedicated links an application core only to the network cores
 * of its quadrant. */
static void test_layout_placements(void **s)
{
	struct dl_memwire *w = dl_memwire_create(&(struct dl_memwire_config){.nqueues = 4});
	const int l3[8] = {0, 0, 0, 0, 4, 4, 4, 4};
	struct dl_engine *e;
	(void)s;

	/* naive: cores 0..2 of 8. */
	e = layout_engine(w, 8, 3, DL_LAYOUT_NAIVE, NULL, 0);
	assert_non_null(e);
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(is_net(e, i), i < 3);
	dl_engine_destroy(e);

	/* quadrant-all over two L3 domains of 4 cores: one network core in
	 * each, the first of its domain, and every application core talks
	 * to both. */
	e = layout_engine(w, 8, 2, DL_LAYOUT_QUADRANT_ALL, l3, 0);
	assert_non_null(e);
	assert_int_equal(e->nquadrants, 2);
	for (unsigned i = 0; i < 8; i++) {
		assert_int_equal(e->cores[i].quadrant, i < 4 ? 0 : 1);
		assert_int_equal(is_net(e, i), i == 0 || i == 4);
		if (!is_net(e, i))
			assert_true(dl_coreset_has(&e->links[i], 0) &&
				    dl_coreset_has(&e->links[i], 4));
	}
	dl_engine_destroy(e);

	/* quadrant-dedicated on a 6x6 mesh (36 tiles, one L3 domain), 4
	 * network cores: one per 3x3 quarter; an application tile links
	 * only to its own quarter's network tile. */
	w = (dl_memwire_destroy(w), dl_memwire_create(&(struct dl_memwire_config){.nqueues = 4}));
	e = layout_engine(w, 36, 4, DL_LAYOUT_QUADRANT_DEDICATED, NULL, 6);
	assert_non_null(e);
	assert_int_equal(e->nquadrants, 4);
	unsigned per_quarter[4] = {0};
	int net_of_quarter[4] = {-1, -1, -1, -1};
	for (unsigned i = 0; i < 36; i++) {
		unsigned x = i % 6, y = i / 6, q = (y >= 3) * 2 + (x >= 3);
		/* Dense numbering in order of first appearance: 0 1 (row 0), 2 3 (row 3). */
		assert_int_equal(e->cores[i].quadrant, (int)q);
		if (is_net(e, i)) {
			per_quarter[q]++;
			net_of_quarter[q] = (int)i;
		}
	}
	for (unsigned q = 0; q < 4; q++)
		assert_int_equal(per_quarter[q], 1);
	for (unsigned i = 0; i < 36; i++) {
		if (is_net(e, i))
			continue;
		for (unsigned q = 0; q < 4; q++)
			assert_int_equal(dl_coreset_has(&e->links[i], (unsigned)net_of_quarter[q]),
					 q == (unsigned)e->cores[i].quadrant);
	}
	dl_engine_destroy(e);
	dl_memwire_destroy(w);
}

static void test_layout_errors_are_explained(void **s)
{
	struct dl_engine_conf ec;
	char err[256];
	(void)s;

	memset(&ec, 0, sizeof(ec));
	struct dl_memwire *w = dl_memwire_create(&(struct dl_memwire_config){.nqueues = 4});
	ec.nic = dl_memwire_nic(w, 0);
	ec.app = &h_echo_app;
	ec.quiet = true;
	ec.mode = DL_MODE_DLIBOS;
	ec.ncores = 2;
	ec.net_cores = 2;
	dl_stack_config_defaults(&ec.stack);
	assert_null(dl_engine_create(&ec, err, sizeof(err)));
	assert_non_null(strstr(err, "--net-cores"));
	ec.net_cores = 0;
	assert_null(dl_engine_create(&ec, err, sizeof(err)));
	/* 4 cores in 2 quadrants, 1 network core: one quadrant has none. */
	ec.ncores = 4;
	ec.net_cores = 1;
	ec.layout = DL_LAYOUT_QUADRANT_DEDICATED;
	assert_null(dl_engine_create(&ec, err, sizeof(err)));
	assert_non_null(strstr(err, "quadrant-dedicated"));
	/* More network cores than NIC queues. */
	ec.layout = DL_LAYOUT_NAIVE;
	ec.ncores = 8;
	ec.net_cores = 5;
	assert_null(dl_engine_create(&ec, err, sizeof(err)));
	assert_non_null(strstr(err, "queues"));
	dl_memwire_destroy(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rtc_one_core),
		cmocka_unit_test(test_rtc_two_cores_handoff),
		cmocka_unit_test(test_dlibos_1_1),
		cmocka_unit_test(test_dlibos_2_2),
		cmocka_unit_test(test_dlibos_1_3_least_loaded),
		cmocka_unit_test(test_dlibos_quadrant_all),
		cmocka_unit_test(test_dlibos_quadrant_dedicated),
		cmocka_unit_test(test_dlibos_beyond_64_cores),
		cmocka_unit_test(test_dlibos_pairs_messages),
		cmocka_unit_test(test_hoarding_core_stalls_only_itself),
		cmocka_unit_test(test_dispatch_decision),
		cmocka_unit_test(test_layout_placements),
		cmocka_unit_test(test_layout_errors_are_explained),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
