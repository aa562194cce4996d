/*
 * test_tilegx_nic.c - the mPIPE backend (drivers/tilegx/nic.c) on the MDE
 * model's mem: wire, through the HAL only:
 *
 *   RX      frames arrive in batches: rx_burst returns what the notif ring
 *           holds up to its budget, by value (length, flow hash, checksum
 *           flags), and the buffers go back with buf_free;
 *   RX      when the stack runs dry the descriptors carry be: the driver
 *           counts them (rx_nombuf) and drops them; after buf_free the
 *           port receives again;
 *   RX      with 4 queues, every frame of a flow arrives on one queue;
 *   TX      a TCP packet of header + two fragments in registered memory
 *           goes out as one gather (3 descriptors) with the hardware
 *           checksum, byte-identical to the software frame; the header
 *           buffer comes back through hwb;
 *   TX      TSO of 10,000 bytes gives the frames dl_tx_sw_segment gives,
 *           byte for byte, without copying the payload;
 *   TX      fragments in unregistered memory are copied (counted), and
 *           ICMP/UDP checksums done in software are right.
 */
#include "dl_cksum.h"
#include "dl_hal.h"
#include "dl_offload.h"
#include "dl_stats.h"
#include "dl_tilegx.h"
#include "mde_model.h"

#include <tmc/alloc.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#define LINK "mem:nic0"

struct rig {
	struct dl_nic *nic;
	uint8_t *txmem;
	struct dl_region *txr;
	size_t txlen;
};

static struct rig *open_rig(unsigned queues, unsigned rx_bufs)
{
	struct rig *r = calloc(1, sizeof(*r));
	struct dl_nic_params p = {
	    .nb_queues = (uint16_t)queues,
	    .rx_desc = 128,
	    .tx_desc = 512,
	    .rx_bufs = rx_bufs,
	    .hdr_bufs = 256,
	    .numa_node = -1,
	};
	tmc_alloc_t a = TMC_ALLOC_INIT;

	r->nic = dl_tilegx_nic_open(&p, LINK, true);
	assert_non_null(r->nic);
	tmc_alloc_set_huge(&a);
	r->txlen = dl_tilegx_huge_page_size();
	r->txmem = tmc_alloc_map(&a, r->txlen);
	assert_non_null(r->txmem);
	r->txr = dl_region_adopt("test-tx", r->txmem, r->txlen, r->txlen);
	assert_non_null(r->txr);
	assert_int_equal(r->nic->ops->mem_register(r->nic, r->txr), 0);
	return r;
}

static void close_rig(struct rig *r)
{
	struct mde_model_mpipe_counters c;

	/* The driver never misused the hardware (double push, extra credit,
	 * eDMA fault, bad descriptor...). */
	assert_int_equal(mde_model_mpipe_counters(0, &c), 0);
	assert_int_equal(c.guest_errors, 0);
	dl_nic_close(r->nic);
	dl_region_destroy(r->txr);
	tmc_alloc_unmap(r->txmem, r->txlen);
	free(r);
}

static uint64_t stat(const char *name)
{
	return dl_stats_get("mpipe", name);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Ethernet + IPv4 + TCP headers (54 bytes) for `plen` payload bytes, with
 * both checksum fields zero (as the stack hands them over). */
static void tcp_headers(uint8_t *h, uint16_t sport, size_t plen, uint8_t flags)
{
	uint8_t *ip = h + 14, *tcp = ip + 20;

	memset(h, 0, 54);
	memcpy(h, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02", 12);
	put16(h + 12, 0x0800);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(40 + plen));
	put16(ip + 4, 0x1234);
	ip[8] = 64;
	ip[9] = 6;
	memcpy(ip + 12, "\x0a\x00\x00\x02", 4);
	memcpy(ip + 16, "\x0a\x00\x00\x01", 4);
	put16(tcp, sport);
	put16(tcp + 2, 40000);
	memcpy(tcp + 4, "\x11\x22\x33\x44", 4);
	tcp[12] = 5 << 4;
	tcp[13] = flags;
	put16(tcp + 14, 65535);
}

/* A received frame (checksums right) for the wire. */
static size_t rx_frame(uint8_t *f, uint32_t sport, size_t plen, uint8_t fill)
{
	uint8_t *ip = f + 14, *tcp = ip + 20;
	uint32_t s, d;
	uint16_t c;

	tcp_headers(f, (uint16_t)sport, plen, 0x18);
	for (size_t i = 0; i < plen; i++)
		f[54 + i] = (uint8_t)(fill + i);
	c = dl_cksum(ip, 20);
	memcpy(ip + 10, &c, 2);
	memcpy(&s, ip + 12, 4);
	memcpy(&d, ip + 16, 4);
	c = (uint16_t)~dl_cksum_fold(dl_cksum_pseudo(s, d, 6, (uint16_t)(20 + plen)) +
				     dl_cksum_raw(tcp, 20 + plen));
	memcpy(tcp + 16, &c, 2);
	return 54 + plen;
}

static void msleep(unsigned ms)
{
	nanosleep(&(struct timespec){ms / 1000, (long)(ms % 1000) * 1000000L}, NULL);
}

/* rx_burst on queue q until `want` packets (or 2 s). */
static unsigned rx_wait(struct dl_nic *nic, uint16_t q, struct dl_rx_pkt *pk, unsigned max,
			unsigned want)
{
	unsigned got = 0;

	for (int t = 0; t < 2000 && got < want; t++) {
		got += dl_nic_rx_burst(nic, q, pk + got, (uint16_t)(max - got));
		if (got < want)
			msleep(1);
	}
	return got;
}

/* ---- RX ----------------------------------------------------------------- */

static void test_rx_batches_by_value(void **state)
{
	struct rig *r = open_rig(1, 512);
	static struct dl_rx_pkt pk[128];
	uint8_t f[256];
	uint64_t batches0 = stat("rx_batches");
	unsigned got, first;

	(void)state;
	for (int i = 0; i < 100; i++) {
		size_t n = rx_frame(f, 7000, 40, (uint8_t)i);
		assert_int_equal(mde_model_link_inject(LINK, f, n), 0);
	}
	/* Wait until the ring holds all 100, then take them 32 at a time. */
	msleep(100);
	first = dl_nic_rx_burst(r->nic, 0, pk, 32);
	assert_int_equal(first, 32);
	got = first + rx_wait(r->nic, 0, pk + first, 100 - first, 100 - first);
	assert_int_equal(got, 100);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(pk[i].len, 94);
		assert_int_equal(pk[i].data[54], (uint8_t)i); /* in order */
		assert_true(pk[i].flags & DL_RX_HASH_VALID);
		assert_true(pk[i].flags & DL_RX_L3_CSUM_GOOD);
		assert_true(pk[i].flags & DL_RX_L4_CSUM_GOOD);
		assert_int_equal(pk[i].hash, pk[0].hash);
		assert_int_equal(pk[i].region, r->nic->rx_region);
		assert_non_null(pk[i].scratch);
		memset(pk[i].scratch, 0xee, DL_BUF_SCRATCH); /* the stack may write it */
		assert_int_equal(pk[i].data[54], (uint8_t)i);
		dl_nic_buf_free(r->nic, pk[i].buf);
	}
	/* Fewer ring visits than packets: batches. */
	assert_true(stat("rx_batches") - batches0 < 100);
	assert_int_equal(stat("rx_packets"), 100);
	close_rig(r);
}

static void test_rx_buffer_exhaustion_counted(void **state)
{
	struct rig *r = open_rig(1, 64);
	static struct dl_rx_pkt pk[128];
	struct dl_nic_stats st;
	uint8_t f[256];
	size_t n = rx_frame(f, 7001, 10, 1);
	unsigned got;

	(void)state;
	for (int i = 0; i < 100; i++)
		assert_int_equal(mde_model_link_inject(LINK, f, n), 0);
	msleep(100);
	got = rx_wait(r->nic, 0, pk, 128, 64);
	assert_int_equal(got, 64);
	msleep(20);
	assert_int_equal(dl_nic_rx_burst(r->nic, 0, pk + got, 64), 0); /* the rest: be */
	assert_int_equal(r->nic->ops->stats_get(r->nic, &st), 0);
	assert_int_equal(st.rx_nombuf, 36);
	assert_int_equal(st.rx_packets, 64);
	assert_true(st.rx_dropped >= 36); /* the shim counted them too */
	for (unsigned i = 0; i < got; i++)
		dl_nic_buf_free(r->nic, pk[i].buf);
	/* Buffers back: the port receives again. */
	assert_int_equal(mde_model_link_inject(LINK, f, n), 0);
	assert_int_equal(rx_wait(r->nic, 0, pk, 128, 1), 1);
	dl_nic_buf_free(r->nic, pk[0].buf);
	close_rig(r);
}

static void test_rx_flows_pinned_to_one_queue(void **state)
{
	enum { FLOWS = 48, PER = 4 };
	struct rig *r = open_rig(4, 512);
	static struct dl_rx_pkt pk[64];
	int queue_of[FLOWS];
	unsigned total = 0, used = 0;
	bool seen[4] = {false};
	uint8_t f[256];

	(void)state;
	memset(queue_of, -1, sizeof(queue_of));
	for (int k = 0; k < PER; k++)
		for (int fl = 0; fl < FLOWS; fl++) {
			size_t n = rx_frame(f, (uint32_t)(20000 + fl), 8, (uint8_t)k);
			assert_int_equal(mde_model_link_inject(LINK, f, n), 0);
		}
	for (int t = 0; t < 2000 && total < FLOWS * PER; t++) {
		for (uint16_t q = 0; q < 4; q++) {
			unsigned n = dl_nic_rx_burst(r->nic, q, pk, 64);
			for (unsigned i = 0; i < n; i++) {
				int fl = (pk[i].data[34] << 8 | pk[i].data[35]) - 20000;
				assert_true(fl >= 0 && fl < FLOWS);
				if (queue_of[fl] < 0)
					queue_of[fl] = q;
				assert_int_equal(queue_of[fl], q); /* pinned */
				assert_int_equal(pk[i].queue, q);
				if (!seen[q]) {
					seen[q] = true;
					used++;
				}
				dl_nic_buf_free(r->nic, pk[i].buf);
			}
			total += n;
		}
		if (total < FLOWS * PER)
			msleep(1);
	}
	assert_int_equal(total, FLOWS * PER);
	assert_true(used >= 2);
	close_rig(r);
}

/* ---- TX ----------------------------------------------------------------- */

/* A header buffer filled with TCP headers for plen payload bytes. */
static void make_pkt(struct rig *r, struct dl_tx_pkt *p, size_t plen, uint8_t flags)
{
	uint8_t *data;
	uint16_t room;

	memset(p, 0, sizeof(*p));
	p->hdr = dl_nic_hdr_alloc(r->nic, 0, &data, &room);
	assert_non_null(p->hdr);
	assert_true(room >= 128);
	p->hdr_data = data;
	tcp_headers(data, 5000, plen, flags);
	p->hdr_len = 54;
	p->l2_len = 14;
	p->l3_len = 20;
	p->l4_len = 20;
	p->ol_flags = DL_TX_IP_CKSUM | DL_TX_TCP_CKSUM;
}

struct emit {
	uint8_t (*out)[2048];
	size_t *len;
	unsigned n;
};

static void emit_frame(void *arg, const uint8_t *f, size_t n)
{
	struct emit *x = arg;

	memcpy(x->out[x->n], f, n);
	x->len[x->n++] = n;
}

/* The frame(s) software would send for p (its header copied first). */
static unsigned sw_frames(const struct dl_tx_pkt *p, uint8_t (*out)[2048], size_t *len)
{
	struct emit e = {out, len, 0};
	uint8_t hdr[256], scratch[2048];

	memcpy(hdr, p->hdr_data, p->hdr_len);
	assert_true(dl_tx_sw_segment(p, hdr, scratch, sizeof(scratch), emit_frame, &e) > 0);
	return e.n;
}

static void test_tx_gather_checksum_offload(void **state)
{
	struct rig *r = open_rig(1, 512);
	struct mde_model_mpipe_counters c0, c1;
	static uint8_t want[4][2048], got[2048];
	size_t wlen[4];
	struct dl_tx_pkt p;
	uint64_t descs0 = stat("tx_descriptors");

	(void)state;
	mde_model_mpipe_counters(0, &c0);
	make_pkt(r, &p, 333 + 700, 0x18);
	for (int i = 0; i < 1033; i++)
		r->txmem[1000 + i] = (uint8_t)(i * 13 + 5);
	p.nfrags = 2;
	p.frag[0] = (struct dl_tx_frag){r->txmem + 1000, 333, r->txr->id}; /* odd length */
	p.frag[1] = (struct dl_tx_frag){r->txmem + 1333, 700, r->txr->id};
	assert_int_equal(sw_frames(&p, want, wlen), 1);
	assert_int_equal(dl_nic_tx_burst(r->nic, 0, &p, 1), 1);
	assert_int_equal(mde_model_link_capture_wait(LINK, got, sizeof(got), 2000), wlen[0]);
	assert_memory_equal(got, want[0], wlen[0]);
	/* One gather: header + 2 fragments, the L4 sum by the hardware. */
	assert_int_equal(stat("tx_descriptors") - descs0, 3);
	assert_int_equal(stat("tx_hw_l4_cksum"), 1);
	assert_int_equal(stat("tx_unregistered_fragment_copies"), 0);
	msleep(20);
	mde_model_mpipe_counters(0, &c1);
	assert_int_equal(c1.edma_hwb_returns - c0.edma_hwb_returns, 1);
	assert_int_equal(c1.edma_csum - c0.edma_csum, 1);
	assert_int_equal(c1.guest_errors, c0.guest_errors);
	close_rig(r);
}

static void test_tx_tso_zero_copy_segments(void **state)
{
	struct rig *r = open_rig(1, 512);
	static uint8_t want[16][2048], got[2048];
	size_t wlen[16];
	struct dl_tx_pkt p;
	unsigned n;

	(void)state;
	assert_true(r->nic->caps & DL_NIC_CAP_TSO);
	make_pkt(r, &p, 10000, 0x19); /* PSH|FIN|ACK: FIN and PSH on the last only */
	for (int i = 0; i < 10000; i++)
		r->txmem[8192 + i] = (uint8_t)(i * 31 + i / 256);
	p.nfrags = 3;
	p.frag[0] = (struct dl_tx_frag){r->txmem + 8192, 4001, r->txr->id};
	p.frag[1] = (struct dl_tx_frag){r->txmem + 8192 + 4001, 3999, r->txr->id};
	p.frag[2] = (struct dl_tx_frag){r->txmem + 8192 + 8000, 2000, r->txr->id};
	p.ol_flags |= DL_TX_TSO;
	p.tso_segsz = 1448;
	n = sw_frames(&p, want, wlen);
	assert_int_equal(n, 7);
	assert_int_equal(dl_nic_tx_burst(r->nic, 0, &p, 1), 1);
	for (unsigned k = 0; k < n; k++) {
		assert_int_equal(mde_model_link_capture_wait(LINK, got, sizeof(got), 2000),
				 wlen[k]);
		assert_memory_equal(got, want[k], wlen[k]);
	}
	assert_int_equal(stat("tx_sw_tso"), 1);
	assert_int_equal(stat("tx_frames"), 7);
	assert_int_equal(stat("tx_unregistered_fragment_copies"), 0);
	close_rig(r);
}

static void test_tx_copies_unregistered_and_sw_checksums(void **state)
{
	struct rig *r = open_rig(1, 512);
	static uint8_t want[4][2048], got[2048];
	static uint8_t priv[600];
	size_t wlen[4];
	struct dl_tx_pkt p;

	(void)state;
	/* Payload in private memory: copied behind the header. */
	make_pkt(r, &p, 600, 0x18);
	for (int i = 0; i < 600; i++)
		priv[i] = (uint8_t)(i ^ 0x5a);
	p.nfrags = 1;
	p.frag[0] = (struct dl_tx_frag){priv, 600, DL_REGION_NONE};
	assert_int_equal(sw_frames(&p, want, wlen), 1);
	assert_int_equal(dl_nic_tx_burst(r->nic, 0, &p, 1), 1);
	memset(priv, 0, sizeof(priv)); /* copied at tx_burst: may be reused */
	assert_int_equal(mde_model_link_capture_wait(LINK, got, sizeof(got), 2000), wlen[0]);
	assert_memory_equal(got, want[0], wlen[0]);
	assert_int_equal(stat("tx_private_fragment_copies"), 1);

	/* An ICMP echo reply: IPv4 and ICMP checksums in software. */
	uint8_t *d;
	uint16_t room;
	memset(&p, 0, sizeof(p));
	p.hdr = dl_nic_hdr_alloc(r->nic, 0, &d, &room);
	p.hdr_data = d;
	tcp_headers(d, 1, 0, 0);
	d[14 + 9] = 1;
	put16(d + 14 + 2, 20 + 64);
	memset(d + 34, 0, 64);
	d[34] = 0; /* echo reply */
	for (int i = 8; i < 64; i++)
		d[34 + i] = (uint8_t)i;
	p.hdr_len = 34 + 64;
	p.l2_len = 14;
	p.l3_len = 20;
	p.l4_len = 64;
	p.ol_flags = DL_TX_IP_CKSUM | DL_TX_ICMP_CKSUM;
	assert_int_equal(sw_frames(&p, want, wlen), 1);
	assert_int_equal(dl_nic_tx_burst(r->nic, 0, &p, 1), 1);
	assert_int_equal(mde_model_link_capture_wait(LINK, got, sizeof(got), 2000), wlen[0]);
	assert_memory_equal(got, want[0], wlen[0]);
	assert_true(stat("tx_sw_cksum") >= 1);
	close_rig(r);
}

static void test_header_buffers_come_back(void **state)
{
	struct rig *r = open_rig(1, 512);
	struct dl_tx_pkt p[256];
	uint8_t got[2048];

	(void)state;
	/* All 256 header buffers out, sent, and back through hwb. */
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 256; i++)
			make_pkt(r, &p[i], 0, 0x10);
		uint8_t *d;
		uint16_t room;
		assert_null(dl_nic_hdr_alloc(r->nic, 0, &d, &room)); /* none left */
		for (int i = 0; i < 256;)
			i += dl_nic_tx_burst(r->nic, 0, &p[i], (uint16_t)(256 - i));
		for (int i = 0; i < 256; i++)
			assert_int_equal(mde_model_link_capture_wait(LINK, got, sizeof(got), 2000),
					 54);
		msleep(10);
	}
	assert_int_equal(stat("tx_hdr_nobuf"), 3);
	close_rig(r);
}

/* The application's TX memory as the engine makes it (tx_region_create):
 * huge pages, registered, its payloads referenced by the eDMA, never
 * copied; more than 16 pages take several buffer stacks. */
static void test_tx_region_sent_by_reference(void **state)
{
	struct rig *r = open_rig(1, 512);
	static uint8_t want[4][2048], got[2048];
	size_t wlen[4], page = dl_tilegx_huge_page_size(), len = 20 * page;
	struct dl_region *app;
	struct dl_tx_pkt p;
	uint64_t refs0 = stat("tx_payload_refs");

	(void)state;
	assert_non_null(r->nic->ops->tx_region_create);
	app = r->nic->ops->tx_region_create(r->nic, "app-tx", len - 100,
					    DL_REGION_SHARED | DL_REGION_DMA, -1);
	assert_non_null(app);
	assert_int_equal(app->page_size, page);
	assert_true(app->len >= len - 100);
	assert_int_equal(r->nic->ops->mem_register(r->nic, app), 0);
	/* Payload in the 1st page, in the 18th (the second stack's), across
	 * the end of the 1st page, and across the end of the 16th (into the
	 * second stack): one descriptor per page it touches (two pages are not
	 * physically contiguous). */
	static const size_t at[4] = {100, 0, 0, 0};
	for (unsigned k = 0; k < 4; k++) {
		size_t off = k == 0 ? at[0] : k == 1 ? 17 * page + 5 : k == 2 ? page - 500
											  : 16 * page - 301;
		uint8_t *pl = app->base + off;

		make_pkt(r, &p, 1200, 0x18);
		for (int i = 0; i < 1200; i++)
			pl[i] = (uint8_t)(i * 7 + k);
		p.nfrags = 1;
		p.frag[0] = (struct dl_tx_frag){pl, 1200, app->id};
		assert_int_equal(sw_frames(&p, want, wlen), 1);
		assert_int_equal(dl_nic_tx_burst(r->nic, 0, &p, 1), 1);
		assert_int_equal(mde_model_link_capture_wait(LINK, got, sizeof(got), 2000),
				 wlen[0]);
		assert_memory_equal(got, want[0], wlen[0]);
	}
	assert_int_equal(stat("tx_payload_refs") - refs0, 1 + 1 + 2 + 2);
	assert_int_equal(stat("tx_unregistered_fragment_copies"), 0);
	assert_int_equal(r->nic->ops->mem_unregister(r->nic, app), 0);
	dl_region_destroy(app);
	close_rig(r); /* unmaps the tmc_alloc pages behind it, if adopted */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rx_batches_by_value),
	    cmocka_unit_test(test_rx_buffer_exhaustion_counted),
	    cmocka_unit_test(test_rx_flows_pinned_to_one_queue),
	    cmocka_unit_test(test_tx_gather_checksum_offload),
	    cmocka_unit_test(test_tx_tso_zero_copy_segments),
	    cmocka_unit_test(test_tx_copies_unregistered_and_sw_checksums),
	    cmocka_unit_test(test_header_buffers_come_back),
	    cmocka_unit_test(test_tx_region_sent_by_reference),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
