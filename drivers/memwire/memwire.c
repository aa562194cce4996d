/*
 * memwire.c - in-memory wire backend (see dl_memwire.h).
 *
 * One pool of fixed 2 KiB buffers in a dl_region serves RX buffers and
 * header buffers of both sides. A transmitted dl_tx_pkt is flattened and
 * segmented by dl_tx_sw_segment() straight into fresh pool buffers queued
 * on the peer's FIFO; its header buffer then returns to the pool.
 *
 * Steering (rx_steer): a side may ask that TCP segments to a local port
 * land in buffers carved from another region (a steering pool), as a NIC
 * directs a flow to a queue whose mempool lives there. Buffer descriptors
 * of every pool share one array (pool 0 is the wire's own), so the FIFOs
 * hold plain indexes and a buffer knows the pool it returns to.
 */
#include "dl_memwire.h"
#include "dl_offload.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MW_BUF_SIZE 2048u

struct dl_buf {
	uint8_t *data;
	uint32_t len;
	uint32_t next; /* free list / FIFO link (index) */
	uint8_t scratch[DL_BUF_SCRATCH] __attribute__((aligned(8)));
	uint8_t pool; /* 0: the wire's pool, else a steering pool + 1 */
};

#define MW_STEER_POOLS 8
#define MW_STEER_PORTS 16
#define MW_STEER_BUFS 8192 /* buffer descriptors for every steering pool */

/* A steering pool: buffers in [off, off + len) of region r, for the TCP
 * ports listed, received by one side. */
struct mw_pool {
	bool used;
	int side;
	struct dl_region *r;
	size_t off;
	uint32_t free_head;
	uint16_t ports[MW_STEER_PORTS];
	unsigned nports;
	uint32_t first, nbufs; /* its descriptors */
};

struct mw_fifo {
	uint32_t *idx;
	uint32_t head, n;
};

struct mw_side {
	struct dl_nic nic; /* first: the HAL handle */
	struct dl_memwire *w;
	int side;
};

#define MW_MAX_QUEUES 16

struct dl_memwire {
	struct mw_side sides[2];
	struct dl_region *region;
	struct dl_buf *bufs; /* nbufs of the wire's pool, then MW_STEER_BUFS for steering */
	uint32_t nbufs, free_head, in_use;
	uint32_t steer_next; /* first steering descriptor not carved yet */
	struct mw_pool pools[MW_STEER_POOLS];
	uint32_t fifo_len;
	unsigned nq;
	/* fifo[i][q]: frames side i will receive on queue q */
	struct mw_fifo fifo[2][MW_MAX_QUEUES];
	uint64_t drops;
	uint8_t scratch[MW_BUF_SIZE];
};

#define MW_NONE 0xffffffffu

static bool mac_nonzero(const uint8_t m[6])
{
	return (m[0] | m[1] | m[2] | m[3] | m[4] | m[5]) != 0;
}

/* The free list of pool @p pool (0: the wire's). */
static uint32_t *free_list(struct dl_memwire *w, unsigned pool)
{
	return pool == 0 ? &w->free_head : &w->pools[pool - 1].free_head;
}

static struct dl_buf *buf_alloc_from(struct dl_memwire *w, unsigned pool)
{
	uint32_t *head = free_list(w, pool);
	struct dl_buf *b;

	if (*head == MW_NONE)
		return NULL;
	b = &w->bufs[*head];
	*head = b->next;
	b->next = MW_NONE;
	b->len = 0;
	w->in_use++;
	return b;
}

static struct dl_buf *buf_alloc(struct dl_memwire *w)
{
	return buf_alloc_from(w, 0);
}

static void buf_free(struct dl_memwire *w, struct dl_buf *b)
{
	uint32_t *head = free_list(w, b->pool);

	b->next = *head;
	*head = (uint32_t)(b - w->bufs);
	w->in_use--;
}

/* The steering pool (+1) a frame for @p side goes to, 0 when none: an IPv4
 * TCP segment to a steered port. */
static unsigned steer_pool(const struct dl_memwire *w, int side, const uint8_t *f, size_t len)
{
	size_t ihl;
	uint16_t port;

	if (len < 34 || f[12] != 0x08 || f[13] != 0x00 || f[23] != 6)
		return 0;
	ihl = (size_t)(f[14] & 0x0f) * 4;
	if (ihl < 20 || len < 14 + ihl + 4)
		return 0;
	port = (uint16_t)(f[14 + ihl + 2] << 8 | f[14 + ihl + 3]);
	for (unsigned p = 0; p < MW_STEER_POOLS; p++) {
		const struct mw_pool *pl = &w->pools[p];
		if (!pl->used || pl->side != side)
			continue;
		for (unsigned i = 0; i < pl->nports; i++)
			if (pl->ports[i] == port)
				return p + 1;
	}
	return 0;
}

/* Steer a frame to a queue like a multi-queue device without RSS: a hash
 * of the IPv4 addresses and ports that is NOT the stack's own flow hash,
 * so tests see frames reach the wrong network core. */
static unsigned steer(const struct dl_memwire *w, const uint8_t *f, size_t len)
{
	uint32_t h;

	if (w->nq == 1 || len < 38 || f[12] != 0x08 || f[13] != 0x00)
		return 0;
	h = (uint32_t)f[26] << 24 | (uint32_t)f[27] << 16 | (uint32_t)f[28] << 8 | f[29];
	h ^= (uint32_t)f[30] << 24 | (uint32_t)f[31] << 16 | (uint32_t)f[32] << 8 | f[33];
	h ^= (uint32_t)f[34] << 24 | (uint32_t)f[35] << 16 | (uint32_t)f[36] << 8 | f[37];
	h ^= h >> 16;
	h ^= h >> 7;
	return h % w->nq;
}

static int fifo_push(struct dl_memwire *w, int side, struct dl_buf *b)
{
	struct mw_fifo *f = &w->fifo[side][steer(w, b->data, b->len)];

	if (f->n == w->fifo_len)
		return -ENOBUFS;
	f->idx[(f->head + f->n) % w->fifo_len] = (uint32_t)(b - w->bufs);
	f->n++;
	return 0;
}

static struct dl_buf *fifo_pop(struct dl_memwire *w, int side, unsigned q)
{
	struct mw_fifo *f = &w->fifo[side][q];
	struct dl_buf *b;

	if (f->n == 0)
		return NULL;
	b = &w->bufs[f->idx[f->head]];
	f->head = (f->head + 1) % w->fifo_len;
	f->n--;
	return b;
}

/* Copy a frame into a new buffer on side's FIFO; drops are counted. */
static int deliver(struct dl_memwire *w, int side, const uint8_t *frame, size_t len)
{
	struct dl_buf *b;

	if (len > MW_BUF_SIZE)
		return -EMSGSIZE;
	b = buf_alloc_from(w, steer_pool(w, side, frame, len));
	if (b == NULL) {
		w->drops++;
		return -ENOBUFS;
	}
	memcpy(b->data, frame, len);
	b->len = (uint32_t)len;
	if (fifo_push(w, side, b) != 0) {
		buf_free(w, b);
		w->drops++;
		return -ENOBUFS;
	}
	return 0;
}

static struct mw_side *side_of(struct dl_nic *nic)
{
	return (struct mw_side *)nic;
}

static uint16_t mw_rx_burst(struct dl_nic *nic, uint16_t q, struct dl_rx_pkt *pkts, uint16_t n)
{
	struct mw_side *sd = side_of(nic);
	struct dl_memwire *w = sd->w;
	uint16_t i;

	for (i = 0; i < n; i++) {
		struct dl_buf *b = q < w->nq ? fifo_pop(w, sd->side, q) : NULL;
		if (b == NULL)
			break;
		pkts[i].data = b->data;
		pkts[i].len = b->len;
		pkts[i].hash = 0;
		pkts[i].flags = 0;
		pkts[i].region = b->pool == 0 ? w->region->id : w->pools[b->pool - 1].r->id;
		pkts[i].queue = q;
		pkts[i].scratch = b->scratch;
		pkts[i].buf = b;
	}
	return i;
}

struct emit_ctx {
	struct dl_memwire *w;
	int side;
};

static void emit_frame(void *arg, const uint8_t *frame, size_t len)
{
	struct emit_ctx *c = arg;

	deliver(c->w, c->side, frame, len);
}

static uint16_t mw_tx_burst(struct dl_nic *nic, uint16_t q, struct dl_tx_pkt *pkts, uint16_t n)
{
	struct mw_side *sd = side_of(nic);
	struct dl_memwire *w = sd->w;
	struct emit_ctx c = {w, 1 - sd->side};

	(void)q;
	for (uint16_t i = 0; i < n; i++) {
		/* Segments longer than one buffer cannot exist on this wire;
		 * dl_tx_sw_segment refuses them and the frame is dropped. */
		if (dl_tx_sw_segment(&pkts[i], pkts[i].hdr_data, w->scratch, sizeof(w->scratch),
				     emit_frame, &c) < 0)
			w->drops++;
		buf_free(w, pkts[i].hdr);
	}
	return n;
}

static struct dl_buf *mw_hdr_alloc(struct dl_nic *nic, uint16_t q, uint8_t **data, uint16_t *room)
{
	struct dl_buf *b = buf_alloc(side_of(nic)->w);

	(void)q;
	if (b == NULL)
		return NULL;
	*data = b->data;
	*room = MW_BUF_SIZE;
	return b;
}

static void mw_buf_free(struct dl_nic *nic, struct dl_buf *b)
{
	buf_free(side_of(nic)->w, b);
}

static int mw_link_get(struct dl_nic *nic, struct dl_link *link)
{
	(void)nic;
	link->up = true;
	link->full_duplex = true;
	link->speed_mbps = 0;
	return 0;
}

static int mw_stats_get(struct dl_nic *nic, struct dl_nic_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->rx_dropped = side_of(nic)->w->drops;
	return 0;
}

static void mw_close(struct dl_nic *nic)
{
	(void)nic;
}

static int mw_rx_steer(struct dl_nic *nic, uint16_t port, struct dl_region *r, size_t off,
		       size_t len)
{
	struct mw_side *sd = side_of(nic);
	struct dl_memwire *w = sd->w;
	struct mw_pool *pl = NULL, *free_pl = NULL;

	if (!(nic->caps & DL_NIC_CAP_RX_STEER))
		return -ENOTSUP; /* created with no_steer */
	if (r == NULL || off > r->len || len > r->len - off || port == 0)
		return -EINVAL;
	for (unsigned p = 0; p < MW_STEER_POOLS; p++) {
		struct mw_pool *c = &w->pools[p];
		if (!c->used) {
			free_pl = free_pl != NULL ? free_pl : c;
			continue;
		}
		if (c->side != sd->side)
			continue;
		for (unsigned i = 0; i < c->nports; i++)
			if (c->ports[i] == port)
				return -EEXIST;
		if (c->r == r && c->off == off)
			pl = c;
	}
	if (pl == NULL) {
		/* At most a quarter of the descriptors: several pools fit. */
		uint32_t n = (uint32_t)(len / MW_BUF_SIZE);
		n = n < MW_STEER_BUFS / 4 ? n : MW_STEER_BUFS / 4;

		if (free_pl == NULL || n == 0 || w->steer_next + n > w->nbufs + MW_STEER_BUFS)
			return -ENOSPC;
		pl = free_pl;
		*pl = (struct mw_pool){.used = true, .side = sd->side, .r = r, .off = off,
				       .free_head = MW_NONE, .first = w->steer_next, .nbufs = n};
		for (uint32_t k = 0; k < n; k++) {
			struct dl_buf *b = &w->bufs[w->steer_next + k];
			b->data = r->base + off + (size_t)k * MW_BUF_SIZE;
			b->pool = (uint8_t)(pl - w->pools + 1);
			b->next = k + 1 < n ? w->steer_next + k + 1 : MW_NONE;
		}
		pl->free_head = w->steer_next;
		w->steer_next += n;
	}
	if (pl->nports == MW_STEER_PORTS)
		return -ENOSPC;
	pl->ports[pl->nports++] = port;
	return 0;
}

/* The last port of a pool is gone: frames still queued in its buffers
 * are dropped (counted) and the pool is never used again, so its region
 * may go away once the stack returned what it holds. (Its descriptors are
 * not reused: a test wire steers a few times.) */
static void pool_retire(struct dl_memwire *w, unsigned pool)
{
	for (int s = 0; s < 2; s++) {
		for (unsigned q = 0; q < w->nq; q++) {
			struct mw_fifo *f = &w->fifo[s][q];
			uint32_t keep = 0;
			for (uint32_t k = 0; k < f->n; k++) {
				uint32_t i = f->idx[(f->head + k) % w->fifo_len];
				if (w->bufs[i].pool == pool) {
					buf_free(w, &w->bufs[i]);
					w->drops++;
				} else {
					f->idx[(f->head + keep++) % w->fifo_len] = i;
				}
			}
			f->n = keep;
		}
	}
	w->pools[pool - 1].used = false;
	w->pools[pool - 1].free_head = MW_NONE;
	/* The last pool carved gives its descriptors back. */
	if (w->pools[pool - 1].first + w->pools[pool - 1].nbufs == w->steer_next)
		w->steer_next = w->pools[pool - 1].first;
}

static int mw_rx_unsteer(struct dl_nic *nic, uint16_t port)
{
	struct mw_side *sd = side_of(nic);

	for (unsigned p = 0; p < MW_STEER_POOLS; p++) {
		struct mw_pool *c = &sd->w->pools[p];
		if (!c->used || c->side != sd->side)
			continue;
		for (unsigned i = 0; i < c->nports; i++) {
			if (c->ports[i] != port)
				continue;
			c->ports[i] = c->ports[--c->nports];
			if (c->nports == 0)
				pool_retire(sd->w, (unsigned)(c - sd->w->pools) + 1);
			return 0;
		}
	}
	return -ENOENT;
}

static const struct dl_nic_ops mw_ops = {
	.rx_burst = mw_rx_burst,
	.tx_burst = mw_tx_burst,
	.hdr_alloc = mw_hdr_alloc,
	.buf_free = mw_buf_free,
	.link_get = mw_link_get,
	.stats_get = mw_stats_get,
	.rx_steer = mw_rx_steer,
	.rx_unsteer = mw_rx_unsteer,
	.close = mw_close,
};

struct dl_memwire *dl_memwire_create(const struct dl_memwire_config *cfg)
{
	struct dl_memwire_config c = cfg ? *cfg : (struct dl_memwire_config){0};
	struct dl_memwire *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	w->nbufs = c.nbufs ? c.nbufs : 8192;
	w->fifo_len = c.fifo_len ? c.fifo_len : 4096;
	w->nq = c.nqueues == 0 ? 1 : c.nqueues > MW_MAX_QUEUES ? MW_MAX_QUEUES : c.nqueues;
	w->region = dl_region_create("memwire", (size_t)w->nbufs * MW_BUF_SIZE, 0);
	w->bufs = calloc(w->nbufs + MW_STEER_BUFS, sizeof(*w->bufs));
	w->steer_next = w->nbufs;
	if (w->region == NULL || w->bufs == NULL) {
		dl_memwire_destroy(w);
		return NULL;
	}
	for (int s = 0; s < 2; s++) {
		for (unsigned q = 0; q < w->nq; q++) {
			w->fifo[s][q].idx = calloc(w->fifo_len, sizeof(uint32_t));
			if (w->fifo[s][q].idx == NULL) {
				dl_memwire_destroy(w);
				return NULL;
			}
		}
	}
	for (uint32_t i = 0; i < w->nbufs; i++) {
		w->bufs[i].data = w->region->base + (size_t)i * MW_BUF_SIZE;
		w->bufs[i].next = i + 1 < w->nbufs ? i + 1 : MW_NONE;
	}
	w->free_head = 0;
	for (int s = 0; s < 2; s++) {
		struct dl_nic *nic = &w->sides[s].nic;
		static const uint8_t defmac[2][6] = {{2, 0, 0, 0, 0, 1}, {2, 0, 0, 0, 0, 2}};
		w->sides[s].w = w;
		w->sides[s].side = s;
		nic->ops = &mw_ops; /* no_steer: the capability is not offered */
		nic->name = s == 0 ? "memwire:0" : "memwire:1";
		memcpy(nic->mac, mac_nonzero(c.mac[s]) ? c.mac[s] : defmac[s], 6);
		nic->mtu = c.mtu ? c.mtu : 1500;
		nic->nb_queues = (uint16_t)w->nq;
		nic->caps = DL_NIC_CAP_TX_IP_CKSUM | DL_NIC_CAP_TX_L4_CKSUM | DL_NIC_CAP_MULTI_SEG |
			    DL_NIC_CAP_EXTBUF | (c.no_tso ? 0 : DL_NIC_CAP_TSO) |
			    (c.no_steer ? 0 : DL_NIC_CAP_RX_STEER);
		nic->rx_region = w->region->id;
		nic->tso_max = c.no_tso ? 0 : 65535;
		nic->reta_size = 0;
	}
	return w;
}

void dl_memwire_destroy(struct dl_memwire *w)
{
	if (w == NULL)
		return;
	dl_region_destroy(w->region);
	free(w->bufs);
	for (int s = 0; s < 2; s++)
		for (unsigned q = 0; q < MW_MAX_QUEUES; q++)
			free(w->fifo[s][q].idx);
	free(w);
}

struct dl_nic *dl_memwire_nic(struct dl_memwire *w, int side)
{
	return &w->sides[side & 1].nic;
}

int dl_memwire_inject(struct dl_memwire *w, int side, const uint8_t *frame, size_t len)
{
	return deliver(w, side & 1, frame, len);
}

size_t dl_memwire_pop(struct dl_memwire *w, int side, uint8_t *out, size_t cap)
{
	struct dl_buf *b = NULL;
	size_t n;

	for (unsigned q = 0; q < w->nq && b == NULL; q++)
		b = fifo_pop(w, side & 1, q);
	if (b == NULL)
		return 0;
	n = b->len;
	memcpy(out, b->data, n < cap ? n : cap);
	buf_free(w, b);
	return n;
}

unsigned dl_memwire_pending(const struct dl_memwire *w, int side)
{
	unsigned n = 0;

	for (unsigned q = 0; q < w->nq; q++)
		n += w->fifo[side & 1][q].n;
	return n;
}

unsigned dl_memwire_bufs_in_use(const struct dl_memwire *w)
{
	return w->in_use;
}

uint64_t dl_memwire_drops(const struct dl_memwire *w)
{
	return w->drops;
}
