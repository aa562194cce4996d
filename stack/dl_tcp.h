/*
 * dl_tcp.h - the inside of one net core's TCP: the connection control
 * block (TCB), the per-core TCP state (tables, timing wheel, pools,
 * counters) and the functions the tcp_*.c files share.
 *
 * Files (lwIP's split):
 *   tcp.c        tables, ids, ISNs, listeners, commands, deferred work
 *   tcp_in.c     segment arrival (RFC 9293 3.10.7), receive queues
 *   tcp_out.c    segmentation, retransmission, ACK and RST generation
 *   tcp_timer.c  the per-connection timers on the wheel
 *   tcp_wire.c   header/option parse and build (dl_tcp_wire.h)
 *
 * Life of a connection and of its upcalls. Protocol code never frees a
 * TCB on the spot: a connection that ends is unhashed, its timer
 * cancelled, marked TF_FREE and queued on the core's deferred list; the
 * deferred list is run from dl_stack_flush() (dl_tcp_flush), where the
 * cleanup upcall is delivered and memory released. So a TCB pointer stays
 * valid for the whole of an input, poll or command call, whatever an upcall
 * did re-entrantly (close, abort, accept ...). The same list carries output
 * requests: input, timers and commands set TF_OUTPUT and tcp_output() runs
 * once per connection per loop iteration, which batches ACKs of a burst and
 * lets a response piggyback the ACK of its request.
 *
 * Sequence space of the send side:
 *
 *     iss   snd_una          snd_nxt         snd_max    sq_seq+sq_bytes (+FIN)
 *      |SYN|  acked  |  in flight  | re-sent   |  queued, unsent   |
 *
 * sq_seq is the sequence number of the first byte in the send queue (the
 * oldest unacknowledged data byte); snd_nxt goes back to snd_una on an RTO
 * (go-back-N) or a zero window, snd_max remembers the highest sent.
 */
#ifndef DL_TCP_H
#define DL_TCP_H

#include "dl_stack_priv.h"
#include "dl_tcp_wire.h"
#include "dl_wheel.h"

#include <assert.h>

/* --- sequence arithmetic (RFC 9293 3.4, modulo 2^32) --------------------- */

static inline bool seq_lt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}
static inline bool seq_le(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) <= 0;
}
static inline bool seq_gt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) > 0;
}
static inline bool seq_ge(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) >= 0;
}
static inline uint32_t seq_max(uint32_t a, uint32_t b)
{
	return seq_gt(a, b) ? a : b;
}
static inline uint32_t seq_min(uint32_t a, uint32_t b)
{
	return seq_lt(a, b) ? a : b;
}
static inline uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}
static inline uint32_t max_u32(uint32_t a, uint32_t b)
{
	return a > b ? a : b;
}

/* --- states -------------------------------------------------------------- */

enum dl_tcp_state {
	DL_TCP_CLOSED = 0,
	DL_TCP_SYN_SENT,
	DL_TCP_SYN_RCVD,
	DL_TCP_ESTABLISHED,
	DL_TCP_FIN_WAIT_1,
	DL_TCP_FIN_WAIT_2,
	DL_TCP_CLOSE_WAIT,
	DL_TCP_CLOSING,
	DL_TCP_LAST_ACK,
	DL_TCP_TIME_WAIT,
	DL_TCP_NSTATES
};

const char *dl_tcp_state_name(unsigned state);

/* --- counters (module "tcp", one block per net core) --------------------- */

enum dl_tcp_cnt {
	TCP_RX_SEGS,
	TCP_RX_BYTES,
	TCP_TX_SEGS,
	TCP_TX_BYTES,
	TCP_TX_TSO,
	TCP_TX_PURE_ACK,
	TCP_TX_DELACK,
	TCP_TX_WINUPD,
	TCP_TX_SYN,
	TCP_TX_SYNACK,
	TCP_TX_RST,
	TCP_TX_CHALLENGE_ACK,
	TCP_TX_REXMIT_SEGS,
	TCP_TX_REXMIT_BYTES,
	TCP_TX_SYN_REXMIT,
	TCP_TX_PROBE,
	TCP_TX_KEEPALIVE,
	TCP_TX_NOBUF,
	TCP_FAST_REXMIT,
	TCP_PARTIAL_ACK,
	TCP_RTO,
	TCP_RTT_SAMPLES,
	TCP_RX_DUPACK,
	TCP_RX_OOO,
	TCP_RX_PERSIST_WND0,
	TCP_CONN_PASSIVE,
	TCP_CONN_ACTIVE,
	TCP_CONN_ESTAB,
	TCP_CONN_FREED,
	TCP_CONN_RESET_RX,
	TCP_CONN_ABORT,
	TCP_CONN_TIMEOUT,
	TCP_CONN_KA_TIMEOUT,
	TCP_SYN_TIMEOUT,
	TCP_SYNRCVD_EXPIRED,
	TCP_SYNCOOKIE_SENT,   /* SYN-ACKs with a cookie, no state kept (SYN backlog full) */
	TCP_SYNCOOKIE_OK,     /* connections established from a valid cookie */
	TCP_SYNCOOKIE_FAILED, /* ACKs returning no valid cookie (also drop_listen_ack) */
	TCP_TW_EXPIRED,
	TCP_TW_REUSED,
	TCP_FW2_TIMEOUT,
	TCP_CHALLENGE_LIMITED,
	TCP_RST_CLOSE_UNREAD,
	TCP_DROP_TRUNCATED,
	TCP_DROP_BAD_OFFSET,
	TCP_DROP_BAD_OPTIONS,
	TCP_DROP_BAD_CSUM,
	TCP_DROP_BAD_PORT,
	TCP_DROP_CLOSED_PORT,
	TCP_DROP_CLOSED_PORT_RST,
	TCP_DROP_LISTEN_RST,
	TCP_DROP_LISTEN_ACK,
	TCP_DROP_LISTEN_NO_SYN,
	TCP_DROP_SYN_BACKLOG,
	TCP_DROP_ACCEPT_BACKLOG,
	TCP_DROP_CONN_TABLE,
	TCP_DROP_SYNSENT_BAD_ACK,
	TCP_DROP_SYNSENT_BAD_RST,
	TCP_DROP_SYNSENT_NO_SYN,
	TCP_DROP_SYNRCVD_BAD_ACK,
	TCP_DROP_SYNRCVD_SYN,
	TCP_DROP_PAWS,
	TCP_DROP_NO_TS,
	TCP_DROP_OUT_OF_WINDOW,
	TCP_DROP_DUPLICATE,
	TCP_DROP_RST_OOW,
	TCP_DROP_RST_CHALLENGE,
	TCP_DROP_SYN_CHALLENGE,
	TCP_DROP_ACK_CHALLENGE,
	TCP_DROP_ACK_UNSENT,
	TCP_DROP_NO_ACK,
	TCP_DROP_OOO_LIMIT,
	TCP_DROP_RXBUF_LIMIT,
	TCP_DROP_APP_THROTTLED, /* data for an application core over its RX credit */
	TCP_DROP_DATA_AFTER_CLOSE,
	TCP_DROP_DATA_AFTER_FIN,
	TCP_DROP_DATA_SHUT_RD,
	TCP_DROP_TIME_WAIT,
	TCP_IGN_SYN_DATA,
	TCP_IGN_OOO_FIN,
	TCP_IGN_URG,
	TCP_CMD_ENOENT,
	TCP_CMD_EPERM,
	TCP_CMD_EINVAL,
	TCP_CMD_RECV_EINVAL,
	TCP_SEND_ENOBUFS,
	TCP_SEND_POOL_EMPTY,
	TCP_SEND_EPIPE,
	TCP_CONNECT_NO_PORT,
	TCP_CONNECT_NO_CONN,
	TCP_NCNT
};

/* --- receive buffers ------------------------------------------------------ */

/**
 * A held RX buffer, stored in the buffer's own scratch area (never
 * allocated): in-order and out-of-order payload stays in the frame it
 * arrived in until the application returns it.
 */
struct dl_tcp_rxb {
	struct dl_tcp_rxb *next;
	struct dl_buf *buf;
	const uint8_t *data; /**< first payload byte still held */
	uint32_t seq;	     /**< sequence number of data[0] */
	uint16_t len;	     /**< payload bytes from data */
	uint16_t region;
};
_Static_assert(sizeof(struct dl_tcp_rxb) <= DL_BUF_SCRATCH, "rxb must fit in the buffer scratch");

/* --- send queue ------------------------------------------------------------ */

/** One queued fragment: a reference to application memory. */
struct dl_tcp_frag {
	const uint8_t *data;
	uint32_t len;
	uint16_t region;
};

#define DL_TCP_CHUNK_FRAGS 7

/** Fragments are queued in 128-byte chunks from a per-core pool. */
struct dl_tcp_chunk {
	struct dl_tcp_chunk *next;
	uint8_t n; /**< fragments used */
	struct dl_tcp_frag f[DL_TCP_CHUNK_FRAGS];
};

/** A position in a send queue: fragment i of chunk c, byte off of it. */
struct dl_tcp_sqpos {
	struct dl_tcp_chunk *c;
	uint32_t off;
	uint8_t i;
};

/* --- the control block ------------------------------------------------------ */

/** Connection flags (dl_tcb.flags). */
enum dl_tcb_flags {
	TF_TS = 1u << 0,	  /**< timestamps negotiated */
	TF_WS = 1u << 1,	  /**< window scaling negotiated */
	TF_ACTIVE = 1u << 2,	  /**< we opened it (connect) */
	TF_EXPOSED = 1u << 3,	  /**< the application saw it: a cleanup is owed */
	TF_APP_CLOSED = 1u << 4,  /**< close/abort called: the app gave the id up */
	TF_SHUT_WR = 1u << 5,	  /**< FIN queued after the data */
	TF_FIN_SENT = 1u << 6,	  /**< FIN transmitted at least once */
	TF_SHUT_RD = 1u << 7,	  /**< input discarded */
	TF_FIN_RCVD = 1u << 8,	  /**< peer's FIN processed (rcv_nxt counts it) */
	TF_FIN_UPCALL = 1u << 9,  /**< remote_closed(FIN) owed after accept */
	TF_ACKNOW = 1u << 10,	  /**< send an ACK at the next output */
	TF_PERSIST = 1u << 11,	  /**< t_rtx is the persist timer */
	TF_RECOVERY = 1u << 12,	  /**< NewReno fast recovery */
	TF_RTT = 1u << 13,	  /**< timing rtt_seq */
	TF_SYN_REXMIT = 1u << 14, /**< SYN or SYN-ACK was retransmitted (IW = 1) */
	TF_DEFERRED = 1u << 15,	  /**< on the deferred list */
	TF_OUTPUT = 1u << 16,	  /**< run tcp_output at the next flush */
	TF_DETACH = 1u << 17,	  /**< deliver cleanup, keep the TCB (TIME_WAIT) */
	TF_FREE = 1u << 18,	  /**< release at the next flush */
	TF_CLEANED = 1u << 19,	  /**< cleanup delivered: id is dead */
	TF_RX_RELEASE = 1u << 20, /**< free held RX buffers at the next flush */
	TF_WND_UPDATE = 1u << 21, /**< the window opened: advertise it */
	TF_LISTENER = 1u << 22,	  /**< counted in listener `lst` (SYN_RCVD / unaccepted) */
};

/**
 * One connection. Kept compact (see dl_stack_tcp_mem): an idle
 * established connection costs this, its hash chain head share and no
 * timer, chunk or buffer.
 */
struct dl_tcb {
	/* identity and lookup */
	uint32_t rip; /**< remote address, host order */
	uint16_t lport, rport;
	uint32_t hnext;	      /**< hash chain (slot index + 1), free list link */
	uint32_t id;	      /**< current id: generation << idx_bits | index */
	uint8_t state;	      /**< dl_tcp_state */
	uint8_t busy;	      /**< upcalls of this TCB on the call stack */
	uint16_t app;	      /**< owning application core, DL_APP_NONE */
	uint32_t flags;	      /**< dl_tcb_flags */
	uint16_t lst;	      /**< listener slot + 1 while TF_LISTENER */
	uint16_t mss;	      /**< payload bytes per segment we send (options excluded) */
	struct dl_tcb *dnext; /**< deferred list */

	/* send sequence space */
	uint32_t iss, snd_una, snd_nxt, snd_max;
	uint32_t snd_wnd, snd_wl1, snd_wl2, max_snd_wnd;
	uint32_t cwnd, ssthresh, recover, bytes_acked;
	uint8_t snd_ws, rcv_ws; /**< window shifts (0 without scaling) */
	uint8_t dupacks;
	uint8_t backoff;   /**< RTO / persist exponent */
	uint8_t ka_probes; /**< unanswered keepalives */
	uint8_t tso_segs;  /**< MSS-sized segments per TSO packet (0: no TSO) */
	uint16_t pad0;

	/* round-trip time (RFC 6298), microseconds; srtt << 3, rttvar << 2 */
	uint32_t srtt8, rttvar4, rto;
	uint32_t rtt_seq, rtt_start;

	/* timestamps (RFC 7323) */
	uint32_t ts_recent, ts_recent_age, ts_off;

	/* receive sequence space */
	uint32_t irs, rcv_nxt;
	uint32_t rcv_adv;  /**< highest right edge ever advertised */
	uint32_t rcv_edge; /**< right edge of the last advertisement */
	uint32_t last_ack_sent;
	uint32_t rx_held;  /**< in-order bytes held (delivered + not yet delivered) */
	uint32_t rx_unret; /**< delivered, not yet returned by recv_done */
	uint32_t ooo_bytes;
	uint16_t ooo_segs;
	uint16_t rx_nbufs;    /**< RX buffers held, in order and out of order */
	uint16_t rx_head_off; /**< bytes of rx_head already returned */
	uint16_t pad1;
	struct dl_tcp_rxb *rx_head, *rx_tail, *ooo_head;

	/* send queue */
	struct dl_tcp_chunk *sq_tail;
	struct dl_tcp_sqpos sq_head; /**< at sq_seq (oldest unacked byte) */
	struct dl_tcp_sqpos sq_cur;  /**< at snd_nxt */
	uint32_t sq_seq, sq_bytes;
	uint16_t sq_nfrags;

	/* timers: one wheel node, three deadlines (0 = off) */
	struct dl_wheel_node tn;
	uint64_t t_rtx, t_delack, t_idle;
	uint64_t cookie; /**< connect cookie */
};

/* --- listeners ------------------------------------------------------------- */

struct dl_tcp_listener {
	uint16_t port; /**< 0: free slot */
	uint32_t accept_max;
	uint32_t n_syn;	      /**< SYN_RCVD children */
	uint32_t n_acc;	      /**< established, not accepted */
	uint32_t cookie_slot; /**< 1 + cookie time slot of the last SYN cookie sent (0: none) */
};

/* --- per-core TCP state --------------------------------------------------- */

#define DL_TCP_SLAB_SHIFT 6  /**< TCBs per slab = 64 */
#define DL_TCP_TICK_SHIFT 8  /**< wheel tick = 256 us */
#define DL_TCP_TS_SHIFT	  10 /**< timestamp clock = 1.024 ms */
#define DL_TCP_REFS	  16 /**< refs per new_data upcall */

struct dl_tcp {
	struct dl_stack *s;
	struct dl_tcp_params p;

	/* connection slots: slabs of 64 TCBs allocated on first use */
	struct dl_tcb **slabs;
	uint32_t nslabs;     /**< entries in slabs[] */
	uint32_t slabs_used; /**< slabs allocated */
	uint32_t next_fresh; /**< slot indices below this were handed out once */
	uint32_t free_head;  /**< free slot list (index + 1) */
	uint32_t nconns;     /**< TCBs in use */
	uint32_t max_conns;
	uint8_t idx_bits;
	uint32_t idx_mask;

	/* 4-tuple hash: heads are slot index + 1 */
	uint32_t *htab;
	uint32_t hmask;
	uint32_t hseed;

	struct dl_tcp_listener *lst;
	uint16_t nlst;

	struct dl_wheel wheel;

	/* deferred work (see the top of this file) */
	struct dl_tcb *def_head, *def_tail;
	bool flushing;
	uint32_t upcall_depth; /**< upcalls on the call stack (no flush inside) */

	/* send-queue chunk pool */
	struct dl_tcp_chunk *chunk_free;
	void **chunk_slabs;
	uint32_t chunk_nslabs, chunk_slab_cap;
	uint32_t chunks_total, chunks_used, chunks_max;

	/* RFC 5961 challenge ACK budget */
	uint64_t chal_window;
	uint32_t chal_count;

	uint16_t port_next;	/**< ephemeral port search offset */
	uint64_t app_unret[64]; /**< per app core: delivered bytes not yet returned */
	uint16_t rcv_mss;	/**< MSS we advertise (MTU - 40) */
	uint32_t rx_bufs_max;	/**< RX buffers one connection may hold */
	uint32_t sws_thresh;	/**< receiver SWS: min(rcv_wnd / 2, rcv_mss) */

	uint64_t cnt[TCP_NCNT];
	struct dl_counter_block blk;
};

/* --- shared internals --------------------------------------------------- */

/** TCB of slot idx (must have been handed out). */
static inline struct dl_tcb *tcb_at(const struct dl_tcp *t, uint32_t idx)
{
	return &t->slabs[idx >> DL_TCP_SLAB_SHIFT][idx & ((1u << DL_TCP_SLAB_SHIFT) - 1)];
}

static inline uint32_t tcb_index(const struct dl_tcp *t, const struct dl_tcb *c)
{
	return c->id & t->idx_mask;
}

static inline bool tcb_synchronized(const struct dl_tcb *c)
{
	return c->state >= DL_TCP_ESTABLISHED;
}

/** Data bytes in the send queue not yet sent (at snd_nxt). */
static inline uint32_t tcb_unsent(const struct dl_tcb *c)
{
	uint32_t end = c->sq_seq + c->sq_bytes;

	return seq_lt(c->snd_nxt, end) ? end - seq_max(c->snd_nxt, c->sq_seq) : 0;
}

/** Sequence number of our FIN (valid with TF_SHUT_WR). */
static inline uint32_t tcb_fin_seq(const struct dl_tcb *c)
{
	return c->sq_seq + c->sq_bytes;
}

/* tcp.c */
struct dl_tcb *dl_tcp_lookup(struct dl_tcp *t, uint32_t rip, uint16_t lport, uint16_t rport);
struct dl_tcb *dl_tcp_tcb_new(struct dl_tcp *t);
void dl_tcp_hash_insert(struct dl_tcp *t, struct dl_tcb *c);
void dl_tcp_hash_remove(struct dl_tcp *t, struct dl_tcb *c);
struct dl_tcp_listener *dl_tcp_listener_find(struct dl_tcp *t, uint16_t port);
uint32_t dl_tcp_isn(struct dl_tcp *t, uint32_t rip, uint16_t lport, uint16_t rport,
		    uint32_t *ts_off);
void dl_tcp_defer(struct dl_tcp *t, struct dl_tcb *c, uint32_t what);
/** Connection over: unhash, stop timers, owe a cleanup, free at flush. */
void dl_tcp_close_now(struct dl_tcp *t, struct dl_tcb *c);
/** Leave the listener's counts (on accept, establishment or death). */
void dl_tcp_listener_leave(struct dl_tcp *t, struct dl_tcb *c);
void dl_tcp_rx_free_all(struct dl_tcp *t, struct dl_tcb *c);
void dl_tcp_sq_ack(struct dl_tcp *t, struct dl_tcb *c, uint32_t bytes);
bool dl_tcp_challenge_ok(struct dl_tcp *t);
/** Deliver held, undelivered in-order data (and a held FIN) to the app. */
void dl_tcp_deliver(struct dl_tcp *t, struct dl_tcb *c);
/** Deliver the in-order data from rxb b on, skipping `skip` bytes of b. */
void dl_tcp_deliver_from(struct dl_tcp *t, struct dl_tcb *c, struct dl_tcp_rxb *b, uint32_t skip);
void dl_tcp_init_cc(struct dl_tcp *t, struct dl_tcb *c);

/* upcall wrappers (tcp.c): keep c->busy while the application runs */
void dl_tcp_up_new_conn(struct dl_tcp *t, struct dl_tcb *c);
void dl_tcp_up_connected(struct dl_tcp *t, struct dl_tcb *c);
void dl_tcp_up_connect_failed(struct dl_tcp *t, struct dl_tcb *c, int err);
void dl_tcp_up_data_acked(struct dl_tcp *t, struct dl_tcb *c, uint32_t bytes);
void dl_tcp_up_remote_closed(struct dl_tcp *t, struct dl_tcb *c, enum dl_close_reason why);

/* tcp_in.c */
void dl_tcp_reset_conn(struct dl_tcp *t, struct dl_tcb *c, enum dl_close_reason why, int err);

/* tcp_out.c */
void dl_tcp_output(struct dl_tcp *t, struct dl_tcb *c);
void dl_tcp_send_ack(struct dl_tcp *t, struct dl_tcb *c);
void dl_tcp_send_rst_conn(struct dl_tcp *t, struct dl_tcb *c);
/*
 * SYN cookies (RFC 4987 3.6): the ISS of a SYN-ACK sent without keeping
 * state. 5 bits of time slot (2^26 us, ~67 s), 3 bits of MSS index, 24 bits
 * of SipHash over the 4-tuple, the peer's ISN, the full slot and the index.
 * A cookie is valid during its slot and the next one (67 to 134 s).
 */
#define DL_TCP_COOKIE_SLOT_SHIFT 26
uint32_t dl_tcp_cookie_slot(const struct dl_tcp *t);
uint32_t dl_tcp_cookie(const struct dl_tcp *t, uint32_t rip, uint16_t lport, uint16_t rport,
		       uint32_t irs, uint16_t peer_mss);
/* The MSS a cookie encodes, or 0 when it is not valid for that connection now. */
uint16_t dl_tcp_cookie_check(const struct dl_tcp *t, uint32_t rip, uint16_t lport, uint16_t rport,
			     uint32_t irs, uint32_t cookie);
/* A SYN-ACK with only the MSS option (no state: SYN cookies). */
void dl_tcp_send_synack_cookie(struct dl_tcp *t, uint32_t rip, uint16_t lport, uint16_t rport,
			       uint32_t iss, uint32_t ack);
void dl_tcp_send_rst(struct dl_tcp *t, uint32_t rip, uint16_t lport, uint16_t rport, uint32_t seq,
		     uint32_t ack, uint8_t flags);
void dl_tcp_send_keepalive(struct dl_tcp *t, struct dl_tcb *c);
void dl_tcp_retransmit_first(struct dl_tcp *t, struct dl_tcb *c);
void dl_tcp_send_probe(struct dl_tcp *t, struct dl_tcb *c);
uint32_t dl_tcp_rcv_window(const struct dl_tcp *t, const struct dl_tcb *c);

/** Our timestamp clock (RFC 7323): now in 1.024 ms ticks. */
static inline uint32_t dl_tcp_ts_now(const struct dl_tcp *t)
{
	return (uint32_t)(t->s->now >> DL_TCP_TS_SHIFT);
}

/* tcp_timer.c */
void dl_tcp_timer_fire(struct dl_wheel *w, struct dl_wheel_node *n, void *arg);

/** Make sure the wheel node fires no later than `when` (lazy: a later
 *  deadline only writes its field, see tcp_timer.c). */
static inline void dl_tcp_timer_arm(struct dl_tcp *t, struct dl_tcb *c, uint64_t when)
{
	if (!dl_wheel_armed(&c->tn) || when < c->tn.expires)
		dl_wheel_insert(&t->wheel, &c->tn, when);
}

static inline void dl_tcp_set_rtx(struct dl_tcp *t, struct dl_tcb *c, uint64_t when)
{
	c->t_rtx = when;
	if (when != 0)
		dl_tcp_timer_arm(t, c, when);
}

static inline void dl_tcp_set_delack(struct dl_tcp *t, struct dl_tcb *c, uint64_t when)
{
	c->t_delack = when;
	if (when != 0)
		dl_tcp_timer_arm(t, c, when);
}

static inline void dl_tcp_set_idle(struct dl_tcp *t, struct dl_tcb *c, uint64_t when)
{
	c->t_idle = when;
	if (when != 0)
		dl_tcp_timer_arm(t, c, when);
}

/** The current RTO with the exponential backoff, capped at rto_max. */
static inline uint32_t dl_tcp_rto_backed_off(const struct dl_tcp *t, const struct dl_tcb *c)
{
	uint64_t r = (uint64_t)c->rto << (c->backoff < 32 ? c->backoff : 32);

	return r > t->p.rto_max_us ? t->p.rto_max_us : (uint32_t)r;
}
void dl_tcp_rtt_sample(struct dl_tcp *t, struct dl_tcb *c, uint32_t rtt_us);
void dl_tcp_enter_time_wait(struct dl_tcp *t, struct dl_tcb *c);

/** Request output for c at the next flush. */
static inline void dl_tcp_want_output(struct dl_tcp *t, struct dl_tcb *c)
{
	if (!(c->flags & TF_OUTPUT))
		dl_tcp_defer(t, c, TF_OUTPUT);
}

/* Would dl_tcp_output() do anything for @p c now? Input uses it to skip a
 * flush pass that would find nothing to send: the common request/response
 * case, where the ACK of our answer arrives with the next request, nothing
 * is queued, and the ACK of the request is delayed. Conservative: any
 * state but ESTABLISHED and CLOSE_WAIT, queued data, a FIN to send, or an
 * ACK or window update owed say yes. */
static inline bool dl_tcp_output_due(const struct dl_tcb *c)
{
	return (c->state != DL_TCP_ESTABLISHED && c->state != DL_TCP_CLOSE_WAIT) ||
	       tcb_unsent(c) > 0 || (c->flags & (TF_ACKNOW | TF_WND_UPDATE | TF_SHUT_WR)) != 0;
}

/* Per application core: received bytes delivered and not yet returned
 * (what --app-rx-credit limits). */
static inline void dl_tcp_app_unret(struct dl_tcp *t, const struct dl_tcb *c, int64_t delta)
{
	if (c->app < 64)
		t->app_unret[c->app] += (uint64_t)delta;
}

/* True when the owner of c holds more unreturned data than its credit. */
static inline bool dl_tcp_app_over_credit(const struct dl_tcp *t, const struct dl_tcb *c)
{
	return t->p.app_rx_credit != 0 && c->app < 64 && t->app_unret[c->app] > t->p.app_rx_credit;
}

#endif /* DL_TCP_H */
