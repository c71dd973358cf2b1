/* extract.h - safe extraction of tar, zip and 7z archives with libarchive.
 *
 * Accepted: tar (ustar, pax, GNU) raw or compressed with gzip, bzip2, xz or zstd, and zip and 7z
 * (from a file only: both keep their directory at the end). Anything else is an RZ_E_ARCHIVE
 * error that names the archive and the accepted formats. RAR is not read: libarchive's RAR
 * reader takes an archive cut between two entries for a complete one.
 *
 * Safety (at least Python's PEP 706 "data" filter): every entry is checked before anything is
 * written, and a refused entry is an RZ_E_UNSAFE_ARCHIVE error whose err->path is the entry's
 * name and whose message names the entry and the archive:
 *   - absolute names and names with a ".." component;
 *   - symbolic links whose target is absolute, or that lead outside the extracted tree when
 *     resolved from the link's directory, following the links of the archive (checked for each
 *     link as it comes and for all of them again once the tree is complete, so the order of
 *     entries cannot be used to escape); links that loop more than 40 times;
 *   - hard links whose target is not a regular file extracted earlier from the same archive;
 *   - entries below a symbolic link or a file of the archive; the same name twice (except a
 *     directory repeated as a directory);
 *   - character and block devices, FIFOs, sockets and any other special file;
 *   - more than max_entries entries, a name longer than max_path bytes (or a destination path
 *     longer than PATH_MAX), more than max_bytes of data in total (counted while the data streams
 *     in, so a zip or gzip bomb stops at the cap), a file with more data than its declared size;
 *   - more than RZ_EXTRACT_MAX_NAME_BYTES of names and link targets, over all entries (repeats
 *     included), or held in memory for the checks.
 * Cost: every check of an entry takes time linear in its name and link target (names are kept
 * as a tree of components, hashed with a key drawn per extraction); following links through
 * other links is capped for the whole archive at a multiple of its name bytes (past it:
 * RZ_E_UNSAFE_ARCHIVE), so no archive makes the checks quadratic.
 * Modes are sanitised: setuid, setgid and sticky bits and group/other write are dropped; files
 * are always readable and writable by their owner and keep their execute bits only when the
 * owner may execute them; directories always have owner rwx; directories the archive implies
 * but does not list are 0755. Modes are set explicitly (fchmod), whatever the umask. Owners,
 * ACLs, extended attributes and file flags are never restored; modification times are.
 * The tree is written by this file, not by libarchive's disk writer (which sets the process
 * umask to 0 around every entry, so files other threads created meanwhile were world-writable):
 * everything is created with openat/mkdirat/symlinkat/linkat below the temporary directory,
 * never through a symbolic link, and the process umask and working directory are never
 * touched.
 *
 * Atomicity: dest_dir must not exist, or be an empty directory (which is replaced); anything
 * else is an RZ_E_OS error (EEXIST / ENOTEMPTY) before the archive is read. Its parent must
 * exist. The archive is extracted into a fresh ".<name>.tmp-XXXXXX" directory beside dest_dir,
 * which is renamed onto dest_dir only once everything was extracted and checked; on any error
 * the temporary directory is removed and dest_dir is left as it was. With strip_top_level, a
 * tree whose only top-level entry is a directory (as GitHub's tarballs: their pax global header
 * is not an entry) has that directory become dest_dir. dest_dir (when not stripped) is 0755.
 * Written files are not fsync'ed; the directory holding dest_dir is, after the rename.
 *
 * Errors: RZ_E_ARCHIVE for a corrupt, truncated or unsupported archive (message: the archive and
 * libarchive's words; a tar that ends without its end-of-archive marker is truncated),
 * RZ_E_UNSAFE_ARCHIVE as above, RZ_E_OS for file-system failures (path set), RZ_E_CALLBACK when
 * limits->check asked to stop, and whatever a stream's read function set. Blocking I/O throughout:
 * glue code releases the GIL around these calls.
 */
#ifndef RZ_EXTRACT_H
#define RZ_EXTRACT_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define RZ_EXTRACT_MAX_BYTES   (32ull << 30) /* 32 GiB of file data in total */
#define RZ_EXTRACT_MAX_ENTRIES 1000000ull
#define RZ_EXTRACT_MAX_PATH    4096u /* bytes of one entry name */
/* The names and link targets of all entries (repeats included), and the memory held for the
 * checks, are capped too (an archive of a million maximal names would need 4 GiB): past this
 * it is refused as unsafe. */
#define RZ_EXTRACT_MAX_NAME_BYTES (256u << 20)

typedef struct rz_extract_limits {
    uint64_t max_bytes;   /* total bytes of file data */
    uint64_t max_entries; /* entries of every kind */
    size_t max_path;      /* bytes of one entry name, as stored in the archive */
    /* Optional: called with check_payload every 64 entries, every MiB of data and once more
     * before the tree is moved into place; returning nonzero stops the extraction with
     * RZ_E_CALLBACK (everything is removed). The glue uses it to look for Ctrl-C. NULL: never
     * called. */
    int (*check)(void *payload);
    void *check_payload;
} rz_extract_limits;

/* Fill *out with the defaults above and no check callback. */
void rz_extract_limits_default(rz_extract_limits *out);

/* A pull source of archive bytes: on success sets *out_data and *out_len to the next bytes (which
 * must stay valid until the next call; *out_len == 0 means the end) and returns 0; on failure
 * sets err (it is the extraction's own rz_error, so its message is what the caller sees) and
 * returns -1. */
typedef int (*rz_read_fn)(const void **out_data, size_t *out_len, rz_error *err, void *payload);

/* Extract the archive file at archive_path (tar, compressed tar, zip or 7z) into dest_dir as
 * described above. limits may be NULL for the defaults. 0 or -1 with err set. */
int rz_extract_file(const char *archive_path, const char *dest_dir, int strip_top_level,
                    const rz_extract_limits *limits, rz_error *err);

/* As rz_extract_file, reading the archive from read(payload) as it arrives (no temporary copy
 * of the archive): tar, raw or compressed with gzip, bzip2, xz or zstd, only. Zip cannot be
 * streamed: download it to a temporary file and use rz_extract_file. label names the archive in
 * messages (a URL, already without credentials, or a name). An error set by read is returned
 * unchanged. A stream that ends inside an entry, inside compressed data or before the tar's
 * end-of-archive marker is an RZ_E_ARCHIVE error. */
int rz_extract_stream(rz_read_fn read, void *payload, const char *label, const char *dest_dir,
                      int strip_top_level, const rz_extract_limits *limits, rz_error *err);

#endif
