/*
 * dlibos-echo - a TCP echo server on the DLibOS API, the test application
 * of the execution modes (it runs unchanged with --mode rtc and --mode
 * dlibos).
 *
 * Received data (zero-copy, in RX buffers) is copied into a per-connection
 * ring in TX memory and sent back from there; the bytes are returned with
 * recv_done only once copied, so a slow peer throttles its own sender
 * through the TCP window instead of growing memory. Ring space is released
 * by data_acked. When the peer closes, the echo finishes and the server
 * closes too.
 *
 *   dlibos-echo [EAL args] -- --ip 10.0.0.2/24 [--port 7] [--ring-kb 64]
 *               [--max-conns 4096] [--hoard-core K]
 *
 * --hoard-core K makes application core K keep every byte it receives
 * (never recv_done, never echo): a misbehaving core for the tests of RX
 * buffer credits. Its connections stall; the other cores are unaffected.
 *
 * --poke-rx writes into the first byte it receives, in the RX buffer
 * itself: a faulty application for the protected-mode tests, where RX
 * memory is mapped read-only and the write kills the process (SIGSEGV).
 */
#include <dlibos/dlibos.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/connmap.h"

#define MAX_PENDING 256

enum { OPT_PORT = 1000, OPT_RING_KB, OPT_MAX_CONNS, OPT_HOARD, OPT_POKE_RX };

static const struct dlibos_opt echo_opts[] = {
	{"port", "P", "TCP port to serve (default 7)", OPT_PORT},
	{"ring-kb", "KB", "echo buffer per connection in KiB (default 64)", OPT_RING_KB},
	{"max-conns", "N", "connections in all (shared among app cores, default 4096)", OPT_MAX_CONNS},
	{"hoard-core", "K", "test only: app core K never returns received data", OPT_HOARD},
	{"poke-rx", NULL, "test only: write into the received data (read-only in protected mode)",
	 OPT_POKE_RX},
};

static unsigned opt_port = 7;
static size_t opt_ring = 64 * 1024;
static unsigned opt_max_conns = 4096;
static int opt_hoard = -1;
static bool opt_poke_rx;

struct econn {
	dlibos_conn_t conn;
	uint8_t *ring;
	uint64_t head, tail;    /* bytes acknowledged / sent, ring offsets mod size */
	unsigned npend;         /* received iovecs not yet copied */
	struct dlibos_iov pend[MAX_PENDING];
	uint32_t pend_off;      /* bytes of pend[0] already copied */
	bool peer_closed;
	bool closed;
	struct econn *next_free;
};

struct ecore {
	struct connmap map;
	struct econn *conns, *free;
	uint8_t *rings;
};

static int echo_parse(int key, const char *value, char *err, size_t errlen)
{
	unsigned long long x;

	switch (key) {
	case OPT_PORT:
		if (dlibos_opt_uint("port", value, 1, 65535, &x, err, errlen) != 0)
			return -1;
		opt_port = (unsigned)x;
		return 0;
	case OPT_RING_KB:
		if (dlibos_opt_uint("ring-kb", value, 4, 65536, &x, err, errlen) != 0)
			return -1;
		opt_ring = x * 1024;
		return 0;
	case OPT_MAX_CONNS:
		if (dlibos_opt_uint("max-conns", value, 1, 1u << 20, &x, err, errlen) != 0)
			return -1;
		opt_max_conns = (unsigned)x;
		return 0;
	case OPT_HOARD:
		if (dlibos_opt_uint("hoard-core", value, 0, 65535, &x, err, errlen) != 0)
			return -1;
		opt_hoard = (int)x;
		return 0;
	case OPT_POKE_RX:
		opt_poke_rx = true;
		return 0;
	}
	snprintf(err, errlen, "unknown option key %d", key);
	return -1;
}

static size_t echo_tx_memory(void)
{
	/* A ring per connection (each core rounds its share up by one) plus
	 * slack for the allocator's headers. */
	return opt_ring * ((size_t)opt_max_conns + 64) + ((size_t)1 << 20);
}

static int echo_core_init(struct dlibos_core *c)
{
	struct ecore *ec = calloc(1, sizeof(*ec));

	if (ec == NULL || connmap_init(&ec->map, opt_max_conns) != 0)
		return -ENOMEM;
	ec->conns = calloc(opt_max_conns, sizeof(*ec->conns));
	ec->rings = dlibos_tx_alloc(opt_ring * opt_max_conns / dlibos_app_cores() + opt_ring);
	if (ec->conns == NULL || ec->rings == NULL) {
		fprintf(stderr, "echo: app core %u: not enough memory for %u connections\n",
			dlibos_core_index(c), opt_max_conns);
		return -ENOMEM;
	}
	unsigned nrings = (unsigned)(opt_max_conns / dlibos_app_cores() + 1);
	for (unsigned i = 0; i < nrings && i < opt_max_conns; i++) {
		ec->conns[i].ring = ec->rings + (size_t)i * opt_ring;
		ec->conns[i].next_free = ec->free;
		ec->free = &ec->conns[i];
	}
	dlibos_set_core_data(c, ec);
	return dlibos_listen(c, (uint16_t)opt_port, 1024);
}

static void echo_core_fini(struct dlibos_core *c)
{
	struct ecore *ec = dlibos_core_data(c);

	if (ec == NULL)
		return;
	connmap_fini(&ec->map);
	free(ec->conns);
	dlibos_tx_free(ec->rings);
	free(ec);
}

static void on_new_conn(struct dlibos_core *c, dlibos_conn_t conn,
			const struct dlibos_conn_info *info)
{
	struct ecore *ec = dlibos_core_data(c);
	struct econn *e = ec->free;

	(void)info;
	if (e == NULL) {
		dlibos_close(c, conn); /* over the connection limit */
		return;
	}
	ec->free = e->next_free;
	uint8_t *ring = e->ring;
	memset(e, 0, sizeof(*e));
	e->ring = ring;
	e->conn = conn;
	if (connmap_put(&ec->map, conn, e) != 0) {
		e->next_free = ec->free;
		ec->free = e;
		dlibos_close(c, conn);
		return;
	}
	dlibos_accept(c, conn);
}

/* Copy as much pending data as the ring holds, send it, return it. */
static void pump(struct dlibos_core *c, struct econn *e)
{
	uint32_t returned = 0;

	while (e->npend > 0) {
		struct dlibos_iov *v = &e->pend[0];
		uint64_t space = opt_ring - (e->tail - e->head);
		uint32_t want = v->len - e->pend_off;
		uint32_t n = want < space ? want : (uint32_t)space;
		if (n == 0)
			break;
		size_t at = e->tail % opt_ring;
		size_t first = opt_ring - at < n ? opt_ring - at : n;
		struct dlibos_frag f[2] = {{e->ring + at, (uint32_t)first},
					   {e->ring, (uint32_t)(n - first)}};
		memcpy(e->ring + at, v->base + e->pend_off, first);
		memcpy(e->ring, v->base + e->pend_off + first, n - first);
		dlibos_send(c, e->conn, f, n > first ? 2 : 1);
		e->tail += n;
		e->pend_off += n;
		returned += n;
		if (e->pend_off == v->len) {
			memmove(&e->pend[0], &e->pend[1], (e->npend - 1) * sizeof(e->pend[0]));
			e->npend--;
			e->pend_off = 0;
		}
	}
	if (returned > 0)
		dlibos_recv_done(c, e->conn, returned);
	if (e->peer_closed && e->npend == 0 && !e->closed) {
		e->closed = true;
		dlibos_close(c, e->conn);
	}
}

static void on_new_data(struct dlibos_core *c, dlibos_conn_t conn, const struct dlibos_iov *iov,
			unsigned n)
{
	struct ecore *ec = dlibos_core_data(c);
	struct econn *e = connmap_get(&ec->map, conn);

	if (opt_poke_rx && n > 0) {
		fprintf(stderr, "echo: --poke-rx: writing into the RX buffer\n");
		*(volatile uint8_t *)(uintptr_t)iov[0].base = 'X';
	}
	if (e == NULL || (int)dlibos_core_index(c) == opt_hoard)
		return; /* hoarding core: keep everything, return nothing */
	for (unsigned i = 0; i < n; i++) {
		if (e->npend == MAX_PENDING) {
			/* Cannot remember more pieces: the window will close
			 * long before this with sane settings. */
			fprintf(stderr, "echo: too many pending pieces on a connection\n");
			dlibos_close(c, conn);
			return;
		}
		e->pend[e->npend++] = iov[i];
	}
	pump(c, e);
}

static void on_data_acked(struct dlibos_core *c, dlibos_conn_t conn, uint32_t bytes)
{
	struct ecore *ec = dlibos_core_data(c);
	struct econn *e = connmap_get(&ec->map, conn);

	if (e == NULL)
		return;
	e->head += bytes;
	if (e->head > e->tail)
		e->head = e->tail;
	pump(c, e);
}

static void on_remote_closed(struct dlibos_core *c, dlibos_conn_t conn,
			     enum dlibos_close_reason why)
{
	struct ecore *ec = dlibos_core_data(c);
	struct econn *e = connmap_get(&ec->map, conn);

	if (e == NULL)
		return;
	e->peer_closed = true;
	if (why != DLIBOS_CLOSED_FIN)
		e->npend = 0; /* reset: nothing more to echo */
	pump(c, e);
}

static void on_cleanup(struct dlibos_core *c, dlibos_conn_t conn)
{
	struct ecore *ec = dlibos_core_data(c);
	struct econn *e = connmap_del(&ec->map, conn);

	if (e == NULL)
		return;
	e->next_free = ec->free;
	ec->free = e;
}

static void on_cmd_error(struct dlibos_core *c, dlibos_conn_t conn, enum dlibos_cmd cmd, int err,
			 uint64_t context)
{
	(void)conn;
	if (cmd == DLIBOS_CMD_LISTEN)
		fprintf(stderr, "echo: app core %u: cannot listen on port %llu: %s\n",
			dlibos_core_index(c), (unsigned long long)context, strerror(err));
}

static const struct dlibos_app echo_app = {
	.name = "echo",
	.summary = "TCP echo server on DLibOS",
	.options = echo_opts,
	.n_options = sizeof(echo_opts) / sizeof(echo_opts[0]),
	.parse_opt = echo_parse,
	.tx_memory = echo_tx_memory,
	.core_init = echo_core_init,
	.core_fini = echo_core_fini,
	.cb =
		{
			.new_conn = on_new_conn,
			.new_data = on_new_data,
			.data_acked = on_data_acked,
			.remote_closed = on_remote_closed,
			.cleanup = on_cleanup,
			.cmd_error = on_cmd_error,
		},
};

int main(int argc, char **argv)
{
	return dlibos_main(argc, argv, &echo_app);
}
