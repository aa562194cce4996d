/*
 * rxcopy.c - a network core's share of an application's RX region (see
 * dl_rxcopy.h).
 *
 * Chunks are indexes 0..nchunks-1; next[] links a chain (connection's
 * chunks, oldest first) or the free stack; fill[] is how many bytes a
 * chunk of a chain holds once it is no longer the tail (payloads are
 * packed, but a piece that fits a chunk is not split: it may start a fresh
 * chunk and leave the end of the last one unused). A chain that is wholly returned gives its
 * tail back too: an idle connection holds no chunk. Connections are found
 * by id in an open-addressing table (linear probing, backward-shift
 * deletion, doubled when three quarters full), created by their first
 * copy and removed when the connection is dropped (cleanup).
 */
#include "dl_rxcopy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define TABLE_MIN 64u

static uint32_t hash_id(uint32_t id)
{
	uint32_t h = id * 0x9e3779b1u;

	return h ^ (h >> 16);
}

static struct dl_rxc_conn *conn_find(const struct dl_rxcopy *x, uint32_t id)
{
	for (uint32_t i = hash_id(id) & (x->cap - 1);; i = (i + 1) & (x->cap - 1)) {
		struct dl_rxc_conn *c = &x->conns[i];
		if (!c->used)
			return NULL;
		if (c->id == id)
			return c;
	}
}

static int table_grow(struct dl_rxcopy *x)
{
	uint32_t ncap = x->cap * 2;
	struct dl_rxc_conn *n = calloc(ncap, sizeof(*n)), *old = x->conns;

	if (n == NULL)
		return -ENOMEM;
	for (uint32_t k = 0; k < x->cap; k++) {
		if (!old[k].used)
			continue;
		uint32_t i = hash_id(old[k].id) & (ncap - 1);
		while (n[i].used)
			i = (i + 1) & (ncap - 1);
		n[i] = old[k];
	}
	free(old);
	x->conns = n;
	x->cap = ncap;
	return 0;
}

static struct dl_rxc_conn *conn_get(struct dl_rxcopy *x, uint32_t id)
{
	struct dl_rxc_conn *c = conn_find(x, id);
	uint32_t i;

	if (c != NULL)
		return c;
	if ((x->nconns + 1) * 4 > x->cap * 3 && table_grow(x) != 0)
		return NULL;
	i = hash_id(id) & (x->cap - 1);
	while (x->conns[i].used)
		i = (i + 1) & (x->cap - 1);
	c = &x->conns[i];
	*c = (struct dl_rxc_conn){.id = id, .used = true, .head = DL_RXC_NONE, .tail = DL_RXC_NONE};
	x->nconns++;
	return c;
}

/* Remove an entry, moving later entries of its probe run back. */
static void conn_del(struct dl_rxcopy *x, struct dl_rxc_conn *c)
{
	uint32_t i = (uint32_t)(c - x->conns), j = i;

	x->conns[i].used = false;
	for (;;) {
		j = (j + 1) & (x->cap - 1);
		if (!x->conns[j].used)
			break;
		uint32_t home = hash_id(x->conns[j].id) & (x->cap - 1);
		/* Move j back to i unless its home lies cyclically in (i, j]. */
		if ((i < j) ? (home <= i || home > j) : (home <= i && home > j)) {
			x->conns[i] = x->conns[j];
			x->conns[j].used = false;
			i = j;
		}
	}
	x->nconns--;
}

int dl_rxcopy_init(struct dl_rxcopy *x, struct dl_region *r, size_t off, size_t len, uint64_t *cnt)
{
	memset(x, 0, sizeof(*x));
	if (r == NULL || off > r->len || len > r->len - off || len / DL_RXC_CHUNK == 0 ||
	    len / DL_RXC_CHUNK >= DL_RXC_NONE)
		return -EINVAL;
	x->r = r;
	x->off = off;
	x->nchunks = (uint32_t)(len / DL_RXC_CHUNK);
	x->cnt = cnt;
	x->next = malloc(x->nchunks * sizeof(*x->next));
	x->fill = malloc(x->nchunks * sizeof(*x->fill));
	x->cap = TABLE_MIN;
	x->conns = calloc(x->cap, sizeof(*x->conns));
	if (x->next == NULL || x->fill == NULL || x->conns == NULL) {
		dl_rxcopy_fini(x);
		return -ENOMEM;
	}
	/* Free stack: chunk 0 on top. */
	for (uint32_t k = 0; k < x->nchunks; k++)
		x->next[k] = k + 1 < x->nchunks ? k + 1 : DL_RXC_NONE;
	x->free_top = 0;
	x->nfree = x->nchunks;
	return 0;
}

void dl_rxcopy_fini(struct dl_rxcopy *x)
{
	free(x->next);
	free(x->fill);
	free(x->conns);
	memset(x, 0, sizeof(*x));
}

static uint8_t *chunk_at(const struct dl_rxcopy *x, uint32_t k)
{
	return x->r->base + x->off + (size_t)k * DL_RXC_CHUNK;
}

static uint32_t chunk_pop(struct dl_rxcopy *x)
{
	uint32_t k = x->free_top;

	x->free_top = x->next[k];
	x->nfree--;
	x->next[k] = DL_RXC_NONE;
	return k;
}

static void chunk_push(struct dl_rxcopy *x, uint32_t k)
{
	x->next[k] = x->free_top;
	x->free_top = k;
	x->nfree++;
}

/* Take a free chunk as the chain's new tail (the old tail keeps its fill). */
static void chain_grow(struct dl_rxcopy *x, struct dl_rxc_conn *c)
{
	uint32_t nk = chunk_pop(x);

	if (c->tail == DL_RXC_NONE) {
		c->head = nk;
	} else {
		x->next[c->tail] = nk;
		x->fill[c->tail] = c->tail_used;
	}
	c->tail = nk;
	c->tail_used = 0;
}

/* Free room at the end of a chain (in its tail chunk). */
static uint32_t tail_room(const struct dl_rxc_conn *c)
{
	return c == NULL || c->tail == DL_RXC_NONE ? 0 : DL_RXC_CHUNK - c->tail_used;
}

/* Walk a copy of @p n references without doing it: the chunks it takes
 * and the pieces it makes. A reference that fits a chunk is never split:
 * when the tail has too little room it goes into a fresh chunk (the rest of
 * the tail is left unused), so a delivery never has more pieces than the
 * stack gave references. A longer one fills the tail, then whole chunks. */
static void plan(const struct dl_rxc_conn *c, const uint32_t *lens, unsigned n, uint32_t *chunks,
		 unsigned *pieces)
{
	uint32_t room = tail_room(c), nch = 0;
	unsigned np = 0;
	bool open = false; /* the last piece can be extended (contiguous) */

	for (unsigned i = 0; i < n; i++) {
		uint32_t len = lens[i];

		if (len <= DL_RXC_CHUNK && len > room) {
			nch++;
			room = DL_RXC_CHUNK;
			open = false;
		}
		while (len > 0) {
			if (room == 0) {
				nch++;
				room = DL_RXC_CHUNK;
				open = false;
			}
			uint32_t take = len < room ? len : room;
			np += !open;
			open = true;
			room -= take;
			len -= take;
		}
	}
	*chunks = nch;
	*pieces = np;
}

bool dl_rxcopy_fits(const struct dl_rxcopy *x, uint32_t id, const struct dl_rx_ref *in, unsigned n)
{
	uint32_t lens[64], need;
	unsigned pieces;

	if (n > sizeof(lens) / sizeof(lens[0]))
		return false;
	for (unsigned i = 0; i < n; i++)
		lens[i] = in[i].len;
	plan(conn_find(x, id), lens, n, &need, &pieces);
	return need <= x->nfree;
}

/* The common case, one reference that fits a chunk: no plan to make. */
static int put_one(struct dl_rxcopy *x, struct dl_rxc_conn *c, uint32_t id,
		   const struct dl_rx_ref *in, struct dl_rx_ref *out)
{
	uint32_t len = in->len;
	uint8_t *dst;

	if (len > tail_room(c)) {
		if (x->nfree == 0) {
			x->cnt[DL_RXC_NO_ROOM]++;
			return -ENOBUFS;
		}
		if (c == NULL && (c = conn_get(x, id)) == NULL)
			return -ENOMEM;
		chain_grow(x, c);
	}
	dst = chunk_at(x, c->tail) + c->tail_used;
	memcpy(dst, in->data, len);
	*out = (struct dl_rx_ref){.data = dst, .len = len, .region = x->r->id};
	c->tail_used += len;
	c->unret += len;
	x->cnt[DL_RXC_COPIED_BYTES] += len;
	x->cnt[DL_RXC_COPIES]++;
	return 1;
}

int dl_rxcopy_put(struct dl_rxcopy *x, uint32_t id, const struct dl_rx_ref *in, unsigned n,
		  struct dl_rx_ref *out, unsigned out_max)
{
	struct dl_rxc_conn *c = conn_find(x, id);
	uint32_t lens[64], need;
	uint64_t bytes = 0;
	unsigned k = 0, pieces;

	if (n == 1 && in->len <= DL_RXC_CHUNK && in->len > 0 && out_max > 0)
		return put_one(x, c, id, in, out);

	if (n > sizeof(lens) / sizeof(lens[0]))
		return -E2BIG;
	for (unsigned i = 0; i < n; i++) {
		lens[i] = in[i].len;
		bytes += in[i].len;
	}
	if (bytes == 0)
		return 0;
	plan(c, lens, n, &need, &pieces);
	if (need > x->nfree) {
		x->cnt[DL_RXC_NO_ROOM]++;
		return -ENOBUFS;
	}
	if (pieces > out_max)
		return -E2BIG;
	if (c == NULL && (c = conn_get(x, id)) == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *src = in[i].data;
		uint32_t len = in[i].len;

		/* Whole in a fresh chunk when it fits one and not the tail (the
		 * rest of the tail stays unused). */
		bool fresh = len <= DL_RXC_CHUNK && len > tail_room(c);

		while (len > 0) {
			uint32_t take;
			uint8_t *dst;

			if (fresh || c->tail == DL_RXC_NONE || c->tail_used == DL_RXC_CHUNK) {
				chain_grow(x, c);
				fresh = false;
			}
			take = DL_RXC_CHUNK - c->tail_used;
			take = len < take ? len : take;
			dst = chunk_at(x, c->tail) + c->tail_used;
			memcpy(dst, src, take);
			if (k > 0 && out[k - 1].data + out[k - 1].len == dst)
				out[k - 1].len += take; /* contiguous with the last piece */
			else
				out[k++] = (struct dl_rx_ref){
				    .data = dst, .len = take, .region = x->r->id};
			c->tail_used += take;
			src += take;
			len -= take;
		}
	}
	c->unret += bytes;
	x->cnt[DL_RXC_COPIED_BYTES] += bytes;
	x->cnt[DL_RXC_COPIES]++;
	return (int)k;
}

bool dl_rxcopy_steer_ok(const struct dl_rxcopy *x, uint32_t id)
{
	const struct dl_rxc_conn *c = conn_find(x, id);

	return c == NULL || c->unret == 0;
}

int dl_rxcopy_note_steered(struct dl_rxcopy *x, uint32_t id, uint64_t bytes)
{
	struct dl_rxc_conn *c = conn_get(x, id);

	if (c == NULL)
		return -ENOMEM;
	c->steered += bytes;
	return 0;
}

int dl_rxcopy_release(struct dl_rxcopy *x, uint32_t id, uint64_t bytes)
{
	struct dl_rxc_conn *c = conn_find(x, id);
	uint64_t st;

	if (bytes == 0)
		return 0;
	if (c == NULL || bytes > c->steered + c->unret) {
		x->cnt[DL_RXC_BAD_RETURN]++;
		return -EINVAL;
	}
	/* Steered bytes first: they are the older ones. */
	st = bytes < c->steered ? bytes : c->steered;
	c->steered -= st;
	bytes -= st;
	c->unret -= bytes;
	while (bytes > 0) {
		uint32_t fill = c->head == c->tail ? c->tail_used : x->fill[c->head];
		uint32_t avail = fill - c->head_ret;
		uint32_t take = bytes < avail ? (uint32_t)bytes : avail;

		c->head_ret += take;
		bytes -= take;
		if (c->head_ret < fill)
			break; /* bytes == 0 */
		if (c->head != c->tail) {
			uint32_t k = c->head;
			c->head = x->next[k];
			chunk_push(x, k);
			c->head_ret = 0;
		} else {
			/* Everything returned: the tail goes back too (an idle
			 * connection holds no chunk; the next copy takes one). */
			chunk_push(x, c->head);
			c->head = c->tail = DL_RXC_NONE;
			c->head_ret = c->tail_used = 0;
		}
	}
	/* The entry stays until the connection is dropped: a connection
	 * that receives and returns data all the time does not churn the
	 * table. */
	return 0;
}

void dl_rxcopy_drop(struct dl_rxcopy *x, uint32_t id)
{
	struct dl_rxc_conn *c = conn_find(x, id);

	if (c == NULL)
		return;
	for (uint32_t k = c->head; k != DL_RXC_NONE;) {
		uint32_t nk = k == c->tail ? DL_RXC_NONE : x->next[k];
		chunk_push(x, k);
		k = nk;
	}
	conn_del(x, c);
}

uint64_t dl_rxcopy_unreturned(const struct dl_rxcopy *x, uint32_t id)
{
	const struct dl_rxc_conn *c = conn_find(x, id);

	return c != NULL ? c->steered + c->unret : 0;
}
