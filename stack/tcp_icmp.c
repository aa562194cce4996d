/*
 * tcp_icmp.c - ICMP errors for TCP connections (RFC 1122 4.2.3.9, RFC
 * 5927, RFC 5461) and path MTU discovery (RFC 1191).
 *
 * icmp.c hands over every destination unreachable, time exceeded and
 * parameter problem message whose quoted header is one of our TCP
 * segments (or hands the frame to the net core that owns the flow).
 * Before acting, RFC 5927's checks: the quote must be our IPv4 header
 * and at least the 8 bytes of TCP header with the ports and sequence
 * number, name a connection we have, and quote a sequence number that is
 * in flight (SND.UNA <= SEQ < SND.MAX; the ISS while opening), so a blind
 * attacker must guess it. Then:
 *
 *  - fragmentation needed (type 3 code 4, we always set DF): the path MTU
 *    of the destination drops to the reported next-hop MTU (a plateau
 *    below the quoted packet's length when the router reports 0, RFC 1191
 *    7; never below 552, as Linux's min_pmtu, so a forged report cannot
 *    shrink segments to nothing; ignored unless below the current estimate
 *    and smaller than the quoted packet). The connection's MSS follows at
 *    once and what is in flight is sent again at the new size, without a
 *    congestion response (the data did not meet congestion, it met a small
 *    link: RFC 1191 6.5, as Linux's tcp_simple_retransmit). New
 *    connections to the destination start with it for pmtu_expire_us
 *    (RFC 1191 6.3: 10 minutes), from a small per-core cache.
 *  - other unreachables, time exceeded, parameter problems: a connection
 *    being opened fails at once with the matching errno (ECONNREFUSED for
 *    port unreachable, EHOSTUNREACH for host unreachable or
 *    administratively prohibited, ENETUNREACH, ENOPROTOOPT, EHOSTDOWN ...:
 *    Linux's table), as the hard errors of RFC 1122 4.2.3.9 and common
 *    practice for the others during connection set-up (RFC 5461 4.1); on
 *    a synchronized connection they are soft errors (RFC 1122, RFC 5461):
 *    recorded, counted, reported if the connection later times out.
 *    Source route failed is soft everywhere; source quench is ignored
 *    (RFC 6633).
 */
#include "dl_tcp.h"

#include <errno.h>

/* RFC 1191 7: plateaus for routers that report no next-hop MTU. */
static const uint16_t plateaus[] = {32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68};

#define PMTU_MIN 552

static unsigned pmtu_slot(uint32_t ip)
{
	return (ip * 0x9e3779b1u) >> 24; /* 256 slots */
}

uint16_t dl_tcp_pmtu_get(const struct dl_tcp *t, uint32_t ip)
{
	const struct dl_tcp_pmtu *e = &t->pmtu[pmtu_slot(ip) % DL_TCP_PMTU_SLOTS];

	return e->ip == ip && e->expires > t->s->now ? e->mtu : 0;
}

static void pmtu_set(struct dl_tcp *t, uint32_t ip, uint16_t mtu)
{
	struct dl_tcp_pmtu *e = &t->pmtu[pmtu_slot(ip) % DL_TCP_PMTU_SLOTS];

	e->ip = ip;
	e->mtu = mtu;
	e->expires = t->s->now + t->p.pmtu_expire_us;
}

/* Linux's icmp_err_convert for destination unreachable codes: errno and
 * whether it is fatal while the connection is being opened. */
static int unreach_errno(uint8_t code, bool *hard)
{
	static const struct {
		int err;
		bool hard;
	} tab[16] = {
	    {ENETUNREACH, true},  /* 0 net */
	    {EHOSTUNREACH, true}, /* 1 host */
	    {ENOPROTOOPT, true},  /* 2 protocol */
	    {ECONNREFUSED, true}, /* 3 port */
	    {EMSGSIZE, false},	  /* 4 frag needed (handled apart) */
	    {EOPNOTSUPP, false},  /* 5 source route failed */
	    {ENETUNREACH, true},  /* 6 net unknown */
	    {EHOSTDOWN, true},	  /* 7 host unknown */
	    {ENONET, true},	  /* 8 source host isolated */
	    {ENETUNREACH, true},  /* 9 net prohibited */
	    {EHOSTUNREACH, true}, /* 10 host prohibited */
	    {ENETUNREACH, true},  /* 11 net for TOS */
	    {EHOSTUNREACH, true}, /* 12 host for TOS */
	    {EHOSTUNREACH, true}, /* 13 communication prohibited */
	    {EHOSTUNREACH, true}, /* 14 host precedence */
	    {EHOSTUNREACH, true}, /* 15 precedence cut-off */
	};

	if (code >= 16) {
		*hard = false;
		return EHOSTUNREACH;
	}
	*hard = tab[code].hard;
	return tab[code].err;
}

static void frag_needed(struct dl_tcp *t, struct dl_tcb *c, uint16_t mtu, uint16_t quoted_len)
{
	uint32_t opts = (c->flags & TF_TS) ? 12u : 0u, cur = c->mss + 40u + opts, mss;

	t->cnt[TCP_PMTU_FRAG_NEEDED]++;
	if (mtu == 0) {
		for (unsigned k = 0; k < sizeof(plateaus) / sizeof(plateaus[0]); k++)
			if (plateaus[k] < quoted_len) {
				mtu = plateaus[k];
				break;
			}
	}
	if (mtu < PMTU_MIN)
		mtu = PMTU_MIN;
	/* RFC 5927 7.2: the quoted packet must not have fit. */
	if (mtu >= cur || quoted_len <= mtu) {
		t->cnt[TCP_PMTU_IGNORED]++;
		return;
	}
	pmtu_set(t, c->rip, mtu);
	mss = mtu - 40u - opts;
	c->mss = (uint16_t)mss;
	c->tso_segs = c->tso_segs ? (uint8_t)min_u32(t->s->nic->tso_max / mss, 255) : 0;
	c->fl2 |= TF2_PMTU_LOWERED;
	t->cnt[TCP_PMTU_REDUCED]++;
	if (!tcb_synchronized(c) || c->snd_una == c->snd_max)
		return;
	/* Send what is in flight again, smaller; no congestion response. */
	c->rtp_n = 0;
	if (c->sb != NULL) {
		dl_tcp_sb_mark_all_lost(t, c, false);
		if (!(c->flags & TF_RECOVERY)) {
			c->flags |= TF_RECOVERY | TF_LOSS;
			c->recover = c->snd_max;
		}
	} else if (!(c->flags & TF_PERSIST)) {
		c->snd_nxt = c->snd_una;
		c->sq_cur = c->sq_head;
	}
	dl_tcp_want_output(t, c);
}

static void error_for(struct dl_tcp *t, struct dl_tcb *c, int err, bool hard)
{
	if (c->state == DL_TCP_SYN_SENT || (c->state == DL_TCP_SYN_RCVD && (c->flags & TF_ACTIVE))) {
		if (hard) {
			t->cnt[TCP_ICMP_CONNECT_FAILED]++;
			dl_tcp_reset_conn(t, c, DL_CLOSE_RESET, err);
			return;
		}
	} else if (c->state == DL_TCP_SYN_RCVD && hard) {
		/* Our SYN-ACK cannot reach the peer: forget the half-open one. */
		t->cnt[TCP_ICMP_CONNECT_FAILED]++;
		dl_tcp_close_now(t, c);
		return;
	}
	c->soft_err = (uint8_t)err;
	t->cnt[TCP_ICMP_SOFT_ERR]++;
}

void dl_tcp_icmp_error(struct dl_stack *s, uint8_t type, uint8_t code, uint16_t mtu,
		       const uint8_t *q, size_t qlen)
{
	struct dl_tcp *t = s->tcp;
	struct dl_tcp_tw *tw;
	struct dl_tcb *c;
	unsigned ihl;
	uint32_t dst, seq;
	uint16_t lport, rport, qtotal;
	bool in_flight, hard;
	int err;

	t->cnt[TCP_ICMP_RX]++;
	if (qlen < DL_IPV4_HLEN || (q[0] >> 4) != 4 || (ihl = (q[0] & 15u) * 4u) < DL_IPV4_HLEN ||
	    qlen < ihl + 8 || q[9] != DL_IPPROTO_TCP || dl_get32(q + 12) != s->cfg.ip) {
		t->cnt[TCP_ICMP_BAD_QUOTE]++;
		return;
	}
	qtotal = dl_get16(q + 2);
	dst = dl_get32(q + 16);
	lport = dl_get16(q + ihl);
	rport = dl_get16(q + ihl + 2);
	seq = dl_get32(q + ihl + 4);
	c = dl_tcp_lookup(t, dst, lport, rport, &tw);
	if (c == NULL) {
		t->cnt[TCP_ICMP_NO_CONN]++;
		return;
	}
	if (c->state == DL_TCP_SYN_SENT || c->state == DL_TCP_SYN_RCVD)
		in_flight = seq == c->iss;
	else
		in_flight = seq_ge(seq, c->snd_una) && seq_lt(seq, c->snd_max);
	if (!in_flight || c->state == DL_TCP_TIME_WAIT) {
		t->cnt[TCP_ICMP_BAD_SEQ]++;
		return;
	}
	switch (type) {
	case DL_ICMP_DEST_UNREACH:
		if (code == 4) {
			frag_needed(t, c, mtu, qtotal);
			return;
		}
		err = unreach_errno(code, &hard);
		error_for(t, c, err, hard);
		return;
	case DL_ICMP_TIME_EXCEEDED:
		error_for(t, c, EHOSTUNREACH, false);
		return;
	case DL_ICMP_PARAM_PROBLEM:
		error_for(t, c, EPROTO, true);
		return;
	default:
		t->cnt[TCP_ICMP_IGNORED]++; /* source quench (RFC 6633) and the rest */
		return;
	}
}
