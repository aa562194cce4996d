/*
 * dl_coreset.h - sets of cores, as bitmaps of DL_MAX_CORES bits.
 *
 * DL_MAX_CORES is a build option (meson -Dmax_cores=N, default 128 as
 * DPDK's RTE_MAX_LCORE); every per-core table and every set of cores in
 * DLibOS is sized by it. A set is a small value type: copy it, compare it
 * word by word, iterate it with DL_CORESET_FOREACH.
 *
 * Thread-safety: plain memory; dl_coreset_set_atomic() is the one
 * operation meant for several writers (a bit per writer).
 */
#ifndef DL_CORESET_H
#define DL_CORESET_H

#include <stdbool.h>
#include <stdint.h>

#include "dl_build_config.h"

#ifndef DL_MAX_CORES
#error "dl_build_config.h must define DL_MAX_CORES"
#endif

/** 64-bit words in a core set. */
#define DL_CORESET_WORDS ((DL_MAX_CORES + 63) / 64)

/** A set of core indexes 0..DL_MAX_CORES-1. */
struct dl_coreset {
	uint64_t w[DL_CORESET_WORDS];
};

/** Empty the set. */
static inline void dl_coreset_zero(struct dl_coreset *s)
{
	for (unsigned i = 0; i < DL_CORESET_WORDS; i++)
		s->w[i] = 0;
}

/** Add core @p c (ignored when c >= DL_MAX_CORES). */
static inline void dl_coreset_set(struct dl_coreset *s, unsigned c)
{
	if (c < DL_MAX_CORES)
		s->w[c / 64] |= UINT64_C(1) << (c % 64);
}

/** Add core @p c with an atomic OR (release): several writers, one bit each. */
static inline void dl_coreset_set_atomic(struct dl_coreset *s, unsigned c)
{
	if (c < DL_MAX_CORES)
		__atomic_fetch_or(&s->w[c / 64], UINT64_C(1) << (c % 64), __ATOMIC_RELEASE);
}

/** Remove core @p c. */
static inline void dl_coreset_clr(struct dl_coreset *s, unsigned c)
{
	if (c < DL_MAX_CORES)
		s->w[c / 64] &= ~(UINT64_C(1) << (c % 64));
}

/** True when core @p c is in the set (false when c >= DL_MAX_CORES). */
static inline bool dl_coreset_has(const struct dl_coreset *s, unsigned c)
{
	return c < DL_MAX_CORES && (s->w[c / 64] >> (c % 64) & 1) != 0;
}

/** Add cores [@p from, @p to) (clamped to DL_MAX_CORES). */
static inline void dl_coreset_fill(struct dl_coreset *s, unsigned from, unsigned to)
{
	for (unsigned c = from; c < to && c < DL_MAX_CORES; c++)
		dl_coreset_set(s, c);
}

/** True when the set is empty. */
static inline bool dl_coreset_empty(const struct dl_coreset *s)
{
	uint64_t any = 0;

	for (unsigned i = 0; i < DL_CORESET_WORDS; i++)
		any |= s->w[i];
	return any == 0;
}

/** Number of cores in the set. */
static inline unsigned dl_coreset_count(const struct dl_coreset *s)
{
	unsigned n = 0;

	for (unsigned i = 0; i < DL_CORESET_WORDS; i++)
		n += (unsigned)__builtin_popcountll(s->w[i]);
	return n;
}

/** True when both sets hold the same cores. */
static inline bool dl_coreset_equal(const struct dl_coreset *a, const struct dl_coreset *b)
{
	uint64_t diff = 0;

	for (unsigned i = 0; i < DL_CORESET_WORDS; i++)
		diff |= a->w[i] ^ b->w[i];
	return diff == 0;
}

/** True when every core of @p a is in @p b. */
static inline bool dl_coreset_subset(const struct dl_coreset *a, const struct dl_coreset *b)
{
	uint64_t extra = 0;

	for (unsigned i = 0; i < DL_CORESET_WORDS; i++)
		extra |= a->w[i] & ~b->w[i];
	return extra == 0;
}

/** The smallest core >= @p from in the set, or -1. */
static inline int dl_coreset_next(const struct dl_coreset *s, unsigned from)
{
	for (unsigned i = from / 64; i < DL_CORESET_WORDS; i++) {
		uint64_t m = s->w[i];

		if (i == from / 64)
			m &= ~UINT64_C(0) << (from % 64);
		if (m != 0)
			return (int)(i * 64 + (unsigned)__builtin_ctzll(m));
	}
	return -1;
}

/** Loop over the cores of a set in increasing order (@p c: an int variable). */
#define DL_CORESET_FOREACH(c, s)                                                                   \
	for ((c) = dl_coreset_next((s), 0); (c) >= 0; (c) = dl_coreset_next((s), (unsigned)(c) + 1))

#endif /* DL_CORESET_H */
