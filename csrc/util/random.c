/* random.c - see random.h. */
#include "util/random.h"

#include <linux/random.h>
#include <sys/syscall.h>
#include <unistd.h>

int rz_random_bytes(void *out, size_t len)
{
    /* The system call, not glibc's getrandom (glibc 2.25): the wheel runs on glibc 2.17,
     * whose headers zig may still declare it in. */
    return syscall(SYS_getrandom, out, len, GRND_NONBLOCK) == (long)len ? 0 : -1;
}
