/*
 * test_httpd_files.c - unit tests of the dlibos-httpd document root
 * loader: a temporary tree with files, an index, a nested directory, an
 * empty file, symbolic links inside and outside the root; the entities must
 * hold exactly the file bytes behind a correct header, lookups must find
 * files, indexes and directory redirects, and nothing outside the root.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "httpd_files.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[PATH_MAX], outside[PATH_MAX];

static void write_file(const char *dir, const char *rel, const void *data, size_t len)
{
	char p[PATH_MAX * 2];
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	FILE *f = fopen(p, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static void path_in(char *out, size_t n, const char *dir, const char *rel)
{
	snprintf(out, n, "%s/%s", dir, rel);
}

static int setup(void **state)
{
	char p[PATH_MAX * 2], q[PATH_MAX * 2];
	static uint8_t big[100 * 1024];

	(void)state;
	strcpy(root, "/tmp/httpd-files-XXXXXX");
	strcpy(outside, "/tmp/httpd-outside-XXXXXX");
	if (mkdtemp(root) == NULL || mkdtemp(outside) == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + i / 251);
	write_file(root, "index.html", "<h1>hi</h1>\n", 12);
	write_file(root, "big.bin", big, sizeof(big));
	write_file(root, "empty.txt", "", 0);
	write_file(root, "a b.css", "x{}", 3);
	path_in(p, sizeof(p), root, "sub");
	mkdir(p, 0755);
	write_file(root, "sub/index.html", "sub", 3);
	write_file(root, "sub/page.json", "{}", 2);
	path_in(p, sizeof(p), root, "noindex");
	mkdir(p, 0755);
	write_file(root, "noindex/x.txt", "x", 1);
	write_file(outside, "secret.txt", "secret", 6);
	/* Links: to a file inside (served), to one outside and to a directory (skipped). */
	path_in(p, sizeof(p), root, "link-in.html");
	if (symlink("index.html", p) != 0)
		return -1;
	path_in(p, sizeof(p), root, "link-out.txt");
	path_in(q, sizeof(q), outside, "secret.txt");
	if (symlink(q, p) != 0)
		return -1;
	path_in(p, sizeof(p), root, "link-dir");
	if (symlink(outside, p) != 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX * 3];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", root, outside);
	return system(cmd) == 0 ? 0 : -1;
}

static void *alloc64(size_t n)
{
	return aligned_alloc(64, (n + 63) & ~(size_t)63);
}

static void check_entity(const struct httpd_entity *e, const char *ctype, const void *body,
			 size_t blen)
{
	char want[256];

	assert_non_null(e);
	assert_int_equal(e->status, HTTP_S_200);
	snprintf(want, sizeof(want),
		 "Content-Type: %s\r\nContent-Length: %zu\r\nLast-Modified: ", ctype, blen);
	assert_memory_equal(e->data, want, strlen(want));
	assert_int_equal(e->len, e->head_len + blen);
	assert_memory_equal(e->data + e->head_len - 2, "\r\n", 2);
	if (blen > 0)
		assert_memory_equal(e->data + e->head_len, body, blen);
	assert_true(((uintptr_t)e->data & 63) == 0);
}

static void test_scan_and_load(void **state)
{
	struct httpd_scan scan;
	struct httpd_files f;
	char err[256];
	static uint8_t big[100 * 1024];

	(void)state;
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + i / 251);
	assert_int_equal(httpd_files_scan(root, &scan, err, sizeof(err)), 0);
	/* index.html big.bin empty.txt "a b.css" sub/index.html sub/page.json
	 * noindex/x.txt link-in.html */
	assert_int_equal(scan.files, 8);
	assert_int_equal(scan.dirs, 2);
	assert_int_equal(scan.skipped, 2); /* link-out.txt, link-dir */
	assert_int_equal(scan.file_bytes, 12 + sizeof(big) + 0 + 3 + 3 + 2 + 1 + 12);
	assert_int_equal(httpd_files_load(&f, root, &scan, alloc64, free, err, sizeof(err)), 0);
	assert_true(f.arena_used <= f.arena_size);

	check_entity(httpd_files_lookup(&f, "/index.html", 11), "text/html", "<h1>hi</h1>\n", 12);
	check_entity(httpd_files_lookup(&f, "/", 1), "text/html", "<h1>hi</h1>\n", 12);
	check_entity(httpd_files_lookup(&f, "/big.bin", 8), "application/octet-stream", big,
		     sizeof(big));
	check_entity(httpd_files_lookup(&f, "/empty.txt", 10), "text/plain", "", 0);
	check_entity(httpd_files_lookup(&f, "/a b.css", 8), "text/css", "x{}", 3);
	check_entity(httpd_files_lookup(&f, "/sub/", 5), "text/html", "sub", 3);
	check_entity(httpd_files_lookup(&f, "/sub/page.json", 14), "application/json", "{}", 2);
	check_entity(httpd_files_lookup(&f, "/link-in.html", 13), "text/html", "<h1>hi</h1>\n", 12);
	/* A directory with an index, named without '/': redirect. */
	const struct httpd_entity *r = httpd_files_lookup(&f, "/sub", 4);
	assert_non_null(r);
	assert_int_equal(r->status, HTTP_S_301);
	assert_non_null(memmem(r->data, r->head_len, "Location: /sub/\r\n", 17));
	/* Not served. */
	assert_null(httpd_files_lookup(&f, "/noindex/", 9));
	assert_null(httpd_files_lookup(&f, "/noindex", 8));
	assert_null(httpd_files_lookup(&f, "/link-out.txt", 13));
	assert_null(httpd_files_lookup(&f, "/link-dir/secret.txt", 20));
	assert_null(httpd_files_lookup(&f, "/missing", 8));
	assert_null(httpd_files_lookup(&f, "/index.htm", 10));
	/* Error pages. */
	static const enum http_status errs[] = {HTTP_S_400, HTTP_S_404, HTTP_S_405,
						HTTP_S_414, HTTP_S_431, HTTP_S_505};
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		const struct httpd_entity *e = httpd_files_error(&f, errs[i]);
		char code[8];
		assert_non_null(e);
		assert_int_equal(e->status, errs[i]);
		snprintf(code, sizeof(code), "%u", http_status_code(errs[i]));
		assert_non_null(memmem(e->data + e->head_len, e->len - e->head_len, code, 3));
	}
	const struct httpd_entity *e405 = httpd_files_error(&f, HTTP_S_405);
	assert_non_null(memmem(e405->data, e405->head_len, "Allow: GET, HEAD\r\n", 18));
	assert_null(httpd_files_error(&f, HTTP_S_200));
	httpd_files_free(&f);
}

static void test_root_errors(void **state)
{
	struct httpd_scan scan;
	char err[256], p[PATH_MAX * 2];

	(void)state;
	assert_int_equal(httpd_files_scan("/nonexistent/dlibos-httpd", &scan, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "nonexistent"));
	path_in(p, sizeof(p), root, "index.html");
	assert_int_equal(httpd_files_scan(p, &scan, err, sizeof(err)), -1);
}

/* A root that grew after the scan fails to load instead of overflowing. */
static void test_root_changed(void **state)
{
	struct httpd_scan scan;
	struct httpd_files f;
	char err[256], p[PATH_MAX * 2];
	static uint8_t more[200 * 1024];

	(void)state;
	assert_int_equal(httpd_files_scan(root, &scan, err, sizeof(err)), 0);
	write_file(root, "late.bin", more, sizeof(more));
	assert_int_equal(httpd_files_load(&f, root, &scan, alloc64, free, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "changed"));
	path_in(p, sizeof(p), root, "late.bin");
	unlink(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_scan_and_load),
	    cmocka_unit_test(test_root_errors),
	    cmocka_unit_test(test_root_changed),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
