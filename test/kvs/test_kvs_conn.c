/*
 * test_kvs_conn.c - memcached sessions over a fake transport.
 *
 * The fake transport keeps what the session sends as fragment references
 * and copies the bytes only when the test acknowledges them, as a NIC that
 * transmits (or retransmits) late would: a session or store that reused
 * memory still referenced by an unacknowledged send produces wrong output
 * here. Received data is kept in buffers that are overwritten as soon as the
 * session returns them (recv_done), so reading returned data shows too.
 * Every fragment must lie in "TX memory" (the arena, the constants, the
 * rings).
 *
 * Covered: every text and binary command memccapable uses, with exact
 * replies; requests split at every byte; values spanning many segments;
 * pipelining and the out-of-room stall/resume (multi-get resumed mid-line);
 * errors (line too long, bad data chunk, too large, bad magic, unknown
 * opcodes); quit, FIN, reset; references released by acks and at cleanup.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fake_helpers.h"
#include "kvs_binary.h"
#include "kvs_conn.h"
#include "kvs_store.h"

#define ARENA_BYTES (4u << 20)
#define RING_BYTES  KVS_RING_MIN
#define MAX_PEND    8192

/* ---- the fake world ---------------------------------------------------------- */

struct rxbuf {
	uint8_t *p;
	size_t len;
};

struct fake {
	/* sent, not yet acknowledged */
	struct dlibos_frag pend[MAX_PEND];
	unsigned npend;
	uint32_t pend_off; /* bytes of pend[0] already delivered */
	uint64_t sent, delivered;
	/* delivered bytes */
	uint8_t *out;
	size_t out_len, out_cap;
	/* received data not yet returned, oldest first */
	struct rxbuf rx[MAX_PEND];
	unsigned nrx;
	size_t rx_off;
	uint64_t fed, returned;
	unsigned closes, sends;
};

static struct fake F;
static uint8_t *arena;
static char consts_mem[2048];
static struct kvs_consts consts;
static uint8_t *ring;
static struct kvs_store *store;
static struct kvs_env env;
static struct kvs_info info = {.pid = 42, .threads = 1, .max_conns = 10, .port = 11211};
static struct kvs_conn conn;

static bool in_tx(const void *p, size_t len)
{
	const uint8_t *b = p;

	return (b >= arena && b + len <= arena + ARENA_BYTES) ||
	       (b >= (uint8_t *)consts_mem &&
		b + len <= (uint8_t *)consts_mem + sizeof(consts_mem)) ||
	       (b >= ring && b + len <= ring + RING_BYTES);
}

static int f_send(struct dlibos_core *c, dlibos_conn_t id, const struct dlibos_frag *fr, unsigned n)
{
	(void)c;
	(void)id;
	assert_false(F.closes > 0); /* nothing is sent after close */
	F.sends++;
	for (unsigned i = 0; i < n; i++) {
		assert_true(fr[i].len > 0);
		assert_true(in_tx(fr[i].base, fr[i].len));
		assert_true(F.npend < MAX_PEND);
		F.pend[F.npend++] = fr[i];
		F.sent += fr[i].len;
	}
	return 0;
}

static int f_recv_done(struct dlibos_core *c, dlibos_conn_t id, uint32_t bytes)
{
	(void)c;
	(void)id;
	assert_true(bytes > 0);
	F.returned += bytes;
	assert_true(F.returned <= F.fed);
	/* poison what was returned: the session must not look at it again */
	while (bytes > 0) {
		struct rxbuf *r = &F.rx[0];
		size_t k = r->len - F.rx_off < bytes ? r->len - F.rx_off : bytes;
		memset(r->p + F.rx_off, '#', k);
		F.rx_off += k;
		bytes -= (uint32_t)k;
		if (F.rx_off == r->len) {
			free(r->p);
			memmove(&F.rx[0], &F.rx[1], (F.nrx - 1) * sizeof(F.rx[0]));
			F.nrx--;
			F.rx_off = 0;
		}
	}
	return 0;
}

static int f_close(struct dlibos_core *c, dlibos_conn_t id)
{
	(void)c;
	(void)id;
	F.closes++;
	return 0;
}

/* What the library's helpers (test/shim) call: the fake transport. */
int dlibos_send(struct dlibos_core *c, dlibos_conn_t id, const struct dlibos_frag *fr, unsigned n)
{
	return f_send(c, id, fr, n);
}

int dlibos_recv_done(struct dlibos_core *c, dlibos_conn_t id, uint32_t bytes)
{
	return f_recv_done(c, id, bytes);
}

bool dlibos_is_tx_mem(const void *p, size_t len)
{
	return in_tx(p, len);
}

void *dlibos_tx_alloc(size_t len)
{
	(void)len;
	return NULL; /* sessions send by reference only: no copy memory */
}

void dlibos_tx_free(void *p)
{
	(void)p;
}

static const struct kvs_io fake_io = {dlibos_send_ref, f_recv_done, f_close};

static uint64_t clock_us = 5000000;

static uint64_t fake_clock(void *arg)
{
	(void)arg;
	return clock_us;
}

static void sum_counters(uint64_t out[KVS_NCNT], void *arg)
{
	(void)arg;
	memcpy(out, env.cnt, sizeof(env.cnt));
}

static void out_reset(void)
{
	F.out_len = 0;
}

/* Deliver (and acknowledge) up to n more sent bytes. */
static void deliver(uint64_t n)
{
	uint64_t done = 0;

	while (done < n && F.npend > 0) {
		struct dlibos_frag *f = &F.pend[0];
		uint32_t k = f->len - F.pend_off;
		if (k > n - done)
			k = (uint32_t)(n - done);
		if (F.out_len + k > F.out_cap) {
			F.out_cap = (F.out_len + k) * 2;
			F.out = realloc(F.out, F.out_cap);
		}
		memcpy(F.out + F.out_len, (const uint8_t *)f->base + F.pend_off, k);
		F.out_len += k;
		F.pend_off += k;
		done += k;
		if (F.pend_off == f->len) {
			memmove(&F.pend[0], &F.pend[1], (F.npend - 1) * sizeof(F.pend[0]));
			F.npend--;
			F.pend_off = 0;
		}
	}
	if (done > 0) {
		F.delivered += done;
		/* The library completes the sends it covers. */
		fake_helpers_acked(conn.id, (uint32_t)done);
		fake_helpers_wake();
	}
}

static void deliver_all(void)
{
	while (F.delivered < F.sent)
		deliver(F.sent - F.delivered);
}

/* Feed bytes as segments of seg bytes (0: one segment), nper per event. */
static void feed_seg(const void *data, size_t len, size_t seg, unsigned nper)
{
	struct dlibos_iov iov[64];
	unsigned n = 0;
	size_t off = 0;

	if (seg == 0)
		seg = len;
	if (nper == 0 || nper > 64)
		nper = 64;
	while (off < len) {
		size_t k = len - off < seg ? len - off : seg;
		uint8_t *p = malloc(k);
		memcpy(p, (const uint8_t *)data + off, k);
		assert_true(F.nrx < MAX_PEND);
		F.rx[F.nrx++] = (struct rxbuf){p, k};
		iov[n++] = (struct dlibos_iov){p, (uint32_t)k};
		F.fed += k;
		off += k;
		if (n == nper || off == len) {
			kvs_conn_data(&conn, iov, n);
			n = 0;
		}
	}
}

static void feed(const char *s)
{
	feed_seg(s, strlen(s), 0, 1);
}

/* Send a text request, deliver everything, compare. */
static void expect_text(const char *req, const char *want)
{
	out_reset();
	feed(req);
	deliver_all();
	if (F.out_len != strlen(want) || memcmp(F.out, want, F.out_len) != 0) {
		fprintf(stderr, "request:  %s\nwant:     %s\ngot (%zu): %.*s\n", req, want,
			F.out_len, (int)F.out_len, (const char *)F.out);
		fail();
	}
}

static void setup_world(void)
{
	memset(&F, 0, sizeof(F));
	arena = aligned_alloc(64, ARENA_BYTES);
	ring = aligned_alloc(64, RING_BYTES);
	assert_true(kvs_consts_size() <= sizeof(consts_mem));
	kvs_consts_init(&consts, consts_mem);
	struct kvs_store_conf sc = {
	    .mem_bytes = ARENA_BYTES,
	    .arena = arena,
	    .page_size = 1 << 20,
	    .now_us = fake_clock,
	    .unix_at_zero = 1700000000,
	};
	store = kvs_store_create(&sc);
	assert_non_null(store);
	memset(&env, 0, sizeof(env));
	fake_helpers_init(NULL, 0, NULL);
	env.store = store;
	env.k = &consts;
	env.io = &fake_io;
	env.info = &info;
	env.sum_counters = sum_counters;
	kvs_conn_init(&conn, &env, 7, ring, RING_BYTES);
}

/* Forget received buffers the closed session never returned (the runtime
 * releases them on close). */
static void drop_rx(void)
{
	for (unsigned i = 0; i < F.nrx; i++)
		free(F.rx[i].p);
	F.nrx = 0;
	F.rx_off = 0;
	F.fed = F.returned;
}

/* The runtime's cleanup: the library completes what is in flight
 * (aborted), then the session lets go. */
static void end_session(void)
{
	fake_helpers_cleanup(conn.id);
	kvs_conn_fini(&conn);
}

static void new_session(void)
{
	deliver_all();
	end_session();
	if (F.closes > 0)
		drop_rx();
	memset(&F.pend, 0, sizeof(F.pend));
	F.npend = 0;
	F.pend_off = 0;
	F.sent = F.delivered = 0;
	F.closes = 0;
	out_reset();
	kvs_conn_init(&conn, &env, 8, ring, RING_BYTES);
}

static void assert_store_clean(void)
{
	struct kvs_store_stats st;

	kvs_store_stats(store, &st);
	assert_int_equal(st.pending, 0);
	assert_int_equal(st.chunks - st.free_chunks, st.curr_items);
}

static int setup(void **state)
{
	(void)state;
	setup_world();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	deliver_all();
	end_session();
	fake_helpers_fini();
	assert_store_clean();
	kvs_store_destroy(store);
	for (unsigned i = 0; i < F.nrx; i++)
		free(F.rx[i].p);
	free(F.out);
	free(arena);
	free(ring);
	return 0;
}

/* ---- text protocol ---------------------------------------------------------- */

static void test_text_commands(void **state)
{
	(void)state;
	expect_text("set k 3 0 5\r\nhello\r\n", "STORED\r\n");
	expect_text("get k\r\n", "VALUE k 3 5\r\nhello\r\nEND\r\n");
	expect_text("get nope\r\n", "END\r\n");
	expect_text("add k 0 0 1\r\nx\r\n", "NOT_STORED\r\n");
	expect_text("replace none 0 0 1\r\nx\r\n", "NOT_STORED\r\n");
	expect_text("append k 0 0 6\r\n world\r\n", "STORED\r\n");
	expect_text("prepend k 0 0 1\r\n>\r\n", "STORED\r\n");
	expect_text("get k nope k\r\n",
		    "VALUE k 3 12\r\n>hello world\r\nVALUE k 3 12\r\n>hello world\r\nEND\r\n");

	/* gets / cas */
	out_reset();
	feed("gets k\r\n");
	deliver_all();
	unsigned long long cas = 0;
	assert_int_equal(sscanf((const char *)F.out, "VALUE k 3 12 %llu\r\n", &cas), 1);
	char req[128], want[128];
	snprintf(req, sizeof(req), "cas k 0 0 2 %llu\r\nv2\r\n", cas + 1);
	expect_text(req, "EXISTS\r\n");
	snprintf(req, sizeof(req), "cas k 0 0 2 %llu\r\nv2\r\n", cas);
	expect_text(req, "STORED\r\n");
	expect_text(req, "EXISTS\r\n");
	expect_text("cas none 0 0 2 1\r\nv2\r\n", "NOT_FOUND\r\n");

	/* incr / decr */
	expect_text("set n 0 0 1\r\n9\r\n", "STORED\r\n");
	expect_text("incr n 1\r\n", "10\r\n");
	expect_text("decr n 100\r\n", "0\r\n");
	expect_text("incr n 18446744073709551615\r\n", "18446744073709551615\r\n");
	expect_text("incr n 2\r\n", "1\r\n"); /* wraps */
	expect_text("incr none 1\r\n", "NOT_FOUND\r\n");
	expect_text("incr k 1\r\n",
		    "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
	expect_text("incr n x\r\n", "CLIENT_ERROR invalid numeric delta argument\r\n");

	/* delete, touch */
	expect_text("delete\r\n", "ERROR\r\n");
	expect_text("delete a b c d e\r\n", "ERROR\r\n");
	expect_text("delete n\r\n", "DELETED\r\n");
	expect_text("delete n\r\n", "NOT_FOUND\r\n");
	expect_text("touch k 10\r\n", "TOUCHED\r\n");
	expect_text("touch n 10\r\n", "NOT_FOUND\r\n");
	clock_us += 11000000;
	expect_text("get k\r\n", "END\r\n");

	/* flush_all */
	expect_text("set f 0 0 1\r\nf\r\n", "STORED\r\n");
	expect_text("flush_all\r\n", "OK\r\n");
	expect_text("get f\r\n", "END\r\n");

	/* misc */
	expect_text("version\r\n", "VERSION " KVS_VERSION "\r\n");
	expect_text("version foo bar\r\n", "VERSION " KVS_VERSION "\r\n");
	expect_text("verbosity foo bar my\r\n", "ERROR\r\n");
	expect_text("verbosity\r\n", "ERROR\r\n");
	expect_text("verbosity 1\r\n", "OK\r\n");
	expect_text("mn\r\n", "MN\r\n");
	expect_text("bogus\r\n", "ERROR\r\n");
	expect_text("\r\n", "ERROR\r\n");
	expect_text("get\r\n", "ERROR\r\n");
	expect_text("set k 0 0 x\r\n", "CLIENT_ERROR bad command line format\r\n");
	expect_text("stats noreply\r\n", "ERROR\r\n");
	/* lines may end in a bare "\n" */
	expect_text("set lf 0 0 2\nab\r\nget lf\n", "STORED\r\nVALUE lf 0 2\r\nab\r\nEND\r\n");
	(void)want;
}

static void test_text_noreply(void **state)
{
	(void)state;
	/* every noreply form answers nothing; version proves the stream is in sync */
	expect_text("set a 0 0 1 noreply\r\n1\r\n"
		    "add a 0 0 1 noreply\r\n2\r\n"
		    "replace a 0 0 1 noreply\r\n3\r\n"
		    "append a 0 0 1 noreply\r\n4\r\n"
		    "prepend a 0 0 1 noreply\r\n5\r\n"
		    "incr a 1 noreply\r\n"
		    "decr a 2 noreply\r\n"
		    "touch a 0 noreply\r\n"
		    "verbosity noreply\r\n"
		    "verbosity 0 noreply\r\n"
		    "cas a 0 0 1 1 noreply\r\nx\r\n"
		    "get a\r\n"
		    "delete a noreply\r\n"
		    "delete a 0 noreply\r\n"
		    "flush_all noreply\r\n"
		    "version\r\n",
		    "VALUE a 0 3\r\n533\r\nEND\r\nVERSION " KVS_VERSION "\r\n");
}

static void test_text_stats(void **state)
{
	(void)state;
	expect_text("set s 0 0 1\r\n1\r\n", "STORED\r\n");
	out_reset();
	feed("get s\r\nget s\r\nget missing\r\nstats\r\n");
	deliver_all();
	F.out = realloc(F.out, F.out_len + 1);
	F.out[F.out_len] = '\0';
	const char *o = (const char *)F.out;
	assert_non_null(strstr(o, "STAT cmd_get 3\r\n"));
	assert_non_null(strstr(o, "STAT get_hits 2\r\n"));
	assert_non_null(strstr(o, "STAT get_misses 1\r\n"));
	assert_non_null(strstr(o, "STAT cmd_set 1\r\n"));
	assert_non_null(strstr(o, "STAT curr_items 1\r\n"));
	assert_non_null(strstr(o, "STAT curr_connections 1\r\n"));
	assert_non_null(strstr(o, "STAT pid 42\r\n"));
	assert_non_null(strstr(o, "STAT limit_maxbytes 4194304\r\n"));
	assert_true(F.out_len > 5 && memcmp(o + F.out_len - 5, "END\r\n", 5) == 0);
	for (const char *g = "settings\0slabs\0items\0"; *g; g += strlen(g) + 1) {
		char req[32];
		snprintf(req, sizeof(req), "stats %s\r\n", g);
		out_reset();
		feed(req);
		deliver_all();
		assert_true(F.out_len > 5 && memcmp(F.out, "STAT ", 5) == 0);
		assert_memory_equal(F.out + F.out_len - 5, "END\r\n", 5);
	}
}

/* A scripted text conversation gives the same bytes however it is split. */
static const char text_script[] =
    "set alpha 1 0 10\r\n0123456789\r\n"
    "get alpha\r\n"
    "get alpha missing\r\n"
    "append alpha 0 0 3\r\nabc\r\n"
    "set num 0 0 2\r\n41\r\n"
    "incr num 1\r\n"
    "delete none\r\n"
    "get alpha num\r\n"
    "set bad 0 0 2\r\nxyz\r\n" /* "xy" + "z\r": bad data chunk, then "\n": ERROR */
    "version\r\n";

static void run_script_split(const char *script, size_t len, size_t seg, unsigned nper,
			     uint8_t **out, size_t *out_len)
{
	kvs_store_flush(store, 0);
	new_session();
	feed_seg(script, len, seg, nper);
	deliver_all();
	*out = malloc(F.out_len + 1);
	memcpy(*out, F.out, F.out_len);
	*out_len = F.out_len;
}

static void test_text_split_everywhere(void **state)
{
	uint8_t *ref, *got;
	size_t ref_len, got_len;
	size_t len = sizeof(text_script) - 1;
	(void)state;

	run_script_split(text_script, len, 0, 1, &ref, &ref_len);
	assert_true(ref_len > 0);
	/* the whole script once: check the interesting bits */
	assert_non_null(memmem(ref, ref_len, "VALUE alpha 1 10\r\n0123456789\r\nEND\r\n", 35));
	assert_non_null(memmem(ref, ref_len, "42\r\n", 4));
	assert_non_null(memmem(ref, ref_len, "CLIENT_ERROR bad data chunk\r\n", 29));
	for (size_t seg = 1; seg <= 40; seg++) {
		for (unsigned nper = 1; nper <= 3; nper++) {
			run_script_split(text_script, len, seg, nper, &got, &got_len);
			if (got_len != ref_len || memcmp(got, ref, ref_len) != 0) {
				fprintf(stderr, "split %zu/%u differs:\n%.*s\n---\n%.*s\n", seg,
					nper, (int)got_len, got, (int)ref_len, ref);
				fail();
			}
			free(got);
		}
	}
	free(ref);
}

/* A value of 300 KB arriving in 1000-byte segments goes straight into the
 * item, and the GET response references it in place. */
static void test_text_large_value(void **state)
{
	size_t vlen = 300 * 1000;
	char *req = malloc(vlen + 64);
	int h = snprintf(req, 64, "set big 5 0 %zu\r\n", vlen);
	(void)state;

	for (size_t i = 0; i < vlen; i++)
		req[h + i] = (char)('a' + i % 26);
	memcpy(req + h + vlen, "\r\n", 2);
	out_reset();
	feed_seg(req, (size_t)h + vlen + 2, 1000, 5);
	deliver_all();
	assert_int_equal(F.out_len, 8);
	assert_memory_equal(F.out, "STORED\r\n", 8);

	out_reset();
	feed("get big\r\n");
	/* one fragment for the whole VALUE line + data, inside the arena */
	assert_true(F.npend >= 2);
	assert_true((const uint8_t *)F.pend[0].base >= arena &&
		    (const uint8_t *)F.pend[0].base < arena + ARENA_BYTES);
	assert_int_equal(F.pend[0].len, strlen("VALUE big 5 300000\r\n") + vlen + 2);
	deliver_all();
	size_t hl = strlen("VALUE big 5 300000\r\n");
	assert_int_equal(F.out_len, hl + vlen + 2 + 5);
	assert_memory_equal(F.out, "VALUE big 5 300000\r\n", hl);
	assert_memory_equal(F.out + hl, req + h, vlen);
	free(req);

	/* larger than an item can be: refused, the data swallowed, stream in sync */
	size_t huge = 2u << 20;
	char *hreq = malloc(huge + 64);
	int hh = snprintf(hreq, 64, "set big 0 0 %zu\r\n", huge);
	memset(hreq + hh, 'z', huge);
	memcpy(hreq + hh + huge, "\r\nget big\r\n", 11);
	expect_text("version\r\n", "VERSION " KVS_VERSION "\r\n");
	out_reset();
	feed_seg(hreq, (size_t)hh + huge + 11, 4096, 16);
	deliver_all();
	/* a failed set also drops the old value, as memcached does */
	const char *want = "SERVER_ERROR object too large for cache\r\nEND\r\n";
	assert_int_equal(F.out_len, strlen(want));
	assert_memory_equal(F.out, want, strlen(want));
	free(hreq);
}

/* Responses stay correct when the item changes before the ack comes. */
static void test_inflight_replaced_and_deleted(void **state)
{
	struct kvs_store_stats st;
	(void)state;

	expect_text("set k 0 0 5\r\nfirst\r\n", "STORED\r\n");
	out_reset();
	feed("get k\r\n"); /* sent, not acknowledged */
	assert_int_equal(kvs_conn_items_in_flight(&conn), 1);
	/* replace and delete it behind the session's back, and churn memory */
	enum kvs_res err;
	for (int i = 0; i < 3; i++) {
		struct kvs_item *it = kvs_store_alloc(store, "k", 1, 0, 0, 5, &err);
		memcpy(kvs_item_value(it), "XXXXX", 5);
		assert_int_equal(kvs_store_store(store, it, KVS_SET, 0, NULL), KVS_OK);
	}
	assert_int_equal(kvs_store_delete(store, "k", 1, 0), KVS_OK);
	kvs_store_stats(store, &st);
	assert_int_equal(st.pending, 1);
	deliver_all(); /* the bytes are read now, at "transmission" */
	const char *want = "VALUE k 0 5\r\nfirst\r\nEND\r\n";
	assert_int_equal(F.out_len, strlen(want));
	assert_memory_equal(F.out, want, F.out_len);
	assert_int_equal(kvs_conn_items_in_flight(&conn), 0);
	kvs_store_stats(store, &st);
	assert_int_equal(st.pending, 0);
}

/* Pipelined gets larger than the scratch ring: the session stops reading,
 * then resumes on acks, also inside one multi-key line. */
static void test_stall_and_resume(void **state)
{
	(void)state;
	expect_text("set kk 0 0 3\r\nabc\r\n", "STORED\r\n");
	/* 2000 gets: each needs scratch for "VALUE kk 0 3 <cas>\r\n" */
	size_t one = strlen("gets kk\r\n");
	char *req = malloc(2000 * one + 1);
	for (int i = 0; i < 2000; i++)
		memcpy(req + i * one, "gets kk\r\n", one);
	out_reset();
	uint64_t before = env.cnt[KVS_CNT_OUT_STALLS];
	feed_seg(req, 2000 * one, 0, 1);
	assert_true(env.cnt[KVS_CNT_OUT_STALLS] > before); /* stalled */
	assert_true(F.returned < F.fed);		   /* input held back */
	deliver_all();
	assert_int_equal(F.returned, F.fed);
	/* 2000 identical answers */
	size_t ans = F.out_len / 2000;
	assert_int_equal(F.out_len, ans * 2000);
	for (int i = 1; i < 2000; i++)
		assert_memory_equal(F.out + i * ans, F.out, ans);
	free(req);

	/* one line with 2500 keys, half of them present */
	for (int i = 0; i < 2500; i += 2) {
		char s[64];
		snprintf(s, sizeof(s), "set m%d 0 0 1 noreply\r\n%d\r\n", i, i % 10);
		feed(s);
	}
	deliver_all();
	char *line = malloc(2500 * 8 + 16);
	size_t l = (size_t)sprintf(line, "gets");
	for (int i = 0; i < 2500; i++)
		l += (size_t)sprintf(line + l, " m%d", i);
	memcpy(line + l, "\r\n", 3);
	assert_true(l + 2 <= KVS_LINE_MAX);
	out_reset();
	before = env.cnt[KVS_CNT_OUT_STALLS];
	feed_seg(line, l + 2, 1400, 1); /* split: reassembled in the session buffer */
	assert_true(env.cnt[KVS_CNT_OUT_STALLS] > before);
	deliver_all();
	F.out = realloc(F.out, F.out_len + 1);
	F.out[F.out_len] = '\0';
	const char *p = (const char *)F.out;
	for (int i = 0; i < 2500; i += 2) {
		char v[32];
		int n = snprintf(v, sizeof(v), "VALUE m%d 0 1 ", i);
		assert_memory_equal(p, v, (size_t)n);
		p = strstr(p, "\r\n") + 2;
		assert_int_equal(p[0], '0' + i % 10);
		p += 3;
	}
	assert_string_equal(p, "END\r\n");
	free(line);
}

/* Many small constant replies: the fragments in flight stay bounded. */
static void test_inflight_frags_bounded(void **state)
{
	const char *one = "delete nokey\r\n";
	size_t n = 3000, len = strlen(one);
	char *req = malloc(n * len);
	(void)state;

	for (size_t i = 0; i < n; i++)
		memcpy(req + i * len, one, len);
	out_reset();
	uint64_t before = env.cnt[KVS_CNT_OUT_STALLS];
	feed_seg(req, n * len, 0, 1);
	assert_true(F.npend <= KVS_MAX_INFLIGHT_FRAGS);
	assert_true(env.cnt[KVS_CNT_OUT_STALLS] > before);
	deliver_all();
	assert_int_equal(F.out_len, n * strlen("NOT_FOUND\r\n"));
	for (size_t i = 0; i < n; i++)
		assert_memory_equal(F.out + i * 11, "NOT_FOUND\r\n", 11);
	assert_int_equal(F.returned, F.fed);
	free(req);
}

static void test_text_errors_close(void **state)
{
	(void)state;
	/* a line that never ends */
	char *junk = malloc(KVS_LINE_MAX + 10);
	memset(junk, 'x', KVS_LINE_MAX + 10);
	out_reset();
	feed_seg(junk, KVS_LINE_MAX + 10, 1000, 4);
	deliver_all();
	assert_int_equal(F.closes, 1);
	assert_int_equal(F.out_len, strlen("CLIENT_ERROR line too long\r\n"));
	assert_memory_equal(F.out, "CLIENT_ERROR line too long\r\n", F.out_len);
	free(junk);

	/* quit closes after the earlier answers */
	new_session();
	feed("version\r\nquit\r\nversion\r\n");
	deliver_all();
	assert_int_equal(F.closes, 1);
	assert_int_equal(F.out_len, strlen("VERSION " KVS_VERSION "\r\n"));

	/* FIN after pipelined requests: all answered, then closed */
	new_session();
	feed("set z 0 0 1\r\nz\r\nget z\r\n");
	kvs_conn_remote_closed(&conn, false);
	deliver_all();
	assert_int_equal(F.closes, 1);
	assert_memory_equal(F.out, "STORED\r\nVALUE z 0 1\r\nz\r\nEND\r\n", F.out_len);

	/* reset with a response in flight and a half-read value: all released */
	new_session();
	feed("get z\r\nset y 0 0 100\r\npartial");
	assert_int_equal(kvs_conn_items_in_flight(&conn), 1);
	kvs_conn_remote_closed(&conn, true);
	assert_int_equal(F.closes, 1);
	F.npend = 0; /* never delivered */
	F.sent = F.delivered;
	end_session(); /* the item's completion runs aborted */
	assert_int_equal(kvs_conn_items_in_flight(&conn), 0);
	assert_store_clean();
	drop_rx();
	kvs_conn_init(&conn, &env, 9, ring, RING_BYTES);
	F.closes = 0;
}

/* ---- binary protocol -------------------------------------------------------- */

static size_t bin_req(uint8_t *b, uint8_t op, const char *key, const void *ext, uint8_t extlen,
		      const void *val, size_t vlen, uint64_t cas)
{
	size_t kl = key ? strlen(key) : 0;

	memset(b, 0, KVS_BIN_HDR);
	b[0] = KVS_BIN_REQ;
	b[1] = op;
	b[2] = (uint8_t)(kl >> 8);
	b[3] = (uint8_t)kl;
	b[4] = extlen;
	kvs_put_be32(b + 8, (uint32_t)(extlen + kl + vlen));
	memcpy(b + 12, "\xde\xad\xbe\xef", 4);
	kvs_put_be64(b + 16, cas);
	if (extlen)
		memcpy(b + KVS_BIN_HDR, ext, extlen);
	if (kl)
		memcpy(b + KVS_BIN_HDR + extlen, key, kl);
	if (vlen)
		memcpy(b + KVS_BIN_HDR + extlen + kl, val, vlen);
	return KVS_BIN_HDR + extlen + kl + vlen;
}

struct bres {
	struct kvs_bin_hdr h;
	const uint8_t *body;
};

/* Parse the next response of F.out at *off. */
static struct bres next_res(size_t *off)
{
	struct bres r;

	assert_true(*off + KVS_BIN_HDR <= F.out_len);
	kvs_bin_decode(F.out + *off, &r.h);
	assert_int_equal(r.h.magic, KVS_BIN_RES);
	assert_int_equal(r.h.opaque, 0xdeadbeef);
	assert_int_equal(r.h.datatype, 0);
	r.body = F.out + *off + KVS_BIN_HDR;
	*off += KVS_BIN_HDR + r.h.bodylen;
	assert_true(*off <= F.out_len);
	return r;
}

static void send_bin(const uint8_t *b, size_t len)
{
	out_reset();
	feed_seg(b, len, 0, 1);
	deliver_all();
}

static uint64_t bin_set(uint8_t op, const char *key, const char *val, uint64_t cas, uint16_t want)
{
	uint8_t b[512], ext[8] = {0, 0, 0, 9, 0, 0, 0, 0};
	size_t off = 0;

	send_bin(b, bin_req(b, op, key, ext, 8, val, strlen(val), cas));
	if (kvs_bin_quiet(op) && want == KB_SUCCESS) {
		assert_int_equal(F.out_len, 0);
		return 0;
	}
	struct bres r = next_res(&off);
	assert_int_equal(r.h.opcode, op);
	assert_int_equal(r.h.vbucket, want);
	assert_int_equal(off, F.out_len);
	if (want == KB_SUCCESS)
		assert_true(r.h.cas != 0);
	else
		assert_true(r.h.cas == 0 && r.h.keylen == 0 && r.h.extlen == 0);
	return r.h.cas;
}

static void test_binary_commands(void **state)
{
	uint8_t b[1024];
	size_t off;
	struct bres r;
	(void)state;

	/* noop, version */
	send_bin(b, bin_req(b, KB_NOOP, NULL, NULL, 0, NULL, 0, 0));
	off = 0;
	r = next_res(&off);
	assert_int_equal(r.h.opcode, KB_NOOP);
	assert_int_equal(r.h.bodylen, 0);
	send_bin(b, bin_req(b, KB_VERSION, NULL, NULL, 0, NULL, 0, 0));
	off = 0;
	r = next_res(&off);
	assert_int_equal(r.h.bodylen, strlen(KVS_VERSION));
	assert_memory_equal(r.body, KVS_VERSION, r.h.bodylen);

	/* set, cas mismatch, add, replace */
	uint64_t cas = bin_set(KB_SET, "k", "value", 0, KB_SUCCESS);
	bin_set(KB_SET, "k", "value", cas + 100, KB_KEY_EEXISTS);
	cas = bin_set(KB_SET, "k", "value", cas, KB_SUCCESS);
	bin_set(KB_SETQ, "k", "v2", cas + 100, KB_KEY_EEXISTS); /* quiet errors are sent */
	bin_set(KB_SETQ, "k", "v2", 0, KB_SUCCESS);
	bin_set(KB_ADD, "k", "x", 0, KB_KEY_EEXISTS);
	bin_set(KB_ADDQ, "k", "x", 0, KB_KEY_EEXISTS);
	bin_set(KB_ADDQ, "k2", "x", 0, KB_SUCCESS);
	bin_set(KB_REPLACE, "none", "x", 0, KB_KEY_ENOENT);
	bin_set(KB_REPLACEQ, "none", "x", 0, KB_KEY_ENOENT);
	bin_set(KB_REPLACE, "k2", "y", 0, KB_SUCCESS);

	/* get family: hit and miss, quiet and with key */
	const uint8_t ops[] = {KB_GET, KB_GETQ, KB_GETK, KB_GETKQ};
	for (unsigned i = 0; i < 4; i++) {
		size_t n = bin_req(b, ops[i], "k", NULL, 0, NULL, 0, 0);
		n += bin_req(b + n, ops[i], "missing", NULL, 0, NULL, 0, 0);
		n += bin_req(b + n, KB_NOOP, NULL, NULL, 0, NULL, 0, 0);
		send_bin(b, n);
		off = 0;
		r = next_res(&off);
		bool wk = kvs_bin_with_key(ops[i]);
		assert_int_equal(r.h.opcode, ops[i]);
		assert_int_equal(r.h.vbucket, KB_SUCCESS);
		assert_int_equal(r.h.extlen, 4);
		assert_int_equal(kvs_be32(r.body), 9); /* flags */
		assert_int_equal(r.h.keylen, wk ? 1 : 0);
		assert_int_equal(r.h.bodylen, 4 + (wk ? 1 : 0) + 2);
		assert_memory_equal(r.body + 4 + r.h.keylen, "v2", 2);
		assert_true(r.h.cas != 0);
		if (!kvs_bin_quiet(ops[i])) {
			r = next_res(&off);
			assert_int_equal(r.h.vbucket, KB_KEY_ENOENT);
			assert_int_equal(r.h.cas, 0);
			if (wk) {
				assert_int_equal(r.h.keylen, 7);
				assert_memory_equal(r.body, "missing", 7);
			} else {
				assert_int_equal(r.h.keylen, 0);
				assert_memory_equal(r.body, "Not found", r.h.bodylen);
			}
		}
		r = next_res(&off);
		assert_int_equal(r.h.opcode, KB_NOOP);
		assert_int_equal(off, F.out_len);
	}

	/* incr / decr: create with initial, count, no wrap below 0 */
	uint8_t ext[20];
	kvs_put_be64(ext, 1);
	kvs_put_be64(ext + 8, 0);
	kvs_put_be32(ext + 16, 0);
	for (uint64_t i = 0; i < 5; i++) {
		send_bin(b, bin_req(b, KB_INCREMENT, "ctr", ext, 20, NULL, 0, 0));
		off = 0;
		r = next_res(&off);
		assert_int_equal(r.h.vbucket, KB_SUCCESS);
		assert_int_equal(r.h.bodylen, 8);
		assert_true(kvs_be64(r.body) == i);
	}
	send_bin(b, bin_req(b, KB_INCREMENTQ, "ctr", ext, 20, NULL, 0, 0));
	assert_int_equal(F.out_len, 0);
	kvs_put_be64(ext, 100);
	send_bin(b, bin_req(b, KB_DECREMENT, "ctr", ext, 20, NULL, 0, 0));
	off = 0;
	r = next_res(&off);
	assert_true(kvs_be64(r.body) == 0);
	kvs_put_be32(ext + 16, 0xffffffff); /* do not create */
	send_bin(b, bin_req(b, KB_DECREMENT, "nokey", ext, 20, NULL, 0, 0));
	off = 0;
	r = next_res(&off);
	assert_int_equal(r.h.vbucket, KB_KEY_ENOENT);
	send_bin(b, bin_req(b, KB_INCREMENT, "k", ext, 20, NULL, 0, 0));
	off = 0;
	r = next_res(&off);
	assert_int_equal(r.h.vbucket, KB_DELTA_BADVAL);

	/* append / prepend, then get */
	bin_set(KB_SET, "h", "hello", 0, KB_SUCCESS);
	send_bin(b, bin_req(b, KB_APPEND, "h", NULL, 0, " world", 6, 0));
	off = 0;
	r = next_res(&off);
	assert_int_equal(r.h.vbucket, KB_SUCCESS);
	send_bin(b, bin_req(b, KB_PREPENDQ, "h", NULL, 0, ">", 1, 0));
	assert_int_equal(F.out_len, 0);
	send_bin(b, bin_req(b, KB_APPEND, "none", NULL, 0, "x", 1, 0));
	off = 0;
	r = next_res(&off);
	assert_int_equal(r.h.vbucket, KB_NOT_STORED);
	send_bin(b, bin_req(b, KB_GET, "h", NULL, 0, NULL, 0, 0));
	off = 0;
	r = next_res(&off);
	assert_int_equal(r.h.bodylen - 4, 12);
	assert_memory_equal(r.body + 4, ">hello world", 12);

	/* delete / deleteq */
	send_bin(b, bin_req(b, KB_DELETE, "h", NULL, 0, NULL, 0, 0));
	off = 0;
	r = next_res(&off);
	assert_int_equal(r.h.vbucket, KB_SUCCESS);
	assert_int_equal(r.h.cas, 0);
	send_bin(b, bin_req(b, KB_DELETEQ, "h", NULL, 0, NULL, 0, 0));
	off = 0;
	r = next_res(&off);
	assert_int_equal(r.h.vbucket, KB_KEY_ENOENT);

	/* touch / gat */
	uint8_t e4[4];
	kvs_put_be32(e4, 100);
	send_bin(b, bin_req(b, KB_TOUCH, "k", e4, 4, NULL, 0, 0));
	off = 0;
	r = next_res(&off);
	assert_int_equal(r.h.vbucket, KB_SUCCESS);
	assert_int_equal(r.h.extlen, 4);
	send_bin(b, bin_req(b, KB_GATK, "k", e4, 4, NULL, 0, 0));
	off = 0;
	r = next_res(&off);
	assert_int_equal(r.h.keylen, 1);
	assert_memory_equal(r.body + 5, "v2", 2);

	/* flush / flushq */
	send_bin(b, bin_req(b, KB_FLUSHQ, NULL, NULL, 0, NULL, 0, 0));
	assert_int_equal(F.out_len, 0);
	send_bin(b, bin_req(b, KB_GET, "k", NULL, 0, NULL, 0, 0));
	off = 0;
	r = next_res(&off);
	assert_int_equal(r.h.vbucket, KB_KEY_ENOENT);
	kvs_put_be32(e4, 0);
	send_bin(b, bin_req(b, KB_FLUSH, NULL, e4, 4, NULL, 0, 0));
	off = 0;
	r = next_res(&off);
	assert_int_equal(r.h.opcode, KB_FLUSH);

	/* stat: packets until an empty key */
	send_bin(b, bin_req(b, KB_STAT, NULL, NULL, 0, NULL, 0, 0));
	off = 0;
	unsigned n = 0;
	do {
		r = next_res(&off);
		assert_int_equal(r.h.opcode, KB_STAT);
		assert_int_equal(r.h.cas, 0);
		n++;
	} while (r.h.keylen != 0);
	assert_true(n > 20);
	assert_int_equal(off, F.out_len);
	send_bin(b, bin_req(b, KB_STAT, "nosuchgroup", NULL, 0, NULL, 0, 0));
	off = 0;
	r = next_res(&off);
	assert_int_equal(r.h.vbucket, KB_KEY_ENOENT);

	/* malformed and unknown requests are answered and skipped */
	size_t len = bin_req(b, KB_GET, "k", "\1\2\3\4", 4, "junk", 4, 0);
	len += bin_req(b + len, 0x42, "zz", NULL, 0, "body", 4, 0);
	len += bin_req(b + len, KB_NOOP, NULL, NULL, 0, NULL, 0, 0);
	send_bin(b, len);
	off = 0;
	r = next_res(&off);
	assert_int_equal(r.h.vbucket, KB_EINVAL);
	r = next_res(&off);
	assert_int_equal(r.h.vbucket, KB_UNKNOWN_COMMAND);
	assert_memory_equal(r.body, "Unknown command", r.h.bodylen);
	r = next_res(&off);
	assert_int_equal(r.h.opcode, KB_NOOP);

	/* value too large: refused and skipped */
	size_t big = (1u << 20) + 10;
	uint8_t *bb = malloc(big + 64);
	uint8_t sext[8] = {0};
	len = bin_req(bb, KB_SET, "big", sext, 8, NULL, 0, 0);
	kvs_put_be32(bb + 8, (uint32_t)(8 + 3 + big));
	memset(bb + len, 'q', big);
	len += big;
	len += bin_req(bb + len, KB_NOOP, NULL, NULL, 0, NULL, 0, 0);
	out_reset();
	feed_seg(bb, len, 9000, 8);
	deliver_all();
	off = 0;
	r = next_res(&off);
	assert_int_equal(r.h.vbucket, KB_E2BIG);
	r = next_res(&off);
	assert_int_equal(r.h.opcode, KB_NOOP);
	free(bb);
}

static void test_binary_quit_and_magic(void **state)
{
	uint8_t b[64];
	size_t off = 0;
	(void)state;

	send_bin(b, bin_req(b, KB_QUIT, NULL, NULL, 0, NULL, 0, 0));
	assert_int_equal(F.closes, 1);
	struct bres r = next_res(&off);
	assert_int_equal(r.h.opcode, KB_QUIT);

	new_session();
	send_bin(b, bin_req(b, KB_QUITQ, NULL, NULL, 0, NULL, 0, 0));
	assert_int_equal(F.closes, 1);
	assert_int_equal(F.out_len, 0);

	/* a binary session that sends a non-0x80 byte is closed */
	new_session();
	size_t n = bin_req(b, KB_NOOP, NULL, NULL, 0, NULL, 0, 0);
	b[n] = 'g';
	memset(b + n + 1, 0, 23);
	send_bin(b, n + 24);
	assert_int_equal(F.closes, 1);
	assert_int_equal(env.cnt[KVS_CNT_ERR_BIN_MAGIC], 1);
}

/* A binary conversation split at every byte gives the same bytes. */
static void test_binary_split_everywhere(void **state)
{
	uint8_t s[2048], *ref, *got;
	size_t n = 0, ref_len, got_len;
	uint8_t ext[8] = {0, 0, 0, 1, 0, 0, 0, 0}, ar[20] = {0};
	(void)state;

	n += bin_req(s + n, KB_SET, "key", ext, 8, "some value", 10, 0);
	n += bin_req(s + n, KB_GETK, "key", NULL, 0, NULL, 0, 0);
	n += bin_req(s + n, KB_GETQ, "nokey", NULL, 0, NULL, 0, 0);
	n += bin_req(s + n, KB_APPENDQ, "key", NULL, 0, "!", 1, 0);
	kvs_put_be64(ar, 3);
	n += bin_req(s + n, KB_INCREMENT, "ctr", ar, 20, NULL, 0, 0);
	n += bin_req(s + n, KB_GETKQ, "key", NULL, 0, NULL, 0, 0);
	n += bin_req(s + n, KB_NOOP, NULL, NULL, 0, NULL, 0, 0);
	run_script_split((const char *)s, n, 0, 1, &ref, &ref_len);
	assert_true(ref_len > 100);
	for (size_t seg = 1; seg <= 30; seg++) {
		run_script_split((const char *)s, n, seg, seg % 3 + 1, &got, &got_len);
		/* cas values differ between runs: compare everything else */
		assert_int_equal(got_len, ref_len);
		size_t o1 = 0;
		F.out = realloc(F.out, got_len);
		memcpy(F.out, got, got_len);
		F.out_len = got_len;
		while (o1 < got_len) {
			size_t start = o1;
			struct bres r = next_res(&o1);
			assert_memory_equal(got + start, ref + start, 16);
			assert_memory_equal(got + start + 24, ref + start + 24, r.h.bodylen);
		}
		free(got);
	}
	free(ref);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_text_commands, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_text_noreply, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_text_stats, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_text_split_everywhere, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_text_large_value, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_inflight_replaced_and_deleted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stall_and_resume, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_inflight_frags_bounded, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_text_errors_close, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_binary_commands, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_binary_quit_and_magic, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_binary_split_everywhere, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
