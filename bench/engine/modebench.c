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
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <valgrind/callgrind.h>

#include "../../test/engine/engine_harness.h"
#include "dl_engine.h"

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
	if (h_setup(&h, mode, mode == DL_MODE_RTC ? 1 : 2, 1, DL_LAYOUT_NAIVE, DL_DISPATCH_RR) != 0)
		return 1;
	h.pingpong = 64;
	/* Warm up (handshake, ARP, first exchanges) outside the measurement. */
	h_open(&h, 1, (uint64_t)(warmup + exchanges) * 64);
	while (h.conns[0].recvd < (uint64_t)warmup * 64)
		h_round(&h, 10);
	uint64_t msgs0 = dl_engine_noc_messages(h.e);
	uint64_t rounds = 0;
	h.before_engine = on;
	h.after_engine = on;
	while (h.conns[0].recvd < (uint64_t)(warmup + exchanges) * 64 && rounds < 100000000ull) {
		h_round(&h, 10);
		rounds++;
	}
	h.before_engine = h.after_engine = NULL;
	uint64_t msgs = dl_engine_noc_messages(h.e) - msgs0;
	printf("mode %s: %u exchanges of 64 bytes in %llu rounds, %.2f NoC messages per exchange, "
	       "corrupt %llu\n",
	       mode == DL_MODE_RTC ? "rtc" : "dlibos", exchanges, (unsigned long long)rounds,
	       (double)msgs / exchanges, (unsigned long long)h.corrupt);
	h_teardown(&h);
	return h.corrupt != 0;
usage:
	fprintf(stderr, "usage: %s [--mode rtc|dlibos] [--exchanges N]\n", argv[0]);
	return 2;
}
