/*
 * nic.c - the DPDK ethdev backend of the HAL NIC (struct dl_nic_ops).
 *
 * Port: N RX/TX queue pairs, one per net core. Offloads are enabled when
 * dev_info offers them; what the device cannot do is done here in software
 * (dl_offload.h), so the stack always just asks.
 *
 * RX: mbuf data lives in a dl_region ("rx"): the region is registered as
 * external memory (rte_extmem_register) and the pool is built over it with
 * rte_pktmbuf_pool_create_extbuf (pinned external buffers), so a payload
 * can be named (region, offset) and, in protected mode, mapped read-only
 * into applications. The mbuf private area is the descriptor's scratch.
 * If this is impossible (IOVA-as-PA mode, or a PMD refusing the pool), a
 * normal pool is used, a warning printed, and rx_region is DL_REGION_NONE.
 *
 * TX: a header mbuf from the net-private header pool, chained with one
 * external-buffer mbuf per payload fragment (rte_pktmbuf_attach_extbuf on
 * the fragment, IOVA = region iova + offset, one shared-info per queue and
 * region whose free callback does nothing: the memory is the
 * application's, TCP decides when it may be reused). Fragments in private
 * memory (DL_REGION_NONE) or in a region not registered with mem_register
 * are copied into the header mbuf's tailroom (or a further header mbuf).
 * A packet the port cannot send as a chain (no multi-segment TX, too many
 * segments, or TSO without hardware TSO) is cut and flattened in software
 * by dl_tx_sw_segment() into plain frames.
 *
 * Counters: module "dpdk", one block per queue; port totals via stats_get.
 */
#define ALLOW_EXPERIMENTAL_API 1

#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_memory.h>

#include "dl_log.h"
#include "dl_offload.h"
#include "dl_platform.h"
#include "dl_dpdk.h"
#include "dl_stats.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BUF_DATA     2048u			       /* data bytes per RX/header buffer */
#define RX_ELT	     (RTE_PKTMBUF_HEADROOM + BUF_DATA) /* one RX buffer in the region */
#define PRIV_SIZE    RTE_ALIGN(DL_BUF_SCRATCH, RTE_MBUF_PRIV_ALIGN)
#define POOL_CACHE   256u
#define MAX_RX_BURST 64u
#define MAX_TX_MBUFS 512u /* mbufs built per tx_burst call */
#define TX_RETRIES   8
#define EXT_CHUNK    65535u /* largest extbuf (buf_len is 16 bits) */

enum dq_cnt {
	DQ_RX_OVERSIZE,
	DQ_TX_SW_CKSUM,
	DQ_TX_SW_TSO,
	DQ_TX_FLATTENED,
	DQ_TX_HDR_NOBUF,
	DQ_TX_FRAG_NOBUF,
	DQ_TX_PRIVATE_COPIES,
	DQ_TX_UNREGISTERED_COPIES,
	DQ_TX_RING_FULL_DROPS,
	DQ_TX_DROP_TOO_LONG,
	DQ_NCNT
};

static const char *const dq_cnt_names[DQ_NCNT] = {
    [DQ_RX_OVERSIZE] = "rx_drop_oversize",
    [DQ_TX_SW_CKSUM] = "tx_sw_cksum",
    [DQ_TX_SW_TSO] = "tx_sw_tso",
    [DQ_TX_FLATTENED] = "tx_flattened",
    [DQ_TX_HDR_NOBUF] = "tx_hdr_nobuf",
    [DQ_TX_FRAG_NOBUF] = "tx_frag_nobuf",
    [DQ_TX_PRIVATE_COPIES] = "tx_private_fragment_copies",
    [DQ_TX_UNREGISTERED_COPIES] = "tx_unregistered_fragment_copies",
    [DQ_TX_RING_FULL_DROPS] = "tx_drop_ring_full",
    [DQ_TX_DROP_TOO_LONG] = "tx_drop_too_long",
};

/* Per-queue state: touched by the queue's core only. */
struct dq {
	uint64_t cnt[DQ_NCNT];
	struct dl_counter_block blk;
	struct rte_mbuf_ext_shared_info shinfo[DL_REGION_MAX];
	uint8_t seg_scratch[BUF_DATA];
} __rte_cache_aligned;

struct dpdk_nic {
	struct dl_nic nic; /* first: the HAL handle */
	uint16_t port;
	int socket;
	char name[64];
	struct rte_mempool *rx_pool, *hdr_pool, *frag_pool;
	struct dl_region *rx_reg; /* NULL when RX uses a normal pool */
	bool rx_reg_registered;
	bool iova_va;
	bool multi_seg;
	bool hw_ip, hw_tcp, hw_udp, hw_tso;
	/* net_tap (DPDK 22.11) sums the L4 checksum segment by segment without
	 * carrying an odd length over: chains whose non-final payload segment
	 * has an odd length go the software path instead. */
	bool l4_cksum_odd_segs_broken;
	uint16_t max_segs;
	bool started;
	struct dq *q;
	/* Regions usable as TX fragments without a copy (id -> region). */
	struct dl_region *tx_reg[DL_REGION_MAX];
	bool tx_reg_ours[DL_REGION_MAX]; /* registered by mem_register (undo at close) */
};

static struct dpdk_nic *dn_of(struct dl_nic *nic)
{
	return (struct dpdk_nic *)nic;
}

static void ext_free_noop(void *addr, void *opaque)
{
	(void)addr;
	(void)opaque;
}

/* ------------------------------------------------------------------------ */
/* RX                                                                       */
/* ------------------------------------------------------------------------ */

static uint32_t rx_flags(const struct rte_mbuf *m)
{
	uint32_t f = 0;
	uint64_t ip = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
	uint64_t l4 = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;

	if (m->ol_flags & RTE_MBUF_F_RX_RSS_HASH)
		f |= DL_RX_HASH_VALID;
	if (ip == RTE_MBUF_F_RX_IP_CKSUM_GOOD)
		f |= DL_RX_L3_CSUM_GOOD;
	else if (ip == RTE_MBUF_F_RX_IP_CKSUM_BAD)
		f |= DL_RX_L3_CSUM_BAD;
	if (l4 == RTE_MBUF_F_RX_L4_CKSUM_GOOD)
		f |= DL_RX_L4_CSUM_GOOD;
	else if (l4 == RTE_MBUF_F_RX_L4_CKSUM_BAD)
		f |= DL_RX_L4_CSUM_BAD;
	return f;
}

static uint16_t dpdk_rx_burst(struct dl_nic *nic, uint16_t q, struct dl_rx_pkt *pkts, uint16_t n)
{
	struct dpdk_nic *dn = dn_of(nic);
	struct rte_mbuf *mb[MAX_RX_BURST];
	uint16_t got, out = 0;

	if (n > MAX_RX_BURST)
		n = MAX_RX_BURST;
	got = rte_eth_rx_burst(dn->port, q, mb, n);
	for (uint16_t i = 0; i < got; i++) {
		struct rte_mbuf *m = mb[i];
		struct dl_rx_pkt *p = &pkts[out];

		if (m->nb_segs != 1) {
			dn->q[q].cnt[DQ_RX_OVERSIZE]++;
			rte_pktmbuf_free(m);
			continue;
		}
		p->data = rte_pktmbuf_mtod(m, uint8_t *);
		p->len = m->data_len;
		p->hash = m->hash.rss;
		p->flags = rx_flags(m);
		p->region = dn->nic.rx_region;
		p->queue = q;
		p->scratch = rte_mbuf_to_priv(m);
		p->buf = (struct dl_buf *)m;
		out++;
	}
	return out;
}

/* ------------------------------------------------------------------------ */
/* TX                                                                       */
/* ------------------------------------------------------------------------ */

/* Where built mbufs go during one tx_burst call. */
struct tx_out {
	struct rte_mbuf **mb;
	unsigned n, cap;
};

static bool out_push(struct tx_out *o, struct rte_mbuf *m)
{
	if (o->n == o->cap)
		return false;
	o->mb[o->n++] = m;
	return true;
}

struct seg_ctx {
	struct dpdk_nic *dn;
	struct dq *dq;
	struct tx_out *out;
	bool failed;
};

/* dl_tx_sw_segment callback: one finished flat frame into a fresh mbuf. */
static void emit_flat(void *arg, const uint8_t *frame, size_t len)
{
	struct seg_ctx *c = arg;
	struct rte_mbuf *m;
	char *dst;

	if (c->failed)
		return;
	m = rte_pktmbuf_alloc(c->dn->hdr_pool);
	if (m == NULL) {
		c->dq->cnt[DQ_TX_HDR_NOBUF]++;
		c->failed = true;
		return;
	}
	dst = rte_pktmbuf_append(m, (uint16_t)len);
	if (dst == NULL || !out_push(c->out, m)) {
		c->dq->cnt[DQ_TX_DROP_TOO_LONG] += dst == NULL;
		rte_pktmbuf_free(m);
		c->failed = true;
		return;
	}
	memcpy(dst, frame, len);
}

/*
 * Software path: cut (if TSO) and flatten into plain frames with every
 * checksum filled. The header buffer is consumed. Frames that could not be
 * built are dropped (counted); the packet counts as accepted.
 */
static void tx_flat(struct dpdk_nic *dn, struct dq *dq, struct dl_tx_pkt *p, struct tx_out *o)
{
	struct seg_ctx c = {dn, dq, o, false};
	unsigned before = o->n;
	int n;

	n = dl_tx_sw_segment(p, p->hdr_data, dq->seg_scratch, sizeof(dq->seg_scratch), emit_flat,
			     &c);
	if (n < 0)
		dq->cnt[DQ_TX_DROP_TOO_LONG]++;
	else if (n > 1 || (p->ol_flags & DL_TX_TSO))
		dq->cnt[DQ_TX_SW_TSO]++;
	else
		dq->cnt[DQ_TX_FLATTENED]++;
	if (n >= 0 &&
	    (p->ol_flags & (DL_TX_IP_CKSUM | DL_TX_TCP_CKSUM | DL_TX_UDP_CKSUM | DL_TX_ICMP_CKSUM)))
		dq->cnt[DQ_TX_SW_CKSUM]++;
	if (c.failed) {
		/* Keep whole packets only: drop the frames of a partial cut. */
		while (o->n > before)
			rte_pktmbuf_free(o->mb[--o->n]);
	}
	rte_pktmbuf_free((struct rte_mbuf *)p->hdr);
}

/* Append to the chain: copy bytes into direct (header-pool) mbufs. */
static int chain_copy(struct dpdk_nic *dn, struct dq *dq, struct rte_mbuf *head,
		      struct rte_mbuf **last, const uint8_t *data, uint32_t len)
{
	while (len > 0) {
		struct rte_mbuf *l = *last;
		uint16_t room = RTE_MBUF_HAS_EXTBUF(l) ? 0 : rte_pktmbuf_tailroom(l);

		if (room == 0) {
			struct rte_mbuf *m = rte_pktmbuf_alloc(dn->hdr_pool);
			if (m == NULL) {
				dq->cnt[DQ_TX_HDR_NOBUF]++;
				return -1;
			}
			l->next = m;
			head->nb_segs++;
			*last = l = m;
			room = rte_pktmbuf_tailroom(m);
		}
		uint16_t take = len < room ? (uint16_t)len : room;
		memcpy(rte_pktmbuf_mtod_offset(l, uint8_t *, l->data_len), data, take);
		l->data_len = (uint16_t)(l->data_len + take);
		head->pkt_len += take;
		data += take;
		len -= take;
	}
	return 0;
}

/* Append to the chain: reference registered memory with extbuf mbufs. */
static int chain_ext(struct dpdk_nic *dn, struct dq *dq, struct rte_mbuf *head,
		     struct rte_mbuf **last, const struct dl_region *r, const uint8_t *data,
		     uint32_t len)
{
	struct rte_mbuf_ext_shared_info *sh = &dq->shinfo[r->id];

	while (len > 0) {
		uint16_t take = len < EXT_CHUNK ? (uint16_t)len : (uint16_t)EXT_CHUNK;
		struct rte_mbuf *m = rte_pktmbuf_alloc(dn->frag_pool);

		if (m == NULL) {
			dq->cnt[DQ_TX_FRAG_NOBUF]++;
			return -1;
		}
		rte_mbuf_ext_refcnt_update(sh, 1);
		rte_pktmbuf_attach_extbuf(m, (void *)(uintptr_t)data,
					  r->iova + (uint64_t)(data - r->base), take, sh);
		m->data_len = take;
		(*last)->next = m;
		*last = m;
		head->nb_segs++;
		head->pkt_len += take;
		data += take;
		len -= take;
	}
	return 0;
}

/* The region a fragment may be referenced from without a copy, or NULL. */
static const struct dl_region *frag_region(struct dpdk_nic *dn, struct dq *dq,
					   const struct dl_tx_frag *f)
{
	const struct dl_region *r;

	if (f->region == DL_REGION_NONE) {
		dq->cnt[DQ_TX_PRIVATE_COPIES]++;
		return NULL;
	}
	r = f->region < DL_REGION_MAX ? dn->tx_reg[f->region] : NULL;
	if (r == NULL || !dl_region_contains(r, (uint64_t)(f->data - r->base), f->len)) {
		dq->cnt[DQ_TX_UNREGISTERED_COPIES]++;
		return NULL;
	}
	return r;
}

/* Request hardware offloads in the mbuf; return what is left for software. */
static uint16_t tx_hw_offload(struct dpdk_nic *dn, const struct dl_tx_pkt *p, struct rte_mbuf *m,
			      bool tso)
{
	uint16_t want = p->ol_flags, sw = 0;
	uint64_t olf = 0;

	if (want & DL_TX_IP_CKSUM) {
		if (dn->hw_ip)
			olf |= RTE_MBUF_F_TX_IP_CKSUM;
		else
			sw |= DL_TX_IP_CKSUM;
	}
	if (want & DL_TX_TCP_CKSUM) {
		if (dn->hw_tcp)
			olf |= RTE_MBUF_F_TX_TCP_CKSUM;
		else
			sw |= DL_TX_TCP_CKSUM;
	}
	if (want & DL_TX_UDP_CKSUM) {
		if (dn->hw_udp)
			olf |= RTE_MBUF_F_TX_UDP_CKSUM;
		else
			sw |= DL_TX_UDP_CKSUM;
	}
	if (want & DL_TX_ICMP_CKSUM)
		sw |= DL_TX_ICMP_CKSUM; /* no device does ICMP */
	if (tso) {
		olf |= RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_TCP_CKSUM;
		sw &= (uint16_t) ~(DL_TX_IP_CKSUM | DL_TX_TCP_CKSUM);
		m->tso_segsz = p->tso_segsz;
	}
	if (olf != 0) {
		struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(p->hdr_data + p->l2_len);
		uint8_t *l4 = p->hdr_data + p->l2_len + p->l3_len;

		olf |= RTE_MBUF_F_TX_IPV4;
		m->l2_len = p->l2_len;
		m->l3_len = p->l3_len;
		m->l4_len = p->l4_len;
		/* The device wants the pseudo-header sum in the L4 field. */
		if (olf & (RTE_MBUF_F_TX_TCP_CKSUM | RTE_MBUF_F_TX_TCP_SEG)) {
			uint16_t ph = rte_ipv4_phdr_cksum(ip, olf);
			memcpy(l4 + 16, &ph, 2);
		} else if (olf & RTE_MBUF_F_TX_UDP_CKSUM) {
			uint16_t ph = rte_ipv4_phdr_cksum(ip, olf);
			memcpy(l4 + 6, &ph, 2);
		}
	}
	m->ol_flags |= olf;
	return sw;
}

/* Undo a partly built chain: the header mbuf goes back to the caller. */
static void chain_undo(struct rte_mbuf *head)
{
	if (head->next != NULL)
		rte_pktmbuf_free(head->next);
	head->next = NULL;
	head->nb_segs = 1;
	head->data_len = 0;
	head->pkt_len = 0;
	head->ol_flags = 0;
}

/* Frames the software path makes of a packet. */
static size_t flat_frames(const struct dl_tx_pkt *p, size_t payload, bool need_seg)
{
	return need_seg ? (payload + p->tso_segsz - 1) / p->tso_segsz : 1;
}

enum tx_verdict {
	TX_DONE,     /* accepted: queued in o, or dropped and counted */
	TX_OUT_FULL, /* o has no room: send what it holds, then try again */
	TX_NO_MBUF,  /* a pool is empty: the caller keeps the packet */
};

/*
 * Build one packet into o: one chain (header mbuf + fragment mbufs), or
 * the flat frames of the software path. On TX_NO_MBUF the packet is left
 * as it was but for checksum fields, which a retry rewrites.
 */
static enum tx_verdict tx_one(struct dpdk_nic *dn, struct dq *dq, struct dl_tx_pkt *p,
			      struct tx_out *o)
{
	struct rte_mbuf *head = (struct rte_mbuf *)p->hdr, *last = head;
	size_t payload = dl_tx_payload_len(p);
	bool need_seg = (p->ol_flags & DL_TX_TSO) && p->tso_segsz > 0 && payload > p->tso_segsz;
	bool tso = need_seg && dn->hw_tso && p->l3_len > 0;
	unsigned segs = 1;
	uint16_t sw;
	bool odd_inner = false;

	for (unsigned i = 0; i < p->nfrags; i++) {
		segs += 1 + p->frag[i].len / EXT_CHUNK;
		odd_inner |= i + 1 < p->nfrags && (p->frag[i].len & 1);
	}
	if ((need_seg && !tso) || (p->nfrags > 0 && !dn->multi_seg) || segs > dn->max_segs ||
	    p->hdr_len > rte_pktmbuf_tailroom(head) ||
	    (odd_inner && dn->l4_cksum_odd_segs_broken &&
	     (p->ol_flags & (DL_TX_TCP_CKSUM | DL_TX_UDP_CKSUM)))) {
		size_t frames = flat_frames(p, payload, need_seg);
		if (frames > o->cap) {
			dq->cnt[DQ_TX_DROP_TOO_LONG]++; /* tso_segsz absurdly small */
			rte_pktmbuf_free(head);
			return TX_DONE;
		}
		if (frames > o->cap - o->n)
			return TX_OUT_FULL;
		tx_flat(dn, dq, p, o);
		return TX_DONE;
	}
	if (o->n == o->cap)
		return TX_OUT_FULL;
	head->data_len = p->hdr_len;
	head->pkt_len = p->hdr_len;
	sw = p->l3_len > 0 ? tx_hw_offload(dn, p, head, tso) : 0;
	if (sw != 0) {
		struct dl_tx_pkt tmp = *p;
		tmp.ol_flags = sw;
		dl_tx_sw_cksum(&tmp, p->hdr_data);
		dq->cnt[DQ_TX_SW_CKSUM]++;
	}
	for (unsigned i = 0; i < p->nfrags; i++) {
		const struct dl_tx_frag *f = &p->frag[i];
		const struct dl_region *r = frag_region(dn, dq, f);
		int rc = r != NULL ? chain_ext(dn, dq, head, &last, r, f->data, f->len)
				   : chain_copy(dn, dq, head, &last, f->data, f->len);
		if (rc != 0) {
			chain_undo(head);
			return TX_NO_MBUF;
		}
	}
	if (head->nb_segs > dn->max_segs) {
		/* Copies spilled into extra mbufs: send it flat instead. */
		chain_undo(head);
		if (flat_frames(p, payload, need_seg) > o->cap - o->n)
			return TX_OUT_FULL;
		tx_flat(dn, dq, p, o);
		return TX_DONE;
	}
	out_push(o, head);
	return TX_DONE;
}

/* Hand o's mbufs to the device. A full ring gets a few more chances; then
 * the rest is dropped and counted (TCP retransmits). */
static void tx_send(struct dpdk_nic *dn, uint16_t q, struct dq *dq, struct tx_out *o)
{
	unsigned sent = 0;

	for (int t = 0; sent < o->n && t < TX_RETRIES; t++)
		sent += rte_eth_tx_burst(dn->port, q, o->mb + sent, (uint16_t)(o->n - sent));
	if (sent < o->n) {
		dq->cnt[DQ_TX_RING_FULL_DROPS] += o->n - sent;
		rte_pktmbuf_free_bulk(o->mb + sent, o->n - sent);
	}
	o->n = 0;
}

static uint16_t dpdk_tx_burst(struct dl_nic *nic, uint16_t q, struct dl_tx_pkt *pkts, uint16_t n)
{
	struct dpdk_nic *dn = dn_of(nic);
	struct dq *dq = &dn->q[q];
	struct rte_mbuf *mb[MAX_TX_MBUFS];
	struct tx_out o = {mb, 0, MAX_TX_MBUFS};
	uint16_t i = 0;

	while (i < n) {
		enum tx_verdict v = tx_one(dn, dq, &pkts[i], &o);
		if (v == TX_DONE)
			i++;
		else if (v == TX_OUT_FULL) {
			assert(o.n > 0); /* so sending it makes progress */
			tx_send(dn, q, dq, &o);
		} else
			break;
	}
	tx_send(dn, q, dq, &o);
	return i;
}

static struct dl_buf *dpdk_hdr_alloc(struct dl_nic *nic, uint16_t q, uint8_t **data, uint16_t *room)
{
	struct dpdk_nic *dn = dn_of(nic);
	struct rte_mbuf *m = rte_pktmbuf_alloc(dn->hdr_pool);

	if (m == NULL) {
		dn->q[q].cnt[DQ_TX_HDR_NOBUF]++;
		return NULL;
	}
	*data = rte_pktmbuf_mtod(m, uint8_t *);
	*room = rte_pktmbuf_tailroom(m);
	return (struct dl_buf *)m;
}

static void dpdk_buf_free(struct dl_nic *nic, struct dl_buf *b)
{
	(void)nic;
	rte_pktmbuf_free((struct rte_mbuf *)b);
}

/* ------------------------------------------------------------------------ */
/* Control                                                                  */
/* ------------------------------------------------------------------------ */

static int dpdk_link_get(struct dl_nic *nic, struct dl_link *link)
{
	struct rte_eth_link l;
	int rc = rte_eth_link_get_nowait(dn_of(nic)->port, &l);

	if (rc != 0)
		return rc;
	link->up = l.link_status == RTE_ETH_LINK_UP;
	link->full_duplex = l.link_duplex == RTE_ETH_LINK_FULL_DUPLEX;
	link->speed_mbps = l.link_speed == RTE_ETH_SPEED_NUM_UNKNOWN ? 0 : l.link_speed;
	return 0;
}

static uint64_t sum_cnt(const struct dpdk_nic *dn, enum dq_cnt c)
{
	uint64_t s = 0;

	for (unsigned q = 0; q < dn->nic.nb_queues; q++)
		s += __atomic_load_n(&dn->q[q].cnt[c], __ATOMIC_RELAXED);
	return s;
}

static int dpdk_stats_get(struct dl_nic *nic, struct dl_nic_stats *st)
{
	struct dpdk_nic *dn = dn_of(nic);
	struct rte_eth_stats es;
	int rc = rte_eth_stats_get(dn->port, &es);

	memset(st, 0, sizeof(*st));
	if (rc == 0) {
		st->rx_packets = es.ipackets;
		st->rx_bytes = es.ibytes;
		st->rx_dropped = es.imissed;
		st->rx_errors = es.ierrors;
		st->rx_nombuf = es.rx_nombuf;
		st->tx_packets = es.opackets;
		st->tx_bytes = es.obytes;
		st->tx_errors = es.oerrors;
	}
	st->tx_dropped = sum_cnt(dn, DQ_TX_RING_FULL_DROPS) + sum_cnt(dn, DQ_TX_DROP_TOO_LONG);
	st->tx_sw_cksum = sum_cnt(dn, DQ_TX_SW_CKSUM);
	st->tx_sw_tso = sum_cnt(dn, DQ_TX_SW_TSO);
	st->tx_hdr_nobuf = sum_cnt(dn, DQ_TX_HDR_NOBUF);
	st->tx_frag_nobuf = sum_cnt(dn, DQ_TX_FRAG_NOBUF);
	st->rx_oversize = sum_cnt(dn, DQ_RX_OVERSIZE);
	return rc;
}

static int dpdk_rss_config(struct dl_nic *nic, const uint8_t key[40], const uint16_t *reta,
			   unsigned reta_size)
{
	struct dpdk_nic *dn = dn_of(nic);
	struct rte_eth_rss_conf rc = {
	    .rss_key = (uint8_t *)(uintptr_t)key,
	    .rss_key_len = 40,
	    .rss_hf =
		RTE_ETH_RSS_NONFRAG_IPV4_TCP | RTE_ETH_RSS_NONFRAG_IPV4_UDP | RTE_ETH_RSS_IPV4,
	};
	struct rte_eth_rss_reta_entry64 conf[RTE_ETH_RSS_RETA_SIZE_512 / RTE_ETH_RETA_GROUP_SIZE];
	struct rte_eth_dev_info di;
	int rc2;

	if (!(nic->caps & DL_NIC_CAP_RSS))
		return -ENOTSUP;
	if (rte_eth_dev_info_get(dn->port, &di) != 0 || reta_size != di.reta_size ||
	    reta_size > RTE_ETH_RSS_RETA_SIZE_512)
		return -EINVAL;
	rc.rss_hf &= di.flow_type_rss_offloads;
	rc2 = rte_eth_dev_rss_hash_update(dn->port, &rc);
	if (rc2 != 0)
		return rc2;
	memset(conf, 0, sizeof(conf));
	for (unsigned i = 0; i < reta_size; i++) {
		if (reta[i] >= nic->nb_queues)
			return -EINVAL;
		conf[i / RTE_ETH_RETA_GROUP_SIZE].mask |= 1ull << (i % RTE_ETH_RETA_GROUP_SIZE);
		conf[i / RTE_ETH_RETA_GROUP_SIZE].reta[i % RTE_ETH_RETA_GROUP_SIZE] = reta[i];
	}
	return rte_eth_dev_rss_reta_update(dn->port, conf, (uint16_t)reta_size);
}

/* Register [base, base+len) as external memory with IOVA = VA pages. */
static int extmem_register(const struct dl_region *r)
{
	unsigned n_pages = (unsigned)(r->len / r->page_size);
	rte_iova_t *iovas = calloc(n_pages, sizeof(*iovas));
	int rc;

	if (iovas == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < n_pages; i++)
		iovas[i] = (rte_iova_t)(uintptr_t)(r->base + (size_t)i * r->page_size);
	rc = rte_extmem_register(r->base, r->len, iovas, n_pages, r->page_size);
	free(iovas);
	if (rc != 0 && rte_errno != EEXIST)
		return -rte_errno;
	return 0;
}

static struct rte_device *port_device(uint16_t port)
{
	struct rte_eth_dev_info di;

	if (rte_eth_dev_info_get(port, &di) != 0)
		return NULL;
	return di.device;
}

static int dpdk_mem_register(struct dl_nic *nic, struct dl_region *r)
{
	struct dpdk_nic *dn = dn_of(nic);
	struct rte_device *dev = port_device(dn->port);
	int rc;

	if (r == NULL || r->id >= DL_REGION_MAX)
		return -EINVAL;
	if (!dn->iova_va)
		return -ENOTSUP; /* 4 KiB region pages have no contiguous PA */
	rc = extmem_register(r);
	if (rc != 0)
		return rc;
	/* Devices behind an IOMMU need the mapping; vdevs say ENOTSUP. */
	if (dev != NULL &&
	    rte_dev_dma_map(dev, r->base, (uint64_t)(uintptr_t)r->base, r->len) != 0 &&
	    rte_errno != ENOTSUP && rte_errno != EEXIST) {
		rc = -rte_errno;
		rte_extmem_unregister(r->base, r->len);
		return rc;
	}
	r->iova = (uint64_t)(uintptr_t)r->base;
	dn->tx_reg[r->id] = r;
	dn->tx_reg_ours[r->id] = true;
	return 0;
}

static int dpdk_mem_unregister(struct dl_nic *nic, struct dl_region *r)
{
	struct dpdk_nic *dn = dn_of(nic);
	struct rte_device *dev = port_device(dn->port);

	if (r == NULL || r->id >= DL_REGION_MAX || dn->tx_reg[r->id] != r ||
	    !dn->tx_reg_ours[r->id])
		return -EINVAL;
	if (dev != NULL)
		rte_dev_dma_unmap(dev, r->base, r->iova, r->len);
	rte_extmem_unregister(r->base, r->len);
	dn->tx_reg[r->id] = NULL;
	dn->tx_reg_ours[r->id] = false;
	r->iova = 0;
	return 0;
}

static void dpdk_free(struct dpdk_nic *dn)
{
	if (dn->started)
		rte_eth_dev_stop(dn->port);
	/* DMA mappings go while the device still exists, before close. */
	for (unsigned id = 0; id < DL_REGION_MAX; id++)
		if (dn->tx_reg_ours[id])
			dpdk_mem_unregister(&dn->nic, dn->tx_reg[id]);
	rte_eth_dev_close(dn->port);
	rte_mempool_free(dn->rx_pool);
	rte_mempool_free(dn->hdr_pool);
	rte_mempool_free(dn->frag_pool);
	if (dn->rx_reg != NULL) {
		if (dn->rx_reg_registered)
			rte_extmem_unregister(dn->rx_reg->base, dn->rx_reg->len);
		dl_region_destroy(dn->rx_reg);
	}
	if (dn->q != NULL)
		for (unsigned q = 0; q < dn->nic.nb_queues; q++)
			dl_stats_unregister(&dn->q[q].blk);
	rte_free(dn->q);
	rte_free(dn);
}

static void dpdk_close(struct dl_nic *nic)
{
	dpdk_free(dn_of(nic));
}

static const struct dl_nic_ops dpdk_ops = {
    .rx_burst = dpdk_rx_burst,
    .tx_burst = dpdk_tx_burst,
    .hdr_alloc = dpdk_hdr_alloc,
    .buf_free = dpdk_buf_free,
    .link_get = dpdk_link_get,
    .stats_get = dpdk_stats_get,
    .rss_config = dpdk_rss_config,
    .mem_register = dpdk_mem_register,
    .mem_unregister = dpdk_mem_unregister,
    .close = dpdk_close,
};

/* ------------------------------------------------------------------------ */
/* Open                                                                     */
/* ------------------------------------------------------------------------ */

#define HUGE_2M (2u << 20)

/*
 * IOVA-as-PA: the region is made of 2 MiB hugepages, each physically
 * contiguous, so each page is one external-memory chunk holding whole
 * buffers (a buffer never straddles two pages).
 */
static struct rte_mempool *rx_pool_extbuf_pa(struct dpdk_nic *dn, unsigned n, const char *name)
{
	unsigned per_page = HUGE_2M / RX_ELT, pages = (n + per_page - 1) / per_page;
	rte_iova_t *iovas = calloc(pages, sizeof(*iovas));
	struct rte_pktmbuf_extmem *em = calloc(pages, sizeof(*em));
	struct rte_mempool *mp = NULL;

	dn->rx_reg = dl_region_create_on("rx", (size_t)pages * HUGE_2M, DL_REGION_HUGE, dn->socket);
	if (iovas == NULL || em == NULL || dn->rx_reg == NULL) {
		DL_WARN("%s: IOVA mode is PA and no RX region of %u hugepages (%s); "
			"reserve more (scripts/hugepages.sh) or use --iova-mode=va",
			dn->name, pages, strerror(errno));
		goto out;
	}
	for (unsigned i = 0; i < pages; i++) {
		uint8_t *va = dn->rx_reg->base + (size_t)i * HUGE_2M;
		phys_addr_t pa = rte_mem_virt2phy(va);
		if (pa == RTE_BAD_PHYS_ADDR) {
			DL_WARN("%s: no physical address for the RX region (not root?)", dn->name);
			goto out;
		}
		iovas[i] = pa;
		em[i] = (struct rte_pktmbuf_extmem){va, pa, HUGE_2M, RX_ELT};
	}
	if (rte_extmem_register(dn->rx_reg->base, dn->rx_reg->len, iovas, pages, HUGE_2M) != 0) {
		DL_WARN("%s: rte_extmem_register: %s", dn->name, rte_strerror(rte_errno));
		goto out;
	}
	dn->rx_reg_registered = true;
	mp = rte_pktmbuf_pool_create_extbuf(name, n, POOL_CACHE, PRIV_SIZE, RX_ELT, dn->socket, em,
					    pages);
	if (mp == NULL)
		DL_WARN("%s: rte_pktmbuf_pool_create_extbuf: %s", dn->name,
			rte_strerror(rte_errno));
out:
	free(iovas);
	free(em);
	return mp;
}

/* IOVA-as-VA: one chunk over the whole region (4 KiB pages, IOVA = VA). */
static struct rte_mempool *rx_pool_extbuf_va(struct dpdk_nic *dn, unsigned n, const char *name)
{
	struct rte_pktmbuf_extmem em;
	struct rte_mempool *mp;
	int rc;

	dn->rx_reg = dl_region_create_on("rx", (size_t)n * RX_ELT, 0, dn->socket);
	if (dn->rx_reg == NULL) {
		DL_WARN("%s: cannot create the RX region: %s", dn->name, strerror(errno));
		return NULL;
	}
	rc = extmem_register(dn->rx_reg);
	if (rc != 0) {
		DL_WARN("%s: rte_extmem_register: %s", dn->name, rte_strerror(-rc));
		return NULL;
	}
	dn->rx_reg_registered = true;
	em.buf_ptr = dn->rx_reg->base;
	em.buf_iova = (rte_iova_t)(uintptr_t)dn->rx_reg->base;
	em.buf_len = dn->rx_reg->len;
	em.elt_size = RX_ELT;
	mp = rte_pktmbuf_pool_create_extbuf(name, n, POOL_CACHE, PRIV_SIZE, RX_ELT, dn->socket, &em,
					    1);
	if (mp == NULL)
		DL_WARN("%s: rte_pktmbuf_pool_create_extbuf: %s", dn->name,
			rte_strerror(rte_errno));
	else
		dn->rx_reg->iova = em.buf_iova; /* contiguous: usable for TX too */
	return mp;
}

/* RX pool over the "rx" region (pinned external buffers). */
static struct rte_mempool *rx_pool_extbuf(struct dpdk_nic *dn, unsigned n)
{
	char name[RTE_MEMPOOL_NAMESIZE];

	snprintf(name, sizeof(name), "dl_rx_p%u", dn->port);
	return dn->iova_va ? rx_pool_extbuf_va(dn, n, name) : rx_pool_extbuf_pa(dn, n, name);
}

static void rx_pool_extbuf_undo(struct dpdk_nic *dn)
{
	rte_mempool_free(dn->rx_pool);
	dn->rx_pool = NULL;
	if (dn->rx_reg != NULL) {
		if (dn->rx_reg_registered)
			rte_extmem_unregister(dn->rx_reg->base, dn->rx_reg->len);
		dn->rx_reg_registered = false;
		dl_region_destroy(dn->rx_reg);
		dn->rx_reg = NULL;
	}
}

static int setup_rx_queues(struct dpdk_nic *dn, uint16_t nq, uint16_t nrxd,
			   const struct rte_eth_rxconf *rxc)
{
	for (uint16_t q = 0; q < nq; q++) {
		int rc = rte_eth_rx_queue_setup(dn->port, q, nrxd, dn->socket, rxc, dn->rx_pool);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Create the RX pool and queues: extbuf region first, normal pool if refused. */
static int setup_rx(struct dpdk_nic *dn, uint16_t nq, uint16_t nrxd, unsigned nbufs,
		    const struct rte_eth_rxconf *rxc)
{
	char name[RTE_MEMPOOL_NAMESIZE];
	int rc;

	dn->rx_pool = rx_pool_extbuf(dn, nbufs);
	if (dn->rx_pool != NULL) {
		rc = setup_rx_queues(dn, nq, nrxd, rxc);
		if (rc == 0) {
			dn->nic.rx_region = dn->rx_reg->id;
			if (dn->rx_reg->iova != 0)
				dn->tx_reg[dn->rx_reg->id] = dn->rx_reg;
			return 0;
		}
		DL_WARN("%s: the PMD refused RX buffers in external memory (%s)", dn->name,
			rte_strerror(-rc));
	}
	rx_pool_extbuf_undo(dn);
	DL_WARN("%s: RX buffers in a normal mempool: no RX region (zero-copy references and "
		"protected mode unavailable)",
		dn->name);
	snprintf(name, sizeof(name), "dl_rxn_p%u", dn->port);
	dn->rx_pool =
	    rte_pktmbuf_pool_create(name, nbufs, POOL_CACHE, PRIV_SIZE, RX_ELT, dn->socket);
	if (dn->rx_pool == NULL) {
		DL_ERR("%s: cannot create the RX pool (%u buffers): %s", dn->name, nbufs,
		       rte_strerror(rte_errno));
		return -ENOMEM;
	}
	dn->nic.rx_region = DL_REGION_NONE;
	rc = setup_rx_queues(dn, nq, nrxd, rxc);
	if (rc != 0)
		DL_ERR("%s: rte_eth_rx_queue_setup: %s", dn->name, rte_strerror(-rc));
	return rc;
}

static int create_tx_pools(struct dpdk_nic *dn, unsigned nhdr, unsigned nfrag)
{
	char name[RTE_MEMPOOL_NAMESIZE];

	snprintf(name, sizeof(name), "dl_hdr_p%u", dn->port);
	dn->hdr_pool =
	    rte_pktmbuf_pool_create(name, nhdr, POOL_CACHE, PRIV_SIZE, RX_ELT, dn->socket);
	snprintf(name, sizeof(name), "dl_frag_p%u", dn->port);
	dn->frag_pool = rte_pktmbuf_pool_create(name, nfrag, POOL_CACHE, 0, 0, dn->socket);
	if (dn->hdr_pool == NULL || dn->frag_pool == NULL) {
		DL_ERR("%s: cannot create the TX pools (%u header, %u fragment mbufs): %s "
		       "(more EAL memory: -m)",
		       dn->name, nhdr, nfrag, rte_strerror(rte_errno));
		return -ENOMEM;
	}
	return 0;
}

/* Choose offloads from what the device offers; fill caps. */
static void choose_offloads(struct dpdk_nic *dn, const struct rte_eth_dev_info *di,
			    const struct dl_nic_params *p, struct rte_eth_conf *conf)
{
	uint64_t tx = di->tx_offload_capa, rx = di->rx_offload_capa;
	uint64_t tx_want = RTE_ETH_TX_OFFLOAD_MULTI_SEGS;

	if (!p->no_hw_offload)
		tx_want |= RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_CKSUM |
			   RTE_ETH_TX_OFFLOAD_UDP_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_TSO;
	conf->txmode.offloads = tx & tx_want;
	dn->multi_seg = (tx & RTE_ETH_TX_OFFLOAD_MULTI_SEGS) != 0;
	dn->hw_ip = (conf->txmode.offloads & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM) != 0;
	dn->hw_tcp = (conf->txmode.offloads & RTE_ETH_TX_OFFLOAD_TCP_CKSUM) != 0;
	dn->hw_udp = (conf->txmode.offloads & RTE_ETH_TX_OFFLOAD_UDP_CKSUM) != 0;
	dn->hw_tso = (conf->txmode.offloads & RTE_ETH_TX_OFFLOAD_TCP_TSO) && dn->multi_seg &&
		     dn->hw_ip && dn->hw_tcp;
	/* net_tap checks tso_segsz plus all headers, Ethernet included, against
	 * the MTU, so it refuses every full-sized segment: cut in software. */
	if (dn->hw_tso && di->driver_name != NULL && strcmp(di->driver_name, "net_tap") == 0) {
		DL_INFO("%s: not using net_tap's TSO (it refuses full-sized segments)", dn->name);
		dn->hw_tso = false;
	}
	if (!dn->hw_tso)
		conf->txmode.offloads &= ~RTE_ETH_TX_OFFLOAD_TCP_TSO;
	dn->l4_cksum_odd_segs_broken = (dn->hw_tcp || dn->hw_udp) && di->driver_name != NULL &&
				       strcmp(di->driver_name, "net_tap") == 0;
	dn->max_segs = di->tx_desc_lim.nb_seg_max ? di->tx_desc_lim.nb_seg_max : 1;
	if (di->tx_desc_lim.nb_mtu_seg_max && di->tx_desc_lim.nb_mtu_seg_max < dn->max_segs)
		dn->max_segs = di->tx_desc_lim.nb_mtu_seg_max;
	if (!dn->multi_seg)
		dn->max_segs = 1;

	if (!p->no_hw_offload)
		conf->rxmode.offloads = rx & RTE_ETH_RX_OFFLOAD_CHECKSUM;

	dn->nic.caps = 0;
	if (dn->hw_ip)
		dn->nic.caps |= DL_NIC_CAP_TX_IP_CKSUM;
	if (dn->hw_tcp && dn->hw_udp)
		dn->nic.caps |= DL_NIC_CAP_TX_L4_CKSUM;
	if (dn->hw_tso) {
		dn->nic.caps |= DL_NIC_CAP_TSO;
		dn->nic.tso_max = 65535 - 128; /* IP total length minus headers */
	}
	if (conf->rxmode.offloads & RTE_ETH_RX_OFFLOAD_CHECKSUM)
		dn->nic.caps |= DL_NIC_CAP_RX_CKSUM;
	if (dn->multi_seg)
		dn->nic.caps |= DL_NIC_CAP_MULTI_SEG | (dn->iova_va ? DL_NIC_CAP_EXTBUF : 0);
}

/* RSS on TCP/IPv4 with our key when the port has it and there are queues to spread over. */
static bool want_rss(const struct rte_eth_dev_info *di, uint16_t nq, struct rte_eth_conf *conf)
{
	if (nq < 2 || !(di->flow_type_rss_offloads & RTE_ETH_RSS_NONFRAG_IPV4_TCP) ||
	    di->reta_size == 0 || (di->hash_key_size != 0 && di->hash_key_size != 40))
		return false;
	conf->rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
	conf->rx_adv_conf.rss_conf.rss_key = (uint8_t *)(uintptr_t)dl_rss_key;
	conf->rx_adv_conf.rss_conf.rss_key_len = 40;
	conf->rx_adv_conf.rss_conf.rss_hf =
	    di->flow_type_rss_offloads &
	    (RTE_ETH_RSS_NONFRAG_IPV4_TCP | RTE_ETH_RSS_NONFRAG_IPV4_UDP | RTE_ETH_RSS_IPV4);
	if (di->rx_offload_capa & RTE_ETH_RX_OFFLOAD_RSS_HASH)
		conf->rxmode.offloads |= RTE_ETH_RX_OFFLOAD_RSS_HASH;
	return true;
}

static int program_reta(struct dpdk_nic *dn, uint16_t reta_size)
{
	uint16_t *reta = calloc(reta_size, sizeof(*reta));
	int rc;

	if (reta == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < reta_size; i++)
		reta[i] = (uint16_t)(i % dn->nic.nb_queues);
	rc = dpdk_rss_config(&dn->nic, dl_rss_key, reta, reta_size);
	free(reta);
	return rc;
}

static int init_queues_state(struct dpdk_nic *dn, uint16_t nq)
{
	dn->q =
	    rte_zmalloc_socket("dl_dq", sizeof(struct dq) * nq, RTE_CACHE_LINE_SIZE, dn->socket);
	if (dn->q == NULL)
		return -ENOMEM;
	for (uint16_t q = 0; q < nq; q++) {
		struct dq *dq = &dn->q[q];
		for (unsigned r = 0; r < DL_REGION_MAX; r++) {
			dq->shinfo[r].free_cb = ext_free_noop;
			dq->shinfo[r].fcb_opaque = NULL;
			rte_mbuf_ext_refcnt_set(&dq->shinfo[r], 1);
		}
		dl_stats_register(&dq->blk, "dpdk", dq_cnt_names, DQ_NCNT, dq->cnt, q);
	}
	return 0;
}

static int port_configure(struct dpdk_nic *dn, const struct dl_nic_params *p,
			  struct rte_eth_dev_info *di, bool *rss)
{
	struct rte_eth_conf conf;
	struct rte_eth_rxconf rxc;
	struct rte_eth_txconf txc;
	uint16_t nq = p->nb_queues, nrxd = p->rx_desc ? p->rx_desc : 1024,
		 ntxd = p->tx_desc ? p->tx_desc : 1024;
	unsigned nrx = (p->rx_bufs ? p->rx_bufs : 8192) * nq;
	unsigned nhdr = (p->hdr_bufs ? p->hdr_bufs : 8192) * nq;
	int rc;

	if (nq > di->max_rx_queues || nq > di->max_tx_queues) {
		DL_ERR("%s: %u queue pairs requested, the port has %u RX / %u TX", dn->name, nq,
		       di->max_rx_queues, di->max_tx_queues);
		return -EINVAL;
	}
	memset(&conf, 0, sizeof(conf));
	choose_offloads(dn, di, p, &conf);
	*rss = want_rss(di, nq, &conf);
	rc = rte_eth_dev_configure(dn->port, nq, nq, &conf);
	if (rc != 0) {
		DL_ERR("%s: rte_eth_dev_configure: %s", dn->name, rte_strerror(-rc));
		return rc;
	}
	rc = rte_eth_dev_adjust_nb_rx_tx_desc(dn->port, &nrxd, &ntxd);
	if (rc != 0)
		return rc;
	if (nrx < nq * (nrxd + POOL_CACHE * 2u))
		nrx = nq * (nrxd + POOL_CACHE * 2u);
	rc = init_queues_state(dn, nq);
	if (rc != 0 || (rc = create_tx_pools(dn, nhdr, nq * (ntxd + 16384u))) != 0)
		return rc;
	rxc = di->default_rxconf;
	rxc.offloads = conf.rxmode.offloads;
	rc = setup_rx(dn, nq, nrxd, nrx, &rxc);
	if (rc != 0)
		return rc;
	txc = di->default_txconf;
	txc.offloads = conf.txmode.offloads;
	for (uint16_t q = 0; q < nq; q++) {
		rc = rte_eth_tx_queue_setup(dn->port, q, ntxd, dn->socket, &txc);
		if (rc != 0) {
			DL_ERR("%s: rte_eth_tx_queue_setup: %s", dn->name, rte_strerror(-rc));
			return rc;
		}
	}
	return 0;
}

static int port_start(struct dpdk_nic *dn, bool rss, const struct rte_eth_dev_info *di)
{
	struct rte_ether_addr mac;
	uint16_t mtu = 1500;
	int rc = rte_eth_dev_start(dn->port);

	if (rc != 0) {
		DL_ERR("%s: rte_eth_dev_start: %s", dn->name, rte_strerror(-rc));
		return rc;
	}
	dn->started = true;
	rte_eth_macaddr_get(dn->port, &mac);
	memcpy(dn->nic.mac, mac.addr_bytes, 6);
	if (rte_eth_dev_get_mtu(dn->port, &mtu) == 0 && mtu >= 576)
		dn->nic.mtu = mtu;
	if (rss) {
		dn->nic.caps |= DL_NIC_CAP_RSS;
		dn->nic.reta_size = di->reta_size;
		rc = program_reta(dn, di->reta_size);
		if (rc != 0) {
			DL_WARN("%s: RSS RETA programming failed (%s): no RSS", dn->name,
				rte_strerror(-rc));
			dn->nic.caps &= ~(uint32_t)DL_NIC_CAP_RSS;
			dn->nic.reta_size = 0;
		}
	}
	return 0;
}

struct dl_nic *dl_dpdk_nic_open(const struct dl_nic_params *p)
{
	struct rte_eth_dev_info di;
	struct dpdk_nic *dn;
	bool rss = false;
	int socket;

	if (!rte_eth_dev_is_valid_port(p->port_id)) {
		DL_ERR("port %u does not exist (%u ports found): name a device in the EAL "
		       "arguments, e.g. --vdev=net_tap0,iface=dl0 or -a <PCI address>",
		       p->port_id, rte_eth_dev_count_avail());
		return NULL;
	}
	if (p->nb_queues == 0) {
		DL_ERR("port %u: zero queues requested", p->port_id);
		return NULL;
	}
	socket = p->numa_node >= 0 ? p->numa_node : rte_eth_dev_socket_id(p->port_id);
	if (socket < 0)
		socket = (int)rte_socket_id();
	dn = rte_zmalloc_socket("dl_nic", sizeof(*dn), RTE_CACHE_LINE_SIZE, socket);
	if (dn == NULL) {
		DL_ERR("port %u: out of EAL memory", p->port_id);
		return NULL;
	}
	dn->port = p->port_id;
	dn->socket = socket;
	dn->iova_va = rte_eal_iova_mode() == RTE_IOVA_VA;
	dn->nic.ops = &dpdk_ops;
	dn->nic.nb_queues = p->nb_queues;
	dn->nic.mtu = 1500;
	dn->nic.rx_region = DL_REGION_NONE;
	if (rte_eth_dev_info_get(dn->port, &di) != 0) {
		DL_ERR("port %u: rte_eth_dev_info_get failed", p->port_id);
		rte_free(dn);
		return NULL;
	}
	snprintf(dn->name, sizeof(dn->name), "dpdk:%s", di.device ? rte_dev_name(di.device) : "?");
	dn->nic.name = dn->name;
	if (port_configure(dn, p, &di, &rss) != 0 || port_start(dn, rss, &di) != 0) {
		dpdk_free(dn);
		return NULL;
	}
	return &dn->nic;
}
