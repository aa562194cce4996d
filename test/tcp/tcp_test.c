/*
 * tcp_test.c - the crafted-segment fixture (see tcp_test.h).
 */
#include "tcp_test.h"
#include "dl_cksum.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static const uint8_t our_mac[6] = {2, 0, 0, 0, 0, 1};
static const uint8_t peer_mac[6] = {2, 0, 0, 0, 0, 2};

static void log_ev(struct tf *f, int type, uint16_t app, uint32_t id, uint64_t val)
{
	struct tf_ev *e;

	assert_true(f->nev < sizeof(f->ev) / sizeof(f->ev[0]));
	e = &f->ev[f->nev++];
	memset(e, 0, sizeof(*e));
	e->type = type;
	e->app = app;
	e->id = id;
	e->val = val;
	if (f->hook != NULL)
		f->hook(f, e);
}

static void up_new_conn(void *arg, uint32_t id, uint16_t lport, uint32_t pip, uint16_t pport)
{
	struct tf *f = arg;

	assert_int_equal(lport, OUR_PORT);
	assert_int_equal(pip, PEER_IP);
	(void)pport;
	log_ev(f, EV_NEW_CONN, DL_APP_NONE, id, pport);
	if (f->auto_accept)
		assert_int_equal(dl_stack_accept(f->s, APP, id), 0);
}

static void up_connected(void *arg, uint16_t app, uint32_t id, uint64_t cookie)
{
	log_ev(arg, EV_CONNECTED, app, id, cookie);
}

static void up_connect_failed(void *arg, uint16_t app, uint64_t cookie, int err)
{
	struct tf *f = arg;

	log_ev(f, EV_CONNECT_FAILED, app, 0, (uint64_t)err);
	f->ev[f->nev - 1].val = (uint64_t)err | cookie << 32;
}

static void up_new_data(void *arg, uint16_t app, uint32_t id, const struct dl_rx_ref *refs,
			unsigned n)
{
	struct tf *f = arg;
	uint32_t bytes = 0;

	for (unsigned i = 0; i < n; i++) {
		assert_true(f->rx_len + refs[i].len <= sizeof(f->rx));
		memcpy(f->rx + f->rx_len, refs[i].data, refs[i].len);
		f->rx_len += refs[i].len;
		bytes += refs[i].len;
	}
	log_ev(f, EV_NEW_DATA, app, id, bytes);
	f->ev[f->nev - 1].nrefs = n;
	f->ev[f->nev - 1].ref0 = refs[0];
	if (f->auto_return && f->s->tcp != NULL)
		assert_int_equal(dl_stack_recv_done(f->s, app, id, bytes), 0);
}

static void up_data_acked(void *arg, uint16_t app, uint32_t id, uint32_t bytes)
{
	log_ev(arg, EV_DATA_ACKED, app, id, bytes);
}

static void up_remote_closed(void *arg, uint16_t app, uint32_t id, enum dl_close_reason why)
{
	log_ev(arg, EV_REMOTE_CLOSED, app, id, (uint64_t)why);
}

static void up_cleanup(void *arg, uint16_t app, uint32_t id)
{
	log_ev(arg, EV_CLEANUP, app, id, 0);
}

struct tf *tf_new(void (*edit)(struct dl_stack_config *cfg))
{
	struct tf *f = calloc(1, sizeof(*f));
	struct dl_stack_config cfg;

	assert_non_null(f);
	f->w = dl_memwire_create(NULL);
	assert_non_null(f->w);
	dl_stack_config_defaults(&cfg);
	cfg.ip = OUR_IP;
	cfg.prefix_len = 24;
	memcpy(cfg.mac, our_mac, 6);
	for (int i = 0; i < 16; i++)
		cfg.tcp.isn_key[i] = (uint8_t)(i * 7 + 1); /* deterministic ISNs */
	cfg.tcp.tso = false;
	cfg.arp_timeout_us = UINT32_MAX; /* no ARP refreshes in long virtual runs */
	if (edit != NULL)
		edit(&cfg);
	f->now = 10000000;
	f->s = dl_stack_create(&cfg, dl_memwire_nic(f->w, 0), 0, 0, 1);
	assert_non_null(f->s);
	f->t = f->s->tcp;
	f->up = (struct dl_stack_upcalls){
	    .new_conn = up_new_conn,
	    .connected = up_connected,
	    .connect_failed = up_connect_failed,
	    .new_data = up_new_data,
	    .data_acked = up_data_acked,
	    .remote_closed = up_remote_closed,
	    .cleanup = up_cleanup,
	};
	dl_stack_set_upcalls(f->s, &f->up, f);
	dl_stack_arp_learn(f->s, PEER_IP, peer_mac, f->now);
	f->auto_accept = true;
	f->auto_return = true;
	f->p.wnd = 65535;
	f->p.port = PEER_PORT;
	f->p.our_port = OUR_PORT;
	return f;
}

void tf_free(struct tf *f)
{
	uint8_t tmp[2048];

	if (f->s != NULL)
		dl_stack_destroy(f->s);
	while (dl_memwire_pop(f->w, 1, tmp, sizeof(tmp)) > 0)
		;
	while (dl_memwire_pop(f->w, 0, tmp, sizeof(tmp)) > 0)
		;
	assert_int_equal(dl_memwire_bufs_in_use(f->w), 0);
	dl_memwire_destroy(f->w);
	free(f);
}

void tf_run(struct tf *f)
{
	struct dl_rx_pkt pkts[32];
	uint16_t n;

	while ((n = dl_nic_rx_burst(dl_memwire_nic(f->w, 0), 0, pkts, 32)) > 0)
		dl_stack_input(f->s, pkts, n, f->now);
	dl_stack_poll(f->s, f->now);
	dl_stack_flush(f->s);
	tf_check(f);
}

void tf_check(struct tf *f)
{
	char why[512];

	if (dl_stack_check(f->s, why, sizeof(why)) != 0)
		fail_msg("stack invariant at t=%llu: %s", (unsigned long long)f->now, why);
}

void tf_advance(struct tf *f, uint64_t us)
{
	f->now += us;
	tf_run(f);
}

uint64_t tf_next(struct tf *f)
{
	unsigned nev = f->nev;
	struct dl_stack_tcp_mem m0, m;

	dl_stack_tcp_mem(f->s, &m0);
	assert_true(dl_stack_next_deadline(f->s) != UINT64_MAX);
	/* Timers that find nothing due (lazy deadlines) are skipped: stop at
	 * the first one that did something visible. */
	for (int i = 0; i < 1000; i++) {
		uint64_t d = dl_stack_next_deadline(f->s);
		if (d == UINT64_MAX)
			break;
		if (d > f->now)
			f->now = d;
		tf_run(f);
		dl_stack_tcp_mem(f->s, &m);
		if (tf_pending(f) > 0 || f->nev != nev || m.conns != m0.conns)
			break;
	}
	return f->now;
}

void tf_send(struct tf *f, const struct tseg *sg)
{
	uint8_t b[2048];
	uint8_t *ip = b + 14, *tcp = ip + 20;
	struct dl_tcp_hdr h = {
	    .sport = sg->sport ? sg->sport : f->p.port,
	    .dport = sg->dport ? sg->dport : f->p.our_port,
	    .seq = sg->seq,
	    .ack = sg->ack,
	    .flags = sg->flags,
	    .wnd = sg->wnd,
	    .opts = sg->opts,
	    .mss = sg->mss,
	    .wscale = sg->ws,
	    .tsval = sg->tsval,
	    .tsecr = sg->tsecr,
	    .nsack = sg->nsack,
	};
	memcpy(h.sack, sg->sack, sizeof(h.sack));
	unsigned hl = dl_tcp_build(tcp, &h);
	uint32_t src = sg->src ? sg->src : PEER_IP;
	size_t len = 14 + 20 + hl + sg->len;
	struct dl_ipv4_hdr iph = {.ihl_bytes = 20,
				  .total_len = (uint16_t)(20 + hl + sg->len),
				  .tos = sg->tos,
				  .ttl = 64,
				  .proto = DL_IPPROTO_TCP,
				  .src = src,
				  .dst = sg->dst ? sg->dst : OUR_IP};

	assert_true(len <= sizeof(b));
	dl_eth_build(b, our_mac, peer_mac, DL_ETHERTYPE_IPV4);
	dl_ipv4_build(ip, &iph, true);
	if (sg->len > 0)
		memcpy(tcp + hl, sg->data, sg->len);
	uint64_t sum =
	    dl_cksum_pseudo(htonl(src), htonl(iph.dst), DL_IPPROTO_TCP, (uint16_t)(hl + sg->len));
	sum += dl_cksum_raw(tcp, hl + sg->len);
	uint16_t c = (uint16_t)~dl_cksum_fold(sum);
	if (sg->bad_csum)
		c ^= 0x0100;
	memcpy(tcp + 16, &c, 2);
	if (len < 60) {
		memset(b + len, 0, 60 - len); /* Ethernet padding */
		len = 60;
	}
	assert_int_equal(dl_memwire_inject(f->w, 0, b, len), 0);
	if (!f->no_run)
		tf_run(f);
}

bool tf_recv(struct tf *f, struct tseg *out)
{
	uint8_t b[2048];
	size_t n = dl_memwire_pop(f->w, 1, b, sizeof(b));
	struct dl_ipv4_hdr ip;
	struct dl_tcp_hdr h;

	if (n == 0)
		return false;
	if (n >= 14 && dl_get16(b + 12) == DL_ETHERTYPE_ARP)
		return tf_recv(f, out); /* ARP refreshes: not what TCP tests look at */
	assert_true(n >= 54);
	assert_int_equal(dl_get16(b + 12), DL_ETHERTYPE_IPV4);
	assert_int_equal(dl_ipv4_parse(b + 14, n - 14, false, &ip), DL_WIRE_OK);
	assert_int_equal(ip.proto, DL_IPPROTO_TCP);
	assert_int_equal(ip.src, OUR_IP);
	assert_int_equal(ip.frag, DL_IPV4_DF);
	size_t l4 = ip.total_len - 20u;
	assert_true(dl_tcp_cksum_ok(ip.src, ip.dst, b + 34, l4));
	assert_int_equal(dl_tcp_parse(b + 34, l4, &h), DL_WIRE_OK);
	memset(out, 0, sizeof(*out));
	out->sport = h.sport;
	out->dport = h.dport;
	out->seq = h.seq;
	out->ack = h.ack;
	out->flags = h.flags;
	out->wnd = h.wnd;
	out->opts = h.opts;
	out->mss = h.mss;
	out->ws = h.wscale;
	out->tsval = h.tsval;
	out->tsecr = h.tsecr;
	if (h.opts & DL_TCP_OPT_SACK) {
		out->nsack = h.nsack;
		memcpy(out->sack, h.sack, sizeof(out->sack));
	}
	out->len = (uint32_t)(l4 - h.hlen);
	out->src = ip.src;
	out->dst = ip.dst;
	out->tos = ip.tos;
	assert_true(out->len <= sizeof(out->payload));
	memcpy(out->payload, b + 34 + h.hlen, out->len);
	return true;
}

void tf_none(struct tf *f)
{
	struct tseg s;

	if (tf_recv(f, &s))
		fail_msg("unexpected segment: flags %#x seq %u ack %u len %u", s.flags, s.seq,
			 s.ack, s.len);
}

unsigned tf_pending(struct tf *f)
{
	return dl_memwire_pending(f->w, 1);
}

void tf_seg(struct tf *f, uint8_t flags, const void *data, uint32_t len)
{
	struct tseg s = {
	    .seq = f->p.nxt,
	    .ack = f->p.ack,
	    .flags = flags,
	    .wnd = f->p.wnd,
	    .data = data,
	    .len = len,
	    .tos = f->p.tos,
	};

	if (f->p.ts) {
		s.opts = DL_TCP_OPT_TS;
		s.tsval = ++f->p.tsval;
		s.tsecr = f->p.ts_recent;
	}
	f->p.nxt += len + !!(flags & DL_TCP_SYN) + !!(flags & DL_TCP_FIN);
	tf_send(f, &s);
}

struct tseg tf_expect(struct tf *f, uint8_t flags, uint32_t seq, uint32_t ack)
{
	struct tseg s;

	if (!tf_recv(f, &s))
		fail_msg("no segment (wanted flags %#x seq %u ack %u)", flags, seq, ack);
	if (s.flags != flags || s.seq != seq || s.ack != ack)
		fail_msg("got flags %#x seq %u ack %u len %u, wanted flags %#x seq %u ack %u",
			 s.flags, s.seq, s.ack, s.len, flags, seq, ack);
	if (s.opts & DL_TCP_OPT_TS)
		f->p.ts_recent = s.tsval;
	return s;
}

uint32_t tf_open(struct tf *f, bool ts, int ws)
{
	struct tseg syn = {
	    .seq = 1000, .flags = DL_TCP_SYN, .wnd = 65535, .opts = DL_TCP_OPT_MSS, .mss = 1460};
	struct tseg sa;
	unsigned before = tf_count(f, EV_NEW_CONN, ~0u);

	if (dl_tcp_listener_find(f->t, OUR_PORT) == NULL)
		assert_int_equal(dl_stack_listen(f->s, OUR_PORT, 0), 0);
	f->p.iss = 1000;
	f->p.ts = ts;
	f->p.tsval = 500;
	if (ts) {
		syn.opts |= DL_TCP_OPT_TS;
		syn.tsval = f->p.tsval;
	}
	if (ws >= 0) {
		syn.opts |= DL_TCP_OPT_WS;
		syn.ws = (uint8_t)ws;
	}
	if (f->p.sack_ok)
		syn.opts |= DL_TCP_OPT_SACKOK;
	if (f->p.ecn)
		syn.flags |= DL_TCP_ECE | DL_TCP_CWR;
	tf_send(f, &syn);
	assert_true(tf_recv(f, &sa));
	/* an ECN-setup SYN-ACK only to an ECN-setup SYN (RFC 3168 6.1.1) */
	assert_int_equal(sa.flags & (uint8_t)~(f->p.ecn ? DL_TCP_ECE : 0), DL_TCP_SYN | DL_TCP_ACK);
	assert_int_equal(sa.tos & 3, 0); /* a SYN-ACK is not ECN-capable */
	f->p.ecn_ok = (sa.flags & DL_TCP_ECE) != 0;
	assert_int_equal(sa.ack, 1001);
	f->p.nxt = 1001;
	f->p.ack = sa.seq + 1;
	if (ts)
		f->p.ts_recent = sa.tsval;
	tf_seg(f, DL_TCP_ACK, NULL, 0);
	assert_int_equal(tf_count(f, EV_NEW_CONN, ~0u), before + 1);
	f->id = tf_last(f, EV_NEW_CONN)->id;
	return f->id;
}

uint32_t tf_connect(struct tf *f, bool ts, int ws)
{
	struct tseg syn, sa = {.seq = 5000,
			       .flags = DL_TCP_SYN | DL_TCP_ACK,
			       .wnd = 65535,
			       .opts = DL_TCP_OPT_MSS,
			       .mss = 1460};
	uint32_t id;

	assert_int_equal(dl_stack_connect(f->s, APP, 77, PEER_IP, PEER_PORT, &id), 0);
	tf_run(f);
	assert_true(tf_recv(f, &syn));
	assert_int_equal(syn.flags & (uint8_t)~(DL_TCP_ECE | DL_TCP_CWR), DL_TCP_SYN);
	assert_int_equal(syn.dport, PEER_PORT);
	assert_int_equal(syn.tos & 3, 0);
	f->p.ecn_ok = false;
	if (syn.flags & (DL_TCP_ECE | DL_TCP_CWR)) {
		assert_int_equal(syn.flags & (DL_TCP_ECE | DL_TCP_CWR), DL_TCP_ECE | DL_TCP_CWR);
		if (f->p.ecn) {
			sa.flags |= DL_TCP_ECE;
			f->p.ecn_ok = true;
		}
	}
	f->p.port = PEER_PORT;
	f->p.our_port = syn.sport;
	f->p.iss = 5000;
	f->p.nxt = 5001;
	f->p.ack = syn.seq + 1;
	f->p.ts = ts;
	f->p.tsval = 900;
	sa.sport = PEER_PORT;
	sa.dport = syn.sport;
	sa.ack = syn.seq + 1;
	if (ts) {
		sa.opts |= DL_TCP_OPT_TS;
		sa.tsval = f->p.tsval;
		sa.tsecr = syn.tsval;
	}
	if (ws >= 0) {
		sa.opts |= DL_TCP_OPT_WS;
		sa.ws = (uint8_t)ws;
	}
	if (f->p.sack_ok)
		sa.opts |= DL_TCP_OPT_SACKOK;
	tf_send(f, &sa);
	f->id = id;
	return id;
}

unsigned tf_count(const struct tf *f, int type, uint32_t id)
{
	unsigned n = 0;

	for (unsigned i = 0; i < f->nev; i++)
		if (f->ev[i].type == type && (id == ~0u || f->ev[i].id == id))
			n++;
	return n;
}

const struct tf_ev *tf_last(const struct tf *f, int type)
{
	for (unsigned i = f->nev; i-- > 0;)
		if (f->ev[i].type == type)
			return &f->ev[i];
	return NULL;
}

struct dl_tcb *tf_tcb(struct tf *f, uint32_t id)
{
	struct dl_tcb *c = tcb_at(f->t, id & f->t->idx_mask);

	assert_int_equal(c->id, id);
	return c;
}

struct dl_tcp_tw *tf_tw(struct tf *f)
{
	struct dl_tcp_tw *w;

	(void)dl_tcp_lookup(f->t, PEER_IP, f->p.our_port, f->p.port, &w);
	return w;
}

uint64_t tf_cnt(struct tf *f, enum dl_tcp_cnt c)
{
	return f->t->cnt[c];
}
