/*
 * observe.c - what telemetry reads of the engine (see dl_engine.h,
 * "observation"): cores and their roles, links, connections (copied out
 * by the owning network core), protected-mode slots.
 */
#include "dl_engine_priv.h"
#include "dl_stack_info.h"

#include <errno.h>
#include <string.h>

void dl_engine_core_view(const struct dl_engine *e, unsigned core, struct dl_engine_core_view *v)
{
	const struct dl_ecore *c = &e->cores[core];

	memset(v, 0, sizeof(*v));
	if (core >= e->ncores)
		return;
	v->role = (c->role & DL_ROLE_NET ? DL_ENGINE_ROLE_NET : 0) |
		  (c->role & DL_ROLE_APP ? DL_ENGINE_ROLE_APP : 0);
	v->net_idx = c->net_idx;
	v->app_idx = c->app_idx;
	v->quadrant = c->quadrant;
	v->started = __atomic_load_n(&c->started, __ATOMIC_ACQUIRE);
	v->ep = __atomic_load_n(&c->ep, __ATOMIC_ACQUIRE);
	v->stack = __atomic_load_n(&c->stack, __ATOMIC_ACQUIRE);
	v->cnt = c->cnt;
}

unsigned dl_engine_ncores(const struct dl_engine *e)
{
	return e->ncores;
}

enum dl_mode dl_engine_mode(const struct dl_engine *e)
{
	return e->conf.mode;
}

enum dl_layout dl_engine_layout(const struct dl_engine *e)
{
	return e->conf.layout;
}

enum dl_dispatch dl_engine_dispatch(const struct dl_engine *e)
{
	return e->conf.dispatch;
}

unsigned dl_engine_quadrants(const struct dl_engine *e)
{
	return e->nquadrants;
}

bool dl_engine_linked(const struct dl_engine *e, unsigned src, unsigned dst)
{
	return src < e->ncores && dl_coreset_has(&e->links[src], dst);
}

int dl_engine_net_core(const struct dl_engine *e, unsigned net)
{
	return net < e->n_net ? e->net_core[net] : -1;
}

int dl_engine_app_core(const struct dl_engine *e, unsigned app)
{
	return app < DL_MAX_CORES ? e->app_core[app] : -1;
}

static void conn_of(const struct dl_engine *e, const struct dl_ecore *c,
		    const struct dl_stack_conn_info *t, struct dl_engine_conn *o)
{
	memset(o, 0, sizeof(*o));
	o->conn = dlibos_conn_make((unsigned)c->net_idx, t->id);
	o->core = c->idx;
	o->net = (unsigned)c->net_idx;
	o->app_core = -1;
	o->slot = -1;
	o->slot_core = -1;
	o->state = dl_stack_conn_state_name(t->state);
	if (t->app == DL_APP_NONE)
		return;
	if (e->nslots != 0) {
		o->slot = (int)(t->app / e->slot_cores);
		o->slot_core = (int)(t->app % e->slot_cores);
	} else {
		o->app_core = dl_engine_app_core(e, t->app);
	}
}

unsigned dl_engine_conns_list(const struct dl_engine *e, unsigned core, uint32_t from,
			      struct dl_engine_conn *out, struct dl_stack_conn_info *info,
			      unsigned max, int64_t *next)
{
	const struct dl_ecore *c = &e->cores[core];
	unsigned n = 0;
	int64_t slot = from;

	*next = -1;
	if (core >= e->ncores || c->stack == NULL)
		return 0;
	while (n < max) {
		slot = dl_stack_conn_next(c->stack, (uint32_t)slot, &info[n]);
		if (slot < 0)
			return n;
		conn_of(e, c, &info[n], &out[n]);
		n++;
		slot++;
	}
	/* Full: say where to go on only if something is left. */
	struct dl_stack_conn_info probe;
	if (dl_stack_conn_next(c->stack, (uint32_t)slot, &probe) >= 0)
		*next = slot;
	return n;
}

unsigned dl_engine_tw_list(const struct dl_engine *e, unsigned core, uint64_t from,
			   struct dl_stack_tw_info *out, unsigned max, int64_t *next)
{
	const struct dl_ecore *c = &e->cores[core];
	int64_t cur = (int64_t)from;
	unsigned n = 0;

	*next = -1;
	if (core >= e->ncores || c->stack == NULL)
		return 0;
	while (n < max) {
		cur = dl_stack_tw_next(c->stack, (uint64_t)cur, &out[n]);
		if (cur < 0)
			return n;
		n++;
	}
	/* Full: say where to go on only if something is left. */
	struct dl_stack_tw_info probe;
	if (dl_stack_tw_next(c->stack, (uint64_t)cur, &probe) >= 0)
		*next = cur;
	return n;
}

int dl_engine_conn_get(const struct dl_engine *e, unsigned core, uint64_t conn,
		       struct dl_engine_conn *out, struct dl_stack_conn_info *info)
{
	const struct dl_ecore *c = &e->cores[core];

	if (core >= e->ncores || c->stack == NULL || c->net_idx < 0 ||
	    dlibos_conn_net(conn) != (unsigned)c->net_idx)
		return -ENOENT;
	if (dl_stack_conn_get(c->stack, dlibos_conn_id(conn), info) != 0)
		return -ENOENT;
	conn_of(e, c, info, out);
	return 0;
}

void dl_engine_slot_view(const struct dl_engine *e, unsigned slot, struct dl_engine_slot_view *v)
{
	const struct dl_slot *sl;

	memset(v, 0, sizeof(*v));
	if (slot >= e->nslots)
		return;
	sl = &e->slots[slot];
	v->state = (enum dl_slot_state)__atomic_load_n(&sl->state, __ATOMIC_ACQUIRE);
	v->kick = __atomic_load_n(&sl->kick, __ATOMIC_ACQUIRE);
	v->base = sl->base;
	if (v->state == DL_SLOT_FREE)
		return;
	v->n_app = sl->n_app;
	snprintf(v->name, sizeof(v->name), "%s", sl->grant.name);
	v->uid = sl->grant.uid;
	v->pid = sl->grant.pid;
	v->policy_line = sl->grant.rights != NULL ? sl->grant.rights->line : 0;
	v->tx_bytes = sl->tx != NULL ? sl->tx->len : 0;
	for (unsigned n = 0; n < e->n_net; n++) {
		const struct dl_ecore *c = &e->cores[e->net_core[n]];
		const struct dl_netcore *g = __atomic_load_n(&c->net, __ATOMIC_ACQUIRE);
		const uint64_t *cnt;

		if (g != NULL && g->ns != NULL)
			v->bad_commands += __atomic_load_n(&g->ns[slot].bad, __ATOMIC_RELAXED);
		if (sl->ep[n] == NULL)
			continue;
		cnt = dl_noc_counters(sl->ep[n]);
		v->events_sent += __atomic_load_n(&cnt[DL_NOC_TX_MSGS], __ATOMIC_RELAXED);
		v->commands_received += __atomic_load_n(&cnt[DL_NOC_RX_MSGS], __ATOMIC_RELAXED);
		v->ovf_pending += __atomic_load_n(&cnt[DL_NOC_OVF_PENDING_MSGS], __ATOMIC_RELAXED);
	}
}
