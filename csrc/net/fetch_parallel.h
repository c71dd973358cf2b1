/* fetch_parallel.h - parallel range downloads, for rz_fetch_to_file (fetch_file.c) only.
 *
 * When the first answer is a 200 with a Content-Length of at least RZ_FETCH_PARALLEL_MIN_BYTES
 * ($REMOTEZOO_PARALLEL_MIN_BYTES), "Accept-Ranges: bytes" and a validator (strong ETag or
 * Last-Modified), rz_fetch_to_file splits the file over $REMOTEZOO_CONNECTIONS connections
 * (default RZ_FETCH_CONNECTIONS, at most RZ_FETCH_CONNECTIONS_MAX; 1 turns this off): the first
 * request keeps streaming the first part, the other parts are "Range: bytes=a-b" requests with
 * "If-Range: <validator>" to the final (post-redirect) URL, each on its own easy handle in the
 * stream's multi handle (fetch_private.h), written with pwrite() at their offsets. The caller's
 * Authorization and Cookie headers go to those requests only if the final URL has the original
 * scheme, host and port. A range answered with anything but the matching 206 (a 200, another
 * Content-Range or validator, a redirect, a 4xx) abandons parallel mode: the file restarts on
 * one connection. A broken range resumes from its last written byte (same retry budget and
 * backoff as one stream). sha256 is fed the contiguous prefix of written bytes, read back from
 * the temp file (the page cache) a few MiB per tick, the rest once all parts are in. Progress is
 * the sum of written bytes. Known cost: while the first connection waits out a retry backoff,
 * the others are not driven either.
 */
#ifndef RZ_FETCH_PARALLEL_H
#define RZ_FETCH_PARALLEL_H

#include <stdint.h>

#include "net/fetch.h"
#include "net/sha256.h"
#include "util/error.h"

#define RZ_FETCH_PARALLEL_MIN_BYTES (64LL * 1024 * 1024)
#define RZ_FETCH_CONNECTIONS        4
#define RZ_FETCH_CONNECTIONS_MAX    16

enum { RZ_PARALLEL_DONE = 0, RZ_PARALLEL_NOT_USED = 1, RZ_PARALLEL_FALLBACK = 2 };

/* After the stream s (of rz_fetch_to_file, opened with the wanted header "Accept-Ranges")
 * accepted its first answer: if parallel mode applies, download the whole resource into fd
 * (the temp file tmp_path, empty), feed hash (may be NULL) every byte in order, set *out_written
 * to the size and return RZ_PARALLEL_DONE (connection #1 of s is then halted). Returns
 * RZ_PARALLEL_NOT_USED with s untouched if it does not apply, RZ_PARALLEL_FALLBACK if it was
 * abandoned (the caller closes s, empties fd and hash, and starts over on one connection), or -1
 * with err set. opts as given to rz_fetch_to_file (may be NULL). Every handle it made is freed
 * on every path. */
int rz_fetch_parallel(rz_stream *s, int fd, const char *tmp_path, rz_sha256 *hash,
                      const rz_fetch_opts *opts, int64_t *out_written, rz_error *err);

#endif
