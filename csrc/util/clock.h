/* clock.h - the one clock for timeouts, ticks and intervals: monotonic, in milliseconds. */
#ifndef RZ_CLOCK_H
#define RZ_CLOCK_H

#include <stdint.h>

/* Milliseconds of CLOCK_MONOTONIC: only differences mean anything. */
int64_t rz_now_ms(void);

/* The wall clock's time now in UTC, as the registry and the digest records write it:
 * "2026-11-29T18:30:00Z" (ISO 8601, whole seconds). */
#define RZ_UTC_TEXT_MAX 32
void rz_utc_now_text(char out[RZ_UTC_TEXT_MAX]);

#endif
