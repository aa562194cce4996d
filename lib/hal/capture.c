/*
 * capture.c - packet capture at the NIC (see dl_capture.h).
 *
 * Per queue, a ring of bytes (a power of two) holds copied frames as
 * records: a header (its size, a skip flag, struct dl_capture_rec) and
 * the frame's bytes, 8-byte aligned. A record never wraps: when it does
 * not fit before the end, a skip record fills the end and it goes at the
 * start. The queue's core writes records at its private write position
 * and publishes them by storing the tail (release); the writer thread
 * reads up to the tail (acquire) and gives the space back by storing the
 * head (release). Transmitted frames are written before the port's
 * tx_burst and published after it, as far as the last frame the port
 * accepted; the rest are forgotten by moving the write position back.
 */
#include "dl_capture.h"
#include "dl_log.h"
#include "dl_offload.h"
#include "dl_platform.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REC_SKIP   1u
#define MAX_QUEUES 1024u

struct rec_hdr {
	uint32_t total; /* bytes of this record, header included, multiple of 8 */
	uint32_t flags; /* REC_SKIP */
	struct dl_capture_rec rec;
};
_Static_assert(sizeof(struct rec_hdr) % 8 == 0, "records stay 8-byte aligned");

struct cap_ring {
	uint8_t *buf;
	uint64_t size, mask;
	uint64_t head; /* writer thread: consumed (atomic) */
	uint64_t tail; /* core: published (atomic) */
	uint64_t wpos; /* core: written, may be ahead of tail (private) */
	/* written by the core only; read by anyone (relaxed) */
	uint64_t rx, tx, bytes, dropped, over_limit;
	char pad[64];
};

struct dl_capture {
	struct dl_nic *nic;
	const struct dl_nic_ops *port_ops; /* the port's own table */
	struct dl_nic_ops ops;		   /* the capture's (forwarding) table */
	struct dl_capture_sink *sink;
	struct dl_capture_conf conf;
	unsigned nq;
	struct cap_ring *ring;
	uint64_t taken; /* frames copied (atomic; max_frames) */
	uint64_t written, write_errors;
	struct dl_thread *writer;
	int stop; /* atomic: the writer drains and returns */
	bool attached;
};

/* The capture the operations below serve. Set before the ops are
 * swapped, cleared by dl_capture_finish() only (after every core that
 * could be inside them has moved on). */
static struct dl_capture *active;

/* The port's own table, kept for good: a thread that is not a core (the
 * protected-mode control thread registering memory) may have loaded the
 * capture's table just before a stop and call in after the finish. */
static const struct dl_nic_ops *port_ops_kept;

static inline struct dl_capture *cap_of(void)
{
	return __atomic_load_n(&active, __ATOMIC_ACQUIRE);
}

static inline const struct dl_nic_ops *port_ops(void)
{
	return __atomic_load_n(&port_ops_kept, __ATOMIC_ACQUIRE);
}

static inline uint64_t align8(uint64_t n)
{
	return (n + 7) & ~(uint64_t)7;
}

/* Room for a record of @p need bytes at the core's write position: the
 * header's address, after a skip record if it must wrap; NULL when the
 * ring is too full. */
static struct rec_hdr *ring_reserve(struct cap_ring *r, uint64_t need)
{
	uint64_t head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
	uint64_t pos = r->wpos & r->mask, to_end = r->size - pos;
	uint64_t want = need > to_end ? to_end + need : need;

	if (need > r->size / 2 || r->wpos + want - head > r->size)
		return NULL;
	if (need > to_end) {
		struct rec_hdr *skip = (struct rec_hdr *)(r->buf + pos);
		skip->total = (uint32_t)to_end;
		skip->flags = REC_SKIP;
		r->wpos += to_end;
		pos = 0;
	}
	return (struct rec_hdr *)(r->buf + pos);
}

/* A frame ticket under max_frames. */
static bool take_ticket(struct dl_capture *c, struct cap_ring *r)
{
	if (c->conf.max_frames == 0)
		return true;
	if (__atomic_fetch_add(&c->taken, 1, __ATOMIC_RELAXED) < c->conf.max_frames)
		return true;
	__atomic_fetch_sub(&c->taken, 1, __ATOMIC_RELAXED);
	r->over_limit++;
	return false;
}

static void give_back_tickets(struct dl_capture *c, uint64_t n)
{
	if (c->conf.max_frames != 0 && n > 0)
		__atomic_fetch_sub(&c->taken, n, __ATOMIC_RELAXED);
}

static void put_rec(struct rec_hdr *h, uint32_t orig, uint32_t caplen, uint64_t stamp, uint16_t q,
		    uint8_t dir)
{
	h->total = (uint32_t)align8(sizeof(*h) + caplen);
	h->flags = 0;
	h->rec.orig_len = orig;
	h->rec.cap_len = caplen;
	h->rec.stamp = stamp;
	h->rec.queue = q;
	h->rec.dir = dir;
}

static void capture_rx(struct dl_capture *c, uint16_t q, const struct dl_rx_pkt *p, uint16_t n)
{
	struct cap_ring *r = &c->ring[q];
	uint64_t stamp = c->sink->ops->stamp(c->sink);

	for (uint16_t i = 0; i < n; i++) {
		uint32_t caplen = p[i].len < c->conf.snaplen ? p[i].len : c->conf.snaplen;
		struct rec_hdr *h;

		if (!take_ticket(c, r))
			continue;
		h = ring_reserve(r, align8(sizeof(*h) + caplen));
		if (h == NULL) {
			give_back_tickets(c, 1);
			r->dropped++;
			continue;
		}
		put_rec(h, p[i].len, caplen, stamp, q, DL_CAPTURE_RX);
		memcpy(h + 1, p[i].data, caplen);
		r->wpos += h->total;
		r->rx++;
		r->bytes += caplen;
	}
	__atomic_store_n(&r->tail, r->wpos, __ATOMIC_RELEASE);
}

/* Copy a transmit packet as the wire will carry it (first caplen bytes). */
static void copy_tx(const struct dl_tx_pkt *p, uint8_t *out, uint32_t caplen, bool whole)
{
	uint32_t off = p->hdr_len < caplen ? p->hdr_len : caplen;

	memcpy(out, p->hdr_data, off);
	for (unsigned i = 0; i < p->nfrags && off < caplen; i++) {
		uint32_t take = p->frag[i].len < caplen - off ? p->frag[i].len : caplen - off;
		memcpy(out + off, p->frag[i].data, take);
		off += take;
	}
	/* The checksums the device would fill, where the copy is the frame. */
	if (whole && (p->ol_flags & ~DL_TX_TSO) != 0 &&
	    (!(p->ol_flags & DL_TX_TSO) || dl_tx_payload_len(p) <= p->tso_segsz)) {
		struct dl_tx_pkt tmp = *p;
		tmp.ol_flags &= (uint16_t)~DL_TX_TSO;
		dl_tx_sw_cksum(&tmp, out);
	}
}

/* Write copies of the packets; *ends[i] is the write position after
 * packet i (or the one before when it was not copied). */
static void stage_tx(struct dl_capture *c, uint16_t q, const struct dl_tx_pkt *p, uint16_t n,
		     uint64_t *ends, uint8_t *copied)
{
	struct cap_ring *r = &c->ring[q];
	uint64_t stamp = c->sink->ops->stamp(c->sink);

	for (uint16_t i = 0; i < n; i++) {
		uint64_t len = p[i].hdr_len + dl_tx_payload_len(&p[i]);
		uint32_t caplen = len < c->conf.snaplen ? (uint32_t)len : c->conf.snaplen;
		struct rec_hdr *h;

		copied[i] = 0;
		if (take_ticket(c, r)) {
			h = ring_reserve(r, align8(sizeof(*h) + caplen));
			if (h != NULL) {
				put_rec(h, len > UINT32_MAX ? UINT32_MAX : (uint32_t)len, caplen,
					stamp, q, DL_CAPTURE_TX);
				copy_tx(&p[i], (uint8_t *)(h + 1), caplen, caplen == len);
				r->wpos += h->total;
				copied[i] = 1;
			} else {
				give_back_tickets(c, 1);
				r->dropped++;
			}
		}
		ends[i] = r->wpos;
	}
}

/* The port took the first @p sent packets: publish their copies, forget
 * the others'. */
static void commit_tx(struct dl_capture *c, uint16_t q, const struct dl_tx_pkt *p, uint16_t n,
		      uint16_t sent, const uint64_t *ends, const uint8_t *copied)
{
	struct cap_ring *r = &c->ring[q];
	uint64_t unsent = 0;

	for (uint16_t i = 0; i < n; i++) {
		if (!copied[i])
			continue;
		if (i < sent) {
			r->tx++;
			r->bytes += p[i].hdr_len + dl_tx_payload_len(&p[i]) < c->conf.snaplen
					? p[i].hdr_len + dl_tx_payload_len(&p[i])
					: c->conf.snaplen;
		} else {
			unsent++;
		}
	}
	give_back_tickets(c, unsent);
	r->wpos = sent > 0 ? ends[sent - 1] : __atomic_load_n(&r->tail, __ATOMIC_RELAXED);
	__atomic_store_n(&r->tail, r->wpos, __ATOMIC_RELEASE);
}

/* ---- the capture's operation table ----------------------------------------- */

static uint16_t cap_rx_burst(struct dl_nic *nic, uint16_t q, struct dl_rx_pkt *pkts, uint16_t n)
{
	struct dl_capture *c = cap_of();
	uint16_t got = port_ops()->rx_burst(nic, q, pkts, n);

	if (got > 0 && c != NULL && q < c->nq)
		capture_rx(c, q, pkts, got);
	return got;
}

#define TX_STAGE 64u

static uint16_t cap_tx_burst(struct dl_nic *nic, uint16_t q, struct dl_tx_pkt *pkts, uint16_t n)
{
	struct dl_capture *c = cap_of();
	uint64_t ends[TX_STAGE];
	uint8_t copied[TX_STAGE];
	uint16_t done = 0;

	if (c == NULL || q >= c->nq)
		return port_ops()->tx_burst(nic, q, pkts, n);
	/* In slices the stage arrays hold; stop at the first slice the port
	 * does not take whole (the caller retries the rest later). */
	while (done < n) {
		uint16_t k =
		    (unsigned)(n - done) < TX_STAGE ? (uint16_t)(n - done) : (uint16_t)TX_STAGE;
		uint16_t sent;

		stage_tx(c, q, pkts + done, k, ends, copied);
		sent = c->port_ops->tx_burst(nic, q, pkts + done, k);
		commit_tx(c, q, pkts + done, k, sent, ends, copied);
		done += sent;
		if (sent < k)
			break;
	}
	return done;
}

static struct dl_buf *cap_hdr_alloc(struct dl_nic *nic, uint16_t q, uint8_t **data, uint16_t *room)
{
	return port_ops()->hdr_alloc(nic, q, data, room);
}

static void cap_buf_free(struct dl_nic *nic, struct dl_buf *b)
{
	port_ops()->buf_free(nic, b);
}

static int cap_link_get(struct dl_nic *nic, struct dl_link *l)
{
	return port_ops()->link_get(nic, l);
}

static int cap_stats_get(struct dl_nic *nic, struct dl_nic_stats *st)
{
	return port_ops()->stats_get(nic, st);
}

static int cap_rss_config(struct dl_nic *nic, const uint8_t key[40], const uint16_t *reta,
			  unsigned reta_size)
{
	return port_ops()->rss_config(nic, key, reta, reta_size);
}

static int cap_mem_register(struct dl_nic *nic, struct dl_region *r)
{
	return port_ops()->mem_register(nic, r);
}

static int cap_mem_unregister(struct dl_nic *nic, struct dl_region *r)
{
	return port_ops()->mem_unregister(nic, r);
}

static void cap_close(struct dl_nic *nic)
{
	port_ops()->close(nic);
}

/* ---- the writer thread ----------------------------------------------------- */

/* Hand every published record of every ring to the sink. @return records. */
static unsigned drain(struct dl_capture *c)
{
	unsigned n = 0;

	for (unsigned q = 0; q < c->nq; q++) {
		struct cap_ring *r = &c->ring[q];
		uint64_t head = r->head, tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);

		while (head != tail) {
			const struct rec_hdr *h =
			    (const struct rec_hdr *)(r->buf + (head & r->mask));

			if (!(h->flags & REC_SKIP)) {
				if (c->sink->ops->write(c->sink, &h->rec,
							(const uint8_t *)(h + 1)) == 0)
					__atomic_fetch_add(&c->written, 1, __ATOMIC_RELAXED);
				else
					__atomic_fetch_add(&c->write_errors, 1, __ATOMIC_RELAXED);
				n++;
			}
			head += h->total;
			/* Space back to the core as we go: a long drain must not
			 * make it drop. */
			__atomic_store_n(&r->head, head, __ATOMIC_RELEASE);
		}
	}
	return n;
}

static int writer_main(void *arg)
{
	struct dl_capture *c = arg;
	bool flushed = true;

	for (;;) {
		bool stop = __atomic_load_n(&c->stop, __ATOMIC_ACQUIRE);
		unsigned n = drain(c);

		if (n > 0) {
			flushed = false;
			continue;
		}
		if (!flushed && c->sink->ops->flush != NULL)
			c->sink->ops->flush(c->sink);
		flushed = true;
		if (stop)
			return 0;
		struct timespec ts = {0, 1000000}; /* 1 ms */
		nanosleep(&ts, NULL);
	}
}

/* ---- life ------------------------------------------------------------------ */

static void free_capture(struct dl_capture *c)
{
	for (unsigned q = 0; c->ring != NULL && q < c->nq; q++)
		free(c->ring[q].buf);
	free(c->ring);
	free(c);
}

struct dl_capture *dl_capture_start(struct dl_nic *nic, struct dl_capture_sink *sink,
				    const struct dl_capture_conf *conf, char *err, size_t errlen)
{
	struct dl_capture *c;
	uint64_t ring_bytes;
	int rc;

	if (__atomic_load_n(&active, __ATOMIC_ACQUIRE) != NULL) {
		sink->ops->close(sink, 0, 0);
		dl_errf(err, errlen, "a capture is already running");
		errno = EBUSY;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		goto nomem;
	c->nic = nic;
	c->sink = sink;
	c->conf = *conf;
	if (c->conf.snaplen == 0)
		c->conf.snaplen = DL_CAPTURE_SNAPLEN_DEFAULT;
	if (c->conf.snaplen > DL_CAPTURE_SNAPLEN_MAX)
		c->conf.snaplen = DL_CAPTURE_SNAPLEN_MAX;
	if (sink->max_snaplen != 0 && c->conf.snaplen > sink->max_snaplen)
		c->conf.snaplen = sink->max_snaplen;
	if (c->conf.ring_kb == 0)
		c->conf.ring_kb = 4096;
	/* A power of two that holds at least 4 records of the largest size. */
	ring_bytes = 4096;
	while (ring_bytes < (uint64_t)c->conf.ring_kb * 1024 ||
	       ring_bytes < 4 * align8(sizeof(struct rec_hdr) + c->conf.snaplen))
		ring_bytes *= 2;
	c->nq = nic->nb_queues < MAX_QUEUES ? nic->nb_queues : MAX_QUEUES;
	c->ring = calloc(c->nq, sizeof(*c->ring));
	if (c->ring == NULL)
		goto nomem;
	for (unsigned q = 0; q < c->nq; q++) {
		c->ring[q].buf = aligned_alloc(64, ring_bytes);
		if (c->ring[q].buf == NULL)
			goto nomem;
		c->ring[q].size = ring_bytes;
		c->ring[q].mask = ring_bytes - 1;
	}
	c->port_ops = nic->ops;
	c->ops = (struct dl_nic_ops){
	    .rx_burst = cap_rx_burst,
	    .tx_burst = cap_tx_burst,
	    .hdr_alloc = cap_hdr_alloc,
	    .buf_free = cap_buf_free,
	    .link_get = cap_link_get,
	    .stats_get = cap_stats_get,
	    .rss_config = nic->ops->rss_config != NULL ? cap_rss_config : NULL,
	    .mem_register = nic->ops->mem_register != NULL ? cap_mem_register : NULL,
	    .mem_unregister = nic->ops->mem_unregister != NULL ? cap_mem_unregister : NULL,
	    .close = cap_close,
	};
	rc = dl_platform_thread_start(&c->writer, "dl-capture", -1, writer_main, c);
	if (rc != 0) {
		dl_errf(err, errlen, "cannot start the capture's writer thread: %s", strerror(-rc));
		sink->ops->close(sink, 0, 0);
		free_capture(c);
		return NULL;
	}
	__atomic_store_n(&port_ops_kept, c->port_ops, __ATOMIC_RELEASE);
	__atomic_store_n(&active, c, __ATOMIC_RELEASE);
	/* From here the cores call the capture's table (one pointer store). */
	__atomic_store_n(&nic->ops, &c->ops, __ATOMIC_RELEASE);
	c->attached = true;
	return c;
nomem:
	dl_errf(err, errlen, "out of memory for the capture rings");
	sink->ops->close(sink, 0, 0);
	if (c != NULL)
		free_capture(c);
	errno = ENOMEM;
	return NULL;
}

void dl_capture_detach(struct dl_capture *c)
{
	if (c == NULL || !c->attached)
		return;
	__atomic_store_n(&c->nic->ops, c->port_ops, __ATOMIC_RELEASE);
	c->attached = false;
}

void dl_capture_stats(const struct dl_capture *c, struct dl_capture_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (unsigned q = 0; q < c->nq; q++) {
		const struct cap_ring *r = &c->ring[q];
		st->rx_frames += __atomic_load_n(&r->rx, __ATOMIC_RELAXED);
		st->tx_frames += __atomic_load_n(&r->tx, __ATOMIC_RELAXED);
		st->bytes += __atomic_load_n(&r->bytes, __ATOMIC_RELAXED);
		st->dropped_ring_full += __atomic_load_n(&r->dropped, __ATOMIC_RELAXED);
		st->over_limit += __atomic_load_n(&r->over_limit, __ATOMIC_RELAXED);
	}
	st->written = __atomic_load_n(&c->written, __ATOMIC_RELAXED);
	st->write_errors = __atomic_load_n(&c->write_errors, __ATOMIC_RELAXED);
	st->limit_reached = c->conf.max_frames != 0 &&
			    __atomic_load_n(&c->taken, __ATOMIC_RELAXED) >= c->conf.max_frames;
}

void dl_capture_finish(struct dl_capture *c, struct dl_capture_stats *st)
{
	struct dl_capture_stats s;

	if (c == NULL)
		return;
	dl_capture_detach(c);
	__atomic_store_n(&c->stop, 1, __ATOMIC_RELEASE);
	dl_platform_thread_join(c->writer);
	dl_capture_stats(c, &s);
	c->sink->ops->close(c->sink, s.rx_frames + s.tx_frames,
			    s.dropped_ring_full + s.write_errors);
	if (st != NULL)
		*st = s;
	__atomic_store_n(&active, NULL, __ATOMIC_RELEASE);
	free_capture(c);
}

const struct dl_capture_conf *dl_capture_conf(const struct dl_capture *c)
{
	return &c->conf;
}

bool dl_capture_attached(const struct dl_capture *c)
{
	return c->attached;
}
