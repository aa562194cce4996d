/*
 * test_tilegx_platform.c - the TILE-Gx platform (drivers/tilegx/platform.c)
 * on the MDE model: the EAL-style arguments the x86 build takes, for what
 * exists on TILE-Gx, and clear errors for the rest; tiles as cores with
 * their mesh coordinates and quadrant; launch and wait; tmc_alloc memory
 * within -m.
 */
#include "dl_log.h"
#include "dl_platform.h"

#include <tmc/cpus.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static int init(const char *a0, ...)
{
	char *argv[16];
	int argc = 0;
	va_list ap;

	argv[argc++] = (char *)"prog";
	va_start(ap, a0);
	for (const char *a = a0; a != NULL; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	return dl_platform_init(argc, argv);
}

static void test_cores_links_and_topology(void **state)
{
	struct dl_core_info ci;

	(void)state;
	assert_int_equal(init("-l", "4-5,20,35", "-a", "tap:dl9", "--file-prefix=x", "--log-level",
			      "lib.eal:8", "-m", "64", NULL),
			 0);
	assert_int_equal(dl_platform_core_count(), 4);
	assert_int_equal(dl_platform_port_count(), 1);
	assert_int_equal(dl_log_level, DL_LOG_DEBUG);
	dl_log_level = DL_LOG_INFO;
	assert_int_equal(tmc_cpus_get_my_cpu(), 4); /* the main thread is core 0's tile */
	dl_platform_core_info(0, &ci);
	assert_int_equal(ci.cpu, 4);
	assert_int_equal(ci.x, 4);
	assert_int_equal(ci.y, 0);
	assert_int_equal(ci.l3_domain, 1); /* top right quadrant of the 6 x 6 mesh */
	dl_platform_core_info(2, &ci);
	assert_int_equal(ci.x, 2);
	assert_int_equal(ci.y, 3);
	assert_int_equal(ci.l3_domain, 2); /* bottom left */
	dl_platform_core_info(3, &ci);
	assert_int_equal(ci.x, 5);
	assert_int_equal(ci.y, 5);
	assert_int_equal(ci.l3_domain, 3);
	dl_platform_fini();
	assert_int_equal(init("-l0-1", "--lcores", "7", NULL), 0); /* the last list wins */
	assert_int_equal(dl_platform_core_count(), 1);
	dl_platform_fini();
}

static void test_rejects_what_tilegx_has_not(void **state)
{
	(void)state;
	assert_int_equal(init("-l", "0", "--no-pci", NULL), -1);
	assert_int_equal(init("-l", "0", "--vdev=net_tap0,iface=dl0", NULL), -1); /* no DPDK: refused, as --no-pci */
	assert_int_equal(init("--lcores=(0-1)@(0-1)", NULL), -1);
	assert_int_equal(init("-l", "36", NULL), -1); /* no such tile on 6 x 6 */
	assert_int_equal(init("-l", "zero", NULL), -1);
	assert_int_equal(init("-m", "lots", NULL), -1);
	assert_int_equal(init("--log-level", "loud", NULL), -1);
	assert_int_equal(init("--bogus", NULL), -1);
	assert_int_equal(init("-a", NULL), -1);
}

static int worker(void *arg)
{
	int *cpu = arg;

	*cpu = tmc_cpus_get_my_cpu();
	return 42;
}

static void test_launch_memory_and_port(void **state)
{
	int cpu = -1;
	void *p, *q;
	struct dl_nic_params np = {.nb_queues = 1, .numa_node = -1};

	(void)state;
	assert_int_equal(init("-l", "8,9", "-m", "1", NULL), 0);
	assert_int_equal(dl_platform_launch(1, worker, &cpu), 0);
	assert_int_equal(dl_platform_wait(1), 42);
	assert_int_equal(cpu, 9); /* the thread ran bound to its tile */
	assert_int_equal(dl_platform_launch(0, worker, &cpu), -EINVAL);
	p = dl_platform_zmalloc(4000, -1);
	assert_non_null(p);
	assert_int_equal(((uint8_t *)p)[3999], 0);
	q = dl_platform_zmalloc(2u << 20, -1); /* over -m 1 */
	assert_null(q);
	dl_platform_free(p);
	/* No -a: there is no port, and the error says how to name one. */
	assert_int_equal(dl_platform_port_count(), 0);
	assert_null(dl_platform_nic_open(&np));
	dl_platform_fini();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cores_links_and_topology),
	    cmocka_unit_test(test_rejects_what_tilegx_has_not),
	    cmocka_unit_test(test_launch_memory_and_port),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
