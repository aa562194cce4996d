/*
 * wire.c - what is at the other end of a model link:
 *
 *   tap:IFNAME  a TAP interface named IFNAME, created when the link is
 *               opened in the caller's network namespace (like DPDK's
 *               net_tap) and gone when it is closed; frames are read and
 *               written whole, without the packet-information header;
 *   loopN       egress frames come back as ingress on the same link
 *               (mPIPE's internal loopback);
 *   mem:NAME    a test wire: frames injected with mde_model_link_inject()
 *               arrive, frames sent are kept for mde_model_link_capture().
 *
 * A loop or mem wire holds at most MDE_WIRE_QUEUE frames; a frame arriving
 * at a full one is lost (counted by the caller as a failed send).
 */
#include "model_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

void mde_frameq_init(struct mde_frameq *q)
{
	memset(q, 0, sizeof(*q));
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cv, NULL);
}

void mde_frameq_free(struct mde_frameq *q)
{
	pthread_mutex_lock(&q->lock);
	while (q->n > 0) {
		free(q->buf[q->head]);
		q->head = (q->head + 1) % MDE_WIRE_QUEUE;
		q->n--;
	}
	pthread_mutex_unlock(&q->lock);
}

int mde_frameq_put(struct mde_frameq *q, const uint8_t *f, size_t len)
{
	uint8_t *copy;

	if (len > MDE_MAX_FRAME)
		return -EMSGSIZE;
	copy = malloc(len ? len : 1);
	if (copy == NULL)
		return -ENOMEM;
	memcpy(copy, f, len);
	pthread_mutex_lock(&q->lock);
	if (q->n == MDE_WIRE_QUEUE) {
		pthread_mutex_unlock(&q->lock);
		free(copy);
		return -ENOBUFS;
	}
	q->buf[(q->head + q->n) % MDE_WIRE_QUEUE] = copy;
	q->len[(q->head + q->n) % MDE_WIRE_QUEUE] = (uint16_t)len;
	q->n++;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->lock);
	return 0;
}

size_t mde_frameq_get(struct mde_frameq *q, uint8_t *out, size_t cap, unsigned timeout_ms)
{
	struct timespec until;
	size_t len;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&q->lock);
	while (q->n == 0 && timeout_ms > 0)
		if (pthread_cond_timedwait(&q->cv, &q->lock, &until) == ETIMEDOUT)
			break;
	if (q->n == 0) {
		pthread_mutex_unlock(&q->lock);
		return 0;
	}
	len = q->len[q->head];
	memcpy(out, q->buf[q->head], len < cap ? len : cap);
	free(q->buf[q->head]);
	q->head = (q->head + 1) % MDE_WIRE_QUEUE;
	q->n--;
	pthread_mutex_unlock(&q->lock);
	return len;
}

static int tap_open(struct mde_link *l)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0) {
		int e = errno;
		mde_model_warn("link %s: cannot open /dev/net/tun: %s (needs root)", l->name,
			       strerror(e));
		return GXIO_ERR_IO;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", l->name + 4);
	if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
		int e = errno;
		mde_model_warn("link %s: cannot create TAP interface %s: %s", l->name, l->name + 4,
			       strerror(e));
		close(fd);
		return e == EBUSY ? GXIO_ERR_BUSY : GXIO_ERR_IO;
	}
	l->fd = fd;
	return 0;
}

int mde_link_wire_open(struct mde_link *l)
{
	mde_frameq_init(&l->in);
	mde_frameq_init(&l->out);
	if (l->kind == MDE_LINK_TAP)
		return tap_open(l);
	return 0;
}

void mde_link_wire_close(struct mde_link *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	mde_frameq_free(&l->in);
	mde_frameq_free(&l->out);
}

int mde_link_wire_send(struct mde_mpipe *mp, struct mde_link *l, const uint8_t *f, size_t len)
{
	(void)mp;
	switch (l->kind) {
	case MDE_LINK_TAP:
		/* The kernel drops what it cannot take (interface down: EIO). */
		return write(l->fd, f, len) == (ssize_t)len ? 0 : -1;
	case MDE_LINK_LOOP:
		return mde_frameq_put(&l->in, f, len) == 0 ? 0 : -1;
	case MDE_LINK_MEM:
		return mde_frameq_put(&l->out, f, len) == 0 ? 0 : -1;
	}
	return -1;
}

unsigned mde_links_ingress(struct mde_mpipe *mp, unsigned budget)
{
	static __thread uint8_t frame[MDE_MAX_FRAME];
	unsigned got = 0;

	for (unsigned i = 0; i < MDE_MAX_LINKS && got < budget; i++) {
		struct mde_link *l = &mp->link[i];
		if (!__atomic_load_n(&l->open, __ATOMIC_ACQUIRE))
			continue;
		while (got < budget) {
			ssize_t n;
			if (l->kind == MDE_LINK_TAP)
				n = read(l->fd, frame, sizeof(frame));
			else
				n = (ssize_t)mde_frameq_get(&l->in, frame, sizeof(frame), 0);
			if (n <= 0)
				break;
			mde_ingress_frame(mp, l->channel, frame, (size_t)n);
			got++;
		}
	}
	return got;
}

unsigned mde_links_pollfds(struct mde_mpipe *mp, int *fds, unsigned max)
{
	unsigned n = 0;

	for (unsigned i = 0; i < MDE_MAX_LINKS && n < max; i++) {
		struct mde_link *l = &mp->link[i];
		if (__atomic_load_n(&l->open, __ATOMIC_ACQUIRE) && l->kind == MDE_LINK_TAP)
			fds[n++] = l->fd;
	}
	return n;
}

int mde_model_link_inject(const char *name, const void *frame, size_t len)
{
	struct mde_mpipe *mp;
	struct mde_link *l = mde_link_find(name, &mp);
	int rc;

	if (l == NULL || l->kind == MDE_LINK_TAP)
		return -ENODEV;
	rc = mde_frameq_put(&l->in, frame, len);
	if (rc == 0)
		mde_engine_wake(mp);
	return rc;
}

size_t mde_model_link_capture_wait(const char *name, void *buf, size_t cap, unsigned timeout_ms)
{
	struct mde_link *l = mde_link_find(name, NULL);

	if (l == NULL || l->kind != MDE_LINK_MEM)
		return 0;
	return mde_frameq_get(&l->out, buf, cap, timeout_ms);
}

size_t mde_model_link_capture(const char *name, void *buf, size_t cap)
{
	return mde_model_link_capture_wait(name, buf, cap, 0);
}
