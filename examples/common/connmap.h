/*
 * connmap.h - a small open-addressing map from dlibos_conn_t to an
 * application's per-connection pointer, one per application core (no
 * locking). Shared by the examples; header-only.
 *
 * Linear probing with backward-shift deletion, grows at 50% load.
 */
#ifndef EXAMPLES_CONNMAP_H
#define EXAMPLES_CONNMAP_H

#include <dlibos/dlibos.h>

#include <stdlib.h>

struct connmap_slot {
	dlibos_conn_t key; /* DLIBOS_CONN_NONE when free */
	void *val;
};

struct connmap {
	struct connmap_slot *slots;
	size_t mask, n;
};

static inline size_t connmap_hash(dlibos_conn_t k, size_t mask)
{
	k ^= k >> 29;
	k *= 0xbf58476d1ce4e5b9ull;
	k ^= k >> 32;
	return (size_t)k & mask;
}

static inline int connmap_init(struct connmap *m, size_t cap)
{
	size_t n = 16;

	while (n < cap * 2)
		n <<= 1;
	m->slots = malloc(n * sizeof(*m->slots));
	if (m->slots == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		m->slots[i].key = DLIBOS_CONN_NONE;
	m->mask = n - 1;
	m->n = 0;
	return 0;
}

static inline void connmap_fini(struct connmap *m)
{
	free(m->slots);
	m->slots = NULL;
}

static inline void *connmap_get(const struct connmap *m, dlibos_conn_t k)
{
	for (size_t i = connmap_hash(k, m->mask);; i = (i + 1) & m->mask) {
		if (m->slots[i].key == k)
			return m->slots[i].val;
		if (m->slots[i].key == DLIBOS_CONN_NONE)
			return NULL;
	}
}

static inline int connmap_put(struct connmap *m, dlibos_conn_t k, void *v);

static inline int connmap_grow(struct connmap *m)
{
	struct connmap old = *m;

	if (connmap_init(m, (old.mask + 1)) != 0) {
		*m = old;
		return -1;
	}
	for (size_t i = 0; i <= old.mask; i++)
		if (old.slots[i].key != DLIBOS_CONN_NONE)
			connmap_put(m, old.slots[i].key, old.slots[i].val);
	free(old.slots);
	return 0;
}

/** Insert or replace. -1 when memory runs out. */
static inline int connmap_put(struct connmap *m, dlibos_conn_t k, void *v)
{
	if ((m->n + 1) * 2 > m->mask + 1 && connmap_grow(m) != 0)
		return -1;
	for (size_t i = connmap_hash(k, m->mask);; i = (i + 1) & m->mask) {
		if (m->slots[i].key == k) {
			m->slots[i].val = v;
			return 0;
		}
		if (m->slots[i].key == DLIBOS_CONN_NONE) {
			m->slots[i].key = k;
			m->slots[i].val = v;
			m->n++;
			return 0;
		}
	}
}

/** Remove and return the value (NULL if absent). */
static inline void *connmap_del(struct connmap *m, dlibos_conn_t k)
{
	size_t i = connmap_hash(k, m->mask);
	void *v;

	while (m->slots[i].key != k) {
		if (m->slots[i].key == DLIBOS_CONN_NONE)
			return NULL;
		i = (i + 1) & m->mask;
	}
	v = m->slots[i].val;
	/* Backward-shift deletion keeps probe chains intact. */
	for (size_t j = (i + 1) & m->mask; m->slots[j].key != DLIBOS_CONN_NONE;
	     j = (j + 1) & m->mask) {
		size_t h = connmap_hash(m->slots[j].key, m->mask);
		if (((j - h) & m->mask) >= ((j - i) & m->mask)) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	m->slots[i].key = DLIBOS_CONN_NONE;
	m->n--;
	return v;
}

#endif
