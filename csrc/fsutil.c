/* fsutil.c - see fsutil.h. */
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int rz_fs_mkdirs(const char *path, rz_error *err)
{
    char buf[4096];
    size_t len = strlen(path), i;

    if (len == 0 || len >= sizeof(buf))
        return rz_error_set(err, RZ_E_INVALID, "bad directory path '%s'", path);
    memcpy(buf, path, len + 1);
    for (i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        buf[i] = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return rz_error_os(err, errno, buf, "cannot create directory %s", buf);
        buf[i] = path[i];
    }
    return 0;
}

int rz_fs_read_fd(char **out, size_t *out_len, int fd, size_t max, const char *path, rz_error *err)
{
    size_t cap = 64 * 1024, len = 0;
    char *data = malloc(cap + 1), *bigger;

    *out = NULL;
    *out_len = 0;
    if (!data)
        return rz_error_set(err, RZ_E_NOMEM, "out of memory");
    for (;;) {
        ssize_t n;
        if (len == cap) {
            if (cap >= max) {
                free(data);
                return rz_error_set(err, RZ_E_INVALID, "%s is larger than %zu bytes", path, max);
            }
            cap = cap * 2 > max ? max : cap * 2;
            bigger = realloc(data, cap + 1);
            if (!bigger) {
                free(data);
                return rz_error_set(err, RZ_E_NOMEM, "out of memory");
            }
            data = bigger;
        }
        n = read(fd, data + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            free(data);
            return rz_error_os(err, errno, path, "cannot read %s", path);
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    data[len] = '\0';
    *out = data;
    *out_len = len;
    return 0;
}

int rz_fs_sync_parent(const char *path, rz_error *err)
{
    char buf[4096];
    int fd;

    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return rz_error_set(err, RZ_E_INVALID, "path too long: %s", path);
    fd = open(dirname(buf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return rz_error_os(err, errno, path, "cannot open the directory of %s", path);
    if (fsync(fd) < 0 && errno != EINVAL) {
        rz_error_os(err, errno, path, "cannot sync the directory of %s", path);
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

int rz_fs_write_atomic(const char *path, const void *data, size_t len, rz_error *err)
{
    char tmp[4096];
    const char *p = data;
    int fd;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path) >= (int)sizeof(tmp))
        return rz_error_set(err, RZ_E_INVALID, "path too long: %s", path);
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return rz_error_os(err, errno, path, "cannot create a temporary file beside %s", path);
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rz_error_os(err, errno, path, "cannot write %s", path);
            goto fail;
        }
        p += n;
        len -= (size_t)n;
    }
    if (fchmod(fd, 0644) < 0 || fsync(fd) < 0) {
        rz_error_os(err, errno, path, "cannot write %s", path);
        goto fail;
    }
    if (close(fd) < 0) {
        fd = -1;
        rz_error_os(err, errno, path, "cannot write %s", path);
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) < 0) {
        rz_error_os(err, errno, path, "cannot replace %s", path);
        goto fail;
    }
    return rz_fs_sync_parent(path, err);
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return -1;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (type == FTW_DP)
        return rmdir(path) < 0 && errno != ENOENT ? -1 : 0;
    return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

int rz_fs_remove_tree(const char *path, rz_error *err)
{
    struct stat st;

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : rz_error_os(err, errno, path, "cannot remove %s", path);
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) < 0 && errno != ENOENT)
            return rz_error_os(err, errno, path, "cannot remove %s", path);
        return 0;
    }
    /* FTW_PHYS: never follow symlinks; FTW_DEPTH: children before their directory. nftw is
     * not thread-safe with respect to chdir, which FTW_CHDIR would use; it is not set. */
    if (nftw(path, remove_entry, 32, FTW_PHYS | FTW_DEPTH) < 0)
        return rz_error_os(err, errno, path, "cannot remove %s", path);
    return 0;
}
