/*
 * dl_tcp_wire.h - the TCP header (RFC 9293 3.1) and the options DLibOS
 * speaks: MSS, window scale and timestamps (RFC 7323), SACK-permitted and
 * SACK blocks (RFC 2018, D-SACK RFC 2883).
 *
 * dl_tcp_parse() validates once (length, data offset, option syntax) and
 * produces a checked representation in host byte order; behaviour code
 * (tcp_in.c) never looks at raw bytes again. dl_tcp_build() writes a
 * header and its options; the checksum field is left zero for the NIC (or
 * the software fallback) to fill.
 */
#ifndef DL_TCP_WIRE_H
#define DL_TCP_WIRE_H

#include "dl_wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DL_TCP_HLEN	20 /**< header without options */
#define DL_TCP_MAX_HLEN 60 /**< data offset 15 */

/* Control bits. */
#define DL_TCP_FIN 0x01
#define DL_TCP_SYN 0x02
#define DL_TCP_RST 0x04
#define DL_TCP_PSH 0x08
#define DL_TCP_ACK 0x10
#define DL_TCP_URG 0x20
#define DL_TCP_ECE 0x40
#define DL_TCP_CWR 0x80

/* Option kinds. */
#define DL_TCPOPT_EOL	 0
#define DL_TCPOPT_NOP	 1
#define DL_TCPOPT_MSS	 2
#define DL_TCPOPT_WS	 3
#define DL_TCPOPT_SACKOK 4
#define DL_TCPOPT_SACK	 5
#define DL_TCPOPT_TS	 8

/** Most SACK blocks one option carries (40 bytes of option space). */
#define DL_TCP_MAX_SACK 4

/** Largest window shift (RFC 7323 2.3). */
#define DL_TCP_MAX_WSCALE 14

/** Which options a header carries (dl_tcp_hdr.opts). */
enum dl_tcp_opt_flags {
	DL_TCP_OPT_MSS = 1u << 0,
	DL_TCP_OPT_WS = 1u << 1,
	DL_TCP_OPT_TS = 1u << 2,
	DL_TCP_OPT_SACKOK = 1u << 3,
	DL_TCP_OPT_SACK = 1u << 4, /**< nsack blocks in sack[] */
};

/** A TCP header with its options, host byte order. */
struct dl_tcp_hdr {
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t hlen;  /**< header bytes including options (20..60) */
	uint8_t flags; /**< DL_TCP_FIN ... */
	uint16_t wnd;  /**< raw window field (unscaled) */
	uint16_t urp;
	uint8_t opts;	       /**< dl_tcp_opt_flags present */
	uint8_t wscale;	       /**< DL_TCP_OPT_WS: shift, clamped to 14 */
	uint16_t mss;	       /**< DL_TCP_OPT_MSS */
	uint32_t tsval, tsecr; /**< DL_TCP_OPT_TS */
	uint8_t nsack;	       /**< DL_TCP_OPT_SACK: blocks in sack[] (1..4) */
	uint32_t sack[DL_TCP_MAX_SACK][2]; /**< [start, end) of each block, as sent */
};

/**
 * Parse a TCP segment of len bytes (the IPv4 payload). Errors:
 * DL_WIRE_TRUNCATED (shorter than 20 bytes), DL_WIRE_BAD_LENGTH (data
 * offset below 5 or past the segment), DL_WIRE_BAD_FORMAT (an option whose
 * length byte is missing, below 2 or runs past the header). Known options
 * with an unexpected length are ignored, as unknown ones are (a SACK
 * option must be 2 + 8n bytes, n = 1..4). SACK blocks are copied as sent:
 * behaviour code checks them against its sequence space.
 */
enum dl_wire_err dl_tcp_parse(const uint8_t *buf, size_t len, struct dl_tcp_hdr *out);

/**
 * True when the TCP checksum of the segment (pseudo-header with src/dst,
 * host byte order) verifies.
 */
bool dl_tcp_cksum_ok(uint32_t src, uint32_t dst, const uint8_t *seg, size_t len);

/** Bytes of a SACK option with n blocks, with its two leading NOPs. */
static inline unsigned dl_tcp_sack_len(unsigned n)
{
	return n == 0 ? 0u : 4u + 8u * n;
}

/** Bytes of options dl_tcp_build writes for h (multiple of 4). */
static inline unsigned dl_tcp_opts_len(const struct dl_tcp_hdr *h)
{
	unsigned opts = h->opts;

	return ((opts & DL_TCP_OPT_MSS) ? 4u : 0u) + ((opts & DL_TCP_OPT_WS) ? 4u : 0u) +
	       ((opts & DL_TCP_OPT_SACKOK) ? 4u : 0u) + ((opts & DL_TCP_OPT_TS) ? 12u : 0u) +
	       ((opts & DL_TCP_OPT_SACK) ? dl_tcp_sack_len(h->nsack) : 0u);
}

/** Write n SACK blocks (NOP, NOP, kind 5, length, blocks) at o. @return bytes written. */
unsigned dl_tcp_put_sack(uint8_t *o, const uint32_t (*blocks)[2], unsigned n);

/**
 * Write the header h (options per h->opts, in the order MSS, NOP+WS,
 * NOP+NOP+SACKOK, NOP+NOP+TS, NOP+NOP+SACK) at buf with a zero checksum.
 * The caller keeps the options within 40 bytes (at most 3 SACK blocks
 * with timestamps, 4 without).
 * @return the header length written (also stored in h->hlen).
 */
unsigned dl_tcp_build(uint8_t *buf, struct dl_tcp_hdr *h);

#endif /* DL_TCP_WIRE_H */
