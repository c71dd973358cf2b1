/* digest.h - what a downloaded model or a fetched source tree is, as one SHA-256, so that a
 * lock file, `cache verify` and a bundle can say "exactly these bytes". Plain C (libcrypto,
 * through sha256.h); part of remotezoo._net and remotezoo._digest.
 *
 * A file's digest is the SHA-256 of its bytes: the same hex a manifest's "sha256" declares.
 * A directory's digest ("tree", format rz-tree-v1) is the SHA-256 of this byte string:
 *
 *     "rz-tree-v1" NUL
 *     then, for every entry below the directory, depth first, the entries of each directory
 *     in the byte order of their names (a directory's own record comes before its entries):
 *       "d" NUL <path> NUL                                  a directory
 *       "f" NUL <path> NUL <size> NUL <sha256 hex> NUL      a regular file
 *       "l" NUL <path> NUL <link target> NUL                a symbolic link (never followed)
 *
 * where <path> is relative to the directory, '/'-separated, and <size> is decimal. Modes,
 * owners and times are not part of it: two extractions of one archive have one digest.
 * Anything else (a FIFO, a device, a socket) is an error, as it is to extraction. With
 * RZ_DIGEST_SKIP_PYCACHE, directories named "__pycache__" are left out (Python writes them
 * into a source tree when it imports it). Its size is the sum of the file sizes.
 *
 * Blocking I/O throughout: the glue releases the GIL. check (may be NULL) is called with
 * payload every MiB read and every 64 entries; nonzero stops with RZ_E_CALLBACK.
 */
#ifndef RZ_DIGEST_H
#define RZ_DIGEST_H

#include <stdint.h>

#include "net/sha256.h"
#include "util/error.h"

enum {
    RZ_DIGEST_FOLLOW = 1,       /* a symbolic link at path itself is followed (one level) */
    RZ_DIGEST_SKIP_PYCACHE = 2, /* leave out __pycache__ directories */
};

#define RZ_DIGEST_MAX_DEPTH 512

typedef struct rz_digest {
    int is_tree;                        /* 0 a file, 1 a directory */
    uint64_t size;                      /* bytes of the file, or of all files of the tree */
    char sha256[RZ_SHA256_HEX_LEN + 1]; /* lowercase hex */
} rz_digest;

typedef int (*rz_digest_check_fn)(void *payload);

/* The digest of the file or directory at path (see above) into *out. */
int rz_digest_path(rz_digest *out, const char *path, int flags, rz_digest_check_fn check,
                   void *payload, rz_error *err);

#endif
