/*
 * dl_rights.h - what an application may do, as the network cores enforce
 * it in protected mode: the TCP ports it may listen on and connect to,
 * and the rates of its sends and commands (token buckets). The engine
 * checks these for every command of an attached application; the policy
 * file (lib/protected, dl_policy.h) is how an administrator writes them.
 * Pure logic, unit-tested (test/protected/test_policy.c).
 */
#ifndef DL_RIGHTS_H
#define DL_RIGHTS_H

#include <stdbool.h>
#include <stdint.h>

/** Port ranges a grant may list. */
#define DL_RIGHTS_MAX_RANGES 32
/** A set of TCP ports. */
struct dl_port_set {
	bool any;
	unsigned n;
	struct {
		uint16_t lo, hi;
	} r[DL_RIGHTS_MAX_RANGES];
};

/** What an application may do. */
struct dl_rights {
	struct dl_port_set listen, connect;
	uint64_t send_rate; /**< bytes per second, 0 = unlimited */
	uint64_t cmd_rate;  /**< commands per second, 0 = unlimited */
	uint64_t rx_memory; /**< bytes of its own RX region, 0 = the service's default */
	unsigned line;	    /**< the policy file's line that granted them (0: built in) */
};

/** True when port is in the set. */
bool dl_port_set_has(const struct dl_port_set *s, uint16_t port);

/* ---- token bucket ------------------------------------------------------- */

/**
 * A token bucket in fixed point: tokens are counted in unit-microseconds
 * (one unit = 10^6), refilled by `rate` units per second of elapsed time,
 * capped at `burst` units. Taking may overdraw (a large SEND is admitted
 * whole); the bucket is then empty until refilled past zero.
 */
struct dl_bucket {
	uint64_t rate;	/**< units per second, 0 = unlimited */
	int64_t burst;	/**< cap, in unit-microseconds */
	int64_t tokens; /**< unit-microseconds (may be negative) */
	uint64_t last;	/**< time of the last refill, us */
};

/** Start full. rate 0 = unlimited; burst 0 = rate/10 (at least min_burst). */
void dl_bucket_init(struct dl_bucket *b, uint64_t rate, uint64_t burst, uint64_t min_burst,
		    uint64_t now_us);

/** Refill to now; true when tokens are left (always for an unlimited bucket). */
bool dl_bucket_ready(struct dl_bucket *b, uint64_t now_us);

/** Whole units available now (after dl_bucket_ready()); UINT64_MAX when unlimited. */
static inline uint64_t dl_bucket_avail(const struct dl_bucket *b)
{
	if (b->rate == 0)
		return UINT64_MAX;
	return b->tokens > 0 ? ((uint64_t)b->tokens + 999999) / 1000000 : 0;
}

/** Take n units (may overdraw). */
static inline void dl_bucket_take(struct dl_bucket *b, uint64_t n)
{
	/* The debt is bounded (2^62 unit-us) so the arithmetic cannot overflow. */
	const int64_t floor = -(INT64_C(1) << 62);
	int64_t v = n >= (UINT64_C(1) << 42) ? (INT64_C(1) << 62) : (int64_t)n * 1000000;

	if (b->rate == 0)
		return;
	b->tokens = b->tokens - floor < v ? floor : b->tokens - v;
}

#endif /* DL_RIGHTS_H */
