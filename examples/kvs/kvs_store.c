/*
 * kvs_store.c - the item store (see kvs_store.h): slab classes over an
 * arena, a shared hash table with striped locks, per-class LRU eviction,
 * two-part reference counts, lazy expiry and flush.
 *
 * Item life: kvs_store_alloc() hands out a chunk with refs = LINK (owned by
 * the caller); kvs_store_store() links it (the ownership becomes the hash
 * table's link); unlinking (replace, delete, expiry seen by a lookup, flush
 * seen by a lookup, eviction) drops LINK; kvs_store_get() adds and
 * kvs_store_release() drops in-flight references. Whoever brings refs to
 * zero returns the chunk to its class's free list.
 *
 * flush_all is lazy: an immediate flush records the last CAS version handed
 * out, and every item with a version not above it is dead when next seen; a
 * delayed flush records its deadline, and the first operation that sees the
 * deadline passed turns it into an immediate one.
 */
#include "kvs_store.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KVS_MAX_CLASSES	 64
#define KVS_GROWTH_NUM	 5 /* chunk sizes grow by 5/4 */
#define KVS_GROWTH_DEN	 4
#define KVS_EVICT_SEARCH 8		     /* LRU tail items looked at per eviction */
#define KVS_ALLOC_TRIES	 16		     /* evictions tried per allocation */
#define KVS_STEAL_PAGES	 4		     /* pages of a class tried when moving one */
#define KVS_REL_EXP_MAX	 (60 * 60 * 24 * 30) /* larger exptimes are Unix times */
#define KVS_US		 1000000ull

struct kvs_class {
	pthread_mutex_t lock;
	uint32_t size;	  /* chunk size */
	uint32_t perpage; /* chunks per page */
	struct kvs_item *free;
	struct kvs_item *head, *tail; /* LRU: head most recent */
	uint64_t items, bytes, value_bytes, pending, chunks, nfree, pages;
	uint64_t total_items, evictions, reclaimed, evict_skips, alloc_fails, page_moves;
} __attribute__((aligned(64)));

/* kvs_item.linked: the chunk's state. */
#define KVS_UNLINKED   0 /* being filled, or unlinked and still in flight */
#define KVS_LINKED     1 /* in the hash table and the LRU */
#define KVS_CHUNK_FREE 2 /* on the class's free list */

/*
 * kvs_store.page_cls: the class whose chunks a page holds, KVS_PAGE_NONE when
 * no class holds it (not handed out yet, or emptied by one class and not yet
 * carved by the next). The invariant page moving relies on: page_cls[p]
 * becomes v, or stops being v, only while v's lock is held - carve() sets it
 * under the gaining class's lock, empty_page() clears it under the losing
 * class's lock before that lock is dropped. So a thread holding v's lock that
 * reads page_cls[p] == v knows page p is v's, cut into v's chunks, until it
 * unlocks v; without it, a page emptied by one thief still read as v's until
 * carved, a second thief emptied it again (all its chunks looked free) and
 * both carved it: two classes handing out overlapping chunks, so one item's
 * refs were reset under another's references (in-flight underflow).
 */
#define KVS_PAGE_NONE 0xff /* > any class index (KVS_MAX_CLASSES <= 255) */

struct kvs_stripe {
	pthread_mutex_t m;
} __attribute__((aligned(64)));

struct kvs_store {
	struct kvs_store_conf conf;
	uint8_t *arena;
	bool own_arena;
	size_t page_size, npages;
	uint64_t next_page; /* atomic: pages handed out (may overshoot npages) */
	struct kvs_item **buckets;
	uint64_t bucket_mask;
	struct kvs_stripe *stripes;
	uint32_t stripe_mask;
	unsigned ncls;
	uint8_t *page_cls;    /* class of each page, KVS_PAGE_NONE (see above) */
	size_t steal_cursor;  /* where the next page search starts (racy hint) */
	uint64_t cas_next;    /* atomic: next CAS version */
	uint64_t flush_cas;   /* atomic: versions up to this are flushed */
	uint64_t flush_at_us; /* atomic: pending delayed flush, 0 none */
	struct kvs_class cls[KVS_MAX_CLASSES];
};

/* ---- helpers ------------------------------------------------------------ */

static uint32_t hash_key(const char *key, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a, then a finaliser */

	for (size_t i = 0; i < n; i++) {
		h ^= (uint8_t)key[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return (uint32_t)h;
}

static unsigned digits_u64(uint64_t v)
{
	unsigned n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

/* Bytes of "VALUE <key> <flags> <nbytes>\r\n". */
static size_t hdr_len(size_t nkey, uint32_t flags, uint32_t nbytes)
{
	return KVS_ITEM_KEY_OFF + nkey + 1 + digits_u64(flags) + 1 + digits_u64(nbytes) + 2;
}

static size_t item_total(size_t nkey, uint32_t flags, uint32_t nbytes)
{
	return sizeof(struct kvs_item) + hdr_len(nkey, flags, nbytes) + nbytes + 2;
}

static size_t item_size(const struct kvs_item *it)
{
	return sizeof(struct kvs_item) + it->nhdr + it->nbytes + 2;
}

bool kvs_parse_u64(const char *p, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 20)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		uint64_t d = (uint64_t)(p[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

static void lock(pthread_mutex_t *m)
{
	int rc = pthread_mutex_lock(m);

	assert(rc == 0);
	(void)rc;
}

static void unlock(pthread_mutex_t *m)
{
	int rc = pthread_mutex_unlock(m);

	assert(rc == 0);
	(void)rc;
}

static pthread_mutex_t *stripe_of(struct kvs_store *s, uint32_t hv)
{
	return &s->stripes[hv & s->stripe_mask].m;
}

/* The clock, applying a delayed flush whose time has come. */
static uint64_t store_now(struct kvs_store *s)
{
	uint64_t now = s->conf.now_us(s->conf.clock_arg);
	uint64_t at = __atomic_load_n(&s->flush_at_us, __ATOMIC_ACQUIRE);

	if (at != 0 && at <= now &&
	    __atomic_compare_exchange_n(&s->flush_at_us, &at, 0, false, __ATOMIC_ACQ_REL,
					__ATOMIC_ACQUIRE)) {
		uint64_t last = __atomic_load_n(&s->cas_next, __ATOMIC_ACQUIRE) - 1;
		__atomic_store_n(&s->flush_cas, last, __ATOMIC_RELEASE);
	}
	return now;
}

/* memcached expiry semantics -> absolute store time (0 never, 1 expired). */
static uint64_t exp_abs(const struct kvs_store *s, int64_t e, uint64_t now)
{
	if (e == 0)
		return 0;
	if (e < 0)
		return 1;
	if (e > KVS_REL_EXP_MAX) {
		int64_t unix_now = s->conf.unix_at_zero + (int64_t)(now / KVS_US);
		if (e <= unix_now)
			return 1;
		return now + (uint64_t)(e - unix_now) * KVS_US;
	}
	return now + (uint64_t)e * KVS_US;
}

static enum kvs_miss item_dead(const struct kvs_store *s, const struct kvs_item *it, uint64_t now)
{
	if (it->exp_us != 0 && it->exp_us <= now)
		return KVS_MISS_EXPIRED;
	if (it->cas <= __atomic_load_n(&s->flush_cas, __ATOMIC_ACQUIRE))
		return KVS_MISS_FLUSHED;
	return KVS_MISS_NONE;
}

/* ---- LRU and free lists (class lock held) -------------------------------- */

static void lru_remove(struct kvs_class *c, struct kvs_item *it)
{
	if (it->prev != NULL)
		it->prev->next = it->next;
	else
		c->head = it->next;
	if (it->next != NULL)
		it->next->prev = it->prev;
	else
		c->tail = it->prev;
	it->prev = it->next = NULL;
}

static void lru_push(struct kvs_class *c, struct kvs_item *it)
{
	it->prev = NULL;
	it->next = c->head;
	if (c->head != NULL)
		c->head->prev = it;
	c->head = it;
	if (c->tail == NULL)
		c->tail = it;
}

static void chunk_free(struct kvs_class *c, struct kvs_item *it)
{
	it->refs = 0;
	__atomic_store_n(&it->linked, KVS_CHUNK_FREE, __ATOMIC_RELEASE);
	it->hnext = c->free;
	c->free = it;
	c->nfree++;
}

/* Drop the link reference of an item just taken out of the table. */
static void drop_link(struct kvs_class *c, struct kvs_item *it)
{
	uint64_t left = __atomic_sub_fetch(&it->refs, KVS_REF_LINK, __ATOMIC_ACQ_REL);

	assert((left >> 32) == 0);
	if (left == 0)
		chunk_free(c, it);
	else
		c->pending++;
}

/* ---- hash table (stripe lock held) --------------------------------------- */

static struct kvs_item **find_slot(struct kvs_store *s, uint32_t hv, const char *key, size_t nkey)
{
	struct kvs_item **pp = &s->buckets[hv & s->bucket_mask];

	for (; *pp != NULL; pp = &(*pp)->hnext) {
		const struct kvs_item *it = *pp;
		if (it->hv == hv && it->nkey == nkey && memcmp(kvs_item_key(it), key, nkey) == 0)
			return pp;
	}
	return pp;
}

static struct kvs_item **slot_of(struct kvs_store *s, const struct kvs_item *it)
{
	struct kvs_item **pp = &s->buckets[it->hv & s->bucket_mask];

	while (*pp != it) {
		assert(*pp != NULL);
		pp = &(*pp)->hnext;
	}
	return pp;
}

static void link_item(struct kvs_store *s, struct kvs_item *it, uint64_t now)
{
	struct kvs_item **head = &s->buckets[it->hv & s->bucket_mask];
	struct kvs_class *c = &s->cls[it->cls];

	assert(it->linked == KVS_UNLINKED && (it->refs >> 32) == 1);
	it->hnext = *head;
	*head = it;
	/* release: empty_page() reads the state, then hv and refs, without our stripe */
	__atomic_store_n(&it->linked, KVS_LINKED, __ATOMIC_RELEASE);
	it->atime_us = now;
	lock(&c->lock);
	lru_push(c, it);
	c->items++;
	c->total_items++;
	c->bytes += item_size(it);
	c->value_bytes += it->nkey + it->nbytes;
	unlock(&c->lock);
}

/* Take out the item at *pp (class lock not held). */
static void unlink_item(struct kvs_store *s, struct kvs_item **pp)
{
	struct kvs_item *it = *pp;
	struct kvs_class *c = &s->cls[it->cls];

	assert(it->linked == KVS_LINKED);
	*pp = it->hnext;
	it->hnext = NULL;
	__atomic_store_n(&it->linked, KVS_UNLINKED, __ATOMIC_RELEASE);
	lock(&c->lock);
	lru_remove(c, it);
	c->items--;
	c->bytes -= item_size(it);
	c->value_bytes -= it->nkey + it->nbytes;
	drop_link(c, it);
	unlock(&c->lock);
}

/* Find a live item; a dead one met on the way is unlinked (*why says why). */
static struct kvs_item **find_live(struct kvs_store *s, uint32_t hv, const char *key, size_t nkey,
				   uint64_t now, enum kvs_miss *why)
{
	struct kvs_item **pp = find_slot(s, hv, key, nkey);
	enum kvs_miss dead;

	*why = KVS_MISS_NONE;
	if (*pp == NULL) {
		*why = KVS_MISS_ABSENT;
		return pp;
	}
	dead = item_dead(s, *pp, now);
	if (dead != KVS_MISS_NONE) {
		unlink_item(s, pp);
		*why = dead;
		return find_slot(s, hv, key, nkey); /* keys are unique: now empty */
	}
	return pp;
}

/* ---- allocation ------------------------------------------------------------ */

/* Cut a page into c's chunks (class lock held). */
static void carve(struct kvs_store *s, struct kvs_class *c, uint8_t *base)
{
	uint8_t was = __atomic_exchange_n(&s->page_cls[(size_t)(base - s->arena) / s->page_size],
					  (uint8_t)(c - s->cls), __ATOMIC_RELAXED);

	assert(was == KVS_PAGE_NONE); /* fresh or emptied: no class holds it */
	(void)was;
	for (uint32_t i = 0; i < c->perpage; i++)
		chunk_free(c, (struct kvs_item *)(void *)(base + (size_t)i * c->size));
	c->chunks += c->perpage;
	__atomic_store_n(&c->pages, c->pages + 1, __ATOMIC_RELAXED);
}

static bool grab_page(struct kvs_store *s, struct kvs_class *c)
{
	uint64_t p = __atomic_fetch_add(&s->next_page, 1, __ATOMIC_RELAXED);

	if (p >= s->npages)
		return false;
	carve(s, c, s->arena + p * s->page_size);
	return true;
}

/* Take a linked item out of the table and c's LRU: the evictor's unlink
 * (its stripe and c's lock held). Its chunk is freed unless in flight. */
static void evict_locked(struct kvs_store *s, struct kvs_class *c, struct kvs_item *it, bool dead)
{
	struct kvs_item **pp = slot_of(s, it);

	*pp = it->hnext;
	it->hnext = NULL;
	__atomic_store_n(&it->linked, KVS_UNLINKED, __ATOMIC_RELEASE);
	lru_remove(c, it);
	c->items--;
	c->bytes -= item_size(it);
	c->value_bytes -= it->nkey + it->nbytes;
	if (dead)
		c->reclaimed++;
	else
		c->evictions++;
	drop_link(c, it);
}

/* Evict one item from the tail of c's LRU (class lock held). */
static bool evict_one(struct kvs_store *s, struct kvs_class *c, uint64_t now)
{
	struct kvs_item *it = c->tail;

	for (unsigned n = 0; it != NULL && n < KVS_EVICT_SEARCH; n++) {
		struct kvs_item *prev = it->prev;
		pthread_mutex_t *lk = stripe_of(s, it->hv);

		if (pthread_mutex_trylock(lk) != 0) {
			it = prev;
			continue;
		}
		assert(it->linked == KVS_LINKED);
		bool dead = item_dead(s, it, now) != KVS_MISS_NONE;
		if (!dead && (__atomic_load_n(&it->refs, __ATOMIC_ACQUIRE) & KVS_REF_INFLIGHT)) {
			/* Being sent: it is hot, keep it. */
			lru_remove(c, it);
			lru_push(c, it);
			c->evict_skips++;
			unlock(lk);
			it = prev;
			continue;
		}
		evict_locked(s, c, it, dead);
		unlock(lk);
		return true;
	}
	return false;
}

/*
 * Empty the page at base (chunks of class v, whose lock is held)
 * and take it out of v: every item in it is evicted (its stripe try-locked),
 * every free chunk taken off v's free list. Fails, leaving what it evicted
 * evicted, if a chunk is in flight, being filled, or its stripe is busy.
 * @return the page, or NULL.
 */
static uint8_t *empty_page(struct kvs_store *s, struct kvs_class *v, uint8_t *base, uint64_t now,
			   bool dead_only)
{
	/* A look first (racy, but it saves evicting a page that cannot move). */
	for (uint32_t i = 0; i < v->perpage; i++) {
		struct kvs_item *it = (struct kvs_item *)(void *)(base + (size_t)i * v->size);
		uint8_t st = __atomic_load_n(&it->linked, __ATOMIC_ACQUIRE);
		if (st == KVS_UNLINKED ||
		    (st == KVS_LINKED &&
		     ((__atomic_load_n(&it->refs, __ATOMIC_ACQUIRE) & KVS_REF_INFLIGHT) ||
		      (dead_only && item_dead(s, it, now) == KVS_MISS_NONE))))
			return NULL;
	}
	for (uint32_t i = 0; i < v->perpage; i++) {
		struct kvs_item *it = (struct kvs_item *)(void *)(base + (size_t)i * v->size);
		uint8_t st = __atomic_load_n(&it->linked, __ATOMIC_ACQUIRE);
		if (st == KVS_CHUNK_FREE)
			continue;
		if (st != KVS_LINKED)
			return NULL; /* being filled, or unlinked and in flight */
		pthread_mutex_t *lk = stripe_of(s, it->hv);
		if (pthread_mutex_trylock(lk) != 0)
			return NULL;
		bool dead = item_dead(s, it, now) != KVS_MISS_NONE;
		if (__atomic_load_n(&it->refs, __ATOMIC_ACQUIRE) & KVS_REF_INFLIGHT) {
			unlock(lk);
			return NULL;
		}
		evict_locked(s, v, it, dead);
		unlock(lk);
		assert(it->linked == KVS_CHUNK_FREE);
	}
	/* Every chunk is free: take them off the free list. */
	struct kvs_item **pp = &v->free;
	while (*pp != NULL) {
		if ((uint8_t *)*pp >= base && (uint8_t *)*pp < base + s->page_size)
			*pp = (*pp)->hnext;
		else
			pp = &(*pp)->hnext;
	}
	v->nfree -= v->perpage;
	v->chunks -= v->perpage;
	__atomic_store_n(&v->pages, v->pages - 1, __ATOMIC_RELAXED);
	/* No longer v's, before v's lock goes (the caller carves it later). */
	__atomic_store_n(&s->page_cls[(size_t)(base - s->arena) / s->page_size], KVS_PAGE_NONE,
			 __ATOMIC_RELAXED);
	return base;
}

static uint8_t *page_of(const struct kvs_store *s, const void *p)
{
	size_t pg = (size_t)((const uint8_t *)p - s->arena) / s->page_size;

	return s->arena + pg * s->page_size;
}

/* The page of v's coldest item first, then v's other pages in arena order
 * from a rotating start (v's lock held: page_cls[p] == v is then exact). */
static uint8_t *take_page(struct kvs_store *s, struct kvs_class *v, uint64_t now, bool dead_only)
{
	uint8_t vi = (uint8_t)(v - s->cls);
	uint8_t *cold = v->tail != NULL ? page_of(s, v->tail) : NULL;

	if (cold != NULL && empty_page(s, v, cold, now, dead_only) != NULL)
		return cold;
	size_t n = s->npages;
	size_t start = __atomic_fetch_add(&s->steal_cursor, 1, __ATOMIC_RELAXED) % n;
	for (size_t k = 0; k < n; k++) {
		size_t p = (start + k) % n;
		uint8_t *base = s->arena + p * s->page_size;
		if (__atomic_load_n(&s->page_cls[p], __ATOMIC_RELAXED) != vi || base == cold)
			continue;
		if (empty_page(s, v, base, now, dead_only) != NULL)
			return base;
	}
	return NULL;
}

/*
 * Move a page to class c (lock held) from another class: the one holding
 * the most pages first, trying up to three (dead_only: every class). With
 * dead_only, only a class whose
 * coldest item is dead (expired or flushed) gives a page, one holding only
 * dead items, and only without waiting for its lock: c then reclaims garbage instead of
 * evicting its own live items (values of a new size after a flush_all).
 * Without, any class gives any page it can empty: c had nothing of its own
 * to evict. Class locks are taken in index order, out of order only by
 * try-lock.
 */
static bool steal_page(struct kvs_store *s, struct kvs_class *c, uint64_t now, bool dead_only)
{
	unsigned ci = (unsigned)(c - s->cls);
	uint64_t tried = (uint64_t)1 << ci;

	for (unsigned attempt = 0; attempt < (dead_only ? s->ncls : 3u); attempt++) {
		struct kvs_class *v = NULL;
		uint64_t most = 0;
		for (unsigned i = 0; i < s->ncls; i++) {
			uint64_t pages = __atomic_load_n(&s->cls[i].pages, __ATOMIC_RELAXED);
			if (!(tried >> i & 1) && pages > most) {
				v = &s->cls[i];
				most = pages;
			}
		}
		if (v == NULL)
			return false;
		tried |= (uint64_t)1 << (unsigned)(v - s->cls);
		if (v > c && !dead_only ? pthread_mutex_lock(&v->lock) != 0
					: pthread_mutex_trylock(&v->lock) != 0)
			continue;
		uint8_t *page = NULL;
		if (v->pages > 0 && (!dead_only || (v->tail != NULL &&
						    item_dead(s, v->tail, now) != KVS_MISS_NONE)))
			page = take_page(s, v, now, dead_only);
		unlock(&v->lock);
		if (page != NULL) {
			carve(s, c, page);
			c->page_moves++;
			return true;
		}
	}
	return false;
}

static struct kvs_item *chunk_alloc(struct kvs_store *s, unsigned ci, uint64_t now)
{
	struct kvs_class *c = &s->cls[ci];
	struct kvs_item *it = NULL;

	lock(&c->lock);
	for (unsigned tries = 0; tries < KVS_ALLOC_TRIES; tries++) {
		if (c->free != NULL) {
			it = c->free;
			c->free = it->hnext;
			c->nfree--;
			__atomic_store_n(&it->linked, KVS_UNLINKED, __ATOMIC_RELEASE);
			break;
		}
		if (grab_page(s, c))
			continue;
		/* Rather garbage elsewhere than a live item of ours. */
		if ((c->tail == NULL || item_dead(s, c->tail, now) == KVS_MISS_NONE) &&
		    steal_page(s, c, now, true))
			continue;
		if (!evict_one(s, c, now) && !steal_page(s, c, now, false))
			break;
	}
	if (it == NULL)
		c->alloc_fails++;
	unlock(&c->lock);
	return it;
}

static int class_for(const struct kvs_store *s, size_t total)
{
	for (unsigned i = 0; i < s->ncls; i++)
		if (s->cls[i].size >= total)
			return (int)i;
	return -1;
}

static struct kvs_item *item_alloc(struct kvs_store *s, const char *key, size_t nkey, uint32_t hv,
				   uint32_t flags, uint64_t exp_us, uint32_t nbytes, uint64_t now,
				   enum kvs_res *err)
{
	size_t total = item_total(nkey, flags, nbytes);
	int ci;

	assert(nkey > 0 && nkey <= KVS_KEY_MAX);
	ci = total <= s->page_size ? class_for(s, total) : -1;
	if (ci < 0) {
		*err = KVS_TOO_LARGE;
		return NULL;
	}
	struct kvs_item *it = chunk_alloc(s, (unsigned)ci, now);
	if (it == NULL) {
		*err = KVS_NOMEM;
		return NULL;
	}
	memset(it, 0, sizeof(*it));
	it->refs = KVS_REF_LINK;
	it->exp_us = exp_us;
	it->atime_us = now;
	it->flags = flags;
	it->nbytes = nbytes;
	it->hv = hv;
	it->nkey = (uint8_t)nkey;
	it->cls = (uint8_t)ci;
	/* The key is bytes (a binary-protocol key may hold a NUL): copied, not
	 * printed; the numbers after it are. */
	size_t hl = hdr_len(nkey, flags, nbytes), at = KVS_ITEM_KEY_OFF + nkey;
	memcpy(it->data, "VALUE ", KVS_ITEM_KEY_OFF);
	memcpy(it->data + KVS_ITEM_KEY_OFF, key, nkey);
	int n = snprintf(it->data + at, hl + 1 - at, " %u %u\r\n", flags, nbytes);
	assert(n > 0 && at + (size_t)n == hl);
	it->nhdr = (uint16_t)hl;
	memcpy(kvs_item_value(it) + nbytes, "\r\n", 2);
	*err = KVS_OK;
	return it;
}

/* ---- public API ------------------------------------------------------------ */

struct kvs_store *kvs_store_create(const struct kvs_store_conf *conf)
{
	struct kvs_store *s;
	size_t page = conf->page_size ? conf->page_size : (size_t)1 << 20;
	unsigned lp = conf->lock_power ? conf->lock_power : 12;
	unsigned hp = conf->hash_power;

	if (conf->now_us == NULL || page < 1024 || (page & 7) != 0 || conf->mem_bytes < page ||
	    lp > 20 || hp > 30)
		return NULL;
	if (hp == 0) {
		hp = 10;
		while (hp < 26 && ((size_t)1 << hp) * 128 < conf->mem_bytes)
			hp++;
	}
	if (hp < lp)
		hp = lp; /* a bucket maps to exactly one stripe */
	s = aligned_alloc(64, sizeof(*s));
	if (s == NULL)
		return NULL;
	memset(s, 0, sizeof(*s));
	s->conf = *conf;
	s->page_size = page;
	s->npages = conf->mem_bytes / page;
	s->cas_next = 1;
	s->arena = conf->arena;
	if (s->arena == NULL) {
		s->arena = malloc(s->npages * page);
		s->own_arena = true;
	}
	s->buckets = calloc((size_t)1 << hp, sizeof(*s->buckets));
	s->page_cls = malloc(s->npages);
	if (s->page_cls != NULL)
		memset(s->page_cls, KVS_PAGE_NONE, s->npages);
	s->bucket_mask = ((uint64_t)1 << hp) - 1;
	s->stripes = aligned_alloc(64, sizeof(*s->stripes) << lp);
	s->stripe_mask = (1u << lp) - 1;
	if (s->arena == NULL || s->buckets == NULL || s->stripes == NULL || s->page_cls == NULL) {
		free(s->stripes);
		s->stripes = NULL;
		kvs_store_destroy(s);
		return NULL;
	}
	for (uint32_t i = 0; i <= s->stripe_mask; i++)
		pthread_mutex_init(&s->stripes[i].m, NULL);

	size_t sz = item_total(1, 0, 0);
	sz = (sz + 7) & ~(size_t)7;
	while (s->ncls < KVS_MAX_CLASSES - 1 && sz <= page / 2) {
		s->cls[s->ncls++].size = (uint32_t)sz;
		size_t next = sz * KVS_GROWTH_NUM / KVS_GROWTH_DEN;
		sz = (next + 7) & ~(size_t)7;
	}
	s->cls[s->ncls++].size = (uint32_t)page;
	for (unsigned i = 0; i < s->ncls; i++) {
		pthread_mutex_init(&s->cls[i].lock, NULL);
		s->cls[i].perpage = (uint32_t)(page / s->cls[i].size);
	}
	return s;
}

void kvs_store_destroy(struct kvs_store *s)
{
	if (s == NULL)
		return;
	if (s->stripes != NULL) {
		for (uint32_t i = 0; i <= s->stripe_mask; i++)
			pthread_mutex_destroy(&s->stripes[i].m);
		for (unsigned i = 0; i < s->ncls; i++)
			pthread_mutex_destroy(&s->cls[i].lock);
	}
	free(s->stripes);
	free(s->buckets);
	free(s->page_cls);
	if (s->own_arena)
		free(s->arena);
	free(s);
}

size_t kvs_store_max_value(const struct kvs_store *s, size_t nkey)
{
	size_t fixed = item_total(nkey, UINT32_MAX, 9999999) - 9999999;

	return s->page_size > fixed ? s->page_size - fixed : 0;
}

struct kvs_item *kvs_store_get(struct kvs_store *s, const char *key, size_t nkey,
			       const int64_t *touch_exp, enum kvs_miss *why)
{
	uint64_t now = store_now(s);
	uint32_t hv = hash_key(key, nkey);
	pthread_mutex_t *lk = stripe_of(s, hv);
	struct kvs_item *it;

	lock(lk);
	it = *find_live(s, hv, key, nkey, now, why);
	if (it != NULL) {
		if (touch_exp != NULL)
			it->exp_us = exp_abs(s, *touch_exp, now);
		__atomic_add_fetch(&it->refs, 1, __ATOMIC_ACQ_REL);
		if (now - it->atime_us >= s->conf.lru_bump_us) {
			struct kvs_class *c = &s->cls[it->cls];
			lock(&c->lock);
			lru_remove(c, it);
			lru_push(c, it);
			unlock(&c->lock);
			it->atime_us = now;
		}
	}
	unlock(lk);
	return it;
}

void kvs_store_ref(struct kvs_item *it)
{
	uint64_t old = __atomic_fetch_add(&it->refs, 1, __ATOMIC_ACQ_REL);

	assert((old & KVS_REF_INFLIGHT) != 0);
	(void)old;
}

void kvs_store_release(struct kvs_store *s, struct kvs_item *it)
{
	uint64_t left = __atomic_sub_fetch(&it->refs, 1, __ATOMIC_ACQ_REL);

	assert((left & KVS_REF_INFLIGHT) != KVS_REF_INFLIGHT); /* no underflow */
	if (left == 0) {
		struct kvs_class *c = &s->cls[it->cls];
		lock(&c->lock);
		assert(c->pending > 0);
		c->pending--;
		chunk_free(c, it);
		unlock(&c->lock);
	}
}

struct kvs_item *kvs_store_alloc(struct kvs_store *s, const char *key, size_t nkey, uint32_t flags,
				 int64_t exptime, uint32_t nbytes, enum kvs_res *err)
{
	uint64_t now = store_now(s);

	return item_alloc(s, key, nkey, hash_key(key, nkey), flags, exp_abs(s, exptime, now),
			  nbytes, now, err);
}

void kvs_store_discard(struct kvs_store *s, struct kvs_item *it)
{
	struct kvs_class *c = &s->cls[it->cls];

	assert(it->linked == KVS_UNLINKED && it->refs == KVS_REF_LINK);
	lock(&c->lock);
	drop_link(c, it);
	unlock(&c->lock);
}

/* Build the item holding old's value with add's value around it. */
static struct kvs_item *concat(struct kvs_store *s, struct kvs_item *old, struct kvs_item *add,
			       bool append, uint64_t now, enum kvs_res *err)
{
	uint64_t total = (uint64_t)old->nbytes + add->nbytes;

	if (total > UINT32_MAX / 2) {
		*err = KVS_TOO_LARGE;
		return NULL;
	}
	struct kvs_item *it = item_alloc(s, kvs_item_key(old), old->nkey, old->hv, old->flags,
					 old->exp_us, (uint32_t)total, now, err);
	if (it == NULL)
		return NULL;
	char *v = kvs_item_value(it);
	struct kvs_item *first = append ? old : add, *second = append ? add : old;
	memcpy(v, kvs_item_value(first), first->nbytes);
	memcpy(v + first->nbytes, kvs_item_value(second), second->nbytes);
	return it;
}

enum kvs_res kvs_store_store(struct kvs_store *s, struct kvs_item *it, enum kvs_op op, uint64_t cas,
			     uint64_t *cas_out)
{
	uint64_t now = store_now(s);
	pthread_mutex_t *lk = stripe_of(s, it->hv);
	enum kvs_res res = KVS_OK;
	enum kvs_miss why;
	struct kvs_item **pp, *old;

	assert(it->linked == KVS_UNLINKED && it->refs == KVS_REF_LINK);
	lock(lk);
	pp = find_live(s, it->hv, kvs_item_key(it), it->nkey, now, &why);
	old = *pp;
	switch (op) {
	case KVS_SET:
		if (cas != 0)
			res = old == NULL ? KVS_NOT_FOUND : old->cas != cas ? KVS_EXISTS : KVS_OK;
		break;
	case KVS_ADD:
		res = old != NULL ? KVS_NOT_STORED : KVS_OK;
		break;
	case KVS_REPLACE:
	case KVS_APPEND:
	case KVS_PREPEND:
		if (old == NULL)
			res = KVS_NOT_STORED;
		else if (cas != 0 && old->cas != cas)
			res = KVS_EXISTS;
		break;
	case KVS_CAS:
		res = old == NULL ? KVS_NOT_FOUND : old->cas != cas ? KVS_EXISTS : KVS_OK;
		break;
	}
	if (res == KVS_OK && (op == KVS_APPEND || op == KVS_PREPEND)) {
		struct kvs_item *joined = concat(s, old, it, op == KVS_APPEND, now, &res);
		/* concat may have evicted: find old again (it stays: we hold its lock) */
		kvs_store_discard(s, it);
		it = joined;
		pp = find_slot(s, old->hv, kvs_item_key(old), old->nkey);
		assert(*pp == old);
	}
	if (res == KVS_OK) {
		it->cas = __atomic_fetch_add(&s->cas_next, 1, __ATOMIC_ACQ_REL);
		if (old != NULL)
			unlink_item(s, pp);
		link_item(s, it, now);
		if (cas_out != NULL)
			*cas_out = it->cas;
	}
	unlock(lk);
	if (res != KVS_OK && it != NULL)
		kvs_store_discard(s, it);
	return res;
}

enum kvs_res kvs_store_delete(struct kvs_store *s, const char *key, size_t nkey, uint64_t cas)
{
	uint64_t now = store_now(s);
	uint32_t hv = hash_key(key, nkey);
	pthread_mutex_t *lk = stripe_of(s, hv);
	enum kvs_res res = KVS_OK;
	enum kvs_miss why;

	lock(lk);
	struct kvs_item **pp = find_live(s, hv, key, nkey, now, &why);
	if (*pp == NULL)
		res = KVS_NOT_FOUND;
	else if (cas != 0 && (*pp)->cas != cas)
		res = KVS_EXISTS;
	else
		unlink_item(s, pp);
	unlock(lk);
	return res;
}

enum kvs_res kvs_store_touch(struct kvs_store *s, const char *key, size_t nkey, int64_t exptime,
			     uint64_t *cas_out)
{
	uint64_t now = store_now(s);
	uint32_t hv = hash_key(key, nkey);
	pthread_mutex_t *lk = stripe_of(s, hv);
	enum kvs_res res = KVS_NOT_FOUND;
	enum kvs_miss why;

	lock(lk);
	struct kvs_item *it = *find_live(s, hv, key, nkey, now, &why);
	if (it != NULL) {
		it->exp_us = exp_abs(s, exptime, now);
		if (cas_out != NULL)
			*cas_out = it->cas;
		res = KVS_OK;
	}
	unlock(lk);
	return res;
}

/* A counter value: digits, then optional spaces (memcached pads in place). */
static bool parse_counter(const struct kvs_item *it, uint64_t *v)
{
	const char *p = it->data + it->nhdr;
	size_t n = it->nbytes;

	while (n > 0 && p[n - 1] == ' ')
		n--;
	return kvs_parse_u64(p, n, v);
}

static struct kvs_item *number_item(struct kvs_store *s, const char *key, size_t nkey, uint32_t hv,
				    uint32_t flags, uint64_t exp_us, uint64_t v, uint64_t now,
				    enum kvs_res *err)
{
	char buf[24];
	int n = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	struct kvs_item *it = item_alloc(s, key, nkey, hv, flags, exp_us, (uint32_t)n, now, err);

	if (it != NULL)
		memcpy(kvs_item_value(it), buf, (size_t)n);
	return it;
}

enum kvs_res kvs_store_arith(struct kvs_store *s, const char *key, size_t nkey, bool incr,
			     uint64_t delta, const struct kvs_arith_init *init, uint64_t cas,
			     uint64_t *value, uint64_t *cas_out)
{
	uint64_t now = store_now(s);
	uint32_t hv = hash_key(key, nkey);
	pthread_mutex_t *lk = stripe_of(s, hv);
	enum kvs_res res = KVS_OK;
	struct kvs_item *it = NULL;
	enum kvs_miss why;
	uint64_t v = 0;

	lock(lk);
	struct kvs_item **pp = find_live(s, hv, key, nkey, now, &why);
	struct kvs_item *old = *pp;
	if (old == NULL) {
		if (init == NULL) {
			res = KVS_NOT_FOUND;
		} else {
			v = init->initial;
			it = number_item(s, key, nkey, hv, 0, exp_abs(s, init->exptime, now), v,
					 now, &res);
		}
	} else if (cas != 0 && old->cas != cas) {
		res = KVS_EXISTS;
	} else if (!parse_counter(old, &v)) {
		res = KVS_NON_NUMERIC;
	} else {
		if (incr)
			v += delta; /* wraps at 2^64 like memcached */
		else
			v = delta > v ? 0 : v - delta;
		it = number_item(s, key, nkey, hv, old->flags, old->exp_us, v, now, &res);
		if (it != NULL) {
			pp = find_slot(s, hv, key, nkey); /* eviction cannot take old: locked */
			assert(*pp == old);
		}
	}
	if (it != NULL) {
		it->cas = __atomic_fetch_add(&s->cas_next, 1, __ATOMIC_ACQ_REL);
		if (old != NULL)
			unlink_item(s, pp);
		link_item(s, it, now);
		*value = v;
		if (cas_out != NULL)
			*cas_out = it->cas;
	}
	unlock(lk);
	return res;
}

void kvs_store_flush(struct kvs_store *s, int64_t delay_s)
{
	uint64_t now = store_now(s);

	if (delay_s <= 0) {
		__atomic_store_n(&s->flush_at_us, 0, __ATOMIC_RELEASE);
		uint64_t last = __atomic_load_n(&s->cas_next, __ATOMIC_ACQUIRE) - 1;
		__atomic_store_n(&s->flush_cas, last, __ATOMIC_RELEASE);
	} else {
		__atomic_store_n(&s->flush_at_us, now + (uint64_t)delay_s * KVS_US,
				 __ATOMIC_RELEASE);
	}
}

void kvs_store_stats(struct kvs_store *s, struct kvs_store_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (unsigned i = 0; i < s->ncls; i++) {
		struct kvs_class *c = &s->cls[i];
		lock(&c->lock);
		st->curr_items += c->items;
		st->total_items += c->total_items;
		st->bytes += c->bytes;
		st->value_bytes += c->value_bytes;
		st->pending += c->pending;
		st->evictions += c->evictions;
		st->reclaimed += c->reclaimed;
		st->evict_skips += c->evict_skips;
		st->alloc_fails += c->alloc_fails;
		st->page_moves += c->page_moves;
		st->chunks += c->chunks;
		st->free_chunks += c->nfree;
		st->pages += c->pages;
		unlock(&c->lock);
	}
	st->total_pages = s->npages;
	st->limit_bytes = s->npages * s->page_size;
	st->hash_buckets = s->bucket_mask + 1;
	st->nclasses = s->ncls;
}

bool kvs_store_class_stats(struct kvs_store *s, unsigned i, uint32_t *chunk_size, uint64_t *chunks,
			   uint64_t *free_chunks, uint64_t *items)
{
	if (i >= s->ncls)
		return false;
	struct kvs_class *c = &s->cls[i];
	lock(&c->lock);
	*chunk_size = c->size;
	*chunks = c->chunks;
	*free_chunks = c->nfree;
	*items = c->items;
	unlock(&c->lock);
	return true;
}
