/*
 * numa.c - NUMA placement with libnuma (see dl_numa.h).
 *
 * dl_numa_zalloc() keeps the size in a 64-byte header in front of the
 * block (numa_free() needs it); the block itself comes from
 * numa_alloc_onnode() (pages of that node) or, without NUMA, from
 * posix_memalign().
 */
#include "dl_numa.h"

#include <errno.h>
#include <numa.h>
#include <numaif.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HDR 64 /* keeps the block 64-byte aligned */

struct zhdr {
	size_t total; /* bytes allocated, header included */
	int numa;     /* 1: numa_alloc_onnode(), 0: posix_memalign() */
};

_Static_assert(sizeof(struct zhdr) <= HDR, "the header fits");

bool dl_numa_available(void)
{
	static int avail = -2;

	if (avail == -2)
		avail = numa_available();
	return avail >= 0;
}

int dl_numa_nodes(void)
{
	return dl_numa_available() ? numa_max_node() + 1 : 1;
}

int dl_numa_bind(void *addr, size_t len, int node)
{
	unsigned long mask[16] = {0}; /* nodes 0..1023 */
	long page = sysconf(_SC_PAGESIZE);

	if (node < 0 || len == 0 || !dl_numa_available())
		return 0;
	if (node >= dl_numa_nodes() || node >= (int)(sizeof(mask) * 8) ||
	    (uintptr_t)addr % (uintptr_t)page != 0)
		return -EINVAL;
	mask[node / (8 * sizeof(long))] |= 1ul << (node % (8 * sizeof(long)));
	if (mbind(addr, len, MPOL_BIND, mask, sizeof(mask) * 8, MPOL_MF_MOVE) != 0)
		return -errno;
	return 0;
}

void *dl_numa_zalloc(size_t size, int node)
{
	size_t total = size + HDR;
	struct zhdr *h = NULL;

	if (size == 0 || total < size)
		return NULL;
	if (node >= 0 && dl_numa_available() && node < dl_numa_nodes()) {
		h = numa_alloc_onnode(total, node); /* page aligned, zeroed pages */
		if (h != NULL)
			h->numa = 1;
	}
	if (h == NULL) {
		void *p;

		if (posix_memalign(&p, HDR, total) != 0)
			return NULL;
		h = p;
		h->numa = 0;
	}
	memset((uint8_t *)h + HDR, 0, size);
	h->total = total;
	return (uint8_t *)h + HDR;
}

void dl_numa_free(void *p)
{
	struct zhdr *h;

	if (p == NULL)
		return;
	h = (struct zhdr *)((uint8_t *)p - HDR);
	if (h->numa)
		numa_free(h, h->total);
	else
		free(h);
}
