/*
 * udn.c (noc/udn) - the UDN side of the transport: tiles, the credit
 * check, sending packets, reading the demux queues (see dl_tp.h for the
 * design). The only file of the NoC that includes the MDE's headers.
 *
 * A tile's state (struct dl_udn_tile) is made by the first thread that
 * uses the transport on that tile and is used by that thread only (the
 * thread bound to the tile: one per tile, as the platform launches them);
 * the table of tiles is guarded by a mutex for creation, and emptied when
 * the last fabric goes.
 */
#include "udn_priv.h"

#include "dl_log.h"

#include <arch/spr_def.h>
#include <tmc/cpus.h>
#include <tmc/udn.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(DL_UDN_PKT_WORDS == TMC_UDN_MAX_PACKET_WORDS, "the UDN's packet limit");
_Static_assert(DL_UDN_PIECE_MAX + 1 == DL_UDN_PKT_WORDS, "one framing word per packet");
_Static_assert((DL_UDN_SRC_WORDS & (DL_UDN_SRC_WORDS - 1)) == 0 &&
		   DL_UDN_SRC_WORDS >= 2 * DL_MSG_MAX_WORDS,
	       "a reassembly ring holds a whole message behind a partial one");

/* clang-format off */
const char *const dl_udn_cnt_names[DL_UDN_NCNT] = {
    [DL_UDN_TX_PACKETS] = "tx_packets",
    [DL_UDN_TX_WORDS] = "tx_words",
    [DL_UDN_TX_SPLIT] = "tx_split_msgs",
    [DL_UDN_TX_CREDIT_WAITS] = "tx_credit_waits",
    [DL_UDN_TX_WAIT_PEER] = "tx_wait_peer",
    [DL_UDN_TX_OFF_TILE] = "tx_off_tile",
    [DL_UDN_TX_BAD_PEER] = "tx_bad_peer",
    [DL_UDN_RX_PACKETS] = "rx_packets",
    [DL_UDN_RX_WORDS] = "rx_words",
    [DL_UDN_RX_BAD_FRAME] = "rx_drop_bad_frame",
    [DL_UDN_RX_DISCARDED] = "rx_drop_words",
    [DL_UDN_RX_OFF_TILE] = "rx_off_tile",
    [DL_UDN_RX_OTHER] = "rx_other_fabric",
    [DL_UDN_RX_NO_TILE] = "rx_no_tile",
};
/* clang-format on */

/* ---- the hardware: the only functions that read SPRs ---------------------- */

/*
 * The credit: free words of this tile's switch FIFO. The paper (§4.3)
 * checks "the hardware register that stores the FIFO credit of the core
 * local switch"; UDN_SP_FIFO_CNT is the most plausible such register, and
 * the MDE model defines it as the FIFO's free words. What the real
 * register counts (free or used entries, per direction or the injection
 * FIFO only) is for hardware to tell (docs/tilegx.md): this is the line to
 * change then.
 */
static unsigned credit_read(void)
{
	return (unsigned)__insn_mfspr(SPR_UDN_SP_FIFO_CNT);
}

/* The calling thread's tile, from its coordinates register (x in bits
 * 0-7, y in bits 8-15 in the model; one instruction on hardware). */
static int my_cpu(void)
{
	uint64_t c = __insn_mfspr(SPR_TILE_COORD);

	return (int)((c & 0xff) + ((c >> 8) & 0xff) * tmc_cpus_grid_width());
}

unsigned dl_udn_grid_cpus(void)
{
	return tmc_cpus_grid_width() * tmc_cpus_grid_height();
}

bool dl_udn_in_hw_ready(void)
{
	return __insn_mfspr(SPR_UDN_DATA_AVAIL) != 0;
}

static unsigned q_avail(unsigned q)
{
	switch (q) {
	case 0:
		return tmc_udn0_available_count();
	case 1:
		return tmc_udn1_available_count();
	case 2:
		return tmc_udn2_available_count();
	default:
		return tmc_udn3_available_count();
	}
}

static void q_read(unsigned q, uint64_t *buf, unsigned n)
{
	switch (q) {
	case 0:
		tmc_udn0_receive_buffer(buf, n);
		break;
	case 1:
		tmc_udn1_receive_buffer(buf, n);
		break;
	case 2:
		tmc_udn2_receive_buffer(buf, n);
		break;
	default:
		tmc_udn3_receive_buffer(buf, n);
		break;
	}
}

/* ---- tiles -------------------------------------------------------------- */

#define MAX_TILES 1024

static pthread_mutex_t tiles_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dl_udn_tile *tiles[MAX_TILES];
static unsigned live_fabrics;

void dl_udn_fabric_ref(void)
{
	pthread_mutex_lock(&tiles_lock);
	live_fabrics++;
	pthread_mutex_unlock(&tiles_lock);
}

/* No fabric left, so no endpoint either: forget the tiles (a later fabric
 * reads their FIFOs afresh). */
void dl_udn_fabric_unref(void)
{
	pthread_mutex_lock(&tiles_lock);
	if (--live_fabrics == 0)
		for (unsigned i = 0; i < MAX_TILES; i++) {
			free(tiles[i]);
			tiles[i] = NULL;
		}
	pthread_mutex_unlock(&tiles_lock);
}

/* The calling thread's tile state (made on its first use, on that tile:
 * the FIFO it reads is its own). */
static struct dl_udn_tile *tile_get(int cpu)
{
	struct dl_udn_tile *t;

	if (cpu < 0 || cpu >= MAX_TILES)
		return NULL;
	t = __atomic_load_n(&tiles[cpu], __ATOMIC_ACQUIRE);
	if (t != NULL)
		return t;
	pthread_mutex_lock(&tiles_lock);
	t = tiles[cpu];
	if (t == NULL) {
		t = calloc(1, sizeof(*t));
		if (t != NULL) {
			t->cpu = cpu;
			t->credit = t->fifo_max = credit_read();
			__atomic_store_n(&tiles[cpu], t, __ATOMIC_RELEASE);
		}
	}
	pthread_mutex_unlock(&tiles_lock);
	return t;
}

/* ---- out-ports ----------------------------------------------------------- */

static unsigned min_u(unsigned a, unsigned b)
{
	return a < b ? a : b;
}

/* Largest piece of a message in one packet on this tile's FIFO. */
static unsigned piece_max(const struct dl_udn_tile *t)
{
	return min_u(DL_UDN_PIECE_MAX, t->fifo_max - DL_UDN_OVERHEAD);
}

/* A message goes whole when one packet can carry it and the FIFO can
 * hold that packet; else in pieces. */
static bool goes_whole(const struct dl_udn_tile *t, unsigned n)
{
	return n <= DL_UDN_PIECE_MAX && n + DL_UDN_OVERHEAD <= t->fifo_max;
}

static void credit_reload(struct dl_tp_out *o, struct dl_udn_tile *t)
{
	t->credit = credit_read();
	if (t->credit > t->fifo_max)
		t->fifo_max = t->credit;
	o->cnt[1]++; /* DL_NOC_TX_CREDIT_RELOADS */
}

static void out_break(struct dl_tp_out *o, unsigned cnt, const char *why)
{
	if (o->broken)
		return;
	o->broken = true;
	o->held_n = o->held_off = 0;
	o->cnt[0]++; /* DL_NOC_TX_CHAN_BROKEN */
	o->ucnt[cnt]++;
	DL_ERR("noc/udn: core %u -> core %u: %s", o->src, o->dst, why);
}

struct dl_udn_tile *dl_udn_out_here(const struct dl_tp_out *o)
{
	struct dl_udn_tile *t = o->t;

	return t != NULL && t->cpu == my_cpu() ? t : NULL;
}

void dl_udn_out_send(struct dl_tp_out *o, struct dl_udn_tile *t, const uint64_t *w, unsigned n)
{
	uint64_t pkt[DL_UDN_PKT_WORDS];
	DynamicHeader h;

	pkt[0] = o->frame | dl_udn_frame(n, 0, 0, o->seq, 0);
	memcpy(&pkt[1], w, n * sizeof(uint64_t));
	h.word = o->hdr;
	tmc_udn_send_buffer(h, o->tag, pkt, n + 1);
	o->seq++;
	t->credit -= n + DL_UDN_OVERHEAD; /* covered: checked before */
	o->ucnt[DL_UDN_TX_PACKETS]++;
	o->ucnt[DL_UDN_TX_WORDS] += n + 1;
}

/* Send the held pieces the credit covers, oldest first. */
static void pump(struct dl_tp_out *o, struct dl_udn_tile *t)
{
	while (o->held_off < o->held_n) {
		unsigned piece = min_u(o->held_n - o->held_off, piece_max(t));

		if (t->credit < piece + DL_UDN_OVERHEAD) {
			credit_reload(o, t);
			if (t->credit < piece + DL_UDN_OVERHEAD)
				return;
		}
		dl_udn_out_send(o, t, o->stage + o->held_off, piece);
		o->held_off += piece;
	}
	o->held_off = o->held_n = 0;
}

void dl_udn_out_pump(struct dl_tp_out *o)
{
	struct dl_udn_tile *t = dl_udn_out_here(o);

	if (t != NULL)
		pump(o, t);
	else
		o->ucnt[DL_UDN_TX_OFF_TILE]++;
}

/* The destination's tile, from the fabric's table. */
static int resolve(struct dl_tp_out *o)
{
	int tile = __atomic_load_n(dl_udn_fabric_tile_slot(o->f, o->dst), __ATOMIC_ACQUIRE);

	if (tile < 0) {
		o->ucnt[DL_UDN_TX_WAIT_PEER]++;
		return -ENOBUFS;
	}
	if ((unsigned)tile >= dl_udn_grid_cpus()) {
		/* A mapped table written by another process: never route a
		 * packet off the grid (the firewall would kill this one). */
		out_break(o, DL_UDN_TX_BAD_PEER, "the destination announced a tile off the grid");
		return -EPIPE;
	}
	o->hdr = tmc_udn_header_from_cpu(tile).word;
	o->resolved = true;
	return 0;
}

int dl_udn_out_reserve(struct dl_tp_out *o, unsigned n)
{
	struct dl_udn_tile *t;
	unsigned first;
	int cpu, rc;

	if (o->broken)
		return -EPIPE;
	cpu = my_cpu();
	if (o->t == NULL) {
		o->t = tile_get(cpu); /* the port's tile from now on */
		if (o->t == NULL) {
			out_break(o, DL_UDN_TX_OFF_TILE, "no tile state (out of memory)");
			return -EPIPE;
		}
	} else if (o->t->cpu != cpu) {
		o->ucnt[DL_UDN_TX_OFF_TILE]++;
		return -ENOBUFS;
	}
	t = o->t;
	if (!o->resolved && (rc = resolve(o)) != 0)
		return rc;
	if (t->fifo_max < DL_UDN_MIN_FIFO) {
		out_break(o, DL_UDN_TX_CREDIT_WAITS,
			  "the switch FIFO is too small for a packet (header, framing, a word)");
		return -EPIPE;
	}
	if (o->held_n != 0) {
		pump(o, t);
		if (o->held_n != 0)
			return -ENOBUFS;
	}
	first = goes_whole(t, n) ? n : min_u(n, piece_max(t));
	if (t->credit < first + DL_UDN_OVERHEAD) {
		credit_reload(o, t);
		if (t->credit < first + DL_UDN_OVERHEAD) {
			o->ucnt[DL_UDN_TX_CREDIT_WAITS]++;
			return -ENOBUFS;
		}
	}
	return 0;
}

void dl_udn_out_put(struct dl_tp_out *o, const uint64_t *msg, unsigned n)
{
	struct dl_udn_tile *t = o->t; /* reserved: on its tile, the first piece covered */

	if (goes_whole(t, n)) {
		dl_udn_out_send(o, t, msg, n);
		return;
	}
	memcpy(o->stage, msg, n * sizeof(uint64_t));
	o->held_off = 0;
	o->held_n = (uint16_t)n;
	o->ucnt[DL_UDN_TX_SPLIT]++;
	pump(o, t);
}

/* ---- the in-side --------------------------------------------------------- */

/* Announce the in-side's tile (its first poll, on its own thread). */
static int announce(struct dl_tp_in *in, int cpu)
{
	struct dl_udn_tile *t = tile_get(cpu);
	const char *why = NULL;

	if (t == NULL)
		why = "not on a tile of the grid";
	for (unsigned i = 0; t != NULL && why == NULL && i < t->nin; i++)
		if (t->in[i]->fabric_id == in->fabric_id)
			why = "another core of the same fabric is on this tile";
	if (why == NULL && t->nin == DL_UDN_TILE_INS)
		why = "too many endpoints on this tile";
	if (why != NULL) {
		in->dead = true;
		in->ucnt[DL_UDN_RX_NO_TILE]++;
		DL_ERR("noc/udn: core %u cannot receive on tile %d: %s", in->core, cpu, why);
		return -1;
	}
	t->in[t->nin++] = in;
	in->t = t;
	__atomic_store_n(dl_udn_fabric_tile_slot(in->f, in->core), cpu, __ATOMIC_RELEASE);
	return 0;
}

void dl_udn_in_forget(struct dl_tp_in *in)
{
	struct dl_udn_tile *t = in->t;

	if (t == NULL)
		return;
	for (unsigned i = 0; i < t->nin; i++)
		if (t->in[i] == in) {
			t->in[i] = t->in[--t->nin];
			break;
		}
	for (unsigned q = 0; q < 4; q++)
		if (t->q[q].to == in)
			t->q[q].to = NULL; /* the rest of that packet is dropped */
	in->t = NULL;
}

/* The source broke the framing: counted once, its partial message and
 * later packets dropped; whole messages before it are still delivered. */
static void src_break(struct dl_tp_in *x, struct dl_udn_src *s, unsigned src, const char *why)
{
	s->broken = true;
	s->wr = s->scan = s->need != 0 ? s->mstart : s->scan;
	s->need = 0;
	(*x->broken_cnt)++;
	DL_WARN("noc/udn: core %u: source %u broke the framing (%s): ignored from now on", x->core,
		src, why);
}

/* Frame the words appended to a source's ring into whole messages. */
static void frame_msgs(struct dl_tp_in *x, struct dl_udn_src *s, unsigned src)
{
	const uint32_t mask = DL_UDN_SRC_WORDS - 1;

	while (s->scan != s->wr) {
		unsigned k;

		if (s->need == 0) {
			unsigned n = dl_msg_hdr_words(s->buf[s->scan & mask]);

			if (n == 0 || n > x->max_words) {
				src_break(x, s, src, "a message header announcing a bad size");
				return;
			}
			s->need = n;
			s->mstart = s->scan;
		}
		k = min_u(s->need, s->wr - s->scan);
		s->scan += k;
		s->need -= k;
		if (s->need == 0) {
			s->msgs++;
			x->ready++;
		}
	}
}

/* A framing word read on a queue: the packet behind it goes to an
 * endpoint of this tile, is dropped (a broken source), or the word alone
 * is dropped (no fabric, source or key of this tile: forged or out of
 * step; the next word is tried as a framing word). */
static void frame_accept(struct dl_udn_tile *t, struct dl_udn_rxq *r, struct dl_tp_in *self,
			 uint64_t w)
{
	unsigned fid = dl_udn_frame_fabric(w), src = dl_udn_frame_src(w), n = dl_udn_frame_words(w);
	struct dl_tp_in *x = NULL;
	struct dl_udn_src *s;

	for (unsigned i = 0; i < t->nin; i++)
		if (t->in[i]->fabric_id == fid)
			x = t->in[i];
	if (x == NULL || n == 0 || n > DL_UDN_PIECE_MAX || src >= DL_MAX_CORES ||
	    x->src[src].buf == NULL || dl_udn_frame_key(w) != x->src[src].key) {
		self->ucnt[DL_UDN_RX_BAD_FRAME]++;
		r->left = 0;
		return;
	}
	s = &x->src[src];
	r->src = src;
	r->left = n;
	r->to = NULL;
	if (s->broken)
		return;
	if (dl_udn_frame_seq(w) != s->seq) {
		src_break(x, s, src, "a packet out of sequence");
		return;
	}
	s->seq++;
	r->to = x;
	x->ucnt[DL_UDN_RX_PACKETS]++;
	x->ucnt[DL_UDN_RX_WORDS]++;
	if (x != self)
		self->ucnt[DL_UDN_RX_OTHER]++;
}

static void discard(unsigned q, unsigned n)
{
	uint64_t junk[DL_UDN_PKT_WORDS];

	while (n > 0) {
		unsigned k = min_u(n, DL_UDN_PKT_WORDS);

		q_read(q, junk, k);
		n -= k;
	}
}

/* Read queue q while it has words, the rings room, and @p self has fewer
 * than @p upto whole messages. */
static void read_queue(struct dl_udn_tile *t, unsigned q, struct dl_tp_in *self, unsigned upto)
{
	const uint32_t mask = DL_UDN_SRC_WORDS - 1;
	struct dl_udn_rxq *r = &t->q[q];

	while (self->ready < upto) {
		unsigned avail = q_avail(q), n;
		struct dl_udn_src *s;
		struct dl_tp_in *x;

		if (avail == 0)
			return;
		if (r->left == 0) {
			uint64_t w;

			q_read(q, &w, 1);
			frame_accept(t, r, self, w);
			continue;
		}
		x = r->to;
		s = x != NULL ? &x->src[r->src] : NULL;
		if (s == NULL || s->broken) {
			n = min_u(avail, r->left);
			discard(q, n);
			r->left -= n;
			r->to = NULL;
			self->ucnt[DL_UDN_RX_DISCARDED] += n;
			continue;
		}
		n = min_u(min_u(avail, r->left), DL_UDN_SRC_WORDS - (s->wr - s->rd));
		n = min_u(n, DL_UDN_SRC_WORDS - (s->wr & mask)); /* up to the ring's end */
		if (n == 0)
			return; /* the source's ring is full: its messages go first */
		q_read(q, &s->buf[s->wr & mask], n);
		s->wr += n;
		r->left -= n;
		x->ucnt[DL_UDN_RX_WORDS] += n;
		frame_msgs(x, s, r->src);
	}
}

void dl_udn_in_pump(struct dl_tp_in *in, unsigned want)
{
	struct dl_udn_tile *t;
	int cpu = my_cpu();

	if (in->t == NULL && (in->dead || announce(in, cpu) != 0))
		return;
	t = in->t;
	if (t->cpu != cpu) {
		in->ucnt[DL_UDN_RX_OFF_TILE]++;
		return;
	}
	/* Beyond what the caller wants now: packets of several sources wait
	 * in one demux queue in arrival order, and only once they are in the
	 * rings can the quota share the budget among them. */
	for (unsigned k = 0; k < 4; k++)
		read_queue(t, (t->next_q + k) & 3, in, want + DL_UDN_READ_AHEAD);
	t->next_q = (t->next_q + 1) & 3;
}
