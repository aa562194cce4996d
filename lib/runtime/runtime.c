/*
 * runtime.c - the process runtime (see dl_runtime.h).
 *
 * Start-up is a straight line in dl_runtime_main(): arguments, platform,
 * port, cores, engine (dl_engine.h: roles, layout, NoC, stacks), the
 * application's init; then every core runs core_main() (workers through
 * dl_platform_launch, core 0 on the main thread) until a signal sets the
 * stop flag. Core 0 also does the main thread's chores between iterations:
 * announce readiness, print counters on SIGUSR1, stop everything if a core
 * failed to start. Shutdown runs on the main thread once every loop has
 * returned: counters printed, stacks destroyed, port closed, platform
 * released. Cores stop (stacks destroyed, connections aborted) on the main
 * thread after the counters are printed, so the dump still has them.
 *
 * Protected mode: the dlibosd service lives the same life with an
 * extension (struct dl_runtime_ext, given by lib/protected): every lcore a
 * network core, the engine in DL_MODE_PROTECTED, the control plane started
 * before the cores and stopped after them. The runtime knows nothing of
 * the service beyond those hooks; an application process attached to it
 * (--attach) is run by lib/protected/attach.c, which shares this layer's
 * per-core loop (dl_core_run()).
 *
 * Only dl_platform.h reaches the platform: no DPDK header here.
 */
#include "dl_runtime.h"
#include "dl_engine.h"
#include "dl_impair.h"
#include "dl_log.h"
#include "dl_platform.h"

#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static volatile sig_atomic_t stop_flag;
static volatile sig_atomic_t dump_flag;

void dl_runtime_stop(void)
{
	stop_flag = 1;
}

bool dl_runtime_stopping(void)
{
	return __atomic_load_n(&stop_flag, __ATOMIC_RELAXED) != 0;
}

/* ---- arguments ---------------------------------------------------------- */

bool dl_runtime_split_args(int argc, char **argv, int *eal_argc)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			*eal_argc = i;
			return true;
		}
	}
	*eal_argc = argc;
	return false;
}

static bool asks_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

/* Parse what follows "--". Returns -1 to go on, else the exit status. */
static int parse_args(struct dl_runtime *rt, int argc, char **argv, int *eal_argc)
{
	char err[256];

	dl_config_defaults(&rt->cfg);
	rt->cfg.service = rt->ext != NULL && rt->ext->service;
	if (!dl_runtime_split_args(argc, argv, eal_argc)) {
		if (asks_help(argc, argv)) {
			dl_config_usage(stdout, &rt->app_args);
			return 0;
		}
		fprintf(stderr,
			"%s: error: application arguments go after '--' "
			"(e.g. ... --no-pci --vdev=net_tap0,iface=dl0 -- --ip 10.0.0.2/24)\n\n",
			rt->app_args.prog);
		dl_config_usage(stderr, &rt->app_args);
		return 2;
	}
	switch (dl_config_parse(&rt->cfg, argc - *eal_argc, argv + *eal_argc, &rt->app_args, err,
				sizeof(err))) {
	case DL_PARSE_OK:
		break;
	case DL_PARSE_HELP:
		dl_config_usage(stdout, &rt->app_args);
		return 0;
	case DL_PARSE_ERROR:
		fprintf(stderr, "%s: error: %s\n\n", rt->app_args.prog, err);
		dl_config_usage(stderr, &rt->app_args);
		return 2;
	}
	if (rt->cfg.log_level >= 0)
		dl_log_set_level((enum dl_log_level)rt->cfg.log_level);
	return -1;
}

/* How many network cores the port needs; -1 after printing why the mode
 * cannot run (the engine checks the layout in detail). */
static int plan_cores(struct dl_runtime *rt)
{
	const struct dl_config *cfg = &rt->cfg;

	rt->n_cores = dl_platform_core_count();
	if (cfg->service) {
		if (cfg->net_cores != 0 && cfg->net_cores != rt->n_cores) {
			DL_ERR("dlibosd runs every lcore as a network core: --net-cores %u but %u "
			       "lcore(s) (give -l with %u lcore(s))",
			       cfg->net_cores, rt->n_cores, cfg->net_cores);
			return -1;
		}
		rt->n_net = rt->n_cores;
		return 0;
	}
	if (cfg->mode == DL_MODE_RTC) {
		rt->n_net = rt->n_cores;
		return 0;
	}
	unsigned net = cfg->net_cores ? cfg->net_cores : (rt->n_cores + 1) / 2;
	if (rt->app == NULL) {
		DL_ERR("--mode dlibos needs an application; this program runs the stack alone "
		       "(use --mode rtc)");
		return -1;
	}
	if (rt->n_cores < 2 || net >= rt->n_cores) {
		DL_ERR("--mode dlibos needs at least one application core: %u net core(s) of %u "
		       "lcore(s) (give more lcores with -l or fewer --net-cores)",
		       net, rt->n_cores);
		return -1;
	}
	rt->n_net = net;
	return 0;
}

/* ---- start-up reporting ------------------------------------------------- */

static void print_port(const struct dl_runtime *rt)
{
	const struct dl_nic *n = rt->nic;
	struct dl_link link;
	char caps[160] = "";
	static const char *const cap_names[] = {"rss",	    "tx-ip-cksum", "tx-l4-cksum", "tso",
						"rx-cksum", "multi-seg",   "extbuf"};

	for (unsigned i = 0; i < sizeof(cap_names) / sizeof(cap_names[0]); i++) {
		if (n->caps & (1u << i)) {
			strncat(caps, " ", sizeof(caps) - strlen(caps) - 1);
			strncat(caps, cap_names[i], sizeof(caps) - strlen(caps) - 1);
		}
	}
	DL_INFO("port %u (%s): mac %02x:%02x:%02x:%02x:%02x:%02x, mtu %u, %u queue pair(s), "
		"offloads:%s; RX buffers in region %s",
		rt->cfg.port_id, n->name, n->mac[0], n->mac[1], n->mac[2], n->mac[3], n->mac[4],
		n->mac[5], n->mtu, n->nb_queues, caps[0] ? caps : " none",
		n->rx_region == DL_REGION_NONE ? "none (normal mempool)"
					       : dl_region_get(n->rx_region)->name);
	if (n->ops->link_get(rt->nic, &link) == 0)
		DL_INFO("link %s%s, %u Mbps", link.up ? "up" : "down",
			link.full_duplex ? " full-duplex" : "", link.speed_mbps);
}

/* ---- counters ----------------------------------------------------------- */

static const char *const port_cnt_names[9] = {
    "rx_packets", "rx_bytes", "rx_missed",  "rx_errors", "rx_nombuf",
    "tx_packets", "tx_bytes", "tx_dropped", "tx_errors",
};

void dl_runtime_refresh_port_counters(struct dl_runtime *rt)
{
	struct dl_nic_stats st;

	if (rt->nic->ops->stats_get(rt->nic, &st) != 0)
		return;
	uint64_t v[9] = {st.rx_packets, st.rx_bytes, st.rx_dropped, st.rx_errors, st.rx_nombuf,
			 st.tx_packets, st.tx_bytes, st.tx_dropped, st.tx_errors};
	for (unsigned i = 0; i < 9; i++)
		__atomic_store_n(&rt->port_cnt[i], v[i], __ATOMIC_RELAXED);
}

static void print_counters(struct dl_runtime *rt)
{
	dl_runtime_refresh_port_counters(rt);
	dl_stats_dump(stdout, rt->cfg.stats_all);
}

/* The main thread's chores, done by core 0 between iterations. */
static void main_chores(void *arg)
{
	struct dl_runtime *rt = arg;

	if (!rt->ready && __atomic_load_n(&rt->set.started, __ATOMIC_ACQUIRE) == (int)rt->n_cores) {
		rt->ready = true;
		dl_obs_enable(rt);
		DL_INFO("ready: %u core(s) running; SIGUSR1 prints counters, SIGINT/SIGTERM stop",
			rt->n_cores);
	}
	if (__atomic_load_n(&rt->set.failed, __ATOMIC_ACQUIRE) > 0)
		dl_runtime_stop();
	if (dump_flag) {
		dump_flag = 0;
		print_counters(rt);
	}
}

/* ---- life cycle --------------------------------------------------------- */

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		dump_flag = 1;
	else
		stop_flag = 1;
}

bool dl_runtime_dump_requested(void)
{
	if (!dump_flag)
		return false;
	dump_flag = 0;
	return true;
}

void dl_runtime_install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	/* A second SIGINT/SIGTERM kills at once if shutdown hangs. */
	sa.sa_flags = SA_RESTART | SA_RESETHAND;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* --tcp over the stack's defaults (the stack checks the combination). */
static void apply_tcp_opts(const struct dl_tcp_opts *o, struct dl_tcp_params *p)
{
#define GIVEN(k) (o->set & (1u << (k)))
	if (GIVEN(DL_TCPO_SYN_BACKLOG))
		p->syn_backlog = o->syn_backlog;
	if (GIVEN(DL_TCPO_ACCEPT_BACKLOG))
		p->accept_backlog = o->accept_backlog;
	if (GIVEN(DL_TCPO_MAX_CONNS))
		p->max_conns = o->max_conns;
	if (GIVEN(DL_TCPO_RCV_WND))
		p->rcv_wnd = o->rcv_wnd;
	if (GIVEN(DL_TCPO_DELACK_US))
		p->delack_us = o->delack_us;
	if (GIVEN(DL_TCPO_KEEPALIVE_S))
		p->keepalive_us = o->keepalive_s * 1000000u;
	if (GIVEN(DL_TCPO_RTO_MIN_MS))
		p->rto_min_us = o->rto_min_ms * 1000u;
	if (GIVEN(DL_TCPO_SYN_COOKIES))
		p->syn_cookies = o->syn_cookies;
	if (GIVEN(DL_TCPO_TIMESTAMPS))
		p->timestamps = o->timestamps;
	if (GIVEN(DL_TCPO_CC))
		p->cc = (uint8_t)o->cc;
	if (GIVEN(DL_TCPO_SACK))
		p->sack = o->sack;
	if (GIVEN(DL_TCPO_TLP))
		p->tlp = o->tlp;
	if (GIVEN(DL_TCPO_HYSTART))
		p->hystart = o->hystart;
	if (GIVEN(DL_TCPO_RESTART_IDLE))
		p->restart_after_idle = o->slow_start_after_idle;
	if (GIVEN(DL_TCPO_SACK_POOL))
		p->sack_pool = o->sack_pool;
	if (GIVEN(DL_TCPO_TW_MAX))
		p->tw_max = o->time_wait_max;
	if (GIVEN(DL_TCPO_TW_REUSE))
		p->tw_reuse = o->tw_reuse;
	if (GIVEN(DL_TCPO_OOO_CORE_BUFS))
		p->ooo_core_bufs = o->ooo_core_bufs;
	if (GIVEN(DL_TCPO_APP_RX_BUFS))
		p->app_rx_bufs = o->app_rx_bufs;
	if (GIVEN(DL_TCPO_TLP_DELACK_MS))
		p->tlp_delack_us = o->tlp_delack_ms * 1000u;
	if (GIVEN(DL_TCPO_PACING))
		p->pacing = (uint8_t)o->pacing;
	if (GIVEN(DL_TCPO_ECN))
		p->ecn = (uint8_t)o->ecn;
#undef GIVEN
}

static void build_stack_config(struct dl_runtime *rt)
{
	struct dl_stack_config *sc = &rt->stack_cfg;

	dl_stack_config_defaults(sc);
	sc->ip = rt->cfg.ip;
	sc->prefix_len = rt->cfg.prefix_len;
	sc->gw = rt->cfg.gw;
	memcpy(sc->mac, rt->nic->mac, 6);
	sc->mtu = rt->nic->mtu;
	sc->tcp.tso = sc->tcp.tso && (rt->nic->caps & DL_NIC_CAP_TSO);
	/* Out-of-order data may pin a quarter of a queue's RX buffers, one
	 * application core three quarters (--tcp overrides both). */
	uint32_t rxb = rt->cfg.rx_bufs ? rt->cfg.rx_bufs : 8192;
	sc->tcp.ooo_core_bufs = rxb / 4;
	sc->tcp.app_rx_bufs = rxb / 4 * 3;
	apply_tcp_opts(&rt->cfg.tcp, &sc->tcp);
	/* RFC 6528: the ISN secret is random per process. */
	if (getrandom(sc->tcp.isn_key, sizeof(sc->tcp.isn_key), 0) !=
	    (ssize_t)sizeof(sc->tcp.isn_key)) {
		uint64_t t = dl_now_us() ^ (uint64_t)(uintptr_t)rt;
		for (unsigned i = 0; i < sizeof(sc->tcp.isn_key); i++)
			sc->tcp.isn_key[i] = (uint8_t)(t >> (8 * (i % 8))) ^ (uint8_t)(i * 131);
		DL_WARN("getrandom failed: weak ISN secret");
	}
}

static int open_port(struct dl_runtime *rt)
{
	struct dl_nic_params p = {
	    .port_id = rt->cfg.port_id,
	    .nb_queues = (uint16_t)rt->n_net,
	    .rx_desc = rt->cfg.rx_desc,
	    .tx_desc = rt->cfg.tx_desc,
	    .rx_bufs = rt->cfg.rx_bufs,
	    .no_hw_offload = rt->cfg.no_hw_offload,
	    .numa_node = -1,
	};

	rt->nic = dl_platform_nic_open(&p);
	if (rt->nic == NULL)
		return -1;
	rt->port = rt->nic;
	if (rt->cfg.impair_on && dl_impair_active(&rt->cfg.impair)) {
		struct dl_impair_config *ic = &rt->cfg.impair;
		struct dl_nic *w = dl_impair_wrap(rt->nic, ic);
		if (w == NULL) {
			DL_ERR("--impair: cannot wrap the port: %s", strerror(errno));
			return -1;
		}
		rt->nic = w;
		DL_INFO("impairment on both directions: loss=%g reorder=%g dup=%g corrupt=%g "
			"delay_us=%u seed=%llu",
			ic->loss, ic->reorder, ic->dup, ic->corrupt, ic->delay_us,
			(unsigned long long)ic->seed);
	}
	return 0;
}

static int create_cores(struct dl_runtime *rt)
{
	for (unsigned i = 0; i < rt->n_cores; i++) {
		struct dl_core_info ci;
		struct dl_core *c;

		dl_platform_core_info(i, &ci);
		c = dl_platform_zmalloc(sizeof(*c), ci.numa_node);
		if (c == NULL) {
			DL_ERR("core %u: out of memory on NUMA node %d", i, ci.numa_node);
			return -1;
		}
		dl_core_init(c, &rt->set, i, &ci, (int)i);
		rt->cores[i] = c;
	}
	return 0;
}

static void free_cores(struct dl_runtime *rt)
{
	for (unsigned i = 0; i < rt->n_cores; i++) {
		struct dl_core *c = rt->cores[i];
		if (c == NULL)
			continue;
		dl_core_fini(c);
		dl_platform_free(c);
		rt->cores[i] = NULL;
	}
}

/* Run every core until stopped; the main thread runs core 0. */
static int run_cores(struct dl_runtime *rt)
{
	unsigned launched = 1;
	int rc = 0;

	rt->set.engine = rt->engine;
	rt->set.chores = main_chores;
	rt->set.chores_arg = rt;
	rt->set.chores_core = 0;
	for (unsigned i = 1; i < rt->n_cores; i++) {
		if (dl_platform_launch(i, dl_core_run, rt->cores[i]) != 0) {
			DL_ERR("core %u: launch failed", i);
			dl_runtime_stop();
			rc = 1;
			break;
		}
		launched++;
	}
	if (rc == 0)
		dl_core_run(rt->cores[0]);
	for (unsigned i = 1; i < launched; i++)
		dl_platform_wait(i);
	if (__atomic_load_n(&rt->set.failed, __ATOMIC_ACQUIRE) > 0)
		rc = 1;
	return rc;
}

/* Build the engine: roles, layout, NoC, TX memory; print the core map. */
static int create_engine(struct dl_runtime *rt)
{
	struct dl_engine_conf ec;
	char err[512];

	memset(&ec, 0, sizeof(ec));
	ec.mode = rt->cfg.service ? DL_MODE_PROTECTED : rt->cfg.mode;
	ec.layout = rt->cfg.layout;
	ec.dispatch = rt->cfg.dispatch;
	ec.ncores = rt->n_cores;
	ec.net_cores = rt->n_net;
	for (unsigned i = 0; i < rt->n_cores; i++)
		ec.cores[i] = rt->cores[i]->info;
	ec.stack = rt->stack_cfg;
	ec.nic = rt->nic;
	ec.app = rt->app;
	ec.app_rx_credit = rt->cfg.app_rx_credit;
	ec.tx_copy_bytes = rt->cfg.tx_copy;
	if (rt->ext != NULL && rt->ext->engine_conf != NULL)
		rt->ext->engine_conf(rt->ext->arg, &ec);
	rt->engine = dl_engine_create(&ec, err, sizeof(err));
	if (rt->engine == NULL) {
		DL_ERR("%s", err);
		return -1;
	}
	for (unsigned i = 0; i < rt->n_cores; i++)
		DL_DEBUG("core %u: lcore %u, cpu %d, numa node %d, L3 domain %d", i,
			 rt->cores[i]->info.hw_id, rt->cores[i]->info.cpu,
			 rt->cores[i]->info.numa_node, rt->cores[i]->info.l3_domain);
	return 0;
}

/* Stop every core (their loops have returned): the application's per-core
 * hooks, then stacks (connections aborted), endpoints, contexts. Done on
 * the main thread once the counters have been printed. */
static void stop_cores(struct dl_runtime *rt)
{
	if (rt->engine == NULL)
		return;
	dl_engine_stop(rt->engine);
	/* Protected mode: the slots go once the stacks have aborted their
	 * connections (their TX memory is no longer referenced). */
	if (rt->ext != NULL && rt->ext->cores_stopped != NULL)
		rt->ext->cores_stopped(rt->ext->arg);
	if (rt->app != NULL && rt->app->fini != NULL)
		rt->app->fini();
	dl_engine_destroy(rt->engine);
	rt->engine = NULL;
}

static void shutdown_all(struct dl_runtime *rt)
{
	/* Telemetry first: no command reads the cores from here on. */
	dl_obs_disable(rt);
	/* Protected mode: no new application, the attached ones are told. */
	if (rt->ext_created && rt->ext->stop != NULL)
		rt->ext->stop(rt->ext->arg);
	if (rt->nic != NULL) {
		DL_INFO("stopped; counters:");
		print_counters(rt);
	}
	stop_cores(rt);
	dl_obs_destroy(rt); /* a capture ends after the stacks' last segments */
	free_cores(rt);
	dl_nic_close(rt->nic);
	rt->nic = NULL;
	if (rt->ext_created && rt->ext->destroy != NULL)
		rt->ext->destroy(rt->ext->arg);
	rt->ext_created = false;
	dl_stats_unregister(&rt->port_blk);
	dl_platform_fini();
}

/* The application's parse_opt/check_opts behind the parser's hooks. */
static int app_handle(void *arg, int key, const char *value, char *err, size_t errlen)
{
	const struct dlibos_app *app = arg;

	return app->parse_opt != NULL ? app->parse_opt(key, value, err, errlen) : 0;
}

static int app_check(void *arg, char *err, size_t errlen)
{
	const struct dlibos_app *app = arg;

	return app->check_opts != NULL ? app->check_opts(err, errlen) : 0;
}

_Static_assert(sizeof(struct dl_app_opt) == sizeof(struct dlibos_opt),
	       "dlibos_opt and dl_app_opt must have the same layout");

void dl_runtime_app_args(struct dl_app_args *args, const struct dlibos_app *app)
{
	args->opts = (const struct dl_app_opt *)app->options;
	args->n_opts = app->n_options;
	args->handle = app_handle;
	args->check = app_check;
	args->arg = (void *)(uintptr_t)app;
}

static int runtime_main(struct dl_runtime *rt, int argc, char **argv)
{
	int eal_argc, rc;
	const struct dlibos_app *app = rt->app;

	rc = parse_args(rt, argc, argv, &eal_argc);
	if (rc >= 0)
		return rc;
	if (dl_platform_init(eal_argc, argv) != 0)
		return 1;
	if (plan_cores(rt) != 0) {
		dl_platform_fini();
		return 2;
	}
	if (open_port(rt) != 0) {
		shutdown_all(rt);
		return 1;
	}
	dl_stats_register(&rt->port_blk, "port", port_cnt_names, 9, rt->port_cnt, -1);
	print_port(rt);
	build_stack_config(rt);
	rt->set.idle = dl_idle_resolve(rt->cfg.idle, dl_platform_cores_exclusive());
	if (create_cores(rt) != 0 || create_engine(rt) != 0) {
		shutdown_all(rt);
		return 1;
	}
	dl_region_report();
	if (rt->ext != NULL && rt->ext->create != NULL) {
		if (rt->ext->create(rt->ext->arg, rt) != 0) {
			shutdown_all(rt);
			return 1;
		}
		rt->ext_created = true;
	}
	if (app != NULL && app->init != NULL && app->init() != 0) {
		DL_ERR("application %s: initialisation failed", app->name);
		shutdown_all(rt);
		return 1;
	}
	DL_INFO("mode %s, idle policy %s%s",
		dl_mode_name(rt->cfg.service ? DL_MODE_PROTECTED : rt->cfg.mode),
		dl_idle_name(rt->set.idle),
		rt->cfg.idle == DL_IDLE_AUTO
		    ? (rt->set.idle == DL_IDLE_POLL ? " (auto: every lcore has its own CPU)"
						: " (auto: lcores share CPUs or leave none free)")
		    : "");
	if (dl_obs_create(rt) != 0) {
		shutdown_all(rt);
		return 1;
	}
	dl_runtime_install_signals();
	if (rt->ext_created && rt->ext->start != NULL && rt->ext->start(rt->ext->arg) != 0) {
		shutdown_all(rt);
		return 1;
	}
	rc = run_cores(rt);
	shutdown_all(rt);
	return rc;
}

int dl_runtime_main(int argc, char **argv, const struct dlibos_app *app, const char *prog,
		    const char *summary, const struct dl_runtime_ext *ext)
{
	static struct dl_runtime rt; /* big; one per process */

	memset(&rt, 0, sizeof(rt));
	rt.app = app;
	rt.ext = ext;
	rt.app_args.prog = prog != NULL ? prog : basename(argv[0]);
	rt.app_args.summary = summary != NULL ? summary : app != NULL ? app->summary : NULL;
	if (app != NULL) {
		dl_runtime_app_args(&rt.app_args, app);
	} else if (ext != NULL) {
		rt.app_args.opts = ext->opts;
		rt.app_args.n_opts = ext->n_opts;
		rt.app_args.handle = ext->parse_opt;
		rt.app_args.check = ext->check_opts;
		rt.app_args.arg = ext->arg;
	}
	return runtime_main(&rt, argc, argv);
}
