/*
 * dl_numa.h - placing memory on NUMA nodes (libnuma), for the platform and
 * the regions: a region's pages are bound to the node of the cores that
 * use them before anything touches them, and per-core state comes from
 * the core's node.
 *
 * On a machine without NUMA support (numa_available() < 0) every call
 * still succeeds and places nothing: the kernel's first-touch policy
 * applies. A node < 0 means "no preference" everywhere.
 */
#ifndef DL_NUMA_H
#define DL_NUMA_H

#include <stdbool.h>
#include <stddef.h>

/** True when the kernel and libnuma support NUMA placement. */
bool dl_numa_available(void);

/** Number of memory nodes (1 when NUMA is not available). */
int dl_numa_nodes(void);

/**
 * Bind [@p addr, @p addr + @p len) (page aligned) to node @p node
 * (mbind(MPOL_BIND), moving the pages this process already touched); on a
 * shared mapping the policy belongs to the file and holds for every
 * process that maps it.
 * @return 0 (also when NUMA is not available or @p node < 0), -EINVAL
 *         (no such node, unaligned), or mbind's -errno.
 */
int dl_numa_bind(void *addr, size_t len, int node);

/** Zeroed, 64-byte aligned memory on node @p node (< 0: anywhere). NULL if none. */
void *dl_numa_zalloc(size_t size, int node);

/** Free dl_numa_zalloc() memory (NULL is fine). */
void dl_numa_free(void *p);

#endif /* DL_NUMA_H */
