/*
 * alloc.c - tmc/alloc.h for the model. Huge allocations are made of model
 * huge pages (MDE_MODEL_HUGE_PAGE bytes; by default the size the host's
 * /proc/meminfo gives as Hugepagesize, as tmc_alloc takes the system's
 * default huge page): anonymous host memory aligned to that size and recorded by
 * memmap.c as physically contiguous pages, which is what the mPIPE checks
 * need; the model does no real DMA, so the host's physical layout does not
 * matter. Small allocations are recorded as 4 KiB pages. Memory is zeroed.
 */
#include "model_priv.h"

#include <tmc/alloc.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static size_t huge_page(void)
{
	const char *e = getenv("MDE_MODEL_HUGE_PAGE");
	unsigned long v = e != NULL ? strtoul(e, NULL, 0) : 0;

	FILE *f;
	char line[128];

	if (v >= 4096 && (v & (v - 1)) == 0)
		return (size_t)v;
	f = fopen("/proc/meminfo", "r");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "Hugepagesize: %lu kB", &v) == 1 && v >= 4 && (v & (v - 1)) == 0) {
			fclose(f);
			return (size_t)v * 1024;
		}
	if (f != NULL)
		fclose(f);
	return (size_t)2 << 20;
}

void *tmc_alloc_map(const tmc_alloc_t *alloc, size_t length)
{
	bool huge = alloc != NULL && (alloc->mmap_flags & __TMC_ALLOC_MAP_HUGETLB);
	size_t page = huge ? huge_page() : (size_t)sysconf(_SC_PAGESIZE);
	int prot = alloc != NULL ? alloc->mmap_prot : PROT_READ | PROT_WRITE;
	size_t len, span;
	uint8_t *p, *a;

	if (length == 0) {
		errno = EINVAL;
		return NULL;
	}
	len = (length + page - 1) / page * page;
	span = len + (huge ? page : 0);
	p = mmap(NULL, span, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	a = (uint8_t *)(((uintptr_t)p + page - 1) & ~(uintptr_t)(page - 1));
	if (a > p)
		munmap(p, (size_t)(a - p));
	if (a + len < p + span)
		munmap(a + len, (size_t)(p + span - (a + len)));
	mde_mem_add(a, len, page);
	return a;
}

int tmc_alloc_unmap(void *start, size_t length)
{
	size_t page = mde_mem_page_size(start);

	if (page == 0 || ((uintptr_t)start & (page - 1)) != 0) {
		errno = EINVAL;
		return -1;
	}
	mde_mem_remove(start);
	return munmap(start, (length + page - 1) / page * page);
}

tmc_alloc_t *tmc_alloc_set_home(tmc_alloc_t *alloc, int home)
{
	(void)home; /* cache homing has no observable effect in the model */
	return alloc;
}
