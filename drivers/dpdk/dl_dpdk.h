/*
 * dl_dpdk.h - entry points of the DPDK backend used inside drivers/dpdk
 * (the runtime reaches them through dl_platform.h).
 */
#ifndef DL_DPDK_H
#define DL_DPDK_H

#include "dl_platform.h"

/** Open, configure and start an ethdev port (see dl_platform_nic_open). */
struct dl_nic *dl_dpdk_nic_open(const struct dl_nic_params *p);

#endif
