/*
 * core_bind.h (ring) - put the calling thread where core @p core runs,
 * for tests and benchmarks that drive NoC endpoints from their own
 * threads (or several from one thread). The ring transport is shared
 * memory: any thread may use any endpoint, so there is nothing to do.
 * test/noc/bind/udn/core_bind.h is the UDN's version; the build picks the
 * folder with the transport.
 */
#ifndef CORE_BIND_H
#define CORE_BIND_H

static inline void test_core_bind(unsigned core)
{
	(void)core;
}

#endif
