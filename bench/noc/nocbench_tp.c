/*
 * nocbench_tp.c - the NoC benchmark without DPDK, with a transport choice:
 * messages per second one way and the round trip, between two threads
 * (two tiles on TILE-Gx), through
 *
 *   noc   the NoC endpoint (dl_noc.h: dl_noc_send, dl_noc_poll,
 *         dl_noc_flush) over the transport this build chose: the UDN with
 *         its credit check on -Dtarget=tilegx (on the MDE model: every UDN
 *         word moves through the model), the SPSC rings on x86;
 *   chan  the ring transport's channel alone (dl_chan.h: one ring each way,
 *         dl_chan_send / dl_chan_recv), in both builds: the x86 NoC's
 *         mechanism, measured on the same machine in the same run.
 *
 * Built as dlibos-nocbench on the TILE-Gx model build (where DPDK, and so
 * the DPDK-based dlibos-nocbench of bench/noc/nocbench.c, does not exist)
 * and as dlibos-nocbench-tp on x86, from this one source, so the endpoint
 * over the UDN and over the rings is the same code measured the same way.
 *
 *     dlibos-nocbench [--transport noc|chan|both] [--duration S]
 *                     [--words N[,N...]] [--tiles A,B]
 *
 * One way: the worker (core 1, tile/CPU B) sends N-word NEW_DATA messages
 * carrying a sequence number as fast as the transport takes them (keeping
 * at most 256 in the endpoint's overflow), the main thread (core 0, A)
 * receives and checks every sequence number and size, for S seconds.
 * Round trip: main sends one message, the worker echoes it, main waits;
 * median and 99th percentile of the round trips (clock_gettime). Every
 * figure is the machine's and the build's: on the model the UDN's are the
 * model's cost, not the hardware's (docs/tilegx.md).
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core_bind.h"
/* By path: on the TILE-Gx build noc/ring is not on the include path (its
 * dl_tp.h would shadow the UDN's); only the channel is used here. */
#include "../../noc/ring/dl_chan.h"
#include "dl_msg.h"
#include "dl_noc.h"
#include "dl_stats.h"

#ifndef NOCBENCH_TRANSPORT
#define NOCBENCH_TRANSPORT "?"
#endif

#define MAX_SAMPLES (1u << 20)
#define CHAN_WORDS  4096u

/* The UDN transport's counters of the noc runs, read before each teardown. */
static uint64_t udn_packets, udn_split, udn_waits;

enum mech { M_NOC, M_CHAN };

struct bench {
	enum mech mech;
	unsigned words;
	int tile[2];
	volatile int stop;  /* main -> worker: end of the phase */
	volatile int ready; /* worker -> main: on its tile, endpoint polled */
	bool echo;	    /* round-trip phase (else one way) */
	struct dl_noc_fabric *fab;
	struct dl_noc_ep *ep[2];
	void *chan_mem[2];
	struct dl_chan_prod prod[2]; /* [0] main -> worker, [1] worker -> main */
	struct dl_chan_cons cons[2];
	uint64_t sent, errors;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A NEW_DATA of n words (2..126) carrying seq as its connection id. */
static void make_msg(uint64_t *w, unsigned n, uint32_t seq)
{
	struct dl_msg_ref refs[DL_MSG_MAX_REFS];

	for (unsigned i = 0; i + 1 < n; i++)
		refs[i] = (struct dl_msg_ref){.off = i, .len = 64, .region = 1};
	dl_msg_enc_new_data(w, 1, seq, refs, n - 1);
}

/* ---- noc ---- */

struct rx {
	struct bench *b;
	uint64_t got, expect;
	bool echo_back; /* the worker: send each message back */
	unsigned to;
};

static void on_msg(void *arg, unsigned src, const struct dl_msg *m)
{
	struct rx *x = arg;
	struct bench *b = x->b;

	(void)src;
	if (m->conn != (uint32_t)x->expect || m->nwords != b->words)
		b->errors++;
	x->expect++;
	x->got++;
	if (x->echo_back) {
		uint64_t w[DL_MSG_MAX_WORDS];

		make_msg(w, b->words, m->conn);
		if (dl_noc_send(b->ep[1], x->to, w, b->words) != 0)
			b->errors++;
	}
}

/* Run one step of an endpoint: poll, flush. Messages taken. */
static unsigned ep_step(struct dl_noc_ep *ep, struct rx *x)
{
	unsigned n = dl_noc_poll(ep, 64, on_msg, x);

	dl_noc_flush(ep);
	return n;
}

/* ---- chan ---- */

static void chan_send_spin(struct dl_chan_prod *p, const uint64_t *w, unsigned n,
			   volatile int *stop)
{
	while (dl_chan_send(p, w, n) == -ENOBUFS && !*stop)
		sched_yield();
}

/* ---- the worker ---- */

static void *worker(void *arg)
{
	struct bench *b = arg;
	uint64_t w[DL_MSG_MAX_WORDS], buf[DL_MSG_MAX_WORDS * 33];
	struct rx x = {b, 0, 0, true, 0};
	uint32_t seq = 0;

	test_core_bind((unsigned)b->tile[1]);
	if (b->mech == M_NOC)
		ep_step(b->ep[1], &x); /* announce the tile (UDN) */
	__atomic_store_n(&b->ready, 1, __ATOMIC_RELEASE);
	while (!b->stop) {
		if (b->mech == M_NOC) {
			if (b->echo) {
				if (ep_step(b->ep[1], &x) == 0)
					sched_yield();
				continue;
			}
			/* One way: keep the transport busy, the overflow bounded
			 * (and the CPU given up while the receiver catches up). */
			int k = 0;

			for (; k < 32 && dl_noc_pending(b->ep[1], 0) < 256; k++) {
				make_msg(w, b->words, seq);
				if (dl_noc_send(b->ep[1], 0, w, b->words) != 0)
					b->errors++;
				seq++;
			}
			dl_noc_flush(b->ep[1]);
			dl_noc_poll(b->ep[1], 64, on_msg, &x);
			if (k == 0)
				sched_yield();
		} else if (b->echo) {
			int got = dl_chan_recv(&b->cons[0], buf, sizeof(buf) / 8, 1, NULL);

			if (got == 1)
				chan_send_spin(&b->prod[1], buf, b->words, &b->stop);
			else
				sched_yield();
		} else {
			make_msg(w, b->words, seq);
			if (dl_chan_send(&b->prod[1], w, b->words) == 0)
				seq++;
			else
				sched_yield();
		}
	}
	b->sent = seq;
	return NULL;
}

/* ---- phases ---- */

static int setup(struct bench *b)
{
	if (b->mech == M_NOC) {
		b->fab = dl_noc_fabric_create(2, 4096, NULL);
		if (b->fab == NULL)
			return -1;
		for (unsigned c = 0; c < 2; c++) {
			const struct dl_noc_conf conf = {.no_stats = false};

			b->ep[c] = dl_noc_ep_create(b->fab, c, &conf);
			if (b->ep[c] == NULL)
				return -1;
		}
		return 0;
	}
	for (unsigned k = 0; k < 2; k++) {
		b->chan_mem[k] = aligned_alloc(4096, dl_chan_mem_size(CHAN_WORDS));
		if (b->chan_mem[k] == NULL || dl_chan_init(b->chan_mem[k], CHAN_WORDS) != 0 ||
		    dl_chan_prod_init(&b->prod[k], b->chan_mem[k], CHAN_WORDS, NULL) != 0 ||
		    dl_chan_cons_init(&b->cons[k], b->chan_mem[k], CHAN_WORDS, NULL) != 0)
			return -1;
	}
	return 0;
}

static void teardown(struct bench *b)
{
	for (unsigned c = 0; c < 2; c++) {
		dl_noc_ep_destroy(b->ep[c]);
		b->ep[c] = NULL;
		free(b->chan_mem[c]);
		b->chan_mem[c] = NULL;
	}
	dl_noc_fabric_destroy(b->fab);
	b->fab = NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct result {
	double msgs_per_s;
	uint64_t rtt_median, rtt_p99, rtt_n;
	uint64_t errors;
};

static int run(enum mech mech, unsigned words, double seconds, const int tile[2],
	       struct result *res)
{
	static uint64_t samples[MAX_SAMPLES];
	struct bench b = {.mech = mech, .words = words, .tile = {tile[0], tile[1]}};
	uint64_t w[DL_MSG_MAX_WORDS], buf[DL_MSG_MAX_WORDS * 33];
	struct rx x = {&b, 0, 0, false, 1};
	pthread_t t;
	uint64_t t0, end;

	memset(res, 0, sizeof(*res));
	if (setup(&b) != 0) {
		fprintf(stderr, "nocbench: cannot set up %s: %s\n",
			mech == M_NOC ? "the endpoints" : "the channels", strerror(errno));
		teardown(&b);
		return -1;
	}
	test_core_bind((unsigned)tile[0]);
	for (int phase = 0; phase < 2; phase++) {
		b.stop = 0;
		b.ready = 0;
		b.echo = phase == 1;
		x.got = x.expect = 0;
		if (pthread_create(&t, NULL, worker, &b) != 0)
			return -1;
		if (mech == M_NOC)
			ep_step(b.ep[0], &x); /* announce */
		while (!__atomic_load_n(&b.ready, __ATOMIC_ACQUIRE))
			sched_yield();
		t0 = now_ns();
		end = t0 + (uint64_t)(seconds * 1e9);
		if (!b.echo) {
			while (now_ns() < end) {
				if (mech == M_NOC) {
					if (ep_step(b.ep[0], &x) == 0)
						sched_yield();
				} else {
					int got = dl_chan_recv(&b.cons[1], buf, sizeof(buf) / 8, 32,
							       NULL);
					unsigned off = 0;

					for (int k = 0; k < got; k++) {
						if (dl_msg_hdr_conn(buf[off]) !=
							(uint32_t)x.expect ||
						    dl_msg_hdr_words(buf[off]) != words)
							b.errors++;
						x.expect++;
						x.got++;
						off += words;
					}
					if (got <= 0)
						sched_yield();
				}
			}
			res->msgs_per_s = (double)x.got / ((double)(now_ns() - t0) / 1e9);
		} else {
			uint32_t seq = 0;
			uint64_t n = 0;

			while (now_ns() < end && n < MAX_SAMPLES) {
				uint64_t s = now_ns();

				make_msg(w, words, seq);
				if (mech == M_NOC) {
					uint64_t before = x.got;

					if (dl_noc_send(b.ep[0], 1, w, words) != 0)
						b.errors++;
					while (x.got == before && !b.stop)
						if (ep_step(b.ep[0], &x) == 0)
							sched_yield();
				} else {
					chan_send_spin(&b.prod[0], w, words, &b.stop);
					while (dl_chan_recv(&b.cons[1], buf, sizeof(buf) / 8, 1,
							    NULL) != 1)
						sched_yield();
					if (dl_msg_hdr_conn(buf[0]) != seq)
						b.errors++;
				}
				samples[n++] = now_ns() - s;
				seq++;
			}
			qsort(samples, n, sizeof(samples[0]), cmp_u64);
			res->rtt_n = n;
			res->rtt_median = n ? samples[n / 2] : 0;
			res->rtt_p99 = n ? samples[n * 99 / 100] : 0;
		}
		b.stop = 1;
		pthread_join(t, NULL);
		res->errors += b.errors;
		/* Whatever is still in flight, before the next phase: the
		 * worker's port flushed from its tile, main's side drained. */
		if (mech == M_NOC) {
			for (unsigned quiet = 0, k = 0; quiet < 100 && k < 10000000; k++) {
				unsigned moved;

				test_core_bind((unsigned)tile[1]);
				moved = ep_step(b.ep[1], &x) + (dl_noc_pending(b.ep[1], -1) != 0);
				test_core_bind((unsigned)tile[0]);
				moved += ep_step(b.ep[0], &x);
				quiet = moved ? 0 : quiet + 1;
			}
			b.errors = 0; /* the drain's sequence numbers are not checked */
			udn_packets += dl_stats_get("udn", "tx_packets");
		} else {
			teardown(&b);
			setup(&b);
		}
	}
	res->errors += b.errors;
	if (mech == M_NOC) {
		udn_split += dl_stats_get("udn", "tx_split_msgs");
		udn_waits += dl_stats_get("udn", "tx_credit_waits");
	}
	teardown(&b);
	return 0;
}

static void usage(const char *prg)
{
	fprintf(stderr,
		"usage: %s [--transport noc|chan|both] [--duration S] [--words N[,N...]] "
		"[--tiles A,B]\n",
		prg);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"transport", required_argument, NULL, 't'},
	    {"duration", required_argument, NULL, 'd'},
	    {"words", required_argument, NULL, 'w'},
	    {"tiles", required_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	bool noc = true, chan = true;
	double seconds = 1.0;
	unsigned words[8] = {2, 8, 126}, nwords = 3;
	int tile[2] = {0, 1}, o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 't':
			noc = strcmp(optarg, "noc") == 0 || strcmp(optarg, "both") == 0;
			chan = strcmp(optarg, "chan") == 0 || strcmp(optarg, "both") == 0;
			if (!noc && !chan) {
				fprintf(stderr, "--transport %s: noc, chan or both\n", optarg);
				return 2;
			}
			break;
		case 'd':
			seconds = strtod(optarg, NULL);
			if (seconds <= 0 || seconds > 600) {
				fprintf(stderr, "--duration %s: 0 < S <= 600\n", optarg);
				return 2;
			}
			break;
		case 'w': {
			char *s = optarg, *end;

			nwords = 0;
			while (*s != '\0' && nwords < 8) {
				unsigned long v = strtoul(s, &end, 10);
				if (end == s || v < 2 || v > DL_MSG_MAX_WORDS) {
					fprintf(stderr, "--words: sizes 2..%d\n", DL_MSG_MAX_WORDS);
					return 2;
				}
				words[nwords++] = (unsigned)v;
				s = *end == ',' ? end + 1 : end;
			}
			break;
		}
		case 'c':
			if (sscanf(optarg, "%d,%d", &tile[0], &tile[1]) != 2 || tile[0] < 0 ||
			    tile[1] < 0 || tile[0] == tile[1]) {
				fprintf(stderr, "--tiles A,B: two different tiles (CPUs)\n");
				return 2;
			}
			break;
		default:
			usage(argv[0]);
			return o == 'h' ? 0 : 2;
		}
	}
	printf("# nocbench: %.1f s per figure, cores on tiles/CPUs %d and %d; noc = the "
	       "endpoint over the %s transport, chan = the ring channel (dl_chan)\n",
	       seconds, tile[0], tile[1], NOCBENCH_TRANSPORT);
	printf("%-10s %6s %14s %14s %12s %12s\n", "transport", "words", "msgs/s", "words/s",
	       "rtt_med_ns", "rtt_p99_ns");
	for (int m = 0; m < 2; m++) {
		if ((m == M_NOC && !noc) || (m == M_CHAN && !chan))
			continue;
		for (unsigned i = 0; i < nwords; i++) {
			struct result r;
			char name[16];

			if (run((enum mech)m, words[i], seconds, tile, &r) != 0)
				return 1;
			snprintf(name, sizeof(name), "%s",
				 m == M_NOC ? "noc/" NOCBENCH_TRANSPORT : "chan");
			printf("%-10s %6u %14.0f %14.0f %12llu %12llu%s\n", name, words[i],
			       r.msgs_per_s, r.msgs_per_s * words[i],
			       (unsigned long long)r.rtt_median, (unsigned long long)r.rtt_p99,
			       r.errors ? "  ERRORS" : "");
			if (r.errors)
				return 1;
		}
	}
	if (noc)
		printf("# transport counters of the noc runs: udn.tx_packets %llu, "
		       "udn.tx_split_msgs %llu, udn.tx_credit_waits %llu (0 on the ring)\n",
		       (unsigned long long)udn_packets, (unsigned long long)udn_split,
		       (unsigned long long)udn_waits);
	return 0;
}
