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
#include "dl_helpers.h"
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
	struct dlibos_core *a = ctx;

	if (dl_appcore_owns(a, conn))
		return true;
	a->core->cnt[ENG_CMD_LOCAL_REJECT]++;
	return false;
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
