/*
 * dl_tp.h (noc/ring) - the x86 NoC transport: the contract of
 * dl_transport.h over single-producer single-consumer rings of words in
 * shared memory (dl_chan.h), one per (sender, receiver) pair, with the
 * receiving core's rings polled round-robin (dl_mailbox.h).
 *
 * The fabric (fabric.c) lays the rings out in one memory block, numbered
 * row by row from a plan (cores and which pairs talk), so that two
 * processes that make the same plan find every ring at the same offset:
 * that is how protected mode shares a slot's fabric (dl_noc_fabric_map()).
 *
 * An out-port is a ring's producer handle: credits are cached and the
 * consumer's head re-read only when they run short; a message that fits
 * without wrapping goes out through dl_chan_put_now_flat() (the send fast
 * path). An in-side holds the consumer handles of every ring that ends at
 * the core; with a single ring (an application core talking to one
 * network core, the common case) it is read directly, without the round
 * robin.
 */
#ifndef DL_TP_H
#define DL_TP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dl_chan.h"
#include "dl_coreset.h"
#include "dl_mailbox.h"

struct dl_noc_fabric;

/** An out-port: the producer side of the ring to one destination. */
struct dl_tp_out {
	struct dl_chan_prod prod;
};

/** A core's in-side: the consumer sides of the rings that end at it. */
struct dl_tp_in {
	struct dl_chan_cons *one;		/**< the only ring, NULL when none or several */
	unsigned one_src;			/**< its source core */
	struct dl_mailbox mb;			/**< every ring (round robin when several) */
	struct dl_chan_cons chan[DL_MAX_CORES]; /**< by source core */
};

/* ---- out-port ---- */

static inline bool dl_tp_out_fast_ok(const struct dl_tp_out *o, const uint64_t *msg, unsigned n)
{
	return dl_chan_check_msg(&o->prod, msg, n) == 0 &&
	       dl_chan_credits(&o->prod) >= n && /* 0 when broken */
	       dl_chan_flat(&o->prod, n);
}

static inline void dl_tp_out_put_fast(struct dl_tp_out *o, const uint64_t *msg, unsigned n)
{
	dl_chan_put_now_flat(&o->prod, msg, n);
}

static inline int dl_tp_out_check(const struct dl_tp_out *o, const uint64_t *msg, unsigned n)
{
	return dl_chan_check_msg(&o->prod, msg, n);
}

static inline bool dl_tp_out_broken(const struct dl_tp_out *o)
{
	return o->prod.broken;
}

static inline int dl_tp_out_reserve(struct dl_tp_out *o, unsigned n)
{
	return dl_chan_reserve(&o->prod, n);
}

static inline void dl_tp_out_put_now(struct dl_tp_out *o, const uint64_t *msg, unsigned n)
{
	dl_chan_put_now(&o->prod, msg, n);
}

static inline void dl_tp_out_put_batch(struct dl_tp_out *o, const uint64_t *msg, unsigned n)
{
	dl_chan_put_words(&o->prod, msg, n);
}

static inline void dl_tp_out_publish(struct dl_tp_out *o)
{
	dl_chan_publish(&o->prod);
}

/* A ring never holds part of a message: after a put or a publish every
 * message is in the ring. */
static inline bool dl_tp_out_idle(const struct dl_tp_out *o)
{
	(void)o;
	return true;
}

static inline unsigned dl_tp_out_credits_now(const struct dl_tp_out *o)
{
	const struct dl_chan_prod *p = &o->prod;
	uint64_t head, tail;

	if (p->head_shared == NULL || __atomic_load_n(&p->broken, __ATOMIC_RELAXED))
		return 0;
	/* The consumer's head first: the tail read after it is never behind it. */
	head = __atomic_load_n(p->head_shared, __ATOMIC_ACQUIRE);
	tail = __atomic_load_n(&p->tail, __ATOMIC_RELAXED);
	return tail - head >= p->cap - 1 ? 0 : (unsigned)(p->cap - 1 - (tail - head));
}

/* ---- in-side ---- */

static inline unsigned dl_tp_in_sources(const struct dl_tp_in *in)
{
	return in->mb.n;
}

static inline bool dl_tp_in_ready(const struct dl_tp_in *in)
{
	/* One ring: one load and a compare. */
	if (in->one != NULL)
		return dl_chan_cons_ready(in->one);
	return dl_mailbox_ready(&in->mb);
}

/* One ring: no round robin to do, so messages are taken straight from it,
 * a quota at a time as the mailbox would. */
static inline __attribute__((always_inline)) unsigned
dl_tp_ring_poll_one(struct dl_tp_in *in, unsigned budget, uint64_t *buf, unsigned room,
		    void (*fn)(void *, unsigned, const uint64_t *, unsigned), void *ctx)
{
	struct dl_chan_cons *c = in->one;
	const unsigned quota = in->mb.quota;
	unsigned delivered = 0;

	while (delivered < budget) {
		unsigned want = budget - delivered < quota ? budget - delivered : quota;
		unsigned off = 0;

		if (want == 0) /* delivered < budget, and quota >= 1 (dl_mailbox_init()) */
			__builtin_unreachable();
		/* Whole messages back to back, framed by the ring (each header's
		 * count checked against the ring and the room). */
		int got = dl_chan_recv(c, buf, room, want, NULL);

		if (got <= 0)
			break; /* empty, or broken (counted by the ring) */
		for (int k = 0; k < got; k++) {
			unsigned n = dl_msg_hdr_words(buf[off]);

			fn(ctx, in->one_src, &buf[off], n);
			off += n;
		}
		delivered += (unsigned)got;
		if ((unsigned)got < want)
			break; /* took all there was */
	}
	return delivered;
}

/* Two or more rings: the mailbox's round robin, out of line so that the
 * one-ring path above is the only copy of the receive code inlined into
 * the endpoint's poll (the compiler still specialises it for the
 * endpoint's constant @p fn). */
static __attribute__((noinline, unused)) unsigned
dl_tp_ring_poll_many(struct dl_tp_in *in, unsigned budget, uint64_t *buf, unsigned room,
		     void (*fn)(void *, unsigned, const uint64_t *, unsigned), void *ctx)
{
	return dl_mailbox_poll(&in->mb, budget, buf, room, fn, ctx);
}

static inline __attribute__((always_inline)) unsigned
dl_tp_in_poll(struct dl_tp_in *in, unsigned budget, uint64_t *buf, unsigned room,
	      void (*fn)(void *, unsigned, const uint64_t *, unsigned), void *ctx)
{
	if (in->one != NULL)
		return dl_tp_ring_poll_one(in, budget, buf, room, fn, ctx);
	return dl_tp_ring_poll_many(in, budget, buf, room, fn, ctx);
}

/* ---- what the ring fabric offers beyond the contract (tests, tools) ---- */

/** Memory of the ring @p src -> @p dst (dl_chan.h layout), NULL when there is none. */
void *dl_noc_fabric_chan(const struct dl_noc_fabric *f, unsigned src, unsigned dst);

/**
 * Offset of the ring @p src -> @p dst from the start of the fabric's
 * memory (its layout: dl_chan_layout()). @return 0, or -ENOENT when there
 * is no such ring.
 */
int dl_noc_fabric_chan_offset(const struct dl_noc_fabric *f, unsigned src, unsigned dst,
			      size_t *off);

#endif /* DL_TP_H */
