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
 *   protected  (the dlibosd service) every core is a network core; the
 *           application cores live in separate processes attached to
 *           application slots: each slot has its own NoC fabric (a memfd
 *           shared with that process only), its own TX region (the
 *           application's memory, mapped read-only here) and its own range
 *           of application indexes (slot s core j = s * slot_cores + j).
 *           Network cores poll the endpoints of every active slot; the
 *           control thread attaches and detaches slots (dl_engine_slot_*)
 *           and network cores follow through an atomic generation word.
 *           Every command is validated against the sending slot (TX
 *           region, connection ownership, offers, policy, rate).
 *   attached   (an application process in protected mode) the application
 *           cores of one slot, over the slot's fabric mapped from the
 *           service; cores 0..net_cores-1 stand for the service's network
 *           cores and are never run here.
 *
 * In every mode network cores exchange frames of flows they do not own
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

#include "dl_hal.h"
#include "dl_rights.h"
#include "dl_stack.h"
#include "dlibos/dlibos.h"

#include <stdio.h>

/** Execution mode (DESIGN.md section 1). */
enum dl_mode {
	DL_MODE_RTC = 0, /**< every core runs driver, stack and application */
	DL_MODE_DLIBOS,	 /**< net cores and application cores, NoC between them */
	/** protected mode, the service (dlibosd): every core a net core; the
	 *  application cores live in attached processes (not a --mode value) */
	DL_MODE_PROTECTED,
	/** protected mode, an application process attached to the service
	 *  (--attach PATH; not a --mode value) */
	DL_MODE_ATTACHED,
	DL_MODE_COUNT
};

/** Core layout for --mode dlibos (paper Figure 3). */
enum dl_layout {
	DL_LAYOUT_NAIVE = 0,
	DL_LAYOUT_QUADRANT_ALL,
	DL_LAYOUT_QUADRANT_DEDICATED,
	DL_LAYOUT_COUNT
};

/** How a net core picks the application core for a new connection. */
enum dl_dispatch {
	DL_DISPATCH_RR = 0,
	DL_DISPATCH_LEAST_LOADED,
	DL_DISPATCH_COUNT
};

/** Names of the modes, layouts and dispatch policies (as --mode, --layout
 *  and --dispatch spell them), indexed by their enums. */
extern const char *const dl_mode_names[DL_MODE_COUNT];
extern const char *const dl_layout_names[DL_LAYOUT_COUNT];
extern const char *const dl_dispatch_names[DL_DISPATCH_COUNT];

/** The name of a mode, layout or dispatch policy ("?" when out of range). */
const char *dl_mode_name(enum dl_mode m);
const char *dl_layout_name(enum dl_layout l);
const char *dl_dispatch_name(enum dl_dispatch d);

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
	size_t tx_copy_bytes;     /**< dlibos_send_copy memory per application core, taken
				       from the TX region at the core's first copy (0:
				       DL_ENGINE_DEFAULT_TX_COPY); the region is sized for it */
	bool quiet;               /**< do not print the layout */
	/* protected (service) */
	unsigned app_slots;       /**< application slots (0: 4) */
	unsigned slot_cores;      /**< application cores per slot at most (0: 4);
				       app_slots * slot_cores <= DL_MAX_CORES */
	uint32_t bad_command_limit; /**< invalid commands before a slot is kicked
				       (per network core; 0: 1000, UINT32_MAX: never) */
	/* attached (application process): given, not owned */
	struct dl_noc_fabric *fab; /**< the slot's fabric, attached */
	struct dl_region *tx_region; /**< the application's TX region */
};

/** Default RX credit of an application core, per network core. */
#define DL_ENGINE_DEFAULT_RX_CREDIT ((uint64_t)32 << 20)

/** Default dlibos_send_copy memory per application core (--tx-copy-kb). */
#define DL_ENGINE_DEFAULT_TX_COPY ((size_t)4 << 20)

/**
 * Bytes of TX region the copy memory of @p n_app application cores takes
 * (@p per_core 0: the default), allocator headers included: what the
 * region holds beyond the application's own tx_memory().
 */
size_t dl_engine_tx_copy_reserve(size_t per_core, unsigned n_app);

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

/* ---- protected mode: application slots (control thread) ---------------- */

/** Slot states (the network cores follow them). */
enum dl_slot_state {
	DL_SLOT_FREE = 0,      /**< nothing attached */
	DL_SLOT_ACTIVE = 1,    /**< network cores poll its channels */
	DL_SLOT_DETACHING = 2, /**< network cores abort its connections and let go */
};

/** Why a network core asks for a slot to be detached (dl_engine_slot_kicked()). */
enum dl_slot_kick {
	DL_KICK_NONE = 0,
	DL_KICK_BAD_COMMANDS = 1, /**< more invalid commands than the limit */
	DL_KICK_BROKEN_CHANNEL = 2, /**< a channel with the application is broken */
	DL_KICK_STUCK = 3,	  /**< it does not read its events (overflow cap reached) */
};

/** What the control plane grants an application process. */
struct dl_slot_grant {
	unsigned n_app;	      /**< application cores, 1 .. slot_cores */
	struct dl_region *tx; /**< its TX region, mapped read-only; owned by the slot from
				   a successful attach until release */
	const struct dl_rights *rights; /**< what it may do (NULL: anything) */
	/** Bytes of its own RX region, where network cores copy its received
	 *  data (0: DL_ENGINE_SLOT_RX_DEFAULT); ignored with rx_shared. */
	size_t rx_bytes;
	/** Let it read the port's RX region itself (zero copy; every
	 *  application attached would see every other's data: the service
	 *  allows it with one application slot only, when asked). */
	bool rx_shared;
	char name[32];	      /**< for logs */
	uint32_t uid;
	int32_t pid;
};

/**
 * The channels of a slot's fabric: d in links[s] for every network core s
 * and application core d (indexes n_net..n_net+n_app-1) and back, nothing
 * else. The service and the attached application both plan the fabric
 * from it, so every channel sits at the same offset on both sides.
 * @p links has room for n_net + n_app sets.
 */
void dl_engine_slot_links(unsigned n_net, unsigned n_app, struct dl_coreset *links);

/** Network cores. */
unsigned dl_engine_net_cores(const struct dl_engine *e);

/** Capacity of the NoC channels, in words. */
unsigned dl_engine_noc_words(const struct dl_engine *e);

/** Number of slots (0 unless protected). */
unsigned dl_engine_slots(const struct dl_engine *e);

/** Application cores per slot at most. */
unsigned dl_engine_slot_cores(const struct dl_engine *e);

/** A slot's state. */
enum dl_slot_state dl_engine_slot_state(const struct dl_engine *e, unsigned slot);

/**
 * Attach a FREE slot: create its fabric (sealed memfd), every network
 * core's endpoint on it, register the TX region with the NIC, then publish
 * ACTIVE. The network cores start polling it at their next iteration.
 * @return 0, or -1 with err written (the grant's region is left to the caller).
 */
int dl_engine_slot_attach(struct dl_engine *e, unsigned slot, const struct dl_slot_grant *g,
			  char *err, size_t errlen);

/** Default bytes of an application's own RX region (dl_slot_grant.rx_bytes). */
#define DL_ENGINE_SLOT_RX_DEFAULT ((size_t)16 << 20)
/** Listening ports of one slot a port with DL_NIC_CAP_RX_STEER steers into
 *  the slot's RX region (a policy listing more, or any, takes the copy path). */
#define DL_SLOT_STEER_PORTS 16

/**
 * The region the slot's application reads received data in (map it
 * read-only under its id): its own copy region, or the port's RX region
 * when shared. NULL when FREE.
 */
struct dl_region *dl_engine_slot_rx(const struct dl_engine *e, unsigned slot);

/** The slot's fabric region (its fd goes to the application), NULL when FREE. */
struct dl_region *dl_engine_slot_fabric(const struct dl_engine *e, unsigned slot);

/** Bytes of channel memory in the slot's fabric. */
size_t dl_engine_slot_fabric_len(const struct dl_engine *e, unsigned slot);

/** ACTIVE -> DETACHING: every network core aborts the slot's connections and lets go. */
void dl_engine_slot_detach(struct dl_engine *e, unsigned slot);

/** True once every network core has let go of a DETACHING slot. */
bool dl_engine_slot_quiet(const struct dl_engine *e, unsigned slot);

/**
 * With the cores stopped (shutdown): do every network core's detach work
 * for a DETACHING slot on the calling thread.
 */
void dl_engine_slot_detach_stopped(struct dl_engine *e, unsigned slot);

/**
 * DETACHING and quiet -> FREE: destroy the endpoints and the fabric,
 * unregister the TX region and hand it back in *tx (the caller unmaps it,
 * after in-flight transmissions are done), release the slot's ports.
 */
void dl_engine_slot_release(struct dl_engine *e, unsigned slot, struct dl_region **tx);

/** Why a network core wants the slot detached (enum dl_slot_kick), 0 if none. */
int dl_engine_slot_kicked(const struct dl_engine *e, unsigned slot);

/** An eventfd the network cores write when they kick a slot (-1: none). */
void dl_engine_set_kick_fd(struct dl_engine *e, int fd);

/* ---- observation: what telemetry reads (observe.c) ----------------------- */

struct dl_noc_ep;
struct dl_stack_conn_info;
struct dl_stack_tw_info;

/** Role bits of a core (dl_engine_core_view.role). */
#define DL_ENGINE_ROLE_NET 1u
#define DL_ENGINE_ROLE_APP 2u

/** One core of the engine, for telemetry. */
struct dl_engine_core_view {
	unsigned role;	 /**< DL_ENGINE_ROLE_* bits */
	int net_idx;	 /**< network index, -1 */
	int app_idx;	 /**< application index, -1 */
	int quadrant;
	bool started;	 /**< its engine core started (stack, endpoint) */
	const struct dl_noc_ep *ep;   /**< its NoC endpoint (NULL: none) */
	const struct dl_stack *stack; /**< its stack (NULL: not a network core) */
	const uint64_t *cnt;	      /**< its "engine" counters (dl_engine_cnt_names) */
};

/** The "engine" counters' names and number (per core). */
extern const char *const *const dl_engine_cnt_names;
extern const unsigned dl_engine_ncnt;

/**
 * A core as telemetry sees it. Any thread, between the moment every core
 * has started and dl_engine_stop(): pointers are stable then; what they
 * point to is the core's own (read it with relaxed loads).
 */
void dl_engine_core_view(const struct dl_engine *e, unsigned core, struct dl_engine_core_view *v);

/** Cores, mode, layout, dispatch and quadrants of the engine. */
unsigned dl_engine_ncores(const struct dl_engine *e);
enum dl_mode dl_engine_mode(const struct dl_engine *e);
enum dl_layout dl_engine_layout(const struct dl_engine *e);
enum dl_dispatch dl_engine_dispatch(const struct dl_engine *e);
unsigned dl_engine_quadrants(const struct dl_engine *e);

/** True when the layout gave core @p src a channel to core @p dst. */
bool dl_engine_linked(const struct dl_engine *e, unsigned src, unsigned dst);

/** The engine core of network index @p net / application index @p app, or -1. */
int dl_engine_net_core(const struct dl_engine *e, unsigned net);
int dl_engine_app_core(const struct dl_engine *e, unsigned app);

/** One connection, for telemetry. */
struct dl_engine_conn {
	uint64_t conn;	 /**< the dlibos_conn_t the application sees */
	unsigned core;	 /**< engine core of the owning network core */
	unsigned net;	 /**< its network index */
	int app_core;	 /**< engine core of the owning application core, -1: none here */
	int slot;	 /**< protected mode: the owner's slot, -1 */
	int slot_core;	 /**< protected mode: its core in the attached process, -1 */
	const char *state; /**< TCP state name */
};

/**
 * On network core @p core's own thread (between two loop iterations):
 * copy up to @p max of its connections, from table slot @p from on, into
 * @p out / @p info. *@p next is the slot to go on from (-1: no more).
 * @return connections copied.
 */
unsigned dl_engine_conns_list(const struct dl_engine *e, unsigned core, uint32_t from,
			      struct dl_engine_conn *out, struct dl_stack_conn_info *info,
			      unsigned max, int64_t *next);

/**
 * On network core @p core's own thread (between two loop iterations):
 * copy up to @p max of its compact TIME_WAIT entries, oldest first, from
 * @p from on (DL_STACK_TW_FIRST, or a previous *@p next), into @p out.
 * *@p next is the cursor to go on from (-1: no more). @return entries copied.
 */
unsigned dl_engine_tw_list(const struct dl_engine *e, unsigned core, uint64_t from,
			   struct dl_stack_tw_info *out, unsigned max, int64_t *next);

/**
 * On network core @p core's own thread: the connection @p conn (a
 * dlibos_conn_t of that core). 0, or -ENOENT.
 */
int dl_engine_conn_get(const struct dl_engine *e, unsigned core, uint64_t conn,
		       struct dl_engine_conn *out, struct dl_stack_conn_info *info);

/** A slot as telemetry shows it (protected mode). */
struct dl_engine_slot_view {
	enum dl_slot_state state;
	unsigned n_app;	  /**< application cores attached */
	unsigned base;	  /**< first application index */
	char name[32];
	uint32_t uid;
	int32_t pid;
	unsigned policy_line; /**< the policy rule that let it in (0: the default policy) */
	size_t tx_bytes;      /**< its TX memory */
	uint64_t bad_commands; /**< invalid commands in this attachment, all network cores */
	uint64_t events_sent;  /**< NoC messages from the network cores to its cores */
	uint64_t commands_received; /**< NoC messages from its cores */
	uint64_t ovf_pending;  /**< events waiting in the network cores' overflow queues */
	int kick;	       /**< enum dl_slot_kick */
};

/**
 * A slot's view; on the control thread, or with the control thread kept
 * from attaching and releasing slots meanwhile (the service's lock).
 */
void dl_engine_slot_view(const struct dl_engine *e, unsigned slot, struct dl_engine_slot_view *v);

#endif /* DL_ENGINE_H */
