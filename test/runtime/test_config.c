/*
 * test_config.c - the common argument parser (lib/config.c): every option,
 * every error path with its message, the application hook, the exit codes
 * of dl_config_parse_or_exit, the argv split, and the idle policy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dl_config.h"
#include "dl_runtime.h"
#include "dlibos/dlibos.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))

/* --- an application with its own options (like httpd) ------------------- */

enum { APP_ROOT = 100, APP_PORT, APP_VERBOSE };

struct app_state {
	const char *root;
	int port;
	bool verbose;
	bool require_root;
};

static int app_handle(void *arg, int key, const char *value, char *err, size_t errlen)
{
	struct app_state *a = arg;

	switch (key) {
	case APP_ROOT:
		a->root = value;
		return 0;
	case APP_PORT:
		a->port = atoi(value);
		if (a->port <= 0 || a->port > 65535) {
			snprintf(err, errlen, "--port '%s': expected 1..65535", value);
			return -1;
		}
		return 0;
	case APP_VERBOSE:
		a->verbose = true;
		return 0;
	}
	return -1; /* no message: the parser supplies one */
}

static int app_check(void *arg, char *err, size_t errlen)
{
	struct app_state *a = arg;

	if (a->require_root && a->root == NULL) {
		snprintf(err, errlen, "--root DIR is required");
		return -1;
	}
	return 0;
}

static const struct dl_app_opt app_opts[] = {
    {"root", "DIR", "document root", APP_ROOT},
    {"port", "P", "TCP port", APP_PORT},
    {"verbose", NULL, "say more", APP_VERBOSE},
    {"broken", "X", "handler fails without a message", 999},
};

static struct app_state app_st;
static struct dl_app_args app = {
    .prog = "test-app",
    .summary = "a test application",
    .opts = app_opts,
    .n_opts = 4,
    .handle = app_handle,
    .arg = &app_st,
    .check = app_check,
};

/* --- helpers ------------------------------------------------------------- */

static struct dl_config cfg;
static char err[256];

/* Parse a NULL-terminated list of arguments (argv[0] added). */
static enum dl_parse_result parse_v(const struct dl_app_args *a, const char *first, va_list ap)
{
	char *argv[64];
	int argc = 0;

	argv[argc++] = (char *)"--";
	for (const char *s = first; s != NULL; s = va_arg(ap, const char *))
		argv[argc++] = (char *)s;
	dl_config_defaults(&cfg);
	memset(&app_st, 0, sizeof(app_st));
	return dl_config_parse(&cfg, argc, argv, a, err, sizeof(err));
}

static enum dl_parse_result parse(const char *first, ...)
{
	va_list ap;
	enum dl_parse_result r;

	va_start(ap, first);
	r = parse_v(NULL, first, ap);
	va_end(ap);
	return r;
}

static enum dl_parse_result parse_app(const char *first, ...)
{
	va_list ap;
	enum dl_parse_result r;

	va_start(ap, first);
	r = parse_v(&app, first, ap);
	va_end(ap);
	return r;
}

/* The parse must fail and the message must contain `needle`. */
#define assert_error(needle, ...)                                                                  \
	do {                                                                                       \
		assert_int_equal(parse(__VA_ARGS__, NULL), DL_PARSE_ERROR);                        \
		if (strstr(err, needle) == NULL)                                                   \
			fail_msg("error '%s' does not mention '%s'", err, needle);                 \
	} while (0)

#define assert_app_error(needle, ...)                                                              \
	do {                                                                                       \
		assert_int_equal(parse_app(__VA_ARGS__, NULL), DL_PARSE_ERROR);                    \
		if (strstr(err, needle) == NULL)                                                   \
			fail_msg("error '%s' does not mention '%s'", err, needle);                 \
	} while (0)

/* --- good arguments ------------------------------------------------------ */

static void test_minimal(void **state)
{
	(void)state;
	assert_int_equal(parse("--ip", "10.0.0.2/24", NULL), DL_PARSE_OK);
	assert_int_equal(cfg.ip, IP(10, 0, 0, 2));
	assert_int_equal(cfg.prefix_len, 24);
	assert_int_equal(cfg.gw, 0);
	assert_int_equal(cfg.mode, DL_MODE_RTC);
	assert_int_equal(cfg.idle, DL_IDLE_AUTO);
	assert_int_equal(cfg.layout, DL_LAYOUT_NAIVE);
	assert_int_equal(cfg.dispatch, DL_DISPATCH_RR);
	assert_false(cfg.impair_on);
	assert_int_equal(cfg.port_id, 0);
	assert_int_equal(cfg.log_level, -1);
	assert_false(cfg.stats_all);
	assert_int_equal(cfg.tx_copy, 0); /* the engine's default */
}

static void test_every_option(void **state)
{
	(void)state;
	assert_int_equal(
	    parse("--ip=192.168.1.10/16", "--gw", "192.168.0.1", "--mode", "dlibos", "--net-cores",
		  "3", "--idle", "pause", "--layout", "quadrant-dedicated",
		  "--dispatch=least-loaded", "--impair",
		  "loss=0.01,reorder=0.02,dup=0.005,corrupt=0.001,delay_us=250,seed=42",
		  "--port-id", "1", "--rx-desc", "512", "--tx-desc=2048", "--rx-bufs", "4096",
		  "--no-hw-offload", "--stats-all", "--log-level", "debug", "--tx-copy-kb", "512",
		  NULL),
	    DL_PARSE_OK);
	assert_int_equal(cfg.ip, IP(192, 168, 1, 10));
	assert_int_equal(cfg.prefix_len, 16);
	assert_int_equal(cfg.gw, IP(192, 168, 0, 1));
	assert_int_equal(cfg.mode, DL_MODE_DLIBOS);
	assert_int_equal(cfg.net_cores, 3);
	assert_int_equal(cfg.idle, DL_IDLE_PAUSE);
	assert_int_equal(cfg.layout, DL_LAYOUT_QUADRANT_DEDICATED);
	assert_int_equal(cfg.dispatch, DL_DISPATCH_LEAST_LOADED);
	assert_true(cfg.impair_on);
	assert_true(cfg.impair.loss == 0.01);
	assert_true(cfg.impair.reorder == 0.02);
	assert_true(cfg.impair.dup == 0.005);
	assert_true(cfg.impair.corrupt == 0.001);
	assert_int_equal(cfg.impair.delay_us, 250);
	assert_int_equal(cfg.impair.seed, 42);
	assert_int_equal(cfg.port_id, 1);
	assert_int_equal(cfg.rx_desc, 512);
	assert_int_equal(cfg.tx_desc, 2048);
	assert_int_equal(cfg.rx_bufs, 4096);
	assert_true(cfg.no_hw_offload);
	assert_true(cfg.stats_all);
	assert_int_equal(cfg.log_level, 3);
	assert_int_equal(cfg.tx_copy, 512 * 1024);
}

static void test_enum_values(void **state)
{
	(void)state;
	assert_int_equal(parse("--ip", "10.0.0.2/24", "--idle", "poll", NULL), DL_PARSE_OK);
	assert_int_equal(cfg.idle, DL_IDLE_POLL);
	assert_int_equal(parse("--ip", "10.0.0.2/24", "--idle", "sleep", NULL), DL_PARSE_OK);
	assert_int_equal(cfg.idle, DL_IDLE_SLEEP);
	assert_int_equal(parse("--ip", "10.0.0.2/24", "--layout", "quadrant-all", NULL),
			 DL_PARSE_OK);
	assert_int_equal(cfg.layout, DL_LAYOUT_QUADRANT_ALL);
	assert_int_equal(parse("--ip", "10.0.0.2/24", "--mode", "rtc", NULL), DL_PARSE_OK);
	assert_int_equal(cfg.mode, DL_MODE_RTC);
	assert_int_equal(parse("--ip", "10.0.0.2/24", "--log-level", "err", NULL), DL_PARSE_OK);
	assert_int_equal(cfg.log_level, 0);
	assert_string_equal(dl_mode_name(DL_MODE_DLIBOS), "dlibos");
	assert_string_equal(dl_idle_name(DL_IDLE_SLEEP), "sleep");
	assert_string_equal(dl_layout_name(DL_LAYOUT_QUADRANT_ALL), "quadrant-all");
	assert_string_equal(dl_dispatch_name(DL_DISPATCH_LEAST_LOADED), "least-loaded");
}

static void test_point_to_point_prefixes(void **state)
{
	(void)state;
	/* /31 and /32 have no network or broadcast address to refuse. */
	assert_int_equal(parse("--ip", "10.0.0.0/31", NULL), DL_PARSE_OK);
	assert_int_equal(parse("--ip", "10.0.0.255/32", NULL), DL_PARSE_OK);
	assert_int_equal(cfg.prefix_len, 32);
}

static void test_help(void **state)
{
	(void)state;
	/* --help wins over a missing --ip. */
	assert_int_equal(parse("--help", NULL), DL_PARSE_HELP);
	assert_int_equal(parse("-h", NULL), DL_PARSE_HELP);
	assert_int_equal(parse("--ip", "10.0.0.2/24", "--help", NULL), DL_PARSE_HELP);
	/* A bad argument before --help is still reported. */
	assert_int_equal(parse("--bogus", "--help", NULL), DL_PARSE_ERROR);
}

static void test_last_value_wins(void **state)
{
	(void)state;
	assert_int_equal(parse("--ip", "10.0.0.2/24", "--ip", "10.1.0.3/16", NULL), DL_PARSE_OK);
	assert_int_equal(cfg.ip, IP(10, 1, 0, 3));
	assert_int_equal(cfg.prefix_len, 16);
}

/* --- syntax errors ------------------------------------------------------- */

static void test_err_syntax(void **state)
{
	(void)state;
	assert_error("unexpected argument 'foo'", "foo");
	assert_error("unexpected argument '-x'", "-x");
	assert_error("unexpected argument '--'", "--");
	assert_error("unknown option '--bogus'", "--ip", "10.0.0.2/24", "--bogus");
	assert_error("unknown option '--ipx'", "--ipx=1");
	assert_error("'--stats-all' takes no value", "--ip", "10.0.0.2/24", "--stats-all=1");
	assert_error("'--help' takes no value", "--help=yes");
	assert_error("'--gw' needs a value", "--ip", "10.0.0.2/24", "--gw");
	assert_error("'--ip' has an empty value", "--ip=");
	assert_error("'--ip' has an empty value", "--ip", "");
}

/* --- --ip and --gw ------------------------------------------------------- */

static void test_err_ip(void **state)
{
	(void)state;
	assert_error("--ip A.B.C.D/NN is required", "--stats-all");
	assert_error("prefix length missing", "--ip", "10.0.0.2");
	assert_error("is not an IPv4 address", "--ip", "10.0.0/24");
	assert_error("is not an IPv4 address", "--ip", "10.0.0.256/24");
	assert_error("is not an IPv4 address", "--ip", "host/24");
	assert_error("prefix length must be 1..32", "--ip", "10.0.0.2/0");
	assert_error("prefix length must be 1..32", "--ip", "10.0.0.2/33");
	assert_error("prefix length must be 1..32", "--ip", "10.0.0.2/");
	assert_error("prefix length must be 1..32", "--ip", "10.0.0.2/2x");
	assert_error("prefix length must be 1..32", "--ip", "10.0.0.2/-1");
	assert_error("not a usable unicast address", "--ip", "0.0.0.0/8");
	assert_error("not a usable unicast address", "--ip", "127.0.0.1/8");
	assert_error("not a usable unicast address", "--ip", "224.0.0.1/24");
	assert_error("not a usable unicast address", "--ip", "255.255.255.255/24");
	assert_error("network address", "--ip", "10.0.0.0/24");
	assert_error("broadcast address", "--ip", "10.0.0.255/24");
	assert_error("too long", "--ip",
		     "10.0.0.2/24aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
}

static void test_err_gw(void **state)
{
	(void)state;
	assert_error("--gw '10.0.0': not an IPv4 address", "--ip", "10.0.0.2/24", "--gw", "10.0.0");
	assert_error("not an IPv4 address", "--ip", "10.0.0.2/24", "--gw", "0.0.0.0");
	assert_error("not inside the --ip subnet", "--ip", "10.0.0.2/24", "--gw", "10.0.1.1");
	assert_error("our own address", "--ip", "10.0.0.2/24", "--gw", "10.0.0.2");
}

/* --- the other common options -------------------------------------------- */

static void test_err_enums(void **state)
{
	(void)state;
	assert_error("--mode 'fast': expected rtc|dlibos", "--ip", "10.0.0.2/24", "--mode", "fast");
	assert_error("--idle 'auto': expected poll|pause|sleep", "--ip", "10.0.0.2/24", "--idle",
		     "auto");
	assert_error("--layout 'x': expected naive|quadrant-all|quadrant-dedicated", "--ip",
		     "10.0.0.2/24", "--layout", "x");
	assert_error("--dispatch 'random': expected rr|least-loaded", "--ip", "10.0.0.2/24",
		     "--dispatch", "random");
	assert_error("--log-level 'loud': expected err|warn|info|debug", "--ip", "10.0.0.2/24",
		     "--log-level", "loud");
}

static void test_err_numbers(void **state)
{
	(void)state;
	char msg[80], big[16];

	snprintf(msg, sizeof(msg), "--net-cores '0': expected an integer in 1..%d",
		 DL_MAX_CORES - 1);
	assert_error(msg, "--ip", "10.0.0.2/24", "--mode", "dlibos", "--net-cores", "0");
	snprintf(big, sizeof(big), "%d", DL_MAX_CORES);
	snprintf(msg, sizeof(msg), "--net-cores '%d'", DL_MAX_CORES);
	assert_error(msg, "--ip", "10.0.0.2/24", "--mode", "dlibos", "--net-cores", big);
	assert_error("--net-cores 'two'", "--ip", "10.0.0.2/24", "--mode", "dlibos", "--net-cores",
		     "two");
	assert_error("--net-cores '-1'", "--ip", "10.0.0.2/24", "--mode", "dlibos", "--net-cores",
		     "-1");
	assert_error("--net-cores applies to --mode dlibos", "--ip", "10.0.0.2/24", "--net-cores",
		     "1");
	assert_error("--port-id 'eth0'", "--ip", "10.0.0.2/24", "--port-id", "eth0");
	assert_error("--port-id '65535'", "--ip", "10.0.0.2/24", "--port-id", "65535");
	assert_error("--rx-desc '16': expected an integer in 32..32768", "--ip", "10.0.0.2/24",
		     "--rx-desc", "16");
	assert_error("--tx-desc '99999'", "--ip", "10.0.0.2/24", "--tx-desc", "99999");
	assert_error("--rx-bufs '100': expected an integer in 512..", "--ip", "10.0.0.2/24",
		     "--rx-bufs", "100");
	assert_error("--tx-copy-kb '32': expected an integer in 64..", "--ip", "10.0.0.2/24",
		     "--tx-copy-kb", "32");
	assert_error("--tx-copy-kb '4k'", "--ip", "10.0.0.2/24", "--tx-copy-kb", "4k");
	assert_error("--rx-desc '1e3'", "--ip", "10.0.0.2/24", "--rx-desc", "1e3");
	assert_error("--rx-desc '99999999999999999999999'", "--ip", "10.0.0.2/24", "--rx-desc",
		     "99999999999999999999999");
}

/* --- --capture ------------------------------------------------------------ */

static void test_capture_options(void **state)
{
	(void)state;
	assert_int_equal(parse("--ip", "10.0.0.2/24", NULL), DL_PARSE_OK);
	assert_null(cfg.capture);
	assert_int_equal(cfg.capture_snaplen, 0);
	assert_int_equal(cfg.capture_frames, 0);
	assert_int_equal(parse("--ip", "10.0.0.2/24", "--capture", "/tmp/x.pcapng", "--snaplen",
			       "128", "--capture-frames=1000", NULL),
			 DL_PARSE_OK);
	assert_string_equal(cfg.capture, "/tmp/x.pcapng");
	assert_int_equal(cfg.capture_snaplen, 128);
	assert_int_equal(cfg.capture_frames, 1000);
	assert_error("--snaplen applies to --capture FILE", "--ip", "10.0.0.2/24", "--snaplen",
		     "128");
	assert_error("--capture-frames applies to --capture FILE", "--ip", "10.0.0.2/24",
		     "--capture-frames", "5");
	assert_error("--snaplen '63': expected an integer in 64..262144", "--ip", "10.0.0.2/24",
		     "--capture", "/x", "--snaplen", "63");
	assert_error("--snaplen '262145'", "--ip", "10.0.0.2/24", "--capture", "/x", "--snaplen",
		     "262145");
	assert_error("--capture-frames '0'", "--ip", "10.0.0.2/24", "--capture", "/x",
		     "--capture-frames", "0");
	assert_error("option '--capture' has an empty value", "--ip", "10.0.0.2/24", "--capture=");
	/* The service captures; an attached application cannot. */
	assert_error("--capture is the service's option", "--attach", "/run/x.sock", "--capture",
		     "/x");
}

/* --- --impair ------------------------------------------------------------ */

static void test_impair_subset(void **state)
{
	(void)state;
	assert_int_equal(parse("--ip", "10.0.0.2/24", "--impair", "loss=1", NULL), DL_PARSE_OK);
	assert_true(cfg.impair_on);
	assert_true(cfg.impair.loss == 1.0);
	assert_true(cfg.impair.dup == 0.0);
	assert_int_equal(cfg.impair.seed, 0);
	assert_int_equal(
	    parse("--ip", "10.0.0.2/24", "--impair", "seed=18446744073709551615,dup=0", NULL),
	    DL_PARSE_OK);
	assert_true(cfg.impair.seed == UINT64_MAX);
}

static void test_err_impair(void **state)
{
	(void)state;
	assert_error("'loss' is not key=value", "--ip", "10.0.0.2/24", "--impair", "loss");
	assert_error("unknown key 'jitter'", "--ip", "10.0.0.2/24", "--impair", "jitter=5");
	assert_error("loss='1.5' must be a fraction", "--ip", "10.0.0.2/24", "--impair",
		     "loss=1.5");
	assert_error("reorder='-0.1' must be a fraction", "--ip", "10.0.0.2/24", "--impair",
		     "reorder=-0.1");
	assert_error("dup='x' must be a fraction", "--ip", "10.0.0.2/24", "--impair", "dup=x");
	assert_error("corrupt='' must be a fraction", "--ip", "10.0.0.2/24", "--impair",
		     "corrupt=");
	assert_error("corrupt='nan' must be a fraction", "--ip", "10.0.0.2/24", "--impair",
		     "corrupt=nan");
	assert_error("delay_us='-5' must be 0..10000000", "--ip", "10.0.0.2/24", "--impair",
		     "delay_us=-5");
	assert_error("delay_us='20000000'", "--ip", "10.0.0.2/24", "--impair", "delay_us=20000000");
	assert_error("seed='abc' must be an unsigned integer", "--ip", "10.0.0.2/24", "--impair",
		     "seed=abc");
	assert_error(
	    "specification too long", "--ip", "10.0.0.2/24", "--impair",
	    "loss=0.000000000000000000000000000000000000000000000000000000000000000000000000"
	    "0000000000000000000000000000000000000000000000000000000000000000000000000000"
	    "0000000000000000000000000000000000000000000000000000000000000000000000000000"
	    "0000000000000000000000000000000000000000000000000000000000000000000000000000"
	    "0000000000000000000000000000000000000000000000000000000000000000000000000000"
	    "0000000000000000000000000000000000000000000000000000000000000000000000000000"
	    "0000000000000000000000000000000000000000000000000000000000000000001");
}

/* --- --tcp --------------------------------------------------------------- */

static void test_tcp_opts(void **state)
{
	(void)state;
	assert_int_equal(parse("--ip", "10.0.0.2/24", NULL), DL_PARSE_OK);
	assert_int_equal(cfg.tcp.set, 0); /* nothing given: the stack's defaults */
	assert_int_equal(
	    parse("--ip", "10.0.0.2/24", "--tcp",
		  "syn_backlog=4096,accept_backlog=512,max_conns=200000,rcv_wnd=1048576,"
		  "delack_us=0,keepalive_s=60,rto_min_ms=5,syn_cookies=0,timestamps=0,"
		  "cc=newreno,sack=0,tlp=0,hystart=0,slow_start_after_idle=0,sack_pool=7,"
		  "time_wait_max=100,tw_reuse=0,ooo_core_bufs=300,app_rx_bufs=900,tlp_delack_ms=20,"
		  "pacing=all,ecn=accept",
		  NULL),
	    DL_PARSE_OK);
	assert_int_equal(cfg.tcp.set, (1u << DL_TCPO_NKEYS) - 1);
	assert_int_equal(cfg.tcp.syn_backlog, 4096);
	assert_int_equal(cfg.tcp.accept_backlog, 512);
	assert_int_equal(cfg.tcp.max_conns, 200000);
	assert_int_equal(cfg.tcp.rcv_wnd, 1048576);
	assert_int_equal(cfg.tcp.delack_us, 0);
	assert_int_equal(cfg.tcp.keepalive_s, 60);
	assert_int_equal(cfg.tcp.rto_min_ms, 5);
	assert_false(cfg.tcp.syn_cookies);
	assert_false(cfg.tcp.timestamps);
	assert_int_equal(cfg.tcp.cc, 0); /* newreno */
	assert_false(cfg.tcp.sack);
	assert_false(cfg.tcp.tlp);
	assert_false(cfg.tcp.hystart);
	assert_false(cfg.tcp.slow_start_after_idle);
	assert_int_equal(cfg.tcp.sack_pool, 7);
	assert_int_equal(cfg.tcp.time_wait_max, 100);
	assert_false(cfg.tcp.tw_reuse);
	assert_int_equal(cfg.tcp.ooo_core_bufs, 300);
	assert_int_equal(cfg.tcp.app_rx_bufs, 900);
	assert_int_equal(cfg.tcp.tlp_delack_ms, 20);
	assert_int_equal(cfg.tcp.pacing, 2); /* all */
	assert_int_equal(cfg.tcp.ecn, 1);    /* accept */
	assert_int_equal(parse("--ip", "10.0.0.2/24", "--tcp", "pacing=off", NULL), DL_PARSE_OK);
	assert_int_equal(cfg.tcp.pacing, 0);
	assert_int_equal(cfg.tcp.set, 1u << DL_TCPO_PACING);
	assert_int_equal(parse("--ip", "10.0.0.2/24", "--tcp", "ecn=on", NULL), DL_PARSE_OK);
	assert_int_equal(cfg.tcp.ecn, 2);
	assert_int_equal(cfg.tcp.set, 1u << DL_TCPO_ECN);
	assert_int_equal(parse("--ip", "10.0.0.2/24", "--tcp", "ecn=off", NULL), DL_PARSE_OK);
	assert_int_equal(cfg.tcp.ecn, 0);
	assert_int_equal(parse("--ip", "10.0.0.2/24", "--tcp", "ecn=2", NULL), DL_PARSE_ERROR);
	assert_int_equal(parse("--ip", "10.0.0.2/24", "--tcp", "cc=cubic", NULL), DL_PARSE_OK);
	assert_int_equal(cfg.tcp.cc, 1);
	assert_int_equal(cfg.tcp.set, 1u << DL_TCPO_CC);
	assert_int_equal(parse("--ip", "10.0.0.2/24", "--tcp", "cc=bbr", NULL), DL_PARSE_OK);
	assert_int_equal(cfg.tcp.cc, 2);
	/* A subset, and the last of a key given twice. */
	assert_int_equal(parse("--ip", "10.0.0.2/24", "--tcp", "syn_cookies=1", "--tcp",
			       "syn_backlog=8,syn_backlog=16", NULL),
			 DL_PARSE_OK);
	assert_int_equal(cfg.tcp.set, 1u << DL_TCPO_SYN_COOKIES | 1u << DL_TCPO_SYN_BACKLOG);
	assert_true(cfg.tcp.syn_cookies);
	assert_int_equal(cfg.tcp.syn_backlog, 16);
}

static void test_err_tcp(void **state)
{
	(void)state;
	assert_error("option '--tcp' has an empty value", "--ip", "10.0.0.2/24", "--tcp", "");
	assert_error("'syn_cookies' is not key=value", "--ip", "10.0.0.2/24", "--tcp",
		     "syn_cookies");
	assert_error("unknown key 'nagle'", "--ip", "10.0.0.2/24", "--tcp", "nagle=1");
	assert_error("cc='vegas' must be newreno|cubic|bbr", "--ip", "10.0.0.2/24", "--tcp",
		     "cc=vegas");
	assert_error("pacing='fq' must be off|bbr|all", "--ip", "10.0.0.2/24", "--tcp", "pacing=fq");
	assert_error("ooo_core_bufs='8' must be 16..4194304", "--ip", "10.0.0.2/24", "--tcp",
		     "ooo_core_bufs=8");
	assert_error("syn_cookies='2' must be 0..1", "--ip", "10.0.0.2/24", "--tcp",
		     "syn_cookies=2");
	assert_error("syn_backlog='0' must be 1..1048576", "--ip", "10.0.0.2/24", "--tcp",
		     "syn_backlog=0");
	assert_error("max_conns='63' must be 64..16777216", "--ip", "10.0.0.2/24", "--tcp",
		     "max_conns=63");
	assert_error("keepalive_s='4295' must be 0..4294", "--ip", "10.0.0.2/24", "--tcp",
		     "keepalive_s=4295");
	assert_error("rcv_wnd='-1'", "--ip", "10.0.0.2/24", "--tcp", "rcv_wnd=-1");
}

static void test_impair_parse_direct(void **state)
{
	struct dl_impair_config ic = {0};
	char e[128];

	(void)state;
	assert_int_equal(dl_impair_parse(&ic, "", e, sizeof(e)), -1);
	assert_non_null(strstr(e, "empty specification"));
	assert_int_equal(dl_impair_parse(&ic, NULL, e, sizeof(e)), -1);
	/* A failed parse leaves the previous configuration alone. */
	assert_int_equal(dl_impair_parse(&ic, "loss=0.5", e, sizeof(e)), 0);
	assert_int_equal(dl_impair_parse(&ic, "loss=0.25,dup=2", e, sizeof(e)), -1);
	assert_true(ic.loss == 0.5);
	assert_false(dl_impair_active(&(struct dl_impair_config){.seed = 7}));
	assert_true(dl_impair_active(&(struct dl_impair_config){.delay_us = 1}));
}

/* --- application options ------------------------------------------------- */

static void test_app_options(void **state)
{
	(void)state;
	assert_int_equal(
	    parse_app("--ip", "10.0.0.2/24", "--root", "/srv", "--port=8080", "--verbose", NULL),
	    DL_PARSE_OK);
	assert_string_equal(app_st.root, "/srv");
	assert_int_equal(app_st.port, 8080);
	assert_true(app_st.verbose);
	/* Without the app table its options are unknown. */
	assert_error("unknown option '--root'", "--ip", "10.0.0.2/24", "--root", "/srv");
}

static void test_err_app(void **state)
{
	(void)state;
	assert_app_error("--port 'http': expected 1..65535", "--ip", "10.0.0.2/24", "--port",
			 "http");
	assert_app_error("'--root' needs a value (DIR)", "--ip", "10.0.0.2/24", "--root");
	assert_app_error("'--verbose' takes no value", "--ip", "10.0.0.2/24", "--verbose=1");
	assert_app_error("bad value for '--broken'", "--ip", "10.0.0.2/24", "--broken", "1");
	/* The common check runs before the application's. */
	assert_app_error("--ip A.B.C.D/NN is required", "--root", "/srv");
}

static void test_err_app_check(void **state)
{
	char *argv[] = {(char *)"--", (char *)"--ip", (char *)"10.0.0.2/24"};

	(void)state;
	dl_config_defaults(&cfg);
	memset(&app_st, 0, sizeof(app_st));
	app_st.require_root = true;
	assert_int_equal(dl_config_parse(&cfg, 3, argv, &app, err, sizeof(err)), DL_PARSE_ERROR);
	assert_string_equal(err, "--root DIR is required");
}

static void test_usage_lists_everything(void **state)
{
	char buf[8192];
	FILE *f = fmemopen(buf, sizeof(buf), "w");

	(void)state;
	assert_non_null(f);
	dl_config_usage(f, &app);
	fclose(f);
	assert_non_null(strstr(buf, "Usage: test-app [EAL options] -- --ip A.B.C.D/NN"));
	assert_non_null(strstr(buf, "a test application"));
	assert_non_null(strstr(buf, "--no-pci"));
	const char *must[] = {"--ip",
			      "--gw",
			      "--mode",
			      "--net-cores",
			      "--idle",
			      "--layout",
			      "--dispatch",
			      "--impair",
			      "--port-id",
			      "--rx-desc",
			      "--tx-desc",
			      "--rx-bufs",
			      "--no-hw-offload",
			      "--stats-all",
			      "--log-level",
			      "--tx-copy-kb KB",
			      "--help",
			      "test-app options",
			      "--root DIR",
			      "--port P",
			      "--verbose"};
	for (unsigned i = 0; i < sizeof(must) / sizeof(must[0]); i++)
		if (strstr(buf, must[i]) == NULL)
			fail_msg("usage lacks '%s'", must[i]);
}

/* --- exit codes of dl_config_parse_or_exit -------------------------------- */

static int exit_code_of(int argc, char **argv)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		struct dl_config c;
		dup2(devnull, 1);
		dup2(devnull, 2);
		dl_config_defaults(&c);
		dl_config_parse_or_exit(&c, argc, argv, &app);
		_exit(77); /* parsed fine: returned */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void test_parse_or_exit_codes(void **state)
{
	char *ok[] = {(char *)"--", (char *)"--ip", (char *)"10.0.0.2/24"};
	char *bad[] = {(char *)"--", (char *)"--ip", (char *)"10.0.0.2"};
	char *help[] = {(char *)"--", (char *)"--help"};

	(void)state;
	memset(&app_st, 0, sizeof(app_st));
	assert_int_equal(exit_code_of(3, ok), 77);
	assert_int_equal(exit_code_of(3, bad), 2);
	assert_int_equal(exit_code_of(2, help), 0);
}

/* --- argv split ----------------------------------------------------------- */

static void test_split_args(void **state)
{
	char *with[] = {(char *)"prog", (char *)"-l",	       (char *)"0", (char *)"--",
			(char *)"--ip", (char *)"10.0.0.2/24", (char *)"--"};
	char *without[] = {(char *)"prog", (char *)"-l", (char *)"0"};
	int n;

	(void)state;
	assert_true(dl_runtime_split_args(7, with, &n));
	assert_int_equal(n, 3); /* the first "--" splits; a later one is the app's */
	assert_false(dl_runtime_split_args(3, without, &n));
	assert_int_equal(n, 3);
}

/* --- idle policy ---------------------------------------------------------- */

static void test_idle_resolve(void **state)
{
	(void)state;
	assert_int_equal(dl_idle_resolve(DL_IDLE_AUTO, true), DL_IDLE_POLL);
	assert_int_equal(dl_idle_resolve(DL_IDLE_AUTO, false), DL_IDLE_SLEEP);
	assert_int_equal(dl_idle_resolve(DL_IDLE_PAUSE, false), DL_IDLE_PAUSE);
	assert_int_equal(dl_idle_resolve(DL_IDLE_POLL, false), DL_IDLE_POLL);
	assert_int_equal(dl_idle_resolve(DL_IDLE_SLEEP, true), DL_IDLE_SLEEP);
}

static void test_idle_poll_and_pause(void **state)
{
	struct dl_idle s;

	(void)state;
	dl_idle_init(&s, DL_IDLE_POLL);
	for (int i = 0; i < 10000; i++)
		assert_int_equal(dl_idle_next(&s, 0), 0);
	dl_idle_init(&s, DL_IDLE_PAUSE);
	for (int i = 0; i < 10000; i++)
		assert_int_equal(dl_idle_next(&s, 0), -1);
	assert_int_equal(dl_idle_next(&s, 3), 0);
}

static void test_idle_sleep_backoff(void **state)
{
	struct dl_idle s;

	(void)state;
	dl_idle_init(&s, DL_IDLE_SLEEP);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < DL_IDLE_SPIN_ITERS; i++)
			assert_int_equal(dl_idle_next(&s, 0), -1);
		int expect = DL_IDLE_SLEEP_MIN_US;
		for (int i = 0; i < 10; i++) {
			assert_int_equal(dl_idle_next(&s, 0), expect);
			expect =
			    expect * 2 > DL_IDLE_SLEEP_MAX_US ? DL_IDLE_SLEEP_MAX_US : expect * 2;
		}
		assert_int_equal(dl_idle_next(&s, 0), DL_IDLE_SLEEP_MAX_US);
		/* Work resets the backoff: spin again first, then short sleeps. */
		assert_int_equal(dl_idle_next(&s, 1), 0);
	}
	/* AUTO is never a core's policy: it falls back to sleeping. */
	dl_idle_init(&s, DL_IDLE_AUTO);
	assert_int_equal(s.policy, DL_IDLE_SLEEP);
}

/* The helper the examples parse their numeric options with. */
static void test_opt_uint(void **state)
{
	unsigned long long x = 7;
	char msg[128];
	(void)state;

	assert_int_equal(dlibos_opt_uint("port", "80", 1, 65535, &x, msg, sizeof(msg)), 0);
	assert_int_equal(x, 80);
	assert_int_equal(dlibos_opt_uint("port", "65535", 1, 65535, &x, msg, sizeof(msg)), 0);
	assert_int_equal(x, 65535);
	const char *bad[] = {"0", "65536", "-1", "+5", " 5", "5 ", "5k", "", "0x10",
			     "99999999999999999999999"};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		x = 7;
		assert_int_equal(dlibos_opt_uint("port", bad[i], 1, 65535, &x, msg, sizeof(msg)), -1);
		assert_int_equal(x, 7);
	}
	assert_int_equal(dlibos_opt_uint("max-conns", "abc", 1, 1024, &x, msg, sizeof(msg)), -1);
	assert_string_equal(msg, "--max-conns 'abc': expected an integer in 1..1024");
	assert_int_equal(dlibos_opt_uint("port", NULL, 1, 2, &x, msg, sizeof(msg)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_minimal),
	    cmocka_unit_test(test_every_option),
	    cmocka_unit_test(test_enum_values),
	    cmocka_unit_test(test_point_to_point_prefixes),
	    cmocka_unit_test(test_help),
	    cmocka_unit_test(test_last_value_wins),
	    cmocka_unit_test(test_err_syntax),
	    cmocka_unit_test(test_err_ip),
	    cmocka_unit_test(test_err_gw),
	    cmocka_unit_test(test_err_enums),
	    cmocka_unit_test(test_err_numbers),
	    cmocka_unit_test(test_opt_uint),
	    cmocka_unit_test(test_capture_options),
	    cmocka_unit_test(test_impair_subset),
	    cmocka_unit_test(test_err_impair),
	    cmocka_unit_test(test_tcp_opts),
	    cmocka_unit_test(test_err_tcp),
	    cmocka_unit_test(test_impair_parse_direct),
	    cmocka_unit_test(test_app_options),
	    cmocka_unit_test(test_err_app),
	    cmocka_unit_test(test_err_app_check),
	    cmocka_unit_test(test_usage_lists_everything),
	    cmocka_unit_test(test_parse_or_exit_codes),
	    cmocka_unit_test(test_split_args),
	    cmocka_unit_test(test_idle_resolve),
	    cmocka_unit_test(test_idle_poll_and_pause),
	    cmocka_unit_test(test_idle_sleep_backoff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
