/*
 * arch/abi.h (MDE model) - the register-sized integer types of the TILE-Gx
 * ABI, which the descriptor layouts are written in. TILE-Gx is a 64-bit
 * little-endian machine; so is the x86-64 host the model runs on.
 */
#ifndef MDE_MODEL_ARCH_ABI_H
#define MDE_MODEL_ARCH_ABI_H

#include <stdint.h>

/** An unsigned machine register (64 bits on TILE-Gx). */
typedef uint64_t uint_reg_t;
/** A signed machine register. */
typedef int64_t int_reg_t;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the MDE model describes little-endian TILE-Gx descriptors"
#endif

#endif
