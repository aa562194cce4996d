/*
 * np_server.c - the NetPIPE receiver's connections on one application core
 * (see np_server.h for what it does; this file is how).
 *
 * Received iovecs are queued per connection (they stay valid until
 * returned) and pumped through the connection's np_sm: each step consumes
 * a prefix of the oldest iovec and produces at most one send. Consumed
 * bytes are returned with one recv_done per pump. A step needs room for
 * one more span in the sent queue, and payload that goes through the ring
 * needs ring space: when either is missing the pump stops, keeps the rest
 * of the input, and resumes on data_acked. That back-pressure is what
 * bounds memory: the peer's window closes instead of our buffers growing.
 */
#include "np_server.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/connmap.h"

#define SENTQ	       32    /* sent spans per connection */
#define PEND_INIT      64    /* pending iovecs, initial capacity */
#define PEND_MAX       65536 /* ... and the most a connection may hold */
#define CONST_SYNC_OFF 0     /* "SyncMe" in the constants block */
#define CONST_QUIT_OFF 64    /* "QUIT\0" */
#define CONST_BYTES    128

const char *const np_cnt_names[NP_NCNT] = {
    [NP_CNT_ACCEPTED] = "conns_accepted",
    [NP_CNT_REFUSED] = "conns_refused_limit",
    [NP_CNT_RUNS_DONE] = "runs_completed",
    [NP_CNT_PROTO_ERRORS] = "protocol_errors",
    [NP_CNT_PEER_CLOSED] = "peer_closed_before_quit",
    [NP_CNT_PEER_RESET] = "peer_reset",
    [NP_CNT_SEND_ERRORS] = "send_rejected",
    [NP_CNT_CMD_ERRORS] = "cmd_errors",
    [NP_CNT_PEND_OVERFLOW] = "pending_iov_overflow",
    [NP_CNT_ACK_UNEXPECTED] = "ack_beyond_sent",
    [NP_CNT_DATA_AFTER_CLOSE] = "data_after_close",
    [NP_CNT_DATA_POINTS] = "data_points",
    [NP_CNT_MESSAGES] = "messages",
    [NP_CNT_BYTES_COPIED] = "bytes_copied",
    [NP_CNT_STORES] = "nocopy_stores",
    [NP_CNT_STORE_REPLIES] = "nocopy_replies",
    [NP_CNT_NOCOPY_TOO_BIG] = "nocopy_fallback_too_big",
    [NP_CNT_NOCOPY_NO_MEMORY] = "nocopy_fallback_no_memory",
};

/* A nocopy reply buffer: one message of one size. */
struct store {
	uint8_t *buf; /* TX memory */
	uint32_t len;
	bool filled;	    /* the first message has been copied in */
	uint64_t unacked;   /* bytes of replies from it not yet acknowledged */
	struct store *next; /* in the retired list */
};

enum span_kind { SPAN_RING, SPAN_CONST, SPAN_STORE };

/* Sent bytes awaiting acknowledgement, in send order. */
struct span {
	enum span_kind kind;
	uint64_t len;
	struct store *store; /* SPAN_STORE */
};

enum route { ROUTE_RING, ROUTE_STORE };

struct conn {
	dlibos_conn_t id;
	struct np_sm sm;
	/* received, not yet consumed: a circular array of iovecs */
	struct dlibos_iov *pend;
	uint32_t pend_cap, pend_head, pend_n, pend_off;
	/* copy ring: [head, tail) sent and unacknowledged, offsets mod size */
	uint8_t *ring;
	uint64_t ring_head, ring_tail;
	struct span q[SENTQ];
	unsigned q_head, q_n;
	/* nocopy */
	struct store *store;   /* the current size's store */
	struct store *retired; /* older stores waiting for their last ack */
	uint32_t route_point;  /* data point whose route is decided */
	enum route route;
	bool peer_closed;
	bool closing; /* dlibos_close issued */
	struct conn *next_free;
};

struct np_core {
	struct np_config cfg;
	uint64_t *cnt;
	struct connmap map;
	struct conn *slots;
	struct conn *free;
	unsigned nopen;
	uint8_t *rings;	 /* TX memory: max_conns rings */
	uint8_t *consts; /* TX memory: the constant replies */
};

size_t np_core_tx_bytes(const struct np_config *cfg)
{
	/* Two allocations, each with a 64-byte header, plus rounding. */
	return (size_t)cfg->ring_size * cfg->max_conns + CONST_BYTES + 4 * 64;
}

unsigned np_core_conns(const struct np_core *k)
{
	return k->nopen;
}

struct np_core *np_core_create(const struct np_config *cfg, uint64_t *counters)
{
	struct np_core *k = calloc(1, sizeof(*k));

	assert(cfg->max_conns > 0 && cfg->ring_size > 0 && cfg->trials > 0);
	if (k == NULL)
		return NULL;
	k->cfg = *cfg;
	k->cnt = counters;
	if (connmap_init(&k->map, cfg->max_conns) != 0)
		goto fail;
	k->slots = calloc(cfg->max_conns, sizeof(*k->slots));
	k->rings = dlibos_tx_alloc((size_t)cfg->ring_size * cfg->max_conns);
	k->consts = dlibos_tx_alloc(CONST_BYTES);
	if (k->slots == NULL || k->rings == NULL || k->consts == NULL)
		goto fail;
	memcpy(k->consts + CONST_SYNC_OFF, NP_SYNC, NP_SYNC_LEN);
	memcpy(k->consts + CONST_QUIT_OFF, NP_QUIT, NP_QUIT_LEN); /* with its NUL */
	for (unsigned i = cfg->max_conns; i-- > 0;) {
		struct conn *nc = &k->slots[i];
		nc->ring = k->rings + (size_t)i * cfg->ring_size;
		nc->pend = malloc(PEND_INIT * sizeof(*nc->pend));
		if (nc->pend == NULL)
			goto fail;
		nc->pend_cap = PEND_INIT;
		nc->next_free = k->free;
		k->free = nc;
	}
	return k;
fail:
	np_core_destroy(k);
	return NULL;
}

static void free_store(struct store *s)
{
	if (s == NULL)
		return;
	dlibos_tx_free(s->buf);
	free(s);
}

/* Release what a slot holds beyond its ring (at cleanup or shutdown). */
static void release_stores(struct conn *nc)
{
	free_store(nc->store);
	nc->store = NULL;
	while (nc->retired != NULL) {
		struct store *s = nc->retired;
		nc->retired = s->next;
		free_store(s);
	}
}

void np_core_destroy(struct np_core *k)
{
	if (k == NULL)
		return;
	if (k->slots != NULL) {
		for (unsigned i = 0; i < k->cfg.max_conns; i++) {
			release_stores(&k->slots[i]);
			free(k->slots[i].pend);
		}
	}
	if (k->map.slots != NULL)
		connmap_fini(&k->map);
	free(k->slots);
	if (k->rings != NULL)
		dlibos_tx_free(k->rings);
	if (k->consts != NULL)
		dlibos_tx_free(k->consts);
	free(k);
}

/* ---- sending and acknowledgements --------------------------------------- */

static unsigned sentq_room(const struct conn *nc)
{
	return SENTQ - nc->q_n;
}

/* Record sent bytes; merges with the newest span of the same kind. */
static void sentq_push(struct conn *nc, enum span_kind kind, uint64_t len, struct store *s)
{
	if (nc->q_n > 0) {
		struct span *last = &nc->q[(nc->q_head + nc->q_n - 1) % SENTQ];
		if (last->kind == kind && last->store == s) {
			last->len += len;
			return;
		}
	}
	assert(nc->q_n < SENTQ);
	struct span *sp = &nc->q[(nc->q_head + nc->q_n) % SENTQ];
	sp->kind = kind;
	sp->len = len;
	sp->store = s;
	nc->q_n++;
}

/* Free retired stores whose replies are all acknowledged. */
static void reap_retired(struct conn *nc)
{
	for (struct store **pp = &nc->retired; *pp != NULL;) {
		struct store *s = *pp;
		if (s->unacked == 0) {
			*pp = s->next;
			free_store(s);
		} else {
			pp = &s->next;
		}
	}
}

/* Apply an acknowledgement of `bytes` to the oldest spans. */
static void sentq_ack(struct np_core *k, struct conn *nc, uint64_t bytes)
{
	bool reap = false;

	while (bytes > 0 && nc->q_n > 0) {
		struct span *sp = &nc->q[nc->q_head];
		uint64_t n = sp->len < bytes ? sp->len : bytes;
		if (sp->kind == SPAN_RING) {
			nc->ring_head += n;
			assert(nc->ring_head <= nc->ring_tail);
		} else if (sp->kind == SPAN_STORE) {
			assert(sp->store->unacked >= n);
			sp->store->unacked -= n;
			reap |= sp->store->unacked == 0;
		}
		sp->len -= n;
		bytes -= n;
		if (sp->len == 0) {
			nc->q_head = (nc->q_head + 1) % SENTQ;
			nc->q_n--;
		}
	}
	if (bytes > 0)
		k->cnt[NP_CNT_ACK_UNEXPECTED]++;
	if (reap)
		reap_retired(nc);
}

static int send_frags(struct np_core *k, struct dlibos_core *c, struct conn *nc,
		      const struct dlibos_frag *f, unsigned n)
{
	int rc = dlibos_send(c, nc->id, f, n);

	if (rc < 0) {
		k->cnt[NP_CNT_SEND_ERRORS]++;
		if (!k->cfg.quiet)
			fprintf(stderr, "netpipe: connection %#llx: send rejected: %s\n",
				(unsigned long long)nc->id, strerror(-rc));
	}
	return rc;
}

static int send_const(struct np_core *k, struct dlibos_core *c, struct conn *nc, unsigned off,
		      uint32_t len)
{
	struct dlibos_frag f = {k->consts + off, len};

	if (send_frags(k, c, nc, &f, 1) < 0)
		return -1;
	sentq_push(nc, SPAN_CONST, len, NULL);
	return 0;
}

static uint32_t ring_free(const struct np_core *k, const struct conn *nc)
{
	return k->cfg.ring_size - (uint32_t)(nc->ring_tail - nc->ring_head);
}

/* Copy payload into the ring and send it from there. */
static int send_copy(struct np_core *k, struct dlibos_core *c, struct conn *nc, const uint8_t *p,
		     uint32_t n)
{
	uint32_t size = k->cfg.ring_size;
	uint32_t at = (uint32_t)(nc->ring_tail % size);
	uint32_t first = size - at < n ? size - at : n;
	struct dlibos_frag f[2] = {{nc->ring + at, first}, {nc->ring, n - first}};

	assert(n <= ring_free(k, nc));
	memcpy(nc->ring + at, p, first);
	memcpy(nc->ring, p + first, n - first);
	if (send_frags(k, c, nc, f, n > first ? 2 : 1) < 0)
		return -1;
	nc->ring_tail += n;
	sentq_push(nc, SPAN_RING, n, NULL);
	k->cnt[NP_CNT_BYTES_COPIED] += n;
	return 0;
}

static int send_store(struct np_core *k, struct dlibos_core *c, struct conn *nc)
{
	struct store *s = nc->store;
	struct dlibos_frag f = {s->buf, s->len};

	assert(s->filled);
	if (send_frags(k, c, nc, &f, 1) < 0)
		return -1;
	s->unacked += s->len;
	sentq_push(nc, SPAN_STORE, s->len, s);
	k->cnt[NP_CNT_STORE_REPLIES]++;
	return 0;
}

/* ---- nocopy routing -------------------------------------------------------- */

static void retire_store(struct conn *nc)
{
	struct store *s = nc->store;

	if (s == NULL)
		return;
	nc->store = NULL;
	if (s->unacked == 0) {
		free_store(s);
		return;
	}
	s->next = nc->retired;
	nc->retired = s;
}

/* At the first message of a data point: answer it from a store or by copy. */
static void choose_route(struct np_core *k, struct conn *nc)
{
	const struct np_sm *sm = &nc->sm;

	if (nc->route_point == sm->points)
		return;
	assert(sm->trial == 0 && sm->msg == 0 && sm->msg_off == 0);
	nc->route_point = sm->points;
	nc->route = ROUTE_RING;
	if (sm->size > k->cfg.nocopy_max) {
		k->cnt[NP_CNT_NOCOPY_TOO_BIG]++;
		return;
	}
	if (nc->store != NULL && nc->store->len == sm->size && nc->store->filled) {
		nc->route = ROUTE_STORE; /* same size as the previous data point */
		return;
	}
	retire_store(nc);
	struct store *s = calloc(1, sizeof(*s));
	if (s != NULL)
		s->buf = dlibos_tx_alloc(sm->size);
	if (s == NULL || s->buf == NULL) {
		free(s);
		k->cnt[NP_CNT_NOCOPY_NO_MEMORY]++;
		return;
	}
	s->len = sm->size;
	nc->store = s;
	nc->route = ROUTE_STORE;
}

/* Most payload bytes the next step may take. */
static uint32_t payload_budget(struct np_core *k, struct conn *nc)
{
	if (k->cfg.nocopy && nc->sm.phase == NP_DATA) {
		choose_route(k, nc);
		if (nc->route == ROUTE_STORE)
			return UINT32_MAX;
	}
	return ring_free(k, nc);
}

static int on_payload(struct np_core *k, struct dlibos_core *c, struct conn *nc, const uint8_t *p,
		      const struct np_step *st)
{
	if (st->msg_end)
		k->cnt[NP_CNT_MESSAGES]++;
	if (st->msg_len == 0 || !k->cfg.nocopy || nc->route == ROUTE_RING)
		return send_copy(k, c, nc, p, st->used);
	struct store *s = nc->store;
	assert(s != NULL && s->len == st->msg_len);
	if (!s->filled)
		memcpy(s->buf + st->msg_off, p, st->used);
	if (!st->msg_end)
		return 0; /* discarded: the stored copy answers it */
	if (!s->filled) {
		s->filled = true;
		k->cnt[NP_CNT_STORES]++;
	}
	return send_store(k, c, nc);
}

/* ---- the pump ----------------------------------------------------------------- */

static void pend_drop(struct conn *nc)
{
	nc->pend_head = nc->pend_n = nc->pend_off = 0;
}

static void start_close(struct dlibos_core *c, struct conn *nc)
{
	if (nc->closing)
		return;
	nc->closing = true;
	pend_drop(nc); /* the runtime releases unreturned data at close */
	dlibos_close(c, nc->id);
}

static void proto_error(struct np_core *k, struct conn *nc)
{
	k->cnt[NP_CNT_PROTO_ERRORS]++;
	if (!k->cfg.quiet)
		fprintf(stderr, "netpipe: connection %#llx: protocol error: %s\n",
			(unsigned long long)nc->id, np_sm_error(&nc->sm));
}

/* Consume `used` bytes of the oldest pending iovec. */
static void pend_consume(struct conn *nc, uint32_t used)
{
	struct dlibos_iov *v = &nc->pend[nc->pend_head];

	nc->pend_off += used;
	assert(nc->pend_off <= v->len);
	if (nc->pend_off == v->len) {
		nc->pend_head = (nc->pend_head + 1) % nc->pend_cap;
		nc->pend_n--;
		nc->pend_off = 0;
	}
}

/* Feed pending input to the state machine while it makes progress. */
static void pump(struct np_core *k, struct dlibos_core *c, struct conn *nc)
{
	uint32_t returned = 0;
	bool close_now = false;

	while (nc->pend_n > 0 && !nc->closing) {
		const struct dlibos_iov *v = &nc->pend[nc->pend_head];
		const uint8_t *p = v->base + nc->pend_off;
		uint32_t n = v->len - nc->pend_off;
		if (n == 0) {
			pend_consume(nc, 0);
			continue;
		}
		if (sentq_room(nc) < 2)
			break; /* wait for acks */
		uint32_t budget = payload_budget(k, nc);
		uint32_t points = nc->sm.points;
		struct np_step st = np_sm_step(&nc->sm, p, n, budget);
		int rc = 0;
		switch (st.ev) {
		case NP_EV_NONE:
			break;
		case NP_EV_PAYLOAD:
			rc = on_payload(k, c, nc, p, &st);
			break;
		case NP_EV_SYNC:
			rc = send_const(k, c, nc, CONST_SYNC_OFF, NP_SYNC_LEN);
			break;
		case NP_EV_QUIT:
			rc = send_const(k, c, nc, CONST_QUIT_OFF, NP_QUIT_LEN);
			k->cnt[NP_CNT_RUNS_DONE]++;
			close_now = true;
			break;
		case NP_EV_ERROR:
			proto_error(k, nc);
			close_now = true;
			break;
		}
		k->cnt[NP_CNT_DATA_POINTS] += nc->sm.points - points;
		returned += st.used;
		if (st.used > 0)
			pend_consume(nc, st.used);
		if (rc < 0 || close_now) {
			close_now = true;
			break;
		}
		if (st.used == 0)
			break; /* needs ring space */
	}
	if (returned > 0)
		dlibos_recv_done(c, nc->id, returned);
	if (!close_now && nc->peer_closed && nc->pend_n == 0 && !nc->closing) {
		/* The peer is gone and everything it sent is answered. */
		if (nc->sm.phase != NP_DONE)
			k->cnt[NP_CNT_PEER_CLOSED]++;
		close_now = true;
	}
	if (close_now)
		start_close(c, nc);
}

/* ---- events --------------------------------------------------------------------- */

void np_new_conn(struct np_core *k, struct dlibos_core *c, dlibos_conn_t conn)
{
	struct conn *nc = k->free;

	if (nc == NULL) {
		k->cnt[NP_CNT_REFUSED]++;
		dlibos_close(c, conn);
		return;
	}
	if (connmap_put(&k->map, conn, nc) != 0) {
		k->cnt[NP_CNT_REFUSED]++;
		dlibos_close(c, conn);
		return;
	}
	k->free = nc->next_free;
	/* Keep the slot's ring and iovec array, reset the rest. */
	struct dlibos_iov *pend = nc->pend;
	uint32_t cap = nc->pend_cap;
	uint8_t *ring = nc->ring;
	memset(nc, 0, sizeof(*nc));
	nc->pend = pend;
	nc->pend_cap = cap;
	nc->ring = ring;
	nc->id = conn;
	np_sm_init(&nc->sm, k->cfg.perturbation, k->cfg.trials);
	k->nopen++;
	k->cnt[NP_CNT_ACCEPTED]++;
	dlibos_accept(c, conn);
}

/* Make room for one more pending iovec. */
static int pend_grow(struct conn *nc)
{
	uint32_t cap = nc->pend_cap * 2;
	struct dlibos_iov *p;

	if (cap > PEND_MAX)
		return -1;
	p = malloc(cap * sizeof(*p));
	if (p == NULL)
		return -1;
	for (uint32_t i = 0; i < nc->pend_n; i++)
		p[i] = nc->pend[(nc->pend_head + i) % nc->pend_cap];
	free(nc->pend);
	nc->pend = p;
	nc->pend_cap = cap;
	nc->pend_head = 0;
	return 0;
}

void np_new_data(struct np_core *k, struct dlibos_core *c, dlibos_conn_t conn,
		 const struct dlibos_iov *iov, unsigned n)
{
	struct conn *nc = connmap_get(&k->map, conn);

	if (nc == NULL)
		return;
	if (nc->closing) {
		k->cnt[NP_CNT_DATA_AFTER_CLOSE]++;
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		if (nc->pend_n == nc->pend_cap && pend_grow(nc) != 0) {
			k->cnt[NP_CNT_PEND_OVERFLOW]++;
			start_close(c, nc);
			return;
		}
		nc->pend[(nc->pend_head + nc->pend_n) % nc->pend_cap] = iov[i];
		nc->pend_n++;
	}
	pump(k, c, nc);
}

void np_data_acked(struct np_core *k, struct dlibos_core *c, dlibos_conn_t conn, uint32_t bytes)
{
	struct conn *nc = connmap_get(&k->map, conn);

	if (nc == NULL)
		return;
	sentq_ack(k, nc, bytes);
	pump(k, c, nc);
}

void np_remote_closed(struct np_core *k, struct dlibos_core *c, dlibos_conn_t conn,
		      enum dlibos_close_reason why)
{
	struct conn *nc = connmap_get(&k->map, conn);

	if (nc == NULL || nc->closing)
		return;
	nc->peer_closed = true;
	if (why != DLIBOS_CLOSED_FIN) {
		if (nc->sm.phase != NP_DONE)
			k->cnt[NP_CNT_PEER_RESET]++;
		start_close(c, nc);
		return;
	}
	pump(k, c, nc); /* answers what is left, then closes */
}

void np_cleanup(struct np_core *k, struct dlibos_core *c, dlibos_conn_t conn)
{
	struct conn *nc = connmap_del(&k->map, conn);

	(void)c;
	if (nc == NULL)
		return;
	/* The stack no longer references anything we sent. */
	release_stores(nc);
	pend_drop(nc);
	nc->q_n = 0;
	nc->next_free = k->free;
	k->free = nc;
	assert(k->nopen > 0);
	k->nopen--;
}

void np_cmd_error(struct np_core *k, struct dlibos_core *c, dlibos_conn_t conn, enum dlibos_cmd cmd,
		  int err)
{
	struct conn *nc = connmap_get(&k->map, conn);

	k->cnt[NP_CNT_CMD_ERRORS]++;
	if (!k->cfg.quiet)
		fprintf(stderr, "netpipe: connection %#llx: %s failed: %s\n",
			(unsigned long long)conn, dlibos_cmd_name(cmd), strerror(err));
	if (nc != NULL && (cmd == DLIBOS_CMD_SEND || cmd == DLIBOS_CMD_RECV_DONE))
		start_close(c, nc);
}
