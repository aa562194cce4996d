/* log.c - leveled logging to stderr (see dl_log.h). */
#include "dl_log.h"

#include <stdio.h>

enum dl_log_level dl_log_level = DL_LOG_INFO;

static const char *const level_names[] = {"error", "warning", "info", "debug"};

void dl_log(enum dl_log_level level, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (level > dl_log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One fprintf per line keeps lines from different cores whole. */
	fprintf(stderr, "dlibos: %s: %s\n", level_names[level], line);
}

void dl_verrf(char *err, size_t errlen, const char *fmt, va_list ap)
{
	if (err != NULL && errlen > 0)
		vsnprintf(err, errlen, fmt, ap);
}

int dl_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	dl_verrf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}
