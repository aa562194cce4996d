/*
 * dl_tcp_cc.h - congestion control behind a small interface (as Linux's
 * tcp_congestion_ops): loss detection and recovery (NewReno, or SACK with
 * RACK-TLP and PRR) are the stack's; an algorithm only says how the
 * congestion window grows on ACKs and what ssthresh a congestion event
 * leaves. Three algorithms: NewReno (RFC 5681 / RFC 6582), CUBIC (RFC
 * 9438) with HyStart++ (RFC 9406), the default, and BBR (model-based:
 * bottleneck bandwidth and minimum RTT, see tcp_cc.c). A connection's algorithm
 * is fixed at creation (dl_tcp_params.cc); its state lives in the TCB's
 * ca[] (DL_TCP_CC_PRIV bytes), so an idle connection costs nothing more.
 *
 * Who calls what (tcp_in.c, tcp_sack.c, tcp_timer.c, tcp_out.c):
 *   init        at establishment, cwnd already the initial window
 *   cong_avoid  an ACK of new data outside recovery while the last output
 *               was cwnd-limited (RFC 7661): slow start or avoidance
 *   ssthresh    a congestion event (fast retransmit / RACK loss, RTO, a
 *               loss repaired by a tail loss probe); the caller then sets
 *               cwnd (ssthresh, PRR, or one segment after an RTO)
 *   rtt_sample  every RTT sample (HyStart++), optional
 *   restart     data starts again after an idle period, optional
 *   on_ack      every ACK that moved SND.UNA, after the stack's own
 *               window handling (in recovery too), with the bytes it
 *               newly delivered (acknowledged or SACKed, what was SACKed
 *               before not again): a model-based algorithm's delivery
 *               rate rounds and ACK aggregation, optional
 *   pacing_rate the rate a paced connection's data leaves at (bytes per
 *               second, 0: not paced yet), optional: without it a paced
 *               connection goes at Linux's rate for loss-based algorithms,
 *               2 x cwnd / SRTT in slow start, 1.2 x after
 */
#ifndef DL_TCP_CC_H
#define DL_TCP_CC_H

#include "dl_tcp.h"

struct dl_tcp_cc_ops {
	const char *name;
	void (*init)(struct dl_tcp *t, struct dl_tcb *c);
	void (*cong_avoid)(struct dl_tcp *t, struct dl_tcb *c, uint32_t acked);
	uint32_t (*ssthresh)(struct dl_tcp *t, struct dl_tcb *c);
	void (*rtt_sample)(struct dl_tcp *t, struct dl_tcb *c, uint32_t rtt_us);
	void (*restart)(struct dl_tcp *t, struct dl_tcb *c);
	void (*on_ack)(struct dl_tcp *t, struct dl_tcb *c, uint32_t acked);
	uint64_t (*pacing_rate)(const struct dl_tcp *t, const struct dl_tcb *c);
};

extern const struct dl_tcp_cc_ops dl_tcp_newreno, dl_tcp_cubic, dl_tcp_bbr;

/** The algorithms by enum dl_tcp_cc (a TCB's cc is always one of them). */
extern const struct dl_tcp_cc_ops *const dl_tcp_ccs[DL_TCP_CC_N];

static inline const struct dl_tcp_cc_ops *dl_tcp_cc(const struct dl_tcb *c)
{
	return dl_tcp_ccs[c->cc];
}

/**
 * ssthresh for a loss event: the algorithm's, unless an ECN-Echo already
 * reduced the window for this window of data (RFC 3168 6.1.2: one
 * reduction per window; the loss then only starts the recovery).
 */
static inline uint32_t dl_tcp_loss_ssthresh(struct dl_tcp *t, struct dl_tcb *c)
{
	if (__builtin_expect((c->ecn & ECN_CWR) != 0, 0) && seq_lt(c->snd_una, c->recover))
		return c->ssthresh;
	return dl_tcp_cc(c)->ssthresh(t, c);
}

/**
 * BBR's model of @p c's path (a connection running BBR): @p bw the
 * bottleneck bandwidth estimate in bytes per second (0: no sample yet),
 * @p min_rtt_us its minimum RTT (of the last 10 s), @p mode 0 Startup,
 * 1 ProbeBW, 2 ProbeRTT, 3 Drain (paced connections only).
 */
void dl_tcp_bbr_model(const struct dl_tcb *c, uint64_t *bw, uint32_t *min_rtt_us, uint8_t *mode);

/** The pacing rate of connection @p c in bytes per second (0: none yet,
 *  send unpaced): its algorithm's, or 2 (slow start) or 1.2 x cwnd / SRTT. */
uint64_t dl_tcp_pacing_rate(const struct dl_tcp *t, const struct dl_tcb *c);

/** Initial ssthresh ("arbitrarily high", RFC 5681 3.1). */
#define DL_TCP_SSTHRESH_INIT (1u << 30)

/** Integer cube root (floor) of x. */
uint64_t dl_tcp_cbrt(uint64_t x);

#endif /* DL_TCP_CC_H */
