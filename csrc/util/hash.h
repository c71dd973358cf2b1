/* hash.h - the hash of names: FNV-1a 64, for slugs, lock file names and models folders' suffixes.
 * Stable across runs and machines (names derived from it are stored on disk); not a defence
 * against chosen collisions (extract.c keys its own table per extraction for that). */
#ifndef RZ_HASH_H
#define RZ_HASH_H

#include <stddef.h>

/* 64-bit FNV-1a of len bytes of data. */
unsigned long long rz_fnv1a64(const void *data, size_t len);

#endif
