/*
 * pcap.c - a classic pcap file sink for dl_capture.h, for platforms that
 * have no capture writer of their own (TILE-Gx; DPDK writes pcapng).
 *
 * Format (libpcap's "savefile", what tcpdump -r and wireshark read): a
 * 24-byte global header in host byte order (magic 0xa1b23c4d: nanosecond
 * timestamps), then per frame a 16-byte record header (seconds,
 * nanoseconds, captured length, original length) and the bytes. The
 * queue and direction of a frame have no field in this format and are
 * not written; the totals the capture kept and lost are logged at close.
 */
#include "dl_capture.h"
#include "dl_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PCAP_MAGIC_NS 0xa1b23c4du
#define PCAP_LINKTYPE_ETHERNET 1u

struct pcap_file_sink {
	struct dl_capture_sink sink;
	FILE *f;
	char path[256];
	uint32_t snap;
};

struct pcap_global_hdr {
	uint32_t magic;
	uint16_t major, minor;
	int32_t thiszone;
	uint32_t sigfigs, snaplen, linktype;
};

struct pcap_rec_hdr {
	uint32_t sec, nsec, cap_len, orig_len;
};

static uint64_t pcap_stamp(struct dl_capture_sink *s)
{
	struct timespec ts;

	(void)s;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int pcap_write(struct dl_capture_sink *s, const struct dl_capture_rec *r,
		      const uint8_t *data)
{
	struct pcap_file_sink *p = (struct pcap_file_sink *)s;
	uint32_t cap = r->cap_len < p->snap ? r->cap_len : p->snap;
	struct pcap_rec_hdr h = {
	    .sec = (uint32_t)(r->stamp / 1000000000u),
	    .nsec = (uint32_t)(r->stamp % 1000000000u),
	    .cap_len = cap,
	    .orig_len = r->orig_len,
	};

	if (fwrite(&h, sizeof(h), 1, p->f) != 1 || (cap != 0 && fwrite(data, cap, 1, p->f) != 1))
		return -EIO;
	return 0;
}

static void pcap_flush(struct dl_capture_sink *s)
{
	fflush(((struct pcap_file_sink *)s)->f);
}

static void pcap_close(struct dl_capture_sink *s, uint64_t received, uint64_t dropped)
{
	struct pcap_file_sink *p = (struct pcap_file_sink *)s;

	if (fclose(p->f) != 0)
		DL_ERR("capture %s: closing: %s", p->path, strerror(errno));
	DL_INFO("capture %s: %llu frames copied, %llu lost", p->path,
	       (unsigned long long)received, (unsigned long long)dropped);
	free(p);
}

static const struct dl_capture_sink_ops pcap_file_ops = {
    .stamp = pcap_stamp,
    .write = pcap_write,
    .flush = pcap_flush,
    .close = pcap_close,
};

struct dl_capture_sink *dl_pcap_sink_open(const char *path, uint32_t snaplen, char *err,
					  size_t errlen)
{
	struct pcap_file_sink *p = calloc(1, sizeof(*p));
	struct pcap_global_hdr g = {
	    .magic = PCAP_MAGIC_NS,
	    .major = 2,
	    .minor = 4,
	    .linktype = PCAP_LINKTYPE_ETHERNET,
	};
	int fd;

	if (p == NULL) {
		dl_errf(err, errlen, "out of memory");
		return NULL;
	}
	p->snap = snaplen == 0 || snaplen > DL_CAPTURE_SNAPLEN_MAX ? DL_CAPTURE_SNAPLEN_MAX : snaplen;
	g.snaplen = p->snap;
	p->sink.ops = &pcap_file_ops;
	p->sink.max_snaplen = p->snap;
	snprintf(p->path, sizeof(p->path), "%s", path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		dl_errf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		free(p);
		return NULL;
	}
	p->f = fdopen(fd, "wb");
	if (p->f == NULL || fwrite(&g, sizeof(g), 1, p->f) != 1 || fflush(p->f) != 0) {
		dl_errf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		if (p->f != NULL)
			fclose(p->f);
		else
			close(fd);
		free(p);
		return NULL;
	}
	return &p->sink;
}
