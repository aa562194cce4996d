/*
 * model_priv.h - the MDE model's internal state, shared by its files:
 * mpipe.c (control path: resources, stacks, rings, rules, links), engine.c
 * (the mPIPE's own thread: classifier, iDMA, eDMA), wire.c (tap, loop and
 * mem links), memmap.c (what pages back an address), cpus.c, alloc.c,
 * udn.c, log.c.
 */
#ifndef MDE_MODEL_PRIV_H
#define MDE_MODEL_PRIV_H

#include <gxio/mpipe.h>

#include "mde_model.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Hardware limits of one shim (hv/drv_mpipe_intf.h). */
#define MDE_NUM_STACKS	    32
#define MDE_NUM_RINGS	    256
#define MDE_RING_CHUNK	    8
#define MDE_NUM_GROUPS	    32
#define MDE_NUM_BUCKETS	    4160
#define MDE_NUM_EDMA	    24
#define MDE_PAGES_PER_STACK 16
#define MDE_NUM_CHANNELS    32
#define MDE_MAX_LINKS	    8
#define MDE_MAX_FRAME	    10240 /* jumbo frames */
#define MDE_WIRE_QUEUE	    1024  /* frames queued on a loop/mem wire */

/* ---- guest errors (log.c) ---- */

/** Count *ctr (and the total), print the message, abort when fatal. */
void mde_guest_error(uint64_t *ctr, uint64_t *total, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/** Model trouble that is not the guest's fault (host resources). */
void mde_model_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- memory (memmap.c) ---- */

/** Record tmc_alloc memory as pages of `page` bytes (physically contiguous). */
void mde_mem_add(void *base, size_t len, size_t page);
/** Forget a tmc_alloc range. */
void mde_mem_remove(void *base);
/**
 * Size of the contiguous page that backs p (tmc_alloc memory: its page;
 * other memory: the host kernel's page size for the mapping), or 0 when p
 * is not mapped.
 */
size_t mde_mem_page_size(const void *p);
/** True when [p, p+len) lies in one contiguous page. */
bool mde_mem_contiguous(const void *p, size_t len);

/* ---- cpus (cpus.c) ---- */

/** Tile the calling thread is bound to, or -1. */
int mde_my_cpu(void);
/** Grid dimensions (read from MDE_MODEL_GRID or the UDN configuration). */
unsigned mde_grid_width(void);
unsigned mde_grid_height(void);
/** Set the grid (udn.c, before the hardwall exists). */
void mde_grid_set(unsigned w, unsigned h);

/* ---- mPIPE model ---- */

struct mde_page {
	uintptr_t base;
	size_t size;
	uint64_t *on_stack; /* one bit per 128-byte slot: buffer is on the stack */
};

struct mde_stack {
	pthread_mutex_t lock;
	bool allocated, initialized;
	unsigned size_code;
	size_t buf_size;
	uintptr_t *entries; /* LIFO */
	size_t cap, n;
	struct mde_page page[MDE_PAGES_PER_STACK];
	unsigned npages;
};

struct mde_ring {
	bool allocated, initialized;
	gxio_mpipe_idesc_t *mem;
	unsigned n;	  /* entries, descriptors use 1..n-1 */
	uint64_t written; /* engine only */
	int64_t credits;  /* atomic: descriptors the ring may still take */
};

struct mde_group {
	bool allocated, initialized;
	unsigned ring0, nrings;
};

struct mde_bucket {
	bool allocated, initialized;
	unsigned ring, group;
	gxio_mpipe_bucket_mode_t mode;
};

struct mde_edma {
	struct mde_mpipe *mp;
	bool allocated, initialized;
	gxio_mpipe_edesc_t *mem;
	unsigned n, log2;
	unsigned channel;
	uint64_t head;	   /* engine: next descriptor to look at */
	uint64_t complete; /* atomic: descriptors processed */
};

enum mde_link_kind { MDE_LINK_LOOP, MDE_LINK_TAP, MDE_LINK_MEM };

/* A bounded queue of frames (loop and mem wires). */
struct mde_frameq {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	uint8_t *buf[MDE_WIRE_QUEUE];
	uint16_t len[MDE_WIRE_QUEUE];
	unsigned head, n;
};

struct mde_link {
	bool open;
	char name[GXIO_MPIPE_LINK_NAME_LEN];
	enum mde_link_kind kind;
	unsigned channel;
	uint8_t mac[6];
	int fd;		 /* tap */
	int64_t desired; /* DESIRED_STATE */
	bool jumbo;
	struct mde_frameq in;  /* frames arriving (loop, mem) */
	struct mde_frameq out; /* frames sent (mem) */
};

struct mde_mpipe {
	pthread_mutex_t lock; /* control path */
	int instance;
	gxio_mpipe_context_t *ctx;
	struct mde_stack stack[MDE_NUM_STACKS];
	struct mde_ring ring[MDE_NUM_RINGS];
	struct mde_group group[MDE_NUM_GROUPS];
	struct mde_bucket *bucket; /* MDE_NUM_BUCKETS */
	struct mde_edma edma[MDE_NUM_EDMA];
	mde_model_rule_t rule[MDE_MODEL_MAX_RULES];
	unsigned nrules;
	struct mde_link link[MDE_MAX_LINKS];
	/* engine */
	pthread_t thread;
	bool running;
	int wake_fd;
	uint64_t packet_sqn;
	unsigned rr;
	struct mde_model_mpipe_counters cnt;
	gxio_mpipe_stats_t stats;
};

/** The shim model behind a context (NULL if the context is not open). */
struct mde_mpipe *mde_mpipe_of(gxio_mpipe_context_t *ctx);

/* Buffer stacks, shared by the API (mpipe.c) and the engine. */
void mde_stack_push(struct mde_mpipe *mp, unsigned stack, uintptr_t addr, const char *who);
uintptr_t mde_stack_pop(struct mde_mpipe *mp, unsigned stack);
/**
 * Host address of a 42-bit descriptor va, resolved through the pages
 * registered for the stack (the IO-TLB); 0 when none holds it.
 */
uintptr_t mde_iova_resolve(struct mde_mpipe *mp, unsigned stack, int64_t va);
/** True when [addr, addr+len) lies in one page registered for the stack. */
bool mde_stack_covers(struct mde_mpipe *mp, unsigned stack, uintptr_t addr, size_t len);

/* Engine (engine.c). */
int mde_engine_start(struct mde_mpipe *mp);
void mde_engine_stop(struct mde_mpipe *mp);
void mde_engine_wake(struct mde_mpipe *mp);
/** Classify and deliver one frame received on a channel (engine thread). */
void mde_ingress_frame(struct mde_mpipe *mp, unsigned channel, const uint8_t *f, size_t len);

/* Wires (wire.c). */
int mde_link_wire_open(struct mde_link *l);
void mde_link_wire_close(struct mde_link *l);
/** Send a frame on a link's wire: 0, or -1 when the wire refused it. */
int mde_link_wire_send(struct mde_mpipe *mp, struct mde_link *l, const uint8_t *f, size_t len);
/** Receive frames from every open link's wire into the classifier. */
unsigned mde_links_ingress(struct mde_mpipe *mp, unsigned budget);
/** Fill pfd with the pollable fds of the links; returns how many. */
unsigned mde_links_pollfds(struct mde_mpipe *mp, int *fds, unsigned max);
int mde_frameq_put(struct mde_frameq *q, const uint8_t *f, size_t len);
size_t mde_frameq_get(struct mde_frameq *q, uint8_t *out, size_t cap, unsigned timeout_ms);
void mde_frameq_init(struct mde_frameq *q);
void mde_frameq_free(struct mde_frameq *q);

/** The open link with a name, in any open context (NULL if none). */
struct mde_link *mde_link_find(const char *name, struct mde_mpipe **mp_out);

#endif
