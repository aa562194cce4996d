/*
 * gxio/mpipe.h (MDE model) - the user-space gxio mPIPE interface, exactly
 * the part drivers/tilegx uses, declared as the Tilera MDE declares it so
 * that the real MDE header replaces this one without a change to the
 * driver. The descriptor layouts are the hardware's (arch/mpipe_shm.h:
 * MPIPE_PDESC_t, 8 words, and MPIPE_EDMA_DESC_t, 2 words, little-endian bit
 * order); the calls are implemented by the model in drivers/tilegx/mde-model
 * (mpipe.c for the control path, engine.c for the hardware that runs in
 * its own thread).
 *
 * Where the MDE implements a call inline against memory-mapped registers
 * (push/pop buffer, credit, equeue reservation), the model makes it a
 * function call: same name, same arguments, same result.
 *
 * The model's notif ring keeps the hardware's rule that entry 0 of the ring
 * memory belongs to the hardware (it holds the count of descriptors
 * written); descriptors occupy entries 1..N-1, so a ring of N entries holds
 * at most N-1 undelivered descriptors.
 */
#ifndef MDE_MODEL_GXIO_MPIPE_H
#define MDE_MODEL_GXIO_MPIPE_H

#include <arch/abi.h>
#include <gxio/common.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** mPIPE shims a process can address (a Gx36 has one). */
#define GXIO_MPIPE_INSTANCE_MAX 2

/* ------------------------------------------------------------------------ */
/* Descriptors (hardware layouts)                                           */
/* ------------------------------------------------------------------------ */

/**
 * Ingress packet descriptor (MPIPE_PDESC_t): written by the classifier, the
 * load balancer and the iDMA engine into a notif ring; 8 words, 64 bytes.
 */
typedef union {
	struct {
		/* Word 0 */
		uint_reg_t notif_ring : 8; /**< ring it was written to */
		uint_reg_t channel : 5;	   /**< source channel (link) */
		uint_reg_t __reserved_0 : 1;
		uint_reg_t me : 1;	   /**< MAC error (receive FIFO overrun) */
		uint_reg_t tr : 1;	   /**< truncated (iPkt buffer full) */
		uint_reg_t l2_size : 14;   /**< bytes written to memory */
		uint_reg_t ce : 1;	   /**< CRC / L2 error */
		uint_reg_t ct : 1;	   /**< cut through */
		uint_reg_t bucket_id : 13; /**< load-balancer bucket */
		uint_reg_t __reserved_1 : 3;
		uint_reg_t cs : 1;   /**< checksum computed into csum_seed_val */
		uint_reg_t nr : 1;   /**< ring chosen by the classifier */
		uint_reg_t dest : 2; /**< drop / deliver decision */
		uint_reg_t sq : 1;
		uint_reg_t ts : 1;
		uint_reg_t ps : 1;
		uint_reg_t be : 1; /**< buffer error: no buffer, packet dropped */
		uint_reg_t ctr0 : 5;
		uint_reg_t __reserved_2 : 3;
		/* Word 1 */
		uint_reg_t ctr1 : 5;
		uint_reg_t __reserved_3 : 3;
		uint_reg_t csum_start : 8;     /**< checksum start, from the first byte */
		uint_reg_t csum_seed_val : 16; /**< checksum result (0xFFFF: good) */
		uint_reg_t custom0 : 32;       /**< flow hash (default classifier) */
		/* Word 2 */
		uint_reg_t custom1 : 64; /**< vlan, ethertype, l2/l3/l4 offsets, status */
		/* Word 3 */
		uint_reg_t custom2 : 64;
		/* Word 4 */
		uint_reg_t custom3 : 64;
		/* Word 5 */
		uint_reg_t gp_sqn : 16;
		uint_reg_t packet_sqn : 48;
		/* Word 6 */
		uint_reg_t time_stamp_ns : 32;
		uint_reg_t time_stamp_sec : 32;
		/* Word 7: buffer descriptor */
		int_reg_t va : 42; /**< first byte (sign-extended) */
		uint_reg_t __reserved_4 : 6;
		uint_reg_t stack_idx : 5; /**< buffer stack of the buffer */
		uint_reg_t __reserved_5 : 3;
		uint_reg_t inst : 2;
		uint_reg_t hwb : 1;  /**< always 1 on ingress */
		uint_reg_t size : 3; /**< buffer size code */
		uint_reg_t c : 2;    /**< 0 unchained, 1 chained */
	};
	uint_reg_t words[8];
} gxio_mpipe_idesc_t;

/** Egress command descriptor (MPIPE_EDMA_DESC_t): 2 words, 16 bytes. */
typedef union {
	struct {
		/* Word 0 */
		uint_reg_t gen : 1; /**< generation (set by equeue_put_at) */
		uint_reg_t efifo_sel : 6;
		uint_reg_t r0 : 1;   /**< reserved, zero */
		uint_reg_t csum : 1; /**< compute a checksum in this transfer */
		uint_reg_t ns : 1;   /**< no send (buffers still returned) */
		uint_reg_t notif : 1;
		uint_reg_t bound : 1;	   /**< last descriptor of the packet */
		uint_reg_t r1 : 4;	   /**< reserved, zero */
		uint_reg_t xfer_size : 14; /**< bytes sent from va */
		uint_reg_t r2 : 2;	   /**< reserved, zero */
		uint_reg_t csum_dest : 8;  /**< where the sum goes, from va */
		uint_reg_t csum_start : 8; /**< first summed byte, from va */
		uint_reg_t csum_seed : 16; /**< initial sum, network byte order */
		/* Word 1: buffer descriptor */
		int_reg_t va : 42;
		uint_reg_t __reserved_0 : 6;
		uint_reg_t stack_idx : 5; /**< stack (and IO-TLB mapping) of va */
		uint_reg_t __reserved_1 : 3;
		uint_reg_t inst : 2;
		uint_reg_t hwb : 1;  /**< hardware pushes the buffer back after egress */
		uint_reg_t size : 3; /**< buffer size code (with hwb) */
		uint_reg_t c : 2;
	};
	uint_reg_t words[2];
} gxio_mpipe_edesc_t;

_Static_assert(sizeof(gxio_mpipe_idesc_t) == 64, "ingress descriptor is 8 words");
_Static_assert(sizeof(gxio_mpipe_edesc_t) == 16, "egress descriptor is 2 words");

/* ------------------------------------------------------------------------ */
/* Context, limits, flags                                                   */
/* ------------------------------------------------------------------------ */

/** Eight buffer stack ids, indexed by buffer size code (255: none). */
typedef struct {
	uint8_t stacks[8];
} gxio_mpipe_rules_stacks_t;

struct mde_mpipe;

/** A context: one process's service domain on one mPIPE shim. */
typedef struct {
	int fd;
	int instance;
	struct mde_mpipe *model; /* model state (no MMIO in the model) */
	gxio_mpipe_rules_stacks_t __stacks;
} gxio_mpipe_context_t;

/** Flag for the resource allocators: allocate exactly at `first`. */
enum gxio_mpipe_alloc_flags_e {
	GXIO_MPIPE_ALLOC_FIXED = 0x01,
};

/** Buffer size codes. */
typedef enum {
	GXIO_MPIPE_BUFFER_SIZE_128 = 0,
	GXIO_MPIPE_BUFFER_SIZE_256 = 1,
	GXIO_MPIPE_BUFFER_SIZE_512 = 2,
	GXIO_MPIPE_BUFFER_SIZE_1024 = 3,
	GXIO_MPIPE_BUFFER_SIZE_1664 = 4,
	GXIO_MPIPE_BUFFER_SIZE_4096 = 5,
	GXIO_MPIPE_BUFFER_SIZE_10368 = 6,
	GXIO_MPIPE_BUFFER_SIZE_16384 = 7,
} gxio_mpipe_buffer_size_enum_t;

/** Load-balancer bucket modes. The model implements STATIC_FLOW_AFFINITY
 * and ROUND_ROBIN; the others are refused with GXIO_ERR_UNSUPPORTED_OP. */
typedef enum {
	GXIO_MPIPE_BUCKET_DYNAMIC_FLOW_AFFINITY = 0,
	GXIO_MPIPE_BUCKET_STATIC_FLOW_AFFINITY = 1,
	GXIO_MPIPE_BUCKET_ROUND_ROBIN = 2,
	GXIO_MPIPE_BUCKET_STICKY_FLOW_LOCALITY = 3,
	GXIO_MPIPE_BUCKET_PREFER_FLOW_LOCALITY = 4,
} gxio_mpipe_bucket_mode_t;

/** Link names are at most this long, NUL included. */
#define GXIO_MPIPE_LINK_NAME_LEN 32

/* gxio_mpipe_link_open() flags. */
#define GXIO_MPIPE_LINK_DATA	    0x00000001UL
#define GXIO_MPIPE_LINK_NO_DATA	    0x00000002UL
#define GXIO_MPIPE_LINK_EXCL_DATA   0x00000004UL
#define GXIO_MPIPE_LINK_STATS	    0x00000008UL
#define GXIO_MPIPE_LINK_NO_STATS    0x00000010UL
#define GXIO_MPIPE_LINK_EXCL_STATS  0x00000020UL
#define GXIO_MPIPE_LINK_CTL	    0x00000040UL
#define GXIO_MPIPE_LINK_NO_CTL	    0x00000080UL
#define GXIO_MPIPE_LINK_EXCL_CTL    0x00000100UL
#define GXIO_MPIPE_LINK_AUTO_UP	    0x00000200UL
#define GXIO_MPIPE_LINK_AUTO_UPDOWN 0x00000400UL
#define GXIO_MPIPE_LINK_AUTO_DOWN   0x00000800UL
#define GXIO_MPIPE_LINK_AUTO_NONE   0x00001000UL
#define GXIO_MPIPE_LINK_WAIT	    0x00002000UL

/* Link attributes. */
#define GXIO_MPIPE_LINK_RECEIVE_JUMBO	0x010000
#define GXIO_MPIPE_LINK_SEND_PAUSE	0x020000
#define GXIO_MPIPE_LINK_RECEIVE_PAUSE	0x030000
#define GXIO_MPIPE_LINK_MAC		0x040000
#define GXIO_MPIPE_LINK_DISCARD_IF_DOWN 0x050000
#define GXIO_MPIPE_LINK_POSSIBLE_STATE	0x060000
#define GXIO_MPIPE_LINK_CURRENT_STATE	0x070000
#define GXIO_MPIPE_LINK_DESIRED_STATE	0x080000

/* Link state flags. */
#define GXIO_MPIPE_LINK_10M	   0x0000000000000001UL
#define GXIO_MPIPE_LINK_100M	   0x0000000000000002UL
#define GXIO_MPIPE_LINK_1G	   0x0000000000000004UL
#define GXIO_MPIPE_LINK_10G	   0x0000000000000008UL
#define GXIO_MPIPE_LINK_20G	   0x0000000000000010UL
#define GXIO_MPIPE_LINK_25G	   0x0000000000000020UL
#define GXIO_MPIPE_LINK_50G	   0x0000000000000040UL
#define GXIO_MPIPE_LINK_ANYSPEED   0x0000000000000800UL
#define GXIO_MPIPE_LINK_SPEED_MASK 0x0000000000000FFFUL
#define GXIO_MPIPE_LINK_LOOP_MAC   0x0000000000001000UL
#define GXIO_MPIPE_LINK_LOOP_PHY   0x0000000000002000UL
#define GXIO_MPIPE_LINK_LOOP_EXT   0x0000000000004000UL
#define GXIO_MPIPE_LINK_LOOP_MASK  0x000000000000F000UL
#define GXIO_MPIPE_LINK_FDX	   0x0000000000010000UL
#define GXIO_MPIPE_LINK_HDX	   0x0000000000020000UL

/** mPIPE statistics (all links of the shim). */
typedef struct {
	uint64_t ingress_drops;
	uint64_t ingress_drops_no_buf;
	uint64_t ingress_drops_ipkt;
	uint64_t ingress_drops_cls_lb;
	uint64_t ingress_packets;
	uint64_t egress_packets;
	uint64_t ingress_bytes;
	uint64_t egress_bytes;
} gxio_mpipe_stats_t;

/* ------------------------------------------------------------------------ */
/* Context and buffer stacks                                                */
/* ------------------------------------------------------------------------ */

/** Open a context on mPIPE shim `mpipe_instance`. 0 or a negative error. */
int gxio_mpipe_init(gxio_mpipe_context_t *context, unsigned int mpipe_instance);

/** Release a context and every resource it allocated. */
int gxio_mpipe_destroy(gxio_mpipe_context_t *context);

/** Allocate `count` buffer stacks: index of the first, or an error. */
int gxio_mpipe_alloc_buffer_stacks(gxio_mpipe_context_t *context, unsigned int count,
				   unsigned int first, unsigned int flags);

/** Size code of the smallest buffer size holding `size` bytes (16384 max). */
gxio_mpipe_buffer_size_enum_t gxio_mpipe_buffer_size_to_buffer_size_enum(size_t size);

/** Bytes of a buffer size code. */
size_t gxio_mpipe_buffer_size_enum_to_buffer_size(gxio_mpipe_buffer_size_enum_t buffer_size_enum);

/** Bytes of stack memory for `buffers` buffers (12 per 64-byte line). */
size_t gxio_mpipe_calc_buffer_stack_bytes(unsigned long buffers);

/**
 * Give a stack its memory (physically contiguous, 64 KiB aligned) and its
 * buffer size. The memory belongs to the hardware afterwards.
 */
int gxio_mpipe_init_buffer_stack(gxio_mpipe_context_t *context, unsigned int stack,
				 gxio_mpipe_buffer_size_enum_t buffer_size_enum, void *mem,
				 size_t mem_size, unsigned int mem_flags);

/**
 * Register one page (its IO-TLB entry) for a stack: every buffer pushed to
 * the stack, and every egress byte naming the stack, must lie in a
 * registered page. At most 16 pages per stack (GXIO_ERR_IOTLB_ENTRY).
 */
int gxio_mpipe_register_page(gxio_mpipe_context_t *context, unsigned int stack, void *page,
			     size_t page_size, unsigned int page_flags);

/** Push a buffer (its low 7 bits are ignored) onto a stack. */
void gxio_mpipe_push_buffer(gxio_mpipe_context_t *context, unsigned int stack, void *buffer);

/** Pop a buffer from a stack; NULL when the stack is empty. */
void *gxio_mpipe_pop_buffer(gxio_mpipe_context_t *context, unsigned int stack);

/* ------------------------------------------------------------------------ */
/* Notif rings, groups, buckets                                             */
/* ------------------------------------------------------------------------ */

/** Allocate notif rings (granted in chunks of 8): the first index or an error. */
int gxio_mpipe_alloc_notif_rings(gxio_mpipe_context_t *context, unsigned int count,
				 unsigned int first, unsigned int flags);

/** Allocate notif groups: the first index or an error. */
int gxio_mpipe_alloc_notif_groups(gxio_mpipe_context_t *context, unsigned int count,
				  unsigned int first, unsigned int flags);

/** Allocate load-balancer buckets: the first index or an error. */
int gxio_mpipe_alloc_buckets(gxio_mpipe_context_t *context, unsigned int count, unsigned int first,
			     unsigned int flags);

/**
 * One group over rings ring..ring+num_rings-1 and buckets bucket..
 * bucket+num_buckets-1, bucket i on ring ring + i % num_rings.
 */
int gxio_mpipe_init_notif_group_and_buckets(gxio_mpipe_context_t *context, unsigned int group,
					    unsigned int ring, unsigned int num_rings,
					    unsigned int bucket, unsigned int num_buckets,
					    gxio_mpipe_bucket_mode_t mode);

/** Return `count` credits to a ring and/or a bucket (-1: none). */
void gxio_mpipe_credit(gxio_mpipe_context_t *context, int ring, int bucket, unsigned int count);

/* ------------------------------------------------------------------------ */
/* Classifier rules                                                         */
/* ------------------------------------------------------------------------ */

#define MDE_MODEL_MAX_RULES 16

/** A classifier rule (model layout). */
typedef struct {
	uint16_t bucket_first, bucket_mask;
	gxio_mpipe_rules_stacks_t stacks;
	uint8_t headroom, tailroom;
	uint16_t capacity;
	uint32_t channel_bits;
} mde_model_rule_t;

/** A list of classifier rules being built, plus its context. */
typedef struct {
	gxio_mpipe_context_t *context;
	unsigned int n;
	mde_model_rule_t rule[MDE_MODEL_MAX_RULES];
} gxio_mpipe_rules_t;

void gxio_mpipe_rules_init(gxio_mpipe_rules_t *rules, gxio_mpipe_context_t *context);
int gxio_mpipe_rules_begin(gxio_mpipe_rules_t *rules, unsigned int bucket, unsigned int num_buckets,
			   gxio_mpipe_rules_stacks_t *stacks);
int gxio_mpipe_rules_set_headroom(gxio_mpipe_rules_t *rules, uint8_t headroom);
int gxio_mpipe_rules_add_channel(gxio_mpipe_rules_t *rules, unsigned int channel);
int gxio_mpipe_rules_commit(gxio_mpipe_rules_t *rules);

/* ------------------------------------------------------------------------ */
/* Ingress queue                                                            */
/* ------------------------------------------------------------------------ */

/** A notif ring as read by one thread. */
typedef struct {
	gxio_mpipe_context_t *context;
	gxio_mpipe_idesc_t *idescs;
	unsigned long num_entries;
	unsigned long mask_num_entries;
	unsigned long log2_num_entries;
	unsigned int head; /* next entry to read (1..num_entries-1) */
	unsigned int ring;
	uint64_t consumed; /* descriptors advanced over */
} gxio_mpipe_iqueue_t;

/**
 * Initialise an iqueue and its notif ring: mem_size is 128, 512, 2048 or
 * 65536 descriptors (64 bytes each), mem 4 KiB aligned and physically
 * contiguous.
 */
int gxio_mpipe_iqueue_init(gxio_mpipe_iqueue_t *iqueue, gxio_mpipe_context_t *context,
			   unsigned int ring, void *mem, size_t mem_size, unsigned int mem_flags);

/**
 * Ready descriptors without waiting: the count of contiguous ones starting
 * at *idesc_ref, or GXIO_MPIPE_ERR_IQUEUE_EMPTY (with *idesc_ref NULL).
 */
static inline int gxio_mpipe_iqueue_try_peek(gxio_mpipe_iqueue_t *iqueue,
					     gxio_mpipe_idesc_t **idesc_ref)
{
	uint64_t written = __atomic_load_n(&iqueue->idescs[0].words[0], __ATOMIC_ACQUIRE);
	uint64_t avail = written - iqueue->consumed;
	uint64_t to_end = iqueue->num_entries - iqueue->head;

	if (avail == 0) {
		*idesc_ref = NULL;
		return GXIO_MPIPE_ERR_IQUEUE_EMPTY;
	}
	*idesc_ref = &iqueue->idescs[iqueue->head];
	return (int)(avail < to_end ? avail : to_end);
}

/** Step over `count` descriptors (does not return credits). */
static inline void gxio_mpipe_iqueue_advance(gxio_mpipe_iqueue_t *iqueue, int count)
{
	iqueue->consumed += (uint64_t)count;
	iqueue->head = 1u + (unsigned int)(iqueue->consumed % (iqueue->num_entries - 1));
}

/** Return the ring and bucket credit of one processed descriptor. */
static inline void gxio_mpipe_iqueue_release(gxio_mpipe_iqueue_t *iqueue, gxio_mpipe_idesc_t *idesc)
{
	gxio_mpipe_credit(iqueue->context, (int)iqueue->ring, (int)idesc->bucket_id, 1);
}

/** Advance over one descriptor and release it. */
static inline void gxio_mpipe_iqueue_consume(gxio_mpipe_iqueue_t *iqueue, gxio_mpipe_idesc_t *idesc)
{
	gxio_mpipe_iqueue_advance(iqueue, 1);
	gxio_mpipe_iqueue_release(iqueue, idesc);
}

/** Copy out and consume the next descriptor; GXIO_MPIPE_ERR_IQUEUE_EMPTY if none. */
int gxio_mpipe_iqueue_try_get(gxio_mpipe_iqueue_t *iqueue, gxio_mpipe_idesc_t *idesc);

/* Descriptor accessors. */

/*
 * The va fields are 42 bits wide, the TILE-Gx virtual address width; an
 * x86-64 host's user addresses take up to 47. The model resolves a va the
 * way the IO-TLB does, through the pages registered for the descriptor's
 * buffer stack, and returns the host pointer (NULL if no registered page
 * holds it). On hardware this accessor is the plain sign extension; code
 * that must run on both reads va only through it.
 */
void *mde_model_iova_to_va(unsigned int stack, int64_t va);

static inline unsigned char *gxio_mpipe_idesc_get_va(gxio_mpipe_idesc_t *idesc)
{
	return (unsigned char *)mde_model_iova_to_va((unsigned int)idesc->stack_idx, idesc->va);
}

static inline unsigned int gxio_mpipe_idesc_get_xfer_size(gxio_mpipe_idesc_t *idesc)
{
	return (unsigned int)idesc->l2_size;
}

/** Flow hash of the default classifier (custom0). */
static inline uint32_t gxio_mpipe_idesc_get_flow_hash(gxio_mpipe_idesc_t *idesc)
{
	return (uint32_t)idesc->custom0;
}

static inline uint16_t gxio_mpipe_idesc_get_vlan(gxio_mpipe_idesc_t *idesc)
{
	return (uint16_t)(idesc->custom1 >> 0);
}

static inline uint16_t gxio_mpipe_idesc_get_ethertype(gxio_mpipe_idesc_t *idesc)
{
	return (uint16_t)(idesc->custom1 >> 16);
}

static inline uint8_t gxio_mpipe_idesc_get_l2_offset(gxio_mpipe_idesc_t *idesc)
{
	return (uint8_t)(idesc->custom1 >> 32);
}

static inline unsigned char *gxio_mpipe_idesc_get_l2_start(gxio_mpipe_idesc_t *idesc)
{
	return gxio_mpipe_idesc_get_va(idesc) + gxio_mpipe_idesc_get_l2_offset(idesc);
}

static inline unsigned int gxio_mpipe_idesc_get_l2_length(gxio_mpipe_idesc_t *idesc)
{
	return (unsigned int)idesc->l2_size - gxio_mpipe_idesc_get_l2_offset(idesc);
}

static inline uint8_t gxio_mpipe_idesc_get_l3_offset(gxio_mpipe_idesc_t *idesc)
{
	return (uint8_t)(idesc->custom1 >> 40);
}

static inline unsigned char *gxio_mpipe_idesc_get_l3_start(gxio_mpipe_idesc_t *idesc)
{
	return gxio_mpipe_idesc_get_va(idesc) + gxio_mpipe_idesc_get_l3_offset(idesc);
}

static inline uint8_t gxio_mpipe_idesc_get_l4_offset(gxio_mpipe_idesc_t *idesc)
{
	return (uint8_t)(idesc->custom1 >> 48);
}

static inline unsigned char *gxio_mpipe_idesc_get_l4_start(gxio_mpipe_idesc_t *idesc)
{
	return gxio_mpipe_idesc_get_va(idesc) + gxio_mpipe_idesc_get_l4_offset(idesc);
}

/** Status byte of the default classifier: 0x80 = bad IPv4 header. */
static inline uint8_t gxio_mpipe_idesc_get_status(gxio_mpipe_idesc_t *idesc)
{
	return (uint8_t)(idesc->custom1 >> 56);
}

/** me, tr, ce or be set. */
static inline int gxio_mpipe_idesc_has_error(gxio_mpipe_idesc_t *idesc)
{
	return idesc->me || idesc->tr || idesc->ce || idesc->be;
}

/** An error, a bad IPv4 header, or a computed L4 checksum that is not 0xFFFF. */
static inline int gxio_mpipe_idesc_is_bad(gxio_mpipe_idesc_t *idesc)
{
	return gxio_mpipe_idesc_has_error(idesc) ||
	       (gxio_mpipe_idesc_get_status(idesc) & 0x80) != 0 ||
	       (idesc->cs && idesc->csum_seed_val != 0xFFFF);
}

/** Drop a packet: push its buffer back (not when be is set). Still consume it. */
static inline void gxio_mpipe_iqueue_drop(gxio_mpipe_iqueue_t *iqueue, gxio_mpipe_idesc_t *idesc)
{
	if (!idesc->be)
		gxio_mpipe_push_buffer(iqueue->context, (unsigned int)idesc->stack_idx,
				       gxio_mpipe_idesc_get_va(idesc));
}

/* ------------------------------------------------------------------------ */
/* Egress queue                                                             */
/* ------------------------------------------------------------------------ */

/** Allocate eDMA rings: the first index or an error. */
int gxio_mpipe_alloc_edma_rings(gxio_mpipe_context_t *context, unsigned int count,
				unsigned int first, unsigned int flags);

struct mde_edma;

/** An eDMA ring as written by software (thread-safe reservation). */
typedef struct {
	gxio_mpipe_context_t *context;
	gxio_mpipe_edesc_t *edescs;
	unsigned long num_entries;
	unsigned long mask_num_entries;
	unsigned long log2_num_entries;
	unsigned int ering;
	unsigned int channel;
	struct mde_edma *hw;		/* the model's eDMA engine state for this ring */
	int64_t credits_and_next_index; /* credits << 32 | next slot (24 bits) */
} gxio_mpipe_equeue_t;

/**
 * Initialise an equeue and its eDMA ring on `channel`: mem_size is 512,
 * 2048, 8192 or 65536 descriptors (16 bytes each).
 */
int gxio_mpipe_equeue_init(gxio_mpipe_equeue_t *equeue, gxio_mpipe_context_t *context,
			   unsigned int ering, unsigned int channel, void *mem,
			   unsigned int mem_size, unsigned int mem_flags);

/**
 * Reserve `num` consecutive slots without waiting: the first slot (24
 * bits), or GXIO_ERR_DMA_CREDITS when the ring has no room. Every reserved
 * slot must then be filled with gxio_mpipe_equeue_put_at().
 */
int64_t gxio_mpipe_equeue_try_reserve_fast(gxio_mpipe_equeue_t *equeue, unsigned int num);

/** Write a descriptor into a reserved slot (sets its generation bit). */
static inline void gxio_mpipe_equeue_put_at(gxio_mpipe_equeue_t *equeue, gxio_mpipe_edesc_t edesc,
					    unsigned long slot)
{
	gxio_mpipe_edesc_t *p = &equeue->edescs[slot & equeue->mask_num_entries];

	edesc.gen = !((slot >> equeue->log2_num_entries) & 1);
	/* Word 1 first: the hardware takes the descriptor when word 0's
	 * generation bit flips. */
	__atomic_store_n(&p->words[1], edesc.words[1], __ATOMIC_RELAXED);
	__atomic_store_n(&p->words[0], edesc.words[0], __ATOMIC_RELEASE);
}

/** Reserve one slot and fill it. 0 or GXIO_ERR_DMA_CREDITS. */
static inline int gxio_mpipe_equeue_put(gxio_mpipe_equeue_t *equeue, gxio_mpipe_edesc_t edesc)
{
	int64_t slot = gxio_mpipe_equeue_try_reserve_fast(equeue, 1);

	if (slot < 0)
		return (int)slot;
	gxio_mpipe_equeue_put_at(equeue, edesc, (unsigned long)slot);
	return 0;
}

/** Ask the hardware to look at the ring now (optional; lowers latency). */
void gxio_mpipe_equeue_flush(gxio_mpipe_equeue_t *equeue);

/* ------------------------------------------------------------------------ */
/* Links                                                                    */
/* ------------------------------------------------------------------------ */

/** An open link. */
typedef struct {
	gxio_mpipe_context_t *context;
	uint8_t channel;
	uint8_t mac;
} gxio_mpipe_link_t;

/**
 * The mPIPE instance a link belongs to, or GXIO_ERR_NO_DEVICE. Model link
 * names: loopN (in-memory loopback) and tap:IFNAME (a TAP interface named
 * IFNAME, created by gxio_mpipe_link_open in the caller's network
 * namespace).
 */
int gxio_mpipe_link_instance(const char *link_name);

/** Link name and MAC of index idx; 0, or a negative value past the last. */
int gxio_mpipe_link_enumerate_mac(int idx, char *link_name, uint8_t *mac_addr);

/** Open a link. 0 or a negative error. */
int gxio_mpipe_link_open(gxio_mpipe_link_t *link, gxio_mpipe_context_t *context,
			 const char *link_name, unsigned int flags);

/** Close a link. */
int gxio_mpipe_link_close(gxio_mpipe_link_t *link);

/** The link's channel. */
static inline int gxio_mpipe_link_channel(gxio_mpipe_link_t *link)
{
	return link->channel;
}

/** Set an attribute (DESIRED_STATE, RECEIVE_JUMBO, ...). */
int gxio_mpipe_link_set_attr(gxio_mpipe_link_t *link, uint32_t attr, int64_t val);

/** Read an attribute (CURRENT_STATE, MAC, ...): its value or a negative error. */
int64_t gxio_mpipe_link_get_attr(gxio_mpipe_link_t *link, uint32_t attr);

/** The shim's statistics. */
int gxio_mpipe_get_stats(gxio_mpipe_context_t *context, gxio_mpipe_stats_t *stats);

#ifdef __cplusplus
}
#endif

#endif
