/*
 * dl_capture.h - packet capture at the NIC: every frame a port receives
 * and transmits, on every queue, copied to a file while the port runs.
 *
 * The hook is a NIC shim like the impairment shim (dl_impair.h), with one
 * difference: it costs nothing while no capture runs. Instead of wrapping
 * the port in another struct dl_nic for its whole life, dl_capture_start()
 * swaps the port's operation table (nic->ops, one aligned pointer store)
 * for the capture's, whose rx_burst/tx_burst call the port's own and copy
 * the frames; dl_capture_detach() swaps it back. Without a capture the
 * cores call the port's functions exactly as before.
 *
 *   RX  the port's rx_burst, then each frame received is copied;
 *   TX  each frame is copied before the port's tx_burst (the port may
 *       free a header buffer as soon as it has it), and the copies of
 *       the frames it accepted are kept (a refused frame is offered
 *       again later and copied again then).
 *
 * A copy is the frame's first snaplen bytes (header buffer, then payload
 * fragments: what the wire carries) with its original length, queue,
 * direction and a timestamp from the sink. Transmit checksums the port
 * fills in hardware (DL_TX_*) are filled in the copy (as the wire will
 * have them) when the frame is whole in it and needs no segmentation; a
 * TSO packet is recorded as the one large frame the stack handed over,
 * as tcpdump shows GSO packets on Linux.
 *
 * Copies go into a ring per queue (single producer: the queue's core;
 * single consumer: the capture's writer thread), which the writer thread
 * drains into the sink. The cores never wait and never make a system
 * call: a full ring drops the copy (counted), the port's traffic never.
 * After max_frames copies the capture takes no more (counted as "over
 * the limit"; the file is complete).
 *
 * The sink is the platform's (dl_platform_capture_sink(): drivers/dpdk
 * writes pcapng with DPDK's pcapng library); tests give their own.
 *
 * Life: dl_capture_start() (control thread) -> frames flow ->
 * dl_capture_detach() (the ops are the port's again, but a core that
 * loaded the capture's table just before may still be inside it until
 * the end of its loop iteration) -> the caller waits for every core that
 * polls the port to finish one more iteration (or for the cores to have
 * stopped) -> dl_capture_finish() (the writer drains, the sink closes,
 * everything is freed). One capture per process at a time.
 */
#ifndef DL_CAPTURE_H
#define DL_CAPTURE_H

#include "dl_hal.h"

#include <stdbool.h>
#include <stdint.h>

/** Frame direction. */
enum dl_capture_dir { DL_CAPTURE_RX = 1, DL_CAPTURE_TX = 2 };

/** One copied frame, as the writer thread hands it to the sink. */
struct dl_capture_rec {
	uint32_t orig_len; /**< frame length on the wire */
	uint32_t cap_len;  /**< bytes copied (<= snaplen) */
	uint64_t stamp;	   /**< the sink's timestamp (dl_capture_sink_ops.stamp) */
	uint16_t queue;
	uint8_t dir; /**< enum dl_capture_dir */
};

struct dl_capture_sink;

/** What a sink does; stamp() runs on the cores, the rest on the writer thread. */
struct dl_capture_sink_ops {
	/** A timestamp for the frames of one burst (cheap: a cycle counter). */
	uint64_t (*stamp)(struct dl_capture_sink *s);
	/** Write one frame. 0, or a negative errno (counted, the capture goes on). */
	int (*write)(struct dl_capture_sink *s, const struct dl_capture_rec *r,
		     const uint8_t *data);
	/** Optional: push what write() buffered to the file (the rings are empty). */
	void (*flush)(struct dl_capture_sink *s);
	/**
	 * The capture is over: write the trailer (@p received frames copied,
	 * @p dropped lost to full rings or failed writes), close, free the sink.
	 */
	void (*close)(struct dl_capture_sink *s, uint64_t received, uint64_t dropped);
};

/** A sink: backends embed it first in their own state. */
struct dl_capture_sink {
	const struct dl_capture_sink_ops *ops;
	uint32_t max_snaplen; /**< longest frame copy it writes (0: any); the capture's
				   snap length is cut to it */
};

/** Capture options. Zero fields take the defaults. */
struct dl_capture_conf {
	uint32_t snaplen;    /**< bytes kept per frame (default 65535, at most 262144) */
	uint64_t max_frames; /**< frames copied at most (0: no limit) */
	uint32_t ring_kb;    /**< ring per queue in KiB (default 4096) */
};

/** Default and largest snap length. */
#define DL_CAPTURE_SNAPLEN_DEFAULT 65535u
#define DL_CAPTURE_SNAPLEN_MAX	   262144u

/** Counters of a capture (dl_capture_stats()). */
struct dl_capture_stats {
	uint64_t rx_frames, tx_frames; /**< frames copied */
	uint64_t bytes;		       /**< bytes copied */
	uint64_t dropped_ring_full;    /**< copies lost: the queue's ring was full */
	uint64_t over_limit;	       /**< frames not copied: max_frames reached */
	uint64_t written;	       /**< frames the sink wrote */
	uint64_t write_errors;	       /**< frames the sink failed to write */
	bool limit_reached;	       /**< max_frames copied: nothing more will be */
};

struct dl_capture;

/**
 * Start capturing every queue of @p nic into @p sink (which the capture
 * owns from now on, even on failure: closed then). Starts the writer
 * thread (dl_platform_thread_start()), then swaps the port's operations.
 * @return the capture, or NULL with @p err written (-EBUSY: another
 *         capture runs; out of memory; no thread).
 */
struct dl_capture *dl_capture_start(struct dl_nic *nic, struct dl_capture_sink *sink,
				    const struct dl_capture_conf *conf, char *err, size_t errlen);

/** Give the port its own operations back (see the top for what follows). */
void dl_capture_detach(struct dl_capture *cap);

/**
 * After dl_capture_detach() and one more loop iteration of every core
 * polling the port: drain the rings into the sink, close it, free all.
 * @p st (may be NULL) receives the final counters. Safe on NULL.
 */
void dl_capture_finish(struct dl_capture *cap, struct dl_capture_stats *st);

/** The counters so far (any thread; a racy but consistent-enough read). */
void dl_capture_stats(const struct dl_capture *cap, struct dl_capture_stats *st);

/** The configuration in force (defaults resolved). */
const struct dl_capture_conf *dl_capture_conf(const struct dl_capture *cap);

/** True while the port's operations are the capture's. */
bool dl_capture_attached(const struct dl_capture *cap);

/**
 * A sink writing a classic pcap file (nanosecond timestamps, Ethernet),
 * which tcpdump and wireshark read, for platforms without a capture
 * writer of their own (TILE-Gx's dl_platform_capture_sink()). The file
 * is created 0600 and truncated; a symbolic link is refused. Queue and
 * direction are not recorded (the format has no field for them).
 * @return the sink, or NULL with @p err written.
 */
struct dl_capture_sink *dl_pcap_sink_open(const char *path, uint32_t snaplen, char *err,
					  size_t errlen);

#endif /* DL_CAPTURE_H */
