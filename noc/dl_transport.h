/*
 * dl_transport.h - what a NoC transport provides to the endpoint.
 *
 * The endpoint (noc.c: overflow queues, accept rules, decoding, counters)
 * is written once against this contract; a transport implements it in a
 * folder of its own and the build picks the folder, file by file (its
 * directory is the one on the include path; nothing here or in the
 * endpoint says #ifdef):
 *
 *   noc/ring   x86: single-producer single-consumer rings of words in
 *              shared memory, one per (sender, receiver) pair, credits
 *              from the consumer's published head (dl_chan.h)
 *   noc/udn    TILE-Gx: UDN packets to the receiver tile's demux queue,
 *              credits from the local switch's FIFO count (paper §4.3)
 *
 * Each transport folder has a header named dl_tp.h that defines the types
 * below and the inline operations (hot paths: the compiler must see them
 * to keep a message send to a few dozen instructions), and C files for
 * the rest. This header includes it, then declares every operation again
 * with the contract's signature, so a transport that strays from the
 * contract does not compile.
 *
 * Rules every transport keeps (the endpoint relies on them):
 *   - messages are whole (header word first, dl_msg_hdr_words() words)
 *     and arrive in the order they were sent, per (sender, receiver);
 *   - a send never blocks and never drops: an operation that cannot take
 *     a message now says so (dl_tp_out_reserve() -ENOBUFS) and the
 *     endpoint keeps it in its overflow queue; a message the transport
 *     took but could only start sending (UDN: larger than the switch FIFO
 *     takes at once) is held by the out-port, which says so
 *     (dl_tp_out_idle() false) until dl_tp_out_publish() has sent the rest;
 *   - a receive copies each message out of shared memory or the network
 *     before anybody looks at it, framed by the header it checked, so a
 *     hostile sender cannot change a message under its reader;
 *   - a broken peer (a ring written against its protocol) is detected,
 *     counted once in the counter the endpoint passed, and reported as
 *     -EPIPE from then on.
 *
 * Threads: an out-port is used by its sending core only, an in-side by its
 * receiving core only; fabrics are created and destroyed on the control
 * path while no core runs.
 */
#ifndef DL_TRANSPORT_H
#define DL_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "dl_coreset.h"
#include "dl_tp.h" /* the transport the build chose */

struct dl_noc_fabric;

/**
 * Called by dl_tp_in_poll() for each message, in arrival order per source.
 * @p msg (@p n words, framing checked) is valid during the call only. The
 * endpoint passes a constant always-inline function, so the call is
 * inlined into the transport's receive loop.
 */
typedef void (*dl_tp_deliver_fn)(void *ctx, unsigned src, const uint64_t *msg, unsigned n);

/* ---- the fabric: which channels exist (out of line) ---------------------- */

/** Number of cores of the fabric. */
unsigned dl_tp_fabric_ncores(const struct dl_noc_fabric *f);

/**
 * For a transport planning a fabric (noc.c, shared by every transport):
 * the cores core @p s sends to, from the @p links argument of
 * dl_noc_fabric_create() (NULL: every other core of @p ncores).
 * @return 0, or -EINVAL when links[s] names a core at or past @p ncores.
 */
int dl_noc_links_of(const struct dl_coreset *links, unsigned ncores, unsigned s,
		    struct dl_coreset *out);

/**
 * Take core @p core's endpoint slot (one endpoint per core and fabric).
 * @return 0, -EINVAL (no such core), -EBUSY (taken).
 */
int dl_tp_fabric_claim(struct dl_noc_fabric *f, unsigned core);

/** Give the slot back (dl_noc_ep_destroy()). */
void dl_tp_fabric_release(struct dl_noc_fabric *f, unsigned core);

/* ---- an out-port: to one destination ------------------------------------ */

/**
 * Attach out-port @p o of core @p src to core @p dst.
 * @param cnt two counters the transport increments: [0] the port found
 *        broken (once), [1] credit re-reads (DL_CHAN_BROKEN / DL_CHAN_RELOADS).
 * @return 0, -ENOENT (no channel from @p src to @p dst), -EINVAL (the
 *         fabric's memory is not what it should be).
 */
int dl_tp_out_init(struct dl_tp_out *o, struct dl_noc_fabric *f, unsigned src, unsigned dst,
		   uint64_t *cnt);

/**
 * The send fast path's test: @p msg (@p n words) is well framed, the port
 * is not broken, it has the credits, and dl_tp_out_put_fast() may write
 * it now. False sends the caller to the slow path, which tells why.
 */
static inline bool dl_tp_out_fast_ok(const struct dl_tp_out *o, const uint64_t *msg, unsigned n);

/** Write @p msg and make it visible at once (after dl_tp_out_fast_ok()). */
static inline void dl_tp_out_put_fast(struct dl_tp_out *o, const uint64_t *msg, unsigned n);

/** Framing of @p msg: 0, -EINVAL (header and @p n disagree), -EMSGSIZE. */
static inline int dl_tp_out_check(const struct dl_tp_out *o, const uint64_t *msg, unsigned n);

/** True once the port was found broken (nothing is sent on it again). */
static inline bool dl_tp_out_broken(const struct dl_tp_out *o);

/**
 * Make sure @p n words can be written now (may re-read the credits).
 * @return 0, -ENOBUFS (not now: keep it and retry later), -EPIPE (broken).
 */
static inline int dl_tp_out_reserve(struct dl_tp_out *o, unsigned n);

/**
 * Write @p msg (reserved) and make it visible at once (or, for a message
 * the transport sends in parts, start it: dl_tp_out_idle()).
 */
static inline void dl_tp_out_put_now(struct dl_tp_out *o, const uint64_t *msg, unsigned n);

/**
 * Write @p msg (reserved) as part of a batch, visible at the latest at
 * dl_tp_out_publish() (a transport without batches sends it at once).
 */
static inline void dl_tp_out_put_batch(struct dl_tp_out *o, const uint64_t *msg, unsigned n);

/**
 * Make every message of the open batch visible (nothing open: nothing to
 * do), and send on what the port holds of a message sent in parts, as far
 * as the credits allow.
 */
static inline void dl_tp_out_publish(struct dl_tp_out *o);

/**
 * True when the port holds nothing it accepted (after dl_tp_out_put_now()
 * and dl_tp_out_publish()): every message is visible or in the network. A
 * transport that sends a large message in parts (UDN) holds the rest until
 * its credits allow; the endpoint keeps such a port dirty and calls
 * dl_tp_out_publish() at every dl_noc_flush() until it is idle. The ring
 * transport is always idle there.
 */
static inline bool dl_tp_out_idle(const struct dl_tp_out *o);

/**
 * For telemetry, from any thread while the sending core runs: the words
 * the port could send now (what the receiver has not taken yet leaves
 * out), 0 when broken. Approximate; never used to send. A transport
 * whose credits only the sending core can see (UDN: a switch register)
 * returns its last known value.
 */
static inline unsigned dl_tp_out_credits_now(const struct dl_tp_out *o);

/* ---- the in-side: everything that ends at one core ------------------------ */

/**
 * Attach core @p core's in-side to every channel that ends at it.
 * @param quota messages taken from one source before the others get a turn.
 * @param broken counter incremented (once per channel) when a source is
 *        found broken.
 * @return 0, -EINVAL.
 */
int dl_tp_in_init(struct dl_tp_in *in, struct dl_noc_fabric *f, unsigned core, unsigned quota,
		  uint64_t *broken);

/** Number of sources that can send to this core. */
static inline unsigned dl_tp_in_sources(const struct dl_tp_in *in);

/**
 * True when a message may be waiting (or a source is broken): the idle
 * check, a load or two and no side effect, inlined into every loop
 * iteration.
 */
static inline bool dl_tp_in_ready(const struct dl_tp_in *in);

/**
 * Take up to @p budget messages, fairly across sources (at most the quota
 * from one source while others wait), copying each into @p buf (@p room
 * words, at least DL_MSG_MAX_WORDS) and handing it to @p fn.
 * @return messages taken.
 */
static inline unsigned dl_tp_in_poll(struct dl_tp_in *in, unsigned budget, uint64_t *buf,
				     unsigned room, dl_tp_deliver_fn fn, void *ctx);

#endif /* DL_TRANSPORT_H */
