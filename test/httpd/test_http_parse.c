/*
 * test_http_parse.c - unit tests of the dlibos-httpd request parser: valid
 * heads, every truncation of them, malformed input (each rule of RFC 9112
 * the parser enforces), size limits (414/431), pipelined heads, the
 * keep-alive decision table and path normalisation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "http_parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct http_limits lim = {HTTP_DEFAULT_MAX_URI, HTTP_DEFAULT_MAX_HEAD};

static int parse(const char *s, struct http_req *r)
{
	return http_parse_request((const uint8_t *)s, strlen(s), &lim, r);
}

/* The parser must never read beyond len: parse from an exact-size heap copy. */
static int parse_exact(const char *s, size_t len, const struct http_limits *l, struct http_req *r)
{
	uint8_t *p = malloc(len ? len : 1);
	memcpy(p, s, len);
	int rc = http_parse_request(p, len, l, r);
	free(p);
	return rc;
}

static void test_simple_get(void **state)
{
	struct http_req r;
	const char *s = "GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n";

	(void)state;
	assert_int_equal(parse(s, &r), (int)strlen(s));
	assert_int_equal(r.method, HTTP_M_GET);
	assert_int_equal(r.minor, 1);
	assert_int_equal(r.target_len, strlen("/index.html"));
	assert_memory_equal(r.target, "/index.html", r.target_len);
	assert_true(r.has_host);
	assert_false(r.conn_close);
	assert_false(r.has_content_length);
	assert_int_equal(r.head_len, strlen(s));
}

static void test_methods_and_versions(void **state)
{
	struct http_req r;

	(void)state;
	assert_true(parse("HEAD / HTTP/1.0\r\n\r\n", &r) > 0);
	assert_int_equal(r.method, HTTP_M_HEAD);
	assert_int_equal(r.minor, 0);
	assert_true(parse("POST / HTTP/1.0\r\n\r\n", &r) > 0);
	assert_int_equal(r.method, HTTP_M_OTHER);
	assert_true(parse("get / HTTP/1.0\r\n\r\n", &r) > 0); /* case-sensitive method */
	assert_int_equal(r.method, HTTP_M_OTHER);
	assert_true(parse("BREW / HTTP/1.0\r\n\r\n", &r) > 0);
	assert_int_equal(r.method, HTTP_M_OTHER);
	assert_true(parse("GET / HTTP/1.9\r\nHost: x\r\n\r\n", &r) > 0);
	assert_int_equal(r.minor, 1); /* 1.x above 1.1 is treated as 1.1 */
	assert_int_equal(parse("GET / HTTP/2.0\r\n\r\n", &r), -505);
	assert_int_equal(parse("GET / HTTP/0.9\r\n\r\n", &r), -505);
}

static void test_bare_lf_and_leading_empty_lines(void **state)
{
	struct http_req r;
	const char *s = "\r\n\nGET / HTTP/1.1\nHost: a\n\n";

	(void)state;
	assert_int_equal(parse(s, &r), (int)strlen(s));
	assert_memory_equal(r.target, "/", 1);
}

static void test_header_values(void **state)
{
	struct http_req r;

	(void)state;
	assert_true(parse("GET / HTTP/1.1\r\nHOST: a\r\nConnection:  Keep-Alive , CLOSE \r\n"
			  "content-length: 12\r\n\r\n",
			  &r) > 0);
	assert_true(r.conn_close);
	assert_true(r.conn_keep_alive);
	assert_true(r.has_content_length);
	assert_int_equal(r.content_length, 12);
	assert_true(parse("GET / HTTP/1.1\r\nHost:\r\nX-Empty:\r\nX-Tab:\tv\t\r\n\r\n", &r) > 0);
	assert_true(parse("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n"
			  "\r\n",
			  &r) > 0);
	assert_true(parse("GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n", &r) > 0);
	assert_true(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n", &r) > 0);
	assert_false(r.conn_close);
	assert_false(r.conn_keep_alive);
}

static void test_malformed(void **state)
{
	static const char *const bad[] = {
	    " GET / HTTP/1.1\r\nHost: a\r\n\r\n",	    /* leading space */
	    "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",	    /* two spaces */
	    "GET / HTTP/1.1 \r\nHost: a\r\n\r\n",	    /* trailing space */
	    "GET /\r\n\r\n",				    /* HTTP/0.9 */
	    "GET / HTTX/1.1\r\nHost: a\r\n\r\n",	    /* bad name */
	    "GET / HTTP/1.1x\r\nHost: a\r\n\r\n",	    /* junk after version */
	    "GET / HTTP/11\r\nHost: a\r\n\r\n",		    /* no dot */
	    "GET / HTTP/1.10\r\nHost: a\r\n\r\n",	    /* two digits */
	    "GET / HTTP/1.1\rHost: a\r\n\r\n",		    /* bare CR */
	    "GET / HTTP/1.1\r\nHost: a\r\n\r\r\n",	    /* bare CR in the end */
	    "G(T / HTTP/1.1\r\nHost: a\r\n\r\n",	    /* not a token */
	    "GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n",	    /* control in target */
	    "GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n",	    /* DEL in target */
	    "GET / HTTP/1.1\r\nHost : a\r\n\r\n",	    /* space before colon */
	    "GET / HTTP/1.1\r\n Host: a\r\n\r\n",	    /* leading whitespace */
	    "GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", /* obs-fold */
	    "GET / HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n",	    /* empty name */
	    "GET / HTTP/1.1\r\nHost a\r\n\r\n",		    /* no colon */
	    "GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n",	    /* control in value */
	    "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",	    /* CR in value */
	    "GET / HTTP/1.1\r\n\r\n",			    /* 1.1 without Host */
	    "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", /* two Hosts */
	    "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
	    "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", /* a TLS ClientHello */
	};
	struct http_req r;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = parse(bad[i], &r);
		if (rc != -400)
			fail_msg("case %zu \"%s\": got %d, want -400", i, bad[i], rc);
	}
	/* A method longer than HTTP_MAX_METHOD. */
	char m[HTTP_MAX_METHOD + 32];
	memset(m, 'A', HTTP_MAX_METHOD + 1);
	strcpy(m + HTTP_MAX_METHOD + 1, " / HTTP/1.0\r\n\r\n");
	assert_int_equal(parse(m, &r), -400);
	m[HTTP_MAX_METHOD] = ' ';
	assert_true(parse(m, &r) < 0); /* exactly 32 letters then "  /": two spaces */
	memset(m, 'A', HTTP_MAX_METHOD);
	strcpy(m + HTTP_MAX_METHOD, " / HTTP/1.0\r\n\r\n");
	assert_true(parse(m, &r) > 0);
}

/* Every strict prefix of a valid head is "need more", never an error. */
static void test_every_truncation(void **state)
{
	static const char *const heads[] = {
	    "GET /a/b.html?x=1 HTTP/1.1\r\nHost: example\r\nUser-Agent: t\r\n"
	    "Connection: keep-alive\r\nContent-Length: 0\r\n\r\n",
	    "\r\nHEAD / HTTP/1.0\nConnection: Keep-Alive\n\n",
	};
	struct http_req r;

	(void)state;
	for (size_t h = 0; h < 2; h++) {
		size_t n = strlen(heads[h]);
		for (size_t k = 0; k < n; k++) {
			int rc = parse_exact(heads[h], k, &lim, &r);
			if (rc != 0)
				fail_msg("head %zu cut at %zu: got %d, want 0", h, k, rc);
		}
		assert_int_equal(parse_exact(heads[h], n, &lim, &r), (int)n);
	}
}

static void test_pipelined(void **state)
{
	const char *s = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
			"HEAD /2 HTTP/1.1\r\nHost: a\r\n\r\n"
			"GET /3 HTTP/1.0\r\n\r\n"
			"GET /4 HT";
	const uint8_t *p = (const uint8_t *)s;
	size_t len = strlen(s);
	struct http_req r;
	const char *want[] = {"/1", "/2", "/3"};

	(void)state;
	for (int i = 0; i < 3; i++) {
		int rc = http_parse_request(p, len, &lim, &r);
		assert_true(rc > 0);
		assert_int_equal(r.target_len, 2);
		assert_memory_equal(r.target, want[i], 2);
		p += rc;
		len -= (size_t)rc;
	}
	assert_int_equal(http_parse_request(p, len, &lim, &r), 0);
	assert_int_equal(len, strlen("GET /4 HT"));
}

static char *make_uri_request(size_t target_len, size_t header_pad)
{
	size_t cap = target_len + header_pad + 256;
	char *s = malloc(cap);
	size_t o = (size_t)sprintf(s, "GET /");
	memset(s + o, 'u', target_len - 1);
	o += target_len - 1;
	o += (size_t)sprintf(s + o, " HTTP/1.1\r\nHost: a\r\n");
	if (header_pad > 0) {
		o += (size_t)sprintf(s + o, "X-Pad: ");
		memset(s + o, 'p', header_pad);
		o += header_pad;
		o += (size_t)sprintf(s + o, "\r\n");
	}
	sprintf(s + o, "\r\n");
	return s;
}

static void test_limits(void **state)
{
	struct http_req r;
	char *s;

	(void)state;
	/* Target of exactly max_uri: fine; one more: 414, even before the line ends. */
	s = make_uri_request(HTTP_DEFAULT_MAX_URI, 0);
	assert_true(parse(s, &r) > 0);
	assert_int_equal(r.target_len, HTTP_DEFAULT_MAX_URI);
	free(s);
	s = make_uri_request(HTTP_DEFAULT_MAX_URI + 1, 0);
	assert_int_equal(parse(s, &r), -414);
	assert_int_equal(parse_exact(s, HTTP_DEFAULT_MAX_URI + 8, &lim, &r), -414);
	assert_int_equal(parse_exact(s, HTTP_DEFAULT_MAX_URI, &lim, &r), 0);
	free(s);
	/* Header section: a head of exactly max_head bytes is fine, one more is 431. */
	s = make_uri_request(1, 0);
	size_t base = strlen(s);
	free(s);
	size_t pad = HTTP_DEFAULT_MAX_HEAD - base - strlen("X-Pad: \r\n");
	s = make_uri_request(1, pad);
	assert_int_equal(strlen(s), HTTP_DEFAULT_MAX_HEAD);
	assert_int_equal(parse(s, &r), HTTP_DEFAULT_MAX_HEAD);
	free(s);
	s = make_uri_request(1, pad + 1);
	assert_int_equal(parse(s, &r), -431);
	/* Incomplete but already max_head long: 431 without waiting for more. */
	assert_int_equal(parse_exact(s, HTTP_DEFAULT_MAX_HEAD, &lim, &r), -431);
	assert_int_equal(parse_exact(s, HTTP_DEFAULT_MAX_HEAD - 1, &lim, &r), 0);
	free(s);
	/* Smaller limits. */
	struct http_limits small = {16, 64};
	const char *ok = "GET /0123456789abcde HTTP/1.0\r\n\r\n"; /* 16-byte target */
	assert_true(parse_exact(ok, strlen(ok), &small, &r) > 0);
	const char *long_uri = "GET /0123456789abcdef HTTP/1.0\r\n\r\n";
	assert_int_equal(parse_exact(long_uri, strlen(long_uri), &small, &r), -414);
	const char *big =
	    "GET / HTTP/1.0\r\nA: 012345678901234567890123456789012345678901234567\r\n\r\n";
	assert_int_equal(parse_exact(big, strlen(big), &small, &r), -431);
	/* Endless empty lines are not a request. */
	char junk[HTTP_DEFAULT_MAX_HEAD + 2];
	for (size_t i = 0; i < sizeof(junk); i += 2)
		memcpy(junk + i, "\r\n", 2);
	assert_true(parse_exact(junk, sizeof(junk), &lim, &r) < 0);
}

static void test_keepalive_table(void **state)
{
	static const struct {
		const char *req;
		enum http_conn_mode want;
	} cases[] = {
	    {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_CONN_KEEP_11},
	    {"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", HTTP_CONN_KEEP_11},
	    {"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", HTTP_CONN_CLOSE},
	    {"GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n", HTTP_CONN_CLOSE},
	    {"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n", HTTP_CONN_CLOSE},
	    {"GET / HTTP/1.0\r\n\r\n", HTTP_CONN_CLOSE},
	    {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", HTTP_CONN_KEEP_10},
	    {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", HTTP_CONN_KEEP_10},
	    {"GET / HTTP/1.0\r\nConnection: close\r\n\r\n", HTTP_CONN_CLOSE},
	    {"GET / HTTP/1.0\r\nConnection: close, keep-alive\r\n\r\n", HTTP_CONN_CLOSE},
	    {"GET / HTTP/1.0\r\nConnection: keep-alive-ish\r\n\r\n", HTTP_CONN_CLOSE},
	    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", HTTP_CONN_CLOSE},
	};
	struct http_req r;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_true(parse(cases[i].req, &r) > 0);
		if (http_conn_decide(&r) != cases[i].want)
			fail_msg("case %zu: got %d, want %d", i, http_conn_decide(&r),
				 cases[i].want);
	}
}

static void check_path(const char *in, int want_rc, const char *want)
{
	char out[64];
	int rc = http_path_normalize(in, strlen(in), out, sizeof(out));

	if (rc != want_rc || (rc > 0 && strcmp(out, want) != 0))
		fail_msg("\"%s\": got %d \"%s\", want %d \"%s\"", in, rc, rc > 0 ? out : "",
			 want_rc, want != NULL ? want : "");
	if (rc > 0)
		assert_int_equal(strlen(out), (size_t)rc);
}

static void check_ok(const char *in, const char *want)
{
	check_path(in, (int)strlen(want), want);
}

static void check_err(const char *in, int rc)
{
	check_path(in, rc, NULL);
}

static void test_paths(void **state)
{
	(void)state;
	check_ok("/", "/");
	check_ok("/a", "/a");
	check_ok("/a/", "/a/");
	check_ok("/a/b.html?x=/../..#f", "/a/b.html");
	check_ok("//a///b", "/a/b");
	check_ok("/./a/./b/.", "/a/b/");
	check_ok("/a/b/..", "/a/");
	check_ok("/a/b/../c", "/a/c");
	check_ok("/a/..", "/");
	check_ok("/%7Euser/%41%62", "/~user/Ab");
	check_ok("/a%20b", "/a b");
	check_ok("/a%2fb", "/a/b");
	check_ok("/...", "/...");
	check_ok("/..a/b..", "/..a/b..");
	check_ok("http://host:80/x/y?q", "/x/y");
	check_ok("HTTP://host", "/");
	check_ok("https://host?q", "/");
	check_ok("/?only=query", "/");
	/* Traversal above the root, also when encoded. */
	check_err("/..", -400);
	check_err("/../etc/passwd", -400);
	check_err("/a/../../etc/passwd", -400);
	check_err("/%2e%2e/etc/passwd", -400);
	check_err("/a/%2E%2E/%2e%2E/x", -400);
	check_err("/..%2fetc", -400);
	check_err("/a%2f..%2f..%2fb", -400);
	/* Bad escapes and NUL. */
	check_err("/a%", -400);
	check_err("/a%4", -400);
	check_err("/a%zz", -400);
	check_err("/a%00b", -400);
	/* Not a path. */
	check_err("*", -400);
	check_err("a/b", -400);
	/* Too long for the output buffer. */
	check_err("/0123456789012345678901234567890123456789012345678901234567890123456789", -414);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_simple_get),
	    cmocka_unit_test(test_methods_and_versions),
	    cmocka_unit_test(test_bare_lf_and_leading_empty_lines),
	    cmocka_unit_test(test_header_values),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_every_truncation),
	    cmocka_unit_test(test_pipelined),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_keepalive_table),
	    cmocka_unit_test(test_paths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
