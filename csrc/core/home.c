/* home.c - see home.h. */
#include "core/home.h"

#include <stdio.h>
#include <string.h>

static int join(char *out, size_t out_len, const char *a, const char *b, rz_error *err)
{
    int n = snprintf(out, out_len, "%s/%s", a, b);
    if (n < 0 || (size_t)n >= out_len)
        return rz_error_set(err, RZ_E_INVALID, "path too long: %s/%s", a, b);
    return 0;
}

int rz_home_init(rz_home *out, const char *root, rz_error *err)
{
    memset(out, 0, sizeof(*out));
    if (snprintf(out->root, sizeof(out->root), "%s", root) >= (int)sizeof(out->root))
        return rz_error_set(err, RZ_E_INVALID, "REMOTEZOO_HOME is too long");
    if (join(out->sources, sizeof(out->sources), root, "sources", err) < 0 ||
        join(out->models, sizeof(out->models), root, "models", err) < 0 ||
        join(out->locks, sizeof(out->locks), root, "locks", err) < 0 ||
        join(out->index, sizeof(out->index), root, "registry.json", err) < 0 ||
        join(out->lock, sizeof(out->lock), root, ".lock", err) < 0 ||
        join(out->names, sizeof(out->names), root, "registry.names", err) < 0)
        return -1;
    if (rz_mkdirs(out->sources, 0755, err) < 0 || rz_mkdirs(out->models, 0755, err) < 0 ||
        rz_mkdirs(out->locks, 0755, err) < 0)
        return -1;
    return 0;
}