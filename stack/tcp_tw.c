/*
 * tcp_tw.c - compact TIME_WAIT (RFC 9293 3.6.1 and 3.10.7.4, RFC 7323,
 * RFC 6191).
 *
 * A connection that reaches TIME_WAIT once its application gave the id
 * up needs no TCB for its last 2*MSL: only the 4-tuple, both sequence
 * numbers and the timestamps to echo and check (struct dl_tcp_tw, 40
 * bytes against a TCB's ~450). Entries live in a per-core ring in
 * creation order, which is expiry order (every entry lasts 2*MSL), and in
 * the 4-tuple hash beside the TCBs (chain values with DL_TCP_HTW). The
 * ring holds at most tw_max entries: a new one evicts the oldest, as
 * Linux's tcp_max_tw_buckets, counted. Entries removed early (reused,
 * reset) stay in the ring, dead, until they reach its head. A FIN
 * retransmitted by the peer restarts an entry's 2*MSL; the entries behind
 * it then wait for it too (they live longer than 2*MSL, never shorter).
 *
 * Ring positions are 32-bit counters; the slot is the position modulo the
 * capacity, a power of two at least tw_max, allocated in chunks of
 * DL_TCP_TW_CHUNK entries as the ring first reaches them.
 */
#include "dl_tcp.h"

#include <stdlib.h>
#include <string.h>

static uint32_t tw_slot(const struct dl_tcp *t, uint32_t pos)
{
	return pos & (t->tw_cap - 1);
}

static uint32_t tw_expire(const struct dl_tcp *t)
{
	return dl_tcp_ts_now(t) + (uint32_t)((2ull * t->p.msl_us + (1u << DL_TCP_TS_SHIFT) - 1) >>
					     DL_TCP_TS_SHIFT);
}

static void tw_unhash(struct dl_tcp *t, struct dl_tcp_tw *w, uint32_t slot)
{
	uint32_t *pp = dl_tcp_hash_link(t, dl_tcp_tuple_hash(t, w->rip, w->lport, w->rport),
					DL_TCP_HTW | slot);

	*pp = w->hnext;
	w->hnext = 0;
	w->fl &= (uint8_t)~TW_LIVE;
	t->tw_live--;
}

static uint32_t slot_of(const struct dl_tcp *t, const struct dl_tcp_tw *w)
{
	for (uint32_t k = 0; k < t->tw_nchunks; k++) {
		const struct dl_tcp_tw *c = t->tw_chunks[k];
		if (c != NULL && w >= c && w < c + DL_TCP_TW_CHUNK)
			return k * DL_TCP_TW_CHUNK + (uint32_t)(w - c);
	}
	assert(!"TIME_WAIT entry not in the ring");
	return 0;
}

void dl_tcp_tw_remove(struct dl_tcp *t, struct dl_tcp_tw *w)
{
	if (w->fl & TW_LIVE)
		tw_unhash(t, w, slot_of(t, w));
}

/* Drop the entry at the head of the ring. */
static void tw_pop(struct dl_tcp *t, enum dl_tcp_cnt why)
{
	uint32_t slot = tw_slot(t, t->tw_head);
	struct dl_tcp_tw *w = dl_tcp_tw_at(t, slot);

	if (w->fl & TW_LIVE) {
		tw_unhash(t, w, slot);
		t->cnt[why]++;
	}
	t->tw_head++;
}

/* A free entry at the tail (evicting the oldest at tw_max), or NULL. */
static struct dl_tcp_tw *tw_push(struct dl_tcp *t, uint32_t *slot_out)
{
	uint32_t slot;

	if (t->p.tw_max == 0)
		return NULL;
	while (t->tw_tail - t->tw_head >= t->p.tw_max)
		tw_pop(t, TCP_TW_EVICTED);
	slot = tw_slot(t, t->tw_tail);
	if (slot / DL_TCP_TW_CHUNK >= t->tw_nchunks) {
		uint32_t n = t->tw_cap / DL_TCP_TW_CHUNK;
		struct dl_tcp_tw **v = realloc(t->tw_chunks, n * sizeof(*v));
		if (v == NULL)
			return NULL;
		memset(v + t->tw_nchunks, 0, (n - t->tw_nchunks) * sizeof(*v));
		t->tw_chunks = v;
		t->tw_nchunks = n;
	}
	if (t->tw_chunks[slot / DL_TCP_TW_CHUNK] == NULL) {
		t->tw_chunks[slot / DL_TCP_TW_CHUNK] = calloc(DL_TCP_TW_CHUNK, sizeof(struct dl_tcp_tw));
		if (t->tw_chunks[slot / DL_TCP_TW_CHUNK] == NULL)
			return NULL;
	}
	t->tw_tail++;
	*slot_out = slot;
	return dl_tcp_tw_at(t, slot);
}

void dl_tcp_tw_enter(struct dl_tcp *t, struct dl_tcb *c)
{
	struct dl_tcp_tw *w;
	uint32_t slot, *head, wnd;

	assert(c->state == DL_TCP_TIME_WAIT);
	w = tw_push(t, &slot);
	if (w == NULL) {
		dl_tcp_close_now(t, c); /* no TIME_WAIT kept (tw_max 0, no memory) */
		return;
	}
	wnd = seq_gt(c->rcv_edge, c->rcv_nxt) ? c->rcv_edge - c->rcv_nxt : 0;
	*w = (struct dl_tcp_tw){
	    .rip = c->rip,
	    .lport = c->lport,
	    .rport = c->rport,
	    .snd_nxt = c->snd_max,
	    .rcv_nxt = c->rcv_nxt,
	    .ts_recent = c->ts_recent,
	    .ts_off = c->ts_off,
	    .ts_recent_age = c->ts_recent_age,
	    .expire = c->t_idle != 0 ? (uint32_t)(c->t_idle >> DL_TCP_TS_SHIFT) : tw_expire(t),
	    .wnd = (uint16_t)min_u32(wnd >> c->rcv_ws, 65535),
	    .fl = (uint8_t)(TW_LIVE | ((c->flags & TF_TS) ? TW_TS : 0)),
	};
	dl_tcp_close_now(t, c); /* unhashes c: the entry takes its place */
	head = &t->htab[dl_tcp_tuple_hash(t, w->rip, w->lport, w->rport)];
	w->hnext = *head;
	*head = DL_TCP_HTW | slot;
	t->tw_live++;
	t->cnt[TCP_TW_ENTERED]++;
}

static void tw_ack(struct dl_tcp *t, const struct dl_tcp_tw *w)
{
	struct dl_tcp_hdr h = {
	    .sport = w->lport,
	    .dport = w->rport,
	    .seq = w->snd_nxt,
	    .ack = w->rcv_nxt,
	    .flags = DL_TCP_ACK,
	    .wnd = w->wnd,
	};

	if (w->fl & TW_TS) {
		h.opts = DL_TCP_OPT_TS;
		h.tsval = dl_tcp_ts_now(t) + w->ts_off;
		h.tsecr = w->ts_recent;
	}
	dl_tcp_send_segment(t, w->rip, &h);
}

bool dl_tcp_tw_reusable(const struct dl_tcp *t, const struct dl_tcp_tw *w)
{
	/* Our timestamps for the tuple keep growing (same per-tuple offset,
	 * a later clock), so the peer's PAWS rejects old duplicates of the
	 * previous connection; wait a second so that the peer's clock moved
	 * on too (as Linux's tcp_tw_reuse). */
	return t->p.tw_reuse && (w->fl & TW_TS) &&
	       dl_tcp_ts_now(t) - w->ts_recent_age >= (1000000u >> DL_TCP_TS_SHIFT);
}

enum dl_tcp_tw_verdict dl_tcp_tw_input(struct dl_tcp *t, struct dl_tcp_tw *w,
				       const struct dl_tcp_hdr *h, uint32_t plen)
{
	uint8_t fl = h->flags;
	uint32_t seq = h->seq;

	if (fl & DL_TCP_RST) {
		/* RFC 9293 with RFC 5961: only an exact RST ends it. */
		if (seq == w->rcv_nxt) {
			t->cnt[TCP_TW_RST_KILLED]++;
			dl_tcp_tw_remove(t, w);
		} else {
			t->cnt[TCP_DROP_RST_OOW]++;
		}
		return DL_TW_DONE;
	}
	if ((fl & (DL_TCP_SYN | DL_TCP_ACK)) == DL_TCP_SYN && dl_tcp_listener_find(t, h->dport)) {
		/* RFC 6191: a clearly newer SYN reopens the tuple. */
		bool newer = (w->fl & TW_TS) && (h->opts & DL_TCP_OPT_TS)
				 ? seq_gt(h->tsval, w->ts_recent)
				 : seq_gt(seq, w->rcv_nxt);
		if (newer) {
			t->cnt[TCP_TW_REUSED]++;
			dl_tcp_tw_remove(t, w);
			return DL_TW_REOPEN;
		}
	}
	if (w->fl & TW_TS) {
		if (!(h->opts & DL_TCP_OPT_TS)) {
			t->cnt[TCP_DROP_NO_TS]++;
			return DL_TW_DONE;
		}
		if (seq_lt(h->tsval, w->ts_recent)) {
			t->cnt[TCP_DROP_PAWS]++;
			tw_ack(t, w);
			return DL_TW_DONE;
		}
	}
	if (fl & DL_TCP_SYN) {
		t->cnt[TCP_DROP_SYN_CHALLENGE]++;
		if (dl_tcp_challenge_ok(t))
			tw_ack(t, w);
		return DL_TW_DONE;
	}
	t->cnt[TCP_DROP_TIME_WAIT]++;
	if ((fl & DL_TCP_FIN) && seq + plen + 1 == w->rcv_nxt) {
		/* The peer did not get our last ACK: again, and 2*MSL anew. */
		if (w->fl & TW_TS)
			w->ts_recent = h->tsval;
		w->expire = tw_expire(t);
		tw_ack(t, w);
		return DL_TW_DONE;
	}
	if (plen > 0 || (fl & DL_TCP_FIN))
		tw_ack(t, w);
	return DL_TW_DONE;
}

static bool tw_due(const struct dl_tcp *t, const struct dl_tcp_tw *w)
{
	return (int32_t)(dl_tcp_ts_now(t) - w->expire) >= 0;
}

void dl_tcp_tw_poll(struct dl_tcp *t)
{
	while (t->tw_head != t->tw_tail) {
		struct dl_tcp_tw *w = dl_tcp_tw_at(t, tw_slot(t, t->tw_head));
		if ((w->fl & TW_LIVE) && !tw_due(t, w))
			break;
		tw_pop(t, TCP_TW_EXPIRED);
	}
}

uint64_t dl_tcp_tw_next(const struct dl_tcp *t)
{
	const struct dl_tcp_tw *w;
	uint64_t now = t->s->now;
	int32_t left;

	if (t->tw_head == t->tw_tail)
		return UINT64_MAX;
	w = dl_tcp_tw_at(t, tw_slot(t, t->tw_head));
	if (!(w->fl & TW_LIVE))
		return now; /* a dead entry to pass over */
	left = (int32_t)(w->expire - dl_tcp_ts_now(t));
	if (left <= 0)
		return now;
	/* The tick boundary at which dl_tcp_ts_now() reaches expire. */
	return ((now >> DL_TCP_TS_SHIFT) + (uint64_t)left) << DL_TCP_TS_SHIFT;
}

void dl_tcp_tw_destroy(struct dl_tcp *t)
{
	for (uint32_t k = 0; k < t->tw_nchunks; k++)
		free(t->tw_chunks[k]);
	free(t->tw_chunks);
	t->tw_chunks = NULL;
	t->tw_nchunks = 0;
	t->tw_head = t->tw_tail = t->tw_live = 0;
}
