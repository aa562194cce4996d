/*
 * dlibosd.c - the DLibOS service of protected mode: owns the port, runs
 * every lcore as a network core, and serves the applications that attach
 * to it as separate processes over its control socket.
 *
 *     dlibosd [EAL args] -- --ip A.B.C.D/NN [--ctl PATH] [--policy FILE]
 *             [--app-slots K] [--app-cores-max M] [common options]
 *     dlibos-httpd --attach PATH --root DIR --port 80     (an application)
 *
 * With no application attached it runs the stack alone: it answers ARP
 * and ping (and resets TCP connection attempts). See dl_service.h and
 * docs/protected.md.
 */
#include "dl_service.h"

int main(int argc, char **argv)
{
	return dl_service_main(argc, argv, "dlibosd",
			       "DLibOS service: runs the network cores; applications "
			       "attach with --attach PATH (protected mode).");
}
