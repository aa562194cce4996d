/*
 * mde_model.h - control and inspection of the MDE model, for tests only.
 *
 * The model (this folder) implements the gxio/tmc declarations under
 * include/ as a strict device model: misuse that the real mPIPE or UDN
 * would punish (a double push, a credit returned twice, an egress address
 * outside the registered pages, a send outside the hardwall) is detected,
 * counted and reported on stderr as "mde-model: guest error: ...", like
 * QEMU's LOG_GUEST_ERROR. With MDE_MODEL_FATAL=1 in the environment (or
 * mde_model_set_fatal(true)) a guest error aborts the process, which is
 * what the integration tests use.
 *
 * Besides loopN and tap:IFNAME, the model has a test wire, mem:NAME: frames
 * given to mde_model_link_inject() arrive on it, and frames the mPIPE sends
 * on it are kept for mde_model_link_capture().
 *
 * Nothing in drivers/tilegx may include this header: the driver sees only
 * the MDE's names.
 */
#ifndef MDE_MODEL_H
#define MDE_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Counters of one mPIPE shim model (all monotonic). */
struct mde_model_mpipe_counters {
	uint64_t guest_errors;		  /**< every guest error below, summed */
	uint64_t stack_double_push;	  /**< push of a buffer already on its stack */
	uint64_t stack_push_unregistered; /**< push of a buffer outside the stack's pages */
	uint64_t stack_bad_stack;	  /**< push/pop on a stack not allocated/initialised */
	uint64_t stack_overflow;	  /**< push beyond the stack memory's capacity */
	uint64_t stack_pop_empty;	  /**< pop from an empty stack (not an error: NULL) */
	uint64_t credit_overflow;	  /**< more ring credits returned than descriptors taken */
	uint64_t edma_fault;		  /**< egress bytes outside the stack's registered pages */
	uint64_t edma_bad_desc;	   /**< reserved bits, chaining, bad checksum offsets, hwb size */
	uint64_t edma_packets;	   /**< packets egressed */
	uint64_t edma_ns_packets;  /**< packets with ns set (not sent) */
	uint64_t edma_hwb_returns; /**< buffers pushed back by hwb */
	uint64_t edma_csum;	   /**< checksums inserted */
	uint64_t edma_link_down;   /**< packets discarded on a down link */
	uint64_t ingress_packets;  /**< frames arrived from the wire */
	uint64_t ingress_drop_no_rule;	 /**< no classifier rule for the channel */
	uint64_t ingress_drop_bad_ipv4;	 /**< bad IPv4 header checksum */
	uint64_t ingress_drop_ring_full; /**< notif ring without credit */
	uint64_t ingress_drop_too_long;	 /**< no stack buffer large enough */
	uint64_t ingress_be;		 /**< descriptors with be (stack empty) */
	uint64_t ingress_fault;		 /**< ingress DMA outside the stack's pages */
};

/** Counters of the shim a context was opened on. 0 or -1 (no such context). */
int mde_model_mpipe_counters(int instance, struct mde_model_mpipe_counters *c);

/** Guest errors abort the process (true) or are only counted and logged. */
void mde_model_set_fatal(bool fatal);

/**
 * Put a frame on the wire of an open mem: or loop link (it arrives as if
 * received). 0, -ENODEV (no such open link) or -ENOBUFS (wire queue full).
 */
int mde_model_link_inject(const char *link_name, const void *frame, size_t len);

/**
 * Take the oldest frame an open mem: link transmitted: its length (copied
 * up to cap bytes), or 0 when none is waiting.
 */
size_t mde_model_link_capture(const char *link_name, void *buf, size_t cap);

/** Wait up to timeout_ms for a frame to capture (as mde_model_link_capture). */
size_t mde_model_link_capture_wait(const char *link_name, void *buf, size_t cap,
				   unsigned timeout_ms);

/** UDN model configuration (0 fields keep the current value). */
struct mde_model_udn_config {
	unsigned width, height; /**< tile grid (default 6 x 6) */
	unsigned fifo_words;	/**< switch FIFO capacity (default 16) */
	unsigned demux_words;	/**< each demux queue's capacity (default 32) */
	unsigned watchdog_ms;	/**< a send stalled longer aborts (default 5000) */
};

/** Configure the UDN model; only before tmc_udn_init(). 0 or -EBUSY/-EINVAL. */
int mde_model_udn_configure(const struct mde_model_udn_config *cfg);

/** UDN counters of one tile, or of all tiles with cpu -1. */
struct mde_model_udn_stats {
	uint64_t packets_sent, words_sent;
	uint64_t send_stalls;  /**< sends that found the FIFO full and blocked */
	uint64_t recv_stalls;  /**< receives that found the queue empty and blocked */
	uint64_t max_stall_us; /**< longest send stall */
};
void mde_model_udn_stats(int cpu, struct mde_model_udn_stats *st);

#ifdef __cplusplus
}
#endif

#endif
