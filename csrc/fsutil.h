/* fsutil.h - small filesystem helpers shared by the C core. Blocking I/O: callers release the
 * GIL. None follows a symlink it did not mean to. */
#ifndef RZ_FSUTIL_H
#define RZ_FSUTIL_H

#include <stddef.h>

#include "error.h"

/* mkdir -p path (mode 0755). Existing directories are fine. */
int rz_fs_mkdirs(const char *path, rz_error *err);

/* Read all of fd (at most max bytes; more is an error) into *out (caller frees with free(); it
 * is NUL-terminated, *out_len excludes the NUL). path names fd in messages. */
int rz_fs_read_fd(char **out, size_t *out_len, int fd, size_t max, const char *path, rz_error *err);

/* Write data to path atomically: a temp file beside it, fsync, rename, fsync of the directory.
 * Readers see the old content or the new, never a mix. */
int rz_fs_write_atomic(const char *path, const void *data, size_t len, rz_error *err);

/* rm -rf path without following symlinks. A missing path is fine. */
int rz_fs_remove_tree(const char *path, rz_error *err);

/* fsync the directory that holds path (after a rename into it). */
int rz_fs_sync_parent(const char *path, rz_error *err);

#endif
