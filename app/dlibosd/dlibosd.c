/*
 * dlibosd.c - the DLibOS service: owns the port and runs the net cores.
 *
 *     dlibosd [EAL args] -- --ip A.B.C.D/NN [options]
 *
 * With no application attached it runs the stack alone, so it answers ARP
 * and ping (and resets TCP connection attempts). Protected mode will make
 * it the process applications attach to.
 */
#include "dl_runtime.h"

int main(int argc, char **argv)
{
	return dl_runtime_main(argc, argv, NULL, "dlibosd",
			       "DLibOS service: runs the network cores (answers ARP and ping).");
}
