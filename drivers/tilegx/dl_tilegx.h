/*
 * dl_tilegx.h - entry points of the TILE-Gx backend inside drivers/tilegx
 * (the runtime reaches them through dl_platform.h; tests call them
 * directly to open a port on a model link).
 */
#ifndef DL_TILEGX_H
#define DL_TILEGX_H

#include "dl_platform.h"

#include <stdbool.h>

/**
 * Open an mPIPE link as a HAL port with p->nb_queues RX/TX queue pairs
 * (one notif ring and one eDMA ring each). `link` is an mPIPE link name
 * (xgbe1, gbe0, loop0; on the model also tap:IFNAME and mem:NAME). With
 * `huge` false no huge pages are used, and the buffer stacks' 16-page
 * IO-TLB limit makes every realistic size fail (with a message saying
 * so). Prints the gxio call and error on failure and returns NULL.
 */
struct dl_nic *dl_tilegx_nic_open(const struct dl_nic_params *p, const char *link, bool huge);

/** Default huge page size of the system (/proc/meminfo), 2 MiB if unknown. */
size_t dl_tilegx_huge_page_size(void);

#endif
