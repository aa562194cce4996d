/*
 * kvs_binary.c - memcached binary protocol helpers (see kvs_binary.h).
 *
 * The shape rules per opcode follow memcached's: fixed extras lengths, a key
 * where one is needed and none where not, no value except for storage.
 */
#include "kvs_binary.h"
#include "kvs_store.h"

void kvs_bin_decode(const uint8_t *p, struct kvs_bin_hdr *h)
{
	h->magic = p[0];
	h->opcode = p[1];
	h->keylen = (uint16_t)(p[2] << 8 | p[3]);
	h->extlen = p[4];
	h->datatype = p[5];
	h->vbucket = (uint16_t)(p[6] << 8 | p[7]);
	h->bodylen = kvs_be32(p + 8);
	h->opaque = kvs_be32(p + 12); /* opaque is echoed as raw bytes */
	h->cas = kvs_be64(p + 16);
}

void kvs_bin_encode_res(uint8_t *p, uint8_t opcode, uint16_t keylen, uint8_t extlen,
			uint16_t status, uint32_t bodylen, uint32_t opaque, uint64_t cas)
{
	p[0] = KVS_BIN_RES;
	p[1] = opcode;
	p[2] = (uint8_t)(keylen >> 8);
	p[3] = (uint8_t)keylen;
	p[4] = extlen;
	p[5] = 0; /* raw bytes */
	p[6] = (uint8_t)(status >> 8);
	p[7] = (uint8_t)status;
	kvs_put_be32(p + 8, bodylen);
	kvs_put_be32(p + 12, opaque);
	kvs_put_be64(p + 16, cas);
}

enum kvs_bin_kind kvs_bin_kind(uint8_t op)
{
	switch (op) {
	case KB_GET:
	case KB_GETQ:
	case KB_GETK:
	case KB_GETKQ:
		return KBK_GET;
	case KB_TOUCH:
	case KB_GAT:
	case KB_GATQ:
	case KB_GATK:
	case KB_GATKQ:
		return KBK_GAT;
	case KB_SET:
	case KB_SETQ:
	case KB_ADD:
	case KB_ADDQ:
	case KB_REPLACE:
	case KB_REPLACEQ:
		return KBK_STORE;
	case KB_APPEND:
	case KB_APPENDQ:
	case KB_PREPEND:
	case KB_PREPENDQ:
		return KBK_CONCAT;
	case KB_DELETE:
	case KB_DELETEQ:
		return KBK_DELETE;
	case KB_INCREMENT:
	case KB_INCREMENTQ:
	case KB_DECREMENT:
	case KB_DECREMENTQ:
		return KBK_ARITH;
	case KB_QUIT:
	case KB_QUITQ:
		return KBK_QUIT;
	case KB_FLUSH:
	case KB_FLUSHQ:
		return KBK_FLUSH;
	case KB_NOOP:
		return KBK_NOOP;
	case KB_VERSION:
		return KBK_VERSION;
	case KB_STAT:
		return KBK_STAT;
	case KB_VERBOSITY:
		return KBK_VERBOSITY;
	}
	return KBK_UNKNOWN;
}

bool kvs_bin_quiet(uint8_t op)
{
	switch (op) {
	case KB_GETQ:
	case KB_GETKQ:
	case KB_SETQ:
	case KB_ADDQ:
	case KB_REPLACEQ:
	case KB_DELETEQ:
	case KB_INCREMENTQ:
	case KB_DECREMENTQ:
	case KB_QUITQ:
	case KB_FLUSHQ:
	case KB_APPENDQ:
	case KB_PREPENDQ:
	case KB_GATQ:
	case KB_GATKQ:
		return true;
	}
	return false;
}

bool kvs_bin_with_key(uint8_t op)
{
	return op == KB_GETK || op == KB_GETKQ || op == KB_GATK || op == KB_GATKQ;
}

uint16_t kvs_bin_check(const struct kvs_bin_hdr *h)
{
	enum kvs_bin_kind k = kvs_bin_kind(h->opcode);
	uint64_t fixed = (uint64_t)h->extlen + h->keylen;

	if (k == KBK_UNKNOWN)
		return KB_UNKNOWN_COMMAND;
	if (h->datatype != 0 || fixed > h->bodylen || h->keylen > KVS_KEY_MAX)
		return KB_EINVAL;
	switch (k) {
	case KBK_GET:
	case KBK_DELETE:
		return h->extlen == 0 && h->keylen > 0 && h->bodylen == fixed ? KB_SUCCESS
									      : KB_EINVAL;
	case KBK_GAT:
		return h->extlen == 4 && h->keylen > 0 && h->bodylen == fixed ? KB_SUCCESS
									      : KB_EINVAL;
	case KBK_STORE:
		return h->extlen == 8 && h->keylen > 0 ? KB_SUCCESS : KB_EINVAL;
	case KBK_CONCAT:
		return h->extlen == 0 && h->keylen > 0 ? KB_SUCCESS : KB_EINVAL;
	case KBK_ARITH:
		return h->extlen == 20 && h->keylen > 0 && h->bodylen == fixed ? KB_SUCCESS
									       : KB_EINVAL;
	case KBK_QUIT:
	case KBK_NOOP:
	case KBK_VERSION:
		return h->bodylen == 0 ? KB_SUCCESS : KB_EINVAL;
	case KBK_FLUSH:
		return (h->extlen == 0 || h->extlen == 4) && h->keylen == 0 && h->bodylen == fixed
			   ? KB_SUCCESS
			   : KB_EINVAL;
	case KBK_STAT:
		return h->extlen == 0 && h->bodylen == fixed ? KB_SUCCESS : KB_EINVAL;
	case KBK_VERBOSITY:
		return h->extlen == 4 && h->keylen == 0 && h->bodylen == 4 ? KB_SUCCESS : KB_EINVAL;
	case KBK_UNKNOWN:
		break;
	}
	return KB_UNKNOWN_COMMAND;
}

const char *kvs_bin_status_text(uint16_t status)
{
	switch (status) {
	case KB_SUCCESS:
		return "";
	case KB_KEY_ENOENT:
		return "Not found";
	case KB_KEY_EEXISTS:
		return "Data exists for key.";
	case KB_E2BIG:
		return "Too large.";
	case KB_EINVAL:
		return "Invalid arguments";
	case KB_NOT_STORED:
		return "Not stored.";
	case KB_DELTA_BADVAL:
		return "Non-numeric server-side value for incr or decr";
	case KB_UNKNOWN_COMMAND:
		return "Unknown command";
	case KB_ENOMEM:
		return "Out of memory";
	}
	return "Error";
}
