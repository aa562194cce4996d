/*
 * netcore.c - the network-core side of the engine: turns stack upcalls
 * into events for application cores and NoC commands into stack calls.
 *
 * rtc mode: the upcalls call the application's callbacks on this very core
 * (the stack allows commands from inside an upcall), and commands arrive
 * as direct calls (appcore.c).
 *
 * dlibos mode: every upcall becomes one message to the owning application
 * core; a new connection is offered to one of the application cores that
 * listen on its port (round robin or least loaded), and the core that
 * accepts owns it. Commands are validated before they touch the stack:
 * the message must name this network core, SEND references must lie in the
 * application's TX region, and the stack checks ownership and counts. A
 * rejected command gets a CMD_ERROR event; nothing is sent or freed.
 *
 * protected mode (the dlibosd service): the application cores live in
 * attached processes, one application slot each, reached through the
 * slot's own fabric (struct dl_route per application index). The network
 * core follows the slots' states (an atomic generation word, read once per
 * iteration) and polls the endpoints of the active ones. On top of the
 * checks above, every command is checked against the sending slot: SEND
 * fragments must lie in that slot's TX region; a connection offered to an
 * application core and not yet accepted may be accepted or refused only by
 * that core (the offer table); listen and connect must be allowed by the
 * slot's policy, and a port belongs to one slot; commands are taken only
 * while the slot's rate buckets have tokens. Invalid commands (foreign
 * memory, foreign connections, recv_done beyond what was delivered,
 * undecodable or wrong-class messages) get an error event and a counter,
 * and past the limit the network core asks the control thread to detach
 * the application (a "kick"). When a slot detaches, the network core drops
 * its routes first (later events are counted, not sent), aborts the
 * application's connections (peers get RST, RX buffers return to the
 * pool), forgets its listeners and offers, and acknowledges.
 *
 * Network cores also exchange frames of flows they do not own (devices
 * without RSS) and learned ARP mappings.
 */
#include "dl_engine_priv.h"
#include "dl_log.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Messages taken from one slot's channels per loop iteration. */
#define SLOT_POLL_BUDGET 256
/* Policy denials logged per attachment (then only counted). */
#define DENIALS_LOGGED 10

struct dl_netcore *dl_netcore_create(struct dl_engine *e, struct dl_ecore *c)
{
	struct dl_netcore *g = calloc(1, sizeof(*g));

	if (g == NULL)
		return NULL;
	g->e = e;
	g->core = c;
	g->net_idx = (unsigned)c->net_idx;
	g->napp = e->napp;
	for (unsigned a = 0; a < e->n_app; a++) {
		int ac = e->app_core[a];
		if (e->conf.mode == DL_MODE_RTC ? ac == (int)c->idx
						 : dl_coreset_has(&e->links[c->idx], (unsigned)ac))
			dl_coreset_set(&g->app_mask, a);
		g->route[a] = (struct dl_route){c->ep, (uint16_t)ac};
		g->tx_of[a] = e->tx_region;
	}
	if (e->nslots != 0) {
		g->ns = calloc(e->nslots, sizeof(*g->ns));
		g->offers = calloc(DL_OFFERS, sizeof(*g->offers));
		if (g->ns == NULL || g->offers == NULL) {
			dl_netcore_destroy(g);
			return NULL;
		}
		for (unsigned s = 0; s < e->nslots; s++) {
			g->ns[s].g = g;
			g->ns[s].slot = &e->slots[s];
		}
	}
	return g;
}

void dl_netcore_destroy(struct dl_netcore *g)
{
	if (g == NULL)
		return;
	/* A slot still on when the engine stops (its stack already gone, so
	 * dl_engine_slot_detach_stopped() could not turn it off here) keeps
	 * its RX copy state until now. */
	for (unsigned s = 0; g->ns != NULL && s < g->e->nslots; s++)
		dl_rxcopy_fini(&g->ns[s].rxc);
	free(g->ns);
	free(g->offers);
	free(g);
}

static void kick(struct dl_netslot *ns, int why);

/* Send @p nwords of @p w to application core `app`; @p events: how many
 * events the message carries. */
static inline __attribute__((always_inline)) void
send_app(struct dl_netcore *g, unsigned app, const uint64_t *w, int nwords, unsigned events)
{
	const struct dl_route *r = app < DL_MAX_CORES ? &g->route[app] : NULL;
	int rc;

	if (nwords <= 0 || r == NULL) {
		g->core->cnt[ENG_NOC_SEND_FAIL]++;
		return;
	}
	if (r->ep == NULL) {
		g->core->cnt[ENG_EVENT_DETACHED] += events; /* its application is gone */
		return;
	}
	rc = dl_noc_send(r->ep, r->dst, w, (unsigned)nwords);
	if (rc == 0) {
		g->core->cnt[ENG_EVENTS_SENT] += events;
		return;
	}
	g->core->cnt[ENG_NOC_SEND_FAIL]++;
	if (g->ns != NULL && rc == -ENOMEM)
		kick(&g->ns[app / g->e->slot_cores], DL_KICK_STUCK);
}

void dl_netcore_send_held(struct dl_netcore *g)
{
	uint64_t w[2];

	g->held_ack.on = false;
	send_app(g, g->held_ack.app,
		 w, dl_msg_enc_data_acked(w, g->net_idx, g->held_ack.id, g->held_ack.bytes), 1);
}

/* Send a message built in g->msg to application core `app`, after the
 * DATA_ACKED held back, if any (events keep their order). */
static void to_app(struct dl_netcore *g, unsigned app, int nwords)
{
	dl_netcore_flush_held(g);
	send_app(g, app, g->msg, nwords, 1);
}

/* ---- offers (protected mode) ---------------------------------------------- */

static unsigned offer_hash(uint32_t id)
{
	return (id * 2654435761u) >> (32 - DL_OFFER_BITS);
}

static struct dl_offer *offer_find(struct dl_netcore *g, uint32_t id)
{
	for (unsigned i = offer_hash(id);; i = (i + 1) & (DL_OFFERS - 1)) {
		struct dl_offer *o = &g->offers[i];
		if (o->app == 0)
			return NULL;
		if (o->id == id)
			return o;
	}
}

/* Remember that `id` was offered to application `app`. false when full
 * (the table keeps a quarter free, so probes stay short and end). */
static bool offer_add(struct dl_netcore *g, uint32_t id, unsigned app)
{
	if (g->noffers >= DL_OFFERS / 4 * 3)
		return false;
	for (unsigned i = offer_hash(id);; i = (i + 1) & (DL_OFFERS - 1)) {
		if (g->offers[i].app == 0) {
			g->offers[i] = (struct dl_offer){id, (uint8_t)(app + 1)};
			g->noffers++;
			return true;
		}
	}
}

/* Delete with backward shift (linear probing: no tombstones). */
static void offer_del(struct dl_netcore *g, struct dl_offer *o)
{
	unsigned i = (unsigned)(o - g->offers), j = i;

	for (;;) {
		j = (j + 1) & (DL_OFFERS - 1);
		if (g->offers[j].app == 0)
			break;
		unsigned k = offer_hash(g->offers[j].id);
		/* Entry j may move to the hole i unless its home k lies
		 * cyclically in (i, j]. */
		bool stays = i <= j ? (k > i && k <= j) : (k > i || k <= j);
		if (!stays) {
			g->offers[i] = g->offers[j];
			i = j;
		}
	}
	g->offers[i].app = 0;
	assert(g->noffers > 0);
	g->noffers--;
}

static struct dl_listener *listener_find(struct dl_netcore *g, uint16_t port)
{
	for (unsigned i = 0; i < DL_MAX_LISTENERS; i++)
		if (g->listeners[i].used && g->listeners[i].port == port)
			return &g->listeners[i];
	return NULL;
}

/* Pick the application core a new connection is offered to. */
static int dispatch(struct dl_netcore *g, struct dl_listener *l)
{
	unsigned n = g->napp;
	int best = -1;

	if (g->e->conf.dispatch == DL_DISPATCH_LEAST_LOADED) {
		for (unsigned k = 0; k < n; k++) {
			unsigned a = (l->rr + k) % n;
			if (dl_coreset_has(&l->apps, a) &&
			    (best < 0 || g->app_conns[a] < g->app_conns[best]))
				best = (int)a;
		}
		l->rr = (l->rr + 1) % n;
		return best;
	}
	for (unsigned k = 0; k < n; k++) {
		unsigned a = (l->rr + k) % n;
		if (dl_coreset_has(&l->apps, a)) {
			l->rr = (a + 1) % n;
			return (int)a;
		}
	}
	return -1;
}

/* dlibos.tcp debug lines (--log-level=dlibos.tcp:debug): a connection's
 * life as the stack reports it to the engine. Off, each is a load and a
 * compare on a per-connection path, never a per-packet one. */
#define TCP_LOG(g, fmt, ...)                                                                       \
	DL_LOGT(DL_LOGT_TCP, DL_LOG_DEBUG, "net%u: " fmt, (g)->net_idx, __VA_ARGS__)

static const char *const close_names[] = {"FIN", "RST", "timeout", "abort"};

static const char *why_name(enum dl_close_reason why)
{
	return (unsigned)why < 4 ? close_names[why] : "?";
}

/* ---- upcalls, dlibos mode: events over the NoC ------------------------- */

static void noc_new_conn(void *arg, uint32_t id, uint16_t local_port, uint32_t peer_ip,
			 uint16_t peer_port)
{
	struct dl_netcore *g = arg;
	struct dl_listener *l = listener_find(g, local_port);
	int app;

	TCP_LOG(g, "conn %u: %u.%u.%u.%u:%u -> port %u established (passive)", id, peer_ip >> 24,
		(peer_ip >> 16) & 255, (peer_ip >> 8) & 255, peer_ip & 255, peer_port, local_port);
	app = l != NULL ? dispatch(g, l) : -1;

	if (app < 0) {
		g->core->cnt[ENG_NO_LISTENER]++;
		dl_stack_abort(g->core->stack, DL_APP_NONE, id);
		return;
	}
	if (g->offers != NULL && !offer_add(g, id, (unsigned)app)) {
		g->core->cnt[ENG_OFFER_TABLE_FULL]++;
		dl_stack_abort(g->core->stack, DL_APP_NONE, id);
		return;
	}
	g->core->cnt[ENG_DISPATCHED]++;
	to_app(g, (unsigned)app,
	       dl_msg_enc_new_conn(g->msg, g->net_idx, id, local_port, peer_port, peer_ip));
}

static void noc_connected(void *arg, uint16_t app, uint32_t id, uint64_t cookie)
{
	struct dl_netcore *g = arg;

	TCP_LOG(g, "conn %u: established (active, app core %u)", id, app);

	g->app_conns[app]++;
	to_app(g, app, dl_msg_enc_connected(g->msg, g->net_idx, id, cookie));
}

static void noc_connect_failed(void *arg, uint16_t app, uint64_t cookie, int err)
{
	struct dl_netcore *g = arg;

	TCP_LOG(g, "connect of app core %u failed: %s", app, strerror(err));

	to_app(g, app, dl_msg_enc_connect_failed(g->msg, g->net_idx, cookie, err));
}

/* Pack stack references into ref words at @p out, splitting any longer
 * than a ref word carries. @return the ref words, or -1 when more than
 * @p max are needed. The references come from the stack's RX buffers:
 * inside a registered region, 1..65535 bytes per word by construction. */
static inline __attribute__((always_inline)) int pack_refs(const struct dl_rx_ref *refs, unsigned n,
							   uint64_t *out, unsigned max)
{
	unsigned k = 0;

	for (unsigned i = 0; i < n; i++) {
		const struct dl_region *reg = dl_region_get(refs[i].region);
		struct dl_msg_ref r = {.off = (uint64_t)(refs[i].data - reg->base),
				       .region = (uint8_t)reg->id};
		uint32_t left = refs[i].len;

		while (left > 0) {
			if (k == max)
				return -1;
			r.len = left > DL_MSG_REF_LEN_MAX ? DL_MSG_REF_LEN_MAX : left;
			out[k++] = dl_msg_ref_pack(&r);
			r.off += r.len;
			left -= r.len;
		}
	}
	return (int)k;
}

/* NEW_DATA without a DATA_ACKED to pair with (out of line: the per-request
 * case is the paired one, in noc_new_data()). */
static __attribute__((noinline)) void new_data_unpaired(struct dl_netcore *g, uint16_t app,
							uint32_t id, const struct dl_rx_ref *refs,
							unsigned n)
{
	struct dl_msg_ref r[DL_MSG_MAX_REFS];
	int k;

	dl_netcore_flush_held(g);
	k = pack_refs(refs, n, g->msg + 1, DL_MSG_MAX_REFS);
	if (k > 0) {
		send_app(g, app, g->msg,
			 (int)dl_msg_finish_refs(g->msg, DL_MSG_NEW_DATA, g->net_idx, id, (unsigned)k),
			 1);
		return;
	}
	/* More than one message's worth (over 8 MiB in one delivery). */
	k = 0;
	for (unsigned i = 0; i < n; i++) {
		const struct dl_region *reg = dl_region_get(refs[i].region);
		uint64_t off = (uint64_t)(refs[i].data - reg->base);
		uint32_t left = refs[i].len;
		while (left > 0) {
			uint32_t chunk = left > DL_MSG_REF_LEN_MAX ? DL_MSG_REF_LEN_MAX : left;
			r[k++] = (struct dl_msg_ref){.off = off, .len = chunk, .region = (uint8_t)reg->id};
			off += chunk;
			left -= chunk;
			if (k == DL_MSG_MAX_REFS) {
				to_app(g, app, dl_msg_enc_new_data(g->msg, g->net_idx, id, r, DL_MSG_MAX_REFS));
				k = 0;
			}
		}
	}
	if (k > 0)
		to_app(g, app, dl_msg_enc_new_data(g->msg, g->net_idx, id, r, (unsigned)k));
}

static void noc_new_data(void *arg, uint16_t app, uint32_t id, const struct dl_rx_ref *refs,
			 unsigned n)
{
	struct dl_netcore *g = arg;
	int k;

	/* The DATA_ACKED of this segment travels in the same message. */
	if (g->held_ack.on && g->held_ack.app == app && g->held_ack.id == id &&
	    (k = pack_refs(refs, n, g->msg + 2, DL_MSG_MAX_REFS_PAIRED)) > 0) {
		g->held_ack.on = false;
		g->core->cnt[ENG_EVENTS_PAIRED]++;
		g->msg[1] = g->held_ack.bytes;
		send_app(g, app, g->msg,
			 (int)dl_msg_finish_refs(g->msg, DL_MSG_ACKED_NEW_DATA, g->net_idx, id,
						 (unsigned)k),
			 2);
		return;
	}
	new_data_unpaired(g, app, id, refs, n);
}

static void noc_data_acked(void *arg, uint16_t app, uint32_t id, uint32_t bytes)
{
	struct dl_netcore *g = arg;

	if (g->held_ack.on && g->held_ack.app == app && g->held_ack.id == id &&
	    g->held_ack.bytes <= UINT32_MAX - bytes) {
		g->held_ack.bytes += bytes; /* two ACKs in one burst: one event */
		return;
	}
	dl_netcore_flush_held(g);
	g->held_ack.on = true;
	g->held_ack.app = app;
	g->held_ack.id = id;
	g->held_ack.bytes = bytes;
}

static void noc_remote_closed(void *arg, uint16_t app, uint32_t id, enum dl_close_reason why)
{
	struct dl_netcore *g = arg;

	TCP_LOG(g, "conn %u: closed by the peer (%s)", id, why_name(why));

	to_app(g, app, dl_msg_enc_remote_closed(g->msg, g->net_idx, id, (unsigned)why));
}

static void noc_cleanup(void *arg, uint16_t app, uint32_t id)
{
	struct dl_netcore *g = arg;

	TCP_LOG(g, "conn %u: gone (app core %d)", id, app == DL_APP_NONE ? -1 : (int)app);

	if (app == DL_APP_NONE) {
		/* Never accepted: the offered core learns it from accept's error. */
		struct dl_offer *o = g->offers != NULL ? offer_find(g, id) : NULL;
		if (o != NULL)
			offer_del(g, o);
		return;
	}
	if (g->app_conns[app] > 0)
		g->app_conns[app]--;
	to_app(g, app, dl_msg_enc_cleanup(g->msg, g->net_idx, id));
}

static void net_handoff(void *arg, unsigned owner, const struct dl_rx_pkt *pkt)
{
	struct dl_netcore *g = arg;
	struct dl_engine *e = g->e;
	int n = dl_msg_enc_pkt_handoff(g->msg, owner, pkt);

	if (n <= 0 || owner >= e->n_net ||
	    dl_noc_send(g->core->ep, (unsigned)e->net_core[owner], g->msg, (unsigned)n) != 0) {
		g->core->cnt[ENG_NOC_SEND_FAIL]++;
		dl_nic_buf_free(e->conf.nic, pkt->buf);
	}
}

static void net_arp_learned(void *arg, uint32_t ip, const uint8_t mac[6])
{
	struct dl_netcore *g = arg;
	struct dl_engine *e = g->e;

	for (unsigned n = 0; n < e->n_net; n++) {
		int w;
		if (n == g->net_idx)
			continue;
		w = dl_msg_enc_arp_learn(g->msg, n, ip, mac);
		if (w <= 0 || dl_noc_send(g->core->ep, (unsigned)e->net_core[n], g->msg,
					  (unsigned)w) != 0)
			g->core->cnt[ENG_NOC_SEND_FAIL]++;
	}
}

const struct dl_stack_upcalls dl_netcore_upcalls_noc = {
	.new_conn = noc_new_conn,
	.connected = noc_connected,
	.connect_failed = noc_connect_failed,
	.new_data = noc_new_data,
	.data_acked = noc_data_acked,
	.remote_closed = noc_remote_closed,
	.cleanup = noc_cleanup,
	.handoff = net_handoff,
	.arp_learned = net_arp_learned,
};

/* Protected mode: the slot of an application index. */
static struct dl_netslot *slot_of(struct dl_netcore *g, unsigned app)
{
	return g->ns != NULL ? &g->ns[app / g->e->slot_cores] : NULL;
}

/* ---- upcalls, protected mode: received data copied to the application --- */

/*
 * An attached application reads received data in its own RX region
 * (dl_rxcopy.h), never in the port's RX buffers: before the NEW_DATA event
 * the payload is copied into this network core's share of the slot's
 * region, and the event names the copy. When the share is full the event
 * waits (with any later event of the slot, so a connection's data and its
 * close keep their order) until the application returns memory; the stack
 * still holds the original buffers meanwhile. A slot that shares the
 * port's RX region (--rx-sharing) takes the zero-copy path of dlibos mode.
 */

static struct dl_netslot *copy_slot(struct dl_netcore *g, unsigned app)
{
	struct dl_netslot *ns = slot_of(g, app);

	return ns != NULL && ns->on && ns->slot->rx_copy ? ns : NULL;
}

/* Hold an event back (@p closed < 0: data @p refs; else a remote close). */
static void pend_push(struct dl_netcore *g, struct dl_netslot *ns, uint16_t app, uint32_t id,
		      int closed, const struct dl_rx_ref *refs, unsigned n)
{
	struct dl_rxc_pend *p = malloc(sizeof(*p) + n * sizeof(p->refs[0]));

	if (p == NULL) {
		/* The event cannot be kept: the connection cannot go on with a
		 * hole in its data. */
		g->core->cnt[ENG_NOC_SEND_FAIL]++;
		dl_stack_abort(g->core->stack, app, id);
		return;
	}
	p->next = NULL;
	p->app = app;
	p->id = id;
	p->closed = (int8_t)closed;
	p->n = n;
	if (n > 0)
		memcpy(p->refs, refs, n * sizeof(refs[0]));
	if (ns->pend_tail != NULL)
		ns->pend_tail->next = p;
	else
		ns->pend = p;
	ns->pend_tail = p;
	g->core->cnt[ENG_RXC_DEFERRED]++;
	g->core->cnt[ENG_RXC_PENDING]++;
}

/* True when the port steered all of @p refs into the slot's own region
 * and they may go to the application as they are. */
static bool steered(const struct dl_netslot *ns, uint32_t id, const struct dl_rx_ref *refs,
		    unsigned n)
{
	if (ns->slot->nsteered == 0)
		return false;
	for (unsigned i = 0; i < n; i++)
		if (refs[i].region != ns->slot->rx->id)
			return false;
	return dl_rxcopy_steer_ok(&ns->rxc, id);
}

/* Copy @p refs and send the NEW_DATA of the copy, or send them as they are
 * when the port steered them into the application's region. @return 0, or
 * -ENOBUFS (nothing copied: no room in the share). */
static int copy_and_deliver(struct dl_netcore *g, struct dl_netslot *ns, uint16_t app,
			    uint32_t id, const struct dl_rx_ref *refs, unsigned n)
{
	if (steered(ns, id, refs, n)) {
		uint64_t bytes = 0;
		for (unsigned i = 0; i < n; i++)
			bytes += refs[i].len;
		if (dl_rxcopy_note_steered(&ns->rxc, id, bytes) != 0)
			return -ENOBUFS;
		g->core->cnt[ENG_RXC_STEERED_BYTES] += bytes;
		noc_new_data(g, app, id, refs, n);
		return 0;
	}

	struct dl_rx_ref out[DL_MSG_MAX_REFS];
	int k = dl_rxcopy_put(&ns->rxc, id, refs, n, out, DL_MSG_MAX_REFS);

	if (k == -E2BIG) {
		/* More pieces than one event carries: one reference at a time,
		 * all of them or none. */
		if (!dl_rxcopy_fits(&ns->rxc, id, refs, n))
			return -ENOBUFS;
		for (unsigned i = 0; i < n; i++)
			if (copy_and_deliver(g, ns, app, id, &refs[i], 1) != 0)
				return -ENOBUFS; /* cannot happen: the room was checked */
		return 0;
	}
	if (k < 0)
		return -ENOBUFS; /* -ENOBUFS, or -ENOMEM: retried later as well */
	if (k > 0)
		noc_new_data(g, app, id, out, (unsigned)k); /* paired with a held DATA_ACKED */
	return 0;
}

/* Deliver what was held back, oldest first, while the share has room. */
static void pend_flush(struct dl_netcore *g, struct dl_netslot *ns)
{
	struct dl_rxc_pend *p;

	while ((p = ns->pend) != NULL) {
		if (p->closed < 0 && copy_and_deliver(g, ns, p->app, p->id, p->refs, p->n) != 0)
			return;
		if (p->closed >= 0)
			to_app(g, p->app,
			       dl_msg_enc_remote_closed(g->msg, g->net_idx, p->id, (unsigned)p->closed));
		ns->pend = p->next;
		if (ns->pend == NULL)
			ns->pend_tail = NULL;
		free(p);
		g->core->cnt[ENG_RXC_PENDING]--;
	}
}

/* Forget what was held back for connection @p id (NULL app: all of them). */
static void pend_drop(struct dl_netcore *g, struct dl_netslot *ns, bool all, uint32_t id)
{
	struct dl_rxc_pend **pp = &ns->pend, *last = NULL;

	while (*pp != NULL) {
		struct dl_rxc_pend *p = *pp;
		if (all || p->id == id) {
			*pp = p->next;
			free(p);
			g->core->cnt[ENG_RXC_PENDING]--;
		} else {
			last = p;
			pp = &p->next;
		}
	}
	ns->pend_tail = last;
}

static void prot_new_data(void *arg, uint16_t app, uint32_t id, const struct dl_rx_ref *refs,
			  unsigned n)
{
	struct dl_netcore *g = arg;
	struct dl_netslot *ns = copy_slot(g, app);

	if (ns == NULL) {
		noc_new_data(arg, app, id, refs, n);
		return;
	}
	if (ns->pend != NULL || copy_and_deliver(g, ns, app, id, refs, n) != 0)
		pend_push(g, ns, app, id, -1, refs, n);
}

static void prot_remote_closed(void *arg, uint16_t app, uint32_t id, enum dl_close_reason why)
{
	struct dl_netcore *g = arg;
	struct dl_netslot *ns = copy_slot(g, app);

	if (ns != NULL && ns->pend != NULL)
		pend_push(g, ns, app, id, (int)why, NULL, 0);
	else
		noc_remote_closed(arg, app, id, why);
}

static void prot_cleanup(void *arg, uint16_t app, uint32_t id)
{
	struct dl_netcore *g = arg;
	struct dl_netslot *ns = app != DL_APP_NONE ? copy_slot(g, app) : NULL;

	/* The stack frees the connection's RX buffers: what was held back
	 * goes, and so does the copy. */
	if (ns != NULL) {
		pend_drop(g, ns, false, id);
		dl_rxcopy_drop(&ns->rxc, id);
	}
	noc_cleanup(arg, app, id);
}

const struct dl_stack_upcalls dl_netcore_upcalls_prot = {
	.new_conn = noc_new_conn,
	.connected = noc_connected,
	.connect_failed = noc_connect_failed,
	.new_data = prot_new_data,
	.data_acked = noc_data_acked,
	.remote_closed = prot_remote_closed,
	.cleanup = prot_cleanup,
	.handoff = net_handoff,
	.arp_learned = net_arp_learned,
};

/* ---- upcalls, rtc mode: the application's callbacks, right here -------- */

/* The callbacks of this core's application side (the helpers' wrappers
 * once it used a helper). */
static const struct dlibos_callbacks *app_cb(struct dl_netcore *g)
{
	return g->core->app->cb;
}

static void rtc_new_conn(void *arg, uint32_t id, uint16_t local_port, uint32_t peer_ip,
			 uint16_t peer_port)
{
	struct dl_netcore *g = arg;
	struct dlibos_core *a = g->core->app;
	dlibos_conn_t conn = dlibos_conn_make(g->net_idx, id);
	struct dlibos_conn_info info = {local_port, peer_port, peer_ip};

	TCP_LOG(g, "conn %u: %u.%u.%u.%u:%u -> port %u established (passive)", id, peer_ip >> 24,
		(peer_ip >> 16) & 255, (peer_ip >> 8) & 255, peer_ip & 255, peer_port, local_port);

	if (listener_find(g, local_port) == NULL) {
		g->core->cnt[ENG_NO_LISTENER]++;
		dl_stack_abort(g->core->stack, DL_APP_NONE, id);
		return;
	}
	g->core->cnt[ENG_DISPATCHED]++;
	g->core->cnt[ENG_EVENTS]++;
	if (app_cb(g)->new_conn != NULL)
		app_cb(g)->new_conn(a, conn, &info);
	else
		dlibos_accept(a, conn);
}

static void rtc_connected(void *arg, uint16_t app, uint32_t id, uint64_t cookie)
{
	struct dl_netcore *g = arg;

	TCP_LOG(g, "conn %u: established (active, app core %u)", id, app);

	g->app_conns[app]++;
	g->core->cnt[ENG_EVENTS]++;
	if (app_cb(g)->connected != NULL)
		app_cb(g)->connected(g->core->app, dlibos_conn_make(g->net_idx, id), cookie);
}

static void rtc_connect_failed(void *arg, uint16_t app, uint64_t cookie, int err)
{
	struct dl_netcore *g = arg;

	TCP_LOG(g, "connect of app core %u failed: %s", app, strerror(err));

	(void)app;
	g->core->cnt[ENG_EVENTS]++;
	if (app_cb(g)->connect_failed != NULL)
		app_cb(g)->connect_failed(g->core->app, cookie, err);
}

static void rtc_new_data(void *arg, uint16_t app, uint32_t id, const struct dl_rx_ref *refs,
			 unsigned n)
{
	struct dl_netcore *g = arg;
	struct dlibos_iov iov[DL_MSG_MAX_REFS];

	g->core->cnt[ENG_EVENTS]++;
	while (n > 0) {
		unsigned k = n < DL_MSG_MAX_REFS ? n : DL_MSG_MAX_REFS;
		for (unsigned i = 0; i < k; i++) {
			iov[i].base = refs[i].data;
			iov[i].len = refs[i].len;
		}
		if (app_cb(g)->new_data != NULL)
			app_cb(g)->new_data(g->core->app, dlibos_conn_make(g->net_idx, id), iov, k);
		refs += k;
		n -= k;
	}
}

static void rtc_data_acked(void *arg, uint16_t app, uint32_t id, uint32_t bytes)
{
	struct dl_netcore *g = arg;

	(void)app;
	g->core->cnt[ENG_EVENTS]++;
	if (app_cb(g)->data_acked != NULL)
		app_cb(g)->data_acked(g->core->app, dlibos_conn_make(g->net_idx, id), bytes);
}

static void rtc_remote_closed(void *arg, uint16_t app, uint32_t id, enum dl_close_reason why)
{
	struct dl_netcore *g = arg;

	TCP_LOG(g, "conn %u: closed by the peer (%s)", id, why_name(why));

	(void)app;
	g->core->cnt[ENG_EVENTS]++;
	if (app_cb(g)->remote_closed != NULL)
		app_cb(g)->remote_closed(g->core->app, dlibos_conn_make(g->net_idx, id),
					 (enum dlibos_close_reason)why);
}

static void rtc_cleanup(void *arg, uint16_t app, uint32_t id)
{
	struct dl_netcore *g = arg;

	TCP_LOG(g, "conn %u: gone (app core %d)", id, app == DL_APP_NONE ? -1 : (int)app);

	if (app == DL_APP_NONE)
		return;
	if (g->app_conns[app] > 0)
		g->app_conns[app]--;
	g->core->cnt[ENG_EVENTS]++;
	if (app_cb(g)->cleanup != NULL)
		app_cb(g)->cleanup(g->core->app, dlibos_conn_make(g->net_idx, id));
}

const struct dl_stack_upcalls dl_netcore_upcalls_rtc = {
	.new_conn = rtc_new_conn,
	.connected = rtc_connected,
	.connect_failed = rtc_connect_failed,
	.new_data = rtc_new_data,
	.data_acked = rtc_data_acked,
	.remote_closed = rtc_remote_closed,
	.cleanup = rtc_cleanup,
	.handoff = net_handoff,
	.arp_learned = net_arp_learned,
};

/* ---- commands ------------------------------------------------------------ */

/* Claim `port` for the slot of `app` on every network core (first come);
 * 0 or -EADDRINUSE when another slot listens there. */
static int claim_port(struct dl_netcore *g, unsigned app, uint16_t port)
{
	uint8_t want, cur = 0;

	if (g->e->port_owner == NULL)
		return 0;
	want = (uint8_t)(app / g->e->slot_cores + 1);
	if (__atomic_compare_exchange_n(&g->e->port_owner[port], &cur, want, false,
					__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return 0;
	return cur == want ? 0 : -EADDRINUSE;
}

int dl_netcore_listen(struct dl_netcore *g, unsigned app, uint16_t port, uint32_t backlog)
{
	struct dl_listener *l = listener_find(g, port);
	int rc;

	rc = claim_port(g, app, port);
	if (rc != 0)
		return rc;
	if (l != NULL) {
		dl_coreset_set(&l->apps, app);
		return 0;
	}
	for (unsigned i = 0; i < DL_MAX_LISTENERS && l == NULL; i++)
		if (!g->listeners[i].used)
			l = &g->listeners[i];
	if (l == NULL)
		return -ENOSPC;
	rc = dl_stack_listen(g->core->stack, port, backlog);
	if (rc != 0)
		return rc;
	l->used = true;
	l->port = port;
	dl_coreset_zero(&l->apps);
	dl_coreset_set(&l->apps, app);
	l->rr = 0;
	return 0;
}

void dl_netcore_accepted(struct dl_netcore *g, unsigned app)
{
	g->app_conns[app]++;
}

/* An invalid command from `app`: counted; in protected mode counted
 * against its slot, which is kicked past the limit. */
static void bad_command(struct dl_netcore *g, unsigned app, enum dl_eng_cnt what)
{
	struct dl_netslot *ns = slot_of(g, app);

	g->core->cnt[what]++;
	if (ns != NULL && ++ns->bad > g->e->bad_limit)
		kick(ns, DL_KICK_BAD_COMMANDS);
}

/* Turn SEND refs into stack fragments, checking each lies in the sending
 * application's TX region. @return fragments, or -EFAULT. */
static inline __attribute__((always_inline)) int
send_frags(struct dl_netcore *g, unsigned app, const struct dl_msg *m, struct dl_tx_frag *f)
{
	const struct dl_region *tx = g->tx_of[app];

	if (tx == NULL)
		return -EFAULT;
	for (unsigned i = 0; i < m->u.data.n; i++) {
		struct dl_msg_ref r = dl_msg_ref_unpack(m->u.data.refs[i]);
		if (r.region != tx->id || !dl_region_contains(tx, r.off, r.len))
			return -EFAULT;
		f[i].data = tx->base + r.off;
		f[i].len = r.len;
		f[i].region = tx->id;
	}
	return (int)m->u.data.n;
}

/* The error event of a failed command of type @p cmd. */
static void cmd_error_of(struct dl_netcore *g, unsigned app, const struct dl_msg *m, unsigned cmd,
			 int err, uint64_t context)
{
	g->core->cnt[ENG_CMD_ERRORS]++;
	to_app(g, app, dl_msg_enc_cmd_error(g->msg, g->net_idx, m->conn, cmd, -err, context));
}

static void cmd_error(struct dl_netcore *g, unsigned app, const struct dl_msg *m, int err,
		      uint64_t context)
{
	cmd_error_of(g, app, m, m->type, err, context);
}

/* Protected mode: may the slot of `app` do this? Logs the first denials. */
static bool policy_allows(struct dl_netcore *g, unsigned app, bool listen, uint32_t ip,
			  uint16_t port)
{
	struct dl_netslot *ns = slot_of(g, app);
	const struct dl_rights *r = ns != NULL ? ns->slot->grant.rights : NULL;

	if (r == NULL || dl_port_set_has(listen ? &r->listen : &r->connect, port))
		return true;
	g->core->cnt[ENG_POLICY_DENIED]++;
	if (ns->denials_logged < DENIALS_LOGGED) {
		ns->denials_logged++;
		if (listen)
			DL_WARN("policy: slot %u (%s, pid %d, uid %u): listen on port %u denied "
				"(rule line %u)",
				ns->slot->idx, ns->slot->grant.name, ns->slot->grant.pid,
				ns->slot->grant.uid, port, r->line);
		else
			DL_WARN("policy: slot %u (%s, pid %d, uid %u): connect to "
				"%u.%u.%u.%u:%u denied (rule line %u)",
				ns->slot->idx, ns->slot->grant.name, ns->slot->grant.pid,
				ns->slot->grant.uid, ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255,
				ip & 255, port, r->line);
	}
	return false;
}

/* Protected mode: ACCEPT and CLOSE may name a connection nobody accepted
 * yet; only the application core it was offered to may. 0, -EPERM, or 1
 * when `o` is that core's offer (*o set). */
static int check_offer(struct dl_netcore *g, unsigned app, uint32_t id, struct dl_offer **o)
{
	*o = g->offers != NULL ? offer_find(g, id) : NULL;
	if (*o == NULL)
		return 0;
	return (*o)->app == app + 1 ? 1 : -EPERM;
}

static int do_connect(struct dl_netcore *g, unsigned app, const struct dl_msg *m)
{
	uint32_t id;
	int rc = -EACCES;

	if (policy_allows(g, app, false, m->u.connect.ip, m->u.connect.port))
		rc = dl_stack_connect(g->core->stack, (uint16_t)app, m->u.connect.cookie,
				      m->u.connect.ip, m->u.connect.port, &id);
	if (rc != 0) {
		g->core->cnt[ENG_CMD_ERRORS]++;
		to_app(g, app,
		       dl_msg_enc_connect_failed(g->msg, g->net_idx, m->u.connect.cookie, -rc));
	}
	return rc;
}

/* Protected mode's copy path: the application returns bytes of its copy;
 * more than it was given (data held back is not given yet) is refused
 * before the stack frees anything. A connection this application does not
 * own has nothing copied for it in the slot's share, so the stack's answer
 * for a foreign connection (EPERM) is the same as in every mode. */
static __attribute__((noinline)) int copied_recv_done(struct dl_netcore *g, struct dl_netslot *ns,
							unsigned app, uint32_t id, uint32_t bytes)
{
	int rc;

	if (bytes > dl_rxcopy_unreturned(&ns->rxc, id)) {
		/* Not the owner (the stack says EPERM/ENOENT, as in every
		 * mode, a recv_done of 0 bytes only checks), or more than it
		 * was given. */
		rc = dl_stack_recv_done(g->core->stack, (uint16_t)app, id, 0);
		if (rc != 0)
			return rc;
		g->core->cnt[ENG_RXC_BAD_RETURN]++;
		bad_command(g, app, ENG_CMD_BAD_RECV_DONE);
		return -EINVAL;
	}
	rc = dl_stack_recv_done(g->core->stack, (uint16_t)app, id, bytes);
	if (rc == -EINVAL)
		bad_command(g, app, ENG_CMD_BAD_RECV_DONE);
	if (rc == 0) {
		dl_rxcopy_release(&ns->rxc, id, bytes);
		if (ns->pend != NULL)
			pend_flush(g, ns);
	}
	return rc;
}

static int do_recv_done(struct dl_netcore *g, unsigned app, uint32_t id, uint32_t bytes)
{
	int rc = dl_stack_recv_done(g->core->stack, (uint16_t)app, id, bytes);

	if (rc == -EINVAL)
		bad_command(g, app, ENG_CMD_BAD_RECV_DONE);
	return rc;
}

/* SEND and the SEND half of SEND_RECV_DONE. */
static inline __attribute__((always_inline)) int do_send(struct dl_netcore *g, unsigned app,
							 const struct dl_msg *m)
{
	struct dl_tx_frag frags[DL_MSG_MAX_REFS];
	int rc = send_frags(g, app, m, frags);

	if (rc < 0) {
		bad_command(g, app, ENG_CMD_BAD_REGION);
		g->core->cnt[ENG_BAD_COMMAND]++;
		return rc;
	}
	return dl_stack_send(g->core->stack, (uint16_t)app, m->conn, frags, (unsigned)rc);
}

/* SEND_RECV_DONE, the per-request command (from @p app, naming this
 * network core): two commands in one message; each half fails on its own. */
static inline __attribute__((always_inline)) void send_recv_done(struct dl_netcore *g, unsigned app,
								 const struct dl_msg *m)
{
	int rc = do_send(g, app, m);

	if (__builtin_expect(rc != 0, 0)) {
		if (rc == -EPERM)
			bad_command(g, app, ENG_CMD_NOT_OWNER);
		cmd_error_of(g, app, m, DL_MSG_SEND, rc, 0);
	}
	rc = do_recv_done(g, app, m->conn, m->u.data.bytes);
	if (__builtin_expect(rc != 0, 0)) {
		if (rc == -EPERM)
			bad_command(g, app, ENG_CMD_NOT_OWNER);
		cmd_error_of(g, app, m, DL_MSG_RECV_DONE, rc, 0);
	}
}

/* RECV_DONE and SEND_RECV_DONE of an application whose received data is
 * copied (protected mode): the return is checked against its copy. */
static __attribute__((noinline)) void copied_command(struct dl_netcore *g, struct dl_netslot *ns,
						     unsigned app, const struct dl_msg *m)
{
	uint32_t bytes = m->type == DL_MSG_RECV_DONE ? m->u.recv_done.bytes : m->u.data.bytes;
	int rc;

	if (m->type == DL_MSG_SEND_RECV_DONE) {
		rc = do_send(g, app, m);
		if (rc != 0) {
			if (rc == -EPERM)
				bad_command(g, app, ENG_CMD_NOT_OWNER);
			cmd_error_of(g, app, m, DL_MSG_SEND, rc, 0);
		}
	}
	rc = copied_recv_done(g, ns, app, m->conn, bytes);
	if (rc != 0) {
		if (rc == -EPERM)
			bad_command(g, app, ENG_CMD_NOT_OWNER);
		cmd_error_of(g, app, m, DL_MSG_RECV_DONE, rc, 0);
	}
}

static void on_command(struct dl_netcore *g, unsigned app, const struct dl_msg *m)
{
	struct dl_stack *s = g->core->stack;
	struct dl_offer *offer = NULL;
	uint64_t context = 0;
	int rc;

	if (m->core != g->net_idx) {
		bad_command(g, app, ENG_BAD_COMMAND);
		cmd_error(g, app, m, -EINVAL, 0);
		return;
	}
	if (m->type == DL_MSG_SEND_RECV_DONE) {
		send_recv_done(g, app, m);
		return;
	}
	switch (m->type) {
	case DL_MSG_LISTEN:
		context = m->u.listen.port;
		rc = policy_allows(g, app, true, 0, m->u.listen.port)
			 ? dl_netcore_listen(g, app, m->u.listen.port, m->u.listen.backlog)
			 : -EACCES;
		break;
	case DL_MSG_ACCEPT:
		rc = check_offer(g, app, m->conn, &offer);
		if (rc >= 0)
			rc = dl_stack_accept(s, (uint16_t)app, m->conn);
		if (rc == 0) {
			g->app_conns[app]++;
			if (offer != NULL)
				offer_del(g, offer);
		}
		break;
	case DL_MSG_CONNECT:
		do_connect(g, app, m);
		return;
	case DL_MSG_RECV_DONE:
		rc = do_recv_done(g, app, m->conn, m->u.recv_done.bytes);
		break;
	case DL_MSG_SEND:
		rc = do_send(g, app, m);
		break;
	case DL_MSG_SHUTDOWN:
		rc = dl_stack_shutdown(s, (uint16_t)app, m->conn, (int)m->u.shutdown.how);
		break;
	case DL_MSG_CLOSE:
		rc = check_offer(g, app, m->conn, &offer);
		if (rc >= 0)
			rc = dl_stack_close(s, (uint16_t)app, m->conn);
		if (rc == 0 && offer != NULL)
			offer_del(g, offer);
		break;
	default:
		rc = -EINVAL;
		bad_command(g, app, ENG_BAD_COMMAND);
		break;
	}
	if (rc == -EPERM)
		bad_command(g, app, ENG_CMD_NOT_OWNER);
	if (rc != 0)
		cmd_error(g, app, m, rc, context);
}

void dl_netcore_on_msg(void *arg, unsigned src, const struct dl_msg *m)
{
	struct dl_ecore *c = arg;
	struct dl_netcore *g = c->net;
	struct dl_engine *e = g->e;

	if (m->type == DL_MSG_SEND_RECV_DONE) {
		/* The per-request command, valid: straight to its handler.
		 * Anything else goes through the checks below. */
		int app = e->cores[src].app_idx;
		if (app >= 0 && dl_coreset_has(&g->app_mask, (unsigned)app) && m->core == g->net_idx) {
			send_recv_done(g, (unsigned)app, m);
			return;
		}
	}
	switch (dl_msg_class(m->type)) {
	case DL_MSG_CLASS_COMMAND: {
		int app = e->cores[src].app_idx;
		if (app < 0 || !dl_coreset_has(&g->app_mask, (unsigned)app)) {
			c->cnt[ENG_BAD_COMMAND]++;
			return;
		}
		on_command(g, (unsigned)app, m);
		return;
	}
	case DL_MSG_CLASS_INTERNAL:
		if (m->type == DL_MSG_PKT_HANDOFF) {
			struct dl_rx_pkt p = m->u.handoff;
			p.flags |= DL_RX_HANDOFF;
			dl_stack_input(c->stack, &p, 1, c->now);
		} else if (m->type == DL_MSG_ARP_LEARN) {
			dl_stack_arp_learn(c->stack, m->u.arp_learn.ip, m->u.arp_learn.mac, c->now);
		}
		return;
	default:
		c->cnt[ENG_BAD_COMMAND]++;
		return;
	}
}

/* ---- slots (protected mode) ------------------------------------------------ */

/* Ask the control thread to detach a slot (once per attachment). */
static void kick(struct dl_netslot *ns, int why)
{
	struct dl_engine *e = ns->g->e;
	int none = DL_KICK_NONE;
	uint64_t one = 1;

	if (ns->kicked || !ns->on)
		return;
	ns->kicked = true;
	ns->g->core->cnt[ENG_SLOT_KICKS]++;
	__atomic_compare_exchange_n(&ns->slot->kick, &none, why, false, __ATOMIC_RELEASE,
				    __ATOMIC_RELAXED);
	DL_WARN("slot %u (%s, pid %d): %s; asking for it to be detached", ns->slot->idx,
		ns->slot->grant.name, ns->slot->grant.pid,
		why == DL_KICK_BROKEN_CHANNEL ? "a NoC channel with it is broken"
		: why == DL_KICK_STUCK	      ? "it does not read its events"
					      : "too many invalid commands");
	if (e->kick_fd >= 0 && write(e->kick_fd, &one, sizeof(one)) < 0)
		DL_DEBUG("kick eventfd: write failed");
}

/* A message the slot endpoint dropped: undecodable or of a class an
 * application may not send. Counted towards the kick; when its type is a
 * command (malformed fields), an error event names it (EBADMSG). Other
 * types (unknown, events, internal) have no command an event could name:
 * they are only counted. */
static void on_reject(void *arg, unsigned src, const uint64_t *w, unsigned n, int reason)
{
	struct dl_netslot *ns = arg;
	struct dl_netcore *g = ns->g;
	unsigned app = ns->slot->base + (src - g->e->n_net), type = dl_msg_hdr_type(w[0]);

	(void)n;
	(void)reason;
	if (src < g->e->n_net || src - g->e->n_net >= ns->slot->n_app)
		return;
	bad_command(g, app, ENG_CMD_MALFORMED);
	if (dl_msg_class(type) != DL_MSG_CLASS_COMMAND)
		return;
	g->core->cnt[ENG_CMD_ERRORS]++;
	to_app(g, app,
	       dl_msg_enc_cmd_error(g->msg, g->net_idx, dl_msg_hdr_conn(w[0]), type, EBADMSG, 0));
}

/* A command from one of the slot's application cores. */
static void on_slot_msg(void *arg, unsigned src, const struct dl_msg *m)
{
	struct dl_netslot *ns = arg;
	struct dl_netcore *g = ns->g;
	unsigned j = src - g->e->n_net;

	if (src < g->e->n_net || j >= ns->slot->n_app) {
		g->core->cnt[ENG_BAD_COMMAND]++;
		return;
	}
	dl_bucket_take(&ns->cmds, 1);
	if ((m->type == DL_MSG_SEND || m->type == DL_MSG_SEND_RECV_DONE) && ns->send.rate != 0) {
		uint64_t bytes = 0;
		for (unsigned i = 0; i < m->u.data.n; i++)
			bytes += dl_msg_ref_unpack(m->u.data.refs[i]).len;
		dl_bucket_take(&ns->send, bytes);
	}
	if (ns->slot->rx_copy && (m->type == DL_MSG_RECV_DONE || m->type == DL_MSG_SEND_RECV_DONE) &&
	    m->core == g->net_idx) {
		copied_command(g, ns, ns->slot->base + j, m);
		return;
	}
	on_command(g, ns->slot->base + j, m);
}

/* Start polling an ACTIVE slot. */
static void slot_on(struct dl_netcore *g, unsigned s, uint64_t now)
{
	struct dl_netslot *ns = &g->ns[s];
	const struct dl_slot *sl = ns->slot;
	const struct dl_rights *r = sl->grant.rights;
	uint64_t n_net = g->e->n_net;

	ns->ep = sl->ep[g->net_idx];
	ns->on = true;
	ns->kicked = false;
	ns->bad = 0;
	ns->denials_logged = 0;
	/* Each network core enforces its share of the rates. */
	dl_bucket_init(&ns->send, r != NULL && r->send_rate ? (r->send_rate + n_net - 1) / n_net : 0,
		       0, 64 * 1024, now);
	dl_bucket_init(&ns->cmds, r != NULL && r->cmd_rate ? (r->cmd_rate + n_net - 1) / n_net : 0,
		       0, 64, now);
	dl_noc_set_reject_fn(ns->ep, on_reject, ns);
	if (sl->rx_copy) {
		int rc = dl_rxcopy_init(&ns->rxc, sl->rx, (size_t)g->net_idx * sl->rx_share,
					sl->rx_share, &g->core->cnt[ENG_RXC_COPIED_BYTES]);
		if (rc != 0) {
			DL_ERR("net core %u: slot %u: no share of its RX region (%s): detaching it",
			       g->net_idx, s, strerror(-rc));
			kick(ns, DL_KICK_BROKEN_CHANNEL);
		}
	}
	for (unsigned j = 0; j < sl->n_app; j++) {
		unsigned a = sl->base + j;
		g->route[a] = (struct dl_route){ns->ep, (uint16_t)(g->e->n_net + j)};
		g->tx_of[a] = sl->tx;
		g->app_conns[a] = 0;
	}
	g->slots_on |= 1u << s;
	g->core->cnt[ENG_SLOT_ON]++;
}

/* Abort the connections offered to the slot's cores and not accepted. */
static void drop_offers(struct dl_netcore *g, unsigned lo, unsigned hi)
{
	uint32_t *ids = malloc(DL_OFFERS * sizeof(*ids));
	unsigned n = 0;

	for (unsigned i = 0; i < DL_OFFERS; i++) {
		const struct dl_offer *o = &g->offers[i];
		if (o->app != 0 && o->app - 1u >= lo && o->app - 1u < hi) {
			if (ids != NULL)
				ids[n++] = o->id;
		}
	}
	for (unsigned k = 0; k < n; k++) {
		struct dl_offer *o = offer_find(g, ids[k]);
		if (o != NULL)
			offer_del(g, o);
		dl_stack_abort(g->core->stack, DL_APP_NONE, ids[k]);
	}
	free(ids);
}

void dl_netcore_slot_off(struct dl_netcore *g, unsigned s)
{
	struct dl_netslot *ns = &g->ns[s];
	struct dl_slot *sl = ns->slot;
	unsigned lo = sl->base, hi = sl->base + g->e->slot_cores;

	if (ns->on) {
		ns->on = false;
		g->slots_on &= ~(1u << s);
		/* Routes first: what the aborts below cause is dropped (counted). */
		for (unsigned a = lo; a < hi; a++) {
			g->route[a].ep = NULL;
			g->tx_of[a] = NULL;
		}
		drop_offers(g, lo, hi);
		for (unsigned a = lo; a < hi; a++) {
			dl_stack_abort_app_all(g->core->stack, (uint16_t)a);
			g->app_conns[a] = 0;
		}
		for (unsigned i = 0; i < DL_MAX_LISTENERS; i++) {
			struct dl_listener *l = &g->listeners[i];
			bool had = false;

			if (!l->used)
				continue;
			for (unsigned a = lo; a < hi; a++) {
				had |= dl_coreset_has(&l->apps, a);
				dl_coreset_clr(&l->apps, a);
			}
			if (had && dl_coreset_empty(&l->apps)) {
				dl_stack_unlisten(g->core->stack, l->port);
				l->used = false;
			}
		}
		/* RSTs out, cleanups run (and dropped), buffers back in the pool. */
		dl_stack_flush(g->core->stack);
		pend_drop(g, ns, true, 0);
		dl_rxcopy_fini(&ns->rxc);
		dl_noc_set_reject_fn(ns->ep, NULL, NULL);
		ns->ep = NULL;
		g->core->cnt[ENG_SLOT_OFF]++;
	}
	dl_coreset_set_atomic(&sl->acks, g->net_idx);
}

void dl_netcore_slots_update(struct dl_netcore *g, uint64_t now)
{
	struct dl_engine *e = g->e;
	uint64_t gen = __atomic_load_n(&e->slot_gen, __ATOMIC_ACQUIRE);

	if (gen == g->slot_gen)
		return;
	g->slot_gen = gen;
	for (unsigned s = 0; s < e->nslots; s++) {
		struct dl_slot *sl = &e->slots[s];
		int st = __atomic_load_n(&sl->state, __ATOMIC_ACQUIRE);

		if (st == DL_SLOT_ACTIVE && !g->ns[s].on)
			slot_on(g, s, now);
		else if (st == DL_SLOT_DETACHING &&
			 !(__atomic_load_n(&sl->acks.w[g->net_idx / 64], __ATOMIC_ACQUIRE) >>
				   (g->net_idx % 64) &
			   1))
			dl_netcore_slot_off(g, s);
	}
}

unsigned dl_netcore_slots_poll(struct dl_netcore *g, uint64_t now)
{
	unsigned work = 0;

	for (uint32_t on = g->slots_on; on != 0; on &= on - 1) {
		struct dl_netslot *ns = &g->ns[__builtin_ctz(on)];
		const uint64_t *nc;

		uint64_t budget;

		if (!dl_bucket_ready(&ns->send, now) || !dl_bucket_ready(&ns->cmds, now)) {
			g->core->cnt[ENG_THROTTLED]++;
			continue;
		}
		budget = dl_bucket_avail(&ns->cmds);
		work += dl_noc_poll(ns->ep, budget < SLOT_POLL_BUDGET ? (unsigned)budget
								     : SLOT_POLL_BUDGET,
				    on_slot_msg, ns);
		nc = dl_noc_counters(ns->ep);
		if ((nc[DL_NOC_RX_CHAN_BROKEN] | nc[DL_NOC_TX_CHAN_BROKEN]) != 0)
			kick(ns, DL_KICK_BROKEN_CHANNEL);
	}
	return work;
}

unsigned dl_netcore_slots_flush(struct dl_netcore *g)
{
	unsigned work = 0;

	for (uint32_t on = g->slots_on; on != 0; on &= on - 1) {
		struct dl_netslot *ns = &g->ns[__builtin_ctz(on)];
		if (ns->pend != NULL)
			pend_flush(g, ns); /* room may have come back */
		work += dl_noc_flush(ns->ep) > 0;
	}
	return work;
}
