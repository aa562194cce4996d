/*
 * test_kvs_text.c - the memcached text line parser: every command, token
 * counts, strict numbers, noreply, key limits, the get key walker.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kvs_store.h"
#include "kvs_text.h"

static enum kvs_text_err parse(const char *line, struct kvs_text_req *r)
{
	return kvs_text_parse(line, strlen(line), r);
}

static void assert_key(const struct kvs_text_req *r, const char *key)
{
	assert_int_equal(r->nkey, strlen(key));
	assert_memory_equal(r->key, key, r->nkey);
}

static void test_set_family(void **state)
{
	struct kvs_text_req r;
	(void)state;

	assert_int_equal(parse("set k 5 -1 10", &r), KT_OK);
	assert_int_equal(r.cmd, KT_SET);
	assert_key(&r, "k");
	assert_int_equal(r.flags, 5);
	assert_int_equal(r.exptime, -1);
	assert_int_equal(r.nbytes, 10);
	assert_false(r.noreply);

	assert_int_equal(parse("add  key   4294967295 0 0 noreply", &r), KT_OK);
	assert_int_equal(r.cmd, KT_ADD);
	assert_int_equal(r.flags, 4294967295u);
	assert_true(r.noreply);

	const char *cmds[] = {"replace", "append", "prepend"};
	const enum kvs_text_cmd want[] = {KT_REPLACE, KT_APPEND, KT_PREPEND};
	for (unsigned i = 0; i < 3; i++) {
		char line[64];
		snprintf(line, sizeof(line), "%s x 0 0 1", cmds[i]);
		assert_int_equal(parse(line, &r), KT_OK);
		assert_int_equal(r.cmd, want[i]);
	}

	assert_int_equal(parse("cas k 0 0 6 123456789012", &r), KT_OK);
	assert_int_equal(r.cmd, KT_CAS);
	assert_int_equal(r.cas, 123456789012ull);
	assert_int_equal(parse("cas k 0 0 6 7 noreply", &r), KT_OK);
	assert_true(r.noreply);
	assert_int_equal(r.cas, 7);
}

static void test_set_malformed(void **state)
{
	struct kvs_text_req r;
	char key[KVS_KEY_MAX + 2];
	char line[400];
	(void)state;

	assert_int_equal(parse("set k 0 0", &r), KT_ERR_UNKNOWN);	      /* too few */
	assert_int_equal(parse("set k 0 0 1 noreply x", &r), KT_ERR_UNKNOWN); /* too many */
	assert_int_equal(parse("cas k 0 0 1", &r), KT_ERR_UNKNOWN);	      /* no cas */
	assert_int_equal(parse("set k x 0 1", &r), KT_ERR_FORMAT);	      /* flags */
	assert_int_equal(parse("set k 4294967296 0 1", &r), KT_ERR_FORMAT);   /* flags > 32 bit */
	assert_int_equal(parse("set k -1 0 1", &r), KT_ERR_FORMAT);
	assert_int_equal(parse("set k 0 zz 1", &r), KT_ERR_FORMAT); /* exptime */
	assert_int_equal(parse("set k 0 0 -1", &r), KT_ERR_FORMAT); /* negative length */
	assert_int_equal(parse("set k 0 0 1x", &r), KT_ERR_FORMAT);
	assert_int_equal(parse("set k 0 0 99999999999", &r), KT_ERR_FORMAT);
	assert_int_equal(parse("cas k 0 0 1 -5", &r), KT_ERR_FORMAT);

	memset(key, 'a', KVS_KEY_MAX);
	key[KVS_KEY_MAX] = '\0';
	snprintf(line, sizeof(line), "set %s 0 0 1", key);
	assert_int_equal(parse(line, &r), KT_OK); /* 250 bytes: the limit */
	key[KVS_KEY_MAX] = 'a';
	key[KVS_KEY_MAX + 1] = '\0';
	snprintf(line, sizeof(line), "set %s 0 0 1", key);
	assert_int_equal(parse(line, &r), KT_ERR_FORMAT);
}

static void test_get_and_keys(void **state)
{
	struct kvs_text_req r;
	const char *p, *end, *key;
	size_t nkey;
	(void)state;

	assert_int_equal(parse("get", &r), KT_ERR_UNKNOWN);
	assert_int_equal(parse("gets", &r), KT_ERR_UNKNOWN);
	assert_int_equal(parse("get a  bb ccc", &r), KT_OK);
	assert_int_equal(r.cmd, KT_GET);
	p = r.keys;
	end = r.keys + r.keys_len;
	assert_int_equal(kvs_text_next_key(&p, end, &key, &nkey), 1);
	assert_int_equal(nkey, 1);
	assert_memory_equal(key, "a", 1);
	assert_int_equal(kvs_text_next_key(&p, end, &key, &nkey), 1);
	assert_memory_equal(key, "bb", 2);
	assert_int_equal(kvs_text_next_key(&p, end, &key, &nkey), 1);
	assert_int_equal(nkey, 3);
	assert_int_equal(kvs_text_next_key(&p, end, &key, &nkey), 0);

	/* more keys than the tokenizer keeps: all are walked */
	assert_int_equal(parse("gets 1 2 3 4 5 6 7 8 9 10 11", &r), KT_OK);
	assert_int_equal(r.cmd, KT_GETS);
	unsigned n = 0;
	p = r.keys;
	end = r.keys + r.keys_len;
	while (kvs_text_next_key(&p, end, &key, &nkey) == 1)
		n++;
	assert_int_equal(n, 11);

	char line[600];
	char big[KVS_KEY_MAX + 2];
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	snprintf(line, sizeof(line), "get ok %s", big);
	assert_int_equal(parse(line, &r), KT_OK);
	p = r.keys;
	end = r.keys + r.keys_len;
	assert_int_equal(kvs_text_next_key(&p, end, &key, &nkey), 1);
	assert_int_equal(kvs_text_next_key(&p, end, &key, &nkey), -1);

	assert_int_equal(parse("gat 100 k1 k2", &r), KT_OK);
	assert_int_equal(r.cmd, KT_GAT);
	assert_int_equal(r.exptime, 100);
	assert_memory_equal(r.keys, "k1 k2", 5);
	assert_int_equal(parse("gats x k1", &r), KT_ERR_EXPTIME);
	assert_int_equal(parse("gat 1", &r), KT_ERR_UNKNOWN);
}

static void test_delete(void **state)
{
	struct kvs_text_req r;
	(void)state;

	assert_int_equal(parse("delete", &r), KT_ERR_UNKNOWN);
	assert_int_equal(parse("delete a b c d e", &r), KT_ERR_UNKNOWN);
	assert_int_equal(parse("delete k", &r), KT_OK);
	assert_key(&r, "k");
	assert_false(r.noreply);
	assert_int_equal(parse("delete k noreply", &r), KT_OK);
	assert_true(r.noreply);
	assert_int_equal(parse("delete k 0", &r), KT_OK);
	assert_int_equal(parse("delete k 0 noreply", &r), KT_OK);
	assert_true(r.noreply);
	assert_int_equal(parse("delete k 5", &r), KT_ERR_FORMAT);
	assert_int_equal(parse("delete k 5 noreply", &r), KT_ERR_FORMAT);
	assert_true(r.noreply); /* so the error is not sent either */
}

static void test_arith_touch_flush(void **state)
{
	struct kvs_text_req r;
	(void)state;

	assert_int_equal(parse("incr k 18446744073709551615", &r), KT_OK);
	assert_int_equal(r.cmd, KT_INCR);
	assert_true(r.delta == UINT64_MAX);
	assert_int_equal(parse("decr k 1 noreply", &r), KT_OK);
	assert_int_equal(r.cmd, KT_DECR);
	assert_true(r.noreply);
	assert_int_equal(parse("incr k 18446744073709551616", &r), KT_ERR_DELTA);
	assert_int_equal(parse("incr k -1", &r), KT_ERR_DELTA);
	assert_int_equal(parse("incr k abc", &r), KT_ERR_DELTA);
	assert_int_equal(parse("incr k", &r), KT_ERR_UNKNOWN);

	assert_int_equal(parse("touch k 10", &r), KT_OK);
	assert_int_equal(r.exptime, 10);
	assert_int_equal(parse("touch k ten", &r), KT_ERR_EXPTIME);

	assert_int_equal(parse("flush_all", &r), KT_OK);
	assert_int_equal(r.exptime, 0);
	assert_int_equal(parse("flush_all noreply", &r), KT_OK);
	assert_true(r.noreply);
	assert_int_equal(parse("flush_all 30", &r), KT_OK);
	assert_int_equal(r.exptime, 30);
	assert_int_equal(parse("flush_all 30 noreply", &r), KT_OK);
	assert_int_equal(r.exptime, 30);
	assert_int_equal(parse("flush_all foo", &r), KT_ERR_FORMAT);
	assert_int_equal(parse("flush_all 1 2", &r), KT_ERR_FORMAT);
	assert_int_equal(parse("flush_all 1 2 3", &r), KT_ERR_UNKNOWN);
}

static void test_misc(void **state)
{
	struct kvs_text_req r;
	(void)state;

	assert_int_equal(parse("", &r), KT_ERR_UNKNOWN);
	assert_int_equal(parse("   ", &r), KT_ERR_UNKNOWN);
	assert_int_equal(parse("bogus", &r), KT_ERR_UNKNOWN);
	assert_int_equal(parse("GET k", &r), KT_ERR_UNKNOWN); /* case matters */
	assert_int_equal(parse("version", &r), KT_OK);
	assert_int_equal(parse("version foo bar", &r), KT_OK); /* 1.6 */
	assert_int_equal(r.cmd, KT_VERSION);
	assert_int_equal(parse("quit", &r), KT_OK);
	assert_int_equal(r.cmd, KT_QUIT);
	assert_int_equal(parse("mn", &r), KT_OK);

	/* memccapable's verbosity cases */
	assert_int_equal(parse("verbosity foo bar my", &r), KT_ERR_UNKNOWN);
	assert_int_equal(parse("verbosity", &r), KT_ERR_UNKNOWN);
	assert_int_equal(parse("verbosity noreply", &r), KT_ERR_FORMAT);
	assert_true(r.noreply); /* silent */
	assert_int_equal(parse("verbosity 0 noreply", &r), KT_OK);
	assert_true(r.noreply);
	assert_int_equal(parse("verbosity 1", &r), KT_OK);
	assert_int_equal(r.level, 1);
	assert_false(r.noreply);

	assert_int_equal(parse("stats", &r), KT_OK);
	assert_int_equal(r.args_len, 0);
	assert_int_equal(parse("stats noreply", &r), KT_OK);
	assert_false(r.noreply); /* stats has no noreply: "noreply" is a group */
	assert_int_equal(r.args_len, 7);
	assert_memory_equal(r.args, "noreply", 7);
}

/* Truncated lines never read past their length. */
static void test_truncated_lines(void **state)
{
	const char *full = "cas key 1 2 3 4 noreply";
	struct kvs_text_req r;
	(void)state;

	for (size_t n = 0; n <= strlen(full); n++) {
		char *copy = malloc(n ? n : 1); /* exact size: ASan catches overreads */
		memcpy(copy, full, n);
		enum kvs_text_err e = kvs_text_parse(copy, n, &r);
		/* complete from "cas key 1 2 3 4" on (a 7th token that is not
		 * "noreply" is ignored, as memcached does) */
		if (n >= strlen("cas key 1 2 3 4"))
			assert_int_equal(e, KT_OK);
		else
			assert_int_not_equal(e, KT_OK);
		free(copy);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_set_family),	      cmocka_unit_test(test_set_malformed),
	    cmocka_unit_test(test_get_and_keys),      cmocka_unit_test(test_delete),
	    cmocka_unit_test(test_arith_touch_flush), cmocka_unit_test(test_misc),
	    cmocka_unit_test(test_truncated_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
