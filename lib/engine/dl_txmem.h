/*
 * dl_txmem.h - the allocator behind dlibos_tx_alloc(): carves an
 * application's transmit region into 64-byte aligned blocks.
 *
 * First fit over an address-ordered free list kept in private memory, with
 * coalescing on free; a small header in front of each block (inside the
 * region: the application owns that memory anyway) records its size and a
 * magic word that catches double and foreign frees. Protected by a mutex:
 * meant for start-up and coarse allocations (slabs, preloaded responses),
 * not for every message.
 */
#ifndef DL_TXMEM_H
#define DL_TXMEM_H

#include "dl_hal.h"

#include <pthread.h>

struct dl_txmem_free; /* private free-list node */

struct dl_txmem {
	struct dl_region *region;
	pthread_mutex_t lock;
	struct dl_txmem_free *free; /* address-ordered */
	size_t used;                /* bytes handed out, headers included */
	uint64_t bad_frees;         /* frees of pointers we never returned */
};

/** Manage the whole of region r. @return 0 or -ENOMEM. */
int dl_txmem_init(struct dl_txmem *m, struct dl_region *r);

/** Release the allocator's private memory (not the region). */
void dl_txmem_fini(struct dl_txmem *m);

/** Allocate len bytes, 64-byte aligned; NULL when no block is large enough. */
void *dl_txmem_alloc(struct dl_txmem *m, size_t len);

/** Free a block; a pointer not from this allocator is counted and ignored. */
void dl_txmem_free(struct dl_txmem *m, void *p);

/** True if [p, p+len) is inside the region. */
bool dl_txmem_contains(const struct dl_txmem *m, const void *p, size_t len);

#endif
