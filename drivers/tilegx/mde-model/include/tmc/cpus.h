/*
 * tmc/cpus.h (MDE model) - CPU sets, task binding and the tile grid, as
 * the Tilera MDE declares them (the part DLibOS uses).
 *
 * In the model the "CPUs" are the tiles of a grid (default 6 x 6, set with
 * MDE_MODEL_GRID=WxH): cpu = x + y * width. Binding a thread to a tile
 * records the tile for the model (the UDN, SPR reads) but does not pin the
 * thread to a host CPU: the model's tiles share the host's CPUs.
 */
#ifndef MDE_MODEL_TMC_CPUS_H
#define MDE_MODEL_TMC_CPUS_H

#include <sched.h>
#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TMC_CPUS_MAX_COUNT __CPU_SETSIZE

void tmc_cpus_clear(cpu_set_t *s);
/** 0, or -1 with errno EINVAL for an illegal cpu. */
int tmc_cpus_add_cpu(cpu_set_t *s, unsigned int cpu);
int tmc_cpus_remove_cpu(cpu_set_t *s, unsigned int cpu);
int tmc_cpus_has_cpu(const cpu_set_t *s, unsigned int cpu);
unsigned int tmc_cpus_count(const cpu_set_t *s);
/** The n-th cpu of s (from 0), or -1. */
int tmc_cpus_find_nth_cpu(const cpu_set_t *s, unsigned int n);
int tmc_cpus_find_first_cpu(const cpu_set_t *s);
/** Parse "A,B,C-F": 0, or -1 on a bad string or cpu. */
int tmc_cpus_from_string(cpu_set_t *s, const char *string);
/** Format s as "A,B,C": characters written, or -1 if limit is too small. */
int tmc_cpus_to_string(const cpu_set_t *s, char *string, size_t limit);

/** The cpus on which tasks may run (model: every tile of the grid). */
int tmc_cpus_get_online_cpus(cpu_set_t *s);

/** Affinity of task tid (0: the caller). -1 with errno on failure. */
int tmc_cpus_get_task_affinity(cpu_set_t *s, pid_t tid);

/** Bind task tid (0: the caller; the model supports only 0) to one cpu. */
int tmc_cpus_set_task_cpu(int cpu, pid_t tid);

/** The single cpu task tid is bound to, or -1 with errno ERANGE. */
int tmc_cpus_get_task_cpu(pid_t tid);

static inline int tmc_cpus_get_my_affinity(cpu_set_t *s)
{
	return tmc_cpus_get_task_affinity(s, 0);
}

static inline int tmc_cpus_set_my_cpu(int cpu)
{
	return tmc_cpus_set_task_cpu(cpu, 0);
}

static inline int tmc_cpus_get_my_cpu(void)
{
	return tmc_cpus_get_task_cpu(0);
}

/** Grid width and height in tiles. */
unsigned int tmc_cpus_grid_width(void);
unsigned int tmc_cpus_grid_height(void);

static inline unsigned int tmc_cpus_grid_tile_to_cpu(unsigned int x, unsigned int y)
{
	return x + y * tmc_cpus_grid_width();
}

static inline void tmc_cpus_grid_cpu_to_tile(unsigned int cpu, unsigned int *x, unsigned int *y)
{
	unsigned int w = tmc_cpus_grid_width();

	*x = cpu % w;
	*y = cpu / w;
}

#ifdef __cplusplus
}
#endif

#endif
