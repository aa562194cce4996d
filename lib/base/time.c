/* time.c - the runtime's clock. Protocol code gets `now` as an argument. */
#include "dl_time.h"

#include <time.h>

uint64_t dl_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
