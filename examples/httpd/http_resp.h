/*
 * http_resp.h - building blocks of dlibos-httpd responses, pure functions
 * with no dependency on the runtime.
 *
 * A response is sent as two fragments, both prepared in advance:
 *
 *   prefix: "HTTP/1.1 200 OK\r\nServer: ..\r\nDate: ..\r\n[Connection..]"
 *           one per (status, connection mode), all of them packed into a
 *           small "prefix set" whose Date is rewritten once per second;
 *   entity: "Content-Type: ..\r\nContent-Length: ..\r\n[..]\r\n" + body,
 *           prepared once per file (or per error page) at start-up; a HEAD
 *           response sends only its header part.
 *
 * The Date value has a fixed length (IMF-fixdate, 29 bytes), so a prefix
 * set keeps its layout forever and a new second only patches the date
 * bytes in place (http_prefix_set_date).
 */
#ifndef HTTP_RESP_H
#define HTTP_RESP_H

#include "http_parse.h"

#include <stddef.h>
#include <stdint.h>

/** The statuses the server sends (an index, not the code). */
enum http_status {
	HTTP_S_200 = 0,
	HTTP_S_301,
	HTTP_S_400,
	HTTP_S_404,
	HTTP_S_405,
	HTTP_S_414,
	HTTP_S_431,
	HTTP_S_505,
	HTTP_S_COUNT,
};

/** The numeric code, e.g. 404. */
unsigned http_status_code(enum http_status s);

/** The reason phrase, e.g. "Not Found". */
const char *http_status_reason(enum http_status s);

/** The index of a code, or HTTP_S_COUNT when the server never sends it. */
enum http_status http_status_of_code(unsigned code);

/** Length of an IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT". */
#define HTTP_DATE_LEN 29

/** Format `t` (seconds since the epoch, UTC) as IMF-fixdate + NUL. */
void http_date_format(int64_t t, char out[HTTP_DATE_LEN + 1]);

/** Where each prefix lies in a prefix set. */
struct http_prefix_layout {
	uint32_t off[HTTP_S_COUNT][HTTP_CONN_NMODES];
	uint16_t len[HTTP_S_COUNT][HTTP_CONN_NMODES];
	uint16_t date_off[HTTP_S_COUNT][HTTP_CONN_NMODES]; /**< of the date inside a prefix */
	uint32_t size;					   /**< bytes of one set */
};

/**
 * Write every prefix into set (cap bytes; set may be NULL to only compute
 * the layout) and fill *l. `server` is the Server header value,
 * `keepalive_s` the timeout announced to HTTP/1.0 keep-alive clients.
 * @return the set size, or 0 when cap is too small.
 */
size_t http_prefix_build(uint8_t *set, size_t cap, struct http_prefix_layout *l, const char *server,
			 unsigned keepalive_s, const char *date);

/** Rewrite the date of every prefix of a set built with layout l. */
void http_prefix_set_date(uint8_t *set, const struct http_prefix_layout *l, const char *date);

/** Content-Type for a path, by its extension (application/octet-stream by default). */
const char *http_content_type(const char *path);

/**
 * Write an entity header: Content-Type, Content-Length, `extra` (complete
 * header lines, may be NULL) and the empty line.
 * @return its length, or -1 when cap is too small.
 */
int http_entity_head(char *out, size_t cap, const char *ctype, uint64_t body_len,
		     const char *extra);

/** Write the small HTML body of an error page. @return its length, or -1. */
int http_error_body(char *out, size_t cap, enum http_status s);

#endif
