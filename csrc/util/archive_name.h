/* archive_name.h - archive formats as their file names say them: the one table of archive
 * suffixes, read by source specs (an archive URL's format), the download of a source's archive
 * and the layout of a manager's extracted archive (models.h). */
#ifndef RZ_ARCHIVE_NAME_H
#define RZ_ARCHIVE_NAME_H

#include <stddef.h>

typedef enum rz_archive_format {
    RZ_ARCHIVE_NONE,
    RZ_ARCHIVE_ZIP,
    RZ_ARCHIVE_TAR,
    RZ_ARCHIVE_TAR_GZ,
    RZ_ARCHIVE_TAR_BZ2,
    RZ_ARCHIVE_TAR_XZ,
    RZ_ARCHIVE_TAR_ZST,
    RZ_ARCHIVE_7Z,
    RZ_ARCHIVE_RAR,
} rz_archive_format;

/* The format name[0..n) has by its suffix (.zip .tar .tar.gz .tgz .tar.bz2 .tbz2 .tbz .tar.bz
 * .tar.xz .txz .tar.zst .tzst .7z .rar; ASCII case ignored when ignore_case), and the suffix's
 * length in *out_len (0 and RZ_ARCHIVE_NONE when it has none). No suffix ends another, so the
 * match is unambiguous. */
rz_archive_format rz_archive_suffix(const char *name, size_t n, int ignore_case, size_t *out_len);

/* NULL for RZ_ARCHIVE_NONE, else "zip", "tar", "tar.gz", "tar.bz2", "tar.xz", "tar.zst", "7z"
 * or "rar". Static string. */
const char *rz_archive_format_name(rz_archive_format format);

#endif
