/*
 * dl_impair.h - a fault-injection NIC that wraps another NIC.
 *
 * dl_impair_wrap() returns a struct dl_nic whose operations forward to an
 * inner NIC after applying, in BOTH directions and independently per queue,
 * seeded random impairments:
 *
 *   loss     drop the frame (RX: buffer freed; TX: header buffer freed);
 *   corrupt  flip one byte. RX: anywhere in the frame, and the device's
 *            "checksum good" flags are cleared so the stack re-verifies.
 *            TX: checksums are first computed in software, then a byte of
 *            the IP/L4 header buffer is flipped (never application payload
 *            memory), so the receiver sees a bad checksum. A TSO packet that
 *            would need segmenting cannot be corrupted that way; it is
 *            dropped instead, as a real link's FCS check would (counted);
 *   dup      send/deliver the frame twice (RX: a copy in the shim's own
 *            buffer pool; TX: a second header buffer with a copy of the
 *            headers, payload fragments shared);
 *   reorder  hold the frame back and release it right after the next one
 *            (or after max(delay_us, 1 ms) if no next one comes);
 *   delay    hold every frame until now + delay_us.
 *
 * Decisions come from a per-queue, per-direction xorshift generator seeded
 * from `seed`, so the same seed and the same traffic give the same
 * decisions. Time comes from a clock function (dl_now_us by default) so
 * tests can drive a virtual clock.
 *
 * Frames held for TX (delay, reorder, or a full inner ring) are released
 * from later rx_burst/tx_burst calls on the same queue: the runtime polls
 * rx_burst every iteration, which is what makes delays expire. Private
 * (DL_REGION_NONE) payload fragments of held TX packets are copied, since
 * their memory is only valid during the tx_burst call. Application
 * fragments are referenced as usual.
 *
 * Counters: module "impair", one block per queue. close() frees every held
 * buffer, then closes the inner NIC.
 */
#ifndef DL_IMPAIR_H
#define DL_IMPAIR_H

#include "dl_hal.h"

#include <stdbool.h>
#include <stdint.h>

/** Impairment parameters (fractions in [0, 1]). */
struct dl_impair_config {
	double loss;
	double reorder;
	double dup;
	double corrupt;
	uint32_t delay_us;
	uint64_t seed;
	/** Clock (microseconds); NULL = dl_now_us. */
	uint64_t (*now)(void *arg);
	void *now_arg;
};

/** Frames a queue holds at most per direction (delay line). */
#define DL_IMPAIR_HOLD_MAX 4096

/**
 * Wrap `inner`. The returned NIC copies inner's fields (MAC, MTU, queues,
 * caps, rx_region) and owns inner: closing it closes inner.
 * @return the NIC, or NULL (errno set: EINVAL for a bad config, ENOMEM).
 */
struct dl_nic *dl_impair_wrap(struct dl_nic *inner, const struct dl_impair_config *cfg);

/** True if cfg impairs anything (a zero config is a no-op). */
bool dl_impair_active(const struct dl_impair_config *cfg);

/** Frames currently held by the shim on all queues (tests: leak checks). */
unsigned dl_impair_held(const struct dl_nic *nic);

/** Shim buffers (RX duplicates) currently allocated (tests: leak checks). */
unsigned dl_impair_bufs_in_use(const struct dl_nic *nic);

#endif
