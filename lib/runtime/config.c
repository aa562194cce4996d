/*
 * config.c - parsing of the common application arguments (see dl_config.h).
 *
 * A table of common options drives both the parser and the usage text;
 * options an application adds are looked up in its own table afterwards.
 * Each value has a small strict parser (no trailing garbage, ranges
 * checked) that writes a one-line message on failure, so the user learns
 * exactly which argument is wrong. No DPDK and no global state here: the
 * unit tests call dl_config_parse() directly.
 */
#include "dl_config.h"
#include "dl_hal.h"
#include "dl_log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum common_key {
	OPT_IP,
	OPT_GW,
	OPT_MODE,
	OPT_NET_CORES,
	OPT_IDLE,
	OPT_LAYOUT,
	OPT_DISPATCH,
	OPT_IMPAIR,
	OPT_TCP,
	OPT_PORT_ID,
	OPT_RX_DESC,
	OPT_TX_DESC,
	OPT_RX_BUFS,
	OPT_NO_HW_OFFLOAD,
	OPT_APP_RX_CREDIT,
	OPT_TX_COPY_KB,
	OPT_STATS_ALL,
	OPT_LOG_LEVEL,
	OPT_ATTACH,
	OPT_APP_CORES,
	OPT_CAPTURE,
	OPT_SNAPLEN,
	OPT_CAPTURE_FRAMES,
	OPT_HELP,
};

_Static_assert(OPT_HELP < 32, "dl_config.given has a bit per option");

/* What only the service sets in protected mode: an attached application
 * gets these from dlibosd. */
#define SERVICE_SIDE                                                                               \
	((1u << OPT_IP) | (1u << OPT_GW) | (1u << OPT_MODE) | (1u << OPT_NET_CORES) |              \
	 (1u << OPT_LAYOUT) | (1u << OPT_DISPATCH) | (1u << OPT_IMPAIR) | (1u << OPT_PORT_ID) |    \
	 (1u << OPT_RX_DESC) | (1u << OPT_TX_DESC) | (1u << OPT_RX_BUFS) |                         \
	 (1u << OPT_NO_HW_OFFLOAD) | (1u << OPT_APP_RX_CREDIT) | (1u << OPT_TCP) |                 \
	 (1u << OPT_CAPTURE) | (1u << OPT_SNAPLEN) | (1u << OPT_CAPTURE_FRAMES))

static const struct dl_app_opt common_opts[] = {
    {"ip", "A.B.C.D/NN", "our IPv4 address and prefix length (required)", OPT_IP},
    {"gw", "A.B.C.D", "default gateway (inside the --ip subnet)", OPT_GW},
    {"mode", "rtc|dlibos", "execution mode (default rtc)", OPT_MODE},
    {"net-cores", "N", "dlibos mode: net cores; the other lcores run the application",
     OPT_NET_CORES},
    {"idle", "poll|pause|sleep",
     "idle cores spin, pause or sleep (default: poll if each lcore has its own CPU, else sleep)",
     OPT_IDLE},
    {"layout", "naive|quadrant-all|quadrant-dedicated", "dlibos mode: core layout (default naive)",
     OPT_LAYOUT},
    {"dispatch", "rr|least-loaded", "dlibos mode: new-connection dispatch (default rr)",
     OPT_DISPATCH},
    {"impair", "SPEC",
     "fault injection below the stack (both directions), SPEC = "
     "loss=F,reorder=F,dup=F,corrupt=F,delay_us=N,seed=N (any subset)",
     OPT_IMPAIR},
    {"tcp", "SPEC",
     "TCP tunables, SPEC = syn_backlog=N,accept_backlog=N,max_conns=N,rcv_wnd=BYTES,"
     "delack_us=N,keepalive_s=N,rto_min_ms=N,syn_cookies=0|1,timestamps=0|1,"
     "cc=cubic|newreno|bbr,sack=0|1,tlp=0|1,hystart=0|1,slow_start_after_idle=0|1,"
     "sack_pool=N,time_wait_max=N,tw_reuse=0|1,ooo_core_bufs=N,app_rx_bufs=N,tlp_delack_ms=N,"
     "pacing=off|bbr|all,ecn=off|accept|on "
     "(any subset; defaults 1024,1024,65536,262144,40000,0 (off),200,1,1,cubic,1,1,1,1,4096,"
     "262144,1, a quarter and three quarters of --rx-bufs, 50, bbr, accept; docs/tcp.md)",
     OPT_TCP},
    {"port-id", "N", "DPDK port to use (default 0)", OPT_PORT_ID},
    {"rx-desc", "N", "RX descriptors per queue (default 1024)", OPT_RX_DESC},
    {"tx-desc", "N", "TX descriptors per queue (default 1024)", OPT_TX_DESC},
    {"rx-bufs", "N", "RX buffers per queue (default 8192)", OPT_RX_BUFS},
    {"no-hw-offload", NULL, "compute checksums and TSO in software", OPT_NO_HW_OFFLOAD},
    {"app-rx-credit", "KB",
     "received bytes an application core may hold before its flows are throttled "
     "(default 32768)",
     OPT_APP_RX_CREDIT},
    {"tx-copy-kb", "KB",
     "transmit memory per application core for dlibos_send_copy, freed as the peers "
     "acknowledge (default 4096)",
     OPT_TX_COPY_KB},
    {"stats-all", NULL, "print all counters on exit (default: the non-zero ones)", OPT_STATS_ALL},
    {"log-level", "err|warn|info|debug", "runtime log level (default info)", OPT_LOG_LEVEL},
    {"attach", "PATH",
     "protected mode: attach to the dlibosd service listening at PATH (no EAL arguments, "
     "no --ip: the service owns the port)",
     OPT_ATTACH},
    {"app-cores", "N", "with --attach: application cores (threads) to run (default 1)",
     OPT_APP_CORES},
    {"capture", "FILE.pcapng",
     "write every frame the port receives and sends (all queues) to FILE as pcapng from the "
     "start (also at run time: telemetry /dlibos/capture)",
     OPT_CAPTURE},
    {"snaplen", "BYTES", "with --capture: bytes kept per frame (64..262144, default 65535)",
     OPT_SNAPLEN},
    {"capture-frames", "N", "with --capture: stop copying after N frames (default: no limit)",
     OPT_CAPTURE_FRAMES},
    {"help", NULL, "print this help and exit", OPT_HELP},
};

#define N_COMMON (sizeof(common_opts) / sizeof(common_opts[0]))

static const char *const idle_names[] = {"auto", "poll", "pause", "sleep"};
static const char *const log_names[] = {"err", "warn", "info", "debug"};

const char *dl_idle_name(enum dl_idle_policy p)
{
	return (unsigned)p < 4 ? idle_names[p] : "?";
}


void dl_config_defaults(struct dl_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = DL_MODE_RTC;
	cfg->idle = DL_IDLE_AUTO;
	cfg->layout = DL_LAYOUT_NAIVE;
	cfg->dispatch = DL_DISPATCH_RR;
	cfg->log_level = -1;
}

int dl_parse_uint(const char *s, unsigned long long min, unsigned long long max,
		  unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Strict fraction in [0, 1]. */
static int parse_fraction(const char *s, double *out)
{
	char *end;
	double v;

	if (s == NULL || *s == '\0' || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !(v >= 0.0 && v <= 1.0))
		return -1;
	*out = v;
	return 0;
}

/* One of names[n]; returns the index or -1. */
static int parse_enum(const char *s, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

/* Dotted quad into host byte order. */
static int parse_ipv4(const char *s, uint32_t *out)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -1;
	*out = ntohl(a.s_addr);
	return 0;
}

static uint32_t prefix_mask(unsigned prefix)
{
	return prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
}

static int parse_ip_prefix(struct dl_config *cfg, const char *v, char *err, size_t errlen)
{
	char buf[64];
	char *slash;
	unsigned long long prefix;
	uint32_t ip, mask;

	if (strlen(v) >= sizeof(buf))
		return dl_errf(err, errlen, "--ip '%s': too long", v);
	strcpy(buf, v);
	slash = strchr(buf, '/');
	if (slash == NULL)
		return dl_errf(err, errlen,
			       "--ip '%s': expected A.B.C.D/NN (prefix length missing)", v);
	*slash = '\0';
	if (parse_ipv4(buf, &ip) != 0)
		return dl_errf(err, errlen, "--ip '%s': '%s' is not an IPv4 address", v, buf);
	if (dl_parse_uint(slash + 1, 1, 32, &prefix) != 0)
		return dl_errf(err, errlen, "--ip '%s': prefix length must be 1..32", v);
	mask = prefix_mask((unsigned)prefix);
	if (ip == 0 || (ip >> 24) == 127 || (ip >> 28) >= 14)
		return dl_errf(err, errlen,
			       "--ip '%s': not a usable unicast address (zero, loopback, multicast "
			       "or reserved)",
			       v);
	if (prefix <= 30 && ((ip & ~mask) == 0 || (ip & ~mask) == ~mask))
		return dl_errf(err, errlen, "--ip '%s': that is the %s address of the subnet", v,
			       (ip & ~mask) == 0 ? "network" : "broadcast");
	cfg->ip = ip;
	cfg->prefix_len = (uint8_t)prefix;
	return 0;
}

/* One key=value of a list parse_kv_list() walks: 0, or an error (err set). */
typedef int kv_item_fn(void *ctx, const char *key, const char *val, char *err, size_t errlen);

/*
 * Walk the comma-separated key=value list @p spec of option @p opt (for
 * messages), calling @p fn for each item; stops at the first error.
 */
static int parse_kv_list(const char *opt, const char *spec, kv_item_fn *fn, void *ctx, char *err,
			 size_t errlen)
{
	char buf[512]; /* every --tcp key at once fits */
	char *save = NULL, *item;

	if (spec == NULL || *spec == '\0')
		return dl_errf(err, errlen, "%s: empty specification", opt);
	if (strlen(spec) >= sizeof(buf))
		return dl_errf(err, errlen, "%s: specification too long", opt);
	strcpy(buf, spec);
	for (item = strtok_r(buf, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');
		int rc;

		if (eq == NULL)
			return dl_errf(err, errlen, "%s: '%s' is not key=value", opt, item);
		*eq = '\0';
		rc = fn(ctx, item, eq + 1, err, errlen);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int impair_item(void *ctx, const char *key, const char *val, char *err, size_t errlen)
{
	struct dl_impair_config *c = ctx;
	double *frac = NULL;
	unsigned long long u;

	if (strcmp(key, "loss") == 0)
		frac = &c->loss;
	else if (strcmp(key, "reorder") == 0)
		frac = &c->reorder;
	else if (strcmp(key, "dup") == 0)
		frac = &c->dup;
	else if (strcmp(key, "corrupt") == 0)
		frac = &c->corrupt;
	if (frac != NULL) {
		if (parse_fraction(val, frac) != 0)
			return dl_errf(err, errlen,
				       "--impair: %s='%s' must be a fraction between 0 and 1", key,
				       val);
	} else if (strcmp(key, "delay_us") == 0) {
		if (dl_parse_uint(val, 0, 10u * 1000 * 1000, &u) != 0)
			return dl_errf(err, errlen, "--impair: delay_us='%s' must be 0..10000000",
				       val);
		c->delay_us = (uint32_t)u;
	} else if (strcmp(key, "seed") == 0) {
		if (dl_parse_uint(val, 0, UINT64_MAX, &u) != 0)
			return dl_errf(err, errlen,
				       "--impair: seed='%s' must be an unsigned integer", val);
		c->seed = u;
	} else {
		return dl_errf(err, errlen,
			       "--impair: unknown key '%s' (use loss, reorder, dup, corrupt, "
			       "delay_us, seed)",
			       key);
	}
	return 0;
}

int dl_impair_parse(struct dl_impair_config *ic, const char *spec, char *err, size_t errlen)
{
	struct dl_impair_config c = {0};
	int rc = parse_kv_list("--impair", spec, impair_item, &c, err, errlen);

	if (rc != 0)
		return rc;
	c.now = ic->now;
	c.now_arg = ic->now_arg;
	*ic = c;
	return 0;
}

/* --tcp keys: name, range, where the value goes (a uint32_t field, or a
 * bool one for the 0..1 keys, or a uint32_t index into a list of names). */
static const char *const tcp_cc_names[] = {"newreno", "cubic", "bbr", NULL};
static const char *const tcp_pacing_names[] = {"off", "bbr", "all", NULL};
static const char *const tcp_ecn_names[] = {"off", "accept", "on", NULL};
#define TCP_U32(key, field, lo, hi) [key] = {#field, lo, hi, offsetof(struct dl_tcp_opts, field), false, NULL}
#define TCP_BOOL(key, field) [key] = {#field, 0, 1, offsetof(struct dl_tcp_opts, field), true, NULL}
#define TCP_ENUM(key, field, names) [key] = {#field, 0, 0, offsetof(struct dl_tcp_opts, field), false, names}
static const struct tcp_key {
	const char *name;
	unsigned long long min, max;
	size_t off;
	bool is_bool;
	const char *const *names;
} tcp_keys[DL_TCPO_NKEYS] = {
    TCP_U32(DL_TCPO_SYN_BACKLOG, syn_backlog, 1, 1u << 20),
    TCP_U32(DL_TCPO_ACCEPT_BACKLOG, accept_backlog, 1, 1u << 20),
    TCP_U32(DL_TCPO_MAX_CONNS, max_conns, 64, 1u << 24),
    TCP_U32(DL_TCPO_RCV_WND, rcv_wnd, 1024, 1u << 30),
    TCP_U32(DL_TCPO_DELACK_US, delack_us, 0, 500000),
    TCP_U32(DL_TCPO_KEEPALIVE_S, keepalive_s, 0, 4294), /* microseconds fit 32 bits */
    TCP_U32(DL_TCPO_RTO_MIN_MS, rto_min_ms, 1, 60000),
    TCP_BOOL(DL_TCPO_SYN_COOKIES, syn_cookies),
    TCP_BOOL(DL_TCPO_TIMESTAMPS, timestamps),
    TCP_ENUM(DL_TCPO_CC, cc, tcp_cc_names),
    TCP_BOOL(DL_TCPO_SACK, sack),
    TCP_BOOL(DL_TCPO_TLP, tlp),
    TCP_BOOL(DL_TCPO_HYSTART, hystart),
    TCP_BOOL(DL_TCPO_RESTART_IDLE, slow_start_after_idle),
    TCP_U32(DL_TCPO_SACK_POOL, sack_pool, 0, 1u << 20),
    TCP_U32(DL_TCPO_TW_MAX, time_wait_max, 0, 1u << 24),
    TCP_BOOL(DL_TCPO_TW_REUSE, tw_reuse),
    TCP_U32(DL_TCPO_OOO_CORE_BUFS, ooo_core_bufs, 16, 1u << 22),
    TCP_U32(DL_TCPO_APP_RX_BUFS, app_rx_bufs, 0, 1u << 22),
    TCP_U32(DL_TCPO_TLP_DELACK_MS, tlp_delack_ms, 0, 1000),
    TCP_ENUM(DL_TCPO_PACING, pacing, tcp_pacing_names),
    TCP_ENUM(DL_TCPO_ECN, ecn, tcp_ecn_names),
};
#undef TCP_U32
#undef TCP_BOOL
#undef TCP_ENUM

static int tcp_item(void *ctx, const char *key, const char *val, char *err, size_t errlen)
{
	struct dl_tcp_opts *c = ctx;
	unsigned long long u;
	int k;

	for (k = 0; k < DL_TCPO_NKEYS; k++)
		if (strcmp(key, tcp_keys[k].name) == 0)
			break;
	if (k == DL_TCPO_NKEYS)
		return dl_errf(err, errlen,
			       "--tcp: unknown key '%s' (use syn_backlog, accept_backlog, "
			       "max_conns, rcv_wnd, delack_us, keepalive_s, rto_min_ms, "
			       "syn_cookies, timestamps, cc, sack, tlp, hystart, "
			       "slow_start_after_idle, sack_pool, time_wait_max, tw_reuse, "
			       "ooo_core_bufs, app_rx_bufs, tlp_delack_ms, pacing, ecn)",
			       key);
	if (tcp_keys[k].names != NULL) {
		const char *const *names = tcp_keys[k].names;
		unsigned n = 0;
		while (names[n] != NULL)
			n++;
		int e = parse_enum(val, names, (int)n);
		if (e < 0) {
			char all[64];
			size_t at = 0;
			for (unsigned i = 0; i < n && at < sizeof(all); i++)
				at += (size_t)snprintf(all + at, sizeof(all) - at, "%s%s",
						       i ? "|" : "", names[i]);
			return dl_errf(err, errlen, "--tcp: %s='%s' must be %s", key, val, all);
		}
		*(uint32_t *)((char *)c + tcp_keys[k].off) = (uint32_t)e;
		c->set |= 1u << k;
		return 0;
	}
	if (dl_parse_uint(val, tcp_keys[k].min, tcp_keys[k].max, &u) != 0)
		return dl_errf(err, errlen, "--tcp: %s='%s' must be %llu..%llu", key, val,
			       tcp_keys[k].min, tcp_keys[k].max);
	if (tcp_keys[k].is_bool)
		*(bool *)((char *)c + tcp_keys[k].off) = u != 0;
	else
		*(uint32_t *)((char *)c + tcp_keys[k].off) = (uint32_t)u;
	c->set |= 1u << k;
	return 0;
}

int dl_tcp_opts_parse(struct dl_tcp_opts *o, const char *spec, char *err, size_t errlen)
{
	struct dl_tcp_opts c = *o;
	int rc = parse_kv_list("--tcp", spec, tcp_item, &c, err, errlen);

	if (rc == 0)
		*o = c;
	return rc;
}

/* The index of @p v in @p names, or -1 after writing what was expected. */
static int parse_enum_opt(const char *opt, const char *v, const char *const *names, int n,
			  char *err, size_t errlen)
{
	int i = parse_enum(v, names, n);

	if (i < 0) {
		char list[128] = "";
		for (int k = 0; k < n; k++) {
			strncat(list, names[k], sizeof(list) - strlen(list) - 1);
			if (k + 1 < n)
				strncat(list, "|", sizeof(list) - strlen(list) - 1);
		}
		dl_errf(err, errlen, "--%s '%s': expected %s", opt, v, list);
		return -1;
	}
	return i;
}

static int parse_count(const char *opt, const char *v, unsigned long long min,
		       unsigned long long max, unsigned long long *out, char *err, size_t errlen)
{
	if (dl_parse_uint(v, min, max, out) != 0)
		return dl_errf(err, errlen, "--%s '%s': expected an integer in %llu..%llu", opt, v,
			       min, max);
	return 0;
}

/* Apply one common option. */
static int apply_common(struct dl_config *cfg, int key, const char *v, char *err, size_t errlen)
{
	unsigned long long u;
	int e;

	switch (key) {
	case OPT_IP:
		return parse_ip_prefix(cfg, v, err, errlen);
	case OPT_GW:
		if (parse_ipv4(v, &cfg->gw) != 0 || cfg->gw == 0)
			return dl_errf(err, errlen, "--gw '%s': not an IPv4 address", v);
		return 0;
	case OPT_MODE:
		if ((e = parse_enum_opt("mode", v, dl_mode_names, 2, err, errlen)) < 0)
			return -1;
		cfg->mode = (enum dl_mode)e;
		return 0;
	case OPT_NET_CORES:
		if (parse_count("net-cores", v, 1, DL_MAX_CORES - 1, &u, err, errlen) != 0)
			return -1;
		cfg->net_cores = (unsigned)u;
		return 0;
	case OPT_IDLE:
		/* "auto" is the default, not something to ask for. */
		if ((e = parse_enum_opt("idle", v, idle_names + 1, 3, err, errlen)) < 0)
			return -1;
		cfg->idle = (enum dl_idle_policy)(e + 1);
		return 0;
	case OPT_LAYOUT:
		if ((e = parse_enum_opt("layout", v, dl_layout_names, DL_LAYOUT_COUNT, err, errlen)) < 0)
			return -1;
		cfg->layout = (enum dl_layout)e;
		return 0;
	case OPT_DISPATCH:
		if ((e = parse_enum_opt("dispatch", v, dl_dispatch_names, DL_DISPATCH_COUNT, err, errlen)) < 0)
			return -1;
		cfg->dispatch = (enum dl_dispatch)e;
		return 0;
	case OPT_IMPAIR:
		if (dl_impair_parse(&cfg->impair, v, err, errlen) != 0)
			return -1;
		cfg->impair_on = true;
		return 0;
	case OPT_TCP:
		return dl_tcp_opts_parse(&cfg->tcp, v, err, errlen) != 0 ? -1 : 0;
	case OPT_PORT_ID:
		if (parse_count("port-id", v, 0, 65534, &u, err, errlen) != 0)
			return -1;
		cfg->port_id = (uint16_t)u;
		return 0;
	case OPT_RX_DESC:
	case OPT_TX_DESC:
		if (parse_count(key == OPT_RX_DESC ? "rx-desc" : "tx-desc", v, 32, 32768, &u, err,
				errlen) != 0)
			return -1;
		if (key == OPT_RX_DESC)
			cfg->rx_desc = (uint16_t)u;
		else
			cfg->tx_desc = (uint16_t)u;
		return 0;
	case OPT_RX_BUFS:
		if (parse_count("rx-bufs", v, 512, 1u << 22, &u, err, errlen) != 0)
			return -1;
		cfg->rx_bufs = (uint32_t)u;
		return 0;
	case OPT_NO_HW_OFFLOAD:
		cfg->no_hw_offload = true;
		return 0;
	case OPT_APP_RX_CREDIT:
		if (parse_count("app-rx-credit", v, 64, 1u << 24, &u, err, errlen) != 0)
			return -1;
		cfg->app_rx_credit = (uint64_t)u * 1024;
		return 0;
	case OPT_TX_COPY_KB:
		if (parse_count("tx-copy-kb", v, 64, 1u << 22, &u, err, errlen) != 0)
			return -1;
		cfg->tx_copy = (size_t)u * 1024;
		return 0;
	case OPT_STATS_ALL:
		cfg->stats_all = true;
		return 0;
	case OPT_LOG_LEVEL:
		if ((e = parse_enum_opt("log-level", v, log_names, 4, err, errlen)) < 0)
			return -1;
		cfg->log_level = e;
		return 0;
	case OPT_ATTACH:
		cfg->attach = v;
		return 0;
	case OPT_APP_CORES:
		if (parse_count("app-cores", v, 1, DL_MAX_CORES, &u, err, errlen) != 0)
			return -1;
		cfg->app_cores = (unsigned)u;
		return 0;
	case OPT_CAPTURE:
		if (v[0] == '\0')
			return dl_errf(err, errlen, "--capture: expected a file name");
		cfg->capture = v;
		return 0;
	case OPT_SNAPLEN:
		if (parse_count("snaplen", v, 64, 262144, &u, err, errlen) != 0)
			return -1;
		cfg->capture_snaplen = (uint32_t)u;
		return 0;
	case OPT_CAPTURE_FRAMES:
		if (parse_count("capture-frames", v, 1, UINT64_MAX, &u, err, errlen) != 0)
			return -1;
		cfg->capture_frames = (uint64_t)u;
		return 0;
	case OPT_HELP:
		cfg->help = true;
		return 0;
	}
	return dl_errf(err, errlen, "internal: unknown option key %d", key);
}

static const struct dl_app_opt *find_opt(const struct dl_app_opt *opts, unsigned n,
					 const char *name, size_t name_len)
{
	for (unsigned i = 0; i < n; i++)
		if (strlen(opts[i].name) == name_len && strncmp(opts[i].name, name, name_len) == 0)
			return &opts[i];
	return NULL;
}

/* The name of the first common option given in `mask`. */
static const char *first_given(const struct dl_config *cfg, uint32_t mask)
{
	for (unsigned i = 0; i < N_COMMON; i++)
		if ((cfg->given & mask) >> common_opts[i].key & 1)
			return common_opts[i].name;
	return "?";
}

/* Protected mode, both sides. */
static int check_protected(const struct dl_config *cfg, char *err, size_t errlen)
{
	if (cfg->attach != NULL) {
		if (cfg->service)
			return dl_errf(err, errlen,
				       "--attach is for applications, not for the service");
		if (cfg->given & SERVICE_SIDE)
			return dl_errf(
			    err, errlen,
			    "--%s is the service's option: an application attached with "
			    "--attach gets the port, the address and the network cores from "
			    "dlibosd (give it --app-cores, --idle, --log-level and its own "
			    "options)",
			    first_given(cfg, SERVICE_SIDE));
		return 0;
	}
	if (cfg->given & (1u << OPT_APP_CORES))
		return dl_errf(err, errlen, "--app-cores applies to --attach (protected mode)");
	if (cfg->service &&
	    (cfg->given & ((1u << OPT_MODE) | (1u << OPT_LAYOUT) | (1u << OPT_DISPATCH))))
		return dl_errf(
		    err, errlen,
		    "--%s does not apply to dlibosd: every lcore is a network core and the "
		    "application cores are in the attached processes",
		    first_given(cfg, (1u << OPT_MODE) | (1u << OPT_LAYOUT) | (1u << OPT_DISPATCH)));
	return 1; /* not attached: the other checks apply */
}

/* Cross-option checks once everything is parsed. */
static int check_config(const struct dl_config *cfg, char *err, size_t errlen)
{
	int rc = check_protected(cfg, err, errlen);

	if (rc <= 0)
		return rc;
	if (cfg->ip == 0)
		return dl_errf(err, errlen, "--ip A.B.C.D/NN is required");
	if (cfg->gw != 0) {
		uint32_t mask = prefix_mask(cfg->prefix_len);
		if (cfg->gw == cfg->ip)
			return dl_errf(err, errlen, "--gw is our own address (--ip)");
		if ((cfg->gw & mask) != (cfg->ip & mask))
			return dl_errf(err, errlen, "--gw is not inside the --ip subnet (/%u)",
				       cfg->prefix_len);
	}
	if (cfg->net_cores != 0 && cfg->mode != DL_MODE_DLIBOS && !cfg->service)
		return dl_errf(err, errlen,
			       "--net-cores applies to --mode dlibos (in rtc mode every lcore is a "
			       "net core)");
	if (cfg->capture == NULL &&
	    (cfg->given & ((1u << OPT_SNAPLEN) | (1u << OPT_CAPTURE_FRAMES))) != 0)
		return dl_errf(err, errlen, "--%s applies to --capture FILE",
			       first_given(cfg, (1u << OPT_SNAPLEN) | (1u << OPT_CAPTURE_FRAMES)));
	return 0;
}

enum dl_parse_result dl_config_parse(struct dl_config *cfg, int argc, char *const argv[],
				     const struct dl_app_args *app, char *err, size_t errlen)
{
	const struct dl_app_opt *app_opts = app != NULL ? app->opts : NULL;
	unsigned n_app = app != NULL && app->opts != NULL ? app->n_opts : 0;

	if (errlen > 0)
		err[0] = '\0';
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *name, *eq, *value = NULL;
		const struct dl_app_opt *o;
		bool common;
		size_t name_len;

		if (strcmp(a, "-h") == 0) {
			cfg->help = true;
			continue;
		}
		if (strncmp(a, "--", 2) != 0 || a[2] == '\0')
			return dl_errf(err, errlen,
				       "unexpected argument '%s' (options start with --)", a);
		name = a + 2;
		eq = strchr(name, '=');
		name_len = eq != NULL ? (size_t)(eq - name) : strlen(name);
		o = find_opt(common_opts, N_COMMON, name, name_len);
		common = o != NULL;
		if (o == NULL)
			o = find_opt(app_opts, n_app, name, name_len);
		if (o == NULL)
			return dl_errf(err, errlen, "unknown option '--%.*s'", (int)name_len, name);
		if (o->arg_name == NULL) {
			if (eq != NULL)
				return dl_errf(err, errlen, "option '--%s' takes no value",
					       o->name);
		} else if (eq != NULL) {
			value = eq + 1;
		} else if (i + 1 < argc) {
			value = argv[++i];
		} else {
			return dl_errf(err, errlen, "option '--%s' needs a value (%s)", o->name,
				       o->arg_name);
		}
		if (o->arg_name != NULL && *value == '\0')
			return dl_errf(err, errlen, "option '--%s' has an empty value", o->name);
		if (common) {
			if (apply_common(cfg, o->key, value, err, errlen) != 0)
				return DL_PARSE_ERROR;
			cfg->given |= 1u << o->key;
		} else if (app->handle == NULL ||
			   app->handle(app->arg, o->key, value, err, errlen) != 0) {
			if (errlen > 0 && err[0] == '\0')
				dl_errf(err, errlen, "bad value for '--%s'", o->name);
			return DL_PARSE_ERROR;
		}
	}
	if (cfg->help)
		return DL_PARSE_HELP;
	if (check_config(cfg, err, errlen) != 0)
		return DL_PARSE_ERROR;
	if (app != NULL && app->check != NULL && app->check(app->arg, err, errlen) != 0) {
		if (errlen > 0 && err[0] == '\0')
			dl_errf(err, errlen, "bad application arguments");
		return DL_PARSE_ERROR;
	}
	return DL_PARSE_OK;
}

static void print_opts(FILE *f, const struct dl_app_opt *opts, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		char left[64];

		if (opts[i].arg_name != NULL)
			snprintf(left, sizeof(left), "--%s %s", opts[i].name, opts[i].arg_name);
		else
			snprintf(left, sizeof(left), "--%s", opts[i].name);
		if (strlen(left) <= 26)
			fprintf(f, "  %-26s %s\n", left, opts[i].help);
		else
			fprintf(f, "  %s\n  %-26s %s\n", left, "", opts[i].help);
	}
}

void dl_config_usage(FILE *f, const struct dl_app_args *app)
{
	const char *prog = app != NULL && app->prog != NULL ? app->prog : "dlibos-app";

	fprintf(f, "Usage: %s [EAL options] -- --ip A.B.C.D/NN [options]\n", prog);
	if (strcmp(prog, "dlibosd") != 0)
		fprintf(f, "   or: %s --attach PATH [--app-cores N] [options]   (protected mode)\n",
			prog);
	if (app != NULL && app->summary != NULL)
		fprintf(f, "%s\n", app->summary);
	fprintf(f, "\nEAL options (before --) are DPDK's; always name the device, e.g.\n"
		   "  -l 0-1 --no-pci --no-huge -m 512 --in-memory --vdev=net_tap0,iface=dl0\n"
		   "\nCommon options (after --):\n");
	print_opts(f, common_opts, N_COMMON);
	if (app != NULL && app->opts != NULL && app->n_opts > 0) {
		fprintf(f, "\n%s options:\n", prog);
		print_opts(f, app->opts, app->n_opts);
	}
	fprintf(f, "\nSignals: SIGINT/SIGTERM stop cleanly, SIGUSR1 prints the counters.\n");
}

void dl_config_parse_or_exit(struct dl_config *cfg, int argc, char *const argv[],
			     const struct dl_app_args *app)
{
	char err[256];
	const char *prog = app != NULL && app->prog != NULL ? app->prog : "dlibos-app";

	switch (dl_config_parse(cfg, argc, argv, app, err, sizeof(err))) {
	case DL_PARSE_OK:
		return;
	case DL_PARSE_HELP:
		dl_config_usage(stdout, app);
		exit(0);
	case DL_PARSE_ERROR:
		fprintf(stderr, "%s: error: %s\n\n", prog, err);
		dl_config_usage(stderr, app);
		exit(2);
	}
}
