/* fsutil.h - small file-system helpers shared by the C core (extraction, registry, downloads).
 *
 * Each returns 0 or -1 with err set (RZ_E_OS naming the path, or RZ_E_NOMEM). None follows a
 * symbolic link where that could reach outside the path it was given. Blocking I/O: glue code
 * releases the GIL around calls that may take long (rz_rmtree of a big tree).
 */
#ifndef RZ_FSUTIL_H
#define RZ_FSUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/buf.h"
#include "util/error.h"

/* Deepest directory nesting rz_rmtree descends into before giving up. */
#define RZ_RMTREE_MAX_DEPTH 65536

/* Remove path and, if it is a directory, everything below it. Symbolic links are removed, never
 * followed; the walk holds one directory descriptor at a time (so any depth works within
 * RZ_RMTREE_MAX_DEPTH), never crosses into another file system, and stops with an error if a
 * directory is moved while it runs. A path that does not exist is success. */
int rz_rmtree(const char *path, rz_error *err);

/* mkdir -p: create path and its missing parents with mode (before umask). Existing
 * directories are fine; an existing non-directory is an error. */
int rz_mkdirs(const char *path, mode_t mode, rz_error *err);

/* fsync the directory path, making renames and creations in it durable. */
int rz_fsync_dir(const char *path, rz_error *err);

/* The template of a temporary name beside a file or directory named base (a last component):
 * "." base tag "XXXXXX" (tag such as ".part-" or ".tmp-"), written into out (out_len bytes,
 * at least RZ_TEMP_NAME_MAX + 1). When that would be longer than NAME_MAX, base is cut to what
 * fits and marked with a '~', so a legal 255-byte target still has a legal temporary name
 * (its prefix, up to the X's, is the same for every temporary of one target). 0, or -1 if
 * tag alone does not fit. */
#define RZ_TEMP_NAME_MAX 255
int rz_temp_name(char *out, size_t out_len, const char *base, const char *tag);

/* The mkstemp template of a temporary file beside the file path, on its file system: path's
 * directory (none: the current one) joined with rz_temp_name(path's last component, tag).
 * Caller frees with free(); NULL with err set (an RZ_E_INVALID error when that component is
 * empty, "." or ".."). */
char *rz_temp_path_beside(const char *path, const char *tag, rz_error *err);

/* fsync the directory that holds path (the current one when path has no '/'), making a rename
 * onto path durable. */
int rz_fsync_parent(const char *path, rz_error *err);

/* Create a fresh, private (0700) directory beside target, on the same file system, named
 * rz_temp_name(basename of target, ".tmp-") in the canonical (realpath) form of target's
 * parent, which must exist. *out is the new directory's absolute path; caller frees with
 * free(). */
int rz_mkdtemp_beside(char **out, const char *target, rz_error *err);

/* mkdir -p dir, then a fresh private directory in it named <dir>/<prefix>XXXXXX, its path in
 * *out (caller frees with free()). A concurrent cleanup may remove dir (or a parent) while it is
 * empty: when the directory vanishes between the two steps they are done again, a few times. */
int rz_mkdtemp_in(char **out, const char *dir, const char *prefix, rz_error *err);

/* The canonical absolute path of target's parent directory joined with target's last
 * component (trailing slashes dropped); the parent must exist, target need not. *out is
 * malloc'd; caller frees with free(). */
int rz_path_beside(char **out, const char *target, rz_error *err);

/* 1 if path is a relative path spelled one way: not empty, not absolute, and no component that
 * is empty ("a//b", a trailing '/'), ".", ".." or starts with ".rz-" (remotezoo's own names in
 * the models folders). Such a path names exactly one place below the directory it is joined to,
 * and two of them name the same place only if they are equal. Else 0. */
int rz_path_is_clean(const char *path);

/* The names in directory path, without "." and "..", sorted in byte order: *out is a malloc'd
 * array of *out_n malloc'd strings (free with rz_names_free). More than RZ_LIST_DIR_MAX
 * entries is an RZ_E_INVALID error (memory stays bounded on a hostile tree). */
#define RZ_LIST_DIR_MAX (1u << 20)
int rz_list_dir(char ***out, size_t *out_n, const char *path, rz_error *err);

/* Free what rz_list_dir made (NULL is fine). */
void rz_names_free(char **names, size_t n);

/* strcmp for qsort over an array of strings (char *): the byte order rz_list_dir sorts in. */
int rz_compare_names(const void *a, const void *b);

/* Read all of fd (at most max bytes; more is an error) into *out, NUL-terminated (caller frees
 * with free(); *out_len excludes the NUL). path names fd in messages. */
int rz_read_fd(char **out, size_t *out_len, int fd, size_t max, const char *path, rz_error *err);

/* Write data to path atomically: a temp file beside it (rz_temp_name(..., ".tmp-")), fsync,
 * rename, fsync of the directory. Readers see the old content or the new, never a mix. The file
 * is private to its owner (0600): registry.json keeps the specs sources were registered with,
 * and an archive URL may carry a token in its query string, needed to fetch the source again. */
int rz_write_atomic(const char *path, const void *data, size_t len, rz_error *err);

#endif
