/*
 * kvs_binary.h - memcached binary protocol: header decoding, request shape
 * checks and response header encoding. Pure functions, no I/O.
 *
 * A request is a 24-byte header (magic 0x80, opcode, key length, extras
 * length, data type, vbucket, total body length, opaque, cas; multi-byte
 * fields in network order) followed by extras, key and value. Responses
 * (magic 0x81) echo the opcode and opaque. Quiet variants (GETQ, SETQ, ...)
 * send nothing on success (GETQ/GETKQ: nothing on a miss).
 */
#ifndef KVS_BINARY_H
#define KVS_BINARY_H

#include <stdbool.h>
#include <stdint.h>

#define KVS_BIN_HDR 24
#define KVS_BIN_REQ 0x80
#define KVS_BIN_RES 0x81

enum kvs_bin_op {
	KB_GET = 0x00,
	KB_SET = 0x01,
	KB_ADD = 0x02,
	KB_REPLACE = 0x03,
	KB_DELETE = 0x04,
	KB_INCREMENT = 0x05,
	KB_DECREMENT = 0x06,
	KB_QUIT = 0x07,
	KB_FLUSH = 0x08,
	KB_GETQ = 0x09,
	KB_NOOP = 0x0a,
	KB_VERSION = 0x0b,
	KB_GETK = 0x0c,
	KB_GETKQ = 0x0d,
	KB_APPEND = 0x0e,
	KB_PREPEND = 0x0f,
	KB_STAT = 0x10,
	KB_SETQ = 0x11,
	KB_ADDQ = 0x12,
	KB_REPLACEQ = 0x13,
	KB_DELETEQ = 0x14,
	KB_INCREMENTQ = 0x15,
	KB_DECREMENTQ = 0x16,
	KB_QUITQ = 0x17,
	KB_FLUSHQ = 0x18,
	KB_APPENDQ = 0x19,
	KB_PREPENDQ = 0x1a,
	KB_VERBOSITY = 0x1b,
	KB_TOUCH = 0x1c,
	KB_GAT = 0x1d,
	KB_GATQ = 0x1e,
	KB_GATK = 0x23,
	KB_GATKQ = 0x24,
};

enum kvs_bin_status {
	KB_SUCCESS = 0x00,
	KB_KEY_ENOENT = 0x01,
	KB_KEY_EEXISTS = 0x02,
	KB_E2BIG = 0x03,
	KB_EINVAL = 0x04,
	KB_NOT_STORED = 0x05,
	KB_DELTA_BADVAL = 0x06,
	KB_UNKNOWN_COMMAND = 0x81,
	KB_ENOMEM = 0x82,
};

struct kvs_bin_hdr {
	uint8_t magic, opcode, extlen, datatype;
	uint16_t keylen, vbucket; /* vbucket: status in responses */
	uint32_t bodylen, opaque;
	uint64_t cas;
};

/** Decode 24 header bytes (network order -> host). */
void kvs_bin_decode(const uint8_t *p, struct kvs_bin_hdr *h);

/** Encode a response header into 24 bytes at p. */
void kvs_bin_encode_res(uint8_t *p, uint8_t opcode, uint16_t keylen, uint8_t extlen,
			uint16_t status, uint32_t bodylen, uint32_t opaque, uint64_t cas);

/** What kind of request an opcode is. */
enum kvs_bin_kind {
	KBK_UNKNOWN = 0,
	KBK_GET,    /* get, getq, getk, getkq */
	KBK_GAT,    /* touch, gat, gatq, gatk, gatkq */
	KBK_STORE,  /* set, add, replace (+q): 8 bytes of extras, value */
	KBK_CONCAT, /* append, prepend (+q): value */
	KBK_DELETE,
	KBK_ARITH, /* increment, decrement (+q): 20 bytes of extras */
	KBK_QUIT,
	KBK_FLUSH,
	KBK_NOOP,
	KBK_VERSION,
	KBK_STAT,
	KBK_VERBOSITY,
};

enum kvs_bin_kind kvs_bin_kind(uint8_t opcode);

/** True for the quiet opcodes. */
bool kvs_bin_quiet(uint8_t opcode);

/** True for the opcodes whose response carries the key (getk, getkq, gatk, gatkq). */
bool kvs_bin_with_key(uint8_t opcode);

/**
 * Check a request header against its opcode: KB_SUCCESS, KB_UNKNOWN_COMMAND
 * or KB_EINVAL (bad magic is the caller's protocol error). The value length
 * of storage requests is bodylen - extlen - keylen.
 */
uint16_t kvs_bin_check(const struct kvs_bin_hdr *h);

/** The text of an error status, sent as the body of error responses. */
const char *kvs_bin_status_text(uint16_t status);

/** Big-endian loads and stores. */
static inline uint32_t kvs_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t kvs_be64(const uint8_t *p)
{
	return (uint64_t)kvs_be32(p) << 32 | kvs_be32(p + 4);
}

static inline void kvs_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void kvs_put_be64(uint8_t *p, uint64_t v)
{
	kvs_put_be32(p, (uint32_t)(v >> 32));
	kvs_put_be32(p + 4, (uint32_t)v);
}

#endif
