/*
 * tmc/udn.h (MDE model) - the user dynamic network, as the Tilera MDE
 * declares it (the part a UDN transport uses).
 *
 * The model (udn.c) gives every tile four demux queues and a switch FIFO
 * of finite capacity (MDE_MODEL_UDN_FIFO words, default 16, and
 * MDE_MODEL_UDN_DEMUX words per queue, default 32). A packet is a header
 * word plus at most 126 data words; its words enter the sender's switch
 * FIFO and move to the destination demux queue, and a packet that has
 * started entering a tile is finished before any other enters it (wormhole:
 * never interleaved). A send finding the FIFO full blocks the sending
 * thread until there is room, as the hardware stalls the pipeline, and the
 * model counts the stall; a receive from an empty queue blocks too. A
 * watchdog aborts the process when a send stays stalled longer than
 * MDE_MODEL_UDN_WATCHDOG_MS (default 5000). Sending or receiving outside
 * the hardwall made by tmc_udn_init(), or from a thread that has not
 * called tmc_udn_activate(), raises SIGILL, as the hardware's firewall
 * does.
 */
#ifndef MDE_MODEL_TMC_UDN_H
#define MDE_MODEL_TMC_UDN_H

#include <stdint.h>
#include <tmc/cpus.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A UDN packet header (model layout: destination tile and demux tag). */
typedef union {
	struct {
		uint64_t dest_x : 8;
		uint64_t dest_y : 8;
		uint64_t demux : 8;
		uint64_t length : 8;
		uint64_t reserved : 32;
	} bits;
	uint64_t word;
} DynamicHeader;

#define UDN0_DEMUX_TAG	   0
#define UDN1_DEMUX_TAG	   1
#define UDN2_DEMUX_TAG	   2
#define UDN3_DEMUX_TAG	   3
#define TMC_UDN0_DEMUX_TAG UDN0_DEMUX_TAG
#define TMC_UDN1_DEMUX_TAG UDN1_DEMUX_TAG
#define TMC_UDN2_DEMUX_TAG UDN2_DEMUX_TAG
#define TMC_UDN3_DEMUX_TAG UDN3_DEMUX_TAG

/** Largest data words in one packet. */
#define TMC_UDN_MAX_PACKET_WORDS 126

/** Make the hardwall: the smallest rectangle holding cpus (NULL: my affinity). */
int tmc_udn_init(cpu_set_t *cpus);
/** Forget the hardwall. */
int tmc_udn_close(void);
/** Let the calling thread (bound to one cpu inside the hardwall) use the UDN. */
int tmc_udn_activate(void);
/** The header that routes a packet to cpu. */
DynamicHeader tmc_udn_header_from_cpu(int cpu);

/** Send a packet of `words` (at most 126) words from buf. */
void tmc_udn_send_buffer(DynamicHeader dest, unsigned long tag, const void *buf,
			 unsigned long words);
void tmc_udn_send_1(DynamicHeader dest, uint32_t tag, uint64_t n0);
void tmc_udn_send_2(DynamicHeader dest, uint32_t tag, uint64_t n0, uint64_t n1);
void tmc_udn_send_3(DynamicHeader dest, uint32_t tag, uint64_t n0, uint64_t n1, uint64_t n2);
void tmc_udn_send_4(DynamicHeader dest, uint32_t tag, uint64_t n0, uint64_t n1, uint64_t n2,
		    uint64_t n3);

/** Receive one word from demux queue 0..3 (blocks while the queue is empty). */
uint64_t tmc_udn0_receive(void);
uint64_t tmc_udn1_receive(void);
uint64_t tmc_udn2_receive(void);
uint64_t tmc_udn3_receive(void);

/** Receive `words` words from a demux queue into buf (blocking). */
void tmc_udn0_receive_buffer(void *buf, unsigned long words);
void tmc_udn1_receive_buffer(void *buf, unsigned long words);
void tmc_udn2_receive_buffer(void *buf, unsigned long words);
void tmc_udn3_receive_buffer(void *buf, unsigned long words);

/** Words waiting in demux queue 0..3 (never blocks). */
unsigned int tmc_udn0_available_count(void);
unsigned int tmc_udn1_available_count(void);
unsigned int tmc_udn2_available_count(void);
unsigned int tmc_udn3_available_count(void);

/** Bit q set when demux queue q has a word. */
unsigned int tmc_udn_available_mask(void);

#ifdef __cplusplus
}
#endif

#endif
