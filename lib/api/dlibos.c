/*
 * dlibos.c - the public entry points that choose a process's life (see
 * include/dlibos/dlibos.h): an application started with --attach runs as
 * an attached process of a protected-mode service (lib/protected), any
 * other command line runs the whole runtime (lib/runtime). This layer is
 * the only one that sees both.
 */
#include "dl_attach.h"
#include "dl_config.h"
#include "dl_log.h"
#include "dl_runtime.h"
#include "dlibos/dlibos.h"

int dlibos_main(int argc, char **argv, const struct dlibos_app *app)
{
	if (app != NULL && dl_attach_requested(argc, argv))
		return dl_attach_main(argc, argv, app, NULL, NULL);
	return dl_runtime_main(argc, argv, app, NULL, NULL, NULL);
}

void dlibos_stop(void)
{
	dl_runtime_stop();
}

int dlibos_opt_uint(const char *name, const char *value, unsigned long long min,
		    unsigned long long max, unsigned long long *out, char *err, size_t errlen)
{
	if (value == NULL || dl_parse_uint(value, min, max, out) != 0)
		return dl_errf(err, errlen, "--%s '%s': expected an integer in %llu..%llu", name,
			       value != NULL ? value : "", min, max);
	return 0;
}
