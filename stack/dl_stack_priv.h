/*
 * dl_stack_priv.h - the inside of a net core's stack, shared by the stack's
 * own files (stack.c, eth.c, arp.c, ipv4.c, icmp.c, tcp_*.c). Never
 * included outside stack/ except by white-box tests.
 *
 * Transmit path used by every protocol:
 *
 *     uint8_t *l4;
 *     struct dl_tx_pkt *p = dl_ip_tx_begin(s, &l4, &room);   // header buffer
 *     ... write the L4 header at l4, add payload fragments to p->frag ...
 *     dl_ip_tx_commit(s, p, dst_ip, DL_IPPROTO_TCP, l4_len, DL_TX_TCP_CKSUM, NULL);
 *
 * commit fills the IPv4 and Ethernet headers, resolves the next hop with
 * ARP (parking the packet in the bounded pending queue on a miss) and
 * queues it for dl_stack_flush(). Frames are batched: nothing reaches the
 * NIC until flush (or until the queue is full).
 */
#ifndef DL_STACK_PRIV_H
#define DL_STACK_PRIV_H

#include "dl_stack.h"
#include "dl_stats.h"
#include "dl_wire.h"

/** Frames queued for transmit before a forced flush. */
#define DL_STACK_TXQ 64
/** Bytes of Ethernet + IPv4 header in front of every L4 header we send. */
#define DL_STACK_L4_OFF (DL_ETH_HLEN + DL_IPV4_HLEN)

/* --- counters ------------------------------------------------------------ */

enum dl_eth_cnt {
	ETH_RX_FRAMES,
	ETH_DROP_TRUNCATED,
	ETH_DROP_NOT_FOR_US,
	ETH_DROP_MULTICAST,
	ETH_DROP_VLAN,
	ETH_DROP_UNKNOWN_TYPE,
	ETH_TX_FRAMES,
	ETH_TX_DROP_QUEUE_FULL,
	ETH_TX_NOBUF,
	ETH_HANDOFF_OUT,
	ETH_HANDOFF_IN,
	ETH_NCNT
};

enum dl_arp_cnt {
	ARP_RX,
	ARP_RX_REQUEST,
	ARP_RX_REPLY,
	ARP_TX_REQUEST,
	ARP_TX_REPLY,
	ARP_TX_GRATUITOUS,
	ARP_DROP_TRUNCATED,
	ARP_DROP_BAD_FORMAT,
	ARP_DROP_BAD_OPCODE,
	ARP_DROP_BAD_SENDER,
	ARP_IGNORED_NOT_FOR_US,
	ARP_ADDR_CONFLICT,
	ARP_LEARNED,
	ARP_UPDATED,
	ARP_EVICTED,
	ARP_EXPIRED,
	ARP_PENDING_QUEUED,
	ARP_PENDING_SENT,
	ARP_DROP_PENDING_FULL,
	ARP_DROP_UNRESOLVED,
	ARP_DROP_NO_ROUTE,
	ARP_DROP_PENDING_CONN_GONE,
	ARP_NCNT
};

enum dl_ipv4_cnt {
	IPV4_RX,
	IPV4_DROP_TRUNCATED,
	IPV4_DROP_BAD_VERSION,
	IPV4_DROP_BAD_IHL,
	IPV4_DROP_BAD_LENGTH,
	IPV4_DROP_BAD_CHECKSUM,
	IPV4_DROP_FRAGMENT,
	IPV4_DROP_OPTIONS,
	IPV4_DROP_TTL_ZERO,
	IPV4_DROP_NOT_FOR_US,
	IPV4_DROP_BAD_SRC,
	IPV4_DROP_UNKNOWN_PROTO,
	IPV4_DROP_UDP_NO_LISTENER,
	IPV4_TX,
	IPV4_NCNT
};

enum dl_icmp_cnt {
	ICMP_RX,
	ICMP_RX_ECHO_REQUEST,
	ICMP_TX_ECHO_REPLY,
	ICMP_RX_DEST_UNREACH,
	ICMP_RX_ERROR_TCP,	/* errors quoting TCP, handed to TCP */
	ICMP_DROP_ERROR_NOT_TCP,	/* errors quoting something else (or too little) */
	ICMP_DROP_TRUNCATED,
	ICMP_DROP_BAD_CHECKSUM,
	ICMP_DROP_UNSUPPORTED,
	ICMP_DROP_BROADCAST_ECHO,
	ICMP_NCNT
};

/* --- ARP state ----------------------------------------------------------- */

enum dl_arp_state { ARP_FREE = 0, ARP_INCOMPLETE, ARP_VALID };

struct dl_arp_entry {
	uint32_t ip;
	uint8_t mac[6];
	uint8_t state;   /**< dl_arp_state */
	uint8_t retries; /**< requests sent since the last reply */
	uint64_t expires; /**< VALID: time the mapping goes stale */
	uint64_t last_req; /**< time of the last request we sent for it */
};

/** A frame waiting for its next hop's MAC address. */
struct dl_arp_pending {
	struct dl_tx_pkt pkt;
	struct dl_buf *release; /**< RX buffer referenced by pkt, freed after tx */
	uint32_t nexthop;
};

/* --- the stack ----------------------------------------------------------- */

struct dl_tcp;

struct dl_stack {
	struct dl_stack_config cfg;
	struct dl_nic *nic;
	uint16_t queue;
	unsigned net_index;
	unsigned n_net;
	uint32_t netmask;  /**< from cfg.prefix_len */
	uint32_t subnet_bcast; /**< our subnet's broadcast address (0xffffffff with a /32) */
	uint64_t now;      /**< time of the current input/poll call, microseconds */
	uint16_t ip_id;
	const struct dl_stack_upcalls *up;
	void *up_arg;

	/* Transmit batch; txq_release[i] is an RX buffer txq[i] references. */
	unsigned txq_n;
	struct dl_tx_pkt txq[DL_STACK_TXQ];
	struct dl_buf *txq_release[DL_STACK_TXQ];

	/* ARP cache (open addressing, arp_mask + 1 entries) and pending queue. */
	struct dl_arp_entry *arp_tab;
	uint32_t arp_mask;
	struct dl_arp_pending *arp_pend; /**< ring of cfg.arp_pending_max */
	uint32_t arp_pend_head, arp_pend_n;
	uint64_t arp_next_scan;
	bool arp_scan; /**< unresolved or stale entries: dl_arp_poll has work */

	struct dl_tcp *tcp;

	uint64_t eth_cnt[ETH_NCNT];
	uint64_t arp_cnt[ARP_NCNT];
	uint64_t ipv4_cnt[IPV4_NCNT];
	uint64_t icmp_cnt[ICMP_NCNT];
	struct dl_counter_block blk_eth, blk_arp, blk_ipv4, blk_icmp;
};

/* --- internal entry points ----------------------------------------------- */

void dl_eth_input(struct dl_stack *s, struct dl_rx_pkt *pkt);
void dl_arp_input(struct dl_stack *s, struct dl_rx_pkt *pkt, const struct dl_eth_hdr *eth,
		  const uint8_t *l3, size_t len);
void dl_ipv4_input(struct dl_stack *s, struct dl_rx_pkt *pkt, const uint8_t *l3, size_t len);
void dl_icmp_input(struct dl_stack *s, struct dl_rx_pkt *pkt, const struct dl_ipv4_hdr *ip,
		   const uint8_t *l4, size_t len);

int dl_arp_init(struct dl_stack *s);
void dl_arp_fini(struct dl_stack *s);
void dl_arp_poll(struct dl_stack *s);
void dl_arp_announce(struct dl_stack *s);
/** Look up (or start resolving) ip; NULL when not resolved yet. */
const uint8_t *dl_arp_resolve(struct dl_stack *s, uint32_t ip);
/** Park a frame (whose Ethernet header is still empty) until nexthop resolves. */
void dl_arp_park(struct dl_stack *s, struct dl_tx_pkt *pkt, struct dl_buf *release,
		 uint32_t nexthop);
/**
 * Drop the parked frames of one TCP connection (remote address rip, host
 * order; our port lport, its port rport) that reference memory outside
 * their header buffer: the connection is being released and its
 * application may reuse that memory. Its RST, built in the header, stays.
 */
void dl_arp_drop_conn(struct dl_stack *s, uint32_t rip, uint16_t lport, uint16_t rport);

/**
 * Start a frame: take a header buffer and a transmit slot. *l4 points where
 * the L4 header goes (after Ethernet + IPv4), *room is the space left there.
 * NULL when no header buffer is available (counted).
 */
struct dl_tx_pkt *dl_ip_tx_begin(struct dl_stack *s, uint8_t **l4, uint16_t *room);

/**
 * Finish the frame started by dl_ip_tx_begin: IPv4 header for dst (host
 * order) with protocol proto and l4_len bytes of L4 header in the buffer
 * (payload in pkt->frag), offload flags ol (dl_tx_flags: checksums) ORed
 * with DL_IP_TOS(type of service) for a TOS byte other than 0 (its low
 * two bits the ECN field), then ARP and queue.
 * `release` (may be NULL) is an RX buffer the payload references, freed
 * once the frame is handed to the NIC or dropped.
 * @return 0 queued or parked for ARP, negative errno when dropped (counted).
 */
int dl_ip_tx_commit(struct dl_stack *s, struct dl_tx_pkt *pkt, uint32_t dst, uint8_t proto,
		    uint16_t l4_len, uint16_t ol, struct dl_buf *release);

/** The IPv4 TOS byte in dl_ip_tx_commit's `ol` (the flags use the low byte). */
#define DL_IP_TOS(tos) ((uint16_t)((unsigned)(tos) << 8))

/** Drop a frame started with dl_ip_tx_begin (frees its header buffer). */
void dl_ip_tx_abort(struct dl_stack *s, struct dl_tx_pkt *pkt);

/** Queue a frame whose Ethernet header is complete (used by ARP and commit). */
void dl_eth_tx_queue(struct dl_stack *s, struct dl_tx_pkt *pkt, struct dl_buf *release);

/** True if ip is on our subnet. */
static inline bool dl_stack_on_link(const struct dl_stack *s, uint32_t ip)
{
	return ((ip ^ s->cfg.ip) & s->netmask) == 0;
}

/** True if ip is a broadcast address for us (limited or subnet-directed). */
static inline bool dl_stack_is_bcast(const struct dl_stack *s, uint32_t ip)
{
	return ip == 0xffffffffu || ip == s->subnet_bcast;
}

/* --- TCP hooks (stack/tcp*.c) ------------------------------------------- */

/** Create the TCP state of a stack (connection/listen tables, timing wheel). */
struct dl_tcp *dl_tcp_create(struct dl_stack *s);
/** Abort every connection and free the TCP state. */
void dl_tcp_destroy(struct dl_stack *s);
/**
 * A TCP segment for us: seg/len is the IPv4 payload (len = total_len -
 * header). Takes ownership of pkt->buf.
 */
void dl_tcp_input(struct dl_stack *s, struct dl_rx_pkt *pkt, const struct dl_ipv4_hdr *ip,
		  const uint8_t *seg, size_t len);
/** Run TCP timers due at s->now. */
void dl_tcp_poll(struct dl_stack *s);
/**
 * Run TCP's deferred work: output of every connection that asked for it
 * (ACKs of a whole input burst batched), cleanup upcalls and releases.
 * Called by dl_stack_flush() before the frames go to the NIC.
 */
void dl_tcp_flush(struct dl_stack *s);
/**
 * An ICMP error (type, code, next-hop MTU for frag-needed) quoting q/qlen
 * (the offending IPv4 header and what follows of it) that carries TCP.
 */
void dl_tcp_icmp_error(struct dl_stack *s, uint8_t type, uint8_t code, uint16_t mtu,
		       const uint8_t *q, size_t qlen);
/** Earliest TCP deadline (see dl_stack_next_deadline). */
uint64_t dl_tcp_next_deadline(const struct dl_stack *s);

/** Hand the queued frames to the NIC (no TCP work; safe mid-output). */
void dl_stack_tx_flush(struct dl_stack *s);

#endif /* DL_STACK_PRIV_H */
