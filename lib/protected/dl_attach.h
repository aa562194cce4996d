/*
 * dl_attach.h - the application side of protected mode: attaching to a
 * dlibosd service and running the application's cores in this process.
 *
 *     prog --attach /run/dlibos/ctl.sock [--app-cores M] [--idle ...] [app options]
 *
 * dl_attach_open() does the control protocol (dl_ctl.h): it creates the
 * TX memory as a memfd sealed against shrinking (the service maps it
 * read-only and registers it for transmission), sends HELLO with it,
 * and on WELCOME maps what came back:
 *   - the RX region PROT_READ, under the service's region id, so new_data
 *     references resolve to read-only memory (a write is a SIGSEGV);
 *   - the slot's NoC fabric with dl_noc_fabric_map(): read-only but where
 *     this process writes (ring transport: the producer area of each
 *     channel to a network core and the consumer page of each channel
 *     from one);
 *   - its own TX memory read-write under the id the service chose, so
 *     dlibos_tx_alloc() memory is named the way the service checks it.
 * dl_attach_main() then builds the engine in DL_MODE_ATTACHED over that
 * fabric, runs the application's init, and one thread per application
 * core (core_init, then the same loop as in dlibos mode: NoC poll ->
 * callbacks -> NoC flush, idle policy, core_poll); the main thread
 * watches the control connection: when the service goes away or detaches
 * us, the process stops (exit status 1).
 *
 * The lower-level dl_attach_open()/dl_attach_close() are also what the
 * protected-mode tests use to attach and talk raw NoC to the service.
 */
#ifndef DL_ATTACH_H
#define DL_ATTACH_H

#include "dl_ctl.h"
#include "dl_hal.h"
#include "dl_noc.h"
#include "dlibos/dlibos.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** One attachment (one slot of the service). */
struct dl_attach {
	int sock;		 /**< control connection (-1: closed) */
	struct dl_ctl_welcome w; /**< what the service granted */
	struct dl_region *tx;	 /**< our TX memory, read-write, id w.tx_region */
	struct dl_region *rx;	 /**< the RX region, read-only, id w.rx_region */
	struct dl_noc_fabric *fab; /**< the slot's fabric, mapped (cores: n_net nets, then ours) */
};

/**
 * Connect to the service at @p path and attach as @p name with
 * @p app_cores application cores and @p tx_bytes of TX memory.
 * @return 0, or a negative errno with a message in err (-EACCES, -EBUSY
 *         and the like come from the service's REFUSE).
 */
int dl_attach_open(struct dl_attach *a, const char *path, const char *name, unsigned app_cores,
		   size_t tx_bytes, char *err, size_t errlen);

/** Unmap everything and close the connection (the service then detaches us). */
void dl_attach_close(struct dl_attach *a);

/**
 * Wait up to @p timeout_ms for news on the control connection.
 * @return 0 (nothing), or -1 when the service closed it or detached us
 *         (the reason in why).
 */
int dl_attach_watch(struct dl_attach *a, int timeout_ms, char *why, size_t whylen);

/** True when the command line asks for protected mode (--attach). */
bool dl_attach_requested(int argc, char **argv);

/** The whole life of an attached application process (see the top). */
int dl_attach_main(int argc, char **argv, const struct dlibos_app *app, const char *prog,
		   const char *summary);

#endif /* DL_ATTACH_H */
