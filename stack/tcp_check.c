/*
 * tcp_check.c - the consistency check of a net core's TCP state (see
 * dl_tcp_check.h). Read-only; reports the first violation it finds.
 */
#include "dl_tcp_check.h"
#include "dl_tcp.h"

#include <stdarg.h>
#include <stdio.h>

struct ck {
	const struct dl_tcp *t;
	char *why;
	size_t len;
};

__attribute__((format(printf, 3, 4))) static int fail(struct ck *k, const struct dl_tcb *c,
						      const char *fmt, ...)
{
	va_list ap;
	int at = 0;

	if (k->len == 0)
		return -1;
	if (c != NULL)
		at = snprintf(k->why, k->len, "conn %#x %s: ", c->id, dl_tcp_state_name(c->state));
	if (at < 0 || (size_t)at >= k->len)
		return -1;
	va_start(ap, fmt);
	vsnprintf(k->why + at, k->len - (size_t)at, fmt, ap);
	va_end(ap);
	return -1;
}

static bool in_use(const struct dl_tcb *c)
{
	return c->state != DL_TCP_CLOSED || (c->flags & TF_FREE);
}

/* Byte offset of @p pos from the send queue's head, or -1 if it is not in the queue. */
static int64_t sq_offset(const struct dl_tcb *c, const struct dl_tcp_sqpos *pos)
{
	const struct dl_tcp_chunk *k = c->sq_head.c;
	unsigned i = c->sq_head.i;
	int64_t off = -(int64_t)c->sq_head.off;

	for (; k != NULL; k = k->next, i = 0) {
		for (; i < k->n; i++) {
			if (k == pos->c && i == pos->i)
				return pos->off <= k->f[i].len ? off + pos->off : -1;
			off += k->f[i].len;
		}
		if (k == pos->c && pos->i == k->n && pos->off == 0)
			return off; /* one past the last fragment of the chunk */
	}
	return -1;
}

static int check_sendq(struct ck *k, const struct dl_tcb *c, uint32_t *chunks)
{
	const struct dl_tcp_chunk *ch = c->sq_head.c, *last = NULL;
	uint64_t bytes = 0;
	uint32_t frags = 0;
	unsigned i = c->sq_head.i;

	*chunks = 0;
	if (ch == NULL) {
		if (c->sq_bytes != 0 || c->sq_nfrags != 0 || c->sq_tail != NULL)
			return fail(k, c, "empty send queue with sq_bytes %u, sq_nfrags %u",
				    c->sq_bytes, c->sq_nfrags);
		return 0;
	}
	if (i >= ch->n || c->sq_head.off >= ch->f[i].len)
		return fail(k, c, "send queue head at fragment %u (of %u), offset %u", i, ch->n,
			    c->sq_head.off);
	for (; ch != NULL; ch = ch->next, i = 0) {
		if (ch->n == 0 || ch->n > DL_TCP_CHUNK_FRAGS)
			return fail(k, c, "send queue chunk with %u fragments", ch->n);
		for (; i < ch->n; i++) {
			if (ch->f[i].len == 0 || ch->f[i].data == NULL)
				return fail(k, c, "empty send queue fragment");
			bytes += ch->f[i].len;
			frags++;
		}
		last = ch;
		++*chunks;
		if (*chunks > k->t->chunks_used)
			return fail(k, c, "send queue longer than the chunks in use (a loop?)");
	}
	bytes -= c->sq_head.off;
	if (last != c->sq_tail)
		return fail(k, c, "sq_tail is not the last chunk");
	if (bytes != c->sq_bytes || frags != c->sq_nfrags)
		return fail(k, c, "send queue holds %llu bytes in %u fragments, counted %u in %u",
			    (unsigned long long)bytes, frags, c->sq_bytes, c->sq_nfrags);
	return 0;
}

static int check_send(struct ck *k, const struct dl_tcb *c, uint32_t *chunks)
{
	uint32_t end = c->sq_seq + c->sq_bytes + ((c->flags & TF_FIN_SENT) ? 1u : 0u);

	if (!seq_le(c->iss, c->snd_una) || !seq_le(c->snd_una, c->snd_nxt) ||
	    !seq_le(c->snd_nxt, c->snd_max) || !seq_le(c->snd_max, end))
		return fail(k, c,
			    "send space out of order: iss %u una %u nxt %u max %u queue end %u",
			    c->iss, c->snd_una, c->snd_nxt, c->snd_max, end);
	if (c->snd_una == c->iss) {
		if (c->sq_seq != c->iss + 1)
			return fail(k, c, "SYN unacknowledged but sq_seq %u (iss %u)", c->sq_seq,
				    c->iss);
	} else if (c->sq_seq != c->snd_una &&
		   !(c->sq_bytes == 0 && (c->flags & TF_FIN_SENT) && c->snd_una == c->sq_seq + 1)) {
		return fail(k, c, "sq_seq %u is not snd_una %u (sq_bytes %u)", c->sq_seq,
			    c->snd_una, c->sq_bytes);
	}
	if (check_sendq(k, c, chunks) != 0)
		return -1;
	if (c->sq_bytes > 0) {
		uint32_t want = seq_gt(c->snd_nxt, c->sq_seq)
				    ? min_u32(c->snd_nxt - c->sq_seq, c->sq_bytes)
				    : 0;
		int64_t at = sq_offset(c, &c->sq_cur);
		if (at != (int64_t)want)
			return fail(k, c, "sq_cur at byte %lld of the queue, snd_nxt says %u",
				    (long long)at, want);
	}
	return 0;
}

static int check_recv(struct ck *k, const struct dl_tcb *c, uint32_t *nbufs)
{
	const struct dl_tcp_rxb *b;
	uint64_t held = 0, ooo_bytes = 0;
	uint32_t n = 0, ooo = 0;

	for (b = c->rx_head; b != NULL; b = b->next) {
		if (b->len == 0)
			return fail(k, c, "empty in-order RX buffer");
		if (b->next != NULL && b->seq + b->len != b->next->seq)
			return fail(k, c, "in-order RX buffers not contiguous (%u+%u, then %u)",
				    b->seq, b->len, b->next->seq);
		if (b->next == NULL && b != c->rx_tail)
			return fail(k, c, "rx_tail is not the last in-order buffer");
		held += b->len;
		if (++n > 65536)
			return fail(k, c, "in-order RX list loops");
	}
	if (c->rx_head == NULL) {
		if (c->rx_tail != NULL || c->rx_head_off != 0 || c->rx_held != 0 ||
		    c->rx_unret != 0)
			return fail(k, c, "no in-order buffer but rx_held %u, rx_unret %u, off %u",
				    c->rx_held, c->rx_unret, c->rx_head_off);
	} else {
		uint32_t tail_end = c->rx_tail->seq + c->rx_tail->len;
		uint32_t fin = (c->flags & TF_FIN_RCVD) ? 1u : 0u;

		if (c->rx_head_off >= c->rx_head->len)
			return fail(k, c, "rx_head_off %u past the head buffer (%u bytes)",
				    c->rx_head_off, c->rx_head->len);
		held -= c->rx_head_off;
		if (!(c->flags & TF_SHUT_RD) ? tail_end + fin != c->rcv_nxt
					     : !seq_le(tail_end + fin, c->rcv_nxt))
			return fail(k, c, "in-order data ends at %u, rcv_nxt %u", tail_end,
				    c->rcv_nxt);
	}
	if (held != c->rx_held || c->rx_unret > c->rx_held)
		return fail(k, c, "in-order buffers hold %llu bytes; rx_held %u, rx_unret %u",
			    (unsigned long long)held, c->rx_held, c->rx_unret);
	for (b = c->ooo_head; b != NULL; b = b->next) {
		if (b->len == 0)
			return fail(k, c, "empty out-of-order RX buffer");
		if (b->next != NULL && !seq_lt(b->seq + b->len - 1, b->next->seq))
			return fail(k, c,
				    "out-of-order buffers overlap or unsorted (%u+%u, then %u)",
				    b->seq, b->len, b->next->seq);
		ooo_bytes += b->len;
		if (++ooo > 65536)
			return fail(k, c, "out-of-order RX list loops");
	}
	if (ooo != c->ooo_segs || ooo_bytes != c->ooo_bytes)
		return fail(k, c, "out-of-order list holds %u segments, %llu bytes; counted %u, %u",
			    ooo, (unsigned long long)ooo_bytes, c->ooo_segs, c->ooo_bytes);
	if (n + ooo != c->rx_nbufs)
		return fail(k, c, "%u RX buffers held, rx_nbufs %u", n + ooo, c->rx_nbufs);
	if (c->rx_nbufs > k->t->rx_bufs_max || c->ooo_segs > k->t->p.ooo_max_segs ||
	    c->ooo_bytes > k->t->p.ooo_max_bytes)
		return fail(k, c,
			    "RX limits exceeded: %u buffers, %u out-of-order segments, %u bytes",
			    c->rx_nbufs, c->ooo_segs, c->ooo_bytes);
	if (c->app == DL_APP_NONE && c->rx_unret != 0)
		return fail(k, c, "%u bytes delivered before accept", c->rx_unret);
	*nbufs = n + ooo;
	return 0;
}

static int check_timers(struct ck *k, const struct dl_tcb *c)
{
	const struct dl_tcp *t = k->t;
	const uint64_t d[3] = {c->t_rtx, c->t_delack, c->t_idle};
	bool armed = dl_wheel_armed(&c->tn);
	bool sync = c->state == DL_TCP_ESTABLISHED || c->state == DL_TCP_FIN_WAIT_1 ||
		    c->state == DL_TCP_CLOSE_WAIT || c->state == DL_TCP_CLOSING ||
		    c->state == DL_TCP_LAST_ACK;

	for (int i = 0; i < 3; i++)
		if (d[i] != 0 && (!armed || c->tn.expires > d[i]))
			return fail(k, c, "deadline %d at %llu but the timer is %s (%llu)", i,
				    (unsigned long long)d[i], armed ? "later" : "not armed",
				    (unsigned long long)c->tn.expires);
	if ((c->state == DL_TCP_SYN_SENT || c->state == DL_TCP_SYN_RCVD) && c->t_rtx == 0)
		return fail(k, c, "no SYN retransmission timer");
	if (c->state == DL_TCP_TIME_WAIT && c->t_idle == 0)
		return fail(k, c, "TIME_WAIT without its 2*MSL timer");
	if (c->state == DL_TCP_FIN_WAIT_2 && (c->flags & TF_APP_CLOSED) && c->t_idle == 0)
		return fail(k, c, "closed FIN_WAIT_2 without its timeout");
	if (c->fl2 & TF2_PACE_WAIT) {
		/* output waits for the pacing rate: the timer wakes it at
		 * pace_next (a uint32_t microsecond clock) at the latest */
		uint64_t due = t->s->now + (uint32_t)(c->pace_next - (uint32_t)t->s->now);
		if (!(c->fl2 & TF2_PACED))
			return fail(k, c, "waits for pacing but is not paced");
		if (!armed || c->tn.expires > due)
			return fail(k, c, "waits for pacing until %llu but the timer is %s (%llu)",
				    (unsigned long long)due, armed ? "later" : "not armed",
				    (unsigned long long)c->tn.expires);
	}
	if (sync && c->t_rtx == 0 &&
	    (c->snd_max != c->snd_una ||
	     (!(c->fl2 & TF2_PACE_WAIT) &&
	      (tcb_unsent(c) > 0 || ((c->flags & TF_SHUT_WR) && !(c->flags & TF_FIN_SENT))))))
		return fail(
		    k, c,
		    "no retransmission/persist timer: una %u nxt %u max %u unsent %u wnd %u "
		    "cwnd %u flags %#x fl2 %#x",
		    c->snd_una, c->snd_nxt, c->snd_max, tcb_unsent(c), c->snd_wnd, c->cwnd, c->flags,
		    c->fl2);
	if (t->p.keepalive_us != 0 &&
	    (c->state == DL_TCP_ESTABLISHED || c->state == DL_TCP_CLOSE_WAIT) && c->t_idle == 0)
		return fail(k, c, "keepalive on but no idle timer");
	if (tcb_synchronized(c) && c->state != DL_TCP_TIME_WAIT && c->rcv_nxt != c->last_ack_sent &&
	    c->t_delack == 0)
		return fail(k, c,
			    "an ACK is owed (rcv_nxt %u, last sent %u) and no timer will send it",
			    c->rcv_nxt, c->last_ack_sent);
	return 0;
}

static int check_conn(struct ck *k, const struct dl_tcb *c, uint32_t idx, uint32_t *chunks,
		      uint32_t *nbufs)
{
	const struct dl_tcp *t = k->t;

	if (c->state == DL_TCP_CLOSED || c->state >= DL_TCP_NSTATES)
		return fail(k, c, "slot in use in state %u (flags %#x)", c->state, c->flags);
	if ((c->id & t->idx_mask) != idx)
		return fail(k, c, "id does not name slot %u", idx);
	if (dl_tcp_lookup((struct dl_tcp *)t, c->rip, c->lport, c->rport, NULL) != c)
		return fail(k, c, "the 4-tuple hash does not find it");
	if (c->busy != 0 || (c->flags & (TF_DEFERRED | TF_OUTPUT | TF_FREE | TF_DETACH)))
		return fail(k, c, "work pending after a flush (busy %u, flags %#x)", c->busy,
			    c->flags);
	if ((c->flags & TF_CLEANED) && c->state != DL_TCP_TIME_WAIT)
		return fail(k, c, "cleaned but not in TIME_WAIT");
	if ((c->flags & TF_LISTENER) && (c->lst == 0 || c->lst > t->nlst || c->app != DL_APP_NONE))
		return fail(k, c, "listener child with listener %u, app %u", c->lst, c->app);
	/* ECN state only on a connection that negotiated it (a CWR still
	 * owed may outlive its cut's window once a loss recovery took it) */
	if (c->ecn != 0 && (!(c->ecn & ECN_OK) || t->p.ecn == DL_TCP_ECN_OFF ||
			    (c->ecn & ~(ECN_OK | ECN_ECE | ECN_CWR_OUT | ECN_CWR))))
		return fail(k, c, "ECN state %#x (ecn=%u)", c->ecn, t->p.ecn);
	if (check_send(k, c, chunks) != 0 || check_recv(k, c, nbufs) != 0)
		return -1;
	if (tcb_synchronized(c) && c->state != DL_TCP_TIME_WAIT) {
		if (c->cwnd == 0 || c->mss == 0 || c->snd_wnd > c->max_snd_wnd)
			return fail(k, c, "cwnd %u, mss %u, snd_wnd %u (max %u)", c->cwnd, c->mss,
				    c->snd_wnd, c->max_snd_wnd);
		if (!seq_le(c->rcv_nxt, c->rcv_adv + 1) || !seq_le(c->rcv_edge, c->rcv_adv))
			return fail(k, c, "receive window: rcv_nxt %u, edge %u, highest edge %u",
				    c->rcv_nxt, c->rcv_edge, c->rcv_adv);
	}
	return check_timers(k, c);
}

int dl_stack_check(const struct dl_stack *s, char *why, size_t len)
{
	const struct dl_tcp *t = s->tcp;
	struct ck k = {t, why, len};
	uint64_t unret[DL_MAX_CORES] = {0};
	uint32_t conns = 0, chunks = 0, armed = 0, free_chunks = 0;
	uint32_t n_syn[256] = {0}, n_acc[256] = {0};
	uint64_t first = UINT64_MAX;

	if (len > 0)
		why[0] = '\0';
	if (t->def_head != NULL || t->flushing || t->upcall_depth != 0)
		return fail(&k, NULL,
			    "deferred work or an upcall in progress (call after a flush)");
	if (s->txq_n != 0)
		return fail(&k, NULL, "%u frames left in the transmit batch", s->txq_n);
	for (uint32_t i = 0; i < t->next_fresh; i++) {
		const struct dl_tcb *c = tcb_at(t, i);
		uint32_t ch = 0, nb = 0;

		if (dl_wheel_armed(&c->tn)) {
			armed++;
			if (c->tn.expires < first)
				first = c->tn.expires;
		}
		if (!in_use(c)) {
			if (dl_wheel_armed(&c->tn))
				return fail(&k, c, "free slot %u with its timer armed", i);
			continue;
		}
		conns++;
		if (check_conn(&k, c, i, &ch, &nb) != 0)
			return -1;
		chunks += ch;
		if (c->app < DL_MAX_CORES)
			unret[c->app] += c->rx_unret;
		if (c->flags & TF_LISTENER) {
			if (c->state == DL_TCP_SYN_RCVD)
				n_syn[c->lst - 1]++;
			else
				n_acc[c->lst - 1]++;
		}
	}
	if (conns != t->nconns)
		return fail(&k, NULL, "%u connections in use, nconns %u", conns, t->nconns);
	for (const struct dl_tcp_chunk *ch = t->chunk_free; ch != NULL; ch = ch->next)
		if (++free_chunks > t->chunks_total)
			break;
	if (chunks != t->chunks_used || free_chunks + chunks != t->chunks_total ||
	    t->chunks_used > t->chunks_max)
		return fail(&k, NULL,
			    "send-queue chunks: %u queued, %u free, counted %u used of %u (max %u)",
			    chunks, free_chunks, t->chunks_used, t->chunks_total, t->chunks_max);
	for (unsigned a = 0; a < DL_MAX_CORES; a++)
		if (unret[a] != t->app_unret[a])
			return fail(&k, NULL, "application core %u holds %llu bytes, counted %llu",
				    a, (unsigned long long)unret[a],
				    (unsigned long long)t->app_unret[a]);
	for (uint16_t i = 0; i < t->nlst; i++)
		if (n_syn[i] != t->lst[i].n_syn || n_acc[i] != t->lst[i].n_acc)
			return fail(&k, NULL,
				    "listener %u (port %u): %u SYN_RCVD and %u unaccepted, "
				    "counted %u and %u",
				    i, t->lst[i].port, n_syn[i], n_acc[i], t->lst[i].n_syn,
				    t->lst[i].n_acc);
	if (armed != dl_wheel_count(&t->wheel))
		return fail(&k, NULL, "%u timers armed, the wheel counts %zu", armed,
			    dl_wheel_count(&t->wheel));
	if (first != UINT64_MAX) {
		uint64_t tick = 1ull << DL_TCP_TICK_SHIFT;
		uint64_t fires = (first + tick - 1) & ~(tick - 1);
		if (dl_stack_next_deadline(s) > fires)
			return fail(&k, NULL, "next deadline %llu after the first timer (%llu)",
				    (unsigned long long)dl_stack_next_deadline(s),
				    (unsigned long long)first);
	}
	return 0;
}
