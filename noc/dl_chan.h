/*
 * dl_chan.h - the x86 NoC transport: a single-producer single-consumer ring
 * of 64-bit words with credit-based flow control, in caller-provided memory.
 *
 * One channel carries messages from one core to one other core. A slot is
 * one word; a message occupies exactly its word count (dl_msg_hdr_words()
 * of its first word) and may wrap around the end of the ring. The capacity
 * is a power of two >= DL_CHAN_MIN_WORDS; a message larger than the capacity
 * is refused with -EMSGSIZE, so production channels should have at least
 * DL_MSG_MAX_WORDS + 2 = 128 words (default DL_CHAN_DEFAULT_WORDS).
 *
 * Memory layout (dl_chan_layout()), so that in protected mode each side can
 * map the other side's part read-only:
 *
 *     producer area (page aligned, written only by the producer)
 *         +0                    control: magic, capacity, tail
 *         +DL_CHAN_LINE         slots[capacity]
 *     consumer area (its own page, written only by the consumer)
 *         +0                    control: magic, capacity, head
 *
 * tail and head are free-running 64-bit word counters. Nothing is written
 * by both sides, and each counter sits in its own cache line.
 *
 * Flow control: the producer handle (private memory) caches the consumer's
 * head; its credits are capacity - (tail - cached head) and it re-reads the
 * shared head (acquire) only when the cached credits are too few for the
 * next message. It publishes tail (release) once per send or per batch.
 * The consumer handle caches the producer's tail, re-reads it only after
 * consuming every word it knew of, copies each message out of the ring into
 * its own buffer before anything looks at it (the producer may be
 * untrusted), and publishes head once per receive batch. No atomic
 * read-modify-write anywhere: only acquire loads and release stores.
 *
 * Both sides are defensive: an impossible value of the other side's counter
 * (tail - head > capacity, a counter going backwards, head past the
 * published tail) or a header announcing 0 words, more than DL_MSG_MAX_WORDS
 * or more than what is published marks the channel broken: the DL_CHAN_BROKEN
 * counter is incremented once and every later call returns -EPIPE. The
 * consumer never reads past the published tail.
 *
 * Thread-safety: one thread uses the producer handle, one thread the
 * consumer handle. dl_chan_init() runs before either handle is attached.
 */
#ifndef DL_CHAN_H
#define DL_CHAN_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dl_msg.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Smallest capacity, in words. */
#define DL_CHAN_MIN_WORDS 8u
/** Largest capacity, in words (2^24: 128 MiB of slots). */
#define DL_CHAN_MAX_WORDS (1u << 24)
/** Recommended capacity (32 KiB of slots). */
#define DL_CHAN_DEFAULT_WORDS 4096u
/** Separation between data written by different sides (two x86 lines: adjacent-line prefetch). */
#define DL_CHAN_LINE 128u

/** Per-handle counters (the handle points to an array of DL_CHAN_NCNT). */
enum dl_chan_cnt {
	DL_CHAN_RELOADS =
	    0, /**< shared counter re-reads (head for the producer, tail for the consumer) */
	DL_CHAN_BROKEN = 1, /**< the channel was found broken (counted once) */
	DL_CHAN_NCNT
};

/** Where the two areas of a channel lie in its memory block. */
struct dl_chan_layout {
	size_t prod_off, prod_len; /**< producer area: control + slots (page multiple) */
	size_t slots_off;	   /**< first slot */
	size_t cons_off, cons_len; /**< consumer area (page multiple) */
	size_t total;		   /**< dl_chan_mem_size() */
	size_t page;		   /**< page size used */
};

/**
 * Layout of a channel of @p words slots.
 * @return 0, or -EINVAL when @p words is not a power of two in
 *         [DL_CHAN_MIN_WORDS, DL_CHAN_MAX_WORDS].
 */
int dl_chan_layout(unsigned words, struct dl_chan_layout *l);

/** Bytes of memory a channel of @p words slots needs (0 if @p words is invalid). */
size_t dl_chan_mem_size(unsigned words);

/**
 * Initialise an empty channel in @p mem (page aligned, dl_chan_mem_size()
 * bytes, both areas writable by the caller).
 * @return 0, or -EINVAL (bad size or alignment).
 */
int dl_chan_init(void *mem, unsigned words);

/** Producer handle, in the producer's private memory. */
struct dl_chan_prod {
	uint64_t *slots;
	uint64_t *tail_shared;	     /**< in the producer area */
	const uint64_t *head_shared; /**< in the consumer area (read only) */
	uint64_t tail;		     /**< next word to write (may be ahead of tail_pub) */
	uint64_t tail_pub;	     /**< last published tail */
	uint64_t head_cache;	     /**< last head read */
	uint32_t mask;		     /**< capacity - 1 */
	uint32_t cap;		     /**< capacity in words */
	bool broken;
	uint64_t *cnt; /**< DL_CHAN_NCNT counters (own_cnt unless given) */
	uint64_t own_cnt[DL_CHAN_NCNT];
};

/** Consumer handle, in the consumer's private memory. */
struct dl_chan_cons {
	const uint64_t *slots;
	const uint64_t *tail_shared; /**< in the producer area (read only) */
	uint64_t *head_shared;	     /**< in the consumer area */
	uint64_t head;		     /**< next word to read */
	uint64_t tail_cache;	     /**< last tail read */
	uint32_t mask;
	uint32_t cap;
	bool broken;
	uint64_t *cnt;
	uint64_t own_cnt[DL_CHAN_NCNT];
};

/**
 * Attach a producer handle to an initialised channel.
 * @param cnt DL_CHAN_NCNT counters to increment, or NULL for p->own_cnt.
 * @return 0, or -EINVAL (size mismatch, not initialised).
 */
int dl_chan_prod_init(struct dl_chan_prod *p, void *mem, unsigned words, uint64_t *cnt);

/** Attach a consumer handle; same rules as dl_chan_prod_init(). */
int dl_chan_cons_init(struct dl_chan_cons *c, void *mem, unsigned words, uint64_t *cnt);

/* ---- producer ---- */

/** Re-read head and recompute credits (slow path). @return -EPIPE when broken, else 0. */
int dl_chan_reload_credits(struct dl_chan_prod *p);

/** Credits known without touching shared memory. */
static inline unsigned dl_chan_credits(const struct dl_chan_prod *p)
{
	return p->cap - (unsigned)(p->tail - p->head_cache);
}

/**
 * Make sure @p n words can be written, re-reading head only if the cached
 * credits are too few. @return 0, -ENOBUFS (not enough room), -EPIPE.
 */
static inline int dl_chan_reserve(struct dl_chan_prod *p, unsigned n)
{
	if (__builtin_expect(dl_chan_credits(p) >= n && !p->broken, 1))
		return 0;
	if (dl_chan_reload_credits(p) < 0)
		return -EPIPE;
	return dl_chan_credits(p) >= n ? 0 : -ENOBUFS;
}

/* Copy words (inlined: messages are mostly a few words). */
static inline void dl_chan_copy_words(uint64_t *dst, const uint64_t *src, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		dst[i] = src[i];
}

/* Copy @p n words into the ring at the current tail (credits reserved). */
static inline void dl_chan_put_words(struct dl_chan_prod *p, const uint64_t *w, unsigned n)
{
	uint64_t *s = p->slots;
	uint32_t pos = (uint32_t)p->tail & p->mask;
	unsigned first = p->cap - pos;

	if (__builtin_expect(n <= first, 1)) {
		dl_chan_copy_words(s + pos, w, n);
	} else {
		dl_chan_copy_words(s + pos, w, first);
		dl_chan_copy_words(s, w + first, n - first);
	}
	p->tail += n;
}

/** Make everything written so far visible to the consumer (one release store). */
static inline void dl_chan_publish(struct dl_chan_prod *p)
{
	if (p->tail != p->tail_pub) {
		__atomic_store_n(p->tail_shared, p->tail, __ATOMIC_RELEASE);
		p->tail_pub = p->tail;
	}
}

/**
 * Check a message before it enters a ring: 1..DL_MSG_MAX_WORDS words and
 * no more than the capacity (-EMSGSIZE), header announcing @p n (-EINVAL).
 */
static inline int dl_chan_check_msg(const struct dl_chan_prod *p, const uint64_t *msg, unsigned n)
{
	if (n == 0 || dl_msg_hdr_words(msg[0]) != n)
		return -EINVAL;
	if (n > p->cap || n > DL_MSG_MAX_WORDS)
		return -EMSGSIZE;
	return 0;
}

/**
 * Write one message without publishing it (batch sends: several writes,
 * then dl_chan_publish()).
 * @return 0, -ENOBUFS (not enough credits: nothing written), -EMSGSIZE,
 *         -EINVAL (see dl_chan_check_msg()), -EPIPE (broken).
 */
static inline int dl_chan_write(struct dl_chan_prod *p, const uint64_t *msg, unsigned n)
{
	int rc = dl_chan_check_msg(p, msg, n);

	if (rc == 0)
		rc = dl_chan_reserve(p, n);
	if (rc == 0)
		dl_chan_put_words(p, msg, n);
	return rc;
}

/** Write and publish one message. Same returns as dl_chan_write(). */
static inline int dl_chan_send(struct dl_chan_prod *p, const uint64_t *msg, unsigned n)
{
	int rc = dl_chan_write(p, msg, n);

	if (rc == 0)
		dl_chan_publish(p);
	return rc;
}

/**
 * Send @p total words holding several whole messages back to back, all or
 * nothing, with one publication.
 * @return the number of messages, -ENOBUFS (nothing written), -EINVAL
 *         (framing does not add up to @p total), -EMSGSIZE, -EPIPE.
 */
int dl_chan_send_bulk(struct dl_chan_prod *p, const uint64_t *words, unsigned total);

/* ---- consumer ---- */

/** Re-read tail (slow path). @return -EPIPE when broken, else the words now readable. */
int dl_chan_reload_tail(struct dl_chan_cons *c);

/** Mark a consumer broken (counted once). @return -EPIPE. */
int dl_chan_cons_break(struct dl_chan_cons *c);

/* Copy ring words [from, to) (relative to head) into buf[from, to). */
static inline void dl_chan_copy_out(const struct dl_chan_cons *c, uint64_t head, uint64_t *buf,
				    unsigned from, unsigned to)
{
	uint32_t pos = (uint32_t)(head + from) & c->mask;
	unsigned n = to - from, first = c->cap - pos;

	if (n <= first) {
		dl_chan_copy_words(buf + from, c->slots + pos, n);
	} else {
		dl_chan_copy_words(buf + from, c->slots + pos, first);
		dl_chan_copy_words(buf + from + first, c->slots, n - first);
	}
}

/**
 * Receive up to @p max_msgs whole messages, copying them back to back into
 * @p buf (at most @p room words), and publish head once.
 *
 * Published words are copied into @p buf first and the framing (header
 * word counts) is checked on that private copy, so a producer rewriting the
 * ring meanwhile cannot make the caller see framing other than what was
 * checked. The first header, read from the ring, is only a size hint: the
 * call copies max_msgs messages of that size at once (not the whole
 * backlog) and checks their headers with independent loads (batches of
 * same-size messages need no serial walk); anything else goes through the
 * general, one message at a time, path, which copies more as it goes.
 * Words copied past the last whole message taken are simply not consumed.
 *
 * @param nwords if not NULL, receives the number of words of the messages.
 * @return messages received (0 when none), -EMSGSIZE when the next
 *         message does not fit an empty @p buf, -EPIPE when broken.
 */
static inline int dl_chan_recv(struct dl_chan_cons *c, uint64_t *buf, unsigned room,
			       unsigned max_msgs, unsigned *nwords)
{
	const uint64_t head = c->head;
	unsigned pub = (unsigned)(c->tail_cache - head); /* published, unread */
	unsigned lim, hint, want, used = 0, msgs = 0;
	int rc = 0;

	if (__builtin_expect(c->broken, 0))
		return -EPIPE;
	if (pub == 0) {
		/* Cheap empty check first: one acquire load, no call. */
		if (__atomic_load_n(c->tail_shared, __ATOMIC_ACQUIRE) == c->tail_cache) {
			/* Fetch the line the next message will land in while we
			 * wait, so its arrival costs one line transfer (the
			 * tail) rather than two in a row (tail, then slot). */
#ifndef DL_CHAN_NO_EMPTY_PREFETCH
			__builtin_prefetch(&c->slots[(uint32_t)head & c->mask], 0, 3);
#endif
			if (nwords != NULL)
				*nwords = 0;
			return 0;
		}
		rc = dl_chan_reload_tail(c);
		if (rc <= 0)
			return rc;
		pub = (unsigned)rc;
	}
	/* Copy what max_msgs messages of the first header's size would take
	 * (a hint read from the ring: never trusted), more only as the
	 * private copy shows longer messages; then find the boundaries in
	 * the copy (the producer may rewrite the ring, never the copy).
	 * Nothing past the published tail is read, and a consumer behind a
	 * long backlog copies what it takes, not the backlog. */
	lim = pub < room ? pub : room;
	hint = dl_msg_hdr_words(
	    __atomic_load_n(&c->slots[(uint32_t)head & c->mask], __ATOMIC_RELAXED));
	if (hint == 0 || hint > DL_MSG_MAX_WORDS)
		hint = 1; /* garbage: the framing check on the copy says so */
	want = max_msgs < lim ? max_msgs * hint : lim;
	want = want < lim ? want : lim;
	dl_chan_copy_out(c, head, buf, 0, want);
	/* Fast path: a run of messages of the hinted size, checked with
	 * independent loads (no serial walk from header to header). */
	for (unsigned k = want / hint < max_msgs ? want / hint : max_msgs; msgs < k; msgs++)
		if (dl_msg_hdr_words(buf[msgs * hint]) != hint)
			break;
	used = msgs * hint;
	/* General path: one message at a time. */
	while (msgs < max_msgs && used < lim) {
		unsigned n;

		if (used == want) { /* the next header is not copied yet */
			uint64_t more = want + (uint64_t)(max_msgs - msgs) * hint;
			more = more < lim ? more : lim;
			dl_chan_copy_out(c, head, buf, want, (unsigned)more);
			want = (unsigned)more;
		}
		n = dl_msg_hdr_words(buf[used]);
		if (__builtin_expect(n - 1 >= DL_MSG_MAX_WORDS || n > pub - used, 0)) {
			rc = dl_chan_cons_break(c); /* 0, > 126, or past the tail */
			break;
		}
		if (used + n > lim) {
			/* Published but longer than the room left. */
			rc = msgs == 0 ? -EMSGSIZE : 0;
			break;
		}
		if (used + n > want) { /* longer than hinted: copy the rest of it */
			dl_chan_copy_out(c, head, buf, want, used + n);
			want = used + n;
		}
		used += n;
		msgs++;
	}
	if (msgs > 0) {
		c->head = head + used;
		__atomic_store_n(c->head_shared, c->head, __ATOMIC_RELEASE);
	}
	if (nwords != NULL)
		*nwords = used;
	return msgs > 0 ? (int)msgs : (rc < 0 ? rc : 0);
}

/**
 * True when the channel may hold a message for the consumer: words already
 * known but unread, or a tail the producer moved since the last look. One
 * acquire load; no counters, no side effects (a poll's empty fast path).
 */
static inline bool dl_chan_cons_ready(const struct dl_chan_cons *c)
{
	return c->tail_cache != c->head || c->broken ||
	       __atomic_load_n(c->tail_shared, __ATOMIC_ACQUIRE) != c->tail_cache;
}

/** Words published and not yet consumed, as last seen (no shared access). */
static inline unsigned dl_chan_cons_known(const struct dl_chan_cons *c)
{
	return (unsigned)(c->tail_cache - c->head);
}

#ifdef __cplusplus
}
#endif

#endif /* DL_CHAN_H */
