/*
 * test_chan.c - the SPSC word channel: layout, credits and when the shared
 * head is re-read, wrap-around, batch send/receive with one publication
 * (in band: the batch's first header), size limits, detection of
 * impossible counters and headers, single-writer
 * pages (enforced with mprotect: a write to the other side's page would
 * crash the test), and a two-thread producer/consumer run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <pthread.h>
#include <sys/mman.h>
#include <cmocka.h>

#include "dl_chan.h"
#include "dl_msg.h"

struct chan_fixture {
	void *mem;
	size_t len;
	unsigned words;
	struct dl_chan_prod p;
	struct dl_chan_cons c;
};

static void fixture_open(struct chan_fixture *f, unsigned words)
{
	f->words = words;
	f->len = dl_chan_mem_size(words);
	assert_true(f->len > 0);
	f->mem = mmap(NULL, f->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(f->mem != MAP_FAILED);
	assert_int_equal(dl_chan_init(f->mem, words), 0);
	assert_int_equal(dl_chan_prod_init(&f->p, f->mem, words, NULL), 0);
	assert_int_equal(dl_chan_cons_init(&f->c, f->mem, words, NULL), 0);
}

static void fixture_close(struct chan_fixture *f)
{
	munmap(f->mem, f->len);
}

/* A message of @p n words: header, then words derived from @p seq. */
static void make_msg(uint64_t *w, unsigned n, uint64_t seq)
{
	w[0] = dl_msg_hdr(DL_MSG_SEND, n, 0, (uint32_t)seq);
	for (unsigned i = 1; i < n; i++)
		w[i] = seq * 1000 + i;
}

static void check_msg(const uint64_t *w, unsigned n, uint64_t seq)
{
	assert_int_equal(dl_msg_hdr_words(w[0]), n);
	assert_int_equal(dl_msg_hdr_conn(w[0]), (uint32_t)seq);
	for (unsigned i = 1; i < n; i++)
		assert_int_equal(w[i], seq * 1000 + i);
}

static void test_layout(void **state)
{
	struct dl_chan_layout l;
	(void)state;

	assert_int_equal(dl_chan_mem_size(0), 0);
	assert_int_equal(dl_chan_mem_size(4), 0);
	assert_int_equal(dl_chan_mem_size(12), 0);
	assert_int_equal(dl_chan_mem_size(DL_CHAN_MAX_WORDS * 2), 0);
	assert_int_equal(dl_chan_layout(7, &l), -EINVAL);
	for (unsigned words = DL_CHAN_MIN_WORDS; words <= 65536; words *= 2) {
		assert_int_equal(dl_chan_layout(words, &l), 0);
		assert_int_equal(l.prod_off % l.page, 0);
		assert_int_equal(l.cons_off % l.page, 0);
		assert_int_equal(l.prod_len % l.page, 0);
		assert_int_equal(l.cons_len % l.page, 0);
		/* Slots live in the producer area, after a control line. */
		assert_true(l.slots_off >= l.prod_off + DL_CHAN_LINE);
		assert_true(l.slots_off + words * 8 <= l.prod_off + l.prod_len);
		assert_true(l.cons_off >= l.prod_off + l.prod_len);
		assert_int_equal(l.total, l.cons_off + l.cons_len);
		assert_int_equal(dl_chan_mem_size(words), l.total);
	}
}

static void test_init_checks(void **state)
{
	struct chan_fixture f;
	struct dl_chan_prod p;
	struct dl_chan_cons c;
	(void)state;

	fixture_open(&f, 64);
	assert_int_equal(dl_chan_init((uint8_t *)f.mem + 64, 8), -EINVAL); /* unaligned */
	assert_int_equal(dl_chan_init(f.mem, 63), -EINVAL);
	assert_int_equal(dl_chan_init(NULL, 64), -EINVAL);
	assert_int_equal(dl_chan_prod_init(&p, f.mem, 128, NULL), -EINVAL); /* size mismatch */
	assert_int_equal(dl_chan_cons_init(&c, f.mem, 32, NULL), -EINVAL);
	memset(f.mem, 0, f.len); /* not initialised */
	assert_int_equal(dl_chan_prod_init(&p, f.mem, 64, NULL), -EINVAL);
	assert_int_equal(dl_chan_cons_init(&c, f.mem, 64, NULL), -EINVAL);
	fixture_close(&f);
}

/* Credits are cached: the shared head is read only when they run short.
 * One word of the ring stays free (the 0 after the last message). */
static void test_credits(void **state)
{
	struct chan_fixture f;
	uint64_t w[8], buf[64], seq = 0;
	(void)state;

	fixture_open(&f, 64);
	assert_int_equal(dl_chan_credits(&f.p), 63);
	for (; seq < 31; seq++) {
		make_msg(w, 2, seq);
		assert_int_equal(dl_chan_send(&f.p, w, 2), 0);
	}
	assert_int_equal(f.p.cnt[DL_CHAN_RELOADS], 0);
	assert_int_equal(dl_chan_credits(&f.p), 1);
	make_msg(w, 2, seq);
	assert_int_equal(dl_chan_send(&f.p, w, 2), -ENOBUFS);
	assert_int_equal(f.p.cnt[DL_CHAN_RELOADS], 1);
	/* The consumer frees 5 messages (10 words) with one head publication. */
	assert_int_equal(dl_chan_recv(&f.c, buf, 64, 5, NULL), 5);
	for (int i = 0; i < 5; i++)
		check_msg(&buf[2 * i], 2, (uint64_t)i);
	/* One reload buys 10 more credits: 5 sends, one re-read. */
	for (int i = 0; i < 5; i++, seq++) {
		make_msg(w, 2, seq);
		assert_int_equal(dl_chan_send(&f.p, w, 2), 0);
	}
	assert_int_equal(f.p.cnt[DL_CHAN_RELOADS], 2);
	assert_int_equal(dl_chan_send(&f.p, w, 2), -ENOBUFS);
	assert_int_equal(f.p.cnt[DL_CHAN_RELOADS], 3);
	/* A message bigger than the credits left is refused whole. */
	assert_int_equal(dl_chan_recv(&f.c, buf, 64, 1, NULL), 1);
	assert_int_equal(dl_chan_send(&f.p, (make_msg(w, 4, 99), w), 4), -ENOBUFS);
	assert_int_equal(dl_chan_credits(&f.p), 3);
	/* Everything arrives, in order (0..5 were taken above). */
	for (uint64_t i = 6; i < seq; i++) {
		assert_int_equal(dl_chan_recv(&f.c, buf, 64, 1, NULL), 1);
		check_msg(buf, 2, i);
	}
	assert_int_equal(dl_chan_recv(&f.c, buf, 64, 1, NULL), 0);
	assert_int_equal(f.p.cnt[DL_CHAN_BROKEN], 0);
	assert_int_equal(f.c.cnt[DL_CHAN_BROKEN], 0);
	fixture_close(&f);
}

/* Messages of every size wrap around a tiny ring many times, intact. */
static void test_wraparound(void **state)
{
	struct chan_fixture f;
	uint64_t w[8], buf[8];
	uint64_t sent = 0, got = 0;
	unsigned wrapped = 0;
	(void)state;

	fixture_open(&f, 8);
	for (int round = 0; round < 5000; round++) {
		unsigned n =
		    1 + (unsigned)(round * 5 % 7); /* 1..7: the largest an 8-word ring takes */
		unsigned pos = (unsigned)f.p.tail & 7;

		make_msg(w, n, sent);
		if (dl_chan_send(&f.p, w, n) == 0) {
			wrapped += pos + n > 8;
			sent++;
		}
		/* What ends the published messages is always a 0. */
		assert_int_equal(f.p.slots[f.p.tail & 7], 0);
		/* Drain every other round so the ring is sometimes full. */
		if (round % 2 == 1 || dl_chan_credits(&f.p) < 8) {
			unsigned nw;
			int k;

			while ((k = dl_chan_recv(&f.c, buf, 8, 1, &nw)) > 0) {
				assert_int_equal(k, 1);
				check_msg(buf, nw, got);
				got++;
			}
			assert_int_equal(k, 0);
		}
	}
	assert_true(sent > 1000);
	assert_true(wrapped > 100);
	assert_int_equal(got, sent);
	fixture_close(&f);
}

static void test_batch(void **state)
{
	struct chan_fixture f;
	uint64_t w[8], buf[64], bulk[32];
	unsigned nw;
	(void)state;

	fixture_open(&f, 64);
	/* Five writes, nothing visible before the single publication. */
	for (int i = 0; i < 5; i++) {
		make_msg(w, 3, (uint64_t)i);
		assert_int_equal(dl_chan_write(&f.p, w, 3), 0);
	}
	assert_int_equal(f.p.slots[0], 0); /* the first header is held back */
	assert_int_equal(dl_chan_recv(&f.c, buf, 64, 32, NULL), 0);
	dl_chan_publish(&f.p);
	assert_int_equal(dl_msg_hdr_words(f.p.slots[0]), 3);
	assert_int_equal(f.p.slots[15], 0); /* the 0 after the last one */
	/* Receive: limited by max_msgs, then by room; head published per batch. */
	assert_int_equal(dl_chan_recv(&f.c, buf, 64, 2, &nw), 2);
	assert_int_equal(nw, 6);
	assert_int_equal(*f.c.head_shared, 6);
	assert_int_equal(dl_chan_recv(&f.c, buf, 7, 32, &nw), 2); /* 7 words: 2 messages fit */
	assert_int_equal(nw, 6);
	check_msg(buf, 3, 2);
	check_msg(buf + 3, 3, 3);
	assert_int_equal(dl_chan_recv(&f.c, buf, 2, 32, &nw), -EMSGSIZE); /* does not fit */
	assert_int_equal(*f.c.head_shared, 12);
	assert_int_equal(dl_chan_recv(&f.c, buf, 64, 32, &nw), 1);
	check_msg(buf, 3, 4);
	/* Bulk: several messages, one publication, all or nothing. */
	make_msg(bulk, 4, 10);
	make_msg(bulk + 4, 1, 11);
	make_msg(bulk + 5, 8, 12);
	assert_int_equal(dl_chan_send_bulk(&f.p, bulk, 13), 3);
	assert_int_equal(dl_chan_recv(&f.c, buf, 64, 32, &nw), 3);
	assert_int_equal(nw, 13);
	check_msg(buf, 4, 10);
	check_msg(buf + 4, 1, 11);
	check_msg(buf + 5, 8, 12);
	assert_int_equal(dl_chan_send_bulk(&f.p, bulk, 12), -EINVAL); /* framing */
	bulk[4] = 0;
	assert_int_equal(dl_chan_send_bulk(&f.p, bulk, 13), -EINVAL); /* zero-word header */
	make_msg(bulk + 4, 1, 11);
	for (int i = 0; i < 4; i++)
		assert_int_equal(dl_chan_send_bulk(&f.p, bulk, 13), 3);
	uint64_t before = f.p.tail;
	assert_int_equal(dl_chan_send_bulk(&f.p, bulk, 13), -ENOBUFS);
	assert_int_equal(f.p.tail, before); /* nothing written */
	fixture_close(&f);
}

/* A consumer behind a backlog copies what it takes, not the backlog: a
 * receive of one message leaves the caller's buffer untouched past it
 * (it once copied every published word, so each call cost O(backlog)). */
static void test_recv_copies_what_it_takes(void **state)
{
	struct chan_fixture f;
	uint64_t w[8], buf[1024];
	unsigned nw;
	(void)state;

	fixture_open(&f, 1024);
	for (int i = 0; i < 200; i++) {
		make_msg(w, 2 + (unsigned)(i % 3 == 2) * 3, (uint64_t)i); /* sizes 2, 2, 5, ... */
		assert_int_equal(dl_chan_write(&f.p, w, dl_msg_hdr_words(w[0])), 0);
	}
	dl_chan_publish(&f.p);
	for (unsigned i = 0; i < 1024; i++)
		buf[i] = UINT64_C(0xdead);
	assert_int_equal(dl_chan_recv(&f.c, buf, 1024, 1, &nw), 1);
	assert_int_equal(nw, 2);
	check_msg(buf, 2, 0);
	for (unsigned i = 2; i < 1024; i++)
		assert_int_equal(buf[i], UINT64_C(0xdead));
	/* Two more: a 2-word one, then a longer one than the hint said. */
	assert_int_equal(dl_chan_recv(&f.c, buf, 1024, 2, &nw), 2);
	assert_int_equal(nw, 7);
	check_msg(buf, 2, 1);
	check_msg(buf + 2, 5, 2);
	for (unsigned i = 7; i < 1024; i++)
		assert_int_equal(buf[i], UINT64_C(0xdead));
	/* The rest, in order, whatever the batch. */
	uint64_t seq = 3;
	int got;
	while ((got = dl_chan_recv(&f.c, buf, 1024, 7, &nw)) > 0) {
		unsigned off = 0;
		for (int k = 0; k < got; k++) {
			unsigned n = dl_msg_hdr_words(buf[off]);
			assert_int_equal(n, seq % 3 == 2 ? 5 : 2);
			check_msg(buf + off, n, seq++);
			off += n;
		}
		assert_int_equal(off, nw);
	}
	assert_int_equal(got, 0);
	assert_int_equal(seq, 200);
	fixture_close(&f);
}

/* Regression: a receive after a partial one takes the rest and stops
 * cleanly at the 0 after the last message (an older version once parsed a
 * stale word of the caller's buffer and declared the channel broken).
 * Also: messages of mixed sizes after a same-size run. */
static void test_recv_known_words_then_empty(void **state)
{
	struct chan_fixture f;
	uint64_t w[8], buf[64];
	unsigned nw;
	(void)state;

	fixture_open(&f, 64);
	for (int i = 0; i < 4; i++) {
		make_msg(w, 3, (uint64_t)i);
		assert_int_equal(dl_chan_send(&f.p, w, 3), 0);
	}
	assert_int_equal(dl_chan_recv(&f.c, buf, 64, 1, NULL), 1);
	memset(buf, 0x5a, sizeof(buf)); /* stale garbage where a header would go */
	assert_int_equal(dl_chan_recv(&f.c, buf, 64, 32, &nw), 3);
	assert_int_equal(nw, 9);
	for (int i = 0; i < 3; i++)
		check_msg(buf + 3 * i, 3, (uint64_t)(i + 1));
	assert_false(f.c.broken);
	/* Same-size run, then other sizes, in one receive. */
	uint64_t seq = 10, sizes[] = {2, 2, 2, 5, 1, 2, 2, 7};
	for (unsigned i = 0; i < 8; i++) {
		make_msg(w, (unsigned)sizes[i], seq + i);
		assert_int_equal(dl_chan_write(&f.p, w, (unsigned)sizes[i]), 0);
	}
	dl_chan_publish(&f.p);
	assert_int_equal(dl_chan_recv(&f.c, buf, 64, 32, &nw), 8);
	assert_int_equal(nw, 23);
	for (unsigned i = 0, off = 0; i < 8; off += (unsigned)sizes[i], i++)
		check_msg(buf + off, (unsigned)sizes[i], seq + i);
	assert_int_equal(dl_chan_recv(&f.c, buf, 64, 32, &nw), 0);
	assert_false(f.c.broken);
	fixture_close(&f);
}

static void test_sizes(void **state)
{
	struct chan_fixture f;
	uint64_t w[DL_MSG_MAX_WORDS + 2];
	(void)state;

	fixture_open(&f, 8);
	make_msg(w, 9, 1);
	assert_int_equal(dl_chan_send(&f.p, w, 9), -EMSGSIZE);
	make_msg(w, 8, 1);
	assert_int_equal(dl_chan_send(&f.p, w, 8), -EMSGSIZE); /* one word stays free */
	assert_int_equal(dl_chan_send_bulk(&f.p, w, 8), -EMSGSIZE);
	make_msg(w, 7, 1);
	assert_int_equal(dl_chan_send(&f.p, w, 7), 0);	     /* the largest */
	assert_int_equal(dl_chan_send(&f.p, w, 6), -EINVAL); /* header says 7 */
	assert_int_equal(dl_chan_send(&f.p, w, 0), -EINVAL);
	fixture_close(&f);

	fixture_open(&f, 256);
	make_msg(w, DL_MSG_MAX_WORDS, 1);
	assert_int_equal(dl_chan_send(&f.p, w, DL_MSG_MAX_WORDS), 0);
	/* 127 words cannot be a message even in a big channel. */
	make_msg(w, DL_MSG_MAX_WORDS + 1, 1);
	assert_int_equal(dl_chan_send(&f.p, w, DL_MSG_MAX_WORDS + 1), -EMSGSIZE);
	assert_int_equal(dl_chan_send_bulk(&f.p, w, DL_MSG_MAX_WORDS + 1), -EMSGSIZE);
	fixture_close(&f);
}

/* The consumer refuses impossible headers, once and for all; it never
 * waits on (nor believes) the producer's tail counter. */
static void test_consumer_detects_broken(void **state)
{
	struct chan_fixture f;
	uint64_t w[8], buf[256];
	(void)state;

	/* nothing but a header publishes */
	fixture_open(&f, 16);
	assert_int_equal(dl_chan_recv(&f.c, buf, 256, 8, NULL), 0);
	assert_false(dl_chan_cons_ready(&f.c));
	make_msg(w, 3, 5);
	assert_int_equal(dl_chan_send(&f.p, w, 3), 0);
	assert_true(dl_chan_cons_ready(&f.c));
	assert_int_equal(dl_chan_recv(&f.c, buf, 256, 8, NULL), 1);
	check_msg(buf, 3, 5);
	assert_int_equal(f.c.cnt[DL_CHAN_BROKEN], 0);
	fixture_close(&f);

	/* header announcing 0 words */
	fixture_open(&f, 16);
	f.p.slots[0] = dl_msg_hdr(DL_MSG_SEND, 0, 0, 1);
	assert_true(dl_chan_cons_ready(&f.c));
	assert_int_equal(dl_chan_recv(&f.c, buf, 256, 8, NULL), -EPIPE);
	assert_int_equal(f.c.cnt[DL_CHAN_BROKEN], 1);
	f.p.slots[0] = 0;
	assert_int_equal(dl_chan_recv(&f.c, buf, 256, 8, NULL), -EPIPE); /* sticky */
	assert_int_equal(f.c.cnt[DL_CHAN_BROKEN], 1);			 /* counted once */
	assert_true(dl_chan_cons_ready(&f.c)); /* a poll sees it, and skips it */
	fixture_close(&f);

	/* header announcing more than a message can be */
	fixture_open(&f, 256);
	f.p.slots[0] = dl_msg_hdr(DL_MSG_SEND, DL_MSG_MAX_WORDS + 1, 0, 0);
	assert_int_equal(dl_chan_recv(&f.c, buf, 256, 8, NULL), -EPIPE);
	fixture_close(&f);

	/* header announcing more than the credits could ever allow */
	fixture_open(&f, 16);
	f.p.slots[0] = dl_msg_hdr(DL_MSG_SEND, 16, 0, 0);
	assert_int_equal(dl_chan_recv(&f.c, buf, 256, 8, NULL), -EPIPE);
	fixture_close(&f);

	/* a batch reaching past the credits: the good message is delivered */
	fixture_open(&f, 16);
	f.p.slots[0] = dl_msg_hdr(DL_MSG_SEND, 4, 0, 0);
	f.p.slots[4] = dl_msg_hdr(DL_MSG_SEND, 12, 0, 0); /* 4 + 12 > 15 */
	assert_int_equal(dl_chan_recv(&f.c, buf, 256, 8, NULL), 1);
	assert_int_equal(dl_chan_recv(&f.c, buf, 256, 8, NULL), -EPIPE);
	fixture_close(&f);

	/* a good message before the bad one is still delivered */
	fixture_open(&f, 16);
	make_msg(w, 2, 7);
	assert_int_equal(dl_chan_send(&f.p, w, 2), 0);
	assert_int_equal(f.p.slots[2], 0); /* the 0 after it */
	f.p.slots[2] = dl_msg_hdr(DL_MSG_SEND, 0, 0, 9);
	assert_int_equal(dl_chan_recv(&f.c, buf, 256, 8, NULL), 1);
	check_msg(buf, 2, 7);
	assert_int_equal(dl_chan_recv(&f.c, buf, 256, 8, NULL), -EPIPE);
	fixture_close(&f);

	/* a producer attaching to a ring that holds no valid message chain */
	fixture_open(&f, 16);
	f.p.slots[0] = 1; /* a header of 0 words */
	assert_int_equal(dl_chan_prod_init(&f.p, f.mem, 16, NULL), -EINVAL);
	f.p.slots[0] = dl_msg_hdr(DL_MSG_SEND, 9, 0, 0); /* then 9 + 9 > 15 */
	f.p.slots[9] = dl_msg_hdr(DL_MSG_SEND, 9, 0, 0);
	assert_int_equal(dl_chan_prod_init(&f.p, f.mem, 16, NULL), -EINVAL);
	fixture_close(&f);
}

/* A producer that attaches again finds the tail in band (the 0 after the
 * messages not yet read) and carries on: nothing lost, nothing repeated. */
static void test_producer_resumes(void **state)
{
	struct chan_fixture f;
	uint64_t w[8], buf[64];
	(void)state;

	fixture_open(&f, 16);
	for (uint64_t i = 0; i < 6; i++) { /* wrap the 16-word ring once */
		make_msg(w, 3, i);
		assert_int_equal(dl_chan_send(&f.p, w, 3), 0);
		assert_int_equal(dl_chan_recv(&f.c, buf, 64, 1, NULL), 1);
	}
	make_msg(w, 2, 6);
	assert_int_equal(dl_chan_send(&f.p, w, 2), 0);
	make_msg(w, 4, 7);
	assert_int_equal(dl_chan_send(&f.p, w, 4), 0);
	assert_int_equal(dl_chan_prod_init(&f.p, f.mem, 16, NULL), 0); /* attach again */
	assert_int_equal(f.p.tail, 18 + 6);
	make_msg(w, 3, 8);
	assert_int_equal(dl_chan_send(&f.p, w, 3), 0);
	assert_int_equal(dl_chan_recv(&f.c, buf, 64, 8, NULL), 3);
	check_msg(buf, 2, 6);
	check_msg(buf + 2, 4, 7);
	check_msg(buf + 6, 3, 8);
	assert_int_equal(dl_chan_recv(&f.c, buf, 64, 8, NULL), 0);
	fixture_close(&f);
}

/*
 * The line claim: after a publication shorter than a line the producer
 * stores a 0 into the first word of the next line (free, so nothing there
 * may be junk the consumer would read), and after a longer one it leaves
 * the ring alone.
 */
static void test_line_claim(void **state)
{
	const uint64_t junk = 0xa5a5a5a5a5a5a5a5ull;
	struct chan_fixture f;
	uint64_t w[16], buf[64], *slots;
	(void)state;

	fixture_open(&f, 64);
	slots = f.p.slots;
	for (unsigned i = 1; i < 64; i++) /* free words: anything */
		slots[i] = junk;
	make_msg(w, 3, 0); /* [0, 3): claims 8 */
	assert_int_equal(dl_chan_reserve(&f.p, 3), 0);
	dl_chan_put_now(&f.p, w, 3);
	assert_int_equal(slots[3], 0);
	assert_int_equal(slots[8], 0);
	assert_int_equal(slots[9], junk);
	make_msg(w, 7, 1); /* [3, 10) through dl_chan_publish(): claims 16 */
	assert_int_equal(dl_chan_send(&f.p, w, 7), 0);
	assert_int_equal(slots[16], 0);
	assert_int_equal(slots[17], junk);
	make_msg(w, 5, 2); /* [10, 20) in one publication of 10 words: no claim */
	make_msg(w + 5, 5, 3);
	assert_int_equal(dl_chan_send_bulk(&f.p, w, 10), 2);
	assert_int_equal(slots[20], 0);
	assert_int_equal(slots[24], junk);
	make_msg(w, 4, 4); /* [20, 24): ends where no claim put a 0 (slot 24: junk) */
	assert_int_equal(dl_chan_reserve(&f.p, 4), 0);
	dl_chan_put_now(&f.p, w, 4);
	assert_int_equal(slots[24], 0);
	assert_int_equal(slots[32], 0); /* its claim */
	slots[33] = 0; /* (a word the next message covers: the claim test below) */
	make_msg(w, 8, 5); /* [24, 32): ends on the claimed 0, which stays */
	assert_int_equal(dl_chan_reserve(&f.p, 8), 0);
	dl_chan_put_now(&f.p, w, 8);
	assert_int_equal(slots[32], 0);
	assert_int_equal(slots[40], 0);
	assert_int_equal(dl_chan_recv(&f.c, buf, 64, 8, NULL), 6);
	check_msg(buf, 3, 0);
	check_msg(buf + 3, 7, 1);
	check_msg(buf + 10, 5, 2);
	check_msg(buf + 15, 5, 3);
	check_msg(buf + 20, 4, 4);
	check_msg(buf + 24, 8, 5);
	assert_int_equal(dl_chan_recv(&f.c, buf, 64, 8, NULL), 0);
	assert_int_equal(f.c.own_cnt[DL_CHAN_BROKEN], 0);
	fixture_close(&f);
}

/* Size of message number @p seq in test_line_claim_within_credits(). */
static unsigned claim_test_size(uint64_t seq, unsigned maxn)
{
	return 1 + (unsigned)(seq * 5 % maxn);
}

/*
 * The claim never reaches a word the consumer has not read, and a message
 * that ends where a claim put its 0 finds it there: rings whose free words
 * start as junk (a missing 0 would read as a header), filled to the last
 * credit with messages of 1..7 words through the immediate path, one-message
 * publications and two-message batches (which claim nothing), drained a few
 * messages at a time; every message arrives intact.
 */
static void test_line_claim_within_credits(void **state)
{
	static const unsigned caps[] = {8, 16, 32, 64};
	uint64_t w[16], buf[64];
	(void)state;

	for (unsigned ci = 0; ci < 4; ci++) {
		struct chan_fixture f;
		uint64_t sent = 0, got = 0;
		unsigned maxn = caps[ci] - 1 < 7 ? caps[ci] - 1 : 7;

		fixture_open(&f, caps[ci]);
		for (unsigned i = 1; i < caps[ci]; i++)
			f.p.slots[i] = 0xa5a5a5a5a5a5a5a5ull;
		for (unsigned round = 0; round < 3000; round++) {
			for (;;) { /* fill until no credits for the next one */
				unsigned n = claim_test_size(sent, maxn);
				unsigned n2 = claim_test_size(sent + 1, maxn);

				make_msg(w, n, sent);
				if (dl_chan_reserve(&f.p, n) != 0)
					break;
				if (sent % 3 == 2 && dl_chan_reserve(&f.p, n + n2) == 0) {
					make_msg(w + n, n2, sent + 1);
					assert_int_equal(dl_chan_send_bulk(&f.p, w, n + n2), 2);
					sent += 2;
					continue;
				}
				if (sent % 3 == 1)
					dl_chan_put_now(&f.p, w, n);
				else
					assert_int_equal(dl_chan_send(&f.p, w, n), 0);
				sent++;
			}
			for (unsigned k = 0; k <= round % 4; k++) { /* drain some */
				int r = dl_chan_recv(&f.c, buf, 64, 1, NULL);

				assert_true(r >= 0);
				if (r == 0)
					break;
				check_msg(buf, claim_test_size(got, maxn), got);
				got++;
			}
		}
		while (dl_chan_recv(&f.c, buf, 64, 1, NULL) == 1) {
			check_msg(buf, claim_test_size(got, maxn), got);
			got++;
		}
		assert_int_equal(got, sent);
		assert_true(sent > 3000);
		assert_int_equal(f.c.own_cnt[DL_CHAN_BROKEN], 0);
		fixture_close(&f);
	}
}

/* The producer refuses a head that goes back or passes what it published. */
static void test_producer_detects_broken(void **state)
{
	struct chan_fixture f;
	uint64_t w[8], buf[64];
	uint64_t *head;
	(void)state;

	fixture_open(&f, 8);
	head = (uint64_t *)f.p.head_shared;
	make_msg(w, 3, 1);
	assert_int_equal(dl_chan_send(&f.p, w, 3), 0);
	assert_int_equal(dl_chan_send(&f.p, w, 3), 0);
	*head = 7; /* beyond what was published (6) */
	assert_int_equal(dl_chan_send(&f.p, w, 3), -EPIPE);
	assert_int_equal(f.p.cnt[DL_CHAN_BROKEN], 1);
	assert_int_equal(dl_chan_send(&f.p, w, 1), -EINVAL); /* checks come first */
	make_msg(w, 1, 1);
	assert_int_equal(dl_chan_send(&f.p, w, 1), -EPIPE); /* sticky, even with credits */
	assert_int_equal(dl_chan_send_bulk(&f.p, w, 1), -EPIPE);
	assert_int_equal(f.p.cnt[DL_CHAN_BROKEN], 1);
	fixture_close(&f);

	fixture_open(&f, 8);
	head = (uint64_t *)f.p.head_shared;
	make_msg(w, 3, 1);
	assert_int_equal(dl_chan_send(&f.p, w, 3), 0);
	assert_int_equal(dl_chan_send(&f.p, w, 3), 0);
	assert_int_equal(dl_chan_recv(&f.c, buf, 64, 2, NULL), 2);
	assert_int_equal(dl_chan_send(&f.p, w, 3), 0); /* reload: head 6 */
	*head = 4;				       /* backwards */
	assert_int_equal(dl_chan_send(&f.p, w, 3), 0); /* cached credits: not looked at */
	assert_int_equal(dl_chan_send(&f.p, w, 3), -EPIPE);
	fixture_close(&f);
}

/* Each side writes only its own area: the other one is made read-only. */
static void test_single_writer_pages(void **state)
{
	struct dl_chan_layout l;
	struct chan_fixture f;
	uint64_t w[8], buf[64];
	uint8_t *base;
	(void)state;

	fixture_open(&f, 64);
	assert_int_equal(dl_chan_layout(64, &l), 0);
	base = f.mem;
	for (int round = 0; round < 200; round++) {
		/* Producer phase: the consumer area is read-only. */
		assert_int_equal(mprotect(base + l.cons_off, l.cons_len, PROT_READ), 0);
		for (int i = 0; i < 5; i++) {
			make_msg(w, 5, (uint64_t)(round * 5 + i));
			int rc = dl_chan_send(&f.p, w, 5);
			assert_true(rc == 0 || rc == -ENOBUFS);
		}
		assert_int_equal(mprotect(base + l.cons_off, l.cons_len, PROT_READ | PROT_WRITE),
				 0);
		/* Consumer phase: the producer area is read-only. */
		assert_int_equal(mprotect(base + l.prod_off, l.prod_len, PROT_READ), 0);
		while (dl_chan_recv(&f.c, buf, 64, 4, NULL) > 0)
			;
		assert_int_equal(mprotect(base + l.prod_off, l.prod_len, PROT_READ | PROT_WRITE),
				 0);
	}
	assert_true(f.p.cnt[DL_CHAN_RELOADS] > 0);
	fixture_close(&f);
}

#define THREAD_MSGS 300000

static void *producer_thread(void *arg)
{
	struct dl_chan_prod *p = arg;
	uint64_t w[8];

	for (uint64_t seq = 0; seq < THREAD_MSGS;) {
		unsigned n = 1 + (unsigned)(seq * 5 % 8);

		make_msg(w, n, seq);
		if (dl_chan_write(p, w, n) == 0) {
			seq++;
			if (seq % 3 == 0)
				dl_chan_publish(p);
		} else {
			dl_chan_publish(p);
			sched_yield();
		}
	}
	dl_chan_publish(p);
	return NULL;
}

/* A real producer thread against a consumer, tiny ring, every size. */
static void test_two_threads(void **state)
{
	struct chan_fixture f;
	uint64_t buf[64], seq = 0;
	pthread_t th;
	(void)state;

	fixture_open(&f, 16);
	assert_int_equal(pthread_create(&th, NULL, producer_thread, &f.p), 0);
	while (seq < THREAD_MSGS) {
		unsigned nw, off = 0;
		int k = dl_chan_recv(&f.c, buf, 64, 4, &nw);

		assert_true(k >= 0);
		if (k == 0) {
			sched_yield();
			continue;
		}
		for (int i = 0; i < k; i++) {
			unsigned n = dl_msg_hdr_words(buf[off]);

			assert_int_equal(n, 1 + (unsigned)(seq * 5 % 8));
			check_msg(buf + off, n, seq);
			off += n;
			seq++;
		}
		assert_int_equal(off, nw);
	}
	pthread_join(th, NULL);
	assert_int_equal(dl_chan_recv(&f.c, buf, 64, 4, NULL), 0);
	assert_int_equal(f.c.cnt[DL_CHAN_BROKEN], 0);
	assert_int_equal(f.p.cnt[DL_CHAN_BROKEN], 0);
	fixture_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_layout),
	    cmocka_unit_test(test_init_checks),
	    cmocka_unit_test(test_credits),
	    cmocka_unit_test(test_recv_copies_what_it_takes),
	    cmocka_unit_test(test_wraparound),
	    cmocka_unit_test(test_batch),
	    cmocka_unit_test(test_recv_known_words_then_empty),
	    cmocka_unit_test(test_sizes),
	    cmocka_unit_test(test_consumer_detects_broken),
	    cmocka_unit_test(test_producer_detects_broken),
	    cmocka_unit_test(test_producer_resumes),
	    cmocka_unit_test(test_line_claim),
	    cmocka_unit_test(test_line_claim_within_credits),
	    cmocka_unit_test(test_single_writer_pages),
	    cmocka_unit_test(test_two_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
