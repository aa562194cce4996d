/*
 * dl_platform.h - what the runtime needs from the platform beyond the NIC:
 * start-up from the command line, cores and their topology (L3 domains on
 * x86, mesh coordinates on TILE-Gx), launching a function per core,
 * threads that are not cores, NUMA-local memory, and opening the port.
 *
 * drivers/dpdk implements it with DPDK's EAL (lcores, rte_eal_remote_launch,
 * control threads, ethdev) and libnuma; drivers/tilegx with tmc (tiles,
 * tmc_alloc). The runtime, the protected-mode service and attached
 * applications create every thread and per-core allocation through this
 * header, so none of them includes DPDK or tmc.
 *
 * Core indices are DLibOS's: 0..dl_platform_core_count()-1, core 0 being
 * the main thread (DPDK's main lcore).
 *
 * Threads and memory (dl_platform_thread_*, dl_platform_zmalloc) also
 * work without dl_platform_init(): an application process attached to a
 * protected-mode service starts no EAL.
 */
#ifndef DL_PLATFORM_H
#define DL_PLATFORM_H

#include "dl_hal.h"

#include <stdbool.h>
#include <stddef.h>

/**
 * Start the platform from its own part of the command line (argv[0] plus
 * the EAL arguments, i.e. what precedes `--`). On failure prints why (and a
 * hint) and returns -1.
 */
int dl_platform_init(int argc, char **argv);

/** Release the platform (rte_eal_cleanup). */
void dl_platform_fini(void);

/** Number of cores (lcores) the platform runs. */
unsigned dl_platform_core_count(void);

/** Topology of core i (cpu, NUMA node, L3 domain; mesh x/y on TILE-Gx, else -1). */
void dl_platform_core_info(unsigned i, struct dl_core_info *ci);

/**
 * True when each core is pinned to exactly one CPU, no two cores share a
 * CPU, and at least one online CPU is left for the rest of the system.
 */
bool dl_platform_cores_exclusive(void);

/** Run fn(arg) on core i (i > 0) in its own thread. 0 or -errno. */
int dl_platform_launch(unsigned i, int (*fn)(void *), void *arg);

/** Wait for the function launched on core i (i > 0); its return value. */
int dl_platform_wait(unsigned i);

/** Zeroed, cache-aligned memory on a NUMA node (-1: any). NULL if none. */
void *dl_platform_zmalloc(size_t size, int numa_node);

/** A thread that is not one of the platform's cores. */
struct dl_thread;

/**
 * Start a thread outside the cores: a control thread (@p cpu < 0: on the
 * CPUs the cores leave free, as DPDK's control threads) or an attached
 * application's core (@p cpu >= 0: pinned to that CPU).
 * @param name shown by ps/top (cut to 15 characters).
 * @return 0 with *t set, or a negative errno.
 */
int dl_platform_thread_start(struct dl_thread **t, const char *name, int cpu, int (*fn)(void *),
			     void *arg);

/** Wait for the thread, free it; @return fn's return value. */
int dl_platform_thread_join(struct dl_thread *t);

/** Free dl_platform_zmalloc memory (NULL is fine). */
void dl_platform_free(void *p);

/** Parameters for opening a port. Zero fields take backend defaults. */
struct dl_nic_params {
	uint16_t port_id;   /**< platform port index */
	uint16_t nb_queues; /**< RX/TX queue pairs (one per net core) */
	uint16_t rx_desc;   /**< RX descriptors per queue (default 1024) */
	uint16_t tx_desc;   /**< TX descriptors per queue (default 1024) */
	uint32_t rx_bufs;   /**< RX buffers per queue (default 8192) */
	uint32_t hdr_bufs;  /**< TX header buffers per queue (default 8192) */
	bool no_hw_offload; /**< do checksums and TSO in software */
	int numa_node;	    /**< where to put pools (-1: the port's node) */
};

/** Ports the platform found. */
unsigned dl_platform_port_count(void);

/**
 * Open and start a port. Prints the reason on failure and returns NULL.
 * Close it with dl_nic_close().
 */
struct dl_nic *dl_platform_nic_open(const struct dl_nic_params *p);

/* ---- observation --------------------------------------------------------- */

struct dl_capture_sink;

/**
 * A packet-capture sink (dl_capture.h) writing the frames of port
 * @p port_id to a new file at @p path (created 0600, truncated; a
 * symbolic link is refused) in the platform's format: pcapng through
 * DPDK's pcapng library on drivers/dpdk.
 * @return the sink, or NULL with @p err written (the file cannot be made,
 *         or the platform has no capture writer).
 */
struct dl_capture_sink *dl_platform_capture_sink(const char *path, uint16_t port_id,
						 uint32_t snaplen, char *err, size_t errlen);

#endif
