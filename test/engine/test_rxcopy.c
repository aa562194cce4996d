/*
 * test_rxcopy.c - an application's RX region share (dl_rxcopy.h) against
 * a model: many connections copying and returning in interleaved order,
 * partial returns, exhaustion and recovery, drops; every byte read back
 * from the copies is the byte that was received, and no chunk is reused
 * while a byte in it is unreturned.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dl_rxcopy.h"

#define NCONN 40
#define SHARE (64 * (size_t)DL_RXC_CHUNK)

struct model {
	/* What each connection has been given and not returned, in order:
	 * the references of the copies and the original bytes. */
	struct {
		struct dl_rx_ref refs[4096];
		uint8_t want[4096][64];
		unsigned head, tail; /* refs[head..tail) unreturned */
		uint32_t head_off;   /* bytes of refs[head] returned */
	} c[NCONN];
};

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static struct dl_region *region(void)
{
	struct dl_region *r = dl_region_create("rxcopy-test", SHARE + 8192, 0);

	assert_non_null(r);
	return r;
}

static void test_pack_and_return(void **state)
{
	struct dl_region *r = region();
	uint64_t cnt[DL_RXC_NCNT] = {0};
	struct dl_rxcopy x;
	struct dl_rx_ref in[3], out[8];
	static uint8_t a[100], b[DL_RXC_CHUNK - 50], c[5], got[sizeof(a) + sizeof(b) + sizeof(c)];
	const uint32_t total = sizeof(got);
	(void)state;

	assert_int_equal(dl_rxcopy_init(&x, r, 4096, SHARE, cnt), 0);
	assert_int_equal(x.nchunks, 64);
	memset(a, 'a', sizeof(a));
	memset(b, 'b', sizeof(b));
	memset(c, 'c', sizeof(c));
	in[0] = (struct dl_rx_ref){a, sizeof(a), 0};
	in[1] = (struct dl_rx_ref){b, sizeof(b), 0};
	in[2] = (struct dl_rx_ref){c, sizeof(c), 0};
	/* a in a chunk; b does not fit the rest of it, so it starts a fresh
	 * one (never split: no more pieces than references); c follows b. */
	assert_true(dl_rxcopy_fits(&x, 7, in, 3));
	int k = dl_rxcopy_put(&x, 7, in, 3, out, 8);
	assert_int_equal(k, 2);
	assert_int_equal(out[0].len, sizeof(a));
	assert_int_equal(out[1].len, sizeof(b) + sizeof(c));
	uint32_t at = 0;
	for (int i = 0; i < k; i++) {
		assert_int_equal(out[i].region, r->id);
		assert_true(out[i].data >= r->base + 4096 &&
			    out[i].data + out[i].len <= r->base + 4096 + SHARE);
		memcpy(got + at, out[i].data, out[i].len);
		at += out[i].len;
	}
	assert_int_equal(at, total);
	assert_memory_equal(got, a, sizeof(a));
	assert_memory_equal(got + sizeof(a), b, sizeof(b));
	assert_memory_equal(got + sizeof(a) + sizeof(b), c, sizeof(c));
	assert_int_equal(x.nfree, 62);
	assert_int_equal(dl_rxcopy_unreturned(&x, 7), total);
	/* More than copied: refused, nothing changes. */
	assert_int_equal(dl_rxcopy_release(&x, 7, total + 1), -EINVAL);
	assert_int_equal(cnt[DL_RXC_BAD_RETURN], 1);
	assert_int_equal(dl_rxcopy_release(&x, 9, 1), -EINVAL); /* unknown connection */
	/* Return a (the first chunk's 100 bytes, not a whole chunk's worth):
	 * that chunk goes back. */
	assert_int_equal(dl_rxcopy_release(&x, 7, sizeof(a) - 1), 0);
	assert_int_equal(x.nfree, 62);
	assert_int_equal(dl_rxcopy_release(&x, 7, 1), 0);
	assert_int_equal(x.nfree, 63);
	/* The rest: the tail goes back too, nothing held when idle. */
	assert_int_equal(dl_rxcopy_release(&x, 7, total - sizeof(a)), 0);
	assert_int_equal(x.nfree, 64);
	assert_int_equal(x.nconns, 1); /* known until dropped */
	dl_rxcopy_drop(&x, 7);
	assert_int_equal(x.nconns, 0);
	assert_int_equal(cnt[DL_RXC_COPIED_BYTES], total);
	/* Tiny segments pack: 1000 one-byte copies take one chunk. */
	for (int i = 0; i < 1000; i++) {
		in[0] = (struct dl_rx_ref){a, 1, 0};
		assert_int_equal(dl_rxcopy_put(&x, 3, in, 1, out, 8), 1);
	}
	assert_int_equal(x.nfree, 63);
	dl_rxcopy_drop(&x, 3);
	assert_int_equal(x.nfree, 64);
	assert_int_equal(x.nconns, 0);
	dl_rxcopy_fini(&x);
	dl_region_destroy(r);
}

static void test_exhaustion_all_or_nothing(void **state)
{
	struct dl_region *r = region();
	uint64_t cnt[DL_RXC_NCNT] = {0};
	struct dl_rxcopy x;
	static uint8_t big[DL_RXC_CHUNK * 10];
	struct dl_rx_ref in = {big, sizeof(big), 0}, out[80];
	(void)state;

	assert_int_equal(dl_rxcopy_init(&x, r, 0, SHARE, cnt), 0);
	for (int i = 0; i < 6; i++)
		assert_true(dl_rxcopy_put(&x, (uint32_t)i, &in, 1, out, 80) > 0);
	assert_int_equal(x.nfree, 4);
	assert_false(dl_rxcopy_fits(&x, 99, &in, 1));
	assert_int_equal(dl_rxcopy_put(&x, 99, &in, 1, out, 80), -ENOBUFS);
	assert_int_equal(x.nfree, 4); /* nothing taken */
	assert_int_equal(dl_rxcopy_unreturned(&x, 99), 0);
	assert_int_equal(cnt[DL_RXC_NO_ROOM], 1);
	/* One connection returns: room again. */
	assert_int_equal(dl_rxcopy_release(&x, 2, sizeof(big)), 0);
	assert_true(dl_rxcopy_fits(&x, 99, &in, 1));
	/* Too many pieces for the caller's array: refused, nothing taken
	 * (a reference longer than a chunk is split, one piece per chunk,
	 * unless the chunks happen to be adjacent). */
	struct dl_rx_ref many[10];
	for (int i = 0; i < 10; i++)
		many[i] = (struct dl_rx_ref){big, DL_RXC_CHUNK - 1, 0};
	assert_int_equal(dl_rxcopy_put(&x, 98, many, 10, out, 3), -E2BIG);
	assert_int_equal(x.nfree, 14);
	assert_true(dl_rxcopy_put(&x, 99, &in, 1, out, 80) > 0);
	dl_rxcopy_fini(&x);
	dl_region_destroy(r);
}

/* Many connections, random sizes, interleaved partial returns, drops:
 * against a model of what each connection holds. */
static void test_interleaved_against_model(void **state)
{
	static struct model m;
	struct dl_region *r = region();
	uint64_t cnt[DL_RXC_NCNT] = {0};
	struct dl_rxcopy x;
	(void)state;

	memset(&m, 0, sizeof(m));
	assert_int_equal(dl_rxcopy_init(&x, r, 0, SHARE, cnt), 0);
	for (int step = 0; step < 200000; step++) {
		unsigned c = (unsigned)(next_rand() % NCONN);
		unsigned op = (unsigned)(next_rand() % 10);

		if (op < 5 && m.c[c].tail < 4096) { /* a copy of 1..3 pieces */
			uint8_t src[3][64];
			struct dl_rx_ref in[3], out[8];
			unsigned n = 1 + (unsigned)(next_rand() % 3);
			uint32_t bytes = 0;
			for (unsigned i = 0; i < n; i++) {
				uint32_t len = 1 + (uint32_t)(next_rand() % 64);
				for (uint32_t b = 0; b < len; b++)
					src[i][b] = (uint8_t)next_rand();
				in[i] = (struct dl_rx_ref){src[i], len, 0};
				bytes += len;
			}
			bool room = dl_rxcopy_fits(&x, c, in, n);
			int k = dl_rxcopy_put(&x, c, in, n, out, 8);
			if (!room) {
				assert_int_equal(k, -ENOBUFS);
				continue;
			}
			assert_true(k > 0);
			uint32_t copied = 0;
			for (int j = 0; j < k; j++)
				copied += out[j].len;
			assert_int_equal(copied, bytes);
			/* Record each input piece with where it went. */
			uint32_t at = 0;
			unsigned o = 0;
			uint32_t o_off = 0;
			for (unsigned i = 0; i < n; i++) {
				unsigned t = m.c[c].tail++;
				memcpy(m.c[c].want[t], src[i], in[i].len);
				/* The piece starts at out[o] + o_off (pieces are
				 * contiguous within an out reference). */
				m.c[c].refs[t] = (struct dl_rx_ref){(uint8_t *)out[o].data + o_off,
								    in[i].len, 0};
				/* A piece may cross into the next out reference:
				 * keep it as a split record. */
				uint32_t left = in[i].len;
				while (left > 0) {
					uint32_t here = out[o].len - o_off;
					uint32_t take = left < here ? left : here;
					left -= take;
					o_off += take;
					if (o_off == out[o].len) {
						o++;
						o_off = 0;
					}
				}
				at += in[i].len;
			}
			(void)at;
		} else if (op < 9 && m.c[c].head < m.c[c].tail) { /* a partial return */
			/* Check the oldest unreturned piece is intact (when not
			 * split across chunks), then return some bytes. */
			unsigned h = m.c[c].head;
			struct dl_rx_ref *p = &m.c[c].refs[h];
			uint32_t off = m.c[c].head_off;
			uint32_t len = p->len - off;
			if (((uintptr_t)(p->data - r->base) % DL_RXC_CHUNK) + p->len <=
			    DL_RXC_CHUNK)
				assert_memory_equal(p->data + off, m.c[c].want[h] + off, len);
			uint32_t give = 1 + (uint32_t)(next_rand() % len);
			assert_int_equal(dl_rxcopy_release(&x, c, give), 0);
			m.c[c].head_off += give;
			if (m.c[c].head_off == p->len) {
				m.c[c].head++;
				m.c[c].head_off = 0;
			}
		} else if (op == 9 && next_rand() % 50 == 0) { /* the connection dies */
			dl_rxcopy_drop(&x, c);
			m.c[c].head = m.c[c].tail = 0;
			m.c[c].head_off = 0;
		}
		if (m.c[c].head == m.c[c].tail) {
			m.c[c].head = m.c[c].tail = 0;
			m.c[c].head_off = 0;
		}
	}
	/* Everything still held is intact, then return it all. */
	for (unsigned c = 0; c < NCONN; c++) {
		uint64_t held = 0;
		for (unsigned h = m.c[c].head; h < m.c[c].tail; h++) {
			struct dl_rx_ref *p = &m.c[c].refs[h];
			uint32_t off = h == m.c[c].head ? m.c[c].head_off : 0;
			if (((uintptr_t)(p->data - r->base) % DL_RXC_CHUNK) + p->len <=
			    DL_RXC_CHUNK)
				assert_memory_equal(p->data + off, m.c[c].want[h] + off,
						    p->len - off);
			held += p->len - off;
		}
		assert_int_equal(dl_rxcopy_unreturned(&x, c), held);
		assert_int_equal(dl_rxcopy_release(&x, c, held), 0);
	}
	assert_int_equal(x.nfree, x.nchunks);
	for (unsigned c = 0; c < NCONN; c++)
		dl_rxcopy_drop(&x, c);
	assert_int_equal(x.nconns, 0);
	assert_int_equal(cnt[DL_RXC_BAD_RETURN], 0);
	dl_rxcopy_fini(&x);
	dl_region_destroy(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pack_and_return),
	    cmocka_unit_test(test_exhaustion_all_or_nothing),
	    cmocka_unit_test(test_interleaved_against_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
