/*
 * region.c - the process-wide table of memory regions (see dl_hal.h).
 *
 * Regions are backed by memfds (MFD_HUGETLB for DL_REGION_HUGE) so that the
 * protected-mode service can pass them to application processes with
 * SCM_RIGHTS and each side maps them with its own permissions. Messages
 * name memory as (region id, offset); this table turns that back into a
 * pointer in the current process.
 */
#include "dl_hal.h"
#include "dl_log.h"
#include "dl_numa.h"

#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif

static pthread_mutex_t region_lock = PTHREAD_MUTEX_INITIALIZER;
struct dl_region *dl_region_table[DL_REGION_MAX];

static size_t round_up(size_t v, size_t a)
{
	return (v + a - 1) / a * a;
}

/* Claim a free slot (id) in the table; -1 when full. Caller holds the lock. */
static int claim_id(void)
{
	for (int i = 0; i < DL_REGION_MAX; i++)
		if (dl_region_table[i] == NULL)
			return i;
	return -1;
}

static struct dl_region *map_region(uint16_t id, const char *name, int fd, size_t len,
				    bool readonly, size_t page_size, unsigned flags)
{
	struct dl_region *r = calloc(1, sizeof(*r));
	void *p;

	if (r == NULL)
		return NULL;
	p = mmap(NULL, len, readonly ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		int e = errno;
		free(r);
		errno = e;
		return NULL;
	}
	r->id = id;
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->base = p;
	r->len = len;
	r->fd = fd;
	r->flags = flags;
	r->readonly = readonly;
	r->page_size = page_size;
	r->numa_node = -1;
	return r;
}

struct dl_region *dl_region_create(const char *name, size_t len, unsigned flags)
{
	return dl_region_create_on(name, len, flags, -1);
}

struct dl_region *dl_region_create_on(const char *name, size_t len, unsigned flags, int numa_node)
{
	size_t page = (flags & DL_REGION_HUGE) ? 2u << 20 : (size_t)sysconf(_SC_PAGESIZE);
	struct dl_region *r;
	int fd, id;

	if (len == 0) {
		errno = EINVAL;
		return NULL;
	}
	len = round_up(len, page);
	/* Sealable, so protected mode can forbid writable mappings and
	 * resizing once a region is shared (F_SEAL_FUTURE_WRITE, ...). */
	fd = memfd_create(name, ((flags & DL_REGION_HUGE) ? MFD_HUGETLB : 0) | MFD_ALLOW_SEALING);
	if (fd < 0)
		return NULL;
	if (ftruncate(fd, (off_t)len) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return NULL;
	}
	pthread_mutex_lock(&region_lock);
	id = claim_id();
	if (id < 0) {
		pthread_mutex_unlock(&region_lock);
		close(fd);
		DL_ERR("region %s: region table full (%d regions)", name, DL_REGION_MAX);
		errno = ENOSPC;
		return NULL;
	}
	r = map_region((uint16_t)id, name, fd, len, false, page, flags);
	if (r == NULL) {
		int e = errno;
		pthread_mutex_unlock(&region_lock);
		close(fd);
		errno = e;
		return NULL;
	}
	/* Placement first: nothing has touched the pages yet. */
	if (numa_node >= 0 && dl_numa_available()) {
		int rc = dl_numa_bind(r->base, len, numa_node);

		if (rc != 0) {
			pthread_mutex_unlock(&region_lock);
			DL_ERR("region %s: cannot bind %zu bytes to NUMA node %d: %s", name, len,
			       numa_node, strerror(-rc));
			munmap(r->base, len);
			close(fd);
			free(r);
			errno = -rc;
			return NULL;
		}
		r->numa_node = numa_node;
	}
	/* Hugetlb pages are allocated lazily: touch them now so an
	 * exhausted pool fails here and not with SIGBUS on a hot path. */
	if (flags & DL_REGION_HUGE)
		for (size_t off = 0; off < len; off += page)
			r->base[off] = 0;
	dl_region_table[id] = r;
	pthread_mutex_unlock(&region_lock);
	return r;
}

struct dl_region *dl_region_attach(uint16_t id, const char *name, int fd, size_t len,
				   bool readonly)
{
	struct dl_region *r;

	if (id >= DL_REGION_MAX || fd < 0 || len == 0) {
		errno = EINVAL;
		return NULL;
	}
	pthread_mutex_lock(&region_lock);
	if (dl_region_table[id] != NULL) {
		pthread_mutex_unlock(&region_lock);
		errno = EEXIST;
		return NULL;
	}
	r = map_region(id, name, fd, len, readonly, (size_t)sysconf(_SC_PAGESIZE), DL_REGION_SHARED);
	if (r != NULL)
		dl_region_table[id] = r;
	pthread_mutex_unlock(&region_lock);
	return r;
}

struct dl_region *dl_region_adopt(const char *name, void *base, size_t len, size_t page_size)
{
	struct dl_region *r;
	int id;

	if (base == NULL || len == 0) {
		errno = EINVAL;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	pthread_mutex_lock(&region_lock);
	id = claim_id();
	if (id < 0) {
		pthread_mutex_unlock(&region_lock);
		free(r);
		DL_ERR("region %s: region table full (%d regions)", name, DL_REGION_MAX);
		errno = ENOSPC;
		return NULL;
	}
	r->id = (uint16_t)id;
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->base = base;
	r->len = len;
	r->fd = -1;
	r->flags = DL_REGION_ADOPTED;
	r->page_size = page_size;
	dl_region_table[id] = r;
	pthread_mutex_unlock(&region_lock);
	return r;
}

void dl_region_destroy(struct dl_region *r)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&region_lock);
	if (r->id < DL_REGION_MAX && dl_region_table[r->id] == r)
		dl_region_table[r->id] = NULL;
	pthread_mutex_unlock(&region_lock);
	if (!(r->flags & DL_REGION_ADOPTED))
		munmap(r->base, r->len);
	if (r->fd >= 0)
		close(r->fd);
	free(r);
}

int dl_region_bind(struct dl_region *r, size_t off, size_t len, int numa_node)
{
	size_t start, end;

	if (r == NULL || off > r->len || len > r->len - off)
		return -EINVAL;
	start = off / r->page_size * r->page_size;
	end = (off + len + r->page_size - 1) / r->page_size * r->page_size;
	return dl_numa_bind(r->base + start, end - start, numa_node);
}

void dl_region_report(void)
{
	pthread_mutex_lock(&region_lock);
	for (int i = 0; i < DL_REGION_MAX; i++) {
		const struct dl_region *r = dl_region_table[i];
		char node[48];

		if (r == NULL)
			continue;
		if (r->numa_node >= 0)
			snprintf(node, sizeof(node), "NUMA node %d", r->numa_node);
		else
			snprintf(node, sizeof(node), "%s",
				 !dl_numa_available() ? "no NUMA placement (not available)"
				 : r->readonly	      ? "mapped read-only"
						      : "first-touch placement");
		DL_INFO("memory: region %u %-10s %9.1f MiB, %s pages, %s%s", r->id, r->name,
			(double)r->len / (1 << 20), r->page_size >= (2u << 20) ? "2 MiB" : "4 KiB",
			node, r->readonly ? "" : (r->fd >= 0 ? ", shareable" : ""));
	}
	pthread_mutex_unlock(&region_lock);
}

struct dl_region *dl_region_find(const void *p, size_t len)
{
	const uint8_t *b = p;

	for (int i = 0; i < DL_REGION_MAX; i++) {
		struct dl_region *r = dl_region_table[i];
		if (r != NULL && b >= r->base && dl_region_contains(r, (uint64_t)(b - r->base), len))
			return r;
	}
	return NULL;
}
