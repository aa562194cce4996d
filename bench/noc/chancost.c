/*
 * chancost.c - dlibos-chancost: the CPU cost of the channel itself, on one
 * core (no cache-line transfers): nanoseconds per message for a send and a
 * receive of a batch of B messages of N words, for N in {2, 4} and B in
 * {1, 8, 32}. The producer uses dl_chan_send_bulk() (one publication per
 * batch), the consumer dl_chan_recv() (one head publication per batch).
 * Each cell runs 50 chunks of 20 000 batches and reports the fastest chunk
 * (the least disturbed by other load). Needs no DPDK and no hugepages.
 *
 *   dlibos-chancost
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "dl_chan.h"
#include "dl_msg.h"

#define WORDS	4096u
#define CHUNKS	50
#define BATCHES 20000

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* Fastest chunk, in ns per message, or a negative errno. */
static double cell(unsigned nw, unsigned batch)
{
	static uint64_t msgs[32 * 4], buf[512];
	struct dl_chan_prod p;
	struct dl_chan_cons c;
	size_t len = dl_chan_mem_size(WORDS);
	void *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	double best = 1e30;

	if (mem == MAP_FAILED)
		return -ENOMEM;
	if (dl_chan_init(mem, WORDS) || dl_chan_prod_init(&p, mem, WORDS, NULL) ||
	    dl_chan_cons_init(&c, mem, WORDS, NULL)) {
		munmap(mem, len);
		return -EINVAL;
	}
	for (unsigned k = 0; k < batch; k++)
		msgs[k * nw] = dl_msg_hdr(DL_MSG_NEW_DATA, nw, 0, k);
	for (int ch = 0; ch < CHUNKS; ch++) {
		double t0 = now_ns(), d;

		for (uint64_t i = 0; i < BATCHES; i++) {
			msgs[1] = i;
			if (dl_chan_send_bulk(&p, msgs, nw * batch) != (int)batch ||
			    dl_chan_recv(&c, buf, 512, batch, NULL) != (int)batch || buf[1] != i) {
				munmap(mem, len);
				return -EPROTO;
			}
		}
		d = (now_ns() - t0) / BATCHES / batch;
		best = d < best ? d : best;
	}
	munmap(mem, len);
	return best;
}

int main(void)
{
	static const unsigned sizes[] = {2, 4}, batches[] = {1, 8, 32};

	printf("dl_chan send + receive on one core, ns per message (fastest of %d chunks)\n",
	       CHUNKS);
	printf("words batch   ns/msg\n");
	for (unsigned s = 0; s < 2; s++)
		for (unsigned b = 0; b < 3; b++) {
			double ns = cell(sizes[s], batches[b]);

			if (ns < 0) {
				fprintf(stderr, "dlibos-chancost: cell failed: %s\n",
					strerror((int)-ns));
				return 1;
			}
			printf("%-5u %-5u %8.2f\n", sizes[s], batches[b], ns);
		}
	return 0;
}
