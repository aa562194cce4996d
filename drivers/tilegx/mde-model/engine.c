/*
 * engine.c - the mPIPE hardware of the model, running in its own thread as
 * the real shim runs beside the tiles:
 *
 *   ingress  frames from the links' wires (wire.c) go through the
 *            classifier: the default classifier's rules are modelled
 *            (IPv4 header checksum checked, bad ones dropped; a flow hash
 *            over the 5-tuple for TCP/UDP, the addresses for other IPv4,
 *            the MACs otherwise; the L4 checksum of unfragmented TCP/UDP
 *            computed with the pseudo-header into csum_seed_val, cs set);
 *            the rule for the channel picks a bucket from the hash's low
 *            bits, the bucket a notif ring, the packet size a buffer
 *            stack. The iDMA pops a buffer (be set and the data dropped
 *            when the stack is empty), writes the frame after the rule's
 *            headroom, and writes the 64-byte descriptor into the ring,
 *            using one ring credit (no credit: the packet is dropped);
 *
 *   egress   each initialised eDMA ring is read in order: a descriptor is
 *            ready when its generation bit matches the pass over the ring,
 *            and a packet is taken only when every descriptor up to the
 *            one with `bound` is ready (an unfilled reserved slot blocks
 *            the ring, as on hardware). Descriptors gather the frame; the
 *            bytes must lie in pages registered for the descriptor's stack
 *            (else an eDMA fault); one checksum may be inserted per packet
 *            (sum from csum_start to the end of the packet, plus csum_seed,
 *            complemented, stored at csum_dest); `ns` sends nothing; `hwb`
 *            buffers go back to their stack afterwards.
 *
 * The thread sleeps in poll() on the tap file descriptors and an eventfd
 * (gxio_mpipe_equeue_flush, a link opened, stop) for at most 1 ms, so eDMA
 * rings nobody flushes are still looked at as the hardware polls them.
 */
#include "model_priv.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define GUEST(mp, field, ...)                                                                      \
	mde_guest_error(&(mp)->cnt.field, &(mp)->cnt.guest_errors, __VA_ARGS__)
#define CNT(mp, field)	   __atomic_fetch_add(&(mp)->cnt.field, 1, __ATOMIC_RELAXED)
#define STAT(mp, field, v) __atomic_fetch_add(&(mp)->stats.field, (v), __ATOMIC_RELAXED)

#define EGRESS_BUDGET  256 /* descriptors per ring per pass */
#define INGRESS_BUDGET 64  /* frames per pass */

/* ------------------------------------------------------------------------ */
/* Checksums (ones' complement sums in memory byte order)                   */
/* ------------------------------------------------------------------------ */

static uint64_t sum_bytes(const uint8_t *p, size_t len, size_t stream_off)
{
	uint64_t s = 0;
	size_t i = 0;

	/* A byte at an odd offset of the checksummed stream is the low half
	 * of its 16-bit word in network order: it lands in bits 8..15 of a
	 * memory-order sum. */
	if (stream_off & 1) {
		s += (uint64_t)p[0] << 8;
		i = 1;
	}
	for (; i + 1 < len; i += 2)
		s += (uint64_t)p[i] | (uint64_t)p[i + 1] << 8;
	if (i < len)
		s += p[i];
	return s;
}

static uint16_t fold(uint64_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* ------------------------------------------------------------------------ */
/* Ingress: classifier, load balancer, iDMA                                 */
/* ------------------------------------------------------------------------ */

/* The model's flow hash (the real classifier's function is not public):
 * a multiply-xorshift mix of the fields the default classifier hashes. */
static uint32_t mix(uint32_t h, uint32_t v)
{
	h ^= v * 0x9e3779b1u;
	h = (h << 13 | h >> 19) * 0x85ebca77u;
	return h ^ (h >> 16);
}

struct parsed {
	uint16_t ethertype;
	uint8_t l3_off, l4_off, status;
	bool ipv4, l4_csum;
	uint8_t proto;
	uint16_t l4_len;
	uint32_t hash;
	uint64_t pseudo; /* pseudo-header sum when l4_csum */
};

/* Parse like the default classifier. false: drop (bad IPv4 header checksum). */
static bool classify(const uint8_t *f, size_t len, struct parsed *p)
{
	size_t l3 = 14;
	uint32_t h = 0x6d6f646cu;

	memset(p, 0, sizeof(*p));
	if (len < 14) {
		p->hash = mix(h, (uint32_t)len);
		return true;
	}
	p->ethertype = be16(f + 12);
	if (p->ethertype == 0x8100 && len >= 18) { /* one VLAN tag: keep the outer VLAN */
		p->ethertype = be16(f + 16);
		l3 = 18;
	}
	p->l3_off = (uint8_t)l3;
	if (p->ethertype != 0x0800 || len < l3 + 20 || (f[l3] >> 4) != 4) {
		/* Not IPv4: hash the MACs. */
		for (int i = 0; i < 12; i += 4)
			h = mix(h, (uint32_t)f[i] << 24 | (uint32_t)f[i + 1] << 16 |
				       (uint32_t)f[i + 2] << 8 | f[i + 3]);
		p->hash = h;
		return true;
	}
	const uint8_t *ip = f + l3;
	size_t ihl = (size_t)(ip[0] & 15) * 4;
	size_t tot = be16(ip + 2);
	if (ihl < 20 || len < l3 + ihl) {
		p->status = 0x80; /* not a parseable IPv4 header: marked bad */
		p->hash = mix(h, 0);
		return true;
	}
	if (fold(sum_bytes(ip, ihl, 0)) != 0xffff)
		return false; /* the default classifier drops bad header checksums */
	p->ipv4 = true;
	p->proto = ip[9];
	h = mix(h,
		(uint32_t)ip[12] << 24 | (uint32_t)ip[13] << 16 | (uint32_t)ip[14] << 8 | ip[15]);
	h = mix(h,
		(uint32_t)ip[16] << 24 | (uint32_t)ip[17] << 16 | (uint32_t)ip[18] << 8 | ip[19]);
	bool first_frag = (be16(ip + 6) & 0x1fff) == 0;
	bool more = (be16(ip + 6) & 0x2000) != 0;
	if ((p->proto == 6 || p->proto == 17) && first_frag && tot >= ihl + 4 &&
	    len >= l3 + ihl + 4) {
		const uint8_t *l4 = ip + ihl;
		h = mix(h, (uint32_t)p->proto << 16);
		h = mix(h, (uint32_t)be16(l4) << 16 | be16(l4 + 2));
		p->l4_off = (uint8_t)(l3 + ihl);
		/* The L4 checksum of a whole (unfragmented) datagram. */
		if (!more && tot <= len - l3 && tot >= ihl + (p->proto == 6 ? 20u : 8u)) {
			uint8_t ph[12];
			p->l4_len = (uint16_t)(tot - ihl);
			memcpy(ph, ip + 12, 8);
			ph[8] = 0;
			ph[9] = p->proto;
			ph[10] = (uint8_t)(p->l4_len >> 8);
			ph[11] = (uint8_t)p->l4_len;
			p->pseudo = sum_bytes(ph, 12, 0);
			p->l4_csum = true;
		}
	} else if (first_frag) {
		p->l4_off = (uint8_t)(l3 + ihl);
	}
	p->hash = h;
	return true;
}

static const mde_model_rule_t *rule_for(struct mde_mpipe *mp, unsigned channel)
{
	for (unsigned i = 0; i < mp->nrules; i++) {
		const mde_model_rule_t *r = &mp->rule[i];
		if (r->channel_bits == 0 || (r->channel_bits & (1u << channel)))
			return r;
	}
	return NULL;
}

/* Ring of a bucket: static affinity keeps it; round robin takes the ring
 * of the group with the most credits. */
static struct mde_ring *ring_for(struct mde_mpipe *mp, struct mde_bucket *b, unsigned *idx)
{
	if (b->mode == GXIO_MPIPE_BUCKET_ROUND_ROBIN) {
		struct mde_group *g = &mp->group[b->group];
		int64_t best = -1;
		for (unsigned i = 0; i < g->nrings; i++) {
			int64_t c =
			    __atomic_load_n(&mp->ring[g->ring0 + i].credits, __ATOMIC_ACQUIRE);
			if (c > best) {
				best = c;
				*idx = g->ring0 + i;
			}
		}
	} else {
		*idx = b->ring;
	}
	return &mp->ring[*idx];
}

static void write_desc(struct mde_ring *r, const gxio_mpipe_idesc_t *d)
{
	gxio_mpipe_idesc_t *slot = &r->mem[1 + r->written % (r->n - 1)];

	*slot = *d;
	r->written++;
	/* Entry 0 tells software how many descriptors were written. */
	__atomic_store_n(&r->mem[0].words[0], r->written, __ATOMIC_RELEASE);
}

void mde_ingress_frame(struct mde_mpipe *mp, unsigned channel, const uint8_t *f, size_t len)
{
	gxio_mpipe_idesc_t d;
	const mde_model_rule_t *rule;
	struct parsed p;
	struct mde_bucket *b;
	struct mde_ring *r;
	unsigned ring = 0, code, stack;
	size_t need;
	uintptr_t buf;
	struct timespec ts;

	CNT(mp, ingress_packets);
	STAT(mp, ingress_packets, 1);
	STAT(mp, ingress_bytes, len);
	pthread_mutex_lock(&mp->lock);
	rule = rule_for(mp, channel);
	if (rule == NULL) {
		pthread_mutex_unlock(&mp->lock);
		CNT(mp, ingress_drop_no_rule);
		STAT(mp, ingress_drops, 1);
		STAT(mp, ingress_drops_cls_lb, 1);
		return;
	}
	if (!classify(f, len, &p)) {
		pthread_mutex_unlock(&mp->lock);
		CNT(mp, ingress_drop_bad_ipv4);
		STAT(mp, ingress_drops, 1);
		STAT(mp, ingress_drops_cls_lb, 1);
		return;
	}
	b = &mp->bucket[rule->bucket_first + (p.hash & rule->bucket_mask)];
	r = ring_for(mp, b, &ring);
	need = len + rule->headroom;
	if (need > rule->capacity || need > 16384) {
		pthread_mutex_unlock(&mp->lock);
		CNT(mp, ingress_drop_too_long);
		STAT(mp, ingress_drops, 1);
		STAT(mp, ingress_drops_cls_lb, 1);
		return;
	}
	if (!r->initialized || __atomic_load_n(&r->credits, __ATOMIC_ACQUIRE) <= 0) {
		pthread_mutex_unlock(&mp->lock);
		CNT(mp, ingress_drop_ring_full);
		STAT(mp, ingress_drops, 1);
		STAT(mp, ingress_drops_cls_lb, 1);
		return;
	}
	code = (unsigned)gxio_mpipe_buffer_size_to_buffer_size_enum(need);
	stack = rule->stacks.stacks[code];

	memset(&d, 0, sizeof(d));
	d.notif_ring = ring;
	d.channel = channel;
	d.bucket_id = (uint64_t)(b - mp->bucket);
	d.custom0 = p.hash;
	d.custom1 = (uint64_t)0xffff | (uint64_t)p.ethertype << 16 | (uint64_t)p.l3_off << 40 |
		    (uint64_t)p.l4_off << 48 | (uint64_t)p.status << 56;
	d.packet_sqn = ++mp->packet_sqn;
	clock_gettime(CLOCK_REALTIME, &ts);
	d.time_stamp_sec = (uint64_t)ts.tv_sec;
	d.time_stamp_ns = (uint64_t)ts.tv_nsec;
	d.l2_size = len;
	d.stack_idx = stack;
	d.size = mp->stack[stack].size_code;
	d.hwb = 1;

	buf = mde_stack_pop(mp, stack);
	if (buf == 0) {
		/* No buffer: the descriptor is delivered with be set, the data
		 * is lost. */
		d.be = 1;
		d.va = 0;
		CNT(mp, ingress_be);
		STAT(mp, ingress_drops, 1);
		STAT(mp, ingress_drops_no_buf, 1);
	} else {
		uintptr_t va = buf + rule->headroom;
		if (!mde_stack_covers(mp, stack, buf, mp->stack[stack].buf_size)) {
			pthread_mutex_unlock(&mp->lock);
			GUEST(mp, ingress_fault,
			      "iDMA: buffer %#lx of stack %u is outside its registered pages",
			      (unsigned long)buf, stack);
			return;
		}
		memcpy((void *)va, f, len);
		d.va = (int64_t)va;
		if (p.l4_csum) {
			uint64_t s = p.pseudo + sum_bytes(f + p.l4_off, p.l4_len, 0);
			d.cs = 1;
			d.csum_start = p.l4_off;
			d.csum_seed_val = fold(s);
		}
	}
	__atomic_sub_fetch(&r->credits, 1, __ATOMIC_ACQ_REL);
	write_desc(r, &d);
	pthread_mutex_unlock(&mp->lock);
}

/* ------------------------------------------------------------------------ */
/* Egress: eDMA                                                             */
/* ------------------------------------------------------------------------ */

static bool desc_ready(const struct mde_edma *e, uint64_t pos, gxio_mpipe_edesc_t *out)
{
	const gxio_mpipe_edesc_t *slot = &e->mem[pos & (e->n - 1)];
	uint64_t w0 = __atomic_load_n(&slot->words[0], __ATOMIC_ACQUIRE);
	uint64_t gen = !((pos >> e->log2) & 1);

	if ((w0 & 1) != gen)
		return false;
	out->words[0] = w0;
	out->words[1] = __atomic_load_n(&slot->words[1], __ATOMIC_RELAXED);
	return true;
}

static struct mde_link *link_on(struct mde_mpipe *mp, unsigned channel)
{
	for (unsigned l = 0; l < MDE_MAX_LINKS; l++)
		if (mp->link[l].open && mp->link[l].channel == channel)
			return &mp->link[l];
	return NULL;
}

/* Process one packet at the ring's head if all of it is ready: the number
 * of descriptors consumed, 0 if none. */
static unsigned egress_packet(struct mde_mpipe *mp, struct mde_edma *e, uint8_t *frame)
{
	gxio_mpipe_edesc_t x;
	unsigned nd = 0;
	size_t flen = 0;
	bool bad = false, ns = false, have_csum = false;
	size_t cs_start = 0, cs_dest = 0;
	uint16_t cs_seed = 0;

	/* The whole packet (up to `bound`) must be in the ring. */
	for (;;) {
		if (nd == e->n || !desc_ready(e, e->head + nd, &x))
			return 0;
		nd++;
		if (x.bound)
			break;
	}
	for (unsigned i = 0; i < nd; i++) {
		desc_ready(e, e->head + i, &x);
		/* The 42-bit va through the stack's IO-TLB pages. */
		uintptr_t va = mde_iova_resolve(mp, (unsigned)x.stack_idx, x.va);
		size_t n = x.xfer_size;
		if (x.r0 || x.r1 || x.r2 || x.__reserved_0 || x.__reserved_1) {
			GUEST(mp, edma_bad_desc,
			      "eDMA descriptor with reserved bits set (%#llx %#llx)",
			      (unsigned long long)x.words[0], (unsigned long long)x.words[1]);
			bad = true;
		}
		if (x.c != 0) {
			GUEST(mp, edma_bad_desc,
			      "eDMA descriptor with chained buffers (c=%u): not "
			      "modelled",
			      (unsigned)x.c);
			bad = true;
		}
		if (!x.csum && (x.csum_start || x.csum_dest || x.csum_seed)) {
			GUEST(mp, edma_bad_desc,
			      "eDMA descriptor: checksum fields set without csum");
			bad = true;
		}
		if (x.ns)
			ns = true;
		if (!x.ns && n > 0) {
			if (va == 0 || !mde_stack_covers(mp, (unsigned)x.stack_idx, va, n)) {
				GUEST(mp, edma_fault,
				      "eDMA fault: %zu bytes at va %#llx are not in a page "
				      "registered "
				      "for stack %u",
				      n,
				      (unsigned long long)((uint64_t)x.va &
							   ((UINT64_C(1) << 42) - 1)),
				      (unsigned)x.stack_idx);
				bad = true;
			} else if (flen + n > MDE_MAX_FRAME) {
				GUEST(mp, edma_bad_desc, "eDMA packet longer than %d bytes",
				      MDE_MAX_FRAME);
				bad = true;
			} else {
				if (x.csum) {
					if (have_csum) {
						GUEST(mp, edma_bad_desc,
						      "eDMA packet with two checksum requests");
						bad = true;
					} else if (x.csum_start >= n ||
						   (size_t)x.csum_dest + 2 > n) {
						GUEST(
						    mp, edma_bad_desc,
						    "eDMA checksum start %u / dest %u outside the "
						    "descriptor's %zu bytes",
						    (unsigned)x.csum_start, (unsigned)x.csum_dest,
						    n);
						bad = true;
					} else {
						have_csum = true;
						cs_start = flen + x.csum_start;
						cs_dest = flen + x.csum_dest;
						cs_seed = (uint16_t)x.csum_seed;
					}
				}
				memcpy(frame + flen, (const void *)va, n);
				flen += n;
			}
		}
		if (x.hwb && va == 0) {
			GUEST(mp, edma_fault, "eDMA hwb buffer at va %#llx: in no page of stack %u",
			      (unsigned long long)((uint64_t)x.va & ((UINT64_C(1) << 42) - 1)),
			      (unsigned)x.stack_idx);
		} else if (x.hwb) {
			unsigned s = (unsigned)x.stack_idx;
			if (s >= MDE_NUM_STACKS || !mp->stack[s].initialized ||
			    mp->stack[s].size_code != x.size) {
				GUEST(mp, edma_bad_desc,
				      "eDMA hwb buffer %#lx: stack %u not initialised or size code "
				      "%u "
				      "is not the stack's",
				      (unsigned long)va, s, (unsigned)x.size);
			} else {
				mde_stack_push(mp, s, va, "eDMA hwb return");
				CNT(mp, edma_hwb_returns);
			}
		}
	}
	if (!bad && !ns && flen > 0) {
		struct mde_link *l;
		if (have_csum) {
			uint64_t s = cs_seed + sum_bytes(frame + cs_start, flen - cs_start, 0);
			uint16_t c = (uint16_t)~fold(s);
			/* The 16-bit result goes to csum_dest in network order,
			 * i.e. as the memory-order sum stores it. */
			memcpy(frame + cs_dest, &c, 2);
			CNT(mp, edma_csum);
		}
		l = link_on(mp, e->channel);
		if (l == NULL || !(__atomic_load_n(&l->desired, __ATOMIC_ACQUIRE) &
				   (int64_t)GXIO_MPIPE_LINK_SPEED_MASK)) {
			CNT(mp, edma_link_down);
		} else if (mde_link_wire_send(mp, l, frame, flen) == 0) {
			CNT(mp, edma_packets);
			STAT(mp, egress_packets, 1);
			STAT(mp, egress_bytes, flen);
		} else {
			CNT(mp, edma_link_down);
		}
	} else if (ns) {
		CNT(mp, edma_ns_packets);
	}
	e->head += nd;
	__atomic_store_n(&e->complete, e->head, __ATOMIC_RELEASE);
	return nd;
}

static unsigned egress_all(struct mde_mpipe *mp, uint8_t *frame)
{
	unsigned work = 0;

	for (unsigned i = 0; i < MDE_NUM_EDMA; i++) {
		struct mde_edma *e = &mp->edma[i];
		unsigned done = 0, k;
		if (!__atomic_load_n(&e->initialized, __ATOMIC_ACQUIRE))
			continue;
		pthread_mutex_lock(&mp->lock);
		while (done < EGRESS_BUDGET && (k = egress_packet(mp, e, frame)) > 0)
			done += k;
		pthread_mutex_unlock(&mp->lock);
		work += done;
	}
	return work;
}

/* ------------------------------------------------------------------------ */
/* The thread                                                               */
/* ------------------------------------------------------------------------ */

static void *engine_main(void *arg)
{
	struct mde_mpipe *mp = arg;
	uint8_t *frame = malloc(MDE_MAX_FRAME);

	if (frame == NULL) {
		mde_model_warn("engine: out of memory");
		abort();
	}
	while (__atomic_load_n(&mp->running, __ATOMIC_ACQUIRE)) {
		unsigned work = egress_all(mp, frame);
		work += mde_links_ingress(mp, INGRESS_BUDGET);
		if (work == 0) {
			struct pollfd pfd[MDE_MAX_LINKS + 1];
			int fds[MDE_MAX_LINKS];
			unsigned n = mde_links_pollfds(mp, fds, MDE_MAX_LINKS);
			uint64_t v;
			for (unsigned i = 0; i < n; i++)
				pfd[i] = (struct pollfd){fds[i], POLLIN, 0};
			pfd[n] = (struct pollfd){mp->wake_fd, POLLIN, 0};
			if (poll(pfd, n + 1, 1) > 0 && (pfd[n].revents & POLLIN))
				(void)!read(mp->wake_fd, &v, sizeof(v));
		}
	}
	free(frame);
	return NULL;
}

int mde_engine_start(struct mde_mpipe *mp)
{
	int rc;

	mp->running = true;
	rc = pthread_create(&mp->thread, NULL, engine_main, mp);
	if (rc != 0) {
		mp->running = false;
		errno = rc;
		return -1;
	}
	return 0;
}

void mde_engine_stop(struct mde_mpipe *mp)
{
	if (!mp->running)
		return;
	__atomic_store_n(&mp->running, false, __ATOMIC_RELEASE);
	mde_engine_wake(mp);
	pthread_join(mp->thread, NULL);
}

void mde_engine_wake(struct mde_mpipe *mp)
{
	uint64_t one = 1;

	(void)!write(mp->wake_fd, &one, sizeof(one));
}
