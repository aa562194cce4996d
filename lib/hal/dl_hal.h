/*
 * dl_hal.h - the hardware abstraction layer between the DLibOS stack and the
 * machine it runs on.
 *
 * The TCP/IP stack, the NoC layer and the runtime talk to hardware only
 * through this header. Two families of backends implement it:
 *
 *   - drivers/dpdk:    any DPDK ethdev port (net_tap locally), mbufs,
 *                      mempools, chained and external-buffer mbufs;
 *   - drivers/tilegx:  TILE-Gx mPIPE (buffer stacks, notif rings, gather
 *                      eDMA descriptors with csum_start/csum_dest, hwb);
 *   - drivers/memwire: an in-memory wire between two stacks, used by tests
 *                      and deterministic (callgrind) benchmarks.
 *
 * The shape follows what both DPDK and mPIPE can do:
 *
 *   RX   rx_burst() fills an array of dl_rx_pkt descriptors *by value*
 *        (mPIPE idesc / DPDK mbuf fields). Each names a backend buffer
 *        (struct dl_buf, opaque) that the stack either frees at once with
 *        dl_nic_buf_free() or holds (zero-copy receive) until the
 *        application returns it. Every RX buffer lives in one memory region
 *        (dl_region) so that its payload can be named by (region, offset).
 *
 *   TX   tx_burst() takes scatter-gather packets: one header buffer taken
 *        from the NIC's private header pool (dl_nic_hdr_alloc) plus up to
 *        DL_TX_MAX_FRAGS payload fragments that point into registered memory
 *        (application TX regions). The stack leaves L3/L4 checksum fields
 *        zero and asks for offload with DL_TX_*; the backend honours the
 *        request in hardware or in software, so the stack never computes a
 *        transmit checksum itself. On success the backend owns the header
 *        buffer; payload fragments are only referenced: their memory must
 *        stay valid until the peer acknowledges it (TCP's data_acked).
 *
 * Nothing in this header depends on DPDK or gxio; backends never include
 * stack headers.
 *
 * Thread-safety: a queue (rx/tx/hdr_alloc on queue q) is used by exactly one
 * core. buf_free may be called from any core. Control calls (open, close,
 * link, stats, rss) are made by the main thread while no core polls.
 */
#ifndef DL_HAL_H
#define DL_HAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dl_coreset.h"
#include "dl_time.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Memory regions                                                           */
/* ------------------------------------------------------------------------ */

/** Maximum number of regions in one process (ids are 7 bits on the NoC). */
#define DL_REGION_MAX 127
/** Region id meaning "no region". */
#define DL_REGION_NONE 0xffff

/** Flags for dl_region_create(). */
enum dl_region_flags {
	DL_REGION_HUGE = 1u << 0,   /**< back with hugetlbfs pages (else 4 KiB memfd) */
	DL_REGION_SHARED = 1u << 1, /**< keep the fd so it can be passed to another process */
	DL_REGION_DMA = 1u << 2,    /**< register with the NIC backend for DMA/transmit */
	DL_REGION_ADOPTED = 1u << 3, /**< memory owned by someone else (dl_region_adopt) */
};

/**
 * A named, contiguous memory region with a small integer id.
 *
 * Messages between cores never carry raw pointers: they carry
 * (region id, offset) pairs, which every address space translates with its
 * own mapping of the region (Table 1's ptr(offset)). This is what lets an
 * application process see RX buffers read-only at a different address.
 */
struct dl_region {
	uint16_t id;      /**< index in the region table */
	char name[32];    /**< human-readable name, e.g. "rx", "app0-tx" */
	uint8_t *base;    /**< this process's mapping */
	size_t len;       /**< bytes */
	uint64_t iova;    /**< IO address of base (backend-filled), 0 if unknown */
	int fd;           /**< backing memfd/hugetlbfs fd, -1 if none */
	unsigned flags;   /**< dl_region_flags */
	bool readonly;    /**< mapped PROT_READ in this process */
	size_t page_size; /**< backing page size */
	int numa_node;    /**< node its pages are bound to, -1 when not bound */
};

/**
 * Create a region of @p len bytes (rounded up to the page size) backed by a
 * memfd (or hugetlbfs file with DL_REGION_HUGE), mapped read-write.
 * @return the region, or NULL with errno set (ENOSPC when the table is
 *         full, ENOMEM/EINVAL from the kernel).
 */
struct dl_region *dl_region_create(const char *name, size_t len, unsigned flags);

/**
 * dl_region_create() with the pages bound to NUMA node @p numa_node (the
 * node of the cores that use the region) before anything touches them
 * (dl_numa.h; < 0, or a machine without NUMA: no binding).
 * @return the region, or NULL with errno set (as dl_region_create(), and
 *         EINVAL for a node that does not exist).
 */
struct dl_region *dl_region_create_on(const char *name, size_t len, unsigned flags, int numa_node);

/**
 * Bind part of a region, [@p off, @p off + @p len) rounded out to pages,
 * to NUMA node @p numa_node, before it is touched (the NoC places each
 * channel on its consumer's node this way). @return 0 or -errno.
 */
int dl_region_bind(struct dl_region *r, size_t off, size_t len, int numa_node);

/** Print every region: name, id, size, page size, NUMA node (start-up report). */
void dl_region_report(void);

/**
 * Map a region received from another process (its fd) under a given id.
 * @param readonly map PROT_READ only.
 * @return the region or NULL with errno set (EEXIST if the id is in use).
 */
struct dl_region *dl_region_attach(uint16_t id, const char *name, int fd, size_t len,
				   bool readonly);

/**
 * Give an id to memory the caller mapped itself (e.g. huge pages from a
 * platform allocator that has no file descriptor): a region with fd -1
 * (so it cannot be passed to another process) and DL_REGION_ADOPTED, whose
 * destruction forgets it without unmapping it.
 * @return the region, or NULL with errno set (ENOSPC when the table is full).
 */
struct dl_region *dl_region_adopt(const char *name, void *base, size_t len, size_t page_size);

/** Unmap and forget a region; closes its fd. Safe on NULL. */
void dl_region_destroy(struct dl_region *r);

/**
 * The table of regions by id (region.c; written only by the create,
 * attach and destroy calls above, on the control path). Read it through
 * dl_region_get().
 */
extern struct dl_region *dl_region_table[DL_REGION_MAX];

/** Region by id, or NULL (inline: per-request paths turn references into pointers). */
static inline struct dl_region *dl_region_get(uint16_t id)
{
	/* Plain read: entries change only on the control path, before or
	 * after the cores that use them run. */
	return id < DL_REGION_MAX ? dl_region_table[id] : NULL;
}

/**
 * Region containing [p, p+len), or NULL. Linear in the number of regions;
 * hot paths keep the region id with the pointer instead.
 */
struct dl_region *dl_region_find(const void *p, size_t len);

/** True when [off, off+len) lies inside region @p r (overflow-safe). */
static inline bool dl_region_contains(const struct dl_region *r, uint64_t off, uint64_t len)
{
	return r != NULL && off <= r->len && len <= r->len - off;
}

/* ------------------------------------------------------------------------ */
/* Packet buffers and descriptors                                           */
/* ------------------------------------------------------------------------ */

/** Opaque backend buffer: an rte_mbuf, an mPIPE buffer, a memwire buffer. */
struct dl_buf;

/** Bytes of per-buffer scratch the stack may use while it holds an RX buffer. */
#define DL_BUF_SCRATCH 32

/** RX descriptor flags. */
enum dl_rx_flags {
	DL_RX_HASH_VALID = 1u << 0,   /**< hash is the device's flow hash */
	DL_RX_L3_CSUM_GOOD = 1u << 1, /**< IPv4 header checksum verified good */
	DL_RX_L3_CSUM_BAD = 1u << 2,  /**< IPv4 header checksum verified bad */
	DL_RX_L4_CSUM_GOOD = 1u << 3, /**< TCP/UDP checksum verified good */
	DL_RX_L4_CSUM_BAD = 1u << 4,  /**< TCP/UDP checksum verified bad */
	DL_RX_HANDOFF = 1u << 5,      /**< delivered by another net core over the NoC */
};

/**
 * One received frame, filled by rx_burst (by value, like an mPIPE idesc).
 * The frame is contiguous: backends configure buffers large enough for the
 * MTU and drop (and count) longer frames.
 */
struct dl_rx_pkt {
	uint8_t *data;      /**< first byte of the Ethernet header */
	uint32_t len;       /**< frame length in bytes */
	uint32_t hash;      /**< flow hash when DL_RX_HASH_VALID */
	uint32_t flags;     /**< dl_rx_flags */
	uint16_t region;    /**< region holding data (for zero-copy references) */
	uint16_t queue;     /**< RX queue it arrived on */
	void *scratch;      /**< DL_BUF_SCRATCH bytes the stack may use while holding buf */
	struct dl_buf *buf; /**< handle to free with dl_nic_buf_free() */
};

/** Maximum payload fragments in one transmitted packet. */
#define DL_TX_MAX_FRAGS 16

/** One transmit payload fragment (referenced, never copied by the stack). */
struct dl_tx_frag {
	const uint8_t *data; /**< first byte, in this process's mapping */
	uint32_t len;        /**< bytes, > 0 */
	uint16_t region;     /**< region holding data; DL_REGION_NONE = private memory */
};

/** Transmit offload requests. */
enum dl_tx_flags {
	DL_TX_IP_CKSUM = 1u << 0,  /**< fill the IPv4 header checksum */
	DL_TX_TCP_CKSUM = 1u << 1, /**< fill the TCP checksum (pseudo-header included) */
	DL_TX_UDP_CKSUM = 1u << 2, /**< fill the UDP checksum */
	DL_TX_ICMP_CKSUM = 1u << 3, /**< fill the ICMP checksum (software only) */
	DL_TX_TSO = 1u << 4,       /**< segment into tso_segsz payload chunks */
};

/**
 * One packet to transmit: a header buffer (Ethernet + IPv4 + L4 header,
 * hdr_len bytes, from dl_nic_hdr_alloc) followed by payload fragments.
 * Checksum fields named by ol_flags must be zero; the backend fills them.
 * With DL_TX_TSO the backend (or the device) cuts the payload into
 * tso_segsz-byte segments, fixing IP id/length, TCP sequence numbers and
 * clearing FIN/PSH on all but the last segment.
 */
struct dl_tx_pkt {
	struct dl_buf *hdr; /**< header buffer; owned by the backend after tx */
	uint8_t *hdr_data;  /**< first byte of hdr (as returned by hdr_alloc) */
	uint16_t hdr_len;   /**< bytes of headers at the start of hdr */
	uint8_t l2_len;     /**< Ethernet header bytes */
	uint8_t l3_len;     /**< IPv4 header bytes */
	uint8_t l4_len;     /**< TCP/UDP/ICMP header bytes (ICMP: whole message in hdr) */
	uint8_t nfrags;     /**< payload fragments used */
	uint16_t ol_flags;  /**< dl_tx_flags */
	uint16_t tso_segsz; /**< payload bytes per segment with DL_TX_TSO */
	struct dl_tx_frag frag[DL_TX_MAX_FRAGS];
};

/* ------------------------------------------------------------------------ */
/* NIC                                                                      */
/* ------------------------------------------------------------------------ */

/** NIC capabilities (dl_nic.caps). */
enum dl_nic_caps {
	DL_NIC_CAP_RSS = 1u << 0,         /**< Toeplitz RSS with a settable key and RETA */
	DL_NIC_CAP_TX_IP_CKSUM = 1u << 1, /**< hardware IPv4 header checksum */
	DL_NIC_CAP_TX_L4_CKSUM = 1u << 2, /**< hardware TCP/UDP checksum */
	DL_NIC_CAP_TSO = 1u << 3,         /**< TCP segmentation offload */
	DL_NIC_CAP_RX_CKSUM = 1u << 4,    /**< RX checksum verification */
	DL_NIC_CAP_MULTI_SEG = 1u << 5,   /**< gather (chained) transmit */
	DL_NIC_CAP_EXTBUF = 1u << 6,      /**< transmit from registered external memory */
	DL_NIC_CAP_RX_STEER = 1u << 7,    /**< rx_steer: a local port's segments into a given region */
};

/** Link state. */
struct dl_link {
	bool up;
	bool full_duplex;
	uint32_t speed_mbps; /**< 0 if unknown */
};

/** Port counters (backend-maintained; software drops included). */
struct dl_nic_stats {
	uint64_t rx_packets, rx_bytes, rx_dropped, rx_errors, rx_nombuf;
	uint64_t tx_packets, tx_bytes, tx_dropped, tx_errors;
	uint64_t tx_sw_cksum;      /**< packets whose checksums were done in software */
	uint64_t tx_sw_tso;        /**< TSO packets segmented in software */
	uint64_t tx_hdr_nobuf;     /**< dl_nic_hdr_alloc failures */
	uint64_t tx_frag_nobuf;    /**< fragment descriptor (extbuf mbuf) allocation failures */
	uint64_t rx_oversize;      /**< frames longer than one buffer, dropped */
};

struct dl_nic;

/** Backend operations. All are required unless marked optional. */
struct dl_nic_ops {
	/** Receive up to n frames from queue q. */
	uint16_t (*rx_burst)(struct dl_nic *nic, uint16_t q, struct dl_rx_pkt *pkts, uint16_t n);
	/**
	 * Transmit up to n packets on queue q. Returns how many were accepted;
	 * the caller still owns (and must retry or free) the rest. Accepted
	 * header buffers belong to the backend.
	 */
	uint16_t (*tx_burst)(struct dl_nic *nic, uint16_t q, struct dl_tx_pkt *pkts, uint16_t n);
	/**
	 * Take a header buffer for queue q. *data receives its first byte and
	 * *room the usable bytes (at least 128). NULL when the pool is empty.
	 */
	struct dl_buf *(*hdr_alloc)(struct dl_nic *nic, uint16_t q, uint8_t **data, uint16_t *room);
	/** Free an RX buffer or an untransmitted header buffer. Any core. */
	void (*buf_free)(struct dl_nic *nic, struct dl_buf *b);
	/** Link state (main thread). */
	int (*link_get)(struct dl_nic *nic, struct dl_link *link);
	/** Port counters (main thread; may be called while cores poll). */
	int (*stats_get)(struct dl_nic *nic, struct dl_nic_stats *st);
	/** Optional: program RSS key (40 bytes) and a RETA mapping hash -> queue. */
	int (*rss_config)(struct dl_nic *nic, const uint8_t key[40], const uint16_t *reta,
			  unsigned reta_size);
	/** Optional: register a region for transmit/DMA (fills r->iova). */
	int (*mem_register)(struct dl_nic *nic, struct dl_region *r);
	/** Optional: undo mem_register. */
	int (*mem_unregister)(struct dl_nic *nic, struct dl_region *r);
	/**
	 * Optional (DL_NIC_CAP_RX_STEER): receive the TCP segments to local
	 * @p port into buffers the port carves from [@p off, @p off + @p len)
	 * of region @p r instead of its own RX region, so that the one
	 * application mapping @p r reads them without a copy (protected
	 * mode's confidentiality on a port that can steer: rte_flow to a queue
	 * with its own mempool, the mPIPE classifier to a buffer stack).
	 * Several ports may share one area (same @p r and @p off). Control
	 * path: the engine calls it when an application attaches, from the
	 * service's control thread while network cores poll, so a backend
	 * makes the rule visible to its RX path atomically (rte_flow rules
	 * and mPIPE classifier updates are; memwire is single-threaded and
	 * only steers in single-threaded tests).
	 * @return 0, -ENOTSUP (the port cannot), -EEXIST (@p port is steered
	 *         already), -ENOSPC (no rule, queue or buffer left), -EINVAL.
	 */
	int (*rx_steer)(struct dl_nic *nic, uint16_t port, struct dl_region *r, size_t off,
			size_t len);
	/** Optional: stop steering @p port. The caller has dropped every
	 *  connection on it first: the region may go away after this. */
	int (*rx_unsteer)(struct dl_nic *nic, uint16_t port);
	/** Stop the port and release everything. */
	void (*close)(struct dl_nic *nic);
	/**
	 * Optional: create a region of @p len bytes (dl_region_flags @p flags,
	 * on NUMA node @p numa_node, < 0 for any) that this port can register
	 * for transmit: memory sent by reference, such as the application's TX
	 * memory. A port whose DMA mapping needs large pages (mPIPE: 16 pages
	 * per buffer stack) backs it with huge pages. Without this op the caller
	 * uses dl_region_create_on(). Either way the caller registers the region
	 * (mem_register) and destroys it with dl_region_destroy() before closing
	 * the port; memory the port mapped itself is released at close.
	 * @return the region, or NULL with errno set.
	 */
	struct dl_region *(*tx_region_create)(struct dl_nic *nic, const char *name, size_t len,
					      unsigned flags, int numa_node);
};

/**
 * An opened port. Backends embed this as the first member of their own
 * state and fill every field before returning it.
 */
struct dl_nic {
	const struct dl_nic_ops *ops;
	const char *name;    /**< backend name, e.g. "dpdk:net_tap0" */
	uint8_t mac[6];      /**< port MAC address */
	uint16_t mtu;        /**< IP MTU (1500 unless configured) */
	uint16_t nb_queues;  /**< RX/TX queue pairs opened */
	uint32_t caps;       /**< dl_nic_caps */
	uint16_t rx_region;  /**< region holding all RX buffers */
	uint16_t tso_max;    /**< largest TSO payload the port accepts (0 = no TSO) */
	uint16_t reta_size;  /**< RSS redirection table size (0 = no RSS) */
};

static inline uint16_t dl_nic_rx_burst(struct dl_nic *nic, uint16_t q, struct dl_rx_pkt *pkts,
				       uint16_t n)
{
	return nic->ops->rx_burst(nic, q, pkts, n);
}

static inline uint16_t dl_nic_tx_burst(struct dl_nic *nic, uint16_t q, struct dl_tx_pkt *pkts,
				       uint16_t n)
{
	return nic->ops->tx_burst(nic, q, pkts, n);
}

static inline struct dl_buf *dl_nic_hdr_alloc(struct dl_nic *nic, uint16_t q, uint8_t **data,
					      uint16_t *room)
{
	return nic->ops->hdr_alloc(nic, q, data, room);
}

static inline void dl_nic_buf_free(struct dl_nic *nic, struct dl_buf *b)
{
	nic->ops->buf_free(nic, b);
}

/** Stop and release a NIC (safe on NULL). */
static inline void dl_nic_close(struct dl_nic *nic)
{
	if (nic != NULL)
		nic->ops->close(nic);
}

/* ------------------------------------------------------------------------ */
/* Flow steering                                                            */
/* ------------------------------------------------------------------------ */

/** The Toeplitz key DLibOS programs into RSS-capable ports (Microsoft's verification key). */
extern const uint8_t dl_rss_key[40];

/**
 * Toeplitz hash of an IPv4 TCP/UDP 4-tuple as a NIC computes it with
 * dl_rss_key (addresses and ports in network byte order, in the order
 * src ip, dst ip, src port, dst port of the *received* packet).
 */
uint32_t dl_toeplitz_ipv4(const uint8_t key[40], uint32_t sip_be, uint32_t dip_be,
			  uint16_t sport_be, uint16_t dport_be);

/* ------------------------------------------------------------------------ */
/* Cores and topology                                                       */
/* ------------------------------------------------------------------------ */

/* DL_MAX_CORES, the most cores (lcores / tiles) DLibOS manages, and sets
 * of cores: dl_coreset.h (a build option). */

/** Where a core sits. */
struct dl_core_info {
	unsigned id;        /**< DLibOS core index 0..n-1 */
	unsigned hw_id;     /**< lcore id / tile cpu */
	int cpu;            /**< OS cpu the core is pinned to (first of its set), -1 if none */
	int numa_node;      /**< NUMA node / socket id, -1 if unknown */
	int l3_domain;      /**< cores sharing a last-level cache share this (x86) */
	int x, y;           /**< mesh coordinates (TILE-Gx), -1 on x86 */
};


#ifdef __cplusplus
}
#endif

#endif /* DL_HAL_H */
