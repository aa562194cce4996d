/*
 * test_np_proto.c - unit tests of NetPIPE's size sequence and of the
 * receiver's protocol state machine (examples/netpipe/np_proto.c).
 *
 * The size vectors were captured from the real NPtcp 3.7.2 (Debian's
 * netpipe-tcp) on loopback: `NPtcp -P 5113 &` then
 * `NPtcp -h 127.0.0.1 -P 5113 [options] -o out`, first column of `out`.
 * The state machine is fed whole transcripts (np_transcript.h) split at
 * every possible point, byte by byte, and in random pieces with random
 * payload budgets; its replies must equal what the transmitter expects.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "np_proto.h"
#include "np_transcript.h"

/* ---- size sequence vs the real NPtcp ----------------------------------- */

/* NPtcp -h HOST (full default run: 124 data points, up to 8 MB + 3). */
/* clang-format off */
static const uint32_t seq_default[] = {
	1, 2, 3, 4, 6, 8, 12, 13, 16, 19, 21, 24, 27, 29, 32, 35, 45, 48, 51, 61, 64, 67, 93, 96,
	99, 125, 128, 131, 189, 192, 195, 253, 256, 259, 381, 384, 387, 509, 512, 515, 765, 768,
	771, 1021, 1024, 1027, 1533, 1536, 1539, 2045, 2048, 2051, 3069, 3072, 3075, 4093, 4096,
	4099, 6141, 6144, 6147, 8189, 8192, 8195, 12285, 12288, 12291, 16381, 16384, 16387, 24573,
	24576, 24579, 32765, 32768, 32771, 49149, 49152, 49155, 65533, 65536, 65539, 98301, 98304,
	98307, 131069, 131072, 131075, 196605, 196608, 196611, 262141, 262144, 262147, 393213,
	393216, 393219, 524285, 524288, 524291, 786429, 786432, 786435, 1048573, 1048576, 1048579,
	1572861, 1572864, 1572867, 2097149, 2097152, 2097155, 3145725, 3145728, 3145731, 4194301,
	4194304, 4194307, 6291453, 6291456, 6291459, 8388605, 8388608, 8388611,
};
/* clang-format on */

/* NPtcp -h HOST -i (start 5, perturbation 0). */
/* clang-format off */
static const uint32_t seq_integrity[] = {
	5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073,
	4097, 6145, 8193, 12289, 16385, 24577, 32769, 49153, 65537, 98305, 131073, 196609, 262145,
	393217, 524289, 786433, 1048577, 1572865, 2097153, 3145729, 4194305, 6291457, 8388609,
};
/* clang-format on */

/* NPtcp -h HOST -l 3 -p 1 -u 300000. */
/* clang-format off */
static const uint32_t seq_l3_p1[] = {
	3, 4, 5, 7, 8, 9, 10, 12, 13, 14, 16, 17, 18, 24, 25, 26, 32, 33, 34, 48, 49, 50, 64, 65,
	66, 96, 97, 98, 128, 129, 130, 192, 193, 194, 256, 257, 258, 384, 385, 386, 512, 513, 514,
	768, 769, 770, 1024, 1025, 1026, 1536, 1537, 1538, 2048, 2049, 2050, 3072, 3073, 3074,
	4096, 4097, 4098, 6144, 6145, 6146, 8192, 8193, 8194, 12288, 12289, 12290, 16384, 16385,
	16386, 24576, 24577, 24578, 32768, 32769, 32770, 49152, 49153, 49154, 65536, 65537, 65538,
	98304, 98305, 98306, 131072, 131073, 131074, 196608, 196609, 196610, 262144, 262145,
	262146,
};
/* clang-format on */

/* NPtcp -h HOST -p 0 -u 300000. */
/* clang-format off */
static const uint32_t seq_p0[] = {
	1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536,
	2048, 3072, 4096, 6144, 8192, 12288, 16384, 24576, 32768, 49152, 65536, 98304, 131072,
	196608, 262144,
};
/* clang-format on */

/* NPtcp -h HOST -l 100 -p 5 -u 300000. */
/* clang-format off */
static const uint32_t seq_l100_p5[] = {
	95, 100, 105, 145, 150, 155, 195, 200, 205, 295, 300, 305, 395, 400, 405, 595, 600, 605,
	795, 800, 805, 1195, 1200, 1205, 1595, 1600, 1605, 2395, 2400, 2405, 3195, 3200, 3205,
	4795, 4800, 4805, 6395, 6400, 6405, 9595, 9600, 9605, 12795, 12800, 12805, 19195, 19200,
	19205, 25595, 25600, 25605, 38395, 38400, 38405, 51195, 51200, 51205, 76795, 76800, 76805,
	102395, 102400, 102405, 153595, 153600, 153605, 204795, 204800, 204805,
};
/* clang-format on */

static void check_seq(uint32_t start, uint32_t pert, const uint32_t *want, size_t n)
{
	struct np_sizes s;

	np_sizes_init(&s, start, pert);
	for (size_t i = 0; i < n; i++) {
		uint64_t got = np_sizes_next(&s);
		if (got != want[i])
			fail_msg("start %u perturbation %u: size #%zu is %llu, NPtcp sent %u",
				 start, pert, i, (unsigned long long)got, want[i]);
	}
}

static void test_sizes_default(void **state)
{
	(void)state;
	check_seq(1, 3, seq_default, sizeof(seq_default) / sizeof(seq_default[0]));
}

static void test_sizes_integrity(void **state)
{
	(void)state;
	check_seq(5, 0, seq_integrity, sizeof(seq_integrity) / sizeof(seq_integrity[0]));
}

static void test_sizes_other_options(void **state)
{
	(void)state;
	check_seq(3, 1, seq_l3_p1, sizeof(seq_l3_p1) / sizeof(seq_l3_p1[0]));
	check_seq(1, 0, seq_p0, sizeof(seq_p0) / sizeof(seq_p0[0]));
	check_seq(100, 5, seq_l100_p5, sizeof(seq_l100_p5) / sizeof(seq_l100_p5[0]));
}

/* The default sequence grows strictly, without overflow, far beyond NPtcp's
 * range (ints). */
static void test_sizes_long_run(void **state)
{
	struct np_sizes s;
	uint64_t prev = 0;

	(void)state;
	np_sizes_init(&s, 1, 3);
	for (int i = 0; i < 200; i++) {
		uint64_t v = np_sizes_next(&s);
		if (v <= prev)
			fail_msg("size #%d is %llu after %llu", i, (unsigned long long)v,
				 (unsigned long long)prev);
		prev = v;
	}
	assert_true(prev > (uint64_t)NP_MAX_SIZE);
}

/* ---- state machine ------------------------------------------------------- */

struct feed_result {
	struct bytes out;
	uint64_t msg_ends;
	uint64_t first_chunks; /* payload chunks flagged first_of_size */
	uint64_t first_bytes;
	bool quit, error;
};

/* Feed in[0..n) in the given chunk lengths (0-terminated: rest in one). */
static void feed(struct np_sm *sm, const uint8_t *in, size_t n, const size_t *cuts, size_t ncuts,
		 uint32_t budget, struct feed_result *r)
{
	static const char sync[] = NP_SYNC;
	static const char quit[NP_QUIT_LEN] = NP_QUIT;
	size_t pos = 0;

	for (size_t c = 0; c <= ncuts && !r->error; c++) {
		size_t end = c < ncuts ? cuts[c] : n;
		while (pos < end) {
			struct np_step st = np_sm_step(sm, in + pos, (uint32_t)(end - pos), budget);
			if (st.ev == NP_EV_ERROR) {
				r->error = true;
				return;
			}
			if (st.ev == NP_EV_PAYLOAD) {
				bytes_put(&r->out, in + pos, st.used);
				r->msg_ends += st.msg_end;
				if (st.first_of_size) {
					r->first_chunks++;
					r->first_bytes += st.used;
				}
				assert_true(st.used <= budget);
				if (st.msg_len > 0)
					assert_true(st.msg_off + st.used <= st.msg_len);
			} else if (st.ev == NP_EV_SYNC) {
				bytes_put(&r->out, sync, 6);
			} else if (st.ev == NP_EV_QUIT) {
				bytes_put(&r->out, quit, NP_QUIT_LEN);
				r->quit = true;
			}
			assert_true(st.used > 0); /* enough budget, non-empty input */
			pos += st.used;
		}
	}
}

static void assert_same(const struct bytes *got, const struct bytes *want, const char *what)
{
	if (got->n != want->n)
		fail_msg("%s: %zu reply bytes, transmitter expects %zu", what, got->n, want->n);
	for (size_t i = 0; i < got->n; i++)
		if (got->p[i] != want->p[i])
			fail_msg("%s: reply byte %zu is 0x%02x, expected 0x%02x", what, i,
				 got->p[i], want->p[i]);
}

static uint64_t first_bytes_of(const struct np_transcript *t)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < t->npoints; i++)
		n += t->sizes[i];
	return n;
}

static void run_whole(const struct np_script *s, const struct np_transcript *t, const size_t *cuts,
		      size_t ncuts, uint32_t budget, const char *what)
{
	struct np_sm sm;
	struct feed_result r = {0};

	np_sm_init(&sm, s->perturbation, s->trials);
	feed(&sm, t->in.p, t->in.n, cuts, ncuts, budget, &r);
	if (r.error)
		fail_msg("%s: error: %s", what, np_sm_error(&sm));
	assert_same(&r.out, &t->out_copy, what);
	assert_true(r.quit);
	assert_int_equal(sm.phase, NP_DONE);
	assert_int_equal(sm.start, s->start);
	assert_int_equal(sm.points, t->npoints);
	assert_int_equal(r.msg_ends, t->nmsgs);
	assert_int_equal(sm.msgs, t->nmsgs);
	assert_int_equal(r.first_bytes, first_bytes_of(t));
	bytes_free(&r.out);
}

static const struct np_script script_default = {
    .start = 1,
    .perturbation = 3,
    .trials = 3,
    .points = 12,
    .nrepeat = 3,
    .vary = true,
};

static void test_sm_whole_stream(void **state)
{
	struct np_transcript t;

	(void)state;
	np_transcript_build(&script_default, &t);
	run_whole(&script_default, &t, NULL, 0, UINT32_MAX, "one piece");
	np_transcript_free(&t);
}

/* Every single split point, and every pair of adjacent cuts around control
 * tokens, must give the same replies. */
static void test_sm_every_split_point(void **state)
{
	struct np_transcript t;

	(void)state;
	np_transcript_build(&script_default, &t);
	for (size_t cut = 0; cut <= t.in.n; cut++) {
		char what[64];
		snprintf(what, sizeof(what), "split at %zu", cut);
		run_whole(&script_default, &t, &cut, 1, UINT32_MAX, what);
	}
	np_transcript_free(&t);
}

static void test_sm_byte_by_byte(void **state)
{
	struct np_transcript t;

	(void)state;
	np_transcript_build(&script_default, &t);
	size_t *cuts = malloc(t.in.n * sizeof(*cuts));
	assert_non_null(cuts);
	for (size_t i = 0; i < t.in.n; i++)
		cuts[i] = i + 1;
	run_whole(&script_default, &t, cuts, t.in.n, UINT32_MAX, "byte by byte");
	run_whole(&script_default, &t, NULL, 0, 1, "budget 1");
	free(cuts);
	np_transcript_free(&t);
}

/* Random pieces and random payload budgets (seeded: reproducible). */
static void test_sm_random_pieces(void **state)
{
	struct np_script s = script_default;
	struct np_transcript t;
	unsigned seed = 12345;

	(void)state;
	s.points = 40; /* up to a few KB per message */
	s.nrepeat = 2;
	np_transcript_build(&s, &t);
	size_t *cuts = malloc(t.in.n * sizeof(*cuts));
	assert_non_null(cuts);
	for (int round = 0; round < 50; round++) {
		size_t nc = 0, pos = 0;
		while (pos < t.in.n) {
			pos += 1 + (size_t)(rand_r(&seed) % (round % 2 ? 7 : 3000));
			if (pos < t.in.n)
				cuts[nc++] = pos;
		}
		uint32_t budget =
		    round % 3 == 0 ? UINT32_MAX : 1 + (uint32_t)(rand_r(&seed) % 5000);
		char what[64];
		snprintf(what, sizeof(what), "random round %d", round);
		run_whole(&s, &t, cuts, nc, budget, what);
	}
	free(cuts);
	np_transcript_free(&t);
}

/* NPtcp -i: start 5, no perturbation, one trial; integer message contents. */
static void test_sm_integrity_mode(void **state)
{
	struct np_script s = {
	    .start = 5,
	    .perturbation = 0,
	    .trials = 1,
	    .points = 15,
	    .nrepeat = 4,
	    .integrity = true,
	};
	struct np_transcript t;

	(void)state;
	np_transcript_build(&s, &t);
	for (size_t cut = 0; cut <= t.in.n; cut += 7)
		run_whole(&s, &t, &cut, 1, UINT32_MAX, "integrity");
	np_transcript_free(&t);
}

/* NPtcp -l 100: the first size is learned from the latency phase. */
static void test_sm_learns_start(void **state)
{
	struct np_script s = script_default;
	struct np_transcript t;

	(void)state;
	s.start = 100;
	s.perturbation = 5;
	s.points = 9;
	np_transcript_build(&s, &t);
	run_whole(&s, &t, NULL, 0, UINT32_MAX, "start 100");
	assert_int_equal(t.sizes[0], 95);
	np_transcript_free(&t);
}

/* The transmitter may stop right after the latency phase. */
static void test_sm_quit_without_points(void **state)
{
	struct np_script s = script_default;
	struct np_transcript t;

	(void)state;
	s.points = 0;
	np_transcript_build(&s, &t);
	run_whole(&s, &t, NULL, 0, UINT32_MAX, "no data points");
	np_transcript_free(&t);
}

/* Feed everything; return true if the machine failed, with its message. */
static bool fails(struct np_sm *sm, const uint8_t *in, size_t n)
{
	struct feed_result r = {0};

	feed(sm, in, n, NULL, 0, UINT32_MAX, &r);
	bytes_free(&r.out);
	return r.error;
}

/* Server told -p 0, transmitter uses -p 3: caught at the first wrong byte. */
static void test_sm_wrong_perturbation(void **state)
{
	struct np_script s = script_default;
	struct np_transcript t;
	struct np_sm sm;

	(void)state;
	s.vary = false; /* NPtcp's own contents */
	np_transcript_build(&s, &t);
	np_sm_init(&sm, 0, 3);
	assert_true(fails(&sm, t.in.p, t.in.n));
	assert_int_equal(sm.phase, NP_FAILED);
	assert_non_null(strstr(np_sm_error(&sm), "-p/-i"));
	/* sticky: nothing more is consumed */
	struct np_step st = np_sm_step(&sm, t.in.p, 10, UINT32_MAX);
	assert_int_equal(st.ev, NP_EV_ERROR);
	assert_int_equal(st.used, 0);
	np_transcript_free(&t);
}

/* Server told 1 trial (-i), transmitter runs 3. */
static void test_sm_wrong_trials(void **state)
{
	struct np_transcript t;
	struct np_sm sm;
	struct np_script s = script_default;

	(void)state;
	s.vary = false;
	np_transcript_build(&s, &t);
	np_sm_init(&sm, 3, 1);
	assert_true(fails(&sm, t.in.p, t.in.n));
	np_transcript_free(&t);
}

static void test_sm_garbage(void **state)
{
	static const char http[] = "GET / HTTP/1.0\r\n\r\n";
	struct np_sm sm;

	(void)state;
	np_sm_init(&sm, 3, 3);
	assert_true(fails(&sm, (const uint8_t *)http, sizeof(http) - 1));
	assert_non_null(strstr(np_sm_error(&sm), "SyncMe"));
}

/* 150 latency bytes: not 100 messages of one size. */
static void test_sm_bad_latency_phase(void **state)
{
	struct bytes in = {0};
	struct np_sm sm;
	uint8_t fill[150];

	(void)state;
	memset(fill, 'a', sizeof(fill));
	bytes_put(&in, "SyncMe", 6);
	bytes_put(&in, fill, sizeof(fill));
	bytes_put(&in, "SyncMe", 6);
	np_sm_init(&sm, 3, 3);
	assert_true(fails(&sm, in.p, in.n));
	assert_non_null(strstr(np_sm_error(&sm), "150"));
	bytes_free(&in);
}

static void test_sm_zero_repeat(void **state)
{
	struct bytes in = {0};
	struct np_sm sm;
	uint8_t fill[100], zero[4] = {0};

	(void)state;
	memset(fill, 'b', sizeof(fill));
	bytes_put(&in, "SyncMe", 6);
	bytes_put(&in, fill, sizeof(fill));
	bytes_put(&in, "SyncMeSyncMe", 12);
	bytes_put(&in, zero, 4);
	np_sm_init(&sm, 3, 3);
	assert_true(fails(&sm, in.p, in.n));
	assert_non_null(strstr(np_sm_error(&sm), "repeat count 0"));
	bytes_free(&in);
}

static void test_sm_data_after_quit(void **state)
{
	struct np_script s = script_default;
	struct np_transcript t;
	struct np_sm sm;

	(void)state;
	s.points = 2;
	np_transcript_build(&s, &t);
	bytes_put(&t.in, "x", 1);
	np_sm_init(&sm, 3, 3);
	assert_true(fails(&sm, t.in.p, t.in.n));
	assert_non_null(strstr(np_sm_error(&sm), "after QUIT"));
	np_transcript_free(&t);
}

/* With no budget, payload is left alone; control tokens still go through. */
static void test_sm_budget_zero(void **state)
{
	struct np_transcript t;
	struct np_sm sm;

	(void)state;
	np_transcript_build(&script_default, &t);
	np_sm_init(&sm, 3, 3);
	struct np_step st = np_sm_step(&sm, t.in.p, (uint32_t)t.in.n, 0);
	assert_int_equal(st.ev, NP_EV_SYNC); /* hello needs no budget */
	assert_int_equal(st.used, 6);
	assert_true(np_sm_in_payload(&sm));
	st = np_sm_step(&sm, t.in.p + 6, (uint32_t)t.in.n - 6, 0);
	assert_int_equal(st.ev, NP_EV_NONE);
	assert_int_equal(st.used, 0);
	assert_int_equal(sm.phase, NP_LATENCY);
	np_transcript_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sizes_default),
	    cmocka_unit_test(test_sizes_integrity),
	    cmocka_unit_test(test_sizes_other_options),
	    cmocka_unit_test(test_sizes_long_run),
	    cmocka_unit_test(test_sm_whole_stream),
	    cmocka_unit_test(test_sm_every_split_point),
	    cmocka_unit_test(test_sm_byte_by_byte),
	    cmocka_unit_test(test_sm_random_pieces),
	    cmocka_unit_test(test_sm_integrity_mode),
	    cmocka_unit_test(test_sm_learns_start),
	    cmocka_unit_test(test_sm_quit_without_points),
	    cmocka_unit_test(test_sm_wrong_perturbation),
	    cmocka_unit_test(test_sm_wrong_trials),
	    cmocka_unit_test(test_sm_garbage),
	    cmocka_unit_test(test_sm_bad_latency_phase),
	    cmocka_unit_test(test_sm_zero_repeat),
	    cmocka_unit_test(test_sm_data_after_quit),
	    cmocka_unit_test(test_sm_budget_zero),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
