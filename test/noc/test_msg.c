/*
 * test_msg.c - the NoC message codec: round trips of every type (maximum
 * arrays included), exact error codes for every kind of malformed input,
 * every truncation of valid messages, single-bit corruptions and random
 * words. Decoding always reads from a heap buffer of exactly the available
 * size, so ASan catches any read past it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "dl_msg.h"
#include "noc_test_util.h"

/* Decode from an exact-size heap copy of the first @p avail words. */
static int decode_exact(const uint64_t *w, unsigned avail, struct dl_msg *m)
{
	uint64_t *copy = malloc(avail > 0 ? avail * sizeof(uint64_t) : 1);
	int rc;

	assert_non_null(copy);
	if (avail > 0)
		memcpy(copy, w, avail * sizeof(uint64_t));
	rc = dl_msg_decode(copy, avail, m);
	/* Refs point into the decoded buffer; keep comparisons valid. */
	if (rc > 0 && (m->type == DL_MSG_NEW_DATA || m->type == DL_MSG_SEND))
		m->u.data.refs = w + 1;
	if (rc > 0 && (m->type == DL_MSG_ACKED_NEW_DATA || m->type == DL_MSG_SEND_RECV_DONE))
		m->u.data.refs = w + 2;
	free(copy);
	return rc;
}

/* Field-by-field equality of two decoded messages (nwords included). */
static void assert_msg_equal(const struct dl_msg *a, const struct dl_msg *b)
{
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->core, b->core);
	assert_int_equal(a->conn, b->conn);
	switch (a->type) {
	case DL_MSG_NEW_CONN:
		assert_int_equal(a->u.new_conn.local_port, b->u.new_conn.local_port);
		assert_int_equal(a->u.new_conn.peer_port, b->u.new_conn.peer_port);
		assert_int_equal(a->u.new_conn.peer_ip, b->u.new_conn.peer_ip);
		break;
	case DL_MSG_CONNECTED:
		assert_int_equal(a->u.connected.cookie, b->u.connected.cookie);
		break;
	case DL_MSG_CONNECT_FAILED:
		assert_int_equal(a->u.connect_failed.cookie, b->u.connect_failed.cookie);
		assert_int_equal(a->u.connect_failed.err, b->u.connect_failed.err);
		break;
	case DL_MSG_NEW_DATA:
	case DL_MSG_SEND:
	case DL_MSG_ACKED_NEW_DATA:
	case DL_MSG_SEND_RECV_DONE:
		assert_int_equal(a->u.data.n, b->u.data.n);
		assert_int_equal(a->u.data.bytes, b->u.data.bytes);
		for (unsigned i = 0; i < a->u.data.n; i++) {
			struct dl_msg_ref x = dl_msg_ref_unpack(a->u.data.refs[i]);
			struct dl_msg_ref y = dl_msg_ref_unpack(b->u.data.refs[i]);
			assert_int_equal(x.off, y.off);
			assert_int_equal(x.len, y.len);
			assert_int_equal(x.region, y.region);
			assert_int_equal(x.more, y.more);
		}
		break;
	case DL_MSG_DATA_ACKED:
		assert_int_equal(a->u.data_acked.bytes, b->u.data_acked.bytes);
		break;
	case DL_MSG_REMOTE_CLOSED:
		assert_int_equal(a->u.remote_closed.reason, b->u.remote_closed.reason);
		break;
	case DL_MSG_CMD_ERROR:
		assert_int_equal(a->u.cmd_error.cmd, b->u.cmd_error.cmd);
		assert_int_equal(a->u.cmd_error.err, b->u.cmd_error.err);
		assert_int_equal(a->u.cmd_error.context, b->u.cmd_error.context);
		break;
	case DL_MSG_LISTEN:
		assert_int_equal(a->u.listen.port, b->u.listen.port);
		assert_int_equal(a->u.listen.backlog, b->u.listen.backlog);
		break;
	case DL_MSG_ACCEPT:
		assert_int_equal(a->u.accept.port, b->u.accept.port);
		break;
	case DL_MSG_CONNECT:
		assert_int_equal(a->u.connect.cookie, b->u.connect.cookie);
		assert_int_equal(a->u.connect.ip, b->u.connect.ip);
		assert_int_equal(a->u.connect.port, b->u.connect.port);
		break;
	case DL_MSG_RECV_DONE:
		assert_int_equal(a->u.recv_done.bytes, b->u.recv_done.bytes);
		break;
	case DL_MSG_SHUTDOWN:
		assert_int_equal(a->u.shutdown.how, b->u.shutdown.how);
		break;
	case DL_MSG_PKT_HANDOFF:
		assert_ptr_equal(a->u.handoff.data, b->u.handoff.data);
		assert_int_equal(a->u.handoff.len, b->u.handoff.len);
		assert_int_equal(a->u.handoff.hash, b->u.handoff.hash);
		assert_int_equal(a->u.handoff.flags, b->u.handoff.flags);
		assert_int_equal(a->u.handoff.region, b->u.handoff.region);
		assert_int_equal(a->u.handoff.queue, b->u.handoff.queue);
		assert_ptr_equal(a->u.handoff.scratch, b->u.handoff.scratch);
		assert_ptr_equal(a->u.handoff.buf, b->u.handoff.buf);
		break;
	case DL_MSG_ARP_LEARN:
		assert_int_equal(a->u.arp_learn.ip, b->u.arp_learn.ip);
		assert_memory_equal(a->u.arp_learn.mac, b->u.arp_learn.mac, 6);
		break;
	default:
		break;
	}
}

/* Encode @p m with its typed encoder. */
static int typed_encode(uint64_t *w, const struct dl_msg *m)
{
	struct dl_msg_ref refs[DL_MSG_MAX_REFS];

	switch (m->type) {
	case DL_MSG_NEW_CONN:
		return dl_msg_enc_new_conn(w, m->core, m->conn, m->u.new_conn.local_port,
					   m->u.new_conn.peer_port, m->u.new_conn.peer_ip);
	case DL_MSG_CONNECTED:
		return dl_msg_enc_connected(w, m->core, m->conn, m->u.connected.cookie);
	case DL_MSG_CONNECT_FAILED:
		return dl_msg_enc_connect_failed(w, m->core, m->u.connect_failed.cookie,
						 m->u.connect_failed.err);
	case DL_MSG_NEW_DATA:
	case DL_MSG_SEND:
		for (unsigned i = 0; i < m->u.data.n; i++)
			refs[i] = dl_msg_ref_unpack(m->u.data.refs[i]);
		return m->type == DL_MSG_SEND
			   ? dl_msg_enc_send(w, m->core, m->conn, refs, m->u.data.n)
			   : dl_msg_enc_new_data(w, m->core, m->conn, refs, m->u.data.n);
	case DL_MSG_ACKED_NEW_DATA:
	case DL_MSG_SEND_RECV_DONE:
		for (unsigned i = 0; i < m->u.data.n; i++)
			refs[i] = dl_msg_ref_unpack(m->u.data.refs[i]);
		return m->type == DL_MSG_SEND_RECV_DONE
			   ? dl_msg_enc_send_recv_done(w, m->core, m->conn, m->u.data.bytes, refs,
						       m->u.data.n)
			   : dl_msg_enc_acked_new_data(w, m->core, m->conn, m->u.data.bytes, refs,
						       m->u.data.n);
	case DL_MSG_DATA_ACKED:
		return dl_msg_enc_data_acked(w, m->core, m->conn, m->u.data_acked.bytes);
	case DL_MSG_REMOTE_CLOSED:
		return dl_msg_enc_remote_closed(w, m->core, m->conn, m->u.remote_closed.reason);
	case DL_MSG_CLEANUP:
		return dl_msg_enc_cleanup(w, m->core, m->conn);
	case DL_MSG_CMD_ERROR:
		return dl_msg_enc_cmd_error(w, m->core, m->conn, m->u.cmd_error.cmd,
					    m->u.cmd_error.err, m->u.cmd_error.context);
	case DL_MSG_LISTEN:
		return dl_msg_enc_listen(w, m->core, m->u.listen.port, m->u.listen.backlog);
	case DL_MSG_ACCEPT:
		return dl_msg_enc_accept(w, m->core, m->conn, m->u.accept.port);
	case DL_MSG_CONNECT:
		return dl_msg_enc_connect(w, m->core, m->u.connect.cookie, m->u.connect.ip,
					  m->u.connect.port);
	case DL_MSG_RECV_DONE:
		return dl_msg_enc_recv_done(w, m->core, m->conn, m->u.recv_done.bytes);
	case DL_MSG_SHUTDOWN:
		return dl_msg_enc_shutdown(w, m->core, m->conn, m->u.shutdown.how);
	case DL_MSG_CLOSE:
		return dl_msg_enc_close(w, m->core, m->conn);
	case DL_MSG_PKT_HANDOFF:
		return dl_msg_enc_pkt_handoff(w, m->core, &m->u.handoff);
	case DL_MSG_ARP_LEARN:
		return dl_msg_enc_arp_learn(w, m->core, m->u.arp_learn.ip, m->u.arp_learn.mac);
	default:
		return -EINVAL;
	}
}

static void test_names_and_classes(void **state)
{
	(void)state;
	for (unsigned t = 1; t < DL_MSG_NTYPES; t++) {
		assert_string_not_equal(dl_msg_type_name(t), "invalid");
		for (unsigned u = 1; u < t; u++)
			assert_string_not_equal(dl_msg_type_name(t), dl_msg_type_name(u));
	}
	for (unsigned t = DL_MSG_NEW_CONN; t <= DL_MSG_CMD_ERROR; t++)
		assert_int_equal(dl_msg_class(t), DL_MSG_CLASS_EVENT);
	for (unsigned t = DL_MSG_LISTEN; t <= DL_MSG_CLOSE; t++)
		assert_int_equal(dl_msg_class(t), DL_MSG_CLASS_COMMAND);
	assert_int_equal(dl_msg_class(DL_MSG_PKT_HANDOFF), DL_MSG_CLASS_INTERNAL);
	assert_int_equal(dl_msg_class(DL_MSG_ARP_LEARN), DL_MSG_CLASS_INTERNAL);
	assert_int_equal(dl_msg_class(DL_MSG_ACKED_NEW_DATA), DL_MSG_CLASS_EVENT);
	assert_int_equal(dl_msg_class(DL_MSG_SEND_RECV_DONE), DL_MSG_CLASS_COMMAND);
	assert_int_equal(dl_msg_class(0), DL_MSG_CLASS_INVALID);
	assert_int_equal(dl_msg_class(DL_MSG_NTYPES), DL_MSG_CLASS_INVALID);
	assert_int_equal(dl_msg_class(255), DL_MSG_CLASS_INVALID);
	assert_int_equal(dl_msg_class(~0u), DL_MSG_CLASS_INVALID);
	assert_string_equal(dl_msg_type_name(0), "invalid");
	assert_string_equal(dl_msg_type_name(1000), "invalid");
	assert_string_equal(dl_msg_type_name(DL_MSG_SEND), "send");
	assert_string_equal(dl_msg_type_name(DL_MSG_PKT_HANDOFF), "pkt_handoff");
}

/* Every type: typed encoder == generic encoder, decode gives the input back,
 * and re-encoding the decode gives the same words (canonical form). */
static void test_roundtrip_every_type(void **state)
{
	struct rng r = {0x1234567};
	(void)state;

	for (unsigned t = 1; t < DL_MSG_NTYPES; t++) {
		for (int iter = 0; iter < 2000; iter++) {
			uint64_t refw[DL_MSG_MAX_REFS], a[DL_MSG_MAX_WORDS + 1],
			    b[DL_MSG_MAX_WORDS];
			uint64_t c[DL_MSG_MAX_WORDS];
			struct dl_msg m, d;
			int n, n2, n3;

			random_msg(&r, t, &m, refw, 0);
			n = typed_encode(a, &m);
			assert_true(n > 0);
			n2 = dl_msg_encode(b, DL_MSG_MAX_WORDS, &m);
			assert_int_equal(n, n2);
			assert_memory_equal(a, b, (size_t)n * 8);
			assert_int_equal(dl_msg_hdr_words(a[0]), n);
			assert_int_equal(decode_exact(a, (unsigned)n, &d), n);
			assert_int_equal(d.nwords, n);
			assert_msg_equal(&m, &d);
			n3 = dl_msg_encode(c, DL_MSG_MAX_WORDS, &d);
			assert_int_equal(n3, n);
			assert_memory_equal(a, c, (size_t)n * 8);
			/* Extra words after the message are not consumed. */
			a[n] = ~UINT64_C(0);
			assert_int_equal(decode_exact(a, (unsigned)n + 1, &d), n);
		}
	}
}

static void test_max_arrays(void **state)
{
	struct dl_msg_ref refs[DL_MSG_MAX_REFS + 1];
	uint64_t w[DL_MSG_MAX_WORDS + 1];
	struct dl_msg m;
	(void)state;

	for (unsigned i = 0; i <= DL_MSG_MAX_REFS; i++) {
		refs[i].off = DL_MSG_REF_OFF_MAX - i;
		refs[i].len = DL_MSG_REF_LEN_MAX - i;
		refs[i].region = (uint8_t)(DL_MSG_REF_REGION_MAX - i % 127);
		refs[i].more = false;
	}
	assert_int_equal(dl_msg_enc_new_data(w, 63, 0xffffffffu, refs, DL_MSG_MAX_REFS),
			 DL_MSG_MAX_WORDS);
	assert_int_equal(decode_exact(w, DL_MSG_MAX_WORDS, &m), DL_MSG_MAX_WORDS);
	assert_int_equal(m.u.data.n, DL_MSG_MAX_REFS);
	assert_int_equal(m.core, 63);
	assert_int_equal(m.conn, 0xffffffffu);
	for (unsigned i = 0; i < DL_MSG_MAX_REFS; i++) {
		struct dl_msg_ref x = dl_msg_ref_unpack(m.u.data.refs[i]);
		assert_int_equal(x.off, refs[i].off);
		assert_int_equal(x.len, refs[i].len);
		assert_int_equal(x.region, refs[i].region);
		assert_false(x.more);
	}
	for (unsigned i = 0; i <= DL_MSG_MAX_REFS; i++)
		refs[i].more = true;
	assert_int_equal(dl_msg_enc_send(w, 0, 1, refs, DL_MSG_MAX_REFS), DL_MSG_MAX_WORDS);
	assert_int_equal(decode_exact(w, DL_MSG_MAX_WORDS, &m), DL_MSG_MAX_WORDS);
	assert_true(dl_msg_ref_unpack(m.u.data.refs[DL_MSG_MAX_REFS - 1]).more);
	/* One more ref, or none, does not fit the format. */
	assert_int_equal(dl_msg_enc_send(w, 0, 1, refs, DL_MSG_MAX_REFS + 1), -EINVAL);
	assert_int_equal(dl_msg_enc_send(w, 0, 1, refs, 0), -EINVAL);
	assert_int_equal(dl_msg_enc_new_data(w, 0, 1, refs, 1), -EINVAL); /* flag set */
	/* A 126-word array header claiming 127 words is refused. */
	assert_int_equal(dl_msg_enc_send(w, 0, 1, refs, DL_MSG_MAX_REFS), DL_MSG_MAX_WORDS);
	w[0] = dl_msg_hdr(DL_MSG_SEND, DL_MSG_MAX_WORDS + 1, 0, 1);
	w[DL_MSG_MAX_WORDS] = w[1];
	assert_int_equal(decode_exact(w, DL_MSG_MAX_WORDS + 1, &m), -EBADMSG);
}

static void test_encoders_reject_bad_arguments(void **state)
{
	struct dl_msg_ref ok = {.off = 0, .len = 1, .region = 0, .more = false};
	struct dl_msg_ref bad;
	uint8_t mac[6] = {0x02, 0, 0, 0, 0, 1}, data[4];
	struct dl_rx_pkt pkt = {.data = data, .len = 4, .region = 1};
	uint64_t w[DL_MSG_MAX_WORDS];
	struct dl_msg m;
	(void)state;

	bad = ok;
	bad.len = 0;
	assert_int_equal(dl_msg_enc_send(w, 0, 1, &bad, 1), -EINVAL);
	bad.len = DL_MSG_REF_LEN_MAX + 1;
	assert_int_equal(dl_msg_enc_send(w, 0, 1, &bad, 1), -EINVAL);
	bad = ok;
	bad.region = DL_MSG_REF_REGION_MAX + 1;
	assert_int_equal(dl_msg_enc_new_data(w, 0, 1, &bad, 1), -EINVAL);
	bad = ok;
	bad.off = DL_MSG_REF_OFF_MAX + 1;
	assert_int_equal(dl_msg_enc_send(w, 0, 1, &bad, 1), -EINVAL);
	assert_int_equal(dl_msg_enc_send(w, 0, 1, NULL, 1), -EINVAL);
	assert_int_equal(dl_msg_enc_send(w, DL_MAX_CORES, 1, &ok, 1), -EINVAL);
	assert_int_equal(dl_msg_enc_close(w, DL_MAX_CORES, 1), -EINVAL);
	assert_int_equal(dl_msg_enc_close(w, 256, 1), -EINVAL);
	assert_int_equal(dl_msg_enc_connect_failed(w, 0, 1, 0), -EINVAL);
	assert_int_equal(dl_msg_enc_connect_failed(w, 0, 1, -5), -EINVAL);
	assert_int_equal(dl_msg_enc_cmd_error(w, 0, 1, DL_MSG_SEND, 0, 0), -EINVAL);
	assert_int_equal(dl_msg_enc_cmd_error(w, 0, 1, DL_MSG_SEND, 65536, 0), -EINVAL);
	assert_int_equal(dl_msg_enc_cmd_error(w, 0, 1, DL_MSG_SEND, -1, 0), -EINVAL);
	assert_int_equal(dl_msg_enc_cmd_error(w, 0, 1, DL_MSG_NEW_DATA, 1, 0), -EINVAL);
	assert_int_equal(dl_msg_enc_cmd_error(w, 0, 1, DL_MSG_PKT_HANDOFF, 1, 0), -EINVAL);
	assert_int_equal(dl_msg_enc_cmd_error(w, 0, 1, 0x100 | DL_MSG_SEND, 1, 0), -EINVAL);
	assert_int_equal(dl_msg_enc_cmd_error(w, 0, 1, DL_MSG_SEND, 65535, 7), 3);
	assert_int_equal(dl_msg_enc_remote_closed(w, 0, 1, DL_MSG_CLOSE_ABORT + 1), -EINVAL);
	assert_int_equal(dl_msg_enc_shutdown(w, 0, 1, DL_SHUT_RDWR + 1), -EINVAL);
	assert_int_equal(dl_msg_enc_arp_learn(w, 0, 0, mac), -EINVAL);
	assert_int_equal(dl_msg_enc_arp_learn(w, 0, 1, NULL), -EINVAL);
	mac[0] = 0x01; /* multicast */
	assert_int_equal(dl_msg_enc_arp_learn(w, 0, 1, mac), -EINVAL);
	memset(mac, 0, sizeof(mac));
	assert_int_equal(dl_msg_enc_arp_learn(w, 0, 1, mac), -EINVAL);
	assert_int_equal(dl_msg_enc_pkt_handoff(w, 0, NULL), -EINVAL);
	assert_int_equal(dl_msg_enc_pkt_handoff(w, 0, &pkt), 6);
	pkt.data = NULL;
	assert_int_equal(dl_msg_enc_pkt_handoff(w, 0, &pkt), -EINVAL);
	pkt.data = data;
	pkt.len = 0;
	assert_int_equal(dl_msg_enc_pkt_handoff(w, 0, &pkt), -EINVAL);
	pkt.len = 4;
	pkt.flags = DL_RX_HANDOFF << 1;
	assert_int_equal(dl_msg_enc_pkt_handoff(w, 0, &pkt), -EINVAL);
	pkt.flags = 0;
	pkt.region = DL_REGION_MAX;
	assert_int_equal(dl_msg_enc_pkt_handoff(w, 0, &pkt), -EINVAL);
	/* Generic encoder: room and type checks. */
	memset(&m, 0, sizeof(m));
	m.type = DL_MSG_CONNECTED;
	assert_int_equal(dl_msg_encode(w, 1, &m), -ENOSPC);
	assert_int_equal(dl_msg_encode(w, 2, &m), 2);
	m.type = 0;
	assert_int_equal(dl_msg_encode(w, DL_MSG_MAX_WORDS, &m), -EINVAL);
	m.type = DL_MSG_NTYPES;
	assert_int_equal(dl_msg_encode(w, DL_MSG_MAX_WORDS, &m), -EINVAL);
	m.type = DL_MSG_LISTEN;
	m.conn = 5; /* LISTEN has no connection id */
	assert_int_equal(dl_msg_encode(w, DL_MSG_MAX_WORDS, &m), -EINVAL);
	m.type = DL_MSG_SEND;
	m.conn = 5;
	m.u.data.refs = NULL;
	m.u.data.n = 1;
	assert_int_equal(dl_msg_encode(w, DL_MSG_MAX_WORDS, &m), -EINVAL);
}

/* One valid message, one field broken at a time: the exact error. */
static void test_decode_specific_errors(void **state)
{
	uint64_t w[8] = {0};
	struct dl_msg m;
	(void)state;

	assert_int_equal(decode_exact(w, 0, &m), -ENODATA);
	w[0] = dl_msg_hdr(0, 1, 0, 0);
	assert_int_equal(decode_exact(w, 1, &m), -ENOMSG);
	w[0] = dl_msg_hdr(DL_MSG_NTYPES, 1, 0, 0);
	assert_int_equal(decode_exact(w, 1, &m), -ENOMSG);
	w[0] = dl_msg_hdr(255, 1, 0, 0);
	assert_int_equal(decode_exact(w, 1, &m), -ENOMSG);
	w[0] = dl_msg_hdr(DL_MSG_CLOSE, 0, 0, 7);
	assert_int_equal(decode_exact(w, 1, &m), -EBADMSG);
	w[0] = dl_msg_hdr(DL_MSG_CLOSE, 2, 0, 7);
	assert_int_equal(decode_exact(w, 2, &m), -EBADMSG);
	w[0] = dl_msg_hdr(DL_MSG_SEND, 1, 0, 7); /* array of 0 refs */
	assert_int_equal(decode_exact(w, 1, &m), -EBADMSG);
	w[0] = dl_msg_hdr(DL_MSG_SEND, 255, 0, 7);
	assert_int_equal(decode_exact(w, 8, &m), -EBADMSG);
	w[0] = dl_msg_hdr(DL_MSG_PKT_HANDOFF, 5, 0, 0);
	assert_int_equal(decode_exact(w, 8, &m), -EBADMSG);
	w[0] = dl_msg_hdr(DL_MSG_CONNECTED, 2, 0, 7); /* truncated */
	assert_int_equal(decode_exact(w, 1, &m), -ENODATA);

	/* Header: reserved bits, core, connection id where none exists. */
	w[0] = dl_msg_hdr(DL_MSG_CLOSE, 1, 0, 7);
	assert_int_equal(decode_exact(w, 1, &m), 1);
	for (int bit = 28; bit < 32; bit++) {
		w[0] = dl_msg_hdr(DL_MSG_CLOSE, 1, 0, 7) | UINT64_C(1) << bit;
		assert_int_equal(decode_exact(w, 1, &m), -EINVAL);
	}
	w[0] = dl_msg_hdr(DL_MSG_CLOSE, 1, DL_MAX_CORES, 7);
	assert_int_equal(decode_exact(w, 1, &m), -EINVAL);
	w[0] = dl_msg_hdr(DL_MSG_CLOSE, 1, DL_MAX_CORES - 1, 7);
	assert_int_equal(decode_exact(w, 1, &m), 1);
	w[0] = dl_msg_hdr(DL_MSG_LISTEN, 2, 0, 1);
	w[1] = 80;
	assert_int_equal(decode_exact(w, 2, &m), -EINVAL);
	w[0] = dl_msg_hdr(DL_MSG_LISTEN, 2, 0, 0);
	assert_int_equal(decode_exact(w, 2, &m), 2);
	w[1] = UINT64_C(1) << 48; /* reserved */
	assert_int_equal(decode_exact(w, 2, &m), -EINVAL);
	w[0] = dl_msg_hdr(DL_MSG_CONNECT, 3, 0, 1);
	w[1] = 42;
	w[2] = 80;
	assert_int_equal(decode_exact(w, 3, &m), -EINVAL);
	w[0] = dl_msg_hdr(DL_MSG_CONNECT_FAILED, 3, 0, 9);
	w[2] = 111;
	assert_int_equal(decode_exact(w, 3, &m), -EINVAL);

	/* Refs: length 0, region 127, NEW_DATA flag. */
	w[0] = dl_msg_hdr(DL_MSG_NEW_DATA, 3, 1, 9);
	w[1] = UINT64_C(1) << 40;
	w[2] = UINT64_C(5) << 40 | UINT64_C(126) << 56;
	assert_int_equal(decode_exact(w, 3, &m), 3);
	w[2] = 12345; /* length 0 */
	assert_int_equal(decode_exact(w, 3, &m), -EINVAL);
	w[2] = UINT64_C(5) << 40 | UINT64_C(127) << 56;
	assert_int_equal(decode_exact(w, 3, &m), -EINVAL);
	w[2] = UINT64_C(5) << 40 | UINT64_C(1) << 63;
	assert_int_equal(decode_exact(w, 3, &m), -EINVAL);
	w[0] = dl_msg_hdr(DL_MSG_SEND, 3, 1, 9); /* the flag is fine on SEND */
	assert_int_equal(decode_exact(w, 3, &m), 3);

	/* Enumerations and errno fields. */
	w[0] = dl_msg_hdr(DL_MSG_REMOTE_CLOSED, 2, 0, 9);
	w[1] = DL_MSG_CLOSE_ABORT;
	assert_int_equal(decode_exact(w, 2, &m), 2);
	w[1] = DL_MSG_CLOSE_ABORT + 1;
	assert_int_equal(decode_exact(w, 2, &m), -EINVAL);
	w[0] = dl_msg_hdr(DL_MSG_SHUTDOWN, 2, 0, 9);
	w[1] = DL_SHUT_RDWR + 1;
	assert_int_equal(decode_exact(w, 2, &m), -EINVAL);
	w[1] = UINT64_C(1) << 32 | DL_SHUT_WR;
	assert_int_equal(decode_exact(w, 2, &m), -EINVAL);
	w[0] = dl_msg_hdr(DL_MSG_CONNECT_FAILED, 3, 0, 0);
	w[1] = 1;
	w[2] = 0;
	assert_int_equal(decode_exact(w, 3, &m), -EINVAL);
	w[2] = 0x80000000u; /* not positive as an int */
	assert_int_equal(decode_exact(w, 3, &m), -EINVAL);
	w[2] = 111;
	assert_int_equal(decode_exact(w, 3, &m), 3);
	assert_int_equal(m.u.connect_failed.err, 111);
	w[0] = dl_msg_hdr(DL_MSG_CMD_ERROR, 3, 0, 0);
	w[1] = DL_MSG_SEND | 22 << 8;
	w[2] = 0;
	assert_int_equal(decode_exact(w, 3, &m), 3);
	w[1] = DL_MSG_SEND; /* errno 0 */
	assert_int_equal(decode_exact(w, 3, &m), -EINVAL);
	w[1] = DL_MSG_CLEANUP | 22 << 8; /* an event is not a command */
	assert_int_equal(decode_exact(w, 3, &m), -EINVAL);
	w[1] = DL_MSG_SEND | 22 << 8 | UINT64_C(1) << 24;
	assert_int_equal(decode_exact(w, 3, &m), -EINVAL);
	w[0] = dl_msg_hdr(DL_MSG_DATA_ACKED, 2, 0, 1);
	w[1] = UINT64_C(1) << 32;
	assert_int_equal(decode_exact(w, 2, &m), -EINVAL);
	w[0] = dl_msg_hdr(DL_MSG_RECV_DONE, 2, 0, 1);
	assert_int_equal(decode_exact(w, 2, &m), -EINVAL);
	w[0] = dl_msg_hdr(DL_MSG_ACCEPT, 2, 0, 1);
	w[1] = 1 << 16;
	assert_int_equal(decode_exact(w, 2, &m), -EINVAL);

	/* Internal messages. */
	w[0] = dl_msg_hdr(DL_MSG_ARP_LEARN, 3, 0, 0);
	w[1] = 0x0a000001;
	w[2] = 0x020000000001ull;
	assert_int_equal(decode_exact(w, 3, &m), -EINVAL); /* byte 0 = 0x01: multicast */
	w[2] = 0x010000000002ull;
	assert_int_equal(decode_exact(w, 3, &m), 3);
	assert_int_equal(m.u.arp_learn.mac[0], 0x02);
	assert_int_equal(m.u.arp_learn.mac[5], 0x01);
	w[2] |= UINT64_C(1) << 48;
	assert_int_equal(decode_exact(w, 3, &m), -EINVAL);
	w[2] = 0x010000000002ull;
	w[1] |= UINT64_C(1) << 32;
	assert_int_equal(decode_exact(w, 3, &m), -EINVAL);
	w[0] = dl_msg_hdr(DL_MSG_PKT_HANDOFF, 6, 0, 0);
	w[1] = 0x1000;
	w[2] = 60;
	w[3] = (uint64_t)DL_RX_HANDOFF | UINT64_C(3) << 32;
	w[4] = 0;
	w[5] = 0x2000;
	assert_int_equal(decode_exact(w, 6, &m), 6);
	assert_int_equal(m.u.handoff.region, 3);
	w[3] = (uint64_t)DL_RX_HANDOFF << 1;
	assert_int_equal(decode_exact(w, 6, &m), -EINVAL);
	w[3] = (uint64_t)DL_REGION_MAX << 32;
	assert_int_equal(decode_exact(w, 6, &m), -EINVAL);
	w[3] = 0;
	w[1] = 0; /* data NULL */
	assert_int_equal(decode_exact(w, 6, &m), -EINVAL);
}

/* Every truncation of every type's valid messages. */
static void test_truncations(void **state)
{
	struct rng r = {99};
	(void)state;

	for (unsigned t = 1; t < DL_MSG_NTYPES; t++) {
		bool array = t == DL_MSG_NEW_DATA || t == DL_MSG_SEND;
		bool paired = t == DL_MSG_ACKED_NEW_DATA || t == DL_MSG_SEND_RECV_DONE;

		for (int iter = 0; iter < 20; iter++) {
			uint64_t refw[DL_MSG_MAX_REFS], w[DL_MSG_MAX_WORDS];
			struct dl_msg m, d;
			int n;

			random_msg(&r, t, &m, refw,
				   iter != 0 ? 0
				   : array   ? DL_MSG_MAX_REFS
				   : paired  ? DL_MSG_MAX_REFS_PAIRED
					     : 0);
			n = dl_msg_encode(w, DL_MSG_MAX_WORDS, &m);
			assert_true(n > 0);
			/* Fewer words available than announced. */
			for (int avail = 0; avail < n; avail++)
				assert_int_equal(decode_exact(w, (unsigned)avail, &d), -ENODATA);
			/* Header announcing fewer words than the type needs. */
			for (int k = 0; k < n; k++) {
				uint64_t h = w[0];
				int rc;

				w[0] = (h & ~UINT64_C(0xff00)) | (uint64_t)k << 8;
				rc = decode_exact(w, (unsigned)n, &d);
				if ((array && k >= 2) || (paired && k >= 3)) {
					/* A shorter array is a valid message. */
					assert_int_equal(rc, k);
					assert_int_equal(d.u.data.n, k - 1 - paired);
				} else {
					assert_int_equal(rc, -EBADMSG);
				}
				w[0] = h;
			}
		}
	}
}

/* Flip every single bit of valid messages: either a precise rejection, or
 * a message that is still canonical and differs from the original. */
static void test_single_bit_flips(void **state)
{
	struct rng r = {4242};
	unsigned rejected = 0, accepted = 0;
	(void)state;

	for (unsigned t = 1; t < DL_MSG_NTYPES; t++) {
		uint64_t refw[DL_MSG_MAX_REFS], w[DL_MSG_MAX_WORDS], again[DL_MSG_MAX_WORDS];
		struct dl_msg m, d;
		int n;

		random_msg(&r, t, &m, refw, 3);
		n = dl_msg_encode(w, DL_MSG_MAX_WORDS, &m);
		assert_true(n > 0);
		for (int i = 0; i < n; i++) {
			for (int bit = 0; bit < 64; bit++) {
				int rc;

				w[i] ^= UINT64_C(1) << bit;
				rc = decode_exact(w, (unsigned)n, &d);
				if (rc > 0) {
					assert_true(rc <= n);
					assert_int_equal(dl_msg_encode(again, DL_MSG_MAX_WORDS, &d),
							 rc);
					assert_memory_equal(again, w, (size_t)rc * 8);
					accepted++;
				} else {
					assert_true(rc == -EINVAL || rc == -EBADMSG ||
						    rc == -ENOMSG || rc == -ENODATA);
					rejected++;
				}
				w[i] ^= UINT64_C(1) << bit;
			}
		}
	}
	/* Both outcomes happen: the test exercises both paths. */
	assert_true(rejected > 500);
	assert_true(accepted > 500);
}

/* A random word from a mix of shapes that often hit field boundaries. */
static uint64_t fuzz_word(struct rng *r)
{
	static const uint64_t masks[] = {
	    0,
	    0x3,
	    0xff,
	    0xffff,
	    0xffffffffu,
	    0x7fffffffu,
	    (UINT64_C(1) << 48) - 1,
	    (UINT64_C(1) << 56) - 1,
	    ~(UINT64_C(1) << 63),
	    ~UINT64_C(0),
	};
	uint64_t w = rng_next(r) & masks[rng_below(r, sizeof(masks) / sizeof(masks[0]))];

	if (rng_below(r, 4) == 0) /* a plausible ref word */
		w = (w & DL_MSG_REF_OFF_MAX) | (rng_below(r, 3)) << 40 | rng_below(r, 128) << 56;
	return w;
}

static void test_fuzz_random_words(void **state)
{
	unsigned accepted_by_type[DL_MSG_NTYPES] = {0};
	unsigned errors[5] = {0}; /* ENODATA ENOMSG EBADMSG EINVAL other */
	struct rng r = {0xfeedface};
	uint64_t w[DL_MSG_MAX_WORDS + 8], again[DL_MSG_MAX_WORDS];
	(void)state;

	for (int iter = 0; iter < 400000; iter++) {
		unsigned avail = (unsigned)rng_below(&r, DL_MSG_MAX_WORDS + 8);
		unsigned kind = (unsigned)rng_below(&r, 4);
		struct dl_msg d;
		int rc;

		for (unsigned i = 0; i < DL_MSG_MAX_WORDS + 8; i++)
			w[i] = kind == 0 ? rng_next(&r) : fuzz_word(&r);
		if (kind >= 2) {
			/* A header that passes most checks, rest random. */
			unsigned type = (unsigned)rng_below(&r, DL_MSG_NTYPES + 2);
			unsigned nw = (unsigned)(kind == 3 ? rng_below(&r, 7)
							   : rng_below(&r, DL_MSG_MAX_WORDS + 3));
			w[0] = dl_msg_hdr(type, nw, (unsigned)rng_below(&r, DL_MAX_CORES + 6),
					  rng_below(&r, 2) ? 0 : (uint32_t)rng_next(&r));
			if (rng_below(&r, 16) == 0)
				w[0] |= rng_next(&r) & (UINT64_C(0xf) << 28);
			if (avail < nw && rng_below(&r, 2))
				avail = nw;
			/* CMD_ERROR's first word is narrow: make a plausible
			 * one (any type, errno often 0) half of the time. */
			if (type == DL_MSG_CMD_ERROR && rng_below(&r, 2))
				w[1] = rng_below(&r, DL_MSG_NTYPES + 2) | rng_below(&r, 3) << 8;
		}
		rc = decode_exact(w, avail, &d);
		if (rc > 0) {
			assert_true((unsigned)rc <= avail);
			assert_true(d.type > 0 && d.type < DL_MSG_NTYPES);
			assert_int_equal(dl_msg_encode(again, DL_MSG_MAX_WORDS, &d), rc);
			assert_memory_equal(again, w, (size_t)rc * 8);
			accepted_by_type[d.type]++;
		} else {
			switch (rc) {
			case -ENODATA:
				errors[0]++;
				break;
			case -ENOMSG:
				errors[1]++;
				break;
			case -EBADMSG:
				errors[2]++;
				break;
			case -EINVAL:
				errors[3]++;
				break;
			default:
				errors[4]++;
				break;
			}
		}
	}
	/* The fuzzer reached every type's payload checks and every error. */
	for (unsigned t = 1; t < DL_MSG_NTYPES; t++) {
		if (accepted_by_type[t] == 0)
			fail_msg("fuzz never produced a valid %s", dl_msg_type_name(t));
	}
	for (int e = 0; e < 4; e++)
		assert_true(errors[e] > 0);
	assert_int_equal(errors[4], 0);
}

/* The paired types: a byte-count word, then at most 124 refs; the count
 * is 32 bits and never 0; ACKED_NEW_DATA refuses the "more" flag as
 * NEW_DATA does, SEND_RECV_DONE allows it as SEND does. */
static void test_paired_types(void **state)
{
	struct dl_msg_ref refs[DL_MSG_MAX_REFS];
	uint64_t w[DL_MSG_MAX_WORDS + 1];
	struct dl_msg m;
	(void)state;

	for (unsigned i = 0; i < DL_MSG_MAX_REFS; i++)
		refs[i] = (struct dl_msg_ref){.off = 64u * i, .len = 1 + i, .region = 3};
	assert_int_equal(dl_msg_enc_acked_new_data(w, 2, 77, 0xffffffffu, refs,
						   DL_MSG_MAX_REFS_PAIRED),
			 DL_MSG_MAX_WORDS);
	assert_int_equal(decode_exact(w, DL_MSG_MAX_WORDS, &m), DL_MSG_MAX_WORDS);
	assert_int_equal(m.type, DL_MSG_ACKED_NEW_DATA);
	assert_int_equal(m.u.data.bytes, 0xffffffffu);
	assert_int_equal(m.u.data.n, DL_MSG_MAX_REFS_PAIRED);
	assert_int_equal(dl_msg_ref_unpack(m.u.data.refs[0]).len, 1);
	assert_int_equal(dl_msg_ref_unpack(m.u.data.refs[DL_MSG_MAX_REFS_PAIRED - 1]).off,
			 64u * (DL_MSG_MAX_REFS_PAIRED - 1));
	/* One ref too many, none, or a count of 0. */
	assert_int_equal(dl_msg_enc_acked_new_data(w, 2, 77, 1, refs, DL_MSG_MAX_REFS_PAIRED + 1),
			 -EINVAL);
	assert_int_equal(dl_msg_enc_send_recv_done(w, 2, 77, 1, refs, 0), -EINVAL);
	assert_int_equal(dl_msg_enc_send_recv_done(w, 2, 77, 0, refs, 1), -EINVAL);
	assert_int_equal(dl_msg_enc_acked_new_data(w, 2, 77, 0, refs, 1), -EINVAL);
	assert_int_equal(dl_msg_enc_acked_new_data(w, DL_MAX_CORES, 77, 1, refs, 1), -EINVAL);
	/* The flag: refused on the event, kept on the command. */
	refs[0].more = true;
	assert_int_equal(dl_msg_enc_acked_new_data(w, 2, 77, 1, refs, 1), -EINVAL);
	assert_int_equal(dl_msg_enc_send_recv_done(w, 2, 77, 1500, refs, 2), 4);
	assert_int_equal(decode_exact(w, 4, &m), 4);
	assert_int_equal(m.type, DL_MSG_SEND_RECV_DONE);
	assert_int_equal(m.u.data.bytes, 1500);
	assert_int_equal(m.u.data.n, 2);
	assert_true(dl_msg_ref_unpack(m.u.data.refs[0]).more);
	w[0] = dl_msg_hdr(DL_MSG_ACKED_NEW_DATA, 4, 2, 77);
	assert_int_equal(decode_exact(w, 4, &m), -EINVAL);
	refs[0].more = false;
	/* Decoder: a count word alone, a count of 0, bits above 32. */
	assert_int_equal(dl_msg_enc_send_recv_done(w, 2, 77, 9, refs, 1), 3);
	assert_int_equal(decode_exact(w, 3, &m), 3);
	w[0] = dl_msg_hdr(DL_MSG_SEND_RECV_DONE, 2, 2, 77);
	assert_int_equal(decode_exact(w, 2, &m), -EBADMSG);
	w[0] = dl_msg_hdr(DL_MSG_SEND_RECV_DONE, 3, 2, 77);
	w[1] = 0;
	assert_int_equal(decode_exact(w, 3, &m), -EINVAL);
	w[1] = UINT64_C(1) << 32 | 9;
	assert_int_equal(decode_exact(w, 3, &m), -EINVAL);
	w[1] = 9;
	w[2] = 0; /* a ref of length 0 */
	assert_int_equal(decode_exact(w, 3, &m), -EINVAL);
	/* In-place builder: the same words as the checked encoders. */
	{
		uint64_t v[DL_MSG_MAX_WORDS];
		for (unsigned i = 0; i < 3; i++)
			v[2 + i] = dl_msg_ref_pack(&refs[i]);
		v[1] = 777;
		assert_int_equal(dl_msg_finish_refs(v, DL_MSG_SEND_RECV_DONE, 5, 9, 3), 5);
		assert_int_equal(dl_msg_enc_send_recv_done(w, 5, 9, 777, refs, 3), 5);
		assert_memory_equal(v, w, 5 * 8);
		assert_int_equal(dl_msg_finish_refs(v, DL_MSG_ACKED_NEW_DATA, 5, 9, 3), 5);
		assert_int_equal(dl_msg_enc_acked_new_data(w, 5, 9, 777, refs, 3), 5);
		assert_memory_equal(v, w, 5 * 8);
		assert_int_equal(dl_msg_finish_refs(v + 1, DL_MSG_SEND, 5, 9, 3), 4);
		assert_int_equal(dl_msg_enc_send(w, 5, 9, refs, 3), 4);
		assert_memory_equal(v + 1, w, 4 * 8);
		assert_int_equal(dl_msg_finish_refs(v + 1, DL_MSG_NEW_DATA, 5, 9, 3), 4);
		assert_int_equal(dl_msg_enc_new_data(w, 5, 9, refs, 3), 4);
		assert_memory_equal(v + 1, w, 4 * 8);
		assert_int_equal(decode_exact(v + 1, 4, &m), 4);
	}
	/* Plain NEW_DATA and SEND decode with a count of 0. */
	assert_int_equal(dl_msg_enc_send(w, 2, 77, refs, 1), 2);
	m.u.data.bytes = 5;
	assert_int_equal(decode_exact(w, 2, &m), 2);
	assert_int_equal(m.u.data.bytes, 0);
}

/* The paired types' fast path (dl_msg_decode_paired(), which
 * dl_msg_decode() and the NoC endpoint try first) against the rules
 * written out here once more: every single-bit flip and every truncation
 * of valid paired messages; whatever it accepts dl_msg_decode() accepts
 * with the same result, whatever it leaves dl_msg_decode() refuses or
 * is of another type. */
static bool paired_model_ok(const uint64_t *w, unsigned avail)
{
	unsigned t = dl_msg_hdr_type(w[0]), n = dl_msg_hdr_words(w[0]);

	if (avail < 3 || (t != DL_MSG_ACKED_NEW_DATA && t != DL_MSG_SEND_RECV_DONE) || n < 3 ||
	    n > DL_MSG_MAX_WORDS || n > avail || ((w[0] >> 28) & 0xf) != 0 ||
	    dl_msg_hdr_core(w[0]) >= DL_MAX_CORES || w[1] == 0 || w[1] > 0xffffffffu)
		return false;
	for (unsigned i = 2; i < n; i++) {
		struct dl_msg_ref r = dl_msg_ref_unpack(w[i]);
		if (r.len == 0 || r.region > DL_MSG_REF_REGION_MAX ||
		    (t == DL_MSG_ACKED_NEW_DATA && r.more))
			return false;
	}
	return true;
}

static void check_paired_fast_path(const uint64_t *w, unsigned avail)
{
	struct dl_msg a, b;
	unsigned fast = dl_msg_decode_paired(w, avail, &a);
	int full = dl_msg_decode(w, avail, &b);

	assert_int_equal(fast != 0, paired_model_ok(w, avail));
	if (fast == 0) {
		unsigned t = dl_msg_hdr_type(w[0]);
		if (avail > 0 && (t == DL_MSG_ACKED_NEW_DATA || t == DL_MSG_SEND_RECV_DONE))
			assert_true(full < 0);
		return;
	}
	assert_int_equal(full, (int)fast);
	assert_int_equal(fast, dl_msg_hdr_words(w[0]));
	assert_int_equal(a.type, b.type);
	assert_int_equal(a.nwords, b.nwords);
	assert_int_equal(a.core, b.core);
	assert_int_equal(a.conn, b.conn);
	assert_ptr_equal(a.u.data.refs, w + 2);
	assert_ptr_equal(b.u.data.refs, w + 2);
	assert_int_equal(a.u.data.n, b.u.data.n);
	assert_int_equal(a.u.data.bytes, b.u.data.bytes);
}

static void test_paired_fast_path(void **state)
{
	struct dl_msg_ref refs[4];
	uint64_t w[DL_MSG_MAX_WORDS];
	(void)state;

	for (unsigned i = 0; i < 4; i++)
		refs[i] = (struct dl_msg_ref){
		    .off = 4096u * i + 7, .len = 100 + i, .region = 5, .more = i == 1};
	for (int send = 0; send < 2; send++) {
		refs[1].more = send;
		int n = send ? dl_msg_enc_send_recv_done(w, 3, 1234, 77, refs, 4)
			     : dl_msg_enc_acked_new_data(w, 3, 1234, 77, refs, 4);
		assert_int_equal(n, 6);
		for (unsigned avail = 0; avail <= 6; avail++)
			check_paired_fast_path(w, avail);
		for (int i = 0; i < n; i++)
			for (int bit = 0; bit < 64; bit++) {
				w[i] ^= UINT64_C(1) << bit;
				check_paired_fast_path(w, (unsigned)n);
				w[i] ^= UINT64_C(1) << bit;
			}
		/* Region 127, the largest valid region, length 0 and 65535. */
		w[3] |= UINT64_C(0x7f) << 56;
		check_paired_fast_path(w, 6);
		w[3] = (w[3] & ~(UINT64_C(0x7f) << 56)) | UINT64_C(126) << 56;
		check_paired_fast_path(w, 6);
		w[4] &= ~(UINT64_C(0xffff) << 40);
		check_paired_fast_path(w, 6);
		w[4] |= UINT64_C(0xffff) << 40;
		check_paired_fast_path(w, 6);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names_and_classes),
	    cmocka_unit_test(test_roundtrip_every_type),
	    cmocka_unit_test(test_max_arrays),
	    cmocka_unit_test(test_paired_types),
	    cmocka_unit_test(test_encoders_reject_bad_arguments),
	    cmocka_unit_test(test_decode_specific_errors),
	    cmocka_unit_test(test_truncations),
	    cmocka_unit_test(test_single_bit_flips),
	    cmocka_unit_test(test_paired_fast_path),
	    cmocka_unit_test(test_fuzz_random_words),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
