/*
 * wire.c - parsers and builders for Ethernet, ARP, IPv4 and ICMP headers
 * (see dl_wire.h). Every parser checks the length before each read.
 */
#include "dl_wire.h"
#include "dl_cksum.h"

#include <string.h>

const char *dl_wire_strerror(enum dl_wire_err e)
{
	switch (e) {
	case DL_WIRE_OK:
		return "ok";
	case DL_WIRE_TRUNCATED:
		return "truncated";
	case DL_WIRE_BAD_VERSION:
		return "bad version";
	case DL_WIRE_BAD_IHL:
		return "bad header length";
	case DL_WIRE_BAD_LENGTH:
		return "bad total length";
	case DL_WIRE_BAD_CHECKSUM:
		return "bad checksum";
	case DL_WIRE_BAD_FORMAT:
		return "unsupported format";
	case DL_WIRE_BAD_OPCODE:
		return "bad opcode";
	}
	return "unknown";
}

enum dl_wire_err dl_eth_parse(const uint8_t *buf, size_t len, struct dl_eth_hdr *out)
{
	if (len < DL_ETH_HLEN)
		return DL_WIRE_TRUNCATED;
	memcpy(out->dst, buf, 6);
	memcpy(out->src, buf + 6, 6);
	out->type = dl_get16(buf + 12);
	return DL_WIRE_OK;
}

void dl_eth_build(uint8_t *buf, const uint8_t dst[6], const uint8_t src[6], uint16_t type)
{
	memcpy(buf, dst, 6);
	memcpy(buf + 6, src, 6);
	dl_put16(buf + 12, type);
}

enum dl_wire_err dl_arp_parse(const uint8_t *buf, size_t len, struct dl_arp_pkt *out)
{
	if (len < DL_ARP_LEN)
		return DL_WIRE_TRUNCATED;
	/* htype Ethernet, ptype IPv4, hlen 6, plen 4 */
	if (dl_get16(buf) != 1 || dl_get16(buf + 2) != DL_ETHERTYPE_IPV4 || buf[4] != 6 ||
	    buf[5] != 4)
		return DL_WIRE_BAD_FORMAT;
	out->op = dl_get16(buf + 6);
	if (out->op != DL_ARP_REQUEST && out->op != DL_ARP_REPLY)
		return DL_WIRE_BAD_OPCODE;
	memcpy(out->sha, buf + 8, 6);
	out->spa = dl_get32(buf + 14);
	memcpy(out->tha, buf + 18, 6);
	out->tpa = dl_get32(buf + 24);
	return DL_WIRE_OK;
}

void dl_arp_build(uint8_t *buf, const struct dl_arp_pkt *p)
{
	dl_put16(buf, 1);
	dl_put16(buf + 2, DL_ETHERTYPE_IPV4);
	buf[4] = 6;
	buf[5] = 4;
	dl_put16(buf + 6, p->op);
	memcpy(buf + 8, p->sha, 6);
	dl_put32(buf + 14, p->spa);
	memcpy(buf + 18, p->tha, 6);
	dl_put32(buf + 24, p->tpa);
}

enum dl_wire_err dl_ipv4_parse(const uint8_t *buf, size_t len, bool csum_ok,
			       struct dl_ipv4_hdr *out)
{
	unsigned ihl;

	if (len < DL_IPV4_HLEN)
		return DL_WIRE_TRUNCATED;
	if ((buf[0] >> 4) != 4)
		return DL_WIRE_BAD_VERSION;
	ihl = (buf[0] & 0x0fu) * 4u;
	if (ihl < DL_IPV4_HLEN || ihl > len)
		return DL_WIRE_BAD_IHL;
	out->ihl_bytes = (uint8_t)ihl;
	out->tos = buf[1];
	out->total_len = dl_get16(buf + 2);
	if (out->total_len < ihl)
		return DL_WIRE_BAD_LENGTH;
	if (out->total_len > len)
		return DL_WIRE_TRUNCATED;
	if (!csum_ok) {
		uint64_t sum;
		if (ihl == DL_IPV4_HLEN) { /* the usual header: five words */
			uint32_t w[5];
			memcpy(w, buf, sizeof(w));
			sum = (uint64_t)w[0] + w[1] + w[2] + w[3] + w[4];
		} else {
			sum = dl_cksum_raw(buf, ihl);
		}
		if (dl_cksum_fold(sum) != 0xffff)
			return DL_WIRE_BAD_CHECKSUM;
	}
	out->id = dl_get16(buf + 4);
	out->frag = dl_get16(buf + 6);
	out->ttl = buf[8];
	out->proto = buf[9];
	out->src = dl_get32(buf + 12);
	out->dst = dl_get32(buf + 16);
	return DL_WIRE_OK;
}

void dl_ipv4_build(uint8_t *buf, const struct dl_ipv4_hdr *h, bool csum)
{
	buf[0] = 0x45;
	buf[1] = h->tos;
	dl_put16(buf + 2, h->total_len);
	dl_put16(buf + 4, h->id);
	dl_put16(buf + 6, h->frag);
	buf[8] = h->ttl;
	buf[9] = h->proto;
	buf[10] = 0;
	buf[11] = 0;
	dl_put32(buf + 12, h->src);
	dl_put32(buf + 16, h->dst);
	if (csum) {
		uint16_t c = dl_cksum(buf, DL_IPV4_HLEN);
		memcpy(buf + 10, &c, 2);
	}
}

enum dl_wire_err dl_icmp_parse(const uint8_t *buf, size_t len, struct dl_icmp_hdr *out)
{
	if (len < DL_ICMP_HLEN)
		return DL_WIRE_TRUNCATED;
	if (dl_cksum(buf, len) != 0)
		return DL_WIRE_BAD_CHECKSUM;
	out->type = buf[0];
	out->code = buf[1];
	memcpy(&out->cksum, buf + 2, 2);
	out->id = dl_get16(buf + 4);
	out->seq = dl_get16(buf + 6);
	return DL_WIRE_OK;
}
