/*
 * dl_log.h - leveled logging for the runtime (stderr, one line per call).
 *
 * Protocol code logs only at DEBUG level and never on a per-packet path
 * unless the level is enabled; drops are counted (dl_stats.h), not logged.
 */
#ifndef DL_LOG_H
#define DL_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum dl_log_level { DL_LOG_ERR = 0, DL_LOG_WARN, DL_LOG_INFO, DL_LOG_DEBUG };

/** Current level; messages above it are discarded. Default DL_LOG_INFO. */
extern enum dl_log_level dl_log_level;

/** Print "dlibos: <LEVEL>: message\n" to stderr if level <= dl_log_level. */
void dl_log(enum dl_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/**
 * Format an error message into a caller's buffer (the `char *err, size_t
 * errlen` pair of the configuration and set-up functions); nothing is
 * written when @p errlen is 0. @return -1, for `return dl_errf(...)`.
 */
int dl_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/** dl_errf() with a va_list; returns nothing. */
void dl_verrf(char *err, size_t errlen, const char *fmt, va_list ap);

#define DL_ERR(...)   dl_log(DL_LOG_ERR, __VA_ARGS__)
#define DL_WARN(...)  dl_log(DL_LOG_WARN, __VA_ARGS__)
#define DL_INFO(...)  dl_log(DL_LOG_INFO, __VA_ARGS__)
#define DL_DEBUG(...) dl_log(DL_LOG_DEBUG, __VA_ARGS__)

#endif
