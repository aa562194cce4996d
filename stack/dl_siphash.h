/*
 * dl_siphash.h - SipHash-2-4 (Aumasson & Bernstein, 2012), the keyed hash
 * behind RFC 6528 initial sequence numbers and timestamp offsets.
 *
 * A 128-bit secret key and a short message give a 64-bit value that an
 * observer who does not know the key cannot predict, so off-path attackers
 * cannot guess a connection's ISN from the ISNs of other connections.
 */
#ifndef DL_SIPHASH_H
#define DL_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

/** SipHash-2-4 of len bytes at msg under key (16 bytes). */
uint64_t dl_siphash24(const uint8_t key[16], const void *msg, size_t len);

#endif /* DL_SIPHASH_H */
