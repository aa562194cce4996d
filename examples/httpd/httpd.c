/*
 * dlibos-httpd - a static web server on the DLibOS API (paper section 5.3).
 *
 * At start-up (init hook) the whole document root is preloaded into
 * application TX memory, each file as a ready "entity" (its Content-Type,
 * Content-Length and Last-Modified header lines followed by its bytes). A
 * response is two fragments passed by reference to dlibos_send: a prefix
 * (status line, Server, Date, Connection) from a small per-core prefix set
 * whose Date is rewritten once per second, and the entity: the CPU never
 * touches the file bytes again (zero-touch). See httpd_core.h for the
 * per-connection logic and http_parse.h for the protocol rules.
 *
 *   dlibos-httpd [EAL args] -- --ip 10.0.0.2/24 [runtime args]
 *                --root DIR [--port 80] [--max-conns 4096]
 *                [--keepalive-timeout 15] [--max-uri 2048] [--max-head 8192]
 *
 * This file only binds the runtime to httpd_core: options, loading, the
 * callbacks and the counters printed at shutdown.
 */
#include <dlibos/dlibos.h>

#include "http_parse.h"
#include "httpd_core.h"
#include "httpd_files.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define SERVER_NAME "dlibos-httpd"

enum {
	OPT_ROOT = 1000,
	OPT_PORT,
	OPT_MAX_CONNS,
	OPT_KEEPALIVE,
	OPT_MAX_URI,
	OPT_MAX_HEAD,
};

static const struct dlibos_opt httpd_opts[] = {
    {"root", "DIR", "directory to serve (required; preloaded at start)", OPT_ROOT},
    {"port", "P", "TCP port (default 80)", OPT_PORT},
    {"max-conns", "N", "connections in all app cores, more are refused (default 4096)",
     OPT_MAX_CONNS},
    {"keepalive-timeout", "S", "close connections idle for S seconds (default 15)", OPT_KEEPALIVE},
    {"max-uri", "BYTES", "longest request target, 414 beyond (default 2048)", OPT_MAX_URI},
    {"max-head", "BYTES", "longest request head, 431 beyond (default 8192)", OPT_MAX_HEAD},
};

static struct {
	const char *root;
	unsigned port;
	unsigned max_conns;
	unsigned keepalive_s;
	unsigned max_uri, max_head;
} opt = {
    .port = 80,
    .max_conns = 4096,
    .keepalive_s = 15,
    .max_uri = HTTP_DEFAULT_MAX_URI,
    .max_head = HTTP_DEFAULT_MAX_HEAD,
};

static struct httpd_scan root_scan;
static struct httpd_files files;
static atomic_uint conns_in_use;

/* Counters of the cores that stopped, summed for the report in fini. */
static pthread_mutex_t totals_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t totals[HTTPD_NCNT];
/* Per application core: the counters shown in the runtime's dump (SIGUSR1, exit). */
static struct dlibos_counters **ctr_reg; /* per application core */

/* An unsigned option into *out, range-checked. */
static int opt_unsigned(const char *name, const char *value, unsigned lo, unsigned hi,
			unsigned *out, char *err, size_t errlen)
{
	unsigned long long x;

	if (dlibos_opt_uint(name, value, lo, hi, &x, err, errlen) != 0)
		return -1;
	*out = (unsigned)x;
	return 0;
}

static int httpd_parse(int key, const char *value, char *err, size_t errlen)
{
	switch (key) {
	case OPT_ROOT:
		opt.root = value;
		return 0;
	case OPT_PORT:
		return opt_unsigned("port", value, 1, 65535, &opt.port, err, errlen);
	case OPT_MAX_CONNS:
		return opt_unsigned("max-conns", value, 1, 1u << 20, &opt.max_conns, err, errlen);
	case OPT_KEEPALIVE:
		return opt_unsigned("keepalive-timeout", value, 1, 3600, &opt.keepalive_s, err, errlen);
	case OPT_MAX_URI:
		return opt_unsigned("max-uri", value, 16, 1u << 16, &opt.max_uri, err, errlen);
	case OPT_MAX_HEAD:
		return opt_unsigned("max-head", value, 64, 1u << 20, &opt.max_head, err, errlen);
	}
	snprintf(err, errlen, "unknown option key %d", key);
	return -1;
}

static int httpd_check(char *err, size_t errlen)
{
	if (opt.root == NULL) {
		snprintf(err, errlen, "--root DIR is required");
		return -1;
	}
	if (opt.max_uri >= opt.max_head) {
		snprintf(err, errlen, "--max-uri (%u) must be smaller than --max-head (%u)",
			 opt.max_uri, opt.max_head);
		return -1;
	}
	/* Walk the root now: the runtime asks tx_memory() before init. */
	return httpd_files_scan(opt.root, &root_scan, err, errlen);
}

static size_t httpd_tx_memory(void)
{
	/* The root, plus prefix sets (a few KiB each, up to HTTPD_MAX_SETS per
	 * core) and the allocator's headers. */
	return root_scan.mem_needed + ((size_t)8 << 20);
}

static int httpd_init(void)
{
	char err[512];

	ctr_reg = calloc(dlibos_app_cores(), sizeof(*ctr_reg));
	if (ctr_reg == NULL) {
		fprintf(stderr, "httpd: out of memory\n");
		return -1;
	}
	if (httpd_files_load(&files, opt.root, &root_scan, dlibos_tx_alloc, NULL, err,
			     sizeof(err)) != 0) {
		fprintf(stderr, "httpd: %s\n", err);
		return -1;
	}
	printf("httpd: %llu files (%llu bytes) and %llu directories from %s preloaded into TX "
	       "memory (%zu bytes), %llu entries skipped\n",
	       (unsigned long long)files.scan.files, (unsigned long long)root_scan.file_bytes,
	       (unsigned long long)files.scan.dirs, opt.root, files.arena_used,
	       (unsigned long long)files.scan.skipped);
	fflush(stdout);
	return 0;
}

/* ---- operations for httpd_core ---------------------------------------------- */

static int op_accept(void *ctx, dlibos_conn_t conn)
{
	return dlibos_accept(ctx, conn);
}

static int op_send(void *ctx, dlibos_conn_t conn, const struct dlibos_frag *f, unsigned n)
{
	return dlibos_send(ctx, conn, f, n);
}

static int op_recv_done(void *ctx, dlibos_conn_t conn, uint32_t bytes)
{
	return dlibos_recv_done(ctx, conn, bytes);
}

static int op_shutdown_wr(void *ctx, dlibos_conn_t conn)
{
	return dlibos_shutdown(ctx, conn, SHUT_WR);
}

static int op_close(void *ctx, dlibos_conn_t conn)
{
	return dlibos_close(ctx, conn);
}

static int64_t op_wall_ns(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static const struct httpd_ops ops = {
    .accept = op_accept,
    .send = op_send,
    .recv_done = op_recv_done,
    .shutdown_wr = op_shutdown_wr,
    .close = op_close,
    .tx_alloc = dlibos_tx_alloc,
    .tx_free = NULL, /* sets live as long as TX memory; segments may still point there */
    .wall_ns = op_wall_ns,
};

/* ---- life cycle ---------------------------------------------------------- */

static int httpd_core_init(struct dlibos_core *c)
{
	struct httpd_config cfg = {
	    .limits = {.max_uri = opt.max_uri, .max_head = opt.max_head},
	    .keepalive_s = opt.keepalive_s,
	    .max_conns = opt.max_conns,
	    .shared_conns = &conns_in_use,
	    .shared_max = opt.max_conns,
	    .max_discard = (uint64_t)1 << 20,
	    .server = SERVER_NAME,
	};
	struct httpd_core *hc = httpd_core_create(&cfg, &files, &ops, c, dlibos_now_us(c));

	if (hc == NULL) {
		fprintf(stderr, "httpd: app core %u: not enough memory for %u connections\n",
			dlibos_core_index(c), opt.max_conns);
		return -ENOMEM;
	}
	dlibos_set_core_data(c, hc);
	ctr_reg[dlibos_core_index(c)] = dlibos_counters_register(
			c, "httpd", httpd_cnt_names, HTTPD_NCNT, (uint64_t *)httpd_counters(hc));
	return dlibos_listen(c, (uint16_t)opt.port, 1024);
}

static void print_counters(FILE *f, const char *who, const uint64_t *cnt)
{
	fprintf(f, "httpd: counters (%s):\n", who);
	for (unsigned i = 0; i < HTTPD_NCNT; i++)
		fprintf(f, "httpd:   %-32s %llu\n", httpd_cnt_names[i], (unsigned long long)cnt[i]);
}

static void httpd_core_fini(struct dlibos_core *c)
{
	struct httpd_core *hc = dlibos_core_data(c);

	if (hc == NULL)
		return;
	const uint64_t *cnt = httpd_counters(hc);
	pthread_mutex_lock(&totals_lock);
	for (unsigned i = 0; i < HTTPD_NCNT; i++)
		totals[i] += cnt[i];
	pthread_mutex_unlock(&totals_lock);
	if (dlibos_app_cores() > 1) {
		char who[32];
		snprintf(who, sizeof(who), "app core %u", dlibos_core_index(c));
		flockfile(stdout);
		print_counters(stdout, who, cnt);
		funlockfile(stdout);
	}
	/* Events that still arrive for this core (connections aborted while
	 * the runtime stops) find no state and are ignored. */
	dlibos_set_core_data(c, NULL);
	dlibos_counters_unregister(ctr_reg[dlibos_core_index(c)]);
	ctr_reg[dlibos_core_index(c)] = NULL;
	httpd_core_destroy(hc);
}

static void httpd_fini(void)
{
	print_counters(stdout, "all app cores", totals);
	fflush(stdout);
	httpd_files_free(&files);
	free(ctr_reg);
	ctr_reg = NULL;
}

/* ---- callbacks ------------------------------------------------------------- */

static void on_new_conn(struct dlibos_core *c, dlibos_conn_t conn,
			const struct dlibos_conn_info *info)
{
	struct httpd_core *hc = dlibos_core_data(c);

	(void)info;
	if (hc == NULL) {
		dlibos_close(c, conn);
		return;
	}
	httpd_on_new_conn(hc, conn, dlibos_now_us(c));
}

static void on_new_data(struct dlibos_core *c, dlibos_conn_t conn, const struct dlibos_iov *iov,
			unsigned n)
{
	struct httpd_core *hc = dlibos_core_data(c);

	if (hc != NULL)
		httpd_on_data(hc, conn, iov, n, dlibos_now_us(c));
}

static void on_data_acked(struct dlibos_core *c, dlibos_conn_t conn, uint32_t bytes)
{
	struct httpd_core *hc = dlibos_core_data(c);

	if (hc != NULL)
		httpd_on_acked(hc, conn, bytes, dlibos_now_us(c));
}

static void on_remote_closed(struct dlibos_core *c, dlibos_conn_t conn,
			     enum dlibos_close_reason why)
{
	struct httpd_core *hc = dlibos_core_data(c);

	if (hc != NULL)
		httpd_on_remote_closed(hc, conn, (int)why);
}

static void on_cleanup(struct dlibos_core *c, dlibos_conn_t conn)
{
	struct httpd_core *hc = dlibos_core_data(c);

	if (hc != NULL)
		httpd_on_cleanup(hc, conn);
}

static void on_cmd_error(struct dlibos_core *c, dlibos_conn_t conn, enum dlibos_cmd cmd, int err,
			 uint64_t context)
{
	struct httpd_core *hc = dlibos_core_data(c);

	if (cmd == DLIBOS_CMD_LISTEN)
		fprintf(stderr, "httpd: app core %u: cannot listen on port %llu: %s\n",
			dlibos_core_index(c), (unsigned long long)context, strerror(err));
	if (hc != NULL)
		httpd_on_cmd_error(hc, conn, cmd, err);
}

static void on_poll(struct dlibos_core *c, uint64_t now_us)
{
	struct httpd_core *hc = dlibos_core_data(c);

	if (hc != NULL)
		httpd_poll(hc, now_us);
}

static const struct dlibos_app httpd_app = {
    .name = "httpd",
    .summary = "static web server on DLibOS: the root is preloaded and sent zero-touch",
    .options = httpd_opts,
    .n_options = sizeof(httpd_opts) / sizeof(httpd_opts[0]),
    .parse_opt = httpd_parse,
    .check_opts = httpd_check,
    .tx_memory = httpd_tx_memory,
    .init = httpd_init,
    .core_init = httpd_core_init,
    .core_poll = on_poll,
    .core_fini = httpd_core_fini,
    .fini = httpd_fini,
    .cb =
	{
	    .new_conn = on_new_conn,
	    .new_data = on_new_data,
	    .data_acked = on_data_acked,
	    .remote_closed = on_remote_closed,
	    .cleanup = on_cleanup,
	    .cmd_error = on_cmd_error,
	},
};

int main(int argc, char **argv)
{
	return dlibos_main(argc, argv, &httpd_app);
}
