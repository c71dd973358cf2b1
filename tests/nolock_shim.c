/* nolock_shim.c - an LD_PRELOAD library that makes the lock calls fail as a file system without
 * them does (tests/cluster.py builds it): RZ_SHIM_NO_FLOCK=1 makes flock(2) fail with ENOLCK,
 * RZ_SHIM_NO_FCNTL=1 makes fcntl's record locks (F_SETLK, F_SETLKW, F_GETLK and the OFD ones)
 * fail with ENOLCK, as Lustre mounted without "flock" or NFS without a lock manager do. Every
 * other call goes to libc. RZ_SHIM_FAILED_WRLCK_MS=<n> makes an F_SETLK for a write lock that
 * fails return only n milliseconds later, holding whatever the process held: it widens the
 * window of a race between two lock holders releasing together. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int off(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] && strcmp(v, "0") != 0;
}

int flock(int fd, int operation)
{
    static int (*real)(int, int);
    if (off("RZ_SHIM_NO_FLOCK")) {
        errno = ENOLCK;
        return -1;
    }
    if (!real)
        real = (int (*)(int, int))dlsym(RTLD_NEXT, "flock");
    return real(fd, operation);
}

static int is_lock_cmd(int cmd)
{
    return cmd == F_SETLK || cmd == F_SETLKW || cmd == F_GETLK || cmd == F_OFD_SETLK ||
           cmd == F_OFD_SETLKW || cmd == F_OFD_GETLK;
}

static int forward(const char *name, int fd, int cmd, void *arg)
{
    int (*real)(int, int, ...) = (int (*)(int, int, ...))dlsym(RTLD_NEXT, name);
    if (is_lock_cmd(cmd) && off("RZ_SHIM_NO_FCNTL")) {
        errno = ENOLCK;
        return -1;
    }
    int rc = real(fd, cmd, arg);
    const char *delay = getenv("RZ_SHIM_FAILED_WRLCK_MS");
    if (rc < 0 && cmd == F_SETLK && delay && ((struct flock *)arg)->l_type == F_WRLCK) {
        int saved = errno;
        long ms = atol(delay);
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        errno = saved;
    }
    return rc;
}

/* fcntl and fcntl64 (what glibc's headers map fcntl to with 64-bit offsets): the same wrapper. */
#define WRAP_FCNTL(name)                                                                           \
    int name(int fd, int cmd, ...)                                                                 \
    {                                                                                              \
        va_list ap;                                                                                \
        void *arg;                                                                                 \
        va_start(ap, cmd);                                                                         \
        arg = va_arg(ap, void *);                                                                  \
        va_end(ap);                                                                                \
        return forward(#name, fd, cmd, arg);                                                       \
    }

WRAP_FCNTL(fcntl)
WRAP_FCNTL(fcntl64)
