/*
 * np_transcript.h - test helper: the byte stream an NPtcp transmitter
 * sends (as traced from NPtcp 3.7.2 with strace, see
 * /work/shared/reference/real-clients.md) and the replies a receiver owes
 * it, in copy mode and in nocopy mode. Header-only, used by the netpipe
 * unit tests.
 *
 * Message contents are chosen to catch mistakes: with `vary` every message
 * differs (bytes include 'S', 'Q' and 0, so a receiver that pattern-matched
 * payload would fail), which also makes copy and nocopy replies differ.
 */
#ifndef NP_TRANSCRIPT_H
#define NP_TRANSCRIPT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "np_proto.h"

struct bytes {
	uint8_t *p;
	size_t n, cap;
};

static inline void bytes_put(struct bytes *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->n + n)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (b->p == NULL)
			abort();
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->p + b->n, p, n);
	b->n += n;
}

static inline void bytes_free(struct bytes *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* What the transmitter does. */
struct np_script {
	uint32_t start;	       /* NPtcp -l (5 with -i) */
	uint32_t perturbation; /* NPtcp -p (0 with -i) */
	uint32_t trials;       /* 3 (1 with -i) */
	unsigned points;       /* data points before QUIT */
	uint32_t nrepeat;      /* round trips per trial (same at every point) */
	bool integrity;	       /* message contents as NPtcp -i writes them */
	bool vary;	       /* every message different */
	bool no_quit;	       /* stop without QUIT (a peer that goes away) */
};

struct np_transcript {
	struct bytes in;	 /* transmitter -> receiver */
	struct bytes out_copy;	 /* replies owed in copy mode */
	struct bytes out_nocopy; /* replies owed in nocopy mode */
	uint32_t sizes[256];	 /* size of each data point */
	unsigned npoints;
	uint64_t nmsgs; /* data-phase messages */
};

static inline void np_message(const struct np_script *s, uint64_t m, uint32_t len, struct bytes *b)
{
	uint8_t *tmp = malloc(len ? len : 1);

	if (tmp == NULL)
		abort();
	if (s->integrity) {
		/* NPtcp -i: consecutive ints, the rest as NPtcp's fill */
		memset(tmp, 'a', len);
		tmp[len - 1] = 'b';
		for (uint32_t i = 0; i < len / 4; i++)
			memcpy(tmp + 4 * i, &i, 4);
	} else if (s->vary) {
		for (uint32_t i = 0; i < len; i++)
			tmp[i] = (uint8_t)(m * 31 + i * 7);
	} else {
		memset(tmp, 'a', len);
		tmp[len - 1] = 'b';
	}
	bytes_put(b, tmp, len);
	free(tmp);
}

static inline void np_transcript_build(const struct np_script *s, struct np_transcript *t)
{
	static const char sync[] = NP_SYNC;
	static const char quit[NP_QUIT_LEN] = NP_QUIT;
	struct np_sizes sz;
	uint64_t m = 0;

	memset(t, 0, sizeof(*t));
	/* hello, latency estimate (NPtcp's fill, never an 'S'), sync */
	bytes_put(&t->in, sync, 6);
	bytes_put(&t->out_copy, sync, 6);
	for (unsigned r = 0; r < NP_LATENCY_REPS; r++) {
		struct np_script fill = *s;
		fill.integrity = fill.vary = false;
		size_t at = t->in.n;
		np_message(&fill, 0, s->start, &t->in);
		bytes_put(&t->out_copy, t->in.p + at, s->start);
	}
	bytes_put(&t->in, sync, 6);
	bytes_put(&t->out_copy, sync, 6);
	bytes_put(&t->out_nocopy, t->out_copy.p, t->out_copy.n);

	np_sizes_init(&sz, s->start, s->perturbation);
	for (unsigned pt = 0; pt < s->points && pt < 256; pt++) {
		uint32_t len = (uint32_t)np_sizes_next(&sz);
		uint8_t nr[4] = {(uint8_t)(s->nrepeat >> 24), (uint8_t)(s->nrepeat >> 16),
				 (uint8_t)(s->nrepeat >> 8), (uint8_t)s->nrepeat};
		size_t first_at = 0;
		t->sizes[t->npoints++] = len;
		bytes_put(&t->in, sync, 6);
		bytes_put(&t->out_copy, sync, 6);
		bytes_put(&t->out_nocopy, sync, 6);
		bytes_put(&t->in, nr, 4);
		for (uint32_t tr = 0; tr < s->trials; tr++) {
			bytes_put(&t->in, sync, 6);
			bytes_put(&t->out_copy, sync, 6);
			bytes_put(&t->out_nocopy, sync, 6);
			for (uint32_t r = 0; r < s->nrepeat; r++, m++) {
				size_t at = t->in.n;
				np_message(s, m, len, &t->in);
				if (tr == 0 && r == 0)
					first_at = at;
				bytes_put(&t->out_copy, t->in.p + at, len);
				bytes_put(&t->out_nocopy, t->in.p + first_at, len);
				t->nmsgs++;
			}
		}
	}
	if (!s->no_quit) {
		bytes_put(&t->in, quit, NP_QUIT_LEN);
		bytes_put(&t->out_copy, quit, NP_QUIT_LEN);
		bytes_put(&t->out_nocopy, quit, NP_QUIT_LEN);
	}
}

static inline void np_transcript_free(struct np_transcript *t)
{
	bytes_free(&t->in);
	bytes_free(&t->out_copy);
	bytes_free(&t->out_nocopy);
}

#endif
