/*
 * kvs_store.h - the item store of dlibos-kvs: a memcached-style cache of
 * key/value items kept in one memory arena (in the server, application TX
 * memory, so responses reference item values without copying).
 *
 * Memory: the arena is cut into pages (1 MiB by default) that are handed to
 * slab classes on demand; a class carves its pages into chunks of one size
 * (sizes grow by 1.25x) and keeps a free list and an LRU list. When a class
 * has no free chunk and no page is left, the least recently used items of
 * that class are evicted (expired ones counted as reclaimed); a class with
 * nothing of its own to evict takes a page from the class holding the most
 * (evicting what the page holds), so memory follows the value sizes.
 *
 * An item's memory holds the text protocol's "VALUE <key> <flags> <bytes>\r\n"
 * line, then the value, then "\r\n": a text GET response is one reference to
 * the item, a binary one references the value alone.
 *
 * Two reference counts (paper §5.4), kept in one 64-bit word so that exactly
 * one thread sees both reach zero:
 *  - the link count (high half) is 1 while the item is in the hash table
 *    (or owned by the connection filling it before it is stored);
 *  - the in-flight count (low half) counts responses that reference the item
 *    and are not yet acknowledged (taken by kvs_store_get, dropped by
 *    kvs_store_release when the acknowledgement comes).
 * An item replaced, deleted, flushed or evicted is unlinked at once, and its
 * chunk returns to the free list when the last in-flight reference goes.
 * Linked items never change their value bytes (incr, append, ... build a new
 * item), so memory referenced by an unacknowledged send never changes.
 *
 * Concurrency: every function is thread-safe. The hash table is shared, with
 * striped mutexes (a bucket maps to one stripe); each slab class has a mutex
 * for its free list, LRU and counters. Lock order: stripe, then class; the
 * evictor, which holds a class lock, only try-locks stripes.
 *
 * Time is injected (conf.now_us) so expiry is testable; expiry times follow
 * memcached: 0 never, negative already expired, up to 30 days relative
 * seconds, larger values absolute Unix times.
 */
#ifndef KVS_STORE_H
#define KVS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Longest key (memcached's limit). */
#define KVS_KEY_MAX 250

/** Bytes in front of the key in an item's data: "VALUE ". */
#define KVS_ITEM_KEY_OFF 6

/** Link reference: the high half of kvs_item.refs. */
#define KVS_REF_LINK	 ((uint64_t)1 << 32)
#define KVS_REF_INFLIGHT 0xffffffffull

/** An item. Only the fields marked (imm) may be read without a lock, and
 *  only while holding a reference. */
struct kvs_item {
	struct kvs_item *hnext;	      /* hash chain / free list */
	struct kvs_item *prev, *next; /* LRU (class lock) */
	uint64_t refs;		      /* atomic: link << 32 | in-flight */
	uint64_t cas;		      /* (imm) unique per stored version */
	uint64_t exp_us;	      /* 0 never; else store time it expires */
	uint64_t atime_us;	      /* last LRU bump */
	uint32_t flags;		      /* (imm) client flags */
	uint32_t nbytes;	      /* (imm) value length without "\r\n" */
	uint32_t hv;		      /* (imm) hash of the key */
	uint16_t nhdr;		      /* (imm) length of the VALUE line */
	uint8_t nkey;		      /* (imm) */
	uint8_t cls;		      /* (imm) slab class */
	uint8_t linked;		      /* chunk state (atomic; set under locks) */
	uint8_t pad_[7];
	char data[]; /* "VALUE key flags nbytes\r\n" value "\r\n" */
};

static inline const char *kvs_item_key(const struct kvs_item *it)
{
	return it->data + KVS_ITEM_KEY_OFF;
}

static inline char *kvs_item_value(struct kvs_item *it)
{
	return it->data + it->nhdr;
}

/** Results of store operations. */
enum kvs_res {
	KVS_OK = 0,	 /* stored / deleted / touched / done */
	KVS_NOT_STORED,	 /* add on a present key, replace/append on a missing one */
	KVS_EXISTS,	 /* cas mismatch */
	KVS_NOT_FOUND,	 /* no such key (cas, delete, incr, touch) */
	KVS_NON_NUMERIC, /* incr/decr on a value that is not a number */
	KVS_TOO_LARGE,	 /* the item would not fit the largest chunk */
	KVS_NOMEM,	 /* no chunk could be freed */
};

/** Storage commands. */
enum kvs_op { KVS_SET, KVS_ADD, KVS_REPLACE, KVS_APPEND, KVS_PREPEND, KVS_CAS };

/** Why a lookup missed. */
enum kvs_miss { KVS_MISS_NONE = 0, KVS_MISS_ABSENT, KVS_MISS_EXPIRED, KVS_MISS_FLUSHED };

struct kvs_store_conf {
	size_t mem_bytes;	       /**< arena size (item memory limit) */
	void *arena;		       /**< mem_bytes of memory to use, or NULL: malloc'd */
	size_t page_size;	       /**< 0: 1 MiB; also the largest item */
	unsigned hash_power;	       /**< log2 of buckets; 0: from mem_bytes */
	unsigned lock_power;	       /**< log2 of lock stripes; 0: 12 */
	uint64_t (*now_us)(void *arg); /**< monotonic clock, microseconds (> 0) */
	void *clock_arg;
	int64_t unix_at_zero; /**< Unix time (s) when now_us() was 0 */
	uint64_t lru_bump_us; /**< bump an item in the LRU at most this often */
};

/** Counters and gauges (sums over classes). */
struct kvs_store_stats {
	uint64_t curr_items;  /* linked items */
	uint64_t total_items; /* items ever stored */
	uint64_t bytes;	      /* chunk bytes of linked items */
	uint64_t value_bytes; /* key + value bytes of linked items */
	uint64_t pending;     /* unlinked items waiting for acknowledgements */
	uint64_t evictions;   /* live items evicted to make room */
	uint64_t reclaimed;   /* expired or flushed items reclaimed by the allocator */
	uint64_t evict_skips; /* in-flight items skipped by the evictor */
	uint64_t alloc_fails; /* allocations that found nothing to evict */
	uint64_t page_moves;  /* pages moved from one class to another */
	uint64_t chunks;      /* chunks carved so far */
	uint64_t free_chunks; /* of which free */
	uint64_t pages;	      /* pages handed to classes */
	uint64_t total_pages; /* pages in the arena */
	uint64_t limit_bytes; /* arena size */
	uint64_t hash_buckets;
	unsigned nclasses;
};

struct kvs_store;

/** Create a store; NULL on bad parameters or no memory. */
struct kvs_store *kvs_store_create(const struct kvs_store_conf *conf);

/** Destroy a store (no item may still be referenced). */
void kvs_store_destroy(struct kvs_store *s);

/** The largest value an item with a key of nkey bytes can hold. */
size_t kvs_store_max_value(const struct kvs_store *s, size_t nkey);

/**
 * Look a key up. On a hit the item is returned with an in-flight reference
 * taken (drop it with kvs_store_release). touch_exp, when not NULL, sets a
 * new expiry on a hit (get-and-touch). On a miss, *why says why.
 */
struct kvs_item *kvs_store_get(struct kvs_store *s, const char *key, size_t nkey,
			       const int64_t *touch_exp, enum kvs_miss *why);

/** Take one more in-flight reference on an item already referenced. */
void kvs_store_ref(struct kvs_item *it);

/** Drop an in-flight reference; frees the item if it was the last one. */
void kvs_store_release(struct kvs_store *s, struct kvs_item *it);

/**
 * Allocate an unlinked item for key with room for an nbytes value (the value
 * and its trailing "\r\n" are written by the caller at kvs_item_value()).
 * The caller owns it until kvs_store_store() or kvs_store_discard().
 * @return the item or NULL with *err = KVS_TOO_LARGE or KVS_NOMEM.
 */
struct kvs_item *kvs_store_alloc(struct kvs_store *s, const char *key, size_t nkey, uint32_t flags,
				 int64_t exptime, uint32_t nbytes, enum kvs_res *err);

/** Free an item from kvs_store_alloc that will not be stored. */
void kvs_store_discard(struct kvs_store *s, struct kvs_item *it);

/**
 * Store an item from kvs_store_alloc (consumed in every case). cas: for
 * KVS_CAS the expected version; for the others, when non-zero, the version
 * the current item must have (binary protocol). *cas_out (may be NULL): the
 * new version on success.
 * @return KVS_OK, KVS_NOT_STORED, KVS_EXISTS, KVS_NOT_FOUND, or for
 *         append/prepend KVS_TOO_LARGE / KVS_NOMEM.
 */
enum kvs_res kvs_store_store(struct kvs_store *s, struct kvs_item *it, enum kvs_op op, uint64_t cas,
			     uint64_t *cas_out);

/** Delete a key (cas non-zero: only that version). KVS_OK, KVS_NOT_FOUND, KVS_EXISTS. */
enum kvs_res kvs_store_delete(struct kvs_store *s, const char *key, size_t nkey, uint64_t cas);

/** Set a new expiry. KVS_OK or KVS_NOT_FOUND; *cas_out (may be NULL) the version. */
enum kvs_res kvs_store_touch(struct kvs_store *s, const char *key, size_t nkey, int64_t exptime,
			     uint64_t *cas_out);

/** Creation parameters of incr/decr on a missing key (binary protocol). */
struct kvs_arith_init {
	uint64_t initial;
	int64_t exptime;
};

/**
 * incr (incr true) or decr by delta: incr wraps at 2^64, decr stops at 0.
 * init: create the key with init->initial when missing (NULL: KVS_NOT_FOUND).
 * cas: non-zero to require that version. *value and *cas_out get the result.
 * @return KVS_OK, KVS_NOT_FOUND, KVS_NON_NUMERIC, KVS_EXISTS, KVS_NOMEM.
 */
enum kvs_res kvs_store_arith(struct kvs_store *s, const char *key, size_t nkey, bool incr,
			     uint64_t delta, const struct kvs_arith_init *init, uint64_t cas,
			     uint64_t *value, uint64_t *cas_out);

/** Invalidate every item now (delay_s <= 0) or at now + delay_s seconds. */
void kvs_store_flush(struct kvs_store *s, int64_t delay_s);

/** Counters and gauges. */
void kvs_store_stats(struct kvs_store *s, struct kvs_store_stats *st);

/** Chunk size and counters of class i (for "stats slabs"); false past the last. */
bool kvs_store_class_stats(struct kvs_store *s, unsigned i, uint32_t *chunk_size, uint64_t *chunks,
			   uint64_t *free_chunks, uint64_t *items);

/** Parse a decimal uint64 in [p, p+len) with nothing else; false if not one. */
bool kvs_parse_u64(const char *p, size_t len, uint64_t *out);

#endif
