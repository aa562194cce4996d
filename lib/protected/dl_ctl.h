/*
 * dl_ctl.h - the protected-mode control protocol between the dlibosd
 * service and the application processes that attach to it.
 *
 * Transport: a Unix SOCK_SEQPACKET socket (message boundaries kept,
 * credentials with SO_PEERCRED, descriptors with SCM_RIGHTS). One
 * connection per application process, for its whole life:
 *
 *   app -> service   HELLO    name, application cores wanted, TX bytes;
 *                             fd: the TX memfd (sealed against shrinking)
 *   service -> app   WELCOME  slot, application indexes, network cores,
 *                             our IP, region ids (TX, RX), NoC geometry;
 *                             fds: the slot's NoC fabric memfd, the RX
 *                             region (a read-only descriptor, sealed
 *                             against writable mappings)
 *                or  REFUSE   errno and a message (policy, no free slot...)
 *   service -> app   DETACH   reason, before the service closes the
 *                             connection (too many invalid commands,
 *                             service stopping)
 *
 * The connection closing (either side, or the application dying) ends the
 * attachment: the service resets the application's connections and frees
 * its slot. Every message starts with struct dl_ctl_hdr; sizes are fixed
 * and checked exactly, names are NUL-terminated by the receiver, so a
 * hostile peer cannot make either side read past a message.
 *
 * The slot fabric: cores 0..n_net-1 are the service's network cores,
 * n_net..n_net+n_app-1 the application's cores; a channel in each direction
 * between every network core and every application core, nothing else
 * (dl_engine_slot_links()). Channel i of the plan sits at the same offset on
 * both sides (dl_noc_fabric_chan_offset()).
 */
#ifndef DL_CTL_H
#define DL_CTL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define DL_CTL_MAGIC   0x444c4354u /* "DLCT" */
#define DL_CTL_VERSION 1u
/** Default control socket. */
#define DL_CTL_DEFAULT_PATH "/run/dlibos/ctl.sock"
/** Descriptors any message carries at most. */
#define DL_CTL_MAX_FDS 2
/** Application names, NUL included. */
#define DL_CTL_NAME_MAX 32

enum dl_ctl_type {
	DL_CTL_HELLO = 1,
	DL_CTL_WELCOME = 2,
	DL_CTL_REFUSE = 3,
	DL_CTL_DETACH = 4,
};

struct dl_ctl_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
};

struct dl_ctl_hello {
	struct dl_ctl_hdr h;
	char name[DL_CTL_NAME_MAX];
	uint32_t app_cores;
	uint32_t pad;
	uint64_t tx_len; /**< bytes of the TX memfd to map */
};

struct dl_ctl_welcome {
	struct dl_ctl_hdr h;
	uint32_t slot;
	uint32_t app_base;  /**< the service's index of our first application core */
	uint32_t n_app;	    /**< application cores granted */
	uint32_t n_net;	    /**< network cores */
	uint32_t noc_words; /**< channel capacity */
	uint32_t ip;	    /**< the service's IPv4 address, host order */
	uint8_t prefix_len;
	uint8_t pad[3];
	uint16_t tx_region; /**< id to map our TX memory under */
	uint16_t rx_region; /**< id of the RX region (new_data references) */
	uint64_t rx_len;    /**< bytes of the RX region */
	uint64_t fab_len;   /**< bytes of the fabric memfd */
};

struct dl_ctl_refuse {
	struct dl_ctl_hdr h;
	int32_t err; /**< positive errno */
	char msg[160];
};

/** DETACH reasons. */
enum dl_ctl_detach_reason {
	DL_CTL_DETACH_BAD_COMMANDS = 1, /**< too many invalid commands */
	DL_CTL_DETACH_PROTOCOL = 2,	/**< a broken NoC channel or control message */
	DL_CTL_DETACH_SHUTDOWN = 3,	/**< the service is stopping */
};

struct dl_ctl_detach {
	struct dl_ctl_hdr h;
	int32_t reason; /**< enum dl_ctl_detach_reason */
	char msg[160];
};

/** Fill a header. */
void dl_ctl_hdr_init(struct dl_ctl_hdr *h, enum dl_ctl_type type);

/**
 * Send one message with up to DL_CTL_MAX_FDS descriptors (MSG_NOSIGNAL).
 * @return 0 or a negative errno.
 */
int dl_ctl_send(int sock, const void *msg, size_t len, const int *fds, unsigned nfds);

/**
 * Receive one message: at most @p cap bytes into @p buf and at most
 * @p max_fds descriptors (close-on-exec) into @p fds; descriptors beyond
 * are closed. A message that did not fit (MSG_TRUNC, MSG_CTRUNC) is an
 * error: its descriptors are closed.
 * @return the message length (0: the peer closed), or a negative errno
 *         (-EAGAIN on a non-blocking socket with nothing to read, -EMSGSIZE).
 */
ssize_t dl_ctl_recv(int sock, void *buf, size_t cap, int *fds, unsigned max_fds, unsigned *nfds);

/**
 * Check a received message: @p len is exactly the size of its type, magic
 * and version match. @return the type, or -EPROTO.
 */
int dl_ctl_check(const void *buf, size_t len);

/** Close n descriptors (ignoring -1). */
void dl_ctl_close_fds(const int *fds, unsigned n);

#endif /* DL_CTL_H */
