/*
 * tcp_wire.c - TCP header and option parsing/building (see
 * dl_tcp_wire.h). The common layout of established segments (NOP, NOP,
 * timestamps) is recognised without walking the option list.
 */
#include "dl_tcp_wire.h"
#include "dl_cksum.h"

#include <arpa/inet.h>
#include <string.h>

static enum dl_wire_err parse_options(const uint8_t *o, unsigned n, struct dl_tcp_hdr *h)
{
	unsigned i = 0;

	while (i < n) {
		uint8_t kind = o[i];
		uint8_t l;

		if (kind == DL_TCPOPT_EOL)
			break;
		if (kind == DL_TCPOPT_NOP) {
			i++;
			continue;
		}
		if (i + 1 >= n)
			return DL_WIRE_BAD_FORMAT;
		l = o[i + 1];
		if (l < 2 || l > n - i)
			return DL_WIRE_BAD_FORMAT;
		switch (kind) {
		case DL_TCPOPT_MSS:
			if (l == 4) {
				h->opts |= DL_TCP_OPT_MSS;
				h->mss = dl_get16(o + i + 2);
			}
			break;
		case DL_TCPOPT_WS:
			if (l == 3) {
				h->opts |= DL_TCP_OPT_WS;
				h->wscale =
				    o[i + 2] > DL_TCP_MAX_WSCALE ? DL_TCP_MAX_WSCALE : o[i + 2];
			}
			break;
		case DL_TCPOPT_SACKOK:
			if (l == 2)
				h->opts |= DL_TCP_OPT_SACKOK;
			break;
		case DL_TCPOPT_SACK:
			if (l >= 10 && (l - 2) % 8 == 0 && (l - 2) / 8 <= DL_TCP_MAX_SACK) {
				h->opts |= DL_TCP_OPT_SACK;
				h->nsack = (uint8_t)((l - 2) / 8);
				for (unsigned k = 0; k < h->nsack; k++) {
					h->sack[k][0] = dl_get32(o + i + 2 + 8 * k);
					h->sack[k][1] = dl_get32(o + i + 6 + 8 * k);
				}
			}
			break;
		case DL_TCPOPT_TS:
			if (l == 10) {
				h->opts |= DL_TCP_OPT_TS;
				h->tsval = dl_get32(o + i + 2);
				h->tsecr = dl_get32(o + i + 6);
			}
			break;
		default:
			break; /* unknown: skip */
		}
		i += l;
	}
	return DL_WIRE_OK;
}

enum dl_wire_err dl_tcp_parse(const uint8_t *buf, size_t len, struct dl_tcp_hdr *h)
{
	unsigned hlen;

	if (len < DL_TCP_HLEN)
		return DL_WIRE_TRUNCATED;
	hlen = (unsigned)(buf[12] >> 4) * 4u;
	if (hlen < DL_TCP_HLEN || hlen > len)
		return DL_WIRE_BAD_LENGTH;
	h->sport = dl_get16(buf);
	h->dport = dl_get16(buf + 2);
	h->seq = dl_get32(buf + 4);
	h->ack = dl_get32(buf + 8);
	h->hlen = (uint8_t)hlen;
	h->flags = buf[13];
	h->wnd = dl_get16(buf + 14);
	h->urp = dl_get16(buf + 18);
	h->opts = 0;
	if (hlen == DL_TCP_HLEN)
		return DL_WIRE_OK;
	/* Fast path: NOP, NOP, TS (what Linux and we send when established). */
	if (hlen == DL_TCP_HLEN + 12 && dl_get32(buf + 20) == 0x0101080au) {
		h->opts = DL_TCP_OPT_TS;
		h->tsval = dl_get32(buf + 24);
		h->tsecr = dl_get32(buf + 28);
		return DL_WIRE_OK;
	}
	return parse_options(buf + DL_TCP_HLEN, hlen - DL_TCP_HLEN, h);
}

/* Ones-complement sum in 64-bit words with end-around carry, 16 bytes per
 * step (memory byte order, as dl_cksum_raw, which takes the rest). The
 * result is not folded; dl_cksum_fold folds it. */
static uint64_t sum_fast(const uint8_t *p, size_t len)
{
	uint64_t s = 0, w[2];

	for (; len >= 16; p += 16, len -= 16) {
		memcpy(w, p, 16);
		s += w[0];
		s += s < w[0];
		s += w[1];
		s += s < w[1];
	}
	/* halve before adding the tail so it cannot overflow */
	return (s & 0xffffffffu) + (s >> 32) + dl_cksum_raw(p, len);
}

bool dl_tcp_cksum_ok(uint32_t src, uint32_t dst, const uint8_t *seg, size_t len)
{
	/* pseudo-header: addresses, protocol and length in network order */
	uint64_t sum = (uint64_t)htonl(src) + htonl(dst) +
		       htonl((uint32_t)(DL_IPPROTO_TCP << 16) | (uint32_t)len);

	sum += sum_fast(seg, len);
	return dl_cksum_fold(sum) == 0xffff;
}

unsigned dl_tcp_put_sack(uint8_t *o, const uint32_t (*blocks)[2], unsigned n)
{
	o[0] = DL_TCPOPT_NOP;
	o[1] = DL_TCPOPT_NOP;
	o[2] = DL_TCPOPT_SACK;
	o[3] = (uint8_t)(2 + 8 * n);
	for (unsigned k = 0; k < n; k++) {
		dl_put32(o + 4 + 8 * k, blocks[k][0]);
		dl_put32(o + 8 + 8 * k, blocks[k][1]);
	}
	return dl_tcp_sack_len(n);
}

unsigned dl_tcp_build(uint8_t *b, struct dl_tcp_hdr *h)
{
	unsigned hlen = DL_TCP_HLEN + dl_tcp_opts_len(h);
	uint8_t *o = b + DL_TCP_HLEN;

	dl_put16(b, h->sport);
	dl_put16(b + 2, h->dport);
	dl_put32(b + 4, h->seq);
	dl_put32(b + 8, h->ack);
	b[12] = (uint8_t)((hlen / 4) << 4);
	b[13] = h->flags;
	dl_put16(b + 14, h->wnd);
	b[16] = 0;
	b[17] = 0;
	dl_put16(b + 18, h->urp);
	if (h->opts & DL_TCP_OPT_MSS) {
		o[0] = DL_TCPOPT_MSS;
		o[1] = 4;
		dl_put16(o + 2, h->mss);
		o += 4;
	}
	if (h->opts & DL_TCP_OPT_WS) {
		o[0] = DL_TCPOPT_NOP;
		o[1] = DL_TCPOPT_WS;
		o[2] = 3;
		o[3] = h->wscale;
		o += 4;
	}
	if (h->opts & DL_TCP_OPT_SACKOK) {
		o[0] = DL_TCPOPT_NOP;
		o[1] = DL_TCPOPT_NOP;
		o[2] = DL_TCPOPT_SACKOK;
		o[3] = 2;
		o += 4;
	}
	if (h->opts & DL_TCP_OPT_TS) {
		dl_put32(o, 0x0101080au);
		dl_put32(o + 4, h->tsval);
		dl_put32(o + 8, h->tsecr);
		o += 12;
	}
	if ((h->opts & DL_TCP_OPT_SACK) && h->nsack > 0)
		dl_tcp_put_sack(o, (const uint32_t(*)[2])h->sack, h->nsack);
	h->hlen = (uint8_t)hlen;
	return hlen;
}
