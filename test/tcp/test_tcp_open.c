/*
 * test_tcp_open.c - crafted-segment tests of connection set-up: CLOSED,
 * LISTEN, SYN_RCVD and SYN_SENT (RFC 9293 3.5, 3.10.7.1-3.10.7.4), ISNs
 * (RFC 6528), options (MSS, RFC 7323), initial window (RFC 6928), SYN
 * backlog and retries. Each test feeds segments at a given virtual time
 * and asserts the exact reply and the counters (tcp_test.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tcp_test.h"

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

static uint32_t conns(struct tf *f)
{
	struct dl_stack_tcp_mem m;
	dl_stack_tcp_mem(f->s, &m);
	return m.conns;
}

/* ---- CLOSED ------------------------------------------------------------- */

static void test_closed_syn_gets_rst_ack(void **state)
{
	struct tf *f = *state;
	struct tseg s = {.seq = 100, .flags = DL_TCP_SYN, .wnd = 1000};

	tf_send(f, &s);
	struct tseg r = tf_expect(f, DL_TCP_RST | DL_TCP_ACK, 0, 101);
	assert_int_equal(r.sport, OUR_PORT);
	assert_int_equal(r.dport, PEER_PORT);
	assert_int_equal(r.wnd, 0);
	assert_int_equal(r.len, 0);
	assert_int_equal(r.opts, 0);
	assert_int_equal(tf_cnt(f, TCP_DROP_CLOSED_PORT), 1);
	tf_none(f);
}

static void test_closed_ack_gets_rst_at_ack(void **state)
{
	struct tf *f = *state;
	uint8_t data[10] = {0};
	struct tseg s = {
	    .seq = 100, .ack = 5555, .flags = DL_TCP_ACK | DL_TCP_PSH, .data = data, .len = 10};

	tf_send(f, &s);
	tf_expect(f, DL_TCP_RST, 5555, 0);
	tf_none(f);
}

static void test_closed_fin_data_rst_covers_length(void **state)
{
	struct tf *f = *state;
	uint8_t data[10] = {0};
	struct tseg s = {.seq = 100, .flags = DL_TCP_FIN, .data = data, .len = 10};

	tf_send(f, &s);
	tf_expect(f, DL_TCP_RST | DL_TCP_ACK, 0, 111); /* 10 bytes + FIN */
}

static void test_closed_rst_ignored(void **state)
{
	struct tf *f = *state;
	struct tseg s = {.seq = 100, .flags = DL_TCP_RST};

	tf_send(f, &s);
	tf_none(f);
	assert_int_equal(tf_cnt(f, TCP_DROP_CLOSED_PORT_RST), 1);
}

/* ---- segment validation ------------------------------------------------- */

static void test_closed_bad_checksum_dropped(void **state)
{
	struct tf *f = *state;
	struct tseg s = {.seq = 100, .flags = DL_TCP_SYN, .bad_csum = true};

	tf_send(f, &s);
	tf_none(f);
	assert_int_equal(tf_cnt(f, TCP_DROP_BAD_CSUM), 1);
	assert_int_equal(tf_cnt(f, TCP_DROP_CLOSED_PORT), 0);
}

static void test_closed_zero_port_dropped(void **state)
{
	struct tf *f = *state;
	struct tseg s = {.seq = 100, .flags = DL_TCP_SYN, .sport = 0, .dport = 0};

	f->p.port = 0;
	f->p.our_port = 0;
	tf_send(f, &s);
	tf_none(f);
	assert_int_equal(tf_cnt(f, TCP_DROP_BAD_PORT), 1);
}

/* A segment whose bytes are wrong in place: raw frame with a hook. */
static void send_raw(struct tf *f, uint8_t *tcp, size_t tcp_len)
{
	uint8_t b[256];
	struct dl_ipv4_hdr iph = {.ihl_bytes = 20,
				  .total_len = (uint16_t)(20 + tcp_len),
				  .ttl = 64,
				  .proto = DL_IPPROTO_TCP,
				  .src = PEER_IP,
				  .dst = OUR_IP};
	static const uint8_t our_mac[6] = {2, 0, 0, 0, 0, 1}, peer_mac[6] = {2, 0, 0, 0, 0, 2};

	dl_eth_build(b, our_mac, peer_mac, DL_ETHERTYPE_IPV4);
	dl_ipv4_build(b + 14, &iph, true);
	tcp[16] = tcp[17] = 0;
	uint64_t sum =
	    dl_cksum_pseudo(htonl(PEER_IP), htonl(OUR_IP), DL_IPPROTO_TCP, (uint16_t)tcp_len) +
	    dl_cksum_raw(tcp, tcp_len);
	uint16_t c = (uint16_t)~dl_cksum_fold(sum);
	memcpy(tcp + 16, &c, 2);
	memcpy(b + 34, tcp, tcp_len);
	size_t len = 34 + tcp_len < 60 ? 60 : 34 + tcp_len;
	memset(b + 34 + tcp_len, 0, len - 34 - tcp_len);
	assert_int_equal(dl_memwire_inject(f->w, 0, b, len), 0);
	tf_run(f);
}

static void test_closed_malformed_headers_dropped(void **state)
{
	struct tf *f = *state;
	uint8_t seg[40];
	struct dl_tcp_hdr h = {
	    .sport = PEER_PORT, .dport = OUR_PORT, .seq = 1, .flags = DL_TCP_SYN};

	dl_tcp_build(seg, &h);
	seg[12] = 0x40; /* data offset 4 (< 5) */
	send_raw(f, seg, 20);
	seg[12] = 0xf0; /* data offset 15: 60 bytes in a 20-byte segment */
	send_raw(f, seg, 20);
	dl_tcp_build(seg, &h);
	seg[12] = 0x60; /* 24-byte header ... */
	seg[20] = DL_TCPOPT_MSS;
	seg[21] = 9; /* ... whose option runs past it */
	send_raw(f, seg, 24);
	seg[21] = 1; /* option length below 2 */
	send_raw(f, seg, 24);
	send_raw(f, seg, 12); /* shorter than a header */
	tf_none(f);
	assert_int_equal(tf_cnt(f, TCP_DROP_BAD_OFFSET), 2);
	assert_int_equal(tf_cnt(f, TCP_DROP_BAD_OPTIONS), 2);
	assert_int_equal(tf_cnt(f, TCP_DROP_TRUNCATED), 1);
}

/* ---- LISTEN ---------------------------------------------------------------- */

static void test_listen_syn_gets_syn_ack_with_options(void **state)
{
	struct tf *f = *state;
	struct tseg s = {.seq = 1000,
			 .flags = DL_TCP_SYN,
			 .wnd = 29200,
			 .opts = DL_TCP_OPT_MSS | DL_TCP_OPT_WS | DL_TCP_OPT_TS | DL_TCP_OPT_SACKOK,
			 .mss = 1400,
			 .ws = 6,
			 .tsval = 777};
	uint32_t ts_off, iss;

	assert_int_equal(dl_stack_listen(f->s, OUR_PORT, 0), 0);
	tf_send(f, &s);
	iss = dl_tcp_isn(f->t, PEER_IP, OUR_PORT, PEER_PORT, &ts_off);
	struct tseg r = tf_expect(f, DL_TCP_SYN | DL_TCP_ACK, iss, 1001);
	/* MSS = MTU - 40, our shift, timestamps echoed, SACK permitted */
	assert_int_equal(r.opts,
			 DL_TCP_OPT_MSS | DL_TCP_OPT_WS | DL_TCP_OPT_TS | DL_TCP_OPT_SACKOK);
	assert_int_equal(r.mss, 1460);
	assert_int_equal(r.ws, 7);
	assert_int_equal(r.tsecr, 777);
	assert_int_equal(r.tsval, (uint32_t)(f->now >> DL_TCP_TS_SHIFT) + ts_off);
	assert_int_equal(r.wnd, 65535); /* SYN windows are never scaled */
	assert_int_equal(r.len, 0);
	tf_none(f);
	struct dl_tcb *c = dl_tcp_lookup(f->t, PEER_IP, OUR_PORT, PEER_PORT, NULL);
	assert_non_null(c);
	assert_int_equal(c->state, DL_TCP_SYN_RCVD);
	assert_int_equal(c->snd_ws, 6);
	assert_int_equal(c->rcv_ws, 7);
	assert_int_equal(c->mss, 1400 - 12); /* peer's MSS minus the timestamp option */
	assert_int_equal(c->snd_wnd, 29200);
	assert_int_equal(tf_count(f, EV_NEW_CONN, ~0u), 0);
}

static void test_listen_syn_without_options_defaults(void **state)
{
	struct tf *f = *state;
	struct tseg s = {.seq = 1000, .flags = DL_TCP_SYN, .wnd = 8192};

	assert_int_equal(dl_stack_listen(f->s, OUR_PORT, 0), 0);
	tf_send(f, &s);
	struct tseg r;
	assert_true(tf_recv(f, &r));
	assert_int_equal(r.flags, DL_TCP_SYN | DL_TCP_ACK);
	assert_int_equal(r.opts, DL_TCP_OPT_MSS); /* nothing the peer did not offer */
	struct dl_tcb *c = dl_tcp_lookup(f->t, PEER_IP, OUR_PORT, PEER_PORT, NULL);
	assert_int_equal(c->mss, 536); /* RFC 9293 3.7.1 default */
	assert_int_equal(c->snd_ws, 0);
	assert_int_equal(c->rcv_ws, 0);
	assert_false(c->flags & (TF_TS | TF_WS));
}

static void test_listen_ack_gets_rst(void **state)
{
	struct tf *f = *state;
	struct tseg s = {.seq = 1000, .ack = 4242, .flags = DL_TCP_ACK};

	assert_int_equal(dl_stack_listen(f->s, OUR_PORT, 0), 0);
	tf_send(f, &s);
	tf_expect(f, DL_TCP_RST, 4242, 0);
	assert_int_equal(tf_cnt(f, TCP_DROP_LISTEN_ACK), 1);
	assert_int_equal(conns(f), 0);
}

static void test_listen_rst_ignored(void **state)
{
	struct tf *f = *state;
	struct tseg s = {.seq = 1000, .flags = DL_TCP_RST};

	assert_int_equal(dl_stack_listen(f->s, OUR_PORT, 0), 0);
	tf_send(f, &s);
	s.flags = DL_TCP_FIN; /* neither SYN, ACK nor RST */
	tf_send(f, &s);
	tf_none(f);
	assert_int_equal(tf_cnt(f, TCP_DROP_LISTEN_RST), 1);
	assert_int_equal(tf_cnt(f, TCP_DROP_LISTEN_NO_SYN), 1);
}

static void test_listen_syn_data_not_acked(void **state)
{
	struct tf *f = *state;
	uint8_t d[10] = "0123456789";
	struct tseg s = {.seq = 1000, .flags = DL_TCP_SYN, .wnd = 8192, .data = d, .len = 10};

	assert_int_equal(dl_stack_listen(f->s, OUR_PORT, 0), 0);
	tf_send(f, &s);
	struct tseg r;
	assert_true(tf_recv(f, &r));
	assert_int_equal(r.ack, 1001); /* the SYN only: the peer sends the data again */
	assert_int_equal(tf_cnt(f, TCP_IGN_SYN_DATA), 1);
}

static void edit_backlog8(struct dl_stack_config *c)
{
	c->tcp.syn_backlog = 8;
	c->tcp.syn_retries = 2;
}

static void edit_backlog8_no_cookies(struct dl_stack_config *c)
{
	edit_backlog8(c);
	c->tcp.syn_cookies = false;
}

/* 1000 SYNs from ports 1024.. (sequence number i * 1000), with the options
 * @p opts (MSS 1400, window scale 7, TSval 5 where offered) and the extra
 * control bits @p flags. */
static void syn_flood(struct tf *f, uint8_t opts, uint8_t flags)
{
	for (unsigned i = 0; i < 1000; i++) {
		struct tseg s = {.seq = i * 1000,
				 .flags = (uint8_t)(DL_TCP_SYN | flags),
				 .wnd = 1000,
				 .opts = opts,
				 .mss = 1400,
				 .ws = 7,
				 .tsval = 5,
				 .sport = (uint16_t)(1024 + i)};
		tf_send(f, &s);
	}
}

/* Without SYN cookies, a SYN flood cannot grow memory past the SYN backlog;
 * half-open connections expire after syn_retries SYN-ACKs. */
static void test_listen_syn_flood_bounded_by_backlog(void **state)
{
	struct tf *f = tf_new(edit_backlog8_no_cookies);
	struct dl_stack_tcp_mem m0, m1;
	(void)state;

	assert_int_equal(dl_stack_listen(f->s, OUR_PORT, 0), 0);
	dl_stack_tcp_mem(f->s, &m0);
	syn_flood(f, 0, 0);
	assert_int_equal(tf_pending(f), 8);
	assert_int_equal(conns(f), 8);
	assert_int_equal(tf_cnt(f, TCP_DROP_SYN_BACKLOG), 992);
	dl_stack_tcp_mem(f->s, &m1);
	assert_int_equal(m1.slab_bytes, m0.slab_bytes + 64 * sizeof(struct dl_tcb));
	while (tf_recv(f, &(struct tseg){0}))
		;
	/* 2 retransmissions, then gone */
	tf_next(f);
	assert_int_equal(tf_pending(f), 8);
	tf_next(f);
	assert_int_equal(tf_pending(f), 16);
	tf_next(f);
	assert_int_equal(conns(f), 0);
	assert_int_equal(tf_cnt(f, TCP_SYNRCVD_EXPIRED), 8);
	assert_int_equal(tf_count(f, EV_NEW_CONN, ~0u), 0);
	assert_int_equal(dl_stack_next_deadline(f->s), UINT64_MAX);
	tf_free(f);
}

/* With SYN cookies (the default), SYNs past the backlog get a SYN-ACK and
 * cost no memory; a client that completes the handshake gets its
 * connection, data included; a forged or stale cookie gets a RST. */
static void test_syn_cookies_under_flood(void **state)
{
	struct tf *f = tf_new(edit_backlog8);
	struct dl_stack_tcp_mem m0, m1;
	struct tseg r, cookie_synack = {0};
	(void)state;

	assert_int_equal(dl_stack_listen(f->s, OUR_PORT, 0), 0);
	dl_stack_tcp_mem(f->s, &m0);
	syn_flood(f, DL_TCP_OPT_MSS | DL_TCP_OPT_WS, 0);
	assert_int_equal(conns(f), 8); /* only the backlog holds state */
	assert_int_equal(tf_cnt(f, TCP_SYNCOOKIE_SENT), 992);
	assert_int_equal(tf_cnt(f, TCP_DROP_SYN_BACKLOG), 0);
	dl_stack_tcp_mem(f->s, &m1);
	assert_int_equal(m1.slab_bytes, m0.slab_bytes + 64 * sizeof(struct dl_tcb));
	unsigned n = 0;
	while (tf_recv(f, &r)) {
		assert_int_equal(r.flags, DL_TCP_SYN | DL_TCP_ACK);
		assert_int_equal(r.ack, (uint32_t)(r.dport - 1024) * 1000 + 1);
		if (r.dport == 1024 + 500)
			cookie_synack = r;
		n++;
	}
	assert_int_equal(n, 1000);
	/* The cookie SYN-ACK without timestamps offered: MSS only (1400 was
	 * rounded down to 1220). */
	assert_int_equal(cookie_synack.opts, DL_TCP_OPT_MSS);
	assert_int_equal(dl_tcp_cookie_check(f->t, PEER_IP, OUR_PORT, 1024 + 500, 500 * 1000,
					     cookie_synack.seq, DL_TCP_COOKIE_NO_TS),
			 1220);
	/* A forged cookie: RST, nothing created. */
	struct tseg bad = {.seq = 500 * 1000 + 1,
			   .ack = cookie_synack.seq + 2,
			   .flags = DL_TCP_ACK,
			   .wnd = 1000,
			   .sport = 1024 + 500};
	tf_send(f, &bad);
	assert_true(tf_recv(f, &r));
	assert_int_equal(r.flags, DL_TCP_RST);
	assert_int_equal(tf_cnt(f, TCP_SYNCOOKIE_FAILED), 1);
	assert_int_equal(conns(f), 8);
	/* The real client's ACK, with data: established, data delivered. */
	struct tseg ack = {.seq = 500 * 1000 + 1,
			   .ack = cookie_synack.seq + 1,
			   .flags = DL_TCP_ACK | DL_TCP_PSH,
			   .wnd = 1000,
			   .sport = 1024 + 500,
			   .data = (const uint8_t *)"hello",
			   .len = 5};
	tf_send(f, &ack);
	assert_int_equal(tf_cnt(f, TCP_SYNCOOKIE_OK), 1);
	assert_int_equal(tf_cnt(f, TCP_SYNCOOKIE_TS), 0);
	assert_int_equal(tf_count(f, EV_NEW_CONN, ~0u), 1);
	assert_int_equal(conns(f), 9);
	assert_int_equal(f->rx_len, 5);
	assert_memory_equal(f->rx, "hello", 5);
	const struct tf_ev *ev = tf_last(f, EV_NEW_CONN);
	struct dl_tcb *c = tf_tcb(f, ev->id);
	assert_non_null(c);
	assert_int_equal(c->state, DL_TCP_ESTABLISHED);
	assert_int_equal(c->mss, 1220);
	assert_int_equal(c->snd_ws, 0);
	assert_int_equal(c->rcv_ws, 0);
	assert_false(c->flags & TF_TS);
	tf_advance(f, 50 * 1000);    /* delayed ACK */
	assert_true(tf_recv(f, &r)); /* our ACK of the data: no options */
	assert_int_equal(r.flags, DL_TCP_ACK);
	assert_int_equal(r.seq, cookie_synack.seq + 1);
	assert_int_equal(r.ack, 500 * 1000 + 6);
	assert_int_equal(r.opts, 0);
	/* Two slots later (134 s) another client's cookie is stale. */
	struct tseg late = {
	    .seq = 501 * 1000 + 1,
	    .ack = dl_tcp_cookie(f->t, PEER_IP, OUR_PORT, 1024 + 501, 501 * 1000, 1460,
				 DL_TCP_COOKIE_NO_TS) +
		   1,
	    .flags = DL_TCP_ACK,
	    .wnd = 1000,
	    .sport = 1024 + 501};
	tf_advance(f, 2ull << DL_TCP_COOKIE_SLOT_SHIFT);
	while (tf_recv(f, &r))
		;
	tf_send(f, &late);
	assert_true(tf_recv(f, &r));
	assert_int_equal(r.flags, DL_TCP_RST);
	assert_int_equal(tf_cnt(f, TCP_SYNCOOKIE_OK), 1);
	tf_free(f);
}

/* A SYN offering timestamps: the cookie SYN-ACK agrees to window scaling,
 * SACK and ECN too, their bits in its TSval; the echo brings them back (a
 * forged echo fails, an ACK without it is dropped unanswered); the echo
 * of the made-up TSval gives no RTT sample. */
static void test_syn_cookies_keep_options_with_timestamps(void **state)
{
	struct tf *f = tf_new(edit_backlog8);
	const uint16_t port = 1024 + 500;
	uint32_t ts_off;
	struct tseg r, synack = {0};
	(void)state;

	assert_int_equal(dl_stack_listen(f->s, OUR_PORT, 0), 0);
	/* The connection's timestamp clock at a multiple of 64 ticks: the
	 * SYN-ACK's TSval (options 7 | SACK | ECN = 0x37) is 64 - 0x37 ticks
	 * behind it. */
	(void)dl_tcp_isn(f->t, PEER_IP, OUR_PORT, port, &ts_off);
	tf_advance(f, (uint64_t)((64 - ((dl_tcp_ts_now(f->t) + ts_off) & 63)) & 63)
			  << DL_TCP_TS_SHIFT);
	tf_advance(f, 1);
	while (tf_recv(f, &r))
		;
	syn_flood(f, DL_TCP_OPT_MSS | DL_TCP_OPT_WS | DL_TCP_OPT_TS | DL_TCP_OPT_SACKOK,
		  DL_TCP_ECE | DL_TCP_CWR);
	while (tf_recv(f, &r))
		if (r.dport == port)
			synack = r;
	assert_int_equal(tf_cnt(f, TCP_SYNCOOKIE_SENT), 992);
	assert_int_equal(synack.flags, DL_TCP_SYN | DL_TCP_ACK | DL_TCP_ECE);
	assert_int_equal(synack.opts,
			 DL_TCP_OPT_MSS | DL_TCP_OPT_WS | DL_TCP_OPT_TS | DL_TCP_OPT_SACKOK);
	assert_int_equal(synack.ws, f->t->p.wscale);
	assert_int_equal(synack.tsecr, 5);
	assert_int_equal(synack.tsval & 63, 7 | DL_TCP_COOKIE_SACK | DL_TCP_COOKIE_ECN);
	uint32_t clock = dl_tcp_ts_now(f->t) + ts_off;
	assert_int_equal(clock - synack.tsval, 64 - 0x37);
	assert_true(synack.seq & DL_TCP_COOKIE_TS_BIT);

	struct tseg ack = {.seq = 500 * 1000 + 1,
			   .ack = synack.seq + 1,
			   .flags = DL_TCP_ACK,
			   .wnd = 1000,
			   .opts = DL_TCP_OPT_TS,
			   .tsval = 6,
			   .tsecr = synack.tsval,
			   .sport = port};
	/* A forged echo claiming another window scale: RST, nothing made. */
	ack.tsecr = (synack.tsval & ~63u) | 14 | DL_TCP_COOKIE_SACK | DL_TCP_COOKIE_ECN;
	tf_send(f, &ack);
	assert_true(tf_recv(f, &r));
	assert_int_equal(r.flags, DL_TCP_RST);
	assert_int_equal(tf_cnt(f, TCP_SYNCOOKIE_FAILED), 1);
	/* No timestamp: it cannot be checked, dropped without an answer. */
	ack.opts = 0;
	tf_send(f, &ack);
	assert_false(tf_recv(f, &r));
	assert_int_equal(tf_cnt(f, TCP_DROP_NO_TS), 1);
	assert_int_equal(conns(f), 8);
	/* The real echo, with data. */
	ack.opts = DL_TCP_OPT_TS;
	ack.tsecr = synack.tsval;
	ack.flags |= DL_TCP_PSH;
	ack.data = (const uint8_t *)"hello";
	ack.len = 5;
	tf_send(f, &ack);
	assert_int_equal(tf_cnt(f, TCP_SYNCOOKIE_OK), 1);
	assert_int_equal(tf_cnt(f, TCP_SYNCOOKIE_TS), 1);
	assert_int_equal(f->rx_len, 5);
	struct dl_tcb *c = tf_tcb(f, tf_last(f, EV_NEW_CONN)->id);
	assert_non_null(c);
	assert_int_equal(c->state, DL_TCP_ESTABLISHED);
	assert_int_equal(c->flags & (TF_TS | TF_WS | TF_SACK), TF_TS | TF_WS | TF_SACK);
	assert_int_equal(c->snd_ws, 7);
	assert_int_equal(c->rcv_ws, f->t->p.wscale);
	assert_int_equal(c->ecn, ECN_OK);
	assert_int_equal(c->ts_off, ts_off);
	assert_int_equal(c->srtt8, 0);
	assert_int_equal(tf_cnt(f, TCP_RTT_SAMPLES_TS), 0);
	assert_int_equal(c->snd_wnd, 1000u << 7);
	assert_int_equal(tf_cnt(f, TCP_ECN_CONNS), 1);
	/* Our ACK of the data: timestamps on the connection's clock. */
	tf_advance(f, 50 * 1000);
	assert_true(tf_recv(f, &r));
	assert_int_equal(r.ack, 500 * 1000 + 6);
	assert_int_equal(r.opts, DL_TCP_OPT_TS);
	assert_int_equal(r.tsecr, 6);
	assert_true(r.tsval - synack.tsval >= 64 - 0x37 && r.tsval - synack.tsval < 200);
	tf_free(f);
}

/* A listener that never sent a cookie takes none, even a valid one. */
static void test_syn_cookie_only_after_sending(void **state)
{
	struct tf *f = *state;
	struct tseg r;
	uint32_t cookie;

	assert_int_equal(dl_stack_listen(f->s, OUR_PORT, 0), 0);
	cookie = dl_tcp_cookie(f->t, PEER_IP, OUR_PORT, PEER_PORT, 1000, 1460, DL_TCP_COOKIE_NO_TS);
	assert_int_equal(dl_tcp_cookie_check(f->t, PEER_IP, OUR_PORT, PEER_PORT, 1000, cookie,
					     DL_TCP_COOKIE_NO_TS),
			 1460);
	assert_int_equal(dl_tcp_cookie_check(f->t, PEER_IP, OUR_PORT, PEER_PORT, 1001, cookie,
					     DL_TCP_COOKIE_NO_TS),
			 0);
	assert_int_equal(dl_tcp_cookie_check(f->t, PEER_IP + 1, OUR_PORT, PEER_PORT, 1000, cookie,
					     DL_TCP_COOKIE_NO_TS),
			 0);
	/* The options are part of the MAC: another set, or a timestamp where
	 * there was none, fails. */
	uint32_t tsc = dl_tcp_cookie(f->t, PEER_IP, OUR_PORT, PEER_PORT, 1000, 1460, 7);
	assert_true(tsc & DL_TCP_COOKIE_TS_BIT);
	assert_int_equal(dl_tcp_cookie_check(f->t, PEER_IP, OUR_PORT, PEER_PORT, 1000, tsc, 7),
			 1460);
	assert_int_equal(dl_tcp_cookie_check(f->t, PEER_IP, OUR_PORT, PEER_PORT, 1000, tsc, 14), 0);
	assert_int_equal(dl_tcp_cookie_check(f->t, PEER_IP, OUR_PORT, PEER_PORT, 1000, tsc,
					     7 | DL_TCP_COOKIE_SACK),
			 0);
	assert_int_equal(dl_tcp_cookie_check(f->t, PEER_IP, OUR_PORT, PEER_PORT, 1000, tsc,
					     DL_TCP_COOKIE_NO_TS),
			 0);
	assert_int_equal(dl_tcp_cookie_check(f->t, PEER_IP, OUR_PORT, PEER_PORT, 1000,
					     cookie | DL_TCP_COOKIE_TS_BIT, DL_TCP_COOKIE_NO_TS),
			 0);
	tf_send(f,
		&(struct tseg){.seq = 1001, .ack = cookie + 1, .flags = DL_TCP_ACK, .wnd = 1000});
	assert_true(tf_recv(f, &r));
	assert_int_equal(r.flags, DL_TCP_RST);
	assert_int_equal(tf_cnt(f, TCP_DROP_LISTEN_ACK), 1);
	assert_int_equal(tf_count(f, EV_NEW_CONN, ~0u), 0);
}

/* RFC 6528: ISN = M + F(4-tuple, key), M a 4-microsecond clock. */
static void test_listen_isn_rfc6528(void **state)
{
	struct tf *f = *state;
	struct tseg s = {.seq = 1000, .flags = DL_TCP_SYN, .wnd = 1000};
	struct tseg r1, r2, r3, rst = {.seq = 1001, .flags = DL_TCP_RST};

	assert_int_equal(dl_stack_listen(f->s, OUR_PORT, 0), 0);
	tf_send(f, &s);
	assert_true(tf_recv(f, &r1));
	tf_send(f, &rst); /* forget it (exact RST in SYN_RCVD) */
	assert_int_equal(conns(f), 0);
	f->now += 4000;
	tf_send(f, &s);
	assert_true(tf_recv(f, &r2));
	assert_int_equal(r2.seq - r1.seq, 1000); /* 4000 us = 1000 ticks of M */
	tf_send(f, &rst);
	s.sport = PEER_PORT + 1; /* another tuple: another, unrelated offset */
	tf_send(f, &s);
	assert_true(tf_recv(f, &r3));
	assert_int_not_equal(r3.seq, r2.seq);
	uint64_t f2 =
	    dl_tcp_isn(f->t, PEER_IP, OUR_PORT, PEER_PORT, NULL) - (uint32_t)(f->now >> 2);
	uint64_t f3 =
	    dl_tcp_isn(f->t, PEER_IP, OUR_PORT, PEER_PORT + 1, NULL) - (uint32_t)(f->now >> 2);
	assert_int_equal((uint32_t)f2 + (uint32_t)(f->now >> 2), r2.seq + 0u);
	assert_int_not_equal((uint32_t)f2, (uint32_t)f3);
}

/* ---- SYN_RCVD --------------------------------------------------------------- */

static void test_syn_rcvd_ack_establishes_then_new_conn(void **state)
{
	struct tf *f = *state;
	uint32_t id;

	f->auto_accept = false;
	id = tf_open(f, false, -1);
	tf_none(f); /* the handshake ACK needs no reply */
	struct tf_ev e = *tf_last(f, EV_NEW_CONN);
	assert_int_equal(e.app, DL_APP_NONE);
	assert_int_equal(e.val, PEER_PORT);
	struct dl_tcb *c = tf_tcb(f, id);
	assert_int_equal(c->state, DL_TCP_ESTABLISHED);
	assert_int_equal(c->app, DL_APP_NONE);
	assert_int_equal(f->t->lst[0].n_acc, 1);
	assert_int_equal(dl_stack_accept(f->s, APP, id), 0);
	assert_int_equal(c->app, APP);
	assert_int_equal(f->t->lst[0].n_acc, 0);
	assert_int_equal(dl_stack_accept(f->s, APP, id), -EALREADY);
	assert_int_equal(dl_stack_accept(f->s, 2, id), -EALREADY);
	assert_int_equal(dl_stack_accept(f->s, DL_APP_NONE, id), -EINVAL);
	assert_int_equal(dl_stack_accept(f->s, APP, id + 1), -ENOENT);
}

static void test_syn_rcvd_unacceptable_ack_gets_rst(void **state)
{
	struct tf *f = *state;
	struct tseg s = {.seq = 1000, .flags = DL_TCP_SYN, .wnd = 1000}, r;

	assert_int_equal(dl_stack_listen(f->s, OUR_PORT, 0), 0);
	tf_send(f, &s);
	assert_true(tf_recv(f, &r));
	struct tseg a = {.seq = 1001, .ack = r.seq + 5, .flags = DL_TCP_ACK, .wnd = 1000};
	tf_send(f, &a);
	tf_expect(f, DL_TCP_RST, r.seq + 5, 0);
	assert_int_equal(dl_tcp_lookup(f->t, PEER_IP, OUR_PORT, PEER_PORT, NULL)->state, DL_TCP_SYN_RCVD);
	assert_int_equal(tf_cnt(f, TCP_DROP_SYNRCVD_BAD_ACK), 1);
}

static void test_syn_rcvd_rst_returns_to_listen(void **state)
{
	struct tf *f = *state;
	struct tseg s = {.seq = 1000, .flags = DL_TCP_SYN, .wnd = 1000}, r;

	assert_int_equal(dl_stack_listen(f->s, OUR_PORT, 0), 0);
	tf_send(f, &s);
	assert_true(tf_recv(f, &r));
	struct tseg rst = {.seq = 1001, .flags = DL_TCP_RST};
	tf_send(f, &rst);
	tf_none(f);
	assert_int_equal(conns(f), 0);
	assert_int_equal(f->t->lst[0].n_syn, 0);
	assert_int_equal(f->nev, 0);
	tf_send(f, &s); /* the listener still answers */
	assert_true(tf_recv(f, &r));
	assert_int_equal(r.flags, DL_TCP_SYN | DL_TCP_ACK);
}

static void test_syn_rcvd_dup_syn_resends_syn_ack(void **state)
{
	struct tf *f = *state;
	struct tseg s = {.seq = 1000, .flags = DL_TCP_SYN, .wnd = 1000}, r1;

	assert_int_equal(dl_stack_listen(f->s, OUR_PORT, 0), 0);
	tf_send(f, &s);
	assert_true(tf_recv(f, &r1));
	f->now += 1000;
	tf_send(f, &s);
	tf_expect(f, DL_TCP_SYN | DL_TCP_ACK, r1.seq, 1001);
	assert_int_equal(conns(f), 1);
}

/* RFC 9293 3.10.7.4: another SYN (in window) in SYN_RCVD of a passive
 * open returns the connection to LISTEN. */
static void test_syn_rcvd_new_syn_returns_to_listen(void **state)
{
	struct tf *f = *state;
	struct tseg s = {.seq = 1000, .flags = DL_TCP_SYN, .wnd = 1000}, r;

	assert_int_equal(dl_stack_listen(f->s, OUR_PORT, 0), 0);
	tf_send(f, &s);
	assert_true(tf_recv(f, &r));
	s.seq = 1005; /* inside the window, not the original SYN */
	tf_send(f, &s);
	tf_none(f);
	assert_int_equal(conns(f), 0);
	assert_int_equal(tf_cnt(f, TCP_DROP_SYNRCVD_SYN), 1);
	assert_int_equal(f->t->lst[0].n_syn, 0);
}

static void test_syn_rcvd_syn_ack_retransmitted_with_backoff(void **state)
{
	struct tf *f = *state;
	struct tseg s = {.seq = 1000, .flags = DL_TCP_SYN, .wnd = 1000}, r1;
	uint64_t t0 = f->now;
	uint64_t want = 0;

	assert_int_equal(dl_stack_listen(f->s, OUR_PORT, 0), 0);
	tf_send(f, &s);
	assert_true(tf_recv(f, &r1));
	/* rto_init 1 s, doubling: 1, 2, 4, 8, 16 s (syn_retries 5) */
	for (unsigned k = 0; k < 5; k++) {
		want += 1000000ull << k;
		uint64_t t = tf_next(f);
		assert_true(t >= t0 + want && t < t0 + want + (1u << DL_TCP_TICK_SHIFT));
		tf_expect(f, DL_TCP_SYN | DL_TCP_ACK, r1.seq, 1001);
		t0 = t - want;
	}
	tf_next(f);
	tf_none(f);
	assert_int_equal(conns(f), 0);
	assert_int_equal(tf_cnt(f, TCP_SYNRCVD_EXPIRED), 1);
	assert_int_equal(tf_cnt(f, TCP_TX_SYN_REXMIT), 5);
	assert_int_equal(dl_stack_next_deadline(f->s), UINT64_MAX);
}

static void test_syn_rcvd_accept_backlog_full_drops_ack(void **state)
{
	struct tf *f = *state;
	struct tseg r1, r2;

	f->auto_accept = false;
	assert_int_equal(dl_stack_listen(f->s, OUR_PORT, 1), 0);
	struct tseg s1 = {.seq = 1000, .flags = DL_TCP_SYN, .wnd = 1000, .sport = 1111};
	struct tseg s2 = {.seq = 2000, .flags = DL_TCP_SYN, .wnd = 1000, .sport = 2222};
	tf_send(f, &s1);
	tf_send(f, &s2);
	assert_true(tf_recv(f, &r1));
	assert_true(tf_recv(f, &r2));
	struct tseg a1 = {
	    .seq = 1001, .ack = r1.seq + 1, .flags = DL_TCP_ACK, .wnd = 1000, .sport = 1111};
	struct tseg a2 = {
	    .seq = 2001, .ack = r2.seq + 1, .flags = DL_TCP_ACK, .wnd = 1000, .sport = 2222};
	tf_send(f, &a1);
	assert_int_equal(tf_count(f, EV_NEW_CONN, ~0u), 1);
	tf_send(f, &a2);
	assert_int_equal(tf_count(f, EV_NEW_CONN, ~0u), 1); /* no room: dropped */
	assert_int_equal(tf_cnt(f, TCP_DROP_ACCEPT_BACKLOG), 1);
	struct tseg s3 = {.seq = 3000, .flags = DL_TCP_SYN, .wnd = 1000, .sport = 3333};
	tf_send(f, &s3); /* a full accept queue refuses new SYNs too */
	assert_int_equal(tf_cnt(f, TCP_DROP_ACCEPT_BACKLOG), 2);
	tf_none(f);
	assert_int_equal(dl_stack_accept(f->s, APP, tf_last(f, EV_NEW_CONN)->id), 0);
	tf_send(f, &a2); /* the peer's retransmission now fits */
	assert_int_equal(tf_count(f, EV_NEW_CONN, ~0u), 2);
}

static void test_syn_rcvd_data_held_until_accept(void **state)
{
	struct tf *f = *state;
	struct tseg syn = {.seq = 1000, .flags = DL_TCP_SYN, .wnd = 1000}, r;

	f->auto_accept = false;
	assert_int_equal(dl_stack_listen(f->s, OUR_PORT, 0), 0);
	tf_send(f, &syn);
	assert_true(tf_recv(f, &r));
	struct tseg a = {.seq = 1001,
			 .ack = r.seq + 1,
			 .flags = DL_TCP_ACK | DL_TCP_PSH,
			 .wnd = 1000,
			 .data = (const uint8_t *)"hello",
			 .len = 5};
	tf_send(f, &a);
	struct tseg a2 = {.seq = 1006,
			  .ack = r.seq + 1,
			  .flags = DL_TCP_ACK | DL_TCP_FIN,
			  .wnd = 1000,
			  .data = (const uint8_t *)" world",
			  .len = 6};
	tf_send(f, &a2);
	uint32_t id = tf_last(f, EV_NEW_CONN)->id;
	assert_int_equal(tf_count(f, EV_NEW_DATA, ~0u), 0);
	assert_int_equal(tf_count(f, EV_REMOTE_CLOSED, ~0u), 0);
	tf_expect(f, DL_TCP_ACK, r.seq + 1, 1013); /* the FIN is acknowledged at once */
	assert_int_equal(tf_tcb(f, id)->state, DL_TCP_CLOSE_WAIT);
	assert_int_equal(dl_stack_accept(f->s, APP, id), 0);
	assert_int_equal(tf_count(f, EV_NEW_DATA, id), 1);
	assert_int_equal(f->rx_len, 11);
	assert_memory_equal(f->rx, "hello world", 11);
	const struct tf_ev *cl = tf_last(f, EV_REMOTE_CLOSED);
	assert_non_null(cl);
	assert_int_equal(cl->val, DL_CLOSE_FIN);
	assert_true(cl > tf_last(f, EV_NEW_DATA)); /* after the data */
}

/* Refusing an offered connection that carries unread data resets it. */
static void test_syn_rcvd_close_unaccepted_with_data_resets(void **state)
{
	struct tf *f = *state;
	struct tseg syn = {.seq = 1000, .flags = DL_TCP_SYN, .wnd = 1000}, r;

	f->auto_accept = false;
	assert_int_equal(dl_stack_listen(f->s, OUR_PORT, 0), 0);
	tf_send(f, &syn);
	assert_true(tf_recv(f, &r));
	struct tseg a = {.seq = 1001,
			 .ack = r.seq + 1,
			 .flags = DL_TCP_ACK,
			 .wnd = 1000,
			 .data = (const uint8_t *)"abc",
			 .len = 3};
	tf_send(f, &a);
	uint32_t id = tf_last(f, EV_NEW_CONN)->id;
	uint32_t snd_max = tf_tcb(f, id)->snd_max;
	while (tf_recv(f, &r))
		;
	assert_int_equal(dl_stack_close(f->s, 2, id), 0); /* any core may refuse it */
	tf_run(f);
	tf_expect(f, DL_TCP_RST | DL_TCP_ACK, snd_max, 1004);
	assert_int_equal(tf_cnt(f, TCP_RST_CLOSE_UNREAD), 1);
	assert_int_equal(tf_last(f, EV_CLEANUP)->app, DL_APP_NONE);
	assert_int_equal(conns(f), 0);
}

/* ---- SYN_SENT ------------------------------------------------------------------ */

static void test_syn_sent_syn_carries_options(void **state)
{
	struct tf *f = *state;
	uint32_t id, ts_off;
	struct tseg r;

	assert_int_equal(dl_stack_connect(f->s, APP, 77, PEER_IP, PEER_PORT, &id), 0);
	tf_run(f);
	assert_true(tf_recv(f, &r));
	assert_int_equal(r.flags, DL_TCP_SYN);
	assert_int_equal(r.dport, PEER_PORT);
	assert_true(r.sport >= 32768 && r.sport <= 60999);
	assert_int_equal(r.seq, dl_tcp_isn(f->t, PEER_IP, r.sport, PEER_PORT, &ts_off));
	assert_int_equal(r.ack, 0);
	assert_int_equal(r.opts,
			 DL_TCP_OPT_MSS | DL_TCP_OPT_WS | DL_TCP_OPT_TS | DL_TCP_OPT_SACKOK);
	assert_int_equal(r.mss, 1460);
	assert_int_equal(r.ws, 7);
	assert_int_equal(r.tsval, (uint32_t)(f->now >> DL_TCP_TS_SHIFT) + ts_off);
	assert_int_equal(r.tsecr, 0);
	assert_int_equal(r.wnd, 65535);
	assert_int_equal(tf_tcb(f, id)->state, DL_TCP_SYN_SENT);
	assert_int_equal(tf_cnt(f, TCP_CONN_ACTIVE), 1);
}

static void test_syn_sent_syn_ack_establishes(void **state)
{
	struct tf *f = *state;
	uint32_t id = tf_connect(f, true, 3);
	struct dl_tcb *c = tf_tcb(f, id);
	struct tseg r = tf_expect(f, DL_TCP_ACK, c->iss + 1, 5001);

	assert_int_equal(r.opts, DL_TCP_OPT_TS);
	assert_int_equal(r.tsecr, 900);
	assert_int_equal(c->state, DL_TCP_ESTABLISHED);
	const struct tf_ev *e = tf_last(f, EV_CONNECTED);
	assert_non_null(e);
	assert_int_equal(e->app, APP);
	assert_int_equal(e->id, id);
	assert_int_equal(e->val, 77);
	assert_int_equal(c->snd_ws, 3);
	assert_int_equal(c->rcv_ws, 7);
	assert_true(c->flags & TF_TS);
	/* RFC 6928: IW = min(10 MSS, max(2 MSS, 14600)), MSS 1460 - 12 */
	assert_int_equal(c->cwnd, 10 * 1448);
	tf_none(f);
}

static void test_syn_sent_rst_refuses(void **state)
{
	struct tf *f = *state;
	uint32_t id;
	struct tseg r;

	assert_int_equal(dl_stack_connect(f->s, APP, 99, PEER_IP, PEER_PORT, &id), 0);
	tf_run(f);
	assert_true(tf_recv(f, &r));
	struct tseg rst = {.sport = PEER_PORT,
			   .dport = r.sport,
			   .seq = 0,
			   .ack = r.seq + 1,
			   .flags = DL_TCP_RST | DL_TCP_ACK};
	tf_send(f, &rst);
	tf_none(f);
	const struct tf_ev *e = tf_last(f, EV_CONNECT_FAILED);
	assert_non_null(e);
	assert_int_equal(e->val & 0xffffffffu, ECONNREFUSED);
	assert_int_equal(e->val >> 32, 99);
	assert_int_equal(tf_count(f, EV_CLEANUP, ~0u), 0); /* the app never saw an id */
	assert_int_equal(conns(f), 0);
	assert_int_equal(
	    dl_stack_send(f->s, APP, id, &(struct dl_tx_frag){(const uint8_t *)"x", 1, 0}, 1),
	    -ENOENT);
}

static void test_syn_sent_bad_ack_gets_rst(void **state)
{
	struct tf *f = *state;
	uint32_t id;
	struct tseg r;

	assert_int_equal(dl_stack_connect(f->s, APP, 1, PEER_IP, PEER_PORT, &id), 0);
	tf_run(f);
	assert_true(tf_recv(f, &r));
	struct tseg sa = {.sport = PEER_PORT,
			  .dport = r.sport,
			  .seq = 5000,
			  .ack = r.seq + 100,
			  .flags = DL_TCP_SYN | DL_TCP_ACK,
			  .wnd = 1000};
	tf_send(f, &sa);
	tf_expect(f, DL_TCP_RST, r.seq + 100, 0);
	assert_int_equal(tf_tcb(f, id)->state, DL_TCP_SYN_SENT);
	/* an RST with a bad ACK is dropped silently, one without ACK too */
	sa.flags = DL_TCP_RST | DL_TCP_ACK;
	tf_send(f, &sa);
	sa.flags = DL_TCP_RST;
	tf_send(f, &sa);
	tf_none(f);
	assert_int_equal(tf_tcb(f, id)->state, DL_TCP_SYN_SENT);
	assert_int_equal(tf_cnt(f, TCP_DROP_SYNSENT_BAD_ACK), 2);
	assert_int_equal(tf_cnt(f, TCP_DROP_SYNSENT_BAD_RST), 1);
	sa.flags = DL_TCP_ACK; /* a good ACK without SYN */
	sa.ack = r.seq + 1;
	tf_send(f, &sa);
	assert_int_equal(tf_cnt(f, TCP_DROP_SYNSENT_NO_SYN), 1);
}

static void test_syn_sent_simultaneous_open(void **state)
{
	struct tf *f = *state;
	uint32_t id;
	struct tseg r;

	assert_int_equal(dl_stack_connect(f->s, APP, 5, PEER_IP, PEER_PORT, &id), 0);
	tf_run(f);
	assert_true(tf_recv(f, &r));
	struct tseg syn = {.sport = PEER_PORT,
			   .dport = r.sport,
			   .seq = 7000,
			   .flags = DL_TCP_SYN,
			   .wnd = 5000,
			   .opts = DL_TCP_OPT_MSS,
			   .mss = 1000};
	tf_send(f, &syn);
	tf_expect(f, DL_TCP_SYN | DL_TCP_ACK, r.seq, 7001);
	assert_int_equal(tf_tcb(f, id)->state, DL_TCP_SYN_RCVD);
	struct tseg ack = {.sport = PEER_PORT,
			   .dport = r.sport,
			   .seq = 7001,
			   .ack = r.seq + 1,
			   .flags = DL_TCP_SYN | DL_TCP_ACK,
			   .wnd = 5000};
	ack.flags = DL_TCP_ACK;
	tf_send(f, &ack);
	assert_int_equal(tf_tcb(f, id)->state, DL_TCP_ESTABLISHED);
	assert_int_equal(tf_count(f, EV_CONNECTED, id), 1);
	assert_int_equal(tf_count(f, EV_NEW_CONN, ~0u), 0);
	assert_int_equal(tf_tcb(f, id)->mss, 1000);
}

static void test_syn_sent_simultaneous_open_rst_refuses(void **state)
{
	struct tf *f = *state;
	uint32_t id;
	struct tseg r;

	assert_int_equal(dl_stack_connect(f->s, APP, 6, PEER_IP, PEER_PORT, &id), 0);
	tf_run(f);
	assert_true(tf_recv(f, &r));
	struct tseg syn = {
	    .sport = PEER_PORT, .dport = r.sport, .seq = 7000, .flags = DL_TCP_SYN, .wnd = 5000};
	tf_send(f, &syn);
	assert_true(tf_recv(f, &r)); /* our SYN-ACK */
	struct tseg rst = {
	    .sport = PEER_PORT, .dport = syn.dport, .seq = 7001, .flags = DL_TCP_RST};
	tf_send(f, &rst);
	const struct tf_ev *e = tf_last(f, EV_CONNECT_FAILED);
	assert_non_null(e);
	assert_int_equal(e->val & 0xffffffffu, ECONNREFUSED);
	assert_int_equal(conns(f), 0);
}

static void test_syn_sent_retries_then_timeout(void **state)
{
	struct tf *f = *state;
	uint32_t id;
	struct tseg r, r2;

	assert_int_equal(dl_stack_connect(f->s, APP, 8, PEER_IP, PEER_PORT, &id), 0);
	tf_run(f);
	assert_true(tf_recv(f, &r));
	for (unsigned k = 0; k < 5; k++) {
		tf_next(f);
		assert_true(tf_recv(f, &r2));
		assert_int_equal(r2.flags, DL_TCP_SYN);
		assert_int_equal(r2.seq, r.seq);
	}
	tf_next(f);
	tf_none(f);
	const struct tf_ev *e = tf_last(f, EV_CONNECT_FAILED);
	assert_non_null(e);
	assert_int_equal(e->val & 0xffffffffu, ETIMEDOUT);
	assert_int_equal(tf_cnt(f, TCP_SYN_TIMEOUT), 1);
	assert_int_equal(conns(f), 0);
}

/* RFC 5681 3.1: after a lost SYN the initial window is one segment. */
static void test_syn_sent_lost_syn_initial_window_one(void **state)
{
	struct tf *f = *state;
	uint32_t id;
	struct tseg r;

	assert_int_equal(dl_stack_connect(f->s, APP, 8, PEER_IP, PEER_PORT, &id), 0);
	tf_run(f);
	assert_true(tf_recv(f, &r));
	tf_next(f);
	assert_true(tf_recv(f, &r));
	struct tseg sa = {.sport = PEER_PORT,
			  .dport = r.sport,
			  .seq = 5000,
			  .ack = r.seq + 1,
			  .flags = DL_TCP_SYN | DL_TCP_ACK,
			  .wnd = 65535,
			  .opts = DL_TCP_OPT_MSS,
			  .mss = 1460};
	tf_send(f, &sa);
	assert_int_equal(tf_tcb(f, id)->cwnd, 1460);
}

static void test_syn_sent_close_before_connected(void **state)
{
	struct tf *f = *state;
	uint32_t id;
	struct tseg r;

	assert_int_equal(dl_stack_connect(f->s, APP, 8, PEER_IP, PEER_PORT, &id), 0);
	tf_run(f);
	assert_true(tf_recv(f, &r));
	assert_int_equal(dl_stack_close(f->s, APP, id), 0);
	tf_run(f);
	assert_int_equal(conns(f), 0);
	assert_int_equal(f->nev, 0); /* no connected, no failure, no cleanup */
	assert_int_equal(dl_stack_next_deadline(f->s), UINT64_MAX);
}

static void test_syn_sent_connect_arguments(void **state)
{
	struct tf *f = *state;
	uint32_t id;

	assert_int_equal(dl_stack_connect(f->s, DL_APP_NONE, 0, PEER_IP, 80, &id), -EINVAL);
	assert_int_equal(dl_stack_connect(f->s, APP, 0, PEER_IP, 0, &id), -EINVAL);
	assert_int_equal(dl_stack_connect(f->s, APP, 0, OUR_IP, 80, &id), -EINVAL);
	assert_int_equal(dl_stack_connect(f->s, APP, 0, 0xe0000001u, 80, &id), -EINVAL);
	assert_int_equal(dl_stack_connect(f->s, APP, 0, 0x0a0000ffu, 80, &id), -EINVAL);
	assert_int_equal(dl_stack_connect(f->s, APP, 0, 0x08080808u, 80, &id), -ENETUNREACH);
	assert_int_equal(conns(f), 0);
}

static void edit_two_cores(struct dl_stack_config *c)
{
	c->tcp.port_min = 40000;
	c->tcp.port_max = 40099;
}

/* Active opens pick ports whose replies the flow hash steers back here. */
static void test_syn_sent_port_owned_by_this_core(void **state)
{
	struct dl_memwire *w = dl_memwire_create(NULL);
	struct dl_stack_config cfg;
	struct dl_stack *s;
	unsigned n = 0;
	(void)state;

	dl_stack_config_defaults(&cfg);
	edit_two_cores(&cfg);
	cfg.ip = OUR_IP;
	s = dl_stack_create(&cfg, dl_memwire_nic(w, 0), 0, 1, 2); /* net core 1 of 2 */
	assert_non_null(s);
	for (;;) {
		uint32_t id;
		int rc = dl_stack_connect(s, APP, 0, PEER_IP, PEER_PORT, &id);
		if (rc != 0) {
			assert_int_equal(rc, -EADDRNOTAVAIL);
			break;
		}
		struct dl_tcb *c = tcb_at(s->tcp, id & s->tcp->idx_mask);
		assert_int_equal(dl_stack_flow_owner(s, PEER_IP, OUR_IP, PEER_PORT, c->lport), 1);
		n++;
	}
	/* about half of the 100 ports hash to this core, each used once */
	assert_true(n > 20 && n < 80);
	unsigned owned = 0;
	for (unsigned p = 40000; p < 40100; p++)
		owned += dl_stack_flow_owner(s, PEER_IP, OUR_IP, PEER_PORT, (uint16_t)p) == 1;
	assert_int_equal(n, owned);
	dl_stack_destroy(s);
	uint8_t tmp[2048];
	while (dl_memwire_pop(w, 1, tmp, sizeof(tmp)) > 0)
		;
	assert_int_equal(dl_memwire_bufs_in_use(w), 0);
	dl_memwire_destroy(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_closed_syn_gets_rst_ack),
	    T(test_closed_ack_gets_rst_at_ack),
	    T(test_closed_fin_data_rst_covers_length),
	    T(test_closed_rst_ignored),
	    T(test_closed_bad_checksum_dropped),
	    T(test_closed_zero_port_dropped),
	    T(test_closed_malformed_headers_dropped),
	    T(test_listen_syn_gets_syn_ack_with_options),
	    T(test_listen_syn_without_options_defaults),
	    T(test_listen_ack_gets_rst),
	    T(test_listen_rst_ignored),
	    T(test_listen_syn_data_not_acked),
	    cmocka_unit_test(test_listen_syn_flood_bounded_by_backlog),
	    cmocka_unit_test(test_syn_cookies_under_flood),
	    cmocka_unit_test(test_syn_cookies_keep_options_with_timestamps),
	    T(test_listen_isn_rfc6528),
	    T(test_syn_cookie_only_after_sending),
	    T(test_syn_rcvd_ack_establishes_then_new_conn),
	    T(test_syn_rcvd_unacceptable_ack_gets_rst),
	    T(test_syn_rcvd_rst_returns_to_listen),
	    T(test_syn_rcvd_dup_syn_resends_syn_ack),
	    T(test_syn_rcvd_new_syn_returns_to_listen),
	    T(test_syn_rcvd_syn_ack_retransmitted_with_backoff),
	    T(test_syn_rcvd_accept_backlog_full_drops_ack),
	    T(test_syn_rcvd_data_held_until_accept),
	    T(test_syn_rcvd_close_unaccepted_with_data_resets),
	    T(test_syn_sent_syn_carries_options),
	    T(test_syn_sent_syn_ack_establishes),
	    T(test_syn_sent_rst_refuses),
	    T(test_syn_sent_bad_ack_gets_rst),
	    T(test_syn_sent_simultaneous_open),
	    T(test_syn_sent_simultaneous_open_rst_refuses),
	    T(test_syn_sent_retries_then_timeout),
	    T(test_syn_sent_lost_syn_initial_window_one),
	    T(test_syn_sent_close_before_connected),
	    T(test_syn_sent_connect_arguments),
	    cmocka_unit_test(test_syn_sent_port_owned_by_this_core),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
