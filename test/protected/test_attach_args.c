/*
 * test_attach_args.c - the command-line rules of protected mode: an
 * attached application (--attach) takes no service-side option and needs
 * no --ip; --app-cores goes with --attach only; dlibosd (cfg.service)
 * refuses --mode, --layout, --dispatch and --attach and accepts
 * --net-cores.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <stdio.h>

#include "dl_config.h"

/* Parse a NULL-terminated list (argv[0] is added); returns the result, err filled. */
static enum dl_parse_result parse(struct dl_config *c, bool service, char *err, size_t len, ...)
{
	char *argv[32] = {"prog"};
	int argc = 1;
	va_list ap;

	dl_config_defaults(c);
	c->service = service;
	va_start(ap, len);
	for (char *a; (a = va_arg(ap, char *)) != NULL && argc < 31;)
		argv[argc++] = a;
	va_end(ap);
	return dl_config_parse(c, argc, argv, NULL, err, len);
}

static void test_attach_needs_no_address(void **state)
{
	struct dl_config c;
	char err[300];

	(void)state;
	assert_int_equal(parse(&c, false, err, sizeof(err), "--attach", "/run/x.sock",
			       "--app-cores", "3", "--idle", "sleep", NULL),
			 DL_PARSE_OK);
	assert_string_equal(c.attach, "/run/x.sock");
	assert_int_equal(c.app_cores, 3);
	assert_int_equal(parse(&c, false, err, sizeof(err), "--attach=/a", NULL), DL_PARSE_OK);
	assert_string_equal(c.attach, "/a");
	assert_int_equal(c.app_cores, 0);
}

static void test_attach_refuses_service_options(void **state)
{
	static const char *const opts[][2] = {
	    {"--ip", "10.0.0.2/24"},  {"--mode", "dlibos"},  {"--net-cores", "1"},
	    {"--impair", "loss=0.1"}, {"--rx-bufs", "1024"}, {"--app-rx-credit", "128"},
	};
	struct dl_config c;
	char err[300];

	(void)state;
	for (unsigned i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		assert_int_equal(parse(&c, false, err, sizeof(err), "--attach", "/s",
				       (char *)opts[i][0], (char *)opts[i][1], NULL),
				 DL_PARSE_ERROR);
		assert_non_null(strstr(err, opts[i][0] + 2));
		assert_non_null(strstr(err, "is the service's option"));
	}
	assert_int_equal(
	    parse(&c, false, err, sizeof(err), "--attach", "/s", "--no-hw-offload", NULL),
	    DL_PARSE_ERROR);
}

static void test_app_cores_needs_attach(void **state)
{
	struct dl_config c;
	char err[300];

	(void)state;
	assert_int_equal(
	    parse(&c, false, err, sizeof(err), "--ip", "10.0.0.2/24", "--app-cores", "2", NULL),
	    DL_PARSE_ERROR);
	assert_non_null(strstr(err, "--app-cores applies to --attach"));
	assert_int_equal(
	    parse(&c, false, err, sizeof(err), "--attach", "/s", "--app-cores", "0", NULL),
	    DL_PARSE_ERROR);
	char big[16];
	snprintf(big, sizeof(big), "%d", DL_MAX_CORES + 1);
	assert_int_equal(
	    parse(&c, false, err, sizeof(err), "--attach", "/s", "--app-cores", big, NULL),
	    DL_PARSE_ERROR);
}

static void test_service_rules(void **state)
{
	struct dl_config c;
	char err[300];

	(void)state;
	assert_int_equal(
	    parse(&c, true, err, sizeof(err), "--ip", "10.0.0.2/24", "--net-cores", "2", NULL),
	    DL_PARSE_OK);
	assert_int_equal(c.net_cores, 2);
	assert_int_equal(
	    parse(&c, true, err, sizeof(err), "--ip", "10.0.0.2/24", "--mode", "rtc", NULL),
	    DL_PARSE_ERROR);
	assert_non_null(strstr(err, "--mode does not apply to dlibosd"));
	assert_int_equal(
	    parse(&c, true, err, sizeof(err), "--ip", "10.0.0.2/24", "--layout", "naive", NULL),
	    DL_PARSE_ERROR);
	assert_int_equal(parse(&c, true, err, sizeof(err), "--attach", "/s", NULL), DL_PARSE_ERROR);
	assert_non_null(strstr(err, "not for the service"));
	assert_int_equal(parse(&c, true, err, sizeof(err), "--net-cores", "1", NULL),
			 DL_PARSE_ERROR); /* --ip still required */
	/* Outside the service, --net-cores still needs --mode dlibos. */
	assert_int_equal(
	    parse(&c, false, err, sizeof(err), "--ip", "10.0.0.2/24", "--net-cores", "1", NULL),
	    DL_PARSE_ERROR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_attach_needs_no_address),
	    cmocka_unit_test(test_attach_refuses_service_options),
	    cmocka_unit_test(test_app_cores_needs_attach),
	    cmocka_unit_test(test_service_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
