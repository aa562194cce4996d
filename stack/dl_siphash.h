/*
 * dl_siphash.h - SipHash (Aumasson & Bernstein, 2012), the keyed hash
 * behind RFC 6528 initial sequence numbers and timestamp offsets
 * (SipHash-2-4) and the connection table (SipHash-1-3, the variant hash
 * tables use: Rust's HashMap, Python's str hash, Linux's hsiphash on
 * 64-bit).
 *
 * A 128-bit secret key and a short message give a 64-bit value that an
 * observer who does not know the key cannot predict, so off-path attackers
 * cannot guess a connection's ISN from the ISNs of other connections, nor
 * compute 4-tuples that collide in the connection table.
 */
#ifndef DL_SIPHASH_H
#define DL_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

/** SipHash-2-4 of len bytes at msg under key (16 bytes). */
uint64_t dl_siphash24(const uint8_t key[16], const void *msg, size_t len);

/** SipHash-c-d (c compression, d finalisation rounds): the reference for tests. */
uint64_t dl_siphash_cd(const uint8_t key[16], unsigned c, unsigned d, const void *msg, size_t len);

static inline uint64_t dl_sip_rotl(uint64_t x, unsigned b)
{
	return (x << b) | (x >> (64 - b));
}

#define DL_SIPROUND(v0, v1, v2, v3)                                                         \
	do {                                                                               \
		v0 += v1;                                                                  \
		v1 = dl_sip_rotl(v1, 13);                                                  \
		v1 ^= v0;                                                                  \
		v0 = dl_sip_rotl(v0, 32);                                                  \
		v2 += v3;                                                                  \
		v3 = dl_sip_rotl(v3, 16);                                                  \
		v3 ^= v2;                                                                  \
		v0 += v3;                                                                  \
		v3 = dl_sip_rotl(v3, 21);                                                  \
		v3 ^= v0;                                                                  \
		v2 += v1;                                                                  \
		v1 = dl_sip_rotl(v1, 17);                                                  \
		v1 ^= v2;                                                                  \
		v2 = dl_sip_rotl(v2, 32);                                                  \
	} while (0)

/**
 * SipHash-1-3 of a 16-byte message given as two little-endian 64-bit
 * words m0, m1, under the key (k0, k1) (the key's two little-endian
 * halves). Equal to dl_siphash_cd(key, 1, 3, bytes, 16).
 */
static inline uint64_t dl_siphash13_2u64(uint64_t k0, uint64_t k1, uint64_t m0, uint64_t m1)
{
	uint64_t v0 = k0 ^ 0x736f6d6570736575ull, v1 = k1 ^ 0x646f72616e646f6dull;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ull, v3 = k1 ^ 0x7465646279746573ull;
	const uint64_t last = (uint64_t)16 << 56;

	v3 ^= m0;
	DL_SIPROUND(v0, v1, v2, v3);
	v0 ^= m0;
	v3 ^= m1;
	DL_SIPROUND(v0, v1, v2, v3);
	v0 ^= m1;
	v3 ^= last;
	DL_SIPROUND(v0, v1, v2, v3);
	v0 ^= last;
	v2 ^= 0xff;
	DL_SIPROUND(v0, v1, v2, v3);
	DL_SIPROUND(v0, v1, v2, v3);
	DL_SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

#endif /* DL_SIPHASH_H */
