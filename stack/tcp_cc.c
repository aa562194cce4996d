/*
 * tcp_cc.c - the congestion control algorithms (see dl_tcp_cc.h).
 *
 * NewReno (RFC 5681, RFC 3465 byte counting): slow start adds what was
 * acknowledged, at most 2 segments per ACK and never past ssthresh (a
 * large cumulative ACK after recovery would otherwise jump the window up);
 * avoidance adds one segment per window of bytes acknowledged; a
 * congestion event halves the flight.
 *
 * CUBIC (RFC 9438), in bytes: after a congestion event at window W_max
 * (lowered to (1 + beta) / 2 of it when the window had not regrown to the
 * previous W_max: fast convergence), ssthresh = 0.7 * cwnd. In avoidance
 * the window follows W(t) = C (t - K)^3 + W_max, C = 0.4 segments/s^3,
 * K = cbrt((W_max - cwnd) / C), aiming at W(t + RTT) (clamped to at most
 * 1.5 cwnd), and never falls behind the Reno-friendly estimate W_est,
 * which grows by alpha = 3 (1 - beta) / (1 + beta) segments per window
 * until it reaches cwnd_prior (the window when ssthresh was last set),
 * then by 1 segment per window, as Reno (RFC 9438 4.3, a SHOULD).
 * Time t is in milliseconds since the epoch (the first ACK in avoidance
 * after an event); the cube is taken over at most 100 s so it fits 64
 * bits.
 *
 * HyStart++ (RFC 9406) during the initial slow start: per round (a window
 * of data, from SND.NXT at its start to its acknowledgment) the minimum
 * RTT; when a round's minimum (over at least 8 samples) exceeds the last
 * round's by max(4 ms, min(16 ms, last / 8)), conservative slow start
 * (growth divided by 4) for at most 5 rounds, then avoidance; back to
 * slow start if the RTT falls below where CSS began. Slow start adds at
 * most L = 8 segments per ACK (RFC 9406, unpaced).
 */
#include "dl_tcp_cc.h"

#include <string.h>

/* ---- NewReno ---------------------------------------------------------------- */

static void reno_init(struct dl_tcp *t, struct dl_tcb *c)
{
	(void)t;
	c->bytes_acked = 0;
}

static void reno_cong_avoid(struct dl_tcp *t, struct dl_tcb *c, uint32_t acked)
{
	uint32_t mss = c->mss;

	(void)t;
	if (c->cwnd < c->ssthresh) {
		/* slow start, L = 2 (RFC 3465), up to ssthresh (as Linux): a
		 * large ACK after recovery must not jump past it */
		c->cwnd = min_u32(c->cwnd + min_u32(acked, 2u * mss), c->ssthresh);
	} else {
		c->bytes_acked += acked; /* congestion avoidance by byte counting */
		if (c->bytes_acked >= c->cwnd) {
			c->bytes_acked -= c->cwnd;
			c->cwnd += mss;
		}
	}
	if (c->cwnd > DL_TCP_SSTHRESH_INIT)
		c->cwnd = DL_TCP_SSTHRESH_INIT;
}

static uint32_t reno_ssthresh(struct dl_tcp *t, struct dl_tcb *c)
{
	(void)t;
	return max_u32((c->snd_max - c->snd_una) >> 1, 2u * c->mss);
}

const struct dl_tcp_cc_ops dl_tcp_newreno = {
    .name = "newreno",
    .init = reno_init,
    .cong_avoid = reno_cong_avoid,
    .ssthresh = reno_ssthresh,
};

/* ---- CUBIC with HyStart++ ------------------------------------------------------ */

struct cubic {
	uint32_t epoch;	 /**< ms clock at the epoch start; 0: no epoch */
	uint32_t w_max;	 /**< bytes */
	uint32_t k;	 /**< ms */
	uint32_t origin; /**< bytes: the plateau W(K) */
	uint32_t w_est;	 /**< bytes: Reno-friendly estimate */
	uint32_t est_acc; /**< bytes acked toward the next W_est step */
	uint32_t cwnd_prior; /**< bytes: cwnd when ssthresh was last set */
	/* HyStart++ */
	uint32_t round_end; /**< SND.NXT when the round began */
	uint32_t last_min, cur_min; /**< us, UINT32_MAX: none */
	uint32_t css_base;	    /**< us: cur_min when CSS began */
	uint8_t samples;	    /**< RTT samples this round */
	uint8_t css_rounds;
	uint8_t hs; /**< HS_* */
};
_Static_assert(sizeof(struct cubic) <= DL_TCP_CC_PRIV, "CUBIC state must fit the TCB");

enum { HS_CSS = 1, HS_OFF = 2 };

#define CUBIC_BETA_1024	 717 /* 0.7 */
#define CUBIC_ALPHA_1024 542 /* 3 (1 - 0.7) / (1 + 0.7) = 0.529 */
#define HS_N_SAMPLE	 8
#define HS_MIN_ETA_US	 4000
#define HS_MAX_ETA_US	 16000
#define HS_CSS_DIV	 4
#define HS_CSS_ROUNDS	 5
#define HS_L		 8

static struct cubic *cub(struct dl_tcb *c)
{
	return (struct cubic *)(void *)c->ca;
}

static uint32_t ms_now(const struct dl_tcp *t)
{
	uint32_t m = (uint32_t)(t->s->now / 1000);

	return m != 0 ? m : 1; /* 0 means "no epoch" */
}

uint64_t dl_tcp_cbrt(uint64_t x)
{
	uint64_t r = 0;

	/* bit by bit, from 2^21 down (cbrt(2^64) < 2^22) */
	for (int b = 21; b >= 0; b--) {
		uint64_t y = r | (1ull << b);
		if (y * y * y <= x)
			r = y;
	}
	return r;
}

static void cubic_init(struct dl_tcp *t, struct dl_tcb *c)
{
	struct cubic *k = cub(c);

	memset(k, 0, sizeof(*k));
	k->round_end = c->snd_una;
	k->last_min = k->cur_min = UINT32_MAX;
	if (!t->p.hystart)
		k->hs = HS_OFF;
	c->bytes_acked = 0;
}

/* HyStart++: a new round begins when its first byte is acknowledged. */
static void hystart_round(struct dl_tcp *t, struct dl_tcb *c)
{
	struct cubic *k = cub(c);

	if (!seq_ge(c->snd_una, k->round_end))
		return;
	k->round_end = c->snd_max;
	k->last_min = k->cur_min;
	k->cur_min = UINT32_MAX;
	k->samples = 0;
	if (k->hs & HS_CSS) {
		if (++k->css_rounds >= HS_CSS_ROUNDS) {
			/* RFC 9406 4.3: leave slow start for avoidance. */
			c->ssthresh = c->cwnd;
			k->hs = HS_OFF;
			t->cnt[TCP_HYSTART_EXIT]++;
		}
	}
}

static void cubic_rtt_sample(struct dl_tcp *t, struct dl_tcb *c, uint32_t rtt)
{
	struct cubic *k = cub(c);

	if ((k->hs & HS_OFF) || c->ssthresh != DL_TCP_SSTHRESH_INIT)
		return;
	if (rtt < k->cur_min)
		k->cur_min = rtt;
	if (k->samples < 255)
		k->samples++;
	if (k->samples < HS_N_SAMPLE || k->cur_min == UINT32_MAX)
		return;
	if (!(k->hs & HS_CSS)) {
		uint32_t eta;
		if (k->last_min == UINT32_MAX)
			return;
		eta = k->last_min / 8;
		eta = eta < HS_MIN_ETA_US ? HS_MIN_ETA_US : eta > HS_MAX_ETA_US ? HS_MAX_ETA_US : eta;
		if (k->cur_min >= k->last_min + eta) {
			k->hs |= HS_CSS;
			k->css_base = k->cur_min;
			k->css_rounds = 0;
			t->cnt[TCP_HYSTART_CSS]++;
		}
	} else if (k->cur_min < k->css_base) {
		k->hs &= (uint8_t)~HS_CSS; /* a spurious exit: back to slow start */
	}
}

static void cubic_slow_start(struct dl_tcp *t, struct dl_tcb *c, uint32_t acked)
{
	struct cubic *k = cub(c);
	uint32_t inc = min_u32(acked, HS_L * (uint32_t)c->mss);

	if (!(k->hs & HS_OFF) && c->ssthresh == DL_TCP_SSTHRESH_INIT) {
		hystart_round(t, c);
		if (c->cwnd >= c->ssthresh)
			return; /* HyStart++ ended slow start: avoidance from the next ACK */
		if (k->hs & HS_CSS)
			inc /= HS_CSS_DIV;
	}
	c->cwnd = min_u32(c->cwnd + inc, c->ssthresh); /* as Linux: no jump past it */
}

/* W_cubic(t) in bytes, t in ms since the epoch (RFC 9438 4.2). */
static uint32_t cubic_w(const struct cubic *k, uint32_t mss, uint32_t t_ms)
{
	uint64_t d = t_ms > k->k ? t_ms - k->k : k->k - t_ms;
	uint64_t off;

	if (d > 100000)
		d = 100000;
	/* C d^3 segments, d in s: 0.4 d_ms^3 / 1e9 */
	off = (d * d * d * 4 / 10000) * mss / 1000000;
	if (t_ms > k->k) {
		uint64_t w = k->origin + off;
		return w > DL_TCP_SSTHRESH_INIT ? DL_TCP_SSTHRESH_INIT : (uint32_t)w;
	}
	return off >= k->origin ? 0 : (uint32_t)(k->origin - off);
}

static void cubic_cong_avoid(struct dl_tcp *t, struct dl_tcb *c, uint32_t acked)
{
	struct cubic *k = cub(c);
	uint32_t mss = c->mss, now = ms_now(t), target, rtt_ms;
	uint64_t sum;

	if (c->cwnd < c->ssthresh) {
		cubic_slow_start(t, c, acked);
		return;
	}
	if (k->epoch == 0) {
		k->epoch = now;
		if (c->cwnd < k->w_max) {
			/* K = cbrt((W_max - cwnd) / C): in ms, cbrt(dW_seg * 2.5e9) */
			uint64_t dw = (uint64_t)(k->w_max - c->cwnd) * 2500000000ull / mss;
			k->k = (uint32_t)dl_tcp_cbrt(dw);
			k->origin = k->w_max;
		} else {
			k->k = 0;
			k->origin = c->cwnd;
		}
		k->w_est = c->cwnd;
		k->est_acc = 0;
		c->bytes_acked = 0;
	}
	rtt_ms = (c->min_rtt != 0 ? c->min_rtt : c->srtt8 >> 3) / 1000;
	target = cubic_w(k, mss, now - k->epoch + rtt_ms);
	if (target < c->cwnd)
		target = c->cwnd;
	else if (target > c->cwnd + c->cwnd / 2)
		target = c->cwnd + c->cwnd / 2;
	/* Reno-friendly estimate: alpha segments per window (RFC 9438 4.3). */
	k->est_acc += acked;
	if (k->est_acc >= c->cwnd) {
		uint32_t w = k->est_acc / c->cwnd;
		uint32_t alpha = k->w_est >= k->cwnd_prior ? 1024 : CUBIC_ALPHA_1024;
		k->est_acc -= w * c->cwnd;
		k->w_est += (uint32_t)(((uint64_t)w * mss * alpha) >> 10);
	}
	if (k->w_est > target) {
		c->cwnd = k->w_est;
		c->bytes_acked = 0;
	} else {
		/* (target - cwnd) / cwnd segments per segment acknowledged */
		sum = (uint64_t)c->bytes_acked + (uint64_t)(target - c->cwnd) * acked;
		c->cwnd += (uint32_t)(sum / c->cwnd);
		c->bytes_acked = (uint32_t)(sum % c->cwnd);
	}
	if (c->cwnd > DL_TCP_SSTHRESH_INIT)
		c->cwnd = DL_TCP_SSTHRESH_INIT;
}

static uint32_t cubic_ssthresh(struct dl_tcp *t, struct dl_tcb *c)
{
	struct cubic *k = cub(c);
	uint32_t cwnd = c->cwnd;

	(void)t;
	k->cwnd_prior = cwnd;
	/* RFC 9438 4.7 fast convergence */
	if (cwnd < k->w_max)
		k->w_max = (uint32_t)(((uint64_t)cwnd * (1024 + CUBIC_BETA_1024)) >> 11);
	else
		k->w_max = cwnd;
	k->epoch = 0;
	k->hs = HS_OFF;
	return max_u32((uint32_t)(((uint64_t)cwnd * CUBIC_BETA_1024) >> 10), 2u * c->mss);
}

static void cubic_restart(struct dl_tcp *t, struct dl_tcb *c)
{
	(void)t;
	cub(c)->epoch = 0;
}

const struct dl_tcp_cc_ops dl_tcp_cubic = {
    .name = "cubic",
    .init = cubic_init,
    .cong_avoid = cubic_cong_avoid,
    .ssthresh = cubic_ssthresh,
    .rtt_sample = cubic_rtt_sample,
    .restart = cubic_restart,
};
