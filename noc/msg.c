/*
 * msg.c - encoder and validating decoder of NoC messages (see dl_msg.h).
 *
 * One table gives every type its name, class, word-count range and whether
 * the header's connection id must be 0. dl_msg_decode() checks the header
 * against the table, then each type's payload field by field, rejecting any
 * reserved bit that is set: an accepted message is in canonical form.
 * Encoders range-check their arguments (so nothing is silently truncated
 * into a field) and write the words. dl_msg_encode() and the encoders of
 * rare types then run the decoder over what they wrote; the encoders of the
 * per-request types (new_data, send, recv_done, data_acked, ...) write
 * canonical words directly, and the unit tests check every one of them
 * against the decoder.
 */
#include "dl_msg.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

struct type_info {
	const char *name;
	uint8_t cls;	   /* enum dl_msg_class */
	uint8_t min_words; /* header included */
	uint8_t max_words;
	bool no_conn; /* header connection id must be 0 */
};

static const struct type_info types[DL_MSG_NTYPES] = {
    [DL_MSG_INVALID] = {"invalid", DL_MSG_CLASS_INVALID, 0, 0, false},
    [DL_MSG_NEW_CONN] = {"new_conn", DL_MSG_CLASS_EVENT, 2, 2, false},
    [DL_MSG_CONNECTED] = {"connected", DL_MSG_CLASS_EVENT, 2, 2, false},
    [DL_MSG_CONNECT_FAILED] = {"connect_failed", DL_MSG_CLASS_EVENT, 3, 3, true},
    [DL_MSG_NEW_DATA] = {"new_data", DL_MSG_CLASS_EVENT, 2, DL_MSG_MAX_WORDS, false},
    [DL_MSG_DATA_ACKED] = {"data_acked", DL_MSG_CLASS_EVENT, 2, 2, false},
    [DL_MSG_REMOTE_CLOSED] = {"remote_closed", DL_MSG_CLASS_EVENT, 2, 2, false},
    [DL_MSG_CLEANUP] = {"cleanup", DL_MSG_CLASS_EVENT, 1, 1, false},
    [DL_MSG_CMD_ERROR] = {"cmd_error", DL_MSG_CLASS_EVENT, 3, 3, false},
    [DL_MSG_LISTEN] = {"listen", DL_MSG_CLASS_COMMAND, 2, 2, true},
    [DL_MSG_ACCEPT] = {"accept", DL_MSG_CLASS_COMMAND, 2, 2, false},
    [DL_MSG_CONNECT] = {"connect", DL_MSG_CLASS_COMMAND, 3, 3, true},
    [DL_MSG_RECV_DONE] = {"recv_done", DL_MSG_CLASS_COMMAND, 2, 2, false},
    [DL_MSG_SEND] = {"send", DL_MSG_CLASS_COMMAND, 2, DL_MSG_MAX_WORDS, false},
    [DL_MSG_SHUTDOWN] = {"shutdown", DL_MSG_CLASS_COMMAND, 2, 2, false},
    [DL_MSG_CLOSE] = {"close", DL_MSG_CLASS_COMMAND, 1, 1, false},
    [DL_MSG_PKT_HANDOFF] = {"pkt_handoff", DL_MSG_CLASS_INTERNAL, 6, 6, true},
    [DL_MSG_ARP_LEARN] = {"arp_learn", DL_MSG_CLASS_INTERNAL, 3, 3, true},
    [DL_MSG_ACKED_NEW_DATA] = {"acked_new_data", DL_MSG_CLASS_EVENT, 3, DL_MSG_MAX_WORDS, false},
    [DL_MSG_SEND_RECV_DONE] = {"send_recv_done", DL_MSG_CLASS_COMMAND, 3, DL_MSG_MAX_WORDS,
			       false},
};

/* Every DL_RX_* flag defined by dl_hal.h; anything else is rejected. */
#define RX_FLAGS_KNOWN ((uint32_t)DL_RX_HANDOFF * 2u - 1u)
#define HDR_RESERVED   (UINT64_C(0xf) << 28)
#define REF_MORE       (UINT64_C(1) << 63)

/* dl_msg_decode_paired() (dl_msg.h) spells these out. */
_Static_assert(HDR_RESERVED == UINT64_C(0xf) << 28, "reserved header bits");
_Static_assert(DL_MAX_CORES <= 4096, "the header's core field has 12 bits");
_Static_assert(DL_MSG_REF_REGION_MAX == 0x7e, "region 127 is the only invalid 7-bit value");

const uint8_t dl_msg_class_of[256] = {
    [DL_MSG_NEW_CONN] = DL_MSG_CLASS_EVENT,	    [DL_MSG_CONNECTED] = DL_MSG_CLASS_EVENT,
    [DL_MSG_CONNECT_FAILED] = DL_MSG_CLASS_EVENT, [DL_MSG_NEW_DATA] = DL_MSG_CLASS_EVENT,
    [DL_MSG_DATA_ACKED] = DL_MSG_CLASS_EVENT,	    [DL_MSG_REMOTE_CLOSED] = DL_MSG_CLASS_EVENT,
    [DL_MSG_CLEANUP] = DL_MSG_CLASS_EVENT,	    [DL_MSG_CMD_ERROR] = DL_MSG_CLASS_EVENT,
    [DL_MSG_LISTEN] = DL_MSG_CLASS_COMMAND,	    [DL_MSG_ACCEPT] = DL_MSG_CLASS_COMMAND,
    [DL_MSG_CONNECT] = DL_MSG_CLASS_COMMAND,	    [DL_MSG_RECV_DONE] = DL_MSG_CLASS_COMMAND,
    [DL_MSG_SEND] = DL_MSG_CLASS_COMMAND,	    [DL_MSG_SHUTDOWN] = DL_MSG_CLASS_COMMAND,
    [DL_MSG_CLOSE] = DL_MSG_CLASS_COMMAND,	    [DL_MSG_PKT_HANDOFF] = DL_MSG_CLASS_INTERNAL,
    [DL_MSG_ARP_LEARN] = DL_MSG_CLASS_INTERNAL,	    [DL_MSG_ACKED_NEW_DATA] = DL_MSG_CLASS_EVENT,
    [DL_MSG_SEND_RECV_DONE] = DL_MSG_CLASS_COMMAND,
};

const char *dl_msg_type_name(unsigned type)
{
	return type < DL_MSG_NTYPES ? types[type].name : "invalid";
}

/* True when the bits of @p w outside @p used are all zero. */
static bool only_bits(uint64_t w, uint64_t used)
{
	return (w & ~used) == 0;
}

static int decode_refs(const uint64_t *p, unsigned n, bool allow_more, struct dl_msg *m)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t len = (p[i] >> 40) & 0xffff;
		uint64_t region = (p[i] >> 56) & 0x7f;

		if (len == 0 || region > DL_MSG_REF_REGION_MAX)
			return -EINVAL;
		if (!allow_more && (p[i] & REF_MORE))
			return -EINVAL;
	}
	m->u.data.refs = p;
	m->u.data.n = n;
	m->u.data.bytes = 0;
	return 0;
}

/* The paired types: a byte count word (32 bits, not 0), then refs. */
static int decode_paired(const uint64_t *p, unsigned npay, bool allow_more, struct dl_msg *m)
{
	int rc;

	if (!only_bits(p[0], 0xffffffffu) || p[0] == 0)
		return -EINVAL;
	rc = decode_refs(p + 1, npay - 1, allow_more, m);
	m->u.data.bytes = (uint32_t)p[0];
	return rc;
}

/* Pointer carried in a word; rejects values that do not fit a pointer. */
static int word_to_ptr(uint64_t w, void **out)
{
#if UINTPTR_MAX < UINT64_MAX
	if (w > UINTPTR_MAX)
		return -EINVAL;
#endif
	*out = (void *)(uintptr_t)w;
	return 0;
}

static int decode_handoff(const uint64_t *p, struct dl_msg *m)
{
	struct dl_rx_pkt *k = &m->u.handoff;
	void *data, *scratch, *buf;

	if (word_to_ptr(p[0], &data) || word_to_ptr(p[3], &scratch) || word_to_ptr(p[4], &buf))
		return -EINVAL;
	memset(k, 0, sizeof(*k));
	k->data = data;
	k->len = (uint32_t)p[1];
	k->hash = (uint32_t)(p[1] >> 32);
	k->flags = (uint32_t)p[2];
	k->region = (uint16_t)(p[2] >> 32);
	k->queue = (uint16_t)(p[2] >> 48);
	k->scratch = scratch;
	k->buf = buf;
	if (k->data == NULL || k->len == 0 || (k->flags & ~RX_FLAGS_KNOWN) != 0 ||
	    k->region >= DL_REGION_MAX)
		return -EINVAL;
	return 0;
}

static int decode_arp(const uint64_t *p, struct dl_msg *m)
{
	uint64_t mac = p[1];

	if (!only_bits(p[0], 0xffffffffu) || !only_bits(mac, (UINT64_C(1) << 48) - 1))
		return -EINVAL;
	if (p[0] == 0 || mac == 0 || (mac & 1) != 0) /* no IP, zero or multicast MAC */
		return -EINVAL;
	m->u.arp_learn.ip = (uint32_t)p[0];
	for (int i = 0; i < 6; i++)
		m->u.arp_learn.mac[i] = (uint8_t)(mac >> (8 * i));
	return 0;
}

/* Payload of a message whose header passed the table checks. */
static int decode_payload(const uint64_t *p, unsigned npay, struct dl_msg *m)
{
	switch (m->type) {
	case DL_MSG_NEW_CONN:
		m->u.new_conn.local_port = (uint16_t)p[0];
		m->u.new_conn.peer_port = (uint16_t)(p[0] >> 16);
		m->u.new_conn.peer_ip = (uint32_t)(p[0] >> 32);
		return 0;
	case DL_MSG_CONNECTED:
		m->u.connected.cookie = p[0];
		return 0;
	case DL_MSG_CONNECT_FAILED:
		if (!only_bits(p[1], 0x7fffffffu) || p[1] == 0)
			return -EINVAL;
		m->u.connect_failed.cookie = p[0];
		m->u.connect_failed.err = (int)p[1];
		return 0;
	case DL_MSG_NEW_DATA:
		return decode_refs(p, npay, false, m);
	case DL_MSG_SEND:
		return decode_refs(p, npay, true, m);
	case DL_MSG_ACKED_NEW_DATA:
		return decode_paired(p, npay, false, m);
	case DL_MSG_SEND_RECV_DONE:
		return decode_paired(p, npay, true, m);
	case DL_MSG_DATA_ACKED:
		if (!only_bits(p[0], 0xffffffffu))
			return -EINVAL;
		m->u.data_acked.bytes = (uint32_t)p[0];
		return 0;
	case DL_MSG_REMOTE_CLOSED:
		if (p[0] > DL_MSG_CLOSE_ABORT)
			return -EINVAL;
		m->u.remote_closed.reason = (unsigned)p[0];
		return 0;
	case DL_MSG_CLEANUP:
	case DL_MSG_CLOSE:
		return 0;
	case DL_MSG_CMD_ERROR: {
		unsigned cmd = (unsigned)(p[0] & 0xff);
		unsigned err = (unsigned)((p[0] >> 8) & 0xffff);

		if (!only_bits(p[0], 0xffffffu) || err == 0 ||
		    dl_msg_class(cmd) != DL_MSG_CLASS_COMMAND)
			return -EINVAL;
		m->u.cmd_error.cmd = cmd;
		m->u.cmd_error.err = (int)err;
		m->u.cmd_error.context = p[1];
		return 0;
	}
	case DL_MSG_LISTEN:
		if (!only_bits(p[0], (UINT64_C(1) << 48) - 1))
			return -EINVAL;
		m->u.listen.port = (uint16_t)p[0];
		m->u.listen.backlog = (uint32_t)(p[0] >> 16);
		return 0;
	case DL_MSG_ACCEPT:
		if (!only_bits(p[0], 0xffff))
			return -EINVAL;
		m->u.accept.port = (uint16_t)p[0];
		return 0;
	case DL_MSG_CONNECT:
		if (!only_bits(p[1], (UINT64_C(1) << 48) - 1))
			return -EINVAL;
		m->u.connect.cookie = p[0];
		m->u.connect.ip = (uint32_t)p[1];
		m->u.connect.port = (uint16_t)(p[1] >> 32);
		return 0;
	case DL_MSG_RECV_DONE:
		if (!only_bits(p[0], 0xffffffffu))
			return -EINVAL;
		m->u.recv_done.bytes = (uint32_t)p[0];
		return 0;
	case DL_MSG_SHUTDOWN:
		if (p[0] > DL_SHUT_RDWR)
			return -EINVAL;
		m->u.shutdown.how = (unsigned)p[0];
		return 0;
	case DL_MSG_PKT_HANDOFF:
		return decode_handoff(p, m);
	case DL_MSG_ARP_LEARN:
		return decode_arp(p, m);
	default:
		return -ENOMSG; /* unreachable: the type was checked */
	}
}

int dl_msg_decode(const uint64_t *w, unsigned avail, struct dl_msg *out)
{
	const struct type_info *ti;
	unsigned type, n;
	uint64_t h;
	int rc;

	rc = (int)dl_msg_decode_paired(w, avail, out);
	if (rc > 0)
		return rc; /* the per-request types, valid */
	if (avail == 0)
		return -ENODATA;
	h = w[0];
	type = dl_msg_hdr_type(h);
	if (type == DL_MSG_INVALID || type >= DL_MSG_NTYPES)
		return -ENOMSG;
	ti = &types[type];
	n = dl_msg_hdr_words(h);
	if (n < ti->min_words || n > ti->max_words)
		return -EBADMSG;
	if (n > avail)
		return -ENODATA;
	if ((h & HDR_RESERVED) != 0 || dl_msg_hdr_core(h) >= DL_MAX_CORES)
		return -EINVAL;
	if (ti->no_conn && dl_msg_hdr_conn(h) != 0)
		return -EINVAL;
	/* Only the header fields and the payload member of this type are
	 * written (the union is large; clearing it costs more than decoding). */
	out->type = (uint8_t)type;
	out->nwords = (uint8_t)n;
	out->core = (uint16_t)dl_msg_hdr_core(h);
	out->conn = dl_msg_hdr_conn(h);
	rc = decode_payload(w + 1, n - 1, out);
	return rc < 0 ? rc : (int)n;
}

/* ---- encoding ---- */

/* Word count @p m will need, or -EINVAL. */
static int encoded_words(const struct dl_msg *m)
{
	if (m->type == DL_MSG_INVALID || m->type >= DL_MSG_NTYPES)
		return -EINVAL;
	if (m->type == DL_MSG_NEW_DATA || m->type == DL_MSG_SEND) {
		if (m->u.data.refs == NULL || m->u.data.n < 1 || m->u.data.n > DL_MSG_MAX_REFS)
			return -EINVAL;
		return (int)m->u.data.n + 1;
	}
	if (m->type == DL_MSG_ACKED_NEW_DATA || m->type == DL_MSG_SEND_RECV_DONE) {
		if (m->u.data.refs == NULL || m->u.data.n < 1 ||
		    m->u.data.n > DL_MSG_MAX_REFS_PAIRED)
			return -EINVAL;
		return (int)m->u.data.n + 2;
	}
	return types[m->type].min_words;
}

static uint64_t handoff_word2(const struct dl_rx_pkt *k)
{
	return (uint64_t)k->flags | (uint64_t)k->region << 32 | (uint64_t)k->queue << 48;
}

/* Payload words of @p m into @p p; -EINVAL when a value overflows its field. */
static int encode_payload(uint64_t *p, const struct dl_msg *m)
{
	switch (m->type) {
	case DL_MSG_NEW_CONN:
		p[0] = (uint64_t)m->u.new_conn.local_port |
		       (uint64_t)m->u.new_conn.peer_port << 16 |
		       (uint64_t)m->u.new_conn.peer_ip << 32;
		return 0;
	case DL_MSG_CONNECTED:
		p[0] = m->u.connected.cookie;
		return 0;
	case DL_MSG_CONNECT_FAILED:
		if (m->u.connect_failed.err <= 0)
			return -EINVAL;
		p[0] = m->u.connect_failed.cookie;
		p[1] = (uint64_t)m->u.connect_failed.err;
		return 0;
	case DL_MSG_NEW_DATA:
	case DL_MSG_SEND:
		memmove(p, m->u.data.refs, m->u.data.n * sizeof(uint64_t));
		return 0;
	case DL_MSG_ACKED_NEW_DATA:
	case DL_MSG_SEND_RECV_DONE:
		memmove(p + 1, m->u.data.refs, m->u.data.n * sizeof(uint64_t));
		p[0] = m->u.data.bytes;
		return 0;
	case DL_MSG_DATA_ACKED:
		p[0] = m->u.data_acked.bytes;
		return 0;
	case DL_MSG_REMOTE_CLOSED:
		p[0] = m->u.remote_closed.reason;
		return 0;
	case DL_MSG_CMD_ERROR:
		if (m->u.cmd_error.cmd > 0xff || m->u.cmd_error.err <= 0 ||
		    m->u.cmd_error.err > 0xffff)
			return -EINVAL;
		p[0] = (uint64_t)m->u.cmd_error.cmd | (uint64_t)m->u.cmd_error.err << 8;
		p[1] = m->u.cmd_error.context;
		return 0;
	case DL_MSG_LISTEN:
		p[0] = (uint64_t)m->u.listen.port | (uint64_t)m->u.listen.backlog << 16;
		return 0;
	case DL_MSG_ACCEPT:
		p[0] = m->u.accept.port;
		return 0;
	case DL_MSG_CONNECT:
		p[0] = m->u.connect.cookie;
		p[1] = (uint64_t)m->u.connect.ip | (uint64_t)m->u.connect.port << 32;
		return 0;
	case DL_MSG_RECV_DONE:
		p[0] = m->u.recv_done.bytes;
		return 0;
	case DL_MSG_SHUTDOWN:
		p[0] = m->u.shutdown.how;
		return 0;
	case DL_MSG_PKT_HANDOFF:
		p[0] = (uint64_t)(uintptr_t)m->u.handoff.data;
		p[1] = (uint64_t)m->u.handoff.len | (uint64_t)m->u.handoff.hash << 32;
		p[2] = handoff_word2(&m->u.handoff);
		p[3] = (uint64_t)(uintptr_t)m->u.handoff.scratch;
		p[4] = (uint64_t)(uintptr_t)m->u.handoff.buf;
		return 0;
	case DL_MSG_ARP_LEARN:
		p[0] = m->u.arp_learn.ip;
		p[1] = 0;
		for (int i = 0; i < 6; i++)
			p[1] |= (uint64_t)m->u.arp_learn.mac[i] << (8 * i);
		return 0;
	default: /* CLEANUP, CLOSE: no payload */
		return 0;
	}
}

int dl_msg_encode(uint64_t *w, unsigned room, const struct dl_msg *m)
{
	struct dl_msg check;
	int n = encoded_words(m);

	if (n < 0)
		return n;
	if ((unsigned)n > room)
		return -ENOSPC;
	if (m->core >= DL_MAX_CORES || encode_payload(w + 1, m) < 0)
		return -EINVAL;
	w[0] = dl_msg_hdr(m->type, (unsigned)n, m->core, m->conn);
	/* The decoder is the single definition of a valid message. */
	return dl_msg_decode(w, (unsigned)n, &check) == n ? n : -EINVAL;
}

/* Start a struct dl_msg for a typed encoder; false if core is out of range. */
static bool msg_init(struct dl_msg *m, unsigned type, unsigned core, uint32_t conn)
{
	memset(m, 0, sizeof(*m));
	m->type = (uint8_t)type;
	m->core = (uint8_t)core;
	m->conn = conn;
	return core < DL_MAX_CORES;
}

int dl_msg_enc_new_conn(uint64_t *w, unsigned core, uint32_t conn, uint16_t local_port,
			uint16_t peer_port, uint32_t peer_ip)
{
	if (core >= DL_MAX_CORES)
		return -EINVAL;
	w[0] = dl_msg_hdr(DL_MSG_NEW_CONN, 2, core, conn);
	w[1] = (uint64_t)local_port | (uint64_t)peer_port << 16 | (uint64_t)peer_ip << 32;
	return 2;
}

int dl_msg_enc_connected(uint64_t *w, unsigned core, uint32_t conn, uint64_t cookie)
{
	if (core >= DL_MAX_CORES)
		return -EINVAL;
	w[0] = dl_msg_hdr(DL_MSG_CONNECTED, 2, core, conn);
	w[1] = cookie;
	return 2;
}

int dl_msg_enc_connect_failed(uint64_t *w, unsigned core, uint64_t cookie, int err)
{
	struct dl_msg m;

	if (!msg_init(&m, DL_MSG_CONNECT_FAILED, core, 0))
		return -EINVAL;
	m.u.connect_failed.cookie = cookie;
	m.u.connect_failed.err = err;
	return dl_msg_encode(w, DL_MSG_MAX_WORDS, &m);
}

/* NEW_DATA / SEND (@p lead 0) and the paired types (@p lead 1: the byte
 * count word first): pack the refs in place, range-checking each. */
static int enc_refs(uint64_t *w, unsigned type, unsigned core, uint32_t conn,
		    const struct dl_msg_ref *refs, unsigned n, unsigned lead)
{
	bool no_more = type == DL_MSG_NEW_DATA || type == DL_MSG_ACKED_NEW_DATA;

	if (core >= DL_MAX_CORES || refs == NULL || n < 1 || n > DL_MSG_MAX_REFS - lead)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		if (!dl_msg_ref_ok(&refs[i]) || (no_more && refs[i].more))
			return -EINVAL;
		w[1 + lead + i] = dl_msg_ref_pack(&refs[i]);
	}
	w[0] = dl_msg_hdr(type, n + 1 + lead, core, conn);
	return (int)(n + 1 + lead);
}

int dl_msg_enc_new_data(uint64_t *w, unsigned core, uint32_t conn, const struct dl_msg_ref *refs,
			unsigned n)
{
	return enc_refs(w, DL_MSG_NEW_DATA, core, conn, refs, n, 0);
}

int dl_msg_enc_send(uint64_t *w, unsigned core, uint32_t conn, const struct dl_msg_ref *refs,
		    unsigned n)
{
	return enc_refs(w, DL_MSG_SEND, core, conn, refs, n, 0);
}

int dl_msg_enc_acked_new_data(uint64_t *w, unsigned core, uint32_t conn, uint32_t acked,
			      const struct dl_msg_ref *refs, unsigned n)
{
	if (acked == 0)
		return -EINVAL;
	w[1] = acked;
	return enc_refs(w, DL_MSG_ACKED_NEW_DATA, core, conn, refs, n, 1);
}

int dl_msg_enc_send_recv_done(uint64_t *w, unsigned core, uint32_t conn, uint32_t consumed,
			      const struct dl_msg_ref *refs, unsigned n)
{
	if (consumed == 0)
		return -EINVAL;
	w[1] = consumed;
	return enc_refs(w, DL_MSG_SEND_RECV_DONE, core, conn, refs, n, 1);
}

int dl_msg_enc_data_acked(uint64_t *w, unsigned core, uint32_t conn, uint32_t bytes)
{
	if (core >= DL_MAX_CORES)
		return -EINVAL;
	w[0] = dl_msg_hdr(DL_MSG_DATA_ACKED, 2, core, conn);
	w[1] = bytes;
	return 2;
}

int dl_msg_enc_remote_closed(uint64_t *w, unsigned core, uint32_t conn, unsigned reason)
{
	if (core >= DL_MAX_CORES || reason > DL_MSG_CLOSE_ABORT)
		return -EINVAL;
	w[0] = dl_msg_hdr(DL_MSG_REMOTE_CLOSED, 2, core, conn);
	w[1] = reason;
	return 2;
}

int dl_msg_enc_cleanup(uint64_t *w, unsigned core, uint32_t conn)
{
	if (core >= DL_MAX_CORES)
		return -EINVAL;
	w[0] = dl_msg_hdr(DL_MSG_CLEANUP, 1, core, conn);
	return 1;
}

int dl_msg_enc_cmd_error(uint64_t *w, unsigned core, uint32_t conn, unsigned cmd, int err,
			 uint64_t context)
{
	struct dl_msg m;

	if (!msg_init(&m, DL_MSG_CMD_ERROR, core, conn))
		return -EINVAL;
	m.u.cmd_error.cmd = cmd;
	m.u.cmd_error.err = err;
	m.u.cmd_error.context = context;
	return dl_msg_encode(w, DL_MSG_MAX_WORDS, &m);
}

int dl_msg_enc_listen(uint64_t *w, unsigned core, uint16_t port, uint32_t backlog)
{
	struct dl_msg m;

	if (!msg_init(&m, DL_MSG_LISTEN, core, 0))
		return -EINVAL;
	m.u.listen.port = port;
	m.u.listen.backlog = backlog;
	return dl_msg_encode(w, DL_MSG_MAX_WORDS, &m);
}

int dl_msg_enc_accept(uint64_t *w, unsigned core, uint32_t conn, uint16_t listen_port)
{
	if (core >= DL_MAX_CORES)
		return -EINVAL;
	w[0] = dl_msg_hdr(DL_MSG_ACCEPT, 2, core, conn);
	w[1] = listen_port;
	return 2;
}

int dl_msg_enc_connect(uint64_t *w, unsigned core, uint64_t cookie, uint32_t ip, uint16_t port)
{
	struct dl_msg m;

	if (!msg_init(&m, DL_MSG_CONNECT, core, 0))
		return -EINVAL;
	m.u.connect.cookie = cookie;
	m.u.connect.ip = ip;
	m.u.connect.port = port;
	return dl_msg_encode(w, DL_MSG_MAX_WORDS, &m);
}

int dl_msg_enc_recv_done(uint64_t *w, unsigned core, uint32_t conn, uint32_t bytes)
{
	if (core >= DL_MAX_CORES)
		return -EINVAL;
	w[0] = dl_msg_hdr(DL_MSG_RECV_DONE, 2, core, conn);
	w[1] = bytes;
	return 2;
}

int dl_msg_enc_shutdown(uint64_t *w, unsigned core, uint32_t conn, unsigned how)
{
	struct dl_msg m;

	if (!msg_init(&m, DL_MSG_SHUTDOWN, core, conn))
		return -EINVAL;
	m.u.shutdown.how = how;
	return dl_msg_encode(w, DL_MSG_MAX_WORDS, &m);
}

int dl_msg_enc_close(uint64_t *w, unsigned core, uint32_t conn)
{
	if (core >= DL_MAX_CORES)
		return -EINVAL;
	w[0] = dl_msg_hdr(DL_MSG_CLOSE, 1, core, conn);
	return 1;
}

int dl_msg_enc_pkt_handoff(uint64_t *w, unsigned core, const struct dl_rx_pkt *pkt)
{
	struct dl_msg m;

	if (!msg_init(&m, DL_MSG_PKT_HANDOFF, core, 0) || pkt == NULL)
		return -EINVAL;
	m.u.handoff = *pkt;
	return dl_msg_encode(w, DL_MSG_MAX_WORDS, &m);
}

int dl_msg_enc_arp_learn(uint64_t *w, unsigned core, uint32_t ip, const uint8_t mac[6])
{
	struct dl_msg m;

	if (!msg_init(&m, DL_MSG_ARP_LEARN, core, 0) || mac == NULL)
		return -EINVAL;
	m.u.arp_learn.ip = ip;
	memcpy(m.u.arp_learn.mac, mac, 6);
	return dl_msg_encode(w, DL_MSG_MAX_WORDS, &m);
}
