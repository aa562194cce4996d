/*
 * observe.c - what the DPDK platform adds for seeing inside a running
 * process:
 *
 *   telemetry  every command registered with dl_telemetry.h is registered
 *              with DPDK's telemetry library; a request builds the value
 *              tree (dl_tel_call()) and copies it into rte_tel_data, so
 *              dpdk-telemetry.py -f PREFIX answers /dlibos/... like
 *              /ethdev/stats;
 *   logging    the DLibOS log types ("dlibos", "dlibos.tcp", ...) are DPDK
 *              log types: --log-level=dlibos.tcp:debug (globs too) sets
 *              them, lines go through rte_log() to DPDK's log stream;
 *   pdump      rte_pdump_init(), so dpdk-dumpcap / dpdk-pdump (secondary
 *              processes) can capture where they can attach (hugepages,
 *              not --in-memory);
 *   capture    the sink of the built-in capture (dl_capture.h): pcapng
 *              through DPDK's pcapng library.
 *
 * DPDK 22.11 marks the pcapng library experimental.
 */
#define ALLOW_EXPERIMENTAL_API 1
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_pcapng.h>
#include <rte_pdump.h>
#include <rte_telemetry.h>
#include <rte_version.h>

#include "dl_build_config.h"
#include "dl_capture.h"
#include "dl_dpdk.h"
#include "dl_log.h"
#include "dl_platform.h"
#include "dl_telemetry.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

/* ---- telemetry ----------------------------------------------------------- */

static pthread_mutex_t tel_lock = PTHREAD_MUTEX_INITIALIZER;
static char tel_names[DL_TEL_MAX_CMDS][DL_TEL_NAME_MAX];
static unsigned tel_n;

static int copy_dict(const struct dl_tel *t, struct rte_tel_data *d);

static int copy_array(const struct dl_tel *t, struct rte_tel_data *d)
{
	enum rte_tel_value_type type = t->elem == DL_TEL_U64   ? RTE_TEL_U64_VAL
				       : t->elem == DL_TEL_INT ? RTE_TEL_INT_VAL
							       : RTE_TEL_STRING_VAL;
	int rc = rte_tel_data_start_array(d, type);

	for (const struct dl_tel_entry *e = dl_tel_first(t); e != NULL && rc == 0; e = e->next) {
		if (e->type == DL_TEL_U64)
			rc = rte_tel_data_add_array_u64(d, e->v.u);
		else if (e->type == DL_TEL_INT)
			rc = rte_tel_data_add_array_int(d, e->v.i);
		else
			rc = rte_tel_data_add_array_string(d, e->v.s);
	}
	return rc;
}

static int copy_dict(const struct dl_tel *t, struct rte_tel_data *d)
{
	int rc = rte_tel_data_start_dict(d);

	for (const struct dl_tel_entry *e = dl_tel_first(t); e != NULL && rc == 0; e = e->next) {
		struct rte_tel_data *c;

		switch (e->type) {
		case DL_TEL_U64:
			rc = rte_tel_data_add_dict_u64(d, e->name, e->v.u);
			break;
		case DL_TEL_INT:
			rc = rte_tel_data_add_dict_int(d, e->name, e->v.i);
			break;
		case DL_TEL_STR:
			rc = rte_tel_data_add_dict_string(d, e->name, e->v.s);
			break;
		case DL_TEL_DICT:
		case DL_TEL_ARRAY:
			if (e->v.c == NULL)
				break;
			c = rte_tel_data_alloc();
			if (c == NULL)
				return -ENOMEM;
			rc = e->type == DL_TEL_DICT ? copy_dict(e->v.c, c) : copy_array(e->v.c, c);
			if (rc == 0)
				rc = rte_tel_data_add_dict_container(d, e->name, c, 0);
			if (rc != 0)
				rte_tel_data_free(c);
			break;
		}
	}
	return rc;
}

/* Every /dlibos/... request: build the tree, copy it out. */
static int tel_cb(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct dl_tel *t = dl_tel_new(0);
	int rc;

	if (t == NULL)
		return -ENOMEM;
	dl_tel_call(cmd, params, t);
	rc = copy_dict(t, d);
	dl_tel_free(t);
	return rc;
}

/* dl_telemetry.h's backend hook: DPDK cannot unregister a command, so each
 * name is registered once and answers "not available" while no callback
 * is (dl_tel_call()). */
static void tel_add(const char *cmd, const char *help)
{
	pthread_mutex_lock(&tel_lock);
	for (unsigned i = 0; i < tel_n; i++) {
		if (strcmp(tel_names[i], cmd) == 0) {
			pthread_mutex_unlock(&tel_lock);
			return;
		}
	}
	if (tel_n < DL_TEL_MAX_CMDS && rte_telemetry_register_cmd(cmd, tel_cb, help) == 0)
		snprintf(tel_names[tel_n++], DL_TEL_NAME_MAX, "%s", cmd);
	else
		DL_WARN("telemetry: DPDK refused command %s", cmd);
	pthread_mutex_unlock(&tel_lock);
}

/* ---- logging ------------------------------------------------------------- */

static int log_ids[DL_LOGT_COUNT];

static uint32_t rte_level(enum dl_log_level l)
{
	static const uint32_t map[] = {RTE_LOG_ERR, RTE_LOG_WARNING, RTE_LOG_INFO, RTE_LOG_DEBUG};

	return map[l];
}

static int dl_level(int rte)
{
	return rte <= (int)RTE_LOG_ERR	    ? DL_LOG_ERR
	       : rte <= (int)RTE_LOG_NOTICE ? DL_LOG_WARN
	       : rte <= (int)RTE_LOG_INFO   ? DL_LOG_INFO
					    : DL_LOG_DEBUG;
}

static void log_write(enum dl_log_type t, enum dl_log_level l, const char *line)
{
	rte_log(rte_level(l), (uint32_t)log_ids[t], "dlibos: %s: %s\n", dl_log_level_name(l), line);
}

/* Our levels changed (-- --log-level): DPDK's filter follows. */
static void log_levels_changed(void)
{
	for (unsigned t = 0; t < DL_LOGT_COUNT; t++)
		if (log_ids[t] >= 0)
			rte_log_set_level((uint32_t)log_ids[t],
					  rte_level(dl_log_type_level((enum dl_log_type)t)));
}

static const struct dl_log_backend log_backend = {
    .write = log_write,
    .levels_changed = log_levels_changed,
};

static void log_init(void)
{
	/* DLibOS's levels, with what --log-level=dlibos...:LEVEL said on top. */
	for (unsigned t = 0; t < DL_LOGT_COUNT; t++) {
		int id = rte_log_register_type_and_pick_level(dl_log_type_name((enum dl_log_type)t),
							      RTE_LOG_INFO);
		log_ids[t] = id;
		if (id < 0)
			continue;
		int lvl = rte_log_get_level((uint32_t)id);
		if (lvl >= 0 && (uint32_t)lvl != RTE_LOG_INFO)
			dl_log_type_levels[t] = dl_level(lvl);
	}
	for (unsigned t = 0; t < DL_LOGT_COUNT; t++)
		if (log_ids[t] < 0)
			return; /* keep stderr: a type DPDK does not know */
	log_levels_changed();
	dl_log_set_backend(&log_backend);
}

/* ---- start and end --------------------------------------------------------- */

static bool pdump_up;

void dl_dpdk_observe_init(void)
{
	log_init();
	dl_tel_set_backend(tel_add);
	pdump_up = rte_pdump_init() == 0;
	if (!pdump_up)
		DL_DEBUG("pdump: not available (%s): dpdk-dumpcap cannot attach; use --capture",
			 rte_strerror(rte_errno));
}

void dl_dpdk_observe_fini(void)
{
	dl_tel_set_backend(NULL);
	dl_log_set_backend(NULL);
	if (pdump_up)
		rte_pdump_uninit();
	pdump_up = false;
}

/* ---- the capture sink: pcapng ------------------------------------------------ */

#define STAGE_ROOM  16384u /* data room of a staging mbuf (a frame is chained) */
#define WRITE_BATCH 32u
/* Room rte_pcapng_copy() adds after the data: padding, flags and queue
 * options, the trailing length (and some slack). */
#define PCAPNG_TRAILER 64u
/* DPDK 22.11's pcapng writes one segment per block (its block length is
 * the first segment's): a copy must fit one mbuf, whose data room is 16
 * bits. The longest snap length this writer keeps: */
#define PCAP_SNAP_MAX ((65535u - RTE_PKTMBUF_HEADROOM - PCAPNG_TRAILER) & ~3u)

struct pcap_sink {
	struct dl_capture_sink sink; /* first */
	rte_pcapng_t *pcapng;
	uint16_t port;
	uint32_t snap; /* longest copy (<= PCAP_SNAP_MAX) */
	struct rte_mempool *stage, *copies;
	struct rte_mbuf *batch[WRITE_BATCH];
	unsigned nbatch;
	uint64_t start_ns;
	uint64_t write_fail; /* batches the file refused */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Wall-clock nanoseconds: DPDK 22.11's pcapng converts TSC cycles from
 * the first conversion on and goes wrong for any stamp older than the
 * last second it converted (frames of several queues arrive out of
 * order), so the writer stores our own time in each block. */
static uint64_t sink_stamp(struct dl_capture_sink *s)
{
	(void)s;
	return now_ns();
}

static int sink_flush_batch(struct pcap_sink *p)
{
	ssize_t n;

	if (p->nbatch == 0)
		return 0;
	n = rte_pcapng_write_packets(p->pcapng, p->batch, (uint16_t)p->nbatch); /* frees them */
	p->nbatch = 0;
	if (n < 0) {
		p->write_fail++;
		return -EIO;
	}
	return 0;
}

/* A staging chain holding the copied bytes (rte_pcapng_copy() takes mbufs). */
static struct rte_mbuf *stage_chain(struct pcap_sink *p, const uint8_t *data, uint32_t len)
{
	struct rte_mbuf *head = NULL, *last = NULL;
	uint32_t off = 0;

	do {
		struct rte_mbuf *m = rte_pktmbuf_alloc(p->stage);
		uint32_t take = len - off < STAGE_ROOM ? len - off : STAGE_ROOM;
		char *dst;

		if (m == NULL)
			goto fail;
		dst = rte_pktmbuf_append(m, (uint16_t)take);
		if (dst == NULL) {
			rte_pktmbuf_free(m);
			goto fail;
		}
		memcpy(dst, data + off, take);
		off += take;
		if (head == NULL) {
			head = last = m;
		} else {
			last->next = m;
			last = m;
			head->nb_segs++;
			head->pkt_len += take;
		}
	} while (off < len);
	return head;
fail:
	rte_pktmbuf_free(head);
	return NULL;
}

static int sink_write(struct dl_capture_sink *s, const struct dl_capture_rec *r,
		      const uint8_t *data)
{
	struct pcap_sink *p = (struct pcap_sink *)s;
	uint32_t len = r->cap_len < p->snap ? r->cap_len : p->snap;
	struct rte_mbuf *md = stage_chain(p, data, len), *mc;
	uint32_t orig = r->orig_len, ts_hi = (uint32_t)(r->stamp >> 32), ts_lo = (uint32_t)r->stamp;
	uint8_t *epb;

	if (md == NULL)
		return -ENOMEM;
	mc = rte_pcapng_copy(p->port, r->queue, md, p->copies, len, rte_get_tsc_cycles(),
			     r->dir == DL_CAPTURE_RX ? RTE_PCAPNG_DIRECTION_IN
						     : RTE_PCAPNG_DIRECTION_OUT);
	rte_pktmbuf_free(md);
	if (mc == NULL)
		return -ENOMEM;
	if (mc->nb_segs != 1) { /* see PCAP_SNAP_MAX */
		rte_pktmbuf_free(mc);
		return -EMSGSIZE;
	}
	/* The Enhanced Packet Block (pcapng spec 4.3), in the file's (host)
	 * byte order: the staging chain held the snapped bytes only, so the
	 * original length (7th word) is the frame's on the wire; the
	 * timestamp (4th and 5th words, nanoseconds: DPDK's interface blocks
	 * say tsresol 9) is the one taken when the core copied the frame. */
	epb = rte_pktmbuf_mtod(mc, uint8_t *);
	memcpy(epb + 12, &ts_hi, 4);
	memcpy(epb + 16, &ts_lo, 4);
	memcpy(epb + 24, &orig, 4);
	p->batch[p->nbatch++] = mc;
	if (p->nbatch == WRITE_BATCH)
		return sink_flush_batch(p);
	return 0;
}

static void sink_flush(struct dl_capture_sink *s)
{
	sink_flush_batch((struct pcap_sink *)s);
}

static void sink_close(struct dl_capture_sink *s, uint64_t received, uint64_t dropped)
{
	struct pcap_sink *p = (struct pcap_sink *)s;

	sink_flush_batch(p);
	if (p->pcapng != NULL) {
		rte_pcapng_write_stats(p->pcapng, p->port, "dlibos capture", p->start_ns, now_ns(),
				       received, dropped);
		rte_pcapng_close(p->pcapng); /* closes the file */
	}
	rte_mempool_free(p->stage);
	rte_mempool_free(p->copies);
	free(p);
}

static const struct dl_capture_sink_ops pcap_ops = {
    .stamp = sink_stamp,
    .write = sink_write,
    .flush = sink_flush,
    .close = sink_close,
};

struct dl_capture_sink *dl_platform_capture_sink(const char *path, uint16_t port_id,
						 uint32_t snaplen, char *err, size_t errlen)
{
	static unsigned seq;
	struct pcap_sink *p = calloc(1, sizeof(*p));
	char name[RTE_MEMPOOL_NAMESIZE], os[160] = "Linux", app[96];
	struct utsname u;
	unsigned id = __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED);
	int fd;

	if (p == NULL) {
		dl_errf(err, errlen, "out of memory");
		return NULL;
	}
	p->sink.ops = &pcap_ops;
	p->port = port_id;
	p->snap = snaplen < PCAP_SNAP_MAX ? snaplen : PCAP_SNAP_MAX;
	p->sink.max_snaplen = p->snap;
	snprintf(name, sizeof(name), "dlcap_stage%u", id);
	p->stage = rte_pktmbuf_pool_create(name, 63, 0, 0, RTE_PKTMBUF_HEADROOM + STAGE_ROOM,
					   SOCKET_ID_ANY);
	snprintf(name, sizeof(name), "dlcap_copy%u", id);
	p->copies = rte_pktmbuf_pool_create(
	    name, 255, 0, 0,
	    (uint16_t)(RTE_PKTMBUF_HEADROOM + ((p->snap + 3) & ~3u) + PCAPNG_TRAILER),
	    SOCKET_ID_ANY);
	if (p->stage == NULL || p->copies == NULL) {
		dl_errf(err, errlen, "no memory for the capture's buffers: %s",
			rte_strerror(rte_errno));
		goto fail;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		dl_errf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		goto fail;
	}
	if (uname(&u) == 0)
		snprintf(os, sizeof(os), "%.64s %.64s", u.sysname, u.release);
	snprintf(app, sizeof(app), "DLibOS %s (%s)", DL_VERSION, rte_version());
	p->pcapng = rte_pcapng_fdopen(fd, os, NULL, app, NULL);
	if (p->pcapng == NULL) {
		dl_errf(err, errlen, "pcapng: cannot start %s: %s", path, rte_strerror(rte_errno));
		close(fd);
		goto fail;
	}
	p->start_ns = now_ns();
	return &p->sink;
fail:
	rte_mempool_free(p->stage);
	rte_mempool_free(p->copies);
	free(p);
	return NULL;
}
