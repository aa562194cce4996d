/*
 * dl_wire.h - wire formats: parse (validate once, produce a checked
 * representation) and build (write a header into a buffer) for Ethernet,
 * ARP, IPv4 and ICMP. TCP's wire format is in dl_tcp_wire.h.
 *
 * Parsers never read outside [buf, buf+len) and return a dl_wire_err
 * naming what is wrong; behaviour code (eth.c, arp.c, ipv4.c, icmp.c) turns
 * each error into a counted drop. Multi-byte fields in the representations
 * are in host byte order.
 */
#ifndef DL_WIRE_H
#define DL_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Parse results. 0 is success. */
enum dl_wire_err {
	DL_WIRE_OK = 0,
	DL_WIRE_TRUNCATED,     /**< buffer shorter than the header or stated length */
	DL_WIRE_BAD_VERSION,   /**< IPv4 version != 4 */
	DL_WIRE_BAD_IHL,       /**< IHL < 5 or past the buffer */
	DL_WIRE_BAD_LENGTH,    /**< total length smaller than the header */
	DL_WIRE_BAD_CHECKSUM,  /**< checksum does not verify */
	DL_WIRE_BAD_FORMAT,    /**< ARP hardware/protocol type or sizes unsupported */
	DL_WIRE_BAD_OPCODE,    /**< ARP operation not request/reply */
};

/** Human-readable name of a parse error. */
const char *dl_wire_strerror(enum dl_wire_err e);

/* --- Ethernet -------------------------------------------------------------- */

#define DL_ETH_HLEN 14
#define DL_ETHERTYPE_IPV4 0x0800
#define DL_ETHERTYPE_ARP 0x0806
#define DL_ETHERTYPE_VLAN 0x8100

struct dl_eth_hdr {
	uint8_t dst[6];
	uint8_t src[6];
	uint16_t type;
};

/** Parse an Ethernet II header. */
enum dl_wire_err dl_eth_parse(const uint8_t *buf, size_t len, struct dl_eth_hdr *out);

/** Write an Ethernet header (14 bytes). */
void dl_eth_build(uint8_t *buf, const uint8_t dst[6], const uint8_t src[6], uint16_t type);

static inline bool dl_mac_is_broadcast(const uint8_t m[6])
{
	return (m[0] & m[1] & m[2] & m[3] & m[4] & m[5]) == 0xff;
}

static inline bool dl_mac_is_multicast(const uint8_t m[6])
{
	return (m[0] & 1) != 0; /* includes broadcast */
}

static inline bool dl_mac_is_zero(const uint8_t m[6])
{
	return (m[0] | m[1] | m[2] | m[3] | m[4] | m[5]) == 0;
}

/* --- ARP (RFC 826), Ethernet/IPv4 only ------------------------------------- */

#define DL_ARP_LEN 28
#define DL_ARP_REQUEST 1
#define DL_ARP_REPLY 2

struct dl_arp_pkt {
	uint16_t op;
	uint8_t sha[6]; /**< sender hardware address */
	uint32_t spa;   /**< sender protocol address */
	uint8_t tha[6];
	uint32_t tpa;
};

/** Parse an ARP packet (the Ethernet payload). */
enum dl_wire_err dl_arp_parse(const uint8_t *buf, size_t len, struct dl_arp_pkt *out);

/** Write a 28-byte ARP packet. */
void dl_arp_build(uint8_t *buf, const struct dl_arp_pkt *p);

/* --- IPv4 (RFC 791) -------------------------------------------------------- */

#define DL_IPV4_HLEN 20
#define DL_IPPROTO_ICMP 1
#define DL_IPPROTO_TCP 6
#define DL_IPPROTO_UDP 17

#define DL_IPV4_DF 0x4000
#define DL_IPV4_MF 0x2000
#define DL_IPV4_OFFMASK 0x1fff

struct dl_ipv4_hdr {
	uint8_t ihl_bytes;  /**< header length in bytes (20..60) */
	uint8_t tos;
	uint16_t total_len; /**< header + payload */
	uint16_t id;
	uint16_t frag;      /**< flags + fragment offset */
	uint8_t ttl;
	uint8_t proto;
	uint32_t src;
	uint32_t dst;
};

/**
 * Parse and validate an IPv4 header: version, IHL, total length against
 * the buffer (trailing Ethernet padding allowed), and the header checksum
 * unless `csum_ok` says the NIC verified it.
 */
enum dl_wire_err dl_ipv4_parse(const uint8_t *buf, size_t len, bool csum_ok,
			       struct dl_ipv4_hdr *out);

/**
 * Write a 20-byte IPv4 header (no options). The checksum field is left zero
 * when `csum` is false (offload requested), else computed.
 */
void dl_ipv4_build(uint8_t *buf, const struct dl_ipv4_hdr *h, bool csum);

static inline bool dl_ipv4_is_fragment(const struct dl_ipv4_hdr *h)
{
	return (h->frag & (DL_IPV4_MF | DL_IPV4_OFFMASK)) != 0;
}

/* --- ICMP (RFC 792) -------------------------------------------------------- */

#define DL_ICMP_HLEN 8
#define DL_ICMP_ECHO_REPLY 0
#define DL_ICMP_DEST_UNREACH 3
#define DL_ICMP_SOURCE_QUENCH 4
#define DL_ICMP_ECHO_REQUEST 8
#define DL_ICMP_TIME_EXCEEDED 11
#define DL_ICMP_PARAM_PROBLEM 12

struct dl_icmp_hdr {
	uint8_t type;
	uint8_t code;
	uint16_t cksum; /**< as on the wire (network order bytes, memcpy'd) */
	uint16_t id;    /**< echo identifier (host order) */
	uint16_t seq;   /**< echo sequence (host order) */
};

/** Parse an ICMP message of `len` bytes, verifying its checksum over all of it. */
enum dl_wire_err dl_icmp_parse(const uint8_t *buf, size_t len, struct dl_icmp_hdr *out);

/* --- byte order helpers ---------------------------------------------------- */

static inline uint16_t dl_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t dl_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void dl_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void dl_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

#endif /* DL_WIRE_H */
