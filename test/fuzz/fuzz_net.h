/*
 * fuzz_net.h - one network core's stack on the in-memory wire, a scripted
 * peer in front of it and a checking application behind it: the world of
 * fuzz_frame and fuzz_tcp_session.
 *
 * The stack (10.0.0.2, side 0 of a memwire) listens on ports 80 (accepted
 * at once) and 8080 (offered and left unaccepted until the script accepts).
 * The peer side is played by the script through fn_seg() (a TCP segment
 * built from a template: the flow, flags, sequence and acknowledgment
 * numbers relative to what each side has sent, window, options, payload,
 * optional corruption; checksums right unless corrupted) and fn_raw()
 * (any bytes as a frame). The peer keeps a model of every flow from the
 * frames the stack sends, so "acknowledge everything", "the next byte the
 * stack expects" and "echo its timestamp" are one-byte choices.
 *
 * Oracles, checked at every step (any violation aborts):
 *  - dl_stack_check(): the stack's own invariants after every iteration;
 *  - every frame the stack sends is well formed (Ethernet from our MAC,
 *    IPv4 header and checksum, TCP/ICMP checksums, lengths);
 *  - payload integrity both ways: the peer's payload byte at sequence s is
 *    a function of (flow, s), so whatever the stack delivers must match it
 *    at the delivered offset (retransmissions of overlapping data carry the
 *    same bytes); the application sends only bytes of a fixed TX pattern,
 *    so every data segment the stack sends must match the pattern at its
 *    offset in the stream (off while raw frames may have said otherwise);
 *  - the events follow the API's rules: new_data only for accepted, live,
 *    not closed connections, references inside the RX region, data_acked
 *    never beyond what was queued, cleanup exactly once per connection
 *    offered or connected (checked again at teardown), nothing after it;
 *  - commands answer as documented: recv_done beyond what was delivered is
 *    -EINVAL, another application core's command -EPERM;
 *  - at teardown every buffer is back in the wire's pool.
 */
#ifndef FUZZ_NET_H
#define FUZZ_NET_H

#include "dl_memwire.h"
#include "dl_stack.h"
#include "fuzz_input.h"

#include <stdbool.h>
#include <stdint.h>

#define FN_OUR_IP   0x0a000002u /* 10.0.0.2: the stack */
#define FN_PEER_IP  0x0a000001u /* 10.0.0.1: known to ARP from the start */
#define FN_PEER2_IP 0x0a000007u /* 10.0.0.7: on the link, unknown to ARP */
#define FN_FAR_IP   0xc0a80505u /* 192.168.5.5: off the link (gateway 10.0.0.254) */
#define FN_GW_IP    0x0a0000feu
#define FN_APP	    1 /* the application core */
#define FN_OTHER    2 /* another application core (commands it must be refused) */

#define FN_NFLOWS 8
#define FN_MAXC	  64 /* connections the application tracks */

/* Flows (peer endpoint, stack port). */
enum {
	FN_F_EST_TS = 0, /* 10.0.0.1:40000 -> 80, established with timestamps and WS */
	FN_F_EST,	 /* 10.0.0.1:40001 -> 80, established without options */
	FN_F_OFFERED,	 /* 10.0.0.1:40002 -> 8080, established, never accepted */
	FN_F_NEW,	 /* 10.0.0.1:40003 -> 80, not open */
	FN_F_ARP,	 /* 10.0.0.7:40004 -> 80, the peer's MAC unknown */
	FN_F_FAR,	 /* 192.168.5.5:40005 -> 80, through the gateway (if any) */
	FN_F_CLOSED,	 /* 10.0.0.1:40006 -> 81, nobody listens */
	FN_F_ACTIVE,	 /* the stack connected to 10.0.0.1:5001 */
};

/** The peer's view of one flow. */
struct fn_flow {
	uint32_t pip;
	uint16_t pport, sport;
	uint32_t p_iss, p_nxt; /* the peer's first and next sequence number */
	uint32_t p_acked;      /* the last acknowledgment the peer sent */
	bool st_seen;	       /* a segment from the stack was seen */
	uint32_t st_iss;       /* the stack's SYN */
	uint32_t st_max;       /* highest sequence end the stack sent */
	uint32_t st_ack;       /* the last acknowledgment the stack sent */
	uint32_t st_tsval;     /* the last timestamp the stack sent */
	uint16_t st_wnd;
	uint8_t st_ws;
};

/** One connection as the application sees it. */
struct fn_conn {
	bool used;
	uint32_t id;
	bool offered;	 /* new_conn seen, not accepted */
	bool accepted;	 /* owned by FN_APP */
	bool active;	 /* opened by the application (connect) */
	bool app_closed; /* close/abort given: only data_acked and cleanup may follow */
	bool remote_closed;
	bool hold; /* keep delivered data (no automatic recv_done) */
	uint64_t rx_delivered, rx_unret;
	uint64_t tx_queued, tx_acked;
};

struct fn {
	struct dl_stack *s;
	struct dl_nic *nic;
	uint64_t now;
	struct fn_flow fl[FN_NFLOWS];
	struct fn_conn c[FN_MAXC];
	bool taint;	/* raw frames were injected: payload integrity is off */
	bool ts_on;	/* the stack offers timestamps */
	unsigned steps; /* loop iterations run */
	uint64_t frames_out;
	uint64_t connect_cookie;
	bool connect_failed;
	uint8_t buf[2048];
};

/** A TCP segment from the peer. */
struct fn_seg {
	unsigned flow;
	uint16_t sport_override; /* peer port instead of the flow's (0: the flow's) */
	uint8_t flags;
	uint32_t seq, ack;
	uint16_t wnd;
	bool mss, ws, sackok, ts;
	uint16_t mss_val;
	uint8_t ws_val;
	uint32_t tsval, tsecr;
	const uint8_t *raw_opts; /* extra option bytes (after the above), NULL: none */
	size_t raw_opts_len;
	const uint8_t *payload; /* NULL: the flow's pattern at seq */
	uint32_t len;
	uint8_t corrupt; /* 0: none, else one of FN_CORRUPT_* */
};

enum {
	FN_CORRUPT_NONE = 0,
	FN_CORRUPT_TCP_CSUM,
	FN_CORRUPT_IP_CSUM,
	FN_CORRUPT_IP_LEN_SHORT,
	FN_CORRUPT_IP_LEN_LONG,
	FN_CORRUPT_DATA_OFFSET,
	FN_CORRUPT_TRUNCATE,
	FN_CORRUPT_TTL0,
	FN_CORRUPT_FRAGMENT,
	FN_CORRUPT_IP_OPTIONS,
	FN_CORRUPT_DST_IP,
	FN_CORRUPT_SRC_BCAST,
	FN_CORRUPT_DST_MAC,
	FN_CORRUPT_PAD,
	FN_CORRUPT_N
};

/** Once per process: the wire and the application's TX memory. */
void fn_global_init(void);

/**
 * A fresh stack configured by @p cfg (bits: timestamps, window scale, SYN
 * cookies with a small backlog, keepalive, no delayed ACK, a gateway, a
 * small receive window, small send queues; keepalive with no delayed ACK
 * also picks BBR instead of CUBIC), flows 0-2 established through
 * the peer and flow 7 connected by the stack.
 */
struct fn *fn_new(uint8_t cfg);

/** Destroy the stack, check every connection was cleaned up and every buffer came back. */
void fn_free(struct fn *w);

/** One loop iteration (input, timers, flush), then read what the stack sent and check. */
void fn_run(struct fn *w);

/** Advance the clock by @p us and run. */
void fn_advance(struct fn *w, uint64_t us);

/** Jump to the stack's next deadline (at most @p max_us ahead) and run. */
void fn_next_deadline(struct fn *w, uint64_t max_us);

/** Build and inject a segment (not run). */
void fn_seg(struct fn *w, const struct fn_seg *sg);

/** A segment with the flow's current numbers: seq p_nxt, ack st_max, its timestamps. */
void fn_seg_default(struct fn *w, unsigned flow, uint8_t flags, struct fn_seg *sg);

/** Inject any bytes as a frame (not run); turns the payload oracle off. */
void fn_raw(struct fn *w, const uint8_t *p, size_t len);

/** An ARP packet from @p sip (op 1 request, 2 reply) with target @p tip (not run). */
void fn_arp(struct fn *w, uint16_t op, uint32_t sip, const uint8_t smac[6], uint32_t tip);

/** An ICMP echo request from @p sip with @p len payload bytes (not run). */
void fn_ping(struct fn *w, uint32_t sip, uint32_t len, bool bad_csum, uint8_t type, uint8_t code);

/**
 * Application commands on connection slot @p k (modulo the connections
 * known). @p op: 0 send @p arg bytes, 1 recv_done @p arg bytes (beyond
 * what is held: must fail with -EINVAL), 2 return everything, 3 toggle
 * holding, 4 shutdown(arg % 3), 5 close, 6 abort, 7 accept, 8 a command of
 * another application core (must fail), 9 connect a new connection.
 */
void fn_app(struct fn *w, unsigned k, unsigned op, uint32_t arg);

/** fn_app() on the connection of @p flow (nothing if it has none). */
void fn_app_flow(struct fn *w, unsigned flow, unsigned op, uint32_t arg);

/** The pattern byte at sequence number @p seq of the peer's stream on a flow. */
static inline uint8_t fn_pat(uint32_t key, uint32_t seq)
{
	uint32_t x = (seq ^ key) * 0x9e3779b1u;

	return (uint8_t)(x >> 24);
}

#endif /* FUZZ_NET_H */
