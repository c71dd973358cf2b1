/* lock.c - see lock.h. */
#include "core/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/env.h"

#define SLEEP_MIN_NS   (1000L * 1000)      /* the first retry comes after 1 ms ... */
#define SLEEP_MAX_NS   (20L * 1000 * 1000) /* ... doubling up to 20 ms between tries */
#define PROC_LOCKS_MAX (1024 * 1024)       /* read at most this much of /proc/locks */
#define HOLDERS_MAX    4                   /* pids named in a timeout message */

/* Appends to out (size out_len, NUL-terminated) the pids that /proc/locks says hold a lock on
 * the file (dev, ino), as "1234, 5678"; out stays "" where /proc/locks is missing (not Linux).
 * Lines look like "3: FLOCK  ADVISORY  WRITE 1234 08:01:56789 0 EOF"; waiters ("->") skipped. */
static void find_holders(char *out, size_t out_len, dev_t dev, ino_t ino)
{
    char *text = malloc(PROC_LOCKS_MAX + 1), *line, *next;
    size_t len = 0, found = 0;
    ssize_t n;
    int fd;

    out[0] = '\0';
    if (!text)
        return;
    fd = open("/proc/locks", O_RDONLY | O_CLOEXEC);
    while (fd >= 0 && len < PROC_LOCKS_MAX &&
           ((n = read(fd, text + len, PROC_LOCKS_MAX - len)) > 0 || (n < 0 && errno == EINTR)))
        len += n > 0 ? (size_t)n : 0;
    if (fd >= 0)
        close(fd);
    text[len] = '\0';
    for (line = text; line && *line && found < HOLDERS_MAX; line = next) {
        unsigned int maj, min;
        unsigned long long inode;
        long pid;
        int used = 0;
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (strstr(line, "->") ||
            sscanf(line, "%*s %*s %*s %*s %ld %x:%x:%llu%n", &pid, &maj, &min, &inode, &used) != 4)
            continue;
        if (makedev(maj, min) != dev || (ino_t)inode != ino)
            continue;
        snprintf(out + strlen(out), out_len - strlen(out), "%s%ld", found ? ", " : "", pid);
        found++;
    }
    free(text);
}

static int timed_out(const char *what, int fd, long long limit, rz_error *err)
{
    char holders[128] = "";
    struct stat st;

    if (fstat(fd, &st) == 0)
        find_holders(holders, sizeof(holders), st.st_dev, st.st_ino);
    rz_error_set(err, RZ_E_OS,
                 "gave up after %llds waiting for a lock on %s, held by %s%s; if that process is "
                 "stuck, "
                 "end it (REMOTEZOO_LOCK_TIMEOUT sets how long to wait, 0 for ever)",
                 limit, what, holders[0] ? (strchr(holders, ',') ? "processes " : "process ") : "",
                 holders[0] ? holders : "another process");
    err->sys_errno = ETIMEDOUT;
    rz_error_attach_path(err, what);
    return -1;
}

int rz_lock_wait_fd(int fd, int operation, const char *what, const rz_lock_wait *wait,
                    rz_error *err)
{
    /* REMOTEZOO_LOCK_TIMEOUT: seconds, 0 for no limit; anything else means the default. */
    long long limit =
        rz_env_ll("REMOTEZOO_LOCK_TIMEOUT", RZ_LOCK_TIMEOUT_DEFAULT, 0, LLONG_MAX / 1000);
    int64_t start = -1;
    long sleep_ns = SLEEP_MIN_NS;

    for (;;) {
        struct timespec ts;
        if (flock(fd, operation | LOCK_NB) == 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno != EWOULDBLOCK)
            return rz_error_os(err, errno, what, "cannot lock %s", what);
        if (wait && wait->try_only)
            return RZ_LOCK_BUSY;
        if (start < 0)
            start = rz_now_ms(); /* only a lock that is busy costs a clock read */
        if (wait && wait->cancel && wait->cancel(wait->payload))
            return rz_error_set(err, RZ_E_CALLBACK, "interrupted while waiting for %s", what);
        if (limit > 0 && rz_now_ms() - start >= limit * 1000)
            return timed_out(what, fd, limit, err);
        ts.tv_sec = 0;
        ts.tv_nsec = sleep_ns;
        nanosleep(&ts, NULL); /* EINTR (a signal) just makes the next look come sooner */
        if (sleep_ns < SLEEP_MAX_NS)
            sleep_ns = sleep_ns * 2 > SLEEP_MAX_NS ? SLEEP_MAX_NS : sleep_ns * 2;
    }
}

int rz_lock_acquire(rz_lock *out, const char *path, int operation, int flags,
                    const rz_lock_wait *wait, rz_error *err)
{
    int rc = -1;

    out->fd = -1;
    out->flags = flags;
    out->path = strdup(path);
    if (!out->path)
        return rz_error_set(err, RZ_E_NOMEM, "out of memory");
    for (;;) {
        struct stat held, now;
        int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0) {
            rz_error_os(err, errno, path, "cannot open the lock file %s", path);
            break;
        }
        if ((rc = rz_lock_wait_fd(fd, operation, path, wait, err)) != 0) {
            close(fd);
            break;
        }
        /* Its last holder may have removed the file while this waited: the lock is only ours
         * if path still names the file we locked. */
        if (!(flags & RZ_LOCK_REMOVABLE) ||
            (fstat(fd, &held) == 0 && lstat(path, &now) == 0 && held.st_dev == now.st_dev &&
             held.st_ino == now.st_ino)) {
            out->fd = fd;
            return 0;
        }
        close(fd);
    }
    free(out->path);
    out->path = NULL;
    return rc;
}

void rz_lock_release(rz_lock *lock)
{
    if (lock->fd >= 0) {
        struct stat held, now;
        /* Exclusive now (for a shared lock: only if no one else holds it) means no other process
         * holds the file; one that waits for it checks the inode after locking. */
        if ((lock->flags & RZ_LOCK_REMOVABLE) && flock(lock->fd, LOCK_EX | LOCK_NB) == 0 &&
            fstat(lock->fd, &held) == 0 && lstat(lock->path, &now) == 0 &&
            held.st_dev == now.st_dev && held.st_ino == now.st_ino)
            unlink(lock->path);
        close(lock->fd); /* closing the last descriptor releases the flock */
    }
    lock->fd = -1;
    free(lock->path);
    lock->path = NULL;
}

static int probe(const char *path, int flags)
{
    int fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC), rc;

    if (fd < 0)
        return -1;
    while ((rc = flock(fd, LOCK_EX | LOCK_NB)) < 0 && errno == EINTR)
        ;
    close(fd); /* releases what the probe took */
    return rc == 0;
}

int rz_lock_probe(const char *path)
{
    return probe(path, O_RDONLY);
}

int rz_lock_probe_dir(const char *path)
{
    return probe(path, O_RDONLY | O_DIRECTORY);
}
