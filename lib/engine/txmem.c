/*
 * txmem.c - first-fit allocator over an application's TX region (see
 * dl_txmem.h). Block layout: [64-byte header: size, magic][payload...].
 */
#include "dl_txmem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define TXMEM_ALIGN 64u
#define TXMEM_MAGIC 0x646c74786d656d21ull /* "dltxmem!" */

struct dl_txmem_free {
	size_t off, len;
	struct dl_txmem_free *next;
};

struct blk_hdr {
	uint64_t size; /* whole block, header included */
	uint64_t magic;
};

int dl_txmem_init(struct dl_txmem *m, struct dl_region *r)
{
	memset(m, 0, sizeof(*m));
	m->region = r;
	pthread_mutex_init(&m->lock, NULL);
	m->free = malloc(sizeof(*m->free));
	if (m->free == NULL)
		return -ENOMEM;
	m->free->off = 0;
	m->free->len = r->len / TXMEM_ALIGN * TXMEM_ALIGN;
	m->free->next = NULL;
	return 0;
}

void dl_txmem_fini(struct dl_txmem *m)
{
	while (m->free != NULL) {
		struct dl_txmem_free *n = m->free->next;
		free(m->free);
		m->free = n;
	}
	pthread_mutex_destroy(&m->lock);
}

void *dl_txmem_alloc(struct dl_txmem *m, size_t len)
{
	size_t need;
	void *ret = NULL;

	if (len == 0 || len > m->region->len)
		return NULL;
	need = (len + TXMEM_ALIGN - 1) / TXMEM_ALIGN * TXMEM_ALIGN + TXMEM_ALIGN;
	pthread_mutex_lock(&m->lock);
	for (struct dl_txmem_free **pp = &m->free; *pp != NULL; pp = &(*pp)->next) {
		struct dl_txmem_free *f = *pp;
		if (f->len < need)
			continue;
		struct blk_hdr *h = (struct blk_hdr *)(m->region->base + f->off);
		h->size = need;
		h->magic = TXMEM_MAGIC;
		ret = (uint8_t *)h + TXMEM_ALIGN;
		f->off += need;
		f->len -= need;
		if (f->len == 0) {
			*pp = f->next;
			free(f);
		}
		m->used += need;
		break;
	}
	pthread_mutex_unlock(&m->lock);
	return ret;
}

void dl_txmem_free(struct dl_txmem *m, void *p)
{
	uint8_t *b = p;
	struct blk_hdr *h;
	size_t off;

	if (p == NULL)
		return;
	if (!dl_txmem_contains(m, b - TXMEM_ALIGN, TXMEM_ALIGN) ||
	    (size_t)(b - m->region->base) % TXMEM_ALIGN != 0) {
		__atomic_add_fetch(&m->bad_frees, 1, __ATOMIC_RELAXED);
		return;
	}
	h = (struct blk_hdr *)(b - TXMEM_ALIGN);
	pthread_mutex_lock(&m->lock);
	if (h->magic != TXMEM_MAGIC || h->size == 0 ||
	    !dl_txmem_contains(m, h, h->size)) {
		m->bad_frees++;
		pthread_mutex_unlock(&m->lock);
		return;
	}
	h->magic = 0;
	off = (size_t)((uint8_t *)h - m->region->base);
	size_t len = h->size;
	m->used -= len;

	/* Insert in address order and merge with the neighbours. */
	struct dl_txmem_free **pp = &m->free, *prev = NULL;
	while (*pp != NULL && (*pp)->off < off) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	struct dl_txmem_free *next = *pp;
	if (prev != NULL && prev->off + prev->len == off) {
		prev->len += len;
		if (next != NULL && prev->off + prev->len == next->off) {
			prev->len += next->len;
			prev->next = next->next;
			free(next);
		}
	} else if (next != NULL && off + len == next->off) {
		next->off = off;
		next->len += len;
	} else {
		struct dl_txmem_free *f = malloc(sizeof(*f));
		if (f == NULL) {
			/* Cannot track it: leak the block rather than corrupt. */
			m->used += len;
		} else {
			f->off = off;
			f->len = len;
			f->next = next;
			*pp = f;
		}
	}
	pthread_mutex_unlock(&m->lock);
}

bool dl_txmem_contains(const struct dl_txmem *m, const void *p, size_t len)
{
	const uint8_t *b = p;

	return m->region != NULL && b >= m->region->base &&
	       dl_region_contains(m->region, (uint64_t)(b - m->region->base), len);
}
