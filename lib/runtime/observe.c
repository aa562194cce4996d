/*
 * observe.c - seeing inside a running process: the /dlibos/... telemetry
 * commands (dl_telemetry.h; the DPDK platform serves them to
 * dpdk-telemetry.py) and packet capture at the port (dl_capture.h, by
 * --capture at start or /dlibos/capture at run time).
 *
 * Nothing here stops a core. Counters are the cores' own words read with
 * relaxed loads (dl_stats_visit()); NoC channels are read the same way
 * (dl_noc_port_stat()). Connections live in a network core's stack and
 * change under it, so the core copies them itself: the telemetry thread
 * posts a request in the core's obs_req (struct dl_obs_req), the core
 * serves it between two loop iterations (dl_core_obs_serve(): a page of
 * at most OBS_PAGE connections, a few microseconds) and clears obs_req;
 * the telemetry thread waits for that, a second at most. One request at
 * a time (obs->req_lock); a core that did not answer in time keeps the
 * buffer until it does, and later requests say "busy" meanwhile.
 *
 * A capture at run time: /dlibos/capture,start,FILE swaps the port's
 * operations (dl_capture_start()); stop swaps them back, waits until
 * every core has finished one more loop iteration (its "iterations"
 * counter moved: none can still be inside the capture's functions), then
 * finishes the file. At shutdown the capture ends after the cores have
 * stopped and the stacks have sent their last segments.
 */
#include "dl_runtime.h"
#include "dl_build_config.h"
#include "dl_capture.h"
#include "dl_log.h"
#include "dl_noc.h"
#include "dl_platform.h"
#include "dl_stack_info.h"
#include "dl_telemetry.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/** Connections a core copies per request. */
#define OBS_PAGE 48
/** How long the telemetry thread waits for a core, microseconds. */
#define OBS_WAIT_US 1000000u

enum obs_kind { OBS_LIST, OBS_GET, OBS_TW };

/* A request to one core (see the top). */
struct dl_obs_req {
	enum obs_kind kind;
	uint64_t from; /* OBS_LIST: first table slot; OBS_TW: cursor (0: the oldest) */
	uint64_t conn; /* OBS_GET */
	unsigned max;
	/* answer */
	unsigned n;
	int64_t next;
	int rc;
	struct dl_engine_conn out[OBS_PAGE];
	struct dl_stack_conn_info info[OBS_PAGE];
	struct dl_stack_tw_info tw[OBS_PAGE];
};

struct dl_obs {
	struct dl_runtime *rt;
	uint64_t start_us;
	bool enabled;
	pthread_mutex_t req_lock;
	struct dl_obs_req req;
	int busy_core; /* a core that has not answered yet, or -1 */
	pthread_mutex_t cap_lock;
	struct dl_capture *cap;
	char cap_path[256];
	struct dl_capture_stats last; /* of the last finished capture */
	bool have_last;
};

/* ---- the cores' side ----------------------------------------------------- */

void dl_core_obs_serve(struct dl_core *c)
{
	struct dl_obs_req *r = __atomic_load_n(&c->obs_req, __ATOMIC_ACQUIRE);
	struct dl_engine *e = c->set->engine;

	if (r->kind == OBS_LIST) {
		r->n = dl_engine_conns_list(e, c->index, (uint32_t)r->from, r->out, r->info, r->max,
					    &r->next);
		r->rc = 0;
	} else if (r->kind == OBS_TW) {
		r->n = dl_engine_tw_list(e, c->index, r->from, r->tw, r->max, &r->next);
		r->rc = 0;
	} else {
		r->n = 0;
		r->rc = dl_engine_conn_get(e, c->index, r->conn, &r->out[0], &r->info[0]);
		if (r->rc == 0)
			r->n = 1;
	}
	__atomic_store_n(&c->obs_req, NULL, __ATOMIC_RELEASE);
}

static void sleep_us(unsigned us)
{
	struct timespec ts = {0, (long)us * 1000};
	nanosleep(&ts, NULL);
}

/* Have core @p core serve obs->req. 0, -EBUSY (an earlier request is
 * still pending there), -ETIMEDOUT, -ESHUTDOWN. req_lock held. */
static int ask_core(struct dl_obs *o, unsigned core)
{
	struct dl_core *c = o->rt->cores[core];
	uint64_t t0;

	if (o->busy_core >= 0) {
		struct dl_core *b = o->rt->cores[o->busy_core];
		if (__atomic_load_n(&b->obs_req, __ATOMIC_ACQUIRE) != NULL)
			return -EBUSY;
		o->busy_core = -1;
	}
	__atomic_store_n(&c->obs_req, &o->req, __ATOMIC_RELEASE);
	t0 = dl_now_us();
	while (__atomic_load_n(&c->obs_req, __ATOMIC_ACQUIRE) != NULL) {
		if (dl_runtime_stopping() || dl_now_us() - t0 > OBS_WAIT_US) {
			o->busy_core = (int)core;
			return dl_runtime_stopping() ? -ESHUTDOWN : -ETIMEDOUT;
		}
		sleep_us(50);
	}
	return 0;
}

/* ---- helpers -------------------------------------------------------------- */

static const char *role_name(unsigned role)
{
	return role == (DL_ENGINE_ROLE_NET | DL_ENGINE_ROLE_APP) ? "network+application"
	       : role == DL_ENGINE_ROLE_NET			 ? "network"
	       : role == DL_ENGINE_ROLE_APP			 ? "application"
								 : "none";
}

static void ip_str(uint32_t ip, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

static uint64_t rd(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static const char *errtext(int rc)
{
	return rc == -EBUSY	  ? "a core has not answered an earlier request yet; try again"
	       : rc == -ETIMEDOUT ? "a core did not answer within a second"
	       : rc == -ESHUTDOWN ? "stopping"
				  : strerror(rc < 0 ? -rc : rc);
}

/* The value of counter @p name in the block of @p module registered for
 * @p core (what dl_stats_visit() gives us). */
struct cnt_find {
	const char *module, *name;
	int core;
	uint64_t v;
	bool found;
};

static void find_visit(void *arg, const struct dl_counter_block *b)
{
	struct cnt_find *f = arg;

	if (b->core != f->core || strcmp(b->module, f->module) != 0)
		return;
	for (unsigned i = 0; i < b->n; i++) {
		if (b->names[i] != NULL && strcmp(b->names[i], f->name) == 0) {
			f->v += rd(&b->values[i]);
			f->found = true;
		}
	}
}

static uint64_t counter_of(const char *module, const char *name, int core)
{
	struct cnt_find f = {module, name, core, 0, false};

	dl_stats_visit(find_visit, &f);
	return f.v;
}

/* ---- /dlibos/info ----------------------------------------------------------- */

static int cmd_info(void *arg, const char *params, struct dl_tel *out)
{
	struct dl_obs *o = arg;
	struct dl_runtime *rt = o->rt;
	const struct dl_nic *n = rt->nic;
	struct dl_engine *e = rt->engine;
	char ip[20], buf[64];
	struct dl_tel *port, *roles, *cpus;

	(void)params;
	dl_tel_str(out, "version", DL_VERSION);
	dl_tel_u64(out, "pid", (uint64_t)getpid());
	dl_tel_u64(out, "uptime_s", (dl_now_us() - o->start_us) / 1000000);
	dl_tel_str(out, "mode", dl_mode_name(dl_engine_mode(e)));
	dl_tel_str(out, "layout", dl_layout_name(dl_engine_layout(e)));
	dl_tel_str(out, "dispatch", dl_dispatch_name(dl_engine_dispatch(e)));
	dl_tel_u64(out, "quadrants", dl_engine_quadrants(e));
	dl_tel_str(out, "idle_policy", dl_idle_name(rt->set.idle));
	dl_tel_u64(out, "cores", rt->n_cores);
	dl_tel_u64(out, "net_cores", rt->n_net);
	dl_tel_u64(out, "app_cores",
		   rt->n_cores - (dl_engine_mode(e) == DL_MODE_DLIBOS ? rt->n_net : 0));
	ip_str(rt->cfg.ip, ip, sizeof(ip));
	dl_tel_strf(out, "ip", "%s/%u", ip, rt->cfg.prefix_len);
	if (rt->cfg.gw != 0) {
		ip_str(rt->cfg.gw, ip, sizeof(ip));
		dl_tel_str(out, "gw", ip);
	}
	if (rt->app != NULL)
		dl_tel_str(out, "application", rt->app->name);
	port = dl_tel_dict(out, "port");
	dl_tel_u64(port, "id", rt->cfg.port_id);
	dl_tel_str(port, "name", n->name);
	snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", n->mac[0], n->mac[1], n->mac[2],
		 n->mac[3], n->mac[4], n->mac[5]);
	dl_tel_str(port, "mac", buf);
	dl_tel_u64(port, "mtu", n->mtu);
	dl_tel_u64(port, "queues", n->nb_queues);
	dl_tel_u64(port, "caps", n->caps);
	dl_tel_u64(port, "impaired", rt->nic != rt->port);
	roles = dl_tel_array(out, "roles", DL_TEL_STR);
	cpus = dl_tel_array(out, "cpus", DL_TEL_INT);
	for (unsigned i = 0; i < rt->n_cores; i++) {
		struct dl_engine_core_view v;
		dl_engine_core_view(e, i, &v);
		dl_tel_push_str(roles, role_name(v.role));
		dl_tel_push_int(cpus, rt->cores[i]->info.cpu);
	}
	return 0;
}

/* ---- /dlibos/counters -------------------------------------------------------- */

struct cnt_out {
	struct dl_tel *out;
	const char *module; /* NULL: every module, summed */
	int core;	    /* with a module: -2 every core, else that one */
	struct dl_tel *total;
	int rc;
	unsigned blocks;
};

/* Totals of every module: first block of a module adds its dict, sums
 * over the module's blocks. */
struct mod_sum {
	const char *module;
	struct dl_tel *d;
};

struct all_sum {
	struct dl_tel *out;
	int rc;
	/* Modules in order of first registration, their counters summed in
	 * a second pass (dl_tel entries cannot be updated in place). */
	const char *mods[64];
	unsigned nmods;
};

static void mods_visit(void *arg, const struct dl_counter_block *b)
{
	struct all_sum *a = arg;

	for (unsigned i = 0; i < a->nmods; i++)
		if (strcmp(a->mods[i], b->module) == 0)
			return;
	if (a->nmods < 64)
		a->mods[a->nmods++] = b->module;
}

struct sum_one {
	const char *module;
	const char *const *names;
	unsigned n;
	uint64_t v[256];
	int core; /* -2: all */
	bool any;
};

static void sum_visit(void *arg, const struct dl_counter_block *b)
{
	struct sum_one *s = arg;

	if (strcmp(b->module, s->module) != 0 || (s->core != -2 && b->core != s->core))
		return;
	if (!s->any) {
		s->names = b->names;
		s->n = b->n < 256 ? b->n : 256;
		s->any = true;
	}
	for (unsigned i = 0; i < s->n && i < b->n; i++)
		s->v[i] += rd(&b->values[i]);
}

/* One module's counters (summed over @p core = -2, or one core) into @p d. */
static int module_into(struct dl_tel *d, const char *module, int core)
{
	struct sum_one s;
	int rc = 0;

	memset(&s, 0, sizeof(s));
	s.module = module;
	s.core = core;
	dl_stats_visit(sum_visit, &s);
	for (unsigned i = 0; i < s.n && rc == 0; i++)
		if (s.names[i] != NULL)
			rc = dl_tel_u64(d, s.names[i], s.v[i]);
	return rc;
}

struct cores_of {
	const char *module;
	int cores[DL_MAX_CORES];
	unsigned n;
};

static void cores_visit(void *arg, const struct dl_counter_block *b)
{
	struct cores_of *c = arg;

	if (strcmp(b->module, c->module) != 0 || b->core < 0 || c->n >= DL_MAX_CORES)
		return;
	for (unsigned i = 0; i < c->n; i++)
		if (c->cores[i] == b->core)
			return;
	c->cores[c->n++] = b->core;
}

static int cmd_counters(void *arg, const char *params, struct dl_tel *out)
{
	struct all_sum a;
	char module[64];
	const char *comma;
	int rc = 0;

	dl_runtime_refresh_port_counters(((struct dl_obs *)arg)->rt);
	memset(&a, 0, sizeof(a));
	dl_stats_visit(mods_visit, &a);
	if (params[0] == '\0') {
		/* Every module, summed over its cores. */
		for (unsigned i = 0; i < a.nmods && rc == 0; i++) {
			struct dl_tel *d = dl_tel_dict(out, a.mods[i]);
			rc = d != NULL ? module_into(d, a.mods[i], -2) : -ENOSPC;
		}
		if (rc != 0)
			dl_tel_str(out, "error",
				   "incomplete: ask for one module (/dlibos/counters,tcp)");
		return 0;
	}
	/* MODULE or MODULE,CORE: summed and per core. */
	comma = strchr(params, ',');
	snprintf(module, sizeof(module), "%.*s",
		 (int)(comma != NULL ? (size_t)(comma - params) : strlen(params)), params);
	bool known = false;
	for (unsigned i = 0; i < a.nmods; i++)
		known |= strcmp(a.mods[i], module) == 0;
	if (!known) {
		struct dl_tel *m = dl_tel_array(out, "modules", DL_TEL_STR);
		dl_tel_strf(out, "error", "no counter module '%s'", module);
		for (unsigned i = 0; i < a.nmods; i++)
			dl_tel_push_str(m, a.mods[i]);
		return 0;
	}
	if (comma != NULL) {
		unsigned long long core;
		if (dl_parse_uint(comma + 1, 0, DL_MAX_CORES - 1, &core) != 0) {
			dl_tel_str(out, "error", "expected MODULE or MODULE,CORE");
			return 0;
		}
		return module_into(dl_tel_dict(out, "counters"), module, (int)core), 0;
	}
	struct cores_of co;
	memset(&co, 0, sizeof(co));
	co.module = module;
	dl_stats_visit(cores_visit, &co);
	rc = module_into(dl_tel_dict(out, "total"), module, -2);
	for (unsigned i = 0; i < co.n && rc == 0; i++) {
		char name[16];
		snprintf(name, sizeof(name), "core%d", co.cores[i]);
		struct dl_tel *d = dl_tel_dict(out, name);
		rc = d != NULL ? module_into(d, module, co.cores[i]) : -ENOSPC;
	}
	if (rc != 0)
		dl_tel_str(out, "error",
			   "incomplete: ask for one core (/dlibos/counters,MODULE,CORE)");
	return 0;
}

/* ---- /dlibos/cores ------------------------------------------------------------ */

static int cmd_cores(void *arg, const char *params, struct dl_tel *out)
{
	struct dl_obs *o = arg;
	struct dl_runtime *rt = o->rt;
	uint64_t now = dl_now_us();

	(void)params;
	dl_tel_str(out, "idle_policy", dl_idle_name(rt->set.idle));
	dl_tel_u64(out, "uptime_us", now - o->start_us);
	dl_tel_u64(out, "cores", rt->n_cores);
	for (unsigned i = 0; i < rt->n_cores; i++) {
		struct dl_core *c = rt->cores[i];
		struct dl_engine_core_view v;
		char name[16];
		struct dl_tel *d;
		uint64_t busy = rd(&c->cnt[CORE_BUSY_US]), up = now - o->start_us;

		dl_engine_core_view(rt->engine, i, &v);
		snprintf(name, sizeof(name), "%u", i);
		d = dl_tel_dict(out, name);
		if (d == NULL)
			break;
		dl_tel_str(d, "role", role_name(v.role));
		dl_tel_u64(d, "lcore", c->info.hw_id);
		dl_tel_int(d, "cpu", c->info.cpu);
		dl_tel_int(d, "numa_node", c->info.numa_node);
		dl_tel_int(d, "quadrant", v.quadrant);
		dl_tel_int(d, "net", v.net_idx);
		dl_tel_int(d, "app", v.app_idx);
		dl_tel_u64(d, "iterations", rd(&c->cnt[CORE_ITERS]));
		dl_tel_u64(d, "busy_iterations", rd(&c->cnt[CORE_BUSY_ITERS]));
		dl_tel_u64(d, "idle_sleeps", rd(&c->cnt[CORE_IDLE_SLEEPS]));
		dl_tel_u64(d, "busy_us", busy);
		dl_tel_u64(d, "busy_permille", up > 0 ? busy * 1000 / up : 0);
		if (v.net_idx >= 0) {
			dl_tel_u64(d, "rx_packets", counter_of("eth", "rx_frames", v.net_idx));
			dl_tel_u64(d, "tx_packets", counter_of("eth", "tx_frames", v.net_idx));
			dl_tel_u64(d, "conns", v.stack != NULL ? dl_stack_conn_count(v.stack) : 0);
		}
		if (v.ep != NULL) {
			const uint64_t *nc = dl_noc_counters(v.ep);
			dl_tel_u64(d, "noc_tx_msgs", rd(&nc[DL_NOC_TX_MSGS]));
			dl_tel_u64(d, "noc_rx_msgs", rd(&nc[DL_NOC_RX_MSGS]));
		}
		dl_tel_u64(d, "events_delivered", rd(&v.cnt[0]));
	}
	return 0;
}

/* ---- /dlibos/noc --------------------------------------------------------------- */

static int cmd_noc(void *arg, const char *params, struct dl_tel *out)
{
	struct dl_obs *o = arg;
	struct dl_runtime *rt = o->rt;
	struct dl_engine *e = rt->engine;
	unsigned n = rt->n_cores, from = 0;
	struct dl_tel *cores, *chans;

	if (params[0] != '\0') {
		unsigned long long v;
		if (dl_parse_uint(params, 0, n, &v) != 0) {
			dl_tel_str(out, "error", "expected the first source core of the page");
			return 0;
		}
		from = (unsigned)v;
	}
	dl_tel_u64(out, "ncores", n);
	dl_tel_u64(out, "channel_words", dl_engine_noc_words(e));
	cores = dl_tel_dict(out, "cores");
	for (unsigned i = 0; i < n; i++) {
		struct dl_engine_core_view v;
		char name[16];
		struct dl_tel *d;
		const uint64_t *nc;

		dl_engine_core_view(e, i, &v);
		snprintf(name, sizeof(name), "%u", i);
		d = dl_tel_dict(cores, name);
		dl_tel_str(d, "role", role_name(v.role));
		dl_tel_int(d, "quadrant", v.quadrant);
		if (v.ep == NULL)
			continue;
		nc = dl_noc_counters(v.ep);
		dl_tel_u64(d, "tx_msgs", rd(&nc[DL_NOC_TX_MSGS]));
		dl_tel_u64(d, "rx_msgs", rd(&nc[DL_NOC_RX_MSGS]));
		dl_tel_u64(d, "ovf_pending_msgs", rd(&nc[DL_NOC_OVF_PENDING_MSGS]));
		dl_tel_u64(d, "ovf_hwm_msgs", rd(&nc[DL_NOC_OVF_HWM_MSGS]));
		dl_tel_u64(d, "tx_errors",
			   rd(&nc[DL_NOC_TX_NOMEM]) + rd(&nc[DL_NOC_TX_BAD_MSG]) +
			       rd(&nc[DL_NOC_TX_NO_ROUTE]) + rd(&nc[DL_NOC_TX_BROKEN]));
		dl_tel_u64(d, "rx_dropped",
			   rd(&nc[DL_NOC_RX_DECODE_ERR]) + rd(&nc[DL_NOC_RX_REJECTED]));
	}
	/* Channels "SRC_DST", page by page when they do not all fit. */
	chans = dl_tel_dict(out, "channels");
	for (unsigned s = from; s < n && chans != NULL; s++) {
		struct dl_engine_core_view v;
		size_t room_before = dl_tel_json_room(out);
		bool full = false;

		dl_engine_core_view(e, s, &v);
		for (unsigned d = 0; v.ep != NULL && d < n && !full; d++) {
			struct dl_noc_port_stat st;
			char name[24];
			struct dl_tel *c;

			dl_noc_port_stat(v.ep, d, &st);
			if (!st.present)
				continue;
			snprintf(name, sizeof(name), "%u_%u", s, d);
			c = dl_tel_dict(chans, name);
			full = c == NULL || dl_tel_u64(c, "msgs", st.msgs) != 0 ||
			       dl_tel_u64(c, "ovf_msgs", st.ovf_msgs) != 0 ||
			       dl_tel_u64(c, "ovf_words", st.ovf_words) != 0 ||
			       dl_tel_u64(c, "credits", st.credits) != 0 ||
			       dl_tel_u64(c, "broken", st.broken) != 0;
		}
		if (full) {
			/* Rows are whole or absent: a client pages by source. */
			(void)room_before;
			dl_tel_u64(out, "next", s);
			dl_tel_str(out, "note",
				   "more channels: ask /dlibos/noc,NEXT (rows from "
				   "NEXT are incomplete here)");
			break;
		}
	}
	return 0;
}

/* ---- /dlibos/conns and /dlibos/conn ---------------------------------------------- */

/* A connection's addresses and ports (host order) into @p d. */
static int tuple_into(struct dl_tel *d, uint32_t lip, uint16_t lport, uint32_t rip,
		      uint16_t rport)
{
	char ip[20];
	int rc = 0;

	ip_str(lip, ip, sizeof(ip));
	rc |= dl_tel_str(d, "local_ip", ip);
	rc |= dl_tel_u64(d, "local_port", lport);
	ip_str(rip, ip, sizeof(ip));
	rc |= dl_tel_str(d, "remote_ip", ip);
	rc |= dl_tel_u64(d, "remote_port", rport);
	return rc;
}

static int conn_into(struct dl_tel *d, const struct dl_engine_conn *c,
		     const struct dl_stack_conn_info *t)
{
	int rc = 0;

	rc |= dl_tel_u64(d, "net", c->net);
	rc |= dl_tel_u64(d, "net_core", c->core);
	rc |= dl_tel_int(d, "app_core", c->app_core);
	if (c->slot >= 0) {
		rc |= dl_tel_int(d, "slot", c->slot);
		rc |= dl_tel_int(d, "slot_core", c->slot_core);
	}
	rc |= tuple_into(d, t->local_ip, t->local_port, t->remote_ip, t->remote_port);
	rc |= dl_tel_str(d, "state", c->state);
	rc |= dl_tel_u64(d, "cwnd", t->cwnd);
	rc |= dl_tel_u64(d, "ssthresh", t->ssthresh);
	rc |= dl_tel_u64(d, "srtt_us", t->srtt_us);
	rc |= dl_tel_u64(d, "rttvar_us", t->rttvar_us);
	rc |= dl_tel_u64(d, "rto_us", t->rto_us);
	rc |= dl_tel_u64(d, "in_flight", t->in_flight);
	rc |= dl_tel_u64(d, "unsent", t->unsent);
	rc |= dl_tel_u64(d, "snd_wnd", t->snd_wnd);
	rc |= dl_tel_u64(d, "rcv_wnd", t->rcv_wnd);
	rc |= dl_tel_u64(d, "rx_held_by_app", t->rx_held_app);
	rc |= dl_tel_u64(d, "rx_held", t->rx_held);
	rc |= dl_tel_u64(d, "ooo_bytes", t->ooo_bytes);
	rc |= dl_tel_u64(d, "mss", t->mss);
	rc |= dl_tel_str(d, "cc", dl_stack_cc_name(t->cc));
	rc |= dl_tel_u64(d, "min_rtt_us", t->min_rtt_us);
	if (t->cc == DL_TCP_CC_BBR) {
		rc |= dl_tel_u64(d, "bbr_bw_bytes_per_s", t->bbr_bw);
		rc |= dl_tel_u64(d, "bbr_min_rtt_us", t->bbr_min_rtt_us);
		rc |= dl_tel_str(d, "bbr_mode", dl_stack_bbr_mode_name(t->bbr_mode));
	}
	if (t->paced)
		rc |= dl_tel_u64(d, "pacing_rate_bytes_per_s", t->pacing_rate);
	if (t->ecn)
		rc |= dl_tel_int(d, "ecn", 1);
	return rc;
}

/* Bytes of JSON one connection takes at most (checked before asking). */
#define CONN_JSON_MAX 800

/* One entry of a page a core answered (entry @p k of @p r) into @p list. */
typedef int (*page_emit_fn)(struct dl_tel *list, unsigned core, const struct dl_obs_req *r,
			    unsigned k);

/*
 * A listing paged over the network cores (/dlibos/conns, /dlibos/timewait):
 * from core @p core and its cursor @p cursor on (0: its first entry), ask
 * each core for entries of @p kind, as many as the answer has room for at
 * @p json_max bytes each, and @p emit them into @p list. Adds "next":
 * "CORE:CURSOR" when the answer filled up, "error" when a core failed.
 */
static void page_cores(struct dl_obs *o, struct dl_tel *out, struct dl_tel *list, unsigned core,
		       uint64_t cursor, enum obs_kind kind, size_t json_max, page_emit_fn emit)
{
	struct dl_runtime *rt = o->rt;
	bool more = false;
	int rc = 0;

	pthread_mutex_lock(&o->req_lock);
	for (; core < rt->n_cores; core++, cursor = 0) {
		struct dl_engine_core_view v;
		int64_t next = (int64_t)cursor;

		dl_engine_core_view(rt->engine, core, &v);
		if (v.stack == NULL)
			continue;
		while (next >= 0 && rc == 0) {
			size_t room = dl_tel_json_room(out);
			if (room < json_max + 64) {
				more = true;
				break;
			}
			o->req.kind = kind;
			o->req.from = (uint64_t)next;
			o->req.max = (unsigned)((room - 64) / json_max);
			if (o->req.max > OBS_PAGE)
				o->req.max = OBS_PAGE;
			rc = ask_core(o, core);
			for (unsigned k = 0; rc == 0 && k < o->req.n; k++)
				rc = emit(list, core, &o->req, k);
			next = o->req.next;
			cursor = next >= 0 ? (uint64_t)next : 0;
		}
		if (more || rc != 0)
			break;
	}
	pthread_mutex_unlock(&o->req_lock);
	if (rc != 0)
		dl_tel_strf(out, "error", "core %u: %s", core, errtext(rc));
	else if (more)
		dl_tel_strf(out, "next", "%u:%llu", core, (unsigned long long)cursor);
}

static int conn_emit(struct dl_tel *list, unsigned core, const struct dl_obs_req *r, unsigned k)
{
	char name[24];

	(void)core;
	snprintf(name, sizeof(name), "%llu", (unsigned long long)r->out[k].conn);
	return conn_into(dl_tel_dict(list, name), &r->out[k], &r->info[k]) != 0 ? -ENOSPC : 0;
}

static int cmd_conns(void *arg, const char *params, struct dl_tel *out)
{
	struct dl_obs *o = arg;
	struct dl_runtime *rt = o->rt;
	unsigned core = 0, slot = 0, total = 0, tw = 0;

	if (params[0] != '\0' && sscanf(params, "%u:%u", &core, &slot) != 2) {
		dl_tel_str(out, "error", "expected CORE:SLOT (the 'next' of the previous page)");
		return 0;
	}
	for (unsigned i = 0; i < rt->n_cores; i++) {
		struct dl_engine_core_view v;
		dl_engine_core_view(rt->engine, i, &v);
		if (v.stack != NULL) {
			total += dl_stack_conn_count(v.stack);
			tw += dl_stack_tw_count(v.stack);
		}
	}
	dl_tel_u64(out, "total", total);
	dl_tel_u64(out, "time_wait", tw); /* compact entries: /dlibos/timewait */
	page_cores(o, out, dl_tel_dict(out, "conns"), core, slot, OBS_LIST, CONN_JSON_MAX,
		   conn_emit);
	return 0;
}

/* Bytes of JSON one TIME_WAIT entry takes at most. */
#define TW_JSON_MAX 200

/* One TIME_WAIT entry, named CORE_LPORT_RIP_RPORT (the remote address as
 * a number: dict names take letters, digits and '_' only). */
static int tw_into(struct dl_tel *list, unsigned core, const struct dl_stack_tw_info *w)
{
	char name[48];
	struct dl_tel *d;
	int rc = 0;

	snprintf(name, sizeof(name), "%u_%u_%u_%u", core, w->local_port, w->remote_ip,
		 w->remote_port);
	d = dl_tel_dict(list, name);
	if (d == NULL)
		return -ENOSPC;
	rc |= dl_tel_u64(d, "net_core", core);
	rc |= tuple_into(d, w->local_ip, w->local_port, w->remote_ip, w->remote_port);
	rc |= dl_tel_u64(d, "expires_ms", w->expires_ms);
	rc |= dl_tel_u64(d, "timestamps", w->timestamps);
	return rc != 0 ? -ENOSPC : 0;
}

static int tw_emit(struct dl_tel *list, unsigned core, const struct dl_obs_req *r, unsigned k)
{
	return tw_into(list, core, &r->tw[k]);
}

/* /dlibos/timewait[,CORE:CURSOR]: the compact TIME_WAIT entries, oldest
 * first per network core, paged as /dlibos/conns. */
static int cmd_timewait(void *arg, const char *params, struct dl_tel *out)
{
	struct dl_obs *o = arg;
	struct dl_runtime *rt = o->rt;
	unsigned core = 0, total = 0;
	unsigned long long cursor = DL_STACK_TW_FIRST;

	if (params[0] != '\0' && sscanf(params, "%u:%llu", &core, &cursor) != 2) {
		dl_tel_str(out, "error", "expected CORE:CURSOR (the 'next' of the previous page)");
		return 0;
	}
	for (unsigned i = 0; i < rt->n_cores; i++) {
		struct dl_engine_core_view v;
		dl_engine_core_view(rt->engine, i, &v);
		if (v.stack != NULL)
			total += dl_stack_tw_count(v.stack);
	}
	dl_tel_u64(out, "total", total);
	page_cores(o, out, dl_tel_dict(out, "entries"), core, cursor, OBS_TW, TW_JSON_MAX,
		   tw_emit);
	return 0;
}

/* ID: the decimal dlibos_conn_t of /dlibos/conns, or NET:ID. */
static int cmd_conn(void *arg, const char *params, struct dl_tel *out)
{
	struct dl_obs *o = arg;
	struct dl_runtime *rt = o->rt;
	unsigned long long v;
	unsigned net, id;
	uint64_t conn;
	int core, rc;

	if (sscanf(params, "%u:%u", &net, &id) == 2)
		conn = dlibos_conn_make(net, id);
	else if (dl_parse_uint(params, 0, UINT64_MAX, &v) == 0)
		conn = v;
	else {
		dl_tel_str(out, "error",
			   "expected a connection: its id in /dlibos/conns, or NET:ID");
		return 0;
	}
	core = dl_engine_net_core(rt->engine, dlibos_conn_net(conn));
	if (core < 0) {
		dl_tel_strf(out, "error", "no network core %u", dlibos_conn_net(conn));
		return 0;
	}
	pthread_mutex_lock(&o->req_lock);
	o->req.kind = OBS_GET;
	o->req.conn = conn;
	rc = ask_core(o, (unsigned)core);
	if (rc == 0 && o->req.rc != 0)
		rc = o->req.rc;
	if (rc == 0) {
		dl_tel_u64(out, "conn", conn);
		conn_into(out, &o->req.out[0], &o->req.info[0]);
	}
	pthread_mutex_unlock(&o->req_lock);
	if (rc == -ENOENT)
		dl_tel_strf(out, "error", "no connection %llu", (unsigned long long)conn);
	else if (rc != 0)
		dl_tel_str(out, "error", errtext(rc));
	return 0;
}

/* ---- capture ------------------------------------------------------------------------- */

/* Wait until every core has finished an iteration begun after now (or
 * the cores stop): nothing runs the capture's functions any more. */
static void wait_quiescent(struct dl_runtime *rt)
{
	uint64_t seen[DL_MAX_CORES], t0 = dl_now_us();

	for (unsigned i = 0; i < rt->n_cores; i++)
		seen[i] = rd(&rt->cores[i]->cnt[CORE_ITERS]);
	for (unsigned i = 0; i < rt->n_cores; i++) {
		while (rd(&rt->cores[i]->cnt[CORE_ITERS]) < seen[i] + 2 && !dl_runtime_stopping()) {
			if (dl_now_us() - t0 > 5 * OBS_WAIT_US) {
				DL_WARN("capture: core %u did not finish an iteration in 5 s", i);
				break;
			}
			sleep_us(100);
		}
	}
}

/* Start a capture (cap_lock held). 0 or -1 with err written. */
static int capture_start(struct dl_obs *o, const char *path, const struct dl_capture_conf *cc,
			 char *err, size_t errlen)
{
	struct dl_runtime *rt = o->rt;
	struct dl_capture_sink *sink;

	if (o->cap != NULL)
		return dl_errf(err, errlen, "a capture to %s is running (stop it first)",
			       o->cap_path);
	sink = dl_platform_capture_sink(path, rt->cfg.port_id,
					cc->snaplen ? cc->snaplen : DL_CAPTURE_SNAPLEN_DEFAULT, err,
					errlen);
	if (sink == NULL)
		return -1;
	o->cap = dl_capture_start(rt->port, sink, cc, err, errlen);
	if (o->cap == NULL)
		return -1;
	snprintf(o->cap_path, sizeof(o->cap_path), "%s", path);
	DL_INFO("capture: every frame of port %u (%u queue(s)) to %s, snap length %u%s",
		rt->cfg.port_id, rt->port->nb_queues, path, dl_capture_conf(o->cap)->snaplen,
		cc->max_frames ? ", frame limit set" : "");
	return 0;
}

/* Stop it (cap_lock held); @p cores_running: wait for them first. */
static void capture_stop(struct dl_obs *o, bool cores_running)
{
	if (o->cap == NULL)
		return;
	dl_capture_detach(o->cap);
	if (cores_running)
		wait_quiescent(o->rt);
	dl_capture_finish(o->cap, &o->last);
	o->have_last = true;
	o->cap = NULL;
	DL_INFO("capture: %s closed: %llu frames received, %llu sent, %llu written, %llu lost "
		"(ring full), %llu not written (errors), %llu beyond the frame limit",
		o->cap_path, (unsigned long long)o->last.rx_frames,
		(unsigned long long)o->last.tx_frames, (unsigned long long)o->last.written,
		(unsigned long long)o->last.dropped_ring_full,
		(unsigned long long)o->last.write_errors, (unsigned long long)o->last.over_limit);
}

static void capture_into(struct dl_tel *out, const struct dl_capture_stats *st)
{
	dl_tel_u64(out, "rx_frames", st->rx_frames);
	dl_tel_u64(out, "tx_frames", st->tx_frames);
	dl_tel_u64(out, "bytes", st->bytes);
	dl_tel_u64(out, "written", st->written);
	dl_tel_u64(out, "dropped_ring_full", st->dropped_ring_full);
	dl_tel_u64(out, "over_limit", st->over_limit);
	dl_tel_u64(out, "write_errors", st->write_errors);
	dl_tel_u64(out, "limit_reached", st->limit_reached);
}

/* status | start,FILE[,snaplen=N][,frames=N] | stop (commas or blanks). */
static int cmd_capture(void *arg, const char *params, struct dl_tel *out)
{
	struct dl_obs *o = arg;
	char buf[512], *tok[8], *save = NULL;
	unsigned ntok = 0;
	char err[256] = "";

	snprintf(buf, sizeof(buf), "%s", params);
	for (char *t = strtok_r(buf, ", \t", &save); t != NULL && ntok < 8;
	     t = strtok_r(NULL, ", \t", &save))
		tok[ntok++] = t;
	pthread_mutex_lock(&o->cap_lock);
	if (ntok > 0 && strcmp(tok[0], "start") == 0) {
		struct dl_capture_conf cc = {0};
		bool ok = ntok >= 2 && tok[1][0] == '/';
		for (unsigned i = 2; ok && i < ntok; i++) {
			unsigned long long v;
			if (strncmp(tok[i], "snaplen=", 8) == 0 &&
			    dl_parse_uint(tok[i] + 8, 64, DL_CAPTURE_SNAPLEN_MAX, &v) == 0)
				cc.snaplen = (uint32_t)v;
			else if (strncmp(tok[i], "frames=", 7) == 0 &&
				 dl_parse_uint(tok[i] + 7, 1, UINT64_MAX, &v) == 0)
				cc.max_frames = v;
			else
				ok = false;
		}
		if (!ok)
			snprintf(err, sizeof(err),
				 "expected start,/ABSOLUTE/FILE.pcapng[,snaplen=64..%u][,frames=N]",
				 DL_CAPTURE_SNAPLEN_MAX);
		else
			capture_start(o, tok[1], &cc, err, sizeof(err));
	} else if (ntok > 0 && strcmp(tok[0], "stop") == 0) {
		if (o->cap == NULL)
			snprintf(err, sizeof(err), "no capture is running");
		else
			capture_stop(o, true);
	} else if (ntok > 0 && strcmp(tok[0], "status") != 0) {
		snprintf(err, sizeof(err),
			 "expected status, start,FILE[,snaplen=N][,frames=N] or stop");
	}
	if (err[0] != '\0')
		dl_tel_str(out, "error", err);
	dl_tel_u64(out, "running", o->cap != NULL);
	if (o->cap != NULL || o->have_last) {
		struct dl_capture_stats st = o->last;
		dl_tel_str(out, "file", o->cap_path);
		if (o->cap != NULL) {
			dl_capture_stats(o->cap, &st);
			dl_tel_u64(out, "snaplen", dl_capture_conf(o->cap)->snaplen);
			dl_tel_u64(out, "max_frames", dl_capture_conf(o->cap)->max_frames);
		}
		capture_into(out, &st);
	}
	pthread_mutex_unlock(&o->cap_lock);
	return 0;
}

/* ---- life ---------------------------------------------------------------------------- */

static const struct {
	const char *name, *help;
	dl_tel_fn fn;
} commands[] = {
    {"/dlibos/info", "DLibOS version, mode, layout, cores and their roles, address, port",
     cmd_info},
    {"/dlibos/counters",
     "every counter summed per module; param MODULE: summed and per core; MODULE,CORE: one core",
     cmd_counters},
    {"/dlibos/cores",
     "per core: role, loop iterations, busy time, packets, NoC messages; idle policy", cmd_cores},
    {"/dlibos/noc",
     "per core messages in and out; per channel SRC_DST: messages, overflow, credits; param: "
     "first source core of a page",
     cmd_noc},
    {"/dlibos/conns",
     "connections: 4-tuple, state, owners, cwnd, srtt, rto, in flight, windows, held bytes; "
     "param: the 'next' of the previous page",
     cmd_conns},
    {"/dlibos/conn", "one connection; param: its id from /dlibos/conns, or NET:ID", cmd_conn},
    {"/dlibos/timewait",
     "compact TIME_WAIT entries (4-tuple, ms left), oldest first; param: CORE:CURSOR, the "
     "'next' of a previous page",
     cmd_timewait},
    {"/dlibos/capture",
     "packet capture to pcapng; params: status | start,/FILE[,snaplen=N][,frames=N] | stop",
     cmd_capture},
};

int dl_obs_create(struct dl_runtime *rt)
{
	struct dl_obs *o = calloc(1, sizeof(*o));
	char err[256];

	if (o == NULL) {
		DL_ERR("out of memory");
		return -1;
	}
	o->rt = rt;
	o->start_us = dl_now_us();
	o->busy_core = -1;
	pthread_mutex_init(&o->req_lock, NULL);
	pthread_mutex_init(&o->cap_lock, NULL);
	rt->obs = o;
	if (rt->cfg.capture != NULL) {
		struct dl_capture_conf cc = {.snaplen = rt->cfg.capture_snaplen,
					     .max_frames = rt->cfg.capture_frames};
		if (capture_start(o, rt->cfg.capture, &cc, err, sizeof(err)) != 0) {
			DL_ERR("--capture %s: %s", rt->cfg.capture, err);
			return -1;
		}
	}
	return 0;
}

void dl_obs_enable(struct dl_runtime *rt)
{
	struct dl_obs *o = rt->obs;

	if (o == NULL || o->enabled)
		return;
	for (unsigned i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (dl_tel_register(commands[i].name, commands[i].help, commands[i].fn, o) != 0)
			DL_WARN("telemetry: cannot register %s", commands[i].name);
	o->enabled = true;
}

void dl_obs_disable(struct dl_runtime *rt)
{
	struct dl_obs *o = rt->obs;

	if (o == NULL || !o->enabled)
		return;
	for (unsigned i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		dl_tel_unregister(commands[i].name);
	o->enabled = false;
}

void dl_obs_destroy(struct dl_runtime *rt)
{
	struct dl_obs *o = rt->obs;

	if (o == NULL)
		return;
	dl_obs_disable(rt);
	pthread_mutex_lock(&o->cap_lock);
	capture_stop(o, false);
	pthread_mutex_unlock(&o->cap_lock);
	pthread_mutex_destroy(&o->req_lock);
	pthread_mutex_destroy(&o->cap_lock);
	free(o);
	rt->obs = NULL;
}
