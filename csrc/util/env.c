/* env.c - see env.h. */
#include "util/env.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *rz_env(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] ? v : NULL;
}

int rz_env_flag(const char *name)
{
    const char *v = rz_env(name);
    return v && strcmp(v, "0") != 0;
}

long long rz_env_ll(const char *name, long long dflt, long long min, long long max)
{
    const char *v = rz_env(name);
    char *end = NULL;
    long long x;

    if (!v)
        return dflt;
    errno = 0;
    x = strtoll(v, &end, 10);
    return errno || *end || x < min || x > max ? dflt : x;
}
