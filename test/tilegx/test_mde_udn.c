/*
 * test_mde_udn.c - the UDN model: finite FIFOs and demux queues, a send
 * into a full FIFO blocks the sender (counted as a stall) until the
 * receiver drains, the credit register reports the FIFO's free words,
 * packets arrive whole and never interleaved, the hardwall raises SIGILL
 * for a packet leaving it and for a thread that did not activate, the
 * watchdog aborts a tile stalled too long. The fatal cases run in a child
 * process whose death signal the test checks.
 */
#include <arch/spr_def.h>
#include <tmc/cpus.h>
#include <tmc/udn.h>

#include "mde_model.h"

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static void hardwall(const char *cpus)
{
	cpu_set_t set;

	assert_int_equal(tmc_cpus_from_string(&set, cpus), 0);
	assert_int_equal(tmc_udn_init(&set), 0);
}

static void bind(int cpu)
{
	assert_int_equal(tmc_cpus_set_my_cpu(cpu), 0);
	assert_int_equal(tmc_udn_activate(), 0);
}

static int teardown(void **state)
{
	(void)state;
	tmc_udn_close();
	return 0;
}

/* ---- stall when full, credit register, order ---------------------------- */

struct recv_arg {
	int cpu;
	unsigned n;
	uint64_t *out;
	unsigned delay_ms;
};

static void *receiver(void *p)
{
	struct recv_arg *a = p;

	bind(a->cpu);
	nanosleep(&(struct timespec){a->delay_ms / 1000, (long)(a->delay_ms % 1000) * 1000000L},
		  NULL);
	tmc_udn0_receive_buffer(a->out, a->n);
	return NULL;
}

static void test_send_into_full_fifo_stalls(void **state)
{
	struct mde_model_udn_config cfg = {6, 6, 4, 4, 10000};
	struct mde_model_udn_stats st;
	uint64_t words[64], got[64];
	struct recv_arg ra = {7, 64, got, 300};
	pthread_t t;

	(void)state;
	assert_int_equal(mde_model_udn_configure(&cfg), 0);
	hardwall("0-35");
	bind(0);
	/* An idle FIFO: all 4 words free. */
	assert_int_equal(__insn_mfspr(SPR_UDN_SP_FIFO_CNT), 4);
	for (unsigned i = 0; i < 64; i++)
		words[i] = 0x1000 + i;
	/* Demux queue (4) + FIFO (4) hold 8 words: the ninth stalls until
	 * the receiver, 300 ms late, drains. */
	assert_int_equal(pthread_create(&t, NULL, receiver, &ra), 0);
	for (unsigned i = 0; i < 16; i++)
		tmc_udn_send_buffer(tmc_udn_header_from_cpu(7), UDN0_DEMUX_TAG, words + i * 4, 4);
	pthread_join(t, NULL);
	assert_memory_equal(got, words, sizeof(words));
	mde_model_udn_stats(0, &st);
	assert_true(st.send_stalls >= 1);
	assert_true(st.max_stall_us >= 100000); /* it waited for the receiver */
	assert_int_equal(st.packets_sent, 16);
	assert_int_equal(st.words_sent, 64);
	assert_int_equal(__insn_mfspr(SPR_UDN_SP_FIFO_CNT), 4);
}

static void test_credit_register_counts_free_words(void **state)
{
	struct mde_model_udn_config cfg = {6, 6, 8, 2, 10000};
	struct mde_model_udn_stats st;
	uint64_t w[4] = {1, 2, 3, 4};

	(void)state;
	assert_int_equal(mde_model_udn_configure(&cfg), 0);
	hardwall("0-35");
	bind(3);
	assert_int_equal(__insn_mfspr(SPR_UDN_SP_FIFO_CNT), 8);
	/* Nobody receives on tile 9: its queue takes 2 words, the header is
	 * stripped there; the FIFO keeps 2 of 4 data words: 6 free. */
	tmc_udn_send_buffer(tmc_udn_header_from_cpu(9), UDN1_DEMUX_TAG, w, 4);
	assert_int_equal(__insn_mfspr(SPR_UDN_SP_FIFO_CNT), 6);
	/* A sender that checks the credit sends only what fits: no stall. */
	tmc_udn_send_buffer(tmc_udn_header_from_cpu(9), UDN1_DEMUX_TAG, w, 3); /* 4 words */
	assert_int_equal(__insn_mfspr(SPR_UDN_SP_FIFO_CNT), 2);
	mde_model_udn_stats(3, &st);
	assert_int_equal(st.send_stalls, 0);
	/* The receiver sees its words and the queue count. */
	bind(9);
	assert_int_equal(tmc_udn1_available_count(), 2);
	assert_int_equal(tmc_udn_available_mask(), 1u << 1);
	assert_int_equal(tmc_udn1_receive(), 1);
	assert_int_equal(tmc_udn1_receive(), 2);
	assert_int_equal(tmc_udn1_receive(), 3);
	assert_int_equal(tmc_udn1_receive(), 4);
	assert_int_equal(tmc_udn1_receive(), 1);
	assert_int_equal(tmc_udn1_receive(), 2);
	assert_int_equal(tmc_udn1_receive(), 3);
	assert_int_equal(tmc_udn1_available_count(), 0);
	bind(3);
	assert_int_equal(__insn_mfspr(SPR_UDN_SP_FIFO_CNT), 8);
}

/* ---- whole packets, never interleaved ------------------------------------ */

struct send_arg {
	int cpu, dest;
	unsigned packets, words;
};

static void *sender(void *p)
{
	struct send_arg *a = p;
	uint64_t w[32];

	bind(a->cpu);
	for (unsigned k = 0; k < a->packets; k++) {
		for (unsigned i = 0; i < a->words; i++)
			w[i] = (uint64_t)a->cpu << 48 | (uint64_t)k << 16 | i;
		tmc_udn_send_buffer(tmc_udn_header_from_cpu(a->dest), UDN2_DEMUX_TAG, w, a->words);
	}
	return NULL;
}

static void test_packets_never_interleave(void **state)
{
	struct mde_model_udn_config cfg = {6, 6, 3, 5, 10000};
	enum { SENDERS = 4, PACKETS = 200, WORDS = 12 };
	struct send_arg sa[SENDERS];
	pthread_t t[SENDERS];
	unsigned next[SENDERS] = {0};

	(void)state;
	assert_int_equal(mde_model_udn_configure(&cfg), 0);
	hardwall("0-35");
	bind(14);
	for (int s = 0; s < SENDERS; s++) {
		sa[s] = (struct send_arg){20 + s, 14, PACKETS, WORDS};
		assert_int_equal(pthread_create(&t[s], NULL, sender, &sa[s]), 0);
	}
	for (int k = 0; k < SENDERS * PACKETS; k++) {
		uint64_t w[WORDS];
		tmc_udn2_receive_buffer(w, WORDS);
		unsigned src = (unsigned)(w[0] >> 48) - 20, pk = (unsigned)(w[0] >> 16) & 0xffff;
		assert_true(src < SENDERS);
		/* In order per sender, and the packet's words all its own. */
		assert_int_equal(pk, next[src]);
		next[src]++;
		for (unsigned i = 0; i < WORDS; i++)
			assert_int_equal(w[i], (uint64_t)(src + 20) << 48 | (uint64_t)pk << 16 | i);
	}
	for (int s = 0; s < SENDERS; s++)
		pthread_join(t[s], NULL);
}

/* ---- wormhole: a stuck packet holds its whole route ---------------------- */

static void test_stuck_packet_blocks_its_route(void **state)
{
	struct mde_model_udn_config cfg = {6, 6, 8, 2, 10000};
	uint64_t w[6] = {1, 2, 3, 4, 5, 6}, got[6];

	(void)state;
	assert_int_equal(mde_model_udn_configure(&cfg), 0);
	hardwall("0-35");
	/* Tile 0 -> tile 2 along links 0->1->2: tile 2's queue takes 2 of 6
	 * words, the rest waits in tile 0's FIFO, the route stays claimed. */
	bind(0);
	tmc_udn_send_buffer(tmc_udn_header_from_cpu(2), UDN0_DEMUX_TAG, w, 6);
	assert_int_equal(__insn_mfspr(SPR_UDN_SP_FIFO_CNT), 8 - 4);
	/* Tile 1 -> tile 3 needs link 1->2: blocked behind it. */
	bind(1);
	tmc_udn_send_1(tmc_udn_header_from_cpu(3), UDN0_DEMUX_TAG, 77);
	assert_int_equal(__insn_mfspr(SPR_UDN_SP_FIFO_CNT), 8 - 2);
	/* Tile 7 -> tile 8 (the next row) shares no link: delivered. */
	bind(7);
	tmc_udn_send_1(tmc_udn_header_from_cpu(8), UDN0_DEMUX_TAG, 88);
	bind(8);
	assert_int_equal(tmc_udn0_available_count(), 1);
	assert_int_equal(tmc_udn0_receive(), 88);
	bind(3);
	assert_int_equal(tmc_udn0_available_count(), 0);
	/* Tile 2 drains: the route is released, tile 1's packet goes through. */
	bind(2);
	tmc_udn0_receive_buffer(got, 6);
	assert_memory_equal(got, w, sizeof(w));
	bind(3);
	assert_int_equal(tmc_udn0_available_count(), 1);
	assert_int_equal(tmc_udn0_receive(), 77);
	bind(1);
	assert_int_equal(__insn_mfspr(SPR_UDN_SP_FIFO_CNT), 8);
}

/* ---- fatal cases, in a child -------------------------------------------- */

/* Run fn in a child; its termination signal (0 if it exited). Its stderr
 * goes to the file `log`. */
static int in_child(void (*fn)(void), const char *log)
{
	pid_t pid;
	int st;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* cmocka catches SIGILL and SIGABRT to report crashed tests:
		 * the child must die of them instead. */
		signal(SIGILL, SIG_DFL);
		signal(SIGABRT, SIG_DFL);
		if (freopen(log, "w", stderr) == NULL)
			_exit(99);
		fn();
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFSIGNALED(st) ? WTERMSIG(st) : 0;
}

static bool log_has(const char *log, const char *needle)
{
	char buf[4096];
	FILE *f = fopen(log, "r");
	size_t n = f != NULL ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

	if (f != NULL)
		fclose(f);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

static void send_outside_wall(void)
{
	hardwall("0-1,6-7"); /* the 2 x 2 rectangle at the corner */
	bind(0);
	tmc_udn_send_1(tmc_udn_header_from_cpu(7), UDN0_DEMUX_TAG, 1); /* inside: fine */
	tmc_udn_send_1(tmc_udn_header_from_cpu(8), UDN0_DEMUX_TAG, 1); /* outside */
}

static void send_without_activate(void)
{
	hardwall("0-35");
	assert_int_equal(tmc_cpus_set_my_cpu(2), 0);
	tmc_udn_send_1(tmc_udn_header_from_cpu(3), UDN0_DEMUX_TAG, 1);
}

static void send_too_long(void)
{
	static uint64_t w[127];

	hardwall("0-35");
	bind(0);
	tmc_udn_send_buffer(tmc_udn_header_from_cpu(1), UDN0_DEMUX_TAG, w, 127);
}

static void stall_forever(void)
{
	struct mde_model_udn_config cfg = {6, 6, 2, 2, 200};
	uint64_t w[8] = {0};

	mde_model_udn_configure(&cfg);
	hardwall("0-35");
	bind(0);
	/* Tile 1 never receives: 2 + 2 words fit, the rest stalls. */
	tmc_udn_send_buffer(tmc_udn_header_from_cpu(1), UDN0_DEMUX_TAG, w, 8);
}

static void test_hardwall_violations_raise_sigill(void **state)
{
	char log[] = "/tmp/test_mde_udn.XXXXXX";
	int fd = mkstemp(log);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(in_child(send_outside_wall, log), SIGILL);
	assert_true(log_has(log, "outside the hardwall"));
	assert_int_equal(in_child(send_without_activate, log), SIGILL);
	assert_true(log_has(log, "tmc_udn_activate"));
	assert_int_equal(in_child(send_too_long, log), SIGILL);
	assert_true(log_has(log, "at most 126"));
	unlink(log);
}

static void test_watchdog_aborts_stalled_tile(void **state)
{
	char log[] = "/tmp/test_mde_udn.XXXXXX";
	int fd = mkstemp(log);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(in_child(stall_forever, log), SIGABRT);
	assert_true(log_has(log, "UDN watchdog: cpu 0 stalled"));
	unlink(log);
}

static void test_grid_and_header(void **state)
{
	unsigned x, y;

	(void)state;
	assert_int_equal(tmc_cpus_grid_width(), 6);
	assert_int_equal(tmc_cpus_grid_height(), 6);
	tmc_cpus_grid_cpu_to_tile(20, &x, &y);
	assert_int_equal(x, 2);
	assert_int_equal(y, 3);
	assert_int_equal(tmc_cpus_set_my_cpu(36), -1); /* not a tile */
	assert_int_equal(tmc_udn_activate(), -1);      /* no hardwall yet */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_grid_and_header),
	    cmocka_unit_test_teardown(test_send_into_full_fifo_stalls, teardown),
	    cmocka_unit_test_teardown(test_credit_register_counts_free_words, teardown),
	    cmocka_unit_test_teardown(test_packets_never_interleave, teardown),
	    cmocka_unit_test_teardown(test_stuck_packet_blocks_its_route, teardown),
	    cmocka_unit_test(test_hardwall_violations_raise_sigill),
	    cmocka_unit_test(test_watchdog_aborts_stalled_tile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
