/*
 * httpd_core.h - one application core of dlibos-httpd: its connections,
 * their request processing, its Date prefix sets and its counters.
 *
 * This is the whole server logic, written against a small table of
 * operations (send, recv_done, shutdown, close, TX memory, wall clock)
 * instead of the runtime, so unit tests drive it with fake iovecs and
 * record what it sends; httpd.c binds the operations to dlibos_*().
 *
 * Per connection:
 *  - received iovecs are kept (zero-copy) until processed; a request that
 *    lies whole in one iovec is parsed in place, one that is split is
 *    copied into a buffer of limits.max_head bytes (taken only then), so a
 *    connection holds at most one head of copied data;
 *  - requests are answered in order (pipelining) with two fragments, the
 *    prefix (status line, Server, Date, Connection) from the current prefix
 *    set and the preloaded entity; at most HTTPD_MAX_INFLIGHT responses may
 *    be unacknowledged, beyond that processing pauses (received data stays
 *    unreturned, which closes the peer's window) until data_acked;
 *  - responses are handed to the runtime as a byte stream with at most
 *    HTTPD_SEND_WINDOW bytes unacknowledged: pipelined responses share one
 *    send command, a large file is sent piecewise as acknowledgements come;
 *  - each response is a record "release prefix set S when N more bytes are
 *    acknowledged": the sets are reference counted and a set is rewritten
 *    for a new second only when no unacknowledged response references it;
 *  - a response with "Connection: close" is followed by shutdown(SHUT_WR)
 *    once it is all sent;
 *    what the peer still sends is returned and discarded, and the
 *    connection is closed when the peer's FIN arrives (or after the idle
 *    timeout), so a pipelining peer never gets a reset instead of answers.
 *
 * Once per second (httpd_poll sees the wall clock change) the current
 * prefix set gets the new Date and connections idle (no data received or
 * acknowledged) for keepalive_s seconds are closed.
 */
#ifndef HTTPD_CORE_H
#define HTTPD_CORE_H

#include <dlibos/dlibos.h>

#include "http_parse.h"
#include "http_resp.h"
#include "httpd_files.h"

#include <stdatomic.h>
#include <stdint.h>

/** Unacknowledged responses per connection before processing pauses. */
#define HTTPD_MAX_INFLIGHT 32

/** Bytes a connection may have sent and not yet acknowledged (bounds the
 *  runtime's send queue; large files go out as acknowledgements come). */
#define HTTPD_SEND_WINDOW (4u << 20)

/** Fragments per send command. */
#define HTTPD_SEND_FRAGS 16

/** Received iovecs a connection may hold unprocessed (its window closes first). */
#define HTTPD_MAX_PEND 4096

/** Prefix sets per core (distinct seconds referenced by in-flight responses). */
#define HTTPD_MAX_SETS 64

/** What the core needs from the runtime. */
struct httpd_ops {
	int (*accept)(void *ctx, dlibos_conn_t conn);
	int (*send)(void *ctx, dlibos_conn_t conn, const struct dlibos_frag *frags, unsigned n);
	int (*recv_done)(void *ctx, dlibos_conn_t conn, uint32_t bytes);
	int (*shutdown_wr)(void *ctx, dlibos_conn_t conn);
	int (*close)(void *ctx, dlibos_conn_t conn);
	void *(*tx_alloc)(size_t len); /**< memory send accepts (prefix sets) */
	void (*tx_free)(void *p);      /**< may be NULL: sets are then never freed */
	/** Wall-clock time, nanoseconds since the epoch. */
	int64_t (*wall_ns)(void *ctx);
};

/** Settings shared by every core. */
struct httpd_config {
	struct http_limits limits;
	unsigned keepalive_s; /**< idle timeout, also announced in Keep-Alive */
	unsigned max_conns;   /**< connections on this core (its pool) */
	/** Optional limit shared by all cores: a counter they all update
	 *  (once per connection) and its maximum. NULL: per-core pools only. */
	atomic_uint *shared_conns;
	unsigned shared_max;
	uint64_t max_discard; /**< largest request body skipped on a kept-alive connection */
	const char *server;   /**< Server header value */
};

/** Counters (per core; names in httpd_cnt_names). */
enum httpd_cnt {
	HTTPD_C_REQUESTS,
	HTTPD_C_REQ_HEAD,
	HTTPD_C_REQ_REUSED,
	HTTPD_C_REQ_SPLIT,
	HTTPD_C_S200,
	HTTPD_C_S301,
	HTTPD_C_S400,
	HTTPD_C_S404,
	HTTPD_C_S405,
	HTTPD_C_S414,
	HTTPD_C_S431,
	HTTPD_C_S505,
	HTTPD_C_BYTES_SENT,
	HTTPD_C_BODY_DISCARDED,
	HTTPD_C_CONNS_ACCEPTED,
	HTTPD_C_CONNS_REFUSED,
	HTTPD_C_CONNS_CLOSED,
	HTTPD_C_CONNS_IDLE_CLOSED,
	HTTPD_C_CONNS_RESET,
	HTTPD_C_PAUSED,
	HTTPD_C_DATE_UPDATES,
	HTTPD_C_DATE_SETS,
	HTTPD_C_DATE_STALE,
	HTTPD_C_SEND_FAILED,
	HTTPD_C_CMD_ERRORS,
	HTTPD_C_ACK_UNEXPECTED,
	HTTPD_C_NOMEM,
	HTTPD_C_PEND_OVERFLOW,
	HTTPD_NCNT,
};

extern const char *const httpd_cnt_names[HTTPD_NCNT];

struct httpd_core;

/**
 * Create a core's state: connection pool, buffers, first prefix set.
 * @return NULL when memory runs out.
 */
struct httpd_core *httpd_core_create(const struct httpd_config *cfg,
				     const struct httpd_files *files, const struct httpd_ops *ops,
				     void *ctx, uint64_t now_us);

/** Free everything (connections still open are forgotten). */
void httpd_core_destroy(struct httpd_core *hc);

/** Set the context passed to the operations (e.g. once the runtime core is known). */
void httpd_core_set_ctx(struct httpd_core *hc, void *ctx);

/** A connection is offered: accept it or refuse it (connection limit). */
void httpd_on_new_conn(struct httpd_core *hc, dlibos_conn_t conn, uint64_t now_us);

/** Data arrived (zero-copy iovecs, valid until returned). */
void httpd_on_data(struct httpd_core *hc, dlibos_conn_t conn, const struct dlibos_iov *iov,
		   unsigned n, uint64_t now_us);

/** `bytes` more bytes were acknowledged. */
void httpd_on_acked(struct httpd_core *hc, dlibos_conn_t conn, uint32_t bytes, uint64_t now_us);

/** The peer closed (why: enum dlibos_close_reason). */
void httpd_on_remote_closed(struct httpd_core *hc, dlibos_conn_t conn, int why);

/** The connection is gone. */
void httpd_on_cleanup(struct httpd_core *hc, dlibos_conn_t conn);

/** A command failed at the network core. */
void httpd_on_cmd_error(struct httpd_core *hc, dlibos_conn_t conn, enum dlibos_cmd cmd, int err);

/** Each loop iteration: cheap unless a second has passed (then Date and idle scan). */
void httpd_poll(struct httpd_core *hc, uint64_t now_us);

/** The counters (HTTPD_NCNT values). */
const uint64_t *httpd_counters(const struct httpd_core *hc);

/** Connections currently held. */
unsigned httpd_conns(const struct httpd_core *hc);

/** Test helpers: the prefix sets' reference counts and the current set. */
unsigned httpd_sets(const struct httpd_core *hc, uint32_t *refs, unsigned max, unsigned *cur);

#endif
