/*
 * engine.c - execution modes, layouts and the per-core loop (see
 * dl_engine.h).
 *
 * One loop iteration of a core, whatever its role:
 *     network: receive a burst from its NIC queue -> stack input
 *     all:     poll the NoC mailbox (commands, events, handed-off frames)
 *     network: stack timers
 *     app:     the application's core_poll hook, deferred error events
 *     network: transmit the frames queued during the iteration
 *     all:     flush the NoC (publish ring tails, drain overflow queues)
 */
#include "dl_engine_priv.h"
#include "dl_log.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RX_BURST 32
#define NOC_BUDGET 256

struct dl_engine *dl_engine_current;

const char *const dl_mode_names[DL_MODE_COUNT] = {"rtc", "dlibos", "protected", "attached"};
const char *const dl_layout_names[DL_LAYOUT_COUNT] = {"naive", "quadrant-all",
						      "quadrant-dedicated"};
const char *const dl_dispatch_names[DL_DISPATCH_COUNT] = {"rr", "least-loaded"};

const char *dl_mode_name(enum dl_mode m)
{
	return (unsigned)m < DL_MODE_COUNT ? dl_mode_names[m] : "?";
}

const char *dl_layout_name(enum dl_layout l)
{
	return (unsigned)l < DL_LAYOUT_COUNT ? dl_layout_names[l] : "?";
}

const char *dl_dispatch_name(enum dl_dispatch d)
{
	return (unsigned)d < DL_DISPATCH_COUNT ? dl_dispatch_names[d] : "?";
}

static const char *const eng_cnt_names[ENG_NCNT] = {
	[ENG_EVENTS] = "events_delivered",
	[ENG_EVENTS_SENT] = "events_sent",
	[ENG_COMMANDS] = "commands_issued",
	[ENG_CMD_ERRORS] = "command_errors",
	[ENG_CMD_LOCAL_REJECT] = "commands_rejected_locally",
	[ENG_NOC_SEND_FAIL] = "noc_send_failed",
	[ENG_NO_LISTENER] = "drop_conn_no_listener",
	[ENG_BAD_EVENT] = "drop_bad_event",
	[ENG_BAD_COMMAND] = "drop_bad_command",
	[ENG_DEFERRED_DROP] = "drop_deferred_error_overflow",
	[ENG_DISPATCHED] = "connections_dispatched",
	[ENG_CMD_BAD_REGION] = "cmd_reject_bad_region",
	[ENG_CMD_NOT_OWNER] = "cmd_reject_not_owner",
	[ENG_CMD_BAD_RECV_DONE] = "cmd_reject_recv_done",
	[ENG_CMD_MALFORMED] = "cmd_reject_malformed",
	[ENG_POLICY_DENIED] = "policy_denied",
	[ENG_THROTTLED] = "policy_throttled_polls",
	[ENG_EVENT_DETACHED] = "drop_event_detached",
	[ENG_OFFER_TABLE_FULL] = "drop_conn_offer_table_full",
	[ENG_SLOT_ON] = "slot_attached",
	[ENG_SLOT_OFF] = "slot_detached",
	[ENG_SLOT_KICKS] = "slot_kicked",
	[ENG_EVENTS_PAIRED] = "events_paired",
	[ENG_COMMANDS_PAIRED] = "commands_paired",
	[ENG_RXC_COPIED_BYTES] = "rx_copied_bytes",
	[ENG_RXC_COPIES] = "rx_copies",
	[ENG_RXC_NO_ROOM] = "rx_copy_no_room",
	[ENG_RXC_BAD_RETURN] = "cmd_reject_rx_return",
	[ENG_RXC_DEFERRED] = "rx_copy_deferred",
	[ENG_RXC_PENDING] = "rx_copy_pending",
	[ENG_RXC_STEERED_BYTES] = "rx_steered_bytes",
};
const char *const *const dl_engine_cnt_names = eng_cnt_names;
const unsigned dl_engine_ncnt = ENG_NCNT;

_Static_assert(ENG_RXC_NO_ROOM - ENG_RXC_COPIED_BYTES == DL_RXC_NO_ROOM - DL_RXC_COPIED_BYTES &&
		   ENG_RXC_BAD_RETURN - ENG_RXC_COPIED_BYTES == DL_RXC_BAD_RETURN &&
		   ENG_RXC_COPIES - ENG_RXC_COPIED_BYTES == DL_RXC_COPIES && DL_RXC_COPIED_BYTES == 0,
	       "the copy path's counters are a slice of the engine's");

/* A core's group in the mesh: the quarter of the bounding box of every
 * core's (x, y) it falls in (paper Figure 3: a 6x6 TILE-Gx in four 3x3
 * quadrants), numbered 0..3 row by row. */
static int mesh_quarter(const struct dl_engine *e, unsigned i)
{
	int x0 = INT32_MAX, y0 = INT32_MAX, x1 = -1, y1 = -1;

	for (unsigned k = 0; k < e->ncores; k++) {
		const struct dl_core_info *c = &e->conf.cores[k];
		x0 = c->x < x0 ? c->x : x0;
		y0 = c->y < y0 ? c->y : y0;
		x1 = c->x > x1 ? c->x : x1;
		y1 = c->y > y1 ? c->y : y1;
	}
	/* Split each axis in two halves (the larger first half when odd:
	 * x0..x1 holds x1 - x0 + 1 columns). */
	return (e->conf.cores[i].y >= y0 + (y1 - y0 + 2) / 2) * 2 +
	       (e->conf.cores[i].x >= x0 + (x1 - x0 + 2) / 2);
}

/* True when every core has mesh coordinates (TILE-Gx tiles). */
static bool on_a_mesh(const struct dl_engine *e)
{
	for (unsigned i = 0; i < e->ncores; i++)
		if (e->conf.cores[i].x < 0 || e->conf.cores[i].y < 0)
			return false;
	return e->ncores > 0;
}

/* Quadrants, from the topology the platform reports: on a mesh, the four
 * quarters of the tiles in use; elsewhere, groups of cores sharing a
 * last-level cache; with a single such group, equal shares (4 when there
 * are at least 8 cores, else 2 when there are at least 4, else 1). Group
 * numbers are made dense in order of first appearance. */
static void assign_quadrants(struct dl_engine *e)
{
	int dom_of[DL_MAX_CORES];
	int ndom = 0;
	bool mesh = on_a_mesh(e);

	for (unsigned i = 0; i < e->ncores; i++) {
		int d = mesh ? mesh_quarter(e, i) : e->conf.cores[i].l3_domain, k;
		for (k = 0; k < ndom; k++)
			if (dom_of[k] == d)
				break;
		if (k == ndom)
			dom_of[ndom++] = d;
		e->cores[i].quadrant = k;
	}
	if (ndom < 2) {
		unsigned q = e->ncores >= 8 ? 4 : e->ncores >= 4 ? 2 : 1;
		for (unsigned i = 0; i < e->ncores; i++)
			e->cores[i].quadrant = (int)(i * q / e->ncores);
		ndom = (int)q;
	}
	e->nquadrants = (unsigned)ndom;
}

/* Choose network cores: naive takes the first ones; the quadrant layouts
 * spread them over quadrants in proportion to the quadrants' sizes. */
static int assign_roles(struct dl_engine *e, char *err, size_t errlen)
{
	unsigned n = e->ncores, want = e->conf.net_cores;

	if (e->conf.mode == DL_MODE_RTC) {
		for (unsigned i = 0; i < n; i++)
			e->cores[i].role = DL_ROLE_NET | (e->conf.app != NULL ? DL_ROLE_APP : 0);
		return 0;
	}
	if (e->conf.mode == DL_MODE_PROTECTED) {
		for (unsigned i = 0; i < n; i++)
			e->cores[i].role = DL_ROLE_NET;
		return 0;
	}
	if (e->conf.mode == DL_MODE_ATTACHED) {
		if (e->conf.app == NULL || want == 0 || want >= n)
			return dl_errf(err, errlen, "attached engine: bad core counts (%u of %u)",
				       want, n);
		for (unsigned i = 0; i < n; i++)
			e->cores[i].role = i < want ? DL_ROLE_NET : DL_ROLE_APP;
		return 0;
	}
	if (e->conf.app == NULL)
		return dl_errf(err, errlen, "--mode dlibos needs an application");
	if (want == 0 || want >= n)
		return dl_errf(
		    err, errlen,
		    "--mode dlibos needs 1 <= --net-cores < cores (have %u cores, asked %u "
		    "network cores): the remaining cores are application cores",
		    n, want);
	if (e->conf.layout == DL_LAYOUT_NAIVE) {
		for (unsigned i = 0; i < n; i++)
			e->cores[i].role = i < want ? DL_ROLE_NET : DL_ROLE_APP;
		return 0;
	}
	unsigned size[DL_MAX_CORES] = {0}, quota[DL_MAX_CORES] = {0}, given = 0;
	for (unsigned i = 0; i < n; i++)
		size[e->cores[i].quadrant]++;
	/* Largest-remainder apportionment of `want` over the quadrants. */
	for (unsigned q = 0; q < e->nquadrants; q++) {
		quota[q] = want * size[q] / n;
		given += quota[q];
	}
	while (given < want) {
		unsigned best = 0, best_rem = 0;
		for (unsigned q = 0; q < e->nquadrants; q++) {
			unsigned rem = want * size[q] % n;
			if (quota[q] < size[q] && (rem > best_rem || (rem == best_rem && quota[q] == 0 &&
								      quota[best] != 0))) {
				best = q;
				best_rem = rem;
			}
		}
		quota[best]++;
		given++;
	}
	for (unsigned q = 0; q < e->nquadrants; q++) {
		if (e->conf.layout == DL_LAYOUT_QUADRANT_DEDICATED &&
		    (quota[q] == 0 || quota[q] == size[q]))
			return dl_errf(
			    err, errlen,
			    "--layout quadrant-dedicated: quadrant %u has %u cores of which %u "
			    "would be network cores; every quadrant needs both kinds (use more "
			    "cores, another --net-cores, or --layout quadrant-all)",
			    q, size[q], quota[q]);
	}
	unsigned taken[DL_MAX_CORES] = {0};
	for (unsigned i = 0; i < n; i++) {
		int q = e->cores[i].quadrant;
		e->cores[i].role = taken[q] < quota[q] ? DL_ROLE_NET : DL_ROLE_APP;
		taken[q] += e->cores[i].role == DL_ROLE_NET;
	}
	return 0;
}

/* Channels: network <-> network always (handoff, ARP); network <->
 * application unless quadrant-dedicated separates them. */
static void assign_links(struct dl_engine *e)
{
	if (e->conf.mode == DL_MODE_ATTACHED) {
		/* The slot fabric's plan, exactly as the service made it. */
		dl_engine_slot_links(e->n_net, e->n_app, e->links);
		return;
	}
	for (unsigned s = 0; s < e->ncores; s++) {
		for (unsigned d = 0; d < e->ncores; d++) {
			const struct dl_ecore *a = &e->cores[s], *b = &e->cores[d];
			bool link;
			if (s == d)
				continue;
			if ((a->role & DL_ROLE_NET) && (b->role & DL_ROLE_NET))
				link = true;
			else if ((a->role & DL_ROLE_NET) != (b->role & DL_ROLE_NET))
				link = e->conf.layout != DL_LAYOUT_QUADRANT_DEDICATED ||
				       a->quadrant == b->quadrant;
			else
				link = false;
			if (link)
				dl_coreset_set(&e->links[s], d);
		}
	}
}

/* The NUMA node shared by every core with @p role, or -1 when they span
 * several (or do not say). */
static int node_of_role(const struct dl_engine *e, unsigned role)
{
	int node = -2;

	for (unsigned i = 0; i < e->ncores; i++) {
		if ((e->cores[i].role & role) == 0)
			continue;
		if (node == -2)
			node = e->conf.cores[i].numa_node;
		else if (node != e->conf.cores[i].numa_node)
			return -1;
	}
	return node < 0 ? -1 : node;
}

/* The application's TX region: shared memfd on the application cores'
 * NUMA node (they write it), registered with the NIC for transmit (DMA
 * mapping where the device needs one). */
static int create_tx_memory(struct dl_engine *e, char *err, size_t errlen)
{
	struct dl_nic *nic = e->conf.nic;
	size_t bytes = e->conf.app->tx_memory != NULL ? e->conf.app->tx_memory() : 0;

	if (bytes == 0)
		bytes = (size_t)64 << 20;
	/* Memory the port can send from by reference: the port picks its
	 * backing where it has a preference (huge pages on mPIPE). */
	if (nic->ops->tx_region_create != NULL)
		e->tx_region = nic->ops->tx_region_create(nic, "app-tx", bytes,
							  DL_REGION_SHARED | DL_REGION_DMA,
							  node_of_role(e, DL_ROLE_APP));
	else
		e->tx_region = dl_region_create_on("app-tx", bytes,
						   DL_REGION_SHARED | DL_REGION_DMA,
						   node_of_role(e, DL_ROLE_APP));
	if (e->tx_region == NULL || dl_txmem_init(&e->txmem, e->tx_region) != 0) {
		dl_errf(err, errlen, "cannot create %zu bytes of TX memory: %s", bytes,
			strerror(errno));
		dl_region_destroy(e->tx_region);
		e->tx_region = NULL;
		return -1;
	}
	if (nic->ops->mem_register != NULL && nic->ops->mem_register(nic, e->tx_region) != 0)
		DL_WARN("port %s could not register TX memory: fragments will be copied", nic->name);
	return 0;
}

/* Attached mode: the TX region and fabric come from the control plane. */
static int borrow_tx_memory(struct dl_engine *e, char *err, size_t errlen)
{
	e->tx_region = e->conf.tx_region;
	if (e->tx_region == NULL || e->conf.fab == NULL)
		return dl_errf(err, errlen,
			       "attached engine needs the slot's fabric and TX region");
	if (dl_txmem_init(&e->txmem, e->tx_region) != 0) {
		e->tx_region = NULL;
		return dl_errf(err, errlen, "out of memory");
	}
	e->fab = e->conf.fab;
	return 0;
}

/* Protected mode: the slot table and the port owners. */
static int create_slots(struct dl_engine *e, char *err, size_t errlen)
{
	e->nslots = e->conf.app_slots ? e->conf.app_slots : 4;
	e->slot_cores = e->conf.slot_cores ? e->conf.slot_cores : 4;
	e->bad_limit = e->conf.bad_command_limit ? e->conf.bad_command_limit : 1000;
	if (e->nslots > 32 || (uint64_t)e->nslots * e->slot_cores > DL_MAX_CORES)
		return dl_errf(
		    err, errlen,
		    "%u application slots of %u cores: at most %d application cores in all "
		    "(and 32 slots)",
		    e->nslots, e->slot_cores, DL_MAX_CORES);
	e->napp = e->nslots * e->slot_cores;
	e->slots = calloc(e->nslots, sizeof(*e->slots));
	e->port_owner = calloc(65536, 1);
	if (e->slots == NULL || e->port_owner == NULL)
		return dl_errf(err, errlen, "out of memory");
	for (unsigned s = 0; s < e->nslots; s++) {
		e->slots[s].idx = s;
		e->slots[s].base = s * e->slot_cores;
	}
	return 0;
}

static void engine_free(struct dl_engine *e)
{
	free(e->slots);
	free(e->port_owner);
	free(e);
}

struct dl_engine *dl_engine_create(const struct dl_engine_conf *conf, char *err, size_t errlen)
{
	struct dl_engine *e;

	if (conf->ncores == 0 || conf->ncores > DL_MAX_CORES)
		return dl_errf(err, errlen, "need 1..%d cores, have %u", DL_MAX_CORES,
			       conf->ncores),
		       NULL;
	if (conf->nic == NULL && conf->mode != DL_MODE_ATTACHED)
		return dl_errf(err, errlen, "engine needs a NIC"), NULL;
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return dl_errf(err, errlen, "out of memory"), NULL;
	e->conf = *conf;
	e->ncores = conf->ncores;
	e->kick_fd = -1;
	assign_quadrants(e);
	if (assign_roles(e, err, errlen) != 0) {
		free(e);
		return NULL;
	}
	for (unsigned i = 0; i < DL_MAX_CORES; i++)
		e->net_core[i] = e->app_core[i] = -1;
	for (unsigned i = 0; i < e->ncores; i++) {
		struct dl_ecore *c = &e->cores[i];
		c->idx = i;
		c->net_idx = c->app_idx = -1;
		if (c->role & DL_ROLE_NET) {
			c->net_idx = (int)e->n_net;
			e->net_core[e->n_net++] = (int)i;
		}
		if (c->role & DL_ROLE_APP) {
			c->app_idx = (int)e->n_app;
			e->app_core[e->n_app++] = (int)i;
		}
	}
	e->napp = e->n_app;
	if (conf->nic != NULL && e->n_net > conf->nic->nb_queues) {
		dl_errf(err, errlen, "%u network cores but the NIC has %u queues", e->n_net,
			conf->nic->nb_queues);
		free(e);
		return NULL;
	}
	assign_links(e);
	if (conf->mode == DL_MODE_PROTECTED && create_slots(e, err, errlen) != 0) {
		engine_free(e);
		return NULL;
	}
	if (conf->mode == DL_MODE_ATTACHED) {
		if (borrow_tx_memory(e, err, errlen) != 0) {
			engine_free(e);
			return NULL;
		}
	} else {
		if (e->ncores > 1) {
			e->fab = dl_noc_fabric_create(
			    e->ncores, conf->noc_words ? conf->noc_words : 4096, e->links);
			if (e->fab == NULL) {
				dl_errf(err, errlen, "cannot create the NoC fabric: %s",
					strerror(errno));
				engine_free(e);
				return NULL;
			}
			e->owns_fab = true;
			/* Each channel on its consumer's node (it polls it). */
			int node_of[DL_MAX_CORES];
			for (unsigned i = 0; i < e->ncores; i++)
				node_of[i] = e->conf.cores[i].numa_node;
			if (dl_noc_fabric_place(e->fab, node_of) != 0)
				DL_WARN("NoC: channels could not be placed on their consumers' "
					"NUMA nodes (first-touch placement)");
		}
		if (conf->app != NULL && create_tx_memory(e, err, errlen) != 0) {
			dl_noc_fabric_destroy(e->fab);
			engine_free(e);
			return NULL;
		}
		e->owns_tx = e->tx_region != NULL;
	}
	/* Each network core's stack enforces the credit (see dl_tcp_params). */
	e->conf.stack.tcp.app_rx_credit = conf->app_rx_credit ? conf->app_rx_credit
							      : DL_ENGINE_DEFAULT_RX_CREDIT;
	dl_engine_current = e;
	if (!conf->quiet)
		dl_engine_print_layout(e, stdout);
	return e;
}

void dl_engine_print_layout(const struct dl_engine *e, FILE *f)
{
	if (e->conf.mode == DL_MODE_ATTACHED) {
		fprintf(f, "dlibos: attached, %u application core(s), %u network core(s) in the "
			   "service\n",
			e->n_app, e->n_net);
		fflush(f);
		return;
	}
	fprintf(f, "dlibos: mode %s, %u cores: %u network, %u application", dl_mode_name(e->conf.mode),
		e->ncores, e->n_net, e->n_app);
	if (e->conf.mode == DL_MODE_PROTECTED)
		fprintf(f, " (in %u slots of up to %u cores for attached processes)", e->nslots,
			e->slot_cores);
	if (e->conf.mode == DL_MODE_DLIBOS)
		fprintf(f, ", layout %s (%u quadrants), dispatch %s", dl_layout_name(e->conf.layout),
			e->nquadrants, dl_dispatch_name(e->conf.dispatch));
	fputc('\n', f);
	for (unsigned i = 0; i < e->ncores; i++) {
		const struct dl_ecore *c = &e->cores[i];
		fprintf(f, "dlibos:   core %u (cpu %d, quadrant %d): %s", i, e->conf.cores[i].cpu,
			c->quadrant,
			c->role == (DL_ROLE_NET | DL_ROLE_APP) ? "network+application"
			: c->role == DL_ROLE_NET             ? "network"
							     : "application");
		if (c->net_idx >= 0)
			fprintf(f, " net%d (queue %d)", c->net_idx, c->net_idx);
		if (c->app_idx >= 0)
			fprintf(f, " app%d", c->app_idx);
		if (e->conf.mode == DL_MODE_DLIBOS) {
			fprintf(f, " talks to");
			for (unsigned d = 0; d < e->ncores; d++)
				if (dl_coreset_has(&e->links[i], d))
					fprintf(f, " %u", d);
		}
		fputc('\n', f);
	}
	fflush(f);
}

static void accept_classes(struct dl_engine *e, struct dl_ecore *c)
{
	for (unsigned s = 0; s < e->ncores; s++) {
		const struct dl_ecore *src = &e->cores[s];
		unsigned mask = 0;
		if (!dl_coreset_has(&e->links[s], c->idx))
			continue;
		if ((c->role & DL_ROLE_NET) && (src->role & DL_ROLE_NET))
			mask |= DL_MSG_CLASS_INTERNAL;
		if ((c->role & DL_ROLE_NET) && src->role == DL_ROLE_APP)
			mask |= DL_MSG_CLASS_COMMAND;
		if (c->role == DL_ROLE_APP && (src->role & DL_ROLE_NET))
			mask |= DL_MSG_CLASS_EVENT;
		dl_noc_set_accept(c->ep, s, mask);
	}
}

int dl_engine_core_start(struct dl_engine *e, unsigned core, uint64_t now_us)
{
	struct dl_ecore *c = &e->cores[core];
	int rc;

	c->now = now_us;
	dl_stats_register(&c->blk, "engine", eng_cnt_names, ENG_NCNT, c->cnt, (int)core);
	if (e->fab != NULL) {
		c->ep = dl_noc_ep_create(e->fab, core, NULL);
		if (c->ep == NULL)
			return -errno;
		accept_classes(e, c);
	}
	if (c->role & DL_ROLE_NET) {
		struct dl_stack_config sc = e->conf.stack;
		memcpy(sc.mac, e->conf.nic->mac, 6);
		sc.mtu = e->conf.nic->mtu;
		c->stack = dl_stack_create(&sc, e->conf.nic, (uint16_t)c->net_idx,
					   (unsigned)c->net_idx, e->n_net);
		if (c->stack == NULL)
			return -errno;
		c->net = dl_netcore_create(e, c);
		if (c->net == NULL)
			return -ENOMEM;
		dl_stack_set_upcalls(c->stack,
				     e->conf.mode == DL_MODE_RTC	 ? &dl_netcore_upcalls_rtc
				     : e->conf.mode == DL_MODE_PROTECTED ? &dl_netcore_upcalls_prot
									 : &dl_netcore_upcalls_noc,
				     c->net);
		dl_stack_start(c->stack, now_us);
	}
	if (c->role & DL_ROLE_APP) {
		c->app = dl_appcore_create(e, c);
		if (c->app == NULL)
			return -ENOMEM;
		c->app->now = now_us;
	}
	c->started = true;
	if (c->app != NULL && e->conf.app->core_init != NULL) {
		c->app->now = now_us;
		rc = e->conf.app->core_init(c->app);
		if (rc != 0) {
			DL_ERR("application %s: core_init on app core %u failed (%d)",
			       e->conf.app->name, c->app_idx, rc);
			return rc < 0 ? rc : -EINVAL;
		}
	}
	return 0;
}

/* NoC messages of a core with both roles (or none): events to the
 * application-core side, the rest to the network-core side. */
static void on_msg(void *arg, unsigned src, const struct dl_msg *m)
{
	struct dl_ecore *c = arg;

	if (dl_msg_class(m->type) == DL_MSG_CLASS_EVENT)
		dl_appcore_on_msg(c, src, m);
	else
		dl_netcore_on_msg(c, src, m);
}

/* dl_engine_core_iter() of a core with the application role only (dlibos
 * mode): the stages a network role adds are left out rather than tested,
 * and NoC messages, events only (accept_classes()), go straight to the
 * application-core side. Same order as the general loop below. */
static unsigned app_core_iter(struct dl_engine *e, struct dl_ecore *c, struct dlibos_core *app,
			      uint64_t now_us)
{
	struct dl_noc_ep *const ep = c->ep;
	void (*const core_poll)(struct dlibos_core *, uint64_t) = e->conf.app->core_poll;
	unsigned work = 0;

	c->now = now_us;
	app->now = now_us;
	if (ep != NULL)
		work += dl_noc_poll(ep, NOC_BUDGET, dl_appcore_on_msg, c);
	if (core_poll != NULL)
		core_poll(app, now_us);
	if (app->ndeferred > 0) {
		work += app->ndeferred;
		dl_appcore_flush_deferred(app);
	}
	dl_appcore_flush_held(app);
	if (ep != NULL && dl_noc_flush(ep) > 0)
		work++; /* overflow still draining: stay awake */
	return work;
}

/* dl_engine_core_iter() of a core with the network role only and no
 * application slots (dlibos mode): NoC messages, commands and internal
 * ones only (accept_classes()), go straight to the network-core side. Same
 * order as the general loop below. */
static unsigned net_core_iter(struct dl_engine *e, struct dl_ecore *c, struct dl_stack *st,
			      struct dl_netcore *net, uint64_t now_us)
{
	struct dl_noc_ep *const ep = c->ep;
	struct dl_rx_pkt pkts[RX_BURST];
	uint16_t n;
	unsigned work = 0;

	c->now = now_us;
	n = dl_nic_rx_burst(e->conf.nic, (uint16_t)c->net_idx, pkts, RX_BURST);
	if (n > 0) {
		dl_stack_input(st, pkts, n, now_us);
		work += n;
	}
	if (ep != NULL)
		work += dl_noc_poll(ep, NOC_BUDGET, dl_netcore_on_msg, c);
	dl_stack_poll(st, now_us);
	dl_stack_flush(st);
	dl_netcore_flush_held(net);
	if (ep != NULL && dl_noc_flush(ep) > 0)
		work++; /* overflow still draining: stay awake */
	return work;
}

unsigned dl_engine_core_iter(struct dl_engine *e, unsigned core, uint64_t now_us)
{
	struct dl_ecore *c = &e->cores[core];
	/* The roles, read once (the calls below cannot change them). */
	struct dl_stack *const st = c->stack;
	struct dl_noc_ep *const ep = c->ep;
	struct dl_netcore *const net = c->net;
	struct dlibos_core *const app = c->app;
	const bool slots = net != NULL && e->nslots != 0;
	unsigned work = 0;

	if (st == NULL && net == NULL && app != NULL)
		return app_core_iter(e, c, app, now_us);
	if (st != NULL && net != NULL && app == NULL && !slots)
		return net_core_iter(e, c, st, net, now_us);

	c->now = now_us;
	if (app != NULL)
		app->now = now_us;
	if (slots)
		dl_netcore_slots_update(net, now_us);
	if (st != NULL) {
		struct dl_rx_pkt pkts[RX_BURST];
		uint16_t n = dl_nic_rx_burst(e->conf.nic, (uint16_t)c->net_idx, pkts, RX_BURST);
		if (n > 0) {
			dl_stack_input(st, pkts, n, now_us);
			work += n;
		}
	}
	if (ep != NULL)
		work += dl_noc_poll(ep, NOC_BUDGET, on_msg, c);
	if (slots && net->slots_on != 0)
		work += dl_netcore_slots_poll(net, now_us);
	if (st != NULL)
		dl_stack_poll(st, now_us);
	if (app != NULL) {
		if (e->conf.app->core_poll != NULL)
			e->conf.app->core_poll(app, now_us);
		if (app->ndeferred > 0) {
			work += app->ndeferred;
			dl_appcore_flush_deferred(app);
		}
	}
	if (st != NULL)
		dl_stack_flush(st);
	if (net != NULL)
		dl_netcore_flush_held(net);
	if (app != NULL)
		dl_appcore_flush_held(app);
	if (ep != NULL && dl_noc_flush(ep) > 0)
		work++; /* overflow still draining: stay awake */
	if (slots && net->slots_on != 0)
		work += dl_netcore_slots_flush(net);
	return work;
}

uint64_t dl_engine_core_deadline(struct dl_engine *e, unsigned core)
{
	struct dl_ecore *c = &e->cores[core];

	if (c->stack == NULL)
		return UINT64_MAX;
	return dl_stack_next_deadline(c->stack);
}

/* Deliver what is still queued for an application core (cleanup events of
 * the connections the stacks just aborted). */
static void drain_app_core(struct dl_engine *e, struct dl_ecore *c)
{
	for (int round = 0; round < 64 && c->ep != NULL; round++) {
		unsigned n = dl_noc_poll(c->ep, 4096, on_msg, c);
		if (c->app != NULL && c->app->ndeferred > 0)
			dl_appcore_flush_deferred(c->app);
		if (c->app != NULL)
			dl_appcore_flush_held(c->app);
		dl_noc_flush(c->ep);
		if (n == 0)
			break;
	}
	(void)e;
}

void dl_engine_stop(struct dl_engine *e)
{
	/* 1. Network cores abort their connections: the cleanup events reach
	 *    the application (directly in rtc, as messages in dlibos). */
	for (unsigned i = 0; i < e->ncores; i++) {
		struct dl_ecore *c = &e->cores[i];
		if (c->stack != NULL) {
			dl_stack_destroy(c->stack);
			c->stack = NULL;
		}
		if (c->net != NULL)
			dl_netcore_flush_held(c->net);
		if (c->ep != NULL)
			dl_noc_flush(c->ep);
	}
	/* 2. Application cores take their last events, then stop. */
	for (unsigned i = 0; i < e->ncores; i++) {
		struct dl_ecore *c = &e->cores[i];
		if (c->app == NULL)
			continue;
		drain_app_core(e, c);
		if (c->started && e->conf.app->core_fini != NULL)
			e->conf.app->core_fini(c->app);
	}
	/* 3. Free the per-core state. */
	for (unsigned i = 0; i < e->ncores; i++) {
		struct dl_ecore *c = &e->cores[i];
		dl_netcore_destroy(c->net);
		c->net = NULL;
		dl_appcore_destroy(c->app);
		c->app = NULL;
		if (c->ep != NULL) {
			dl_noc_ep_destroy(c->ep);
			c->ep = NULL;
		}
		if (c->blk.module != NULL) {
			dl_stats_unregister(&c->blk);
			c->blk.module = NULL;
		}
		c->started = false;
	}
}

void dl_engine_destroy(struct dl_engine *e)
{
	if (e == NULL)
		return;
	for (unsigned s = 0; s < e->nslots; s++) {
		struct dl_region *tx = NULL;
		if (e->slots[s].state == DL_SLOT_FREE)
			continue;
		DL_WARN("slot %u still attached when the engine is destroyed", s);
		if (e->slots[s].state == DL_SLOT_ACTIVE)
			dl_engine_slot_detach(e, s);
		dl_engine_slot_release(e, s, &tx);
		dl_region_destroy(tx);
	}
	if (e->tx_region != NULL) {
		if (e->owns_tx && e->conf.nic->ops->mem_unregister != NULL)
			e->conf.nic->ops->mem_unregister(e->conf.nic, e->tx_region);
		dl_txmem_fini(&e->txmem);
		if (e->owns_tx)
			dl_region_destroy(e->tx_region);
	}
	if (e->owns_fab)
		dl_noc_fabric_destroy(e->fab);
	if (dl_engine_current == e)
		dl_engine_current = NULL;
	engine_free(e);
}

uint64_t dl_engine_noc_messages(const struct dl_engine *e)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < e->ncores; i++)
		if (e->cores[i].ep != NULL)
			n += dl_noc_counters(e->cores[i].ep)[DL_NOC_TX_MSGS];
	return n;
}

struct dl_stack *dl_engine_stack(const struct dl_engine *e, unsigned net)
{
	if (net >= e->n_net)
		return NULL;
	return e->cores[e->net_core[net]].stack;
}

/* ---- protected mode: application slots (control thread) ----------------- */

static void bump_gen(struct dl_engine *e)
{
	__atomic_fetch_add(&e->slot_gen, 1, __ATOMIC_RELEASE);
}

/* True once every network core let go of the slot (its bit in acks). */
static bool all_acked(const struct dl_engine *e, const struct dl_slot *sl)
{
	for (unsigned n = 0; n < e->n_net; n++)
		if ((__atomic_load_n(&sl->acks.w[n / 64], __ATOMIC_ACQUIRE) >> (n % 64) & 1) == 0)
			return false;
	return true;
}

unsigned dl_engine_slots(const struct dl_engine *e)
{
	return e->nslots;
}

unsigned dl_engine_slot_cores(const struct dl_engine *e)
{
	return e->slot_cores;
}

enum dl_slot_state dl_engine_slot_state(const struct dl_engine *e, unsigned slot)
{
	assert(slot < e->nslots);
	return (enum dl_slot_state)__atomic_load_n(&e->slots[slot].state, __ATOMIC_ACQUIRE);
}

/* The slot's fabric memory: a memfd of its own (only its process gets the
 * fd), sealed so that process cannot shrink it under the service. */
static struct dl_region *slot_fabric_region(unsigned slot, size_t len)
{
	char name[32];
	struct dl_region *r;

	snprintf(name, sizeof(name), "slot%u-noc", slot);
	r = dl_region_create(name, len, DL_REGION_SHARED);
	if (r == NULL)
		return NULL;
	if (fcntl(r->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
		int err = errno;
		dl_region_destroy(r);
		errno = err;
		return NULL;
	}
	return r;
}

/* The ports a slot may listen on, when its rights list them (at most
 * DL_SLOT_STEER_PORTS): the ones the port could steer. 0 when none or too
 * many (listen=any included). */
static unsigned steerable_ports(const struct dl_rights *r, uint16_t *ports)
{
	unsigned n = 0;

	if (r == NULL || r->listen.any)
		return 0;
	for (unsigned i = 0; i < r->listen.n; i++)
		for (unsigned p = r->listen.r[i].lo; p <= r->listen.r[i].hi; p++) {
			if (n == DL_SLOT_STEER_PORTS)
				return 0;
			ports[n++] = (uint16_t)p;
		}
	return n;
}

/* Ask the port to steer the slot's ports into the last part of its region
 * (from @p off). All or none: on a refusal, what was steered is undone. */
static void slot_steer(struct dl_engine *e, struct dl_slot *sl, size_t off, const uint16_t *ports,
		       unsigned n)
{
	struct dl_nic *nic = e->conf.nic;
	int rc = 0;

	sl->nsteered = 0;
	for (unsigned i = 0; i < n && rc == 0; i++) {
		rc = nic->ops->rx_steer(nic, ports[i], sl->rx, off, sl->rx->len - off);
		if (rc == 0)
			sl->steered[sl->nsteered++] = ports[i];
	}
	if (rc != 0) {
		DL_WARN("slot %u: the port cannot steer port %u into its region (%s): its data is "
			"copied",
			sl->idx, ports[sl->nsteered], strerror(-rc));
		while (sl->nsteered > 0)
			nic->ops->rx_unsteer(nic, sl->steered[--sl->nsteered]);
	}
}

static void slot_unsteer(struct dl_engine *e, struct dl_slot *sl)
{
	struct dl_nic *nic = e->conf.nic;

	while (sl->nsteered > 0)
		nic->ops->rx_unsteer(nic, sl->steered[--sl->nsteered]);
}

/* The slot's own RX region: a memfd only its process gets (read-only:
 * sealed against new writable mappings and resizing), cut in one share per
 * network core, each share on its network core's NUMA node; when the port
 * steers the slot's ports, a last part as large again holds the buffers
 * it steers there. */
static struct dl_region *slot_rx_region(struct dl_engine *e, struct dl_slot *sl, size_t bytes,
					bool steer)
{
	char name[32];
	struct dl_region *r;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	/* Whole chunks and whole pages per share. */
	sl->rx_share = bytes / e->n_net / DL_RXC_CHUNK * DL_RXC_CHUNK / page * page;
	if (sl->rx_share < DL_RXC_CHUNK * 4)
		sl->rx_share = (DL_RXC_CHUNK * 4 + page - 1) / page * page;
	snprintf(name, sizeof(name), "slot%u-rx", sl->idx);
	r = dl_region_create(name, sl->rx_share * e->n_net * (steer ? 2 : 1), DL_REGION_SHARED);
	if (r == NULL)
		return NULL;
	for (unsigned n = 0; n < e->n_net; n++)
		dl_region_bind(r, n * sl->rx_share, sl->rx_share,
			       e->conf.cores[e->net_core[n]].numa_node);
	if (fcntl(r->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE) != 0) {
		int err = errno;
		dl_region_destroy(r);
		errno = err;
		return NULL;
	}
	return r;
}

/* Free what slot_build made (endpoints, fabric, RX region). */
static void slot_unbuild(struct dl_engine *e, struct dl_slot *sl)
{
	for (unsigned n = 0; n < e->n_net; n++) {
		dl_noc_ep_destroy(sl->ep[n]);
		sl->ep[n] = NULL;
	}
	dl_noc_fabric_destroy(sl->fab);
	sl->fab = NULL;
	dl_region_destroy(sl->fab_region);
	sl->fab_region = NULL;
	if (sl->rx_copy) {
		slot_unsteer(e, sl);
		dl_region_destroy(sl->rx);
	}
	sl->rx = NULL;
	sl->rx_copy = false;
}

/* Fabric and the network cores' endpoints (which accept only commands). */
static int slot_build(struct dl_engine *e, struct dl_slot *sl, unsigned n_app, char *err,
		      size_t errlen)
{
	const struct dl_noc_conf nc = {.no_stats = true, .ovf_limit_words = DL_SLOT_OVF_LIMIT_WORDS};
	unsigned words = e->conf.noc_words ? e->conf.noc_words : 4096, ncores = e->n_net + n_app;
	struct dl_coreset links[DL_MAX_CORES];
	size_t len;

	dl_engine_slot_links(e->n_net, n_app, links);
	len = dl_noc_fabric_size(ncores, words, links);
	sl->fab_region = len > 0 ? slot_fabric_region(sl->idx, len) : NULL;
	if (sl->fab_region == NULL)
		return dl_errf(err, errlen, "slot %u: cannot create its NoC memory: %s", sl->idx,
			       strerror(errno));
	sl->fab = dl_noc_fabric_create_in(sl->fab_region, ncores, words, links);
	if (sl->fab == NULL) {
		slot_unbuild(e, sl);
		return dl_errf(err, errlen, "slot %u: cannot lay out its NoC: %s", sl->idx,
			       strerror(errno));
	}
	/* What the service's network cores read on their nodes; what the
	 * application reads wherever it runs (unknown here). */
	int node_of[DL_MAX_CORES];
	for (unsigned i = 0; i < ncores; i++)
		node_of[i] = i < e->n_net ? e->conf.cores[e->net_core[i]].numa_node : -1;
	if (dl_noc_fabric_place(sl->fab, node_of) != 0)
		DL_WARN("slot %u: NoC channels not placed on the network cores' NUMA nodes",
			sl->idx);
	for (unsigned n = 0; n < e->n_net; n++) {
		sl->ep[n] = dl_noc_ep_create(sl->fab, n, &nc);
		if (sl->ep[n] == NULL) {
			slot_unbuild(e, sl);
			return dl_errf(err, errlen, "slot %u: cannot create the endpoints: %s",
				       sl->idx, strerror(errno));
		}
		for (unsigned j = 0; j < n_app; j++)
			dl_noc_set_accept(sl->ep[n], e->n_net + j, DL_MSG_CLASS_COMMAND);
	}
	return 0;
}

int dl_engine_slot_attach(struct dl_engine *e, unsigned slot, const struct dl_slot_grant *g,
			  char *err, size_t errlen)
{
	struct dl_nic *nic = e->conf.nic;
	struct dl_slot *sl;

	if (slot >= e->nslots)
		return dl_errf(err, errlen, "no slot %u", slot);
	sl = &e->slots[slot];
	if (__atomic_load_n(&sl->state, __ATOMIC_ACQUIRE) != DL_SLOT_FREE)
		return dl_errf(err, errlen, "slot %u is in use", slot);
	if (g->n_app == 0 || g->n_app > e->slot_cores || g->tx == NULL)
		return dl_errf(err, errlen, "slot %u: 1..%u application cores and a TX region",
			       slot, e->slot_cores);
	if (slot_build(e, sl, g->n_app, err, errlen) != 0)
		return -1;
	/* Received data: copied into the application's own region unless it
	 * may read the port's (asked for, and then the only application). */
	if (g->rx_shared) {
		sl->rx = nic != NULL && nic->rx_region != DL_REGION_NONE
			     ? dl_region_get(nic->rx_region)
			     : NULL;
		if (sl->rx == NULL) {
			slot_unbuild(e, sl);
			return dl_errf(err, errlen,
				       "slot %u: the port's RX buffers are not in a shareable "
				       "region: no --rx-sharing on this port",
				       slot);
		}
	} else {
		uint16_t ports[DL_SLOT_STEER_PORTS];
		unsigned nports = nic != NULL && nic->ops->rx_steer != NULL &&
					  nic->ops->rx_unsteer != NULL &&
					  (nic->caps & DL_NIC_CAP_RX_STEER)
				      ? steerable_ports(g->rights, ports)
				      : 0;

		sl->rx = slot_rx_region(e, sl, g->rx_bytes ? g->rx_bytes : DL_ENGINE_SLOT_RX_DEFAULT,
					nports > 0);
		if (sl->rx == NULL) {
			slot_unbuild(e, sl);
			return dl_errf(err, errlen, "slot %u: cannot create its RX region: %s", slot,
				       strerror(errno));
		}
		sl->rx_copy = true;
		if (nports > 0)
			slot_steer(e, sl, sl->rx_share * e->n_net, ports, nports);
	}
	sl->tx_registered = nic != NULL && nic->ops->mem_register != NULL &&
			    nic->ops->mem_register(nic, g->tx) == 0;
	if (!sl->tx_registered && nic != NULL && nic->ops->mem_register != NULL)
		DL_WARN("slot %u: the port could not register the TX memory of %s: its "
			"fragments will be copied",
			slot, g->name);
	sl->tx = g->tx;
	sl->n_app = g->n_app;
	sl->grant = *g;
	sl->kick = DL_KICK_NONE;
	dl_coreset_zero(&sl->acks);
	__atomic_store_n(&sl->state, DL_SLOT_ACTIVE, __ATOMIC_RELEASE);
	bump_gen(e);
	return 0;
}

struct dl_region *dl_engine_slot_rx(const struct dl_engine *e, unsigned slot)
{
	return slot < e->nslots ? e->slots[slot].rx : NULL;
}

struct dl_region *dl_engine_slot_fabric(const struct dl_engine *e, unsigned slot)
{
	return slot < e->nslots ? e->slots[slot].fab_region : NULL;
}

size_t dl_engine_slot_fabric_len(const struct dl_engine *e, unsigned slot)
{
	const struct dl_slot *sl = slot < e->nslots ? &e->slots[slot] : NULL;
	unsigned words = e->conf.noc_words ? e->conf.noc_words : 4096;
	struct dl_coreset links[DL_MAX_CORES];

	if (sl == NULL || sl->fab == NULL)
		return 0;
	dl_engine_slot_links(e->n_net, sl->n_app, links);
	return dl_noc_fabric_size(e->n_net + sl->n_app, words, links);
}

void dl_engine_slot_detach(struct dl_engine *e, unsigned slot)
{
	struct dl_slot *sl = &e->slots[slot];

	assert(slot < e->nslots);
	if (__atomic_load_n(&sl->state, __ATOMIC_ACQUIRE) != DL_SLOT_ACTIVE)
		return;
	dl_coreset_zero(&sl->acks);
	__atomic_store_n(&sl->state, DL_SLOT_DETACHING, __ATOMIC_RELEASE);
	bump_gen(e);
}

bool dl_engine_slot_quiet(const struct dl_engine *e, unsigned slot)
{
	const struct dl_slot *sl = &e->slots[slot];

	return __atomic_load_n(&sl->state, __ATOMIC_ACQUIRE) == DL_SLOT_DETACHING &&
	       all_acked(e, sl);
}

void dl_engine_slot_detach_stopped(struct dl_engine *e, unsigned slot)
{
	struct dl_slot *sl = &e->slots[slot];

	if (__atomic_load_n(&sl->state, __ATOMIC_ACQUIRE) != DL_SLOT_DETACHING)
		return;
	for (unsigned n = 0; n < e->n_net; n++) {
		struct dl_ecore *c = &e->cores[e->net_core[n]];
		if (c->net != NULL && c->stack != NULL)
			dl_netcore_slot_off(c->net, slot);
		else
			dl_coreset_set_atomic(&sl->acks, n);
	}
}

void dl_engine_slot_release(struct dl_engine *e, unsigned slot, struct dl_region **tx)
{
	struct dl_slot *sl = &e->slots[slot];
	struct dl_nic *nic = e->conf.nic;

	*tx = NULL;
	if (!dl_engine_slot_quiet(e, slot)) {
		DL_ERR("slot %u released while network cores still use it (ignored)", slot);
		return;
	}
	slot_unbuild(e, sl);
	if (sl->tx_registered && nic->ops->mem_unregister != NULL)
		nic->ops->mem_unregister(nic, sl->tx);
	*tx = sl->tx;
	for (unsigned port = 0; port < 65536; port++)
		if (__atomic_load_n(&e->port_owner[port], __ATOMIC_RELAXED) == slot + 1)
			__atomic_store_n(&e->port_owner[port], 0, __ATOMIC_RELEASE);
	sl->tx = NULL;
	sl->tx_registered = false;
	sl->n_app = 0;
	memset(&sl->grant, 0, sizeof(sl->grant));
	__atomic_store_n(&sl->kick, DL_KICK_NONE, __ATOMIC_RELAXED);
	__atomic_store_n(&sl->state, DL_SLOT_FREE, __ATOMIC_RELEASE);
	bump_gen(e);
}

int dl_engine_slot_kicked(const struct dl_engine *e, unsigned slot)
{
	return slot < e->nslots ? __atomic_load_n(&e->slots[slot].kick, __ATOMIC_ACQUIRE) : 0;
}

void dl_engine_set_kick_fd(struct dl_engine *e, int fd)
{
	e->kick_fd = fd;
}

unsigned dl_engine_net_cores(const struct dl_engine *e)
{
	return e->n_net;
}

unsigned dl_engine_noc_words(const struct dl_engine *e)
{
	return e->conf.noc_words ? e->conf.noc_words : 4096;
}

void dl_engine_slot_links(unsigned n_net, unsigned n_app, struct dl_coreset *links)
{
	struct dl_coreset nets, apps;

	dl_coreset_zero(&nets);
	dl_coreset_zero(&apps);
	dl_coreset_fill(&nets, 0, n_net);
	dl_coreset_fill(&apps, n_net, n_net + n_app);
	for (unsigned s = 0; s < n_net + n_app; s++)
		links[s] = s < n_net ? apps : nets;
}
