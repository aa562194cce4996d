/*
 * test_mde_mpipe.c - the mPIPE model against the reference's rules, driven
 * through the gxio calls only (as a driver would) plus mde_model.h to put
 * frames on a mem: wire, take the frames sent, and read the model's
 * counters:
 *
 *   buffer stacks   LIFO, pop from empty gives NULL (counted), a double
 *                   push and a push outside the registered pages are
 *                   detected, 16 pages per stack, pages must be real pages;
 *   classifier      a flow always lands on the same notif ring (static
 *                   flow affinity), the flow hash is in custom0, bad IPv4
 *                   header checksums are dropped, the L4 checksum is
 *                   computed into csum_seed_val (0xFFFF when good), be is
 *                   set when the stack is empty, a ring without credit
 *                   drops, extra credits are a guest error;
 *   eDMA            a gather with checksum insertion gives the frame a
 *                   software checksum gives, byte for byte, odd fragment
 *                   lengths included; hwb buffers go back to their stack;
 *                   ns sends nothing; an unfilled reserved slot blocks the
 *                   ring; the generation bit survives many wraps; bytes
 *                   outside registered pages are an eDMA fault.
 */
#include <gxio/mpipe.h>
#include <tmc/alloc.h>

#include "dl_cksum.h"
#include "mde_model.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#define LINK	"mem:t0"
#define NBUF	1000
#define BUFSZ	1664
#define NRINGS	4
#define NBUCKET 64

struct rig {
	gxio_mpipe_context_t ctx;
	gxio_mpipe_link_t link;
	uint8_t *mem; /* huge pages: stacks' memory, rings, buffers */
	size_t mem_len, page;
	int stack, map_stack;
	uint8_t *bufs, *txmem;
	int ring0;
	gxio_mpipe_iqueue_t iq[NRINGS];
	gxio_mpipe_equeue_t eq;
};

static struct mde_model_mpipe_counters counters(void)
{
	struct mde_model_mpipe_counters c;

	assert_int_equal(mde_model_mpipe_counters(0, &c), 0);
	return c;
}

/* Bring up a context in the reference's order, on a mem: wire. */
static int setup(void **state)
{
	struct rig *r = calloc(1, sizeof(*r));
	tmc_alloc_t a = TMC_ALLOC_INIT;
	gxio_mpipe_rules_t rules;
	int group, bucket, ering;

	tmc_alloc_set_huge(&a);
	r->mem = tmc_alloc_map(&a, 8u << 20);
	assert_non_null(r->mem);
	r->mem_len = 8u << 20;
	r->page = 2u << 20;
	assert_int_equal(gxio_mpipe_init(&r->ctx, 0), 0);
	assert_int_equal(gxio_mpipe_link_open(&r->link, &r->ctx, LINK, 0), 0);
	r->stack = gxio_mpipe_alloc_buffer_stacks(&r->ctx, 2, 0, 0);
	assert_true(r->stack >= 0);
	r->map_stack = r->stack + 1;
	/* Page 0: stack memory and rings; page 1: buffers; page 2: TX data. */
	assert_int_equal(gxio_mpipe_init_buffer_stack(&r->ctx, (unsigned)r->stack,
						      GXIO_MPIPE_BUFFER_SIZE_1664, r->mem,
						      gxio_mpipe_calc_buffer_stack_bytes(NBUF), 0),
			 0);
	r->bufs = r->mem + r->page;
	r->txmem = r->mem + 2 * r->page;
	assert_int_equal(gxio_mpipe_register_page(&r->ctx, (unsigned)r->stack, r->bufs, r->page, 0),
			 0);
	assert_int_equal(
	    gxio_mpipe_register_page(&r->ctx, (unsigned)r->map_stack, r->txmem, r->page, 0), 0);
	for (int i = 0; i < NBUF; i++)
		gxio_mpipe_push_buffer(&r->ctx, (unsigned)r->stack, r->bufs + (size_t)i * BUFSZ);
	r->ring0 = gxio_mpipe_alloc_notif_rings(&r->ctx, NRINGS, 0, 0);
	assert_true(r->ring0 >= 0);
	for (int i = 0; i < NRINGS; i++)
		assert_int_equal(gxio_mpipe_iqueue_init(&r->iq[i], &r->ctx,
							(unsigned)(r->ring0 + i),
							r->mem + 65536 + (size_t)i * 8192,
							128 * sizeof(gxio_mpipe_idesc_t), 0),
				 0);
	group = gxio_mpipe_alloc_notif_groups(&r->ctx, 1, 0, 0);
	bucket = gxio_mpipe_alloc_buckets(&r->ctx, NBUCKET, 0, 0);
	assert_true(group >= 0 && bucket >= 0);
	assert_int_equal(gxio_mpipe_init_notif_group_and_buckets(
			     &r->ctx, (unsigned)group, (unsigned)r->ring0, NRINGS, (unsigned)bucket,
			     NBUCKET, GXIO_MPIPE_BUCKET_STATIC_FLOW_AFFINITY),
			 0);
	gxio_mpipe_rules_init(&rules, &r->ctx);
	assert_int_equal(gxio_mpipe_rules_begin(&rules, (unsigned)bucket, NBUCKET, NULL), 0);
	assert_int_equal(gxio_mpipe_rules_set_headroom(&rules, 2), 0);
	assert_int_equal(gxio_mpipe_rules_add_channel(&rules, r->link.channel), 0);
	assert_int_equal(gxio_mpipe_rules_commit(&rules), 0);
	ering = gxio_mpipe_alloc_edma_rings(&r->ctx, 1, 0, 0);
	assert_true(ering >= 0);
	assert_int_equal(gxio_mpipe_equeue_init(&r->eq, &r->ctx, (unsigned)ering, r->link.channel,
						r->mem + 131072, 512 * sizeof(gxio_mpipe_edesc_t),
						0),
			 0);
	assert_int_equal(gxio_mpipe_link_set_attr(&r->link, GXIO_MPIPE_LINK_DESIRED_STATE,
						  (int64_t)GXIO_MPIPE_LINK_ANYSPEED),
			 0);
	*state = r;
	return 0;
}

static int teardown(void **state)
{
	struct rig *r = *state;

	assert_int_equal(gxio_mpipe_destroy(&r->ctx), 0);
	tmc_alloc_unmap(r->mem, r->mem_len);
	free(r);
	return 0;
}

/* ---- frames ------------------------------------------------------------- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* An Ethernet + IPv4 + TCP frame with correct checksums; returns its length. */
static size_t tcp_frame(uint8_t *f, uint32_t sip, uint16_t sport, uint16_t dport, size_t plen,
			uint8_t fill)
{
	uint8_t *ip = f + 14, *tcp = ip + 20;
	uint16_t c;
	uint32_t s, d;

	memset(f, 0, 14 + 20 + 20 + plen);
	memcpy(f, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02", 12);
	put16(f + 12, 0x0800);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(40 + plen));
	ip[8] = 64;
	ip[9] = 6;
	s = __builtin_bswap32(sip);
	d = __builtin_bswap32(0x0a000002);
	memcpy(ip + 12, &s, 4);
	memcpy(ip + 16, &d, 4);
	c = dl_cksum(ip, 20);
	memcpy(ip + 10, &c, 2);
	put16(tcp, sport);
	put16(tcp + 2, dport);
	tcp[12] = 5 << 4;
	tcp[13] = 0x18;
	put16(tcp + 14, 65535);
	for (size_t i = 0; i < plen; i++)
		tcp[20 + i] = (uint8_t)(fill + i * 7);
	c = (uint16_t)~dl_cksum_fold(dl_cksum_pseudo(s, d, 6, (uint16_t)(20 + plen)) +
				     dl_cksum_raw(tcp, 20 + plen));
	memcpy(tcp + 16, &c, 2);
	return 14 + 40 + plen;
}

/* Descriptors waiting over all rings, waiting up to 2 s for `want`. */
static int pending_all(struct rig *r, int want)
{
	int total = 0;

	for (int t = 0; t < 2000; t++) {
		total = 0;
		for (int i = 0; i < NRINGS; i++) {
			/* Entry 0 of a model ring counts the descriptors written. */
			uint64_t w =
			    __atomic_load_n(&r->iq[i].idescs[0].words[0], __ATOMIC_ACQUIRE);
			total += (int)(w - r->iq[i].consumed);
		}
		if (total >= want)
			break;
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	}
	return total;
}

/* ---- buffer stacks ------------------------------------------------------ */

static void test_stack_lifo_empty_double_push(void **state)
{
	struct rig *r = *state;
	struct mde_model_mpipe_counters c0 = counters(), c1;
	void *a, *b;

	/* Empty the stack, then watch it behave as a LIFO. */
	for (int i = 0; i < NBUF; i++)
		assert_non_null(gxio_mpipe_pop_buffer(&r->ctx, (unsigned)r->stack));
	assert_null(gxio_mpipe_pop_buffer(&r->ctx, (unsigned)r->stack));
	a = r->bufs;
	b = r->bufs + BUFSZ;
	gxio_mpipe_push_buffer(&r->ctx, (unsigned)r->stack, a);
	gxio_mpipe_push_buffer(&r->ctx, (unsigned)r->stack,
			       (uint8_t *)b + 5); /* low bits ignored */
	assert_ptr_equal(gxio_mpipe_pop_buffer(&r->ctx, (unsigned)r->stack), b);
	assert_ptr_equal(gxio_mpipe_pop_buffer(&r->ctx, (unsigned)r->stack), a);
	assert_null(gxio_mpipe_pop_buffer(&r->ctx, (unsigned)r->stack));
	c1 = counters();
	assert_int_equal(c1.stack_pop_empty - c0.stack_pop_empty, 2);
	assert_int_equal(c1.guest_errors, c0.guest_errors);

	/* A double push is detected and refused: the buffer is there once. */
	gxio_mpipe_push_buffer(&r->ctx, (unsigned)r->stack, a);
	gxio_mpipe_push_buffer(&r->ctx, (unsigned)r->stack, a);
	c1 = counters();
	assert_int_equal(c1.stack_double_push - c0.stack_double_push, 1);
	assert_ptr_equal(gxio_mpipe_pop_buffer(&r->ctx, (unsigned)r->stack), a);
	assert_null(gxio_mpipe_pop_buffer(&r->ctx, (unsigned)r->stack));

	/* Outside the registered page (the TX page belongs to another stack). */
	gxio_mpipe_push_buffer(&r->ctx, (unsigned)r->stack, r->txmem);
	/* Straddling the end of the registered page. */
	gxio_mpipe_push_buffer(&r->ctx, (unsigned)r->stack, r->bufs + r->page - 1024);
	c1 = counters();
	assert_int_equal(c1.stack_push_unregistered - c0.stack_push_unregistered, 2);
	assert_null(gxio_mpipe_pop_buffer(&r->ctx, (unsigned)r->stack));
	/* A stack never allocated. */
	gxio_mpipe_push_buffer(&r->ctx, 31, a);
	assert_int_equal(counters().stack_bad_stack - c0.stack_bad_stack, 1);
}

static void test_register_page_rules(void **state)
{
	struct rig *r = *state;
	tmc_alloc_t small = TMC_ALLOC_INIT;
	uint8_t *p = tmc_alloc_map(&small, 17 * 4096);
	uint8_t *heap = malloc(8u << 20);
	int s = gxio_mpipe_alloc_buffer_stacks(&r->ctx, 1, 0, 0);

	assert_non_null(p);
	assert_true(s >= 0);
	for (int i = 0; i < 16; i++)
		assert_int_equal(
		    gxio_mpipe_register_page(&r->ctx, (unsigned)s, p + i * 4096, 4096, 0), 0);
	/* The IO-TLB holds 16 pages per stack. */
	assert_int_equal(gxio_mpipe_register_page(&r->ctx, (unsigned)s, p + 16 * 4096, 4096, 0),
			 GXIO_ERR_IOTLB_ENTRY);
	/* A "page" must be one real page of that size, aligned. */
	uint8_t *aligned =
	    (uint8_t *)(((uintptr_t)heap + (2u << 20) - 1) & ~(uintptr_t)((2u << 20) - 1));
	assert_int_equal(
	    gxio_mpipe_register_page(&r->ctx, (unsigned)r->map_stack, aligned, 2u << 20, 0),
	    GXIO_ERR_INVAL);
	assert_int_equal(
	    gxio_mpipe_register_page(&r->ctx, (unsigned)r->map_stack, r->txmem + 4096, 8192, 0),
	    GXIO_ERR_ALIGNMENT);
	assert_int_equal(gxio_mpipe_register_page(&r->ctx, 30, r->txmem, 4096, 0),
			 GXIO_MPIPE_ERR_BAD_BUFFER_STACK);
	/* Stack memory: 64 KiB aligned, physically contiguous. */
	assert_int_equal(gxio_mpipe_init_buffer_stack(&r->ctx, (unsigned)s,
						      GXIO_MPIPE_BUFFER_SIZE_1664,
						      r->mem + 3 * r->page + 4096, 4096, 0),
			 GXIO_ERR_ALIGNMENT);
	tmc_alloc_unmap(p, 17 * 4096);
	free(heap);
}

/* ---- classifier and iDMA ------------------------------------------------ */

static void test_flow_affinity(void **state)
{
	struct rig *r = *state;
	enum { FLOWS = 64, PER = 3 };
	uint8_t f[256];
	int ring_of[FLOWS];
	uint32_t hash_of[FLOWS];
	int used = 0, seen[NRINGS] = {0};

	for (int k = 0; k < PER; k++)
		for (int fl = 0; fl < FLOWS; fl++) {
			size_t n =
			    tcp_frame(f, 0x0a000001, (uint16_t)(10000 + fl), 80, 8, (uint8_t)fl);
			assert_int_equal(mde_model_link_inject(LINK, f, n), 0);
		}
	assert_int_equal(pending_all(r, FLOWS * PER), FLOWS * PER);
	memset(ring_of, -1, sizeof(ring_of));
	for (int i = 0; i < NRINGS; i++) {
		gxio_mpipe_idesc_t *d;
		int n;
		while ((n = gxio_mpipe_iqueue_try_peek(&r->iq[i], &d)) > 0) {
			for (int j = 0; j < n; j++) {
				uint8_t *l4 = gxio_mpipe_idesc_get_l4_start(&d[j]);
				int fl = ((l4[0] << 8) | l4[1]) - 10000;
				assert_true(fl >= 0 && fl < FLOWS);
				assert_int_equal(d[j].notif_ring, r->ring0 + i);
				if (ring_of[fl] < 0) {
					ring_of[fl] = i;
					hash_of[fl] = gxio_mpipe_idesc_get_flow_hash(&d[j]);
					used += !seen[i]++;
				}
				/* Static flow affinity: one ring, one hash per flow. */
				assert_int_equal(ring_of[fl], i);
				assert_int_equal(hash_of[fl],
						 gxio_mpipe_idesc_get_flow_hash(&d[j]));
				assert_int_equal(d[j].bucket_id % NRINGS, (unsigned)i);
				gxio_mpipe_iqueue_drop(&r->iq[i], &d[j]);
			}
			gxio_mpipe_iqueue_advance(&r->iq[i], n);
			gxio_mpipe_credit(&r->ctx, r->ring0 + i, -1, (unsigned)n);
		}
	}
	for (int fl = 0; fl < FLOWS; fl++)
		assert_true(ring_of[fl] >= 0);
	assert_true(used >= 2); /* 64 flows spread over the rings */
	assert_int_equal(counters().guest_errors, 0);
}

static gxio_mpipe_idesc_t take_one(struct rig *r)
{
	gxio_mpipe_idesc_t out;

	for (int t = 0; t < 2000; t++) {
		for (int i = 0; i < NRINGS; i++)
			if (gxio_mpipe_iqueue_try_get(&r->iq[i], &out) == 0)
				return out;
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	}
	fail_msg("no descriptor after 2 s");
	return out;
}

static void test_checksums(void **state)
{
	struct rig *r = *state;
	struct mde_model_mpipe_counters c0 = counters();
	uint8_t f[512];
	gxio_mpipe_idesc_t d;
	size_t n;

	/* A good TCP segment: checked, 0xFFFF. */
	n = tcp_frame(f, 0x0a000001, 1234, 80, 101, 3);
	assert_int_equal(mde_model_link_inject(LINK, f, n), 0);
	d = take_one(r);
	assert_int_equal(d.cs, 1);
	assert_int_equal(d.csum_start, 34);
	assert_int_equal(d.csum_seed_val, 0xFFFF);
	assert_false(gxio_mpipe_idesc_is_bad(&d));
	assert_int_equal(gxio_mpipe_idesc_get_l2_length(&d), n);
	assert_int_equal(gxio_mpipe_idesc_get_ethertype(&d), 0x0800);
	assert_int_equal(gxio_mpipe_idesc_get_l3_offset(&d), 14);
	assert_int_equal(gxio_mpipe_idesc_get_l4_offset(&d), 34);
	assert_memory_equal(gxio_mpipe_idesc_get_l2_start(&d), f, n);
	gxio_mpipe_push_buffer(&r->ctx, (unsigned)d.stack_idx, gxio_mpipe_idesc_get_va(&d));

	/* A payload byte changed in transit: computed, not 0xFFFF. */
	f[60] ^= 0x40;
	assert_int_equal(mde_model_link_inject(LINK, f, n), 0);
	d = take_one(r);
	assert_int_equal(d.cs, 1);
	assert_int_not_equal(d.csum_seed_val, 0xFFFF);
	assert_true(gxio_mpipe_idesc_is_bad(&d));
	gxio_mpipe_iqueue_drop(&r->iq[0], &d);

	/* A bad IPv4 header checksum: the classifier drops the packet. */
	n = tcp_frame(f, 0x0a000001, 1234, 80, 10, 3);
	f[14 + 10] ^= 1;
	assert_int_equal(mde_model_link_inject(LINK, f, n), 0);
	/* ... and an ARP frame behind it shows it was not delivered. */
	memset(f, 0xff, 6);
	put16(f + 12, 0x0806);
	memset(f + 14, 0, 28);
	assert_int_equal(mde_model_link_inject(LINK, f, 42), 0);
	d = take_one(r);
	assert_int_equal(gxio_mpipe_idesc_get_ethertype(&d), 0x0806);
	assert_int_equal(d.cs, 0);
	assert_int_equal(d.l2_size, 42);
	gxio_mpipe_iqueue_drop(&r->iq[0], &d);
	assert_int_equal(counters().ingress_drop_bad_ipv4 - c0.ingress_drop_bad_ipv4, 1);
	assert_int_equal(counters().guest_errors, c0.guest_errors);
}

static void test_buffer_error_when_stack_empty(void **state)
{
	struct rig *r = *state;
	struct mde_model_mpipe_counters c0 = counters();
	uint8_t f[256];
	gxio_mpipe_idesc_t d[3];
	void *keep[2];
	size_t n = tcp_frame(f, 0x0a000009, 999, 80, 20, 1);

	/* Leave two buffers on the stack. */
	while (gxio_mpipe_pop_buffer(&r->ctx, (unsigned)r->stack) != NULL)
		;
	keep[0] = r->bufs;
	keep[1] = r->bufs + BUFSZ;
	gxio_mpipe_push_buffer(&r->ctx, (unsigned)r->stack, keep[0]);
	gxio_mpipe_push_buffer(&r->ctx, (unsigned)r->stack, keep[1]);
	for (int i = 0; i < 3; i++)
		assert_int_equal(mde_model_link_inject(LINK, f, n), 0);
	for (int i = 0; i < 3; i++)
		d[i] = take_one(r); /* one flow: one ring, in order */
	assert_false(gxio_mpipe_idesc_has_error(&d[0]));
	assert_false(gxio_mpipe_idesc_has_error(&d[1]));
	assert_int_equal(d[2].be, 1);
	assert_true(gxio_mpipe_idesc_has_error(&d[2]));
	assert_int_equal(counters().ingress_be - c0.ingress_be, 1);
	gxio_mpipe_stats_t st;
	assert_int_equal(gxio_mpipe_get_stats(&r->ctx, &st), 0);
	assert_true(st.ingress_drops_no_buf >= 1);
}

static void test_ring_full_drops_and_credit_overflow(void **state)
{
	struct rig *r = *state;
	struct mde_model_mpipe_counters c0 = counters(), c1;
	uint8_t f[256];
	size_t n = tcp_frame(f, 0x0a000005, 4321, 80, 4, 9);
	gxio_mpipe_idesc_t *d;
	int ring = -1, got;

	/* One flow, 130 frames, nobody reading: 127 fit a 128-entry ring. */
	for (int i = 0; i < 130; i++)
		assert_int_equal(mde_model_link_inject(LINK, f, n), 0);
	assert_int_equal(pending_all(r, 127), 127);
	nanosleep(&(struct timespec){0, 50000000}, NULL);
	c1 = counters();
	assert_int_equal(c1.ingress_drop_ring_full - c0.ingress_drop_ring_full, 3);
	for (int i = 0; i < NRINGS; i++) {
		got = gxio_mpipe_iqueue_try_peek(&r->iq[i], &d);
		if (got > 0)
			ring = i;
	}
	assert_true(ring >= 0);
	/* Consume all 127 (the ring wraps: two contiguous runs), return them. */
	int left = 127;
	while (left > 0) {
		got = gxio_mpipe_iqueue_try_peek(&r->iq[ring], &d);
		assert_true(got > 0);
		for (int j = 0; j < got; j++)
			gxio_mpipe_iqueue_drop(&r->iq[ring], &d[j]);
		gxio_mpipe_iqueue_advance(&r->iq[ring], got);
		gxio_mpipe_credit(&r->ctx, r->ring0 + ring, -1, (unsigned)got);
		left -= got;
	}
	assert_int_equal(counters().guest_errors, c0.guest_errors);
	/* One credit more than was taken: a guest error. */
	gxio_mpipe_credit(&r->ctx, r->ring0 + ring, -1, 1);
	assert_int_equal(counters().credit_overflow - c0.credit_overflow, 1);
}

/* ---- eDMA --------------------------------------------------------------- */

static gxio_mpipe_edesc_t edesc(void *va, size_t n, unsigned stack, bool bound)
{
	gxio_mpipe_edesc_t e = {{0}};

	e.va = (int64_t)(intptr_t)va;
	e.xfer_size = n;
	e.stack_idx = stack;
	e.bound = bound;
	return e;
}

static void test_gather_checksum_hwb(void **state)
{
	struct rig *r = *state;
	struct mde_model_mpipe_counters c0 = counters();
	static uint8_t want[2048], got[2048];
	uint8_t *hdr = gxio_mpipe_pop_buffer(&r->ctx, (unsigned)r->stack);
	uint8_t *p1 = r->txmem + 100, *p2 = r->txmem + 5000;
	size_t l1 = 333, l2 = 1000, n, total;
	uint32_t s, d;
	int64_t slot;

	assert_non_null(hdr);
	/* Reference frame with its checksum, built flat in software. */
	total = tcp_frame(want, 0x0a000001, 5555, 80, l1 + l2, 0x21);
	memcpy(p1, want + 54, l1);
	memcpy(p2, want + 54 + l1, l2);
	/* The header as a driver hands it to mPIPE: TCP checksum field zero,
	 * the pseudo-header sum as the seed. */
	memcpy(hdr, want, 54);
	memset(hdr + 34 + 16, 0, 2);
	memcpy(&s, want + 26, 4);
	memcpy(&d, want + 30, 4);
	gxio_mpipe_edesc_t e0 = edesc(hdr, 54, (unsigned)r->stack, false);
	e0.hwb = 1;
	e0.size = GXIO_MPIPE_BUFFER_SIZE_1664;
	e0.csum = 1;
	e0.csum_start = 34;
	e0.csum_dest = 34 + 16;
	e0.csum_seed = dl_cksum_fold(dl_cksum_pseudo(s, d, 6, (uint16_t)(20 + l1 + l2)));
	slot = gxio_mpipe_equeue_try_reserve_fast(&r->eq, 3);
	assert_true(slot >= 0);
	gxio_mpipe_equeue_put_at(&r->eq, e0, (unsigned long)slot);
	gxio_mpipe_equeue_put_at(&r->eq, edesc(p1, l1, (unsigned)r->map_stack, false),
				 (unsigned long)slot + 1);
	gxio_mpipe_equeue_put_at(&r->eq, edesc(p2, l2, (unsigned)r->map_stack, true),
				 (unsigned long)slot + 2);
	gxio_mpipe_equeue_flush(&r->eq);
	n = mde_model_link_capture_wait(LINK, got, sizeof(got), 2000);
	assert_int_equal(n, total);
	assert_memory_equal(got, want, total); /* checksum byte-identical */
	/* hwb: the header buffer is back on its stack (LIFO: on top). */
	assert_ptr_equal(gxio_mpipe_pop_buffer(&r->ctx, (unsigned)r->stack), hdr);
	gxio_mpipe_push_buffer(&r->ctx, (unsigned)r->stack, hdr);
	c0.edma_hwb_returns++;
	assert_int_equal(counters().edma_hwb_returns, c0.edma_hwb_returns);
	assert_int_equal(counters().edma_csum - c0.edma_csum, 1);
	assert_int_equal(counters().guest_errors, c0.guest_errors);
}

static void test_unfilled_slot_blocks_ring_and_ns(void **state)
{
	struct rig *r = *state;
	struct mde_model_mpipe_counters c0 = counters();
	uint8_t got[256];
	int64_t slot = gxio_mpipe_equeue_try_reserve_fast(&r->eq, 2);

	assert_true(slot >= 0);
	memcpy(r->txmem, "second packet, behind the hole", 30);
	/* Fill the second slot only: the hardware may not pass the first. */
	gxio_mpipe_equeue_put_at(&r->eq, edesc(r->txmem, 60, (unsigned)r->map_stack, true),
				 (unsigned long)slot + 1);
	gxio_mpipe_equeue_flush(&r->eq);
	assert_int_equal(mde_model_link_capture_wait(LINK, got, sizeof(got), 100), 0);
	/* Pad the hole as the reference says: bound=1, ns=1. */
	gxio_mpipe_edesc_t pad = {{0}};
	pad.bound = 1;
	pad.ns = 1;
	gxio_mpipe_equeue_put_at(&r->eq, pad, (unsigned long)slot);
	gxio_mpipe_equeue_flush(&r->eq);
	assert_int_equal(mde_model_link_capture_wait(LINK, got, sizeof(got), 2000), 60);
	assert_memory_equal(got, "second packet, behind the hole", 30);
	assert_int_equal(mde_model_link_capture(LINK, got, sizeof(got)), 0);
	assert_int_equal(counters().edma_ns_packets - c0.edma_ns_packets, 1);
}

static void test_generation_wraps(void **state)
{
	struct rig *r = *state;
	uint8_t got[128];
	unsigned sent = 0, seen = 0;

	/* 1300 packets through a 512-entry ring: more than two wraps. */
	while (seen < 1300) {
		while (sent < 1300 && sent - seen < 200) {
			int64_t slot = gxio_mpipe_equeue_try_reserve_fast(&r->eq, 1);
			if (slot < 0)
				break;
			uint8_t *p = r->txmem + (sent % 256) * 64; /* > 200 in flight */
			memcpy(p, &sent, sizeof(sent));
			gxio_mpipe_equeue_put_at(&r->eq, edesc(p, 64, (unsigned)r->map_stack, true),
						 (unsigned long)slot);
			sent++;
		}
		gxio_mpipe_equeue_flush(&r->eq);
		size_t n = mde_model_link_capture_wait(LINK, got, sizeof(got), 2000);
		unsigned v;
		assert_int_equal(n, 64);
		memcpy(&v, got, sizeof(v));
		assert_int_equal(v, seen); /* in order, none lost */
		seen++;
	}
	/* Every slot came back: a whole ring can be reserved again. */
	int64_t slot = -1;
	for (int t = 0; t < 2000 && slot < 0; t++) {
		slot = gxio_mpipe_equeue_try_reserve_fast(&r->eq, 512);
		if (slot < 0)
			nanosleep(&(struct timespec){0, 1000000}, NULL);
	}
	assert_true(slot >= 0);
	gxio_mpipe_edesc_t pad = {{0}};
	pad.bound = 1;
	pad.ns = 1;
	for (unsigned i = 0; i < 512; i++)
		gxio_mpipe_equeue_put_at(&r->eq, pad, (unsigned long)slot + i);
}

static void test_edma_fault(void **state)
{
	struct rig *r = *state;
	struct mde_model_mpipe_counters c0 = counters();
	uint8_t *heap = malloc(256), got[256];
	int64_t slot = gxio_mpipe_equeue_try_reserve_fast(&r->eq, 1);

	assert_true(slot >= 0);
	memset(heap, 7, 256);
	/* Memory no stack's IO-TLB maps: an eDMA fault, nothing sent. */
	gxio_mpipe_equeue_put_at(&r->eq, edesc(heap, 100, (unsigned)r->map_stack, true),
				 (unsigned long)slot);
	gxio_mpipe_equeue_flush(&r->eq);
	assert_int_equal(mde_model_link_capture_wait(LINK, got, sizeof(got), 200), 0);
	assert_int_equal(counters().edma_fault - c0.edma_fault, 1);
	/* The ring goes on: the next packet is sent. */
	slot = gxio_mpipe_equeue_try_reserve_fast(&r->eq, 1);
	gxio_mpipe_equeue_put_at(&r->eq, edesc(r->txmem, 80, (unsigned)r->map_stack, true),
				 (unsigned long)slot);
	gxio_mpipe_equeue_flush(&r->eq);
	assert_int_equal(mde_model_link_capture_wait(LINK, got, sizeof(got), 2000), 80);
	free(heap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_stack_lifo_empty_double_push, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_register_page_rules, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_flow_affinity, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_checksums, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_buffer_error_when_stack_empty, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ring_full_drops_and_credit_overflow, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_gather_checksum_hwb, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unfilled_slot_blocks_ring_and_ns, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_generation_wraps, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_edma_fault, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
