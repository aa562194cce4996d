/*
 * platform.c - dl_platform.h over the TILE-Gx MDE's tmc: tiles as cores
 * (one thread per tile, bound with tmc_cpus_set_my_cpu), memory from
 * tmc_alloc, the mesh coordinates of each tile, and the mPIPE port
 * (nic.c).
 *
 * The command line before `--` takes the EAL-style arguments the x86
 * build takes, for what exists on TILE-Gx:
 *
 *   -l LIST, --lcores LIST   tiles (cpus) to run on, e.g. 0-3 or 1,3,5;
 *                            core 0 is the first (the main thread)
 *   -a LINK, --allow LINK    an mPIPE link (xgbe1, gbe0, loop0; on the MDE
 *                            model also tap:IFNAME); port i is the i-th -a
 *   -m MB                    cap on the runtime's own allocations
 *   --file-prefix NAME       accepted (one runtime per process anyway)
 *   --log-level LEVEL        err|warn|info|debug, 1..8, or TYPE:LEVEL
 *   --no-huge                no huge pages (mPIPE then cannot register
 *                            enough memory: the port refuses to open)
 *
 * Anything else (--no-pci, --vdev, ...) is an error that says what to use.
 *
 * Topology: x, y are the tile's mesh coordinates; l3_domain carries the
 * mesh quadrant (TILE-Gx's L3 is distributed over all tiles), which is what
 * the quadrant layouts of the paper's Figure 3 partition.
 *
 * The UDN (the NoC's transport, noc/udn): dl_platform_init() makes the
 * hardwall over the tiles of -l (tmc_udn_init), and every thread bound to
 * a tile here (the main thread, each launched core, an attached
 * application's core thread) activates the UDN right after binding
 * (tmc_udn_activate), so that every core can send and receive packets
 * from its first instruction. dl_platform_fini() removes the hardwall.
 */
#include <tmc/alloc.h>
#include <tmc/cpus.h>
#include <tmc/udn.h>

#include "dl_capture.h"
#include "dl_log.h"
#include "dl_platform.h"
#include "dl_tilegx.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_LINKS 8
#define ZHDR	  64u /* bytes before each zmalloc block (its size) */

struct launch {
	pthread_t thread;
	int (*fn)(void *);
	void *arg;
	int cpu;
	int rc;
	bool running;
};

static struct {
	unsigned n;
	int cpu[DL_MAX_CORES];
	const char *link[MAX_LINKS];
	unsigned nlinks;
	bool huge;
	bool hardwall; /* tmc_udn_init() succeeded: threads activate the UDN */
	size_t mem_limit, mem_used;
	struct launch core[DL_MAX_CORES];
} plat;

static pthread_mutex_t mem_lock = PTHREAD_MUTEX_INITIALIZER;

static const char usage_hint[] =
    "the TILE-Gx platform takes -l/--lcores LIST, -a LINK, -m MB, --file-prefix NAME, "
    "--log-level LEVEL and --no-huge, then -- and the runtime's options";

static int plat_error(const char *prog, const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", prog);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nhint: %s\n", usage_hint);
	return -1;
}

/* Value of an option given as "--opt=V", "--opt V", "-oV" or "-o V". */
static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
	const char *a = argv[*i];
	size_t n = strlen(name);

	if (strncmp(a, name, n) != 0)
		return NULL;
	if (a[n] == '=' && name[1] == '-')
		return a + n + 1;
	if (a[n] != '\0')
		return name[1] == '-' ? NULL : a + n; /* -l0-3 */
	if (*i + 1 >= argc)
		return "";
	return argv[++*i];
}

static int parse_level(const char *v)
{
	const char *c = strrchr(v, ':');
	static const char *const names[] = {"err",    "error", "warn", "warning",
					    "notice", "info",  "debug"};
	static const int levels[] = {DL_LOG_ERR,  DL_LOG_ERR,  DL_LOG_WARN, DL_LOG_WARN,
				     DL_LOG_INFO, DL_LOG_INFO, DL_LOG_DEBUG};
	char *end;
	long n;

	if (c != NULL)
		v = c + 1;
	n = strtol(v, &end, 10);
	if (*v != '\0' && *end == '\0') {
		if (n < 1 || n > 8)
			return -1;
		return n <= 4	? DL_LOG_ERR
		       : n == 5 ? DL_LOG_WARN
		       : n <= 7 ? DL_LOG_INFO
				: DL_LOG_DEBUG;
	}
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(v, names[i]) == 0)
			return levels[i];
	return -1;
}

static int parse_cores(const char *prog, const char *v)
{
	cpu_set_t set, online;

	if (strpbrk(v, "@()") != NULL)
		return plat_error(prog,
				  "--lcores %s: lcore-to-cpu maps do not exist on TILE-Gx (one "
				  "core per tile): give the tiles as a list, e.g. -l 0-3",
				  v);
	if (tmc_cpus_from_string(&set, v) != 0 || tmc_cpus_count(&set) == 0)
		return plat_error(prog, "-l %s: not a list of tiles like 0-3 or 1,3,5", v);
	tmc_cpus_get_online_cpus(&online);
	plat.n = 0;
	for (int c = tmc_cpus_find_first_cpu(&set), k = 0; c >= 0;
	     c = tmc_cpus_find_nth_cpu(&set, (unsigned)++k)) {
		char s[16];
		if (!tmc_cpus_has_cpu(&online, (unsigned)c)) {
			snprintf(s, sizeof(s), "%d", c);
			return plat_error(prog, "-l: tile %s is not online", s);
		}
		if (plat.n == DL_MAX_CORES) {
			snprintf(s, sizeof(s), "%d", DL_MAX_CORES);
			return plat_error(prog, "-l: more than %s tiles", s);
		}
		plat.cpu[plat.n++] = c;
	}
	return 0;
}

/* The UDN hardwall over the tiles of -l: the NoC of --mode dlibos (and of
 * rtc with several cores) runs on it. Without it the runtime still runs
 * on one core; a NoC endpoint would be stopped by the firewall, so say so. */
static void udn_hardwall(void)
{
	cpu_set_t set;

	tmc_cpus_clear(&set);
	for (unsigned i = 0; i < plat.n; i++)
		tmc_cpus_add_cpu(&set, (unsigned)plat.cpu[i]);
	plat.hardwall = tmc_udn_init(&set) == 0;
	if (!plat.hardwall)
		DL_WARN("tmc_udn_init over the %u tiles failed (%s): no UDN, so no NoC between "
			"cores (one core only)",
			plat.n, strerror(errno));
}

/* Let the calling thread, just bound to @p cpu, use the UDN. */
static void udn_activate(int cpu)
{
	if (plat.hardwall && tmc_udn_activate() != 0)
		DL_WARN("tile %d: tmc_udn_activate failed (%s): this core cannot use the NoC", cpu,
			strerror(errno));
}

int dl_platform_init(int argc, char **argv)
{
	const char *prog = argc > 0 ? argv[0] : "dlibos";
	bool have_cores = false;

	memset(&plat, 0, sizeof(plat));
	plat.huge = true;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v;

		if ((v = opt_value(argc, argv, &i, "--lcores")) != NULL ||
		    (v = opt_value(argc, argv, &i, "-l")) != NULL) {
			if (parse_cores(prog, v) != 0)
				return -1;
			have_cores = true;
		} else if ((v = opt_value(argc, argv, &i, "--allow")) != NULL ||
			   (v = opt_value(argc, argv, &i, "-a")) != NULL) {
			if (*v == '\0')
				return plat_error(prog, "-a needs an mPIPE link name%s", "");
			if (plat.nlinks == MAX_LINKS)
				return plat_error(prog, "more than 8 links (-a %s)", v);
			plat.link[plat.nlinks++] = v;
		} else if ((v = opt_value(argc, argv, &i, "-m")) != NULL) {
			char *end;
			unsigned long mb = strtoul(v, &end, 10);
			if (*v == '\0' || *end != '\0' || mb == 0)
				return plat_error(prog, "-m %s: not a number of megabytes", v);
			plat.mem_limit = (size_t)mb << 20;
		} else if ((v = opt_value(argc, argv, &i, "--file-prefix")) != NULL) {
			if (*v == '\0')
				return plat_error(prog, "--file-prefix needs a name%s", "");
		} else if ((v = opt_value(argc, argv, &i, "--log-level")) != NULL) {
			int l = parse_level(v);
			if (l < 0)
				return plat_error(
				    prog, "--log-level %s: not err|warn|info|debug or 1..8", v);
			dl_log_level = (enum dl_log_level)l;
		} else if (strcmp(a, "--no-huge") == 0) {
			plat.huge = false;
		} else if (strcmp(a, "--no-pci") == 0 || strncmp(a, "--vdev", 6) == 0 ||
			   strcmp(a, "--in-memory") == 0) {
			return plat_error(
			    prog,
			    "%s: no such thing on TILE-Gx (no PCI devices or DPDK vdevs: "
			    "the port is an mPIPE link named with -a)",
			    a);
		} else {
			return plat_error(prog, "unknown platform argument %s", a);
		}
	}
	if (!have_cores) {
		cpu_set_t set;
		char list[512];
		if (tmc_cpus_get_my_affinity(&set) != 0 ||
		    tmc_cpus_to_string(&set, list, sizeof(list)) < 0 ||
		    parse_cores(prog, list) != 0)
			return plat_error(prog, "cannot read this task's tiles: give -l LIST%s",
					  "");
	}
	if (tmc_cpus_set_my_cpu(plat.cpu[0]) != 0) {
		char s[16];
		snprintf(s, sizeof(s), "%d", plat.cpu[0]);
		return plat_error(prog, "tmc_cpus_set_my_cpu(%s) failed for the main thread", s);
	}
	udn_hardwall();
	udn_activate(plat.cpu[0]);
	return 0;
}

void dl_platform_fini(void)
{
	if (plat.hardwall)
		tmc_udn_close();
	plat.hardwall = false;
	plat.n = 0;
	plat.nlinks = 0;
}

unsigned dl_platform_core_count(void)
{
	return plat.n;
}

void dl_platform_core_info(unsigned i, struct dl_core_info *ci)
{
	unsigned x, y, w = tmc_cpus_grid_width(), h = tmc_cpus_grid_height();

	memset(ci, 0, sizeof(*ci));
	tmc_cpus_grid_cpu_to_tile((unsigned)plat.cpu[i], &x, &y);
	ci->id = i;
	ci->hw_id = (unsigned)plat.cpu[i];
	ci->cpu = plat.cpu[i];
	ci->numa_node = -1;
	ci->x = (int)x;
	ci->y = (int)y;
	/* Quadrants of the mesh (paper Figure 3): 0 1 / 2 3. */
	ci->l3_domain = (int)((x >= (w + 1) / 2) + 2 * (y >= (h + 1) / 2));
}

bool dl_platform_cores_exclusive(void)
{
	long online = sysconf(_SC_NPROCESSORS_ONLN);

	/* One thread per tile by construction; polling needs each to have a
	 * processor of its own and one left over for the rest. */
	return online > 0 && (long)plat.n < online;
}

static void *trampoline(void *arg)
{
	struct launch *l = arg;

	if (l->cpu >= 0 && tmc_cpus_set_my_cpu(l->cpu) != 0) {
		DL_ERR("tmc_cpus_set_my_cpu(%d) failed: %s", l->cpu, strerror(errno));
		l->rc = -1;
		return NULL;
	}
	if (l->cpu >= 0)
		udn_activate(l->cpu);
	l->rc = l->fn(l->arg);
	return NULL;
}

int dl_platform_launch(unsigned i, int (*fn)(void *), void *arg)
{
	struct launch *l;
	int rc;

	if (i == 0 || i >= plat.n)
		return -EINVAL;
	l = &plat.core[i];
	if (l->running)
		return -EBUSY;
	l->fn = fn;
	l->arg = arg;
	l->cpu = plat.cpu[i];
	l->rc = 0;
	rc = pthread_create(&l->thread, NULL, trampoline, l);
	if (rc != 0)
		return -rc;
	l->running = true;
	return 0;
}

int dl_platform_wait(unsigned i)
{
	struct launch *l;

	if (i == 0 || i >= plat.n || !plat.core[i].running)
		return -EINVAL;
	l = &plat.core[i];
	pthread_join(l->thread, NULL);
	l->running = false;
	return l->rc;
}

/* A thread that is not a core: a control thread (cpu < 0: not bound, it
 * runs on the tiles Linux keeps for itself) or an attached application's
 * core (bound to that tile). */
struct dl_thread {
	struct launch l;
};

int dl_platform_thread_start(struct dl_thread **tp, const char *name, int cpu, int (*fn)(void *),
			     void *arg)
{
	struct dl_thread *t = calloc(1, sizeof(*t));
	char shortname[16];
	int rc;

	if (t == NULL)
		return -ENOMEM;
	t->l.fn = fn;
	t->l.arg = arg;
	t->l.cpu = cpu;
	rc = pthread_create(&t->l.thread, NULL, trampoline, &t->l);
	if (rc != 0) {
		free(t);
		return -rc;
	}
	snprintf(shortname, sizeof(shortname), "%s", name);
	pthread_setname_np(t->l.thread, shortname);
	t->l.running = true;
	*tp = t;
	return 0;
}

int dl_platform_thread_join(struct dl_thread *t)
{
	int rc;

	pthread_join(t->l.thread, NULL);
	rc = t->l.rc;
	free(t);
	return rc;
}

void *dl_platform_zmalloc(size_t size, int numa_node)
{
	tmc_alloc_t alloc = TMC_ALLOC_INIT;
	size_t total = size + ZHDR;
	uint8_t *p;

	(void)numa_node; /* one memory node (striped controllers) */
	pthread_mutex_lock(&mem_lock);
	if (plat.mem_limit != 0 && plat.mem_used + total > plat.mem_limit) {
		pthread_mutex_unlock(&mem_lock);
		DL_ERR("out of platform memory: %zu bytes more than -m %zu MB allows", total,
		       plat.mem_limit >> 20);
		return NULL;
	}
	plat.mem_used += total;
	pthread_mutex_unlock(&mem_lock);
	tmc_alloc_set_home(&alloc, TMC_ALLOC_HOME_HASH);
	p = tmc_alloc_map(&alloc, total);
	if (p == NULL) {
		pthread_mutex_lock(&mem_lock);
		plat.mem_used -= total;
		pthread_mutex_unlock(&mem_lock);
		return NULL;
	}
	memcpy(p, &total, sizeof(total));
	return p + ZHDR;
}

void dl_platform_free(void *ptr)
{
	uint8_t *p = ptr;
	size_t total;

	if (p == NULL)
		return;
	p -= ZHDR;
	memcpy(&total, p, sizeof(total));
	tmc_alloc_unmap(p, total);
	pthread_mutex_lock(&mem_lock);
	plat.mem_used -= total;
	pthread_mutex_unlock(&mem_lock);
}

unsigned dl_platform_port_count(void)
{
	return plat.nlinks;
}

struct dl_nic *dl_platform_nic_open(const struct dl_nic_params *p)
{
	if (p->port_id >= plat.nlinks) {
		DL_ERR("port %u does not exist (%u mPIPE link(s) named): name the link with -a, "
		       "e.g. -a xgbe1 (on the MDE model -a tap:dl0)",
		       p->port_id, plat.nlinks);
		return NULL;
	}
	return dl_tilegx_nic_open(p, plat.link[p->port_id], plat.huge);
}

/* mPIPE has no capture writer of its own: a classic pcap file, written by
 * the capture's writer thread, for every link. */
struct dl_capture_sink *dl_platform_capture_sink(const char *path, uint16_t port_id,
						 uint32_t snaplen, char *err, size_t errlen)
{
	if (port_id >= plat.nlinks) {
		dl_errf(err, errlen, "port %u does not exist (%u mPIPE link(s) named)", port_id,
			plat.nlinks);
		return NULL;
	}
	return dl_pcap_sink_open(path, snaplen, err, errlen);
}
