/*
 * dl_stack.h - one net core's TCP/IP stack, as the runtime sees it.
 *
 * A struct dl_stack is owned by exactly one net core (shared nothing): its
 * ARP cache, IPv4 state, TCP connection and listen tables, timing wheel and
 * counters are touched by that core only. The runtime drives it:
 *
 *     dl_stack_input(s, pkts, n, now)   frames from this core's RX queue (or
 *                                       handed over by another net core)
 *     dl_stack_poll(s, now)             timers (TCP, ARP expiry), retries
 *     dl_stack_flush(s)                 hand queued frames to the NIC
 *
 * Time is always an argument (microseconds, any monotonic origin); protocol
 * code never reads a clock, so tests are deterministic.
 *
 * Upward, the stack reports the events of the DLibOS API (paper Table 1)
 * through struct dl_stack_upcalls. In rtc mode the runtime points these at
 * the application's callbacks directly; in dlibos/protected mode at the NoC
 * encoder that sends them to the owning application core. Downward, the
 * dl_stack_* command functions implement the commands; they are called
 * directly (rtc) or by the NoC decoder after validation (dlibos).
 *
 * Re-entrancy: an upcall may call any command function of the same stack
 * (e.g. send from within new_data, close from within remote_closed); the
 * stack delivers upcalls only at points where its state is consistent and
 * defers freeing a connection until no upcall for it is on the call stack.
 * Commands never emit an upcall themselves: what they cause (segments,
 * cleanup) happens in dl_stack_flush(), which also transmits the ACKs of a
 * whole input burst at once (a response sent from new_data carries the
 * ACK of its request).
 *
 * Life of a connection, as the application sees it:
 *   passive: new_conn (app DL_APP_NONE; data and a FIN are held) ->
 *            dl_stack_accept by one core (held data and remote_closed
 *            follow at once) -> ... -> cleanup;
 *   active:  dl_stack_connect returns the id -> connected or
 *            connect_failed (then nothing more: no cleanup) -> ... ->
 *            cleanup.
 * cleanup comes exactly once per connection that was offered (new_conn)
 * or connected, whoever ended it (close, abort, RST, timeouts, destroy);
 * for one never accepted it carries app DL_APP_NONE. After cleanup the id
 * is dead; a stale id never names a later connection (ids carry a
 * generation). After close/abort the application has given the id up:
 * commands on it fail with -ENOENT, only data_acked and cleanup follow.
 */
#ifndef DL_STACK_H
#define DL_STACK_H

#include "dl_hal.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** "No application core" (a connection not yet accepted). */
#define DL_APP_NONE 0xffff

/** Congestion control algorithms (dl_tcp_params.cc). */
enum dl_tcp_cc {
	DL_TCP_CC_NEWRENO = 0, /**< RFC 5681 / RFC 6582 */
	DL_TCP_CC_CUBIC = 1,   /**< RFC 9438 with HyStart++ (RFC 9406): the default */
	DL_TCP_CC_BBR = 2,     /**< model-based: BBR v1's model, paced (tcp_cc.c) */
	DL_TCP_CC_N
};

/** Which connections pace their data (dl_tcp_params.pacing, docs/tcp.md "Pacing"). */
enum dl_tcp_pacing {
	DL_TCP_PACING_OFF = 0, /**< none: bursts bounded by cwnd and the TSO limit only */
	DL_TCP_PACING_BBR = 1, /**< BBR connections, at the model's rate (the default) */
	DL_TCP_PACING_ALL = 2, /**< also NewReno and CUBIC, at Linux's rate: 2 (slow
				    start) or 1.2 (avoidance) x cwnd / SRTT */
	DL_TCP_PACING_N
};

/** Explicit Congestion Notification (RFC 3168; dl_tcp_params.ecn, docs/tcp.md "ECN"). */
enum dl_tcp_ecn {
	DL_TCP_ECN_OFF = 0,    /**< never: SYNs and SYN-ACKs without ECN bits */
	DL_TCP_ECN_ACCEPT = 1, /**< when the peer's SYN asks for it (the default, as Linux's) */
	DL_TCP_ECN_ON = 2,     /**< also ask for it in our SYNs */
	DL_TCP_ECN_N
};

/** TCP tunables (defaults from dl_stack_config_defaults()). */
struct dl_tcp_params {
	uint32_t max_conns;      /**< connection table size per net core */
	uint32_t syn_backlog;    /**< half-open (SYN_RCVD) connections per listener */
	uint32_t accept_backlog; /**< established, not yet accepted, per listener */
	uint32_t rcv_wnd;        /**< receive window (bytes of RX buffer credit) per connection */
	uint32_t ooo_max_bytes;  /**< out-of-order bytes held per connection; 0 (the
				      default) = rcv_wnd */
	uint32_t ooo_max_segs;   /**< out-of-order segments held per connection; 0 (the
				      default) = rcv_wnd / MSS + 16, a full window of
				      full-sized segments behind one hole */
	uint32_t rto_min_us;     /**< RFC 6298 minimum RTO (default 200 ms) */
	uint32_t rto_max_us;     /**< RTO ceiling (default 60 s) */
	uint32_t rto_init_us;    /**< initial RTO (RFC 6298: 1 s) */
	uint32_t delack_us;      /**< delayed ACK timeout (default 40 ms) */
	uint32_t msl_us;         /**< maximum segment lifetime; TIME_WAIT lasts 2*MSL */
	uint32_t syn_retries;    /**< SYN / SYN-ACK retransmissions before giving up */
	uint32_t max_retries;    /**< data retransmissions before the connection is reset */
	uint32_t keepalive_us;   /**< idle time before keepalive probes; 0 = off */
	uint32_t keepalive_intvl_us;
	uint32_t keepalive_probes;
	uint32_t init_cwnd_segs; /**< RFC 6928 initial window in segments (default 10) */
	uint8_t wscale;          /**< our window scale shift (RFC 7323) */
	bool timestamps;         /**< offer RFC 7323 timestamps */
	bool tso;                /**< use TSO when the NIC offers it */
	/**
	 * Answer SYNs past syn_backlog with SYN cookies (RFC 4987 3.6) instead
	 * of dropping them (default on): a SYN flood then costs no memory and
	 * real clients still connect. Such connections carry no window scale
	 * or timestamps and one of 6 MSS values (536..8960).
	 */
	bool syn_cookies;
	uint8_t isn_key[16];     /**< RFC 6528 secret; random (getrandom) in the defaults */
	/**
	 * Received bytes one application core may hold (delivered, not yet
	 * returned with recv_done) over all its connections; above it, payload
	 * for its connections is dropped and counted (tcp.drop_app_throttled)
	 * and peers retransmit, so a core that hoards RX buffers stalls only
	 * itself. 0 = no limit.
	 */
	uint64_t app_rx_credit;
	uint32_t snd_queue_bytes; /**< bytes queued (sent or not, unacked) per connection */
	uint32_t snd_queue_frags; /**< fragments queued per connection (send: -ENOBUFS beyond) */
	uint32_t snd_pool_frags;  /**< fragments queued by all connections of the net core */
	uint32_t rx_bufs_max;     /**< RX buffers one connection may hold (in order + out of
				       order); 0 = 2 * rcv_wnd / MSS + 16. The window shrinks
				       as buffers fill, so tiny segments cannot pin memory. */
	uint32_t fin_wait2_us;    /**< FIN_WAIT_2 limit once the application closed */
	uint32_t challenge_ack_limit; /**< RFC 5961 challenge ACKs per second per net core */
	uint16_t port_min, port_max;  /**< ephemeral ports for dl_stack_connect */
	/* --- loss recovery and congestion control (docs/tcp.md) --- */
	uint8_t cc;          /**< enum dl_tcp_cc (default DL_TCP_CC_CUBIC) */
	uint8_t pacing;      /**< enum dl_tcp_pacing (default DL_TCP_PACING_BBR) */
	uint8_t ecn;         /**< enum dl_tcp_ecn (default DL_TCP_ECN_ACCEPT) */
	bool sack;           /**< offer and accept SACK (RFC 2018, D-SACK RFC 2883; default on) */
	bool tlp;            /**< tail loss probes (RFC 8985 7; SACK connections; default on) */
	/**
	 * The most the probe timeout allows for the peer's delayed ACK when
	 * a single segment is in flight (RFC 8985's WCDelAckT, which it
	 * recommends at 200 ms, the minimum RTO: a lost last segment then
	 * waits as long as without probes). A connection starts at an eighth
	 * of it and doubles after each single-segment probe the peer shows
	 * was needless (tcp.tlp_delack_raised). Default 50 ms: Linux and
	 * DLibOS peers delay at most 40 ms once out of quick ACK mode; a
	 * probe the peer did not need costs one segment and comes back as a
	 * D-SACK (tcp.tlp_spurious).
	 */
	uint32_t tlp_delack_us;
	bool hystart;        /**< HyStart++ in CUBIC's slow start (RFC 9406; default on) */
	bool restart_after_idle; /**< cwnd back to the initial window after an idle RTO
				      (RFC 5681 4.1; default on) */
	/**
	 * Scoreboards (per-connection recovery state, about 700 bytes) a net
	 * core may have at once; a connection that needs one when none is
	 * left recovers NewReno-style (counted: tcp.sb_exhausted). Default 4096.
	 */
	uint32_t sack_pool;
	/* --- TIME_WAIT --- */
	/**
	 * Compact TIME_WAIT entries (40 bytes each) kept per net core; beyond
	 * it the oldest is dropped (counted: tcp.time_wait_evicted), as
	 * Linux's tcp_max_tw_buckets. 0 = none kept. Default 262144.
	 */
	uint32_t tw_max;
	bool tw_reuse; /**< connect may reuse a TIME_WAIT 4-tuple when timestamps
			    make it safe (RFC 6191; default on) */
	/* --- core-wide receive limits --- */
	/**
	 * RX buffers all connections of the net core may hold out of order.
	 * When all are taken, a connection holding less than an equal share
	 * (this / connections holding some) takes the last buffer of the
	 * largest holder (counted: tcp.ooo_evicted_for_fair_share); others'
	 * segments are dropped (counted: tcp.drop_ooo_core_limit). 0 = 4096.
	 */
	uint32_t ooo_core_bufs;
	/**
	 * RX buffers one application core may hold in order (delivered and
	 * not returned, or waiting for delivery) over all its connections of
	 * the net core; beyond it in-order payload is dropped (counted:
	 * tcp.drop_app_rx_bufs) and the peer retransmits. 0 = no limit.
	 */
	uint32_t app_rx_bufs;
	uint32_t pmtu_expire_us; /**< lifetime of a lowered path MTU (RFC 1191; default 10 min) */
};

/** Configuration of one net core's stack. */
struct dl_stack_config {
	uint32_t ip;           /**< our IPv4 address, host byte order */
	uint8_t prefix_len;    /**< netmask length */
	uint32_t gw;           /**< default gateway, host byte order, 0 = none */
	uint8_t mac[6];        /**< our MAC (from the NIC) */
	uint16_t mtu;          /**< IP MTU */
	uint32_t arp_timeout_us;   /**< ARP cache entry lifetime */
	uint32_t arp_retry_us;     /**< ARP request retransmit interval on a miss */
	uint32_t arp_pending_max;  /**< packets waiting for ARP resolution, per core */
	uint32_t arp_entries;      /**< ARP cache size (power of two) */
	struct dl_tcp_params tcp;
};

/** Fill cfg with defaults (addresses zero). */
void dl_stack_config_defaults(struct dl_stack_config *cfg);

/** Fill only the TCP tunables with their defaults (a fresh random isn_key). */
void dl_tcp_params_defaults(struct dl_tcp_params *p);

/** A zero-copy reference to received payload. */
struct dl_rx_ref {
	const uint8_t *data; /**< payload bytes (inside region) */
	uint32_t len;
	uint16_t region;     /**< region id of the RX buffer */
};

/** Why the remote side closed (remote_closed). */
enum dl_close_reason {
	DL_CLOSE_FIN = 0,     /**< orderly FIN received */
	DL_CLOSE_RESET = 1,   /**< RST received */
	DL_CLOSE_TIMEOUT = 2, /**< retransmissions or keepalive exhausted */
	DL_CLOSE_ABORT = 3,   /**< aborted locally (resources, application died) */
};

/**
 * Events from the stack (net core) to application cores. `app` is the
 * application core that owns the connection (DL_APP_NONE for new_conn,
 * which the runtime dispatches by its policy).
 */
struct dl_stack_upcalls {
	/** A connection completed the handshake on a listening port. */
	void (*new_conn)(void *arg, uint32_t id, uint16_t local_port, uint32_t peer_ip,
			 uint16_t peer_port);
	/** An active open succeeded. */
	void (*connected)(void *arg, uint16_t app, uint32_t id, uint64_t cookie);
	/**
	 * An active open failed (err: positive errno): ECONNREFUSED (RST, or
	 * ICMP port unreachable), EHOSTUNREACH / ENETUNREACH / EHOSTDOWN /
	 * ENOPROTOOPT (ICMP destination unreachable, at once), ETIMEDOUT (SYN
	 * retries exhausted; an earlier ICMP soft error is reported instead
	 * when there was one), ECONNABORTED (the stack was destroyed).
	 */
	void (*connect_failed)(void *arg, uint16_t app, uint64_t cookie, int err);
	/** In-order payload, held until dl_stack_recv_done() returns it. */
	void (*new_data)(void *arg, uint16_t app, uint32_t id, const struct dl_rx_ref *refs,
			 unsigned n);
	/**
	 * `bytes` more bytes of sent data were acknowledged (in send order;
	 * a FIN is no byte): their memory may be reused.
	 */
	void (*data_acked)(void *arg, uint16_t app, uint32_t id, uint32_t bytes);
	/** The peer closed (no more new_data will come): FIN, RESET or TIMEOUT.
	 *  Not delivered once the application closed or aborted. */
	void (*remote_closed)(void *arg, uint16_t app, uint32_t id, enum dl_close_reason why);
	/** The connection is gone; its id is invalid after this. Delivered
	 *  from dl_stack_flush() (or dl_stack_destroy), never from a command. */
	void (*cleanup)(void *arg, uint16_t app, uint32_t id);
	/**
	 * A frame arrived for a flow another net core owns (devices without
	 * RSS): deliver it to net core `owner`, which calls dl_stack_input()
	 * with DL_RX_HANDOFF set. Optional when there is one net core.
	 */
	void (*handoff)(void *arg, unsigned owner, const struct dl_rx_pkt *pkt);
	/** Optional: an ARP mapping was learned; other net cores may want it. */
	void (*arp_learned)(void *arg, uint32_t ip, const uint8_t mac[6]);
};

struct dl_stack;

/**
 * Create the stack of net core `net_index` (of `n_net`), transmitting on
 * queue `queue` of `nic`. Registers its counters with dl_stats.
 * @return the stack or NULL (errno set).
 */
struct dl_stack *dl_stack_create(const struct dl_stack_config *cfg, struct dl_nic *nic,
				 uint16_t queue, unsigned net_index, unsigned n_net);

/** Install the upcalls (before the first input). */
void dl_stack_set_upcalls(struct dl_stack *s, const struct dl_stack_upcalls *up, void *arg);

/** Send the gratuitous ARP announcing our address (call once at start). */
void dl_stack_start(struct dl_stack *s, uint64_t now_us);

/**
 * Process received frames. The stack takes ownership of every buffer: it
 * frees it, holds it (zero-copy data), or hands it off.
 */
void dl_stack_input(struct dl_stack *s, struct dl_rx_pkt *pkts, unsigned n, uint64_t now_us);

/** Run expired timers and retries. Cheap when nothing is due. */
void dl_stack_poll(struct dl_stack *s, uint64_t now_us);

/** Transmit the frames queued so far. */
void dl_stack_flush(struct dl_stack *s);

/**
 * Earliest time (microseconds, same clock as now_us) at which
 * dl_stack_poll() has work without new input: a TCP timer, an ARP retry,
 * or deferred work (then the time of the last call). UINT64_MAX when
 * nothing is pending. It may be early (a timer that was cancelled or
 * pushed back), never late; polling at an early time is harmless.
 */
uint64_t dl_stack_next_deadline(const struct dl_stack *s);

/** The TCP memory of one net core (dl_stack_tcp_mem). */
struct dl_stack_tcp_mem {
	uint32_t conns;       /**< connections in use (every state, TIME_WAIT included) */
	size_t tcb_bytes;     /**< sizeof one connection control block */
	size_t slab_bytes;    /**< control-block slabs allocated (64 per slab) */
	size_t table_bytes;   /**< 4-tuple hash heads + slab table (sized by max_conns) */
	size_t chunk_bytes;   /**< send-queue chunk pool allocated */
	uint32_t chunks_used; /**< send-queue chunks holding fragments */
	size_t timers;        /**< timers armed on the wheel */
	size_t fixed_bytes;   /**< per-core TCP state, listeners, wheel */
	uint32_t time_wait;   /**< compact TIME_WAIT entries (not in conns) */
	size_t tw_bytes;      /**< TIME_WAIT entry chunks allocated */
	uint32_t sb_used;     /**< scoreboards held by recovering connections */
	size_t sb_bytes;      /**< scoreboard pool allocated */
	size_t total_bytes;   /**< everything above */
};

/** Account the TCP memory of this net core (excluding packet buffers). */
void dl_stack_tcp_mem(const struct dl_stack *s, struct dl_stack_tcp_mem *m);

/** Learn an ARP mapping reported by another net core. */
void dl_stack_arp_learn(struct dl_stack *s, uint32_t ip, const uint8_t mac[6], uint64_t now_us);

/**
 * Abort every connection (RST to the peer, cleanup upcalls), release
 * held buffers, unregister counters and free the stack.
 */
void dl_stack_destroy(struct dl_stack *s);

/** Which net core owns the flow (received sip:sport -> dip:dport, host order). */
unsigned dl_stack_flow_owner(const struct dl_stack *s, uint32_t sip, uint32_t dip,
			     uint16_t sport, uint16_t dport);

/* --- Commands (return 0 or a negative errno; never block) ---------------- */

/** Accept connections to `port` on this net core. -EADDRINUSE if already listening. */
int dl_stack_listen(struct dl_stack *s, uint16_t port, uint32_t backlog);

/** Stop listening (established connections stay). */
int dl_stack_unlisten(struct dl_stack *s, uint16_t port);

/**
 * Application core `app` takes connection `id` offered by new_conn. Data
 * received meanwhile is delivered right after. -ENOENT unknown id,
 * -EALREADY accepted by another core.
 */
int dl_stack_accept(struct dl_stack *s, uint16_t app, uint32_t id);

/**
 * Active open to dst_ip:dst_port (host order) on behalf of `app`. The result
 * comes as connected or connect_failed with `cookie`. The source port is
 * chosen so that replies reach this net core. *id_out receives the new id.
 */
int dl_stack_connect(struct dl_stack *s, uint16_t app, uint64_t cookie, uint32_t dst_ip,
		     uint16_t dst_port, uint32_t *id_out);

/**
 * Queue payload for transmission: fragments are referenced, not copied, and
 * must stay unchanged until data_acked covers them. A fragment contiguous
 * with the previous one (same region) is merged with it. Segments are sent
 * at the next dl_stack_flush(). -ENOENT unknown id, -EPERM not the owner,
 * -EINVAL no fragment or an empty one, -EPIPE after shutdown(write) or a
 * reset, -ENOBUFS when the per-connection queue (snd_queue_bytes,
 * snd_queue_frags) or the net core's pool (snd_pool_frags) is full
 * (nothing queued then). No Nagle: data goes out as soon as the windows
 * allow.
 */
int dl_stack_send(struct dl_stack *s, uint16_t app, uint32_t id, const struct dl_tx_frag *frags,
		  unsigned n);

/**
 * The application consumed `bytes` of delivered payload: free the RX
 * buffers they occupied and reopen the receive window. -EINVAL if more
 * than was delivered and not yet returned.
 */
int dl_stack_recv_done(struct dl_stack *s, uint16_t app, uint32_t id, uint32_t bytes);

/** SHUT_WR sends FIN after queued data; SHUT_RD discards further input. */
int dl_stack_shutdown(struct dl_stack *s, uint16_t app, uint32_t id, int how);

/**
 * Close: like shutdown(SHUT_RDWR) and release the id once the connection is
 * finished (cleanup follows: when LAST_ACK ends, or when TIME_WAIT starts;
 * TIME_WAIT itself is kept by the stack). Delivered data counts as read:
 * its buffers are freed at the next flush (not during an upcall). Data
 * never delivered (an offered connection refused with close) or arriving
 * after close resets the connection (RFC 9293 3.6, RFC 1122 4.2.2.13).
 * Any core may close or abort a connection nobody accepted.
 */
int dl_stack_close(struct dl_stack *s, uint16_t app, uint32_t id);

/** Abort: send RST and release at once (used when an application dies). */
int dl_stack_abort(struct dl_stack *s, uint16_t app, uint32_t id);

/** Abort every connection owned by `app` (application crashed or detached). */
void dl_stack_abort_app(struct dl_stack *s, uint16_t app);

/**
 * Like dl_stack_abort_app(), and also the connections `app` already closed
 * whose data is still in flight (their send queues reference the
 * application's memory): for an application process that is gone and
 * whose TX memory is about to be unmapped. Only TIME_WAIT remnants, which
 * reference nothing, stay.
 */
void dl_stack_abort_app_all(struct dl_stack *s, uint16_t app);

#ifdef __cplusplus
}
#endif

#endif /* DL_STACK_H */
