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
	TCP_SYNCOOKIE_TS,     /* ... of which kept timestamps and the other options */
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
	TCP_PAWS_DISORDERED_ACK, /**< an older timestamp on a duplicate ACK: processed */
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
	/* SACK, RACK-TLP, PRR (tcp_sack.c) */
	TCP_SACK_CONNS,		/**< connections that negotiated SACK */
	TCP_RX_SACK_BLOCKS,	/**< SACK blocks received (D-SACK included) */
	TCP_RX_DSACK,		/**< D-SACK blocks received (RFC 2883) */
	TCP_DROP_SACK_INVALID,	/**< SACK blocks outside SND.UNA..SND.MAX or empty */
	TCP_TX_SACK_BLOCKS,	/**< SACK blocks sent */
	TCP_TX_DSACK,		/**< D-SACK blocks sent */
	TCP_SB_ALLOC,		/**< scoreboards taken from the pool */
	TCP_SB_EXHAUSTED,	/**< scoreboard wanted, pool empty: NewReno fallback */
	TCP_SB_OVERFLOW,	/**< range table full: a SACK block or mark not recorded */
	TCP_SB_TOP_MERGED,	/**< range table full: the two highest ranges made one, in flight */
	TCP_SACK_RECOVERY,	/**< fast recoveries entered on RACK-marked losses */
	TCP_RACK_LOST,		/**< ranges RACK marked lost */
	TCP_RACK_REO_TIMER,	/**< RACK reordering timer expirations */
	TCP_RACK_REORDER,	/**< reordering detected (RACK.reordering_seen) */
	TCP_RACK_LOST_REXMIT,	/**< retransmissions RACK found lost again */
	TCP_TLP_PROBES,		/**< tail loss probes sent */
	TCP_TLP_NEW_DATA,	/**< ... of them new data */
	TCP_TLP_RECOVERED,	/**< probes that repaired a tail loss (cwnd reduced) */
	TCP_TLP_SPURIOUS,	/**< probes the peer D-SACKed: nothing was lost */
	TCP_TLP_DELACK_RAISED,	/**< single-segment probe allowances doubled after a needless probe */
	TCP_RTO_AFTER_TLP,	/**< RTOs that fired although a probe was sent */
	TCP_SACK_RENEGING,	/**< RTOs that found SND.UNA SACKed: SACKs forgotten */
	TCP_SPURIOUS_REXMIT,	/**< retransmissions the peer reported with D-SACK */
	/* congestion control */
	TCP_CC_CUBIC,		/**< connections established with CUBIC */
	TCP_CC_NEWRENO,		/**< connections established with NewReno */
	TCP_CC_BBR,		/**< connections established with BBR */
	TCP_BBR_FULL_BW,	/**< BBR: bottleneck bandwidth found, startup ended */
	TCP_BBR_PROBE_RTT,	/**< BBR: min RTT 10 s old, window cut to 4 segments to measure it */
	TCP_PACED_CONNS,	/**< connections established with pacing (--tcp pacing) */
	TCP_PACING_WAITS,	/**< output stopped until a paced connection's next departure */
	TCP_ECN_CONNS,		/**< connections established with ECN (RFC 3168) */
	TCP_ECN_RX_CE,		/**< segments received marked Congestion Experienced */
	TCP_ECN_REDUCTIONS,	/**< cwnd reductions for an ECN-Echo (once per window) */
	TCP_ECN_TX_CWR,		/**< segments sent with CWR (the reduction told to the peer) */
	TCP_HYSTART_CSS,	/**< HyStart++ entered conservative slow start */
	TCP_HYSTART_EXIT,	/**< HyStart++ ended slow start (no loss) */
	TCP_CWND_RESTART,	/**< cwnd restarted after an idle period (RFC 5681 4.1) */
	TCP_RTT_SAMPLES_TS,	/**< RTT samples from timestamp echoes (RFC 7323 4) */
	/* ICMP errors and path MTU (tcp_icmp.c) */
	TCP_ICMP_RX,		/**< ICMP errors quoting one of our TCP segments */
	TCP_ICMP_NO_CONN,	/**< ... for no connection */
	TCP_ICMP_BAD_SEQ,	/**< ... quoting a sequence number not in flight (RFC 5927) */
	TCP_ICMP_BAD_QUOTE,	/**< ... whose quoted header is not ours or truncated */
	TCP_ICMP_CONNECT_FAILED, /**< connects failed at once by an unreachable */
	TCP_ICMP_SOFT_ERR,	/**< soft errors recorded (established connections) */
	TCP_ICMP_IGNORED,	/**< codes and types with no effect (source quench ...) */
	TCP_PMTU_FRAG_NEEDED,	/**< fragmentation needed received */
	TCP_PMTU_REDUCED,	/**< path MTU estimates lowered */
	TCP_PMTU_IGNORED,	/**< frag-needed not lowering the estimate (or below 552) */
	/* TIME_WAIT (tcp_tw.c) */
	TCP_TW_ENTERED,		/**< compact TIME_WAIT entries created */
	TCP_TW_EVICTED,		/**< entries evicted, oldest first, at time_wait_max */
	TCP_TW_REUSED_ACTIVE,	/**< TIME_WAIT tuples reused by connect (RFC 6191) */
	TCP_TW_RST_KILLED,	/**< entries ended by a RST */
	/* core-wide receive limits */
	TCP_DROP_OOO_CORE,	/**< out-of-order segments over the core's ooo_core_bufs */
	TCP_OOO_EVICTED,	/**< out-of-order buffers taken from the largest holder */
	TCP_DROP_APP_BUFS,	/**< in-order segments over an app core's app_rx_bufs */
	TCP_SIMOPEN,		/**< simultaneous opens completed by a SYN-ACK in SYN_RCVD */
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
	TF_RECOVERY = 1u << 12,	  /**< fast recovery (NewReno, or SACK/PRR with sb) */
	TF_LOSS = 1u << 13,	  /**< RTO recovery with a scoreboard (with TF_RECOVERY) */
	TF_SYN_REXMIT = 1u << 14, /**< SYN or SYN-ACK was retransmitted (IW = 1) */
	TF_DEFERRED = 1u << 15,	  /**< on the deferred list */
	TF_OUTPUT = 1u << 16,	  /**< run tcp_output at the next flush */
	TF_DETACH = 1u << 17,	  /**< deliver cleanup, keep the TCB (TIME_WAIT) */
	TF_FREE = 1u << 18,	  /**< release at the next flush */
	TF_CLEANED = 1u << 19,	  /**< cleanup delivered: id is dead */
	TF_RX_RELEASE = 1u << 20, /**< free held RX buffers at the next flush */
	TF_WND_UPDATE = 1u << 21, /**< the window opened: advertise it */
	TF_LISTENER = 1u << 22,	  /**< counted in listener `lst` (SYN_RCVD / unaccepted) */
	TF_SACK = 1u << 23,	  /**< SACK negotiated (RFC 2018) */
	TF_PTO = 1u << 24,	  /**< t_rtx is the tail loss probe timeout */
	TF_TLP_OUT = 1u << 25,	  /**< a loss probe is unacknowledged (tlp_end) */
	TF_TLP_REXMIT = 1u << 26, /**< ... and it was a retransmission */
	TF_TLP_NEED_RTT = 1u << 27, /**< no RTT sample since the last probe */
	TF_DSACK = 1u << 28,	  /**< a D-SACK block (dsack) waits to be sent */
	TF_REORDER = 1u << 29,	  /**< RACK saw reordering (RACK.reordering_seen) */
	TF_DSACK_ROUND = 1u << 30, /**< dsack_round is set (RFC 8985 6.2 step 4) */
	TF_ICMP_DEAD = 1u << 31,  /**< failed by an ICMP error: connect_failed given */
};

/** More connection flags (dl_tcb.fl2). */
enum dl_tcb_flags2 {
	TF2_CWND_LIMITED = 1u << 0, /**< the last output was limited by cwnd (RFC 7661) */
	TF2_SB_FAILED = 1u << 1,    /**< no scoreboard could be had in this episode */
	TF2_PMTU_LOWERED = 1u << 2, /**< mss lowered by a frag-needed */
	TF2_TLP_ONE = 1u << 3,      /**< the probe out went after a single-segment timeout */
	TF2_PACED = 1u << 4,	    /**< data leaves at the pacing rate (pace_next) */
	TF2_PACE_WAIT = 1u << 5,    /**< output waits for pace_next (the timer wakes it) */
};

/** ECN state of a connection (dl_tcb.ecn, RFC 3168; all 0 without ECN). */
enum dl_tcb_ecn {
	ECN_OK = 1u << 0,      /**< negotiated: our new data goes out ECT(0) */
	ECN_ECE = 1u << 1,     /**< a CE mark arrived: our ACKs carry ECE until a CWR */
	ECN_CWR_OUT = 1u << 2, /**< cwnd was reduced: the next new data carries CWR */
	ECN_CWR = 1u << 3,     /**< ... reduced for the window up to `recover` */
};

/** IPv4 ECN field: ECN-Capable Transport (0), Congestion Experienced. */
#define DL_IP_ECT0 0x02u
#define DL_IP_CE   0x03u

/** Round-trip time probes a connection times at once (microsecond samples). */
#define DL_TCP_RTT_PROBES 3

/** Bytes of congestion control state in a TCB (dl_tcp_cc.h). */
#define DL_TCP_CC_PRIV 80

struct dl_tcp_sb;

/**
 * One connection. Kept compact (see dl_stack_tcp_mem): an idle
 * established connection costs this, its hash chain head share and no
 * timer, chunk, scoreboard or buffer.
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
	uint8_t tso_segs;  /**< MSS-sized segments per TSO packet (0: no TSO; paced:
			        about 1 ms at the pacing rate, at most the NIC's) */
	uint8_t cc;	   /**< congestion control (enum dl_tcp_cc) */
	uint8_t soft_err;  /**< last ICMP soft error (errno), 0: none */
	uint8_t fl2;	   /**< dl_tcb_flags2 */
	uint32_t snd_last; /**< timestamp tick of the last data sent (idle restart) */
	uint32_t acked_batch; /**< bytes cumulatively acknowledged since the last output */
	uint32_t pace_next;   /**< TF2_PACED: clock (us, low 32 bits) before which no data leaves */

	/* round-trip time (RFC 6298), microseconds; srtt << 3, rttvar << 2 */
	uint32_t srtt8, rttvar4, rto;
	uint32_t min_rtt;	/**< microseconds (windowed minimum; 0: no sample) */
	uint32_t min_rtt_stamp; /**< timestamp tick of min_rtt */
	/* timed segments: first byte and send time (us), oldest first */
	uint32_t rtp_seq[DL_TCP_RTT_PROBES], rtp_t[DL_TCP_RTT_PROBES];
	uint8_t rtp_n;

	/* RACK-TLP state that outlives a scoreboard (RFC 8985) */
	uint8_t reo_mult;    /**< RACK.reo_wnd_mult */
	uint8_t reo_persist; /**< RACK.reo_wnd_persist */
	uint8_t nrsack;	     /**< SACK blocks to report (rsack) */
	uint32_t dsack_round; /**< RACK.dsack_round (TF_DSACK_ROUND) */
	uint32_t tlp_end;     /**< TLP.end_seq (TF_TLP_OUT) */
	struct dl_tcp_sb *sb; /**< sender scoreboard, only while recovering */

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
	uint8_t tlp_dack_up;  /**< doublings of the single-segment probe allowance (0-3, dl_tcp_pto) */
	uint8_t ecn;	      /**< dl_tcb_ecn (0: no ECN on this connection) */
	struct dl_tcp_rxb *rx_head, *rx_tail, *ooo_head;
	uint32_t ooo_prev, ooo_next; /**< list of connections holding out-of-order data (slot + 1) */
	/* SACK blocks we report, most recent first (RFC 2018 4), and a D-SACK */
	uint32_t rsack[DL_TCP_MAX_SACK][2];
	uint32_t dsack[2];

	/* send queue */
	struct dl_tcp_chunk *sq_tail;
	struct dl_tcp_sqpos sq_head; /**< at sq_seq (oldest unacked byte) */
	struct dl_tcp_sqpos sq_cur;  /**< at snd_nxt */
	uint32_t sq_seq, sq_bytes;
	uint16_t sq_nfrags;

	/* congestion control state (dl_tcp_cc.h), by algorithm */
	uint32_t ca[DL_TCP_CC_PRIV / 4];

	/* timers: one wheel node, three deadlines (0 = off) */
	struct dl_wheel_node tn;
	uint64_t t_rtx, t_delack, t_idle;
	uint64_t cookie; /**< connect cookie */
};

/* --- sender scoreboard (tcp_sack.c) ----------------------------------------- */

/** Range flags (dl_tcp_sbr.fl). */
enum {
	SB_SACKED = 1,	     /**< the peer holds it (SACK) */
	SB_LOST = 2,	     /**< marked lost (RACK or RTO) */
	SB_REXMIT = 4,	     /**< retransmitted since it was marked lost (in flight) */
	SB_EVER_REXMIT = 8,  /**< retransmitted at least once (RTT ambiguity) */
};

/** A run of sent sequence space with one send time and state. */
struct dl_tcp_sbr {
	uint32_t end; /**< sequence number after it (start: the previous end) */
	uint32_t ts;  /**< last (re)transmission time, microseconds (truncated) */
	uint8_t fl;   /**< SB_* */
};

#define DL_TCP_SB_RANGES 48

/**
 * The scoreboard of one connection while it recovers (RFC 6675 terms,
 * RACK-TLP loss detection, PRR), from a per-core pool: [una, snd_max)
 * cut in ranges. Allocated when the first SACK block arrives (or at an
 * RTO of a SACK connection), released once recovery is over and nothing
 * is SACKed or lost.
 */
struct dl_tcp_sb {
	struct dl_tcp_sb *next; /**< pool free list */
	uint32_t una;		/**< start of r[0] */
	uint16_t n;		/**< ranges used */
	uint32_t sacked;	/**< bytes SACKed */
	uint32_t lost;		/**< bytes marked lost and not retransmitted */
	uint32_t fack;		/**< highest SACKed sequence (end) */
	/* RACK (RFC 8985 6): the most recently sent segment delivered */
	uint32_t rack_ts, rack_end, rack_rtt;
	bool rack_valid;
	uint64_t t_reo; /**< RACK reordering timer deadline (0: off) */
	/* PRR (RFC 6937) */
	uint32_t prr_delivered, prr_out, recover_fs;
	struct dl_tcp_sbr r[DL_TCP_SB_RANGES];
};

/* --- listeners ------------------------------------------------------------- */

struct dl_tcp_listener {
	uint16_t port; /**< 0: free slot */
	uint32_t accept_max;
	uint32_t n_syn;	      /**< SYN_RCVD children */
	uint32_t n_acc;	      /**< established, not accepted */
	uint32_t cookie_slot; /**< 1 + cookie time slot of the last SYN cookie sent (0: none) */
};

/* --- compact TIME_WAIT (tcp_tw.c) ----------------------------------------- */

/**
 * What a connection in TIME_WAIT still needs (RFC 9293 3.6.1, RFC 7323,
 * RFC 6191): its 4-tuple, both sequence numbers, the timestamps to echo
 * and check, and when it ends. Kept in a per-core ring in creation order
 * (the oldest is evicted first) and in the 4-tuple hash beside the TCBs.
 */
struct dl_tcp_tw {
	uint32_t rip;
	uint16_t lport, rport;
	uint32_t hnext;			    /**< hash chain, as dl_tcb.hnext */
	uint32_t snd_nxt, rcv_nxt;
	uint32_t ts_recent, ts_off, ts_recent_age; /**< with TW_TS */
	uint32_t expire;		    /**< timestamp tick at which it ends */
	uint16_t wnd;			    /**< window field of our ACKs */
	uint8_t fl;			    /**< TW_LIVE, TW_TS */
	uint8_t pad;
};
enum { TW_LIVE = 1, TW_TS = 2 };
#define DL_TCP_TW_CHUNK 1024u
/** Hash chain values with this bit name a TIME_WAIT entry (ring slot). */
#define DL_TCP_HTW 0x80000000u

/* --- path MTU cache (tcp_icmp.c) -------------------------------------------- */

#define DL_TCP_PMTU_SLOTS 256
struct dl_tcp_pmtu {
	uint32_t ip;	  /**< destination, 0: free */
	uint16_t mtu;	  /**< lowered path MTU */
	uint64_t expires; /**< time it stops applying to new connections */
};

/* --- per-core TCP state --------------------------------------------------- */

#define DL_TCP_SLAB_SHIFT 6  /**< TCBs per slab = 64 */
/** Wheel tick = 64 us: the timers' precision. RACK's reordering timer
 *  (a quarter of the minimum RTT, tens of microseconds on a LAN) and the
 *  probe timeout fire at most a tick late; with 256 us the median 4 KiB
 *  request at 3% loss took 257-280 us, with 64 us 75-102 (docs/tcp.md). */
#define DL_TCP_TICK_SHIFT 6
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

	/* 4-tuple hash (SipHash-1-3, keyed): heads are slot index + 1, or
	 * DL_TCP_HTW | ring slot for a TIME_WAIT entry */
	uint32_t *htab;
	uint32_t hmask;
	uint64_t hkey[2];
	uint32_t lk_last; /**< slot + 1 of the last connection found (segments come in runs) */

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

	/* scoreboard pool (tcp_sack.c) */
	struct dl_tcp_sb *sb_free;
	void **sb_slabs;
	uint32_t sb_nslabs, sb_slab_cap;
	uint32_t sb_total, sb_used;

	/* compact TIME_WAIT ring (tcp_tw.c): positions head..tail, slot =
	 * position % tw_cap, entries in chunks of DL_TCP_TW_CHUNK */
	struct dl_tcp_tw **tw_chunks;
	uint32_t tw_cap, tw_nchunks;
	uint32_t tw_head, tw_tail, tw_live;

	struct dl_tcp_pmtu pmtu[DL_TCP_PMTU_SLOTS];

	/* core-wide receive limits */
	uint32_t ooo_bufs;  /**< RX buffers held out of order, all connections */
	uint32_t ooo_conns; /**< connections holding out-of-order data */
	uint32_t ooo_list;   /**< slot + 1 of the first connection holding some */
	uint32_t ooo_cursor; /**< slot + 1 where the next victim search starts */
	/* Per application core (indexed by its DLibOS core number, below
	 * DL_MAX_CORES, dl_coreset.h via dl_hal.h); a connection owned by
	 * no core (DL_APP_NONE) is counted in neither. */
	uint32_t app_bufs[DL_MAX_CORES]; /**< per app core: in-order RX buffers held */

	uint16_t port_next;	/**< ephemeral port search offset */
	uint64_t app_unret[DL_MAX_CORES]; /**< per app core: delivered bytes not yet returned */
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

/**
 * Pacing needs a timer finer than the round trip: the wheel's 64 us tick
 * spaces packets only where the RTT spans many ticks. A paced connection
 * (TF2_PACED) whose minimum RTT is below this sends unpaced (on a LAN a
 * window leaves within a tick or two anyway) and BBR runs as unpaced.
 */
#define DL_TCP_PACE_MIN_RTT_US 1000u

/** How late a paced departure may be caught up (a burst at most this long
 *  at the rate): the wheel fires up to a tick late, and a core under the
 *  sleep idle policy sleeps up to 128 us before it looks. */
#define DL_TCP_PACE_CREDIT_US 128u

/** Is connection c pacing now (TF2_PACED and an RTT pacing can space)? */
static inline bool tcb_paced_now(const struct dl_tcb *c)
{
	return (c->fl2 & TF2_PACED) && c->min_rtt >= DL_TCP_PACE_MIN_RTT_US;
}

static inline bool tcb_synchronized(const struct dl_tcb *c)
{
	return c->state >= DL_TCP_ESTABLISHED;
}

/** Delivered so far, in sequence space: SND.UNA plus what the peer
 *  SACKed above it (the congestion control's delivery count; what a
 *  cumulative ACK moves below SND.UNA is not counted twice). */
static inline uint32_t tcb_delivered(const struct dl_tcb *c)
{
	return c->snd_una + (c->sb != NULL ? c->sb->sacked : 0);
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
/** The connection with this 4-tuple; a TIME_WAIT entry in *tw (may be NULL) instead. */
struct dl_tcb *dl_tcp_lookup(struct dl_tcp *t, uint32_t rip, uint16_t lport, uint16_t rport,
			     struct dl_tcp_tw **tw);
uint32_t dl_tcp_tuple_hash(const struct dl_tcp *t, uint32_t rip, uint16_t lport, uint16_t rport);
/** The chain link holding `me` (TCB slot + 1, or DL_TCP_HTW | TIME_WAIT slot) in chain `head`. */
uint32_t *dl_tcp_hash_link(struct dl_tcp *t, uint32_t head, uint32_t me);
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

/* tcp_sack.c: SACK both ways, scoreboard, RACK-TLP, PRR */

/** SACK blocks of an incoming ACK, checked against our sequence space. */
struct dl_tcp_sack_in {
	uint8_t n;			  /**< valid blocks in b[], ascending */
	bool dsack;			  /**< the first block was a D-SACK */
	uint32_t dsack_s, dsack_e;	  /**< ... for these bytes */
	uint32_t b[DL_TCP_MAX_SACK][2];	  /**< [start, end) within SND.UNA..SND.MAX */
};
void dl_tcp_sack_parse(struct dl_tcp *t, const struct dl_tcb *c, const struct dl_tcp_hdr *h,
		       struct dl_tcp_sack_in *si);
/**
 * An ACK of a SACK connection (after SND.UNA moved by `cum` bytes):
 * scoreboard, RACK, recovery and cwnd. @return false when no scoreboard
 * is in charge (none needed, or none left): the caller runs NewReno.
 */
bool dl_tcp_sack_ack(struct dl_tcp *t, struct dl_tcb *c, const struct dl_tcp_sack_in *si,
		     uint32_t cum);
/** Take a scoreboard for c; what is in flight was sent at least `age` us ago. */
bool dl_tcp_sb_start(struct dl_tcp *t, struct dl_tcb *c, uint32_t age);
/** Give the scoreboard back (a go-back-N or a zero window follows). */
void dl_tcp_sb_drop(struct dl_tcp *t, struct dl_tcb *c);
/** Record a (re)transmission of [s, e) at now. */
void dl_tcp_sb_sent(struct dl_tcp *t, struct dl_tcb *c, uint32_t s, uint32_t e, bool rexmit);
/** May new data be recorded (room in the range table)? */
bool dl_tcp_sb_can_append(struct dl_tcp *t, struct dl_tcb *c);
/** RTO or path MTU drop: everything not SACKed is lost (forget_sacked: SACKs too). */
void dl_tcp_sb_mark_all_lost(struct dl_tcp *t, struct dl_tcb *c, bool forget_sacked);
/** Bytes in flight (RFC 6675 pipe). */
uint32_t dl_tcp_sb_pipe(const struct dl_tcb *c);
/** The first range lost and not retransmitted. */
bool dl_tcp_sb_next_lost(const struct dl_tcb *c, uint32_t *s, uint32_t *e);
void dl_tcp_sb_pool_free(struct dl_tcp *t);
void dl_tcp_rack_timeout(struct dl_tcp *t, struct dl_tcb *c);
/** May a probe timeout be armed for c (RFC 8985 7.2)? */
static inline bool dl_tcp_tlp_allowed(const struct dl_tcp *t, const struct dl_tcb *c)
{
	return (c->flags & (TF_SACK | TF_RECOVERY | TF_PERSIST | TF_TLP_OUT)) == TF_SACK &&
	       t->p.tlp && (c->sb == NULL || c->sb->sacked == 0) && c->snd_nxt == c->snd_max &&
	       tcb_synchronized(c) && c->state != DL_TCP_TIME_WAIT;
}

void dl_tcp_tlp_fire(struct dl_tcp *t, struct dl_tcb *c);
void dl_tcp_tlp_ack(struct dl_tcp *t, struct dl_tcb *c, uint32_t ack, const struct dl_tcp_sack_in *si,
		    bool dupack);
/** Out-of-order data [s, e) is one contiguous run now: report it first. */
void dl_tcp_rsack_add(struct dl_tcb *c, uint32_t s, uint32_t e);
/** Forget blocks RCV.NXT passed. */
void dl_tcp_rsack_trim(struct dl_tcb *c);
/** A duplicate [s, e) arrived: report it once (RFC 2883). */
void dl_tcp_dsack_note(struct dl_tcb *c, uint32_t s, uint32_t e);
/** The blocks for an outgoing ACK (D-SACK first), at most max. */
unsigned dl_tcp_sack_blocks(struct dl_tcp *t, struct dl_tcb *c, uint32_t (*out)[2], unsigned max);

/* tcp_tw.c: compact TIME_WAIT */

/** The TIME_WAIT entry in ring slot `slot` (its chunk exists). */
static inline struct dl_tcp_tw *dl_tcp_tw_at(const struct dl_tcp *t, uint32_t slot)
{
	return &t->tw_chunks[slot / DL_TCP_TW_CHUNK][slot % DL_TCP_TW_CHUNK];
}
/**
 * Replace connection c (in TIME_WAIT, its id given up) by a compact entry
 * and close c. With tw_max 0 (or no memory) c just closes.
 */
void dl_tcp_tw_enter(struct dl_tcp *t, struct dl_tcb *c);
/** What dl_tcp_tw_input decided. */
enum dl_tcp_tw_verdict { DL_TW_DONE, DL_TW_REOPEN };
/** A segment for a TIME_WAIT entry (RFC 9293 3.10.7.4, RFC 7323, RFC 6191). */
enum dl_tcp_tw_verdict dl_tcp_tw_input(struct dl_tcp *t, struct dl_tcp_tw *w,
				       const struct dl_tcp_hdr *h, uint32_t plen);
/** connect() may take this TIME_WAIT 4-tuple (RFC 6191: timestamps, a second old). */
bool dl_tcp_tw_reusable(const struct dl_tcp *t, const struct dl_tcp_tw *w);
/** Forget an entry now (reused, reset). */
void dl_tcp_tw_remove(struct dl_tcp *t, struct dl_tcp_tw *w);
void dl_tcp_tw_poll(struct dl_tcp *t);
uint64_t dl_tcp_tw_next(const struct dl_tcp *t);
void dl_tcp_tw_destroy(struct dl_tcp *t);

/* tcp_icmp.c: the lowered path MTU toward ip (0: none known) */
uint16_t dl_tcp_pmtu_get(const struct dl_tcp *t, uint32_t ip);

/* tcp_in.c */
void dl_tcp_reset_conn(struct dl_tcp *t, struct dl_tcb *c, enum dl_close_reason why, int err);

/* tcp_out.c */
void dl_tcp_output(struct dl_tcp *t, struct dl_tcb *c);
void dl_tcp_send_ack(struct dl_tcp *t, struct dl_tcb *c);
void dl_tcp_send_rst_conn(struct dl_tcp *t, struct dl_tcb *c);
/*
 * SYN cookies (RFC 4987 3.6): the ISS of a SYN-ACK sent without keeping
 * state. 5 bits of time slot (2^26 us, ~67 s), 3 bits of MSS index, 1 bit
 * saying whether the SYN-ACK carried a timestamp, 23 bits of SipHash over
 * the 4-tuple, the peer's ISN, the full slot, the index and the options.
 * A cookie is valid during its slot and the next one (67 to 134 s).
 *
 * When the SYN offered timestamps (and they are on), the other options
 * travel in the low 6 bits of the SYN-ACK's TSval, which the peer echoes
 * (as Linux does): the peer's window scale (DL_TCP_COOKIE_WS_NONE: none),
 * SACK-permitted and ECN. They are part of the MAC, so a forged echo fails
 * the cookie. Without timestamps the cookie keeps the MSS only
 * (DL_TCP_COOKIE_NO_TS).
 */
#define DL_TCP_COOKIE_SLOT_SHIFT 26
#define DL_TCP_COOKIE_WS_NONE 0x0fu /**< no window scaling */
#define DL_TCP_COOKIE_SACK 0x10u    /**< SACK permitted */
#define DL_TCP_COOKIE_ECN 0x20u	    /**< ECN negotiated (RFC 3168) */
#define DL_TCP_COOKIE_OPT_MASK 0x3fu
#define DL_TCP_COOKIE_NO_TS 0x40u /**< opts of a cookie without timestamps */
#define DL_TCP_COOKIE_TS_BIT (1u << 23)
uint32_t dl_tcp_cookie_slot(const struct dl_tcp *t);
/** The cookie for a SYN from rip:rport with ISN irs, MSS peer_mss and the
 * options @p opts (DL_TCP_COOKIE_NO_TS, or bits under DL_TCP_COOKIE_OPT_MASK). */
uint32_t dl_tcp_cookie(const struct dl_tcp *t, uint32_t rip, uint16_t lport, uint16_t rport,
		       uint32_t irs, uint16_t peer_mss, unsigned opts);
/** The MSS a cookie encodes, or 0 when it is not valid for that connection
 * now with the options @p opts (the low bits of the echoed TSval when the
 * cookie has DL_TCP_COOKIE_TS_BIT, else DL_TCP_COOKIE_NO_TS). */
uint16_t dl_tcp_cookie_check(const struct dl_tcp *t, uint32_t rip, uint16_t lport, uint16_t rport,
			     uint32_t irs, uint32_t cookie, unsigned opts);
/** A SYN-ACK with a cookie (no state): the MSS option, and when @p opts is
 * not DL_TCP_COOKIE_NO_TS the options it encodes, a timestamp echoing
 * @p tsecr whose low bits are @p opts, and ECE for ECN. */
void dl_tcp_send_synack_cookie(struct dl_tcp *t, uint32_t rip, uint16_t lport, uint16_t rport,
			       uint32_t iss, uint32_t ack, unsigned opts, uint32_t tsecr);
void dl_tcp_send_rst(struct dl_tcp *t, uint32_t rip, uint16_t lport, uint16_t rport, uint32_t seq,
		     uint32_t ack, uint8_t flags);
void dl_tcp_send_keepalive(struct dl_tcp *t, struct dl_tcb *c);
void dl_tcp_retransmit_first(struct dl_tcp *t, struct dl_tcb *c);
/** Retransmit [s, e) (at most a TSO packet; the FIN with it when e passes
 *  the data). @return sequence space sent (0: nothing). */
uint32_t dl_tcp_retransmit_range(struct dl_tcp *t, struct dl_tcb *c, uint32_t s, uint32_t e);
/** One segment of new data, at most max bytes, the peer's window allowing
 *  (cwnd not checked: a loss probe). @return bytes sent. */
uint32_t dl_tcp_send_new(struct dl_tcp *t, struct dl_tcb *c, uint32_t max);
/** Arm the retransmission timer: a loss probe timeout when RFC 8985 7.2
 *  allows, else the RTO (restart: even if armed). */
void dl_tcp_arm_rtx(struct dl_tcp *t, struct dl_tcb *c, bool restart);
/** A segment of no connection with the header h (RST, cookie SYN-ACK, TIME_WAIT ACK). */
int dl_tcp_send_segment(struct dl_tcp *t, uint32_t rip, struct dl_tcp_hdr *h);
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

/** The probe timeout (RFC 8985 7.2; see tcp_sack.c). */
static inline uint32_t dl_tcp_pto(const struct dl_tcp *t, const struct dl_tcb *c)
{
	uint32_t srtt = c->srtt8 >> 3, pto, rto = dl_tcp_rto_backed_off(t, c);

	if (c->srtt8 == 0)
		return min_u32(1000000u, rto);
	pto = 2 * srtt;
	/* One segment in flight: the peer may delay its ACK (WCDelAckT).
	 * The allowance starts at an eighth of tlp_delack_us (a request/
	 * response peer answers at once: a lost last segment of a response
	 * is found in milliseconds) and doubles after each probe the peer
	 * shows was needless (it did delay its ACK), up to tlp_delack_us.
	 * More: 2 ms beyond 2 SRTT, as Linux (TCP_TIMEOUT_MIN), so that the
	 * jitter of a loaded host or of a receiver coalescing ACKs does not
	 * trigger probes on a LAN where SRTT is tens of microseconds. */
	if (c->snd_max - c->snd_una <= c->mss)
		pto += t->p.tlp_delack_us >> (3u - (c->tlp_dack_up < 3u ? c->tlp_dack_up : 3u));
	else
		pto += 2000; /* Linux's TCP_TIMEOUT_MIN */
	return min_u32(pto, rto);
}
/**
 * An RTT sample (RFC 6298; with `per_rtt` samples expected per round
 * trip the gains are divided by it, RFC 7323 appendix G).
 */
void dl_tcp_rtt_sample(struct dl_tcp *t, struct dl_tcb *c, uint32_t rtt_us, uint32_t per_rtt);
/** Forget timed segments in [s, e) (Karn: they were retransmitted). */
void dl_tcp_rtt_forget(struct dl_tcb *c, uint32_t s, uint32_t e);
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

static_assert(DL_MAX_CORES <= DL_APP_NONE, "a core number fits c->app and is not DL_APP_NONE");

/* Per application core: received bytes delivered and not yet returned
 * (what --app-rx-credit limits). */
static inline void dl_tcp_app_unret(struct dl_tcp *t, const struct dl_tcb *c, int64_t delta)
{
	if (c->app < DL_MAX_CORES)
		t->app_unret[c->app] += (uint64_t)delta;
}

/* c starts / stops holding out-of-order data (the core's holders list). */
void dl_tcp_ooo_holder(struct dl_tcp *t, struct dl_tcb *c, bool holds);

/* In-order RX buffers held by the owner of c change by n. */
static inline void dl_tcp_app_bufs(struct dl_tcp *t, const struct dl_tcb *c, int n)
{
	if (c->app < DL_MAX_CORES)
		t->app_bufs[c->app] += (uint32_t)n;
}

/* True when the owner of c holds app_rx_bufs in-order buffers or more. */
static inline bool dl_tcp_app_over_bufs(const struct dl_tcp *t, const struct dl_tcb *c)
{
	return t->p.app_rx_bufs != 0 && c->app < DL_MAX_CORES && t->app_bufs[c->app] >= t->p.app_rx_bufs;
}

/* True when the owner of c holds more unreturned data than its credit. */
static inline bool dl_tcp_app_over_credit(const struct dl_tcp *t, const struct dl_tcb *c)
{
	return t->p.app_rx_credit != 0 && c->app < DL_MAX_CORES && t->app_unret[c->app] > t->p.app_rx_credit;
}

#endif /* DL_TCP_H */
