/*
 * cpus.c - tmc/cpus.h for the model: the cpus are the tiles of a grid
 * (MDE_MODEL_GRID=WxH, default 6x6, at most 16x16), cpu = x + y * width,
 * every tile online. Binding a thread records its tile in a thread-local
 * variable (the UDN model and the SPRs read it); it does not pin the host
 * thread, because the model's tiles share the host's few CPUs.
 */
#include "model_priv.h"

#include <tmc/cpus.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned grid_w, grid_h;
static pthread_once_t grid_once = PTHREAD_ONCE_INIT;
static __thread int my_cpu = -1;

static void grid_read(void)
{
	const char *e = getenv("MDE_MODEL_GRID");
	unsigned w = 6, h = 6;

	if (e != NULL &&
	    (sscanf(e, "%ux%u", &w, &h) != 2 || w == 0 || h == 0 || w > 16 || h > 16)) {
		mde_model_warn("MDE_MODEL_GRID=%s is not WxH with 1..16 each: using 6x6", e);
		w = h = 6;
	}
	if (grid_w == 0) {
		grid_w = w;
		grid_h = h;
	}
}

unsigned mde_grid_width(void)
{
	pthread_once(&grid_once, grid_read);
	return grid_w;
}

unsigned mde_grid_height(void)
{
	pthread_once(&grid_once, grid_read);
	return grid_h;
}

void mde_grid_set(unsigned w, unsigned h)
{
	pthread_once(&grid_once, grid_read);
	grid_w = w;
	grid_h = h;
}

int mde_my_cpu(void)
{
	return my_cpu;
}

unsigned int tmc_cpus_grid_width(void)
{
	return mde_grid_width();
}

unsigned int tmc_cpus_grid_height(void)
{
	return mde_grid_height();
}

static unsigned ncpus(void)
{
	return mde_grid_width() * mde_grid_height();
}

void tmc_cpus_clear(cpu_set_t *s)
{
	CPU_ZERO(s);
}

int tmc_cpus_add_cpu(cpu_set_t *s, unsigned int cpu)
{
	if (cpu >= TMC_CPUS_MAX_COUNT) {
		errno = EINVAL;
		return -1;
	}
	CPU_SET(cpu, s);
	return 0;
}

int tmc_cpus_remove_cpu(cpu_set_t *s, unsigned int cpu)
{
	if (cpu >= TMC_CPUS_MAX_COUNT) {
		errno = EINVAL;
		return -1;
	}
	CPU_CLR(cpu, s);
	return 0;
}

int tmc_cpus_has_cpu(const cpu_set_t *s, unsigned int cpu)
{
	return cpu < TMC_CPUS_MAX_COUNT && CPU_ISSET(cpu, s);
}

unsigned int tmc_cpus_count(const cpu_set_t *s)
{
	return (unsigned)CPU_COUNT(s);
}

int tmc_cpus_find_nth_cpu(const cpu_set_t *s, unsigned int n)
{
	for (unsigned c = 0; c < TMC_CPUS_MAX_COUNT; c++)
		if (CPU_ISSET(c, s) && n-- == 0)
			return (int)c;
	return -1;
}

int tmc_cpus_find_first_cpu(const cpu_set_t *s)
{
	return tmc_cpus_find_nth_cpu(s, 0);
}

int tmc_cpus_from_string(cpu_set_t *s, const char *str)
{
	const char *p = str;

	CPU_ZERO(s);
	if (str == NULL || *str == '\0')
		return -1;
	while (*p != '\0') {
		char *end;
		unsigned long a, b;

		if (*p < '0' || *p > '9')
			return -1;
		a = strtoul(p, &end, 10);
		b = a;
		p = end;
		if (*p == '-') {
			p++;
			if (*p < '0' || *p > '9')
				return -1;
			b = strtoul(p, &end, 10);
			p = end;
		}
		if (a > b || b >= TMC_CPUS_MAX_COUNT)
			return -1;
		for (unsigned long c = a; c <= b; c++)
			CPU_SET(c, s);
		if (*p == ',' || *p == ';')
			p++;
		else if (*p != '\0')
			return -1;
	}
	return 0;
}

int tmc_cpus_to_string(const cpu_set_t *s, char *str, size_t limit)
{
	size_t n = 0;

	if (limit == 0)
		return -1;
	str[0] = '\0';
	for (unsigned c = 0; c < TMC_CPUS_MAX_COUNT; c++) {
		if (!CPU_ISSET(c, s))
			continue;
		int k = snprintf(str + n, limit - n, n ? ",%u" : "%u", c);
		if (k < 0 || (size_t)k >= limit - n)
			return -1;
		n += (size_t)k;
	}
	return (int)n;
}

int tmc_cpus_get_online_cpus(cpu_set_t *s)
{
	CPU_ZERO(s);
	for (unsigned c = 0; c < ncpus(); c++)
		CPU_SET(c, s);
	return 0;
}

int tmc_cpus_get_task_affinity(cpu_set_t *s, pid_t tid)
{
	if (tid != 0) {
		errno = ESRCH;
		return -1;
	}
	CPU_ZERO(s);
	if (my_cpu >= 0)
		CPU_SET(my_cpu, s);
	else
		tmc_cpus_get_online_cpus(s);
	return 0;
}

int tmc_cpus_set_task_cpu(int cpu, pid_t tid)
{
	if (tid != 0) {
		errno = ESRCH;
		return -1;
	}
	if (cpu < 0 || (unsigned)cpu >= ncpus()) {
		errno = EINVAL;
		return -1;
	}
	my_cpu = cpu;
	return 0;
}

int tmc_cpus_get_task_cpu(pid_t tid)
{
	if (tid != 0) {
		errno = ESRCH;
		return -1;
	}
	if (my_cpu < 0) {
		errno = ERANGE;
		return -1;
	}
	return my_cpu;
}
