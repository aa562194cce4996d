/*
 * dl_runtime.h - the process runtime: command line, platform start-up,
 * port, one polling loop per core, idle policy, signals, clean shutdown.
 *
 *     prog [EAL args] -- --ip A.B.C.D/NN [common and app options]
 *
 * dl_runtime_main() does everything: parses the application arguments
 * (before touching the platform, so a bad argument fails fast with exit 2),
 * starts the platform (DPDK EAL), opens the port with one queue pair per
 * net core (wrapped by the impairment shim with --impair), prints the core
 * map and the idle policy, creates each core's state NUMA-locally and its
 * stack on the core's own thread, runs the loops until SIGINT/SIGTERM,
 * then stops the cores, prints the counters, closes the port and frees
 * everything. SIGUSR1 prints the counters without stopping (the main
 * core prints; the handler only sets a flag).
 *
 * A core's loop iteration is one dl_engine_core_iter() (receive, NoC,
 * timers, application, transmit: see dl_engine.h) followed by the idle
 * policy when nothing happened. The engine decides the roles: in --mode rtc
 * every core is a network core with its own queue pair that also runs the
 * application; in --mode dlibos --net-cores N the first N (by --layout)
 * are network cores and the rest application cores.
 */
#ifndef DL_RUNTIME_H
#define DL_RUNTIME_H

#include "dl_config.h"
#include "dl_engine.h"
#include "dl_hal.h"
#include "dl_stack.h"
#include "dl_stats.h"
#include "dlibos/dlibos.h"

#include <stdbool.h>
#include <stdint.h>

/* ---- idle policy (pure, unit-tested) ------------------------------------ */

/** Empty iterations before a sleeping core starts to sleep. */
#define DL_IDLE_SPIN_ITERS 256
/** First and longest sleep of the backoff, microseconds. */
#define DL_IDLE_SLEEP_MIN_US 8
#define DL_IDLE_SLEEP_MAX_US 128

/** Per-core idle state. */
struct dl_idle {
	enum dl_idle_policy policy; /**< resolved: never DL_IDLE_AUTO */
	uint32_t empty;		    /**< consecutive iterations without work */
	uint32_t sleep_us;	    /**< next sleep of the backoff */
};

/** Resolve --idle: auto means poll when the cores are exclusive, else sleep. */
enum dl_idle_policy dl_idle_resolve(enum dl_idle_policy requested, bool cores_exclusive);

/** Start state for a policy. */
void dl_idle_init(struct dl_idle *s, enum dl_idle_policy policy);

/**
 * Account one loop iteration that did `work` units. Returns what to do now:
 * 0 = nothing (poll on), a negative value = one CPU pause, a positive value
 * = sleep that many microseconds. Work resets the backoff.
 */
int dl_idle_next(struct dl_idle *s, unsigned work);

/** Apply dl_idle_next(): pause or sleep. Returns true if the core slept. */
bool dl_idle_wait(struct dl_idle *s, unsigned work);

/* ---- cores: the one per-core loop (loop.c) ------------------------------- */

enum dl_core_cnt {
	CORE_BUSY_ITERS,  /* iterations that did work */
	CORE_IDLE_SLEEPS, /* sleeps of the idle policy */
	CORE_ITERS,	  /* iterations */
	CORE_BUSY_US,	  /* microseconds in iterations that did work */
	CORE_NCNT
};

struct dl_runtime;
struct dl_engine;

/** What the cores of one process share. */
struct dl_core_set {
	struct dl_engine *engine;
	enum dl_idle_policy idle; /**< resolved policy (not DL_IDLE_AUTO) */
	int started;		  /**< cores that finished start-up (atomic) */
	int failed;		  /**< cores whose start-up failed (atomic) */
	/** Run between iterations by core chores_core (NULL: none): the main
	 *  thread's work when core 0 is the main thread. */
	void (*chores)(void *arg);
	void *chores_arg;
	unsigned chores_core;
};

/**
 * Per-core loop state, allocated on the core's NUMA node
 * (dl_platform_zmalloc()), touched by its thread. What the core does
 * (network, application or both) and its stack live in the engine
 * (dl_engine.h).
 */
struct dl_core {
	unsigned index; /**< engine core index */
	struct dl_core_info info;
	struct dl_core_set *set;
	struct dl_idle idle;
	uint64_t now; /**< time of the current iteration (us) */
	int start_rc; /**< result of the core's start-up */
	/** A telemetry request for this core to serve between two iterations
	 *  (struct dl_obs_req, observe.c), NULL when none (atomic). */
	void *obs_req;
	uint64_t cnt[CORE_NCNT];
	struct dl_counter_block blk;
} __attribute__((aligned(64)));

/** Set a core up (its counters registered as "core" block @p stats_index). */
void dl_core_init(struct dl_core *c, struct dl_core_set *set, unsigned index,
		  const struct dl_core_info *info, int stats_index);

/** Unregister its counters. */
void dl_core_fini(struct dl_core *c);

/** Serve the telemetry request in c->obs_req (on the core's thread; observe.c). */
void dl_core_obs_serve(struct dl_core *c);

/**
 * The per-core loop, for dl_platform_launch() and
 * dl_platform_thread_start() (@p core: a struct dl_core): start the engine
 * core on this thread, count it started (or failed: then ask every core
 * to stop), iterate until dl_runtime_stopping(): dl_engine_core_iter(),
 * the idle policy, the set's chores.
 * @return 0 after a stop, or the start-up error.
 */
int dl_core_run(void *core);

/** The runtime of one process. */
struct dl_runtime {
	struct dl_config cfg;
	struct dl_app_args app_args; /**< the application's options for the parser */
	const struct dlibos_app *app; /**< NULL: no application (dlibosd) */
	struct dl_nic *nic;
	struct dl_nic *port; /**< the platform's port itself (nic may wrap it: --impair) */
	struct dl_stack_config stack_cfg;
	struct dl_engine *engine;
	struct dl_core_set set; /**< what the cores share (idle policy, start counts) */
	bool ready;		/**< "ready:" was announced */
	unsigned n_cores, n_net;
	struct dl_core *cores[DL_MAX_CORES];
	uint64_t port_cnt[9];
	struct dl_counter_block port_blk;
	const struct dl_runtime_ext *ext; /**< NULL, or the service's hooks */
	bool ext_created;		  /**< ext->create succeeded */
	struct dl_obs *obs;		  /**< telemetry and capture (observe.c) */
};

/* ---- observation: telemetry commands and packet capture (observe.c) ------ */

/**
 * Set up what telemetry needs and start --capture if given (the port is
 * open, no core runs). 0, or -1 (printed).
 */
int dl_obs_create(struct dl_runtime *rt);

/** Every core runs: register the /dlibos/... telemetry commands. */
void dl_obs_enable(struct dl_runtime *rt);

/** Before the cores stop: unregister them (no call runs after this). */
void dl_obs_disable(struct dl_runtime *rt);

/** The cores have stopped: finish a running capture, free. Safe when not created. */
void dl_obs_destroy(struct dl_runtime *rt);

/**
 * What a program without an application adds to the runtime's life: the
 * protected-mode service (lib/protected) runs the runtime with these
 * hooks, so the runtime never includes the service. Every hook is
 * optional; each gets @p arg.
 */
struct dl_runtime_ext {
	/** The service's rules: every lcore a network core, the engine in
	 *  DL_MODE_PROTECTED, no --mode and no --attach. */
	bool service;
	void *arg;
	/** Its own options, parsed after the common ones (dl_config.h). */
	const struct dl_app_opt *opts;
	unsigned n_opts;
	int (*parse_opt)(void *arg, int key, const char *value, char *err, size_t errlen);
	/** Check its options once all are parsed. 0, or -1 with err written. */
	int (*check_opts)(void *arg, char *err, size_t errlen);
	/** Fill its part of the engine's configuration (slots, limits). */
	void (*engine_conf)(void *arg, struct dl_engine_conf *ec);
	/** The engine and the port exist, no core runs: build. 0 or -1 (printed). */
	int (*create)(void *arg, struct dl_runtime *rt);
	/** Right before the cores start: start. 0 or -1 (printed). */
	int (*start)(void *arg);
	/** The cores have stopped polling, counters not printed yet. */
	void (*stop)(void *arg);
	/** The engine's cores are stopped (connections aborted), not freed yet. */
	void (*cores_stopped)(void *arg);
	/** Everything else is released: free. */
	void (*destroy)(void *arg);
};

/**
 * The whole life of a DLibOS process (see the top of this file).
 * @param app   the application (NULL: the stack alone, as dlibosd)
 * @param prog  program name for the usage (NULL: argv[0]'s basename)
 * @param summary one line for the usage (NULL: the application's)
 * @param ext   NULL, or the hooks of a program that extends the runtime
 *              (the protected-mode service; its options replace the
 *              application's)
 * @return the exit status: 0 after a clean stop, 2 on bad arguments,
 *         1 when the platform, the port or a core failed to start.
 */
int dl_runtime_main(int argc, char **argv, const struct dlibos_app *app, const char *prog,
		    const char *summary, const struct dl_runtime_ext *ext);

/** Point the parser's application hooks at an application's options. */
void dl_runtime_app_args(struct dl_app_args *args, const struct dlibos_app *app);

/** Read the port's counters into the "port" counter block (any thread). */
void dl_runtime_refresh_port_counters(struct dl_runtime *rt);

/** Install the handlers: SIGINT/SIGTERM stop, SIGUSR1 asks for the counters. */
void dl_runtime_install_signals(void);

/** True (once) after SIGUSR1. */
bool dl_runtime_dump_requested(void);

/** Ask every core to stop (async-signal-safe). */
void dl_runtime_stop(void);

/** True once a stop was requested. */
bool dl_runtime_stopping(void);

/**
 * Split argv at the first "--": *eal_argc gets the platform's part
 * (argv[0] included); the application's part starts at argv[*eal_argc]
 * (the "--", which the parser skips as its argv[0]). Returns false when
 * there is no "--".
 */
bool dl_runtime_split_args(int argc, char **argv, int *eal_argc);

#endif
