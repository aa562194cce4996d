/*
 * dl_policy.h - what an application attached to the protected-mode service
 * may do: the ports it may listen on and connect to, and how fast it may
 * send. Pure logic (parsing, matching, token buckets), unit-tested.
 *
 * Policy file: one rule per line, '#' starts a comment. A rule is a
 * selector followed by grants, all key=value words:
 *
 *     # who                  what
 *     uid=0 app=httpd        listen=80,8080 connect=none
 *     app=kvs                listen=11211
 *     user=alice             listen=10000-10999 connect=any send-rate=100M
 *     *                      listen=none
 *
 * Selectors (every one given must match; "*" alone matches anybody):
 *   uid=N       the peer's uid from SO_PEERCRED (authenticated by the kernel)
 *   user=NAME   the same, by name (resolved when the file is read)
 *   app=NAME    the name the application declares (struct dlibos_app.name);
 *               not authenticated: pair it with uid= to grant by identity
 * Grants (absent = none, i.e. nothing allowed):
 *   listen=PORTS, connect=PORTS   PORTS: any | none | a list of ports and
 *                                 ranges, e.g. 80,443,8000-8100
 *   send-rate=RATE  payload bytes per second the application may hand to
 *                   SEND (k, M, G suffixes: 10^3, 10^6, 10^9)
 *   cmd-rate=RATE   commands (NoC messages) per second
 *   rx-memory=SIZE  bytes of the application's own RX region, where network
 *                   cores copy its received data (k, M, G: 2^10, 2^20, 2^30;
 *                   1M..64G; absent: dlibosd's --app-rx-memory)
 * The first rule that matches an application applies; an application no
 * rule matches is refused.
 *
 * What a rule grants is a struct dl_rights (dl_rights.h, in the engine,
 * which enforces it). Rates are token buckets enforced by every network
 * core for its share
 * (rate / network cores): while a bucket is empty the core stops taking
 * the application's commands from its channels (they wait there; TCP
 * sends nothing new for it), so the application is slowed, never
 * corrupted. Burst: a tenth of a second of the rate (at least 64 KiB or
 * 64 commands).
 */
#ifndef DL_POLICY_H
#define DL_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dl_rights.h"

/** Rules in one policy. */
#define DL_POLICY_MAX_RULES 64
/** Application names (NUL included). */
#define DL_POLICY_NAME_MAX 32

/** One rule. */
struct dl_policy_rule {
	bool match_uid;
	uint32_t uid;
	char app[DL_POLICY_NAME_MAX]; /**< "" = any name */
	struct dl_rights may;	      /**< what the matched application may do */
};

/** A policy: rules in file order. */
struct dl_policy {
	unsigned n;
	struct dl_policy_rule rule[DL_POLICY_MAX_RULES];
};

/** The policy without a file: processes of `uid` may use any port, nobody else anything. */
void dl_policy_default(struct dl_policy *p, uint32_t uid);

/**
 * Parse policy text. 0, or -1 with "line N: what is wrong" in err.
 * user= names are resolved with getpwnam_r().
 */
int dl_policy_parse(struct dl_policy *p, const char *text, char *err, size_t errlen);

/** Read and parse a policy file. 0 or -1 with err written. */
int dl_policy_load(struct dl_policy *p, const char *path, char *err, size_t errlen);

/** The first rule matching (uid, app name), or NULL. */
const struct dl_policy_rule *dl_policy_match(const struct dl_policy *p, uint32_t uid,
					     const char *app);

/** A buffer of this size holds any rule dl_policy_rule_format() prints. */
#define DL_POLICY_FORMAT_MAX 1024

/**
 * Print a rule in the file's syntax (logs); it parses back to the same
 * rule. Truncated (always NUL-terminated) when @p len is less than
 * DL_POLICY_FORMAT_MAX and the rule is long.
 */
void dl_policy_rule_format(const struct dl_policy_rule *r, char *buf, size_t len);

#endif /* DL_POLICY_H */
