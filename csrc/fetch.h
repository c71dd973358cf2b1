/* fetch.h - the download engine, on libcurl. Plain C; nothing here knows about Python.
 *
 * One engine (rz_stream, driven with the curl multi interface) serves three callers: whole-file
 * downloads (rz_fetch_to_file), pull streams for streaming extraction (rz_stream_*), and small
 * in-memory API calls (rz_http_get).
 *
 * What every request does:
 * - http and https only, for the first URL and for redirects; at most RZ_FETCH_MAX_REDIRS
 *   redirects, followed by libcurl. A caller's "Authorization:" header goes to the original
 *   scheme+host+port only: libcurl (>= 7.83, documented for the 7.88 we build on) drops custom
 *   Authorization headers on a redirect to another host unless CURLOPT_UNRESTRICTED_AUTH is
 *   set, which we never do (tests/test_download.py checks it on a real second host).
 * - TLS verification is always on. The CA bundle is the first non-empty of $SSL_CERT_FILE,
 *   $CURL_CA_BUNDLE, $REQUESTS_CA_BUNDLE (CURLOPT_CAINFO), plus $SSL_CERT_DIR (CURLOPT_CAPATH);
 *   otherwise libcurl's built-in default. Proxies come from the usual environment variables
 *   (http_proxy, https_proxy, no_proxy, ...), which libcurl reads itself.
 * - The HTTP status is checked when the response headers are in, before a body byte reaches
 *   the caller. Retries (at most RZ_FETCH_MAX_ATTEMPTS attempts, exponential backoff from
 *   RZ_FETCH_RETRY_BASE_MS) on connection errors, broken transfers, timeouts, 5xx (not 501/505)
 *   and 429, honouring Retry-After (seconds or an HTTP date, capped at
 *   RZ_FETCH_RETRY_AFTER_MAX_S). A broken transfer resumes with "Range: bytes=N-" and
 *   "If-Range: <strong ETag or Last-Modified>" when the server sent one.
 * - Completeness: the resource's size is what the server announced first (a 200's
 *   Content-Length, or the complete-length of a 206's Content-Range); a transfer is complete
 *   only when it holds exactly that many bytes. Every 206 must have a parseable Content-Range
 *   that starts at the offset asked for (byte 0 when no Range was sent: an unsolicited 206 is
 *   used as the first part of the file), a Content-Length equal to its range, the same size
 *   and validator as before, and no byte past its range. A clean end short of the size (a
 *   short 206, a body without Content-Length cut early) is resumed like a broken transfer,
 *   within the same attempts, and is an RZ_E_DOWNLOAD error ("ended at byte N of M") when
 *   they run out; an answer that contradicts an earlier one is an RZ_E_DOWNLOAD error at once.
 * - The progress hook (opts->progress) is called at least every RZ_FETCH_TICK_MS while a call
 *   blocks (during transfers and backoff sleeps); a nonzero return stops everything with
 *   RZ_E_CALLBACK. This is the way to cancel (the Python glue checks for signals there).
 * - $REMOTEZOO_OFFLINE set to anything but "" or "0": RZ_E_OFFLINE before any network access.
 *
 * Environment overrides of the defaults below (invalid values are ignored):
 *   REMOTEZOO_MAX_ATTEMPTS (1..20), REMOTEZOO_RETRY_BASE_MS (0..60000),
 *   REMOTEZOO_CONNECT_TIMEOUT (seconds, 1..3600), REMOTEZOO_LOW_SPEED_TIME (seconds, 1..3600),
 *   REMOTEZOO_LOW_SPEED_LIMIT (bytes per second, 1..2^30).
 *
 * Errors: RZ_E_DOWNLOAD (libcurl's message), RZ_E_HTTP_STATUS (http_status set; 429 is
 * RZ_E_RATE_LIMIT), RZ_E_CHECKSUM, RZ_E_OFFLINE, RZ_E_OS (the temp file), RZ_E_INVALID (bad
 * arguments), RZ_E_CALLBACK; err->url is always the URL without credentials.
 */
#ifndef RZ_FETCH_H
#define RZ_FETCH_H

#include "error.h"

#include <stddef.h>
#include <stdint.h>

#define RZ_PACKAGE_VERSION         "0.1.0" /* keep in step with pyproject.toml (a test checks) */
#define RZ_FETCH_MAX_ATTEMPTS      5
#define RZ_FETCH_RETRY_BASE_MS     500   /* first backoff; doubles each attempt */
#define RZ_FETCH_BACKOFF_MAX_MS    30000 /* cap of one backoff */
#define RZ_FETCH_RETRY_AFTER_MAX_S 60    /* cap of a server's Retry-After */
#define RZ_FETCH_CONNECT_TIMEOUT_S 30
#define RZ_FETCH_LOW_SPEED_LIMIT   1024 /* bytes per second ... */
#define RZ_FETCH_LOW_SPEED_TIME_S  60   /* ... for this long: the attempt times out */
#define RZ_FETCH_MAX_REDIRS        10
#define RZ_FETCH_CURL_BUFFER       (256 * 1024)       /* CURLOPT_BUFFERSIZE */
#define RZ_FETCH_BUFFER_SIZE       (1024 * 1024)      /* a stream's buffer */
#define RZ_FETCH_BUFFER_MAX        (16 * 1024 * 1024) /* its hard cap (one libcurl write) */
#define RZ_FETCH_TICK_MS           100
#define RZ_FETCH_HEADER_VALUE_MAX  1024 /* longer response header values are not kept */
#define RZ_FETCH_MAX_HEADERS       64   /* caller headers per request */
#define RZ_FETCH_WANTED_MAX        8    /* rz_http_get: response headers a caller may ask for */

typedef struct rz_fetch_opts {
    const char *const *headers; /* NULL-terminated "Name: value" lines, or NULL */
    /* Called without any lock at least every RZ_FETCH_TICK_MS while blocked: done bytes so
     * far, total -1 if unknown; nonzero = stop (RZ_E_CALLBACK). May be NULL. */
    int (*progress)(int64_t done, int64_t total, void *payload);
    void *payload;
} rz_fetch_opts;

/* 1 if $REMOTEZOO_OFFLINE forbids network access, else 0. */
int rz_fetch_offline(void);

/* Download url to path. The bytes go to a temp file beside path (".<name>.part-XXXXXX"),
 * hashed while streaming when sha256_hex (64 hex digits, any case) is given, and the temp
 * file is renamed over path only when the transfer is complete and verified; a final progress
 * call (done == total) comes before the rename. On any failure the temp file is removed and
 * path is left as it was (absent or the previous file). A server that answers 200 to a resumed
 * request, or one without a validator, restarts the file from byte 0. opts may be NULL. */
int rz_fetch_to_file(const char *url, const char *path, const char *sha256_hex,
                     const rz_fetch_opts *opts, rz_error *err);

/* A pull stream, for streaming extraction. Retries and resume are transparent to the reader:
 * a resumed request must continue at the offset (206) with the same validator; a 200 with the
 * same validator has its already-delivered bytes skipped; changed content, or a break on a
 * server without a validator after bytes were delivered, is an RZ_E_DOWNLOAD error. */
typedef struct rz_stream rz_stream;

/* Perform the request up to the response headers and check the status (error statuses are
 * HTTPStatusError after retries). On success *out is the stream: close it with
 * rz_stream_close. opts is copied (its headers too); payload must outlive the stream. */
int rz_stream_open(rz_stream **out, const char *url, const rz_fetch_opts *opts, rz_error *err);

/* The next bytes: *out_data and *out_len point into the stream's buffer, valid until the next call
 * on s; *out_len == 0 means the end (the transfer completed). */
int rz_stream_read(rz_stream *s, const void **out_data, size_t *out_len, rz_error *err);

/* The status of the accepted response (200 or 206), or 0 before one. */
long rz_stream_status(const rz_stream *s);

/* The URL of the last response after redirects (owned by s, valid until the next call on s).
 * It may carry credentials or signed query values: redact it before showing it. */
const char *rz_stream_effective_url(const rz_stream *s);

/* The resource's size if known, else -1. */
int64_t rz_stream_total(const rz_stream *s);

void rz_stream_close(rz_stream *s); /* NULL ok */

/* A small in-memory GET for API calls (GitHub). Any status is a result (not an error), but
 * connection errors and 5xx are retried first. On success out->body holds body_len bytes plus
 * a NUL (caller frees everything with rz_response_clear), and out->header_values[i] the value
 * of the final response's header wanted_headers[i] (case-insensitive; NULL when absent).
 * wanted_headers is NULL-terminated, at most RZ_FETCH_WANTED_MAX names, or NULL. A body longer
 * than max_bytes is an RZ_E_DOWNLOAD error. */
typedef struct rz_response {
    long status;
    char *body;
    size_t body_len;
    char *header_values[RZ_FETCH_WANTED_MAX];
} rz_response;

int rz_http_get(rz_response *out, const char *url, const rz_fetch_opts *opts,
                const char *const *wanted_headers, size_t max_bytes, rz_error *err);
void rz_response_clear(rz_response *r); /* frees what rz_http_get filled; r itself is kept */

/* ---- Parallel range downloads (fetch_parallel.c), used by rz_fetch_to_file only ----------
 *
 * When the first answer is a 200 with a Content-Length of at least RZ_FETCH_PARALLEL_MIN_BYTES
 * ($REMOTEZOO_PARALLEL_MIN_BYTES), "Accept-Ranges: bytes" and a validator (strong ETag or
 * Last-Modified), rz_fetch_to_file may fetch the file over several connections, at most
 * $REMOTEZOO_CONNECTIONS (default RZ_FETCH_CONNECTIONS, at most RZ_FETCH_CONNECTIONS_MAX; 1
 * turns this off). The first request keeps streaming from byte 0; the others are
 * "Range: bytes=a-b" requests with "If-Range: <validator>" to the final (post-redirect) URL, on
 * easy handles in the stream's multi handle, written with pwrite() at their offsets. The
 * caller's Authorization and Cookie headers go to them only if the final URL has the original
 * scheme, host and port.
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
 * retry backoff, the others are not driven either. */
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
#include "fsutil.h"
#include "sha256.h"
int rz_fetch_parallel(rz_stream *s, rz_writeback *wb, const char *tmp_path, rz_sha256 *hash,
                      const rz_fetch_opts *opts, int64_t *out_written, rz_error *err);

/* Internal hooks of the stream for fetch_parallel.c only. */
typedef struct rz_stream_view {
    void *multi;               /* CURLM *, borrowed: the stream's multi handle */
    const void *headers;       /* const struct curl_slist *: the caller's headers, borrowed */
    const char *url;           /* the caller's URL (may carry credentials), borrowed */
    const char *shown_url;     /* ... without credentials */
    const char *validator;     /* strong ETag of the accepted 200, else Last-Modified, or "" */
    int validator_is_etag;     /* 1 if validator is the ETag */
    const char *accept_ranges; /* its Accept-Ranges value, or "" */
    long status;               /* the accepted status, or 0 */
    int64_t total;             /* the resource size, or -1 */
    long max_attempts, retry_base_ms;
    int64_t rtt_ms; /* rz_fetch_rtt_ms of the accepted request */
} rz_stream_view;

void rz_stream_view_get(rz_stream *s, rz_stream_view *out); /* pointers valid while s lives */

/* A fresh CURL * (in *out) with the engine's options (TLS, timeouts, protocols, user agent)
 * and s's callbacks, which the caller replaces. Caller frees it with curl_easy_cleanup. */
int rz_stream_new_easy(rz_stream *s, void **out, rz_error *err);

/* Replace s's progress hook, and be told (other_done) when an easy handle other than s's own
 * finishes in s's multi handle (result is its CURLcode; the callee removes it). */
void rz_stream_hooks(rz_stream *s, int (*progress)(int64_t done, int64_t total, void *payload),
                     void (*other_done)(void *easy, int result, void *payload), void *payload);

/* 1 if the last rz_stream_read's bytes restart the resource at 0 (a 200 to a resume). */
int rz_stream_restarted(const rz_stream *s);

/* Stop s's transfer where it is: the stream is at its end, its multi handle stays usable. */
void rz_stream_halt(rz_stream *s);

/* An easy handle's round trip as its last transfer saw it, in ms (request sent to first answer
 * byte: the network's round trip plus the server's time), or -1 if unknown. */
int64_t rz_fetch_rtt_ms(void *easy);

/* 1 for the libcurl errors (CURLcode) worth a retry: connection trouble, broken transfers. */
int rz_fetch_transient_curl_error(int rc);

#endif
