/*
 * offload.c - software checksum and segmentation for transmit (see
 * dl_offload.h). Offsets follow the Ethernet/IPv4/L4 layout described by
 * the l2_len/l3_len/l4_len fields of struct dl_tx_pkt.
 */
#include "dl_offload.h"
#include "dl_cksum.h"

#include <string.h>

#define IP_PROTO_ICMP 1
#define IP_PROTO_TCP 6
#define IP_PROTO_UDP 17

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_PSH 0x08

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	put_be16(p, (uint16_t)(v >> 16));
	put_be16(p + 2, (uint16_t)v);
}

size_t dl_tx_payload_len(const struct dl_tx_pkt *pkt)
{
	size_t n = 0;

	for (unsigned i = 0; i < pkt->nfrags; i++)
		n += pkt->frag[i].len;
	return n;
}

/* Sum of the L4 part of the header (hdr_len - l2 - l3 bytes) plus the
 * payload fragments, with the pseudo-header for TCP/UDP. */
static uint16_t l4_cksum(const struct dl_tx_pkt *pkt, const uint8_t *ip, uint8_t proto,
			 const uint8_t *l4, size_t l4_hdr_bytes, size_t payload)
{
	uint64_t sum = dl_cksum_raw(l4, l4_hdr_bytes);
	size_t off = l4_hdr_bytes;
	uint16_t c;

	if (proto != IP_PROTO_ICMP) {
		uint32_t src, dst;
		memcpy(&src, ip + 12, 4);
		memcpy(&dst, ip + 16, 4);
		sum += dl_cksum_pseudo(src, dst, proto, (uint16_t)(l4_hdr_bytes + payload));
	}
	for (unsigned i = 0; i < pkt->nfrags; i++) {
		sum = dl_cksum_frag(sum, pkt->frag[i].data, pkt->frag[i].len, off);
		off += pkt->frag[i].len;
	}
	c = (uint16_t)~dl_cksum_fold(sum);
	/* UDP transmits an all-zero sum as 0xffff (RFC 768). */
	if (proto == IP_PROTO_UDP && c == 0)
		c = 0xffff;
	return c;
}

void dl_tx_sw_cksum(struct dl_tx_pkt *pkt, uint8_t *hdr)
{
	uint8_t *ip = hdr + pkt->l2_len;
	uint8_t *l4 = ip + pkt->l3_len;
	size_t l4_hdr_bytes = pkt->hdr_len - pkt->l2_len - pkt->l3_len;
	size_t payload = dl_tx_payload_len(pkt);
	uint16_t c;

	if (pkt->ol_flags & DL_TX_IP_CKSUM) {
		memset(ip + 10, 0, 2);
		c = dl_cksum(ip, pkt->l3_len);
		memcpy(ip + 10, &c, 2);
	}
	if (pkt->ol_flags & DL_TX_TCP_CKSUM) {
		memset(l4 + 16, 0, 2);
		c = l4_cksum(pkt, ip, IP_PROTO_TCP, l4, l4_hdr_bytes, payload);
		memcpy(l4 + 16, &c, 2);
	} else if (pkt->ol_flags & DL_TX_UDP_CKSUM) {
		memset(l4 + 6, 0, 2);
		c = l4_cksum(pkt, ip, IP_PROTO_UDP, l4, l4_hdr_bytes, payload);
		memcpy(l4 + 6, &c, 2);
	} else if (pkt->ol_flags & DL_TX_ICMP_CKSUM) {
		memset(l4 + 2, 0, 2);
		c = l4_cksum(pkt, ip, IP_PROTO_ICMP, l4, l4_hdr_bytes, payload);
		memcpy(l4 + 2, &c, 2);
	}
	pkt->ol_flags &= (uint16_t)~(DL_TX_IP_CKSUM | DL_TX_TCP_CKSUM | DL_TX_UDP_CKSUM |
				     DL_TX_ICMP_CKSUM);
}

size_t dl_tx_flatten(const struct dl_tx_pkt *pkt, const uint8_t *hdr, uint8_t *out, size_t cap)
{
	size_t n = pkt->hdr_len;

	if (n > cap)
		return 0;
	memcpy(out, hdr, n);
	for (unsigned i = 0; i < pkt->nfrags; i++) {
		if (pkt->frag[i].len > cap - n)
			return 0;
		memcpy(out + n, pkt->frag[i].data, pkt->frag[i].len);
		n += pkt->frag[i].len;
	}
	return n;
}

/* Copy `len` payload bytes starting at payload offset `from` into out. */
static void copy_payload(const struct dl_tx_pkt *pkt, size_t from, size_t len, uint8_t *out)
{
	for (unsigned i = 0; i < pkt->nfrags && len > 0; i++) {
		size_t fl = pkt->frag[i].len;
		if (from >= fl) {
			from -= fl;
			continue;
		}
		size_t take = fl - from < len ? fl - from : len;
		memcpy(out, pkt->frag[i].data + from, take);
		out += take;
		len -= take;
		from = 0;
	}
}

int dl_tx_sw_segment(const struct dl_tx_pkt *pkt, const uint8_t *hdr, uint8_t *scratch,
		     size_t cap, dl_tx_emit_fn emit, void *arg)
{
	size_t payload = dl_tx_payload_len(pkt);
	size_t seg = payload;
	int nseg = 0;

	if ((pkt->ol_flags & DL_TX_TSO) && pkt->tso_segsz > 0 && payload > pkt->tso_segsz)
		seg = pkt->tso_segsz;
	if (pkt->hdr_len + seg > cap)
		return -1;

	/* Not an IP frame (e.g. ARP): nothing to fix, copy it out as is. */
	if (pkt->l3_len == 0) {
		size_t n = dl_tx_flatten(pkt, hdr, scratch, cap);
		if (n == 0)
			return -1;
		emit(arg, scratch, n);
		return 1;
	}

	const uint8_t *ip0 = hdr + pkt->l2_len;
	uint16_t id0 = get_be16(ip0 + 4);
	uint32_t seq0 = get_be32(ip0 + pkt->l3_len + 4);
	uint8_t flags0 = ip0[pkt->l3_len + 13];
	uint8_t proto = ip0[9];
	size_t off = 0;

	do {
		size_t n = payload - off < seg ? payload - off : seg;
		bool last = off + n >= payload;
		uint8_t *ip = scratch + pkt->l2_len;
		uint8_t *l4 = ip + pkt->l3_len;
		struct dl_tx_pkt one = *pkt;

		memcpy(scratch, hdr, pkt->hdr_len);
		copy_payload(pkt, off, n, scratch + pkt->hdr_len);
		put_be16(ip + 2, (uint16_t)(pkt->hdr_len - pkt->l2_len + n));
		if (seg != payload) {
			put_be16(ip + 4, (uint16_t)(id0 + nseg));
			if (proto == IP_PROTO_TCP) {
				put_be32(l4 + 4, seq0 + (uint32_t)off);
				if (!last)
					l4[13] = flags0 & (uint8_t) ~(TCP_FLAG_FIN | TCP_FLAG_PSH);
			}
		}
		/* Checksum the flat frame: one fragment = the payload copy. */
		one.nfrags = n ? 1 : 0;
		one.frag[0].data = scratch + pkt->hdr_len;
		one.frag[0].len = (uint32_t)n;
		dl_tx_sw_cksum(&one, scratch);
		emit(arg, scratch, pkt->hdr_len + n);
		nseg++;
		off += n;
	} while (off < payload);
	return nseg;
}
