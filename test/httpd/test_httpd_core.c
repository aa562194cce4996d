/*
 * test_httpd_core.c - unit tests of dlibos-httpd's per-core logic, driven
 * through fake runtime operations: requests whole, split at every byte,
 * pipelined, with bodies; keep-alive and close for HTTP/1.0 and 1.1; error
 * statuses; the in-flight limit; the Date prefix sets (a set referenced by
 * an unacknowledged response is never rewritten); idle timeout; the
 * connection limit; peer FIN, reset and send failures.
 *
 * The fake runtime scribbles over received bytes as soon as they are
 * returned with recv_done, so reading data after returning it shows up as
 * a wrong response. Sent fragments are copied at send time (what the NIC
 * would read) and their addresses kept, to check they are never modified
 * while unacknowledged.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "httpd_core.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAXC	  8
#define OUT_CAP	  (12u << 20)
#define MAX_SENDS 256

/* ---- fake runtime ------------------------------------------------------- */

struct fconn {
	bool accepted, closed, shut_wr;
	char *out; /* everything sent, concatenated */
	size_t out_len;
	/* delivered, not returned: scribbled on recv_done */
	struct dlibos_iov held[1024];
	unsigned nheld, held_off;
	uint64_t delivered, returned;
	unsigned sends;
	struct dlibos_frag frag[MAX_SENDS][HTTPD_SEND_FRAGS];
	unsigned nfrag[MAX_SENDS];
};

struct fake {
	struct fconn c[MAXC];
	int64_t wall_ns;
	int send_rc;
	unsigned refused;
	unsigned tx_allocs;
};

static struct fake F;

static struct fconn *fc(dlibos_conn_t id)
{
	assert_true(id < MAXC);
	return &F.c[id];
}

static int f_accept(void *ctx, dlibos_conn_t id)
{
	(void)ctx;
	fc(id)->accepted = true;
	return 0;
}

static int f_send(void *ctx, dlibos_conn_t id, const struct dlibos_frag *f, unsigned n)
{
	struct fconn *c = fc(id);

	(void)ctx;
	assert_false(c->closed);
	assert_false(c->shut_wr);
	if (F.send_rc != 0)
		return F.send_rc;
	assert_true(n >= 1 && n <= HTTPD_SEND_FRAGS);
	assert_true(c->sends < MAX_SENDS);
	c->nfrag[c->sends] = n;
	for (unsigned i = 0; i < n; i++) {
		assert_true(f[i].len > 0);
		assert_true(c->out_len + f[i].len <= OUT_CAP);
		memcpy(c->out + c->out_len, f[i].base, f[i].len);
		c->out_len += f[i].len;
		c->frag[c->sends][i] = f[i];
	}
	c->sends++;
	return 0;
}

static int f_recv_done(void *ctx, dlibos_conn_t id, uint32_t bytes)
{
	struct fconn *c = fc(id);

	(void)ctx;
	assert_true(bytes > 0);
	assert_true(c->returned + bytes <= c->delivered);
	c->returned += bytes;
	while (bytes > 0) {
		struct dlibos_iov *v = &c->held[0];
		uint32_t k = v->len - c->held_off < bytes ? v->len - c->held_off : bytes;
		memset((uint8_t *)v->base + c->held_off, 'Z', k);
		c->held_off += k;
		bytes -= k;
		if (c->held_off == v->len) {
			free((void *)v->base);
			memmove(&c->held[0], &c->held[1], (c->nheld - 1) * sizeof(c->held[0]));
			c->nheld--;
			c->held_off = 0;
		}
	}
	return 0;
}

static int f_shutdown_wr(void *ctx, dlibos_conn_t id)
{
	(void)ctx;
	fc(id)->shut_wr = true;
	return 0;
}

static int f_close(void *ctx, dlibos_conn_t id)
{
	(void)ctx;
	if (id >= MAXC) {
		F.refused++;
		return 0;
	}
	assert_false(fc(id)->closed);
	fc(id)->closed = true;
	return 0;
}

static void *f_tx_alloc(size_t n)
{
	F.tx_allocs++;
	return malloc(n);
}

static int64_t f_wall(void *ctx)
{
	(void)ctx;
	return F.wall_ns;
}

static const struct httpd_ops fops = {
    .accept = f_accept,
    .send = f_send,
    .recv_done = f_recv_done,
    .shutdown_wr = f_shutdown_wr,
    .close = f_close,
    .tx_alloc = f_tx_alloc,
    .tx_free = free,
    .wall_ns = f_wall,
};

/* ---- fixture -------------------------------------------------------------- */

static char root[PATH_MAX];
static struct httpd_files files;
static uint8_t big[100 * 1024];
#define HUGE_LEN (9u << 20)
static uint8_t *huge;
static const char index_body[] = "<html>index</html>\n";

#define T0 1700000000 /* Tue, 14 Nov 2023 22:13:20 GMT */

struct env {
	struct httpd_core *hc;
	struct httpd_config cfg;
	uint64_t now;
};

static void put(const char *rel, const void *data, size_t len)
{
	char p[PATH_MAX * 2];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	FILE *f = fopen(p, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static void *alloc64(size_t n)
{
	return aligned_alloc(64, (n + 63) & ~(size_t)63);
}

static int group_setup(void **state)
{
	struct httpd_scan scan;
	char err[256], p[PATH_MAX * 2];

	(void)state;
	strcpy(root, "/tmp/httpd-core-XXXXXX");
	if (mkdtemp(root) == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i ^ (i >> 9));
	put("index.html", index_body, strlen(index_body));
	put("big.bin", big, sizeof(big));
	huge = malloc(HUGE_LEN);
	for (size_t i = 0; i < HUGE_LEN; i++)
		huge[i] = (uint8_t)(i * 13 + (i >> 16));
	put("huge.bin", huge, HUGE_LEN);
	snprintf(p, sizeof(p), "%s/sub", root);
	mkdir(p, 0755);
	put("sub/index.html", "sub\n", 4);
	if (httpd_files_scan(root, &scan, err, sizeof(err)) != 0 ||
	    httpd_files_load(&files, root, &scan, alloc64, free, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[PATH_MAX + 32];

	(void)state;
	httpd_files_free(&files);
	free(huge);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static struct env *env_new(unsigned max_conns)
{
	struct env *e = calloc(1, sizeof(*e));

	memset(&F, 0, sizeof(F));
	for (unsigned i = 0; i < MAXC; i++)
		F.c[i].out = malloc(OUT_CAP);
	F.wall_ns = (int64_t)T0 * 1000000000 + 250000000;
	e->cfg = (struct httpd_config){
	    .limits = {HTTP_DEFAULT_MAX_URI, HTTP_DEFAULT_MAX_HEAD},
	    .keepalive_s = 5,
	    .max_conns = max_conns,
	    .max_discard = 1 << 16,
	    .server = "test",
	};
	e->now = 1000000;
	e->hc = httpd_core_create(&e->cfg, &files, &fops, NULL, e->now);
	assert_non_null(e->hc);
	return e;
}

static void env_free(struct env *e)
{
	for (unsigned i = 0; i < MAXC; i++) {
		struct fconn *c = &F.c[i];
		for (unsigned k = 0; k < c->nheld; k++)
			free((void *)c->held[k].base);
		free(c->out);
	}
	httpd_core_destroy(e->hc);
	free(e);
}

static const uint64_t *cnt(struct env *e)
{
	return httpd_counters(e->hc);
}

static void open_conn(struct env *e, dlibos_conn_t id)
{
	httpd_on_new_conn(e->hc, id, e->now);
	assert_true(fc(id)->accepted);
}

/* Deliver bytes as one iovec per piece (a heap copy the fake frees). */
static void deliver_v(struct env *e, dlibos_conn_t id, const char *const *pieces,
		      const size_t *lens, unsigned n)
{
	struct dlibos_iov iov[64];
	struct fconn *c = fc(id);

	assert_true(n <= 64);
	for (unsigned i = 0; i < n; i++) {
		uint8_t *p = malloc(lens[i] ? lens[i] : 1);
		memcpy(p, pieces[i], lens[i]);
		iov[i] = (struct dlibos_iov){p, (uint32_t)lens[i]};
		assert_true(c->nheld < 1024);
		c->held[c->nheld++] = iov[i];
		c->delivered += lens[i];
	}
	httpd_on_data(e->hc, id, iov, n, e->now);
}

static void deliver(struct env *e, dlibos_conn_t id, const char *s, size_t len)
{
	deliver_v(e, id, &s, &len, 1);
}

static void deliver_s(struct env *e, dlibos_conn_t id, const char *s)
{
	deliver(e, id, s, strlen(s));
}

/* ---- a small response parser for the checks ------------------------------- */

struct resp {
	unsigned code;
	const char *head; /* inside the output */
	size_t head_len;
	const uint8_t *body;
	size_t body_len;
};

static bool has_header(const struct resp *r, const char *line)
{
	return memmem(r->head, r->head_len, line, strlen(line)) != NULL;
}

/* Split output into responses; head_only[i] says response i answers a HEAD. */
static unsigned split_responses(const char *out, size_t len, struct resp *r, unsigned max,
				const bool *head_only)
{
	size_t o = 0;
	unsigned n = 0;

	while (o < len) {
		assert_true(n < max);
		const char *end = memmem(out + o, len - o, "\r\n\r\n", 4);
		assert_non_null(end);
		r[n].head = out + o;
		r[n].head_len = (size_t)(end - (out + o)) + 4;
		assert_int_equal(sscanf(out + o, "HTTP/1.1 %u ", &r[n].code), 1);
		const char *cl = memmem(r[n].head, r[n].head_len, "Content-Length: ", 16);
		assert_non_null(cl);
		size_t blen = strtoul(cl + 16, NULL, 10);
		o += r[n].head_len;
		r[n].body = (const uint8_t *)out + o;
		r[n].body_len = head_only != NULL && head_only[n] ? 0 : blen;
		assert_true(o + r[n].body_len <= len);
		o += r[n].body_len;
		n++;
	}
	return n;
}

/* How many complete responses (to GETs) the output holds. */
static unsigned nresp(const struct fconn *c)
{
	static struct resp r[256];
	return split_responses(c->out, c->out_len, r, 256, NULL);
}

static void expect_date(const struct resp *r, int64_t sec)
{
	char d[HTTP_DATE_LEN + 1], line[64];

	http_date_format(sec, d);
	snprintf(line, sizeof(line), "\r\nDate: %s\r\n", d);
	if (!has_header(r, line))
		fail_msg("no \"%s\" in %.*s", d, (int)r->head_len, r->head);
}

/* ---- tests ------------------------------------------------------------------ */

static const char GET_ROOT[] = "GET / HTTP/1.1\r\nHost: t\r\nUser-Agent: x\r\n\r\n";

static void test_get_whole(void **state)
{
	struct env *e = env_new(4);
	struct resp r[2];

	(void)state;
	open_conn(e, 1);
	deliver_s(e, 1, GET_ROOT);
	struct fconn *c = fc(1);
	assert_int_equal(c->returned, strlen(GET_ROOT));
	assert_int_equal(split_responses(c->out, c->out_len, r, 2, NULL), 1);
	assert_int_equal(r[0].code, 200);
	assert_true(has_header(&r[0], "\r\nServer: test\r\n"));
	assert_true(has_header(&r[0], "\r\nContent-Type: text/html\r\n"));
	assert_true(has_header(&r[0], "\r\nLast-Modified: "));
	assert_false(has_header(&r[0], "Connection:"));
	expect_date(&r[0], T0);
	assert_int_equal(r[0].body_len, strlen(index_body));
	assert_memory_equal(r[0].body, index_body, strlen(index_body));
	/* Zero-touch: the body fragment is the preloaded entity itself. */
	const struct httpd_entity *ent = httpd_files_lookup(&files, "/", 1);
	assert_ptr_equal(c->frag[0][1].base, ent->data);
	assert_int_equal(c->frag[0][1].len, ent->len);
	assert_false(c->shut_wr);
	assert_false(c->closed);
	assert_int_equal(cnt(e)[HTTPD_C_REQUESTS], 1);
	assert_int_equal(cnt(e)[HTTPD_C_S200], 1);
	assert_int_equal(cnt(e)[HTTPD_C_BYTES_SENT], c->out_len);
	assert_int_equal(cnt(e)[HTTPD_C_REQ_SPLIT], 0);
	httpd_on_cleanup(e->hc, 1);
	assert_int_equal(httpd_conns(e->hc), 0);
	env_free(e);
}

/* The same request split at every byte, as two events or as two iovecs of
 * one event, gives byte-identical output. */
static void test_split_everywhere(void **state)
{
	const char *req = "GET /big.bin HTTP/1.1\r\nHost: t\r\nAccept: */*\r\n\r\n";
	size_t len = strlen(req);
	struct env *e = env_new(4);
	char *want;
	size_t want_len;

	(void)state;
	open_conn(e, 1);
	deliver_s(e, 1, req);
	want_len = fc(1)->out_len;
	want = malloc(want_len);
	memcpy(want, fc(1)->out, want_len);
	env_free(e);
	for (size_t k = 1; k < len; k++) {
		for (int mode = 0; mode < 2; mode++) {
			e = env_new(4);
			open_conn(e, 2);
			const char *p[2] = {req, req + k};
			size_t l[2] = {k, len - k};
			if (mode == 0) {
				deliver(e, 2, p[0], l[0]);
				assert_int_equal(fc(2)->out_len, 0);
				deliver(e, 2, p[1], l[1]);
			} else {
				deliver_v(e, 2, p, l, 2);
			}
			struct fconn *c = fc(2);
			if (c->out_len != want_len || memcmp(c->out, want, want_len) != 0)
				fail_msg("split at %zu (mode %d): output differs", k, mode);
			assert_int_equal(c->returned, len);
			assert_int_equal(cnt(e)[HTTPD_C_REQ_SPLIT], 1);
			env_free(e);
		}
	}
	free(want);
}

/* One byte per event. */
static void test_byte_by_byte(void **state)
{
	struct env *e = env_new(4);
	struct resp r[2];

	(void)state;
	open_conn(e, 1);
	for (size_t i = 0; i < strlen(GET_ROOT); i++)
		deliver(e, 1, GET_ROOT + i, 1);
	assert_int_equal(split_responses(fc(1)->out, fc(1)->out_len, r, 2, NULL), 1);
	assert_int_equal(r[0].code, 200);
	assert_int_equal(fc(1)->returned, strlen(GET_ROOT));
	env_free(e);
}

static void test_pipelined(void **state)
{
	const char *reqs = "GET / HTTP/1.1\r\nHost: t\r\n\r\n"
			   "HEAD /big.bin HTTP/1.1\r\nHost: t\r\n\r\n"
			   "GET /sub/ HTTP/1.1\r\nHost: t\r\n\r\n"
			   "GET /nothing HTTP/1.1\r\nHost: t\r\n\r\n"
			   "GET /big.bin HTTP/1.1\r\nHo";
	const char *rest = "st: t\r\n\r\nGET /sub HTTP/1.1\r\nHost: t\r\n\r\n";
	struct env *e = env_new(4);
	struct resp r[8];
	bool head[8] = {false, true};

	(void)state;
	open_conn(e, 1);
	deliver_s(e, 1, reqs);
	assert_int_equal(fc(1)->sends, 1); /* four responses in one send */
	bool head4[4] = {false, true};
	assert_int_equal(split_responses(fc(1)->out, fc(1)->out_len, r, 8, head4), 4);
	deliver_s(e, 1, rest);
	struct fconn *c = fc(1);
	assert_int_equal(split_responses(c->out, c->out_len, r, 8, head), 6);
	assert_int_equal(r[0].code, 200);
	assert_memory_equal(r[0].body, index_body, strlen(index_body));
	assert_int_equal(r[1].code, 200);
	assert_true(has_header(&r[1], "Content-Length: 102400\r\n"));
	assert_int_equal(r[2].code, 200);
	assert_memory_equal(r[2].body, "sub\n", 4);
	assert_int_equal(r[3].code, 404);
	assert_int_equal(r[4].code, 200);
	assert_int_equal(r[4].body_len, sizeof(big));
	assert_memory_equal(r[4].body, big, sizeof(big));
	assert_int_equal(r[5].code, 301);
	assert_true(has_header(&r[5], "\r\nLocation: /sub/\r\n"));
	assert_int_equal(c->returned, strlen(reqs) + strlen(rest));
	assert_int_equal(cnt(e)[HTTPD_C_REQ_HEAD], 1);
	assert_int_equal(cnt(e)[HTTPD_C_REQ_REUSED], 5);
	assert_int_equal(cnt(e)[HTTPD_C_S404], 1);
	assert_int_equal(cnt(e)[HTTPD_C_S301], 1);
	assert_false(c->shut_wr);
	env_free(e);
}

static void test_http10(void **state)
{
	struct env *e = env_new(4);
	struct resp r[4];

	(void)state;
	open_conn(e, 1);
	deliver_s(e, 1, "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
	struct fconn *c = fc(1);
	assert_int_equal(split_responses(c->out, c->out_len, r, 4, NULL), 1);
	assert_true(has_header(&r[0], "\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n"));
	assert_true(has_header(&r[0], "\r\nContent-Length: "));
	assert_false(c->shut_wr);
	/* Without keep-alive: close after the response, linger for the FIN. */
	deliver_s(e, 1, "GET /sub/ HTTP/1.0\r\n\r\n");
	assert_int_equal(split_responses(c->out, c->out_len, r, 4, NULL), 2);
	assert_true(has_header(&r[1], "\r\nConnection: close\r\n"));
	assert_true(c->shut_wr);
	assert_false(c->closed);
	/* What follows is returned unanswered. */
	deliver_s(e, 1, "GET / HTTP/1.0\r\n\r\n");
	assert_int_equal(c->sends, 2);
	assert_int_equal(c->returned, c->delivered);
	httpd_on_remote_closed(e->hc, 1, DLIBOS_CLOSED_FIN);
	assert_true(c->closed);
	env_free(e);
}

static void test_http11_close(void **state)
{
	struct env *e = env_new(4);
	struct resp r[4];

	(void)state;
	open_conn(e, 1);
	/* The second request is never answered: the first closes. */
	deliver_s(e, 1,
		  "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
		  "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
	struct fconn *c = fc(1);
	assert_int_equal(split_responses(c->out, c->out_len, r, 4, NULL), 1);
	assert_true(has_header(&r[0], "\r\nConnection: close\r\n"));
	assert_true(c->shut_wr);
	assert_int_equal(c->returned, c->delivered);
	/* The linger ends after the idle timeout if the peer never closes. */
	e->now += 5000000;
	F.wall_ns += 5000000000;
	httpd_poll(e->hc, e->now);
	assert_true(c->closed);
	assert_int_equal(cnt(e)[HTTPD_C_CONNS_IDLE_CLOSED], 1);
	env_free(e);
}

struct bad_case {
	const char *req;
	unsigned code;
	bool closes;
};

static void test_error_statuses(void **state)
{
	static char uri[HTTP_DEFAULT_MAX_URI + 64];
	const struct bad_case cases[] = {
	    {"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n", 404, false},
	    {"DELETE / HTTP/1.1\r\nHost: t\r\n\r\n", 405, false},
	    {"GET / HTTP/1.1\r\n\r\n", 400, true},
	    {"GET /../x HTTP/1.1\r\nHost: t\r\n\r\n", 400, true},
	    {"GET /a%zz HTTP/1.1\r\nHost: t\r\n\r\n", 400, true},
	    {"GARBAGE\r\n\r\n", 400, true},
	    {"GET / HTTP/3.0\r\n\r\n", 505, true},
	    {uri, 414, true},
	};
	struct resp r[2];

	(void)state;
	memcpy(uri, "GET /", 5);
	memset(uri + 5, 'a', HTTP_DEFAULT_MAX_URI);
	strcpy(uri + 5 + HTTP_DEFAULT_MAX_URI, " HTTP/1.1\r\nHost: t\r\n\r\n");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct env *e = env_new(4);
		open_conn(e, 3);
		deliver_s(e, 3, cases[i].req);
		struct fconn *c = fc(3);
		assert_int_equal(split_responses(c->out, c->out_len, r, 2, NULL), 1);
		if (r[0].code != cases[i].code || c->shut_wr != cases[i].closes)
			fail_msg("case %zu: status %u shut %d, want %u %d", i, r[0].code,
				 c->shut_wr, cases[i].code, cases[i].closes);
		assert_true(has_header(&r[0], "\r\nContent-Type: text/html\r\n"));
		if (cases[i].closes)
			assert_true(has_header(&r[0], "\r\nConnection: close\r\n"));
		if (cases[i].code == 405)
			assert_true(has_header(&r[0], "\r\nAllow: GET, HEAD\r\n"));
		assert_int_equal(c->returned, c->delivered);
		env_free(e);
	}
}

/* A head larger than max_head, arriving in small pieces: 431, and the
 * connection never holds more than max_head copied bytes. */
static void test_431_split(void **state)
{
	struct env *e = env_new(4);
	struct resp r[2];
	char line[128];

	(void)state;
	open_conn(e, 1);
	deliver_s(e, 1, "GET / HTTP/1.1\r\nHost: t\r\n");
	for (int i = 0; i < 200 && !fc(1)->shut_wr; i++) {
		snprintf(line, sizeof(line), "X-Header-%03d: %070d\r\n", i, i);
		deliver_s(e, 1, line);
		assert_true(fc(1)->delivered - fc(1)->returned <= HTTP_DEFAULT_MAX_HEAD);
	}
	assert_true(fc(1)->shut_wr);
	assert_int_equal(split_responses(fc(1)->out, fc(1)->out_len, r, 2, NULL), 1);
	assert_int_equal(r[0].code, 431);
	assert_int_equal(cnt(e)[HTTPD_C_S431], 1);
	env_free(e);
}

static void test_head(void **state)
{
	struct env *e = env_new(4);
	struct resp r[2];
	bool head[2] = {true, true};

	(void)state;
	open_conn(e, 1);
	deliver_s(e, 1,
		  "HEAD /big.bin HTTP/1.1\r\nHost: t\r\n\r\nHEAD /x HTTP/1.1\r\nHost: t\r\n\r\n");
	struct fconn *c = fc(1);
	assert_int_equal(split_responses(c->out, c->out_len, r, 2, head), 2);
	assert_int_equal(r[0].code, 200);
	assert_true(has_header(&r[0], "\r\nContent-Length: 102400\r\n"));
	assert_int_equal(r[1].code, 404);
	assert_int_equal(c->out_len, r[0].head_len + r[1].head_len);
	env_free(e);
}

static void test_body_discarded(void **state)
{
	struct env *e = env_new(4);
	struct resp r[4];

	(void)state;
	open_conn(e, 1);
	/* The body spans events; the request after it is answered. */
	deliver_s(e, 1, "POST /form HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhello");
	deliver_s(e, 1, "world");
	deliver_s(e, 1, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
	/* A body inside a copied (split) head's buffer. */
	deliver_s(e, 1, "PUT /x HTTP/1.1\r\nHost: t\r\nContent-Len");
	deliver_s(e, 1, "gth: 3\r\n\r\nabcGET /sub/ HTTP/1.1\r\nHost: t\r\n\r\n");
	struct fconn *c = fc(1);
	assert_int_equal(split_responses(c->out, c->out_len, r, 4, NULL), 4);
	assert_int_equal(r[0].code, 405);
	assert_int_equal(r[1].code, 200);
	assert_int_equal(r[2].code, 405);
	assert_int_equal(r[3].code, 200);
	assert_memory_equal(r[3].body, "sub\n", 4);
	assert_int_equal(cnt(e)[HTTPD_C_BODY_DISCARDED], 13);
	assert_int_equal(c->returned, c->delivered);
	/* A body over max_discard closes instead. */
	deliver_s(e, 1, "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 999999\r\n\r\n");
	assert_true(c->shut_wr);
	env_free(e);
}

/* At most HTTPD_MAX_INFLIGHT unacknowledged responses; acks resume. */
static void test_inflight_limit(void **state)
{
	const unsigned n = HTTPD_MAX_INFLIGHT + 8;
	struct env *e = env_new(4);
	char *reqs = malloc(n * 64);
	size_t len = 0;

	(void)state;
	for (unsigned i = 0; i < n; i++)
		len += (size_t)sprintf(reqs + len, "GET /sub/ HTTP/1.1\r\nHost: t\r\n\r\n");
	open_conn(e, 1);
	deliver(e, 1, reqs, len);
	struct fconn *c = fc(1);
	assert_int_equal(nresp(c), HTTPD_MAX_INFLIGHT);
	assert_true(c->returned < len); /* unprocessed requests stay unreturned */
	assert_int_equal(cnt(e)[HTTPD_C_PAUSED], 1);
	size_t one = c->out_len / HTTPD_MAX_INFLIGHT;
	httpd_on_acked(e->hc, 1, (uint32_t)one - 1, e->now);
	assert_int_equal(nresp(c), HTTPD_MAX_INFLIGHT);
	httpd_on_acked(e->hc, 1, 1, e->now);
	assert_int_equal(nresp(c), HTTPD_MAX_INFLIGHT + 1);
	httpd_on_acked(e->hc, 1, (uint32_t)(c->out_len - one), e->now);
	assert_int_equal(nresp(c), n);
	assert_int_equal(c->returned, len);
	free(reqs);
	env_free(e);
}

/* A large file goes out HTTPD_SEND_WINDOW at a time, topped up once half
 * is acknowledged; Connection: close shuts down only after the last byte. */
static void test_send_window(void **state)
{
	struct env *e = env_new(4);
	struct resp r[2];
	const uint64_t w = HTTPD_SEND_WINDOW;

	(void)state;
	open_conn(e, 1);
	deliver_s(e, 1, "GET /huge.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	struct fconn *c = fc(1);
	assert_int_equal(c->out_len, w);
	assert_false(c->shut_wr);
	httpd_on_acked(e->hc, 1, (uint32_t)(w / 2 - 1), e->now);
	assert_int_equal(c->out_len, w); /* more than half still unacknowledged */
	httpd_on_acked(e->hc, 1, 1, e->now);
	assert_int_equal(c->out_len, w + w / 2); /* topped up to a full window */
	uint64_t acked = w / 2;
	for (int i = 0; i < 100 && !c->shut_wr; i++) {
		uint64_t k = c->out_len - acked;
		httpd_on_acked(e->hc, 1, (uint32_t)k, e->now);
		acked += k;
	}
	assert_true(c->shut_wr);
	assert_int_equal(split_responses(c->out, c->out_len, r, 2, NULL), 1);
	assert_int_equal(r[0].body_len, HUGE_LEN);
	assert_memory_equal(r[0].body, huge, HUGE_LEN);
	assert_true(has_header(&r[0], "\r\nConnection: close\r\n"));
	assert_int_equal(cnt(e)[HTTPD_C_BYTES_SENT], c->out_len);
	httpd_on_remote_closed(e->hc, 1, DLIBOS_CLOSED_FIN);
	assert_true(c->closed);
	env_free(e);
}

/* A prefix set referenced by an unacknowledged response is never
 * rewritten; an unreferenced one is updated in place. */
static void test_date_sets(void **state)
{
	struct env *e = env_new(4);
	struct resp r[4];
	uint32_t refs[HTTPD_MAX_SETS];
	unsigned cur;

	(void)state;
	open_conn(e, 1);
	deliver_s(e, 1, GET_ROOT);
	struct fconn *c = fc(1);
	struct dlibos_frag pre0 = c->frag[0][0];
	char saved[256];
	memcpy(saved, pre0.base, pre0.len);
	assert_int_equal(httpd_sets(e->hc, refs, HTTPD_MAX_SETS, &cur), 1);
	assert_int_equal(refs[0], 1);
	/* Next second: set 0 is busy, a new set carries the new date. */
	F.wall_ns += 1000000000;
	e->now += 1000000;
	httpd_poll(e->hc, e->now);
	assert_int_equal(httpd_sets(e->hc, refs, HTTPD_MAX_SETS, &cur), 2);
	assert_int_equal(cur, 1);
	assert_memory_equal(pre0.base, saved, pre0.len);
	deliver_s(e, 1, GET_ROOT);
	assert_int_equal(split_responses(c->out, c->out_len, r, 4, NULL), 2);
	expect_date(&r[0], T0);
	expect_date(&r[1], T0 + 1);
	/* Acknowledge the first response: set 0 becomes free. */
	httpd_on_acked(e->hc, 1, (uint32_t)(r[0].head_len + r[0].body_len), e->now);
	httpd_sets(e->hc, refs, HTTPD_MAX_SETS, &cur);
	assert_int_equal(refs[0], 0);
	assert_int_equal(refs[1], 1);
	/* Next second: the current set (1) is busy, set 0 is reused. */
	F.wall_ns += 1000000000;
	e->now += 1000000;
	httpd_poll(e->hc, e->now);
	assert_int_equal(httpd_sets(e->hc, refs, HTTPD_MAX_SETS, &cur), 2);
	assert_int_equal(cur, 0);
	/* Everything acknowledged: the current set is updated in place. */
	httpd_on_acked(e->hc, 1, (uint32_t)(r[1].head_len + r[1].body_len), e->now);
	F.wall_ns += 1000000000;
	e->now += 1000000;
	httpd_poll(e->hc, e->now);
	assert_int_equal(httpd_sets(e->hc, refs, HTTPD_MAX_SETS, &cur), 2);
	assert_int_equal(cur, 0);
	deliver_s(e, 1, GET_ROOT);
	assert_int_equal(split_responses(c->out, c->out_len, r, 4, NULL), 3);
	expect_date(&r[2], T0 + 3);
	assert_int_equal(cnt(e)[HTTPD_C_DATE_UPDATES], 3);
	assert_int_equal(cnt(e)[HTTPD_C_ACK_UNEXPECTED], 0);
	/* Cleanup releases what was never acknowledged. */
	httpd_on_cleanup(e->hc, 1);
	httpd_sets(e->hc, refs, HTTPD_MAX_SETS, &cur);
	assert_int_equal(refs[0] + refs[1], 0);
	env_free(e);
}

/* Many seconds of unacknowledged responses: sets are added up to the
 * maximum, then the date goes stale (counted) rather than overwriting. */
static void test_date_sets_exhausted(void **state)
{
	struct env *e = env_new(4);
	uint32_t refs[HTTPD_MAX_SETS];
	unsigned cur;

	(void)state;
	open_conn(e, 1);
	for (unsigned s = 0; s < HTTPD_MAX_SETS + 3; s++) {
		dlibos_conn_t id = 1 + s / HTTPD_MAX_INFLIGHT; /* each holds 32 responses */
		if (s % HTTPD_MAX_INFLIGHT == 0 && id != 1)
			open_conn(e, id);
		deliver_s(e, id, GET_ROOT);
		F.wall_ns += 1000000000;
		e->now += 1000000;
		httpd_poll(e->hc, e->now);
	}
	assert_int_equal(httpd_sets(e->hc, refs, HTTPD_MAX_SETS, &cur), HTTPD_MAX_SETS);
	assert_true(cnt(e)[HTTPD_C_DATE_STALE] > 0);
	env_free(e);
}

static void test_idle_timeout(void **state)
{
	struct env *e = env_new(4);

	(void)state;
	open_conn(e, 1);
	open_conn(e, 2);
	deliver_s(e, 1, "GET / HT"); /* a partial request */
	e->now += 3000000;
	F.wall_ns += 3000000000;
	deliver_s(e, 2, GET_ROOT); /* connection 2 is active */
	e->now += 2000000;
	F.wall_ns += 2000000000;
	httpd_poll(e->hc, e->now);
	assert_true(fc(1)->closed);
	assert_int_equal(fc(1)->returned, fc(1)->delivered); /* FIN, not reset */
	assert_false(fc(2)->closed);
	e->now += 3000000;
	F.wall_ns += 3000000000;
	httpd_poll(e->hc, e->now);
	assert_true(fc(2)->closed);
	assert_int_equal(cnt(e)[HTTPD_C_CONNS_IDLE_CLOSED], 2);
	env_free(e);
}

static void test_conn_limit(void **state)
{
	struct env *e = env_new(2);
	atomic_uint shared = 0;

	(void)state;
	open_conn(e, 1);
	open_conn(e, 2);
	httpd_on_new_conn(e->hc, 3, e->now);
	assert_false(fc(3)->accepted);
	assert_true(fc(3)->closed);
	assert_int_equal(cnt(e)[HTTPD_C_CONNS_REFUSED], 1);
	httpd_on_cleanup(e->hc, 3); /* of the refused one: ignored */
	assert_int_equal(httpd_conns(e->hc), 2);
	httpd_on_cleanup(e->hc, 1);
	httpd_on_new_conn(e->hc, 4, e->now);
	assert_true(fc(4)->accepted);
	env_free(e);

	/* A limit shared between cores. */
	e = env_new(4);
	httpd_core_destroy(e->hc);
	e->cfg.shared_conns = &shared;
	e->cfg.shared_max = 1;
	e->hc = httpd_core_create(&e->cfg, &files, &fops, NULL, e->now);
	open_conn(e, 1);
	atomic_fetch_add(&shared, 0);
	httpd_on_new_conn(e->hc, 2, e->now);
	assert_false(fc(2)->accepted);
	assert_int_equal(atomic_load(&shared), 1);
	httpd_on_cleanup(e->hc, 1);
	assert_int_equal(atomic_load(&shared), 0);
	open_conn(e, 3);
	env_free(e);
}

static void test_fin_after_requests(void **state)
{
	struct env *e = env_new(4);
	struct resp r[4];

	(void)state;
	open_conn(e, 1);
	deliver_s(e, 1,
		  "GET / HTTP/1.1\r\nHost: t\r\n\r\nGET /sub/ HTTP/1.1\r\nHost: t\r\n\r\nGET /x");
	httpd_on_remote_closed(e->hc, 1, DLIBOS_CLOSED_FIN);
	struct fconn *c = fc(1);
	assert_int_equal(split_responses(c->out, c->out_len, r, 4, NULL), 2);
	assert_true(c->closed);
	assert_int_equal(c->returned, c->delivered); /* no reset */
	assert_int_equal(cnt(e)[HTTPD_C_CONNS_RESET], 0);
	env_free(e);

	/* FIN while paused on the in-flight limit: answered after the acks. */
	e = env_new(4);
	open_conn(e, 1);
	char *reqs = malloc(64 * (HTTPD_MAX_INFLIGHT + 2));
	size_t len = 0;
	for (unsigned i = 0; i < HTTPD_MAX_INFLIGHT + 2; i++)
		len += (size_t)sprintf(reqs + len, "GET /sub/ HTTP/1.1\r\nHost: t\r\n\r\n");
	deliver(e, 1, reqs, len);
	httpd_on_remote_closed(e->hc, 1, DLIBOS_CLOSED_FIN);
	c = fc(1);
	assert_false(c->closed);
	httpd_on_acked(e->hc, 1, (uint32_t)c->out_len, e->now);
	assert_int_equal(nresp(c), HTTPD_MAX_INFLIGHT + 2);
	assert_true(c->closed);
	assert_int_equal(c->returned, c->delivered);
	free(reqs);
	env_free(e);
}

static void test_reset_and_failures(void **state)
{
	struct env *e = env_new(4);

	(void)state;
	open_conn(e, 1);
	deliver_s(e, 1, "GET / HT");
	httpd_on_remote_closed(e->hc, 1, DLIBOS_CLOSED_RESET);
	assert_true(fc(1)->closed);
	assert_int_equal(cnt(e)[HTTPD_C_CONNS_RESET], 1);
	/* Events after close are ignored. */
	deliver_s(e, 1, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
	httpd_on_remote_closed(e->hc, 1, DLIBOS_CLOSED_FIN);
	assert_int_equal(fc(1)->sends, 0);
	httpd_on_cleanup(e->hc, 1);

	/* send rejected on the spot */
	open_conn(e, 2);
	F.send_rc = -EFAULT;
	deliver_s(e, 2, GET_ROOT);
	assert_true(fc(2)->closed);
	assert_int_equal(cnt(e)[HTTPD_C_SEND_FAILED], 1);
	F.send_rc = 0;

	/* send failed later (cmd_error) */
	open_conn(e, 3);
	deliver_s(e, 3, GET_ROOT);
	httpd_on_cmd_error(e->hc, 3, DLIBOS_CMD_SEND, ENOBUFS);
	assert_true(fc(3)->closed);
	assert_int_equal(cnt(e)[HTTPD_C_SEND_FAILED], 2);
	httpd_on_cmd_error(e->hc, DLIBOS_CONN_NONE, DLIBOS_CMD_LISTEN, EADDRINUSE);
	assert_int_equal(cnt(e)[HTTPD_C_CMD_ERRORS], 1);

	/* Acknowledgements beyond what was sent are counted. */
	open_conn(e, 4);
	httpd_on_acked(e->hc, 4, 10, e->now);
	assert_int_equal(cnt(e)[HTTPD_C_ACK_UNEXPECTED], 10);
	/* Unknown connections are ignored. */
	httpd_on_acked(e->hc, 7, 10, e->now);
	httpd_on_remote_closed(e->hc, 7, DLIBOS_CLOSED_FIN);
	httpd_on_cleanup(e->hc, 7);
	env_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_get_whole),
	    cmocka_unit_test(test_split_everywhere),
	    cmocka_unit_test(test_byte_by_byte),
	    cmocka_unit_test(test_pipelined),
	    cmocka_unit_test(test_http10),
	    cmocka_unit_test(test_http11_close),
	    cmocka_unit_test(test_error_statuses),
	    cmocka_unit_test(test_431_split),
	    cmocka_unit_test(test_head),
	    cmocka_unit_test(test_body_discarded),
	    cmocka_unit_test(test_inflight_limit),
	    cmocka_unit_test(test_send_window),
	    cmocka_unit_test(test_date_sets),
	    cmocka_unit_test(test_date_sets_exhausted),
	    cmocka_unit_test(test_idle_timeout),
	    cmocka_unit_test(test_conn_limit),
	    cmocka_unit_test(test_fin_after_requests),
	    cmocka_unit_test(test_reset_and_failures),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
