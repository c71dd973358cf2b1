/* fetch.c - see fetch.h. One engine: a stream driven with the curl multi interface from inside
 * its read call. rz_fetch_to_file and rz_http_get are readers of that stream. */
#include "net/fetch.h"

#include <assert.h>
#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/ca_bundle.h"
#include "net/fetch_private.h"
#include "net/http_headers.h"
#include "net/rewrite.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/env.h"

/* What a 200 answer to a resumed request means for the bytes already delivered. */
typedef enum restart_mode {
    RESTART_TRUNCATE, /* the reader starts over (s->restarted tells it) */
    RESTART_SKIP,     /* same validator: skip what was delivered; else the content changed */
} restart_mode;

typedef struct fetch_config {
    long max_attempts, retry_base_ms, connect_timeout_s, low_speed_time_s, low_speed_limit;
} fetch_config;

struct rz_stream {
    CURLM *multi;
    CURL *easy;
    char *url;                          /* the first URL asked: the caller's, rewritten; owned */
    char *auth_url;                     /* the caller's URL, where its credentials may go; owned */
    char shown_url[RZ_ERR_URL_MAX];     /* url without credentials, for messages */
    struct curl_slist *headers;         /* the caller's headers; owned */
    struct curl_slist *bare_headers;    /* ... without credentials (http_headers.h); owned */
    struct curl_slist *attempt_headers; /* the request's headers, with If-Range; owned */
    int (*progress)(int64_t done, int64_t total, void *payload);
    void *payload;
    /* fetch_parallel.c: told when another easy handle in multi is done (see rz_stream_hooks). */
    rz_stream_done_fn other_done;
    void *other_payload;
    fetch_config cfg;
    restart_mode restart;
    int accept_any_status; /* rz_http_get: any final status is a result */
    int retry_429;

    unsigned char *buf; /* bytes for the reader: buf[0..len); capacity cap */
    size_t len, cap;
    size_t handed;      /* buf[0..handed) was returned by the last rz_stream_read */
    int paused;         /* the write callback paused the transfer (buffer full) */
    int64_t received;   /* resource offset just past the bytes accepted so far */
    int64_t asked_from; /* the offset this attempt asked for ("Range: bytes=N-"), or 0 */
    int64_t net_offset; /* resource offset of the next byte the current response delivers */
    int64_t part_end;   /* ... and just past the last one it may deliver, -1 unknown */
    int64_t total;      /* resource size the server announced, -1 unknown */
    int restarted;      /* RESTART_TRUNCATE: the reader must drop what it got before */
    int eof;

    int attempt;          /* attempts started */
    int in_flight;        /* easy is in multi */
    int redirecting;      /* the answer coming in is a redirect this stream follows */
    size_t redirect_body; /* bytes of its body, dropped; more than RZ_FETCH_REDIRECT_BODY_MAX
                             end the attempt (a body that never ends) */
    int hops;             /* redirects followed in this attempt */
    int resume;           /* this attempt asks "Range: bytes=<received>-" with If-Range */
    long retry_wait_ms;
    int checked;     /* check_response ran for this attempt */
    int accepted;    /* ... and accepted the answer */
    int rejected;    /* ... and stopped an error status (retry or fail) */
    int discard;     /* ... and its body is to be ignored (a 416 that confirms the end) */
    long status;     /* status of the checked answer */
    rz_error cb_err; /* a fatal error found inside a libcurl callback */
    char errbuf[CURL_ERROR_SIZE];
    int64_t last_tick_ms;

    rz_http_headers cur;          /* headers of the response being received */
    char etag[RZ_HTTP_VALUE_MAX]; /* validators of the accepted full response */
    char lastmod[RZ_HTTP_VALUE_MAX];
};

int rz_fetch_offline(void)
{
    return rz_env_flag("REMOTEZOO_OFFLINE");
}

static void read_config(fetch_config *c)
{
    c->max_attempts = rz_env_ll("REMOTEZOO_MAX_ATTEMPTS", RZ_FETCH_MAX_ATTEMPTS, 1, 20);
    c->retry_base_ms = rz_env_ll("REMOTEZOO_RETRY_BASE_MS", RZ_FETCH_RETRY_BASE_MS, 0, 60000);
    c->connect_timeout_s =
        rz_env_ll("REMOTEZOO_CONNECT_TIMEOUT", RZ_FETCH_CONNECT_TIMEOUT_S, 1, 3600);
    c->low_speed_time_s = rz_env_ll("REMOTEZOO_LOW_SPEED_TIME", RZ_FETCH_LOW_SPEED_TIME_S, 1, 3600);
    c->low_speed_limit =
        rz_env_ll("REMOTEZOO_LOW_SPEED_LIMIT", RZ_FETCH_LOW_SPEED_LIMIT, 1, 1L << 30);
}

/* Call the progress hook if RZ_FETCH_TICK_MS passed since the last call (or force). */
static int tick(rz_stream *s, int force, rz_error *err)
{
    int64_t now = rz_now_ms();

    if (!s->progress || (!force && now - s->last_tick_ms < RZ_FETCH_TICK_MS))
        return 0;
    s->last_tick_ms = now;
    if (s->progress(s->received, s->total, s->payload) != 0)
        return rz_error_set(err, RZ_E_CALLBACK, "download of %s was stopped", s->shown_url);
    return 0;
}

/* Sleep ms milliseconds in ticks, so the hook can cancel. */
static int sleep_ticking(rz_stream *s, long ms, rz_error *err)
{
    int64_t end = rz_now_ms() + ms, left;

    while ((left = end - rz_now_ms()) > 0) {
        struct timespec ts;
        if (left > RZ_FETCH_TICK_MS)
            left = RZ_FETCH_TICK_MS;
        ts.tv_sec = 0;
        ts.tv_nsec = (long)left * 1000000L;
        nanosleep(&ts, NULL); /* EINTR just ends this slice early */
        if (tick(s, 1, err) < 0)
            return -1;
    }
    return 0;
}

static int same_validator(const rz_stream *s)
{
    if (s->etag[0])
        return strcmp(s->etag, s->cur.etag) == 0;
    return s->lastmod[0] && strcmp(s->lastmod, s->cur.last_modified) == 0;
}

/* A fatal problem with the answer being checked: it goes to s->cb_err ("<url> <detail>; try
 * again"), and the transfer stops. Returns nothing, so check_response can "return refuse(...)". */
static void refuse(rz_stream *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void refuse(rz_stream *s, const char *fmt, ...)
{
    char detail[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    rz_error_set(&s->cb_err, RZ_E_DOWNLOAD, "%s %s; try again", s->shown_url, detail);
}

/* Decide about the final response of this attempt, once its headers are in: accept it (set
 * total, offsets, validators) or reject its status. Fatal problems go to s->cb_err.
 *
 * The rule every download obeys: the resource's size is what the server announced (the
 * Content-Length of a 200, the complete-length of a 206's Content-Range), every later answer
 * must announce the same size and validator, every 206 must start at the byte asked for (or at
 * 0, when nothing was asked) and its Content-Length must match its range, and the transfer is
 * complete only when it holds exactly that size (finish_attempt). */
static void check_response(rz_stream *s)
{
    long status = 0;
    curl_off_t length = -1;
    int64_t first = 0, last = -1, size = -1;
    int fresh; /* the answer starts the resource over (from byte 0) */

    s->checked = 1;
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(s->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
    s->status = status;
    if (status == 416 && s->received > 0 &&
        rz_parse_content_range(s->cur.content_range, &first, &last, &size) == 0 && first < 0 &&
        size == s->received) {
        if (s->total >= 0 && s->total != size) {
            refuse(s, "changed size during the download (%lld bytes, then %lld)",
                   (long long)s->total, (long long)size);
            return;
        }
        /* The break came after the last byte: the server confirms the size we have. */
        s->status = 206;
        s->total = size;
        s->discard = s->accepted = 1;
        return;
    }
    if (status < 200 || status >= 300) {
        int retryable = rz_http_status_retryable(status, s->retry_429);
        if (!s->accept_any_status || (retryable && s->attempt < s->cfg.max_attempts)) {
            s->rejected = 1;
            return;
        }
    }
    if (status == 206) {
        if (rz_parse_content_range(s->cur.content_range, &first, &last, &size) < 0 || first < 0) {
            refuse(s, "answered 206 (partial content) without a usable Content-Range");
            return;
        }
        if (first != s->asked_from) {
            refuse(s, "sent bytes from %lld when asked for bytes from %lld", (long long)first,
                   (long long)s->asked_from);
            return;
        }
        if (length >= 0 && length != last - first + 1) {
            refuse(s, "sent a range of %lld bytes with a Content-Length of %lld",
                   (long long)(last - first + 1), (long long)length);
            return;
        }
        if (size < 0 && s->total < 0) {
            refuse(s, "sent part of the file without saying its size (bytes %lld-%lld/*)",
                   (long long)first, (long long)last);
            return;
        }
        if (size < 0)
            size = s->total; /* an unknown complete-length ("*"), continuing a known size */
        s->part_end = last + 1;
    } else {
        size = length >= 0 ? (int64_t)length : -1; /* a whole body, from byte 0 */
        s->part_end = size;
    }
    fresh = first == 0;
    if (fresh && s->received > 0) {
        /* A 200 to a resumed request (or a 206 from 0 when nothing was asked). */
        if (s->restart == RESTART_SKIP &&
            (!same_validator(s) || (s->total >= 0 && size >= 0 && size != s->total))) {
            refuse(s, "changed during the download");
            return;
        }
        if (s->restart == RESTART_TRUNCATE) {
            s->restarted = 1;
            s->received = 0;
        }
    }
    if (fresh && s->received == 0) {
        /* Its size and validators are the resource's from now on. If-Range needs a strong
         * validator; a weak ETag is not one. */
        s->total = size;
        snprintf(s->etag, sizeof(s->etag), "%s", strncmp(s->cur.etag, "W/", 2) ? s->cur.etag : "");
        snprintf(s->lastmod, sizeof(s->lastmod), "%s", s->cur.last_modified);
    } else {
        /* The rest of the resource: the same size and the same validator. */
        if ((s->etag[0] || s->lastmod[0]) && (s->cur.etag[0] || s->cur.last_modified[0]) &&
            !same_validator(s)) {
            refuse(s, "changed during the download");
            return;
        }
        if (s->total >= 0 && size != s->total) {
            refuse(s, "changed size during the download (%lld bytes, then %lld)",
                   (long long)s->total, (long long)size);
            return;
        }
        s->total = size;
    }
    if (s->total >= 0 && s->part_end > s->total) {
        refuse(s, "sent a range past the end of the file (%lld of %lld bytes)",
               (long long)s->part_end, (long long)s->total);
        return;
    }
    s->net_offset = first;
    s->accepted = 1;
}

static size_t on_header(char *line, size_t size, size_t nitems, void *payload)
{
    rz_stream *s = payload;
    size_t n = size * nitems;
    long status = 0;

    switch (rz_http_headers_feed(&s->cur, line, n)) {
    case RZ_HEADERS_END:
        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
        /* 1xx, and redirects (followed in finish_attempt), are not the final answer. */
        if (status < 200)
            break;
        if (rz_http_is_redirect(status) && s->cur.has_location) {
            s->redirecting = 1;
            break;
        }
        if (!s->checked)
            check_response(s);
        if (s->rejected || s->cb_err.kind != RZ_E_NONE)
            return 0; /* stop before any byte of the body */
        break;
    default:
        break;
    }
    return n;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *payload)
{
    rz_stream *s = payload;
    size_t n = size * nmemb, skip = 0;

    if (s->redirecting) { /* a redirect's body: dropped */
        s->redirect_body += n;
        return s->redirect_body > RZ_FETCH_REDIRECT_BODY_MAX ? 0 : n;
    }
    if (!s->checked)
        check_response(s);
    if (!s->accepted)
        return 0; /* CURLE_WRITE_ERROR; finish_attempt knows why */
    if (s->discard)
        return n;
    if (s->part_end >= 0 && (int64_t)n > s->part_end - s->net_offset) {
        refuse(s, "sent more bytes than it announced (%lld)", (long long)s->part_end);
        return 0;
    }
    if (s->net_offset < s->received) {
        int64_t behind = s->received - s->net_offset;
        skip = (int64_t)n < behind ? n : (size_t)behind;
    }
    if (n - skip > s->cap - s->len) {
        if (s->len > 0) {
            s->paused = 1; /* libcurl keeps the data and delivers it again on unpause */
            return CURL_WRITEFUNC_PAUSE;
        }
        if (n - skip > RZ_FETCH_BUFFER_MAX) {
            rz_error_set(&s->cb_err, RZ_E_DOWNLOAD, "%s: libcurl delivered an oversized block",
                         s->shown_url);
            return 0;
        }
        unsigned char *bigger = realloc(s->buf, n - skip);
        if (!bigger) {
            rz_error_set(&s->cb_err, RZ_E_NOMEM, "out of memory downloading %s", s->shown_url);
            return 0;
        }
        s->buf = bigger;
        s->cap = n - skip;
    }
    memcpy(s->buf + s->len, data + skip, n - skip);
    s->len += n - skip;
    s->net_offset += (int64_t)n;
    s->received += (int64_t)(n - skip);
    return n;
}

static int setup_easy(rz_stream *s, CURL *e, rz_error *err)
{
    const curl_version_info_data *info = curl_version_info(CURLVERSION_NOW);
    rz_ca_locations ca;
    char agent[128];
    int bad = 0;

    if (rz_ca_locations_for(&ca, s->url, err) < 0)
        return -1;
    snprintf(agent, sizeof(agent), "remotezoo/%s libcurl/%s", RZ_PACKAGE_VERSION, info->version);
    bad |= curl_easy_setopt(e, CURLOPT_URL, s->url) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK;
    /* Redirects are followed by finish_attempt, which rewrites their targets (rewrite.h). */
    bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->errbuf) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, agent) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, s->cfg.connect_timeout_s) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, s->cfg.low_speed_limit) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, s->cfg.low_speed_time_s) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_BUFFERSIZE, (long)RZ_FETCH_CURL_BUFFER) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, s) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, s) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_CAINFO, ca.file) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_CAPATH, ca.dir) != CURLE_OK;
    if (bad)
        return rz_error_set(err, RZ_E_DOWNLOAD,
                            "libcurl %s lacks a feature remotezoo needs (http/https, TLS)",
                            info->version);
    return 0;
}

/* Ask url (the first one of the attempt or a redirect's target): the caller's headers (without
 * its credentials when url is not where they were meant to go) and, when resuming, If-Range
 * (CURLOPT_RANGE, set by start_attempt, holds across redirects). */
static int start_request(rz_stream *s, const char *url, rz_error *err)
{
    const char *validator = s->etag[0] ? s->etag : s->lastmod;
    char if_range[RZ_HTTP_VALUE_MAX + 16];
    struct curl_slist *list = NULL;
    const struct curl_slist *item, *base = rz_stream_headers_for(s, url);

    curl_slist_free_all(s->attempt_headers);
    s->attempt_headers = NULL;
    rz_http_headers_reset(&s->cur);
    s->checked = s->accepted = s->rejected = s->discard = s->redirecting = 0;
    s->redirect_body = 0;
    s->status = 0;
    s->errbuf[0] = '\0';
    s->paused = 0;
    for (item = base; item; item = item->next)
        if (!(list = curl_slist_append(list, item->data)))
            goto nomem;
    if (s->resume) {
        snprintf(if_range, sizeof(if_range), "If-Range: %s", validator);
        if (!(list = curl_slist_append(list, if_range)))
            goto nomem;
    }
    s->attempt_headers = list;
    if (curl_easy_setopt(s->easy, CURLOPT_URL, url) != CURLE_OK ||
        curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, list) != CURLE_OK)
        return rz_error_set(err, RZ_E_NOMEM, "out of memory requesting %s", s->shown_url);
    if (curl_multi_add_handle(s->multi, s->easy) != CURLM_OK)
        return rz_error_set(err, RZ_E_DOWNLOAD, "libcurl cannot start the request for %s",
                            s->shown_url);
    s->in_flight = 1;
    return 0;
nomem:
    curl_slist_free_all(list);
    return rz_error_set(err, RZ_E_NOMEM, "out of memory requesting %s", s->shown_url);
}

static int start_attempt(rz_stream *s, rz_error *err)
{
    const char *validator = s->etag[0] ? s->etag : s->lastmod;
    char range[64];

    s->resume = s->received > 0 && validator[0];
    s->asked_from = s->resume ? s->received : 0;
    s->hops = 0;
    snprintf(range, sizeof(range), "%lld-", (long long)s->received);
    if (curl_easy_setopt(s->easy, CURLOPT_RANGE, s->resume ? range : NULL) != CURLE_OK)
        return rz_error_set(err, RZ_E_NOMEM, "out of memory requesting %s", s->shown_url);
    if (start_request(s, s->url, err) < 0)
        return -1;
    s->attempt++;
    return 0;
}

/* The answer was a redirect: ask its target, rewritten (rewrite.h), within the same attempt. */
static int follow_redirect(rz_stream *s, rz_error *err)
{
    char *target = NULL, *rewritten = NULL, shown[RZ_ERR_URL_MAX];
    long status = 0;
    int rc;

    curl_easy_getinfo(s->easy, CURLINFO_REDIRECT_URL, &target); /* owned by easy */
    if (!target) {
        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
        return rz_error_set(err, RZ_E_DOWNLOAD, "%s answered HTTP %ld with an unusable Location",
                            s->shown_url, status);
    }
    if (++s->hops > RZ_FETCH_MAX_REDIRS)
        return rz_error_set(err, RZ_E_DOWNLOAD, "download of %s failed: more than %d redirects",
                            s->shown_url, RZ_FETCH_MAX_REDIRS);
    if (rz_url_rewrite(&rewritten, target, err) < 0)
        return -1;
    if (rewritten)
        target = rewritten;
    if (strncasecmp(target, "http://", 7) != 0 && strncasecmp(target, "https://", 8) != 0) {
        rz_redact_url(shown, sizeof(shown), target);
        free(rewritten);
        return rz_error_set(err, RZ_E_DOWNLOAD,
                            "download of %s failed: redirected to %s, which is not http(s)",
                            s->shown_url, shown);
    }
    rc = start_request(s, target, err); /* copies target before easy forgets it */
    free(rewritten);
    return rc;
}

int rz_fetch_transient_curl_error(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return 1;
    default:
        return 0;
    }
}

long rz_fetch_backoff_ms(long retry_base_ms, int attempts)
{
    long ms = retry_base_ms;

    for (int i = 1; i < attempts && ms < RZ_FETCH_BACKOFF_MAX_MS; i++)
        ms *= 2;
    return ms < RZ_FETCH_BACKOFF_MAX_MS ? ms : RZ_FETCH_BACKOFF_MAX_MS;
}

/* The attempt ended with rc. 0: the transfer is complete (s->eof) or a retry is scheduled
 * (!s->in_flight, s->retry_wait_ms); -1: failed for good. */
static int finish_attempt(rz_stream *s, CURLcode rc, rz_error *err)
{
    const char *why = s->errbuf[0] ? s->errbuf : curl_easy_strerror(rc);
    int last = s->attempt >= s->cfg.max_attempts;

    curl_multi_remove_handle(s->multi, s->easy);
    s->in_flight = 0;
    if (s->redirecting && rc == CURLE_OK && s->cb_err.kind == RZ_E_NONE)
        return follow_redirect(s, err);
    if (s->redirecting && s->redirect_body > RZ_FETCH_REDIRECT_BODY_MAX)
        return rz_error_set(err, RZ_E_DOWNLOAD,
                            "download of %s failed: a redirect with a body of more than %d bytes",
                            s->shown_url, RZ_FETCH_REDIRECT_BODY_MAX);
    if (s->cb_err.kind == RZ_E_NONE && rc == CURLE_OK && !s->checked)
        check_response(s); /* a response without a body */
    if (s->cb_err.kind != RZ_E_NONE) {
        *err = s->cb_err;
        return -1;
    }
    if (s->rejected) {
        if (!rz_http_status_retryable(s->status, s->retry_429) || last) {
            err->http_status = s->status;
            return rz_error_set(err, s->status == 429 ? RZ_E_RATE_LIMIT : RZ_E_HTTP_STATUS,
                                "%s answered HTTP %ld%s", s->shown_url, s->status,
                                s->attempt > 1 ? " (after retries)" : "");
        }
        s->retry_wait_ms = rz_fetch_backoff_ms(s->cfg.retry_base_ms, s->attempt);
        if (s->status == 429 || s->status == 503) {
            long after = rz_parse_retry_after(s->cur.retry_after, RZ_FETCH_RETRY_AFTER_MAX_S);
            if (after * 1000 > s->retry_wait_ms)
                s->retry_wait_ms = after * 1000;
        }
        return 0;
    }
    if (rc == CURLE_OK && (s->total < 0 || s->received == s->total || s->discard)) {
        s->eof = 1;
        return 0;
    }
    if (rc == CURLE_OK) {
        /* A clean end short of the announced size: a body that ended early without libcurl
         * noticing (no Content-Length), or a 206 that covered only part of what was asked.
         * Resumed like a broken transfer; never accepted as complete. */
        if (last)
            return rz_error_set(err, RZ_E_DOWNLOAD,
                                "download of %s ended at byte %lld of %lld%s; try again",
                                s->shown_url, (long long)s->received, (long long)s->total,
                                s->attempt > 1 ? " (after retries)" : "");
        rc = CURLE_PARTIAL_FILE;
        why = "the answer ended before the end of the file";
    }
    if (!rz_fetch_transient_curl_error(rc) || last) {
        if (s->status)
            err->http_status = s->status;
        return rz_error_set(err, RZ_E_DOWNLOAD, "download of %s failed: %s%s", s->shown_url, why,
                            s->attempt > 1 ? " (after retries)" : "");
    }
    if (s->received > 0 && s->restart == RESTART_SKIP && !s->etag[0] && !s->lastmod[0])
        return rz_error_set(err, RZ_E_DOWNLOAD,
                            "download of %s broke (%s) and the server offers no ETag or "
                            "Last-Modified to resume it safely; try again",
                            s->shown_url, why);
    s->retry_wait_ms = rz_fetch_backoff_ms(s->cfg.retry_base_ms, s->attempt);
    return 0;
}

/* Drive the transfer until the buffer holds data, the transfer ended, or (want_headers) the
 * final response was accepted. */
static int pump(rz_stream *s, int want_headers, rz_error *err)
{
    for (;;) {
        CURLMsg *msg;
        CURLMcode mc;
        int running = 0, left = 0;

        if (tick(s, 0, err) < 0)
            return -1;
        if (s->len > 0 || s->eof || (want_headers && s->accepted))
            return 0;
        if (!s->in_flight) {
            if (s->retry_wait_ms > 0 && sleep_ticking(s, s->retry_wait_ms, err) < 0)
                return -1;
            s->retry_wait_ms = 0;
            if (start_attempt(s, err) < 0)
                return -1;
        }
        if (s->paused) {
            s->paused = 0;
            curl_easy_pause(s->easy, CURLPAUSE_CONT); /* may call on_write right away */
            continue;
        }
        mc = curl_multi_perform(s->multi, &running);
        while (mc == CURLM_OK && (msg = curl_multi_info_read(s->multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            if (msg->easy_handle != s->easy) { /* a range of fetch_parallel.c */
                if (s->other_done)
                    s->other_done(msg->easy_handle, msg->data.result, s->other_payload);
                continue;
            }
            if (finish_attempt(s, msg->data.result, err) < 0)
                return -1;
        }
        if (mc == CURLM_OK && s->in_flight && s->len == 0)
            mc = curl_multi_poll(s->multi, NULL, 0, RZ_FETCH_TICK_MS, NULL);
        if (mc != CURLM_OK)
            return rz_error_set(err, RZ_E_DOWNLOAD, "download of %s failed: %s", s->shown_url,
                                curl_multi_strerror(mc));
    }
}

int rz_fetch_check_offline(const char *url, rz_error *err)
{
    char shown[RZ_ERR_URL_MAX];

    if (!rz_fetch_offline())
        return 0;
    rz_redact_url(shown, sizeof(shown), url);
    rz_error_set(err, RZ_E_OFFLINE,
                 "REMOTEZOO_OFFLINE is set, so %s cannot be downloaded; unset it to go online",
                 shown);
    rz_error_attach_url(err, url);
    return -1;
}

/* The engine's constructor; see rz_stream_open. wanted: response headers to keep (borrowed,
 * must outlive the stream), or NULL. */
static int stream_open(rz_stream **out, const char *url, const rz_fetch_opts *opts,
                       restart_mode restart, int accept_any_status, const char *const *wanted,
                       rz_error *err)
{
    rz_stream *s = NULL;
    char *rewritten = NULL;
    size_t i;

    *out = NULL;
    if (rz_fetch_check_offline(url, err) < 0)
        return -1;
    if (rz_url_rewrite(&rewritten, url, err) < 0) {
        rz_error_attach_url(err, url);
        return -1;
    }
    s = calloc(1, sizeof(*s));
    if (!s || !(s->url = rewritten ? rewritten : strdup(url)) || !(s->auth_url = strdup(url)) ||
        !(s->buf = malloc(RZ_FETCH_BUFFER_SIZE))) {
        if (!s)
            free(rewritten);
        goto nomem;
    }
    rz_redact_url(s->shown_url, sizeof(s->shown_url), s->url);
    s->cap = RZ_FETCH_BUFFER_SIZE;
    s->total = -1;
    s->restart = restart;
    s->accept_any_status = accept_any_status;
    s->retry_429 = !accept_any_status;
    s->last_tick_ms = rz_now_ms();
    s->cur.wanted = wanted;
    if (opts) {
        s->progress = opts->progress;
        s->payload = opts->payload;
        for (i = 0; opts->headers && opts->headers[i]; i++) {
            struct curl_slist *more;
            if (i >= RZ_FETCH_MAX_HEADERS || !rz_http_header_line_ok(opts->headers[i])) {
                rz_error_set(err, RZ_E_INVALID,
                             "bad request header for %s (want at most %d \"Name: value\" lines "
                             "without line breaks)",
                             s->shown_url, RZ_FETCH_MAX_HEADERS);
                goto fail;
            }
            if (!(more = curl_slist_append(s->headers, opts->headers[i])))
                goto nomem;
            s->headers = more;
            if (rz_http_header_is_credential(opts->headers[i]))
                continue;
            if (!(more = curl_slist_append(s->bare_headers, opts->headers[i])))
                goto nomem;
            s->bare_headers = more;
        }
    }
    read_config(&s->cfg);
    if (!(s->multi = curl_multi_init()) || !(s->easy = curl_easy_init()))
        goto nomem;
    if (setup_easy(s, s->easy, err) < 0 || pump(s, 1, err) < 0)
        goto fail;
    *out = s;
    return 0;
nomem:
    rz_error_set(err, RZ_E_NOMEM, "out of memory starting a download");
fail:
    rz_stream_close(s);
    rz_error_attach_url(err, url);
    return -1;
}

int rz_stream_open(rz_stream **out, const char *url, const rz_fetch_opts *opts, rz_error *err)
{
    return stream_open(out, url, opts, RESTART_SKIP, 0, NULL, err);
}

int rz_stream_open_file(rz_stream **out, const char *url, const rz_fetch_opts *opts,
                        const char *const *wanted, rz_error *err)
{
    return stream_open(out, url, opts, RESTART_TRUNCATE, 0, wanted, err);
}

int rz_stream_read(rz_stream *s, const void **out_data, size_t *out_len, rz_error *err)
{
    *out_data = NULL;
    *out_len = 0;
    /* The caller is done with what the previous call returned (the whole buffer then). */
    assert(s->handed == s->len || s->handed == 0);
    if (s->handed > 0)
        s->len = 0;
    s->restarted = 0; /* a restart found by this read is this read's */
    if (pump(s, 0, err) < 0) {
        rz_error_attach_url(err, s->url);
        return -1;
    }
    s->handed = s->len;
    *out_data = s->buf;
    *out_len = s->len;
    return 0;
}

long rz_stream_status(const rz_stream *s)
{
    return s->accepted ? s->status : 0;
}

const char *rz_stream_effective_url(const rz_stream *s)
{
    char *url = NULL;
    curl_easy_getinfo(s->easy, CURLINFO_EFFECTIVE_URL, &url);
    return url ? url : s->url;
}

int64_t rz_stream_total(const rz_stream *s)
{
    return s->total;
}

const char *rz_stream_shown_url(const rz_stream *s)
{
    return s->shown_url;
}

int rz_stream_restarted(const rz_stream *s)
{
    return s->restarted;
}

void rz_stream_close(rz_stream *s)
{
    if (!s)
        return;
    if (s->multi && s->easy && s->in_flight)
        curl_multi_remove_handle(s->multi, s->easy);
    if (s->easy)
        curl_easy_cleanup(s->easy);
    if (s->multi)
        curl_multi_cleanup(s->multi);
    curl_slist_free_all(s->headers);
    curl_slist_free_all(s->bare_headers);
    curl_slist_free_all(s->attempt_headers);
    free(s->buf);
    free(s->url);
    free(s->auth_url);
    free(s);
}

/* ---- Hooks for fetch_parallel.c (fetch_private.h) ---- */

const struct curl_slist *rz_stream_headers_for(const rz_stream *s, const char *url)
{
    return rz_url_same_origin(url, s->auth_url) ? s->headers : s->bare_headers;
}

void rz_stream_view_get(rz_stream *s, rz_stream_view *out)
{
    memset(out, 0, sizeof(*out));
    out->multi = s->multi;
    out->shown_url = s->shown_url;
    out->validator = s->etag[0] ? s->etag : s->lastmod;
    out->validator_is_etag = s->etag[0] != '\0';
    /* rz_fetch_to_file asks for Accept-Ranges as the one wanted header */
    out->accept_ranges = s->cur.wanted && s->cur.wanted_seen[0] ? s->cur.wanted_values[0] : "";
    out->status = s->accepted ? s->status : 0;
    out->total = s->total;
    out->max_attempts = s->cfg.max_attempts;
    out->retry_base_ms = s->cfg.retry_base_ms;
    out->rtt_ms = rz_fetch_rtt_ms(s->easy);
}

int64_t rz_fetch_rtt_ms(CURL *easy)
{
    curl_off_t pre = 0, first = 0;

    /* From the request sent to the first byte of the answer: one round trip plus the server's
     * own time (on the last request after redirects; both are sums over them). */
    if (curl_easy_getinfo(easy, CURLINFO_PRETRANSFER_TIME_T, &pre) != CURLE_OK ||
        curl_easy_getinfo(easy, CURLINFO_STARTTRANSFER_TIME_T, &first) != CURLE_OK || first < pre)
        return -1;
    return (int64_t)((first - pre) / 1000);
}

int rz_stream_new_easy(rz_stream *s, CURL **out, rz_error *err)
{
    CURL *e = curl_easy_init();

    *out = NULL;
    if (!e)
        return rz_error_set(err, RZ_E_NOMEM, "out of memory requesting %s", s->shown_url);
    if (setup_easy(s, e, err) < 0) {
        curl_easy_cleanup(e);
        return -1;
    }
    *out = e;
    return 0;
}

void rz_stream_hooks(rz_stream *s, int (*progress)(int64_t done, int64_t total, void *payload),
                     rz_stream_done_fn other_done, void *payload)
{
    s->progress = progress;
    s->payload = payload;
    s->other_done = other_done;
    s->other_payload = payload;
}

void rz_stream_halt(rz_stream *s)
{
    if (s->in_flight)
        curl_multi_remove_handle(s->multi, s->easy);
    s->in_flight = 0;
    s->paused = 0;
    s->len = s->handed = 0;
    s->eof = 1;
}

int rz_http_get(rz_response *out, const char *url, const rz_fetch_opts *opts,
                const char *const *wanted_headers, size_t max_bytes, rz_error *err)
{
    rz_buf body = RZ_BUF_INIT(max_bytes, RZ_E_DOWNLOAD, "an answer");
    rz_stream *s = NULL;
    const void *data = NULL;
    size_t n = 0, i, n_wanted = 0;

    memset(out, 0, sizeof(*out));
    while (wanted_headers && wanted_headers[n_wanted])
        n_wanted++;
    if (n_wanted > RZ_HTTP_WANTED_MAX) {
        rz_error_set(err, RZ_E_INVALID, "rz_http_get: at most %d wanted headers",
                     RZ_HTTP_WANTED_MAX);
        goto fail;
    }
    if (stream_open(&s, url, opts, RESTART_TRUNCATE, 1, wanted_headers, err) < 0)
        goto fail;
    for (;;) {
        if (rz_stream_read(s, &data, &n, err) < 0)
            goto fail;
        if (s->restarted)
            rz_buf_truncate(&body, 0);
        if (n == 0)
            break;
        if (n > max_bytes - body.len) {
            rz_error_set(err, RZ_E_DOWNLOAD, "the answer of %s is larger than %zu bytes",
                         s->shown_url, max_bytes);
            goto fail;
        }
        if (rz_buf_add(&body, data, n, err) < 0)
            goto fail;
    }
    out->body_len = body.len;
    if (!(out->body = rz_buf_take(&body, err)))
        goto fail;
    out->status = s->status;
    for (i = 0; i < n_wanted; i++) {
        if (s->cur.wanted_seen[i] && !(out->header_values[i] = strdup(s->cur.wanted_values[i])))
            goto nomem;
    }
    rz_stream_close(s);
    return 0;
nomem:
    rz_error_set(err, RZ_E_NOMEM, "out of memory reading %s", s->shown_url);
fail:
    rz_stream_close(s);
    rz_buf_free(&body);
    rz_response_clear(out);
    rz_error_attach_url(err, url);
    return -1;
}

void rz_response_clear(rz_response *r)
{
    size_t i;

    free(r->body);
    for (i = 0; i < RZ_HTTP_WANTED_MAX; i++)
        free(r->header_values[i]);
    memset(r, 0, sizeof(*r));
}
