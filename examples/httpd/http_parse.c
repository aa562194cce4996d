/*
 * http_parse.c - HTTP/1.x request head parser and path normaliser for
 * dlibos-httpd (see http_parse.h).
 *
 * The parser is a single forward scan over at most limits.max_head bytes,
 * following the grammar of RFC 9112: leading empty lines are skipped
 * (section 2.2), then request-line = method SP request-target SP
 * HTTP-version, then field lines until an empty line. Lines end with CRLF
 * or a bare LF (allowed by 2.2); a CR not followed by LF is an error. It
 * keeps no state between calls: a split request is simply parsed again
 * from its start when more bytes arrived (heads are small and bounded).
 * Running out of bytes in the middle of an element means "need more"
 * unless max_head bytes were already seen, in which case the element being
 * parsed decides the error: the target (414) or the fields (431).
 */
#include "http_parse.h"

#include <assert.h>
#include <string.h>

/* RFC 9110 5.6.2: tchar. */
static bool is_tchar(uint8_t c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

bool http_token_eq(const char *a, size_t n, const char *lower_b)
{
	if (strlen(lower_b) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower(a[i]) != lower_b[i])
			return false;
	return true;
}

/*
 * A line ending at p[*i]: CRLF or LF. @return 1 (consumed), 0 (need more),
 * -400 (CR without LF, or not a line end).
 */
static int eat_eol(const uint8_t *p, size_t n, size_t *i)
{
	if (*i >= n)
		return 0;
	if (p[*i] == '\n') {
		(*i)++;
		return 1;
	}
	if (p[*i] != '\r')
		return -400;
	if (*i + 1 >= n)
		return 0;
	if (p[*i + 1] != '\n')
		return -400;
	*i += 2;
	return 1;
}

/* Connection: a comma-separated list of tokens, case-insensitive. */
static void parse_connection(struct http_req *req, const char *v, size_t n)
{
	size_t i = 0;

	while (i < n) {
		while (i < n && (v[i] == ',' || v[i] == ' ' || v[i] == '\t'))
			i++;
		size_t s = i;
		while (i < n && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
			i++;
		if (http_token_eq(v + s, i - s, "close"))
			req->conn_close = true;
		else if (http_token_eq(v + s, i - s, "keep-alive"))
			req->conn_keep_alive = true;
	}
}

/* Content-Length = 1*DIGIT; repeated fields must agree. */
static int parse_content_length(struct http_req *req, const char *v, size_t n)
{
	uint64_t x = 0;

	if (n == 0 || n > 18)
		return -400;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit((uint8_t)v[i]))
			return -400;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	if (req->has_content_length && req->content_length != x)
		return -400;
	req->has_content_length = true;
	req->content_length = x;
	return 0;
}

static int on_field(struct http_req *req, const char *name, size_t nl, const char *v, size_t vl)
{
	switch (lower(name[0])) {
	case 'h':
		if (http_token_eq(name, nl, "host")) {
			if (req->has_host)
				return -400; /* RFC 9112 3.2: exactly one Host */
			req->has_host = true;
		}
		break;
	case 'c':
		if (http_token_eq(name, nl, "connection"))
			parse_connection(req, v, vl);
		else if (http_token_eq(name, nl, "content-length"))
			return parse_content_length(req, v, vl);
		break;
	case 't':
		if (http_token_eq(name, nl, "transfer-encoding"))
			req->has_transfer_encoding = true;
		break;
	}
	return 0;
}

static enum http_method classify_method(const uint8_t *m, size_t n)
{
	/* Method names are case-sensitive (RFC 9110 9.1). */
	if (n == 3 && memcmp(m, "GET", 3) == 0)
		return HTTP_M_GET;
	if (n == 4 && memcmp(m, "HEAD", 4) == 0)
		return HTTP_M_HEAD;
	return HTTP_M_OTHER;
}

/* The request line, from the method to its line end. */
static int parse_request_line(const uint8_t *p, size_t n, size_t *ip, const struct http_limits *lim,
			      struct http_req *req, int *phase_err)
{
	size_t i = *ip, m0 = i, t0;
	int rc;

	while (i < n && is_tchar(p[i]))
		if (++i - m0 > HTTP_MAX_METHOD)
			return -400;
	if (i >= n)
		return 0;
	if (p[i] != ' ' || i == m0)
		return -400;
	req->method = classify_method(p + m0, i - m0);
	t0 = ++i;
	*phase_err = -414;
	while (i < n && p[i] != ' ') {
		if (p[i] < 0x21 || p[i] == 0x7f)
			return -400; /* control byte, or a line end (HTTP/0.9) */
		if (++i - t0 > lim->max_uri)
			return -414;
	}
	if (i >= n)
		return 0;
	if (i == t0)
		return -400;
	req->target = (const char *)p + t0;
	req->target_len = (uint32_t)(i - t0);
	i++;
	*phase_err = -400;
	static const char name[] = "HTTP/";
	for (unsigned k = 0; k < 5; k++, i++) {
		if (i >= n)
			return 0;
		if (p[i] != (uint8_t)name[k])
			return -400;
	}
	if (i + 3 > n)
		return 0; /* cannot judge DIGIT "." DIGIT yet */
	if (!is_digit(p[i]) || p[i + 1] != '.' || !is_digit(p[i + 2]))
		return -400;
	unsigned major = p[i] - '0', minor = p[i + 2] - '0';
	i += 3;
	rc = eat_eol(p, n, &i);
	if (rc <= 0)
		return rc;
	if (major != 1)
		return -505;
	req->minor = minor >= 1 ? 1 : 0;
	*ip = i;
	return 1;
}

/* One field line at p[*ip] (not the empty line). */
static int parse_field(const uint8_t *p, size_t n, size_t *ip, struct http_req *req)
{
	size_t i = *ip, h0 = i, v0, vend;
	int rc;

	if (p[i] == ' ' || p[i] == '\t')
		return -400; /* obs-fold (RFC 9112 5.2) or whitespace before a name */
	while (i < n && is_tchar(p[i]))
		i++;
	if (i >= n)
		return 0;
	if (p[i] != ':' || i == h0)
		return -400; /* no whitespace between name and colon (5.1) */
	size_t nl = i - h0;
	i++;
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	v0 = vend = i;
	while (i < n && p[i] != '\r' && p[i] != '\n') {
		uint8_t c = p[i++];
		if (c == ' ' || c == '\t')
			continue;
		if (c < 0x21 || c == 0x7f)
			return -400;
		vend = i;
	}
	rc = eat_eol(p, n, &i);
	if (rc <= 0)
		return rc;
	rc = on_field(req, (const char *)p + h0, nl, (const char *)p + v0, vend - v0);
	if (rc < 0)
		return rc;
	*ip = i;
	return 1;
}

int http_parse_request(const uint8_t *p, size_t len, const struct http_limits *lim,
		       struct http_req *req)
{
	size_t n = len < lim->max_head ? len : lim->max_head;
	size_t i = 0;
	int phase_err = -400, rc;

	assert(lim->max_uri < lim->max_head);
	memset(req, 0, sizeof(*req));
	/* Leading empty lines (RFC 9112 2.2). */
	while (i < n && (p[i] == '\r' || p[i] == '\n')) {
		rc = eat_eol(p, n, &i);
		if (rc < 0)
			return rc;
		if (rc == 0)
			goto more;
	}
	if (i >= n)
		goto more;
	rc = parse_request_line(p, n, &i, lim, req, &phase_err);
	if (rc < 0)
		return rc;
	if (rc == 0)
		goto more;
	phase_err = -431;
	for (;;) {
		if (i >= n)
			goto more;
		if (p[i] == '\r' || p[i] == '\n') {
			rc = eat_eol(p, n, &i);
			if (rc < 0)
				return rc;
			if (rc == 0)
				goto more;
			break;
		}
		rc = parse_field(p, n, &i, req);
		if (rc < 0)
			return rc;
		if (rc == 0)
			goto more;
	}
	if (req->minor >= 1 && !req->has_host)
		return -400; /* RFC 9112 3.2 */
	if (req->has_transfer_encoding && req->has_content_length)
		return -400; /* RFC 9112 6.1: request smuggling pattern */
	req->head_len = (uint32_t)i;
	return (int)i;
more:
	/* A head must end within max_head bytes. */
	return n >= lim->max_head ? phase_err : 0;
}

enum http_conn_mode http_conn_decide(const struct http_req *req)
{
	if (req->conn_close || req->has_transfer_encoding)
		return HTTP_CONN_CLOSE;
	if (req->minor >= 1)
		return HTTP_CONN_KEEP_11;
	return req->conn_keep_alive ? HTTP_CONN_KEEP_10 : HTTP_CONN_CLOSE;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decode t[0, len) (which starts with '/') into out. @return length or -status. */
static int percent_decode(const char *t, size_t len, char *out, size_t outsz)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char c = t[i];
		if (c == '%') {
			if (i + 2 >= len)
				return -400;
			int hi = hexval(t[i + 1]), lo = hexval(t[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -400;
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if (o + 1 >= outsz)
			return -414;
		out[o++] = c;
	}
	return (int)o;
}

int http_path_normalize(const char *t, size_t len, char *out, size_t outsz)
{
	size_t i = 0, end, w = 0, r = 0;
	bool dir = false;
	int dl;

	if (outsz < 2)
		return -414;
	if (len >= 7 && http_token_eq(t, 7, "http://"))
		i = 7;
	else if (len >= 8 && http_token_eq(t, 8, "https://"))
		i = 8;
	if (i > 0) {
		/* absolute-form: skip the authority */
		while (i < len && t[i] != '/' && t[i] != '?' && t[i] != '#')
			i++;
		if (i == len || t[i] != '/') {
			out[0] = '/';
			out[1] = '\0';
			return 1;
		}
	} else if (len == 0 || t[0] != '/') {
		return -400;
	}
	end = i;
	while (end < len && t[end] != '?' && t[end] != '#')
		end++;
	dl = percent_decode(t + i, end - i, out, outsz);
	if (dl < 0)
		return dl;
	/* In place: the write index never passes the read index. */
	while (r < (size_t)dl) {
		while (r < (size_t)dl && out[r] == '/')
			r++;
		size_t s = r;
		while (r < (size_t)dl && out[r] != '/')
			r++;
		size_t sl = r - s;
		dir = true;
		if (sl == 0)
			break;
		if (sl == 1 && out[s] == '.')
			continue;
		if (sl == 2 && out[s] == '.' && out[s + 1] == '.') {
			if (w == 0)
				return -400; /* above the root */
			do
				w--;
			while (w > 0 && out[w] != '/');
			continue;
		}
		assert(w < s);
		out[w] = '/';
		memmove(out + w + 1, out + s, sl);
		w += 1 + sl;
		dir = r < (size_t)dl; /* a '/' follows */
	}
	if (w == 0 || dir) {
		if (w + 2 > outsz)
			return -414;
		out[w++] = '/';
	}
	out[w] = '\0';
	return (int)w;
}
