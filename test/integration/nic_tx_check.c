/*
 * nic_tx_check.c - drive the DPDK NIC backend's transmit paths against the
 * Linux kernel, which verifies every checksum (nic_tx.sh reads the
 * namespace's /proc/net/snmp before and after).
 *
 *     nic_tx_check [EAL args] -- KERNEL_MAC [--no-hw-offload]
 *
 * Sends from 10.0.0.2 to 10.0.0.1 (a kernel address with no listeners):
 *   UDP with the payload in the header buffer, with fragments referenced
 *   from a registered region (external-buffer mbufs), from private memory
 *   (copied), and from an unregistered region (copied); TCP segments with
 *   fragments, one of them cut by TSO (hardware or software); ICMP echo
 *   requests (software checksum). Prints the counts the kernel must see:
 *   "expect udp=N tcp=M icmp=K".
 *
 * With --bad-tcp it sends one TCP segment without asking for its checksum
 * instead: the negative control showing that the kernel does verify.
 */
#include "dl_hal.h"
#include "dl_offload.h"
#include "dl_platform.h"
#include "dl_stats.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SRC_IP 0x0a000002u
#define DST_IP 0x0a000001u

static struct dl_nic *nic;
static uint8_t dst_mac[6];
static unsigned n_udp, n_tcp, n_icmp;

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* Ethernet + IPv4 header; returns the L4 start. */
static uint8_t *l2l3(uint8_t *h, uint8_t proto, uint16_t ip_total, uint16_t id)
{
	memcpy(h, dst_mac, 6);
	memcpy(h + 6, nic->mac, 6);
	put16(h + 12, 0x0800);
	uint8_t *ip = h + 14;
	memset(ip, 0, 20);
	ip[0] = 0x45;
	put16(ip + 2, ip_total);
	put16(ip + 4, id);
	put16(ip + 6, 0x4000);
	ip[8] = 64;
	ip[9] = proto;
	put32(ip + 12, SRC_IP);
	put32(ip + 16, DST_IP);
	return ip + 20;
}

static struct dl_tx_pkt new_pkt(uint8_t **h)
{
	struct dl_tx_pkt p;
	uint16_t room;

	memset(&p, 0, sizeof(p));
	p.hdr = dl_nic_hdr_alloc(nic, 0, h, &room);
	if (p.hdr == NULL) {
		fprintf(stderr, "nic_tx_check: no header buffer\n");
		exit(1);
	}
	p.hdr_data = *h;
	p.l2_len = 14;
	p.l3_len = 20;
	return p;
}

static void send_pkt(struct dl_tx_pkt *p)
{
	if (dl_nic_tx_burst(nic, 0, p, 1) != 1) {
		fprintf(stderr, "nic_tx_check: tx_burst refused a packet\n");
		exit(1);
	}
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + seed);
}

/* UDP: inline payload of `inline_len` bytes plus the given fragments. */
static void send_udp(size_t inline_len, const struct dl_tx_frag *frags, unsigned nfrags)
{
	uint8_t *h;
	struct dl_tx_pkt p = new_pkt(&h);
	size_t payload = inline_len;

	for (unsigned i = 0; i < nfrags; i++)
		payload += frags[i].len;
	uint8_t *u = l2l3(h, 17, (uint16_t)(20 + 8 + payload), (uint16_t)(100 + n_udp));
	put16(u, 5000);
	put16(u + 2, 9);
	put16(u + 4, (uint16_t)(8 + payload));
	put16(u + 6, 0);
	fill(u + 8, inline_len, n_udp);
	p.hdr_len = (uint16_t)(14 + 20 + 8 + inline_len);
	p.l4_len = 8;
	p.nfrags = (uint8_t)nfrags;
	memcpy(p.frag, frags, nfrags * sizeof(*frags));
	p.ol_flags = DL_TX_IP_CKSUM | DL_TX_UDP_CKSUM;
	send_pkt(&p);
	n_udp++;
}

/* TCP ACK|PSH segment with fragments; TSO to segsz if segsz > 0. */
static void build_tcp(const struct dl_tx_frag *frags, unsigned nfrags, uint16_t segsz,
		      struct dl_tx_pkt *out)
{
	uint8_t *h;
	struct dl_tx_pkt p = new_pkt(&h);
	size_t payload = 0;

	for (unsigned i = 0; i < nfrags; i++)
		payload += frags[i].len;
	uint8_t *t = l2l3(h, 6, (uint16_t)(20 + 20 + payload), (uint16_t)(200 + n_tcp));
	memset(t, 0, 20);
	put16(t, 5001);
	put16(t + 2, 9);
	put32(t + 4, 1000000 + n_tcp * 100000);
	put32(t + 8, 12345);
	t[12] = 0x50;
	t[13] = 0x18;
	put16(t + 14, 65535);
	p.hdr_len = 14 + 20 + 20;
	p.l4_len = 20;
	p.nfrags = (uint8_t)nfrags;
	memcpy(p.frag, frags, nfrags * sizeof(*frags));
	p.ol_flags = DL_TX_IP_CKSUM | DL_TX_TCP_CKSUM;
	if (segsz > 0 && payload > segsz) {
		p.ol_flags |= DL_TX_TSO;
		p.tso_segsz = segsz;
		n_tcp += (unsigned)((payload + segsz - 1) / segsz);
	} else {
		n_tcp++;
	}
	*out = p;
}

static void send_tcp(const struct dl_tx_frag *frags, unsigned nfrags, uint16_t segsz)
{
	struct dl_tx_pkt p;

	build_tcp(frags, nfrags, segsz, &p);
	send_pkt(&p);
}

/* One tx_burst of `n` 64000-byte TSO packets: more frames than the
 * backend builds per round when it cuts in software. */
static void send_tso_burst(struct dl_region *app, unsigned n)
{
	struct dl_tx_pkt p[16];
	unsigned done = 0;

	for (unsigned i = 0; i < n; i++) {
		struct dl_tx_frag f[2] = {{app->base + 1000 * i, 32000, app->id},
					  {app->base + 500000 + 100 * i, 32000, app->id}};
		build_tcp(f, 2, 1448, &p[i]);
	}
	for (int tries = 0; done < n && tries < 100; tries++)
		done += dl_nic_tx_burst(nic, 0, p + done, (uint16_t)(n - done));
	if (done < n) {
		fprintf(stderr, "nic_tx_check: TSO burst not accepted\n");
		exit(1);
	}
}

/* ICMP echo request with `len` bytes of data after the 8-byte header. */
static void send_icmp(size_t len, const struct dl_tx_frag *frag)
{
	uint8_t *h;
	struct dl_tx_pkt p = new_pkt(&h);
	size_t data = frag != NULL ? frag->len : len;
	uint8_t *c = l2l3(h, 1, (uint16_t)(20 + 8 + data), (uint16_t)(300 + n_icmp));

	c[0] = 8;
	c[1] = 0;
	put16(c + 2, 0);
	put16(c + 4, 0x4242);
	put16(c + 6, (uint16_t)n_icmp);
	if (frag != NULL) {
		p.hdr_len = 14 + 20 + 8;
		p.nfrags = 1;
		p.frag[0] = *frag;
	} else {
		fill(c + 8, len, 3);
		p.hdr_len = (uint16_t)(14 + 20 + 8 + len);
	}
	p.l4_len = 8;
	p.ol_flags = DL_TX_IP_CKSUM | DL_TX_ICMP_CKSUM;
	send_pkt(&p);
	n_icmp++;
}

static int parse_mac(const char *s, uint8_t m[6])
{
	unsigned v[6];

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		m[i] = (uint8_t)v[i];
	return 0;
}

/* Free whatever the kernel sends us (ARP requests for 10.0.0.2, RSTs). */
static void drain_rx(void)
{
	struct dl_rx_pkt pk[32];
	uint16_t n;

	while ((n = dl_nic_rx_burst(nic, 0, pk, 32)) > 0)
		for (uint16_t i = 0; i < n; i++)
			dl_nic_buf_free(nic, pk[i].buf);
}

int main(int argc, char **argv)
{
	int split = 1;
	bool no_hw = false;

	while (split < argc && strcmp(argv[split], "--") != 0)
		split++;
	if (split + 1 >= argc || parse_mac(argv[split + 1], dst_mac) != 0) {
		fprintf(stderr, "usage: %s [EAL args] -- KERNEL_MAC [--no-hw-offload]\n", argv[0]);
		return 2;
	}
	no_hw = split + 2 < argc && strcmp(argv[split + 2], "--no-hw-offload") == 0;
	bool bad_tcp = split + 2 < argc && strcmp(argv[split + 2], "--bad-tcp") == 0;
	if (dl_platform_init(split, argv) != 0)
		return 1;
	struct dl_nic_params np = {.nb_queues = 1, .no_hw_offload = no_hw, .numa_node = -1};
	nic = dl_platform_nic_open(&np);
	if (nic == NULL)
		return 1;
	printf("caps 0x%x tso_max %u\n", nic->caps, nic->tso_max);
	printf("waiting for a line on stdin\n");
	fflush(stdout);
	char line[16];
	if (fgets(line, sizeof(line), stdin) == NULL)
		return 1;

	/* Application TX memory: a registered region, and one left unregistered. */
	struct dl_region *app = dl_region_create("app-tx", 1 << 20, DL_REGION_DMA);
	struct dl_region *unreg = dl_region_create("unreg", 1 << 16, 0);
	static uint8_t priv[4096];
	if (app == NULL || unreg == NULL)
		return 1;
	int rc = nic->ops->mem_register(nic, app);
	printf("mem_register: %d (iova 0x%llx)\n", rc, (unsigned long long)app->iova);
	if (rc != 0)
		return 1;
	fill(app->base, app->len, 11);
	fill(unreg->base, unreg->len, 5);
	fill(priv, sizeof(priv), 9);

	for (int round = 0; round < (bad_tcp ? 0 : 10); round++) {
		struct dl_tx_frag ext[3] = {{app->base + 64, 100, app->id},
					    {app->base + 4096, 500, app->id},
					    {app->base + 9000 + round, 700, app->id}};
		struct dl_tx_frag pv = {priv + round, 300, DL_REGION_NONE};
		struct dl_tx_frag ur = {unreg->base + 10, 400, unreg->id};
		struct dl_tx_frag mixed[3] = {ext[0], pv, ext[1]};
		struct dl_tx_frag big[3] = {{app->base + 100, 1200, app->id},
					    {app->base + 20000, 1500, app->id},
					    {app->base + 50000, 2300 + (uint32_t)round, app->id}};

		send_udp(100, NULL, 0);
		send_udp(0, ext, 3);
		send_udp(20, &pv, 1);
		send_udp(0, &ur, 1);
		send_udp(8, mixed, 3);
		send_tcp(ext, 2, 0);
		/* An echo ring wrapping: the segment's two fragments are the end
		 * and the start of a 64 KiB ring (even lengths, odd positions). */
		struct dl_tx_frag wrap[2] = {{app->base + 131072 - 360, 360, app->id},
					     {app->base + 65536, 1088, app->id}};
		send_tcp(wrap, 2, 0);
		struct dl_tx_frag wrap3[3] = {{app->base + 200001, 88, app->id},
					      {app->base + 131072 - 272, 272, app->id},
					      {app->base + 65536, 1088, app->id}};
		send_tcp(wrap3, 3, 0);
		send_tcp(big, 3, 1000);
		send_tcp(big, 3, 1448);
		send_icmp(56, NULL);
		send_icmp(0, &(struct dl_tx_frag){app->base + 300, 1000, app->id});
		drain_rx();
		usleep(20000);
	}
	if (!bad_tcp) {
		send_tso_burst(app, 12);
		usleep(100000);
		drain_rx();
	}
	if (bad_tcp) {
		uint8_t *h;
		struct dl_tx_pkt p = new_pkt(&h);
		uint8_t *t = l2l3(h, 6, 40, 1);
		memset(t, 0, 20);
		put16(t, 5001);
		put16(t + 2, 9);
		t[12] = 0x50;
		t[13] = 0x10;
		p.hdr_len = 54;
		p.l4_len = 20;
		p.ol_flags = DL_TX_IP_CKSUM; /* TCP checksum left zero: wrong */
		send_pkt(&p);
	}
	usleep(200000);
	drain_rx();
	printf("expect udp=%u tcp=%u icmp=%u\n", n_udp, n_tcp, n_icmp);
	dl_stats_dump(stdout, false);
	fflush(stdout);
	nic->ops->mem_unregister(nic, app);
	dl_nic_close(nic);
	dl_region_destroy(app);
	dl_region_destroy(unreg);
	dl_platform_fini();
	return 0;
}
