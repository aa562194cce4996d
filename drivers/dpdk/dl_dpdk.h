/*
 * dl_dpdk.h - entry points of the DPDK backend used inside drivers/dpdk
 * (the runtime reaches them through dl_platform.h).
 */
#ifndef DL_DPDK_H
#define DL_DPDK_H

#include "dl_platform.h"

/** Open, configure and start an ethdev port (see dl_platform_nic_open). */
struct dl_nic *dl_dpdk_nic_open(const struct dl_nic_params *p);

/**
 * After rte_eal_init(): DLibOS log types as DPDK log types, telemetry
 * commands served by DPDK's telemetry library, rte_pdump (observe.c).
 */
void dl_dpdk_observe_init(void);

/** Before rte_eal_cleanup(): undo dl_dpdk_observe_init(). */
void dl_dpdk_observe_fini(void);

#endif
