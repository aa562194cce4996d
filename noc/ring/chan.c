/*
 * chan.c - setup and slow paths of the SPSC word channel (see dl_chan.h).
 *
 * The hot paths (write, publish, receive) are inline in dl_chan.h; this
 * file lays out the memory, attaches handles and re-reads the other side's
 * counter, which is also where a misbehaving peer is detected: the values
 * we read are checked against what is possible before they are believed.
 */
#include "dl_chan.h"

#include <string.h>
#include <unistd.h>

#define MAGIC_PROD UINT64_C(0x646c2d6368616e50) /* "dl-chanP" */
#define MAGIC_CONS UINT64_C(0x646c2d6368616e43) /* "dl-chanC" */

/* Control words at the start of each area; the counter is the only one
 * that changes after dl_chan_init(). */
struct chan_ctl {
	uint64_t magic;
	uint64_t words;
	uint64_t counter; /* head (consumer area); reserved, 0 (producer area:
			   * the tail is in band, the 0 after the last message) */
};

_Static_assert(sizeof(struct chan_ctl) <= DL_CHAN_LINE, "control must fit before the slots");

static size_t page_size(void)
{
	long p = sysconf(_SC_PAGESIZE);

	return p > 0 ? (size_t)p : 4096;
}

static size_t round_up(size_t v, size_t a)
{
	return (v + a - 1) / a * a;
}

static bool words_ok(unsigned words)
{
	return words >= DL_CHAN_MIN_WORDS && words <= DL_CHAN_MAX_WORDS &&
	       (words & (words - 1)) == 0;
}

int dl_chan_layout(unsigned words, struct dl_chan_layout *l)
{
	if (!words_ok(words))
		return -EINVAL;
	l->page = page_size();
	l->prod_off = 0;
	l->slots_off = DL_CHAN_LINE;
	l->prod_len = round_up(DL_CHAN_LINE + (size_t)words * sizeof(uint64_t), l->page);
	l->cons_off = l->prod_len;
	l->cons_len = l->page;
	l->total = l->prod_len + l->cons_len;
	return 0;
}

size_t dl_chan_mem_size(unsigned words)
{
	struct dl_chan_layout l;

	return dl_chan_layout(words, &l) == 0 ? l.total : 0;
}

int dl_chan_init(void *mem, unsigned words)
{
	struct dl_chan_layout l;
	struct chan_ctl *pc, *cc;
	uint8_t *base = mem;

	if (mem == NULL || dl_chan_layout(words, &l) < 0 || (uintptr_t)mem % l.page != 0)
		return -EINVAL;
	memset(base, 0, l.total);
	pc = (struct chan_ctl *)(base + l.prod_off);
	cc = (struct chan_ctl *)(base + l.cons_off);
	pc->magic = MAGIC_PROD;
	pc->words = words;
	cc->magic = MAGIC_CONS;
	cc->words = words;
	return 0;
}

/* Both control blocks of an initialised channel of @p words, or -EINVAL. */
static int attach(void *mem, unsigned words, struct chan_ctl **pc, struct chan_ctl **cc,
		  uint64_t **slots)
{
	struct dl_chan_layout l;
	uint8_t *base = mem;

	if (mem == NULL || dl_chan_layout(words, &l) < 0)
		return -EINVAL;
	*pc = (struct chan_ctl *)(base + l.prod_off);
	*cc = (struct chan_ctl *)(base + l.cons_off);
	*slots = (uint64_t *)(base + l.slots_off);
	if ((*pc)->magic != MAGIC_PROD || (*pc)->words != words || (*cc)->magic != MAGIC_CONS ||
	    (*cc)->words != words)
		return -EINVAL;
	return 0;
}

int dl_chan_prod_init(struct dl_chan_prod *p, void *mem, unsigned words, uint64_t *cnt)
{
	struct chan_ctl *pc, *cc;
	uint64_t *slots;

	memset(p, 0, sizeof(*p));
	if (attach(mem, words, &pc, &cc, &slots) < 0)
		return -EINVAL;
	p->slots = slots;
	p->head_shared = &cc->counter;
	p->head_cache = __atomic_load_n(p->head_shared, __ATOMIC_ACQUIRE);
	p->mask = words - 1;
	p->cap = words;
	p->max_words = words - 1 < DL_MSG_MAX_WORDS ? words - 1 : DL_MSG_MAX_WORDS;
	p->limit = p->head_cache + words - 1;
	p->cnt = cnt != NULL ? cnt : p->own_cnt;
	/* The tail is in band: after the messages the consumer has not read
	 * yet (from its head, header to header), at the 0 that ends them (at
	 * head itself for a channel never written to). */
	p->tail = p->head_cache;
	for (uint64_t w;
	     (w = __atomic_load_n(&slots[(uint32_t)p->tail & p->mask], __ATOMIC_ACQUIRE)) != 0;) {
		unsigned n = dl_msg_hdr_words(w);

		if (n == 0 || n > p->max_words || p->tail + n - p->head_cache > words - 1)
			return -EINVAL; /* not a ring this code wrote */
		p->tail += n;
	}
	p->tail_pub = p->tail;
	return 0;
}

int dl_chan_cons_init(struct dl_chan_cons *c, void *mem, unsigned words, uint64_t *cnt)
{
	struct chan_ctl *pc, *cc;
	uint64_t *slots;

	memset(c, 0, sizeof(*c));
	if (attach(mem, words, &pc, &cc, &slots) < 0)
		return -EINVAL;
	c->slots = slots;
	c->head_shared = &cc->counter;
	c->head = __atomic_load_n(c->head_shared, __ATOMIC_ACQUIRE);
	c->mask = words - 1;
	c->cap = words;
	c->cnt = cnt != NULL ? cnt : c->own_cnt;
	return 0;
}

static int prod_break(struct dl_chan_prod *p)
{
	if (!p->broken) {
		p->broken = true;
		p->limit = p->tail; /* no credits, ever: every write takes the slow path */
		p->cnt[DL_CHAN_BROKEN]++;
	}
	return -EPIPE;
}

int dl_chan_cons_break(struct dl_chan_cons *c)
{
	if (!c->broken) {
		c->broken = true;
		c->cnt[DL_CHAN_BROKEN]++;
	}
	return -EPIPE;
}

int dl_chan_reload_credits(struct dl_chan_prod *p)
{
	uint64_t h;

	if (p->broken)
		return -EPIPE;
	h = __atomic_load_n(p->head_shared, __ATOMIC_ACQUIRE);
	p->cnt[DL_CHAN_RELOADS]++;
	/* The consumer can neither go back nor read what was not published. */
	if ((int64_t)(h - p->head_cache) < 0 || (int64_t)(p->tail_pub - h) < 0)
		return prod_break(p);
	p->head_cache = h;
	p->limit = h + p->cap - 1;
	return 0;
}

/* Number of whole messages in @p total words, or a negative errno. */
static int count_msgs(const uint64_t *words, unsigned total)
{
	unsigned hint = dl_msg_hdr_words(words[0]), off = 0;
	int msgs = 0;

	/* Same-size run first: independent loads, no serial walk. */
	if (hint != 0)
		while (off + hint <= total && dl_msg_hdr_words(words[off]) == hint) {
			off += hint;
			msgs++;
		}
	while (off < total) {
		unsigned n = dl_msg_hdr_words(words[off]);

		if (n == 0 || n > total - off)
			return -EINVAL;
		if (n > DL_MSG_MAX_WORDS)
			return -EMSGSIZE;
		off += n;
		msgs++;
	}
	return hint > DL_MSG_MAX_WORDS ? -EMSGSIZE : msgs;
}

int dl_chan_send_bulk(struct dl_chan_prod *p, const uint64_t *words, unsigned total)
{
	int msgs, rc;

	if (p->broken)
		return -EPIPE;
	if (total == 0)
		return 0;
	msgs = count_msgs(words, total);
	if (msgs < 0)
		return msgs;
	if (total >= p->cap)
		return -EMSGSIZE;
	rc = dl_chan_reserve(p, total);
	if (rc < 0)
		return rc;
	dl_chan_put_words(p, words, total);
	dl_chan_publish(p);
	return msgs;
}
