/*
 * test_validation.c - the network core's checks of protected mode, in
 * memory and deterministic: an engine in DL_MODE_PROTECTED (the service,
 * one network core on the in-memory wire), application slots attached
 * in-process (each with its own TX region and an endpoint on the slot's
 * fabric, as an attached process has), a client stack as the TCP peer.
 * Commands are crafted by hand and sent raw; the test checks the error
 * events, the counters, what the peer receives (nothing, when a command
 * is rejected) and that no RX buffer is freed by a rejected command.
 *
 * Also: policy denials (listen, connect), a port held by another slot,
 * offers only the offered core may take, undecodable and wrong-class
 * messages, the kick past the invalid-command limit and on a broken
 * channel, detaching (peers reset, buffers back, the slot and its ports
 * reusable) and the command-rate bucket.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>

#include "dl_ctl.h"
#include "dl_engine_priv.h"
#include "dl_log.h"
#include "dl_memwire.h"
#include "dl_policy.h"

#define SERVER_IP 0x0a000002u
#define CLIENT_IP 0x0a000001u
#define TX_LEN	  (1u << 20)
#define MAX_EV	  4096

/* ---- an application slot, from the application's side ------------------- */

struct ev {
	uint8_t type;
	uint32_t conn;
	uint8_t cmd;
	int err;
	uint64_t context;
	char data[256];
	uint32_t len;
	uint16_t region; /* NEW_DATA: the region of the last reference */
};

struct app {
	unsigned slot;
	struct dl_region *tx; /* handed to the slot at attach */
	uint16_t tx_id;
	struct dl_noc_fabric *fab; /* the application's view of the slot fabric */
	struct dl_noc_ep *ep;	   /* application core 0 */
	unsigned nev;
	struct ev ev[MAX_EV];
	uint64_t msg[DL_MSG_MAX_WORDS];
	/* Every byte received, in order, and where the remote close came. */
	uint8_t *all;
	uint32_t nall, unret;
	int closed_at; /* nall when REMOTE_CLOSED arrived, -1 before */
	bool data_after_close;
};

/* ---- the client (Linux peer stand-in) -------------------------------------- */

struct peer {
	uint32_t id;
	bool connected, reset, fin, cleaned;
	char got[4096];
	uint32_t ngot;
};

struct fx {
	struct dl_memwire *w;
	struct dl_engine *e;
	struct dl_stack *client;
	struct dl_region *pattern;
	uint64_t now;
	unsigned bufs0; /* wire buffers in use when idle */
	struct peer p;
	struct app a[2];
};

static void c_connected(void *arg, uint16_t app, uint32_t id, uint64_t cookie)
{
	struct fx *f = arg;
	(void)app;
	(void)cookie;
	f->p.id = id;
	f->p.connected = true;
}

static void c_new_data(void *arg, uint16_t app, uint32_t id, const struct dl_rx_ref *refs,
		       unsigned n)
{
	struct fx *f = arg;
	uint32_t total = 0;
	(void)app;
	for (unsigned i = 0; i < n; i++) {
		uint32_t k = refs[i].len;
		if (f->p.ngot + k > sizeof(f->p.got))
			k = (uint32_t)sizeof(f->p.got) - f->p.ngot;
		memcpy(f->p.got + f->p.ngot, refs[i].data, k);
		f->p.ngot += k;
		total += refs[i].len;
	}
	dl_stack_recv_done(f->client, 0, id, total);
}

static void c_remote_closed(void *arg, uint16_t app, uint32_t id, enum dl_close_reason why)
{
	struct fx *f = arg;
	(void)app;
	(void)id;
	if (why == DL_CLOSE_RESET)
		f->p.reset = true;
	else
		f->p.fin = true;
}

static void c_cleanup(void *arg, uint16_t app, uint32_t id)
{
	struct fx *f = arg;
	(void)app;
	(void)id;
	f->p.cleaned = true;
}

static void c_nothing(void *arg, uint16_t app, uint32_t id, uint32_t bytes)
{
	(void)arg;
	(void)app;
	(void)id;
	(void)bytes;
}

static void c_failed(void *arg, uint16_t app, uint64_t cookie, int err)
{
	(void)arg;
	(void)app;
	(void)cookie;
	(void)err;
}

/* The client as a server (the application's active opens). */
static void c_new_conn(void *arg, uint32_t id, uint16_t lport, uint32_t ip, uint16_t rport)
{
	struct fx *f = arg;
	(void)lport;
	(void)ip;
	(void)rport;
	assert_int_equal(dl_stack_accept(f->client, 0, id), 0);
	f->p.id = id;
	f->p.connected = true;
}

static const struct dl_stack_upcalls client_up = {
    .new_conn = c_new_conn,
    .connected = c_connected,
    .connect_failed = c_failed,
    .new_data = c_new_data,
    .data_acked = c_nothing,
    .remote_closed = c_remote_closed,
    .cleanup = c_cleanup,
};

/* ---- the application's events ---------------------------------------------- */

static void on_event(void *arg, unsigned src, const struct dl_msg *m)
{
	struct app *a = arg;
	struct ev *e = &a->ev[a->nev < MAX_EV ? a->nev++ : MAX_EV - 1];

	(void)src;
	memset(e, 0, sizeof(*e));
	e->type = m->type;
	e->conn = m->conn;
	switch (m->type) {
	case DL_MSG_CMD_ERROR:
		e->cmd = (uint8_t)m->u.cmd_error.cmd;
		e->err = m->u.cmd_error.err;
		e->context = m->u.cmd_error.context;
		break;
	case DL_MSG_CONNECT_FAILED:
		e->err = m->u.connect_failed.err;
		e->context = m->u.connect_failed.cookie;
		break;
	case DL_MSG_ACKED_NEW_DATA: /* data_acked + new_data: recorded as the data */
		e->type = DL_MSG_NEW_DATA;
		/* fall through */
	case DL_MSG_NEW_DATA:
		for (unsigned i = 0; i < m->u.data.n; i++) {
			struct dl_msg_ref r = dl_msg_ref_unpack(m->u.data.refs[i]);
			const struct dl_region *reg = dl_region_get(r.region);
			assert_non_null(reg);
			assert_true(dl_region_contains(reg, r.off, r.len));
			uint32_t k = r.len;
			if (e->len + k > sizeof(e->data))
				k = (uint32_t)sizeof(e->data) - e->len;
			memcpy(e->data + e->len, reg->base + r.off, k);
			e->len += k;
			e->region = r.region;
			if (a->all != NULL && a->nall + r.len <= (1u << 20)) {
				memcpy(a->all + a->nall, reg->base + r.off, r.len);
				a->nall += r.len;
				a->unret += r.len;
			}
			if (a->closed_at >= 0)
				a->data_after_close = true;
		}
		break;
	case DL_MSG_REMOTE_CLOSED:
		a->closed_at = (int)a->nall;
		break;
	}
}

/* The last event of a type (NULL if none), and how many there were. */
static const struct ev *last_ev(const struct app *a, uint8_t type, unsigned *count)
{
	const struct ev *found = NULL;
	unsigned n = 0;

	for (unsigned i = 0; i < a->nev; i++)
		if (a->ev[i].type == type) {
			found = &a->ev[i];
			n++;
		}
	if (count != NULL)
		*count = n;
	return found;
}

/* ---- fixture ------------------------------------------------------------------ */

static uint64_t cnt(const struct fx *f, enum dl_eng_cnt c)
{
	return f->e->cores[0].cnt[c];
}

static void round_(struct fx *f)
{
	struct dl_rx_pkt pkts[32];
	uint16_t n;

	dl_engine_core_iter(f->e, 0, f->now);
	for (unsigned k = 0; k < 2; k++) {
		if (f->a[k].ep != NULL) {
			dl_noc_poll(f->a[k].ep, 4096, on_event, &f->a[k]);
			dl_noc_flush(f->a[k].ep);
		}
	}
	while ((n = dl_nic_rx_burst(dl_memwire_nic(f->w, 1), 0, pkts, 32)) > 0)
		dl_stack_input(f->client, pkts, n, f->now);
	dl_stack_poll(f->client, f->now);
	dl_stack_flush(f->client);
	f->now += 100;
}

static void run(struct fx *f, unsigned rounds)
{
	for (unsigned r = 0; r < rounds; r++)
		round_(f);
}

/* Attach application `k` to slot `slot` (one application core), with
 * @p rx_bytes of its own RX region (0: the default). */
static void attach_rx(struct fx *f, unsigned k, unsigned slot, const struct dl_policy_rule *rule,
		      size_t rx_bytes)
{
	struct app *a = &f->a[k];
	struct dl_slot_grant g;
	struct dl_coreset links[DL_MAX_CORES];
	char err[256], name[32];
	struct dl_region *fr;
	unsigned nnet = dl_engine_net_cores(f->e);

	memset(a, 0, sizeof(*a));
	a->slot = slot;
	snprintf(name, sizeof(name), "app%u-tx", k);
	a->tx = dl_region_create(name, TX_LEN, DL_REGION_SHARED);
	assert_non_null(a->tx);
	a->tx_id = a->tx->id;
	memset(&g, 0, sizeof(g));
	g.n_app = 1;
	g.tx = a->tx;
	g.rights = rule != NULL ? &rule->may : NULL;
	g.rx_bytes = rx_bytes;
	snprintf(g.name, sizeof(g.name), "app%u", k);
	assert_int_equal(dl_engine_slot_attach(f->e, slot, &g, err, sizeof(err)), 0);
	fr = dl_engine_slot_fabric(f->e, slot);
	assert_non_null(fr);
	dl_engine_slot_links(nnet, 1, links);
	a->fab = dl_noc_fabric_attach(fr->base, dl_engine_slot_fabric_len(f->e, slot), nnet + 1,
				      dl_engine_noc_words(f->e), links);
	assert_non_null(a->fab);
	a->ep = dl_noc_ep_create(a->fab, nnet, &(struct dl_noc_conf){.no_stats = true});
	assert_non_null(a->ep);
	a->closed_at = -1;
	run(f, 2);
}

static void attach(struct fx *f, unsigned k, unsigned slot, const struct dl_policy_rule *rule)
{
	attach_rx(f, k, slot, rule, 0);
}

/* Detach slot of application k and wait until released; the TX region is freed. */
static void detach(struct fx *f, unsigned k)
{
	struct app *a = &f->a[k];
	struct dl_region *tx = NULL;

	dl_engine_slot_detach(f->e, a->slot);
	for (unsigned r = 0; r < 10 && !dl_engine_slot_quiet(f->e, a->slot); r++)
		round_(f);
	assert_true(dl_engine_slot_quiet(f->e, a->slot));
	dl_noc_ep_destroy(a->ep);
	a->ep = NULL;
	dl_noc_fabric_destroy(a->fab);
	a->fab = NULL;
	dl_engine_slot_release(f->e, a->slot, &tx);
	assert_ptr_equal(tx, a->tx);
	assert_int_equal(dl_engine_slot_state(f->e, a->slot), DL_SLOT_FREE);
	dl_region_destroy(tx);
	a->tx = NULL;
}

static void send_cmd(struct fx *f, unsigned k, int nwords)
{
	struct app *a = &f->a[k];

	assert_true(nwords > 0);
	assert_int_equal(dl_noc_send(a->ep, 0, a->msg, (unsigned)nwords), 0);
	dl_noc_flush(a->ep);
}

static int setup_wire(void **state, uint32_t limit, bool no_steer)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct dl_memwire_config wc = {
	    .nbufs = 4096, .fifo_len = 1024, .nqueues = 1, .no_steer = no_steer};
	struct dl_engine_conf ec;
	struct dl_stack_config sc;
	char err[256];

	dl_log_level = DL_LOG_ERR;
	f->now = 1000000;
	f->w = dl_memwire_create(&wc);
	memset(&ec, 0, sizeof(ec));
	ec.mode = DL_MODE_PROTECTED;
	ec.ncores = 1;
	ec.cores[0] = (struct dl_core_info){.id = 0, .cpu = 0, .l3_domain = 0, .x = -1, .y = -1};
	dl_stack_config_defaults(&ec.stack);
	ec.stack.ip = SERVER_IP;
	ec.stack.prefix_len = 24;
	ec.nic = dl_memwire_nic(f->w, 0);
	ec.quiet = true;
	ec.app_slots = 2;
	ec.slot_cores = 2;
	ec.bad_command_limit = limit;
	f->e = dl_engine_create(&ec, err, sizeof(err));
	assert_non_null(f->e);
	assert_int_equal(dl_engine_core_start(f->e, 0, f->now), 0);
	dl_stack_config_defaults(&sc);
	sc.ip = CLIENT_IP;
	sc.prefix_len = 24;
	memcpy(sc.mac, dl_memwire_nic(f->w, 1)->mac, 6);
	f->client = dl_stack_create(&sc, dl_memwire_nic(f->w, 1), 0, 0, 1);
	assert_non_null(f->client);
	dl_stack_set_upcalls(f->client, &client_up, f);
	dl_stack_start(f->client, f->now);
	f->pattern = dl_region_create("pattern", 4096, 0);
	for (unsigned i = 0; i < 4096; i++)
		f->pattern->base[i] = (uint8_t)('a' + i % 26);
	run(f, 5);
	f->bufs0 = dl_memwire_bufs_in_use(f->w);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_wire(state, 1000, false);
}

static int setup_limit5(void **state)
{
	return setup_wire(state, 5, false);
}

/* A port that cannot steer flows (as net_tap). */
static int setup_no_steer(void **state)
{
	return setup_wire(state, 1000, true);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	dl_engine_stop(f->e);
	for (unsigned k = 0; k < 2; k++) {
		struct app *a = &f->a[k];
		struct dl_region *tx = NULL;
		if (a->tx == NULL)
			continue;
		dl_noc_ep_destroy(a->ep);
		dl_noc_fabric_destroy(a->fab);
		dl_engine_slot_detach(f->e, a->slot);
		dl_engine_slot_detach_stopped(f->e, a->slot);
		dl_engine_slot_release(f->e, a->slot, &tx);
		dl_region_destroy(tx);
	}
	dl_engine_destroy(f->e);
	dl_stack_destroy(f->client);
	dl_memwire_destroy(f->w);
	dl_region_destroy(f->pattern);
	free(f);
	return 0;
}

/* App k listens on port; the client connects; app k accepts. Returns the conn id. */
static uint32_t establish(struct fx *f, unsigned k, uint16_t port)
{
	struct app *a = &f->a[k];
	const struct ev *nc;
	uint32_t id;

	send_cmd(f, k, dl_msg_enc_listen(a->msg, 0, port, 16));
	run(f, 2);
	assert_null(last_ev(a, DL_MSG_CMD_ERROR, NULL));
	assert_int_equal(dl_stack_connect(f->client, 0, 1, SERVER_IP, port, &id), 0);
	run(f, 5);
	nc = last_ev(a, DL_MSG_NEW_CONN, NULL);
	assert_non_null(nc);
	send_cmd(f, k, dl_msg_enc_accept(a->msg, 0, nc->conn, port));
	run(f, 5);
	assert_true(f->p.connected);
	return nc->conn;
}

/* The peer sends `s`; app k receives it (returns its byte count). */
static uint32_t peer_sends(struct fx *f, unsigned k, const char *s)
{
	struct dl_tx_frag fr = {f->pattern->base + 2048, (uint32_t)strlen(s), f->pattern->id};
	const struct ev *d;

	memcpy(f->pattern->base + 2048, s, strlen(s));
	assert_int_equal(dl_stack_send(f->client, 0, f->p.id, &fr, 1), 0);
	run(f, 5);
	d = last_ev(&f->a[k], DL_MSG_NEW_DATA, NULL);
	assert_non_null(d);
	assert_int_equal(d->len, strlen(s));
	assert_memory_equal(d->data, s, strlen(s));
	return d->len;
}

/* App k sends `s` from its TX region at offset off. */
static int app_send(struct fx *f, unsigned k, uint32_t conn, uint16_t region, uint64_t off,
		    uint32_t len)
{
	struct dl_msg_ref r = {.off = off, .len = len, .region = (uint8_t)region};
	return dl_msg_enc_send(f->a[k].msg, 0, conn, &r, 1);
}

static void expect_error(struct fx *f, unsigned k, unsigned before, uint8_t cmd, int err)
{
	const struct app *a = &f->a[k];
	unsigned n;
	const struct ev *e = last_ev(a, DL_MSG_CMD_ERROR, &n);

	assert_int_equal(n, before + 1);
	assert_non_null(e);
	assert_int_equal(e->cmd, cmd);
	assert_int_equal(e->err, err);
}

static unsigned errors(const struct fx *f, unsigned k)
{
	unsigned n;
	last_ev(&f->a[k], DL_MSG_CMD_ERROR, &n);
	return n;
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_attached_application_echoes(void **state)
{
	struct fx *f = *state;
	uint32_t conn;

	attach(f, 0, 0, NULL);
	conn = establish(f, 0, 7);
	peer_sends(f, 0, "ping");
	memcpy(f->a[0].tx->base + 100, "pong", 4);
	send_cmd(f, 0, app_send(f, 0, conn, f->a[0].tx_id, 100, 4));
	send_cmd(f, 0, dl_msg_enc_recv_done(f->a[0].msg, 0, conn, 4));
	run(f, 5);
	assert_int_equal(f->p.ngot, 4);
	assert_memory_equal(f->p.got, "pong", 4);
	assert_int_equal(errors(f, 0), 0);
	assert_int_equal(dl_memwire_bufs_in_use(f->w), f->bufs0);
}

static void test_send_outside_tx_region_rejected(void **state)
{
	struct fx *f = *state;
	uint32_t conn;
	unsigned e0;

	attach(f, 0, 0, NULL);
	attach(f, 1, 1, NULL);
	conn = establish(f, 0, 7);
	e0 = errors(f, 0);
	/* Past the end of its own region. */
	send_cmd(f, 0, app_send(f, 0, conn, f->a[0].tx_id, TX_LEN - 2, 10));
	run(f, 3);
	expect_error(f, 0, e0, DL_MSG_SEND, EFAULT);
	/* The RX region, the other application's region, the engine's NoC. */
	send_cmd(f, 0, app_send(f, 0, conn, dl_memwire_nic(f->w, 0)->rx_region, 0, 10));
	send_cmd(f, 0, app_send(f, 0, conn, f->a[1].tx_id, 0, 10));
	send_cmd(f, 0, app_send(f, 0, conn, dl_engine_slot_fabric(f->e, 0)->id, 0, 10));
	run(f, 3);
	assert_int_equal(errors(f, 0), e0 + 4);
	assert_int_equal(cnt(f, ENG_CMD_BAD_REGION), 4);
	assert_int_equal(f->p.ngot, 0); /* nothing transmitted */
	/* A valid one goes out, alone. */
	memcpy(f->a[0].tx->base, "ok", 2);
	send_cmd(f, 0, app_send(f, 0, conn, f->a[0].tx_id, 0, 2));
	run(f, 5);
	assert_int_equal(f->p.ngot, 2);
	assert_memory_equal(f->p.got, "ok", 2);
	assert_int_equal(errors(f, 0), e0 + 4);
}

static void test_foreign_connection_rejected(void **state)
{
	struct fx *f = *state;
	struct app *b = &f->a[1];
	uint32_t conn, n;
	unsigned eb;

	attach(f, 0, 0, NULL);
	attach(f, 1, 1, NULL);
	conn = establish(f, 0, 7);
	n = peer_sends(f, 0, "0123456789");
	unsigned bufs = dl_memwire_bufs_in_use(f->w);
	eb = errors(f, 1);
	memcpy(b->tx->base, "evil", 4);
	send_cmd(f, 1, app_send(f, 1, conn, b->tx->id, 0, 4));
	send_cmd(f, 1, dl_msg_enc_recv_done(b->msg, 0, conn, n));
	send_cmd(f, 1, dl_msg_enc_shutdown(b->msg, 0, conn, DL_SHUT_WR));
	send_cmd(f, 1, dl_msg_enc_close(b->msg, 0, conn));
	run(f, 5);
	assert_int_equal(errors(f, 1), eb + 4);
	expect_error(f, 1, eb + 3, DL_MSG_CLOSE, EPERM);
	assert_int_equal(cnt(f, ENG_CMD_NOT_OWNER), 4);
	assert_int_equal(f->p.ngot, 0);
	assert_false(f->p.fin || f->p.reset);
	assert_int_equal(dl_memwire_bufs_in_use(f->w), bufs); /* nothing freed */
	/* The owner still can. */
	send_cmd(f, 0, dl_msg_enc_recv_done(f->a[0].msg, 0, conn, n));
	run(f, 3);
	assert_int_equal(errors(f, 0), 0);
	assert_int_equal(dl_memwire_bufs_in_use(f->w), f->bufs0);
}

static void test_recv_done_beyond_delivered_rejected(void **state)
{
	struct fx *f = *state;
	struct app *a = &f->a[0];
	uint32_t conn, n;

	attach(f, 0, 0, NULL);
	conn = establish(f, 0, 7);
	n = peer_sends(f, 0, "hello, world");
	unsigned bufs = dl_memwire_bufs_in_use(f->w);
	send_cmd(f, 0, dl_msg_enc_recv_done(a->msg, 0, conn, n + 1000));
	run(f, 3);
	expect_error(f, 0, 0, DL_MSG_RECV_DONE, EINVAL);
	assert_int_equal(cnt(f, ENG_CMD_BAD_RECV_DONE), 1);
	assert_int_equal(dl_memwire_bufs_in_use(f->w), bufs);
	send_cmd(f, 0, dl_msg_enc_recv_done(a->msg, 0, conn, n));
	run(f, 3);
	assert_int_equal(errors(f, 0), 1);
	assert_int_equal(dl_memwire_bufs_in_use(f->w), f->bufs0);
	send_cmd(f, 0, dl_msg_enc_recv_done(a->msg, 0, conn, 1));
	run(f, 3);
	expect_error(f, 0, 1, DL_MSG_RECV_DONE, EINVAL);
}

/* SEND_RECV_DONE is two commands: each half is checked and fails on its
 * own, with the error event of SEND or of RECV_DONE; a valid pair both
 * sends and returns the buffers. */
static void test_paired_send_recv_done(void **state)
{
	struct fx *f = *state;
	struct app *a = &f->a[0];
	struct dl_msg_ref ok = {.off = 100, .len = 4}, bad = {.off = TX_LEN - 2, .len = 10};
	uint32_t conn, n;
	unsigned e0;

	attach(f, 0, 0, NULL);
	conn = establish(f, 0, 7);
	ok.region = bad.region = (uint8_t)a->tx_id;
	n = peer_sends(f, 0, "ping");
	e0 = errors(f, 0);
	/* Bad fragment, too many bytes returned: two errors, nothing done. */
	send_cmd(f, 0, dl_msg_enc_send_recv_done(a->msg, 0, conn, n + 1, &bad, 1));
	run(f, 3);
	assert_int_equal(errors(f, 0), e0 + 2);
	assert_int_equal(cnt(f, ENG_CMD_BAD_REGION), 1);
	assert_int_equal(cnt(f, ENG_CMD_BAD_RECV_DONE), 1);
	expect_error(f, 0, e0 + 1, DL_MSG_RECV_DONE, EINVAL);
	assert_int_equal(f->p.ngot, 0);
	/* Bad fragment, right count: the data is returned all the same. */
	send_cmd(f, 0, dl_msg_enc_send_recv_done(a->msg, 0, conn, n, &bad, 1));
	run(f, 3);
	expect_error(f, 0, e0 + 2, DL_MSG_SEND, EFAULT);
	assert_int_equal(dl_memwire_bufs_in_use(f->w), f->bufs0);
	/* Both halves valid: the answer goes out, no error. */
	n = peer_sends(f, 0, "ping");
	memcpy(a->tx->base + 100, "pong", 4);
	send_cmd(f, 0, dl_msg_enc_send_recv_done(a->msg, 0, conn, n, &ok, 1));
	run(f, 5);
	assert_int_equal(f->p.ngot, 4);
	assert_memory_equal(f->p.got, "pong", 4);
	assert_int_equal(errors(f, 0), e0 + 3);
	assert_int_equal(dl_memwire_bufs_in_use(f->w), f->bufs0);
	/* Another application's pair on this connection: two EPERM. */
	attach(f, 1, 1, NULL);
	e0 = errors(f, 1);
	ok.region = (uint8_t)f->a[1].tx_id;
	send_cmd(f, 1, dl_msg_enc_send_recv_done(f->a[1].msg, 0, conn, 1, &ok, 1));
	run(f, 3);
	assert_int_equal(errors(f, 1), e0 + 2);
	expect_error(f, 1, e0 + 1, DL_MSG_RECV_DONE, EPERM);
	assert_int_equal(f->p.ngot, 4);
}

static void test_offer_belongs_to_the_offered_core(void **state)
{
	struct fx *f = *state;
	struct app *a = &f->a[0], *b = &f->a[1];
	const struct ev *nc;
	uint32_t id;

	attach(f, 0, 0, NULL);
	attach(f, 1, 1, NULL);
	send_cmd(f, 0, dl_msg_enc_listen(a->msg, 0, 7, 16));
	run(f, 2);
	assert_int_equal(dl_stack_connect(f->client, 0, 1, SERVER_IP, 7, &id), 0);
	run(f, 5);
	nc = last_ev(a, DL_MSG_NEW_CONN, NULL);
	assert_non_null(nc);
	send_cmd(f, 1, dl_msg_enc_accept(b->msg, 0, nc->conn, 7));
	send_cmd(f, 1, dl_msg_enc_close(b->msg, 0, nc->conn));
	run(f, 3);
	assert_int_equal(errors(f, 1), 2);
	expect_error(f, 1, 1, DL_MSG_CLOSE, EPERM);
	send_cmd(f, 0, dl_msg_enc_accept(a->msg, 0, nc->conn, 7));
	run(f, 3);
	assert_int_equal(errors(f, 0), 0);
	assert_true(f->p.connected);
	assert_false(f->p.reset);
}

static void test_port_of_another_slot(void **state)
{
	struct fx *f = *state;

	attach(f, 0, 0, NULL);
	attach(f, 1, 1, NULL);
	send_cmd(f, 0, dl_msg_enc_listen(f->a[0].msg, 0, 7, 16));
	run(f, 2);
	send_cmd(f, 1, dl_msg_enc_listen(f->a[1].msg, 0, 7, 16));
	run(f, 2);
	expect_error(f, 1, 0, DL_MSG_LISTEN, EADDRINUSE);
	assert_int_equal(last_ev(&f->a[1], DL_MSG_CMD_ERROR, NULL)->context, 7);
	assert_int_equal(errors(f, 0), 0);
}

static void test_malformed_and_wrong_class(void **state)
{
	struct fx *f = *state;
	struct app *a = &f->a[0];

	attach(f, 0, 0, NULL);
	a->msg[0] = dl_msg_hdr(0x55, 2, 0, 9); /* unknown type */
	a->msg[1] = 0;
	send_cmd(f, 0, 2);
	a->msg[0] = dl_msg_hdr(DL_MSG_RECV_DONE, 2, 0, 9);
	a->msg[1] = UINT64_C(1) << 40; /* reserved bits */
	send_cmd(f, 0, 2);
	send_cmd(f, 0, dl_msg_enc_cleanup(a->msg, 0, 9)); /* an event */
	send_cmd(f, 0,
		 dl_msg_enc_arp_learn(a->msg, 0, 0x0a000063,
				      (const uint8_t[6]){2, 0, 0, 0, 0, 9})); /* internal */
	run(f, 3);
	/* Only the malformed command can be named in an error event. */
	assert_int_equal(errors(f, 0), 1);
	assert_int_equal(a->ev[0].cmd, DL_MSG_RECV_DONE);
	assert_int_equal(a->ev[0].err, EBADMSG);
	assert_int_equal(a->ev[0].conn, 9);
	assert_int_equal(cnt(f, ENG_CMD_MALFORMED), 4);
	assert_int_equal(dl_noc_counters(f->e->slots[0].ep[0])[DL_NOC_RX_DECODE_ERR], 2);
	assert_int_equal(dl_noc_counters(f->e->slots[0].ep[0])[DL_NOC_RX_REJECTED], 2);
	assert_int_equal(dl_engine_slot_kicked(f->e, 0), DL_KICK_NONE);
}

static void test_policy_denies_listen_and_connect(void **state)
{
	struct fx *f = *state;
	struct app *a = &f->a[0];
	struct dl_policy pol;
	char err[200];
	const struct ev *e;

	assert_int_equal(
	    dl_policy_parse(&pol, "app=app0 listen=80,8000-8080 connect=53\n", err, sizeof(err)),
	    0);
	attach(f, 0, 0, &pol.rule[0]);
	send_cmd(f, 0, dl_msg_enc_listen(a->msg, 0, 7, 16));
	send_cmd(f, 0, dl_msg_enc_listen(a->msg, 0, 8080, 16));
	send_cmd(f, 0, dl_msg_enc_connect(a->msg, 0, 42, CLIENT_IP, 9));
	run(f, 3);
	expect_error(f, 0, 0, DL_MSG_LISTEN, EACCES);
	assert_int_equal(last_ev(a, DL_MSG_CMD_ERROR, NULL)->context, 7);
	e = last_ev(a, DL_MSG_CONNECT_FAILED, NULL);
	assert_non_null(e);
	assert_int_equal(e->err, EACCES);
	assert_int_equal(e->context, 42);
	assert_int_equal(cnt(f, ENG_POLICY_DENIED), 2);
	/* 53 was allowed: the application's connect goes out and completes. */
	assert_int_equal(dl_stack_listen(f->client, 53, 8), 0);
	send_cmd(f, 0, dl_msg_enc_connect(a->msg, 0, 43, CLIENT_IP, 53));
	run(f, 10);
	e = last_ev(a, DL_MSG_CONNECTED, NULL);
	assert_non_null(e);
	assert_true(f->p.connected);
	assert_int_equal(cnt(f, ENG_POLICY_DENIED), 2);
	/* 8080 was allowed: a client reaches it. */
	uint32_t id;
	assert_int_equal(dl_stack_connect(f->client, 0, 1, SERVER_IP, 8080, &id), 0);
	run(f, 5);
	assert_non_null(last_ev(a, DL_MSG_NEW_CONN, NULL));
}

static void test_kicked_past_the_limit(void **state)
{
	struct fx *f = *state;
	struct app *a = &f->a[0];

	attach(f, 0, 0, NULL);
	for (unsigned i = 0; i < 5; i++)
		send_cmd(f, 0, dl_msg_enc_recv_done(a->msg, 0, 12345, 1));
	run(f, 3);
	/* Unknown connections are not misbehaviour (ENOENT): races are normal. */
	assert_int_equal(dl_engine_slot_kicked(f->e, 0), DL_KICK_NONE);
	for (unsigned i = 0; i < 5; i++)
		send_cmd(f, 0, app_send(f, 0, 1, f->a[0].tx_id, TX_LEN, 1));
	run(f, 3);
	assert_int_equal(dl_engine_slot_kicked(f->e, 0), DL_KICK_NONE);
	send_cmd(f, 0, app_send(f, 0, 1, f->a[0].tx_id, TX_LEN, 1));
	run(f, 3);
	assert_int_equal(dl_engine_slot_kicked(f->e, 0), DL_KICK_BAD_COMMANDS);
	assert_int_equal(cnt(f, ENG_SLOT_KICKS), 1);
}

static void test_broken_channel_kicks(void **state)
{
	struct fx *f = *state;
	struct dl_chan_prod p;
	size_t off;
	uint64_t junk = dl_msg_hdr(DL_MSG_SEND, 0, 0, 0); /* a header announcing 0 words */

	attach(f, 0, 0, NULL);
	assert_int_equal(dl_noc_fabric_chan_offset(f->a[0].fab, 1, 0, &off), 0);
	assert_int_equal(dl_chan_prod_init(&p, dl_engine_slot_fabric(f->e, 0)->base + off,
					   dl_engine_noc_words(f->e), NULL),
			 0);
	dl_chan_put_words(&p, &junk, 1);
	dl_chan_publish(&p);
	run(f, 3);
	assert_int_equal(dl_engine_slot_kicked(f->e, 0), DL_KICK_BROKEN_CHANNEL);
}

static void test_detach_resets_peers_and_frees_the_slot(void **state)
{
	struct fx *f = *state;
	struct app *a = &f->a[0];
	uint32_t conn;
	unsigned ev;

	attach(f, 0, 0, NULL);
	conn = establish(f, 0, 7);
	peer_sends(f, 0, "held by the application"); /* never returned */
	/* Closed with data not yet acknowledged: still aborted. */
	memcpy(a->tx->base, "bye", 3);
	send_cmd(f, 0, app_send(f, 0, conn, a->tx_id, 0, 3));
	send_cmd(f, 0, dl_msg_enc_close(a->msg, 0, conn));
	assert_true(dl_memwire_bufs_in_use(f->w) > f->bufs0);
	ev = a->nev;
	detach(f, 0);
	run(f, 5);
	assert_true(f->p.reset || f->p.fin);
	assert_true(f->p.cleaned);
	assert_int_equal(dl_memwire_bufs_in_use(f->w), f->bufs0); /* buffers back */
	assert_int_equal(a->nev, ev);				  /* nothing more sent to it */
	assert_int_equal(cnt(f, ENG_SLOT_OFF), 1);
	/* The slot and its port serve again. */
	memset(&f->p, 0, sizeof(f->p));
	attach(f, 1, 0, NULL);
	establish(f, 1, 7);
	assert_int_equal(errors(f, 1), 0);
}

static void test_command_rate_throttles(void **state)
{
	struct fx *f = *state;
	struct app *a = &f->a[0];
	struct dl_policy pol;
	char err[200];
	unsigned n;

	assert_int_equal(dl_policy_parse(&pol, "* listen=any cmd-rate=100\n", err, sizeof(err)), 0);
	attach(f, 0, 0, &pol.rule[0]);
	for (unsigned i = 0; i < 200; i++)
		send_cmd(f, 0, dl_msg_enc_recv_done(a->msg, 0, 77, 1)); /* ENOENT each */
	run(f, 3);
	last_ev(a, DL_MSG_CMD_ERROR, &n);
	assert_true(n >= 64 && n < 200); /* the burst, then nothing */
	assert_true(cnt(f, ENG_THROTTLED) > 0);
	for (unsigned r = 0; r < 40 && n < 200; r++) {
		f->now += 100000; /* 0.1 s: 10 more commands */
		run(f, 1);
		last_ev(a, DL_MSG_CMD_ERROR, &n);
	}
	assert_int_equal(n, 200);
}

/* Received data reaches each application in its own RX region: never in
 * the port's RX buffers, never in the other application's region. */
static void test_rx_data_in_the_applications_own_region(void **state)
{
	struct fx *f = *state;
	const struct ev *d;
	uint16_t port_rx = dl_memwire_nic(f->w, 0)->rx_region;

	attach(f, 0, 0, NULL);
	attach(f, 1, 1, NULL);
	assert_non_null(dl_engine_slot_rx(f->e, 0));
	assert_non_null(dl_engine_slot_rx(f->e, 1));
	assert_int_not_equal(dl_engine_slot_rx(f->e, 0)->id, dl_engine_slot_rx(f->e, 1)->id);
	establish(f, 0, 7);
	peer_sends(f, 0, "secret of application zero");
	d = last_ev(&f->a[0], DL_MSG_NEW_DATA, NULL);
	assert_non_null(d);
	assert_int_equal(d->region, dl_engine_slot_rx(f->e, 0)->id);
	assert_int_not_equal(d->region, port_rx);
	assert_int_equal(cnt(f, ENG_RXC_COPIED_BYTES), strlen("secret of application zero"));
	assert_int_equal(cnt(f, ENG_RXC_COPIES), 1);
	/* Nothing for application one; its region never held it. */
	assert_null(last_ev(&f->a[1], DL_MSG_NEW_DATA, NULL));
	const struct dl_region *r1 = dl_engine_slot_rx(f->e, 1);
	assert_null(memmem(r1->base, r1->len, "secret of application zero", 26));
}

/* A full share holds the events back, in order (the FIN after the data),
 * until the application returns memory; it never loses or reorders a
 * byte, and returning more than it was given is refused. */
static void test_rx_copy_full_holds_events_in_order(void **state)
{
	struct fx *f = *state;
	struct app *a = &f->a[0];
	static uint8_t want[150000];
	uint32_t conn, sent = 0;

	attach_rx(f, 0, 0, NULL, 4 * DL_RXC_CHUNK); /* 64 KiB */
	a->all = calloc(1, 1u << 20);
	assert_non_null(a->all);
	conn = establish(f, 0, 7);
	for (unsigned i = 0; i < sizeof(want); i++)
		want[i] = (uint8_t)(i * 7 + i / 256);
	/* The peer sends everything (references into a region of its own,
	 * never reused: the stack sends without copying); the application
	 * returns nothing yet. */
	struct dl_region *src = dl_region_create("peer-data", sizeof(want), 0);
	assert_non_null(src);
	memcpy(src->base, want, sizeof(want));
	while (sent < sizeof(want)) {
		uint32_t len = sizeof(want) - sent > 4000 ? 4000 : sizeof(want) - sent;
		struct dl_tx_frag fr = {src->base + sent, len, src->id};
		if (dl_stack_send(f->client, 0, f->p.id, &fr, 1) != 0)
			break; /* its send queue is full: the window closed */
		sent += len;
		run(f, 5);
	}
	run(f, 50);
	assert_true(cnt(f, ENG_RXC_PENDING) > 0);
	assert_true(cnt(f, ENG_RXC_DEFERRED) > 0);
	assert_true(cnt(f, ENG_RXC_NO_ROOM) > 0);
	uint32_t got_before = a->nall;
	assert_true(got_before > 0 && got_before < sent);
	assert_true(sent > 100000);
	/* Returning more than was given is refused, and frees nothing. */
	send_cmd(f, 0, dl_msg_enc_recv_done(a->msg, 0, conn, a->unret + 1));
	run(f, 3);
	assert_int_equal(cnt(f, ENG_RXC_BAD_RETURN), 1);
	assert_int_equal(a->nall, got_before);
	/* The peer closes its side now: the close must come after the data. */
	dl_stack_shutdown(f->client, 0, f->p.id, DL_SHUT_WR);
	run(f, 10);
	assert_int_equal(a->closed_at, -1);
	/* The application returns what it has, round after round: everything
	 * arrives, in order, then the close. */
	for (int r = 0; r < 2000 && (a->nall < sent || a->closed_at < 0); r++) {
		if (a->unret > 0) {
			send_cmd(f, 0, dl_msg_enc_recv_done(a->msg, 0, conn, a->unret));
			a->unret = 0;
		}
		run(f, 2);
	}
	assert_int_equal(a->nall, sent);
	assert_memory_equal(a->all, want, sent);
	assert_int_equal((uint32_t)a->closed_at, sent);
	assert_false(a->data_after_close);
	assert_int_equal(cnt(f, ENG_RXC_PENDING), 0);
	free(a->all);
	a->all = NULL;
	dl_region_destroy(src);
}

/* A port that steers the application's listening ports into its region:
 * the data reaches it without a copy, and its returns free the port's
 * buffers. Without steering (the same policy, a port like net_tap), the
 * data is copied. */
static void rx_steer_case(struct fx *f, bool port_steers)
{
	struct app *a = &f->a[0];
	struct dl_policy pol;
	char err[200];
	const struct ev *d;
	uint32_t conn, n;

	assert_int_equal(dl_policy_parse(&pol, "app=app0 listen=7,9\n", err, sizeof(err)), 0);
	attach(f, 0, 0, &pol.rule[0]);
	assert_int_equal(f->e->slots[0].nsteered, port_steers ? 2 : 0);
	conn = establish(f, 0, 7);
	unsigned bufs = dl_memwire_bufs_in_use(f->w);
	n = peer_sends(f, 0, "steered into the application's own region");
	d = last_ev(a, DL_MSG_NEW_DATA, NULL);
	assert_int_equal(d->region, dl_engine_slot_rx(f->e, 0)->id);
	assert_int_equal(cnt(f, ENG_RXC_STEERED_BYTES), port_steers ? n : 0);
	assert_int_equal(cnt(f, ENG_RXC_COPIED_BYTES), port_steers ? 0 : n);
	/* Held by the stack until returned; more than given is refused. */
	assert_true(dl_memwire_bufs_in_use(f->w) > bufs);
	send_cmd(f, 0, dl_msg_enc_recv_done(a->msg, 0, conn, n + 1));
	run(f, 3);
	assert_int_equal(cnt(f, ENG_RXC_BAD_RETURN), 1);
	send_cmd(f, 0, dl_msg_enc_recv_done(a->msg, 0, conn, n));
	run(f, 5);
	assert_int_equal(dl_memwire_bufs_in_use(f->w), bufs);
	/* Detached: the steering goes, the slot and its ports are reusable. */
	detach(f, 0);
	attach(f, 0, 0, &pol.rule[0]);
	assert_int_equal(f->e->slots[0].nsteered, port_steers ? 2 : 0);
}

static void test_rx_steered_without_copy(void **state)
{
	rx_steer_case(*state, true);
}

static void test_rx_copied_when_the_port_cannot_steer(void **state)
{
	rx_steer_case(*state, false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_attached_application_echoes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_send_outside_tx_region_rejected, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_foreign_connection_rejected, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_paired_send_recv_done, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_recv_done_beyond_delivered_rejected, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_offer_belongs_to_the_offered_core, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_port_of_another_slot, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_and_wrong_class, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_policy_denies_listen_and_connect, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kicked_past_the_limit, setup_limit5, teardown),
	    cmocka_unit_test_setup_teardown(test_broken_channel_kicks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_detach_resets_peers_and_frees_the_slot, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_command_rate_throttles, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_data_in_the_applications_own_region, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_rx_copy_full_holds_events_in_order, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_rx_steered_without_copy, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_copied_when_the_port_cannot_steer,
					    setup_no_steer, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
