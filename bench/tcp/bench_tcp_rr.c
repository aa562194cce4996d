/*
 * bench_tcp_rr.c - 64-byte request/response over one TCP connection
 * between two stacks on the in-memory wire: the cost of one exchange on
 * the SERVER side (stack + upcall/command layer), without the wire.
 *
 * Each exchange: the client sends a 64-byte request; the server stack
 * takes it in (dl_stack_input), the server application gets new_data,
 * returns the bytes (dl_stack_recv_done) and sends a 64-byte response
 * (dl_stack_send) from inside the upcall; dl_stack_poll and
 * dl_stack_flush build and hand the response (which carries the ACK of
 * the request) to the NIC. The client's next request carries its ACK.
 *
 * Measured region: the server's dl_stack_input + dl_stack_poll +
 * dl_stack_flush, the server application's callback included. Excluded:
 * the wire and the whole client. The server's rx_burst is called outside
 * the region; inside it, its NIC is a stub PMD (tx_burst records the
 * burst, hdr_alloc pops a cached buffer, buf_free defers the free: a few
 * instructions each, counted) and the memwire work behind it (software
 * segmentation, checksums, copies) runs after the region. Under valgrind
 * the region is marked with callgrind client requests
 * (CALLGRIND_TOGGLE_COLLECT, about 11 instructions each, counted), so
 *
 *   valgrind --tool=callgrind --collect-atstart=no ./bench_tcp_rr N
 *
 * collects exactly the server-side instructions of N exchanges (see
 * bench/tcp/callgrind_rr.sh, which divides). Run natively it prints the
 * time per exchange (both sides and the wire, for orientation).
 *
 *   usage: bench_tcp_rr [exchanges (100000)] [--no-ts] [--rx-csum-offload]
 *                       [--cc=newreno|cubic|bbr] (congestion control, default cubic)
 *
 * --rx-csum-offload marks received frames checksum-verified, as a NIC with
 * RX checksum offload does (memwire does not; the stack then verifies
 * the IPv4 and TCP checksums in software, which is counted).
 */
#include "dl_memwire.h"
#include "dl_stack.h"
#include "dl_stats.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <valgrind/callgrind.h>

#define SERVER_IP 0x0a000002u
#define CLIENT_IP 0x0a000001u
#define PORT	  7000
#define MSG	  64

static uint8_t request[MSG], response[MSG];

struct peer {
	struct dl_stack *s;
	uint32_t id;
	bool up;
	uint64_t got; /* responses (client) / requests (server) received */
	uint32_t partial;
};

static struct peer server, client;

/* ---- the server's NIC: a stub PMD in front of memwire --------------------
 *
 * Inside the measured region the server's NIC does what a good PMD does
 * and no more: tx_burst records the burst, hdr_alloc pops a header buffer
 * from a small cache, buf_free pushes the buffer on a list. The real
 * memwire work (software segmentation and checksums, copies, pool
 * operations) happens in pmd_settle(), outside the region. */

static struct dl_nic shim;
static struct dl_nic *real_nic;
static struct dl_tx_pkt *tx_pending;
static uint16_t tx_pending_n;
static struct {
	struct dl_buf *b;
	uint8_t *data;
	uint16_t room;
} hdr_cache[64];
static unsigned hdr_n;
static struct dl_buf *to_free[256];
static unsigned free_n;

static uint16_t shim_rx(struct dl_nic *n, uint16_t q, struct dl_rx_pkt *p, uint16_t k)
{
	(void)n;
	return dl_nic_rx_burst(real_nic, q, p, k);
}

static uint16_t shim_tx(struct dl_nic *n, uint16_t q, struct dl_tx_pkt *p, uint16_t k)
{
	(void)n, (void)q;
	tx_pending = p;
	tx_pending_n = k;
	return k;
}

static struct dl_buf *shim_hdr(struct dl_nic *n, uint16_t q, uint8_t **d, uint16_t *room)
{
	(void)n;
	if (hdr_n == 0)
		return dl_nic_hdr_alloc(real_nic, q, d, room); /* not in steady state */
	hdr_n--;
	*d = hdr_cache[hdr_n].data;
	*room = hdr_cache[hdr_n].room;
	return hdr_cache[hdr_n].b;
}

static void shim_free(struct dl_nic *n, struct dl_buf *b)
{
	(void)n;
	if (free_n == 256) {
		dl_nic_buf_free(real_nic, b);
		return;
	}
	to_free[free_n++] = b;
}

/* The PMD work the stub deferred: transmit, free, refill the cache. */
static void pmd_settle(void)
{
	if (tx_pending_n > 0) {
		uint16_t sent = dl_nic_tx_burst(real_nic, 0, tx_pending, tx_pending_n);
		assert(sent == tx_pending_n);
		(void)sent;
		tx_pending_n = 0;
	}
	while (free_n > 0)
		dl_nic_buf_free(real_nic, to_free[--free_n]);
	while (hdr_n < 64) {
		hdr_cache[hdr_n].b =
		    dl_nic_hdr_alloc(real_nic, 0, &hdr_cache[hdr_n].data, &hdr_cache[hdr_n].room);
		assert(hdr_cache[hdr_n].b != NULL);
		hdr_n++;
	}
}

static int shim_link(struct dl_nic *n, struct dl_link *l)
{
	(void)n;
	return real_nic->ops->link_get(real_nic, l);
}

static int shim_stats(struct dl_nic *n, struct dl_nic_stats *st)
{
	(void)n;
	return real_nic->ops->stats_get(real_nic, st);
}

static void shim_close(struct dl_nic *n)
{
	(void)n;
}

static const struct dl_nic_ops shim_ops = {
    .rx_burst = shim_rx,
    .tx_burst = shim_tx,
    .hdr_alloc = shim_hdr,
    .buf_free = shim_free,
    .link_get = shim_link,
    .stats_get = shim_stats,
    .close = shim_close,
};

/* ---- applications -------------------------------------------------------- */

static void send_msg(struct peer *p, const uint8_t *msg)
{
	struct dl_tx_frag f = {msg, MSG, DL_REGION_NONE};
	int rc = dl_stack_send(p->s, 1, p->id, &f, 1);
	assert(rc == 0);
	(void)rc;
}

static void on_new_conn(void *arg, uint32_t id, uint16_t lport, uint32_t ip, uint16_t port)
{
	struct peer *p = arg;
	(void)lport, (void)ip, (void)port;
	p->id = id;
	p->up = true;
	dl_stack_accept(p->s, 1, id);
}

static void on_connected(void *arg, uint16_t app, uint32_t id, uint64_t cookie)
{
	struct peer *p = arg;
	(void)app, (void)cookie;
	p->id = id;
	p->up = true;
}

/* The server application: echo a response per request, nothing else. */
static void server_data(void *arg, uint16_t app, uint32_t id, const struct dl_rx_ref *refs,
			unsigned n)
{
	static const struct dl_tx_frag resp = {response, MSG, DL_REGION_NONE};
	struct peer *p = arg;

	/* requests arrive whole (one segment each) in this benchmark */
	dl_stack_recv_done(p->s, app, id, refs[0].len);
	dl_stack_send(p->s, app, id, &resp, 1);
	p->got += n;
}

static void client_data(void *arg, uint16_t app, uint32_t id, const struct dl_rx_ref *refs,
			unsigned n)
{
	struct peer *p = arg;
	uint32_t bytes = 0;

	for (unsigned i = 0; i < n; i++)
		bytes += refs[i].len;
	dl_stack_recv_done(p->s, app, id, bytes);
	p->partial += bytes;
	while (p->partial >= MSG) {
		p->partial -= MSG;
		p->got++;
	}
}

static void on_nothing_acked(void *arg, uint16_t app, uint32_t id, uint32_t bytes)
{
	(void)arg, (void)app, (void)id, (void)bytes;
}

static const struct dl_stack_upcalls server_ups = {
    .new_conn = on_new_conn,
    .new_data = server_data,
    .data_acked = on_nothing_acked,
};

static const struct dl_stack_upcalls client_ups = {
    .connected = on_connected,
    .new_data = client_data,
    .data_acked = on_nothing_acked,
};

static bool rx_csum_offload;

/* ---- the loop -------------------------------------------------------------- */

static void run_client(struct dl_memwire *w, uint64_t now)
{
	struct dl_rx_pkt pkts[32];
	uint16_t n;

	while ((n = dl_nic_rx_burst(dl_memwire_nic(w, 1), 0, pkts, 32)) > 0)
		dl_stack_input(client.s, pkts, n, now);
	dl_stack_poll(client.s, now);
	dl_stack_flush(client.s);
}

/* The measured part: everything the server's net core does for the frames
 * it received, minus the NIC. */
static void run_server(uint64_t now, bool measure)
{
	struct dl_rx_pkt pkts[32];
	uint16_t n = dl_nic_rx_burst(real_nic, 0, pkts, 32);

	/* A NIC with RX checksum offload (mPIPE, most DPDK ports) hands the
	 * verdict in the descriptor; memwire leaves it to the stack. */
	for (uint16_t i = 0; rx_csum_offload && i < n; i++)
		pkts[i].flags |= DL_RX_L3_CSUM_GOOD | DL_RX_L4_CSUM_GOOD;
	if (measure)
		CALLGRIND_TOGGLE_COLLECT;
	if (n > 0)
		dl_stack_input(server.s, pkts, n, now);
	dl_stack_poll(server.s, now);
	dl_stack_flush(server.s);
	if (measure)
		CALLGRIND_TOGGLE_COLLECT;
	pmd_settle();
}

static uint8_t cc = DL_TCP_CC_CUBIC; /* --cc=newreno|cubic|bbr */

static struct dl_stack *mk(struct dl_nic *nic, uint32_t ip, int side, bool ts)
{
	struct dl_stack_config cfg;
	struct dl_stack *s;

	dl_stack_config_defaults(&cfg);
	cfg.ip = ip;
	cfg.tcp.timestamps = ts;
	cfg.tcp.cc = cc;
	memcpy(cfg.mac, nic->mac, 6);
	memset(cfg.tcp.isn_key, side + 1, 16);
	s = dl_stack_create(&cfg, nic, 0, 0, 1);
	assert(s != NULL);
	return s;
}

int main(int argc, char **argv)
{
	unsigned long iters = 100000, warm = 1000;
	bool ts = true;
	struct dl_memwire *w;
	uint64_t now = 1000000;
	struct timespec t0, t1;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--no-ts") == 0)
			ts = false;
		else if (strcmp(argv[i], "--rx-csum-offload") == 0)
			rx_csum_offload = true;
		else if (strcmp(argv[i], "--cc=newreno") == 0)
			cc = DL_TCP_CC_NEWRENO;
		else if (strcmp(argv[i], "--cc=cubic") == 0)
			cc = DL_TCP_CC_CUBIC;
		else if (strcmp(argv[i], "--cc=bbr") == 0)
			cc = DL_TCP_CC_BBR;
		else
			iters = strtoul(argv[i], NULL, 0);
	}
	memset(request, 'q', MSG);
	memset(response, 'r', MSG);
	w = dl_memwire_create(NULL);
	real_nic = dl_memwire_nic(w, 0);
	shim = *real_nic;
	shim.ops = &shim_ops;
	server.s = mk(&shim, SERVER_IP, 0, ts);
	client.s = mk(dl_memwire_nic(w, 1), CLIENT_IP, 1, ts);
	dl_stack_set_upcalls(server.s, &server_ups, &server);
	dl_stack_set_upcalls(client.s, &client_ups, &client);
	dl_stack_arp_learn(server.s, CLIENT_IP, dl_memwire_nic(w, 1)->mac, now);
	dl_stack_arp_learn(client.s, SERVER_IP, real_nic->mac, now);
	dl_stack_listen(server.s, PORT, 0);
	dl_stack_connect(client.s, 1, 0, SERVER_IP, PORT, &client.id);
	for (int k = 0; k < 8 && !(client.up && server.up); k++) {
		run_client(w, now);
		run_server(now, false);
	}
	assert(client.up && server.up);

	for (unsigned long i = 0; i < warm + iters; i++) {
		bool measure = i >= warm;
		if (i == warm)
			clock_gettime(CLOCK_MONOTONIC, &t0);
		now += 10;
		send_msg(&client, request);
		run_client(w, now);	  /* request out */
		run_server(now, measure); /* request in, response out */
		run_client(w, now);	  /* response in */
		if (client.got != i + 1) {
			fprintf(stderr, "exchange %lu lost (got %llu)\n", i,
				(unsigned long long)client.got);
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) /
		    (double)iters;
	printf("exchanges: %lu of %d bytes each way, timestamps %s, RX checksums %s\n", iters, MSG,
	       ts ? "on" : "off", rx_csum_offload ? "offloaded" : "in software");
	printf("native: %.0f ns per exchange (both stacks and the wire)\n", ns);
	printf("server segments in %llu, out %llu\n", (unsigned long long)server.got,
	       (unsigned long long)client.got);
	if (getenv("BENCH_STATS") != NULL)
		dl_stats_dump(stdout, false);
	dl_stack_destroy(client.s);
	dl_stack_destroy(server.s);
	dl_memwire_destroy(w);
	return 0;
}
