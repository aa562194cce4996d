/*
 * ipv4.c - IPv4 input validation and the IP transmit path.
 *
 * Input drops, each with its own counter: truncated frames, bad version,
 * bad IHL, total length inconsistent with the frame, bad header checksum,
 * fragments (we never reassemble: TCP peers honour our MSS), options,
 * TTL 0, packets not addressed to us, impossible sources (our own address,
 * broadcast, multicast, loopback, 0.0.0.0 for anything but ICMP), and
 * protocols we do not speak.
 *
 * Output: dl_ip_tx_begin() hands out a transmit slot with a header buffer;
 * dl_ip_tx_commit() writes the IPv4 header (DF set: we never fragment),
 * requests checksum offload and resolves the next hop.
 */
#include "dl_stack_priv.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <string.h>

static bool bad_source(const struct dl_stack *s, uint32_t src)
{
	return src == s->cfg.ip || src == 0 || src == 0xffffffffu || (src >> 28) == 0xe ||
	       (src >> 24) == 127 || dl_stack_is_bcast(s, src);
}

void dl_ipv4_input(struct dl_stack *s, struct dl_rx_pkt *pkt, const uint8_t *l3, size_t len)
{
	struct dl_ipv4_hdr ip;
	enum dl_wire_err e;
	bool csum_ok = (pkt->flags & DL_RX_L3_CSUM_GOOD) != 0;

	s->ipv4_cnt[IPV4_RX]++;
	if (pkt->flags & DL_RX_L3_CSUM_BAD) {
		s->ipv4_cnt[IPV4_DROP_BAD_CHECKSUM]++;
		goto drop;
	}
	e = dl_ipv4_parse(l3, len, csum_ok, &ip);
	switch (e) {
	case DL_WIRE_OK:
		break;
	case DL_WIRE_BAD_VERSION:
		s->ipv4_cnt[IPV4_DROP_BAD_VERSION]++;
		goto drop;
	case DL_WIRE_BAD_IHL:
		s->ipv4_cnt[IPV4_DROP_BAD_IHL]++;
		goto drop;
	case DL_WIRE_BAD_LENGTH:
		s->ipv4_cnt[IPV4_DROP_BAD_LENGTH]++;
		goto drop;
	case DL_WIRE_BAD_CHECKSUM:
		s->ipv4_cnt[IPV4_DROP_BAD_CHECKSUM]++;
		goto drop;
	default:
		s->ipv4_cnt[IPV4_DROP_TRUNCATED]++;
		goto drop;
	}
	if (dl_ipv4_is_fragment(&ip)) {
		s->ipv4_cnt[IPV4_DROP_FRAGMENT]++;
		goto drop;
	}
	if (ip.ihl_bytes != DL_IPV4_HLEN) {
		s->ipv4_cnt[IPV4_DROP_OPTIONS]++;
		goto drop;
	}
	if (ip.ttl == 0) {
		s->ipv4_cnt[IPV4_DROP_TTL_ZERO]++;
		goto drop;
	}
	if (ip.dst != s->cfg.ip && !dl_stack_is_bcast(s, ip.dst)) {
		s->ipv4_cnt[IPV4_DROP_NOT_FOR_US]++;
		goto drop;
	}
	if (bad_source(s, ip.src)) {
		s->ipv4_cnt[IPV4_DROP_BAD_SRC]++;
		goto drop;
	}

	const uint8_t *l4 = l3 + ip.ihl_bytes;
	size_t l4_len = (size_t)ip.total_len - ip.ihl_bytes;

	switch (ip.proto) {
	case DL_IPPROTO_ICMP:
		dl_icmp_input(s, pkt, &ip, l4, l4_len);
		return;
	case DL_IPPROTO_TCP:
		if (ip.dst != s->cfg.ip) { /* TCP to a broadcast address */
			s->ipv4_cnt[IPV4_DROP_NOT_FOR_US]++;
			goto drop;
		}
		if (s->n_net > 1 && !(pkt->flags & DL_RX_HANDOFF) && s->up != NULL &&
		    s->up->handoff != NULL && !(s->nic->caps & DL_NIC_CAP_RSS) && l4_len >= 4) {
			unsigned owner = dl_stack_flow_owner(s, ip.src, ip.dst, dl_get16(l4),
							     dl_get16(l4 + 2));
			if (owner != s->net_index) {
				s->eth_cnt[ETH_HANDOFF_OUT]++;
				s->up->handoff(s->up_arg, owner, pkt);
				return;
			}
		}
		dl_tcp_input(s, pkt, &ip, l4, l4_len);
		return;
	case DL_IPPROTO_UDP:
		s->ipv4_cnt[IPV4_DROP_UDP_NO_LISTENER]++;
		goto drop;
	default:
		s->ipv4_cnt[IPV4_DROP_UNKNOWN_PROTO]++;
		goto drop;
	}
drop:
	dl_nic_buf_free(s->nic, pkt->buf);
}

struct dl_tx_pkt *dl_ip_tx_begin(struct dl_stack *s, uint8_t **l4, uint16_t *room)
{
	struct dl_tx_pkt *p;
	uint8_t *data;
	uint16_t cap;

	if (s->txq_n == DL_STACK_TXQ)
		dl_stack_tx_flush(s);
	p = &s->txq[s->txq_n];
	p->hdr = dl_nic_hdr_alloc(s->nic, s->queue, &data, &cap);
	if (p->hdr == NULL) {
		s->eth_cnt[ETH_TX_NOBUF]++;
		return NULL;
	}
	assert(cap >= DL_STACK_L4_OFF + 60);
	p->hdr_data = data;
	p->nfrags = 0;
	p->ol_flags = 0;
	p->tso_segsz = 0;
	p->l2_len = DL_ETH_HLEN;
	p->l3_len = DL_IPV4_HLEN;
	*l4 = data + DL_STACK_L4_OFF;
	*room = (uint16_t)(cap - DL_STACK_L4_OFF);
	return p;
}

int dl_ip_tx_commit(struct dl_stack *s, struct dl_tx_pkt *pkt, uint32_t dst, uint8_t proto,
		    uint16_t l4_len, uint16_t ol, struct dl_buf *release)
{
	uint32_t nexthop;
	size_t payload = 0;
	const uint8_t *mac;

	for (unsigned i = 0; i < pkt->nfrags; i++)
		payload += pkt->frag[i].len;
	pkt->l4_len = (uint8_t)(l4_len < 255 ? l4_len : 255);
	pkt->hdr_len = (uint16_t)(DL_STACK_L4_OFF + l4_len);
	pkt->ol_flags = (uint16_t)(pkt->ol_flags | (ol & 0xffu) | DL_TX_IP_CKSUM);

	/* The header in five stores (dl_ipv4_build's layout: version 4, IHL
	 * 5, DF, TTL 64, checksum left to the offload). With TSO the backend
	 * rewrites the length per segment (and keeps the TOS byte). */
	uint32_t total_len = DL_IPV4_HLEN + l4_len + (payload > 0xffff ? 0 : (uint32_t)payload);
	uint32_t w[5] = {
	    htonl(0x45000000u | (uint32_t)(ol >> 8) << 16 | total_len),
	    htonl((uint32_t)s->ip_id++ << 16 | DL_IPV4_DF),
	    htonl(64u << 24 | (uint32_t)proto << 16),
	    htonl(s->cfg.ip),
	    htonl(dst),
	};
	memcpy(pkt->hdr_data + DL_ETH_HLEN, w, sizeof(w));
	s->ipv4_cnt[IPV4_TX]++;

	if (dl_stack_is_bcast(s, dst)) {
		static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
		dl_eth_build(pkt->hdr_data, bcast, s->cfg.mac, DL_ETHERTYPE_IPV4);
		dl_eth_tx_queue(s, pkt, release);
		return 0;
	}
	if (dl_stack_on_link(s, dst)) {
		nexthop = dst;
	} else if (s->cfg.gw != 0) {
		nexthop = s->cfg.gw;
	} else {
		s->arp_cnt[ARP_DROP_NO_ROUTE]++;
		dl_ip_tx_abort(s, pkt);
		if (release != NULL)
			dl_nic_buf_free(s->nic, release);
		return -ENETUNREACH;
	}
	mac = dl_arp_resolve(s, nexthop);
	if (mac == NULL) {
		/* Park first (copies the frame out of its slot), then the
		 * resolver may send a request through the same slot. */
		dl_arp_park(s, pkt, release, nexthop);
		return 0;
	}
	dl_eth_build(pkt->hdr_data, mac, s->cfg.mac, DL_ETHERTYPE_IPV4);
	dl_eth_tx_queue(s, pkt, release);
	return 0;
}

void dl_ip_tx_abort(struct dl_stack *s, struct dl_tx_pkt *pkt)
{
	dl_nic_buf_free(s->nic, pkt->hdr);
	pkt->hdr = NULL;
}
