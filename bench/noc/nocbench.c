/*
 * nocbench.c - dlibos-nocbench: the x86 NoC channel against DPDK rte_ring,
 * cache-line ping-pongs (one line, many lines) and a pipe, between two lcores.
 *
 *     dlibos-nocbench -l 0-1 --no-pci --no-huge -m 512 --file-prefix nb \
 *             [-- [--json] [--duration S] [--repeat N] [--chan-words W]]
 *
 * Everything shared lives in DPDK heap memory (rte_zmalloc /
 * rte_ring_create_elem), so the mechanisms compete on the same kind of
 * memory. The channel under test is the same code the runtime uses
 * (dl_chan.h: cached credits, one tail publication per batch, one head
 * publication per receive batch, messages copied out on receive), sized
 * W words (default 4096 = 32 KiB of slots); rte_ring gets the same number
 * of bytes (2048 16-byte or 1024 32-byte elements, RING_F_SP_ENQ |
 * RING_F_SC_DEQ, the elem API).
 *
 * One-way throughput: the worker lcore produces batches of B messages of
 * N words (sequence number in word 1) for S seconds; the main lcore
 * receives up to B per call and checks every sequence number. The
 * producer side is all-or-nothing per batch for both (dl_chan_send_bulk /
 * rte_ring_sp_enqueue_bulk_elem); the consumer takes up to B
 * (dl_chan_recv / rte_ring_sc_dequeue_burst_elem). Pipe: one write() per
 * batch, read() of whatever is there.
 *
 * Round trip: the main lcore sends one message and waits for the worker to
 * echo it; each round trip is timed with rte_rdtsc(); median, mean of the
 * middle half (25th-75th percentile) and p99 are reported. The mean is
 * there for machines whose TSC advances in steps (a guest's, often: 10 ns
 * on the development VM), where a median can only be read to a step. The
 * cache-line ping-pong writes a sequence number into one
 * 128-byte-aligned line and waits for the echo in another: one line
 * transfer each way, the floor for any shared-memory channel. The
 * "cachelines" ping-pong does the same through as many lines as the
 * channel's ring has (message k in line k mod W/8, each way): the floor
 * for a mechanism that must move through memory, where every line comes
 * back after a lap (and, on some machines, the cost of a transfer depends
 * on the line's address). Ratios are taken per repetition (the mechanisms
 * are interleaved) and their median reported, so that a change of machine
 * state between repetitions does not enter them.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_pause.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "dl_chan.h"
#include "dl_msg.h"

#define MAX_BATCH   32
#define MAX_WORDS   4
#define MAX_SAMPLES (1u << 20)
#define MAX_REPEAT  9
#define WARMUP	    2000 /* round trips discarded before sampling */

enum mech { M_CHAN, M_RING, M_CLINE, M_CLINES, M_PIPE, M_NMECH };

static const char *const mech_name[M_NMECH] = {
    [M_CHAN] = "dl_chan",
    [M_RING] = "rte_ring",
    [M_CLINE] = "cacheline",
    [M_CLINES] = "cachelines",
    [M_PIPE] = "pipe",
};

static struct {
	bool json;
	double duration; /* seconds per measurement */
	unsigned chan_words;
	unsigned repeat; /* interleaved repetitions; medians are reported */
} opt = {false, 0.15, DL_CHAN_DEFAULT_WORDS, 5};

/* Everything both lcores touch for one measurement. */
struct run {
	enum mech mech;
	unsigned words; /* per message */
	unsigned batch;
	/* channels (a -> b is main -> worker in latency runs, worker -> main in throughput) */
	void *chan_mem[2];
	struct rte_ring *ring[2];
	volatile uint64_t *line[2]; /* ping, pong: 128-byte aligned (cachelines: nlines each) */
	unsigned nlines;
	int pipe_fd[2][2];
	/* Each side's private state on its own lines (no false sharing). */
	alignas(128) int stop;
	alignas(128) int ready;
	alignas(128) struct dl_chan_prod prod0; /* producer of channel 0 */
	alignas(128) struct dl_chan_cons cons0; /* consumer of channel 0 */
	alignas(128) struct dl_chan_prod prod1;
	alignas(128) struct dl_chan_cons cons1;
	alignas(128) uint64_t errors;	    /* main lcore only */
	alignas(128) long worker_preempted; /* involuntary context switches of the worker */
};

/*
 * A measurement is "disturbed" when either lcore thread was preempted more
 * than this many times per second: on the 2-vCPU development VM a quiet
 * system preempts a busy-polling thread 20-60 times/s, another busy
 * process on the same CPU ~8000 times/s.
 */
#define DISTURBED_PER_S 300.0

static bool disturbed(long main_preempt, long worker_preempt)
{
	double lim = DISTURBED_PER_S * opt.duration;

	return (double)main_preempt > lim || (double)worker_preempt > lim;
}

/* Involuntary context switches of the calling thread so far. */
static long preemptions(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_THREAD, &ru) == 0 ? ru.ru_nivcsw : 0;
}

struct tput_result {
	double mps;
	bool disturbed; /* an lcore thread was preempted during the measurement */
};

struct lat_result {
	double median_ns, p99_ns;
	double mid_mean_ns; /* mean of the 25th-75th percentile */
	unsigned samples;
	bool disturbed;
};

/* ---- setup ---- */

static int run_open(struct run *r, enum mech m, unsigned words, unsigned batch)
{
	static unsigned seq;
	char name[32];

	memset(r, 0, sizeof(*r));
	r->mech = m;
	r->words = words;
	r->batch = batch;
	for (int i = 0; i < 2; i++) {
		switch (m) {
		case M_CHAN: {
			size_t sz = dl_chan_mem_size(opt.chan_words);

			r->chan_mem[i] = rte_zmalloc("nocbench-chan", sz, (unsigned)getpagesize());
			if (r->chan_mem[i] == NULL ||
			    dl_chan_init(r->chan_mem[i], opt.chan_words) ||
			    dl_chan_prod_init(i ? &r->prod1 : &r->prod0, r->chan_mem[i],
					      opt.chan_words, NULL) ||
			    dl_chan_cons_init(i ? &r->cons1 : &r->cons0, r->chan_mem[i],
					      opt.chan_words, NULL))
				return -ENOMEM;
			break;
		}
		case M_RING:
			snprintf(name, sizeof(name), "nocbench%u", seq++);
			/* Same bytes as the channel: words * 8 / element size. */
			r->ring[i] = rte_ring_create_elem(name, words * 8, opt.chan_words / words,
							  (int)rte_socket_id(),
							  RING_F_SP_ENQ | RING_F_SC_DEQ);
			if (r->ring[i] == NULL)
				return -rte_errno;
			break;
		case M_CLINE:
			r->line[i] = rte_zmalloc("nocbench-line", 128, 128);
			if (r->line[i] == NULL)
				return -ENOMEM;
			break;
		case M_CLINES: /* one line per 8 words of the channel: its footprint */
			r->nlines = opt.chan_words / 8;
			r->line[i] = rte_zmalloc("nocbench-lines", (size_t)r->nlines * 64,
						 (unsigned)getpagesize());
			if (r->line[i] == NULL)
				return -ENOMEM;
			break;
		case M_PIPE:
			if (pipe(r->pipe_fd[i]) != 0)
				return -errno;
			break;
		default:
			return -EINVAL;
		}
	}
	return 0;
}

static void run_close(struct run *r)
{
	for (int i = 0; i < 2; i++) {
		rte_free(r->chan_mem[i]);
		rte_ring_free(r->ring[i]);
		rte_free((void *)(uintptr_t)r->line[i]);
		if (r->mech == M_PIPE) {
			if (r->pipe_fd[i][0] >= 0)
				close(r->pipe_fd[i][0]);
			if (r->pipe_fd[i][1] >= 0)
				close(r->pipe_fd[i][1]);
		}
	}
}

/* A message of n words with sequence number seq (word 1). */
static inline void fill_msg(uint64_t *w, unsigned n, uint64_t seq)
{
	w[0] = dl_msg_hdr(DL_MSG_SEND, n, 0, 0);
	w[1] = seq;
	for (unsigned i = 2; i < n; i++)
		w[i] = seq + i;
}

static bool stop_requested(struct run *r)
{
	return __atomic_load_n(&r->stop, __ATOMIC_RELAXED) != 0;
}

/* ---- one-way throughput: worker produces on channel 0, main consumes ---- */

static int tput_producer_loop(struct run *r);

static int tput_producer(void *arg)
{
	struct run *r = arg;
	long p0 = preemptions();
	int rc = tput_producer_loop(r);

	r->worker_preempted = preemptions() - p0;
	return rc;
}

static int tput_producer_loop(struct run *r)
{
	const unsigned n = r->words, b = r->batch;
	uint64_t buf[MAX_BATCH * MAX_WORDS];
	uint64_t seq = 0;

	for (unsigned i = 0; i < b; i++)
		fill_msg(&buf[i * n], n, 0);
	__atomic_store_n(&r->ready, 1, __ATOMIC_RELEASE);
	while (!stop_requested(r)) {
		for (unsigned i = 0; i < b; i++)
			buf[i * n + 1] = seq + i;
		switch (r->mech) {
		case M_CHAN:
			/* The batch API: b messages, one copy, one publication. */
			if (dl_chan_send_bulk(&r->prod0, buf, b * n) < 0) {
				rte_pause();
				continue;
			}
			break;
		case M_RING:
			if (rte_ring_sp_enqueue_bulk_elem(r->ring[0], buf, n * 8, b, NULL) == 0) {
				rte_pause();
				continue;
			}
			break;
		case M_PIPE: {
			size_t len = (size_t)b * n * 8, off = 0;

			while (off < len) {
				ssize_t k =
				    write(r->pipe_fd[0][1], (uint8_t *)buf + off, len - off);
				if (k <= 0)
					return -1;
				off += (size_t)k;
			}
			break;
		}
		default:
			return -1;
		}
		seq += b;
	}
	if (r->mech == M_PIPE) {
		close(r->pipe_fd[0][1]);
		r->pipe_fd[0][1] = -1;
	}
	return 0;
}

/* Check the sequence numbers of k messages of n words in buf. */
static inline void check_seqs(struct run *r, const uint64_t *buf, unsigned k, unsigned n,
			      uint64_t *expect)
{
	for (unsigned i = 0; i < k; i++)
		if (buf[i * n + 1] != (*expect)++)
			r->errors++;
}

static struct tput_result tput_consume(struct run *r)
{
	const unsigned n = r->words, b = r->batch;
	uint64_t buf[MAX_BATCH * MAX_WORDS + 512];
	uint64_t expect = 0, t0 = 0, end = 0, hz = rte_get_tsc_hz(), now;
	uint64_t pipe_bytes = 0, count = 0;
	struct tput_result res = {0};

	while (__atomic_load_n(&r->ready, __ATOMIC_ACQUIRE) == 0)
		rte_pause();
	for (;;) {
		unsigned k = 0;

		switch (r->mech) {
		case M_CHAN: {
			int got = dl_chan_recv(&r->cons0, buf, MAX_BATCH * MAX_WORDS, b, NULL);
			k = got > 0 ? (unsigned)got : 0;
			check_seqs(r, buf, k, n, &expect);
			break;
		}
		case M_RING:
			k = rte_ring_sc_dequeue_burst_elem(r->ring[0], buf, n * 8, b, NULL);
			check_seqs(r, buf, k, n, &expect);
			break;
		case M_PIPE: {
			/* Read whole messages only: keep a partial tail for later. */
			size_t have = pipe_bytes % (n * 8);
			ssize_t got =
			    read(r->pipe_fd[0][0], (uint8_t *)buf + have, (size_t)b * n * 8);
			if (got <= 0)
				goto out;
			have += (size_t)got;
			k = (unsigned)(have / (n * 8));
			check_seqs(r, buf, k, n, &expect);
			memmove(buf, (uint8_t *)buf + (size_t)k * n * 8, have % (n * 8));
			pipe_bytes += (uint64_t)got;
			break;
		}
		default:
			goto out;
		}
		if (k == 0)
			continue;
		now = rte_rdtsc();
		if (t0 == 0) { /* the first batch only starts the clock */
			t0 = now;
			end = t0 + (uint64_t)(opt.duration * (double)hz);
			continue;
		}
		count += k;
		if (now >= end && !stop_requested(r)) {
			res.mps = (double)count / ((double)(now - t0) / (double)hz);
			__atomic_store_n(&r->stop, 1, __ATOMIC_RELAXED);
			if (r->mech != M_PIPE)
				break;
		}
	}
out:
	/* Pipe: drain until the producer closes its end. */
	while (r->mech == M_PIPE && read(r->pipe_fd[0][0], buf, sizeof(buf)) > 0)
		;
	return res;
}

/* ---- round trip: main sends on channel 0, worker echoes on channel 1 ---- */

/* One message published at once, as the runtime's endpoint sends
 * (dl_noc_send(): credits, then dl_chan_put_now()). */
static inline void chan_send_spin(struct dl_chan_prod *p, const uint64_t *w, unsigned n)
{
	while (dl_chan_reserve(p, n) != 0)
		rte_pause();
	dl_chan_put_now(p, w, n);
}

static int echo_worker_loop(struct run *r);

static int echo_worker(void *arg)
{
	struct run *r = arg;
	long p0 = preemptions();
	int rc = echo_worker_loop(r);

	r->worker_preempted = preemptions() - p0;
	return rc;
}

static int echo_worker_loop(struct run *r)
{
	const unsigned n = r->words;
	uint64_t buf[MAX_WORDS + 128];
	uint64_t v, last = 0;

	__atomic_store_n(&r->ready, 1, __ATOMIC_RELEASE);
	while (!stop_requested(r)) {
		switch (r->mech) {
		case M_CHAN:
			if (dl_chan_recv(&r->cons0, buf, MAX_WORDS + 128, 1, NULL) == 1)
				chan_send_spin(&r->prod1, buf, n);
			break;
		case M_RING:
			if (rte_ring_sc_dequeue_burst_elem(r->ring[0], buf, n * 8, 1, NULL) == 1)
				while (rte_ring_sp_enqueue_bulk_elem(r->ring[1], buf, n * 8, 1,
								     NULL) == 0)
					rte_pause();
			break;
		case M_CLINE:
			v = __atomic_load_n(&r->line[0][0], __ATOMIC_ACQUIRE);
			if (v != last) {
				__atomic_store_n(&r->line[1][0], v, __ATOMIC_RELEASE);
				last = v;
			}
			break;
		case M_CLINES: /* message k in line k mod nlines, each way */
			v = __atomic_load_n(&r->line[0][((last + 1) % r->nlines) * 8],
					    __ATOMIC_ACQUIRE);
			if (v == last + 1) {
				__atomic_store_n(&r->line[1][(v % r->nlines) * 8], v,
						 __ATOMIC_RELEASE);
				last = v;
			}
			break;
		case M_PIPE: {
			size_t len = n * 8, off = 0;

			while (off < len) {
				ssize_t k = read(r->pipe_fd[0][0], (uint8_t *)buf + off, len - off);
				if (k <= 0)
					return 0; /* main closed the pipe */
				off += (size_t)k;
			}
			if (write(r->pipe_fd[1][1], buf, len) != (ssize_t)len)
				return -1;
			break;
		}
		default:
			return -1;
		}
	}
	return 0;
}

/* One round trip of message seq; returns when the echo is back. */
static inline void round_trip(struct run *r, uint64_t *msg, uint64_t *buf, uint64_t seq)
{
	const unsigned n = r->words;

	msg[1] = seq;
	switch (r->mech) {
	case M_CHAN:
		chan_send_spin(&r->prod0, msg, n);
		while (dl_chan_recv(&r->cons1, buf, MAX_WORDS + 128, 1, NULL) != 1)
			rte_pause();
		break;
	case M_RING:
		while (rte_ring_sp_enqueue_bulk_elem(r->ring[0], msg, n * 8, 1, NULL) == 0)
			rte_pause();
		while (rte_ring_sc_dequeue_burst_elem(r->ring[1], buf, n * 8, 1, NULL) != 1)
			rte_pause();
		break;
	case M_CLINE:
		__atomic_store_n(&r->line[0][0], seq, __ATOMIC_RELEASE);
		while (__atomic_load_n(&r->line[1][0], __ATOMIC_ACQUIRE) != seq)
			rte_pause();
		buf[1] = seq;
		break;
	case M_CLINES:
		__atomic_store_n(&r->line[0][(seq % r->nlines) * 8], seq, __ATOMIC_RELEASE);
		while (__atomic_load_n(&r->line[1][(seq % r->nlines) * 8], __ATOMIC_ACQUIRE) != seq)
			rte_pause();
		buf[1] = seq;
		break;
	case M_PIPE: {
		size_t len = n * 8, off = 0;

		if (write(r->pipe_fd[0][1], msg, len) != (ssize_t)len)
			r->errors++;
		while (off < len) {
			ssize_t k = read(r->pipe_fd[1][0], (uint8_t *)buf + off, len - off);
			if (k <= 0) {
				r->errors++;
				return;
			}
			off += (size_t)k;
		}
		break;
	}
	default:
		break;
	}
	if (buf[1] != seq)
		r->errors++;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Mean of the middle half of @p n sorted samples (25th to 75th
 * percentile). The TSC some hypervisors give a guest advances in steps
 * (26 cycles, 10 ns, on the development VM), so round trips of 80-150 ns
 * are read in a few values only and a median is off by up to a step (a
 * steady 95 ns reads 90 or 100 by the phase of the clock): 1.11x and
 * 1.25x could be the same two latencies. A mean over many readings
 * recovers what the step hides, and the middle half keeps the outliers
 * out.
 */
static double mid_mean(const uint64_t *sorted, unsigned n)
{
	unsigned lo = n / 4, hi = n - n / 4;
	double sum = 0;

	if (hi <= lo)
		return n ? (double)sorted[n / 2] : 0;
	for (unsigned i = lo; i < hi; i++)
		sum += (double)sorted[i];
	return sum / (double)(hi - lo);
}

static struct lat_result latency_initiate(struct run *r, uint64_t *samples)
{
	uint64_t msg[MAX_WORDS], buf[MAX_WORDS + 128];
	uint64_t hz = rte_get_tsc_hz(), end, seq = 1;
	struct lat_result res = {0};
	unsigned ns = 0;

	fill_msg(msg, r->words, 0);
	while (__atomic_load_n(&r->ready, __ATOMIC_ACQUIRE) == 0)
		rte_pause();
	for (unsigned i = 0; i < WARMUP; i++)
		round_trip(r, msg, buf, seq++);
	end = rte_rdtsc() + (uint64_t)(opt.duration * (double)hz);
	while (ns < MAX_SAMPLES) {
		uint64_t t0 = rte_rdtsc(), t1;

		round_trip(r, msg, buf, seq++);
		t1 = rte_rdtsc();
		samples[ns++] = t1 - t0;
		if (t1 >= end)
			break;
	}
	__atomic_store_n(&r->stop, 1, __ATOMIC_RELAXED);
	if (r->mech == M_PIPE) { /* wake the echo thread blocked in read() */
		close(r->pipe_fd[0][1]);
		r->pipe_fd[0][1] = -1;
	}
	qsort(samples, ns, sizeof(*samples), cmp_u64);
	res.samples = ns;
	res.median_ns = (double)samples[ns / 2] * 1e9 / (double)hz;
	res.mid_mean_ns = mid_mean(samples, ns) * 1e9 / (double)hz;
	res.p99_ns = (double)samples[(size_t)ns * 99 / 100] * 1e9 / (double)hz;
	return res;
}

/* ---- driver ---- */

static const unsigned sizes[] = {2, 4};
static const unsigned batches[] = {1, 8, 32};
#define NSIZES	 2
#define NBATCHES 3

/* Per repetition; the reports use the median over repetitions. */
static struct tput_result tput[M_NMECH][NSIZES][NBATCHES][MAX_REPEAT];
static struct lat_result lat[M_NMECH][NSIZES][MAX_REPEAT];
static uint64_t total_errors;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median, min and max of n values. */
struct spread {
	double med, min, max;
};

static struct spread spread_of(const double *v, unsigned n)
{
	double s[MAX_REPEAT];
	struct spread r;

	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_double);
	r.med = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	r.min = s[0];
	r.max = s[n - 1];
	return r;
}

/* Values of the undisturbed repetitions, or of all if every one was disturbed. */
static unsigned pick(const double *v, const bool *dist, double *out, bool *all_disturbed)
{
	unsigned n = 0;

	for (unsigned k = 0; k < opt.repeat; k++)
		if (!dist[k])
			out[n++] = v[k];
	*all_disturbed = n == 0;
	if (n == 0)
		for (unsigned k = 0; k < opt.repeat; k++)
			out[n++] = v[k];
	return n;
}

static struct spread tput_spread(enum mech m, unsigned si, unsigned bi, unsigned *clean)
{
	double v[MAX_REPEAT], sel[MAX_REPEAT];
	bool d[MAX_REPEAT], all;
	unsigned n;

	for (unsigned k = 0; k < opt.repeat; k++) {
		v[k] = tput[m][si][bi][k].mps;
		d[k] = tput[m][si][bi][k].disturbed;
	}
	n = pick(v, d, sel, &all);
	if (clean != NULL)
		*clean = all ? 0 : n;
	return spread_of(sel, n);
}

enum lat_stat { L_MEDIAN, L_P99, L_MIDMEAN };

static struct spread lat_spread(enum mech m, unsigned si, enum lat_stat st, unsigned *clean)
{
	double v[MAX_REPEAT], sel[MAX_REPEAT];
	bool d[MAX_REPEAT], all;
	unsigned n;

	for (unsigned k = 0; k < opt.repeat; k++) {
		const struct lat_result *l = &lat[m][si][k];

		v[k] = st == L_P99 ? l->p99_ns : st == L_MIDMEAN ? l->mid_mean_ns : l->median_ns;
		d[k] = lat[m][si][k].disturbed;
	}
	n = pick(v, d, sel, &all);
	if (clean != NULL)
		*clean = all ? 0 : n;
	return spread_of(sel, n);
}

static double ratio(double a, double b)
{
	return b > 0 ? a / b : 0;
}

/* Throughput ratio dl_chan / rte_ring, paired by repetition like lat_ratio(). */
static struct spread tput_ratio(unsigned si, unsigned bi)
{
	double v[MAX_REPEAT], sel[MAX_REPEAT];
	bool d[MAX_REPEAT], all;
	unsigned n;

	for (unsigned k = 0; k < opt.repeat; k++) {
		v[k] = ratio(tput[M_CHAN][si][bi][k].mps, tput[M_RING][si][bi][k].mps);
		d[k] = tput[M_CHAN][si][bi][k].disturbed || tput[M_RING][si][bi][k].disturbed;
	}
	n = pick(v, d, sel, &all);
	return spread_of(sel, n);
}

/*
 * Round-trip ratio of @p m to @p ref: per repetition (the two measured
 * within a second of each other, mechanisms interleaved), of the middle-half
 * means, then the median over the repetitions in which neither was
 * disturbed (all of them when none is clean). Pairing by repetition keeps
 * a change of machine state between repetitions (a guest's vCPUs moved
 * to other cores) out of the ratio.
 */
static struct spread lat_ratio(enum mech m, enum mech ref, unsigned si)
{
	double v[MAX_REPEAT], sel[MAX_REPEAT];
	bool d[MAX_REPEAT], all;
	unsigned n;

	for (unsigned k = 0; k < opt.repeat; k++) {
		v[k] = ratio(lat[m][si][k].mid_mean_ns, lat[ref][si][k].mid_mean_ns);
		d[k] = lat[m][si][k].disturbed || lat[ref][si][k].disturbed;
	}
	n = pick(v, d, sel, &all);
	return spread_of(sel, n);
}

static unsigned lat_samples(enum mech m, unsigned si)
{
	unsigned n = 0;

	for (unsigned k = 0; k < opt.repeat; k++)
		n += lat[m][si][k].samples;
	return n;
}

static int measure_tput(unsigned worker, enum mech m, unsigned si, unsigned bi, unsigned rep)
{
	struct run r;
	int rc = run_open(&r, m, sizes[si], batches[bi]);

	if (rc < 0) {
		fprintf(stderr, "nocbench: setup %s failed: %s\n", mech_name[m], strerror(-rc));
		run_close(&r);
		return rc;
	}
	long p0 = preemptions();

	rte_eal_remote_launch(tput_producer, &r, worker);
	tput[m][si][bi][rep] = tput_consume(&r);
	rte_eal_wait_lcore(worker);
	tput[m][si][bi][rep].disturbed =
	    m != M_PIPE && disturbed(preemptions() - p0, r.worker_preempted);
	if (getenv("NOCBENCH_DEBUG"))
		fprintf(stderr, "tput %s %u %u: main %ld worker %ld\n", mech_name[m], sizes[si],
			batches[bi], preemptions() - p0, r.worker_preempted);
	total_errors += r.errors;
	run_close(&r);
	return 0;
}

static int measure_latency(unsigned worker, enum mech m, unsigned si, unsigned rep,
			   uint64_t *samples)
{
	struct run r;
	int rc = run_open(&r, m, sizes[si], 1);

	if (rc < 0) {
		fprintf(stderr, "nocbench: setup %s failed: %s\n", mech_name[m], strerror(-rc));
		run_close(&r);
		return rc;
	}
	long p0 = preemptions();

	rte_eal_remote_launch(echo_worker, &r, worker);
	lat[m][si][rep] = latency_initiate(&r, samples);
	rte_eal_wait_lcore(worker);
	/* The pipe path blocks by design: only the shared-memory ones can be "disturbed". */
	lat[m][si][rep].disturbed =
	    m != M_PIPE && disturbed(preemptions() - p0, r.worker_preempted);
	if (getenv("NOCBENCH_DEBUG"))
		fprintf(stderr, "lat %s %u: main %ld worker %ld\n", mech_name[m], sizes[si],
			preemptions() - p0, r.worker_preempted);
	total_errors += r.errors;
	run_close(&r);
	return 0;
}

static void print_table(unsigned main_lcore, unsigned worker)
{
	printf("dlibos-nocbench: producer lcore %u, consumer lcore %u, channel %u words (%u KiB), "
	       "tsc %.3f GHz\n"
	       "%u repetitions x %.2f s per cell, mechanisms interleaved; figures are medians "
	       "[min-max] over the\nclean repetitions: neither lcore thread preempted more than "
	       "%.0f times/s (clean/total shown;\n'!' = none clean, all used)\n\n",
	       worker, main_lcore, opt.chan_words, opt.chan_words * 8 / 1024,
	       (double)rte_get_tsc_hz() / 1e9, opt.repeat, opt.duration, DISTURBED_PER_S);
	printf("one-way throughput, million messages/s (ratio = dl_chan / rte_ring per "
	       "repetition: median [min-max])\n");
	printf("%-5s %-5s %-26s %-26s %-8s %s\n", "words", "batch", "dl_chan", "rte_ring", "pipe",
	       "ratio");
	for (unsigned s = 0; s < NSIZES; s++) {
		for (unsigned b = 0; b < NBATCHES; b++) {
			unsigned cc, rc;
			struct spread c = tput_spread(M_CHAN, s, b, &cc);
			struct spread r = tput_spread(M_RING, s, b, &rc);
			struct spread p = tput_spread(M_PIPE, s, b, NULL);
			char cs[48], rs[48];

			snprintf(cs, sizeof(cs), "%6.1f [%.1f-%.1f] %u/%u%s", c.med / 1e6,
				 c.min / 1e6, c.max / 1e6, cc, opt.repeat, cc ? "" : "!");
			snprintf(rs, sizeof(rs), "%6.1f [%.1f-%.1f] %u/%u%s", r.med / 1e6,
				 r.min / 1e6, r.max / 1e6, rc, opt.repeat, rc ? "" : "!");
			struct spread q = tput_ratio(s, b);

			printf("%-5u %-5u %-26s %-26s %-8.2f %.2fx [%.2f-%.2f]\n", sizes[s],
			       batches[b], cs, rs, p.med / 1e6, q.med, q.min, q.max);
		}
	}
	printf("\nround trip, ns: median [min-max of the repetitions' medians], mean of the "
	       "25th-75th percentile\n(sub-step resolution where the TSC advances in steps), "
	       "p99: each the median over repetitions.\nRatios: of the means, per repetition "
	       "(mechanisms interleaved), median [min-max] over repetitions\n");
	printf("%-5s %-10s %-24s %7s %7s %9s %-20s %s\n", "words", "mechanism", "median", "mean",
	       "p99", "samples", "vs cacheline", "vs rte_ring");
	for (unsigned s = 0; s < NSIZES; s++) {
		for (unsigned m = 0; m < M_NMECH; m++) {
			unsigned cl;
			struct spread md = lat_spread(m, s, L_MEDIAN, &cl),
				      mm = lat_spread(m, s, L_MIDMEAN, NULL),
				      p = lat_spread(m, s, L_P99, NULL),
				      rc = lat_ratio(m, M_CLINE, s), rr = lat_ratio(m, M_RING, s);
			char ms[48], rcs[32], rrs[32];

			if (m == M_PIPE)
				snprintf(ms, sizeof(ms), "%.0f [%.0f-%.0f]", md.med, md.min,
					 md.max);
			else
				snprintf(ms, sizeof(ms), "%.0f [%.0f-%.0f] %u/%u%s", md.med, md.min,
					 md.max, cl, opt.repeat, cl ? "" : "!");
			snprintf(rcs, sizeof(rcs), "%.2fx [%.2f-%.2f]", rc.med, rc.min, rc.max);
			snprintf(rrs, sizeof(rrs), "%.2fx [%.2f-%.2f]", rr.med, rr.min, rr.max);
			printf("%-5u %-10s %-24s %7.1f %7.0f %9u %-20s %s\n", sizes[s], mech_name[m],
			       ms, mm.med, p.med, lat_samples(m, s), rcs, rrs);
		}
	}
	printf("\nsequence errors: %" PRIu64 "\n", total_errors);
}

static void print_json(unsigned main_lcore, unsigned worker)
{
	printf("{\n  \"config\": {\"producer_lcore\": %u, \"consumer_lcore\": %u, "
	       "\"duration_s\": %.3f, \"repeat\": %u, \"chan_words\": %u, "
	       "\"tsc_hz\": %" PRIu64 "},\n",
	       worker, main_lcore, opt.duration, opt.repeat, opt.chan_words, rte_get_tsc_hz());
	printf("  \"throughput\": [\n");
	for (unsigned s = 0; s < NSIZES; s++) {
		for (unsigned b = 0; b < NBATCHES; b++) {
			unsigned cc, rc;
			struct spread c = tput_spread(M_CHAN, s, b, &cc);
			struct spread r = tput_spread(M_RING, s, b, &rc);
			struct spread p = tput_spread(M_PIPE, s, b, NULL);

			printf(
			    "    {\"words\": %u, \"batch\": %u, "
			    "\"dl_chan_mps\": %.0f, \"dl_chan_min\": %.0f, \"dl_chan_max\": %.0f, "
			    "\"dl_chan_clean\": %u, \"rte_ring_mps\": %.0f, "
			    "\"rte_ring_min\": %.0f, \"rte_ring_max\": %.0f, "
			    "\"rte_ring_clean\": %u, \"pipe_mps\": %.0f, "
			    "\"ratio_vs_rte_ring\": %.3f}%s\n",
			    sizes[s], batches[b], c.med, c.min, c.max, cc, r.med, r.min, r.max, rc,
			    p.med, tput_ratio(s, b).med,
			    s == NSIZES - 1 && b == NBATCHES - 1 ? "" : ",");
		}
	}
	printf("  ],\n  \"round_trip\": [\n");
	for (unsigned s = 0; s < NSIZES; s++) {
		for (unsigned m = 0; m < M_NMECH; m++) {
			unsigned cl;
			struct spread md = lat_spread(m, s, L_MEDIAN, &cl),
				      mm = lat_spread(m, s, L_MIDMEAN, NULL),
				      p = lat_spread(m, s, L_P99, NULL);
			struct spread rc = lat_ratio(m, M_CLINE, s), rr = lat_ratio(m, M_RING, s);

			printf("    {\"words\": %u, \"mechanism\": \"%s\", \"median_ns\": %.1f, "
			       "\"median_min_ns\": %.1f, \"median_max_ns\": %.1f, "
			       "\"mid_mean_ns\": %.1f, "
			       "\"p99_ns\": %.1f, \"samples\": %u, \"clean\": %u, "
			       "\"ratio_vs_cacheline\": %.3f, \"ratio_vs_cacheline_min\": %.3f, "
			       "\"ratio_vs_cacheline_max\": %.3f, \"ratio_vs_rte_ring\": %.3f}%s\n",
			       sizes[s], mech_name[m], md.med, md.min, md.max, mm.med, p.med,
			       lat_samples(m, s), cl, rc.med, rc.min, rc.max, rr.med,
			       s == NSIZES - 1 && m == M_NMECH - 1 ? "" : ",");
		}
	}
	printf("  ],\n  \"sequence_errors\": %" PRIu64 "\n}\n", total_errors);
}

static void usage(const char *prg)
{
	fprintf(stderr,
		"usage: %s [EAL args, e.g. -l 0-1 --no-pci --no-huge -m 512 --file-prefix nb] -- "
		"[--json] [--duration S] [--repeat N] [--chan-words W]\n",
		prg);
}

static int parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"duration", required_argument, NULL, 'd'},
	    {"chan-words", required_argument, NULL, 'w'},
	    {"repeat", required_argument, NULL, 'r'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			opt.json = true;
			break;
		case 'd':
			opt.duration = strtod(optarg, NULL);
			if (opt.duration <= 0 || opt.duration > 60)
				return -1;
			break;
		case 'w':
			opt.chan_words = (unsigned)strtoul(optarg, NULL, 0);
			/* rte_ring needs at least 2 elements of 4 words. */
			if (dl_chan_mem_size(opt.chan_words) == 0 || opt.chan_words < 16)
				return -1;
			break;
		case 'r':
			opt.repeat = (unsigned)strtoul(optarg, NULL, 0);
			if (opt.repeat < 1 || opt.repeat > MAX_REPEAT)
				return -1;
			break;
		default:
			return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	unsigned main_lcore, worker;
	uint64_t *samples;
	int rc = rte_eal_init(argc, argv);

	if (rc < 0) {
		fprintf(stderr, "nocbench: EAL init failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	argc -= rc;
	argv += rc;
	if (parse_args(argc, argv) < 0) {
		usage(argv[0]);
		rte_eal_cleanup();
		return 2;
	}
	if (rte_lcore_count() < 2) {
		fprintf(stderr, "nocbench: needs two lcores (e.g. -l 0-1)\n");
		rte_eal_cleanup();
		return 2;
	}
	main_lcore = rte_get_main_lcore();
	worker = rte_get_next_lcore(-1, 1, 0);
	samples = malloc(MAX_SAMPLES * sizeof(*samples));
	if (samples == NULL)
		return 1;
	/* Per cell, the mechanisms take turns in short slices, so a burst of
	 * outside load hits both sides of a ratio alike. */
	for (unsigned s = 0; s < NSIZES; s++)
		for (unsigned b = 0; b < NBATCHES; b++)
			for (unsigned rep = 0; rep < opt.repeat; rep++)
				for (enum mech m = M_CHAN; m < M_NMECH; m++)
					if (m != M_CLINE && m != M_CLINES &&
					    measure_tput(worker, m, s, b, rep) < 0)
						return 1;
	for (unsigned s = 0; s < NSIZES; s++)
		for (unsigned rep = 0; rep < opt.repeat; rep++)
			for (enum mech m = M_CHAN; m < M_NMECH; m++)
				if (measure_latency(worker, m, s, rep, samples) < 0)
					return 1;
	if (opt.json)
		print_json(main_lcore, worker);
	else
		print_table(main_lcore, worker);
	free(samples);
	rte_eal_cleanup();
	return total_errors == 0 ? 0 : 3;
}
