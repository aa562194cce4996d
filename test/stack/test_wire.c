/*
 * test_wire.c - Ethernet/ARP/IPv4/ICMP parsers and builders, with
 * malformed input. Every parse runs on a heap copy of exactly the stated
 * length, so an out-of-bounds read is caught by AddressSanitizer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dl_cksum.h"
#include "dl_wire.h"

/* Parse helpers running on an exact-size heap copy. */
static enum dl_wire_err ip_parse_exact(const uint8_t *b, size_t len, bool csum_ok,
				       struct dl_ipv4_hdr *h)
{
	uint8_t *c = malloc(len ? len : 1);
	memcpy(c, b, len);
	enum dl_wire_err e = dl_ipv4_parse(c, len, csum_ok, h);
	free(c);
	return e;
}

static enum dl_wire_err arp_parse_exact(const uint8_t *b, size_t len, struct dl_arp_pkt *a)
{
	uint8_t *c = malloc(len ? len : 1);
	memcpy(c, b, len);
	enum dl_wire_err e = dl_arp_parse(c, len, a);
	free(c);
	return e;
}

static enum dl_wire_err icmp_parse_exact(const uint8_t *b, size_t len, struct dl_icmp_hdr *h)
{
	uint8_t *c = malloc(len ? len : 1);
	memcpy(c, b, len);
	enum dl_wire_err e = dl_icmp_parse(c, len, h);
	free(c);
	return e;
}

static void make_ip(uint8_t *b, uint16_t total, uint8_t proto)
{
	struct dl_ipv4_hdr h = {.ihl_bytes = 20, .total_len = total, .id = 7, .frag = DL_IPV4_DF,
				.ttl = 64, .proto = proto, .src = 0x0a000001, .dst = 0x0a000002};
	dl_ipv4_build(b, &h, true);
}

static void test_eth_roundtrip_and_truncation(void **state)
{
	uint8_t buf[14];
	const uint8_t d[6] = {2, 2, 3, 4, 5, 6}, s[6] = {7, 8, 9, 10, 11, 12};
	struct dl_eth_hdr h;
	(void)state;
	dl_eth_build(buf, d, s, DL_ETHERTYPE_ARP);
	assert_int_equal(dl_eth_parse(buf, 14, &h), DL_WIRE_OK);
	assert_memory_equal(h.dst, d, 6);
	assert_memory_equal(h.src, s, 6);
	assert_int_equal(h.type, DL_ETHERTYPE_ARP);
	for (size_t len = 0; len < 14; len++) {
		uint8_t *c = malloc(len ? len : 1);
		memcpy(c, buf, len);
		assert_int_equal(dl_eth_parse(c, len, &h), DL_WIRE_TRUNCATED);
		free(c);
	}
	assert_true(dl_mac_is_broadcast((const uint8_t[6]){0xff, 0xff, 0xff, 0xff, 0xff, 0xff}));
	assert_true(dl_mac_is_multicast((const uint8_t[6]){0x01, 0, 0x5e, 0, 0, 1}));
	assert_false(dl_mac_is_multicast(d));
}

static void test_arp_roundtrip_and_malformed(void **state)
{
	struct dl_arp_pkt a = {.op = DL_ARP_REQUEST, .sha = {2, 0, 0, 0, 0, 1}, .spa = 0x0a000001,
			       .tha = {0}, .tpa = 0x0a000002},
			  b;
	uint8_t buf[DL_ARP_LEN];
	(void)state;
	dl_arp_build(buf, &a);
	assert_int_equal(arp_parse_exact(buf, sizeof(buf), &b), DL_WIRE_OK);
	assert_int_equal(b.op, DL_ARP_REQUEST);
	assert_int_equal(b.spa, 0x0a000001);
	assert_int_equal(b.tpa, 0x0a000002);
	assert_memory_equal(b.sha, a.sha, 6);
	for (size_t len = 0; len < DL_ARP_LEN; len++)
		assert_int_equal(arp_parse_exact(buf, len, &b), DL_WIRE_TRUNCATED);
	uint8_t bad[DL_ARP_LEN];
	memcpy(bad, buf, sizeof(bad));
	bad[1] = 6; /* htype 6 (IEEE 802) */
	assert_int_equal(arp_parse_exact(bad, sizeof(bad), &b), DL_WIRE_BAD_FORMAT);
	memcpy(bad, buf, sizeof(bad));
	bad[3] = 0xdd; /* ptype 0x86dd */
	assert_int_equal(arp_parse_exact(bad, sizeof(bad), &b), DL_WIRE_BAD_FORMAT);
	memcpy(bad, buf, sizeof(bad));
	bad[4] = 8; /* hlen */
	assert_int_equal(arp_parse_exact(bad, sizeof(bad), &b), DL_WIRE_BAD_FORMAT);
	memcpy(bad, buf, sizeof(bad));
	bad[5] = 16; /* plen */
	assert_int_equal(arp_parse_exact(bad, sizeof(bad), &b), DL_WIRE_BAD_FORMAT);
	memcpy(bad, buf, sizeof(bad));
	bad[7] = 3; /* RARP request */
	assert_int_equal(arp_parse_exact(bad, sizeof(bad), &b), DL_WIRE_BAD_OPCODE);
}

static void test_ipv4_valid_and_padding(void **state)
{
	uint8_t buf[60] = {0};
	struct dl_ipv4_hdr h;
	(void)state;
	make_ip(buf, 28, DL_IPPROTO_ICMP);
	/* 60-byte buffer (Ethernet padding) with total length 28 is fine. */
	assert_int_equal(ip_parse_exact(buf, sizeof(buf), false, &h), DL_WIRE_OK);
	assert_int_equal(h.total_len, 28);
	assert_int_equal(h.proto, DL_IPPROTO_ICMP);
	assert_int_equal(h.src, 0x0a000001);
	assert_int_equal(h.dst, 0x0a000002);
	assert_int_equal(h.ttl, 64);
	assert_false(dl_ipv4_is_fragment(&h));
}

static void test_ipv4_malformed(void **state)
{
	uint8_t buf[40] = {0}, bad[40];
	struct dl_ipv4_hdr h;
	(void)state;
	make_ip(buf, 40, DL_IPPROTO_TCP);
	for (size_t len = 0; len < 20; len++)
		assert_int_equal(ip_parse_exact(buf, len, false, &h), DL_WIRE_TRUNCATED);
	/* Total length beyond the frame. */
	assert_int_equal(ip_parse_exact(buf, 39, false, &h), DL_WIRE_TRUNCATED);
	memcpy(bad, buf, 40);
	bad[0] = 0x65; /* version 6 */
	assert_int_equal(ip_parse_exact(bad, 40, true, &h), DL_WIRE_BAD_VERSION);
	memcpy(bad, buf, 40);
	bad[0] = 0x44; /* IHL 4 */
	assert_int_equal(ip_parse_exact(bad, 40, true, &h), DL_WIRE_BAD_IHL);
	memcpy(bad, buf, 40);
	bad[0] = 0x4f; /* IHL 15 = 60 bytes > 40-byte buffer */
	assert_int_equal(ip_parse_exact(bad, 40, true, &h), DL_WIRE_BAD_IHL);
	memcpy(bad, buf, 40);
	bad[2] = 0;
	bad[3] = 19; /* total length below the header */
	assert_int_equal(ip_parse_exact(bad, 40, true, &h), DL_WIRE_BAD_LENGTH);
	memcpy(bad, buf, 40);
	bad[2] = 0xff;
	bad[3] = 0xff; /* oversized total length */
	assert_int_equal(ip_parse_exact(bad, 40, true, &h), DL_WIRE_TRUNCATED);
	memcpy(bad, buf, 40);
	bad[10] ^= 0x01; /* checksum */
	assert_int_equal(ip_parse_exact(bad, 40, false, &h), DL_WIRE_BAD_CHECKSUM);
	/* A NIC-verified checksum is trusted. */
	assert_int_equal(ip_parse_exact(bad, 40, true, &h), DL_WIRE_OK);
	/* Fragment flags are reported, not hidden. */
	memcpy(bad, buf, 40);
	struct dl_ipv4_hdr f = {.ihl_bytes = 20, .total_len = 40, .frag = DL_IPV4_MF, .ttl = 1,
				.proto = 6, .src = 1, .dst = 2};
	dl_ipv4_build(bad, &f, true);
	assert_int_equal(ip_parse_exact(bad, 40, false, &h), DL_WIRE_OK);
	assert_true(dl_ipv4_is_fragment(&h));
	f.frag = 5; /* offset only */
	dl_ipv4_build(bad, &f, true);
	assert_int_equal(ip_parse_exact(bad, 40, false, &h), DL_WIRE_OK);
	assert_true(dl_ipv4_is_fragment(&h));
}

static void test_ipv4_build_checksum(void **state)
{
	uint8_t buf[20];
	(void)state;
	make_ip(buf, 20, 1);
	assert_int_equal(dl_cksum(buf, 20), 0);
	struct dl_ipv4_hdr h = {.ihl_bytes = 20, .total_len = 20, .ttl = 1, .proto = 1};
	dl_ipv4_build(buf, &h, false);
	assert_int_equal(buf[10], 0);
	assert_int_equal(buf[11], 0);
}

static void test_icmp_parse(void **state)
{
	uint8_t buf[64];
	struct dl_icmp_hdr h;
	(void)state;
	memset(buf, 0xab, sizeof(buf));
	buf[0] = DL_ICMP_ECHO_REQUEST;
	buf[1] = 0;
	buf[2] = buf[3] = 0;
	dl_put16(buf + 4, 0x1234);
	dl_put16(buf + 6, 9);
	uint16_t c = dl_cksum(buf, sizeof(buf));
	memcpy(buf + 2, &c, 2);
	assert_int_equal(icmp_parse_exact(buf, sizeof(buf), &h), DL_WIRE_OK);
	assert_int_equal(h.type, DL_ICMP_ECHO_REQUEST);
	assert_int_equal(h.id, 0x1234);
	assert_int_equal(h.seq, 9);
	for (size_t len = 0; len < 8; len++)
		assert_int_equal(icmp_parse_exact(buf, len, &h), DL_WIRE_TRUNCATED);
	/* Truncating the data breaks the checksum over the message. */
	assert_int_equal(icmp_parse_exact(buf, 63, &h), DL_WIRE_BAD_CHECKSUM);
	buf[20] ^= 0xff;
	assert_int_equal(icmp_parse_exact(buf, sizeof(buf), &h), DL_WIRE_BAD_CHECKSUM);
}

static void test_random_input_never_misparses(void **state)
{
	/* Random buffers of random sizes: parsers return quickly, never read
	 * out of bounds (ASan), and accepted IPv4 headers are consistent. */
	uint32_t x = 12345;
	(void)state;
	for (int iter = 0; iter < 20000; iter++) {
		size_t len = (x = x * 1103515245u + 12345u) % 80;
		uint8_t *b = malloc(len ? len : 1);
		for (size_t i = 0; i < len; i++)
			b[i] = (uint8_t)((x = x * 1103515245u + 12345u) >> 16);
		if (len > 0 && (iter & 1))
			b[0] = 0x45;
		struct dl_ipv4_hdr h;
		struct dl_arp_pkt a;
		struct dl_icmp_hdr ic;
		struct dl_eth_hdr e;
		if (dl_ipv4_parse(b, len, iter & 2, &h) == DL_WIRE_OK) {
			assert_true(h.ihl_bytes >= 20 && h.ihl_bytes <= len);
			assert_true(h.total_len >= h.ihl_bytes && h.total_len <= len);
		}
		(void)dl_arp_parse(b, len, &a);
		(void)dl_icmp_parse(b, len, &ic);
		(void)dl_eth_parse(b, len, &e);
		free(b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eth_roundtrip_and_truncation),
		cmocka_unit_test(test_arp_roundtrip_and_malformed),
		cmocka_unit_test(test_ipv4_valid_and_padding),
		cmocka_unit_test(test_ipv4_malformed),
		cmocka_unit_test(test_ipv4_build_checksum),
		cmocka_unit_test(test_icmp_parse),
		cmocka_unit_test(test_random_input_never_misparses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
