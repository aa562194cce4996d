/*
 * test_kvs_binary.c - memcached binary protocol helpers: header round trip,
 * shape checks per opcode, quiet/with-key classification.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "kvs_binary.h"
#include "kvs_store.h"

static struct kvs_bin_hdr req(uint8_t op, uint8_t extlen, uint16_t keylen, uint32_t bodylen)
{
	struct kvs_bin_hdr h = {.magic = KVS_BIN_REQ,
				.opcode = op,
				.extlen = extlen,
				.keylen = keylen,
				.bodylen = bodylen};
	return h;
}

static void test_decode_encode(void **state)
{
	const uint8_t raw[KVS_BIN_HDR] = {0x80, 0x01, 0x00, 0x05, 0x08, 0x00, 0x00, 0x00,
					  0x00, 0x00, 0x00, 0x15, 0xde, 0xad, 0xbe, 0xef,
					  0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08};
	struct kvs_bin_hdr h;
	uint8_t out[KVS_BIN_HDR];
	(void)state;

	kvs_bin_decode(raw, &h);
	assert_int_equal(h.magic, 0x80);
	assert_int_equal(h.opcode, KB_SET);
	assert_int_equal(h.keylen, 5);
	assert_int_equal(h.extlen, 8);
	assert_int_equal(h.bodylen, 0x15);
	assert_int_equal(h.opaque, 0xdeadbeef);
	assert_true(h.cas == 0x0102030405060708ull);

	kvs_bin_encode_res(out, KB_GETK, 3, 4, KB_KEY_ENOENT, 7, h.opaque, 0x1122334455667788ull);
	assert_int_equal(out[0], KVS_BIN_RES);
	assert_int_equal(out[1], KB_GETK);
	assert_int_equal(out[2] << 8 | out[3], 3);
	assert_int_equal(out[4], 4);
	assert_int_equal(out[5], 0);
	assert_int_equal(out[6] << 8 | out[7], KB_KEY_ENOENT);
	assert_int_equal(kvs_be32(out + 8), 7);
	assert_memory_equal(out + 12, raw + 12, 4); /* opaque echoed byte for byte */
	assert_true(kvs_be64(out + 16) == 0x1122334455667788ull);
}

static void test_shapes(void **state)
{
	struct kvs_bin_hdr h;
	(void)state;

	h = req(KB_GET, 0, 3, 3);
	assert_int_equal(kvs_bin_check(&h), KB_SUCCESS);
	h = req(KB_GET, 0, 0, 0); /* no key */
	assert_int_equal(kvs_bin_check(&h), KB_EINVAL);
	h = req(KB_GETKQ, 4, 3, 7); /* extras on a get */
	assert_int_equal(kvs_bin_check(&h), KB_EINVAL);
	h = req(KB_GET, 0, 3, 10); /* a value on a get */
	assert_int_equal(kvs_bin_check(&h), KB_EINVAL);

	h = req(KB_SET, 8, 3, 11 + 100);
	assert_int_equal(kvs_bin_check(&h), KB_SUCCESS);
	h = req(KB_SETQ, 0, 3, 3); /* no extras */
	assert_int_equal(kvs_bin_check(&h), KB_EINVAL);
	h = req(KB_ADD, 8, 3, 10); /* body shorter than extras + key */
	assert_int_equal(kvs_bin_check(&h), KB_EINVAL);
	h = req(KB_APPENDQ, 0, 3, 8);
	assert_int_equal(kvs_bin_check(&h), KB_SUCCESS);
	h = req(KB_APPEND, 8, 3, 11);
	assert_int_equal(kvs_bin_check(&h), KB_EINVAL);

	h = req(KB_INCREMENT, 20, 1, 21);
	assert_int_equal(kvs_bin_check(&h), KB_SUCCESS);
	h = req(KB_DECREMENTQ, 8, 1, 9);
	assert_int_equal(kvs_bin_check(&h), KB_EINVAL);

	h = req(KB_FLUSH, 0, 0, 0);
	assert_int_equal(kvs_bin_check(&h), KB_SUCCESS);
	h = req(KB_FLUSHQ, 4, 0, 4);
	assert_int_equal(kvs_bin_check(&h), KB_SUCCESS);
	h = req(KB_FLUSH, 4, 1, 5);
	assert_int_equal(kvs_bin_check(&h), KB_EINVAL);

	h = req(KB_NOOP, 0, 0, 0);
	assert_int_equal(kvs_bin_check(&h), KB_SUCCESS);
	h = req(KB_VERSION, 0, 0, 1);
	assert_int_equal(kvs_bin_check(&h), KB_EINVAL);
	h = req(KB_STAT, 0, 5, 5);
	assert_int_equal(kvs_bin_check(&h), KB_SUCCESS);
	h = req(KB_VERBOSITY, 4, 0, 4);
	assert_int_equal(kvs_bin_check(&h), KB_SUCCESS);
	h = req(KB_TOUCH, 4, 2, 6);
	assert_int_equal(kvs_bin_check(&h), KB_SUCCESS);
	h = req(KB_GATKQ, 0, 2, 2);
	assert_int_equal(kvs_bin_check(&h), KB_EINVAL);

	h = req(KB_GET, 0, KVS_KEY_MAX + 1, KVS_KEY_MAX + 1); /* key too long */
	assert_int_equal(kvs_bin_check(&h), KB_EINVAL);
	h = req(KB_GET, 0, 3, 3);
	h.datatype = 1;
	assert_int_equal(kvs_bin_check(&h), KB_EINVAL);
	h = req(0x20, 0, 0, 0); /* SASL: not supported */
	assert_int_equal(kvs_bin_check(&h), KB_UNKNOWN_COMMAND);
	h = req(0xff, 0, 0, 0);
	assert_int_equal(kvs_bin_check(&h), KB_UNKNOWN_COMMAND);
}

static void test_classes(void **state)
{
	const uint8_t quiet[] = {KB_GETQ,    KB_GETKQ,	    KB_SETQ,	   KB_ADDQ,  KB_REPLACEQ,
				 KB_DELETEQ, KB_INCREMENTQ, KB_DECREMENTQ, KB_QUITQ, KB_FLUSHQ,
				 KB_APPENDQ, KB_PREPENDQ,   KB_GATQ,	   KB_GATKQ};
	const uint8_t loud[] = {KB_GET,	   KB_GETK,	 KB_SET,       KB_ADD,	   KB_REPLACE,
				KB_DELETE, KB_INCREMENT, KB_DECREMENT, KB_QUIT,	   KB_FLUSH,
				KB_APPEND, KB_PREPEND,	 KB_NOOP,      KB_VERSION, KB_STAT,
				KB_TOUCH,  KB_GAT};
	(void)state;

	for (size_t i = 0; i < sizeof(quiet); i++)
		assert_true(kvs_bin_quiet(quiet[i]));
	for (size_t i = 0; i < sizeof(loud); i++)
		assert_false(kvs_bin_quiet(loud[i]));
	assert_true(kvs_bin_with_key(KB_GETK));
	assert_true(kvs_bin_with_key(KB_GETKQ));
	assert_true(kvs_bin_with_key(KB_GATK));
	assert_false(kvs_bin_with_key(KB_GET));
	assert_false(kvs_bin_with_key(KB_GETQ));
	assert_int_equal(kvs_bin_kind(KB_PREPENDQ), KBK_CONCAT);
	assert_int_equal(kvs_bin_kind(KB_REPLACEQ), KBK_STORE);
	assert_int_equal(kvs_bin_kind(0x42), KBK_UNKNOWN);
	assert_string_equal(kvs_bin_status_text(KB_KEY_ENOENT), "Not found");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decode_encode),
	    cmocka_unit_test(test_shapes),
	    cmocka_unit_test(test_classes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
