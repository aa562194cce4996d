/*
 * arp.c - ARP (RFC 826) for one net core: a small open-addressed cache
 * with expiry, replies to requests for our address, a bounded queue of
 * frames waiting for resolution, and a gratuitous announcement at start.
 *
 * Cache policy (after RFC 826's merge rule and RFC 1122 2.3.2.1):
 *  - a request or reply whose target is our address creates or refreshes
 *    the sender's entry; other ARP traffic only refreshes existing entries;
 *  - a VALID entry is used until it expires; after that it is "stale": still
 *    used, while unicast refresh requests go out every arp_retry_us; after
 *    three unanswered refreshes it is dropped;
 *  - a miss parks the frame (at most arp_pending_max per core; more are
 *    dropped and counted) and broadcasts a request, retried every
 *    arp_retry_us; after three requests the parked frames are dropped.
 *
 * No ARP transmit happens while a frame is half-built: the resolver only
 * looks up; requests are sent after the frame is parked, or from poll.
 */
#include "dl_stack_priv.h"
#include "dl_log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ARP_MAX_RETRIES 3
#define ARP_PROBE_LIMIT 8

static const uint8_t mac_bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t mac_zero[6];

static uint32_t arp_hash(uint32_t ip)
{
	return (ip * 0x9e3779b1u) >> 8;
}

int dl_arp_init(struct dl_stack *s)
{
	uint32_t n = 16;

	while (n < s->cfg.arp_entries && n < (1u << 20))
		n <<= 1;
	s->arp_mask = n - 1;
	s->arp_tab = calloc(n, sizeof(*s->arp_tab));
	if (s->cfg.arp_pending_max == 0)
		s->cfg.arp_pending_max = 1;
	s->arp_pend = calloc(s->cfg.arp_pending_max, sizeof(*s->arp_pend));
	if (s->arp_tab == NULL || s->arp_pend == NULL) {
		free(s->arp_tab);
		free(s->arp_pend);
		return -ENOMEM;
	}
	return 0;
}

static void pending_free(struct dl_stack *s, struct dl_arp_pending *p)
{
	dl_nic_buf_free(s->nic, p->pkt.hdr);
	if (p->release != NULL)
		dl_nic_buf_free(s->nic, p->release);
}

void dl_arp_fini(struct dl_stack *s)
{
	for (uint32_t i = 0; i < s->arp_pend_n; i++)
		pending_free(s, &s->arp_pend[(s->arp_pend_head + i) % s->cfg.arp_pending_max]);
	s->arp_pend_n = 0;
	free(s->arp_tab);
	free(s->arp_pend);
	s->arp_tab = NULL;
	s->arp_pend = NULL;
}

static struct dl_arp_entry *arp_find(struct dl_stack *s, uint32_t ip)
{
	uint32_t h = arp_hash(ip);

	for (uint32_t i = 0; i < ARP_PROBE_LIMIT; i++) {
		struct dl_arp_entry *e = &s->arp_tab[(h + i) & s->arp_mask];
		if (e->state != ARP_FREE && e->ip == ip)
			return e;
	}
	return NULL;
}

/* Find a slot for ip: a free one in its probe window, else evict the entry
 * that expires first. */
static struct dl_arp_entry *arp_insert(struct dl_stack *s, uint32_t ip)
{
	uint32_t h = arp_hash(ip);
	struct dl_arp_entry *victim = NULL;

	for (uint32_t i = 0; i < ARP_PROBE_LIMIT; i++) {
		struct dl_arp_entry *e = &s->arp_tab[(h + i) & s->arp_mask];
		if (e->state == ARP_FREE) {
			victim = e;
			break;
		}
		if (victim == NULL || e->expires < victim->expires)
			victim = e;
	}
	if (victim->state != ARP_FREE)
		s->arp_cnt[ARP_EVICTED]++;
	memset(victim, 0, sizeof(*victim));
	victim->ip = ip;
	victim->state = ARP_INCOMPLETE;
	return victim;
}

/* Broadcast (dst_mac NULL) or unicast an ARP packet. Never called while a
 * frame is half-built in the transmit slot. */
static void arp_send(struct dl_stack *s, uint16_t op, const uint8_t *dst_mac,
		     const uint8_t tha[6], uint32_t tpa)
{
	struct dl_arp_pkt a;
	uint8_t *l4;
	uint16_t room;
	struct dl_tx_pkt *p = dl_ip_tx_begin(s, &l4, &room);

	if (p == NULL)
		return;
	uint8_t *frame = p->hdr_data;
	a.op = op;
	memcpy(a.sha, s->cfg.mac, 6);
	a.spa = s->cfg.ip;
	memcpy(a.tha, tha, 6);
	a.tpa = tpa;
	dl_eth_build(frame, dst_mac ? dst_mac : mac_bcast, s->cfg.mac, DL_ETHERTYPE_ARP);
	dl_arp_build(frame + DL_ETH_HLEN, &a);
	/* Pad to the 60-byte Ethernet minimum ourselves: not every PMD does. */
	memset(frame + DL_ETH_HLEN + DL_ARP_LEN, 0, 60 - DL_ETH_HLEN - DL_ARP_LEN);
	p->hdr_len = 60;
	p->l3_len = 0;
	p->l4_len = 0;
	dl_eth_tx_queue(s, p, NULL);
}

static void arp_request(struct dl_stack *s, struct dl_arp_entry *e, const uint8_t *unicast)
{
	e->last_req = s->now;
	e->retries++;
	s->arp_cnt[ARP_TX_REQUEST]++;
	arp_send(s, DL_ARP_REQUEST, unicast, mac_zero, e->ip);
}

void dl_arp_announce(struct dl_stack *s)
{
	s->arp_cnt[ARP_TX_GRATUITOUS]++;
	/* RFC 5227 announcement: a request with sender = target = our address. */
	arp_send(s, DL_ARP_REQUEST, NULL, mac_zero, s->cfg.ip);
}

const uint8_t *dl_arp_resolve(struct dl_stack *s, uint32_t ip)
{
	struct dl_arp_entry *e = arp_find(s, ip);

	if (e == NULL) {
		arp_insert(s, ip);
		s->arp_scan = true;
		return NULL;
	}
	if (e->state != ARP_VALID)
		return NULL;
	if (s->now >= e->expires && !s->arp_scan) {
		/* Stale: keep using it; poll sends unicast refreshes. */
		s->arp_scan = true;
		s->arp_next_scan = s->now;
	}
	return e->mac;
}

void dl_arp_park(struct dl_stack *s, struct dl_tx_pkt *pkt, struct dl_buf *release,
		 uint32_t nexthop)
{
	struct dl_arp_entry *e;

	if (s->arp_pend_n == s->cfg.arp_pending_max) {
		s->arp_cnt[ARP_DROP_PENDING_FULL]++;
		dl_nic_buf_free(s->nic, pkt->hdr);
		if (release != NULL)
			dl_nic_buf_free(s->nic, release);
		return;
	}
	struct dl_arp_pending *p =
		&s->arp_pend[(s->arp_pend_head + s->arp_pend_n) % s->cfg.arp_pending_max];
	p->pkt = *pkt;
	p->release = release;
	p->nexthop = nexthop;
	s->arp_pend_n++;
	s->arp_cnt[ARP_PENDING_QUEUED]++;
	s->arp_scan = true;

	e = arp_find(s, nexthop);
	if (e == NULL)
		e = arp_insert(s, nexthop);
	if (e->state == ARP_INCOMPLETE &&
	    (e->retries == 0 || s->now - e->last_req >= s->cfg.arp_retry_us))
		arp_request(s, e, NULL);
}

/* Which parked frames a sweep takes: those for a next hop (sent when mac
 * is known, dropped when resolution failed), or those of one TCP
 * connection that reference memory outside their header buffer. */
struct pend_sel {
	uint32_t ip;	    /**< next hop, or the connection's remote address */
	const uint8_t *mac; /**< resolved: send the next hop's frames */
	bool conn;	    /**< select by connection (ip, lport, rport) */
	uint16_t lport, rport;
};

static bool pend_match(const struct dl_arp_pending *p, const struct pend_sel *sel)
{
	const uint8_t *ip, *l4;

	if (!sel->conn)
		return p->nexthop == sel->ip;
	/* The frame's IPv4 and TCP headers as dl_ip_tx_commit wrote them. */
	ip = p->pkt.hdr_data + DL_ETH_HLEN;
	l4 = p->pkt.hdr_data + DL_STACK_L4_OFF;
	return p->pkt.nfrags > 0 && ip[9] == DL_IPPROTO_TCP && dl_get32(ip + 16) == sel->ip &&
	       dl_get16(l4) == sel->lport && dl_get16(l4 + 2) == sel->rport;
}

/* Send or drop the parked frames sel selects; keep the others in order. */
static void pending_sweep(struct dl_stack *s, const struct pend_sel *sel)
{
	uint32_t n = s->arp_pend_n, kept = 0;
	uint32_t cap = s->cfg.arp_pending_max;

	for (uint32_t i = 0; i < n; i++) {
		struct dl_arp_pending *p = &s->arp_pend[(s->arp_pend_head + i) % cap];
		if (!pend_match(p, sel)) {
			s->arp_pend[(s->arp_pend_head + kept) % cap] = *p;
			kept++;
		} else if (sel->mac != NULL) {
			if (s->txq_n == DL_STACK_TXQ)
				dl_stack_tx_flush(s);
			dl_eth_build(p->pkt.hdr_data, sel->mac, s->cfg.mac, DL_ETHERTYPE_IPV4);
			dl_eth_tx_queue(s, &p->pkt, p->release);
			s->arp_cnt[ARP_PENDING_SENT]++;
		} else {
			pending_free(s, p);
			s->arp_cnt[sel->conn ? ARP_DROP_PENDING_CONN_GONE : ARP_DROP_UNRESOLVED]++;
		}
	}
	s->arp_pend_n = kept;
}

void dl_arp_drop_conn(struct dl_stack *s, uint32_t rip, uint16_t lport, uint16_t rport)
{
	const struct pend_sel sel = {.ip = rip, .conn = true, .lport = lport, .rport = rport};

	if (s->arp_pend_n > 0)
		pending_sweep(s, &sel);
}

static void arp_update(struct dl_stack *s, struct dl_arp_entry *e, const uint8_t mac[6],
		       bool learned)
{
	bool was_valid = e->state == ARP_VALID;

	memcpy(e->mac, mac, 6);
	e->state = ARP_VALID;
	e->retries = 0;
	e->expires = s->now + s->cfg.arp_timeout_us;
	s->arp_cnt[was_valid ? ARP_UPDATED : ARP_LEARNED]++;
	if (s->arp_pend_n > 0)
		pending_sweep(s, &(const struct pend_sel){.ip = e->ip, .mac = mac});
	if (learned && s->up != NULL && s->up->arp_learned != NULL)
		s->up->arp_learned(s->up_arg, e->ip, mac);
}

void dl_stack_arp_learn(struct dl_stack *s, uint32_t ip, const uint8_t mac[6], uint64_t now_us)
{
	struct dl_arp_entry *e;

	s->now = now_us;
	if (dl_mac_is_multicast(mac) || dl_mac_is_zero(mac) || ip == 0 || ip == s->cfg.ip)
		return;
	e = arp_find(s, ip);
	if (e == NULL)
		e = arp_insert(s, ip);
	arp_update(s, e, mac, false);
}

void dl_arp_input(struct dl_stack *s, struct dl_rx_pkt *pkt, const struct dl_eth_hdr *eth,
		  const uint8_t *l3, size_t len)
{
	struct dl_arp_pkt a;
	struct dl_arp_entry *e;

	(void)eth;
	s->arp_cnt[ARP_RX]++;
	switch (dl_arp_parse(l3, len, &a)) {
	case DL_WIRE_OK:
		break;
	case DL_WIRE_TRUNCATED:
		s->arp_cnt[ARP_DROP_TRUNCATED]++;
		goto out;
	case DL_WIRE_BAD_OPCODE:
		s->arp_cnt[ARP_DROP_BAD_OPCODE]++;
		goto out;
	default:
		s->arp_cnt[ARP_DROP_BAD_FORMAT]++;
		goto out;
	}
	s->arp_cnt[a.op == DL_ARP_REQUEST ? ARP_RX_REQUEST : ARP_RX_REPLY]++;
	if (dl_mac_is_multicast(a.sha) || dl_mac_is_zero(a.sha)) {
		s->arp_cnt[ARP_DROP_BAD_SENDER]++;
		goto out;
	}
	if (a.spa == s->cfg.ip) {
		/* Someone else claims our address. */
		if (s->arp_cnt[ARP_ADDR_CONFLICT]++ == 0)
			DL_WARN("ARP: %02x:%02x:%02x:%02x:%02x:%02x claims our address",
				a.sha[0], a.sha[1], a.sha[2], a.sha[3], a.sha[4], a.sha[5]);
		goto out;
	}
	/* Probes (sender 0.0.0.0) teach nothing but still get a reply. */
	e = a.spa != 0 ? arp_find(s, a.spa) : NULL;
	if (e != NULL)
		arp_update(s, e, a.sha, a.op == DL_ARP_REPLY);
	if (a.tpa != s->cfg.ip) {
		s->arp_cnt[ARP_IGNORED_NOT_FOR_US]++;
		goto out;
	}
	if (e == NULL && a.spa != 0 && dl_stack_on_link(s, a.spa))
		arp_update(s, arp_insert(s, a.spa), a.sha, a.op == DL_ARP_REPLY);
	if (a.op == DL_ARP_REQUEST) {
		s->arp_cnt[ARP_TX_REPLY]++;
		arp_send(s, DL_ARP_REPLY, a.sha, a.sha, a.spa);
	}
out:
	dl_nic_buf_free(s->nic, pkt->buf);
}

void dl_arp_poll(struct dl_stack *s)
{
	uint64_t retry = s->cfg.arp_retry_us;
	bool busy = false;

	s->arp_next_scan = s->now + (retry / 4 ? retry / 4 : 1);
	for (uint32_t i = 0; i <= s->arp_mask; i++) {
		struct dl_arp_entry *e = &s->arp_tab[i];
		busy |= e->state == ARP_INCOMPLETE || (e->state == ARP_VALID && s->now >= e->expires);
		if (e->state == ARP_INCOMPLETE) {
			if (e->retries > 0 && s->now - e->last_req < retry)
				continue;
			if (e->retries >= ARP_MAX_RETRIES) {
				pending_sweep(s, &(const struct pend_sel){.ip = e->ip});
				e->state = ARP_FREE;
				continue;
			}
			arp_request(s, e, NULL);
		} else if (e->state == ARP_VALID && s->now >= e->expires) {
			if (e->retries >= ARP_MAX_RETRIES && s->now - e->last_req >= retry) {
				s->arp_cnt[ARP_EXPIRED]++;
				e->state = ARP_FREE;
			} else if (e->retries == 0 || s->now - e->last_req >= retry) {
				arp_request(s, e, e->mac);
			}
		}
	}
	/* Keep scanning while something is unresolved or stale. */
	s->arp_scan = busy || s->arp_pend_n > 0;
}
