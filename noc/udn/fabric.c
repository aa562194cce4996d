/*
 * fabric.c (noc/udn) - the UDN fabric: which cores may send to which, the
 * fabric's id, a key per pair and the tile each core announced (dl_noc.h's
 * fabric functions and the transport contract's set-up, dl_transport.h).
 *
 * There is no channel memory on the UDN: a fabric is a table (udn_priv.h,
 * struct udn_table). Its layout:
 *
 *     0           header (magic, plan, fabric id, offsets)
 *     key_off     uint32_t key[ncores][ncores], 0 where there is no link
 *     tile_off    int32_t tile of core c at tile_off + c * tile_stride
 *
 * dl_noc_fabric_create() keeps the table in private memory (tile_stride 4).
 * dl_noc_fabric_create_in() lays it out in the caller's region with one
 * page per core's tile entry, so that dl_noc_fabric_map() in another
 * process can give write access to exactly the entries of its own cores
 * (each core announces its tile by writing its entry) and leave the
 * header, the keys and the other cores' entries read-only.
 *
 * Keys are 29 random bits per (source, destination) pair, read from the
 * kernel's random source when the fabric is made; a receiver drops every
 * packet whose framing word does not carry the pair's key. Fabric ids are
 * unique among the fabrics one process made (1..255), so that a tile with
 * endpoints of several fabrics (the protected-mode service) knows which
 * one a packet is for.
 */
#include "dl_noc.h"
#include "udn_priv.h"

#include "dl_log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_QUOTA 16u

/* ---- fabric ids ---- */

static pthread_mutex_t ids_lock = PTHREAD_MUTEX_INITIALIZER;
static bool id_used[DL_UDN_MAX_FABRICS + 1];

static unsigned id_alloc(void)
{
	unsigned id = 0;

	pthread_mutex_lock(&ids_lock);
	for (unsigned i = 1; i <= DL_UDN_MAX_FABRICS && id == 0; i++)
		if (!id_used[i]) {
			id_used[i] = true;
			id = i;
		}
	pthread_mutex_unlock(&ids_lock);
	return id;
}

static void id_free(unsigned id)
{
	pthread_mutex_lock(&ids_lock);
	id_used[id] = false;
	pthread_mutex_unlock(&ids_lock);
}

/* ---- keys ---- */

/* 29 random bits, never 0: /dev/urandom, or (never seen) a clock mix. */
static void random_keys(uint32_t *k, size_t n)
{
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	size_t got = 0;

	if (fd >= 0) {
		while (got < n * sizeof(*k)) {
			ssize_t r = read(fd, (uint8_t *)k + got, n * sizeof(*k) - got);
			if (r <= 0)
				break;
			got += (size_t)r;
		}
		close(fd);
	}
	if (got < n * sizeof(*k)) {
		struct timespec ts;
		uint64_t x;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		x = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 30 ^ (uint64_t)getpid() << 17;
		DL_WARN("noc/udn: no /dev/urandom: the fabric's keys are weak");
		for (size_t i = 0; i < n; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			k[i] = (uint32_t)x;
		}
	}
	for (size_t i = 0; i < n; i++) {
		k[i] &= (1u << DL_UDN_KEY_BITS) - 1;
		if (k[i] == 0)
			k[i] = 1;
	}
}

/* ---- the plan ---- */

static size_t page_size(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

static size_t round_up(size_t v, size_t to)
{
	return (v + to - 1) / to * to;
}

static uint64_t fnv(uint64_t h, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		h ^= (v >> (8 * i)) & 0xff;
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

/* Check the arguments and make the fabric (no table yet): links, sizes,
 * the plan's hash. NULL with errno set. @p shared: page-strided tiles. */
static struct dl_noc_fabric *plan(unsigned ncores, unsigned words, const struct dl_coreset *links,
				  bool shared, size_t *tile_off, size_t *stride, uint64_t *hash,
				  unsigned *nlinks)
{
	struct dl_noc_fabric *f;
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	*nlinks = 0;
	if (ncores == 0 || ncores > DL_MAX_CORES || words < 8 || words > (1u << 24) ||
	    (words & (words - 1)) != 0) {
		errno = EINVAL;
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	f->ncores = ncores;
	f->words = words;
	f->max_words = words - 1 < DL_MSG_MAX_WORDS ? words - 1 : DL_MSG_MAX_WORDS;
	h = fnv(fnv(h, ncores), words);
	for (unsigned s = 0; s < ncores; s++) {
		if (dl_noc_links_of(links, ncores, s, &f->links[s]) != 0) {
			free(f);
			errno = EINVAL;
			return NULL;
		}
		for (unsigned d = 0; d < ncores; d++)
			if (dl_coreset_has(&f->links[s], d)) {
				h = fnv(h, (uint64_t)s << 32 | d);
				++*nlinks;
			}
	}
	*hash = h;
	*stride = shared ? page_size() : sizeof(int32_t);
	*tile_off = round_up(sizeof(struct udn_table) + (size_t)ncores * ncores * sizeof(uint32_t),
			     page_size());
	f->len = *tile_off + round_up((size_t)ncores * *stride, page_size());
	return f;
}

/* Point the fabric at a table in memory @p mem. */
static void use_table(struct dl_noc_fabric *f, void *mem)
{
	f->tab = mem;
	f->key = (uint32_t *)((uint8_t *)mem + f->tab->key_off);
}

static int32_t *tile_slot(const struct dl_noc_fabric *f, unsigned core)
{
	return (int32_t *)((uint8_t *)f->tab + f->tab->tile_off +
			   (size_t)core * f->tab->tile_stride);
}

/* Write a new table into @p mem (zeroed, f->len bytes). */
static int table_init(struct dl_noc_fabric *f, void *mem, size_t tile_off, size_t stride,
		      uint64_t hash)
{
	struct udn_table *t = mem;

	f->id = id_alloc();
	if (f->id == 0) {
		errno = ENOSPC; /* 255 fabrics in this process */
		return -1;
	}
	f->owns_id = true;
	t->magic = DL_UDN_TABLE_MAGIC;
	t->ncores = f->ncores;
	t->words = f->words;
	t->plan = hash;
	t->fabric_id = f->id;
	t->key_off = (uint32_t)sizeof(struct udn_table);
	t->tile_off = (uint32_t)tile_off;
	t->tile_stride = (uint32_t)stride;
	use_table(f, mem);
	random_keys(f->key, (size_t)f->ncores * f->ncores);
	for (unsigned s = 0; s < f->ncores; s++) {
		for (unsigned d = 0; d < f->ncores; d++)
			if (!dl_coreset_has(&f->links[s], d))
				f->key[s * f->ncores + d] = 0;
		*tile_slot(f, s) = -1;
	}
	dl_udn_fabric_ref();
	return 0;
}

struct dl_noc_fabric *dl_noc_fabric_create(unsigned ncores, unsigned words,
					   const struct dl_coreset *links)
{
	size_t tile_off, stride;
	uint64_t hash;
	unsigned nlinks;
	struct dl_noc_fabric *f =
	    plan(ncores, words, links, false, &tile_off, &stride, &hash, &nlinks);
	void *mem;

	if (f == NULL)
		return NULL;
	mem = calloc(1, f->len);
	if (mem == NULL || table_init(f, mem, tile_off, stride, hash) != 0) {
		int e = errno;
		free(mem);
		free(f);
		errno = e;
		return NULL;
	}
	f->owns_mem = true;
	return f;
}

size_t dl_noc_fabric_size(unsigned ncores, unsigned words, const struct dl_coreset *links)
{
	size_t tile_off, stride, len;
	uint64_t hash;
	unsigned nlinks;
	struct dl_noc_fabric *f =
	    plan(ncores, words, links, true, &tile_off, &stride, &hash, &nlinks);

	if (f == NULL)
		return 0;
	len = nlinks > 0 ? f->len : 0;
	free(f);
	return len;
}

struct dl_noc_fabric *dl_noc_fabric_create_in(struct dl_region *r, unsigned ncores, unsigned words,
					      const struct dl_coreset *links)
{
	size_t tile_off, stride;
	uint64_t hash;
	unsigned nlinks;
	struct dl_noc_fabric *f;

	if (r == NULL || r->readonly) {
		errno = EINVAL;
		return NULL;
	}
	f = plan(ncores, words, links, true, &tile_off, &stride, &hash, &nlinks);
	if (f == NULL)
		return NULL;
	if (f->len > r->len || (uintptr_t)r->base % page_size() != 0) {
		free(f);
		errno = ENOSPC;
		return NULL;
	}
	memset(r->base, 0, f->len);
	if (table_init(f, r->base, tile_off, stride, hash) != 0) {
		int e = errno;
		free(f);
		errno = e;
		return NULL;
	}
	f->region = r;
	return f;
}

struct dl_noc_fabric *dl_noc_fabric_attach(void *base, size_t len, unsigned ncores, unsigned words,
					   const struct dl_coreset *links)
{
	size_t tile_off, stride;
	uint64_t hash;
	unsigned nlinks;
	struct dl_noc_fabric *f;
	const struct udn_table *t = base;

	if (base == NULL) {
		errno = EINVAL;
		return NULL;
	}
	f = plan(ncores, words, links, true, &tile_off, &stride, &hash, &nlinks);
	if (f == NULL)
		return NULL;
	if (f->len > len) {
		free(f);
		errno = ENOSPC;
		return NULL;
	}
	if (t->magic != DL_UDN_TABLE_MAGIC || t->ncores != ncores || t->words != words ||
	    t->plan != hash || t->fabric_id == 0 || t->fabric_id > DL_UDN_MAX_FABRICS ||
	    t->key_off != sizeof(struct udn_table) || t->tile_off != tile_off ||
	    t->tile_stride != stride) {
		free(f);
		errno = EPROTO; /* not a table of this plan */
		return NULL;
	}
	use_table(f, base);
	f->id = t->fabric_id;
	dl_udn_fabric_ref();
	return f;
}

struct dl_noc_fabric *dl_noc_fabric_map(int fd, size_t len, unsigned ncores, unsigned words,
					const struct dl_coreset *links,
					const struct dl_coreset *local)
{
	struct dl_noc_fabric *f;
	uint8_t *base;
	int e;

	if (fd < 0 || local == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if (len == 0 || dl_noc_fabric_size(ncores, words, links) != len) {
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
	/* Write access to the tile entries of the local cores only: each
	 * announces its own tile; the header, the keys and the other side's
	 * entries stay read-only. */
	for (unsigned c = 0; c < ncores; c++) {
		size_t off = f->tab->tile_off + (size_t)c * f->tab->tile_stride;

		if (dl_coreset_has(local, c) &&
		    mmap(base + off, page_size(), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			 fd, (off_t)off) == MAP_FAILED)
			goto fail;
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

void dl_noc_fabric_destroy(struct dl_noc_fabric *f)
{
	if (f == NULL)
		return;
	if (!dl_coreset_empty(&f->has_ep))
		DL_WARN("noc: fabric destroyed with endpoints still attached");
	if (f->owns_mem)
		free(f->tab);
	if (f->owns_map)
		munmap(f->tab, f->len);
	if (f->owns_id)
		id_free(f->id);
	dl_udn_fabric_unref();
	free(f);
}

struct dl_region *dl_noc_fabric_region(const struct dl_noc_fabric *f)
{
	return f->region;
}

unsigned dl_noc_fabric_words(const struct dl_noc_fabric *f)
{
	return f->words;
}

int dl_noc_fabric_place(struct dl_noc_fabric *f, const int *node_of)
{
	(void)f;
	(void)node_of;
	return 0; /* nothing to place: the UDN has no channel memory */
}

unsigned dl_noc_fabric_udn_id(const struct dl_noc_fabric *f)
{
	return f->id;
}

int dl_noc_fabric_udn_tile(const struct dl_noc_fabric *f, unsigned core)
{
	return core < f->ncores ? __atomic_load_n(tile_slot(f, core), __ATOMIC_ACQUIRE) : -1;
}

const void *dl_noc_fabric_udn_table(const struct dl_noc_fabric *f)
{
	return f->tab;
}

uint32_t dl_noc_fabric_udn_key(const struct dl_noc_fabric *f, unsigned src, unsigned dst)
{
	return src < f->ncores && dst < f->ncores ? f->key[src * f->ncores + dst] : 0;
}

int32_t *dl_udn_fabric_tile_slot(struct dl_noc_fabric *f, unsigned core)
{
	return tile_slot(f, core);
}

/* ---- the transport contract (dl_transport.h) ---- */

unsigned dl_tp_fabric_ncores(const struct dl_noc_fabric *f)
{
	return f->ncores;
}

int dl_tp_fabric_claim(struct dl_noc_fabric *f, unsigned core)
{
	struct udn_core *c;

	if (core >= f->ncores)
		return -EINVAL;
	if (dl_coreset_has(&f->has_ep, core))
		return -EBUSY;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	dl_stats_register(&c->blk, "udn", dl_udn_cnt_names, DL_UDN_NCNT, c->cnt, (int)core);
	f->core[core] = c;
	dl_coreset_set(&f->has_ep, core);
	return 0;
}

void dl_tp_fabric_release(struct dl_noc_fabric *f, unsigned core)
{
	struct udn_core *c = core < f->ncores ? f->core[core] : NULL;

	if (c == NULL)
		return;
	if (c->in != NULL && c->in->t != NULL) {
		dl_udn_in_forget(c->in);
		/* Gone from its tile: senders that have not resolved it yet
		 * wait for the next endpoint of this core to announce. */
		__atomic_store_n(tile_slot(f, core), -1, __ATOMIC_RELEASE);
	}
	for (unsigned i = 0; i < DL_MAX_CORES; i++) {
		free(c->stage[i]);
		free(c->rxbuf[i]);
	}
	dl_stats_unregister(&c->blk);
	free(c);
	f->core[core] = NULL;
	dl_coreset_clr(&f->has_ep, core);
}

int dl_tp_out_init(struct dl_tp_out *o, struct dl_noc_fabric *f, unsigned src, unsigned dst,
		   uint64_t *cnt)
{
	struct udn_core *c;
	unsigned rank = 0;

	memset(o, 0, sizeof(*o));
	if (src >= f->ncores || dst >= f->ncores || !dl_coreset_has(&f->links[src], dst))
		return -ENOENT;
	c = f->core[src];
	if (c == NULL)
		return -EINVAL; /* not claimed */
	if (c->stage[dst] == NULL)
		c->stage[dst] = malloc(DL_MSG_MAX_WORDS * sizeof(uint64_t));
	if (c->stage[dst] == NULL)
		return -EINVAL;
	for (unsigned s = 0; s < src; s++)
		rank += dl_coreset_has(&f->links[s], dst);
	o->f = f;
	o->cnt = cnt;
	o->ucnt = c->cnt;
	o->stage = c->stage[dst];
	o->frame = dl_udn_frame(0, src, f->id, 0, f->key[src * f->ncores + dst]);
	o->src = (uint16_t)src;
	o->dst = (uint16_t)dst;
	o->tag = (uint8_t)(rank % 4);
	o->max_words = (uint8_t)f->max_words;
	return 0;
}

int dl_tp_in_init(struct dl_tp_in *in, struct dl_noc_fabric *f, unsigned core, unsigned quota,
		  uint64_t *broken)
{
	struct udn_core *c;

	memset(in, 0, sizeof(*in));
	if (core >= f->ncores || f->core[core] == NULL)
		return -EINVAL;
	c = f->core[core];
	in->f = f;
	in->core = core;
	in->fabric_id = f->id;
	in->quota = quota != 0 ? quota : DEFAULT_QUOTA;
	in->max_words = f->max_words;
	in->broken_cnt = broken;
	in->ucnt = c->cnt;
	for (unsigned s = 0; s < f->ncores; s++) {
		if (!dl_coreset_has(&f->links[s], core))
			continue;
		if (c->rxbuf[s] == NULL)
			c->rxbuf[s] = malloc(DL_UDN_SRC_WORDS * sizeof(uint64_t));
		if (c->rxbuf[s] == NULL)
			return -EINVAL;
		in->src[s].buf = c->rxbuf[s];
		in->src[s].key = f->key[s * f->ncores + core];
		in->srcs[in->nsrc++] = (uint16_t)s;
	}
	c->in = in;
	return 0;
}
