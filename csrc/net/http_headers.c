/* http_headers.c - see http_headers.h. */
#include "net/http_headers.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

void rz_http_headers_reset(rz_http_headers *h)
{
    const char *const *wanted = h->wanted;
    memset(h, 0, sizeof(*h));
    h->wanted = wanted;
}

/* Copy value[0..n) into field (size RZ_HTTP_VALUE_MAX) if it fits, else "". */
static void keep(char *field, const char *value, size_t n)
{
    if (n >= RZ_HTTP_VALUE_MAX)
        n = 0;
    memcpy(field, value, n);
    field[n] = '\0';
}

static int name_is(const char *name, size_t len, const char *want)
{
    return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

rz_header_event rz_http_headers_feed(rz_http_headers *h, const char *line, size_t n)
{
    const char *colon, *value, *end = line + n;
    size_t name_len, i;

    while (end > line && (end[-1] == '\n' || end[-1] == '\r'))
        end--;
    if (end == line)
        return RZ_HEADERS_END;
    if (end - line >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        rz_http_headers_reset(h);
        return RZ_HEADERS_STATUS;
    }
    colon = memchr(line, ':', (size_t)(end - line));
    if (!colon || colon == line || line[0] == ' ' || line[0] == '\t')
        return RZ_HEADERS_FIELD; /* folded continuation or junk: ignored */
    name_len = (size_t)(colon - line);
    value = colon + 1;
    while (value < end && (*value == ' ' || *value == '\t'))
        value++;
    while (end > value && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    n = (size_t)(end - value);
    if (name_is(line, name_len, "etag"))
        keep(h->etag, value, n);
    else if (name_is(line, name_len, "last-modified"))
        keep(h->last_modified, value, n);
    else if (name_is(line, name_len, "content-range"))
        keep(h->content_range, value, n);
    else if (name_is(line, name_len, "retry-after"))
        keep(h->retry_after, value, n);
    else if (name_is(line, name_len, "location"))
        h->has_location = n > 0;
    for (i = 0; h->wanted && i < RZ_HTTP_WANTED_MAX && h->wanted[i]; i++)
        if (name_is(line, name_len, h->wanted[i])) {
            keep(h->wanted_values[i], value, n);
            h->wanted_seen[i] = n < RZ_HTTP_VALUE_MAX;
        }
    return RZ_HEADERS_FIELD;
}

int rz_http_header_line_ok(const char *line)
{
    const char *colon = strchr(line, ':');
    const char *p;

    if (!colon || colon == line)
        return 0;
    for (p = line; p < colon; p++)
        if (!strchr("!#$%&'*+-.^_`|~", *p) && !(*p >= '0' && *p <= '9') &&
            !(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z'))
            return 0;
    return strpbrk(colon, "\r\n") == NULL;
}

int rz_http_status_retryable(long status, int retry_429)
{
    return (status >= 500 && status != 501 && status != 505) || (status == 429 && retry_429);
}

int rz_http_is_redirect(long status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* A non-negative decimal at *p; advances *p. 0, or -1. */
static int parse_offset(const char **p, int64_t *out)
{
    char *end = NULL;
    long long x;

    if (**p < '0' || **p > '9')
        return -1;
    errno = 0;
    x = strtoll(*p, &end, 10);
    if (errno || x < 0)
        return -1;
    *p = end;
    *out = (int64_t)x;
    return 0;
}

int rz_parse_content_range(const char *value, int64_t *first, int64_t *last, int64_t *size)
{
    const char *p = value;

    if (strncasecmp(p, "bytes ", 6) != 0)
        return -1;
    p += 6;
    while (*p == ' ')
        p++;
    if (*p == '*') { /* the unsatisfied-range form, answer of a 416 */
        p++;
        *first = *last = -1;
        return *p++ == '/' && parse_offset(&p, size) == 0 && *p == '\0' ? 0 : -1;
    }
    if (parse_offset(&p, first) < 0 || *p++ != '-' || parse_offset(&p, last) < 0 || *p++ != '/' ||
        *last < *first)
        return -1;
    if (strcmp(p, "*") == 0) {
        *size = -1;
        return 0;
    }
    if (parse_offset(&p, size) < 0 || *p != '\0' || *size <= *last)
        return -1;
    return 0;
}

long rz_parse_retry_after(const char *value, long cap_s)
{
    const char *p = value;
    int64_t secs = 0;
    time_t when;

    if (!value[0])
        return 0;
    if (parse_offset(&p, &secs) == 0 && *p == '\0')
        return secs < cap_s ? (long)secs : cap_s;
    when = curl_getdate(value, NULL);
    if (when == (time_t)-1)
        return 0;
    secs = (int64_t)(when - time(NULL));
    return secs <= 0 ? 0 : secs < cap_s ? (long)secs : cap_s;
}

int rz_http_header_is_credential(const char *line)
{
    /* Authorization, Proxy-Authorization, Cookie, and the custom ones by their names:
     * X-Api-Key, Private-Token, X-Auth-Token, X-Amz-Security-Token, ... */
    static const char *const words[] = {"auth",   "cookie",   "token",  "key",
                                        "secret", "password", "session"};
    const char *colon = strchr(line, ':');
    size_t len = colon ? (size_t)(colon - line) : strlen(line);

    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        size_t w = strlen(words[i]);
        for (size_t at = 0; at + w <= len; at++)
            if (strncasecmp(line + at, words[i], w) == 0)
                return 1;
    }
    return 0;
}
