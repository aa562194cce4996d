/*
 * appcore.c - the application-core side of the engine and the public
 * dlibos_* command functions.
 *
 * dlibos mode: a command is encoded into a NoC message to the network core
 * that owns the connection (LISTEN goes to every network core this
 * application core talks to, CONNECT to one chosen round robin); SEND
 * fragments become (region, offset, length) references into the
 * application's TX region, split into messages of at most 125 references.
 * Events arrive through dl_appcore_on_msg() and are turned back into
 * pointers and callbacks.
 *
 * rtc mode: commands are direct calls into this core's stack; errors the
 * stack reports are queued and delivered as cmd_error / connect_failed
 * events at the end of the loop iteration, so applications handle failures
 * the same way in every mode.
 */
#include "dl_engine_priv.h"
#include "dl_log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const cmd_names[] = {
	[DLIBOS_CMD_LISTEN] = "listen",       [DLIBOS_CMD_ACCEPT] = "accept",
	[DLIBOS_CMD_CONNECT] = "connect",     [DLIBOS_CMD_RECV_DONE] = "recv_done",
	[DLIBOS_CMD_SEND] = "send",           [DLIBOS_CMD_SHUTDOWN] = "shutdown",
	[DLIBOS_CMD_CLOSE] = "close",
};

const char *dlibos_cmd_name(enum dlibos_cmd cmd)
{
	if ((unsigned)cmd < sizeof(cmd_names) / sizeof(cmd_names[0]) && cmd_names[cmd] != NULL)
		return cmd_names[cmd];
	return "unknown";
}

struct dlibos_core *dl_appcore_create(struct dl_engine *e, struct dl_ecore *c)
{
	struct dlibos_core *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return NULL;
	a->e = e;
	a->core = c;
	a->app_idx = (unsigned)c->app_idx;
	a->txmem = &e->txmem;
	for (unsigned n = 0; n < e->n_net; n++) {
		int nc = e->net_core[n];
		if (e->conf.mode == DL_MODE_RTC ? nc == (int)c->idx
						 : dl_coreset_has(&e->links[c->idx], (unsigned)nc))
			a->net_of[a->nnet++] = (uint16_t)n;
	}
	return a;
}

void dl_appcore_destroy(struct dlibos_core *a)
{
	free(a);
}

static bool rtc(const struct dlibos_core *a)
{
	return a->e->conf.mode == DL_MODE_RTC;
}

void dl_appcore_defer(struct dlibos_core *a, uint8_t kind, uint8_t cmd, int err,
		      dlibos_conn_t conn, uint64_t context)
{
	if (a->ndeferred == DL_DEFERRED_MAX) {
		a->core->cnt[ENG_DEFERRED_DROP]++;
		return;
	}
	a->deferred[a->ndeferred++] = (struct dl_deferred){kind, cmd, err, conn, context};
	a->core->cnt[ENG_CMD_ERRORS]++;
}

void dl_appcore_flush_deferred(struct dlibos_core *a)
{
	const struct dlibos_callbacks *cb = &a->e->conf.app->cb;
	struct dl_deferred d[DL_DEFERRED_MAX];
	unsigned n = a->ndeferred;

	/* Callbacks may issue commands that fail again: take a snapshot. */
	memcpy(d, a->deferred, n * sizeof(d[0]));
	a->ndeferred = 0;
	for (unsigned i = 0; i < n; i++) {
		a->core->cnt[ENG_EVENTS]++;
		if (d[i].kind == 1) {
			if (cb->connect_failed != NULL)
				cb->connect_failed(a, d[i].context, d[i].err);
		} else if (cb->cmd_error != NULL) {
			cb->cmd_error(a, d[i].conn, (enum dlibos_cmd)d[i].cmd, d[i].err,
				      d[i].context);
		}
	}
}

/* dlibos mode: send @p nwords at @p w to network core `net`. */
static int put_net(struct dlibos_core *a, unsigned net, const uint64_t *w, unsigned nwords)
{
	int rc = dl_noc_send(a->core->ep, (unsigned)a->e->net_core[net], w, nwords);

	if (rc != 0) {
		a->core->cnt[ENG_NOC_SEND_FAIL]++;
		return rc;
	}
	a->core->cnt[ENG_COMMANDS]++;
	return 0;
}

/* dlibos mode: send a command built in a->msg (nwords, or an encoder's
 * error) to network core `net`. */
static int to_net(struct dlibos_core *a, unsigned net, int nwords)
{
	if (nwords <= 0) {
		a->core->cnt[ENG_CMD_LOCAL_REJECT]++;
		return -EINVAL;
	}
	return put_net(a, net, a->msg, (unsigned)nwords);
}

/* dlibos mode: send the command held back for pairing. A failure here is
 * reported as the command's error event (the call that issued it
 * has returned 0). */
void dl_appcore_send_held(struct dlibos_core *a)
{
	unsigned type = a->held.type, net = a->held.net;
	dlibos_conn_t conn = a->held.conn;
	int rc;

	a->held.type = 0;
	if (type == DL_MSG_SEND)
		rc = put_net(a, net, a->held.w + 1,
			     dl_msg_finish_refs(a->held.w + 1, DL_MSG_SEND, net,
						dlibos_conn_id(conn), a->held.n));
	else
		rc = to_net(a, net,
			    dl_msg_enc_recv_done(a->msg, net, dlibos_conn_id(conn), a->held.bytes));
	if (rc != 0)
		dl_appcore_defer(a, 0, type == DL_MSG_SEND ? DLIBOS_CMD_SEND : DLIBOS_CMD_RECV_DONE,
				 -rc, conn, 0);
}

/* Send SEND (n ref words at w[2 ..]) and RECV_DONE (consumed bytes) of one
 * connection as one SEND_RECV_DONE message built in w. */
static inline __attribute__((always_inline)) int send_paired(struct dlibos_core *a, unsigned net,
							     dlibos_conn_t conn, uint64_t *w,
							     unsigned n, uint32_t consumed)
{
	int rc;

	a->held.type = 0;
	w[1] = consumed;
	rc = put_net(a, net, w,
		     dl_msg_finish_refs(w, DL_MSG_SEND_RECV_DONE, net, dlibos_conn_id(conn), n));
	if (rc != 0) {
		/* One of the two was issued by an earlier call that returned 0:
		 * both failures arrive as error events. */
		dl_appcore_defer(a, 0, DLIBOS_CMD_SEND, -rc, conn, 0);
		dl_appcore_defer(a, 0, DLIBOS_CMD_RECV_DONE, -rc, conn, 0);
		return 0;
	}
	a->core->cnt[ENG_COMMANDS]++; /* two commands, one message */
	a->core->cnt[ENG_COMMANDS_PAIRED]++;
	return 0;
}

/* The network core of a handle, if this app core may talk to it. */
static int net_of_conn(const struct dlibos_core *a, dlibos_conn_t conn)
{
	unsigned n = dlibos_conn_net(conn);

	if (conn == DLIBOS_CONN_NONE || n >= a->e->n_net)
		return -1;
	for (unsigned i = 0; i < a->nnet; i++)
		if (a->net_of[i] == n)
			return (int)n;
	return -1;
}

static struct dl_stack *rtc_stack(const struct dlibos_core *a)
{
	return a->core->stack;
}

static int rejected(struct dlibos_core *a, int err)
{
	a->core->cnt[ENG_CMD_LOCAL_REJECT]++;
	return err;
}

int dlibos_listen(struct dlibos_core *a, uint16_t port, uint32_t backlog)
{
	int rc = 0;

	if (a == NULL || port == 0)
		return a ? rejected(a, -EINVAL) : -EINVAL;
	if (backlog == 0)
		backlog = 128;
	if (rtc(a)) {
		a->core->cnt[ENG_COMMANDS]++;
		rc = dl_netcore_listen(a->core->net, a->app_idx, port, backlog);
		if (rc != 0)
			dl_appcore_defer(a, 0, DLIBOS_CMD_LISTEN, -rc, DLIBOS_CONN_NONE, port);
		return 0;
	}
	dl_appcore_flush_held(a);
	for (unsigned i = 0; i < a->nnet; i++) {
		int r = to_net(a, a->net_of[i], dl_msg_enc_listen(a->msg, a->net_of[i], port, backlog));
		if (r != 0)
			rc = r;
	}
	return rc;
}

int dlibos_accept(struct dlibos_core *a, dlibos_conn_t conn)
{
	int net = net_of_conn(a, conn);
	int rc;

	if (net < 0)
		return rejected(a, -EINVAL);
	if (rtc(a)) {
		a->core->cnt[ENG_COMMANDS]++;
		rc = dl_stack_accept(rtc_stack(a), (uint16_t)a->app_idx, dlibos_conn_id(conn));
		if (rc == 0)
			dl_netcore_accepted(a->core->net, a->app_idx);
		else
			dl_appcore_defer(a, 0, DLIBOS_CMD_ACCEPT, -rc, conn, 0);
		return 0;
	}
	dl_appcore_flush_held(a);
	return to_net(a, (unsigned)net,
		      dl_msg_enc_accept(a->msg, (unsigned)net, dlibos_conn_id(conn), 0));
}

int dlibos_connect(struct dlibos_core *a, uint32_t ip, uint16_t port, uint64_t cookie)
{
	uint32_t id;
	int rc;

	if (a == NULL || ip == 0 || port == 0 || a->nnet == 0)
		return a ? rejected(a, -EINVAL) : -EINVAL;
	if (rtc(a)) {
		a->core->cnt[ENG_COMMANDS]++;
		rc = dl_stack_connect(rtc_stack(a), (uint16_t)a->app_idx, cookie, ip, port, &id);
		if (rc != 0)
			dl_appcore_defer(a, 1, DLIBOS_CMD_CONNECT, -rc, DLIBOS_CONN_NONE, cookie);
		return 0;
	}
	unsigned net = a->net_of[a->connect_rr++ % a->nnet];
	dl_appcore_flush_held(a);
	return to_net(a, net, dl_msg_enc_connect(a->msg, net, cookie, ip, port));
}

int dlibos_recv_done(struct dlibos_core *a, dlibos_conn_t conn, uint32_t bytes)
{
	int net = net_of_conn(a, conn);
	int rc;

	if (net < 0 || bytes == 0)
		return rejected(a, -EINVAL);
	if (rtc(a)) {
		a->core->cnt[ENG_COMMANDS]++;
		rc = dl_stack_recv_done(rtc_stack(a), (uint16_t)a->app_idx, dlibos_conn_id(conn),
					bytes);
		if (rc != 0)
			dl_appcore_defer(a, 0, DLIBOS_CMD_RECV_DONE, -rc, conn, 0);
		return 0;
	}
	/* Pair with the SEND just issued on this connection, or wait for one. */
	if (a->held.type == DL_MSG_SEND && a->held.conn == conn)
		return send_paired(a, (unsigned)net, conn, a->held.w, a->held.n, bytes);
	if (a->held.type == DL_MSG_RECV_DONE && a->held.conn == conn &&
	    a->held.bytes <= UINT32_MAX - bytes) {
		a->held.bytes += bytes;
		a->core->cnt[ENG_COMMANDS]++;
		return 0;
	}
	dl_appcore_flush_held(a);
	a->held.type = DL_MSG_RECV_DONE;
	a->held.net = (uint16_t)net;
	a->held.conn = conn;
	a->held.bytes = bytes;
	return 0;
}

int dlibos_send(struct dlibos_core *a, dlibos_conn_t conn, const struct dlibos_frag *frags,
		unsigned n)
{
	const struct dl_region *tx = a != NULL ? a->txmem->region : NULL;
	int net = net_of_conn(a, conn);

	if (net < 0 || frags == NULL || n == 0)
		return rejected(a, -EINVAL);
	for (unsigned i = 0; i < n; i++)
		if (frags[i].len == 0 || !dl_txmem_contains(a->txmem, frags[i].base, frags[i].len))
			return rejected(a, -EFAULT);
	if (rtc(a)) {
		struct dl_tx_frag f[DL_MSG_MAX_REFS];
		a->core->cnt[ENG_COMMANDS]++;
		while (n > 0) {
			unsigned k = n < DL_MSG_MAX_REFS ? n : DL_MSG_MAX_REFS;
			for (unsigned i = 0; i < k; i++)
				f[i] = (struct dl_tx_frag){frags[i].base, frags[i].len, tx->id};
			int rc = dl_stack_send(rtc_stack(a), (uint16_t)a->app_idx,
					       dlibos_conn_id(conn), f, k);
			if (rc != 0) {
				dl_appcore_defer(a, 0, DLIBOS_CMD_SEND, -rc, conn, 0);
				return 0;
			}
			frags += k;
			n -= k;
		}
		return 0;
	}
	/* dlibos: references of at most 64 KiB - 1, 125 per message. The usual
	 * short SEND pairs with the RECV_DONE of the same connection held
	 * before it, or is held for the one that follows. */
	struct dl_msg_ref r[DL_MSG_MAX_REFS];
	unsigned k = 0;
	if (n <= DL_MSG_MAX_REFS_PAIRED) {
		bool pair = a->held.type == DL_MSG_RECV_DONE && a->held.conn == conn;
		uint64_t *w;

		for (unsigned i = 0; i < n; i++)
			if (frags[i].len > DL_MSG_REF_LEN_MAX)
				goto long_send;
		if (!pair)
			dl_appcore_flush_held(a);
		/* Ref words packed in place (the fragments were checked above:
		 * inside the TX region, 1..65535 bytes). */
		w = pair ? a->msg : a->held.w;
		for (unsigned i = 0; i < n; i++) {
			struct dl_msg_ref ref = {
			    .off = (uint64_t)((const uint8_t *)frags[i].base - tx->base),
			    .len = frags[i].len,
			    .region = (uint8_t)tx->id};
			w[2 + i] = dl_msg_ref_pack(&ref);
		}
		if (pair)
			return send_paired(a, (unsigned)net, conn, w, n, a->held.bytes);
		a->held.type = DL_MSG_SEND;
		a->held.net = (uint16_t)net;
		a->held.conn = conn;
		a->held.n = n;
		return 0;
	}
long_send:
	dl_appcore_flush_held(a);
	for (unsigned i = 0; i < n; i++) {
		uint64_t off = (uint64_t)((const uint8_t *)frags[i].base - tx->base);
		uint32_t left = frags[i].len;
		while (left > 0) {
			uint32_t chunk = left > DL_MSG_REF_LEN_MAX ? DL_MSG_REF_LEN_MAX : left;
			r[k++] = (struct dl_msg_ref){.off = off, .len = chunk, .region = (uint8_t)tx->id};
			off += chunk;
			left -= chunk;
			if (k == DL_MSG_MAX_REFS) {
				int rc = to_net(a, (unsigned)net,
						dl_msg_enc_send(a->msg, (unsigned)net,
								dlibos_conn_id(conn), r, k));
				if (rc != 0)
					return rc;
				k = 0;
			}
		}
	}
	if (k == 0)
		return 0;
	return to_net(a, (unsigned)net,
		      dl_msg_enc_send(a->msg, (unsigned)net, dlibos_conn_id(conn), r, k));
}

int dlibos_shutdown(struct dlibos_core *a, dlibos_conn_t conn, int how)
{
	int net = net_of_conn(a, conn);
	int rc;

	if (net < 0 || how < 0 || how > 2)
		return rejected(a, -EINVAL);
	if (rtc(a)) {
		a->core->cnt[ENG_COMMANDS]++;
		rc = dl_stack_shutdown(rtc_stack(a), (uint16_t)a->app_idx, dlibos_conn_id(conn), how);
		if (rc != 0)
			dl_appcore_defer(a, 0, DLIBOS_CMD_SHUTDOWN, -rc, conn, 0);
		return 0;
	}
	dl_appcore_flush_held(a);
	return to_net(a, (unsigned)net,
		      dl_msg_enc_shutdown(a->msg, (unsigned)net, dlibos_conn_id(conn),
					  (unsigned)how));
}

int dlibos_close(struct dlibos_core *a, dlibos_conn_t conn)
{
	int net = net_of_conn(a, conn);
	int rc;

	if (net < 0)
		return rejected(a, -EINVAL);
	if (rtc(a)) {
		a->core->cnt[ENG_COMMANDS]++;
		rc = dl_stack_close(rtc_stack(a), (uint16_t)a->app_idx, dlibos_conn_id(conn));
		if (rc != 0)
			dl_appcore_defer(a, 0, DLIBOS_CMD_CLOSE, -rc, conn, 0);
		return 0;
	}
	dl_appcore_flush_held(a);
	return to_net(a, (unsigned)net, dl_msg_enc_close(a->msg, (unsigned)net, dlibos_conn_id(conn)));
}

/* ---- events (dlibos mode) ----------------------------------------------- */

/* NEW_DATA (or the NEW_DATA half of ACKED_NEW_DATA): references back to
 * pointers, each checked against its region. */
static inline __attribute__((always_inline)) void
new_data(struct dlibos_core *a, dlibos_conn_t conn, const struct dl_msg *m)
{
	const struct dlibos_callbacks *cb = &a->e->conf.app->cb;
	struct dlibos_iov iov[DL_MSG_MAX_REFS];

	for (unsigned i = 0; i < m->u.data.n; i++) {
		struct dl_msg_ref r = dl_msg_ref_unpack(m->u.data.refs[i]);
		const struct dl_region *reg = dl_region_get(r.region);
		if (reg == NULL || !dl_region_contains(reg, r.off, r.len)) {
			a->core->cnt[ENG_BAD_EVENT]++;
			return;
		}
		iov[i].base = reg->base + r.off;
		iov[i].len = r.len;
	}
	if (cb->new_data != NULL)
		cb->new_data(a, conn, iov, m->u.data.n);
}

void dl_appcore_on_msg(void *arg, unsigned src, const struct dl_msg *m)
{
	struct dl_ecore *c = arg;
	struct dlibos_core *a = c->app;
	const struct dlibos_callbacks *cb = &a->e->conf.app->cb;
	dlibos_conn_t conn = dlibos_conn_make(m->core, m->conn);

	(void)src;
	if (a == NULL) {
		c->cnt[ENG_BAD_EVENT]++;
		return;
	}
	if (m->type == DL_MSG_ACKED_NEW_DATA) {
		/* The per-request event (first, before the switch): two events
		 * in one message. */
		c->cnt[ENG_EVENTS] += 2;
		if (cb->data_acked != NULL)
			cb->data_acked(a, conn, m->u.data.bytes);
		new_data(a, conn, m);
		return;
	}
	c->cnt[ENG_EVENTS]++;
	switch (m->type) {
	case DL_MSG_NEW_CONN: {
		struct dlibos_conn_info info = {m->u.new_conn.local_port, m->u.new_conn.peer_port,
						m->u.new_conn.peer_ip};
		if (cb->new_conn != NULL)
			cb->new_conn(a, conn, &info);
		else
			dlibos_accept(a, conn);
		break;
	}
	case DL_MSG_CONNECTED:
		if (cb->connected != NULL)
			cb->connected(a, conn, m->u.connected.cookie);
		break;
	case DL_MSG_CONNECT_FAILED:
		if (cb->connect_failed != NULL)
			cb->connect_failed(a, m->u.connect_failed.cookie, m->u.connect_failed.err);
		break;
	case DL_MSG_NEW_DATA:
		new_data(a, conn, m);
		break;
	case DL_MSG_DATA_ACKED:
		if (cb->data_acked != NULL)
			cb->data_acked(a, conn, m->u.data_acked.bytes);
		break;
	case DL_MSG_REMOTE_CLOSED:
		if (cb->remote_closed != NULL)
			cb->remote_closed(a, conn,
					  (enum dlibos_close_reason)m->u.remote_closed.reason);
		break;
	case DL_MSG_CLEANUP:
		if (cb->cleanup != NULL)
			cb->cleanup(a, conn);
		break;
	case DL_MSG_CMD_ERROR:
		if (cb->cmd_error != NULL)
			cb->cmd_error(a, m->conn != 0 ? conn : DLIBOS_CONN_NONE,
				      (enum dlibos_cmd)m->u.cmd_error.cmd, m->u.cmd_error.err,
				      m->u.cmd_error.context);
		break;
	default:
		c->cnt[ENG_BAD_EVENT]++;
		break;
	}
}

/* ---- memory and context -------------------------------------------------- */

void *dlibos_tx_alloc(size_t len)
{
	return dl_engine_current != NULL ? dl_txmem_alloc(&dl_engine_current->txmem, len) : NULL;
}

void dlibos_tx_free(void *p)
{
	if (dl_engine_current != NULL)
		dl_txmem_free(&dl_engine_current->txmem, p);
}

bool dlibos_is_tx_mem(const void *p, size_t len)
{
	return dl_engine_current != NULL && dl_txmem_contains(&dl_engine_current->txmem, p, len);
}

unsigned dlibos_core_index(const struct dlibos_core *a)
{
	return a->app_idx;
}

unsigned dlibos_app_cores(void)
{
	return dl_engine_current != NULL ? dl_engine_current->n_app : 0;
}

void *dlibos_core_data(const struct dlibos_core *a)
{
	return a->user;
}

void dlibos_set_core_data(struct dlibos_core *a, void *data)
{
	a->user = data;
}

uint64_t dlibos_now_us(const struct dlibos_core *a)
{
	return a->now;
}

/* ---- application counters --------------------------------------------------- */

struct dlibos_counters {
	struct dl_counter_block blk;
};

struct dlibos_counters *dlibos_counters_register(struct dlibos_core *a, const char *module,
						 const char *const *names, unsigned n,
						 uint64_t *values)
{
	struct dlibos_counters *h;

	if (module == NULL || names == NULL || values == NULL || n == 0)
		return NULL;
	h = calloc(1, sizeof(*h));
	if (h != NULL)
		dl_stats_register(&h->blk, module, names, n, values,
				  a != NULL ? (int)a->app_idx : -1);
	return h;
}

void dlibos_counters_unregister(struct dlibos_counters *h)
{
	if (h == NULL)
		return;
	dl_stats_unregister(&h->blk);
	free(h);
}
