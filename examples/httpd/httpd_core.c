/*
 * httpd_core.c - connections, request processing, Date prefix sets and
 * counters of one dlibos-httpd application core (see httpd_core.h).
 *
 * Everything here runs on one application core: no locks. The document
 * root (struct httpd_files) is shared read-only by all cores.
 *
 * Commands that may end a connection (close) are always the last thing a
 * function does with it: in run-to-completion mode the runtime may deliver
 * `cleanup` from inside the command, which recycles the connection slot.
 */
#include "httpd_core.h"

#include "../common/connmap.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

const char *const httpd_cnt_names[HTTPD_NCNT] = {
    [HTTPD_C_REQUESTS] = "requests",
    [HTTPD_C_REQ_HEAD] = "requests_head",
    [HTTPD_C_REQ_REUSED] = "requests_on_kept_alive_conns",
    [HTTPD_C_REQ_SPLIT] = "requests_split_copied",
    [HTTPD_C_S200] = "status_200",
    [HTTPD_C_S301] = "status_301",
    [HTTPD_C_S400] = "status_400",
    [HTTPD_C_S404] = "status_404",
    [HTTPD_C_S405] = "status_405",
    [HTTPD_C_S414] = "status_414",
    [HTTPD_C_S431] = "status_431",
    [HTTPD_C_S505] = "status_505",
    [HTTPD_C_BYTES_SENT] = "bytes_sent",
    [HTTPD_C_BODY_DISCARDED] = "request_body_bytes_discarded",
    [HTTPD_C_CONNS_ACCEPTED] = "conns_accepted",
    [HTTPD_C_CONNS_REFUSED] = "conns_refused_limit",
    [HTTPD_C_CONNS_CLOSED] = "conns_closed",
    [HTTPD_C_CONNS_IDLE_CLOSED] = "conns_closed_idle",
    [HTTPD_C_CONNS_RESET] = "conns_reset_by_peer",
    [HTTPD_C_PAUSED] = "paused_inflight_full",
    [HTTPD_C_DATE_UPDATES] = "date_updates",
    [HTTPD_C_DATE_SETS] = "date_prefix_sets",
    [HTTPD_C_DATE_STALE] = "date_stale_all_sets_busy",
    [HTTPD_C_SEND_FAILED] = "send_failed",
    [HTTPD_C_CMD_ERRORS] = "cmd_errors",
    [HTTPD_C_ACK_UNEXPECTED] = "acked_bytes_unexpected",
    [HTTPD_C_NOMEM] = "nomem",
    [HTTPD_C_PEND_OVERFLOW] = "pending_iovecs_overflow",
};

static const enum httpd_cnt status_cnt[HTTP_S_COUNT] = {
    [HTTP_S_200] = HTTPD_C_S200, [HTTP_S_301] = HTTPD_C_S301, [HTTP_S_400] = HTTPD_C_S400,
    [HTTP_S_404] = HTTPD_C_S404, [HTTP_S_405] = HTTPD_C_S405, [HTTP_S_414] = HTTPD_C_S414,
    [HTTP_S_431] = HTTPD_C_S431, [HTTP_S_505] = HTTPD_C_S505,
};

#define PEND_INLINE  8
#define BUF_POOL_MAX 64

enum hc_state { HC_OPEN, HC_DRAINING, HC_CLOSED };

/* A queued response: prefix then entity; releases prefix set `set` once
 * all of it is acknowledged. */
struct hrec {
	const uint8_t *pre;
	const uint8_t *ent;
	uint32_t pre_len;
	uint32_t set;
	uint64_t ent_len;
};

struct hconn {
	dlibos_conn_t id;
	enum hc_state state;
	bool peer_closed;
	bool in_pump;
	bool in_lru;
	bool stalled; /* paused on HTTPD_MAX_INFLIGHT */
	uint32_t requests;
	/* Received, not yet returned: pend[pend_head .. pend_head + npend). */
	struct dlibos_iov *pend;
	unsigned pend_head, npend, pend_cap;
	uint32_t pend_off; /* bytes of pend[pend_head] already consumed */
	uint64_t consumed; /* consumed from pend, not yet returned (recv_done) */
	struct dlibos_iov pend_inline[PEND_INLINE];
	uint8_t *buf; /* a split request head (limits.max_head bytes) */
	uint32_t buf_len;
	uint64_t discard; /* request body bytes still to skip */
	/* Responses not fully acknowledged: recs[rec_head + i], i < nrecs;
	 * the ones from send_idx on are not fully sent (send_off of that one). */
	struct hrec recs[HTTPD_MAX_INFLIGHT];
	unsigned rec_head, nrecs, send_idx;
	uint64_t send_off; /* bytes of recs[send_idx] sent */
	uint64_t ack_off;  /* bytes of recs[rec_head] acknowledged */
	uint64_t unacked;  /* sent, not acknowledged */
	bool want_shut;	   /* SHUT_WR once everything is sent */
	bool shut_done;
	bool want_close; /* close once everything is sent */
	uint64_t last_us;
	struct hconn *prev, *next; /* idle (LRU) list, or free list via next */
};

struct pset {
	uint8_t *mem;
	uint32_t refs;
};

struct httpd_core {
	struct httpd_config cfg;
	const struct httpd_files *files;
	struct httpd_ops ops;
	void *ctx;
	struct connmap map;
	struct hconn *conns, *free;
	struct hconn *lru_head, *lru_tail; /* oldest activity first */
	unsigned nconns;
	uint8_t *bufpool[BUF_POOL_MAX];
	unsigned nbufpool;
	struct http_prefix_layout layout;
	struct pset sets[HTTPD_MAX_SETS];
	unsigned nsets, cur;
	int64_t cur_sec;
	uint64_t next_tick_us;
	uint64_t cnt[HTTPD_NCNT];
};

/* ---- idle list ------------------------------------------------------------ */

static void lru_unlink(struct httpd_core *hc, struct hconn *c)
{
	if (!c->in_lru)
		return;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		hc->lru_head = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	else
		hc->lru_tail = c->prev;
	c->prev = c->next = NULL;
	c->in_lru = false;
}

static void lru_touch(struct httpd_core *hc, struct hconn *c, uint64_t now_us)
{
	c->last_us = now_us;
	if (c->state == HC_CLOSED)
		return;
	lru_unlink(hc, c);
	c->prev = hc->lru_tail;
	if (hc->lru_tail != NULL)
		hc->lru_tail->next = c;
	else
		hc->lru_head = c;
	hc->lru_tail = c;
	c->in_lru = true;
}

/* ---- prefix sets -------------------------------------------------------- */

static int add_set(struct httpd_core *hc, const char *date)
{
	if (hc->nsets == HTTPD_MAX_SETS)
		return -1;
	uint8_t *mem = hc->ops.tx_alloc(hc->layout.size);
	if (mem == NULL) {
		hc->cnt[HTTPD_C_NOMEM]++;
		return -1;
	}
	http_prefix_build(mem, hc->layout.size, &hc->layout, hc->cfg.server, hc->cfg.keepalive_s,
			  date);
	hc->sets[hc->nsets] = (struct pset){.mem = mem, .refs = 0};
	hc->cnt[HTTPD_C_DATE_SETS]++;
	return (int)hc->nsets++;
}

/* Make the current set show second `sec`, never touching a referenced set. */
static int new_second(struct httpd_core *hc, int64_t sec)
{
	char date[HTTP_DATE_LEN + 1];
	unsigned i = hc->cur;

	http_date_format(sec, date);
	if (hc->sets[i].refs != 0) {
		for (i = 0; i < hc->nsets && hc->sets[i].refs != 0; i++)
			;
		if (i == hc->nsets) {
			int k = add_set(hc, date);
			if (k < 0) {
				hc->cnt[HTTPD_C_DATE_STALE]++;
				return -1;
			}
			i = (unsigned)k;
		}
	}
	http_prefix_set_date(hc->sets[i].mem, &hc->layout, date);
	hc->cur = i;
	hc->cur_sec = sec;
	hc->cnt[HTTPD_C_DATE_UPDATES]++;
	return 0;
}

static void set_release(struct httpd_core *hc, uint32_t set)
{
	assert(set < hc->nsets && hc->sets[set].refs > 0);
	hc->sets[set].refs--;
}

/* ---- buffers and received data -------------------------------------------- */

static uint8_t *buf_get(struct httpd_core *hc)
{
	if (hc->nbufpool > 0)
		return hc->bufpool[--hc->nbufpool];
	return malloc(hc->cfg.limits.max_head);
}

static void buf_put(struct httpd_core *hc, struct hconn *c)
{
	if (c->buf == NULL)
		return;
	if (hc->nbufpool < BUF_POOL_MAX)
		hc->bufpool[hc->nbufpool++] = c->buf;
	else
		free(c->buf);
	c->buf = NULL;
	c->buf_len = 0;
}

static void buf_consume(struct httpd_core *hc, struct hconn *c, uint32_t n)
{
	assert(n <= c->buf_len);
	memmove(c->buf, c->buf + n, c->buf_len - n);
	c->buf_len -= n;
	if (c->buf_len == 0)
		buf_put(hc, c);
}

static int pend_push(struct hconn *c, const struct dlibos_iov *iov, unsigned n)
{
	if (c->pend_head + c->npend + n > c->pend_cap && c->pend_head > 0) {
		memmove(c->pend, c->pend + c->pend_head, c->npend * sizeof(*c->pend));
		c->pend_head = 0;
	}
	if (c->npend + n > c->pend_cap) {
		unsigned cap = c->pend_cap;
		while (cap < c->npend + n)
			cap *= 2;
		if (cap > HTTPD_MAX_PEND)
			return -1;
		struct dlibos_iov *p = malloc(cap * sizeof(*p));
		if (p == NULL)
			return -1;
		memcpy(p, c->pend, c->npend * sizeof(*p));
		if (c->pend != c->pend_inline)
			free(c->pend);
		c->pend = p;
		c->pend_cap = cap;
	}
	for (unsigned i = 0; i < n; i++)
		if (iov[i].len > 0)
			c->pend[c->pend_head + c->npend++] = iov[i];
	return 0;
}

/* The unconsumed part of the oldest pending iovec. */
static const uint8_t *pend_first(const struct hconn *c, uint32_t *len)
{
	const struct dlibos_iov *v = &c->pend[c->pend_head];

	assert(c->npend > 0 && c->pend_off < v->len);
	*len = v->len - c->pend_off;
	return v->base + c->pend_off;
}

/* Consume n bytes of the oldest pending iovec (n <= its unconsumed part). */
static void pend_take(struct hconn *c, uint32_t n)
{
	const struct dlibos_iov *v = &c->pend[c->pend_head];

	assert(c->npend > 0 && n <= v->len - c->pend_off);
	c->consumed += n;
	c->pend_off += n;
	if (c->pend_off == v->len) {
		c->pend_head++;
		c->npend--;
		c->pend_off = 0;
		if (c->npend == 0)
			c->pend_head = 0;
	}
}

/* Consume everything pending. */
static void pend_drop(struct hconn *c)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < c->npend; i++)
		n += c->pend[c->pend_head + i].len;
	c->consumed += n - c->pend_off;
	c->npend = c->pend_head = 0;
	c->pend_off = 0;
}

static void recv_done(struct httpd_core *hc, struct hconn *c, uint64_t n)
{
	while (n > 0) {
		uint32_t k = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
		hc->ops.recv_done(hc->ctx, c->id, k);
		n -= k;
	}
}

/* ---- closing -------------------------------------------------------------- */

/* Return everything received (a close with unreturned data is a reset)
 * and close; the slot may be recycled on return. */
static void do_close(struct httpd_core *hc, struct hconn *c)
{
	if (c->state == HC_CLOSED)
		return;
	pend_drop(c);
	if (c->consumed > 0)
		recv_done(hc, c, c->consumed);
	c->consumed = 0;
	c->state = HC_CLOSED;
	lru_unlink(hc, c);
	hc->ops.close(hc->ctx, c->id);
}

static uint64_t rec_len(const struct hrec *r)
{
	return r->pre_len + r->ent_len;
}

static struct hrec *rec_at(struct hconn *c, unsigned i)
{
	assert(i < c->nrecs);
	return &c->recs[(c->rec_head + i) % HTTPD_MAX_INFLIGHT];
}

/*
 * Hand queued responses to the runtime, keeping at most HTTPD_SEND_WINDOW
 * bytes unacknowledged (topped up once half of it is acknowledged), then
 * carry out a pending shutdown or close when everything is sent. Several
 * pipelined responses go out in one send command.
 */
static void flush(struct httpd_core *hc, struct hconn *c)
{
	uint64_t budget;

	if (c->state == HC_CLOSED)
		return;
	budget = c->unacked <= HTTPD_SEND_WINDOW / 2 ? HTTPD_SEND_WINDOW - c->unacked : 0;
	while (budget > 0 && c->send_idx < c->nrecs) {
		struct dlibos_frag f[HTTPD_SEND_FRAGS];
		unsigned n = 0;
		uint64_t batch = 0;
		while (budget > 0 && c->send_idx < c->nrecs && n + 2 <= HTTPD_SEND_FRAGS) {
			struct hrec *r = rec_at(c, c->send_idx);
			uint64_t off = c->send_off, k;
			if (off < r->pre_len) {
				k = r->pre_len - off < budget ? r->pre_len - off : budget;
				f[n++] = (struct dlibos_frag){r->pre + off, (uint32_t)k};
				off += k;
				budget -= k;
			}
			if (budget > 0 && off >= r->pre_len) {
				uint64_t eo = off - r->pre_len;
				k = r->ent_len - eo < budget ? r->ent_len - eo : budget;
				f[n++] = (struct dlibos_frag){r->ent + eo, (uint32_t)k};
				off += k;
				budget -= k;
			}
			batch += off - c->send_off;
			if (off == rec_len(r)) {
				c->send_idx++;
				c->send_off = 0;
			} else {
				c->send_off = off;
			}
		}
		assert(n > 0);
		if (hc->ops.send(hc->ctx, c->id, f, n) < 0) {
			hc->cnt[HTTPD_C_SEND_FAILED]++;
			do_close(hc, c);
			return;
		}
		c->unacked += batch;
		hc->cnt[HTTPD_C_BYTES_SENT] += batch;
	}
	if (c->send_idx < c->nrecs)
		return;
	if (c->want_close) {
		do_close(hc, c);
	} else if (c->want_shut && !c->shut_done) {
		c->shut_done = true;
		hc->ops.shutdown_wr(hc->ctx, c->id);
	}
}

/* No more requests on this connection: FIN once the responses are sent,
 * and close when the peer's FIN came (received data is discarded meanwhile,
 * so a pipelining peer gets its answers and a FIN, not a reset). */
static void stop_reading(struct hconn *c)
{
	c->state = HC_DRAINING;
	if (c->peer_closed)
		c->want_close = true;
	else
		c->want_shut = true;
}

/* Queue prefix + entity; the caller flushes. */
static void queue_response(struct httpd_core *hc, struct hconn *c, const struct httpd_entity *ent,
			   enum http_conn_mode mode, bool head_only)
{
	const struct http_prefix_layout *l = &hc->layout;
	enum http_status st = ent->status;

	assert(c->nrecs < HTTPD_MAX_INFLIGHT);
	c->recs[(c->rec_head + c->nrecs) % HTTPD_MAX_INFLIGHT] = (struct hrec){
	    .pre = hc->sets[hc->cur].mem + l->off[st][mode],
	    .pre_len = l->len[st][mode],
	    .ent = ent->data,
	    .ent_len = head_only ? ent->head_len : ent->len,
	    .set = hc->cur,
	};
	c->nrecs++;
	hc->sets[hc->cur].refs++;
	hc->cnt[status_cnt[st]]++;
}

/* The entity answering a parsed request. */
static const struct httpd_entity *route(struct httpd_core *hc, const struct http_req *req)
{
	char path[HTTPD_MAX_PATH + 2];
	int n;

	if (req->method == HTTP_M_OTHER)
		return httpd_files_error(hc->files, HTTP_S_405);
	n = http_path_normalize(req->target, req->target_len, path, sizeof(path));
	if (n == -400)
		return httpd_files_error(hc->files, HTTP_S_400);
	const struct httpd_entity *e =
	    n > 0 ? httpd_files_lookup(hc->files, path, (size_t)n) : NULL;
	return e != NULL ? e : httpd_files_error(hc->files, HTTP_S_404);
}

/* Answer one complete request. */
static void respond(struct httpd_core *hc, struct hconn *c, const struct http_req *req)
{
	enum http_conn_mode mode = http_conn_decide(req);
	const struct httpd_entity *ent = route(hc, req);

	hc->cnt[HTTPD_C_REQUESTS]++;
	if (c->requests++ > 0)
		hc->cnt[HTTPD_C_REQ_REUSED]++;
	if (req->method == HTTP_M_HEAD)
		hc->cnt[HTTPD_C_REQ_HEAD]++;
	if (req->has_content_length && req->content_length > 0) {
		if (req->content_length > hc->cfg.max_discard)
			mode = HTTP_CONN_CLOSE;
		else
			c->discard = req->content_length;
	}
	if (ent->status == HTTP_S_400)
		mode = HTTP_CONN_CLOSE;
	queue_response(hc, c, ent, mode, req->method == HTTP_M_HEAD);
	if (mode == HTTP_CONN_CLOSE)
		stop_reading(c);
}

/* Answer an unparseable request (-status from the parser) and close. */
static void respond_error(struct httpd_core *hc, struct hconn *c, int rc)
{
	enum http_status st = http_status_of_code((unsigned)-rc);
	const struct httpd_entity *ent = httpd_files_error(hc->files, st);

	assert(ent != NULL);
	hc->cnt[HTTPD_C_REQUESTS]++;
	queue_response(hc, c, ent, HTTP_CONN_CLOSE, false);
	stop_reading(c);
}

/* ---- request processing ----------------------------------------------------- */

/* One step of processing. @return 0, or -1 when nothing more can be done now. */
static int step(struct httpd_core *hc, struct hconn *c)
{
	const struct http_limits *lim = &hc->cfg.limits;
	struct http_req req;
	const uint8_t *p;
	uint32_t len, k;
	int rc;

	if (c->discard > 0) {
		if (c->buf_len > 0) {
			k = c->discard < c->buf_len ? (uint32_t)c->discard : c->buf_len;
			buf_consume(hc, c, k);
			c->discard -= k;
			hc->cnt[HTTPD_C_BODY_DISCARDED] += k;
			return 0;
		}
		if (c->npend == 0)
			return -1;
		p = pend_first(c, &len);
		k = c->discard < len ? (uint32_t)c->discard : len;
		pend_take(c, k);
		c->discard -= k;
		hc->cnt[HTTPD_C_BODY_DISCARDED] += k;
		return 0;
	}
	if (c->buf_len == 0 && c->npend == 0)
		return -1;
	if (c->nrecs == HTTPD_MAX_INFLIGHT) {
		if (!c->stalled)
			hc->cnt[HTTPD_C_PAUSED]++;
		c->stalled = true;
		return -1;
	}
	if (c->buf_len > 0) {
		rc = http_parse_request(c->buf, c->buf_len, lim, &req);
		if (rc > 0) {
			respond(hc, c, &req);
			buf_consume(hc, c, (uint32_t)rc);
			return 0;
		}
		if (rc < 0) {
			respond_error(hc, c, rc);
			return 0;
		}
		if (c->npend == 0)
			return -1;
		p = pend_first(c, &len);
		k = lim->max_head - c->buf_len;
		assert(k > 0); /* the parser fails a full buffer */
		k = k < len ? k : len;
		memcpy(c->buf + c->buf_len, p, k);
		c->buf_len += k;
		pend_take(c, k);
		return 0;
	}
	p = pend_first(c, &len);
	rc = http_parse_request(p, len, lim, &req);
	if (rc > 0) {
		pend_take(c,
			  (uint32_t)rc); /* req still points into the RX buffer: not returned yet */
		respond(hc, c, &req);
		return 0;
	}
	if (rc < 0) {
		respond_error(hc, c, rc);
		return 0;
	}
	/* Incomplete at the end of this iovec: copy it (fewer than max_head bytes). */
	assert(len < lim->max_head);
	c->buf = buf_get(hc);
	if (c->buf == NULL) {
		hc->cnt[HTTPD_C_NOMEM]++;
		do_close(hc, c);
		return -1;
	}
	memcpy(c->buf, p, len);
	c->buf_len = len;
	pend_take(c, len);
	hc->cnt[HTTPD_C_REQ_SPLIT]++;
	return 0;
}

static void pump(struct httpd_core *hc, struct hconn *c)
{
	if (c->in_pump || c->state == HC_CLOSED)
		return;
	c->in_pump = true;
	c->stalled = false;
	while (c->state == HC_OPEN && step(hc, c) == 0)
		;
	c->in_pump = false;
	if (c->state == HC_CLOSED)
		return; /* do_close returned everything; the slot may be reused */
	if (c->state == HC_DRAINING)
		pend_drop(c); /* discard what follows a closing response */
	if (c->consumed > 0) {
		recv_done(hc, c, c->consumed);
		c->consumed = 0;
	}
	if (c->state == HC_OPEN && c->peer_closed && !c->stalled && c->npend == 0)
		stop_reading(c); /* answered all that the peer sent before its FIN */
	flush(hc, c);
}

/* ---- events --------------------------------------------------------------- */

void httpd_on_new_conn(struct httpd_core *hc, dlibos_conn_t conn, uint64_t now_us)
{
	struct hconn *c = hc->free;
	atomic_uint *shared = hc->cfg.shared_conns;

	if (shared != NULL &&
	    atomic_fetch_add_explicit(shared, 1, memory_order_relaxed) >= hc->cfg.shared_max) {
		atomic_fetch_sub_explicit(shared, 1, memory_order_relaxed);
		c = NULL;
	}
	if (c == NULL) {
		hc->cnt[HTTPD_C_CONNS_REFUSED]++;
		hc->ops.close(hc->ctx, conn);
		return;
	}
	if (connmap_put(&hc->map, conn, c) != 0) {
		if (shared != NULL)
			atomic_fetch_sub_explicit(shared, 1, memory_order_relaxed);
		hc->cnt[HTTPD_C_NOMEM]++;
		hc->ops.close(hc->ctx, conn);
		return;
	}
	hc->free = c->next;
	memset(c, 0, sizeof(*c));
	c->id = conn;
	c->state = HC_OPEN;
	c->pend = c->pend_inline;
	c->pend_cap = PEND_INLINE;
	hc->nconns++;
	hc->cnt[HTTPD_C_CONNS_ACCEPTED]++;
	lru_touch(hc, c, now_us);
	hc->ops.accept(hc->ctx, conn);
}

void httpd_on_data(struct httpd_core *hc, dlibos_conn_t conn, const struct dlibos_iov *iov,
		   unsigned n, uint64_t now_us)
{
	struct hconn *c = connmap_get(&hc->map, conn);
	uint64_t bytes = 0;

	httpd_poll(hc, now_us); /* Date right even if core_poll has not run yet */
	if (c == NULL)
		return;
	if (c->state != HC_OPEN) {
		/* Closing: discard (closed: the runtime releases it). */
		for (unsigned i = 0; i < n; i++)
			bytes += iov[i].len;
		if (c->state == HC_DRAINING && bytes > 0)
			recv_done(hc, c, bytes);
		return;
	}
	lru_touch(hc, c, now_us);
	if (pend_push(c, iov, n) != 0) {
		hc->cnt[HTTPD_C_PEND_OVERFLOW]++;
		do_close(hc, c); /* the new iovecs were not kept: close releases them */
		return;
	}
	pump(hc, c);
}

void httpd_on_acked(struct httpd_core *hc, dlibos_conn_t conn, uint32_t bytes, uint64_t now_us)
{
	struct hconn *c = connmap_get(&hc->map, conn);

	if (c == NULL)
		return;
	if (bytes > c->unacked) {
		hc->cnt[HTTPD_C_ACK_UNEXPECTED] += bytes - c->unacked;
		bytes = (uint32_t)c->unacked;
	}
	c->unacked -= bytes;
	while (bytes > 0) {
		struct hrec *r = rec_at(c, 0);
		uint64_t k = rec_len(r) - c->ack_off;
		k = bytes < k ? bytes : k;
		c->ack_off += k;
		bytes -= (uint32_t)k;
		if (c->ack_off == rec_len(r)) {
			assert(c->send_idx > 0);
			set_release(hc, r->set);
			c->rec_head = (c->rec_head + 1) % HTTPD_MAX_INFLIGHT;
			c->nrecs--;
			c->send_idx--;
			c->ack_off = 0;
		}
	}
	lru_touch(hc, c, now_us);
	if (c->stalled && c->state == HC_OPEN)
		pump(hc, c); /* flushes too */
	else
		flush(hc, c);
}

void httpd_on_remote_closed(struct httpd_core *hc, dlibos_conn_t conn, int why)
{
	struct hconn *c = connmap_get(&hc->map, conn);

	if (c == NULL || c->state == HC_CLOSED)
		return;
	c->peer_closed = true;
	if (why != DLIBOS_CLOSED_FIN) {
		hc->cnt[HTTPD_C_CONNS_RESET]++;
		do_close(hc, c); /* nothing is answered any more */
		return;
	}
	if (c->state == HC_DRAINING) {
		c->want_close = true;
		flush(hc, c); /* closes once the responses are sent */
	} else {
		pump(hc, c);
	}
}

void httpd_on_cleanup(struct httpd_core *hc, dlibos_conn_t conn)
{
	struct hconn *c = connmap_del(&hc->map, conn);

	if (c == NULL)
		return;
	while (c->nrecs > 0) {
		set_release(hc, c->recs[c->rec_head].set);
		c->rec_head = (c->rec_head + 1) % HTTPD_MAX_INFLIGHT;
		c->nrecs--;
	}
	buf_put(hc, c);
	if (c->pend != c->pend_inline)
		free(c->pend);
	c->pend = NULL;
	lru_unlink(hc, c);
	c->state = HC_CLOSED;
	c->id = DLIBOS_CONN_NONE;
	c->next = hc->free;
	hc->free = c;
	hc->nconns--;
	if (hc->cfg.shared_conns != NULL)
		atomic_fetch_sub_explicit(hc->cfg.shared_conns, 1, memory_order_relaxed);
	hc->cnt[HTTPD_C_CONNS_CLOSED]++;
}

void httpd_on_cmd_error(struct httpd_core *hc, dlibos_conn_t conn, enum dlibos_cmd cmd, int err)
{
	struct hconn *c = conn != DLIBOS_CONN_NONE ? connmap_get(&hc->map, conn) : NULL;

	(void)err;
	if (cmd == DLIBOS_CMD_SEND) {
		/* The response stream has a hole: the connection cannot go on. */
		hc->cnt[HTTPD_C_SEND_FAILED]++;
		if (c != NULL)
			do_close(hc, c);
		return;
	}
	hc->cnt[HTTPD_C_CMD_ERRORS]++;
}

/* Close connections without activity for keepalive_s seconds. */
static void idle_scan(struct httpd_core *hc, uint64_t now_us)
{
	uint64_t limit = (uint64_t)hc->cfg.keepalive_s * 1000000;
	struct hconn *c = hc->lru_head;

	while (c != NULL && now_us - c->last_us >= limit) {
		struct hconn *next = c->next;
		hc->cnt[HTTPD_C_CONNS_IDLE_CLOSED]++;
		do_close(hc, c);
		c = next;
	}
}

void httpd_poll(struct httpd_core *hc, uint64_t now_us)
{
	if (now_us < hc->next_tick_us)
		return;
	int64_t ns = hc->ops.wall_ns(hc->ctx);
	int64_t sec = ns / 1000000000;
	uint64_t to_next = (uint64_t)(1000000000 - ns % 1000000000) / 1000 + 1;
	if (sec != hc->cur_sec && new_second(hc, sec) != 0)
		to_next = 10000; /* every set busy: retry soon */
	idle_scan(hc, now_us);
	hc->next_tick_us = now_us + to_next;
}

/* ---- life cycle ------------------------------------------------------------- */

struct httpd_core *httpd_core_create(const struct httpd_config *cfg,
				     const struct httpd_files *files, const struct httpd_ops *ops,
				     void *ctx, uint64_t now_us)
{
	struct httpd_core *hc = calloc(1, sizeof(*hc));
	char date[HTTP_DATE_LEN + 1];

	if (hc == NULL)
		return NULL;
	hc->cfg = *cfg;
	hc->files = files;
	hc->ops = *ops;
	hc->ctx = ctx;
	hc->conns = calloc(cfg->max_conns, sizeof(*hc->conns));
	if (hc->conns == NULL || connmap_init(&hc->map, cfg->max_conns) != 0)
		goto fail;
	for (unsigned i = cfg->max_conns; i-- > 0;) {
		hc->conns[i].id = DLIBOS_CONN_NONE;
		hc->conns[i].next = hc->free;
		hc->free = &hc->conns[i];
	}
	int64_t ns = ops->wall_ns(ctx);
	hc->cur_sec = ns / 1000000000;
	http_date_format(hc->cur_sec, date);
	if (http_prefix_build(NULL, 0, &hc->layout, cfg->server, cfg->keepalive_s, date) == 0 ||
	    add_set(hc, date) != 0)
		goto fail;
	hc->cur = 0;
	hc->next_tick_us = now_us + (uint64_t)(1000000000 - ns % 1000000000) / 1000 + 1;
	return hc;
fail:
	httpd_core_destroy(hc);
	return NULL;
}

void httpd_core_destroy(struct httpd_core *hc)
{
	if (hc == NULL)
		return;
	for (unsigned i = 0; hc->conns != NULL && i < hc->cfg.max_conns; i++) {
		struct hconn *c = &hc->conns[i];
		if (c->id == DLIBOS_CONN_NONE)
			continue;
		free(c->buf);
		if (c->pend != c->pend_inline)
			free(c->pend);
	}
	for (unsigned i = 0; i < hc->nbufpool; i++)
		free(hc->bufpool[i]);
	for (unsigned i = 0; i < hc->nsets && hc->ops.tx_free != NULL; i++)
		hc->ops.tx_free(hc->sets[i].mem);
	if (hc->map.slots != NULL)
		connmap_fini(&hc->map);
	free(hc->conns);
	free(hc);
}

void httpd_core_set_ctx(struct httpd_core *hc, void *ctx)
{
	hc->ctx = ctx;
}

const uint64_t *httpd_counters(const struct httpd_core *hc)
{
	return hc->cnt;
}

unsigned httpd_conns(const struct httpd_core *hc)
{
	return hc->nconns;
}

unsigned httpd_sets(const struct httpd_core *hc, uint32_t *refs, unsigned max, unsigned *cur)
{
	for (unsigned i = 0; i < hc->nsets && i < max; i++)
		refs[i] = hc->sets[i].refs;
	if (cur != NULL)
		*cur = hc->cur;
	return hc->nsets;
}
