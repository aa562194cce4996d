/*
 * fabric.c (noc/ring) - the rings between cores, laid out in one memory
 * block (see dl_noc.h for the fabric API, dl_tp.h for the transport).
 *
 * A plan numbers the rings row by row (source, then destination) over the
 * pairs that talk; every ring has the same size (dl_chan_mem_size()), so
 * ring k sits at k * size. Two processes that make the same plan find
 * every ring at the same offset: protected mode lays the fabric out in
 * the service (dl_noc_fabric_create_in(), a memfd it passes on) and maps
 * it in the application (dl_noc_fabric_map(): read-only, and read-write
 * only where the application writes: the producer area of each ring it
 * sends on, the consumer page of each ring it reads).
 */
#include "dl_noc.h"

#include "dl_log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct dl_noc_fabric {
	unsigned ncores;
	unsigned words;
	size_t chan_size;
	struct dl_region *region; /* NULL for an attached or mapped fabric */
	uint8_t *base;		  /* first ring */
	size_t len;		  /* bytes of ring memory */
	bool owns_region;	  /* dl_noc_fabric_create() made it: destroy frees it */
	bool owns_map;		  /* dl_noc_fabric_map() mapped it: destroy unmaps it */
	struct dl_coreset links[DL_MAX_CORES];
	struct dl_coreset has_ep;		   /* cores with an endpoint */
	uint32_t slot[DL_MAX_CORES][DL_MAX_CORES]; /* ring index + 1, 0 = none */
};

/* Number the rings and size them; the same plan on both sides of a shared
 * fabric gives the same offsets. NULL with errno set on bad arguments. */
static struct dl_noc_fabric *fabric_plan(unsigned ncores, unsigned words,
					 const struct dl_coreset *links)
{
	struct dl_noc_fabric *f;
	unsigned nchan = 0;

	if (ncores == 0 || ncores > DL_MAX_CORES || dl_chan_mem_size(words) == 0) {
		errno = EINVAL;
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	f->ncores = ncores;
	f->words = words;
	f->chan_size = dl_chan_mem_size(words);
	for (unsigned s = 0; s < ncores; s++) {
		if (dl_noc_links_of(links, ncores, s, &f->links[s]) != 0) {
			free(f);
			errno = EINVAL;
			return NULL;
		}
		for (unsigned d = 0; d < ncores; d++)
			if (dl_coreset_has(&f->links[s], d))
				f->slot[s][d] = ++nchan;
	}
	f->len = (size_t)nchan * f->chan_size;
	return f;
}

/* Initialise every planned ring in f->base. */
static void fabric_init_channels(struct dl_noc_fabric *f)
{
	for (unsigned s = 0; s < f->ncores; s++)
		for (unsigned d = 0; d < f->ncores; d++)
			if (f->slot[s][d] != 0)
				dl_chan_init(dl_noc_fabric_chan(f, s, d), f->words);
}

struct dl_noc_fabric *dl_noc_fabric_create(unsigned ncores, unsigned words,
					   const struct dl_coreset *links)
{
	struct dl_noc_fabric *f = fabric_plan(ncores, words, links);

	if (f == NULL)
		return NULL;
	f->region = dl_region_create("noc", f->len > 0 ? f->len : 1, 0);
	if (f->region == NULL) {
		int e = errno;
		free(f);
		errno = e;
		return NULL;
	}
	f->base = f->region->base;
	f->owns_region = true;
	fabric_init_channels(f);
	return f;
}

size_t dl_noc_fabric_size(unsigned ncores, unsigned words, const struct dl_coreset *links)
{
	struct dl_noc_fabric *f = fabric_plan(ncores, words, links);
	size_t len;

	if (f == NULL)
		return 0;
	len = f->len;
	free(f);
	return len;
}

struct dl_noc_fabric *dl_noc_fabric_create_in(struct dl_region *r, unsigned ncores, unsigned words,
					      const struct dl_coreset *links)
{
	struct dl_noc_fabric *f;

	if (r == NULL || r->readonly) {
		errno = EINVAL;
		return NULL;
	}
	f = fabric_plan(ncores, words, links);
	if (f == NULL)
		return NULL;
	if (f->len > r->len || (uintptr_t)r->base % (size_t)sysconf(_SC_PAGESIZE) != 0) {
		free(f);
		errno = ENOSPC;
		return NULL;
	}
	f->region = r;
	f->base = r->base;
	fabric_init_channels(f);
	return f;
}

struct dl_noc_fabric *dl_noc_fabric_attach(void *base, size_t len, unsigned ncores, unsigned words,
					   const struct dl_coreset *links)
{
	struct dl_noc_fabric *f;

	if (base == NULL) {
		errno = EINVAL;
		return NULL;
	}
	f = fabric_plan(ncores, words, links);
	if (f == NULL)
		return NULL;
	if (f->len > len) {
		free(f);
		errno = ENOSPC;
		return NULL;
	}
	f->base = base;
	return f;
}

struct dl_noc_fabric *dl_noc_fabric_map(int fd, size_t len, unsigned ncores, unsigned words,
					const struct dl_coreset *links,
					const struct dl_coreset *local)
{
	struct dl_chan_layout l;
	struct dl_noc_fabric *f;
	uint8_t *base;
	int e;

	if (fd < 0 || local == NULL || dl_chan_layout(words, &l) != 0) {
		errno = EINVAL;
		return NULL;
	}
	if (dl_noc_fabric_size(ncores, words, links) != len) {
		errno = EPROTO; /* the two sides did not make the same plan */
		return NULL;
	}
	base = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		return NULL;
	f = dl_noc_fabric_attach(base, len, ncores, words, links);
	if (f == NULL)
		goto fail;
	f->owns_map = true;
	/* Write access only where a local core writes: the producer area of
	 * each ring it sends on, the consumer page of each ring it reads. */
	for (unsigned s = 0; s < ncores; s++) {
		for (unsigned d = 0; d < ncores; d++) {
			size_t off;

			if (f->slot[s][d] == 0)
				continue;
			off = (size_t)(f->slot[s][d] - 1) * f->chan_size;
			if (dl_coreset_has(local, s) &&
			    mmap(base + off + l.prod_off, l.prod_len, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_FIXED, fd,
				 (off_t)(off + l.prod_off)) == MAP_FAILED)
				goto fail;
			if (dl_coreset_has(local, d) &&
			    mmap(base + off + l.cons_off, l.cons_len, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_FIXED, fd,
				 (off_t)(off + l.cons_off)) == MAP_FAILED)
				goto fail;
		}
	}
	return f;
fail:
	e = errno;
	if (f != NULL)
		dl_noc_fabric_destroy(f);
	else
		munmap(base, len);
	errno = e;
	return NULL;
}

int dl_noc_fabric_chan_offset(const struct dl_noc_fabric *f, unsigned src, unsigned dst,
			      size_t *off)
{
	if (src >= f->ncores || dst >= f->ncores || f->slot[src][dst] == 0)
		return -ENOENT;
	*off = (size_t)(f->slot[src][dst] - 1) * f->chan_size;
	return 0;
}

void dl_noc_fabric_destroy(struct dl_noc_fabric *f)
{
	if (f == NULL)
		return;
	if (!dl_coreset_empty(&f->has_ep))
		DL_WARN("noc: fabric destroyed with endpoints still attached");
	if (f->owns_region)
		dl_region_destroy(f->region);
	if (f->owns_map)
		munmap(f->base, f->len);
	free(f);
}

void *dl_noc_fabric_chan(const struct dl_noc_fabric *f, unsigned src, unsigned dst)
{
	if (src >= f->ncores || dst >= f->ncores || f->slot[src][dst] == 0)
		return NULL;
	return f->base + (size_t)(f->slot[src][dst] - 1) * f->chan_size;
}

int dl_noc_fabric_place(struct dl_noc_fabric *f, const int *node_of)
{
	int rc = 0;

	if (f->region == NULL)
		return -EINVAL; /* attached or mapped: the owner places it */
	for (unsigned s = 0; s < f->ncores; s++)
		for (unsigned d = 0; d < f->ncores && rc == 0; d++)
			if (f->slot[s][d] != 0 && node_of[d] >= 0)
				rc = dl_region_bind(f->region,
						    (size_t)(f->base - f->region->base) +
							(size_t)(f->slot[s][d] - 1) * f->chan_size,
						    f->chan_size, node_of[d]);
	return rc;
}

struct dl_region *dl_noc_fabric_region(const struct dl_noc_fabric *f)
{
	return f->region;
}

unsigned dl_noc_fabric_words(const struct dl_noc_fabric *f)
{
	return f->words;
}

/* ---- the transport contract (dl_transport.h) ---- */

unsigned dl_tp_fabric_ncores(const struct dl_noc_fabric *f)
{
	return f->ncores;
}

int dl_tp_fabric_claim(struct dl_noc_fabric *f, unsigned core)
{
	if (core >= f->ncores)
		return -EINVAL;
	if (dl_coreset_has(&f->has_ep, core))
		return -EBUSY;
	dl_coreset_set(&f->has_ep, core);
	return 0;
}

void dl_tp_fabric_release(struct dl_noc_fabric *f, unsigned core)
{
	dl_coreset_clr(&f->has_ep, core);
}

int dl_tp_out_init(struct dl_tp_out *o, struct dl_noc_fabric *f, unsigned src, unsigned dst,
		   uint64_t *cnt)
{
	void *mem = src < f->ncores ? dl_noc_fabric_chan(f, src, dst) : NULL;

	memset(o, 0, sizeof(*o));
	if (mem == NULL)
		return -ENOENT;
	return dl_chan_prod_init(&o->prod, mem, f->words, cnt) == 0 ? 0 : -EINVAL;
}

int dl_tp_in_init(struct dl_tp_in *in, struct dl_noc_fabric *f, unsigned core, unsigned quota,
		  uint64_t *broken)
{
	memset(in, 0, sizeof(*in));
	dl_mailbox_init(&in->mb, quota);
	if (core >= f->ncores)
		return -EINVAL;
	for (unsigned s = 0; s < f->ncores; s++) {
		void *mem = dl_noc_fabric_chan(f, s, core);

		if (mem == NULL)
			continue;
		if (dl_chan_cons_init(&in->chan[s], mem, f->words, broken) != 0 ||
		    dl_mailbox_add(&in->mb, s, &in->chan[s]) != 0)
			return -EINVAL;
		in->one_src = s;
	}
	in->one = in->mb.n == 1 ? &in->chan[in->one_src] : NULL;
	return 0;
}
