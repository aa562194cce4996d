/*
 * tcp_timer.c - a connection's timers on the core's timing wheel, and the
 * RFC 6298 retransmission timeout arithmetic.
 *
 * Every TCB has one wheel node and three deadlines (microseconds, 0 =
 * off): t_rtx (retransmission, SYN/SYN-ACK retransmission, or persist with
 * TF_PERSIST), t_delack (delayed ACK) and t_idle (keepalive in
 * ESTABLISHED/CLOSE_WAIT, 2*MSL in TIME_WAIT, the FIN_WAIT_2 limit after
 * close). The node is armed for the earliest of them. Deadlines are lazy:
 * moving one later (the RTO restart on every ACK) or clearing it only
 * writes the field; the node fires at the old time, finds nothing due and
 * re-arms for what is left. Only a deadline earlier than the node's moves
 * the node (O(1) on the wheel). An idle connection has no node armed.
 * t_rtx is also the tail loss probe timeout (TF_PTO, RFC 8985 7); a
 * recovering connection's scoreboard adds the RACK reordering timer
 * (sb->t_reo). A paced connection whose output waits for its next
 * departure (TF2_PACE_WAIT, tcp_out.c) has the node armed for pace_next
 * too.
 */
#include "dl_tcp_cc.h"

#include <errno.h>
#include <stddef.h>

/* RFC 6298 2.2-2.4 with the BSD fixed-point scaling (srtt * 8, rttvar * 4);
 * with `per` samples per round trip, RFC 7323 appendix G: the gains 1/8
 * and 1/4 become 1/(8 per) and 1/(4 per). */
void dl_tcp_rtt_sample(struct dl_tcp *t, struct dl_tcb *c, uint32_t r, uint32_t per)
{
	uint32_t g = 1u << DL_TCP_TICK_SHIFT; /* clock granularity G */
	uint32_t tick = dl_tcp_ts_now(t);
	uint64_t rto;

	if (r == 0)
		r = 1;
	if (r > t->p.rto_max_us)
		r = t->p.rto_max_us;
	if (per == 0)
		per = 1;
	if (c->srtt8 == 0) {
		c->srtt8 = r << 3;
		c->rttvar4 = r << 1; /* RTTVAR = R/2 */
	} else {
		int64_t delta = (int64_t)r - (int64_t)(c->srtt8 >> 3);
		int64_t adelta = delta < 0 ? -delta : delta;
		/* SRTT += (R - SRTT) / (8 per); RTTVAR += (|SRTT - R| - RTTVAR) / (4 per) */
		c->srtt8 = (uint32_t)((int64_t)c->srtt8 + delta / (int64_t)per);
		c->rttvar4 = (uint32_t)((int64_t)c->rttvar4 +
					((adelta - (int64_t)(c->rttvar4 >> 2)) / (int64_t)per));
	}
	rto = (uint64_t)(c->srtt8 >> 3) + max_u32(g, c->rttvar4);
	if (rto < t->p.rto_min_us)
		rto = t->p.rto_min_us;
	if (rto > t->p.rto_max_us)
		rto = t->p.rto_max_us;
	c->rto = (uint32_t)rto;
	/* Minimum RTT over 5 minutes of samples (RACK's min_RTT, CUBIC). */
	if (c->min_rtt == 0 || r <= c->min_rtt ||
	    tick - c->min_rtt_stamp > (300000000u >> DL_TCP_TS_SHIFT)) {
		c->min_rtt = r;
		c->min_rtt_stamp = tick;
	}
	c->flags &= ~TF_TLP_NEED_RTT;
	if (dl_tcp_cc(c)->rtt_sample != NULL)
		dl_tcp_cc(c)->rtt_sample(t, c, r);
	t->cnt[TCP_RTT_SAMPLES]++;
}

void dl_tcp_rtt_forget(struct dl_tcb *c, uint32_t s, uint32_t e)
{
	unsigned n = 0;

	for (unsigned k = 0; k < c->rtp_n; k++)
		if (!(seq_ge(c->rtp_seq[k], s) && seq_lt(c->rtp_seq[k], e))) {
			c->rtp_seq[n] = c->rtp_seq[k];
			c->rtp_t[n] = c->rtp_t[k];
			n++;
		}
	c->rtp_n = (uint8_t)n;
}

void dl_tcp_enter_time_wait(struct dl_tcp *t, struct dl_tcb *c)
{
	c->state = DL_TCP_TIME_WAIT;
	c->t_rtx = 0;
	dl_tcp_sb_drop(t, c);
	c->rtp_n = 0;
	c->flags &= ~(TF_PERSIST | TF_RECOVERY | TF_LOSS | TF_PTO | TF_TLP_OUT);
	dl_tcp_set_idle(t, c, t->s->now + 2ull * t->p.msl_us);
	if (c->flags & TF_APP_CLOSED)
		dl_tcp_defer(t, c, TF_DETACH);
}

static void syn_timeout(struct dl_tcp *t, struct dl_tcb *c)
{
	if (c->backoff >= t->p.syn_retries) {
		if (c->state == DL_TCP_SYN_SENT || (c->flags & TF_ACTIVE)) {
			t->cnt[TCP_SYN_TIMEOUT]++;
			/* RFC 1122 4.2.3.9: an ICMP soft error seen meanwhile
			 * says more than "timed out". */
			dl_tcp_reset_conn(t, c, DL_CLOSE_TIMEOUT, c->soft_err ? c->soft_err : ETIMEDOUT);
		} else {
			t->cnt[TCP_SYNRCVD_EXPIRED]++;
			dl_tcp_close_now(t, c);
		}
		return;
	}
	c->backoff++;
	c->flags |= TF_SYN_REXMIT;
	c->snd_nxt = c->iss;
	t->cnt[TCP_TX_SYN_REXMIT]++;
	dl_tcp_want_output(t, c);
}

static void persist_timeout(struct dl_tcp *t, struct dl_tcb *c)
{
	/* A probe byte still in flight is probed again, even when it was the
	 * last byte queued (nothing unsent): else it waits with no timer. */
	if (c->snd_wnd != 0 || (tcb_unsent(c) == 0 && c->snd_nxt == c->snd_una)) {
		c->flags &= ~TF_PERSIST;
		if (c->snd_max != c->snd_una)
			dl_tcp_set_rtx(t, c, t->s->now + dl_tcp_rto_backed_off(t, c));
		dl_tcp_want_output(t, c);
		return;
	}
	if (c->ka_probes >= t->p.max_retries) {
		/* Probes went unanswered: the peer is gone. */
		t->cnt[TCP_CONN_TIMEOUT]++;
		dl_tcp_send_rst_conn(t, c);
		dl_tcp_reset_conn(t, c, DL_CLOSE_TIMEOUT, ETIMEDOUT);
		return;
	}
	c->ka_probes++;
	if (c->snd_nxt != c->snd_una) { /* the last probe byte: send it again */
		c->snd_nxt = c->snd_una;
		c->sq_cur = c->sq_head;
	}
	dl_tcp_send_probe(t, c);
	if (c->backoff < 31)
		c->backoff++;
	dl_tcp_set_rtx(t, c, t->s->now + dl_tcp_rto_backed_off(t, c));
}

/* RFC 6298 5.4-5.7 and RFC 5681 3.1: back off, shrink cwnd, resend from
 * SND.UNA: with a scoreboard, everything not SACKed is lost and goes
 * again in order (RFC 6675 5.1); without one, go back N. */
static void rto_timeout(struct dl_tcp *t, struct dl_tcb *c)
{
	if (c->snd_una == c->snd_max)
		return; /* everything was acknowledged meanwhile */
	if (c->backoff >= t->p.max_retries) {
		t->cnt[TCP_CONN_TIMEOUT]++;
		dl_tcp_send_rst_conn(t, c);
		dl_tcp_reset_conn(t, c, DL_CLOSE_TIMEOUT, ETIMEDOUT);
		return;
	}
	t->cnt[TCP_RTO]++;
	if (c->flags & TF_TLP_OUT)
		t->cnt[TCP_RTO_AFTER_TLP]++;
	/* RFC 5681 3.1 (4): a segment already resent by the timer does not
	 * halve ssthresh again. */
	if (c->backoff == 0)
		c->ssthresh = dl_tcp_cc(c)->ssthresh(t, c);
	c->backoff++;
	c->cwnd = c->mss;
	c->bytes_acked = 0;
	c->recover = c->snd_max;
	c->dupacks = 0;
	c->rtp_n = 0; /* Karn */
	c->flags &= ~(TF_RECOVERY | TF_LOSS | TF_TLP_OUT | TF_TLP_REXMIT | TF_PTO);
	if ((c->flags & TF_SACK) && (c->sb != NULL || dl_tcp_sb_start(t, c, 1))) {
		/* SACKs still count unless the peer reneged: SND.UNA itself
		 * SACKed (a receiver holding it would have ACKed it), or a
		 * second timeout for the same data (RFC 2018 8). */
		bool reneged = c->sb->n > 0 && (c->sb->r[0].fl & SB_SACKED);
		if (reneged)
			t->cnt[TCP_SACK_RENEGING]++;
		dl_tcp_sb_mark_all_lost(t, c, reneged || c->backoff >= 2);
		c->sb->t_reo = 0;
		c->flags |= TF_RECOVERY | TF_LOSS;
	} else {
		dl_tcp_sb_drop(t, c);
		c->snd_nxt = c->snd_una;
		c->sq_cur = c->sq_head;
	}
	dl_tcp_want_output(t, c);
}

static void rtx_timeout(struct dl_tcp *t, struct dl_tcb *c)
{
	switch (c->state) {
	case DL_TCP_SYN_SENT:
	case DL_TCP_SYN_RCVD:
		syn_timeout(t, c);
		return;
	case DL_TCP_TIME_WAIT:
		return;
	default:
		break;
	}
	if (c->flags & TF_PERSIST)
		persist_timeout(t, c);
	else if (c->flags & TF_PTO)
		dl_tcp_tlp_fire(t, c);
	else
		rto_timeout(t, c);
}

static void idle_timeout(struct dl_tcp *t, struct dl_tcb *c)
{
	uint64_t now = t->s->now;

	switch (c->state) {
	case DL_TCP_TIME_WAIT:
		t->cnt[TCP_TW_EXPIRED]++;
		dl_tcp_close_now(t, c);
		return;
	case DL_TCP_FIN_WAIT_2:
		if (c->flags & TF_APP_CLOSED) {
			t->cnt[TCP_FW2_TIMEOUT]++;
			dl_tcp_close_now(t, c);
		}
		return;
	case DL_TCP_ESTABLISHED:
	case DL_TCP_CLOSE_WAIT:
		break;
	default:
		return;
	}
	if (t->p.keepalive_us == 0)
		return;
	if (c->snd_max != c->snd_una || tcb_unsent(c) > 0) {
		/* Busy: the retransmission timer watches the peer. */
		dl_tcp_set_idle(t, c, now + t->p.keepalive_us);
		return;
	}
	if (c->ka_probes >= t->p.keepalive_probes) {
		t->cnt[TCP_CONN_KA_TIMEOUT]++;
		dl_tcp_send_rst_conn(t, c);
		dl_tcp_reset_conn(t, c, DL_CLOSE_TIMEOUT, ETIMEDOUT);
		return;
	}
	c->ka_probes++;
	dl_tcp_send_keepalive(t, c);
	dl_tcp_set_idle(t, c, now + t->p.keepalive_intvl_us);
}

void dl_tcp_timer_fire(struct dl_wheel *w, struct dl_wheel_node *n, void *arg)
{
	struct dl_tcp *t = arg;
	struct dl_tcb *c = (struct dl_tcb *)((char *)n - offsetof(struct dl_tcb, tn));
	uint64_t now = t->s->now, next = UINT64_MAX;

	(void)w;
	if (c->t_rtx != 0 && c->t_rtx <= now) {
		c->t_rtx = 0;
		rtx_timeout(t, c);
		if (c->state == DL_TCP_CLOSED)
			return;
	}
	if (c->sb != NULL && c->sb->t_reo != 0 && c->sb->t_reo <= now) {
		dl_tcp_rack_timeout(t, c);
		if (c->state == DL_TCP_CLOSED)
			return;
	}
	if (c->t_delack != 0 && c->t_delack <= now) {
		c->t_delack = 0;
		if (c->rcv_nxt != c->last_ack_sent) {
			t->cnt[TCP_TX_DELACK]++;
			c->flags |= TF_ACKNOW;
			dl_tcp_want_output(t, c);
		}
	}
	if (c->t_idle != 0 && c->t_idle <= now) {
		c->t_idle = 0;
		idle_timeout(t, c);
		if (c->state == DL_TCP_CLOSED)
			return;
	}
	if ((c->fl2 & TF2_PACE_WAIT) && (int32_t)((uint32_t)now - c->pace_next) >= 0) {
		c->fl2 &= (uint8_t)~TF2_PACE_WAIT;
		dl_tcp_want_output(t, c);
	}
	if (c->t_rtx != 0 && c->t_rtx < next)
		next = c->t_rtx;
	if (c->t_delack != 0 && c->t_delack < next)
		next = c->t_delack;
	if (c->t_idle != 0 && c->t_idle < next)
		next = c->t_idle;
	if (c->sb != NULL && c->sb->t_reo != 0 && c->sb->t_reo < next)
		next = c->sb->t_reo;
	if (c->fl2 & TF2_PACE_WAIT) {
		uint64_t p = now + (uint32_t)(c->pace_next - (uint32_t)now);
		if (p < next)
			next = p;
	}
	if (next != UINT64_MAX)
		dl_tcp_timer_arm(t, c, next);
}
