/*
 * tcp_sack.c - selective acknowledgments both ways and loss recovery on
 * them: SACK blocks we report (RFC 2018, D-SACK RFC 2883), the sender's
 * scoreboard, RACK loss detection, PRR and tail loss probes (RFC 8985,
 * RFC 6937).
 *
 * Receiver. rsack[] holds up to four blocks of out-of-order data, the
 * most recently changed first: when a segment joins the out-of-order
 * queue, the whole contiguous run around it (tcp_in.c finds it while
 * inserting) goes to the front and the blocks it covers go. Blocks below
 * RCV.NXT go when the queue drains. A duplicate segment is reported once
 * as a D-SACK block, in front. Pure ACKs carry them (3 blocks beside
 * timestamps, 4 without); tcp_out.c sends such an ACK ahead of data.
 *
 * Sender. An idle or loss-free connection keeps no per-segment state.
 * When the first SACK block arrives (or an RTO fires, or a tail loss
 * probe retransmits, on a SACK connection) it takes a scoreboard from the
 * core's pool: the sequence space SND.UNA..SND.MAX cut in at most 48
 * ranges, each with one send time and SB_* flags (SACKed, lost,
 * retransmitted). What was in flight when the scoreboard started gets
 * one send time, the latest it can have had (just before now; a PTO ago
 * for a probe's scoreboard): their order is known (first transmissions
 * go in sequence order), their exact send times are not, so RACK's
 * reordering window runs from then for them (late by at most the spread
 * of that flight, never early). Later
 * transmissions are recorded as they happen (dl_tcp_sb_sent). The pool
 * is bounded (sack_pool); a connection that finds it empty recovers
 * NewReno-style, counted. The scoreboard goes back once the connection
 * left recovery and nothing is SACKed or lost.
 *
 * On each ACK with a scoreboard (dl_tcp_sack_ack): ranges below SND.UNA
 * are dropped and SACK blocks mark ranges; every newly delivered range
 * updates RACK (the most recently sent delivered segment and its RTT,
 * reordering seen when a never-retransmitted range below the highest
 * SACK is delivered); the reordering window follows RFC 8985 6.2 (zero
 * without reordering once three segments are SACKed or in recovery,
 * else min_RTT / 4 times a multiplier that D-SACKs raise, at most SRTT);
 * RACK marks lost every range sent before the most recently delivered
 * one by more than that window, and arms the reordering timer for the
 * rest. A loss starts fast recovery: ssthresh from the congestion
 * control, and PRR (RFC 6937, with slow-start reduction bound) sets cwnd
 * = pipe + what may be sent, pipe = SND.MAX - SND.UNA - SACKed - lost
 * not yet retransmitted (RFC 6675 2). tcp_out.c then retransmits lost
 * ranges first, new data after. A lost retransmission is found the same
 * way, by time. Recovery ends when SND.UNA passes the SND.MAX it began at
 * (cwnd = ssthresh).
 *
 * Tail loss probes (RFC 8985 7): on a SACK connection with data in
 * flight, not recovering and nothing SACKed, the retransmission timer is
 * first a probe timeout (PTO = 2 SRTT, plus an allowance for the peer's
 * delayed ACK when one segment is in flight: an eighth of tlp_delack_us,
 * doubled after each such probe the peer D-SACKs, up to tlp_delack_us;
 * else plus 2 ms as Linux; never past the RTO). It sends one
 * new segment, or the last one again, and re-arms the RTO. The ACK that
 * covers the probe tells whether it repaired a loss (then cwnd is
 * reduced once) or was needless (a D-SACK for it).
 */
#include "dl_tcp_cc.h"

#include <stdlib.h>
#include <string.h>

#define SB_SLAB 32

/* ------------------------------------------------------------------------ */
/* the pool                                                                 */
/* ------------------------------------------------------------------------ */

static struct dl_tcp_sb *sb_get(struct dl_tcp *t)
{
	struct dl_tcp_sb *sb;

	if (t->sb_free == NULL) {
		if (t->sb_total >= t->p.sack_pool)
			return NULL;
		if (t->sb_nslabs == t->sb_slab_cap) {
			uint32_t cap = t->sb_slab_cap ? 2 * t->sb_slab_cap : 8;
			void **v = realloc(t->sb_slabs, cap * sizeof(*v));
			if (v == NULL)
				return NULL;
			t->sb_slabs = v;
			t->sb_slab_cap = cap;
		}
		uint32_t n = min_u32(SB_SLAB, t->p.sack_pool - t->sb_total);
		struct dl_tcp_sb *slab = calloc(n, sizeof(*slab));
		if (slab == NULL)
			return NULL;
		t->sb_slabs[t->sb_nslabs++] = slab;
		for (uint32_t i = 0; i < n; i++) {
			slab[i].next = t->sb_free;
			t->sb_free = &slab[i];
		}
		t->sb_total += n;
	}
	sb = t->sb_free;
	t->sb_free = sb->next;
	t->sb_used++;
	t->cnt[TCP_SB_ALLOC]++;
	return sb;
}

void dl_tcp_sb_pool_free(struct dl_tcp *t)
{
	for (uint32_t i = 0; i < t->sb_nslabs; i++)
		free(t->sb_slabs[i]);
	free(t->sb_slabs);
	t->sb_slabs = NULL;
	t->sb_nslabs = t->sb_slab_cap = 0;
	t->sb_free = NULL;
	t->sb_total = 0;
}

/* ------------------------------------------------------------------------ */
/* ranges                                                                   */
/* ------------------------------------------------------------------------ */

static uint32_t now32(const struct dl_tcp *t)
{
	return (uint32_t)t->s->now;
}

static uint32_t r_start(const struct dl_tcp_sb *sb, unsigned i)
{
	return i == 0 ? sb->una : sb->r[i - 1].end;
}

/* Index of the range holding seq (una <= seq < last end), or n. */
static unsigned r_find(const struct dl_tcp_sb *sb, uint32_t seq)
{
	for (unsigned i = 0; i < sb->n; i++)
		if (seq_lt(seq, sb->r[i].end))
			return seq_ge(seq, r_start(sb, i)) ? i : sb->n;
	return sb->n;
}

static void r_delete(struct dl_tcp_sb *sb, unsigned i)
{
	memmove(&sb->r[i], &sb->r[i + 1], (sb->n - i - 1) * sizeof(sb->r[0]));
	sb->n--;
}

/* Merge neighbours with the same flags (the later send time stays, so a
 * merged range is never judged lost earlier than either part). @return
 * true if a slot was freed. */
static bool r_compact(struct dl_tcp_sb *sb)
{
	bool freed = false;

	for (unsigned i = 0; i + 1 < sb->n;) {
		if (sb->r[i].fl == sb->r[i + 1].fl) {
			if ((int32_t)(sb->r[i].ts - sb->r[i + 1].ts) > 0)
				sb->r[i + 1].ts = sb->r[i].ts;
			r_delete(sb, i);
			freed = true;
		} else {
			i++;
		}
	}
	return freed;
}

/* Make seq a range boundary (r_room_top made room for it). */
static void r_split(struct dl_tcp_sb *sb, uint32_t seq)
{
	unsigned i = r_find(sb, seq);

	if (i == sb->n || seq == r_start(sb, i))
		return;
	assert(sb->n < DL_TCP_SB_RANGES);
	memmove(&sb->r[i + 1], &sb->r[i], (sb->n - i) * sizeof(sb->r[0]));
	sb->n++;
	sb->r[i].end = seq;
}

static uint32_t r_len(const struct dl_tcp_sb *sb, unsigned i)
{
	return sb->r[i].end - r_start(sb, i);
}

/* Lost and waiting for its retransmission (out of the pipe). */
static bool r_lost(uint8_t fl)
{
	return (fl & (SB_LOST | SB_REXMIT)) == SB_LOST;
}

#ifndef NDEBUG
/* The byte counts agree with the ranges (checked where ranges merge). */
static void sb_assert_sums(const struct dl_tcp_sb *sb)
{
	uint32_t sacked = 0, lost = 0;

	for (unsigned i = 0; i < sb->n; i++) {
		if (sb->r[i].fl & SB_SACKED)
			sacked += r_len(sb, i);
		else if (r_lost(sb->r[i].fl))
			lost += r_len(sb, i);
	}
	assert(sacked == sb->sacked && lost == sb->lost);
}
#endif

/*
 * Room for k more ranges for a mark below `floor` (a retransmission, a
 * SACK block), when compacting is not enough: the detail at the top goes.
 * The two highest ranges, both at or above floor, become one range in
 * flight, sent at the later of their times: a SACK there is forgotten
 * (the peer's next blocks may report it again, else RACK resends it),
 * a loss there is found again by RACK (never earlier than before). The
 * lower ranges, the holes that hold SND.UNA back and their
 * retransmissions, keep their state: marking a whole merged range
 * resent instead (the fallback before) filled the pipe with data that
 * was never resent, and the connection stalled until an RTO.
 */
static bool r_room_top(struct dl_tcp *t, struct dl_tcb *c, unsigned k, uint32_t floor)
{
	struct dl_tcp_sb *sb = c->sb;
	bool merged = false;

	if (sb->n + k <= DL_TCP_SB_RANGES)
		return true;
	r_compact(sb); /* (before any split, so it cannot undo a boundary just made) */
	if (sb->n + k <= DL_TCP_SB_RANGES)
		return true;
	while (sb->n + k > DL_TCP_SB_RANGES && sb->n >= 2 &&
	       seq_ge(r_start(sb, sb->n - 2), floor)) {
		unsigned i = sb->n - 2;
		struct dl_tcp_sbr *lo = &sb->r[i], *hi = &sb->r[i + 1];
		uint8_t ever = (uint8_t)((lo->fl | hi->fl) & SB_EVER_REXMIT);

		for (unsigned j = i; j <= i + 1; j++) {
			if (sb->r[j].fl & SB_SACKED)
				sb->sacked -= r_len(sb, j);
			else if (r_lost(sb->r[j].fl))
				sb->lost -= r_len(sb, j);
		}
		if ((int32_t)(lo->ts - hi->ts) > 0)
			hi->ts = lo->ts;
		hi->fl = ever;
		r_delete(sb, i);
		t->cnt[TCP_SB_TOP_MERGED]++;
		merged = true;
	}
	if (merged) {
		/* the highest SACKed end, for RACK's reordering test */
		sb->fack = sb->una;
		for (unsigned i = sb->n; i-- > 0;)
			if (sb->r[i].fl & SB_SACKED) {
				sb->fack = sb->r[i].end;
				break;
			}
#ifndef NDEBUG
		sb_assert_sums(sb);
#endif
	}
	if (sb->n + k <= DL_TCP_SB_RANGES)
		return true;
	t->cnt[TCP_SB_OVERFLOW]++;
	return false;
}

/* ------------------------------------------------------------------------ */
/* RACK (RFC 8985 6)                                                        */
/* ------------------------------------------------------------------------ */

static bool sent_after(uint32_t t1, uint32_t s1, uint32_t t2, uint32_t s2)
{
	int32_t d = (int32_t)(t1 - t2);

	return d > 0 || (d == 0 && seq_gt(s1, s2));
}

/* A range [.., end) sent at ts with flags fl was delivered. */
static void rack_update(struct dl_tcp *t, struct dl_tcb *c, uint32_t ts, uint32_t end, uint8_t fl)
{
	struct dl_tcp_sb *sb = c->sb;
	uint32_t rtt = now32(t) - ts;

	if (seq_gt(end, sb->fack)) {
		sb->fack = end;
	} else if (!(fl & SB_EVER_REXMIT) && seq_lt(end, sb->fack) && !(c->flags & TF_REORDER)) {
		c->flags |= TF_REORDER;
		t->cnt[TCP_RACK_REORDER]++;
	}
	/* A retransmitted range delivered sooner than the minimum RTT was
	 * most likely delivered by its original transmission: no sample. */
	if ((fl & SB_EVER_REXMIT) && c->min_rtt != 0 && rtt < c->min_rtt)
		return;
	sb->rack_rtt = rtt;
	if (!sb->rack_valid || sent_after(ts, end, sb->rack_ts, sb->rack_end)) {
		sb->rack_ts = ts;
		sb->rack_end = end;
		sb->rack_valid = true;
	}
}

static uint32_t rack_reo_wnd(const struct dl_tcb *c)
{
	const struct dl_tcp_sb *sb = c->sb;
	uint32_t mult = c->reo_mult ? c->reo_mult : 1, w;

	if (!(c->flags & TF_REORDER)) {
		if (c->flags & TF_RECOVERY)
			return 0;
		if (sb->sacked >= 3u * c->mss) /* DupThresh segments SACKed */
			return 0;
	}
	w = mult * (c->min_rtt / 4);
	return min_u32(w, c->srtt8 >> 3);
}

/* Mark lost what was sent before the most recently delivered range by
 * more than the reordering window. @return microseconds until the next
 * range may be (the reordering timer), 0 for none. */
static uint32_t rack_detect_loss(struct dl_tcp *t, struct dl_tcb *c)
{
	struct dl_tcp_sb *sb = c->sb;
	uint32_t reo, now = now32(t), timeout = 0;

	if (!sb->rack_valid)
		return 0;
	reo = rack_reo_wnd(c);
	for (unsigned i = 0; i < sb->n; i++) {
		struct dl_tcp_sbr *r = &sb->r[i];
		int32_t left;

		if ((r->fl & SB_SACKED) || r_lost(r->fl))
			continue;
		if (!sent_after(sb->rack_ts, sb->rack_end, r->ts, r->end))
			continue;
		left = (int32_t)(r->ts + sb->rack_rtt + reo - now);
		if (left <= 0) {
			if (r->fl & SB_REXMIT)
				t->cnt[TCP_RACK_LOST_REXMIT]++;
			r->fl = (uint8_t)((r->fl | SB_LOST) & ~SB_REXMIT);
			sb->lost += r_len(sb, i);
			t->cnt[TCP_RACK_LOST]++;
		} else if ((uint32_t)left > timeout) {
			timeout = (uint32_t)left;
		}
	}
	return timeout;
}

/* RFC 8985 6.2 step 4: D-SACKs widen the reordering window for a while.
 * A D-SACK also proves reordering (a segment marked lost arrived after
 * all) unless it reports a tail loss probe, which resends what was not
 * lost by design. */
static void rack_dsack(struct dl_tcp *t, struct dl_tcb *c, const struct dl_tcp_sack_in *si)
{
	bool dsack = si->dsack;

	if (dsack && !(c->flags & TF_REORDER) &&
	    !((c->flags & TF_TLP_OUT) && si->dsack_e == c->tlp_end)) {
		c->flags |= TF_REORDER;
		t->cnt[TCP_RACK_REORDER]++;
	}
	if ((c->flags & TF_DSACK_ROUND) && seq_ge(c->snd_una, c->dsack_round))
		c->flags &= ~TF_DSACK_ROUND;
	if (!(c->flags & TF_DSACK_ROUND) && dsack) {
		c->flags |= TF_DSACK_ROUND;
		c->dsack_round = c->snd_max;
		if (c->reo_mult == 0)
			c->reo_mult = 1;
		if (c->reo_mult < 255)
			c->reo_mult++;
		c->reo_persist = 16;
	}
}

static void arm_reo(struct dl_tcp *t, struct dl_tcb *c, uint32_t timeout)
{
	struct dl_tcp_sb *sb = c->sb;

	if (timeout == 0) {
		sb->t_reo = 0;
		return;
	}
	sb->t_reo = t->s->now + timeout;
	dl_tcp_timer_arm(t, c, sb->t_reo);
}

/* ------------------------------------------------------------------------ */
/* the scoreboard of a connection                                            */
/* ------------------------------------------------------------------------ */

bool dl_tcp_sb_start(struct dl_tcp *t, struct dl_tcb *c, uint32_t age)
{
	struct dl_tcp_sb *sb;

	assert(c->sb == NULL);
	if (c->snd_una == c->snd_max || c->snd_nxt != c->snd_max || (c->flags & TF_PERSIST))
		return false;
	sb = sb_get(t);
	if (sb == NULL) {
		if (!(c->fl2 & TF2_SB_FAILED))
			t->cnt[TCP_SB_EXHAUSTED]++;
		c->fl2 |= TF2_SB_FAILED;
		return false;
	}
	memset(sb, 0, sizeof(*sb));
	sb->una = c->snd_una;
	sb->fack = c->snd_una;
	sb->n = 1;
	/* Sent at least `age` ago (so before anything recorded from now
	 * on), in sequence order. */
	sb->r[0] = (struct dl_tcp_sbr){.end = c->snd_max, .ts = now32(t) - max_u32(age, 1), .fl = 0};
	c->sb = sb;
	c->fl2 &= (uint8_t)~TF2_SB_FAILED;
	return true;
}

void dl_tcp_sb_drop(struct dl_tcp *t, struct dl_tcb *c)
{
	struct dl_tcp_sb *sb = c->sb;

	if (sb == NULL)
		return;
	c->sb = NULL;
	sb->next = t->sb_free;
	t->sb_free = sb;
	t->sb_used--;
	if (c->flags & TF_RECOVERY) {
		/* Whatever recovery was under way goes on as go-back-N. */
		c->flags &= ~(TF_RECOVERY | TF_LOSS);
		c->cwnd = max_u32(min_u32(c->cwnd, c->ssthresh), c->mss);
	}
}

bool dl_tcp_sb_can_append(struct dl_tcp *t, struct dl_tcb *c)
{
	struct dl_tcp_sb *sb = c->sb;

	if (sb->n < DL_TCP_SB_RANGES || sb->r[sb->n - 1].fl == 0 || r_compact(sb))
		return true;
	t->cnt[TCP_SB_OVERFLOW]++;
	return false;
}

uint32_t dl_tcp_sb_pipe(const struct dl_tcb *c)
{
	const struct dl_tcp_sb *sb = c->sb;
	uint32_t out = c->snd_max - c->snd_una, gone = sb->sacked + sb->lost;

	return out > gone ? out - gone : 0;
}

bool dl_tcp_sb_next_lost(const struct dl_tcb *c, uint32_t *s, uint32_t *e)
{
	const struct dl_tcp_sb *sb = c->sb;

	if (sb->lost == 0)
		return false;
	for (unsigned i = 0; i < sb->n; i++)
		if (r_lost(sb->r[i].fl)) {
			*s = r_start(sb, i);
			*e = sb->r[i].end;
			return true;
		}
	return false;
}

void dl_tcp_sb_sent(struct dl_tcp *t, struct dl_tcb *c, uint32_t s, uint32_t e, bool rexmit)
{
	struct dl_tcp_sb *sb = c->sb;
	uint32_t now = now32(t);

	if (sb == NULL || s == e)
		return;
	if (!rexmit) {
		struct dl_tcp_sbr *last = sb->n > 0 ? &sb->r[sb->n - 1] : NULL;
		if (sb->n == 0)
			sb->una = s;
		assert(s == (last != NULL ? last->end : sb->una));
		if (last != NULL && last->fl == 0 && last->ts == now) {
			last->end = e;
			return;
		}
		if (sb->n == DL_TCP_SB_RANGES && !r_compact(sb)) {
			/* Full (dl_tcp_sb_can_append said the last range is in
			 * flight): it grows and looks newer, so a loss in it is
			 * found later, never earlier. */
			last = &sb->r[sb->n - 1];
			assert(last->fl == 0);
			last->end = e;
			last->ts = now;
			return;
		}
		sb->r[sb->n++] = (struct dl_tcp_sbr){.end = e, .ts = now, .fl = 0};
		return;
	}
	s = seq_max(s, sb->una);
	if (!seq_lt(s, e))
		return;
	/* Without room (the top already merged down to [s, e)) the whole
	 * ranges around it count as resent: RACK finds the part that was not
	 * when it is not delivered. */
	if (r_room_top(t, c, 2, e)) {
		r_split(sb, s);
		r_split(sb, e);
	}
	for (unsigned i = r_find(sb, s); i < sb->n && seq_lt(r_start(sb, i), e); i++) {
		struct dl_tcp_sbr *r = &sb->r[i];
		if (r->fl & SB_SACKED)
			continue;
		if (r_lost(r->fl))
			sb->lost -= r_len(sb, i);
		r->fl |= SB_REXMIT | SB_EVER_REXMIT;
		r->ts = now;
	}
}

void dl_tcp_sb_mark_all_lost(struct dl_tcp *t, struct dl_tcb *c, bool forget_sacked)
{
	struct dl_tcp_sb *sb = c->sb;

	(void)t;
	for (unsigned i = 0; i < sb->n; i++) {
		struct dl_tcp_sbr *r = &sb->r[i];
		if ((r->fl & SB_SACKED) && forget_sacked) {
			sb->sacked -= r_len(sb, i);
			r->fl &= (uint8_t)~SB_SACKED;
		}
		if ((r->fl & SB_SACKED) || r_lost(r->fl))
			continue;
		r->fl = (uint8_t)((r->fl | SB_LOST) & ~SB_REXMIT);
		sb->lost += r_len(sb, i);
	}
	r_compact(sb);
}

/* Drop what SND.UNA passed. @return bytes delivered by it that were not
 * SACKed before. */
static uint32_t sb_trim(struct dl_tcp *t, struct dl_tcb *c)
{
	struct dl_tcp_sb *sb = c->sb;
	uint32_t una = c->snd_una, delivered = 0;

	while (sb->n > 0 && seq_gt(una, sb->una)) {
		struct dl_tcp_sbr *r = &sb->r[0];
		uint32_t end = seq_min(r->end, una), part = end - sb->una;

		if (r->fl & SB_SACKED) {
			sb->sacked -= part;
		} else {
			delivered += part;
			if (r_lost(r->fl))
				sb->lost -= part;
			rack_update(t, c, r->ts, end, r->fl);
		}
		sb->una = end;
		if (end == r->end)
			r_delete(sb, 0);
	}
	if (sb->n == 0)
		sb->una = una;
	return delivered;
}

/* Mark [s, e) SACKed. @return bytes newly SACKed. */
static uint32_t sb_mark_sacked(struct dl_tcp *t, struct dl_tcb *c, uint32_t s, uint32_t e)
{
	struct dl_tcp_sb *sb = c->sb;
	uint32_t got = 0;

	if (sb->n == 0)
		return 0;
	s = seq_max(s, sb->una);
	e = seq_min(e, sb->r[sb->n - 1].end);
	if (!seq_lt(s, e) || !r_room_top(t, c, 2, e))
		return 0; /* not recorded: only costs a needless retransmission */
	r_split(sb, s);
	r_split(sb, e);
	for (unsigned i = r_find(sb, s); i < sb->n && seq_lt(r_start(sb, i), e); i++) {
		struct dl_tcp_sbr *r = &sb->r[i];
		uint32_t len = r_len(sb, i);

		if (r->fl & SB_SACKED)
			continue;
		if (r_lost(r->fl))
			sb->lost -= len;
		rack_update(t, c, r->ts, r->end, r->fl);
		r->fl = (uint8_t)(SB_SACKED | (r->fl & SB_EVER_REXMIT));
		sb->sacked += len;
		got += len;
	}
	/* SACKed neighbours need no separate ranges (their times no longer
	 * matter): merge them to keep room. */
	for (unsigned i = 0; i + 1 < sb->n;) {
		if ((sb->r[i].fl & SB_SACKED) && (sb->r[i + 1].fl & SB_SACKED)) {
			sb->r[i + 1].fl |= sb->r[i].fl & SB_EVER_REXMIT;
			r_delete(sb, i);
		} else {
			i++;
		}
	}
	return got;
}

/* ------------------------------------------------------------------------ */
/* incoming SACK blocks                                                     */
/* ------------------------------------------------------------------------ */

void dl_tcp_sack_parse(struct dl_tcp *t, const struct dl_tcb *c, const struct dl_tcp_hdr *h,
		       struct dl_tcp_sack_in *si)
{
	uint32_t ack = h->ack;

	si->n = 0;
	si->dsack = false;
	t->cnt[TCP_RX_SACK_BLOCKS] += h->nsack;
	for (unsigned k = 0; k < h->nsack; k++) {
		uint32_t s = h->sack[k][0], e = h->sack[k][1];

		if (!seq_lt(s, e) || e - s > (1u << 30)) {
			t->cnt[TCP_DROP_SACK_INVALID]++;
			continue;
		}
		/* RFC 2883 4: a first block below the cumulative ACK, or
		 * inside the second block, reports a duplicate. */
		if (k == 0 && (seq_le(e, ack) ||
			       (h->nsack > 1 && seq_ge(s, h->sack[1][0]) && seq_le(e, h->sack[1][1])))) {
			si->dsack = true;
			si->dsack_s = s;
			si->dsack_e = e;
			t->cnt[TCP_RX_DSACK]++;
			continue;
		}
		if (seq_lt(s, ack))
			s = ack;
		if (!seq_lt(s, e) || seq_gt(e, c->snd_max)) {
			t->cnt[TCP_DROP_SACK_INVALID]++;
			continue;
		}
		/* insertion sort by start */
		unsigned j = si->n++;
		while (j > 0 && seq_gt(si->b[j - 1][0], s)) {
			si->b[j][0] = si->b[j - 1][0];
			si->b[j][1] = si->b[j - 1][1];
			j--;
		}
		si->b[j][0] = s;
		si->b[j][1] = e;
	}
	if (si->dsack)
		t->cnt[TCP_SPURIOUS_REXMIT]++;
}

/* ------------------------------------------------------------------------ */
/* recovery: RACK-marked losses, PRR                                        */
/* ------------------------------------------------------------------------ */

static void enter_recovery(struct dl_tcp *t, struct dl_tcb *c)
{
	struct dl_tcp_sb *sb = c->sb;

	c->ssthresh = dl_tcp_loss_ssthresh(t, c);
	c->ecn &= (uint8_t)~ECN_CWR; /* recover is the recovery's now */
	c->recover = c->snd_max;
	c->flags |= TF_RECOVERY;
	c->flags &= ~TF_LOSS;
	c->dupacks = 0;
	/* ACKs are processed in bursts and output runs after the burst:
	 * what the burst delivered (acknowledged or SACKed) up to the loss
	 * would have let data out, one ACK at a time. Count it as delivered
	 * in recovery (and the flight as it was before the burst), or PRR
	 * starts from a flight the batching drained and keeps cwnd far
	 * below ssthresh. */
	sb->prr_delivered = c->acked_batch;
	sb->prr_out = 0;
	sb->recover_fs = max_u32(c->snd_max - c->snd_una + c->acked_batch, 1);
	t->cnt[TCP_SACK_RECOVERY]++;
	t->cnt[TCP_FAST_REXMIT]++;
}

static void exit_recovery(struct dl_tcb *c)
{
	if (!(c->flags & TF_LOSS))
		c->cwnd = max_u32(c->ssthresh, c->mss); /* RFC 6937: end at ssthresh */
	c->flags &= ~(TF_RECOVERY | TF_LOSS);
	c->bytes_acked = 0;
	if (c->reo_persist > 0 && --c->reo_persist == 0)
		c->reo_mult = 1;
}

/* RFC 6937 (PRR-SSRB): cwnd = pipe + what this ACK lets out. */
static void prr(struct dl_tcb *c, uint32_t delivered)
{
	struct dl_tcp_sb *sb = c->sb;
	uint32_t pipe = dl_tcp_sb_pipe(c), mss = c->mss;
	int64_t sndcnt;

	sb->prr_delivered += delivered;
	if (pipe > c->ssthresh) {
		uint64_t want = ((uint64_t)sb->prr_delivered * c->ssthresh + sb->recover_fs - 1) /
				sb->recover_fs;
		sndcnt = (int64_t)want - sb->prr_out;
	} else {
		int64_t limit = (int64_t)sb->prr_delivered - sb->prr_out;
		if (limit < (int64_t)delivered)
			limit = delivered;
		limit += mss;
		sndcnt = (int64_t)c->ssthresh - pipe;
		if (sndcnt > limit)
			sndcnt = limit;
	}
	if (sndcnt < 0)
		sndcnt = 0;
	/* The first retransmission goes at once (fast retransmit). */
	if (sb->prr_out == 0 && sb->lost > 0 && sndcnt < mss)
		sndcnt = mss;
	c->cwnd = pipe + (uint32_t)sndcnt;
	if (c->cwnd < mss)
		c->cwnd = mss;
}

bool dl_tcp_sack_ack(struct dl_tcp *t, struct dl_tcb *c, const struct dl_tcp_sack_in *si,
		     uint32_t cum)
{
	struct dl_tcp_sb *sb;
	uint32_t delivered, timeout;

	if (c->sb == NULL) {
		/* A scoreboard only for real SACK information, outside a
		 * NewReno recovery already under way. */
		if (si->n == 0 || (c->flags & TF_RECOVERY) || !dl_tcp_sb_start(t, c, 1))
			return false;
	}
	sb = c->sb;
	delivered = sb_trim(t, c);
	for (unsigned k = 0; k < si->n; k++) {
		uint32_t got = sb_mark_sacked(t, c, si->b[k][0], si->b[k][1]);
		delivered += got;
		c->acked_batch += got; /* (the cumulative part was added by the caller) */
	}
	rack_dsack(t, c, si);
	timeout = rack_detect_loss(t, c);
	arm_reo(t, c, timeout);
	if ((c->flags & TF_RECOVERY) && seq_ge(c->snd_una, c->recover))
		exit_recovery(c);
	if (!(c->flags & TF_RECOVERY) && sb->lost > 0) {
		enter_recovery(t, c); /* counts this ACK's delivery too */
		delivered = 0;
	}
	/* Growth counts what this ACK newly delivered (SACKed before is
	 * not counted twice when the cumulative ACK passes it). */
	if (c->flags & TF_RECOVERY) {
		if (!(c->flags & TF_LOSS))
			prr(c, delivered);
		else if (cum > 0)
			dl_tcp_cc(c)->cong_avoid(t, c, cum); /* RTO recovery: slow start */
	} else if (delivered > 0 && (c->fl2 & TF2_CWND_LIMITED)) {
		dl_tcp_cc(c)->cong_avoid(t, c, delivered);
	}
	if (!(c->flags & TF_RECOVERY) && sb->sacked == 0 && sb->lost == 0)
		dl_tcp_sb_drop(t, c);
	else if (sb->lost > 0 || dl_tcp_sb_pipe(c) < c->cwnd)
		dl_tcp_want_output(t, c);
	return true;
}

void dl_tcp_rack_timeout(struct dl_tcp *t, struct dl_tcb *c)
{
	struct dl_tcp_sb *sb = c->sb;

	sb->t_reo = 0;
	t->cnt[TCP_RACK_REO_TIMER]++;
	arm_reo(t, c, rack_detect_loss(t, c));
	if (sb->lost == 0)
		return;
	if (!(c->flags & TF_RECOVERY)) {
		enter_recovery(t, c);
		prr(c, 0);
	}
	dl_tcp_want_output(t, c);
}

/* ------------------------------------------------------------------------ */
/* tail loss probes (RFC 8985 7)                                             */
/* ------------------------------------------------------------------------ */

void dl_tcp_tlp_fire(struct dl_tcp *t, struct dl_tcb *c)
{
	uint64_t now = t->s->now;

	c->flags &= ~TF_PTO;
	if (c->snd_una == c->snd_max)
		return;
	if (c->snd_max - c->snd_una <= c->mss)
		c->fl2 |= TF2_TLP_ONE; /* the timeout had the delayed-ACK allowance */
	else
		c->fl2 &= (uint8_t)~TF2_TLP_ONE;
	if (!(c->flags & TF_TLP_NEED_RTT) && dl_tcp_tlp_allowed(t, c)) {
		if (dl_tcp_send_new(t, c, c->mss) > 0) {
			c->flags &= ~TF_TLP_REXMIT;
			t->cnt[TCP_TLP_NEW_DATA]++;
		} else {
			uint32_t fin = (c->flags & TF_FIN_SENT) ? 1u : 0u;
			uint32_t data = c->snd_max - c->snd_una - fin;
			uint32_t n = min_u32(data, c->mss);
			/* A scoreboard records the probe's send time: when its
			 * SACK comes back, RACK knows what was sent before it.
			 * The timer ran a PTO after the last transmission, so
			 * all in flight is at least that old. */
			if (c->sb == NULL)
				dl_tcp_sb_start(t, c, dl_tcp_pto(t, c));
			if (dl_tcp_retransmit_range(t, c, c->snd_max - fin - n, c->snd_max) == 0)
				goto rearm;
			c->flags |= TF_TLP_REXMIT;
		}
		c->flags |= TF_TLP_OUT | TF_TLP_NEED_RTT;
		c->tlp_end = c->snd_max;
		t->cnt[TCP_TLP_PROBES]++;
	}
rearm:
	dl_tcp_set_rtx(t, c, now + dl_tcp_rto_backed_off(t, c));
}

void dl_tcp_tlp_ack(struct dl_tcp *t, struct dl_tcb *c, uint32_t ack, const struct dl_tcp_sack_in *si,
		    bool dupack)
{
	if (!(c->flags & TF_TLP_OUT) || !seq_ge(ack, c->tlp_end))
		return;
	if (!(c->flags & TF_TLP_REXMIT)) {
		c->flags &= ~TF_TLP_OUT; /* new data: delivered */
	} else if (si != NULL && si->dsack && si->dsack_e == c->tlp_end) {
		c->flags &= ~TF_TLP_OUT; /* the probe was needless */
		t->cnt[TCP_TLP_SPURIOUS]++;
		if ((c->fl2 & TF2_TLP_ONE) && c->tlp_dack_up < 3) {
			c->tlp_dack_up++; /* the peer delays its ACKs: wait longer */
			t->cnt[TCP_TLP_DELACK_RAISED]++;
		}
	} else if (seq_gt(ack, c->tlp_end)) {
		/* Only the probe can have filled the tail: a loss, repaired;
		 * one congestion response (RFC 8985 7.4). */
		c->flags &= ~TF_TLP_OUT;
		t->cnt[TCP_TLP_RECOVERED]++;
		c->ssthresh = dl_tcp_loss_ssthresh(t, c);
		c->cwnd = max_u32(c->ssthresh, c->mss);
	} else if (dupack && (si == NULL || (!si->dsack && si->n == 0))) {
		c->flags &= ~TF_TLP_OUT; /* original and probe both arrived */
	}
}

/* ------------------------------------------------------------------------ */
/* SACK blocks we report                                                    */
/* ------------------------------------------------------------------------ */

void dl_tcp_rsack_add(struct dl_tcb *c, uint32_t s, uint32_t e)
{
	unsigned n = 0;
	uint32_t keep[DL_TCP_MAX_SACK][2];

	/* The new run covers every block it touches: keep the others. */
	for (unsigned k = 0; k < c->nrsack; k++)
		if (seq_lt(c->rsack[k][1], s) || seq_gt(c->rsack[k][0], e)) {
			keep[n][0] = c->rsack[k][0];
			keep[n][1] = c->rsack[k][1];
			n++;
		}
	c->rsack[0][0] = s;
	c->rsack[0][1] = e;
	if (n > DL_TCP_MAX_SACK - 1)
		n = DL_TCP_MAX_SACK - 1;
	memcpy(&c->rsack[1], keep, n * sizeof(keep[0]));
	c->nrsack = (uint8_t)(n + 1);
}

void dl_tcp_rsack_trim(struct dl_tcb *c)
{
	unsigned n = 0;

	for (unsigned k = 0; k < c->nrsack; k++)
		if (seq_gt(c->rsack[k][1], c->rcv_nxt)) {
			c->rsack[n][0] = seq_max(c->rsack[k][0], c->rcv_nxt);
			c->rsack[n][1] = c->rsack[k][1];
			n++;
		}
	c->nrsack = (uint8_t)n;
}

void dl_tcp_dsack_note(struct dl_tcb *c, uint32_t s, uint32_t e)
{
	if (!(c->flags & TF_SACK) || !seq_lt(s, e))
		return;
	c->dsack[0] = s;
	c->dsack[1] = e;
	c->flags |= TF_DSACK;
}

unsigned dl_tcp_sack_blocks(struct dl_tcp *t, struct dl_tcb *c, uint32_t (*out)[2], unsigned max)
{
	unsigned n = 0;

	if (c->flags & TF_DSACK) {
		out[n][0] = c->dsack[0];
		out[n][1] = c->dsack[1];
		n++;
		c->flags &= ~TF_DSACK;
		t->cnt[TCP_TX_DSACK]++;
	}
	for (unsigned k = 0; k < c->nrsack && n < max; k++, n++) {
		out[n][0] = c->rsack[k][0];
		out[n][1] = c->rsack[k][1];
	}
	t->cnt[TCP_TX_SACK_BLOCKS] += n;
	return n;
}
