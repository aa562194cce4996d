/*
 * dl_msg.h - the NoC message format: Table 1 events and commands (plus the
 * net-core internal messages) as packets of 64-bit words.
 *
 * The same format travels on the TILE-Gx UDN (word-oriented packets of at
 * most 126 words) and on the x86 emulation (dl_chan.h); the codec knows
 * nothing about the transport.
 *
 * Header word (every message):
 *
 *     bits  0-7   type (enum dl_msg_type, 0 is invalid)
 *     bits  8-15  total word count including the header, 1..126
 *     bits 16-27  net core index (< DL_MAX_CORES, at most 4096)
 *     bits 28-31  reserved, 0
 *     bits 32-63  connection id (0 when the type has none)
 *
 * A connection is named <net core, id>. Payload words follow the header; the
 * exact layout of each type is documented at enum dl_msg_type and in
 * docs/noc.md. Arrays (NEW_DATA, SEND) are 1..125 "ref" words:
 *
 *     bits  0-39  offset into a memory region
 *     bits 40-55  length, 1..65535 (0 is invalid)
 *     bits 56-62  region id, 0..126
 *     bit  63     SEND: "more data follows soon" hint; NEW_DATA: must be 0
 *
 * Encoders (dl_msg_enc_*) write a message into a caller buffer of at least
 * DL_MSG_MAX_WORDS words and return its word count, or -EINVAL when an
 * argument does not fit the format. dl_msg_decode() validates every bit of
 * a message; it never reads past @p avail words and never has undefined
 * behaviour, whatever the input. The canonical-form property holds: a
 * message accepted by dl_msg_decode() re-encodes (dl_msg_encode()) to
 * exactly the same words.
 *
 * Thread-safety: all functions are pure (no shared state).
 */
#ifndef DL_MSG_H
#define DL_MSG_H

#include <stdbool.h>
#include <stdint.h>

#include "dl_hal.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Largest message, header included (the UDN packet limit). */
#define DL_MSG_MAX_WORDS 126
/** Largest NEW_DATA / SEND array. */
#define DL_MSG_MAX_REFS (DL_MSG_MAX_WORDS - 1)
/** Largest ACKED_NEW_DATA / SEND_RECV_DONE array (one word goes to the byte count). */
#define DL_MSG_MAX_REFS_PAIRED (DL_MSG_MAX_WORDS - 2)

/** Ref word limits. */
#define DL_MSG_REF_OFF_MAX    ((UINT64_C(1) << 40) - 1)
#define DL_MSG_REF_LEN_MAX    65535u
#define DL_MSG_REF_REGION_MAX 126u

/**
 * Message types. Payload words are listed after the header word; "rest 0"
 * means the unnamed bits of that word are reserved and must be zero.
 */
enum dl_msg_type {
	DL_MSG_INVALID = 0,
	/* ---- events: net core -> application core ---- */
	/** 1 word: local (listen) port 0-15 | peer port 16-31 | peer IPv4 32-63 (host order). */
	DL_MSG_NEW_CONN = 1,
	/** 1 word: the cookie given to CONNECT. Header id: the new connection. */
	DL_MSG_CONNECTED = 2,
	/** 2 words: cookie; errno 0-31 (positive, < 2^31), rest 0. Header id 0. */
	DL_MSG_CONNECT_FAILED = 3,
	/** 1..125 ref words (flag bit 0): received data, zero-copy in the RX region. */
	DL_MSG_NEW_DATA = 4,
	/** 1 word: bytes acknowledged 0-31, rest 0. */
	DL_MSG_DATA_ACKED = 5,
	/** 1 word: reason 0-31 (enum dl_msg_close_reason), rest 0. */
	DL_MSG_REMOTE_CLOSED = 6,
	/** 0 words: the connection is gone, its resources may be freed. */
	DL_MSG_CLEANUP = 7,
	/**
	 * 2 words: failed command type 0-7 | errno 8-23 (positive), rest 0;
	 * context (the CONNECT cookie, the LISTEN port, or 0). Header id: the
	 * failed command's id (0 for LISTEN/CONNECT).
	 */
	DL_MSG_CMD_ERROR = 8,
	/* ---- commands: application core -> net core ---- */
	/** 1 word: port 0-15 | backlog 16-47, rest 0. Header id 0. */
	DL_MSG_LISTEN = 9,
	/** 1 word: listen port 0-15, rest 0. Header id: the offered connection. */
	DL_MSG_ACCEPT = 10,
	/** 2 words: cookie; dst IPv4 0-31 (host order) | dst port 32-47, rest 0. Header id 0. */
	DL_MSG_CONNECT = 11,
	/** 1 word: bytes consumed 0-31, rest 0 (returns RX buffers, opens the window). */
	DL_MSG_RECV_DONE = 12,
	/** 1..125 ref words into the application's TX region; flag = "more follows". */
	DL_MSG_SEND = 13,
	/** 1 word: how 0-31 (enum dl_msg_shut_how), rest 0. */
	DL_MSG_SHUTDOWN = 14,
	/** 0 words: close and free the connection. */
	DL_MSG_CLOSE = 15,
	/* ---- internal: net core -> net core only ---- */
	/**
	 * 5 words, a struct dl_rx_pkt field by field: data pointer; len 0-31 |
	 * hash 32-63; flags 0-31 | region 32-47 | queue 48-63; scratch pointer;
	 * buf pointer. Header id 0. data != NULL, len > 0, region <
	 * DL_REGION_MAX, only known DL_RX_* flags.
	 */
	DL_MSG_PKT_HANDOFF = 16,
	/**
	 * 2 words: IPv4 0-31 (host order, != 0), rest 0; MAC bytes 0..5 in bits
	 * 0-47 (byte i in bits 8i..8i+7; unicast, not all-zero), rest 0.
	 * Header id 0.
	 */
	DL_MSG_ARP_LEARN = 17,
	/* ---- paired messages: two per-request messages in one ---- */
	/**
	 * Event, 1 + 1..124 words: bytes acknowledged 0-31 (!= 0), rest 0;
	 * then ref words as NEW_DATA. Means DATA_ACKED(bytes) followed by
	 * NEW_DATA(refs) on the same connection (the common case: the peer's
	 * next request acknowledges the previous response).
	 */
	DL_MSG_ACKED_NEW_DATA = 18,
	/**
	 * Command, 1 + 1..124 words: bytes consumed 0-31 (!= 0), rest 0; then
	 * ref words as SEND. Means SEND(refs) and RECV_DONE(bytes) on the same
	 * connection (an application answering what it just received); each
	 * half fails on its own, with the CMD_ERROR of SEND or RECV_DONE.
	 */
	DL_MSG_SEND_RECV_DONE = 19,
	DL_MSG_NTYPES /**< one past the last type */
};

/** Message classes, usable as bit masks (dl_noc_set_accept()). */
enum dl_msg_class {
	DL_MSG_CLASS_INVALID = 0,
	DL_MSG_CLASS_EVENT = 1u << 0,	 /**< net -> app */
	DL_MSG_CLASS_COMMAND = 1u << 1,	 /**< app -> net */
	DL_MSG_CLASS_INTERNAL = 1u << 2, /**< net -> net, never accepted from an application */
	DL_MSG_CLASS_ALL = 7u,
};

/** REMOTE_CLOSED reasons. */
enum dl_msg_close_reason {
	DL_MSG_CLOSE_FIN = 0,
	DL_MSG_CLOSE_RESET = 1,
	DL_MSG_CLOSE_TIMEOUT = 2,
	DL_MSG_CLOSE_ABORT = 3,
};

/** SHUTDOWN modes (same values as SHUT_RD/SHUT_WR/SHUT_RDWR). */
enum dl_msg_shut_how {
	DL_SHUT_RD = 0,
	DL_SHUT_WR = 1,
	DL_SHUT_RDWR = 2,
};

/** Unpacked ref word. */
struct dl_msg_ref {
	uint64_t off;	/**< byte offset in the region, < 2^40 */
	uint32_t len;	/**< bytes, 1..65535 */
	uint8_t region; /**< region id, 0..126 */
	bool more;	/**< SEND: more data follows soon; NEW_DATA: false */
};

/**
 * A decoded message. Array payloads (NEW_DATA, SEND) point into the words
 * that were decoded: they stay valid as long as that buffer does.
 */
struct dl_msg {
	uint8_t type;	/**< enum dl_msg_type */
	uint8_t nwords; /**< total words including the header */
	uint16_t core;	/**< net core index */
	uint32_t conn;	/**< connection id */
	union {
		struct {
			uint16_t local_port, peer_port;
			uint32_t peer_ip; /**< host order */
		} new_conn;
		struct {
			uint64_t cookie;
		} connected;
		struct {
			uint64_t cookie;
			int err; /**< positive errno */
		} connect_failed;
		struct {
			const uint64_t *refs; /**< packed ref words, see dl_msg_ref_unpack() */
			unsigned n;	      /**< 1..DL_MSG_MAX_REFS */
			/** ACKED_NEW_DATA: bytes acknowledged; SEND_RECV_DONE: bytes
			 *  consumed; 0 for NEW_DATA and SEND. */
			uint32_t bytes;
		} data; /**< NEW_DATA, SEND and the paired types */
		struct {
			uint32_t bytes;
		} data_acked;
		struct {
			unsigned reason; /**< enum dl_msg_close_reason */
		} remote_closed;
		struct {
			unsigned cmd; /**< type of the failed command */
			int err;      /**< positive errno, < 65536 */
			uint64_t context;
		} cmd_error;
		struct {
			uint16_t port;
			uint32_t backlog;
		} listen;
		struct {
			uint16_t port;
		} accept;
		struct {
			uint64_t cookie;
			uint32_t ip; /**< host order */
			uint16_t port;
		} connect;
		struct {
			uint32_t bytes;
		} recv_done;
		struct {
			unsigned how; /**< enum dl_msg_shut_how */
		} shutdown;
		struct dl_rx_pkt handoff;
		struct {
			uint32_t ip; /**< host order */
			uint8_t mac[6];
		} arp_learn;
	} u;
};

/* ---- header and ref words ---- */

/** Build a header word (no validation; use the encoders). */
static inline uint64_t dl_msg_hdr(unsigned type, unsigned nwords, unsigned core, uint32_t conn)
{
	return (uint64_t)(type & 0xff) | (uint64_t)(nwords & 0xff) << 8 |
	       (uint64_t)(core & 0xfff) << 16 | (uint64_t)conn << 32;
}

static inline unsigned dl_msg_hdr_type(uint64_t h)
{
	return (unsigned)(h & 0xff);
}

/** Word count announced by a header (what framing uses; 0 is invalid). */
static inline unsigned dl_msg_hdr_words(uint64_t h)
{
	return (unsigned)((h >> 8) & 0xff);
}

static inline unsigned dl_msg_hdr_core(uint64_t h)
{
	return (unsigned)((h >> 16) & 0xfff);
}

static inline uint32_t dl_msg_hdr_conn(uint64_t h)
{
	return (uint32_t)(h >> 32);
}

/** True when a ref can be packed (offset, length and region in range). */
static inline bool dl_msg_ref_ok(const struct dl_msg_ref *r)
{
	return r->off <= DL_MSG_REF_OFF_MAX && r->len >= 1 && r->len <= DL_MSG_REF_LEN_MAX &&
	       r->region <= DL_MSG_REF_REGION_MAX;
}

/** Pack a ref word (the caller checked dl_msg_ref_ok()). */
static inline uint64_t dl_msg_ref_pack(const struct dl_msg_ref *r)
{
	return (r->off & DL_MSG_REF_OFF_MAX) | (uint64_t)(r->len & 0xffff) << 40 |
	       (uint64_t)(r->region & 0x7f) << 56 | (uint64_t)(r->more ? 1 : 0) << 63;
}

/** Unpack a ref word (of a decoded, hence valid, message). */
static inline struct dl_msg_ref dl_msg_ref_unpack(uint64_t w)
{
	struct dl_msg_ref r = {
	    .off = w & DL_MSG_REF_OFF_MAX,
	    .len = (uint32_t)((w >> 40) & 0xffff),
	    .region = (uint8_t)((w >> 56) & 0x7f),
	    .more = (w >> 63) != 0,
	};
	return r;
}

/**
 * Finish a ref-array message (NEW_DATA, SEND, or a paired type) built in
 * place: w[1 + lead ..] holds @p n ref words packed with dl_msg_ref_pack()
 * from refs that pass dl_msg_ref_ok() (without the flag for the event
 * types), where lead is 1 for the paired types, whose w[1] holds the byte
 * count (1 .. 2^32-1), and 0 otherwise; 1 <= n <= DL_MSG_MAX_REFS - lead,
 * core < DL_MAX_CORES. Writes the header; returns the word count. Nothing
 * is checked: this is for per-request paths that build refs from memory
 * they verified (the dl_msg_enc_*() encoders check everything).
 */
static inline unsigned dl_msg_finish_refs(uint64_t *w, unsigned type, unsigned core,
					  uint32_t conn, unsigned n)
{
	unsigned words = n + 1 + (type == DL_MSG_ACKED_NEW_DATA || type == DL_MSG_SEND_RECV_DONE);

	w[0] = dl_msg_hdr(type, words, core, conn);
	return words;
}

/* ---- type information ---- */

/** Name of a type ("send", "new_data", ...), "invalid" for unknown values. */
const char *dl_msg_type_name(unsigned type);

/** Class of every type value (0 for invalid and unknown types). */
extern const uint8_t dl_msg_class_of[256];

/** Class of a type; DL_MSG_CLASS_INVALID for 0 and unknown values. */
static inline enum dl_msg_class dl_msg_class(unsigned type)
{
	return type < 256 ? (enum dl_msg_class)dl_msg_class_of[type] : DL_MSG_CLASS_INVALID;
}

/* ---- decoding and generic encoding ---- */

/**
 * Decode and validate the message at @p w.
 * @param avail words readable at @p w (the decoder never reads beyond).
 * @return the words consumed (the message's word count, > 0) or:
 *   -ENODATA  @p avail is 0 or smaller than the announced word count;
 *   -ENOMSG   type 0 or unknown;
 *   -EBADMSG  word count 0, above DL_MSG_MAX_WORDS or wrong for the type;
 *   -EINVAL   a field is invalid: reserved bits set, core index out of
 *             range, connection id where the type has none, ref length 0 or
 *             region > 126, NEW_DATA flag set, unknown close reason or
 *             shutdown mode, errno out of range, bad handoff/ARP fields.
 */
int dl_msg_decode(const uint64_t *w, unsigned avail, struct dl_msg *out);

/**
 * The per-request fast path of dl_msg_decode(): decodes @p w when it is a
 * valid ACKED_NEW_DATA or SEND_RECV_DONE, with the very checks of
 * dl_msg_decode() (header: word count 3..DL_MSG_MAX_WORDS and <= @p avail,
 * reserved bits 0, core index in range; byte count word 1..2^32-1; each ref
 * word: length != 0, region <= 126, no flag in an ACKED_NEW_DATA), without
 * the type table and the per-type dispatch.
 * @return the word count when it decoded the message into @p out, or 0
 *         when it did not (another type, or any check failed): then
 *         dl_msg_decode() decides, and reports the error. A message this
 *         function accepts is one dl_msg_decode() accepts, decoded the same.
 */
static inline unsigned dl_msg_decode_paired(const uint64_t *w, unsigned avail, struct dl_msg *out)
{
	uint64_t h, flag_bad;
	unsigned n;

	if (avail < 3)
		return 0;
	h = w[0];
	n = dl_msg_hdr_words(h);
	/* Type 18 or 19 (they differ in bit 0 only) with the reserved bits
	 * 28-31 clear, in one compare; then 3 <= n <= min(126, avail). */
	_Static_assert((DL_MSG_ACKED_NEW_DATA | 1) == DL_MSG_SEND_RECV_DONE,
		       "the paired types differ in bit 0 only");
	if ((h & (UINT64_C(0xf) << 28 | 0xfe)) != DL_MSG_ACKED_NEW_DATA ||
	    n - 3 > DL_MSG_MAX_WORDS - 3 || n > avail || dl_msg_hdr_core(h) >= DL_MAX_CORES)
		return 0;
	if (w[1] - 1 > UINT64_C(0xfffffffe)) /* byte count 0, or above 32 bits */
		return 0;
	/* Ref words: length (bits 40-55) != 0, region (56-62) != 127, and
	 * the flag (bit 63) only in a SEND_RECV_DONE (type bit 0 set). */
	flag_bad = (~h & 1) << 63;
	for (unsigned i = 2; i < n; i++) {
		uint64_t r = w[i];

		if ((r & UINT64_C(0xffff) << 40) == 0 ||
		    (r & UINT64_C(0x7f) << 56) == UINT64_C(0x7f) << 56 || (r & flag_bad) != 0)
			return 0;
	}
	out->type = (uint8_t)h;
	out->nwords = (uint8_t)n;
	out->core = (uint16_t)dl_msg_hdr_core(h);
	out->conn = dl_msg_hdr_conn(h);
	out->u.data.refs = w + 2;
	out->u.data.n = n - 2;
	out->u.data.bytes = (uint32_t)w[1];
	return n;
}

/**
 * Encode @p m (type, core, conn and the payload for its type; nwords is
 * ignored) into @p w.
 * @param room words writable at @p w.
 * @return the word count or -EINVAL (a field does not fit or is invalid),
 *         -ENOSPC (@p room too small).
 */
int dl_msg_encode(uint64_t *w, unsigned room, const struct dl_msg *m);

/* ---- typed encoders: @p w has room for DL_MSG_MAX_WORDS words ---- */

int dl_msg_enc_new_conn(uint64_t *w, unsigned core, uint32_t conn, uint16_t local_port,
			uint16_t peer_port, uint32_t peer_ip);
int dl_msg_enc_connected(uint64_t *w, unsigned core, uint32_t conn, uint64_t cookie);
int dl_msg_enc_connect_failed(uint64_t *w, unsigned core, uint64_t cookie, int err);
/** @p refs: 1..DL_MSG_MAX_REFS refs, none with the more flag. */
int dl_msg_enc_new_data(uint64_t *w, unsigned core, uint32_t conn, const struct dl_msg_ref *refs,
			unsigned n);
int dl_msg_enc_data_acked(uint64_t *w, unsigned core, uint32_t conn, uint32_t bytes);
int dl_msg_enc_remote_closed(uint64_t *w, unsigned core, uint32_t conn, unsigned reason);
int dl_msg_enc_cleanup(uint64_t *w, unsigned core, uint32_t conn);
int dl_msg_enc_cmd_error(uint64_t *w, unsigned core, uint32_t conn, unsigned cmd, int err,
			 uint64_t context);
int dl_msg_enc_listen(uint64_t *w, unsigned core, uint16_t port, uint32_t backlog);
int dl_msg_enc_accept(uint64_t *w, unsigned core, uint32_t conn, uint16_t listen_port);
int dl_msg_enc_connect(uint64_t *w, unsigned core, uint64_t cookie, uint32_t ip, uint16_t port);
int dl_msg_enc_recv_done(uint64_t *w, unsigned core, uint32_t conn, uint32_t bytes);
/** @p refs: 1..DL_MSG_MAX_REFS refs into the application's TX region. */
int dl_msg_enc_send(uint64_t *w, unsigned core, uint32_t conn, const struct dl_msg_ref *refs,
		    unsigned n);
/** DATA_ACKED(@p acked) + NEW_DATA(@p refs): 1..DL_MSG_MAX_REFS_PAIRED refs, acked != 0. */
int dl_msg_enc_acked_new_data(uint64_t *w, unsigned core, uint32_t conn, uint32_t acked,
			      const struct dl_msg_ref *refs, unsigned n);
/** SEND(@p refs) + RECV_DONE(@p consumed): 1..DL_MSG_MAX_REFS_PAIRED refs, consumed != 0. */
int dl_msg_enc_send_recv_done(uint64_t *w, unsigned core, uint32_t conn, uint32_t consumed,
			      const struct dl_msg_ref *refs, unsigned n);
int dl_msg_enc_shutdown(uint64_t *w, unsigned core, uint32_t conn, unsigned how);
int dl_msg_enc_close(uint64_t *w, unsigned core, uint32_t conn);
int dl_msg_enc_pkt_handoff(uint64_t *w, unsigned core, const struct dl_rx_pkt *pkt);
int dl_msg_enc_arp_learn(uint64_t *w, unsigned core, uint32_t ip, const uint8_t mac[6]);

#ifdef __cplusplus
}
#endif

#endif /* DL_MSG_H */
