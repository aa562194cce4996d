/*
 * mpipe.c - the control path of the mPIPE model: contexts, resource
 * allocation (buffer stacks, notif rings in chunks of 8, groups, buckets,
 * eDMA rings, with the Gx36's counts), buffer stacks (LIFO, IO-TLB pages,
 * double-push detection), notif ring credits, classifier rules, links.
 *
 * One context per shim at a time (the model has one process's view of the
 * hardware); instance 0 only, as on a Gx36. Every check the hypervisor or
 * hardware makes on an argument returns the gxio error it would; misuse
 * that the hardware would not refuse but would punish later (a double
 * push, extra credits) is a guest error (log.c).
 */
#include "model_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

static pthread_mutex_t shims_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mde_mpipe *shims[GXIO_MPIPE_INSTANCE_MAX];

struct mde_mpipe *mde_mpipe_of(gxio_mpipe_context_t *ctx)
{
	struct mde_mpipe *mp = ctx != NULL ? ctx->model : NULL;

	return mp != NULL && mp->ctx == ctx ? mp : NULL;
}

#define GUEST(mp, field, ...)                                                                      \
	mde_guest_error(&(mp)->cnt.field, &(mp)->cnt.guest_errors, __VA_ARGS__)

/* ------------------------------------------------------------------------ */
/* Context                                                                  */
/* ------------------------------------------------------------------------ */

int gxio_mpipe_init(gxio_mpipe_context_t *ctx, unsigned int instance)
{
	struct mde_mpipe *mp;

	if (ctx == NULL)
		return GXIO_ERR_INVAL;
	if (instance != 0)
		return GXIO_ERR_NO_DEVICE; /* a Gx36 has one mPIPE */
	pthread_mutex_lock(&shims_lock);
	if (shims[instance] != NULL) {
		pthread_mutex_unlock(&shims_lock);
		mde_model_warn("gxio_mpipe_init: the model holds one context per shim");
		return GXIO_ERR_NO_SVC_DOM;
	}
	mp = calloc(1, sizeof(*mp));
	if (mp != NULL)
		mp->bucket = calloc(MDE_NUM_BUCKETS, sizeof(*mp->bucket));
	if (mp == NULL || mp->bucket == NULL) {
		pthread_mutex_unlock(&shims_lock);
		free(mp);
		return -ENOMEM;
	}
	pthread_mutex_init(&mp->lock, NULL);
	for (unsigned s = 0; s < MDE_NUM_STACKS; s++)
		pthread_mutex_init(&mp->stack[s].lock, NULL);
	for (unsigned e = 0; e < MDE_NUM_EDMA; e++)
		mp->edma[e].mp = mp;
	mp->instance = (int)instance;
	mp->ctx = ctx;
	mp->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	memset(ctx, 0, sizeof(*ctx));
	ctx->fd = mp->wake_fd;
	ctx->instance = (int)instance;
	ctx->model = mp;
	memset(ctx->__stacks.stacks, 255, sizeof(ctx->__stacks.stacks));
	if (mp->wake_fd < 0 || mde_engine_start(mp) != 0) {
		int e = errno;
		if (mp->wake_fd >= 0)
			close(mp->wake_fd);
		free(mp->bucket);
		free(mp);
		ctx->model = NULL;
		pthread_mutex_unlock(&shims_lock);
		return -(e ? e : ENOMEM);
	}
	shims[instance] = mp;
	pthread_mutex_unlock(&shims_lock);
	return 0;
}

int gxio_mpipe_destroy(gxio_mpipe_context_t *ctx)
{
	struct mde_mpipe *mp = mde_mpipe_of(ctx);

	if (mp == NULL)
		return GXIO_ERR_INVAL;
	mde_engine_stop(mp);
	pthread_mutex_lock(&shims_lock);
	shims[mp->instance] = NULL;
	pthread_mutex_unlock(&shims_lock);
	for (unsigned l = 0; l < MDE_MAX_LINKS; l++)
		if (mp->link[l].open)
			mde_link_wire_close(&mp->link[l]);
	for (unsigned s = 0; s < MDE_NUM_STACKS; s++) {
		free(mp->stack[s].entries);
		for (unsigned p = 0; p < mp->stack[s].npages; p++)
			free(mp->stack[s].page[p].on_stack);
	}
	close(mp->wake_fd);
	free(mp->bucket);
	free(mp);
	ctx->model = NULL;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Resource allocation                                                      */
/* ------------------------------------------------------------------------ */

/* First fit of `count` free entries (aligned to `align`) in a table whose
 * entries have a leading `bool allocated` at stride `size`. */
static int alloc_range(struct mde_mpipe *mp, void *table, size_t size, unsigned total,
		       unsigned count, unsigned first, unsigned flags, unsigned align, int err)
{
	uint8_t *t = table;
	int found = -1;

	if (count == 0)
		return 0;
	pthread_mutex_lock(&mp->lock);
	for (unsigned s = (flags & GXIO_MPIPE_ALLOC_FIXED) ? first : 0; s + count <= total;
	     s += align) {
		bool free_run = (s % align) == 0;
		for (unsigned i = 0; free_run && i < count; i++)
			free_run = !*(bool *)(t + (s + i) * size);
		if (free_run) {
			found = (int)s;
			break;
		}
		if (flags & GXIO_MPIPE_ALLOC_FIXED)
			break;
	}
	if (found >= 0)
		for (unsigned i = 0; i < count; i++)
			*(bool *)(t + ((unsigned)found + i) * size) = true;
	pthread_mutex_unlock(&mp->lock);
	return found >= 0 ? found : err;
}

int gxio_mpipe_alloc_buffer_stacks(gxio_mpipe_context_t *ctx, unsigned int count,
				   unsigned int first, unsigned int flags)
{
	struct mde_mpipe *mp = mde_mpipe_of(ctx);

	if (mp == NULL)
		return GXIO_ERR_INVAL;
	return alloc_range(mp, &mp->stack[0].allocated, sizeof(mp->stack[0]), MDE_NUM_STACKS, count,
			   first, flags, 1, GXIO_MPIPE_ERR_NO_BUFFER_STACK);
}

int gxio_mpipe_alloc_notif_rings(gxio_mpipe_context_t *ctx, unsigned int count, unsigned int first,
				 unsigned int flags)
{
	struct mde_mpipe *mp = mde_mpipe_of(ctx);
	unsigned chunked = (count + MDE_RING_CHUNK - 1) / MDE_RING_CHUNK * MDE_RING_CHUNK;

	if (mp == NULL)
		return GXIO_ERR_INVAL;
	/* Rings are granted in chunks of 8: the rest of the chunk is ours too. */
	return alloc_range(mp, &mp->ring[0].allocated, sizeof(mp->ring[0]), MDE_NUM_RINGS, chunked,
			   first, flags, MDE_RING_CHUNK, GXIO_MPIPE_ERR_NO_NOTIF_RING);
}

int gxio_mpipe_alloc_notif_groups(gxio_mpipe_context_t *ctx, unsigned int count, unsigned int first,
				  unsigned int flags)
{
	struct mde_mpipe *mp = mde_mpipe_of(ctx);

	if (mp == NULL)
		return GXIO_ERR_INVAL;
	return alloc_range(mp, &mp->group[0].allocated, sizeof(mp->group[0]), MDE_NUM_GROUPS, count,
			   first, flags, 1, GXIO_MPIPE_ERR_NO_NOTIF_GROUP);
}

int gxio_mpipe_alloc_buckets(gxio_mpipe_context_t *ctx, unsigned int count, unsigned int first,
			     unsigned int flags)
{
	struct mde_mpipe *mp = mde_mpipe_of(ctx);

	if (mp == NULL)
		return GXIO_ERR_INVAL;
	return alloc_range(mp, &mp->bucket[0].allocated, sizeof(mp->bucket[0]), MDE_NUM_BUCKETS,
			   count, first, flags, 1, GXIO_MPIPE_ERR_NO_BUCKET);
}

int gxio_mpipe_alloc_edma_rings(gxio_mpipe_context_t *ctx, unsigned int count, unsigned int first,
				unsigned int flags)
{
	struct mde_mpipe *mp = mde_mpipe_of(ctx);

	if (mp == NULL)
		return GXIO_ERR_INVAL;
	return alloc_range(mp, &mp->edma[0].allocated, sizeof(mp->edma[0]), MDE_NUM_EDMA, count,
			   first, flags, 1, GXIO_MPIPE_ERR_NO_EDMA_RING);
}

/* ------------------------------------------------------------------------ */
/* Buffer stacks                                                            */
/* ------------------------------------------------------------------------ */

static const size_t buffer_sizes[8] = {128, 256, 512, 1024, 1664, 4096, 10368, 16384};

gxio_mpipe_buffer_size_enum_t gxio_mpipe_buffer_size_to_buffer_size_enum(size_t size)
{
	unsigned i;

	for (i = 0; i < 7; i++)
		if (size <= buffer_sizes[i])
			break;
	return (gxio_mpipe_buffer_size_enum_t)i;
}

size_t gxio_mpipe_buffer_size_enum_to_buffer_size(gxio_mpipe_buffer_size_enum_t e)
{
	return buffer_sizes[(unsigned)e > 7 ? 7 : (unsigned)e];
}

size_t gxio_mpipe_calc_buffer_stack_bytes(unsigned long buffers)
{
	/* The stack memory holds 12 buffer pointers per 64-byte line. */
	return (buffers + 11) / 12 * 64;
}

int gxio_mpipe_init_buffer_stack(gxio_mpipe_context_t *ctx, unsigned int stack,
				 gxio_mpipe_buffer_size_enum_t size, void *mem, size_t mem_size,
				 unsigned int mem_flags)
{
	struct mde_mpipe *mp = mde_mpipe_of(ctx);
	struct mde_stack *st;
	size_t cap;

	(void)mem_flags;
	if (mp == NULL || mem == NULL)
		return GXIO_ERR_INVAL;
	if (stack >= MDE_NUM_STACKS || !mp->stack[stack].allocated)
		return GXIO_MPIPE_ERR_BAD_BUFFER_STACK;
	if ((unsigned)size > 7)
		return GXIO_MPIPE_ERR_INVAL_BUFFER_SIZE;
	if (((uintptr_t)mem & 0xffff) != 0)
		return GXIO_ERR_ALIGNMENT; /* 64 KiB aligned */
	if (mem_size < 64)
		return GXIO_ERR_INVAL_MEMORY_SIZE;
	if (!mde_mem_contiguous(mem, mem_size)) {
		mde_model_warn("gxio_mpipe_init_buffer_stack: %zu bytes at %p are not one "
			       "physically contiguous page (use tmc_alloc huge pages)",
			       mem_size, mem);
		return GXIO_ERR_INVAL;
	}
	st = &mp->stack[stack];
	cap = mem_size / 64 * 12;
	pthread_mutex_lock(&st->lock);
	if (st->initialized) {
		pthread_mutex_unlock(&st->lock);
		return GXIO_ERR_ALREADY_INIT;
	}
	st->entries = calloc(cap, sizeof(*st->entries));
	if (st->entries == NULL) {
		pthread_mutex_unlock(&st->lock);
		return -ENOMEM;
	}
	/* The memory is the hardware's from now on (the model keeps the
	 * pointers in its own array and only clears it, as the library does). */
	memset(mem, 0, mem_size);
	st->cap = cap;
	st->n = 0;
	st->size_code = (unsigned)size;
	st->buf_size = buffer_sizes[size];
	st->initialized = true;
	pthread_mutex_unlock(&st->lock);
	ctx->__stacks.stacks[size] = (uint8_t)stack;
	return 0;
}

int gxio_mpipe_register_page(gxio_mpipe_context_t *ctx, unsigned int stack, void *page,
			     size_t page_size, unsigned int page_flags)
{
	struct mde_mpipe *mp = mde_mpipe_of(ctx);
	uintptr_t base = (uintptr_t)page;
	struct mde_stack *st;
	uint64_t *bits;
	size_t backing;

	(void)page_flags;
	if (mp == NULL)
		return GXIO_ERR_INVAL;
	if (stack >= MDE_NUM_STACKS || !mp->stack[stack].allocated)
		return GXIO_MPIPE_ERR_BAD_BUFFER_STACK;
	if (page_size < 4096 || (page_size & (page_size - 1)) != 0)
		return GXIO_ERR_INVAL;
	if ((base & (page_size - 1)) != 0)
		return GXIO_ERR_ALIGNMENT;
	backing = mde_mem_page_size(page);
	if (backing < page_size) {
		mde_model_warn("gxio_mpipe_register_page: %zu-byte page at %p is %s (the IO-TLB "
			       "maps whole physically contiguous pages)",
			       page_size, page,
			       backing == 0 ? "not mapped" : "made of smaller host pages");
		return GXIO_ERR_INVAL;
	}
	st = &mp->stack[stack];
	pthread_mutex_lock(&st->lock);
	if (st->npages == MDE_PAGES_PER_STACK) {
		pthread_mutex_unlock(&st->lock);
		return GXIO_ERR_IOTLB_ENTRY;
	}
	for (unsigned i = 0; i < st->npages; i++)
		if (base < st->page[i].base + st->page[i].size &&
		    st->page[i].base < base + page_size) {
			pthread_mutex_unlock(&st->lock);
			return GXIO_ERR_INVAL; /* overlaps a registered page */
		}
	bits = calloc((page_size / 128 + 63) / 64, sizeof(uint64_t));
	if (bits == NULL) {
		pthread_mutex_unlock(&st->lock);
		return -ENOMEM;
	}
	st->page[st->npages++] = (struct mde_page){base, page_size, bits};
	pthread_mutex_unlock(&st->lock);
	return 0;
}

static struct mde_page *page_of(struct mde_stack *st, uintptr_t addr, size_t len)
{
	for (unsigned i = 0; i < st->npages; i++) {
		struct mde_page *p = &st->page[i];
		if (addr >= p->base && len <= p->size && addr - p->base <= p->size - len)
			return p;
	}
	return NULL;
}

#define VA_MASK ((UINT64_C(1) << 42) - 1)

uintptr_t mde_iova_resolve(struct mde_mpipe *mp, unsigned stack, int64_t va)
{
	uint64_t v = (uint64_t)va & VA_MASK;
	uintptr_t addr = 0;
	struct mde_stack *st;

	if (mp == NULL || stack >= MDE_NUM_STACKS || va == 0)
		return 0;
	st = &mp->stack[stack];
	pthread_mutex_lock(&st->lock);
	for (unsigned i = 0; i < st->npages; i++) {
		uint64_t b = (uint64_t)st->page[i].base & VA_MASK;
		if (v - b < st->page[i].size) {
			addr = st->page[i].base + (uintptr_t)(v - b);
			break;
		}
	}
	pthread_mutex_unlock(&st->lock);
	return addr;
}

void *mde_model_iova_to_va(unsigned int stack, int64_t va)
{
	struct mde_mpipe *mp;

	pthread_mutex_lock(&shims_lock);
	mp = shims[0];
	pthread_mutex_unlock(&shims_lock);
	return (void *)mde_iova_resolve(mp, stack, va);
}

bool mde_stack_covers(struct mde_mpipe *mp, unsigned stack, uintptr_t addr, size_t len)
{
	struct mde_stack *st;
	bool ok;

	if (stack >= MDE_NUM_STACKS)
		return false;
	st = &mp->stack[stack];
	pthread_mutex_lock(&st->lock);
	ok = st->allocated && page_of(st, addr, len) != NULL;
	pthread_mutex_unlock(&st->lock);
	return ok;
}

void mde_stack_push(struct mde_mpipe *mp, unsigned stack, uintptr_t addr, const char *who)
{
	struct mde_stack *st = stack < MDE_NUM_STACKS ? &mp->stack[stack] : NULL;
	struct mde_page *p;
	size_t slot;

	if (st == NULL || !st->allocated || !st->initialized) {
		GUEST(mp, stack_bad_stack, "%s: push to buffer stack %u, which is not %s", who,
		      stack, st == NULL || !st->allocated ? "allocated" : "initialised");
		return;
	}
	addr &= ~(uintptr_t)127; /* the low 7 bits are ignored */
	pthread_mutex_lock(&st->lock);
	p = page_of(st, addr, st->buf_size);
	if (p == NULL) {
		pthread_mutex_unlock(&st->lock);
		GUEST(mp, stack_push_unregistered,
		      "%s: push of buffer %#lx (%zu bytes) to stack %u: not inside a page "
		      "registered for that stack",
		      who, (unsigned long)addr, st->buf_size, stack);
		return;
	}
	slot = (addr - p->base) / 128;
	if (p->on_stack[slot / 64] & (1ull << (slot % 64))) {
		pthread_mutex_unlock(&st->lock);
		GUEST(mp, stack_double_push,
		      "%s: buffer %#lx pushed to stack %u while already on it (double free)", who,
		      (unsigned long)addr, stack);
		return;
	}
	if (st->n == st->cap) {
		pthread_mutex_unlock(&st->lock);
		GUEST(mp, stack_overflow,
		      "%s: push to stack %u beyond the %zu buffers its memory holds", who, stack,
		      st->cap);
		return;
	}
	st->entries[st->n++] = addr;
	p->on_stack[slot / 64] |= 1ull << (slot % 64);
	pthread_mutex_unlock(&st->lock);
}

uintptr_t mde_stack_pop(struct mde_mpipe *mp, unsigned stack)
{
	struct mde_stack *st = stack < MDE_NUM_STACKS ? &mp->stack[stack] : NULL;
	uintptr_t addr;
	struct mde_page *p;

	if (st == NULL || !st->allocated || !st->initialized) {
		GUEST(mp, stack_bad_stack, "pop from buffer stack %u, which is not %s", stack,
		      st == NULL || !st->allocated ? "allocated" : "initialised");
		return 0;
	}
	pthread_mutex_lock(&st->lock);
	if (st->n == 0) {
		pthread_mutex_unlock(&st->lock);
		__atomic_fetch_add(&mp->cnt.stack_pop_empty, 1, __ATOMIC_RELAXED);
		return 0;
	}
	addr = st->entries[--st->n];
	p = page_of(st, addr, st->buf_size);
	if (p != NULL) {
		size_t slot = (addr - p->base) / 128;
		p->on_stack[slot / 64] &= ~(1ull << (slot % 64));
	}
	pthread_mutex_unlock(&st->lock);
	return addr;
}

void gxio_mpipe_push_buffer(gxio_mpipe_context_t *ctx, unsigned int stack, void *buffer)
{
	struct mde_mpipe *mp = mde_mpipe_of(ctx);

	if (mp == NULL) {
		mde_model_warn("gxio_mpipe_push_buffer on a context that is not open");
		abort();
	}
	mde_stack_push(mp, stack, (uintptr_t)buffer, "gxio_mpipe_push_buffer");
}

void *gxio_mpipe_pop_buffer(gxio_mpipe_context_t *ctx, unsigned int stack)
{
	struct mde_mpipe *mp = mde_mpipe_of(ctx);

	if (mp == NULL) {
		mde_model_warn("gxio_mpipe_pop_buffer on a context that is not open");
		abort();
	}
	return (void *)mde_stack_pop(mp, stack);
}

/* ------------------------------------------------------------------------ */
/* Notif rings, groups, buckets                                             */
/* ------------------------------------------------------------------------ */

static bool valid_ring_entries(size_t n)
{
	return n == 128 || n == 512 || n == 2048 || n == 65536;
}

int gxio_mpipe_iqueue_init(gxio_mpipe_iqueue_t *iq, gxio_mpipe_context_t *ctx, unsigned int ring,
			   void *mem, size_t mem_size, unsigned int mem_flags)
{
	struct mde_mpipe *mp = mde_mpipe_of(ctx);
	size_t n = mem_size / sizeof(gxio_mpipe_idesc_t);
	struct mde_ring *r;

	(void)mem_flags;
	if (mp == NULL || iq == NULL || mem == NULL)
		return GXIO_ERR_INVAL;
	if (ring >= MDE_NUM_RINGS || !mp->ring[ring].allocated)
		return GXIO_MPIPE_ERR_BAD_NOTIF_RING;
	if (mem_size % sizeof(gxio_mpipe_idesc_t) != 0 || !valid_ring_entries(n))
		return GXIO_ERR_INVAL_MEMORY_SIZE;
	if (((uintptr_t)mem & 4095) != 0)
		return GXIO_ERR_ALIGNMENT;
	if (!mde_mem_contiguous(mem, mem_size)) {
		mde_model_warn("gxio_mpipe_iqueue_init: ring memory (%zu bytes at %p) is not "
			       "physically contiguous (use tmc_alloc huge pages)",
			       mem_size, mem);
		return GXIO_ERR_INVAL;
	}
	r = &mp->ring[ring];
	pthread_mutex_lock(&mp->lock);
	if (r->initialized) {
		pthread_mutex_unlock(&mp->lock);
		return GXIO_ERR_ALREADY_INIT;
	}
	memset(mem, 0, mem_size);
	r->mem = mem;
	r->n = (unsigned)n;
	r->written = 0;
	__atomic_store_n(&r->credits, (int64_t)n - 1, __ATOMIC_RELAXED);
	r->initialized = true;
	pthread_mutex_unlock(&mp->lock);
	iq->context = ctx;
	iq->idescs = mem;
	iq->num_entries = n;
	iq->mask_num_entries = n - 1;
	iq->log2_num_entries = (unsigned long)__builtin_ctzl(n);
	iq->head = 1;
	iq->ring = ring;
	iq->consumed = 0;
	return 0;
}

int gxio_mpipe_iqueue_try_get(gxio_mpipe_iqueue_t *iq, gxio_mpipe_idesc_t *idesc)
{
	gxio_mpipe_idesc_t *next;
	int rc = gxio_mpipe_iqueue_try_peek(iq, &next);

	if (rc < 0)
		return rc;
	*idesc = *next;
	gxio_mpipe_iqueue_consume(iq, next);
	return 0;
}

int gxio_mpipe_init_notif_group_and_buckets(gxio_mpipe_context_t *ctx, unsigned int group,
					    unsigned int ring, unsigned int num_rings,
					    unsigned int bucket, unsigned int num_buckets,
					    gxio_mpipe_bucket_mode_t mode)
{
	struct mde_mpipe *mp = mde_mpipe_of(ctx);

	if (mp == NULL)
		return GXIO_ERR_INVAL;
	if (mode != GXIO_MPIPE_BUCKET_STATIC_FLOW_AFFINITY &&
	    mode != GXIO_MPIPE_BUCKET_ROUND_ROBIN) {
		mde_model_warn("bucket mode %d is not modelled (static flow affinity and round "
			       "robin are)",
			       (int)mode);
		return GXIO_ERR_UNSUPPORTED_OP;
	}
	pthread_mutex_lock(&mp->lock);
	if (group >= MDE_NUM_GROUPS || !mp->group[group].allocated) {
		pthread_mutex_unlock(&mp->lock);
		return GXIO_MPIPE_ERR_BAD_NOTIF_GROUP;
	}
	if (num_rings == 0 || ring + num_rings > MDE_NUM_RINGS) {
		pthread_mutex_unlock(&mp->lock);
		return GXIO_MPIPE_ERR_BAD_NOTIF_RING;
	}
	for (unsigned i = 0; i < num_rings; i++)
		if (!mp->ring[ring + i].allocated) {
			pthread_mutex_unlock(&mp->lock);
			return GXIO_MPIPE_ERR_BAD_NOTIF_RING;
		}
	if (bucket + num_buckets > MDE_NUM_BUCKETS) {
		pthread_mutex_unlock(&mp->lock);
		return GXIO_MPIPE_ERR_BAD_BUCKET;
	}
	for (unsigned i = 0; i < num_buckets; i++)
		if (!mp->bucket[bucket + i].allocated) {
			pthread_mutex_unlock(&mp->lock);
			return GXIO_MPIPE_ERR_BAD_BUCKET;
		}
	mp->group[group].ring0 = ring;
	mp->group[group].nrings = num_rings;
	mp->group[group].initialized = true;
	for (unsigned i = 0; i < num_buckets; i++) {
		struct mde_bucket *b = &mp->bucket[bucket + i];
		b->group = group;
		b->ring = ring + i % num_rings;
		b->mode = mode;
		b->initialized = true;
	}
	pthread_mutex_unlock(&mp->lock);
	return 0;
}

void gxio_mpipe_credit(gxio_mpipe_context_t *ctx, int ring, int bucket, unsigned int count)
{
	struct mde_mpipe *mp = mde_mpipe_of(ctx);

	if (mp == NULL) {
		mde_model_warn("gxio_mpipe_credit on a context that is not open");
		abort();
	}
	if (ring >= 0) {
		struct mde_ring *r = ring < MDE_NUM_RINGS ? &mp->ring[ring] : NULL;
		if (r == NULL || !r->initialized) {
			GUEST(mp, credit_overflow,
			      "credit to notif ring %d, which is not initialised", ring);
		} else {
			int64_t now =
			    __atomic_add_fetch(&r->credits, (int64_t)count, __ATOMIC_ACQ_REL);
			if (now > (int64_t)r->n - 1) {
				__atomic_sub_fetch(&r->credits, now - ((int64_t)r->n - 1),
						   __ATOMIC_ACQ_REL);
				GUEST(mp, credit_overflow,
				      "notif ring %d credited %u: %lld credits for %u entries "
				      "(more returned than descriptors taken)",
				      ring, count, (long long)now, r->n - 1);
			}
		}
	}
	if (bucket >= 0 && (bucket >= MDE_NUM_BUCKETS || !mp->bucket[bucket].initialized))
		GUEST(mp, credit_overflow, "credit to bucket %d, which is not initialised", bucket);
}

/* ------------------------------------------------------------------------ */
/* Classifier rules                                                         */
/* ------------------------------------------------------------------------ */

void gxio_mpipe_rules_init(gxio_mpipe_rules_t *rules, gxio_mpipe_context_t *ctx)
{
	memset(rules, 0, sizeof(*rules));
	rules->context = ctx;
}

int gxio_mpipe_rules_begin(gxio_mpipe_rules_t *rules, unsigned int bucket, unsigned int num_buckets,
			   gxio_mpipe_rules_stacks_t *stacks)
{
	mde_model_rule_t *r;
	int stack = 255;

	if (rules->n == MDE_MODEL_MAX_RULES)
		return GXIO_MPIPE_ERR_RULES_FULL;
	if (num_buckets == 0 || (num_buckets & (num_buckets - 1)) != 0)
		return GXIO_MPIPE_ERR_RULES_INVALID;
	r = &rules->rule[rules->n];
	memset(r, 0, sizeof(*r));
	r->headroom = 2;
	r->capacity = 16384;
	r->bucket_first = (uint16_t)bucket;
	r->bucket_mask = (uint16_t)(num_buckets - 1);
	/* Smaller packets use the next larger stack; trailing "none" entries
	 * take the largest stack given, and cap the packet size at its
	 * buffer size. */
	for (int i = 7; i >= 0; i--) {
		int maybe = stacks != NULL ? stacks->stacks[i] : rules->context->__stacks.stacks[i];
		if (maybe != 255)
			stack = maybe;
		r->stacks.stacks[i] = (uint8_t)stack;
	}
	if (stack == 255)
		return GXIO_MPIPE_ERR_RULES_INVALID;
	for (int i = 7; i > 0; i--)
		if (r->stacks.stacks[i] == 255) {
			r->stacks.stacks[i] = (uint8_t)stack;
			r->capacity = (uint16_t)buffer_sizes[i - 1];
		}
	rules->n++;
	return 0;
}

int gxio_mpipe_rules_set_headroom(gxio_mpipe_rules_t *rules, uint8_t headroom)
{
	if (rules->n == 0)
		return GXIO_MPIPE_ERR_RULES_EMPTY;
	rules->rule[rules->n - 1].headroom = headroom;
	return 0;
}

int gxio_mpipe_rules_add_channel(gxio_mpipe_rules_t *rules, unsigned int channel)
{
	if (channel >= MDE_NUM_CHANNELS)
		return GXIO_MPIPE_ERR_RULES_INVALID;
	if (rules->n == 0)
		return GXIO_MPIPE_ERR_RULES_EMPTY;
	rules->rule[rules->n - 1].channel_bits |= 1u << channel;
	return 0;
}

static uint32_t open_channels(struct mde_mpipe *mp)
{
	uint32_t bits = 0;

	for (unsigned l = 0; l < MDE_MAX_LINKS; l++)
		if (mp->link[l].open)
			bits |= 1u << mp->link[l].channel;
	return bits;
}

int gxio_mpipe_rules_commit(gxio_mpipe_rules_t *rules)
{
	struct mde_mpipe *mp = mde_mpipe_of(rules->context);

	if (mp == NULL)
		return GXIO_ERR_INVAL;
	pthread_mutex_lock(&mp->lock);
	for (unsigned i = 0; i < rules->n; i++) {
		const mde_model_rule_t *r = &rules->rule[i];
		uint32_t open = open_channels(mp);
		if ((r->channel_bits & ~open) != 0) {
			pthread_mutex_unlock(&mp->lock);
			return GXIO_MPIPE_ERR_BAD_CHANNEL;
		}
		for (unsigned b = 0; b <= r->bucket_mask; b++)
			if ((unsigned)r->bucket_first + b >= MDE_NUM_BUCKETS ||
			    !mp->bucket[r->bucket_first + b].initialized) {
				pthread_mutex_unlock(&mp->lock);
				return GXIO_MPIPE_ERR_BAD_BUCKET;
			}
		for (unsigned s = 0; s < 8; s++)
			if (r->stacks.stacks[s] >= MDE_NUM_STACKS ||
			    !mp->stack[r->stacks.stacks[s]].initialized) {
				pthread_mutex_unlock(&mp->lock);
				return GXIO_MPIPE_ERR_BAD_BUFFER_STACK;
			}
	}
	memcpy(mp->rule, rules->rule, sizeof(mp->rule));
	mp->nrules = rules->n;
	pthread_mutex_unlock(&mp->lock);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Egress queue                                                             */
/* ------------------------------------------------------------------------ */

int gxio_mpipe_equeue_init(gxio_mpipe_equeue_t *eq, gxio_mpipe_context_t *ctx, unsigned int ering,
			   unsigned int channel, void *mem, unsigned int mem_size,
			   unsigned int mem_flags)
{
	struct mde_mpipe *mp = mde_mpipe_of(ctx);
	size_t n = mem_size / sizeof(gxio_mpipe_edesc_t);
	struct mde_edma *e;

	(void)mem_flags;
	if (mp == NULL || eq == NULL || mem == NULL)
		return GXIO_ERR_INVAL;
	if (ering >= MDE_NUM_EDMA || !mp->edma[ering].allocated)
		return GXIO_MPIPE_ERR_BAD_EDMA_RING;
	if (mem_size % sizeof(gxio_mpipe_edesc_t) != 0 ||
	    (n != 512 && n != 2048 && n != 8192 && n != 65536))
		return GXIO_ERR_INVAL_MEMORY_SIZE;
	if (((uintptr_t)mem & 63) != 0)
		return GXIO_ERR_ALIGNMENT;
	if (!mde_mem_contiguous(mem, mem_size)) {
		mde_model_warn("gxio_mpipe_equeue_init: ring memory (%u bytes at %p) is not "
			       "physically contiguous (use tmc_alloc huge pages)",
			       mem_size, mem);
		return GXIO_ERR_INVAL;
	}
	pthread_mutex_lock(&mp->lock);
	if (channel >= MDE_NUM_CHANNELS || !(open_channels(mp) & (1u << channel))) {
		pthread_mutex_unlock(&mp->lock);
		return GXIO_MPIPE_ERR_BAD_CHANNEL;
	}
	e = &mp->edma[ering];
	if (e->initialized) {
		pthread_mutex_unlock(&mp->lock);
		return GXIO_ERR_ALREADY_INIT;
	}
	memset(mem, 0, mem_size);
	e->mem = mem;
	e->n = (unsigned)n;
	e->log2 = (unsigned)__builtin_ctzl(n);
	e->channel = channel;
	e->head = 0;
	__atomic_store_n(&e->complete, 0, __ATOMIC_RELEASE);
	e->initialized = true;
	pthread_mutex_unlock(&mp->lock);
	memset(eq, 0, sizeof(*eq));
	eq->context = ctx;
	eq->edescs = mem;
	eq->num_entries = n;
	eq->mask_num_entries = n - 1;
	eq->log2_num_entries = e->log2;
	eq->ering = ering;
	eq->channel = channel;
	eq->hw = e;
	return 0;
}

int64_t gxio_mpipe_equeue_try_reserve_fast(gxio_mpipe_equeue_t *eq, unsigned int num)
{
	int64_t next = __atomic_load_n(&eq->credits_and_next_index, __ATOMIC_RELAXED);

	if (num == 0 || num > eq->num_entries)
		return GXIO_ERR_INVAL;
	for (;;) {
		uint64_t done = __atomic_load_n(&eq->hw->complete, __ATOMIC_ACQUIRE);
		if ((uint64_t)next + num - done > eq->num_entries)
			return GXIO_ERR_DMA_CREDITS;
		if (__atomic_compare_exchange_n(&eq->credits_and_next_index, &next,
						next + (int64_t)num, false, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED))
			return next & 0xffffff;
	}
}

void gxio_mpipe_equeue_flush(gxio_mpipe_equeue_t *eq)
{
	struct mde_mpipe *mp = eq->hw != NULL ? eq->hw->mp : NULL;

	if (mp != NULL)
		mde_engine_wake(mp);
}

/* ------------------------------------------------------------------------ */
/* Links                                                                    */
/* ------------------------------------------------------------------------ */

/* Kind of a model link name, or -1. */
static int link_kind(const char *name)
{
	if (name == NULL)
		return -1;
	if (strncmp(name, "loop", 4) == 0 && name[4] >= '0' && name[4] <= '3' && name[5] == '\0')
		return MDE_LINK_LOOP;
	if (strncmp(name, "tap:", 4) == 0) {
		size_t n = strlen(name + 4);
		if (n == 0 || n > 15 || strpbrk(name + 4, "/ :\t") != NULL)
			return -1;
		return MDE_LINK_TAP;
	}
	if (strncmp(name, "mem:", 4) == 0 && name[4] != '\0' &&
	    strlen(name) < GXIO_MPIPE_LINK_NAME_LEN)
		return MDE_LINK_MEM;
	return -1;
}

static void link_mac(const char *name, uint8_t mac[6])
{
	uint32_t h = 2166136261u;

	for (const char *p = name; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	mac[0] = 0x02; /* locally administered */
	mac[1] = 'M';
	mac[2] = 'D';
	mac[3] = 'E';
	mac[4] = (uint8_t)(h >> 8);
	mac[5] = (uint8_t)h;
}

int gxio_mpipe_link_instance(const char *link_name)
{
	return link_kind(link_name) < 0 ? GXIO_ERR_NO_DEVICE : 0;
}

struct mde_link *mde_link_find(const char *name, struct mde_mpipe **mp_out)
{
	struct mde_link *found = NULL;

	pthread_mutex_lock(&shims_lock);
	for (unsigned i = 0; i < GXIO_MPIPE_INSTANCE_MAX && found == NULL; i++) {
		struct mde_mpipe *mp = shims[i];
		for (unsigned l = 0; mp != NULL && l < MDE_MAX_LINKS; l++)
			if (mp->link[l].open && strcmp(mp->link[l].name, name) == 0) {
				found = &mp->link[l];
				if (mp_out != NULL)
					*mp_out = mp;
				break;
			}
	}
	pthread_mutex_unlock(&shims_lock);
	return found;
}

int gxio_mpipe_link_enumerate_mac(int idx, char *link_name, uint8_t *mac)
{
	int n = 0;

	if (idx < 0)
		return GXIO_ERR_NO_DEVICE;
	/* The built-in loopback links, then the open tap: and mem: links. */
	if (idx < 4) {
		snprintf(link_name, GXIO_MPIPE_LINK_NAME_LEN, "loop%d", idx);
		link_mac(link_name, mac);
		return 0;
	}
	n = 4;
	pthread_mutex_lock(&shims_lock);
	for (unsigned i = 0; i < GXIO_MPIPE_INSTANCE_MAX; i++)
		for (unsigned l = 0; shims[i] != NULL && l < MDE_MAX_LINKS; l++) {
			struct mde_link *k = &shims[i]->link[l];
			if (!k->open || k->kind == MDE_LINK_LOOP)
				continue;
			if (n++ == idx) {
				snprintf(link_name, GXIO_MPIPE_LINK_NAME_LEN, "%s", k->name);
				memcpy(mac, k->mac, 6);
				pthread_mutex_unlock(&shims_lock);
				return 0;
			}
		}
	pthread_mutex_unlock(&shims_lock);
	return GXIO_ERR_NO_DEVICE;
}

int gxio_mpipe_link_open(gxio_mpipe_link_t *link, gxio_mpipe_context_t *ctx, const char *link_name,
			 unsigned int flags)
{
	struct mde_mpipe *mp = mde_mpipe_of(ctx);
	int kind = link_kind(link_name);
	struct mde_link *l = NULL;
	uint32_t used;
	unsigned ch;
	int rc;

	if (mp == NULL || link == NULL)
		return GXIO_ERR_INVAL;
	if (kind < 0)
		return GXIO_ERR_NO_DEVICE;
	if (mde_link_find(link_name, NULL) != NULL)
		return GXIO_ERR_BUSY;
	pthread_mutex_lock(&mp->lock);
	for (unsigned i = 0; i < MDE_MAX_LINKS; i++)
		if (!mp->link[i].open) {
			l = &mp->link[i];
			break;
		}
	used = open_channels(mp);
	for (ch = 0; ch < MDE_NUM_CHANNELS && (used & (1u << ch)); ch++)
		;
	if (l == NULL || ch == MDE_NUM_CHANNELS) {
		pthread_mutex_unlock(&mp->lock);
		return GXIO_ERR_BUSY;
	}
	memset(l, 0, sizeof(*l));
	snprintf(l->name, sizeof(l->name), "%s", link_name);
	l->kind = (enum mde_link_kind)kind;
	l->channel = ch;
	l->fd = -1;
	link_mac(link_name, l->mac);
	l->desired = (flags & (GXIO_MPIPE_LINK_AUTO_NONE | GXIO_MPIPE_LINK_AUTO_DOWN))
			 ? 0
			 : (int64_t)GXIO_MPIPE_LINK_ANYSPEED;
	rc = mde_link_wire_open(l);
	if (rc != 0) {
		pthread_mutex_unlock(&mp->lock);
		return rc;
	}
	l->open = true;
	pthread_mutex_unlock(&mp->lock);
	link->context = ctx;
	link->channel = (uint8_t)ch;
	link->mac = (uint8_t)(l - mp->link);
	mde_engine_wake(mp);
	return 0;
}

static struct mde_link *link_of(gxio_mpipe_link_t *link, struct mde_mpipe **mpp)
{
	struct mde_mpipe *mp = link != NULL ? mde_mpipe_of(link->context) : NULL;

	if (mp == NULL || link->mac >= MDE_MAX_LINKS || !mp->link[link->mac].open)
		return NULL;
	*mpp = mp;
	return &mp->link[link->mac];
}

int gxio_mpipe_link_close(gxio_mpipe_link_t *link)
{
	struct mde_mpipe *mp;
	struct mde_link *l = link_of(link, &mp);

	if (l == NULL)
		return GXIO_ERR_INVAL;
	pthread_mutex_lock(&mp->lock);
	l->open = false;
	mde_link_wire_close(l);
	pthread_mutex_unlock(&mp->lock);
	return 0;
}

int gxio_mpipe_link_set_attr(gxio_mpipe_link_t *link, uint32_t attr, int64_t val)
{
	struct mde_mpipe *mp;
	struct mde_link *l = link_of(link, &mp);

	if (l == NULL)
		return GXIO_ERR_INVAL;
	switch (attr) {
	case GXIO_MPIPE_LINK_DESIRED_STATE:
		__atomic_store_n(&l->desired, val, __ATOMIC_RELEASE);
		return 0;
	case GXIO_MPIPE_LINK_RECEIVE_JUMBO:
		l->jumbo = val != 0;
		return 0;
	case GXIO_MPIPE_LINK_SEND_PAUSE:
	case GXIO_MPIPE_LINK_RECEIVE_PAUSE:
	case GXIO_MPIPE_LINK_DISCARD_IF_DOWN:
		return 0; /* accepted, no effect in the model */
	default:
		return GXIO_ERR_INVAL; /* MAC, POSSIBLE/CURRENT state are read-only */
	}
}

int64_t gxio_mpipe_link_get_attr(gxio_mpipe_link_t *link, uint32_t attr)
{
	struct mde_mpipe *mp;
	struct mde_link *l = link_of(link, &mp);
	int64_t desired;

	if (l == NULL)
		return GXIO_ERR_INVAL;
	desired = __atomic_load_n(&l->desired, __ATOMIC_ACQUIRE);
	switch (attr) {
	case GXIO_MPIPE_LINK_CURRENT_STATE:
		return (desired & (int64_t)GXIO_MPIPE_LINK_SPEED_MASK)
			   ? (int64_t)(GXIO_MPIPE_LINK_10G | GXIO_MPIPE_LINK_FDX)
			   : 0;
	case GXIO_MPIPE_LINK_DESIRED_STATE:
		return desired;
	case GXIO_MPIPE_LINK_POSSIBLE_STATE:
		return (int64_t)(GXIO_MPIPE_LINK_1G | GXIO_MPIPE_LINK_10G | GXIO_MPIPE_LINK_FDX);
	case GXIO_MPIPE_LINK_MAC: {
		int64_t v = 0;
		for (int i = 0; i < 6; i++)
			v = v << 8 | l->mac[i];
		return v;
	}
	case GXIO_MPIPE_LINK_RECEIVE_JUMBO:
		return l->jumbo;
	default:
		return GXIO_ERR_INVAL;
	}
}

int gxio_mpipe_get_stats(gxio_mpipe_context_t *ctx, gxio_mpipe_stats_t *stats)
{
	struct mde_mpipe *mp = mde_mpipe_of(ctx);
	const uint64_t *src;
	uint64_t *dst = (uint64_t *)stats;

	if (mp == NULL || stats == NULL)
		return GXIO_ERR_INVAL;
	src = (const uint64_t *)&mp->stats;
	for (size_t i = 0; i < sizeof(*stats) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
	return 0;
}

int mde_model_mpipe_counters(int instance, struct mde_model_mpipe_counters *c)
{
	struct mde_mpipe *mp;
	int rc = -1;

	pthread_mutex_lock(&shims_lock);
	mp = instance >= 0 && instance < GXIO_MPIPE_INSTANCE_MAX ? shims[instance] : NULL;
	if (mp != NULL) {
		const uint64_t *src = (const uint64_t *)&mp->cnt;
		uint64_t *dst = (uint64_t *)c;
		for (size_t i = 0; i < sizeof(*c) / sizeof(uint64_t); i++)
			dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
		rc = 0;
	}
	pthread_mutex_unlock(&shims_lock);
	return rc;
}
