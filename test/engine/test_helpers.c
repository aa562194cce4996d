/*
 * test_helpers.c - the send and receive helpers (lib/engine/helpers.c)
 * alone, against a model.
 *
 * The fake world records every fragment the helpers send, per connection,
 * with the bytes the model says the stream holds there. Acknowledging
 * bytes first "transmits" them (compares the fragment's memory with the
 * model, as a NIC that sends or resends late would), then tells the
 * helpers. After every step every unacknowledged byte of a copy must sit
 * in a chunk the pool counts as in use and still hold what was sent;
 * chunks the pool gives back are poisoned at once, so a chunk released
 * before its last byte was acknowledged shows as corrupt data even when no
 * other connection reuses it. Completions are checked against the model
 * (status 0 only once the last byte is acknowledged, -ECONNABORTED at
 * cleanup, once each, in send order), writable events against the
 * shortages that armed them.
 *
 * Covered: interleaved and partial acknowledgements over many connections,
 * connections cleaned up (closed, reset) with data unacknowledged, pool
 * exhaustion and the per-connection limit with their writable events,
 * dlibos_send_copy_room, completions; the receive queue: lines, fixed
 * sizes and frames in place and gathered, byte by byte, limits, returns in
 * order, drops at close and reset.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dl_helpers.h"

#define MAX_CONNS 128
#define MAX_FRAGS 8192
#define MAX_REFS  4096
#define POISON	  0xEE

static struct dlibos_core *const CORE = (struct dlibos_core *)(uintptr_t)0x1000;

/* ---- the model -------------------------------------------------------------------- */

struct mfrag {
	const uint8_t *p;
	uint32_t len;
	uint64_t start; /* offset in the connection's stream */
};

struct mref {
	uint64_t end;
	bool called;
	int status;
};

struct mconn {
	dlibos_conn_t id;
	bool live;
	uint8_t *stream; /* every byte sent, in order */
	size_t cap;
	uint64_t sent, acked;
	struct mfrag *frags;
	unsigned fhead, nfrags;
	bool short_pending; /* a shortage armed writable */
	unsigned writables;
	unsigned refs[MAX_REFS]; /* indexes into W.refs, in send order */
	unsigned nrefs, refs_done;
	/* receive */
	uint64_t returned;
};

static struct {
	struct dl_helpers *h;
	struct mconn c[MAX_CONNS];
	unsigned nconns;
	size_t pool_bytes;
	uint8_t *pool;
	bool *held; /* per chunk, as last seen */
	struct mref refs[MAX_REFS * 4];
	unsigned nrefs;
	unsigned writable_events;
	unsigned done_calls;
	int send_rc; /* what the fake send returns */
	uint64_t recv_done_calls;
	/* completions that send again */
	bool resend_in_done;
} W;

static uint8_t refmem[1 << 16]; /* "application TX memory" for send_ref */

static struct mconn *mc_of(dlibos_conn_t id)
{
	for (unsigned i = 0; i < W.nconns; i++)
		if (W.c[i].id == id)
			return &W.c[i];
	return NULL;
}

static void model_append(struct mconn *m, const void *data, size_t len)
{
	if (len == 0)
		return;
	if (m->sent + len > m->cap) {
		size_t cap = m->cap ? m->cap : 4096;
		while (cap < m->sent + len)
			cap *= 2;
		m->stream = realloc(m->stream, cap);
		assert_non_null(m->stream);
		m->cap = cap;
	}
	memcpy(m->stream + m->sent, data, len);
	m->sent += len;
}

/* ---- the fake world's operations ------------------------------------------------------ */

static uint64_t frag_bytes_pending; /* sent by the helpers, not yet checked into the model */

static int f_send(void *ctx, dlibos_conn_t conn, const struct dlibos_frag *f, unsigned n)
{
	struct mconn *m = mc_of(conn);

	assert_ptr_equal(ctx, &W);
	assert_non_null(m);
	assert_true(m->live);
	if (W.send_rc != 0)
		return W.send_rc;
	for (unsigned i = 0; i < n; i++) {
		assert_true(f[i].len > 0);
		assert_true(m->nfrags < MAX_FRAGS);
		m->frags[(m->fhead + m->nfrags++) % MAX_FRAGS] =
		    (struct mfrag){f[i].base, f[i].len, m->sent + frag_bytes_pending};
		frag_bytes_pending += f[i].len;
	}
	return 0;
}

static int f_recv_done(void *ctx, dlibos_conn_t conn, uint32_t bytes)
{
	struct mconn *m = mc_of(conn);

	assert_ptr_equal(ctx, &W);
	assert_non_null(m);
	assert_true(bytes > 0);
	m->returned += bytes;
	W.recv_done_calls++;
	return 0;
}

static void f_writable(void *ctx, dlibos_conn_t conn)
{
	struct mconn *m = mc_of(conn);

	assert_ptr_equal(ctx, &W);
	assert_non_null(m);
	assert_true(m->live);
	/* Only after a shortage, once per shortage, and with room again. */
	assert_true(m->short_pending);
	m->short_pending = false;
	m->writables++;
	W.writable_events++;
	assert_true(dl_helpers_copy_room(W.h, conn, 0) > 0);
}

static void *f_pool_alloc(void *ctx, size_t *len)
{
	void *p = NULL;

	assert_ptr_equal(ctx, &W);
	*len = W.pool_bytes;
	if (posix_memalign(&p, 64, *len) != 0)
		return NULL;
	W.pool = p;
	return p;
}

static void f_pool_free(void *ctx, void *mem)
{
	assert_ptr_equal(ctx, &W);
	assert_ptr_equal(mem, W.pool);
	free(mem);
	W.pool = NULL;
}

static const struct dl_help_ops ops = {
    .send = f_send,
    .recv_done = f_recv_done,
    .writable = f_writable,
    .pool_alloc = f_pool_alloc,
    .pool_free = f_pool_free,
};

static void on_done(struct dlibos_core *c, dlibos_conn_t conn, void *arg, int status)
{
	unsigned idx = (unsigned)(uintptr_t)arg;
	struct mconn *m = mc_of(conn);
	struct mref *r = &W.refs[idx];

	assert_ptr_equal(c, CORE);
	assert_non_null(m);
	assert_false(r->called);
	/* In send order. */
	assert_true(m->refs_done < m->nrefs);
	assert_int_equal(m->refs[m->refs_done], idx);
	m->refs_done++;
	r->called = true;
	r->status = status;
	W.done_calls++;
	if (status == 0)
		assert_true(m->acked >= r->end); /* never before the last byte */
	else
		assert_int_equal(status, -ECONNABORTED);
}

/* ---- set-up ------------------------------------------------------------------------------ */

static void rx_reset(void);

static void world_init(size_t pool_bytes, unsigned nconns)
{
	for (unsigned i = 0; i < W.nconns; i++) {
		free(W.c[i].stream);
		free(W.c[i].frags);
	}
	free(W.held);
	rx_reset(); /* a failed test leaves its pieces behind */
	memset(&W, 0, sizeof(W));
	W.pool_bytes = pool_bytes;
	W.nconns = nconns;
	for (unsigned i = 0; i < nconns; i++) {
		W.c[i].id = dlibos_conn_make(i % 3, 1000 + i);
		W.c[i].live = true;
		W.c[i].frags = calloc(MAX_FRAGS, sizeof(struct mfrag));
		assert_non_null(W.c[i].frags);
	}
	W.held = calloc(pool_bytes / DL_HELP_CHUNK + 1, sizeof(bool));
	W.h = dl_helpers_create(&ops, &W, CORE, pool_bytes, -1);
	assert_non_null(W.h);
	for (size_t i = 0; i < sizeof(refmem); i++)
		refmem[i] = (uint8_t)(i * 7 + 3);
}

static void world_fini(void)
{
	dl_helpers_destroy(W.h);
	W.h = NULL;
	assert_null(W.pool); /* given back */
}

/* ---- checks -------------------------------------------------------------------------------- */

static bool in_pool(const void *p)
{
	return W.pool != NULL && (const uint8_t *)p >= W.pool &&
	       (const uint8_t *)p < W.pool + W.pool_bytes;
}

/* Poison the chunks the pool gave back since the last look. */
static void poison_freed(void)
{
	uint32_t n, nfree, parked;

	if (W.pool == NULL)
		return;
	dl_helpers_pool_state(W.h, &n, &nfree, &parked);
	for (uint32_t k = 0; k < n; k++) {
		bool held = dl_helpers_pool_holds(W.h, W.pool + (size_t)k * DL_HELP_CHUNK);
		if (W.held[k] && !held)
			memset(W.pool + (size_t)k * DL_HELP_CHUNK, POISON, DL_HELP_CHUNK);
		W.held[k] = held;
	}
}

/* Every unacknowledged byte of every connection: where a copy put it is in
 * use, and it still holds what the model says. */
static void check_unacked(void)
{
	poison_freed();
	for (unsigned i = 0; i < W.nconns; i++) {
		struct mconn *m = &W.c[i];
		if (!m->live)
			continue;
		for (unsigned j = 0; j < m->nfrags; j++) {
			struct mfrag *f = &m->frags[(m->fhead + j) % MAX_FRAGS];
			for (uint32_t b = 0; b < f->len; b++) {
				if (f->start + b < m->acked)
					continue;
				if (in_pool(f->p + b) && !dl_helpers_pool_holds(W.h, f->p + b))
					fail_msg(
					    "conn %u: unacknowledged byte %llu in a free chunk", i,
					    (unsigned long long)(f->start + b));
				if (f->p[b] != m->stream[f->start + b])
					fail_msg("conn %u: byte %llu is 0x%02x, sent 0x%02x", i,
						 (unsigned long long)(f->start + b), f->p[b],
						 m->stream[f->start + b]);
			}
		}
	}
}

/* "Transmit" then acknowledge n bytes of connection i. */
static void ack(unsigned i, uint64_t n)
{
	struct mconn *m = &W.c[i];

	assert_true(m->acked + n <= m->sent);
	while (n > 0) {
		uint32_t k = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
		/* The bytes as the NIC reads them now. */
		for (unsigned j = 0; j < m->nfrags; j++) {
			struct mfrag *f = &m->frags[(m->fhead + j) % MAX_FRAGS];
			for (uint32_t b = 0; b < f->len; b++) {
				uint64_t at = f->start + b;
				if (at >= m->acked && at < m->acked + k && f->p[b] != m->stream[at])
					fail_msg(
					    "conn %u: byte %llu transmitted as 0x%02x, sent 0x%02x",
					    i, (unsigned long long)at, f->p[b], m->stream[at]);
			}
		}
		m->acked += k;
		while (m->nfrags > 0) {
			struct mfrag *f = &m->frags[m->fhead];
			if (f->start + f->len > m->acked)
				break;
			m->fhead = (m->fhead + 1) % MAX_FRAGS;
			m->nfrags--;
		}
		dl_helpers_acked(W.h, m->id, k);
		dl_helpers_wake(W.h);
		n -= k;
	}
}

/* dlibos_send_copy of len pattern bytes; returns what was taken. */
static size_t copy(unsigned i, size_t len, uint32_t seed)
{
	struct mconn *m = &W.c[i];
	uint8_t *buf = malloc(len);
	long r;

	assert_non_null(buf);
	for (size_t b = 0; b < len; b++)
		buf[b] = (uint8_t)((seed + b) * 2654435761u >> 24);
	frag_bytes_pending = 0;
	r = dl_helpers_send_copy(W.h, m->id, buf, len);
	assert_true(r >= 0 && (size_t)r <= len);
	assert_int_equal(frag_bytes_pending, (uint64_t)r); /* sent exactly what it took */
	model_append(m, buf, (size_t)r);
	memset(buf, 0x55, len); /* the caller's buffer is free on return */
	free(buf);
	if ((size_t)r < len)
		m->short_pending = true;
	return (size_t)r;
}

/* dlibos_send_ref of one fragment of refmem, with a completion. */
static void ref(unsigned i, uint32_t off, uint32_t len, bool with_done)
{
	struct mconn *m = &W.c[i];
	struct dlibos_frag f = {refmem + off, len};
	unsigned idx = W.nrefs;

	frag_bytes_pending = 0;
	if (with_done) {
		assert_true(W.nrefs < MAX_REFS * 4 && m->nrefs < MAX_REFS);
		W.refs[W.nrefs++] = (struct mref){.end = m->sent + len};
		m->refs[m->nrefs++] = idx;
	}
	assert_int_equal(dl_helpers_send_ref(W.h, m->id, &f, 1, with_done ? on_done : NULL,
					     (void *)(uintptr_t)idx),
			 0);
	assert_int_equal(frag_bytes_pending, len);
	model_append(m, refmem + off, len);
}

/* The connection ends (cleanup) with whatever is unacknowledged. */
static void end_conn(unsigned i)
{
	struct mconn *m = &W.c[i];

	dl_helpers_cleanup(W.h, m->id);
	dl_helpers_wake(W.h);
	/* Every completion ran, the pending ones as aborted. */
	assert_int_equal(m->refs_done, m->nrefs);
	for (unsigned j = 0; j < m->nrefs; j++) {
		struct mref *r = &W.refs[m->refs[j]];
		assert_true(r->called);
		if (r->status == 0)
			assert_true(r->end <= m->acked);
		else
			assert_true(r->end > m->acked);
	}
	assert_int_equal(dl_helpers_conn_chunks(W.h, m->id), 0);
	m->live = false;
}

/* A new connection in slot i (after end_conn). */
static void reopen(unsigned i, uint32_t gen)
{
	struct mconn *m = &W.c[i];
	struct mfrag *frags = m->frags;

	free(m->stream);
	memset(m, 0, sizeof(*m));
	m->frags = frags;
	m->id = dlibos_conn_make(i % 3, 100000 + gen * MAX_CONNS + i);
	m->live = true;
}

static uint32_t rnd_state = 12345;

static uint32_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return rnd_state;
}

/* ---- transmit tests ------------------------------------------------------------------------ */

/* Many connections, random copies, references and partial acknowledgements
 * in random order, some connections reset with data in flight: nothing is
 * freed early, everything is freed in the end. */
static void test_interleaved_acks_many_conns(void **state)
{
	unsigned gens = 0;

	(void)state;
	world_init(64 * DL_HELP_CHUNK, 64); /* short of memory now and then */
	for (unsigned step = 0; step < 30000; step++) {
		unsigned i = rnd() % W.nconns;
		struct mconn *m = &W.c[i];
		unsigned op = rnd() % 100;
		if (op < 40) {
			static const size_t sizes[] = {1, 7, 64, 100, 1448, 2047, 2048, 2049, 5000};
			copy(i, sizes[rnd() % 9], rnd());
		} else if (op < 48) {
			ref(i, rnd() % 1000, 1 + rnd() % 3000, rnd() % 4 != 0);
		} else if (op < 97) {
			uint64_t un = m->sent - m->acked;
			if (un > 0)
				ack(i, rnd() % 3 == 0 ? un : 1 + rnd() % un);
		} else {
			end_conn(i);
			reopen(i, ++gens);
		}
		if (step % 16 == 0)
			check_unacked();
	}
	check_unacked();
	/* Acknowledge everything: every chunk comes back (or is parked, one
	 * at most per connection), every completion ran. */
	for (unsigned i = 0; i < W.nconns; i++)
		if (W.c[i].sent > W.c[i].acked)
			ack(i, W.c[i].sent - W.c[i].acked);
	uint32_t n, nfree, parked;
	dl_helpers_pool_state(W.h, &n, &nfree, &parked);
	assert_int_equal(nfree + parked, n);
	assert_int_equal(dl_helpers_counters(W.h)[HC_CHUNKS_IN_USE], parked);
	for (unsigned i = 0; i < W.nconns; i++) {
		assert_int_equal(W.c[i].refs_done, W.c[i].nrefs);
		assert_true(dl_helpers_conn_chunks(W.h, W.c[i].id) <= 1);
		/* Every shortage was answered by one writable. */
		assert_false(W.c[i].short_pending);
	}
	assert_true(gens > 100);
	assert_true(W.writable_events > 0);
	assert_true(dl_helpers_counters(W.h)[HC_COPY_SHORT_POOL] > 0);
	assert_true(dl_helpers_counters(W.h)[HC_DONE_ABORTED] > 0);
	assert_int_equal(dl_helpers_counters(W.h)[HC_ACK_BEYOND_SENT], 0);
	/* The cleanups give the parked chunks back too. */
	for (unsigned i = 0; i < W.nconns; i++)
		end_conn(i);
	assert_int_equal(dl_helpers_counters(W.h)[HC_CHUNKS_IN_USE], 0);
	world_fini();
}

/* Acknowledgements of one byte at a time: a chunk is released exactly when
 * its last byte is acknowledged, not one byte before; the tail of a
 * connection with nothing unacknowledged is parked for its next copy. */
static void test_chunk_released_at_last_byte(void **state)
{
	uint32_t n, nfree, parked;

	(void)state;
	world_init(16 * DL_HELP_CHUNK, 2);
	assert_int_equal(copy(1, 100, 2), 100);				    /* chunk 0 */
	assert_int_equal(copy(0, 3 * DL_HELP_CHUNK, 1), 3 * DL_HELP_CHUNK); /* 1, 2, 3 */
	assert_int_equal(W.c[0].nfrags, 1); /* consecutive chunks: one fragment */
	dl_helpers_pool_state(W.h, &n, &nfree, &parked);
	assert_int_equal(n - nfree, 4);
	for (unsigned b = 1; b <= 3 * DL_HELP_CHUNK; b++) {
		ack(0, 1);
		dl_helpers_pool_state(W.h, &n, &nfree, &parked);
		/* Connection 1's chunk stays; connection 0's go one by one. */
		assert_int_equal(n - nfree - parked, 1 + 3 - b / DL_HELP_CHUNK);
		if (b % 512 == 0)
			check_unacked();
	}
	assert_int_equal(parked, 1); /* connection 0's tail */
	/* Its next copies go into the parked chunk, then the one after it:
	 * one fragment. */
	assert_int_equal(copy(0, 10, 3), 10);
	dl_helpers_pool_state(W.h, &n, &nfree, &parked);
	assert_int_equal(parked, 0);
	assert_int_equal(copy(0, DL_HELP_CHUNK, 4), DL_HELP_CHUNK);
	assert_int_equal(W.c[0].nfrags, 2);
	assert_int_equal(W.c[0].frags[(W.c[0].fhead + 1) % MAX_FRAGS].len, DL_HELP_CHUNK);
	check_unacked();
	ack(1, 100);
	ack(0, 10 + DL_HELP_CHUNK);
	dl_helpers_pool_state(W.h, &n, &nfree, &parked);
	assert_int_equal(nfree + parked, n);
	assert_int_equal(parked, 2);
	world_fini();
}

/* Parked chunks go back to the pool when it runs dry, all at once; none
 * is parked when an eighth of the pool or less is free. */
static void test_parked_chunks_reclaimed(void **state)
{
	uint32_t n, nfree, parked;

	(void)state;
	world_init(16 * DL_HELP_CHUNK, 8); /* 16 chunks, 8 per connection */
	for (unsigned i = 0; i < 8; i++) {
		assert_int_equal(copy(i, 100, i), 100);
		ack(i, 100);
	}
	dl_helpers_pool_state(W.h, &n, &nfree, &parked);
	assert_int_equal(parked, 8);
	assert_int_equal(nfree, 8);
	/* Connection 0 fills its share: its parked chunk and 7 free ones. */
	assert_int_equal(copy(0, 8 * DL_HELP_CHUNK, 9), 8 * DL_HELP_CHUNK);
	/* Connection 1: its parked chunk and the last free one. */
	assert_int_equal(copy(1, 2 * DL_HELP_CHUNK, 10), 2 * DL_HELP_CHUNK);
	dl_helpers_pool_state(W.h, &n, &nfree, &parked);
	assert_int_equal(nfree, 0);
	assert_int_equal(parked, 6);
	/* Connection 2 needs one more: every parked chunk is taken back. */
	assert_int_equal(copy(2, 2 * DL_HELP_CHUNK, 11), 2 * DL_HELP_CHUNK);
	dl_helpers_pool_state(W.h, &n, &nfree, &parked);
	assert_int_equal(parked, 0);
	assert_int_equal(nfree, 4);
	assert_int_equal(dl_helpers_counters(W.h)[HC_PARKED_RECLAIMS], 1);
	for (unsigned i = 3; i < 8; i++)
		assert_int_equal(dl_helpers_conn_chunks(W.h, W.c[i].id), 0);
	assert_int_equal(dl_helpers_copy_room(W.h, W.c[3].id, 0), 4 * DL_HELP_CHUNK);
	check_unacked();
	/* Little free memory: a connection acknowledged whole gives its
	 * chunk back rather than park it. */
	assert_int_equal(copy(3, 100, 12), 100);
	assert_int_equal(copy(4, 100, 13), 100);
	assert_int_equal(copy(5, 100, 14), 100);
	dl_helpers_pool_state(W.h, &n, &nfree, &parked);
	assert_int_equal(nfree, 1);
	ack(3, 100);
	dl_helpers_pool_state(W.h, &n, &nfree, &parked);
	assert_int_equal(parked, 0);
	assert_int_equal(nfree, 2);
	for (unsigned i = 0; i < 8; i++)
		if (W.c[i].sent > W.c[i].acked)
			ack(i, W.c[i].sent - W.c[i].acked);
	for (unsigned i = 0; i < 8; i++)
		end_conn(i);
	dl_helpers_pool_state(W.h, &n, &nfree, &parked);
	assert_int_equal(nfree, n);
	world_fini();
}

/* A connection closed or reset with copies and references in flight:
 * completions run aborted, chunks come back, once; acknowledgements after
 * the cleanup (a late event) change nothing. */
static void test_cleanup_with_unacked(void **state)
{
	uint32_t n, nfree, parked;

	(void)state;
	world_init(64 * DL_HELP_CHUNK, 3);
	copy(0, 5000, 1);
	ref(0, 0, 100, true);
	copy(0, 300, 2);
	ref(0, 100, 50, true);
	ref(0, 200, 60, false);
	copy(1, 9000, 3);
	ref(1, 0, 10, true);
	ack(0, 5000 + 100); /* the first reference completes */
	assert_int_equal(W.done_calls, 1);
	assert_int_equal(W.refs[0].status, 0);
	end_conn(0); /* reset: the second reference aborted */
	assert_int_equal(W.done_calls, 2);
	assert_int_equal(W.refs[1].status, -ECONNABORTED);
	dl_helpers_acked(W.h, W.c[0].id, 100); /* late: ignored */
	dl_helpers_cleanup(W.h, W.c[0].id);    /* twice: nothing more */
	assert_int_equal(W.done_calls, 2);
	check_unacked();
	end_conn(1);
	assert_int_equal(W.refs[2].status, -ECONNABORTED);
	dl_helpers_pool_state(W.h, &n, &nfree, &parked);
	assert_int_equal(nfree, n);
	/* Shutdown: abort_all does the same for what is left. */
	reopen(0, 1);
	copy(0, 100, 5);
	ref(0, 0, 10, true);
	dl_helpers_abort_all(W.h);
	assert_true(W.refs[3].called);
	assert_int_equal(W.refs[3].status, -ECONNABORTED);
	dl_helpers_pool_state(W.h, &n, &nfree, &parked);
	assert_int_equal(nfree, n);
	assert_int_equal(dl_helpers_conns(W.h), 0);
	world_fini();
}

/* The pool runs out: copies take a prefix, writable follows once when
 * memory is back, the waiters in the order they ran short; a connection at
 * its own limit waits for its own acknowledgements. */
static void test_exhaustion_and_writable(void **state)
{
	size_t t;

	(void)state;
	world_init(16 * DL_HELP_CHUNK, 4); /* 16 chunks, 8 per connection */
	/* Connection 0 takes its share, 8 chunks, and runs into its limit. */
	t = copy(0, 20 * DL_HELP_CHUNK, 1);
	assert_int_equal(t, 8 * DL_HELP_CHUNK);
	assert_int_equal(dl_helpers_counters(W.h)[HC_COPY_SHORT_CONN], 1);
	/* Connection 1 takes the other 8. */
	assert_int_equal(copy(1, 8 * DL_HELP_CHUNK, 2), 8 * DL_HELP_CHUNK);
	/* Connection 2 and 3 find nothing: 0 bytes, armed, in that order. */
	assert_int_equal(copy(2, 100, 3), 0);
	assert_int_equal(copy(3, 4000, 4), 0);
	assert_int_equal(dl_helpers_counters(W.h)[HC_COPY_SHORT_POOL], 2);
	assert_int_equal(dl_helpers_copy_room(W.h, W.c[2].id, 0), 0);
	/* Half a chunk acknowledged: nothing freed, nobody woken. */
	ack(1, DL_HELP_CHUNK / 2);
	assert_int_equal(W.writable_events, 0);
	/* One chunk of connection 1 back: connection 2 (wants 100) is woken;
	 * connection 3 wants 4000, more than one chunk: it waits. */
	ack(1, DL_HELP_CHUNK / 2);
	assert_int_equal(W.c[2].writables, 1);
	assert_int_equal(W.c[3].writables, 0);
	assert_int_equal(copy(2, 100, 5), 100);
	/* Connection 0's own acknowledgements free a chunk: it wants a
	 * quarter of its share (2 chunks), connection 3 wants 4000 bytes:
	 * neither is woken, and the pool's waiters stay in line. */
	ack(0, DL_HELP_CHUNK);
	assert_int_equal(W.c[0].writables, 0);
	assert_int_equal(W.c[3].writables, 0);
	/* Two chunks free: both. */
	ack(0, DL_HELP_CHUNK);
	assert_int_equal(W.c[0].writables, 1);
	assert_int_equal(W.c[3].writables, 1);
	assert_int_equal(copy(3, 4000, 6), 4000);
	ack(0, 6 * DL_HELP_CHUNK);
	assert_int_equal(W.c[0].writables, 1);
	/* copy_room: asking for more than fits arms writable. */
	size_t room = dl_helpers_copy_room(W.h, W.c[2].id, 1 << 30);
	assert_true(room < (size_t)1 << 30);
	W.c[2].short_pending = true;
	ack(1, 7 * DL_HELP_CHUNK);
	ack(2, 100);
	ack(3, 4000);
	/* want is capped at the share (8 chunks): woken once it holds none. */
	assert_int_equal(W.c[2].writables, 2);
	assert_int_equal(dl_helpers_counters(W.h)[HC_WRITABLE], 4);
	/* No shortage, no writable. */
	assert_int_equal(copy(1, 10, 7), 10);
	ack(1, 10);
	assert_int_equal(dl_helpers_counters(W.h)[HC_WRITABLE], 4);
	check_unacked();
	world_fini();
}

/* A connection cleaned up while waiting for memory gets no writable. */
static void test_no_writable_after_cleanup(void **state)
{
	(void)state;
	world_init(4 * DL_HELP_CHUNK, 2); /* 2 per connection */
	assert_int_equal(copy(0, 2 * DL_HELP_CHUNK, 1), 2 * DL_HELP_CHUNK);
	assert_int_equal(copy(1, 2 * DL_HELP_CHUNK, 2), 2 * DL_HELP_CHUNK);
	assert_int_equal(copy(1, 1, 3), 0); /* armed */
	end_conn(1);
	ack(0, 2 * DL_HELP_CHUNK);
	assert_int_equal(W.writable_events, 0);
	world_fini();
}

/* Completions: in order, only once covered, partial acknowledgements
 * complete nothing early; a completion may send again. */
static bool resend_once;

static void done_resend(struct dlibos_core *c, dlibos_conn_t conn, void *arg, int status)
{
	on_done(c, conn, arg, status);
	if (resend_once && status == 0) {
		resend_once = false;
		ref((unsigned)(mc_of(conn) - W.c), 0, 10, true);
	}
}

static void test_ref_completions(void **state)
{
	(void)state;
	world_init(16 * DL_HELP_CHUNK, 1);
	ref(0, 0, 100, true);
	ref(0, 0, 100, true);
	copy(0, 50, 1);
	ref(0, 0, 1, true);
	ack(0, 99);
	assert_int_equal(W.done_calls, 0);
	ack(0, 1);
	assert_int_equal(W.done_calls, 1);
	ack(0, 150);
	assert_int_equal(W.done_calls, 2);
	ack(0, 1);
	assert_int_equal(W.done_calls, 3);
	/* A completion that sends again: the new record is kept. */
	struct mconn *m = &W.c[0];
	struct dlibos_frag f = {refmem, 20};
	unsigned idx = W.nrefs;
	W.refs[W.nrefs++] = (struct mref){.end = m->sent + 20};
	m->refs[m->nrefs++] = idx;
	resend_once = true;
	frag_bytes_pending = 0;
	assert_int_equal(
	    dl_helpers_send_ref(W.h, m->id, &f, 1, done_resend, (void *)(uintptr_t)idx), 0);
	model_append(m, refmem, 20);
	ack(0, 20);
	assert_int_equal(W.done_calls, 4);
	assert_int_equal(m->sent - m->acked, 10); /* the one sent from the completion */
	ack(0, 10);
	assert_int_equal(W.done_calls, 5);
	/* A send refused by the network core's side: no completion, ever. */
	W.send_rc = -EINVAL;
	assert_int_equal(dl_helpers_send_ref(W.h, m->id, &f, 1, on_done, (void *)(uintptr_t)999),
			 -EINVAL);
	W.send_rc = 0;
	end_conn(0);
	assert_int_equal(W.done_calls, 5);
	world_fini();
}

/* Acknowledgements beyond what the helpers sent (a dlibos_send mixed in)
 * are counted and never free more than was sent. */
static void test_ack_beyond_sent(void **state)
{
	(void)state;
	world_init(16 * DL_HELP_CHUNK, 1);
	copy(0, 100, 1);
	W.c[0].acked = 100;
	dl_helpers_acked(W.h, W.c[0].id, 150);
	assert_int_equal(dl_helpers_counters(W.h)[HC_ACK_BEYOND_SENT], 50);
	assert_int_equal(copy(0, 10, 2), 10);
	check_unacked();
	ack(0, 10);
	world_fini();
}

/* Handles the helpers never saw, or that are no connection at all. */
static void test_unknown_handles(void **state)
{
	struct dlibos_iov v;
	char buf[8];

	(void)state;
	world_init(16 * DL_HELP_CHUNK, 1);
	copy(0, 10, 1);
	assert_int_equal(dl_helpers_rx_avail(W.h, DLIBOS_CONN_NONE), 0);
	assert_int_equal(dl_helpers_rx_peek(W.h, DLIBOS_CONN_NONE, &v), 0);
	assert_int_equal(dl_helpers_rx_line(W.h, DLIBOS_CONN_NONE, '\n', buf, 8, &v), 0);
	assert_int_equal(dl_helpers_rx_consume(W.h, DLIBOS_CONN_NONE, 1), -EINVAL);
	assert_int_equal(dl_helpers_send_copy(W.h, DLIBOS_CONN_NONE, "x", 1), -ENOENT);
	assert_int_equal(dl_helpers_rx_push(W.h, DLIBOS_CONN_NONE, &v, 1), -ENOENT);
	dl_helpers_acked(W.h, DLIBOS_CONN_NONE, 5);
	dl_helpers_cleanup(W.h, dlibos_conn_make(1, 424242));
	assert_int_equal(dl_helpers_conns(W.h), 1);
	ack(0, 10);
	world_fini();
}

/* No pool (allocation failed): copies are refused with -ENOMEM, counted. */
static void test_no_pool(void **state)
{
	(void)state;
	world_init(DL_HELP_CHUNK, 1); /* one chunk: too small to be a pool */
	assert_int_equal(dl_helpers_send_copy(W.h, W.c[0].id, "x", 1), -ENOMEM);
	assert_int_equal(dl_helpers_counters(W.h)[HC_COPY_NO_POOL], 1);
	world_fini();
}

/* ---- receive tests ------------------------------------------------------------------------- */

/* Pieces of received data, each its own allocation, poisoned when returned. */
struct rxp {
	uint8_t *p;
	uint32_t len;
};

static struct rxp rxq[4096];
static unsigned rx_head, rx_n;
static uint64_t rx_fed;

static void feed(unsigned i, const void *data, uint32_t len)
{
	struct dlibos_iov v;
	uint8_t *p = malloc(len);

	memcpy(p, data, len);
	rxq[(rx_head + rx_n++) % 4096] = (struct rxp){p, len};
	rx_fed += len;
	v.base = p;
	v.len = len;
	assert_int_equal(dl_helpers_rx_push(W.h, W.c[i].id, &v, 1), 0);
}

/* What connection 0 returned so far is freed (poisoned first). */
static void settle_returns(uint64_t *freed)
{
	while (rx_n > 0 && *freed + rxq[rx_head % 4096].len <= W.c[0].returned) {
		struct rxp *r = &rxq[rx_head % 4096];
		memset(r->p, '#', r->len);
		free(r->p);
		*freed += r->len;
		rx_head++;
		rx_n--;
	}
}

static void rx_reset(void)
{
	while (rx_n > 0) {
		free(rxq[rx_head % 4096].p);
		rx_head++;
		rx_n--;
	}
	rx_head = 0;
	rx_fed = 0;
}

/* Lines split at every possible point: found whole, in place when they lie
 * in one piece, gathered otherwise; bytes returned in order, exactly. */
static void test_rx_lines_every_split(void **state)
{
	static const char text[] = "GET /a\r\nHOST x\r\n\r\nlast line\n";
	size_t tl = sizeof(text) - 1;

	(void)state;
	for (size_t cut1 = 1; cut1 < tl; cut1++) {
		for (size_t cut2 = cut1; cut2 < tl; cut2 += 3) {
			uint64_t freed = 0;
			char buf[64], got[128];
			size_t gl = 0;
			struct dlibos_iov line;
			int r;

			world_init(16 * DL_HELP_CHUNK, 1);
			feed(0, text, (uint32_t)cut1);
			if (cut2 > cut1)
				feed(0, text + cut1, (uint32_t)(cut2 - cut1));
			feed(0, text + cut2, (uint32_t)(tl - cut2));
			while ((r = dl_helpers_rx_line(W.h, W.c[0].id, '\n', buf, sizeof(buf),
						       &line)) > 0) {
				bool in_buf = line.base == (const uint8_t *)buf, inside = false;
				assert_true(line.len > 0 && line.base[line.len - 1] == '\n');
				memcpy(got + gl, line.base, line.len);
				gl += line.len;
				/* In place: inside one received piece; else copied. */
				for (unsigned k = 0; k < rx_n; k++) {
					struct rxp *q = &rxq[(rx_head + k) % 4096];
					inside |= line.base >= q->p &&
						  line.base + line.len <= q->p + q->len;
				}
				assert_true(in_buf != inside);
				/* It says what is left. */
				long left = dl_helpers_rx_consume(W.h, W.c[0].id, line.len);
				assert_int_equal(left, dl_helpers_rx_avail(W.h, W.c[0].id));
				assert_int_equal(left, (long)(rx_fed - W.c[0].returned));
				settle_returns(&freed);
			}
			assert_int_equal(r, 0);
			assert_int_equal(gl, tl);
			assert_memory_equal(got, text, tl);
			assert_int_equal(W.c[0].returned, tl);
			assert_int_equal(dl_helpers_rx_avail(W.h, W.c[0].id), 0);
			rx_reset();
			world_fini();
		}
	}
}

static void test_rx_in_place_and_gathered(void **state)
{
	struct dlibos_iov m;
	char buf[32];

	(void)state;
	world_init(16 * DL_HELP_CHUNK, 1);
	feed(0, "abc\nde", 6);
	const uint8_t *first = rxq[0].p;
	assert_int_equal(dl_helpers_rx_line(W.h, W.c[0].id, '\n', buf, sizeof(buf), &m), 1);
	assert_ptr_equal(m.base, first); /* zero copy */
	assert_int_equal(m.len, 4);
	assert_int_equal(dl_helpers_counters(W.h)[HC_RX_GATHERED], 0);
	assert_int_equal(dl_helpers_rx_consume(W.h, W.c[0].id, 4), 2);
	assert_int_equal(dl_helpers_rx_line(W.h, W.c[0].id, '\n', buf, sizeof(buf), &m), 0);
	feed(0, "f\n", 2);
	assert_int_equal(dl_helpers_rx_line(W.h, W.c[0].id, '\n', buf, sizeof(buf), &m), 1);
	assert_ptr_equal(m.base, (const uint8_t *)buf); /* one copy */
	assert_memory_equal(m.base, "def\n", 4);
	assert_int_equal(dl_helpers_counters(W.h)[HC_RX_GATHERED], 1);
	/* Peek: the front piece, from where consumption stopped. */
	struct dlibos_iov p;
	assert_int_equal(dl_helpers_rx_peek(W.h, W.c[0].id, &p), 1);
	assert_ptr_equal(p.base, first + 4);
	assert_int_equal(p.len, 2);
	/* Consuming beyond what is queued: refused, nothing returned. */
	uint64_t ret = W.c[0].returned;
	assert_int_equal(dl_helpers_rx_consume(W.h, W.c[0].id, 5), -EINVAL);
	assert_int_equal(W.c[0].returned, ret);
	assert_int_equal(dl_helpers_counters(W.h)[HC_RX_BAD_CONSUME], 1);
	assert_int_equal(dl_helpers_rx_consume(W.h, W.c[0].id, 4), 0);
	assert_int_equal(W.c[0].returned, 8);
	rx_reset();
	world_fini();
}

static void test_rx_too_long(void **state)
{
	struct dlibos_iov m;
	char buf[8];

	(void)state;
	world_init(16 * DL_HELP_CHUNK, 1);
	feed(0, "abcd", 4);
	assert_int_equal(dl_helpers_rx_line(W.h, W.c[0].id, '\n', buf, sizeof(buf), &m), 0);
	feed(0, "efgh", 4); /* 8 bytes, no delimiter, limit 8 */
	assert_int_equal(dl_helpers_rx_line(W.h, W.c[0].id, '\n', buf, sizeof(buf), &m), -EMSGSIZE);
	assert_int_equal(dl_helpers_counters(W.h)[HC_RX_TOO_LONG], 1);
	/* A line of exactly the limit fits. */
	assert_int_equal(dl_helpers_rx_consume(W.h, W.c[0].id, 8), 0);
	feed(0, "abcdefg", 7);
	feed(0, "\n", 1);
	assert_int_equal(dl_helpers_rx_line(W.h, W.c[0].id, '\n', buf, sizeof(buf), &m), 1);
	assert_int_equal(m.len, 8);
	rx_reset();
	world_fini();
}

/* Length-prefixed frames and fixed sizes, byte by byte. */
static void test_rx_frames(void **state)
{
	const struct dlibos_frame_fmt be16 = {.hdr_len = 3, .len_off = 1, .len_size = 2};
	uint8_t stream[300], buf[300];
	size_t n = 0;
	struct dlibos_iov m;

	(void)state;
	world_init(16 * DL_HELP_CHUNK, 1);
	/* Frames: type byte, 2-byte big-endian length, payload. */
	for (unsigned f = 0; f < 5; f++) {
		unsigned plen = f * 13;
		stream[n++] = (uint8_t)('A' + f);
		stream[n++] = (uint8_t)(plen >> 8);
		stream[n++] = (uint8_t)plen;
		for (unsigned b = 0; b < plen; b++)
			stream[n++] = (uint8_t)(f + b);
	}
	size_t off = 0;
	unsigned frames = 0;
	for (size_t b = 0; b < n; b++) {
		feed(0, stream + b, 1);
		int r;
		while ((r = dl_helpers_rx_frame(W.h, W.c[0].id, &be16, buf, sizeof(buf), &m)) > 0) {
			size_t plen = (size_t)m.base[1] << 8 | m.base[2];
			assert_int_equal(m.len, 3 + plen);
			assert_memory_equal(m.base, stream + off, m.len);
			off += m.len;
			frames++;
			assert_int_equal(dl_helpers_rx_consume(W.h, W.c[0].id, m.len), 0);
		}
		assert_int_equal(r, 0);
	}
	assert_int_equal(frames, 5);
	assert_int_equal(W.c[0].returned, n);
	/* A frame longer than the limit; a length that includes the header
	 * but is shorter than it. */
	uint8_t big[3] = {'Z', 1, 0}; /* 256 payload bytes */
	feed(0, big, 3);
	assert_int_equal(dl_helpers_rx_frame(W.h, W.c[0].id, &be16, buf, 100, &m), -EMSGSIZE);
	const struct dlibos_frame_fmt incl = {
	    .hdr_len = 4, .len_off = 0, .len_size = 4, .len_includes_hdr = true};
	assert_int_equal(dl_helpers_rx_consume(W.h, W.c[0].id, 3), 0);
	uint8_t bad[4] = {0, 0, 0, 2};
	feed(0, bad, 4);
	assert_int_equal(dl_helpers_rx_frame(W.h, W.c[0].id, &incl, buf, 100, &m), -EMSGSIZE);
	const struct dlibos_frame_fmt wrong = {.hdr_len = 2, .len_off = 1, .len_size = 2};
	assert_int_equal(dl_helpers_rx_frame(W.h, W.c[0].id, &wrong, buf, 100, &m), -EINVAL);
	/* Fixed size, and rx_copy straight into a destination. */
	assert_int_equal(dl_helpers_rx_fixed(W.h, W.c[0].id, 5, buf, &m), 0);
	assert_int_equal(dl_helpers_rx_fixed(W.h, W.c[0].id, 4, buf, &m), 1);
	assert_memory_equal(m.base, bad, 4);
	feed(0, "xyz", 3);
	uint8_t dst[16];
	assert_int_equal(dl_helpers_rx_copy(W.h, W.c[0].id, dst, sizeof(dst)), 7);
	assert_memory_equal(dst, "\0\0\0\2xyz", 7);
	assert_int_equal(dl_helpers_rx_avail(W.h, W.c[0].id), 0);
	assert_int_equal(W.c[0].returned, n + 3 + 7);
	rx_reset();
	world_fini();
}

/* Closing or a reset drops the queue without returning it (the network
 * core released it); an orderly FIN keeps it. */
static void test_rx_close_and_reset(void **state)
{
	struct dlibos_iov p;

	(void)state;
	world_init(16 * DL_HELP_CHUNK, 3);
	feed(0, "hello", 5);
	feed(1, "world", 5);
	feed(2, "again", 5);
	dl_helpers_remote_closed(W.h, W.c[0].id, DLIBOS_CLOSED_FIN);
	assert_int_equal(dl_helpers_rx_avail(W.h, W.c[0].id), 5);
	dl_helpers_remote_closed(W.h, W.c[1].id, DLIBOS_CLOSED_RESET);
	assert_int_equal(dl_helpers_rx_avail(W.h, W.c[1].id), 0);
	assert_int_equal(dl_helpers_rx_peek(W.h, W.c[1].id, &p), 0);
	dl_helpers_closed(W.h, W.c[2].id);
	assert_int_equal(dl_helpers_rx_avail(W.h, W.c[2].id), 0);
	/* Consuming after close returns nothing (close released it). */
	assert_int_equal(dl_helpers_rx_consume(W.h, W.c[2].id, 5), 0);
	assert_int_equal(W.c[1].returned + W.c[2].returned, 0);
	assert_int_equal(dl_helpers_counters(W.h)[HC_RX_DROPPED], 10);
	assert_int_equal(dl_helpers_rx_consume(W.h, W.c[0].id, 5), 0);
	assert_int_equal(W.c[0].returned, 5);
	for (unsigned i = 0; i < 3; i++)
		end_conn(i);
	assert_int_equal(dl_helpers_conns(W.h), 0);
	rx_reset();
	world_fini();
}

/* Many pieces: the queue grows, the limit holds. */
static void test_rx_many_pieces(void **state)
{
	struct dlibos_iov v[256];
	static uint8_t byte[256];

	(void)state;
	world_init(16 * DL_HELP_CHUNK, 1);
	for (unsigned i = 0; i < 256; i++) {
		byte[i] = (uint8_t)i;
		v[i] = (struct dlibos_iov){&byte[i], 1};
	}
	for (unsigned k = 0; k < DL_HELP_RX_PIECES_MAX / 256; k++)
		assert_int_equal(dl_helpers_rx_push(W.h, W.c[0].id, v, 256), 0);
	assert_int_equal(dl_helpers_rx_push(W.h, W.c[0].id, v, 1), -ENOBUFS);
	assert_int_equal(dl_helpers_counters(W.h)[HC_RX_OVERFLOW], 1);
	uint8_t out[1000];
	assert_int_equal(dl_helpers_rx_copy(W.h, W.c[0].id, out, sizeof(out)), sizeof(out));
	for (unsigned i = 0; i < sizeof(out); i++)
		assert_int_equal(out[i], (uint8_t)i);
	assert_int_equal(dl_helpers_rx_avail(W.h, W.c[0].id), DL_HELP_RX_PIECES_MAX - 1000);
	end_conn(0);
	world_fini();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_interleaved_acks_many_conns),
	    cmocka_unit_test(test_chunk_released_at_last_byte),
	    cmocka_unit_test(test_parked_chunks_reclaimed),
	    cmocka_unit_test(test_cleanup_with_unacked),
	    cmocka_unit_test(test_exhaustion_and_writable),
	    cmocka_unit_test(test_no_writable_after_cleanup),
	    cmocka_unit_test(test_ref_completions),
	    cmocka_unit_test(test_ack_beyond_sent),
	    cmocka_unit_test(test_unknown_handles),
	    cmocka_unit_test(test_no_pool),
	    cmocka_unit_test(test_rx_lines_every_split),
	    cmocka_unit_test(test_rx_in_place_and_gathered),
	    cmocka_unit_test(test_rx_too_long),
	    cmocka_unit_test(test_rx_frames),
	    cmocka_unit_test(test_rx_close_and_reset),
	    cmocka_unit_test(test_rx_many_pieces),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
