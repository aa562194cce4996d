/*
 * kvs_conn.c - a memcached-protocol session (see kvs_conn.h).
 *
 * kvs_conn_process() runs the session's state machine until it needs more
 * input, runs out of output room (stalled: resumed by a send's completion) or
 * closes:
 *   KS_REQ      parse the next request (text line or binary header + fixed
 *               part) and answer it, or start reading a data block;
 *   KS_NREAD    copy data-block bytes into the new item, then store it;
 *   KS_SWALLOW  discard the data block of a rejected storage request.
 * Before a request produces output it checks that the scratch ring and the
 * batch and item FIFOs have room for its largest response, so a response
 * is never half-built. Sends are gathered and issued once per pass (one
 * dlibos_send_ref whose completion releases them), received bytes
 * returned once per pass.
 */
#include "kvs_conn.h"
#include "kvs_binary.h"
#include "kvs_text.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>

const char *const kvs_cnt_names[KVS_NCNT] = {
    [KVS_CNT_CONN_OPENED] = "conn_opened",
    [KVS_CNT_CONN_CLOSED] = "conn_closed",
    [KVS_CNT_CONN_REJECTED] = "conn_rejected",
    [KVS_CNT_CONN_TEXT] = "conn_text",
    [KVS_CNT_CONN_BINARY] = "conn_binary",
    [KVS_CNT_CMD_GET] = "cmd_get",
    [KVS_CNT_CMD_SET] = "cmd_set",
    [KVS_CNT_CMD_TOUCH] = "cmd_touch",
    [KVS_CNT_CMD_FLUSH] = "cmd_flush",
    [KVS_CNT_CMD_DELETE] = "cmd_delete",
    [KVS_CNT_CMD_ARITH] = "cmd_arith",
    [KVS_CNT_CMD_OTHER] = "cmd_other",
    [KVS_CNT_GET_HITS] = "get_hits",
    [KVS_CNT_GET_MISSES] = "get_misses",
    [KVS_CNT_GET_EXPIRED] = "get_expired",
    [KVS_CNT_GET_FLUSHED] = "get_flushed",
    [KVS_CNT_DELETE_HITS] = "delete_hits",
    [KVS_CNT_DELETE_MISSES] = "delete_misses",
    [KVS_CNT_INCR_HITS] = "incr_hits",
    [KVS_CNT_INCR_MISSES] = "incr_misses",
    [KVS_CNT_DECR_HITS] = "decr_hits",
    [KVS_CNT_DECR_MISSES] = "decr_misses",
    [KVS_CNT_CAS_HITS] = "cas_hits",
    [KVS_CNT_CAS_MISSES] = "cas_misses",
    [KVS_CNT_CAS_BADVAL] = "cas_badval",
    [KVS_CNT_TOUCH_HITS] = "touch_hits",
    [KVS_CNT_TOUCH_MISSES] = "touch_misses",
    [KVS_CNT_BYTES_READ] = "bytes_read",
    [KVS_CNT_BYTES_WRITTEN] = "bytes_written",
    [KVS_CNT_ERR_UNKNOWN_CMD] = "err_unknown_command",
    [KVS_CNT_ERR_BAD_FORMAT] = "err_bad_format",
    [KVS_CNT_ERR_BAD_CHUNK] = "err_bad_data_chunk",
    [KVS_CNT_ERR_TOO_LARGE] = "err_too_large",
    [KVS_CNT_ERR_NOMEM] = "err_out_of_memory",
    [KVS_CNT_ERR_LINE_TOO_LONG] = "err_line_too_long",
    [KVS_CNT_ERR_NON_NUMERIC] = "err_non_numeric",
    [KVS_CNT_ERR_BIN_MAGIC] = "err_binary_bad_magic",
    [KVS_CNT_ERR_BIN_INVALID] = "err_binary_invalid",
    [KVS_CNT_ERR_BIN_UNKNOWN] = "err_binary_unknown_command",
    [KVS_CNT_ERR_SEND_REJECTED] = "err_send_rejected",
    [KVS_CNT_ERR_CMD] = "err_command_failed",
    [KVS_CNT_ERR_IOV_OVERFLOW] = "err_too_many_segments",
    [KVS_CNT_OUT_STALLS] = "out_of_room_stalls",
    [KVS_CNT_RESETS] = "conn_reset_by_peer",
};

/* ---- constant replies ------------------------------------------------------ */

static const char *const const_text[KK_N] = {
    [KK_STORED] = "STORED\r\n",
    [KK_NOT_STORED] = "NOT_STORED\r\n",
    [KK_EXISTS] = "EXISTS\r\n",
    [KK_NOT_FOUND] = "NOT_FOUND\r\n",
    [KK_DELETED] = "DELETED\r\n",
    [KK_TOUCHED] = "TOUCHED\r\n",
    [KK_OK] = "OK\r\n",
    [KK_END] = "END\r\n",
    [KK_ERROR] = "ERROR\r\n",
    [KK_CE_FORMAT] = "CLIENT_ERROR bad command line format\r\n",
    [KK_CE_DELTA] = "CLIENT_ERROR invalid numeric delta argument\r\n",
    [KK_CE_EXPTIME] = "CLIENT_ERROR invalid exptime argument\r\n",
    [KK_CE_CHUNK] = "CLIENT_ERROR bad data chunk\r\n",
    [KK_CE_NON_NUMERIC] = "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
    [KK_CE_LINE] = "CLIENT_ERROR line too long\r\n",
    [KK_SE_TOO_LARGE] = "SERVER_ERROR object too large for cache\r\n",
    [KK_SE_NOMEM] = "SERVER_ERROR out of memory storing object\r\n",
    [KK_VERSION] = "VERSION " KVS_VERSION "\r\n",
    [KK_MN] = "MN\r\n",
    [KK_BIN_VERSION] = KVS_VERSION,
    [KK_BIN_ENOENT] = "Not found",
    [KK_BIN_EEXISTS] = "Data exists for key.",
    [KK_BIN_E2BIG] = "Too large.",
    [KK_BIN_EINVAL] = "Invalid arguments",
    [KK_BIN_NOT_STORED] = "Not stored.",
    [KK_BIN_DELTA_BADVAL] = "Non-numeric server-side value for incr or decr",
    [KK_BIN_UNKNOWN] = "Unknown command",
    [KK_BIN_ENOMEM] = "Out of memory",
};

size_t kvs_consts_size(void)
{
	size_t n = 0;

	for (unsigned i = 0; i < KK_N; i++)
		n += strlen(const_text[i]);
	return n;
}

void kvs_consts_init(struct kvs_consts *k, char *mem)
{
	for (unsigned i = 0; i < KK_N; i++) {
		size_t n = strlen(const_text[i]);
		memcpy(mem, const_text[i], n);
		k->p[i] = mem;
		k->len[i] = (uint32_t)n;
		mem += n;
	}
}

static enum kvs_k bin_status_const(uint16_t status)
{
	switch (status) {
	case KB_KEY_ENOENT:
		return KK_BIN_ENOENT;
	case KB_KEY_EEXISTS:
		return KK_BIN_EEXISTS;
	case KB_E2BIG:
		return KK_BIN_E2BIG;
	case KB_NOT_STORED:
		return KK_BIN_NOT_STORED;
	case KB_DELTA_BADVAL:
		return KK_BIN_DELTA_BADVAL;
	case KB_UNKNOWN_COMMAND:
		return KK_BIN_UNKNOWN;
	case KB_ENOMEM:
		return KK_BIN_ENOMEM;
	default:
		return KK_BIN_EINVAL;
	}
}

/* ---- input queue ------------------------------------------------------------- */

static struct dlibos_iov *iq_at(const struct kvs_conn *c, unsigned i)
{
	return &c->iq[(c->iq_head + i) & (c->iq_cap - 1)];
}

static bool iq_push(struct kvs_conn *c, struct dlibos_iov v)
{
	if (c->iq_n == c->iq_cap) {
		unsigned cap = c->iq_cap ? c->iq_cap * 2 : 16;
		if (cap > KVS_MAX_IOVS)
			return false;
		struct dlibos_iov *q = malloc(cap * sizeof(*q));
		if (q == NULL)
			return false;
		for (unsigned i = 0; i < c->iq_n; i++)
			q[i] = *iq_at(c, i);
		free(c->iq);
		c->iq = q;
		c->iq_cap = cap;
		c->iq_head = 0;
	}
	*iq_at(c, c->iq_n) = v;
	c->iq_n++;
	c->in_bytes += v.len;
	return true;
}

/* The first unused byte and how many follow it in the same segment. */
static const uint8_t *in_front(const struct kvs_conn *c, uint32_t *len)
{
	const struct dlibos_iov *v = iq_at(c, 0);

	assert(c->iq_n > 0 && c->iq_off < v->len);
	*len = v->len - c->iq_off;
	return v->base + c->iq_off;
}

static void in_consume(struct kvs_conn *c, uint64_t n)
{
	assert(n <= c->in_bytes);
	c->in_bytes -= n;
	c->to_return += n;
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

/* Copy n unused bytes (n <= in_bytes) without using them. */
static void in_peek(const struct kvs_conn *c, uint8_t *dst, size_t n)
{
	uint32_t off = c->iq_off;

	for (unsigned i = 0; n > 0; i++) {
		const struct dlibos_iov *v = iq_at(c, i);
		size_t k = v->len - off < n ? v->len - off : n;
		memcpy(dst, v->base + off, k);
		dst += k;
		n -= k;
		off = 0;
	}
}

static uint8_t *conn_buf(struct kvs_conn *c)
{
	if (c->buf == NULL)
		c->buf = malloc(KVS_LINE_MAX);
	return c->buf;
}

/* n contiguous unused bytes: in place when possible, else copied. */
static const uint8_t *in_contig(struct kvs_conn *c, size_t n)
{
	uint32_t flen;
	const uint8_t *f = in_front(c, &flen);

	assert(n <= c->in_bytes && n <= KVS_LINE_MAX);
	if (flen >= n)
		return f;
	uint8_t *b = conn_buf(c);
	if (b != NULL)
		in_peek(c, b, n);
	return b;
}

/* ---- output ---------------------------------------------------------------- */

static void conn_close(struct kvs_conn *c);
static void process(struct kvs_conn *c);

/* The oldest send in flight completed (acknowledged, or the connection
 * ended: status < 0): give back its ring bytes and item references. */
static void batch_done(struct dlibos_core *core, dlibos_conn_t conn, void *arg, int status)
{
	struct kvs_conn *c = arg;
	struct kvs_batch *b = &c->batches[c->b_head];

	(void)core;
	(void)conn;
	assert(c->b_n > 0 && c->i_n - c->i_pending >= b->nitems);
	c->ring_r = b->ring_pos;
	for (uint32_t i = 0; i < b->nitems; i++) {
		kvs_store_release(c->env->store, c->items[c->i_head]);
		c->i_head = (c->i_head + 1) % KVS_MAX_ITEMS;
		c->i_n--;
	}
	c->frags_inflight -= b->frags;
	c->bytes_inflight -= b->bytes;
	c->b_head = (c->b_head + 1) % KVS_MAX_BATCHES;
	c->b_n--;
	if (status == 0 && c->stalled && !c->closed)
		process(c);
}

static void flush(struct kvs_conn *c)
{
	if (c->nfrags == 0 || c->closed)
		return;
	assert(c->b_n < KVS_MAX_BATCHES);
	c->batches[(c->b_head + c->b_n) % KVS_MAX_BATCHES] = (struct kvs_batch){
	    .ring_pos = c->ring_w, .bytes = c->pend_bytes, .nitems = c->i_pending,
	    .frags = c->pend_frags};
	c->b_n++;
	c->frags_inflight += c->pend_frags;
	c->bytes_inflight += c->pend_bytes;
	int rc = c->env->io->send_ref(c->env->core, c->id, c->frags, c->nfrags, batch_done, c);
	c->nfrags = 0;
	c->i_pending = 0;
	c->pend_bytes = 0;
	c->pend_frags = 0;
	if (rc < 0) {
		/* Not sent, no completion will come: the batch is ours to
		 * undo, and the stream has a hole: give up. */
		c->b_n--;
		struct kvs_batch *b = &c->batches[(c->b_head + c->b_n) % KVS_MAX_BATCHES];
		c->frags_inflight -= b->frags;
		c->bytes_inflight -= b->bytes;
		for (uint32_t i = 0; i < b->nitems; i++) {
			c->i_n--;
			kvs_store_release(c->env->store,
					  c->items[(c->i_head + c->i_n) % KVS_MAX_ITEMS]);
		}
		if (c->b_n == 0)
			c->ring_r = c->ring_w;
		c->env->cnt[KVS_CNT_ERR_SEND_REJECTED]++;
		conn_close(c);
	}
}

/*
 * Room for one more response: `scratch` ring bytes, a batch and the items
 * one response may add, and the network core's limits on what a connection
 * may have queued unacknowledged (fragments, bytes) not reached.
 */
static bool room(struct kvs_conn *c, uint32_t scratch)
{
	if (c->nfrags + 8 > KVS_MAX_FRAGS || c->i_pending + 1 > KVS_MAX_ITEMS / 2)
		flush(c);
	uint32_t at = (uint32_t)(c->ring_w % c->ring_size);
	uint64_t need = at + scratch <= c->ring_size ? scratch : c->ring_size - at + scratch;
	return c->ring_w - c->ring_r + need <= c->ring_size &&
	       c->b_n + 1 < KVS_MAX_BATCHES && c->i_n + 1 <= KVS_MAX_ITEMS &&
	       c->frags_inflight + c->pend_frags + KVS_RESP_FRAGS <= KVS_MAX_INFLIGHT_FRAGS &&
	       c->bytes_inflight + c->pend_bytes < KVS_MAX_INFLIGHT_BYTES;
}

static bool stall(struct kvs_conn *c)
{
	c->stalled = true;
	c->env->cnt[KVS_CNT_OUT_STALLS]++;
	return false;
}

static uint8_t *scratch(struct kvs_conn *c, uint32_t len)
{
	uint32_t at = (uint32_t)(c->ring_w % c->ring_size);

	if (at + len > c->ring_size) {
		c->ring_w += c->ring_size - at; /* skip the tail: allocations are contiguous */
		at = 0;
	}
	assert(c->ring_w + len - c->ring_r <= c->ring_size);
	c->ring_w += len;
	return c->ring + at;
}

/* Fragments the network core counts for len bytes (references are cut at 64 KiB). */
static uint32_t net_frags(uint64_t len)
{
	return (uint32_t)((len + KVS_NET_FRAG_MAX - 1) / KVS_NET_FRAG_MAX);
}

enum frag_kind { FK_CONST, FK_SCRATCH, FK_ITEM };

static void emit(struct kvs_conn *c, const void *p, uint32_t len, enum frag_kind kind,
		 struct kvs_item *it)
{
	struct dlibos_frag *last = c->nfrags ? &c->frags[c->nfrags - 1] : NULL;
	uint32_t nf;

	assert(len > 0 && c->nfrags < KVS_MAX_FRAGS);
	if (last != NULL && (const uint8_t *)last->base + last->len == (const uint8_t *)p) {
		nf = net_frags((uint64_t)last->len + len) - net_frags(last->len);
		last->len += len;
	} else {
		nf = net_frags(len);
		c->frags[c->nfrags++] = (struct dlibos_frag){p, len};
	}
	c->pend_bytes += len;
	c->pend_frags += nf;
	c->env->cnt[KVS_CNT_BYTES_WRITTEN] += len;
	if (kind == FK_ITEM) {
		/* Its reference is held until the send's completion. */
		assert(c->i_n < KVS_MAX_ITEMS);
		c->items[(c->i_head + c->i_n) % KVS_MAX_ITEMS] = it;
		c->i_n++;
		c->i_pending++;
	}
}

static void emit_const(struct kvs_conn *c, enum kvs_k k)
{
	emit(c, c->env->k->p[k], c->env->k->len[k], FK_CONST, NULL);
}

static void emit_scratch(struct kvs_conn *c, const void *data, uint32_t len)
{
	uint8_t *p = scratch(c, len);

	memcpy(p, data, len);
	emit(c, p, len, FK_SCRATCH, NULL);
}

/* Send len bytes of an item we hold an in-flight reference on (consumed). */
static void emit_item(struct kvs_conn *c, struct kvs_item *it, const void *p, uint32_t len)
{
	if (len == 0) {
		kvs_store_release(c->env->store, it);
		return;
	}
	emit(c, p, len, FK_ITEM, it);
}

static void reply(struct kvs_conn *c, enum kvs_k k, bool noreply)
{
	if (!noreply)
		emit_const(c, k);
}

/* ---- stats ------------------------------------------------------------------ */

struct kvs_stat {
	char name[40];
	char val[40];
};

#define KVS_MAX_STATS 160

static void stat_add(struct kvs_stat *st, unsigned *n, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void stat_add(struct kvs_stat *st, unsigned *n, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (*n == KVS_MAX_STATS)
		return;
	snprintf(st[*n].name, sizeof(st[*n].name), "%s", name);
	va_start(ap, fmt);
	vsnprintf(st[*n].val, sizeof(st[*n].val), fmt, ap);
	va_end(ap);
	(*n)++;
}

static void stat_u64(struct kvs_stat *st, unsigned *n, const char *name, uint64_t v)
{
	stat_add(st, n, name, "%llu", (unsigned long long)v);
}

static void stats_general(struct kvs_conn *c, struct kvs_stat *st, unsigned *n)
{
	const struct kvs_info *in = c->env->info;
	uint64_t cnt[KVS_NCNT];
	struct kvs_store_stats ss;
	struct rusage ru;
	int64_t now = (int64_t)time(NULL);

	c->env->sum_counters(cnt, c->env->sum_arg);
	kvs_store_stats(c->env->store, &ss);
	getrusage(RUSAGE_SELF, &ru);
	stat_add(st, n, "pid", "%d", in->pid);
	stat_u64(st, n, "uptime", (uint64_t)(now > in->started ? now - in->started : 0));
	stat_u64(st, n, "time", (uint64_t)now);
	stat_add(st, n, "version", "%s", KVS_VERSION);
	stat_add(st, n, "pointer_size", "%zu", 8 * sizeof(void *));
	stat_add(st, n, "rusage_user", "%ld.%06ld", (long)ru.ru_utime.tv_sec,
		 (long)ru.ru_utime.tv_usec);
	stat_add(st, n, "rusage_system", "%ld.%06ld", (long)ru.ru_stime.tv_sec,
		 (long)ru.ru_stime.tv_usec);
	stat_u64(st, n, "max_connections", in->max_conns);
	stat_u64(st, n, "curr_connections", cnt[KVS_CNT_CONN_OPENED] - cnt[KVS_CNT_CONN_CLOSED]);
	stat_u64(st, n, "total_connections", cnt[KVS_CNT_CONN_OPENED]);
	stat_u64(st, n, "rejected_connections", cnt[KVS_CNT_CONN_REJECTED]);
	static const enum kvs_cnt shown[] = {
	    KVS_CNT_CMD_GET,	   KVS_CNT_CMD_SET,	KVS_CNT_CMD_FLUSH,    KVS_CNT_CMD_TOUCH,
	    KVS_CNT_GET_HITS,	   KVS_CNT_GET_MISSES,	KVS_CNT_GET_EXPIRED,  KVS_CNT_GET_FLUSHED,
	    KVS_CNT_DELETE_MISSES, KVS_CNT_DELETE_HITS, KVS_CNT_INCR_MISSES,  KVS_CNT_INCR_HITS,
	    KVS_CNT_DECR_MISSES,   KVS_CNT_DECR_HITS,	KVS_CNT_CAS_MISSES,   KVS_CNT_CAS_HITS,
	    KVS_CNT_CAS_BADVAL,	   KVS_CNT_TOUCH_HITS,	KVS_CNT_TOUCH_MISSES, KVS_CNT_BYTES_READ,
	    KVS_CNT_BYTES_WRITTEN,
	};
	for (unsigned i = 0; i < sizeof(shown) / sizeof(shown[0]); i++)
		stat_u64(st, n, kvs_cnt_names[shown[i]], cnt[shown[i]]);
	stat_u64(st, n, "limit_maxbytes", ss.limit_bytes);
	stat_u64(st, n, "threads", in->threads);
	stat_u64(st, n, "hash_buckets", ss.hash_buckets);
	stat_u64(st, n, "bytes", ss.bytes);
	stat_u64(st, n, "curr_items", ss.curr_items);
	stat_u64(st, n, "total_items", ss.total_items);
	stat_u64(st, n, "evictions", ss.evictions);
	stat_u64(st, n, "reclaimed", ss.reclaimed);
	/* DLibOS specifics: zero-copy bookkeeping and error paths. */
	stat_u64(st, n, "items_unlinked_in_flight", ss.pending);
	stat_u64(st, n, "evict_skips_in_flight", ss.evict_skips);
	stat_u64(st, n, "alloc_failures", ss.alloc_fails);
	stat_u64(st, n, "slab_pages_used", ss.pages);
	stat_u64(st, n, "slab_page_moves", ss.page_moves);
	stat_u64(st, n, "slab_pages_total", ss.total_pages);
	for (unsigned i = KVS_CNT_CONN_TEXT; i <= KVS_CNT_CONN_BINARY; i++)
		stat_u64(st, n, kvs_cnt_names[i], cnt[i]);
	for (unsigned i = KVS_CNT_ERR_UNKNOWN_CMD; i < KVS_NCNT; i++)
		stat_u64(st, n, kvs_cnt_names[i], cnt[i]);
}

static void stats_settings(struct kvs_conn *c, struct kvs_stat *st, unsigned *n)
{
	const struct kvs_info *in = c->env->info;
	struct kvs_store_stats ss;

	kvs_store_stats(c->env->store, &ss);
	stat_u64(st, n, "maxbytes", ss.limit_bytes);
	stat_u64(st, n, "maxconns", in->max_conns);
	stat_u64(st, n, "tcpport", in->port);
	stat_u64(st, n, "num_threads", in->threads);
	stat_u64(st, n, "item_size_max", ss.limit_bytes / (ss.total_pages ? ss.total_pages : 1));
	stat_add(st, n, "evictions", "on");
	stat_add(st, n, "cas_enabled", "yes");
	stat_add(st, n, "binding_protocol", "auto-negotiate");
	stat_u64(st, n, "slab_classes", ss.nclasses);
	stat_u64(st, n, "scratch_ring_bytes", in->ring_size);
	stat_u64(st, n, "lru_bump_us", in->lru_bump_us);
}

static void stats_slabs(struct kvs_conn *c, struct kvs_stat *st, unsigned *n, bool items)
{
	uint32_t size;
	uint64_t chunks, nfree, nitems, active = 0;
	char name[40];

	for (unsigned i = 0;
	     kvs_store_class_stats(c->env->store, i, &size, &chunks, &nfree, &nitems); i++) {
		if (chunks == 0)
			continue;
		active++;
		if (items) {
			if (nitems == 0)
				continue;
			snprintf(name, sizeof(name), "items:%u:number", i);
			stat_u64(st, n, name, nitems);
			continue;
		}
		snprintf(name, sizeof(name), "%u:chunk_size", i);
		stat_u64(st, n, name, size);
		snprintf(name, sizeof(name), "%u:total_chunks", i);
		stat_u64(st, n, name, chunks);
		snprintf(name, sizeof(name), "%u:used_chunks", i);
		stat_u64(st, n, name, chunks - nfree);
	}
	if (!items)
		stat_u64(st, n, "active_slabs", active);
}

/* Collect a stats group ("" general); -1 for an unknown group. */
static int stats_collect(struct kvs_conn *c, const char *grp, size_t len, struct kvs_stat *st)
{
	unsigned n = 0;

	if (len == 0)
		stats_general(c, st, &n);
	else if (len == 8 && memcmp(grp, "settings", 8) == 0)
		stats_settings(c, st, &n);
	else if (len == 5 && memcmp(grp, "slabs", 5) == 0)
		stats_slabs(c, st, &n, false);
	else if (len == 5 && memcmp(grp, "items", 5) == 0)
		stats_slabs(c, st, &n, true);
	else
		return -1;
	return (int)n;
}

static void text_stats(struct kvs_conn *c, const struct kvs_text_req *r)
{
	struct kvs_stat st[KVS_MAX_STATS];
	char out[KVS_STATS_ROOM];
	size_t len = 0;
	int n = stats_collect(c, r->args, r->args_len, st);

	if (n < 0) {
		emit_const(c, KK_ERROR);
		return;
	}
	for (int i = 0; i < n; i++) {
		int k = snprintf(out + len, sizeof(out) - len - 5, "STAT %s %s\r\n", st[i].name,
				 st[i].val);
		if (k < 0 || (size_t)k >= sizeof(out) - len - 5)
			break; /* truncated: keep whole lines only */
		len += (size_t)k;
	}
	memcpy(out + len, "END\r\n", 5);
	emit_scratch(c, out, (uint32_t)(len + 5));
}

/* ---- text protocol --------------------------------------------------------- */

/*
 * Find the next line: 1 with line and len set (without "\r\n") and span (bytes
 * up to and including "\n"), 0 if incomplete, -1 if longer than allowed.
 */
static int text_line(struct kvs_conn *c, const char **line, size_t *len, size_t *span)
{
	uint32_t flen;
	const uint8_t *f = in_front(c, &flen);
	const uint8_t *nl = memchr(f, '\n', flen);
	size_t total;

	if (nl != NULL) {
		total = (size_t)(nl - f) + 1;
		if (total > KVS_LINE_MAX)
			return -1;
		*line = (const char *)f;
	} else {
		total = flen;
		bool found = false;
		for (unsigned i = 1; i < c->iq_n && total <= KVS_LINE_MAX; i++) {
			const struct dlibos_iov *v = iq_at(c, i);
			nl = memchr(v->base, '\n', v->len);
			if (nl != NULL) {
				total += (size_t)(nl - v->base) + 1;
				found = true;
				break;
			}
			total += v->len;
		}
		if (!found)
			return c->in_bytes >= KVS_LINE_MAX ? -1 : 0;
		if (total > KVS_LINE_MAX)
			return -1;
		uint8_t *b = conn_buf(c);
		if (b == NULL)
			return -1;
		in_peek(c, b, total);
		*line = (const char *)b;
	}
	*span = total;
	*len = total - 1;
	if (*len > 0 && (*line)[*len - 1] == '\r')
		(*len)--;
	return 1;
}

static void count_miss(struct kvs_conn *c, enum kvs_miss why)
{
	c->env->cnt[KVS_CNT_GET_MISSES]++;
	if (why == KVS_MISS_EXPIRED)
		c->env->cnt[KVS_CNT_GET_EXPIRED]++;
	else if (why == KVS_MISS_FLUSHED)
		c->env->cnt[KVS_CNT_GET_FLUSHED]++;
}

/* get/gets/gat/gats over the key list; false when stalled (resumes later). */
static bool text_get(struct kvs_conn *c, const struct kvs_text_req *r, const char *line,
		     size_t span)
{
	bool with_cas = r->cmd == KT_GETS || r->cmd == KT_GATS;
	bool touch = r->cmd == KT_GAT || r->cmd == KT_GATS;
	const char *p = c->mget_off ? line + c->mget_off : r->keys;
	const char *end = r->keys + r->keys_len;
	const char *key;
	size_t nkey;
	int k;

	for (;;) {
		if (!room(c, KVS_RESP_ROOM)) {
			c->mget_off = (size_t)(p - line);
			return stall(c);
		}
		k = kvs_text_next_key(&p, end, &key, &nkey);
		if (k <= 0)
			break;
		enum kvs_miss why;
		struct kvs_item *it =
		    kvs_store_get(c->env->store, key, nkey, touch ? &r->exptime : NULL, &why);
		c->env->cnt[KVS_CNT_CMD_GET]++;
		if (touch)
			c->env->cnt[KVS_CNT_CMD_TOUCH]++;
		if (it == NULL) {
			count_miss(c, why);
			if (touch)
				c->env->cnt[KVS_CNT_TOUCH_MISSES]++;
			continue;
		}
		c->env->cnt[KVS_CNT_GET_HITS]++;
		if (touch)
			c->env->cnt[KVS_CNT_TOUCH_HITS]++;
		if (with_cas) {
			char hdr[KVS_KEY_MAX + 64];
			int n = snprintf(hdr, sizeof(hdr), "VALUE %.*s %u %u %llu\r\n",
					 (int)it->nkey, kvs_item_key(it), it->flags, it->nbytes,
					 (unsigned long long)it->cas);
			emit_scratch(c, hdr, (uint32_t)n);
			emit_item(c, it, kvs_item_value(it), it->nbytes + 2);
		} else {
			emit_item(c, it, it->data, it->nhdr + it->nbytes + 2u);
		}
	}
	c->mget_off = 0;
	if (k < 0) {
		c->env->cnt[KVS_CNT_ERR_BAD_FORMAT]++;
		emit_const(c, KK_CE_FORMAT);
	} else {
		emit_const(c, KK_END);
	}
	in_consume(c, span);
	return true;
}

static enum kvs_op text_op(enum kvs_text_cmd cmd)
{
	switch (cmd) {
	case KT_ADD:
		return KVS_ADD;
	case KT_REPLACE:
		return KVS_REPLACE;
	case KT_APPEND:
		return KVS_APPEND;
	case KT_PREPEND:
		return KVS_PREPEND;
	case KT_CAS:
		return KVS_CAS;
	default:
		return KVS_SET;
	}
}

static void start_swallow(struct kvs_conn *c, uint64_t n)
{
	c->swallow = n;
	if (n > 0)
		c->st = KS_SWALLOW;
}

/* A storage line: allocate the item and read the data block into it. */
static void text_storage(struct kvs_conn *c, const struct kvs_text_req *r)
{
	enum kvs_res err;
	struct kvs_item *it;

	c->env->cnt[KVS_CNT_CMD_SET]++;
	it = kvs_store_alloc(c->env->store, r->key, r->nkey, r->flags, r->exptime, r->nbytes, &err);
	if (it == NULL) {
		bool big = err == KVS_TOO_LARGE;
		c->env->cnt[big ? KVS_CNT_ERR_TOO_LARGE : KVS_CNT_ERR_NOMEM]++;
		reply(c, big ? KK_SE_TOO_LARGE : KK_SE_NOMEM, r->noreply);
		if (r->cmd == KT_SET) /* like memcached: no stale value survives */
			kvs_store_delete(c->env->store, r->key, r->nkey, 0);
		start_swallow(c, (uint64_t)r->nbytes + 2);
		return;
	}
	c->ps = (struct kvs_pending_store){
	    .item = it,
	    .dst = (uint8_t *)kvs_item_value(it),
	    .left = (uint64_t)r->nbytes + 2, /* the value and its "\r\n" */
	    .op = text_op(r->cmd),
	    .cas = r->cas,
	    .noreply = r->noreply,
	};
	c->st = KS_NREAD;
}

static void text_store_done(struct kvs_conn *c)
{
	struct kvs_pending_store *ps = &c->ps;
	struct kvs_item *it = ps->item;
	const char *v = kvs_item_value(it);
	enum kvs_res res;

	ps->item = NULL;
	if (v[it->nbytes] != '\r' || v[it->nbytes + 1] != '\n') {
		c->env->cnt[KVS_CNT_ERR_BAD_CHUNK]++;
		kvs_store_discard(c->env->store, it);
		reply(c, KK_CE_CHUNK, ps->noreply);
		return;
	}
	res = kvs_store_store(c->env->store, it, ps->op, ps->cas, NULL);
	if (ps->op == KVS_CAS)
		c->env->cnt[res == KVS_OK	? KVS_CNT_CAS_HITS
			    : res == KVS_EXISTS ? KVS_CNT_CAS_BADVAL
						: KVS_CNT_CAS_MISSES]++;
	switch (res) {
	case KVS_OK:
		reply(c, KK_STORED, ps->noreply);
		break;
	case KVS_NOT_STORED:
		reply(c, KK_NOT_STORED, ps->noreply);
		break;
	case KVS_EXISTS:
		reply(c, KK_EXISTS, ps->noreply);
		break;
	case KVS_NOT_FOUND:
		reply(c, KK_NOT_FOUND, ps->noreply);
		break;
	case KVS_TOO_LARGE:
		c->env->cnt[KVS_CNT_ERR_TOO_LARGE]++;
		reply(c, KK_SE_TOO_LARGE, ps->noreply);
		break;
	default:
		c->env->cnt[KVS_CNT_ERR_NOMEM]++;
		reply(c, KK_SE_NOMEM, ps->noreply);
		break;
	}
}

static void text_arith(struct kvs_conn *c, const struct kvs_text_req *r)
{
	bool incr = r->cmd == KT_INCR;
	uint64_t v;
	enum kvs_res res =
	    kvs_store_arith(c->env->store, r->key, r->nkey, incr, r->delta, NULL, 0, &v, NULL);

	c->env->cnt[KVS_CNT_CMD_ARITH]++;
	if (res == KVS_OK)
		c->env->cnt[incr ? KVS_CNT_INCR_HITS : KVS_CNT_DECR_HITS]++;
	else if (res == KVS_NOT_FOUND)
		c->env->cnt[incr ? KVS_CNT_INCR_MISSES : KVS_CNT_DECR_MISSES]++;
	switch (res) {
	case KVS_OK:
		if (!r->noreply) {
			char num[24];
			int n = snprintf(num, sizeof(num), "%llu\r\n", (unsigned long long)v);
			emit_scratch(c, num, (uint32_t)n);
		}
		break;
	case KVS_NOT_FOUND:
		reply(c, KK_NOT_FOUND, r->noreply);
		break;
	case KVS_NON_NUMERIC:
		c->env->cnt[KVS_CNT_ERR_NON_NUMERIC]++;
		reply(c, KK_CE_NON_NUMERIC, r->noreply);
		break;
	default:
		c->env->cnt[KVS_CNT_ERR_NOMEM]++;
		reply(c, KK_SE_NOMEM, r->noreply);
		break;
	}
}

static void text_error(struct kvs_conn *c, enum kvs_text_err e, bool noreply)
{
	switch (e) {
	case KT_ERR_FORMAT:
		c->env->cnt[KVS_CNT_ERR_BAD_FORMAT]++;
		reply(c, KK_CE_FORMAT, noreply);
		break;
	case KT_ERR_DELTA:
		c->env->cnt[KVS_CNT_ERR_BAD_FORMAT]++;
		reply(c, KK_CE_DELTA, noreply);
		break;
	case KT_ERR_EXPTIME:
		c->env->cnt[KVS_CNT_ERR_BAD_FORMAT]++;
		reply(c, KK_CE_EXPTIME, noreply);
		break;
	default:
		c->env->cnt[KVS_CNT_ERR_UNKNOWN_CMD]++;
		reply(c, KK_ERROR, noreply);
		break;
	}
}

/* One text request; false when it cannot proceed (more input, room, close). */
static bool step_text(struct kvs_conn *c)
{
	const char *line;
	size_t len, span;
	struct kvs_text_req r;
	enum kvs_res res;
	int rc = text_line(c, &line, &len, &span);

	if (rc == 0)
		return false;
	if (!room(c, KVS_RESP_ROOM))
		return stall(c);
	if (rc < 0) {
		c->env->cnt[KVS_CNT_ERR_LINE_TOO_LONG]++;
		emit_const(c, KK_CE_LINE);
		c->quit = true;
		return false;
	}
	enum kvs_text_err e = kvs_text_parse(line, len, &r);
	if (e != KT_OK) {
		text_error(c, e, r.noreply);
		in_consume(c, span);
		return true;
	}
	switch (r.cmd) {
	case KT_GET:
	case KT_GETS:
	case KT_GAT:
	case KT_GATS:
		return text_get(c, &r, line, span);
	case KT_STATS:
		if (!room(c, KVS_STATS_ROOM))
			return stall(c);
		c->env->cnt[KVS_CNT_CMD_OTHER]++;
		text_stats(c, &r);
		break;
	case KT_SET:
	case KT_ADD:
	case KT_REPLACE:
	case KT_APPEND:
	case KT_PREPEND:
	case KT_CAS:
		in_consume(c, span);
		text_storage(c, &r);
		return true;
	case KT_DELETE:
		c->env->cnt[KVS_CNT_CMD_DELETE]++;
		res = kvs_store_delete(c->env->store, r.key, r.nkey, 0);
		c->env->cnt[res == KVS_OK ? KVS_CNT_DELETE_HITS : KVS_CNT_DELETE_MISSES]++;
		reply(c, res == KVS_OK ? KK_DELETED : KK_NOT_FOUND, r.noreply);
		break;
	case KT_INCR:
	case KT_DECR:
		text_arith(c, &r);
		break;
	case KT_TOUCH:
		c->env->cnt[KVS_CNT_CMD_TOUCH]++;
		res = kvs_store_touch(c->env->store, r.key, r.nkey, r.exptime, NULL);
		c->env->cnt[res == KVS_OK ? KVS_CNT_TOUCH_HITS : KVS_CNT_TOUCH_MISSES]++;
		reply(c, res == KVS_OK ? KK_TOUCHED : KK_NOT_FOUND, r.noreply);
		break;
	case KT_FLUSH_ALL:
		c->env->cnt[KVS_CNT_CMD_FLUSH]++;
		kvs_store_flush(c->env->store, r.exptime);
		reply(c, KK_OK, r.noreply);
		break;
	case KT_VERSION:
		c->env->cnt[KVS_CNT_CMD_OTHER]++;
		emit_const(c, KK_VERSION);
		break;
	case KT_VERBOSITY:
		c->env->cnt[KVS_CNT_CMD_OTHER]++;
		reply(c, KK_OK, r.noreply);
		break;
	case KT_MN:
		c->env->cnt[KVS_CNT_CMD_OTHER]++;
		emit_const(c, KK_MN);
		break;
	case KT_QUIT:
		in_consume(c, span);
		c->quit = true;
		return false;
	}
	in_consume(c, span);
	return true;
}

/* ---- binary protocol ------------------------------------------------------- */

/* Header (+ extras + key) of a response, in scratch. */
static void bin_head(struct kvs_conn *c, const struct kvs_bin_hdr *h, uint16_t status,
		     const void *ext, uint8_t extlen, const void *key, uint16_t keylen,
		     uint32_t vlen, uint64_t cas)
{
	uint8_t b[KVS_BIN_HDR + 8 + KVS_KEY_MAX];

	assert(extlen <= 8 && keylen <= KVS_KEY_MAX);
	kvs_bin_encode_res(b, h->opcode, keylen, extlen, status, extlen + keylen + vlen, h->opaque,
			   cas);
	if (extlen)
		memcpy(b + KVS_BIN_HDR, ext, extlen);
	if (keylen)
		memcpy(b + KVS_BIN_HDR + extlen, key, keylen);
	emit_scratch(c, b, (uint32_t)(KVS_BIN_HDR + extlen + keylen));
}

static void bin_ok(struct kvs_conn *c, const struct kvs_bin_hdr *h, uint64_t cas)
{
	bin_head(c, h, KB_SUCCESS, NULL, 0, NULL, 0, 0, cas);
}

/* An error response: header and the status text. Sent for quiet opcodes too. */
static void bin_error(struct kvs_conn *c, const struct kvs_bin_hdr *h, uint16_t status)
{
	enum kvs_k k = bin_status_const(status);

	bin_head(c, h, status, NULL, 0, NULL, 0, c->env->k->len[k], 0);
	emit_const(c, k);
}

static void bin_get(struct kvs_conn *c, const struct kvs_bin_hdr *h, const uint8_t *ext,
		    const char *key)
{
	bool gat = kvs_bin_kind(h->opcode) == KBK_GAT;
	bool quiet = kvs_bin_quiet(h->opcode), with_key = kvs_bin_with_key(h->opcode);
	int64_t exp = gat ? (int64_t)kvs_be32(ext) : 0;
	enum kvs_miss why;
	struct kvs_item *it = kvs_store_get(c->env->store, key, h->keylen, gat ? &exp : NULL, &why);
	uint8_t flags[4];

	if (h->opcode != KB_TOUCH)
		c->env->cnt[KVS_CNT_CMD_GET]++;
	if (gat)
		c->env->cnt[KVS_CNT_CMD_TOUCH]++;
	if (it == NULL) {
		if (h->opcode != KB_TOUCH)
			count_miss(c, why);
		if (gat)
			c->env->cnt[KVS_CNT_TOUCH_MISSES]++;
		if (quiet)
			return;
		if (with_key) /* like memcached: the key, no message */
			bin_head(c, h, KB_KEY_ENOENT, NULL, 0, key, h->keylen, 0, 0);
		else
			bin_error(c, h, KB_KEY_ENOENT);
		return;
	}
	if (h->opcode != KB_TOUCH)
		c->env->cnt[KVS_CNT_GET_HITS]++;
	if (gat)
		c->env->cnt[KVS_CNT_TOUCH_HITS]++;
	kvs_put_be32(flags, it->flags);
	if (h->opcode == KB_TOUCH) {
		bin_head(c, h, KB_SUCCESS, flags, 4, NULL, 0, 0, it->cas);
		kvs_store_release(c->env->store, it);
		return;
	}
	bin_head(c, h, KB_SUCCESS, flags, 4, key, with_key ? h->keylen : 0, it->nbytes, it->cas);
	emit_item(c, it, kvs_item_value(it), it->nbytes);
}

static enum kvs_op bin_op(uint8_t opcode)
{
	switch (opcode) {
	case KB_ADD:
	case KB_ADDQ:
		return KVS_ADD;
	case KB_REPLACE:
	case KB_REPLACEQ:
		return KVS_REPLACE;
	case KB_APPEND:
	case KB_APPENDQ:
		return KVS_APPEND;
	case KB_PREPEND:
	case KB_PREPENDQ:
		return KVS_PREPEND;
	default:
		return KVS_SET;
	}
}

static void bin_storage(struct kvs_conn *c, const struct kvs_bin_hdr *h, const uint8_t *ext,
			const char *key)
{
	bool concat = kvs_bin_kind(h->opcode) == KBK_CONCAT;
	uint32_t flags = concat ? 0 : kvs_be32(ext);
	int64_t exp = concat ? 0 : (int64_t)kvs_be32(ext + 4);
	uint64_t vlen = h->bodylen - h->extlen - h->keylen;
	enum kvs_res err = KVS_TOO_LARGE;
	struct kvs_item *it = NULL;

	c->env->cnt[KVS_CNT_CMD_SET]++;
	if (vlen <= UINT32_MAX / 2)
		it = kvs_store_alloc(c->env->store, key, h->keylen, flags, exp, (uint32_t)vlen,
				     &err);
	if (it == NULL) {
		bool big = err == KVS_TOO_LARGE;
		c->env->cnt[big ? KVS_CNT_ERR_TOO_LARGE : KVS_CNT_ERR_NOMEM]++;
		bin_error(c, h, big ? KB_E2BIG : KB_ENOMEM);
		if (bin_op(h->opcode) == KVS_SET)
			kvs_store_delete(c->env->store, key, h->keylen, 0);
		start_swallow(c, vlen);
		return;
	}
	c->ps = (struct kvs_pending_store){
	    .item = it,
	    .dst = (uint8_t *)kvs_item_value(it),
	    .left = vlen,
	    .op = bin_op(h->opcode),
	    .cas = h->cas,
	    .noreply = kvs_bin_quiet(h->opcode),
	    .binary = true,
	    .opcode = h->opcode,
	    .opaque = h->opaque,
	};
	c->st = KS_NREAD;
}

static void bin_store_done(struct kvs_conn *c)
{
	struct kvs_pending_store *ps = &c->ps;
	struct kvs_bin_hdr h = {.opcode = ps->opcode, .opaque = ps->opaque};
	uint64_t cas = 0;
	enum kvs_res res = kvs_store_store(c->env->store, ps->item, ps->op, ps->cas, &cas);
	uint16_t status;

	ps->item = NULL;
	switch (res) {
	case KVS_OK:
		if (!ps->noreply)
			bin_ok(c, &h, cas);
		return;
	case KVS_NOT_STORED:
		status = ps->op == KVS_ADD	 ? KB_KEY_EEXISTS
			 : ps->op == KVS_REPLACE ? KB_KEY_ENOENT
						 : KB_NOT_STORED;
		break;
	case KVS_EXISTS:
		status = KB_KEY_EEXISTS;
		break;
	case KVS_NOT_FOUND:
		status = KB_KEY_ENOENT;
		break;
	case KVS_TOO_LARGE:
		c->env->cnt[KVS_CNT_ERR_TOO_LARGE]++;
		status = KB_E2BIG;
		break;
	default:
		c->env->cnt[KVS_CNT_ERR_NOMEM]++;
		status = KB_ENOMEM;
		break;
	}
	bin_error(c, &h, status);
}

static void bin_arith(struct kvs_conn *c, const struct kvs_bin_hdr *h, const uint8_t *ext,
		      const char *key)
{
	bool incr = h->opcode == KB_INCREMENT || h->opcode == KB_INCREMENTQ;
	uint32_t exp = kvs_be32(ext + 16);
	struct kvs_arith_init init = {.initial = kvs_be64(ext + 8), .exptime = (int64_t)exp};
	uint64_t v = 0, cas = 0;
	enum kvs_res res = kvs_store_arith(c->env->store, key, h->keylen, incr, kvs_be64(ext),
					   exp == 0xffffffffu ? NULL : &init, h->cas, &v, &cas);
	uint8_t num[8];

	c->env->cnt[KVS_CNT_CMD_ARITH]++;
	if (res == KVS_OK || res == KVS_NOT_FOUND)
		c->env->cnt[incr ? (res == KVS_OK ? KVS_CNT_INCR_HITS : KVS_CNT_INCR_MISSES)
				 : (res == KVS_OK ? KVS_CNT_DECR_HITS : KVS_CNT_DECR_MISSES)]++;
	switch (res) {
	case KVS_OK:
		if (!kvs_bin_quiet(h->opcode)) {
			uint8_t b[KVS_BIN_HDR + 8];
			kvs_put_be64(num, v);
			kvs_bin_encode_res(b, h->opcode, 0, 0, KB_SUCCESS, 8, h->opaque, cas);
			memcpy(b + KVS_BIN_HDR, num, 8);
			emit_scratch(c, b, sizeof(b));
		}
		break;
	case KVS_NOT_FOUND:
		bin_error(c, h, KB_KEY_ENOENT);
		break;
	case KVS_EXISTS:
		bin_error(c, h, KB_KEY_EEXISTS);
		break;
	case KVS_NON_NUMERIC:
		c->env->cnt[KVS_CNT_ERR_NON_NUMERIC]++;
		bin_error(c, h, KB_DELTA_BADVAL);
		break;
	default:
		c->env->cnt[KVS_CNT_ERR_NOMEM]++;
		bin_error(c, h, KB_ENOMEM);
		break;
	}
}

static void bin_stats(struct kvs_conn *c, const struct kvs_bin_hdr *h, const char *key)
{
	struct kvs_stat st[KVS_MAX_STATS];
	uint8_t out[KVS_STATS_ROOM];
	size_t len = 0;
	int n = stats_collect(c, key, h->keylen, st);

	if (n < 0) {
		bin_error(c, h, KB_KEY_ENOENT);
		return;
	}
	for (int i = 0; i < n; i++) {
		size_t kl = strlen(st[i].name), vl = strlen(st[i].val);
		if (len + 2 * KVS_BIN_HDR + kl + vl > sizeof(out))
			break;
		kvs_bin_encode_res(out + len, h->opcode, (uint16_t)kl, 0, KB_SUCCESS,
				   (uint32_t)(kl + vl), h->opaque, 0);
		memcpy(out + len + KVS_BIN_HDR, st[i].name, kl);
		memcpy(out + len + KVS_BIN_HDR + kl, st[i].val, vl);
		len += KVS_BIN_HDR + kl + vl;
	}
	kvs_bin_encode_res(out + len, h->opcode, 0, 0, KB_SUCCESS, 0, h->opaque, 0);
	len += KVS_BIN_HDR;
	emit_scratch(c, out, (uint32_t)len);
}

/* Handle a complete fixed part (header, extras, key). */
static bool bin_dispatch(struct kvs_conn *c, const struct kvs_bin_hdr *h, const uint8_t *body)
{
	const uint8_t *ext = body;
	const char *key = (const char *)body + h->extlen;
	bool quiet = kvs_bin_quiet(h->opcode);
	enum kvs_res res;

	switch (kvs_bin_kind(h->opcode)) {
	case KBK_GET:
	case KBK_GAT:
		bin_get(c, h, ext, key);
		break;
	case KBK_STORE:
	case KBK_CONCAT:
		bin_storage(c, h, ext, key);
		break;
	case KBK_DELETE:
		c->env->cnt[KVS_CNT_CMD_DELETE]++;
		res = kvs_store_delete(c->env->store, key, h->keylen, h->cas);
		c->env->cnt[res == KVS_OK ? KVS_CNT_DELETE_HITS : KVS_CNT_DELETE_MISSES]++;
		if (res == KVS_OK) {
			if (!quiet)
				bin_ok(c, h, 0);
		} else {
			bin_error(c, h, res == KVS_EXISTS ? KB_KEY_EEXISTS : KB_KEY_ENOENT);
		}
		break;
	case KBK_ARITH:
		bin_arith(c, h, ext, key);
		break;
	case KBK_QUIT:
		c->env->cnt[KVS_CNT_CMD_OTHER]++;
		if (!quiet)
			bin_ok(c, h, 0);
		c->quit = true;
		return false;
	case KBK_FLUSH:
		c->env->cnt[KVS_CNT_CMD_FLUSH]++;
		kvs_store_flush(c->env->store, h->extlen == 4 ? (int64_t)kvs_be32(ext) : 0);
		if (!quiet)
			bin_ok(c, h, 0);
		break;
	case KBK_NOOP:
	case KBK_VERBOSITY:
		c->env->cnt[KVS_CNT_CMD_OTHER]++;
		bin_ok(c, h, 0);
		break;
	case KBK_VERSION:
		c->env->cnt[KVS_CNT_CMD_OTHER]++;
		bin_head(c, h, KB_SUCCESS, NULL, 0, NULL, 0, c->env->k->len[KK_BIN_VERSION], 0);
		emit_const(c, KK_BIN_VERSION);
		break;
	case KBK_STAT:
		c->env->cnt[KVS_CNT_CMD_OTHER]++;
		bin_stats(c, h, key);
		break;
	case KBK_UNKNOWN:
		assert(0);
		break;
	}
	return true;
}

static bool step_binary(struct kvs_conn *c)
{
	uint8_t raw[KVS_BIN_HDR];
	struct kvs_bin_hdr h;

	if (c->in_bytes < KVS_BIN_HDR)
		return false;
	in_peek(c, raw, KVS_BIN_HDR);
	kvs_bin_decode(raw, &h);
	if (h.magic != KVS_BIN_REQ) {
		c->env->cnt[KVS_CNT_ERR_BIN_MAGIC]++;
		conn_close(c);
		return false;
	}
	if (!room(c, KVS_RESP_ROOM))
		return stall(c);
	uint16_t status = kvs_bin_check(&h);
	if (status != KB_SUCCESS) {
		c->env->cnt[status == KB_UNKNOWN_COMMAND ? KVS_CNT_ERR_BIN_UNKNOWN
							 : KVS_CNT_ERR_BIN_INVALID]++;
		bin_error(c, &h, status);
		in_consume(c, KVS_BIN_HDR);
		start_swallow(c, h.bodylen);
		return true;
	}
	size_t fixed = KVS_BIN_HDR + (size_t)h.extlen + h.keylen;
	if (c->in_bytes < fixed)
		return false;
	if (kvs_bin_kind(h.opcode) == KBK_STAT && !room(c, KVS_STATS_ROOM))
		return stall(c);
	const uint8_t *p = in_contig(c, fixed);
	if (p == NULL) { /* no memory for the reassembly buffer */
		c->env->cnt[KVS_CNT_ERR_NOMEM]++;
		conn_close(c);
		return false;
	}
	in_consume(c, fixed); /* the bytes stay valid until returned */
	return bin_dispatch(c, &h, p + KVS_BIN_HDR);
}

/* ---- the state machine ------------------------------------------------------ */

static bool step_nread(struct kvs_conn *c)
{
	struct kvs_pending_store *ps = &c->ps;

	while (ps->left > 0 && c->in_bytes > 0) {
		uint32_t flen;
		const uint8_t *f = in_front(c, &flen);
		uint32_t n = ps->left < flen ? (uint32_t)ps->left : flen;
		memcpy(ps->dst, f, n);
		ps->dst += n;
		ps->left -= n;
		in_consume(c, n);
	}
	if (ps->left > 0)
		return false;
	if (!room(c, KVS_RESP_ROOM))
		return stall(c);
	c->st = KS_REQ;
	if (ps->binary)
		bin_store_done(c);
	else
		text_store_done(c);
	return true;
}

static bool step_swallow(struct kvs_conn *c)
{
	uint64_t n = c->swallow < c->in_bytes ? c->swallow : c->in_bytes;

	in_consume(c, n);
	c->swallow -= n;
	if (c->swallow == 0)
		c->st = KS_REQ;
	return c->swallow == 0;
}

static bool step(struct kvs_conn *c)
{
	switch (c->st) {
	case KS_NREAD:
		return step_nread(c);
	case KS_SWALLOW:
		return step_swallow(c);
	case KS_REQ:
		break;
	}
	if (c->in_bytes == 0)
		return false;
	if (c->proto == KVS_PROTO_UNKNOWN) {
		uint32_t flen;
		c->proto = in_front(c, &flen)[0] == KVS_BIN_REQ ? KVS_PROTO_BINARY : KVS_PROTO_TEXT;
		c->env
		    ->cnt[c->proto == KVS_PROTO_BINARY ? KVS_CNT_CONN_BINARY : KVS_CNT_CONN_TEXT]++;
	}
	return c->proto == KVS_PROTO_BINARY ? step_binary(c) : step_text(c);
}

static void conn_close(struct kvs_conn *c)
{
	if (c->closed)
		return;
	flush(c);
	if (c->closed) /* the flush failed and closed */
		return;
	if (c->to_return > 0) {
		c->env->io->recv_done(c->env->core, c->id, (uint32_t)c->to_return);
		c->to_return = 0;
	}
	c->closed = true;
	c->env->io->close(c->env->core, c->id);
}

static void process(struct kvs_conn *c)
{
	if (c->busy) {
		c->again = true;
		return;
	}
	c->busy = true;
	do {
		c->again = false;
		c->stalled = false;
		while (!c->closed && !c->quit && step(c))
			;
		if (c->closed)
			break;
		flush(c);
		if (c->closed)
			break;
		while (c->to_return > 0) {
			uint32_t n =
			    c->to_return > UINT32_MAX ? UINT32_MAX : (uint32_t)c->to_return;
			c->env->io->recv_done(c->env->core, c->id, n);
			c->to_return -= n;
		}
		/* After a quit, or once the peer's last request is answered. */
		if (c->quit || (c->peer_closed && !c->stalled))
			conn_close(c);
	} while (c->again && !c->closed);
	c->busy = false;
}

/* ---- public API ------------------------------------------------------------- */

void kvs_conn_init(struct kvs_conn *c, struct kvs_env *env, dlibos_conn_t id, uint8_t *ring,
		   uint32_t ring_size)
{
	assert(ring_size >= KVS_RING_MIN);
	memset(c, 0, sizeof(*c));
	c->env = env;
	c->id = id;
	c->ring = ring;
	c->ring_size = ring_size;
	env->cnt[KVS_CNT_CONN_OPENED]++;
}

void kvs_conn_data(struct kvs_conn *c, const struct dlibos_iov *iov, unsigned n)
{
	uint64_t bytes = 0;

	for (unsigned i = 0; i < n; i++) {
		if (iov[i].len == 0)
			continue;
		bytes += iov[i].len;
		if (c->closed || c->quit) {
			c->to_return += iov[i].len; /* ignored, but returned */
			continue;
		}
		if (!iq_push(c, iov[i])) {
			c->env->cnt[KVS_CNT_ERR_IOV_OVERFLOW]++;
			c->to_return += c->in_bytes + iov[i].len;
			c->in_bytes = 0;
			c->iq_n = 0;
			c->quit = true;
		}
	}
	c->env->cnt[KVS_CNT_BYTES_READ] += bytes;
	if (c->closed) {
		c->to_return = 0; /* close released them */
		return;
	}
	process(c);
}

void kvs_conn_remote_closed(struct kvs_conn *c, bool reset)
{
	c->peer_closed = true;
	if (reset) {
		c->env->cnt[KVS_CNT_RESETS]++;
		c->in_bytes = 0;
		c->iq_n = 0;
		c->to_return = 0;
		c->nfrags = 0;
		if (!c->closed) {
			c->closed = true;
			c->env->io->close(c->env->core, c->id);
		}
		return;
	}
	if (!c->closed)
		process(c);
}

void kvs_conn_failed(struct kvs_conn *c)
{
	c->env->cnt[KVS_CNT_ERR_CMD]++;
	c->nfrags = 0;
	if (!c->closed) {
		c->closed = true;
		c->env->io->close(c->env->core, c->id);
	}
}

void kvs_conn_fini(struct kvs_conn *c)
{
	/* Completions ran before cleanup; only what was gathered and never
	 * sent (a close in mid-pass) is left. */
	assert(c->b_n == 0);
	while (c->i_n > 0) {
		kvs_store_release(c->env->store, c->items[c->i_head]);
		c->i_head = (c->i_head + 1) % KVS_MAX_ITEMS;
		c->i_n--;
	}
	if (c->ps.item != NULL) {
		kvs_store_discard(c->env->store, c->ps.item);
		c->ps.item = NULL;
	}
	free(c->iq);
	c->iq = NULL;
	free(c->buf);
	c->buf = NULL;
	c->env->cnt[KVS_CNT_CONN_CLOSED]++;
}

unsigned kvs_conn_items_in_flight(const struct kvs_conn *c)
{
	return c->i_n;
}
