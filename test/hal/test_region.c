/*
 * test_region.c - memory regions: ids, lookups, and NUMA placement checked
 * in /proc/self/numa_maps (the policy the kernel applies to the mapping:
 * "bind:N" for a region created on node N, "default" for one without a
 * node). On a machine without NUMA support the placement tests skip.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "dl_hal.h"
#include "dl_numa.h"
#include "numa_maps.h"

static void test_region_on_a_node(void **state)
{
	struct dl_region *r;
	char line[1024];
	(void)state;

	if (!dl_numa_available())
		skip();
	r = dl_region_create_on("numatest", 1u << 20, DL_REGION_SHARED, 0);
	assert_non_null(r);
	assert_int_equal(r->numa_node, 0);
	memset(r->base, 1, r->len); /* the pages exist now */
	assert_int_equal(numa_maps_line(r->base, line, sizeof(line)), 0);
	assert_non_null(strstr(line, "bind:0"));
	assert_non_null(strstr(line, "N0="));
	dl_region_report();
	dl_region_destroy(r);
}

static void test_region_without_a_node(void **state)
{
	struct dl_region *r = dl_region_create("plain", 1u << 16, 0);
	char line[1024];
	(void)state;

	assert_non_null(r);
	assert_int_equal(r->numa_node, -1);
	memset(r->base, 1, r->len);
	assert_int_equal(numa_maps_line(r->base, line, sizeof(line)), 0);
	assert_null(strstr(line, "bind:"));
	dl_region_destroy(r);
}

static void test_region_bad_node(void **state)
{
	(void)state;
	if (!dl_numa_available())
		skip();
	assert_null(dl_region_create_on("nonode", 4096, 0, dl_numa_nodes() + 7));
	assert_int_equal(errno, EINVAL);
}

/* A part of a region, bound after the fact: its pages move. */
static void test_region_bind_part(void **state)
{
	struct dl_region *r = dl_region_create("part", 4 * 4096, 0);
	char line[1024];
	(void)state;

	if (!dl_numa_available())
		skip();
	assert_non_null(r);
	memset(r->base, 1, r->len);
	assert_int_equal(dl_region_bind(r, 2 * 4096 + 100, 10, 0), 0);
	assert_int_equal(numa_maps_line(r->base + 2 * 4096, line, sizeof(line)), 0);
	assert_non_null(strstr(line, "bind:0"));
	assert_int_equal(numa_maps_line(r->base, line, sizeof(line)), 0);
	assert_null(strstr(line, "bind:"));
	assert_int_equal(dl_region_bind(r, 4 * 4096, 1, 0), -EINVAL); /* past the end */
	dl_region_destroy(r);
}

static void test_numa_zalloc(void **state)
{
	uint8_t *p = dl_numa_zalloc(1000, 0), *q = dl_numa_zalloc(100, -1);
	(void)state;

	assert_non_null(p);
	assert_non_null(q);
	assert_int_equal((uintptr_t)p % 64, 0);
	assert_int_equal((uintptr_t)q % 64, 0);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(p[i], 0);
	memset(p, 0xff, 1000);
	dl_numa_free(p);
	dl_numa_free(q);
	dl_numa_free(NULL);
	assert_null(dl_numa_zalloc(0, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_region_on_a_node),   cmocka_unit_test(test_region_without_a_node),
	    cmocka_unit_test(test_region_bad_node),    cmocka_unit_test(test_region_bind_part),
	    cmocka_unit_test(test_numa_zalloc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
