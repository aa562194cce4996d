/*
 * dl_chan.h - the x86 NoC transport: a single-producer single-consumer ring
 * of 64-bit words with credit-based flow control, in caller-provided memory.
 *
 * One channel carries messages from one core to one other core. A slot is
 * one word; a message occupies exactly its word count (dl_msg_hdr_words()
 * of its first word) and may wrap around the end of the ring. One word of
 * the ring is always kept free (see publication below), so the largest
 * message a channel takes is its capacity - 1 words; a larger one is
 * refused with -EMSGSIZE, so production channels should have at least
 * DL_MSG_MAX_WORDS + 2 = 128 words (default DL_CHAN_DEFAULT_WORDS).
 *
 * Memory layout (dl_chan_layout()), so that in protected mode each side can
 * map the other side's part read-only:
 *
 *     producer area (page aligned, written only by the producer)
 *         +0                    control: magic, capacity, (reserved)
 *         +DL_CHAN_LINE         slots[capacity]
 *     consumer area (its own page, written only by the consumer)
 *         +0                    control: magic, capacity, head
 *
 * tail (the producer's, private) and head are free-running 64-bit word
 * counters. Nothing is written by both sides; the head sits in a cache line
 * of its own.
 *
 * Publication is in band: the header word of a message is what makes it
 * visible. The word after the last message written is always 0 (a header
 * announces at least one word, so a header is never 0): the producer writes
 * a message's other words, then a 0 in the word after it, then its header
 * (release). A consumer waits on the word at its head: 0 means nothing yet,
 * anything else is the header of the next message, and everything that
 * message needs (its words, the 0 or the next header after it) was written
 * before it. The consumer thus touches one cache line per small message,
 * where a separate tail counter would cost two transfers in a row (tail,
 * then slot); this is what brings a round trip close to a raw cache-line
 * ping-pong. A batch is published by holding back the header of its first
 * message (in the producer handle) and storing it last, once. There is no
 * shared tail counter: the tail is the 0 after the last message, which is
 * also how a producer that attaches again finds it (dl_chan_prod_init()).
 * After a short publication the producer also stores a 0 at the start of
 * the next line, to own that line before a message needs it (the line
 * claim, dl_chan_claim_pos()).
 *
 * Flow control: the producer handle (private memory) caches the consumer's
 * head; its credits are capacity - 1 - (tail - cached head) and it re-reads
 * the shared head (acquire) only when the cached credits are too few for the
 * next message. The consumer copies each message out of the ring into its
 * own buffer before anything looks at it (the producer may be untrusted),
 * frames it with the header value it checked (never a second read), and
 * publishes head (release) once per receive batch. No atomic
 * read-modify-write anywhere: only acquire loads and release stores.
 *
 * Both sides are defensive: an impossible head (going backwards, or past
 * what was published) breaks the producer; a header announcing more than
 * DL_MSG_MAX_WORDS words, or a batch reaching further than the producer's
 * credits allow, or a published header rewritten under the consumer breaks
 * the consumer. A broken side increments its DL_CHAN_BROKEN counter once and
 * every later call returns -EPIPE.
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

/**
 * Per-handle counters: a producer handle points to an array of
 * DL_CHAN_NCNT, a consumer handle to one counter (DL_CHAN_BROKEN: with
 * in-band publication it has no shared counter to re-read).
 */
enum dl_chan_cnt {
	DL_CHAN_BROKEN = 0,  /**< the channel was found broken (counted once) */
	DL_CHAN_RELOADS = 1, /**< producer: head re-reads (credits ran short) */
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
	const uint64_t *head_shared; /**< in the consumer area (read only) */
	uint64_t tail;		     /**< next word to write (may be ahead of tail_pub) */
	uint64_t tail_pub;	     /**< end of what is published */
	uint64_t held;	     /**< header of the message at tail_pub, when tail != tail_pub */
	uint64_t head_cache; /**< last head read */
	uint64_t limit;	     /**< head_cache + capacity - 1, the most tail may reach
				  (tail itself when broken: no credits) */
	uint32_t mask;	     /**< capacity - 1 */
	uint32_t cap;	     /**< capacity in words */
	uint32_t max_words;  /**< largest message: min(capacity - 1, DL_MSG_MAX_WORDS) */
	uint64_t zeroed;     /**< where the last line claim stored its 0 (still 0 while
				  ahead of the tail: nothing else writes past it) */
	bool broken;
	uint64_t *cnt; /**< DL_CHAN_NCNT counters (own_cnt unless given) */
	uint64_t own_cnt[DL_CHAN_NCNT];
};

/** Consumer handle, in the consumer's private memory. */
struct dl_chan_cons {
	const uint64_t *slots;
	uint64_t *head_shared; /**< in the consumer area */
	uint64_t head;	       /**< next word to read (always published) */
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

/**
 * Credits known without touching shared memory: the words the next
 * messages may take (the word kept free for the trailing 0 excluded).
 */
static inline unsigned dl_chan_credits(const struct dl_chan_prod *p)
{
	return (unsigned)(p->limit - p->tail);
}

/**
 * Make sure @p n words can be written, re-reading head only if the cached
 * credits are too few. @return 0, -ENOBUFS (not enough room), -EPIPE.
 */
static inline int dl_chan_reserve(struct dl_chan_prod *p, unsigned n)
{
	if (__builtin_expect(dl_chan_credits(p) >= n, 1)) /* 0 credits when broken */
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

/* Words per cache line (the slots start on a line boundary). */
#define DL_CHAN_LINE_WORDS 8u

/* A message's words but its header into ring @p s (@p mask) at @p tail,
 * word by word where they wrap (rare). @return the header's slot. */
static inline uint32_t dl_chan_copy_body(uint64_t *s, uint32_t mask, uint64_t tail,
					 const uint64_t *w, unsigned n)
{
	const uint32_t pos = (uint32_t)tail & mask;

	if (__builtin_expect(n <= mask + 1 - pos, 1))
		dl_chan_copy_words(s + pos + 1, w + 1, n - 1);
	else
		for (unsigned i = 1; i < n; i++)
			s[(pos + i) & mask] = w[i];
	return pos;
}

/*
 * Line claim. After a publication that ends at @p t, the producer stores a
 * 0 into the first word of the next line (in (t, t + 8]), or, with fewer
 * credits than that, at limit: a free word either way (nothing there is
 * read before a header published later announces it; limit is the last
 * word the credits cover, and is the tail itself when there are none).
 *
 * Why: the 0 that ends a message and the words of a message that starts a
 * line are stored before its header. Were that line still shared with the
 * consumer (from the previous lap, or pulled back by its prefetcher), its
 * transfer would sit on the publication's path: one more transfer each
 * time the tail crosses a line. Taking the line right after a publication,
 * while the producer has nothing else to do, moves it off that path: with
 * 4-word messages the round trip went from ~1.7x to ~1.15x a cache-line
 * ping-pong (docs/noc.md; PREFETCHW in the same place changed nothing).
 * Branch-free, and a store to a line the producer already owns after the
 * first time. A message that ends where the last claim stored its 0 does
 * not store that 0 again (dl_chan_put_now()): the line may have gone back
 * to the consumer's prefetcher meanwhile, and the store would fetch it on
 * the publication's path once more (4-word round trips 1.23x -> 1.11-1.17x).
 *
 * @return the position (free-running) to store the 0 into.
 */
static inline uint64_t dl_chan_claim_pos(const struct dl_chan_prod *p, uint64_t t)
{
	uint64_t next = (t + DL_CHAN_LINE_WORDS) & ~(uint64_t)(DL_CHAN_LINE_WORDS - 1);

	return next < p->limit ? next : p->limit;
}

/*
 * Write @p n words (one message, or several back to back) at the tail
 * (credits reserved): every word but the first, then a 0 after them, then
 * the first word (a header) unless it is the first of the batch, which
 * dl_chan_publish() stores last. Nothing written here is visible before
 * the batch's first header is: the consumer stops at that position.
 */
static inline void dl_chan_put_words(struct dl_chan_prod *p, const uint64_t *w, unsigned n)
{
	uint64_t *s = p->slots;
	const uint32_t pos = (uint32_t)p->tail & p->mask;
	const unsigned first = DL_CHAN_LINE_WORDS - (pos & (DL_CHAN_LINE_WORDS - 1));

	if (n > first && n <= p->cap - pos) {
		/* A run past the line it starts in (a batch): that line last, so
		 * that the line the consumer may be polling is written in one go,
		 * just before the header, rather than taken from it twice. */
		dl_chan_copy_words(s + pos + first, w + first, n - first);
		__atomic_store_n(&s[(uint32_t)(p->tail + n) & p->mask], 0, __ATOMIC_RELAXED);
		dl_chan_copy_words(s + pos + 1, w + 1, first - 1);
	} else {
		dl_chan_copy_body(s, p->mask, p->tail, w, n);
		__atomic_store_n(&s[(uint32_t)(p->tail + n) & p->mask], 0, __ATOMIC_RELAXED);
	}

	if (p->tail == p->tail_pub)
		p->held = w[0];
	else
		__atomic_store_n(&p->slots[pos], w[0], __ATOMIC_RELAXED);
	p->tail += n;
}

/* dl_chan_put_now() and dl_chan_put_now_flat(). */
static inline __attribute__((always_inline)) void
dl_chan_put_now_(struct dl_chan_prod *p, const uint64_t *w, unsigned n, bool flat)
{
	uint64_t *s = p->slots;
	const uint64_t tail = p->tail, end = tail + n, zeroed = p->zeroed;
	const uint64_t claim = dl_chan_claim_pos(p, end);
	const uint32_t mask = p->mask;
	uint32_t pos = (uint32_t)tail & mask;

	p->tail = p->tail_pub = end;
	p->zeroed = claim;
	if (flat)
		dl_chan_copy_words(s + pos + 1, w + 1, n - 1);
	else
		pos = dl_chan_copy_body(s, mask, tail, w, n);
	if (end != zeroed) /* else the last claim's 0 is there already */
		__atomic_store_n(&s[(uint32_t)end & mask], 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s[pos], w[0], __ATOMIC_RELEASE);
	__atomic_store_n(&s[(uint32_t)claim & mask], 0, __ATOMIC_RELAXED);
}

/**
 * Write one message and publish it at once, when no batch is open (tail ==
 * tail_pub) and credits are reserved: its other words, the 0 after it,
 * its header (release), then the line claim.
 */
static inline void dl_chan_put_now(struct dl_chan_prod *p, const uint64_t *w, unsigned n)
{
	dl_chan_put_now_(p, w, n, false);
}

/** Whether a message of @p n words written now lies in one piece (no wrap). */
static inline bool dl_chan_flat(const struct dl_chan_prod *p, unsigned n)
{
	return ((uint32_t)p->tail & p->mask) + n <= p->cap;
}

/** dl_chan_put_now() of a message dl_chan_flat() said does not wrap. */
static inline void dl_chan_put_now_flat(struct dl_chan_prod *p, const uint64_t *w, unsigned n)
{
	dl_chan_put_now_(p, w, n, true);
}

/**
 * Make everything written so far visible to the consumer: one release
 * store of the held header. Then the line claim, when the publication
 * was shorter than a line: a longer one is a stream, whose next line is
 * written soon anyway (taking it early only made the consumer read it
 * twice: 2-word batches of 32 lost ~5% throughput).
 */
static inline void dl_chan_publish(struct dl_chan_prod *p)
{
	const uint64_t from = p->tail_pub, t = p->tail;

	if (t != from) {
		const uint64_t claim = dl_chan_claim_pos(p, t);

		__atomic_store_n(&p->slots[(uint32_t)from & p->mask], p->held, __ATOMIC_RELEASE);
		p->tail_pub = t;
		if (t - from < DL_CHAN_LINE_WORDS) {
			__atomic_store_n(&p->slots[(uint32_t)claim & p->mask], 0, __ATOMIC_RELAXED);
			p->zeroed = claim;
		}
	}
}

/**
 * Check a message before it enters a ring: 1..DL_MSG_MAX_WORDS words and
 * less than the capacity (-EMSGSIZE), header announcing @p n (-EINVAL).
 */
static inline int dl_chan_check_msg(const struct dl_chan_prod *p, const uint64_t *msg, unsigned n)
{
	if (__builtin_expect(n - 1 < p->max_words && dl_msg_hdr_words(msg[0]) == n, 1))
		return 0;
	if (n == 0 || dl_msg_hdr_words(msg[0]) != n)
		return -EINVAL;
	return -EMSGSIZE;
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

/** Mark a consumer broken (counted once). @return -EPIPE. */
int dl_chan_cons_break(struct dl_chan_cons *c);

/* The word at ring position @p at (free-running), as a header (acquire). */
static inline uint64_t dl_chan_hdr_at(const struct dl_chan_cons *c, uint64_t at)
{
	return __atomic_load_n(&c->slots[(uint32_t)at & c->mask], __ATOMIC_ACQUIRE);
}

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
 * Each header is read (acquire) before the words it covers and checked,
 * and the copy is framed with the checked value (never a second read), so
 * a producer rewriting the ring meanwhile cannot make the caller see
 * framing other than what was checked. A batch stops at the 0 after the
 * last published message, after @p max_msgs, or where the next message
 * would not fit @p room; nothing past the last message taken is copied.
 *
 * @param nwords if not NULL, receives the number of words of the messages.
 * @return messages received (0 when none), -EMSGSIZE when the next
 *         message does not fit an empty @p buf, -EPIPE when broken.
 */
static inline __attribute__((always_inline)) int dl_chan_recv(struct dl_chan_cons *c, uint64_t *buf, unsigned room,
			       unsigned max_msgs, unsigned *nwords)
{
	const uint64_t head = c->head;
	const unsigned lim = c->cap - 1; /* the most a legitimate batch can hold */
	uint64_t h = dl_chan_hdr_at(c, head);
	unsigned n = dl_msg_hdr_words(h), used, msgs;
	uint32_t pos = (uint32_t)head & c->mask;
	int rc = 0;

	if (__builtin_expect(c->broken, 0))
		rc = -EPIPE;
	else if (h == 0 || max_msgs == 0)
		rc = 0;
	else if (__builtin_expect(n - 1 >= DL_MSG_MAX_WORDS || n > lim, 0))
		rc = dl_chan_cons_break(c); /* 0 words, > 126, or past any credits */
	else if (__builtin_expect(n > room, 0))
		rc = -EMSGSIZE;
	else
		goto first;
	if (nwords != NULL)
		*nwords = 0;
	return rc;
first: /* the first message (often the only one) */
	buf[0] = h;
	if (__builtin_expect(pos + n <= c->cap, 1))
		dl_chan_copy_words(buf + 1, c->slots + pos + 1, n - 1);
	else
		dl_chan_copy_out(c, head, buf, 1, n);
	used = n;
	msgs = 1;
	/* A run of messages of the same size that does not wrap: header k is
	 * at k * n whatever the others say, so the loads are independent. */
	if (msgs < max_msgs && (h = dl_chan_hdr_at(c, head + used)) != 0 &&
	    dl_msg_hdr_words(h) == n) {
		const uint64_t *src = c->slots + pos;
		unsigned kmax = (room < lim ? room : lim) / n;

		kmax = kmax < max_msgs ? kmax : max_msgs;
		if (pos + kmax * n <= c->cap) {
			for (;;) {
				buf[used] = h;
				dl_chan_copy_words(buf + used + 1, src + used + 1, n - 1);
				used += n;
				if (++msgs == kmax)
					goto done;
				h = __atomic_load_n(&src[used], __ATOMIC_ACQUIRE);
				if (dl_msg_hdr_words(h) != n)
					break;
			}
		}
	}
	/* Anything else: one message at a time (h: the next header, or 0). */
	while (h != 0 && msgs < max_msgs) {
		n = dl_msg_hdr_words(h);
		if (__builtin_expect(n - 1 >= DL_MSG_MAX_WORDS || used + n > lim, 0)) {
			dl_chan_cons_break(c); /* 0 words, > 126, or past the credits */
			break;
		}
		if (used + n > room) /* longer than the room left */
			break;
		buf[used] = h;
		dl_chan_copy_out(c, head, buf, used + 1, used + n);
		used += n;
		if (++msgs < max_msgs)
			h = dl_chan_hdr_at(c, head + used);
	}
done:
	c->head = head + used;
	__atomic_store_n(c->head_shared, c->head, __ATOMIC_RELEASE);
	if (nwords != NULL)
		*nwords = used;
	return (int)msgs; /* after a break: the good ones; the next call says -EPIPE */
}

/**
 * True when the channel may hold a message for the consumer (the word at
 * head is not 0) or is broken. One acquire load; no counters, no side
 * effects (a poll's empty fast path).
 */
static inline bool dl_chan_cons_ready(const struct dl_chan_cons *c)
{
	return dl_chan_hdr_at(c, c->head) != 0 || c->broken;
}

#ifdef __cplusplus
}
#endif

#endif /* DL_CHAN_H */
