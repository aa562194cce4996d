/*
 * dl_helpers.h - the send and receive helpers of one application core
 * (dlibos_send_copy, dlibos_send_ref, dlibos_rx_*): the per-connection
 * accounting every application used to write itself.
 *
 * Independent of the engine: it acts on the outside world through a small
 * table of operations (in the library: dlibos_send, dlibos_recv_done, the
 * application's writable callback, dl_txmem_alloc; in the unit tests:
 * recorders), so it is tested alone against a model.
 *
 * Transmit memory for copies. A pool per application core, taken from the
 * TX region on first use, cut into DL_HELP_CHUNK-byte chunks. A connection
 * copies into its own chain of chunks: the chunk it is filling (its tail)
 * and older, full ones still unacknowledged. Each chunk counts the release
 * records that reference it; a connection's records sit in one queue in
 * send order, each with the stream offset at which the acknowledgements
 * cover it (copy records name a chunk; dlibos_send_ref records a completion).
 * data_acked pops the records it covers and a chunk goes back to the pool
 * when its last record is popped: chunks come back in whatever order the
 * acknowledgements of different connections arrive, none before every byte
 * copied into it was acknowledged. A connection whose copies are all
 * acknowledged keeps its tail, empty ("parked"), for its next copy; parked
 * chunks return to the pool as soon as it has no free one. A new chunk is taken next to the tail
 * when that one is free (consecutive chunks make one fragment for the
 * stack). A connection may hold at most conn_chunks chunks, so one stalled
 * peer cannot take the whole pool; the pool and that limit make
 * dlibos_send_copy take fewer bytes than asked, and the connection is
 * marked for one `writable` call once memory for what it wanted is back
 * (connections short of pool memory wait in a FIFO, woken in order).
 *
 * Receive queue. dlibos_rx_push() keeps the iovecs of a new_data event (the
 * bytes stay in RX memory); the gathering functions find a line, a fixed
 * size or a length-prefixed frame at the front, in place when it lies in
 * one iovec, copied once into the caller's buffer otherwise; consume drops
 * bytes from the front and returns them with recv_done, in order, never
 * more than were pushed.
 *
 * Connections are found by handle in an open-addressing table (with the
 * last one looked up cached); their state is created at their first
 * helper call and freed at cleanup. Single-threaded: one application core.
 */
#ifndef DL_HELPERS_H
#define DL_HELPERS_H

#include "dl_stats.h"
#include "dlibos/dlibos.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Bytes of a chunk of the copy pool. */
#define DL_HELP_CHUNK 2048u
/** Most chunks one connection may hold (its unacknowledged copies). */
#define DL_HELP_CONN_CHUNKS_MAX 512u
/** Received pieces one connection may have queued (dlibos_rx_push). */
#define DL_HELP_RX_PIECES_MAX 65536u
/** Longest header dlibos_rx_frame() reads a length from. */
#define DL_HELP_FRAME_HDR_MAX 256u

/* Counters (module "api", one block per application core). */
enum dl_help_cnt {
	HC_COPY_CALLS,	    /* dlibos_send_copy calls that took bytes */
	HC_COPY_BYTES,	    /* bytes copied and sent */
	HC_COPY_SHORT_POOL, /* calls that took fewer bytes than asked: pool exhausted */
	HC_COPY_SHORT_CONN, /* ... the connection holds its limit of chunks */
	HC_COPY_NO_POOL,    /* calls refused: the pool could not be allocated */
	HC_WRITABLE,	    /* writable events delivered */
	HC_REF_SENDS,	    /* dlibos_send_ref calls */
	HC_DONE_ACKED,	    /* completions: acknowledged */
	HC_DONE_ABORTED,    /* completions: the connection died first */
	HC_CHUNKS_IN_USE,   /* gauge: chunks holding unacknowledged copies */
	HC_CHUNKS_PEAK,	    /* gauge: most chunks ever in use at once */
	HC_CHUNKS_PARKED,   /* gauge: chunks kept empty by idle connections (in use) */
	HC_PARKED_RECLAIMS, /* pool dry: parked chunks taken back */
	HC_ACK_BEYOND_SENT, /* acknowledged bytes beyond what the helpers sent (mixing with
			       dlibos_send on one connection) */
	HC_SEND_ERRORS,	    /* dlibos_send refused what a helper passed on */
	HC_STATE_NOMEM,	    /* a helper call failed: no memory for connection state */
	HC_CONNS,	    /* gauge: connections with helper state */
	HC_RX_BYTES,	    /* bytes queued by dlibos_rx_push */
	HC_RX_GATHERED,	    /* messages copied together from several pieces */
	HC_RX_TOO_LONG,	    /* gathering refused: longer than the caller's limit */
	HC_RX_OVERFLOW,	    /* dlibos_rx_push refused: too many queued pieces */
	HC_RX_DROPPED,	    /* queued bytes dropped: closed or reset */
	HC_RX_BAD_CONSUME,  /* dlibos_rx_consume beyond what is queued */
	HC_LEFT_AT_STOP,    /* connections still tracked at shutdown */
	HC_NCNT
};

/** How the helpers act on the world. */
struct dl_help_ops {
	/** dlibos_send of fragments in TX memory (0 or a negative errno). */
	int (*send)(void *ctx, dlibos_conn_t conn, const struct dlibos_frag *f, unsigned n);
	/** dlibos_recv_done. */
	int (*recv_done)(void *ctx, dlibos_conn_t conn, uint32_t bytes);
	/** The application's writable callback (may be NULL). */
	void (*writable)(void *ctx, dlibos_conn_t conn);
	/** TX memory for the copy pool, 64-byte aligned, *len bytes asked (the
	 *  helpers take what is given back in *len); NULL when there is none. */
	void *(*pool_alloc)(void *ctx, size_t *len);
	/** Give the pool back (at destroy). */
	void (*pool_free)(void *ctx, void *mem);
	/** May this core act on conn? Asked once, when a connection's state
	 *  is created (NULL: yes). */
	bool (*owns)(void *ctx, dlibos_conn_t conn);
};

/* The start of struct dl_helpers, for the inline check below. */
struct dl_helpers_head {
	uint32_t wake_pending; /* writable events may be due */
};

struct dl_helpers;

/**
 * Create a core's helpers.
 * @param core passed to completion callbacks (dlibos_send_ref's done)
 * @param ctx passed to every operation
 * @param pool_bytes copy pool to ask for at first use
 * @param counter_core the core index of the counter block (-1: do not register)
 * @return NULL when out of memory
 */
struct dl_helpers *dl_helpers_create(const struct dl_help_ops *ops, void *ctx,
				     struct dlibos_core *core, size_t pool_bytes, int counter_core);

/** Free everything (remaining connections are counted in HC_LEFT_AT_STOP;
 *  call dl_helpers_abort_all() first for their completions). */
void dl_helpers_destroy(struct dl_helpers *h);

/** Set up the copy pool now rather than at the first copy (tests).
 *  @return false when it cannot be had. */
bool dl_helpers_pool_prepare(struct dl_helpers *h);

/** The counters (HC_NCNT values). */
const uint64_t *dl_helpers_counters(const struct dl_helpers *h);

/* ---- transmit ---- */

/** dlibos_send_copy: bytes taken (0 .. len), or a negative errno. */
long dl_helpers_send_copy(struct dl_helpers *h, dlibos_conn_t conn, const void *data, size_t len);

/** dlibos_send_copy_room. */
size_t dl_helpers_copy_room(struct dl_helpers *h, dlibos_conn_t conn, size_t want);

/** dlibos_send_ref: 0 or a negative errno (nothing sent). */
int dl_helpers_send_ref(struct dl_helpers *h, dlibos_conn_t conn, const struct dlibos_frag *frags,
			unsigned n, dlibos_send_done_fn done, void *arg);

/** data_acked, before the application's callback: release what it covers. */
void dl_helpers_acked(struct dl_helpers *h, dlibos_conn_t conn, uint32_t bytes);

/** remote_closed (a reset or timeout drops the received queue). */
void dl_helpers_remote_closed(struct dl_helpers *h, dlibos_conn_t conn,
			      enum dlibos_close_reason why);

/** The application closed the connection: the received queue is gone. */
void dl_helpers_closed(struct dl_helpers *h, dlibos_conn_t conn);

/** cleanup, before the application's callback: completions with
 *  -ECONNABORTED, chunks back to the pool, the state freed. */
void dl_helpers_cleanup(struct dl_helpers *h, dlibos_conn_t conn);

/** Shutdown: cleanup of every connection still tracked. */
void dl_helpers_abort_all(struct dl_helpers *h);

/** Deliver pending writable events (after an event released memory). */
void dl_helpers_wake_slow(struct dl_helpers *h);

/** Deliver pending writable events, if any (inline: mostly there are none). */
static inline void dl_helpers_wake(struct dl_helpers *h)
{
	if (((const struct dl_helpers_head *)(const void *)h)->wake_pending != 0)
		dl_helpers_wake_slow(h);
}

/* ---- receive ---- */

int dl_helpers_rx_push(struct dl_helpers *h, dlibos_conn_t conn, const struct dlibos_iov *iov,
		       unsigned n);
uint64_t dl_helpers_rx_avail(struct dl_helpers *h, dlibos_conn_t conn);
int dl_helpers_rx_peek(struct dl_helpers *h, dlibos_conn_t conn, struct dlibos_iov *out);
int dl_helpers_rx_line(struct dl_helpers *h, dlibos_conn_t conn, int delim, void *buf, size_t cap,
		       struct dlibos_iov *msg);
int dl_helpers_rx_fixed(struct dl_helpers *h, dlibos_conn_t conn, size_t len, void *buf,
			struct dlibos_iov *msg);
int dl_helpers_rx_frame(struct dl_helpers *h, dlibos_conn_t conn,
			const struct dlibos_frame_fmt *fmt, void *buf, size_t cap,
			struct dlibos_iov *msg);
size_t dl_helpers_rx_copy(struct dl_helpers *h, dlibos_conn_t conn, void *dst, size_t len);
long dl_helpers_rx_consume(struct dl_helpers *h, dlibos_conn_t conn, size_t bytes);

/* ---- the engine's glue (apphelp.c) and the public functions (helpers.c) ---- */

/** An application core's helpers and callback tables (dlibos_core.help). */
struct dl_apphelp {
	struct dl_helpers *h;
	const struct dlibos_callbacks *app; /**< the application's table */
	struct dlibos_callbacks cb;	    /**< the core's table while helpers are on */
};

/** Create a core's helpers at its first helper call and install the
 *  wrappers below as its callbacks; NULL when out of memory. */
struct dl_helpers *dl_apphelp_create(struct dlibos_core *a);

/** The wrappers: the library's accounting, then the application's
 *  callback, then writable events. */
void dl_helpers_on_data_acked(struct dlibos_core *a, dlibos_conn_t conn, uint32_t bytes);
void dl_helpers_on_remote_closed(struct dlibos_core *a, dlibos_conn_t conn,
				 enum dlibos_close_reason why);
void dl_helpers_on_cleanup(struct dlibos_core *a, dlibos_conn_t conn);

/* ---- inspection (tests) ---- */

/** Chunks in the pool (0 before first use), free now, and parked (kept
 *  empty by connections whose copies are all acknowledged). */
void dl_helpers_pool_state(const struct dl_helpers *h, uint32_t *chunks, uint32_t *free_chunks,
			   uint32_t *parked);

/** The pool's memory and size (NULL before first use). */
const uint8_t *dl_helpers_pool_mem(const struct dl_helpers *h, size_t *len);

/** True if the chunk holding byte p of the pool is in use. */
bool dl_helpers_pool_holds(const struct dl_helpers *h, const void *p);

/** Chunks a connection holds (0 when untracked). */
uint32_t dl_helpers_conn_chunks(struct dl_helpers *h, dlibos_conn_t conn);

/** Connections with state. */
unsigned dl_helpers_conns(const struct dl_helpers *h);

#endif
