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

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define RX_BURST 32
#define NOC_BUDGET 256

struct dl_engine *dl_engine_current;

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
};

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* Quadrants: groups of cores sharing a last-level cache; with a single
 * such group, equal shares (4 when there are at least 8 cores, else 2
 * when there are at least 4, else 1). */
static void assign_quadrants(struct dl_engine *e)
{
	int dom_of[DL_MAX_CORES];
	int ndom = 0;

	for (unsigned i = 0; i < e->ncores; i++) {
		int d = e->conf.cores[i].l3_domain, k;
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
	if (e->conf.app == NULL)
		return fail(err, errlen, "--mode dlibos needs an application");
	if (want == 0 || want >= n)
		return fail(err, errlen,
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
			return fail(err, errlen,
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
				e->links[s] |= 1ull << d;
		}
	}
}

/* The application's TX region: shared memfd, registered with the NIC for
 * transmit (DMA mapping where the device needs one). */
static int create_tx_memory(struct dl_engine *e, char *err, size_t errlen)
{
	struct dl_nic *nic = e->conf.nic;
	size_t bytes = e->conf.app->tx_memory != NULL ? e->conf.app->tx_memory() : 0;

	if (bytes == 0)
		bytes = (size_t)64 << 20;
	e->tx_region = dl_region_create("app-tx", bytes, DL_REGION_SHARED | DL_REGION_DMA);
	if (e->tx_region == NULL || dl_txmem_init(&e->txmem, e->tx_region) != 0) {
		fail(err, errlen, "cannot create %zu bytes of TX memory: %s", bytes, strerror(errno));
		dl_region_destroy(e->tx_region);
		e->tx_region = NULL;
		return -1;
	}
	if (nic->ops->mem_register != NULL && nic->ops->mem_register(nic, e->tx_region) != 0)
		DL_WARN("port %s could not register TX memory: fragments will be copied", nic->name);
	return 0;
}

struct dl_engine *dl_engine_create(const struct dl_engine_conf *conf, char *err, size_t errlen)
{
	struct dl_engine *e;

	if (conf->ncores == 0 || conf->ncores > DL_MAX_CORES)
		return fail(err, errlen, "need 1..%d cores, have %u", DL_MAX_CORES, conf->ncores),
		       NULL;
	if (conf->nic == NULL)
		return fail(err, errlen, "engine needs a NIC"), NULL;
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return fail(err, errlen, "out of memory"), NULL;
	e->conf = *conf;
	e->ncores = conf->ncores;
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
	if (e->n_net > conf->nic->nb_queues) {
		fail(err, errlen, "%u network cores but the NIC has %u queues", e->n_net,
		     conf->nic->nb_queues);
		free(e);
		return NULL;
	}
	assign_links(e);
	if (e->ncores > 1) {
		e->fab = dl_noc_fabric_create(e->ncores, conf->noc_words ? conf->noc_words : 4096,
					      e->links);
		if (e->fab == NULL) {
			fail(err, errlen, "cannot create the NoC fabric: %s", strerror(errno));
			free(e);
			return NULL;
		}
	}
	if (conf->app != NULL && create_tx_memory(e, err, errlen) != 0) {
		dl_noc_fabric_destroy(e->fab);
		free(e);
		return NULL;
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
	fprintf(f, "dlibos: mode %s, %u cores: %u network, %u application", dl_mode_name(e->conf.mode),
		e->ncores, e->n_net, e->n_app);
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
				if (e->links[i] & (1ull << d))
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
		if (!(e->links[s] & (1ull << c->idx)))
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
		c->net = dl_netglue_create(e, c);
		if (c->net == NULL)
			return -ENOMEM;
		dl_stack_set_upcalls(c->stack,
				     e->conf.mode == DL_MODE_RTC ? &dl_netglue_upcalls_rtc
								 : &dl_netglue_upcalls_noc,
				     c->net);
		dl_stack_start(c->stack, now_us);
	}
	if (c->role & DL_ROLE_APP) {
		c->app = dl_appglue_create(e, c);
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

static void on_msg(void *arg, unsigned src, const struct dl_msg *m)
{
	struct dl_ecore *c = arg;

	if (dl_msg_class(m->type) == DL_MSG_CLASS_EVENT)
		dl_appglue_on_msg(c, src, m);
	else
		dl_netglue_on_msg(c, src, m);
}

unsigned dl_engine_core_iter(struct dl_engine *e, unsigned core, uint64_t now_us)
{
	struct dl_ecore *c = &e->cores[core];
	unsigned work = 0;

	c->now = now_us;
	if (c->app != NULL)
		c->app->now = now_us;
	if (c->stack != NULL) {
		struct dl_rx_pkt pkts[RX_BURST];
		uint16_t n = dl_nic_rx_burst(e->conf.nic, (uint16_t)c->net_idx, pkts, RX_BURST);
		if (n > 0) {
			dl_stack_input(c->stack, pkts, n, now_us);
			work += n;
		}
	}
	if (c->ep != NULL)
		work += dl_noc_poll(c->ep, NOC_BUDGET, on_msg, c);
	if (c->stack != NULL)
		dl_stack_poll(c->stack, now_us);
	if (c->app != NULL) {
		if (e->conf.app->core_poll != NULL)
			e->conf.app->core_poll(c->app, now_us);
		if (c->app->ndeferred > 0) {
			work += c->app->ndeferred;
			dl_appglue_flush_deferred(c->app);
		}
	}
	if (c->stack != NULL)
		dl_stack_flush(c->stack);
	if (c->ep != NULL && dl_noc_flush(c->ep) > 0)
		work++; /* overflow still draining: stay awake */
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
			dl_appglue_flush_deferred(c->app);
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
		dl_netglue_destroy(c->net);
		c->net = NULL;
		dl_appglue_destroy(c->app);
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
	if (e->tx_region != NULL) {
		if (e->conf.nic->ops->mem_unregister != NULL)
			e->conf.nic->ops->mem_unregister(e->conf.nic, e->tx_region);
		dl_txmem_fini(&e->txmem);
		dl_region_destroy(e->tx_region);
	}
	dl_noc_fabric_destroy(e->fab);
	if (dl_engine_current == e)
		dl_engine_current = NULL;
	free(e);
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
