/*
 * fake_helpers.c - see fake_helpers.h.
 */
#include "fake_helpers.h"

#include <errno.h>
#include <stdlib.h>

static struct {
	struct dl_helpers *h;
	struct dlibos_core *core;
	void (*writable)(struct dlibos_core *c, dlibos_conn_t conn);
} F;

static int op_send(void *ctx, dlibos_conn_t conn, const struct dlibos_frag *f, unsigned n)
{
	return dlibos_send(ctx, conn, f, n);
}

static int op_recv_done(void *ctx, dlibos_conn_t conn, uint32_t bytes)
{
	return dlibos_recv_done(ctx, conn, bytes);
}

static void op_writable(void *ctx, dlibos_conn_t conn)
{
	if (F.writable != NULL)
		F.writable(ctx, conn);
}

static void *op_pool_alloc(void *ctx, size_t *len)
{
	(void)ctx;
	return dlibos_tx_alloc(*len);
}

static void op_pool_free(void *ctx, void *mem)
{
	(void)ctx;
	dlibos_tx_free(mem);
}

static const struct dl_help_ops ops = {
    .send = op_send,
    .recv_done = op_recv_done,
    .writable = op_writable,
    .pool_alloc = op_pool_alloc,
    .pool_free = op_pool_free,
};

void fake_helpers_init(struct dlibos_core *c, size_t pool_bytes,
		       void (*writable)(struct dlibos_core *c, dlibos_conn_t conn))
{
	F.core = c;
	F.writable = writable;
	F.h = dl_helpers_create(&ops, c, c, pool_bytes, -1);
	if (F.h == NULL || (pool_bytes > 0 && !dl_helpers_pool_prepare(F.h)))
		abort();
}

void fake_helpers_fini(void)
{
	dl_helpers_abort_all(F.h);
	dl_helpers_destroy(F.h);
	F.h = NULL;
}

struct dl_helpers *fake_helpers(void)
{
	return F.h;
}

void fake_helpers_acked(dlibos_conn_t conn, uint32_t bytes)
{
	dl_helpers_acked(F.h, conn, bytes);
}

void fake_helpers_remote_closed(dlibos_conn_t conn, enum dlibos_close_reason why)
{
	dl_helpers_remote_closed(F.h, conn, why);
}

void fake_helpers_cleanup(dlibos_conn_t conn)
{
	dl_helpers_cleanup(F.h, conn);
}

void fake_helpers_closed(dlibos_conn_t conn)
{
	dl_helpers_closed(F.h, conn);
}

void fake_helpers_wake(void)
{
	dl_helpers_wake(F.h);
}

/* ---- the public functions, as apphelp.c has them ---------------------------- */

int dlibos_send_copy(struct dlibos_core *c, dlibos_conn_t conn, const void *data, size_t len)
{
	(void)c;
	if (data == NULL && len > 0)
		return -EINVAL;
	return (int)dl_helpers_send_copy(F.h, conn, data, len);
}

size_t dlibos_send_copy_room(struct dlibos_core *c, dlibos_conn_t conn, size_t want)
{
	(void)c;
	return dl_helpers_copy_room(F.h, conn, want);
}

int dlibos_send_ref(struct dlibos_core *c, dlibos_conn_t conn, const struct dlibos_frag *frags,
		    unsigned n, dlibos_send_done_fn done, void *arg)
{
	(void)c;
	if (frags == NULL || n == 0)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++)
		if (!dlibos_is_tx_mem(frags[i].base, frags[i].len))
			return -EFAULT;
	return dl_helpers_send_ref(F.h, conn, frags, n, done, arg);
}

int dlibos_rx_push(struct dlibos_core *c, dlibos_conn_t conn, const struct dlibos_iov *iov,
		   unsigned n)
{
	(void)c;
	return n > 0 ? dl_helpers_rx_push(F.h, conn, iov, n) : 0;
}

uint64_t dlibos_rx_avail(struct dlibos_core *c, dlibos_conn_t conn)
{
	(void)c;
	return dl_helpers_rx_avail(F.h, conn);
}

int dlibos_rx_peek(struct dlibos_core *c, dlibos_conn_t conn, struct dlibos_iov *out)
{
	(void)c;
	return dl_helpers_rx_peek(F.h, conn, out);
}

int dlibos_rx_line(struct dlibos_core *c, dlibos_conn_t conn, int delim, void *buf, size_t cap,
		   struct dlibos_iov *msg)
{
	(void)c;
	return dl_helpers_rx_line(F.h, conn, delim, buf, cap, msg);
}

int dlibos_rx_fixed(struct dlibos_core *c, dlibos_conn_t conn, size_t len, void *buf,
		    struct dlibos_iov *msg)
{
	(void)c;
	return dl_helpers_rx_fixed(F.h, conn, len, buf, msg);
}

int dlibos_rx_frame(struct dlibos_core *c, dlibos_conn_t conn, const struct dlibos_frame_fmt *fmt,
		    void *buf, size_t cap, struct dlibos_iov *msg)
{
	(void)c;
	return dl_helpers_rx_frame(F.h, conn, fmt, buf, cap, msg);
}

size_t dlibos_rx_copy(struct dlibos_core *c, dlibos_conn_t conn, void *dst, size_t len)
{
	(void)c;
	return dl_helpers_rx_copy(F.h, conn, dst, len);
}

long dlibos_rx_consume(struct dlibos_core *c, dlibos_conn_t conn, size_t bytes)
{
	(void)c;
	return dl_helpers_rx_consume(F.h, conn, bytes);
}
