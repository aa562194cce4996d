/*
 * noc.c - fabric of channels, per-core endpoints, loss-free overflow (see
 * dl_noc.h).
 *
 * Overflow queue: per destination, a singly linked list of chunks of
 * OVF_CHUNK_WORDS words in the sender's private memory. Messages are stored
 * whole (never split across chunks), appended at the tail chunk and taken
 * from the head chunk; a drained chunk is kept as a spare (one per port) so
 * that a port oscillating around full does not call malloc every time.
 *
 * Ports with something to do (unpublished ring words or overflowed
 * messages) are kept in a 64-bit dirty mask so dl_noc_flush() costs nothing
 * for idle destinations.
 */
#include "dl_noc.h"

#include "dl_log.h"
#include "dl_mailbox.h"
#include "dl_stats.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

_Static_assert(DL_MAX_CORES <= 64, "dirty masks are 64-bit");
_Static_assert(DL_NOC_TX_CREDIT_RELOADS - DL_NOC_TX_CHAN_BROKEN == DL_CHAN_RELOADS - DL_CHAN_BROKEN,
	       "producer counters are a dl_chan_cnt slice");
_Static_assert(DL_CHAN_BROKEN == 0, "a consumer counts DL_CHAN_BROKEN only");

const char *const dl_noc_cnt_names[DL_NOC_NCNT] = {
    [DL_NOC_TX_MSGS] = "tx_msgs",
    [DL_NOC_TX_WORDS] = "tx_words",
    [DL_NOC_TX_OVERFLOWED] = "tx_overflowed",
    [DL_NOC_TX_NOMEM] = "tx_err_nomem",
    [DL_NOC_TX_BAD_MSG] = "tx_err_bad_msg",
    [DL_NOC_TX_NO_ROUTE] = "tx_err_no_route",
    [DL_NOC_TX_BROKEN] = "tx_err_broken",
    [DL_NOC_OVF_PENDING_MSGS] = "ovf_pending_msgs",
    [DL_NOC_OVF_PENDING_WORDS] = "ovf_pending_words",
    [DL_NOC_OVF_HWM_MSGS] = "ovf_hwm_msgs",
    [DL_NOC_OVF_HWM_WORDS] = "ovf_hwm_words",
    [DL_NOC_TX_CREDIT_RELOADS] = "tx_credit_reloads",
    [DL_NOC_TX_CHAN_BROKEN] = "tx_chan_broken",
    [DL_NOC_RX_CHAN_BROKEN] = "rx_chan_broken",
    [DL_NOC_RX_MSGS] = "rx_msgs",
    [DL_NOC_RX_DECODE_ERR] = "rx_drop_decode_error",
    [DL_NOC_RX_REJECTED] = "rx_drop_class",
};

/* ---- fabric ---- */

struct dl_noc_fabric {
	unsigned ncores;
	unsigned words;
	size_t chan_size;
	struct dl_region *region; /* NULL for an attached fabric */
	uint8_t *base;		  /* first channel */
	size_t len;		  /* bytes of channel memory */
	bool owns_region;	  /* dl_noc_fabric_create() made it: destroy frees it */
	uint64_t links[DL_MAX_CORES];
	uint64_t has_ep;			   /* cores with an endpoint */
	uint32_t slot[DL_MAX_CORES][DL_MAX_CORES]; /* channel index + 1, 0 = none */
};

/* Number the channels (row by row: source, then destination) and size
 * them; the same plan on both sides of a shared fabric gives the same
 * offsets. NULL with errno set on bad arguments. */
static struct dl_noc_fabric *fabric_plan(unsigned ncores, unsigned words, const uint64_t *links)
{
	uint64_t all = ncores >= 64 ? ~UINT64_C(0) : (UINT64_C(1) << ncores) - 1;
	struct dl_noc_fabric *f;
	unsigned nchan = 0;

	if (ncores == 0 || ncores > DL_MAX_CORES || dl_chan_mem_size(words) == 0) {
		errno = EINVAL;
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	f->ncores = ncores;
	f->words = words;
	f->chan_size = dl_chan_mem_size(words);
	for (unsigned s = 0; s < ncores; s++) {
		f->links[s] = links != NULL ? links[s] : all & ~(UINT64_C(1) << s);
		if ((f->links[s] & ~all) != 0) {
			free(f);
			errno = EINVAL;
			return NULL;
		}
		for (unsigned d = 0; d < ncores; d++)
			if (f->links[s] >> d & 1)
				f->slot[s][d] = ++nchan;
	}
	f->len = (size_t)nchan * f->chan_size;
	return f;
}

/* Initialise every planned channel in f->base. */
static void fabric_init_channels(struct dl_noc_fabric *f)
{
	for (unsigned s = 0; s < f->ncores; s++)
		for (unsigned d = 0; d < f->ncores; d++)
			if (f->slot[s][d] != 0)
				dl_chan_init(dl_noc_fabric_chan(f, s, d), f->words);
}

struct dl_noc_fabric *dl_noc_fabric_create(unsigned ncores, unsigned words, const uint64_t *links)
{
	struct dl_noc_fabric *f = fabric_plan(ncores, words, links);

	if (f == NULL)
		return NULL;
	f->region = dl_region_create("noc", f->len > 0 ? f->len : 1, 0);
	if (f->region == NULL) {
		int e = errno;
		free(f);
		errno = e;
		return NULL;
	}
	f->base = f->region->base;
	f->owns_region = true;
	fabric_init_channels(f);
	return f;
}

size_t dl_noc_fabric_size(unsigned ncores, unsigned words, const uint64_t *links)
{
	struct dl_noc_fabric *f = fabric_plan(ncores, words, links);
	size_t len;

	if (f == NULL)
		return 0;
	len = f->len;
	free(f);
	return len;
}

struct dl_noc_fabric *dl_noc_fabric_create_in(struct dl_region *r, unsigned ncores, unsigned words,
					      const uint64_t *links)
{
	struct dl_noc_fabric *f;

	if (r == NULL || r->readonly) {
		errno = EINVAL;
		return NULL;
	}
	f = fabric_plan(ncores, words, links);
	if (f == NULL)
		return NULL;
	if (f->len > r->len || (uintptr_t)r->base % (size_t)sysconf(_SC_PAGESIZE) != 0) {
		free(f);
		errno = ENOSPC;
		return NULL;
	}
	f->region = r;
	f->base = r->base;
	fabric_init_channels(f);
	return f;
}

struct dl_noc_fabric *dl_noc_fabric_attach(void *base, size_t len, unsigned ncores, unsigned words,
					   const uint64_t *links)
{
	struct dl_noc_fabric *f;

	if (base == NULL) {
		errno = EINVAL;
		return NULL;
	}
	f = fabric_plan(ncores, words, links);
	if (f == NULL)
		return NULL;
	if (f->len > len) {
		free(f);
		errno = ENOSPC;
		return NULL;
	}
	f->base = base;
	return f;
}

int dl_noc_fabric_chan_offset(const struct dl_noc_fabric *f, unsigned src, unsigned dst,
			      size_t *off)
{
	if (src >= f->ncores || dst >= f->ncores || f->slot[src][dst] == 0)
		return -ENOENT;
	*off = (size_t)(f->slot[src][dst] - 1) * f->chan_size;
	return 0;
}

void dl_noc_fabric_destroy(struct dl_noc_fabric *f)
{
	if (f == NULL)
		return;
	if (f->has_ep != 0)
		DL_WARN("noc: fabric destroyed with endpoints still attached");
	if (f->owns_region)
		dl_region_destroy(f->region);
	free(f);
}

void *dl_noc_fabric_chan(const struct dl_noc_fabric *f, unsigned src, unsigned dst)
{
	if (src >= f->ncores || dst >= f->ncores || f->slot[src][dst] == 0)
		return NULL;
	return f->base + (size_t)(f->slot[src][dst] - 1) * f->chan_size;
}

struct dl_region *dl_noc_fabric_region(const struct dl_noc_fabric *f)
{
	return f->region;
}

unsigned dl_noc_fabric_words(const struct dl_noc_fabric *f)
{
	return f->words;
}

/* ---- overflow queue ---- */

#define OVF_CHUNK_WORDS 1022u /* chunk of 8 KiB with its header */

_Static_assert(OVF_CHUNK_WORDS >= DL_MSG_MAX_WORDS, "a chunk holds any message");

struct ovf_chunk {
	struct ovf_chunk *next;
	uint32_t rd, wr; /* words taken / written */
	uint64_t w[OVF_CHUNK_WORDS];
};

struct ovf {
	struct ovf_chunk *head, *tail, *spare;
	uint64_t msgs, words;
};

static struct ovf_chunk *ovf_chunk_get(struct ovf *q)
{
	struct ovf_chunk *c = q->spare;

	if (c != NULL)
		q->spare = NULL;
	else
		c = malloc(sizeof(*c));
	if (c != NULL) {
		c->next = NULL;
		c->rd = c->wr = 0;
	}
	return c;
}

static void ovf_chunk_put(struct ovf *q, struct ovf_chunk *c)
{
	if (q->spare == NULL)
		q->spare = c;
	else
		free(c);
}

/* Append a whole message. -ENOMEM when no chunk could be had. */
static int ovf_push(struct ovf *q, const uint64_t *msg, unsigned n)
{
	struct ovf_chunk *t = q->tail;

	if (t == NULL || OVF_CHUNK_WORDS - t->wr < n) {
		struct ovf_chunk *c = ovf_chunk_get(q);

		if (c == NULL)
			return -ENOMEM;
		if (t != NULL)
			t->next = c;
		else
			q->head = c;
		q->tail = t = c;
	}
	memcpy(&t->w[t->wr], msg, n * sizeof(uint64_t));
	t->wr += n;
	q->msgs++;
	q->words += n;
	return 0;
}

/* Oldest message (and its word count), or NULL. */
static const uint64_t *ovf_peek(const struct ovf *q, unsigned *n)
{
	const struct ovf_chunk *h = q->head;

	if (q->msgs == 0)
		return NULL;
	assert(h != NULL && h->rd < h->wr);
	*n = dl_msg_hdr_words(h->w[h->rd]);
	return &h->w[h->rd];
}

static void ovf_pop(struct ovf *q, unsigned n)
{
	struct ovf_chunk *h = q->head;

	h->rd += n;
	q->msgs--;
	q->words -= n;
	if (h->rd < h->wr)
		return;
	if (h == q->tail) {
		h->rd = h->wr = 0; /* empty: reuse in place */
		return;
	}
	q->head = h->next;
	ovf_chunk_put(q, h);
}

static void ovf_free(struct ovf *q)
{
	struct ovf_chunk *c = q->head;

	while (c != NULL) {
		struct ovf_chunk *next = c->next;
		free(c);
		c = next;
	}
	free(q->spare);
	memset(q, 0, sizeof(*q));
}

/* ---- endpoint ---- */

struct noc_port {
	struct dl_chan_prod prod;
	struct ovf ovf;
	bool present;
};

struct dl_noc_ep {
	struct dl_noc_ep_head h; /* dirty ports, the only incoming channel (dl_noc.h) */
	unsigned core;
	struct dl_noc_fabric *fab;
	uint64_t ovf_limit;
	unsigned quota;		 /* messages per channel per visit */
	unsigned nin;		 /* incoming channels */
	unsigned in_src;	 /* the source of the only one, when nin == 1 */
	dl_noc_reject_fn reject; /* told about dropped messages (optional) */
	void *reject_arg;
	uint64_t cnt[DL_NOC_NCNT];
	struct dl_counter_block blk;
	bool registered;
	uint8_t accept[DL_MAX_CORES]; /* class mask per source */
	struct noc_port port[DL_MAX_CORES];
	struct dl_chan_cons in[DL_MAX_CORES];
	struct dl_mailbox mb; /* two or more incoming channels */
	/* One incoming channel: messages copied here, straight from it. */
	uint64_t rxbuf[DL_MAILBOX_BUF_WORDS];
};

_Static_assert(offsetof(struct dl_noc_ep, h) == 0, "dl_noc.h reads the head at the start");

struct dl_noc_ep *dl_noc_ep_create(struct dl_noc_fabric *f, unsigned core,
				   const struct dl_noc_conf *conf)
{
	static const struct dl_noc_conf defaults;
	struct dl_noc_ep *ep;

	if (conf == NULL)
		conf = &defaults;
	if (f == NULL || core >= f->ncores) {
		errno = EINVAL;
		return NULL;
	}
	if (f->has_ep >> core & 1) {
		errno = EBUSY;
		return NULL;
	}
	ep = aligned_alloc(64, (sizeof(*ep) + 63) / 64 * 64);
	if (ep == NULL)
		return NULL;
	memset(ep, 0, sizeof(*ep));
	ep->core = core;
	ep->fab = f;
	ep->ovf_limit = conf->ovf_limit_words;
	memset(ep->accept, DL_MSG_CLASS_ALL, sizeof(ep->accept));
	ep->quota = conf->quota != 0 ? conf->quota : DL_MAILBOX_DEFAULT_QUOTA;
	dl_mailbox_init(&ep->mb, ep->quota);
	for (unsigned o = 0; o < f->ncores; o++) {
		void *out = dl_noc_fabric_chan(f, core, o), *in = dl_noc_fabric_chan(f, o, core);
		int rc = 0;

		if (out != NULL) {
			rc |= dl_chan_prod_init(&ep->port[o].prod, out, f->words,
						&ep->cnt[DL_NOC_TX_CHAN_BROKEN]);
			ep->port[o].present = true;
		}
		if (in != NULL) {
			rc |= dl_chan_cons_init(&ep->in[o], in, f->words,
						&ep->cnt[DL_NOC_RX_CHAN_BROKEN]);
			rc |= dl_mailbox_add(&ep->mb, o, &ep->in[o]);
			ep->in_src = o;
			ep->nin++;
		}
		if (rc != 0) { /* the fabric's memory is not what it should be */
			DL_ERR("noc: core %u: cannot attach the channels with core %u", core, o);
			free(ep);
			errno = EINVAL;
			return NULL;
		}
	}
	ep->h.in_one = ep->nin == 1 ? &ep->in[ep->in_src] : NULL;
	if (!conf->no_stats) {
		dl_stats_register(&ep->blk, "noc", dl_noc_cnt_names, DL_NOC_NCNT, ep->cnt,
				  (int)core);
		ep->registered = true;
	}
	f->has_ep |= UINT64_C(1) << core;
	return ep;
}

void dl_noc_ep_destroy(struct dl_noc_ep *ep)
{
	if (ep == NULL)
		return;
	if (ep->registered)
		dl_stats_unregister(&ep->blk);
	for (unsigned d = 0; d < DL_MAX_CORES; d++)
		ovf_free(&ep->port[d].ovf);
	ep->fab->has_ep &= ~(UINT64_C(1) << ep->core);
	free(ep);
}

static void note_overflow(struct dl_noc_ep *ep, unsigned n)
{
	uint64_t *c = ep->cnt;

	c[DL_NOC_TX_OVERFLOWED]++;
	c[DL_NOC_OVF_PENDING_MSGS]++;
	c[DL_NOC_OVF_PENDING_WORDS] += n;
	if (c[DL_NOC_OVF_PENDING_MSGS] > c[DL_NOC_OVF_HWM_MSGS])
		c[DL_NOC_OVF_HWM_MSGS] = c[DL_NOC_OVF_PENDING_MSGS];
	if (c[DL_NOC_OVF_PENDING_WORDS] > c[DL_NOC_OVF_HWM_WORDS])
		c[DL_NOC_OVF_HWM_WORDS] = c[DL_NOC_OVF_PENDING_WORDS];
}

/* dl_noc_send() for every case the fast path below leaves: no route, bad
 * framing, broken channel, too few credits, older messages in overflow. */
static __attribute__((noinline)) int send_slow(struct dl_noc_ep *ep, unsigned dst,
					       const uint64_t *msg, unsigned nwords)
{
	struct noc_port *p;
	int rc;

	if (dst >= DL_MAX_CORES || !ep->port[dst].present) {
		ep->cnt[DL_NOC_TX_NO_ROUTE]++;
		return -EHOSTUNREACH;
	}
	p = &ep->port[dst];
	rc = dl_chan_check_msg(&p->prod, msg, nwords);
	if (rc < 0) {
		ep->cnt[DL_NOC_TX_BAD_MSG]++;
		return rc;
	}
	if (p->prod.broken) {
		ep->cnt[DL_NOC_TX_BROKEN]++;
		return -EPIPE;
	}
	/* Straight into the ring (visible at once) only when nothing older
	 * waits. */
	if (p->ovf.msgs == 0) {
		rc = dl_chan_reserve(&p->prod, nwords);
		if (rc == 0) {
			dl_chan_put_now(&p->prod, msg, nwords);
			goto accepted;
		}
		if (rc == -EPIPE) {
			ep->cnt[DL_NOC_TX_BROKEN]++;
			return rc;
		}
	}
	if ((ep->ovf_limit != 0 && p->ovf.words + nwords > ep->ovf_limit) ||
	    ovf_push(&p->ovf, msg, nwords) < 0) {
		ep->cnt[DL_NOC_TX_NOMEM]++;
		return -ENOMEM;
	}
	note_overflow(ep, nwords);
	ep->h.dirty |= UINT64_C(1) << dst; /* dl_noc_flush() moves it on */
accepted:
	ep->cnt[DL_NOC_TX_MSGS]++;
	ep->cnt[DL_NOC_TX_WORDS] += nwords;
	return 0;
}

/* GCC's SLP vectoriser turns the adjacent counter updates and the two tail
 * stores into SSE shuffles: more instructions and one more register. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-tree-slp-vectorize")))
#endif
int dl_noc_send(struct dl_noc_ep *ep, unsigned dst, const uint64_t *msg, unsigned nwords)
{
	struct noc_port *p = &ep->port[dst < DL_MAX_CORES ? dst : 0];

	/* Fast path, no stack frame: a well-framed message straight into a
	 * ring that has the credits and no older message waiting, published
	 * at once. The same checks as send_slow(), which handles (and counts)
	 * everything else. Outside dl_noc_flush() no batch is ever open on a
	 * ring (dl_chan_put_now()'s condition). */
	if (__builtin_expect(dst < DL_MAX_CORES && p->present && p->ovf.msgs == 0 &&
				 dl_chan_check_msg(&p->prod, msg, nwords) == 0 &&
				 dl_chan_credits(&p->prod) >= nwords && /* 0 when broken */
				 dl_chan_flat(&p->prod, nwords),
			     1)) {
		ep->cnt[DL_NOC_TX_MSGS]++;
		ep->cnt[DL_NOC_TX_WORDS] += nwords;
		dl_chan_put_now_flat(&p->prod, msg, nwords);
		return 0;
	}
	return send_slow(ep, dst, msg, nwords);
}

/* Move the port's overflow into its ring, oldest first, while credits last. */
static void drain_overflow(struct dl_noc_ep *ep, struct noc_port *p)
{
	const uint64_t *msg;
	unsigned n;

	while ((msg = ovf_peek(&p->ovf, &n)) != NULL) {
		if (dl_chan_reserve(&p->prod, n) < 0)
			break; /* no credits yet, or broken (counted by the channel) */
		dl_chan_put_words(&p->prod, msg, n);
		ovf_pop(&p->ovf, n);
		ep->cnt[DL_NOC_OVF_PENDING_MSGS]--;
		ep->cnt[DL_NOC_OVF_PENDING_WORDS] -= n;
	}
}

/* Publish every dirty port (out of line: the common idle call below
 * stays a load and a return, with no registers to save). */
static __attribute__((noinline)) void flush_dirty(struct dl_noc_ep *ep)
{
	uint64_t d = ep->h.dirty, still = 0;

	while (d != 0) {
		unsigned dst = (unsigned)__builtin_ctzll(d);
		struct noc_port *p = &ep->port[dst];

		d &= d - 1;
		if (p->ovf.msgs != 0)
			drain_overflow(ep, p);
		dl_chan_publish(&p->prod);
		if (p->ovf.msgs != 0)
			still |= UINT64_C(1) << dst;
	}
	ep->h.dirty = still;
}

uint64_t dl_noc_flush_dirty(struct dl_noc_ep *ep)
{
	uint64_t d = ep->h.dirty;

	/* The usual busy case without another call: one port written,
	 * nothing in its overflow. A port with messages in overflow stays
	 * dirty until they are out (flush_dirty()). */
	if ((d & (d - 1)) == 0 && ep->port[__builtin_ctzll(d)].ovf.msgs == 0) {
		dl_chan_publish(&ep->port[__builtin_ctzll(d)].prod);
		ep->h.dirty = 0;
	} else {
		flush_dirty(ep);
	}
	return ep->cnt[DL_NOC_OVF_PENDING_MSGS];
}

/* A message deliver() drops: counted, logged, told to the reject handler.
 * @p reason: the decoder's error, or -EACCES (class not accepted). */
static __attribute__((noinline, cold)) void drop(struct dl_noc_ep *ep, unsigned src,
						 const uint64_t *w, unsigned n, int reason)
{
	if (reason == -EACCES) {
		ep->cnt[DL_NOC_RX_REJECTED]++;
		DL_DEBUG("noc: core %u: %s not accepted from core %u", ep->core,
			 dl_msg_type_name(dl_msg_hdr_type(w[0])), src);
	} else {
		ep->cnt[DL_NOC_RX_DECODE_ERR]++;
		DL_DEBUG("noc: core %u: undecodable message from core %u (%d)", ep->core, src,
			 reason);
	}
	if (ep->reject != NULL)
		ep->reject(ep->reject_arg, src, w, n, reason);
}

/* Decode, filter by class, hand to @p fn. */
static inline __attribute__((always_inline)) void
deliver(struct dl_noc_ep *ep, unsigned src, const uint64_t *w, unsigned n, dl_noc_fn fn, void *arg)
{
	struct dl_msg m;
	int rc = (int)dl_msg_decode_paired(w, n, &m); /* the per-request types */

	if (rc == 0)
		rc = dl_msg_decode(w, n, &m); /* every other type, and every error */
	if (__builtin_expect(rc != (int)n, 0))
		drop(ep, src, w, n, rc < 0 ? rc : -EBADMSG);
	else if (__builtin_expect((ep->accept[src] & dl_msg_class(m.type)) == 0, 0))
		drop(ep, src, w, n, -EACCES);
	else {
		ep->cnt[DL_NOC_RX_MSGS]++;
		fn(arg, src, &m);
	}
}

/* The handler of the mailbox (two or more incoming channels). */
struct mb_ctx {
	struct dl_noc_ep *ep;
	dl_noc_fn fn;
	void *arg;
};

static void mb_deliver(void *arg, unsigned src, const uint64_t *w, unsigned n)
{
	const struct mb_ctx *x = arg;

	deliver(x->ep, src, w, n, x->fn, x->arg);
}

/* One incoming channel (an application core, a network core serving one
 * application core): no round robin to do, so the messages are taken
 * straight from the channel, a quota at a time as the mailbox would, and
 * delivered without its per-message indirect call. */
unsigned dl_noc_poll_one(struct dl_noc_ep *ep, unsigned budget, dl_noc_fn fn, void *arg)
{
	struct dl_chan_cons *c = ep->h.in_one;
	unsigned delivered = 0;

	while (delivered < budget) {
		unsigned want = budget - delivered < ep->quota ? budget - delivered : ep->quota;
		unsigned off = 0;

		if (want == 0) /* delivered < budget, and quota >= 1 (dl_noc_ep_create()) */
			__builtin_unreachable();
		/* Whole messages back to back, framed by the channel (each
		 * header's count checked against the ring and the room). */
		int got = dl_chan_recv(c, ep->rxbuf, DL_MAILBOX_BUF_WORDS, want, NULL);

		if (got <= 0)
			break; /* empty, or broken (counted by the channel) */
		for (int k = 0; k < got; k++) {
			unsigned n = dl_msg_hdr_words(ep->rxbuf[off]);

			deliver(ep, ep->in_src, &ep->rxbuf[off], n, fn, arg);
			off += n;
		}
		delivered += (unsigned)got;
		if ((unsigned)got < want)
			break; /* took all there was */
	}
	return delivered;
}

/* Two or more incoming channels: the mailbox's round robin. */
static __attribute__((noinline)) unsigned poll_mailbox(struct dl_noc_ep *ep, unsigned budget,
						       dl_noc_fn fn, void *arg)
{
	struct mb_ctx x = {ep, fn, arg};

	return dl_mailbox_poll(&ep->mb, budget, mb_deliver, &x);
}

unsigned dl_noc_poll_all(struct dl_noc_ep *ep, unsigned budget, dl_noc_fn fn, void *arg)
{
	if (!dl_mailbox_ready(&ep->mb))
		return 0; /* idle: no call into the mailbox */
	return poll_mailbox(ep, budget, fn, arg);
}

int dl_noc_set_accept(struct dl_noc_ep *ep, unsigned src, unsigned class_mask)
{
	if (src >= DL_MAX_CORES || (class_mask & ~(unsigned)DL_MSG_CLASS_ALL) != 0)
		return -EINVAL;
	ep->accept[src] = (uint8_t)class_mask;
	return 0;
}

void dl_noc_set_reject_fn(struct dl_noc_ep *ep, dl_noc_reject_fn fn, void *arg)
{
	ep->reject = fn;
	ep->reject_arg = arg;
}

uint64_t dl_noc_pending(const struct dl_noc_ep *ep, int dst)
{
	if (dst < 0)
		return ep->cnt[DL_NOC_OVF_PENDING_MSGS];
	return dst < DL_MAX_CORES ? ep->port[dst].ovf.msgs : 0;
}

const uint64_t *dl_noc_counters(const struct dl_noc_ep *ep)
{
	return ep->cnt;
}

unsigned dl_noc_core(const struct dl_noc_ep *ep)
{
	return ep->core;
}
