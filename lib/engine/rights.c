/*
 * rights.c - port sets and token buckets of struct dl_rights (see
 * dl_rights.h).
 */
#include "dl_rights.h"

#include <string.h>

bool dl_port_set_has(const struct dl_port_set *s, uint16_t port)
{
	if (s->any)
		return true;
	for (unsigned i = 0; i < s->n; i++)
		if (port >= s->r[i].lo && port <= s->r[i].hi)
			return true;
	return false;
}

/* ---- token bucket ------------------------------------------------------- */

#define UNIT 1000000 /* fixed point: unit-microseconds */

void dl_bucket_init(struct dl_bucket *b, uint64_t rate, uint64_t burst, uint64_t min_burst,
		    uint64_t now_us)
{
	uint64_t cap;

	memset(b, 0, sizeof(*b));
	b->rate = rate;
	b->last = now_us;
	if (rate == 0)
		return;
	cap = burst != 0 ? burst : rate / 10;
	if (cap < min_burst)
		cap = min_burst;
	if (cap > (UINT64_C(1) << 40))
		cap = UINT64_C(1) << 40;
	b->burst = (int64_t)cap * UNIT;
	b->tokens = b->burst;
}

bool dl_bucket_ready(struct dl_bucket *b, uint64_t now_us)
{
	if (b->rate == 0)
		return true;
	if (now_us > b->last) {
		uint64_t dt = now_us - b->last;
		uint64_t missing = (uint64_t)(b->burst - b->tokens); /* tokens <= burst */

		b->last = now_us;
		if (dt >= missing / b->rate + 1)
			b->tokens = b->burst;
		else
			b->tokens += (int64_t)(dt * b->rate); /* < missing: no overflow */
	}
	return b->tokens > 0;
}
