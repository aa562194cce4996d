/*
 * dlibos-kvs - a memcached-protocol key-value store on the DLibOS API
 * (the paper's §5.4 application), text and binary protocols detected per
 * connection, running unchanged in every execution mode.
 *
 *   dlibos-kvs [EAL args] -- --ip 10.0.0.2/24 [--port 11211] [--memory 64]
 *              [--max-conns 1024] [--scratch-kb 32]
 *
 * This file is the glue between the runtime and the runtime-free parts:
 *  - kvs_store.c: the items, in TX memory (one dlibos_tx_alloc'd arena of
 *    --memory MiB), shared by every application core;
 *  - kvs_conn.c: one session per connection (parsing, store operations,
 *    zero-copy responses, acknowledgement bookkeeping);
 *  - kvs_text.c, kvs_binary.c: the two protocols' parsers.
 * Each application core keeps its sessions in a connmap, a pool of session
 * structs and a slice of TX memory for their scratch rings, and counts what
 * it does: the counters are registered with the runtime (module "kvs",
 * printed on SIGUSR1 and at exit) and summed over cores by "stats"; the
 * store's gauges (items, evictions, ...) are printed at exit.
 */
#include <dlibos/dlibos.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/connmap.h"
#include "kvs_conn.h"
#include "kvs_store.h"

#define KVS_MAX_CORES 128

enum { OPT_PORT = 1000, OPT_MEMORY, OPT_MAX_CONNS, OPT_SCRATCH_KB };

static const struct dlibos_opt kvs_opts[] = {
    {"port", "P", "TCP port to serve (default 11211)", OPT_PORT},
    {"memory", "MB", "item memory in MiB, LRU eviction beyond (default 64)", OPT_MEMORY},
    {"max-conns", "N", "connections in all (shared among app cores, default 1024)", OPT_MAX_CONNS},
    {"scratch-kb", "KB", "response scratch ring per connection in KiB (default 32, min 16)",
     OPT_SCRATCH_KB},
};

static unsigned opt_port = 11211;
static size_t opt_memory = (size_t)64 << 20;
static unsigned opt_max_conns = 1024;
static uint32_t opt_ring = 32 * 1024;

struct kvs_core {
	struct kvs_env env;
	struct dlibos_counters *ctrs;
	struct connmap map;
	struct kvs_conn *conns;
	unsigned *free_idx; /* indices of unused sessions */
	unsigned nfree, nconns;
	uint8_t *rings;
};

static struct kvs_store *store;
static struct kvs_consts consts;
static char *consts_mem;
static void *arena;
static struct kvs_info info;
static struct kvs_core *cores[KVS_MAX_CORES];

static const struct kvs_io kvs_dlibos_io = {
    .send = dlibos_send,
    .recv_done = dlibos_recv_done,
    .close = dlibos_close,
};

/* ---- options ---------------------------------------------------------------- */

static int kvs_parse(int key, const char *value, char *err, size_t errlen)
{
	unsigned long long x;

	switch (key) {
	case OPT_PORT:
		if (dlibos_opt_uint("port", value, 1, 65535, &x, err, errlen) != 0)
			return -1;
		opt_port = (unsigned)x;
		return 0;
	case OPT_MEMORY:
		if (dlibos_opt_uint("memory", value, 2, 1 << 20, &x, err, errlen) != 0)
			return -1;
		opt_memory = (size_t)x << 20;
		return 0;
	case OPT_MAX_CONNS:
		if (dlibos_opt_uint("max-conns", value, 1, 1u << 20, &x, err, errlen) != 0)
			return -1;
		opt_max_conns = (unsigned)x;
		return 0;
	case OPT_SCRATCH_KB:
		if (dlibos_opt_uint("scratch-kb", value, KVS_RING_MIN / 1024, 4096, &x, err, errlen) !=
		    0)
			return -1;
		opt_ring = (uint32_t)x * 1024;
		return 0;
	}
	snprintf(err, errlen, "unknown option key %d", key);
	return -1;
}

static size_t kvs_tx_memory(void)
{
	/* The arena, a ring per connection (each core rounds its share up by
	 * one), the constant replies, slack for the allocator's headers. */
	return opt_memory + (size_t)opt_ring * ((size_t)opt_max_conns + KVS_MAX_CORES) +
	       kvs_consts_size() + ((size_t)4 << 20);
}

/* ---- process-wide start and stop ------------------------------------------- */

static uint64_t mono_us(void *arg)
{
	struct timespec ts;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void sum_counters(uint64_t out[KVS_NCNT], void *arg)
{
	(void)arg;
	memset(out, 0, sizeof(uint64_t) * KVS_NCNT);
	for (unsigned i = 0; i < KVS_MAX_CORES; i++) {
		struct kvs_core *kc = __atomic_load_n(&cores[i], __ATOMIC_ACQUIRE);
		if (kc == NULL)
			continue;
		for (unsigned j = 0; j < KVS_NCNT; j++)
			out[j] += __atomic_load_n(&kc->env.cnt[j], __ATOMIC_RELAXED);
	}
}

static int kvs_init(void)
{
	arena = dlibos_tx_alloc(opt_memory);
	consts_mem = dlibos_tx_alloc(kvs_consts_size());
	if (arena == NULL || consts_mem == NULL) {
		fprintf(stderr, "kvs: cannot allocate %zu MiB of TX memory for items\n",
			opt_memory >> 20);
		return -ENOMEM;
	}
	kvs_consts_init(&consts, consts_mem);
	uint64_t now = mono_us(NULL);
	struct kvs_store_conf sc = {
	    .mem_bytes = opt_memory,
	    .arena = arena,
	    .now_us = mono_us,
	    .unix_at_zero = (int64_t)time(NULL) - (int64_t)(now / 1000000u),
	    .lru_bump_us = 1000000,
	};
	store = kvs_store_create(&sc);
	if (store == NULL) {
		fprintf(stderr, "kvs: cannot create the item store\n");
		return -ENOMEM;
	}
	info = (struct kvs_info){
	    .pid = (int)getpid(),
	    .started = (int64_t)time(NULL),
	    .threads = dlibos_app_cores(),
	    .max_conns = opt_max_conns,
	    .port = opt_port,
	    .ring_size = opt_ring,
	    .lru_bump_us = sc.lru_bump_us,
	};
	return 0;
}

static void kvs_fini(void)
{
	struct kvs_store_stats ss;

	if (store != NULL) {
		kvs_store_stats(store, &ss);
		printf("kvs.curr_items %llu\nkvs.total_items %llu\nkvs.evictions %llu\n"
		       "kvs.reclaimed %llu\nkvs.slab_page_moves %llu\nkvs.alloc_failures %llu\n"
		       "kvs.items_unlinked_in_flight %llu\n",
		       (unsigned long long)ss.curr_items, (unsigned long long)ss.total_items,
		       (unsigned long long)ss.evictions, (unsigned long long)ss.reclaimed,
		       (unsigned long long)ss.page_moves, (unsigned long long)ss.alloc_fails,
		       (unsigned long long)ss.pending);
	}
	fflush(stdout);
	for (unsigned i = 0; i < KVS_MAX_CORES; i++) {
		struct kvs_core *kc = cores[i];
		if (kc == NULL)
			continue;
		cores[i] = NULL;
		dlibos_counters_unregister(kc->ctrs);
		dlibos_tx_free(kc->rings);
		free(kc);
	}
	kvs_store_destroy(store);
	store = NULL;
	dlibos_tx_free(arena);
	dlibos_tx_free(consts_mem);
}

/* ---- per application core ----------------------------------------------------- */

static int kvs_core_init(struct dlibos_core *c)
{
	unsigned idx = dlibos_core_index(c);
	unsigned n = opt_max_conns / dlibos_app_cores() + 1;
	struct kvs_core *kc;

	if (idx >= KVS_MAX_CORES)
		return -EINVAL;
	kc = calloc(1, sizeof(*kc));
	if (kc == NULL || connmap_init(&kc->map, n) != 0)
		goto nomem;
	kc->conns = calloc(n, sizeof(*kc->conns));
	kc->free_idx = calloc(n, sizeof(*kc->free_idx));
	kc->rings = dlibos_tx_alloc((size_t)opt_ring * n);
	if (kc->conns == NULL || kc->free_idx == NULL || kc->rings == NULL)
		goto nomem;
	kc->nconns = n;
	for (unsigned i = 0; i < n; i++)
		kc->free_idx[kc->nfree++] = n - 1 - i;
	kc->env = (struct kvs_env){
	    .store = store,
	    .k = &consts,
	    .io = &kvs_dlibos_io,
	    .core = c,
	    .info = &info,
	    .sum_counters = sum_counters,
	};
	dlibos_set_core_data(c, kc);
	kc->ctrs = dlibos_counters_register(c, "kvs", kvs_cnt_names, KVS_NCNT, kc->env.cnt);
	__atomic_store_n(&cores[idx], kc, __ATOMIC_RELEASE);
	return dlibos_listen(c, (uint16_t)opt_port, 1024);
nomem:
	fprintf(stderr, "kvs: app core %u: not enough memory for %u connections\n", idx, n);
	if (kc != NULL) {
		connmap_fini(&kc->map);
		free(kc->conns);
		free(kc->free_idx);
		if (kc->rings != NULL)
			dlibos_tx_free(kc->rings);
		free(kc);
	}
	return -ENOMEM;
}

/* Sessions still open at shutdown give their references back. The core
 * struct itself stays until kvs_fini (its counters are printed there). */
static void kvs_core_fini(struct dlibos_core *c)
{
	struct kvs_core *kc = dlibos_core_data(c);

	if (kc == NULL)
		return;
	for (size_t i = 0; i <= kc->map.mask; i++) {
		if (kc->map.slots[i].key == DLIBOS_CONN_NONE)
			continue;
		kvs_conn_fini(kc->map.slots[i].val);
	}
	connmap_fini(&kc->map);
	free(kc->conns);
	kc->conns = NULL;
	free(kc->free_idx);
	kc->free_idx = NULL;
}

static struct kvs_conn *conn_of(struct dlibos_core *c, dlibos_conn_t conn)
{
	struct kvs_core *kc = dlibos_core_data(c);

	return kc != NULL ? connmap_get(&kc->map, conn) : NULL;
}

static void on_new_conn(struct dlibos_core *c, dlibos_conn_t conn,
			const struct dlibos_conn_info *ci)
{
	struct kvs_core *kc = dlibos_core_data(c);

	(void)ci;
	if (kc->nfree == 0) {
		kc->env.cnt[KVS_CNT_CONN_REJECTED]++;
		dlibos_close(c, conn);
		return;
	}
	unsigned i = kc->free_idx[--kc->nfree];
	struct kvs_conn *kconn = &kc->conns[i];
	if (connmap_put(&kc->map, conn, kconn) != 0) {
		kc->nfree++;
		kc->env.cnt[KVS_CNT_CONN_REJECTED]++;
		dlibos_close(c, conn);
		return;
	}
	kvs_conn_init(kconn, &kc->env, conn, kc->rings + (size_t)i * opt_ring, opt_ring);
	dlibos_accept(c, conn);
}

static void on_new_data(struct dlibos_core *c, dlibos_conn_t conn, const struct dlibos_iov *iov,
			unsigned n)
{
	struct kvs_conn *kconn = conn_of(c, conn);

	if (kconn != NULL)
		kvs_conn_data(kconn, iov, n);
}

static void on_data_acked(struct dlibos_core *c, dlibos_conn_t conn, uint32_t bytes)
{
	struct kvs_conn *kconn = conn_of(c, conn);

	if (kconn != NULL)
		kvs_conn_acked(kconn, bytes);
}

static void on_remote_closed(struct dlibos_core *c, dlibos_conn_t conn,
			     enum dlibos_close_reason why)
{
	struct kvs_conn *kconn = conn_of(c, conn);

	if (kconn != NULL)
		kvs_conn_remote_closed(kconn, why != DLIBOS_CLOSED_FIN);
}

static void on_cleanup(struct dlibos_core *c, dlibos_conn_t conn)
{
	struct kvs_core *kc = dlibos_core_data(c);
	struct kvs_conn *kconn = connmap_del(&kc->map, conn);

	if (kconn == NULL)
		return;
	kvs_conn_fini(kconn);
	kc->free_idx[kc->nfree++] = (unsigned)(kconn - kc->conns);
}

static void on_cmd_error(struct dlibos_core *c, dlibos_conn_t conn, enum dlibos_cmd cmd, int err,
			 uint64_t context)
{
	struct kvs_conn *kconn;

	if (cmd == DLIBOS_CMD_LISTEN) {
		fprintf(stderr, "kvs: app core %u: cannot listen on port %llu: %s\n",
			dlibos_core_index(c), (unsigned long long)context, strerror(err));
		return;
	}
	kconn = conn_of(c, conn);
	if (kconn != NULL && cmd != DLIBOS_CMD_CLOSE)
		kvs_conn_failed(kconn);
}

static const struct dlibos_app kvs_app = {
    .name = "kvs",
    .summary = "memcached-protocol key-value store (text and binary) on DLibOS",
    .options = kvs_opts,
    .n_options = sizeof(kvs_opts) / sizeof(kvs_opts[0]),
    .parse_opt = kvs_parse,
    .init = kvs_init,
    .fini = kvs_fini,
    .tx_memory = kvs_tx_memory,
    .core_init = kvs_core_init,
    .core_fini = kvs_core_fini,
    .cb =
	{
	    .new_conn = on_new_conn,
	    .new_data = on_new_data,
	    .data_acked = on_data_acked,
	    .remote_closed = on_remote_closed,
	    .cleanup = on_cleanup,
	    .cmd_error = on_cmd_error,
	},
};

int main(int argc, char **argv)
{
	return dlibos_main(argc, argv, &kvs_app);
}
