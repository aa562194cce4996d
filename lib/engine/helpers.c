/*
 * helpers.c - the send and receive helpers of one application core (see
 * dl_helpers.h for the design: chunk pool, per-connection release records,
 * writable FIFO, receive queue).
 */
#include "dl_helpers_impl.h"

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
struct hconn *dl_help_conn_find(struct dl_helpers *h, dlibos_conn_t k, bool create)
{
	struct hconn *c;

	if (k == DLIBOS_CONN_NONE) { /* the table's empty key: never a connection */
		h->err = -ENOENT;
		return NULL;
	}
	c = table_find(h, k);
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

bool dl_helpers_pool_prepare(struct dl_helpers *h)
{
	return pool_ready(h);
}

const uint64_t *dl_helpers_counters(const struct dl_helpers *h)
{
	return h->cnt;
}

/* ---- copy pool ------------------------------------------------------------ */

bool dl_help_pool_setup(struct dl_helpers *h)
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
	h->park_min = h->nchunks / 8;
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
void dl_help_reclaim_parked(struct dl_helpers *h)
{
	for (size_t i = 0; i <= h->mask && h->cnt[HC_CHUNKS_PARKED] > 0; i++)
		if (h->slots[i].key != DLIBOS_CONN_NONE && h->slots[i].v->parked)
			unpark_free(h, h->slots[i].v);
	h->cnt[HC_PARKED_RECLAIMS]++;
}

/* ---- release records ----------------------------------------------------- */

/* Double a connection's record ring; false when out of memory. */
bool dl_help_rec_grow(struct dl_helpers *h, struct hconn *c)
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

void dl_help_arm(struct dl_helpers *h, struct hconn *c, size_t want)
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
		dl_help_arm(h, c, want);
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

static void rx_drop(struct dl_helpers *h, struct hconn *c)
{
	h->cnt[HC_RX_DROPPED] += c->iq_bytes;
	c->iq_head = c->iq_n = c->iq_off = 0;
	c->iq_bytes = 0;
	c->scan_ok = 0;
}

uint64_t dl_helpers_rx_avail(struct dl_helpers *h, dlibos_conn_t conn)
{
	struct hconn *c = conn_get(h, conn, false);

	return c != NULL ? c->iq_bytes : 0;
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
