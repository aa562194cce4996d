/*
 * fuzz_noc_hostile_app.c - an attached application that sends the network
 * core anything it likes, in protected mode.
 *
 * The world (built per input, in memory, as test/protected/test_validation.c
 * does): an engine in DL_MODE_PROTECTED (the dlibosd service, one network
 * core on the in-memory wire), two application slots attached in-process,
 * and a client stack as the TCP peer of both.
 *   - slot 0, the hostile application A: two application cores, its own TX
 *     region (all 'X'), listens on 9 (through the script), has one accepted
 *     connection and one offered and never accepted, may connect to the
 *     client's port 5001; core 0 speaks through a NoC endpoint, core 1
 *     writes its channel's memory directly (any words, any slot);
 *   - slot 1, the victim B: one core, TX region all 'Y', one accepted
 *     connection on port 7; it reads its events and returns its data.
 *   - the client sends 'A'..'P' bytes on A's connections and 'a'..'p' on
 *     B's; it listens on 5001 for A's active opens.
 *
 * The script (after a byte choosing A's policy and the invalid-command
 * limit): commands from A's core 0 built from templates (every command
 * type; connection ids of A, of B, offered to A, dead, random; references
 * into A's TX region, past its end, into B's region, the RX region, the
 * fabric, a random region; recv_done counts at, past and far past what was
 * delivered; a wrong network core), bursts of one command, raw words and
 * scribbles from core 1, polling A's events or not (its queues fill up),
 * client data, closes and connects, time steps, detaching A (as dlibosd
 * does when the engine kicks it) and attaching it again.
 *
 * Oracles (any violation aborts): no crash or sanitizer report; every data
 * event A or B receives references the RX region only, with bytes of its
 * own connections only (never the other application's), for a connection
 * the engine gave it (unless A returned data of that connection it had not
 * read yet: the buffers may then hold anything when it reads, its own
 * doing); the client never receives a byte on B's connection
 * (B sends nothing) and only 'X' bytes on A's (A's own TX memory); B is
 * never kicked, never gets an error, and its connection stays up while A
 * misbehaves; every command the script knows to be invalid is counted
 * (command errors or malformed messages) once A's channel is drained; at
 * teardown every wire buffer is back in the pool.
 */
#include "dl_ctl.h"
#include "dl_engine_priv.h"
#include "dl_log.h"
#include "dl_memwire.h"
#include "dl_policy.h"
#include "dl_tcp_wire.h"
#include "fuzz_input.h"

#include <errno.h>

#define SERVER_IP 0x0a000002u
#define CLIENT_IP 0x0a000001u
#define TX_LEN	  (16u * 1024)
#define MAXID	  64
#define MAX_OPS	  300
/* Re-attachments of A per input: each builds a slot (fabric, RX region) and
 * costs milliseconds of page faults; more than a few made inputs slow
 * enough to hit libFuzzer's timeout without reaching anything new. */
#define MAX_REATTACH 4

/* ---- the applications (from their side) ---------------------------------- */

struct app {
	bool attached;
	unsigned slot, ncores;
	char tag_lo, tag_hi; /* the bytes its peers send it */
	struct dl_region *tx;
	struct dl_noc_fabric *fab;
	struct dl_noc_ep *ep[2];
	struct dl_chan_prod raw; /* core 1's channel to the network core (A only) */
	bool raw_ok;
	uint32_t ids[MAXID]; /* connections the engine gave it */
	uint32_t unret[MAXID];
	/* Bytes read from data events and returned by recv_done commands sent,
	 * per connection: once it returned what it had not read, what it reads
	 * later may be another's data, by its own doing (the RX region is
	 * readable by every application, docs/protected.md). */
	uint64_t read[MAXID], returned[MAXID];
	bool early[MAXID];
	unsigned nids;
	uint32_t offered[MAXID]; /* offered, not accepted */
	unsigned noffered;
	unsigned errors;
	uint64_t msg[DL_MSG_MAX_WORDS];
};

struct cconn {
	uint32_t id;
	uint16_t port; /* the server port: 7 B's, 9/10 A's listeners, 0 A's active open */
	bool up;
};

struct world {
	struct dl_engine *e;
	struct dl_stack *client;
	uint64_t now;
	struct app a, b;
	unsigned reattached; /* times A was attached again (MAX_REATTACH) */
	struct cconn cc[MAXID];
	unsigned ncc;
	uint32_t b_conn; /* B's connection (engine id), 0 before */
	bool b_peer_down;
	uint64_t bad_sent;	 /* commands known invalid, sent by A */
	uint64_t a_client_bytes; /* bytes the client sent on A's connections */
	uint32_t dead[8];
	unsigned ndead;
	uint8_t pol;
	struct dl_policy policy;
	uint32_t limit;
	uint16_t rx_id;
};

static struct dl_memwire *W;
static struct world *cur;
static int debug = -1; /* FUZZ_DEBUG=1: trace A's commands and errors (replaying a reproducer) */

static bool dbg(void)
{
	if (debug < 0)
		debug = getenv("FUZZ_DEBUG") != NULL;
	return debug;
}

static void trace_cmd(const char *what, const uint64_t *m, int n, bool bad)
{
	if (!dbg())
		return;
	fprintf(stderr, "%s: type %u words %d core %u conn %#x%s:", what, dl_msg_hdr_type(m[0]), n,
		dl_msg_hdr_core(m[0]), dl_msg_hdr_conn(m[0]), bad ? " (invalid)" : "");
	for (int i = 1; i < n && i < 6; i++)
		fprintf(stderr, " %#llx", (unsigned long long)m[i]);
	fprintf(stderr, "\n");
}

static bool id_known(const struct app *a, uint32_t id, unsigned *at)
{
	for (unsigned i = 0; i < a->nids; i++)
		if (a->ids[i] == id) {
			if (at != NULL)
				*at = i;
			return true;
		}
	return false;
}

static void id_add(struct app *a, uint32_t id)
{
	if (!id_known(a, id, NULL) && a->nids < MAXID) {
		a->unret[a->nids] = 0;
		a->read[a->nids] = a->returned[a->nids] = 0;
		a->early[a->nids] = false;
		a->ids[a->nids++] = id;
	}
}

static void id_del(struct world *w, struct app *a, uint32_t id)
{
	unsigned i;

	for (unsigned k = 0; k < a->noffered; k++)
		if (a->offered[k] == id)
			a->offered[k] = a->offered[--a->noffered];
	if (!id_known(a, id, &i))
		return;
	a->ids[i] = a->ids[--a->nids];
	a->unret[i] = a->unret[a->nids];
	a->read[i] = a->read[a->nids];
	a->returned[i] = a->returned[a->nids];
	a->early[i] = a->early[a->nids];
	w->dead[w->ndead++ % 8] = id;
}

/* Events of application `a` (its core `arg`... the app itself). */
static void on_event(void *arg, unsigned src, const struct dl_msg *m)
{
	struct app *a = arg;
	struct world *w = cur;
	unsigned at;

	(void)src;
	if (dbg() && m->type != DL_MSG_CMD_ERROR)
		fprintf(stderr, "slot %u: event %s conn %#x%s\n", a->slot,
			dl_msg_type_name(m->type), m->conn,
			m->type == DL_MSG_NEW_CONN ? " (offered)" : "");
	switch (m->type) {
	case DL_MSG_NEW_CONN:
		FZ_CHECK(a == &w->a ? m->u.new_conn.local_port != 7 : m->u.new_conn.local_port == 7,
			 "new_conn for port %u offered to slot %u", m->u.new_conn.local_port,
			 a->slot);
		if (a->noffered < MAXID)
			a->offered[a->noffered++] = m->conn;
		id_add(a, m->conn);
		break;
	case DL_MSG_CONNECTED:
		FZ_CHECK(a == &w->a, "connected to slot %u", a->slot);
		id_add(a, m->conn);
		break;
	case DL_MSG_CMD_ERROR:
		a->errors++;
		if (dbg())
			fprintf(stderr, "slot %u: error: command %u errno %d conn %#x\n", a->slot,
				m->u.cmd_error.cmd, m->u.cmd_error.err, m->conn);
		FZ_CHECK(a != &w->b, "B got an error: command %u errno %d", m->u.cmd_error.cmd,
			 m->u.cmd_error.err);
		break;
	case DL_MSG_CLEANUP:
		id_del(w, a, m->conn);
		break;
	case DL_MSG_ACKED_NEW_DATA:
	case DL_MSG_NEW_DATA: {
		/* Each slot reads its data in its own RX region (copied there, or
		 * steered into its pool): never the port's, never another's. */
		const struct dl_region *rx = dl_engine_slot_rx(w->e, a->slot);
		uint32_t bytes = 0;
		FZ_CHECK(rx != NULL, "data event for slot %u without an RX region", a->slot);
		FZ_CHECK(id_known(a, m->conn, &at),
			 "data for connection %#x never given to slot %u", m->conn, a->slot);
		for (unsigned i = 0; i < m->u.data.n; i++) {
			struct dl_msg_ref r = dl_msg_ref_unpack(m->u.data.refs[i]);
			FZ_CHECK(r.region == rx->id && dl_region_contains(rx, r.off, r.len),
				 "slot %u given region %u offset %llu length %u", a->slot, r.region,
				 (unsigned long long)r.off, r.len);
			for (uint32_t k = 0; k < r.len && !a->early[at]; k++) {
				char ch = (char)rx->base[r.off + k];
				FZ_CHECK(ch >= a->tag_lo && ch <= a->tag_hi,
					 "slot %u reads a byte %#x of another's connection",
					 a->slot, (unsigned)(uint8_t)ch);
			}
			bytes += r.len;
		}
		a->unret[at] += bytes;
		a->read[at] += bytes;
		break;
	}
	default:
		break;
	}
}

/* ---- the client ------------------------------------------------------------- */

static struct cconn *cc_find(struct world *w, uint32_t id)
{
	for (unsigned i = 0; i < w->ncc; i++)
		if (w->cc[i].id == id)
			return &w->cc[i];
	return NULL;
}

static void c_connected(void *arg, uint16_t app, uint32_t id, uint64_t cookie)
{
	struct world *w = arg;

	(void)app;
	if (cookie < MAXID && w->cc[cookie].id == 0) {
		w->cc[cookie].id = id;
		w->cc[cookie].up = true;
	}
}

static void c_failed(void *arg, uint16_t app, uint64_t cookie, int err)
{
	(void)arg, (void)app, (void)cookie, (void)err;
}

static void c_new_conn(void *arg, uint32_t id, uint16_t lport, uint32_t ip, uint16_t rport)
{
	struct world *w = arg;

	(void)lport, (void)ip, (void)rport;
	FZ_CHECK(dl_stack_accept(w->client, 0, id) == 0, "client accept");
	if (w->ncc < MAXID)
		w->cc[w->ncc++] = (struct cconn){id, 0, true};
}

static void c_new_data(void *arg, uint16_t app, uint32_t id, const struct dl_rx_ref *refs,
		       unsigned n)
{
	struct world *w = arg;
	struct cconn *c = cc_find(w, id);
	uint32_t total = 0;

	(void)app;
	for (unsigned i = 0; i < n; i++) {
		FZ_CHECK(c == NULL || c->port != 7, "the peer of B received %u bytes", refs[i].len);
		for (uint32_t k = 0; k < refs[i].len; k++)
			FZ_CHECK(refs[i].data[k] == 'X',
				 "the peer of A received a byte %#x that is not A's memory",
				 refs[i].data[k]);
		total += refs[i].len;
	}
	dl_stack_recv_done(w->client, 0, id, total);
}

static void c_remote_closed(void *arg, uint16_t app, uint32_t id, enum dl_close_reason why)
{
	struct world *w = arg;
	struct cconn *c = cc_find(w, id);

	(void)app, (void)why;
	if (c != NULL && c->port == 7)
		w->b_peer_down = true;
}

static void c_cleanup(void *arg, uint16_t app, uint32_t id)
{
	struct world *w = arg;
	struct cconn *c = cc_find(w, id);

	(void)app;
	if (c != NULL) {
		c->up = false;
		c->id = 0xffffffffu;
	}
}

static void c_acked(void *arg, uint16_t app, uint32_t id, uint32_t bytes)
{
	(void)arg, (void)app, (void)id, (void)bytes;
}

static const struct dl_stack_upcalls client_up = {
    .new_conn = c_new_conn,
    .connected = c_connected,
    .connect_failed = c_failed,
    .new_data = c_new_data,
    .data_acked = c_acked,
    .remote_closed = c_remote_closed,
    .cleanup = c_cleanup,
};

static void client_connect(struct world *w, uint16_t port)
{
	uint32_t id;

	if (w->ncc >= MAXID)
		return;
	w->cc[w->ncc] = (struct cconn){0, port, false};
	if (dl_stack_connect(w->client, 0, w->ncc, SERVER_IP, port, &id) == 0)
		w->ncc++;
}

static void client_send(struct world *w, struct cconn *c, uint32_t len)
{
	static uint8_t lo[2048], hi[2048];
	const uint8_t *src = c->port == 7 ? lo : hi;
	struct dl_tx_frag f;

	if (lo[0] == 0)
		for (unsigned i = 0; i < sizeof(lo); i++) {
			lo[i] = (uint8_t)('a' + i % 16);
			hi[i] = (uint8_t)('A' + i % 16);
		}
	if (!c->up || len == 0)
		return;
	f = (struct dl_tx_frag){src, len > sizeof(lo) ? (uint32_t)sizeof(lo) : len, DL_REGION_NONE};
	if (dl_stack_send(w->client, 0, c->id, &f, 1) == 0 && c->port != 7)
		w->a_client_bytes += f.len;
}

/* ---- the loop ------------------------------------------------------------------ */

static void poll_app(struct app *a, unsigned core)
{
	if (a->attached && a->ep[core] != NULL) {
		dl_noc_poll(a->ep[core], 4096, on_event, a);
		dl_noc_flush(a->ep[core]);
	}
}

/* B behaves: reads its events, returns its data. */
static void run_b(struct world *w)
{
	struct app *b = &w->b;

	poll_app(b, 0);
	for (unsigned i = 0; i < b->noffered; i++) {
		dl_noc_send(b->ep[0], 0, b->msg,
			    (unsigned)dl_msg_enc_accept(b->msg, 0, b->offered[i], 7));
		w->b_conn = b->offered[i];
	}
	b->noffered = 0;
	for (unsigned i = 0; i < b->nids; i++)
		if (b->unret[i] > 0) {
			dl_noc_send(
			    b->ep[0], 0, b->msg,
			    (unsigned)dl_msg_enc_recv_done(b->msg, 0, b->ids[i], b->unret[i]));
			b->unret[i] = 0;
		}
	dl_noc_flush(b->ep[0]);
}

static void detach_a(struct world *w);

/* The recv_done halves of what A sends (@p nwords words, messages back to
 * back, framing not trusted): counted per connection of A. */
static void account_sent(struct app *a, const uint64_t *m, unsigned nwords)
{
	for (unsigned i = 0; i < nwords;) {
		unsigned n = dl_msg_hdr_words(m[i]), type = dl_msg_hdr_type(m[i]), at;

		if (n == 0)
			break;
		if ((type == DL_MSG_RECV_DONE || type == DL_MSG_SEND_RECV_DONE) &&
		    id_known(a, dl_msg_hdr_conn(m[i]), &at)) {
			a->returned[at] += i + 1 < nwords ? (uint32_t)m[i + 1] : UINT32_MAX;
			if (a->returned[at] > a->read[at])
				a->early[at] = true;
		}
		i += n;
	}
}

/* A word written anywhere in A's channel: any connection may be named. */
static void account_scribble(struct app *a, uint64_t v)
{
	unsigned type = dl_msg_hdr_type(v);

	if (type == DL_MSG_RECV_DONE || type == DL_MSG_SEND_RECV_DONE || v >> 32 == 0)
		for (unsigned i = 0; i < a->nids; i++)
			a->early[i] = true;
}

static void round_(struct world *w, bool poll_a)
{
	struct dl_rx_pkt pkts[32];
	uint16_t n;

	dl_engine_core_iter(w->e, 0, w->now);
	if (poll_a) {
		poll_app(&w->a, 0);
		poll_app(&w->a, 1);
	}
	run_b(w);
	while ((n = dl_nic_rx_burst(dl_memwire_nic(W, 1), 0, pkts, 32)) > 0)
		dl_stack_input(w->client, pkts, n, w->now);
	dl_stack_poll(w->client, w->now);
	dl_stack_flush(w->client);
	w->now += 100;
	FZ_CHECK(dl_engine_slot_kicked(w->e, 1) == DL_KICK_NONE, "B was kicked");
	FZ_CHECK(!w->b_peer_down, "B's connection was closed by A's doing");
	if (w->a.attached && dl_engine_slot_kicked(w->e, 0) != DL_KICK_NONE)
		detach_a(w); /* what dlibosd does with a kicked application */
}

/* ---- attaching -------------------------------------------------------------------- */

static void attach(struct world *w, struct app *a, unsigned slot, unsigned ncores, char fill,
		   const struct dl_policy_rule *rule)
{
	struct dl_slot_grant g;
	struct dl_coreset links[DL_MAX_CORES];
	char err[256], name[32];
	struct dl_region *fr;
	unsigned nnet = dl_engine_net_cores(w->e);
	size_t off;

	memset(a->ids, 0, sizeof(a->ids));
	a->nids = a->noffered = 0;
	a->slot = slot;
	a->ncores = ncores;
	snprintf(name, sizeof(name), "fz-app%u-tx", slot);
	a->tx = dl_region_create(name, TX_LEN, DL_REGION_SHARED);
	FZ_CHECK(a->tx != NULL, "region");
	memset(a->tx->base, fill, TX_LEN);
	memset(&g, 0, sizeof(g));
	g.n_app = ncores;
	g.tx = a->tx;
	g.rights = rule != NULL ? &rule->may : NULL;
	snprintf(g.name, sizeof(g.name), "app%u", slot);
	FZ_CHECK(dl_engine_slot_attach(w->e, slot, &g, err, sizeof(err)) == 0, "attach: %s", err);
	fr = dl_engine_slot_fabric(w->e, slot);
	dl_engine_slot_links(nnet, ncores, links);
	a->fab = dl_noc_fabric_attach(fr->base, dl_engine_slot_fabric_len(w->e, slot),
				      nnet + ncores, dl_engine_noc_words(w->e), links);
	FZ_CHECK(a->fab != NULL, "fabric attach");
	for (unsigned j = 0; j < ncores; j++) {
		a->ep[j] =
		    dl_noc_ep_create(a->fab, nnet + j, &(struct dl_noc_conf){.no_stats = true});
		FZ_CHECK(a->ep[j] != NULL, "endpoint");
	}
	a->raw_ok = false;
	if (ncores > 1 && dl_noc_fabric_chan_offset(a->fab, nnet + 1, 0, &off) == 0)
		a->raw_ok = dl_chan_prod_init(&a->raw, fr->base + off, dl_engine_noc_words(w->e),
					      NULL) == 0;
	a->attached = true;
}

static void release(struct world *w, struct app *a)
{
	struct dl_region *tx = NULL;

	for (unsigned j = 0; j < a->ncores; j++)
		dl_noc_ep_destroy(a->ep[j]);
	memset(a->ep, 0, sizeof(a->ep));
	dl_noc_fabric_destroy(a->fab);
	a->fab = NULL;
	dl_engine_slot_release(w->e, a->slot, &tx);
	FZ_CHECK(tx == a->tx, "released region");
	dl_region_destroy(tx);
	a->tx = NULL;
	a->attached = false;
	a->raw_ok = false;
}

static void detach_a(struct world *w)
{
	struct app *a = &w->a;

	a->attached = false; /* nothing of A's runs meanwhile */
	dl_engine_slot_detach(w->e, a->slot);
	for (unsigned r = 0; r < 20 && !dl_engine_slot_quiet(w->e, a->slot); r++)
		round_(w, false);
	FZ_CHECK(dl_engine_slot_quiet(w->e, a->slot), "slot 0 never let go");
	release(w, a);
	w->bad_sent = 0; /* the counters are per attachment no more: stop counting */
}

static const struct dl_policy_rule *policy_of(struct world *w)
{
	static const char *const text[4] = {
	    NULL,
	    "app=app0 listen=9,10 connect=5001\n",
	    "* listen=9 connect=any cmd-rate=500\n",
	    "* listen=9,10 connect=5001 send-rate=20k\n",
	};
	char err[200];

	if (text[w->pol & 3] == NULL)
		return NULL;
	FZ_CHECK(dl_policy_parse(&w->policy, text[w->pol & 3], err, sizeof(err)) == 0, "%s", err);
	return &w->policy.rule[0];
}

/* ---- A's commands ------------------------------------------------------------- */

static uint32_t pick_id_(struct world *w, struct fz *in)
{
	struct app *a = &w->a;
	uint8_t s = fz_u8(in);

	switch (s % 6) {
	case 0:
	case 1:
		return a->nids > 0 ? a->ids[(s >> 3) % a->nids] : 1;
	case 2:
		return w->b_conn;
	case 3:
		return w->dead[(s >> 3) % 8];
	case 4:
		return fz_u32(in);
	default:
		return w->b_conn ^ (1u << ((s >> 3) % 32)); /* another slot or generation */
	}
}

/* A connection id for a command of A, and whether the engine gave it to A
 * (whatever the choice: a random id may be one of A's). */
static uint32_t pick_id(struct world *w, struct fz *in, bool *own)
{
	uint32_t id = pick_id_(w, in);

	*own = id_known(&w->a, id, NULL);
	return id;
}

static bool offered_to_a(const struct world *w, uint32_t id)
{
	for (unsigned k = 0; k < w->a.noffered; k++)
		if (w->a.offered[k] == id)
			return true;
	return false;
}

/* A ref for a SEND of A; *bad when it lies outside A's TX region. */
static struct dl_msg_ref pick_ref(struct world *w, struct fz *in, bool *bad)
{
	uint8_t s = fz_u8(in);
	struct dl_msg_ref r = {0};
	uint16_t len = fz_u16(in);

	r.len = len ? len : 1;
	r.more = (s & 0x80) != 0;
	switch (s % 8) {
	case 0:
	case 1:
	case 2: /* inside A's region */
		r.region = (uint8_t)w->a.tx->id;
		r.len = 1 + len % 4096;
		r.off = fz_u16(in) % (TX_LEN - r.len + 1);
		return r;
	case 3: /* straddling its end */
		r.region = (uint8_t)w->a.tx->id;
		r.off = TX_LEN - (r.len > 1 ? r.len / 2 : 0);
		break;
	case 4: /* far past it */
		r.region = (uint8_t)w->a.tx->id;
		r.off = fz_u64(in) & DL_MSG_REF_OFF_MAX;
		if (r.off + r.len <= TX_LEN)
			r.off += TX_LEN;
		break;
	case 5: /* B's region */
		r.region = (uint8_t)w->b.tx->id;
		r.off = fz_u16(in) % (TX_LEN - 64);
		break;
	case 6: /* the port's RX region, B's RX region, or the slot's own fabric */
		r.region = (uint8_t)((s & 8)	? w->rx_id
				     : (s & 16) ? dl_engine_slot_rx(w->e, 1)->id
						: dl_engine_slot_fabric(w->e, 0)->id);
		r.off = fz_u16(in);
		break;
	default:
		r.region = (uint8_t)(fz_u8(in) % (DL_MSG_REF_REGION_MAX + 1));
		r.off = fz_u32(in);
		if (r.region == w->a.tx->id && r.off + r.len <= TX_LEN)
			r.off += TX_LEN;
		break;
	}
	*bad = true;
	return r;
}

/* Build one command of A's core 0 into msg; return its words (0: none) and
 * whether the script knows it must be refused. */
static int a_command(struct world *w, struct fz *in, bool *bad)
{
	struct app *a = &w->a;
	uint64_t *msg = a->msg;
	uint8_t t = fz_u8(in);
	unsigned core = (t & 0x80) ? 1u + fz_u8(in) % 3 : 0; /* a network core that is not there */
	bool own;
	uint32_t id;
	int n;

	*bad = core != 0;
	switch (t % 9) {
	case 0: {
		uint16_t port = (fz_u8(in) & 1) ? 9 : (fz_u8(in) & 1) ? 7 : fz_u16(in);
		n = dl_msg_enc_listen(msg, core, port, fz_u32(in));
		*bad |= port == 7; /* B's port */
		break;
	}
	case 1: /* accept: an offer of ours, or not */
		if (a->noffered > 0 && (t & 0x40) == 0) {
			id = a->offered[fz_u8(in) % a->noffered];
			own = true;
		} else {
			id = pick_id(w, in, &own);
			*bad |= !offered_to_a(w, id);
		}
		n = dl_msg_enc_accept(msg, core, id, 9);
		break;
	case 2:
		n = dl_msg_enc_connect(msg, core, fz_u8(in), (t & 0x40) ? fz_u32(in) : CLIENT_IP,
				       (t & 0x20) ? fz_u16(in) : 5001);
		*bad = false; /* refused or not: a connect_failed, no error count promised */
		break;
	case 3:
	case 4: { /* recv_done: at, past, far past what was delivered */
		unsigned at;
		uint32_t bytes;
		id = pick_id(w, in, &own);
		uint32_t held = own && id_known(a, id, &at) ? a->unret[at] : 0;
		uint8_t m = fz_u8(in);
		bytes = m % 4 == 0   ? held
			: m % 4 == 1 ? held + 1
			: m % 4 == 2 ? fz_u32(in)
				     : held / 2;
		if (bytes == 0)
			bytes = 1;
		/* A's count may lag what was delivered (events not read yet):
		 * invalid for sure past everything the client ever sent to A. */
		*bad |= !own || bytes > w->a_client_bytes;
		n = dl_msg_enc_recv_done(msg, core, id, bytes);
		if (n > 0 && !*bad && own) {
			id_known(a, id, &at);
			a->unret[at] -= bytes;
		}
		break;
	}
	case 5:
	case 6: { /* send, or send + recv_done */
		struct dl_msg_ref refs[8];
		unsigned nr = 1 + fz_u8(in) % 8;
		bool rbad = false;
		id = pick_id(w, in, &own);
		for (unsigned i = 0; i < nr; i++)
			refs[i] = pick_ref(w, in, &rbad);
		*bad |= rbad || !own;
		if (t % 9 == 5) {
			n = dl_msg_enc_send(msg, core, id, refs, nr);
		} else {
			uint32_t c = fz_u32(in);
			n = dl_msg_enc_send_recv_done(msg, core, id, c ? c : 1, refs, nr);
			*bad = true; /* the recv_done half is a guess */
		}
		if (own && !rbad && core == 0)
			*bad = false; /* valid, unless the stack refuses (EPIPE, ENOBUFS) */
		break;
	}
	case 7:
		id = pick_id(w, in, &own);
		n = dl_msg_enc_shutdown(msg, core, id, fz_u8(in) % 3);
		*bad |= !own;
		break;
	default:
		id = pick_id(w, in, &own);
		n = dl_msg_enc_close(msg, core, id);
		*bad |= !own;
		break;
	}
	return n > 0 ? n : 0;
}

/* Core 1: words straight into its channel, or one word anywhere in it. */
static void a_raw(struct world *w, struct fz *in)
{
	struct app *a = &w->a;
	uint64_t words[16];
	uint8_t m = fz_u8(in);

	if (!a->raw_ok)
		return;
	if (m & 0x80) { /* scribble: the application owns these pages */
		uint64_t v = fz_u64(in);
		a->raw.slots[fz_u16(in) & a->raw.mask] = v;
		account_scribble(a, v);
		return;
	}
	unsigned nw = 1 + m % 16;
	for (unsigned i = 0; i < nw; i++)
		words[i] = fz_u64(in);
	if (m & 0x40) /* a plausible header: a command type, the right length */
		words[0] = dl_msg_hdr(9 + fz_u8(in) % 11, nw, 0, (uint32_t)(words[0] >> 32));
	if (dl_chan_reserve(&a->raw, nw) != 0)
		return;
	dl_chan_put_words(&a->raw, words, nw);
	dl_chan_publish(&a->raw);
	account_sent(a, words, nw);
}

/* ---- set-up and teardown --------------------------------------------------------- */

static struct world *world_new(struct fz *in)
{
	struct world *w = calloc(1, sizeof(*w));
	struct dl_engine_conf ec;
	struct dl_stack_config sc;
	char err[256];
	uint8_t cfg = fz_u8(in);

	FZ_CHECK(w != NULL, "calloc");
	cur = w;
	w->now = 1000000;
	w->pol = cfg & 3;
	w->limit = (cfg & 4) ? 8 : 100000;
	memset(&ec, 0, sizeof(ec));
	ec.mode = DL_MODE_PROTECTED;
	ec.ncores = 1;
	ec.cores[0] = (struct dl_core_info){.id = 0, .cpu = 0, .l3_domain = 0, .x = -1, .y = -1};
	dl_stack_config_defaults(&ec.stack);
	ec.stack.ip = SERVER_IP;
	ec.stack.prefix_len = 24;
	ec.stack.tcp.max_conns = 256;
	memset(ec.stack.tcp.isn_key, 7, sizeof(ec.stack.tcp.isn_key));
	ec.nic = dl_memwire_nic(W, 0);
	ec.quiet = true;
	ec.app_slots = 2;
	ec.slot_cores = 2;
	ec.noc_words = (cfg & 8) ? 256 : 1024; /* small channels: overflow, stuck */
	ec.bad_command_limit = w->limit;
	w->e = dl_engine_create(&ec, err, sizeof(err));
	FZ_CHECK(w->e != NULL, "engine: %s", err);
	FZ_CHECK(dl_engine_core_start(w->e, 0, w->now) == 0, "core start");
	w->rx_id = dl_memwire_nic(W, 0)->rx_region;
	dl_stack_config_defaults(&sc);
	sc.ip = CLIENT_IP;
	sc.prefix_len = 24;
	memcpy(sc.mac, dl_memwire_nic(W, 1)->mac, 6);
	memset(sc.tcp.isn_key, 9, sizeof(sc.tcp.isn_key));
	w->client = dl_stack_create(&sc, dl_memwire_nic(W, 1), 0, 0, 1);
	FZ_CHECK(w->client != NULL, "client");
	dl_stack_set_upcalls(w->client, &client_up, w);
	dl_stack_start(w->client, w->now);
	FZ_CHECK(dl_stack_listen(w->client, 5001, 64) == 0, "client listen");

	w->a.tag_lo = 'A', w->a.tag_hi = 'P';
	w->b.tag_lo = 'a', w->b.tag_hi = 'p';
	attach(w, &w->b, 1, 1, 'Y', NULL);
	attach(w, &w->a, 0, 2, 'X', policy_of(w));
	for (int r = 0; r < 3; r++)
		round_(w, true);
	/* B listens on 7, A on 9; the client opens B's and two of A's. */
	dl_noc_send(w->b.ep[0], 0, w->b.msg, (unsigned)dl_msg_enc_listen(w->b.msg, 0, 7, 16));
	dl_noc_flush(w->b.ep[0]);
	dl_noc_send(w->a.ep[0], 0, w->a.msg, (unsigned)dl_msg_enc_listen(w->a.msg, 0, 9, 16));
	dl_noc_flush(w->a.ep[0]);
	for (int r = 0; r < 3; r++)
		round_(w, true);
	client_connect(w, 7);
	client_connect(w, 9);
	for (int r = 0; r < 10; r++)
		round_(w, true);
	if (w->a.noffered > 0) { /* A accepts its first */
		dl_noc_send(w->a.ep[0], 0, w->a.msg,
			    (unsigned)dl_msg_enc_accept(w->a.msg, 0, w->a.offered[0], 9));
		dl_noc_flush(w->a.ep[0]);
		w->a.offered[0] = w->a.offered[--w->a.noffered];
	}
	client_connect(w, 9); /* offered, never accepted */
	for (int r = 0; r < 10; r++)
		round_(w, true);
	for (unsigned i = 0; i < w->ncc; i++)
		client_send(w, &w->cc[i], 100);
	for (int r = 0; r < 10; r++)
		round_(w, true);
	FZ_CHECK(w->b_conn != 0, "B's connection was not set up");
	return w;
}

static void world_free(struct world *w)
{
	uint8_t buf[2048];

	dl_engine_stop(w->e);
	if (w->a.tx != NULL) {
		if (dl_engine_slot_state(w->e, 0) == DL_SLOT_ACTIVE)
			dl_engine_slot_detach(w->e, 0);
		dl_engine_slot_detach_stopped(w->e, 0);
		release(w, &w->a);
	}
	dl_engine_slot_detach(w->e, 1);
	dl_engine_slot_detach_stopped(w->e, 1);
	release(w, &w->b);
	dl_engine_destroy(w->e);
	dl_stack_destroy(w->client);
	while (dl_memwire_pop(W, 0, buf, sizeof(buf)) > 0)
		;
	while (dl_memwire_pop(W, 1, buf, sizeof(buf)) > 0)
		;
	FZ_CHECK(dl_memwire_bufs_in_use(W) == 0, "%u wire buffers never returned",
		 dl_memwire_bufs_in_use(W));
	free(w);
	cur = NULL;
}

static uint64_t errors_counted(const struct world *w)
{
	const uint64_t *c = w->e->cores[0].cnt;

	return c[ENG_CMD_ERRORS] + c[ENG_CMD_MALFORMED] + c[ENG_BAD_COMMAND];
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct dl_memwire_config wc = {.nbufs = 4096, .fifo_len = 1024};

	(void)argc, (void)argv;
	dl_log_level = DL_LOG_ERR; /* kicks and denials are expected here */
	W = dl_memwire_create(&wc);
	FZ_CHECK(W != NULL, "memwire");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = {data, size};
	struct world *w = world_new(&in);
	uint64_t base = errors_counted(w), bad = 0;
	bool poll_a = true;

	for (unsigned op = 0; op < MAX_OPS && fz_left(&in); op++) {
		uint8_t o = fz_u8(&in);
		bool is_bad = false;
		int n;

		switch (o % 12) {
		case 0:
		case 1:
		case 2:
		case 3: /* one command */
			if (!w->a.attached)
				break;
			n = a_command(w, &in, &is_bad);
			if (n > 0)
				trace_cmd("A sends", w->a.msg, n, is_bad);
			if (n > 0 && dl_noc_send(w->a.ep[0], 0, w->a.msg, (unsigned)n) == 0) {
				bad += is_bad;
				account_sent(&w->a, w->a.msg, (unsigned)n);
			}
			dl_noc_flush(w->a.ep[0]);
			break;
		case 4: { /* a burst of it */
			unsigned k = 2 + fz_u8(&in) % 200;
			if (!w->a.attached)
				break;
			n = a_command(w, &in, &is_bad);
			if (n > 0)
				trace_cmd("A sends (burst)", w->a.msg, n, is_bad);
			for (unsigned i = 0; n > 0 && i < k; i++)
				if (dl_noc_send(w->a.ep[0], 0, w->a.msg, (unsigned)n) == 0) {
					bad += is_bad;
					account_sent(&w->a, w->a.msg, (unsigned)n);
				}
			dl_noc_flush(w->a.ep[0]);
			break;
		}
		case 5: /* core 1 writes its channel itself */
			if (w->a.attached) {
				a_raw(w, &in);
				bad = 0; /* the channel may be broken: no promise on counting */
				base = errors_counted(w);
			}
			break;
		case 6:
			poll_a = !poll_a;
			break;
		case 7: { /* the client */
			uint8_t c = fz_u8(&in);
			if (w->ncc == 0)
				break;
			struct cconn *cc = &w->cc[(c >> 2) % w->ncc];
			if ((c & 3) == 0 && cc->up && cc->port != 7)
				dl_stack_close(w->client, 0, cc->id);
			else if ((c & 3) == 1)
				client_connect(w, (c & 4) ? 10 : 9);
			else
				client_send(w, cc, fz_u16(&in) % 3000);
			break;
		}
		case 8:
			w->now += (uint64_t)fz_u16(&in) * 1000;
			break;
		case 9:
			if (w->a.attached) {
				detach_a(w);
				bad = 0;
				base = errors_counted(w);
			} else if (w->reattached < MAX_REATTACH) {
				w->reattached++;
				attach(w, &w->a, 0, 2, 'X', policy_of(w));
				base = errors_counted(w);
			}
			break;
		default: {
			unsigned k = 1 + fz_u8(&in) % 8;
			for (unsigned r = 0; r < k; r++)
				round_(w, poll_a);
			break;
		}
		}
		round_(w, poll_a);
		if (!w->a.attached)
			bad = 0, base = errors_counted(w);
	}
	/* Drain A's commands: every invalid one counted (unless a rate limit
	 * holds them back or A was kicked meanwhile). */
	for (unsigned r = 0, quiet = 0; r < 400 && quiet < 8 && w->a.attached; r++) {
		/* its overflow queue empty, then enough rounds for the ring
		 * (256 messages a round at most) */
		quiet = dl_noc_pending(w->a.ep[0], -1) == 0 ? quiet + 1 : 0;
		round_(w, true);
	}
	if (w->a.attached && (w->pol & 3) != 2 && (w->pol & 3) != 3 &&
	    dl_engine_slot_kicked(w->e, 0) == DL_KICK_NONE)
		FZ_CHECK(errors_counted(w) - base >= bad,
			 "%llu invalid commands sent, %llu counted", (unsigned long long)bad,
			 (unsigned long long)(errors_counted(w) - base));
	world_free(w);
	return 0;
}
