/*
 * dl_engine_priv.h - inside the engine: per-core state, the network-core
 * side (stack upcalls -> events, commands -> stack) and the application
 * core's context (struct dlibos_core). Shared by engine.c, netcore.c and
 * appcore.c only.
 */
#ifndef DL_ENGINE_PRIV_H
#define DL_ENGINE_PRIV_H

#include "dl_engine.h"
#include "dl_rxcopy.h"
#include "dl_msg.h"
#include "dl_noc.h"
#include "dl_stats.h"
#include "dl_txmem.h"

/* Core roles (bit mask: an rtc core is both). */
#define DL_ROLE_NET 1u
#define DL_ROLE_APP 2u

/** Listening ports a network core tracks for dispatch. */
#define DL_MAX_LISTENERS 64
/** Deferred error events per rtc application core. */
#define DL_DEFERRED_MAX 256

/* Engine counters, one block per core (module "engine"). */
enum dl_eng_cnt {
	ENG_EVENTS,          /* events delivered to application callbacks */
	ENG_EVENTS_SENT,     /* events sent to application cores over the NoC */
	ENG_COMMANDS,        /* commands issued by the application */
	ENG_CMD_ERRORS,      /* commands the network core rejected (error events) */
	ENG_CMD_LOCAL_REJECT, /* commands rejected on the spot (bad argument) */
	ENG_NOC_SEND_FAIL,   /* dl_noc_send refused a message */
	ENG_NO_LISTENER,     /* new connection on a port no app core listens to */
	ENG_BAD_EVENT,       /* event with a reference outside its region */
	ENG_BAD_COMMAND,     /* command misrouted or referencing foreign memory */
	ENG_DEFERRED_DROP,   /* rtc error events lost: deferred queue full */
	ENG_DISPATCHED,      /* new connections offered to application cores */
	/* protected mode */
	ENG_CMD_BAD_REGION,  /* SEND fragment outside the sender's TX region */
	ENG_CMD_NOT_OWNER,   /* command on a connection another core owns or was offered */
	ENG_CMD_BAD_RECV_DONE, /* recv_done beyond what was delivered */
	ENG_CMD_MALFORMED,   /* undecodable or wrong-class message from an application */
	ENG_POLICY_DENIED,   /* listen/connect refused by the policy */
	ENG_THROTTLED,       /* slot polls skipped: rate limit reached */
	ENG_EVENT_DETACHED,  /* events for a detached application, dropped */
	ENG_OFFER_TABLE_FULL, /* new connections refused: offer table full */
	ENG_SLOT_ON,         /* slots this network core started polling */
	ENG_SLOT_OFF,        /* slots it let go of */
	ENG_SLOT_KICKS,      /* slots it asked to detach */
	ENG_EVENTS_PAIRED,   /* data_acked + new_data sent as one ACKED_NEW_DATA message */
	ENG_COMMANDS_PAIRED, /* send + recv_done sent as one SEND_RECV_DONE message */
	/* protected mode's copy path (dl_rxcopy.h), in enum dl_rxc_cnt order */
	ENG_RXC_COPIED_BYTES, /* payload copied into applications' RX regions */
	ENG_RXC_COPIES,	      /* deliveries copied */
	ENG_RXC_NO_ROOM,      /* copies that found the application's region share full */
	ENG_RXC_BAD_RETURN,   /* recv_done of bytes the application was never given */
	ENG_RXC_DEFERRED,     /* events held back until the application returns memory */
	ENG_RXC_PENDING,      /* gauge: events held back now */
	ENG_RXC_STEERED_BYTES, /* payload the port steered into applications' regions (no copy) */
	ENG_NCNT
};

struct dl_ecore;
struct dl_netcore;

/* A listening port on one network core and the app cores listening to it. */
struct dl_listener {
	uint16_t port;
	bool used;
	struct dl_coreset apps; /* application indexes that listen */
	unsigned rr;
};

/* ---- protected mode ---- */

/* Cap on the events waiting for one application core (words), per network
 * core: an application that stops reading them is detached rather than
 * let grow the service's memory. */
#define DL_SLOT_OVF_LIMIT_WORDS (4u << 20)

/* Offers (connections offered to an application core, not yet accepted),
 * per network core: open addressing, linear probing. */
#define DL_OFFER_BITS 12
#define DL_OFFERS (1u << DL_OFFER_BITS)

struct dl_offer {
	uint32_t id;
	uint8_t app; /* application index + 1; 0 = empty */
};

/* An application slot (control side). state, acks and kick are atomics;
 * the rest is written by the control thread before it publishes ACTIVE
 * (release) and read by network cores after they saw it (acquire). */
struct dl_slot {
	int state;     /* enum dl_slot_state */
	struct dl_coreset acks; /* network core n let go of this DETACHING slot (atomic bits) */
	int kick;      /* enum dl_slot_kick, first reason wins */
	unsigned idx;
	unsigned base;	/* first application index */
	unsigned n_app; /* application cores attached */
	struct dl_region *fab_region;
	struct dl_noc_fabric *fab;
	struct dl_noc_ep *ep[DL_MAX_CORES]; /* per network core */
	struct dl_region *tx;
	bool tx_registered;
	/* What the application reads received data in: its own region, a
	 * share per network core (rx_copy), or the port's RX region shared by
	 * request (--rx-sharing, one application). */
	struct dl_region *rx;
	bool rx_copy;
	size_t rx_share; /* bytes of each network core's share */
	/* Ports the port steers into the region's last part (rx_steer, the
	 * ports its rights list): their data needs no copy. */
	uint16_t steered[DL_SLOT_STEER_PORTS];
	unsigned nsteered;
	struct dl_slot_grant grant;
};

/* An event held back by the copy path (in arrival order per slot: a
 * connection's data, its remote close, in the order the stack gave them). */
struct dl_rxc_pend {
	struct dl_rxc_pend *next;
	uint16_t app;
	uint32_t id;
	int8_t closed;	  /* -1: data (refs); else the remote_closed reason */
	unsigned n;
	struct dl_rx_ref refs[]; /* into the service's RX buffers (held by the stack) */
};

/* A network core's view of a slot. */
struct dl_netslot {
	struct dl_netcore *g;
	struct dl_slot *slot;
	struct dl_noc_ep *ep;
	bool on;
	bool kicked;
	uint64_t bad;		  /* invalid commands in this attachment */
	unsigned denials_logged;
	struct dl_bucket send, cmds;
	struct dl_rxcopy rxc; /* this network core's share of the slot's RX region */
	struct dl_rxc_pend *pend, *pend_tail; /* held back: no room in the share */
};

/* Where events for an application index go. */
struct dl_route {
	struct dl_noc_ep *ep; /* NULL: nowhere (not attached) */
	uint16_t dst;	      /* core on that endpoint's fabric */
};

/* Network-core side of the engine. */
struct dl_netcore {
	struct dl_engine *e;
	struct dl_ecore *core;
	unsigned net_idx;
	struct dl_listener listeners[DL_MAX_LISTENERS];
	uint32_t app_conns[DL_MAX_CORES];  /* connections owned, per app core */
	struct dl_coreset app_mask;        /* application indexes this net core serves */
	unsigned napp;                     /* application index space */
	struct dl_route route[DL_MAX_CORES];
	const struct dl_region *tx_of[DL_MAX_CORES]; /* TX region each app's SENDs use */
	/* protected mode */
	uint64_t slot_gen;		   /* last generation seen */
	uint32_t slots_on;		   /* bit s: polling slot s */
	struct dl_netslot *ns;		   /* per slot */
	struct dl_offer *offers;	   /* DL_OFFERS */
	unsigned noffers;
	/* A DATA_ACKED held back until the next event or the end of the
	 * iteration, to travel with the NEW_DATA of the same segment (a peer's
	 * next request acknowledges the previous response). */
	struct {
		bool on;
		uint16_t app;
		uint32_t id;
		uint32_t bytes;
	} held_ack;
	uint64_t msg[DL_MSG_MAX_WORDS];
};

struct dl_deferred {
	uint8_t kind; /* 0 cmd_error, 1 connect_failed */
	uint8_t cmd;
	int err;
	dlibos_conn_t conn;
	uint64_t context;
};

/* Application-core side: the public struct dlibos_core. */
struct dlibos_core {
	struct dl_engine *e;
	struct dl_ecore *core;
	unsigned app_idx;
	void *user;
	uint64_t now;
	unsigned nnet;              /* network cores this app core talks to */
	uint16_t net_of[DL_MAX_CORES]; /* their net indexes */
	unsigned connect_rr;
	struct dl_txmem *txmem;
	unsigned ndeferred;
	struct dl_deferred deferred[DL_DEFERRED_MAX];
	/* dlibos mode: a SEND (of at most DL_MSG_MAX_REFS_PAIRED refs) or a
	 * RECV_DONE held back until the next command or the end of the
	 * iteration, to pair with the RECV_DONE or SEND of the same connection
	 * that usually comes next (one SEND_RECV_DONE message for both). */
	struct {
		uint8_t type; /* 0 (none), DL_MSG_SEND or DL_MSG_RECV_DONE */
		uint16_t net;
		dlibos_conn_t conn;
		uint32_t bytes; /* RECV_DONE */
		unsigned n;	/* SEND: ref words at w[2 ..] */
		/* SEND built in place: w[1] becomes its header, or w[0] the
		 * header and w[1] the count of a SEND_RECV_DONE. */
		uint64_t w[DL_MSG_MAX_WORDS];
	} held;
	uint64_t msg[DL_MSG_MAX_WORDS];
};

struct dl_ecore {
	unsigned idx;
	unsigned role;  /* DL_ROLE_* */
	int net_idx;    /* -1 if not a network core */
	int app_idx;    /* -1 if not an application core */
	int quadrant;
	struct dl_stack *stack;
	struct dl_noc_ep *ep;
	struct dl_netcore *net;
	struct dlibos_core *app;
	uint64_t now;
	bool started;
	uint64_t cnt[ENG_NCNT];
	struct dl_counter_block blk;
};

struct dl_engine {
	struct dl_engine_conf conf;
	unsigned ncores, n_net, n_app;
	struct dl_ecore cores[DL_MAX_CORES];
	int net_core[DL_MAX_CORES]; /* net index -> core index */
	int app_core[DL_MAX_CORES]; /* app index -> core index */
	struct dl_coreset links[DL_MAX_CORES]; /* d in links[s]: channel s -> d */
	unsigned nquadrants;
	struct dl_noc_fabric *fab;
	struct dl_region *tx_region;
	struct dl_txmem txmem;
	bool owns_fab, owns_tx; /* attached mode borrows both */
	/* protected mode */
	unsigned napp;		/* application index space: n_app, or slots * slot_cores */
	unsigned nslots, slot_cores;
	uint32_t bad_limit;
	struct dl_slot *slots;
	uint64_t slot_gen;	/* atomic: bumped at every slot state change */
	uint8_t *port_owner;	/* 65536 entries: slot + 1 listening there, 0 none (atomic) */
	int kick_fd;
};

/* netcore.c */
struct dl_netcore *dl_netcore_create(struct dl_engine *e, struct dl_ecore *c);
/* protected mode: follow slot changes; poll / flush the active slots. */
void dl_netcore_slots_update(struct dl_netcore *g, uint64_t now);
unsigned dl_netcore_slots_poll(struct dl_netcore *g, uint64_t now);
unsigned dl_netcore_slots_flush(struct dl_netcore *g);
/* Let go of a slot now (cores stopped, or the core's own detach). */
void dl_netcore_slot_off(struct dl_netcore *g, unsigned slot);
void dl_netcore_destroy(struct dl_netcore *g);
/* Send the DATA_ACKED held back for pairing (there is one). */
void dl_netcore_send_held(struct dl_netcore *g);
extern const struct dl_stack_upcalls dl_netcore_upcalls_noc;
/* Protected mode (the service): received data copied into each application's region. */
extern const struct dl_stack_upcalls dl_netcore_upcalls_prot;
extern const struct dl_stack_upcalls dl_netcore_upcalls_rtc;
/* A command or internal message for the network core @p arg (its struct
 * dl_ecore): a dl_noc_fn. */
void dl_netcore_on_msg(void *arg, unsigned src, const struct dl_msg *m);
/* Direct-call command path used in rtc mode (returns what the stack says). */
int dl_netcore_listen(struct dl_netcore *g, unsigned app, uint16_t port, uint32_t backlog);
void dl_netcore_accepted(struct dl_netcore *g, unsigned app);

/* appcore.c */
struct dlibos_core *dl_appcore_create(struct dl_engine *e, struct dl_ecore *c);
void dl_appcore_destroy(struct dlibos_core *a);
/* An event for the application core @p arg (its struct dl_ecore): a
 * dl_noc_fn. */
void dl_appcore_on_msg(void *arg, unsigned src, const struct dl_msg *m);
void dl_appcore_flush_deferred(struct dlibos_core *a);
/* Send the command held back for pairing (there is one). */
void dl_appcore_send_held(struct dlibos_core *a);
void dl_appcore_defer(struct dlibos_core *a, uint8_t kind, uint8_t cmd, int err,
		      dlibos_conn_t conn, uint64_t context);

/* Send the DATA_ACKED held back for pairing, if any (end of an iteration,
 * before another event). Inline: mostly there is none. */
static inline void dl_netcore_flush_held(struct dl_netcore *g)
{
	if (g->held_ack.on)
		dl_netcore_send_held(g);
}

/* Send the command held back for pairing, if any (end of an iteration,
 * before another command). Inline: mostly there is none. */
static inline void dl_appcore_flush_held(struct dlibos_core *a)
{
	if (a->held.type != 0)
		dl_appcore_send_held(a);
}

/* The engine the dlibos_* API functions use (one per process). */
extern struct dl_engine *dl_engine_current;

#endif /* DL_ENGINE_PRIV_H */
