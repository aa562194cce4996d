/*
 * noc.c - per-core endpoints over the transport the build chose
 * (dl_transport.h): loss-free overflow, accept rules, decoding, counters
 * (see dl_noc.h). Nothing here knows what the transport is.
 *
 * Overflow queue: per destination, a singly linked list of chunks of
 * OVF_CHUNK_WORDS words in the sender's private memory. Messages are stored
 * whole (never split across chunks), appended at the tail chunk and taken
 * from the head chunk; a drained chunk is kept as a spare (one per port) so
 * that a port oscillating around full does not call malloc every time.
 *
 * Ports with something to do (an open batch or overflowed messages) are
 * kept in a list of dirty ports so dl_noc_flush() costs nothing for idle
 * destinations, however many cores there are.
 */
#include "dl_noc.h"

#include "dl_log.h"
#include "dl_stats.h"
#include "dl_transport.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

_Static_assert(DL_NOC_TX_CREDIT_RELOADS == DL_NOC_TX_CHAN_BROKEN + 1,
	       "an out-port's two counters (dl_tp_out_init()) are adjacent");

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
	struct dl_tp_out out;
	struct ovf ovf;
	uint64_t msgs; /* messages accepted for this destination (dl_noc_port_stat()) */
	bool present;
	bool dirty; /* in the endpoint's dirty list */
};

struct dl_noc_ep {
	struct dl_noc_ep_head h; /* dirty count, the in-side (dl_noc.h) */
	unsigned core;
	struct dl_noc_fabric *fab;
	uint64_t ovf_limit;
	dl_noc_reject_fn reject; /* told about dropped messages (optional) */
	void *reject_arg;
	uint64_t cnt[DL_NOC_NCNT];
	struct dl_counter_block blk;
	bool registered;
	uint16_t dirty[DL_MAX_CORES]; /* the dirty ports (h.ndirty of them) */
	uint8_t accept[DL_MAX_CORES]; /* class mask per source */
	struct noc_port port[DL_MAX_CORES];
	/* Messages are copied here out of the transport before delivery. */
	uint64_t rxbuf[DL_NOC_RXBUF_WORDS];
};

_Static_assert(offsetof(struct dl_noc_ep, h) == 0, "dl_noc.h reads the head at the start");
_Static_assert(DL_NOC_RXBUF_WORDS >= DL_MSG_MAX_WORDS, "the buffer holds any message");

struct dl_noc_ep *dl_noc_ep_create(struct dl_noc_fabric *f, unsigned core,
				   const struct dl_noc_conf *conf)
{
	static const struct dl_noc_conf defaults;
	struct dl_noc_ep *ep;
	int rc;

	if (conf == NULL)
		conf = &defaults;
	if (f == NULL || core >= dl_tp_fabric_ncores(f)) {
		errno = EINVAL;
		return NULL;
	}
	ep = aligned_alloc(64, (sizeof(*ep) + 63) / 64 * 64);
	if (ep == NULL)
		return NULL;
	memset(ep, 0, sizeof(*ep));
	rc = dl_tp_fabric_claim(f, core);
	if (rc != 0) {
		free(ep);
		errno = -rc;
		return NULL;
	}
	ep->core = core;
	ep->fab = f;
	ep->ovf_limit = conf->ovf_limit_words;
	memset(ep->accept, DL_MSG_CLASS_ALL, sizeof(ep->accept));
	rc = dl_tp_in_init(&ep->h.in, f, core, conf->quota, &ep->cnt[DL_NOC_RX_CHAN_BROKEN]);
	for (unsigned d = 0; d < dl_tp_fabric_ncores(f) && rc == 0; d++) {
		rc = dl_tp_out_init(&ep->port[d].out, f, core, d, &ep->cnt[DL_NOC_TX_CHAN_BROKEN]);
		ep->port[d].present = rc == 0;
		if (rc == -ENOENT)
			rc = 0; /* no channel to d */
	}
	if (rc != 0) { /* the fabric's memory is not what it should be */
		DL_ERR("noc: core %u: cannot attach its channels", core);
		dl_tp_fabric_release(f, core);
		free(ep);
		errno = EINVAL;
		return NULL;
	}
	if (!conf->no_stats) {
		dl_stats_register(&ep->blk, "noc", dl_noc_cnt_names, DL_NOC_NCNT, ep->cnt,
				  (int)core);
		ep->registered = true;
	}
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
	dl_tp_fabric_release(ep->fab, ep->core);
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

/* Put port @p dst on the dirty list (dl_noc_flush() moves it on). */
static void mark_dirty(struct dl_noc_ep *ep, unsigned dst)
{
	if (!ep->port[dst].dirty) {
		ep->port[dst].dirty = true;
		ep->dirty[ep->h.ndirty++] = (uint16_t)dst;
	}
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
	rc = dl_tp_out_check(&p->out, msg, nwords);
	if (rc < 0) {
		ep->cnt[DL_NOC_TX_BAD_MSG]++;
		return rc;
	}
	if (dl_tp_out_broken(&p->out)) {
		ep->cnt[DL_NOC_TX_BROKEN]++;
		return -EPIPE;
	}
	/* Straight out (visible at once) only when nothing older waits. */
	if (p->ovf.msgs == 0) {
		rc = dl_tp_out_reserve(&p->out, nwords);
		if (rc == 0) {
			dl_tp_out_put_now(&p->out, msg, nwords);
			if (!dl_tp_out_idle(&p->out))
				mark_dirty(ep, dst); /* the rest goes at dl_noc_flush() */
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
	mark_dirty(ep, dst);
accepted:
	p->msgs++;
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

	/* Fast path, no stack frame: a well-framed message straight out on a
	 * port that has the credits and no older message waiting, visible at
	 * once. The same checks as send_slow(), which handles (and counts)
	 * everything else. Outside dl_noc_flush() no batch is ever open on a
	 * port (what dl_tp_out_put_fast() assumes). */
	if (__builtin_expect(dst < DL_MAX_CORES && p->present && p->ovf.msgs == 0 &&
				 dl_tp_out_fast_ok(&p->out, msg, nwords),
			     1)) {
		p->msgs++;
		ep->cnt[DL_NOC_TX_MSGS]++;
		ep->cnt[DL_NOC_TX_WORDS] += nwords;
		dl_tp_out_put_fast(&p->out, msg, nwords);
		return 0;
	}
	return send_slow(ep, dst, msg, nwords);
}

/* Move the port's overflow out, oldest first, while credits last. */
static void drain_overflow(struct dl_noc_ep *ep, struct noc_port *p)
{
	const uint64_t *msg;
	unsigned n;

	while ((msg = ovf_peek(&p->ovf, &n)) != NULL) {
		if (dl_tp_out_reserve(&p->out, n) < 0)
			break; /* no credits yet, or broken (counted by the transport) */
		dl_tp_out_put_batch(&p->out, msg, n);
		ovf_pop(&p->ovf, n);
		ep->cnt[DL_NOC_OVF_PENDING_MSGS]--;
		ep->cnt[DL_NOC_OVF_PENDING_WORDS] -= n;
	}
}

/* Drain and publish every dirty port; those still holding overflow, or a
 * message the transport is sending in parts, stay on the list (out of
 * line: the common idle call stays a load and a return). @return the ports
 * whose transport still holds part of a message. */
static __attribute__((noinline)) unsigned flush_dirty(struct dl_noc_ep *ep)
{
	unsigned n = ep->h.ndirty, still = 0, held = 0;

	for (unsigned k = 0; k < n; k++) {
		unsigned dst = ep->dirty[k];
		struct noc_port *p = &ep->port[dst];
		bool idle;

		if (p->ovf.msgs != 0)
			drain_overflow(ep, p);
		dl_tp_out_publish(&p->out);
		idle = dl_tp_out_idle(&p->out);
		held += !idle;
		if (p->ovf.msgs != 0 || !idle)
			ep->dirty[still++] = (uint16_t)dst;
		else
			p->dirty = false;
	}
	ep->h.ndirty = still;
	return held;
}

uint64_t dl_noc_flush_dirty(struct dl_noc_ep *ep)
{
	unsigned held = flush_dirty(ep);

	return ep->cnt[DL_NOC_OVF_PENDING_MSGS] + held;
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

/* What deliver() needs besides the message. */
struct deliver_ctx {
	struct dl_noc_ep *ep;
	dl_noc_fn fn;
	void *arg;
};

/* Decode, filter by class, hand to the endpoint's handler. Inlined into
 * the transport's receive loop (dl_tp_in_poll()). */
static inline __attribute__((always_inline)) void deliver(void *ctx, unsigned src,
							  const uint64_t *w, unsigned n)
{
	const struct deliver_ctx *x = ctx;
	struct dl_noc_ep *ep = x->ep;
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
		x->fn(x->arg, src, &m);
	}
}

unsigned dl_noc_poll_ready(struct dl_noc_ep *ep, unsigned budget, dl_noc_fn fn, void *arg)
{
	struct deliver_ctx x = {ep, fn, arg};

	return dl_tp_in_poll(&ep->h.in, budget, ep->rxbuf, DL_NOC_RXBUF_WORDS, deliver, &x);
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
	uint64_t n = 0;

	if (dst >= 0)
		return dst < DL_MAX_CORES ? ep->port[dst].ovf.msgs + !dl_tp_out_idle(&ep->port[dst].out)
					  : 0;
	/* Only a dirty port can hold part of a message. */
	for (unsigned k = 0; k < ep->h.ndirty; k++)
		n += !dl_tp_out_idle(&ep->port[ep->dirty[k]].out);
	return ep->cnt[DL_NOC_OVF_PENDING_MSGS] + n;
}

const uint64_t *dl_noc_counters(const struct dl_noc_ep *ep)
{
	return ep->cnt;
}

unsigned dl_noc_core(const struct dl_noc_ep *ep)
{
	return ep->core;
}

void dl_noc_port_stat(const struct dl_noc_ep *ep, unsigned dst, struct dl_noc_port_stat *st)
{
	const struct noc_port *p;

	memset(st, 0, sizeof(*st));
	if (dst >= DL_MAX_CORES || !ep->port[dst].present)
		return;
	p = &ep->port[dst];
	st->present = true;
	/* Words the owning core writes with plain stores: relaxed loads of
	 * aligned words, a consistent-enough picture for telemetry. */
	st->msgs = __atomic_load_n(&p->msgs, __ATOMIC_RELAXED);
	st->ovf_msgs = __atomic_load_n(&p->ovf.msgs, __ATOMIC_RELAXED);
	st->ovf_words = __atomic_load_n(&p->ovf.words, __ATOMIC_RELAXED);
	st->credits = dl_tp_out_credits_now(&p->out);
	st->broken = dl_tp_out_broken(&p->out);
}

int dl_noc_links_of(const struct dl_coreset *links, unsigned ncores, unsigned s,
		    struct dl_coreset *out)
{
	struct dl_coreset all;

	dl_coreset_zero(&all);
	dl_coreset_fill(&all, 0, ncores);
	if (links != NULL) {
		*out = links[s];
	} else {
		*out = all;
		dl_coreset_clr(out, s);
	}
	return dl_coreset_subset(out, &all) ? 0 : -EINVAL;
}
