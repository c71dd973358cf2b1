/* home.c - see home.h. */
#include "core/home.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/env.h"
#include "util/fsutil.h"

int rz_home_init(rz_home *out, const char *root, rz_error *err)
{
    memset(out, 0, sizeof(*out));
    if (!(out->root = rz_path(err, "%s", root)) ||
        !(out->sources = rz_path(err, "%s/sources", root)) ||
        !(out->models = rz_path(err, "%s/models", root)) ||
        !(out->locks = rz_path(err, "%s/locks", root)) ||
        !(out->index = rz_path(err, "%s/registry.json", root)) ||
        !(out->lock = rz_path(err, "%s/.lock", root)) ||
        !(out->names = rz_path(err, "%s/registry.names", root)))
        return -1;
    out->wait.read_only = rz_home_read_only(root);
    if (!out->wait.read_only &&
        (rz_mkdirs(out->sources, 0755, err) < 0 || rz_mkdirs(out->models, 0755, err) < 0 ||
         rz_mkdirs(out->locks, 0755, err) < 0))
        return -1;
    return 0;
}

int rz_home_read_only(const char *root)
{
    struct statvfs vfs;

    if (rz_env_flag("REMOTEZOO_READ_ONLY"))
        return 1;
    if (statvfs(root, &vfs) == 0 && (vfs.f_flag & ST_RDONLY))
        return 1;
    return access(root, W_OK) < 0 && (errno == EROFS || errno == EACCES);
}

void rz_home_clear(rz_home *home)
{
    free(home->root);
    free(home->sources);
    free(home->models);
    free(home->locks);
    free(home->index);
    free(home->lock);
    free(home->names);
    memset(home, 0, sizeof(*home));
}
