/*
 * tcp_connect_check - one active open on the DLibOS API, for the tests of
 * how connects fail (test/integration/tcp_real_net.sh).
 *
 *     tcp_connect_check [EAL args] -- --ip 10.0.0.2/24 --to IP:PORT --go FILE
 *
 * Once FILE exists (the test creates it when the kernel side is ready) it
 * connects to IP:PORT and prints one line:
 *   "result: connected after N us"  (then closes), or
 *   "result: connect_failed errno E (NAME) after N us",
 * then stops; the runtime prints its counters at exit.
 */
#include <dlibos/dlibos.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { OPT_TO = 1000, OPT_GO };

static const struct dlibos_opt opts[] = {
    {"to", "IP:PORT", "where to connect", OPT_TO},
    {"go", "FILE", "connect once this file exists", OPT_GO},
};

static uint32_t to_ip;
static uint16_t to_port;
static const char *go_file;
static uint64_t t_start, t_check;
static bool started;

static int parse(int key, const char *v, char *err, size_t errlen)
{
	char host[64];
	const char *colon;
	struct in_addr a;

	switch (key) {
	case OPT_TO:
		colon = strrchr(v, ':');
		if (colon == NULL || (size_t)(colon - v) >= sizeof(host))
			goto bad;
		memcpy(host, v, (size_t)(colon - v));
		host[colon - v] = '\0';
		if (inet_pton(AF_INET, host, &a) != 1 || atoi(colon + 1) <= 0 ||
		    atoi(colon + 1) > 65535)
			goto bad;
		to_ip = ntohl(a.s_addr);
		to_port = (uint16_t)atoi(colon + 1);
		return 0;
	case OPT_GO:
		go_file = v;
		return 0;
	default:
		return -1;
	}
bad:
	snprintf(err, errlen, "--to '%s': expected IPv4:PORT", v);
	return -1;
}

static int check(char *err, size_t errlen)
{
	if (to_ip == 0 || go_file == NULL) {
		snprintf(err, errlen, "--to and --go are required");
		return -1;
	}
	return 0;
}

static void poll_core(struct dlibos_core *c, uint64_t now)
{
	if (started || dlibos_core_index(c) != 0 || now - t_check < 50000)
		return;
	t_check = now;
	if (access(go_file, F_OK) != 0)
		return;
	started = true;
	t_start = now;
	if (dlibos_connect(c, to_ip, to_port, 42) != 0) {
		printf("result: connect refused by the runtime\n");
		fflush(stdout);
		dlibos_stop();
	}
}

static void on_connected(struct dlibos_core *c, dlibos_conn_t conn, uint64_t cookie)
{
	printf("result: connected after %llu us (cookie %llu)\n",
	       (unsigned long long)(dlibos_now_us(c) - t_start), (unsigned long long)cookie);
	fflush(stdout);
	dlibos_close(c, conn);
	dlibos_stop();
}

static void on_connect_failed(struct dlibos_core *c, uint64_t cookie, int err)
{
	printf("result: connect_failed errno %d (%s) after %llu us (cookie %llu)\n", err,
	       strerror(err), (unsigned long long)(dlibos_now_us(c) - t_start),
	       (unsigned long long)cookie);
	fflush(stdout);
	dlibos_stop();
}

static const struct dlibos_app app = {
    .name = "connect-check",
    .summary = "one active open, to test how connects fail",
    .options = opts,
    .n_options = sizeof(opts) / sizeof(opts[0]),
    .parse_opt = parse,
    .check_opts = check,
    .core_poll = poll_core,
    .cb =
	{
	    .connected = on_connected,
	    .connect_failed = on_connect_failed,
	},
};

int main(int argc, char **argv)
{
	return dlibos_main(argc, argv, &app);
}
