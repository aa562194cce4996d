/*
 * kvs_text.c - memcached text protocol line parser (see kvs_text.h).
 *
 * The line is split into at most KT_MAX_TOKENS tokens (a get's key list is
 * kept as a range and walked with kvs_text_next_key, so a multi-get may
 * name any number of keys). Each command checks its token count, then its
 * numbers with strict decimal parsing (no sign, no spaces, no overflow).
 */
#include "kvs_text.h"
#include "kvs_store.h"

#include <string.h>

#define KT_MAX_TOKENS 8

struct tok {
	const char *p;
	size_t n;
};

static bool tok_is(const struct tok *t, const char *s)
{
	size_t n = strlen(s);

	return t->n == n && memcmp(t->p, s, n) == 0;
}

/* Split into tokens; returns how many (KT_MAX_TOKENS + 1 means more). */
static unsigned tokenize(const char *line, size_t len, struct tok *t)
{
	unsigned n = 0;
	size_t i = 0;

	while (i < len) {
		while (i < len && line[i] == ' ')
			i++;
		if (i == len)
			break;
		size_t start = i;
		while (i < len && line[i] != ' ')
			i++;
		if (n == KT_MAX_TOKENS)
			return KT_MAX_TOKENS + 1;
		t[n].p = line + start;
		t[n].n = i - start;
		n++;
	}
	return n;
}

static bool parse_u32(const struct tok *t, uint32_t *out)
{
	uint64_t v;

	if (!kvs_parse_u64(t->p, t->n, &v) || v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

/* A signed 32-bit number as memcached's safe_strtol takes it. */
static bool parse_i32(const struct tok *t, int64_t *out)
{
	uint64_t v;

	if (t->n > 0 && t->p[0] == '-') {
		struct tok u = {t->p + 1, t->n - 1};
		if (!kvs_parse_u64(u.p, u.n, &v) || v > (uint64_t)INT32_MAX + 1)
			return false;
		*out = -(int64_t)v;
		return true;
	}
	if (!kvs_parse_u64(t->p, t->n, &v) || v > INT32_MAX)
		return false;
	*out = (int64_t)v;
	return true;
}

static bool set_key(struct kvs_text_req *r, const struct tok *t)
{
	if (t->n > KVS_KEY_MAX)
		return false;
	r->key = t->p;
	r->nkey = t->n;
	return true;
}

/* "noreply" as the last token: memcached's set_noreply_maybe. */
static void noreply_maybe(struct kvs_text_req *r, const struct tok *t, unsigned n)
{
	r->noreply = n > 1 && tok_is(&t[n - 1], "noreply");
}

static enum kvs_text_err parse_storage(struct kvs_text_req *r, const struct tok *t, unsigned n)
{
	unsigned want = r->cmd == KT_CAS ? 6 : 5;
	int64_t nbytes;

	if (n != want && n != want + 1)
		return KT_ERR_UNKNOWN;
	noreply_maybe(r, t, n);
	if (!set_key(r, &t[1]))
		return KT_ERR_FORMAT;
	if (!parse_u32(&t[2], &r->flags) || !parse_i32(&t[3], &r->exptime) ||
	    !parse_i32(&t[4], &nbytes) || nbytes < 0)
		return KT_ERR_FORMAT;
	r->nbytes = (uint32_t)nbytes;
	if (r->cmd == KT_CAS && !kvs_parse_u64(t[5].p, t[5].n, &r->cas))
		return KT_ERR_FORMAT;
	return KT_OK;
}

static enum kvs_text_err parse_get(struct kvs_text_req *r, const char *line, size_t len,
				   const struct tok *t, unsigned n)
{
	unsigned first = 1;

	if (r->cmd == KT_GAT || r->cmd == KT_GATS) {
		if (n < 3)
			return KT_ERR_UNKNOWN;
		if (!parse_i32(&t[1], &r->exptime))
			return KT_ERR_EXPTIME;
		first = 2;
	} else if (n < 2) {
		return KT_ERR_UNKNOWN;
	}
	r->keys = t[first].p;
	r->keys_len = (size_t)(line + len - t[first].p);
	return KT_OK;
}

static enum kvs_text_err parse_delete(struct kvs_text_req *r, const struct tok *t, unsigned n)
{
	if (n < 2 || n > 4)
		return KT_ERR_UNKNOWN;
	noreply_maybe(r, t, n);
	if (!set_key(r, &t[1]))
		return KT_ERR_FORMAT;
	/* "delete key", "delete key 0", "delete key noreply", "delete key 0 noreply" */
	if (n == 3 && !tok_is(&t[2], "0") && !r->noreply)
		return KT_ERR_FORMAT;
	if (n == 4 && (!tok_is(&t[2], "0") || !r->noreply))
		return KT_ERR_FORMAT;
	return KT_OK;
}

static enum kvs_text_err parse_arith(struct kvs_text_req *r, const struct tok *t, unsigned n)
{
	if (n != 3 && n != 4)
		return KT_ERR_UNKNOWN;
	noreply_maybe(r, t, n);
	if (!set_key(r, &t[1]))
		return KT_ERR_FORMAT;
	if (!kvs_parse_u64(t[2].p, t[2].n, &r->delta))
		return KT_ERR_DELTA;
	return KT_OK;
}

static enum kvs_text_err parse_touch(struct kvs_text_req *r, const struct tok *t, unsigned n)
{
	if (n != 3 && n != 4)
		return KT_ERR_UNKNOWN;
	noreply_maybe(r, t, n);
	if (!set_key(r, &t[1]))
		return KT_ERR_FORMAT;
	if (!parse_i32(&t[2], &r->exptime))
		return KT_ERR_EXPTIME;
	return KT_OK;
}

static enum kvs_text_err parse_flush(struct kvs_text_req *r, const struct tok *t, unsigned n)
{
	if (n > 3)
		return KT_ERR_UNKNOWN;
	noreply_maybe(r, t, n);
	r->exptime = 0;
	if (n == (r->noreply ? 3u : 2u) && !parse_i32(&t[1], &r->exptime))
		return KT_ERR_FORMAT;
	if (n == 3 && !r->noreply)
		return KT_ERR_FORMAT;
	return KT_OK;
}

static enum kvs_text_err parse_verbosity(struct kvs_text_req *r, const struct tok *t, unsigned n)
{
	if (n != 2 && n != 3)
		return KT_ERR_UNKNOWN;
	noreply_maybe(r, t, n);
	if (!parse_u32(&t[1], &r->level))
		return KT_ERR_FORMAT;
	return KT_OK;
}

struct cmd_name {
	const char *name;
	enum kvs_text_cmd cmd;
};

static const struct cmd_name cmd_names[] = {
    {"get", KT_GET},
    {"gets", KT_GETS},
    {"gat", KT_GAT},
    {"gats", KT_GATS},
    {"set", KT_SET},
    {"add", KT_ADD},
    {"replace", KT_REPLACE},
    {"append", KT_APPEND},
    {"prepend", KT_PREPEND},
    {"cas", KT_CAS},
    {"delete", KT_DELETE},
    {"incr", KT_INCR},
    {"decr", KT_DECR},
    {"touch", KT_TOUCH},
    {"flush_all", KT_FLUSH_ALL},
    {"version", KT_VERSION},
    {"verbosity", KT_VERBOSITY},
    {"stats", KT_STATS},
    {"quit", KT_QUIT},
    {"mn", KT_MN},
};

enum kvs_text_err kvs_text_parse(const char *line, size_t len, struct kvs_text_req *r)
{
	struct tok t[KT_MAX_TOKENS];
	unsigned n = tokenize(line, len, t);
	unsigned i;

	memset(r, 0, sizeof(*r));
	if (n == 0)
		return KT_ERR_UNKNOWN;
	for (i = 0; i < sizeof(cmd_names) / sizeof(cmd_names[0]); i++)
		if (tok_is(&t[0], cmd_names[i].name))
			break;
	if (i == sizeof(cmd_names) / sizeof(cmd_names[0]))
		return KT_ERR_UNKNOWN;
	r->cmd = cmd_names[i].cmd;
	switch (r->cmd) {
	case KT_GET:
	case KT_GETS:
	case KT_GAT:
	case KT_GATS:
		return parse_get(r, line, len, t, n > KT_MAX_TOKENS ? KT_MAX_TOKENS : n);
	case KT_SET:
	case KT_ADD:
	case KT_REPLACE:
	case KT_APPEND:
	case KT_PREPEND:
	case KT_CAS:
		return parse_storage(r, t, n);
	case KT_DELETE:
		return parse_delete(r, t, n);
	case KT_INCR:
	case KT_DECR:
		return parse_arith(r, t, n);
	case KT_TOUCH:
		return parse_touch(r, t, n);
	case KT_FLUSH_ALL:
		return parse_flush(r, t, n);
	case KT_VERBOSITY:
		return parse_verbosity(r, t, n);
	case KT_STATS:
		if (n > 1) {
			r->args = t[1].p;
			r->args_len = (size_t)(line + len - t[1].p);
		}
		return KT_OK;
	case KT_VERSION: /* 1.6: any arguments are ignored */
	case KT_QUIT:
	case KT_MN:
		return KT_OK;
	}
	return KT_ERR_UNKNOWN;
}

int kvs_text_next_key(const char **p, const char *end, const char **key, size_t *nkey)
{
	const char *s = *p;

	while (s < end && *s == ' ')
		s++;
	if (s == end) {
		*p = s;
		return 0;
	}
	const char *e = s;
	while (e < end && *e != ' ')
		e++;
	*p = e;
	*key = s;
	*nkey = (size_t)(e - s);
	return *nkey > KVS_KEY_MAX ? -1 : 1;
}
