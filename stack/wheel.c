/*
 * wheel.c - hierarchical timing wheel (see dl_wheel.h).
 *
 * Invariants, with cur the next unprocessed tick:
 *  - a level-0 node sits in slot (tick & 63) of the level-0 block holding
 *    cur, at or after cur;
 *  - a level-l node (l >= 1) sits in a slot after cur's slot at level l
 *    (or at it, when cur is exactly the slot's first tick), inside the
 *    level-(l+1) block holding cur. Its slot "comes due" (is cascaded) at
 *    the first tick of the slot.
 * So the next event of level l is the first tick of its lowest occupied
 * slot. A node is never placed at a tick before cur: a timer that is
 * already due fires at the next advance.
 *
 * Expired and cascading lists are moved to w->firing before any callback
 * runs, so callbacks may cancel nodes of the same batch safely (every
 * node's pprev stays valid).
 */
#include "dl_wheel.h"

#include <assert.h>
#include <string.h>

#define SPAN_BITS (DL_WHEEL_BITS * DL_WHEEL_LEVELS)

void dl_wheel_init(struct dl_wheel *w, unsigned tick_shift, uint64_t now_us, dl_wheel_fire_fn fire,
		   void *arg)
{
	memset(w, 0, sizeof(*w));
	memset(w->slot_min, 0xff, sizeof(w->slot_min));
	w->tick_shift = tick_shift;
	w->cur = now_us >> tick_shift;
	w->next = UINT64_MAX;
	w->fire = fire;
	w->arg = arg;
}

/* First tick whose start is at or after us (a timer never fires early). */
static uint64_t tick_ceil(const struct dl_wheel *w, uint64_t us)
{
	uint64_t mask = (1ull << w->tick_shift) - 1;

	if (us > UINT64_MAX - mask)
		return UINT64_MAX >> w->tick_shift;
	return (us + mask) >> w->tick_shift;
}

/* Tick at which slot s of level l comes due, seen from tick cur. */
static uint64_t event_tick(unsigned level, unsigned s, uint64_t cur)
{
	unsigned sh = DL_WHEEL_BITS * (level + 1);
	uint64_t base = sh >= 64 ? 0 : (cur >> sh) << sh;

	return base + ((uint64_t)s << (DL_WHEEL_BITS * level));
}

static void link_head(struct dl_wheel_node **head, struct dl_wheel_node *n)
{
	n->next = *head;
	if (n->next != NULL)
		n->next->pprev = &n->next;
	*head = n;
	n->pprev = head;
}

/* Put n (n->expires set, not linked) into its slot relative to w->cur. */
static void place(struct dl_wheel *w, struct dl_wheel_node *n)
{
	uint64_t t = tick_ceil(w, n->expires);
	uint64_t diff;
	unsigned level = 0, s;

	if (t < w->cur)
		t = w->cur;
	diff = t ^ w->cur;
	if (diff >> SPAN_BITS) {
		/* Beyond the span: park at the end of the current top block;
		 * it is re-placed when that slot comes due. */
		t = w->cur | ((1ull << SPAN_BITS) - 1);
		diff = t ^ w->cur;
	}
	if (diff != 0)
		level = (unsigned)(63 - __builtin_clzll(diff)) / DL_WHEEL_BITS;
	assert(level < DL_WHEEL_LEVELS);
	s = (unsigned)(t >> (DL_WHEEL_BITS * level)) & (DL_WHEEL_SLOTS - 1);
	link_head(&w->slot[level][s], n);
	w->bitmap[level] |= 1ull << s;
	w->count++;
	if (n->expires < w->slot_min[level][s])
		w->slot_min[level][s] = n->expires;

	uint64_t ev = event_tick(level, s, w->cur);
	if (ev < w->next)
		w->next = ev;
}

/* Unlink n; clear its slot's bit when the slot becomes empty. */
static void unlink_node(struct dl_wheel *w, struct dl_wheel_node *n)
{
	struct dl_wheel_node **pp = n->pprev;
	uintptr_t off = (uintptr_t)pp - (uintptr_t)&w->slot[0][0];

	*pp = n->next;
	if (n->next != NULL) {
		n->next->pprev = pp;
	} else if (off < sizeof(w->slot) && *pp == NULL) {
		size_t i = off / sizeof(w->slot[0][0]);
		w->bitmap[i / DL_WHEEL_SLOTS] &= ~(1ull << (i % DL_WHEEL_SLOTS));
		w->slot_min[i / DL_WHEEL_SLOTS][i % DL_WHEEL_SLOTS] = UINT64_MAX;
	}
	n->next = NULL;
	n->pprev = NULL;
	w->count--;
}

void dl_wheel_insert(struct dl_wheel *w, struct dl_wheel_node *n, uint64_t expires_us)
{
	if (n->pprev != NULL)
		unlink_node(w, n);
	n->expires = expires_us;
	place(w, n);
}

void dl_wheel_cancel(struct dl_wheel *w, struct dl_wheel_node *n)
{
	if (n->pprev != NULL)
		unlink_node(w, n);
}

static uint64_t compute_next(const struct dl_wheel *w)
{
	uint64_t best = UINT64_MAX;

	for (unsigned l = 0; l < DL_WHEEL_LEVELS; l++) {
		if (w->bitmap[l] == 0)
			continue;
		uint64_t ev = event_tick(l, (unsigned)__builtin_ctzll(w->bitmap[l]), w->cur);
		if (ev < best)
			best = ev;
	}
	return best;
}

/* Move slot (level, s) to the firing list (outside the slot array, so
 * unlinking from it never touches a bitmap). */
static void take_slot(struct dl_wheel *w, unsigned level, unsigned s, struct dl_wheel_node **firing)
{
	struct dl_wheel_node *list = w->slot[level][s];

	w->slot[level][s] = NULL;
	w->bitmap[level] &= ~(1ull << s);
	w->slot_min[level][s] = UINT64_MAX;
	*firing = list;
	if (list != NULL)
		list->pprev = firing;
}

/* dl_wheel_advance() when something is due at or before tick @p target
 * (out of line: the usual call, nothing due, needs no stack frame). */
static __attribute__((noinline)) void advance_due(struct dl_wheel *w, uint64_t now_us,
						  uint64_t target)
{
	struct dl_wheel_node *firing = NULL; /* the batch being expired or cascaded */

	for (;;) {
		uint64_t ev = compute_next(w);
		struct dl_wheel_node *n;
		unsigned level;

		w->next = ev;
		if (ev > target)
			break;
		assert(ev >= w->cur);
		w->cur = ev;
		/* Highest level first: when a slot of a higher level comes due
		 * at the same tick as level-0 timers (the fast path may leave
		 * cur at the first tick of an occupied slot), its timers must
		 * join level 0 before that tick fires. */
		for (level = DL_WHEEL_LEVELS; level-- > 0;)
			if (w->bitmap[level] != 0 &&
			    event_tick(level, (unsigned)__builtin_ctzll(w->bitmap[level]), ev) ==
				ev)
				break;
		assert(level < DL_WHEEL_LEVELS);
		unsigned s = (unsigned)(ev >> (DL_WHEEL_BITS * level)) & (DL_WHEEL_SLOTS - 1);

		take_slot(w, level, s, &firing);
		if (level == 0) {
			/* Expire: callbacks see cur past this tick, so what they
			 * arm lands in a later slot. */
			w->cur = ev + 1;
			w->next = UINT64_MAX;
			while ((n = firing) != NULL) {
				unlink_node(w, n);
				if (n->expires > now_us)
					place(w, n); /* parked beyond the span */
				else
					w->fire(w, n, w->arg);
			}
		} else {
			/* Cascade: re-place relative to cur (lower levels). */
			while ((n = firing) != NULL) {
				unlink_node(w, n);
				place(w, n);
			}
		}
	}
	if (target >= w->cur)
		w->cur = target + 1;
}

void dl_wheel_advance(struct dl_wheel *w, uint64_t now_us)
{
	uint64_t target = now_us >> w->tick_shift;

	if (target >= w->next) {
		advance_due(w, now_us, target);
		return;
	}
	/* Nothing due: every event is after target. */
	if (target >= w->cur)
		w->cur = target + 1;
}

uint64_t dl_wheel_next(const struct dl_wheel *w)
{
	uint64_t best = UINT64_MAX;

	/* In each level the lowest occupied slot holds its earliest timers;
	 * a slot of level >= 1 may start at cur, so every level counts. */
	for (unsigned l = 0; l < DL_WHEEL_LEVELS; l++) {
		if (w->bitmap[l] == 0)
			continue;
		unsigned s = (unsigned)__builtin_ctzll(w->bitmap[l]);
		uint64_t ev = event_tick(l, s, w->cur);
		if (l > 0) {
			uint64_t t = tick_ceil(w, w->slot_min[l][s]);
			if (t > ev)
				ev = t;
		}
		if (ev < best)
			best = ev;
	}
	if (best > (UINT64_MAX >> w->tick_shift))
		return UINT64_MAX;
	return best << w->tick_shift;
}
