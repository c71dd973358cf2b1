/* fetch_parallel.c - parallel range downloads for rz_fetch_to_file; see fetch_parallel.h. Part 0 is
 * connection #1 (the stream's own request, read through rz_stream_read); parts 1..n-1 are range
 * requests on their own easy handles, added to the stream's multi handle, so that the stream's pump
 * drives them while part 0 runs, and our own loop afterwards. */
#include "net/fetch_parallel.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "net/fetch_private.h"
#include "net/http_headers.h"
#include "net/rewrite.h"
#include "util/clock.h"
#include "util/env.h"
#include "util/fsutil.h"

#define HASH_BUF  (1024 * 1024)     /* read-back buffer for hashing the written prefix */
#define HASH_STEP (8 * 1024 * 1024) /* at most this much hashed per tick during the transfer */

typedef struct par par;

typedef struct part {
    par *p;
    CURL *easy;    /* in flight, or NULL; owned */
    int64_t start; /* [start, end) of the resource */
    int64_t end;
    int64_t pos;     /* next offset to write: [start, pos) is in the file */
    int64_t stop;    /* just past the last byte this attempt's 206 announced */
    int64_t flushed; /* write-back started up to here */
    int attempts;
    int64_t due_ms; /* start the next attempt at this time (when easy is NULL and not done) */
    int done;
    int accepted;    /* this attempt's answer is the matching 206 */
    long status;     /* ... its status */
    int retry_after; /* seconds the server asked for (429/503), or 0 */
    rz_http_headers hdr;
    char errbuf[CURL_ERROR_SIZE];
} part;

struct par {
    rz_stream *s;
    rz_stream_view v;
    CURLM *multi; /* borrowed from s */
    int fd;
    const char *tmp;
    rz_sha256 *hash;    /* borrowed, or NULL */
    unsigned char *buf; /* HASH_BUF bytes when hashing; owned */
    int64_t hashed;     /* [0, hashed) was fed to hash */
    int (*progress)(int64_t done, int64_t total, void *payload); /* the caller's, or NULL */
    void *payload;
    int64_t last_tick_ms;
    char *range_url;            /* the post-redirect URL; owned */
    struct curl_slist *headers; /* for the ranges: caller's (filtered) + If-Range; owned */
    int n;                      /* parts; parts[0] is connection #1 */
    part parts[RZ_FETCH_CONNECTIONS_MAX];
    int fallback; /* abandon parallel mode */
    int failed;   /* err holds a fatal error */
    int stopped;  /* the progress hook asked to stop */
    rz_error err;
};

static int header_named(const char *line, const char *name)
{
    size_t n = strlen(name);
    return strncasecmp(line, name, n) == 0 && line[n] == ':';
}

/* Write data at r->pos; on failure p->err/p->failed are set. */
static int part_write(par *p, part *r, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = pwrite(p->fd, data, len, (off_t)r->pos);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rz_error_os(&p->err, errno, p->tmp, "cannot write %s", p->tmp);
            p->failed = 1;
            return -1;
        }
        data += n;
        len -= (size_t)n;
        r->pos += n;
    }
    rz_fd_writeback(p->fd, r->start, r->pos, &r->flushed);
    return 0;
}

static void set_fallback(par *p)
{
    p->fallback = 1;
}

/* The response headers of a range are in: accept only the 206 we asked for -- from r->pos, of
 * the same size and validator, no further than asked, its Content-Length that of its range. A
 * shorter range is fine: what it lacks is asked for again (part_finished). */
static void check_range(part *r)
{
    par *p = r->p;
    int64_t first = -1, last = -1, size = -1;
    curl_off_t length = -1;
    const char *theirs;

    if (r->status == 206) {
        theirs = p->v.validator_is_etag ? r->hdr.etag : r->hdr.last_modified;
        curl_easy_getinfo(r->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
        if (rz_parse_content_range(r->hdr.content_range, &first, &last, &size) == 0 &&
            first == r->pos && last < r->end && size == p->v.total &&
            (length < 0 || length == last - first + 1) &&
            (!theirs[0] || strcmp(theirs, p->v.validator) == 0)) {
            r->stop = last + 1;
            r->accepted = 1;
            return;
        }
        set_fallback(p); /* another range or another version of the file */
        return;
    }
    if (rz_http_status_retryable(r->status, 1)) {
        r->retry_after = (int)rz_parse_retry_after(r->hdr.retry_after, RZ_FETCH_RETRY_AFTER_MAX_S);
        return; /* retried with backoff */
    }
    set_fallback(p); /* a 200 (ranges ignored), a redirect, a 4xx: one connection it is */
}

static size_t on_range_header(char *line, size_t size, size_t nitems, void *payload)
{
    part *r = payload;
    size_t n = size * nitems;

    if (rz_http_headers_feed(&r->hdr, line, n) == RZ_HEADERS_END) {
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
        if (r->status < 200)
            return n;
        check_range(r);
        if (!r->accepted)
            return 0; /* not a byte of this body */
    }
    return n;
}

static size_t on_range_write(char *data, size_t size, size_t nmemb, void *payload)
{
    part *r = payload;
    par *p = r->p;
    size_t n = size * nmemb;

    if (!r->accepted || p->fallback || p->failed)
        return 0;
    if ((int64_t)n > r->stop - r->pos) {
        set_fallback(p); /* more than it announced */
        return 0;
    }
    if (part_write(p, r, data, n) < 0)
        return 0;
    return n;
}

/* Start the next attempt of part r at r->pos. */
static int part_start(par *p, part *r)
{
    char spec[64];
    CURL *e = NULL;
    int bad = 0;

    if (rz_stream_new_easy(p->s, &e, &p->err) < 0)
        goto fail;
    r->easy = e;
    rz_http_headers_reset(&r->hdr);
    r->accepted = 0;
    r->status = 0;
    r->retry_after = 0;
    r->errbuf[0] = '\0';
    snprintf(spec, sizeof(spec), "%lld-%lld", (long long)r->pos, (long long)r->end - 1);
    bad |= curl_easy_setopt(e, CURLOPT_URL, p->range_url) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_RANGE, spec) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, p->headers) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_range_header) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, r) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_range_write) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, r) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, r) != CURLE_OK;
    if (bad) {
        rz_error_set(&p->err, RZ_E_NOMEM, "out of memory requesting %s", p->v.shown_url);
        goto fail;
    }
    if (curl_multi_add_handle(p->multi, e) != CURLM_OK) {
        rz_error_set(&p->err, RZ_E_DOWNLOAD, "libcurl cannot start a range request for %s",
                     p->v.shown_url);
        goto fail;
    }
    r->attempts++;
    return 0;
fail:
    if (e)
        curl_easy_cleanup(e);
    r->easy = NULL;
    p->failed = 1;
    return -1;
}

static void part_stop(par *p, part *r)
{
    if (!r->easy)
        return;
    curl_multi_remove_handle(p->multi, r->easy);
    curl_easy_cleanup(r->easy);
    r->easy = NULL;
}

/* A range transfer ended with rc (a CURLcode): done, retry later, fall back, or fail. */
static void part_finished(par *p, part *r, CURLcode rc)
{
    int status_retry = !r->accepted && r->status >= 200; /* check_range left it for a retry */
    long wait;

    part_stop(p, r);
    if (p->fallback || p->failed)
        return;
    if (r->pos == r->end) {
        r->done = 1;
        return;
    }
    if (!status_retry && rc != CURLE_OK && !rz_fetch_transient_curl_error(rc)) {
        set_fallback(p); /* something one connection may get right, or report better */
        return;
    }
    if (r->attempts >= p->v.max_attempts) {
        p->failed = 1;
        if (status_retry) {
            p->err.http_status = r->status;
            rz_error_set(&p->err, r->status == 429 ? RZ_E_RATE_LIMIT : RZ_E_HTTP_STATUS,
                         "%s answered HTTP %ld to a range request (after retries)", p->v.shown_url,
                         r->status);
        } else {
            rz_error_set(&p->err, RZ_E_DOWNLOAD, "download of %s failed: %s (after retries)",
                         p->v.shown_url, r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc));
        }
        return;
    }
    wait = rz_fetch_backoff_ms(p->v.retry_base_ms, r->attempts);
    if ((long)r->retry_after * 1000 > wait)
        wait = (long)r->retry_after * 1000;
    r->due_ms = rz_now_ms() + wait; /* resumes at r->pos */
}

static void on_other_done(CURL *easy, CURLcode result, void *payload)
{
    par *p = payload;
    char *priv = NULL;

    if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv) != CURLE_OK || !priv) {
        curl_multi_remove_handle(p->multi, easy); /* not ours; cannot happen */
        return;
    }
    part_finished(p, (part *)(void *)priv, result);
}

static int64_t written_total(const par *p)
{
    int64_t sum = 0;
    int i;

    for (i = 0; i < p->n; i++)
        sum += p->parts[i].pos - p->parts[i].start;
    return sum;
}

/* Feed hash the written bytes after p->hashed that have no gap before them, at most limit. */
static int hash_prefix(par *p, int64_t limit)
{
    int64_t upto = p->v.total;
    int i;

    if (!p->hash)
        return 0;
    for (i = 0; i < p->n; i++)
        if (p->parts[i].pos < p->parts[i].end) {
            upto = p->parts[i].pos;
            break;
        }
    if (upto - p->hashed > limit)
        upto = p->hashed + limit;
    while (p->hashed < upto) {
        size_t want = upto - p->hashed < HASH_BUF ? (size_t)(upto - p->hashed) : HASH_BUF;
        ssize_t got = pread(p->fd, p->buf, want, (off_t)p->hashed);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            rz_error_os(&p->err, got < 0 ? errno : EIO, p->tmp, "cannot read back %s", p->tmp);
            p->failed = 1;
            return -1;
        }
        if (rz_sha256_update(p->hash, p->buf, (size_t)got, &p->err) < 0) {
            p->failed = 1;
            return -1;
        }
        p->hashed += got;
    }
    return 0;
}

/* Housekeeping at least every RZ_FETCH_TICK_MS: start due retries, hash, report progress.
 * Nonzero: stop (fallback, failure or the caller's hook). */
static int on_tick(int64_t done, int64_t total, void *payload)
{
    par *p = payload;
    int64_t now = rz_now_ms();
    int i;

    (void)done;
    (void)total;
    p->last_tick_ms = now;
    for (i = 1; i < p->n && !p->failed && !p->fallback; i++) {
        part *r = &p->parts[i];
        if (!r->done && !r->easy && now >= r->due_ms)
            part_start(p, r);
    }
    if (!p->failed && !p->fallback)
        hash_prefix(p, HASH_STEP);
    if (p->failed || p->fallback)
        return 1;
    if (p->progress && p->progress(written_total(p), p->v.total, p->payload) != 0)
        p->stopped = 1;
    return p->stopped;
}

/* The range requests' headers: the caller's (without credentials for another origin) and
 * If-Range. */
static int build_headers(par *p)
{
    const struct curl_slist *item = p->v.headers;
    char if_range[RZ_HTTP_VALUE_MAX + 16];
    int keep_credentials = rz_url_same_origin(p->v.url, p->range_url);
    struct curl_slist *more;

    for (; item; item = item->next) {
        if (!keep_credentials && rz_http_header_is_credential(item->data))
            continue;
        if (header_named(item->data, "Range") || header_named(item->data, "If-Range"))
            continue;
        if (!(more = curl_slist_append(p->headers, item->data)))
            return -1;
        p->headers = more;
    }
    snprintf(if_range, sizeof(if_range), "If-Range: %s", p->v.validator);
    if (!(more = curl_slist_append(p->headers, if_range)))
        return -1;
    p->headers = more;
    return 0;
}

static void par_free(par *p)
{
    int i;

    if (!p)
        return;
    for (i = 0; i < p->n; i++)
        part_stop(p, &p->parts[i]);
    curl_slist_free_all(p->headers);
    free(p->range_url);
    free(p->buf);
    free(p);
}

/* Whether parallel mode applies to s's accepted answer; *out_n the connections. */
static int applies(const rz_stream_view *v, int *out_n)
{
    long long min = rz_env_ll("REMOTEZOO_PARALLEL_MIN_BYTES", RZ_FETCH_PARALLEL_MIN_BYTES, 1,
                              (long long)1 << 62);
    int n =
        (int)rz_env_ll("REMOTEZOO_CONNECTIONS", RZ_FETCH_CONNECTIONS, 1, RZ_FETCH_CONNECTIONS_MAX);

    *out_n = n;
    return n > 1 && v->status == 200 && v->total >= min && v->total >= n &&
           strcasecmp(v->accept_ranges, "bytes") == 0 && v->validator[0];
}

/* Our own loop once connection #1 is done: drive the ranges until all are in. */
static int drive(par *p, rz_error *err)
{
    for (;;) {
        CURLMsg *msg;
        CURLMcode mc;
        int running = 0, left = 0, i, all = 1;

        for (i = 1; i < p->n; i++)
            all &= p->parts[i].done;
        if (all || p->fallback || p->failed)
            return 0;
        if (rz_now_ms() - p->last_tick_ms >= RZ_FETCH_TICK_MS && on_tick(0, 0, p) != 0) {
            if (p->stopped)
                return rz_error_set(err, RZ_E_CALLBACK, "download of %s was stopped",
                                    p->v.shown_url);
            continue;
        }
        mc = curl_multi_perform(p->multi, &running);
        while (mc == CURLM_OK && (msg = curl_multi_info_read(p->multi, &left)))
            if (msg->msg == CURLMSG_DONE)
                on_other_done(msg->easy_handle, msg->data.result, p);
        if (mc == CURLM_OK)
            mc = curl_multi_poll(p->multi, NULL, 0, RZ_FETCH_TICK_MS, NULL);
        if (mc != CURLM_OK)
            return rz_error_set(err, RZ_E_DOWNLOAD, "download of %s failed: %s", p->v.shown_url,
                                curl_multi_strerror(mc));
    }
}

int rz_fetch_parallel(rz_stream *s, int fd, const char *tmp_path, rz_sha256 *hash,
                      const rz_fetch_opts *opts, int64_t *out_written, rz_error *err)
{
    rz_stream_view v;
    par *p = NULL;
    part *first = NULL;
    rz_error read_err;
    int64_t chunk;
    int n = 0, i, result = -1;

    *out_written = 0;
    rz_stream_view_get(s, &v);
    if (!applies(&v, &n))
        return RZ_PARALLEL_NOT_USED;
    if (!(p = calloc(1, sizeof(*p))))
        goto nomem;
    rz_error_init(&p->err);
    p->s = s;
    p->v = v;
    if (!(p->range_url = strdup(rz_stream_effective_url(s))) ||
        (hash && !(p->buf = malloc(HASH_BUF))) || build_headers(p) < 0)
        goto nomem;
    p->multi = v.multi;
    p->fd = fd;
    p->tmp = tmp_path;
    p->hash = hash;
    p->progress = opts ? opts->progress : NULL;
    p->payload = opts ? opts->payload : NULL;
    p->last_tick_ms = rz_now_ms();
    p->n = n;
    chunk = (v.total + n - 1) / n;
    for (i = 0; i < n; i++) {
        part *r = &p->parts[i];
        r->p = p;
        r->start = r->pos = r->flushed = (int64_t)i * chunk;
        r->end = i == n - 1 ? v.total : (int64_t)(i + 1) * chunk;
    }
    rz_stream_hooks(s, on_tick, on_other_done, p);
    for (i = 1; i < n; i++)
        if (part_start(p, &p->parts[i]) < 0)
            break;

    /* Part 0: connection #1 streams from byte 0; keep [0, chunk) and stop it there. */
    first = &p->parts[0];
    while (!p->failed && !p->fallback && first->pos < first->end) {
        const void *data = NULL;
        size_t len = 0;
        int64_t room = first->end - first->pos;
        rz_error_init(&read_err);
        if (rz_stream_read(s, &data, &len, &read_err) < 0) {
            if (!p->failed && !p->fallback) {
                *err = read_err;
                goto done;
            }
            break;
        }
        if (rz_stream_restarted(s) || len == 0) {
            set_fallback(p); /* a 200 to its resume, or too short: one connection it is */
            break;
        }
        if (part_write(p, first, data, (int64_t)len < room ? len : (size_t)room) < 0)
            break;
    }
    rz_stream_halt(s);
    if (!p->failed && !p->fallback && drive(p, err) < 0)
        goto done;
    if (!p->failed && !p->fallback)
        hash_prefix(p, v.total); /* what is left; read back from the page cache */
    if (p->failed) {
        *err = p->err;
        goto done;
    }
    if (p->fallback) {
        result = RZ_PARALLEL_FALLBACK;
        goto done;
    }
    *out_written = v.total;
    result = RZ_PARALLEL_DONE;
    goto done;
nomem:
    rz_error_set(err, RZ_E_NOMEM, "out of memory downloading %s", v.shown_url);
done:
    rz_stream_hooks(s, opts ? opts->progress : NULL, NULL, opts ? opts->payload : NULL);
    par_free(p);
    return result;
}
