/*
 * tcp_harness.c - two stacks, an impaired link and a virtual clock (see
 * tcp_harness.h). Frames in flight live in a per-direction min-heap keyed
 * by (due time, sequence number), so equal due times keep sending order.
 */
#include "tcp_harness.h"
#include "dl_tcp.h"
#include "dl_stats.h"
#include "dl_cksum.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ---- random numbers (xorshift64*) ---------------------------------------- */

static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

static double rnd01(uint64_t *s)
{
	return (double)(rnd(s) >> 11) * (1.0 / 9007199254740992.0);
}

static uint32_t rnd_range(uint64_t *s, uint32_t lo, uint32_t hi)
{
	return lo + (uint32_t)(rnd(s) % ((uint64_t)hi - lo + 1));
}

/* ---- frames in flight ----------------------------------------------------- */

struct frame {
	uint64_t due, order;
	uint32_t len;
	uint8_t *data;
};

struct heap {
	struct frame *v;
	size_t n, cap;
};

static bool frame_before(const struct frame *a, const struct frame *b)
{
	return a->due < b->due || (a->due == b->due && a->order < b->order);
}

static void heap_push(struct heap *h, struct frame f)
{
	size_t i;

	if (h->n == h->cap) {
		h->cap = h->cap ? 2 * h->cap : 256;
		h->v = realloc(h->v, h->cap * sizeof(*h->v));
		assert(h->v != NULL);
	}
	i = h->n++;
	while (i > 0 && frame_before(&f, &h->v[(i - 1) / 2])) {
		h->v[i] = h->v[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h->v[i] = f;
}

static struct frame heap_pop(struct heap *h)
{
	struct frame top = h->v[0], last = h->v[--h->n];
	size_t i = 0;

	for (;;) {
		size_t l = 2 * i + 1, m = i;
		if (l >= h->n)
			break;
		m = l;
		if (l + 1 < h->n && frame_before(&h->v[l + 1], &h->v[l]))
			m = l + 1;
		if (!frame_before(&h->v[m], &last))
			break;
		h->v[i] = h->v[m];
		i = m;
	}
	if (h->n > 0)
		h->v[i] = last;
	return top;
}

/* ---- applications ----------------------------------------------------------- */

struct conn {
	struct th *h;
	int side;
	uint32_t id;
	bool up, fin_rx, closed, cleaned, reset;
	uint64_t tx_total, tx_queued, tx_acked;
	uint64_t rx_total, rx_done, rx_unret;
	uint64_t tx_seed, rx_seed;
	uint8_t *ring;
	uint64_t hold_due; /* slow reader: return rx_unret at this time */
};

/* Upcall argument of one side. */
struct upctx {
	struct th *h;
	int side;
};

struct side {
	struct upctx u;
	struct dl_stack *s;
	struct dl_stack_upcalls up;
	struct conn **conns;
	size_t nconns, cap;
	unsigned established, closed, cleaned;
};

struct th {
	struct dl_memwire *w;
	struct side side[2];
	struct heap dir[2]; /* frames to deliver to side i */
	uint64_t bottleneck_free[2];
	uint32_t queued[2];
	struct th_link link;
	struct th_app_cfg app;
	uint64_t now, order, rng, seed;
	uint64_t stats[4];
	uint64_t ce_marks;
	uint64_t verified;
	unsigned opened;
	void (*obs)(struct th *h, void *arg);
	void *obs_arg;
	uint8_t buf[2048];
};

void th_set_observer(struct th *h, void (*fn)(struct th *h, void *arg), void *arg)
{
	h->obs = fn;
	h->obs_arg = arg;
}

static struct conn *conn_find(struct side *sd, uint32_t id)
{
	/* Connections are few per side in transfer tests; the scale test
	 * does not look them up by id after accept. */
	for (size_t i = sd->nconns; i-- > 0;)
		if (sd->conns[i]->id == id && !sd->conns[i]->cleaned)
			return sd->conns[i];
	return NULL;
}

/* The client port names a connection on both sides (white box). */
static uint16_t client_port(struct th *h, int side, uint32_t id)
{
	struct dl_tcp *t = h->side[side].s->tcp;
	struct dl_tcb *c = tcb_at(t, id & t->idx_mask);

	return side == 1 ? c->lport : c->rport;
}

static struct conn *conn_add(struct th *h, int side, uint32_t id)
{
	struct side *sd = &h->side[side];
	struct conn *c = calloc(1, sizeof(*c));
	assert(c != NULL);
	if (sd->nconns == sd->cap) {
		sd->cap = sd->cap ? 2 * sd->cap : 16;
		sd->conns = realloc(sd->conns, sd->cap * sizeof(*sd->conns));
		assert(sd->conns != NULL);
	}
	sd->conns[sd->nconns++] = c;
	c->h = h;
	c->side = side;
	c->id = id;
	/* Stream seeds: the client's port and the direction. */
	uint64_t base = h->seed * 1000003u + client_port(h, side, id) * 2u;
	c->tx_seed = base + (side == 1 ? 0 : 1);
	c->rx_seed = base + (side == 1 ? 1 : 0);
	c->tx_total = side == 1 ? h->app.bytes_c2s : h->app.bytes_s2c;
	c->rx_total = side == 1 ? h->app.bytes_s2c : h->app.bytes_c2s;
	if (c->tx_total > 0 && !h->app.idle_hold) {
		c->ring = malloc(h->app.ring);
		assert(c->ring != NULL);
	}
	return c;
}

static void pump_send(struct conn *c);
static void maybe_close(struct conn *c);

static void up_new_conn(void *arg, uint32_t id, uint16_t lport, uint32_t pip, uint16_t pport)
{
	struct upctx *u = arg;
	struct conn *c;
	int rc;

	(void)lport, (void)pip, (void)pport;
	rc = dl_stack_accept(u->h->side[u->side].s, 1, id);
	assert(rc == 0);
	(void)rc;
	if (u->h->app.idle_hold) { /* scale runs keep no per-connection state */
		u->h->side[u->side].established++;
		return;
	}
	c = conn_add(u->h, u->side, id);
	c->up = true;
	u->h->side[u->side].established++;
	pump_send(c);
	maybe_close(c);
}

static void up_connected(void *arg, uint16_t app, uint32_t id, uint64_t cookie)
{
	struct upctx *u = arg;
	struct conn *c;

	(void)app;
	if (u->h->app.idle_hold) {
		u->h->side[u->side].established++;
		return;
	}
	c = u->h->side[u->side].conns[cookie];
	assert(c->id == id);
	c->up = true;
	u->h->side[u->side].established++;
	pump_send(c);
	maybe_close(c);
}

static void up_connect_failed(void *arg, uint16_t app, uint64_t cookie, int err)
{
	struct upctx *u = arg;

	(void)app;
	fprintf(stderr, "harness: connect %llu failed: %d (t=%llu)\n", (unsigned long long)cookie,
		err, (unsigned long long)u->h->now);
	u->h->side[u->side].conns[cookie]->reset = true;
	u->h->side[u->side].conns[cookie]->cleaned = true;
}

static void verify(struct conn *c, const uint8_t *p, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++) {
		uint8_t want = th_pattern_byte(c->rx_seed, c->rx_done + i);
		if (p[i] != want) {
			fprintf(stderr, "harness: side %d conn %u byte %llu is %02x, want %02x\n",
				c->side, c->id, (unsigned long long)(c->rx_done + i), p[i], want);
			abort();
		}
	}
	c->rx_done += len;
}

static void up_new_data(void *arg, uint16_t app, uint32_t id, const struct dl_rx_ref *refs,
			unsigned n)
{
	struct upctx *u = arg;
	struct th *h = u->h;
	struct conn *c = conn_find(&h->side[u->side], id);
	uint32_t bytes = 0;

	(void)app;
	assert(c != NULL);
	for (unsigned i = 0; i < n; i++) {
		assert(refs[i].len > 0);
		/* zero copy: the reference points into the wire's RX region */
		assert(refs[i].region == dl_memwire_nic(h->w, u->side)->rx_region);
		verify(c, refs[i].data, refs[i].len);
		bytes += refs[i].len;
	}
	h->verified += bytes;
	assert(c->rx_done <= c->rx_total);
	c->rx_unret += bytes;
	if (h->app.slow_reader_us == 0 || c->rx_unret > h->app.slow_reader_bytes) {
		int rc = dl_stack_recv_done(h->side[u->side].s, 1, id, (uint32_t)c->rx_unret);
		assert(rc == 0);
		(void)rc;
		c->rx_unret = 0;
		c->hold_due = 0;
	} else if (c->hold_due == 0) {
		c->hold_due = h->now + h->app.slow_reader_us;
	}
	maybe_close(c);
}

static void up_data_acked(void *arg, uint16_t app, uint32_t id, uint32_t bytes)
{
	struct upctx *u = arg;
	struct conn *c = conn_find(&u->h->side[u->side], id);

	(void)app;
	assert(c != NULL);
	c->tx_acked += bytes;
	assert(c->tx_acked <= c->tx_queued);
	pump_send(c);
	maybe_close(c);
}

static void up_remote_closed(void *arg, uint16_t app, uint32_t id, enum dl_close_reason why)
{
	struct upctx *u = arg;
	struct conn *c;

	(void)app;
	if (u->h->app.idle_hold) {
		fprintf(stderr, "harness: side %d conn %u closed by %d at t=%llu\n", u->side, id,
			why, (unsigned long long)u->h->now);
		u->h->side[u->side].closed++;
		return;
	}
	c = conn_find(&u->h->side[u->side], id);
	assert(c != NULL);
	if (why != DL_CLOSE_FIN) {
		fprintf(stderr, "harness: side %d conn %u closed by %d at t=%llu\n", u->side, id,
			why, (unsigned long long)u->h->now);
		c->reset = true;
		return;
	}
	c->fin_rx = true;
	maybe_close(c);
}

static void up_cleanup(void *arg, uint16_t app, uint32_t id)
{
	struct upctx *u = arg;
	struct conn *c;

	(void)app;
	if (u->h->app.idle_hold) {
		u->h->side[u->side].cleaned++;
		return;
	}
	c = conn_find(&u->h->side[u->side], id);
	assert(c != NULL);
	c->cleaned = true;
	free(c->ring);
	c->ring = NULL;
}

/* Queue as much of the stream as the ring allows. */
static void pump_send(struct conn *c)
{
	struct th *h = c->h;
	struct dl_stack *s = h->side[c->side].s;
	uint32_t ring = h->app.ring;

	if (!c->up || c->closed || c->ring == NULL)
		return;
	while (c->tx_queued < c->tx_total) {
		struct dl_tx_frag f[16];
		unsigned nf = 0, want = rnd_range(&h->rng, 1, h->app.frags_per_send);
		uint64_t off = c->tx_queued;
		uint64_t room = ring - (c->tx_queued - c->tx_acked);

		while (nf < want && off < c->tx_total && room > 0 && nf < 15) {
			uint32_t len = rnd_range(&h->rng, 1, h->app.max_frag);
			uint32_t pos = (uint32_t)(off % ring);
			if (len > room)
				len = (uint32_t)room;
			if (len > c->tx_total - off)
				len = (uint32_t)(c->tx_total - off);
			if (len > ring - pos)
				len = ring - pos; /* up to the ring's end */
			for (uint32_t i = 0; i < len; i++)
				c->ring[pos + i] = th_pattern_byte(c->tx_seed, off + i);
			f[nf].data = c->ring + pos;
			f[nf].len = len;
			f[nf].region = DL_REGION_NONE;
			nf++;
			off += len;
			room -= len;
		}
		if (nf == 0)
			return;
		int rc = dl_stack_send(s, 1, c->id, f, nf);
		if (rc == -ENOBUFS)
			return; /* the queue is full: data_acked brings us back */
		assert(rc == 0);
		c->tx_queued = off;
	}
}

static void maybe_close(struct conn *c)
{
	struct th *h = c->h;

	if (h->app.idle_hold || c->closed || !c->up || c->reset)
		return;
	if (c->tx_acked < c->tx_total || c->rx_done < c->rx_total || c->rx_unret > 0)
		return;
	/* The client closes first; the server once it saw the client's FIN
	 * (so TIME_WAIT lands on the client). */
	if (c->side == 0 && !c->fin_rx)
		return;
	c->closed = true;
	int rc = dl_stack_close(h->side[c->side].s, 1, c->id);
	assert(rc == 0);
	(void)rc;
}

/* ---- the network ------------------------------------------------------------ */

static void impair_push(struct th *h, int to, const uint8_t *p, uint32_t len)
{
	const struct th_link *l = &h->link;
	uint64_t due = h->now + l->delay_us;
	struct frame f;
	int copies = 1;
	bool ce = false;

	/* a frame past the MTU (1500) would not leave a real NIC */
	assert(len <= 14 + 1500);

	if (l->loss > 0 && rnd01(&h->rng) < l->loss) {
		h->stats[0]++;
		return;
	}
	if (l->drop != NULL && l->drop(l->drop_arg, to, p, len)) {
		h->stats[0]++;
		return;
	}
	if (l->rate_bps > 0) {
		/* Bottleneck: serialise behind what is queued; drop when full. */
		uint64_t start = h->bottleneck_free[to] > h->now ? h->bottleneck_free[to] : h->now;
		uint64_t backlog = (start - h->now) * l->rate_bps / 8000000u / 1500u;
		if (l->queue_max > 0 && backlog >= l->queue_max) {
			h->stats[0]++;
			return;
		}
		/* an IPv4 frame whose ECN field says ECT(0) or ECT(1) */
		if (l->ecn_mark_frames > 0 && backlog >= l->ecn_mark_frames && len >= 34 &&
		    p[12] == 0x08 && p[13] == 0x00 && (p[15] & 3) != 0 && (p[15] & 3) != 3)
			ce = true;
		h->bottleneck_free[to] = start + (uint64_t)len * 8000000u / l->rate_bps;
		due = h->bottleneck_free[to] + l->delay_us;
	}
	if (l->jitter_us > 0)
		due += rnd_range(&h->rng, 0, l->jitter_us);
	if (l->batch_to_server_us > 0 && to == 0 && !(rnd01(&h->rng) < l->batch_pass))
		due = (due + l->batch_to_server_us - 1) / l->batch_to_server_us * l->batch_to_server_us;
	if (l->reorder > 0 && rnd01(&h->rng) < l->reorder) {
		due += l->reorder_us;
		h->stats[3]++;
	}
	if (l->dup > 0 && rnd01(&h->rng) < l->dup) {
		copies = 2;
		h->stats[1]++;
	}
	for (int k = 0; k < copies; k++) {
		f.due = due + (uint64_t)k;
		f.order = h->order++;
		f.len = len;
		f.data = malloc(len);
		assert(f.data != NULL);
		memcpy(f.data, p, len);
		if (ce) {
			uint8_t *ip = f.data + 14;
			uint16_t sum;
			ip[1] |= 3; /* CE */
			ip[10] = ip[11] = 0;
			sum = (uint16_t)~dl_cksum_fold(dl_cksum_raw(ip, (size_t)(ip[0] & 15) * 4));
			memcpy(ip + 10, &sum, 2);
			if (k == 0)
				h->ce_marks++;
		}
		if (l->corrupt > 0 && rnd01(&h->rng) < l->corrupt) {
			uint32_t bit = rnd_range(&h->rng, 0, len * 8 - 1);
			f.data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			h->stats[2]++;
		}
		heap_push(&h->dir[to], f);
	}
}

/* Move what each stack sent into the link. */
static unsigned collect(struct th *h)
{
	unsigned n = 0;
	size_t len;

	for (int to = 0; to < 2; to++)
		while ((len = dl_memwire_pop(h->w, to, h->buf, sizeof(h->buf))) > 0) {
			impair_push(h, to, h->buf, (uint32_t)len);
			n++;
		}
	return n;
}

static void run_side(struct th *h, int i)
{
	struct side *sd = &h->side[i];
	struct dl_nic *nic = dl_memwire_nic(h->w, i);
	struct dl_rx_pkt pkts[32];
	uint16_t n;

	while ((n = dl_nic_rx_burst(nic, 0, pkts, 32)) > 0)
		dl_stack_input(sd->s, pkts, n, h->now);
	dl_stack_poll(sd->s, h->now);
	/* slow readers return what they held */
	if (h->app.slow_reader_us > 0)
		for (size_t k = 0; k < sd->nconns; k++) {
			struct conn *c = sd->conns[k];
			if (c->hold_due != 0 && c->hold_due <= h->now && !c->cleaned) {
				int rc = dl_stack_recv_done(sd->s, 1, c->id, (uint32_t)c->rx_unret);
				assert(rc == 0);
				(void)rc;
				c->rx_unret = 0;
				c->hold_due = 0;
				maybe_close(c);
			}
		}
	dl_stack_flush(sd->s);
}

unsigned th_step(struct th *h)
{
	unsigned work = collect(h);

	/* Deliver what is due to one side, run it, and take what it sent
	 * off the wire at once: the other side must never receive a frame
	 * the link has not seen. */
	for (int i = 0; i < 2; i++) {
		struct heap *q = &h->dir[i];
		while (q->n > 0 && q->v[0].due <= h->now) {
			struct frame f = heap_pop(q);
			if (dl_memwire_inject(h->w, i, f.data, f.len) != 0)
				h->stats[0]++; /* pool or FIFO full: a loss */
			free(f.data);
			work++;
		}
		run_side(h, i);
		work += collect(h);
	}
	if (h->obs != NULL)
		h->obs(h, h->obs_arg);
	return work;
}

static uint64_t next_event(struct th *h)
{
	uint64_t t = UINT64_MAX;

	for (int i = 0; i < 2; i++) {
		uint64_t d = dl_stack_next_deadline(h->side[i].s);
		if (d < t)
			t = d;
		if (h->dir[i].n > 0 && h->dir[i].v[0].due < t)
			t = h->dir[i].v[0].due;
		for (size_t k = 0; h->app.slow_reader_us > 0 && k < h->side[i].nconns; k++) {
			struct conn *c = h->side[i].conns[k];
			if (c->hold_due != 0 && !c->cleaned && c->hold_due < t)
				t = c->hold_due;
		}
	}
	return t;
}

static bool all_done(struct th *h)
{
	for (int i = 0; i < 2; i++) {
		struct side *sd = &h->side[i];
		struct dl_stack_tcp_mem m;
		for (size_t k = 0; k < sd->nconns; k++)
			if (!sd->conns[k]->cleaned)
				return false;
		dl_stack_tcp_mem(sd->s, &m);
		if (m.conns != 0 || m.timers != 0 || m.time_wait != 0)
			return false;
	}
	return h->side[1].nconns == h->app.conns && h->side[0].nconns == h->app.conns &&
	       h->dir[0].n == 0 && h->dir[1].n == 0;
}

/* Advance the clock when idle. @return false when nothing is left. */
static bool idle_advance(struct th *h, uint64_t limit)
{
	uint64_t t = next_event(h);

	if (t == UINT64_MAX)
		return false;
	if (t > h->now)
		h->now = t > limit ? limit + 1 : t;
	return true;
}

bool th_run(struct th *h, uint64_t limit_us)
{
	unsigned spins = 0;

	while (h->now <= limit_us) {
		if (th_step(h) > 0) {
			spins = 0;
			continue;
		}
		if (all_done(h))
			return true;
		uint64_t before = h->now;
		if (!idle_advance(h, limit_us))
			return all_done(h);
		if (h->now == before && ++spins > 1000) {
			fprintf(stderr, "harness: no progress at t=%llu\n",
				(unsigned long long)h->now);
			return false;
		}
	}
	return false;
}

bool th_run_established(struct th *h, unsigned n, uint64_t limit_us)
{
	unsigned spins = 0;

	while (h->now <= limit_us) {
		if (h->side[0].established >= n && h->side[1].established >= n &&
		    dl_memwire_pending(h->w, 0) == 0 && dl_memwire_pending(h->w, 1) == 0 &&
		    h->dir[0].n == 0 && h->dir[1].n == 0)
			return true;
		if (th_step(h) > 0) {
			spins = 0;
			continue;
		}
		uint64_t before = h->now;
		if (!idle_advance(h, limit_us))
			return false;
		if (h->now == before && ++spins > 1000)
			return false;
	}
	return false;
}

void th_advance(struct th *h, uint64_t until)
{
	for (;;) {
		if (th_step(h) > 0)
			continue;
		uint64_t t = next_event(h);
		if (t > until)
			break;
		if (t > h->now)
			h->now = t;
		else if (t == h->now && th_step(h) == 0)
			break; /* nothing more at this time */
	}
	if (h->now < until)
		h->now = until;
	th_step(h);
}

/* ---- set-up ------------------------------------------------------------------ */

static const uint8_t mac0[6] = {2, 0, 0, 0, 0, 1}, mac1[6] = {2, 0, 0, 0, 0, 2};

struct th *th_create(const struct dl_stack_config *cfg, const struct th_link *link,
		     const struct th_app_cfg *app, uint64_t seed, bool tso)
{
	struct th *h = calloc(1, sizeof(*h));
	struct dl_memwire_config wc = {.nbufs = 16384, .fifo_len = 16384, .no_tso = !tso};

	assert(h != NULL);
	h->link = *link;
	h->app = *app;
	if (h->app.frags_per_send == 0)
		h->app.frags_per_send = 1;
	if (h->app.max_frag == 0)
		h->app.max_frag = 16384;
	if (h->app.ring == 0)
		h->app.ring = 1u << 20;
	h->seed = seed;
	h->rng = seed * 0x9e3779b97f4a7c15ull + 12345;
	h->now = 1000000;
	h->w = dl_memwire_create(&wc);
	assert(h->w != NULL);
	for (int i = 0; i < 2; i++) {
		struct dl_stack_config c = *cfg;
		struct side *sd = &h->side[i];
		struct upctx *u = &sd->u;

		u->h = h;
		u->side = i;
		c.ip = i == 0 ? TH_SERVER_IP : TH_CLIENT_IP;
		c.prefix_len = 24;
		if (h->app.simopen) { /* fixed ports: each connects to the other's */
			c.tcp.port_min = c.tcp.port_max = i == 0 ? TH_PORT : TH_SIMOPEN_PORT;
		}
		memcpy(c.mac, i == 0 ? mac0 : mac1, 6);
		c.tcp.isn_key[0] = (uint8_t)(seed + (uint64_t)i);
		sd->s = dl_stack_create(&c, dl_memwire_nic(h->w, i), 0, 0, 1);
		assert(sd->s != NULL);
		sd->up = (struct dl_stack_upcalls){
		    .new_conn = up_new_conn,
		    .connected = up_connected,
		    .connect_failed = up_connect_failed,
		    .new_data = up_new_data,
		    .data_acked = up_data_acked,
		    .remote_closed = up_remote_closed,
		    .cleanup = up_cleanup,
		};
		dl_stack_set_upcalls(sd->s, &sd->up, u);
		dl_stack_arp_learn(sd->s, i == 0 ? TH_CLIENT_IP : TH_SERVER_IP,
				   i == 0 ? mac1 : mac0, h->now);
	}
	return h;
}

void th_connect_more(struct th *h, unsigned n)
{
	struct side *sd = &h->side[1];

	for (unsigned k = 0; k < n; k++) {
		uint32_t id;
		uint64_t cookie = sd->nconns;
		int rc = dl_stack_connect(sd->s, 1, cookie, TH_SERVER_IP,
					  (uint16_t)(TH_PORT + (h->opened & 1)), &id);
		assert(rc == 0);
		(void)rc;
		if (!h->app.idle_hold)
			conn_add(h, 1, id);
		h->opened++;
	}
}

void th_start(struct th *h)
{
	if (h->app.simopen) {
		/* Both connect at the same time: the SYNs cross. */
		uint32_t id0, id1;
		int rc = dl_stack_connect(h->side[0].s, 1, 0, TH_CLIENT_IP, TH_SIMOPEN_PORT, &id0);
		assert(rc == 0);
		rc = dl_stack_connect(h->side[1].s, 1, 0, TH_SERVER_IP, TH_PORT, &id1);
		assert(rc == 0);
		(void)rc;
		conn_add(h, 0, id0);
		conn_add(h, 1, id1);
		h->opened = 1;
		return;
	}
	assert(dl_stack_listen(h->side[0].s, TH_PORT, 0) == 0);
	assert(dl_stack_listen(h->side[0].s, TH_PORT + 1, 0) == 0);
	th_connect_more(h, h->app.conns);
}

void th_dump(struct th *h)
{
	fprintf(stderr, "harness: t=%llu in flight %zu/%zu, verified %llu\n",
		(unsigned long long)h->now, h->dir[0].n, h->dir[1].n,
		(unsigned long long)h->verified);
	for (int i = 0; i < 2; i++) {
		struct side *sd = &h->side[i];
		struct dl_stack_tcp_mem m;
		dl_stack_tcp_mem(sd->s, &m);
		fprintf(stderr, "  side %d: conns %u timers %zu next %llu\n", i, m.conns, m.timers,
			(unsigned long long)dl_stack_next_deadline(sd->s));
		for (size_t k = 0; k < sd->nconns && k < 8; k++) {
			struct conn *c = sd->conns[k];
			fprintf(stderr,
				"    conn %u up %d fin %d closed %d cleaned %d reset %d tx "
				"%llu/%llu/%llu rx %llu/%llu unret %llu\n",
				c->id, c->up, c->fin_rx, c->closed, c->cleaned, c->reset,
				(unsigned long long)c->tx_acked, (unsigned long long)c->tx_queued,
				(unsigned long long)c->tx_total, (unsigned long long)c->rx_done,
				(unsigned long long)c->rx_total, (unsigned long long)c->rx_unret);
			struct dl_tcp *t = sd->s->tcp;
			struct dl_tcb *b = tcb_at(t, c->id & t->idx_mask);
			if (b->id != c->id)
				continue;
			fprintf(stderr,
				"      tcb %s flags %#x una %u nxt %u max %u sq %u+%u wnd %u cwnd %u "
				"ssthresh %u rtx %llu pto %d persist %d sb %p",
				dl_tcp_state_name(b->state), b->flags, b->snd_una, b->snd_nxt,
				b->snd_max, b->sq_seq, b->sq_bytes, b->snd_wnd, b->cwnd, b->ssthresh,
				(unsigned long long)b->t_rtx, !!(b->flags & TF_PTO),
				!!(b->flags & TF_PERSIST), (void *)b->sb);
			if (b->sb != NULL)
				fprintf(stderr, " (n %u sacked %u lost %u pipe %u)", b->sb->n,
					b->sb->sacked, b->sb->lost, dl_tcp_sb_pipe(b));
			fprintf(stderr, " rcv_nxt %u ooo %u\n", b->rcv_nxt, b->ooo_segs);
		}
	}
}

void th_destroy(struct th *h)
{
	for (int i = 0; i < 2; i++) {
		struct side *sd = &h->side[i];
		dl_stack_destroy(sd->s);
		for (size_t k = 0; k < sd->nconns; k++) {
			free(sd->conns[k]->ring);
			free(sd->conns[k]);
		}
		free(sd->conns);
		while (h->dir[i].n > 0)
			free(heap_pop(&h->dir[i]).data);
		free(h->dir[i].v);
	}
	while (dl_memwire_pop(h->w, 0, h->buf, sizeof(h->buf)) > 0)
		;
	while (dl_memwire_pop(h->w, 1, h->buf, sizeof(h->buf)) > 0)
		;
	assert(dl_memwire_bufs_in_use(h->w) == 0);
	dl_memwire_destroy(h->w);
	free(h);
}

struct dl_stack *th_stack(struct th *h, int side)
{
	return h->side[side].s;
}

struct dl_memwire *th_wire(struct th *h)
{
	return h->w;
}

uint64_t th_now(struct th *h)
{
	return h->now;
}

unsigned th_established(struct th *h, int side)
{
	return h->side[side].established;
}

uint64_t th_verified(struct th *h)
{
	return h->verified;
}

uint64_t th_bottleneck_queue_us(struct th *h, int to)
{
	return h->bottleneck_free[to] > h->now ? h->bottleneck_free[to] - h->now : 0;
}

void th_link_stats(struct th *h, uint64_t out[4])
{
	memcpy(out, h->stats, sizeof(h->stats));
}

uint64_t th_ce_marks(struct th *h)
{
	return h->ce_marks;
}

struct dl_tcb *th_server_conn(struct th *h)
{
	struct dl_tcp *t = th_stack(h, 0)->tcp;

	for (uint32_t i = 0; i < t->next_fresh; i++) {
		struct dl_tcb *c = tcb_at(t, i);
		if (c->state >= DL_TCP_ESTABLISHED && c->state != DL_TCP_TIME_WAIT)
			return c;
	}
	return NULL;
}

bool th_run_report(struct th *h, uint64_t limit_us)
{
	bool ok = th_run(h, limit_us);

	if (!ok || getenv("TH_VERBOSE") != NULL) {
		th_dump(h);
		dl_stats_dump(stderr, false);
	}
	return ok;
}
