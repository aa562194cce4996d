/*
 * numa_maps.h - what /proc/self/numa_maps says of the mapping that holds
 * an address: its policy ("bind:0", "default", ...), for the NUMA
 * placement tests.
 */
#ifndef NUMA_MAPS_H
#define NUMA_MAPS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copy into @p out the numa_maps line of the mapping containing @p p;
 * 0, or -1 when none was found. */
static inline int numa_maps_line(const void *p, char *out, size_t len)
{
	uintptr_t a = (uintptr_t)p, start = 0, lo, hi;
	char line[1024];
	FILE *f = fopen("/proc/self/maps", "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && a >= lo && a < hi)
			start = lo;
	fclose(f);
	if (start == 0 || (f = fopen("/proc/self/numa_maps", "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strtoul(line, NULL, 16) == start) {
			snprintf(out, len, "%s", line);
			fclose(f);
			return 0;
		}
	}
	fclose(f);
	return -1;
}

#endif /* NUMA_MAPS_H */
