/*
 * tcp_in.c - TCP segment arrival (RFC 9293 3.10.7), with the RFC 5961
 * (challenge ACKs), RFC 7323 (timestamps, PAWS), RFC 5681/6582 (duplicate
 * ACKs, NewReno) and RFC 6298 (RTT sampling, Karn) rules, and the zero-copy
 * receive queues.
 *
 * Flow of one segment: validate (dl_tcp_parse, checksum, ports), find the
 * connection by 4-tuple, then
 *   - no connection: listener -> SYN_RCVD (listen_syn) or RST (closed port);
 *   - SYN_SENT: syn_sent();
 *   - otherwise conn_input(): timestamps/PAWS, sequence acceptability and
 *     trimming, RST, SYN, ACK (ack_process: cumulative ACK, congestion
 *     control, send window), text (data_input: in order -> held and
 *     delivered; out of order -> held sorted), FIN.
 *
 * Payload is never copied: the RX buffer is held, described by a
 * struct dl_tcp_rxb written into the buffer's own scratch area, and linked
 * into the connection's in-order or out-of-order list. What is not held is
 * freed when the segment is done. Transmission is not done here: input
 * sets TF_ACKNOW/TF_OUTPUT and tcp_output() runs at the flush, except the
 * RFC 5681 "every second full-sized segment" ACK, which goes out at once.
 */
#include "dl_tcp_cc.h"
#include "dl_siphash.h"

#include <errno.h>
#include <string.h>

/** A segment being processed: the parsed header plus the payload window
 *  still to be handled (trimmed as the checks go). */
struct seg {
	struct dl_tcp_hdr h;
	uint32_t src;	     /**< remote address, host order */
	const uint8_t *data; /**< payload still to handle */
	uint32_t seq;	     /**< sequence number of data[0] */
	uint32_t len;	     /**< payload bytes left */
	uint32_t plen;	     /**< original payload length */
	uint32_t end;	     /**< sequence number just after the payload (the FIN's) */
	bool fin;	     /**< FIN still to handle */
	bool held;	     /**< the buffer now belongs to a receive queue */
	uint8_t tos;	     /**< the IPv4 type of service (its ECN field: DL_IP_CE) */
	struct dl_rx_pkt *pkt;
};

static void want_ack(struct dl_tcp *t, struct dl_tcb *c)
{
	c->flags |= TF_ACKNOW;
	dl_tcp_want_output(t, c);
}

static void challenge_ack(struct dl_tcp *t, struct dl_tcb *c)
{
	if (dl_tcp_challenge_ok(t))
		want_ack(t, c);
}

static bool gone(const struct dl_tcb *c)
{
	return c->state == DL_TCP_CLOSED;
}

/* RFC 9293 CLOSED-state reply: <SEQ=SEG.ACK><CTL=RST> or
 * <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>. */
static void rst_reply(struct dl_tcp *t, const struct seg *sg)
{
	const struct dl_tcp_hdr *h = &sg->h;

	if (h->flags & DL_TCP_ACK) {
		dl_tcp_send_rst(t, sg->src, h->dport, h->sport, h->ack, 0, DL_TCP_RST);
	} else {
		uint32_t seglen = sg->plen + !!(h->flags & DL_TCP_SYN) + !!(h->flags & DL_TCP_FIN);
		dl_tcp_send_rst(t, sg->src, h->dport, h->sport, 0, h->seq + seglen,
				DL_TCP_RST | DL_TCP_ACK);
	}
}

/* ------------------------------------------------------------------------ */
/* connection set-up                                                        */
/* ------------------------------------------------------------------------ */

static void set_mss(struct dl_tcp *t, struct dl_tcb *c, uint32_t peer_mss)
{
	uint32_t m = min_u32(peer_mss, t->rcv_mss);
	uint16_t tso_max = t->s->nic->tso_max, pmtu = dl_tcp_pmtu_get(t, c->rip);

	if (pmtu != 0) /* a frag-needed lowered the path MTU (RFC 1191) */
		m = min_u32(m, pmtu - 40u);
	if (m < 64)
		m = 64; /* refuse to be made to send tiny segments */
	if (c->flags & TF_TS)
		m -= 12;
	c->mss = (uint16_t)m;
	c->tso_segs = 0;
	if (t->p.tso && tso_max > 2 * m)
		c->tso_segs = (uint8_t)min_u32(tso_max / m, 255);
}

/* A SYN asking for ECN (RFC 3168 6.1.1: ECE and CWR), which we accept. */
static bool syn_ecn_ok(const struct dl_tcp *t, const struct dl_tcp_hdr *h)
{
	return t->p.ecn != DL_TCP_ECN_OFF &&
	       (h->flags & (DL_TCP_ECE | DL_TCP_CWR)) == (DL_TCP_ECE | DL_TCP_CWR);
}

/* Options of a SYN or SYN-ACK: what both sides agreed on. */
static void negotiate(struct dl_tcp *t, struct dl_tcb *c, const struct dl_tcp_hdr *h)
{
	if (h->opts & DL_TCP_OPT_WS) {
		c->flags |= TF_WS;
		c->snd_ws = h->wscale;
		c->rcv_ws = t->p.wscale;
	} else {
		c->snd_ws = 0;
		c->rcv_ws = 0;
	}
	if ((h->opts & DL_TCP_OPT_TS) && t->p.timestamps) {
		c->flags |= TF_TS;
		c->ts_recent = h->tsval;
		c->ts_recent_age = dl_tcp_ts_now(t);
	}
	if ((h->opts & DL_TCP_OPT_SACKOK) && t->p.sack)
		c->flags |= TF_SACK;
	/* ECN (RFC 3168 6.1.1): a SYN asks with ECE and CWR, a SYN-ACK
	 * agrees with ECE alone, to a SYN that asked. */
	c->ecn = 0;
	if (!(h->flags & DL_TCP_ACK)) {
		if (syn_ecn_ok(t, h))
			c->ecn = ECN_OK;
	} else if (t->p.ecn == DL_TCP_ECN_ON && !(c->flags & TF_SYN_REXMIT) &&
		   (h->flags & (DL_TCP_ECE | DL_TCP_CWR)) == DL_TCP_ECE) {
		c->ecn = ECN_OK;
	}
	set_mss(t, c, (h->opts & DL_TCP_OPT_MSS) ? h->mss : 536);
}

void dl_tcp_init_cc(struct dl_tcp *t, struct dl_tcb *c)
{
	uint32_t n = t->p.init_cwnd_segs, mss = c->mss;

	/* RFC 6928: IW = min(10*MSS, max(2*MSS, 14600)); one segment after a
	 * lost SYN or SYN-ACK (RFC 5681 3.1). */
	if (c->flags & TF_SYN_REXMIT)
		c->cwnd = mss;
	else
		c->cwnd = min_u32(n * mss, max_u32(2 * mss, n * 1460));
	c->ssthresh = DL_TCP_SSTHRESH_INIT;
	c->recover = c->snd_una;
	c->bytes_acked = 0;
	c->cc = t->p.cc;
	c->reo_mult = 1;
	c->snd_last = 0;
	c->fl2 &= (uint8_t)~(TF2_PACED | TF2_PACE_WAIT);
	if (t->p.pacing == DL_TCP_PACING_ALL ||
	    (t->p.pacing == DL_TCP_PACING_BBR && c->cc == DL_TCP_CC_BBR)) {
		c->fl2 |= TF2_PACED;
		c->pace_next = (uint32_t)t->s->now;
	}
	dl_tcp_cc(c)->init(t, c);
}

static void establish(struct dl_tcp *t, struct dl_tcb *c)
{
	c->state = DL_TCP_ESTABLISHED;
	t->cnt[TCP_CONN_ESTAB]++;
	dl_tcp_init_cc(t, c);
	t->cnt[c->cc == DL_TCP_CC_CUBIC ? TCP_CC_CUBIC
	       : c->cc == DL_TCP_CC_BBR ? TCP_CC_BBR
					: TCP_CC_NEWRENO]++;
	if (c->fl2 & TF2_PACED)
		t->cnt[TCP_PACED_CONNS]++;
	if (c->flags & TF_SACK)
		t->cnt[TCP_SACK_CONNS]++;
	if (c->ecn & ECN_OK)
		t->cnt[TCP_ECN_CONNS]++;
	c->backoff = 0;
	if (c->flags & TF_SHUT_WR)
		c->state = DL_TCP_FIN_WAIT_1;
	if (t->p.keepalive_us != 0)
		dl_tcp_set_idle(t, c, t->s->now + t->p.keepalive_us);
	if (c->flags & TF_LISTENER) {
		struct dl_tcp_listener *l = &t->lst[c->lst - 1];
		l->n_syn--;
		l->n_acc++;
	}
	if (c->flags & TF_ACTIVE)
		dl_tcp_up_connected(t, c);
	else
		dl_tcp_up_new_conn(t, c);
}

/*
 * A passive connection in SYN_RCVD for listener @p l: the peer's ISN @p irs,
 * ours @p iss, nothing sent yet. NULL (counted) when the table is full.
 */
static struct dl_tcb *passive_tcb(struct dl_tcp *t, struct dl_tcp_listener *l, const struct seg *sg,
				  uint32_t irs, uint32_t iss, uint32_t ts_off)
{
	const struct dl_tcp_hdr *h = &sg->h;
	struct dl_tcb *c = dl_tcp_tcb_new(t);

	if (c == NULL) {
		t->cnt[TCP_DROP_CONN_TABLE]++;
		return NULL;
	}
	c->rip = sg->src;
	c->lport = h->dport;
	c->rport = h->sport;
	c->state = DL_TCP_SYN_RCVD;
	c->flags = TF_LISTENER;
	c->lst = (uint16_t)(l - t->lst + 1);
	l->n_syn++;
	c->irs = irs;
	c->rcv_nxt = irs + 1;
	c->rcv_adv = c->rcv_edge = c->rcv_nxt;
	c->last_ack_sent = c->rcv_nxt;
	c->iss = iss;
	c->ts_off = ts_off;
	c->snd_una = c->snd_nxt = c->snd_max = iss;
	c->sq_seq = iss + 1;
	c->recover = iss;
	c->snd_wnd = h->wnd; /* never scaled in a SYN; nor without window scaling */
	c->max_snd_wnd = c->snd_wnd;
	c->snd_wl1 = irs;
	c->snd_wl2 = iss;
	c->rto = t->p.rto_init_us;
	dl_tcp_hash_insert(t, c);
	t->cnt[TCP_CONN_PASSIVE]++;
	return c;
}

/* ---- SYN cookies (RFC 4987 3.6; see dl_tcp.h) ---- */

static const uint16_t cookie_mss[] = {536, 1220, 1440, 1460, 4312, 8960};
#define COOKIE_NMSS (sizeof(cookie_mss) / sizeof(cookie_mss[0]))

uint32_t dl_tcp_cookie_slot(const struct dl_tcp *t)
{
	return (uint32_t)(t->s->now >> DL_TCP_COOKIE_SLOT_SHIFT);
}

static uint32_t cookie_mac(const struct dl_tcp *t, uint32_t rip, uint16_t lport, uint16_t rport,
			   uint32_t irs, uint32_t slot, unsigned idx, unsigned opts)
{
	uint8_t m[23]; /* not 12 bytes long: never the ISN's hash input */

	dl_put32(m, t->s->cfg.ip);
	dl_put32(m + 4, rip);
	dl_put16(m + 8, lport);
	dl_put16(m + 10, rport);
	dl_put32(m + 12, irs);
	dl_put32(m + 16, slot);
	m[20] = (uint8_t)idx;
	m[21] = (uint8_t)opts;
	m[22] = 'C';
	return (uint32_t)dl_siphash24(t->p.isn_key, m, sizeof(m)) & (DL_TCP_COOKIE_TS_BIT - 1);
}

uint32_t dl_tcp_cookie(const struct dl_tcp *t, uint32_t rip, uint16_t lport, uint16_t rport,
		       uint32_t irs, uint16_t peer_mss, unsigned opts)
{
	uint32_t slot = dl_tcp_cookie_slot(t);
	unsigned idx = 0;

	while (idx + 1 < COOKIE_NMSS && cookie_mss[idx + 1] <= peer_mss)
		idx++;
	return (slot & 31) << 27 | (uint32_t)idx << 24 |
	       (opts == DL_TCP_COOKIE_NO_TS ? 0 : DL_TCP_COOKIE_TS_BIT) |
	       cookie_mac(t, rip, lport, rport, irs, slot, idx, opts);
}

uint16_t dl_tcp_cookie_check(const struct dl_tcp *t, uint32_t rip, uint16_t lport, uint16_t rport,
			     uint32_t irs, uint32_t cookie, unsigned opts)
{
	uint32_t now = dl_tcp_cookie_slot(t);
	unsigned idx = (cookie >> 24) & 7;

	if (idx >= COOKIE_NMSS || !(cookie & DL_TCP_COOKIE_TS_BIT) != (opts == DL_TCP_COOKIE_NO_TS))
		return 0;
	for (uint32_t age = 0; age < 2; age++) {
		uint32_t slot = now - age;

		if ((slot & 31) == cookie >> 27 &&
		    cookie_mac(t, rip, lport, rport, irs, slot, idx, opts) ==
			(cookie & (DL_TCP_COOKIE_TS_BIT - 1)))
			return cookie_mss[idx];
	}
	return 0;
}

/* The options a cookie keeps for a SYN (see dl_tcp.h): what negotiate()
 * would agree to, in 6 bits, or DL_TCP_COOKIE_NO_TS. */
static unsigned cookie_opts(const struct dl_tcp *t, const struct dl_tcp_hdr *h)
{
	unsigned o;

	if (!(h->opts & DL_TCP_OPT_TS) || !t->p.timestamps)
		return DL_TCP_COOKIE_NO_TS;
	o = (h->opts & DL_TCP_OPT_WS) ? h->wscale : DL_TCP_COOKIE_WS_NONE;
	if ((h->opts & DL_TCP_OPT_SACKOK) && t->p.sack)
		o |= DL_TCP_COOKIE_SACK;
	if (syn_ecn_ok(t, h))
		o |= DL_TCP_COOKIE_ECN;
	return o;
}

/* SYN backlog full: answer with a cookie and keep nothing. */
static void cookie_syn(struct dl_tcp *t, struct dl_tcp_listener *l, const struct seg *sg)
{
	const struct dl_tcp_hdr *h = &sg->h;
	uint16_t mss = (h->opts & DL_TCP_OPT_MSS) ? h->mss : 536;
	unsigned opts = cookie_opts(t, h);

	dl_tcp_send_synack_cookie(t, sg->src, h->dport, h->sport,
				  dl_tcp_cookie(t, sg->src, h->dport, h->sport, h->seq, mss, opts),
				  h->seq + 1, opts, h->tsval);
	l->cookie_slot = dl_tcp_cookie_slot(t) + 1;
}

/* A cookie connection's options, as its SYN-ACK sent them (opts). */
static void cookie_negotiated(struct dl_tcp *t, struct dl_tcb *c, struct seg *sg, unsigned opts)
{
	c->snd_ws = c->rcv_ws = 0;
	if (opts == DL_TCP_COOKIE_NO_TS)
		return;
	c->flags |= TF_TS;
	c->ts_recent = sg->h.tsval;
	c->ts_recent_age = dl_tcp_ts_now(t);
	(void)dl_tcp_isn(t, c->rip, c->lport, c->rport, &c->ts_off);
	/* The echo is of a TSval made up to 63 ticks old: no RTT sample. */
	sg->h.tsecr = 0;
	if ((opts & DL_TCP_COOKIE_WS_NONE) != DL_TCP_COOKIE_WS_NONE) {
		c->flags |= TF_WS;
		c->snd_ws = (uint8_t)(opts & DL_TCP_COOKIE_WS_NONE);
		c->rcv_ws = t->p.wscale;
	}
	if (opts & DL_TCP_COOKIE_SACK)
		c->flags |= TF_SACK;
	if (opts & DL_TCP_COOKIE_ECN)
		c->ecn = ECN_OK;
	t->cnt[TCP_SYNCOOKIE_TS]++;
}

static void conn_input(struct dl_tcp *t, struct dl_tcb *c, struct seg *sg);

/*
 * An ACK for a listening port: if the listener sent cookies lately and the
 * ACK returns a valid one, the connection it stands for, in SYN_RCVD, then
 * the segment processed as usual (it may carry data). @return false when
 * it is no cookie of ours (the caller answers with a RST).
 */
static bool cookie_ack(struct dl_tcp *t, struct dl_tcp_listener *l, struct seg *sg)
{
	const struct dl_tcp_hdr *h = &sg->h;
	uint32_t irs = h->seq - 1, iss = h->ack - 1;
	unsigned opts = DL_TCP_COOKIE_NO_TS;
	struct dl_tcb *c;
	uint16_t mss;

	if (!t->p.syn_cookies || l->cookie_slot == 0 ||
	    dl_tcp_cookie_slot(t) - (l->cookie_slot - 1) > 1)
		return false;
	if (iss & DL_TCP_COOKIE_TS_BIT) {
		/* Its SYN-ACK had a timestamp: the options are in the echo.
		 * Without one the segment cannot be checked (RFC 7323 3.2:
		 * dropped, not answered). */
		if (!(h->opts & DL_TCP_OPT_TS)) {
			t->cnt[TCP_DROP_NO_TS]++;
			return true;
		}
		opts = h->tsecr & DL_TCP_COOKIE_OPT_MASK;
	}
	mss = dl_tcp_cookie_check(t, sg->src, h->dport, h->sport, irs, iss, opts);
	if (mss == 0) {
		t->cnt[TCP_SYNCOOKIE_FAILED]++;
		return false;
	}
	if (l->n_acc >= l->accept_max) {
		t->cnt[TCP_DROP_ACCEPT_BACKLOG]++;
		return true; /* the peer retransmits; the cookie stays valid */
	}
	c = passive_tcb(t, l, sg, irs, iss, 0);
	if (c == NULL)
		return true;
	c->snd_nxt = c->snd_max = iss + 1; /* our SYN was sent, by the cookie */
	/* What the cookie SYN-ACK advertised (dl_tcp_send_synack_cookie()). */
	c->rcv_adv = c->rcv_edge = c->rcv_nxt + min_u32(t->p.rcv_wnd, 65535);
	cookie_negotiated(t, c, sg, opts);
	set_mss(t, c, mss);
	conn_input(t, c, sg);
	if (c->state == DL_TCP_SYN_RCVD)
		dl_tcp_close_now(t, c); /* not established (accept backlog): forget it */
	else if (!gone(c))
		t->cnt[TCP_SYNCOOKIE_OK]++;
	return true;
}

/* A SYN for a listening port: a SYN_RCVD connection, SYN-ACK at flush. */
static void listen_syn(struct dl_tcp *t, struct dl_tcp_listener *l, struct seg *sg)
{
	const struct dl_tcp_hdr *h = &sg->h;
	struct dl_tcb *c;
	uint32_t iss, ts_off;

	if (l->n_syn >= t->p.syn_backlog) {
		if (t->p.syn_cookies && l->n_acc < l->accept_max) {
			cookie_syn(t, l, sg);
			return;
		}
		t->cnt[TCP_DROP_SYN_BACKLOG]++;
		return;
	}
	if (l->n_acc >= l->accept_max) {
		t->cnt[TCP_DROP_ACCEPT_BACKLOG]++;
		return;
	}
	iss = dl_tcp_isn(t, sg->src, h->dport, h->sport, &ts_off);
	c = passive_tcb(t, l, sg, h->seq, iss, ts_off);
	if (c == NULL)
		return;
	negotiate(t, c, h);
	if (sg->plen > 0)
		t->cnt[TCP_IGN_SYN_DATA]++;
	dl_tcp_want_output(t, c);
}

static void no_conn(struct dl_tcp *t, struct seg *sg)
{
	const struct dl_tcp_hdr *h = &sg->h;
	struct dl_tcp_listener *l = dl_tcp_listener_find(t, h->dport);

	if (l == NULL) {
		if (h->flags & DL_TCP_RST) {
			t->cnt[TCP_DROP_CLOSED_PORT_RST]++;
			return;
		}
		t->cnt[TCP_DROP_CLOSED_PORT]++;
		rst_reply(t, sg);
		return;
	}
	if (h->flags & DL_TCP_RST) {
		t->cnt[TCP_DROP_LISTEN_RST]++;
		return;
	}
	if (h->flags & DL_TCP_ACK) {
		if (!(h->flags & DL_TCP_SYN) && cookie_ack(t, l, sg))
			return;
		t->cnt[TCP_DROP_LISTEN_ACK]++;
		rst_reply(t, sg);
		return;
	}
	if (!(h->flags & DL_TCP_SYN)) {
		t->cnt[TCP_DROP_LISTEN_NO_SYN]++;
		return;
	}
	listen_syn(t, l, sg);
}

/* RFC 9293 3.10.7.3 SYN-SENT. */
static void syn_sent(struct dl_tcp *t, struct dl_tcb *c, struct seg *sg)
{
	const struct dl_tcp_hdr *h = &sg->h;
	bool ack = (h->flags & DL_TCP_ACK) != 0;

	if (ack && (seq_le(h->ack, c->iss) || seq_gt(h->ack, c->snd_max))) {
		if (!(h->flags & DL_TCP_RST))
			dl_tcp_send_rst(t, c->rip, c->lport, c->rport, h->ack, 0, DL_TCP_RST);
		t->cnt[TCP_DROP_SYNSENT_BAD_ACK]++;
		return;
	}
	if (h->flags & DL_TCP_RST) {
		if (!ack) {
			t->cnt[TCP_DROP_SYNSENT_BAD_RST]++;
			return;
		}
		t->cnt[TCP_CONN_RESET_RX]++;
		dl_tcp_reset_conn(t, c, DL_CLOSE_RESET, ECONNREFUSED);
		return;
	}
	if (!(h->flags & DL_TCP_SYN)) {
		t->cnt[TCP_DROP_SYNSENT_NO_SYN]++;
		return;
	}
	c->irs = h->seq;
	c->rcv_nxt = h->seq + 1;
	c->rcv_adv = c->rcv_edge = c->rcv_nxt;
	negotiate(t, c, h);
	c->snd_wnd = h->wnd;
	c->max_snd_wnd = c->snd_wnd;
	c->snd_wl1 = h->seq;
	if (sg->plen > 0)
		t->cnt[TCP_IGN_SYN_DATA]++;
	if (!ack) {
		/* Simultaneous open: answer with SYN-ACK, same ISS. */
		c->state = DL_TCP_SYN_RCVD;
		c->snd_wl2 = c->iss;
		c->snd_nxt = c->iss;
		dl_tcp_want_output(t, c);
		return;
	}
	if (c->rtp_n > 0 && seq_gt(h->ack, c->rtp_seq[0]))
		dl_tcp_rtt_sample(t, c, (uint32_t)t->s->now - c->rtp_t[0], 1);
	c->rtp_n = 0;
	c->snd_wl2 = h->ack;
	c->snd_una = h->ack;
	c->t_rtx = 0;
	want_ack(t, c);
	establish(t, c);
}

/* RFC 6191: a SYN may reopen a TIME_WAIT connection if it is clearly new
 * (a later timestamp, or without timestamps a higher sequence number). */
static bool time_wait_reuse(struct dl_tcp *t, struct dl_tcb *c, const struct seg *sg)
{
	const struct dl_tcp_hdr *h = &sg->h;
	bool newer;

	if ((h->flags & (DL_TCP_SYN | DL_TCP_ACK | DL_TCP_RST)) != DL_TCP_SYN ||
	    dl_tcp_listener_find(t, h->dport) == NULL)
		return false;
	if ((c->flags & TF_TS) && (h->opts & DL_TCP_OPT_TS))
		newer = seq_gt(h->tsval, c->ts_recent);
	else
		newer = seq_gt(h->seq, c->rcv_nxt);
	if (!newer)
		return false;
	t->cnt[TCP_TW_REUSED]++;
	dl_tcp_close_now(t, c);
	return true;
}

void dl_tcp_reset_conn(struct dl_tcp *t, struct dl_tcb *c, enum dl_close_reason why, int err)
{
	bool open_failed =
	    c->state == DL_TCP_SYN_SENT || ((c->flags & TF_ACTIVE) && !(c->flags & TF_EXPOSED));

	dl_tcp_close_now(t, c);
	if (open_failed)
		dl_tcp_up_connect_failed(t, c, err);
	else
		dl_tcp_up_remote_closed(t, c, why);
}

/* ------------------------------------------------------------------------ */
/* ACK processing                                                           */
/* ------------------------------------------------------------------------ */

/* RFC 9293 3.10.7.4: SND.WND from segments newer than the last update. */
static void update_window(struct dl_tcp *t, struct dl_tcb *c, const struct seg *sg, uint32_t wnd)
{
	const struct dl_tcp_hdr *h = &sg->h;
	bool was_zero = c->snd_wnd == 0;

	if (!(seq_lt(c->snd_wl1, h->seq) || (c->snd_wl1 == h->seq && seq_le(c->snd_wl2, h->ack))))
		return;
	c->snd_wnd = wnd;
	c->snd_wl1 = h->seq;
	c->snd_wl2 = h->ack;
	if (wnd > c->max_snd_wnd)
		c->max_snd_wnd = wnd;
	if (wnd == 0) {
		if (c->sq_bytes > 0 && !(c->flags & TF_PERSIST)) {
			/* What we sent past the left edge is not kept by the
			 * peer: go back and probe the window (persist). */
			dl_tcp_sb_drop(t, c);
			c->snd_nxt = c->snd_una;
			c->sq_cur = c->sq_head;
			c->rtp_n = 0;
			c->flags = (c->flags & ~(TF_RECOVERY | TF_PTO)) | TF_PERSIST;
			dl_tcp_set_rtx(t, c, t->s->now + dl_tcp_rto_backed_off(t, c));
		}
	} else if (was_zero || (c->flags & TF_PERSIST)) {
		if ((c->flags & TF_PERSIST) && seq_gt(c->snd_nxt, c->snd_una)) {
			/* The probe byte was not taken (else this ACK covered
			 * it): send it with the rest. */
			c->snd_nxt = c->snd_una;
			c->sq_cur = c->sq_head;
		}
		c->flags &= ~(TF_PERSIST | TF_PTO);
		c->backoff = 0;
		c->t_rtx = 0;
		if (c->snd_max != c->snd_una)
			dl_tcp_set_rtx(t, c, t->s->now + c->rto);
		dl_tcp_want_output(t, c);
	}
}

/* RFC 5681 duplicate ACK; RFC 6582 fast retransmit / recovery entry
 * (connections without a scoreboard). */
static void dupack(struct dl_tcp *t, struct dl_tcb *c)
{
	if ((c->flags & TF_PERSIST) || c->snd_wnd == 0)
		return;
	t->cnt[TCP_RX_DUPACK]++;
	if (c->dupacks < 255)
		c->dupacks++;
	if (c->flags & TF_RECOVERY) {
		c->cwnd += c->mss; /* inflate: a segment left the network */
		dl_tcp_want_output(t, c);
		return;
	}
	if (c->dupacks < 3) {
		dl_tcp_want_output(t, c); /* limited transmit (RFC 3042) */
		return;
	}
	/* RFC 6582 3.2 (2): not again for losses of a window a recovery
	 * already repaired; an ECN cut's window (ECN_CWR) is no recovery. */
	if (c->dupacks != 3 || (!seq_ge(c->snd_una, c->recover) && !(c->ecn & ECN_CWR)))
		return;
	c->ssthresh = dl_tcp_loss_ssthresh(t, c);
	c->ecn &= (uint8_t)~ECN_CWR; /* recover is the recovery's now */
	c->recover = c->snd_max;
	c->flags |= TF_RECOVERY;
	t->cnt[TCP_FAST_REXMIT]++;
	dl_tcp_retransmit_first(t, c);
	c->cwnd = c->ssthresh + 3u * c->mss;
	dl_tcp_want_output(t, c);
}

/* Congestion window on an ACK of new data without a scoreboard: NewReno
 * recovery (RFC 6582) or the algorithm's growth, the latter only when
 * the last output was cwnd-limited (RFC 7661). */
static void cc_on_ack(struct dl_tcp *t, struct dl_tcb *c, uint32_t acked)
{
	uint32_t mss = c->mss;

	if (c->flags & TF_RECOVERY) {
		if (seq_ge(c->snd_una, c->recover)) {
			/* Full ACK: leave recovery, deflate (RFC 6582 3.2 (3),
			 * option 1: min(ssthresh, max(FlightSize, SMSS) + SMSS)). */
			c->cwnd = min_u32(c->ssthresh, max_u32(c->snd_max - c->snd_una, mss) + mss);
			c->flags &= ~TF_RECOVERY;
			c->dupacks = 0;
			c->bytes_acked = 0;
		} else {
			/* Partial ACK: the next hole is lost too. */
			t->cnt[TCP_PARTIAL_ACK]++;
			dl_tcp_retransmit_first(t, c);
			c->cwnd = c->cwnd > acked ? c->cwnd - acked : 0;
			if (acked >= mss)
				c->cwnd += mss;
			if (c->cwnd < mss)
				c->cwnd = mss;
		}
		return;
	}
	c->dupacks = 0;
	if (c->fl2 & TF2_CWND_LIMITED)
		dl_tcp_cc(c)->cong_avoid(t, c, acked);
}

/* RTT samples of an ACK that moved SND.UNA to `ack`: the newest timed
 * segment it covers (microseconds), else the timestamp it echoes (RFC
 * 7323 4: every ACK, in 1.024 ms ticks; used from 2 ticks on, where the
 * tick is precise enough, weighted by the samples expected per RTT). */
static void rtt_samples(struct dl_tcp *t, struct dl_tcb *c, const struct dl_tcp_hdr *h,
			uint32_t ack)
{
	uint32_t now = (uint32_t)t->s->now;
	unsigned k = 0;

	while (k < c->rtp_n && seq_gt(ack, c->rtp_seq[k]))
		k++;
	if (k > 0) {
		uint32_t r = now - c->rtp_t[k - 1];
		c->rtp_n = (uint8_t)(c->rtp_n - k);
		for (unsigned j = 0; j < c->rtp_n; j++) {
			c->rtp_seq[j] = c->rtp_seq[j + k];
			c->rtp_t[j] = c->rtp_t[j + k];
		}
		dl_tcp_rtt_sample(t, c, r, 1);
		return;
	}
	if ((c->flags & TF_TS) && (h->opts & DL_TCP_OPT_TS) && h->tsecr != 0) {
		uint32_t ticks = dl_tcp_ts_now(t) + c->ts_off - h->tsecr;
		if (ticks >= 2 && ticks < (1u << 20)) {
			uint32_t per = (c->snd_max - c->snd_una) / (2u * c->mss) + 1;
			t->cnt[TCP_RTT_SAMPLES_TS]++;
			dl_tcp_rtt_sample(t, c, ticks << DL_TCP_TS_SHIFT, per);
		}
	}
}

static void ack_process(struct dl_tcp *t, struct dl_tcb *c, const struct seg *sg)
{
	const struct dl_tcp_hdr *h = &sg->h;
	uint32_t ack = h->ack;
	uint32_t wnd = (uint32_t)h->wnd << c->snd_ws;
	uint32_t old_una = c->snd_una;
	uint64_t now = t->s->now;
	uint32_t acked, data = 0, del0;
	struct dl_tcp_sack_in si = {0};
	bool fin_acked, sack_in = (c->flags & TF_SACK) && (h->opts & DL_TCP_OPT_SACK);

	if (sack_in)
		dl_tcp_sack_parse(t, c, h, &si);
	if (seq_le(ack, c->snd_una)) {
		bool dup = ack == c->snd_una && sg->plen == 0 &&
			   !(h->flags & (DL_TCP_SYN | DL_TCP_FIN)) && wnd == c->snd_wnd &&
			   c->snd_max != c->snd_una;
		del0 = tcb_delivered(c);
		if (ack == c->snd_una && (si.n > 0 || si.dsack || c->sb != NULL) &&
		    dl_tcp_sack_ack(t, c, &si, 0)) {
			if (dup)
				t->cnt[TCP_RX_DUPACK]++;
			/* SACKed data is delivered too: the algorithm's model
			 * (BBR's rounds and rate) must not wait for the hole. */
			if (dl_tcp_cc(c)->on_ack != NULL && seq_gt(tcb_delivered(c), del0))
				dl_tcp_cc(c)->on_ack(t, c, tcb_delivered(c) - del0);
		} else if (dup) {
			dupack(t, c);
		}
		if (ack == c->snd_una && (c->flags & TF_TLP_OUT))
			dl_tcp_tlp_ack(t, c, ack, sack_in ? &si : NULL, dup);
		update_window(t, c, sg, wnd);
		return;
	}
	del0 = tcb_delivered(c);
	acked = ack - c->snd_una - (c->snd_una == c->iss); /* the SYN is no byte */
	if (seq_gt(ack, c->sq_seq))
		data = min_u32(ack - c->sq_seq, c->sq_bytes);
	fin_acked = (c->flags & TF_FIN_SENT) && seq_gt(ack, tcb_fin_seq(c));
	rtt_samples(t, c, h, ack);
	c->backoff = 0;
	c->acked_batch += ack - old_una;
	c->snd_una = ack;
	if (data > 0)
		dl_tcp_sq_ack(t, c, data);
	if (seq_lt(c->snd_nxt, ack)) {
		c->snd_nxt = ack;
		c->sq_cur = c->sq_head;
	}
	if (!((sack_in || c->sb != NULL) && dl_tcp_sack_ack(t, c, &si, ack - old_una)))
		cc_on_ack(t, c, acked);
	if (dl_tcp_cc(c)->on_ack != NULL) {
		/* newly delivered: cumulatively acknowledged or SACKed, not
		 * counting again what was SACKed before and is now below SND.UNA */
		uint32_t del = tcb_delivered(c);
		dl_tcp_cc(c)->on_ack(t, c, seq_gt(del, del0) ? del - del0 : 0);
	}
	if (c->flags & TF_TLP_OUT)
		dl_tcp_tlp_ack(t, c, ack, sack_in ? &si : NULL, false);
	/* RFC 6298 5.2 / 5.3, or a new probe timeout (RFC 8985 7.2) */
	if (!(c->flags & TF_PERSIST)) {
		if (c->snd_una == c->snd_max) {
			c->t_rtx = 0;
			c->flags &= ~TF_PTO;
		} else if (dl_tcp_tlp_allowed(t, c)) {
			c->flags |= TF_PTO;
			dl_tcp_set_rtx(t, c, now + dl_tcp_pto(t, c));
		} else {
			c->flags &= ~TF_PTO;
			dl_tcp_set_rtx(t, c, now + c->rto);
		}
	}
	update_window(t, c, sg, wnd);
	if (fin_acked) {
		switch (c->state) {
		case DL_TCP_FIN_WAIT_1:
			c->state = DL_TCP_FIN_WAIT_2;
			if (c->flags & TF_APP_CLOSED)
				dl_tcp_set_idle(t, c, now + t->p.fin_wait2_us);
			break;
		case DL_TCP_CLOSING:
			dl_tcp_enter_time_wait(t, c);
			break;
		case DL_TCP_LAST_ACK:
			dl_tcp_close_now(t, c);
			break;
		default:
			break;
		}
	}
	if (dl_tcp_output_due(c))
		dl_tcp_want_output(t, c);
	if (data > 0)
		dl_tcp_up_data_acked(t, c, data);
}

/* ------------------------------------------------------------------------ */
/* receive queues                                                           */
/* ------------------------------------------------------------------------ */

/* Keep the segment's buffer: describe its payload in the scratch area. */
static struct dl_tcp_rxb *hold(struct dl_tcb *c, struct seg *sg)
{
	struct dl_tcp_rxb *b = sg->pkt->scratch;

	assert(((uintptr_t)b & 7) == 0 && sg->len <= UINT16_MAX);
	b->next = NULL;
	b->buf = sg->pkt->buf;
	b->data = sg->data;
	b->seq = sg->seq;
	b->len = (uint16_t)sg->len;
	b->region = sg->pkt->region;
	sg->held = true;
	c->rx_nbufs++;
	return b;
}

static void rx_append(struct dl_tcb *c, struct dl_tcp_rxb *b)
{
	b->next = NULL;
	if (c->rx_tail != NULL)
		c->rx_tail->next = b;
	else
		c->rx_head = b;
	c->rx_tail = b;
	c->rcv_nxt += b->len;
	c->rx_held += b->len;
}

/* A connection other than c holding more out-of-order buffers than
 * `share`: the largest of the next 16 holders from a cursor that goes
 * round the core's holders list, so a flood costs a bounded walk per
 * segment, and repeated searches spread over every holder. */
static struct dl_tcb *ooo_victim(struct dl_tcp *t, const struct dl_tcb *c, uint32_t share)
{
	struct dl_tcb *best = NULL;
	uint32_t i = t->ooo_cursor != 0 ? t->ooo_cursor : t->ooo_list;

	for (unsigned k = 0; k < 16 && k < t->ooo_conns && i != 0; k++) {
		struct dl_tcb *x = tcb_at(t, i - 1);
		if (x != c && x->ooo_segs > share && (best == NULL || x->ooo_segs > best->ooo_segs))
			best = x;
		i = x->ooo_next != 0 ? x->ooo_next : t->ooo_list;
	}
	t->ooo_cursor = i;
	return best;
}

/* Take back v's highest out-of-order buffer (RFC 2018 allows a receiver
 * to discard data it reported; the SACK blocks stop reporting it). */
static void ooo_renege_tail(struct dl_tcp *t, struct dl_tcb *v)
{
	struct dl_tcp_rxb **pp = &v->ooo_head, *b;
	unsigned n = 0;

	while ((*pp)->next != NULL)
		pp = &(*pp)->next;
	b = *pp;
	*pp = NULL;
	v->ooo_bytes -= b->len;
	if (--v->ooo_segs == 0)
		dl_tcp_ooo_holder(t, v, false);
	t->ooo_bufs--;
	v->rx_nbufs--;
	for (unsigned k = 0; k < v->nrsack; k++) {
		if (seq_ge(v->rsack[k][0], b->seq))
			continue;
		v->rsack[n][0] = v->rsack[k][0];
		v->rsack[n][1] = seq_min(v->rsack[k][1], b->seq);
		n++;
	}
	v->nrsack = (uint8_t)n;
	dl_nic_buf_free(t->s->nic, b->buf);
	t->cnt[TCP_OOO_EVICTED]++;
}

/* May c park one more out-of-order buffer? Per connection (segments,
 * bytes, buffers) and per core (ooo_core_bufs). When the core's are all
 * taken, a connection below an equal share of them (ooo_core_bufs / the
 * connections holding some) takes one from a connection above it, the
 * largest: 64 peers parking one-byte segments cannot keep a 65th
 * connection from its share. */
static bool ooo_room(struct dl_tcp *t, struct dl_tcb *c, uint32_t len)
{
	uint32_t cap = t->p.ooo_core_bufs, share;
	struct dl_tcb *v;

	if (c->ooo_segs >= t->p.ooo_max_segs || c->ooo_bytes + len > t->p.ooo_max_bytes ||
	    c->rx_nbufs >= t->rx_bufs_max) {
		t->cnt[TCP_DROP_OOO_LIMIT]++;
		return false;
	}
	if (t->ooo_bufs < cap)
		return true;
	share = cap / (t->ooo_conns + (c->ooo_segs == 0));
	if (c->ooo_segs >= share || (v = ooo_victim(t, c, share)) == NULL) {
		t->cnt[TCP_DROP_OOO_CORE]++;
		return false;
	}
	ooo_renege_tail(t, v);
	return true;
}

/* Insert an out-of-order segment, keeping the list sorted and without
 * overlap (new bytes already held are cut away), and report the run of
 * contiguous out-of-order data it joined as the first SACK block. */
static void ooo_insert(struct dl_tcp *t, struct dl_tcb *c, struct seg *sg)
{
	struct dl_tcp_rxb **pp = &c->ooo_head;
	uint32_t s = sg->seq, e = sg->seq + sg->len;
	uint32_t run_s = s, prev_end = 0;
	bool have_prev = false;

	if (!ooo_room(t, c, sg->len))
		return;
	while (*pp != NULL) {
		struct dl_tcp_rxb *n = *pp;
		uint32_t ns = n->seq, ne = n->seq + n->len;

		if (seq_le(e, ns))
			break;
		if (seq_ge(s, ns) && seq_le(e, ne)) {
			t->cnt[TCP_DROP_DUPLICATE]++;
			dl_tcp_dsack_note(c, s, e); /* nothing new (RFC 2883) */
			return;
		}
		if (seq_lt(s, ns)) {
			e = ns; /* keep the part before n */
			break;
		}
		if (!(have_prev && prev_end == ns))
			run_s = ns;
		prev_end = ne;
		have_prev = true;
		if (seq_lt(s, ne))
			s = ne; /* starts inside n: keep what follows it */
		pp = &n->next;
	}
	sg->data += s - sg->seq;
	sg->seq = s;
	sg->len = e - s;
	struct dl_tcp_rxb *b = hold(c, sg);
	b->next = *pp;
	*pp = b;
	if (c->ooo_segs++ == 0)
		dl_tcp_ooo_holder(t, c, true);
	t->ooo_bufs++;
	c->ooo_bytes += b->len;
	t->cnt[TCP_RX_OOO]++;
	if (!(have_prev && prev_end == s))
		run_s = s;
	for (struct dl_tcp_rxb *n = b->next; n != NULL && n->seq == e; n = n->next)
		e = n->seq + n->len;
	if (c->flags & TF_SACK)
		dl_tcp_rsack_add(c, run_s, e);
}

/* Move out-of-order segments that became in order to the receive queue.
 * @return true if any did (a hole was filled). */
static bool ooo_pull(struct dl_tcp *t, struct dl_tcb *c)
{
	struct dl_tcp_rxb *b;
	bool moved = false;

	while ((b = c->ooo_head) != NULL && seq_le(b->seq, c->rcv_nxt)) {
		c->ooo_head = b->next;
		if (--c->ooo_segs == 0)
			dl_tcp_ooo_holder(t, c, false);
		t->ooo_bufs--;
		c->ooo_bytes -= b->len;
		moved = true;
		if (seq_le(b->seq + b->len, c->rcv_nxt)) {
			c->rx_nbufs--;
			dl_nic_buf_free(t->s->nic, b->buf);
			continue;
		}
		uint32_t d = c->rcv_nxt - b->seq;
		b->data += d;
		b->seq += d;
		b->len = (uint16_t)(b->len - d);
		rx_append(c, b);
		dl_tcp_app_bufs(t, c, 1);
		t->cnt[TCP_RX_BYTES] += b->len;
	}
	if (moved)
		dl_tcp_rsack_trim(c);
	return moved;
}

static void data_input(struct dl_tcp *t, struct dl_tcb *c, struct seg *sg)
{
	struct dl_tcp_rxb *b;
	bool filled = false;

	switch (c->state) {
	case DL_TCP_ESTABLISHED:
	case DL_TCP_FIN_WAIT_1:
	case DL_TCP_FIN_WAIT_2:
		break;
	default:
		t->cnt[c->state == DL_TCP_TIME_WAIT ? TCP_DROP_TIME_WAIT
						    : TCP_DROP_DATA_AFTER_FIN]++;
		return;
	}
	if (c->flags & TF_APP_CLOSED) {
		/* Nobody will read it: reset (RFC 1122 4.2.2.13). */
		t->cnt[TCP_DROP_DATA_AFTER_CLOSE]++;
		dl_tcp_send_rst_conn(t, c);
		dl_tcp_close_now(t, c);
		return;
	}
	if (c->flags & TF_SHUT_RD) {
		if (sg->seq == c->rcv_nxt)
			c->rcv_nxt += sg->len;
		t->cnt[TCP_DROP_DATA_SHUT_RD]++;
		want_ack(t, c);
		return;
	}
	if (__builtin_expect(dl_tcp_app_over_credit(t, c), 0)) {
		/* The owning application core holds more received data than
		 * its credit: take no more buffers for it (the peer
		 * retransmits once the core returns data). */
		t->cnt[TCP_DROP_APP_THROTTLED]++;
		want_ack(t, c);
		return;
	}
	if (sg->seq != c->rcv_nxt) {
		ooo_insert(t, c, sg);
		/* RFC 5681 4.2: an immediate duplicate ACK per out-of-order
		 * segment, not one for the whole burst: the sender counts
		 * them to its fast-retransmit threshold (a Linux sender
		 * without SACK fell back to RTOs when a burst of 30 gave
		 * it one). */
		dl_tcp_send_ack(t, c);
		return;
	}
	if (c->rx_nbufs >= t->rx_bufs_max) {
		t->cnt[TCP_DROP_RXBUF_LIMIT]++;
		want_ack(t, c);
		return;
	}
	if (__builtin_expect(dl_tcp_app_over_bufs(t, c), 0)) {
		t->cnt[TCP_DROP_APP_BUFS]++;
		want_ack(t, c);
		return;
	}
	b = hold(c, sg);
	rx_append(c, b);
	dl_tcp_app_bufs(t, c, 1);
	t->cnt[TCP_RX_BYTES] += b->len;
	if (c->ooo_head != NULL)
		filled = ooo_pull(t, c);
	/* RFC 5681 4.2: ACK a filled hole at once, every second full-sized
	 * segment at once, anything else within delack_us. */
	if (filled || t->p.delack_us == 0) {
		want_ack(t, c);
	} else if (c->rcv_nxt - c->last_ack_sent >= 2u * (t->rcv_mss - 40u)) {
		dl_tcp_send_ack(t, c);
	} else {
		if (c->t_delack == 0)
			dl_tcp_set_delack(t, c, t->s->now + t->p.delack_us);
		if (dl_tcp_output_due(c))
			dl_tcp_want_output(t, c);
	}
	if (c->app != DL_APP_NONE)
		dl_tcp_deliver_from(t, c, b, 0);
}

static void fin_input(struct dl_tcp *t, struct dl_tcb *c, const struct seg *sg)
{
	if (sg->end != c->rcv_nxt) {
		if (seq_gt(sg->end, c->rcv_nxt))
			t->cnt[TCP_IGN_OOO_FIN]++;
		return;
	}
	if (c->flags & TF_FIN_RCVD) {
		/* A FIN past the one taken: nothing follows a FIN, the state
		 * stays (RFC 9293 3.10.7.4, eighth); ACK where the stream ended. */
		t->cnt[TCP_DROP_DATA_AFTER_FIN]++;
		want_ack(t, c);
		return;
	}
	c->rcv_nxt++;
	c->flags |= TF_FIN_RCVD;
	want_ack(t, c);
	switch (c->state) {
	case DL_TCP_ESTABLISHED:
		c->state = DL_TCP_CLOSE_WAIT;
		break;
	case DL_TCP_FIN_WAIT_1:
		c->state = DL_TCP_CLOSING;
		break;
	case DL_TCP_FIN_WAIT_2:
		dl_tcp_enter_time_wait(t, c);
		break;
	default:
		break;
	}
	dl_tcp_up_remote_closed(t, c, DL_CLOSE_FIN);
}

/* ------------------------------------------------------------------------ */
/* synchronized states and SYN_RCVD (RFC 9293 3.10.7.4)                     */
/* ------------------------------------------------------------------------ */

/*
 * The first check: does any of the segment fall in the receive window? A
 * zero-length segment may also sit exactly at the right edge (BSD's and
 * Linux's test): a peer that filled our window sends its pure ACKs with
 * SEQ = RCV.NXT + RCV.WND while the data before it is in flight or lost.
 * RFC 9293's strict test dropped those ACKs, and with them the
 * acknowledgment of our data in a bidirectional transfer.
 */
static bool acceptable(uint32_t rcv_nxt, uint32_t wnd, uint32_t seq, uint32_t seglen)
{
	if (seglen == 0)
		return seq_ge(seq, rcv_nxt) && seq_le(seq, rcv_nxt + wnd);
	if (wnd == 0)
		return false;
	return (seq_ge(seq, rcv_nxt) && seq_lt(seq, rcv_nxt + wnd)) ||
	       (seq_ge(seq + seglen - 1, rcv_nxt) && seq_lt(seq + seglen - 1, rcv_nxt + wnd));
}

/* Keep only the payload inside [rcv_nxt, rcv_nxt + wnd); what lies
 * before rcv_nxt was a duplicate (a D-SACK block reports it). */
static void trim(struct dl_tcb *c, struct seg *sg, uint32_t wnd)
{
	uint32_t right = c->rcv_nxt + wnd;

	if (seq_lt(sg->seq, c->rcv_nxt)) {
		uint32_t d = min_u32(c->rcv_nxt - sg->seq, sg->len);
		if (d > 0)
			dl_tcp_dsack_note(c, sg->seq, sg->seq + d);
		sg->data += d;
		sg->seq += d;
		sg->len -= d;
	}
	if (sg->len > 0 && seq_gt(sg->seq + sg->len, right)) {
		sg->len = seq_gt(right, sg->seq) ? right - sg->seq : 0;
		sg->fin = false;
	}
	if (sg->fin && (seq_lt(sg->end, c->rcv_nxt) || seq_gt(sg->end, right)))
		sg->fin = false;
}

/* RFC 7323 5.5: TS.Recent older than 24 days (in 1.024 ms ticks) is stale. */
#define PAWS_IDLE_TICKS 2025000000u

static bool ts_recent_valid(const struct dl_tcp *t, const struct dl_tcb *c)
{
	return dl_tcp_ts_now(t) - c->ts_recent_age < PAWS_IDLE_TICKS;
}

/*
 * ECN on an acceptable segment of an ECN connection (RFC 3168 6.1.2,
 * 6.1.3). Receiver: a CE mark makes our ACKs carry ECE (the first at
 * once) until the peer's CWR says it reduced. Sender: an ECE reduces the
 * window as a loss would, once per window of data, not during a loss
 * recovery (which reduced already), and not again before our CWR has
 * left or for an ACK of nothing sent after the reduction (the peer's
 * ECEs until it has our CWR echo the same mark).
 */
static __attribute__((noinline)) void ecn_input(struct dl_tcp *t, struct dl_tcb *c,
						const struct seg *sg)
{
	uint8_t fl = sg->h.flags;
	uint32_t una = c->snd_una; /* as this ACK leaves it */

	if (seq_gt(sg->h.ack, una) && seq_le(sg->h.ack, c->snd_max))
		una = sg->h.ack;
	if (fl & DL_TCP_CWR)
		c->ecn &= (uint8_t)~ECN_ECE;
	if ((sg->tos & 3u) == DL_IP_CE) {
		t->cnt[TCP_ECN_RX_CE]++;
		if (!(c->ecn & ECN_ECE)) {
			c->ecn |= ECN_ECE;
			want_ack(t, c);
		}
	}
	if (!(fl & DL_TCP_ECE) || (fl & DL_TCP_SYN) || (c->flags & TF_RECOVERY) ||
	    (c->ecn & ECN_CWR_OUT) || ((c->ecn & ECN_CWR) && seq_le(una, c->recover)))
		return;
	c->ssthresh = dl_tcp_cc(c)->ssthresh(t, c);
	c->cwnd = max_u32(c->ssthresh, c->mss);
	c->bytes_acked = 0;
	c->recover = c->snd_max;
	c->ecn |= ECN_CWR | ECN_CWR_OUT;
	t->cnt[TCP_ECN_REDUCTIONS]++;
}

/* A duplicate ACK overtaken by a later one (Linux's tcp_disordered_ack):
 * no data, no flag but ACK (and PSH), at RCV.NXT, acknowledging SND.UNA
 * with the window unchanged (nothing to update), its timestamp older than
 * TS.Recent by less than an RTO (counted in the peer's ticks as if they
 * were ours). PAWS protects data from an old incarnation; such an ACK
 * changes no state but what it reports (SACK blocks of a reordered
 * recovery), so it is processed instead of dropped. */
static bool disordered_ack(const struct dl_tcb *c, const struct seg *sg)
{
	const struct dl_tcp_hdr *h = &sg->h;

	return (h->flags & (uint8_t)~DL_TCP_PSH) == DL_TCP_ACK && sg->plen == 0 &&
	       h->seq == c->rcv_nxt && h->ack == c->snd_una &&
	       (uint32_t)h->wnd << c->snd_ws == c->snd_wnd &&
	       c->ts_recent - h->tsval <= (c->rto >> DL_TCP_TS_SHIFT) + 1;
}

/* Header prediction (Van Jacobson's, as in BSD and Linux): an
 * established connection's next in-order segment (RCV.NXT, the window
 * open) with ACK (and PSH) only, no option but the timestamps (not older
 * than TS.Recent) when they were negotiated, acknowledging no more than
 * was sent. Every check of RFC 9293 3.10.7.4 before the ACK's processing
 * passes for it, so conn_input() skips them (what exceeds the window is
 * trimmed after the ACK, as for any acceptable segment). */
static bool predicted(const struct dl_tcb *c, const struct seg *sg)
{
	const struct dl_tcp_hdr *h = &sg->h;
	uint32_t ts = c->flags & TF_TS;

	return c->state == DL_TCP_ESTABLISHED && (h->flags & (uint8_t)~DL_TCP_PSH) == DL_TCP_ACK &&
	       h->seq == c->rcv_nxt && h->opts == (ts ? DL_TCP_OPT_TS : 0) &&
	       (!ts || seq_ge(h->tsval, c->ts_recent)) && seq_ge(h->ack, c->snd_una) &&
	       seq_le(h->ack, c->snd_max) && seq_gt(c->rcv_adv, c->rcv_nxt);
}

static void conn_input(struct dl_tcp *t, struct dl_tcb *c, struct seg *sg)
{
	const struct dl_tcp_hdr *h = &sg->h;
	uint8_t fl = h->flags;
	uint32_t wnd, seglen;

	if (predicted(c, sg)) {
		wnd = c->rcv_adv - c->rcv_nxt;
		goto process_ack;
	}
	if (c->state == DL_TCP_SYN_SENT) {
		syn_sent(t, c, sg);
		return;
	}
	/* RFC 7323 3.2 and 5.3 (R1): timestamps required, PAWS. */
	if ((c->flags & TF_TS) && !(fl & DL_TCP_RST)) {
		if (!(h->opts & DL_TCP_OPT_TS)) {
			t->cnt[TCP_DROP_NO_TS]++;
			return;
		}
		if (seq_lt(h->tsval, c->ts_recent) && ts_recent_valid(t, c)) {
			if (!disordered_ack(c, sg)) {
				t->cnt[TCP_DROP_PAWS]++;
				want_ack(t, c);
				return;
			}
			t->cnt[TCP_PAWS_DISORDERED_ACK]++;
		}
	}
	if (c->state == DL_TCP_TIME_WAIT &&
	    (fl & (DL_TCP_FIN | DL_TCP_SYN | DL_TCP_RST)) == DL_TCP_FIN &&
	    sg->end + 1 == c->rcv_nxt) {
		/* The peer did not get our last ACK: again, and restart 2*MSL. */
		t->cnt[TCP_DROP_TIME_WAIT]++;
		want_ack(t, c);
		dl_tcp_set_idle(t, c, t->s->now + 2ull * t->p.msl_us);
		return;
	}

	/* Simultaneous open (RFC 9293 3.10.7.4, figure 8): in SYN_RCVD after
	 * our own SYN, the peer's SYN-ACK. Its SYN is the one we answered;
	 * what is left is the ACK of ours. */
	if ((fl & (DL_TCP_SYN | DL_TCP_ACK | DL_TCP_RST)) == (DL_TCP_SYN | DL_TCP_ACK) &&
	    c->state == DL_TCP_SYN_RCVD && (c->flags & TF_ACTIVE) && h->seq == c->irs &&
	    seq_gt(h->ack, c->snd_una) && seq_le(h->ack, c->snd_max)) {
		sg->h.flags &= (uint8_t)~DL_TCP_SYN;
		sg->h.seq++;
		sg->h.wnd = (uint16_t)(sg->h.wnd >> c->snd_ws); /* a SYN's window is not scaled */
		fl = sg->h.flags;
		t->cnt[TCP_SIMOPEN]++;
		want_ack(t, c);
	}
	/* First: sequence number. */
	wnd = seq_gt(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;
	seglen = sg->plen + !!(fl & DL_TCP_SYN) + !!(fl & DL_TCP_FIN);
	if (!acceptable(c->rcv_nxt, wnd, h->seq, seglen)) {
		if (fl & DL_TCP_RST) {
			t->cnt[TCP_DROP_RST_OOW]++;
			return;
		}
		if ((fl & DL_TCP_SYN) && c->state == DL_TCP_SYN_RCVD && h->seq == c->irs) {
			/* Our SYN-ACK was lost: send it again. */
			t->cnt[TCP_DROP_DUPLICATE]++;
			c->snd_nxt = c->iss;
			dl_tcp_want_output(t, c);
			return;
		}
		if (fl & DL_TCP_SYN) {
			t->cnt[TCP_DROP_SYN_CHALLENGE]++;
			challenge_ack(t, c);
			return;
		}
		if (wnd == 0 && h->seq == c->rcv_nxt) {
			/* Zero window: take the ACK, not the data. */
			t->cnt[TCP_RX_PERSIST_WND0]++;
			sg->len = 0;
			if (sg->plen > 0)
				sg->fin = false;
			want_ack(t, c);
		} else {
			bool dup = seq_le(h->seq + seglen, c->rcv_nxt);
			t->cnt[dup ? TCP_DROP_DUPLICATE : TCP_DROP_OUT_OF_WINDOW]++;
			if (dup && sg->plen > 0)
				dl_tcp_dsack_note(c, sg->seq, sg->seq + sg->plen);
			want_ack(t, c);
			return;
		}
	}
	/* Second: RST (RFC 5961 3.2: exact match resets, in window challenges). */
	if (fl & DL_TCP_RST) {
		if (h->seq != c->rcv_nxt) {
			t->cnt[TCP_DROP_RST_CHALLENGE]++;
			challenge_ack(t, c);
			return;
		}
		t->cnt[TCP_CONN_RESET_RX]++;
		if (c->state == DL_TCP_SYN_RCVD && !(c->flags & TF_ACTIVE)) {
			dl_tcp_close_now(t, c); /* back to LISTEN: forget it */
			return;
		}
		dl_tcp_reset_conn(t, c, DL_CLOSE_RESET,
				  c->state == DL_TCP_SYN_RCVD ? ECONNREFUSED : ECONNRESET);
		return;
	}
	/* Fourth: SYN (RFC 5961 4). */
	if (fl & DL_TCP_SYN) {
		if (c->state == DL_TCP_SYN_RCVD && !(c->flags & TF_ACTIVE)) {
			t->cnt[TCP_DROP_SYNRCVD_SYN]++;
			dl_tcp_close_now(t, c);
			return;
		}
		t->cnt[TCP_DROP_SYN_CHALLENGE]++;
		challenge_ack(t, c);
		return;
	}
	/* Fifth: ACK. */
	if (!(fl & DL_TCP_ACK)) {
		t->cnt[TCP_DROP_NO_ACK]++;
		return;
	}
	if (c->state == DL_TCP_SYN_RCVD) {
		if (!seq_gt(h->ack, c->snd_una) || seq_gt(h->ack, c->snd_max)) {
			t->cnt[TCP_DROP_SYNRCVD_BAD_ACK]++;
			dl_tcp_send_rst(t, c->rip, c->lport, c->rport, h->ack, 0, DL_TCP_RST);
			return;
		}
		if ((c->flags & TF_LISTENER) &&
		    t->lst[c->lst - 1].n_acc >= t->lst[c->lst - 1].accept_max) {
			t->cnt[TCP_DROP_ACCEPT_BACKLOG]++;
			return; /* the peer retransmits; maybe there is room then */
		}
		c->snd_wnd = (uint32_t)h->wnd << c->snd_ws;
		c->max_snd_wnd = max_u32(c->max_snd_wnd, c->snd_wnd);
		c->snd_wl1 = h->seq;
		c->snd_wl2 = h->ack;
		establish(t, c);
		if (gone(c))
			return;
	}
	if (seq_lt(h->ack, c->snd_una - c->max_snd_wnd)) {
		t->cnt[TCP_DROP_ACK_CHALLENGE]++;
		challenge_ack(t, c);
		return;
	}
	if (seq_gt(h->ack, c->snd_max)) {
		t->cnt[TCP_DROP_ACK_UNSENT]++;
		want_ack(t, c);
		return;
	}
process_ack:
	if (__builtin_expect(c->ecn != 0, 0))
		ecn_input(t, c, sg);
	/* RFC 7323 4.3: remember the timestamp to echo. */
	if ((c->flags & TF_TS) && seq_le(h->seq, c->last_ack_sent) &&
	    seq_ge(h->tsval, c->ts_recent)) {
		c->ts_recent = h->tsval;
		c->ts_recent_age = dl_tcp_ts_now(t);
	}
	c->ka_probes = 0;
	if (t->p.keepalive_us != 0 &&
	    (c->state == DL_TCP_ESTABLISHED || c->state == DL_TCP_CLOSE_WAIT))
		dl_tcp_set_idle(t, c, t->s->now + t->p.keepalive_us);
	ack_process(t, c, sg);
	if (gone(c))
		return;
	/* Sixth: URG (not supported: the data is delivered in line). */
	if (fl & DL_TCP_URG)
		t->cnt[TCP_IGN_URG]++;
	/* Seventh: text. */
	trim(c, sg, wnd);
	if (sg->len > 0) {
		data_input(t, c, sg);
		if (gone(c))
			return;
	}
	/* Eighth: FIN. */
	if (sg->fin)
		fin_input(t, c, sg);
}

void dl_tcp_input(struct dl_stack *s, struct dl_rx_pkt *pkt, const struct dl_ipv4_hdr *ip,
		  const uint8_t *buf, size_t len)
{
	struct dl_tcp *t = s->tcp;
	struct dl_tcb *c;
	struct seg sg;

	t->cnt[TCP_RX_SEGS]++;
	switch (dl_tcp_parse(buf, len, &sg.h)) {
	case DL_WIRE_OK:
		break;
	case DL_WIRE_TRUNCATED:
		t->cnt[TCP_DROP_TRUNCATED]++;
		goto drop;
	case DL_WIRE_BAD_LENGTH:
		t->cnt[TCP_DROP_BAD_OFFSET]++;
		goto drop;
	default:
		t->cnt[TCP_DROP_BAD_OPTIONS]++;
		goto drop;
	}
	if ((pkt->flags & DL_RX_L4_CSUM_BAD) ||
	    (!(pkt->flags & DL_RX_L4_CSUM_GOOD) && !dl_tcp_cksum_ok(ip->src, ip->dst, buf, len))) {
		t->cnt[TCP_DROP_BAD_CSUM]++;
		goto drop;
	}
	if (sg.h.sport == 0 || sg.h.dport == 0) {
		t->cnt[TCP_DROP_BAD_PORT]++;
		goto drop;
	}
	sg.src = ip->src;
	sg.tos = ip->tos;
	sg.pkt = pkt;
	sg.held = false;
	sg.data = buf + sg.h.hlen;
	sg.plen = sg.len = (uint32_t)(len - sg.h.hlen);
	sg.seq = sg.h.seq + !!(sg.h.flags & DL_TCP_SYN);
	sg.end = sg.seq + sg.len;
	sg.fin = (sg.h.flags & DL_TCP_FIN) != 0;

	struct dl_tcp_tw *tw;
	c = dl_tcp_lookup(t, sg.src, sg.h.dport, sg.h.sport, &tw);
	if (tw != NULL && dl_tcp_tw_input(t, tw, &sg.h, sg.plen) == DL_TW_DONE)
		goto drop;
	if (c != NULL && c->state == DL_TCP_TIME_WAIT && time_wait_reuse(t, c, &sg))
		c = NULL;
	if (c != NULL)
		conn_input(t, c, &sg);
	else
		no_conn(t, &sg);
	if (sg.held)
		return;
drop:
	dl_nic_buf_free(s->nic, pkt->buf);
}
