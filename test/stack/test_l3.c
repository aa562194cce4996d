/*
 * test_l3.c - one net core's Ethernet/ARP/IPv4/ICMP behaviour over the
 * in-memory wire: the test plays the Linux host on side 1, injects crafted
 * frames and asserts the exact frames the stack sends back and the counter
 * each malformed input increments. Time is an argument, never read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dl_cksum.h"
#include "dl_memwire.h"
#include "dl_stack_priv.h"

#define OUR_IP 0x0a000002u  /* 10.0.0.2 */
#define PEER_IP 0x0a000001u /* 10.0.0.1 */

static const uint8_t our_mac[6] = {2, 0, 0, 0, 0, 1};
static const uint8_t peer_mac[6] = {2, 0, 0, 0, 0, 2};
static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

struct fixture {
	struct dl_memwire *w;
	struct dl_stack *s;
	uint64_t now;
	uint8_t out[2048];
	size_t out_len;
};

static struct dl_stack *make_stack(struct fixture *f, const struct dl_stack_config *over)
{
	struct dl_stack_config cfg;

	if (over != NULL) {
		cfg = *over;
	} else {
		dl_stack_config_defaults(&cfg);
		cfg.ip = OUR_IP;
		cfg.prefix_len = 24;
	}
	memcpy(cfg.mac, our_mac, 6);
	return dl_stack_create(&cfg, dl_memwire_nic(f->w, 0), 0, 0, 1);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->w = dl_memwire_create(NULL);
	assert_non_null(f->w);
	f->s = make_stack(f, NULL);
	assert_non_null(f->s);
	f->now = 1000000;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	uint8_t tmp[2048];

	dl_stack_destroy(f->s);
	while (dl_memwire_pop(f->w, 1, tmp, sizeof(tmp)) > 0)
		;
	while (dl_memwire_pop(f->w, 0, tmp, sizeof(tmp)) > 0)
		;
	/* Every buffer the stack took came back. */
	assert_int_equal(dl_memwire_bufs_in_use(f->w), 0);
	dl_memwire_destroy(f->w);
	free(f);
	return 0;
}

/* One loop iteration of a net core. */
static void run(struct fixture *f)
{
	struct dl_rx_pkt pkts[32];
	uint16_t n;

	while ((n = dl_nic_rx_burst(dl_memwire_nic(f->w, 0), 0, pkts, 32)) > 0)
		dl_stack_input(f->s, pkts, n, f->now);
	dl_stack_poll(f->s, f->now);
	dl_stack_flush(f->s);
}

/* Next frame the stack sent, into f->out; returns its length (0 = none). */
static size_t next_out(struct fixture *f)
{
	f->out_len = dl_memwire_pop(f->w, 1, f->out, sizeof(f->out));
	return f->out_len;
}

static void inject(struct fixture *f, const uint8_t *frame, size_t len)
{
	assert_int_equal(dl_memwire_inject(f->w, 0, frame, len), 0);
}

static size_t build_arp(uint8_t *b, uint16_t op, const uint8_t *eth_dst, const uint8_t sha[6],
			uint32_t spa, const uint8_t tha[6], uint32_t tpa)
{
	struct dl_arp_pkt a = {.op = op, .spa = spa, .tpa = tpa};
	memcpy(a.sha, sha, 6);
	memcpy(a.tha, tha, 6);
	memset(b, 0, 60);
	dl_eth_build(b, eth_dst, sha, DL_ETHERTYPE_ARP);
	dl_arp_build(b + 14, &a);
	return 60;
}

/* Ethernet + IPv4 + ICMP echo request with `plen` payload bytes. */
static size_t build_echo(uint8_t *b, uint32_t src, uint32_t dst, uint16_t seq, size_t plen)
{
	uint8_t *ip = b + 14, *ic = ip + 20;
	struct dl_ipv4_hdr h = {.ihl_bytes = 20, .total_len = (uint16_t)(28 + plen), .id = seq,
				.ttl = 64, .proto = DL_IPPROTO_ICMP, .src = src, .dst = dst};
	dl_eth_build(b, our_mac, peer_mac, DL_ETHERTYPE_IPV4);
	dl_ipv4_build(ip, &h, true);
	ic[0] = DL_ICMP_ECHO_REQUEST;
	ic[1] = 0;
	ic[2] = ic[3] = 0;
	dl_put16(ic + 4, 0xbeef);
	dl_put16(ic + 6, seq);
	for (size_t i = 0; i < plen; i++)
		ic[8 + i] = (uint8_t)(i + seq);
	uint16_t c = dl_cksum(ic, 8 + plen);
	memcpy(ic + 2, &c, 2);
	return 14 + 28 + plen;
}

static void learn_peer(struct fixture *f)
{
	uint8_t b[60];
	inject(f, b, build_arp(b, DL_ARP_REQUEST, bcast, peer_mac, PEER_IP,
			       (const uint8_t[6]){0}, OUR_IP));
	run(f);
	assert_int_not_equal(next_out(f), 0); /* the reply */
	assert_int_equal(next_out(f), 0);
}

static void assert_echo_reply(struct fixture *f, uint16_t seq, size_t plen, const uint8_t *dmac)
{
	struct dl_eth_hdr eth;
	struct dl_ipv4_hdr ip;
	struct dl_icmp_hdr ic;

	assert_int_equal(f->out_len, 14 + 28 + plen);
	assert_int_equal(dl_eth_parse(f->out, f->out_len, &eth), DL_WIRE_OK);
	assert_memory_equal(eth.dst, dmac, 6);
	assert_memory_equal(eth.src, our_mac, 6);
	assert_int_equal(eth.type, DL_ETHERTYPE_IPV4);
	assert_int_equal(dl_ipv4_parse(f->out + 14, f->out_len - 14, false, &ip), DL_WIRE_OK);
	assert_int_equal(ip.src, OUR_IP);
	assert_int_equal(ip.dst, PEER_IP);
	assert_int_equal(ip.proto, DL_IPPROTO_ICMP);
	assert_int_equal(ip.frag, DL_IPV4_DF);
	assert_int_equal(dl_icmp_parse(f->out + 34, ip.total_len - 20u, &ic), DL_WIRE_OK);
	assert_int_equal(ic.type, DL_ICMP_ECHO_REPLY);
	assert_int_equal(ic.id, 0xbeef);
	assert_int_equal(ic.seq, seq);
	for (size_t i = 0; i < plen; i++)
		assert_int_equal(f->out[42 + i], (uint8_t)(i + seq));
}

static void test_start_sends_gratuitous_arp(void **state)
{
	struct fixture *f = *state;
	struct dl_arp_pkt a;

	dl_stack_start(f->s, f->now);
	dl_stack_flush(f->s);
	assert_int_equal(next_out(f), 60);
	assert_memory_equal(f->out, bcast, 6);
	assert_int_equal(dl_arp_parse(f->out + 14, 46, &a), DL_WIRE_OK);
	assert_int_equal(a.op, DL_ARP_REQUEST);
	assert_int_equal(a.spa, OUR_IP);
	assert_int_equal(a.tpa, OUR_IP);
	assert_memory_equal(a.sha, our_mac, 6);
	assert_int_equal(f->s->arp_cnt[ARP_TX_GRATUITOUS], 1);
}

static void test_arp_request_gets_reply(void **state)
{
	struct fixture *f = *state;
	struct dl_arp_pkt a;
	uint8_t b[60];

	inject(f, b, build_arp(b, DL_ARP_REQUEST, bcast, peer_mac, PEER_IP,
			       (const uint8_t[6]){0}, OUR_IP));
	run(f);
	assert_int_equal(next_out(f), 60);
	assert_memory_equal(f->out, peer_mac, 6);
	assert_int_equal(dl_arp_parse(f->out + 14, 46, &a), DL_WIRE_OK);
	assert_int_equal(a.op, DL_ARP_REPLY);
	assert_int_equal(a.spa, OUR_IP);
	assert_int_equal(a.tpa, PEER_IP);
	assert_memory_equal(a.sha, our_mac, 6);
	assert_memory_equal(a.tha, peer_mac, 6);
	assert_int_equal(f->s->arp_cnt[ARP_RX_REQUEST], 1);
	assert_int_equal(f->s->arp_cnt[ARP_TX_REPLY], 1);
	assert_int_equal(f->s->arp_cnt[ARP_LEARNED], 1);
	assert_int_equal(next_out(f), 0);
}

static void test_arp_for_other_address_ignored(void **state)
{
	struct fixture *f = *state;
	uint8_t b[60];

	inject(f, b, build_arp(b, DL_ARP_REQUEST, bcast, peer_mac, PEER_IP,
			       (const uint8_t[6]){0}, 0x0a000063));
	run(f);
	assert_int_equal(next_out(f), 0);
	assert_int_equal(f->s->arp_cnt[ARP_IGNORED_NOT_FOR_US], 1);
	assert_int_equal(f->s->arp_cnt[ARP_LEARNED], 0);
}

static void test_arp_malformed_counted(void **state)
{
	struct fixture *f = *state;
	uint8_t b[60];

	build_arp(b, DL_ARP_REQUEST, bcast, peer_mac, PEER_IP, (const uint8_t[6]){0}, OUR_IP);
	inject(f, b, 14 + 20); /* truncated */
	b[14 + 7] = 9;         /* bad opcode */
	inject(f, b, 60);
	b[14 + 7] = 1;
	b[14 + 4] = 7; /* bad hlen */
	inject(f, b, 60);
	build_arp(b, DL_ARP_REQUEST, bcast, bcast, PEER_IP, (const uint8_t[6]){0}, OUR_IP);
	inject(f, b, 60); /* broadcast sender MAC */
	build_arp(b, DL_ARP_REPLY, our_mac, peer_mac, OUR_IP, our_mac, OUR_IP);
	inject(f, b, 60); /* someone claims our address */
	run(f);
	assert_int_equal(next_out(f), 0);
	assert_int_equal(f->s->arp_cnt[ARP_DROP_TRUNCATED], 1);
	assert_int_equal(f->s->arp_cnt[ARP_DROP_BAD_OPCODE], 1);
	assert_int_equal(f->s->arp_cnt[ARP_DROP_BAD_FORMAT], 1);
	assert_int_equal(f->s->arp_cnt[ARP_DROP_BAD_SENDER], 1);
	assert_int_equal(f->s->arp_cnt[ARP_ADDR_CONFLICT], 1);
}

static void test_echo_reply_known_neighbour(void **state)
{
	struct fixture *f = *state;
	uint8_t b[1600];

	learn_peer(f);
	for (uint16_t seq = 1; seq <= 3; seq++) {
		inject(f, b, build_echo(b, PEER_IP, OUR_IP, seq, 56));
	}
	inject(f, b, build_echo(b, PEER_IP, OUR_IP, 4, 1472)); /* maximum size */
	inject(f, b, build_echo(b, PEER_IP, OUR_IP, 5, 0));
	run(f);
	for (uint16_t seq = 1; seq <= 3; seq++) {
		assert_int_not_equal(next_out(f), 0);
		assert_echo_reply(f, seq, 56, peer_mac);
	}
	assert_int_not_equal(next_out(f), 0);
	assert_echo_reply(f, 4, 1472, peer_mac);
	assert_int_not_equal(next_out(f), 0);
	assert_echo_reply(f, 5, 0, peer_mac);
	assert_int_equal(f->s->icmp_cnt[ICMP_TX_ECHO_REPLY], 5);
}

static void test_echo_unknown_neighbour_parks_then_resolves(void **state)
{
	struct fixture *f = *state;
	uint8_t b[200];
	struct dl_arp_pkt a;

	inject(f, b, build_echo(b, PEER_IP, OUR_IP, 7, 32));
	run(f);
	/* An ARP request goes out instead of the reply. */
	assert_int_equal(next_out(f), 60);
	assert_memory_equal(f->out, bcast, 6);
	assert_int_equal(dl_arp_parse(f->out + 14, 46, &a), DL_WIRE_OK);
	assert_int_equal(a.op, DL_ARP_REQUEST);
	assert_int_equal(a.tpa, PEER_IP);
	assert_int_equal(next_out(f), 0);
	assert_int_equal(f->s->arp_cnt[ARP_PENDING_QUEUED], 1);

	f->now += 1000;
	inject(f, b, build_arp(b, DL_ARP_REPLY, our_mac, peer_mac, PEER_IP, our_mac, OUR_IP));
	run(f);
	assert_int_not_equal(next_out(f), 0);
	assert_echo_reply(f, 7, 32, peer_mac);
	assert_int_equal(f->s->arp_cnt[ARP_PENDING_SENT], 1);
	assert_int_equal(f->s->arp_pend_n, 0);
}

static void test_arp_unresolved_drops_after_retries(void **state)
{
	struct fixture *f = *state;
	uint8_t b[200];
	int requests = 0;

	inject(f, b, build_echo(b, PEER_IP, OUR_IP, 1, 8));
	for (int i = 0; i < 10; i++) {
		run(f);
		while (next_out(f) > 0)
			requests++;
		f->now += f->s->cfg.arp_retry_us;
	}
	assert_int_equal(requests, 3);
	assert_int_equal(f->s->arp_cnt[ARP_TX_REQUEST], 3);
	assert_int_equal(f->s->arp_cnt[ARP_DROP_UNRESOLVED], 1);
	assert_int_equal(f->s->arp_pend_n, 0);
	assert_false(f->s->arp_scan);
}

static void test_pending_queue_is_bounded(void **state)
{
	struct fixture *f = *state;
	struct dl_stack_config cfg;
	uint8_t b[200];

	dl_stack_destroy(f->s);
	dl_stack_config_defaults(&cfg);
	cfg.ip = OUR_IP;
	cfg.arp_pending_max = 4;
	f->s = make_stack(f, &cfg);
	for (uint32_t i = 0; i < 6; i++)
		inject(f, b, build_echo(b, PEER_IP + 10 + i, OUR_IP, (uint16_t)i, 8));
	run(f);
	assert_int_equal(f->s->arp_cnt[ARP_PENDING_QUEUED], 4);
	assert_int_equal(f->s->arp_cnt[ARP_DROP_PENDING_FULL], 2);
	assert_int_equal(f->s->arp_pend_n, 4);
	/* Destroying with parked frames frees them (teardown checks buffers). */
}

static void test_stale_entry_used_and_refreshed(void **state)
{
	struct fixture *f = *state;
	uint8_t b[200];
	struct dl_arp_pkt a;

	learn_peer(f);
	f->now += f->s->cfg.arp_timeout_us + 1;
	inject(f, b, build_echo(b, PEER_IP, OUR_IP, 1, 8));
	run(f);
	/* The reply goes out with the stale MAC. */
	assert_int_not_equal(next_out(f), 0);
	assert_echo_reply(f, 1, 8, peer_mac);
	/* Poll sends a unicast refresh. */
	f->now += 1;
	run(f);
	assert_int_equal(next_out(f), 60);
	assert_memory_equal(f->out, peer_mac, 6);
	assert_int_equal(dl_arp_parse(f->out + 14, 46, &a), DL_WIRE_OK);
	assert_int_equal(a.tpa, PEER_IP);
	/* Three unanswered refreshes: the entry is forgotten. */
	for (int i = 0; i < 4; i++) {
		f->now += f->s->cfg.arp_retry_us;
		run(f);
		while (next_out(f) > 0)
			;
	}
	assert_int_equal(f->s->arp_cnt[ARP_EXPIRED], 1);
}

static void test_gateway_and_no_route(void **state)
{
	struct fixture *f = *state;
	struct dl_stack_config cfg;
	struct dl_arp_pkt a;
	uint8_t b[200];

	/* No gateway: an off-link source cannot be answered. */
	inject(f, b, build_echo(b, 0xc0a80505, OUR_IP, 1, 8));
	run(f);
	assert_int_equal(next_out(f), 0);
	assert_int_equal(f->s->arp_cnt[ARP_DROP_NO_ROUTE], 1);

	dl_stack_destroy(f->s);
	dl_stack_config_defaults(&cfg);
	cfg.ip = OUR_IP;
	cfg.gw = 0x0a0000fe;
	f->s = make_stack(f, &cfg);
	inject(f, b, build_echo(b, 0xc0a80505, OUR_IP, 1, 8));
	run(f);
	assert_int_equal(next_out(f), 60);
	assert_int_equal(dl_arp_parse(f->out + 14, 46, &a), DL_WIRE_OK);
	assert_int_equal(a.tpa, 0x0a0000fe); /* resolves the gateway */
}

/* Inject one malformed frame; assert it is dropped with exactly `counter`. */
static void expect_drop(struct fixture *f, const uint8_t *b, size_t len, const uint64_t *counter)
{
	uint64_t before = *counter;
	inject(f, b, len);
	run(f);
	assert_int_equal(next_out(f), 0);
	assert_int_equal(*counter, before + 1);
}

static void fix_ip_csum(uint8_t *frame)
{
	frame[24] = frame[25] = 0;
	uint16_t c = dl_cksum(frame + 14, (size_t)(frame[14] & 0xf) * 4);
	memcpy(frame + 24, &c, 2);
}

static void test_malformed_frames_counted(void **state)
{
	struct fixture *f = *state;
	struct dl_stack *s = f->s;
	uint8_t good[200], b[200];
	size_t len;

	learn_peer(f);
	len = build_echo(good, PEER_IP, OUR_IP, 1, 16);

	expect_drop(f, good, 10, &s->eth_cnt[ETH_DROP_TRUNCATED]);
	memcpy(b, good, len);
	memcpy(b, (const uint8_t[6]){2, 9, 9, 9, 9, 9}, 6);
	expect_drop(f, b, len, &s->eth_cnt[ETH_DROP_NOT_FOR_US]);
	memcpy(b, (const uint8_t[6]){1, 0, 0x5e, 0, 0, 1}, 6);
	expect_drop(f, b, len, &s->eth_cnt[ETH_DROP_MULTICAST]);
	memcpy(b, good, len);
	dl_put16(b + 12, DL_ETHERTYPE_VLAN);
	expect_drop(f, b, len, &s->eth_cnt[ETH_DROP_VLAN]);
	dl_put16(b + 12, 0x86dd);
	expect_drop(f, b, len, &s->eth_cnt[ETH_DROP_UNKNOWN_TYPE]);

	expect_drop(f, good, 14 + 19, &s->ipv4_cnt[IPV4_DROP_TRUNCATED]);
	expect_drop(f, good, len - 1, &s->ipv4_cnt[IPV4_DROP_TRUNCATED]);
	memcpy(b, good, len);
	b[14] = 0x65;
	expect_drop(f, b, len, &s->ipv4_cnt[IPV4_DROP_BAD_VERSION]);
	memcpy(b, good, len);
	b[14] = 0x43;
	expect_drop(f, b, len, &s->ipv4_cnt[IPV4_DROP_BAD_IHL]);
	memcpy(b, good, len);
	dl_put16(b + 16, 10);
	fix_ip_csum(b);
	expect_drop(f, b, len, &s->ipv4_cnt[IPV4_DROP_BAD_LENGTH]);
	memcpy(b, good, len);
	b[25] ^= 0x40;
	expect_drop(f, b, len, &s->ipv4_cnt[IPV4_DROP_BAD_CHECKSUM]);
	memcpy(b, good, len);
	dl_put16(b + 20, DL_IPV4_MF);
	fix_ip_csum(b);
	expect_drop(f, b, len, &s->ipv4_cnt[IPV4_DROP_FRAGMENT]);
	dl_put16(b + 20, 100);
	fix_ip_csum(b);
	expect_drop(f, b, len, &s->ipv4_cnt[IPV4_DROP_FRAGMENT]);
	/* IHL 6: one option word inserted (NOP padding). */
	memcpy(b, good, 34);
	b[14] = 0x46;
	dl_put16(b + 16, (uint16_t)(len - 14 + 4));
	memset(b + 34, 1, 4);
	memcpy(b + 38, good + 34, len - 34);
	fix_ip_csum(b);
	expect_drop(f, b, len + 4, &s->ipv4_cnt[IPV4_DROP_OPTIONS]);
	memcpy(b, good, len);
	b[22] = 0;
	fix_ip_csum(b);
	expect_drop(f, b, len, &s->ipv4_cnt[IPV4_DROP_TTL_ZERO]);
	memcpy(b, good, len);
	dl_put32(b + 30, 0x0a000009);
	fix_ip_csum(b);
	expect_drop(f, b, len, &s->ipv4_cnt[IPV4_DROP_NOT_FOR_US]);
	memcpy(b, good, len);
	dl_put32(b + 26, OUR_IP);
	fix_ip_csum(b);
	expect_drop(f, b, len, &s->ipv4_cnt[IPV4_DROP_BAD_SRC]);
	dl_put32(b + 26, 0x0a0000ff);
	fix_ip_csum(b);
	expect_drop(f, b, len, &s->ipv4_cnt[IPV4_DROP_BAD_SRC]);
	dl_put32(b + 26, 0xe0000001);
	fix_ip_csum(b);
	expect_drop(f, b, len, &s->ipv4_cnt[IPV4_DROP_BAD_SRC]);
	memcpy(b, good, len);
	b[23] = 47; /* GRE */
	fix_ip_csum(b);
	expect_drop(f, b, len, &s->ipv4_cnt[IPV4_DROP_UNKNOWN_PROTO]);
	b[23] = DL_IPPROTO_UDP;
	fix_ip_csum(b);
	expect_drop(f, b, len, &s->ipv4_cnt[IPV4_DROP_UDP_NO_LISTENER]);

	memcpy(b, good, len);
	b[40] ^= 1;
	expect_drop(f, b, len, &s->icmp_cnt[ICMP_DROP_BAD_CHECKSUM]);
	memcpy(b, good, len);
	dl_put16(b + 16, 20 + 4);
	fix_ip_csum(b);
	expect_drop(f, b, len, &s->icmp_cnt[ICMP_DROP_TRUNCATED]);
	memcpy(b, good, len);
	b[34] = 13; /* timestamp request */
	b[36] = b[37] = 0;
	{
		uint16_t c = dl_cksum(b + 34, len - 34);
		memcpy(b + 36, &c, 2);
	}
	expect_drop(f, b, len, &s->icmp_cnt[ICMP_DROP_UNSUPPORTED]);
	/* Echo to the subnet broadcast address: no smurf amplification. */
	len = build_echo(b, PEER_IP, 0x0a0000ff, 1, 16);
	memcpy(b, bcast, 6);
	expect_drop(f, b, len, &s->icmp_cnt[ICMP_DROP_BROADCAST_ECHO]);

	/* After all of that, a good echo still works. */
	inject(f, good, build_echo(good, PEER_IP, OUR_IP, 9, 16));
	run(f);
	assert_int_not_equal(next_out(f), 0);
	assert_echo_reply(f, 9, 16, peer_mac);
}

static void test_random_frames_never_crash(void **state)
{
	struct fixture *f = *state;
	uint8_t b[300];
	uint32_t x = 99;

	learn_peer(f);
	for (int i = 0; i < 5000; i++) {
		size_t len = build_echo(b, PEER_IP, OUR_IP, (uint16_t)i, 64);
		/* Flip a few random bytes of a valid frame, or truncate it. */
		for (int k = 0; k < 3; k++) {
			x = x * 1103515245u + 12345u;
			b[(x >> 8) % len] ^= (uint8_t)(x >> 20);
		}
		x = x * 1103515245u + 12345u;
		if ((x >> 10) % 4 == 0)
			len = (x >> 14) % len;
		inject(f, b, len);
		run(f);
		while (next_out(f) > 0)
			;
	}
	assert_int_equal(dl_memwire_bufs_in_use(f->w), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_start_sends_gratuitous_arp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arp_request_gets_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arp_for_other_address_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arp_malformed_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_echo_reply_known_neighbour, setup, teardown),
		cmocka_unit_test_setup_teardown(test_echo_unknown_neighbour_parks_then_resolves,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_arp_unresolved_drops_after_retries, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pending_queue_is_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_entry_used_and_refreshed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_gateway_and_no_route, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_frames_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_frames_never_crash, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
