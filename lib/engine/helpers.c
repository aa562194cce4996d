/*
 * helpers.c - the send and receive helpers of one application core (see
 * dl_helpers.h for the design: chunk pool, per-connection release records,
 * writable FIFO, receive queue).
 */
#include "dl_helpers.h"
#include "dl_engine_priv.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define NO_CHUNK   UINT32_MAX
#define REC_INLINE 4u
#define IQ_INLINE  8u
#define SEND_FRAGS 32u

static const char *const help_cnt_names[HC_NCNT] = {
    [HC_COPY_CALLS] = "copy_sends",
    [HC_COPY_BYTES] = "copy_bytes",
    [HC_COPY_SHORT_POOL] = "copy_short_pool_empty",
    [HC_COPY_SHORT_CONN] = "copy_short_conn_limit",
    [HC_COPY_NO_POOL] = "copy_no_pool",
    [HC_WRITABLE] = "writable_events",
    [HC_REF_SENDS] = "ref_sends",
    [HC_DONE_ACKED] = "ref_done_acked",
    [HC_DONE_ABORTED] = "ref_done_aborted",
    [HC_CHUNKS_IN_USE] = "copy_chunks_in_use",
    [HC_CHUNKS_PEAK] = "copy_chunks_peak",
    [HC_CHUNKS_PARKED] = "copy_chunks_parked",
    [HC_PARKED_RECLAIMS] = "copy_parked_reclaims",
    [HC_ACK_BEYOND_SENT] = "ack_beyond_sent",
    [HC_SEND_ERRORS] = "send_errors",
    [HC_STATE_NOMEM] = "conn_state_no_memory",
    [HC_CONNS] = "conns_tracked",
    [HC_RX_BYTES] = "rx_bytes_queued",
    [HC_RX_GATHERED] = "rx_messages_gathered",
    [HC_RX_TOO_LONG] = "rx_message_too_long",
    [HC_RX_OVERFLOW] = "rx_queue_overflow",
    [HC_RX_DROPPED] = "rx_bytes_dropped",
    [HC_RX_BAD_CONSUME] = "rx_consume_beyond_queued",
    [HC_LEFT_AT_STOP] = "conns_left_at_stop",
};

/* A release record: when the connection's acknowledgements reach `end`
 * (bytes of its helper stream), unreference a chunk or run a completion. */
struct trec {
	uint64_t end;
	dlibos_send_done_fn done; /* NULL: a copy record */
	union {
		void *arg;
		uint32_t chunk;
	} u;
};

/* Helper state of one connection. */
struct hconn {
	dlibos_conn_t conn;
	/* transmit */
	uint64_t sent, acked;	  /* bytes of the helper stream */
	uint32_t tail, tail_fill; /* chunk being filled (NO_CHUNK: none), bytes in it */
	uint32_t nchunks;	  /* chunks it references */
	uint32_t rhead, rn, rcap; /* release records, a ring of rcap (power of two) */
	struct trec *rec;
	bool armed;  /* a writable call is due when want bytes fit */
	bool closed; /* closed or reset: the receive queue is gone */
	bool parked; /* its tail is acknowledged whole and kept for the next copy */
	size_t want;
	struct hconn *wnext, *wprev; /* the waiters' FIFO */
	/* receive */
	struct dlibos_iov *iq; /* ring of iq_cap (power of two) */
	uint32_t iq_head, iq_n, iq_cap;
	uint32_t iq_off; /* bytes of the front piece already consumed */
	uint64_t iq_bytes;
	uint64_t scan_ok; /* front bytes known to hold no scan_delim */
	int scan_delim;
	struct hconn *next_free;
	struct trec rin[REC_INLINE];
	struct dlibos_iov iqin[IQ_INLINE];
};

struct tslot {
	dlibos_conn_t key; /* DLIBOS_CONN_NONE: free */
	struct hconn *v;
};

struct dl_helpers {
	struct dl_helpers_head head; /* first */
	struct dl_help_ops ops;
	void *ctx;
	struct dlibos_core *core;
	/* connections */
	struct tslot *slots;
	size_t mask, n;
	struct hconn *last; /* the last one looked up */
	int err;	    /* why the last creation failed: -ENOENT (not ours), -ENOMEM */
	struct hconn *free_conns;
	/* copy pool */
	size_t pool_want;
	uint8_t *pool;
	size_t pool_len;
	uint32_t nchunks, nfree, hint, conn_cap;
	uint64_t *freemap; /* bit set: chunk free */
	uint32_t *refs;	   /* records referencing each chunk */
	bool pool_failed;
	/* connections armed for writable, in arming order */
	struct hconn *wfirst, *wlast;
	uint64_t cnt[HC_NCNT];
	struct dl_counter_block blk;
	bool registered;
};

/* ---- connection table ------------------------------------------------------ */

static inline size_t slot_of(dlibos_conn_t k, size_t mask)
{
	k ^= k >> 29;
	k *= 0xbf58476d1ce4e5b9ull;
	k ^= k >> 32;
	return (size_t)k & mask;
}

static int table_init(struct dl_helpers *h, size_t n)
{
	struct tslot *s = malloc(n * sizeof(*s));

	if (s == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		s[i].key = DLIBOS_CONN_NONE;
	h->slots = s;
	h->mask = n - 1;
	return 0;
}

static void table_put(struct dl_helpers *h, struct hconn *c)
{
	size_t i = slot_of(c->conn, h->mask);

	while (h->slots[i].key != DLIBOS_CONN_NONE)
		i = (i + 1) & h->mask;
	h->slots[i].key = c->conn;
	h->slots[i].v = c;
}

static int table_grow(struct dl_helpers *h)
{
	struct tslot *old = h->slots;
	size_t oldn = h->mask + 1;

	if (table_init(h, oldn * 2) != 0) {
		h->slots = old;
		h->mask = oldn - 1;
		return -ENOMEM;
	}
	for (size_t i = 0; i < oldn; i++)
		if (old[i].key != DLIBOS_CONN_NONE)
			table_put(h, old[i].v);
	free(old);
	return 0;
}

static inline struct hconn *table_find(struct dl_helpers *h, dlibos_conn_t k)
{
	for (size_t i = slot_of(k, h->mask);; i = (i + 1) & h->mask) {
		if (h->slots[i].key == k)
			return h->slots[i].v;
		if (h->slots[i].key == DLIBOS_CONN_NONE)
			return NULL;
	}
}

static void table_del(struct dl_helpers *h, dlibos_conn_t k)
{
	size_t i = slot_of(k, h->mask);

	while (h->slots[i].key != k) {
		if (h->slots[i].key == DLIBOS_CONN_NONE)
			return;
		i = (i + 1) & h->mask;
	}
	/* Backward-shift deletion keeps probe chains intact. */
	for (size_t j = (i + 1) & h->mask; h->slots[j].key != DLIBOS_CONN_NONE;
	     j = (j + 1) & h->mask) {
		size_t home = slot_of(h->slots[j].key, h->mask);
		if (((j - home) & h->mask) >= ((j - i) & h->mask)) {
			h->slots[i] = h->slots[j];
			i = j;
		}
	}
	h->slots[i].key = DLIBOS_CONN_NONE;
	h->n--;
}

/* The state of a connection from the table; created when `create` (after
 * the owner check) (NULL when absent, not ours or out of memory). */
static __attribute__((noinline)) struct hconn *conn_find(struct dl_helpers *h, dlibos_conn_t k,
							 bool create)
{
	struct hconn *c = table_find(h, k);

	if (c == NULL && create) {
		if (h->ops.owns != NULL && !h->ops.owns(h->ctx, k)) {
			h->err = -ENOENT;
			return NULL;
		}
		h->err = -ENOMEM;
		if ((h->n + 1) * 2 > h->mask + 1 && table_grow(h) != 0) {
			h->cnt[HC_STATE_NOMEM]++;
			return NULL;
		}
		c = h->free_conns;
		if (c != NULL)
			h->free_conns = c->next_free;
		else
			c = malloc(sizeof(*c));
		if (c == NULL) {
			h->cnt[HC_STATE_NOMEM]++;
			return NULL;
		}
		memset(c, 0, offsetof(struct hconn, rin));
		c->conn = k;
		c->tail = NO_CHUNK;
		c->rec = c->rin;
		c->rcap = REC_INLINE;
		c->iq = c->iqin;
		c->iq_cap = IQ_INLINE;
		c->scan_delim = -1;
		table_put(h, c);
		h->n++;
		h->cnt[HC_CONNS] = h->n;
	}
	if (c != NULL)
		h->last = c;
	return c;
}

/* The state of a connection: the last one looked up, inline. */
static inline __attribute__((always_inline)) struct hconn *conn_get(struct dl_helpers *h,
								    dlibos_conn_t k, bool create)
{
	struct hconn *c = h->last;

	if (__builtin_expect(c != NULL && c->conn == k, 1))
		return c;
	return conn_find(h, k, create);
}

static void conn_free(struct dl_helpers *h, struct hconn *c)
{
	table_del(h, c->conn);
	h->cnt[HC_CONNS] = h->n;
	if (h->last == c)
		h->last = NULL;
	if (c->rec != c->rin)
		free(c->rec);
	if (c->iq != c->iqin)
		free(c->iq);
	c->conn = DLIBOS_CONN_NONE;
	c->next_free = h->free_conns;
	h->free_conns = c;
}

/* ---- create, destroy -------------------------------------------------------- */

struct dl_helpers *dl_helpers_create(const struct dl_help_ops *ops, void *ctx,
				     struct dlibos_core *core, size_t pool_bytes, int counter_core)
{
	struct dl_helpers *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->ops = *ops;
	h->ctx = ctx;
	h->core = core;
	h->pool_want = pool_bytes;
	if (table_init(h, 64) != 0) {
		free(h);
		return NULL;
	}
	if (counter_core >= 0) {
		dl_stats_register(&h->blk, "api", help_cnt_names, HC_NCNT, h->cnt, counter_core);
		h->registered = true;
	}
	return h;
}

void dl_helpers_destroy(struct dl_helpers *h)
{
	if (h == NULL)
		return;
	for (size_t i = 0; i <= h->mask; i++) {
		struct hconn *c = h->slots[i].v;
		if (h->slots[i].key == DLIBOS_CONN_NONE)
			continue;
		h->cnt[HC_LEFT_AT_STOP]++;
		if (c->rec != c->rin)
			free(c->rec);
		if (c->iq != c->iqin)
			free(c->iq);
		free(c);
	}
	while (h->free_conns != NULL) {
		struct hconn *c = h->free_conns;
		h->free_conns = c->next_free;
		free(c);
	}
	if (h->registered)
		dl_stats_unregister(&h->blk);
	if (h->pool != NULL && h->ops.pool_free != NULL)
		h->ops.pool_free(h->ctx, h->pool);
	free(h->freemap);
	free(h->refs);
	free(h->slots);
	free(h);
}

const uint64_t *dl_helpers_counters(const struct dl_helpers *h)
{
	return h->cnt;
}

/* ---- copy pool ------------------------------------------------------------ */

static __attribute__((noinline)) bool pool_setup(struct dl_helpers *h)
{
	size_t len = h->pool_want;
	uint32_t words;

	if (h->pool_failed || h->ops.pool_alloc == NULL)
		return false;
	h->pool = h->ops.pool_alloc(h->ctx, &len);
	if (h->pool == NULL || len / DL_HELP_CHUNK < 2 || len / DL_HELP_CHUNK > UINT32_MAX / 2)
		goto fail;
	h->pool_len = len;
	h->nchunks = (uint32_t)(len / DL_HELP_CHUNK);
	words = (h->nchunks + 63) / 64;
	h->freemap = calloc(words, sizeof(uint64_t));
	h->refs = calloc(h->nchunks, sizeof(uint32_t));
	if (h->freemap == NULL || h->refs == NULL)
		goto fail;
	for (uint32_t i = 0; i < h->nchunks; i++)
		h->freemap[i / 64] |= 1ull << (i % 64);
	h->nfree = h->nchunks;
	h->conn_cap =
	    h->nchunks / 2 < DL_HELP_CONN_CHUNKS_MAX ? h->nchunks / 2 : DL_HELP_CONN_CHUNKS_MAX;
	return true;
fail:
	if (h->pool != NULL && h->ops.pool_free != NULL)
		h->ops.pool_free(h->ctx, h->pool);
	h->pool = NULL;
	free(h->freemap);
	free(h->refs);
	h->freemap = NULL;
	h->refs = NULL;
	h->pool_failed = true;
	return false;
}

static inline bool pool_ready(struct dl_helpers *h)
{
	return __builtin_expect(h->pool != NULL, 1) || pool_setup(h);
}

/* ---- parked tails ------------------------------------------------------------ */

/* A connection whose copies are all acknowledged keeps its tail chunk,
 * empty, for its next copy (a request/response connection would otherwise
 * take and give back a chunk per exchange). When the pool has no free
 * chunk, every parked one goes back at once (a walk over the connections,
 * rare); no chunk is parked while a connection waits for memory. */
static inline void park(struct dl_helpers *h, struct hconn *c)
{
	c->parked = true;
	h->cnt[HC_CHUNKS_PARKED]++;
}

static inline void unpark(struct dl_helpers *h, struct hconn *c)
{
	c->parked = false;
	h->cnt[HC_CHUNKS_PARKED]--;
}

static inline void pool_put(struct dl_helpers *h, uint32_t k)
{
	h->freemap[k / 64] |= 1ull << (k % 64);
	h->nfree++;
	h->hint = k / 64;
	h->cnt[HC_CHUNKS_IN_USE]--;
	if (h->wfirst != NULL)
		h->head.wake_pending = 1;
}

/* Give a connection's parked tail back to the pool. */
static void unpark_free(struct dl_helpers *h, struct hconn *c)
{
	uint32_t k = c->tail;

	unpark(h, c);
	c->tail = NO_CHUNK;
	c->nchunks--;
	pool_put(h, k);
}

/* The pool is dry: every parked chunk back. */
static __attribute__((noinline)) void reclaim_parked(struct dl_helpers *h)
{
	for (size_t i = 0; i <= h->mask && h->cnt[HC_CHUNKS_PARKED] > 0; i++)
		if (h->slots[i].key != DLIBOS_CONN_NONE && h->slots[i].v->parked)
			unpark_free(h, h->slots[i].v);
	h->cnt[HC_PARKED_RECLAIMS]++;
}

/* A free chunk, `prefer` if it is free (the one after a connection's tail:
 * its bytes then continue the same fragment), else a parked one taken
 * back; NO_CHUNK when none. */
static inline uint32_t pool_take(struct dl_helpers *h, uint32_t prefer)
{
	uint32_t k, w, words = (h->nchunks + 63) / 64;

	if (h->nfree == 0) {
		if (h->cnt[HC_CHUNKS_PARKED] == 0)
			return NO_CHUNK;
		reclaim_parked(h);
	}
	if (prefer < h->nchunks && (h->freemap[prefer / 64] >> (prefer % 64) & 1)) {
		k = prefer;
	} else {
		w = h->hint;
		while (h->freemap[w] == 0)
			w = w + 1 == words ? 0 : w + 1;
		h->hint = w;
		k = w * 64 + (uint32_t)__builtin_ctzll(h->freemap[w]);
	}
	h->freemap[k / 64] &= ~(1ull << (k % 64));
	h->nfree--;
	h->refs[k] = 0;
	h->cnt[HC_CHUNKS_IN_USE]++;
	if (h->cnt[HC_CHUNKS_IN_USE] > h->cnt[HC_CHUNKS_PEAK])
		h->cnt[HC_CHUNKS_PEAK] = h->cnt[HC_CHUNKS_IN_USE];
	return k;
}

static inline uint8_t *chunk_mem(const struct dl_helpers *h, uint32_t k)
{
	return h->pool + (size_t)k * DL_HELP_CHUNK;
}

/* One record less references chunk k of connection c: at the last, the
 * chunk is parked (c's tail, nobody waiting) or goes back to the pool. */
static inline void chunk_unref(struct dl_helpers *h, struct hconn *c, uint32_t k)
{
	if (--h->refs[k] != 0)
		return;
	if (c->tail == k) {
		if (h->wfirst == NULL) {
			c->tail_fill = 0;
			park(h, c);
			return;
		}
		c->tail = NO_CHUNK;
	}
	c->nchunks--;
	pool_put(h, k);
}

/* ---- release records ----------------------------------------------------- */

/* Double a connection's record ring; false when out of memory. */
static __attribute__((noinline)) bool rec_grow(struct dl_helpers *h, struct hconn *c)
{
	uint32_t cap = c->rcap * 2;
	struct trec *r = cap != 0 ? malloc(cap * sizeof(*r)) : NULL;

	if (r == NULL) {
		h->cnt[HC_STATE_NOMEM]++;
		return false;
	}
	for (uint32_t i = 0; i < c->rn; i++)
		r[i] = c->rec[(c->rhead + i) & (c->rcap - 1)];
	if (c->rec != c->rin)
		free(c->rec);
	c->rec = r;
	c->rcap = cap;
	c->rhead = 0;
	return true;
}

/* A new record at the back (NULL when out of memory). */
static inline struct trec *rec_push(struct dl_helpers *h, struct hconn *c)
{
	if (__builtin_expect(c->rn == c->rcap, 0) && !rec_grow(h, c))
		return NULL;
	return &c->rec[(c->rhead + c->rn++) & (c->rcap - 1)];
}

static inline struct trec *rec_last(struct hconn *c)
{
	return c->rn != 0 ? &c->rec[(c->rhead + c->rn - 1) & (c->rcap - 1)] : NULL;
}

/* Pop the records the acknowledgements cover (all of them when status is
 * not 0: the connection is gone), oldest first. A completion may send on
 * the connection again: the record is taken off before it runs. */
static inline void release(struct dl_helpers *h, struct hconn *c, int status)
{
	while (c->rn != 0) {
		const struct trec *r = &c->rec[c->rhead];
		if (status == 0 && r->end > c->acked)
			break;
		c->rhead = (c->rhead + 1) & (c->rcap - 1);
		c->rn--;
		if (r->done == NULL) {
			chunk_unref(h, c, r->u.chunk);
		} else {
			/* Off the ring before it runs: it may send (and grow
			 * the ring) again. */
			dlibos_send_done_fn done = r->done;
			void *arg = r->u.arg;
			h->cnt[status == 0 ? HC_DONE_ACKED : HC_DONE_ABORTED]++;
			done(h->core, c->conn, arg, status);
		}
	}
}

/* ---- writable ---------------------------------------------------------------- */

static void wait_unlink(struct dl_helpers *h, struct hconn *c)
{
	if (!c->armed)
		return;
	if (c->wprev != NULL)
		c->wprev->wnext = c->wnext;
	else
		h->wfirst = c->wnext;
	if (c->wnext != NULL)
		c->wnext->wprev = c->wprev;
	else
		h->wlast = c->wprev;
	c->wnext = c->wprev = NULL;
	c->armed = false;
}

static void arm(struct dl_helpers *h, struct hconn *c, size_t want)
{
	size_t most = (size_t)h->conn_cap * DL_HELP_CHUNK;

	c->want = want < most ? want : most;
	if (c->armed)
		return;
	c->armed = true;
	c->wnext = NULL;
	c->wprev = h->wlast;
	if (h->wlast != NULL)
		h->wlast->wnext = c;
	else
		h->wfirst = c;
	h->wlast = c;
}

/* Bytes a copy send on c could take now; *conn_bound set when the
 * connection's own limit is the smaller bound. */
static inline size_t room_of(const struct dl_helpers *h, const struct hconn *c, bool *conn_bound)
{
	size_t tail = c != NULL && c->tail != NO_CHUNK ? DL_HELP_CHUNK - c->tail_fill : 0;
	uint32_t held = c != NULL ? c->nchunks : 0;
	uint32_t left = h->conn_cap > held ? h->conn_cap - held : 0;
	/* Parked chunks of other connections are free for the asking. */
	uint32_t avail =
	    h->nfree + (uint32_t)h->cnt[HC_CHUNKS_PARKED] - (c != NULL && c->parked ? 1 : 0);

	if (conn_bound != NULL)
		*conn_bound = left < avail;
	return tail + (size_t)(left < avail ? left : avail) * DL_HELP_CHUNK;
}

void dl_helpers_wake_slow(struct dl_helpers *h)
{
	struct hconn *c = h->wfirst, *next;

	h->head.wake_pending = 0;
	while (c != NULL) {
		bool conn_bound;
		next = c->wnext;
		if (room_of(h, c, &conn_bound) >= c->want) {
			wait_unlink(h, c);
			h->cnt[HC_WRITABLE]++;
			if (h->ops.writable != NULL)
				h->ops.writable(h->ctx, c->conn);
		} else if (!conn_bound) {
			break; /* short of pool memory: the older waiters first */
		}
		c = next;
	}
}

/* ---- transmit ------------------------------------------------------------------ */

static int send_frags(struct dl_helpers *h, struct hconn *c, const struct dlibos_frag *f,
		      unsigned n)
{
	int rc = h->ops.send(h->ctx, c->conn, f, n);

	if (rc < 0)
		h->cnt[HC_SEND_ERRORS]++;
	return rc;
}

static inline __attribute__((always_inline)) long
send_copy(struct dl_helpers *h, dlibos_conn_t conn, const void *data, size_t len)
{
	const uint8_t *src = data;
	struct dlibos_frag f[SEND_FRAGS];
	unsigned nf = 0;
	size_t taken = 0;
	enum dl_help_cnt why = HC_NCNT;
	struct hconn *c;
	int rc;

	if (len == 0)
		return 0;
	if (!pool_ready(h)) {
		h->cnt[HC_COPY_NO_POOL]++;
		return -ENOMEM;
	}
	c = conn_get(h, conn, true);
	if (c == NULL)
		return h->err;
	if (c->tail != NO_CHUNK && len <= DL_HELP_CHUNK - c->tail_fill) {
		/* The common case: it fits in the tail (parked or not). */
		struct trec *r = rec_last(c);
		uint8_t *dst = chunk_mem(h, c->tail) + c->tail_fill;
		if (r == NULL || r->done != NULL || r->u.chunk != c->tail) {
			r = rec_push(h, c);
			if (r == NULL)
				goto general; /* comes up short there, counted */
			r->done = NULL;
			r->u.chunk = c->tail;
			h->refs[c->tail]++;
		}
		if (c->parked)
			unpark(h, c);
		memcpy(dst, src, len);
		c->sent += len;
		r->end = c->sent;
		c->tail_fill += (uint32_t)len;
		f[0] = (struct dlibos_frag){dst, (uint32_t)len};
		rc = send_frags(h, c, f, 1);
		if (rc < 0)
			return rc;
		h->cnt[HC_COPY_CALLS]++;
		h->cnt[HC_COPY_BYTES] += len;
		return (long)len;
	}
general:
	if (len > INT_MAX)
		len = INT_MAX;
	while (taken < len) {
		bool fresh = false;
		if (c->tail == NO_CHUNK || c->tail_fill == DL_HELP_CHUNK) {
			uint32_t k;
			if (c->nchunks >= h->conn_cap) {
				why = HC_COPY_SHORT_CONN;
				break;
			}
			k = pool_take(h, c->tail == NO_CHUNK ? NO_CHUNK : c->tail + 1);
			if (k == NO_CHUNK) {
				why = HC_COPY_SHORT_POOL;
				break;
			}
			c->tail = k;
			c->tail_fill = 0;
			c->nchunks++;
			fresh = true;
		}
		size_t k = DL_HELP_CHUNK - c->tail_fill;
		if (k > len - taken)
			k = len - taken;
		/* The record first: a new one may need memory. */
		struct trec *r = rec_last(c);
		if (r == NULL || r->done != NULL || r->u.chunk != c->tail) {
			r = rec_push(h, c);
			if (r == NULL) {
				if (fresh) {
					c->nchunks--;
					pool_put(h, c->tail);
					c->tail = NO_CHUNK;
				}
				why = HC_COPY_SHORT_POOL;
				break;
			}
			r->done = NULL;
			r->u.chunk = c->tail;
			h->refs[c->tail]++;
		}
		if (c->parked)
			unpark(h, c);
		uint8_t *dst = chunk_mem(h, c->tail) + c->tail_fill;
		memcpy(dst, src + taken, k);
		c->sent += k;
		r->end = c->sent;
		c->tail_fill += (uint32_t)k;
		taken += k;
		if (nf > 0 && (const uint8_t *)f[nf - 1].base + f[nf - 1].len == dst &&
		    f[nf - 1].len <= UINT32_MAX - k) {
			f[nf - 1].len += (uint32_t)k;
		} else {
			if (nf == SEND_FRAGS) {
				rc = send_frags(h, c, f, nf);
				if (rc < 0)
					return rc;
				nf = 0;
			}
			f[nf++] = (struct dlibos_frag){dst, (uint32_t)k};
		}
	}
	if (nf > 0) {
		rc = send_frags(h, c, f, nf);
		if (rc < 0)
			return rc;
	}
	if (taken > 0) {
		h->cnt[HC_COPY_CALLS]++;
		h->cnt[HC_COPY_BYTES] += taken;
	}
	if (taken < len) {
		/* Wake it once a quarter of its share (or what it still
		 * wants, if less) fits: large copies stream, small ones go
		 * whole. */
		size_t rest = len - taken, quarter = (size_t)h->conn_cap * DL_HELP_CHUNK / 4;
		h->cnt[why]++;
		arm(h, c, rest < quarter ? rest : quarter);
	}
	return (long)taken;
}

size_t dl_helpers_copy_room(struct dl_helpers *h, dlibos_conn_t conn, size_t want)
{
	struct hconn *c;
	size_t room;

	if (!pool_ready(h)) {
		h->cnt[HC_COPY_NO_POOL]++;
		return 0;
	}
	c = conn_get(h, conn, want > 0);
	if (c == NULL && want > 0)
		return 0;
	room = room_of(h, c, NULL);
	if (room < want && c != NULL)
		arm(h, c, want);
	return room;
}

int dl_helpers_send_ref(struct dl_helpers *h, dlibos_conn_t conn, const struct dlibos_frag *frags,
			unsigned n, dlibos_send_done_fn done, void *arg)
{
	struct hconn *c = conn_get(h, conn, true);
	uint64_t bytes = 0;
	struct trec *r = NULL;
	int rc;

	if (c == NULL)
		return h->err;
	for (unsigned i = 0; i < n; i++)
		bytes += frags[i].len;
	if (done != NULL) {
		r = rec_push(h, c);
		if (r == NULL)
			return -ENOMEM;
	}
	rc = send_frags(h, c, frags, n);
	if (rc < 0) {
		if (r != NULL)
			c->rn--; /* the record just pushed: nothing was sent */
		return rc;
	}
	c->sent += bytes;
	if (r != NULL) {
		r->end = c->sent;
		r->done = done;
		r->u.arg = arg;
	}
	h->cnt[HC_REF_SENDS]++;
	return 0;
}

static inline __attribute__((always_inline)) void acked(struct dl_helpers *h, dlibos_conn_t conn,
							uint32_t bytes)
{
	struct hconn *c = conn_get(h, conn, false);
	uint64_t a;

	if (c == NULL)
		return;
	a = c->acked + bytes;
	if (a > c->sent) {
		h->cnt[HC_ACK_BEYOND_SENT] += a - c->sent;
		a = c->sent;
	}
	c->acked = a;
	release(h, c, 0);
}

/* ---- receive queue ------------------------------------------------------------- */

static inline struct dlibos_iov *iq_at(const struct hconn *c, uint32_t i)
{
	return &c->iq[(c->iq_head + i) & (c->iq_cap - 1)];
}

static void rx_drop(struct dl_helpers *h, struct hconn *c)
{
	h->cnt[HC_RX_DROPPED] += c->iq_bytes;
	c->iq_head = c->iq_n = c->iq_off = 0;
	c->iq_bytes = 0;
	c->scan_ok = 0;
}

static inline __attribute__((always_inline)) int rx_push(struct dl_helpers *h, dlibos_conn_t conn,
							 const struct dlibos_iov *iov, unsigned n)
{
	struct hconn *c = conn_get(h, conn, true);
	uint32_t need;

	if (c == NULL)
		return h->err;
	if (n == 1 && c->iq_n < c->iq_cap && !c->closed) {
		/* The common case: one piece, room in the ring. */
		if (iov->len != 0) {
			c->iq[(c->iq_head + c->iq_n++) & (c->iq_cap - 1)] = *iov;
			c->iq_bytes += iov->len;
			h->cnt[HC_RX_BYTES] += iov->len;
		}
		return 0;
	}
	if (c->closed) {
		for (unsigned i = 0; i < n; i++)
			h->cnt[HC_RX_DROPPED] += iov[i].len;
		return 0;
	}
	if (n > DL_HELP_RX_PIECES_MAX - c->iq_n) {
		h->cnt[HC_RX_OVERFLOW]++;
		return -ENOBUFS;
	}
	need = c->iq_n + n;
	if (need > c->iq_cap) {
		uint32_t cap = c->iq_cap * 2;
		while (cap < need)
			cap *= 2;
		struct dlibos_iov *q = malloc(cap * sizeof(*q));
		if (q == NULL) {
			h->cnt[HC_STATE_NOMEM]++;
			return -ENOMEM;
		}
		for (uint32_t i = 0; i < c->iq_n; i++)
			q[i] = *iq_at(c, i);
		if (c->iq != c->iqin)
			free(c->iq);
		c->iq = q;
		c->iq_cap = cap;
		c->iq_head = 0;
	}
	for (unsigned i = 0; i < n; i++) {
		if (iov[i].len == 0)
			continue;
		c->iq[(c->iq_head + c->iq_n++) & (c->iq_cap - 1)] = iov[i];
		c->iq_bytes += iov[i].len;
		h->cnt[HC_RX_BYTES] += iov[i].len;
	}
	return 0;
}

uint64_t dl_helpers_rx_avail(struct dl_helpers *h, dlibos_conn_t conn)
{
	struct hconn *c = conn_get(h, conn, false);

	return c != NULL ? c->iq_bytes : 0;
}

static inline __attribute__((always_inline)) int rx_peek(struct dl_helpers *h, dlibos_conn_t conn,
							 struct dlibos_iov *out)
{
	struct hconn *c = conn_get(h, conn, false);
	const struct dlibos_iov *v;

	if (c == NULL || c->iq_n == 0)
		return 0;
	v = iq_at(c, 0);
	out->base = v->base + c->iq_off;
	out->len = v->len - c->iq_off;
	return 1;
}

/* Copy n queued bytes from the front (n <= iq_bytes), without consuming. */
static void rx_peek_bytes(const struct hconn *c, uint8_t *dst, size_t n)
{
	uint32_t off = c->iq_off;

	for (uint32_t i = 0; n > 0; i++) {
		const struct dlibos_iov *v = iq_at(c, i);
		size_t k = v->len - off < n ? v->len - off : n;
		memcpy(dst, v->base + off, k);
		dst += k;
		n -= k;
		off = 0;
	}
}

/* The first len bytes (len <= iq_bytes): in place, or copied into buf. */
static int gather(struct dl_helpers *h, struct hconn *c, size_t len, void *buf,
		  struct dlibos_iov *msg)
{
	const struct dlibos_iov *v = iq_at(c, 0);

	if (v->len - c->iq_off >= len) {
		msg->base = v->base + c->iq_off;
	} else {
		if (buf == NULL)
			return -EINVAL;
		rx_peek_bytes(c, buf, len);
		msg->base = buf;
		h->cnt[HC_RX_GATHERED]++;
	}
	msg->len = (uint32_t)len;
	return 1;
}

int dl_helpers_rx_line(struct dl_helpers *h, dlibos_conn_t conn, int delim, void *buf, size_t cap,
		       struct dlibos_iov *msg)
{
	struct hconn *c = conn_get(h, conn, false);
	uint64_t pos = 0, from;
	uint32_t off;

	if (cap > UINT32_MAX)
		cap = UINT32_MAX;
	if (c == NULL || c->iq_n == 0)
		return 0;
	from = c->scan_delim == delim ? c->scan_ok : 0;
	off = c->iq_off;
	for (uint32_t i = 0; i < c->iq_n && pos < cap; i++) {
		const struct dlibos_iov *v = iq_at(c, i);
		uint32_t len = v->len - off;
		if (pos + len > from) {
			uint32_t skip = from > pos ? (uint32_t)(from - pos) : 0;
			const uint8_t *p = memchr(v->base + off + skip, delim, len - skip);
			if (p != NULL) {
				uint64_t total = pos + (uint64_t)(p - (v->base + off)) + 1;
				c->scan_delim = delim;
				c->scan_ok = total - 1;
				if (total > cap) {
					h->cnt[HC_RX_TOO_LONG]++;
					return -EMSGSIZE;
				}
				return gather(h, c, (size_t)total, buf, msg);
			}
		}
		pos += len;
		off = 0;
	}
	c->scan_delim = delim;
	c->scan_ok = pos;
	if (pos >= cap) {
		h->cnt[HC_RX_TOO_LONG]++;
		return -EMSGSIZE;
	}
	return 0;
}

int dl_helpers_rx_fixed(struct dl_helpers *h, dlibos_conn_t conn, size_t len, void *buf,
			struct dlibos_iov *msg)
{
	struct hconn *c = conn_get(h, conn, false);

	if (len == 0 || len > UINT32_MAX)
		return -EINVAL;
	if (c == NULL || c->iq_bytes < len)
		return 0;
	return gather(h, c, len, buf, msg);
}

int dl_helpers_rx_frame(struct dl_helpers *h, dlibos_conn_t conn,
			const struct dlibos_frame_fmt *fmt, void *buf, size_t cap,
			struct dlibos_iov *msg)
{
	struct hconn *c = conn_get(h, conn, false);
	uint8_t hdr[DL_HELP_FRAME_HDR_MAX];
	uint64_t v = 0, total;

	if (fmt == NULL || fmt->hdr_len == 0 || fmt->hdr_len > DL_HELP_FRAME_HDR_MAX ||
	    (fmt->len_size != 1 && fmt->len_size != 2 && fmt->len_size != 4 &&
	     fmt->len_size != 8) ||
	    fmt->len_off > fmt->hdr_len - fmt->len_size)
		return -EINVAL;
	if (c == NULL || c->iq_bytes < fmt->hdr_len)
		return 0;
	rx_peek_bytes(c, hdr, fmt->len_off + fmt->len_size);
	for (unsigned i = 0; i < fmt->len_size; i++)
		v = v << 8 | hdr[fmt->len_off + i];
	if (fmt->len_includes_hdr) {
		total = v;
		if (total < fmt->hdr_len) {
			h->cnt[HC_RX_TOO_LONG]++;
			return -EMSGSIZE;
		}
	} else {
		if (v > UINT64_MAX - fmt->hdr_len) {
			h->cnt[HC_RX_TOO_LONG]++;
			return -EMSGSIZE;
		}
		total = v + fmt->hdr_len;
	}
	if (total > cap || total > UINT32_MAX) {
		h->cnt[HC_RX_TOO_LONG]++;
		return -EMSGSIZE;
	}
	if (c->iq_bytes < total)
		return 0;
	return gather(h, c, (size_t)total, buf, msg);
}

/* Drop n bytes (n <= iq_bytes) from the front, without returning them. */
static inline void rx_advance(struct hconn *c, uint64_t n)
{
	c->iq_bytes -= n;
	if (c->scan_ok != 0)
		c->scan_ok = c->scan_ok > n ? c->scan_ok - n : 0;
	while (n > 0) {
		const struct dlibos_iov *v = iq_at(c, 0);
		uint32_t rem = v->len - c->iq_off;
		if (n < rem) {
			c->iq_off += (uint32_t)n;
			return;
		}
		n -= rem;
		c->iq_head = (c->iq_head + 1) & (c->iq_cap - 1);
		c->iq_n--;
		c->iq_off = 0;
	}
}

static inline int rx_return(struct dl_helpers *h, struct hconn *c, uint64_t n)
{
	int rc = 0;

	if (__builtin_expect(n <= UINT32_MAX, 1))
		return h->ops.recv_done(h->ctx, c->conn, (uint32_t)n);
	while (n > 0) {
		uint32_t k = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
		int r = h->ops.recv_done(h->ctx, c->conn, k);
		if (r < 0)
			rc = r;
		n -= k;
	}
	return rc;
}

static inline __attribute__((always_inline)) long rx_consume(struct dl_helpers *h,
							     dlibos_conn_t conn, size_t bytes)
{
	struct hconn *c = conn_get(h, conn, false);

	if (c == NULL)
		return bytes == 0 ? 0 : -EINVAL;
	if (bytes == 0 || c->closed)
		return c->iq_bytes > LONG_MAX ? LONG_MAX : (long)c->iq_bytes;
	if (bytes > c->iq_bytes) {
		h->cnt[HC_RX_BAD_CONSUME]++;
		return -EINVAL;
	}
	rx_advance(c, bytes);
	rx_return(h, c, bytes);
	return c->iq_bytes > LONG_MAX ? LONG_MAX : (long)c->iq_bytes;
}

size_t dl_helpers_rx_copy(struct dl_helpers *h, dlibos_conn_t conn, void *dst, size_t len)
{
	struct hconn *c = conn_get(h, conn, false);

	if (c == NULL || len == 0 || c->iq_bytes == 0)
		return 0;
	if (len > c->iq_bytes)
		len = (size_t)c->iq_bytes;
	rx_peek_bytes(c, dst, len);
	rx_advance(c, len);
	rx_return(h, c, len);
	return len;
}

/* ---- connection life ------------------------------------------------------------ */

void dl_helpers_remote_closed(struct dl_helpers *h, dlibos_conn_t conn,
			      enum dlibos_close_reason why)
{
	struct hconn *c;

	if (why == DLIBOS_CLOSED_FIN)
		return;
	c = conn_get(h, conn, false);
	if (c != NULL) {
		rx_drop(h, c);
		c->closed = true;
	}
}

void dl_helpers_closed(struct dl_helpers *h, dlibos_conn_t conn)
{
	struct hconn *c = conn_get(h, conn, false);

	if (c != NULL) {
		rx_drop(h, c);
		c->closed = true;
	}
}

static void conn_end(struct dl_helpers *h, struct hconn *c)
{
	release(h, c, -ECONNABORTED);
	if (c->parked)
		unpark_free(h, c);
	wait_unlink(h, c);
	rx_drop(h, c);
	conn_free(h, c);
}

void dl_helpers_cleanup(struct dl_helpers *h, dlibos_conn_t conn)
{
	struct hconn *c = conn_get(h, conn, false);

	if (c != NULL)
		conn_end(h, c);
}

void dl_helpers_abort_all(struct dl_helpers *h)
{
	for (size_t i = 0; i <= h->mask;) {
		if (h->slots[i].key == DLIBOS_CONN_NONE) {
			i++;
			continue;
		}
		/* The deletion may shift another entry into slot i: look again. */
		h->cnt[HC_LEFT_AT_STOP]++;
		conn_end(h, h->slots[i].v);
	}
	h->wfirst = h->wlast = NULL;
	h->head.wake_pending = 0;
}

/* ---- inspection ------------------------------------------------------------------ */

void dl_helpers_pool_state(const struct dl_helpers *h, uint32_t *chunks, uint32_t *free_chunks,
			   uint32_t *parked)
{
	*chunks = h->nchunks;
	*free_chunks = h->nfree;
	*parked = (uint32_t)h->cnt[HC_CHUNKS_PARKED];
}

const uint8_t *dl_helpers_pool_mem(const struct dl_helpers *h, size_t *len)
{
	*len = h->pool_len;
	return h->pool;
}

bool dl_helpers_pool_holds(const struct dl_helpers *h, const void *p)
{
	const uint8_t *b = p;
	size_t k;

	if (h->pool == NULL || b < h->pool || b >= h->pool + (size_t)h->nchunks * DL_HELP_CHUNK)
		return false;
	k = (size_t)(b - h->pool) / DL_HELP_CHUNK;
	return !(h->freemap[k / 64] >> (k % 64) & 1);
}

uint32_t dl_helpers_conn_chunks(struct dl_helpers *h, dlibos_conn_t conn)
{
	struct hconn *c = conn_get(h, conn, false);

	return c != NULL ? c->nchunks : 0;
}

unsigned dl_helpers_conns(const struct dl_helpers *h)
{
	return (unsigned)h->n;
}

/* ---- the functions of dl_helpers.h that the hot paths inline ---------------------- */

long dl_helpers_send_copy(struct dl_helpers *h, dlibos_conn_t conn, const void *data, size_t len)
{
	return send_copy(h, conn, data, len);
}

void dl_helpers_acked(struct dl_helpers *h, dlibos_conn_t conn, uint32_t bytes)
{
	acked(h, conn, bytes);
}

int dl_helpers_rx_push(struct dl_helpers *h, dlibos_conn_t conn, const struct dlibos_iov *iov,
		       unsigned n)
{
	return rx_push(h, conn, iov, n);
}

int dl_helpers_rx_peek(struct dl_helpers *h, dlibos_conn_t conn, struct dlibos_iov *out)
{
	return rx_peek(h, conn, out);
}

long dl_helpers_rx_consume(struct dl_helpers *h, dlibos_conn_t conn, size_t bytes)
{
	return rx_consume(h, conn, bytes);
}

/* ---- the wrappers of an application core's callbacks -------------------------------- */

void dl_helpers_on_data_acked(struct dlibos_core *a, dlibos_conn_t conn, uint32_t bytes)
{
	struct dl_apphelp *ah = a->help;

	acked(ah->h, conn, bytes);
	if (ah->app->data_acked != NULL)
		ah->app->data_acked(a, conn, bytes);
	dl_helpers_wake(ah->h);
}

void dl_helpers_on_remote_closed(struct dlibos_core *a, dlibos_conn_t conn,
				 enum dlibos_close_reason why)
{
	struct dl_apphelp *ah = a->help;

	dl_helpers_remote_closed(ah->h, conn, why);
	if (ah->app->remote_closed != NULL)
		ah->app->remote_closed(a, conn, why);
	dl_helpers_wake(ah->h);
}

void dl_helpers_on_cleanup(struct dlibos_core *a, dlibos_conn_t conn)
{
	struct dl_apphelp *ah = a->help;

	dl_helpers_cleanup(ah->h, conn);
	if (ah->app->cleanup != NULL)
		ah->app->cleanup(a, conn);
	dl_helpers_wake(ah->h);
}

/* ---- the public functions (dlibos.h) ------------------------------------------------ */

/* The core's helpers (created at its first helper call), or NULL with *err
 * set. Connections are checked (this core owns them) once, when the
 * helpers create their state (the owns operation): a wrong handle gets
 * -EINVAL then. */
static inline struct dl_helpers *help(struct dlibos_core *a, int *err)
{
	if (__builtin_expect(a->help != NULL, 1))
		return a->help->h;
	*err = -ENOMEM;
	return dl_apphelp_create(a);
}

/* The receive side only reads what dlibos_rx_push queued: a core without
 * helpers has nothing queued. */
static inline struct dl_helpers *rx_of(const struct dlibos_core *a)
{
	return a->help != NULL ? a->help->h : NULL;
}

int dlibos_send_copy(struct dlibos_core *a, dlibos_conn_t conn, const void *data, size_t len)
{
	int err = 0;
	struct dl_helpers *h = help(a, &err);
	long r;

	if (h == NULL)
		return err;
	if (data == NULL && len > 0)
		return -EINVAL;
	r = send_copy(h, conn, data, len);
	return r == -ENOENT ? -EINVAL : (int)r;
}

size_t dlibos_send_copy_room(struct dlibos_core *a, dlibos_conn_t conn, size_t want)
{
	int err = 0;
	struct dl_helpers *h = help(a, &err);

	return h != NULL ? dl_helpers_copy_room(h, conn, want) : 0;
}

int dlibos_send_ref(struct dlibos_core *a, dlibos_conn_t conn, const struct dlibos_frag *frags,
		    unsigned n, dlibos_send_done_fn done, void *arg)
{
	int err = 0;
	struct dl_helpers *h = help(a, &err);
	int r;

	if (h == NULL)
		return err;
	if (frags == NULL || n == 0)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		if (frags[i].len == 0)
			return -EINVAL;
		if (!dl_txmem_contains(a->txmem, frags[i].base, frags[i].len))
			return -EFAULT;
	}
	r = dl_helpers_send_ref(h, conn, frags, n, done, arg);
	return r == -ENOENT ? -EINVAL : r;
}

int dlibos_rx_push(struct dlibos_core *a, dlibos_conn_t conn, const struct dlibos_iov *iov,
		   unsigned n)
{
	int err = 0;
	struct dl_helpers *h = help(a, &err);
	int r;

	if (h == NULL)
		return err;
	if (iov == NULL && n > 0)
		return -EINVAL;
	r = rx_push(h, conn, iov, n);
	return r == -ENOENT ? -EINVAL : r;
}

uint64_t dlibos_rx_avail(struct dlibos_core *a, dlibos_conn_t conn)
{
	struct dl_helpers *h = rx_of(a);

	return h != NULL ? dl_helpers_rx_avail(h, conn) : 0;
}

int dlibos_rx_peek(struct dlibos_core *a, dlibos_conn_t conn, struct dlibos_iov *out)
{
	struct dl_helpers *h = rx_of(a);

	if (out == NULL)
		return -EINVAL;
	return h != NULL ? rx_peek(h, conn, out) : 0;
}

int dlibos_rx_line(struct dlibos_core *a, dlibos_conn_t conn, int delim, void *buf, size_t cap,
		   struct dlibos_iov *msg)
{
	struct dl_helpers *h = rx_of(a);

	if (msg == NULL || buf == NULL || cap == 0 || delim < 0 || delim > 255)
		return -EINVAL;
	return h != NULL ? dl_helpers_rx_line(h, conn, delim, buf, cap, msg) : 0;
}

int dlibos_rx_fixed(struct dlibos_core *a, dlibos_conn_t conn, size_t len, void *buf,
		    struct dlibos_iov *msg)
{
	struct dl_helpers *h = rx_of(a);

	if (msg == NULL || buf == NULL || len == 0)
		return -EINVAL;
	return h != NULL ? dl_helpers_rx_fixed(h, conn, len, buf, msg) : 0;
}

int dlibos_rx_frame(struct dlibos_core *a, dlibos_conn_t conn, const struct dlibos_frame_fmt *fmt,
		    void *buf, size_t cap, struct dlibos_iov *msg)
{
	struct dl_helpers *h = rx_of(a);

	if (msg == NULL || buf == NULL || fmt == NULL)
		return -EINVAL;
	return h != NULL ? dl_helpers_rx_frame(h, conn, fmt, buf, cap, msg) : 0;
}

size_t dlibos_rx_copy(struct dlibos_core *a, dlibos_conn_t conn, void *dst, size_t len)
{
	struct dl_helpers *h = rx_of(a);

	if (dst == NULL)
		return 0;
	return h != NULL ? dl_helpers_rx_copy(h, conn, dst, len) : 0;
}

long dlibos_rx_consume(struct dlibos_core *a, dlibos_conn_t conn, size_t bytes)
{
	struct dl_helpers *h = rx_of(a);

	if (h == NULL)
		return bytes == 0 ? 0 : -EINVAL;
	return rx_consume(h, conn, bytes);
}
