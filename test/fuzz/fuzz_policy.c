/*
 * fuzz_policy.c - the protected-mode policy: the policy file parser
 * (lib/protected/policy.c) and the token buckets that enforce its rates
 * (lib/engine/rights.c).
 *
 * An input starting with 0xB0 is a token-bucket script (rate, burst,
 * minimum burst, then take / advance time / check steps); any other input
 * is policy text (up to its first NUL, as dl_policy_load() refuses NULs),
 * parsed into a struct dl_policy of its exact size on the heap (so a write
 * past the rules is caught). One input in eight goes through
 * dl_policy_load() from a file instead.
 *
 * Oracles, for a policy that parses: at most DL_POLICY_MAX_RULES rules,
 * line numbers increasing, port sets of at most DL_RIGHTS_MAX_RANGES
 * ranges with 1 <= lo <= hi, NUL-terminated names, rates within the
 * parser's bounds; every rule printed with dl_policy_rule_format() ("in
 * the file's syntax") parses back to the same rule; dl_policy_match() is
 * the first rule that matches and dl_port_set_has() agrees with the
 * ranges; a refused policy has a message. For the buckets: tokens never
 * above the burst, dl_bucket_avail() consistent with dl_bucket_ready(),
 * an unlimited bucket always ready, and no undefined behaviour in the
 * fixed-point arithmetic (UBSan aborts on overflow).
 */
#include "dl_policy.h"
#include "fuzz_input.h"

#include <unistd.h>

static bool rule_matches(const struct dl_policy_rule *r, uint32_t uid, const char *app)
{
	return (!r->match_uid || r->uid == uid) && (r->app[0] == '\0' || strcmp(r->app, app) == 0);
}

static bool in_ranges(const struct dl_port_set *s, uint16_t port)
{
	if (s->any)
		return true;
	for (unsigned i = 0; i < s->n; i++)
		if (s->r[i].lo <= port && port <= s->r[i].hi)
			return true;
	return false;
}

static void check_set(const struct dl_port_set *s)
{
	FZ_CHECK(s->n <= DL_RIGHTS_MAX_RANGES, "%u ranges", s->n);
	for (unsigned i = 0; i < s->n; i++)
		FZ_CHECK(s->r[i].lo >= 1 && s->r[i].lo <= s->r[i].hi, "range %u-%u", s->r[i].lo,
			 s->r[i].hi);
}

static bool same_set(const struct dl_port_set *a, const struct dl_port_set *b)
{
	if (a->any != b->any || a->n != b->n)
		return false;
	for (unsigned i = 0; i < a->n; i++)
		if (a->r[i].lo != b->r[i].lo || a->r[i].hi != b->r[i].hi)
			return false;
	return true;
}

/* The rule printed and parsed again is the same rule. */
static void round_trip(const struct dl_policy_rule *r)
{
	char line[1024], err[300];
	struct dl_policy *p = malloc(sizeof(*p));

	FZ_CHECK(p != NULL, "malloc");
	dl_policy_rule_format(r, line, sizeof(line));
	FZ_CHECK(dl_policy_parse(p, line, err, sizeof(err)) == 0,
		 "the printed rule \"%s\" does not parse: %s", line, err);
	FZ_CHECK(p->n == 1, "the printed rule \"%s\" parses into %u rules", line, p->n);
	const struct dl_policy_rule *q = &p->rule[0];
	FZ_CHECK(q->match_uid == r->match_uid && q->uid == r->uid && strcmp(q->app, r->app) == 0 &&
		     same_set(&q->may.listen, &r->may.listen) &&
		     same_set(&q->may.connect, &r->may.connect) &&
		     q->may.send_rate == r->may.send_rate && q->may.cmd_rate == r->may.cmd_rate &&
		     q->may.rx_memory == r->may.rx_memory,
		 "\"%s\" parses into another rule", line);
	free(p);
}

static void policy_text(const uint8_t *data, size_t size)
{
	struct dl_policy *p = malloc(sizeof(*p));
	char *text = malloc(size + 1), err[64];
	int rc;

	FZ_CHECK(p != NULL && text != NULL, "malloc");
	memcpy(text, data, size);
	text[size] = '\0';
	memset(err, 0x55, sizeof(err));
	if ((size & 7) == 7) { /* through a file */
		char path[] = "/tmp/dlibos-fuzz-policy-XXXXXX";
		int fd = mkstemp(path);
		FZ_CHECK(fd >= 0, "mkstemp");
		FZ_CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text), "write");
		close(fd);
		rc = dl_policy_load(p, path, err, sizeof(err));
		unlink(path);
	} else {
		rc = dl_policy_parse(p, text, err, sizeof(err));
	}
	FZ_CHECK(rc == 0 || rc == -1, "result %d", rc);
	if (rc != 0) {
		FZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL, "message not NUL-terminated");
		FZ_CHECK(err[0] != '\0', "refused without a message");
		goto out;
	}
	FZ_CHECK(p->n <= DL_POLICY_MAX_RULES, "%u rules", p->n);
	for (unsigned i = 0; i < p->n; i++) {
		const struct dl_policy_rule *r = &p->rule[i];
		char line[512];

		FZ_CHECK(r->may.line >= 1 && (i == 0 || r->may.line > p->rule[i - 1].may.line),
			 "line %u", r->may.line);
		FZ_CHECK(memchr(r->app, '\0', sizeof(r->app)) != NULL, "name not terminated");
		check_set(&r->may.listen);
		check_set(&r->may.connect);
		FZ_CHECK(r->may.send_rate <= (UINT64_C(1) << 44) &&
			     r->may.cmd_rate <= (UINT64_C(1) << 44),
			 "rates %llu %llu", (unsigned long long)r->may.send_rate,
			 (unsigned long long)r->may.cmd_rate);
		dl_policy_rule_format(r, line, sizeof(line));
		dl_policy_rule_format(r, line, 7); /* truncated: must stay inside */
		round_trip(r);
		for (unsigned k = 0; k < 8; k++) {
			uint16_t port = (uint16_t)(k * 9973u + (uint16_t)(r->may.line * 31u));
			if (r->may.listen.n > 0)
				port = k & 1 ? r->may.listen.r[k % r->may.listen.n].lo
					     : r->may.listen.r[k % r->may.listen.n].hi;
			FZ_CHECK(dl_port_set_has(&r->may.listen, port) ==
					 in_ranges(&r->may.listen, port) &&
				     dl_port_set_has(&r->may.connect, port) ==
					 in_ranges(&r->may.connect, port),
				 "dl_port_set_has(%u) disagrees with the ranges", port);
		}
	}
	/* The first rule that matches, for the uids and names the rules name. */
	for (unsigned i = 0; i <= p->n && i < 8; i++) {
		uint32_t uid = i < p->n ? p->rule[i].uid : 12345;
		const char *app = i < p->n ? p->rule[i].app : "other";
		const struct dl_policy_rule *want = NULL;

		for (unsigned k = 0; k < p->n && want == NULL; k++)
			if (rule_matches(&p->rule[k], uid, app))
				want = &p->rule[k];
		FZ_CHECK(dl_policy_match(p, uid, app) == want, "dl_policy_match disagrees");
	}
out:
	free(text);
	free(p);
}

static void buckets(struct fz *in)
{
	struct dl_bucket b;
	uint64_t rate = fz_u8(in) < 32 ? 0 : fz_u64(in) >> fz_range(in, 0, 63);
	uint64_t burst = fz_u64(in) >> fz_range(in, 0, 63);
	uint64_t min_burst = fz_u32(in);
	uint64_t now = fz_u64(in) >> 8;

	dl_bucket_init(&b, rate, burst, min_burst, now);
	for (unsigned step = 0; step < 256 && fz_left(in); step++) {
		uint8_t op = fz_u8(in);
		bool ready;

		if (op < 96) {
			dl_bucket_take(&b, fz_u64(in) >> fz_range(in, 0, 63));
		} else if (op < 192) {
			uint64_t dt = fz_u64(in) >> fz_range(in, 0, 63);
			now = now + dt < now ? UINT64_MAX : now + dt;
		} else if (op < 250) {
			now -= now > 0 ? fz_u8(in) : 0; /* a clock that steps back a little */
		}
		ready = dl_bucket_ready(&b, now);
		FZ_CHECK(rate != 0 || ready, "an unlimited bucket is not ready");
		if (rate == 0)
			continue;
		FZ_CHECK(b.tokens <= b.burst, "tokens %lld above the burst %lld",
			 (long long)b.tokens, (long long)b.burst);
		FZ_CHECK(ready == (b.tokens > 0), "ready disagrees with the tokens");
		FZ_CHECK(ready == (dl_bucket_avail(&b) > 0), "avail disagrees with ready");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 0 && data[0] == 0xB0) {
		struct fz in = {data + 1, size - 1};
		buckets(&in);
		return 0;
	}
	const uint8_t *nul = memchr(data, '\0', size);
	policy_text(data, nul != NULL ? (size_t)(nul - data) : size);
	return 0;
}
