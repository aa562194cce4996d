/*
 * dl_stats.h - named per-core counters.
 *
 * Every drop and error path in DLibOS increments a counter. A module keeps
 * its counters as a plain uint64_t array in per-core state (written by that
 * core only, no atomics) and registers the array once with a name table.
 * dl_stats_dump() prints the sum over cores (and the per-core values) of
 * every registered counter; the runtime calls it on exit and on SIGUSR1.
 *
 * Pattern for a module:
 *
 *     enum dl_ipv4_cnt { IPV4_RX, IPV4_BAD_CSUM, IPV4_NCNT };
 *     static const char *const ipv4_cnt_names[IPV4_NCNT] = {
 *             [IPV4_RX] = "rx_packets", [IPV4_BAD_CSUM] = "drop_bad_checksum" };
 *     ... uint64_t cnt[IPV4_NCNT] in the per-core struct; s->cnt[IPV4_RX]++;
 *     dl_stats_register(&blk, "ipv4", ipv4_cnt_names, IPV4_NCNT, s->cnt, core);
 *
 * Reading while cores run is racy but harmless (aligned 64-bit loads).
 */
#ifndef DL_STATS_H
#define DL_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/** One core's counters of one module. Storage owned by the module. */
struct dl_counter_block {
	const char *module;       /**< e.g. "ipv4" */
	const char *const *names; /**< n counter names */
	unsigned n;
	uint64_t *values; /**< n values, written by the owning core only */
	int core;         /**< core index, -1 for process-wide */
	struct dl_counter_block *next;
};

/**
 * Register a block (thread-safe; normally done before cores start).
 * The block and the arrays must outlive the registration.
 */
void dl_stats_register(struct dl_counter_block *blk, const char *module,
		       const char *const *names, unsigned n, uint64_t *values, int core);

/** Remove a block (thread-safe). Safe if not registered. */
void dl_stats_unregister(struct dl_counter_block *blk);

/**
 * Print every counter: "module.name total [per-core values]".
 * @param all false to print only non-zero counters.
 */
void dl_stats_dump(FILE *f, bool all);

/** Sum of module.name over all registered cores (0 if unknown). */
uint64_t dl_stats_get(const char *module, const char *name);

/**
 * Call @p fn for every registered block, in registration order, with the
 * registry locked (telemetry: @p fn reads values with relaxed loads and
 * must not register or unregister).
 */
void dl_stats_visit(void (*fn)(void *arg, const struct dl_counter_block *b), void *arg);

#endif
