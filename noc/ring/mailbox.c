/*
 * mailbox.c - set-up of a core's incoming rings (see dl_mailbox.h; the
 * round-robin poll is inline there).
 */
#include "dl_mailbox.h"

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
