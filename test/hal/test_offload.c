/*
 * test_offload.c - checksums, Toeplitz and software TSO against independent
 * reference computations.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "dl_cksum.h"
#include "dl_hal.h"
#include "dl_offload.h"

/* Straightforward RFC 1071 reference: big-endian 16-bit words. */
static uint16_t ref_cksum(const uint8_t *p, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void test_cksum_matches_reference(void **state)
{
	uint8_t buf[301];
	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	for (size_t len = 0; len <= sizeof(buf); len++) {
		uint16_t c = dl_cksum(buf, len);
		uint16_t r = htons(ref_cksum(buf, len, 0));
		assert_int_equal(c, r);
	}
}

/* Every length to 3000 at every alignment to 8, random and all-ones bytes
 * (the all-ones case carries the most). */
static void test_cksum_lengths_alignments(void **state)
{
	static uint8_t buf[3008];
	uint32_t x = 12345;
	(void)state;
	for (int fill = 0; fill < 2; fill++) {
		for (size_t i = 0; i < sizeof(buf); i++) {
			x = x * 1103515245u + 12345u;
			buf[i] = fill ? 0xff : (uint8_t)(x >> 16);
		}
		for (size_t off = 0; off < 8; off++)
			for (size_t len = 0; len <= 3000; len++)
				assert_int_equal(dl_cksum(buf + off, len),
						 htons(ref_cksum(buf + off, len, 0)));
	}
}

static void test_cksum_fragments_odd_offsets(void **state)
{
	uint8_t buf[200];
	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 13 + 1);
	uint16_t whole = dl_cksum(buf, sizeof(buf));
	/* Split at every pair of cut points, including odd ones. */
	for (size_t a = 0; a < 60; a += 7) {
		for (size_t b = a; b < 150; b += 11) {
			uint64_t s = 0;
			s = dl_cksum_frag(s, buf, a, 0);
			s = dl_cksum_frag(s, buf + a, b - a, a);
			s = dl_cksum_frag(s, buf + b, sizeof(buf) - b, b);
			assert_int_equal((uint16_t)~dl_cksum_fold(s), whole);
		}
	}
}

static void test_toeplitz_microsoft_vectors(void **state)
{
	(void)state;
	/* Microsoft RSS verification suite, IPv4 with TCP ports:
	 * source 66.9.149.187:2794 -> destination 161.142.100.80:1766 = 0x51ccc178 */
	uint32_t h = dl_toeplitz_ipv4(dl_rss_key, inet_addr("66.9.149.187"),
				      inet_addr("161.142.100.80"), htons(2794), htons(1766));
	assert_int_equal(h, 0x51ccc178);
	h = dl_toeplitz_ipv4(dl_rss_key, inet_addr("199.92.111.2"), inet_addr("65.69.140.83"),
			     htons(14230), htons(4739));
	assert_int_equal(h, 0xc626b0ea);
}

/* Build Ethernet + IPv4 + TCP headers for a segment. */
static void build_tcp_hdr(uint8_t *h, size_t payload, uint8_t flags)
{
	memset(h, 0, 54);
	h[12] = 0x08;
	uint8_t *ip = h + 14;
	ip[0] = 0x45;
	ip[2] = (uint8_t)((20 + 20 + payload) >> 8);
	ip[3] = (uint8_t)(20 + 20 + payload);
	ip[4] = 0x12;
	ip[5] = 0x34;
	ip[8] = 64;
	ip[9] = 6;
	uint32_t s = inet_addr("10.0.0.2"), d = inet_addr("10.0.0.1");
	memcpy(ip + 12, &s, 4);
	memcpy(ip + 16, &d, 4);
	uint8_t *t = ip + 20;
	t[0] = 0x1f;
	t[1] = 0x90;
	t[2] = 0xc0;
	t[3] = 0x01;
	t[4] = 0x10; /* seq 0x10000000 */
	t[12] = 0x50;
	t[13] = flags;
	t[14] = 0xff;
	t[15] = 0xff;
}

/* Verify a flat TCP/IPv4 frame's checksums with the reference. */
static void check_frame(const uint8_t *f, size_t len)
{
	const uint8_t *ip = f + 14;
	size_t tot = (size_t)(ip[2] << 8 | ip[3]);
	assert_int_equal(tot + 14, len);
	assert_int_equal(ref_cksum(ip, 20, 0), 0);
	uint8_t ph[12];
	memcpy(ph, ip + 12, 8);
	ph[8] = 0;
	ph[9] = 6;
	ph[10] = (uint8_t)((tot - 20) >> 8);
	ph[11] = (uint8_t)(tot - 20);
	uint32_t sum = 0;
	for (int i = 0; i < 12; i += 2)
		sum += (uint32_t)(ph[i] << 8 | ph[i + 1]);
	assert_int_equal(ref_cksum(ip + 20, tot - 20, sum), 0);
}

struct seg_capture {
	int n;
	uint8_t frames[8][2048];
	size_t lens[8];
};

static void capture(void *arg, const uint8_t *frame, size_t len)
{
	struct seg_capture *c = arg;
	assert_true(c->n < 8);
	memcpy(c->frames[c->n], frame, len);
	c->lens[c->n++] = len;
}

static void test_sw_cksum_over_fragments(void **state)
{
	static uint8_t payload[1001];
	uint8_t hdr[54], flat[2048];
	struct dl_tx_pkt pkt;
	(void)state;
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i ^ 0x5a);
	build_tcp_hdr(hdr, sizeof(payload), 0x18);
	memset(&pkt, 0, sizeof(pkt));
	pkt.hdr_len = 54;
	pkt.l2_len = 14;
	pkt.l3_len = 20;
	pkt.l4_len = 20;
	pkt.ol_flags = DL_TX_IP_CKSUM | DL_TX_TCP_CKSUM;
	pkt.nfrags = 3;
	pkt.frag[0] = (struct dl_tx_frag){payload, 333, DL_REGION_NONE};
	pkt.frag[1] = (struct dl_tx_frag){payload + 333, 1, DL_REGION_NONE};
	pkt.frag[2] = (struct dl_tx_frag){payload + 334, 667, DL_REGION_NONE};
	dl_tx_sw_cksum(&pkt, hdr);
	assert_int_equal(pkt.ol_flags, 0);
	size_t n = dl_tx_flatten(&pkt, hdr, flat, sizeof(flat));
	assert_int_equal(n, 54 + sizeof(payload));
	check_frame(flat, n);
	assert_int_equal(dl_tx_flatten(&pkt, hdr, flat, 100), 0);
}

static void test_sw_tso_segments(void **state)
{
	static uint8_t payload[3000];
	static struct seg_capture cap;
	uint8_t hdr[54], scratch[2048];
	struct dl_tx_pkt pkt;
	(void)state;
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 31);
	build_tcp_hdr(hdr, sizeof(payload), 0x19); /* FIN|PSH|ACK */
	memset(&pkt, 0, sizeof(pkt));
	pkt.hdr_len = 54;
	pkt.l2_len = 14;
	pkt.l3_len = 20;
	pkt.l4_len = 20;
	pkt.ol_flags = DL_TX_IP_CKSUM | DL_TX_TCP_CKSUM | DL_TX_TSO;
	pkt.tso_segsz = 1400;
	pkt.nfrags = 2;
	pkt.frag[0] = (struct dl_tx_frag){payload, 1000, DL_REGION_NONE};
	pkt.frag[1] = (struct dl_tx_frag){payload + 1000, 2000, DL_REGION_NONE};
	memset(&cap, 0, sizeof(cap));
	assert_int_equal(dl_tx_sw_segment(&pkt, hdr, scratch, sizeof(scratch), capture, &cap), 3);
	size_t off = 0;
	for (int i = 0; i < 3; i++) {
		const uint8_t *f = cap.frames[i];
		size_t pl = cap.lens[i] - 54;
		check_frame(f, cap.lens[i]);
		uint32_t seq = (uint32_t)f[38] << 24 | (uint32_t)f[39] << 16 | f[40] << 8 | f[41];
		assert_int_equal(seq, 0x10000000u + off);
		assert_memory_equal(f + 54, payload + off, pl);
		assert_int_equal(f[47] & 0x09, i == 2 ? 0x09 : 0);
		assert_int_equal(f[19], (uint8_t)(0x34 + i)); /* IP id advances */
		off += pl;
	}
	assert_int_equal(off, sizeof(payload));
	/* Too small a scratch buffer is refused, not overrun. */
	assert_int_equal(dl_tx_sw_segment(&pkt, hdr, scratch, 1000, capture, &cap), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cksum_matches_reference),
		cmocka_unit_test(test_cksum_lengths_alignments),
		cmocka_unit_test(test_cksum_fragments_odd_offsets),
		cmocka_unit_test(test_toeplitz_microsoft_vectors),
		cmocka_unit_test(test_sw_cksum_over_fragments),
		cmocka_unit_test(test_sw_tso_segments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
