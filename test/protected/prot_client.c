/*
 * prot_client.c - a hostile application for the protected-mode
 * integration test (protected_crafted.sh).
 *
 *     prot_client CTL_PATH IP PORT
 *
 * It attaches to dlibosd twice through the real control protocol (two
 * slots, A and B, as two applications would), speaks raw NoC on the
 * fabrics it was given, and is at the same time the TCP peer (a kernel
 * socket to IP:PORT, run inside the test's namespace). Application A
 * listens on PORT and accepts the connection; then, checking the error
 * event the service answers to each:
 *   A sends fragments outside its TX region (past its end, in the RX
 *     region, in B's TX region)                               -> EFAULT
 *   B sends, returns data and closes on A's connection         -> EPERM
 *   A returns more received data than it was given             -> EINVAL
 *   A sends a malformed command (reserved bits set)            -> EBADMSG
 * and that the peer received nothing meanwhile and its connection is
 * intact; then A returns the data for real and sends "hello", which the
 * peer receives alone. Finally B floods invalid commands past the
 * service's --max-bad-commands and must be detached (DETACH on its
 * control connection), while A keeps working.
 *
 * Prints "ok: ..." per step; exit 0 when everything held, 1 otherwise.
 */
#include "dl_attach.h"
#include "dl_msg.h"
#include "dl_noc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct app {
	const char *name;
	struct dl_attach at;
	struct dl_noc_ep *ep;
	uint64_t msg[DL_MSG_MAX_WORDS];
	/* what arrived */
	uint32_t conn;
	unsigned core;
	bool offered;
	uint32_t data_len;
	char data[256];
	unsigned errors, cleanups;
	int last_err, last_cmd;
};

static struct app A = {.name = "probe-a"}, B = {.name = "probe-b"};
static int peer = -1;

static void die(const char *fmt, const char *what)
{
	fprintf(stderr, "FAIL: ");
	fprintf(stderr, fmt, what);
	fprintf(stderr, "\n");
	exit(1);
}

static uint64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void on_event(void *arg, unsigned src, const struct dl_msg *m)
{
	struct app *a = arg;

	(void)src;
	switch (m->type) {
	case DL_MSG_NEW_CONN:
		a->conn = m->conn;
		a->core = m->core;
		a->offered = true;
		break;
	case DL_MSG_NEW_DATA:
	case DL_MSG_ACKED_NEW_DATA: /* data_acked + new_data: the data part */
		for (unsigned i = 0; i < m->u.data.n; i++) {
			struct dl_msg_ref r = dl_msg_ref_unpack(m->u.data.refs[i]);
			const struct dl_region *rx = dl_region_get(r.region);
			if (rx == NULL || !rx->readonly || !dl_region_contains(rx, r.off, r.len))
				die("%s: new_data outside the read-only RX region", a->name);
			if (a->data_len + r.len <= sizeof(a->data))
				memcpy(a->data + a->data_len, rx->base + r.off, r.len);
			a->data_len += r.len;
		}
		break;
	case DL_MSG_CMD_ERROR:
		a->errors++;
		a->last_err = m->u.cmd_error.err;
		a->last_cmd = (int)m->u.cmd_error.cmd;
		break;
	case DL_MSG_CLEANUP:
		a->cleanups++;
		break;
	}
}

/* Poll both applications' events for `ms` milliseconds. */
static void pump(unsigned ms)
{
	uint64_t end = ms_now() + ms;

	do {
		struct app *apps[2] = {&A, &B};
		for (int k = 0; k < 2; k++) {
			if (apps[k]->ep == NULL)
				continue;
			dl_noc_poll(apps[k]->ep, 256, on_event, apps[k]);
			dl_noc_flush(apps[k]->ep);
		}
		usleep(200);
	} while (ms_now() < end);
}

static void send_to(struct app *a, unsigned net, int nwords)
{
	if (nwords <= 0 || dl_noc_send(a->ep, net, a->msg, (unsigned)nwords) != 0)
		die("%s: cannot queue a command", a->name);
	dl_noc_flush(a->ep);
}

static void attach(struct app *a, const char *path)
{
	char err[300];

	if (dl_attach_open(&a->at, path, a->name, 1, 1 << 20, err, sizeof(err)) != 0)
		die("attach: %s", err);
	a->ep = dl_noc_ep_create(a->at.fab, a->at.w.n_net, &(struct dl_noc_conf){.no_stats = true});
	if (a->ep == NULL)
		die("%s: no endpoint", a->name);
	printf("ok: %s attached: slot %u, TX region %u, RX region %u (read-only)\n", a->name,
	       a->at.w.slot, a->at.w.tx_region, a->at.w.rx_region);
}

/* Expect exactly one more error event on `a`, with this command and errno. */
static void expect_error(struct app *a, unsigned before, int cmd, int err, const char *what)
{
	pump(300);
	if (a->errors != before + 1 || a->last_cmd != cmd || a->last_err != err) {
		fprintf(stderr,
			"FAIL: %s: %s: errors %u (want %u), last cmd %d err %d (want %d %d)\n",
			a->name, what, a->errors, before + 1, a->last_cmd, a->last_err, cmd, err);
		exit(1);
	}
	printf("ok: %s: %s -> %s (error event)\n", a->name, what, strerror(err));
}

/* The peer must have received nothing and still be connected. */
static void peer_got_nothing(const char *after)
{
	char buf[64];
	struct pollfd p = {peer, POLLIN, 0};

	if (poll(&p, 1, 300) != 0) {
		ssize_t n = recv(peer, buf, sizeof(buf), MSG_DONTWAIT);
		fprintf(stderr, "FAIL: after %s the peer got %zd byte(s)%s\n", after, n,
			n == 0 ? " (EOF)" : "");
		exit(1);
	}
	printf("ok: after %s the peer received nothing and is still connected\n", after);
}

static void peer_expects(const char *want)
{
	char buf[64];
	size_t got = 0, len = strlen(want);
	uint64_t end = ms_now() + 3000;

	while (got < len && ms_now() < end) {
		struct pollfd p = {peer, POLLIN, 0};
		pump(1);
		if (poll(&p, 1, 10) > 0) {
			ssize_t n = recv(peer, buf + got, sizeof(buf) - got, 0);
			if (n <= 0)
				die("peer: connection closed while waiting for '%s'", want);
			got += (size_t)n;
		}
	}
	if (got != len || memcmp(buf, want, len) != 0)
		die("peer: did not receive exactly '%s'", want);
	printf("ok: the peer received exactly '%s'\n", want);
}

static struct dl_msg_ref ref(uint16_t region, uint64_t off, uint32_t len)
{
	return (struct dl_msg_ref){.off = off, .len = len, .region = (uint8_t)region};
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct dl_msg_ref r;
	unsigned e, net;
	uint32_t n;

	if (argc != 4) {
		fprintf(stderr, "usage: prot_client CTL_PATH IP PORT\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	attach(&A, argv[1]);
	attach(&B, argv[1]);
	for (unsigned k = 0; k < A.at.w.n_net; k++)
		send_to(&A, k, dl_msg_enc_listen(A.msg, k, (uint16_t)atoi(argv[3]), 16));
	pump(200);
	if (A.errors != 0)
		die("%s: listen failed", A.name);

	peer = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_port = htons((uint16_t)atoi(argv[3]));
	inet_pton(AF_INET, argv[2], &sa.sin_addr);
	if (connect(peer, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		die("peer: connect: %s", strerror(errno));
	for (int i = 0; i < 100 && !A.offered; i++)
		pump(20);
	if (!A.offered)
		die("%s: no new_conn", A.name);
	net = A.core;
	send_to(&A, net, dl_msg_enc_accept(A.msg, net, A.conn, (uint16_t)atoi(argv[3])));
	if (send(peer, "0123456789", 10, 0) != 10)
		die("peer: %s", "send failed");
	for (int i = 0; i < 100 && A.data_len < 10; i++)
		pump(20);
	if (A.data_len != 10 || memcmp(A.data, "0123456789", 10) != 0)
		die("%s: did not receive the peer's 10 bytes", A.name);
	n = A.data_len;
	printf("ok: %s accepted the connection and got the peer's 10 bytes zero-copy\n", A.name);

	/* Fragments outside A's TX region. */
	memcpy(A.at.tx->base, "hello", 5);
	e = A.errors;
	r = ref(A.at.w.tx_region, A.at.tx->len - 2, 10);
	send_to(&A, net, dl_msg_enc_send(A.msg, net, A.conn, &r, 1));
	expect_error(&A, e, DL_MSG_SEND, EFAULT, "send past the end of its TX region");
	r = ref(A.at.w.rx_region, 0, 10);
	send_to(&A, net, dl_msg_enc_send(A.msg, net, A.conn, &r, 1));
	expect_error(&A, e + 1, DL_MSG_SEND, EFAULT, "send from the RX region");
	r = ref(B.at.w.tx_region, 0, 10);
	send_to(&A, net, dl_msg_enc_send(A.msg, net, A.conn, &r, 1));
	expect_error(&A, e + 2, DL_MSG_SEND, EFAULT, "send from the other application's memory");
	peer_got_nothing("the sends outside the TX region");

	/* B commands A's connection. */
	memcpy(B.at.tx->base, "evil", 4);
	e = B.errors;
	r = ref(B.at.w.tx_region, 0, 4);
	send_to(&B, net, dl_msg_enc_send(B.msg, net, A.conn, &r, 1));
	expect_error(&B, e, DL_MSG_SEND, EPERM, "send on a foreign connection");
	send_to(&B, net, dl_msg_enc_recv_done(B.msg, net, A.conn, n));
	expect_error(&B, e + 1, DL_MSG_RECV_DONE, EPERM, "recv_done on a foreign connection");
	send_to(&B, net, dl_msg_enc_close(B.msg, net, A.conn));
	expect_error(&B, e + 2, DL_MSG_CLOSE, EPERM, "close of a foreign connection");
	peer_got_nothing("the foreign commands");

	/* More returned than delivered; a malformed command. */
	e = A.errors;
	send_to(&A, net, dl_msg_enc_recv_done(A.msg, net, A.conn, n + 1000));
	expect_error(&A, e, DL_MSG_RECV_DONE, EINVAL, "recv_done beyond what was delivered");
	A.msg[0] = dl_msg_hdr(DL_MSG_RECV_DONE, 2, net, A.conn);
	A.msg[1] = UINT64_C(1) << 50;
	send_to(&A, net, 2);
	expect_error(&A, e + 1, DL_MSG_RECV_DONE, EBADMSG, "malformed recv_done");

	/* Nothing was freed: the real recv_done is accepted; the send goes out alone. */
	send_to(&A, net, dl_msg_enc_recv_done(A.msg, net, A.conn, n));
	r = ref(A.at.w.tx_region, 0, 5);
	send_to(&A, net, dl_msg_enc_send(A.msg, net, A.conn, &r, 1));
	peer_expects("hello");
	pump(200);
	if (A.errors != e + 2)
		die("%s: the valid commands were refused", A.name);
	printf("ok: %s: the valid recv_done and send were accepted\n", A.name);

	/* B floods invalid commands: the service detaches it. */
	r = ref(B.at.w.tx_region, B.at.tx->len, 1);
	for (int i = 0; i < 1100; i++)
		send_to(&B, net, dl_msg_enc_send(B.msg, net, 1, &r, 1));
	{
		char why[240] = "";
		uint64_t end = ms_now() + 5000;
		int rc = 0;
		while (rc == 0 && ms_now() < end) {
			pump(5);
			rc = dl_attach_watch(&B.at, 10, why, sizeof(why));
		}
		if (rc == 0 || strstr(why, "invalid commands") == NULL)
			die("B was not detached for its invalid commands (%s)", why);
		printf("ok: %s: %s\n", B.name, why);
	}
	dl_noc_ep_destroy(B.ep);
	B.ep = NULL;
	dl_attach_close(&B.at);

	/* A is unaffected. */
	memcpy(A.at.tx->base + 64, "again", 5);
	r = ref(A.at.w.tx_region, 64, 5);
	send_to(&A, net, dl_msg_enc_send(A.msg, net, A.conn, &r, 1));
	peer_expects("again");
	close(peer);
	pump(300);
	dl_noc_ep_destroy(A.ep);
	dl_attach_close(&A.at);
	printf("PASS: every crafted command rejected with its error event; nothing sent or "
	       "freed; the flooding application detached\n");
	return 0;
}
