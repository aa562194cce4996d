/*
 * dlibos.c - the public entry points that choose a process's life (see
 * include/dlibos/dlibos.h): an application started with --attach runs as
 * an attached process of a protected-mode service (lib/protected), any
 * other command line runs the whole runtime (lib/runtime). This layer is
 * the only one that sees both.
 */
#include "dl_attach.h"
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
