/*
 * test_tcp_net.c - crafted-segment tests of the rest of TCP for real
 * networks: CUBIC's window curve and HyStart++ (RFC 9438, RFC 9406),
 * cwnd restart after idle (RFC 5681 4.1), RTT from timestamps (RFC 7323
 * 4), ICMP errors and path MTU (RFC 1122 4.2.3.9, RFC 1191, RFC 5927),
 * simultaneous open (RFC 9293 figure 8), compact TIME_WAIT with a limit
 * and reuse by connect (RFC 6191), the core-wide receive limits (an
 * out-of-order flood from 64 peers), and the keyed connection table.
 */
#include "tcp_test.h"
#include "dl_tcp_cc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static int setup(void **state)
{
	*state = tf_new(NULL);
	return 0;
}

static int teardown(void **state)
{
	tf_free(*state);
	return 0;
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
#define MSS	1460u

static uint8_t big[400000];

static void fill_big(void)
{
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 131 + (i >> 8));
}

static void send_at(struct tf *f, uint32_t off, uint32_t len)
{
	struct dl_tx_frag fr = {big + off, len, DL_REGION_NONE};
	assert_int_equal(dl_stack_send(f->s, APP, f->id, &fr, 1), 0);
	tf_run(f);
}

/* Pop what the stack sent; @return data segments, their largest length in *max_len. */
static unsigned drain(struct tf *f, uint32_t *max_len)
{
	struct tseg r;
	unsigned n = 0;

	if (max_len != NULL)
		*max_len = 0;
	while (tf_recv(f, &r)) {
		if (r.len == 0)
			continue;
		n++;
		if (max_len != NULL && r.len > *max_len)
			*max_len = r.len;
	}
	return n;
}

static uint32_t conns(struct tf *f)
{
	struct dl_stack_tcp_mem m;
	dl_stack_tcp_mem(f->s, &m);
	return m.conns;
}

/* ---- CUBIC and HyStart++, driven directly ------------------------------------------- */

/* A bare TCB with CUBIC: mss 1000 bytes, cwnd, round trip rtt_us (0: no
 * sample yet), in its initial slow start; the clock at 10 s. */
static void cubic_tcb(struct tf *f, struct dl_tcb *c, uint32_t cwnd, uint32_t rtt_us)
{
	memset(c, 0, sizeof(*c));
	c->mss = 1000;
	c->cwnd = cwnd;
	c->ssthresh = DL_TCP_SSTHRESH_INIT;
	c->cc = DL_TCP_CC_CUBIC;
	c->min_rtt = rtt_us;
	c->srtt8 = rtt_us << 3;
	f->s->now = 10000000;
	dl_tcp_cubic.init(f->t, c);
}

/* RFC 9438: after a loss at W_max = 100 segments, cwnd = 0.7 W_max; the
 * window climbs a concave curve to W_max at K = cbrt(0.3 W_max / 0.4) =
 * 4.2 s, then convex beyond it. One window acknowledged per 100 ms RTT. */
static void test_cubic_window_follows_the_cubic_curve(void **state)
{
	struct tf *f = *state;
	struct dl_tcb c;
	uint32_t at_half = 0, at_k = 0, at_2k = 0;

	cubic_tcb(f, &c, 100000, 100000);
	c.ssthresh = dl_tcp_cubic.ssthresh(f->t, &c);
	assert_int_equal(c.ssthresh, (uint32_t)((100000ull * 717) >> 10)); /* beta 0.7 */
	c.cwnd = c.ssthresh;
	assert_int_equal(dl_tcp_cbrt(27), 3);
	assert_int_equal(dl_tcp_cbrt(1000000000000ull), 10000);
	for (int rtt = 1; rtt <= 84; rtt++) {
		f->s->now += 100000;
		dl_tcp_cubic.cong_avoid(f->t, &c, c.cwnd);
		if (rtt == 21)
			at_half = c.cwnd;
		if (rtt == 42)
			at_k = c.cwnd;
		if (rtt == 84)
			at_2k = c.cwnd;
	}
	/* W(K/2) = 100 - 0.4 * 2.1^3 = 96.3 segments (concave: near W_max early) */
	assert_true(at_half >= 93000 && at_half < 100000);
	assert_true(at_k >= 98000 && at_k <= 103000);
	/* W(2K) = 100 + 0.4 * 4.2^3 = 129.6 segments (convex: probing beyond) */
	assert_true(at_2k >= 120000 && at_2k <= 140000);
	/* fast convergence: a loss below the last W_max lowers W_max further */
	c.cwnd = 90000;
	dl_tcp_cubic.ssthresh(f->t, &c);
	assert_int_equal(((uint32_t *)c.ca)[1], (uint32_t)((90000ull * (1024 + 717)) >> 11));
}

/* RFC 9438 4.3: at a round trip of 100 us the cubic term adds nothing
 * for seconds, so the window follows the Reno-friendly estimate: alpha =
 * 0.53 segments per window acknowledged until it is back at cwnd_prior
 * (the window when the loss set ssthresh), then 1 segment per window. */
static void test_cubic_reno_friendly_alpha_one_past_cwnd_prior(void **state)
{
	struct tf *f = *state;
	struct dl_tcb c;
	uint32_t before, slow_steps = 0, fast_steps = 0;

	cubic_tcb(f, &c, 20000, 100);
	c.ssthresh = dl_tcp_cubic.ssthresh(f->t, &c);
	c.cwnd = c.ssthresh; /* 14,336: recovery ended at ssthresh */
	for (int rtt = 1; rtt <= 40; rtt++) {
		f->s->now += 100;
		before = c.cwnd;
		dl_tcp_cubic.cong_avoid(f->t, &c, c.cwnd);
		if (before + 1000 <= 20000) {
			/* below cwnd_prior: alpha = 542/1024 of a segment */
			assert_int_equal(c.cwnd - before, 529);
			slow_steps++;
		} else if (before >= 20000) {
			assert_int_equal(c.cwnd - before, 1000);
			fast_steps++;
		}
	}
	assert_true(slow_steps >= 9);
	assert_true(fast_steps >= 20);
	assert_true(c.cwnd > 40000);
}

/* RFC 9406: a round whose minimum RTT rose by more than
 * clamp(last / 8, 4 ms, 16 ms) enters conservative slow start (growth /
 * 4); after 5 rounds of it, slow start ends (ssthresh = cwnd). */
static void test_cubic_hystart_css_then_exit(void **state)
{
	struct tf *f = *state;
	struct dl_tcb c;

	cubic_tcb(f, &c, 10000, 0);
	c.snd_una = 1000;
	c.snd_max = 1000 + c.cwnd;
	dl_tcp_cubic.init(f->t, &c); /* its first round ends at snd_una */
	/* round 1: 8 samples of 10 ms */
	dl_tcp_cubic.cong_avoid(f->t, &c, 0);
	for (int k = 0; k < 8; k++)
		dl_tcp_cubic.rtt_sample(f->t, &c, 10000 + (uint32_t)k * 100);
	/* round 2: 8 samples of 15 ms: up more than 4 ms */
	c.snd_una = c.snd_max;
	c.snd_max += c.cwnd;
	dl_tcp_cubic.cong_avoid(f->t, &c, 0);
	for (int k = 0; k < 7; k++)
		dl_tcp_cubic.rtt_sample(f->t, &c, 15000);
	assert_int_equal(f->t->cnt[TCP_HYSTART_CSS], 0); /* 7 samples are not enough */
	dl_tcp_cubic.rtt_sample(f->t, &c, 15000);
	assert_int_equal(f->t->cnt[TCP_HYSTART_CSS], 1);
	uint32_t w = c.cwnd;
	dl_tcp_cubic.cong_avoid(f->t, &c, 4000);
	assert_int_equal(c.cwnd, w + 1000); /* a quarter of slow start */
	for (int r = 0; r < 5; r++) {
		c.snd_una = c.snd_max;
		c.snd_max += c.cwnd;
		dl_tcp_cubic.cong_avoid(f->t, &c, 1000);
		for (int k = 0; k < 8; k++)
			dl_tcp_cubic.rtt_sample(f->t, &c, 15000);
	}
	assert_int_equal(f->t->cnt[TCP_HYSTART_EXIT], 1);
	assert_int_equal(c.ssthresh, c.cwnd);
}

/* ---- cwnd after idle, and RTT from timestamps ---------------------------------------- */

/* RFC 5681 4.1: idle longer than the RTO, the window restarts at the
 * initial window: the next burst is IW, not the old window. */
static void test_established_cwnd_restart_after_idle(void **state)
{
	struct tf *f = *state;
	uint32_t iss1;

	fill_big();
	tf_open(f, false, -1);
	iss1 = f->p.ack;
	struct dl_tcb *c = tf_tcb(f, f->id);
	send_at(f, 0, 30000);
	assert_int_equal(drain(f, NULL), 10);
	f->p.ack = iss1 + 10 * MSS;
	tf_seg(f, DL_TCP_ACK, NULL, 0);
	drain(f, NULL);
	f->p.ack = iss1 + 30000;
	tf_seg(f, DL_TCP_ACK, NULL, 0);
	assert_true(c->cwnd > 14600);
	f->now += 3000000; /* idle 3 s > RTO */
	send_at(f, 30000, 100000);
	assert_int_equal(c->cwnd, 14600);
	assert_int_equal(drain(f, NULL), 10);
	assert_int_equal(tf_cnt(f, TCP_CWND_RESTART), 1);
}

static void edit_no_restart(struct dl_stack_config *c)
{
	c->tcp.restart_after_idle = false;
}

static void test_established_cwnd_kept_after_idle_when_off(void **state)
{
	struct tf *f = tf_new(edit_no_restart);
	uint32_t iss1;
	(void)state;

	fill_big();
	tf_open(f, false, -1);
	iss1 = f->p.ack;
	struct dl_tcb *c = tf_tcb(f, f->id);
	send_at(f, 0, 30000);
	drain(f, NULL);
	f->p.ack = iss1 + 10 * MSS;
	tf_seg(f, DL_TCP_ACK, NULL, 0);
	drain(f, NULL);
	f->p.ack = iss1 + 30000;
	tf_seg(f, DL_TCP_ACK, NULL, 0);
	uint32_t cwnd = c->cwnd;
	f->now += 3000000;
	send_at(f, 30000, 100000);
	assert_int_equal(c->cwnd, cwnd);
	assert_int_equal(tf_cnt(f, TCP_CWND_RESTART), 0);
	tf_free(f);
}

/* RFC 7323 4: each ACK echoing a timestamp gives an RTT sample (here the
 * ACKs the three timed segments do not cover), weighted per RFC 7323
 * appendix G; 10 ms away they agree with the timed ones. */
static void test_established_rtt_from_every_timestamp_echo(void **state)
{
	struct tf *f = *state;
	struct tseg r[16];
	unsigned n = 0;
	uint32_t iss1;

	fill_big();
	/* a handshake of 10 ms: SRTT starts there */
	struct tseg syn = {.seq = 1000,
			   .flags = DL_TCP_SYN,
			   .wnd = 65535,
			   .opts = DL_TCP_OPT_MSS | DL_TCP_OPT_TS,
			   .mss = 1460,
			   .tsval = 500};
	assert_int_equal(dl_stack_listen(f->s, OUR_PORT, 0), 0);
	tf_send(f, &syn);
	struct tseg sa;
	assert_true(tf_recv(f, &sa));
	f->p.ts = true;
	f->p.tsval = 500;
	f->p.ts_recent = sa.tsval;
	f->p.nxt = 1001;
	f->p.ack = sa.seq + 1;
	f->now += 10000;
	tf_seg(f, DL_TCP_ACK, NULL, 0);
	f->id = tf_last(f, EV_NEW_CONN)->id;
	iss1 = f->p.ack;
	struct dl_tcb *c = tf_tcb(f, f->id);
	send_at(f, 0, 10 * (MSS - 12));
	while (n < 16 && tf_recv(f, &r[n]))
		n++;
	assert_int_equal(n, 10);
	uint64_t s0 = tf_cnt(f, TCP_RTT_SAMPLES);
	f->now += 10000;
	for (unsigned k = 0; k < 10; k++) {
		f->p.ts_recent = r[k].tsval;
		f->p.ack = r[k].seq + r[k].len;
		tf_seg(f, DL_TCP_ACK, NULL, 0);
	}
	(void)iss1;
	assert_int_equal(tf_cnt(f, TCP_RTT_SAMPLES) - s0, 10);
	assert_int_equal(tf_cnt(f, TCP_RTT_SAMPLES_TS), 7);
	assert_true((c->srtt8 >> 3) >= 9000 && (c->srtt8 >> 3) <= 11000);
}

/* ---- ICMP errors and path MTU ------------------------------------------------------- */

static const uint8_t our_mac[6] = {2, 0, 0, 0, 0, 1};
static const uint8_t peer_mac[6] = {2, 0, 0, 0, 0, 2};
#define ROUTER_IP 0x0a0000feu

/* An ICMP error from a router quoting our segment (src us, dst the peer,
 * ports and sequence number). */
static void icmp_quote(struct tf *f, uint8_t type, uint8_t code, uint16_t mtu, uint16_t lport,
		       uint16_t rport, uint32_t seq, uint16_t quoted_len)
{
	uint8_t b[128];
	uint8_t *ip = b + 14, *icmp = ip + 20, *q = icmp + 8;
	struct dl_ipv4_hdr qh = {.ihl_bytes = 20,
				 .total_len = quoted_len,
				 .ttl = 63,
				 .proto = DL_IPPROTO_TCP,
				 .src = OUR_IP,
				 .dst = PEER_IP,
				 .frag = DL_IPV4_DF};
	struct dl_ipv4_hdr oh = {.ihl_bytes = 20,
				 .total_len = 20 + 8 + 28,
				 .ttl = 64,
				 .proto = DL_IPPROTO_ICMP,
				 .src = ROUTER_IP,
				 .dst = OUR_IP};
	uint16_t ck;

	memset(b, 0, sizeof(b));
	dl_eth_build(b, our_mac, peer_mac, DL_ETHERTYPE_IPV4);
	dl_ipv4_build(ip, &oh, true);
	icmp[0] = type;
	icmp[1] = code;
	dl_put16(icmp + 6, mtu);
	dl_ipv4_build(q, &qh, true);
	dl_put16(q + 20, lport);
	dl_put16(q + 22, rport);
	dl_put32(q + 24, seq);
	ck = (uint16_t)~dl_cksum_fold(dl_cksum_raw(icmp, 8 + 28));
	memcpy(icmp + 2, &ck, 2);
	assert_int_equal(dl_memwire_inject(f->w, 0, b, 14 + 20 + 8 + 28), 0);
	tf_run(f);
}

static uint32_t syn_out(struct tf *f, uint32_t *id, uint16_t *lport)
{
	struct tseg r;

	assert_int_equal(dl_stack_connect(f->s, APP, 9, PEER_IP, PEER_PORT, id), 0);
	tf_run(f);
	assert_true(tf_recv(f, &r));
	assert_int_equal(r.flags, DL_TCP_SYN);
	*lport = r.sport;
	return r.seq;
}

static void connect_fails_with(uint8_t code, int err)
{
	struct tf *f = tf_new(NULL);
	uint32_t id, iss;
	uint16_t lport;

	iss = syn_out(f, &id, &lport);
	icmp_quote(f, DL_ICMP_DEST_UNREACH, code, 0, lport, PEER_PORT, iss, 60);
	const struct tf_ev *e = tf_last(f, EV_CONNECT_FAILED);
	assert_non_null(e);
	assert_int_equal(e->val & 0xffffffffu, (uint64_t)err);
	assert_int_equal(e->val >> 32, 9); /* the cookie */
	assert_int_equal(conns(f), 0);
	assert_int_equal(tf_cnt(f, TCP_ICMP_CONNECT_FAILED), 1);
	tf_none(f);
	tf_free(f);
}

/* RFC 1122 4.2.3.9 / RFC 5461: an unreachable fails a connect at once. */
static void test_syn_sent_icmp_unreachable_fails_connect(void **state)
{
	(void)state;
	connect_fails_with(3, ECONNREFUSED);  /* port */
	connect_fails_with(1, EHOSTUNREACH);  /* host */
	connect_fails_with(0, ENETUNREACH);   /* net */
	connect_fails_with(13, EHOSTUNREACH); /* administratively prohibited */
}

/* RFC 5927 4.1: only a quote of the sequence number in flight counts. */
static void test_syn_sent_icmp_wrong_seq_ignored(void **state)
{
	struct tf *f = *state;
	uint32_t id, iss;
	uint16_t lport;

	iss = syn_out(f, &id, &lport);
	icmp_quote(f, DL_ICMP_DEST_UNREACH, 3, 0, lport, PEER_PORT, iss + 12345, 60);
	assert_null(tf_last(f, EV_CONNECT_FAILED));
	assert_int_equal(tf_tcb(f, id)->state, DL_TCP_SYN_SENT);
	assert_int_equal(tf_cnt(f, TCP_ICMP_BAD_SEQ), 1);
	/* nor one for another connection, nor a quote of someone else's */
	icmp_quote(f, DL_ICMP_DEST_UNREACH, 3, 0, lport + 1, PEER_PORT, iss, 60);
	assert_int_equal(tf_cnt(f, TCP_ICMP_NO_CONN), 1);
	assert_int_equal(tf_tcb(f, id)->state, DL_TCP_SYN_SENT);
}

/* A soft code (source route failed) while opening: the connect goes on;
 * when it times out it reports the soft error instead of ETIMEDOUT. */
static void test_syn_sent_icmp_soft_error_reported_at_timeout(void **state)
{
	struct tf *f = *state;
	uint32_t id, iss;
	uint16_t lport;

	iss = syn_out(f, &id, &lport);
	icmp_quote(f, DL_ICMP_DEST_UNREACH, 5, 0, lport, PEER_PORT, iss, 60);
	assert_null(tf_last(f, EV_CONNECT_FAILED));
	assert_int_equal(tf_cnt(f, TCP_ICMP_SOFT_ERR), 1);
	while (tf_last(f, EV_CONNECT_FAILED) == NULL)
		tf_next(f);
	assert_int_equal(tf_last(f, EV_CONNECT_FAILED)->val & 0xffffffffu, EOPNOTSUPP);
}

/* Established: unreachables are soft errors (RFC 1122): counted, kept. */
static void test_established_icmp_unreachable_is_soft(void **state)
{
	struct tf *f = *state;

	fill_big();
	tf_open(f, false, -1);
	send_at(f, 0, 3000);
	drain(f, NULL);
	icmp_quote(f, DL_ICMP_DEST_UNREACH, 1, 0, OUR_PORT, PEER_PORT, f->p.ack, 1500);
	assert_int_equal(tf_tcb(f, f->id)->state, DL_TCP_ESTABLISHED);
	assert_int_equal(tf_tcb(f, f->id)->soft_err, EHOSTUNREACH);
	assert_int_equal(tf_cnt(f, TCP_ICMP_SOFT_ERR), 1);
	assert_int_equal(tf_count(f, EV_REMOTE_CLOSED, ~0u), 0);
}

/* RFC 1191: frag-needed for a segment in flight lowers the path MTU; what
 * is in flight goes again in smaller segments, and so does what follows;
 * a new connection to the destination starts with it; no congestion
 * response. */
static void test_established_icmp_frag_needed_shrinks_segments(void **state)
{
	struct tf *f = *state;
	uint32_t iss1, maxlen;

	fill_big();
	tf_open(f, false, -1);
	iss1 = f->p.ack;
	struct dl_tcb *c = tf_tcb(f, f->id);
	uint32_t cwnd = c->cwnd;
	send_at(f, 0, 3 * MSS);
	assert_int_equal(drain(f, &maxlen), 3);
	assert_int_equal(maxlen, MSS);
	icmp_quote(f, DL_ICMP_DEST_UNREACH, 4, 1200, OUR_PORT, PEER_PORT, iss1 + MSS, 1500);
	assert_int_equal(c->mss, 1160);
	assert_int_equal(tf_cnt(f, TCP_PMTU_REDUCED), 1);
	/* the 3 * 1460 bytes in flight again, in 1160-byte segments */
	assert_int_equal(drain(f, &maxlen), 4);
	assert_int_equal(maxlen, 1160);
	assert_int_equal(c->cwnd, cwnd);
	assert_int_equal(tf_cnt(f, TCP_RTO), 0);
	/* a report that does not lower the MTU, or whose quote was small, is ignored */
	icmp_quote(f, DL_ICMP_DEST_UNREACH, 4, 1400, OUR_PORT, PEER_PORT, iss1, 1500);
	icmp_quote(f, DL_ICMP_DEST_UNREACH, 4, 1000, OUR_PORT, PEER_PORT, iss1, 900);
	assert_int_equal(c->mss, 1160);
	assert_int_equal(tf_cnt(f, TCP_PMTU_IGNORED), 2);
	/* below 552 it is taken as 552 */
	icmp_quote(f, DL_ICMP_DEST_UNREACH, 4, 300, OUR_PORT, PEER_PORT, iss1, 1200);
	assert_int_equal(c->mss, 512);
	drain(f, NULL);
	/* a new connection to the destination starts with the lowered MTU */
	f->p.port = PEER_PORT + 1;
	tf_open(f, false, -1);
	assert_int_equal(tf_tcb(f, f->id)->mss, 512);
}

/* ---- simultaneous open (RFC 9293 3.5, figure 8) --------------------------------------- */

static void test_syn_rcvd_simultaneous_open_syn_ack_completes(void **state)
{
	struct tf *f = *state;
	uint32_t id, iss;
	uint16_t lport;
	struct tseg r;

	iss = syn_out(f, &id, &lport);
	struct tseg syn = {.sport = PEER_PORT,
			   .dport = lport,
			   .seq = 7000,
			   .flags = DL_TCP_SYN,
			   .wnd = 5000,
			   .opts = DL_TCP_OPT_MSS,
			   .mss = 1000};
	tf_send(f, &syn); /* the SYNs crossed */
	tf_expect(f, DL_TCP_SYN | DL_TCP_ACK, iss, 7001);
	assert_int_equal(tf_tcb(f, id)->state, DL_TCP_SYN_RCVD);
	/* the peer answers our SYN with its own SYN-ACK, not a bare ACK */
	struct tseg sa = {.sport = PEER_PORT,
			  .dport = lport,
			  .seq = 7000,
			  .ack = iss + 1,
			  .flags = DL_TCP_SYN | DL_TCP_ACK,
			  .wnd = 5000,
			  .opts = DL_TCP_OPT_MSS,
			  .mss = 1000};
	tf_send(f, &sa);
	assert_int_equal(tf_tcb(f, id)->state, DL_TCP_ESTABLISHED);
	assert_int_equal(tf_count(f, EV_CONNECTED, id), 1);
	assert_int_equal(tf_cnt(f, TCP_SIMOPEN), 1);
	r = tf_expect(f, DL_TCP_ACK, iss + 1, 7001);
	assert_int_equal(r.len, 0);
	assert_int_equal(tf_tcb(f, id)->snd_wnd, 5000);
	/* before this, our SYN-ACK was sent again and nothing completed */
	assert_int_equal(tf_cnt(f, TCP_DROP_DUPLICATE), 0);
}

/* ---- compact TIME_WAIT -------------------------------------------------------------- */

/* Close connection f->id actively (our FIN first) into TIME_WAIT. */
static void close_to_time_wait(struct tf *f)
{
	struct tseg r;

	assert_int_equal(dl_stack_close(f->s, APP, f->id), 0);
	tf_run(f);
	assert_true(tf_recv(f, &r));
	assert_true(r.flags & DL_TCP_FIN);
	f->p.ack = r.seq + 1;
	tf_seg(f, DL_TCP_ACK | DL_TCP_FIN, NULL, 0);
	while (tf_recv(f, &r))
		;
}

static void edit_tw2(struct dl_stack_config *c)
{
	c->tcp.tw_max = 2;
}

static void test_time_wait_limit_evicts_oldest(void **state)
{
	struct tf *f = tf_new(edit_tw2);
	struct dl_stack_tcp_mem m;
	(void)state;

	for (uint16_t k = 0; k < 3; k++) {
		f->p.port = (uint16_t)(PEER_PORT + k);
		tf_open(f, false, -1);
		close_to_time_wait(f);
		assert_non_null(tf_tw(f));
	}
	dl_stack_tcp_mem(f->s, &m);
	assert_int_equal(m.time_wait, 2);
	assert_int_equal(m.conns, 0);
	assert_int_equal(tf_cnt(f, TCP_TW_ENTERED), 3);
	assert_int_equal(tf_cnt(f, TCP_TW_EVICTED), 1);
	f->p.port = PEER_PORT; /* the oldest went */
	assert_null(tf_tw(f));
	f->p.port = PEER_PORT + 2;
	assert_non_null(tf_tw(f));
	assert_true(sizeof(struct dl_tcp_tw) <= 40);
	tf_free(f);
}

static void edit_one_port(struct dl_stack_config *c)
{
	c->tcp.port_min = c->tcp.port_max = 40404;
}

/* RFC 6191 for connect: with timestamps, and a second after the last one
 * seen, a TIME_WAIT 4-tuple may carry a new connection whose ISS is past
 * the old one's sequence space. */
static void tw_reuse(bool ts)
{
	struct tf *f = tf_new(edit_one_port);
	uint32_t id, old_nxt;
	struct tseg r;

	tf_connect(f, ts, -1);
	tf_expect(f, DL_TCP_ACK, f->p.ack, f->p.nxt);
	old_nxt = f->p.ack + 1; /* after our FIN */
	close_to_time_wait(f);
	assert_non_null(tf_tw(f));
	assert_int_equal(dl_stack_connect(f->s, APP, 1, PEER_IP, PEER_PORT, &id), -EADDRNOTAVAIL);
	f->now += 1100000;
	tf_run(f);
	if (!ts) {
		assert_int_equal(dl_stack_connect(f->s, APP, 1, PEER_IP, PEER_PORT, &id),
				 -EADDRNOTAVAIL);
		tf_free(f);
		return;
	}
	assert_int_equal(dl_stack_connect(f->s, APP, 1, PEER_IP, PEER_PORT, &id), 0);
	assert_int_equal(tf_cnt(f, TCP_TW_REUSED_ACTIVE), 1);
	assert_null(tf_tw(f));
	tf_run(f);
	assert_true(tf_recv(f, &r));
	assert_int_equal(r.flags, DL_TCP_SYN);
	assert_int_equal(r.sport, 40404);
	assert_true(seq_gt(r.seq, old_nxt + 65535));
	tf_free(f);
}

static void test_time_wait_reused_by_connect_with_timestamps(void **state)
{
	(void)state;
	tw_reuse(true);
	tw_reuse(false);
}

/* ---- core-wide receive limits ------------------------------------------------------ */

/* 64 peers each park one-byte out-of-order segments (every other byte
 * of their window). Without a core-wide bound they pin more RX buffers
 * than the NIC has; with it they get ooo_core_bufs between them, a new
 * connection still gets its share, and the drops are counted. */
static unsigned ooo_flood(struct tf *f, unsigned peers, unsigned segs, bool *pool_ran_out)
{
	unsigned parked = 0;

	*pool_ran_out = false;
	f->auto_return = true;
	for (unsigned p = 0; p < peers; p++) {
		f->p.port = (uint16_t)(20000 + p);
		tf_open(f, false, -1);
		uint32_t base = f->p.nxt;
		f->no_run = true;
		for (unsigned k = 0; k < segs; k++) {
			struct tseg s = {.seq = base + 2 + 2 * k,
					 .ack = f->p.ack,
					 .flags = DL_TCP_ACK,
					 .wnd = 65535,
					 .data = (const uint8_t *)"x",
					 .len = 1};
			uint8_t fr[128];
			(void)fr;
			if (dl_memwire_pending(f->w, 0) >= 32)
				tf_run(f);
			if (dl_memwire_bufs_in_use(f->w) + 64 >= 8192) {
				*pool_ran_out = true;
				break;
			}
			tf_send(f, &s);
			parked++;
		}
		f->no_run = false;
		tf_run(f);
		struct tseg r;
		while (tf_recv(f, &r))
			;
		if (*pool_ran_out)
			break;
	}
	return parked;
}

static void edit_no_core_cap(struct dl_stack_config *c)
{
	c->tcp.ooo_core_bufs = 1u << 22;
	c->tcp.max_conns = 1024;
}

static void edit_core_cap(struct dl_stack_config *c)
{
	c->tcp.ooo_core_bufs = 2048;
	c->tcp.max_conns = 1024;
}

static void test_established_ooo_flood_64_peers_bounded(void **state)
{
	bool ran_out;
	(void)state;

	/* the control: without the bound the pool runs out */
	struct tf *g = tf_new(edit_no_core_cap);
	ooo_flood(g, 64, 190, &ran_out);
	assert_true(ran_out);
	tf_free(g);

	struct tf *f = tf_new(edit_core_cap);
	ooo_flood(f, 64, 190, &ran_out);
	assert_false(ran_out);
	assert_true(f->t->ooo_bufs <= 2048);
	assert_true(tf_cnt(f, TCP_DROP_OOO_CORE) > 0);
	assert_true(tf_cnt(f, TCP_OOO_EVICTED) > 0);
	/* every peer holds some, none more than the per-connection bound */
	assert_int_equal(f->t->ooo_conns, 64);
	/* a 65th connection: its in-order data and its own out-of-order
	 * segments are still taken */
	fill_big();
	f->p.port = 30000;
	tf_open(f, false, -1);
	uint32_t irs1 = f->p.nxt;
	unsigned rx0 = f->rx_len;
	uint64_t ooo0 = tf_cnt(f, TCP_RX_OOO);
	f->p.nxt = irs1 + 1000;
	tf_seg(f, DL_TCP_ACK, big + 1000, 1000);
	f->p.nxt = irs1 + 3000;
	tf_seg(f, DL_TCP_ACK, big + 3000, 1000);
	assert_int_equal(tf_cnt(f, TCP_RX_OOO), ooo0 + 2);
	f->p.nxt = irs1;
	tf_seg(f, DL_TCP_ACK, big, 1000);
	f->p.nxt = irs1 + 2000;
	tf_seg(f, DL_TCP_ACK, big + 2000, 1000);
	assert_int_equal(f->rx_len - rx0, 4000);
	assert_memory_equal(f->rx + rx0, big, 4000);
	tf_free(f);
}

static void edit_app_bufs2(struct dl_stack_config *c)
{
	c->tcp.app_rx_bufs = 2;
}

/* An application core holding app_rx_bufs buffers gets no more payload
 * (dropped, counted; the peer retransmits) until it returns some. */
static void test_established_app_rx_bufs_limit(void **state)
{
	struct tf *f = tf_new(edit_app_bufs2);
	struct tseg r;
	(void)state;

	fill_big();
	tf_open(f, false, -1);
	f->auto_return = false;
	uint32_t irs1 = f->p.nxt;
	tf_seg(f, DL_TCP_ACK, big, 100);
	tf_seg(f, DL_TCP_ACK, big + 100, 100);
	tf_seg(f, DL_TCP_ACK, big + 200, 100);
	assert_int_equal(f->rx_len, 200);
	assert_int_equal(tf_cnt(f, TCP_DROP_APP_BUFS), 1);
	assert_int_equal(f->t->app_bufs[APP], 2);
	while (tf_recv(f, &r))
		;
	assert_int_equal(r.ack, irs1 + 200);
	assert_int_equal(dl_stack_recv_done(f->s, APP, f->id, 200), 0);
	assert_int_equal(f->t->app_bufs[APP], 0);
	f->p.nxt = irs1 + 200;
	tf_seg(f, DL_TCP_ACK, big + 200, 100);
	assert_int_equal(f->rx_len, 300);
	tf_free(f);
}

/* ---- the connection table ------------------------------------------------------------ */

/* SipHash-1-3 over the whole 4-tuple: 65,536 tuples that differ only in
 * the peer's port spread like random keys (longest chain of a table of
 * 65,536 heads: about 8), and another key places them elsewhere. */
static void test_hash_keyed_over_the_whole_tuple(void **state)
{
	struct tf *f = *state;
	struct tf *g = tf_new(NULL);
	static uint16_t count[1u << 16];
	unsigned maxc = 0, same = 0;

	assert_int_equal(f->t->hmask, 65535);
	memset(count, 0, sizeof(count));
	for (uint32_t p = 0; p < 65536; p++) {
		uint32_t h = dl_tcp_tuple_hash(f->t, PEER_IP, 80, (uint16_t)p);
		if (++count[h] > maxc)
			maxc = count[h];
		same += h == dl_tcp_tuple_hash(g->t, PEER_IP, 80, (uint16_t)p);
	}
	assert_true(maxc <= 12);
	assert_true(same < 100); /* about 1 expected */
	/* every field counts */
	assert_int_not_equal(dl_tcp_tuple_hash(f->t, PEER_IP, 80, 1),
			     dl_tcp_tuple_hash(f->t, PEER_IP + 1, 80, 1));
	assert_int_not_equal(dl_tcp_tuple_hash(f->t, PEER_IP, 80, 1),
			     dl_tcp_tuple_hash(f->t, PEER_IP, 81, 1));
	tf_free(g);
}

/* ---- ECN (RFC 3168) -------------------------------------------------------------- */

static void edit_ecn_on(struct dl_stack_config *cfg)
{
	cfg->tcp.ecn = DL_TCP_ECN_ON;
}

static void edit_ecn_off(struct dl_stack_config *cfg)
{
	cfg->tcp.ecn = DL_TCP_ECN_OFF;
}

/* A peer's ECN-setup SYN gets an ECN-setup SYN-ACK (the default: accept);
 * new data then leaves ECT(0); a retransmission and a pure ACK do not. */
static void test_ecn_accepted_new_data_ect_only(void **state)
{
	struct tf *f = *state;
	struct tseg r;
	uint32_t id;

	f->p.ecn = true;
	id = tf_open(f, true, 2);
	assert_true(f->p.ecn_ok);
	assert_int_equal(tf_tcb(f, id)->ecn, ECN_OK);
	assert_int_equal(tf_cnt(f, TCP_ECN_CONNS), 1);
	fill_big();
	send_at(f, 0, 1000);
	assert_true(tf_recv(f, &r));
	assert_int_equal(r.len, 1000);
	assert_int_equal(r.tos & 3, DL_IP_ECT0);
	assert_int_equal(r.flags & (DL_TCP_ECE | DL_TCP_CWR), 0);
	tf_next(f); /* the RTO (no SACK: no probe) */
	assert_true(tf_recv(f, &r));
	assert_int_equal(r.len, 1000);
	assert_int_equal(r.tos & 3, 0);
	tf_seg(f, DL_TCP_ACK | DL_TCP_PSH, "x", 1);
	tf_next(f); /* the delayed ACK */
	assert_true(tf_recv(f, &r));
	assert_int_equal(r.len, 0);
	assert_int_equal(r.tos & 3, 0);
	assert_int_equal(r.flags, DL_TCP_ACK);
}

/* No ECN unless the peer asks (and not at all with ecn=off). */
static void test_ecn_only_when_asked_and_on(void **state)
{
	struct tf *f = *state, *g = tf_new(edit_ecn_off);
	struct tseg r;

	tf_open(f, true, 2);
	assert_false(f->p.ecn_ok);
	assert_int_equal(tf_tcb(f, f->id)->ecn, 0);
	g->p.ecn = true;
	tf_open(g, true, 2);
	assert_false(g->p.ecn_ok);
	assert_int_equal(tf_tcb(g, g->id)->ecn, 0);
	fill_big();
	send_at(f, 0, 1000);
	send_at(g, 0, 1000);
	assert_true(tf_recv(f, &r));
	assert_int_equal(r.tos & 3, 0);
	assert_true(tf_recv(g, &r));
	assert_int_equal(r.tos & 3, 0);
	assert_int_equal(tf_cnt(f, TCP_ECN_CONNS) + tf_cnt(g, TCP_ECN_CONNS), 0);
	tf_free(g);
}

/* Receiver: a CE mark is echoed at once, then on every ACK until the
 * peer's CWR (RFC 3168 6.1.3). */
static void test_ecn_ce_echoed_until_cwr(void **state)
{
	struct tf *f = *state;
	uint32_t id, seq;

	f->p.ecn = true;
	id = tf_open(f, true, 2);
	seq = tf_tcb(f, id)->snd_nxt;
	f->p.tos = DL_IP_CE;
	tf_seg(f, DL_TCP_ACK | DL_TCP_PSH, "ab", 2);
	tf_expect(f, DL_TCP_ACK | DL_TCP_ECE, seq, 1003); /* at once, not delayed */
	assert_int_equal(tf_cnt(f, TCP_ECN_RX_CE), 1);
	f->p.tos = DL_IP_ECT0;
	tf_seg(f, DL_TCP_ACK | DL_TCP_PSH, "cd", 2);
	tf_next(f);
	tf_expect(f, DL_TCP_ACK | DL_TCP_ECE, seq, 1005);
	tf_seg(f, DL_TCP_ACK | DL_TCP_PSH | DL_TCP_CWR, "ef", 2);
	tf_next(f);
	tf_expect(f, DL_TCP_ACK, seq, 1007);
	assert_int_equal(tf_cnt(f, TCP_ECN_RX_CE), 1);
	assert_int_equal(f->rx_len, 6);
}

/* An ECN connection (the peer asked) that sent segs segments' worth of
 * data, ECT(0) and without CWR: the segments that left (the initial
 * window at most), drained. */
static unsigned ecn_open_and_send(struct tf *f, uint32_t segs, struct dl_tcb **cp)
{
	struct tseg r;
	unsigned n = 0;

	f->p.ecn = true;
	*cp = tf_tcb(f, tf_open(f, true, 2));
	fill_big();
	send_at(f, 0, segs * (*cp)->mss);
	while (tf_recv(f, &r)) {
		assert_int_equal(r.tos & 3, DL_IP_ECT0);
		assert_int_equal(r.flags & DL_TCP_CWR, 0);
		n++;
	}
	return n;
}

/* Sender: an ECN-Echo reduces the window as CUBIC does for a loss, once
 * per window of data; the next new data carries CWR on one segment; the
 * next window's ECE reduces again (RFC 3168 6.1.2). */
static void test_ecn_ece_reduces_once_per_window_then_cwr(void **state)
{
	struct tf *f = *state;
	struct dl_tcb *c;
	struct tseg r;
	uint32_t una, cwnd0, mss, n, cwr = 0;

	assert_int_equal(ecn_open_and_send(f, 40, &c), 10); /* the initial window */
	mss = c->mss;
	una = c->snd_una;
	cwnd0 = c->cwnd;
	f->p.ack = una + 2 * mss;
	f->no_run = true;
	tf_seg(f, DL_TCP_ACK | DL_TCP_ECE, NULL, 0);
	f->p.ack = una + 4 * mss;
	tf_seg(f, DL_TCP_ACK | DL_TCP_ECE, NULL, 0); /* the same window: no second cut */
	f->no_run = false;
	tf_run(f);
	assert_int_equal(tf_cnt(f, TCP_ECN_REDUCTIONS), 1);
	assert_int_equal(c->ssthresh, (cwnd0 * 717) >> 10);
	assert_true(c->cwnd < cwnd0 * 3 / 4);
	/* what the ACKs let out: CWR on the first segment only, all ECT(0) */
	n = 0;
	while (tf_recv(f, &r)) {
		assert_int_equal(r.tos & 3, DL_IP_ECT0);
		if (r.flags & DL_TCP_CWR) {
			assert_int_equal(n, 0);
			assert_int_equal(r.len, mss);
			cwr++;
		}
		n++;
	}
	assert_true(n > 0);
	assert_int_equal(cwr, 1);
	assert_int_equal(tf_cnt(f, TCP_ECN_TX_CWR), 1);
	/* an ECE on the ACK of the old window's end still echoes the old
	 * mark (the peer had not seen our CWR when it sent it) */
	f->p.ack = una + 10 * mss;
	tf_seg(f, DL_TCP_ACK | DL_TCP_ECE, NULL, 0);
	assert_int_equal(tf_cnt(f, TCP_ECN_REDUCTIONS), 1);
	while (tf_recv(f, &r))
		;
	/* data sent after the reduction acknowledged: a new mark, a new cut */
	f->p.ack = c->snd_max;
	tf_seg(f, DL_TCP_ACK | DL_TCP_ECE, NULL, 0);
	assert_int_equal(tf_cnt(f, TCP_ECN_REDUCTIONS), 2);
}

/* A loss in the window an ECN-Echo cut: three duplicate ACKs still start
 * a fast retransmit (the cut's window is no recovery, RFC 6582's guard
 * does not apply), without a second cut (RFC 3168 6.1.2). No SACK. */
static void test_ecn_cut_then_loss_fast_retransmit(void **state)
{
	struct tf *f = *state;
	struct dl_tcb *c;
	struct tseg r;
	uint32_t una, mss, ssth;

	assert_int_equal(ecn_open_and_send(f, 10, &c), 10);
	mss = c->mss;
	una = c->snd_una;
	f->p.ack = una + mss;
	tf_seg(f, DL_TCP_ACK | DL_TCP_ECE, NULL, 0);
	assert_int_equal(tf_cnt(f, TCP_ECN_REDUCTIONS), 1);
	ssth = c->ssthresh;
	while (tf_recv(f, &r))
		;
	for (int i = 0; i < 3; i++) /* the second segment lost */
		tf_seg(f, DL_TCP_ACK, NULL, 0);
	assert_int_equal(tf_cnt(f, TCP_FAST_REXMIT), 1);
	assert_int_equal(c->ssthresh, ssth);
	assert_int_equal(tf_cnt(f, TCP_ECN_REDUCTIONS), 1);
	bool resent = false;
	while (tf_recv(f, &r))
		if (r.seq == una + mss && r.len == mss)
			resent = true;
	assert_true(resent);
}

/* Active open with ecn=on: an ECN-setup SYN; one retransmitted goes
 * without, and a SYN-ACK agreeing to the first then means no ECN. */
static void test_ecn_active_open_setup_syn(void **state)
{
	struct tf *f = tf_new(edit_ecn_on), *g = tf_new(edit_ecn_on);
	struct tseg syn;
	uint32_t id;
	(void)state;

	f->p.ecn = true;
	tf_connect(f, true, 2);
	assert_true(f->p.ecn_ok);
	assert_int_equal(tf_tcb(f, f->id)->ecn, ECN_OK);
	assert_int_equal(tf_cnt(f, TCP_ECN_CONNS), 1);

	assert_int_equal(dl_stack_connect(g->s, APP, 78, PEER_IP, PEER_PORT, &id), 0);
	tf_run(g);
	assert_true(tf_recv(g, &syn));
	assert_int_equal(syn.flags, DL_TCP_SYN | DL_TCP_ECE | DL_TCP_CWR);
	tf_next(g); /* the SYN's retransmission */
	assert_true(tf_recv(g, &syn));
	assert_int_equal(syn.flags, DL_TCP_SYN);
	struct tseg sa = {.seq = 5000,
			  .ack = syn.seq + 1,
			  .sport = PEER_PORT,
			  .dport = syn.sport,
			  .flags = DL_TCP_SYN | DL_TCP_ACK | DL_TCP_ECE,
			  .wnd = 65535,
			  .opts = DL_TCP_OPT_MSS,
			  .mss = 1460};
	tf_send(g, &sa);
	assert_int_equal(tf_tcb(g, id)->state, DL_TCP_ESTABLISHED);
	assert_int_equal(tf_tcb(g, id)->ecn, 0);
	assert_int_equal(tf_cnt(g, TCP_ECN_CONNS), 0);
	tf_free(f);
	tf_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_cubic_window_follows_the_cubic_curve),
	    T(test_cubic_hystart_css_then_exit),
	    T(test_cubic_reno_friendly_alpha_one_past_cwnd_prior),
	    T(test_established_cwnd_restart_after_idle),
	    cmocka_unit_test(test_established_cwnd_kept_after_idle_when_off),
	    T(test_established_rtt_from_every_timestamp_echo),
	    cmocka_unit_test(test_syn_sent_icmp_unreachable_fails_connect),
	    T(test_syn_sent_icmp_wrong_seq_ignored),
	    T(test_syn_sent_icmp_soft_error_reported_at_timeout),
	    T(test_established_icmp_unreachable_is_soft),
	    T(test_established_icmp_frag_needed_shrinks_segments),
	    T(test_syn_rcvd_simultaneous_open_syn_ack_completes),
	    cmocka_unit_test(test_time_wait_limit_evicts_oldest),
	    cmocka_unit_test(test_time_wait_reused_by_connect_with_timestamps),
	    cmocka_unit_test(test_established_ooo_flood_64_peers_bounded),
	    cmocka_unit_test(test_established_app_rx_bufs_limit),
	    T(test_hash_keyed_over_the_whole_tuple),
	    T(test_ecn_accepted_new_data_ect_only),
	    T(test_ecn_only_when_asked_and_on),
	    T(test_ecn_ce_echoed_until_cwr),
	    T(test_ecn_ece_reduces_once_per_window_then_cwr),
	    T(test_ecn_cut_then_loss_fast_retransmit),
	    cmocka_unit_test(test_ecn_active_open_setup_syn),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
