/* fetch.h - the download engine, on libcurl. Plain C; nothing here knows about Python.
 *
 * One engine (rz_stream, driven with the curl multi interface) serves three callers: whole-file
 * downloads (rz_fetch_to_file, fetch_file.h, which may split a large file over parallel range
 * requests, fetch_parallel.h), pull streams for streaming extraction (rz_stream_*), and small
 * in-memory API calls (rz_http_get).
 *
 * What every request does:
 * - URL rewrite rules (rewrite.h: a site mirror) apply to the first URL and to every redirect
 *   target; the stream follows redirects itself (libcurl does not, so that their targets can be
 *   rewritten): http and https only, at most RZ_FETCH_MAX_REDIRS per attempt. A caller's
 *   credential headers (Authorization, Cookie, X-Api-Key, ...: rz_http_header_is_credential)
 *   go only to requests with the caller's URL's scheme, host and port, rewritten or redirected
 *   ones included (tests/test_download.py checks it on
 *   a real second host, tests/test_cluster_mirror.py on a rewritten one).
 * - TLS verification is always on, against the CA certificates ca_bundle.h finds
 *   (CURLOPT_CAINFO, CURLOPT_CAPATH: $SSL_CERT_FILE and the like, else libcurl's compiled-in
 *   bundle when it exists here, else the system's usual places). Proxies come from the usual
 *   environment variables (http_proxy, https_proxy, no_proxy, ...), which libcurl reads itself.
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

#include <stddef.h>
#include <stdint.h>

#include "net/http_headers.h"
#include "util/error.h"

#define RZ_PACKAGE_VERSION         "0.1.0" /* keep in step with pyproject.toml (a test checks) */
#define RZ_FETCH_MAX_ATTEMPTS      5
#define RZ_FETCH_RETRY_BASE_MS     500   /* first backoff; doubles each attempt */
#define RZ_FETCH_BACKOFF_MAX_MS    30000 /* cap of one backoff */
#define RZ_FETCH_RETRY_AFTER_MAX_S 60    /* cap of a server's Retry-After */
#define RZ_FETCH_CONNECT_TIMEOUT_S 30
#define RZ_FETCH_LOW_SPEED_LIMIT   1024 /* bytes per second ... */
#define RZ_FETCH_LOW_SPEED_TIME_S  60   /* ... for this long: the attempt times out */
#define RZ_FETCH_MAX_REDIRS        10
#define RZ_FETCH_REDIRECT_BODY_MAX (64 * 1024)   /* a longer redirect body fails the download */
#define RZ_FETCH_CURL_BUFFER       (256 * 1024)  /* CURLOPT_BUFFERSIZE */
#define RZ_FETCH_BUFFER_SIZE       (1024 * 1024) /* a stream's buffer */
#define RZ_FETCH_BUFFER_MAX        (16 * 1024 * 1024) /* its hard cap (one libcurl write) */
#define RZ_FETCH_TICK_MS           100
#define RZ_FETCH_MAX_HEADERS       64 /* caller headers per request */

typedef struct rz_fetch_opts {
    const char *const *headers; /* NULL-terminated "Name: value" lines, or NULL */
    /* Called without any lock at least every RZ_FETCH_TICK_MS while blocked: done bytes so
     * far, total -1 if unknown; nonzero = stop (RZ_E_CALLBACK). May be NULL. */
    int (*progress)(int64_t done, int64_t total, void *payload);
    void *payload;
} rz_fetch_opts;

/* 1 if $REMOTEZOO_OFFLINE forbids network access, else 0. */
int rz_fetch_offline(void);

/* 0, or an RZ_E_OFFLINE error naming url (redacted) when rz_fetch_offline(). */
int rz_fetch_check_offline(const char *url, rz_error *err);

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

/* The caller's URL without credentials, for messages (owned by s). */
const char *rz_stream_shown_url(const rz_stream *s);

/* 1 if the last rz_stream_read's bytes restart the resource at byte 0 (a 200 to a resumed
 * request of a stream opened to restart): the reader drops what it got before. */
int rz_stream_restarted(const rz_stream *s);

void rz_stream_close(rz_stream *s); /* NULL ok */

/* A small in-memory GET for API calls (GitHub). Any status is a result (not an error), but
 * connection errors and 5xx are retried first. On success out->body holds body_len bytes plus
 * a NUL (caller frees everything with rz_response_clear), and out->header_values[i] the value
 * of the final response's header wanted_headers[i] (case-insensitive; NULL when absent).
 * wanted_headers is NULL-terminated, at most RZ_HTTP_WANTED_MAX names, or NULL. A body longer
 * than max_bytes is an RZ_E_DOWNLOAD error. */
typedef struct rz_response {
    long status;
    char *body;
    size_t body_len;
    char *header_values[RZ_HTTP_WANTED_MAX];
} rz_response;

int rz_http_get(rz_response *out, const char *url, const rz_fetch_opts *opts,
                const char *const *wanted_headers, size_t max_bytes, rz_error *err);
void rz_response_clear(rz_response *r); /* frees what rz_http_get filled; r itself is kept */

#endif
