/* http_headers.h - the small HTTP header parsing the download engine needs: the response
 * header lines libcurl hands to its header callback, Content-Range, Retry-After, and checks of
 * caller-supplied request headers. Plain C; every value is kept in a fixed-size field. */
#ifndef RZ_HTTP_HEADERS_H
#define RZ_HTTP_HEADERS_H

#include <stddef.h>
#include <stdint.h>

#define RZ_HTTP_VALUE_MAX  1024 /* longer response header values are not kept */
#define RZ_HTTP_WANTED_MAX 8    /* response headers a caller may ask for (rz_http_get) */

/* What the engine keeps of one response's headers. A value longer than
 * RZ_HTTP_VALUE_MAX - 1 is not kept (the field stays ""), never truncated. */
typedef struct rz_http_headers {
    char etag[RZ_HTTP_VALUE_MAX];
    char last_modified[RZ_HTTP_VALUE_MAX];
    char content_range[RZ_HTTP_VALUE_MAX];
    char retry_after[RZ_HTTP_VALUE_MAX];
    /* Whether a non-empty Location came (libcurl follows it: its value, which may be a long
     * signed URL, is not needed here, so no length cap applies). */
    unsigned char has_location;
    /* Extra headers a caller wants (borrowed, NULL-terminated, at most RZ_HTTP_WANTED_MAX
     * names; NULL for none), and their values; wanted_seen[i] says whether one came. */
    const char *const *wanted;
    char wanted_values[RZ_HTTP_WANTED_MAX][RZ_HTTP_VALUE_MAX];
    unsigned char wanted_seen[RZ_HTTP_WANTED_MAX];
} rz_http_headers;

typedef enum rz_header_event {
    RZ_HEADERS_FIELD,  /* a header field (kept if it is one we want) or a continuation */
    RZ_HEADERS_STATUS, /* a status line: a new response begins; h was reset */
    RZ_HEADERS_END,    /* the blank line after a response's headers */
} rz_header_event;

/* Forget every value (h->wanted stays). */
void rz_http_headers_reset(rz_http_headers *h);

/* Feed one raw header line (line[0..n), with its CRLF, not NUL-terminated). */
rz_header_event rz_http_headers_feed(rz_http_headers *h, const char *line, size_t n);

/* 1 if a request header line is "Name: value" with a token name and no CR, LF or NUL. */
int rz_http_header_line_ok(const char *line);

/* 1 if a request header line carries a credential: Authorization, Proxy-Authorization, Cookie,
 * or a name with "auth", "cookie", "token", "key", "secret", "password" or "session" in it
 * (X-Api-Key, Private-Token, ...). Those go only to the origin the caller meant, on redirects
 * and rewritten URLs (libcurl itself strips only Authorization and Cookie on redirects). */
int rz_http_header_is_credential(const char *line);

/* 1 for the error statuses worth a retry: 5xx but 501 (Not Implemented) and 505 (HTTP Version
 * Not Supported), which the next attempt would get again, and 429 (Too Many Requests) when
 * retry_429 (an API caller wants to see a 429 itself). The one rule of every request. */
int rz_http_status_retryable(long status, int retry_429);

/* 1 for the statuses libcurl follows when there is a Location (301, 302, 303, 307, 308). */
int rz_http_is_redirect(long status);

/* "bytes FIRST-LAST/SIZE" (SIZE may be "*": *size = -1), or the "bytes * /SIZE" of a 416
 * (without the space; *first = *last = -1). 0, or -1 if malformed. */
int rz_parse_content_range(const char *value, int64_t *first, int64_t *last, int64_t *size);

/* Retry-After as whole seconds from now (delta-seconds or an HTTP date), clamped to
 * [0, cap_s]; 0 when absent or malformed. */
long rz_parse_retry_after(const char *value, long cap_s);

#endif
