/* fetch_tree.h - a source's archive, downloaded and extracted in one go. Plain C. */
#ifndef RZ_FETCH_TREE_H
#define RZ_FETCH_TREE_H

#include "net/fetch.h"
#include "util/archive_name.h"
#include "util/error.h"

/* Download url and extract it into dest (which must not exist), stripping the single top-level
 * directory: tar formats stream straight into the extractor, zip and 7z go through
 * <tmpdir>/archive.<zip|7z>; RAR is refused (extract.h says why). headers (NULL-terminated
 * lines, or NULL) replace opts' headers. out_sha256 (NULL, or RZ_SHA256_HEX_LEN + 1 bytes)
 * receives the SHA-256 of the archive's bytes, hashed as they stream into the extractor: what an
 * archive source's trust and lock are keyed to. */
int rz_fetch_tree(const char *dest, const char *url, rz_archive_format format,
                  const char *const *headers, const rz_fetch_opts *opts, const char *tmpdir,
                  char *out_sha256, rz_error *err);

#endif
