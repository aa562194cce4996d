/*
 * dlibos-netpipe - an NPtcp-compatible NetPIPE receiver on the DLibOS API
 * (the paper's §5.2 ping-pong benchmark server).
 *
 *   dlibos-netpipe [EAL args] -- --ip 10.0.0.2/24 [--port 5002] [--nocopy]
 *                  [--integrity] [--perturbation P] [--ring-kb 256]
 *                  [--nocopy-max-kb 16384] [--nocopy-mb 128] [--max-conns 64]
 *
 * then, from a Linux host: `NPtcp -h 10.0.0.2` (add `-i` and start the
 * server with --integrity for NPtcp's integrity check).
 *
 * Copy mode (default, the paper's "copy mod") copies every received
 * message into TX memory and sends it back; --nocopy answers every message
 * of a size with a copy of the first one made once (the paper's zero-touch
 * path). The protocol is in np_proto.[ch], the connections in
 * np_server.[ch]; this file holds the options and the callbacks. Every
 * application core listens on the port and keeps its own connections, so
 * several NPtcp runs can go on at once. Counters (module "netpipe") are
 * printed by the runtime at exit and on SIGUSR1.
 */
#include <dlibos/dlibos.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "np_server.h"

#define MAX_APP_CORES 128

enum {
	OPT_PORT = 1000,
	OPT_NOCOPY,
	OPT_INTEGRITY,
	OPT_PERTURBATION,
	OPT_RING_KB,
	OPT_NOCOPY_MAX_KB,
	OPT_NOCOPY_MB,
	OPT_MAX_CONNS,
	OPT_QUIET,
};

static const struct dlibos_opt np_opts[] = {
    {"port", "P", "TCP port to serve (default 5002, as NPtcp)", OPT_PORT},
    {"nocopy", NULL, "answer each size with the stored first message (zero-touch)", OPT_NOCOPY},
    {"integrity", NULL, "the transmitter runs NPtcp -i: 1 trial per size, perturbation 0",
     OPT_INTEGRITY},
    {"perturbation", "P", "the transmitter's NPtcp -p (default 3)", OPT_PERTURBATION},
    {"ring-kb", "KB", "copy ring per connection in KiB (default 256)", OPT_RING_KB},
    {"nocopy-max-kb", "KB", "largest message stored by --nocopy, KiB (default 16384)",
     OPT_NOCOPY_MAX_KB},
    {"nocopy-mb", "MB", "TX memory for --nocopy stores in all, MiB (default 128)", OPT_NOCOPY_MB},
    {"max-conns", "N", "connections in all, shared among app cores (default 64)", OPT_MAX_CONNS},
    {"quiet", NULL, "no per-connection error messages", OPT_QUIET},
};

static struct np_config opt_cfg = {
    .perturbation = NP_PERTURBATION,
    .trials = NP_TRIALS,
    .ring_size = 256 * 1024,
    .nocopy_max = 16u << 20,
    .max_conns = 64,
};
static unsigned opt_port = 5002;
static size_t opt_nocopy_pool = (size_t)128 << 20;
static bool opt_integrity, opt_pert_given;

/* Counters live in static storage so the runtime can print them whenever it
 * likes, even after core_fini. */
static struct {
	struct dlibos_counters *ctrs;
	uint64_t cnt[NP_NCNT];
	bool registered;
} np_stats[MAX_APP_CORES];

static int np_parse(int key, const char *value, char *err, size_t errlen)
{
	unsigned long long x = 0, lo = 0, hi = 0;
	const char *name = "";

	switch (key) {
	case OPT_NOCOPY:
		opt_cfg.nocopy = true;
		return 0;
	case OPT_INTEGRITY:
		opt_integrity = true;
		return 0;
	case OPT_QUIET:
		opt_cfg.quiet = true;
		return 0;
	case OPT_PORT:
		name = "port";
		lo = 1, hi = 65535;
		break;
	case OPT_PERTURBATION:
		name = "perturbation";
		lo = 0, hi = NP_MAX_PERTURBATION;
		break;
	case OPT_RING_KB:
		name = "ring-kb";
		lo = 4, hi = 1u << 20;
		break;
	case OPT_NOCOPY_MAX_KB:
		name = "nocopy-max-kb";
		lo = 1, hi = (NP_MAX_SIZE >> 10);
		break;
	case OPT_NOCOPY_MB:
		name = "nocopy-mb";
		lo = 1, hi = 1u << 16;
		break;
	case OPT_MAX_CONNS:
		name = "max-conns";
		lo = 1, hi = 1u << 20;
		break;
	default:
		snprintf(err, errlen, "unknown option key %d", key);
		return -1;
	}
	if (dlibos_opt_uint(name, value, lo, hi, &x, err, errlen) != 0)
		return -1;
	switch (key) {
	case OPT_PORT:
		opt_port = (unsigned)x;
		break;
	case OPT_PERTURBATION:
		opt_cfg.perturbation = (uint32_t)x;
		opt_pert_given = true;
		break;
	case OPT_RING_KB:
		opt_cfg.ring_size = (uint32_t)(x * 1024);
		break;
	case OPT_NOCOPY_MAX_KB:
		opt_cfg.nocopy_max = (uint32_t)(x * 1024);
		break;
	case OPT_NOCOPY_MB:
		opt_nocopy_pool = (size_t)x << 20;
		break;
	case OPT_MAX_CONNS:
		opt_cfg.max_conns = (unsigned)x;
		break;
	}
	return 0;
}

static int np_check(char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	if (opt_integrity) {
		/* NPtcp -i: one trial per size and, unless -p follows, no
		 * perturbation. */
		opt_cfg.trials = 1;
		if (!opt_pert_given)
			opt_cfg.perturbation = 0;
	}
	return 0;
}

/* Connection slots per application core (the total is shared out). */
static struct np_config core_config(void)
{
	struct np_config cfg = opt_cfg;
	unsigned n = dlibos_app_cores();

	if (n == 0)
		n = 1;
	cfg.max_conns = (opt_cfg.max_conns + n - 1) / n;
	return cfg;
}

static size_t np_tx_memory(void)
{
	/* Enough for the rings of max_conns connections however they are
	 * shared out (each core rounds up by one), the constants of every
	 * core, and the nocopy stores. */
	struct np_config cfg = opt_cfg;
	cfg.max_conns = opt_cfg.max_conns + MAX_APP_CORES;
	size_t bytes = np_core_tx_bytes(&cfg) + (size_t)MAX_APP_CORES * 1024;
	if (opt_cfg.nocopy)
		bytes += opt_nocopy_pool;
	return bytes;
}

static int np_core_init(struct dlibos_core *c)
{
	unsigned idx = dlibos_core_index(c);
	struct np_config cfg = core_config();

	if (idx >= MAX_APP_CORES) {
		fprintf(stderr, "netpipe: at most %d application cores\n", MAX_APP_CORES);
		return -EINVAL;
	}
	memset(np_stats[idx].cnt, 0, sizeof(np_stats[idx].cnt));
	struct np_core *k = np_core_create(&cfg, np_stats[idx].cnt);
	if (k == NULL) {
		fprintf(stderr, "netpipe: app core %u: not enough memory for %u connections\n", idx,
			cfg.max_conns);
		return -ENOMEM;
	}
	if (!np_stats[idx].registered) {
		np_stats[idx].ctrs = dlibos_counters_register(c, "netpipe", np_cnt_names,
							      NP_NCNT, np_stats[idx].cnt);
		np_stats[idx].registered = true;
	}
	dlibos_set_core_data(c, k);
	if (idx == 0)
		printf("netpipe: port %u, %s mode, perturbation %u, %u trial(s) per size, "
		       "%u connection(s) per app core, ring %u KiB\n",
		       opt_port, opt_cfg.nocopy ? "nocopy" : "copy", cfg.perturbation, cfg.trials,
		       cfg.max_conns, cfg.ring_size / 1024);
	return dlibos_listen(c, (uint16_t)opt_port, 128);
}

static void np_core_fini(struct dlibos_core *c)
{
	np_core_destroy(dlibos_core_data(c));
	dlibos_set_core_data(c, NULL);
}

static struct np_core *core_of(struct dlibos_core *c)
{
	return dlibos_core_data(c);
}

static void on_new_conn(struct dlibos_core *c, dlibos_conn_t conn,
			const struct dlibos_conn_info *info)
{
	(void)info;
	np_new_conn(core_of(c), c, conn);
}

static void on_new_data(struct dlibos_core *c, dlibos_conn_t conn, const struct dlibos_iov *iov,
			unsigned n)
{
	np_new_data(core_of(c), c, conn, iov, n);
}

static void on_data_acked(struct dlibos_core *c, dlibos_conn_t conn, uint32_t bytes)
{
	np_data_acked(core_of(c), c, conn, bytes);
}

static void on_remote_closed(struct dlibos_core *c, dlibos_conn_t conn,
			     enum dlibos_close_reason why)
{
	np_remote_closed(core_of(c), c, conn, why);
}

static void on_cleanup(struct dlibos_core *c, dlibos_conn_t conn)
{
	np_cleanup(core_of(c), c, conn);
}

static void on_cmd_error(struct dlibos_core *c, dlibos_conn_t conn, enum dlibos_cmd cmd, int err,
			 uint64_t context)
{
	if (cmd == DLIBOS_CMD_LISTEN) {
		fprintf(stderr, "netpipe: app core %u: cannot listen on port %llu: %s\n",
			dlibos_core_index(c), (unsigned long long)context, strerror(err));
		dlibos_stop();
		return;
	}
	np_cmd_error(core_of(c), c, conn, cmd, err);
}

static const struct dlibos_app np_app = {
    .name = "netpipe",
    .summary = "NetPIPE receiver (NPtcp-compatible ping-pong server) on DLibOS",
    .options = np_opts,
    .n_options = sizeof(np_opts) / sizeof(np_opts[0]),
    .parse_opt = np_parse,
    .check_opts = np_check,
    .tx_memory = np_tx_memory,
    .core_init = np_core_init,
    .core_fini = np_core_fini,
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
	return dlibos_main(argc, argv, &np_app);
}
