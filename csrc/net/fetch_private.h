/* fetch_private.h - what the other downloaders of net/ may do with a stream beyond fetch.h:
 * fetch_file.c opens one that restarts (a file can be truncated and written again), and
 * fetch_parallel.c drives its range requests in the stream's own multi handle. Defined in
 * fetch.c, with libcurl's own types; private to net/. */
#ifndef RZ_FETCH_PRIVATE_H
#define RZ_FETCH_PRIVATE_H

#include <curl/curl.h>
#include <stdint.h>

#include "net/fetch.h"
#include "util/error.h"

/* rz_stream_open for a whole file: a 200 to a resumed request restarts the resource at byte 0
 * (rz_stream_restarted tells the reader, who drops what it wrote) instead of having its
 * delivered bytes skipped; the values of the response headers wanted (NULL-terminated,
 * borrowed, must outlive the stream; or NULL) are kept for rz_stream_view_get. */
int rz_stream_open_file(rz_stream **out, const char *url, const rz_fetch_opts *opts,
                        const char *const *wanted, rz_error *err);

/* What fetch_parallel.c needs to know of a stream's accepted answer. */
typedef struct rz_stream_view {
    CURLM *multi;              /* borrowed: the stream's multi handle */
    const char *shown_url;     /* the caller's URL without credentials */
    const char *validator;     /* strong ETag of the accepted 200, else Last-Modified, or "" */
    int validator_is_etag;     /* 1 if validator is the ETag */
    const char *accept_ranges; /* its Accept-Ranges value, or "" */
    long status;               /* the accepted status, or 0 */
    int64_t total;             /* the resource size, or -1 */
    long max_attempts, retry_base_ms;
    int64_t rtt_ms; /* rz_fetch_rtt_ms of the accepted request */
} rz_stream_view;

void rz_stream_view_get(rz_stream *s, rz_stream_view *out); /* pointers valid while s lives */

/* The caller's headers that go to url: all of them when url has the caller's URL's scheme, host
 * and port, else those without credentials (rz_http_header_is_credential). Borrowed from s. */
const struct curl_slist *rz_stream_headers_for(const rz_stream *s, const char *url);

/* A fresh easy handle (in *out) with the engine's options (TLS, timeouts, protocols, user agent)
 * and s's callbacks, which the caller replaces. Caller frees it with curl_easy_cleanup. */
int rz_stream_new_easy(rz_stream *s, CURL **out, rz_error *err);

/* Replace s's progress hook, and be told (other_done) when an easy handle other than s's own
 * finishes in s's multi handle (the callee removes it). */
typedef void (*rz_stream_done_fn)(CURL *easy, CURLcode result, void *payload);
void rz_stream_hooks(rz_stream *s, int (*progress)(int64_t done, int64_t total, void *payload),
                     rz_stream_done_fn other_done, void *payload);

/* Stop s's transfer where it is: the stream is at its end, its multi handle stays usable. */
void rz_stream_halt(rz_stream *s);

/* An easy handle's round trip as its last transfer saw it, in ms (request sent to first answer
 * byte: the network's round trip plus the server's time), or -1 if unknown. */
int64_t rz_fetch_rtt_ms(CURL *easy);

/* 1 for the libcurl errors worth a retry: connection trouble, broken transfers. */
int rz_fetch_transient_curl_error(CURLcode rc);

/* The backoff before attempt number attempts + 1: retry_base_ms doubling from the second
 * attempt, capped at RZ_FETCH_BACKOFF_MAX_MS. */
long rz_fetch_backoff_ms(long retry_base_ms, int attempts);

#endif
