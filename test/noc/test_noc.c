/*
 * test_noc.c - mailbox fairness and the per-core endpoint, single-threaded
 * and deterministic: publication at flush, overflow order and draining,
 * -ENOMEM instead of silent drops, class filtering, decode errors, broken
 * channels, fabric links and counters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/mman.h>
#include <cmocka.h>

#include "dl_chan.h"
#include "dl_mailbox.h"
#include "dl_numa.h"
#include "../hal/numa_maps.h"
#include "dl_msg.h"
#include "dl_noc.h"
#include "dl_stats.h"

/* ---- raw mailbox ---- */

#define MB_SRCS 3

struct mb_rig {
	void *mem[MB_SRCS];
	size_t len;
	struct dl_chan_prod p[MB_SRCS];
	struct dl_chan_cons c[MB_SRCS];
	struct dl_mailbox mb;
	uint64_t sent[MB_SRCS];
	uint64_t buf[DL_MAILBOX_BUF_WORDS];
};

static void rig_open(struct mb_rig *r, unsigned words, unsigned quota)
{
	memset(r, 0, sizeof(*r));
	r->len = dl_chan_mem_size(words);
	dl_mailbox_init(&r->mb, quota);
	for (unsigned s = 0; s < MB_SRCS; s++) {
		r->mem[s] =
		    mmap(NULL, r->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		assert_true(r->mem[s] != MAP_FAILED);
		assert_int_equal(dl_chan_init(r->mem[s], words), 0);
		assert_int_equal(dl_chan_prod_init(&r->p[s], r->mem[s], words, NULL), 0);
		assert_int_equal(dl_chan_cons_init(&r->c[s], r->mem[s], words, NULL), 0);
		/* Sources are named 10, 11, 12 to check the src mapping. */
		assert_int_equal(dl_mailbox_add(&r->mb, 10 + s, &r->c[s]), 0);
	}
}

static void rig_close(struct mb_rig *r)
{
	for (unsigned s = 0; s < MB_SRCS; s++)
		munmap(r->mem[s], r->len);
}

/* Send one 2-word message carrying (source, sequence); false when full. */
static bool rig_send(struct mb_rig *r, unsigned s)
{
	uint64_t w[2] = {dl_msg_hdr(DL_MSG_CONNECTED, 2, 0, s), r->sent[s]};

	if (dl_chan_send(&r->p[s], w, 2) != 0)
		return false;
	r->sent[s]++;
	return true;
}

struct mb_log {
	unsigned n;
	uint16_t src[4096];
	uint64_t next_seq[MB_SRCS];
};

static void mb_record(void *arg, unsigned src, const uint64_t *msg, unsigned nwords)
{
	struct mb_log *log = arg;
	unsigned s = src - 10;

	assert_true(s < MB_SRCS);
	assert_int_equal(nwords, 2);
	assert_int_equal(dl_msg_hdr_conn(msg[0]), s);
	assert_int_equal(msg[1], log->next_seq[s]); /* in order per source */
	log->next_seq[s]++;
	if (log->n < 4096)
		log->src[log->n] = (uint16_t)s;
	log->n++;
}

static void test_mailbox_add_checks(void **state)
{
	struct mb_rig r;
	(void)state;

	rig_open(&r, 64, 4);
	assert_int_equal(dl_mailbox_add(&r.mb, 10, &r.c[0]), -EEXIST);
	assert_int_equal(dl_mailbox_add(&r.mb, DL_MAX_CORES, &r.c[0]), -EINVAL);
	assert_int_equal(dl_mailbox_add(&r.mb, 5, NULL), -EINVAL);
	rig_close(&r);
}

/* One source floods (its channel is refilled before every poll), two others
 * send a few: the few arrive within a bounded number of polls, and within a
 * poll no source gets more than its quota before the others had a turn. */
static void test_mailbox_fairness(void **state)
{
	const unsigned quota = 4, budget = 6;
	struct mb_log log = {0};
	struct mb_rig r;
	unsigned polls = 0;
	(void)state;

	rig_open(&r, 4096, quota);
	for (int i = 0; i < 3; i++)
		assert_true(rig_send(&r, 1));
	assert_true(rig_send(&r, 2));
	while (log.next_seq[1] < 3 || log.next_seq[2] < 1) {
		while (rig_send(&r, 0)) /* keep the flooder's channel full */
			;
		unsigned before = log.n;
		unsigned got = dl_mailbox_poll(&r.mb, budget, r.buf, DL_MAILBOX_BUF_WORDS, mb_record, &log);
		assert_true(got <= budget);
		assert_int_equal(got, log.n - before);
		polls++;
		assert_true(polls <= 3); /* bound: ceil(3 / min(quota, budget)) + 1 rounds */
	}
	/* The flooder was served too, and never more than quota in a row
	 * while another source had messages waiting. */
	assert_true(log.next_seq[0] > 0);
	unsigned run = 0;
	for (unsigned i = 0; i < log.n; i++) {
		run = (i > 0 && log.src[i] == log.src[i - 1]) ? run + 1 : 1;
		assert_true(run <= quota);
	}
	rig_close(&r);
}

static void test_mailbox_budget_and_resume(void **state)
{
	struct mb_log log = {0};
	struct mb_rig r;
	(void)state;

	rig_open(&r, 256, 2);
	assert_int_equal(dl_mailbox_poll(&r.mb, 100, r.buf, DL_MAILBOX_BUF_WORDS, mb_record, &log), 0);
	for (int i = 0; i < 5; i++)
		for (unsigned s = 0; s < MB_SRCS; s++)
			assert_true(rig_send(&r, s));
	/* budget 3, quota 2: s0 s0 s1 | s1 s2 s2 | s0 s0 s1 | ... */
	assert_int_equal(dl_mailbox_poll(&r.mb, 3, r.buf, DL_MAILBOX_BUF_WORDS, mb_record, &log), 3);
	assert_int_equal(log.src[0], 0);
	assert_int_equal(log.src[1], 0);
	assert_int_equal(log.src[2], 1);
	assert_int_equal(dl_mailbox_poll(&r.mb, 3, r.buf, DL_MAILBOX_BUF_WORDS, mb_record, &log), 3);
	assert_int_equal(log.src[3], 2); /* resumes after the last served channel */
	assert_int_equal(dl_mailbox_poll(&r.mb, 100, r.buf, DL_MAILBOX_BUF_WORDS, mb_record, &log), 9);
	assert_int_equal(log.n, 15);
	assert_int_equal(dl_mailbox_poll(&r.mb, 100, r.buf, DL_MAILBOX_BUF_WORDS, mb_record, &log), 0);
	rig_close(&r);
}

/* ---- endpoint ---- */

struct rx_log {
	unsigned n;
	unsigned src[512];
	struct dl_msg m[512];
	uint64_t refs[512];
};

static void ep_record(void *arg, unsigned src, const struct dl_msg *m)
{
	struct rx_log *log = arg;

	assert_true(log->n < 512);
	log->src[log->n] = src;
	log->m[log->n] = *m;
	if (m->type == DL_MSG_SEND || m->type == DL_MSG_NEW_DATA) {
		log->refs[log->n] = m->u.data.refs[0]; /* valid during the call only */
		log->m[log->n].u.data.refs = NULL;
	}
	log->n++;
}

static void test_ep_send_visible_at_once(void **state)
{
	struct dl_noc_fabric *f = dl_noc_fabric_create(3, 256, NULL);
	struct dl_noc_ep *e0, *e1;
	struct rx_log log = {0};
	uint64_t w[DL_MSG_MAX_WORDS];
	struct dl_msg_ref ref = {.off = 4096, .len = 100, .region = 3, .more = true};
	(void)state;

	assert_non_null(f);
	e0 = dl_noc_ep_create(f, 0, NULL);
	e1 = dl_noc_ep_create(f, 1, NULL);
	assert_non_null(e0);
	assert_non_null(e1);
	assert_int_equal(dl_noc_core(e1), 1);
	assert_int_equal(dl_msg_enc_send(w, 1, 77, &ref, 1), 2);
	assert_int_equal(dl_noc_send(e0, 1, w, 2), 0);
	assert_int_equal(dl_noc_poll(e1, 64, ep_record, &log), 1); /* published at once */
	assert_int_equal(dl_noc_flush(e0), 0);			   /* nothing waits */
	assert_int_equal(dl_noc_poll(e1, 64, ep_record, &log), 0);
	assert_int_equal(log.n, 1);
	assert_int_equal(log.src[0], 0);
	assert_int_equal(log.m[0].type, DL_MSG_SEND);
	assert_int_equal(log.m[0].conn, 77);
	assert_int_equal(dl_msg_ref_unpack(log.refs[0]).off, 4096);
	assert_int_equal(dl_msg_ref_unpack(log.refs[0]).len, 100);
	assert_true(dl_msg_ref_unpack(log.refs[0]).more);
	assert_int_equal(dl_noc_counters(e0)[DL_NOC_TX_MSGS], 1);
	assert_int_equal(dl_noc_counters(e0)[DL_NOC_TX_WORDS], 2);
	assert_int_equal(dl_noc_counters(e1)[DL_NOC_RX_MSGS], 1);
	/* Counters are visible through dl_stats (module "noc"). */
	assert_int_equal(dl_stats_get("noc", "tx_msgs"), 1);
	assert_int_equal(dl_stats_get("noc", "rx_msgs"), 1);
	dl_noc_ep_destroy(e0);
	dl_noc_ep_destroy(e1);
	assert_int_equal(dl_stats_get("noc", "tx_msgs"), 0);
	dl_noc_fabric_destroy(f);
}

/* Encode CONNECTED with the sequence number as cookie. */
static unsigned seq_msg(uint64_t *w, uint64_t seq)
{
	return (unsigned)dl_msg_enc_connected(w, 0, 1, seq);
}

/* A receiver that does not poll: messages overflow, in order, and drain
 * completely once it does; a newer message never overtakes the overflow. */
static void test_ep_overflow_order(void **state)
{
	struct dl_noc_fabric *f = dl_noc_fabric_create(2, 8, NULL);
	struct dl_noc_ep *e0 = dl_noc_ep_create(f, 0, NULL), *e1 = dl_noc_ep_create(f, 1, NULL);
	const uint64_t *c0 = dl_noc_counters(e0);
	struct rx_log log = {0};
	uint64_t w[4], seq = 0, expect = 0;
	(void)state;

	for (; seq < 100; seq++)
		assert_int_equal(dl_noc_send(e0, 1, w, seq_msg(w, seq)), 0);
	/* 3 x 2 words fit the 8-word ring (one word always stays free). */
	assert_int_equal(dl_noc_flush(e0), 97);
	assert_int_equal(dl_noc_pending(e0, 1), 97);
	assert_int_equal(dl_noc_pending(e0, -1), 97);
	assert_int_equal(c0[DL_NOC_TX_OVERFLOWED], 97);
	assert_int_equal(c0[DL_NOC_OVF_HWM_MSGS], 97);
	assert_int_equal(c0[DL_NOC_OVF_HWM_WORDS], 194);
	/* The ring gets room, but a new message still queues behind the old. */
	assert_int_equal(dl_noc_poll(e1, 64, ep_record, &log), 3);
	assert_int_equal(dl_noc_send(e0, 1, w, seq_msg(w, seq++)), 0);
	assert_int_equal(c0[DL_NOC_TX_OVERFLOWED], 98);
	/* Alternate: receiver polls, sender flushes; everything arrives in order. */
	for (int rounds = 0; dl_noc_pending(e0, 1) > 0 || log.n > 0; rounds++) {
		for (unsigned i = 0; i < log.n; i++) {
			assert_int_equal(log.m[i].type, DL_MSG_CONNECTED);
			assert_int_equal(log.m[i].u.connected.cookie, expect++);
		}
		log.n = 0;
		dl_noc_flush(e0);
		dl_noc_poll(e1, 64, ep_record, &log);
		assert_true(rounds < 100);
	}
	assert_int_equal(expect, seq);
	assert_int_equal(c0[DL_NOC_OVF_PENDING_MSGS], 0);
	assert_int_equal(c0[DL_NOC_OVF_PENDING_WORDS], 0);
	assert_int_equal(c0[DL_NOC_OVF_HWM_MSGS], 98); /* 97 + the late one */
	assert_int_equal(c0[DL_NOC_TX_MSGS], seq);
	assert_int_equal(dl_noc_counters(e1)[DL_NOC_RX_MSGS], seq);
	assert_true(c0[DL_NOC_TX_CREDIT_RELOADS] > 0);
	dl_noc_ep_destroy(e0);
	dl_noc_ep_destroy(e1);
	dl_noc_fabric_destroy(f);
}

/* Thousands of messages overflow (several chunks), then drain. */
static void test_ep_overflow_many_chunks(void **state)
{
	struct dl_noc_fabric *f = dl_noc_fabric_create(2, 128, NULL);
	struct dl_noc_conf conf = {.quota = 64, .no_stats = true};
	struct dl_noc_ep *e0 = dl_noc_ep_create(f, 0, &conf), *e1 = dl_noc_ep_create(f, 1, &conf);
	struct rx_log log = {0};
	uint64_t w[4], expect = 0;
	const uint64_t total = 20000;
	(void)state;

	for (uint64_t seq = 0; seq < total; seq++)
		assert_int_equal(dl_noc_send(e0, 1, w, seq_msg(w, seq)), 0);
	assert_true(dl_noc_counters(e0)[DL_NOC_OVF_HWM_WORDS] > 3 * 1022);
	while (expect < total) {
		dl_noc_flush(e0);
		log.n = 0;
		dl_noc_poll(e1, 256, ep_record, &log);
		assert_true(log.n > 0);
		for (unsigned i = 0; i < log.n; i++)
			assert_int_equal(log.m[i].u.connected.cookie, expect++);
	}
	assert_int_equal(dl_noc_flush(e0), 0);
	assert_int_equal(dl_noc_pending(e0, -1), 0);
	dl_noc_ep_destroy(e0);
	dl_noc_ep_destroy(e1);
	dl_noc_fabric_destroy(f);
}

/* An overflow that cannot grow is refused with -ENOMEM and counted. */
static void test_ep_nomem_is_reported(void **state)
{
	struct dl_noc_fabric *f = dl_noc_fabric_create(2, 8, NULL);
	struct dl_noc_conf conf = {.ovf_limit_words = 10, .no_stats = true};
	struct dl_noc_ep *e0 = dl_noc_ep_create(f, 0, &conf), *e1 = dl_noc_ep_create(f, 1, &conf);
	const uint64_t *c0 = dl_noc_counters(e0);
	struct rx_log log = {0};
	uint64_t w[4];
	unsigned ok = 0, nomem = 0;
	(void)state;

	for (uint64_t seq = 0; seq < 20; seq++) {
		int rc = dl_noc_send(e0, 1, w, seq_msg(w, seq));
		if (rc == 0)
			ok++;
		else if (rc == -ENOMEM)
			nomem++;
		else
			fail_msg("unexpected %d", rc);
	}
	assert_int_equal(ok, 3 + 5); /* ring: 3, overflow: 10 words = 5 */
	assert_int_equal(nomem, 12);
	assert_int_equal(c0[DL_NOC_TX_NOMEM], 12);
	assert_int_equal(c0[DL_NOC_TX_MSGS], 8);
	while (dl_noc_flush(e0) > 0 || log.n < 8)
		dl_noc_poll(e1, 64, ep_record, &log);
	assert_int_equal(log.n, 8);
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(log.m[i].u.connected.cookie, i);
	dl_noc_ep_destroy(e0);
	dl_noc_ep_destroy(e1);
	dl_noc_fabric_destroy(f);
}

static void test_ep_refusals(void **state)
{
	struct dl_coreset links[3] = {{{0}}}; /* only 0 -> 1 */
	struct dl_noc_fabric *f;
	struct dl_noc_conf conf = {.no_stats = true};
	struct dl_noc_ep *e0, *e1;
	uint64_t w[DL_MSG_MAX_WORDS];
	struct dl_msg_ref refs[8] = {{.len = 1}, {.len = 1}, {.len = 1}, {.len = 1},
				     {.len = 1}, {.len = 1}, {.len = 1}, {.len = 1}};
	(void)state;

	dl_coreset_set(&links[0], 1);
	f = dl_noc_fabric_create(3, 8, links);
	assert_non_null(f);
	assert_non_null(dl_noc_fabric_chan(f, 0, 1));
	assert_null(dl_noc_fabric_chan(f, 1, 0));
	assert_null(dl_noc_fabric_chan(f, 0, 2));
	assert_null(dl_noc_fabric_chan(f, 0, 3));
	assert_int_equal(dl_noc_fabric_words(f), 8);
	assert_non_null(dl_noc_fabric_region(f));
	e0 = dl_noc_ep_create(f, 0, &conf);
	e1 = dl_noc_ep_create(f, 1, &conf);
	assert_non_null(e0);
	assert_null(dl_noc_ep_create(f, 0, &conf)); /* one endpoint per core */
	assert_int_equal(errno, EBUSY);
	assert_null(dl_noc_ep_create(f, 3, &conf));
	assert_int_equal(errno, EINVAL);
	assert_int_equal(dl_msg_enc_close(w, 0, 1), 1);
	assert_int_equal(dl_noc_send(e1, 0, w, 1), -EHOSTUNREACH);
	assert_int_equal(dl_noc_send(e0, 2, w, 1), -EHOSTUNREACH);
	assert_int_equal(dl_noc_send(e0, 0, w, 1), -EHOSTUNREACH);
	assert_int_equal(dl_noc_send(e0, 999, w, 1), -EHOSTUNREACH);
	assert_int_equal(dl_noc_counters(e1)[DL_NOC_TX_NO_ROUTE], 1);
	assert_int_equal(dl_noc_counters(e0)[DL_NOC_TX_NO_ROUTE], 3);
	assert_int_equal(dl_noc_send(e0, 1, w, 2), -EINVAL); /* header says 1 */
	assert_int_equal(dl_msg_enc_send(w, 0, 1, refs, 8), 9);
	assert_int_equal(dl_noc_send(e0, 1, w, 9), -EMSGSIZE); /* 9 words, 8-word channel */
	assert_int_equal(dl_noc_counters(e0)[DL_NOC_TX_BAD_MSG], 2);
	assert_int_equal(dl_noc_counters(e0)[DL_NOC_TX_MSGS], 0);
	assert_int_equal(dl_noc_set_accept(e1, DL_MAX_CORES, DL_MSG_CLASS_ALL), -EINVAL);
	assert_int_equal(dl_noc_set_accept(e1, 0, 8), -EINVAL);
	dl_noc_ep_destroy(e0);
	dl_noc_ep_destroy(e1);
	dl_noc_fabric_destroy(f);
	assert_null(dl_noc_fabric_create(0, 8, NULL));
	assert_null(dl_noc_fabric_create(DL_MAX_CORES + 1, 8, NULL));
	assert_null(dl_noc_fabric_create(2, 12, NULL));
	dl_coreset_set(&links[0], 5); /* a core outside the fabric */
	assert_null(dl_noc_fabric_create(3, 8, links));
	assert_int_equal(errno, EINVAL);
}

/* An application channel may carry commands only; garbage is counted. */
static void test_ep_class_filter_and_decode_errors(void **state)
{
	struct dl_noc_fabric *f = dl_noc_fabric_create(3, 256, NULL);
	struct dl_noc_conf conf = {.no_stats = true};
	struct dl_noc_ep *app = dl_noc_ep_create(f, 0, &conf), *net = dl_noc_ep_create(f, 1, &conf);
	struct dl_noc_ep *net2 = dl_noc_ep_create(f, 2, &conf);
	const uint64_t *cn = dl_noc_counters(net);
	struct dl_rx_pkt pkt = {.data = (uint8_t *)&pkt, .len = 60, .region = 2};
	struct rx_log log = {0};
	uint64_t w[DL_MSG_MAX_WORDS];
	(void)state;

	assert_int_equal(dl_noc_set_accept(net, 0, DL_MSG_CLASS_COMMAND), 0);
	assert_int_equal(dl_noc_set_accept(net, 2, DL_MSG_CLASS_INTERNAL), 0);
	/* From the application: a handoff (refused), a command (delivered),
	 * an event (refused), then words that are no message at all. */
	assert_int_equal(dl_noc_send(app, 1, w, (unsigned)dl_msg_enc_pkt_handoff(w, 1, &pkt)), 0);
	assert_int_equal(dl_noc_send(app, 1, w, (unsigned)dl_msg_enc_recv_done(w, 1, 5, 1000)), 0);
	assert_int_equal(dl_noc_send(app, 1, w, (unsigned)dl_msg_enc_cleanup(w, 1, 5)), 0);
	w[0] = dl_msg_hdr(99, 2, 0, 0);
	w[1] = 0;
	assert_int_equal(dl_noc_send(app, 1, w, 2), 0); /* framing is all the sender checks */
	w[0] = dl_msg_hdr(DL_MSG_SHUTDOWN, 2, 1, 5);
	w[1] = 7; /* invalid how */
	assert_int_equal(dl_noc_send(app, 1, w, 2), 0);
	/* From the other net core: the handoff is fine. */
	assert_int_equal(dl_noc_send(net2, 1, w, (unsigned)dl_msg_enc_pkt_handoff(w, 2, &pkt)), 0);
	dl_noc_flush(app);
	dl_noc_flush(net2);
	assert_int_equal(dl_noc_poll(net, 64, ep_record, &log), 6);
	assert_int_equal(log.n, 2);
	assert_int_equal(log.src[0] + log.src[1], 2); /* one from each source */
	for (unsigned i = 0; i < 2; i++) {
		if (log.src[i] == 0) {
			assert_int_equal(log.m[i].type, DL_MSG_RECV_DONE);
			assert_int_equal(log.m[i].u.recv_done.bytes, 1000);
		} else {
			assert_int_equal(log.m[i].type, DL_MSG_PKT_HANDOFF);
			assert_ptr_equal(log.m[i].u.handoff.data, &pkt);
		}
	}
	assert_int_equal(cn[DL_NOC_RX_REJECTED], 2);
	assert_int_equal(cn[DL_NOC_RX_DECODE_ERR], 2);
	assert_int_equal(cn[DL_NOC_RX_MSGS], 2);
	dl_noc_ep_destroy(app);
	dl_noc_ep_destroy(net);
	dl_noc_ep_destroy(net2);
	dl_noc_fabric_destroy(f);
}

/* A corrupted incoming channel is isolated: counted, skipped, others flow. */
static void test_ep_broken_channel_isolated(void **state)
{
	struct dl_noc_fabric *f = dl_noc_fabric_create(3, 64, NULL);
	struct dl_noc_conf conf = {.no_stats = true};
	struct dl_noc_ep *e0 = dl_noc_ep_create(f, 0, &conf), *e1 = dl_noc_ep_create(f, 1, &conf);
	struct dl_noc_ep *e2 = dl_noc_ep_create(f, 2, &conf);
	struct dl_chan_layout l;
	struct rx_log log = {0};
	uint64_t w[4];
	(void)state;

	assert_int_equal(dl_chan_layout(64, &l), 0);
	/* The channel 0 -> 1 gets a header announcing more than a message can. */
	uint64_t *slot = (uint64_t *)((uint8_t *)dl_noc_fabric_chan(f, 0, 1) + l.slots_off);
	assert_int_equal(*slot, 0);
	*slot = dl_msg_hdr(DL_MSG_CONNECTED, DL_MSG_MAX_WORDS + 1, 0, 0);
	assert_int_equal(dl_noc_send(e2, 1, w, seq_msg(w, 42)), 0);
	dl_noc_flush(e2);
	assert_int_equal(dl_noc_poll(e1, 64, ep_record, &log), 1);
	assert_int_equal(log.m[0].u.connected.cookie, 42);
	assert_int_equal(dl_noc_counters(e1)[DL_NOC_RX_CHAN_BROKEN], 1);
	assert_int_equal(dl_noc_poll(e1, 64, ep_record, &log), 0);
	assert_int_equal(dl_noc_counters(e1)[DL_NOC_RX_CHAN_BROKEN], 1);
	dl_noc_ep_destroy(e0);
	dl_noc_ep_destroy(e1);
	dl_noc_ep_destroy(e2);
	dl_noc_fabric_destroy(f);
}

/* Channels go on their consumers' NUMA nodes (one node here: the binding
 * is still made and shows in /proc/self/numa_maps). */
static void test_fabric_placed_on_consumers_nodes(void **state)
{
	struct dl_noc_fabric *f = dl_noc_fabric_create(3, 256, NULL);
	const int node_of[3] = {0, -1, 0};
	char line[1024];
	(void)state;

	assert_non_null(f);
	if (!dl_numa_available()) {
		dl_noc_fabric_destroy(f);
		skip();
	}
	assert_int_equal(dl_noc_fabric_place(f, node_of), 0);
	/* Into core 0 and core 2: bound; into core 1: left alone. */
	assert_int_equal(numa_maps_line(dl_noc_fabric_chan(f, 1, 0), line, sizeof(line)), 0);
	assert_non_null(strstr(line, "bind:0"));
	assert_int_equal(numa_maps_line(dl_noc_fabric_chan(f, 0, 2), line, sizeof(line)), 0);
	assert_non_null(strstr(line, "bind:0"));
	assert_int_equal(numa_maps_line(dl_noc_fabric_chan(f, 0, 1), line, sizeof(line)), 0);
	assert_null(strstr(line, "bind:"));
	dl_noc_fabric_destroy(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fabric_placed_on_consumers_nodes),
	    cmocka_unit_test(test_mailbox_add_checks),
	    cmocka_unit_test(test_mailbox_fairness),
	    cmocka_unit_test(test_mailbox_budget_and_resume),
	    cmocka_unit_test(test_ep_send_visible_at_once),
	    cmocka_unit_test(test_ep_overflow_order),
	    cmocka_unit_test(test_ep_overflow_many_chunks),
	    cmocka_unit_test(test_ep_nomem_is_reported),
	    cmocka_unit_test(test_ep_refusals),
	    cmocka_unit_test(test_ep_class_filter_and_decode_errors),
	    cmocka_unit_test(test_ep_broken_channel_isolated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
