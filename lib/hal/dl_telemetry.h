/*
 * dl_telemetry.h - telemetry commands and the values they answer with,
 * without DPDK.
 *
 * A layer that has something to show (the runtime's cores, counters, NoC
 * and connections; the protected-mode service's applications) registers
 * a command ("/dlibos/info") with a callback that fills a value tree:
 *
 *     static int info(void *arg, const char *params, struct dl_tel *out)
 *     {
 *             struct dl_tel *port = dl_tel_dict(out, "port");
 *             dl_tel_str(out, "mode", "dlibos");
 *             dl_tel_u64(port, "rx_queues", 2);
 *             return 0;
 *     }
 *     dl_tel_register("/dlibos/info", "version, mode, cores", info, rt);
 *
 * The platform serves the commands: drivers/dpdk registers each one with
 * DPDK's telemetry library (rte_telemetry_register_cmd) and copies the tree
 * into rte_tel_data, so the stock dpdk-telemetry.py answers them as JSON
 * on /var/run/dpdk/PREFIX/dpdk_telemetry.v2; a platform without such a
 * service (TILE-Gx) registers nothing and the commands are only reachable
 * through dl_tel_call(). dl_tel_json() renders a tree as JSON the way
 * DPDK does (tests, other transports).
 *
 * The tree keeps to what DPDK 22.11's rte_tel_data can carry, so that
 * whatever a callback builds reaches the client whole:
 *   - the root is a dict; a dict holds scalars (u64, int, string) and
 *     containers (dicts, or arrays of one scalar type), DL_TEL_MAX_DEPTH
 *     levels deep; an array holds scalars only;
 *   - names are 1..DL_TEL_NAME_MAX-1 characters of [A-Za-z0-9_/] (DPDK
 *     drops other names);
 *   - strings are cut to DL_TEL_STR_MAX-1 bytes;
 *   - a dict has at most DL_TEL_DICT_MAX entries, an array
 *     DL_TEL_ARRAY_MAX;
 *   - the whole answer fits DPDK's 16 KiB output buffer: every tree has a
 *     JSON budget (dl_tel_new()) and an entry that would overflow it is
 *     refused with -ENOSPC, so a long listing stops at a known place and
 *     says where to go on (the caller pages) instead of being cut at an
 *     unknown one.
 * Every refusal is a negative errno from the add call; nothing is
 * silently dropped.
 *
 * Thread-safety: a tree is built by one thread. The command registry is
 * thread-safe: callbacks run under a read lock (several clients at once),
 * dl_tel_unregister() takes the write lock, so once it returns no call of
 * that command runs and none will.
 */
#ifndef DL_TELEMETRY_H
#define DL_TELEMETRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Longest name + 1 (DPDK: RTE_TEL_MAX_STRING_LEN is 128; kept short). */
#define DL_TEL_NAME_MAX 64
/** Longest string value + 1 (DPDK: RTE_TEL_MAX_STRING_LEN). */
#define DL_TEL_STR_MAX 128
/** Entries of one dict (DPDK: RTE_TEL_MAX_DICT_ENTRIES). */
#define DL_TEL_DICT_MAX 256
/** Entries of one array (DPDK: RTE_TEL_MAX_ARRAY_ENTRIES). */
#define DL_TEL_ARRAY_MAX 512
/** Containers below the root, at most. */
#define DL_TEL_MAX_DEPTH 4
/**
 * Default JSON budget of an answer: DPDK's output buffer is 16 KiB, which
 * holds the command name around the answer ({"/dlibos/x": ...}).
 */
#define DL_TEL_JSON_BUDGET 15872u

/** Types of values and containers. */
enum dl_tel_type {
	DL_TEL_U64 = 1, /**< unsigned 64-bit */
	DL_TEL_INT,	/**< signed 32-bit (DPDK's int) */
	DL_TEL_STR,	/**< string */
	DL_TEL_DICT,	/**< container: named entries */
	DL_TEL_ARRAY,	/**< container: unnamed scalars of one type */
};

struct dl_tel;

/** One entry of a container (read by backends that copy the tree). */
struct dl_tel_entry {
	const char *name; /**< NULL in arrays */
	enum dl_tel_type type;
	union {
		uint64_t u;
		int i;
		const char *s;
		const struct dl_tel *c; /**< DL_TEL_DICT or DL_TEL_ARRAY */
	} v;
	struct dl_tel_entry *next;
};

/** A container. Read it with dl_tel_kind(), dl_tel_elem(), dl_tel_first(). */
struct dl_tel {
	struct dl_tel_tree *tree;
	enum dl_tel_type kind; /**< DL_TEL_DICT or DL_TEL_ARRAY */
	enum dl_tel_type elem; /**< arrays: the type of every element */
	unsigned n;	       /**< entries */
	unsigned depth;	       /**< 0 for the root */
	struct dl_tel_entry *head, *tail;
};

/**
 * A fresh tree whose root is an empty dict.
 * @param json_budget bytes of JSON the tree may render to at most
 *        (0: DL_TEL_JSON_BUDGET).
 * @return the root, or NULL (out of memory).
 */
struct dl_tel *dl_tel_new(size_t json_budget);

/** Free a tree (its root). Safe on NULL. */
void dl_tel_free(struct dl_tel *root);

/** True when @p name is a name DPDK accepts (see the top). */
bool dl_tel_name_ok(const char *name);

/*
 * Adding to a dict. Each returns 0, or -EINVAL (bad name, not a dict, or
 * @p d NULL), -E2BIG (the dict is full), -ENOSPC (the answer's JSON
 * budget is spent), -ENOMEM. Names are copied.
 */
int dl_tel_u64(struct dl_tel *d, const char *name, uint64_t v);
int dl_tel_int(struct dl_tel *d, const char *name, int v);
int dl_tel_str(struct dl_tel *d, const char *name, const char *s);
int dl_tel_strf(struct dl_tel *d, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/**
 * A dict inside dict @p d. @return it, or NULL (the reasons above, or
 * deeper than DL_TEL_MAX_DEPTH). A NULL parent gives NULL, so a chain of
 * calls needs one check at the end.
 */
struct dl_tel *dl_tel_dict(struct dl_tel *d, const char *name);

/** An array of @p elem (DL_TEL_U64, DL_TEL_INT or DL_TEL_STR) inside dict @p d. */
struct dl_tel *dl_tel_array(struct dl_tel *d, const char *name, enum dl_tel_type elem);

/* Adding to an array (its element type only): 0, -EINVAL, -E2BIG, -ENOSPC, -ENOMEM. */
int dl_tel_push_u64(struct dl_tel *a, uint64_t v);
int dl_tel_push_int(struct dl_tel *a, int v);
int dl_tel_push_str(struct dl_tel *a, const char *s);

/** Bytes of JSON the tree renders to so far (the budget's count). */
size_t dl_tel_json_size(const struct dl_tel *root);

/** JSON bytes still allowed before -ENOSPC. */
size_t dl_tel_json_room(const struct dl_tel *root);

/**
 * Render @p t as JSON (no spaces, DPDK's style) into @p buf of @p len
 * bytes, NUL-terminated. @return the length, or -ENOSPC when it does not
 * fit (nothing useful in buf then).
 */
int dl_tel_json(const struct dl_tel *t, char *buf, size_t len);

/** Container kind (DL_TEL_DICT or DL_TEL_ARRAY). */
static inline enum dl_tel_type dl_tel_kind(const struct dl_tel *t)
{
	return t->kind;
}

/** First entry (then entry->next), NULL when empty. */
static inline const struct dl_tel_entry *dl_tel_first(const struct dl_tel *t)
{
	return t->head;
}

/* ---- the command registry ----------------------------------------------- */

/**
 * A command's callback: fill @p out (a dict). @p params is what follows
 * the first comma of the request ("" when none). Return 0 (a user error
 * is an answer: put it in "error"), or a negative errno for a failure the
 * client sees as null.
 */
typedef int (*dl_tel_fn)(void *arg, const char *params, struct dl_tel *out);

/** Commands that can be registered at once. */
#define DL_TEL_MAX_CMDS 32

/**
 * Register command @p cmd ("/dlibos/...": 1..DL_TEL_NAME_MAX-1 characters
 * of [A-Za-z0-9_/]) with a one-line @p help. The backend (if any) is told.
 * Registering a command again replaces its callback.
 * @return 0, -EINVAL (bad name), -ENOSPC (table full).
 */
int dl_tel_register(const char *cmd, const char *help, dl_tel_fn fn, void *arg);

/**
 * Remove a command: after return no call of it runs and none will (a
 * client then gets an "error" answer). Unknown commands are ignored.
 */
void dl_tel_unregister(const char *cmd);

/**
 * Run command @p cmd into @p out (a fresh tree from dl_tel_new()).
 * @return the callback's result, or -ENOENT when no such command is
 *         registered now (an "error" entry says so in @p out).
 */
int dl_tel_call(const char *cmd, const char *params, struct dl_tel *out);

/**
 * The platform's hook: @p add is called for every command registered now
 * and later (the DPDK backend registers it with rte_telemetry). NULL
 * removes the hook.
 */
void dl_tel_set_backend(void (*add)(const char *cmd, const char *help));

#endif /* DL_TELEMETRY_H */
