/*
 * netglue.c - the network-core side of the engine: turns stack upcalls
 * into events for application cores and NoC commands into stack calls.
 *
 * rtc mode: the upcalls call the application's callbacks on this very core
 * (the stack allows commands from inside an upcall), and commands arrive
 * as direct calls (appglue.c).
 *
 * dlibos mode: every upcall becomes one message to the owning application
 * core; a new connection is offered to one of the application cores that
 * listen on its port (round robin or least loaded), and the core that
 * accepts owns it. Commands are validated before they touch the stack:
 * the message must name this network core, SEND references must lie in the
 * application's TX region, and the stack checks ownership and counts. A
 * rejected command gets a CMD_ERROR event; nothing is sent or freed.
 *
 * Network cores also exchange frames of flows they do not own (devices
 * without RSS) and learned ARP mappings.
 */
#include "dl_engine_priv.h"
#include "dl_log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct dl_netglue *dl_netglue_create(struct dl_engine *e, struct dl_ecore *c)
{
	struct dl_netglue *g = calloc(1, sizeof(*g));

	if (g == NULL)
		return NULL;
	g->e = e;
	g->core = c;
	g->net_idx = (unsigned)c->net_idx;
	for (unsigned a = 0; a < e->n_app; a++) {
		int ac = e->app_core[a];
		if (e->conf.mode == DL_MODE_RTC ? ac == (int)c->idx
						 : (e->links[c->idx] & (1ull << ac)) != 0)
			g->app_mask |= 1ull << a;
	}
	return g;
}

void dl_netglue_destroy(struct dl_netglue *g)
{
	free(g);
}

/* Send a message built in g->msg to application core `app`. */
static void to_app(struct dl_netglue *g, unsigned app, int nwords)
{
	struct dl_engine *e = g->e;

	if (nwords <= 0 || app >= e->n_app ||
	    dl_noc_send(g->core->ep, (unsigned)e->app_core[app], g->msg, (unsigned)nwords) != 0)
		g->core->cnt[ENG_NOC_SEND_FAIL]++;
	else
		g->core->cnt[ENG_EVENTS_SENT]++;
}

static struct dl_listener *listener_find(struct dl_netglue *g, uint16_t port)
{
	for (unsigned i = 0; i < DL_MAX_LISTENERS; i++)
		if (g->listeners[i].used && g->listeners[i].port == port)
			return &g->listeners[i];
	return NULL;
}

/* Pick the application core a new connection is offered to. */
static int dispatch(struct dl_netglue *g, struct dl_listener *l)
{
	unsigned n = g->e->n_app;
	int best = -1;

	if (g->e->conf.dispatch == DL_DISPATCH_LEAST_LOADED) {
		for (unsigned k = 0; k < n; k++) {
			unsigned a = (l->rr + k) % n;
			if ((l->apps & (1ull << a)) &&
			    (best < 0 || g->app_conns[a] < g->app_conns[best]))
				best = (int)a;
		}
		l->rr = (l->rr + 1) % n;
		return best;
	}
	for (unsigned k = 0; k < n; k++) {
		unsigned a = (l->rr + k) % n;
		if (l->apps & (1ull << a)) {
			l->rr = (a + 1) % n;
			return (int)a;
		}
	}
	return -1;
}

/* ---- upcalls, dlibos mode: events over the NoC ------------------------- */

static void noc_new_conn(void *arg, uint32_t id, uint16_t local_port, uint32_t peer_ip,
			 uint16_t peer_port)
{
	struct dl_netglue *g = arg;
	struct dl_listener *l = listener_find(g, local_port);
	int app = l != NULL ? dispatch(g, l) : -1;

	if (app < 0) {
		g->core->cnt[ENG_NO_LISTENER]++;
		dl_stack_abort(g->core->stack, DL_APP_NONE, id);
		return;
	}
	g->core->cnt[ENG_DISPATCHED]++;
	to_app(g, (unsigned)app,
	       dl_msg_enc_new_conn(g->msg, g->net_idx, id, local_port, peer_port, peer_ip));
}

static void noc_connected(void *arg, uint16_t app, uint32_t id, uint64_t cookie)
{
	struct dl_netglue *g = arg;

	g->app_conns[app]++;
	to_app(g, app, dl_msg_enc_connected(g->msg, g->net_idx, id, cookie));
}

static void noc_connect_failed(void *arg, uint16_t app, uint64_t cookie, int err)
{
	struct dl_netglue *g = arg;

	to_app(g, app, dl_msg_enc_connect_failed(g->msg, g->net_idx, cookie, err));
}

static void noc_new_data(void *arg, uint16_t app, uint32_t id, const struct dl_rx_ref *refs,
			 unsigned n)
{
	struct dl_netglue *g = arg;
	struct dl_msg_ref r[DL_MSG_MAX_REFS];
	unsigned k = 0;

	for (unsigned i = 0; i < n; i++) {
		const struct dl_region *reg = dl_region_get(refs[i].region);
		uint64_t off = (uint64_t)(refs[i].data - reg->base);
		uint32_t left = refs[i].len;
		/* A reference longer than a ref word carries is split. */
		while (left > 0) {
			uint32_t chunk = left > DL_MSG_REF_LEN_MAX ? DL_MSG_REF_LEN_MAX : left;
			r[k++] = (struct dl_msg_ref){.off = off, .len = chunk, .region = (uint8_t)reg->id};
			off += chunk;
			left -= chunk;
			if (k == DL_MSG_MAX_REFS) {
				to_app(g, app, dl_msg_enc_new_data(g->msg, g->net_idx, id, r, k));
				k = 0;
			}
		}
	}
	if (k > 0)
		to_app(g, app, dl_msg_enc_new_data(g->msg, g->net_idx, id, r, k));
}

static void noc_data_acked(void *arg, uint16_t app, uint32_t id, uint32_t bytes)
{
	struct dl_netglue *g = arg;

	to_app(g, app, dl_msg_enc_data_acked(g->msg, g->net_idx, id, bytes));
}

static void noc_remote_closed(void *arg, uint16_t app, uint32_t id, enum dl_close_reason why)
{
	struct dl_netglue *g = arg;

	to_app(g, app, dl_msg_enc_remote_closed(g->msg, g->net_idx, id, (unsigned)why));
}

static void noc_cleanup(void *arg, uint16_t app, uint32_t id)
{
	struct dl_netglue *g = arg;

	if (app == DL_APP_NONE)
		return; /* never accepted: the offered core learns it from accept's error */
	if (g->app_conns[app] > 0)
		g->app_conns[app]--;
	to_app(g, app, dl_msg_enc_cleanup(g->msg, g->net_idx, id));
}

static void net_handoff(void *arg, unsigned owner, const struct dl_rx_pkt *pkt)
{
	struct dl_netglue *g = arg;
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
	struct dl_netglue *g = arg;
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

const struct dl_stack_upcalls dl_netglue_upcalls_noc = {
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

/* ---- upcalls, rtc mode: the application's callbacks, right here -------- */

static const struct dlibos_callbacks *app_cb(struct dl_netglue *g)
{
	return &g->e->conf.app->cb;
}

static void rtc_new_conn(void *arg, uint32_t id, uint16_t local_port, uint32_t peer_ip,
			 uint16_t peer_port)
{
	struct dl_netglue *g = arg;
	struct dlibos_core *a = g->core->app;
	dlibos_conn_t conn = dlibos_conn_make(g->net_idx, id);
	struct dlibos_conn_info info = {local_port, peer_port, peer_ip};

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
	struct dl_netglue *g = arg;

	g->app_conns[app]++;
	g->core->cnt[ENG_EVENTS]++;
	if (app_cb(g)->connected != NULL)
		app_cb(g)->connected(g->core->app, dlibos_conn_make(g->net_idx, id), cookie);
}

static void rtc_connect_failed(void *arg, uint16_t app, uint64_t cookie, int err)
{
	struct dl_netglue *g = arg;

	(void)app;
	g->core->cnt[ENG_EVENTS]++;
	if (app_cb(g)->connect_failed != NULL)
		app_cb(g)->connect_failed(g->core->app, cookie, err);
}

static void rtc_new_data(void *arg, uint16_t app, uint32_t id, const struct dl_rx_ref *refs,
			 unsigned n)
{
	struct dl_netglue *g = arg;
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
	struct dl_netglue *g = arg;

	(void)app;
	g->core->cnt[ENG_EVENTS]++;
	if (app_cb(g)->data_acked != NULL)
		app_cb(g)->data_acked(g->core->app, dlibos_conn_make(g->net_idx, id), bytes);
}

static void rtc_remote_closed(void *arg, uint16_t app, uint32_t id, enum dl_close_reason why)
{
	struct dl_netglue *g = arg;

	(void)app;
	g->core->cnt[ENG_EVENTS]++;
	if (app_cb(g)->remote_closed != NULL)
		app_cb(g)->remote_closed(g->core->app, dlibos_conn_make(g->net_idx, id),
					 (enum dlibos_close_reason)why);
}

static void rtc_cleanup(void *arg, uint16_t app, uint32_t id)
{
	struct dl_netglue *g = arg;

	if (app == DL_APP_NONE)
		return;
	if (g->app_conns[app] > 0)
		g->app_conns[app]--;
	g->core->cnt[ENG_EVENTS]++;
	if (app_cb(g)->cleanup != NULL)
		app_cb(g)->cleanup(g->core->app, dlibos_conn_make(g->net_idx, id));
}

const struct dl_stack_upcalls dl_netglue_upcalls_rtc = {
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

int dl_netglue_listen(struct dl_netglue *g, unsigned app, uint16_t port, uint32_t backlog)
{
	struct dl_listener *l = listener_find(g, port);
	int rc;

	if (l != NULL) {
		l->apps |= 1ull << app;
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
	l->apps = 1ull << app;
	l->rr = 0;
	return 0;
}

void dl_netglue_accepted(struct dl_netglue *g, unsigned app)
{
	g->app_conns[app]++;
}

/* Turn SEND refs into stack fragments, checking each lies in the app's TX
 * memory. @return fragments, or -EFAULT. */
static int send_frags(struct dl_netglue *g, const struct dl_msg *m, struct dl_tx_frag *f)
{
	const struct dl_region *tx = g->e->tx_region;

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

static void cmd_error(struct dl_netglue *g, unsigned app, const struct dl_msg *m, int err,
		      uint64_t context)
{
	g->core->cnt[ENG_CMD_ERRORS]++;
	to_app(g, app, dl_msg_enc_cmd_error(g->msg, g->net_idx, m->conn, m->type, -err, context));
}

static void on_command(struct dl_netglue *g, unsigned app, const struct dl_msg *m)
{
	struct dl_stack *s = g->core->stack;
	struct dl_tx_frag frags[DL_MSG_MAX_REFS];
	uint64_t context = 0;
	uint32_t id;
	int rc;

	if (m->core != g->net_idx) {
		g->core->cnt[ENG_BAD_COMMAND]++;
		cmd_error(g, app, m, -EINVAL, 0);
		return;
	}
	switch (m->type) {
	case DL_MSG_LISTEN:
		context = m->u.listen.port;
		rc = dl_netglue_listen(g, app, m->u.listen.port, m->u.listen.backlog);
		break;
	case DL_MSG_ACCEPT:
		rc = dl_stack_accept(s, (uint16_t)app, m->conn);
		if (rc == 0)
			g->app_conns[app]++;
		break;
	case DL_MSG_CONNECT:
		rc = dl_stack_connect(s, (uint16_t)app, m->u.connect.cookie, m->u.connect.ip,
				      m->u.connect.port, &id);
		if (rc != 0) {
			g->core->cnt[ENG_CMD_ERRORS]++;
			to_app(g, app,
			       dl_msg_enc_connect_failed(g->msg, g->net_idx, m->u.connect.cookie, -rc));
			return;
		}
		break;
	case DL_MSG_RECV_DONE:
		rc = dl_stack_recv_done(s, (uint16_t)app, m->conn, m->u.recv_done.bytes);
		break;
	case DL_MSG_SEND:
		rc = send_frags(g, m, frags);
		if (rc < 0) {
			g->core->cnt[ENG_BAD_COMMAND]++;
			break;
		}
		rc = dl_stack_send(s, (uint16_t)app, m->conn, frags, (unsigned)rc);
		break;
	case DL_MSG_SHUTDOWN:
		rc = dl_stack_shutdown(s, (uint16_t)app, m->conn, (int)m->u.shutdown.how);
		break;
	case DL_MSG_CLOSE:
		rc = dl_stack_close(s, (uint16_t)app, m->conn);
		break;
	default:
		rc = -EINVAL;
		g->core->cnt[ENG_BAD_COMMAND]++;
		break;
	}
	if (rc != 0)
		cmd_error(g, app, m, rc, context);
}

void dl_netglue_on_msg(struct dl_ecore *c, unsigned src, const struct dl_msg *m)
{
	struct dl_netglue *g = c->net;
	struct dl_engine *e = g->e;

	switch (dl_msg_class(m->type)) {
	case DL_MSG_CLASS_COMMAND: {
		int app = e->cores[src].app_idx;
		if (app < 0 || !(g->app_mask & (1ull << app))) {
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
