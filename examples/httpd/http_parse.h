/*
 * http_parse.h - HTTP/1.x request parsing for dlibos-httpd, pure functions
 * with no dependency on the runtime (unit-tested on their own).
 *
 * http_parse_request() parses one request head (request line + header
 * fields + empty line) from a byte array that may hold less than a request
 * (returns 0: need more) or more (pipelined requests: the return value says
 * where the next one starts). It never writes to the input, so it runs in
 * place on zero-copy RX buffers. It stops at the first byte that cannot
 * begin a valid request and reports the status to answer with:
 *
 *     400  malformed (bad token, bare CR, obs-fold, missing Host in 1.1,
 *          bad or conflicting Content-Length, ...)
 *     414  the request target is longer than limits.max_uri
 *     431  the head does not end within limits.max_head bytes
 *     505  HTTP major version other than 1
 *
 * The caller keeps at most max_head bytes of a split request: a head that
 * does not fit is an error, so per-connection memory is bounded.
 *
 * http_path_normalize() turns a request target into a clean absolute path
 * (percent-decoded, no "." / ".." / empty segments, never above "/").
 */
#ifndef HTTP_PARSE_H
#define HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Methods the server tells apart; every other one gets 405. */
enum http_method {
	HTTP_M_GET = 0,
	HTTP_M_HEAD = 1,
	HTTP_M_OTHER = 2,
};

/** Size limits of a request head. */
struct http_limits {
	uint32_t max_uri;  /**< longest request target (414 beyond) */
	uint32_t max_head; /**< longest head incl. the empty line (431 beyond) */
};

/** Default limits: 2 KiB targets, 8 KiB heads. */
#define HTTP_DEFAULT_MAX_URI  2048
#define HTTP_DEFAULT_MAX_HEAD 8192

/** Longest method name accepted (a longer one is a 400). */
#define HTTP_MAX_METHOD 32

/** A parsed request head; pointers refer into the parsed buffer. */
struct http_req {
	enum http_method method;
	uint8_t minor;	    /**< 0 for HTTP/1.0, 1 for HTTP/1.1 and above */
	const char *target; /**< request target, not NUL-terminated */
	uint32_t target_len;
	bool conn_close;      /**< "close" in a Connection header */
	bool conn_keep_alive; /**< "keep-alive" in a Connection header */
	bool has_host;
	bool has_transfer_encoding;
	bool has_content_length;
	uint64_t content_length; /**< valid when has_content_length */
	uint32_t head_len;	 /**< bytes of the head, incl. leading empty lines */
};

/**
 * Parse one request head from p[0, len).
 * @return head length (> 0) when a complete, valid head was found (*req
 *         filled); 0 when the bytes are a valid prefix of a head that fits
 *         the limits (need more); -status (-400, -414, -431, -505) when the
 *         request is invalid (the connection must be closed after answering).
 */
int http_parse_request(const uint8_t *p, size_t len, const struct http_limits *lim,
		       struct http_req *req);

/** How the response's Connection headers are written. */
enum http_conn_mode {
	HTTP_CONN_CLOSE = 0,   /**< "Connection: close", then close */
	HTTP_CONN_KEEP_11 = 1, /**< HTTP/1.1 persistent: nothing to add */
	HTTP_CONN_KEEP_10 = 2, /**< HTTP/1.0 keep-alive: "Connection: keep-alive" + "Keep-Alive:" */
	HTTP_CONN_NMODES = 3,
};

/**
 * Keep-alive decision (RFC 9112 9.3): HTTP/1.1 persists unless "close";
 * HTTP/1.0 persists only with "keep-alive" and no "close". A request with
 * a body the server will not frame (Transfer-Encoding) closes too.
 */
enum http_conn_mode http_conn_decide(const struct http_req *req);

/**
 * Normalise a request target (origin-form "/a/b?q" or absolute-form
 * "http://host/a/b") into out: query and fragment dropped, %XX decoded,
 * empty and "." segments removed, ".." resolved. A trailing '/' is kept
 * (it means "the directory's index").
 * @return length written (out is NUL-terminated), or -400 for a target that
 *         is not a path, a bad or NUL escape, or ".." above the root; -414
 *         when out (outsz bytes) is too small.
 */
int http_path_normalize(const char *target, size_t len, char *out, size_t outsz);

/** Case-insensitive comparison of n bytes of a with the lower-case b. */
bool http_token_eq(const char *a, size_t n, const char *lower);

#endif
