/*
 * test_noc_attach.c - NoC fabrics shared between address spaces
 * (dl_noc_fabric_create_in / _attach / _size / _chan_offset), the
 * handler of dropped messages, and the page protection an attached
 * application gets: its own producer areas and consumer pages writable,
 * the service's side read-only (a write there is a SIGSEGV, checked in a
 * child process).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dl_ctl.h"
#include "dl_engine.h"
#include "dl_noc.h"

#define WORDS 256u
#define NNET  2u
#define NAPP  2u

struct side {
	struct dl_region *r; /* service: the region it made */
	uint8_t *map;	     /* application: its own mapping */
	size_t len;
	struct dl_noc_fabric *svc, *app;
	struct dl_coreset links[DL_MAX_CORES];
};

static void make(struct side *s)
{
	memset(s, 0, sizeof(*s));
	dl_engine_slot_links(NNET, NAPP, s->links);
	s->len = dl_noc_fabric_size(NNET + NAPP, WORDS, s->links);
	assert_true(s->len > 0);
	s->r = dl_region_create("test-fab", s->len, DL_REGION_SHARED);
	assert_non_null(s->r);
	s->svc = dl_noc_fabric_create_in(s->r, NNET + NAPP, WORDS, s->links);
	assert_non_null(s->svc);
	/* The application maps the same memfd at another address. */
	s->map = mmap(NULL, s->len, PROT_READ | PROT_WRITE, MAP_SHARED, s->r->fd, 0);
	assert_true(s->map != MAP_FAILED);
	s->app = dl_noc_fabric_attach(s->map, s->len, NNET + NAPP, WORDS, s->links);
	assert_non_null(s->app);
}

static void unmake(struct side *s)
{
	dl_noc_fabric_destroy(s->app);
	munmap(s->map, s->len);
	dl_noc_fabric_destroy(s->svc); /* not the region: the caller's */
	dl_region_destroy(s->r);
}

static void test_links_are_bipartite(void **state)
{
	struct dl_coreset l[4];

	(void)state;
	dl_engine_slot_links(2, 2, l);
	for (unsigned s = 0; s < 4; s++) {
		assert_int_equal(dl_coreset_count(&l[s]), 2);
		for (unsigned d = 0; d < 4; d++) /* every net core with every app core */
			assert_int_equal(dl_coreset_has(&l[s], d), (s < 2) != (d < 2));
	}
}

static void test_same_offsets_both_sides(void **state)
{
	struct side s;
	size_t a, b;

	(void)state;
	make(&s);
	for (unsigned x = 0; x < NNET + NAPP; x++) {
		for (unsigned y = 0; y < NNET + NAPP; y++) {
			int ra = dl_noc_fabric_chan_offset(s.svc, x, y, &a);
			int rb = dl_noc_fabric_chan_offset(s.app, x, y, &b);
			bool link = (x < NNET) != (y < NNET);
			assert_int_equal(ra, link ? 0 : -ENOENT);
			assert_int_equal(rb, ra);
			if (link) {
				assert_int_equal(a, b);
				assert_ptr_equal(dl_noc_fabric_chan(s.svc, x, y), s.r->base + a);
				assert_ptr_equal(dl_noc_fabric_chan(s.app, x, y), s.map + a);
			}
		}
	}
	unmake(&s);
}

static unsigned got;
static uint64_t got_word;

static void on_msg(void *arg, unsigned src, const struct dl_msg *m)
{
	(void)arg;
	(void)src;
	got++;
	got_word = m->u.recv_done.bytes;
}

static void test_messages_cross_the_mappings(void **state)
{
	struct side s;
	struct dl_noc_ep *net, *app;
	uint64_t msg[DL_MSG_MAX_WORDS];

	(void)state;
	make(&s);
	net = dl_noc_ep_create(s.svc, 1, &(struct dl_noc_conf){.no_stats = true});
	app = dl_noc_ep_create(s.app, NNET + 1, &(struct dl_noc_conf){.no_stats = true});
	assert_non_null(net);
	assert_non_null(app);
	got = 0;
	for (unsigned i = 1; i <= 1000; i++) {
		assert_int_equal(
		    dl_noc_send(app, 1, msg, (unsigned)dl_msg_enc_recv_done(msg, 1, 5, i)), 0);
		dl_noc_flush(app);
		assert_int_equal(dl_noc_poll(net, 16, on_msg, NULL), 1);
		assert_int_equal(got_word, i);
		/* And back. */
		assert_int_equal(dl_noc_send(net, NNET + 1, msg,
					     (unsigned)dl_msg_enc_recv_done(msg, 1, 5, i + 7)),
				 0);
		dl_noc_flush(net);
		assert_int_equal(dl_noc_poll(app, 16, on_msg, NULL), 1);
		assert_int_equal(got_word, i + 7);
	}
	dl_noc_ep_destroy(net);
	dl_noc_ep_destroy(app);
	unmake(&s);
}

static void test_bad_sizes(void **state)
{
	struct side s;
	struct dl_region *small;

	(void)state;
	make(&s);
	errno = 0;
	assert_null(dl_noc_fabric_attach(s.map, s.len - 1, NNET + NAPP, WORDS, s.links));
	assert_int_equal(errno, ENOSPC);
	assert_null(dl_noc_fabric_attach(NULL, s.len, NNET + NAPP, WORDS, s.links));
	assert_null(dl_noc_fabric_attach(s.map, s.len, NNET + NAPP, 100, s.links));
	small = dl_region_create("small", 4096, 0);
	assert_null(dl_noc_fabric_create_in(small, NNET + NAPP, WORDS, s.links));
	assert_int_equal(errno, ENOSPC);
	dl_region_destroy(small);
	assert_int_equal(dl_noc_fabric_size(0, WORDS, NULL), 0);
	unmake(&s);
}

static unsigned rejected;
static int last_reason;

static void on_reject(void *arg, unsigned src, const uint64_t *w, unsigned n, int reason)
{
	(void)arg;
	(void)w;
	assert_int_equal(src, NNET);
	assert_true(n >= 1);
	rejected++;
	last_reason = reason;
}

static void test_dropped_messages_are_reported(void **state)
{
	struct side s;
	struct dl_noc_ep *net, *app;
	uint64_t msg[DL_MSG_MAX_WORDS];

	(void)state;
	make(&s);
	net = dl_noc_ep_create(s.svc, 0, &(struct dl_noc_conf){.no_stats = true});
	app = dl_noc_ep_create(s.app, NNET, &(struct dl_noc_conf){.no_stats = true});
	dl_noc_set_accept(net, NNET, DL_MSG_CLASS_COMMAND);
	dl_noc_set_reject_fn(net, on_reject, NULL);
	rejected = 0;
	got = 0;
	msg[0] = dl_msg_hdr(0x66, 1, 0, 0);
	assert_int_equal(dl_noc_send(app, 0, msg, 1), 0);
	dl_noc_flush(app);
	dl_noc_poll(net, 16, on_msg, NULL);
	assert_int_equal(rejected, 1);
	assert_int_equal(last_reason, -ENOMSG);
	assert_int_equal(dl_noc_send(app, 0, msg, (unsigned)dl_msg_enc_cleanup(msg, 0, 3)), 0);
	dl_noc_flush(app);
	dl_noc_poll(net, 16, on_msg, NULL);
	assert_int_equal(rejected, 2);
	assert_int_equal(last_reason, -EACCES);
	assert_int_equal(got, 0);
	assert_int_equal(dl_noc_counters(net)[DL_NOC_RX_DECODE_ERR], 1);
	assert_int_equal(dl_noc_counters(net)[DL_NOC_RX_REJECTED], 1);
	dl_noc_set_reject_fn(net, NULL, NULL);
	assert_int_equal(dl_noc_send(app, 0, msg, (unsigned)dl_msg_enc_cleanup(msg, 0, 3)), 0);
	dl_noc_flush(app);
	dl_noc_poll(net, 16, on_msg, NULL);
	assert_int_equal(rejected, 2);
	dl_noc_ep_destroy(net);
	dl_noc_ep_destroy(app);
	unmake(&s);
}

/* Run fn in a child; return the signal that killed it (0: exited). */
static int in_child(void (*fn)(uint8_t *, size_t), uint8_t *m, size_t off)
{
	int st;
	pid_t pid = fork();

	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL);
		fn(m, off);
		_exit(0);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFSIGNALED(st) ? WTERMSIG(st) : 0;
}

static void poke(uint8_t *m, size_t off)
{
	*(volatile uint8_t *)(m + off) = 1;
}

static void test_application_writes_only_its_side(void **state)
{
	struct side s;
	struct dl_chan_layout l;
	struct dl_noc_fabric *plan;
	struct dl_noc_ep *net, *app;
	struct dl_coreset ours;
	uint64_t msg[DL_MSG_MAX_WORDS];
	uint8_t *a2n, *n2a;

	(void)state;
	make(&s);
	/* The application's mapping, as dl_attach_open() makes it. */
	dl_coreset_zero(&ours);
	dl_coreset_fill(&ours, NNET, NNET + NAPP);
	plan = dl_noc_fabric_map(s.r->fd, s.len, NNET + NAPP, WORDS, s.links, &ours);
	assert_non_null(plan);
	assert_int_equal(dl_chan_layout(WORDS, &l), 0);
	a2n = dl_noc_fabric_chan(plan, NNET, 0);
	n2a = dl_noc_fabric_chan(plan, 0, NNET);
	assert_non_null(a2n);
	assert_non_null(n2a);
	/* Its own side: writable. */
	assert_int_equal(in_child(poke, a2n, l.slots_off + (WORDS - 1) * 8), 0);
	assert_int_equal(in_child(poke, n2a, l.cons_off + 64), 0);
	/* The service's side: not. */
	assert_int_equal(in_child(poke, n2a, l.slots_off), SIGSEGV);
	assert_int_equal(in_child(poke, n2a, 0), SIGSEGV);
	assert_int_equal(in_child(poke, a2n, l.cons_off), SIGSEGV);
	/* A plan that is not the service's is refused. */
	assert_null(dl_noc_fabric_map(s.r->fd, s.len - 4096, NNET + NAPP, WORDS, s.links, &ours));
	assert_int_equal(errno, EPROTO);
	/* And the channels work through that mapping. */
	net = dl_noc_ep_create(s.svc, 0, &(struct dl_noc_conf){.no_stats = true});
	app = dl_noc_ep_create(plan, NNET, &(struct dl_noc_conf){.no_stats = true});
	assert_non_null(net);
	assert_non_null(app);
	got = 0;
	for (unsigned i = 0; i < 3 * WORDS; i++) { /* wraps the rings */
		assert_int_equal(
		    dl_noc_send(app, 0, msg, (unsigned)dl_msg_enc_recv_done(msg, 0, 1, i)), 0);
		dl_noc_flush(app);
		dl_noc_poll(net, 16, on_msg, NULL);
		assert_int_equal(
		    dl_noc_send(net, NNET, msg, (unsigned)dl_msg_enc_recv_done(msg, 0, 1, i)), 0);
		dl_noc_flush(net);
		dl_noc_poll(app, 16, on_msg, NULL);
	}
	assert_int_equal(got, 6 * WORDS);
	dl_noc_ep_destroy(net);
	dl_noc_ep_destroy(app);
	dl_noc_fabric_destroy(plan); /* unmaps it */
	unmake(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_links_are_bipartite),
	    cmocka_unit_test(test_same_offsets_both_sides),
	    cmocka_unit_test(test_messages_cross_the_mappings),
	    cmocka_unit_test(test_bad_sizes),
	    cmocka_unit_test(test_dropped_messages_are_reported),
	    cmocka_unit_test(test_application_writes_only_its_side),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
