/*
 * test_mde_layout.c - the MDE model's declarations against the reference
 * (arch/mpipe_shm.h bit positions, the gxio error values, buffer sizes and
 * the stack memory formula): a field set through the union must land on
 * exactly the bits the hardware reads.
 */
#include <gxio/mpipe.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

/* Word w of the descriptor with only `field` set to all ones. */
#define IDESC_BITS(field, w)                                                                       \
	({                                                                                         \
		gxio_mpipe_idesc_t d_;                                                             \
		memset(&d_, 0, sizeof(d_));                                                        \
		d_.field = -1;                                                                     \
		d_.words[w];                                                                       \
	})
#define EDESC_BITS(field, w)                                                                       \
	({                                                                                         \
		gxio_mpipe_edesc_t e_;                                                             \
		memset(&e_, 0, sizeof(e_));                                                        \
		e_.field = -1;                                                                     \
		e_.words[w];                                                                       \
	})

static uint64_t bits(unsigned lo, unsigned n)
{
	return (n == 64 ? ~0ull : ((1ull << n) - 1)) << lo;
}

static void test_idesc_word0(void **state)
{
	(void)state;
	assert_int_equal(sizeof(gxio_mpipe_idesc_t), 64);
	assert_int_equal(IDESC_BITS(notif_ring, 0), bits(0, 8));
	assert_int_equal(IDESC_BITS(channel, 0), bits(8, 5));
	assert_int_equal(IDESC_BITS(me, 0), bits(14, 1));
	assert_int_equal(IDESC_BITS(tr, 0), bits(15, 1));
	assert_int_equal(IDESC_BITS(l2_size, 0), bits(16, 14));
	assert_int_equal(IDESC_BITS(ce, 0), bits(30, 1));
	assert_int_equal(IDESC_BITS(ct, 0), bits(31, 1));
	assert_int_equal(IDESC_BITS(bucket_id, 0), bits(32, 13));
	assert_int_equal(IDESC_BITS(cs, 0), bits(48, 1));
	assert_int_equal(IDESC_BITS(nr, 0), bits(49, 1));
	assert_int_equal(IDESC_BITS(dest, 0), bits(50, 2));
	assert_int_equal(IDESC_BITS(sq, 0), bits(52, 1));
	assert_int_equal(IDESC_BITS(ts, 0), bits(53, 1));
	assert_int_equal(IDESC_BITS(ps, 0), bits(54, 1));
	assert_int_equal(IDESC_BITS(be, 0), bits(55, 1));
	assert_int_equal(IDESC_BITS(ctr0, 0), bits(56, 5));
}

static void test_idesc_words1_to_7(void **state)
{
	(void)state;
	assert_int_equal(IDESC_BITS(ctr1, 1), bits(0, 5));
	assert_int_equal(IDESC_BITS(csum_start, 1), bits(8, 8));
	assert_int_equal(IDESC_BITS(csum_seed_val, 1), bits(16, 16));
	assert_int_equal(IDESC_BITS(custom0, 1), bits(32, 32));
	assert_int_equal(IDESC_BITS(custom1, 2), bits(0, 64));
	assert_int_equal(IDESC_BITS(custom2, 3), bits(0, 64));
	assert_int_equal(IDESC_BITS(custom3, 4), bits(0, 64));
	assert_int_equal(IDESC_BITS(gp_sqn, 5), bits(0, 16));
	assert_int_equal(IDESC_BITS(packet_sqn, 5), bits(16, 48));
	assert_int_equal(IDESC_BITS(time_stamp_ns, 6), bits(0, 32));
	assert_int_equal(IDESC_BITS(time_stamp_sec, 6), bits(32, 32));
	/* Word 7: the buffer descriptor. */
	assert_int_equal(IDESC_BITS(va, 7), bits(0, 42));
	assert_int_equal(IDESC_BITS(stack_idx, 7), bits(48, 5));
	assert_int_equal(IDESC_BITS(inst, 7), bits(56, 2));
	assert_int_equal(IDESC_BITS(hwb, 7), bits(58, 1));
	assert_int_equal(IDESC_BITS(size, 7), bits(59, 3));
	assert_int_equal(IDESC_BITS(c, 7), bits(62, 2));
}

static void test_edesc(void **state)
{
	(void)state;
	assert_int_equal(sizeof(gxio_mpipe_edesc_t), 16);
	assert_int_equal(EDESC_BITS(gen, 0), bits(0, 1));
	assert_int_equal(EDESC_BITS(efifo_sel, 0), bits(1, 6));
	assert_int_equal(EDESC_BITS(csum, 0), bits(8, 1));
	assert_int_equal(EDESC_BITS(ns, 0), bits(9, 1));
	assert_int_equal(EDESC_BITS(notif, 0), bits(10, 1));
	assert_int_equal(EDESC_BITS(bound, 0), bits(11, 1));
	assert_int_equal(EDESC_BITS(xfer_size, 0), bits(16, 14));
	assert_int_equal(EDESC_BITS(csum_dest, 0), bits(32, 8));
	assert_int_equal(EDESC_BITS(csum_start, 0), bits(40, 8));
	assert_int_equal(EDESC_BITS(csum_seed, 0), bits(48, 16));
	assert_int_equal(EDESC_BITS(va, 1), bits(0, 42));
	assert_int_equal(EDESC_BITS(stack_idx, 1), bits(48, 5));
	assert_int_equal(EDESC_BITS(inst, 1), bits(56, 2));
	assert_int_equal(EDESC_BITS(hwb, 1), bits(58, 1));
	assert_int_equal(EDESC_BITS(size, 1), bits(59, 3));
	assert_int_equal(EDESC_BITS(c, 1), bits(62, 2));
}

static void test_va_sign_extends(void **state)
{
	gxio_mpipe_edesc_t e;

	(void)state;
	memset(&e, 0, sizeof(e));
	e.words[1] = (uint64_t)1 << 41; /* bit 41 is the sign of the 42-bit field */
	assert_true(e.va < 0);
	e.va = 0x123456789a;
	assert_int_equal(e.va, 0x123456789a);
	assert_int_equal(e.words[1], 0x123456789aull);
}

static void test_constants(void **state)
{
	(void)state;
	assert_int_equal(GXIO_MPIPE_ERR_IQUEUE_EMPTY, -1152);
	assert_int_equal(GXIO_ERR_DMA_CREDITS, -1114);
	assert_int_equal(GXIO_ERR_IOTLB_ENTRY, -1111);
	assert_int_equal(GXIO_MPIPE_ERR_NO_BUFFER_STACK, -1140);
	assert_string_equal(gxio_strerror(GXIO_MPIPE_ERR_IQUEUE_EMPTY), "Empty iqueue");
	assert_int_equal(GXIO_MPIPE_LINK_DESIRED_STATE, 0x080000);
	assert_int_equal(GXIO_MPIPE_LINK_ANYSPEED, 0x800);
	assert_int_equal(gxio_mpipe_buffer_size_enum_to_buffer_size(GXIO_MPIPE_BUFFER_SIZE_1664),
			 1664);
	assert_int_equal(gxio_mpipe_buffer_size_to_buffer_size_enum(1500),
			 GXIO_MPIPE_BUFFER_SIZE_1664);
	assert_int_equal(gxio_mpipe_buffer_size_to_buffer_size_enum(100000),
			 GXIO_MPIPE_BUFFER_SIZE_16384);
	/* 12 buffer pointers per 64-byte line. */
	assert_int_equal(gxio_mpipe_calc_buffer_stack_bytes(12), 64);
	assert_int_equal(gxio_mpipe_calc_buffer_stack_bytes(13), 128);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_idesc_word0), cmocka_unit_test(test_idesc_words1_to_7),
	    cmocka_unit_test(test_edesc),	cmocka_unit_test(test_va_sign_extends),
	    cmocka_unit_test(test_constants),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
