/*
 * udn_priv.h - what fabric.c and udn.c share inside the UDN transport:
 * the fabric, its table, and per-core private state. Nothing outside
 * noc/udn includes it.
 */
#ifndef DL_UDN_PRIV_H
#define DL_UDN_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dl_hal.h"
#include "dl_stats.h"
#include "dl_tp.h"

/*
 * The fabric's table, the only memory a UDN fabric has: private for
 * dl_noc_fabric_create(), laid out in the caller's region by
 * dl_noc_fabric_create_in() and mapped by another process with
 * dl_noc_fabric_map(). Header and keys share the first pages (read-only
 * in a mapping process), the tile table has pages of its own (writable:
 * each core announces its tile there).
 */
#define DL_UDN_TABLE_MAGIC UINT64_C(0x314241464e44554c) /* "LUDNFAB1" */

struct udn_table {
	uint64_t magic;
	uint32_t ncores, words;
	uint64_t plan;	      /* hash of (ncores, words, links): both sides made the same plan */
	uint32_t fabric_id;   /* 1..255 */
	uint32_t key_off;     /* bytes from the table: uint32_t key[ncores][ncores] (0: no link) */
	uint32_t tile_off;    /* bytes from the table: core c's int32_t tile (-1: not announced) */
	uint32_t tile_stride; /* at tile_off + c * tile_stride (a page in a shared table) */
};

/* One core's private state in a fabric (from dl_tp_fabric_claim() to
 * dl_tp_fabric_release()). */
struct udn_core {
	uint64_t cnt[DL_UDN_NCNT];
	struct dl_counter_block blk;
	struct dl_tp_in *in;	       /* its in-side, once initialised */
	uint64_t *stage[DL_MAX_CORES]; /* per destination: a message sent in pieces */
	uint64_t *rxbuf[DL_MAX_CORES]; /* per source: the reassembly ring */
};

struct dl_noc_fabric {
	unsigned ncores, words, max_words;
	unsigned id;
	bool owns_id;  /* allocated here (create, create_in): destroy frees it */
	bool owns_mem; /* calloc'd table (create) */
	bool owns_map; /* mmap'd by dl_noc_fabric_map() */
	struct udn_table *tab;
	uint32_t *key;		  /* [ncores * ncores] */
	size_t len;		  /* bytes of the table (page multiple) */
	struct dl_region *region; /* create_in's region (not owned), else NULL */
	struct dl_coreset links[DL_MAX_CORES];
	struct dl_coreset has_ep;
	struct udn_core *core[DL_MAX_CORES];
};

/* udn.c: the tiles' shared state lives while a fabric does. */
void dl_udn_fabric_ref(void);
void dl_udn_fabric_unref(void);
/* udn.c: an in-side going away leaves its tile. */
void dl_udn_in_forget(struct dl_tp_in *in);
/* fabric.c: core @p core's entry in the tile table. */
int32_t *dl_udn_fabric_tile_slot(struct dl_noc_fabric *f, unsigned core);
/* udn.c: tiles of the grid (the last valid cpu + 1). */
unsigned dl_udn_grid_cpus(void);

#endif /* DL_UDN_PRIV_H */
