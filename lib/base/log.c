/* log.c - leveled logging by type, to stderr or a backend (see dl_log.h). */
#include "dl_log.h"

#include <stdio.h>

enum dl_log_level dl_log_level = DL_LOG_INFO;
int dl_log_type_levels[DL_LOGT_COUNT] = {-1, -1, -1, -1, -1, -1, -1, -1, -1};

_Static_assert(DL_LOGT_COUNT == 9, "dl_log_type_levels has an initialiser per type");

static const char *const level_names[] = {"error", "warning", "info", "debug"};
static const char *const type_names[DL_LOGT_COUNT] = {
    [DL_LOGT_DLIBOS] = "dlibos",	  [DL_LOGT_HAL] = "dlibos.hal",
    [DL_LOGT_NOC] = "dlibos.noc",	  [DL_LOGT_STACK] = "dlibos.stack",
    [DL_LOGT_TCP] = "dlibos.tcp",	  [DL_LOGT_ENGINE] = "dlibos.engine",
    [DL_LOGT_RUNTIME] = "dlibos.runtime", [DL_LOGT_PROTECTED] = "dlibos.protected",
    [DL_LOGT_DRIVER] = "dlibos.driver",
};

static const struct dl_log_backend *backend;

const char *dl_log_level_name(enum dl_log_level level)
{
	return (unsigned)level <= DL_LOG_DEBUG ? level_names[level] : "?";
}

const char *dl_log_type_name(enum dl_log_type type)
{
	return (unsigned)type < DL_LOGT_COUNT ? type_names[type] : "?";
}

enum dl_log_level dl_log_type_level(enum dl_log_type type)
{
	int own = (unsigned)type < DL_LOGT_COUNT ? dl_log_type_levels[type] : -1;

	return own >= 0 ? (enum dl_log_level)own : dl_log_level;
}

static void tell_backend(void)
{
	const struct dl_log_backend *b = __atomic_load_n(&backend, __ATOMIC_ACQUIRE);

	if (b != NULL && b->levels_changed != NULL)
		b->levels_changed();
}

void dl_log_set_level(enum dl_log_level level)
{
	dl_log_level = level;
	tell_backend();
}

void dl_log_set_type_level(enum dl_log_type type, int level)
{
	if ((unsigned)type >= DL_LOGT_COUNT)
		return;
	dl_log_type_levels[type] = level > (int)DL_LOG_DEBUG ? (int)DL_LOG_DEBUG : level;
	tell_backend();
}

void dl_log_set_backend(const struct dl_log_backend *b)
{
	__atomic_store_n(&backend, b, __ATOMIC_RELEASE);
}

static void vlog(enum dl_log_type type, enum dl_log_level level, const char *fmt, va_list ap)
{
	const struct dl_log_backend *b;
	char line[512];

	if ((unsigned)type >= DL_LOGT_COUNT)
		type = DL_LOGT_DLIBOS;
	if (!dl_log_on(type, level))
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	b = __atomic_load_n(&backend, __ATOMIC_ACQUIRE);
	if (b != NULL) {
		b->write(type, level, line);
		return;
	}
	/* One fprintf per line keeps lines from different cores whole. */
	fprintf(stderr, "dlibos: %s: %s\n", level_names[level], line);
}

void dl_logt(enum dl_log_type type, enum dl_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(type, level, fmt, ap);
	va_end(ap);
}

void dl_log(enum dl_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(DL_LOGT_DLIBOS, level, fmt, ap);
	va_end(ap);
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
