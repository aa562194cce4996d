/*
 * dl_noc.h - a core's NoC endpoint: out-ports with loss-free overflow, the
 * mailbox, decoding, counters; and the fabric of channels between cores.
 *
 * How the runtime uses it:
 *
 *     fab = dl_noc_fabric_create(ncores, DL_CHAN_DEFAULT_WORDS, NULL);
 *     for each core c: ep[c] = dl_noc_ep_create(fab, c, NULL);
 *     ... on core c, every loop iteration:
 *         dl_noc_poll(ep, budget, on_msg, ctx);      // handlers may dl_noc_send()
 *         ... driver / stack / application work, dl_noc_send() ...
 *         dl_noc_flush(ep);
 *
 * Sending never blocks and never drops (paper §4.3). dl_noc_send() hands
 * the message to the transport, visible to @p dst at once, when the
 * out-port has credits and no older message waits; otherwise it appends
 * it to the port's overflow queue, a growable chunked list in the
 * sender's private memory. dl_noc_flush() moves overflowed messages out,
 * oldest first, as credits allow, and publishes them (one publication per
 * port): per destination, messages arrive in the order they were sent. Because a core never waits for a
 * credit and keeps draining its own mailbox, no cycle of full channels can
 * deadlock. The only refusals are reported: -ENOMEM (the overflow could
 * not grow), -EPIPE (the channel is broken), -EMSGSIZE/-EINVAL (malformed),
 * -EHOSTUNREACH (no channel to that core); each has a counter.
 *
 * dl_noc_poll() takes messages fairly from every source (the transport's
 * round robin), decodes each with dl_msg_decode() and checks its class
 * against what the source may send (dl_noc_set_accept(); an application
 * core may not send a PKT_HANDOFF): rejected and undecodable messages are
 * counted and not delivered.
 *
 * The transport is chosen by the build (dl_transport.h): SPSC rings in
 * shared memory on x86 (noc/ring), the UDN with its switch-FIFO credit
 * check on TILE-Gx (noc/udn). This API, the codec, the overflow queues,
 * the accept rules and the counters are the same on both.
 *
 * Thread-safety: the fabric and endpoints are created and destroyed by one
 * control thread while no core runs; an endpoint is then used by its core
 * only. Counters are registered with dl_stats (module "noc", one block per
 * core) unless the configuration says otherwise.
 */
#ifndef DL_NOC_H
#define DL_NOC_H

#include <stdbool.h>
#include <stdint.h>

#include "dl_hal.h"
#include "dl_msg.h"
#include "dl_transport.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Fabric                                                                   */
/* ------------------------------------------------------------------------ */

struct dl_noc_fabric;

/**
 * Create the channels between cores 0..@p ncores-1 (ring transport: in one
 * memory region, dl_region_create(), memfd backed, so protected mode can
 * share it).
 * @param words capacity of every channel (a power of two >= 8; >= 128 to
 *        carry every message size).
 * @param links NULL for a channel between every ordered pair of distinct
 *        cores, else @p ncores core sets: core d in links[s] asks for a
 *        channel from core s to core d.
 * @return the fabric, or NULL with errno set (EINVAL, ENOMEM, ENOSPC).
 */
struct dl_noc_fabric *dl_noc_fabric_create(unsigned ncores, unsigned words,
					   const struct dl_coreset *links);

/** Free the fabric and its region (its endpoints must be destroyed first). Safe on NULL. */
void dl_noc_fabric_destroy(struct dl_noc_fabric *f);

/** The region holding the fabric's memory (NULL when attached or mapped, or none). */
struct dl_region *dl_noc_fabric_region(const struct dl_noc_fabric *f);

/** Channel capacity in words. */
unsigned dl_noc_fabric_words(const struct dl_noc_fabric *f);

/**
 * Place the fabric's memory on NUMA nodes: what each core receives goes
 * on that core's node (@p node_of[core], < 0: no preference), as the
 * consumer polls it. Pages already touched move. A transport without
 * memory (UDN) does nothing.
 * @return 0, or a negative errno (the first binding that failed).
 */
int dl_noc_fabric_place(struct dl_noc_fabric *f, const int *node_of);

/*
 * Fabrics shared between processes (protected mode). The service lays the
 * fabric out in a region it made (a memfd it can pass to an application
 * with SCM_RIGHTS); the application maps it with dl_noc_fabric_map(),
 * which gives it write access only to what its own cores write. Both
 * sides plan the fabric from the same (ncores, words, links).
 */

/**
 * Bytes of channel memory dl_noc_fabric_create_in() needs for this plan.
 * @return the size (0 when there is no channel), or 0 with errno EINVAL on
 *         bad arguments.
 */
size_t dl_noc_fabric_size(unsigned ncores, unsigned words, const struct dl_coreset *links);

/**
 * Like dl_noc_fabric_create() but in the caller's region @p r (read-write,
 * page aligned, at least dl_noc_fabric_size() bytes), which the fabric
 * does not own: dl_noc_fabric_destroy() leaves it alone.
 * @return the fabric, or NULL with errno set (EINVAL, ENOSPC: too small, ENOMEM).
 */
struct dl_noc_fabric *dl_noc_fabric_create_in(struct dl_region *r, unsigned ncores,
					      unsigned words, const struct dl_coreset *links);

/**
 * A fabric over channels another process initialised, mapped at @p base
 * (@p len bytes; parts may be read-only: attaching reads, never writes).
 * Endpoints are created on it as usual; the mapping stays the caller's.
 * @return the fabric, or NULL with errno set (EINVAL, ENOSPC: @p len too small).
 */
struct dl_noc_fabric *dl_noc_fabric_attach(void *base, size_t len, unsigned ncores, unsigned words,
					   const struct dl_coreset *links);

/**
 * Map a fabric another process laid out (its memory is @p fd, @p len
 * bytes) for the cores in @p local: everything read-only but what those
 * cores write (ring transport: the producer area of every channel a local
 * core sends on, the consumer page of every channel it reads). The fabric
 * owns the mapping (dl_noc_fabric_destroy() unmaps it); @p fd stays the
 * caller's.
 * @return the fabric, or NULL with errno set (EINVAL, EPROTO: @p len is
 *         not what this plan needs, or mmap's error).
 */
struct dl_noc_fabric *dl_noc_fabric_map(int fd, size_t len, unsigned ncores, unsigned words,
					const struct dl_coreset *links,
					const struct dl_coreset *local);

/* ------------------------------------------------------------------------ */
/* Endpoint                                                                 */
/* ------------------------------------------------------------------------ */

/** Endpoint counters (dl_noc_counters(), dl_stats module "noc"). */
enum dl_noc_cnt {
	DL_NOC_TX_MSGS,		 /**< messages accepted by dl_noc_send() */
	DL_NOC_TX_WORDS,	 /**< their words */
	DL_NOC_TX_OVERFLOWED,	 /**< of which went through an overflow queue */
	DL_NOC_TX_NOMEM,	 /**< refused with -ENOMEM (overflow could not grow) */
	DL_NOC_TX_BAD_MSG,	 /**< refused: bad size or framing */
	DL_NOC_TX_NO_ROUTE,	 /**< refused: no channel to the destination */
	DL_NOC_TX_BROKEN,	 /**< refused: channel broken */
	DL_NOC_OVF_PENDING_MSGS, /**< gauge: messages waiting in overflow queues */
	DL_NOC_OVF_PENDING_WORDS,
	DL_NOC_OVF_HWM_MSGS, /**< high-water mark of the pending messages */
	DL_NOC_OVF_HWM_WORDS,
	DL_NOC_TX_CHAN_BROKEN,	  /**< outgoing channels found broken */
	DL_NOC_TX_CREDIT_RELOADS, /**< head re-reads (credits ran short) */
	DL_NOC_RX_CHAN_BROKEN,	  /**< incoming channels found broken */
	DL_NOC_RX_MSGS,		  /**< messages delivered to the handler */
	DL_NOC_RX_DECODE_ERR,	  /**< dropped: dl_msg_decode() refused them */
	DL_NOC_RX_REJECTED,	  /**< dropped: class not accepted from that source */
	DL_NOC_NCNT
};

/** Counter names, indexed by enum dl_noc_cnt. */
extern const char *const dl_noc_cnt_names[DL_NOC_NCNT];

/** Endpoint options; a NULL configuration means all defaults. */
struct dl_noc_conf {
	unsigned quota; /**< mailbox messages per channel per visit (0: default) */
	/** Cap on one destination's overflow in words (beyond it: -ENOMEM); 0 = no cap. */
	uint64_t ovf_limit_words;
	bool no_stats; /**< do not register the counters with dl_stats */
};

struct dl_noc_ep;

/**
 * Called for each delivered message.
 * @param src the sending core.
 * @param m the decoded message; array refs point into memory valid during
 *        the call only.
 */
typedef void (*dl_noc_fn)(void *arg, unsigned src, const struct dl_msg *m);

/**
 * Endpoint of core @p core: producer handles of its outgoing channels,
 * consumer handles of its incoming ones. Every source may send every class
 * until dl_noc_set_accept() says otherwise.
 * @return the endpoint or NULL with errno set (EINVAL, EBUSY: the core
 *         already has an endpoint, ENOMEM).
 */
struct dl_noc_ep *dl_noc_ep_create(struct dl_noc_fabric *f, unsigned core,
				   const struct dl_noc_conf *conf);

/** Free an endpoint, its overflow queues (pending messages are lost) and its counters. */
void dl_noc_ep_destroy(struct dl_noc_ep *ep);

/**
 * Send one message (header first, @p nwords words) to core @p dst: visible
 * to @p dst at once when it goes straight into the ring, after a later
 * dl_noc_flush() when it has to wait in the overflow queue.
 * @return 0 (in the ring or in the overflow queue), -EHOSTUNREACH,
 *         -EINVAL (header word count != @p nwords), -EMSGSIZE (larger than
 *         DL_MSG_MAX_WORDS or the channel), -ENOMEM, -EPIPE.
 */
int dl_noc_send(struct dl_noc_ep *ep, unsigned dst, const uint64_t *msg, unsigned nwords);

/** Words of the endpoint's receive buffer (at least one largest message). */
#define DL_NOC_RXBUF_WORDS 2048u

/*
 * The first member of every endpoint: what the inline idle checks of
 * dl_noc_flush() and dl_noc_poll() read, so that a loop iteration with
 * nothing to send or receive makes no call. Private to noc.c otherwise.
 */
struct dl_noc_ep_head {
	unsigned ndirty;      /* ports with an open batch or overflow */
	struct dl_tp_in in; /* the transport's receive side */
};

/* The work of dl_noc_flush() when some port is dirty (noc.c). */
uint64_t dl_noc_flush_dirty(struct dl_noc_ep *ep);
/* dl_noc_poll() past its idle check (noc.c). */
unsigned dl_noc_poll_ready(struct dl_noc_ep *ep, unsigned budget, dl_noc_fn fn, void *arg);

/**
 * Move overflowed messages into their rings as credits allow and publish
 * every ring written since the last flush (on the UDN: send on the parts of
 * large messages as the switch FIFO's credit allows). Call once per loop
 * iteration.
 * @return messages still waiting in overflow queues or not yet wholly sent
 *         (all destinations).
 */
static inline uint64_t dl_noc_flush(struct dl_noc_ep *ep)
{
	/* A port with messages in overflow stays dirty until they are out:
	 * no dirty port, nothing pending. */
	if (((const struct dl_noc_ep_head *)ep)->ndirty == 0)
		return 0;
	return dl_noc_flush_dirty(ep);
}

/**
 * Deliver up to @p budget incoming messages to @p fn (round-robin over
 * sources, per-source quota). @return messages taken from the channels
 * (delivered or dropped as invalid).
 */
static inline unsigned dl_noc_poll(struct dl_noc_ep *ep, unsigned budget, dl_noc_fn fn, void *arg)
{
	const struct dl_noc_ep_head *h = (const struct dl_noc_ep_head *)ep;

	/* The idle check without a call (ring transport, one incoming
	 * channel: one load and a compare). */
	return dl_tp_in_ready(&h->in) ? dl_noc_poll_ready(ep, budget, fn, arg) : 0;
}

/**
 * Accept only the classes in @p class_mask (enum dl_msg_class bits) from
 * core @p src. @return 0 or -EINVAL.
 */
int dl_noc_set_accept(struct dl_noc_ep *ep, unsigned src, unsigned class_mask);

/**
 * Told about each message dl_noc_poll() drops (counted in
 * DL_NOC_RX_DECODE_ERR or DL_NOC_RX_REJECTED).
 * @param msg the raw words (@p nwords, framing already checked), valid
 *        during the call only.
 * @param reason the decoder's error (-ENOMSG, -EBADMSG, -EINVAL, ...) or
 *        -EACCES when the class is not accepted from @p src.
 */
typedef void (*dl_noc_reject_fn)(void *arg, unsigned src, const uint64_t *msg, unsigned nwords,
				 int reason);

/** Install (or with NULL remove) the handler of dropped messages. */
void dl_noc_set_reject_fn(struct dl_noc_ep *ep, dl_noc_reject_fn fn, void *arg);

/**
 * Messages waiting in the overflow queue to @p dst (every destination if
 * @p dst < 0), counting a message the transport is still sending in parts
 * (UDN) as one.
 */
uint64_t dl_noc_pending(const struct dl_noc_ep *ep, int dst);

/** One out-port seen from outside (dl_noc_port_stat()). */
struct dl_noc_port_stat {
	bool present;	    /**< a channel to that core exists */
	bool broken;	    /**< found broken: nothing goes out on it */
	uint64_t msgs;	    /**< messages accepted for that core so far */
	uint64_t ovf_msgs;  /**< of which waiting in the overflow queue now */
	uint64_t ovf_words; /**< their words */
	unsigned credits;   /**< words the channel could take now */
};

/**
 * The out-port of @p ep to core @p dst, for telemetry: any thread may call
 * it while the endpoint's core runs (relaxed reads of the core's own
 * words: each value is one the core wrote, not a snapshot of all).
 */
void dl_noc_port_stat(const struct dl_noc_ep *ep, unsigned dst, struct dl_noc_port_stat *st);

/** The endpoint's counters, indexed by enum dl_noc_cnt (read only). */
const uint64_t *dl_noc_counters(const struct dl_noc_ep *ep);

/** The core this endpoint belongs to. */
unsigned dl_noc_core(const struct dl_noc_ep *ep);

#ifdef __cplusplus
}
#endif

#endif /* DL_NOC_H */
