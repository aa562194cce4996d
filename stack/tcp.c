/*
 * tcp.c - one net core's TCP: connection slots and ids, the 4-tuple hash,
 * listeners, RFC 6528 ISNs, the send-queue chunk pool, the deferred list,
 * the upcall wrappers and the command functions of dl_stack.h.
 *
 * Connection ids are slot index | generation << idx_bits. The generation
 * is bumped when a slot is released, so a stale id never names a reused
 * slot. Slots live in slabs of 64 TCBs allocated on first use; a TCB is
 * found by id in O(1) (slab table) and by 4-tuple through a chained hash
 * whose heads are 32-bit slot numbers.
 *
 * Commands validate everything (ownership, state, counts) before changing
 * anything, return a negative errno on refusal (counted) and never emit an
 * upcall themselves: what they cause (transmission, cleanup) is queued on
 * the deferred list and happens in dl_stack_flush(). See dl_tcp.h for the
 * deferred list and the life of a connection.
 */
#include "dl_tcp_cc.h"
#include "dl_siphash.h"
#include "dl_log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#define DL_TCP_MAX_LISTENERS 256
#define CHUNK_SLAB	     512

static const char *const tcp_cnt_names[TCP_NCNT] = {
    [TCP_RX_SEGS] = "rx_segments",
    [TCP_RX_BYTES] = "rx_payload_bytes",
    [TCP_TX_SEGS] = "tx_segments",
    [TCP_TX_BYTES] = "tx_payload_bytes",
    [TCP_TX_TSO] = "tx_tso_packets",
    [TCP_TX_PURE_ACK] = "tx_pure_acks",
    [TCP_TX_DELACK] = "tx_delayed_acks",
    [TCP_TX_WINUPD] = "tx_window_updates",
    [TCP_TX_SYN] = "tx_syn",
    [TCP_TX_SYNACK] = "tx_syn_ack",
    [TCP_TX_RST] = "tx_rst",
    [TCP_TX_CHALLENGE_ACK] = "tx_challenge_acks",
    [TCP_TX_REXMIT_SEGS] = "tx_retransmit_segments",
    [TCP_TX_REXMIT_BYTES] = "tx_retransmit_bytes",
    [TCP_TX_SYN_REXMIT] = "tx_syn_retransmits",
    [TCP_TX_PROBE] = "tx_zero_window_probes",
    [TCP_TX_KEEPALIVE] = "tx_keepalives",
    [TCP_TX_NOBUF] = "tx_drop_no_header_buffer",
    [TCP_FAST_REXMIT] = "fast_retransmits",
    [TCP_PARTIAL_ACK] = "newreno_partial_acks",
    [TCP_RTO] = "rto_expirations",
    [TCP_RTT_SAMPLES] = "rtt_samples",
    [TCP_RX_DUPACK] = "rx_dup_acks",
    [TCP_RX_OOO] = "rx_out_of_order_segments",
    [TCP_RX_PERSIST_WND0] = "rx_zero_window_probes",
    [TCP_CONN_PASSIVE] = "conn_passive_opens",
    [TCP_CONN_ACTIVE] = "conn_active_opens",
    [TCP_CONN_ESTAB] = "conn_established",
    [TCP_CONN_FREED] = "conn_released",
    [TCP_CONN_RESET_RX] = "conn_reset_by_peer",
    [TCP_CONN_ABORT] = "conn_aborted",
    [TCP_CONN_TIMEOUT] = "conn_retransmit_timeouts",
    [TCP_CONN_KA_TIMEOUT] = "conn_keepalive_timeouts",
    [TCP_SYN_TIMEOUT] = "conn_syn_timeouts",
    [TCP_SYNRCVD_EXPIRED] = "syn_rcvd_expired",
    [TCP_SYNCOOKIE_SENT] = "syncookies_sent",
    [TCP_SYNCOOKIE_OK] = "syncookies_accepted",
    [TCP_SYNCOOKIE_TS] = "syncookies_ts",
    [TCP_SYNCOOKIE_FAILED] = "syncookies_failed",
    [TCP_TW_EXPIRED] = "time_wait_expired",
    [TCP_TW_REUSED] = "time_wait_reused",
    [TCP_FW2_TIMEOUT] = "fin_wait2_timeouts",
    [TCP_CHALLENGE_LIMITED] = "challenge_ack_rate_limited",
    [TCP_RST_CLOSE_UNREAD] = "rst_close_with_unread_data",
    [TCP_DROP_TRUNCATED] = "drop_truncated",
    [TCP_DROP_BAD_OFFSET] = "drop_bad_data_offset",
    [TCP_DROP_BAD_OPTIONS] = "drop_bad_options",
    [TCP_DROP_BAD_CSUM] = "drop_bad_checksum",
    [TCP_DROP_BAD_PORT] = "drop_port_zero",
    [TCP_DROP_CLOSED_PORT] = "drop_closed_port",
    [TCP_DROP_CLOSED_PORT_RST] = "drop_closed_port_rst",
    [TCP_DROP_LISTEN_RST] = "drop_listen_rst",
    [TCP_DROP_LISTEN_ACK] = "drop_listen_ack",
    [TCP_DROP_LISTEN_NO_SYN] = "drop_listen_no_syn",
    [TCP_DROP_SYN_BACKLOG] = "drop_syn_backlog_full",
    [TCP_DROP_ACCEPT_BACKLOG] = "drop_accept_backlog_full",
    [TCP_DROP_CONN_TABLE] = "drop_conn_table_full",
    [TCP_DROP_SYNSENT_BAD_ACK] = "drop_syn_sent_bad_ack",
    [TCP_DROP_SYNSENT_BAD_RST] = "drop_syn_sent_unacceptable_rst",
    [TCP_DROP_SYNSENT_NO_SYN] = "drop_syn_sent_no_syn",
    [TCP_DROP_SYNRCVD_BAD_ACK] = "drop_syn_rcvd_bad_ack",
    [TCP_DROP_SYNRCVD_SYN] = "drop_syn_rcvd_new_syn",
    [TCP_DROP_PAWS] = "drop_paws",
    [TCP_PAWS_DISORDERED_ACK] = "paws_disordered_acks",
    [TCP_DROP_NO_TS] = "drop_missing_timestamp",
    [TCP_DROP_OUT_OF_WINDOW] = "drop_out_of_window",
    [TCP_DROP_DUPLICATE] = "drop_duplicate",
    [TCP_DROP_RST_OOW] = "drop_rst_out_of_window",
    [TCP_DROP_RST_CHALLENGE] = "drop_rst_in_window_challenged",
    [TCP_DROP_SYN_CHALLENGE] = "drop_syn_challenged",
    [TCP_DROP_ACK_CHALLENGE] = "drop_old_ack_challenged",
    [TCP_DROP_ACK_UNSENT] = "drop_ack_of_unsent_data",
    [TCP_DROP_NO_ACK] = "drop_no_ack_flag",
    [TCP_DROP_OOO_LIMIT] = "drop_out_of_order_limit",
    [TCP_DROP_RXBUF_LIMIT] = "drop_rx_buffer_limit",
    [TCP_DROP_APP_THROTTLED] = "drop_app_throttled",
    [TCP_DROP_DATA_AFTER_CLOSE] = "drop_data_after_close",
    [TCP_DROP_DATA_AFTER_FIN] = "drop_data_after_fin",
    [TCP_DROP_DATA_SHUT_RD] = "drop_data_shut_rd",
    [TCP_DROP_TIME_WAIT] = "drop_time_wait",
    [TCP_IGN_SYN_DATA] = "ignored_syn_data",
    [TCP_IGN_OOO_FIN] = "ignored_out_of_order_fin",
    [TCP_IGN_URG] = "ignored_urgent",
    [TCP_CMD_ENOENT] = "cmd_unknown_id",
    [TCP_CMD_EPERM] = "cmd_not_owner",
    [TCP_CMD_EINVAL] = "cmd_invalid",
    [TCP_CMD_RECV_EINVAL] = "cmd_recv_done_too_many_bytes",
    [TCP_SEND_ENOBUFS] = "cmd_send_queue_full",
    [TCP_SEND_POOL_EMPTY] = "cmd_send_pool_exhausted",
    [TCP_SEND_EPIPE] = "cmd_send_after_shutdown",
    [TCP_CONNECT_NO_PORT] = "cmd_connect_no_port",
    [TCP_CONNECT_NO_CONN] = "cmd_connect_table_full",
    [TCP_SACK_CONNS] = "sack_connections",
    [TCP_RX_SACK_BLOCKS] = "rx_sack_blocks",
    [TCP_RX_DSACK] = "rx_dsack_blocks",
    [TCP_DROP_SACK_INVALID] = "drop_sack_block_invalid",
    [TCP_TX_SACK_BLOCKS] = "tx_sack_blocks",
    [TCP_TX_DSACK] = "tx_dsack_blocks",
    [TCP_SB_ALLOC] = "sb_allocated",
    [TCP_SB_EXHAUSTED] = "sb_exhausted",
    [TCP_SB_OVERFLOW] = "sb_range_overflow",
    [TCP_SB_TOP_MERGED] = "sb_top_merged",
    [TCP_SACK_RECOVERY] = "sack_recoveries",
    [TCP_RACK_LOST] = "rack_marked_lost",
    [TCP_RACK_REO_TIMER] = "rack_reorder_timeouts",
    [TCP_RACK_REORDER] = "rack_reordering_seen",
    [TCP_RACK_LOST_REXMIT] = "rack_lost_retransmits",
    [TCP_TLP_PROBES] = "tlp_probes",
    [TCP_TLP_NEW_DATA] = "tlp_probes_new_data",
    [TCP_TLP_RECOVERED] = "tlp_recoveries",
    [TCP_TLP_SPURIOUS] = "tlp_spurious",
    [TCP_TLP_DELACK_RAISED] = "tlp_delack_raised",
    [TCP_RTO_AFTER_TLP] = "rto_after_tlp",
    [TCP_SACK_RENEGING] = "sack_reneging",
    [TCP_SPURIOUS_REXMIT] = "spurious_retransmits_dsack",
    [TCP_CC_CUBIC] = "cc_cubic_connections",
    [TCP_CC_NEWRENO] = "cc_newreno_connections",
    [TCP_CC_BBR] = "cc_bbr_connections",
    [TCP_BBR_FULL_BW] = "bbr_startup_exits",
    [TCP_BBR_PROBE_RTT] = "bbr_probe_rtt",
    [TCP_PACED_CONNS] = "paced_connections",
    [TCP_PACING_WAITS] = "pacing_waits",
    [TCP_ECN_CONNS] = "ecn_connections",
    [TCP_ECN_RX_CE] = "rx_ce_marked",
    [TCP_ECN_REDUCTIONS] = "ecn_cwnd_reductions",
    [TCP_ECN_TX_CWR] = "tx_cwr",
    [TCP_HYSTART_CSS] = "hystart_css_entered",
    [TCP_HYSTART_EXIT] = "hystart_slow_start_exits",
    [TCP_CWND_RESTART] = "cwnd_restarts_after_idle",
    [TCP_RTT_SAMPLES_TS] = "rtt_samples_timestamp",
    [TCP_ICMP_RX] = "icmp_errors",
    [TCP_ICMP_NO_CONN] = "icmp_drop_no_connection",
    [TCP_ICMP_BAD_SEQ] = "icmp_drop_seq_not_in_flight",
    [TCP_ICMP_BAD_QUOTE] = "icmp_drop_bad_quote",
    [TCP_ICMP_CONNECT_FAILED] = "icmp_connects_failed",
    [TCP_ICMP_SOFT_ERR] = "icmp_soft_errors",
    [TCP_ICMP_IGNORED] = "icmp_ignored",
    [TCP_PMTU_FRAG_NEEDED] = "icmp_frag_needed",
    [TCP_PMTU_REDUCED] = "pmtu_reductions",
    [TCP_PMTU_IGNORED] = "pmtu_frag_needed_ignored",
    [TCP_TW_ENTERED] = "time_wait_entered",
    [TCP_TW_EVICTED] = "time_wait_evicted",
    [TCP_TW_REUSED_ACTIVE] = "time_wait_reused_by_connect",
    [TCP_TW_RST_KILLED] = "time_wait_killed_by_rst",
    [TCP_DROP_OOO_CORE] = "drop_ooo_core_limit",
    [TCP_OOO_EVICTED] = "ooo_evicted_for_fair_share",
    [TCP_DROP_APP_BUFS] = "drop_app_rx_bufs",
    [TCP_SIMOPEN] = "simultaneous_opens",
};

static const char *const state_names[DL_TCP_NSTATES] = {
    [DL_TCP_CLOSED] = "CLOSED",		[DL_TCP_SYN_SENT] = "SYN_SENT",
    [DL_TCP_SYN_RCVD] = "SYN_RCVD",	[DL_TCP_ESTABLISHED] = "ESTABLISHED",
    [DL_TCP_FIN_WAIT_1] = "FIN_WAIT_1", [DL_TCP_FIN_WAIT_2] = "FIN_WAIT_2",
    [DL_TCP_CLOSE_WAIT] = "CLOSE_WAIT", [DL_TCP_CLOSING] = "CLOSING",
    [DL_TCP_LAST_ACK] = "LAST_ACK",	[DL_TCP_TIME_WAIT] = "TIME_WAIT",
};

const char *dl_tcp_state_name(unsigned state)
{
	return state < DL_TCP_NSTATES ? state_names[state] : "?";
}

/* ------------------------------------------------------------------------ */
/* creation                                                                 */
/* ------------------------------------------------------------------------ */

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

static void random_key(uint8_t key[16])
{
	if (getrandom(key, 16, GRND_NONBLOCK) == 16)
		return;
	/* No entropy yet: still unpredictable enough to differ per run. */
	uint64_t x = dl_now_us() ^ (uint64_t)(uintptr_t)key;
	for (int i = 0; i < 16; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		key[i] = (uint8_t)(x >> 56);
	}
}

void dl_tcp_params_defaults(struct dl_tcp_params *t)
{
	t->max_conns = 65536;
	t->syn_backlog = 1024;
	t->accept_backlog = 1024;
	t->rcv_wnd = 256u * 1024;
	t->ooo_max_bytes = 0;
	t->ooo_max_segs = 0;
	t->rto_min_us = 200u * 1000;
	t->rto_max_us = 60u * 1000 * 1000;
	t->rto_init_us = 1000u * 1000;
	t->delack_us = 40u * 1000;
	t->msl_us = 30u * 1000 * 1000;
	t->syn_retries = 5;
	t->max_retries = 15;
	t->keepalive_us = 0;
	t->keepalive_intvl_us = 75u * 1000 * 1000;
	t->keepalive_probes = 9;
	t->init_cwnd_segs = 10;
	t->wscale = 7;
	t->timestamps = true;
	t->tso = true;
	t->syn_cookies = true;
	random_key(t->isn_key);
	t->snd_queue_bytes = 256u << 20;
	t->snd_queue_frags = 1024;
	t->snd_pool_frags = 1u << 20;
	t->rx_bufs_max = 0;
	t->fin_wait2_us = 60u * 1000 * 1000;
	t->challenge_ack_limit = 1000;
	t->port_min = 32768;
	t->port_max = 60999;
	t->cc = DL_TCP_CC_CUBIC;
	t->pacing = DL_TCP_PACING_BBR;
	t->ecn = DL_TCP_ECN_ACCEPT;
	t->sack = true;
	t->tlp = true;
	t->tlp_delack_us = 50000;
	t->hystart = true;
	t->restart_after_idle = true;
	t->sack_pool = 4096;
	t->tw_max = 262144;
	t->tw_reuse = true;
	t->ooo_core_bufs = 0;
	t->app_rx_bufs = 0;
	t->pmtu_expire_us = 600u * 1000 * 1000;
}

static int check_params(struct dl_tcp_params *p)
{
	if (p->max_conns == 0 || p->max_conns > (1u << 24) || p->rcv_wnd < 1024 ||
	    p->wscale > DL_TCP_MAX_WSCALE || p->rto_min_us == 0 || p->rto_max_us < p->rto_min_us ||
	    p->port_min == 0 || p->port_max < p->port_min || p->snd_queue_frags == 0 ||
	    p->cc >= DL_TCP_CC_N || p->pacing >= DL_TCP_PACING_N || p->ecn >= DL_TCP_ECN_N ||
	    p->tw_max > (1u << 30))
		return -EINVAL;
	if (p->ooo_core_bufs == 0)
		p->ooo_core_bufs = 4096;
	if (p->rcv_wnd > (65535u << p->wscale))
		p->rcv_wnd = 65535u << p->wscale;
	if (p->rto_init_us < p->rto_min_us)
		p->rto_init_us = p->rto_min_us;
	if (p->init_cwnd_segs == 0)
		p->init_cwnd_segs = 1;
	return 0;
}

struct dl_tcp *dl_tcp_create(struct dl_stack *s)
{
	struct dl_tcp *t = calloc(1, sizeof(*t));
	uint32_t hsize;

	if (t == NULL)
		return NULL;
	t->s = s;
	t->p = s->cfg.tcp;
	if (check_params(&t->p) != 0) {
		free(t);
		errno = EINVAL;
		return NULL;
	}
	t->max_conns = t->p.max_conns;
	t->idx_bits = (uint8_t)__builtin_ctz(pow2_at_least(t->max_conns));
	if (t->idx_bits < DL_TCP_SLAB_SHIFT)
		t->idx_bits = DL_TCP_SLAB_SHIFT;
	t->idx_mask = (1u << t->idx_bits) - 1;
	t->nslabs = (t->max_conns + (1u << DL_TCP_SLAB_SHIFT) - 1) >> DL_TCP_SLAB_SHIFT;
	t->slabs = calloc(t->nslabs, sizeof(*t->slabs));
	hsize = pow2_at_least(t->max_conns);
	t->htab = calloc(hsize, sizeof(*t->htab));
	t->hmask = hsize - 1;
	t->lst = calloc(DL_TCP_MAX_LISTENERS, sizeof(*t->lst));
	if (t->slabs == NULL || t->htab == NULL || t->lst == NULL) {
		free(t->slabs);
		free(t->htab);
		free(t->lst);
		free(t);
		errno = ENOMEM;
		return NULL;
	}
	uint8_t hk[16];
	random_key(hk);
	memcpy(t->hkey, hk, sizeof(t->hkey));
	random_key(hk);
	t->port_next = (uint16_t)(hk[4] | hk[5] << 8);
	t->tw_cap = pow2_at_least(t->p.tw_max > DL_TCP_TW_CHUNK ? t->p.tw_max : DL_TCP_TW_CHUNK);

	t->rcv_mss = (uint16_t)(s->cfg.mtu - DL_IPV4_HLEN - DL_TCP_HLEN);
	t->rx_bufs_max = t->p.rx_bufs_max;
	if (t->rx_bufs_max == 0)
		t->rx_bufs_max = 2 * (t->p.rcv_wnd / t->rcv_mss) + 16;
	/* A loss in a full window leaves window / MSS - 1 segments out of
	 * order: a smaller bound (it was 64 for a 181-segment window) drops
	 * most of them, and a sender without SACK then needs an RTT per
	 * dropped segment or an RTO (Linux over TAP with 1% loss: 6x slower). */
	if (t->p.ooo_max_segs == 0)
		t->p.ooo_max_segs = t->p.rcv_wnd / t->rcv_mss + 16;
	/* A whole window may wait behind one hole (with SACK the sender
	 * fills the hole without resending it). */
	if (t->p.ooo_max_bytes == 0)
		t->p.ooo_max_bytes = t->p.rcv_wnd;
	/* The per-connection counts they bound are 16-bit (rx_nbufs,
	 * ooo_segs): windows over about 47 MB must not wrap them. */
	t->rx_bufs_max = min_u32(t->rx_bufs_max, UINT16_MAX);
	t->p.ooo_max_segs = min_u32(t->p.ooo_max_segs, UINT16_MAX);
	t->sws_thresh = min_u32(t->p.rcv_wnd / 2, t->rcv_mss);
	t->chunks_max = t->p.snd_pool_frags / DL_TCP_CHUNK_FRAGS + 1;
	dl_wheel_init(&t->wheel, DL_TCP_TICK_SHIFT, s->now, dl_tcp_timer_fire, t);
	dl_stats_register(&t->blk, "tcp", tcp_cnt_names, TCP_NCNT, t->cnt, (int)s->net_index);
	return t;
}

/* ------------------------------------------------------------------------ */
/* slots, ids and the 4-tuple hash                                          */
/* ------------------------------------------------------------------------ */

static bool slot_in_use(const struct dl_tcb *c)
{
	return c->state != DL_TCP_CLOSED || (c->flags & TF_FREE);
}

struct dl_tcb *dl_tcp_tcb_new(struct dl_tcp *t)
{
	struct dl_tcb *c;
	uint32_t idx, id;

	if (t->free_head != 0) {
		idx = t->free_head - 1;
		c = tcb_at(t, idx);
		t->free_head = c->hnext;
	} else {
		if (t->next_fresh >= t->max_conns)
			return NULL;
		idx = t->next_fresh;
		uint32_t sl = idx >> DL_TCP_SLAB_SHIFT;
		if (t->slabs[sl] == NULL) {
			t->slabs[sl] = calloc(1u << DL_TCP_SLAB_SHIFT, sizeof(struct dl_tcb));
			if (t->slabs[sl] == NULL)
				return NULL;
			t->slabs_used++;
			for (uint32_t i = 0; i < (1u << DL_TCP_SLAB_SHIFT); i++)
				t->slabs[sl][i].id =
				    (1u << t->idx_bits) | ((sl << DL_TCP_SLAB_SHIFT) + i);
		}
		t->next_fresh++;
		c = tcb_at(t, idx);
	}
	id = c->id;
	assert((id & t->idx_mask) == idx);
	memset(c, 0, sizeof(*c));
	c->id = id;
	c->app = DL_APP_NONE;
	t->nconns++;
	return c;
}

/* Give the slot back; the generation moves on so the old id dies. */
static void tcb_release(struct dl_tcp *t, struct dl_tcb *c)
{
	uint32_t idx = tcb_index(t, c);
	uint32_t gen = (c->id >> t->idx_bits) + 1;

	assert(!dl_wheel_armed(&c->tn));
	if (t->idx_bits < 32 && gen >= (1u << (32 - t->idx_bits)))
		gen = 1;
	c->id = gen << t->idx_bits | idx;
	c->state = DL_TCP_CLOSED;
	c->flags = 0;
	c->hnext = t->free_head;
	t->free_head = idx + 1;
	t->nconns--;
}

/* The TCB an application-visible id names, or NULL. */
static struct dl_tcb *tcb_by_id(struct dl_tcp *t, uint32_t id)
{
	uint32_t idx = id & t->idx_mask;
	struct dl_tcb *c;

	if (idx >= t->next_fresh)
		return NULL;
	c = tcb_at(t, idx);
	if (c->id != id || !slot_in_use(c))
		return NULL;
	if (!(c->flags & (TF_EXPOSED | TF_ACTIVE)) || (c->flags & (TF_CLEANED | TF_APP_CLOSED)))
		return NULL;
	return c;
}

/* SipHash-1-3 over the whole 4-tuple under a per-core random key: which
 * tuples share a chain cannot be computed offline. */
uint32_t dl_tcp_tuple_hash(const struct dl_tcp *t, uint32_t rip, uint16_t lport, uint16_t rport)
{
	uint64_t m0 = (uint64_t)rip | (uint64_t)lport << 32 | (uint64_t)rport << 48;

	return (uint32_t)dl_siphash13_2u64(t->hkey[0], t->hkey[1], m0, t->s->cfg.ip) & t->hmask;
}

struct dl_tcb *dl_tcp_lookup(struct dl_tcp *t, uint32_t rip, uint16_t lport, uint16_t rport,
			     struct dl_tcp_tw **tw)
{
	uint32_t i;

	if (tw != NULL)
		*tw = NULL;
	/* The last connection found first: segments come in runs of one
	 * flow, and the keyed hash costs some 100 instructions. A closed
	 * slot is unhashed (CLOSED), so it never matches here wrongly. */
	if (t->lk_last != 0) {
		struct dl_tcb *c = tcb_at(t, t->lk_last - 1);
		if (c->rip == rip && c->lport == lport && c->rport == rport &&
		    c->state != DL_TCP_CLOSED)
			return c;
	}
	i = t->htab[dl_tcp_tuple_hash(t, rip, lport, rport)];
	while (i != 0) {
		if (i & DL_TCP_HTW) {
			struct dl_tcp_tw *w = dl_tcp_tw_at(t, i & ~DL_TCP_HTW);
			if (w->rip == rip && w->lport == lport && w->rport == rport) {
				if (tw != NULL)
					*tw = w;
				return NULL;
			}
			i = w->hnext;
			continue;
		}
		struct dl_tcb *c = tcb_at(t, i - 1);
		if (c->rip == rip && c->lport == lport && c->rport == rport) {
			t->lk_last = i;
			return c;
		}
		i = c->hnext;
	}
	return NULL;
}

/* The chain link that holds `me` (a TCB slot + 1 or DL_TCP_HTW | ring slot). */
uint32_t *dl_tcp_hash_link(struct dl_tcp *t, uint32_t head, uint32_t me)
{
	uint32_t *pp = &t->htab[head];

	while (*pp != 0) {
		if (*pp == me)
			return pp;
		if (*pp & DL_TCP_HTW)
			pp = &dl_tcp_tw_at(t, *pp & ~DL_TCP_HTW)->hnext;
		else
			pp = &tcb_at(t, *pp - 1)->hnext;
	}
	assert(!"entry not in its hash chain");
	return NULL;
}

void dl_tcp_hash_insert(struct dl_tcp *t, struct dl_tcb *c)
{
	uint32_t *head = &t->htab[dl_tcp_tuple_hash(t, c->rip, c->lport, c->rport)];

	c->hnext = *head;
	*head = tcb_index(t, c) + 1;
}

void dl_tcp_hash_remove(struct dl_tcp *t, struct dl_tcb *c)
{
	uint32_t *pp = dl_tcp_hash_link(t, dl_tcp_tuple_hash(t, c->rip, c->lport, c->rport),
					tcb_index(t, c) + 1);

	*pp = c->hnext;
	c->hnext = 0;
}

/* ------------------------------------------------------------------------ */
/* listeners and ISNs                                                       */
/* ------------------------------------------------------------------------ */

struct dl_tcp_listener *dl_tcp_listener_find(struct dl_tcp *t, uint16_t port)
{
	for (uint16_t i = 0; i < t->nlst; i++)
		if (t->lst[i].port == port)
			return &t->lst[i];
	return NULL;
}

void dl_tcp_listener_leave(struct dl_tcp *t, struct dl_tcb *c)
{
	struct dl_tcp_listener *l;

	if (!(c->flags & TF_LISTENER))
		return;
	c->flags &= ~TF_LISTENER;
	l = &t->lst[c->lst - 1];
	if (c->state == DL_TCP_SYN_RCVD || (c->state == DL_TCP_CLOSED && !(c->flags & TF_EXPOSED)))
		l->n_syn--;
	else
		l->n_acc--;
	c->lst = 0;
}

uint32_t dl_tcp_isn(struct dl_tcp *t, uint32_t rip, uint16_t lport, uint16_t rport,
		    uint32_t *ts_off)
{
	uint8_t m[12];
	uint64_t h;

	dl_put32(m, t->s->cfg.ip);
	dl_put32(m + 4, rip);
	dl_put16(m + 8, lport);
	dl_put16(m + 10, rport);
	h = dl_siphash24(t->p.isn_key, m, sizeof(m));
	if (ts_off != NULL)
		*ts_off = (uint32_t)(h >> 32);
	/* RFC 6528: ISN = M + F(4-tuple, secret), M a 4-microsecond clock. */
	return (uint32_t)h + (uint32_t)(t->s->now >> 2);
}

bool dl_tcp_challenge_ok(struct dl_tcp *t)
{
	uint64_t now = t->s->now;

	if (now - t->chal_window >= 1000000u) {
		t->chal_window = now;
		t->chal_count = 0;
	}
	if (t->chal_count >= t->p.challenge_ack_limit) {
		t->cnt[TCP_CHALLENGE_LIMITED]++;
		return false;
	}
	t->chal_count++;
	t->cnt[TCP_TX_CHALLENGE_ACK]++;
	return true;
}

/* ------------------------------------------------------------------------ */
/* send-queue chunk pool                                                    */
/* ------------------------------------------------------------------------ */

static int chunk_grow(struct dl_tcp *t)
{
	struct dl_tcp_chunk *slab;

	if (t->chunks_total >= t->chunks_max)
		return -ENOBUFS;
	if (t->chunk_nslabs == t->chunk_slab_cap) {
		uint32_t cap = t->chunk_slab_cap ? 2 * t->chunk_slab_cap : 16;
		void **n = realloc(t->chunk_slabs, cap * sizeof(*n));
		if (n == NULL)
			return -ENOMEM;
		t->chunk_slabs = n;
		t->chunk_slab_cap = cap;
	}
	slab = calloc(CHUNK_SLAB, sizeof(*slab));
	if (slab == NULL)
		return -ENOMEM;
	t->chunk_slabs[t->chunk_nslabs++] = slab;
	for (uint32_t i = 0; i < CHUNK_SLAB; i++) {
		slab[i].next = t->chunk_free;
		t->chunk_free = &slab[i];
	}
	t->chunks_total += CHUNK_SLAB;
	return 0;
}

/* Make sure n chunks can be taken. */
static bool chunk_reserve(struct dl_tcp *t, uint32_t n)
{
	if (n == 1 && t->chunk_free != NULL && t->chunks_used < t->chunks_max)
		return true;
	if (t->chunks_used + n > t->chunks_max)
		return false;
	while (t->chunks_total - t->chunks_used < n)
		if (chunk_grow(t) != 0)
			return false;
	return true;
}

static struct dl_tcp_chunk *chunk_take(struct dl_tcp *t)
{
	struct dl_tcp_chunk *k = t->chunk_free;

	assert(k != NULL);
	t->chunk_free = k->next;
	k->next = NULL;
	k->n = 0;
	t->chunks_used++;
	return k;
}

static void chunk_put(struct dl_tcp *t, struct dl_tcp_chunk *k)
{
	k->next = t->chunk_free;
	t->chunk_free = k;
	t->chunks_used--;
}

static void sq_free_all(struct dl_tcp *t, struct dl_tcb *c)
{
	struct dl_tcp_chunk *k = c->sq_head.c;

	while (k != NULL) {
		struct dl_tcp_chunk *next = k->next;
		chunk_put(t, k);
		k = next;
	}
	memset(&c->sq_head, 0, sizeof(c->sq_head));
	memset(&c->sq_cur, 0, sizeof(c->sq_cur));
	c->sq_tail = NULL;
	c->sq_bytes = 0;
	c->sq_nfrags = 0;
}

/* Drop `bytes` acknowledged bytes from the head of the send queue. */
void dl_tcp_sq_ack(struct dl_tcp *t, struct dl_tcb *c, uint32_t bytes)
{
	struct dl_tcp_sqpos *h = &c->sq_head;

	assert(bytes <= c->sq_bytes);
	c->sq_bytes -= bytes;
	c->sq_seq += bytes;
	if (c->sq_bytes == 0) {
		/* All acknowledged: give the chunks back, the queue is empty. */
		struct dl_tcp_chunk *k = h->c;
		while (k != NULL) {
			struct dl_tcp_chunk *next = k->next;
			chunk_put(t, k);
			k = next;
		}
		h->c = NULL;
		c->sq_cur.c = NULL;
		c->sq_tail = NULL;
		c->sq_nfrags = 0;
		return;
	}
	while (bytes > 0) {
		struct dl_tcp_frag *f = &h->c->f[h->i];
		uint32_t rem = f->len - h->off;

		if (bytes < rem) {
			h->off += bytes;
			break;
		}
		bytes -= rem;
		c->sq_nfrags--;
		h->off = 0;
		if (++h->i == h->c->n) {
			struct dl_tcp_chunk *done = h->c;
			assert(done->next != NULL); /* the queue is not empty */
			h->c = done->next;
			h->i = 0;
			if (c->sq_cur.c == done) /* cur behind head: caller resets it */
				c->sq_cur = *h;
			chunk_put(t, done);
		}
	}
}

/* A fragment contiguous with the queue's last one extends it. */
static bool sq_can_merge(const struct dl_tcp_frag *last, const struct dl_tx_frag *f)
{
	return last->region == f->region && last->data + last->len == f->data &&
	       last->len <= UINT32_MAX / 2 - f->len;
}

/* Queue fragments (already validated to fit). */
static void sq_append(struct dl_tcp *t, struct dl_tcb *c, const struct dl_tx_frag *frags,
		      unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct dl_tcp_chunk *k = c->sq_tail;
		struct dl_tcp_frag *last = k != NULL ? &k->f[k->n - 1] : NULL;

		c->sq_bytes += frags[i].len;
		if (last != NULL && sq_can_merge(last, &frags[i])) {
			last->len += frags[i].len;
			continue;
		}
		if (k == NULL || k->n == DL_TCP_CHUNK_FRAGS) {
			struct dl_tcp_chunk *nk = chunk_take(t);
			if (k == NULL) {
				c->sq_head = (struct dl_tcp_sqpos){nk, 0, 0};
				c->sq_cur = c->sq_head;
			} else {
				k->next = nk;
			}
			c->sq_tail = nk;
			k = nk;
		}
		k->f[k->n++] = (struct dl_tcp_frag){frags[i].data, frags[i].len, frags[i].region};
		c->sq_nfrags++;
	}
}

/* ------------------------------------------------------------------------ */
/* receive buffers                                                          */
/* ------------------------------------------------------------------------ */

static void rxb_free(struct dl_tcp *t, struct dl_tcb *c, struct dl_tcp_rxb *b)
{
	c->rx_nbufs--;
	dl_nic_buf_free(t->s->nic, b->buf);
}

void dl_tcp_rx_free_all(struct dl_tcp *t, struct dl_tcb *c)
{
	struct dl_tcp_rxb *b, *next;

	for (b = c->rx_head; b != NULL; b = next) {
		next = b->next;
		rxb_free(t, c, b);
		dl_tcp_app_bufs(t, c, -1);
	}
	for (b = c->ooo_head; b != NULL; b = next) {
		next = b->next;
		rxb_free(t, c, b);
	}
	c->rx_head = c->rx_tail = c->ooo_head = NULL;
	c->rx_head_off = 0;
	dl_tcp_app_unret(t, c, -(int64_t)c->rx_unret);
	c->rx_held = c->rx_unret = 0;
	c->ooo_bytes = 0;
	if (c->ooo_segs > 0) {
		t->ooo_bufs -= c->ooo_segs;
		c->ooo_segs = 0;
		dl_tcp_ooo_holder(t, c, false);
	}
	c->nrsack = 0;
	assert(c->rx_nbufs == 0);
}

void dl_tcp_ooo_holder(struct dl_tcp *t, struct dl_tcb *c, bool holds)
{
	uint32_t me = tcb_index(t, c) + 1;

	if (holds) {
		c->ooo_prev = 0;
		c->ooo_next = t->ooo_list;
		if (t->ooo_list != 0)
			tcb_at(t, t->ooo_list - 1)->ooo_prev = me;
		t->ooo_list = me;
		t->ooo_conns++;
		return;
	}
	if (c->ooo_prev != 0)
		tcb_at(t, c->ooo_prev - 1)->ooo_next = c->ooo_next;
	else
		t->ooo_list = c->ooo_next;
	if (c->ooo_next != 0)
		tcb_at(t, c->ooo_next - 1)->ooo_prev = c->ooo_prev;
	if (t->ooo_cursor == me)
		t->ooo_cursor = c->ooo_next;
	c->ooo_prev = c->ooo_next = 0;
	t->ooo_conns--;
}

/* The application returned `bytes` delivered bytes: free their buffers. */
static void rx_release(struct dl_tcp *t, struct dl_tcb *c, uint32_t bytes)
{
	dl_tcp_app_unret(t, c, -(int64_t)bytes);
	c->rx_unret -= bytes;
	c->rx_held -= bytes;
	while (bytes > 0) {
		struct dl_tcp_rxb *b = c->rx_head;
		uint32_t avail = b->len - c->rx_head_off;

		if (bytes < avail) {
			c->rx_head_off = (uint16_t)(c->rx_head_off + bytes);
			break;
		}
		bytes -= avail;
		c->rx_head = b->next;
		if (c->rx_head == NULL)
			c->rx_tail = NULL;
		c->rx_head_off = 0;
		rxb_free(t, c, b);
		dl_tcp_app_bufs(t, c, -1);
	}
}

/* Deliver in-order data from rxb b on (skipping `skip` bytes of it). */
void dl_tcp_deliver_from(struct dl_tcp *t, struct dl_tcb *c, struct dl_tcp_rxb *b, uint32_t skip)
{
	const struct dl_stack_upcalls *up = t->s->up;
	struct dl_rx_ref refs[DL_TCP_REFS];

	while (b != NULL) {
		unsigned n = 0;
		uint32_t bytes = 0;

		for (; b != NULL && n < DL_TCP_REFS; b = b->next) {
			refs[n].data = b->data + skip;
			refs[n].len = b->len - skip;
			refs[n].region = b->region;
			bytes += refs[n].len;
			n++;
			skip = 0;
		}
		c->rx_unret += bytes;
		dl_tcp_app_unret(t, c, bytes);
		assert(c->rx_unret <= c->rx_held);
		if (up != NULL && up->new_data != NULL) {
			c->busy++;
			t->upcall_depth++;
			up->new_data(t->s->up_arg, c->app, c->id, refs, n);
			c->busy--;
			t->upcall_depth--;
		}
		/* b (saved before the upcall) holds undelivered bytes, so a
		 * recv_done inside the upcall cannot have freed it. */
		if (c->flags & (TF_APP_CLOSED | TF_CLEANED) || c->state == DL_TCP_CLOSED)
			return;
	}
}

void dl_tcp_deliver(struct dl_tcp *t, struct dl_tcb *c)
{
	struct dl_tcp_rxb *b = c->rx_head;
	uint32_t skip = c->rx_head_off + c->rx_unret;

	if (c->app == DL_APP_NONE || (c->flags & (TF_APP_CLOSED | TF_CLEANED)))
		return;
	/* Skip what was delivered already. */
	while (b != NULL && skip >= b->len) {
		skip -= b->len;
		b = b->next;
	}
	if (b != NULL)
		dl_tcp_deliver_from(t, c, b, skip);
	if ((c->flags & TF_FIN_UPCALL) && !(c->flags & (TF_APP_CLOSED | TF_CLEANED))) {
		c->flags &= ~TF_FIN_UPCALL;
		dl_tcp_up_remote_closed(t, c, DL_CLOSE_FIN);
	}
}

/* ------------------------------------------------------------------------ */
/* upcalls                                                                  */
/* ------------------------------------------------------------------------ */

void dl_tcp_up_new_conn(struct dl_tcp *t, struct dl_tcb *c)
{
	const struct dl_stack_upcalls *up = t->s->up;

	c->flags |= TF_EXPOSED;
	if (up == NULL || up->new_conn == NULL)
		return;
	c->busy++;
	t->upcall_depth++;
	up->new_conn(t->s->up_arg, c->id, c->lport, c->rip, c->rport);
	c->busy--;
	t->upcall_depth--;
}

void dl_tcp_up_connected(struct dl_tcp *t, struct dl_tcb *c)
{
	const struct dl_stack_upcalls *up = t->s->up;

	c->flags |= TF_EXPOSED;
	if (up == NULL || up->connected == NULL || (c->flags & TF_APP_CLOSED))
		return;
	c->busy++;
	t->upcall_depth++;
	up->connected(t->s->up_arg, c->app, c->id, c->cookie);
	c->busy--;
	t->upcall_depth--;
}

void dl_tcp_up_connect_failed(struct dl_tcp *t, struct dl_tcb *c, int err)
{
	const struct dl_stack_upcalls *up = t->s->up;

	if (up == NULL || up->connect_failed == NULL || (c->flags & TF_APP_CLOSED))
		return;
	c->busy++;
	t->upcall_depth++;
	up->connect_failed(t->s->up_arg, c->app, c->cookie, err);
	c->busy--;
	t->upcall_depth--;
}

void dl_tcp_up_data_acked(struct dl_tcp *t, struct dl_tcb *c, uint32_t bytes)
{
	const struct dl_stack_upcalls *up = t->s->up;

	if (up == NULL || up->data_acked == NULL || c->app == DL_APP_NONE ||
	    (c->flags & TF_CLEANED))
		return;
	c->busy++;
	t->upcall_depth++;
	up->data_acked(t->s->up_arg, c->app, c->id, bytes);
	c->busy--;
	t->upcall_depth--;
}

void dl_tcp_up_remote_closed(struct dl_tcp *t, struct dl_tcb *c, enum dl_close_reason why)
{
	const struct dl_stack_upcalls *up = t->s->up;

	if (c->app == DL_APP_NONE) {
		if (why == DL_CLOSE_FIN)
			c->flags |= TF_FIN_UPCALL; /* told after accept */
		return;
	}
	if (up == NULL || up->remote_closed == NULL || (c->flags & (TF_APP_CLOSED | TF_CLEANED)))
		return;
	c->busy++;
	t->upcall_depth++;
	up->remote_closed(t->s->up_arg, c->app, c->id, why);
	c->busy--;
	t->upcall_depth--;
}

static void up_cleanup(struct dl_tcp *t, struct dl_tcb *c)
{
	const struct dl_stack_upcalls *up = t->s->up;

	if ((c->flags & (TF_EXPOSED | TF_CLEANED)) != TF_EXPOSED)
		return;
	c->flags |= TF_CLEANED;
	if (up == NULL || up->cleanup == NULL)
		return;
	c->busy++;
	t->upcall_depth++;
	up->cleanup(t->s->up_arg, c->app, c->id);
	c->busy--;
	t->upcall_depth--;
}

/* ------------------------------------------------------------------------ */
/* deferred work                                                            */
/* ------------------------------------------------------------------------ */

void dl_tcp_defer(struct dl_tcp *t, struct dl_tcb *c, uint32_t what)
{
	c->flags |= what;
	if (c->flags & TF_DEFERRED)
		return;
	c->flags |= TF_DEFERRED;
	c->dnext = NULL;
	if (t->def_tail != NULL)
		t->def_tail->dnext = c;
	else
		t->def_head = c;
	t->def_tail = c;
}

void dl_tcp_close_now(struct dl_tcp *t, struct dl_tcb *c)
{
	if (c->state == DL_TCP_CLOSED)
		return;
	dl_tcp_hash_remove(t, c);
	dl_wheel_cancel(&t->wheel, &c->tn);
	c->t_rtx = c->t_delack = c->t_idle = 0;
	dl_tcp_sb_drop(t, c);
	dl_tcp_listener_leave(t, c);
	c->state = DL_TCP_CLOSED;
	dl_tcp_defer(t, c, TF_FREE);
}

static void reap(struct dl_tcp *t, struct dl_tcb *c)
{
	/* Once told of the cleanup, the application may reuse the memory of
	 * data never acknowledged (an abort, a reset): the frames that
	 * reference it go to the NIC first, and those parked waiting for ARP
	 * are dropped. */
	if (c->snd_max != c->snd_una) {
		dl_arp_drop_conn(t->s, c->rip, c->lport, c->rport);
		if (t->s->txq_n != 0)
			dl_stack_tx_flush(t->s);
	}
	up_cleanup(t, c);
	dl_tcp_rx_free_all(t, c);
	sq_free_all(t, c);
	assert(c->busy == 0);
	tcb_release(t, c);
	t->cnt[TCP_CONN_FREED]++;
}

static void run_deferred(struct dl_tcp *t, struct dl_tcb *c)
{
	if (c->flags & TF_FREE) {
		reap(t, c);
		return;
	}
	if (c->flags & TF_RX_RELEASE) {
		c->flags &= ~TF_RX_RELEASE;
		dl_tcp_rx_free_all(t, c);
	}
	if (c->flags & TF_OUTPUT) {
		c->flags &= ~TF_OUTPUT;
		dl_tcp_output(t, c);
	}
	if (c->flags & TF_DETACH) {
		/* Closed by the application and now in TIME_WAIT (its last ACK
		 * sent just above): the id dies here, a compact entry keeps
		 * the 4-tuple for 2*MSL and the TCB goes. */
		c->flags &= ~TF_DETACH;
		up_cleanup(t, c);
		dl_tcp_rx_free_all(t, c);
		sq_free_all(t, c);
		if (c->state == DL_TCP_TIME_WAIT)
			dl_tcp_tw_enter(t, c);
	}
}

void dl_tcp_flush(struct dl_stack *s)
{
	struct dl_tcp *t = s->tcp;
	struct dl_tcb *c;

	/* Never from inside an upcall (a TCB being processed must not be
	 * released under its caller): the next flush does it. */
	if (t == NULL || t->def_head == NULL || t->flushing || t->upcall_depth > 0)
		return;
	t->flushing = true;
	while ((c = t->def_head) != NULL) {
		t->def_head = c->dnext;
		if (t->def_head == NULL)
			t->def_tail = NULL;
		c->flags &= ~TF_DEFERRED;
		run_deferred(t, c);
	}
	t->flushing = false;
}

void dl_tcp_poll(struct dl_stack *s)
{
	dl_wheel_advance(&s->tcp->wheel, s->now);
	if (s->tcp->tw_head != s->tcp->tw_tail)
		dl_tcp_tw_poll(s->tcp);
}

uint64_t dl_tcp_next_deadline(const struct dl_stack *s)
{
	const struct dl_tcp *t = s->tcp;
	uint64_t d, w;

	if (t->def_head != NULL)
		return s->now;
	d = dl_wheel_next(&t->wheel);
	if (t->tw_head != t->tw_tail && (w = dl_tcp_tw_next(t)) < d)
		d = w;
	return d;
}

void dl_tcp_destroy(struct dl_stack *s)
{
	struct dl_tcp *t = s->tcp;

	for (uint32_t i = 0; i < t->next_fresh; i++) {
		struct dl_tcb *c = tcb_at(t, i);

		if (c->state == DL_TCP_CLOSED)
			continue;
		if (c->state == DL_TCP_SYN_SENT)
			dl_tcp_up_connect_failed(t, c, ECONNABORTED);
		else if (c->state != DL_TCP_TIME_WAIT)
			dl_tcp_send_rst_conn(t, c);
		t->cnt[TCP_CONN_ABORT]++;
		dl_tcp_close_now(t, c);
	}
	dl_tcp_flush(s);
	assert(t->nconns == 0);
	assert(dl_wheel_count(&t->wheel) == 0);
	assert(t->chunks_used == 0);
	assert(t->sb_used == 0);
	dl_tcp_tw_destroy(t);
	dl_tcp_sb_pool_free(t);
	for (uint32_t i = 0; i < t->nslabs; i++)
		free(t->slabs[i]);
	for (uint32_t i = 0; i < t->chunk_nslabs; i++)
		free(t->chunk_slabs[i]);
	free(t->chunk_slabs);
	free(t->slabs);
	free(t->htab);
	free(t->lst);
	dl_stats_unregister(&t->blk);
	free(t);
	s->tcp = NULL;
}

void dl_stack_tcp_mem(const struct dl_stack *s, struct dl_stack_tcp_mem *m)
{
	const struct dl_tcp *t = s->tcp;

	memset(m, 0, sizeof(*m));
	m->conns = t->nconns;
	m->tcb_bytes = sizeof(struct dl_tcb);
	m->slab_bytes = (size_t)t->slabs_used * (sizeof(struct dl_tcb) << DL_TCP_SLAB_SHIFT);
	m->table_bytes = (size_t)(t->hmask + 1) * sizeof(*t->htab) + t->nslabs * sizeof(*t->slabs);
	m->chunk_bytes = (size_t)t->chunks_total * sizeof(struct dl_tcp_chunk) +
			 t->chunk_slab_cap * sizeof(void *);
	m->chunks_used = t->chunks_used;
	m->timers = dl_wheel_count(&t->wheel);
	m->fixed_bytes = sizeof(*t) + DL_TCP_MAX_LISTENERS * sizeof(*t->lst);
	m->time_wait = t->tw_live;
	m->tw_bytes = t->tw_nchunks * sizeof(*t->tw_chunks);
	for (uint32_t k = 0; k < t->tw_nchunks; k++)
		if (t->tw_chunks[k] != NULL)
			m->tw_bytes += DL_TCP_TW_CHUNK * sizeof(struct dl_tcp_tw);
	m->sb_used = t->sb_used;
	m->sb_bytes = (size_t)t->sb_total * sizeof(struct dl_tcp_sb) +
		      t->sb_slab_cap * sizeof(void *);
	m->total_bytes = m->slab_bytes + m->table_bytes + m->chunk_bytes + m->fixed_bytes +
			 m->tw_bytes + m->sb_bytes;
}

/* ------------------------------------------------------------------------ */
/* commands                                                                 */
/* ------------------------------------------------------------------------ */

static int cmd_err(struct dl_tcp *t, enum dl_tcp_cnt cnt, int err)
{
	t->cnt[cnt]++;
	return err;
}

/*
 * The connection `id` names for a command of application core `app`:
 * NULL with *err = -ENOENT (unknown, released or given up) or -EPERM
 * (another core's). `unaccepted_ok`: a connection nobody accepted yet may
 * be commanded by any core (accept, or refusing it with close/abort).
 */
static struct dl_tcb *cmd_tcb(struct dl_tcp *t, uint16_t app, uint32_t id, bool unaccepted_ok,
			      int *err)
{
	struct dl_tcb *c = tcb_by_id(t, id);

	if (c == NULL) {
		*err = cmd_err(t, TCP_CMD_ENOENT, -ENOENT);
		return NULL;
	}
	if (c->app != app && !(unaccepted_ok && c->app == DL_APP_NONE)) {
		*err = cmd_err(t, TCP_CMD_EPERM, -EPERM);
		return NULL;
	}
	return c;
}

int dl_stack_listen(struct dl_stack *s, uint16_t port, uint32_t backlog)
{
	struct dl_tcp *t = s->tcp;
	struct dl_tcp_listener *l = NULL;

	if (port == 0)
		return cmd_err(t, TCP_CMD_EINVAL, -EINVAL);
	if (dl_tcp_listener_find(t, port) != NULL)
		return -EADDRINUSE;
	for (uint16_t i = 0; i < t->nlst && l == NULL; i++)
		if (t->lst[i].port == 0)
			l = &t->lst[i];
	if (l == NULL) {
		if (t->nlst == DL_TCP_MAX_LISTENERS)
			return cmd_err(t, TCP_CMD_EINVAL, -ENOSPC);
		l = &t->lst[t->nlst++];
	}
	memset(l, 0, sizeof(*l));
	l->port = port;
	l->accept_max = backlog == 0 ? t->p.accept_backlog : min_u32(backlog, t->p.accept_backlog);
	return 0;
}

int dl_stack_unlisten(struct dl_stack *s, uint16_t port)
{
	struct dl_tcp *t = s->tcp;
	struct dl_tcp_listener *l = port != 0 ? dl_tcp_listener_find(t, port) : NULL;
	uint16_t li;

	if (l == NULL)
		return cmd_err(t, TCP_CMD_ENOENT, -ENOENT);
	li = (uint16_t)(l - t->lst + 1);
	/* Half-open children die (RST); offered connections stay offered. */
	for (uint32_t i = 0; i < t->next_fresh && (l->n_syn || l->n_acc); i++) {
		struct dl_tcb *c = tcb_at(t, i);
		if (!(c->flags & TF_LISTENER) || c->lst != li)
			continue;
		if (c->state == DL_TCP_SYN_RCVD) {
			dl_tcp_send_rst_conn(t, c);
			dl_tcp_close_now(t, c);
		} else {
			dl_tcp_listener_leave(t, c);
		}
	}
	l->port = 0;
	return 0;
}

int dl_stack_accept(struct dl_stack *s, uint16_t app, uint32_t id)
{
	struct dl_tcp *t = s->tcp;
	struct dl_tcb *c;

	if (app == DL_APP_NONE)
		return cmd_err(t, TCP_CMD_EINVAL, -EINVAL);
	c = tcb_by_id(t, id);
	if (c == NULL || (c->flags & TF_ACTIVE))
		return cmd_err(t, TCP_CMD_ENOENT, -ENOENT);
	if (c->app != DL_APP_NONE)
		return cmd_err(t, TCP_CMD_EINVAL, -EALREADY);
	if (c->state == DL_TCP_CLOSED) /* reset before it was accepted */
		return cmd_err(t, TCP_CMD_ENOENT, -ENOENT);
	c->app = app;
	dl_tcp_app_bufs(t, c, (int)(c->rx_nbufs - c->ooo_segs));
	dl_tcp_listener_leave(t, c);
	dl_tcp_deliver(t, c);
	return 0;
}

/* An ephemeral port whose replies the NIC steers to this net core and
 * whose 4-tuple is free, or held by a TIME_WAIT entry that may be reused
 * (RFC 6191; *tw_snd_nxt then receives its send sequence, and *reused is
 * set) (RFC 6056 style: a per-destination offset plus a moving counter).
 * 0 when none. */
static uint16_t pick_port(struct dl_tcp *t, uint32_t dst, uint16_t dport, uint32_t *tw_snd_nxt,
			  bool *reused)
{
	struct dl_stack *s = t->s;
	uint32_t range = (uint32_t)t->p.port_max - t->p.port_min + 1;
	uint8_t m[6];
	uint32_t off;

	dl_put32(m, dst);
	dl_put16(m + 4, dport);
	off = (uint32_t)(dl_siphash24(t->p.isn_key, m, sizeof(m)) >> 40) + t->port_next;
	off %= range;
	for (uint32_t i = 0; i < range; i++) {
		uint16_t port = (uint16_t)(t->p.port_min + off);
		if (++off == range)
			off = 0;
		struct dl_tcp_tw *tw;
		if (dl_stack_flow_owner(s, dst, s->cfg.ip, dport, port) != s->net_index)
			continue;
		if (dl_tcp_lookup(t, dst, port, dport, &tw) != NULL)
			continue;
		if (tw != NULL) {
			if (!dl_tcp_tw_reusable(t, tw))
				continue;
			*tw_snd_nxt = tw->snd_nxt;
			*reused = true;
			t->cnt[TCP_TW_REUSED_ACTIVE]++;
			dl_tcp_tw_remove(t, tw);
		}
		t->port_next = (uint16_t)(t->port_next + i + 1);
		return port;
	}
	return 0;
}

int dl_stack_connect(struct dl_stack *s, uint16_t app, uint64_t cookie, uint32_t dst_ip,
		     uint16_t dst_port, uint32_t *id_out)
{
	struct dl_tcp *t = s->tcp;
	struct dl_tcb *c;
	uint32_t tw_nxt = 0;
	bool reused = false;
	uint16_t port;

	if (app == DL_APP_NONE || dst_port == 0 || dst_ip == 0 || dst_ip == s->cfg.ip ||
	    (dst_ip >> 28) == 0xe || (dst_ip >> 24) == 127 || dl_stack_is_bcast(s, dst_ip))
		return cmd_err(t, TCP_CMD_EINVAL, -EINVAL);
	if (!dl_stack_on_link(s, dst_ip) && s->cfg.gw == 0)
		return cmd_err(t, TCP_CMD_EINVAL, -ENETUNREACH);
	c = dl_tcp_tcb_new(t); /* before the port: a reused TIME_WAIT entry is gone */
	if (c == NULL)
		return cmd_err(t, TCP_CONNECT_NO_CONN, -ENOBUFS);
	port = pick_port(t, dst_ip, dst_port, &tw_nxt, &reused);
	if (port == 0) {
		tcb_release(t, c);
		return cmd_err(t, TCP_CONNECT_NO_PORT, -EADDRNOTAVAIL);
	}
	c->rip = dst_ip;
	c->lport = port;
	c->rport = dst_port;
	c->app = app;
	c->cookie = cookie;
	c->flags = TF_ACTIVE;
	c->state = DL_TCP_SYN_SENT;
	c->iss = dl_tcp_isn(t, dst_ip, port, dst_port, &c->ts_off);
	/* A reused TIME_WAIT tuple: start past anything the old connection
	 * sent (Linux: its snd_nxt + 64 KiB + 2). */
	if (reused && seq_lt(c->iss, tw_nxt + 65537u))
		c->iss = tw_nxt + 65537u;
	c->snd_una = c->snd_nxt = c->snd_max = c->iss;
	c->sq_seq = c->iss + 1;
	c->recover = c->iss;
	c->rcv_ws = t->p.wscale;
	c->mss = 536;
	c->rto = t->p.rto_init_us;
	dl_tcp_hash_insert(t, c);
	t->cnt[TCP_CONN_ACTIVE]++;
	dl_tcp_want_output(t, c);
	if (id_out != NULL)
		*id_out = c->id;
	return 0;
}

/* dl_stack_send of one fragment (the common case), without the loops. */
static int send_one(struct dl_tcp *t, struct dl_tcb *c, const struct dl_tx_frag *f)
{
	struct dl_tcp_chunk *k = c->sq_tail;

	if (f->len == 0 || f->data == NULL)
		return cmd_err(t, TCP_CMD_EINVAL, -EINVAL);
	if (f->len > t->p.snd_queue_bytes - c->sq_bytes)
		return cmd_err(t, TCP_SEND_ENOBUFS, -ENOBUFS);
	if (k != NULL && sq_can_merge(&k->f[k->n - 1], f)) {
		k->f[k->n - 1].len += f->len;
	} else {
		if (c->sq_nfrags >= t->p.snd_queue_frags)
			return cmd_err(t, TCP_SEND_ENOBUFS, -ENOBUFS);
		if (k == NULL || k->n == DL_TCP_CHUNK_FRAGS) {
			struct dl_tcp_chunk *nk;
			if (!chunk_reserve(t, 1))
				return cmd_err(t, TCP_SEND_POOL_EMPTY, -ENOBUFS);
			nk = chunk_take(t);
			if (k == NULL) {
				c->sq_head = (struct dl_tcp_sqpos){nk, 0, 0};
				c->sq_cur = c->sq_head;
			} else {
				k->next = nk;
			}
			c->sq_tail = k = nk;
		}
		k->f[k->n++] = (struct dl_tcp_frag){f->data, f->len, f->region};
		c->sq_nfrags++;
	}
	c->sq_bytes += f->len;
	dl_tcp_want_output(t, c);
	return 0;
}

int dl_stack_send(struct dl_stack *s, uint16_t app, uint32_t id, const struct dl_tx_frag *frags,
		  unsigned n)
{
	struct dl_tcp *t = s->tcp;
	struct dl_tcb *c;
	uint64_t bytes = 0;
	uint32_t newfrags = 0, room, chunks;
	int err;

	c = cmd_tcb(t, app, id, false, &err);
	if (c == NULL)
		return err;
	if (frags == NULL || n == 0)
		return cmd_err(t, TCP_CMD_EINVAL, -EINVAL);
	if ((c->flags & TF_SHUT_WR) || c->state == DL_TCP_CLOSED)
		return cmd_err(t, TCP_SEND_EPIPE, -EPIPE);
	if (n == 1)
		return send_one(t, c, frags);
	/* Count the slots needed exactly, with sq_append's merge rule. */
	const struct dl_tcp_frag *last =
	    c->sq_tail != NULL ? &c->sq_tail->f[c->sq_tail->n - 1] : NULL;
	struct dl_tcp_frag prev = last != NULL ? *last : (struct dl_tcp_frag){NULL, 0, 0};
	for (unsigned i = 0; i < n; i++) {
		if (frags[i].len == 0 || frags[i].data == NULL)
			return cmd_err(t, TCP_CMD_EINVAL, -EINVAL);
		bytes += frags[i].len;
		if (prev.data != NULL && sq_can_merge(&prev, &frags[i])) {
			prev.len += frags[i].len;
		} else {
			newfrags++;
			prev = (struct dl_tcp_frag){frags[i].data, frags[i].len, frags[i].region};
		}
	}
	if (bytes > (uint64_t)t->p.snd_queue_bytes - c->sq_bytes ||
	    c->sq_nfrags + newfrags > t->p.snd_queue_frags)
		return cmd_err(t, TCP_SEND_ENOBUFS, -ENOBUFS);
	room = c->sq_tail != NULL ? DL_TCP_CHUNK_FRAGS - c->sq_tail->n : 0;
	if (newfrags > room) {
		chunks = (newfrags - room + DL_TCP_CHUNK_FRAGS - 1) / DL_TCP_CHUNK_FRAGS;
		if (!chunk_reserve(t, chunks))
			return cmd_err(t, TCP_SEND_POOL_EMPTY, -ENOBUFS);
	}
	sq_append(t, c, frags, n);
	dl_tcp_want_output(t, c);
	return 0;
}

/* After data was returned: advertise the reopened window if it grew a
 * lot (the remaining window fell below half and at least doubles now),
 * otherwise let the next segment carry it (receiver SWS avoidance). */
static void maybe_window_update(struct dl_tcp *t, struct dl_tcb *c)
{
	uint32_t left, wnd;

	if (c->state != DL_TCP_ESTABLISHED && c->state != DL_TCP_FIN_WAIT_1 &&
	    c->state != DL_TCP_FIN_WAIT_2)
		return;
	left = seq_gt(c->rcv_edge, c->rcv_nxt) ? c->rcv_edge - c->rcv_nxt : 0;
	if (left > t->p.rcv_wnd / 2)
		return;
	wnd = dl_tcp_rcv_window(t, c);
	if (wnd >= 2 * left && wnd - left >= t->sws_thresh)
		dl_tcp_defer(t, c, TF_WND_UPDATE | TF_OUTPUT);
}

int dl_stack_recv_done(struct dl_stack *s, uint16_t app, uint32_t id, uint32_t bytes)
{
	struct dl_tcp *t = s->tcp;
	struct dl_tcb *c;
	int err;

	c = cmd_tcb(t, app, id, false, &err);
	if (c == NULL)
		return err;
	if (bytes > c->rx_unret)
		return cmd_err(t, TCP_CMD_RECV_EINVAL, -EINVAL);
	if (bytes == 0)
		return 0;
	rx_release(t, c, bytes);
	maybe_window_update(t, c);
	return 0;
}

/* Queue our FIN after the data (RFC 9293 CLOSE / shutdown(SHUT_WR)). */
static void shut_wr(struct dl_tcp *t, struct dl_tcb *c)
{
	if (c->flags & TF_SHUT_WR)
		return;
	c->flags |= TF_SHUT_WR;
	if (c->state == DL_TCP_ESTABLISHED)
		c->state = DL_TCP_FIN_WAIT_1;
	else if (c->state == DL_TCP_CLOSE_WAIT)
		c->state = DL_TCP_LAST_ACK;
	/* SYN_SENT / SYN_RCVD: the FIN goes out once established. */
	dl_tcp_want_output(t, c);
}

int dl_stack_shutdown(struct dl_stack *s, uint16_t app, uint32_t id, int how)
{
	struct dl_tcp *t = s->tcp;
	struct dl_tcb *c;
	int err;

	if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
		return cmd_err(t, TCP_CMD_EINVAL, -EINVAL);
	c = cmd_tcb(t, app, id, false, &err);
	if (c == NULL)
		return err;
	if (c->state == DL_TCP_CLOSED)
		return 0;
	if (how != SHUT_WR)
		c->flags |= TF_SHUT_RD;
	if (how != SHUT_RD)
		shut_wr(t, c);
	return 0;
}

int dl_stack_close(struct dl_stack *s, uint16_t app, uint32_t id)
{
	struct dl_tcp *t = s->tcp;
	struct dl_tcb *c;
	int err;

	c = cmd_tcb(t, app, id, true, &err);
	if (c == NULL)
		return err;
	c->flags |= TF_APP_CLOSED | TF_SHUT_RD;
	switch (c->state) {
	case DL_TCP_CLOSED:
		return 0; /* reset meanwhile: cleanup is on its way */
	case DL_TCP_SYN_SENT:
		dl_tcp_close_now(t, c);
		return 0;
	default:
		break;
	}
	if (c->rx_held > c->rx_unret) {
		/* Data the application never saw: reset (RFC 9293 3.6). */
		t->cnt[TCP_RST_CLOSE_UNREAD]++;
		dl_tcp_send_rst_conn(t, c);
		dl_tcp_close_now(t, c);
		return 0;
	}
	/* Delivered data counts as read: its buffers go at the next flush
	 * (not now: an upcall may still be reading them). */
	dl_tcp_app_unret(t, c, -(int64_t)c->rx_unret);
	c->rx_unret = 0;
	c->rx_held = 0;
	dl_tcp_defer(t, c, TF_RX_RELEASE);
	shut_wr(t, c);
	if (c->state == DL_TCP_TIME_WAIT)
		dl_tcp_defer(t, c, TF_DETACH);
	else if (c->state == DL_TCP_FIN_WAIT_2)
		dl_tcp_set_idle(t, c, t->s->now + t->p.fin_wait2_us);
	return 0;
}

static void abort_conn(struct dl_tcp *t, struct dl_tcb *c)
{
	c->flags |= TF_APP_CLOSED;
	if (c->state == DL_TCP_CLOSED)
		return;
	if (c->state != DL_TCP_SYN_SENT && c->state != DL_TCP_TIME_WAIT)
		dl_tcp_send_rst_conn(t, c);
	t->cnt[TCP_CONN_ABORT]++;
	dl_tcp_close_now(t, c);
}

int dl_stack_abort(struct dl_stack *s, uint16_t app, uint32_t id)
{
	struct dl_tcp *t = s->tcp;
	struct dl_tcb *c;
	int err;

	c = cmd_tcb(t, app, id, true, &err);
	if (c == NULL)
		return err;
	abort_conn(t, c);
	return 0;
}

void dl_stack_abort_app(struct dl_stack *s, uint16_t app)
{
	struct dl_tcp *t = s->tcp;

	for (uint32_t i = 0; i < t->next_fresh; i++) {
		struct dl_tcb *c = tcb_at(t, i);
		if (slot_in_use(c) && c->app == app && !(c->flags & (TF_APP_CLOSED | TF_CLEANED)))
			abort_conn(t, c);
	}
}

void dl_stack_abort_app_all(struct dl_stack *s, uint16_t app)
{
	struct dl_tcp *t = s->tcp;

	for (uint32_t i = 0; i < t->next_fresh; i++) {
		struct dl_tcb *c = tcb_at(t, i);
		if (slot_in_use(c) && c->app == app && !(c->flags & TF_CLEANED))
			abort_conn(t, c);
	}
}
