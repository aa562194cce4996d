/*
 * platform.c - dl_platform.h over DPDK's EAL: start-up from the command
 * line (like testpmd), lcores and their topology, per-core launch,
 * threads (EAL control threads once the EAL runs, plain pinned threads in
 * a process without it), NUMA-local memory (libnuma, dl_numa.h), and
 * opening a port (nic.c).
 *
 * DLibOS core 0 is the main lcore; cores 1..n-1 are the worker lcores in
 * EAL order. The L3 domain of a core is the first CPU of the
 * shared_cpu_list of its CPU's level-3 cache in sysfs (one domain when
 * sysfs says nothing).
 */
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include "dl_log.h"
#include "dl_numa.h"
#include "dl_platform.h"
#include "dl_dpdk.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static unsigned core_lcore[DL_MAX_CORES];
static unsigned n_cores;
static bool eal_up; /* between dl_platform_init() and dl_platform_fini() */

int dl_platform_init(int argc, char **argv)
{
	unsigned lc;
	int rc = rte_eal_init(argc, argv);

	if (rc < 0) {
		fprintf(stderr,
			"%s: EAL initialisation failed: %s\n"
			"hint: run as root; without hugepages pass --no-huge -m 512; with other "
			"DPDK processes running pass --in-memory or --file-prefix NAME; name the "
			"device (--no-pci --vdev=net_tap0,iface=dl0, or -a PCI)\n",
			argv[0], rte_strerror(rte_errno));
		return -1;
	}
	n_cores = 0;
	core_lcore[n_cores++] = rte_get_main_lcore();
	RTE_LCORE_FOREACH_WORKER(lc)
	{
		if (n_cores == DL_MAX_CORES) {
			fprintf(stderr, "%s: more than %d lcores\n", argv[0], DL_MAX_CORES);
			rte_eal_cleanup();
			return -1;
		}
		core_lcore[n_cores++] = lc;
	}
	eal_up = true;
	dl_dpdk_observe_init();
	return 0;
}

void dl_platform_fini(void)
{
	eal_up = false;
	dl_dpdk_observe_fini();
	rte_eal_cleanup();
}

unsigned dl_platform_core_count(void)
{
	return n_cores;
}

/* First CPU sharing cpu's L3 cache, or 0 when unknown (one domain). */
static int l3_domain_of(int cpu)
{
	for (int idx = 0; idx < 16 && cpu >= 0; idx++) {
		char path[128], buf[256];
		FILE *f;
		int level = -1;

		snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/cache/index%d/level",
			 cpu, idx);
		f = fopen(path, "r");
		if (f == NULL)
			break;
		if (fscanf(f, "%d", &level) != 1)
			level = -1;
		fclose(f);
		if (level != 3)
			continue;
		snprintf(path, sizeof(path),
			 "/sys/devices/system/cpu/cpu%d/cache/index%d/shared_cpu_list", cpu, idx);
		f = fopen(path, "r");
		if (f == NULL)
			break;
		if (fgets(buf, sizeof(buf), f) == NULL)
			buf[0] = '\0';
		fclose(f);
		return buf[0] >= '0' && buf[0] <= '9' ? atoi(buf) : 0;
	}
	return 0;
}

/* Lowest CPU of the lcore's set, or -1. */
static int first_cpu(unsigned lcore)
{
	rte_cpuset_t set = rte_lcore_cpuset(lcore);

	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set))
			return c;
	return -1;
}

void dl_platform_core_info(unsigned i, struct dl_core_info *ci)
{
	unsigned lc = core_lcore[i];
	unsigned sock = rte_lcore_to_socket_id(lc);

	memset(ci, 0, sizeof(*ci));
	ci->id = i;
	ci->hw_id = lc;
	ci->cpu = first_cpu(lc);
	ci->numa_node = sock == (unsigned)SOCKET_ID_ANY ? -1 : (int)sock;
	ci->l3_domain = l3_domain_of(ci->cpu);
	ci->x = -1;
	ci->y = -1;
}

bool dl_platform_cores_exclusive(void)
{
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	rte_cpuset_t used;

	CPU_ZERO(&used);
	if (online <= 0 || (long)n_cores >= online)
		return false;
	for (unsigned i = 0; i < n_cores; i++) {
		rte_cpuset_t set = rte_lcore_cpuset(core_lcore[i]);
		int c = first_cpu(core_lcore[i]);

		if (CPU_COUNT(&set) != 1 || c < 0 || CPU_ISSET(c, &used))
			return false;
		CPU_SET(c, &used);
	}
	return true;
}

int dl_platform_launch(unsigned i, int (*fn)(void *), void *arg)
{
	if (i == 0 || i >= n_cores)
		return -EINVAL;
	return rte_eal_remote_launch(fn, arg, core_lcore[i]);
}

int dl_platform_wait(unsigned i)
{
	if (i == 0 || i >= n_cores)
		return -EINVAL;
	return rte_eal_wait_lcore(core_lcore[i]);
}

/* Per-core state comes from libnuma, not the EAL's heap, so that the same
 * calls serve an attached application process, which has no EAL. */
void *dl_platform_zmalloc(size_t size, int numa_node)
{
	return dl_numa_zalloc(size, numa_node);
}

void dl_platform_free(void *p)
{
	dl_numa_free(p);
}

struct dl_thread {
	pthread_t tid;
	int cpu;
	int (*fn)(void *);
	void *arg;
	int rc;
};

static void *thread_main(void *arg)
{
	struct dl_thread *t = arg;

	if (t->cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(t->cpu, &set);
		if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0)
			DL_WARN("thread: cannot pin to CPU %d", t->cpu);
	}
	t->rc = t->fn(t->arg);
	return NULL;
}

int dl_platform_thread_start(struct dl_thread **tp, const char *name, int cpu, int (*fn)(void *),
			     void *arg)
{
	struct dl_thread *t = calloc(1, sizeof(*t));
	char shortname[16];
	int rc;

	if (t == NULL)
		return -ENOMEM;
	t->cpu = cpu;
	t->fn = fn;
	t->arg = arg;
	snprintf(shortname, sizeof(shortname), "%s", name);
	/* A control thread of a running EAL goes where DPDK puts its own
	 * (the CPUs no lcore uses); anything else is a plain thread. */
	if (eal_up && cpu < 0)
		rc = rte_ctrl_thread_create(&t->tid, shortname, NULL, thread_main, t);
	else {
		rc = pthread_create(&t->tid, NULL, thread_main, t);
		if (rc == 0)
			pthread_setname_np(t->tid, shortname);
	}
	if (rc != 0) {
		free(t);
		return rc > 0 ? -rc : rc;
	}
	*tp = t;
	return 0;
}

int dl_platform_thread_join(struct dl_thread *t)
{
	int rc;

	pthread_join(t->tid, NULL);
	rc = t->rc;
	free(t);
	return rc;
}

unsigned dl_platform_port_count(void)
{
	return rte_eth_dev_count_avail();
}

struct dl_nic *dl_platform_nic_open(const struct dl_nic_params *p)
{
	return dl_dpdk_nic_open(p);
}
