/*
 * engine_harness.c - see engine_harness.h.
 */
#include "engine_harness.h"
#include "core_bind.h"
#include "dl_engine_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../examples/common/connmap.h"

#define SERVER_IP 0x0a000002u
#define CLIENT_IP 0x0a000001u
#define ECHO_PORT 7
#define RING (64 * 1024)
#define PATTERN_LEN (1u << 20)

struct h_server_stats h_server;
uint64_t h_rx_credit;
static struct harness *cur; /* the harness the callbacks belong to */

/* ---- server: a small echo application ----------------------------------- */

struct sconn {
	dlibos_conn_t conn;
	unsigned core;
	uint8_t *ring;
	uint64_t head, tail;
	unsigned npend;
	struct dlibos_iov pend[512];
	uint32_t pend_off;
	bool peer_closed, closed;
};

static struct connmap smap; /* all cores: the harness is single-threaded */

static struct sconn *sconn_of(struct dlibos_core *c, dlibos_conn_t conn)
{
	struct sconn *s = connmap_get(&smap, conn);
	if (s != NULL && s->core != dlibos_core_index(c))
		h_server.wrong_core_events++;
	return s;
}

static int s_core_init(struct dlibos_core *c)
{
	return dlibos_listen(c, ECHO_PORT, 1024);
}

static void s_new_conn(struct dlibos_core *c, dlibos_conn_t conn,
		       const struct dlibos_conn_info *info)
{
	struct sconn *s = calloc(1, sizeof(*s));
	(void)info;
	s->conn = conn;
	s->core = dlibos_core_index(c);
	s->ring = dlibos_tx_alloc(RING);
	if (s->ring == NULL || connmap_put(&smap, conn, s) != 0) {
		dlibos_tx_free(s->ring);
		free(s);
		dlibos_close(c, conn);
		return;
	}
	h_server.accepted[s->core]++;
	dlibos_accept(c, conn);
}

static void s_pump(struct dlibos_core *c, struct sconn *s)
{
	uint32_t done = 0;

	while (s->npend > 0) {
		struct dlibos_iov *v = &s->pend[0];
		uint64_t space = RING - (s->tail - s->head);
		uint32_t n = v->len - s->pend_off;
		if (n > space)
			n = (uint32_t)space;
		if (n == 0)
			break;
		size_t at = s->tail % RING, first = RING - at < n ? RING - at : n;
		memcpy(s->ring + at, v->base + s->pend_off, first);
		memcpy(s->ring, v->base + s->pend_off + first, n - first);
		struct dlibos_frag f[2] = {{s->ring + at, (uint32_t)first},
					   {s->ring, (uint32_t)(n - first)}};
		dlibos_send(c, s->conn, f, n > first ? 2 : 1);
		s->tail += n;
		s->pend_off += n;
		done += n;
		h_server.bytes_echoed += n;
		if (s->pend_off == v->len) {
			memmove(s->pend, s->pend + 1, (s->npend - 1) * sizeof(s->pend[0]));
			s->npend--;
			s->pend_off = 0;
		}
	}
	if (done > 0)
		dlibos_recv_done(c, s->conn, done);
	if (s->peer_closed && s->npend == 0 && !s->closed) {
		s->closed = true;
		dlibos_close(c, s->conn);
	}
}

static void s_new_data(struct dlibos_core *c, dlibos_conn_t conn, const struct dlibos_iov *iov,
		       unsigned n)
{
	struct sconn *s = sconn_of(c, conn);
	if (s == NULL || dlibos_core_index(c) == cur->hoard_core)
		return;
	for (unsigned i = 0; i < n && s->npend < 512; i++)
		s->pend[s->npend++] = iov[i];
	s_pump(c, s);
}

static void s_data_acked(struct dlibos_core *c, dlibos_conn_t conn, uint32_t bytes)
{
	struct sconn *s = sconn_of(c, conn);
	if (s == NULL)
		return;
	s->head += bytes;
	s_pump(c, s);
}

static void s_remote_closed(struct dlibos_core *c, dlibos_conn_t conn,
			    enum dlibos_close_reason why)
{
	struct sconn *s = sconn_of(c, conn);
	if (s == NULL)
		return;
	s->peer_closed = true;
	if (why != DLIBOS_CLOSED_FIN)
		s->npend = 0;
	s_pump(c, s);
}

static void s_cleanup(struct dlibos_core *c, dlibos_conn_t conn)
{
	struct sconn *s = sconn_of(c, conn);
	if (s == NULL)
		return;
	connmap_del(&smap, conn);
	dlibos_tx_free(s->ring);
	free(s);
	h_server.cleanups++;
}

static size_t s_tx_memory(void)
{
	return (size_t)(RING + 128) * H_MAX_CONNS + (1u << 20);
}

const struct dlibos_app h_echo_app = {
	.name = "harness-echo",
	.tx_memory = s_tx_memory,
	.core_init = s_core_init,
	.cb = {.new_conn = s_new_conn,
	       .new_data = s_new_data,
	       .data_acked = s_data_acked,
	       .remote_closed = s_remote_closed,
	       .cleanup = s_cleanup},
};

/* ---- client: a plain stack whose upcalls check the echo -------------------- */

static struct dl_region *pattern_region;

static struct h_client_conn *cconn_by_id(struct harness *h, uint32_t id)
{
	for (unsigned i = 0; i < h->nconns; i++)
		if (h->conns[i].connected && h->conns[i].id == id && !h->conns[i].closed)
			return &h->conns[i];
	return NULL;
}

static void c_connected(void *arg, uint16_t app, uint32_t id, uint64_t cookie)
{
	struct harness *h = arg;
	(void)app;
	h->conns[cookie].id = id;
	h->conns[cookie].connected = true;
}

static void c_connect_failed(void *arg, uint16_t app, uint64_t cookie, int err)
{
	struct harness *h = arg;
	(void)app;
	(void)err;
	h->conns[cookie].failed = true;
}

static void c_new_data(void *arg, uint16_t app, uint32_t id, const struct dl_rx_ref *refs,
		       unsigned n)
{
	struct harness *h = arg;
	struct h_client_conn *cc = cconn_by_id(h, id);
	uint32_t total = 0;

	(void)app;
	for (unsigned i = 0; i < n; i++) {
		for (uint32_t k = 0; cc != NULL && k < refs[i].len; k++) {
			uint8_t want = pattern_region->base[(cc->seed + cc->recvd + k) % PATTERN_LEN];
			if (refs[i].data[k] != want) {
				h->corrupt++;
				break;
			}
		}
		if (cc != NULL)
			cc->recvd += refs[i].len;
		total += refs[i].len;
	}
	dl_stack_recv_done(h->client, 0, id, total);
	if (cc != NULL && cc->recvd >= cc->to_send && !cc->done) {
		cc->done = true;
		dl_stack_close(h->client, 0, id);
	}
}

static void c_cleanup(void *arg, uint16_t app, uint32_t id)
{
	struct harness *h = arg;
	struct h_client_conn *cc = cconn_by_id(h, id);
	(void)app;
	if (cc != NULL)
		cc->closed = true;
}

static void c_remote_closed(void *arg, uint16_t app, uint32_t id, enum dl_close_reason why)
{
	(void)arg;
	(void)app;
	(void)id;
	(void)why;
}

static void c_data_acked(void *arg, uint16_t app, uint32_t id, uint32_t bytes)
{
	(void)arg;
	(void)app;
	(void)id;
	(void)bytes;
}

static const struct dl_stack_upcalls client_up = {
	.connected = c_connected,
	.connect_failed = c_connect_failed,
	.new_data = c_new_data,
	.data_acked = c_data_acked,
	.remote_closed = c_remote_closed,
	.cleanup = c_cleanup,
};

int h_setup(struct harness *h, enum dl_mode mode, unsigned ncores, unsigned net_cores,
	    enum dl_layout layout, enum dl_dispatch dispatch)
{
	struct dl_memwire_config wc = {0};
	struct dl_engine_conf ec;
	struct dl_stack_config sc;
	char err[256];

	memset(h, 0, sizeof(*h));
	memset(&h_server, 0, sizeof(h_server));
	cur = h;
	h->hoard_core = ~0u;
	h->now = 1000000;
	connmap_init(&smap, 1024);
	if (pattern_region == NULL) {
		pattern_region = dl_region_create("pattern", PATTERN_LEN, 0);
		uint32_t x = 12345;
		for (size_t i = 0; i < PATTERN_LEN; i++) {
			x = x * 1103515245u + 12345u;
			pattern_region->base[i] = (uint8_t)(x >> 16);
		}
	}
	unsigned nnet = mode == DL_MODE_RTC ? ncores : net_cores;
	wc.nqueues = nnet;
	wc.nbufs = 32768;
	wc.fifo_len = 8192;
	h->w = dl_memwire_create(&wc);
	if (h->w == NULL)
		return -1;

	memset(&ec, 0, sizeof(ec));
	ec.mode = mode;
	ec.layout = layout;
	ec.dispatch = dispatch;
	ec.ncores = ncores;
	ec.net_cores = net_cores;
	for (unsigned i = 0; i < ncores; i++)
		ec.cores[i] = (struct dl_core_info){.id = i, .hw_id = i, .cpu = (int)i,
						    .numa_node = 0, .l3_domain = 0, .x = -1, .y = -1};
	dl_stack_config_defaults(&ec.stack);
	ec.stack.ip = SERVER_IP;
	ec.stack.prefix_len = 24;
	ec.nic = dl_memwire_nic(h->w, 0);
	ec.app = &h_echo_app;
	ec.quiet = true;
	ec.app_rx_credit = h_rx_credit;
	h->e = dl_engine_create(&ec, err, sizeof(err));
	if (h->e == NULL) {
		fprintf(stderr, "engine: %s\n", err);
		return -1;
	}
	for (unsigned i = 0; i < ncores; i++) {
		test_core_bind(i); /* UDN: core i's endpoint is tile i's */
		if (dl_engine_core_start(h->e, i, h->now) != 0)
			return -1;
	}

	dl_stack_config_defaults(&sc);
	sc.ip = CLIENT_IP;
	sc.prefix_len = 24;
	memcpy(sc.mac, dl_memwire_nic(h->w, 1)->mac, 6);
	h->client = dl_stack_create(&sc, dl_memwire_nic(h->w, 1), 0, 0, 1);
	if (h->client == NULL)
		return -1;
	dl_stack_set_upcalls(h->client, &client_up, h);
	dl_stack_start(h->client, h->now);
	return 0;
}

void h_open(struct harness *h, unsigned n, uint64_t bytes)
{
	for (unsigned i = 0; i < n && h->nconns < H_MAX_CONNS; i++) {
		struct h_client_conn *cc = &h->conns[h->nconns];
		uint32_t id;
		cc->to_send = bytes;
		cc->seed = (h->nconns * 7919u) % PATTERN_LEN;
		if (dl_stack_connect(h->client, 0, h->nconns, SERVER_IP, ECHO_PORT, &id) != 0)
			cc->failed = true;
		h->nconns++;
	}
}

/* Keep at most 64 KiB in flight per connection from the client. */
static void client_send(struct harness *h)
{
	for (unsigned i = 0; i < h->nconns; i++) {
		struct h_client_conn *cc = &h->conns[i];
		if (!cc->connected || cc->closed || cc->sent >= cc->to_send ||
		    cc->sent - cc->recvd >= (h->pingpong ? 1 : 64 * 1024))
			continue;
		uint64_t n = cc->to_send - cc->sent;
		if (n > (h->pingpong ? h->pingpong : 16384))
			n = h->pingpong ? h->pingpong : 16384;
		size_t at = (cc->seed + cc->sent) % PATTERN_LEN;
		size_t first = PATTERN_LEN - at < n ? PATTERN_LEN - at : n;
		struct dl_tx_frag f[2] = {
			{pattern_region->base + at, (uint32_t)first, pattern_region->id},
			{pattern_region->base, (uint32_t)(n - first), pattern_region->id}};
		if (dl_stack_send(h->client, 0, cc->id, f, n > first ? 2 : 1) == 0)
			cc->sent += n;
	}
}

void h_round(struct harness *h, uint64_t step_us)
{
	struct dl_rx_pkt pkts[32];
	uint16_t n;

	if (h->before_engine != NULL)
		h->before_engine();
	for (unsigned i = 0; i < h->e->ncores; i++) {
		h->core_iters++;
		test_core_bind(i);
		bool idle = dl_engine_core_iter(h->e, i, h->now) == 0;
		h->idle_iters += idle;
		h->idle_core[i] += idle;
	}
	if (h->after_engine != NULL)
		h->after_engine();
	client_send(h);
	/* The wire steers to every queue on both sides; the client reads all. */
	for (uint16_t q = 0; q < dl_memwire_nic(h->w, 1)->nb_queues; q++)
		while ((n = dl_nic_rx_burst(dl_memwire_nic(h->w, 1), q, pkts, 32)) > 0)
			dl_stack_input(h->client, pkts, n, h->now);
	dl_stack_poll(h->client, h->now);
	dl_stack_flush(h->client);
	h->now += step_us;
}

unsigned h_run(struct harness *h, unsigned max_rounds)
{
	unsigned done = 0;

	for (unsigned r = 0; r < max_rounds; r++) {
		h_round(h, 10);
		done = 0;
		for (unsigned i = 0; i < h->nconns; i++)
			done += h->conns[i].done || h->conns[i].failed;
		if (done == h->nconns)
			break;
	}
	return done;
}

void h_core_enter(unsigned core)
{
	test_core_bind(core);
}

unsigned h_teardown(struct harness *h)
{
	unsigned leaked;
	uint8_t tmp[2048];

	dl_engine_stop(h->e);
	dl_stack_destroy(h->client);
	dl_engine_destroy(h->e);
	while (dl_memwire_pop(h->w, 0, tmp, sizeof(tmp)) > 0)
		;
	while (dl_memwire_pop(h->w, 1, tmp, sizeof(tmp)) > 0)
		;
	leaked = dl_memwire_bufs_in_use(h->w);
	dl_memwire_destroy(h->w);
	/* Connections the server still tracked were aborted at stop. */
	for (size_t i = 0; i <= smap.mask; i++)
		if (smap.slots[i].key != DLIBOS_CONN_NONE)
			free(smap.slots[i].val);
	connmap_fini(&smap);
	return leaked;
}
