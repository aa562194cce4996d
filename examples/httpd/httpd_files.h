/*
 * httpd_files.h - the document root of dlibos-httpd, preloaded into memory
 * the network can send from (TX memory), independent of the runtime: the
 * allocator is a parameter, so tests load into malloc'ed memory.
 *
 * At start-up every regular file under the root becomes an "entity": its
 * response header part (Content-Type, Content-Length, Last-Modified, empty
 * line) followed by its bytes, contiguous and immutable for the life of the
 * server. Requests then only look a path up and reference the entity, on
 * any number of connections at once (zero-touch). Error pages (400, 404,
 * 405 with Allow, 414, 431, 505) and the 301 redirects of directories that
 * have an index.html ("/dir" -> "/dir/") are entities too.
 *
 * Loading takes two passes: httpd_files_scan() walks the tree to size the
 * memory (before the runtime creates TX memory), httpd_files_load() copies.
 * Symbolic links are followed only to regular files inside the root;
 * linked directories are skipped (no loops, no escape).
 */
#ifndef HTTPD_FILES_H
#define HTTPD_FILES_H

#include "http_resp.h"

#include <stddef.h>
#include <stdint.h>

/** Longest path (relative to the root, with its leading '/'). */
#define HTTPD_MAX_PATH 1024

/** Deepest directory nesting walked. */
#define HTTPD_MAX_DEPTH 32

/** A prepared response entity: header part then body, immutable. */
struct httpd_entity {
	const uint8_t *data;	 /**< head_len header bytes, then the body */
	uint32_t head_len;	 /**< what a HEAD response sends */
	uint64_t len;		 /**< header + body: what a GET response sends */
	enum http_status status; /**< 200, 301, or the error it answers */
};

/** What a scan found (to size the memory). */
struct httpd_scan {
	uint64_t files, dirs, skipped;
	uint64_t file_bytes; /**< sum of file sizes */
	size_t mem_needed;   /**< bytes httpd_files_load() will allocate */
};

struct httpd_file_slot;

/** The loaded root. Read-only once loaded: safe to share between cores. */
struct httpd_files {
	struct httpd_entity errors[HTTP_S_COUNT]; /**< error pages by status */
	struct httpd_file_slot *slots;		  /**< open-addressing table */
	size_t mask, n;
	uint8_t *arena; /**< the one allocation holding every entity */
	size_t arena_size, arena_used;
	void (*free_fn)(void *);
	struct httpd_scan scan;
};

/**
 * Walk `root` and compute what loading it needs.
 * @return 0, or -1 with a message in err (not a directory, unreadable,
 *         a file too large for one send, ...).
 */
int httpd_files_scan(const char *root, struct httpd_scan *out, char *err, size_t errlen);

/**
 * Load `root` into one allocation of scan->mem_needed bytes from
 * alloc_fn (64-byte aligned memory); free_fn releases it in
 * httpd_files_free(). @return 0, or -1 with a message in err.
 */
int httpd_files_load(struct httpd_files *f, const char *root, const struct httpd_scan *scan,
		     void *(*alloc_fn)(size_t), void (*free_fn)(void *), char *err, size_t errlen);

/**
 * The entity for a normalised path (http_path_normalize): a file, the
 * index.html of a path ending in '/', or a 301 for a directory named
 * without its '/'. NULL when none (answer 404).
 */
const struct httpd_entity *httpd_files_lookup(const struct httpd_files *f, const char *path,
					      size_t len);

/** The error page of a status (400, 404, 405, 414, 431, 505). */
const struct httpd_entity *httpd_files_error(const struct httpd_files *f, enum http_status s);

/** Release everything. */
void httpd_files_free(struct httpd_files *f);

#endif
