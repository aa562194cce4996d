/*
 * tcp.c - placeholder TCP layer until the real one lands: segments are
 * counted as dropped and every command reports ENOSYS. Replaced wholesale
 * by the TCP implementation (issue 4).
 */
#include "dl_stack_priv.h"

#include <errno.h>
#include <stdlib.h>

struct dl_tcp {
	uint64_t cnt[1];
	struct dl_counter_block blk;
};

static const char *const tcp_cnt_names[1] = {"drop_no_tcp"};

struct dl_tcp *dl_tcp_create(struct dl_stack *s)
{
	struct dl_tcp *t = calloc(1, sizeof(*t));
	if (t != NULL)
		dl_stats_register(&t->blk, "tcp", tcp_cnt_names, 1, t->cnt, (int)s->net_index);
	return t;
}

void dl_tcp_destroy(struct dl_stack *s)
{
	dl_stats_unregister(&s->tcp->blk);
	free(s->tcp);
	s->tcp = NULL;
}

void dl_tcp_input(struct dl_stack *s, struct dl_rx_pkt *pkt, const struct dl_ipv4_hdr *ip,
		  const uint8_t *seg, size_t len)
{
	(void)ip;
	(void)seg;
	(void)len;
	s->tcp->cnt[0]++;
	dl_nic_buf_free(s->nic, pkt->buf);
}

void dl_tcp_poll(struct dl_stack *s)
{
	(void)s;
}

int dl_stack_listen(struct dl_stack *s, uint16_t port, uint32_t backlog)
{
	(void)s, (void)port, (void)backlog;
	return -ENOSYS;
}
