/*
 * fuzz_input.h - reading a fuzz input as a stream of small decisions.
 *
 * Every target interprets its input as a script: each call below takes the
 * next bytes and turns them into a value of the wanted type or range. An
 * exhausted input yields zeros, so every byte string is a valid script and
 * libFuzzer's mutations (flip, insert, cross over) map to small changes of
 * the script. Multi-byte values are little-endian.
 */
#ifndef FUZZ_INPUT_H
#define FUZZ_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libFuzzer's entry points, defined by each target. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz {
	const uint8_t *p;
	size_t n;
};

static inline bool fz_left(const struct fz *f)
{
	return f->n > 0;
}

static inline uint8_t fz_u8(struct fz *f)
{
	if (f->n == 0)
		return 0;
	f->n--;
	return *f->p++;
}

static inline uint16_t fz_u16(struct fz *f)
{
	uint16_t lo = fz_u8(f);

	return (uint16_t)(lo | (uint16_t)fz_u8(f) << 8);
}

static inline uint32_t fz_u32(struct fz *f)
{
	uint32_t lo = fz_u16(f);

	return lo | (uint32_t)fz_u16(f) << 16;
}

static inline uint64_t fz_u64(struct fz *f)
{
	uint64_t lo = fz_u32(f);

	return lo | (uint64_t)fz_u32(f) << 32;
}

static inline bool fz_bool(struct fz *f)
{
	return (fz_u8(f) & 1) != 0;
}

/** A value in [lo, hi] from one byte (ranges up to 256 values) or more. */
static inline uint32_t fz_range(struct fz *f, uint32_t lo, uint32_t hi)
{
	uint64_t span = (uint64_t)hi - lo + 1;
	uint32_t v = span <= 256 ? fz_u8(f) : span <= 65536 ? fz_u16(f) : fz_u32(f);

	return lo + (uint32_t)(v % span);
}

/** A signed step: mostly small (-8..7), sometimes a full 32-bit value. */
static inline int32_t fz_delta(struct fz *f)
{
	uint8_t b = fz_u8(f);

	if (b < 240)
		return (int32_t)(b & 15) - 8;
	if (b < 252)
		return (int32_t)fz_u16(f) - 32768;
	return (int32_t)fz_u32(f);
}

/** Up to @p max bytes, a length byte first; returns a pointer into the input. */
static inline const uint8_t *fz_bytes(struct fz *f, size_t max, size_t *len)
{
	size_t n = fz_u8(f);
	const uint8_t *p = f->p;

	if (n == 255)
		n = fz_u16(f);
	if (n > max)
		n = max;
	if (n > f->n)
		n = f->n;
	p = f->p;
	f->p += n;
	f->n -= n;
	*len = n;
	return p;
}

/** Abort with a message: a fuzz target's oracle found a violation. */
#define FZ_CHECK(cond, ...)                                                                        \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);   \
			fprintf(stderr, __VA_ARGS__);                                              \
			fprintf(stderr, "\n");                                                     \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#endif /* FUZZ_INPUT_H */
