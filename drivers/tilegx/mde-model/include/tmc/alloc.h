/*
 * tmc/alloc.h (MDE model) - page allocation, as the Tilera MDE declares it
 * (the part DLibOS uses).
 *
 * The model's huge pages: tmc_alloc_set_huge() gives memory in pages of
 * MDE_MODEL_HUGE_PAGE bytes (default: the Hugepagesize of /proc/meminfo,
 * the system's default huge page, as on TILE-Gx Linux), aligned to that size. The model records
 * them as physically contiguous pages, which is what gxio_mpipe_register_page() and the ring
 * initialisers check; they are ordinary anonymous host memory, so no host
 * hugepage reservation is needed. Memory not from tmc_alloc is judged by
 * the page size the host kernel backs it with.
 */
#ifndef MDE_MODEL_TMC_ALLOC_H
#define MDE_MODEL_TMC_ALLOC_H

#include <stddef.h>
#include <sys/mman.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/** How to allocate (fields set only through the tmc_alloc_set_* calls). */
typedef struct tmc_alloc_t {
	int mmap_prot;
	int mmap_flags;
	int mbind_policy;
	unsigned long mbind_nodemask;
	size_t pagesize;
	void *mmap_mbind_func;
} tmc_alloc_t;

#define __TMC_ALLOC_MAP_HUGETLB 0x40000

#define TMC_ALLOC_INIT                                                                             \
	{                                                                                          \
		PROT_READ | PROT_WRITE, 0, 0, 0, 0, 0                                              \
	}

/* Homing choices (recorded, no effect in the model). */
#define TMC_ALLOC_HOME_SINGLE 0x10000
#define TMC_ALLOC_HOME_HERE   0x10001
#define TMC_ALLOC_HOME_TASK   0x10002
#define TMC_ALLOC_HOME_HASH   0x10003

/** Zeroed memory of length bytes (rounded up to the page size), or NULL. */
void *tmc_alloc_map(const tmc_alloc_t *alloc, size_t length);

/** Release tmc_alloc_map() memory. 0, or -1 with errno. */
int tmc_alloc_unmap(void *start, size_t length);

static inline tmc_alloc_t *tmc_alloc_set_huge(tmc_alloc_t *alloc)
{
	alloc->mmap_flags |= __TMC_ALLOC_MAP_HUGETLB;
	alloc->pagesize = 0;
	return alloc;
}

static inline tmc_alloc_t *tmc_alloc_clear_huge(tmc_alloc_t *alloc)
{
	alloc->mmap_flags &= ~__TMC_ALLOC_MAP_HUGETLB;
	alloc->pagesize = 0;
	return alloc;
}

/** Choose the cache home of the pages (a cpu or TMC_ALLOC_HOME_*). */
tmc_alloc_t *tmc_alloc_set_home(tmc_alloc_t *alloc, int home);

#ifdef __cplusplus
}
#endif

#endif
