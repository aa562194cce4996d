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

/* ---- BBR: a model of the path instead of a reaction to loss --------------------------- */

/*
 * BBR (Cardwell et al., "BBR: Congestion-Based Congestion Control", ACM
 * Queue 2016; draft-cardwell-iccrg-bbr-congestion-control-00 and Linux's
 * tcp_bbr.c, version 1): the window follows a model of the path, the
 * bottleneck bandwidth (the largest delivery rate of the last 10 rounds)
 * times the minimum RTT (of the last 10 s), and a loss alone does not
 * shrink it. The model and the state machine are BBR v1's, and a paced
 * connection (`--tcp pacing`, the default for BBR, on paths with a
 * minimum RTT of 1 ms or more: tcp_out.c, dl_tcp.h) sends at
 * BBR's pacing rate, the estimate times a gain: 2.89 in Startup, 1/2.89
 * in Drain (until what is in flight is down to the BDP), cycling 1.25,
 * 0.75 and 1 (six rounds) in ProbeBW, 1 in ProbeRTT, 1% below it all
 * (Linux's pacing margin); its window is the BDP times 2.89 in Startup and
 * Drain, 2 in ProbeBW. What differs from Linux's:
 *
 *   - unpaced (`--tcp pacing=off`, or an RTT below 1 ms, too short for the
 *     timer's 64 us to space packets) the sending rate is bounded by the
 *     window alone (and the stack's TSO burst limit), so ProbeBW cycles the
 *     window's gain (2.25, 1.75, then 2 for six rounds, times the BDP),
 *     and Drain is the window falling to ProbeBW's target at once: up to
 *     twice the BDP in flight, a standing queue of one BDP;
 *   - Startup also ends when a recovery finds more than 5% of the flight,
 *     and at least six segments, lost (a buffer shallower than the BDP:
 *     BBR v1 doubles on for up to three rounds of losses; BBR v2/v3's
 *     "inflight too high" exit, whose 2% a random loss of 3% exceeds);
 *     a smaller loss in Startup keeps the window it had, or grew to
 *     during the recovery, restored when the recovery ends (Linux's
 *     bbr_save_cwnd), as the model is still growing;
 *   - a ProbeBW phase lasts one round (Linux: at least the minimum RTT,
 *     the 1.25 phase until a quarter more is in flight or a loss);
 *   - one delivery-rate sample per round trip, not per ACK: the bytes
 *     delivered (cumulatively acknowledged or SACKed: SND.UNA plus the
 *     scoreboard's SACKed bytes) between the ACK that ends a round and the
 *     one that ended the last, over the time between them or the last
 *     round's length (when what this round delivered was sent), whichever
 *     is larger, and at least the minimum RTT: bunched ACKs do not make a
 *     faster path. A round ends when data sent after it began is
 *     delivered, SACKed included (a hole does not stretch it). In Startup
 *     the round's delivery so far over that same time raises the estimate
 *     on every ACK (bbr_partial). A round whose output was never cwnd- or pacing-limited
 *     (RFC 7661) is application-limited: its sample may raise the
 *     estimate, never lower it; ACK aggregation (extra_acked) as Linux's;
 *   - loss detection and repair are the stack's (RACK-TLP): a congestion
 *     event's ssthresh is the model's ProbeBW window (no multiplicative
 *     decrease); PRR sets the window for the recovery's first round (as
 *     BBR's packet conservation), the model from the next round on (BBR
 *     bypasses PRR); after an RTO the window restarts at one segment and
 *     regrows by what is acknowledged up to the model's target.
 *
 * CUBIC stays the default; `--tcp cc=bbr` picks BBR.
 */
struct bbr {
	uint32_t round_end;	/**< SND.MAX when this round began */
	uint32_t r_del;		/**< SND.UNA + SACKed bytes when it began */
	uint32_t r_us;		/**< clock (us, low 32 bits) when it began */
	uint32_t last_dt;	/**< us: the last round's length (its data's send interval) */
	uint32_t bw[3];		/**< windowed max delivery rate, 64 B/s units: best first */
	uint16_t bw_rnd[3];	/**< the rounds of those samples */
	uint16_t rounds;	/**< rounds counted */
	uint16_t rec_round;	/**< the round a recovery began in (BF_IN_REC) */
	uint16_t extra_rnd;	/**< the round the current extra[] slot began */
	uint32_t full_bw;	/**< Startup: bw when it last grew by a quarter */
	uint32_t min_rtt;	/**< us, minimum of the last 10 s; 0: none yet */
	uint32_t min_rtt_ms;	/**< ms clock of that sample */
	uint32_t probe_rtt_end; /**< ms clock: ProbeRTT may end; 0: not reached 4 segments yet */
	uint32_t prior_cwnd;	/**< cwnd before ProbeRTT, or before a loss in Startup */
	uint32_t agg_us;	/**< ACK aggregation epoch: its start (us, low 32 bits) */
	uint32_t agg_acked;	/**< bytes acknowledged since */
	uint32_t extra[2];	/**< most acknowledged beyond the model, two 5-round slots */
	uint8_t mode;		/**< BBR_* */
	uint8_t full_cnt;	/**< Startup rounds without a quarter more bandwidth */
	uint8_t cycle;		/**< ProbeBW phase (0-7) */
	uint8_t fl;		/**< BF_* */
};
_Static_assert(sizeof(struct bbr) <= DL_TCP_CC_PRIV, "BBR state must fit the TCB");

enum { BBR_STARTUP, BBR_PROBE_BW, BBR_PROBE_RTT, BBR_DRAIN };
enum {
	BF_ROUND_CWND_LIMITED = 1, /**< this round's output was cwnd-limited at least once */
	BF_FULL_BW = 2,		   /**< Startup ended: the bottleneck is full */
	BF_IN_REC = 4,		   /**< in a (SACK or NewReno) recovery, since rec_round */
	BF_EXTRA_SLOT = 8,	   /**< extra[1] is the current slot */
};

#define BBR_BW_UNIT	     64		  /* bytes per second */
#define BBR_BW_ROUNDS	     10		  /* bandwidth filter window */
#define BBR_MIN_RTT_MS	     10000	  /* min RTT filter window */
#define BBR_PROBE_RTT_MS     200	  /* time at 4 segments in ProbeRTT */
#define BBR_STARTUP_GAIN_256 739	  /* 2 / ln 2 = 2.885 */
#define BBR_DRAIN_GAIN_256   89		  /* its inverse: Drain's pacing gain */
#define BBR_PACING_MARGIN    100	  /* pace 1/100 below the model (Linux's 1%) */
#define BBR_FULL_BW_ROUNDS   3		  /* rounds without 25% more: full (1 at high loss) */
#define BBR_LOSS_SEGS	     6		  /* high loss: segments lost in flight ... */
#define BBR_LOSS_DIV	     20		  /* ... and more than 5% of it */
#define BBR_MIN_SEGS	     4u		  /* the smallest window */
#define BBR_EXTRA_ROUNDS     5		  /* ACK aggregation: rounds per slot */
#define BBR_EXTRA_MAX_US     100000	  /* ... at most 100 ms at the model's rate */

/* ProbeBW's gains by phase: the window's when unpaced, the pacing rate's when paced */
static const uint16_t bbr_cycle_gain_256[8] = {576, 448, 512, 512, 512, 512, 512, 512};
static const uint16_t bbr_pace_gain_256[8] = {320, 192, 256, 256, 256, 256, 256, 256};

static struct bbr *bbr_of(struct dl_tcb *c)
{
	return (struct bbr *)(void *)c->ca;
}

static void bbr_init(struct dl_tcp *t, struct dl_tcb *c)
{
	struct bbr *b = bbr_of(c);

	memset(b, 0, sizeof(*b));
	b->round_end = c->snd_una;
	b->r_del = c->snd_una;
	b->r_us = (uint32_t)t->s->now;
	b->min_rtt = c->min_rtt;
	b->min_rtt_ms = ms_now(t);
	c->bytes_acked = 0;
}

/* The window the model asks for, at a gain in 256ths of the BDP, plus
 * room for bursts (BBR's quantum allowance: two TSO bursts, at most half
 * a BDP, at least two segments); no model yet: no bound. */
static uint32_t bbr_target(const struct dl_tcb *c, const struct bbr *b, uint32_t gain_256)
{
	uint64_t burst = (uint64_t)c->mss * (c->tso_segs > 1 ? c->tso_segs : 1u);
	uint64_t bdp, w, room;

	if (b->bw[0] == 0 || b->min_rtt == 0)
		return DL_TCP_SSTHRESH_INIT;
	bdp = (uint64_t)b->bw[0] * BBR_BW_UNIT * b->min_rtt / 1000000;
	room = 2 * burst < bdp / 2 ? 2 * burst : bdp / 2;
	if (room < 2u * c->mss)
		room = 2u * c->mss;
	w = bdp * gain_256 / 256 + room;
	if (b->fl & BF_FULL_BW) {
		/* ACKs that come in aggregates (a receiver that acknowledges
		 * in batches, a link that bunches them) need the data they
		 * acknowledge at once in flight too: BBR's extra_acked. */
		uint64_t extra = b->extra[0] > b->extra[1] ? b->extra[0] : b->extra[1];
		uint64_t most = (uint64_t)b->bw[0] * BBR_BW_UNIT * BBR_EXTRA_MAX_US / 1000000;
		w += extra < most ? extra : most;
	}
	if (w < BBR_MIN_SEGS * c->mss)
		w = BBR_MIN_SEGS * c->mss;
	return w > DL_TCP_SSTHRESH_INIT ? DL_TCP_SSTHRESH_INIT : (uint32_t)w;
}

/* The window's gain: Startup's in Startup and Drain; in ProbeBW 2, or
 * the cycle's when unpaced (ProbeRTT sets its own window). */
static uint32_t bbr_gain(const struct dl_tcb *c, const struct bbr *b)
{
	if (b->mode == BBR_STARTUP || b->mode == BBR_DRAIN)
		return BBR_STARTUP_GAIN_256;
	return tcb_paced_now(c) ? 512 : bbr_cycle_gain_256[b->cycle];
}

/* The filter's samples move up one place (the first is forgotten). */
static void bw_shift(struct bbr *b)
{
	b->bw[0] = b->bw[1];
	b->bw_rnd[0] = b->bw_rnd[1];
	b->bw[1] = b->bw[2];
	b->bw_rnd[1] = b->bw_rnd[2];
}

/* Kathleen Nichols' windowed max (as Linux's lib/minmax.c): three samples
 * from distinct parts of the window, best first. */
static void bw_filter(struct bbr *b, uint32_t bw)
{
	uint16_t r = b->rounds;

	if (bw >= b->bw[0] || (uint16_t)(r - b->bw_rnd[2]) > BBR_BW_ROUNDS) {
		for (int i = 0; i < 3; i++) {
			b->bw[i] = bw;
			b->bw_rnd[i] = r;
		}
		return;
	}
	if (bw >= b->bw[1]) {
		b->bw[1] = b->bw[2] = bw;
		b->bw_rnd[1] = b->bw_rnd[2] = r;
	} else if (bw >= b->bw[2]) {
		b->bw[2] = bw;
		b->bw_rnd[2] = r;
	}
	/* age: the best is older than the window, the next ones move up
	 * (twice at most: the third is this sample) */
	if ((uint16_t)(r - b->bw_rnd[0]) > BBR_BW_ROUNDS) {
		bw_shift(b);
		b->bw[2] = bw;
		b->bw_rnd[2] = r;
		if ((uint16_t)(r - b->bw_rnd[0]) > BBR_BW_ROUNDS)
			bw_shift(b);
	} else if (b->bw[1] == b->bw[0] && (uint16_t)(r - b->bw_rnd[1]) > BBR_BW_ROUNDS / 4) {
		b->bw[1] = b->bw[2] = bw; /* a quarter of the window on: a fresh second */
		b->bw_rnd[1] = b->bw_rnd[2] = r;
	} else if (b->bw[2] == b->bw[1] && (uint16_t)(r - b->bw_rnd[2]) > BBR_BW_ROUNDS / 2) {
		b->bw[2] = bw; /* half the window on: a fresh third */
		b->bw_rnd[2] = r;
	}
}

static void bbr_rtt_sample(struct dl_tcp *t, struct dl_tcb *c, uint32_t rtt)
{
	struct bbr *b = bbr_of(c);
	uint32_t now = ms_now(t);

	if (b->min_rtt == 0 || rtt <= b->min_rtt || now - b->min_rtt_ms > BBR_MIN_RTT_MS) {
		bool expired = b->min_rtt != 0 && now - b->min_rtt_ms > BBR_MIN_RTT_MS;
		b->min_rtt = rtt;
		b->min_rtt_ms = now;
		/* 10 s without a lower sample: drain the queue to measure the
		 * path's own RTT (BBR's ProbeRTT). */
		if (expired && b->mode != BBR_PROBE_RTT && (b->fl & BF_FULL_BW)) {
			b->mode = BBR_PROBE_RTT;
			b->prior_cwnd = c->cwnd;
			b->probe_rtt_end = 0;
			c->cwnd = min_u32(c->cwnd, BBR_MIN_SEGS * c->mss);
			t->cnt[TCP_BBR_PROBE_RTT]++;
		}
	}
}

/* ProbeRTT: once the flight is down to 4 segments, 200 ms there, then
 * back to ProbeBW with the old window. */
static void bbr_probe_rtt(struct dl_tcp *t, struct dl_tcb *c, struct bbr *b)
{
	uint32_t now = ms_now(t);

	c->cwnd = min_u32(c->cwnd, BBR_MIN_SEGS * c->mss);
	if (b->probe_rtt_end == 0) {
		if (c->snd_max - c->snd_una <= BBR_MIN_SEGS * c->mss)
			b->probe_rtt_end = now + BBR_PROBE_RTT_MS;
		return;
	}
	if ((int32_t)(now - b->probe_rtt_end) < 0)
		return;
	b->min_rtt_ms = now; /* the minimum just measured holds another 10 s */
	b->mode = BBR_PROBE_BW;
	b->cycle = 2;
	c->cwnd = max_u32(c->cwnd, b->prior_cwnd);
}

static void bbr_round(struct dl_tcp *t, struct dl_tcb *c, struct bbr *b);
static void bbr_full(struct dl_tcp *t, struct dl_tcb *c, struct bbr *b);
static bool bbr_high_loss(const struct dl_tcb *c);

/*
 * ACK aggregation (Linux's bbr_update_ack_aggregation): in an epoch that
 * starts when the ACKs fall behind the model's rate, the bytes
 * acknowledged beyond bandwidth x time are data the path delivered in a
 * bunch; the largest such excess of the last 5-10 rounds joins the window
 * (at most a cwnd, at most 100 ms at the model's rate).
 */
static void bbr_ack_aggregation(struct dl_tcp *t, struct dl_tcb *c, struct bbr *b, uint32_t acked)
{
	uint32_t now = (uint32_t)t->s->now, extra;
	unsigned slot = (b->fl & BF_EXTRA_SLOT) ? 1 : 0;
	uint64_t expected;

	if (!(b->fl & BF_FULL_BW) || acked == 0)
		return;
	if ((uint16_t)(b->rounds - b->extra_rnd) >= BBR_EXTRA_ROUNDS) {
		b->extra_rnd = b->rounds;
		slot ^= 1;
		b->fl ^= BF_EXTRA_SLOT;
		b->extra[slot] = 0;
	}
	expected = (uint64_t)b->bw[0] * BBR_BW_UNIT * (now - b->agg_us) / 1000000;
	if (b->agg_acked <= expected || b->agg_acked + (uint64_t)acked >= (1u << 30)) {
		b->agg_acked = 0;
		b->agg_us = now;
		expected = 0;
	}
	b->agg_acked += acked;
	extra = b->agg_acked > expected ? (uint32_t)(b->agg_acked - expected) : 0;
	if (extra > c->cwnd)
		extra = c->cwnd;
	if (extra > b->extra[slot])
		b->extra[slot] = extra;
}

/* The highest sequence delivered: SND.UNA, or the highest SACKed above
 * it. A round ends when data sent after it began (beyond SND.MAX then)
 * is delivered, SACKed or acknowledged (Linux's rounds count delivered
 * packets): a hole below does not stretch it to the repair's round trip,
 * and the repair does not end a round at once when all above the hole
 * was SACKed already. */
static uint32_t bbr_delivered_high(const struct dl_tcb *c)
{
	if (c->sb != NULL && c->sb->sacked > 0 && seq_gt(c->sb->fack, c->snd_una))
		return c->sb->fack;
	return c->snd_una;
}

/* A rate sample's time: the ACKs' interval, or the last round's length
 * (when what is delivered now was sent), whichever is larger, and at
 * least the minimum RTT (bbr_round). */
static uint32_t bbr_sample_dt(const struct bbr *b, uint32_t dt)
{
	if (dt < b->last_dt)
		dt = b->last_dt;
	return dt < b->min_rtt ? b->min_rtt : dt;
}

/*
 * Within a round: what it has delivered so far, over the time since it
 * began but at least the last round's length and the minimum RTT. Never
 * more than the round's own sample will be, so it cannot overestimate;
 * but it raises the estimate as soon as the path delivers more (as
 * Linux's per-ACK samples), where the round's sample comes a round trip
 * later: in Startup the window's target would follow the flight of two
 * rounds before, 1.7 times growth per round instead of 2. Startup only:
 * the highest of many such samples picks bunched ACKs up (14.5 MB/s on
 * a 12.5 MB/s link in test_bbr_ack_aggregation when taken in ProbeBW too).
 */
static void bbr_partial(struct dl_tcp *t, struct dl_tcb *c, struct bbr *b)
{
	uint32_t del = tcb_delivered(c), dt = bbr_sample_dt(b, (uint32_t)t->s->now - b->r_us);
	uint64_t bw;

	if (dt == 0 || !seq_gt(del, b->r_del) ||
	    (uint64_t)(del - b->r_del) * 1000000 <= (uint64_t)b->bw[0] * BBR_BW_UNIT * dt)
		return; /* (no division unless it raises the estimate) */
	bw = (uint64_t)(del - b->r_del) * 1000000 / dt / BBR_BW_UNIT;
	bw_filter(b, bw > UINT32_MAX ? UINT32_MAX : (uint32_t)bw);
}

static void bbr_on_ack(struct dl_tcp *t, struct dl_tcb *c, uint32_t acked)
{
	struct bbr *b = bbr_of(c);

	if (c->fl2 & TF2_CWND_LIMITED)
		b->fl |= BF_ROUND_CWND_LIMITED;
	if (b->mode == BBR_PROBE_RTT)
		bbr_probe_rtt(t, c, b);
	if (seq_gt(bbr_delivered_high(c), b->round_end))
		bbr_round(t, c, b);
	else if (b->mode == BBR_STARTUP)
		bbr_partial(t, c, b);
	bbr_ack_aggregation(t, c, b, acked);
	/* Drain (paced): Startup's queue is gone once what is in flight is
	 * down to the BDP (and the bursts' room); no longer paced (a shorter
	 * RTT seen): the window drains it, as unpaced. */
	if (b->mode == BBR_DRAIN &&
	    (c->snd_max - c->snd_una <= bbr_target(c, b, 256) || !tcb_paced_now(c))) {
		b->mode = BBR_PROBE_BW;
		b->cycle = (uint8_t)(b->rounds % 8 == 1 ? 2 : b->rounds % 8);
	}
	if (c->flags & TF_RECOVERY) {
		if (!(b->fl & BF_IN_REC)) {
			b->fl |= BF_IN_REC;
			b->rec_round = b->rounds;
		}
		if (c->flags & TF_LOSS)
			return; /* after an RTO: slow start (bbr_cong_avoid) */
		/* Fast recovery: the first round PRR's packet conservation,
		 * then the model's window again (BBR leaves conservation after
		 * a round; PRR alone would hold the flight at what each ACK
		 * delivers until the last hole is repaired, which under steady
		 * random loss is most of the time). */
		/* Startup overfilling a buffer: out at once, before the
		 * recovery's retransmissions meet the full queue. */
		if (b->mode == BBR_STARTUP && bbr_high_loss(c))
			bbr_full(t, c, b);
		if (b->rounds != b->rec_round && b->mode != BBR_PROBE_RTT)
			c->cwnd = max_u32(c->cwnd, bbr_target(c, b, bbr_gain(c, b)));
		/* What Startup's window grew to during the recovery is kept
		 * when it ends (the stack's recovery ends at ssthresh; Linux's
		 * BBR leaves the window it has). */
		if (b->mode == BBR_STARTUP)
			b->prior_cwnd = max_u32(b->prior_cwnd, c->cwnd);
		return;
	}
	if ((b->fl & BF_IN_REC) && b->mode == BBR_STARTUP)
		c->cwnd = max_u32(c->cwnd, b->prior_cwnd); /* see bbr_ssthresh */
	b->fl &= (uint8_t)~BF_IN_REC;
	/* In ProbeBW the window is the model's (Startup's excess drains at
	 * once: BBR's Drain). */
	if (b->mode == BBR_PROBE_BW && !(c->flags & TF_RECOVERY))
		c->cwnd = max_u32(min_u32(c->cwnd, bbr_target(c, b, bbr_gain(c, b))),
				  BBR_MIN_SEGS * c->mss);
}

/*
 * Startup's loss exit (after BBR v2/v3's "inflight too high"): of the data
 * in flight (about the last round's), at least BBR_LOSS_SEGS segments and
 * more than 1/BBR_LOSS_DIV are lost (marked lost, or retransmitted and
 * not yet delivered). A buffer shallower than the BDP overflowing under
 * Startup's gain loses far more; random loss of a few percent does not
 * end Startup, nor does one loss in the first rounds' few segments (the
 * model is still small).
 */
static bool bbr_high_loss(const struct dl_tcb *c)
{
	const struct dl_tcp_sb *sb = c->sb;
	uint32_t start, lost = 0, flight = c->snd_max - c->snd_una;

	if (sb == NULL || flight == 0)
		return false;
	start = sb->una;
	for (unsigned i = 0; i < sb->n; i++) {
		/* the holes: marked lost, or resent and not yet delivered (a
		 * resent segment SACKed merges with its SACKed neighbours, and
		 * the merged range's flag would count them all) */
		if ((sb->r[i].fl & (SB_LOST | SB_EVER_REXMIT)) && !(sb->r[i].fl & SB_SACKED))
			lost += sb->r[i].end - start;
		start = sb->r[i].end;
	}
	return lost >= BBR_LOSS_SEGS * c->mss && (uint64_t)lost * BBR_LOSS_DIV > flight;
}

/* Startup is over (the bottleneck is full): paced, Drain; else ProbeBW,
 * its window at once (Startup's queue drains by the window). */
static void bbr_full(struct dl_tcp *t, struct dl_tcb *c, struct bbr *b)
{
	b->fl |= BF_FULL_BW;
	if (tcb_paced_now(c)) {
		b->mode = BBR_DRAIN;
	} else {
		b->mode = BBR_PROBE_BW;
		b->cycle = (uint8_t)(b->rounds % 8 == 1 ? 2 : b->rounds % 8);
	}
	t->cnt[TCP_BBR_FULL_BW]++;
}

/* A round ended: one delivery-rate sample, the state machine's step. */
static void bbr_round(struct dl_tcp *t, struct dl_tcb *c, struct bbr *b)
{
	uint32_t now_us = (uint32_t)t->s->now, del, dt;

	del = tcb_delivered(c);
	/* The rate over the larger of the ACK interval (this round) and the
	 * send interval (what this round delivered, up to SND.MAX when it
	 * began, was sent during the last round), as Linux's rate samples:
	 * ACKs bunched together (a receive burst, ACK compression, a stalled
	 * receiver) do not read as a faster path. And at least the minimum
	 * RTT: a round is a round trip. */
	dt = bbr_sample_dt(b, now_us - b->r_us);
	b->last_dt = now_us - b->r_us;
	if (dt > 0 && seq_gt(del, b->r_del)) {
		uint64_t bw = (uint64_t)(del - b->r_del) * 1000000 / dt / BBR_BW_UNIT;
		if (bw > UINT32_MAX)
			bw = UINT32_MAX;
		b->rounds++;
		if ((b->fl & BF_ROUND_CWND_LIMITED) || bw >= b->bw[0])
			bw_filter(b, (uint32_t)bw);
		if (b->mode == BBR_STARTUP && (b->fl & BF_ROUND_CWND_LIMITED)) {
			if ((uint64_t)b->bw[0] * 4 >= (uint64_t)b->full_bw * 5) {
				b->full_bw = b->bw[0];
				b->full_cnt = 0;
			} else if (++b->full_cnt >= BBR_FULL_BW_ROUNDS ||
				   ((c->flags & TF_RECOVERY) && bbr_high_loss(c))) {
				bbr_full(t, c, b);
			}
		} else if (b->mode == BBR_PROBE_BW) {
			b->cycle = (uint8_t)((b->cycle + 1) % 8);
		}
	}
	b->round_end = c->snd_max;
	b->r_del = del;
	b->r_us = now_us;
	b->fl &= (uint8_t)~BF_ROUND_CWND_LIMITED;
}

/* Growth (a cwnd-limited ACK, or the slow start after an RTO): by what
 * was acknowledged, up to the model's window; in ProbeBW the window also
 * falls to it (Startup's excess, a cycle's drain phase). */
static void bbr_cong_avoid(struct dl_tcp *t, struct dl_tcb *c, uint32_t acked)
{
	struct bbr *b = bbr_of(c);
	uint32_t target = bbr_target(c, b, bbr_gain(c, b));

	(void)t;
	if (b->mode == BBR_PROBE_RTT)
		return;
	if (!(b->fl & BF_FULL_BW)) {
		if (c->cwnd < target)
			c->cwnd = min_u32(c->cwnd + acked, target);
	} else {
		/* as Linux's: once the bottleneck is full, never above the
		 * model's window (Drain's too) */
		c->cwnd = min_u32(c->cwnd + acked, target);
	}
	c->cwnd = max_u32(c->cwnd, BBR_MIN_SEGS * c->mss);
}

/* A congestion event: no multiplicative decrease. Recovery (PRR) aims at
 * the model's ProbeBW window, or at what is in flight before there is a
 * model. */
static uint32_t bbr_ssthresh(struct dl_tcp *t, struct dl_tcb *c)
{
	struct bbr *b = bbr_of(c);
	uint32_t target = bbr_target(c, b, 512);

	(void)t;
	/* Startup: the window before the loss, restored when the recovery
	 * ends in Startup (Linux's bbr_save_cwnd); the model is still growing
	 * and a random loss in the first rounds would otherwise leave the
	 * window at a few segments' estimate. */
	if (b->mode == BBR_STARTUP)
		b->prior_cwnd = max_u32(c->cwnd, c->snd_max - c->snd_una);
	if (target == DL_TCP_SSTHRESH_INIT)
		target = max_u32(c->cwnd, c->snd_max - c->snd_una);
	return max_u32(target, BBR_MIN_SEGS * c->mss);
}

void dl_tcp_bbr_model(const struct dl_tcb *c, uint64_t *bw, uint32_t *min_rtt_us, uint8_t *mode)
{
	const struct bbr *b = (const struct bbr *)(const void *)c->ca;

	*bw = (uint64_t)b->bw[0] * BBR_BW_UNIT;
	*min_rtt_us = b->min_rtt;
	*mode = b->mode;
}

/* The model's rate times the mode's gain, 1% below; in Startup at least
 * cwnd / SRTT times the gain (Linux's bbr_init_pacing_rate_from_rtt at
 * first); no sample and no RTT yet: not paced. */
static uint64_t bbr_pacing_rate(const struct dl_tcp *t, const struct dl_tcb *c)
{
	const struct bbr *b = (const struct bbr *)(const void *)c->ca;
	uint32_t gain, srtt = c->srtt8 >> 3;
	uint64_t r;

	(void)t;
	switch (b->mode) {
	case BBR_STARTUP:
		gain = BBR_STARTUP_GAIN_256;
		break;
	case BBR_DRAIN:
		gain = BBR_DRAIN_GAIN_256;
		break;
	case BBR_PROBE_BW:
		gain = bbr_pace_gain_256[b->cycle];
		break;
	default:
		gain = 256;
		break;
	}
	r = (uint64_t)b->bw[0] * BBR_BW_UNIT;
	/* Startup: at least the window per SRTT (the first rounds' samples
	 * are of a few segments; Linux's rate never falls in Startup). */
	if (b->mode == BBR_STARTUP && srtt != 0 && (uint64_t)c->cwnd * 1000000 / srtt > r)
		r = (uint64_t)c->cwnd * 1000000 / srtt;
	if (r == 0)
		return 0;
	r = r * gain / 256;
	return r - r / BBR_PACING_MARGIN;
}

const struct dl_tcp_cc_ops dl_tcp_bbr = {
    .name = "bbr",
    .init = bbr_init,
    .cong_avoid = bbr_cong_avoid,
    .ssthresh = bbr_ssthresh,
    .rtt_sample = bbr_rtt_sample,
    .on_ack = bbr_on_ack,
    .pacing_rate = bbr_pacing_rate,
};

uint64_t dl_tcp_pacing_rate(const struct dl_tcp *t, const struct dl_tcb *c)
{
	uint32_t srtt = c->srtt8 >> 3, flight = c->snd_max - c->snd_una;
	uint64_t r;

	if (dl_tcp_cc(c)->pacing_rate != NULL)
		return dl_tcp_cc(c)->pacing_rate(t, c);
	if (srtt == 0)
		return 0;
	/* Linux's tcp_update_pacing_rate: what the window allows per round
	 * trip, twice that in slow start (the window doubles per round),
	 * 1.2 times after. */
	r = (uint64_t)max_u32(c->cwnd, flight) * 1000000 / srtt;
	return c->cwnd < c->ssthresh / 2 ? 2 * r : r * 6 / 5;
}

const struct dl_tcp_cc_ops *const dl_tcp_ccs[DL_TCP_CC_N] = {
    [DL_TCP_CC_NEWRENO] = &dl_tcp_newreno,
    [DL_TCP_CC_CUBIC] = &dl_tcp_cubic,
    [DL_TCP_CC_BBR] = &dl_tcp_bbr,
};
