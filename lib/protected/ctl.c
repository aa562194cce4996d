/*
 * ctl.c - framing of the protected-mode control protocol (see dl_ctl.h):
 * one sendmsg/recvmsg per message, descriptors in an SCM_RIGHTS control
 * message, strict size checks on what arrives.
 */
#include "dl_ctl.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void dl_ctl_hdr_init(struct dl_ctl_hdr *h, enum dl_ctl_type type)
{
	h->magic = DL_CTL_MAGIC;
	h->version = DL_CTL_VERSION;
	h->type = (uint16_t)type;
}

int dl_ctl_send(int sock, const void *msg, size_t len, const int *fds, unsigned nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * DL_CTL_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {(void *)(uintptr_t)msg, len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t n;

	if (nfds > DL_CTL_MAX_FDS)
		return -EINVAL;
	if (nfds > 0) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EMSGSIZE;
}

void dl_ctl_close_fds(const int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

ssize_t dl_ctl_recv(int sock, void *buf, size_t cap, int *fds, unsigned max_fds, unsigned *nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 16)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {buf, cap};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl.buf,
			    .msg_controllen = sizeof(ctl.buf)};
	unsigned got = 0;
	bool lost = false;
	ssize_t n;

	*nfds = 0;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		unsigned k = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (unsigned i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (got < max_fds) {
				fds[got++] = fd;
			} else {
				close(fd);
				lost = true;
			}
		}
	}
	if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || lost) {
		dl_ctl_close_fds(fds, got);
		return -EMSGSIZE;
	}
	*nfds = got;
	return n;
}

static size_t size_of(unsigned type)
{
	switch (type) {
	case DL_CTL_HELLO:
		return sizeof(struct dl_ctl_hello);
	case DL_CTL_WELCOME:
		return sizeof(struct dl_ctl_welcome);
	case DL_CTL_REFUSE:
		return sizeof(struct dl_ctl_refuse);
	case DL_CTL_DETACH:
		return sizeof(struct dl_ctl_detach);
	}
	return 0;
}

int dl_ctl_check(const void *buf, size_t len)
{
	struct dl_ctl_hdr h;

	if (len < sizeof(h))
		return -EPROTO;
	memcpy(&h, buf, sizeof(h));
	if (h.magic != DL_CTL_MAGIC || h.version != DL_CTL_VERSION || size_of(h.type) != len)
		return -EPROTO;
	return h.type;
}
