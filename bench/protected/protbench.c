/*
 * protbench.c - instructions per request/response, protected mode against
 * dlibos (threads) mode, in memory and deterministic.
 *
 *     valgrind --tool=callgrind --collect-atstart=no \
 *         dlibos-protbench --mode dlibos|protected|protected-shared [--exchanges N]
 *
 * The same harness as bench/engine/modebench.c (test/engine): one client
 * connection does N ping-pong exchanges of 64 bytes with the echo
 * application over the in-memory wire, in virtual time, and only the
 * server side runs between callgrind toggles.
 *
 *   dlibos     one engine, 1 network core + 1 application core (threads
 *              mode's code path);
 *   protected  the service's engine (DL_MODE_PROTECTED, one network core)
 *              and, as an attached process has, an engine in
 *              DL_MODE_ATTACHED running the application core over a slot
 *              fabric, with its own TX region registered in the slot.
 *              Both live in this process (one address space, so one
 *              callgrind count), but every message crosses the slot's
 *              fabric and every command is validated as it is when the
 *              application is another process; what differs from two
 *              processes is only the page mappings.
 *
 * Each round runs every server core once (network, then application). As
 * in modebench, a second phase of idle rounds gives the cost of an empty
 * iteration; both phases are separate callgrind dumps and the program
 * prints the idle iterations of each, so test/protected/bench_protected.sh
 * reports raw counts and counts net of idle polling.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <valgrind/callgrind.h>

#include "../../test/engine/engine_harness.h"
#include "dl_ctl.h"
#include "dl_engine.h"
#include "dl_noc.h"

static struct harness h;
static struct dl_engine *att; /* protected: the application's engine */
static struct dl_region *att_tx;
static struct dl_noc_fabric *att_fab;
static uint64_t att_iters, att_idle;
static bool measuring;

static void before(void)
{
	if (measuring)
		CALLGRIND_TOGGLE_COLLECT;
}

/* After the service's core: the attached application's core, then stop counting. */
static void after(void)
{
	if (att != NULL) {
		att_iters++;
		att_idle += dl_engine_core_iter(att, 1, h.now) == 0;
	}
	if (measuring)
		CALLGRIND_TOGGLE_COLLECT;
}

static int attach_app(bool rx_shared)
{
	struct dl_slot_grant g = {.n_app = 1, .rx_shared = rx_shared};
	struct dl_engine_conf ec;
	struct dl_coreset links[DL_MAX_CORES];
	char err[256];
	struct dl_region *fr;

	att_tx = dl_region_create("bench-app-tx", h_echo_app.tx_memory(), DL_REGION_SHARED);
	g.tx = att_tx;
	snprintf(g.name, sizeof(g.name), "bench");
	if (att_tx == NULL || dl_engine_slot_attach(h.e, 0, &g, err, sizeof(err)) != 0) {
		fprintf(stderr, "slot: %s\n", err);
		return -1;
	}
	fr = dl_engine_slot_fabric(h.e, 0);
	dl_engine_slot_links(1, 1, links);
	att_fab = dl_noc_fabric_attach(fr->base, dl_engine_slot_fabric_len(h.e, 0), 2,
				       dl_engine_noc_words(h.e), links);
	memset(&ec, 0, sizeof(ec));
	ec.mode = DL_MODE_ATTACHED;
	ec.ncores = 2;
	ec.net_cores = 1;
	for (unsigned i = 0; i < 2; i++)
		ec.cores[i] =
		    (struct dl_core_info){.id = i, .cpu = -1, .numa_node = -1, .x = -1, .y = -1};
	ec.app = &h_echo_app;
	ec.quiet = true;
	ec.noc_words = dl_engine_noc_words(h.e);
	ec.fab = att_fab;
	ec.tx_region = att_tx;
	att = dl_engine_create(&ec, err, sizeof(err));
	if (att == NULL || dl_engine_core_start(att, 1, h.now) != 0) {
		fprintf(stderr, "attached engine: %s\n", att == NULL ? err : "core start failed");
		return -1;
	}
	return 0;
}

static void detach_app(void)
{
	struct dl_region *tx = NULL;

	dl_engine_stop(att);
	dl_engine_destroy(att);
	dl_noc_fabric_destroy(att_fab);
	dl_engine_slot_detach(h.e, 0);
	for (int r = 0; r < 10 && !dl_engine_slot_quiet(h.e, 0); r++)
		h_round(&h, 1);
	dl_engine_slot_release(h.e, 0, &tx);
	dl_region_destroy(tx);
}

int main(int argc, char **argv)
{
	bool prot = false, shared = false;
	unsigned exchanges = 10000, warmup = 200;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc) {
			const char *m = argv[++i];
			if (strcmp(m, "protected") == 0)
				prot = true;
			else if (strcmp(m, "protected-shared") == 0)
				prot = shared = true;
			else if (strcmp(m, "dlibos") != 0)
				goto usage;
		} else if (strcmp(argv[i], "--exchanges") == 0 && i + 1 < argc) {
			exchanges = (unsigned)strtoul(argv[++i], NULL, 10);
		} else {
			goto usage;
		}
	}
	if (prot ? h_setup(&h, DL_MODE_PROTECTED, 1, 1, DL_LAYOUT_NAIVE, DL_DISPATCH_RR) != 0 ||
		       attach_app(shared) != 0
		 : h_setup(&h, DL_MODE_DLIBOS, 2, 1, DL_LAYOUT_NAIVE, DL_DISPATCH_RR) != 0)
		return 1;
	h.before_engine = before;
	h.after_engine = after;
	h.pingpong = 64;
	for (int r = 0; r < 5; r++) /* the application's listen reaches the network core */
		h_round(&h, 10);
	h_open(&h, 1, (uint64_t)(warmup + exchanges) * 64);
	while (h.conns[0].recvd < (uint64_t)warmup * 64)
		h_round(&h, 10);
	uint64_t rounds = 0, iters0 = h.core_iters + att_iters, idle0 = h.idle_iters + att_idle;
	CALLGRIND_ZERO_STATS;
	measuring = true;
	while (h.conns[0].recvd < (uint64_t)(warmup + exchanges) * 64 && rounds < 100000000ull) {
		h_round(&h, 10);
		rounds++;
	}
	uint64_t iters = h.core_iters + att_iters - iters0, idle = h.idle_iters + att_idle - idle0;
	CALLGRIND_DUMP_STATS_AT("exchanges");
	uint64_t iters1 = h.core_iters + att_iters, idle1 = h.idle_iters + att_idle;
	for (unsigned r = 0; r < 2000; r++)
		h_round(&h, 1);
	CALLGRIND_DUMP_STATS_AT("idle");
	measuring = false;
	printf("mode %s: %u exchanges of 64 bytes in %llu rounds, corrupt %llu\n",
	       shared ? "protected-shared" : prot ? "protected" : "dlibos", exchanges, (unsigned long long)rounds,
	       (unsigned long long)h.corrupt);
	printf("exchanges-phase core_iterations %llu idle %llu\n", (unsigned long long)iters,
	       (unsigned long long)idle);
	printf("idle-phase core_iterations %llu idle %llu\n",
	       (unsigned long long)(h.core_iters + att_iters - iters1),
	       (unsigned long long)(h.idle_iters + att_idle - idle1));
	h.before_engine = h.after_engine = NULL;
	if (att != NULL)
		detach_app();
	h_teardown(&h);
	return h.corrupt != 0 || h.conns[0].recvd < (uint64_t)(warmup + exchanges) * 64;
usage:
	fprintf(stderr, "usage: %s [--mode dlibos|protected|protected-shared] [--exchanges N]\n",
		argv[0]);
	return 2;
}
