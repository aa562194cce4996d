/*
 * tcp_info.c - read-only connection summaries (see dl_stack_info.h).
 *
 * The one file outside tcp_*.c that reads the control block, and only to
 * copy fields out: what telemetry shows follows the TCB here, in one
 * place, whatever the protocol files do.
 */
#include "dl_stack_info.h"
#include "dl_tcp.h"
#include "dl_tcp_cc.h"

#include <errno.h>
#include <string.h>

const char *dl_stack_conn_state_name(unsigned state)
{
	return dl_tcp_state_name(state);
}

static void fill(const struct dl_stack *s, const struct dl_tcp *t, const struct dl_tcb *c,
		 struct dl_stack_conn_info *o)
{
	memset(o, 0, sizeof(*o));
	o->id = c->id;
	o->slot = tcb_index(t, c);
	o->local_ip = s->cfg.ip;
	o->remote_ip = c->rip;
	o->local_port = c->lport;
	o->remote_port = c->rport;
	o->app = c->app;
	o->state = c->state;
	o->active = (c->flags & TF_ACTIVE) != 0;
	o->app_closed = (c->flags & TF_APP_CLOSED) != 0;
	o->mss = c->mss;
	o->cwnd = c->cwnd;
	o->ssthresh = c->ssthresh;
	o->srtt_us = c->srtt8 >> 3;
	o->rttvar_us = c->rttvar4 >> 2;
	o->rto_us = dl_tcp_rto_backed_off(t, c);
	o->in_flight = c->snd_max - c->snd_una;
	o->unsent = tcb_unsent(c);
	o->snd_wnd = c->snd_wnd;
	o->rcv_wnd = tcb_synchronized(c) ? dl_tcp_rcv_window(t, c) : 0;
	o->rx_held_app = c->rx_unret;
	o->rx_held = c->rx_held;
	o->ooo_bytes = c->ooo_bytes;
	o->dupacks = c->dupacks;
	o->backoff = c->backoff;
	o->cc = c->cc;
	o->min_rtt_us = c->min_rtt;
	if (c->cc == DL_TCP_CC_BBR && tcb_synchronized(c))
		dl_tcp_bbr_model(c, &o->bbr_bw, &o->bbr_min_rtt_us, &o->bbr_mode);
	o->paced = (c->fl2 & TF2_PACED) && tcb_synchronized(c);
	o->ecn = (c->ecn & ECN_OK) != 0;
	if (o->paced && tcb_paced_now(c))
		o->pacing_rate = dl_tcp_pacing_rate(t, c);
}

const char *dl_stack_bbr_mode_name(unsigned mode)
{
	static const char *const names[] = {"startup", "probe_bw", "probe_rtt", "drain"};

	return mode < sizeof(names) / sizeof(names[0]) ? names[mode] : "?";
}

const char *dl_stack_cc_name(unsigned cc)
{
	return cc < DL_TCP_CC_N ? dl_tcp_ccs[cc]->name : "?";
}

/* A slot that holds a live connection (not one queued to be freed). */
static bool live(const struct dl_tcb *c)
{
	return c->state != DL_TCP_CLOSED && !(c->flags & TF_FREE);
}

int64_t dl_stack_conn_next(const struct dl_stack *s, uint32_t slot, struct dl_stack_conn_info *out)
{
	const struct dl_tcp *t = s->tcp;

	for (uint32_t i = slot; t != NULL && i < t->next_fresh; i++) {
		const struct dl_tcb *c = tcb_at(t, i);
		if (live(c)) {
			fill(s, t, c, out);
			return i;
		}
	}
	return -1;
}

int dl_stack_conn_get(const struct dl_stack *s, uint32_t id, struct dl_stack_conn_info *out)
{
	const struct dl_tcp *t = s->tcp;
	uint32_t idx;
	const struct dl_tcb *c;

	if (t == NULL)
		return -ENOENT;
	idx = id & t->idx_mask;
	if (idx >= t->next_fresh)
		return -ENOENT;
	c = tcb_at(t, idx);
	if (c->id != id || !live(c))
		return -ENOENT;
	fill(s, t, c, out);
	return 0;
}

uint32_t dl_stack_conn_count(const struct dl_stack *s)
{
	const struct dl_tcp *t = __atomic_load_n(&s->tcp, __ATOMIC_RELAXED);

	return t != NULL ? __atomic_load_n(&t->nconns, __ATOMIC_RELAXED) : 0;
}

int64_t dl_stack_tw_next(const struct dl_stack *s, uint64_t cursor, struct dl_stack_tw_info *out)
{
	const struct dl_tcp *t = s->tcp;
	uint32_t pos, now;

	if (t == NULL || t->tw_cap == 0)
		return -1;
	/* A cursor is a ring position + 1; positions wrap at 2^32, so one
	 * behind the head (popped since) starts at the head. */
	pos = cursor == DL_STACK_TW_FIRST ? t->tw_head : (uint32_t)(cursor - 1);
	if ((int32_t)(pos - t->tw_head) < 0)
		pos = t->tw_head;
	now = dl_tcp_ts_now(t);
	for (; pos != t->tw_tail; pos++) {
		const struct dl_tcp_tw *w = dl_tcp_tw_at(t, pos & (t->tw_cap - 1));
		int32_t left;
		if (!(w->fl & TW_LIVE))
			continue;
		left = (int32_t)(w->expire - now);
		memset(out, 0, sizeof(*out));
		out->local_ip = s->cfg.ip;
		out->remote_ip = w->rip;
		out->local_port = w->lport;
		out->remote_port = w->rport;
		out->expires_ms =
		    left > 0 ? (uint32_t)(((uint64_t)(uint32_t)left << DL_TCP_TS_SHIFT) / 1000u) : 0;
		out->timestamps = (w->fl & TW_TS) != 0;
		return (int64_t)(uint32_t)(pos + 1) + 1;
	}
	return -1;
}

uint32_t dl_stack_tw_count(const struct dl_stack *s)
{
	const struct dl_tcp *t = __atomic_load_n(&s->tcp, __ATOMIC_RELAXED);

	return t != NULL ? __atomic_load_n(&t->tw_live, __ATOMIC_RELAXED) : 0;
}
