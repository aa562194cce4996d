/*
 * test_np_server.c - unit tests of the NetPIPE receiver's connection logic
 * (examples/netpipe/np_server.c) against a fake DLibOS runtime.
 *
 * The fake implements the commands np_server.c uses (send, recv_done,
 * accept, close, tx_alloc/free; the send and receive helpers are the
 * library's own code on top of them, test/shim/fake_helpers.c) and checks
 * the API's rules as it goes:
 *  - every sent fragment lies in live TX memory, and the bytes it covers
 *    are unchanged when they are acknowledged (zero-touch);
 *  - received data is delivered in separately allocated segments that are
 *    poisoned and freed as soon as recv_done returns them, so a server that
 *    read returned data would send garbage (or trip ASan);
 *  - recv_done never returns more than was delivered.
 * The tests drive whole NPtcp transcripts (np_transcript.h) through one or
 * several connections and compare what was sent with what NPtcp expects.
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
#include "np_server.h"
#include "np_transcript.h"

struct dlibos_core {
	int unused;
};

/* ---- fake TX memory --------------------------------------------------------- */

#define MAX_ALLOCS 4096

static struct {
	uint8_t *p;
	size_t len;
} allocs[MAX_ALLOCS];
static size_t tx_used, tx_limit = SIZE_MAX;
static unsigned tx_failures;

void *dlibos_tx_alloc(size_t len)
{
	if (tx_used + len > tx_limit) {
		tx_failures++;
		return NULL;
	}
	for (int i = 0; i < MAX_ALLOCS; i++) {
		if (allocs[i].p == NULL) {
			void *p = NULL;
			if (posix_memalign(&p, 64, len ? len : 1) != 0)
				return NULL;
			allocs[i].p = p;
			allocs[i].len = len;
			tx_used += len;
			return p;
		}
	}
	return NULL;
}

void dlibos_tx_free(void *p)
{
	for (int i = 0; i < MAX_ALLOCS; i++) {
		if (allocs[i].p == p) {
			tx_used -= allocs[i].len;
			allocs[i].p = NULL;
			free(p);
			return;
		}
	}
	fail_msg("dlibos_tx_free(%p): not TX memory", p);
}

bool dlibos_is_tx_mem(const void *p, size_t len)
{
	const uint8_t *b = p;
	for (int i = 0; i < MAX_ALLOCS; i++)
		if (allocs[i].p != NULL && b >= allocs[i].p &&
		    b + len <= allocs[i].p + allocs[i].len)
			return true;
	return false;
}

static unsigned live_allocs(void)
{
	unsigned n = 0;
	for (int i = 0; i < MAX_ALLOCS; i++)
		n += allocs[i].p != NULL;
	return n;
}

const char *dlibos_cmd_name(enum dlibos_cmd cmd)
{
	return cmd == DLIBOS_CMD_SEND ? "send" : "command";
}

/* ---- fake connections ----------------------------------------------------------- */

struct sent {
	const uint8_t *p;
	uint32_t len;
	uint8_t *copy; /* what was sent, to check it is unchanged when acked */
	struct sent *next;
};

struct seg {
	uint8_t *p;
	uint32_t len;
	struct seg *next;
};

struct fconn {
	dlibos_conn_t id;
	bool accepted, closed;
	struct bytes out; /* everything sent, in order */
	struct sent *sent, **sent_tail;
	uint64_t sent_bytes, acked_bytes;
	struct seg *segs, **segs_tail; /* delivered, not yet fully returned */
	uint32_t seg_returned;	       /* bytes of segs returned */
	uint64_t delivered, returned;
};

#define MAX_FCONNS 8
static struct fconn fconns[MAX_FCONNS];
static unsigned nfconns;
static struct dlibos_core core0;
static unsigned refused_closes;

static struct fconn *fconn_of(dlibos_conn_t id)
{
	for (unsigned i = 0; i < nfconns; i++)
		if (fconns[i].id == id)
			return &fconns[i];
	return NULL;
}

int dlibos_accept(struct dlibos_core *c, dlibos_conn_t conn)
{
	(void)c;
	struct fconn *f = fconn_of(conn);
	assert_non_null(f);
	f->accepted = true;
	return 0;
}

int dlibos_close(struct dlibos_core *c, dlibos_conn_t conn)
{
	(void)c;
	struct fconn *f = fconn_of(conn);
	if (f == NULL) {
		refused_closes++;
		return 0;
	}
	assert_false(f->closed);
	f->closed = true;
	fake_helpers_closed(conn);
	return 0;
}

int dlibos_send(struct dlibos_core *c, dlibos_conn_t conn, const struct dlibos_frag *frags,
		unsigned n)
{
	(void)c;
	struct fconn *f = fconn_of(conn);
	assert_non_null(f);
	assert_false(f->closed);
	for (unsigned i = 0; i < n; i++) {
		assert_true(frags[i].len > 0);
		if (!dlibos_is_tx_mem(frags[i].base, frags[i].len))
			fail_msg("send: fragment %u (%u bytes) not in TX memory", i, frags[i].len);
		struct sent *s = calloc(1, sizeof(*s));
		assert_non_null(s);
		s->p = frags[i].base;
		s->len = frags[i].len;
		s->copy = malloc(s->len);
		assert_non_null(s->copy);
		memcpy(s->copy, s->p, s->len);
		*f->sent_tail = s;
		f->sent_tail = &s->next;
		bytes_put(&f->out, s->p, s->len);
		f->sent_bytes += s->len;
	}
	return 0;
}

int dlibos_recv_done(struct dlibos_core *c, dlibos_conn_t conn, uint32_t bytes)
{
	(void)c;
	struct fconn *f = fconn_of(conn);
	assert_non_null(f);
	assert_false(f->closed);
	f->returned += bytes;
	if (f->returned > f->delivered)
		fail_msg("recv_done: %llu bytes returned, %llu delivered",
			 (unsigned long long)f->returned, (unsigned long long)f->delivered);
	/* poison and free fully returned segments */
	f->seg_returned += bytes;
	while (f->segs != NULL && f->seg_returned >= f->segs->len) {
		struct seg *s = f->segs;
		f->seg_returned -= s->len;
		memset(s->p, 0xEE, s->len);
		free(s->p);
		f->segs = s->next;
		free(s);
	}
	if (f->segs == NULL)
		f->segs_tail = &f->segs;
	return 0;
}

/* The core whose connections get the writable events. */
static struct np_core *live_k;

static void on_writable(struct dlibos_core *c, dlibos_conn_t conn)
{
	np_writable(live_k, c, conn);
}

/* Copy memory of the fake core (the library's default is 4 MiB). */
static void copy_memory(size_t bytes)
{
	fake_helpers_fini();
	fake_helpers_init(&core0, bytes, on_writable);
}

static struct fconn *fake_open(struct np_core *k, dlibos_conn_t id)
{
	assert_true(nfconns < MAX_FCONNS);
	live_k = k;
	struct fconn *f = &fconns[nfconns++];
	memset(f, 0, sizeof(*f));
	f->id = id;
	f->sent_tail = &f->sent;
	f->segs_tail = &f->segs;
	np_new_conn(k, &core0, id);
	return f;
}

/* Deliver data in segments of `seg` bytes, `per_event` iovecs per event. */
static void deliver(struct np_core *k, struct fconn *f, const uint8_t *p, size_t n, uint32_t seg,
		    unsigned per_event)
{
	struct dlibos_iov iov[16];
	unsigned ni = 0;

	assert_true(per_event >= 1 && per_event <= 16);
	for (size_t at = 0; at < n;) {
		uint32_t len = n - at < seg ? (uint32_t)(n - at) : seg;
		struct seg *s = calloc(1, sizeof(*s));
		assert_non_null(s);
		s->p = malloc(len);
		assert_non_null(s->p);
		memcpy(s->p, p + at, len);
		s->len = len;
		*f->segs_tail = s;
		f->segs_tail = &s->next;
		f->delivered += len;
		iov[ni].base = s->p;
		iov[ni].len = len;
		ni++;
		at += len;
		if (ni == per_event || at == n) {
			np_new_data(k, &core0, f->id, iov, ni);
			ni = 0;
			if (f->closed)
				return; /* the runtime delivers nothing after close */
		}
	}
}

/* Acknowledge up to `max` sent bytes, checking they were left unchanged. */
static uint64_t ack(struct np_core *k, struct fconn *f, uint64_t max)
{
	uint64_t n = 0;

	while (f->sent != NULL && n < max) {
		struct sent *s = f->sent;
		if (memcmp(s->p, s->copy, s->len) != 0)
			fail_msg("sent memory changed before it was acknowledged (%u bytes)",
				 s->len);
		if (n + s->len > max)
			break;
		n += s->len;
		f->sent = s->next;
		free(s->copy);
		free(s);
	}
	if (f->sent == NULL)
		f->sent_tail = &f->sent;
	if (n > 0) {
		f->acked_bytes += n;
		/* The library releases what it covers; np_server has no
		 * data_acked of its own. */
		live_k = k;
		fake_helpers_acked(f->id, (uint32_t)n);
		fake_helpers_wake();
	}
	return n;
}

/* Acknowledge everything until the server sends nothing more. */
static void ack_all(struct np_core *k, struct fconn *f)
{
	while (ack(k, f, UINT64_MAX) > 0)
		;
}

static void fake_cleanup(struct np_core *k, struct fconn *f)
{
	fake_helpers_cleanup(f->id);
	np_cleanup(k, &core0, f->id);
	fake_helpers_wake();
	while (f->sent != NULL) {
		struct sent *s = f->sent;
		f->sent = s->next;
		free(s->copy);
		free(s);
	}
	while (f->segs != NULL) {
		struct seg *s = f->segs;
		f->segs = s->next;
		free(s->p);
		free(s);
	}
	bytes_free(&f->out);
}

static void assert_same(const struct bytes *got, const struct bytes *want, const char *what)
{
	if (got->n != want->n)
		fail_msg("%s: sent %zu bytes, NPtcp expects %zu", what, got->n, want->n);
	for (size_t i = 0; i < got->n; i++)
		if (got->p[i] != want->p[i])
			fail_msg("%s: sent byte %zu is 0x%02x, expected 0x%02x", what, i, got->p[i],
				 want->p[i]);
}

/* ---- fixtures ------------------------------------------------------------------ */

static uint64_t cnt[NP_NCNT];

static struct np_config config(bool nocopy)
{
	struct np_config cfg = {
	    .nocopy = nocopy,
	    .perturbation = 3,
	    .trials = 3,
	    .nocopy_max = 1 << 20,
	    .max_conns = 4,
	    .quiet = true,
	};
	return cfg;
}

static int setup(void **state)
{
	(void)state;
	memset(cnt, 0, sizeof(cnt));
	memset(fconns, 0, sizeof(fconns));
	nfconns = 0;
	refused_closes = 0;
	tx_limit = SIZE_MAX;
	tx_failures = 0;
	if (fake_helpers() != NULL) /* again, within a test */
		fake_helpers_fini();
	fake_helpers_init(&core0, 64 * 1024, on_writable);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fake_helpers_fini();
	assert_int_equal(live_allocs(), 0); /* everything given back */
	return 0;
}

/* A remote close as the runtime delivers it. */
static void remote_closed(struct np_core *k, struct fconn *f, enum dlibos_close_reason why)
{
	fake_helpers_remote_closed(f->id, why);
	np_remote_closed(k, &core0, f->id, why);
	fake_helpers_wake();
}

static const struct np_script script = {
    .start = 1,
    .perturbation = 3,
    .trials = 3,
    .points = 30,
    .nrepeat = 3,
    .vary = true,
};

/* Run one transcript through one connection; returns after cleanup. */
static void run_one(const struct np_config *cfg, const struct np_script *s, uint32_t seg,
		    unsigned per_event, bool ack_between)
{
	struct np_transcript t;
	struct np_core *k = np_core_create(cfg, cnt);
	assert_non_null(k);
	np_transcript_build(s, &t);
	struct fconn *f = fake_open(k, 1);
	assert_true(f->accepted);
	if (ack_between) {
		for (size_t at = 0; at < t.in.n && !f->closed; at += seg) {
			size_t n = t.in.n - at < seg ? t.in.n - at : seg;
			deliver(k, f, t.in.p + at, n, seg, per_event);
			ack_all(k, f);
		}
	} else {
		deliver(k, f, t.in.p, t.in.n, seg, per_event);
	}
	ack_all(k, f);
	assert_same(&f->out, cfg->nocopy ? &t.out_nocopy : &t.out_copy, "replies");
	assert_true(f->closed); /* after QUIT */
	assert_int_equal(f->returned, f->delivered);
	assert_int_equal(cnt[NP_CNT_RUNS_DONE], 1);
	assert_int_equal(cnt[NP_CNT_PROTO_ERRORS], 0);
	assert_int_equal(cnt[NP_CNT_MESSAGES], t.nmsgs);
	assert_int_equal(cnt[NP_CNT_DATA_POINTS], t.npoints);
	assert_int_equal(np_core_conns(k), 1);
	fake_cleanup(k, f);
	assert_int_equal(np_core_conns(k), 0);
	np_core_destroy(k);
	np_transcript_free(&t);
}

/* ---- tests ------------------------------------------------------------------------- */

static void test_copy_mode(void **state)
{
	(void)state;
	struct np_config cfg = config(false);
	run_one(&cfg, &script, 1448, 4, true);
	assert_int_equal(cnt[NP_CNT_STORES], 0);
}

static void test_copy_mode_everything_at_once(void **state)
{
	(void)state;
	struct np_config cfg = config(false);
	run_one(&cfg, &script, 1000, 16, false);
}

/* Messages far larger than the connection's share of copy memory stream
 * through it: the server never sends more than that share before
 * acknowledgements come, and resumes on writable. */
static void test_copy_streams_through_small_ring(void **state)
{
	struct np_script s = script;
	struct np_transcript t;
	struct np_config cfg = config(false);

	(void)state;
	copy_memory(8 * DL_HELP_CHUNK); /* a connection may hold 4 chunks: 8 KiB */
	s.points = 45; /* up to 1533-2051 bytes, several per trial */
	s.nrepeat = 5;
	np_transcript_build(&s, &t);
	struct np_core *k = np_core_create(&cfg, cnt);
	assert_non_null(k);
	struct fconn *f = fake_open(k, 7);
	deliver(k, f, t.in.p, t.in.n, 1448, 8);
	/* Nothing acknowledged yet: at most its share of payload went out. */
	assert_true(f->sent_bytes <= 4 * DL_HELP_CHUNK + 64 * 12);
	assert_true(f->returned < f->delivered);
	uint64_t rounds = 0;
	while (ack(k, f, 2000) > 0)
		rounds++;
	assert_true(rounds > 10);
	assert_same(&f->out, &t.out_copy, "small ring");
	assert_true(dl_helpers_counters(fake_helpers())[HC_WRITABLE] > 10);
	assert_int_equal(f->returned, f->delivered);
	assert_true(f->closed);
	fake_cleanup(k, f);
	np_core_destroy(k);
	np_transcript_free(&t);
}

static void test_nocopy_mode(void **state)
{
	(void)state;
	struct np_config cfg = config(true);
	run_one(&cfg, &script, 1448, 4, true);
	/* one store per data point; every data-phase message answered from one */
	assert_int_equal(cnt[NP_CNT_STORES], script.points);
	assert_int_equal(cnt[NP_CNT_STORE_REPLIES], cnt[NP_CNT_MESSAGES]);
}

/* nocopy returns message bytes as they arrive, acknowledged or not: a
 * message larger than all the copy memory a connection may hold is taken
 * in whole without any ack. */
static void test_nocopy_returns_data_without_acks(void **state)
{
	struct np_script s = script;
	struct np_transcript t;
	struct np_config cfg = config(true);

	(void)state;
	copy_memory(4 * DL_HELP_CHUNK); /* 2 chunks per connection; only the
					   latency phase goes through them */
	s.points = 60; /* the last size is 6147 */
	s.nrepeat = 1;
	np_transcript_build(&s, &t);
	uint32_t len = t.sizes[t.npoints - 1];
	assert_true(len > 2 * DL_HELP_CHUNK);
	/* the last data point: sync, count, then the first trial's sync */
	size_t region = 6 + 4 + s.trials * (6 + (size_t)s.nrepeat * len);
	size_t first_msg = t.in.n - NP_QUIT_LEN - region + 6 + 4 + 6;
	struct np_core *k = np_core_create(&cfg, cnt);
	assert_non_null(k);
	struct fconn *f = fake_open(k, 3);
	for (size_t at = 0; at < first_msg; at += 1000) {
		size_t n = first_msg - at < 1000 ? first_msg - at : 1000;
		deliver(k, f, t.in.p + at, n, 1000, 1);
		ack_all(k, f);
	}
	uint64_t sent = f->sent_bytes;
	deliver(k, f, t.in.p + first_msg, len, 1448, 1);
	assert_int_equal(f->returned, f->delivered);
	assert_int_equal(f->sent_bytes, sent + len); /* the store, once complete */
	ack_all(k, f);
	deliver(k, f, t.in.p + first_msg + len, t.in.n - first_msg - len, 1448, 2);
	ack_all(k, f);
	assert_true(f->closed);
	assert_same(&f->out, &t.out_nocopy, "nocopy, big message without acks");
	fake_cleanup(k, f);
	np_core_destroy(k);
	np_transcript_free(&t);
}

/* Replies owed when the data points whose size passes `stored` are
 * answered from stores and the others by copy (both layouts are the same). */
static void mixed_replies(const struct np_transcript *t, const struct np_script *s,
			  uint32_t max_stored, struct bytes *want)
{
	size_t at = 6 + NP_LATENCY_REPS * s->start + 6;

	bytes_put(want, t->out_copy.p, at);
	for (unsigned pt = 0; pt < t->npoints; pt++) {
		uint32_t len = t->sizes[pt];
		size_t n = 6 + s->trials * (6 + (size_t)s->nrepeat * len);
		const struct bytes *from = len <= max_stored ? &t->out_nocopy : &t->out_copy;
		bytes_put(want, from->p + at, n);
		at += n;
	}
	bytes_put(want, t->out_copy.p + at, t->out_copy.n - at);
}

/* Sizes above nocopy_max are copied (counted per data point). */
static void test_nocopy_fallback_too_big(void **state)
{
	struct np_transcript t;
	struct np_config cfg = config(true);
	struct bytes want = {0};
	unsigned too_big = 0;

	(void)state;
	cfg.nocopy_max = 100;
	np_transcript_build(&script, &t);
	struct np_core *k = np_core_create(&cfg, cnt);
	assert_non_null(k);
	struct fconn *f = fake_open(k, 9);
	deliver(k, f, t.in.p, t.in.n, 512, 3);
	ack_all(k, f);
	mixed_replies(&t, &script, cfg.nocopy_max, &want);
	assert_same(&f->out, &want, "too big for nocopy");
	for (unsigned pt = 0; pt < t.npoints; pt++)
		too_big += t.sizes[pt] > cfg.nocopy_max;
	assert_true(too_big > 0);
	assert_int_equal(cnt[NP_CNT_NOCOPY_TOO_BIG], too_big);
	assert_int_equal(cnt[NP_CNT_NOCOPY_NO_MEMORY], 0);
	bytes_free(&want);
	fake_cleanup(k, f);
	np_core_destroy(k);
	np_transcript_free(&t);
}

/* Stores that cannot be allocated: every data point is copied. */
static void test_nocopy_fallback_no_memory(void **state)
{
	struct np_transcript t;
	struct np_config cfg = config(true);

	(void)state;
	np_transcript_build(&script, &t);
	struct np_core *k = np_core_create(&cfg, cnt);
	assert_non_null(k);
	tx_limit = tx_used; /* TX memory exhausted after start-up */
	struct fconn *f = fake_open(k, 10);
	deliver(k, f, t.in.p, t.in.n, 512, 3);
	ack_all(k, f);
	assert_same(&f->out, &t.out_copy, "no memory for stores");
	assert_int_equal(cnt[NP_CNT_NOCOPY_NO_MEMORY], t.npoints);
	assert_int_equal(cnt[NP_CNT_STORES], 0);
	assert_true(tx_failures >= t.npoints);
	fake_cleanup(k, f);
	np_core_destroy(k);
	np_transcript_free(&t);
}

/* -i: NPtcp checks the echoed integers; in nocopy the stored first message
 * carries the same integers as every later one. */
static void test_integrity_both_modes(void **state)
{
	struct np_script s = {
	    .start = 5,
	    .perturbation = 0,
	    .trials = 1,
	    .points = 20,
	    .nrepeat = 4,
	    .integrity = true,
	};
	(void)state;
	for (int nocopy = 0; nocopy <= 1; nocopy++) {
		struct np_config cfg = config(nocopy);
		cfg.perturbation = 0;
		cfg.trials = 1;
		setup(NULL);
		run_one(&cfg, &s, 700, 2, true);
	}
	struct np_transcript t;
	np_transcript_build(&s, &t);
	assert_same(&t.out_nocopy, &t.out_copy, "-i contents are the same per size");
	np_transcript_free(&t);
}

/* Several sessions at once, interleaved segment by segment. */
static void test_concurrent_sessions(void **state)
{
	struct np_transcript t[3];
	struct fconn *f[3];
	struct np_config cfg = config(true);
	size_t at[3] = {0};
	bool left = true;

	(void)state;
	struct np_core *k = np_core_create(&cfg, cnt);
	assert_non_null(k);
	for (int i = 0; i < 3; i++) {
		struct np_script s = script;
		s.points = 20 + 5 * (unsigned)i;
		s.nrepeat = 2 + (uint32_t)i;
		np_transcript_build(&s, &t[i]);
		f[i] = fake_open(k, 100 + (dlibos_conn_t)i);
	}
	assert_int_equal(np_core_conns(k), 3);
	while (left) {
		left = false;
		for (int i = 0; i < 3; i++) {
			size_t seg = 300 + 97 * (size_t)i;
			if (at[i] >= t[i].in.n)
				continue;
			size_t n = t[i].in.n - at[i] < seg ? t[i].in.n - at[i] : seg;
			deliver(k, f[i], t[i].in.p + at[i], n, (uint32_t)seg, 1);
			at[i] += n;
			ack(k, f[(i + 1) % 3], 5000);
			left = true;
		}
	}
	for (int i = 0; i < 3; i++) {
		ack_all(k, f[i]);
		assert_same(&f[i]->out, &t[i].out_nocopy, "concurrent");
		assert_true(f[i]->closed);
	}
	assert_int_equal(cnt[NP_CNT_RUNS_DONE], 3);
	for (int i = 0; i < 3; i++) {
		fake_cleanup(k, f[i]);
		np_transcript_free(&t[i]);
	}
	np_core_destroy(k);
}

/* A peer that disconnects mid-run: FIN, then cleanup with replies unacked. */
static void test_peer_closes_mid_run(void **state)
{
	struct np_transcript t;
	struct np_config cfg = config(true);

	(void)state;
	np_transcript_build(&script, &t);
	struct np_core *k = np_core_create(&cfg, cnt);
	assert_non_null(k);
	struct fconn *f = fake_open(k, 5);
	deliver(k, f, t.in.p, t.in.n / 2, 1448, 2);
	assert_false(f->closed);
	remote_closed(k, f, DLIBOS_CLOSED_FIN);
	/* what it sent before its FIN is still answered, then we close */
	while (!f->closed && ack(k, f, 2000) > 0)
		;
	assert_true(f->closed);
	assert_int_equal(f->returned, f->delivered);
	assert_int_equal(cnt[NP_CNT_PEER_CLOSED], 1);
	assert_int_equal(cnt[NP_CNT_RUNS_DONE], 0);
	fake_cleanup(k, f); /* stores still unacked: freed here */
	np_core_destroy(k);
	np_transcript_free(&t);
}

static void test_peer_resets_mid_run(void **state)
{
	struct np_transcript t;
	struct np_config cfg = config(false);

	(void)state;
	copy_memory(8 * DL_HELP_CHUNK);
	np_transcript_build(&script, &t);
	struct np_core *k = np_core_create(&cfg, cnt);
	assert_non_null(k);
	struct fconn *f = fake_open(k, 6);
	deliver(k, f, t.in.p, t.in.n, 1448, 8); /* stalls on the ring */
	assert_false(f->closed);
	remote_closed(k, f, DLIBOS_CLOSED_RESET);
	assert_true(f->closed);
	assert_int_equal(cnt[NP_CNT_PEER_RESET], 1);
	/* late events for the closing connection are harmless */
	ack(k, f, UINT64_MAX);
	fake_cleanup(k, f);
	np_core_destroy(k);
	np_transcript_free(&t);
}

/* A client speaking something else is closed with a counted error. */
static void test_protocol_error_closes(void **state)
{
	static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	struct np_config cfg = config(false);

	(void)state;
	struct np_core *k = np_core_create(&cfg, cnt);
	assert_non_null(k);
	struct fconn *f = fake_open(k, 11);
	deliver(k, f, (const uint8_t *)http, sizeof(http) - 1, 5, 1);
	assert_true(f->closed);
	assert_int_equal(cnt[NP_CNT_PROTO_ERRORS], 1);
	assert_true(f->out.n == 0);
	fake_cleanup(k, f);
	np_core_destroy(k);
}

static void test_connection_limit(void **state)
{
	struct np_config cfg = config(false);

	(void)state;
	cfg.max_conns = 2;
	struct np_core *k = np_core_create(&cfg, cnt);
	assert_non_null(k);
	struct fconn *a = fake_open(k, 21), *b = fake_open(k, 22);
	np_new_conn(k, &core0, 23); /* no fake: the server must refuse it */
	assert_int_equal(refused_closes, 1);
	assert_int_equal(cnt[NP_CNT_REFUSED], 1);
	assert_true(a->accepted && b->accepted);
	fake_cleanup(k, a);
	struct fconn *c = fake_open(k, 24); /* a slot is free again */
	assert_true(c->accepted);
	fake_cleanup(k, b);
	fake_cleanup(k, c);
	np_core_destroy(k);
}

/* Every split point of a short run, through the whole server, both modes. */
static void test_server_every_split_point(void **state)
{
	struct np_script s = script;
	struct np_transcript t;

	(void)state;
	s.points = 10;
	s.nrepeat = 2;
	np_transcript_build(&s, &t);
	for (int nocopy = 0; nocopy <= 1; nocopy++) {
		struct np_config cfg = config(nocopy);
		for (size_t cut = 1; cut < t.in.n; cut++) {
			setup(NULL);
			struct np_core *k = np_core_create(&cfg, cnt);
			assert_non_null(k);
			struct fconn *f = fake_open(k, 40);
			deliver(k, f, t.in.p, cut, (uint32_t)cut, 1);
			ack(k, f, UINT64_MAX);
			deliver(k, f, t.in.p + cut, t.in.n - cut, (uint32_t)t.in.n, 1);
			ack_all(k, f);
			assert_same(&f->out, nocopy ? &t.out_nocopy : &t.out_copy, "split");
			assert_true(f->closed);
			fake_cleanup(k, f);
			np_core_destroy(k);
		}
	}
	np_transcript_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_copy_mode, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_copy_mode_everything_at_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_copy_streams_through_small_ring, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nocopy_mode, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nocopy_returns_data_without_acks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nocopy_fallback_too_big, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nocopy_fallback_no_memory, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_integrity_both_modes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_sessions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_peer_closes_mid_run, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_peer_resets_mid_run, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_protocol_error_closes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_connection_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_server_every_split_point, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
