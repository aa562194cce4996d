/*
 * test_http_resp.c - unit tests of the dlibos-httpd response building
 * blocks: IMF-fixdate against known instants and gmtime, the prefix sets
 * (every prefix is a well-formed status line + headers, the date patch
 * touches only the date), entity headers, error bodies, content types.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "http_resp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void check_date(int64_t t, const char *want)
{
	char out[HTTP_DATE_LEN + 1];

	http_date_format(t, out);
	if (strcmp(out, want) != 0)
		fail_msg("%lld: got \"%s\", want \"%s\"", (long long)t, out, want);
}

static void test_date_known(void **state)
{
	(void)state;
	check_date(0, "Thu, 01 Jan 1970 00:00:00 GMT");
	check_date(784111777, "Sun, 06 Nov 1994 08:49:37 GMT"); /* RFC 9110's example */
	check_date(951782400, "Tue, 29 Feb 2000 00:00:00 GMT");
	check_date(1709251199, "Thu, 29 Feb 2024 23:59:59 GMT");
	check_date(4102444800, "Fri, 01 Jan 2100 00:00:00 GMT");
}

/* Against the C library for a spread of instants. */
static void test_date_vs_gmtime(void **state)
{
	static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const mo[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	char out[HTTP_DATE_LEN + 1], want[64];

	(void)state;
	for (int64_t t = 0; t < 4200000000; t += 86400 * 37 + 3671) {
		time_t tt = (time_t)t;
		struct tm tm;
		gmtime_r(&tt, &tm);
		snprintf(want, sizeof(want), "%s, %02d %s %04d %02d:%02d:%02d GMT", wd[tm.tm_wday],
			 tm.tm_mday, mo[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
			 tm.tm_sec);
		http_date_format(t, out);
		if (strcmp(out, want) != 0)
			fail_msg("%lld: got \"%s\", want \"%s\"", (long long)t, out, want);
	}
}

static void test_status_table(void **state)
{
	(void)state;
	for (unsigned s = 0; s < HTTP_S_COUNT; s++) {
		assert_int_equal(http_status_of_code(http_status_code((enum http_status)s)), s);
		assert_non_null(http_status_reason((enum http_status)s));
	}
	assert_int_equal(http_status_of_code(404), HTTP_S_404);
	assert_int_equal(http_status_of_code(431), HTTP_S_431);
	assert_int_equal(http_status_of_code(418), HTTP_S_COUNT);
}

static void test_prefix_set(void **state)
{
	struct http_prefix_layout l, l2;
	const char *d1 = "Sun, 06 Nov 1994 08:49:37 GMT";
	const char *d2 = "Mon, 07 Nov 1994 00:00:00 GMT";
	size_t size = http_prefix_build(NULL, 0, &l, "dlibos-httpd", 7, d1);

	(void)state;
	assert_true(size > 0);
	uint8_t *set = malloc(size), *copy = malloc(size);
	assert_int_equal(http_prefix_build(set, size, &l2, "dlibos-httpd", 7, d1), size);
	assert_memory_equal(&l, &l2, sizeof(l));
	assert_int_equal(http_prefix_build(set, size - 1, &l2, "dlibos-httpd", 7, d1), 0);
	http_prefix_build(set, size, &l2, "dlibos-httpd", 7, d1);
	for (unsigned s = 0; s < HTTP_S_COUNT; s++) {
		for (unsigned m = 0; m < HTTP_CONN_NMODES; m++) {
			char want[256];
			const char *conn = m == HTTP_CONN_CLOSE	    ? "Connection: close\r\n"
					   : m == HTTP_CONN_KEEP_10 ? "Connection: keep-alive\r\n"
								      "Keep-Alive: timeout=7\r\n"
								    : "";
			int n = snprintf(want, sizeof(want),
					 "HTTP/1.1 %u %s\r\nServer: dlibos-httpd\r\nDate: %s\r\n%s",
					 http_status_code((enum http_status)s),
					 http_status_reason((enum http_status)s), d1, conn);
			assert_int_equal(l.len[s][m], n);
			assert_memory_equal(set + l.off[s][m], want, (size_t)n);
			assert_memory_equal(set + l.off[s][m] + l.date_off[s][m], d1,
					    HTTP_DATE_LEN);
		}
	}
	/* The date patch changes exactly the date bytes. */
	memcpy(copy, set, size);
	http_prefix_set_date(set, &l, d2);
	size_t changed = 0;
	for (size_t i = 0; i < size; i++)
		changed += set[i] != copy[i];
	assert_true(changed > 0);
	for (unsigned s = 0; s < HTTP_S_COUNT; s++)
		for (unsigned m = 0; m < HTTP_CONN_NMODES; m++)
			assert_memory_equal(set + l.off[s][m] + l.date_off[s][m], d2,
					    HTTP_DATE_LEN);
	http_prefix_set_date(set, &l, d1);
	assert_memory_equal(set, copy, size);
	free(set);
	free(copy);
}

static void test_entity_head(void **state)
{
	char out[256];
	const char *want = "Content-Type: text/html\r\nContent-Length: 1234\r\n"
			   "Allow: GET, HEAD\r\n\r\n";

	(void)state;
	assert_int_equal(
	    http_entity_head(out, sizeof(out), "text/html", 1234, "Allow: GET, HEAD\r\n"),
	    (int)strlen(want));
	assert_string_equal(out, want);
	assert_int_equal(http_entity_head(out, sizeof(out), "a/b", 0, NULL),
			 (int)strlen("Content-Type: a/b\r\nContent-Length: 0\r\n\r\n"));
	assert_int_equal(http_entity_head(out, 10, "text/html", 1, NULL), -1);
	assert_true(http_error_body(out, sizeof(out), HTTP_S_404) > 0);
	assert_non_null(strstr(out, "404 Not Found"));
	assert_int_equal(http_error_body(out, 8, HTTP_S_404), -1);
}

static void test_content_types(void **state)
{
	(void)state;
	assert_string_equal(http_content_type("/index.html"), "text/html");
	assert_string_equal(http_content_type("/a/B.HTM"), "text/html");
	assert_string_equal(http_content_type("/x.css"), "text/css");
	assert_string_equal(http_content_type("/x.js"), "application/javascript");
	assert_string_equal(http_content_type("/x.png"), "image/png");
	assert_string_equal(http_content_type("/x.tar.gz"), "application/gzip");
	assert_string_equal(http_content_type("/x.bin"), "application/octet-stream");
	assert_string_equal(http_content_type("/noext"), "application/octet-stream");
	assert_string_equal(http_content_type("/dir.d/noext"), "application/octet-stream");
	assert_string_equal(http_content_type("/trailing."), "application/octet-stream");
	assert_string_equal(http_content_type("/.txt"), "text/plain");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_date_known),	 cmocka_unit_test(test_date_vs_gmtime),
	    cmocka_unit_test(test_status_table), cmocka_unit_test(test_prefix_set),
	    cmocka_unit_test(test_entity_head),	 cmocka_unit_test(test_content_types),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
