/*
 * dl_memwire.h - an in-memory Ethernet wire between two HAL NICs.
 *
 * Frames a side transmits are finished in software (checksums, TSO via
 * dl_offload.h), copied into a buffer of the shared pool and queued on the
 * other side's RX FIFO (one per queue). No clock, no threads: deterministic, so tests and
 * callgrind benchmarks of the stack can run without DPDK or a kernel. Tests
 * can also inject crafted frames and pop what a side transmitted.
 *
 * All RX buffers live in one dl_region, like a real backend's, so zero-copy
 * (region, offset) references work; a side can steer the TCP segments to a
 * local port into buffers of another region (rx_steer), as a NIC with flow
 * rules and a queue per region does. Single-threaded use only.
 */
#ifndef DL_MEMWIRE_H
#define DL_MEMWIRE_H

#include "dl_hal.h"

struct dl_memwire;

/** Wire configuration (zero fields take defaults). */
struct dl_memwire_config {
	uint32_t nbufs;     /**< buffers in the shared pool (default 8192) */
	uint32_t fifo_len;  /**< frames queued per direction before drops (default 4096) */
	uint16_t mtu;       /**< IP MTU (default 1500) */
	unsigned nqueues;   /**< RX/TX queues per side (default 1, at most 16); IPv4
				 frames are steered by a hash that differs from the
				 stack's, like a device without RSS */
	bool no_tso;        /**< do not offer TSO */
	bool no_steer;      /**< do not offer rx_steer (DL_NIC_CAP_RX_STEER) */
	uint8_t mac[2][6];  /**< MACs of side 0 and 1 (default 02:00:00:00:00:01/02) */
};

/** Create a wire and its two NICs. NULL on allocation failure. */
struct dl_memwire *dl_memwire_create(const struct dl_memwire_config *cfg);

/** Destroy the wire; frees queued frames. The NICs become invalid. */
void dl_memwire_destroy(struct dl_memwire *w);

/** The NIC of side 0 or 1. Its close op does nothing. */
struct dl_nic *dl_memwire_nic(struct dl_memwire *w, int side);

/** Queue a crafted frame for side `side` to receive. 0 or -ENOBUFS/-EMSGSIZE. */
int dl_memwire_inject(struct dl_memwire *w, int side, const uint8_t *frame, size_t len);

/**
 * Take the next frame queued for side `side` (i.e. sent by the other side)
 * without delivering it. Copies at most cap bytes. @return frame length, or
 * 0 when none is queued.
 */
size_t dl_memwire_pop(struct dl_memwire *w, int side, uint8_t *out, size_t cap);

/** Frames queued for side `side`. */
unsigned dl_memwire_pending(const struct dl_memwire *w, int side);

/** Buffers currently allocated (queued, held by a stack, or in flight). */
unsigned dl_memwire_bufs_in_use(const struct dl_memwire *w);

/** Frames dropped because a FIFO or the pool was full. */
uint64_t dl_memwire_drops(const struct dl_memwire *w);

#endif
