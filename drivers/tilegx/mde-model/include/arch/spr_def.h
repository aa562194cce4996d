/*
 * arch/spr_def.h (MDE model) - the special-purpose registers the UDN code
 * reads, with the numbers binutils' TILE-Gx opcode table gives them, and
 * __insn_mfspr(), which on TILE-Gx is a compiler builtin and in the model a
 * function answering from the model's UDN state.
 *
 * What the model returns (its own definition: the hardware's exact field
 * layout is for docs/tilegx.md's list of things only hardware can tell):
 *
 *   SPR_UDN_DEMUX_COUNT_0..3  words waiting in demux queue 0..3 of the
 *                             calling tile;
 *   SPR_UDN_SP_FIFO_CNT       free words in the calling tile's switch FIFO
 *                             (the "FIFO credit" of the paper's §4.3): a
 *                             packet of n words including its header never
 *                             stalls when n <= this value;
 *   SPR_UDN_DATA_AVAIL        bit q set when demux queue q is not empty;
 *   SPR_TILE_COORD            x in bits 0..7, y in bits 8..15 (model
 *                             layout) of the calling tile.
 *
 * Reading any other SPR, or reading from a thread that is not bound to a
 * tile, is reported as a guest error and returns 0.
 */
#ifndef MDE_MODEL_ARCH_SPR_DEF_H
#define MDE_MODEL_ARCH_SPR_DEF_H

#include <stdint.h>

#define SPR_UDN_DEMUX_COUNT_0 0x0b05
#define SPR_UDN_DEMUX_COUNT_1 0x0b06
#define SPR_UDN_DEMUX_COUNT_2 0x0b07
#define SPR_UDN_DEMUX_COUNT_3 0x0b08
#define SPR_UDN_PENDING	      0x0b0a
#define SPR_UDN_SP_FIFO_CNT   0x0b0c
#define SPR_UDN_DATA_AVAIL    0x0b80
#define SPR_UDN_AVAIL_EN      0x1b05
#define SPR_TILE_COORD	      0x270b

#ifdef __cplusplus
extern "C" {
#endif

/** Read a special-purpose register of the calling tile (model). */
uint64_t __insn_mfspr(int spr);

#ifdef __cplusplus
}
#endif

#endif
