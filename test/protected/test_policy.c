/*
 * test_policy.c - the protected-mode policy file (parser, matching, port
 * sets, formatting) and the token bucket behind its rates.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <stdio.h>

#include "dl_policy.h"

static const char *example = "# dlibos policy\n"
			     "\n"
			     "uid=0 app=httpd   listen=80,8080 connect=none   # web\n"
			     "app=kvs           listen=11211\n"
			     "uid=1000          listen=10000-10999 connect=any send-rate=100M\n"
			     "  *               listen=none cmd-rate=10k\n";

static void test_example_parses(void **state)
{
	struct dl_policy p;
	char err[200] = "";

	(void)state;
	assert_int_equal(dl_policy_parse(&p, example, err, sizeof(err)), 0);
	assert_int_equal(p.n, 4);
	assert_true(p.rule[0].match_uid);
	assert_int_equal(p.rule[0].uid, 0);
	assert_string_equal(p.rule[0].app, "httpd");
	assert_int_equal(p.rule[0].may.line, 3);
	assert_false(p.rule[1].match_uid);
	assert_string_equal(p.rule[1].app, "kvs");
	assert_int_equal(p.rule[2].may.send_rate, 100000000);
	assert_int_equal(p.rule[3].may.cmd_rate, 10000);
	assert_int_equal(p.rule[3].may.line, 6);
}

static void test_first_matching_rule_applies(void **state)
{
	struct dl_policy p;
	char err[200];

	(void)state;
	assert_int_equal(dl_policy_parse(&p, example, err, sizeof(err)), 0);
	assert_ptr_equal(dl_policy_match(&p, 0, "httpd"), &p.rule[0]);
	assert_ptr_equal(dl_policy_match(&p, 33, "httpd"), &p.rule[3]); /* uid must match too */
	assert_ptr_equal(dl_policy_match(&p, 33, "kvs"), &p.rule[1]);
	assert_ptr_equal(dl_policy_match(&p, 1000, "kvs"), &p.rule[1]);
	assert_ptr_equal(dl_policy_match(&p, 1000, "echo"), &p.rule[2]);
	assert_ptr_equal(dl_policy_match(&p, 5, "echo"), &p.rule[3]);
	assert_int_equal(dl_policy_parse(&p, "uid=7 listen=any\n", err, sizeof(err)), 0);
	assert_null(dl_policy_match(&p, 8, "x"));
	assert_non_null(dl_policy_match(&p, 7, NULL));
}

static void test_port_sets(void **state)
{
	struct dl_policy p;
	char err[200];

	(void)state;
	assert_int_equal(dl_policy_parse(&p, example, err, sizeof(err)), 0);
	assert_true(dl_port_set_has(&p.rule[0].may.listen, 80));
	assert_true(dl_port_set_has(&p.rule[0].may.listen, 8080));
	assert_false(dl_port_set_has(&p.rule[0].may.listen, 81));
	assert_false(dl_port_set_has(&p.rule[0].may.connect, 80));
	assert_false(dl_port_set_has(&p.rule[1].may.connect, 11211)); /* absent = none */
	assert_true(dl_port_set_has(&p.rule[2].may.listen, 10000));
	assert_true(dl_port_set_has(&p.rule[2].may.listen, 10999));
	assert_false(dl_port_set_has(&p.rule[2].may.listen, 9999));
	assert_false(dl_port_set_has(&p.rule[2].may.listen, 11000));
	assert_true(dl_port_set_has(&p.rule[2].may.connect, 1));
	assert_true(dl_port_set_has(&p.rule[2].may.connect, 65535));
	assert_false(dl_port_set_has(&p.rule[3].may.listen, 80));
	assert_int_equal(dl_policy_parse(&p, "* listen=1,65535,7-7\n", err, sizeof(err)), 0);
	assert_true(dl_port_set_has(&p.rule[0].may.listen, 1));
	assert_true(dl_port_set_has(&p.rule[0].may.listen, 65535));
	assert_true(dl_port_set_has(&p.rule[0].may.listen, 7));
	assert_false(dl_port_set_has(&p.rule[0].may.listen, 8));
}

/* parse must fail and say `want` (with the line number). */
static void bad(const char *text, const char *want)
{
	struct dl_policy p;
	char err[300] = "";

	assert_int_equal(dl_policy_parse(&p, text, err, sizeof(err)), -1);
	if (strstr(err, want) == NULL) {
		fprintf(stderr, "policy '%s': error '%s' lacks '%s'\n", text, err, want);
		fail();
	}
}

static void test_errors_name_line_and_word(void **state)
{
	(void)state;
	bad("app=a listen=80\nuid=1 bogus=2\n", "line 2: unknown key 'bogus'");
	bad("listen=80\n", "line 1: no selector");
	bad("* listen=0\n", "listen='0'");
	bad("* listen=65536\n", "listen='65536'");
	bad("* listen=90-80\n", "listen='90-80'");
	bad("* listen=80,\n", "listen='80,'");
	bad("* listen=80x\n", "listen='80x'");
	bad("* connect=-1\n", "connect='-1'");
	bad("* send-rate=fast\n", "send-rate='fast'");
	bad("* send-rate=0\n", "send-rate='0'");
	bad("* cmd-rate=10T\n", "cmd-rate='10T'");
	bad("* listen\n", "'listen' is not key=value");
	bad("* listen=\n", "'listen=' is not key=value");
	bad("uid=abc\n", "uid='abc'");
	bad("user=no-such-user-dlibos\n", "no such user");
	bad("app=0123456789012345678901234567890123\n", "at most 31 characters");
	char many[400] = "* listen=";
	for (int i = 1; i <= 33; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "%d,", i);
	many[strlen(many) - 1] = '\n';
	bad(many, "at most 32");
}

static void test_blank_comments_and_user(void **state)
{
	struct dl_policy p;
	char err[200];

	(void)state;
	assert_int_equal(dl_policy_parse(&p, "", err, sizeof(err)), 0);
	assert_int_equal(p.n, 0);
	assert_null(dl_policy_match(&p, 0, "x")); /* an empty policy refuses everybody */
	assert_int_equal(dl_policy_parse(&p, "# only\n   \n\t# comments\n", err, sizeof(err)), 0);
	assert_int_equal(p.n, 0);
	assert_int_equal(dl_policy_parse(&p, "user=root listen=any", err, sizeof(err)), 0);
	assert_int_equal(p.n, 1);
	assert_true(p.rule[0].match_uid);
	assert_int_equal(p.rule[0].uid, 0);
}

/* A full policy (64 rules) followed by blank and comment lines parses, and
 * nothing is written past the rules; a 65th rule is refused (found by
 * fuzz_policy: each line after the 64th rule was parsed into rule[64],
 * past the end of the array). */
static void test_full_policy_then_blank_lines(void **state)
{
	struct {
		struct dl_policy p;
		uint8_t after[sizeof(struct dl_policy_rule)];
	} s;
	uint8_t canary[sizeof(s.after)];
	char text[64 * 24 + 64], err[200];
	size_t at = 0;

	(void)state;
	for (int i = 0; i < DL_POLICY_MAX_RULES; i++)
		at += (size_t)snprintf(text + at, sizeof(text) - at, "uid=%d listen=any\n", i);
	snprintf(text + at, sizeof(text) - at, "\n   # the end\n\n");
	memset(s.after, 0xaa, sizeof(s.after));
	memset(canary, 0xaa, sizeof(canary));
	assert_int_equal(dl_policy_parse(&s.p, text, err, sizeof(err)), 0);
	assert_int_equal(s.p.n, DL_POLICY_MAX_RULES);
	assert_int_equal(s.p.rule[63].uid, 63);
	assert_memory_equal(s.after, canary, sizeof(canary));
	snprintf(text + at, sizeof(text) - at, "\n* listen=none\n");
	assert_int_equal(dl_policy_parse(&s.p, text, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "line 66: more than 64 rules"));
	assert_memory_equal(s.after, canary, sizeof(canary));
}

static void test_default_policy_is_our_uid_only(void **state)
{
	struct dl_policy p;
	const struct dl_policy_rule *r;

	(void)state;
	dl_policy_default(&p, 1234);
	r = dl_policy_match(&p, 1234, "anything");
	assert_non_null(r);
	assert_true(dl_port_set_has(&r->may.listen, 1));
	assert_true(dl_port_set_has(&r->may.connect, 65535));
	assert_int_equal(r->may.send_rate, 0);
	assert_null(dl_policy_match(&p, 1235, "anything"));
}

static void test_format_round_trips(void **state)
{
	struct dl_policy p, q;
	char err[200], line[400];

	(void)state;
	assert_int_equal(dl_policy_parse(&p, example, err, sizeof(err)), 0);
	for (unsigned i = 0; i < p.n; i++) {
		dl_policy_rule_format(&p.rule[i], line, sizeof(line));
		assert_int_equal(dl_policy_parse(&q, line, err, sizeof(err)), 0);
		assert_int_equal(q.n, 1);
		q.rule[0].may.line = p.rule[i].may.line;
		assert_memory_equal(&q.rule[0], &p.rule[i], sizeof(q.rule[0]));
	}
	/* An rx-memory that is no whole number of KiB prints in bytes, which
	 * parse back (found by fuzz_policy: it printed 1626k for 1665535). */
	assert_int_equal(dl_policy_parse(&p, "* rx-memory=1665535\n", err, sizeof(err)), 0);
	assert_int_equal(p.rule[0].may.rx_memory, 1665535);
	dl_policy_rule_format(&p.rule[0], line, sizeof(line));
	assert_int_equal(dl_policy_parse(&q, line, err, sizeof(err)), 0);
	assert_int_equal(q.rule[0].may.rx_memory, 1665535);
	assert_int_equal(dl_policy_parse(&p, "* rx-memory=2M\n", err, sizeof(err)), 0);
	dl_policy_rule_format(&p.rule[0], line, sizeof(line));
	assert_non_null(strstr(line, "rx-memory=2048k"));
	/* Large rates print as plain numbers, which parse back (found by
	 * fuzz_policy: 2000G printed as 2000000000000, refused above 2^40). */
	assert_int_equal(
	    dl_policy_parse(&p, "* send-rate=2000G cmd-rate=17592186044416\n", err, sizeof(err)),
	    0);
	assert_int_equal(p.rule[0].may.send_rate, 2000000000000ull);
	assert_int_equal(p.rule[0].may.cmd_rate, 1ull << 44);
	dl_policy_rule_format(&p.rule[0], line, sizeof(line));
	assert_int_equal(dl_policy_parse(&q, line, err, sizeof(err)), 0);
	assert_int_equal(q.rule[0].may.send_rate, 2000000000000ull);
	assert_int_equal(q.rule[0].may.cmd_rate, 1ull << 44);
	assert_int_equal(dl_policy_parse(&q, "* send-rate=17592186044417\n", err, sizeof(err)), -1);
	/* The longest port sets print whole (found by fuzz_policy: 32 ranges
	 * were cut at 200 characters, and connect= dropped). */
	char ports[400] = "", text[1024], big[1024];
	for (int i = 0; i < DL_RIGHTS_MAX_RANGES; i++)
		snprintf(ports + strlen(ports), sizeof(ports) - strlen(ports), "%s%d-%d",
			 i ? "," : "", 65000 + 2 * i, 65001 + 2 * i);
	snprintf(text, sizeof(text),
		 "uid=4294967294 app=0123456789012345678901234567890 listen=%s connect=%s", ports,
		 ports);
	assert_int_equal(dl_policy_parse(&p, text, err, sizeof(err)), 0);
	assert_int_equal(p.rule[0].may.connect.n, DL_RIGHTS_MAX_RANGES);
	dl_policy_rule_format(&p.rule[0], big, sizeof(big));
	assert_true(strlen(big) < DL_POLICY_FORMAT_MAX);
	assert_int_equal(dl_policy_parse(&q, big, err, sizeof(err)), 0);
	q.rule[0].may.line = p.rule[0].may.line;
	assert_memory_equal(&q.rule[0], &p.rule[0], sizeof(q.rule[0]));
}

static void test_bucket(void **state)
{
	struct dl_bucket b;

	(void)state;
	dl_bucket_init(&b, 0, 0, 0, 0);
	assert_true(dl_bucket_ready(&b, 0));
	dl_bucket_take(&b, UINT64_MAX);
	assert_true(dl_bucket_ready(&b, 1));
	assert_int_equal(dl_bucket_avail(&b), UINT64_MAX);

	/* 1000 units/s, burst 100 (= rate / 10). */
	dl_bucket_init(&b, 1000, 0, 10, 1000000);
	assert_true(dl_bucket_ready(&b, 1000000));
	assert_int_equal(dl_bucket_avail(&b), 100);
	dl_bucket_take(&b, 100);
	assert_false(dl_bucket_ready(&b, 1000000));
	assert_true(dl_bucket_ready(&b, 1001000)); /* 1 ms: one unit */
	dl_bucket_take(&b, 1000);		   /* overdraw: 1 s of debt */
	assert_false(dl_bucket_ready(&b, 1500000));
	assert_false(dl_bucket_ready(&b, 1999999));
	assert_true(dl_bucket_ready(&b, 2000001));
	/* A long pause refills to the burst, no more. */
	assert_true(dl_bucket_ready(&b, 100000000));
	assert_int_equal(dl_bucket_avail(&b), 100);
	/* Huge takes and long debts cannot overflow. */
	for (int i = 0; i < 1000; i++)
		dl_bucket_take(&b, UINT64_MAX);
	assert_false(dl_bucket_ready(&b, 100000001));
	assert_true(b.tokens < 0);
	/* The minimum burst applies to slow rates. */
	dl_bucket_init(&b, 5, 0, 64, 0);
	assert_int_equal(dl_bucket_avail(&b), 64);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_example_parses),
	    cmocka_unit_test(test_first_matching_rule_applies),
	    cmocka_unit_test(test_port_sets),
	    cmocka_unit_test(test_errors_name_line_and_word),
	    cmocka_unit_test(test_blank_comments_and_user),
	    cmocka_unit_test(test_full_policy_then_blank_lines),
	    cmocka_unit_test(test_default_policy_is_our_uid_only),
	    cmocka_unit_test(test_format_round_trips),
	    cmocka_unit_test(test_bucket),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
