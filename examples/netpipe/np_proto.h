/*
 * np_proto.h - the NetPIPE ping-pong protocol (NPtcp 3.7.x, default mode)
 * as the receiving side sees it, as pure functions with no dependency on
 * the runtime: the message size sequence that both sides compute, and a
 * state machine that cuts the received byte stream into control tokens and
 * message payload.
 *
 * What the transmitter (`NPtcp -h HOST`) sends, in order:
 *
 *   "SyncMe"                                  echoed
 *   100 x (start bytes)                       each echoed (latency estimate)
 *   "SyncMe"                                  echoed
 *   per data point:
 *     "SyncMe"                                echoed ("QUIT\0" instead: end)
 *     nrepeat, 4 bytes, network order         not echoed
 *     trials x ("SyncMe" + nrepeat x message) all echoed
 *   "QUIT\0"                                  echoed, then the receiver closes
 *
 * Sizes are never sent: the data points use the sequence of
 * np_sizes_next(), which depends on the first size (`NPtcp -l`, 5 with
 * `-i`) and the perturbation (`-p`, default 3, 0 with `-i`). The machine
 * learns the first size from the latency phase (the 100 messages before the
 * second "SyncMe"), so only the perturbation and the number of trials per
 * data point (3; 1 with `-i`) are configuration. NPtcp fills its buffers
 * with 'a'/'b' (or small integers with -i), so "SyncMe" never occurs inside
 * latency-phase data. Where the transmitter stops (`-u`, its own timing) is
 * unknown: every data point may start with "QUIT\0" instead of a sync.
 *
 * np_sm_step() consumes a prefix of the input up to the next event: a
 * completed sync (reply "SyncMe"), QUIT (reply "QUIT\0", then close), a
 * stretch of payload (echo it; it tells which message and where), or a
 * protocol error. Control tokens split across calls are buffered inside the
 * machine (at most 6 bytes), so the caller can return every consumed byte
 * to the network at once. Payload is never buffered: the caller limits how
 * much it takes with `budget` (the free space of its transmit ring).
 */
#ifndef NP_PROTO_H
#define NP_PROTO_H

#include <stdbool.h>
#include <stdint.h>

#define NP_SYNC		    "SyncMe"
#define NP_SYNC_LEN	    6
#define NP_QUIT		    "QUIT" /* followed by its terminating NUL on the wire */
#define NP_QUIT_LEN	    5
#define NP_LATENCY_REPS	    100u /* round trips of the latency estimate */
#define NP_TRIALS	    3u	 /* trials per data point (1 with NPtcp -i) */
#define NP_PERTURBATION	    3u	 /* NPtcp's default -p */
#define NP_MAX_PERTURBATION (1u << 20)
#define NP_MAX_SIZE	    0x7fffffffu /* NPtcp's sizes are ints */

/* ---- the size sequence ------------------------------------------------ */

/**
 * NetPIPE's message sizes. From `start`, the base size grows by an
 * increment that starts at start/2 (1 for start 1) and doubles every second
 * step from the fourth step on; when the increment exceeds perturbation+1,
 * each base size b yields three data points b-p, b, b+p, else just b.
 * Default (start 1, p 3): 1 2 3 4 6 8 12 13 16 19 21 24 27 29 32 35 45 ...
 */
struct np_sizes {
	uint64_t perturbation;
	uint64_t len; /* base size of the current step */
	uint64_t inc; /* increment to the next base size */
	uint32_t nq;  /* steps taken (NetPIPE's nq) */
	int64_t pert; /* offset of the next size within the step */
	bool in_step; /* pert is valid: the step has sizes left */
};

/** Start a sequence. @param start first size (>= 1) */
void np_sizes_init(struct np_sizes *s, uint32_t start, uint32_t perturbation);

/** The next size of the sequence (never 0 for start >= 1). */
uint64_t np_sizes_next(struct np_sizes *s);

/* ---- the receiver's state machine ------------------------------------- */

enum np_phase {
	NP_HELLO,      /* first "SyncMe" */
	NP_LATENCY,    /* echo until "SyncMe": 100 messages of the first size */
	NP_POINT,      /* a data point: "SyncMe", or "QUIT\0" to end */
	NP_NREPEAT,    /* 4-byte repeat count of the data point */
	NP_TRIAL_SYNC, /* "SyncMe" before each trial */
	NP_DATA,       /* nrepeat messages of the current size */
	NP_DONE,       /* QUIT seen: nothing more may arrive */
	NP_FAILED,     /* protocol error (sticky) */
};

enum np_ev {
	NP_EV_NONE,    /* bytes consumed (part of a token, or the repeat count) */
	NP_EV_PAYLOAD, /* consumed bytes are message payload: echo them */
	NP_EV_SYNC,    /* a sync completed: reply "SyncMe" */
	NP_EV_QUIT,    /* QUIT completed: reply "QUIT\0" and close */
	NP_EV_ERROR,   /* protocol error: np_sm_error() says what */
};

/** What one np_sm_step() call did. */
struct np_step {
	uint32_t used; /* input bytes consumed */
	enum np_ev ev;
	/* NP_EV_PAYLOAD only: */
	uint32_t msg_len;   /* size of the message (0: latency phase, unknown) */
	uint32_t msg_off;   /* offset of the consumed bytes in the message */
	bool msg_end;	    /* these bytes complete the message */
	bool first_of_size; /* first message of its data point */
};

struct np_sm {
	uint32_t perturbation; /* configuration */
	uint32_t trials;
	enum np_phase phase;
	uint8_t tok[8]; /* control token received so far */
	uint8_t tok_len;
	uint64_t lat_bytes; /* payload bytes of the latency phase */
	uint32_t start;	    /* first size (learned in the latency phase) */
	struct np_sizes sizes;
	uint32_t points;  /* data points started */
	uint32_t size;	  /* current message size */
	uint32_t nrepeat; /* messages per trial at this data point */
	uint32_t trial;	  /* trial under way, 0-based */
	uint32_t msg;	  /* message under way within the trial */
	uint32_t msg_off; /* bytes of it received */
	uint64_t msgs;	  /* messages completed in all */
	char err[160];
};

/**
 * Prepare a machine for a new connection.
 * @param perturbation the transmitter's -p (NP_PERTURBATION; 0 for -i)
 * @param trials trials per data point (NP_TRIALS; 1 for -i)
 */
void np_sm_init(struct np_sm *sm, uint32_t perturbation, uint32_t trials);

/**
 * Consume input up to the next event.
 * @param p, n the input (n may be 0)
 * @param budget most payload bytes this call may take; when the input
 *        starts with payload and budget is 0, nothing is consumed
 * @return the event; used == 0 with NP_EV_NONE means "give more input or
 *         more budget"; NP_EV_ERROR consumes nothing and repeats.
 */
struct np_step np_sm_step(struct np_sm *sm, const uint8_t *p, uint32_t n, uint32_t budget);

/** True while the next input bytes are payload (they need budget). */
bool np_sm_in_payload(const struct np_sm *sm);

/** Why the machine failed ("" if it did not). */
const char *np_sm_error(const struct np_sm *sm);

/** Name of a phase, for messages. */
const char *np_phase_name(enum np_phase phase);

#endif
