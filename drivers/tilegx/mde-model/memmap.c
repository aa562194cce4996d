/*
 * memmap.c - which page backs an address, for the checks the hypervisor
 * makes on memory handed to mPIPE (a registered page must be one real page;
 * ring and stack memory must be physically contiguous).
 *
 * tmc_alloc memory is recorded here with the page size it was made of
 * (alloc.c). Any other memory (memfd regions, malloc) is judged by the host
 * kernel's page size for its mapping, read from /proc/self/smaps: memory in
 * 4 KiB host pages is contiguous only within 4 KiB, hugetlb memory within
 * its huge page. Control path only (smaps is read per question).
 */
#include "model_priv.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RANGES 256

struct range {
	uintptr_t base;
	size_t len, page;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct range ranges[MAX_RANGES];
static unsigned nranges;

void mde_mem_add(void *base, size_t len, size_t page)
{
	pthread_mutex_lock(&lock);
	if (nranges < MAX_RANGES)
		ranges[nranges++] = (struct range){(uintptr_t)base, len, page};
	else
		mde_model_warn("more than %d tmc_alloc ranges: later ones judged by host pages",
			       MAX_RANGES);
	pthread_mutex_unlock(&lock);
}

void mde_mem_remove(void *base)
{
	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < nranges; i++)
		if (ranges[i].base == (uintptr_t)base) {
			ranges[i] = ranges[--nranges];
			break;
		}
	pthread_mutex_unlock(&lock);
}

/* Host page size of the mapping holding p (smaps), 0 if unmapped. */
static size_t host_page_size(uintptr_t p)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool inside = false;
	size_t page = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		uintptr_t lo, hi;
		unsigned long kb;

		/* A mapping's first line is "lo-hi perms ..."; field lines
		 * ("KernelPageSize: 4 kB") never parse as two hex numbers. */
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " ", &lo, &hi) == 2) {
			inside = p >= lo && p < hi;
			continue;
		}
		if (inside && sscanf(line, "KernelPageSize: %lu kB", &kb) == 1) {
			page = (size_t)kb * 1024;
			break;
		}
	}
	fclose(f);
	return page;
}

size_t mde_mem_page_size(const void *ptr)
{
	uintptr_t p = (uintptr_t)ptr;
	size_t page = 0;

	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < nranges; i++)
		if (p >= ranges[i].base && p - ranges[i].base < ranges[i].len) {
			page = ranges[i].page;
			break;
		}
	pthread_mutex_unlock(&lock);
	return page != 0 ? page : host_page_size(p);
}

bool mde_mem_contiguous(const void *ptr, size_t len)
{
	uintptr_t p = (uintptr_t)ptr;
	size_t page = mde_mem_page_size(ptr);
	uintptr_t start;

	if (page == 0 || len == 0)
		return false;
	start = p & ~(uintptr_t)(page - 1);
	return len <= page && p - start <= page - len;
}
