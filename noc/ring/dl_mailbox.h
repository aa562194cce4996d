/*
 * dl_mailbox.h - a core's incoming NoC channels, polled fairly.
 *
 * A mailbox holds the consumer handles of every channel that ends at one
 * core (at most DL_MAX_CORES). dl_mailbox_poll() visits them round-robin,
 * starting after the channel served last, takes at most `quota` messages
 * from a channel per visit (one head publication per visit) and stops after
 * `budget` messages or after a whole round in which no channel had
 * anything. Between two visits of a channel every other channel is visited
 * once, so a sender that floods its channel gets at most quota messages
 * ahead of anybody else: it cannot starve the others.
 *
 * Messages are copied out of the ring into the mailbox's private buffer
 * before the handler sees them (whole messages: the header's word count has
 * been checked against what the producer published), but they are not
 * decoded: dl_noc.h adds decoding and per-source class filtering.
 *
 * Thread-safety: a mailbox belongs to one core (thread).
 */
#ifndef DL_MAILBOX_H
#define DL_MAILBOX_H

#include <stdbool.h>
#include <stdint.h>

#include "dl_chan.h"
#include "dl_hal.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Default messages per channel per visit. */
#define DL_MAILBOX_DEFAULT_QUOTA 16u
/** Private copy buffer, in words (at least one maximum-size message). */
#define DL_MAILBOX_BUF_WORDS 2048u

/**
 * Called once per message, in arrival order per channel.
 * @param src the source core registered with dl_mailbox_add().
 * @param msg the whole message (header first), valid during the call only.
 * @param nwords its word count (dl_msg_hdr_words(msg[0])).
 */
typedef void (*dl_mailbox_fn)(void *arg, unsigned src, const uint64_t *msg, unsigned nwords);

struct dl_mailbox {
	unsigned n;	/**< channels */
	unsigned next;	/**< index visited first by the next poll */
	unsigned quota; /**< messages per channel per visit */
	struct dl_chan_cons *chan[DL_MAX_CORES];
	uint16_t src[DL_MAX_CORES];
	uint64_t buf[DL_MAILBOX_BUF_WORDS];
};

/** Empty mailbox; @p quota 0 means DL_MAILBOX_DEFAULT_QUOTA. */
void dl_mailbox_init(struct dl_mailbox *mb, unsigned quota);

/**
 * Add the channel from core @p src (the handle must outlive the mailbox).
 * @return 0, -ENOSPC (DL_MAX_CORES channels already), -EEXIST (@p src is
 *         already there), -EINVAL (@p src >= DL_MAX_CORES).
 */
int dl_mailbox_add(struct dl_mailbox *mb, unsigned src, struct dl_chan_cons *c);

/**
 * Deliver up to @p budget messages to @p fn (see above for the order).
 * Broken channels are skipped (their DL_CHAN_BROKEN counter says why).
 * @return messages delivered.
 */
unsigned dl_mailbox_poll(struct dl_mailbox *mb, unsigned budget, dl_mailbox_fn fn, void *arg);

/**
 * True when some channel may hold a message (one acquire load per channel,
 * no side effects): the idle fast path callers inline before a poll.
 */
static inline bool dl_mailbox_ready(const struct dl_mailbox *mb)
{
	for (unsigned k = 0; k < mb->n; k++)
		if (dl_chan_cons_ready(mb->chan[k]))
			return true;
	return false;
}

#ifdef __cplusplus
}
#endif

#endif /* DL_MAILBOX_H */
