/*
 * bench_tcp_mem.c - memory per established idle TCP connection.
 *
 * Opens N connections (default 100,000) between two stacks over the
 * in-memory wire (test/tcp/tcp_harness.c, idle mode: no per-connection
 * state outside the stacks), lets the handshake timers run out, then
 * prints, per connection:
 *   - the stack's own accounting (dl_stack_tcp_mem): control block, its
 *     share of the slabs, hash heads and slab table;
 *   - the C heap growth (mallinfo2) of both stacks while opening them.
 * Packet buffers are not counted (an idle connection holds none).
 *
 *   usage: bench_tcp_mem [connections]
 */
#include "tcp_harness.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 100000;
	struct dl_stack_config cfg;
	struct th_link link = {.delay_us = 50};
	struct th_app_cfg app = {.idle_hold = true};
	struct mallinfo2 m0, m1;
	struct th *h;

	dl_stack_config_defaults(&cfg);
	cfg.tcp.max_conns = n + n / 8;
	cfg.tcp.port_min = 1024;
	cfg.tcp.port_max = 65535;
	h = th_create(&cfg, &link, &app, 1, true);
	th_start(h);
	m0 = mallinfo2();
	for (unsigned done = 0; done < n;) {
		unsigned batch = n - done < 1000 ? n - done : 1000;
		th_connect_more(h, batch);
		done += batch;
		if (!th_run_established(h, done, th_now(h) + 60000000ull)) {
			fprintf(stderr, "only %u of %u established\n", th_established(h, 0), done);
			return 1;
		}
	}
	th_advance(h, th_now(h) + 5000000);
	m1 = mallinfo2();
	for (int i = 0; i < 2; i++) {
		struct dl_stack_tcp_mem m;
		dl_stack_tcp_mem(th_stack(h, i), &m);
		printf("%s: %u idle connections, %zu timers armed, %u send chunks\n",
		       i == 0 ? "server" : "client", m.conns, m.timers, m.chunks_used);
		printf("  control block            %zu bytes\n", m.tcb_bytes);
		printf("  slabs (64 TCBs each)     %zu bytes\n", m.slab_bytes);
		printf("  hash heads + slab table  %zu bytes (sized by max_conns %u)\n",
		       m.table_bytes, cfg.tcp.max_conns);
		printf("  per connection           %zu bytes\n",
		       (m.slab_bytes + m.table_bytes) / m.conns);
	}
	size_t heap = m1.uordblks - m0.uordblks;
	printf("heap growth (mallinfo2): %zu bytes for %u connections on two stacks = %zu per "
	       "connection\n",
	       heap, 2 * n, heap / (2 * n));
	th_destroy(h);
	return 0;
}
