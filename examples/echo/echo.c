/*
 * dlibos-echo - a TCP echo server on the DLibOS API, the test application
 * of the execution modes (it runs unchanged with --mode rtc and --mode
 * dlibos, and attached to dlibosd).
 *
 * Received data (zero-copy, in RX buffers) is queued with dlibos_rx_push()
 * and echoed with dlibos_send_copy(); the bytes are returned
 * (dlibos_rx_consume) only once copied, so a slow peer throttles its own
 * sender through the TCP window instead of growing memory. The library
 * keeps the copies until they are acknowledged; when its copy memory runs
 * short a copy takes less and the `writable` event resumes the echo. When
 * the peer closes, the echo finishes and the server closes too.
 *
 *   dlibos-echo [EAL args] -- --ip 10.0.0.2/24 [--port 7] [--max-conns 4096]
 *               [--hoard-core K] [--tx-copy-kb KB]
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

enum { OPT_PORT = 1000, OPT_RING_KB, OPT_MAX_CONNS, OPT_HOARD, OPT_POKE_RX };

static const struct dlibos_opt echo_opts[] = {
	{"port", "P", "TCP port to serve (default 7)", OPT_PORT},
	{"ring-kb", "KB", "obsolete, ignored (echo memory is the library's: --tx-copy-kb)",
	 OPT_RING_KB},
	{"max-conns", "N", "connections in all (shared among app cores, default 4096)", OPT_MAX_CONNS},
	{"hoard-core", "K", "test only: app core K never returns received data", OPT_HOARD},
	{"poke-rx", NULL, "test only: write into the received data (read-only in protected mode)",
	 OPT_POKE_RX},
};

static unsigned opt_port = 7;
static unsigned opt_max_conns = 4096;
static int opt_hoard = -1;
static bool opt_poke_rx;

struct econn {
	dlibos_conn_t conn;
	bool peer_closed;
	bool closed;
	struct econn *next_free;
};

struct ecore {
	struct connmap map;
	struct econn *conns, *free;
	uint64_t cnt[2]; /* echo.queue_refused, echo.copy_failed */
	struct dlibos_counters *ctrs;
};

static const char *const echo_cnt_names[] = {"queue_refused", "copy_failed"};

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
		return dlibos_opt_uint("ring-kb", value, 4, 65536, &x, err, errlen) != 0 ? -1 : 0;
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
	return (size_t)1 << 20; /* nothing of its own: copies use the library's memory */
}

static int echo_core_init(struct dlibos_core *c)
{
	struct ecore *ec = calloc(1, sizeof(*ec));
	unsigned n = opt_max_conns / dlibos_app_cores() + 1; /* this core's share */

	if (ec == NULL || connmap_init(&ec->map, n) != 0)
		return -ENOMEM;
	ec->conns = calloc(n, sizeof(*ec->conns));
	if (ec->conns == NULL) {
		fprintf(stderr, "echo: app core %u: not enough memory for %u connections\n",
			dlibos_core_index(c), n);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < n; i++) {
		ec->conns[i].next_free = ec->free;
		ec->free = &ec->conns[i];
	}
	ec->ctrs = dlibos_counters_register(c, "echo", echo_cnt_names, 2, ec->cnt);
	dlibos_set_core_data(c, ec);
	return dlibos_listen(c, (uint16_t)opt_port, 1024);
}

static void echo_core_fini(struct dlibos_core *c)
{
	struct ecore *ec = dlibos_core_data(c);

	if (ec == NULL)
		return;
	dlibos_counters_unregister(ec->ctrs);
	connmap_fini(&ec->map);
	free(ec->conns);
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
	memset(e, 0, sizeof(*e));
	e->conn = conn;
	if (connmap_put(&ec->map, conn, e) != 0) {
		e->next_free = ec->free;
		ec->free = e;
		dlibos_close(c, conn);
		return;
	}
	dlibos_accept(c, conn);
}

static void close_conn(struct dlibos_core *c, struct econn *e)
{
	if (!e->closed) {
		e->closed = true;
		dlibos_close(c, e->conn);
	}
}

/* Echo what is queued as far as copy memory allows; returned bytes are
 * only those copied. */
static void pump(struct dlibos_core *c, struct ecore *ec, struct econn *e)
{
	struct dlibos_iov v;
	long left = 1;

	while (left > 0 && !e->closed && dlibos_rx_peek(c, e->conn, &v) > 0) {
		int n = dlibos_send_copy(c, e->conn, v.base, v.len);
		if (n < 0) {
			ec->cnt[1]++;
			close_conn(c, e);
			return;
		}
		if (n == 0)
			return; /* writable follows */
		left = dlibos_rx_consume(c, e->conn, (size_t)n);
		if ((uint32_t)n < v.len)
			return;
	}
	if (e->peer_closed && dlibos_rx_avail(c, e->conn) == 0)
		close_conn(c, e);
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
	if (e == NULL || e->closed || (int)dlibos_core_index(c) == opt_hoard)
		return; /* hoarding core: keep everything, return nothing */
	if (dlibos_rx_push(c, conn, iov, n) != 0) {
		/* Cannot remember more pieces: the window closes long before
		 * this with sane settings. Closing releases them. */
		ec->cnt[0]++;
		close_conn(c, e);
		return;
	}
	pump(c, ec, e);
}

static void on_writable(struct dlibos_core *c, dlibos_conn_t conn)
{
	struct ecore *ec = dlibos_core_data(c);
	struct econn *e = connmap_get(&ec->map, conn);

	if (e != NULL)
		pump(c, ec, e);
}

static void on_remote_closed(struct dlibos_core *c, dlibos_conn_t conn,
			     enum dlibos_close_reason why)
{
	struct ecore *ec = dlibos_core_data(c);
	struct econn *e = connmap_get(&ec->map, conn);

	(void)why; /* after a reset nothing is queued any more: close now */
	if (e == NULL)
		return;
	e->peer_closed = true;
	pump(c, ec, e);
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
	struct ecore *ec = dlibos_core_data(c);
	struct econn *e;

	if (cmd == DLIBOS_CMD_LISTEN) {
		fprintf(stderr, "echo: app core %u: cannot listen on port %llu: %s\n",
			dlibos_core_index(c), (unsigned long long)context, strerror(err));
		return;
	}
	/* A send the network core refused: the echoed stream has a hole. */
	if (cmd == DLIBOS_CMD_SEND && (e = connmap_get(&ec->map, conn)) != NULL) {
		ec->cnt[1]++;
		close_conn(c, e);
	}
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
			.remote_closed = on_remote_closed,
			.cleanup = on_cleanup,
			.cmd_error = on_cmd_error,
			.writable = on_writable,
		},
};

int main(int argc, char **argv)
{
	return dlibos_main(argc, argv, &echo_app);
}
