/*
 * test_telemetry.c - telemetry value trees and the command registry
 * (lib/hal/telemetry.c): what a tree accepts and refuses (names, depth,
 * entry counts, the JSON budget, array types), its JSON rendering
 * (escapes, nesting, exact size accounting), and the registry's calls,
 * replacement, unregistering and backend hook.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dl_telemetry.h"

static char json[65536];

static const char *render(const struct dl_tel *t)
{
	int n = dl_tel_json(t, json, sizeof(json));

	assert_true(n >= 0);
	assert_int_equal((size_t)n, strlen(json));
	return json;
}

static void test_scalars_and_nesting(void **state)
{
	struct dl_tel *t = dl_tel_new(0), *d, *a, *s;

	(void)state;
	assert_non_null(t);
	assert_int_equal(dl_tel_u64(t, "u", UINT64_MAX), 0);
	assert_int_equal(dl_tel_int(t, "i", -42), 0);
	assert_int_equal(dl_tel_str(t, "s", "a\"b\\c\n"), 0);
	d = dl_tel_dict(t, "d");
	assert_non_null(d);
	assert_int_equal(dl_tel_u64(d, "x", 1), 0);
	a = dl_tel_array(d, "a", DL_TEL_STR);
	assert_non_null(a);
	assert_int_equal(dl_tel_push_str(a, "p"), 0);
	assert_int_equal(dl_tel_push_str(a, "q"), 0);
	s = dl_tel_array(t, "n", DL_TEL_INT);
	assert_int_equal(dl_tel_push_int(s, -1), 0);
	assert_int_equal(dl_tel_push_int(s, 7), 0);
	assert_string_equal(render(t), "{\"u\":18446744073709551615,\"i\":-42,"
				       "\"s\":\"a\\\"b\\\\c\\u000a\",\"d\":{\"x\":1,"
				       "\"a\":[\"p\",\"q\"]},\"n\":[-1,7]}");
	/* The budget's count is the rendering's exact length. */
	assert_int_equal(dl_tel_json_size(t), strlen(json));
	dl_tel_free(t);
}

static void test_names(void **state)
{
	struct dl_tel *t = dl_tel_new(0);
	char longname[DL_TEL_NAME_MAX + 1];

	(void)state;
	assert_true(dl_tel_name_ok("rx_packets"));
	assert_true(dl_tel_name_ok("/dlibos/info"));
	assert_true(dl_tel_name_ok("0_1"));
	/* What DPDK 22.11 drops silently is refused here, loudly. */
	assert_false(dl_tel_name_ok("a.b"));
	assert_false(dl_tel_name_ok("a-b"));
	assert_false(dl_tel_name_ok("a b"));
	assert_false(dl_tel_name_ok("10.0.0.1:80"));
	assert_false(dl_tel_name_ok(""));
	assert_false(dl_tel_name_ok(NULL));
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_false(dl_tel_name_ok(longname));
	longname[DL_TEL_NAME_MAX - 1] = '\0';
	assert_true(dl_tel_name_ok(longname));
	assert_int_equal(dl_tel_u64(t, "a.b", 1), -EINVAL);
	assert_null(dl_tel_dict(t, "a-b"));
	assert_string_equal(render(t), "{}");
	dl_tel_free(t);
}

static void test_kinds_and_depth(void **state)
{
	struct dl_tel *t = dl_tel_new(0), *a, *d = t;

	(void)state;
	a = dl_tel_array(t, "a", DL_TEL_U64);
	/* An array takes its own type only, and no names or containers. */
	assert_int_equal(dl_tel_push_int(a, 1), -EINVAL);
	assert_int_equal(dl_tel_push_str(a, "x"), -EINVAL);
	assert_int_equal(dl_tel_u64(a, "x", 1), -EINVAL);
	assert_null(dl_tel_dict(a, "x"));
	assert_null(dl_tel_array(t, "bad", DL_TEL_DICT));
	/* Pushing to a dict is refused. */
	assert_int_equal(dl_tel_push_u64(t, 1), -EINVAL);
	/* NULL parents propagate. */
	assert_null(dl_tel_dict(NULL, "x"));
	assert_int_equal(dl_tel_u64(NULL, "x", 1), -EINVAL);
	/* DL_TEL_MAX_DEPTH containers below the root, not one more. */
	for (int i = 0; i < DL_TEL_MAX_DEPTH; i++) {
		d = dl_tel_dict(d, "d");
		assert_non_null(d);
	}
	assert_null(dl_tel_dict(d, "d"));
	assert_null(dl_tel_array(d, "a", DL_TEL_U64));
	assert_int_equal(dl_tel_u64(d, "leaf", 5), 0);
	assert_string_equal(render(t), "{\"a\":[],\"d\":{\"d\":{\"d\":{\"d\":{\"leaf\":5}}}}}");
	dl_tel_free(t);
}

static void test_entry_limits(void **state)
{
	struct dl_tel *t = dl_tel_new(1 << 20), *a;
	char name[16];

	(void)state;
	for (unsigned i = 0; i < DL_TEL_DICT_MAX - 1; i++) {
		snprintf(name, sizeof(name), "k%u", i);
		assert_int_equal(dl_tel_u64(t, name, i), 0);
	}
	a = dl_tel_array(t, "last", DL_TEL_U64); /* the 256th entry */
	assert_non_null(a);
	assert_int_equal(dl_tel_u64(t, "one_more", 1), -E2BIG);
	for (unsigned i = 0; i < DL_TEL_ARRAY_MAX; i++)
		assert_int_equal(dl_tel_push_u64(a, i), 0);
	assert_int_equal(dl_tel_push_u64(a, 0), -E2BIG);
	dl_tel_free(t);
}

static void test_strings_cut(void **state)
{
	struct dl_tel *t = dl_tel_new(0);
	char big[400];

	(void)state;
	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(dl_tel_str(t, "s", big), 0);
	assert_int_equal(dl_tel_strf(t, "f", "%d-%s", 12, "ab"), 0);
	render(t);
	/* {"s":"<127 y>","f":"12-ab"} */
	assert_int_equal(strlen(json), 2 + 4 + 2 + (DL_TEL_STR_MAX - 1) + 1 + 4 + 7);
	assert_non_null(strstr(json, "\"f\":\"12-ab\""));
	dl_tel_free(t);
}

static void test_budget(void **state)
{
	struct dl_tel *t = dl_tel_new(100);
	unsigned n = 0;
	int rc;
	char name[16];

	(void)state;
	/* Entries go in while they fit, then -ENOSPC; the rendering fits. */
	do {
		snprintf(name, sizeof(name), "e%u", n);
		rc = dl_tel_u64(t, name, 1000000);
		n += rc == 0;
	} while (rc == 0);
	assert_int_equal(rc, -ENOSPC);
	assert_true(n >= 5);
	assert_true(dl_tel_json_size(t) <= 100);
	assert_int_equal(dl_tel_json_size(t) + dl_tel_json_room(t), 100);
	assert_int_equal(strlen(render(t)), dl_tel_json_size(t));
	/* A container that does not fit is refused whole. */
	while (dl_tel_json_room(t) > 0 && dl_tel_u64(t, "z", 1) == 0)
		;
	assert_null(dl_tel_dict(t, "late"));
	/* Too small a buffer: -ENOSPC, never a cut JSON. */
	assert_int_equal(dl_tel_json(t, json, 10), -ENOSPC);
	assert_string_equal(json, "");
	dl_tel_free(t);
}

/* ---- registry ---- */

static int calls;

static int cmd_echo(void *arg, const char *params, struct dl_tel *out)
{
	calls++;
	dl_tel_str(out, "params", params);
	dl_tel_u64(out, "arg", (uint64_t)(uintptr_t)arg);
	return 0;
}

static int cmd_other(void *arg, const char *params, struct dl_tel *out)
{
	(void)arg;
	(void)params;
	dl_tel_u64(out, "other", 1);
	return -EIO;
}

static char seen[8][DL_TEL_NAME_MAX];
static unsigned nseen;

static void backend_add(const char *cmd, const char *help)
{
	assert_non_null(help);
	snprintf(seen[nseen++ % 8], DL_TEL_NAME_MAX, "%s", cmd);
}

static void test_registry(void **state)
{
	struct dl_tel *t;

	(void)state;
	assert_int_equal(dl_tel_register("no_slash", "h", cmd_echo, NULL), -EINVAL);
	assert_int_equal(dl_tel_register("/bad name", "h", cmd_echo, NULL), -EINVAL);
	assert_int_equal(dl_tel_register("/t/echo", "h", NULL, NULL), -EINVAL);
	assert_int_equal(dl_tel_register("/t/echo", "echo", cmd_echo, (void *)7), 0);

	t = dl_tel_new(0);
	assert_int_equal(dl_tel_call("/t/echo", "a,b c", t), 0);
	assert_string_equal(render(t), "{\"params\":\"a,b c\",\"arg\":7}");
	dl_tel_free(t);

	/* A callback's error comes back. */
	assert_int_equal(dl_tel_register("/t/other", "other", cmd_other, NULL), 0);
	t = dl_tel_new(0);
	assert_int_equal(dl_tel_call("/t/other", NULL, t), -EIO);
	dl_tel_free(t);

	/* The backend hears of existing commands at once, new ones later. */
	nseen = 0;
	dl_tel_set_backend(backend_add);
	assert_int_equal(nseen, 2);
	assert_int_equal(dl_tel_register("/t/late", "late", cmd_echo, NULL), 0);
	assert_int_equal(nseen, 3);
	assert_string_equal(seen[2], "/t/late");
	dl_tel_set_backend(NULL);

	/* Registering again replaces the callback. */
	assert_int_equal(dl_tel_register("/t/echo", "echo", cmd_echo, (void *)9), 0);
	t = dl_tel_new(0);
	calls = 0;
	dl_tel_call("/t/echo", "", t);
	assert_int_equal(calls, 1);
	assert_string_equal(render(t), "{\"params\":\"\",\"arg\":9}");
	dl_tel_free(t);

	/* Unregistered: no call, an error answer. */
	dl_tel_unregister("/t/echo");
	dl_tel_unregister("/t/never");
	t = dl_tel_new(0);
	calls = 0;
	assert_int_equal(dl_tel_call("/t/echo", "", t), -ENOENT);
	assert_int_equal(calls, 0);
	assert_non_null(strstr(render(t), "\"error\""));
	dl_tel_free(t);
	dl_tel_unregister("/t/other");
	dl_tel_unregister("/t/late");

	/* The table holds DL_TEL_MAX_CMDS commands. */
	char name[32];
	unsigned i;
	for (i = 0; i < DL_TEL_MAX_CMDS; i++) {
		snprintf(name, sizeof(name), "/t/c%u", i);
		assert_int_equal(dl_tel_register(name, "", cmd_echo, NULL), 0);
	}
	assert_int_equal(dl_tel_register("/t/full", "", cmd_echo, NULL), -ENOSPC);
	for (i = 0; i < DL_TEL_MAX_CMDS; i++) {
		snprintf(name, sizeof(name), "/t/c%u", i);
		dl_tel_unregister(name);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_scalars_and_nesting),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_kinds_and_depth),
	    cmocka_unit_test(test_entry_limits),
	    cmocka_unit_test(test_strings_cut),
	    cmocka_unit_test(test_budget),
	    cmocka_unit_test(test_registry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
