/*
 * fuzz_http.c - dlibos-httpd's request processing (examples/httpd:
 * http_parse.c, httpd_core.c) fed untrusted bytes as TCP delivers them.
 *
 * One application core of the server (httpd_core) with a small document
 * root, driven through fake runtime operations (fuzz_stream.h): the input's
 * stream is delivered in pieces of scripted sizes, one to three segments
 * per event, to one of two connections; script controls acknowledge what
 * was sent (all, half), let time pass (Date changes, idle timeouts), switch
 * connection, deliver the peer's FIN, reset, or fail a command. The
 * configuration byte picks small or default limits, the keep-alive timeout,
 * a one-connection limit and whether acknowledgments come at once.
 *
 * Oracles: the fake runtime's (no send after shutdown or close, no command
 * after close, recv_done never beyond what was delivered, returned data
 * freed at once so reading it is a use-after-free, unacknowledged fragments
 * unchanged until acknowledged, every fragment in TX memory: the preloaded
 * root or the core's prefix sets); and the response stream of each
 * connection is well formed: responses back to back, each a status line
 * "HTTP/1.1 NNN " with a status the server uses, header lines ended by CRLF
 * with one Content-Length and a Date, the body of that length (none for a
 * HEAD), nothing after a "Connection: close" response, no response cut
 * short unless the connection was reset. After the peer's FIN and the
 * acknowledgments, every connection is closed by the server.
 */
#include "fuzz_stream.h"
#include "httpd_core.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#define NCONN	   2
#define MAX_STEPS  4000
#define MAX_BLOCKS 256

static struct httpd_files files;
static char root[64];

struct world {
	struct httpd_core *hc;
	struct fs_conn *c[NCONN];
	int64_t wall_ns;
	uint64_t now;
	bool ack_at_once;
	unsigned cur;
	void *blocks[MAX_BLOCKS]; /* tx_alloc'd memory (prefix sets) */
	size_t block_len[MAX_BLOCKS];
	unsigned nblocks;
};

static struct world *W;
static struct fs_conn *conns[NCONN]; /* allocated once, reset per input */

static struct fs_conn *conn(uint64_t id)
{
	FZ_CHECK(id < NCONN, "operation on unknown connection %llu", (unsigned long long)id);
	return W->c[id];
}

static bool in_tx(const void *p, size_t len)
{
	const uint8_t *b = p;

	if (b >= files.arena && len <= files.arena_size &&
	    b - files.arena <= (ptrdiff_t)(files.arena_size - len))
		return true;
	for (unsigned i = 0; i < W->nblocks; i++) {
		const uint8_t *m = W->blocks[i];
		if (m != NULL && b >= m && len <= W->block_len[i] &&
		    (size_t)(b - m) <= W->block_len[i] - len)
			return true;
	}
	return false;
}

static int f_accept(void *ctx, dlibos_conn_t id)
{
	(void)ctx;
	conn(id)->accepted = true;
	return 0;
}

static int f_send(void *ctx, dlibos_conn_t id, const struct dlibos_frag *f, unsigned n)
{
	struct fs_conn *c = conn(id);

	(void)ctx;
	FZ_CHECK(n <= HTTPD_SEND_FRAGS, "%u fragments in one send", n);
	for (unsigned i = 0; i < n; i++)
		FZ_CHECK(in_tx(f[i].base, f[i].len), "fragment %u outside TX memory", i);
	fs_send(c, f, n);
	return 0;
}

static int f_recv_done(void *ctx, dlibos_conn_t id, uint32_t bytes)
{
	(void)ctx;
	fs_recv_done(conn(id), bytes);
	return 0;
}

static int f_shutdown_wr(void *ctx, dlibos_conn_t id)
{
	struct fs_conn *c = conn(id);

	(void)ctx;
	FZ_CHECK(!c->closed && !c->shut_wr, "shutdown twice or after close");
	c->shut_wr = true;
	return 0;
}

static int f_close(void *ctx, dlibos_conn_t id)
{
	(void)ctx;
	if (id >= NCONN)
		return 0; /* refused at the connection limit */
	FZ_CHECK(!conn(id)->closed, "close twice");
	conn(id)->closed = true;
	return 0;
}

static void *f_tx_alloc(size_t len)
{
	void *p;

	if (W->nblocks == MAX_BLOCKS)
		return NULL;
	p = malloc(len);
	W->blocks[W->nblocks] = p;
	W->block_len[W->nblocks++] = len;
	return p;
}

static void f_tx_free(void *p)
{
	for (unsigned i = 0; i < W->nblocks; i++)
		if (W->blocks[i] == p) {
			for (unsigned k = 0; k < NCONN; k++) {
				struct fs_conn *c = W->c[k];
				for (unsigned j = 0; c != NULL && j < c->npend; j++)
					FZ_CHECK(
					    !((const uint8_t *)p <= c->pend[j].p &&
					      c->pend[j].p < (const uint8_t *)p + W->block_len[i]),
					    "TX memory freed while a send still references it");
			}
			W->blocks[i] = NULL;
			free(p);
			return;
		}
	FZ_CHECK(p == NULL, "tx_free of memory never allocated");
}

static int64_t f_wall(void *ctx)
{
	(void)ctx;
	return W->wall_ns;
}

static const struct httpd_ops ops = {
    .accept = f_accept,
    .send = f_send,
    .recv_done = f_recv_done,
    .shutdown_wr = f_shutdown_wr,
    .close = f_close,
    .tx_alloc = f_tx_alloc,
    .tx_free = f_tx_free,
    .wall_ns = f_wall,
};

/* ---- the response stream ---------------------------------------------------- */

static const uint8_t *find(const uint8_t *p, size_t len, const char *s)
{
	return memmem(p, len, s, strlen(s));
}

static void check_responses(const struct fs_conn *c)
{
	const uint8_t *o = c->out;
	size_t len = c->out_len, off = 0;

	if (c->out_full)
		len = FS_OUT_MAX;
	while (off < len) {
		const uint8_t *r = o + off, *end;
		size_t left = len - off, head, body = 0;
		unsigned code = 0;
		const uint8_t *cl;
		int ncl = 0;

		if (left < 13 || memcmp(r, "HTTP/1.1 ", 9) != 0) {
			FZ_CHECK(c->reset && left < 13 &&
				     memcmp(r, "HTTP/1.1 ", left < 9 ? left : 9) == 0,
				 "connection %llu: not a status line at output offset %zu: %.20s",
				 (unsigned long long)c->id, off, (const char *)r);
			return;
		}
		for (int i = 9; i < 12; i++) {
			FZ_CHECK(r[i] >= '0' && r[i] <= '9', "status code not 3 digits");
			code = code * 10 + (unsigned)(r[i] - '0');
		}
		FZ_CHECK(r[12] == ' ' && http_status_of_code(code) != HTTP_S_COUNT,
			 "status %u the server never sends", code);
		end = find(r, left, "\r\n\r\n");
		if (end == NULL) {
			FZ_CHECK(c->reset, "response head cut short at output offset %zu", off);
			return;
		}
		head = (size_t)(end - r) + 4;
		for (const uint8_t *l = r; l < end;) {
			const uint8_t *eol = find(l, (size_t)(end + 2 - l), "\r\n");
			FZ_CHECK(eol != NULL && memchr(l, '\n', (size_t)(eol - l)) == NULL &&
				     memchr(l, '\r', (size_t)(eol - l)) == NULL,
				 "header line not ended by CRLF alone");
			l = eol + 2;
		}
		for (cl = r;
		     (cl = find(cl, (size_t)(end + 2 - cl), "\r\nContent-Length: ")) != NULL;
		     cl += 18) {
			char *stop;
			body = strtoull((const char *)cl + 18, &stop, 10);
			FZ_CHECK(*stop == '\r', "Content-Length not a number");
			ncl++;
		}
		FZ_CHECK(ncl == 1, "%d Content-Length headers", ncl);
		FZ_CHECK(find(r, head, "\r\nDate: ") != NULL, "no Date header");
		off += head;
		/* A HEAD response has no body: the next response (or the end)
		 * follows at once (no file of the root starts with "HTTP/"). */
		if (body > 0 &&
		    (len == off || (len - off >= 9 && memcmp(o + off, "HTTP/1.1 ", 9) == 0)))
			body = 0;
		if (len - off < body) {
			FZ_CHECK(c->reset, "body cut short: %zu of %zu bytes", len - off, body);
			return;
		}
		off += body;
		if (find(r, head, "\r\nConnection: close\r\n") != NULL)
			FZ_CHECK(off == len, "%zu bytes after a Connection: close response",
				 len - off);
	}
}

/* ---- the input ----------------------------------------------------------------- */

static void ack(struct world *w, unsigned k, bool half)
{
	struct fs_conn *c = w->c[k];
	uint32_t n;

	if (c->closed && c->sent == c->acked)
		return;
	n = fs_ack(c, half ? (c->sent - c->acked + 1) / 2 : 0);
	if (n > 0 && !c->reset)
		httpd_on_acked(w->hc, k, n, w->now);
}

static void tick(struct world *w, uint64_t us)
{
	w->now += us;
	w->wall_ns += (int64_t)us * 1000;
	httpd_poll(w->hc, w->now);
}

static void control(struct world *w, uint8_t b)
{
	struct fs_conn *c = w->c[w->cur];

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
		tick(w, 400000);
		break;
	case 5:
		tick(w, 20000000);
		break;
	case 6:
	case 7:
		w->cur = (w->cur + 1) % NCONN;
		break;
	case 8:
		if (c->accepted && !c->closed && !c->reset)
			httpd_on_remote_closed(w->hc, w->cur, DLIBOS_CLOSED_FIN);
		break;
	case 9:
		if (b == 0x89 && c->accepted && !c->closed && !c->reset) {
			c->reset = true;
			fs_abort(c);
			httpd_on_remote_closed(w->hc, w->cur, DLIBOS_CLOSED_RESET);
		}
		break;
	case 10:
		if (b == 0x8a && c->accepted && !c->closed && !c->reset) {
			c->reset = true; /* a failed send: the stream is no longer known */
			fs_abort(c);
			httpd_on_cmd_error(w->hc, w->cur, DLIBOS_CMD_SEND, ENOBUFS);
		}
		break;
	default:
		tick(w, 1000);
		break;
	}
}

static void remove_tree(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_http: could not remove %s\n", root);
}

static void put(const char *rel, const void *data, size_t len)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	f = fopen(p, "wb");
	FZ_CHECK(f != NULL && fwrite(data, 1, len, f) == len, "writing %s", p);
	fclose(f);
}

static void *alloc64(size_t n)
{
	return aligned_alloc(64, (n + 63) & ~(size_t)63);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static uint8_t big[100 * 1024];
	struct httpd_scan scan;
	char err[256], p[128];

	(void)argc, (void)argv;
	snprintf(root, sizeof(root), "/tmp/dlibos-fuzz-http-XXXXXX");
	FZ_CHECK(mkdtemp(root) != NULL, "mkdtemp");
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)('a' + (i ^ (i >> 9)) % 26);
	put("index.html", "<html>index</html>\n", 19);
	put("big.bin", big, sizeof(big));
	put("a b.txt", "space\n", 6);
	put("empty", "", 0);
	snprintf(p, sizeof(p), "%s/sub", root);
	mkdir(p, 0755);
	put("sub/index.html", "<p>sub</p>\n", 11);
	snprintf(p, sizeof(p), "%s/nodir", root);
	mkdir(p, 0755);
	put("nodir/x.css", "b{}\n", 4);
	FZ_CHECK(httpd_files_scan(root, &scan, err, sizeof(err)) == 0 &&
		     httpd_files_load(&files, root, &scan, alloc64, free, err, sizeof(err)) == 0,
		 "root: %s", err);
	remove_tree(); /* loaded into memory: the files are not needed any more */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct world w;
	struct fs_input in;
	struct httpd_config cfg;

	fs_input_init(&in, data, size);
	memset(&w, 0, sizeof(w));
	W = &w;
	w.now = 1000000;
	w.wall_ns = (int64_t)1700000000 * 1000000000 + 250000000;
	w.ack_at_once = (in.cfg & 8) != 0;
	cfg = (struct httpd_config){
	    .limits = {(in.cfg & 1) ? 40 : HTTP_DEFAULT_MAX_URI,
		       (in.cfg & 1) ? 160 : HTTP_DEFAULT_MAX_HEAD},
	    .keepalive_s = (in.cfg & 2) ? 1 : 15,
	    .max_conns = (in.cfg & 4) ? 1 : 4,
	    .max_discard = (in.cfg & 16) ? 16 : 1 << 16,
	    .server = "fuzz",
	};
	w.hc = httpd_core_create(&cfg, &files, &ops, NULL, w.now);
	FZ_CHECK(w.hc != NULL, "httpd_core_create");
	for (unsigned k = 0; k < NCONN; k++) {
		if (conns[k] == NULL)
			conns[k] = fs_conn_alloc();
		w.c[k] = conns[k];
		fs_conn_reset(w.c[k], k);
		httpd_on_new_conn(w.hc, k, w.now);
	}
	for (unsigned s = 0; s < MAX_STEPS && in.off < in.nstream; s++) {
		uint8_t b = fs_next(&in);
		struct fs_conn *c = w.c[w.cur];
		struct dlibos_iov iov[3];
		unsigned n;

		if (b & 0x80) {
			control(&w, b);
			continue;
		}
		if (!c->accepted || c->closed || c->reset) { /* nobody reads it: next one */
			w.cur = (w.cur + 1) % NCONN;
			c = w.c[w.cur];
			if (!c->accepted || c->closed || c->reset)
				break;
		}
		n = fs_piece(&in, b, c, iov);
		if (n > 0)
			httpd_on_data(w.hc, w.cur, iov, n, w.now);
		if (w.ack_at_once)
			for (unsigned k = 0; k < NCONN; k++)
				ack(&w, k, false);
	}
	/* The peer reads everything, then closes; the server must close too. */
	for (int r = 0; r < 64; r++) {
		for (unsigned k = 0; k < NCONN; k++)
			ack(&w, k, false);
		tick(&w, 1000);
	}
	for (unsigned k = 0; k < NCONN; k++)
		if (w.c[k]->accepted && !w.c[k]->closed && !w.c[k]->reset)
			httpd_on_remote_closed(w.hc, k, DLIBOS_CLOSED_FIN);
	for (int r = 0; r < 64; r++) {
		for (unsigned k = 0; k < NCONN; k++)
			ack(&w, k, false);
		tick(&w, 1000);
	}
	tick(&w, (uint64_t)cfg.keepalive_s * 1000000 + 2000000);
	for (unsigned k = 0; k < NCONN; k++) {
		struct fs_conn *c = w.c[k];
		if (c->accepted)
			FZ_CHECK(c->closed, "connection %u still open after the peer's FIN", k);
		check_responses(c);
		if (c->accepted)
			httpd_on_cleanup(w.hc, k);
	}
	FZ_CHECK(httpd_conns(w.hc) == 0, "%u connections left", httpd_conns(w.hc));
	httpd_core_destroy(w.hc);
	for (unsigned k = 0; k < NCONN; k++)
		fs_conn_drop(w.c[k]);
	for (unsigned i = 0; i < w.nblocks; i++)
		free(w.blocks[i]);
	W = NULL;
	return 0;
}
