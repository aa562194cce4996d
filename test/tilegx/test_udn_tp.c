/*
 * test_udn_tp.c - the UDN transport of the NoC (noc/udn) through the
 * endpoint (dl_noc.h) on the MDE model: whole messages in order, large
 * messages in pieces on small FIFOs, the credit check (a receiver that
 * does not drain never makes a sender stall: its messages wait in
 * overflow), destinations that have not announced their tile, use from a
 * thread on another tile, forged and out-of-step packets, fair receive
 * over sources, two fabrics on one tile, and the shared fabric table
 * (create_in / map / attach) with its write protection.
 *
 * Most tests run in one thread that moves from tile to tile (the model
 * lets a thread rebind and activate again), so every step is
 * deterministic: a send on tile A, then a poll on tile B.
 */
#include <arch/spr_def.h>
#include <tmc/cpus.h>
#include <tmc/udn.h>

#include "dl_hal.h"
#include "dl_msg.h"
#include "dl_noc.h"
#include "dl_stats.h"
#include "mde_model.h"
#include "udn_priv.h" /* the table's layout, to check its protection */

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

/* ---- set-up ---------------------------------------------------------- */

static void model(unsigned fifo, unsigned demux)
{
	struct mde_model_udn_config cfg = {6, 6, fifo, demux, 10000};
	cpu_set_t all;

	assert_int_equal(mde_model_udn_configure(&cfg), 0);
	tmc_cpus_get_online_cpus(&all);
	assert_int_equal(tmc_udn_init(&all), 0);
}

static void bind(int cpu)
{
	assert_int_equal(tmc_cpus_set_my_cpu(cpu), 0);
	assert_int_equal(tmc_udn_activate(), 0);
}

static int teardown(void **state)
{
	(void)state;
	tmc_udn_close();
	return 0;
}

static uint64_t stalls(void)
{
	struct mde_model_udn_stats st;

	mde_model_udn_stats(-1, &st);
	return st.send_stalls;
}

/* ---- what a receiver got --------------------------------------------- */

#define MAXGOT 4096

struct got {
	unsigned n;
	unsigned src[MAXGOT];
	uint32_t conn[MAXGOT];
	uint8_t type[MAXGOT], nwords[MAXGOT];
	uint64_t word1[MAXGOT], last[MAXGOT];
};

static void on_msg(void *arg, unsigned src, const struct dl_msg *m)
{
	struct got *g = arg;

	assert_true(g->n < MAXGOT);
	g->src[g->n] = src;
	g->conn[g->n] = m->conn;
	g->type[g->n] = m->type;
	g->nwords[g->n] = m->nwords;
	g->word1[g->n] = m->type == DL_MSG_NEW_DATA ? m->u.data.refs[0] : 0;
	g->last[g->n] = m->type == DL_MSG_NEW_DATA ? m->u.data.refs[m->u.data.n - 1] : 0;
	g->n++;
}

/* A NEW_DATA of @p words words (2..126) from net core @p core, conn @p seq,
 * refs derived from seq so the receiver can check every word. */
static int msg_of(uint64_t *w, unsigned core, uint32_t seq, unsigned words)
{
	struct dl_msg_ref refs[DL_MSG_MAX_REFS];

	for (unsigned i = 0; i + 1 < words; i++)
		refs[i] = (struct dl_msg_ref){
		    .off = (uint64_t)seq * 1000 + i, .len = 1 + i, .region = (uint8_t)(i % 100)};
	return dl_msg_enc_new_data(w, core, seq, refs, words - 1);
}

static uint64_t ref_of(uint32_t seq, unsigned i)
{
	struct dl_msg_ref r = {
	    .off = (uint64_t)seq * 1000 + i, .len = 1 + i, .region = (uint8_t)(i % 100)};

	return dl_msg_ref_pack(&r);
}

static unsigned poll_on(int cpu, struct dl_noc_ep *ep, struct got *g)
{
	unsigned n = 0, k;

	bind(cpu);
	while ((k = dl_noc_poll(ep, 64, on_msg, g)) > 0)
		n += k;
	return n;
}

static uint64_t cnt(const char *module, const char *name)
{
	return dl_stats_get(module, name);
}

/* ---- whole messages, in order, announced tiles ------------------------ */

static void test_messages_whole_in_order(void **state)
{
	struct dl_noc_fabric *f;
	struct dl_noc_ep *a, *b;
	struct got g = {0};
	uint64_t w[DL_MSG_MAX_WORDS];

	(void)state;
	model(16, 32);
	f = dl_noc_fabric_create(2, 4096, NULL);
	assert_non_null(f);
	assert_int_equal(dl_noc_fabric_udn_tile(f, 1), -1);
	a = dl_noc_ep_create(f, 0, NULL);
	b = dl_noc_ep_create(f, 1, NULL);
	assert_non_null(a);
	assert_non_null(b);
	/* Core 1 has not polled: its tile is unknown, messages wait. */
	bind(3);
	assert_int_equal(dl_noc_send(a, 1, w, (unsigned)msg_of(w, 0, 0, 3)), 0);
	assert_int_equal(dl_noc_pending(a, 1), 1);
	assert_true(cnt("udn", "tx_wait_peer") >= 1);
	assert_int_equal(dl_noc_flush(a), 1);
	/* Core 1's first poll announces tile 20. */
	assert_int_equal(poll_on(20, b, &g), 0);
	assert_int_equal(dl_noc_fabric_udn_tile(f, 1), 20);
	bind(3);
	assert_int_equal(dl_noc_flush(a), 0); /* out now */
	for (uint32_t s = 1; s < 40; s++)
		assert_int_equal(dl_noc_send(a, 1, w, (unsigned)msg_of(w, 0, s, 2 + s % 12)), 0);
	while (dl_noc_flush(a) != 0)
		poll_on(20, b, &g), bind(3);
	poll_on(20, b, &g);
	assert_int_equal(g.n, 40);
	for (uint32_t s = 0; s < 40; s++) {
		unsigned words = s == 0 ? 3 : 2 + s % 12;
		assert_int_equal(g.src[s], 0);
		assert_int_equal(g.conn[s], s);
		assert_int_equal(g.nwords[s], words);
		assert_int_equal(g.word1[s], ref_of(s, 0));
		assert_int_equal(g.last[s], ref_of(s, words - 2));
	}
	assert_int_equal(dl_noc_counters(b)[DL_NOC_RX_MSGS], 40);
	assert_int_equal(cnt("udn", "tx_split_msgs"), 0); /* all fit one packet */
	assert_int_equal(cnt("udn", "rx_packets"), 40);
	assert_int_equal(stalls(), 0);
	dl_noc_ep_destroy(a);
	dl_noc_ep_destroy(b);
	dl_noc_fabric_destroy(f);
}

/* ---- the credit check: a receiver that does not drain ------------------ */

static void test_full_receiver_never_stalls_the_sender(void **state)
{
	struct dl_noc_fabric *f;
	struct dl_noc_ep *a, *b;
	struct got g = {0};
	uint64_t w[DL_MSG_MAX_WORDS], before;
	enum { N = 300 };

	(void)state;
	model(16, 8);
	f = dl_noc_fabric_create(2, 4096, NULL);
	a = dl_noc_ep_create(f, 0, NULL);
	b = dl_noc_ep_create(f, 1, NULL);
	poll_on(8, b, &g); /* announce */
	bind(0);
	before = cnt("udn", "tx_credit_waits");
	/* 300 messages of 5 words to a tile that reads nothing: its demux
	 * queues (4 x 8 words) and this tile's FIFO (16) fill; everything
	 * else must wait in overflow, and the sender never stalls. */
	for (uint32_t s = 0; s < N; s++)
		assert_int_equal(dl_noc_send(a, 1, w, (unsigned)msg_of(w, 0, s, 5)), 0);
	assert_true(dl_noc_flush(a) > 200);
	assert_true(dl_noc_counters(a)[DL_NOC_TX_OVERFLOWED] > 200);
	assert_true(cnt("udn", "tx_credit_waits") > before);
	assert_int_equal(stalls(), 0);
	/* The receiver drains, the sender retries: all of them, in order. */
	for (int round = 0; round < 10000 && g.n < N; round++) {
		poll_on(8, b, &g);
		bind(0);
		dl_noc_flush(a);
	}
	assert_int_equal(g.n, N);
	for (uint32_t s = 0; s < N; s++)
		assert_int_equal(g.conn[s], s);
	assert_int_equal(dl_noc_pending(a, -1), 0);
	assert_int_equal(stalls(), 0);
	dl_noc_ep_destroy(a);
	dl_noc_ep_destroy(b);
	dl_noc_fabric_destroy(f);
}

/* ---- large messages in pieces ------------------------------------------ */

/* Large and small messages on a FIFO of @p fifo words; @p split and
 * @p packets: how many went in pieces and how many packets in all. */
static void big_messages(unsigned fifo, unsigned demux, uint64_t split, uint64_t packets)
{
	struct dl_noc_fabric *f;
	struct dl_noc_ep *a, *b;
	struct got g = {0};
	uint64_t w[DL_MSG_MAX_WORDS];
	static const unsigned sizes[] = {126, 2, 125, 124, 60, 126, 3, 17, 126};
	enum { NS = sizeof(sizes) / sizeof(sizes[0]) };

	model(fifo, demux);
	f = dl_noc_fabric_create(2, 4096, NULL);
	a = dl_noc_ep_create(f, 0, NULL);
	b = dl_noc_ep_create(f, 1, NULL);
	poll_on(35, b, &g);
	bind(0);
	for (uint32_t s = 0; s < NS; s++)
		assert_int_equal(dl_noc_send(a, 1, w, (unsigned)msg_of(w, 0, s, sizes[s])), 0);
	for (int round = 0; round < 100000 && g.n < NS; round++) {
		poll_on(35, b, &g);
		bind(0);
		dl_noc_flush(a);
	}
	assert_int_equal(g.n, NS);
	for (uint32_t s = 0; s < NS; s++) {
		assert_int_equal(g.conn[s], s);
		assert_int_equal(g.nwords[s], sizes[s]);
		assert_int_equal(g.last[s], ref_of(s, sizes[s] - 2));
	}
	assert_int_equal(dl_noc_pending(a, -1), 0);
	assert_int_equal(cnt("udn", "tx_split_msgs"), split);
	assert_int_equal(cnt("udn", "tx_packets"), packets);
	assert_int_equal(cnt("udn", "rx_packets"), packets);
	assert_int_equal(stalls(), 0);
	dl_noc_ep_destroy(a);
	dl_noc_ep_destroy(b);
	dl_noc_fabric_destroy(f);
}

static void test_large_messages_default_fifo(void **state)
{
	(void)state;
	/* 14 message words per packet: everything above 14 words (7 of the 9)
	 * in pieces: 126 -> 9 packets, 125 -> 9, 124 -> 9, 60 -> 5, 17 -> 2. */
	big_messages(16, 32, 7, 9 + 1 + 9 + 9 + 5 + 9 + 1 + 2 + 9);
}

static void test_large_messages_smallest_fifo(void **state)
{
	(void)state;
	/* One message word per packet (header, framing word, one word). */
	big_messages(DL_UDN_MIN_FIFO, 1, 9, 126 + 2 + 125 + 124 + 60 + 126 + 3 + 17 + 126);
}

static void test_largest_message_on_a_large_fifo_two_packets(void **state)
{
	(void)state;
	/* Only the 126-word messages (the codec's largest) need two packets:
	 * a packet carries the framing word and 125 words. */
	big_messages(256, 256, 3, 9 + 3);
}

static void test_fifo_below_minimum_is_refused(void **state)
{
	struct dl_noc_fabric *f;
	struct dl_noc_ep *a, *b;
	struct got g = {0};
	uint64_t w[4];

	(void)state;
	model(DL_UDN_MIN_FIFO - 1, 4);
	f = dl_noc_fabric_create(2, 4096, NULL);
	a = dl_noc_ep_create(f, 0, NULL);
	b = dl_noc_ep_create(f, 1, NULL);
	poll_on(1, b, &g);
	bind(0);
	assert_int_equal(dl_noc_send(a, 1, w, (unsigned)msg_of(w, 0, 0, 2)), -EPIPE);
	assert_int_equal(dl_noc_counters(a)[DL_NOC_TX_CHAN_BROKEN], 1);
	assert_int_equal(stalls(), 0);
	dl_noc_ep_destroy(a);
	dl_noc_ep_destroy(b);
	dl_noc_fabric_destroy(f);
}

/* ---- a thread on another tile ------------------------------------------ */

static void raw_send(int to, unsigned tag, const uint64_t *w, unsigned n)
{
	tmc_udn_send_buffer(tmc_udn_header_from_cpu(to), tag, w, n);
}

static void test_use_from_another_tile(void **state)
{
	struct dl_noc_fabric *f;
	struct dl_noc_ep *a, *b;
	struct got g = {0};
	uint64_t w[8];

	(void)state;
	model(16, 32);
	f = dl_noc_fabric_create(2, 4096, NULL);
	a = dl_noc_ep_create(f, 0, NULL);
	b = dl_noc_ep_create(f, 1, NULL);
	poll_on(7, b, &g);
	bind(2);
	assert_int_equal(dl_noc_send(a, 1, w, (unsigned)msg_of(w, 0, 0, 4)),
			 0); /* port on tile 2 */
	/* The same core's port used from tile 5: kept, not sent from there. */
	bind(5);
	assert_int_equal(dl_noc_send(a, 1, w, (unsigned)msg_of(w, 0, 1, 4)), 0);
	assert_int_equal(dl_noc_pending(a, 1), 1);
	assert_true(cnt("udn", "tx_off_tile") >= 1);
	/* Core 1 polled from tile 5, which has a packet of its own: core 1
	 * reads nothing there (counted), the packet stays for tile 5. */
	bind(9);
	raw_send(5, 0, w, 3);
	bind(5);
	assert_int_equal(dl_noc_poll(b, 64, on_msg, &g), 0);
	assert_true(cnt("udn", "rx_off_tile") >= 1);
	assert_int_equal(tmc_udn0_available_count(), 3);
	tmc_udn0_receive_buffer(w, 3);
	/* Back home, everything arrives, in order. */
	bind(2);
	assert_int_equal(dl_noc_flush(a), 0);
	poll_on(7, b, &g);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.conn[0], 0);
	assert_int_equal(g.conn[1], 1);
	dl_noc_ep_destroy(a);
	dl_noc_ep_destroy(b);
	dl_noc_fabric_destroy(f);
}

/* ---- forged and broken packets ----------------------------------------- */

static void test_forged_packets_dropped_and_queue_resyncs(void **state)
{
	struct dl_noc_fabric *f;
	struct dl_noc_ep *a, *b, *c;
	struct got g = {0};
	uint64_t w[DL_MSG_MAX_WORDS], pkt[8];
	unsigned id;
	uint32_t key;

	(void)state;
	model(16, 32);
	f = dl_noc_fabric_create(3, 4096, NULL);
	a = dl_noc_ep_create(f, 0, NULL);
	b = dl_noc_ep_create(f, 1, NULL);
	c = dl_noc_ep_create(f, 2, NULL);
	poll_on(9, b, &g);
	id = dl_noc_fabric_udn_id(f);
	key = dl_noc_fabric_udn_key(f, 0, 1);
	assert_int_not_equal(key, 0);
	assert_int_not_equal(key, dl_noc_fabric_udn_key(f, 2, 1));
	/* From tile 30, a packet claiming to be core 0 with a wrong key, one
	 * for an unknown fabric, one with a length lie (says 1, carries 5
	 * words that look like nothing): each framing word is dropped alone,
	 * and the words behind it are tried as framing words in turn. */
	bind(30);
	msg_of(w, 0, 999, 3);
	pkt[0] = dl_udn_frame(3, 0, id, 0, key ^ 1);
	memcpy(&pkt[1], w, 3 * sizeof(uint64_t));
	raw_send(9, 0, pkt, 4);
	pkt[0] = dl_udn_frame(3, 0, id == 200 ? 201 : 200, 0, key);
	raw_send(9, 1, pkt, 4);
	pkt[0] = dl_udn_frame(1, 0, id, 0, key ^ 2);
	raw_send(9, 2, pkt, 6);
	/* Then the real core 0, from its tile. */
	bind(4);
	for (uint32_t s = 0; s < 5; s++)
		assert_int_equal(dl_noc_send(a, 1, w, (unsigned)msg_of(w, 0, s, 3 + s)), 0);
	assert_int_equal(dl_noc_flush(a), 0);
	poll_on(9, b, &g);
	assert_int_equal(g.n, 5);
	for (uint32_t s = 0; s < 5; s++)
		assert_int_equal(g.conn[s], s);
	/* 1 + 1 + 1 framing words, then 3 + 3 + 5 words none of which carries a key. */
	assert_int_equal(cnt("udn", "rx_drop_bad_frame"), 3 + 3 + 3 + 5);
	assert_int_equal(dl_noc_counters(b)[DL_NOC_RX_CHAN_BROKEN], 0);

	/* The right key but a packet out of sequence: the source is broken
	 * (counted once) and nothing more is taken from it; others go on. */
	bind(30);
	pkt[0] = dl_udn_frame(3, 0, id, 77, key);
	memcpy(&pkt[1], w, 3 * sizeof(uint64_t));
	raw_send(9, 0, pkt, 4);
	bind(4);
	assert_int_equal(dl_noc_send(a, 1, w, (unsigned)msg_of(w, 0, 5, 3)), 0);
	poll_on(12, c, &g); /* core 2 announces */
	bind(12);
	assert_int_equal(dl_noc_send(c, 1, w, (unsigned)msg_of(w, 2, 42, 4)), 0);
	g.n = 0;
	poll_on(9, b, &g);
	assert_int_equal(dl_noc_counters(b)[DL_NOC_RX_CHAN_BROKEN], 1);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.src[0], 2);
	assert_int_equal(g.conn[0], 42);
	assert_true(cnt("udn", "rx_drop_words") >= 3);

	/* A well-keyed, in-sequence packet whose message header lies about
	 * its size breaks that source too (core 2 this time). */
	bind(30);
	pkt[0] = dl_udn_frame(2, 2, id, 1, dl_noc_fabric_udn_key(f, 2, 1));
	pkt[1] = (uint64_t)DL_MSG_NEW_DATA | (uint64_t)127 << 8; /* 127 words: impossible */
	pkt[2] = 0;
	raw_send(9, 3, pkt, 3);
	poll_on(9, b, &g);
	assert_int_equal(dl_noc_counters(b)[DL_NOC_RX_CHAN_BROKEN], 2);
	assert_int_equal(stalls(), 0);
	dl_noc_ep_destroy(a);
	dl_noc_ep_destroy(b);
	dl_noc_ep_destroy(c);
	dl_noc_fabric_destroy(f);
}

/* ---- fair receive ------------------------------------------------------- */

static void test_fair_receive_over_sources(void **state)
{
	const struct dl_noc_conf conf = {.quota = 2, .no_stats = true};
	struct dl_noc_fabric *f;
	struct dl_noc_ep *ep[6];
	struct got g = {0};
	uint64_t w[8];
	unsigned count[6] = {0};

	(void)state;
	model(64, 512);
	f = dl_noc_fabric_create(6, 4096, NULL);
	for (unsigned i = 0; i < 6; i++)
		ep[i] = dl_noc_ep_create(f, i, &conf);
	poll_on(0, ep[0], &g);
	/* Core 1 sends 30 messages, then cores 2 and 5 send 5 each: all are in
	 * core 0's demux queues before it polls, and core 5's wait behind core
	 * 1's in the same queue (sources 1..5 of core 0 take queues 0 1 2 3 0). */
	bind(11);
	for (uint32_t s = 0; s < 30; s++)
		assert_int_equal(dl_noc_send(ep[1], 0, w, (unsigned)msg_of(w, 1, s, 2)), 0);
	for (unsigned c = 2; c < 6; c += 3) {
		bind((int)(11 + c));
		for (uint32_t s = 0; s < 5; s++)
			assert_int_equal(dl_noc_send(ep[c], 0, w, (unsigned)msg_of(w, c, s, 2)), 0);
	}
	/* Ten messages: at most the quota (2) from one source per turn, turns
	 * 1 2 5 1 2: cores 2 and 5 are not starved behind core 1's 30. */
	bind(0);
	assert_int_equal(dl_noc_poll(ep[0], 10, on_msg, &g), 10);
	for (unsigned i = 0; i < g.n; i++)
		count[g.src[i]]++;
	assert_int_equal(count[1], 4);
	assert_int_equal(count[2], 4);
	assert_int_equal(count[5], 2);
	while (dl_noc_poll(ep[0], 64, on_msg, &g) > 0)
		;
	assert_int_equal(g.n, 40);
	for (unsigned i = 0; i < 6; i++)
		dl_noc_ep_destroy(ep[i]);
	dl_noc_fabric_destroy(f);
}

/* ---- two fabrics on one tile -------------------------------------------- */

static void test_two_fabrics_share_a_tile(void **state)
{
	struct dl_noc_fabric *f1, *f2;
	struct dl_noc_ep *a1, *b1, *a2, *b2;
	struct got g1 = {0}, g2 = {0};
	uint64_t w[8];

	(void)state;
	model(16, 32);
	f1 = dl_noc_fabric_create(2, 4096, NULL);
	f2 = dl_noc_fabric_create(2, 4096, NULL);
	assert_int_not_equal(dl_noc_fabric_udn_id(f1), dl_noc_fabric_udn_id(f2));
	a1 = dl_noc_ep_create(f1, 0, NULL);
	b1 = dl_noc_ep_create(f1, 1, NULL);
	a2 = dl_noc_ep_create(f2, 0, NULL);
	b2 = dl_noc_ep_create(f2, 1, NULL);
	/* Both receivers on tile 17 (a network core polling its own fabric
	 * and a slot's), senders on tiles 1 and 2. */
	poll_on(17, b1, &g1);
	poll_on(17, b2, &g2);
	bind(1);
	for (uint32_t s = 0; s < 10; s++)
		assert_int_equal(dl_noc_send(a1, 1, w, (unsigned)msg_of(w, 0, s, 3)), 0);
	bind(2);
	for (uint32_t s = 0; s < 10; s++)
		assert_int_equal(dl_noc_send(a2, 1, w, (unsigned)msg_of(w, 0, 100 + s, 4)), 0);
	/* Whoever polls first reads both fabrics' packets: each endpoint gets
	 * exactly its own. */
	for (int r = 0; r < 50; r++) {
		bind(17);
		dl_noc_poll(b2, 3, on_msg, &g2);
		dl_noc_poll(b1, 3, on_msg, &g1);
		bind(1);
		dl_noc_flush(a1);
		bind(2);
		dl_noc_flush(a2);
	}
	assert_int_equal(g1.n, 10);
	assert_int_equal(g2.n, 10);
	for (uint32_t s = 0; s < 10; s++) {
		assert_int_equal(g1.conn[s], s);
		assert_int_equal(g2.conn[s], 100 + s);
		assert_int_equal(g2.nwords[s], 4);
	}
	assert_true(cnt("udn", "rx_other_fabric") > 0);
	/* One core of a fabric per tile: a second one cannot announce. */
	dl_noc_ep_destroy(a1);
	a1 = dl_noc_ep_create(f1, 0, NULL);
	assert_int_equal(poll_on(17, a1, &g1), 0);
	assert_int_equal(cnt("udn", "rx_no_tile"), 1);
	dl_noc_ep_destroy(a1);
	dl_noc_ep_destroy(b1);
	dl_noc_ep_destroy(a2);
	dl_noc_ep_destroy(b2);
	dl_noc_fabric_destroy(f1);
	dl_noc_fabric_destroy(f2);
}

/* ---- the shared table ----------------------------------------------------- */

static void test_shared_table_create_in_and_map(void **state)
{
	struct dl_coreset links[2], app;
	struct dl_noc_fabric *svc, *mapped, *att;
	struct dl_noc_ep *net, *appep;
	struct dl_region *r;
	struct got g = {0};
	uint64_t w[DL_MSG_MAX_WORDS];
	size_t len;
	pid_t pid;
	int status;

	(void)state;
	model(16, 32);
	/* A protected-mode slot: core 0 the service's network core, core 1
	 * the application's core; links both ways. */
	dl_coreset_zero(&links[0]);
	dl_coreset_zero(&links[1]);
	dl_coreset_set(&links[0], 1);
	dl_coreset_set(&links[1], 0);
	len = dl_noc_fabric_size(2, 4096, links);
	assert_true(len >= 3 * (size_t)sysconf(_SC_PAGESIZE)); /* header+keys, a page per tile */
	r = dl_region_create("udn-slot", len, DL_REGION_SHARED);
	assert_non_null(r);
	svc = dl_noc_fabric_create_in(r, 2, 4096, links);
	assert_non_null(svc);
	assert_ptr_equal(dl_noc_fabric_region(svc), r);
	/* The application's view: the same plan, write access to core 1's
	 * tile entry only. */
	dl_coreset_zero(&app);
	dl_coreset_set(&app, 1);
	assert_null(dl_noc_fabric_map(r->fd, len, 2, 2048, links, &app));
	assert_int_equal(errno, EPROTO);
	mapped = dl_noc_fabric_map(r->fd, len, 2, 4096, links, &app);
	assert_non_null(mapped);
	assert_int_equal(dl_noc_fabric_udn_id(mapped), dl_noc_fabric_udn_id(svc));
	assert_int_equal(dl_noc_fabric_udn_key(mapped, 1, 0), dl_noc_fabric_udn_key(svc, 1, 0));
	assert_int_equal(dl_noc_fabric_udn_key(mapped, 0, 0), 0);
	/* attach() checks the table is the plan's. */
	att = dl_noc_fabric_attach(r->base, len, 2, 8192, links);
	assert_null(att);
	assert_int_equal(errno, EPROTO);
	att = dl_noc_fabric_attach(r->base, len, 2, 4096, links);
	assert_non_null(att);
	dl_noc_fabric_destroy(att);

	net = dl_noc_ep_create(svc, 0, NULL);
	appep = dl_noc_ep_create(mapped, 1, NULL);
	poll_on(6, net, &g);
	poll_on(25, appep, &g);
	assert_int_equal(dl_noc_fabric_udn_tile(svc, 1), 25); /* written through the mapping */
	assert_int_equal(dl_noc_fabric_udn_tile(mapped, 0), 6);
	bind(25);
	assert_int_equal(dl_noc_send(appep, 0, w, (unsigned)msg_of(w, 0, 7, 126)), 0);
	for (int i = 0; i < 100 && g.n == 0; i++) {
		bind(25);
		dl_noc_flush(appep);
		poll_on(6, net, &g);
	}
	assert_int_equal(g.n, 1);
	assert_int_equal(g.conn[0], 7);
	assert_int_equal(g.nwords[0], 126);

	/* The mapping is read-only but for core 1's tile entry: in a child
	 * (whose end we check) write core 1's entry, core 0's, then a key. */
	for (int k = 0; k < 3; k++) {
		const struct udn_table *t = dl_noc_fabric_udn_table(mapped);
		uint8_t *tab = (uint8_t *)t;

		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			signal(SIGSEGV, SIG_DFL);
			if (k == 0)
				*(volatile int32_t *)(tab + t->tile_off + t->tile_stride) = 25;
			else if (k == 1)
				*(volatile int32_t *)(tab + t->tile_off) = 31;
			else
				*(volatile uint32_t *)(tab + t->key_off + 4) = 0;
			_exit(0);
		}
		waitpid(pid, &status, 0);
		if (k == 0)
			assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		else
			assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
	}
	dl_noc_ep_destroy(net);
	dl_noc_ep_destroy(appep);
	dl_noc_fabric_destroy(mapped);
	dl_noc_fabric_destroy(svc);
	dl_region_destroy(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_messages_whole_in_order, teardown),
	    cmocka_unit_test_teardown(test_full_receiver_never_stalls_the_sender, teardown),
	    cmocka_unit_test_teardown(test_large_messages_default_fifo, teardown),
	    cmocka_unit_test_teardown(test_large_messages_smallest_fifo, teardown),
	    cmocka_unit_test_teardown(test_largest_message_on_a_large_fifo_two_packets, teardown),
	    cmocka_unit_test_teardown(test_fifo_below_minimum_is_refused, teardown),
	    cmocka_unit_test_teardown(test_use_from_another_tile, teardown),
	    cmocka_unit_test_teardown(test_forged_packets_dropped_and_queue_resyncs, teardown),
	    cmocka_unit_test_teardown(test_fair_receive_over_sources, teardown),
	    cmocka_unit_test_teardown(test_two_fabrics_share_a_tile, teardown),
	    cmocka_unit_test_teardown(test_shared_table_create_in_and_map, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
