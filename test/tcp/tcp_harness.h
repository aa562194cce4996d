/*
 * tcp_harness.h - two DLibOS stacks over the in-memory wire, with a
 * seeded, impaired link between them and a virtual clock.
 *
 * The harness plays the network: every frame a stack transmits is popped
 * from the wire, impaired (loss, duplication, reordering, corruption,
 * delay, an optional rate-limited drop-tail bottleneck), held until its
 * due time and injected into the other side. Time is virtual: when
 * neither side has work at `now`, the clock jumps to the next event (a
 * frame due, a stack deadline from dl_stack_next_deadline, an application
 * deadline). So RTOs of seconds cost nothing and every run is a pure
 * function of its seed.
 *
 * Applications: side 0 listens (server), side 1 connects (client). Each
 * connection carries two independent byte streams generated from seeds
 * (th_pattern_byte); the receiving application verifies every byte as it
 * arrives and returns it (at once or after a delay: a slow reader). The
 * sender sends from a ring of its own memory, zero-touch, refilled as
 * data_acked frees it, with fragment sizes drawn from the seed. When a
 * side has sent and received everything it closes.
 */
#ifndef TCP_HARNESS_H
#define TCP_HARNESS_H

#include "dl_memwire.h"
#include "dl_stack.h"

#include <stdbool.h>
#include <stdint.h>

#define TH_SERVER_IP 0x0a000002u /* 10.0.0.2, side 0 */
#define TH_CLIENT_IP 0x0a000001u /* 10.0.0.1, side 1 */
#define TH_PORT	     5001

/** Link impairment, applied to both directions. Probabilities in [0, 1]. */
struct th_link {
	double loss, dup, reorder, corrupt;
	uint32_t delay_us;   /**< one-way delay */
	uint32_t jitter_us;  /**< extra uniform delay (also reorders) */
	uint32_t reorder_us; /**< extra delay of a reordered frame */
	uint64_t rate_bps;   /**< bottleneck rate, 0 = none */
	uint32_t queue_max;  /**< bottleneck queue (frames), drop-tail */
	/** ECN at the bottleneck: an ECN-capable frame (ECT) that finds this
	 *  many frames queued is marked Congestion Experienced (RFC 3168, as
	 *  RED or CoDel with ecn would); 0 = never. */
	uint32_t ecn_mark_frames;
	/** Frames to side 0 (the server: the client's ACKs of a download)
	 *  leave in bunches: held until the next multiple of this many
	 *  microseconds (ACK aggregation, as a batching receiver or link). */
	uint32_t batch_to_server_us;
	double batch_pass; /**< ... except this share, sent on at once */
	/** Optional: lose this frame (going to side `to`)? Deterministic
	 *  loss patterns (test_tcp_loss.c). */
	bool (*drop)(void *arg, int to, const uint8_t *frame, uint32_t len);
	void *drop_arg;
};

/** What the applications do. */
struct th_app_cfg {
	unsigned conns;		 /**< connections the client opens */
	uint64_t bytes_c2s;	 /**< per connection, client to server */
	uint64_t bytes_s2c;	 /**< per connection, server to client */
	uint32_t max_frag;	 /**< largest fragment the senders pass */
	unsigned frags_per_send; /**< fragments per send call (max) */
	uint32_t ring;		 /**< sender ring bytes (unacked data bound) */
	uint32_t slow_reader_us; /**< hold received data this long before recv_done (0 = at once) */
	uint32_t slow_reader_bytes; /**< ... up to this many bytes */
	bool idle_hold;		    /**< keep connections open (no data, no close) */
	/**
	 * Simultaneous open: no listener; side 0 connects from TH_PORT to
	 * side 1's TH_SIMOPEN_PORT while side 1 connects back, both SYNs
	 * crossing (RFC 9293 figure 8). One connection.
	 */
	bool simopen;
};

#define TH_SIMOPEN_PORT 40404

struct th;

/** Create the two stacks with cfg (ip/mac are filled in) and the link. */
struct th *th_create(const struct dl_stack_config *cfg, const struct th_link *link,
		     const struct th_app_cfg *app, uint64_t seed, bool tso);

/** Start: server listens, client connects. */
void th_start(struct th *h);

/**
 * Run until every connection finished (all bytes verified both ways, all
 * closed and cleaned up) and no timer is left, or until the virtual clock
 * passes limit_us. @return true when finished.
 */
bool th_run(struct th *h, uint64_t limit_us);

/**
 * th_run, then the state and the counters on stderr when it did not
 * finish or TH_VERBOSE is set (for a test's failure message).
 * @return th_run's result.
 */
bool th_run_report(struct th *h, uint64_t limit_us);

/** Run until `n` connections are established on both sides (idle_hold). */
bool th_run_established(struct th *h, unsigned n, uint64_t limit_us);

/** Let virtual time pass until `until`, running every event on the way. */
void th_advance(struct th *h, uint64_t until);

/** One loop iteration of both sides at the current time. @return work done. */
unsigned th_step(struct th *h);

/** Open `n` more client connections (idle_hold scale tests). */
void th_connect_more(struct th *h, unsigned n);

struct dl_tcb;
/** The server's first connection past the handshake and not in TIME_WAIT
 *  (white-box observers), or NULL. */
struct dl_tcb *th_server_conn(struct th *h);

/** Call fn(h, arg) after every step (white-box observers). */
void th_set_observer(struct th *h, void (*fn)(struct th *h, void *arg), void *arg);

/** Describe the state (failure messages). */
void th_dump(struct th *h);

/** Destroy stacks and wire; asserts that every buffer came back. */
void th_destroy(struct th *h);

struct dl_stack *th_stack(struct th *h, int side);
struct dl_memwire *th_wire(struct th *h);
uint64_t th_now(struct th *h);
/** Connections established (connected / accepted) so far on a side. */
unsigned th_established(struct th *h, int side);
/** Bytes verified so far (both directions, all connections). */
uint64_t th_verified(struct th *h);
/** Microseconds of frames queued at the bottleneck towards side `to`
 *  (the queueing delay a frame sent now would see; 0 without a rate). */
uint64_t th_bottleneck_queue_us(struct th *h, int to);
/** Frames the link dropped / duplicated / corrupted / reordered. */
void th_link_stats(struct th *h, uint64_t out[4]);
/** Frames the bottleneck marked CE (th_link.ecn_mark_frames). */
uint64_t th_ce_marks(struct th *h);

/** Byte i of the stream generated by seed. */
static inline uint8_t th_pattern_byte(uint64_t seed, uint64_t i)
{
	uint64_t x = seed + (i >> 3) * 0x9e3779b97f4a7c15ull;
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return (uint8_t)(x >> ((i & 7) * 8));
}

#endif
