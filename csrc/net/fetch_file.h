/* fetch_file.h - a download to a file, whole and verified or not at all: a reader of the
 * stream engine (fetch.h says what every request does), split over parallel range requests for
 * large files (fetch_parallel.h). Plain C. */
#ifndef RZ_FETCH_FILE_H
#define RZ_FETCH_FILE_H

#include "net/fetch.h"
#include "util/error.h"

/* Download url to path. The bytes go to a temp file beside path (".<name>.part-XXXXXX"),
 * hashed while streaming when sha256_hex (64 hex digits, any case) or out_sha256 (NULL, or
 * RZ_SHA256_HEX_LEN + 1 bytes: receives the file's SHA-256, lowercase, on success) is given,
 * and the temp file is renamed over path only when the transfer is complete and verified
 * against sha256_hex (when given); a final progress
 * call (done == total) comes before the rename. On any failure the temp file is removed and
 * path is left as it was (absent or the previous file). A server that answers 200 to a resumed
 * request, or one without a validator, restarts the file from byte 0. opts may be NULL. */
int rz_fetch_to_file(char *out_sha256, const char *url, const char *path, const char *sha256_hex,
                     const rz_fetch_opts *opts, rz_error *err);

#endif
