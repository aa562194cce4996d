/*
 * test_kvs_store_mt.c - the item store shared by several threads (as by
 * several application cores): set/get/delete/append/incr on a few shared
 * keys in a memory small enough to evict all the time.
 *
 * Every value is self-describing (a seed and bytes derived from it), so a
 * reader detects torn or mixed values. Readers keep some items "in flight"
 * for a while (as unacknowledged responses do) and check, when they finally
 * release them, that the bytes did not change meanwhile although other
 * threads replaced, deleted or evicted the keys. At the end, with every
 * reference dropped and every key deleted, all chunks must be free.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>
#include <cmocka.h>

#include "kvs_store.h"

#define NTHREADS 4
#define NOPS	 60000
#define NKEYS	 256
#define HOLD	 16 /* items a thread keeps in flight */

static struct kvs_store *store;

static uint64_t mono_us(void *arg)
{
	struct timespec ts;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static uint8_t pattern(uint64_t seed, size_t i)
{
	return (uint8_t)('a' + (seed * 31 + i * 7) % 26);
}

/* "S<16 hex digits>:" then pattern bytes; numeric keys hold decimal numbers. */
static size_t make_value(char *v, uint64_t seed, size_t len)
{
	int n = snprintf(v, 19, "S%016llx:", (unsigned long long)seed);
	for (size_t i = (size_t)n; i < len; i++)
		v[i] = (char)pattern(seed, i);
	return len;
}

/* True if the value is intact: a pattern value, a concatenation of them, or a number. */
static bool value_ok(const char *v, size_t len)
{
	size_t off = 0;

	if (len > 0 && v[0] >= '0' && v[0] <= '9') {
		for (size_t i = 0; i < len; i++)
			if (v[i] < '0' || v[i] > '9')
				return false;
		return true;
	}
	while (off < len) { /* appends concatenate whole values */
		unsigned long long seed;
		if (len - off < 18 || v[off] != 'S' || sscanf(v + off + 1, "%16llx", &seed) != 1 ||
		    v[off + 17] != ':')
			return false;
		size_t vlen = 18 + (size_t)(seed >> 48);
		if (off + vlen > len)
			return false;
		for (size_t i = 18; i < vlen; i++)
			if ((uint8_t)v[off + i] != pattern(seed, i))
				return false;
		off += vlen;
	}
	return true;
}

struct worker {
	pthread_t th;
	uint64_t seed;
	uint64_t gets, hits, sets, nomem, dels, appends, incrs, bad;
	struct kvs_item *held[HOLD];
	char snap[HOLD][4096]; /* the bytes each held item had */
	size_t snap_len[HOLD];
	unsigned nheld;
};

static void release_oldest(struct worker *w)
{
	struct kvs_item *it = w->held[0];

	/* unchanged while in flight? */
	if (memcmp(kvs_item_value(it), w->snap[0], w->snap_len[0]) != 0 ||
	    memcmp(kvs_item_value(it) + it->nbytes, "\r\n", 2) != 0)
		w->bad++;
	kvs_store_release(store, it);
	memmove(&w->held[0], &w->held[1], (w->nheld - 1) * sizeof(w->held[0]));
	memmove(&w->snap[0], &w->snap[1], (w->nheld - 1) * sizeof(w->snap[0]));
	memmove(&w->snap_len[0], &w->snap_len[1], (w->nheld - 1) * sizeof(w->snap_len[0]));
	w->nheld--;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	char key[16], val[4096];
	enum kvs_res err;
	enum kvs_miss why;
	uint64_t v;

	for (unsigned op = 0; op < NOPS; op++) {
		uint64_t r = rnd(&w->seed);
		unsigned k = (unsigned)(r % NKEYS);
		bool numeric = k < 4;
		int klen = snprintf(key, sizeof(key), "key%u", k);
		unsigned what = (unsigned)(r >> 8) % 100;

		if (what < 45) { /* get, sometimes kept in flight */
			w->gets++;
			struct kvs_item *it = kvs_store_get(store, key, (size_t)klen, NULL, &why);
			if (it == NULL)
				continue;
			w->hits++;
			if (!value_ok(kvs_item_value(it), it->nbytes))
				w->bad++;
			if (it->nbytes > sizeof(w->snap[0])) { /* grown by appends */
				kvs_store_release(store, it);
				continue;
			}
			if (w->nheld == HOLD)
				release_oldest(w);
			w->held[w->nheld] = it;
			memcpy(w->snap[w->nheld], kvs_item_value(it), it->nbytes);
			w->snap_len[w->nheld] = it->nbytes;
			w->nheld++;
		} else if (what < 75) { /* set */
			size_t len;
			if (numeric) {
				len = (size_t)snprintf(val, sizeof(val), "%llu",
						       (unsigned long long)(r % 1000));
			} else {
				size_t extra = (size_t)(r >> 20) % 1500;
				uint64_t seed =
				    (uint64_t)extra << 48 | ((r >> 32) & 0xffffffffffffull);
				len = make_value(val, seed, 18 + extra);
			}
			struct kvs_item *it =
			    kvs_store_alloc(store, key, (size_t)klen, 0, 0, (uint32_t)len, &err);
			if (it == NULL) {
				w->nomem++;
				continue;
			}
			memcpy(kvs_item_value(it), val, len);
			kvs_store_store(store, it, KVS_SET, 0, NULL);
			w->sets++;
		} else if (what < 85) {
			w->dels++;
			kvs_store_delete(store, key, (size_t)klen, 0);
		} else if (what < 92 && !numeric) { /* append a small whole value */
			uint64_t seed = (uint64_t)10 << 48 | (r & 0xffffffffffffull);
			size_t len = make_value(val, seed, 28);
			struct kvs_item *it =
			    kvs_store_alloc(store, key, (size_t)klen, 0, 0, (uint32_t)len, &err);
			if (it == NULL) {
				w->nomem++;
				continue;
			}
			memcpy(kvs_item_value(it), val, len);
			enum kvs_res res = kvs_store_store(store, it, KVS_APPEND, 0, NULL);
			if (res == KVS_NOMEM || res == KVS_TOO_LARGE)
				w->nomem++;
			w->appends++;
		} else { /* incr: numeric keys count, others refuse */
			enum kvs_res res =
			    kvs_store_arith(store, key, (size_t)klen, true, 1, NULL, 0, &v, NULL);
			if (numeric && res != KVS_OK && res != KVS_NOT_FOUND && res != KVS_NOMEM)
				w->bad++;
			if (!numeric && res == KVS_OK)
				w->bad++;
			w->incrs++;
		}
	}
	while (w->nheld > 0)
		release_oldest(w);
	return NULL;
}

static void test_shared_store(void **state)
{
	struct kvs_store_conf c = {
	    .mem_bytes = 192 * 1024, /* less than the keys need: evictions */
	    .page_size = 16 * 1024,
	    .lock_power = 4, /* few stripes: more contention */
	    .now_us = mono_us,
	    .lru_bump_us = 0,
	};
	struct worker w[NTHREADS];
	struct kvs_store_stats st;
	uint64_t hits = 0, bad = 0, sets = 0, nomem = 0;
	(void)state;

	store = kvs_store_create(&c);
	assert_non_null(store);
	memset(w, 0, sizeof(w));
	for (int i = 0; i < NTHREADS; i++) {
		w[i].seed = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
		assert_int_equal(pthread_create(&w[i].th, NULL, work, &w[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(w[i].th, NULL);
		hits += w[i].hits;
		bad += w[i].bad;
		sets += w[i].sets;
		nomem += w[i].nomem;
	}
	kvs_store_stats(store, &st);
	printf("threads %d: %llu sets, %llu hits, %llu no-memory, %llu evictions, "
	       "%llu in-flight skips, %llu items\n",
	       NTHREADS, (unsigned long long)sets, (unsigned long long)hits,
	       (unsigned long long)nomem, (unsigned long long)st.evictions,
	       (unsigned long long)st.evict_skips, (unsigned long long)st.curr_items);
	assert_int_equal(bad, 0);
	assert_true(hits > 0 && sets > 0);
	assert_true(st.evictions > 0);
	assert_int_equal(st.pending, 0);
	assert_int_equal(st.chunks - st.free_chunks, st.curr_items);

	/* every key gone: every chunk free, no leak */
	for (unsigned k = 0; k < NKEYS; k++) {
		char key[16];
		int n = snprintf(key, sizeof(key), "key%u", k);
		kvs_store_delete(store, key, (size_t)n, 0);
	}
	kvs_store_stats(store, &st);
	assert_int_equal(st.curr_items, 0);
	assert_int_equal(st.free_chunks, st.chunks);
	assert_int_equal(st.bytes, 0);
	kvs_store_destroy(store);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_shared_store),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
