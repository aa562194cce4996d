/*
 * kvs_conn.h - one memcached-protocol session of dlibos-kvs: turns received
 * bytes into store operations and responses, without copying values.
 *
 * The session is independent of the runtime: it is fed received data
 * (zero-copy iovecs, kept until it returns them), acknowledgements and
 * close events, and it acts through a kvs_io table (dlibos_send,
 * dlibos_recv_done, dlibos_close in the server; recorders in the tests).
 *
 * Input. The protocol is chosen by the first byte (0x80: binary, else
 * text). A text line or binary header that lies in one received segment is
 * parsed in place; one split across segments is copied into a per-session
 * buffer of at most KVS_LINE_MAX bytes (longer lines are an error that
 * closes the session). The data block of a storage command is copied
 * straight from the segments into the new item's value memory, however many
 * segments it spans. Bytes are returned (recv_done) once used.
 *
 * Output. Responses are scatter-gather fragments in TX memory:
 *  - constant replies ("STORED\r\n", error texts) from a shared block;
 *  - item memory: a text GET hit is one fragment "VALUE k f n\r\n<value>\r\n"
 *    taken from the item, a binary one references the value;
 *  - headers that vary (gets lines with cas, binary headers, numbers,
 *    stats) in the session's scratch ring.
 * The fragments gathered in a pass go out with one dlibos_send_ref()
 * whose completion (the library calls it when the peer has acknowledged
 * them, or when the connection ends) releases what they hold: the item
 * references taken for them and their scratch ring bytes. Completions come
 * in send order, so a FIFO of batches (ring position, items, fragments,
 * bytes) and one of items is all the session keeps; it never counts
 * acknowledged bytes itself. When the ring or a FIFO is full, or the
 * unacknowledged fragments or bytes reach the session's bounds (below what
 * the network core accepts per connection), the session stops reading
 * requests (the peer is throttled by TCP) and resumes at the next
 * completion; a multi-get resumes at the key where it stopped.
 */
#ifndef KVS_CONN_H
#define KVS_CONN_H

#include <dlibos/dlibos.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvs_store.h"

#define KVS_VERSION    "1.6.0-dlibos"
#define KVS_LINE_MAX   16384 /* longest text line / binary header+extras+key */
#define KVS_RESP_ROOM  600   /* scratch one response may need (stats aside) */
#define KVS_STATS_ROOM 8192  /* scratch a stats response may need */
#define KVS_RING_MIN   (2 * KVS_STATS_ROOM)
#define KVS_MAX_FRAGS  64  /* fragments gathered before a send */
#define KVS_MAX_BATCHES 64  /* sends (batches) in flight per session */
#define KVS_MAX_ITEMS	256 /* item references in flight per session */
#define KVS_RESP_FRAGS 24  /* network fragments one response may add (1 MiB item: 17) */
/* What a session keeps queued unacknowledged at most (the network core's
 * own limits are 1024 fragments and 256 MiB per connection by default). */
#define KVS_MAX_INFLIGHT_FRAGS 512
#define KVS_MAX_INFLIGHT_BYTES (32u << 20)
#define KVS_NET_FRAG_MAX       65535 /* the NoC cuts references at 64 KiB - 1 */
#define KVS_MAX_IOVS	       4096  /* received segments held per session */

/** How a session acts on its connection (signatures of the dlibos commands). */
struct kvs_io {
	int (*send_ref)(struct dlibos_core *c, dlibos_conn_t conn, const struct dlibos_frag *frags,
			unsigned n, dlibos_send_done_fn done, void *arg);
	int (*recv_done)(struct dlibos_core *c, dlibos_conn_t conn, uint32_t bytes);
	int (*close)(struct dlibos_core *c, dlibos_conn_t conn);
};

/** Per-core counters (memcached's stats plus every error path). */
enum kvs_cnt {
	KVS_CNT_CONN_OPENED,
	KVS_CNT_CONN_CLOSED,
	KVS_CNT_CONN_REJECTED,
	KVS_CNT_CONN_TEXT,
	KVS_CNT_CONN_BINARY,
	KVS_CNT_CMD_GET,
	KVS_CNT_CMD_SET,
	KVS_CNT_CMD_TOUCH,
	KVS_CNT_CMD_FLUSH,
	KVS_CNT_CMD_DELETE,
	KVS_CNT_CMD_ARITH,
	KVS_CNT_CMD_OTHER,
	KVS_CNT_GET_HITS,
	KVS_CNT_GET_MISSES,
	KVS_CNT_GET_EXPIRED,
	KVS_CNT_GET_FLUSHED,
	KVS_CNT_DELETE_HITS,
	KVS_CNT_DELETE_MISSES,
	KVS_CNT_INCR_HITS,
	KVS_CNT_INCR_MISSES,
	KVS_CNT_DECR_HITS,
	KVS_CNT_DECR_MISSES,
	KVS_CNT_CAS_HITS,
	KVS_CNT_CAS_MISSES,
	KVS_CNT_CAS_BADVAL,
	KVS_CNT_TOUCH_HITS,
	KVS_CNT_TOUCH_MISSES,
	KVS_CNT_BYTES_READ,
	KVS_CNT_BYTES_WRITTEN,
	KVS_CNT_ERR_UNKNOWN_CMD,
	KVS_CNT_ERR_BAD_FORMAT,
	KVS_CNT_ERR_BAD_CHUNK,
	KVS_CNT_ERR_TOO_LARGE,
	KVS_CNT_ERR_NOMEM,
	KVS_CNT_ERR_LINE_TOO_LONG,
	KVS_CNT_ERR_NON_NUMERIC,
	KVS_CNT_ERR_BIN_MAGIC,
	KVS_CNT_ERR_BIN_INVALID,
	KVS_CNT_ERR_BIN_UNKNOWN,
	KVS_CNT_ERR_SEND_REJECTED,
	KVS_CNT_ERR_CMD,
	KVS_CNT_ERR_IOV_OVERFLOW,
	KVS_CNT_OUT_STALLS,
	KVS_CNT_RESETS,
	KVS_NCNT
};

/** Counter names ("get_hits", ...). */
extern const char *const kvs_cnt_names[KVS_NCNT];

/** Constant replies (indices into kvs_consts). */
enum kvs_k {
	KK_STORED,
	KK_NOT_STORED,
	KK_EXISTS,
	KK_NOT_FOUND,
	KK_DELETED,
	KK_TOUCHED,
	KK_OK,
	KK_END,
	KK_ERROR,
	KK_CE_FORMAT,
	KK_CE_DELTA,
	KK_CE_EXPTIME,
	KK_CE_CHUNK,
	KK_CE_NON_NUMERIC,
	KK_CE_LINE,
	KK_SE_TOO_LARGE,
	KK_SE_NOMEM,
	KK_VERSION,
	KK_MN,
	KK_BIN_VERSION,
	KK_BIN_ENOENT,
	KK_BIN_EEXISTS,
	KK_BIN_E2BIG,
	KK_BIN_EINVAL,
	KK_BIN_NOT_STORED,
	KK_BIN_DELTA_BADVAL,
	KK_BIN_UNKNOWN,
	KK_BIN_ENOMEM,
	KK_N
};

/** The constant replies, laid out in memory the transport accepts. */
struct kvs_consts {
	const char *p[KK_N];
	uint32_t len[KK_N];
};

/** Bytes kvs_consts_init() needs. */
size_t kvs_consts_size(void);

/** Write the constant replies into mem (kvs_consts_size() bytes). */
void kvs_consts_init(struct kvs_consts *k, char *mem);

/** What "stats" reports about the server. */
struct kvs_info {
	int pid;
	int64_t started;  /* Unix time */
	unsigned threads; /* application cores */
	unsigned max_conns;
	unsigned port;
	uint32_t ring_size;
	uint64_t lru_bump_us;
};

/** One application core's context, shared by its sessions. */
struct kvs_env {
	struct kvs_store *store;
	const struct kvs_consts *k;
	const struct kvs_io *io;
	struct dlibos_core *core;
	const struct kvs_info *info;
	/** Sum of every core's counters (for "stats"). */
	void (*sum_counters)(uint64_t out[KVS_NCNT], void *arg);
	void *sum_arg;
	uint64_t cnt[KVS_NCNT]; /* this core's counters (written by it only) */
};

enum kvs_proto { KVS_PROTO_UNKNOWN, KVS_PROTO_TEXT, KVS_PROTO_BINARY };

/** What one send holds until its completion: ring bytes up to ring_pos,
 *  nitems item references (the oldest of the item FIFO). */
struct kvs_batch {
	uint64_t ring_pos;
	uint64_t bytes;
	uint32_t nitems;
	uint32_t frags; /* network fragments it covers */
};

/** What a storage request waits for while its data block arrives. */
struct kvs_pending_store {
	struct kvs_item *item;
	uint8_t *dst;  /* where the next value byte goes */
	uint64_t left; /* bytes still to come */
	enum kvs_op op;
	uint64_t cas;
	bool noreply; /* text noreply, or a quiet binary opcode */
	bool binary;
	uint8_t opcode; /* binary */
	uint32_t opaque;
};

struct kvs_conn {
	struct kvs_env *env;
	dlibos_conn_t id;
	enum kvs_proto proto;
	enum { KS_REQ, KS_NREAD, KS_SWALLOW } st;

	/* input: received segments not yet used, oldest first */
	struct dlibos_iov *iq;
	unsigned iq_head, iq_n, iq_cap;
	uint32_t iq_off;    /* bytes of iq[iq_head] used */
	uint64_t in_bytes;  /* unused bytes held */
	uint64_t to_return; /* used bytes not yet returned */
	uint8_t *buf;	    /* reassembly, KVS_LINE_MAX, allocated when needed */

	struct kvs_pending_store ps;
	uint64_t swallow;
	size_t mget_off; /* a stalled multi-get resumes at this line offset */

	/* output */
	uint8_t *ring;
	uint32_t ring_size;
	uint64_t ring_w, ring_r;
	struct kvs_batch batches[KVS_MAX_BATCHES]; /* sent, not completed */
	unsigned b_head, b_n;
	struct kvs_item *items[KVS_MAX_ITEMS]; /* held by them, oldest first */
	unsigned i_head, i_n;
	unsigned i_pending;	 /* of those, gathered for the next send */
	uint64_t bytes_inflight; /* sent, not completed */
	uint32_t frags_inflight; /* network fragments sent, not completed */
	uint64_t pend_bytes;	 /* gathered for the next send */
	uint32_t pend_frags;
	struct dlibos_frag frags[KVS_MAX_FRAGS];
	unsigned nfrags;

	bool stalled;	  /* waiting for acknowledgements to free output room */
	bool quit;	  /* close once the pending responses are sent */
	bool peer_closed; /* FIN seen: close after the last request */
	bool closed;	  /* close issued */
	bool busy;	  /* inside kvs_conn_process (re-entry guard) */
	bool again;	  /* work arrived while busy */
};

/** Start a session on a new connection with a scratch ring (TX memory). */
void kvs_conn_init(struct kvs_conn *c, struct kvs_env *env, dlibos_conn_t id, uint8_t *ring,
		   uint32_t ring_size);

/** Received data (new_data). */
void kvs_conn_data(struct kvs_conn *c, const struct dlibos_iov *iov, unsigned n);

/** The peer closed (FIN: finish the requests received; reset: close now). */
void kvs_conn_remote_closed(struct kvs_conn *c, bool reset);

/** A command failed at the network core: the stream is no longer known; close. */
void kvs_conn_failed(struct kvs_conn *c);

/** The connection is gone (cleanup, after the library completed its sends,
 *  aborted): release what is left. */
void kvs_conn_fini(struct kvs_conn *c);

/** Items referenced by unacknowledged responses of this session. */
unsigned kvs_conn_items_in_flight(const struct kvs_conn *c);

#endif
