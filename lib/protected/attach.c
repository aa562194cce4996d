/*
 * attach.c - an application process in protected mode (see dl_attach.h).
 *
 * The process has no EAL, no port and no hugepages: its application cores
 * are plain threads, its memory is its own except what the service passed
 * (the slot fabric, the RX region), and its TX memory is a memfd it made
 * and handed over. Start-up is a straight line in dl_attach_main():
 * arguments, attach, engine (attached mode), the application's init,
 * threads; the main thread watches the control connection and the signals.
 */
#include "dl_attach.h"
#include "dl_config.h"
#include "dl_engine.h"
#include "dl_log.h"
#include "dl_platform.h"
#include "dl_runtime.h"
#include "dl_stats.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define WELCOME_TIMEOUT_MS 10000

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	dl_verrf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

/* ---- attaching ------------------------------------------------------------ */

/* Our TX memory: a memfd the service can map but we cannot shrink under it. */
static int make_tx_memfd(size_t len)
{
	int fd = memfd_create("dlibos-tx", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)len) != 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static int connect_to(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(a.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(a.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Wait for the answer to HELLO. */
static ssize_t recv_answer(int sock, void *buf, size_t cap, int *fds, unsigned *nfds)
{
	struct pollfd p = {sock, POLLIN, 0};

	if (poll(&p, 1, WELCOME_TIMEOUT_MS) <= 0)
		return -ETIMEDOUT;
	return dl_ctl_recv(sock, buf, cap, fds, DL_CTL_MAX_FDS, nfds);
}

/* Several attachments in one process (tests) share the RX mapping. */
static unsigned rx_refs;

static struct dl_region *map_rx(uint16_t id, int fd, size_t len)
{
	struct dl_region *r = dl_region_get(id);

	if (r != NULL && r->readonly && r->len == len && strcmp(r->name, "rx") == 0) {
		close(fd);
		rx_refs++;
		return r;
	}
	r = dl_region_attach(id, "rx", fd, len, true);
	if (r != NULL)
		rx_refs++;
	return r;
}

static void unmap_rx(struct dl_region *r)
{
	if (r != NULL && --rx_refs == 0)
		dl_region_destroy(r);
}

/* Map the slot's fabric: read-only but what our cores write (the transport
 * knows which parts those are). */
static int map_fabric(struct dl_attach *a, int fd, char *err, size_t errlen)
{
	const struct dl_ctl_welcome *w = &a->w;
	unsigned ncores = w->n_net + w->n_app;
	struct dl_coreset links[DL_MAX_CORES], ours;

	if (ncores > DL_MAX_CORES)
		return fail(err, errlen, -EPROTO, "the service sent a bad NoC geometry");
	dl_engine_slot_links(w->n_net, w->n_app, links);
	dl_coreset_zero(&ours);
	dl_coreset_fill(&ours, w->n_net, ncores);
	a->fab = dl_noc_fabric_map(fd, w->fab_len, ncores, w->noc_words, links, &ours);
	if (a->fab == NULL)
		return fail(err, errlen, -errno, "cannot map the NoC: %s",
			    errno == EPROTO ? "the service's NoC size does not add up"
					    : strerror(errno));
	return 0;
}

/* WELCOME arrived with its descriptors: map everything. */
static int on_welcome(struct dl_attach *a, int txfd, size_t tx_len, const int *fds, char *err,
		      size_t errlen)
{
	int rc;

	rc = map_fabric(a, fds[0], err, errlen);
	close(fds[0]);
	if (rc != 0) {
		close(fds[1]);
		close(txfd);
		return rc;
	}
	a->rx = map_rx(a->w.rx_region, fds[1], a->w.rx_len);
	if (a->rx == NULL) {
		close(fds[1]);
		close(txfd);
		return fail(err, errlen, -errno, "cannot map the RX region (id %u): %s",
			    a->w.rx_region, strerror(errno));
	}
	a->tx = dl_region_attach(a->w.tx_region, "tx", txfd, tx_len, false);
	if (a->tx == NULL) {
		close(txfd);
		return fail(err, errlen, -errno, "cannot map the TX memory under id %u: %s",
			    a->w.tx_region, strerror(errno));
	}
	return 0;
}

int dl_attach_open(struct dl_attach *a, const char *path, const char *name, unsigned app_cores,
		   size_t tx_bytes, char *err, size_t errlen)
{
	union {
		struct dl_ctl_welcome w;
		struct dl_ctl_refuse r;
		uint8_t raw[512];
	} m;
	struct dl_ctl_hello h;
	int fds[DL_CTL_MAX_FDS], txfd, rc, type;
	unsigned nfds = 0;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	ssize_t n;

	memset(a, 0, sizeof(*a));
	tx_bytes = (tx_bytes + page - 1) / page * page;
	a->sock = connect_to(path);
	if (a->sock < 0)
		return fail(err, errlen, -errno, "cannot connect to %s: %s", path, strerror(errno));
	txfd = make_tx_memfd(tx_bytes);
	if (txfd < 0) {
		rc = fail(err, errlen, -errno, "cannot create %zu bytes of TX memory: %s", tx_bytes,
			  strerror(errno));
		goto fail_sock;
	}
	memset(&h, 0, sizeof(h));
	dl_ctl_hdr_init(&h.h, DL_CTL_HELLO);
	snprintf(h.name, sizeof(h.name), "%s", name != NULL ? name : "app");
	h.app_cores = app_cores;
	h.tx_len = tx_bytes;
	rc = dl_ctl_send(a->sock, &h, sizeof(h), &txfd, 1);
	if (rc != 0) {
		fail(err, errlen, rc, "cannot send HELLO: %s", strerror(-rc));
		goto fail_tx;
	}
	n = recv_answer(a->sock, &m, sizeof(m), fds, &nfds);
	if (n <= 0) {
		rc = fail(err, errlen, n == 0 ? -ECONNRESET : (int)n,
			  "no answer from the service: %s",
			  n == 0 ? "connection closed" : strerror((int)-n));
		goto fail_tx;
	}
	type = dl_ctl_check(&m, (size_t)n);
	if (type == DL_CTL_REFUSE) {
		dl_ctl_close_fds(fds, nfds);
		m.r.msg[sizeof(m.r.msg) - 1] = '\0';
		rc = fail(err, errlen, m.r.err > 0 ? -m.r.err : -EPERM, "refused: %s (%s)", m.r.msg,
			  strerror(m.r.err > 0 ? m.r.err : EPERM));
		goto fail_tx;
	}
	if (type != DL_CTL_WELCOME || nfds != 2 || m.w.n_app != app_cores || m.w.n_net == 0 ||
	    m.w.n_net + m.w.n_app > DL_MAX_CORES) {
		dl_ctl_close_fds(fds, nfds);
		rc = fail(err, errlen, -EPROTO, "unexpected answer from the service");
		goto fail_tx;
	}
	a->w = m.w;
	rc = on_welcome(a, txfd, tx_bytes, fds, err, errlen);
	if (rc != 0) {
		dl_attach_close(a);
		return rc;
	}
	return 0;
fail_tx:
	close(txfd);
fail_sock:
	close(a->sock);
	a->sock = -1;
	return rc;
}

void dl_attach_close(struct dl_attach *a)
{
	dl_noc_fabric_destroy(a->fab); /* unmaps it */
	a->fab = NULL;
	dl_region_destroy(a->tx);
	a->tx = NULL;
	unmap_rx(a->rx);
	a->rx = NULL;
	if (a->sock >= 0)
		close(a->sock);
	a->sock = -1;
}

int dl_attach_watch(struct dl_attach *a, int timeout_ms, char *why, size_t whylen)
{
	struct pollfd p = {a->sock, POLLIN, 0};
	union {
		struct dl_ctl_detach d;
		uint8_t raw[512];
	} m;
	int fds[DL_CTL_MAX_FDS];
	unsigned nfds = 0;
	ssize_t n;

	if (poll(&p, 1, timeout_ms) <= 0)
		return 0;
	n = dl_ctl_recv(a->sock, &m, sizeof(m), fds, DL_CTL_MAX_FDS, &nfds);
	dl_ctl_close_fds(fds, nfds);
	if (n == -EAGAIN)
		return 0;
	if (n > 0 && dl_ctl_check(&m, (size_t)n) == DL_CTL_DETACH) {
		m.d.msg[sizeof(m.d.msg) - 1] = '\0';
		return fail(why, whylen, -1, "the service detached us: %s", m.d.msg);
	}
	return fail(why, whylen, -1, "%s",
		    n == 0 ? "the service closed the control connection"
			   : "unexpected message from the service");
}

bool dl_attach_requested(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--attach") == 0 || strncmp(argv[i], "--attach=", 9) == 0)
			return true;
	return false;
}

/* ---- running the application's cores ---------------------------------------- */

/* An application core: the runtime's per-core loop on a thread of ours. */
struct acore {
	struct dl_core core;
	struct dl_thread *thr;
};
/* Parse `prog [--] --attach PATH [options]`. -1 to go on, else the exit status. */
static int parse(struct dl_config *cfg, struct dl_app_args *args, int argc, char **argv)
{
	char err[320];
	int first = 0;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0)
			first = i;
	if (first > 1) {
		fprintf(stderr,
			"%s: error: --attach takes no EAL arguments: the service owns the port "
			"(run '%s --attach PATH [options]')\n",
			args->prog, args->prog);
		return 2;
	}
	dl_config_defaults(cfg);
	switch (dl_config_parse(cfg, argc - first, argv + first, args, err, sizeof(err))) {
	case DL_PARSE_OK:
		break;
	case DL_PARSE_HELP:
		dl_config_usage(stdout, args);
		return 0;
	case DL_PARSE_ERROR:
		fprintf(stderr, "%s: error: %s\n\n", args->prog, err);
		dl_config_usage(stderr, args);
		return 2;
	}
	if (cfg->log_level >= 0)
		dl_log_level = (enum dl_log_level)cfg->log_level;
	return -1;
}

static struct dl_engine *make_engine(const struct dl_attach *a, const struct dlibos_app *app)
{
	struct dl_engine_conf ec;
	char err[320];
	struct dl_engine *e;

	memset(&ec, 0, sizeof(ec));
	ec.mode = DL_MODE_ATTACHED;
	ec.ncores = a->w.n_net + a->w.n_app;
	ec.net_cores = a->w.n_net;
	for (unsigned i = 0; i < ec.ncores; i++)
		ec.cores[i] = (struct dl_core_info){.id = i,
						    .hw_id = i,
						    .cpu = -1,
						    .numa_node = -1,
						    .l3_domain = 0,
						    .x = -1,
						    .y = -1};
	ec.app = app;
	ec.noc_words = a->w.noc_words;
	ec.fab = a->fab;
	ec.tx_region = a->tx;
	e = dl_engine_create(&ec, err, sizeof(err));
	if (e == NULL)
		DL_ERR("%s", err);
	return e;
}

/* Start the threads, wait until they all started or one failed. @return
 * how many threads run. */
static int run_threads(struct acore *cores, unsigned n, const struct dl_attach *a,
		       struct dl_core_set *set)
{
	for (unsigned j = 0; j < n; j++) {
		const struct dl_core_info info = {.id = a->w.n_net + j,
						  .hw_id = j,
						  .cpu = -1,
						  .numa_node = -1,
						  .l3_domain = 0,
						  .x = -1,
						  .y = -1};
		char name[32];
		int rc;

		dl_core_init(&cores[j].core, set, a->w.n_net + j, &info, (int)j);
		snprintf(name, sizeof(name), "dl-app%u", j);
		rc = dl_platform_thread_start(&cores[j].thr, name, -1, dl_core_run, &cores[j].core);
		if (rc != 0) {
			DL_ERR("cannot start application core %u: %s", j, strerror(-rc));
			dl_core_fini(&cores[j].core);
			dl_runtime_stop();
			return (int)j;
		}
	}
	while (__atomic_load_n(&set->started, __ATOMIC_ACQUIRE) +
		   __atomic_load_n(&set->failed, __ATOMIC_ACQUIRE) <
	       (int)n)
		usleep(1000);
	if (set->failed == 0)
		DL_INFO("ready: %u application core(s) running; SIGUSR1 prints counters, "
			"SIGINT/SIGTERM stop",
			n);
	return (int)n;
}

/* The main thread: the control connection and the signals. 0 or 1. */
static int watch(struct dl_attach *a)
{
	char why[240];

	while (!dl_runtime_stopping()) {
		if (dl_attach_watch(a, 100, why, sizeof(why)) != 0) {
			DL_ERR("%s: stopping", why);
			dl_runtime_stop();
			return 1;
		}
		if (dl_runtime_dump_requested())
			dl_stats_dump(stdout, false);
	}
	return 0;
}

int dl_attach_main(int argc, char **argv, const struct dlibos_app *app, const char *prog,
		   const char *summary)
{
	static struct dl_config cfg;
	static struct dl_attach a;
	struct dl_app_args args;
	struct dl_core_set set;
	struct acore *cores;
	struct dl_engine *e;
	char err[320];
	unsigned n;
	int rc, launched, failed = 0;

	memset(&args, 0, sizeof(args));
	args.prog = prog != NULL ? prog : basename(argv[0]);
	args.summary = summary != NULL ? summary : app->summary;
	dl_runtime_app_args(&args, app);
	rc = parse(&cfg, &args, argc, argv);
	if (rc >= 0)
		return rc;
	n = cfg.app_cores ? cfg.app_cores : 1;
	size_t tx = app->tx_memory != NULL ? app->tx_memory() : 0;
	rc = dl_attach_open(&a, cfg.attach, app->name, n, tx ? tx : (size_t)64 << 20, err,
			    sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "%s: cannot attach to %s: %s\n", args.prog, cfg.attach, err);
		return 1;
	}
	DL_INFO("attached to %s: slot %u, %u application core(s) (service indexes %u..%u), %u "
		"network core(s), address %u.%u.%u.%u/%u; RX memory read-only (region %u)",
		cfg.attach, a.w.slot, n, a.w.app_base, a.w.app_base + n - 1, a.w.n_net,
		a.w.ip >> 24, (a.w.ip >> 16) & 255, (a.w.ip >> 8) & 255, a.w.ip & 255,
		a.w.prefix_len, a.w.rx_region);
	e = make_engine(&a, app);
	cores = dl_platform_zmalloc(n * sizeof(*cores), -1);
	if (e == NULL || cores == NULL || (app->init != NULL && app->init() != 0)) {
		if (e != NULL && cores != NULL)
			DL_ERR("application %s: initialisation failed", app->name);
		dl_engine_destroy(e);
		dl_platform_free(cores);
		dl_attach_close(&a);
		return 1;
	}
	dl_runtime_install_signals();
	memset(&set, 0, sizeof(set));
	set.engine = e;
	set.idle = dl_idle_resolve(cfg.idle, false);
	launched = run_threads(cores, n, &a, &set);
	rc = launched == (int)n ? watch(&a) : 1;
	dl_runtime_stop();
	for (int j = 0; j < launched; j++)
		failed |= dl_platform_thread_join(cores[j].thr) != 0;
	DL_INFO("stopped; counters:");
	dl_stats_dump(stdout, cfg.stats_all);
	dl_engine_stop(e);
	if (app->fini != NULL)
		app->fini();
	dl_engine_destroy(e);
	for (int j = 0; j < launched; j++)
		dl_core_fini(&cores[j].core);
	dl_platform_free(cores);
	dl_attach_close(&a);
	return rc != 0 || failed ? 1 : 0;
}
