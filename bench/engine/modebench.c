/*
 * modebench.c - instructions per request/response in each execution mode.
 *
 * One client connection does N ping-pong exchanges of 64 bytes with the
 * echo application over the in-memory wire, in virtual time. The server
 * (every engine core: stack, NoC, application) runs between callgrind
 * toggles, the client outside them, so
 *
 *     valgrind --tool=callgrind --collect-atstart=no \
 *         dlibos-modebench --mode rtc|dlibos [--exchanges N]
 *
 * counts the server side only, summed over all its cores (the wire's
 * RX/TX functions, our PMD stand-in, are inside and are reported apart by
 * bench/modes.sh). The program also prints NoC messages per exchange.
 *
 * The lock-step rounds make cores iterate without work (a dlibos exchange
 * needs three rounds, an rtc one two). So that polling an empty queue is
 * not billed to requests, a second phase iterates each core alone with
 * nothing to do, one callgrind dump per core ("exchanges", then "idle
 * core" for core 0, 1, ...); the program prints each core's idle
 * iterations in both phases, from which bench/modes.sh derives each
 * core's idle iteration cost and the instructions per exchange net of
 * idle polling (both figures reported).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <valgrind/callgrind.h>

#include "../../test/engine/engine_harness.h"
#include "dl_engine.h"

#define IDLE_ROUNDS 2000u

static void on(void)
{
	CALLGRIND_TOGGLE_COLLECT;
}

int main(int argc, char **argv)
{
	enum dl_mode mode = DL_MODE_RTC;
	unsigned exchanges = 10000, warmup = 200;
	struct harness h;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc) {
			const char *m = argv[++i];
			if (strcmp(m, "rtc") == 0)
				mode = DL_MODE_RTC;
			else if (strcmp(m, "dlibos") == 0)
				mode = DL_MODE_DLIBOS;
			else
				goto usage;
		} else if (strcmp(argv[i], "--exchanges") == 0 && i + 1 < argc) {
			exchanges = (unsigned)strtoul(argv[++i], NULL, 10);
		} else {
			goto usage;
		}
	}
	unsigned ncores = mode == DL_MODE_RTC ? 1 : 2;
	if (h_setup(&h, mode, ncores, 1, DL_LAYOUT_NAIVE, DL_DISPATCH_RR) != 0)
		return 1;
	h.pingpong = 64;
	/* Warm up (handshake, ARP, first exchanges) outside the measurement. */
	h_open(&h, 1, (uint64_t)(warmup + exchanges) * 64);
	while (h.conns[0].recvd < (uint64_t)warmup * 64)
		h_round(&h, 10);
	uint64_t msgs0 = dl_engine_noc_messages(h.e);
	uint64_t rounds = 0, iters0 = h.core_iters, idle0 = h.idle_iters;
	uint64_t idle_base[DL_MAX_CORES];
	for (unsigned i = 0; i < ncores; i++)
		idle_base[i] = h.idle_core[i];
	/* MODEBENCH_PROFILE=1: one cumulative profile (for callgrind_annotate)
	 * instead of the phase dumps. */
	bool profile = getenv("MODEBENCH_PROFILE") != NULL;
	if (!profile)
		CALLGRIND_ZERO_STATS;
	h.before_engine = on;
	h.after_engine = on;
	while (h.conns[0].recvd < (uint64_t)(warmup + exchanges) * 64 && rounds < 100000000ull) {
		h_round(&h, 10);
		rounds++;
	}
	uint64_t msgs = dl_engine_noc_messages(h.e) - msgs0;
	uint64_t iters = h.core_iters - iters0, idle = h.idle_iters - idle0;
	uint64_t ex_idle[DL_MAX_CORES];
	for (unsigned i = 0; i < ncores; i++)
		ex_idle[i] = h.idle_core[i];
	if (!profile)
		CALLGRIND_DUMP_STATS_AT("exchanges");
	h.before_engine = h.after_engine = NULL;
	/* Phase 2: the cost of an idle iteration, core by core (a network
	 * core's idle iteration costs more than an application core's), one
	 * callgrind dump each. The connection is quiet: no timer is due. */
	uint64_t idle_it[DL_MAX_CORES];
	for (unsigned i = 0; i < ncores; i++) {
		idle_it[i] = 0;
		h_core_enter(i);
		if (!profile)
			CALLGRIND_TOGGLE_COLLECT;
		for (unsigned r = 0; r < IDLE_ROUNDS; r++) {
			idle_it[i] += dl_engine_core_iter(h.e, i, h.now) == 0;
			h.now++;
		}
		if (!profile) {
			CALLGRIND_TOGGLE_COLLECT;
			CALLGRIND_DUMP_STATS_AT("idle core");
		}
	}
	printf("mode %s: %u exchanges of 64 bytes in %llu rounds, %.2f NoC messages per exchange, "
	       "corrupt %llu\n",
	       mode == DL_MODE_RTC ? "rtc" : "dlibos", exchanges, (unsigned long long)rounds,
	       (double)msgs / exchanges, (unsigned long long)h.corrupt);
	printf("exchanges-phase core_iterations %llu idle %llu\n", (unsigned long long)iters,
	       (unsigned long long)idle);
	for (unsigned i = 0; i < ncores; i++)
		printf("core %u exchanges-phase idle %llu idle-phase iterations %u idle %llu\n", i,
		       (unsigned long long)(ex_idle[i] - idle_base[i]), IDLE_ROUNDS,
		       (unsigned long long)idle_it[i]);
	h_teardown(&h);
	return h.corrupt != 0;
usage:
	fprintf(stderr, "usage: %s [--mode rtc|dlibos] [--exchanges N]\n", argv[0]);
	return 2;
}
