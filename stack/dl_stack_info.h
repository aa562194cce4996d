/*
 * dl_stack_info.h - read-only summaries of one net core's connections,
 * for telemetry (/dlibos/conns) and debugging, without reaching into the
 * TCP control block from outside the stack.
 *
 * Thread-safety: dl_stack_conn_next() and dl_stack_conn_get() read the
 * connection table and must run on the stack's own core (the engine asks
 * the core to run them between two loop iterations and copies the
 * result out). dl_stack_conn_count() is a single relaxed load that any
 * thread may make while the core runs.
 */
#ifndef DL_STACK_INFO_H
#define DL_STACK_INFO_H

#include "dl_stack.h"

#include <stdint.h>

/** One connection as telemetry shows it (addresses and ports host order). */
struct dl_stack_conn_info {
	uint32_t id;   /**< the id the stack's upcalls use */
	uint32_t slot; /**< table slot (listing cursor) */
	uint32_t local_ip, remote_ip;
	uint16_t local_port, remote_port;
	uint16_t app;	      /**< owning application core, DL_APP_NONE when not accepted */
	uint8_t state;	      /**< TCP state (dl_stack_conn_state_name()) */
	bool active;	      /**< we opened it (connect) */
	bool app_closed;      /**< the application closed or aborted it */
	uint32_t mss;	      /**< payload bytes per segment we send */
	uint32_t cwnd;	      /**< congestion window, bytes */
	uint32_t ssthresh;    /**< slow-start threshold, bytes */
	uint32_t srtt_us;     /**< smoothed RTT (0: no sample yet) */
	uint32_t rttvar_us;   /**< RTT variation */
	uint32_t rto_us;      /**< retransmission timeout, with the backoff */
	uint32_t in_flight;   /**< bytes sent and not acknowledged (snd_max - snd_una) */
	uint32_t unsent;      /**< bytes queued and not sent yet */
	uint32_t snd_wnd;     /**< the peer's window, bytes */
	uint32_t rcv_wnd;     /**< the window we would advertise now, bytes */
	uint32_t rx_held_app; /**< bytes delivered to the application, not returned yet */
	uint32_t rx_held;     /**< in-order bytes held (delivered or not) */
	uint32_t ooo_bytes;   /**< out-of-order bytes held */
	uint8_t dupacks;      /**< duplicate ACKs counted */
	uint8_t backoff;      /**< RTO backoff exponent */
	uint8_t cc;	      /**< congestion control (enum dl_tcp_cc) */
	uint8_t bbr_mode;     /**< BBR: 0 Startup, 1 ProbeBW, 2 ProbeRTT, 3 Drain */
	bool paced;	      /**< its data leaves at pacing_rate (--tcp pacing) */
	bool ecn;	      /**< ECN negotiated (--tcp ecn, RFC 3168) */
	uint32_t min_rtt_us;  /**< minimum RTT seen (0: no sample) */
	uint32_t bbr_min_rtt_us; /**< BBR: its minimum RTT (of the last 10 s) */
	uint64_t bbr_bw;      /**< BBR: bottleneck bandwidth estimate, bytes/s (0: none) */
	uint64_t pacing_rate; /**< paced: bytes/s now (0: unpaced for now, the minimum
			           RTT below 1 ms or no RTT sample yet) */
};

/** The name of a BBR mode (dl_stack_conn_info.bbr_mode): "startup", ... */
const char *dl_stack_bbr_mode_name(unsigned mode);

/** The name of a congestion control (enum dl_tcp_cc): "newreno", "cubic", "bbr". */
const char *dl_stack_cc_name(unsigned cc);

/** The name of a connection state ("ESTABLISHED", ...). */
const char *dl_stack_conn_state_name(unsigned state);

/**
 * The first connection in use whose table slot is >= @p slot: fills @p out
 * and returns its slot, or -1 when there is none (list with slot =
 * previous + 1). Stack's own core only.
 */
int64_t dl_stack_conn_next(const struct dl_stack *s, uint32_t slot, struct dl_stack_conn_info *out);

/**
 * The connection named by @p id (a current id; a stale one is not
 * found). 0 with @p out filled, or -ENOENT. Stack's own core only.
 */
int dl_stack_conn_get(const struct dl_stack *s, uint32_t id, struct dl_stack_conn_info *out);

/** Connections in use on this stack (every state); any thread, approximate. */
uint32_t dl_stack_conn_count(const struct dl_stack *s);

/**
 * One compact TIME_WAIT entry (a connection closed by its application
 * that waits out 2*MSL without a TCB, docs/tcp.md "Compact TIME_WAIT"),
 * as telemetry shows it. Addresses and ports host order.
 */
struct dl_stack_tw_info {
	uint32_t local_ip, remote_ip;
	uint16_t local_port, remote_port;
	uint32_t expires_ms; /**< until the entry ends (a retransmitted FIN restarts 2*MSL) */
	bool timestamps;     /**< RFC 7323 timestamps: reusable early by RFC 6191 */
};

/** The cursor that starts a TIME_WAIT listing at the oldest entry. */
#define DL_STACK_TW_FIRST 0

/**
 * The oldest live TIME_WAIT entry at or after @p cursor
 * (DL_STACK_TW_FIRST, or what the previous call returned): fills @p out
 * and returns the cursor to pass next, or -1 when there is none. Entries
 * come oldest first; ones that expire between two calls are skipped.
 * Stack's own core only.
 */
int64_t dl_stack_tw_next(const struct dl_stack *s, uint64_t cursor, struct dl_stack_tw_info *out);

/** Live TIME_WAIT entries on this stack; any thread, approximate. */
uint32_t dl_stack_tw_count(const struct dl_stack *s);

#endif /* DL_STACK_INFO_H */
