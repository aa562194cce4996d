/*
 * fuzz_config.c - the command-line parser every DLibOS program uses
 * (lib/runtime/config.c: dl_config_parse and the --impair / --tcp specification
 * parsers), on arbitrary arguments.
 *
 * Input: a byte of options (the service's rules or an application's, the
 * size of the error buffer), then the arguments separated by NUL bytes
 * (argv[0] is added), at most 40 of them. An application option table
 * like the examples' (--root DIR, --port N, --verbose, --max-conns N) is
 * passed along, with a handler that checks its values.
 *
 * Oracles: no crash or sanitizer report; the result is one of OK, HELP,
 * ERROR; the error message is NUL-terminated inside its buffer, and not
 * empty on ERROR when the buffer has room; on OK the configuration keeps
 * the documented rules (an address outside loopback/multicast with a
 * prefix of 1..32 unless attached, the gateway inside the subnet, net
 * cores only with dlibos mode or the service, the fractions of --impair in
 * [0, 1]); parsing is pure: the same arguments give the same result and
 * the same configuration twice; each argument given to dl_impair_parse()
 * and dl_tcp_opts_parse() alone answers 0 or -1 with a message, and the
 * --tcp values stay in their documented ranges.
 */
#include "dl_config.h"
#include "fuzz_input.h"

#include <errno.h>
#include <math.h>

#define MAX_ARGS 40

struct app_vals {
	char root[64];
	unsigned long long port, max_conns;
	bool verbose;
};

enum { K_ROOT, K_PORT, K_VERBOSE, K_MAXC };

static const struct dl_app_opt app_opts[] = {
    {"root", "DIR", "document root", K_ROOT},
    {"port", "N", "port", K_PORT},
    {"verbose", NULL, "say more", K_VERBOSE},
    {"max-conns", "N", "connections", K_MAXC},
};

static int handle(void *arg, int key, const char *value, char *err, size_t errlen)
{
	struct app_vals *v = arg;

	switch (key) {
	case K_ROOT:
		if (strlen(value) >= sizeof(v->root)) {
			snprintf(err, errlen, "--root: too long");
			return -1;
		}
		strcpy(v->root, value);
		return 0;
	case K_PORT:
		return dl_parse_uint(value, 1, 65535, &v->port);
	case K_VERBOSE:
		FZ_CHECK(value == NULL, "a flag given a value");
		v->verbose = true;
		return 0;
	default:
		return dl_parse_uint(value, 1, 1u << 20, &v->max_conns);
	}
}

static int check(void *arg, char *err, size_t errlen)
{
	struct app_vals *v = arg;

	if (v->root[0] == '\0') {
		snprintf(err, errlen, "--root is required");
		return -1;
	}
	return 0;
}

static enum dl_parse_result parse(struct dl_config *cfg, struct app_vals *v, bool service, int argc,
				  char **argv, char *err, size_t errlen)
{
	struct dl_app_args app = {"fuzz", "a fuzz target", app_opts, 4, handle, v, check};

	dl_config_defaults(cfg);
	cfg->service = service;
	memset(v, 0, sizeof(*v));
	return dl_config_parse(cfg, argc, argv, &app, err, errlen);
}

static void check_ok(const struct dl_config *c)
{
	uint32_t mask = c->prefix_len == 0 ? 0 : 0xffffffffu << (32 - c->prefix_len);

	if (c->attach == NULL) {
		FZ_CHECK(c->ip != 0 && (c->ip >> 24) != 127 && (c->ip >> 28) < 14,
			 "accepted address %#x", c->ip);
		FZ_CHECK(c->prefix_len >= 1 && c->prefix_len <= 32, "prefix %u", c->prefix_len);
		FZ_CHECK(c->gw == 0 || (c->gw != c->ip && (c->gw & mask) == (c->ip & mask)),
			 "gateway %#x outside %#x/%u", c->gw, c->ip, c->prefix_len);
		FZ_CHECK(c->net_cores == 0 || c->mode == DL_MODE_DLIBOS || c->service,
			 "--net-cores in mode %d", c->mode);
	} else {
		FZ_CHECK(!c->service, "--attach accepted by the service");
	}
	FZ_CHECK(c->mode == DL_MODE_RTC || c->mode == DL_MODE_DLIBOS, "mode %d", c->mode);
	FZ_CHECK(!c->service || c->mode == DL_MODE_RTC, "the service took --mode");
	FZ_CHECK(c->net_cores < DL_MAX_CORES, "net cores %u", c->net_cores);
	if (c->impair_on)
		FZ_CHECK(c->impair.loss >= 0 && c->impair.loss <= 1 && c->impair.dup >= 0 &&
			     c->impair.dup <= 1 && c->impair.reorder >= 0 &&
			     c->impair.reorder <= 1 && c->impair.corrupt >= 0 &&
			     c->impair.corrupt <= 1,
			 "--impair fraction out of [0, 1]");
}

static void check_tcp(const struct dl_tcp_opts *o)
{
	if (o->set & (1u << DL_TCPO_MAX_CONNS))
		FZ_CHECK(o->max_conns >= 64 && o->max_conns <= (1u << 24), "max_conns %u",
			 o->max_conns);
	if (o->set & (1u << DL_TCPO_RCV_WND))
		FZ_CHECK(o->rcv_wnd >= 1024 && o->rcv_wnd <= (1u << 30), "rcv_wnd %u", o->rcv_wnd);
	if (o->set & (1u << DL_TCPO_KEEPALIVE_S))
		FZ_CHECK((uint64_t)o->keepalive_s * 1000000 <= UINT32_MAX, "keepalive_s %u",
			 o->keepalive_s);
	FZ_CHECK(o->set < (1u << DL_TCPO_NKEYS), "unknown key bits %#x", o->set);
}

static void check_msg(const char *err, size_t errlen, bool must)
{
	if (errlen == 0 || !must) /* a success leaves the buffer alone */
		return;
	FZ_CHECK(memchr(err, '\0', errlen) != NULL, "error message not NUL-terminated");
	if (must && errlen > 1)
		FZ_CHECK(err[0] != '\0', "an error without a message");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t errlens[4] = {256, 1, 17, 0};
	struct fz in = {data, size};
	uint8_t opt = fz_u8(&in);
	bool service = (opt & 1) != 0;
	size_t errlen = errlens[(opt >> 1) & 3];
	char *text = malloc(in.n + 1), *argv[MAX_ARGS + 1], err1[256], err2[256];
	int argc = 1;
	struct dl_config c1, c2;
	struct app_vals v1, v2;
	enum dl_parse_result r1, r2;

	FZ_CHECK(text != NULL, "malloc");
	memcpy(text, in.p, in.n);
	text[in.n] = '\0';
	argv[0] = "fuzz";
	for (char *p = text; p < text + in.n + 1 && argc < MAX_ARGS; p += strlen(p) + 1)
		argv[argc++] = p;
	argv[argc] = NULL;

	memset(err1, 0x55, sizeof(err1));
	r1 = parse(&c1, &v1, service, argc, argv, err1, errlen);
	FZ_CHECK(r1 == DL_PARSE_OK || r1 == DL_PARSE_HELP || r1 == DL_PARSE_ERROR, "result %d", r1);
	if (errlen > 0) /* dl_config_parse() always leaves a string */
		FZ_CHECK(memchr(err1, '\0', errlen) != NULL, "error message not NUL-terminated");
	check_msg(err1, errlen, r1 == DL_PARSE_ERROR);
	if (r1 == DL_PARSE_OK)
		check_ok(&c1);
	r2 = parse(&c2, &v2, service, argc, argv, err2, errlen);
	FZ_CHECK(r1 == r2 && (errlen == 0 || strcmp(err1, err2) == 0), "not deterministic");
	if (r1 == DL_PARSE_OK)
		FZ_CHECK(memcmp(&c1, &c2, sizeof(c1)) == 0 && memcmp(&v1, &v2, sizeof(v1)) == 0,
			 "the same arguments gave two configurations");

	/* Each argument alone as an --impair and a --tcp specification. */
	for (int i = 1; i < argc; i++) {
		struct dl_impair_config ic = {0};
		struct dl_tcp_opts to = {0};
		int rc;

		memset(err1, 0x55, sizeof(err1));
		rc = dl_impair_parse(&ic, argv[i], err1, sizeof(err1));
		FZ_CHECK(rc == 0 || rc == -1, "dl_impair_parse: %d", rc);
		check_msg(err1, sizeof(err1), rc != 0);
		if (rc == 0)
			FZ_CHECK(!isnan(ic.loss) && ic.loss >= 0 && ic.loss <= 1 && ic.dup >= 0 &&
				     ic.dup <= 1 && ic.reorder >= 0 && ic.reorder <= 1 &&
				     ic.corrupt >= 0 && ic.corrupt <= 1 && ic.delay_us <= 10000000,
				 "--impair %s accepted out of range", argv[i]);
		rc = dl_tcp_opts_parse(&to, argv[i], err1, sizeof(err1));
		FZ_CHECK(rc == 0 || rc == -1, "dl_tcp_opts_parse: %d", rc);
		check_msg(err1, sizeof(err1), rc != 0);
		if (rc == 0)
			check_tcp(&to);
		else
			FZ_CHECK(to.set == 0, "a refused --tcp changed the options");
	}
	free(text);
	return 0;
}
