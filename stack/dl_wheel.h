/*
 * dl_wheel.h - a hierarchical timing wheel (Varghese & Lauck, scheme 7; the
 * shape IX uses for TCP timers): O(1) insert and cancel, expiry work
 * proportional to the timers that fire plus one cascade per level crossed.
 *
 * Time is in microseconds and always passed in (dl_wheel_advance(w, now));
 * the wheel never reads a clock. It counts in ticks of 2^tick_shift us:
 * a timer due at time E fires at the first advance with now >= the start
 * of the tick containing E rounded up, i.e. never early and at most one
 * tick late. Level l has 64 slots of 64^l ticks each; a timer sits at the
 * level of the highest 6-bit group in which its tick differs from the
 * current tick and is moved down (cascaded) when the wheel reaches its
 * slot. Occupancy bitmaps make finding the next event a few instructions,
 * so idle stretches are skipped instead of stepped through tick by tick.
 *
 * Timers further away than the wheel's span (64^5 ticks) are parked in the
 * farthest slot and re-inserted when they surface: a node whose `expires`
 * is still in the future when its slot comes due goes back in, never fires.
 *
 * Nodes are embedded in their owner (container_of style); the wheel calls
 * one function for every expired node. The callback may insert or cancel
 * any node, including the one it was given.
 */
#ifndef DL_WHEEL_H
#define DL_WHEEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DL_WHEEL_BITS	6
#define DL_WHEEL_SLOTS	(1u << DL_WHEEL_BITS)
#define DL_WHEEL_LEVELS 5

/** A timer, embedded in its owner. Zero-initialised = not armed. */
struct dl_wheel_node {
	struct dl_wheel_node *next;
	struct dl_wheel_node **pprev; /**< NULL when not armed */
	uint64_t expires;	      /**< due time, microseconds */
};

struct dl_wheel;

/** Called for every expired node (already removed from the wheel). */
typedef void (*dl_wheel_fire_fn)(struct dl_wheel *w, struct dl_wheel_node *n, void *arg);

struct dl_wheel {
	uint64_t cur;  /**< next tick to process: every tick < cur is done */
	uint64_t next; /**< lower bound of the next event tick (cache) */
	unsigned tick_shift;
	size_t count; /**< armed nodes */
	dl_wheel_fire_fn fire;
	void *arg;
	uint64_t bitmap[DL_WHEEL_LEVELS];
	struct dl_wheel_node *slot[DL_WHEEL_LEVELS][DL_WHEEL_SLOTS];
	/* Earliest `expires` ever placed in a slot of level >= 1 since it was
	 * last emptied: lets dl_wheel_next() report the first timer rather
	 * than the cascade before it (a lower bound if that node was
	 * cancelled). */
	uint64_t slot_min[DL_WHEEL_LEVELS][DL_WHEEL_SLOTS];
};

/** Initialise an empty wheel whose current time is now_us. */
void dl_wheel_init(struct dl_wheel *w, unsigned tick_shift, uint64_t now_us, dl_wheel_fire_fn fire,
		   void *arg);

/** True when n is armed. */
static inline bool dl_wheel_armed(const struct dl_wheel_node *n)
{
	return n->pprev != NULL;
}

/** Arm n to fire at expires_us (re-arms it if already armed). */
void dl_wheel_insert(struct dl_wheel *w, struct dl_wheel_node *n, uint64_t expires_us);

/** Disarm n (no-op when not armed). */
void dl_wheel_cancel(struct dl_wheel *w, struct dl_wheel_node *n);

/** Fire every node due at now_us. Cheap when nothing is due. */
void dl_wheel_advance(struct dl_wheel *w, uint64_t now_us);

/**
 * Earliest time (us) at which an armed timer may fire: exact unless the
 * earliest timer of its slot was cancelled (then earlier). UINT64_MAX
 * when the wheel is empty. Never later than the earliest armed timer's
 * firing time.
 */
uint64_t dl_wheel_next(const struct dl_wheel *w);

/** Number of armed nodes. */
static inline size_t dl_wheel_count(const struct dl_wheel *w)
{
	return w->count;
}

#endif /* DL_WHEEL_H */
