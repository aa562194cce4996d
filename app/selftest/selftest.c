/*
 * selftest.c - dlibos-selftest: the bring-up checks of a TILE-Gx board,
 * for whoever first has the hardware, to know in minutes what works. It
 * runs on the MDE model too (CI: test/tilegx/meson.build, selftest_model).
 *
 *     dlibos-selftest -l 0-35 -a loop0 [-- [--msgs N] [--frames N]]
 *
 * One line per check, [PASS], [FAIL] or [SKIP] with what was seen; the
 * exit status is 1 when any check failed. The checks, in order:
 *
 *   platform     the tiles of -l, their mesh coordinates, the UDN hardwall
 *                (the platform's tmc_udn_init/tmc_udn_activate)
 *   mpipe open   the link of -a opened and up (bring-up in the reference's
 *                order: drivers/tilegx/nic.c)
 *   mpipe loop   frames of 16 flows sent on a loop link come back
 *                byte-identical to the software's frame: IPv4 checksum in
 *                software, TCP checksum by the eDMA (csum_start/csum_dest)
 *                verified by the classifier (DL_RX_L4_CSUM_GOOD), payloads
 *                referenced from registered huge-page TX memory (no copy),
 *                every flow on one notif ring (flow affinity)
 *   udn credit   the FIFO-credit register (SPR_UDN_SP_FIFO_CNT), probed:
 *                its idle value, then 1-word packets to a tile that does not
 *                read, sent only while the register says they fit; the
 *                transport assumes it counts the switch FIFO's free words
 *                (noc/udn/udn.c credit_read()): the line printed is what
 *                to read when it does not
 *   udn storm    every tile of -l sends to every other through the NoC
 *                endpoint over the UDN transport, message sizes 2..126
 *                words: every message once, in order per pair
 *   udn stalls   send stalls: counted by the MDE model (must be 0); on
 *                hardware a stall is not counted (SKIP)
 *
 * The mPIPE loop checks need a loop link (loop0); with another link they
 * are skipped (frames would leave on the wire).
 */
#include <arch/spr_def.h>
#include <tmc/cpus.h>
#include <tmc/udn.h>

#include "dl_hal.h"
#include "dl_log.h"
#include "dl_msg.h"
#include "dl_noc.h"
#include "dl_offload.h"
#include "dl_platform.h"
#include "dl_stats.h"

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * The MDE model's stall counter, when this program runs on the model (the
 * real MDE has no such function: the weak reference is then NULL). Same
 * layout as mde_model.h's struct mde_model_udn_stats.
 */
struct model_udn_stats {
	uint64_t packets_sent, words_sent, send_stalls, recv_stalls, max_stall_us;
};
extern void mde_model_udn_stats(int cpu, struct model_udn_stats *st) __attribute__((weak));

static unsigned npass, nfail, nskip;

static void report(int verdict, const char *check, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* verdict: 1 pass, 0 fail, -1 skip */
static void report(int verdict, const char *check, const char *fmt, ...)
{
	va_list ap;

	printf("[%s] %-11s ", verdict > 0 ? "PASS" : verdict == 0 ? "FAIL" : "SKIP", check);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (verdict > 0)
		npass++;
	else if (verdict == 0)
		nfail++;
	else
		nskip++;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void sleep_us(unsigned us)
{
	nanosleep(&(struct timespec){us / 1000000u, (long)(us % 1000000u) * 1000}, NULL);
}

/* ---- platform ---------------------------------------------------------- */

static bool udn_ok;

static void check_platform(void)
{
	unsigned n = dl_platform_core_count(), w = tmc_cpus_grid_width(),
		 h = tmc_cpus_grid_height();
	struct dl_core_info first, last;

	dl_platform_core_info(0, &first);
	dl_platform_core_info(n - 1, &last);
	/* Activated by the platform already; again here to know (it says no
	 * without a hardwall, where a UDN access would be fatal). */
	udn_ok = tmc_udn_activate() == 0;
	report(udn_ok && n >= 2 ? 1 : 0, "platform",
	       "%u tiles on a %ux%u mesh, core 0 on tile %d (%d,%d), core %u on tile %d (%d,%d); "
	       "UDN hardwall %s%s",
	       n, w, h, first.cpu, first.x, first.y, n - 1, last.cpu, last.x, last.y,
	       udn_ok ? "made and activated" : "NOT usable",
	       n >= 2 ? "" : " (the UDN checks need at least 2 tiles: -l 0-1)");
}

/* ---- mPIPE -------------------------------------------------------------- */

#define LOOP_FLOWS 16
#define MAX_FRAMES 1024

struct frame {
	uint8_t bytes[1600];
	size_t len;
	bool got;
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Ethernet + IPv4 + TCP headers for plen payload bytes (checksums zero,
 * as the stack hands them over): flow f, frame k in the ID field. */
static void headers(uint8_t *h, const uint8_t mac[6], unsigned f, unsigned k, size_t plen)
{
	uint8_t *ip = h + 14, *tcp = ip + 20;

	memset(h, 0, 54);
	memcpy(h, mac, 6);
	memcpy(h + 6, mac, 6);
	put16(h + 12, 0x0800);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(40 + plen));
	put16(ip + 4, (uint16_t)k);
	ip[8] = 64;
	ip[9] = 6;
	memcpy(ip + 12, "\x0a\x09\x00\x01", 4);
	memcpy(ip + 16, "\x0a\x09\x00\x02", 4);
	put16(tcp, (uint16_t)(40000 + f));
	put16(tcp + 2, 7);
	tcp[4] = (uint8_t)k;
	tcp[12] = 5 << 4;
	tcp[13] = 0x18;
	put16(tcp + 14, 65535);
}

struct emit {
	struct frame *fr;
};

static void keep_frame(void *arg, const uint8_t *f, size_t n)
{
	struct emit *e = arg;

	memcpy(e->fr->bytes, f, n < sizeof(e->fr->bytes) ? n : sizeof(e->fr->bytes));
	e->fr->len = n;
}

static void check_mpipe(unsigned nframes)
{
	static struct frame want[MAX_FRAMES];
	struct dl_nic_params p = {.port_id = 0,
				  .rx_desc = 512,
				  .tx_desc = 512,
				  .rx_bufs = 1024,
				  .hdr_bufs = 1024,
				  .numa_node = -1};
	unsigned n = dl_platform_core_count();
	struct dl_nic *nic;
	struct dl_link link = {0};
	struct dl_region *txr = NULL;
	int queue_of[LOOP_FLOWS];
	unsigned got = 0, bad_bytes = 0, bad_csum = 0, moved = 0, queues_used = 0;
	bool used[16] = {false};
	uint64_t t0;

	p.nb_queues = (uint16_t)(n < 4 ? n : 4);
	if (dl_platform_port_count() == 0) {
		report(-1, "mpipe open", "no link named (-a loop0)");
		report(-1, "mpipe loop", "no link");
		return;
	}
	nic = dl_platform_nic_open(&p);
	if (nic == NULL) {
		report(0, "mpipe open", "the port did not open (the reason is printed above)");
		report(-1, "mpipe loop", "no port");
		return;
	}
	for (int i = 0; i < 200 && !link.up; i++) {
		nic->ops->link_get(nic, &link);
		if (!link.up)
			sleep_us(10000);
	}
	report(link.up ? 1 : 0, "mpipe open",
	       "%s: %u queue(s), link %s %u Mbps, mac %02x:%02x:%02x:%02x:%02x:%02x", nic->name,
	       nic->nb_queues, link.up ? "up" : "DOWN", link.speed_mbps, nic->mac[0], nic->mac[1],
	       nic->mac[2], nic->mac[3], nic->mac[4], nic->mac[5]);
	if (strstr(nic->name, "loop") == NULL) {
		report(-1, "mpipe loop", "%s is not a loop link (-a loop0)", nic->name);
		dl_nic_close(nic);
		return;
	}
	/* TX memory as the engine makes it: the port's choice of backing. */
	txr = nic->ops->tx_region_create != NULL
		  ? nic->ops->tx_region_create(nic, "selftest-tx", 2u << 20, DL_REGION_DMA, -1)
		  : dl_region_create("selftest-tx", 2u << 20, DL_REGION_DMA);
	if (txr == NULL || nic->ops->mem_register == NULL ||
	    nic->ops->mem_register(nic, txr) != 0) {
		report(0, "mpipe loop",
		       "TX memory could not be registered: payloads would be copied");
		dl_region_destroy(txr);
		dl_nic_close(nic);
		return;
	}
	memset(queue_of, -1, sizeof(queue_of));
	for (unsigned k = 0; k < nframes; k++) {
		struct dl_tx_pkt pk = {0};
		uint8_t *hd, hcopy[128], scratch[2048];
		uint16_t room;
		size_t plen = 60 + (k * 97) % 1400;
		uint8_t *pl = txr->base + (k * 1500) % (txr->len - 1500);
		struct emit e = {&want[k]};

		for (size_t i = 0; i < plen; i++)
			pl[i] = (uint8_t)(i * 31 + k);
		pk.hdr = dl_nic_hdr_alloc(nic, 0, &hd, &room);
		if (pk.hdr == NULL) {
			report(0, "mpipe loop", "no header buffer for frame %u", k);
			goto out;
		}
		pk.hdr_data = hd;
		headers(hd, nic->mac, k % LOOP_FLOWS, k, plen);
		pk.hdr_len = 54;
		pk.l2_len = 14;
		pk.l3_len = 20;
		pk.l4_len = 20;
		pk.ol_flags = DL_TX_IP_CKSUM | DL_TX_TCP_CKSUM;
		pk.nfrags = 1;
		pk.frag[0] = (struct dl_tx_frag){pl, (uint32_t)plen, txr->id};
		memcpy(hcopy, hd, pk.hdr_len);
		dl_tx_sw_segment(&pk, hcopy, scratch, sizeof(scratch), keep_frame, &e);
		t0 = now_us();
		while (dl_nic_tx_burst(nic, 0, &pk, 1) != 1 && now_us() - t0 < 1000000)
			sched_yield();
	}
	t0 = now_us();
	while (got < nframes && now_us() - t0 < 5000000) {
		struct dl_rx_pkt rx[32];

		for (uint16_t q = 0; q < nic->nb_queues; q++) {
			unsigned m = dl_nic_rx_burst(nic, q, rx, 32);

			for (unsigned i = 0; i < m; i++) {
				const uint8_t *d = rx[i].data;
				unsigned k = (unsigned)(d[18] << 8 | d[19]), f;

				f = (unsigned)(d[34] << 8 | d[35]) - 40000;
				if (k >= nframes || f >= LOOP_FLOWS || want[k].got) {
					bad_bytes++;
				} else {
					want[k].got = true;
					if (rx[i].len != want[k].len ||
					    memcmp(d, want[k].bytes, want[k].len) != 0)
						bad_bytes++;
					if ((rx[i].flags & DL_RX_L4_CSUM_GOOD) == 0 ||
					    (rx[i].flags & DL_RX_L3_CSUM_GOOD) == 0)
						bad_csum++;
					if (queue_of[f] < 0)
						queue_of[f] = q;
					else if (queue_of[f] != q)
						moved++;
					if (q < 16 && !used[q]) {
						used[q] = true;
						queues_used++;
					}
				}
				got++;
				dl_nic_buf_free(nic, rx[i].buf);
			}
		}
		if (got < nframes)
			sched_yield();
	}
	{
		uint64_t refs = dl_stats_get("mpipe", "tx_payload_refs"),
			 copies = dl_stats_get("mpipe", "tx_unregistered_fragment_copies") +
				  dl_stats_get("mpipe", "tx_private_fragment_copies"),
			 hw = dl_stats_get("mpipe", "tx_hw_l4_cksum");
		bool ok = got == nframes && bad_bytes == 0 && bad_csum == 0 && moved == 0 &&
			  refs >= nframes && copies == 0 && hw >= nframes;

		report(ok ? 1 : 0, "mpipe loop",
		       "%u/%u frames back (%u wrong bytes, %u without good checksums), TCP "
		       "checksums by the eDMA %llu, payloads by reference %llu, copied %llu; %u "
		       "flows on %u of %u rings, %u frames off their flow's ring",
		       got, nframes, bad_bytes, bad_csum, (unsigned long long)hw,
		       (unsigned long long)refs, (unsigned long long)copies, LOOP_FLOWS,
		       queues_used, nic->nb_queues, moved);
	}
out:
	if (nic->ops->mem_unregister != NULL)
		nic->ops->mem_unregister(nic, txr);
	dl_region_destroy(txr);
	dl_nic_close(nic);
}

/* ---- UDN: the credit register ------------------------------------------- */

static volatile int probe_state; /* 1: receiver on its tile, 2: drain now, 3: drained */
static volatile unsigned probe_drained;

static int probe_receiver(void *arg)
{
	uint64_t t0;

	(void)arg;
	probe_state = 1;
	t0 = now_us();
	/* Read nothing until told (or 2 s: a sender stalled by a register
	 * that does not mean what we think is freed then). */
	while (probe_state == 1 && now_us() - t0 < 2000000)
		sched_yield();
	for (int quiet = 0; quiet < 1000;) {
		unsigned c = tmc_udn3_available_count();

		if (c == 0) {
			quiet++;
			sched_yield();
			continue;
		}
		quiet = 0;
		while (c-- > 0) {
			(void)tmc_udn3_receive();
			probe_drained++;
		}
	}
	probe_state = 3;
	return 0;
}

static void check_credit(void)
{
	unsigned idle, c, sent = 0, lowest, trace[8], ntrace = 0;
	int peer_cpu;
	struct dl_core_info ci;
	uint64_t t0;

	if (!udn_ok || dl_platform_core_count() < 2) {
		report(-1, "udn credit", "no UDN or fewer than 2 tiles");
		return;
	}
	dl_platform_core_info(1, &ci);
	peer_cpu = ci.cpu;
	probe_state = 0;
	probe_drained = 0;
	if (dl_platform_launch(1, probe_receiver, NULL) != 0) {
		report(0, "udn credit", "cannot start the receiver on tile %d", peer_cpu);
		return;
	}
	while (probe_state != 1)
		sched_yield();
	idle = lowest = (unsigned)__insn_mfspr(SPR_UDN_SP_FIFO_CNT);
	/* 1-word packets (2 FIFO words with the header) while at least two
	 * such packets fit: never a send the register says could stall. */
	for (c = idle; c >= 4 && sent < 2000; sent++) {
		tmc_udn_send_1(tmc_udn_header_from_cpu(peer_cpu), UDN3_DEMUX_TAG, sent);
		c = (unsigned)__insn_mfspr(SPR_UDN_SP_FIFO_CNT);
		if (c < lowest) {
			lowest = c;
			if (ntrace < 8)
				trace[ntrace++] = c;
		}
	}
	probe_state = 2;
	t0 = now_us();
	while (probe_state != 3 && now_us() - t0 < 5000000)
		sched_yield();
	dl_platform_wait(1);
	c = (unsigned)__insn_mfspr(SPR_UDN_SP_FIFO_CNT);
	{
		char tr[96] = "";
		size_t o = 0;

		for (unsigned i = 0; i < ntrace && o < sizeof(tr) - 8; i++)
			o += (size_t)snprintf(tr + o, sizeof(tr) - o, " %u", trace[i]);
		/* What the transport assumes: free words of the local FIFO, the
		 * capacity when idle, falling 2 per 1-word packet (header and
		 * word) once the far queue is full (the first packet held may
		 * have passed its header on), never below what the check allowed,
		 * back to the capacity once drained. */
		bool as_assumed = idle >= 4 && ntrace >= 2 && trace[0] < idle &&
				  trace[1] + 2 == trace[0] && lowest >= 2 && c == idle &&
				  probe_drained == sent;
		report(
		    as_assumed ? 1 : 0, "udn credit",
		    "idle %u; after %u 1-word packets to tile %d (not reading): lowest values%s; "
		    "drained %u words, then %u%s",
		    idle, sent, peer_cpu, tr, probe_drained, c,
		    as_assumed ? " (free words of the switch FIFO, as noc/udn assumes)"
			       : " (NOT the free words noc/udn assumes: fix credit_read())");
	}
}

/* ---- UDN: the all-to-all storm ------------------------------------------- */

struct storm_core {
	struct dl_noc_ep *ep;
	unsigned id, rr;
	uint32_t next_to[DL_MAX_CORES], expect_from[DL_MAX_CORES];
	uint64_t sent, received, owed, errors;
};

static struct {
	unsigned n;
	uint32_t per_pair;
	struct dl_noc_fabric *fab;
	struct storm_core core[DL_MAX_CORES];
	unsigned ready, done;
	int abort;
} storm;

static unsigned msg_words(uint32_t seq, unsigned src)
{
	return seq % 16 == 5 ? 126 : 2 + (seq + src) % 9;
}

static void storm_msg(void *arg, unsigned src, const struct dl_msg *m)
{
	struct storm_core *c = arg;

	if (src >= storm.n || m->conn != c->expect_from[src] ||
	    m->nwords != msg_words(m->conn, src))
		c->errors++;
	c->expect_from[src] = m->conn + 1;
	c->received++;
}

static int storm_core_run(void *arg)
{
	struct storm_core *c = arg;
	uint64_t w[DL_MSG_MAX_WORDS];
	struct dl_msg_ref refs[DL_MSG_MAX_REFS];

	for (unsigned i = 0; i < DL_MSG_MAX_REFS; i++)
		refs[i] = (struct dl_msg_ref){.off = i, .len = 1, .region = 0};
	dl_noc_poll(c->ep, 1, storm_msg, c); /* announce the tile */
	__atomic_fetch_add(&storm.ready, 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&storm.ready, __ATOMIC_ACQUIRE) < storm.n && !storm.abort)
		sched_yield();
	while (!storm.abort) {
		unsigned progress = dl_noc_poll(c->ep, 64, storm_msg, c);
		uint64_t pending;

		for (unsigned k = 0; k + 1 < storm.n && dl_noc_pending(c->ep, -1) < 64; k++) {
			unsigned dst = (c->id + 1 + c->rr) % storm.n;
			uint32_t seq = c->next_to[dst];

			c->rr = (c->rr + 1) % (storm.n - 1);
			if (seq >= storm.per_pair)
				continue;
			dl_msg_enc_new_data(w, c->id, seq, refs, msg_words(seq, c->id) - 1);
			if (dl_noc_send(c->ep, dst, w, msg_words(seq, c->id)) != 0) {
				c->errors++;
				storm.abort = 1; /* refused (broken port): the storm cannot end */
			}
			c->next_to[dst]++;
			c->sent++;
			progress++;
		}
		pending = dl_noc_flush(c->ep);
		if (c->sent == c->owed && c->received == c->owed && pending == 0)
			break;
		if (progress == 0)
			sched_yield();
	}
	__atomic_fetch_add(&storm.done, 1, __ATOMIC_RELEASE);
	return 0;
}

static void check_storm(uint32_t per_pair)
{
	struct model_udn_stats st0 = {0}, st1 = {0};
	unsigned n = dl_platform_core_count();
	uint64_t t0, t1, total = 0, errors = 0, missing = 0;
	bool ok;

	if (!udn_ok || n < 2) {
		report(-1, "udn storm", "no UDN or fewer than 2 tiles");
		report(-1, "udn stalls", "no storm");
		return;
	}
	memset(&storm, 0, sizeof(storm));
	storm.n = n;
	storm.per_pair = per_pair;
	storm.fab = dl_noc_fabric_create(n, 4096, NULL);
	for (unsigned i = 0; storm.fab != NULL && i < n; i++) {
		storm.core[i].id = i;
		storm.core[i].owed = (uint64_t)per_pair * (n - 1);
		storm.core[i].ep = dl_noc_ep_create(storm.fab, i, NULL);
		if (storm.core[i].ep == NULL) {
			report(0, "udn storm", "no endpoint for core %u: %s", i, strerror(errno));
			return;
		}
	}
	if (storm.fab == NULL) {
		report(0, "udn storm", "no fabric: %s", strerror(errno));
		return;
	}
	if (mde_model_udn_stats != NULL)
		mde_model_udn_stats(-1, &st0);
	t0 = now_us();
	for (unsigned i = 1; i < n; i++)
		if (dl_platform_launch(i, storm_core_run, &storm.core[i]) != 0) {
			storm.abort = 1;
			n = i;
			break;
		}
	/* Core 0 on this thread, with a watchdog of its own. */
	storm_core_run(&storm.core[0]);
	while (__atomic_load_n(&storm.done, __ATOMIC_ACQUIRE) < n && now_us() - t0 < 120000000 &&
	       !storm.abort)
		sleep_us(1000);
	if (__atomic_load_n(&storm.done, __ATOMIC_ACQUIRE) < n)
		storm.abort = 1;
	for (unsigned i = 1; i < n; i++)
		dl_platform_wait(i);
	t1 = now_us();
	if (mde_model_udn_stats != NULL)
		mde_model_udn_stats(-1, &st1);
	for (unsigned i = 0; i < storm.n; i++) {
		struct storm_core *c = &storm.core[i];

		total += c->received;
		errors += c->errors;
		missing += c->owed - c->received;
		for (unsigned s = 0; s < storm.n; s++)
			if (s != i && c->expect_from[s] != per_pair)
				errors++;
	}
	ok = errors == 0 && missing == 0 && n == storm.n;
	report(ok ? 1 : 0, "udn storm",
	       "%u tiles all-to-all, %u messages per pair (2..126 words): %llu received, %llu "
	       "missing, %llu out of order or wrong, in %.2f s (%.0f msgs/s); %llu UDN packets, "
	       "%llu credit waits, %llu messages in pieces",
	       storm.n, per_pair, (unsigned long long)total, (unsigned long long)missing,
	       (unsigned long long)errors, (double)(t1 - t0) / 1e6,
	       (double)total / ((double)(t1 - t0) / 1e6),
	       (unsigned long long)dl_stats_get("udn", "tx_packets"),
	       (unsigned long long)dl_stats_get("udn", "tx_credit_waits"),
	       (unsigned long long)dl_stats_get("udn", "tx_split_msgs"));
	if (mde_model_udn_stats != NULL)
		report(st1.send_stalls == st0.send_stalls ? 1 : 0, "udn stalls",
		       "%llu send stalls counted by the MDE model during the storm",
		       (unsigned long long)(st1.send_stalls - st0.send_stalls));
	else
		report(-1, "udn stalls",
		       "not counted on hardware (the model counts them); a stall there shows as "
		       "a slow storm");
	for (unsigned i = 0; i < storm.n; i++)
		dl_noc_ep_destroy(storm.core[i].ep);
	dl_noc_fabric_destroy(storm.fab);
}

/* ---- main ------------------------------------------------------------------ */

static void usage(const char *prg)
{
	fprintf(stderr,
		"usage: %s -l TILES -a loop0 [-- [--msgs N] [--frames N]]\n"
		"  --msgs N    messages per pair of tiles in the UDN storm (default 50)\n"
		"  --frames N  frames looped through mPIPE (default 256, at most %d)\n",
		prg, MAX_FRAMES);
}

int main(int argc, char **argv)
{
	int sep = argc;
	unsigned long msgs = 50, frames = 256;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			sep = i;
			break;
		}
	for (int i = sep + 1; i < argc; i++) {
		char *end;
		unsigned long *v = strcmp(argv[i], "--msgs") == 0     ? &msgs
				   : strcmp(argv[i], "--frames") == 0 ? &frames
								      : NULL;

		if (v == NULL || i + 1 >= argc) {
			usage(argv[0]);
			return 2;
		}
		*v = strtoul(argv[++i], &end, 10);
		if (*end != '\0' || *v == 0 || (v == &frames && *v > MAX_FRAMES)) {
			usage(argv[0]);
			return 2;
		}
	}
	if (dl_platform_init(sep, argv) != 0)
		return 2;
	printf("dlibos-selftest: TILE-Gx bring-up checks (%s)\n",
	       mde_model_udn_stats != NULL ? "on the MDE model" : "on hardware");
	check_platform();
	check_mpipe((unsigned)frames);
	check_credit();
	check_storm((uint32_t)msgs);
	printf("dlibos-selftest: %u passed, %u failed, %u skipped\n", npass, nfail, nskip);
	fflush(stdout);
	dl_platform_fini();
	return nfail == 0 ? 0 : 1;
}
