/*
 * icmp.c - ICMP: echo reply; errors (destination unreachable, source
 * quench, time exceeded, parameter problem) that quote a TCP segment go
 * to TCP (tcp_icmp.c), on the net core that owns the flow; everything
 * else is counted.
 *
 * The reply reuses the request's checksum with an incremental update
 * (RFC 1624: only the type changes from 8 to 0), so the payload is never
 * summed. The payload is copied into the header buffer when it fits, else
 * referenced as a private-memory fragment that the backend copies during
 * transmit (the RX buffer is released right after the flush).
 */
#include "dl_stack_priv.h"

#include <string.h>

void dl_icmp_input(struct dl_stack *s, struct dl_rx_pkt *pkt, const struct dl_ipv4_hdr *ip,
		   const uint8_t *l4, size_t len)
{
	struct dl_icmp_hdr h;
	struct dl_buf *release = NULL;

	s->icmp_cnt[ICMP_RX]++;
	switch (dl_icmp_parse(l4, len, &h)) {
	case DL_WIRE_OK:
		break;
	case DL_WIRE_BAD_CHECKSUM:
		s->icmp_cnt[ICMP_DROP_BAD_CHECKSUM]++;
		goto drop;
	default:
		s->icmp_cnt[ICMP_DROP_TRUNCATED]++;
		goto drop;
	}
	if (h.type == DL_ICMP_DEST_UNREACH || h.type == DL_ICMP_SOURCE_QUENCH ||
	    h.type == DL_ICMP_TIME_EXCEEDED || h.type == DL_ICMP_PARAM_PROBLEM) {
		const uint8_t *q = l4 + DL_ICMP_HLEN;
		size_t qlen = len - DL_ICMP_HLEN;
		unsigned ihl;

		if (h.type == DL_ICMP_DEST_UNREACH)
			s->icmp_cnt[ICMP_RX_DEST_UNREACH]++;
		if (ip->dst != s->cfg.ip || qlen < DL_IPV4_HLEN || q[9] != DL_IPPROTO_TCP ||
		    qlen < (ihl = (q[0] & 15u) * 4u) + 8) {
			s->icmp_cnt[ICMP_DROP_ERROR_NOT_TCP]++;
			goto drop;
		}
		if (s->n_net > 1 && !(pkt->flags & DL_RX_HANDOFF) && s->up != NULL &&
		    s->up->handoff != NULL) {
			/* The quote is our segment: its owner is the core that
			 * receives the flow (remote -> us). */
			unsigned owner = dl_stack_flow_owner(s, dl_get32(q + 16), dl_get32(q + 12),
							     dl_get16(q + ihl + 2), dl_get16(q + ihl));
			if (owner != s->net_index) {
				s->eth_cnt[ETH_HANDOFF_OUT]++;
				s->up->handoff(s->up_arg, owner, pkt);
				return;
			}
		}
		s->icmp_cnt[ICMP_RX_ERROR_TCP]++;
		dl_tcp_icmp_error(s, h.type, h.code, h.seq, q, qlen);
		goto drop;
	}
	if (h.type != DL_ICMP_ECHO_REQUEST || h.code != 0) {
		s->icmp_cnt[ICMP_DROP_UNSUPPORTED]++;
		goto drop;
	}
	s->icmp_cnt[ICMP_RX_ECHO_REQUEST]++;
	if (ip->dst != s->cfg.ip) {
		s->icmp_cnt[ICMP_DROP_BROADCAST_ECHO]++;
		goto drop;
	}

	uint8_t *out;
	uint16_t room;
	struct dl_tx_pkt *p = dl_ip_tx_begin(s, &out, &room);
	if (p == NULL)
		goto drop;
	size_t data_len = len - DL_ICMP_HLEN;
	memcpy(out, l4, DL_ICMP_HLEN);
	out[0] = DL_ICMP_ECHO_REPLY;
	/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), m = 0x0800 -> m' = 0. In
	 * memory byte order the type byte is the first byte of the word. */
	uint16_t hc, m = 0, mnew = 0;
	memcpy(&hc, l4 + 2, 2);
	memcpy(&m, l4, 1);
	memcpy(&mnew, out, 1);
	uint32_t sum = (uint16_t)~hc;
	sum += (uint16_t)~m;
	sum += mnew;
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	hc = (uint16_t)~sum;
	memcpy(out + 2, &hc, 2);

	if (data_len <= (size_t)room - DL_ICMP_HLEN) {
		memcpy(out + DL_ICMP_HLEN, l4 + DL_ICMP_HLEN, data_len);
		dl_ip_tx_commit(s, p, ip->src, DL_IPPROTO_ICMP, (uint16_t)len, 0, NULL);
		dl_nic_buf_free(s->nic, pkt->buf);
	} else {
		p->nfrags = 1;
		p->frag[0].data = l4 + DL_ICMP_HLEN;
		p->frag[0].len = (uint32_t)data_len;
		p->frag[0].region = DL_REGION_NONE;
		release = pkt->buf;
		dl_ip_tx_commit(s, p, ip->src, DL_IPPROTO_ICMP, DL_ICMP_HLEN, 0, release);
	}
	s->icmp_cnt[ICMP_TX_ECHO_REPLY]++;
	return;
drop:
	dl_nic_buf_free(s->nic, pkt->buf);
}
