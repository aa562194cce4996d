/*
 * test_tcp_conns.c - many established idle connections between two stacks
 * over the in-memory wire, within a stated memory bound.
 *
 * 100,000 connections (argument N: another count); about a second, so it
 * runs in the 'unit' suite.
 *
 * The client opens the connections in batches to two server ports (the
 * ephemeral range is widened to 1024-65535: one address pair has at most
 * 64,512 ports per destination port). Every connection completes its
 * handshake on both sides. Then the bound is checked two ways:
 *  - the stack's own accounting (dl_stack_tcp_mem): control-block slabs +
 *    hash and slab tables, per connection, at most 512 bytes;
 *  - the C heap (mallinfo2): what both stacks allocated while the
 *    connections were opened, per connection, at most 512 bytes (the
 *    harness keeps no per-connection state in this mode).
 * An idle connection holds no timer, no send chunk and no buffer. At the
 * end the stacks are destroyed (RST to every peer, cleanup upcalls) and
 * every packet buffer must be back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <cmocka.h>

#include "tcp_harness.h"

#define BOUND 512 /* bytes per idle established connection */

static unsigned nconns = 100000;

static void test_conns_idle_established_within_bound(void **state)
{
	struct dl_stack_config cfg;
	struct th_link link = {.delay_us = 50};
	struct th_app_cfg app = {.idle_hold = true};
	struct th *h;
	struct mallinfo2 m0, m1;
	(void)state;

	dl_stack_config_defaults(&cfg);
	cfg.tcp.max_conns = nconns + nconns / 8;
	cfg.tcp.port_min = 1024;
	cfg.tcp.port_max = 65535;
	h = th_create(&cfg, &link, &app, 1, true);
	th_start(h);
	m0 = mallinfo2();
	for (unsigned done = 0; done < nconns;) {
		unsigned batch = nconns - done < 1000 ? nconns - done : 1000;
		th_connect_more(h, batch);
		done += batch;
		if (!th_run_established(h, done, th_now(h) + 60000000ull)) {
			th_dump(h);
			fail_msg("only %u/%u established", th_established(h, 0), done);
		}
	}
	/* Let the handshake retransmission timers, stopped lazily, run out. */
	th_advance(h, th_now(h) + 5000000);
	m1 = mallinfo2();
	assert_int_equal(th_established(h, 0), nconns);
	assert_int_equal(th_established(h, 1), nconns);

	size_t heap = m1.uordblks > m0.uordblks ? m1.uordblks - m0.uordblks : 0;
	size_t acct = 0;
	for (int i = 0; i < 2; i++) {
		struct dl_stack_tcp_mem m;
		dl_stack_tcp_mem(th_stack(h, i), &m);
		assert_int_equal(m.conns, nconns);
		assert_int_equal(m.timers, 0);	    /* idle: nothing armed ... */
		assert_int_equal(m.chunks_used, 0); /* ... nothing queued */
		size_t per = (m.slab_bytes + m.table_bytes) / m.conns;
		printf("side %d: %u connections, TCB %zu bytes, slabs+tables %zu bytes = %zu per "
		       "connection, all TCP state %zu bytes\n",
		       i, m.conns, m.tcb_bytes, m.slab_bytes + m.table_bytes, per, m.total_bytes);
		assert_true(per <= BOUND);
		acct += m.slab_bytes;
	}
	printf("heap growth while opening: %zu bytes for %u connections on two stacks = %zu per "
	       "connection (accounted slabs %zu)\n",
	       heap, 2 * nconns, heap / (2 * nconns), acct);
	assert_true(heap / (2 * nconns) <= BOUND);
	/* every held buffer is back: idle connections pin none */
	assert_int_equal(dl_memwire_bufs_in_use(th_wire(h)), 0);
	th_destroy(h); /* aborts all, asserts every buffer returned */
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_conns_idle_established_within_bound),
	};

	if (argc > 1)
		nconns = (unsigned)strtoul(argv[1], NULL, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
