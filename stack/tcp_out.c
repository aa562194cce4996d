/*
 * tcp_out.c - building and sending TCP segments: data segmentation from
 * the send queue (zero-touch: a header buffer plus references to the
 * application's memory), TSO, retransmission, SYN/SYN-ACK, pure ACKs,
 * window updates, keepalives, zero-window probes and RSTs.
 *
 * tcp_output() is run once per connection per loop iteration from the
 * deferred list (see dl_tcp.h); it sends as much queued data as the
 * congestion and peer windows allow, MSS-sized segments or, with TSO,
 * packets of up to tso_segs segments that the NIC (or lib/offload.c)
 * cuts, but at most a quarter of cwnd per packet (at least 2 segments):
 * a window goes out as several packets, not one line-rate burst. With a
 * scoreboard (tcp_sack.c) it first retransmits the ranges RACK marked
 * lost, within cwnd - pipe, then sends new data. A paced connection
 * (TF2_PACED, with a minimum RTT of at least DL_TCP_PACE_MIN_RTT_US)
 * sends no data before its next departure time (pace_next,
 * moved on by each packet's length at the pacing rate, as Linux's earliest
 * departure times) and its TSO packets carry about 1 ms at that rate;
 * output that stops for pacing waits on the connection's timer. After an idle period
 * longer than the RTO, cwnd restarts from the initial window (RFC 5681
 * 4.1). Any segment it sends carries the ACK, so a pure ACK is only sent
 * when nothing else went out; SACK blocks ride on pure ACKs only (an ACK
 * with them goes ahead of data), so data segments never lose payload to
 * options. Checksums are always left to the backend.
 *
 * The receive window we advertise follows what the application returned
 * (rcv_wnd - bytes held) and how many buffers the connection pins (each
 * held buffer may carry little payload), never moves its right edge back
 * (RFC 9293 3.8.6.2.2) and only moves it forward by a useful amount
 * (receiver SWS avoidance).
 */
#include "dl_tcp_cc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

uint32_t dl_tcp_rcv_window(const struct dl_tcp *t, const struct dl_tcb *c)
{
	uint32_t w = t->p.rcv_wnd > c->rx_held ? t->p.rcv_wnd - c->rx_held : 0;
	uint32_t nb = t->rx_bufs_max > c->rx_nbufs ? t->rx_bufs_max - c->rx_nbufs : 0;
	uint64_t wb = (uint64_t)nb * t->rcv_mss;
	uint32_t max = 65535u << c->rcv_ws;

	if (seq_lt(c->rcv_nxt + w, c->rcv_adv + t->sws_thresh)) {
		/* Byte credit: keep the edge where it is, no shrinking, no
		 * small steps. */
		w = seq_gt(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;
	}
	/* Buffer credit: every held buffer may carry a single byte, so the
	 * buffers left bound the window, shrinking it if they must (the one
	 * case we move the edge back; RFC 7323 2.4, RFC 9293 3.8.6.2.2). */
	if (wb < w)
		w = (uint32_t)wb;
	return w < max ? w : max;
}

/* Fill up to max fragments with len bytes from pos (advanced). */
static unsigned sq_gather(struct dl_tcp_sqpos *pos, uint32_t len, struct dl_tx_frag *out,
			  unsigned max, uint32_t *got)
{
	unsigned n = 0;

	*got = 0;
	while (len > 0 && n < max) {
		const struct dl_tcp_frag *f = &pos->c->f[pos->i];

		if (pos->off == f->len) {
			if (pos->i + 1 < pos->c->n) {
				pos->i++;
			} else if (pos->c->next != NULL) {
				pos->c = pos->c->next;
				pos->i = 0;
			} else {
				break;
			}
			pos->off = 0;
			continue;
		}
		uint32_t take = min_u32(f->len - pos->off, len);
		out[n].data = f->data + pos->off;
		out[n].len = take;
		out[n].region = f->region;
		n++;
		pos->off += take;
		len -= take;
		*got += take;
	}
	return n;
}

/*
 * ECN marks of a segment of an ECN connection (RFC 3168 6.1): ECE on what
 * acknowledges while a CE mark waits for the peer's CWR; new data leaves
 * ECT(0) (retransmissions, window probes and pure ACKs do not: 6.1.5,
 * 6.1.6), the first after a reduction with CWR. @return the TOS byte.
 */
static __attribute__((noinline)) uint8_t ecn_mark(struct dl_tcp *t, struct dl_tcb *c, uint32_t seq,
						  uint32_t len, uint8_t *flags)
{
	if ((c->ecn & ECN_ECE) && (*flags & (DL_TCP_ACK | DL_TCP_RST)) == DL_TCP_ACK)
		*flags |= DL_TCP_ECE;
	if (len == 0 || seq_lt(seq, c->snd_max) || c->snd_wnd == 0)
		return 0;
	if (c->ecn & ECN_CWR_OUT) {
		c->ecn &= (uint8_t)~ECN_CWR_OUT;
		*flags |= DL_TCP_CWR;
		t->cnt[TCP_ECN_TX_CWR]++;
	}
	return DL_IP_ECT0;
}

/*
 * Build and queue one segment of connection c: sequence number seq,
 * control bits flags, len payload bytes from pos (advanced past what was
 * taken). FIN is dropped when the fragment limit cut the payload short.
 * *sent receives the payload bytes. @return 0 or -ENOBUFS.
 */
/* Header of a SYN or SYN-ACK: MSS and whatever else we offer/agreed. */
static unsigned put_syn_header(const struct dl_tcp *t, const struct dl_tcb *c, uint8_t *l4,
			       uint32_t seq, uint8_t flags, uint32_t wnd)
{
	struct dl_tcp_hdr h = {
	    .sport = c->lport,
	    .dport = c->rport,
	    .seq = seq,
	    .ack = (flags & DL_TCP_ACK) ? c->rcv_nxt : 0,
	    .flags = flags,
	    .wnd = (uint16_t)min_u32(wnd, 65535), /* never scaled in a SYN */
	    .opts = DL_TCP_OPT_MSS,
	    .mss = t->rcv_mss,
	    .wscale = c->rcv_ws,
	    .tsval = dl_tcp_ts_now(t) + c->ts_off,
	    .tsecr = (flags & DL_TCP_ACK) ? c->ts_recent : 0,
	};

	if (c->state == DL_TCP_SYN_SENT) {
		h.opts |= DL_TCP_OPT_WS | (t->p.timestamps ? DL_TCP_OPT_TS : 0) |
			  (t->p.sack ? DL_TCP_OPT_SACKOK : 0);
		/* An ECN-setup SYN (RFC 3168 6.1.1); a retransmission goes
		 * without, in case a middlebox drops such SYNs. */
		if (t->p.ecn == DL_TCP_ECN_ON && !(c->flags & TF_SYN_REXMIT))
			h.flags |= DL_TCP_ECE | DL_TCP_CWR;
	} else {
		h.opts |= ((c->flags & TF_WS) ? DL_TCP_OPT_WS : 0) |
			  ((c->flags & TF_TS) ? DL_TCP_OPT_TS : 0) |
			  ((c->flags & TF_SACK) ? DL_TCP_OPT_SACKOK : 0);
		if (c->ecn & ECN_OK)
			h.flags |= DL_TCP_ECE; /* ECN-setup SYN-ACK */
	}
	return dl_tcp_build(l4, &h);
}

/* Header of any other segment, written directly (the hot path): 20 bytes,
 * plus NOP, NOP, timestamps when they were negotiated, plus nsack SACK
 * blocks (written after the returned fixed part by the caller). */
static unsigned put_header(const struct dl_tcp *t, const struct dl_tcb *c, uint8_t *l4,
			   uint32_t seq, uint8_t flags, uint16_t wnd, unsigned sacklen)
{
	uint32_t w[8];
	unsigned hlen = ((c->flags & TF_TS) ? DL_TCP_HLEN + 12 : DL_TCP_HLEN) + sacklen;

	w[0] = htonl((uint32_t)c->lport << 16 | c->rport);
	w[1] = htonl(seq);
	w[2] = htonl((flags & DL_TCP_ACK) ? c->rcv_nxt : 0);
	w[3] = htonl((uint32_t)(hlen / 4) << 28 | (uint32_t)flags << 16 | wnd);
	w[4] = 0; /* checksum (the NIC's) and urgent pointer */
	if (!(c->flags & TF_TS)) {
		memcpy(l4, w, DL_TCP_HLEN);
		return hlen;
	}
	w[5] = htonl(0x0101080au);
	w[6] = htonl(dl_tcp_ts_now(t) + c->ts_off);
	w[7] = htonl((flags & DL_TCP_ACK) ? c->ts_recent : 0);
	memcpy(l4, w, sizeof(w));
	return hlen;
}

/*
 * Pacing: bytes just left; the next departure is that much later at the
 * pacing rate, counted from the last departure time, or from
 * DL_TCP_PACE_CREDIT_US ago when that is older (a late wake-up catches up
 * that much, an idle connection does not save up a burst).
 */
static __attribute__((noinline)) void pace_sent(struct dl_tcp *t, struct dl_tcb *c, uint32_t bytes)
{
	uint64_t rate, segs, gap;
	uint32_t from = (uint32_t)t->s->now - DL_TCP_PACE_CREDIT_US;
	uint32_t nic = c->tso_segs ? min_u32(t->s->nic->tso_max / c->mss, 255) : 0;

	if (bytes == 0)
		return;
	rate = tcb_paced_now(c) ? dl_tcp_pacing_rate(t, c) : 0;
	if (rate == 0) {
		c->tso_segs = (uint8_t)nic;
		return;
	}
	if ((int32_t)(c->pace_next - from) > 0)
		from = c->pace_next;
	gap = (uint64_t)bytes * 1000000 / rate;
	c->pace_next = from + (uint32_t)(gap < 1000000 ? gap : 1000000);
	/* TSO packets of about 1 ms at the rate (Linux's autosizing), at
	 * least 2 segments, at most the NIC's */
	if (nic != 0) {
		segs = rate / 1000 / c->mss;
		c->tso_segs = (uint8_t)(segs < 2 ? 2 : segs > nic ? nic : segs);
	}
}

/* Pacing: may no data leave yet? Then the timer wakes output at pace_next
 * (out of line: the unpaced hot path pays one flag test). */
static __attribute__((noinline)) bool pace_wait_slow(struct dl_tcp *t, struct dl_tcb *c)
{
	int32_t d;

	d = (int32_t)(c->pace_next - (uint32_t)t->s->now);
	if (c->min_rtt < DL_TCP_PACE_MIN_RTT_US || d <= 0) {
		c->fl2 &= (uint8_t)~TF2_PACE_WAIT;
		return false;
	}
	if (!(c->fl2 & TF2_PACE_WAIT)) {
		c->fl2 |= TF2_PACE_WAIT;
		t->cnt[TCP_PACING_WAITS]++;
	}
	dl_tcp_timer_arm(t, c, t->s->now + (uint64_t)d);
	return true;
}

static inline bool pace_wait(struct dl_tcp *t, struct dl_tcb *c)
{
	return __builtin_expect((c->fl2 & TF2_PACED) != 0, 0) && pace_wait_slow(t, c);
}

/*
 * Build and queue one segment of connection c: sequence number seq,
 * control bits flags, len payload bytes from pos (advanced past what was
 * taken). FIN is dropped when the fragment limit cut the payload short.
 * *sent receives the payload bytes. @return 0 or -ENOBUFS.
 */
static int emit(struct dl_tcp *t, struct dl_tcb *c, uint32_t seq, uint8_t flags,
		struct dl_tcp_sqpos *pos, uint32_t len, uint32_t *sent)
{
	struct dl_stack *s = t->s;
	struct dl_tx_pkt *p;
	uint8_t *l4;
	uint16_t room;
	uint32_t got = 0, want = len, segsz = c->mss, wnd, edge, blocks[DL_TCP_MAX_SACK][2];
	unsigned hlen, nsack = 0;
	uint8_t tos = 0;

	p = dl_ip_tx_begin(s, &l4, &room);
	if (p == NULL) {
		t->cnt[TCP_TX_NOBUF]++;
		return -ENOBUFS;
	}
	/* SACK blocks in every ACK while data waits out of order (RFC 2018
	 * 4), data segments included: each segment then carries that much
	 * less payload (as many segments, each shorter). */
	if (__builtin_expect((c->nrsack | (c->flags & TF_DSACK)) != 0, 0) && (c->flags & TF_SACK) &&
	    (flags & (DL_TCP_ACK | DL_TCP_RST | DL_TCP_SYN)) == DL_TCP_ACK) {
		nsack = dl_tcp_sack_blocks(t, c, blocks, (c->flags & TF_TS) ? 3 : 4);
		segsz = c->mss - dl_tcp_sack_len(nsack);
		if (len > segsz)
			len = min_u32(len, (len + c->mss - 1) / c->mss * segsz);
	}
	if (len > 0)
		p->nfrags = (uint8_t)sq_gather(pos, len, p->frag, DL_TX_MAX_FRAGS, &got);
	if (got < want)
		flags &= (uint8_t)~DL_TCP_FIN;
	wnd = dl_tcp_rcv_window(t, c);
	if (flags & DL_TCP_SYN) {
		hlen = put_syn_header(t, c, l4, seq, flags, wnd);
		edge = c->rcv_nxt + min_u32(wnd, 65535);
	} else {
		uint16_t field = (uint16_t)min_u32(wnd >> c->rcv_ws, 65535);
		if (__builtin_expect(c->ecn != 0, 0))
			tos = ecn_mark(t, c, seq, got, &flags);
		hlen = put_header(t, c, l4, seq, flags, field, dl_tcp_sack_len(nsack));
		if (nsack > 0)
			dl_tcp_put_sack(l4 + hlen - dl_tcp_sack_len(nsack),
					(const uint32_t(*)[2])blocks, nsack);
		edge = c->rcv_nxt + ((uint32_t)field << c->rcv_ws);
	}
	if (got > segsz) {
		p->ol_flags = DL_TX_TSO;
		p->tso_segsz = (uint16_t)segsz;
		t->cnt[TCP_TX_TSO]++;
	}
	dl_ip_tx_commit(s, p, c->rip, DL_IPPROTO_TCP, (uint16_t)hlen,
			DL_TX_TCP_CKSUM | DL_IP_TOS(tos), NULL);
	t->cnt[TCP_TX_SEGS]++;
	t->cnt[TCP_TX_BYTES] += got;
	if (__builtin_expect((c->fl2 & TF2_PACED) != 0, 0))
		pace_sent(t, c, got);
	if (flags & DL_TCP_ACK) {
		c->last_ack_sent = c->rcv_nxt;
		c->rcv_edge = edge;
		if (seq_gt(edge, c->rcv_adv))
			c->rcv_adv = edge;
		c->t_delack = 0;
		c->flags &= ~(TF_ACKNOW | TF_WND_UPDATE);
	}
	*sent = got;
	return 0;
}

static void arm_rtx_if_idle(struct dl_tcp *t, struct dl_tcb *c)
{
	if (c->t_rtx == 0)
		dl_tcp_set_rtx(t, c, t->s->now + dl_tcp_rto_backed_off(t, c));
}

static void send_syn(struct dl_tcp *t, struct dl_tcb *c)
{
	bool synack = c->state == DL_TCP_SYN_RCVD;
	uint32_t got;

	if (emit(t, c, c->iss, DL_TCP_SYN | (synack ? DL_TCP_ACK : 0), NULL, 0, &got) != 0) {
		arm_rtx_if_idle(t, c);
		return;
	}
	t->cnt[synack ? TCP_TX_SYNACK : TCP_TX_SYN]++;
	c->snd_nxt = c->iss + 1;
	if (seq_gt(c->snd_nxt, c->snd_max))
		c->snd_max = c->snd_nxt;
	if (c->flags & TF_SYN_REXMIT) {
		c->rtp_n = 0; /* Karn */
	} else {
		c->rtp_n = 1;
		c->rtp_seq[0] = c->iss;
		c->rtp_t[0] = (uint32_t)t->s->now;
	}
	arm_rtx_if_idle(t, c);
}

void dl_tcp_send_ack(struct dl_tcp *t, struct dl_tcb *c)
{
	uint32_t got;

	/* snd_max, not snd_nxt: after a go-back the peer may already hold
	 * data past snd_nxt and would find our ACK out of window (BSD). */
	if (emit(t, c, c->snd_max, DL_TCP_ACK, NULL, 0, &got) == 0)
		t->cnt[TCP_TX_PURE_ACK]++;
}

void dl_tcp_send_rst_conn(struct dl_tcp *t, struct dl_tcb *c)
{
	uint32_t got;

	if (emit(t, c, c->snd_max, DL_TCP_RST | DL_TCP_ACK, NULL, 0, &got) == 0)
		t->cnt[TCP_TX_RST]++;
}

void dl_tcp_send_keepalive(struct dl_tcp *t, struct dl_tcb *c)
{
	uint32_t got;

	/* <SEQ=SND.UNA-1>: an old sequence number the peer must ACK. */
	if (emit(t, c, c->snd_una - 1, DL_TCP_ACK, NULL, 0, &got) == 0)
		t->cnt[TCP_TX_KEEPALIVE]++;
}

int dl_tcp_send_segment(struct dl_tcp *t, uint32_t rip, struct dl_tcp_hdr *h)
{
	struct dl_stack *s = t->s;
	struct dl_tx_pkt *p;
	uint8_t *l4;
	uint16_t room;
	unsigned hlen;

	p = dl_ip_tx_begin(s, &l4, &room);
	if (p == NULL) {
		t->cnt[TCP_TX_NOBUF]++;
		return -ENOBUFS;
	}
	hlen = dl_tcp_build(l4, h);
	dl_ip_tx_commit(s, p, rip, DL_IPPROTO_TCP, (uint16_t)hlen, DL_TX_TCP_CKSUM, NULL);
	t->cnt[TCP_TX_SEGS]++;
	return 0;
}

void dl_tcp_send_rst(struct dl_tcp *t, uint32_t rip, uint16_t lport, uint16_t rport, uint32_t seq,
		     uint32_t ack, uint8_t flags)
{
	struct dl_tcp_hdr h = {
	    .sport = lport, .dport = rport, .seq = seq, .ack = ack, .flags = flags};

	if (dl_tcp_send_segment(t, rip, &h) == 0)
		t->cnt[TCP_TX_RST]++;
}

void dl_tcp_send_synack_cookie(struct dl_tcp *t, uint32_t rip, uint16_t lport, uint16_t rport,
			       uint32_t iss, uint32_t ack, unsigned opts, uint32_t tsecr)
{
	struct dl_tcp_hdr h = {
	    .sport = lport,
	    .dport = rport,
	    .seq = iss,
	    .ack = ack,
	    .flags = DL_TCP_SYN | DL_TCP_ACK,
	    .wnd = (uint16_t)min_u32(t->p.rcv_wnd, 65535), /* never scaled in a SYN */
	    .opts = DL_TCP_OPT_MSS,
	    .mss = t->rcv_mss,
	};

	if (opts != DL_TCP_COOKIE_NO_TS) {
		uint32_t ts_off, now;

		(void)dl_tcp_isn(t, rip, lport, rport, &ts_off);
		now = dl_tcp_ts_now(t) + ts_off;
		/* The options in the TSval's low bits, never ahead of the
		 * connection's clock (the peer's PAWS would then drop what
		 * follows): up to 63 ticks behind it. */
		h.tsval = (now & ~DL_TCP_COOKIE_OPT_MASK) | opts;
		if ((opts & DL_TCP_COOKIE_OPT_MASK) > (now & DL_TCP_COOKIE_OPT_MASK))
			h.tsval -= DL_TCP_COOKIE_OPT_MASK + 1;
		h.tsecr = tsecr;
		h.opts |= DL_TCP_OPT_TS;
		if ((opts & DL_TCP_COOKIE_WS_NONE) != DL_TCP_COOKIE_WS_NONE) {
			h.opts |= DL_TCP_OPT_WS;
			h.wscale = t->p.wscale;
		}
		if (opts & DL_TCP_COOKIE_SACK)
			h.opts |= DL_TCP_OPT_SACKOK;
		if (opts & DL_TCP_COOKIE_ECN)
			h.flags |= DL_TCP_ECE; /* ECN-setup SYN-ACK */
	}
	if (dl_tcp_send_segment(t, rip, &h) == 0)
		t->cnt[TCP_SYNCOOKIE_SENT]++;
}

/* A send-queue position at sequence number seq (sq_seq <= seq <= end). */
static struct dl_tcp_sqpos sq_pos_at(const struct dl_tcb *c, uint32_t seq)
{
	struct dl_tcp_sqpos pos = c->sq_head;
	uint32_t skip = seq - c->sq_seq;

	while (skip > 0) {
		const struct dl_tcp_frag *f = &pos.c->f[pos.i];
		uint32_t rem = f->len - pos.off;

		if (skip < rem) {
			pos.off += skip;
			break;
		}
		skip -= rem;
		if (pos.i + 1 < pos.c->n) {
			pos.i++;
			pos.off = 0;
		} else if (pos.c->next != NULL) {
			pos.c = pos.c->next;
			pos.i = 0;
			pos.off = 0;
		} else {
			pos.off = f->len; /* the end of the queue */
			break;
		}
	}
	return pos;
}

/* Segment size limit of a packet: tso_segs MSS (paced: about 1 ms at
 * the pacing rate, pace_sent), at most cwnd / 4 (at least 2 segments),
 * so a window leaves as several packets. */
static uint32_t max_packet(const struct dl_tcb *c)
{
	uint32_t segs;

	if (c->tso_segs == 0)
		return c->mss;
	segs = max_u32(c->cwnd / (4u * c->mss), 2);
	return min_u32(segs, c->tso_segs) * (uint32_t)c->mss;
}

uint32_t dl_tcp_retransmit_range(struct dl_tcp *t, struct dl_tcb *c, uint32_t s, uint32_t e)
{
	uint32_t fin_seq = tcb_fin_seq(c), data_end, n, got;
	struct dl_tcp_sqpos pos;
	bool fin;

	s = seq_max(s, c->sq_seq);
	e = seq_min(e, c->snd_max);
	if (!seq_lt(s, e))
		return 0;
	data_end = (c->flags & TF_FIN_SENT) ? seq_min(e, fin_seq) : e;
	n = seq_gt(data_end, s) ? data_end - s : 0;
	n = min_u32(n, max_packet(c));
	fin = (c->flags & TF_FIN_SENT) && s + n == fin_seq && seq_gt(e, fin_seq);
	if (n == 0 && !fin)
		return 0;
	pos = sq_pos_at(c, s);
	if (emit(t, c, s, DL_TCP_ACK | (fin ? DL_TCP_FIN : 0), &pos, n, &got) != 0)
		return 0;
	fin = fin && got == n;
	t->cnt[TCP_TX_REXMIT_SEGS]++;
	t->cnt[TCP_TX_REXMIT_BYTES] += got;
	dl_tcp_rtt_forget(c, s, s + got + (fin ? 1u : 0u)); /* Karn */
	dl_tcp_sb_sent(t, c, s, s + got + (fin ? 1u : 0u), true);
	if (c->sb != NULL && (c->flags & TF_RECOVERY))
		c->sb->prr_out += got + (fin ? 1u : 0u);
	c->snd_last = dl_tcp_ts_now(t);
	return got + (fin ? 1u : 0u);
}

/* Retransmit the oldest unacknowledged segment (fast retransmit, NewReno
 * partial ACK) without moving snd_nxt back. Only bytes already sent (up to
 * snd_max): with less than an MSS in flight and more queued, a full MSS
 * would be new data past the peer's window and past snd_max, and the
 * peer's ACK of it would look like an ACK of unsent data. */
void dl_tcp_retransmit_first(struct dl_tcp *t, struct dl_tcb *c)
{
	uint32_t fin = (c->flags & TF_FIN_SENT) ? 1u : 0u;
	uint32_t sent = c->snd_max - c->sq_seq - fin;
	uint32_t n = min_u32(min_u32(c->sq_bytes, c->mss), sent), got;

	if (n == 0 && !fin)
		return;
	got = dl_tcp_retransmit_range(t, c, c->sq_seq,
				      c->sq_seq + n + (fin && n == c->sq_bytes ? 1u : 0u));
	if (got > 0 && seq_lt(c->snd_nxt, c->sq_seq + got)) {
		c->snd_nxt = c->sq_seq + got;
		c->sq_cur = sq_pos_at(c, seq_min(c->snd_nxt, c->sq_seq + c->sq_bytes));
	}
}

/* Persist timer: one byte past the zero window, to learn when it opens. */
void dl_tcp_send_probe(struct dl_tcp *t, struct dl_tcb *c)
{
	struct dl_tcp_sqpos pos = c->sq_cur;
	uint32_t seq = c->snd_nxt, got;

	if (tcb_unsent(c) == 0 || emit(t, c, seq, DL_TCP_ACK, &pos, 1, &got) != 0)
		return;
	t->cnt[TCP_TX_PROBE]++;
	c->sq_cur = pos;
	c->snd_nxt = seq + got;
	if (seq_gt(c->snd_nxt, c->snd_max))
		c->snd_max = c->snd_nxt;
}

/* RFC 3042 limited transmit: the first two duplicate ACKs each let one
 * new segment out (a segment left the network), cwnd unchanged, so small
 * windows still get the three duplicates fast retransmit needs. */
static uint32_t tcb_cwnd_limited_transmit(const struct dl_tcb *c)
{
	if (c->dupacks == 0 || c->dupacks >= 3 || (c->flags & TF_RECOVERY))
		return c->cwnd;
	return c->cwnd + (uint32_t)c->dupacks * c->mss;
}

void dl_tcp_arm_rtx(struct dl_tcp *t, struct dl_tcb *c, bool restart)
{
	uint64_t now = t->s->now;

	if (c->snd_una == c->snd_max) {
		c->t_rtx = 0;
		c->flags &= ~TF_PTO;
		return;
	}
	if (dl_tcp_tlp_allowed(t, c)) {
		c->flags |= TF_PTO;
		dl_tcp_set_rtx(t, c, now + dl_tcp_pto(t, c));
		return;
	}
	if (restart || c->t_rtx == 0 || (c->flags & TF_PTO)) {
		c->flags &= ~TF_PTO;
		dl_tcp_set_rtx(t, c, now + dl_tcp_rto_backed_off(t, c));
	}
}

/* Time the segment starting at seq (a free probe slot). */
static void rtt_probe(struct dl_tcp *t, struct dl_tcb *c, uint32_t seq)
{
	if (c->rtp_n >= DL_TCP_RTT_PROBES)
		return;
	c->rtp_seq[c->rtp_n] = seq;
	c->rtp_t[c->rtp_n] = (uint32_t)t->s->now;
	c->rtp_n++;
}

/*
 * One segment (or TSO packet) of new data at snd_nxt, at most `usable`
 * bytes. @return 1 sent, 0 nothing to send now, -1 no header buffer.
 */
static inline __attribute__((always_inline)) int send_new(struct dl_tcp *t, struct dl_tcb *c,
						      uint32_t usable, bool paced)
{
	uint32_t unsent = tcb_unsent(c), n, seq, got;
	bool want_fin = (c->flags & TF_SHUT_WR) && seq_le(c->snd_nxt, tcb_fin_seq(c));
	struct dl_tcp_sqpos pos;
	bool fin;
	uint8_t flags;

	if (unsent == 0 && !want_fin)
		return 0;
	n = min_u32(unsent, min_u32(usable, max_packet(c)));
	if (n < unsent) {
		if (n == 0)
			return 0;
		/* Sender SWS avoidance (RFC 9293 3.8.6.2.1): a short
		 * segment only when nothing is in flight. */
		if (n < c->mss && n < (c->max_snd_wnd >> 1) && c->snd_nxt != c->snd_una)
			return 0;
		if (n > c->mss)
			n -= n % c->mss; /* whole segments when more follows */
	}
	if (c->sb != NULL && seq_ge(c->snd_nxt, c->snd_max) && !dl_tcp_sb_can_append(t, c))
		return 0; /* the scoreboard is full: retransmissions first */
	if (paced && pace_wait(t, c))
		return 0;
	if (__builtin_expect((c->ecn & ECN_CWR_OUT) != 0, 0) && n > c->mss)
		n = c->mss; /* CWR on one segment (each of a TSO packet's would repeat it) */
	fin = want_fin && n == unsent;
	flags = DL_TCP_ACK | (fin ? DL_TCP_FIN : 0) | (n > 0 && n == unsent ? DL_TCP_PSH : 0);
	seq = c->snd_nxt;
	pos = c->sq_cur;
	if (emit(t, c, seq, flags, &pos, n, &got) != 0)
		return -1;
	fin = fin && got == n;
	if (seq_lt(seq, c->snd_max)) {
		t->cnt[TCP_TX_REXMIT_SEGS]++;
		t->cnt[TCP_TX_REXMIT_BYTES] += min_u32(got, c->snd_max - seq);
	} else if (got > 0) {
		rtt_probe(t, c, seq);
	}
	c->sq_cur = pos;
	c->snd_nxt = seq + got + (fin ? 1u : 0u);
	if (fin)
		c->flags |= TF_FIN_SENT;
	if (seq_gt(c->snd_nxt, c->snd_max)) {
		if (c->sb != NULL)
			dl_tcp_sb_sent(t, c, seq_max(seq, c->snd_max), c->snd_nxt, false);
		c->snd_max = c->snd_nxt;
	}
	if (c->sb != NULL && (c->flags & TF_RECOVERY))
		c->sb->prr_out += got + (fin ? 1u : 0u);
	c->snd_last = dl_tcp_ts_now(t);
	return 1;
}

uint32_t dl_tcp_send_new(struct dl_tcp *t, struct dl_tcb *c, uint32_t max)
{
	uint32_t before = c->snd_max, wnd_left;

	if (c->snd_nxt != c->snd_max)
		return 0;
	wnd_left = seq_gt(c->snd_una + c->snd_wnd, c->snd_nxt) ? c->snd_una + c->snd_wnd - c->snd_nxt
							       : 0;
	if (send_new(t, c, min_u32(max, wnd_left), false) <= 0)
		return 0;
	return c->snd_max - before;
}

/* RFC 5681 4.1: after an idle period longer than the RTO, the window
 * restarts at the initial one (what the network allowed then says little
 * about now, and a full window would leave as one burst). */
static void restart_after_idle(struct dl_tcp *t, struct dl_tcb *c)
{
	uint32_t idle_us, iw;

	if (!t->p.restart_after_idle || c->snd_una != c->snd_max || tcb_unsent(c) == 0 ||
	    c->snd_last == 0)
		return;
	idle_us = (dl_tcp_ts_now(t) - c->snd_last) << DL_TCP_TS_SHIFT;
	if (idle_us < c->rto)
		return;
	iw = min_u32(t->p.init_cwnd_segs * (uint32_t)c->mss,
		     max_u32(2u * c->mss, t->p.init_cwnd_segs * 1460u));
	if (c->cwnd > iw) {
		c->cwnd = iw;
		c->bytes_acked = 0;
		t->cnt[TCP_CWND_RESTART]++;
		if (dl_tcp_cc(c)->restart != NULL)
			dl_tcp_cc(c)->restart(t, c);
	}
	c->snd_last = dl_tcp_ts_now(t);
}

void dl_tcp_output(struct dl_tcp *t, struct dl_tcb *c)
{
	uint64_t now = t->s->now;
	bool sent = false, sent_new = false;

	switch (c->state) {
	case DL_TCP_CLOSED:
		return;
	case DL_TCP_SYN_SENT:
	case DL_TCP_SYN_RCVD:
		if (c->snd_nxt == c->iss)
			send_syn(t, c);
		else if (c->state == DL_TCP_SYN_RCVD && (c->flags & TF_ACKNOW))
			dl_tcp_send_ack(t, c);
		return;
	case DL_TCP_TIME_WAIT:
		if (c->flags & TF_ACKNOW)
			dl_tcp_send_ack(t, c);
		return;
	default:
		break;
	}
	if (c->snd_una == c->snd_max)
		restart_after_idle(t, c);
	c->acked_batch = 0;
	for (;;) {
		uint32_t usable, lim, s, e;
		int rc;

		if (c->sb != NULL) {
			uint32_t pipe = dl_tcp_sb_pipe(c);
			uint32_t room = c->cwnd > pipe ? c->cwnd - pipe : 0;

			if (dl_tcp_sb_next_lost(c, &s, &e)) {
				uint32_t n = min_u32(e - s, room);
				if (n == 0 || (n < e - s && n < c->mss))
					break; /* no room for a segment yet */
				if (pace_wait(t, c))
					break;
				if (dl_tcp_retransmit_range(t, c, s, s + n) == 0)
					break;
				sent = true;
				continue;
			}
			lim = c->snd_una + c->snd_wnd;
			usable = seq_gt(lim, c->snd_nxt) ? min_u32(lim - c->snd_nxt, room) : 0;
		} else {
			lim = c->snd_una + min_u32(c->snd_wnd, tcb_cwnd_limited_transmit(c));
			usable = seq_gt(lim, c->snd_nxt) ? lim - c->snd_nxt : 0;
		}
		rc = send_new(t, c, usable, true);
		if (rc < 0) {
			arm_rtx_if_idle(t, c); /* no header buffer: try again later */
			break;
		}
		if (rc == 0)
			break;
		sent = sent_new = true;
	}
	if (sent_new || (sent && (c->t_rtx == 0 || (c->flags & TF_PERSIST)))) {
		if (c->flags & TF_PERSIST) {
			c->flags &= ~TF_PERSIST;
			dl_tcp_arm_rtx(t, c, true);
		} else {
			/* RFC 8985 7.2: a probe timeout after new data; else RFC
			 * 6298 5.1: the RTO runs from the first segment out. */
			dl_tcp_arm_rtx(t, c, false);
		}
	}
	/* Pacing held back what an RTO or a go-back was about to resend: the
	 * retransmission timer still watches what is in flight. */
	if (__builtin_expect((c->fl2 & TF2_PACE_WAIT) != 0, 0) && c->t_rtx == 0 &&
	    c->snd_max != c->snd_una)
		dl_tcp_arm_rtx(t, c, false);
	if (!sent && (c->flags & (TF_ACKNOW | TF_WND_UPDATE))) {
		if (!(c->flags & TF_ACKNOW))
			t->cnt[TCP_TX_WINUPD]++;
		dl_tcp_send_ack(t, c);
	}
	/* RFC 7661: only a window that was used may grow. Waiting for the
	 * pacing rate counts as used: the sender is limited by its congestion
	 * control, not by the application (BBR's rate samples depend on it).
	 * (TF2_PACE_WAIT is cleared by the next send check or the timer.) */
	{
		uint32_t flight = c->snd_max - c->snd_una;
		if (c->sb != NULL)
			flight = dl_tcp_sb_pipe(c);
		if (flight + c->mss > c->cwnd || (c->cwnd < c->ssthresh && 2 * flight >= c->cwnd) ||
		    (c->fl2 & TF2_PACE_WAIT))
			c->fl2 |= TF2_CWND_LIMITED;
		else
			c->fl2 &= (uint8_t)~TF2_CWND_LIMITED;
	}
	/* Data waits behind a zero window and nothing is in flight: persist. */
	if (c->snd_wnd == 0 && !(c->flags & TF_PERSIST) && tcb_unsent(c) > 0 &&
	    c->snd_nxt == c->snd_una) {
		c->flags |= TF_PERSIST;
		c->flags &= ~TF_PTO;
		dl_tcp_set_rtx(t, c, now + dl_tcp_rto_backed_off(t, c));
	}
}
