/* clock.h - the one clock for timeouts, ticks and intervals: monotonic, in milliseconds. */
#ifndef RZ_CLOCK_H
#define RZ_CLOCK_H

#include <stdint.h>

/* Milliseconds of CLOCK_MONOTONIC: only differences mean anything. */
int64_t rz_now_ms(void);

#endif
