/* archive_name.c - see archive_name.h. */
#include "util/archive_name.h"

#include <string.h>
#include <strings.h>

static const struct {
    const char *suffix;
    rz_archive_format format;
} suffixes[] = {
    {".tar.gz", RZ_ARCHIVE_TAR_GZ}, {".tgz", RZ_ARCHIVE_TAR_GZ},  {".tar.bz2", RZ_ARCHIVE_TAR_BZ2},
    {".tbz2", RZ_ARCHIVE_TAR_BZ2},  {".tbz", RZ_ARCHIVE_TAR_BZ2}, {".tar.bz", RZ_ARCHIVE_TAR_BZ2},
    {".tar.xz", RZ_ARCHIVE_TAR_XZ}, {".txz", RZ_ARCHIVE_TAR_XZ},  {".tar.zst", RZ_ARCHIVE_TAR_ZST},
    {".tzst", RZ_ARCHIVE_TAR_ZST},  {".zip", RZ_ARCHIVE_ZIP},     {".tar", RZ_ARCHIVE_TAR},
    {".7z", RZ_ARCHIVE_7Z},         {".rar", RZ_ARCHIVE_RAR},
};

rz_archive_format rz_archive_suffix(const char *name, size_t n, int ignore_case, size_t *out_len)
{
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        size_t len = strlen(suffixes[i].suffix);
        if (n < len)
            continue;
        if ((ignore_case ? strncasecmp(name + n - len, suffixes[i].suffix, len)
                         : strncmp(name + n - len, suffixes[i].suffix, len)) == 0) {
            *out_len = len;
            return suffixes[i].format;
        }
    }
    *out_len = 0;
    return RZ_ARCHIVE_NONE;
}

const char *rz_archive_format_name(rz_archive_format format)
{
    switch (format) {
    case RZ_ARCHIVE_NONE:
        return NULL;
    case RZ_ARCHIVE_ZIP:
        return "zip";
    case RZ_ARCHIVE_TAR:
        return "tar";
    case RZ_ARCHIVE_TAR_GZ:
        return "tar.gz";
    case RZ_ARCHIVE_TAR_BZ2:
        return "tar.bz2";
    case RZ_ARCHIVE_TAR_XZ:
        return "tar.xz";
    case RZ_ARCHIVE_TAR_ZST:
        return "tar.zst";
    case RZ_ARCHIVE_7Z:
        return "7z";
    case RZ_ARCHIVE_RAR:
        return "rar";
    }
    return NULL;
}
