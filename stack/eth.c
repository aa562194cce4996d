/*
 * eth.c - Ethernet input demultiplexing and the transmit queue.
 *
 * Accepts frames addressed to our MAC or broadcast; everything else
 * (another unicast MAC, multicast, VLAN-tagged, unknown EtherType) is
 * counted and dropped. Frames never need a copy: handlers get pointers
 * into the RX buffer.
 */
#include "dl_stack_priv.h"

#include <string.h>

void dl_eth_input(struct dl_stack *s, struct dl_rx_pkt *pkt)
{
	struct dl_eth_hdr eth;

	s->eth_cnt[ETH_RX_FRAMES]++;
	if (pkt->flags & DL_RX_HANDOFF)
		s->eth_cnt[ETH_HANDOFF_IN]++;
	if (dl_eth_parse(pkt->data, pkt->len, &eth) != DL_WIRE_OK) {
		s->eth_cnt[ETH_DROP_TRUNCATED]++;
		goto drop;
	}
	if (memcmp(eth.dst, s->cfg.mac, 6) != 0 && !dl_mac_is_broadcast(eth.dst)) {
		s->eth_cnt[dl_mac_is_multicast(eth.dst) ? ETH_DROP_MULTICAST : ETH_DROP_NOT_FOR_US]++;
		goto drop;
	}
	switch (eth.type) {
	case DL_ETHERTYPE_IPV4:
		dl_ipv4_input(s, pkt, pkt->data + DL_ETH_HLEN, pkt->len - DL_ETH_HLEN);
		return;
	case DL_ETHERTYPE_ARP:
		dl_arp_input(s, pkt, &eth, pkt->data + DL_ETH_HLEN, pkt->len - DL_ETH_HLEN);
		return;
	case DL_ETHERTYPE_VLAN:
		s->eth_cnt[ETH_DROP_VLAN]++;
		goto drop;
	default:
		s->eth_cnt[ETH_DROP_UNKNOWN_TYPE]++;
		goto drop;
	}
drop:
	dl_nic_buf_free(s->nic, pkt->buf);
}

void dl_eth_tx_queue(struct dl_stack *s, struct dl_tx_pkt *pkt, struct dl_buf *release)
{
	/* pkt is usually the slot dl_ip_tx_begin handed out (txq[txq_n]);
	 * frames coming back from the ARP pending queue are copied in. */
	if (pkt != &s->txq[s->txq_n])
		s->txq[s->txq_n] = *pkt;
	s->txq_release[s->txq_n] = release;
	s->txq_n++;
}
