/*
 * policy.c - the protected-mode policy: parser, matching, token buckets
 * (see dl_policy.h for the file format).
 *
 * The parser works line by line on a private copy of each line, splits it
 * into words and checks every word strictly (no trailing garbage, ports in
 * 1..65535, ranges in order, known keys only); the first error stops it
 * with the line number and the offending word, so an administrator learns
 * exactly what to fix. Nothing here touches the network or the engine.
 */
#include "dl_policy.h"
#include "dl_config.h"
#include "dl_log.h"

#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dl_policy_default(struct dl_policy *p, uint32_t uid)
{
	memset(p, 0, sizeof(*p));
	p->n = 1;
	p->rule[0].match_uid = true;
	p->rule[0].uid = uid;
	p->rule[0].may.listen.any = true;
	p->rule[0].may.connect.any = true;
}

/* Strict decimal in [lo, hi]: the runtime's dl_parse_uint() (dl_config.h). */
static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	unsigned long long v;

	if (dl_parse_uint(s, lo, hi, &v) != 0)
		return -1;
	*out = v;
	return 0;
}

/* "80", "8000-8100". */
static int parse_range(char *s, uint16_t *lo, uint16_t *hi)
{
	char *dash = strchr(s, '-');
	uint64_t a, b;

	if (dash != NULL)
		*dash = '\0';
	if (parse_u64(s, 1, 65535, &a) != 0)
		return -1;
	b = a;
	if (dash != NULL && (parse_u64(dash + 1, 1, 65535, &b) != 0 || b < a))
		return -1;
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
	return 0;
}

static int parse_ports(struct dl_port_set *set, const char *v)
{
	char buf[512], *save = NULL, *item;

	memset(set, 0, sizeof(*set));
	if (strcmp(v, "any") == 0) {
		set->any = true;
		return 0;
	}
	if (strcmp(v, "none") == 0)
		return 0;
	if (strlen(v) >= sizeof(buf) || *v == '\0' || v[strlen(v) - 1] == ',')
		return -1;
	strcpy(buf, v);
	for (item = strtok_r(buf, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
		if (set->n == DL_RIGHTS_MAX_RANGES ||
		    parse_range(item, &set->r[set->n].lo, &set->r[set->n].hi) != 0)
			return -1;
		set->n++;
	}
	return set->n > 0 ? 0 : -1;
}

/* Digits with an optional k, M or G suffix (unit^1, ^2, ^3), the result in
 * 1..max: the one grammar of rates (unit 1000) and sizes (unit 1024). */
static int parse_scaled(const char *v, uint64_t unit, uint64_t max, uint64_t *out)
{
	char num[32];
	size_t n = strlen(v);
	uint64_t mult = 1, x;

	if (n == 0 || n >= sizeof(num))
		return -1;
	strcpy(num, v);
	switch (num[n - 1]) {
	case 'G':
		mult *= unit;
		/* fall through */
	case 'M':
		mult *= unit;
		/* fall through */
	case 'k':
	case 'K':
		mult *= unit;
		num[n - 1] = '\0';
		break;
	}
	if (parse_u64(num, 1, max, &x) != 0 || x > max / mult)
		return -1;
	*out = x * mult;
	return 0;
}

/* "500", "10k", "100M", "1G" (decimal multiples). At most 2^44 per second
 * however it is spelled: dl_policy_rule_format() prints rates as plain
 * numbers, which must parse back. */
static int parse_rate(const char *v, uint64_t *out)
{
	return parse_scaled(v, 1000, UINT64_C(1) << 44, out);
}

/* A memory size: digits with an optional k, M or G (2^10, 2^20, 2^30),
 * 1 MiB .. 64 GiB. */
static int parse_size(const char *v, uint64_t *out)
{
	uint64_t x;

	if (parse_scaled(v, 1024, UINT64_C(1) << 36, &x) != 0 || x < (UINT64_C(1) << 20))
		return -1;
	*out = x;
	return 0;
}

static int resolve_user(const char *name, uint32_t *uid)
{
	struct passwd pw, *res = NULL;
	char buf[4096];

	if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || res == NULL)
		return -1;
	*uid = (uint32_t)pw.pw_uid;
	return 0;
}

/* One word of a rule. */
static int parse_word(struct dl_policy_rule *r, char *w, bool *selector, char *err, size_t errlen)
{
	char *eq = strchr(w, '=');
	const char *key = w, *val;
	uint64_t u;

	if (strcmp(w, "*") == 0) {
		*selector = true;
		return 0;
	}
	if (eq == NULL || eq[1] == '\0')
		return dl_errf(err, errlen, "'%s' is not key=value", w);
	*eq = '\0';
	val = eq + 1;
	if (strcmp(key, "uid") == 0) {
		if (parse_u64(val, 0, UINT32_MAX - 1, &u) != 0)
			return dl_errf(err, errlen, "uid='%s' is not a user id", val);
		r->match_uid = true;
		r->uid = (uint32_t)u;
		*selector = true;
	} else if (strcmp(key, "user") == 0) {
		if (resolve_user(val, &r->uid) != 0)
			return dl_errf(err, errlen, "user='%s': no such user", val);
		r->match_uid = true;
		*selector = true;
	} else if (strcmp(key, "app") == 0) {
		if (strlen(val) >= DL_POLICY_NAME_MAX)
			return dl_errf(err, errlen, "app='%s': names have at most %d characters",
				       val, DL_POLICY_NAME_MAX - 1);
		strcpy(r->app, val);
		*selector = true;
	} else if (strcmp(key, "listen") == 0 || strcmp(key, "connect") == 0) {
		struct dl_port_set *set = key[0] == 'l' ? &r->may.listen : &r->may.connect;
		if (parse_ports(set, val) != 0)
			return dl_errf(err, errlen,
				       "%s='%s': expected any, none or ports and ranges like "
				       "80,8000-8100 (1..65535, at most %d)",
				       key, val, DL_RIGHTS_MAX_RANGES);
	} else if (strcmp(key, "send-rate") == 0 || strcmp(key, "cmd-rate") == 0) {
		if (parse_rate(val, key[0] == 's' ? &r->may.send_rate : &r->may.cmd_rate) != 0)
			return dl_errf(err, errlen,
				       "%s='%s': expected a rate like 500, 10k, 100M, 1G", key,
				       val);
	} else if (strcmp(key, "rx-memory") == 0) {
		if (parse_size(val, &r->may.rx_memory) != 0)
			return dl_errf(err, errlen,
				       "rx-memory='%s': expected a size like 16M or 1G (1M..64G)",
				       val);
	} else {
		return dl_errf(err, errlen,
			       "unknown key '%s' (selectors: uid, user, app, *; grants: listen, "
			       "connect, send-rate, cmd-rate, rx-memory)",
			       key);
	}
	return 0;
}

/* Parse one line (modified in place). 1 if it held a rule, 0 if blank, -1 on error. */
static int parse_line(struct dl_policy_rule *r, char *line, unsigned lineno, char *err,
		      size_t errlen)
{
	char *hash = strchr(line, '#'), *save = NULL, *w;
	bool selector = false, any_word = false;
	char why[200];

	if (hash != NULL)
		*hash = '\0';
	memset(r, 0, sizeof(*r));
	r->may.line = lineno;
	for (w = strtok_r(line, " \t\r", &save); w != NULL; w = strtok_r(NULL, " \t\r", &save)) {
		any_word = true;
		if (parse_word(r, w, &selector, why, sizeof(why)) != 0)
			return dl_errf(err, errlen, "line %u: %s", lineno, why);
	}
	if (!any_word)
		return 0;
	if (!selector)
		return dl_errf(
		    err, errlen,
		    "line %u: no selector (uid=, user=, app= or *): say whom the rule is for",
		    lineno);
	return 1;
}

int dl_policy_parse(struct dl_policy *p, const char *text, char *err, size_t errlen)
{
	unsigned lineno = 0;
	const char *s = text;

	memset(p, 0, sizeof(*p));
	while (*s != '\0') {
		const char *nl = strchr(s, '\n');
		size_t len = nl != NULL ? (size_t)(nl - s) : strlen(s);
		char line[1024];
		struct dl_policy_rule r;
		int rc;

		lineno++;
		if (len >= sizeof(line))
			return dl_errf(err, errlen, "line %u: longer than %zu characters", lineno,
				       sizeof(line) - 1);
		memcpy(line, s, len);
		line[len] = '\0';
		/* Into a rule of our own: blank and comment lines after a full
		 * policy are fine, and there is no rule[DL_POLICY_MAX_RULES]. */
		rc = parse_line(&r, line, lineno, err, errlen);
		if (rc < 0)
			return -1;
		if (rc > 0) {
			if (p->n == DL_POLICY_MAX_RULES)
				return dl_errf(err, errlen, "line %u: more than %d rules", lineno,
					       DL_POLICY_MAX_RULES);
			p->rule[p->n++] = r;
		}
		s += len + (nl != NULL);
	}
	return 0;
}

int dl_policy_load(struct dl_policy *p, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *text;
	long size;
	int rc;
	char why[240];

	if (f == NULL)
		return dl_errf(err, errlen, "%s: %s", path, strerror(errno));
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || size > (1 << 20) ||
	    fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return dl_errf(err, errlen, "%s: unreadable or larger than 1 MiB", path);
	}
	text = malloc((size_t)size + 1);
	if (text == NULL || fread(text, 1, (size_t)size, f) != (size_t)size) {
		free(text);
		fclose(f);
		return dl_errf(err, errlen, "%s: read error", path);
	}
	fclose(f);
	text[size] = '\0';
	if (strlen(text) != (size_t)size) {
		free(text);
		return dl_errf(err, errlen, "%s: contains a NUL byte", path);
	}
	rc = dl_policy_parse(p, text, why, sizeof(why));
	free(text);
	if (rc != 0)
		return dl_errf(err, errlen, "%s: %s", path, why);
	return 0;
}

const struct dl_policy_rule *dl_policy_match(const struct dl_policy *p, uint32_t uid,
					     const char *app)
{
	for (unsigned i = 0; i < p->n; i++) {
		const struct dl_policy_rule *r = &p->rule[i];
		if (r->match_uid && r->uid != uid)
			continue;
		if (r->app[0] != '\0' && (app == NULL || strcmp(r->app, app) != 0))
			continue;
		return r;
	}
	return NULL;
}

static void format_ports(const struct dl_port_set *s, char *buf, size_t len)
{
	size_t at = 0;

	if (s->any || s->n == 0) {
		snprintf(buf, len, "%s", s->any ? "any" : "none");
		return;
	}
	buf[0] = '\0';
	for (unsigned i = 0; i < s->n && at < len; i++) {
		int w = s->r[i].lo == s->r[i].hi
			    ? snprintf(buf + at, len - at, "%s%u", i ? "," : "", s->r[i].lo)
			    : snprintf(buf + at, len - at, "%s%u-%u", i ? "," : "", s->r[i].lo,
				       s->r[i].hi);
		if (w < 0)
			break;
		at += (size_t)w;
	}
}

void dl_policy_rule_format(const struct dl_policy_rule *r, char *buf, size_t len)
{
	/* Each buffer holds its part whole: 32 ranges of "65535-65535," at most. */
	char who[80] = "", l[DL_RIGHTS_MAX_RANGES * 12 + 8], c[DL_RIGHTS_MAX_RANGES * 12 + 8],
	     rate[128] = "";
	size_t at = 0;

	if (r->match_uid)
		at += (size_t)snprintf(who, sizeof(who), "uid=%u", r->uid);
	if (r->app[0] != '\0')
		snprintf(who + at, sizeof(who) - at, "%sapp=%s", at ? " " : "", r->app);
	if (who[0] == '\0')
		strcpy(who, "*");
	format_ports(&r->may.listen, l, sizeof(l));
	format_ports(&r->may.connect, c, sizeof(c));
	if (r->may.send_rate != 0)
		snprintf(rate, sizeof(rate), " send-rate=%llu", (unsigned long long)r->may.send_rate);
	if (r->may.cmd_rate != 0)
		snprintf(rate + strlen(rate), sizeof(rate) - strlen(rate), " cmd-rate=%llu",
			 (unsigned long long)r->may.cmd_rate);
	/* In k when that is exact, else in bytes: it must parse back. */
	if (r->may.rx_memory != 0 && r->may.rx_memory % 1024 == 0)
		snprintf(rate + strlen(rate), sizeof(rate) - strlen(rate), " rx-memory=%lluk",
			 (unsigned long long)(r->may.rx_memory >> 10));
	else if (r->may.rx_memory != 0)
		snprintf(rate + strlen(rate), sizeof(rate) - strlen(rate), " rx-memory=%llu",
			 (unsigned long long)r->may.rx_memory);
	snprintf(buf, len, "%s listen=%s connect=%s%s", who, l, c, rate);
}
