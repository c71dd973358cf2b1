/* fetch_parallel.h - parallel range downloads, for rz_fetch_to_file (fetch_file.c) only.
 *
 * When the first answer is a 200 with a Content-Length of at least RZ_FETCH_PARALLEL_MIN_BYTES
 * ($REMOTEZOO_PARALLEL_MIN_BYTES), "Accept-Ranges: bytes" and a validator (strong ETag or
 * Last-Modified), rz_fetch_to_file may fetch the file over several connections, at most
 * $REMOTEZOO_CONNECTIONS (default RZ_FETCH_CONNECTIONS, at most RZ_FETCH_CONNECTIONS_MAX; 1
 * turns this off). The first request keeps streaming from byte 0; the others are
 * "Range: bytes=a-b" requests with "If-Range: <validator>" to the final (post-redirect) URL, on
 * easy handles in the stream's multi handle (fetch_private.h), written with pwrite() at their
 * offsets. The caller's credential headers (rz_http_header_is_credential) go to them only if the
 * final URL has the original scheme, host and port.
 *
 * How many connections (adaptive): a file of RZ_FETCH_PARALLEL_EARLY (x the minimum) or more
 * starts RZ_FETCH_CONNECTIONS_START ranges as soon as its size is known; a smaller one stays on
 * its one connection unless that connection's rate says the rest would take longer than a few
 * round trips (RZ_FETCH_GROW_MIN_LEFT_MS). Then the count doubles every step (a few round
 * trips) while the aggregate throughput still grows by RZ_FETCH_GROW_GAIN percent, and settles
 * at the count that carries what was measured when it does not. A 429 or 503 to a range while
 * other connections are receiving means the server allows no more: the count drops to the
 * connections that work, the refused range goes to them, and one more is tried only after a
 * hold (doubling from RZ_FETCH_REFUSAL_HOLD_MS, at least the Retry-After). A refused or broken
 * range on the last connection is retried like one stream (backoff, attempts).
 *
 * Which bytes: ranges are handed out front to back as connections ask for work, each a share of
 * what is left (RZ_FETCH_CHUNK_MIN at least), so parts get smaller towards the end; a connection
 * that is done asks for the next range on the same handle (libcurl keeps the connection). When
 * nothing is left to hand out, an idle connection takes the back of the largest range still
 * being received, split so that both should end together (work stealing); the connection that
 * loses the back stops at its new end. A range answered with anything but the matching 206 (a
 * 200, another Content-Range or validator, a redirect, a 4xx) abandons parallel mode: the file
 * restarts on one connection. sha256 is fed the contiguous prefix of written bytes (from memory
 * when a write extends it, else read back from the page cache), the rest once all ranges are
 * in. Progress is the sum of written bytes. Known cost: while the first connection waits out a
 * retry backoff, the others are not driven either.
 */
#ifndef RZ_FETCH_PARALLEL_H
#define RZ_FETCH_PARALLEL_H

#include <stdint.h>

#include "net/fetch.h"
#include "net/sha256.h"
#include "util/error.h"
#include "util/writeback.h"

#define RZ_FETCH_PARALLEL_MIN_BYTES (8LL * 1024 * 1024)
#define RZ_FETCH_PARALLEL_EARLY     8 /* x the minimum (64 MiB by default): start at once */
#define RZ_FETCH_CONNECTIONS        16
#define RZ_FETCH_CONNECTIONS_MAX    32
#define RZ_FETCH_CONNECTIONS_START  4
#define RZ_FETCH_CHUNK_MIN          (2 * 1024 * 1024)
#define RZ_FETCH_GROW_MIN_LEFT_MS   300
#define RZ_FETCH_GROW_GAIN          10
#define RZ_FETCH_STEP_MIN_MS        250
#define RZ_FETCH_REFUSAL_HOLD_MS    1000

enum { RZ_PARALLEL_DONE = 0, RZ_PARALLEL_NOT_USED = 1, RZ_PARALLEL_FALLBACK = 2 };

/* After the stream s (of rz_fetch_to_file, opened with the wanted header "Accept-Ranges")
 * accepted its first answer: if parallel mode applies, download the whole resource into wb's
 * file (the temp file tmp_path, empty), feed hash (may be NULL) every byte in order, set
 * *out_written to the size and return RZ_PARALLEL_DONE (connection #1 of s is then halted).
 * Returns RZ_PARALLEL_NOT_USED with s untouched if it does not apply, RZ_PARALLEL_FALLBACK if it
 * was abandoned (the caller closes s, empties the file and hash, and starts over on one
 * connection), or -1 with err set. opts as given to rz_fetch_to_file (may be NULL). Every
 * handle it made is freed on every path. */
int rz_fetch_parallel(rz_stream *s, rz_writeback *wb, const char *tmp_path, rz_sha256 *hash,
                      const rz_fetch_opts *opts, int64_t *out_written, rz_error *err);

#endif
