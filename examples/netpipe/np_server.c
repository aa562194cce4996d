/*
 * np_server.c - the NetPIPE receiver's connections on one application core
 * (see np_server.h for what it does; this file is how).
 *
 * Received iovecs are queued with dlibos_rx_push() (they stay valid until
 * returned) and pumped through the connection's np_sm: each step consumes
 * a prefix of the front iovec (dlibos_rx_peek, dlibos_rx_consume) and
 * produces at most one send. Payload answered by copy goes through
 * dlibos_send_copy(), as far as dlibos_send_copy_room() says it fits: when
 * nothing fits the pump stops, keeps the rest of the input, and the
 * `writable` event resumes it. That back-pressure is what bounds memory:
 * the peer's window closes instead of our buffers growing. Constant
 * replies and nocopy stores go by reference (dlibos_send_ref); a store
 * counts its replies in flight and its completion callback frees a
 * retired store after the last one.
 */
#include "np_server.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/connmap.h"

#define CONST_SYNC_OFF 0  /* "SyncMe" in the constants block */
#define CONST_QUIT_OFF 64 /* "QUIT\0" */
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
	bool filled;	   /* the first message has been copied in */
	bool retired;	   /* no longer the connection's: freed after its last reply */
	uint32_t inflight; /* replies from it sent, not yet completed */
};

enum route { ROUTE_COPY, ROUTE_STORE };

struct conn {
	dlibos_conn_t id;
	struct np_sm sm;
	/* nocopy */
	struct store *store;  /* the current size's store */
	uint32_t route_point; /* data point whose route is decided */
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
	uint8_t *consts; /* TX memory: the constant replies */
};

size_t np_core_tx_bytes(const struct np_config *cfg)
{
	(void)cfg;
	return CONST_BYTES + 2 * 64; /* one allocation, its header, rounding */
}

unsigned np_core_conns(const struct np_core *k)
{
	return k->nopen;
}

struct np_core *np_core_create(const struct np_config *cfg, uint64_t *counters)
{
	struct np_core *k = calloc(1, sizeof(*k));

	assert(cfg->max_conns > 0 && cfg->trials > 0);
	if (k == NULL)
		return NULL;
	k->cfg = *cfg;
	k->cnt = counters;
	if (connmap_init(&k->map, cfg->max_conns) != 0)
		goto fail;
	k->slots = calloc(cfg->max_conns, sizeof(*k->slots));
	k->consts = dlibos_tx_alloc(CONST_BYTES);
	if (k->slots == NULL || k->consts == NULL)
		goto fail;
	memcpy(k->consts + CONST_SYNC_OFF, NP_SYNC, NP_SYNC_LEN);
	memcpy(k->consts + CONST_QUIT_OFF, NP_QUIT, NP_QUIT_LEN); /* with its NUL */
	for (unsigned i = cfg->max_conns; i-- > 0;) {
		struct conn *nc = &k->slots[i];
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

/* Let go of a store: now, or after its last reply completes. */
static void retire_store(struct conn *nc)
{
	struct store *s = nc->store;

	if (s == NULL)
		return;
	nc->store = NULL;
	if (s->inflight == 0)
		free_store(s);
	else
		s->retired = true;
}

void np_core_destroy(struct np_core *k)
{
	if (k == NULL)
		return;
	if (k->slots != NULL)
		for (unsigned i = 0; i < k->cfg.max_conns; i++)
			retire_store(&k->slots[i]);
	if (k->map.slots != NULL)
		connmap_fini(&k->map);
	free(k->slots);
	if (k->consts != NULL)
		dlibos_tx_free(k->consts);
	free(k);
}

/* ---- sending ------------------------------------------------------------------ */

static int sent(struct np_core *k, struct conn *nc, int rc)
{
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

	/* Constant: nothing to learn when it is acknowledged. */
	return sent(k, nc, dlibos_send_ref(c, nc->id, &f, 1, NULL, NULL));
}

/* Copy payload (n bytes, which dlibos_send_copy_room said fit). */
static int send_copy(struct np_core *k, struct dlibos_core *c, struct conn *nc, const uint8_t *p,
		     uint32_t n)
{
	int rc = dlibos_send_copy(c, nc->id, p, n);

	if (rc >= 0 && (uint32_t)rc != n)
		rc = -ENOBUFS; /* cannot happen: the room was asked for first */
	if (sent(k, nc, rc) < 0)
		return -1;
	k->cnt[NP_CNT_BYTES_COPIED] += n;
	return 0;
}

/* A reply from a store was acknowledged, or its connection ended. */
static void store_done(struct dlibos_core *c, dlibos_conn_t conn, void *arg, int status)
{
	struct store *s = arg;

	(void)c;
	(void)conn;
	(void)status;
	assert(s->inflight > 0);
	if (--s->inflight == 0 && s->retired)
		free_store(s);
}

static int send_store(struct np_core *k, struct dlibos_core *c, struct conn *nc)
{
	struct store *s = nc->store;
	struct dlibos_frag f = {s->buf, s->len};

	assert(s->filled);
	if (sent(k, nc, dlibos_send_ref(c, nc->id, &f, 1, store_done, s)) < 0)
		return -1;
	s->inflight++;
	k->cnt[NP_CNT_STORE_REPLIES]++;
	return 0;
}

/* ---- nocopy routing -------------------------------------------------------- */

/* At the first message of a data point: answer it from a store or by copy. */
static void choose_route(struct np_core *k, struct conn *nc)
{
	const struct np_sm *sm = &nc->sm;

	if (nc->route_point == sm->points)
		return;
	assert(sm->trial == 0 && sm->msg == 0 && sm->msg_off == 0);
	nc->route_point = sm->points;
	nc->route = ROUTE_COPY;
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

/* Most payload bytes the next step may take, of the `avail` at hand: all
 * of them for a store, else what copy memory holds now (when that is
 * less, `writable` follows once more fits). */
static uint32_t payload_budget(struct np_core *k, struct dlibos_core *c, struct conn *nc,
			       uint32_t avail)
{
	if (k->cfg.nocopy && nc->sm.phase == NP_DATA) {
		choose_route(k, nc);
		if (nc->route == ROUTE_STORE)
			return UINT32_MAX;
	}
	size_t room = dlibos_send_copy_room(c, nc->id, avail);
	return room < avail ? (uint32_t)room : avail;
}

static int on_payload(struct np_core *k, struct dlibos_core *c, struct conn *nc, const uint8_t *p,
		      const struct np_step *st)
{
	if (st->msg_end)
		k->cnt[NP_CNT_MESSAGES]++;
	if (st->msg_len == 0 || !k->cfg.nocopy || nc->route == ROUTE_COPY)
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

static void start_close(struct dlibos_core *c, struct conn *nc)
{
	if (nc->closing)
		return;
	nc->closing = true;
	dlibos_close(c, nc->id); /* releases the unreturned input too */
}

static void proto_error(struct np_core *k, struct conn *nc)
{
	k->cnt[NP_CNT_PROTO_ERRORS]++;
	if (!k->cfg.quiet)
		fprintf(stderr, "netpipe: connection %#llx: protocol error: %s\n",
			(unsigned long long)nc->id, np_sm_error(&nc->sm));
}

/* Feed queued input to the state machine while it makes progress. */
static void pump(struct np_core *k, struct dlibos_core *c, struct conn *nc)
{
	struct dlibos_iov v;
	bool close_now = false;

	while (!nc->closing && dlibos_rx_peek(c, nc->id, &v) > 0) {
		uint32_t budget = payload_budget(k, c, nc, v.len);
		uint32_t points = nc->sm.points;
		struct np_step st = np_sm_step(&nc->sm, v.base, v.len, budget);
		int rc = 0;
		switch (st.ev) {
		case NP_EV_NONE:
			break;
		case NP_EV_PAYLOAD:
			rc = on_payload(k, c, nc, v.base, &st);
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
		if (st.used > 0)
			dlibos_rx_consume(c, nc->id, st.used);
		if (rc < 0 || close_now) {
			close_now = true;
			break;
		}
		if (st.used == 0)
			break; /* waits for copy memory: writable */
	}
	if (!close_now && nc->peer_closed && !nc->closing && dlibos_rx_avail(c, nc->id) == 0) {
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
	memset(nc, 0, sizeof(*nc));
	nc->id = conn;
	np_sm_init(&nc->sm, k->cfg.perturbation, k->cfg.trials);
	k->nopen++;
	k->cnt[NP_CNT_ACCEPTED]++;
	dlibos_accept(c, conn);
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
	if (dlibos_rx_push(c, conn, iov, n) != 0) {
		k->cnt[NP_CNT_PEND_OVERFLOW]++;
		start_close(c, nc);
		return;
	}
	pump(k, c, nc);
}

void np_writable(struct np_core *k, struct dlibos_core *c, dlibos_conn_t conn)
{
	struct conn *nc = connmap_get(&k->map, conn);

	if (nc != NULL)
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
	/* The library ran the completions of its replies (aborted) first. */
	retire_store(nc);
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
