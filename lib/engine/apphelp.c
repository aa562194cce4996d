/*
 * apphelp.c - the public send and receive helpers (dlibos_send_copy,
 * dlibos_send_ref, dlibos_rx_*) on the application-core side of the engine,
 * the same in every mode (rtc, dlibos, attached).
 *
 * An application core gets its helpers (dl_helpers.h) at its first helper
 * call. From then on its events go through wrappers (a copy of the
 * application's callback table with data_acked, remote_closed and cleanup
 * replaced, installed as the core's `cb`), which do the library's
 * accounting before the application's callback runs and deliver writable
 * events after it. A core that never calls a helper keeps the
 * application's own table: nothing is added to its events or commands.
 * The helpers send with dlibos_send() and return bytes with
 * dlibos_recv_done(), so what travels is what an application doing its own
 * accounting would send. The copy memory comes from the TX region (the
 * engine sized it for every application core, dl_engine_tx_copy_reserve()).
 */
#include "dl_engine_priv.h"
/* The helpers' ctx is the application core: send and return directly. */
#define DL_HELP_SEND(h, conn, f, n) dlibos_send((struct dlibos_core *)(h)->ctx, (conn), (f), (n))
#define DL_HELP_RECV_DONE(h, conn, bytes)                                                          \
	dlibos_recv_done((struct dlibos_core *)(h)->ctx, (conn), (bytes))
#include "dl_helpers_impl.h"
#include "dl_log.h"

#include <errno.h>
#include <stdlib.h>

size_t dl_engine_tx_copy_reserve(size_t per_core, unsigned n_app)
{
	size_t b = per_core != 0 ? per_core : DL_ENGINE_DEFAULT_TX_COPY;

	/* Each core's block carries the allocator's 64-byte header and is
	 * rounded to 64 bytes. */
	return ((b + 63) / 64 * 64 + 64) * n_app;
}

/* ---- what the helpers do to the world ---------------------------------------- */

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
	struct dlibos_core *a = ctx;

	if (a->help->app->writable != NULL)
		a->help->app->writable(a, conn);
}

static void *op_pool_alloc(void *ctx, size_t *len)
{
	struct dlibos_core *a = ctx;
	void *p = dl_txmem_alloc(a->txmem, *len);

	if (p == NULL)
		DL_ERR("application core %u: no %zu bytes of TX memory for dlibos_send_copy "
		       "(--tx-copy-kb); copies are refused (api.copy_no_pool)",
		       a->app_idx, *len);
	return p;
}

static void op_pool_free(void *ctx, void *mem)
{
	struct dlibos_core *a = ctx;

	dl_txmem_free(a->txmem, mem);
}

static bool op_owns(void *ctx, dlibos_conn_t conn)
{
	return dl_appcore_owns(ctx, conn);
}

/* A helper command refused on the spot: counted as the other commands'. */
static inline int refused(struct dlibos_core *a, int err)
{
	a->core->cnt[ENG_CMD_LOCAL_REJECT]++;
	return err;
}

static const struct dl_help_ops help_ops = {
    .send = op_send,
    .recv_done = op_recv_done,
    .writable = op_writable,
    .pool_alloc = op_pool_alloc,
    .pool_free = op_pool_free,
    .owns = op_owns,
};

struct dl_helpers *dl_apphelp_create(struct dlibos_core *a)
{
	struct dl_apphelp *ah = a->help;
	size_t pool;

	if (ah != NULL)
		return ah->h;
	ah = calloc(1, sizeof(*ah));
	if (ah == NULL)
		return NULL;
	pool = a->e->conf.tx_copy_bytes != 0 ? a->e->conf.tx_copy_bytes : DL_ENGINE_DEFAULT_TX_COPY;
	ah->h = dl_helpers_create(&help_ops, a, a, pool, (int)a->app_idx);
	if (ah->h == NULL) {
		free(ah);
		return NULL;
	}
	ah->app = a->cb;
	ah->cb = *a->cb;
	ah->cb.data_acked = dl_helpers_on_data_acked;
	ah->cb.remote_closed = dl_helpers_on_remote_closed;
	ah->cb.cleanup = dl_helpers_on_cleanup;
	a->help = ah;
	a->cb = &ah->cb;
	return ah->h;
}

void dl_apphelp_closed(struct dlibos_core *a, dlibos_conn_t conn)
{
	dl_helpers_closed(a->help->h, conn);
}

void dl_apphelp_stop(struct dlibos_core *a)
{
	if (a != NULL && a->help != NULL)
		dl_helpers_abort_all(a->help->h);
}

void dl_apphelp_destroy(struct dlibos_core *a)
{
	if (a->help == NULL)
		return;
	a->cb = a->help->app;
	dl_helpers_destroy(a->help->h);
	free(a->help);
	a->help = NULL;
}

/* ---- the wrappers of an application core's callbacks -------------------------------- */

void dl_helpers_on_data_acked(struct dlibos_core *a, dlibos_conn_t conn, uint32_t bytes)
{
	struct dl_apphelp *ah = a->help;

	acked(ah->h, conn, bytes);
	if (ah->app->data_acked != NULL)
		ah->app->data_acked(a, conn, bytes);
	dl_helpers_wake(ah->h);
}

void dl_helpers_on_remote_closed(struct dlibos_core *a, dlibos_conn_t conn,
				 enum dlibos_close_reason why)
{
	struct dl_apphelp *ah = a->help;

	dl_helpers_remote_closed(ah->h, conn, why);
	if (ah->app->remote_closed != NULL)
		ah->app->remote_closed(a, conn, why);
	dl_helpers_wake(ah->h);
}

void dl_helpers_on_cleanup(struct dlibos_core *a, dlibos_conn_t conn)
{
	struct dl_apphelp *ah = a->help;

	dl_helpers_cleanup(ah->h, conn);
	if (ah->app->cleanup != NULL)
		ah->app->cleanup(a, conn);
	dl_helpers_wake(ah->h);
}

/* ---- the public functions (dlibos.h) ------------------------------------------------ */

/* The core's helpers (created at its first helper call), or NULL with *err
 * set. Connections are checked (this core owns them) once, when the
 * helpers create their state (the owns operation): a wrong handle gets
 * -EINVAL then. */
static inline struct dl_helpers *help(struct dlibos_core *a, int *err)
{
	if (__builtin_expect(a->help != NULL, 1))
		return a->help->h;
	*err = -ENOMEM;
	return dl_apphelp_create(a);
}

/* The receive side only reads what dlibos_rx_push queued: a core without
 * helpers has nothing queued. */
static inline struct dl_helpers *rx_of(const struct dlibos_core *a)
{
	return a->help != NULL ? a->help->h : NULL;
}

int dlibos_send_copy(struct dlibos_core *a, dlibos_conn_t conn, const void *data, size_t len)
{
	int err = 0;
	struct dl_helpers *h = help(a, &err);
	long r;

	if (h == NULL)
		return err;
	if (data == NULL && len > 0)
		return refused(a, -EINVAL);
	r = send_copy(h, conn, data, len);
	return r == -ENOENT ? refused(a, -EINVAL) : (int)r;
}

size_t dlibos_send_copy_room(struct dlibos_core *a, dlibos_conn_t conn, size_t want)
{
	int err = 0;
	struct dl_helpers *h = help(a, &err);

	return h != NULL ? dl_helpers_copy_room(h, conn, want) : 0;
}

int dlibos_send_ref(struct dlibos_core *a, dlibos_conn_t conn, const struct dlibos_frag *frags,
		    unsigned n, dlibos_send_done_fn done, void *arg)
{
	int err = 0;
	struct dl_helpers *h = help(a, &err);
	int r;

	if (h == NULL)
		return err;
	if (frags == NULL || n == 0)
		return refused(a, -EINVAL);
	for (unsigned i = 0; i < n; i++) {
		if (frags[i].len == 0)
			return refused(a, -EINVAL);
		if (!dl_txmem_contains(a->txmem, frags[i].base, frags[i].len))
			return refused(a, -EFAULT);
	}
	r = dl_helpers_send_ref(h, conn, frags, n, done, arg);
	return r == -ENOENT ? refused(a, -EINVAL) : r;
}

int dlibos_rx_push(struct dlibos_core *a, dlibos_conn_t conn, const struct dlibos_iov *iov,
		   unsigned n)
{
	int err = 0;
	struct dl_helpers *h = help(a, &err);
	int r;

	if (h == NULL)
		return err;
	if (iov == NULL && n > 0)
		return refused(a, -EINVAL);
	r = rx_push(h, conn, iov, n);
	return r == -ENOENT ? refused(a, -EINVAL) : r;
}

uint64_t dlibos_rx_avail(struct dlibos_core *a, dlibos_conn_t conn)
{
	struct dl_helpers *h = rx_of(a);

	return h != NULL ? dl_helpers_rx_avail(h, conn) : 0;
}

int dlibos_rx_peek(struct dlibos_core *a, dlibos_conn_t conn, struct dlibos_iov *out)
{
	struct dl_helpers *h = rx_of(a);

	if (out == NULL)
		return -EINVAL;
	return h != NULL ? rx_peek(h, conn, out) : 0;
}

int dlibos_rx_line(struct dlibos_core *a, dlibos_conn_t conn, int delim, void *buf, size_t cap,
		   struct dlibos_iov *msg)
{
	struct dl_helpers *h = rx_of(a);

	if (msg == NULL || buf == NULL || cap == 0 || delim < 0 || delim > 255)
		return -EINVAL;
	return h != NULL ? dl_helpers_rx_line(h, conn, delim, buf, cap, msg) : 0;
}

int dlibos_rx_fixed(struct dlibos_core *a, dlibos_conn_t conn, size_t len, void *buf,
		    struct dlibos_iov *msg)
{
	struct dl_helpers *h = rx_of(a);

	if (msg == NULL || buf == NULL || len == 0)
		return -EINVAL;
	return h != NULL ? dl_helpers_rx_fixed(h, conn, len, buf, msg) : 0;
}

int dlibos_rx_frame(struct dlibos_core *a, dlibos_conn_t conn, const struct dlibos_frame_fmt *fmt,
		    void *buf, size_t cap, struct dlibos_iov *msg)
{
	struct dl_helpers *h = rx_of(a);

	if (msg == NULL || buf == NULL || fmt == NULL)
		return -EINVAL;
	return h != NULL ? dl_helpers_rx_frame(h, conn, fmt, buf, cap, msg) : 0;
}

size_t dlibos_rx_copy(struct dlibos_core *a, dlibos_conn_t conn, void *dst, size_t len)
{
	struct dl_helpers *h = rx_of(a);

	if (dst == NULL)
		return 0;
	return h != NULL ? dl_helpers_rx_copy(h, conn, dst, len) : 0;
}

long dlibos_rx_consume(struct dlibos_core *a, dlibos_conn_t conn, size_t bytes)
{
	struct dl_helpers *h = rx_of(a);

	if (h == NULL)
		return bytes == 0 ? 0 : -EINVAL;
	return rx_consume(h, conn, bytes);
}
