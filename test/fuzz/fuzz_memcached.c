/*
 * fuzz_memcached.c - dlibos-kvs's memcached sessions (examples/kvs:
 * kvs_conn.c, kvs_text.c, kvs_binary.c, kvs_store.c) fed untrusted bytes
 * as TCP delivers them, text and binary.
 *
 * Two sessions share one item store (a small arena, so eviction and
 * out-of-memory are reached) and are driven through fake runtime
 * operations (fuzz_stream.h): the input's stream is delivered in pieces of
 * scripted sizes, one to three segments per event, pipelined, to one of
 * the two sessions; script controls acknowledge what was sent (all, half),
 * let time pass (expiry, flush_all delays), switch session, deliver the
 * peer's FIN, reset, or fail a command. The configuration byte picks the
 * scratch ring size and whether acknowledgments come at once. The
 * protocol is the session's: binary when its first byte is 0x80.
 *
 * Oracles: the fake runtime's (no send after close, recv_done never beyond
 * what was delivered, returned data freed at once, unacknowledged
 * fragments unchanged until acknowledged, every fragment in TX memory: the
 * arena, the constant replies or the session's ring); the response stream
 * is well formed: text sessions send only the replies memcached defines
 * (VALUE lines with a data block of the announced length and CRLF, STAT
 * lines, numbers, the fixed replies and CLIENT_ERROR / SERVER_ERROR lines),
 * binary sessions only response packets (magic 0x81, extras and key within
 * the body, the body complete); after the peer's FIN and the
 * acknowledgments the session has closed; at the end no item is left
 * referenced and the store is destroyed.
 */
#include "fuzz_stream.h"
#include "kvs_binary.h"
#include "kvs_conn.h"
#include "kvs_store.h"

#include <errno.h>

#define NCONN	  2
#define MAX_STEPS 4000
#define ARENA	  (2u << 20)
#define RING_BIG  (4 * KVS_RING_MIN)

static uint8_t *arena, *rings[NCONN];
static char consts_mem[2048];
static struct kvs_consts consts;
static struct fs_conn *fsc[NCONN];
static uint64_t clock_us;
static uint32_t ring_len;

static const struct kvs_info info = {.pid = 42, .threads = 1, .max_conns = 2, .port = 11211};

struct world {
	struct kvs_store *store;
	struct kvs_env env;
	struct kvs_conn conn[NCONN];
	bool ack_at_once;
	unsigned cur;
};

static struct world *W;

static struct fs_conn *fs_of(dlibos_conn_t id)
{
	FZ_CHECK(id < NCONN, "operation on unknown connection %llu", (unsigned long long)id);
	return fsc[id];
}

static bool inside(const void *p, size_t len, const void *base, size_t size)
{
	const uint8_t *b = p, *m = base;

	return b >= m && len <= size && (size_t)(b - m) <= size - len;
}

/* dlibos_send_ref() completions, per connection, in send order: each
 * runs once the peer acknowledged the stream up to its end (status 0) or
 * the connection ended first (-ECONNABORTED), as the library does. */
#define MAX_DONE 256
struct done_rec {
	uint64_t end; /* stream offset just after the send */
	dlibos_send_done_fn fn;
	void *arg;
};
static struct done_rec dones[NCONN][MAX_DONE];
static unsigned done_head[NCONN], done_n[NCONN];

static int f_send(struct dlibos_core *c, dlibos_conn_t id, const struct dlibos_frag *f, unsigned n,
		  dlibos_send_done_fn done, void *arg)
{
	(void)c;
	for (unsigned i = 0; i < n; i++)
		FZ_CHECK(inside(f[i].base, f[i].len, arena, ARENA) ||
			     inside(f[i].base, f[i].len, consts_mem, sizeof(consts_mem)) ||
			     inside(f[i].base, f[i].len, rings[id % NCONN], ring_len),
			 "fragment %u outside TX memory", i);
	FZ_CHECK(n <= KVS_MAX_FRAGS, "%u fragments in one send", n);
	fs_send(fs_of(id), f, n);
	if (done != NULL) {
		unsigned k = (unsigned)id;
		FZ_CHECK(done_n[k] < MAX_DONE, "more than %d sends awaiting completion", MAX_DONE);
		dones[k][(done_head[k] + done_n[k]++) % MAX_DONE] =
		    (struct done_rec){fs_of(id)->sent, done, arg};
	}
	return 0;
}

/* Completions of connection @p k: those the acknowledgments covered
 * (status 0), or all of them (status -ECONNABORTED). */
static void run_dones(unsigned k, int status)
{
	while (done_n[k] > 0) {
		struct done_rec d = dones[k][done_head[k]];
		if (status == 0 && d.end > fsc[k]->acked)
			break;
		done_head[k] = (done_head[k] + 1) % MAX_DONE;
		done_n[k]--;
		d.fn(NULL, k, d.arg, status);
	}
}

static int f_recv_done(struct dlibos_core *c, dlibos_conn_t id, uint32_t bytes)
{
	(void)c;
	fs_recv_done(fs_of(id), bytes);
	return 0;
}

static int f_close(struct dlibos_core *c, dlibos_conn_t id)
{
	struct fs_conn *s = fs_of(id);

	(void)c;
	FZ_CHECK(!s->closed, "close twice");
	s->closed = true; /* what it held is released after the event (close_done()) */
	return 0;
}

static const struct kvs_io io = {f_send, f_recv_done, f_close};

static uint64_t now_us(void *arg)
{
	(void)arg;
	return clock_us;
}

static void sum_counters(uint64_t out[KVS_NCNT], void *arg)
{
	(void)arg;
	memcpy(out, W->env.cnt, sizeof(W->env.cnt));
}

/* After an event: the runtime releases what a closed session held (not
 * during the event: the session may still read it, as in the runtime). */
static void close_done(void)
{
	for (unsigned k = 0; k < NCONN; k++)
		if (fsc[k]->closed && fsc[k]->nheld > 0) {
			fs_conn_drop(fsc[k]);
			fsc[k]->returned = fsc[k]->delivered;
		}
}

/* ---- the response stream ---------------------------------------------------- */

static bool line_is(const uint8_t *l, size_t n, const char *s)
{
	return n == strlen(s) && memcmp(l, s, n) == 0;
}

static bool starts(const uint8_t *l, size_t n, const char *s)
{
	return n >= strlen(s) && memcmp(l, s, strlen(s)) == 0;
}

static bool all_digits(const uint8_t *l, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (l[i] < '0' || l[i] > '9')
			return false;
	return true;
}

static void check_text(const struct fs_conn *c, const uint8_t *o, size_t len)
{
	static const char *const fixed[] = {"STORED",  "NOT_STORED", "EXISTS", "NOT_FOUND",
					    "DELETED", "TOUCHED",    "OK",     "END",
					    "ERROR",   "MN"};
	size_t off = 0;

	while (off < len) {
		const uint8_t *l = o + off, *eol = memmem(l, len - off, "\r\n", 2);
		size_t n;
		bool ok = false;

		if (eol == NULL) {
			FZ_CHECK(c->reset, "text reply cut short at output offset %zu", off);
			return;
		}
		n = (size_t)(eol - l);
		off += n + 2;
		for (unsigned i = 0; i < sizeof(fixed) / sizeof(fixed[0]) && !ok; i++)
			ok = line_is(l, n, fixed[i]);
		ok = ok || all_digits(l, n) || starts(l, n, "CLIENT_ERROR ") ||
		     starts(l, n, "SERVER_ERROR ") || starts(l, n, "VERSION ") ||
		     starts(l, n, "STAT ");
		if (!ok && starts(l, n, "VALUE ")) {
			/* VALUE <key> <flags> <bytes> [<cas>]; a key is bytes (a NUL
			 * too), split on spaces with lengths, never as a C string. */
			struct {
				const uint8_t *p;
				size_t n;
			} tok[6];
			unsigned nt = 0;
			unsigned long long bytes = 0;

			for (size_t i = 0; i < n && nt < 6;) {
				size_t j = i;
				while (j < n && l[j] != ' ')
					j++;
				if (j > i) {
					tok[nt].p = l + i;
					tok[nt++].n = j - i;
				}
				i = j + 1;
			}
			FZ_CHECK((nt == 4 || nt == 5) && all_digits(tok[2].p, tok[2].n) &&
				     all_digits(tok[3].p, tok[3].n) && tok[3].n < 20 &&
				     (nt == 4 || all_digits(tok[4].p, tok[4].n)),
				 "malformed VALUE line: %.*s", (int)(n < 80 ? n : 80),
				 (const char *)l);
			for (size_t i = 0; i < tok[3].n; i++)
				bytes = bytes * 10 + (unsigned)(tok[3].p[i] - '0');
			if (len - off < bytes + 2) {
				FZ_CHECK(c->reset, "data block cut short");
				return;
			}
			FZ_CHECK(memcmp(o + off + bytes, "\r\n", 2) == 0,
				 "data block of %llu bytes not followed by CRLF", bytes);
			off += bytes + 2;
			ok = true;
		}
		FZ_CHECK(ok, "not a memcached reply at output offset %zu: %.*s", off - n - 2,
			 (int)(n < 60 ? n : 60), (const char *)l);
	}
}

static void check_binary(const struct fs_conn *c, const uint8_t *o, size_t len)
{
	size_t off = 0;

	while (off < len) {
		struct kvs_bin_hdr h;

		if (len - off < KVS_BIN_HDR) {
			FZ_CHECK(c->reset, "binary header cut short");
			return;
		}
		FZ_CHECK(o[off] == KVS_BIN_RES, "magic %#x at output offset %zu", o[off], off);
		kvs_bin_decode(o + off, &h);
		FZ_CHECK(o[off + 5] == 0, "data type %u", o[off + 5]);
		FZ_CHECK((uint64_t)h.extlen + h.keylen <= h.bodylen,
			 "extras %u + key %u past the body %u", h.extlen, h.keylen, h.bodylen);
		if (len - off - KVS_BIN_HDR < h.bodylen) {
			FZ_CHECK(c->reset, "binary body cut short");
			return;
		}
		off += KVS_BIN_HDR + h.bodylen;
	}
}

static void check_responses(const struct fs_conn *c, bool binary)
{
	size_t len = c->out_full ? FS_OUT_MAX : c->out_len;

	if (binary)
		check_binary(c, c->out, len);
	else
		check_text(c, c->out, len);
}

/* ---- the input ----------------------------------------------------------------- */

static void ack(struct world *w, unsigned k, bool half)
{
	struct fs_conn *c = fsc[k];
	uint32_t n = fs_ack(c, half ? (c->sent - c->acked + 1) / 2 : 0);

	(void)w;
	if (n > 0 && !c->reset)
		run_dones(k, 0);
	close_done();
}

static void control(struct world *w, uint8_t b)
{
	struct fs_conn *c = fsc[w->cur];

	switch (b & 15) {
	case 0:
	case 1:
	case 2:
		ack(w, w->cur, false);
		break;
	case 3:
		ack(w, w->cur, true);
		break;
	case 4:
		clock_us += 1000000;
		break;
	case 5:
		clock_us += 100000000;
		break;
	case 6:
	case 7:
		w->cur = (w->cur + 1) % NCONN;
		break;
	case 8:
		if (!c->closed && !c->reset)
			kvs_conn_remote_closed(&w->conn[w->cur], false);
		close_done();
		break;
	case 9:
		if (b == 0x89 && !c->closed && !c->reset) {
			c->reset = true;
			fs_abort(c);
			kvs_conn_remote_closed(&w->conn[w->cur], true);
			run_dones(w->cur, -ECONNABORTED);
			close_done();
		}
		break;
	case 10:
		if (b == 0x8a && !c->closed && !c->reset) {
			c->reset = true; /* a failed send: the stream is no longer known */
			fs_abort(c);
			kvs_conn_failed(&w->conn[w->cur]);
			run_dones(w->cur, -ECONNABORTED);
			close_done();
		}
		break;
	default:
		clock_us += 1000;
		break;
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	arena = aligned_alloc(64, ARENA);
	FZ_CHECK(arena != NULL && kvs_consts_size() <= sizeof(consts_mem), "set-up");
	kvs_consts_init(&consts, consts_mem);
	for (unsigned k = 0; k < NCONN; k++) {
		rings[k] = aligned_alloc(64, RING_BIG);
		fsc[k] = fs_conn_alloc();
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct world *w = calloc(1, sizeof(*w));
	struct fs_input in;
	bool binary[NCONN] = {false, false}, first[NCONN] = {true, true};

	FZ_CHECK(w != NULL, "calloc");
	fs_input_init(&in, data, size);
	W = w;
	clock_us = 5000000;
	ring_len = (in.cfg & 1) ? KVS_RING_MIN : RING_BIG;
	w->ack_at_once = (in.cfg & 2) != 0;
	struct kvs_store_conf sc = {
	    .mem_bytes = ARENA,
	    .arena = arena,
	    .page_size = (in.cfg & 4) ? 64 * 1024 : 256 * 1024,
	    .hash_power = 10,
	    .lock_power = 2,
	    .now_us = now_us,
	    .unix_at_zero = 1700000000,
	};
	w->store = kvs_store_create(&sc);
	FZ_CHECK(w->store != NULL, "kvs_store_create");
	w->env.store = w->store;
	w->env.k = &consts;
	w->env.io = &io;
	w->env.info = &info;
	w->env.sum_counters = sum_counters;
	for (unsigned k = 0; k < NCONN; k++) {
		done_head[k] = done_n[k] = 0;
		fs_conn_reset(fsc[k], k);
		fsc[k]->accepted = true;
		kvs_conn_init(&w->conn[k], &w->env, k, rings[k], ring_len);
	}
	for (unsigned s = 0; s < MAX_STEPS && in.off < in.nstream; s++) {
		uint8_t b = fs_next(&in);
		struct fs_conn *c = fsc[w->cur];
		struct dlibos_iov iov[3];
		unsigned n;

		if (b & 0x80) {
			control(w, b);
			continue;
		}
		if (c->closed || c->reset) {
			w->cur = (w->cur + 1) % NCONN;
			c = fsc[w->cur];
			if (c->closed || c->reset)
				break;
		}
		n = fs_piece(&in, b, c, iov);
		if (n == 0)
			break;
		if (first[w->cur]) {
			binary[w->cur] = iov[0].base[0] == KVS_BIN_REQ;
			first[w->cur] = false;
		}
		kvs_conn_data(&w->conn[w->cur], iov, n);
		close_done();
		if (w->ack_at_once)
			for (unsigned k = 0; k < NCONN; k++)
				ack(w, k, false);
	}
	/* The peer reads everything, then closes; the session must close too. */
	for (int r = 0; r < 64; r++)
		for (unsigned k = 0; k < NCONN; k++)
			ack(w, k, false);
	for (unsigned k = 0; k < NCONN; k++)
		if (!fsc[k]->closed && !fsc[k]->reset)
			kvs_conn_remote_closed(&w->conn[k], false);
	close_done();
	for (int r = 0; r < 64; r++)
		for (unsigned k = 0; k < NCONN; k++)
			ack(w, k, false);
	for (unsigned k = 0; k < NCONN; k++) {
		FZ_CHECK(fsc[k]->closed, "session %u still open after the peer's FIN", k);
		check_responses(fsc[k], binary[k]);
		run_dones(k, -ECONNABORTED); /* the connection ends: before its cleanup */
		kvs_conn_fini(&w->conn[k]);
		fs_conn_drop(fsc[k]);
	}
	struct kvs_store_stats st;
	kvs_store_stats(w->store, &st);
	FZ_CHECK(st.pending == 0, "%llu unlinked items still referenced after cleanup",
		 (unsigned long long)st.pending);
	kvs_store_destroy(w->store);
	free(w);
	W = NULL;
	return 0;
}
