/*
 * siphash.c - SipHash-c-d (see dl_siphash.h): c compression rounds per
 * 8-byte little-endian message word, d finalisation rounds; SipHash-2-4 is
 * c = 2, d = 4. Written from the paper's description; verified against its
 * published test vectors (test/tcp/test_tcp_misc.c).
 */
#include "dl_siphash.h"

static inline uint64_t rotl(uint64_t x, unsigned b)
{
	return (x << b) | (x >> (64 - b));
}

static inline uint64_t load_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

struct sip_state {
	uint64_t v0, v1, v2, v3;
};

static inline void sip_round(struct sip_state *s)
{
	s->v0 += s->v1;
	s->v1 = rotl(s->v1, 13);
	s->v1 ^= s->v0;
	s->v0 = rotl(s->v0, 32);
	s->v2 += s->v3;
	s->v3 = rotl(s->v3, 16);
	s->v3 ^= s->v2;
	s->v0 += s->v3;
	s->v3 = rotl(s->v3, 21);
	s->v3 ^= s->v0;
	s->v2 += s->v1;
	s->v1 = rotl(s->v1, 17);
	s->v1 ^= s->v2;
	s->v2 = rotl(s->v2, 32);
}

static inline void sip_compress(struct sip_state *s, uint64_t m, unsigned c)
{
	s->v3 ^= m;
	for (unsigned i = 0; i < c; i++)
		sip_round(s);
	s->v0 ^= m;
}

uint64_t dl_siphash_cd(const uint8_t key[16], unsigned c, unsigned d, const void *msg, size_t len)
{
	const uint8_t *p = msg;
	uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
	struct sip_state s = {
	    .v0 = k0 ^ 0x736f6d6570736575ull,
	    .v1 = k1 ^ 0x646f72616e646f6dull,
	    .v2 = k0 ^ 0x6c7967656e657261ull,
	    .v3 = k1 ^ 0x7465646279746573ull,
	};
	size_t left = len;
	uint64_t last;

	for (; left >= 8; left -= 8, p += 8)
		sip_compress(&s, load_le64(p), c);
	/* Final word: the remaining bytes, length mod 256 in the top byte. */
	last = (uint64_t)(len & 0xff) << 56;
	for (size_t i = 0; i < left; i++)
		last |= (uint64_t)p[i] << (8 * i);
	sip_compress(&s, last, c);
	s.v2 ^= 0xff;
	for (unsigned i = 0; i < d; i++)
		sip_round(&s);
	return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

uint64_t dl_siphash24(const uint8_t key[16], const void *msg, size_t len)
{
	return dl_siphash_cd(key, 2, 4, msg, len);
}
