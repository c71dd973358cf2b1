/* nolock_shim.c - an LD_PRELOAD library that makes the lock calls fail as a file system without
 * them does (tests/cluster.py builds it): RZ_SHIM_NO_FLOCK=1 makes flock(2) fail with ENOLCK,
 * RZ_SHIM_NO_FCNTL=1 makes fcntl's record locks (F_SETLK, F_SETLKW, F_GETLK and the OFD ones)
 * fail with ENOLCK, as Lustre mounted without "flock" or NFS without a lock manager do. Every
 * other call goes to libc. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

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
    return real(fd, cmd, arg);
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
