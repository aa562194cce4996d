/*
 * fuzz_stream.h - feeding a byte stream to an application as TCP delivers
 * it, for fuzz_http and fuzz_memcached.
 *
 * An input is: a configuration byte, a script length L, L script bytes,
 * then the stream (the requests, kept contiguous so that libFuzzer's
 * dictionaries and mutations work on the protocol text). The script is
 * cycled: a byte below 0x80 delivers the next piece of the stream, of
 * (b & 0x3f) + 1 bytes (times 8 with 0x40), as one to three received
 * segments in one event; a byte from 0x80 is a control (the caller's:
 * acknowledge, let time pass, switch connection, FIN, reset...). With no
 * script the stream comes in one piece.
 *
 * Received segments are heap copies the fake runtime frees as soon as the
 * application returns them (recv_done), so reading returned data is a
 * heap-use-after-free under ASan. Sent fragments are copied into the
 * connection's output stream when sent and compared with memory again when
 * acknowledged: memory reused while the network may still read it (an
 * unacknowledged fragment) shows as a difference.
 */
#ifndef FUZZ_STREAM_H
#define FUZZ_STREAM_H

#include "fuzz_input.h"

#include <dlibos/dlibos.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FS_MAX_HELD 4096
#define FS_MAX_PEND 8192
#define FS_OUT_MAX  (4u << 20)

/** One received segment the application holds. */
struct fs_held {
	uint8_t *p;
	uint32_t len;
};

/** One sent fragment not yet acknowledged, and its bytes when sent. */
struct fs_pend {
	const uint8_t *p;
	uint32_t len;
	uint64_t out_off; /* where its copy starts in out */
};

/** One connection of the fake runtime. */
struct fs_conn {
	uint64_t id;
	bool accepted, shut_wr, closed, reset;
	/* received, not yet returned: held[0] is the oldest, held_off of it returned */
	struct fs_held held[FS_MAX_HELD];
	unsigned nheld;
	uint32_t held_off;
	uint64_t delivered, returned;
	/* sent */
	uint8_t *out;
	size_t out_len;
	bool out_full;
	struct fs_pend pend[FS_MAX_PEND];
	unsigned npend;
	uint32_t pend_off;
	uint64_t sent, acked;
};

/** The script and the stream of an input. */
struct fs_input {
	uint8_t cfg;
	const uint8_t *script;
	size_t nscript, at;
	const uint8_t *stream;
	size_t nstream, off;
};

static inline void fs_input_init(struct fs_input *in, const uint8_t *data, size_t size)
{
	struct fz f = {data, size};
	size_t n;

	in->cfg = fz_u8(&f);
	in->script = fz_bytes(&f, 255, &n);
	in->nscript = n;
	in->at = 0;
	in->stream = f.p;
	in->nstream = f.n;
	in->off = 0;
}

/** The next script byte (cycled), or 0x3f (a 64-byte piece) without a script. */
static inline uint8_t fs_next(struct fs_input *in)
{
	if (in->nscript == 0)
		return 0x7f;
	return in->script[in->at++ % in->nscript];
}

/** Allocate a connection once (its buffers are reused by every input). */
static inline struct fs_conn *fs_conn_alloc(void)
{
	struct fs_conn *c = calloc(1, sizeof(*c));

	FZ_CHECK(c != NULL, "calloc");
	c->out = malloc(FS_OUT_MAX);
	FZ_CHECK(c->out != NULL, "malloc");
	return c;
}

/** Start a connection afresh (scalars only: the arrays are used up to their counts). */
static inline void fs_conn_reset(struct fs_conn *c, uint64_t id)
{
	c->id = id;
	c->accepted = c->shut_wr = c->closed = c->reset = false;
	c->nheld = c->npend = 0;
	c->held_off = c->pend_off = 0;
	c->delivered = c->returned = c->sent = c->acked = 0;
	c->out_len = 0;
	c->out_full = false;
}

/** Free the segments still held (the runtime releases them at cleanup). */
static inline void fs_conn_drop(struct fs_conn *c)
{
	for (unsigned i = 0; i < c->nheld; i++)
		free(c->held[i].p);
	c->nheld = 0;
}

/**
 * Take the next piece of the stream for a delivery: fill iov (up to 3
 * segments, heap copies held by c). @return segments (0 at the end).
 */
static inline unsigned fs_piece(struct fs_input *in, uint8_t b, struct fs_conn *c,
				struct dlibos_iov iov[3])
{
	size_t len = ((size_t)(b & 0x3f) + 1) * ((b & 0x40) ? 8 : 1), left;
	unsigned nseg = 1 + (unsigned)(len % 3), n = 0;

	if (in->nscript == 0)
		len = in->nstream;
	if (len > in->nstream - in->off)
		len = in->nstream - in->off;
	if (len == 0)
		return 0;
	if (nseg > len)
		nseg = (unsigned)len;
	left = len;
	for (unsigned i = 0; i < nseg; i++) {
		size_t rest = nseg - 1 - i; /* segments after this one, a byte each at least */
		size_t k = rest == 0 ? left : left / (nseg - i) + (i & 1);
		if (k > left - rest)
			k = left - rest;
		uint8_t *p = malloc(k);
		FZ_CHECK(p != NULL && c->nheld < FS_MAX_HELD, "too many held segments");
		memcpy(p, in->stream + in->off, k);
		in->off += k;
		left -= k;
		c->held[c->nheld++] = (struct fs_held){p, (uint32_t)k};
		c->delivered += k;
		iov[n++] = (struct dlibos_iov){p, (uint32_t)k};
	}
	return n;
}

/** The application returns @p bytes: checked against what it holds, then freed. */
static inline void fs_recv_done(struct fs_conn *c, uint32_t bytes)
{
	FZ_CHECK(!c->closed, "recv_done after close");
	FZ_CHECK(bytes > 0, "recv_done of 0 bytes");
	FZ_CHECK(c->returned + bytes <= c->delivered,
		 "recv_done of %u bytes with %llu delivered and %llu returned", bytes,
		 (unsigned long long)c->delivered, (unsigned long long)c->returned);
	c->returned += bytes;
	while (bytes > 0) {
		struct fs_held *h = &c->held[0];
		uint32_t k = h->len - c->held_off < bytes ? h->len - c->held_off : bytes;
		c->held_off += k;
		bytes -= k;
		if (c->held_off == h->len) {
			free(h->p);
			memmove(&c->held[0], &c->held[1], (c->nheld - 1) * sizeof(c->held[0]));
			c->nheld--;
			c->held_off = 0;
		}
	}
}

/** The application sends: fragments copied (as sent) and kept until acknowledged. */
static inline void fs_send(struct fs_conn *c, const struct dlibos_frag *f, unsigned n)
{
	FZ_CHECK(!c->closed && !c->shut_wr, "send after %s", c->closed ? "close" : "shutdown");
	FZ_CHECK(n > 0, "send of no fragment");
	for (unsigned i = 0; i < n; i++) {
		FZ_CHECK(f[i].len > 0 && f[i].base != NULL, "empty fragment");
		FZ_CHECK(c->npend < FS_MAX_PEND, "more than %d fragments unacknowledged",
			 FS_MAX_PEND);
		c->pend[c->npend++] =
		    (struct fs_pend){(const uint8_t *)f[i].base, f[i].len, c->out_len};
		if (c->out_len + f[i].len <= FS_OUT_MAX)
			memcpy(c->out + c->out_len, f[i].base, f[i].len);
		else
			c->out_full = true;
		c->out_len += f[i].len;
		c->sent += f[i].len;
	}
}

/**
 * Acknowledge up to @p bytes of what was sent (0: everything): each
 * fragment must still hold what it held when sent. @return bytes acknowledged.
 */
static inline uint32_t fs_ack(struct fs_conn *c, uint64_t bytes)
{
	uint64_t done = 0;

	if (bytes == 0 || bytes > c->sent - c->acked)
		bytes = c->sent - c->acked;
	if (bytes > UINT32_MAX)
		bytes = UINT32_MAX;
	while (done < bytes && c->npend > 0) {
		struct fs_pend *p = &c->pend[0];
		uint32_t k = p->len - c->pend_off;
		if (k > bytes - done)
			k = (uint32_t)(bytes - done);
		if (p->out_off + c->pend_off + k <= FS_OUT_MAX)
			FZ_CHECK(memcmp(p->p + c->pend_off, c->out + p->out_off + c->pend_off, k) ==
				     0,
				 "memory of an unacknowledged fragment changed before its "
				 "acknowledgment (stream offset %llu)",
				 (unsigned long long)(p->out_off + c->pend_off));
		c->pend_off += k;
		done += k;
		if (c->pend_off == p->len) {
			memmove(&c->pend[0], &c->pend[1], (c->npend - 1) * sizeof(c->pend[0]));
			c->npend--;
			c->pend_off = 0;
		}
	}
	c->acked += done;
	return (uint32_t)done;
}

/**
 * The connection ended without its peer acknowledging the rest (a reset,
 * a failed send): what was sent and not acknowledged must have stayed
 * unchanged until now (checked as an acknowledgment would), and the
 * network reads none of it again, so the application may reuse that
 * memory once its completions have run. Called before the application
 * hears of the end. @return the bytes that were still unacknowledged.
 */
static inline uint64_t fs_abort(struct fs_conn *c)
{
	uint64_t left = c->sent - c->acked;

	fs_ack(c, 0);
	FZ_CHECK(c->npend == 0 && c->acked == c->sent, "fragments left after an abort");
	return left;
}

#endif /* FUZZ_STREAM_H */
