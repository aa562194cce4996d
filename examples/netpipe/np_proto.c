/*
 * np_proto.c - NetPIPE's size sequence and the receiver's protocol state
 * machine (see np_proto.h). Pure: no I/O, no allocation, no runtime.
 *
 * Each phase has one small function that consumes what it may of the input
 * and says what happened. Control tokens ("SyncMe", "QUIT\0", the repeat
 * count) are checked byte by byte as they arrive, so a stream that has
 * gone out of step (a transmitter started with another -p or -i) fails at
 * the first wrong byte with a message saying where.
 */
#include "np_proto.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const uint8_t sync_str[NP_SYNC_LEN] = {'S', 'y', 'n', 'c', 'M', 'e'};
static const uint8_t quit_str[NP_QUIT_LEN] = {'Q', 'U', 'I', 'T', '\0'};

/* ---- size sequence ----------------------------------------------------- */

void np_sizes_init(struct np_sizes *s, uint32_t start, uint32_t perturbation)
{
	assert(start >= 1);
	memset(s, 0, sizeof(*s));
	s->perturbation = perturbation;
	s->len = start;
	s->inc = start > 1 ? start / 2 : 1;
	s->nq = start > 1 ? 1 : 0;
}

/* The step's base size is surrounded by +-perturbation sizes. */
static bool step_is_perturbed(const struct np_sizes *s)
{
	return s->perturbation > 0 && s->inc > s->perturbation + 1;
}

uint64_t np_sizes_next(struct np_sizes *s)
{
	if (!s->in_step) {
		/* Exponential growth: the increment doubles every second
		 * step once three steps are done. */
		if (s->nq > 2 && s->nq % 2 == 1)
			s->inc *= 2;
		s->pert = step_is_perturbed(s) ? -(int64_t)s->perturbation : 0;
		s->in_step = true;
	}
	uint64_t size = (uint64_t)((int64_t)s->len + s->pert);
	if (step_is_perturbed(s) && s->pert < (int64_t)s->perturbation) {
		s->pert += (int64_t)s->perturbation;
	} else {
		s->in_step = false;
		s->len += s->inc;
		s->nq++;
	}
	return size;
}

/* ---- state machine ------------------------------------------------------ */

void np_sm_init(struct np_sm *sm, uint32_t perturbation, uint32_t trials)
{
	assert(trials >= 1);
	memset(sm, 0, sizeof(*sm));
	sm->perturbation = perturbation;
	sm->trials = trials;
	sm->phase = NP_HELLO;
}

const char *np_phase_name(enum np_phase phase)
{
	switch (phase) {
	case NP_HELLO:
		return "hello";
	case NP_LATENCY:
		return "latency";
	case NP_POINT:
		return "data-point";
	case NP_NREPEAT:
		return "repeat-count";
	case NP_TRIAL_SYNC:
		return "trial-sync";
	case NP_DATA:
		return "data";
	case NP_DONE:
		return "done";
	case NP_FAILED:
		return "failed";
	}
	return "?";
}

const char *np_sm_error(const struct np_sm *sm)
{
	return sm->err;
}

bool np_sm_in_payload(const struct np_sm *sm)
{
	return sm->phase == NP_DATA || (sm->phase == NP_LATENCY && sm->tok_len == 0);
}

static struct np_step result(uint32_t used, enum np_ev ev)
{
	struct np_step st = {.used = used, .ev = ev};
	return st;
}

static struct np_step fail(struct np_sm *sm, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static struct np_step fail(struct np_sm *sm, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sm->err, sizeof(sm->err), fmt, ap);
	va_end(ap);
	sm->phase = NP_FAILED;
	return result(0, NP_EV_ERROR);
}

/* Where the stream is, for error messages. */
static struct np_step fail_byte(struct np_sm *sm, const char *want, uint8_t got)
{
	return fail(sm,
		    "expected %s in phase %s at data point %u (size %u, trial %u, message %u), "
		    "got byte 0x%02x; transmitter's -p/-i must match (server: perturbation %u, "
		    "%u trial(s))",
		    want, np_phase_name(sm->phase), sm->points, sm->size, sm->trial, sm->msg, got,
		    sm->perturbation, sm->trials);
}

/* Match "SyncMe" byte by byte; complete: go to `next`, event SYNC. */
static struct np_step take_sync(struct np_sm *sm, const uint8_t *p, uint32_t n, enum np_phase next)
{
	uint32_t i = 0;

	while (i < n && sm->tok_len < NP_SYNC_LEN) {
		if (p[i] != sync_str[sm->tok_len])
			return fail_byte(sm, "\"SyncMe\"", p[i]);
		sm->tok[sm->tok_len++] = p[i++];
	}
	if (sm->tok_len < NP_SYNC_LEN)
		return result(i, NP_EV_NONE);
	sm->tok_len = 0;
	sm->phase = next;
	return result(i, NP_EV_SYNC);
}

/* Latency phase: payload up to the next 'S', which must start "SyncMe". */
static struct np_step step_latency(struct np_sm *sm, const uint8_t *p, uint32_t n, uint32_t budget)
{
	if (sm->tok_len == 0) {
		uint32_t lim = n < budget ? n : budget;
		uint32_t i = 0;
		while (i < lim && p[i] != sync_str[0])
			i++;
		if (i > 0) {
			struct np_step st = result(i, NP_EV_PAYLOAD);
			sm->lat_bytes += i;
			return st;
		}
		if (n == 0 || p[0] != sync_str[0])
			return result(0, NP_EV_NONE); /* no budget */
	}
	struct np_step st = take_sync(sm, p, n, NP_POINT);
	if (st.ev != NP_EV_SYNC)
		return st;
	if (sm->lat_bytes == 0 || sm->lat_bytes % NP_LATENCY_REPS != 0 ||
	    sm->lat_bytes / NP_LATENCY_REPS > NP_MAX_SIZE)
		return fail(sm,
			    "latency phase of %llu bytes: not %u messages of one size (NPtcp's "
			    "ping-pong mode?)",
			    (unsigned long long)sm->lat_bytes, NP_LATENCY_REPS);
	sm->start = (uint32_t)(sm->lat_bytes / NP_LATENCY_REPS);
	np_sizes_init(&sm->sizes, sm->start, sm->perturbation);
	return st;
}

/* A data point starts with "SyncMe", or the transmitter ends with "QUIT\0". */
static struct np_step step_point(struct np_sm *sm, const uint8_t *p, uint32_t n)
{
	uint32_t i = 0;

	while (i < n) {
		const uint8_t *want;
		uint8_t want_len;
		uint8_t first = sm->tok_len > 0 ? sm->tok[0] : p[i];
		if (first == quit_str[0]) {
			want = quit_str;
			want_len = NP_QUIT_LEN;
		} else {
			want = sync_str;
			want_len = NP_SYNC_LEN;
		}
		if (p[i] != want[sm->tok_len])
			return fail_byte(sm, "\"SyncMe\" or \"QUIT\"", p[i]);
		sm->tok[sm->tok_len++] = p[i++];
		if (sm->tok_len < want_len)
			continue;
		sm->tok_len = 0;
		if (want == quit_str) {
			sm->phase = NP_DONE;
			return result(i, NP_EV_QUIT);
		}
		sm->phase = NP_NREPEAT;
		return result(i, NP_EV_SYNC);
	}
	return result(i, NP_EV_NONE);
}

/* The repeat count: 4 bytes, network order, not echoed; opens the data point. */
static struct np_step step_nrepeat(struct np_sm *sm, const uint8_t *p, uint32_t n)
{
	uint32_t i = 0;

	while (i < n && sm->tok_len < 4)
		sm->tok[sm->tok_len++] = p[i++];
	if (sm->tok_len < 4)
		return result(i, NP_EV_NONE);
	sm->tok_len = 0;
	uint32_t nrepeat = (uint32_t)sm->tok[0] << 24 | (uint32_t)sm->tok[1] << 16 |
			   (uint32_t)sm->tok[2] << 8 | sm->tok[3];
	if (nrepeat == 0)
		return fail(sm, "repeat count 0 at data point %u", sm->points);
	uint64_t size = np_sizes_next(&sm->sizes);
	if (size == 0 || size > NP_MAX_SIZE)
		return fail(sm, "data point %u: size %llu out of range", sm->points,
			    (unsigned long long)size);
	sm->points++;
	sm->size = (uint32_t)size;
	sm->nrepeat = nrepeat;
	sm->trial = 0;
	sm->msg = 0;
	sm->msg_off = 0;
	sm->phase = NP_TRIAL_SYNC;
	return result(i, NP_EV_NONE);
}

/* Message payload, up to the end of the current message. */
static struct np_step step_data(struct np_sm *sm, uint32_t n, uint32_t budget)
{
	assert(sm->msg_off < sm->size);
	uint32_t take = sm->size - sm->msg_off;
	if (n < take)
		take = n;
	if (budget < take)
		take = budget;
	if (take == 0)
		return result(0, NP_EV_NONE);
	struct np_step st = result(take, NP_EV_PAYLOAD);
	st.msg_len = sm->size;
	st.msg_off = sm->msg_off;
	st.first_of_size = sm->trial == 0 && sm->msg == 0;
	sm->msg_off += take;
	if (sm->msg_off < sm->size)
		return st;
	st.msg_end = true;
	sm->msg_off = 0;
	sm->msgs++;
	if (++sm->msg < sm->nrepeat)
		return st;
	sm->msg = 0;
	if (++sm->trial < sm->trials) {
		sm->phase = NP_TRIAL_SYNC;
	} else {
		sm->phase = NP_POINT;
	}
	return st;
}

struct np_step np_sm_step(struct np_sm *sm, const uint8_t *p, uint32_t n, uint32_t budget)
{
	assert(p != NULL || n == 0);
	switch (sm->phase) {
	case NP_HELLO:
		return take_sync(sm, p, n, NP_LATENCY);
	case NP_LATENCY:
		return step_latency(sm, p, n, budget);
	case NP_POINT:
		return step_point(sm, p, n);
	case NP_NREPEAT:
		return step_nrepeat(sm, p, n);
	case NP_TRIAL_SYNC:
		return take_sync(sm, p, n, NP_DATA);
	case NP_DATA:
		return step_data(sm, n, budget);
	case NP_DONE:
		if (n == 0)
			return result(0, NP_EV_NONE);
		return fail(sm, "%u byte(s) after QUIT", n);
	case NP_FAILED:
		break;
	}
	return result(0, NP_EV_ERROR);
}
