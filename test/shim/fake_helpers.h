/*
 * fake_helpers.h - the send and receive helpers of dlibos.h
 * (dlibos_send_copy, dlibos_send_ref, dlibos_rx_*) for unit tests that run
 * an application's logic against a fake runtime: the library's own code
 * (lib/engine/helpers.c) behind the test's fakes of dlibos_send,
 * dlibos_recv_done and dlibos_tx_alloc. One application core.
 *
 * The fake runtime does what the engine does around the application's
 * callbacks:
 *  - before the application's data_acked: fake_helpers_acked();
 *  - before its remote_closed: fake_helpers_remote_closed();
 *  - before its cleanup: fake_helpers_cleanup();
 *  - after each of these events: fake_helpers_wake() (writable events);
 *  - in its dlibos_close: fake_helpers_closed().
 */
#ifndef FAKE_HELPERS_H
#define FAKE_HELPERS_H

#include <dlibos/dlibos.h>

#include "dl_helpers.h"

/**
 * Set up the helpers of the fake core @p c with @p pool_bytes of copy
 * memory, taken at once from dlibos_tx_alloc (so a test may exhaust TX
 * memory afterwards; 0: no copies); @p writable receives the writable
 * events. The test defines what the helpers call: dlibos_send,
 * dlibos_recv_done, dlibos_is_tx_mem, dlibos_tx_alloc, dlibos_tx_free.
 */
void fake_helpers_init(struct dlibos_core *c, size_t pool_bytes,
		       void (*writable)(struct dlibos_core *c, dlibos_conn_t conn));

/** Tear down (the pool goes back with dlibos_tx_free). */
void fake_helpers_fini(void);

/** The helpers (for their counters and inspection functions). */
struct dl_helpers *fake_helpers(void);

void fake_helpers_acked(dlibos_conn_t conn, uint32_t bytes);
void fake_helpers_remote_closed(dlibos_conn_t conn, enum dlibos_close_reason why);
void fake_helpers_cleanup(dlibos_conn_t conn);
void fake_helpers_closed(dlibos_conn_t conn);
void fake_helpers_wake(void);

#endif
