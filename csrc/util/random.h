/* random.h - bytes from the kernel's random source, for keys and names no outsider may choose
 * or guess (the hash key of extraction's node map, lock tokens). */
#ifndef RZ_RANDOM_H
#define RZ_RANDOM_H

#include <stddef.h>

/* Fill out with len random bytes without blocking: 0 when all came from the kernel, -1 when
 * it had none to give (early boot, an old kernel); the caller then mixes its own fallback. */
int rz_random_bytes(void *out, size_t len);

#endif
