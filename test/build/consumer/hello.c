/*
 * hello.c - a program built outside the DLibOS tree, against the installed
 * library, with nothing but `pkg-config --cflags --libs libdlibos`: a
 * one-reply TCP server ("hello" to every connection, then close). The
 * install test builds it shared and static and runs its --help (the whole
 * runtime's argument parser, no NIC needed).
 */
#include <dlibos/dlibos.h>

#include <stdio.h>
#include <string.h>

static const char reply[] = "hello from dlibos\n";
static void *tx; /* the reply, in TX memory */

static int hello_init(void)
{
	tx = dlibos_tx_alloc(sizeof(reply) - 1);
	if (tx == NULL)
		return -1;
	memcpy(tx, reply, sizeof(reply) - 1);
	return 0;
}

static int hello_core_init(struct dlibos_core *c)
{
	return dlibos_listen(c, 7777, 128);
}

static void on_new_conn(struct dlibos_core *c, dlibos_conn_t conn,
			const struct dlibos_conn_info *info)
{
	const struct dlibos_frag f = {tx, sizeof(reply) - 1};

	(void)info;
	if (dlibos_accept(c, conn) == 0 && dlibos_send(c, conn, &f, 1) == 0)
		dlibos_shutdown(c, conn, 1 /* SHUT_WR */);
}

static void on_new_data(struct dlibos_core *c, dlibos_conn_t conn, const struct dlibos_iov *iov,
			unsigned n)
{
	uint32_t bytes = 0;

	for (unsigned i = 0; i < n; i++)
		bytes += iov[i].len;
	dlibos_recv_done(c, conn, bytes);
}

static void on_remote_closed(struct dlibos_core *c, dlibos_conn_t conn,
			     enum dlibos_close_reason why)
{
	(void)why;
	dlibos_close(c, conn);
}

static const struct dlibos_app hello_app = {
    .name = "hello",
    .summary = "says hello on TCP port 7777 (an out-of-tree DLibOS program)",
    .init = hello_init,
    .core_init = hello_core_init,
    .cb = {.new_conn = on_new_conn, .new_data = on_new_data, .remote_closed = on_remote_closed},
};

int main(int argc, char **argv)
{
	return dlibos_main(argc, argv, &hello_app);
}
