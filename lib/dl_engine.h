/*
 * dl_engine.h - the execution modes: which core is a network core, which
 * is an application core, and how they talk. Independent of DPDK: the
 * runtime gives the engine an opened NIC and calls it from its core threads;
 * the in-memory benchmarks call it from one thread, core after core.
 *
 *   rtc     every core is a network core (its own NIC queue and stack) and
 *           an application core; the stack calls the application's
 *           callbacks directly and commands are direct calls (paper §4.1).
 *   dlibos  net_cores network cores and the rest application cores; events
 *           and commands are NoC messages (paper §3.3); a network core offers
 *           new connections to the application cores listening on the port
 *           by the dispatch policy and the accepting core owns the
 *           connection (§3.4).
 *
 * In both modes network cores exchange frames of flows they do not own
 * (devices without RSS) and learned ARP mappings over the NoC.
 *
 * Layouts (paper Figure 3): naive (first cores network, rest application,
 * all-to-all), quadrant-all (network cores spread over the quadrants,
 * all-to-all), quadrant-dedicated (an application core talks only to the
 * network cores of its quadrant). A quadrant is a group of cores sharing a
 * last-level cache, or an equal share of the cores when the machine has a
 * single one.
 *
 * Thread-safety: dl_engine_create/stop/destroy on the control thread while
 * no core runs; dl_engine_core_start/iter by the core's own thread.
 */
#ifndef DL_ENGINE_H
#define DL_ENGINE_H

#include "dl_config.h"
#include "dl_hal.h"
#include "dl_stack.h"
#include "dlibos/dlibos.h"

#include <stdio.h>

/** What the engine needs to know. */
struct dl_engine_conf {
	enum dl_mode mode;
	enum dl_layout layout;
	enum dl_dispatch dispatch;
	unsigned ncores;   /**< cores the engine runs on */
	unsigned net_cores; /**< dlibos: network cores (1 .. ncores-1); rtc: ignored */
	struct dl_core_info cores[DL_MAX_CORES]; /**< topology, cores[i].id == i */
	struct dl_stack_config stack; /**< ip, mask, gw, tunables (mac/mtu from the NIC) */
	struct dl_nic *nic; /**< opened with at least as many queues as network cores */
	const struct dlibos_app *app;
	unsigned noc_words;       /**< channel size in words (0: 4096) */
	uint64_t app_rx_credit;   /**< RX bytes an application core may hold, per network
				       core (0: DL_ENGINE_DEFAULT_RX_CREDIT) */
	bool quiet;               /**< do not print the layout */
};

/** Default RX credit of an application core, per network core. */
#define DL_ENGINE_DEFAULT_RX_CREDIT ((uint64_t)32 << 20)

struct dl_engine;

/**
 * Build the engine: roles, layout, NoC fabric, TX memory region. Prints the
 * layout unless conf->quiet. Sets the process-wide engine used by the
 * dlibos_* API functions.
 * @return the engine or NULL with a message in err.
 */
struct dl_engine *dl_engine_create(const struct dl_engine_conf *conf, char *err, size_t errlen);

/**
 * Per-core start, on the core's own thread (memory first-touched locally):
 * create the stack and NoC endpoint, run the app's core_init.
 * @return 0 or a negative errno.
 */
int dl_engine_core_start(struct dl_engine *e, unsigned core, uint64_t now_us);

/**
 * One loop iteration of `core`: receive, process, NoC, timers, transmit.
 * @return units of work done (0 = idle, the caller's idle policy applies).
 */
unsigned dl_engine_core_iter(struct dl_engine *e, unsigned core, uint64_t now_us);

/** Earliest time `core` has something to do without input (UINT64_MAX: none). */
uint64_t dl_engine_core_deadline(struct dl_engine *e, unsigned core);

/**
 * Stop every core once their loops have returned (control thread): the
 * stacks abort their connections (cleanup events reach the application),
 * then each application core's core_fini runs, then everything is freed.
 */
void dl_engine_stop(struct dl_engine *e);

/** Free the engine (every core stopped). */
void dl_engine_destroy(struct dl_engine *e);

/** Print the role of every core and the links (what --layout chose). */
void dl_engine_print_layout(const struct dl_engine *e, FILE *f);

/** Number of NoC messages sent by all cores so far (benchmarks). */
uint64_t dl_engine_noc_messages(const struct dl_engine *e);

/** The stack of network core `net` (tests), NULL before its core started. */
struct dl_stack *dl_engine_stack(const struct dl_engine *e, unsigned net);

#endif /* DL_ENGINE_H */
