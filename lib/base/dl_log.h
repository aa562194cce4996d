/*
 * dl_log.h - leveled logging for the runtime, one line per call, by log
 * type ("dlibos.tcp", "dlibos.noc", ...).
 *
 * Protocol code logs only at DEBUG level and never on a per-packet path
 * unless the level is enabled; drops are counted (dl_stats.h), not logged.
 *
 * Every message has a type. DL_ERR/DL_WARN/DL_INFO/DL_DEBUG use the type
 * of the code they are in, DL_LOG_TYPE, which each layer's build sets
 * (-DDL_LOG_TYPE=DL_LOGT_NOC for noc/, ...; DL_LOGT_DLIBOS otherwise);
 * DL_LOGT_ERR()... name another type explicitly. A type's level is its
 * own when one was set (dl_log_set_type_level()), else dl_log_level.
 *
 * Output is "dlibos: <level>: message" on stderr, unless a platform
 * installed a backend (dl_log_set_backend()): drivers/dpdk registers the
 * types with DPDK's log library, so `--log-level=dlibos.tcp:debug` (EAL
 * option, globs included) sets a type's level as for any DPDK component,
 * and the lines go to DPDK's log stream. This file knows nothing of DPDK.
 */
#ifndef DL_LOG_H
#define DL_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

enum dl_log_level { DL_LOG_ERR = 0, DL_LOG_WARN, DL_LOG_INFO, DL_LOG_DEBUG };

/** Log types, named "dlibos" and "dlibos.<part>" (dl_log_type_name()). */
enum dl_log_type {
	DL_LOGT_DLIBOS = 0, /**< "dlibos": programs, tests, anything else */
	DL_LOGT_HAL,	    /**< "dlibos.hal": regions, shims */
	DL_LOGT_NOC,	    /**< "dlibos.noc": endpoints, channels, fabric */
	DL_LOGT_STACK,	    /**< "dlibos.stack": ethernet, ARP, IPv4, ICMP */
	DL_LOGT_TCP,	    /**< "dlibos.tcp": connections */
	DL_LOGT_ENGINE,	    /**< "dlibos.engine": modes, layouts, slots */
	DL_LOGT_RUNTIME,    /**< "dlibos.runtime": start-up, cores, shutdown */
	DL_LOGT_PROTECTED,  /**< "dlibos.protected": the service, attached processes */
	DL_LOGT_DRIVER,	    /**< "dlibos.driver": the platform and its NIC */
	DL_LOGT_COUNT
};

#ifndef DL_LOG_TYPE
#define DL_LOG_TYPE DL_LOGT_DLIBOS
#endif

/** Level of every type that has none of its own. Default DL_LOG_INFO. */
extern enum dl_log_level dl_log_level;

/** Per-type levels; < 0: dl_log_level applies (read them through dl_log_on()). */
extern int dl_log_type_levels[DL_LOGT_COUNT];

/** True when a message of @p level and @p type would be printed. */
static inline bool dl_log_on(enum dl_log_type type, enum dl_log_level level)
{
	int own = dl_log_type_levels[type];

	return (int)level <= (own >= 0 ? own : (int)dl_log_level);
}

/** "error", "warning", "info", "debug". */
const char *dl_log_level_name(enum dl_log_level level);

/** "dlibos.tcp" etc. ("?" when out of range). */
const char *dl_log_type_name(enum dl_log_type type);

/** The level in force for @p type. */
enum dl_log_level dl_log_type_level(enum dl_log_type type);

/** Set dl_log_level (the backend is told). */
void dl_log_set_level(enum dl_log_level level);

/** Give @p type a level of its own (< 0: follow dl_log_level again). */
void dl_log_set_type_level(enum dl_log_type type, int level);

/** Print a message of @p type if its level allows. */
void dl_logt(enum dl_log_type type, enum dl_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** dl_logt() with the default type (DL_LOGT_DLIBOS; kept for callers outside the layers). */
void dl_log(enum dl_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Where lines go instead of stderr (a platform's log library). */
struct dl_log_backend {
	/** Write one line (no newline) of @p type at @p level (already filtered). */
	void (*write)(enum dl_log_type type, enum dl_log_level level, const char *line);
	/** Optional: levels changed (dl_log_set_*): take them over. */
	void (*levels_changed)(void);
};

/** Install (NULL: remove) the backend. The structure must outlive it. */
void dl_log_set_backend(const struct dl_log_backend *b);

/**
 * Format an error message into a caller's buffer (the `char *err, size_t
 * errlen` pair of the configuration and set-up functions); nothing is
 * written when @p errlen is 0. @return -1, for `return dl_errf(...)`.
 */
int dl_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/** dl_errf() with a va_list; returns nothing. */
void dl_verrf(char *err, size_t errlen, const char *fmt, va_list ap);

/* A message of an explicit type; the arguments are not evaluated when
 * the level is off. */
#define DL_LOGT(type, level, ...)                                                                  \
	(dl_log_on((type), (level)) ? dl_logt((type), (level), __VA_ARGS__) : (void)0)

#define DL_ERR(...)   DL_LOGT(DL_LOG_TYPE, DL_LOG_ERR, __VA_ARGS__)
#define DL_WARN(...)  DL_LOGT(DL_LOG_TYPE, DL_LOG_WARN, __VA_ARGS__)
#define DL_INFO(...)  DL_LOGT(DL_LOG_TYPE, DL_LOG_INFO, __VA_ARGS__)
#define DL_DEBUG(...) DL_LOGT(DL_LOG_TYPE, DL_LOG_DEBUG, __VA_ARGS__)

#endif
