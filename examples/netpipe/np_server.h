/*
 * np_server.h - the NetPIPE receiver's connections on one application core,
 * on the public DLibOS API only (no main, no option parsing: netpipe.c
 * wires these functions to the callbacks; the unit tests drive them with a
 * fake runtime).
 *
 * Each connection runs its own np_sm (np_proto.h) over the received byte
 * stream and answers:
 *  - sync strings and QUIT with constant replies prepared once in TX memory
 *    (shared by every connection, zero-touch);
 *  - message payload, in copy mode, with dlibos_send_copy as it arrives:
 *    received bytes are returned once copied, the library frees the copies
 *    as they are acknowledged, so an 8 MB message streams through the
 *    core's copy memory (--tx-copy-kb) without ever being held whole;
 *  - in nocopy mode, the first message of each data point is copied once
 *    into a buffer of its size in TX memory (the "store"); every message of
 *    that size is then discarded as it arrives (returned at once) and
 *    answered, when complete, by sending the store. A store lives until its
 *    last reply is acknowledged. Sizes above nocopy_max, or a store that
 *    cannot be allocated, fall back to copy mode for that data point
 *    (counted). The latency phase (size unknown) is always copied.
 *
 * The library keeps the accounting: copies are its own, constants and
 * stores go by reference (dlibos_send_ref), a store counting its replies
 * in flight through the completion callback. Per-connection memory is
 * bounded by the library's share of copy memory, its receive queue
 * (bounded) and, in nocopy mode, one store of at most nocopy_max bytes plus
 * stores waiting for their last acknowledgement.
 */
#ifndef NP_SERVER_H
#define NP_SERVER_H

#include <dlibos/dlibos.h>

#include <stdbool.h>
#include <stdint.h>

#include "np_proto.h"

/** Counters of one application core (every drop and error path). */
enum np_cnt {
	NP_CNT_ACCEPTED,	 /* connections accepted */
	NP_CNT_REFUSED,		 /* refused: connection limit */
	NP_CNT_RUNS_DONE,	 /* QUIT received and answered */
	NP_CNT_PROTO_ERRORS,	 /* stream out of step: connection closed */
	NP_CNT_PEER_CLOSED,	 /* peer closed before QUIT */
	NP_CNT_PEER_RESET,	 /* peer reset or timed out */
	NP_CNT_SEND_ERRORS,	 /* dlibos_send rejected on the spot */
	NP_CNT_CMD_ERRORS,	 /* cmd_error events */
	NP_CNT_PEND_OVERFLOW,	 /* too many unprocessed iovecs: closed */
	NP_CNT_DATA_AFTER_CLOSE, /* data for a connection being closed (returned) */
	NP_CNT_DATA_POINTS,	 /* data points started */
	NP_CNT_MESSAGES,	 /* messages answered */
	NP_CNT_BYTES_COPIED,	 /* payload bytes sent by copy (copy mode) */
	NP_CNT_STORES,		 /* nocopy stores filled */
	NP_CNT_STORE_REPLIES,	 /* replies sent from a store */
	NP_CNT_NOCOPY_TOO_BIG,	 /* nocopy data points copied: size > nocopy_max */
	NP_CNT_NOCOPY_NO_MEMORY, /* nocopy data points copied: TX memory exhausted */
	NP_NCNT,
};

/** Counter names (module "netpipe"). */
extern const char *const np_cnt_names[NP_NCNT];

/** Configuration shared by all cores (read-only once cores run). */
struct np_config {
	bool nocopy;	       /* reply from stores instead of copying */
	uint32_t perturbation; /* transmitter's -p (0 with -i) */
	uint32_t trials;       /* trials per data point (1 with -i) */
	uint32_t nocopy_max;   /* largest message kept in a store, bytes */
	unsigned max_conns;    /* connections on this core */
	bool quiet;	       /* no per-connection messages on stderr */
};

struct np_core;

/**
 * Create one core's state: connection slots and the constant replies (in
 * TX memory, dlibos_tx_alloc).
 * @param counters NP_NCNT counters written by this core only
 * @return NULL when memory runs out
 */
struct np_core *np_core_create(const struct np_config *cfg, uint64_t *counters);

/** Free a core's state (after its connections are gone). */
void np_core_destroy(struct np_core *k);

/** TX memory that np_core_create() takes for `max_conns` connections. */
size_t np_core_tx_bytes(const struct np_config *cfg);

/** Connections currently open on this core. */
unsigned np_core_conns(const struct np_core *k);

/* Event handlers, one per callback of struct dlibos_callbacks. */
void np_new_conn(struct np_core *k, struct dlibos_core *c, dlibos_conn_t conn);
void np_new_data(struct np_core *k, struct dlibos_core *c, dlibos_conn_t conn,
		 const struct dlibos_iov *iov, unsigned n);
/* Copy memory is back after a payload waited for it (writable). */
void np_writable(struct np_core *k, struct dlibos_core *c, dlibos_conn_t conn);
void np_remote_closed(struct np_core *k, struct dlibos_core *c, dlibos_conn_t conn,
		      enum dlibos_close_reason why);
void np_cleanup(struct np_core *k, struct dlibos_core *c, dlibos_conn_t conn);
void np_cmd_error(struct np_core *k, struct dlibos_core *c, dlibos_conn_t conn, enum dlibos_cmd cmd,
		  int err);

#endif
