/* generation.c - see generation.h. */
#include "core/generation.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fsutil.h"
#include "util/lock.h"

#define RETIRED_MARK ".rz-retired"

static int open_dir(const char *path)
{
    return open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* Take operation on the directory path without waiting: 0, or nonzero when busy or gone. */
static int try_lock(rz_lock *out, const char *path, int operation)
{
    return rz_lock_acquire(out, path, operation, RZ_LOCK_OBJECT, &rz_lock_no_wait, NULL);
}

/* Remove the generation at path, whose directory (locked exclusive by the caller)
 * keeps everyone else out: renamed aside first, so a pinner waiting for the lock finds it gone.
 * ".tmp-old-" cannot be a registration's ".tmp-XXXXXX", which rename() would replace. */
static void remove_locked(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *doomed;

    if (!slash || strncmp(slash + 1, ".tmp-", 5) == 0) {
        rz_rmtree(path, NULL); /* already aside */
        return;
    }
    doomed = rz_path(NULL, "%.*s/.tmp-old-%s", (int)(slash - path), path, slash + 1);
    if (doomed && rename(path, doomed) == 0) /* else left for the next retirement */
        rz_rmtree(doomed, NULL);
    free(doomed);
}

int rz_generation_pin(rz_pin *pin, const char *dir, const rz_lock_wait *wait, rz_error *err)
{
    struct stat held, now;
    int fd;

    pin->fd = -1;
    pin->lock = (rz_lock)RZ_LOCK_INIT;
    pin->dir = NULL;
    fd = open_dir(dir);
    if (fd < 0)
        return errno == ENOENT ? 0 : rz_error_os(err, errno, dir, "cannot open %s", dir);
    if (rz_lock_acquire(&pin->lock, dir, LOCK_SH, RZ_LOCK_OBJECT, wait, err) != 0) {
        close(fd);
        if (err->sys_errno != ENOENT)
            return -1;
        rz_error_init(err); /* retired meanwhile */
        return 0;
    }
    /* A retirement may have moved it aside while this waited for the lock. */
    if (fstat(fd, &held) < 0 || stat(dir, &now) < 0 || held.st_dev != now.st_dev ||
        held.st_ino != now.st_ino) {
        rz_lock_release(&pin->lock);
        close(fd);
        return 0;
    }
    if (!(pin->dir = strdup(dir))) {
        rz_lock_release(&pin->lock);
        close(fd);
        return rz_error_set(err, RZ_E_NOMEM, "out of memory");
    }
    pin->fd = fd;
    return 1;
}

/* 1 if path still names the directory dir_fd has open. */
static int same_dir(int dir_fd, const char *path)
{
    struct stat held, now;
    return fstat(dir_fd, &held) == 0 && stat(path, &now) == 0 && held.st_dev == now.st_dev &&
           held.st_ino == now.st_ino;
}

static int retired(int dir_fd)
{
    return faccessat(dir_fd, RETIRED_MARK, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Remove the generation a pin held (now locked exclusive) and, when that was the last
 * tree of its source (the source was deleted), the source's directory, which rmdir leaves
 * while it holds anything else. */
static void remove_pinned(const rz_pin *pin)
{
    char *slash = strrchr(pin->dir, '/');

    remove_locked(pin->dir);
    if (slash) {
        *slash = '\0'; /* the pin's own copy: it is freed next */
        rmdir(pin->dir);
    }
}

void rz_generation_unpin(rz_pin *pin)
{
    if (pin->fd < 0)
        return;
    /* Retired while pinned: the last pin out removes it. A retirement marks before it tries
     * the lock, and a pin looks for the mark again after unlocking, so of a retirement and the
     * last pin one always sees the other. A conversion to LOCK_EX drops this pin's lock first,
     * so of two pins leaving together one wins. */
    if (retired(pin->fd)) {
        if (rz_lock_convert(&pin->lock, LOCK_EX, &rz_lock_no_wait, NULL) == 0)
            remove_pinned(pin);
    } else {
        rz_lock_release(&pin->lock);
        if (retired(pin->fd) && try_lock(&pin->lock, pin->dir, LOCK_EX) == 0 &&
            same_dir(pin->fd, pin->dir))
            remove_pinned(pin);
    }
    rz_lock_release(&pin->lock);
    close(pin->fd);
    pin->fd = -1;
    free(pin->dir);
    pin->dir = NULL;
}

/* Retire the generation at path: remove it now if nobody pins it, else mark it for its last
 * pin. A ".tmp-*" directory is never pinned, only removed when no one is removing it already. */
static void retire(const char *path, int is_tmp)
{
    rz_lock lock = RZ_LOCK_INIT;
    int fd = open_dir(path), unused;

    if (fd < 0)
        return;
    unused = try_lock(&lock, path, LOCK_EX) == 0;
    if (!unused && !is_tmp) {
        int mark = openat(fd, RETIRED_MARK, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (mark >= 0)
            close(mark);
        /* The last pin may have left between the failed lock and the mark: try once more. */
        unused = try_lock(&lock, path, LOCK_EX) == 0;
    }
    if (unused && same_dir(fd, path))
        remove_locked(path);
    rz_lock_release(&lock);
    close(fd);
}

void rz_generation_retire_others(const char *slug_dir, const char *keep)
{
    DIR *d = opendir(slug_dir);
    struct dirent *de;

    while (d && (de = readdir(d))) {
        char *path;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            (keep && strcmp(de->d_name, keep) == 0) ||
            !(path = rz_path(NULL, "%s/%s", slug_dir, de->d_name)))
            continue;
        retire(path, strncmp(de->d_name, ".tmp-", 5) == 0);
        free(path);
    }
    if (d)
        closedir(d);
}
