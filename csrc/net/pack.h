/* pack.h - writing a tar archive of trees on disk (remotezoo export's bundles), with
 * libarchive. Plain C; part of remotezoo._net.
 *
 * The format is pax (restricted: ustar where a name fits), compressed by the archive name's
 * extension: .tar.zst/.tzst zstd, .tar.gz/.tgz gzip, .tar.xz/.txz xz, .tar none; anything else
 * is an RZ_E_INVALID error naming the extensions. Each item puts the file or directory at path
 * into the archive under name (a clean relative path, fsutil.h's rz_path_is_clean): a
 * directory with everything below it (depth first, names in byte order), symbolic links stored
 * as links and never followed below the item (path itself is followed: a model path that is a
 * link to its directory packs the directory), and __pycache__ directories left out. Modes are
 * kept as 0644 or 0755 (files executable by their owner), owners as 0, times as they are.
 * Anything but files, directories and links is an error.
 *
 * Atomic: the archive is written to a temporary file beside archive_path and renamed over it
 * only when complete; on failure nothing is left. Blocking I/O: the glue releases the GIL;
 * check (may be NULL) is called every 64 entries and every MiB, nonzero stops with
 * RZ_E_CALLBACK.
 */
#ifndef RZ_PACK_H
#define RZ_PACK_H

#include <stddef.h>

#include "util/error.h"

typedef struct rz_pack_item {
    const char *name; /* in the archive */
    const char *path; /* on disk */
} rz_pack_item;

int rz_pack(const char *archive_path, const rz_pack_item *items, size_t n_items,
            int (*check)(void *payload), void *payload, rz_error *err);

#endif
