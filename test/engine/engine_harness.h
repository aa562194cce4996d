/*
 * engine_harness.h - drive a DLibOS engine (server) and a plain client
 * stack over the in-memory wire, in one thread and in virtual time: every
 * round runs one iteration of each engine core, then the client, then
 * advances the clock. Used by the engine tests and the instruction-count
 * benchmark.
 *
 * The server application is a small echo (per-connection ring in TX
 * memory); it records on which application core each connection's events
 * arrive, so tests can check that a connection never changes core. The
 * client opens connections, sends a seeded byte pattern and verifies the
 * echo byte for byte.
 */
#ifndef ENGINE_HARNESS_H
#define ENGINE_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include "dl_engine.h"
#include "dl_memwire.h"
#include "dl_stack.h"

#define H_MAX_CONNS 1024

struct h_client_conn {
	uint32_t id;
	bool connected, done, failed, closed;
	uint64_t sent, recvd, to_send;
	uint32_t seed;
};

struct harness {
	struct dl_memwire *w;
	struct dl_engine *e;
	struct dl_stack *client;
	uint64_t now;
	unsigned nconns;
	struct h_client_conn conns[H_MAX_CONNS];
	uint8_t *client_tx; /* pattern source for client sends */
	size_t client_tx_len;
	unsigned hoard_core; /* app core that never returns data, or ~0u */
	uint64_t corrupt;
	uint32_t pingpong; /* >0: send this many bytes, wait for the echo, repeat */
	void (*before_engine)(void); /* called around the engine's iterations */
	void (*after_engine)(void);
	uint64_t core_iters, idle_iters; /* engine core iterations, and those with no work */
	uint64_t idle_core[DL_MAX_CORES]; /* iterations with no work, per engine core */
};

/** Per-connection record of the server app (test assertions). */
struct h_server_stats {
	uint64_t accepted[DL_MAX_CORES];
	uint64_t wrong_core_events; /* an event for a connection on another core */
	uint64_t cleanups;
	uint64_t bytes_echoed;
};

extern struct h_server_stats h_server;

/** RX credit per application core for the next h_setup (0: default). */
extern uint64_t h_rx_credit;

/** The echo application used as the server. */
extern const struct dlibos_app h_echo_app;

/**
 * Build wire, engine (mode/cores/net_cores/layout), client stack.
 * @return 0 or -1 (message printed).
 */
int h_setup(struct harness *h, enum dl_mode mode, unsigned ncores, unsigned net_cores,
	    enum dl_layout layout, enum dl_dispatch dispatch);

/** Open n connections to the echo port, each to transfer `bytes` bytes. */
void h_open(struct harness *h, unsigned n, uint64_t bytes);

/**
 * Run the calling thread where engine core @p core runs (h_round() does it
 * before each core's iteration): nothing on the ring transport, the
 * core's tile on the UDN (test/noc/bind).
 */
void h_core_enter(unsigned core);

/** One round: every engine core, then the client; advances `now` by step_us. */
void h_round(struct harness *h, uint64_t step_us);

/** Run rounds until every connection is done (or max_rounds). @return done count. */
unsigned h_run(struct harness *h, unsigned max_rounds);

/** Stop every core, destroy everything, check buffers came back. @return buffers leaked. */
unsigned h_teardown(struct harness *h);

#endif
