/*
 * udn.c - the user dynamic network of the model (tmc/udn.h).
 *
 * Every tile has a switch FIFO of fifo_words words and four demux queues of
 * demux_words words each. A send puts the packet's words (header first)
 * into the sender's FIFO; the network moves them to the destination: the
 * header claims the destination tile's input (wormhole: the route stays
 * claimed until the packet's last word has arrived, so two packets never
 * interleave into a tile) and is stripped, the data words go to the demux
 * queue the tag names as long as it has room. Whoever changes the network
 * (a send, a receive) moves what can move; there is no extra thread, and
 * no timing: a word moves as soon as there is room for it.
 *
 * A send that finds its FIFO full waits (the hardware stalls the pipeline
 * on the write) and is counted as a stall; a receive from an empty queue
 * waits too (counted apart). A watchdog thread aborts the process when a
 * send has been stalled longer than watchdog_ms, naming the tile and what
 * blocks it: a correct UDN user (one that checks the FIFO credit, paper
 * §4.3) never stalls at all.
 *
 * The hardwall: tmc_udn_init() reserves the smallest rectangle of tiles
 * holding the given cpus; a thread bound to a tile inside it calls
 * tmc_udn_activate(); a send or receive from a thread that has not, or a
 * packet for a tile outside the rectangle, raises SIGILL, as the
 * hardware's firewall does.
 *
 * One mutex guards the whole network (the model's tiles share a few host
 * CPUs anyway); each tile has a condition variable for its thread.
 */
#include "model_priv.h"

#include <tmc/udn.h>
#include <arch/spr_def.h>

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_TILES 256

struct fpkt {
	unsigned dest, q, total, moved; /* words including the header */
};

struct tile {
	pthread_cond_t cv;
	uint64_t *fifo;
	unsigned fhead, fn;
	struct fpkt *pkt; /* packets with words still in the FIFO, oldest first */
	unsigned phead, pn;
	uint64_t *dq[4];
	unsigned dqhead[4], dqn[4];
	int in_owner;	   /* tile whose packet is entering this tile, -1 if none */
	int link_owner[4]; /* tile whose packet holds the link east/west/south/north */
	uint64_t stall_since, recv_stall_since;
	struct mde_model_udn_stats st;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct tile *tiles;
static unsigned ntiles, fifo_cap = 16, demux_cap = 32, watchdog_ms = 5000;
static bool configured_fifo, configured_demux, configured_wd;
static bool hardwall;
static unsigned hw_x0, hw_y0, hw_x1, hw_y1;
static uint64_t busy[MAX_TILES / 64]; /* tiles with words in their FIFO */
static pthread_t wd_thread;
static bool wd_running;
static __thread int active_cpu = -1;

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int mde_model_udn_configure(const struct mde_model_udn_config *cfg)
{
	int rc = 0;

	pthread_mutex_lock(&lock);
	if (hardwall) {
		rc = -EBUSY;
	} else if ((cfg->width != 0) != (cfg->height != 0) || cfg->width > 16 || cfg->height > 16 ||
		   (cfg->fifo_words != 0 && cfg->fifo_words < 2)) {
		rc = -EINVAL; /* a FIFO must hold a header and one word */
	} else {
		if (cfg->width != 0)
			mde_grid_set(cfg->width, cfg->height);
		if (cfg->fifo_words != 0) {
			fifo_cap = cfg->fifo_words;
			configured_fifo = true;
		}
		if (cfg->demux_words != 0) {
			demux_cap = cfg->demux_words;
			configured_demux = true;
		}
		if (cfg->watchdog_ms != 0) {
			watchdog_ms = cfg->watchdog_ms;
			configured_wd = true;
		}
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

static unsigned env_uint(const char *name, unsigned dflt, unsigned min)
{
	const char *e = getenv(name);
	unsigned long v;
	char *end;

	if (e == NULL)
		return dflt;
	v = strtoul(e, &end, 10);
	if (*e == '\0' || *end != '\0' || v < min || v > 1u << 20) {
		mde_model_warn("%s=%s is not a number >= %u: using %u", name, e, min, dflt);
		return dflt;
	}
	return (unsigned)v;
}

/* ---- the firewall --------------------------------------------------------- */

static __attribute__((noreturn)) void firewall(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void firewall(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("mde-model: UDN firewall: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs(" (SIGILL, as the hardwall raises)\n", stderr);
	va_end(ap);
	fflush(stderr);
	raise(SIGILL);
	abort();
}

static bool in_wall(unsigned cpu)
{
	unsigned x = cpu % mde_grid_width(), y = cpu / mde_grid_width();

	return hardwall && cpu < ntiles && x >= hw_x0 && x <= hw_x1 && y >= hw_y0 && y <= hw_y1;
}

/* The calling thread's tile, if it may use the UDN; SIGILL otherwise. */
static unsigned me(const char *what)
{
	int cpu = mde_my_cpu();

	if (!hardwall || active_cpu < 0 || cpu != active_cpu || !in_wall((unsigned)cpu))
		firewall("%s from a thread %s", what,
			 !hardwall	     ? "with no hardwall (tmc_udn_init)"
			 : active_cpu < 0    ? "that did not call tmc_udn_activate"
			 : cpu != active_cpu ? "bound to another cpu since tmc_udn_activate"
					     : "outside the hardwall");
	return (unsigned)cpu;
}

/* ---- the network -------------------------------------------------------- */

static unsigned dq_free(const struct tile *t, unsigned q)
{
	return demux_cap - t->dqn[q];
}

enum { EAST, WEST, SOUTH, NORTH };

/*
 * Claim (claim=true: only if every link is free or already ours) or
 * release the X-then-Y route from tile s to tile d and d's input.
 */
static bool route(unsigned s, unsigned d, bool claim)
{
	unsigned w = mde_grid_width(), x = s % w, y = s / w, dx = d % w, dy = d / w;

	for (int pass = claim ? 0 : 1; pass < 2; pass++) {
		unsigned cx = x, cy = y;
		while (cx != dx || cy != dy) {
			int dir = cx != dx ? (cx < dx ? EAST : WEST) : (cy < dy ? SOUTH : NORTH);
			int *o = &tiles[cx + cy * w].link_owner[dir];
			if (pass == 0 && *o >= 0 && (unsigned)*o != s)
				return false;
			if (pass == 1)
				*o = claim ? (int)s : -1;
			if (dir == EAST)
				cx++;
			else if (dir == WEST)
				cx--;
			else if (dir == SOUTH)
				cy++;
			else
				cy--;
		}
		if (pass == 0 && tiles[d].in_owner >= 0 && (unsigned)tiles[d].in_owner != s)
			return false;
		if (pass == 1)
			tiles[d].in_owner = claim ? (int)s : -1;
	}
	return true;
}

/* Move what can move out of tile s's FIFO. True if anything moved. */
static bool advance_from(unsigned s)
{
	struct tile *t = &tiles[s];
	bool moved = false;

	while (t->fn > 0) {
		struct fpkt *p = &t->pkt[t->phead];
		struct tile *d = &tiles[p->dest];
		if (p->moved == 0) {
			/* The header claims the route and the destination's input. */
			if (!route(s, p->dest, true))
				break;
		} else {
			if (dq_free(d, p->q) == 0)
				break;
			d->dq[p->q][(d->dqhead[p->q] + d->dqn[p->q]) % demux_cap] =
			    t->fifo[t->fhead];
			d->dqn[p->q]++;
			pthread_cond_broadcast(&d->cv);
		}
		t->fhead = (t->fhead + 1) % fifo_cap;
		t->fn--;
		p->moved++;
		moved = true;
		if (p->moved == p->total) {
			route(s, p->dest, false);
			t->phead = (t->phead + 1) % (fifo_cap + 1);
			t->pn--;
		}
	}
	if (moved)
		pthread_cond_broadcast(&t->cv);
	if (t->fn == 0)
		busy[s / 64] &= ~(1ull << (s % 64));
	return moved;
}

/* Move everything that can move, until nothing can. */
static void advance_all(void)
{
	bool moved;

	do {
		moved = false;
		for (unsigned w = 0; w < MAX_TILES / 64; w++) {
			uint64_t b = busy[w];
			while (b != 0) {
				unsigned s = w * 64 + (unsigned)__builtin_ctzll(b);
				b &= b - 1;
				moved |= advance_from(s);
			}
		}
	} while (moved);
}

static void send_packet(DynamicHeader dest, unsigned tag, const uint64_t *words, unsigned n)
{
	unsigned src = me("UDN send"), dcpu;
	struct tile *t;
	uint64_t stalled = 0;

	if (n > TMC_UDN_MAX_PACKET_WORDS)
		firewall("packet of %u data words from cpu %u (at most %d)", n, src,
			 TMC_UDN_MAX_PACKET_WORDS);
	if (tag > 3)
		firewall("demux tag %u from cpu %u (0..3)", tag, src);
	if (dest.bits.dest_x >= mde_grid_width() || dest.bits.dest_y >= mde_grid_height())
		firewall("packet from cpu %u to tile (%u,%u), outside the grid", src,
			 (unsigned)dest.bits.dest_x, (unsigned)dest.bits.dest_y);
	dcpu = (unsigned)dest.bits.dest_x + (unsigned)dest.bits.dest_y * mde_grid_width();
	if (!in_wall(dcpu))
		firewall("packet from cpu %u to cpu %u, outside the hardwall", src, dcpu);
	pthread_mutex_lock(&lock);
	t = &tiles[src];
	t->pkt[(t->phead + t->pn) % (fifo_cap + 1)] = (struct fpkt){dcpu, tag, n + 1, 0};
	t->pn++;
	for (unsigned i = 0; i <= n; i++) {
		while (t->fn == fifo_cap) {
			advance_all();
			if (t->fn < fifo_cap)
				break;
			if (stalled == 0) {
				stalled = now_us();
				t->stall_since = stalled;
				t->st.send_stalls++;
			}
			pthread_cond_wait(&t->cv, &lock);
		}
		t->fifo[(t->fhead + t->fn) % fifo_cap] =
		    i == 0 ? (dest.word & ~(uint64_t)0xffff0000u) | (uint64_t)tag << 16 |
				 (uint64_t)n << 24
			   : words[i - 1];
		t->fn++;
		busy[src / 64] |= 1ull << (src % 64);
	}
	if (stalled != 0) {
		uint64_t d = now_us() - stalled;
		if (d > t->st.max_stall_us)
			t->st.max_stall_us = d;
		t->stall_since = 0;
	}
	t->st.packets_sent++;
	t->st.words_sent += n;
	advance_all();
	pthread_mutex_unlock(&lock);
}

static void receive_words(unsigned q, uint64_t *out, unsigned long n)
{
	unsigned self = me("UDN receive");
	struct tile *t;

	pthread_mutex_lock(&lock);
	t = &tiles[self];
	for (unsigned long i = 0; i < n; i++) {
		bool counted = false;
		while (t->dqn[q] == 0) {
			advance_all();
			if (t->dqn[q] > 0)
				break;
			if (!counted) {
				t->st.recv_stalls++;
				t->recv_stall_since = now_us();
				counted = true;
			}
			pthread_cond_wait(&t->cv, &lock);
		}
		t->recv_stall_since = 0;
		out[i] = t->dq[q][t->dqhead[q]];
		t->dqhead[q] = (t->dqhead[q] + 1) % demux_cap;
		t->dqn[q]--;
		advance_all();
	}
	pthread_mutex_unlock(&lock);
}

/* ---- the watchdog ------------------------------------------------------- */

static void *watchdog(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	while (wd_running) {
		uint64_t now = now_us();
		for (unsigned i = 0; i < ntiles; i++) {
			struct tile *t = &tiles[i];
			if (t->stall_since == 0 ||
			    now - t->stall_since < (uint64_t)watchdog_ms * 1000)
				continue;
			struct fpkt *p = &t->pkt[t->phead];
			fprintf(
			    stderr,
			    "mde-model: UDN watchdog: cpu %u stalled in a send for %llu ms "
			    "(FIFO %u/%u words; its oldest packet goes to cpu %u queue %u, %u of "
			    "%u words moved; that tile's input is %s, queue %u holds %u/%u "
			    "words): a sender that checks the FIFO credit never stalls\n",
			    i, (unsigned long long)((now - t->stall_since) / 1000), t->fn, fifo_cap,
			    p->dest, p->q, p->moved, p->total,
			    tiles[p->dest].in_owner < 0 ? "free" : "claimed", p->q,
			    tiles[p->dest].dqn[p->q], demux_cap);
			fflush(stderr);
			abort();
		}
		pthread_mutex_unlock(&lock);
		nanosleep(&(struct timespec){0, 50 * 1000000L}, NULL);
		pthread_mutex_lock(&lock);
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

/* ---- tmc/udn.h ---------------------------------------------------------- */

static void free_tiles(void)
{
	for (unsigned i = 0; tiles != NULL && i < ntiles; i++) {
		free(tiles[i].fifo);
		free(tiles[i].pkt);
		for (int q = 0; q < 4; q++)
			free(tiles[i].dq[q]);
		pthread_cond_destroy(&tiles[i].cv);
	}
	free(tiles);
	tiles = NULL;
	ntiles = 0;
	memset(busy, 0, sizeof(busy));
}

int tmc_udn_init(cpu_set_t *cpus)
{
	cpu_set_t set;
	unsigned w = mde_grid_width(), x0 = ~0u, y0 = ~0u, x1 = 0, y1 = 0, n;
	int c;

	if (cpus == NULL) {
		if (tmc_cpus_get_my_affinity(&set) != 0)
			return -1;
		cpus = &set;
	}
	pthread_mutex_lock(&lock);
	n = w * mde_grid_height();
	for (c = 0; c < (int)n; c++) {
		if (!CPU_ISSET(c, cpus))
			continue;
		x0 = (unsigned)c % w < x0 ? (unsigned)c % w : x0;
		x1 = (unsigned)c % w > x1 ? (unsigned)c % w : x1;
		y0 = (unsigned)c / w < y0 ? (unsigned)c / w : y0;
		y1 = (unsigned)c / w > y1 ? (unsigned)c / w : y1;
	}
	if (x0 == ~0u || tmc_cpus_find_nth_cpu(cpus, tmc_cpus_count(cpus) - 1) >= (int)n) {
		pthread_mutex_unlock(&lock);
		errno = EINVAL;
		return -1;
	}
	if (hardwall) {
		bool enough = x0 >= hw_x0 && x1 <= hw_x1 && y0 >= hw_y0 && y1 <= hw_y1;
		pthread_mutex_unlock(&lock);
		errno = EINVAL;
		return enough ? 1 : -1;
	}
	if (!configured_fifo)
		fifo_cap = env_uint("MDE_MODEL_UDN_FIFO", fifo_cap, 2);
	if (!configured_demux)
		demux_cap = env_uint("MDE_MODEL_UDN_DEMUX", demux_cap, 1);
	if (!configured_wd)
		watchdog_ms = env_uint("MDE_MODEL_UDN_WATCHDOG_MS", watchdog_ms, 1);
	tiles = calloc(n, sizeof(*tiles));
	ntiles = n;
	for (unsigned i = 0; tiles != NULL && i < n; i++) {
		struct tile *t = &tiles[i];
		pthread_cond_init(&t->cv, NULL);
		t->in_owner = -1;
		for (int k = 0; k < 4; k++)
			t->link_owner[k] = -1;
		t->fifo = calloc(fifo_cap, sizeof(uint64_t));
		/* Each packet in the FIFO has a word there, plus the one being sent. */
		t->pkt = calloc(fifo_cap + 1, sizeof(struct fpkt));
		for (int q = 0; q < 4; q++)
			t->dq[q] = calloc(demux_cap, sizeof(uint64_t));
		if (t->fifo == NULL || t->pkt == NULL || t->dq[0] == NULL || t->dq[1] == NULL ||
		    t->dq[2] == NULL || t->dq[3] == NULL) {
			free_tiles();
			break;
		}
	}
	if (tiles == NULL) {
		pthread_mutex_unlock(&lock);
		errno = ENOMEM;
		return -1;
	}
	hw_x0 = x0;
	hw_y0 = y0;
	hw_x1 = x1;
	hw_y1 = y1;
	hardwall = true;
	wd_running = true;
	if (pthread_create(&wd_thread, NULL, watchdog, NULL) != 0) {
		wd_running = false;
		hardwall = false;
		free_tiles();
		pthread_mutex_unlock(&lock);
		errno = EAGAIN;
		return -1;
	}
	pthread_mutex_unlock(&lock);
	return 0;
}

int tmc_udn_close(void)
{
	pthread_mutex_lock(&lock);
	if (!hardwall) {
		pthread_mutex_unlock(&lock);
		errno = ENODATA;
		return 1;
	}
	wd_running = false;
	pthread_mutex_unlock(&lock);
	pthread_join(wd_thread, NULL);
	pthread_mutex_lock(&lock);
	hardwall = false;
	free_tiles();
	pthread_mutex_unlock(&lock);
	active_cpu = -1;
	return 0;
}

int tmc_udn_activate(void)
{
	int cpu = mde_my_cpu();
	bool ok;

	pthread_mutex_lock(&lock);
	ok = hardwall && cpu >= 0 && in_wall((unsigned)cpu);
	pthread_mutex_unlock(&lock);
	if (!ok) {
		errno = !hardwall ? ENODATA : EINVAL;
		return -1;
	}
	active_cpu = cpu;
	return 0;
}

DynamicHeader tmc_udn_header_from_cpu(int cpu)
{
	DynamicHeader h;
	unsigned w = mde_grid_width();

	h.word = 0;
	if (cpu < 0 || (unsigned)cpu >= w * mde_grid_height()) {
		h.bits.dest_x = 255; /* undefined on hardware: the model routes nowhere */
		h.bits.dest_y = 255;
	} else {
		h.bits.dest_x = (unsigned)cpu % w;
		h.bits.dest_y = (unsigned)cpu / w;
	}
	return h;
}

void tmc_udn_send_buffer(DynamicHeader dest, unsigned long tag, const void *buf,
			 unsigned long words)
{
	if (words > TMC_UDN_MAX_PACKET_WORDS)
		firewall("tmc_udn_send_buffer of %lu words (at most %d)", words,
			 TMC_UDN_MAX_PACKET_WORDS);
	send_packet(dest, (unsigned)tag, buf, (unsigned)words);
}

void tmc_udn_send_1(DynamicHeader dest, uint32_t tag, uint64_t n0)
{
	send_packet(dest, tag, &n0, 1);
}

void tmc_udn_send_2(DynamicHeader dest, uint32_t tag, uint64_t n0, uint64_t n1)
{
	uint64_t w[2] = {n0, n1};
	send_packet(dest, tag, w, 2);
}

void tmc_udn_send_3(DynamicHeader dest, uint32_t tag, uint64_t n0, uint64_t n1, uint64_t n2)
{
	uint64_t w[3] = {n0, n1, n2};
	send_packet(dest, tag, w, 3);
}

void tmc_udn_send_4(DynamicHeader dest, uint32_t tag, uint64_t n0, uint64_t n1, uint64_t n2,
		    uint64_t n3)
{
	uint64_t w[4] = {n0, n1, n2, n3};
	send_packet(dest, tag, w, 4);
}

#define RECEIVERS(q)                                                                               \
	uint64_t tmc_udn##q##_receive(void)                                                        \
	{                                                                                          \
		uint64_t w;                                                                        \
		receive_words(q, &w, 1);                                                           \
		return w;                                                                          \
	}                                                                                          \
	void tmc_udn##q##_receive_buffer(void *buf, unsigned long words)                           \
	{                                                                                          \
		receive_words(q, buf, words);                                                      \
	}                                                                                          \
	unsigned int tmc_udn##q##_available_count(void)                                            \
	{                                                                                          \
		return (unsigned)__insn_mfspr(SPR_UDN_DEMUX_COUNT_##q);                            \
	}

RECEIVERS(0)
RECEIVERS(1)
RECEIVERS(2)
RECEIVERS(3)

unsigned int tmc_udn_available_mask(void)
{
	return (unsigned)__insn_mfspr(SPR_UDN_DATA_AVAIL);
}

uint64_t __insn_mfspr(int spr)
{
	unsigned self = me("SPR read");
	uint64_t v = 0;
	struct tile *t;

	pthread_mutex_lock(&lock);
	advance_all();
	t = &tiles[self];
	switch (spr) {
	case SPR_UDN_DEMUX_COUNT_0:
	case SPR_UDN_DEMUX_COUNT_1:
	case SPR_UDN_DEMUX_COUNT_2:
	case SPR_UDN_DEMUX_COUNT_3:
		v = t->dqn[spr - SPR_UDN_DEMUX_COUNT_0];
		break;
	case SPR_UDN_SP_FIFO_CNT:
		v = fifo_cap - t->fn;
		break;
	case SPR_UDN_DATA_AVAIL:
		for (int q = 0; q < 4; q++)
			v |= (uint64_t)(t->dqn[q] > 0) << q;
		break;
	case SPR_TILE_COORD:
		v = (uint64_t)(self % mde_grid_width()) | (uint64_t)(self / mde_grid_width()) << 8;
		break;
	default:
		pthread_mutex_unlock(&lock);
		mde_guest_error(NULL, NULL, "__insn_mfspr(%#x): SPR not modelled", (unsigned)spr);
		return 0;
	}
	pthread_mutex_unlock(&lock);
	return v;
}

void mde_model_udn_stats(int cpu, struct mde_model_udn_stats *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < ntiles; i++) {
		const struct mde_model_udn_stats *s = &tiles[i].st;
		if (cpu >= 0 && (unsigned)cpu != i)
			continue;
		st->packets_sent += s->packets_sent;
		st->words_sent += s->words_sent;
		st->send_stalls += s->send_stalls;
		st->recv_stalls += s->recv_stalls;
		if (s->max_stall_us > st->max_stall_us)
			st->max_stall_us = s->max_stall_us;
	}
	pthread_mutex_unlock(&lock);
}
