/*
 * dl_wan - a wide-area path for the benchmarks: forwards every frame
 * between two interfaces, each way after a fixed delay.
 *
 *   usage: dl_wan IF_A IF_B DELAY_US [QUEUE_FRAMES]
 *
 * The kernel here has no netem (bench/tcp_dl.sh RTT_MS=...): this program,
 * in a namespace of its own between the client and the server, gives the
 * path a round-trip time of 2 * DELAY_US. Each direction is a FIFO of at
 * most QUEUE_FRAMES frames (default 65536: the path itself holds data,
 * it is no bottleneck); a frame that finds it full is dropped and counted,
 * as is one longer than an Ethernet frame of 1500 bytes (the links must
 * run without segmentation offloads). Frames go out in order, no earlier
 * than DELAY_US after they arrived (ppoll wakes at the first due frame).
 * SIGTERM or SIGINT stop it; the counters go to stdout.
 *
 * Raw AF_PACKET sockets, one per interface, outgoing frames ignored
 * (PACKET_IGNORE_OUTGOING): the interfaces carry no address of their own.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

#define FRAME_MAX 1514u /* 1500-byte MTU, no VLAN */

struct frame {
	uint64_t due; /* ns, CLOCK_MONOTONIC */
	uint16_t len;
	uint8_t data[FRAME_MAX];
};

/* One direction: frames read from `in`, written to `out` when due. */
struct dir {
	const char *name;
	int in, out;
	struct frame *q;
	uint32_t cap, head, n;
	uint64_t fwd, drop_full, drop_big, drop_send, sock_err;
	int last_err;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int open_if(const char *ifname)
{
	struct sockaddr_ll sll = {0};
	int one = 1, buf = 16 << 20;
	int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));

	if (fd < 0) {
		perror("dl_wan: socket(AF_PACKET) (needs root)");
		exit(1);
	}
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = (int)if_nametoindex(ifname);
	if (sll.sll_ifindex == 0) {
		fprintf(stderr, "dl_wan: no interface %s\n", ifname);
		exit(1);
	}
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) != 0) {
		perror("dl_wan: bind");
		exit(1);
	}
	if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) != 0) {
		perror("dl_wan: PACKET_IGNORE_OUTGOING (Linux 4.20 or later)");
		exit(1);
	}
	/* Bursts at the line rate of a veth: room before the kernel drops. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)) != 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf)) != 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	return fd;
}

/* Everything waiting on d->in, queued with its due time. */
static void take(struct dir *d, uint64_t delay)
{
	static uint8_t buf[65536];

	for (;;) {
		ssize_t n = recv(d->in, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
		struct frame *f;

		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				perror("dl_wan: recv");
				exit(1);
			}
			return;
		}
		if ((size_t)n > FRAME_MAX) {
			d->drop_big++;
			continue;
		}
		if (d->n == d->cap) {
			d->drop_full++;
			continue;
		}
		f = &d->q[(d->head + d->n) % d->cap];
		f->due = now_ns() + delay;
		f->len = (uint16_t)n;
		memcpy(f->data, buf, (size_t)n);
		d->n++;
	}
}

/* Send the frames that are due; @return false when the socket is full. */
static bool give(struct dir *d, uint64_t now)
{
	while (d->n > 0 && d->q[d->head].due <= now) {
		struct frame *f = &d->q[d->head];

		if (send(d->out, f->data, f->len, MSG_DONTWAIT) < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
				return false; /* try again shortly */
			d->drop_send++;
		} else {
			d->fwd++;
		}
		d->head = (d->head + 1) % d->cap;
		d->n--;
	}
	return true;
}

int main(int argc, char **argv)
{
	struct dir d[2] = {0};
	uint64_t delay;
	uint32_t cap = 65536;
	sigset_t block, empty;
	struct sigaction sa = {0};

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: dl_wan IF_A IF_B DELAY_US [QUEUE_FRAMES]\n");
		return 2;
	}
	delay = strtoull(argv[3], NULL, 10) * 1000u;
	if (argc == 5)
		cap = (uint32_t)strtoul(argv[4], NULL, 10);
	if (cap == 0) {
		fprintf(stderr, "dl_wan: QUEUE_FRAMES must be at least 1\n");
		return 2;
	}
	int a = open_if(argv[1]), b = open_if(argv[2]);
	d[0] = (struct dir){.name = "a->b", .in = a, .out = b, .cap = cap};
	d[1] = (struct dir){.name = "b->a", .in = b, .out = a, .cap = cap};
	for (int i = 0; i < 2; i++) {
		d[i].q = malloc((size_t)cap * sizeof(struct frame));
		if (d[i].q == NULL) {
			fprintf(stderr, "dl_wan: no memory for %u frames\n", cap);
			return 1;
		}
	}
	/* Signals only inside ppoll: no lost wake-up. */
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, NULL);
	sigemptyset(&empty);
	printf("dl_wan: %s <-> %s, %llu us each way, %u frames per direction\n", argv[1], argv[2],
	       (unsigned long long)(delay / 1000), cap);
	fflush(stdout);

	while (!stop) {
		struct pollfd p[2] = {{.fd = a, .events = POLLIN}, {.fd = b, .events = POLLIN}};
		uint64_t now = now_ns(), next = UINT64_MAX;
		struct timespec ts, *tp = NULL;

		for (int i = 0; i < 2; i++) {
			if (!give(&d[i], now))
				next = now + 50000; /* socket full: 50 us */
			else if (d[i].n > 0 && d[i].q[d[i].head].due < next)
				next = d[i].q[d[i].head].due;
		}
		if (next != UINT64_MAX) {
			uint64_t w = next > now ? next - now : 0;
			ts.tv_sec = (time_t)(w / 1000000000u);
			ts.tv_nsec = (long)(w % 1000000000u);
			tp = &ts;
		}
		if (ppoll(p, 2, tp, &empty) < 0 && errno != EINTR) {
			perror("dl_wan: ppoll");
			return 1;
		}
		for (int i = 0; i < 2; i++) {
			if (p[i].revents & POLLERR) {
				/* An error the kernel reports on the socket
				 * (e.g. ENETDOWN): read it, which clears it. */
				int err = 0;
				socklen_t l = sizeof(err);
				getsockopt(p[i].fd, SOL_SOCKET, SO_ERROR, &err, &l);
				d[i].sock_err++;
				d[i].last_err = err;
			}
			if (p[i].revents & POLLNVAL) {
				fprintf(stderr, "dl_wan: socket closed under us\n");
				return 1;
			}
			if (p[i].revents & POLLIN)
				take(&d[i], delay);
		}
	}
	for (int i = 0; i < 2; i++) {
		/* Frames the kernel dropped before we read them (the socket's
		 * receive buffer full): an impairment the path must not add. */
		struct tpacket_stats st = {0};
		socklen_t l = sizeof(st);
		if (getsockopt(d[i].in, SOL_PACKET, PACKET_STATISTICS, &st, &l) != 0)
			st.tp_drops = 0;
		printf("dl_wan: %s forwarded %llu, dropped: queue full %llu, too long %llu, "
		       "send error %llu, by the kernel before reading %u, left queued %u; "
		       "socket errors %llu (last: %s)\n",
		       d[i].name, (unsigned long long)d[i].fwd, (unsigned long long)d[i].drop_full,
		       (unsigned long long)d[i].drop_big, (unsigned long long)d[i].drop_send,
		       st.tp_drops, d[i].n, (unsigned long long)d[i].sock_err,
		       d[i].last_err ? strerror(d[i].last_err) : "none");
	}
	return 0;
}
