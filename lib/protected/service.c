/*
 * service.c - the protected-mode control plane (see dl_service.h).
 *
 * One control thread runs a poll() loop over: the listening socket, an
 * eventfd (network cores write it when they kick a slot; dl_service_stop
 * writes it too), every client's connection and every client's pidfd.
 * A client is a connected socket; it becomes an attached application
 * after a HELLO that the policy accepts and a free slot. Detaching is
 * asynchronous: the slot goes DETACHING, the loop polls every 2 ms until
 * the network cores have let go, then releases it and closes the
 * connection. A detaching client's descriptors leave the poll set (a
 * closed socket would otherwise report POLLHUP forever).
 *
 * Everything a client sends is untrusted: sizes and types are checked
 * exactly (dl_ctl_check), names are cut and cleaned, a client that says
 * nothing within HELLO_TIMEOUT_US is dropped, a TX descriptor must be a
 * memfd sealed against shrinking (so the service's read-only mapping can
 * never fault) of at least the announced size.
 *
 * Counters: module "service" (attachments, refusals, detach causes).
 */
#include "dl_service.h"
#include "dl_runtime.h"
#include "dl_config.h"
#include "dl_ctl.h"
#include "dl_log.h"
#include "dl_platform.h"
#include "dl_policy.h"
#include "dl_stats.h"
#include "dl_telemetry.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

#define HELLO_TIMEOUT_US (5 * 1000000ull)
#define GRAVE_DELAY_US	 1000000ull /* TX mappings outlive their slot this long */
#define MAX_GRAVES	 64
#define EXTRA_CLIENTS	 8 /* connections beyond the slots (they get REFUSE) */
#define TX_MAX		 ((uint64_t)64 << 30)

enum svc_cnt {
	SVC_ATTACHED,
	SVC_REFUSED,
	SVC_DETACH_CLOSED,
	SVC_DETACH_EXITED,
	SVC_DETACH_KICKED,
	SVC_DETACH_PROTOCOL,
	SVC_HELLO_TIMEOUT,
	SVC_TOO_MANY_CLIENTS,
	SVC_NCNT
};

static const char *const svc_cnt_names[SVC_NCNT] = {
    [SVC_ATTACHED] = "attached",
    [SVC_REFUSED] = "refused",
    [SVC_DETACH_CLOSED] = "detach_connection_closed",
    [SVC_DETACH_EXITED] = "detach_process_exited",
    [SVC_DETACH_KICKED] = "detach_kicked",
    [SVC_DETACH_PROTOCOL] = "detach_protocol_error",
    [SVC_HELLO_TIMEOUT] = "drop_hello_timeout",
    [SVC_TOO_MANY_CLIENTS] = "drop_too_many_clients",
};

struct client {
	int fd;	   /* -1: unused entry */
	int pidfd; /* -1: none */
	int slot;  /* -1 until attached */
	bool detaching;
	uid_t uid;
	pid_t pid;
	uint64_t since;
	char name[DL_CTL_NAME_MAX];
};

struct grave {
	struct dl_region *r;
	uint64_t when;
};

struct dl_service {
	struct dl_service_conf conf;
	struct dl_engine *e;
	struct dl_nic *nic;
	struct dl_policy policy;
	uint32_t ip;
	uint8_t prefix_len;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int lfd, evfd, rx_fd;
	struct dl_region *rx;
	struct dl_thread *thr; /* the control thread */
	bool running;
	int stop; /* atomic */
	unsigned nclients;
	struct client *cl;
	struct grave graves[MAX_GRAVES];
	uint64_t cnt[SVC_NCNT];
	struct dl_counter_block blk;
	/* Held by the control thread while it handles a poll round (it
	 * attaches and releases slots then) and by /dlibos/apps. */
	pthread_mutex_t tel_lock;
	bool tel_on;
};

/* ---- options ------------------------------------------------------------ */

enum { OPT_CTL = 1, OPT_POLICY, OPT_SLOTS, OPT_CORES_MAX, OPT_BAD_LIMIT, OPT_RX_MEMORY,
       OPT_RX_SHARING };

const struct dl_app_opt dl_service_opts[] = {
    {"ctl", "PATH", "control socket applications attach to (default " DL_CTL_DEFAULT_PATH ")",
     OPT_CTL},
    {"policy", "FILE",
     "what applications may do (docs/protected.md); default: processes of our own uid may "
     "use any port, others are refused",
     OPT_POLICY},
    {"app-slots", "K", "application processes attached at once (default 4)", OPT_SLOTS},
    {"app-cores-max", "M", "application cores per process (default 4; K*M <= the build's cores)",
     OPT_CORES_MAX},
    {"max-bad-commands", "N",
     "invalid commands an application may send before it is detached (default 1000, 0: never)",
     OPT_BAD_LIMIT},
    {"app-rx-memory", "MB",
     "each application's own RX region, where its received data is copied (default 16; a "
     "policy rule's rx-memory= wins)",
     OPT_RX_MEMORY},
    {"rx-sharing", NULL,
     "the application reads the port's RX buffers directly (zero copy): only with --app-slots "
     "1, since every attached application could read every other's data",
     OPT_RX_SHARING},
};
const unsigned dl_service_n_opts = sizeof(dl_service_opts) / sizeof(dl_service_opts[0]);

void dl_service_conf_defaults(struct dl_service_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->ctl_path = DL_CTL_DEFAULT_PATH;
	c->app_slots = 4;
	c->app_cores_max = 4;
	c->bad_limit = 1000;
	c->app_rx_memory = DL_ENGINE_SLOT_RX_DEFAULT;
}

int dl_service_parse_opt(struct dl_service_conf *c, int key, const char *v, char *err,
			 size_t errlen)
{
	unsigned long long x;

	switch (key) {
	case OPT_CTL:
		if (strlen(v) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return dl_errf(err, errlen, "--ctl '%s': longer than a socket path may be",
				       v);
		c->ctl_path = v;
		return 0;
	case OPT_POLICY:
		c->policy_path = v;
		return 0;
	case OPT_SLOTS:
		if (dl_parse_uint(v, 1, 32, &x) != 0)
			return dl_errf(err, errlen, "--app-slots '%s': expected 1..32", v);
		c->app_slots = (unsigned)x;
		return 0;
	case OPT_CORES_MAX:
		if (dl_parse_uint(v, 1, DL_MAX_CORES, &x) != 0)
			return dl_errf(err, errlen, "--app-cores-max '%s': expected 1..%d", v,
				       DL_MAX_CORES);
		c->app_cores_max = (unsigned)x;
		return 0;
	case OPT_BAD_LIMIT:
		if (dl_parse_uint(v, 0, UINT32_MAX - 1, &x) != 0)
			return dl_errf(err, errlen, "--max-bad-commands '%s': expected a count", v);
		c->bad_limit = (uint32_t)x;
		return 0;
	case OPT_RX_MEMORY:
		if (dl_parse_uint(v, 1, 1u << 20, &x) != 0)
			return dl_errf(err, errlen, "--app-rx-memory '%s': expected 1..1048576 (MiB)",
				       v);
		c->app_rx_memory = (size_t)x << 20;
		return 0;
	case OPT_RX_SHARING:
		c->rx_sharing = true;
		return 0;
	}
	return dl_errf(err, errlen, "internal: unknown service option %d", key);
}

/* ---- helpers ------------------------------------------------------------ */

static uint64_t now_us(void)
{
	return dl_now_us();
}

/* mkdir -p of the socket's folder (0755). */
static int make_parent(const char *path)
{
	char dir[PATH_MAX];
	char *slash;

	if (strlen(path) >= sizeof(dir))
		return -1;
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(dir, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* Bind the control socket; a stale one is replaced, a live one refused. */
static int bind_socket(struct dl_service *s)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	struct stat st;
	int fd;

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", s->path);
	if (make_parent(s->path) != 0) {
		DL_ERR("control socket %s: cannot create its folder: %s", s->path, strerror(errno));
		return -1;
	}
	if (lstat(s->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			DL_ERR("control socket %s: the path exists and is not a socket", s->path);
			return -1;
		}
		fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
			close(fd);
			DL_ERR("control socket %s: another dlibosd serves it (stop it, or give "
			       "--ctl another path)",
			       s->path);
			return -1;
		}
		if (fd >= 0)
			close(fd);
		unlink(s->path); /* stale: its service is gone */
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    chmod(s->path, 0660) != 0 || listen(fd, 16) != 0) {
		DL_ERR("control socket %s: %s", s->path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	s->lfd = fd;
	return 0;
}

/* The RX region: sealed (no new writable mapping, no resize) and a
 * read-only descriptor for applications. */
static int prepare_rx(struct dl_service *s)
{
	char proc[64];

	s->rx = s->nic->rx_region != DL_REGION_NONE ? dl_region_get(s->nic->rx_region) : NULL;
	if (s->rx == NULL || s->rx->fd < 0) {
		DL_ERR("protected mode needs the RX buffers in a shareable region, and the port "
		       "fell back to a normal mempool (see the warnings above; IOVA-as-VA, "
		       "e.g. --no-huge or --iova-mode=va, or hugepages for IOVA-as-PA)");
		return -1;
	}
	if (fcntl(s->rx->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE) != 0)
		DL_WARN("cannot seal the RX region (%s): applications get it read-only, but one "
			"that reopens the descriptor could map it writable",
			strerror(errno));
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", s->rx->fd);
	s->rx_fd = open(proc, O_RDONLY | O_CLOEXEC);
	if (s->rx_fd < 0) {
		DL_ERR("RX region: cannot open a read-only descriptor (%s): %s", proc,
		       strerror(errno));
		return -1;
	}
	return 0;
}

static int load_policy(struct dl_service *s)
{
	char err[320];

	if (s->conf.policy_path == NULL) {
		dl_policy_default(&s->policy, (uint32_t)getuid());
		DL_WARN("no --policy: applications running as uid %u (ours) may attach and use "
			"any port; other users are refused",
			(unsigned)getuid());
		return 0;
	}
	if (dl_policy_load(&s->policy, s->conf.policy_path, err, sizeof(err)) != 0) {
		DL_ERR("--policy %s", err);
		return -1;
	}
	DL_INFO("policy %s: %u rule(s)", s->conf.policy_path, s->policy.n);
	for (unsigned i = 0; i < s->policy.n; i++) {
		char line[DL_POLICY_FORMAT_MAX];
		dl_policy_rule_format(&s->policy.rule[i], line, sizeof(line));
		DL_INFO("  line %u: %s", s->policy.rule[i].may.line, line);
	}
	return 0;
}

struct dl_service *dl_service_create(const struct dl_service_conf *c, struct dl_engine *e,
				     struct dl_nic *nic, uint32_t ip, uint8_t prefix_len)
{
	struct dl_service *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->conf = *c;
	s->e = e;
	s->nic = nic;
	s->ip = ip;
	s->prefix_len = prefix_len;
	s->lfd = s->evfd = s->rx_fd = -1;
	pthread_mutex_init(&s->tel_lock, NULL);
	snprintf(s->path, sizeof(s->path), "%s", c->ctl_path);
	s->nclients = dl_engine_slots(e) + EXTRA_CLIENTS;
	s->cl = calloc(s->nclients, sizeof(*s->cl));
	if (s->cl == NULL) {
		free(s);
		return NULL;
	}
	for (unsigned i = 0; i < s->nclients; i++)
		s->cl[i].fd = s->cl[i].pidfd = -1;
	dl_stats_register(&s->blk, "service", svc_cnt_names, SVC_NCNT, s->cnt, -1);
	s->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->evfd < 0 || load_policy(s) != 0 || (s->conf.rx_sharing && prepare_rx(s) != 0) ||
	    bind_socket(s) != 0) {
		if (s->evfd < 0)
			DL_ERR("eventfd: %s", strerror(errno));
		dl_service_destroy(s);
		return NULL;
	}
	dl_engine_set_kick_fd(e, s->evfd);
	/* Same-uid processes may not ptrace us or read /proc/PID/mem. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	DL_INFO("protected mode: control socket %s (mode 0660), %u application slot(s) of up "
		"to %u core(s)",
		s->path, dl_engine_slots(e), dl_engine_slot_cores(e));
	if (s->conf.rx_sharing)
		DL_INFO("received data: zero copy, the application maps the port's RX region %u "
			"(%zu MiB) read-only (--rx-sharing, one application slot)",
			s->rx->id, s->rx->len >> 20);
	else if (nic->ops->rx_steer != NULL && (nic->caps & DL_NIC_CAP_RX_STEER))
		DL_INFO("received data: the port steers the ports an application's policy lists "
			"(up to %u) into its own RX region, zero copy; the rest is copied there by "
			"the network cores (%zu MiB unless its policy says; engine.rx_steered_bytes, "
			"engine.rx_copied_bytes count each)",
			DL_SLOT_STEER_PORTS, s->conf.app_rx_memory >> 20);
	else
		DL_INFO("received data: copied by the network cores into each application's own "
			"RX region (%zu MiB unless its policy says; the port cannot steer flows to "
			"per-application buffers: engine.rx_copied_bytes counts it)",
			s->conf.app_rx_memory >> 20);
	return s;
}

/* ---- talking to a client ------------------------------------------------ */

static void refuse(struct dl_service *s, struct client *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void refuse(struct dl_service *s, struct client *c, int err, const char *fmt, ...)
{
	struct dl_ctl_refuse r;
	va_list ap;

	memset(&r, 0, sizeof(r));
	dl_ctl_hdr_init(&r.h, DL_CTL_REFUSE);
	r.err = err;
	va_start(ap, fmt);
	vsnprintf(r.msg, sizeof(r.msg), fmt, ap);
	va_end(ap);
	s->cnt[SVC_REFUSED]++;
	DL_WARN("refused pid %d uid %u (%s): %s", (int)c->pid, (unsigned)c->uid,
		c->name[0] ? c->name : "?", r.msg);
	dl_ctl_send(c->fd, &r, sizeof(r), NULL, 0);
}

static void tell_detach(struct client *c, int reason, const char *msg)
{
	struct dl_ctl_detach d;

	memset(&d, 0, sizeof(d));
	dl_ctl_hdr_init(&d.h, DL_CTL_DETACH);
	d.reason = reason;
	snprintf(d.msg, sizeof(d.msg), "%s", msg);
	dl_ctl_send(c->fd, &d, sizeof(d), NULL, 0);
}

static void client_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	if (c->pidfd >= 0)
		close(c->pidfd);
	memset(c, 0, sizeof(*c));
	c->fd = c->pidfd = c->slot = -1;
}

/* Start detaching the client's slot (or just drop an unattached client). */
static void detach(struct dl_service *s, struct client *c, enum svc_cnt why, const char *what)
{
	if (c->slot < 0) {
		client_close(c);
		return;
	}
	if (c->detaching)
		return;
	s->cnt[why]++;
	c->detaching = true;
	DL_INFO("slot %d (%s, pid %d): %s; detaching", c->slot, c->name, (int)c->pid, what);
	dl_engine_slot_detach(s->e, (unsigned)c->slot);
}

/* A free slot no client holds. */
static int free_slot(struct dl_service *s)
{
	for (unsigned k = 0; k < dl_engine_slots(s->e); k++) {
		bool held = false;
		for (unsigned i = 0; i < s->nclients; i++)
			held |= s->cl[i].fd >= 0 && s->cl[i].slot == (int)k;
		if (!held && dl_engine_slot_state(s->e, k) == DL_SLOT_FREE)
			return (int)k;
	}
	return -1;
}

/* Map the application's TX memfd read-only under a free region id. */
static struct dl_region *map_tx(struct client *c, int slot, int fd, uint64_t len, char *why,
				size_t whylen)
{
	struct stat st;
	char name[32];
	int seals = fcntl(fd, F_GET_SEALS);

	if (seals < 0 || !(seals & F_SEAL_SHRINK)) {
		dl_errf(why, whylen, "the TX descriptor must be a memfd sealed with F_SEAL_SHRINK");
		return NULL;
	}
	if (fstat(fd, &st) != 0 || len < 4096 || len > TX_MAX || (uint64_t)st.st_size < len) {
		dl_errf(why, whylen,
			"TX memory of %llu bytes (the memfd has %lld; 4 KiB .. 64 GiB)",
			(unsigned long long)len, (long long)st.st_size);
		return NULL;
	}
	snprintf(name, sizeof(name), "slot%d-tx", slot);
	for (uint16_t id = 0; id < DL_REGION_MAX; id++) {
		struct dl_region *r;
		if (dl_region_get(id) != NULL)
			continue;
		r = dl_region_attach(id, name, fd, (size_t)len, true);
		if (r != NULL)
			return r;
		if (errno != EEXIST) {
			dl_errf(why, whylen, "cannot map the TX memory: %s", strerror(errno));
			return NULL;
		}
	}
	dl_errf(why, whylen, "no free region id in the service");
	(void)c;
	return NULL;
}

static int open_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	return -1;
#endif
}

static void welcome(struct dl_service *s, struct client *c, unsigned slot, unsigned n_app,
		    const struct dl_region *tx)
{
	struct dl_ctl_welcome w;
	struct dl_region *fab = dl_engine_slot_fabric(s->e, slot);
	struct dl_region *rx = dl_engine_slot_rx(s->e, slot);
	int fds[2] = {fab->fd, -1};
	char proc[64];

	/* The application's RX region, read-only: the port's (shared) or its
	 * own copy region, sealed against writable mappings either way. */
	if (rx == s->rx && s->rx_fd >= 0) {
		fds[1] = dup(s->rx_fd);
	} else if (rx != NULL) {
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", rx->fd);
		fds[1] = open(proc, O_RDONLY | O_CLOEXEC);
	}
	if (fds[1] < 0) {
		detach(s, c, SVC_DETACH_CLOSED, "cannot open its RX region read-only");
		return;
	}

	memset(&w, 0, sizeof(w));
	dl_ctl_hdr_init(&w.h, DL_CTL_WELCOME);
	w.slot = slot;
	w.app_base = slot * dl_engine_slot_cores(s->e);
	w.n_app = n_app;
	w.n_net = dl_engine_net_cores(s->e);
	w.noc_words = dl_engine_noc_words(s->e);
	w.ip = s->ip;
	w.prefix_len = s->prefix_len;
	w.tx_region = tx->id;
	w.rx_region = rx->id;
	w.rx_len = rx->len;
	w.fab_len = dl_engine_slot_fabric_len(s->e, slot);
	if (dl_ctl_send(c->fd, &w, sizeof(w), fds, 2) != 0)
		detach(s, c, SVC_DETACH_CLOSED, "cannot send WELCOME");
	close(fds[1]);
}

/* HELLO: policy, slot, TX memory, attach, WELCOME. The descriptor is ours. */
static void on_hello(struct dl_service *s, struct client *c, const struct dl_ctl_hello *h, int fd)
{
	struct dl_slot_grant g;
	const struct dl_policy_rule *rule;
	struct dl_region *tx;
	char why[200];
	int slot;

	memcpy(c->name, h->name, sizeof(c->name));
	c->name[sizeof(c->name) - 1] = '\0';
	for (char *p = c->name; *p != '\0'; p++)
		if (*p < 0x21 || *p > 0x7e)
			*p = '?';
	rule = dl_policy_match(&s->policy, (uint32_t)c->uid, c->name);
	if (rule == NULL) {
		refuse(s, c, EACCES, "no policy rule for uid %u, application '%s'",
		       (unsigned)c->uid, c->name);
		goto out;
	}
	if (h->app_cores == 0 || h->app_cores > dl_engine_slot_cores(s->e)) {
		refuse(s, c, EINVAL, "%u application cores asked, the service allows 1..%u",
		       h->app_cores, dl_engine_slot_cores(s->e));
		goto out;
	}
	slot = free_slot(s);
	if (slot < 0) {
		refuse(s, c, EBUSY, "all %u application slots are in use", dl_engine_slots(s->e));
		goto out;
	}
	tx = map_tx(c, slot, fd, h->tx_len, why, sizeof(why));
	if (tx == NULL) {
		refuse(s, c, EINVAL, "%s", why);
		goto out;
	}
	fd = -1; /* the region owns it now */
	memset(&g, 0, sizeof(g));
	g.n_app = h->app_cores;
	g.tx = tx;
	g.rights = &rule->may;
	g.rx_bytes = rule->may.rx_memory != 0 ? rule->may.rx_memory : s->conf.app_rx_memory;
	g.rx_shared = s->conf.rx_sharing;
	snprintf(g.name, sizeof(g.name), "%s", c->name);
	g.uid = (uint32_t)c->uid;
	g.pid = (int32_t)c->pid;
	if (dl_engine_slot_attach(s->e, (unsigned)slot, &g, why, sizeof(why)) != 0) {
		dl_region_destroy(tx);
		refuse(s, c, ENOMEM, "%s", why);
		goto out;
	}
	c->slot = slot;
	c->pidfd = open_pidfd(c->pid);
	s->cnt[SVC_ATTACHED]++;
	DL_INFO("slot %d: attached %s (pid %d, uid %u), %u application core(s) = application "
		"indexes %u..%u, TX memory %llu KiB (region %u, %s)",
		slot, c->name, (int)c->pid, (unsigned)c->uid, g.n_app,
		slot * dl_engine_slot_cores(s->e), slot * dl_engine_slot_cores(s->e) + g.n_app - 1,
		(unsigned long long)(h->tx_len >> 10), tx->id,
		rule->may.line ? "policy rule" : "default policy");
	welcome(s, c, (unsigned)slot, g.n_app, tx);
out:
	if (fd >= 0)
		close(fd);
	if (c->slot < 0)
		client_close(c); /* refused: the entry is free for others at once */
}

/* Something arrived on a client's connection (or it closed). */
static void on_client(struct dl_service *s, struct client *c)
{
	union {
		struct dl_ctl_hello hello;
		uint8_t raw[512];
	} m;
	int fds[DL_CTL_MAX_FDS];
	unsigned nfds = 0;
	ssize_t n = dl_ctl_recv(c->fd, &m, sizeof(m), fds, DL_CTL_MAX_FDS, &nfds);
	int type;

	if (n == -EAGAIN)
		return;
	if (n <= 0) {
		detach(s, c, SVC_DETACH_CLOSED,
		       n == 0 ? "control connection closed" : "control connection failed");
		return;
	}
	type = dl_ctl_check(&m, (size_t)n);
	if (c->slot < 0 && type == DL_CTL_HELLO && nfds == 1) {
		on_hello(s, c, &m.hello, fds[0]);
		return;
	}
	dl_ctl_close_fds(fds, nfds);
	if (c->slot < 0) {
		refuse(s, c, EPROTO, "expected HELLO with one descriptor");
		client_close(c);
		return;
	}
	tell_detach(c, DL_CTL_DETACH_PROTOCOL, "unexpected control message");
	detach(s, c, SVC_DETACH_PROTOCOL, "unexpected control message");
}

static void on_accept(struct dl_service *s)
{
	for (;;) {
		int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct client *c = NULL;
		struct ucred cr;
		socklen_t len = sizeof(cr);

		if (fd < 0)
			return;
		for (unsigned i = 0; i < s->nclients && c == NULL; i++)
			if (s->cl[i].fd < 0)
				c = &s->cl[i];
		if (c == NULL) {
			s->cnt[SVC_TOO_MANY_CLIENTS]++;
			close(fd);
			continue;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0) {
			close(fd);
			continue;
		}
		memset(c, 0, sizeof(*c));
		c->fd = fd;
		c->pidfd = -1;
		c->slot = -1;
		c->uid = cr.uid;
		c->pid = cr.pid;
		c->since = now_us();
	}
}

/* Slots whose network cores let go: free them and their clients. */
static void reap(struct dl_service *s, bool cores_stopped)
{
	for (unsigned i = 0; i < s->nclients; i++) {
		struct client *c = &s->cl[i];
		struct dl_region *tx = NULL;

		if (c->fd < 0 || c->slot < 0 || !c->detaching)
			continue;
		if (cores_stopped)
			dl_engine_slot_detach_stopped(s->e, (unsigned)c->slot);
		if (!dl_engine_slot_quiet(s->e, (unsigned)c->slot))
			continue;
		dl_engine_slot_release(s->e, (unsigned)c->slot, &tx);
		DL_INFO("slot %d: released (%s, pid %d)", c->slot, c->name, (int)c->pid);
		for (unsigned k = 0; tx != NULL && k < MAX_GRAVES; k++) {
			if (s->graves[k].r == NULL) {
				s->graves[k] = (struct grave){tx, now_us() + GRAVE_DELAY_US};
				tx = NULL;
			}
		}
		dl_region_destroy(tx); /* no grave left: at once */
		client_close(c);
	}
}

static void bury(struct dl_service *s, bool all)
{
	uint64_t now = now_us();

	for (unsigned k = 0; k < MAX_GRAVES; k++) {
		if (s->graves[k].r != NULL && (all || now >= s->graves[k].when)) {
			dl_region_destroy(s->graves[k].r);
			s->graves[k].r = NULL;
		}
	}
}

/* Kicks from the network cores, HELLO timeouts. */
static void housekeeping(struct dl_service *s)
{
	uint64_t now = now_us(), v;

	if (read(s->evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		DL_DEBUG("eventfd read: %s", strerror(errno));
	for (unsigned i = 0; i < s->nclients; i++) {
		struct client *c = &s->cl[i];
		int k;

		if (c->fd < 0)
			continue;
		if (c->slot < 0 && now - c->since > HELLO_TIMEOUT_US) {
			s->cnt[SVC_HELLO_TIMEOUT]++;
			client_close(c);
			continue;
		}
		if (c->slot < 0 || c->detaching)
			continue;
		k = dl_engine_slot_kicked(s->e, (unsigned)c->slot);
		if (k == DL_KICK_NONE)
			continue;
		tell_detach(c,
			    k == DL_KICK_BAD_COMMANDS ? DL_CTL_DETACH_BAD_COMMANDS
						      : DL_CTL_DETACH_PROTOCOL,
			    k == DL_KICK_BAD_COMMANDS	  ? "too many invalid commands"
			    : k == DL_KICK_BROKEN_CHANNEL ? "a NoC channel is broken"
							  : "events not read");
		detach(s, c, SVC_DETACH_KICKED,
		       k == DL_KICK_BAD_COMMANDS     ? "kicked: too many invalid commands"
		       : k == DL_KICK_BROKEN_CHANNEL ? "kicked: broken NoC channel"
						     : "kicked: events not read");
	}
}

static int control_thread(void *arg)
{
	struct dl_service *s = arg;
	struct pollfd *pfd = calloc(2 + 2 * s->nclients, sizeof(*pfd));
	struct client **who = calloc(2 + 2 * s->nclients, sizeof(*who));

	if (pfd == NULL || who == NULL) {
		DL_ERR("control thread: out of memory");
		free(pfd);
		free(who);
		return 0;
	}
	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		unsigned n = 0;
		bool waiting = false;

		pfd[n++] = (struct pollfd){s->lfd, POLLIN, 0};
		pfd[n++] = (struct pollfd){s->evfd, POLLIN, 0};
		for (unsigned i = 0; i < s->nclients; i++) {
			struct client *c = &s->cl[i];
			if (c->fd < 0)
				continue;
			waiting |= c->detaching || c->slot < 0;
			if (c->detaching)
				continue;
			who[n] = c;
			pfd[n++] = (struct pollfd){c->fd, POLLIN, 0};
			if (c->pidfd >= 0) {
				who[n] = c;
				pfd[n++] = (struct pollfd){c->pidfd, POLLIN, 0};
			}
		}
		if (poll(pfd, n, waiting ? 2 : 100) < 0 && errno != EINTR) {
			DL_ERR("control thread: poll: %s", strerror(errno));
			break;
		}
		pthread_mutex_lock(&s->tel_lock);
		if (pfd[0].revents)
			on_accept(s);
		for (unsigned k = 2; k < n; k++) {
			struct client *c = who[k];
			if (pfd[k].revents == 0 || c->fd < 0 || c->detaching)
				continue;
			if (pfd[k].fd == c->pidfd)
				detach(s, c, SVC_DETACH_EXITED, "process exited");
			else
				on_client(s, c);
		}
		housekeeping(s);
		reap(s, false);
		bury(s, false);
		pthread_mutex_unlock(&s->tel_lock);
	}
	free(pfd);
	free(who);
	return 0;
}

/* ---- telemetry: /dlibos/apps --------------------------------------------- */

static const char *const slot_state_names[] = {"free", "active", "detaching"};
static const char *const kick_names[] = {"none", "bad_commands", "broken_channel", "stuck"};

static int cmd_apps(void *arg, const char *params, struct dl_tel *out)
{
	struct dl_service *s = arg;
	unsigned attached = 0, waiting = 0;
	uint64_t now = now_us();
	struct dl_tel *cnt;

	(void)params;
	pthread_mutex_lock(&s->tel_lock);
	dl_tel_u64(out, "slots", dl_engine_slots(s->e));
	dl_tel_u64(out, "slot_cores", dl_engine_slot_cores(s->e));
	dl_tel_str(out, "control_socket", s->path);
	if (s->conf.policy_path != NULL)
		dl_tel_str(out, "policy", s->conf.policy_path);
	else
		dl_tel_strf(out, "policy", "default: uid %u, any port", (unsigned)getuid());
	dl_tel_u64(out, "policy_rules", s->policy.n);
	dl_tel_u64(out, "bad_command_limit", s->conf.bad_limit);
	for (unsigned i = 0; i < s->nclients; i++) {
		attached += s->cl[i].fd >= 0 && s->cl[i].slot >= 0;
		waiting += s->cl[i].fd >= 0 && s->cl[i].slot < 0;
	}
	dl_tel_u64(out, "attached", attached);
	dl_tel_u64(out, "connecting", waiting);
	for (unsigned k = 0; k < dl_engine_slots(s->e); k++) {
		struct dl_engine_slot_view v;
		const struct client *c = NULL;
		char name[16];
		struct dl_tel *d;

		dl_engine_slot_view(s->e, k, &v);
		for (unsigned i = 0; i < s->nclients && c == NULL; i++)
			if (s->cl[i].fd >= 0 && s->cl[i].slot == (int)k)
				c = &s->cl[i];
		snprintf(name, sizeof(name), "slot%u", k);
		d = dl_tel_dict(out, name);
		dl_tel_str(d, "state", (unsigned)v.state < 3 ? slot_state_names[v.state] : "?");
		if (v.state == DL_SLOT_FREE)
			continue;
		dl_tel_str(d, "name", v.name);
		dl_tel_int(d, "pid", v.pid);
		dl_tel_u64(d, "uid", v.uid);
		dl_tel_u64(d, "app_cores", v.n_app);
		dl_tel_u64(d, "first_app_index", v.base);
		dl_tel_u64(d, "policy_line", v.policy_line);
		dl_tel_u64(d, "tx_memory_kib", v.tx_bytes >> 10);
		dl_tel_u64(d, "bad_commands", v.bad_commands);
		dl_tel_u64(d, "events_sent", v.events_sent);
		dl_tel_u64(d, "commands_received", v.commands_received);
		dl_tel_u64(d, "events_waiting", v.ovf_pending);
		dl_tel_str(d, "kicked", (unsigned)v.kick < 4 ? kick_names[v.kick] : "?");
		if (c != NULL)
			dl_tel_u64(d, "connected_s", (now - c->since) / 1000000);
	}
	cnt = dl_tel_dict(out, "counters");
	for (unsigned i = 0; i < SVC_NCNT; i++)
		dl_tel_u64(cnt, svc_cnt_names[i], __atomic_load_n(&s->cnt[i], __ATOMIC_RELAXED));
	pthread_mutex_unlock(&s->tel_lock);
	return 0;
}

int dl_service_start(struct dl_service *s)
{
	int rc = dl_platform_thread_start(&s->thr, "dl-service", -1, control_thread, s);

	if (rc != 0) {
		DL_ERR("cannot start the control thread: %s", strerror(-rc));
		return -1;
	}
	s->running = true;
	s->tel_on = dl_tel_register("/dlibos/apps",
				    "protected mode: attached processes, slots, policy, bad commands",
				    cmd_apps, s) == 0;
	return 0;
}

void dl_service_stop(struct dl_service *s)
{
	uint64_t one = 1;

	if (s == NULL || !s->running)
		return;
	if (s->tel_on)
		dl_tel_unregister("/dlibos/apps");
	s->tel_on = false;
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
	if (write(s->evfd, &one, sizeof(one)) < 0)
		DL_DEBUG("eventfd write: %s", strerror(errno));
	dl_platform_thread_join(s->thr);
	s->thr = NULL;
	s->running = false;
	for (unsigned i = 0; i < s->nclients; i++) {
		struct client *c = &s->cl[i];
		if (c->fd >= 0 && c->slot >= 0 && !c->detaching)
			tell_detach(c, DL_CTL_DETACH_SHUTDOWN, "the service is stopping");
	}
}

void dl_service_release_slots(struct dl_service *s)
{
	if (s == NULL)
		return;
	for (unsigned i = 0; i < s->nclients; i++) {
		struct client *c = &s->cl[i];
		if (c->fd < 0)
			continue;
		if (c->slot < 0)
			client_close(c);
		else
			detach(s, c, SVC_DETACH_CLOSED, "service stopping");
	}
	reap(s, true);
}

void dl_service_destroy(struct dl_service *s)
{
	if (s == NULL)
		return;
	dl_service_stop(s);
	dl_service_release_slots(s);
	bury(s, true);
	if (s->lfd >= 0) {
		close(s->lfd);
		unlink(s->path);
	}
	if (s->evfd >= 0)
		close(s->evfd);
	if (s->rx_fd >= 0)
		close(s->rx_fd);
	dl_stats_unregister(&s->blk);
	pthread_mutex_destroy(&s->tel_lock);
	free(s->cl);
	free(s);
}

/* ---- dlibosd: the runtime with the service's hooks ----------------------- */

struct service_main {
	struct dl_service_conf conf;
	struct dl_service *svc;
};

static int main_parse_opt(void *arg, int key, const char *value, char *err, size_t errlen)
{
	struct service_main *m = arg;

	return dl_service_parse_opt(&m->conf, key, value, err, errlen);
}

static int main_check(void *arg, char *err, size_t errlen)
{
	const struct service_main *m = arg;

	if (m->conf.rx_sharing && m->conf.app_slots != 1)
		return dl_errf(err, errlen,
			       "--rx-sharing lets an application read the port's RX buffers, "
			       "everybody's data: it takes --app-slots 1");
	return 0;
}

static void main_engine_conf(void *arg, struct dl_engine_conf *ec)
{
	const struct service_main *m = arg;

	ec->app_slots = m->conf.app_slots;
	ec->slot_cores = m->conf.app_cores_max;
	ec->bad_command_limit = m->conf.bad_limit ? m->conf.bad_limit : UINT32_MAX;
}

static int main_create(void *arg, struct dl_runtime *rt)
{
	struct service_main *m = arg;

	m->svc = dl_service_create(&m->conf, rt->engine, rt->nic, rt->cfg.ip, rt->cfg.prefix_len);
	return m->svc != NULL ? 0 : -1;
}

static int main_start(void *arg)
{
	struct service_main *m = arg;

	return dl_service_start(m->svc);
}

static void main_stop(void *arg)
{
	struct service_main *m = arg;

	dl_service_stop(m->svc);
}

static void main_cores_stopped(void *arg)
{
	struct service_main *m = arg;

	dl_service_release_slots(m->svc);
}

static void main_destroy(void *arg)
{
	struct service_main *m = arg;

	dl_service_destroy(m->svc);
	m->svc = NULL;
}

int dl_service_main(int argc, char **argv, const char *prog, const char *summary)
{
	static struct service_main m;
	const struct dl_runtime_ext ext = {
	    .service = true,
	    .arg = &m,
	    .opts = dl_service_opts,
	    .n_opts = dl_service_n_opts,
	    .parse_opt = main_parse_opt,
	    .check_opts = main_check,
	    .engine_conf = main_engine_conf,
	    .create = main_create,
	    .start = main_start,
	    .stop = main_stop,
	    .cores_stopped = main_cores_stopped,
	    .destroy = main_destroy,
	};

	memset(&m, 0, sizeof(m));
	dl_service_conf_defaults(&m.conf);
	return dl_runtime_main(argc, argv, NULL, prog, summary, &ext);
}
