/*
 * dl_service.h - the control plane of the protected-mode service
 * (dlibosd): the control socket, the policy, and the life of application
 * slots.
 *
 * The runtime opens the port and builds the engine in DL_MODE_PROTECTED
 * (every core a network core, dl_engine.h), then creates the service: it
 * loads the policy, seals the RX region so nobody can map it writable any
 * more and keeps a read-only descriptor of it for applications, and binds
 * the control socket (SOCK_SEQPACKET, mode 0660). Its control thread then
 * serves applications (protocol: dl_ctl.h):
 *
 *   HELLO      identify the peer (SO_PEERCRED: uid, pid; a pidfd), match the
 *              policy, take a free slot, map the application's TX memfd
 *              read-only (it must be sealed against shrinking), attach the
 *              slot (dl_engine_slot_attach: fabric, endpoints, TX region
 *              registered with the NIC), answer WELCOME with the fabric and
 *              RX descriptors, or REFUSE with the reason (also logged);
 *   end        the connection closes, the pidfd says the process exited,
 *              or a network core kicked the slot (too many invalid
 *              commands, broken channel, events not read): DETACH to the
 *              application when it can still hear it, dl_engine_slot_detach,
 *              and once every network core has let go, release the slot
 *              (the TX mapping is dropped a second later, after any
 *              transmission still referencing it) and close the connection.
 *
 * Other applications see nothing of this; a slot is reused by the next
 * HELLO. The control thread never touches a network core's state: slot
 * changes travel through the engine's atomic state words.
 */
#ifndef DL_SERVICE_H
#define DL_SERVICE_H

#include "dl_config.h"
#include "dl_engine.h"
#include "dl_hal.h"

#include <stdint.h>

/** The service's options (dlibosd's own, after the common ones). */
struct dl_service_conf {
	const char *ctl_path;	 /**< control socket (default DL_CTL_DEFAULT_PATH) */
	const char *policy_path; /**< NULL: our uid may do anything, others nothing */
	unsigned app_slots;	 /**< application processes at once (default 4) */
	unsigned app_cores_max;	 /**< application cores per process (default 4) */
	uint32_t bad_limit;	 /**< invalid commands before a detach (0: never; default 1000) */
	size_t app_rx_memory;	 /**< bytes of each application's own RX region, unless its
				      policy rule says (rx-memory=; default 16 MiB) */
	bool rx_sharing;	 /**< the one application reads the port's RX buffers
				      (zero copy; only with one slot) */
};

/** Defaults for every field. */
void dl_service_conf_defaults(struct dl_service_conf *c);

/** dlibosd's options, for the argument parser (struct dl_app_args). */
extern const struct dl_app_opt dl_service_opts[];
extern const unsigned dl_service_n_opts;

/** Apply one of dl_service_opts. 0, or -1 with err written. */
int dl_service_parse_opt(struct dl_service_conf *c, int key, const char *value, char *err,
			 size_t errlen);

struct dl_service;

/**
 * Load the policy, seal the RX region, bind the control socket. Call once
 * the engine exists, before the cores run.
 * @param ip, prefix_len our address, told to applications.
 * @return the service or NULL (the reason printed).
 */
struct dl_service *dl_service_create(const struct dl_service_conf *c, struct dl_engine *e,
				     struct dl_nic *nic, uint32_t ip, uint8_t prefix_len);

/** Start the control thread. 0 or -1. */
int dl_service_start(struct dl_service *s);

/**
 * Stop the control thread (the cores may still run or not); attached
 * applications are told the service is stopping. Their slots stay until
 * dl_service_release_slots().
 */
void dl_service_stop(struct dl_service *s);

/**
 * With the cores stopped: detach and release every slot (their connections
 * were aborted by dl_engine_stop or are aborted here), close the
 * applications' connections.
 */
void dl_service_release_slots(struct dl_service *s);

/** Unmap what is left, remove the socket, free everything (after the port closed). */
void dl_service_destroy(struct dl_service *s);

/**
 * The whole life of the protected-mode service, dlibosd: the runtime's
 * (dl_runtime_main()) without an application, every lcore a network core,
 * plus the control plane above and dlibosd's options (--ctl, --policy,
 * --app-slots, --app-cores-max, --max-bad-commands).
 * @return the exit status, as dl_runtime_main().
 */
int dl_service_main(int argc, char **argv, const char *prog, const char *summary);

#endif /* DL_SERVICE_H */
