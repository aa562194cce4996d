/*
 * telemetry.c - value trees and the command registry (see dl_telemetry.h).
 *
 * A tree's entries, containers, names and strings come from one arena of
 * blocks owned by the root, freed together. Every add counts the JSON the
 * entry renders to (separator, quoted name, value), so the budget check
 * is exact: dl_tel_json() of a tree never needs more than
 * dl_tel_json_size() + 1 bytes.
 */
#include "dl_telemetry.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK 8192u

struct arena_block {
	struct arena_block *next;
	size_t used, cap;
	_Alignas(16) unsigned char mem[];
};

struct dl_tel_tree {
	struct arena_block *blocks;
	size_t json;   /* bytes rendered so far */
	size_t budget; /* most bytes allowed */
	struct dl_tel root;
};

static void *arena_alloc(struct dl_tel_tree *t, size_t n)
{
	struct arena_block *b = t->blocks;

	n = (n + 15) & ~(size_t)15;
	if (b == NULL || b->cap - b->used < n) {
		size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
		b = malloc(sizeof(*b) + cap);
		if (b == NULL)
			return NULL;
		b->next = t->blocks;
		b->used = 0;
		b->cap = cap;
		t->blocks = b;
	}
	void *p = b->mem + b->used;
	b->used += n;
	return p;
}

static char *arena_strdup(struct dl_tel_tree *t, const char *s, size_t max)
{
	size_t n = strnlen(s, max - 1);
	char *p = arena_alloc(t, n + 1);

	if (p != NULL) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

struct dl_tel *dl_tel_new(size_t json_budget)
{
	struct dl_tel_tree *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->budget = json_budget ? json_budget : DL_TEL_JSON_BUDGET;
	t->json = 2; /* {} */
	t->root.tree = t;
	t->root.kind = DL_TEL_DICT;
	return &t->root;
}

void dl_tel_free(struct dl_tel *root)
{
	struct dl_tel_tree *t;

	if (root == NULL)
		return;
	t = root->tree;
	while (t->blocks != NULL) {
		struct arena_block *b = t->blocks;
		t->blocks = b->next;
		free(b);
	}
	free(t);
}

bool dl_tel_name_ok(const char *name)
{
	size_t n = 0;

	if (name == NULL)
		return false;
	for (const char *p = name; *p != '\0'; p++, n++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '/'))
			return false;
	}
	return n > 0 && n < DL_TEL_NAME_MAX;
}

/* JSON bytes of a string value, quotes and escapes included. */
static size_t json_str_len(const char *s)
{
	size_t n = 2;

	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
		n += *p == '"' || *p == '\\' ? 2 : *p < 0x20 ? 6 : 1;
	return n;
}

static size_t u64_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

static size_t int_len(int v)
{
	return v < 0 ? 1 + u64_len((uint64_t)(-(int64_t)v)) : u64_len((uint64_t)v);
}

/* Make room for an entry of @p vlen value bytes in @p c (named when a
 * dict): checks, budget, allocation. NULL with *rc set on refusal. */
static struct dl_tel_entry *entry_new(struct dl_tel *c, const char *name, size_t vlen, int *rc)
{
	struct dl_tel_tree *t;
	struct dl_tel_entry *e;
	size_t cost;

	bool dict = c != NULL && c->kind == DL_TEL_DICT;

	/* A dict's entries have a valid name, an array's none. */
	if (c == NULL || (dict ? !dl_tel_name_ok(name) : name != NULL)) {
		*rc = -EINVAL;
		return NULL;
	}
	if (c->n >= (c->kind == DL_TEL_DICT ? DL_TEL_DICT_MAX : DL_TEL_ARRAY_MAX)) {
		*rc = -E2BIG;
		return NULL;
	}
	t = c->tree;
	cost = (c->n > 0) + vlen + (name != NULL ? strlen(name) + 3 : 0);
	if (t->json + cost > t->budget) {
		*rc = -ENOSPC;
		return NULL;
	}
	e = arena_alloc(t, sizeof(*e));
	if (e == NULL) {
		*rc = -ENOMEM;
		return NULL;
	}
	memset(e, 0, sizeof(*e));
	if (name != NULL) {
		e->name = arena_strdup(t, name, DL_TEL_NAME_MAX);
		if (e->name == NULL) {
			*rc = -ENOMEM;
			return NULL;
		}
	}
	t->json += cost;
	if (c->tail != NULL)
		c->tail->next = e;
	else
		c->head = e;
	c->tail = e;
	c->n++;
	*rc = 0;
	return e;
}

static int add_u64(struct dl_tel *c, const char *name, uint64_t v)
{
	int rc;
	struct dl_tel_entry *e = entry_new(c, name, u64_len(v), &rc);

	if (e != NULL) {
		e->type = DL_TEL_U64;
		e->v.u = v;
	}
	return rc;
}

static int add_int(struct dl_tel *c, const char *name, int v)
{
	int rc;
	struct dl_tel_entry *e = entry_new(c, name, int_len(v), &rc);

	if (e != NULL) {
		e->type = DL_TEL_INT;
		e->v.i = v;
	}
	return rc;
}

static int add_str(struct dl_tel *c, const char *name, const char *s)
{
	char cut[DL_TEL_STR_MAX];
	struct dl_tel_entry *e;
	int rc;

	if (s == NULL)
		s = "";
	snprintf(cut, sizeof(cut), "%s", s);
	e = entry_new(c, name, json_str_len(cut), &rc);
	if (e == NULL)
		return rc;
	e->type = DL_TEL_STR;
	e->v.s = arena_strdup(c->tree, cut, DL_TEL_STR_MAX);
	if (e->v.s == NULL) {
		e->v.s = ""; /* counted already; keep the tree consistent */
		return -ENOMEM;
	}
	return 0;
}

int dl_tel_u64(struct dl_tel *d, const char *name, uint64_t v)
{
	return d != NULL && d->kind == DL_TEL_DICT ? add_u64(d, name, v) : -EINVAL;
}

int dl_tel_int(struct dl_tel *d, const char *name, int v)
{
	return d != NULL && d->kind == DL_TEL_DICT ? add_int(d, name, v) : -EINVAL;
}

int dl_tel_str(struct dl_tel *d, const char *name, const char *s)
{
	return d != NULL && d->kind == DL_TEL_DICT ? add_str(d, name, s) : -EINVAL;
}

int dl_tel_strf(struct dl_tel *d, const char *name, const char *fmt, ...)
{
	char buf[DL_TEL_STR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return dl_tel_str(d, name, buf);
}

static struct dl_tel *add_container(struct dl_tel *d, const char *name, enum dl_tel_type kind,
				    enum dl_tel_type elem)
{
	struct dl_tel_entry *e;
	struct dl_tel *c;
	int rc;

	if (d == NULL || d->kind != DL_TEL_DICT || d->depth >= DL_TEL_MAX_DEPTH)
		return NULL;
	e = entry_new(d, name, 2, &rc);
	if (e == NULL)
		return NULL;
	c = arena_alloc(d->tree, sizeof(*c));
	if (c == NULL) {
		/* Keep the entry (counted): an empty container of the kind. */
		e->type = kind;
		e->v.c = NULL;
		return NULL;
	}
	memset(c, 0, sizeof(*c));
	c->tree = d->tree;
	c->kind = kind;
	c->elem = elem;
	c->depth = d->depth + 1;
	e->type = kind;
	e->v.c = c;
	return c;
}

struct dl_tel *dl_tel_dict(struct dl_tel *d, const char *name)
{
	return add_container(d, name, DL_TEL_DICT, 0);
}

struct dl_tel *dl_tel_array(struct dl_tel *d, const char *name, enum dl_tel_type elem)
{
	if (elem != DL_TEL_U64 && elem != DL_TEL_INT && elem != DL_TEL_STR)
		return NULL;
	return add_container(d, name, DL_TEL_ARRAY, elem);
}

int dl_tel_push_u64(struct dl_tel *a, uint64_t v)
{
	return a != NULL && a->kind == DL_TEL_ARRAY && a->elem == DL_TEL_U64 ? add_u64(a, NULL, v)
									     : -EINVAL;
}

int dl_tel_push_int(struct dl_tel *a, int v)
{
	return a != NULL && a->kind == DL_TEL_ARRAY && a->elem == DL_TEL_INT ? add_int(a, NULL, v)
									     : -EINVAL;
}

int dl_tel_push_str(struct dl_tel *a, const char *s)
{
	return a != NULL && a->kind == DL_TEL_ARRAY && a->elem == DL_TEL_STR ? add_str(a, NULL, s)
									     : -EINVAL;
}

size_t dl_tel_json_size(const struct dl_tel *root)
{
	return root->tree->json;
}

size_t dl_tel_json_room(const struct dl_tel *root)
{
	return root->tree->budget - root->tree->json;
}

/* ---- JSON ---------------------------------------------------------------- */

struct out {
	char *p;
	size_t len, used;
	bool overflow;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->used + n >= o->len) {
		o->overflow = true;
		return;
	}
	memcpy(o->p + o->used, s, n);
	o->used += n;
}

static void put_str(struct out *o, const char *s)
{
	put(o, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		char esc[8];
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			put(o, esc, 2);
		} else if (*p < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			put(o, esc, 6);
		} else {
			put(o, (const char *)p, 1);
		}
	}
	put(o, "\"", 1);
}

static void put_container(struct out *o, const struct dl_tel *c, enum dl_tel_type kind);

static void put_value(struct out *o, const struct dl_tel_entry *e)
{
	char num[32];
	int n;

	switch (e->type) {
	case DL_TEL_U64:
		n = snprintf(num, sizeof(num), "%llu", (unsigned long long)e->v.u);
		put(o, num, (size_t)n);
		break;
	case DL_TEL_INT:
		n = snprintf(num, sizeof(num), "%d", e->v.i);
		put(o, num, (size_t)n);
		break;
	case DL_TEL_STR:
		put_str(o, e->v.s);
		break;
	case DL_TEL_DICT:
	case DL_TEL_ARRAY:
		put_container(o, e->v.c, e->type);
		break;
	}
}

static void put_container(struct out *o, const struct dl_tel *c, enum dl_tel_type kind)
{
	bool dict = kind == DL_TEL_DICT;

	put(o, dict ? "{" : "[", 1);
	for (const struct dl_tel_entry *e = c != NULL ? c->head : NULL; e != NULL; e = e->next) {
		if (e != c->head)
			put(o, ",", 1);
		if (dict) {
			put_str(o, e->name);
			put(o, ":", 1);
		}
		put_value(o, e);
	}
	put(o, dict ? "}" : "]", 1);
}

int dl_tel_json(const struct dl_tel *t, char *buf, size_t len)
{
	struct out o = {buf, len, 0, false};

	if (len == 0)
		return -ENOSPC;
	put_container(&o, t, t->kind);
	if (o.overflow) {
		buf[0] = '\0';
		return -ENOSPC;
	}
	buf[o.used] = '\0';
	return (int)o.used;
}

/* ---- registry -------------------------------------------------------------- */

struct cmd {
	char name[DL_TEL_NAME_MAX];
	char help[DL_TEL_STR_MAX];
	dl_tel_fn fn; /* NULL: free entry */
	void *arg;
};

static pthread_rwlock_t reg_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct cmd cmds[DL_TEL_MAX_CMDS];
static void (*backend_add)(const char *cmd, const char *help);

static struct cmd *find_cmd(const char *name)
{
	for (unsigned i = 0; i < DL_TEL_MAX_CMDS; i++)
		if (cmds[i].fn != NULL && strcmp(cmds[i].name, name) == 0)
			return &cmds[i];
	return NULL;
}

int dl_tel_register(const char *cmd, const char *help, dl_tel_fn fn, void *arg)
{
	struct cmd *c;
	void (*add)(const char *, const char *);

	if (!dl_tel_name_ok(cmd) || cmd[0] != '/' || fn == NULL)
		return -EINVAL;
	pthread_rwlock_wrlock(&reg_lock);
	c = find_cmd(cmd);
	for (unsigned i = 0; c == NULL && i < DL_TEL_MAX_CMDS; i++)
		if (cmds[i].fn == NULL)
			c = &cmds[i];
	if (c == NULL) {
		pthread_rwlock_unlock(&reg_lock);
		return -ENOSPC;
	}
	snprintf(c->name, sizeof(c->name), "%s", cmd);
	snprintf(c->help, sizeof(c->help), "%s", help != NULL ? help : "");
	c->fn = fn;
	c->arg = arg;
	add = backend_add;
	pthread_rwlock_unlock(&reg_lock);
	/* Outside the lock: the backend may call back into dl_tel_call(). */
	if (add != NULL)
		add(cmd, help != NULL ? help : "");
	return 0;
}

void dl_tel_unregister(const char *cmd)
{
	struct cmd *c;

	pthread_rwlock_wrlock(&reg_lock);
	c = find_cmd(cmd);
	if (c != NULL)
		memset(c, 0, sizeof(*c));
	pthread_rwlock_unlock(&reg_lock);
}

int dl_tel_call(const char *cmd, const char *params, struct dl_tel *out)
{
	struct cmd *c;
	int rc;

	pthread_rwlock_rdlock(&reg_lock);
	c = find_cmd(cmd);
	if (c == NULL) {
		pthread_rwlock_unlock(&reg_lock);
		dl_tel_str(out, "error", "not available now (starting or stopping)");
		return -ENOENT;
	}
	rc = c->fn(c->arg, params != NULL ? params : "", out);
	pthread_rwlock_unlock(&reg_lock);
	return rc;
}

void dl_tel_set_backend(void (*add)(const char *cmd, const char *help))
{
	struct cmd copy[DL_TEL_MAX_CMDS];
	unsigned n = 0;

	pthread_rwlock_wrlock(&reg_lock);
	backend_add = add;
	for (unsigned i = 0; add != NULL && i < DL_TEL_MAX_CMDS; i++)
		if (cmds[i].fn != NULL)
			copy[n++] = cmds[i];
	pthread_rwlock_unlock(&reg_lock);
	for (unsigned i = 0; i < n; i++)
		add(copy[i].name, copy[i].help);
}
