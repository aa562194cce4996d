/*
 * kvs_text.h - parser of memcached text protocol command lines.
 *
 * Pure functions over a contiguous line (the bytes before "\n", a trailing
 * "\r" removed by the caller); the parsed request points into the line.
 * Tokens are separated by spaces (runs of spaces count as one), as in
 * memcached. Which errors a malformed line gets also follows memcached 1.6:
 * a wrong number of tokens is "ERROR", a bad number or key is
 * "CLIENT_ERROR bad command line format", a bad incr/decr delta is
 * "CLIENT_ERROR invalid numeric delta argument".
 */
#ifndef KVS_TEXT_H
#define KVS_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum kvs_text_cmd {
	KT_GET,
	KT_GETS,
	KT_GAT,
	KT_GATS,
	KT_SET,
	KT_ADD,
	KT_REPLACE,
	KT_APPEND,
	KT_PREPEND,
	KT_CAS,
	KT_DELETE,
	KT_INCR,
	KT_DECR,
	KT_TOUCH,
	KT_FLUSH_ALL,
	KT_VERSION,
	KT_VERBOSITY,
	KT_STATS,
	KT_QUIT,
	KT_MN, /* meta no-op */
};

/** Outcome of parsing a line. */
enum kvs_text_err {
	KT_OK = 0,
	KT_ERR_UNKNOWN, /* "ERROR": unknown command or wrong token count */
	KT_ERR_FORMAT,	/* "CLIENT_ERROR bad command line format" */
	KT_ERR_DELTA,	/* "CLIENT_ERROR invalid numeric delta argument" */
	KT_ERR_EXPTIME, /* "CLIENT_ERROR invalid exptime argument" */
};

struct kvs_text_req {
	enum kvs_text_cmd cmd;
	bool noreply;
	const char *key; /* single-key commands */
	size_t nkey;
	uint32_t flags;
	int64_t exptime;  /* storage, touch, gat; flush_all delay */
	uint32_t nbytes;  /* storage: data block length (without "\r\n") */
	uint64_t cas;	  /* cas */
	uint64_t delta;	  /* incr/decr */
	uint32_t level;	  /* verbosity */
	const char *keys; /* get/gets/gat/gats: the key list (kvs_text_next_key) */
	size_t keys_len;
	const char *args; /* stats: the arguments after "stats" */
	size_t args_len;
};

/** Parse one command line of len bytes. */
enum kvs_text_err kvs_text_parse(const char *line, size_t len, struct kvs_text_req *r);

/**
 * Take the next key from a get key list [*p, end): 1 with key and nkey set
 * (and *p advanced), 0 when no key is left, -1 for a key longer than
 * KVS_KEY_MAX.
 */
int kvs_text_next_key(const char **p, const char *end, const char **key, size_t *nkey);

/** True for the storage commands (a data block follows the line). When
 *  such a line is rejected its data block is not skipped: like memcached,
 *  the block is then read as a command line (and answered "ERROR"). */
static inline bool kvs_text_is_storage(enum kvs_text_cmd c)
{
	return c >= KT_SET && c <= KT_CAS;
}

#endif
