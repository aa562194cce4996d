/*
 * dl_tp.h (noc/udn) - the TILE-Gx NoC transport: the contract of
 * dl_transport.h over the user dynamic network (UDN), with the paper's
 * credit check (§4.3): a tile never issues a send that could stall it.
 *
 * Packets. A message travels as one UDN packet, or as several when it is
 * larger than the tile's switch FIFO can take at once, to a demux queue of
 * the destination tile. Every packet starts with one framing word of ours,
 * then 1..125 words of the message stream of its (source, destination)
 * pair:
 *
 *     bits  0-6   message words in this packet after the framing word (1..125)
 *     bits  7-18  source core (the fabric's core index)
 *     bits 19-26  fabric id (1..255: which fabric of the receiving tile)
 *     bits 27-34  packet sequence number of the pair (mod 256)
 *     bits 35-63  the pair's key (29 random bits, never 0)
 *
 * The framing word is how a message of the codec's largest size (126 words,
 * header included) fits the UDN's 126 data words: it goes as two packets
 * (125 + 1 words, or smaller pieces when the FIFO is smaller), reassembled
 * per source at the receiver. Messages of up to 125 words, i.e. all but the
 * fullest NEW_DATA/SEND arrays, go as one packet when the FIFO has room for
 * them.
 *
 * The credit check. Before a packet leaves, the tile's free switch-FIFO
 * words (the credit, read from the FIFO-count register by one function,
 * udn.c's credit_read(): the one line to change when hardware says what
 * the register really counts) must cover the whole packet: its UDN header,
 * the framing word and the message words. The credit is cached per tile
 * and re-read only when it runs short (the FIFO only ever drains, so the
 * cache never overstates it). A message that could go whole if the FIFO
 * were emptier waits (dl_tp_out_reserve() -ENOBUFS: the endpoint keeps it
 * in its overflow queue and retries at dl_noc_flush()); a message larger
 * than the FIFO goes in pieces of at most FIFO - 2 words, each sent when
 * the credit covers it, the rest held by the out-port (dl_tp_out_idle()
 * false, the endpoint keeps the port dirty and dl_tp_out_publish() sends
 * on). Per (source, destination) the packets leave in order from one tile
 * and the UDN's dimension-ordered routing keeps them in order.
 *
 * Receive. Every demux queue of a tile may carry packets of every source
 * (the sender picks one of the four by its rank among the destination's
 * sources, so the four queues share the load). The poll reads what the
 * hardware has, only as many words as are there (it never blocks), into a
 * per-source reassembly ring in private memory (copy-out: nothing is
 * handed on before its framing and its message header were checked), up
 * to DL_UDN_READ_AHEAD messages beyond its budget and as far as the rings
 * have room (so sources whose packets wait in one queue behind each other
 * are all buffered), then delivers whole messages round robin over
 * sources, at most the quota from one source while others have messages. A source whose stream breaks the
 * framing (a header announcing 0 or too many words, a packet out of
 * sequence) is broken: counted once, its packets dropped from then on.
 * A framing word that names no fabric of the tile, an unknown source or a
 * wrong key is dropped alone (counted): the next word is read as a framing
 * word, so a forged packet cannot desynchronise the queue for longer than
 * itself.
 *
 * Tiles. A core's endpoint lives on the tile of the thread that polls it
 * first: the poll announces the tile in the fabric's tile table, and the
 * cores sending to it read it there (until then their messages wait in
 * overflow). Every UDN operation checks that the calling thread is on the
 * port's tile (SPR_TILE_COORD); from another tile (the runtime stopping
 * cores from its main thread) nothing is sent or read from the hardware,
 * and it is counted. Several fabrics may have endpoints on one tile (the
 * protected-mode service: its own fabric and one per slot): the tile's
 * receive state is shared and each packet goes to the fabric it names.
 *
 * The fabric (fabric.c, dl_noc.h's functions): no channel memory, only a
 * table: the plan (cores, links), the fabric id, a random key per pair and
 * the announced tile of each core. dl_noc_fabric_create() keeps it in
 * private memory; dl_noc_fabric_create_in() lays it out in a region another
 * process maps with dl_noc_fabric_map() (docs/tilegx.md, "The UDN
 * transport", says what protection that gives and what it does not).
 *
 * Everything here is private to the transport but the types the endpoint
 * embeds; the UDN calls themselves are in udn.c, which alone includes the
 * MDE's tmc/udn.h.
 */
#ifndef DL_TP_H
#define DL_TP_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dl_coreset.h"
#include "dl_msg.h"

struct dl_noc_fabric;
struct dl_tp_in;

/* ---- the framing word ---- */

#define DL_UDN_PKT_WORDS   126u /**< data words of a UDN packet (TMC_UDN_MAX_PACKET_WORDS) */
#define DL_UDN_PIECE_MAX   125u /**< message words in one packet (after the framing word) */
#define DL_UDN_HDR_WORDS   1u	/**< FIFO words of a packet's UDN header (the model's count) */
#define DL_UDN_OVERHEAD	   (DL_UDN_HDR_WORDS + 1u) /**< UDN header + framing word */
#define DL_UDN_MIN_FIFO	   (DL_UDN_OVERHEAD + 1u)  /**< smallest FIFO the transport can use */
#define DL_UDN_KEY_BITS	   29u
#define DL_UDN_MAX_FABRICS 255u /**< fabric ids 1..255 per process */

static inline uint64_t dl_udn_frame(unsigned words, unsigned src, unsigned fabric, unsigned seq,
				    uint32_t key)
{
	return (uint64_t)(words & 0x7f) | (uint64_t)(src & 0xfff) << 7 |
	       (uint64_t)(fabric & 0xff) << 19 | (uint64_t)(seq & 0xff) << 27 |
	       (uint64_t)(key & ((1u << DL_UDN_KEY_BITS) - 1)) << 35;
}
static inline unsigned dl_udn_frame_words(uint64_t w)
{
	return (unsigned)(w & 0x7f);
}
static inline unsigned dl_udn_frame_src(uint64_t w)
{
	return (unsigned)(w >> 7) & 0xfff;
}
static inline unsigned dl_udn_frame_fabric(uint64_t w)
{
	return (unsigned)(w >> 19) & 0xff;
}
static inline unsigned dl_udn_frame_seq(uint64_t w)
{
	return (unsigned)(w >> 27) & 0xff;
}
static inline uint32_t dl_udn_frame_key(uint64_t w)
{
	return (uint32_t)(w >> 35);
}

/* ---- the transport's counters (dl_stats module "udn", one block per core) ---- */

enum dl_udn_cnt {
	DL_UDN_TX_PACKETS,	/**< packets sent */
	DL_UDN_TX_WORDS,	/**< their data words (framing included) */
	DL_UDN_TX_SPLIT,	/**< messages sent in more than one packet */
	DL_UDN_TX_CREDIT_WAITS, /**< sends refused: the switch FIFO's credit was short */
	DL_UDN_TX_WAIT_PEER,	/**< sends refused: the destination has not announced its tile */
	DL_UDN_TX_OFF_TILE,	/**< sends refused: called from a thread on another tile */
	DL_UDN_TX_BAD_PEER,  /**< out-ports broken: the destination announced an impossible tile */
	DL_UDN_RX_PACKETS,   /**< packets accepted */
	DL_UDN_RX_WORDS,     /**< their data words (framing included) */
	DL_UDN_RX_BAD_FRAME, /**< framing words dropped: no such fabric, source or key */
	DL_UDN_RX_DISCARDED, /**< words dropped: packets of a broken source or a gone endpoint */
	DL_UDN_RX_OFF_TILE,  /**< polls from a thread on another tile (hardware not read) */
	DL_UDN_RX_OTHER,     /**< packets read for another fabric's endpoint on this tile */
	DL_UDN_RX_NO_TILE,   /**< endpoints that could not announce a tile (logged) */
	DL_UDN_NCNT
};

extern const char *const dl_udn_cnt_names[DL_UDN_NCNT];

/* ---- one tile's shared state (udn.c) ---- */

/** The packet being read on one demux queue of a tile. */
struct dl_udn_rxq {
	struct dl_tp_in *to; /**< the endpoint it is for; NULL: drop its words */
	unsigned src;	     /**< its source core (in to's fabric) */
	unsigned left;	     /**< data words still to read */
};

#define DL_UDN_TILE_INS 16u /**< endpoints (fabrics) on one tile */

/**
 * A tile as the transport sees it: the cached switch-FIFO credit and the
 * receive state of its demux queues, shared by every endpoint on the tile
 * and used by the thread bound to it only.
 */
struct dl_udn_tile {
	int cpu;
	unsigned credit;   /**< free FIFO words known (never more than the FIFO has) */
	unsigned fifo_max; /**< largest credit ever read: the FIFO's capacity */
	unsigned nin;
	unsigned next_q; /**< demux queue read first by the next poll */
	struct dl_tp_in *in[DL_UDN_TILE_INS];
	struct dl_udn_rxq q[4];
};

/* ---- out-port ---- */

/** An out-port: the packets of one (source, destination) pair. */
struct dl_tp_out {
	struct dl_noc_fabric *f;
	struct dl_udn_tile *t; /**< the tile it sends from (first use), NULL before */
	uint64_t *cnt;	       /**< endpoint: [0] broken, [1] credit re-reads */
	uint64_t *ucnt;	       /**< the sending core's transport counters */
	uint64_t *stage;       /**< the rest of a message sent in pieces */
	uint64_t frame;	       /**< framing word of the pair (length and sequence added) */
	uint64_t hdr;	       /**< UDN header to the destination's tile, once resolved */
	uint16_t src, dst;
	uint16_t held_off, held_n; /**< staged words sent / in all (0: none held) */
	uint8_t tag, seq;
	uint8_t max_words; /**< largest message (the plan's words - 1, at most 126) */
	bool resolved, broken;
};

/* Out of line (udn.c). */
struct dl_udn_tile *dl_udn_out_here(const struct dl_tp_out *o);
int dl_udn_out_reserve(struct dl_tp_out *o, unsigned n);
void dl_udn_out_put(struct dl_tp_out *o, const uint64_t *msg, unsigned n);
void dl_udn_out_send(struct dl_tp_out *o, struct dl_udn_tile *t, const uint64_t *msg, unsigned n);
void dl_udn_out_pump(struct dl_tp_out *o);

static inline int dl_tp_out_check(const struct dl_tp_out *o, const uint64_t *msg, unsigned n)
{
	if (__builtin_expect(n - 1 < o->max_words && dl_msg_hdr_words(msg[0]) == n, 1))
		return 0;
	if (n == 0 || dl_msg_hdr_words(msg[0]) != n)
		return -EINVAL;
	return -EMSGSIZE;
}

static inline bool dl_tp_out_broken(const struct dl_tp_out *o)
{
	return o->broken;
}

/*
 * The fast path: a well-framed message, nothing held, the destination
 * known, the calling thread on the port's tile (dl_udn_out_here() reads
 * the tile register; a port is bound to its tile by its first
 * dl_tp_out_reserve()) and the cached credit covering the whole message
 * as one packet.
 */
static inline bool dl_tp_out_fast_ok(const struct dl_tp_out *o, const uint64_t *msg, unsigned n)
{
	struct dl_udn_tile *t;

	if (dl_tp_out_check(o, msg, n) != 0 || o->held_n != 0 || !o->resolved || o->broken)
		return false;
	t = dl_udn_out_here(o);
	return t != NULL && t->credit >= n + DL_UDN_OVERHEAD;
}

static inline void dl_tp_out_put_fast(struct dl_tp_out *o, const uint64_t *msg, unsigned n)
{
	dl_udn_out_send(o, o->t, msg, n);
}

static inline int dl_tp_out_reserve(struct dl_tp_out *o, unsigned n)
{
	return dl_udn_out_reserve(o, n);
}

static inline void dl_tp_out_put_now(struct dl_tp_out *o, const uint64_t *msg, unsigned n)
{
	dl_udn_out_put(o, msg, n);
}

/* No batches on the UDN: a packet leaves when it is written. */
static inline void dl_tp_out_put_batch(struct dl_tp_out *o, const uint64_t *msg, unsigned n)
{
	dl_udn_out_put(o, msg, n);
}

static inline void dl_tp_out_publish(struct dl_tp_out *o)
{
	if (o->held_n != 0)
		dl_udn_out_pump(o);
}

static inline bool dl_tp_out_idle(const struct dl_tp_out *o)
{
	return o->held_n == 0;
}

/* Telemetry from another thread: the switch FIFO's credit is a register
 * only the tile's own thread can read, so this is the tile's cached value
 * (shared by every port sending from that tile), less what this port still
 * holds; 0 before the port's first send (its tile unknown) and when broken. */
static inline unsigned dl_tp_out_credits_now(const struct dl_tp_out *o)
{
	const struct dl_udn_tile *t = __atomic_load_n(&o->t, __ATOMIC_ACQUIRE);
	unsigned credit, held;

	if (t == NULL || __atomic_load_n(&o->broken, __ATOMIC_RELAXED))
		return 0;
	credit = __atomic_load_n(&t->credit, __ATOMIC_RELAXED);
	held = (unsigned)__atomic_load_n(&o->held_n, __ATOMIC_RELAXED) -
	       __atomic_load_n(&o->held_off, __ATOMIC_RELAXED);
	return credit > held ? credit - held : 0;
}

/* ---- in-side ---- */

/** Whole messages a poll reads beyond its budget (into the rings, for the quota). */
#define DL_UDN_READ_AHEAD 256u

/** Words of a source's reassembly ring (two largest messages and more). */
#define DL_UDN_SRC_WORDS 512u

/** What a core has received from one source, not yet delivered. */
struct dl_udn_src {
	uint64_t *buf;	       /**< DL_UDN_SRC_WORDS words, NULL when no link */
	uint32_t rd, scan, wr; /**< free-running: delivered / framed / written */
	uint32_t need;	       /**< words still missing of the message at scan */
	uint32_t mstart;       /**< where that message starts (need != 0) */
	uint32_t msgs;	       /**< whole messages in [rd, scan) */
	uint32_t key;	       /**< the pair's key */
	uint8_t seq;	       /**< next packet sequence number */
	bool broken;
};

/** A core's in-side: the reassembly of every source that may send to it. */
struct dl_tp_in {
	struct dl_noc_fabric *f;
	struct dl_udn_tile *t; /**< its tile, NULL until the first poll announces it */
	unsigned core;
	unsigned fabric_id;
	unsigned nsrc;
	unsigned quota;
	unsigned rr;	/**< index in srcs visited first by the next delivery */
	unsigned ready; /**< whole messages buffered, every source */
	unsigned max_words;
	bool dead; /**< could not announce its tile (logged, counted) */
	uint64_t *broken_cnt;
	uint64_t *ucnt;
	uint16_t srcs[DL_MAX_CORES];
	struct dl_udn_src src[DL_MAX_CORES];
};

/* Out of line (udn.c). */
void dl_udn_in_pump(struct dl_tp_in *in, unsigned want);
bool dl_udn_in_hw_ready(void);

static inline unsigned dl_tp_in_sources(const struct dl_tp_in *in)
{
	return in->nsrc;
}

static inline bool dl_tp_in_ready(const struct dl_tp_in *in)
{
	if (in->ready != 0)
		return true;
	if (in->t == NULL)
		return !in->dead && in->nsrc != 0; /* the first poll announces the tile */
	return dl_udn_in_hw_ready();
}

/* Copy the oldest whole message of @p s into @p buf; its word count. */
static inline __attribute__((always_inline)) unsigned dl_udn_take(struct dl_udn_src *s,
								  uint64_t *buf)
{
	const uint32_t mask = DL_UDN_SRC_WORDS - 1;
	unsigned n = dl_msg_hdr_words(s->buf[s->rd & mask]); /* checked by the pump */

	for (unsigned i = 0; i < n; i++)
		buf[i] = s->buf[(s->rd + i) & mask];
	s->rd += n;
	s->msgs--;
	return n;
}

/* Whole messages already received, round robin over sources, at most the
 * quota from one source per visit. */
static inline __attribute__((always_inline)) unsigned
dl_udn_deliver(struct dl_tp_in *in, unsigned budget, uint64_t *buf,
	       void (*fn)(void *, unsigned, const uint64_t *, unsigned), void *ctx)
{
	unsigned delivered = 0, k = in->rr;

	for (unsigned visited = 0; visited < in->nsrc && in->ready != 0 && delivered < budget;
	     visited++) {
		unsigned src = in->srcs[k];
		struct dl_udn_src *s = &in->src[src];

		k = k + 1 == in->nsrc ? 0 : k + 1;
		for (unsigned q = 0; q < in->quota && s->msgs != 0 && delivered < budget; q++) {
			unsigned n = dl_udn_take(s, buf);

			in->ready--;
			delivered++;
			fn(ctx, src, buf, n);
		}
	}
	in->rr = k;
	return delivered;
}

static inline __attribute__((always_inline)) unsigned
dl_tp_in_poll(struct dl_tp_in *in, unsigned budget, uint64_t *buf, unsigned room,
	      void (*fn)(void *, unsigned, const uint64_t *, unsigned), void *ctx)
{
	unsigned delivered = 0;

	(void)room; /* at least DL_MSG_MAX_WORDS, and no message is longer */
	for (int round = 0; round < 4 && delivered < budget; round++) {
		unsigned got;

		if (in->ready < budget - delivered)
			dl_udn_in_pump(in, budget - delivered);
		if (in->ready == 0)
			break;
		got = dl_udn_deliver(in, budget - delivered, buf, fn, ctx);
		delivered += got;
	}
	return delivered;
}

/* ---- what the UDN fabric offers beyond the contract (tests, tools) ---- */

/** The fabric's id (1..255), carried by every packet's framing word. */
unsigned dl_noc_fabric_udn_id(const struct dl_noc_fabric *f);

/** The tile core @p core announced, or -1 (not yet, or no such core). */
int dl_noc_fabric_udn_tile(const struct dl_noc_fabric *f, unsigned core);

/** The fabric's table in this process (its layout: udn_priv.h). */
const void *dl_noc_fabric_udn_table(const struct dl_noc_fabric *f);

/** The key of the pair @p src -> @p dst, 0 when there is no such link. */
uint32_t dl_noc_fabric_udn_key(const struct dl_noc_fabric *f, unsigned src, unsigned dst);

#endif /* DL_TP_H */
