/*
 * httpd_files.c - preloading the document root (see httpd_files.h).
 *
 * One recursive walk (openat/fdopendir, so names are resolved relative to
 * an open directory and never re-parsed) drives both passes through a
 * visitor: the scan adds up sizes, the load copies files into one arena
 * and indexes them by path in an open-addressing table (FNV-1a, linear
 * probing) that is never modified afterwards.
 */
#include "httpd_files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Room reserved for an entity header (Content-Type, -Length, Last-Modified). */
#define ENTITY_HEAD_MAX 384
/* Room for a 301 entity besides its Location value. */
#define REDIRECT_MAX 512
/* Room for an error page entity. */
#define ERROR_MAX 512
/* A body must fit one dlibos_send fragment (32-bit length). */
#define FILE_MAX ((uint64_t)UINT32_MAX - ENTITY_HEAD_MAX)

struct httpd_file_slot {
	char *path; /* NULL when free */
	uint64_t hash;
	struct httpd_entity ent;
};

enum visit_kind { VISIT_FILE, VISIT_DIR_WITH_INDEX };

/* Called for each regular file (fd open for reading) and each directory
 * that has an index.html. rel is the path from the root, with a leading '/'. */
typedef int (*visit_fn)(void *arg, enum visit_kind kind, const char *rel, size_t rel_len, int fd,
			const struct stat *st);

struct walk {
	char root_real[PATH_MAX];
	visit_fn visit;
	void *arg;
	struct httpd_scan *scan;
	char *err;
	size_t errlen;
};

static int fail(struct walk *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->err, w->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static size_t align64(size_t x)
{
	return (x + 63) & ~(size_t)63;
}

/* A symbolic link: follow it only to a regular file inside the root. */
static int link_target_ok(struct walk *w, const char *rel, struct stat *st)
{
	char abs[PATH_MAX + HTTPD_MAX_PATH], real[PATH_MAX];
	size_t rl = strlen(w->root_real);

	snprintf(abs, sizeof(abs), "%s%s", w->root_real, rel);
	if (realpath(abs, real) == NULL || stat(real, st) != 0 || !S_ISREG(st->st_mode))
		return 0;
	return strncmp(real, w->root_real, rl) == 0 && (real[rl] == '/' || rl == 1);
}

static int has_index(int dfd)
{
	struct stat st;

	return fstatat(dfd, "index.html", &st, 0) == 0 && S_ISREG(st.st_mode);
}

static int walk_dir(struct walk *w, int dfd, char *rel, size_t rel_len, unsigned depth);

static int walk_entry(struct walk *w, int dfd, const char *name, char *rel, size_t rel_len,
		      unsigned depth)
{
	size_t nl = strlen(name), len = rel_len + 1 + nl;
	struct stat st;
	int rc = 0;

	if (len >= HTTPD_MAX_PATH) {
		w->scan->skipped++;
		return 0;
	}
	rel[rel_len] = '/';
	memcpy(rel + rel_len + 1, name, nl + 1);
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return fail(w, "cannot stat %s%s: %s", w->root_real, rel, strerror(errno));
	if (S_ISLNK(st.st_mode) && !link_target_ok(w, rel, &st)) {
		w->scan->skipped++;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		if (depth + 1 >= HTTPD_MAX_DEPTH) {
			w->scan->skipped++;
			goto out;
		}
		int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			return fail(w, "cannot open directory %s%s: %s", w->root_real, rel,
				    strerror(errno));
		w->scan->dirs++;
		if (has_index(sub))
			rc = w->visit(w->arg, VISIT_DIR_WITH_INDEX, rel, len, -1, &st);
		if (rc == 0)
			rc = walk_dir(w, sub, rel, len, depth + 1); /* closes sub */
		else
			close(sub);
	} else if (S_ISREG(st.st_mode)) {
		int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return fail(w, "cannot open %s%s: %s", w->root_real, rel, strerror(errno));
		if (fstat(fd, &st) != 0 || (uint64_t)st.st_size > FILE_MAX)
			rc = fail(w, "%s%s: cannot stat or larger than %llu bytes", w->root_real,
				  rel, (unsigned long long)FILE_MAX);
		else
			rc = w->visit(w->arg, VISIT_FILE, rel, len, fd, &st);
		w->scan->files++;
		close(fd);
	} else {
		w->scan->skipped++;
	}
out:
	rel[rel_len] = '\0';
	return rc;
}

static int walk_dir(struct walk *w, int dfd, char *rel, size_t rel_len, unsigned depth)
{
	DIR *d = fdopendir(dfd);
	struct dirent *e;
	int rc = 0;

	if (d == NULL) {
		close(dfd);
		return fail(w, "cannot read directory %s%s: %s", w->root_real, rel,
			    strerror(errno));
	}
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		rc = walk_entry(w, dirfd(d), e->d_name, rel, rel_len, depth);
	}
	closedir(d);
	return rc;
}

static int walk_root(const char *root, visit_fn visit, void *arg, struct httpd_scan *scan,
		     char *err, size_t errlen)
{
	struct walk w = {.visit = visit, .arg = arg, .scan = scan, .err = err, .errlen = errlen};
	char rel[HTTPD_MAX_PATH];

	if (realpath(root, w.root_real) == NULL)
		return fail(&w, "root %s: %s", root, strerror(errno));
	int dfd = open(w.root_real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return fail(&w, "root %s: %s", root, strerror(errno));
	rel[0] = '\0';
	return walk_dir(&w, dfd, rel, 0, 0);
}

/* ---- scan ---------------------------------------------------------------- */

static int scan_visit(void *arg, enum visit_kind kind, const char *rel, size_t rel_len, int fd,
		      const struct stat *st)
{
	struct httpd_scan *s = arg;

	(void)rel;
	(void)fd;
	if (kind == VISIT_FILE) {
		s->file_bytes += (uint64_t)st->st_size;
		s->mem_needed += align64(ENTITY_HEAD_MAX + (size_t)st->st_size);
	} else {
		s->mem_needed += align64(REDIRECT_MAX + 3 * rel_len);
	}
	return 0;
}

int httpd_files_scan(const char *root, struct httpd_scan *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	out->mem_needed = HTTP_S_COUNT * (size_t)ERROR_MAX;
	return walk_root(root, scan_visit, out, out, err, errlen);
}

/* ---- load ---------------------------------------------------------------- */

static uint64_t path_hash(const char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++) {
		h ^= (uint8_t)p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static struct httpd_file_slot *slot_find(const struct httpd_files *f, const char *p, size_t n,
					 uint64_t h)
{
	for (size_t i = h & f->mask;; i = (i + 1) & f->mask) {
		struct httpd_file_slot *s = &f->slots[i];
		if (s->path == NULL)
			return s;
		if (s->hash == h && strlen(s->path) == n && memcmp(s->path, p, n) == 0)
			return s;
	}
}

static uint8_t *arena_take(struct httpd_files *f, size_t n)
{
	if (align64(n) > f->arena_size - f->arena_used)
		return NULL;
	uint8_t *p = f->arena + f->arena_used;
	f->arena_used += align64(n);
	return p;
}

/* Build "head + body" of an entity in the arena; body copied from `body`
 * (or read from fd when body is NULL). */
static int put_entity(struct httpd_files *f, struct httpd_entity *ent, enum http_status st,
		      const char *ctype, const char *extra, const void *body, uint64_t blen, int fd)
{
	char head[ENTITY_HEAD_MAX + 3 * HTTPD_MAX_PATH];
	int hl = http_entity_head(head, sizeof(head), ctype, blen, extra);
	uint8_t *p;

	if (hl < 0 || (p = arena_take(f, (size_t)hl + blen)) == NULL)
		return -1;
	memcpy(p, head, (size_t)hl);
	if (body != NULL) {
		memcpy(p + hl, body, blen);
	} else {
		uint64_t got = 0;
		while (got < blen) {
			ssize_t r = pread(fd, p + hl + got, blen - got, (off_t)got);
			if (r <= 0)
				return -1;
			got += (uint64_t)r;
		}
	}
	*ent = (struct httpd_entity){
	    .data = p, .head_len = (uint32_t)hl, .len = (uint64_t)hl + blen, .status = st};
	return 0;
}

static int index_entity(struct httpd_files *f, const char *rel, size_t len,
			const struct httpd_entity *ent)
{
	uint64_t h = path_hash(rel, len);
	struct httpd_file_slot *s = slot_find(f, rel, len, h);

	if (s->path != NULL)
		return 0; /* already there (cannot happen for distinct paths) */
	if ((f->n + 1) * 2 > f->mask + 1)
		return -1;
	s->path = strndup(rel, len);
	if (s->path == NULL)
		return -1;
	s->hash = h;
	s->ent = *ent;
	f->n++;
	return 0;
}

/* Percent-encode what may not appear raw in a Location path. */
static size_t encode_location(char *out, const char *p, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr("/-._~!$&'()*+,;=:@", c) != NULL) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	return o;
}

struct load_ctx {
	struct httpd_files *f;
	char *err;
	size_t errlen;
};

static int load_visit(void *arg, enum visit_kind kind, const char *rel, size_t rel_len, int fd,
		      const struct stat *st)
{
	struct load_ctx *lc = arg;
	struct httpd_files *f = lc->f;
	struct httpd_entity ent;
	char extra[64 + 3 * HTTPD_MAX_PATH], date[HTTP_DATE_LEN + 1];
	int rc;

	if (kind == VISIT_FILE) {
		http_date_format((int64_t)st->st_mtime, date);
		snprintf(extra, sizeof(extra), "Last-Modified: %s\r\n", date);
		rc = put_entity(f, &ent, HTTP_S_200, http_content_type(rel), extra, NULL,
				(uint64_t)st->st_size, fd);
	} else {
		char body[256];
		int bl = http_error_body(body, sizeof(body), HTTP_S_301);
		size_t o = (size_t)snprintf(extra, sizeof(extra), "Location: ");
		o += encode_location(extra + o, rel, rel_len);
		snprintf(extra + o, sizeof(extra) - o, "/\r\n");
		rc = bl < 0 ? -1
			    : put_entity(f, &ent, HTTP_S_301, "text/html", extra, body,
					 (uint64_t)bl, -1);
	}
	if (rc == 0)
		rc = index_entity(f, rel, rel_len, &ent);
	if (rc != 0)
		snprintf(lc->err, lc->errlen,
			 "cannot load %s: the root changed since it was scanned", rel);
	return rc;
}

static int load_errors(struct httpd_files *f)
{
	static const enum http_status errs[] = {HTTP_S_400, HTTP_S_404, HTTP_S_405,
						HTTP_S_414, HTTP_S_431, HTTP_S_505};
	char body[256];

	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		int bl = http_error_body(body, sizeof(body), errs[i]);
		const char *extra = errs[i] == HTTP_S_405 ? "Allow: GET, HEAD\r\n" : NULL;
		if (bl < 0 || put_entity(f, &f->errors[errs[i]], errs[i], "text/html", extra, body,
					 (uint64_t)bl, -1) != 0)
			return -1;
	}
	return 0;
}

int httpd_files_load(struct httpd_files *f, const char *root, const struct httpd_scan *scan,
		     void *(*alloc_fn)(size_t), void (*free_fn)(void *), char *err, size_t errlen)
{
	struct load_ctx lc = {.f = f, .err = err, .errlen = errlen};
	size_t cap = 16;

	memset(f, 0, sizeof(*f));
	while (cap < 2 * (scan->files + scan->dirs + 1) + 2)
		cap <<= 1;
	f->slots = calloc(cap, sizeof(*f->slots));
	f->mask = cap - 1;
	f->arena_size = scan->mem_needed;
	f->arena = f->arena_size > 0 ? alloc_fn(f->arena_size) : NULL;
	f->free_fn = free_fn;
	if (f->slots == NULL || f->arena == NULL) {
		snprintf(err, errlen, "cannot allocate %zu bytes for the root", f->arena_size);
		httpd_files_free(f);
		return -1;
	}
	if (load_errors(f) != 0) {
		snprintf(err, errlen, "cannot build the error pages");
		httpd_files_free(f);
		return -1;
	}
	if (walk_root(root, load_visit, &lc, &f->scan, err, errlen) != 0) {
		httpd_files_free(f);
		return -1;
	}
	return 0;
}

const struct httpd_entity *httpd_files_lookup(const struct httpd_files *f, const char *path,
					      size_t len)
{
	char idx[HTTPD_MAX_PATH + 16];
	const struct httpd_file_slot *s;

	if (len > 0 && path[len - 1] == '/') {
		if (len + sizeof("index.html") > sizeof(idx))
			return NULL;
		memcpy(idx, path, len);
		memcpy(idx + len, "index.html", sizeof("index.html"));
		path = idx;
		len += sizeof("index.html") - 1;
	}
	s = slot_find(f, path, len, path_hash(path, len));
	return s->path != NULL ? &s->ent : NULL;
}

const struct httpd_entity *httpd_files_error(const struct httpd_files *f, enum http_status s)
{
	return s < HTTP_S_COUNT && f->errors[s].data != NULL ? &f->errors[s] : NULL;
}

void httpd_files_free(struct httpd_files *f)
{
	if (f->slots != NULL)
		for (size_t i = 0; i <= f->mask; i++)
			free(f->slots[i].path);
	free(f->slots);
	if (f->arena != NULL && f->free_fn != NULL)
		f->free_fn(f->arena);
	memset(f, 0, sizeof(*f));
}
