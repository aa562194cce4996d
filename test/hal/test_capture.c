/*
 * test_capture.c - packet capture at the port (lib/hal/capture.c) over a
 * fake NIC and a recording sink: the port's operations swapped in and
 * back, received frames copied to the snap length with their original
 * length, transmitted frames copied only when the port took them (and
 * with the checksums the device would fill), the frame limit, a full
 * ring counted as drops while the port's traffic goes on, one capture at
 * a time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <stdio.h>
#include <cmocka.h>

#include "dl_capture.h"
#include "dl_cksum.h"
#include "dl_hal.h"

/* ---- fake NIC ---- */

struct dl_buf {
	uint8_t data[2048];
};

static struct dl_buf rxb[64];
static unsigned rx_len[64], rx_n; /* frames the next rx_burst returns */
static unsigned tx_accept = 1000; /* packets one tx_burst takes */
static unsigned tx_calls, tx_taken;

static uint16_t f_rx(struct dl_nic *nic, uint16_t q, struct dl_rx_pkt *p, uint16_t n)
{
	unsigned k = rx_n < n ? rx_n : n;

	(void)nic;
	for (unsigned i = 0; i < k; i++) {
		memset(&p[i], 0, sizeof(p[i]));
		p[i].data = rxb[i].data;
		p[i].len = rx_len[i];
		p[i].queue = q;
		p[i].buf = &rxb[i];
	}
	rx_n = 0;
	return (uint16_t)k;
}

static uint16_t f_tx(struct dl_nic *nic, uint16_t q, struct dl_tx_pkt *p, uint16_t n)
{
	unsigned k = n < tx_accept ? n : tx_accept;

	(void)nic;
	(void)q;
	(void)p;
	tx_calls++;
	tx_taken += k;
	return (uint16_t)k;
}

static struct dl_buf *f_hdr(struct dl_nic *nic, uint16_t q, uint8_t **d, uint16_t *room)
{
	(void)nic;
	(void)q;
	(void)d;
	(void)room;
	return NULL;
}

static void f_free(struct dl_nic *nic, struct dl_buf *b)
{
	(void)nic;
	(void)b;
}

static int f_link(struct dl_nic *nic, struct dl_link *l)
{
	(void)nic;
	memset(l, 0, sizeof(*l));
	return 0;
}

static int f_stats(struct dl_nic *nic, struct dl_nic_stats *st)
{
	(void)nic;
	memset(st, 0, sizeof(*st));
	return 7;
}

static void f_close(struct dl_nic *nic)
{
	(void)nic;
}

static const struct dl_nic_ops fake_ops = {
    .rx_burst = f_rx,
    .tx_burst = f_tx,
    .hdr_alloc = f_hdr,
    .buf_free = f_free,
    .link_get = f_link,
    .stats_get = f_stats,
    .close = f_close,
};

static struct dl_nic nic = {.ops = &fake_ops, .name = "fake", .nb_queues = 2, .mtu = 1500};

/* ---- recording sink ---- */

#define MAX_RECS 256

struct rec {
	struct dl_capture_rec r;
	uint8_t data[2048];
};

struct rsink {
	struct dl_capture_sink sink;
	struct rec recs[MAX_RECS];
	unsigned n;
	int hold; /* atomic: write() waits while set */
	int closed;
	uint64_t received, dropped;
};

static uint64_t s_stamp(struct dl_capture_sink *s)
{
	(void)s;
	return 12345;
}

static int s_write(struct dl_capture_sink *s, const struct dl_capture_rec *r, const uint8_t *d)
{
	struct rsink *k = (struct rsink *)s;

	while (__atomic_load_n(&k->hold, __ATOMIC_ACQUIRE)) {
		struct timespec ts = {0, 100000};
		nanosleep(&ts, NULL);
	}
	if (k->n < MAX_RECS) {
		k->recs[k->n].r = *r;
		memcpy(k->recs[k->n].data, d, r->cap_len < 2048 ? r->cap_len : 2048);
		k->n++;
	}
	return 0;
}

static void s_close(struct dl_capture_sink *s, uint64_t received, uint64_t dropped)
{
	struct rsink *k = (struct rsink *)s;

	k->closed++;
	k->received = received;
	k->dropped = dropped;
}

static const struct dl_capture_sink_ops rsink_ops = {
    .stamp = s_stamp,
    .write = s_write,
    .close = s_close,
};

static struct rsink *new_sink(void)
{
	struct rsink *k = calloc(1, sizeof(*k));

	assert_non_null(k);
	k->sink.ops = &rsink_ops;
	return k;
}

static void put_rx(unsigned i, unsigned len)
{
	rx_len[i] = len;
	for (unsigned b = 0; b < len && b < sizeof(rxb[i].data); b++)
		rxb[i].data[b] = (uint8_t)(i * 31 + b);
}

/* ---- tests ---- */

static void test_ops_swapped_and_back(void **state)
{
	struct rsink *k = new_sink();
	struct dl_capture_conf cc = {0};
	struct dl_capture *c;
	struct dl_link l;
	struct dl_nic_stats ns;
	struct dl_capture_stats st;

	(void)state;
	c = dl_capture_start(&nic, &k->sink, &cc, NULL, 0);
	assert_non_null(c);
	assert_ptr_not_equal(nic.ops, &fake_ops);
	assert_true(dl_capture_attached(c));
	assert_int_equal(dl_capture_conf(c)->snaplen, DL_CAPTURE_SNAPLEN_DEFAULT);
	/* Control operations go through to the port. */
	assert_int_equal(nic.ops->stats_get(&nic, &ns), 7);
	assert_int_equal(nic.ops->link_get(&nic, &l), 0);
	assert_null(nic.ops->rss_config); /* the port has none: neither has the capture */
	/* One capture at a time: the second sink is closed at once. */
	struct rsink *k2 = new_sink();
	assert_null(dl_capture_start(&nic, &k2->sink, &cc, NULL, 0));
	assert_int_equal(k2->closed, 1);
	free(k2);
	dl_capture_detach(c);
	assert_ptr_equal(nic.ops, &fake_ops);
	dl_capture_finish(c, &st);
	assert_int_equal(k->closed, 1);
	assert_int_equal(st.rx_frames + st.tx_frames, 0);
	free(k);
}

static void test_rx_snaplen(void **state)
{
	struct rsink *k = new_sink();
	struct dl_capture_conf cc = {.snaplen = 128};
	struct dl_rx_pkt p[8];
	struct dl_capture *c;
	struct dl_capture_stats st;

	(void)state;
	c = dl_capture_start(&nic, &k->sink, &cc, NULL, 0);
	assert_non_null(c);
	put_rx(0, 60);
	put_rx(1, 128);
	put_rx(2, 1500);
	rx_n = 3;
	assert_int_equal(dl_nic_rx_burst(&nic, 1, p, 8), 3);
	assert_int_equal(p[2].len, 1500); /* the frames reach the stack untouched */
	dl_capture_finish(c, &st);
	assert_int_equal(k->n, 3);
	assert_int_equal(st.rx_frames, 3);
	assert_int_equal(st.bytes, 60 + 128 + 128);
	assert_int_equal(st.written, 3);
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(k->recs[i].r.dir, DL_CAPTURE_RX);
		assert_int_equal(k->recs[i].r.queue, 1);
		assert_int_equal(k->recs[i].r.stamp, 12345);
		assert_int_equal(k->recs[i].r.orig_len, rx_len[i]);
		assert_int_equal(k->recs[i].r.cap_len, rx_len[i] < 128 ? rx_len[i] : 128);
		assert_memory_equal(k->recs[i].data, rxb[i].data, k->recs[i].r.cap_len);
	}
	assert_int_equal(k->received, 3);
	free(k);
}

/* An Ethernet + IPv4 + TCP header asking for both checksums. */
static void tcp_packet(struct dl_tx_pkt *p, uint8_t *hdr, const uint8_t *payload, uint32_t plen,
		       uint8_t tag)
{
	memset(p, 0, sizeof(*p));
	memset(hdr, 0, 54);
	hdr[12] = 0x08; /* IPv4 */
	uint8_t *ip = hdr + 14, *tcp = ip + 20;
	ip[0] = 0x45;
	ip[2] = (uint8_t)((20 + 20 + plen) >> 8);
	ip[3] = (uint8_t)(20 + 20 + plen);
	ip[8] = 64;
	ip[9] = 6;
	ip[12] = 10, ip[15] = 2, ip[16] = 10, ip[19] = 1;
	tcp[0] = 0, tcp[1] = 80, tcp[2] = 0x9c, tcp[3] = tag;
	tcp[12] = 5 << 4;
	tcp[13] = 0x18;
	p->hdr_data = hdr;
	p->hdr_len = 54;
	p->l2_len = 14;
	p->l3_len = 20;
	p->l4_len = 20;
	p->ol_flags = DL_TX_IP_CKSUM | DL_TX_TCP_CKSUM;
	p->nfrags = 2;
	p->frag[0].data = payload;
	p->frag[0].len = plen / 2;
	p->frag[0].region = DL_REGION_NONE;
	p->frag[1].data = payload + plen / 2;
	p->frag[1].len = plen - plen / 2;
	p->frag[1].region = DL_REGION_NONE;
}

static void test_tx_accepted_only_with_checksums(void **state)
{
	struct rsink *k = new_sink();
	struct dl_capture_conf cc = {0};
	struct dl_tx_pkt p[5];
	uint8_t hdr[5][64], payload[100];
	struct dl_capture *c;
	struct dl_capture_stats st;

	(void)state;
	for (unsigned i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7);
	for (unsigned i = 0; i < 5; i++)
		tcp_packet(&p[i], hdr[i], payload, 100, (uint8_t)i);
	c = dl_capture_start(&nic, &k->sink, &cc, NULL, 0);
	tx_accept = 3;
	assert_int_equal(dl_nic_tx_burst(&nic, 0, p, 5), 3);
	tx_accept = 1000;
	assert_int_equal(dl_nic_tx_burst(&nic, 0, p + 3, 2), 2);
	dl_capture_finish(c, &st);
	/* Five frames, each once, in order: the refused ones when retried. */
	assert_int_equal(st.tx_frames, 5);
	assert_int_equal(k->n, 5);
	for (unsigned i = 0; i < 5; i++) {
		const uint8_t *f = k->recs[i].data, *ip = f + 14, *tcp = ip + 20;
		assert_int_equal(k->recs[i].r.dir, DL_CAPTURE_TX);
		assert_int_equal(k->recs[i].r.orig_len, 154);
		assert_int_equal(k->recs[i].r.cap_len, 154);
		assert_int_equal(tcp[3], i);
		assert_memory_equal(f + 54, payload, 100);
		/* Checksums filled in the copy: each verifies to zero. */
		assert_int_equal(dl_cksum(ip, 20), 0);
		uint32_t src, dst;
		memcpy(&src, ip + 12, 4);
		memcpy(&dst, ip + 16, 4);
		uint64_t sum = dl_cksum_pseudo(src, dst, 6, 120) + dl_cksum_raw(tcp, 120);
		assert_int_equal((uint16_t)~dl_cksum_fold(sum), 0);
		/* ... and only there: the packet the port got still asks. */
		assert_int_equal(hdr[i][14 + 10] | hdr[i][14 + 11], 0);
		assert_int_equal(p[i].ol_flags, DL_TX_IP_CKSUM | DL_TX_TCP_CKSUM);
	}
	free(k);
}

static void test_frame_limit(void **state)
{
	struct rsink *k = new_sink();
	struct dl_capture_conf cc = {.max_frames = 4};
	struct dl_rx_pkt p[16];
	struct dl_capture *c;
	struct dl_capture_stats st;

	(void)state;
	c = dl_capture_start(&nic, &k->sink, &cc, NULL, 0);
	for (unsigned i = 0; i < 10; i++)
		put_rx(i, 64);
	rx_n = 10;
	assert_int_equal(dl_nic_rx_burst(&nic, 0, p, 16), 10);
	dl_capture_stats(c, &st);
	assert_true(st.limit_reached);
	dl_capture_finish(c, &st);
	assert_int_equal(st.rx_frames, 4);
	assert_int_equal(st.over_limit, 6);
	assert_int_equal(k->n, 4);
	free(k);
}

/* The portable pcap sink (TILE-Gx's platform writer): a whole capture
 * through it, read back as tcpdump would. */
static void test_pcap_sink_file(void **state)
{
	char path[] = "/tmp/dl_capture_test_XXXXXX";
	char err[160] = "";
	struct dl_capture_conf cc = {.snaplen = 100};
	struct dl_rx_pkt p[8];
	struct dl_capture_sink *sink;
	struct dl_capture *c;
	uint32_t g[6], h[4];
	uint8_t data[2048];
	FILE *f;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	unlink(path);
	sink = dl_pcap_sink_open(path, 100, err, sizeof(err));
	assert_non_null(sink);
	assert_null(dl_pcap_sink_open("/nonexistent-dir/x.pcap", 0, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot create"));
	c = dl_capture_start(&nic, sink, &cc, NULL, 0);
	assert_non_null(c);
	put_rx(0, 60);
	put_rx(1, 1500);
	rx_n = 2;
	assert_int_equal(dl_nic_rx_burst(&nic, 0, p, 8), 2);
	dl_capture_finish(c, NULL);

	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fread(g, 4, 6, f), 6);
	assert_int_equal(g[0], 0xa1b23c4du);  /* nanosecond pcap, host order */
	assert_int_equal(g[1], 2u | 4u << 16); /* version 2.4 */
	assert_int_equal(g[4], 100);	       /* snap length */
	assert_int_equal(g[5], 1);	       /* Ethernet */
	for (unsigned i = 0; i < 2; i++) {
		unsigned want = rx_len[i] < 100 ? rx_len[i] : 100;
		assert_int_equal(fread(h, 4, 4, f), 4);
		assert_true(h[0] > 1600000000u); /* a real time of day */
		assert_true(h[1] < 1000000000u);
		assert_int_equal(h[2], want);
		assert_int_equal(h[3], rx_len[i]);
		assert_int_equal(fread(data, 1, want, f), want);
		assert_memory_equal(data, rxb[i].data, want);
	}
	assert_int_equal(fread(data, 1, 1, f), 0); /* nothing after */
	fclose(f);
	unlink(path);
}

static void test_ring_full_drops_copies_only(void **state)
{
	struct rsink *k = new_sink();
	struct dl_capture_conf cc = {.snaplen = 1500, .ring_kb = 4};
	struct dl_rx_pkt p[16];
	struct dl_capture *c;
	struct dl_capture_stats st;
	unsigned got = 0;

	(void)state;
	__atomic_store_n(&k->hold, 1, __ATOMIC_RELEASE); /* the writer is stuck */
	c = dl_capture_start(&nic, &k->sink, &cc, NULL, 0);
	for (unsigned round = 0; round < 20; round++) {
		for (unsigned i = 0; i < 8; i++)
			put_rx(i, 1500);
		rx_n = 8;
		got += dl_nic_rx_burst(&nic, 0, p, 16);
	}
	assert_int_equal(got, 160); /* the port's traffic went on */
	dl_capture_stats(c, &st);
	assert_true(st.dropped_ring_full > 0);
	assert_true(st.rx_frames > 0);
	assert_int_equal(st.rx_frames + st.dropped_ring_full, 160);
	__atomic_store_n(&k->hold, 0, __ATOMIC_RELEASE);
	dl_capture_finish(c, &st);
	assert_int_equal(k->n, st.rx_frames);
	assert_int_equal(k->dropped, st.dropped_ring_full);
	free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ops_swapped_and_back),
	    cmocka_unit_test(test_rx_snaplen),
	    cmocka_unit_test(test_tx_accepted_only_with_checksums),
	    cmocka_unit_test(test_frame_limit),
	    cmocka_unit_test(test_ring_full_drops_copies_only),
	    cmocka_unit_test(test_pcap_sink_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
