/*
 * toeplitz.c - software Toeplitz hash, bit-exact with what an RSS NIC
 * computes. Used to predict which queue (net core) a flow's packets reach,
 * so active opens can pick a source port whose replies come back to the
 * opening core, and so a net core can tell a packet it does not own.
 */
#include "dl_hal.h"

#include <string.h>

const uint8_t dl_rss_key[40] = {
	0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
	0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
	0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
};

/* Hash `len` input bytes: for every set input bit, XOR in the 32-bit window
 * of the key starting at that bit position. */
static uint32_t toeplitz(const uint8_t key[40], const uint8_t *in, unsigned len)
{
	uint32_t hash = 0;
	uint32_t window = (uint32_t)key[0] << 24 | (uint32_t)key[1] << 16 |
			  (uint32_t)key[2] << 8 | key[3];

	for (unsigned i = 0; i < len; i++) {
		uint8_t next = i + 4 < 40 ? key[i + 4] : 0;
		for (int bit = 7; bit >= 0; bit--) {
			if (in[i] & (1u << bit))
				hash ^= window;
			window = (window << 1) | ((next >> bit) & 1u);
		}
	}
	return hash;
}

uint32_t dl_toeplitz_ipv4(const uint8_t key[40], uint32_t sip_be, uint32_t dip_be,
			  uint16_t sport_be, uint16_t dport_be)
{
	uint8_t in[12];

	memcpy(in, &sip_be, 4);
	memcpy(in + 4, &dip_be, 4);
	memcpy(in + 8, &sport_be, 2);
	memcpy(in + 10, &dport_be, 2);
	return toeplitz(key, in, sizeof(in));
}
