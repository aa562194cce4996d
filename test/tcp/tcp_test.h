/*
 * tcp_test.h - fixture for crafted-segment TCP tests (smoltcp's shape:
 * build a segment, feed it at a given time, assert the exact reply).
 *
 * The stack under test sits on side 0 of an in-memory wire (10.0.0.2);
 * the test plays the peer on side 1 (10.0.0.1): it injects frames it
 * builds with tf_send()/tf_seg() and pops what the stack transmitted with
 * tf_recv(), which checks the IPv4 and TCP checksums. Every upcall is
 * logged in f->ev[] (and may trigger a hook) so tests assert the events as
 * well. Time is f->now; tf_run() is one loop iteration of the net core.
 */
#ifndef TCP_TEST_H
#define TCP_TEST_H

#include "dl_cksum.h"
#include "dl_memwire.h"
#include "dl_stack_priv.h"
#include "dl_tcp.h"
#include "dl_tcp_check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#define OUR_IP	  0x0a000002u
#define PEER_IP	  0x0a000001u
#define OUR_PORT  80
#define PEER_PORT 40000
#define APP	  1

enum tf_ev_type {
	EV_NEW_CONN = 1,
	EV_CONNECTED,
	EV_CONNECT_FAILED,
	EV_NEW_DATA,
	EV_DATA_ACKED,
	EV_REMOTE_CLOSED,
	EV_CLEANUP,
};

struct tf_ev {
	int type;
	uint16_t app;
	uint32_t id;
	uint64_t val; /* bytes, reason, errno, cookie */
	unsigned nrefs;
	struct dl_rx_ref ref0;
};

/** A segment as the test builds or parses it (host order). */
struct tseg {
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t wnd;
	uint8_t opts; /* DL_TCP_OPT_* */
	uint16_t mss;
	uint8_t ws;
	uint32_t tsval, tsecr;
	uint8_t nsack;			    /* DL_TCP_OPT_SACK blocks */
	uint32_t sack[DL_TCP_MAX_SACK][2];
	const uint8_t *data; /* payload to send */
	uint32_t len;
	uint8_t payload[2048]; /* payload received */
	uint32_t src, dst;
	uint8_t tos; /* IPv4 type of service (its ECN field: DL_IP_ECT0, DL_IP_CE) */
	bool bad_csum;
};

/** What the test-peer knows about the connection. */
struct tpeer {
	uint32_t iss, nxt;  /* our (peer) sequence numbers */
	uint32_t ack;	    /* next byte expected from the stack */
	uint32_t tsval;	    /* peer's timestamp clock */
	uint32_t ts_recent; /* last TSval the stack sent */
	bool ts;
	bool sack_ok;	   /* tf_open / tf_connect offer SACK-permitted */
	bool ecn;	   /* tf_open asks for ECN (SYN with ECE and CWR); tf_connect
			      agrees (SYN-ACK with ECE) when the stack's SYN asked */
	bool ecn_ok;	   /* ... and the stack agreed or asked */
	uint8_t tos;	   /* IPv4 TOS of the peer's segments (tf_seg) */
	uint16_t wnd;	   /* window field the peer advertises */
	uint16_t port;	   /* the peer's port */
	uint16_t our_port; /* the stack's port */
};

struct tf;
typedef void (*tf_hook)(struct tf *f, const struct tf_ev *ev);

struct tf {
	struct dl_memwire *w;
	struct dl_stack *s;
	struct dl_tcp *t;
	struct dl_stack_upcalls up;
	uint64_t now;
	struct tf_ev ev[512];
	unsigned nev;
	bool auto_accept; /* accept in new_conn */
	bool auto_return; /* recv_done in new_data */
	bool no_run;	  /* tf_send only injects: frames wait for one tf_run (a burst) */
	tf_hook hook;
	void *hook_arg;
	uint8_t rx[1 << 20]; /* bytes delivered (copied by the test) */
	uint32_t rx_len;
	struct tpeer p;
	uint32_t id; /* connection under test */
};

/** Fixture with default config, edited by `edit` when not NULL. */
struct tf *tf_new(void (*edit)(struct dl_stack_config *cfg));
/** Destroy, drain the wire, assert every buffer came back. */
void tf_free(struct tf *f);

/** One loop iteration at f->now (input, poll, flush), then tf_check(). */
void tf_run(struct tf *f);
/** Fail the test when dl_stack_check() finds the stack inconsistent. */
void tf_check(struct tf *f);
/** Advance the clock by us and run. */
void tf_advance(struct tf *f, uint64_t us);
/** Jump to the stack's next deadline and run; returns the new time. */
uint64_t tf_next(struct tf *f);

/** Inject a segment built from s (defaults: peer -> us ports) and run. */
void tf_send(struct tf *f, const struct tseg *s);
/** Next frame the stack sent, parsed; false if none. */
bool tf_recv(struct tf *f, struct tseg *out);
/** Assert the stack sent nothing. */
void tf_none(struct tf *f);
/** Frames waiting to be popped. */
unsigned tf_pending(struct tf *f);

/** Peer segment with the peer's current seq/ack/window/TS; advances p.nxt. */
void tf_seg(struct tf *f, uint8_t flags, const void *data, uint32_t len);
/** Pop one frame, assert flags/seq/ack, track ts_recent; returns it. */
struct tseg tf_expect(struct tf *f, uint8_t flags, uint32_t seq, uint32_t ack);

/**
 * Passive open through the listener on OUR_PORT: SYN (with MSS 1460 and,
 * if ts / ws >= 0, timestamps / window scale), SYN-ACK checked, final
 * ACK; accepted by APP. Leaves f->id, f->p set. ws < 0: no WS option.
 */
uint32_t tf_open(struct tf *f, bool ts, int ws);
/** Active open to PEER_IP:PEER_PORT answered with a SYN-ACK; returns id. */
uint32_t tf_connect(struct tf *f, bool ts, int ws);

/** Count of logged events of a type (for id, or any id when id is ~0). */
unsigned tf_count(const struct tf *f, int type, uint32_t id);
/** Last logged event of a type, NULL if none. */
const struct tf_ev *tf_last(const struct tf *f, int type);
/** The TCB of a live id (white box). */
struct dl_tcb *tf_tcb(struct tf *f, uint32_t id);
/** The compact TIME_WAIT entry of the connection with the peer's port (NULL if none). */
struct dl_tcp_tw *tf_tw(struct tf *f);
/** Counter value of the stack's TCP module. */
uint64_t tf_cnt(struct tf *f, enum dl_tcp_cnt c);

#endif
