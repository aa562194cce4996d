/*
 * impair.c - fault-injection NIC shim (see dl_impair.h).
 *
 * Per queue and per direction the shim keeps a delay line: a FIFO ring of
 * frames with the time they are due, plus one "held back" slot for
 * reordering. Every frame, impaired or not, passes through the ring (due =
 * now + delay_us), which keeps order for untouched frames and makes delay,
 * reordering and a full inner TX ring one mechanism:
 *
 *   RX  inner rx_burst -> loss / corrupt / dup / reorder -> ring -> the
 *       due frames go to the caller (at most n per call);
 *   TX  loss / corrupt / dup / reorder -> ring -> the due frames go to the
 *       inner tx_burst; what it refuses stays at the head of the ring.
 *
 * Ownership: a frame in a ring belongs to the shim; close() frees them all.
 * RX duplicates are copies in the shim's own buffers (a small region with a
 * scratch area per buffer, so they look like any RX buffer to the stack);
 * buf_free() tells them from the inner NIC's buffers by address.
 */
#include "dl_impair.h"
#include "dl_log.h"
#include "dl_offload.h"
#include "dl_stats.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define IMP_BUF_SIZE	       2048u
#define IMP_NBUFS	       4096u
#define IMP_RX_BURST	       32u
#define IMP_TX_BATCH	       32u
#define IMP_REORDER_TIMEOUT_US 1000u
#define IMP_NONE	       0xffffffffu

enum imp_cnt {
	IMP_RX_LOST,
	IMP_RX_CORRUPTED,
	IMP_RX_CORRUPT_DROPPED,
	IMP_RX_DUPLICATED,
	IMP_RX_DUP_NOBUF,
	IMP_RX_REORDERED,
	IMP_RX_DELAYED,
	IMP_RX_HOLD_FULL,
	IMP_TX_LOST,
	IMP_TX_CORRUPTED,
	IMP_TX_CORRUPT_DROPPED,
	IMP_TX_DUPLICATED,
	IMP_TX_DUP_NOBUF,
	IMP_TX_REORDERED,
	IMP_TX_DELAYED,
	IMP_TX_HOLD_FULL,
	IMP_TX_PRIVATE_COPIES,
	IMP_TX_COPY_NOMEM,
	IMP_NCNT
};

static const char *const imp_cnt_names[IMP_NCNT] = {
    [IMP_RX_LOST] = "rx_lost",
    [IMP_RX_CORRUPTED] = "rx_corrupted",
    [IMP_RX_CORRUPT_DROPPED] = "rx_corrupt_dropped_unprotected",
    [IMP_RX_DUPLICATED] = "rx_duplicated",
    [IMP_RX_DUP_NOBUF] = "rx_dup_no_buffer",
    [IMP_RX_REORDERED] = "rx_reordered",
    [IMP_RX_DELAYED] = "rx_delayed",
    [IMP_RX_HOLD_FULL] = "rx_drop_hold_full",
    [IMP_TX_LOST] = "tx_lost",
    [IMP_TX_CORRUPTED] = "tx_corrupted",
    [IMP_TX_CORRUPT_DROPPED] = "tx_corrupt_dropped_unprotected",
    [IMP_TX_DUPLICATED] = "tx_duplicated",
    [IMP_TX_DUP_NOBUF] = "tx_dup_no_header_buffer",
    [IMP_TX_REORDERED] = "tx_reordered",
    [IMP_TX_DELAYED] = "tx_delayed",
    [IMP_TX_HOLD_FULL] = "tx_refused_hold_full",
    [IMP_TX_PRIVATE_COPIES] = "tx_private_fragment_copies",
    [IMP_TX_COPY_NOMEM] = "tx_drop_copy_nomem",
};

struct rx_ent {
	uint64_t due;
	struct dl_rx_pkt pkt;
};

struct tx_ent {
	uint64_t due;
	uint8_t *owned; /* copies of the private fragments, or NULL */
	bool needs_copy;
	struct dl_tx_pkt pkt;
};

/* Shim buffer for RX duplicates; its data lives in the shim region. The
 * stack lays pointer-sized fields over the scratch area (struct
 * dl_tcp_rxb), so every element's scratch is 8-byte aligned, as an mbuf's
 * private area is: without the alignment, odd elements of the array had it
 * at 4 bytes (sizeof 36). */
struct imp_buf {
	_Alignas(8) uint8_t scratch[DL_BUF_SCRATCH];
	uint32_t next;
};
_Static_assert(sizeof(struct imp_buf) % 8 == 0, "imp_buf array keeps scratch aligned");

struct imp_queue {
	uint64_t rng_rx, rng_tx;
	struct rx_ent *rx;
	uint32_t rx_head, rx_n;
	struct tx_ent *tx;
	uint32_t tx_head, tx_n;
	uint32_t tx_uncopied; /* ring entries whose private fragments await a copy */
	bool rx_held_on, tx_held_on;
	struct rx_ent rx_held; /* due = when it was held */
	struct tx_ent tx_held;
	uint64_t cnt[IMP_NCNT];
	struct dl_counter_block blk;
};

struct imp_nic {
	struct dl_nic nic; /* first: the HAL handle */
	struct dl_nic *inner;
	struct dl_impair_config cfg;
	uint32_t reorder_timeout;
	struct imp_queue *q;
	char name[64];
	/* RX duplicate buffers: any core may free, so a lock guards the list. */
	pthread_mutex_t lock;
	struct dl_region *region;
	struct imp_buf *bufs;
	uint32_t free_head, in_use;
};

static struct imp_nic *imp_of(struct dl_nic *nic)
{
	return (struct imp_nic *)nic;
}

static uint64_t imp_now(const struct imp_nic *im)
{
	return im->cfg.now != NULL ? im->cfg.now(im->cfg.now_arg) : dl_now_us();
}

/* --- random decisions ---------------------------------------------------- */

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* xorshift64*: state never zero. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

static bool rng_chance(uint64_t *s, double p)
{
	if (p <= 0.0)
		return false;
	return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0) < p;
}

static uint32_t rng_below(uint64_t *s, uint32_t n)
{
	assert(n > 0);
	return (uint32_t)((rng_next(s) >> 32) % n);
}

/* --- shim buffers -------------------------------------------------------- */

static struct dl_buf *sbuf_handle(struct imp_buf *b)
{
	return (struct dl_buf *)b;
}

static bool sbuf_owned(const struct imp_nic *im, const struct dl_buf *b)
{
	const struct imp_buf *p = (const struct imp_buf *)b;

	return im->bufs != NULL && p >= im->bufs && p < im->bufs + IMP_NBUFS;
}

static struct imp_buf *sbuf_alloc(struct imp_nic *im)
{
	struct imp_buf *b = NULL;

	pthread_mutex_lock(&im->lock);
	if (im->free_head != IMP_NONE) {
		b = &im->bufs[im->free_head];
		im->free_head = b->next;
		im->in_use++;
	}
	pthread_mutex_unlock(&im->lock);
	return b;
}

static void sbuf_free(struct imp_nic *im, struct imp_buf *b)
{
	pthread_mutex_lock(&im->lock);
	assert(im->in_use > 0);
	b->next = im->free_head;
	im->free_head = (uint32_t)(b - im->bufs);
	im->in_use--;
	pthread_mutex_unlock(&im->lock);
}

static uint8_t *sbuf_data(struct imp_nic *im, struct imp_buf *b)
{
	return im->region->base + (size_t)(b - im->bufs) * IMP_BUF_SIZE;
}

static void any_buf_free(struct imp_nic *im, struct dl_buf *b)
{
	if (sbuf_owned(im, b))
		sbuf_free(im, (struct imp_buf *)b);
	else
		dl_nic_buf_free(im->inner, b);
}

/* --- RX ------------------------------------------------------------------ */

static void rx_push(struct imp_nic *im, struct imp_queue *iq, const struct dl_rx_pkt *p,
		    uint64_t due)
{
	if (iq->rx_n == DL_IMPAIR_HOLD_MAX) {
		iq->cnt[IMP_RX_HOLD_FULL]++;
		any_buf_free(im, p->buf);
		return;
	}
	struct rx_ent *e = &iq->rx[(iq->rx_head + iq->rx_n) % DL_IMPAIR_HOLD_MAX];
	e->due = due;
	e->pkt = *p;
	iq->rx_n++;
}

/* Put one frame on the delay line, maybe holding it back for reordering. */
static void rx_stage(struct imp_nic *im, struct imp_queue *iq, const struct dl_rx_pkt *p,
		     uint64_t now)
{
	uint64_t due = now + im->cfg.delay_us;

	if (!iq->rx_held_on && rng_chance(&iq->rng_rx, im->cfg.reorder)) {
		iq->rx_held = (struct rx_ent){.due = now, .pkt = *p};
		iq->rx_held_on = true;
		iq->cnt[IMP_RX_REORDERED]++;
		return;
	}
	if (im->cfg.delay_us > 0)
		iq->cnt[IMP_RX_DELAYED]++;
	rx_push(im, iq, p, due);
	if (iq->rx_held_on) {
		iq->rx_held_on = false;
		rx_push(im, iq, &iq->rx_held.pkt, due);
	}
}

/* Bytes of an IPv4 frame covered by a checksum, or 0 if it is not IPv4. */
static uint32_t ipv4_frame_end(const uint8_t *f, uint32_t len)
{
	uint32_t tot;

	if (len < 34 || f[12] != 0x08 || f[13] != 0x00 || (f[14] >> 4) != 4)
		return 0;
	tot = (uint32_t)f[16] << 8 | f[17];
	return 14 + tot < len ? 14 + tot : len;
}

/* Flip a byte of an RX frame; false if the frame has no checksum to catch it. */
static bool rx_corrupt(struct imp_queue *iq, struct dl_rx_pkt *p)
{
	uint32_t end = ipv4_frame_end(p->data, p->len);

	if (end <= 14)
		return false;
	p->data[14 + rng_below(&iq->rng_rx, end - 14)] ^=
	    (uint8_t)(1 + rng_below(&iq->rng_rx, 255));
	p->flags &= ~(uint32_t)(DL_RX_L3_CSUM_GOOD | DL_RX_L4_CSUM_GOOD);
	return true;
}

/* A copy of p in a shim buffer, or false. */
static bool rx_dup(struct imp_nic *im, const struct dl_rx_pkt *p, struct dl_rx_pkt *out)
{
	struct imp_buf *b;

	if (p->len > IMP_BUF_SIZE || (b = sbuf_alloc(im)) == NULL)
		return false;
	*out = *p;
	out->data = sbuf_data(im, b);
	memcpy(out->data, p->data, p->len);
	memcpy(b->scratch, p->scratch, DL_BUF_SCRATCH);
	out->scratch = b->scratch;
	out->region = im->region->id;
	out->buf = sbuf_handle(b);
	return true;
}

static void rx_process(struct imp_nic *im, struct imp_queue *iq, struct dl_rx_pkt *p, uint64_t now)
{
	struct dl_rx_pkt copy;
	bool dup;

	if (rng_chance(&iq->rng_rx, im->cfg.loss)) {
		iq->cnt[IMP_RX_LOST]++;
		any_buf_free(im, p->buf);
		return;
	}
	if (rng_chance(&iq->rng_rx, im->cfg.corrupt)) {
		if (!rx_corrupt(iq, p)) {
			iq->cnt[IMP_RX_CORRUPT_DROPPED]++;
			any_buf_free(im, p->buf);
			return;
		}
		iq->cnt[IMP_RX_CORRUPTED]++;
	}
	dup = rng_chance(&iq->rng_rx, im->cfg.dup);
	if (dup && !rx_dup(im, p, &copy)) {
		iq->cnt[IMP_RX_DUP_NOBUF]++;
		dup = false;
	}
	rx_stage(im, iq, p, now);
	if (dup) {
		iq->cnt[IMP_RX_DUPLICATED]++;
		rx_stage(im, iq, &copy, now);
	}
}

/* A frame held back for reordering goes out if nothing followed it in time. */
static void rx_held_timeout(struct imp_nic *im, struct imp_queue *iq, uint64_t now)
{
	if (iq->rx_held_on && now - iq->rx_held.due >= im->reorder_timeout) {
		iq->rx_held_on = false;
		rx_push(im, iq, &iq->rx_held.pkt, now);
	}
}

static void tx_release(struct imp_nic *im, uint16_t q, uint64_t now);

static uint16_t imp_rx_burst(struct dl_nic *nic, uint16_t q, struct dl_rx_pkt *pkts, uint16_t n)
{
	struct imp_nic *im = imp_of(nic);
	struct imp_queue *iq = &im->q[q];
	struct dl_rx_pkt in[IMP_RX_BURST];
	uint64_t now = imp_now(im);
	uint32_t room = DL_IMPAIR_HOLD_MAX - iq->rx_n;
	uint16_t want, got, out = 0;

	tx_release(im, q, now);
	/* Each frame may become two (dup) plus the one held back. */
	want = (uint16_t)(room > 2 ? (room - 2) / 2 : 0);
	if (want > n)
		want = n;
	if (want > IMP_RX_BURST)
		want = IMP_RX_BURST;
	got = want > 0 ? dl_nic_rx_burst(im->inner, q, in, want) : 0;
	for (uint16_t i = 0; i < got; i++)
		rx_process(im, iq, &in[i], now);
	rx_held_timeout(im, iq, now);
	while (out < n && iq->rx_n > 0 && iq->rx[iq->rx_head].due <= now) {
		pkts[out] = iq->rx[iq->rx_head].pkt;
		pkts[out].queue = q;
		out++;
		iq->rx_head = (iq->rx_head + 1) % DL_IMPAIR_HOLD_MAX;
		iq->rx_n--;
	}
	return out;
}

/* --- TX ------------------------------------------------------------------ */

static bool has_private_frags(const struct dl_tx_pkt *p)
{
	for (unsigned i = 0; i < p->nfrags; i++)
		if (p->frag[i].region == DL_REGION_NONE)
			return true;
	return false;
}

/* Copy the private fragments of a held packet: their memory is the
 * caller's only during tx_burst. False when out of memory. */
static bool tx_copy_private(struct imp_queue *iq, struct tx_ent *e)
{
	size_t total = 0, off = 0;

	for (unsigned i = 0; i < e->pkt.nfrags; i++)
		if (e->pkt.frag[i].region == DL_REGION_NONE)
			total += e->pkt.frag[i].len;
	e->owned = malloc(total);
	if (e->owned == NULL)
		return false;
	for (unsigned i = 0; i < e->pkt.nfrags; i++) {
		struct dl_tx_frag *f = &e->pkt.frag[i];
		if (f->region != DL_REGION_NONE)
			continue;
		memcpy(e->owned + off, f->data, f->len);
		f->data = e->owned + off;
		off += f->len;
	}
	e->needs_copy = false;
	iq->cnt[IMP_TX_PRIVATE_COPIES]++;
	return true;
}

static void tx_ent_free(struct imp_nic *im, struct tx_ent *e)
{
	dl_nic_buf_free(im->inner, e->pkt.hdr);
	free(e->owned);
	e->owned = NULL;
}

static void tx_push(struct imp_queue *iq, const struct tx_ent *src, uint64_t due)
{
	struct tx_ent *e;

	assert(iq->tx_n < DL_IMPAIR_HOLD_MAX);
	e = &iq->tx[(iq->tx_head + iq->tx_n) % DL_IMPAIR_HOLD_MAX];
	*e = *src;
	e->due = due;
	iq->tx_n++;
	if (e->needs_copy)
		iq->tx_uncopied++;
}

static void tx_stage(struct imp_nic *im, struct imp_queue *iq, const struct dl_tx_pkt *p,
		     uint64_t now)
{
	struct tx_ent e = {.pkt = *p, .needs_copy = has_private_frags(p)};
	uint64_t due = now + im->cfg.delay_us;

	if (!iq->tx_held_on && rng_chance(&iq->rng_tx, im->cfg.reorder)) {
		e.due = now;
		iq->tx_held = e;
		iq->tx_held_on = true;
		iq->cnt[IMP_TX_REORDERED]++;
		return;
	}
	if (im->cfg.delay_us > 0)
		iq->cnt[IMP_TX_DELAYED]++;
	tx_push(iq, &e, due);
	if (iq->tx_held_on) {
		iq->tx_held_on = false;
		tx_push(iq, &iq->tx_held, due);
	}
}

/*
 * Corrupt a TX packet without touching payload memory: checksums are done
 * in software first, then a byte of the IPv4/L4 headers is flipped, so the
 * receiver's checksum check catches it. False if that is impossible (not
 * IP, or a TSO packet that still needs cutting): the caller drops it.
 */
static bool tx_corrupt(struct imp_queue *iq, struct dl_tx_pkt *p)
{
	size_t payload = dl_tx_payload_len(p);

	if (p->l3_len == 0 || p->hdr_len <= p->l2_len)
		return false;
	if ((p->ol_flags & DL_TX_TSO) && p->tso_segsz > 0 && payload > p->tso_segsz)
		return false;
	dl_tx_sw_cksum(p, p->hdr_data);
	p->ol_flags &= (uint16_t)~DL_TX_TSO;
	p->hdr_data[p->l2_len + rng_below(&iq->rng_tx, (uint32_t)(p->hdr_len - p->l2_len))] ^=
	    (uint8_t)(1 + rng_below(&iq->rng_tx, 255));
	return true;
}

/* Second copy of a packet: new header buffer, shared payload fragments. */
static bool tx_dup(struct imp_nic *im, uint16_t q, const struct dl_tx_pkt *p, struct dl_tx_pkt *out)
{
	uint8_t *data;
	uint16_t room;
	struct dl_buf *b = dl_nic_hdr_alloc(im->inner, q, &data, &room);

	if (b == NULL)
		return false;
	if (room < p->hdr_len) {
		dl_nic_buf_free(im->inner, b);
		return false;
	}
	*out = *p;
	memcpy(data, p->hdr_data, p->hdr_len);
	out->hdr = b;
	out->hdr_data = data;
	return true;
}

static void tx_process(struct imp_nic *im, uint16_t q, struct dl_tx_pkt *p, uint64_t now)
{
	struct imp_queue *iq = &im->q[q];
	struct dl_tx_pkt copy;
	bool dup;

	if (rng_chance(&iq->rng_tx, im->cfg.loss)) {
		iq->cnt[IMP_TX_LOST]++;
		dl_nic_buf_free(im->inner, p->hdr);
		return;
	}
	if (rng_chance(&iq->rng_tx, im->cfg.corrupt)) {
		if (!tx_corrupt(iq, p)) {
			iq->cnt[IMP_TX_CORRUPT_DROPPED]++;
			dl_nic_buf_free(im->inner, p->hdr);
			return;
		}
		iq->cnt[IMP_TX_CORRUPTED]++;
	}
	dup = rng_chance(&iq->rng_tx, im->cfg.dup);
	if (dup && !tx_dup(im, q, p, &copy)) {
		iq->cnt[IMP_TX_DUP_NOBUF]++;
		dup = false;
	}
	tx_stage(im, iq, p, now);
	if (dup) {
		iq->cnt[IMP_TX_DUPLICATED]++;
		tx_stage(im, iq, &copy, now);
	}
}

/* Hand the due packets at the head of the ring to the inner NIC. */
static void tx_release(struct imp_nic *im, uint16_t q, uint64_t now)
{
	struct imp_queue *iq = &im->q[q];
	struct dl_tx_pkt batch[IMP_TX_BATCH];

	if (iq->tx_held_on && now - iq->tx_held.due >= im->reorder_timeout) {
		iq->tx_held_on = false;
		tx_push(iq, &iq->tx_held, now);
	}
	while (iq->tx_n > 0) {
		uint16_t k = 0, sent;

		while (k < IMP_TX_BATCH && k < iq->tx_n) {
			struct tx_ent *e = &iq->tx[(iq->tx_head + k) % DL_IMPAIR_HOLD_MAX];
			if (e->due > now)
				break;
			batch[k++] = e->pkt;
		}
		if (k == 0)
			return;
		sent = dl_nic_tx_burst(im->inner, q, batch, k);
		for (uint16_t i = 0; i < sent; i++) {
			struct tx_ent *e = &iq->tx[iq->tx_head];
			/* The inner NIC copied private fragments during the call. */
			if (e->needs_copy)
				iq->tx_uncopied--;
			free(e->owned);
			e->owned = NULL;
			iq->tx_head = (iq->tx_head + 1) % DL_IMPAIR_HOLD_MAX;
			iq->tx_n--;
		}
		if (sent < k)
			return;
	}
}

/* Before tx_burst returns, every frame it keeps must own its private data. */
static void tx_copy_pending(struct imp_nic *im, struct imp_queue *iq)
{
	if (iq->tx_held_on && iq->tx_held.needs_copy && !tx_copy_private(iq, &iq->tx_held)) {
		iq->cnt[IMP_TX_COPY_NOMEM]++;
		iq->tx_held_on = false;
		tx_ent_free(im, &iq->tx_held);
	}
	/* Entries added by this call are the newest: walk back from the tail.
	 * One that cannot be copied is sent with a zero payload rather than
	 * reading freed memory: its fragments are dropped from the packet. */
	for (uint32_t k = iq->tx_n; k > 0 && iq->tx_uncopied > 0; k--) {
		struct tx_ent *e = &iq->tx[(iq->tx_head + k - 1) % DL_IMPAIR_HOLD_MAX];
		if (!e->needs_copy)
			continue;
		iq->tx_uncopied--;
		if (!tx_copy_private(iq, e)) {
			iq->cnt[IMP_TX_COPY_NOMEM]++;
			e->needs_copy = false;
			e->pkt.nfrags = 0;
		}
	}
}

static uint16_t imp_tx_burst(struct dl_nic *nic, uint16_t q, struct dl_tx_pkt *pkts, uint16_t n)
{
	struct imp_nic *im = imp_of(nic);
	struct imp_queue *iq = &im->q[q];
	uint64_t now = imp_now(im);
	uint16_t i;

	for (i = 0; i < n; i++) {
		/* Room for the frame, its duplicate and the one held back. */
		if (DL_IMPAIR_HOLD_MAX - iq->tx_n < 3) {
			iq->cnt[IMP_TX_HOLD_FULL]++;
			break;
		}
		tx_process(im, q, &pkts[i], now);
	}
	tx_release(im, q, now);
	tx_copy_pending(im, iq);
	return i;
}

/* --- the rest of the ops ------------------------------------------------- */

static struct dl_buf *imp_hdr_alloc(struct dl_nic *nic, uint16_t q, uint8_t **data, uint16_t *room)
{
	return dl_nic_hdr_alloc(imp_of(nic)->inner, q, data, room);
}

static void imp_buf_free(struct dl_nic *nic, struct dl_buf *b)
{
	any_buf_free(imp_of(nic), b);
}

static int imp_link_get(struct dl_nic *nic, struct dl_link *link)
{
	struct dl_nic *in = imp_of(nic)->inner;

	return in->ops->link_get(in, link);
}

static int imp_stats_get(struct dl_nic *nic, struct dl_nic_stats *st)
{
	struct dl_nic *in = imp_of(nic)->inner;

	return in->ops->stats_get(in, st);
}

static int imp_rss_config(struct dl_nic *nic, const uint8_t key[40], const uint16_t *reta,
			  unsigned reta_size)
{
	struct dl_nic *in = imp_of(nic)->inner;

	if (in->ops->rss_config == NULL)
		return -ENOTSUP;
	return in->ops->rss_config(in, key, reta, reta_size);
}

static int imp_mem_register(struct dl_nic *nic, struct dl_region *r)
{
	struct dl_nic *in = imp_of(nic)->inner;

	return in->ops->mem_register != NULL ? in->ops->mem_register(in, r) : 0;
}

static int imp_mem_unregister(struct dl_nic *nic, struct dl_region *r)
{
	struct dl_nic *in = imp_of(nic)->inner;

	return in->ops->mem_unregister != NULL ? in->ops->mem_unregister(in, r) : 0;
}

static void free_queue(struct imp_nic *im, struct imp_queue *iq)
{
	while (iq->rx_n > 0) {
		any_buf_free(im, iq->rx[iq->rx_head].pkt.buf);
		iq->rx_head = (iq->rx_head + 1) % DL_IMPAIR_HOLD_MAX;
		iq->rx_n--;
	}
	if (iq->rx_held_on)
		any_buf_free(im, iq->rx_held.pkt.buf);
	iq->rx_held_on = false;
	while (iq->tx_n > 0) {
		tx_ent_free(im, &iq->tx[iq->tx_head]);
		iq->tx_head = (iq->tx_head + 1) % DL_IMPAIR_HOLD_MAX;
		iq->tx_n--;
	}
	if (iq->tx_held_on)
		tx_ent_free(im, &iq->tx_held);
	iq->tx_held_on = false;
	dl_stats_unregister(&iq->blk);
	free(iq->rx);
	free(iq->tx);
}

static void imp_destroy(struct imp_nic *im)
{
	if (im->q != NULL)
		for (unsigned q = 0; q < im->nic.nb_queues; q++)
			free_queue(im, &im->q[q]);
	free(im->q);
	if (im->in_use != 0)
		DL_WARN("impair: %u duplicate buffers still held at close", im->in_use);
	dl_region_destroy(im->region);
	free(im->bufs);
	pthread_mutex_destroy(&im->lock);
	free(im);
}

static void imp_close(struct dl_nic *nic)
{
	struct imp_nic *im = imp_of(nic);
	struct dl_nic *inner = im->inner;

	imp_destroy(im);
	dl_nic_close(inner);
}

static const struct dl_nic_ops imp_ops = {
    .rx_burst = imp_rx_burst,
    .tx_burst = imp_tx_burst,
    .hdr_alloc = imp_hdr_alloc,
    .buf_free = imp_buf_free,
    .link_get = imp_link_get,
    .stats_get = imp_stats_get,
    .rss_config = imp_rss_config,
    .mem_register = imp_mem_register,
    .mem_unregister = imp_mem_unregister,
    .close = imp_close,
};

bool dl_impair_active(const struct dl_impair_config *c)
{
	return c->loss > 0 || c->reorder > 0 || c->dup > 0 || c->corrupt > 0 || c->delay_us > 0;
}

static bool frac_ok(double f)
{
	return f >= 0.0 && f <= 1.0;
}

static int init_queue(struct imp_nic *im, unsigned q)
{
	struct imp_queue *iq = &im->q[q];
	uint64_t base = splitmix64(im->cfg.seed ^ (0x100000001b3ull * (q + 1)));

	iq->rng_rx = splitmix64(base ^ 1) | 1;
	iq->rng_tx = splitmix64(base ^ 2) | 1;
	iq->rx = calloc(DL_IMPAIR_HOLD_MAX, sizeof(*iq->rx));
	iq->tx = calloc(DL_IMPAIR_HOLD_MAX, sizeof(*iq->tx));
	if (iq->rx == NULL || iq->tx == NULL)
		return -1;
	dl_stats_register(&iq->blk, "impair", imp_cnt_names, IMP_NCNT, iq->cnt, (int)q);
	return 0;
}

static int init_bufs(struct imp_nic *im)
{
	im->region = dl_region_create("impair", (size_t)IMP_NBUFS * IMP_BUF_SIZE, 0);
	im->bufs = calloc(IMP_NBUFS, sizeof(*im->bufs));
	if (im->region == NULL || im->bufs == NULL)
		return -1;
	for (uint32_t i = 0; i < IMP_NBUFS; i++)
		im->bufs[i].next = i + 1 < IMP_NBUFS ? i + 1 : IMP_NONE;
	im->free_head = 0;
	return 0;
}

struct dl_nic *dl_impair_wrap(struct dl_nic *inner, const struct dl_impair_config *cfg)
{
	struct imp_nic *im;

	if (inner == NULL || cfg == NULL || !frac_ok(cfg->loss) || !frac_ok(cfg->reorder) ||
	    !frac_ok(cfg->dup) || !frac_ok(cfg->corrupt) || inner->nb_queues == 0) {
		errno = EINVAL;
		return NULL;
	}
	im = calloc(1, sizeof(*im));
	if (im == NULL)
		return NULL;
	pthread_mutex_init(&im->lock, NULL);
	im->nic = *inner;
	im->nic.ops = &imp_ops;
	snprintf(im->name, sizeof(im->name), "impair(%s)", inner->name ? inner->name : "?");
	im->nic.name = im->name;
	im->inner = inner;
	im->cfg = *cfg;
	im->reorder_timeout =
	    cfg->delay_us > IMP_REORDER_TIMEOUT_US ? cfg->delay_us : IMP_REORDER_TIMEOUT_US;
	im->q = calloc(inner->nb_queues, sizeof(*im->q));
	if (im->q == NULL || init_bufs(im) != 0) {
		imp_destroy(im);
		errno = ENOMEM;
		return NULL;
	}
	for (unsigned q = 0; q < inner->nb_queues; q++) {
		if (init_queue(im, q) != 0) {
			imp_destroy(im);
			errno = ENOMEM;
			return NULL;
		}
	}
	return &im->nic;
}

unsigned dl_impair_held(const struct dl_nic *nic)
{
	const struct imp_nic *im = (const struct imp_nic *)nic;
	unsigned n = 0;

	for (unsigned q = 0; q < im->nic.nb_queues; q++)
		n += im->q[q].rx_n + im->q[q].tx_n + im->q[q].rx_held_on + im->q[q].tx_held_on;
	return n;
}

unsigned dl_impair_bufs_in_use(const struct dl_nic *nic)
{
	struct imp_nic *im = (struct imp_nic *)nic;
	unsigned n;

	pthread_mutex_lock(&im->lock);
	n = im->in_use;
	pthread_mutex_unlock(&im->lock);
	return n;
}
