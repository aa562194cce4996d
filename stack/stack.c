/*
 * stack.c - a net core's stack object: creation, the input/poll/flush entry
 * points the runtime calls, the transmit batch, and flow ownership.
 *
 * The stack is shared-nothing: one instance per net core, touched only by
 * that core. Input is run to completion per frame (Ethernet -> ARP/IPv4 ->
 * ICMP/TCP); replies are queued in the transmit batch and handed to the NIC
 * in one burst by dl_stack_flush() at the end of the core's loop iteration.
 */
#include "dl_stack_priv.h"
#include "dl_log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const eth_cnt_names[ETH_NCNT] = {
	[ETH_RX_FRAMES] = "rx_frames",
	[ETH_DROP_TRUNCATED] = "drop_truncated",
	[ETH_DROP_NOT_FOR_US] = "drop_not_for_us",
	[ETH_DROP_MULTICAST] = "drop_multicast",
	[ETH_DROP_VLAN] = "drop_vlan",
	[ETH_DROP_UNKNOWN_TYPE] = "drop_unknown_type",
	[ETH_TX_FRAMES] = "tx_frames",
	[ETH_TX_DROP_QUEUE_FULL] = "tx_drop_queue_full",
	[ETH_TX_NOBUF] = "tx_drop_no_header_buffer",
	[ETH_HANDOFF_OUT] = "handoff_out",
	[ETH_HANDOFF_IN] = "handoff_in",
};

static const char *const arp_cnt_names[ARP_NCNT] = {
	[ARP_RX] = "rx",
	[ARP_RX_REQUEST] = "rx_request",
	[ARP_RX_REPLY] = "rx_reply",
	[ARP_TX_REQUEST] = "tx_request",
	[ARP_TX_REPLY] = "tx_reply",
	[ARP_TX_GRATUITOUS] = "tx_gratuitous",
	[ARP_DROP_TRUNCATED] = "drop_truncated",
	[ARP_DROP_BAD_FORMAT] = "drop_bad_format",
	[ARP_DROP_BAD_OPCODE] = "drop_bad_opcode",
	[ARP_DROP_BAD_SENDER] = "drop_bad_sender",
	[ARP_IGNORED_NOT_FOR_US] = "ignored_not_for_us",
	[ARP_ADDR_CONFLICT] = "address_conflict",
	[ARP_LEARNED] = "learned",
	[ARP_UPDATED] = "updated",
	[ARP_EVICTED] = "evicted",
	[ARP_EXPIRED] = "expired",
	[ARP_PENDING_QUEUED] = "pending_queued",
	[ARP_PENDING_SENT] = "pending_sent",
	[ARP_DROP_PENDING_FULL] = "drop_pending_full",
	[ARP_DROP_UNRESOLVED] = "drop_unresolved",
	[ARP_DROP_NO_ROUTE] = "drop_no_route",
	[ARP_DROP_PENDING_CONN_GONE] = "drop_pending_conn_gone",
};

static const char *const ipv4_cnt_names[IPV4_NCNT] = {
	[IPV4_RX] = "rx",
	[IPV4_DROP_TRUNCATED] = "drop_truncated",
	[IPV4_DROP_BAD_VERSION] = "drop_bad_version",
	[IPV4_DROP_BAD_IHL] = "drop_bad_ihl",
	[IPV4_DROP_BAD_LENGTH] = "drop_bad_length",
	[IPV4_DROP_BAD_CHECKSUM] = "drop_bad_checksum",
	[IPV4_DROP_FRAGMENT] = "drop_fragment",
	[IPV4_DROP_OPTIONS] = "drop_options",
	[IPV4_DROP_TTL_ZERO] = "drop_ttl_zero",
	[IPV4_DROP_NOT_FOR_US] = "drop_not_for_us",
	[IPV4_DROP_BAD_SRC] = "drop_bad_source",
	[IPV4_DROP_UNKNOWN_PROTO] = "drop_unknown_protocol",
	[IPV4_DROP_UDP_NO_LISTENER] = "drop_udp_no_listener",
	[IPV4_TX] = "tx",
};

static const char *const icmp_cnt_names[ICMP_NCNT] = {
	[ICMP_RX] = "rx",
	[ICMP_RX_ECHO_REQUEST] = "rx_echo_request",
	[ICMP_TX_ECHO_REPLY] = "tx_echo_reply",
	[ICMP_RX_DEST_UNREACH] = "rx_dest_unreachable",
	[ICMP_RX_ERROR_TCP] = "rx_errors_for_tcp",
	[ICMP_DROP_ERROR_NOT_TCP] = "drop_error_not_tcp",
	[ICMP_DROP_TRUNCATED] = "drop_truncated",
	[ICMP_DROP_BAD_CHECKSUM] = "drop_bad_checksum",
	[ICMP_DROP_UNSUPPORTED] = "drop_unsupported_type",
	[ICMP_DROP_BROADCAST_ECHO] = "drop_broadcast_echo",
};

void dl_stack_config_defaults(struct dl_stack_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->prefix_len = 24;
	cfg->mtu = 1500;
	cfg->arp_timeout_us = 60u * 1000 * 1000;
	cfg->arp_retry_us = 1000u * 1000;
	cfg->arp_pending_max = 64;
	cfg->arp_entries = 256;

	dl_tcp_params_defaults(&cfg->tcp);
}

static void register_counters(struct dl_stack *s)
{
	int core = (int)s->net_index;

	dl_stats_register(&s->blk_eth, "eth", eth_cnt_names, ETH_NCNT, s->eth_cnt, core);
	dl_stats_register(&s->blk_arp, "arp", arp_cnt_names, ARP_NCNT, s->arp_cnt, core);
	dl_stats_register(&s->blk_ipv4, "ipv4", ipv4_cnt_names, IPV4_NCNT, s->ipv4_cnt, core);
	dl_stats_register(&s->blk_icmp, "icmp", icmp_cnt_names, ICMP_NCNT, s->icmp_cnt, core);
}

static void unregister_counters(struct dl_stack *s)
{
	dl_stats_unregister(&s->blk_eth);
	dl_stats_unregister(&s->blk_arp);
	dl_stats_unregister(&s->blk_ipv4);
	dl_stats_unregister(&s->blk_icmp);
}

struct dl_stack *dl_stack_create(const struct dl_stack_config *cfg, struct dl_nic *nic,
				 uint16_t queue, unsigned net_index, unsigned n_net)
{
	struct dl_stack *s;

	if (cfg == NULL || nic == NULL || n_net == 0 || net_index >= n_net ||
	    cfg->prefix_len > 32 || cfg->mtu < 576) {
		errno = EINVAL;
		return NULL;
	}
	s = aligned_alloc(64, (sizeof(*s) + 63) / 64 * 64);
	if (s == NULL)
		return NULL;
	memset(s, 0, sizeof(*s));
	s->cfg = *cfg;
	s->nic = nic;
	s->queue = queue;
	s->net_index = net_index;
	s->n_net = n_net;
	s->netmask = cfg->prefix_len == 0 ? 0 : 0xffffffffu << (32 - cfg->prefix_len);
	/* A /32 has no subnet broadcast: only 255.255.255.255 then. */
	s->subnet_bcast = s->netmask == 0xffffffffu ? 0xffffffffu : (cfg->ip | ~s->netmask);
	s->ip_id = (uint16_t)(net_index * 0x1000u);
	if (dl_arp_init(s) != 0) {
		free(s);
		errno = ENOMEM;
		return NULL;
	}
	s->tcp = dl_tcp_create(s);
	if (s->tcp == NULL) {
		int e = errno;
		dl_arp_fini(s);
		free(s);
		errno = e ? e : ENOMEM;
		return NULL;
	}
	register_counters(s);
	return s;
}

void dl_stack_set_upcalls(struct dl_stack *s, const struct dl_stack_upcalls *up, void *arg)
{
	s->up = up;
	s->up_arg = arg;
}

void dl_stack_start(struct dl_stack *s, uint64_t now_us)
{
	s->now = now_us;
	dl_arp_announce(s);
}

void dl_stack_input(struct dl_stack *s, struct dl_rx_pkt *pkts, unsigned n, uint64_t now_us)
{
	s->now = now_us;
	for (unsigned i = 0; i < n; i++)
		dl_eth_input(s, &pkts[i]);
}

void dl_stack_poll(struct dl_stack *s, uint64_t now_us)
{
	s->now = now_us;
	if (s->arp_scan && now_us >= s->arp_next_scan)
		dl_arp_poll(s);
	dl_tcp_poll(s);
}

void dl_stack_flush(struct dl_stack *s)
{
	dl_tcp_flush(s);
	if (s->txq_n != 0) /* nothing queued: the TX flush would do nothing */
		dl_stack_tx_flush(s);
}

uint64_t dl_stack_next_deadline(const struct dl_stack *s)
{
	uint64_t d = dl_tcp_next_deadline(s);

	if (s->arp_scan && s->arp_next_scan < d)
		d = s->arp_next_scan;
	return d;
}

void dl_stack_tx_flush(struct dl_stack *s)
{
	unsigned n = s->txq_n, sent = 0;

	/* A full NIC ring gets a few more chances within this flush; what is
	 * still refused is dropped and counted (TCP retransmits it). */
	for (int tries = 0; sent < n && tries < 4; tries++)
		sent += dl_nic_tx_burst(s->nic, s->queue, s->txq + sent, (uint16_t)(n - sent));
	for (unsigned i = sent; i < n; i++) {
		dl_nic_buf_free(s->nic, s->txq[i].hdr);
		s->eth_cnt[ETH_TX_DROP_QUEUE_FULL]++;
	}
	s->eth_cnt[ETH_TX_FRAMES] += sent;
	for (unsigned i = 0; i < n; i++) {
		if (s->txq_release[i] != NULL) {
			dl_nic_buf_free(s->nic, s->txq_release[i]);
			s->txq_release[i] = NULL;
		}
	}
	s->txq_n = 0;
}

void dl_stack_destroy(struct dl_stack *s)
{
	if (s == NULL)
		return;
	dl_tcp_destroy(s);
	dl_stack_flush(s);
	dl_arp_fini(s);
	unregister_counters(s);
	free(s);
}

/* Cheap flow hash for devices without RSS: any net core computes the same
 * owner for a flow from the received 4-tuple. */
static uint32_t soft_flow_hash(uint32_t sip, uint32_t dip, uint16_t sport, uint16_t dport)
{
	uint32_t h = (sip * 0x9e3779b1u) ^ (dip * 0x85ebca77u) ^
		     (((uint32_t)sport << 16 | dport) * 0xc2b2ae3du);
	h ^= h >> 15;
	h *= 0x2c1b3c6du;
	h ^= h >> 12;
	return h;
}

unsigned dl_stack_flow_owner(const struct dl_stack *s, uint32_t sip, uint32_t dip,
			     uint16_t sport, uint16_t dport)
{
	if (s->n_net <= 1)
		return 0;
	if ((s->nic->caps & DL_NIC_CAP_RSS) && s->nic->reta_size > 0) {
		/* Mirror the NIC: RETA index = low bits of the Toeplitz hash,
		 * entries programmed as i % nb_queues, queue == net index. */
		uint32_t h = dl_toeplitz_ipv4(dl_rss_key, htonl(sip), htonl(dip), htons(sport),
					      htons(dport));
		return (h % s->nic->reta_size) % s->n_net;
	}
	return soft_flow_hash(sip, dip, sport, dport) % s->n_net;
}
