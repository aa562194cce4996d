/*
 * dl_offload.h - software fallbacks for transmit offloads.
 *
 * Backends whose device lacks checksum offload or TSO call these so that the
 * stack can always request offload (dl_tx_pkt.ol_flags) and never computes a
 * transmit checksum itself. They read the header bytes and the payload
 * fragments in place; only dl_tx_flatten/dl_tx_sw_segment copy (for devices
 * that cannot gather, and for the in-memory wire).
 */
#ifndef DL_OFFLOAD_H
#define DL_OFFLOAD_H

#include "dl_hal.h"

/** Payload bytes of a packet (sum of fragment lengths). */
size_t dl_tx_payload_len(const struct dl_tx_pkt *pkt);

/**
 * Fill, in hdr, the checksums pkt->ol_flags asks for (IPv4 header, TCP/UDP
 * with pseudo-header, ICMP), summing the payload fragments in place.
 * The packet must not need segmentation (no DL_TX_TSO, or payload not above
 * tso_segsz). Clears the satisfied flags from pkt->ol_flags.
 */
void dl_tx_sw_cksum(struct dl_tx_pkt *pkt, uint8_t *hdr);

/** Copy header then fragments into out. @return frame bytes, 0 if cap is too small. */
size_t dl_tx_flatten(const struct dl_tx_pkt *pkt, const uint8_t *hdr, uint8_t *out, size_t cap);

/** Receives one finished frame from dl_tx_sw_segment(). */
typedef void (*dl_tx_emit_fn)(void *arg, const uint8_t *frame, size_t len);

/**
 * Software TSO: cut a TCP packet into frames of at most tso_segsz payload
 * bytes (one frame if it is not DL_TX_TSO), fix IPv4 total length and id,
 * TCP sequence numbers and flags (FIN and PSH only on the last), fill every
 * requested checksum, and hand each flat frame to emit. `scratch` of `cap`
 * bytes holds one frame at a time. A frame with l3_len 0 (not IP, e.g.
 * ARP) is emitted unchanged.
 * @return number of frames emitted, or -1 if a frame does not fit in cap.
 */
int dl_tx_sw_segment(const struct dl_tx_pkt *pkt, const uint8_t *hdr, uint8_t *scratch,
		     size_t cap, dl_tx_emit_fn emit, void *arg);

#endif
