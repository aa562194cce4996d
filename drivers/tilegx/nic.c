/*
 * nic.c - the TILE-Gx mPIPE backend of the HAL NIC (struct dl_nic_ops),
 * written against the MDE's gxio names only (<gxio/mpipe.h>, <tmc/alloc.h>):
 * the same source builds with the Tilera MDE and with the MDE model.
 *
 * Bring-up, in the order the reference gives (each failure names the gxio
 * call and its error):
 *   gxio_mpipe_link_instance / gxio_mpipe_init; link_open (AUTO_NONE),
 *   link_channel, the MAC; two buffer stacks (RX buffers, TX header
 *   buffers), their memory, pages registered, buffers pushed; one notif
 *   ring per queue (iqueue_init); a notif group over them with
 *   NBUCKETS buckets in static flow affinity (the port's RSS); one
 *   classifier rule for the link's channel (headroom RX_HEADROOM); one
 *   eDMA ring per queue (equeue_init); DESIRED_STATE = ANYSPEED.
 * Sizes come from struct dl_nic_params: rx_desc -> notif ring entries
 * (128/512/2048/65536), tx_desc -> eDMA ring entries (512/2048/8192/65536),
 * rx_bufs and hdr_bufs per queue.
 *
 * Memory: stack and ring memory must be physically contiguous: it is
 * carved from one tmc_alloc huge-page area so that no piece straddles a
 * huge page. RX buffers (1664 bytes: the frame after RX_HEADROOM bytes, of
 * which the first DL_BUF_SCRATCH are the stack's scratch) live in a region
 * ("rx") so that payloads can be named (region, offset): a shareable
 * hugetlb memfd when the system has huge pages, else tmc_alloc huge pages
 * adopted as a region that cannot be shared (protected mode unavailable).
 * Each stack registers at most 16 pages with the IO-TLB; a size needing
 * more is refused with a message saying so.
 *
 * RX: rx_burst peeks contiguous descriptors (iqueue_try_peek), turns each
 * into a dl_rx_pkt by value (length, flow hash, checksum flags from the
 * classifier: IPv4 header checked (bad ones never arrive), L4 from cs and
 * csum_seed_val), drops and counts descriptors with me/tr/ce/be (pushing
 * the buffer back unless be), advances and returns the ring credits once
 * per batch. The stack frees a buffer with buf_free: push_buffer.
 *
 * TX: one packet is one gather: the header buffer (from the header stack,
 * hwb=1 so the hardware pushes it back after egress) then one descriptor
 * per payload piece referencing registered memory (hwb=0; stack_idx names
 * the stack whose IO-TLB pages map it), in consecutive slots reserved
 * together, `bound` on the last. The TCP checksum is the hardware's
 * (csum_start = L4 start, csum_dest = the field, csum_seed = pseudo-header
 * sum); the IPv4 header checksum, UDP and ICMP are done here in software.
 * TSO is done here: each segment gets its own header buffer (a copy of the
 * template with length, id, sequence number and flags fixed) and
 * references its slice of the payload: zero copy. A segment with payload
 * in memory that is not registered (private memory, or a region whose
 * registration failed) is copied behind its headers in the header buffer.
 *
 * mem_register: a region's pages are registered across as many buffer
 * stacks as needed (16 pages each; the stacks only serve as IO-TLB
 * mappings). When the free stacks cannot hold all its pages the region is
 * not registered (-ENOSPC, the reason printed) and the runtime falls back
 * to copying its fragments.
 *
 * Counters: module "mpipe", one block per queue; port totals via stats_get.
 */
#include <gxio/mpipe.h>
#include <tmc/alloc.h>

#include "dl_cksum.h"
#include "dl_log.h"
#include "dl_offload.h"
#include "dl_stats.h"
#include "dl_tilegx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_CODE	GXIO_MPIPE_BUFFER_SIZE_1664
#define BUF_SIZE	1664u
#define RX_HEADROOM	34u /* DL_BUF_SCRATCH bytes, then 2 to align the IP header */
#define HDR_OFFSET	2u  /* header buffers: data after 2 bytes, IP header 4-aligned */
#define HDR_ROOM	(BUF_SIZE - HDR_OFFSET)
#define NBUCKETS	256u
#define PAGES_PER_STACK 16u
#define MAX_STACKS	32u
#define MAX_TX_ADOPTED	8u  /* TX regions in tmc_alloc huge pages per port */
#define XFER_MAX	16383u /* 14-bit xfer_size */
#define RX_BURST_MAX	64u
#define TSO_MAX		(65535u - 256u)

_Static_assert(RX_HEADROOM >= DL_BUF_SCRATCH + 2, "scratch fits in the headroom");

enum tq_cnt {
	TQ_RX_PACKETS,
	TQ_RX_BYTES,
	TQ_RX_BATCHES,
	TQ_RX_ERR_MAC,
	TQ_RX_ERR_TRUNC,
	TQ_RX_ERR_CRC,
	TQ_RX_NOBUF,
	TQ_RX_CHAINED,
	TQ_RX_L4_BAD,
	TQ_TX_PACKETS,
	TQ_TX_FRAMES,
	TQ_TX_BYTES,
	TQ_TX_DESCS,
	TQ_TX_HW_CSUM,
	TQ_TX_SW_CKSUM,
	TQ_TX_SW_TSO,
	TQ_TX_HDR_NOBUF,
	TQ_TX_RING_FULL,
	TQ_TX_PRIVATE_COPIES,
	TQ_TX_UNREGISTERED_COPIES,
	TQ_TX_PAYLOAD_REFS,
	TQ_TX_DROP_BAD,
	TQ_TX_DROP_TOO_LONG,
	TQ_NCNT
};

static const char *const tq_cnt_names[TQ_NCNT] = {
    [TQ_RX_PACKETS] = "rx_packets",
    [TQ_RX_BYTES] = "rx_bytes",
    [TQ_RX_BATCHES] = "rx_batches",
    [TQ_RX_ERR_MAC] = "rx_drop_mac_error",
    [TQ_RX_ERR_TRUNC] = "rx_drop_truncated",
    [TQ_RX_ERR_CRC] = "rx_drop_crc_error",
    [TQ_RX_NOBUF] = "rx_drop_no_buffer",
    [TQ_RX_CHAINED] = "rx_drop_chained",
    [TQ_RX_L4_BAD] = "rx_l4_checksum_bad",
    [TQ_TX_PACKETS] = "tx_packets",
    [TQ_TX_FRAMES] = "tx_frames",
    [TQ_TX_BYTES] = "tx_bytes",
    [TQ_TX_DESCS] = "tx_descriptors",
    [TQ_TX_HW_CSUM] = "tx_hw_l4_cksum",
    [TQ_TX_SW_CKSUM] = "tx_sw_cksum",
    [TQ_TX_SW_TSO] = "tx_sw_tso",
    [TQ_TX_HDR_NOBUF] = "tx_hdr_nobuf",
    [TQ_TX_RING_FULL] = "tx_ring_full",
    [TQ_TX_PRIVATE_COPIES] = "tx_private_fragment_copies",
    [TQ_TX_UNREGISTERED_COPIES] = "tx_unregistered_fragment_copies",
    [TQ_TX_PAYLOAD_REFS] = "tx_payload_refs",
    [TQ_TX_DROP_BAD] = "tx_drop_malformed",
    [TQ_TX_DROP_TOO_LONG] = "tx_drop_too_long",
};

/* Per-queue state: touched by the queue's core only. */
struct tq {
	gxio_mpipe_iqueue_t iq;
	gxio_mpipe_equeue_t eq;
	uint64_t cnt[TQ_NCNT];
	struct dl_counter_block blk;
} __attribute__((aligned(64)));

/* How a region is mapped for transmit: its pages across stacks. */
struct txmap {
	const struct dl_region *r;
	size_t page;	 /* registered page size */
	unsigned stack0; /* first stack; page i is on stack0 + i / 16 */
	unsigned nstacks;
	bool ours; /* registered by mem_register (else: the RX region) */
};

struct mpipe_nic {
	struct dl_nic nic; /* first: the HAL handle */
	char name[48];
	gxio_mpipe_context_t ctx;
	bool ctx_open;
	gxio_mpipe_link_t link;
	bool link_open;
	int channel;
	unsigned nq;
	int rx_stack, hdr_stack;
	unsigned rx_entries, tx_entries;
	size_t huge_page;
	bool huge;
	bool hw_csum;
	/* Memory. */
	uint8_t *ctl_mem;
	size_t ctl_len;
	struct dl_region *rx_reg;
	uint8_t *rx_adopted; /* tmc_alloc memory behind an adopted rx region */
	size_t rx_len;
	uint8_t *hdr_mem;
	size_t hdr_len;
	unsigned nrx, nhdr;
	unsigned next_stack; /* stacks handed out so far (first..MAX) */
	struct txmap tx[DL_REGION_MAX];
	/* tmc_alloc huge pages behind adopted TX regions (tx_region_create),
	 * unmapped at close. */
	struct {
		void *base;
		size_t len;
	} tx_adopted[MAX_TX_ADOPTED];
	unsigned ntx_adopted;
	uint64_t bad_frees;
	struct tq *q;
};

static struct mpipe_nic *mn_of(struct dl_nic *nic)
{
	return (struct mpipe_nic *)nic;
}

size_t dl_tilegx_huge_page_size(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	unsigned long kb;

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "Hugepagesize: %lu kB", &kb) == 1 && kb >= 4 &&
		    (kb & (kb - 1)) == 0) {
			fclose(f);
			return (size_t)kb * 1024;
		}
	if (f != NULL)
		fclose(f);
	return (size_t)2 << 20;
}

/* Report a failed gxio call; returns -1. */
static int gx_fail(const struct mpipe_nic *mn, const char *call, int rc)
{
	DL_ERR("%s: %s failed: %s (%d)", mn->name, call, gxio_strerror(rc), rc);
	return -1;
}

/* ------------------------------------------------------------------------ */
/* RX                                                                       */
/* ------------------------------------------------------------------------ */

static uint32_t rx_flags(gxio_mpipe_idesc_t *d)
{
	uint32_t f = DL_RX_HASH_VALID;

	if (gxio_mpipe_idesc_get_ethertype(d) == 0x0800)
		f |= (gxio_mpipe_idesc_get_status(d) & 0x80) ? DL_RX_L3_CSUM_BAD
							     : DL_RX_L3_CSUM_GOOD;
	if (d->cs)
		f |= d->csum_seed_val == 0xFFFF ? DL_RX_L4_CSUM_GOOD : DL_RX_L4_CSUM_BAD;
	return f;
}

static uint16_t mp_rx_burst(struct dl_nic *nic, uint16_t q, struct dl_rx_pkt *pkts, uint16_t n)
{
	struct mpipe_nic *mn = mn_of(nic);
	struct tq *tq = &mn->q[q];
	uint16_t out = 0;

	if (n > RX_BURST_MAX)
		n = RX_BURST_MAX;
	while (out < n) {
		gxio_mpipe_idesc_t *d0;
		int avail = gxio_mpipe_iqueue_try_peek(&tq->iq, &d0);
		int take;

		if (avail <= 0)
			break;
		take = avail < n - out ? avail : n - out;
		for (int i = 0; i < take; i++) {
			gxio_mpipe_idesc_t *d = &d0[i];
			struct dl_rx_pkt *p = &pkts[out];
			uint8_t *va;

			if (gxio_mpipe_idesc_has_error(d)) {
				if (d->be)
					tq->cnt[TQ_RX_NOBUF]++;
				else if (d->me)
					tq->cnt[TQ_RX_ERR_MAC]++;
				else if (d->tr)
					tq->cnt[TQ_RX_ERR_TRUNC]++;
				else
					tq->cnt[TQ_RX_ERR_CRC]++;
				gxio_mpipe_iqueue_drop(&tq->iq, d); /* pushes back unless be */
				continue;
			}
			if (d->c != 0) {
				/* Buffers are sized for the MTU: a chained packet
				 * is a frame we did not configure for. */
				tq->cnt[TQ_RX_CHAINED]++;
				gxio_mpipe_iqueue_drop(&tq->iq, d);
				continue;
			}
			va = gxio_mpipe_idesc_get_va(d); /* the frame, after the headroom */
			p->data = va + gxio_mpipe_idesc_get_l2_offset(d);
			p->len = gxio_mpipe_idesc_get_l2_length(d);
			p->hash = gxio_mpipe_idesc_get_flow_hash(d);
			p->flags = rx_flags(d);
			p->region = mn->nic.rx_region;
			p->queue = q;
			p->buf = (struct dl_buf *)(va - RX_HEADROOM);
			p->scratch = p->buf;
			if (p->flags & DL_RX_L4_CSUM_BAD)
				tq->cnt[TQ_RX_L4_BAD]++;
			tq->cnt[TQ_RX_BYTES] += p->len;
			out++;
		}
		/* Static flow affinity: ring credits in one batch, no bucket. */
		gxio_mpipe_iqueue_advance(&tq->iq, take);
		gxio_mpipe_credit(&mn->ctx, (int)tq->iq.ring, -1, (unsigned)take);
		tq->cnt[TQ_RX_BATCHES]++;
	}
	tq->cnt[TQ_RX_PACKETS] += out;
	return out;
}

/* ------------------------------------------------------------------------ */
/* TX                                                                       */
/* ------------------------------------------------------------------------ */

static bool in_range(const uint8_t *p, const uint8_t *base, size_t len)
{
	return p >= base && (size_t)(p - base) < len;
}

/* Which stack maps [p, p+len) for egress, and how many bytes of it from p
 * one descriptor may take (*run): up to the end of p's page, since two
 * pages are not physically contiguous and one descriptor's bytes must lie
 * in one page; -1 if the memory is not registered. */
static int frag_stack(const struct mpipe_nic *mn, const struct dl_tx_frag *f, const uint8_t *p,
		      size_t len, size_t *run)
{
	const struct txmap *m;
	size_t off, span, group;

	if (f->region >= DL_REGION_MAX)
		return -1;
	m = &mn->tx[f->region];
	if (m->r == NULL || p < m->r->base ||
	    !dl_region_contains(m->r, (uint64_t)(p - m->r->base), len))
		return -1;
	off = (size_t)(p - m->r->base);
	span = m->page * PAGES_PER_STACK;
	group = off / span;
	*run = m->page - off % m->page; /* to the end of the page (inside the group) */
	if (*run > len)
		*run = len;
	if (*run > XFER_MAX)
		*run = XFER_MAX;
	return (int)(m->stack0 + group);
}

/* A piece of payload: a slice [off, off+len) of the packet's payload. */
struct seg_plan {
	size_t off, len;
	bool copy; /* payload copied behind the headers */
	unsigned ndesc;
};

/* Whether a payload slice can be referenced: all its memory registered.
 * Counts the descriptors it needs in *ndesc. */
static bool slice_refs(const struct mpipe_nic *mn, const struct dl_tx_pkt *p, size_t off,
		       size_t len, unsigned *ndesc, struct tq *tq)
{
	unsigned n = 0;

	for (unsigned i = 0; i < p->nfrags && len > 0; i++) {
		const struct dl_tx_frag *f = &p->frag[i];
		if (off >= f->len) {
			off -= f->len;
			continue;
		}
		const uint8_t *d = f->data + off;
		size_t left = f->len - off < len ? f->len - off : len;
		len -= left;
		off = 0;
		while (left > 0) {
			size_t run;
			if (frag_stack(mn, f, d, left, &run) < 0) {
				tq->cnt[f->region == DL_REGION_NONE ? TQ_TX_PRIVATE_COPIES
								    : TQ_TX_UNREGISTERED_COPIES]++;
				return false;
			}
			n++;
			d += run;
			left -= run;
		}
	}
	*ndesc = n;
	return true;
}

/* Copy payload [off, off+len) to out. */
static void copy_slice(const struct dl_tx_pkt *p, size_t off, size_t len, uint8_t *out)
{
	for (unsigned i = 0; i < p->nfrags && len > 0; i++) {
		const struct dl_tx_frag *f = &p->frag[i];
		if (off >= f->len) {
			off -= f->len;
			continue;
		}
		size_t take = f->len - off < len ? f->len - off : len;
		memcpy(out, f->data + off, take);
		out += take;
		len -= take;
		off = 0;
	}
}

/* Write the descriptors referencing payload [off, off+len); returns the
 * next slot. The last one of the segment carries `bound`. */
static unsigned long put_slice(struct mpipe_nic *mn, struct tq *tq, const struct dl_tx_pkt *p,
			       size_t off, size_t len, unsigned long slot)
{
	for (unsigned i = 0; i < p->nfrags && len > 0; i++) {
		const struct dl_tx_frag *f = &p->frag[i];
		if (off >= f->len) {
			off -= f->len;
			continue;
		}
		const uint8_t *d = f->data + off;
		size_t left = f->len - off < len ? f->len - off : len;
		len -= left;
		off = 0;
		while (left > 0) {
			gxio_mpipe_edesc_t e = {{0}};
			size_t run;
			int stack = frag_stack(mn, f, d, left, &run);
			e.va = (int64_t)(intptr_t)d;
			e.xfer_size = run;
			e.stack_idx = (unsigned)stack; /* only the IO-TLB mapping */
			e.hwb = 0;		       /* the application's memory */
			d += run;
			left -= run;
			e.bound = left == 0 && len == 0;
			gxio_mpipe_equeue_put_at(&tq->eq, e, slot++);
			tq->cnt[TQ_TX_DESCS]++;
			tq->cnt[TQ_TX_PAYLOAD_REFS]++;
		}
	}
	return slot;
}

static uint16_t get16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

static void put16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

/*
 * Finish segment k's headers in `hdr` (a copy of the template): lengths,
 * id, sequence number, flags, the IPv4 checksum, and the L4 checksum in
 * software when the hardware does not do it (then the payload is summed
 * from the fragments, or from behind the headers when copied). Returns
 * the hardware checksum seed, with *hw set, when the hardware sums.
 */
static uint16_t finish_headers(struct mpipe_nic *mn, struct tq *tq, const struct dl_tx_pkt *p,
			       uint8_t *hdr, const struct seg_plan *sp, bool tso, bool last,
			       unsigned k, bool *hw)
{
	uint8_t *ip = hdr + p->l2_len, *l4 = ip + p->l3_len;
	size_t l4_hdr = (size_t)p->hdr_len - p->l2_len - p->l3_len;
	uint16_t want = p->ol_flags;
	uint8_t proto;

	*hw = false;
	if (p->l3_len == 0)
		return 0; /* not IP (ARP): sent as it is */
	proto = ip[9];
	if (tso) {
		put16(ip + 2, (uint16_t)(p->l3_len + l4_hdr + sp->len));
		put16(ip + 4, (uint16_t)(get16(ip + 4) + k));
		uint32_t seq = (uint32_t)get16(l4 + 4) << 16 | get16(l4 + 6);
		seq += (uint32_t)sp->off;
		put16(l4 + 4, (uint16_t)(seq >> 16));
		put16(l4 + 6, (uint16_t)seq);
		if (!last)
			l4[13] &= (uint8_t) ~(0x01 | 0x08); /* FIN, PSH on the last only */
		want |= DL_TX_IP_CKSUM | DL_TX_TCP_CKSUM;
	}
	if (want & DL_TX_IP_CKSUM) {
		memset(ip + 10, 0, 2);
		uint16_t c = dl_cksum(ip, p->l3_len);
		memcpy(ip + 10, &c, 2);
	}
	if ((want & DL_TX_TCP_CKSUM) && proto == 6 && mn->hw_csum) {
		uint32_t src, dst;
		memcpy(&src, ip + 12, 4);
		memcpy(&dst, ip + 16, 4);
		memset(l4 + 16, 0, 2);
		*hw = true;
		tq->cnt[TQ_TX_HW_CSUM]++;
		return dl_cksum_fold(dl_cksum_pseudo(src, dst, 6, (uint16_t)(l4_hdr + sp->len)));
	}
	if (want & (DL_TX_TCP_CKSUM | DL_TX_UDP_CKSUM | DL_TX_ICMP_CKSUM)) {
		struct dl_tx_pkt one = *p;
		one.ol_flags = want & (DL_TX_TCP_CKSUM | DL_TX_UDP_CKSUM | DL_TX_ICMP_CKSUM);
		if (sp->copy) {
			one.nfrags = sp->len ? 1 : 0;
			one.frag[0].data = hdr + p->hdr_len;
			one.frag[0].len = (uint32_t)sp->len;
		} else if (tso || sp->len != dl_tx_payload_len(p)) {
			/* The segment's slice of the fragments. */
			size_t off = sp->off, len = sp->len;
			one.nfrags = 0;
			for (unsigned i = 0; i < p->nfrags && len > 0; i++) {
				if (off >= p->frag[i].len) {
					off -= p->frag[i].len;
					continue;
				}
				size_t take =
				    p->frag[i].len - off < len ? p->frag[i].len - off : len;
				one.frag[one.nfrags].data = p->frag[i].data + off;
				one.frag[one.nfrags].len = (uint32_t)take;
				one.frag[one.nfrags].region = p->frag[i].region;
				one.nfrags++;
				len -= take;
				off = 0;
			}
		}
		dl_tx_sw_cksum(&one, hdr);
		tq->cnt[TQ_TX_SW_CKSUM]++;
	}
	return 0;
}

enum tx_verdict { TX_DONE, TX_RETRY };

#define MAX_SEGS 64u

static enum tx_verdict tx_one(struct mpipe_nic *mn, struct tq *tq, struct dl_tx_pkt *p)
{
	size_t payload = dl_tx_payload_len(p);
	bool tso = (p->ol_flags & DL_TX_TSO) && p->tso_segsz > 0 && payload > p->tso_segsz;
	size_t seg = tso ? p->tso_segsz : payload;
	unsigned nseg = tso ? (unsigned)((payload + seg - 1) / seg) : 1;
	struct seg_plan plan[MAX_SEGS];
	uint8_t *hbuf[MAX_SEGS];
	uint8_t tmpl[HDR_ROOM];
	unsigned total = 0;
	int64_t slot0;
	unsigned long slot;
	uint8_t *hdr0 = (uint8_t *)p->hdr;

	if (p->hdr_len > HDR_ROOM || p->nfrags > DL_TX_MAX_FRAGS ||
	    (p->l3_len > 0 && (size_t)p->l2_len + p->l3_len + 8 > p->hdr_len) ||
	    (tso && (p->l3_len == 0 || p->hdr_data[p->l2_len + 9] != 6)) ||
	    p->hdr_data != hdr0 + HDR_OFFSET) {
		tq->cnt[TQ_TX_DROP_BAD]++;
		gxio_mpipe_push_buffer(&mn->ctx, (unsigned)mn->hdr_stack, hdr0);
		return TX_DONE;
	}
	if (nseg > MAX_SEGS) {
		tq->cnt[TQ_TX_DROP_TOO_LONG]++;
		gxio_mpipe_push_buffer(&mn->ctx, (unsigned)mn->hdr_stack, hdr0);
		return TX_DONE;
	}
	/* Plan: per segment, references or a copy behind the headers. */
	for (unsigned k = 0; k < nseg; k++) {
		struct seg_plan *sp = &plan[k];
		sp->off = (size_t)k * seg;
		sp->len = payload - sp->off < seg ? payload - sp->off : seg;
		sp->copy = !slice_refs(mn, p, sp->off, sp->len, &sp->ndesc, tq);
		if (sp->copy) {
			if (p->hdr_len + sp->len > HDR_ROOM) {
				tq->cnt[TQ_TX_DROP_TOO_LONG]++;
				gxio_mpipe_push_buffer(&mn->ctx, (unsigned)mn->hdr_stack, hdr0);
				return TX_DONE;
			}
			sp->ndesc = 0;
		}
		total += 1 + sp->ndesc;
	}
	if (total > mn->tx_entries / 2) {
		tq->cnt[TQ_TX_DROP_TOO_LONG]++;
		gxio_mpipe_push_buffer(&mn->ctx, (unsigned)mn->hdr_stack, hdr0);
		return TX_DONE;
	}
	/* Header buffers for segments 1.. (segment 0 uses the packet's). */
	hbuf[0] = hdr0;
	for (unsigned k = 1; k < nseg; k++) {
		hbuf[k] = gxio_mpipe_pop_buffer(&mn->ctx, (unsigned)mn->hdr_stack);
		if (hbuf[k] == NULL) {
			tq->cnt[TQ_TX_HDR_NOBUF]++;
			while (--k > 0)
				gxio_mpipe_push_buffer(&mn->ctx, (unsigned)mn->hdr_stack, hbuf[k]);
			return TX_RETRY;
		}
	}
	/* Consecutive slots for the whole packet, or nothing changes. */
	slot0 = gxio_mpipe_equeue_try_reserve_fast(&tq->eq, total);
	if (slot0 < 0) {
		tq->cnt[TQ_TX_RING_FULL]++;
		for (unsigned k = 1; k < nseg; k++)
			gxio_mpipe_push_buffer(&mn->ctx, (unsigned)mn->hdr_stack, hbuf[k]);
		return TX_RETRY;
	}
	memcpy(tmpl, p->hdr_data, p->hdr_len);
	slot = (unsigned long)slot0;
	for (unsigned k = 0; k < nseg; k++) {
		const struct seg_plan *sp = &plan[k];
		uint8_t *h = hbuf[k] + HDR_OFFSET;
		gxio_mpipe_edesc_t e = {{0}};
		bool hw;
		uint16_t seed;

		if (k > 0)
			memcpy(h, tmpl, p->hdr_len);
		if (sp->copy)
			copy_slice(p, sp->off, sp->len, h + p->hdr_len);
		seed = finish_headers(mn, tq, p, h, sp, tso, k + 1 == nseg, k, &hw);
		e.va = (int64_t)(intptr_t)h;
		e.xfer_size = p->hdr_len + (sp->copy ? sp->len : 0);
		e.stack_idx = (unsigned)mn->hdr_stack;
		e.hwb = 1; /* back to the header stack after egress */
		e.size = BUF_CODE;
		e.bound = sp->copy || sp->len == 0;
		if (hw) {
			e.csum = 1;
			e.csum_start = (unsigned)(p->l2_len + p->l3_len);
			e.csum_dest = (unsigned)(p->l2_len + p->l3_len + 16);
			e.csum_seed = seed;
		}
		gxio_mpipe_equeue_put_at(&tq->eq, e, slot++);
		tq->cnt[TQ_TX_DESCS]++;
		if (!e.bound)
			slot = put_slice(mn, tq, p, sp->off, sp->len, slot);
		tq->cnt[TQ_TX_FRAMES]++;
		tq->cnt[TQ_TX_BYTES] += p->hdr_len + sp->len;
	}
	if (tso)
		tq->cnt[TQ_TX_SW_TSO]++;
	tq->cnt[TQ_TX_PACKETS]++;
	return TX_DONE;
}

static uint16_t mp_tx_burst(struct dl_nic *nic, uint16_t q, struct dl_tx_pkt *pkts, uint16_t n)
{
	struct mpipe_nic *mn = mn_of(nic);
	struct tq *tq = &mn->q[q];
	uint16_t i;

	for (i = 0; i < n; i++)
		if (tx_one(mn, tq, &pkts[i]) == TX_RETRY)
			break;
	if (i > 0)
		gxio_mpipe_equeue_flush(&tq->eq);
	return i;
}

static struct dl_buf *mp_hdr_alloc(struct dl_nic *nic, uint16_t q, uint8_t **data, uint16_t *room)
{
	struct mpipe_nic *mn = mn_of(nic);
	uint8_t *b = gxio_mpipe_pop_buffer(&mn->ctx, (unsigned)mn->hdr_stack);

	if (b == NULL) {
		mn->q[q].cnt[TQ_TX_HDR_NOBUF]++;
		return NULL;
	}
	*data = b + HDR_OFFSET;
	*room = (uint16_t)HDR_ROOM;
	return (struct dl_buf *)b;
}

static void mp_buf_free(struct dl_nic *nic, struct dl_buf *b)
{
	struct mpipe_nic *mn = mn_of(nic);
	uint8_t *p = (uint8_t *)b;

	if (mn->rx_reg != NULL && in_range(p, mn->rx_reg->base, mn->rx_reg->len))
		gxio_mpipe_push_buffer(&mn->ctx, (unsigned)mn->rx_stack, p);
	else if (in_range(p, mn->hdr_mem, mn->hdr_len))
		gxio_mpipe_push_buffer(&mn->ctx, (unsigned)mn->hdr_stack, p);
	else if (__atomic_fetch_add(&mn->bad_frees, 1, __ATOMIC_RELAXED) == 0)
		DL_ERR("%s: dl_nic_buf_free of %p, which is no buffer of this port", mn->name, p);
}

/* ------------------------------------------------------------------------ */
/* Control                                                                  */
/* ------------------------------------------------------------------------ */

static int mp_link_get(struct dl_nic *nic, struct dl_link *link)
{
	struct mpipe_nic *mn = mn_of(nic);
	int64_t st = gxio_mpipe_link_get_attr(&mn->link, GXIO_MPIPE_LINK_CURRENT_STATE);
	int64_t speed;

	if (st < 0) {
		gx_fail(mn, "gxio_mpipe_link_get_attr(CURRENT_STATE)", (int)st);
		return -EIO;
	}
	speed = st & (int64_t)GXIO_MPIPE_LINK_SPEED_MASK;
	link->up = speed != 0;
	link->full_duplex = (st & (int64_t)GXIO_MPIPE_LINK_FDX) != 0;
	link->speed_mbps = speed == (int64_t)GXIO_MPIPE_LINK_10M    ? 10
			   : speed == (int64_t)GXIO_MPIPE_LINK_100M ? 100
			   : speed == (int64_t)GXIO_MPIPE_LINK_1G   ? 1000
			   : speed == (int64_t)GXIO_MPIPE_LINK_10G  ? 10000
			   : speed == (int64_t)GXIO_MPIPE_LINK_20G  ? 20000
			   : speed == (int64_t)GXIO_MPIPE_LINK_25G  ? 25000
			   : speed == (int64_t)GXIO_MPIPE_LINK_50G  ? 50000
								    : 0;
	return 0;
}

static uint64_t sum_cnt(const struct mpipe_nic *mn, enum tq_cnt c)
{
	uint64_t s = 0;

	for (unsigned q = 0; q < mn->nq; q++)
		s += __atomic_load_n(&mn->q[q].cnt[c], __ATOMIC_RELAXED);
	return s;
}

static int mp_stats_get(struct dl_nic *nic, struct dl_nic_stats *st)
{
	struct mpipe_nic *mn = mn_of(nic);
	gxio_mpipe_stats_t gs;
	int rc = gxio_mpipe_get_stats(&mn->ctx, &gs);

	memset(st, 0, sizeof(*st));
	st->rx_packets = sum_cnt(mn, TQ_RX_PACKETS);
	st->rx_bytes = sum_cnt(mn, TQ_RX_BYTES);
	st->rx_errors =
	    sum_cnt(mn, TQ_RX_ERR_MAC) + sum_cnt(mn, TQ_RX_ERR_TRUNC) + sum_cnt(mn, TQ_RX_ERR_CRC);
	st->rx_nombuf = sum_cnt(mn, TQ_RX_NOBUF);
	st->rx_oversize = sum_cnt(mn, TQ_RX_CHAINED);
	if (rc == 0)
		/* Dropped by the shim: classifier/load balancer (no ring
		 * credit, bad IPv4 header, too long) and no buffer. */
		st->rx_dropped = gs.ingress_drops;
	st->tx_packets = sum_cnt(mn, TQ_TX_FRAMES);
	st->tx_bytes = sum_cnt(mn, TQ_TX_BYTES);
	st->tx_dropped = sum_cnt(mn, TQ_TX_DROP_BAD) + sum_cnt(mn, TQ_TX_DROP_TOO_LONG);
	st->tx_errors = __atomic_load_n(&mn->bad_frees, __ATOMIC_RELAXED);
	st->tx_sw_cksum = sum_cnt(mn, TQ_TX_SW_CKSUM);
	st->tx_sw_tso = sum_cnt(mn, TQ_TX_SW_TSO);
	st->tx_hdr_nobuf = sum_cnt(mn, TQ_TX_HDR_NOBUF);
	return rc == 0 ? 0 : -EIO;
}

static int alloc_stacks(struct mpipe_nic *mn, unsigned n)
{
	int rc;

	if (mn->next_stack + n > MAX_STACKS)
		return GXIO_MPIPE_ERR_NO_BUFFER_STACK;
	rc = gxio_mpipe_alloc_buffer_stacks(&mn->ctx, n, 0, 0);
	if (rc >= 0)
		mn->next_stack += n;
	return rc;
}

/* Register [base, base+len) in pages of `page` bytes: on *stack0 when one
 * stack suffices (*stack0 >= 0), else on newly allocated stacks (16 pages
 * each). On failure the reason is in why[]. */
static int register_pages(struct mpipe_nic *mn, uint8_t *base, size_t len, size_t page, int *stack0,
			  unsigned *nstacks, char *why, size_t whylen)
{
	size_t pages = (len + page - 1) / page;
	unsigned need = (unsigned)((pages + PAGES_PER_STACK - 1) / PAGES_PER_STACK);
	int first = *stack0, rc;

	if (((uintptr_t)base & (page - 1)) != 0) {
		snprintf(why, whylen, "%p is not aligned to its %zu-byte pages", base, page);
		return -EINVAL;
	}
	if (first < 0) {
		first = alloc_stacks(mn, need);
		if (first < 0) {
			snprintf(why, whylen,
				 "%zu pages of %zu KiB need %u buffer stacks' IO-TLB entries (16 "
				 "pages per stack, %u of %u stacks left): use huge pages",
				 pages, page >> 10, need, MAX_STACKS - mn->next_stack, MAX_STACKS);
			return -ENOSPC;
		}
	} else if (need > 1) {
		snprintf(why, whylen,
			 "%zu pages of %zu KiB, and a buffer stack registers at most 16 "
			 "(gxio_mpipe_register_page): %s",
			 pages, page >> 10,
			 page <= 65536 ? "use huge pages"
				       : "use fewer buffers (--rx-bufs) or larger huge pages");
		return -ENOSPC;
	}
	for (size_t i = 0; i < pages; i++) {
		rc = gxio_mpipe_register_page(&mn->ctx, (unsigned)first + (unsigned)(i / 16),
					      base + i * page, page, 0);
		if (rc < 0) {
			snprintf(why, whylen, "gxio_mpipe_register_page failed: %s (%d)",
				 gxio_strerror(rc), rc);
			return -EIO;
		}
	}
	*stack0 = first;
	*nstacks = need;
	return 0;
}

static int mp_mem_register(struct dl_nic *nic, struct dl_region *r)
{
	struct mpipe_nic *mn = mn_of(nic);
	int stack0 = -1;
	unsigned nstacks = 0;
	char why[256];
	size_t page;
	int rc;

	if (r == NULL || r->id >= DL_REGION_MAX)
		return -EINVAL;
	if (mn->tx[r->id].r != NULL)
		return mn->tx[r->id].r == r ? 0 : -EEXIST;
	page = r->page_size ? r->page_size : 4096;
	rc = register_pages(mn, r->base, r->len, page, &stack0, &nstacks, why, sizeof(why));
	if (rc != 0) {
		DL_WARN("%s: region %s (%zu MiB) not registered for transmit: %s", mn->name,
			r->name, r->len >> 20, why);
		return rc;
	}
	mn->tx[r->id] = (struct txmap){r, page, (unsigned)stack0, nstacks, true};
	r->iova = (uint64_t)(uintptr_t)r->base; /* the IO-TLB maps VAs */
	return 0;
}

static int mp_mem_unregister(struct dl_nic *nic, struct dl_region *r)
{
	struct mpipe_nic *mn = mn_of(nic);

	if (r == NULL || r->id >= DL_REGION_MAX || mn->tx[r->id].r != r || !mn->tx[r->id].ours)
		return -EINVAL;
	/* gxio has no call to unregister a page: the stacks stay mapped
	 * until the context is destroyed; the region is no longer referenced. */
	mn->tx[r->id].r = NULL;
	r->iova = 0;
	return 0;
}

static void mp_free(struct mpipe_nic *mn)
{
	if (mn->link_open)
		gxio_mpipe_link_set_attr(&mn->link, GXIO_MPIPE_LINK_DESIRED_STATE, 0);
	if (mn->ctx_open)
		gxio_mpipe_destroy(&mn->ctx); /* stops the shim, frees its resources */
	if (mn->q != NULL)
		for (unsigned q = 0; q < mn->nq; q++)
			dl_stats_unregister(&mn->q[q].blk);
	free(mn->q);
	dl_region_destroy(mn->rx_reg);
	if (mn->rx_adopted != NULL)
		tmc_alloc_unmap(mn->rx_adopted, mn->rx_len);
	for (unsigned i = 0; i < mn->ntx_adopted; i++)
		tmc_alloc_unmap(mn->tx_adopted[i].base, mn->tx_adopted[i].len);
	if (mn->hdr_mem != NULL)
		tmc_alloc_unmap(mn->hdr_mem, mn->hdr_len);
	if (mn->ctl_mem != NULL)
		tmc_alloc_unmap(mn->ctl_mem, mn->ctl_len);
	free(mn);
}

static void mp_close(struct dl_nic *nic)
{
	mp_free(mn_of(nic));
}

/*
 * Memory the application sends from by reference: it must be registered
 * with the IO-TLB, at most 16 pages per buffer stack, so it is made of huge
 * pages: a hugetlbfs memfd (shareable) when the system has huge pages of
 * the size the port uses, else tmc_alloc huge pages adopted as a region
 * (fd -1: it cannot be passed to another process; unmapped at close).
 * Without huge pages (--no-huge) a plain region, which mem_register
 * refuses: its fragments are then copied (counted).
 */
static struct dl_region *mp_tx_region_create(struct dl_nic *nic, const char *name, size_t len,
					     unsigned flags, int numa_node)
{
	struct mpipe_nic *mn = mn_of(nic);
	tmc_alloc_t alloc = TMC_ALLOC_INIT;
	struct dl_region *r;
	size_t page = mn->huge_page;
	void *base;

	if (!mn->huge || len == 0)
		return dl_region_create_on(name, len, flags, numa_node);
	len = (len + page - 1) / page * page;
	r = dl_region_create_on(name, len, flags | DL_REGION_HUGE, numa_node);
	if (r != NULL && r->page_size == page)
		return r;
	dl_region_destroy(r);
	if (mn->ntx_adopted == MAX_TX_ADOPTED) {
		errno = ENOSPC;
		return NULL;
	}
	tmc_alloc_set_huge(&alloc);
	base = tmc_alloc_map(&alloc, len);
	if (base == NULL) {
		DL_ERR("%s: tmc_alloc_map of %zu bytes of huge pages for %s failed: %s", mn->name,
		       len, name, strerror(errno));
		return NULL;
	}
	r = dl_region_adopt(name, base, len, page);
	if (r == NULL) {
		int e = errno;
		tmc_alloc_unmap(base, len);
		errno = e;
		return NULL;
	}
	mn->tx_adopted[mn->ntx_adopted].base = base;
	mn->tx_adopted[mn->ntx_adopted].len = len;
	mn->ntx_adopted++;
	DL_INFO("%s: %s in tmc_alloc huge pages (%zu KiB pages, no hugetlbfs memfd): sent by "
		"reference, not shareable with another process",
		mn->name, name, page >> 10);
	return r;
}

static const struct dl_nic_ops mpipe_ops = {
    .rx_burst = mp_rx_burst,
    .tx_burst = mp_tx_burst,
    .hdr_alloc = mp_hdr_alloc,
    .buf_free = mp_buf_free,
    .link_get = mp_link_get,
    .stats_get = mp_stats_get,
    .rss_config = NULL, /* mPIPE's flow hash is not Toeplitz */
    .mem_register = mp_mem_register,
    .mem_unregister = mp_mem_unregister,
    .close = mp_close,
    .tx_region_create = mp_tx_region_create,
};

/* ------------------------------------------------------------------------ */
/* Open                                                                     */
/* ------------------------------------------------------------------------ */

static unsigned round_entries(unsigned want, const unsigned *sizes, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (want <= sizes[i])
			return sizes[i];
	return sizes[n - 1];
}

/* Pieces of the control area: stack memory (64 KiB aligned), notif rings
 * (4 KiB aligned) and eDMA rings, none straddling a huge page. */
struct carve {
	size_t off, page;
};

static size_t carve(struct carve *c, size_t size, size_t align)
{
	size_t o = (c->off + align - 1) / align * align;

	if (o / c->page != (o + size - 1) / c->page)
		o = (o + c->page - 1) / c->page * c->page;
	c->off = o + size;
	return o;
}

/* Bytes holding n buffers laid out so that none straddles a page (two
 * pages are not physically contiguous, so a buffer must be in one). */
static size_t bufs_bytes(unsigned n, size_t page)
{
	size_t per = page / BUF_SIZE;

	return (n + per - 1) / per * page;
}

/* Address of buffer i in such a layout. */
static uint8_t *buf_addr(uint8_t *base, unsigned i, size_t page)
{
	size_t per = page / BUF_SIZE;

	return base + (i / per) * page + (i % per) * BUF_SIZE;
}

static int alloc_memory(struct mpipe_nic *mn, size_t *ofs)
{
	struct carve c = {0, mn->huge ? mn->huge_page : 4096};
	size_t rx_ring = mn->rx_entries * sizeof(gxio_mpipe_idesc_t);
	size_t tx_ring = mn->tx_entries * sizeof(gxio_mpipe_edesc_t);
	size_t rxs = gxio_mpipe_calc_buffer_stack_bytes(mn->nrx);
	size_t hds = gxio_mpipe_calc_buffer_stack_bytes(mn->nhdr);
	tmc_alloc_t alloc = TMC_ALLOC_INIT;

	if (rx_ring > c.page || tx_ring > c.page || rxs > c.page || hds > c.page) {
		DL_ERR("%s: a ring or stack needs more than one %zu KiB %spage of physically "
		       "contiguous memory (notif ring %zu KiB, eDMA ring %zu KiB, stacks %zu and "
		       "%zu KiB): %s",
		       mn->name, c.page >> 10, mn->huge ? "huge " : "", rx_ring >> 10,
		       tx_ring >> 10, rxs >> 10, hds >> 10,
		       mn->huge ? "use fewer --rx-desc/--tx-desc/--rx-bufs" : "use huge pages");
		return -ENOMEM;
	}
	ofs[0] = carve(&c, rxs, 65536);
	ofs[1] = carve(&c, hds, 65536);
	for (unsigned q = 0; q < mn->nq; q++) {
		ofs[2 + 2 * q] = carve(&c, rx_ring, 4096);
		ofs[3 + 2 * q] = carve(&c, tx_ring, tx_ring < 4096 ? 4096 : tx_ring);
	}
	mn->ctl_len = (c.off + c.page - 1) / c.page * c.page;
	if (mn->huge)
		tmc_alloc_set_huge(&alloc);
	mn->ctl_mem = tmc_alloc_map(&alloc, mn->ctl_len);
	mn->hdr_len = bufs_bytes(mn->nhdr, c.page);
	mn->hdr_mem = tmc_alloc_map(&alloc, mn->hdr_len);
	if (mn->ctl_mem == NULL || mn->hdr_mem == NULL) {
		DL_ERR("%s: tmc_alloc_map of %zu + %zu bytes%s failed: %s", mn->name, mn->ctl_len,
		       mn->hdr_len, mn->huge ? " in huge pages" : "", strerror(errno));
		return -ENOMEM;
	}
	/* RX buffers: a shareable hugetlb region, else adopted tmc_alloc pages. */
	mn->rx_len = bufs_bytes(mn->nrx, c.page);
	if (mn->huge)
		mn->rx_reg = dl_region_create("rx", mn->rx_len, DL_REGION_HUGE | DL_REGION_DMA);
	if (mn->rx_reg != NULL && mn->rx_reg->page_size != c.page) {
		/* Laid out for c.page: a region of other pages will not do. */
		dl_region_destroy(mn->rx_reg);
		mn->rx_reg = NULL;
	}
	if (mn->rx_reg == NULL) {
		mn->rx_adopted = tmc_alloc_map(&alloc, mn->rx_len);
		if (mn->rx_adopted == NULL) {
			DL_ERR("%s: tmc_alloc_map of %zu bytes for RX buffers failed: %s", mn->name,
			       mn->rx_len, strerror(errno));
			return -ENOMEM;
		}
		mn->rx_reg = dl_region_adopt("rx", mn->rx_adopted, mn->rx_len, c.page);
		if (mn->rx_reg == NULL)
			return -ENOMEM;
		if (mn->huge)
			DL_INFO("%s: RX buffers in tmc_alloc huge pages (no hugetlbfs memfd): "
				"the RX region cannot be shared (protected mode unavailable)",
				mn->name);
	}
	return 0;
}

static int setup_stacks(struct mpipe_nic *mn, const size_t *ofs)
{
	unsigned one = 1;
	char why[256];
	int rc;

	rc = alloc_stacks(mn, 2);
	if (rc < 0)
		return gx_fail(mn, "gxio_mpipe_alloc_buffer_stacks", rc);
	mn->rx_stack = rc;
	mn->hdr_stack = rc + 1;
	rc = gxio_mpipe_init_buffer_stack(&mn->ctx, (unsigned)mn->rx_stack, BUF_CODE,
					  mn->ctl_mem + ofs[0],
					  gxio_mpipe_calc_buffer_stack_bytes(mn->nrx), 0);
	if (rc < 0)
		return gx_fail(mn, "gxio_mpipe_init_buffer_stack (RX)", rc);
	rc = gxio_mpipe_init_buffer_stack(&mn->ctx, (unsigned)mn->hdr_stack, BUF_CODE,
					  mn->ctl_mem + ofs[1],
					  gxio_mpipe_calc_buffer_stack_bytes(mn->nhdr), 0);
	if (rc < 0)
		return gx_fail(mn, "gxio_mpipe_init_buffer_stack (TX headers)", rc);
	if (register_pages(mn, mn->rx_reg->base, mn->rx_reg->len, mn->rx_reg->page_size,
			   &mn->rx_stack, &one, why, sizeof(why)) != 0) {
		DL_ERR("%s: %u RX buffers: %s", mn->name, mn->nrx, why);
		return -1;
	}
	if (register_pages(mn, mn->hdr_mem, mn->hdr_len, mn->huge ? mn->huge_page : 4096,
			   &mn->hdr_stack, &one, why, sizeof(why)) != 0) {
		DL_ERR("%s: %u TX header buffers: %s", mn->name, mn->nhdr, why);
		return -1;
	}
	for (unsigned i = 0; i < mn->nrx; i++)
		gxio_mpipe_push_buffer(&mn->ctx, (unsigned)mn->rx_stack,
				       buf_addr(mn->rx_reg->base, i, mn->rx_reg->page_size));
	for (unsigned i = 0; i < mn->nhdr; i++)
		gxio_mpipe_push_buffer(&mn->ctx, (unsigned)mn->hdr_stack,
				       buf_addr(mn->hdr_mem, i, mn->huge ? mn->huge_page : 4096));
	/* Received payloads may be sent again by reference (hwb=0). */
	mn->tx[mn->rx_reg->id] =
	    (struct txmap){mn->rx_reg, mn->rx_reg->page_size, (unsigned)mn->rx_stack, 1, false};
	mn->nic.rx_region = mn->rx_reg->id;
	return 0;
}

static int setup_rx(struct mpipe_nic *mn, const size_t *ofs)
{
	gxio_mpipe_rules_t rules;
	int ring0, group, bucket0, rc;

	rc = gxio_mpipe_alloc_notif_rings(&mn->ctx, mn->nq, 0, 0);
	if (rc < 0)
		return gx_fail(mn, "gxio_mpipe_alloc_notif_rings", rc);
	ring0 = rc;
	for (unsigned q = 0; q < mn->nq; q++) {
		rc = gxio_mpipe_iqueue_init(&mn->q[q].iq, &mn->ctx, (unsigned)ring0 + q,
					    mn->ctl_mem + ofs[2 + 2 * q],
					    mn->rx_entries * sizeof(gxio_mpipe_idesc_t), 0);
		if (rc < 0)
			return gx_fail(mn, "gxio_mpipe_iqueue_init", rc);
	}
	group = gxio_mpipe_alloc_notif_groups(&mn->ctx, 1, 0, 0);
	if (group < 0)
		return gx_fail(mn, "gxio_mpipe_alloc_notif_groups", group);
	bucket0 = gxio_mpipe_alloc_buckets(&mn->ctx, NBUCKETS, 0, 0);
	if (bucket0 < 0)
		return gx_fail(mn, "gxio_mpipe_alloc_buckets", bucket0);
	rc = gxio_mpipe_init_notif_group_and_buckets(&mn->ctx, (unsigned)group, (unsigned)ring0,
						     mn->nq, (unsigned)bucket0, NBUCKETS,
						     GXIO_MPIPE_BUCKET_STATIC_FLOW_AFFINITY);
	if (rc < 0)
		return gx_fail(mn, "gxio_mpipe_init_notif_group_and_buckets", rc);
	gxio_mpipe_rules_stacks_t stacks;
	memset(stacks.stacks, 255, sizeof(stacks.stacks));
	stacks.stacks[BUF_CODE] = (uint8_t)mn->rx_stack;
	gxio_mpipe_rules_init(&rules, &mn->ctx);
	rc = gxio_mpipe_rules_begin(&rules, (unsigned)bucket0, NBUCKETS, &stacks);
	if (rc == 0)
		rc = gxio_mpipe_rules_set_headroom(&rules, RX_HEADROOM);
	if (rc == 0)
		rc = gxio_mpipe_rules_add_channel(&rules, (unsigned)mn->channel);
	if (rc < 0)
		return gx_fail(mn, "gxio_mpipe_rules_begin/set_headroom/add_channel", rc);
	rc = gxio_mpipe_rules_commit(&rules);
	if (rc < 0)
		return gx_fail(mn, "gxio_mpipe_rules_commit", rc);
	return 0;
}

static int setup_tx(struct mpipe_nic *mn, const size_t *ofs)
{
	int ering = gxio_mpipe_alloc_edma_rings(&mn->ctx, mn->nq, 0, 0);

	if (ering < 0)
		return gx_fail(mn, "gxio_mpipe_alloc_edma_rings", ering);
	for (unsigned q = 0; q < mn->nq; q++) {
		int rc = gxio_mpipe_equeue_init(&mn->q[q].eq, &mn->ctx, (unsigned)ering + q,
						(unsigned)mn->channel, mn->ctl_mem + ofs[3 + 2 * q],
						mn->tx_entries * sizeof(gxio_mpipe_edesc_t), 0);
		if (rc < 0)
			return gx_fail(mn, "gxio_mpipe_equeue_init", rc);
	}
	return 0;
}

static int open_link(struct mpipe_nic *mn, const char *link)
{
	char name[GXIO_MPIPE_LINK_NAME_LEN];
	uint8_t mac[6];
	int instance = gxio_mpipe_link_instance(link), rc;

	if (instance < 0) {
		DL_ERR("%s: gxio_mpipe_link_instance: no mPIPE link %s (%s): name one with -a "
		       "(xgbe1, gbe0, loop0; on the MDE model also tap:IFNAME)",
		       mn->name, link, gxio_strerror(instance));
		return -1;
	}
	rc = gxio_mpipe_init(&mn->ctx, (unsigned)instance);
	if (rc < 0)
		return gx_fail(mn, "gxio_mpipe_init", rc);
	mn->ctx_open = true;
	rc = gxio_mpipe_link_open(&mn->link, &mn->ctx, link, GXIO_MPIPE_LINK_AUTO_NONE);
	if (rc < 0)
		return gx_fail(mn, "gxio_mpipe_link_open", rc);
	mn->link_open = true;
	mn->channel = gxio_mpipe_link_channel(&mn->link);
	for (int i = 0;; i++) {
		char n[GXIO_MPIPE_LINK_NAME_LEN];
		if (gxio_mpipe_link_enumerate_mac(i, n, mac) < 0) {
			int64_t v = gxio_mpipe_link_get_attr(&mn->link, GXIO_MPIPE_LINK_MAC);
			if (v < 0)
				return gx_fail(mn, "gxio_mpipe_link_get_attr(MAC)", (int)v);
			for (int k = 5; k >= 0; k--, v >>= 8)
				mac[k] = (uint8_t)v;
			break;
		}
		if (strncmp(n, link, sizeof(name)) == 0)
			break;
	}
	memcpy(mn->nic.mac, mac, 6);
	return 0;
}

struct dl_nic *dl_tilegx_nic_open(const struct dl_nic_params *p, const char *link, bool huge)
{
	static const unsigned iq_sizes[] = {128, 512, 2048, 65536};
	static const unsigned eq_sizes[] = {512, 2048, 8192, 65536};
	struct mpipe_nic *mn;
	size_t *ofs;
	int rc;

	if (p->nb_queues == 0 || p->nb_queues > 64) {
		DL_ERR("mpipe:%s: %u queue pairs requested (1..64)", link, p->nb_queues);
		return NULL;
	}
	mn = calloc(1, sizeof(*mn));
	ofs = calloc(2 + 2 * (size_t)p->nb_queues, sizeof(*ofs));
	if (mn == NULL || ofs == NULL) {
		free(mn);
		free(ofs);
		return NULL;
	}
	snprintf(mn->name, sizeof(mn->name), "mpipe:%s", link);
	mn->nic.ops = &mpipe_ops;
	mn->nic.name = mn->name;
	mn->nic.mtu = 1500;
	mn->nic.nb_queues = p->nb_queues;
	mn->nic.rx_region = DL_REGION_NONE;
	mn->nq = p->nb_queues;
	mn->rx_stack = mn->hdr_stack = -1;
	mn->huge = huge;
	mn->huge_page = dl_tilegx_huge_page_size();
	mn->hw_csum = !p->no_hw_offload;
	mn->rx_entries = round_entries(p->rx_desc ? p->rx_desc : 1024, iq_sizes, 4);
	mn->tx_entries = round_entries(p->tx_desc ? p->tx_desc : 1024, eq_sizes, 4);
	mn->nrx = (p->rx_bufs ? p->rx_bufs : 4096) * mn->nq;
	mn->nhdr = (p->hdr_bufs ? p->hdr_bufs : 4096) * mn->nq;
	mn->q = calloc(mn->nq, sizeof(*mn->q));
	if (mn->q == NULL) {
		free(ofs);
		free(mn);
		return NULL;
	}
	for (unsigned q = 0; q < mn->nq; q++)
		dl_stats_register(&mn->q[q].blk, "mpipe", tq_cnt_names, TQ_NCNT, mn->q[q].cnt,
				  (int)q);
	rc = open_link(mn, link);
	if (rc == 0)
		rc = alloc_memory(mn, ofs);
	if (rc == 0)
		rc = setup_stacks(mn, ofs);
	if (rc == 0)
		rc = setup_rx(mn, ofs);
	if (rc == 0)
		rc = setup_tx(mn, ofs);
	if (rc == 0) {
		rc = gxio_mpipe_link_set_attr(&mn->link, GXIO_MPIPE_LINK_DESIRED_STATE,
					      (int64_t)GXIO_MPIPE_LINK_ANYSPEED);
		if (rc < 0)
			rc = gx_fail(mn, "gxio_mpipe_link_set_attr(DESIRED_STATE)", rc);
	}
	free(ofs);
	if (rc != 0) {
		mp_free(mn);
		return NULL;
	}
	mn->nic.caps = DL_NIC_CAP_MULTI_SEG | DL_NIC_CAP_EXTBUF | DL_NIC_CAP_RX_CKSUM;
	if (mn->hw_csum) {
		mn->nic.caps |= DL_NIC_CAP_TX_L4_CKSUM | DL_NIC_CAP_TSO;
		mn->nic.tso_max = (uint16_t)TSO_MAX;
	}
	DL_INFO("%s: channel %d, %u queue(s), %u RX + %u header buffers of %u bytes, notif rings "
		"of %u, eDMA rings of %u, %s pages of %zu KiB",
		mn->name, mn->channel, mn->nq, mn->nrx, mn->nhdr, BUF_SIZE, mn->rx_entries,
		mn->tx_entries, mn->huge ? "huge" : "small",
		(mn->huge ? mn->huge_page : 4096) >> 10);
	return &mn->nic;
}
