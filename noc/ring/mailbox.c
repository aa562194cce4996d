/*
 * mailbox.c - round-robin polling of a core's incoming channels (see
 * dl_mailbox.h).
 */
#include "dl_mailbox.h"

#include <assert.h>
#include <string.h>

void dl_mailbox_init(struct dl_mailbox *mb, unsigned quota)
{
	memset(mb, 0, sizeof(*mb));
	mb->quota = quota != 0 ? quota : DL_MAILBOX_DEFAULT_QUOTA;
}

int dl_mailbox_add(struct dl_mailbox *mb, unsigned src, struct dl_chan_cons *c)
{
	if (src >= DL_MAX_CORES || c == NULL)
		return -EINVAL;
	for (unsigned i = 0; i < mb->n; i++)
		if (mb->src[i] == src)
			return -EEXIST;
	if (mb->n >= DL_MAX_CORES)
		return -ENOSPC;
	mb->chan[mb->n] = c;
	mb->src[mb->n] = (uint16_t)src;
	mb->n++;
	return 0;
}

/* Take up to @p max messages from channel @p i and hand them to @p fn. */
static unsigned serve(struct dl_mailbox *mb, unsigned i, unsigned max, dl_mailbox_fn fn, void *arg)
{
	unsigned words, off = 0;
	int got = dl_chan_recv(mb->chan[i], mb->buf, DL_MAILBOX_BUF_WORDS, max, &words);

	if (got <= 0)
		return 0; /* empty, or broken (counted by the channel) */
	for (int k = 0; k < got; k++) {
		unsigned n = dl_msg_hdr_words(mb->buf[off]);

		assert(n >= 1 && off + n <= words);
		fn(arg, mb->src[i], &mb->buf[off], n);
		off += n;
	}
	return (unsigned)got;
}

unsigned dl_mailbox_poll(struct dl_mailbox *mb, unsigned budget, dl_mailbox_fn fn, void *arg)
{
	unsigned delivered = 0, i = mb->next;
	bool more = true;

	if (!dl_mailbox_ready(mb))
		return 0;
	if (i >= mb->n)
		i = 0;
	/* Passes over every channel, each served up to its quota, starting
	 * after the last channel served. Another pass only while a channel
	 * filled its quota (it may hold more) and the budget lasts. */
	while (more && delivered < budget) {
		more = false;
		for (unsigned k = 0; k < mb->n && delivered < budget; k++) {
			unsigned want = budget - delivered < mb->quota ? budget - delivered : mb->quota;
			unsigned got = serve(mb, i, want, fn, arg);

			i = i + 1 == mb->n ? 0 : i + 1;
			if (got > 0) {
				delivered += got;
				mb->next = i; /* after the last served channel */
				more |= got == want;
			}
		}
	}
	return delivered;
}
