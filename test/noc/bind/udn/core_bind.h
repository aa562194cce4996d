/*
 * core_bind.h (udn) - put the calling thread where core @p core runs, for
 * tests and benchmarks that drive NoC endpoints from their own threads
 * (or several from one thread, moving from tile to tile, which the MDE
 * model allows). On the UDN an endpoint is its tile's: the thread must be
 * bound to the tile (cpu @p core) and have activated the UDN inside a
 * hardwall. The hardwall, over every tile of the grid, is made on the
 * first call. Aborts when the model (or the hardware) refuses.
 */
#ifndef CORE_BIND_H
#define CORE_BIND_H

#include <tmc/cpus.h>
#include <tmc/udn.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static inline void test_core_bind_hardwall(void)
{
	cpu_set_t all;

	/* 1: a hardwall already covers them (made by another file of the test). */
	if (tmc_cpus_get_online_cpus(&all) != 0 || tmc_udn_init(&all) < 0) {
		fprintf(stderr, "test_core_bind: tmc_udn_init over the grid failed\n");
		abort();
	}
}

static inline void test_core_bind(unsigned core)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, test_core_bind_hardwall);
	if (tmc_cpus_get_my_cpu() == (int)core)
		return; /* already there (and activated there) */
	if (tmc_cpus_set_my_cpu((int)core) != 0 || tmc_udn_activate() != 0) {
		fprintf(stderr, "test_core_bind: cannot run core %u on tile %u\n", core, core);
		abort();
	}
}

/*
 * After the last fabric of a test is gone: read and drop every word still
 * waiting in the demux queues of tiles 0..ncores-1 (messages a stopped
 * engine sent and nobody read), until a whole pass finds none, so the next
 * test's tiles start with empty FIFOs, as a new process's do on hardware.
 * Leaves the thread on the last tile. @return the words dropped.
 */
static inline unsigned long test_core_drain(unsigned ncores)
{
	unsigned long dropped = 0, found;
	uint64_t w;

	do {
		found = 0;
		for (unsigned c = 0; c < ncores; c++) {
			test_core_bind(c);
			while (tmc_udn0_available_count() != 0)
				w = tmc_udn0_receive(), found++;
			while (tmc_udn1_available_count() != 0)
				w = tmc_udn1_receive(), found++;
			while (tmc_udn2_available_count() != 0)
				w = tmc_udn2_receive(), found++;
			while (tmc_udn3_available_count() != 0)
				w = tmc_udn3_receive(), found++;
		}
		dropped += found;
	} while (found != 0);
	(void)w;
	return dropped;
}

#endif
