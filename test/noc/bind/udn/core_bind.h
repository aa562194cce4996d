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

#endif
