/*
 * dl_time.h - the runtime's clock. Protocol code never reads it: the stack
 * and the engine get `now` as an argument, which keeps them deterministic
 * under test.
 */
#ifndef DL_TIME_H
#define DL_TIME_H

#include <stdint.h>

/** Monotonic time in microseconds (CLOCK_MONOTONIC). */
uint64_t dl_now_us(void);

#endif /* DL_TIME_H */
