/*
 * http_resp.c - status table, IMF-fixdate, prefix sets, entity headers and
 * content types of dlibos-httpd (see http_resp.h).
 *
 * Dates are formatted by hand (days-from-civil arithmetic) rather than with
 * strftime, whose %a/%b depend on the locale, and without gmtime so that
 * formatting is reentrant and cheap.
 */
#include "http_resp.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

static const struct {
	unsigned code;
	const char *reason;
} statuses[HTTP_S_COUNT] = {
    [HTTP_S_200] = {200, "OK"},
    [HTTP_S_301] = {301, "Moved Permanently"},
    [HTTP_S_400] = {400, "Bad Request"},
    [HTTP_S_404] = {404, "Not Found"},
    [HTTP_S_405] = {405, "Method Not Allowed"},
    [HTTP_S_414] = {414, "URI Too Long"},
    [HTTP_S_431] = {431, "Request Header Fields Too Large"},
    [HTTP_S_505] = {505, "HTTP Version Not Supported"},
};

unsigned http_status_code(enum http_status s)
{
	assert(s < HTTP_S_COUNT);
	return statuses[s].code;
}

const char *http_status_reason(enum http_status s)
{
	assert(s < HTTP_S_COUNT);
	return statuses[s].reason;
}

enum http_status http_status_of_code(unsigned code)
{
	for (unsigned s = 0; s < HTTP_S_COUNT; s++)
		if (statuses[s].code == code)
			return (enum http_status)s;
	return HTTP_S_COUNT;
}

/* Two decimal digits. */
static void put2(char *o, unsigned v)
{
	o[0] = (char)('0' + v / 10 % 10);
	o[1] = (char)('0' + v % 10);
}

void http_date_format(int64_t t, char out[HTTP_DATE_LEN + 1])
{
	static const char wday[7][4] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
	static const char mon[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
	int64_t secs = t - days * 86400;
	/* civil_from_days (H. Hinnant): days since 1970-01-01 -> y/m/d. */
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	unsigned d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	unsigned m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	int64_t y = yoe + era * 400 + (m <= 2);
	unsigned wd = (unsigned)(((days % 7) + 7) % 7);

	if (y < 0)
		y = 0;
	if (y > 9999)
		y = 9999;
	memcpy(out, wday[wd], 3);
	memcpy(out + 3, ", ", 2);
	put2(out + 5, d);
	out[7] = ' ';
	memcpy(out + 8, mon[m - 1], 3);
	out[11] = ' ';
	put2(out + 12, (unsigned)(y / 100));
	put2(out + 14, (unsigned)(y % 100));
	out[16] = ' ';
	put2(out + 17, (unsigned)(secs / 3600));
	out[19] = ':';
	put2(out + 20, (unsigned)(secs / 60 % 60));
	out[22] = ':';
	put2(out + 23, (unsigned)(secs % 60));
	memcpy(out + 25, " GMT", 4);
	out[HTTP_DATE_LEN] = '\0';
}

size_t http_prefix_build(uint8_t *set, size_t cap, struct http_prefix_layout *l, const char *server,
			 unsigned keepalive_s, const char *date)
{
	char conn[HTTP_CONN_NMODES][96];
	char line[512];
	size_t off = 0;

	assert(strlen(date) == HTTP_DATE_LEN);
	snprintf(conn[HTTP_CONN_CLOSE], sizeof(conn[0]), "Connection: close\r\n");
	conn[HTTP_CONN_KEEP_11][0] = '\0';
	snprintf(conn[HTTP_CONN_KEEP_10], sizeof(conn[0]),
		 "Connection: keep-alive\r\nKeep-Alive: timeout=%u\r\n", keepalive_s);
	for (unsigned s = 0; s < HTTP_S_COUNT; s++) {
		for (unsigned m = 0; m < HTTP_CONN_NMODES; m++) {
			int head =
			    snprintf(line, sizeof(line),
				     "HTTP/1.1 %u %s\r\nServer: %s\r\nDate: ", statuses[s].code,
				     statuses[s].reason, server);
			int n = snprintf(line + head, sizeof(line) - (size_t)head, "%s\r\n%s", date,
					 conn[m]);
			if (head < 0 || n < 0 || (size_t)(head + n) >= sizeof(line))
				return 0;
			size_t len = (size_t)(head + n);
			l->off[s][m] = (uint32_t)off;
			l->len[s][m] = (uint16_t)len;
			l->date_off[s][m] = (uint16_t)head;
			if (set != NULL) {
				if (off + len > cap)
					return 0;
				memcpy(set + off, line, len);
			}
			off += len;
		}
	}
	l->size = (uint32_t)off;
	return off;
}

void http_prefix_set_date(uint8_t *set, const struct http_prefix_layout *l, const char *date)
{
	for (unsigned s = 0; s < HTTP_S_COUNT; s++)
		for (unsigned m = 0; m < HTTP_CONN_NMODES; m++)
			memcpy(set + l->off[s][m] + l->date_off[s][m], date, HTTP_DATE_LEN);
}

static const struct {
	const char *ext;
	const char *type;
} types[] = {
    {"html", "text/html"},
    {"htm", "text/html"},
    {"css", "text/css"},
    {"js", "application/javascript"},
    {"mjs", "application/javascript"},
    {"json", "application/json"},
    {"txt", "text/plain"},
    {"xml", "text/xml"},
    {"csv", "text/csv"},
    {"md", "text/markdown"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"svg", "image/svg+xml"},
    {"ico", "image/x-icon"},
    {"webp", "image/webp"},
    {"avif", "image/avif"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},
    {"pdf", "application/pdf"},
    {"wasm", "application/wasm"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
    {"tar", "application/x-tar"},
    {"mp4", "video/mp4"},
    {"webm", "video/webm"},
    {"mp3", "audio/mpeg"},
    {"ogg", "audio/ogg"},
    {"wav", "audio/wav"},
};

const char *http_content_type(const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *dot = strrchr(path, '.');

	if (dot == NULL || (slash != NULL && dot < slash) || dot[1] == '\0')
		return "application/octet-stream";
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (http_token_eq(dot + 1, strlen(dot + 1), types[i].ext))
			return types[i].type;
	return "application/octet-stream";
}

int http_entity_head(char *out, size_t cap, const char *ctype, uint64_t body_len, const char *extra)
{
	int n = snprintf(out, cap, "Content-Type: %s\r\nContent-Length: %llu\r\n%s\r\n", ctype,
			 (unsigned long long)body_len, extra != NULL ? extra : "");

	return n < 0 || (size_t)n >= cap ? -1 : n;
}

int http_error_body(char *out, size_t cap, enum http_status s)
{
	int n =
	    snprintf(out, cap,
		     "<html><head><title>%u %s</title></head>"
		     "<body><h1>%u %s</h1></body></html>\n",
		     statuses[s].code, statuses[s].reason, statuses[s].code, statuses[s].reason);

	return n < 0 || (size_t)n >= cap ? -1 : n;
}
