/*
 * dl_rxcopy.h - received data copied into an application's own RX region
 * (protected mode on ports that cannot steer flows to per-application
 * buffers: net_tap, net_af_packet).
 *
 * The NIC writes every frame into the service's RX buffers, which no
 * application maps. Before a network core tells an application about new
 * data, it copies the payload into that application's RX region (a memfd
 * the application maps read-only), so an application can only ever read
 * data of its own connections: the confidentiality half of protected mode.
 *
 * A network core owns one share of each application's region (the region
 * is cut in as many shares as there are network cores: no sharing, no
 * locks). A share is an array of DL_RXC_CHUNK-byte chunks. Each
 * connection fills a chain of chunks in arrival order (payloads packed back
 * to back, so tiny segments cannot waste a chunk each; a payload that fits
 * a chunk is not split across two, so the application sees no more pieces
 * than the stack delivered segments); the application
 * returns bytes oldest first (recv_done), which frees whole chunks from the
 * head of its chain. Acknowledgements of different connections interleave
 * freely: chunks go back to the share's free stack in any order.
 *
 * A copy is all or nothing: when the share has too few free chunks, the
 * caller keeps the references (the stack still holds the original buffers)
 * and tries again after the application returned some (dl_rxcopy_room()).
 *
 * Thread-safety: a share belongs to one network core.
 */
#ifndef DL_RXCOPY_H
#define DL_RXCOPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dl_hal.h"
#include "dl_stack.h"

/** Bytes of one chunk of a share (a piece of received data that fits one
 *  is never split: a delivery has no more pieces than the stack gave). */
#define DL_RXC_CHUNK 16384u
/** "No chunk". */
#define DL_RXC_NONE UINT32_MAX

/** One connection's chain of chunks in a share. */
struct dl_rxc_conn {
	uint32_t id;	    /**< the stack's connection id */
	bool used;	    /**< table entry in use */
	uint32_t head;	    /**< oldest chunk, DL_RXC_NONE when the chain is empty */
	uint32_t tail;	    /**< newest chunk (being filled) */
	uint32_t head_ret;  /**< bytes of head already returned */
	uint32_t tail_used; /**< bytes of tail filled */
	uint64_t unret;	    /**< bytes copied and not returned */
	uint64_t steered;   /**< bytes the port steered into the region (no copy), not
				 returned; always older than the copied ones */
};

/** Counters of a share (the caller's array, DL_RXC_NCNT of them). */
enum dl_rxc_cnt {
	DL_RXC_COPIED_BYTES, /**< payload copied into the application's region */
	DL_RXC_COPIES,	     /**< copies made (one per delivery) */
	DL_RXC_NO_ROOM,	     /**< copies refused for want of chunks (deferred by the caller) */
	DL_RXC_BAD_RETURN,   /**< returns of more bytes than copied (refused) */
	DL_RXC_NCNT
};

/** One network core's share of an application's RX region. */
struct dl_rxcopy {
	struct dl_region *r; /**< the application's RX region */
	size_t off;	     /**< first byte of this share in r */
	uint32_t nchunks;
	uint32_t nfree;
	uint32_t free_top;	   /**< top of the free stack, DL_RXC_NONE if empty */
	uint32_t *next;		   /**< per chunk: next in its chain, or in the free stack */
	uint32_t *fill;		   /**< per chunk of a chain but its tail: bytes it holds */
	struct dl_rxc_conn *conns; /**< open-addressing table by id */
	uint32_t cap;		   /**< table slots (a power of two) */
	uint32_t nconns;	   /**< entries in use */
	uint64_t *cnt;		   /**< DL_RXC_NCNT counters */
};

/**
 * Set a share up over [@p off, @p off + @p len) of region @p r (whole
 * chunks; the rest is unused).
 * @param cnt DL_RXC_NCNT counters to increment (the caller's).
 * @return 0, -EINVAL (no whole chunk, or outside the region), -ENOMEM.
 */
int dl_rxcopy_init(struct dl_rxcopy *x, struct dl_region *r, size_t off, size_t len, uint64_t *cnt);

/** Free the share's bookkeeping (the region stays the caller's). Safe on a zeroed share. */
void dl_rxcopy_fini(struct dl_rxcopy *x);

/** True when a copy of @p in (@p n references) for @p id fits now. */
bool dl_rxcopy_fits(const struct dl_rxcopy *x, uint32_t id, const struct dl_rx_ref *in, unsigned n);

/**
 * Copy the payload of @p in (@p n references into the service's RX
 * buffers) to the end of connection @p id's chain, all or nothing.
 * @param out receives the references of the copies, in the region x->r
 *        (contiguous pieces merged), at most @p out_max.
 * @return the number of out references, -ENOBUFS (too few free chunks:
 *         nothing copied), -E2BIG (more than @p out_max references would
 *         be needed: nothing copied), -ENOMEM (the table could not grow).
 */
int dl_rxcopy_put(struct dl_rxcopy *x, uint32_t id, const struct dl_rx_ref *in, unsigned n,
		  struct dl_rx_ref *out, unsigned out_max);

/**
 * The application returned @p bytes of connection @p id (oldest first):
 * free the chunks they covered.
 * @return 0, or -EINVAL when that is more than was copied and not returned
 *         (nothing changes; counted).
 */
int dl_rxcopy_release(struct dl_rxcopy *x, uint32_t id, uint64_t bytes);

/** The connection is gone: free its whole chain. */
void dl_rxcopy_drop(struct dl_rxcopy *x, uint32_t id);

/**
 * Bytes given to connection @p id and not returned yet: steered (already
 * in the application's region, no copy) and copied.
 */
uint64_t dl_rxcopy_unreturned(const struct dl_rxcopy *x, uint32_t id);

/**
 * Whether data the port steered into the application's region may go to
 * it as is: only while nothing copied is outstanding for @p id (returns go
 * oldest first, steered bytes before copied ones).
 */
bool dl_rxcopy_steer_ok(const struct dl_rxcopy *x, uint32_t id);

/**
 * @p bytes of connection @p id reached the application without a copy
 * (the port steered them into its region). @return 0 or -ENOMEM.
 */
int dl_rxcopy_note_steered(struct dl_rxcopy *x, uint32_t id, uint64_t bytes);

#endif /* DL_RXCOPY_H */
