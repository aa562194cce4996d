/*
 * dl_mailbox.h - a core's incoming rings, polled fairly (the ring
 * transport's receive side when two or more rings end at a core).
 *
 * A mailbox holds the consumer handles of every ring that ends at one
 * core. dl_mailbox_poll() visits them round-robin, starting after the ring
 * served last, takes at most `quota` messages from a ring per visit (one
 * head publication per visit) and stops after `budget` messages or after
 * a whole round in which no ring had anything. Between two visits of a
 * ring every other ring is visited once, so a sender that floods its ring
 * gets at most quota messages ahead of anybody else: it cannot starve the
 * others.
 *
 * Messages are copied out of the ring into the caller's buffer before the
 * handler sees them (whole messages: the header's word count has been
 * checked against what the producer published), but they are not decoded:
 * the endpoint (dl_noc.h) adds decoding and per-source class filtering.
 *
 * Thread-safety: a mailbox belongs to one core (thread).
 */
#ifndef DL_MAILBOX_H
#define DL_MAILBOX_H

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>

#include "dl_chan.h"
#include "dl_coreset.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Default messages per ring per visit. */
#define DL_MAILBOX_DEFAULT_QUOTA 16u
/** Words of the buffer a poll copies into (at least one maximum-size message). */
#define DL_MAILBOX_BUF_WORDS 2048u

/**
 * Called once per message, in arrival order per ring.
 * @param src the source core registered with dl_mailbox_add().
 * @param msg the whole message (header first), valid during the call only.
 * @param nwords its word count (dl_msg_hdr_words(msg[0])).
 */
typedef void (*dl_mailbox_fn)(void *arg, unsigned src, const uint64_t *msg, unsigned nwords);

struct dl_mailbox {
	unsigned n;	/**< rings */
	unsigned next;	/**< index visited first by the next poll */
	unsigned quota; /**< messages per ring per visit */
	struct dl_chan_cons *chan[DL_MAX_CORES];
	uint16_t src[DL_MAX_CORES];
};

/** Empty mailbox; @p quota 0 means DL_MAILBOX_DEFAULT_QUOTA. */
void dl_mailbox_init(struct dl_mailbox *mb, unsigned quota);

/**
 * Add the ring from core @p src (the handle must outlive the mailbox).
 * @return 0, -ENOSPC (DL_MAX_CORES rings already), -EEXIST (@p src is
 *         already there), -EINVAL (@p src >= DL_MAX_CORES).
 */
int dl_mailbox_add(struct dl_mailbox *mb, unsigned src, struct dl_chan_cons *c);

/**
 * True when some ring may hold a message (one acquire load per ring, no
 * side effects): the idle fast path callers inline before a poll.
 */
static inline bool dl_mailbox_ready(const struct dl_mailbox *mb)
{
	for (unsigned k = 0; k < mb->n; k++)
		if (dl_chan_cons_ready(mb->chan[k]))
			return true;
	return false;
}

/* Take up to @p max messages from ring @p i into @p buf and hand them to @p fn. */
static inline __attribute__((always_inline)) unsigned
dl_mailbox_serve(struct dl_mailbox *mb, unsigned i, unsigned max, uint64_t *buf, unsigned room,
		 dl_mailbox_fn fn, void *arg)
{
	unsigned words, off = 0;
	int got = dl_chan_recv(mb->chan[i], buf, room, max, &words);

	if (got <= 0)
		return 0; /* empty, or broken (counted by the ring) */
	for (int k = 0; k < got; k++) {
		unsigned n = dl_msg_hdr_words(buf[off]);

		assert(n >= 1 && off + n <= words);
		fn(arg, mb->src[i], &buf[off], n);
		off += n;
	}
	return (unsigned)got;
}

/**
 * Deliver up to @p budget messages to @p fn (see above for the order),
 * copying them through @p buf (@p room words). Broken rings are skipped
 * (their DL_CHAN_BROKEN counter says why). Inline so that a constant @p fn
 * is inlined too. @return messages delivered.
 */
static inline __attribute__((always_inline)) unsigned
dl_mailbox_poll(struct dl_mailbox *mb, unsigned budget, uint64_t *buf, unsigned room,
		dl_mailbox_fn fn, void *arg)
{
	unsigned delivered = 0, i = mb->next;
	bool more = true;

	if (!dl_mailbox_ready(mb))
		return 0;
	if (i >= mb->n)
		i = 0;
	/* Passes over every ring, each served up to its quota, starting after
	 * the last ring served. Another pass only while a ring filled its
	 * quota (it may hold more) and the budget lasts. */
	while (more && delivered < budget) {
		more = false;
		for (unsigned k = 0; k < mb->n && delivered < budget; k++) {
			unsigned want = budget - delivered < mb->quota ? budget - delivered : mb->quota;
			unsigned got = dl_mailbox_serve(mb, i, want, buf, room, fn, arg);

			i = i + 1 == mb->n ? 0 : i + 1;
			if (got > 0) {
				delivered += got;
				mb->next = i; /* after the last served ring */
				more |= got == want;
			}
		}
	}
	return delivered;
}

#ifdef __cplusplus
}
#endif

#endif /* DL_MAILBOX_H */
