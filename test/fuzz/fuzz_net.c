/*
 * fuzz_net.c - the stack, its scripted peer and its checking application
 * (see fuzz_net.h).
 */
#include "fuzz_net.h"
#include "dl_log.h"
#include "dl_tcp.h"
#include "dl_tcp_check.h"
#include "dl_wire.h" /* dl_get16 ... dl_put32: byte order only */

#include <arpa/inet.h>
#include <errno.h>
#include <sys/socket.h>

#define TXSZ	 (64u * 1024)
#define FN_MTU	 1500
#define FN_T0	 1000000u /* the clock at creation, us */
#define FN_NDEAD 8

static struct dl_memwire *W;
/* FUZZ_DEBUG=1: trace segments both ways (replaying a reproducer); 2: and the TCBs. */
static int debug = -1;

static int dbg(void)
{
	if (debug < 0)
		debug = getenv("FUZZ_DEBUG") != NULL ? atoi(getenv("FUZZ_DEBUG")) : 0;
	return debug;
}

static void trace_tcp(const char *dir, uint64_t now, const uint8_t *tcp, size_t len)
{
	unsigned hlen = (tcp[12] >> 4) * 4u;
	uint8_t fl = tcp[13];

	fprintf(stderr, "t=%llu %s %u>%u seq %u ack %u [%s%s%s%s%s%s] wnd %u len %zu\n",
		(unsigned long long)now, dir, (tcp[0] << 8) | tcp[1], (tcp[2] << 8) | tcp[3],
		(uint32_t)tcp[4] << 24 | (uint32_t)tcp[5] << 16 | (uint32_t)tcp[6] << 8 | tcp[7],
		(uint32_t)tcp[8] << 24 | (uint32_t)tcp[9] << 16 | (uint32_t)tcp[10] << 8 | tcp[11],
		(fl & 2) ? "S" : "", (fl & 1) ? "F" : "", (fl & 4) ? "R" : "", (fl & 8) ? "P" : "",
		(fl & 16) ? "." : "", (fl & 32) ? "U" : "", (tcp[14] << 8) | tcp[15],
		len >= hlen ? len - hlen : 0);
}
static struct dl_region *TX; /* the application's TX memory: a fixed pattern */
static uint8_t stack_mac[6], peer_mac[6];
static uint32_t dead_ids[FN_NDEAD];
static unsigned dead_next;

/* ---- checksums (independent of the stack's own) --------------------------- */

static uint32_t sum16(const uint8_t *p, size_t len, uint32_t sum)
{
	for (; len >= 2; p += 2, len -= 2)
		sum += (uint32_t)p[0] << 8 | p[1];
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint16_t ip_csum(const uint8_t *ip, size_t ihl)
{
	return fold(sum16(ip, ihl, 0));
}

static uint16_t l4_csum(uint32_t src, uint32_t dst, uint8_t proto, const uint8_t *l4, size_t len)
{
	uint32_t s =
	    (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto + (uint32_t)len;

	return fold(sum16(l4, len, s));
}

static uint8_t tx_byte(uint64_t off)
{
	return TX->base[off % TXSZ];
}

/* ---- the application -------------------------------------------------------- */

static struct fn_conn *conn_find(struct fn *w, uint32_t id)
{
	for (unsigned i = 0; i < FN_MAXC; i++)
		if (w->c[i].used && w->c[i].id == id)
			return &w->c[i];
	return NULL;
}

static struct fn_conn *conn_add(struct fn *w, uint32_t id)
{
	FZ_CHECK(conn_find(w, id) == NULL, "id %#x reported twice", id);
	for (unsigned i = 0; i < FN_MAXC; i++)
		if (!w->c[i].used) {
			memset(&w->c[i], 0, sizeof(w->c[i]));
			w->c[i].used = true;
			w->c[i].id = id;
			return &w->c[i];
		}
	FZ_CHECK(false, "more than %d connections exposed (max_conns is 64)", FN_MAXC);
	return NULL;
}

static const struct dl_tcb *tcb_of_id(const struct fn *w, uint32_t id)
{
	const struct dl_tcp *t = w->s->tcp;

	return tcb_at(t, id & t->idx_mask);
}

static void up_new_conn(void *arg, uint32_t id, uint16_t lport, uint32_t pip, uint16_t pport)
{
	struct fn *w = arg;
	struct fn_conn *c = conn_add(w, id);

	(void)pip, (void)pport;
	c->offered = true;
	if (lport == 8080)
		return; /* offered: the script decides */
	/* Owned before the call: accept delivers what was held at once. */
	c->offered = false;
	c->accepted = true;
	FZ_CHECK(dl_stack_accept(w->s, FN_APP, id) == 0, "accept in new_conn failed");
}

static void up_connected(void *arg, uint16_t app, uint32_t id, uint64_t cookie)
{
	struct fn *w = arg;
	struct fn_conn *c;

	FZ_CHECK(app == FN_APP, "connected for app %u", app);
	FZ_CHECK(cookie < w->connect_cookie, "unknown cookie %llu", (unsigned long long)cookie);
	c = conn_add(w, id);
	c->accepted = true;
	c->active = true;
}

static void up_connect_failed(void *arg, uint16_t app, uint64_t cookie, int err)
{
	struct fn *w = arg;

	FZ_CHECK(app == FN_APP && err > 0, "connect_failed app %u err %d", app, err);
	FZ_CHECK(cookie < w->connect_cookie, "unknown cookie %llu", (unsigned long long)cookie);
	w->connect_failed = true;
}

static void up_new_data(void *arg, uint16_t app, uint32_t id, const struct dl_rx_ref *refs,
			unsigned n)
{
	struct fn *w = arg;
	struct fn_conn *c = conn_find(w, id);
	const struct dl_region *rx = dl_region_get(w->nic->rx_region);
	const struct dl_tcb *tcb = tcb_of_id(w, id);
	uint32_t key = tcb->rip ^ tcb->rport;
	uint64_t bytes = 0;

	FZ_CHECK(c != NULL && c->accepted && app == FN_APP, "new_data for id %#x (app %u)", id,
		 app);
	FZ_CHECK(!c->app_closed, "new_data after close");
	FZ_CHECK(!c->remote_closed, "new_data after remote_closed");
	FZ_CHECK(n > 0 && n <= DL_TCP_REFS, "new_data with %u refs", n);
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *p = refs[i].data;

		FZ_CHECK(refs[i].len > 0 && refs[i].region == rx->id && p >= rx->base &&
			     refs[i].len <= rx->len &&
			     (size_t)(p - rx->base) <= rx->len - refs[i].len,
			 "reference %u outside the RX region", i);
		if (!w->taint)
			for (uint32_t k = 0; k < refs[i].len; k++) {
				uint32_t seq =
				    tcb->irs + 1 + (uint32_t)(c->rx_delivered + bytes + k);
				FZ_CHECK(p[k] == fn_pat(key, seq),
					 "delivered byte at seq %u is %02x, the peer sent %02x",
					 seq, p[k], fn_pat(key, seq));
			}
		bytes += refs[i].len;
	}
	c->rx_delivered += bytes;
	c->rx_unret += bytes;
	if (!c->hold) {
		FZ_CHECK(dl_stack_recv_done(w->s, FN_APP, id, (uint32_t)c->rx_unret) == 0,
			 "recv_done of everything delivered failed");
		c->rx_unret = 0;
	}
}

static void up_data_acked(void *arg, uint16_t app, uint32_t id, uint32_t bytes)
{
	struct fn *w = arg;
	struct fn_conn *c = conn_find(w, id);

	FZ_CHECK(c != NULL && c->accepted && app == FN_APP, "data_acked for id %#x", id);
	FZ_CHECK(bytes > 0, "data_acked of 0 bytes");
	c->tx_acked += bytes;
	FZ_CHECK(c->tx_acked <= c->tx_queued, "%llu bytes acknowledged, %llu queued",
		 (unsigned long long)c->tx_acked, (unsigned long long)c->tx_queued);
}

static void up_remote_closed(void *arg, uint16_t app, uint32_t id, enum dl_close_reason why)
{
	struct fn *w = arg;
	struct fn_conn *c = conn_find(w, id);

	FZ_CHECK(c != NULL && c->accepted && app == FN_APP, "remote_closed for id %#x", id);
	FZ_CHECK(!c->app_closed, "remote_closed after close");
	FZ_CHECK(why <= DL_CLOSE_ABORT, "reason %d", why);
	c->remote_closed = true;
}

static void up_cleanup(void *arg, uint16_t app, uint32_t id)
{
	struct fn *w = arg;
	struct fn_conn *c = conn_find(w, id);

	FZ_CHECK(c != NULL, "cleanup for unknown id %#x", id);
	FZ_CHECK(app == (c->accepted ? FN_APP : DL_APP_NONE), "cleanup of %#x for app %u", id, app);
	c->used = false;
	dead_ids[dead_next++ % FN_NDEAD] = id;
}

static const struct dl_stack_upcalls fn_upcalls = {
    .new_conn = up_new_conn,
    .connected = up_connected,
    .connect_failed = up_connect_failed,
    .new_data = up_new_data,
    .data_acked = up_data_acked,
    .remote_closed = up_remote_closed,
    .cleanup = up_cleanup,
};

/* ---- what the stack sends --------------------------------------------------- */

static struct fn_flow *flow_of(struct fn *w, uint32_t pip, uint16_t pport, uint16_t sport, bool syn)
{
	for (unsigned i = 0; i < FN_NFLOWS; i++) {
		struct fn_flow *f = &w->fl[i];
		if (f->pip != pip || f->pport != pport)
			continue;
		if (f->sport == sport)
			return f;
		if (f->sport == 0 && syn) {
			f->sport = sport; /* the active open's port */
			return f;
		}
	}
	return NULL;
}

static void tcp_out(struct fn *w, const uint8_t *ip, const uint8_t *tcp, size_t len)
{
	uint32_t dip = dl_get32(ip + 16);
	uint16_t sport = dl_get16(tcp), dport = dl_get16(tcp + 2);
	uint32_t seq = dl_get32(tcp + 4), ack = dl_get32(tcp + 8);
	unsigned hlen = (tcp[12] >> 4) * 4u;
	uint8_t flags = tcp[13];
	struct fn_flow *f;
	uint32_t plen, end;

	FZ_CHECK(len >= 20 && hlen >= 20 && hlen <= len, "TCP header of %u bytes in %zu", hlen,
		 len);
	if (dbg())
		trace_tcp("stack", w->now, tcp, len);
	FZ_CHECK(l4_csum(FN_OUR_IP, dip, 6, tcp, len) == 0, "bad TCP checksum from the stack");
	FZ_CHECK(sport != 0 && dport != 0, "port 0 sent");
	plen = (uint32_t)(len - hlen);
	if (plen > 0 && !w->taint) {
		const struct dl_tcb *c = dl_tcp_lookup(w->s->tcp, dip, sport, dport, NULL);
		/* The connection the 4-tuple names now: a frame outside what it
		 * has sent came from an earlier connection of the same tuple,
		 * replaced (RST, then a new SYN) after the frame left in the
		 * same step; its memory is not this connection's to compare. */
		if (c != NULL && c->state != DL_TCP_CLOSED && seq_ge(seq, c->iss + 1) &&
		    seq_le(seq + plen, c->snd_max)) {
			uint32_t off = seq - (c->iss + 1);
			for (uint32_t k = 0; k < plen; k++)
				FZ_CHECK(tcp[hlen + k] == tx_byte((uint64_t)off + k),
					 "sent byte %u of seq %u (stream offset %u) is %02x, "
					 "the application queued %02x",
					 k, seq, off + k, tcp[hlen + k],
					 tx_byte((uint64_t)off + k));
		}
	}
	f = flow_of(w, dip, dport, sport, (flags & DL_TCP_SYN) != 0);
	if (f == NULL)
		return;
	end = seq + plen + !!(flags & DL_TCP_SYN) + !!(flags & DL_TCP_FIN);
	if (flags & DL_TCP_SYN) {
		f->st_iss = seq;
		if (!f->st_seen)
			f->st_max = end;
	}
	if (!f->st_seen || seq_gt(end, f->st_max))
		f->st_max = end;
	f->st_seen = true;
	if (flags & DL_TCP_ACK)
		f->st_ack = ack;
	f->st_wnd = dl_get16(tcp + 14);
	for (unsigned i = 20; i < hlen;) {
		uint8_t kind = tcp[i];
		if (kind == 0)
			break;
		if (kind == 1) {
			i++;
			continue;
		}
		FZ_CHECK(i + 1 < hlen && tcp[i + 1] >= 2 && i + tcp[i + 1] <= hlen,
			 "malformed option from the stack");
		if (kind == 8 && tcp[i + 1] == 10)
			f->st_tsval = dl_get32(tcp + i + 2);
		if (kind == 3 && tcp[i + 1] == 3)
			f->st_ws = tcp[i + 2];
		i += tcp[i + 1];
	}
}

static void frame_out(struct fn *w, const uint8_t *p, size_t len)
{
	uint16_t type;

	w->frames_out++;
	FZ_CHECK(len >= 14 && len <= 14 + FN_MTU, "frame of %zu bytes", len);
	FZ_CHECK(memcmp(p + 6, stack_mac, 6) == 0, "frame not from our MAC");
	type = dl_get16(p + 12);
	if (type == 0x0806) {
		FZ_CHECK(len >= 42 && dl_get16(p + 14) == 1 && dl_get16(p + 16) == 0x0800,
			 "malformed ARP from the stack");
		FZ_CHECK(dl_get32(p + 28) == FN_OUR_IP, "ARP from another address");
		return;
	}
	FZ_CHECK(type == 0x0800, "EtherType %#x sent", type);
	const uint8_t *ip = p + 14;
	size_t iplen = len - 14;
	FZ_CHECK(iplen >= 20 && ip[0] == 0x45, "IPv4 header %02x", iplen ? ip[0] : 0);
	FZ_CHECK(dl_get16(ip + 2) == iplen, "IPv4 total length %u in a %zu-byte packet",
		 dl_get16(ip + 2), iplen);
	FZ_CHECK(ip_csum(ip, 20) == 0, "bad IPv4 header checksum from the stack");
	FZ_CHECK(dl_get32(ip + 12) == FN_OUR_IP, "IPv4 source %#x", dl_get32(ip + 12));
	FZ_CHECK(ip[8] > 0, "TTL 0 sent");
	switch (ip[9]) {
	case 6:
		tcp_out(w, ip, ip + 20, iplen - 20);
		break;
	case 1:
		FZ_CHECK(iplen >= 28 && fold(sum16(ip + 20, iplen - 20, 0)) == 0,
			 "bad ICMP message from the stack");
		break;
	default:
		FZ_CHECK(false, "IP protocol %u sent", ip[9]);
	}
}

/* ---- the loop ------------------------------------------------------------------ */

void fn_run(struct fn *w)
{
	struct dl_rx_pkt pkts[32];
	uint16_t n;
	size_t len;
	char why[512];

	while ((n = dl_nic_rx_burst(w->nic, 0, pkts, 32)) > 0)
		dl_stack_input(w->s, pkts, n, w->now);
	dl_stack_poll(w->s, w->now);
	dl_stack_flush(w->s);
	while ((len = dl_memwire_pop(W, 1, w->buf, sizeof(w->buf))) > 0)
		frame_out(w, w->buf, len);
	if (dbg() > 1) {
		const struct dl_tcp *t = w->s->tcp;
		for (uint32_t i = 0; i < t->next_fresh; i++) {
			const struct dl_tcb *c = tcb_at(t, i);
			if (c->state == DL_TCP_CLOSED)
				continue;
			fprintf(
			    stderr,
			    "  tcb %#x %s una %u nxt %u max %u sq %u+%u wnd %u cwnd %u rcv_nxt %u "
			    "rtx %llu delack %llu idle %llu flags %#x\n",
			    c->id, dl_tcp_state_name(c->state), c->snd_una, c->snd_nxt, c->snd_max,
			    c->sq_seq, c->sq_bytes, c->snd_wnd, c->cwnd, c->rcv_nxt,
			    (unsigned long long)c->t_rtx, (unsigned long long)c->t_delack,
			    (unsigned long long)c->t_idle, c->flags);
		}
	}
	FZ_CHECK(dl_stack_check(w->s, why, sizeof(why)) == 0, "t=%llu: %s",
		 (unsigned long long)w->now, why);
	w->steps++;
}

void fn_advance(struct fn *w, uint64_t us)
{
	w->now += us;
	fn_run(w);
}

void fn_next_deadline(struct fn *w, uint64_t max_us)
{
	uint64_t d = dl_stack_next_deadline(w->s);

	if (d != UINT64_MAX && d > w->now)
		w->now = d - w->now > max_us ? w->now + max_us : d;
	fn_run(w);
}

/* ---- what the peer sends ---------------------------------------------------- */

static void inject(struct fn *w, const uint8_t *p, size_t len)
{
	(void)w;
	if (len > 2048)
		len = 2048;
	dl_memwire_inject(W, 0, p, len); /* a full FIFO drops, as a NIC would */
}

void fn_raw(struct fn *w, const uint8_t *p, size_t len)
{
	if (dbg())
		fprintf(stderr, "t=%llu raw frame of %zu bytes\n", (unsigned long long)w->now, len);
	w->taint = true;
	inject(w, p, len);
}

static size_t ip_header(uint8_t *ip, uint32_t src, uint32_t dst, uint8_t proto, size_t l4len)
{
	static uint16_t ipid;

	ip[0] = 0x45;
	ip[1] = 0;
	dl_put16(ip + 2, (uint16_t)(20 + l4len));
	dl_put16(ip + 4, ipid++);
	dl_put16(ip + 6, 0x4000);
	ip[8] = 64;
	ip[9] = proto;
	dl_put16(ip + 10, 0);
	dl_put32(ip + 12, src);
	dl_put32(ip + 16, dst);
	dl_put16(ip + 10, ip_csum(ip, 20));
	return 20;
}

static void eth_header(uint8_t *p, const uint8_t *dst, uint16_t type)
{
	memcpy(p, dst, 6);
	memcpy(p + 6, peer_mac, 6);
	dl_put16(p + 12, type);
}

void fn_seg(struct fn *w, const struct fn_seg *sg)
{
	struct fn_flow *f = &w->fl[sg->flow % FN_NFLOWS];
	uint8_t fr[2048], opt[64];
	uint8_t *ip = fr + 14, *tcp = ip + 20;
	uint16_t pport = sg->sport_override ? sg->sport_override : f->pport;
	size_t olen = 0, hlen, len, plen, flen;
	uint32_t key = f->pip ^ pport, dseq = sg->seq + !!(sg->flags & DL_TCP_SYN);

	if (sg->mss) {
		opt[olen++] = 2, opt[olen++] = 4;
		dl_put16(opt + olen, sg->mss_val), olen += 2;
	}
	if (sg->ws) {
		opt[olen++] = 1, opt[olen++] = 3, opt[olen++] = 3;
		opt[olen++] = sg->ws_val;
	}
	if (sg->sackok)
		opt[olen++] = 1, opt[olen++] = 1, opt[olen++] = 4, opt[olen++] = 2;
	if (sg->ts) {
		opt[olen++] = 1, opt[olen++] = 1, opt[olen++] = 8, opt[olen++] = 10;
		dl_put32(opt + olen, sg->tsval), olen += 4;
		dl_put32(opt + olen, sg->tsecr), olen += 4;
	}
	for (size_t i = 0; sg->raw_opts != NULL && i < sg->raw_opts_len && olen < 40; i++)
		opt[olen++] = sg->raw_opts[i];
	if (olen > 40)
		olen = 40;
	while (olen % 4)
		opt[olen++] = 0;
	hlen = 20 + olen;
	plen = sg->len;
	if (plen > FN_MTU - 20 - hlen)
		plen = FN_MTU - 20 - hlen;
	len = hlen + plen;

	eth_header(fr, stack_mac, 0x0800);
	dl_put16(tcp, pport);
	dl_put16(tcp + 2, f->sport);
	dl_put32(tcp + 4, sg->seq);
	dl_put32(tcp + 8, sg->ack);
	tcp[12] = (uint8_t)((hlen / 4) << 4);
	tcp[13] = sg->flags;
	dl_put16(tcp + 14, sg->wnd);
	dl_put16(tcp + 16, 0);
	dl_put16(tcp + 18, (sg->flags & DL_TCP_URG) ? (uint16_t)plen : 0);
	memcpy(tcp + 20, opt, olen);
	for (size_t i = 0; i < plen; i++)
		tcp[hlen + i] =
		    sg->payload != NULL ? sg->payload[i] : fn_pat(key, dseq + (uint32_t)i);
	ip_header(ip, f->pip, FN_OUR_IP, 6, len);
	if ((sg->wnd & 7) == 5) { /* an eighth of the windows: marked CE (ECN) */
		ip[1] = 3;
		dl_put16(ip + 10, 0);
		dl_put16(ip + 10, ip_csum(ip, 20));
	}
	dl_put16(tcp + 16, l4_csum(f->pip, FN_OUR_IP, 6, tcp, len));
	flen = 14 + 20 + len;

	switch (sg->corrupt % FN_CORRUPT_N) {
	case FN_CORRUPT_TCP_CSUM:
		tcp[17] ^= 0x5a;
		break;
	case FN_CORRUPT_IP_CSUM:
		ip[11] ^= 0x21;
		break;
	case FN_CORRUPT_IP_LEN_SHORT:
	case FN_CORRUPT_IP_LEN_LONG:
		dl_put16(ip + 2, (uint16_t)(dl_get16(ip + 2) +
					    (sg->corrupt % FN_CORRUPT_N == FN_CORRUPT_IP_LEN_LONG
						 ? 8
						 : -(int)(1 + (plen + 20) % 31))));
		dl_put16(ip + 10, 0);
		dl_put16(ip + 10, ip_csum(ip, 20));
		break;
	case FN_CORRUPT_DATA_OFFSET:
		w->taint = true; /* the payload starts elsewhere: its bytes move */
		tcp[12] = (uint8_t)((tcp[12] + 0x40) & 0xf0);
		dl_put16(tcp + 16, 0);
		dl_put16(tcp + 16, l4_csum(f->pip, FN_OUR_IP, 6, tcp, len));
		break;
	case FN_CORRUPT_TRUNCATE:
		flen = 14 + 20 + (len > 21 ? len / 2 : 1);
		break;
	case FN_CORRUPT_TTL0:
	case FN_CORRUPT_FRAGMENT:
	case FN_CORRUPT_IP_OPTIONS:
		if (sg->corrupt % FN_CORRUPT_N == FN_CORRUPT_TTL0)
			ip[8] = 0;
		else if (sg->corrupt % FN_CORRUPT_N == FN_CORRUPT_FRAGMENT)
			dl_put16(ip + 6, 0x2000 | (plen & 7));
		else
			ip[0] = 0x46; /* 4 bytes of "options": the TCP ports */
		dl_put16(ip + 10, 0);
		dl_put16(ip + 10, ip_csum(ip, (size_t)(ip[0] & 15) * 4));
		break;
	case FN_CORRUPT_DST_IP:
	case FN_CORRUPT_SRC_BCAST:
		if (sg->corrupt % FN_CORRUPT_N == FN_CORRUPT_DST_IP)
			dl_put32(ip + 16, (plen & 1) ? 0x0a0000ffu : 0x0a000063u);
		else
			dl_put32(ip + 12, (plen & 1)   ? 0x0a0000ffu
					  : (plen & 2) ? 0x7f000001u
						       : 0xe0000001u);
		dl_put16(ip + 10, 0);
		dl_put16(ip + 10, ip_csum(ip, 20));
		dl_put16(tcp + 16, 0);
		dl_put16(tcp + 16, l4_csum(dl_get32(ip + 12), dl_get32(ip + 16), 6, tcp, len));
		break;
	case FN_CORRUPT_DST_MAC:
		fr[0] = (plen & 1) ? 0x01 : 0x02; /* multicast, or someone else's */
		fr[5] ^= 0x77;
		break;
	case FN_CORRUPT_PAD:
		memset(fr + flen, 0xee, 26);
		flen += 26;
		break;
	default:
		break;
	}
	if (dbg()) {
		trace_tcp("peer ", w->now, tcp, len);
		if (sg->corrupt % FN_CORRUPT_N)
			fprintf(stderr, "  (corrupted: %u)\n", sg->corrupt % FN_CORRUPT_N);
	}
	inject(w, fr, flen);
	if (sg->sport_override == 0 && sg->corrupt % FN_CORRUPT_N == FN_CORRUPT_NONE) {
		uint32_t end = dseq + (uint32_t)plen + !!(sg->flags & DL_TCP_FIN);
		if (sg->flags & DL_TCP_SYN)
			f->p_iss = sg->seq;
		if (seq_gt(end, f->p_nxt) || (sg->flags & DL_TCP_SYN))
			f->p_nxt = end;
		if (sg->flags & DL_TCP_ACK)
			f->p_acked = sg->ack;
	}
}

void fn_seg_default(struct fn *w, unsigned flow, uint8_t flags, struct fn_seg *sg)
{
	const struct fn_flow *f = &w->fl[flow % FN_NFLOWS];

	memset(sg, 0, sizeof(*sg));
	sg->flow = flow % FN_NFLOWS;
	sg->flags = flags;
	sg->seq = f->p_nxt;
	sg->ack = f->st_max;
	sg->wnd = 65535;
	sg->ts = f->st_tsval != 0;
	sg->tsval = (uint32_t)(w->now / 1000) + 7;
	sg->tsecr = f->st_tsval;
}

void fn_arp(struct fn *w, uint16_t op, uint32_t sip, const uint8_t smac[6], uint32_t tip)
{
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	uint8_t fr[60] = {0};
	uint8_t *a = fr + 14;

	eth_header(fr, op == 1 ? bcast : stack_mac, 0x0806);
	memcpy(fr + 6, smac, 6);
	dl_put16(a, 1);
	dl_put16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	dl_put16(a + 6, op);
	memcpy(a + 8, smac, 6);
	dl_put32(a + 14, sip);
	if (op != 1)
		memcpy(a + 18, stack_mac, 6);
	dl_put32(a + 24, tip);
	inject(w, fr, sizeof(fr));
}

void fn_ping(struct fn *w, uint32_t sip, uint32_t len, bool bad_csum, uint8_t type, uint8_t code)
{
	uint8_t fr[2048];
	uint8_t *ip = fr + 14, *ic = ip + 20;

	if (len > FN_MTU - 28)
		len = FN_MTU - 28;
	eth_header(fr, stack_mac, 0x0800);
	ic[0] = type;
	ic[1] = code;
	dl_put16(ic + 2, 0);
	dl_put16(ic + 4, 0x1234);
	dl_put16(ic + 6, (uint16_t)len);
	for (uint32_t i = 0; i < len; i++)
		ic[8 + i] = (uint8_t)(i * 7);
	dl_put16(ic + 2, fold(sum16(ic, 8 + len, 0)));
	if (bad_csum)
		ic[3] ^= 1;
	ip_header(ip, sip, FN_OUR_IP, 1, 8 + len);
	inject(w, fr, 14 + 20 + 8 + len);
}

/* ---- application commands ------------------------------------------------------- */

static struct fn_conn *conn_pick(struct fn *w, unsigned k)
{
	unsigned n = 0;

	for (unsigned i = 0; i < FN_MAXC; i++)
		n += w->c[i].used;
	if (n == 0)
		return NULL;
	k %= n;
	for (unsigned i = 0; i < FN_MAXC; i++)
		if (w->c[i].used && k-- == 0)
			return &w->c[i];
	return NULL;
}

static int app_send(struct fn *w, struct fn_conn *c, uint16_t app, uint32_t n)
{
	struct dl_tx_frag f[3];
	unsigned nf = 0;
	uint64_t off = c->tx_queued;
	uint32_t left = n;

	while (left > 0 && nf < 3) {
		uint32_t at = (uint32_t)(off % TXSZ), k = left;
		if (k > TXSZ - at)
			k = TXSZ - at;
		if (nf < 2 && k > 1 && (n & (1u << nf)))
			k = k / 2; /* split where the size says so */
		f[nf++] = (struct dl_tx_frag){TX->base + at, k, TX->id};
		off += k;
		left -= k;
	}
	n -= left;
	int rc = dl_stack_send(w->s, app, c->id, f, nf);
	if (rc == 0)
		c->tx_queued += n;
	return rc;
}

/* What a command on @p c must answer when it is not FN_APP's to give. */
static int refused(const struct fn_conn *c)
{
	return c->app_closed ? -ENOENT : -EPERM;
}

static void app_op(struct fn *w, struct fn_conn *c, unsigned op, uint32_t arg);

void fn_app(struct fn *w, unsigned k, unsigned op, uint32_t arg)
{
	app_op(w, conn_pick(w, k), op, arg);
}

void fn_app_flow(struct fn *w, unsigned flow, unsigned op, uint32_t arg)
{
	const struct fn_flow *f = &w->fl[flow % FN_NFLOWS];
	const struct dl_tcb *t = dl_tcp_lookup(w->s->tcp, f->pip, f->sport, f->pport, NULL);

	app_op(w, t != NULL ? conn_find(w, t->id) : NULL, op, arg);
}

static void app_op(struct fn *w, struct fn_conn *c, unsigned op, uint32_t arg)
{
	bool mine;
	int rc;

	if (dbg())
		fprintf(stderr, "t=%llu app op %u arg %u on %#x\n", (unsigned long long)w->now, op,
			arg, c != NULL ? c->id : 0);

	if (op == 9) {
		static const uint32_t ips[4] = {FN_PEER_IP, FN_PEER2_IP, FN_FAR_IP, FN_PEER_IP};
		uint32_t id;
		rc = dl_stack_connect(w->s, FN_APP, w->connect_cookie++, ips[arg & 3],
				      (uint16_t)(5000 + (arg >> 2) % 4), &id);
		FZ_CHECK(rc == 0 || rc == -ENOBUFS || rc == -EADDRNOTAVAIL || rc == -ENETUNREACH,
			 "connect: %d", rc);
		return;
	}
	if (op == 10) {
		uint32_t id = dead_ids[arg % FN_NDEAD];
		if (id == 0 || conn_find(w, id) != NULL)
			return;
		rc = (arg >> 3) % 3 == 0   ? dl_stack_recv_done(w->s, FN_APP, id, 1)
		     : (arg >> 3) % 3 == 1 ? dl_stack_close(w->s, FN_APP, id)
					   : dl_stack_accept(w->s, FN_APP, id);
		FZ_CHECK(rc == -ENOENT, "a command on the dead id %#x: %d", id, rc);
		return;
	}
	if (c == NULL)
		return;
	mine = c->accepted && !c->app_closed;
	switch (op) {
	case 0:
		rc = app_send(w, c, FN_APP, arg % 16384 + 1);
		FZ_CHECK(mine ? rc == 0 || rc == -ENOBUFS || rc == -EPIPE : rc == refused(c),
			 "send: %d", rc);
		break;
	case 1:
	case 2: {
		uint32_t n = op == 2 ? (uint32_t)c->rx_unret : arg % (uint32_t)(c->rx_unret + 2);
		rc = dl_stack_recv_done(w->s, FN_APP, c->id, n);
		if (!mine)
			FZ_CHECK(rc == refused(c), "recv_done on a connection not ours: %d", rc);
		else if (n > c->rx_unret)
			FZ_CHECK(rc == -EINVAL, "recv_done of %u with %llu held: %d", n,
				 (unsigned long long)c->rx_unret, rc);
		else
			FZ_CHECK(rc == 0, "recv_done of %u with %llu held: %d", n,
				 (unsigned long long)c->rx_unret, rc);
		if (rc == 0)
			c->rx_unret -= n;
		break;
	}
	case 3:
		c->hold = !c->hold;
		break;
	case 4: {
		int how = (int)(arg % 4);
		rc = dl_stack_shutdown(w->s, FN_APP, c->id, how);
		FZ_CHECK(how == 3 ? rc == -EINVAL
			 : mine	  ? rc == 0
				  : rc == refused(c),
			 "shutdown(%d): %d", how, rc);
		break;
	}
	case 5:
	case 6:
		rc = op == 5 ? dl_stack_close(w->s, FN_APP, c->id)
			     : dl_stack_abort(w->s, FN_APP, c->id);
		FZ_CHECK(c->app_closed ? rc == -ENOENT : rc == 0, "%s: %d",
			 op == 5 ? "close" : "abort", rc);
		if (rc == 0) {
			c->app_closed = true;
			c->rx_unret = 0;
		}
		break;
	case 7: {
		bool was_offered = c->offered;
		if (was_offered) { /* owned before the call: held data comes at once */
			c->offered = false;
			c->accepted = true;
		}
		rc = dl_stack_accept(w->s, FN_APP, c->id);
		/* An active open is no offer: unknown to accept. */
		FZ_CHECK(c->app_closed || c->active ? rc == -ENOENT
			 : was_offered		    ? rc == 0
						    : rc == -EALREADY,
			 "accept: %d", rc);
		if (rc != 0 && was_offered) {
			c->offered = true;
			c->accepted = false;
		}
		break;
	}
	case 8:
		if (!mine)
			break;
		switch (arg % 5) {
		case 0:
			rc = app_send(w, c, FN_OTHER, 10);
			break;
		case 1:
			rc = dl_stack_recv_done(w->s, FN_OTHER, c->id, 0);
			break;
		case 2:
			rc = dl_stack_shutdown(w->s, FN_OTHER, c->id, SHUT_WR);
			break;
		case 3:
			rc = dl_stack_close(w->s, FN_OTHER, c->id);
			break;
		default:
			rc = dl_stack_abort(w->s, FN_OTHER, c->id);
			break;
		}
		FZ_CHECK(rc == -EPERM, "command %u of another core: %d", arg % 5, rc);
		break;
	default:
		break;
	}
}

/* ---- set-up and teardown ------------------------------------------------------ */

void fn_global_init(void)
{
	struct dl_memwire_config wc = {.nbufs = 4096, .fifo_len = 1024, .mtu = FN_MTU};

	dl_log_level = DL_LOG_ERR;
	W = dl_memwire_create(&wc);
	TX = dl_region_create("fuzz-tx", TXSZ, 0);
	FZ_CHECK(W != NULL && TX != NULL, "set-up");
	for (uint32_t i = 0; i < TXSZ; i++)
		TX->base[i] = (uint8_t)((i * 131u) ^ (i >> 8) ^ (i >> 13));
	memcpy(stack_mac, dl_memwire_nic(W, 0)->mac, 6);
	memcpy(peer_mac, dl_memwire_nic(W, 1)->mac, 6);
}

static const struct {
	uint32_t ip;
	uint16_t pport, sport;
} flow_def[FN_NFLOWS] = {
    {FN_PEER_IP, 40000, 80}, {FN_PEER_IP, 40001, 80},  {FN_PEER_IP, 40002, 8080},
    {FN_PEER_IP, 40003, 80}, {FN_PEER2_IP, 40004, 80}, {FN_FAR_IP, 40005, 80},
    {FN_PEER_IP, 40006, 81}, {FN_PEER_IP, 5001, 0},
};

/* The handshake of a passive flow, through the peer like any script. */
static void open_passive(struct fn *w, unsigned flow, bool opts)
{
	struct fn_seg sg;

	fn_seg_default(w, flow, DL_TCP_SYN, &sg);
	sg.ack = 0;
	sg.mss = true;
	sg.mss_val = 1460;
	sg.ws = sg.ts = opts;
	sg.ws_val = 4;
	sg.tsecr = 0;
	fn_seg(w, &sg);
	fn_run(w);
	fn_seg_default(w, flow, DL_TCP_ACK, &sg);
	sg.ts = opts && w->fl[flow].st_tsval != 0;
	fn_seg(w, &sg);
	fn_run(w);
}

struct fn *fn_new(uint8_t cfg)
{
	struct fn *w = calloc(1, sizeof(*w));
	struct dl_stack_config sc;
	struct fn_seg sg;
	uint32_t id;

	FZ_CHECK(w != NULL, "calloc");
	w->now = FN_T0;
	w->nic = dl_memwire_nic(W, 0);
	dl_stack_config_defaults(&sc);
	sc.ip = FN_OUR_IP;
	sc.prefix_len = 24;
	sc.gw = (cfg & 0x20) ? FN_GW_IP : 0;
	memcpy(sc.mac, stack_mac, 6);
	sc.mtu = FN_MTU;
	sc.arp_pending_max = 4;
	sc.arp_entries = 16;
	sc.arp_retry_us = 300000;
	sc.arp_timeout_us = 5000000;
	memset(sc.tcp.isn_key, 0x5a, sizeof(sc.tcp.isn_key));
	sc.tcp.max_conns = 64;
	sc.tcp.timestamps = !(cfg & 0x01);
	sc.tcp.wscale = (cfg & 0x02) ? 0 : 7;
	sc.tcp.syn_cookies = (cfg & 0x04) != 0;
	sc.tcp.syn_backlog = (cfg & 0x04) ? 2 : 16;
	sc.tcp.accept_backlog = 8;
	if (cfg & 0x08) {
		sc.tcp.keepalive_us = 2000000;
		sc.tcp.keepalive_intvl_us = 500000;
		sc.tcp.keepalive_probes = 3;
	}
	sc.tcp.delack_us = (cfg & 0x10) ? 0 : 40000;
	/* without timestamps, our SYNs ask for ECN too (its default accepts
	 * when a peer's SYN asks) */
	sc.tcp.ecn = (cfg & 0x01) ? DL_TCP_ECN_ON : DL_TCP_ECN_ACCEPT;
	/* keepalive with immediate ACKs: BBR instead of CUBIC (a quarter of
	 * the inputs; every bit of cfg is taken) */
	if ((cfg & 0x18) == 0x18)
		sc.tcp.cc = DL_TCP_CC_BBR;
	if (cfg & 0x40) {
		sc.tcp.rcv_wnd = 4096;
		sc.tcp.ooo_max_bytes = 3000;
		sc.tcp.ooo_max_segs = 4;
		sc.tcp.rx_bufs_max = 8;
		sc.tcp.app_rx_credit = 6000;
	}
	if (cfg & 0x80) {
		sc.tcp.snd_queue_bytes = 40000;
		sc.tcp.snd_queue_frags = 16;
		sc.tcp.snd_pool_frags = 64;
	}
	sc.tcp.msl_us = 2000000;
	sc.tcp.fin_wait2_us = 5000000;
	sc.tcp.syn_retries = 3;
	sc.tcp.max_retries = 4;
	sc.tcp.challenge_ack_limit = 10;
	w->ts_on = sc.tcp.timestamps;
	w->s = dl_stack_create(&sc, w->nic, 0, 0, 1);
	FZ_CHECK(w->s != NULL, "dl_stack_create");
	/* Deterministic: the per-boot table key and port offset (the table
	 * is empty until the listens below). */
	w->s->tcp->hkey[0] = 0x9e3779b97f4a7c15ull;
	w->s->tcp->hkey[1] = 0x6a09e667f3bcc909ull;
	w->s->tcp->port_next = 0;
	dl_stack_set_upcalls(w->s, &fn_upcalls, w);
	dl_stack_start(w->s, w->now);
	dl_stack_arp_learn(w->s, FN_PEER_IP, peer_mac, w->now);
	FZ_CHECK(dl_stack_listen(w->s, 80, 0) == 0 && dl_stack_listen(w->s, 8080, 4) == 0,
		 "listen");
	for (unsigned i = 0; i < FN_NFLOWS; i++) {
		struct fn_flow *f = &w->fl[i];
		f->pip = flow_def[i].ip;
		f->pport = flow_def[i].pport;
		f->sport = flow_def[i].sport;
		f->p_iss = f->p_nxt = 0x10000000u * (i + 1) + 12345u;
	}
	fn_run(w);
	open_passive(w, FN_F_EST_TS, true);
	open_passive(w, FN_F_EST, false);
	open_passive(w, FN_F_OFFERED, true);
	FZ_CHECK(dl_stack_connect(w->s, FN_APP, w->connect_cookie++, FN_PEER_IP, 5001, &id) == 0,
		 "connect");
	fn_run(w);
	fn_seg_default(w, FN_F_ACTIVE, DL_TCP_SYN | DL_TCP_ACK, &sg);
	sg.mss = sg.ws = true;
	sg.mss_val = 1400;
	sg.ws_val = 2;
	sg.ts = w->fl[FN_F_ACTIVE].st_tsval != 0;
	fn_seg(w, &sg);
	fn_run(w);
	return w;
}

void fn_free(struct fn *w)
{
	size_t len;

	dl_stack_destroy(w->s);
	for (unsigned i = 0; i < FN_MAXC; i++)
		FZ_CHECK(!w->c[i].used, "connection %#x never cleaned up", w->c[i].id);
	while ((len = dl_memwire_pop(W, 1, w->buf, sizeof(w->buf))) > 0)
		;
	while ((len = dl_memwire_pop(W, 0, w->buf, sizeof(w->buf))) > 0)
		;
	FZ_CHECK(dl_memwire_bufs_in_use(W) == 0, "%u wire buffers never returned",
		 dl_memwire_bufs_in_use(W));
	memset(dead_ids, 0, sizeof(dead_ids));
	free(w);
}

/* Both targets of this world (fuzz_frame, fuzz_tcp_session) start the same way. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	fn_global_init();
	return 0;
}
