/*
 * test_kvs_store.c - the item store with an injected clock: storage
 * semantics, cas, append/prepend, incr/decr overflow and errors, expiry
 * (relative, absolute, negative), flush (now and delayed), LRU eviction
 * under a small memory limit, and the two reference counts (an item in
 * flight survives delete, replacement and eviction pressure and is freed by
 * its last release).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "kvs_store.h"

#define SEC 1000000ull

static uint64_t fake_now = 1000 * SEC;

static uint64_t fake_clock(void *arg)
{
	(void)arg;
	return fake_now;
}

static struct kvs_store *mk(size_t mem, size_t page)
{
	struct kvs_store_conf c = {
	    .mem_bytes = mem,
	    .page_size = page,
	    .now_us = fake_clock,
	    .unix_at_zero = 1700000000 - 1000, /* Unix 1700000000 at fake_now's start */
	    .lru_bump_us = 0,
	};
	fake_now = 1000 * SEC;
	struct kvs_store *s = kvs_store_create(&c);
	assert_non_null(s);
	return s;
}

static enum kvs_res put(struct kvs_store *s, enum kvs_op op, const char *key, const char *val,
			int64_t exp, uint64_t cas, uint64_t *cas_out)
{
	enum kvs_res err;
	struct kvs_item *it =
	    kvs_store_alloc(s, key, strlen(key), 7, exp, (uint32_t)strlen(val), &err);
	if (it == NULL)
		return err;
	memcpy(kvs_item_value(it), val, strlen(val));
	return kvs_store_store(s, it, op, cas, cas_out);
}

/* The value of key ("" and false if missing); the reference is dropped. */
static bool value_of(struct kvs_store *s, const char *key, char *out, size_t len)
{
	enum kvs_miss why;
	struct kvs_item *it = kvs_store_get(s, key, strlen(key), NULL, &why);

	out[0] = '\0';
	if (it == NULL)
		return false;
	assert_true(it->nbytes < len);
	memcpy(out, kvs_item_value(it), it->nbytes);
	out[it->nbytes] = '\0';
	kvs_store_release(s, it);
	return true;
}

static void assert_value(struct kvs_store *s, const char *key, const char *want)
{
	char got[4096];

	assert_true(value_of(s, key, got, sizeof(got)));
	assert_string_equal(got, want);
}

static void assert_missing(struct kvs_store *s, const char *key)
{
	char got[256];

	assert_false(value_of(s, key, got, sizeof(got)));
}

/* No item referenced, none waiting, every chunk accounted for. */
static void assert_no_leak(struct kvs_store *s)
{
	struct kvs_store_stats st;

	kvs_store_stats(s, &st);
	assert_int_equal(st.pending, 0);
	assert_int_equal(st.chunks - st.free_chunks, st.curr_items);
}

static void test_item_layout(void **state)
{
	struct kvs_store *s = mk(1 << 20, 1 << 16);
	enum kvs_miss why;
	(void)state;

	assert_int_equal(put(s, KVS_SET, "key", "hello", 0, 0, NULL), KVS_OK);
	struct kvs_item *it = kvs_store_get(s, "key", 3, NULL, &why);
	assert_non_null(it);
	/* a text GET response is one contiguous piece of the item */
	const char *want = "VALUE key 7 5\r\nhello\r\n";
	assert_int_equal(it->nhdr + it->nbytes + 2, strlen(want));
	assert_memory_equal(it->data, want, strlen(want));
	assert_memory_equal(kvs_item_key(it), "key", 3);
	kvs_store_release(s, it);
	assert_no_leak(s);
	kvs_store_destroy(s);
}

/* A key is bytes: NUL and control bytes included (binary protocol keys);
 * the text GET header carries them as they are (found by fuzz_memcached:
 * a NUL in the key cut the header short and failed an assertion). */
static void test_item_key_with_nul(void **state)
{
	struct kvs_store *s = mk(1 << 20, 1 << 16);
	static const char key[] = {'a', '\0', 'b', '\r', 0x7f};
	static const char want[] = "VALUE a\0b\r\x7f 7 2\r\nhi\r\n";
	enum kvs_miss why;
	enum kvs_res err;
	(void)state;

	struct kvs_item *it = kvs_store_alloc(s, key, sizeof(key), 7, 0, 2, &err);
	assert_non_null(it);
	memcpy(kvs_item_value(it), "hi", 2);
	assert_int_equal(kvs_store_store(s, it, KVS_SET, 0, NULL), KVS_OK);
	it = kvs_store_get(s, key, sizeof(key), NULL, &why);
	assert_non_null(it);
	assert_int_equal(it->nhdr + it->nbytes + 2, sizeof(want) - 1);
	assert_memory_equal(it->data, want, sizeof(want) - 1);
	assert_memory_equal(kvs_item_key(it), key, sizeof(key));
	kvs_store_release(s, it);
	assert_no_leak(s);
	kvs_store_destroy(s);
}

static void test_storage_semantics(void **state)
{
	struct kvs_store *s = mk(1 << 20, 1 << 16);
	uint64_t c1, c2, c3;
	(void)state;

	assert_int_equal(put(s, KVS_ADD, "a", "1", 0, 0, &c1), KVS_OK);
	assert_int_equal(put(s, KVS_ADD, "a", "2", 0, 0, NULL), KVS_NOT_STORED);
	assert_value(s, "a", "1");
	assert_int_equal(put(s, KVS_REPLACE, "b", "x", 0, 0, NULL), KVS_NOT_STORED);
	assert_missing(s, "b");
	assert_int_equal(put(s, KVS_REPLACE, "a", "3", 0, 0, &c2), KVS_OK);
	assert_true(c2 > c1); /* every stored version gets a new cas */
	assert_value(s, "a", "3");
	assert_int_equal(put(s, KVS_SET, "a", "4", 0, 0, &c3), KVS_OK);
	assert_true(c3 > c2);

	/* cas */
	assert_int_equal(put(s, KVS_CAS, "a", "5", 0, c2, NULL), KVS_EXISTS);
	assert_int_equal(put(s, KVS_CAS, "a", "5", 0, c3, &c1), KVS_OK);
	assert_int_equal(put(s, KVS_CAS, "a", "6", 0, c3, NULL), KVS_EXISTS);
	assert_int_equal(put(s, KVS_CAS, "nope", "6", 0, 1, NULL), KVS_NOT_FOUND);
	assert_value(s, "a", "5");
	/* binary protocol: set/replace with a cas */
	assert_int_equal(put(s, KVS_SET, "a", "7", 0, c1 + 100, NULL), KVS_EXISTS);
	assert_int_equal(put(s, KVS_SET, "zz", "7", 0, 5, NULL), KVS_NOT_FOUND);
	assert_int_equal(put(s, KVS_SET, "a", "7", 0, c1, NULL), KVS_OK);

	/* append / prepend */
	assert_int_equal(put(s, KVS_SET, "h", "hello", 0, 0, NULL), KVS_OK);
	assert_int_equal(put(s, KVS_APPEND, "h", " world", 0, 0, NULL), KVS_OK);
	assert_int_equal(put(s, KVS_PREPEND, "h", ">> ", 0, 0, NULL), KVS_OK);
	assert_value(s, "h", ">> hello world");
	assert_int_equal(put(s, KVS_APPEND, "none", "x", 0, 0, NULL), KVS_NOT_STORED);

	/* delete */
	assert_int_equal(kvs_store_delete(s, "h", 1, 0), KVS_OK);
	assert_int_equal(kvs_store_delete(s, "h", 1, 0), KVS_NOT_FOUND);
	assert_int_equal(put(s, KVS_SET, "d", "v", 0, 0, &c1), KVS_OK);
	assert_int_equal(kvs_store_delete(s, "d", 1, c1 + 1), KVS_EXISTS);
	assert_int_equal(kvs_store_delete(s, "d", 1, c1), KVS_OK);

	/* empty values and the longest key */
	char key[KVS_KEY_MAX + 1];
	memset(key, 'k', KVS_KEY_MAX);
	key[KVS_KEY_MAX] = '\0';
	assert_int_equal(put(s, KVS_SET, key, "", 0, 0, NULL), KVS_OK);
	assert_value(s, key, "");
	assert_no_leak(s);
	kvs_store_destroy(s);
}

static void test_arith(void **state)
{
	struct kvs_store *s = mk(1 << 20, 1 << 16);
	uint64_t v, cas;
	struct kvs_arith_init init = {.initial = 9, .exptime = 0};
	(void)state;

	assert_int_equal(kvs_store_arith(s, "n", 1, true, 1, NULL, 0, &v, NULL), KVS_NOT_FOUND);
	assert_int_equal(kvs_store_arith(s, "n", 1, false, 1, &init, 0, &v, &cas), KVS_OK);
	assert_int_equal(v, 9); /* created with the initial value, no delta applied */
	assert_int_equal(kvs_store_arith(s, "n", 1, false, 4, &init, 0, &v, NULL), KVS_OK);
	assert_int_equal(v, 5);
	assert_int_equal(kvs_store_arith(s, "n", 1, false, 100, NULL, 0, &v, NULL), KVS_OK);
	assert_int_equal(v, 0); /* decr stops at 0 */
	assert_value(s, "n", "0");

	/* incr wraps at 2^64 */
	assert_int_equal(put(s, KVS_SET, "big", "18446744073709551615", 0, 0, NULL), KVS_OK);
	assert_int_equal(kvs_store_arith(s, "big", 3, true, 2, NULL, 0, &v, NULL), KVS_OK);
	assert_int_equal(v, 1);
	assert_value(s, "big", "1");
	/* length changes are fine: 99 -> 100 -> 99 */
	assert_int_equal(put(s, KVS_SET, "c", "99", 0, 0, NULL), KVS_OK);
	assert_int_equal(kvs_store_arith(s, "c", 1, true, 1, NULL, 0, &v, NULL), KVS_OK);
	assert_value(s, "c", "100");
	assert_int_equal(kvs_store_arith(s, "c", 1, false, 1, NULL, 0, &v, NULL), KVS_OK);
	assert_value(s, "c", "99");
	/* memcached pads in place with spaces: accepted */
	assert_int_equal(put(s, KVS_SET, "p", "9 ", 0, 0, NULL), KVS_OK);
	assert_int_equal(kvs_store_arith(s, "p", 1, true, 1, NULL, 0, &v, NULL), KVS_OK);
	assert_int_equal(v, 10);

	/* non-numeric values */
	const char *bad[] = {"abc", "", "12a", "-1", "184467440737095516150", " 1"};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(put(s, KVS_SET, "x", bad[i], 0, 0, NULL), KVS_OK);
		assert_int_equal(kvs_store_arith(s, "x", 1, true, 1, NULL, 0, &v, NULL),
				 KVS_NON_NUMERIC);
		assert_value(s, "x", bad[i]);
	}
	/* cas on incr (binary) */
	assert_int_equal(put(s, KVS_SET, "q", "1", 0, 0, &cas), KVS_OK);
	assert_int_equal(kvs_store_arith(s, "q", 1, true, 1, NULL, cas + 1, &v, NULL), KVS_EXISTS);
	assert_int_equal(kvs_store_arith(s, "q", 1, true, 1, NULL, cas, &v, NULL), KVS_OK);
	assert_int_equal(v, 2);
	assert_no_leak(s);
	kvs_store_destroy(s);
}

static void test_expiry(void **state)
{
	struct kvs_store *s = mk(1 << 20, 1 << 16);
	enum kvs_miss why;
	uint64_t v;
	(void)state;

	assert_int_equal(put(s, KVS_SET, "rel", "v", 10, 0, NULL), KVS_OK);
	assert_int_equal(put(s, KVS_SET, "abs", "v", 1700000000 + 20, 0, NULL), KVS_OK);
	assert_int_equal(put(s, KVS_SET, "past", "v", 1700000000 - 5, 0, NULL), KVS_OK);
	assert_int_equal(put(s, KVS_SET, "neg", "v", -1, 0, NULL), KVS_OK);
	assert_int_equal(put(s, KVS_SET, "never", "v", 0, 0, NULL), KVS_OK);
	assert_missing(s, "past");
	assert_missing(s, "neg");
	fake_now += 9 * SEC;
	assert_value(s, "rel", "v");
	assert_value(s, "abs", "v");
	fake_now += 1 * SEC; /* t = 10 s */
	assert_null(kvs_store_get(s, "rel", 3, NULL, &why));
	assert_int_equal(why, KVS_MISS_EXPIRED);
	assert_value(s, "abs", "v");
	/* touch extends, gat too */
	assert_int_equal(kvs_store_touch(s, "abs", 3, 100, NULL), KVS_OK);
	assert_int_equal(kvs_store_touch(s, "rel", 3, 100, NULL), KVS_NOT_FOUND);
	fake_now += 50 * SEC;
	assert_value(s, "abs", "v");
	int64_t e = 5;
	struct kvs_item *it = kvs_store_get(s, "abs", 3, &e, &why);
	assert_non_null(it);
	kvs_store_release(s, it);
	fake_now += 5 * SEC;
	assert_missing(s, "abs");
	/* append and incr keep the expiry */
	assert_int_equal(put(s, KVS_SET, "k", "1", 3, 0, NULL), KVS_OK);
	assert_int_equal(put(s, KVS_APPEND, "k", "0", 0, 0, NULL), KVS_OK);
	assert_int_equal(kvs_store_arith(s, "k", 1, true, 1, NULL, 0, &v, NULL), KVS_OK);
	assert_int_equal(v, 11);
	fake_now += 3 * SEC;
	assert_missing(s, "k");
	/* add succeeds on an expired key */
	assert_int_equal(put(s, KVS_ADD, "k", "new", 0, 0, NULL), KVS_OK);
	assert_value(s, "never", "v");
	assert_no_leak(s);
	kvs_store_destroy(s);
}

static void test_flush(void **state)
{
	struct kvs_store *s = mk(1 << 20, 1 << 16);
	enum kvs_miss why;
	(void)state;

	assert_int_equal(put(s, KVS_SET, "a", "1", 0, 0, NULL), KVS_OK);
	assert_int_equal(put(s, KVS_SET, "b", "2", 0, 0, NULL), KVS_OK);
	kvs_store_flush(s, 0);
	assert_null(kvs_store_get(s, "a", 1, NULL, &why));
	assert_int_equal(why, KVS_MISS_FLUSHED);
	assert_int_equal(put(s, KVS_ADD, "b", "3", 0, 0, NULL), KVS_OK); /* flushed: add works */
	assert_value(s, "b", "3");

	/* delayed: items stored before the deadline die at the deadline */
	kvs_store_flush(s, 10);
	assert_int_equal(put(s, KVS_SET, "c", "4", 0, 0, NULL), KVS_OK);
	fake_now += 9 * SEC;
	assert_value(s, "b", "3");
	assert_value(s, "c", "4");
	fake_now += 1 * SEC;
	assert_missing(s, "b");
	assert_missing(s, "c");
	assert_int_equal(put(s, KVS_SET, "d", "5", 0, 0, NULL), KVS_OK);
	assert_value(s, "d", "5");
	assert_no_leak(s);
	kvs_store_destroy(s);
}

/* Keys k0..kN-1 with values of vlen bytes until one is evicted. */
static void test_lru_eviction(void **state)
{
	struct kvs_store *s = mk(64 * 1024, 16 * 1024); /* four pages */
	struct kvs_store_stats st;
	char key[32], val[200];
	unsigned n;
	(void)state;

	memset(val, 'v', sizeof(val) - 1);
	val[sizeof(val) - 1] = '\0';
	for (n = 0; n < 10000; n++) {
		snprintf(key, sizeof(key), "k%u", n);
		assert_int_equal(put(s, KVS_SET, key, val, 0, 0, NULL), KVS_OK);
		kvs_store_stats(s, &st);
		if (st.evictions > 0)
			break;
		/* keep k0 hot */
		assert_value(s, "k0", val);
	}
	assert_true(n > 10 && n < 10000); /* fits dozens, evicts eventually */
	assert_int_equal(st.evictions, 1);
	assert_value(s, "k0", val); /* recently used: kept */
	assert_missing(s, "k1");    /* least recently used: the victim */
	assert_value(s, "k2", val);
	/* many more: every allocation still succeeds, memory stays bounded */
	for (unsigned i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "more%u", i);
		assert_int_equal(put(s, KVS_SET, key, val, 0, 0, NULL), KVS_OK);
	}
	kvs_store_stats(s, &st);
	assert_true(st.pages <= st.total_pages);
	assert_true(st.bytes <= st.limit_bytes);
	assert_value(s, "more999", val);
	/* too large for any chunk */
	char big[20000];
	memset(big, 'b', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(put(s, KVS_SET, "big", big, 0, 0, NULL), KVS_TOO_LARGE);
	assert_no_leak(s);
	kvs_store_destroy(s);
}

/* Expired items are reclaimed before live ones are evicted. */
static void test_reclaim_expired_first(void **state)
{
	struct kvs_store *s = mk(32 * 1024, 16 * 1024);
	struct kvs_store_stats st;
	char key[32], val[500];
	(void)state;

	memset(val, 'v', sizeof(val) - 1);
	val[sizeof(val) - 1] = '\0';
	for (unsigned i = 0;; i++) {
		snprintf(key, sizeof(key), "e%u", i);
		assert_int_equal(put(s, KVS_SET, key, val, 5, 0, NULL), KVS_OK);
		kvs_store_stats(s, &st);
		if (st.free_chunks == 0 && st.pages == st.total_pages)
			break;
	}
	fake_now += 6 * SEC;
	assert_int_equal(put(s, KVS_SET, "live", val, 0, 0, NULL), KVS_OK);
	kvs_store_stats(s, &st);
	assert_int_equal(st.evictions, 0);
	assert_int_equal(st.reclaimed, 1);
	kvs_store_destroy(s);
}

/* The second reference count: in-flight items survive unlinking. */
static void test_inflight_refcount(void **state)
{
	struct kvs_store *s = mk(1 << 20, 1 << 16);
	struct kvs_store_stats st;
	enum kvs_miss why;
	(void)state;

	assert_int_equal(put(s, KVS_SET, "k", "first", 0, 0, NULL), KVS_OK);
	struct kvs_item *a = kvs_store_get(s, "k", 1, NULL, &why); /* response 1 */
	struct kvs_item *b = kvs_store_get(s, "k", 1, NULL, &why); /* response 2 */
	assert_ptr_equal(a, b);
	assert_true((a->refs & KVS_REF_INFLIGHT) == 2);

	/* replaced while in flight: the old bytes stay as they were */
	assert_int_equal(put(s, KVS_SET, "k", "second", 0, 0, NULL), KVS_OK);
	assert_memory_equal(kvs_item_value(a), "first\r\n", 7);
	assert_value(s, "k", "second");
	kvs_store_stats(s, &st);
	assert_int_equal(st.pending, 1);
	assert_int_equal(a->refs, 2); /* unlinked: only the in-flight count */

	kvs_store_release(s, a); /* first ack */
	kvs_store_stats(s, &st);
	assert_int_equal(st.pending, 1);
	uint64_t free_before = st.free_chunks;
	kvs_store_release(s, b); /* last ack: freed */
	kvs_store_stats(s, &st);
	assert_int_equal(st.pending, 0);
	assert_int_equal(st.free_chunks, free_before + 1);

	/* deleted while in flight */
	struct kvs_item *c = kvs_store_get(s, "k", 1, NULL, &why);
	assert_int_equal(kvs_store_delete(s, "k", 1, 0), KVS_OK);
	assert_missing(s, "k");
	assert_memory_equal(kvs_item_value(c), "second\r\n", 8);
	kvs_store_stats(s, &st);
	assert_int_equal(st.pending, 1);
	kvs_store_release(s, c);

	/* flushed while in flight, then reclaimed by the lookup */
	assert_int_equal(put(s, KVS_SET, "f", "x", 0, 0, NULL), KVS_OK);
	struct kvs_item *d = kvs_store_get(s, "f", 1, NULL, &why);
	kvs_store_flush(s, 0);
	assert_missing(s, "f");
	kvs_store_stats(s, &st);
	assert_int_equal(st.pending, 1);
	kvs_store_release(s, d);
	assert_no_leak(s);
	kvs_store_destroy(s);
}

/* An item in flight is never evicted; the allocator takes another. */
static void test_inflight_not_evicted(void **state)
{
	struct kvs_store *s = mk(32 * 1024, 16 * 1024);
	struct kvs_store_stats st;
	enum kvs_miss why;
	char key[32], val[1000];
	(void)state;

	memset(val, 'v', sizeof(val) - 1);
	val[sizeof(val) - 1] = '\0';
	assert_int_equal(put(s, KVS_SET, "held", val, 0, 0, NULL), KVS_OK);
	struct kvs_item *held = kvs_store_get(s, "held", 4, NULL, &why);
	for (unsigned i = 0; i < 200; i++) {
		snprintf(key, sizeof(key), "x%u", i);
		assert_int_equal(put(s, KVS_SET, key, val, 0, 0, NULL), KVS_OK);
	}
	kvs_store_stats(s, &st);
	assert_true(st.evictions > 0);
	assert_true(st.evict_skips > 0);
	assert_value(s, "held", val);
	kvs_store_release(s, held);
	assert_no_leak(s);
	kvs_store_destroy(s);
}

/* When every item of a class is in flight, allocation fails cleanly. */
static void test_all_inflight_nomem(void **state)
{
	struct kvs_store *s = mk(16 * 1024, 16 * 1024); /* one page */
	struct kvs_item *held[64];
	unsigned n = 0;
	enum kvs_miss why;
	char key[32], val[3000];
	(void)state;

	memset(val, 'v', sizeof(val) - 1);
	val[sizeof(val) - 1] = '\0';
	for (;;) {
		snprintf(key, sizeof(key), "h%u", n);
		enum kvs_res r = put(s, KVS_SET, key, val, 0, 0, NULL);
		if (r != KVS_OK) {
			assert_int_equal(r, KVS_NOMEM);
			break;
		}
		held[n] = kvs_store_get(s, key, strlen(key), NULL, &why);
		assert_non_null(held[n]);
		n++;
		assert_true(n < 64);
	}
	assert_true(n >= 2);
	kvs_store_release(s, held[0]);
	assert_int_equal(put(s, KVS_SET, "again", val, 0, 0, NULL), KVS_OK); /* h0 evicted */
	assert_missing(s, "h0");
	for (unsigned i = 1; i < n; i++)
		kvs_store_release(s, held[i]);
	assert_no_leak(s);
	kvs_store_destroy(s);
}

/* After a flush, values of a size no class had pages for still find room:
 * pages move from the class that holds them. */
static void test_page_moves_after_flush(void **state)
{
	struct kvs_store *s = mk(64 * 1024, 16 * 1024); /* four pages */
	struct kvs_store_stats st;
	enum kvs_miss why;
	char key[32], small[200], big[3000];
	(void)state;

	memset(small, 's', sizeof(small) - 1);
	small[sizeof(small) - 1] = '\0';
	memset(big, 'b', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (unsigned i = 0; i < 400; i++) {
		snprintf(key, sizeof(key), "s%u", i);
		assert_int_equal(put(s, KVS_SET, key, small, 0, 0, NULL), KVS_OK);
	}
	kvs_store_stats(s, &st);
	assert_int_equal(st.pages, st.total_pages); /* the small class took everything */
	/* one small item stays in flight across the flush */
	struct kvs_item *held = kvs_store_get(s, "s399", 4, NULL, &why);
	assert_non_null(held);
	kvs_store_flush(s, 0);
	for (unsigned i = 0; i < 12; i++) {
		snprintf(key, sizeof(key), "b%u", i);
		assert_int_equal(put(s, KVS_SET, key, big, 0, 0, NULL), KVS_OK);
	}
	kvs_store_stats(s, &st);
	assert_true(st.page_moves >= 2);
	assert_value(s, "b0", big);
	assert_value(s, "b11", big);
	assert_memory_equal(kvs_item_value(held), small, sizeof(small) - 1); /* untouched */
	kvs_store_release(s, held);
	/* and back: small values again take pages from the big class */
	kvs_store_flush(s, 0);
	for (unsigned i = 0; i < 200; i++) {
		snprintf(key, sizeof(key), "t%u", i);
		assert_int_equal(put(s, KVS_SET, key, small, 0, 0, NULL), KVS_OK);
	}
	assert_value(s, "t199", small);
	assert_no_leak(s);
	kvs_store_destroy(s);
}

static size_t new_len(unsigned i)
{
	return i < 100 ? 600 : i * 7 % 2001;
}

/* After a flush, new keys of every size fit in the flushed memory without
 * evicting each other: pages holding only dead items move first. */
static void test_flush_then_mixed_sizes_no_live_eviction(void **state)
{
	struct kvs_store *s = mk(1 << 20, 16 * 1024); /* 64 pages */
	struct kvs_store_stats st;
	char key[64], val[2100];
	(void)state;

	memset(val, 'v', sizeof(val));
	for (unsigned i = 0; i < 3000; i++) { /* one size, more than fits */
		snprintf(key, sizeof(key), "old-%u", i);
		val[600] = '\0';
		assert_int_equal(put(s, KVS_SET, key, val, 0, 0, NULL), KVS_OK);
		val[600] = 'v';
	}
	kvs_store_stats(s, &st);
	uint64_t evicted = st.evictions;
	assert_true(evicted > 0);
	kvs_store_flush(s, 0);
	/* 300 keys, well under the 1 MiB: the first 100 of the old size (they
	 * land in reclaimed chunks among dead items), then sizes 0..2000 */
	for (unsigned i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "new-%u", i);
		val[new_len(i)] = '\0';
		assert_int_equal(put(s, KVS_SET, key, val, 0, 0, NULL), KVS_OK);
		val[new_len(i)] = 'v';
	}
	kvs_store_stats(s, &st);
	assert_int_equal(st.evictions, evicted); /* only dead items went */
	assert_true(st.page_moves > 0);
	for (unsigned i = 0; i < 300; i++) {
		char got[4096];
		snprintf(key, sizeof(key), "new-%u", i);
		assert_true(value_of(s, key, got, sizeof(got)));
		assert_int_equal(strlen(got), new_len(i));
	}
	assert_no_leak(s);
	kvs_store_destroy(s);
}

/* A page with an item in flight is not moved. */
static void test_page_move_blocked_in_flight(void **state)
{
	struct kvs_store *s = mk(16 * 1024, 16 * 1024); /* one page */
	enum kvs_miss why;
	char small[200], big[3000];
	(void)state;

	memset(small, 's', sizeof(small) - 1);
	small[sizeof(small) - 1] = '\0';
	memset(big, 'b', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(put(s, KVS_SET, "first", small, 0, 0, NULL), KVS_OK);
	struct kvs_item *held = kvs_store_get(s, "first", 5, NULL, &why);
	assert_int_equal(put(s, KVS_SET, "big", big, 0, 0, NULL), KVS_NOMEM);
	kvs_store_release(s, held);
	assert_int_equal(put(s, KVS_SET, "big", big, 0, 0, NULL), KVS_OK);
	assert_value(s, "big", big);
	assert_missing(s, "first"); /* evicted with its page */
	assert_no_leak(s);
	kvs_store_destroy(s);
}

static void test_bad_conf(void **state)
{
	struct kvs_store_conf c = {.mem_bytes = 1 << 20, .now_us = fake_clock};
	(void)state;

	c.now_us = NULL;
	assert_null(kvs_store_create(&c));
	c.now_us = fake_clock;
	c.page_size = 100; /* too small */
	assert_null(kvs_store_create(&c));
	c.page_size = 1 << 21; /* larger than the memory */
	assert_null(kvs_store_create(&c));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_item_layout),
	    cmocka_unit_test(test_item_key_with_nul),
	    cmocka_unit_test(test_storage_semantics),
	    cmocka_unit_test(test_arith),
	    cmocka_unit_test(test_expiry),
	    cmocka_unit_test(test_flush),
	    cmocka_unit_test(test_lru_eviction),
	    cmocka_unit_test(test_reclaim_expired_first),
	    cmocka_unit_test(test_inflight_refcount),
	    cmocka_unit_test(test_inflight_not_evicted),
	    cmocka_unit_test(test_all_inflight_nomem),
	    cmocka_unit_test(test_page_moves_after_flush),
	    cmocka_unit_test(test_page_move_blocked_in_flight),
	    cmocka_unit_test(test_flush_then_mixed_sizes_no_live_eviction),
	    cmocka_unit_test(test_bad_conf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
