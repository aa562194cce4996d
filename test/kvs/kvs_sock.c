/*
 * kvs_sock.c - the dlibos-kvs session engine served over kernel TCP
 * sockets (epoll, one thread), to check protocol compatibility with the real
 * clients (memccapable, memcaslap) independently of the DLibOS runtime.
 *
 *   kvs_sock_server PORT [MEMORY_MB]     listens on 127.0.0.1:PORT
 *
 * It follows the DLibOS rules the server lives by: received buffers stay
 * untouched until the session returns them (recv_done, in order), sent
 * fragments are kept as references and written when the socket takes them,
 * and only then acknowledged (data_acked), after the event that sent them:
 * the library's send helpers (test/shim) turn that into the sessions' send
 * completions.
 * Fragments are checked to lie in the arena, the constants or the rings
 * (the "TX memory"). SIGTERM/SIGINT stop it; it prints the counters and
 * exits 1 if any item is still referenced.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "fake_helpers.h"
#include "kvs_conn.h"
#include "kvs_store.h"

#define RING	 (32 * 1024)
#define RXBUF	 16384
#define MAXCONNS 1024
#define MAXOUT	 4096

struct rx {
	uint8_t *p;
	uint32_t len, returned;
};

struct sconn {
	int fd;
	struct kvs_conn k;
	uint8_t *ring;
	struct rx rx[KVS_MAX_IOVS];
	unsigned nrx;
	struct dlibos_frag out[MAXOUT];
	unsigned nout;
	uint32_t out_off;
	uint64_t written_unacked;
	int want_close; /* session closed: write the rest, then close */
	int dead;
};

static struct kvs_store *store;
static struct kvs_env env;
static struct kvs_consts consts;
static char *consts_mem;
static uint8_t *arena;
static size_t arena_len;
static struct kvs_info info;
static struct sconn *conns[MAXCONNS];
static volatile sig_atomic_t stop;

static struct sconn *of(dlibos_conn_t id)
{
	return id < MAXCONNS ? conns[id] : NULL;
}

static int in_tx(const void *p, size_t len)
{
	const uint8_t *b = p;

	if (b >= arena && b + len <= arena + arena_len)
		return 1;
	if (b >= (uint8_t *)consts_mem && b + len <= (uint8_t *)consts_mem + kvs_consts_size())
		return 1;
	for (unsigned i = 0; i < MAXCONNS; i++)
		if (conns[i] && b >= conns[i]->ring && b + len <= conns[i]->ring + RING)
			return 1;
	return 0;
}

static int s_send(struct dlibos_core *c, dlibos_conn_t id, const struct dlibos_frag *f, unsigned n)
{
	struct sconn *s = of(id);

	(void)c;
	if (s == NULL || s->want_close)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		if (f[i].len == 0 || !in_tx(f[i].base, f[i].len)) {
			fprintf(stderr, "kvs_sock: fragment outside TX memory\n");
			abort();
		}
		if (s->nout == MAXOUT)
			return -ENOBUFS;
		s->out[s->nout++] = f[i];
	}
	return 0;
}

static int s_recv_done(struct dlibos_core *c, dlibos_conn_t id, uint32_t bytes)
{
	struct sconn *s = of(id);

	(void)c;
	while (s != NULL && bytes > 0) {
		if (s->nrx == 0) {
			fprintf(stderr, "kvs_sock: recv_done beyond what was received\n");
			abort();
		}
		struct rx *r = &s->rx[0];
		uint32_t k = r->len - r->returned < bytes ? r->len - r->returned : bytes;
		memset(r->p + r->returned, 0xa5, k); /* returned: gone */
		r->returned += k;
		bytes -= k;
		if (r->returned == r->len) {
			free(r->p);
			memmove(&s->rx[0], &s->rx[1], (s->nrx - 1) * sizeof(s->rx[0]));
			s->nrx--;
		}
	}
	return 0;
}

static int s_close(struct dlibos_core *c, dlibos_conn_t id)
{
	struct sconn *s = of(id);

	(void)c;
	if (s != NULL)
		s->want_close = 1;
	return 0;
}

/* What the library's helpers (test/shim) call. */
int dlibos_send(struct dlibos_core *c, dlibos_conn_t id, const struct dlibos_frag *f, unsigned n)
{
	return s_send(c, id, f, n);
}

int dlibos_recv_done(struct dlibos_core *c, dlibos_conn_t id, uint32_t bytes)
{
	return s_recv_done(c, id, bytes);
}

bool dlibos_is_tx_mem(const void *p, size_t len)
{
	return in_tx(p, len) != 0;
}

void *dlibos_tx_alloc(size_t len)
{
	(void)len;
	return NULL; /* sessions send by reference only: no copy memory */
}

void dlibos_tx_free(void *p)
{
	(void)p;
}

static const struct kvs_io sock_io = {dlibos_send_ref, s_recv_done, s_close};

static void sum_counters(uint64_t out[KVS_NCNT], void *arg)
{
	(void)arg;
	memcpy(out, env.cnt, sizeof(env.cnt));
}

static uint64_t mono_us(void *arg)
{
	struct timespec ts;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Write what the socket takes; count it for the acknowledgement. */
static void pump_out(struct sconn *s)
{
	while (s->nout > 0) {
		struct iovec iov[64];
		unsigned n = s->nout < 64 ? s->nout : 64;
		for (unsigned i = 0; i < n; i++) {
			iov[i].iov_base = (char *)s->out[i].base + (i == 0 ? s->out_off : 0);
			iov[i].iov_len = s->out[i].len - (i == 0 ? s->out_off : 0);
		}
		ssize_t w = writev(s->fd, iov, (int)n);
		if (w < 0) {
			if (errno != EAGAIN && errno != EINTR)
				s->dead = 1;
			return;
		}
		s->written_unacked += (uint64_t)w;
		while (w > 0) {
			uint32_t rem = s->out[0].len - s->out_off;
			if ((uint64_t)w < rem) {
				s->out_off += (uint32_t)w;
				break;
			}
			w -= rem;
			memmove(&s->out[0], &s->out[1], (s->nout - 1) * sizeof(s->out[0]));
			s->nout--;
			s->out_off = 0;
		}
	}
}

static void destroy(int ep, struct sconn *s)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
	close(s->fd);
	fake_helpers_cleanup(s->k.id); /* completions of what is unwritten: aborted */
	kvs_conn_fini(&s->k);
	for (unsigned i = 0; i < s->nrx; i++)
		free(s->rx[i].p);
	conns[s->k.id] = NULL;
	free(s->ring);
	free(s);
}

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	int port = argc > 1 ? atoi(argv[1]) : 11311;
	size_t mb = argc > 2 ? (size_t)atoi(argv[2]) : 64;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int one = 1;

	arena_len = mb << 20;
	arena = aligned_alloc(64, arena_len);
	consts_mem = malloc(kvs_consts_size());
	kvs_consts_init(&consts, consts_mem);
	struct kvs_store_conf sc = {
	    .mem_bytes = arena_len,
	    .arena = arena,
	    .now_us = mono_us,
	    .unix_at_zero = (int64_t)time(NULL) - (int64_t)(mono_us(NULL) / 1000000),
	    .lru_bump_us = 1000000,
	};
	store = kvs_store_create(&sc);
	info = (struct kvs_info){.pid = getpid(),
				 .started = time(NULL),
				 .threads = 1,
				 .max_conns = MAXCONNS,
				 .port = (unsigned)port,
				 .ring_size = RING};
	env = (struct kvs_env){.store = store,
			       .k = &consts,
			       .io = &sock_io,
			       .info = &info,
			       .sum_counters = sum_counters};
	fake_helpers_init(NULL, 0, NULL);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	signal(SIGPIPE, SIG_IGN);

	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (store == NULL || bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(lfd, 1024) != 0) {
		perror("kvs_sock: listen");
		return 1;
	}
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	printf("kvs_sock: ready on 127.0.0.1:%d\n", port);
	fflush(stdout);

	while (!stop) {
		struct epoll_event evs[64];
		int n = epoll_wait(ep, evs, 64, 100);
		for (int i = 0; i < n; i++) {
			struct sconn *s = evs[i].data.ptr;
			if (s == NULL) { /* accept */
				int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
				unsigned id = 0;
				while (id < MAXCONNS && conns[id] != NULL)
					id++;
				if (fd < 0)
					continue;
				if (id == MAXCONNS) {
					close(fd);
					continue;
				}
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				s = calloc(1, sizeof(*s));
				s->fd = fd;
				s->ring = aligned_alloc(64, RING);
				conns[id] = s;
				kvs_conn_init(&s->k, &env, id, s->ring, RING);
				struct epoll_event e = {.events = EPOLLIN | EPOLLOUT | EPOLLET,
							.data.ptr = s};
				epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
				continue;
			}
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
				for (;;) {
					if (s->want_close || s->nrx == KVS_MAX_IOVS)
						break;
					uint8_t *buf = malloc(RXBUF);
					ssize_t r = read(s->fd, buf, RXBUF);
					if (r <= 0) {
						free(buf);
						if (r == 0)
							kvs_conn_remote_closed(&s->k, false);
						else if (errno != EAGAIN && errno != EINTR)
							kvs_conn_remote_closed(&s->k, true);
						break;
					}
					s->rx[s->nrx++] = (struct rx){buf, (uint32_t)r, 0};
					struct dlibos_iov v = {buf, (uint32_t)r};
					kvs_conn_data(&s->k, &v, 1);
				}
			}
		}
		/* write, acknowledge what the kernel took, close finished sessions */
		for (unsigned id = 0; id < MAXCONNS; id++) {
			struct sconn *s = conns[id];
			if (s == NULL)
				continue;
			pump_out(s);
			while (s->written_unacked > 0 && !s->dead) {
				uint64_t w = s->written_unacked;
				s->written_unacked = 0;
				fake_helpers_acked(s->k.id, (uint32_t)w);
				fake_helpers_wake();
				pump_out(s);
			}
			if (s->dead || (s->want_close && s->nout == 0))
				destroy(ep, s);
		}
	}
	for (unsigned id = 0; id < MAXCONNS; id++)
		if (conns[id] != NULL)
			destroy(ep, conns[id]);
	struct kvs_store_stats st;
	kvs_store_stats(store, &st);
	for (unsigned i = 0; i < KVS_NCNT; i++)
		if (env.cnt[i])
			printf("kvs.%s %llu\n", kvs_cnt_names[i], (unsigned long long)env.cnt[i]);
	printf("kvs.curr_items %llu\nkvs.items_unlinked_in_flight %llu\n",
	       (unsigned long long)st.curr_items, (unsigned long long)st.pending);
	fake_helpers_fini();
	int leak = st.pending != 0 || st.chunks - st.free_chunks != st.curr_items;
	kvs_store_destroy(store);
	free(arena);
	free(consts_mem);
	close(lfd);
	close(ep);
	return leak;
}
