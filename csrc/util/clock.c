/* clock.c - see clock.h. */
#include "util/clock.h"

#include <time.h>

void rz_utc_now_text(char out[RZ_UTC_TEXT_MAX])
{
    time_t now = time(NULL);
    struct tm tm;

    if (!gmtime_r(&now, &tm) || !strftime(out, RZ_UTC_TEXT_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm))
        out[0] = '\0';
}

int64_t rz_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
