/*
 * dl_helpers_impl.h - inside the send and receive helpers (dl_helpers.h):
 * the state of a core and of a connection, and the functions of the hot
 * paths, inline, so that the public functions (apphelp.c) and the ones of
 * dl_helpers.h (helpers.c) share them without a call in between. Private
 * to helpers.c and apphelp.c.
 */
#ifndef DL_HELPERS_IMPL_H
#define DL_HELPERS_IMPL_H

#include "dl_helpers.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* How the hot paths send and return received bytes: through the
 * operations table, unless the including file binds them directly
 * (apphelp.c: dlibos_send and dlibos_recv_done, no indirect call). */
#ifndef DL_HELP_SEND
#define DL_HELP_SEND(h, conn, f, n) ((h)->ops.send((h)->ctx, (conn), (f), (n)))
#endif
#ifndef DL_HELP_RECV_DONE
#define DL_HELP_RECV_DONE(h, conn, bytes) ((h)->ops.recv_done((h)->ctx, (conn), (bytes)))
#endif

#define NO_CHUNK   UINT32_MAX
#define REC_INLINE 4u
#define IQ_INLINE  8u
#define SEND_FRAGS 32u

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
	uint32_t park_min; /* park only with more free chunks than this */
	uint64_t *freemap; /* bit set: chunk free */
	uint32_t *refs;	   /* records referencing each chunk */
	bool pool_failed;
	/* connections armed for writable, in arming order */
	struct hconn *wfirst, *wlast;
	uint64_t cnt[HC_NCNT];
	struct dl_counter_block blk;
	bool registered;
};

/* Out of line (helpers.c): the rare paths. */
struct hconn *dl_help_conn_find(struct dl_helpers *h, dlibos_conn_t k, bool create);
bool dl_help_pool_setup(struct dl_helpers *h);
void dl_help_reclaim_parked(struct dl_helpers *h);
bool dl_help_rec_grow(struct dl_helpers *h, struct hconn *c);
void dl_help_arm(struct dl_helpers *h, struct hconn *c, size_t want);

/* ---- connection table ------------------------------------------------------ */

static inline size_t slot_of(dlibos_conn_t k, size_t mask)
{
	k ^= k >> 29;
	k *= 0xbf58476d1ce4e5b9ull;
	k ^= k >> 32;
	return (size_t)k & mask;
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

/* The state of a connection: the last one looked up, inline. */
static inline __attribute__((always_inline)) struct hconn *conn_get(struct dl_helpers *h,
								    dlibos_conn_t k, bool create)
{
	struct hconn *c = h->last;

	if (__builtin_expect(c != NULL && c->conn == k, 1))
		return c;
	return dl_help_conn_find(h, k, create);
}

static inline bool pool_ready(struct dl_helpers *h)
{
	return __builtin_expect(h->pool != NULL, 1) || dl_help_pool_setup(h);
}

/* A connection whose copies are all acknowledged keeps its tail chunk,
 * empty, for its next copy (a request/response connection would otherwise
 * take and give back a chunk per exchange). When the pool has no free
 * chunk, every parked one goes back at once (a walk over the connections,
 * rare); no chunk is parked while a connection waits for memory, nor when
 * an eighth of the pool or less is free. */
static inline void park(struct dl_helpers *h, struct hconn *c)
{
	c->parked = true;
	h->cnt[HC_CHUNKS_PARKED]++;
}

/* ---- parked tails ------------------------------------------------------------ */

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

/* A free chunk, `prefer` if it is free (the one after a connection's tail:
 * its bytes then continue the same fragment), else a parked one taken
 * back; NO_CHUNK when none. */
static inline uint32_t pool_take(struct dl_helpers *h, uint32_t prefer)
{
	uint32_t k, w, words = (h->nchunks + 63) / 64;

	if (h->nfree == 0) {
		if (h->cnt[HC_CHUNKS_PARKED] == 0)
			return NO_CHUNK;
		dl_help_reclaim_parked(h);
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
		/* Parked only while memory is plentiful: under pressure a
		 * dry pool would walk the connections for one chunk. */
		if (h->wfirst == NULL && h->nfree > h->park_min) {
			c->tail_fill = 0;
			park(h, c);
			return;
		}
		c->tail = NO_CHUNK;
	}
	c->nchunks--;
	pool_put(h, k);
}

/* A new record at the back (NULL when out of memory). */
static inline struct trec *rec_push(struct dl_helpers *h, struct hconn *c)
{
	if (__builtin_expect(c->rn == c->rcap, 0) && !dl_help_rec_grow(h, c))
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

/* ---- transmit ------------------------------------------------------------------ */

static inline int send_frags(struct dl_helpers *h, struct hconn *c, const struct dlibos_frag *f,
			     unsigned n)
{
	int rc = DL_HELP_SEND(h, c->conn, f, n);

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
		dl_help_arm(h, c, rest < quarter ? rest : quarter);
	}
	return (long)taken;
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
		return DL_HELP_RECV_DONE(h, c->conn, (uint32_t)n);
	while (n > 0) {
		uint32_t k = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
		int r = DL_HELP_RECV_DONE(h, c->conn, k);
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

#endif
