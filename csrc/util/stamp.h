/* stamp.h - the one file stamp: what tells one version of a file from another.
 *
 * A stamp is a file's device, inode, modification time and size. registry.json is only ever
 * replaced by rename(), so a new version of it is a new inode; a local source's manifest.json is
 * edited in place, so its modification time and size say when it changed. Two forms are kept on
 * disk: registry.names records a whole stamp (names.h), and registry.json records a local
 * manifest's "stamp" as text, "<seconds>.<nanoseconds>:<size>" (rz_stamp_text), without the
 * device and inode, which a copy of the tree would change.
 */
#ifndef RZ_STAMP_H
#define RZ_STAMP_H

#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

typedef struct rz_stamp {
    int exists; /* 0 for a missing file (every other field is 0 then) */
    dev_t dev;
    ino_t ino;
    int64_t mtime_ns; /* nanoseconds since the epoch */
    off_t size;
} rz_stamp;

/* The stamp of what st describes. */
void rz_stamp_from_stat(rz_stamp *out, const struct stat *st);

/* The stamp of path now (following symbolic links): 0, with exists 0 when path is missing;
 * -1 with errno set for other errors. */
int rz_stamp_of(rz_stamp *out, const char *path);

/* 1 if a and b are the same version of a file (or both missing), else 0. */
int rz_stamp_equal(const rz_stamp *a, const rz_stamp *b);

/* The text form of s (its time and size) in out; "" for a missing file. */
#define RZ_STAMP_TEXT_MAX 64
void rz_stamp_text(char out[RZ_STAMP_TEXT_MAX], const rz_stamp *s);

/* 1 if the file at path exists and its stamp's text form is text (NULL never matches), else 0. */
int rz_stamp_text_is(const char *path, const char *text);

#endif
