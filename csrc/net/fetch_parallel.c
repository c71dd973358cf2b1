/* fetch_parallel.c - adaptive parallel range downloads for rz_fetch_to_file; see fetch_parallel.h.
 *
 * A slot is one connection's worth of work: a range of the file and the easy handle asking for
 * it. Slot 0 starts as connection #1, the stream's own request from byte 0 read through
 * rz_stream_read; the other slots are range requests on their own easy handles in the stream's
 * multi handle, so that the stream's pump drives them while slot 0 streams, and our own loop
 * (drive) afterwards. What is not handed out yet is the pool: a few spans sorted by offset.
 * Every byte of the file is, at any time, written, in the pool, or in a slot's range after its
 * write position. The tick (on_tick, every RZ_FETCH_TICK_MS) measures the rates, decides how
 * many connections to keep busy (step), and gives idle slots work (fill). */
#include "net/fetch_parallel.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
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
#include "util/writeback.h"

#define HASH_BUF     (1024 * 1024) /* read-back buffer for hashing the written prefix */
#define HASH_TICK_MS 20            /* at most this long reading back and hashing per tick */
#define HISTORY      64            /* ticks of (time, bytes written) kept for rates */
#define STEAL_MIN    (256 * 1024)  /* a steal takes at least this much */
#define POOL_MAX     4096          /* spans; far more than the slots can leave behind */

typedef struct par par;

enum slot_state {
    SLOT_IDLE,      /* no range */
    SLOT_ASKING,    /* its request is out, no accepted answer yet */
    SLOT_RECEIVING, /* its 206 was accepted */
    SLOT_STREAM,    /* slot 0 while it is connection #1 (the stream's request) */
};

typedef struct slot {
    par *p;
    CURL *easy; /* owned; kept between ranges so that libcurl re-uses its connection */
    int state;
    int in_multi;  /* easy is in the multi handle */
    int64_t start; /* its range [start, end) of the resource; [start, pos) is written */
    int64_t pos;
    int64_t end;
    int64_t asked_end; /* just past the last byte its request asked for (end may shrink) */
    int64_t stop;      /* just past the last byte the accepted 206 announced */
    int64_t flushed;   /* its write-back cursor (rz_writeback_wrote) */
    int attempts;      /* requests made for this range (carried by the pool) */
    int accepted;      /* this request's answer is the matching 206 */
    long status;       /* ... its status */
    int retry_after;   /* seconds the server asked for (429/503), or 0 */
    int64_t asked_ms;  /* when its request went out */
    int64_t since_ms;  /* when its answer was accepted (slot 0: its start) */
    int64_t got;       /* bytes written of that answer */
    rz_http_headers hdr;
    char errbuf[CURL_ERROR_SIZE];
} slot;

typedef struct span {
    int64_t start, end;
    int attempts;   /* requests already made for these bytes */
    int64_t due_ms; /* not to be asked for before this time (a retry's backoff) */
} span;

struct par {
    rz_stream *s;
    rz_stream_view v;
    CURLM *multi; /* borrowed from s */
    rz_writeback *wb;
    int fd;
    const char *tmp;
    rz_sha256 *hash;    /* borrowed, or NULL */
    unsigned char *buf; /* HASH_BUF bytes when hashing; owned */
    int64_t hashed;     /* [0, hashed) was fed to hash */
    int64_t written;    /* bytes written, all slots */
    int (*progress)(int64_t done, int64_t total, void *payload); /* the caller's, or NULL */
    void *payload;
    char *range_url;            /* the post-redirect URL; owned */
    struct curl_slist *headers; /* for the ranges: caller's (filtered) + If-Range; owned */
    int cap;                    /* slots: $REMOTEZOO_CONNECTIONS */
    slot *slots;                /* cap of them; owned */
    span *pool;                 /* n_pool used of pool_cap; owned */
    int n_pool, pool_cap;
    int64_t chunk_floor; /* the smallest range handed out (but for what is left at the end) */

    /* How many connections: see fetch.h. */
    int want;    /* slots to keep busy */
    int limit;   /* at most this many: cap, lowered when the server refuses more */
    int growing; /* doubling want at each step */
    int refused; /* the server refused a connection: grow only by probes */
    int64_t next_step_ms;
    double step_rate;      /* aggregate rate measured at the last growth, bytes/s (0: none) */
    int step_want;         /* want at that growth */
    int64_t hold_until_ms; /* no probe before */
    long hold_ms;          /* the next hold after a refusal */
    int64_t refused_ms;    /* when the last refusal came */
    int64_t closed_ms;     /* when we last closed a connection before its answer's end */
    int64_t rtt_ms;        /* the smallest round trip seen */
    int64_t hist_ms[HISTORY], hist_bytes[HISTORY]; /* a ring, one entry per tick */
    int hist_n;
    int64_t last_tick_ms;

    int fallback; /* abandon parallel mode */
    int failed;   /* err holds a fatal error */
    int stopped;  /* the progress hook asked to stop */
    rz_error err;
};

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

static int header_named(const char *line, const char *name)
{
    size_t n = strlen(name);
    return strncasecmp(line, name, n) == 0 && line[n] == ':';
}

static void set_fallback(par *p)
{
    p->fallback = 1;
}

static int busy(const par *p)
{
    int i, n = 0;

    for (i = 0; i < p->cap; i++)
        n += p->slots[i].state != SLOT_IDLE;
    return n;
}

/* Slots whose answer is being received (the stream counts), but for skip. */
static int receiving(const par *p, const slot *skip)
{
    int i, n = 0;

    for (i = 0; i < p->cap; i++) {
        const slot *r = &p->slots[i];
        n += r != skip && (r->state == SLOT_RECEIVING || r->state == SLOT_STREAM);
    }
    return n;
}

/* ---- the pool --------------------------------------------------------------------------- */

/* Give [start, end) back to the pool, sorted, joined with a neighbour it touches that has the
 * same attempts and retry time. */
static int pool_put(par *p, int64_t start, int64_t end, int attempts, int64_t due_ms)
{
    int i, at;

    if (start >= end)
        return 0;
    for (at = 0; at < p->n_pool && p->pool[at].start < start; at++)
        ;
    if (at > 0 && p->pool[at - 1].end == start && p->pool[at - 1].attempts == attempts &&
        p->pool[at - 1].due_ms == due_ms) {
        span *b = &p->pool[at - 1]; /* extends the one before ... */
        b->end = end;
        if (at < p->n_pool && p->pool[at].start == end && p->pool[at].attempts == attempts &&
            p->pool[at].due_ms == due_ms) { /* ... up to the next one */
            b->end = p->pool[at].end;
            memmove(&p->pool[at], &p->pool[at + 1], (size_t)(p->n_pool - at - 1) * sizeof(span));
            p->n_pool--;
        }
        return 0;
    }
    if (at < p->n_pool && p->pool[at].start == end && p->pool[at].attempts == attempts &&
        p->pool[at].due_ms == due_ms) {
        p->pool[at].start = start; /* extends the next one down */
        return 0;
    }
    if (p->n_pool == p->pool_cap) {
        int want = p->pool_cap ? 2 * p->pool_cap : 8;
        span *bigger;
        if (want > POOL_MAX) {
            rz_error_set(&p->err, RZ_E_DOWNLOAD,
                         "download of %s broke into too many pieces; try again", p->v.shown_url);
            p->failed = 1;
            return -1;
        }
        if (!(bigger = realloc(p->pool, (size_t)want * sizeof(span)))) {
            rz_error_set(&p->err, RZ_E_NOMEM, "out of memory downloading %s", p->v.shown_url);
            p->failed = 1;
            return -1;
        }
        p->pool = bigger;
        p->pool_cap = want;
    }
    for (i = p->n_pool; i > at; i--)
        p->pool[i] = p->pool[i - 1];
    p->pool[at].start = start;
    p->pool[at].end = end;
    p->pool[at].attempts = attempts;
    p->pool[at].due_ms = due_ms;
    p->n_pool++;
    return 0;
}

static int64_t pool_bytes(const par *p)
{
    int64_t sum = 0;
    int i;

    for (i = 0; i < p->n_pool; i++)
        sum += p->pool[i].end - p->pool[i].start;
    return sum;
}

/* The aggregate rate over about the last ms milliseconds of ticks, bytes/s (0 if unknown). */
static double rate_over(const par *p, int64_t ms)
{
    int newest = (p->hist_n - 1) % HISTORY, k, i = newest;

    for (k = 1; k < p->hist_n && k < HISTORY; k++) {
        i = (p->hist_n - 1 - k) % HISTORY;
        if (p->hist_ms[newest] - p->hist_ms[i] >= ms)
            break;
    }
    if (p->hist_ms[newest] <= p->hist_ms[i])
        return 0;
    return (double)(p->hist_bytes[newest] - p->hist_bytes[i]) * 1000.0 /
           (double)(p->hist_ms[newest] - p->hist_ms[i]);
}

/* The average rate of one receiving connection lately, bytes/s (0 if unknown). */
static double connection_rate(const par *p)
{
    int n = receiving(p, NULL);
    return n ? rate_over(p, 500) / n : 0;
}

/* The size of the next range to hand out: a share of what is left, so that the ranges get
 * smaller towards the end and the connections finish together; never less than the floor,
 * nor less than 8 round trips' worth of one connection (its request's round trip stays a small
 * part of its time). */
static int64_t chunk_size(const par *p)
{
    int64_t share = pool_bytes(p) / (2 * (int64_t)p->limit);
    int64_t floor =
        max64(p->chunk_floor, (int64_t)(connection_rate(p) * 8 * (double)p->rtt_ms / 1000));
    return max64(share, floor);
}

/* ---- writing ---------------------------------------------------------------------------- */

/* Write data at r->pos; on failure p->err/p->failed are set. */
static int slot_write(par *p, slot *r, const char *data, size_t len)
{
    if (p->hash && r->pos == p->hashed && len > 0) { /* extends the hashed prefix: from memory */
        if (rz_sha256_update(p->hash, data, len, &p->err) < 0) {
            p->failed = 1;
            return -1;
        }
        p->hashed += (int64_t)len;
    }
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
        r->got += n;
        p->written += n;
    }
    rz_writeback_wrote(p->wb, &r->flushed, r->pos, r->pos == r->end);
    return 0;
}

/* The offset of the first byte not written yet (the resource size when all are). */
static int64_t first_missing(const par *p)
{
    int64_t upto = p->n_pool ? p->pool[0].start : p->v.total;
    int i;

    for (i = 0; i < p->cap; i++) {
        const slot *r = &p->slots[i];
        if (r->state != SLOT_IDLE && r->pos < r->end)
            upto = min64(upto, r->pos);
    }
    return upto;
}

/* Feed hash the written bytes after p->hashed that have no gap before them, until deadline_ms
 * (0: all of them). */
static int hash_prefix(par *p, int64_t deadline_ms)
{
    int64_t upto = first_missing(p);

    if (!p->hash)
        return 0;
    while (p->hashed < upto && (!deadline_ms || rz_now_ms() < deadline_ms)) {
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

/* ---- one range request -------------------------------------------------------------------- */

/* The response headers of a range are in: accept only the 206 we asked for -- from r->pos, of
 * the same size and validator, no further than asked, its Content-Length that of its range. A
 * shorter range is fine: what it lacks is asked for again (range_done). */
static void check_range(slot *r)
{
    par *p = r->p;
    int64_t first = -1, last = -1, size = -1;
    curl_off_t length = -1;
    const char *theirs;

    if (r->status == 206) {
        theirs = p->v.validator_is_etag ? r->hdr.etag : r->hdr.last_modified;
        curl_easy_getinfo(r->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
        if (rz_parse_content_range(r->hdr.content_range, &first, &last, &size) == 0 &&
            first == r->pos && last < r->asked_end && size == p->v.total &&
            (length < 0 || length == last - first + 1) &&
            (!theirs[0] || strcmp(theirs, p->v.validator) == 0)) {
            int64_t rtt = rz_fetch_rtt_ms(r->easy);
            r->stop = last + 1;
            r->accepted = 1;
            r->state = SLOT_RECEIVING;
            r->since_ms = rz_now_ms();
            r->got = 0;
            if (rtt > 0 && (p->rtt_ms <= 0 || rtt < p->rtt_ms))
                p->rtt_ms = rtt;
            return;
        }
        set_fallback(p); /* another range or another version of the file */
        return;
    }
    if (rz_http_status_retryable(r->status, 1)) {
        r->retry_after = (int)rz_parse_retry_after(r->hdr.retry_after, RZ_FETCH_RETRY_AFTER_MAX_S);
        return; /* range_done decides */
    }
    set_fallback(p); /* a 200 (ranges ignored), a redirect, a 4xx: one connection it is */
}

static size_t on_range_header(char *line, size_t size, size_t nitems, void *payload)
{
    slot *r = payload;
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
    slot *r = payload;
    par *p = r->p;
    size_t n = size * nmemb, take;

    if (!r->accepted || p->fallback || p->failed)
        return 0;
    if ((int64_t)n > r->stop - r->pos) {
        set_fallback(p); /* more than it announced */
        return 0;
    }
    /* Its range may have been cut short by a steal: keep what is ours, then stop. */
    take = (int64_t)n < r->end - r->pos ? n : (size_t)(r->end - r->pos);
    if (take > 0 && slot_write(p, r, data, take) < 0)
        return 0;
    return take == n ? n : 0;
}

/* Ask for r's range [r->pos, r->end) on its easy handle (made on first use). */
static int slot_ask(par *p, slot *r)
{
    char spec[64];
    CURL *e = r->easy;
    int bad = 0;

    if (!e) {
        if (rz_stream_new_easy(p->s, &e, &p->err) < 0)
            goto fail;
        r->easy = e;
        bad |= curl_easy_setopt(e, CURLOPT_URL, p->range_url) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, p->headers) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_range_header) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, r) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_range_write) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, r) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, r) != CURLE_OK;
    }
    rz_http_headers_reset(&r->hdr);
    r->accepted = 0;
    r->status = 0;
    r->retry_after = 0;
    r->errbuf[0] = '\0';
    r->asked_end = r->end;
    snprintf(spec, sizeof(spec), "%lld-%lld", (long long)r->pos, (long long)r->end - 1);
    bad |= curl_easy_setopt(e, CURLOPT_RANGE, spec) != CURLE_OK;
    if (bad) {
        rz_error_set(&p->err, RZ_E_NOMEM, "out of memory requesting %s", p->v.shown_url);
        goto fail;
    }
    if (curl_multi_add_handle(p->multi, e) != CURLM_OK) {
        rz_error_set(&p->err, RZ_E_DOWNLOAD, "libcurl cannot start a range request for %s",
                     p->v.shown_url);
        goto fail;
    }
    r->in_multi = 1;
    r->state = SLOT_ASKING;
    r->asked_ms = rz_now_ms();
    r->attempts++;
    return 0;
fail:
    p->failed = 1;
    return -1;
}

/* Take r's easy handle out of the multi handle (its connection stays in libcurl's cache when
 * its transfer was complete). */
static void slot_unplug(par *p, slot *r)
{
    if (r->in_multi)
        curl_multi_remove_handle(p->multi, r->easy);
    r->in_multi = 0;
}

/* ---- handing out work ----------------------------------------------------------------------- */

/* Slot 0 is still the stream and holds far more than a range: keep a range's worth and give
 * the rest to the pool, where the other slots find it. */
static int reclaim_stream(par *p)
{
    slot *z = &p->slots[0];
    int64_t keep, old_end = z->end;

    if (z->state != SLOT_STREAM || z->end - z->pos <= 2 * p->chunk_floor)
        return 0;
    keep = max64(p->chunk_floor, (z->end - z->pos) / (2 * (int64_t)p->limit));
    if (z->end - z->pos - keep < p->chunk_floor)
        return 0;
    z->end = z->pos + keep;
    return pool_put(p, z->end, old_end, 0, 0);
}

/* The rate of slot r's answer so far, bytes/s, once it has run long enough to tell (else
 * dflt): a connection that is slower than the others shows here. */
static double slot_rate(const par *p, const slot *r, int64_t now, double dflt)
{
    int64_t ran = now - r->since_ms;
    return ran >= max64(500, 4 * p->rtt_ms) ? (double)r->got * 1000.0 / (double)ran : dflt;
}

/* How long, in seconds, slot r needs before its bytes come at rate: a request's round trip on
 * its open connection; or, for a new one, the handshake and the request, and slow start from
 * 10 segments to the window that rate needs (one round trip per doubling). */
static double lead_time(const par *p, const slot *r, double rate)
{
    double rtt = (double)max64(p->rtt_ms, 1) / 1000, trips = 1;

    if (!r->easy) {
        double window = rate * rtt / (10 * 1448.0);
        trips = 2 + (window > 1 ? log2(window) : 0);
    }
    return trips * rtt;
}

/* Give idle slot r the back of the largest range still being received, split so that both
 * should end together; not when r could not start in time to help. 1 if r got work. */
static int steal(par *p, slot *r, int64_t now)
{
    slot *v = NULL;
    double r_v, r_s, lead_s, keep;
    int64_t left, split;
    int i;

    for (i = 0; i < p->cap; i++) {
        slot *c = &p->slots[i];
        if ((c->state == SLOT_RECEIVING || c->state == SLOT_STREAM) &&
            (!v || c->end - c->pos > v->end - v->pos))
            v = c;
    }
    r_s = connection_rate(p);
    if (!v || r_s <= 0)
        return 0;
    left = v->end - v->pos;
    r_v = slot_rate(p, v, now, r_s);
    lead_s = lead_time(p, r, r_s);
    /* keep / r_v == lead_s + (left - keep) / r_s */
    keep = r_v * (lead_s * r_s + (double)left) / (r_s + r_v);
    split = v->pos + (int64_t)keep;
    if (split < v->pos || v->end - split < max64(STEAL_MIN, (int64_t)(r_s * lead_s)))
        return 0; /* not worth a request */
    r->start = r->pos = r->flushed = split;
    r->end = v->end;
    r->attempts = 0;
    v->end = split; /* v stops there (on_range_write, or the stream loop) */
    return 1;
}

/* Give idle slot r a range: the next due one of the pool, else a steal. 1 if it got one. */
static int take_work(par *p, slot *r, int64_t now)
{
    int i;

    if (p->n_pool == 0 && reclaim_stream(p) < 0)
        return 0;
    for (i = 0; i < p->n_pool; i++) {
        span *sp = &p->pool[i];
        int64_t size;
        if (sp->due_ms > now)
            continue;
        size = chunk_size(p);
        if (sp->end - sp->start - size < p->chunk_floor / 2)
            size = sp->end - sp->start; /* no crumbs left behind */
        r->start = r->pos = r->flushed = sp->start;
        r->end = sp->start + size;
        r->attempts = sp->attempts;
        sp->start += size;
        if (sp->start == sp->end) {
            memmove(sp, sp + 1, (size_t)(p->n_pool - i - 1) * sizeof(span));
            p->n_pool--;
        }
        return 1;
    }
    if (p->n_pool > 0)
        return 0; /* what is left waits for its retry time */
    return steal(p, r, now);
}

/* Keep want slots busy: give idle ones work, those with an easy handle first (their connection
 * is open). */
static void fill(par *p, int64_t now)
{
    while (!p->failed && !p->fallback && busy(p) < p->want) {
        slot *r = NULL;
        int i;
        for (i = 0; i < p->cap; i++) {
            slot *c = &p->slots[i];
            if (c->state == SLOT_IDLE && (!r || (c->easy && !r->easy)))
                r = c;
        }
        if (!r || !take_work(p, r, now) || slot_ask(p, r) < 0)
            return;
    }
}

/* Slot 0, the stream, reached its end: take the range that follows it if nobody has (no new
 * request needed: its answer goes on). 1 if it did. */
static int stream_extend(par *p, slot *z)
{
    span *sp = p->n_pool ? &p->pool[0] : NULL;
    int64_t size;

    if (!sp || sp->start != z->end)
        return 0;
    size = chunk_size(p);
    if (sp->end - sp->start - size < p->chunk_floor / 2)
        size = sp->end - sp->start;
    z->end += size;
    sp->start += size;
    if (sp->start == sp->end) {
        memmove(sp, sp + 1, (size_t)(p->n_pool - 1) * sizeof(span));
        p->n_pool--;
    }
    return 1;
}

/* The server refused r's request (429/503) while others are receiving: it allows no more
 * connections than those. r's range goes back to the pool for them, and one more is tried only
 * after a hold, which doubles each time a probe is refused. A refusal of a request sent just
 * after we closed a connection may only mean that the server has not seen the close yet: that
 * request is made again a little later instead. */
static void refused(par *p, slot *r, int64_t now)
{
    int working = receiving(p, r);
    int64_t settle = max64(RZ_FETCH_STEP_MIN_MS, 2 * p->rtt_ms);
    long hold = p->hold_ms;

    r->attempts--; /* a refusal is not a failed attempt at these bytes */
    r->state = SLOT_IDLE;
    if (p->closed_ms && r->asked_ms >= p->closed_ms && r->asked_ms - p->closed_ms < settle) {
        p->closed_ms = 0; /* once per close */
        pool_put(p, r->pos, r->end, r->attempts, now + settle);
        return;
    }
    pool_put(p, r->pos, r->end, r->attempts, now);
    if (p->want > working)
        p->want = working;
    p->growing = 0;
    if (p->refused && r->asked_ms < p->refused_ms)
        return; /* one of a burst asked for together: the first refusal set the hold */
    p->limit = working;
    p->refused = 1;
    p->refused_ms = now;
    if ((long)r->retry_after * 1000 > hold)
        hold = (long)r->retry_after * 1000;
    p->hold_until_ms = now + hold;
    if (p->hold_ms < 16 * RZ_FETCH_REFUSAL_HOLD_MS)
        p->hold_ms *= 2;
}

/* A range transfer ended with rc (a CURLcode): done (the slot asks for more at once), refused,
 * retried later, fallen back, or failed. */
static void range_done(par *p, slot *r, CURLcode rc)
{
    int status_retry = !r->accepted && r->status >= 200; /* check_range left it to us */
    int64_t now = rz_now_ms();
    long wait;

    slot_unplug(p, r);
    if (p->fallback || p->failed)
        return;
    if (r->pos == r->end) { /* all of it (or all that is still ours after a steal) */
        r->state = SLOT_IDLE;
        if (rc != CURLE_OK) { /* stopped early on purpose: that connection is gone */
            curl_easy_cleanup(r->easy);
            r->easy = NULL;
            p->closed_ms = now;
        }
        if (busy(p) < p->want && take_work(p, r, now))
            slot_ask(p, r); /* the same handle: libcurl re-uses the connection */
        return;
    }
    if (!status_retry && rc != CURLE_OK && !rz_fetch_transient_curl_error(rc)) {
        set_fallback(p); /* something one connection may get right, or report better */
        return;
    }
    if (status_retry && (r->status == 429 || r->status == 503) && receiving(p, r) > 0) {
        refused(p, r, now);
        return;
    }
    if (r->attempts >= p->v.max_attempts) {
        p->failed = 1;
        if (status_retry) {
            p->err.http_status = r->status;
            rz_error_set(&p->err, r->status == 429 ? RZ_E_RATE_LIMIT : RZ_E_HTTP_STATUS,
                         "%s answered HTTP %ld to a range request (after retries)", p->v.shown_url,
                         r->status);
        } else if (rc == CURLE_OK) { /* a 206 shorter than asked, every time */
            rz_error_set(&p->err, RZ_E_DOWNLOAD,
                         "download of %s: its answers to a range ended at byte %lld, short of "
                         "%lld (after retries); try again",
                         p->v.shown_url, (long long)r->pos, (long long)r->end);
        } else {
            rz_error_set(&p->err, RZ_E_DOWNLOAD, "download of %s failed: %s (after retries)",
                         p->v.shown_url, r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc));
        }
        return;
    }
    /* Broken, cut short, or refused on the last connection: what is left is asked for again
     * from its last written byte, after a backoff. */
    wait = rz_fetch_backoff_ms(p->v.retry_base_ms, r->attempts);
    if ((long)r->retry_after * 1000 > wait)
        wait = (long)r->retry_after * 1000;
    if (rc != CURLE_OK) {
        curl_easy_cleanup(r->easy); /* its connection is broken */
        r->easy = NULL;
    }
    pool_put(p, r->pos, r->end, r->attempts, now + wait);
    r->state = SLOT_IDLE;
}

static void on_other_done(CURL *easy, CURLcode result, void *payload)
{
    par *p = payload;
    char *priv = NULL;

    if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv) != CURLE_OK || !priv) {
        curl_multi_remove_handle(p->multi, easy); /* not ours; cannot happen */
        return;
    }
    range_done(p, (slot *)(void *)priv, result);
}

/* ---- how many connections ------------------------------------------------------------------ */

/* A step: two round trips, the time a new connection takes to set up and start sending. The
 * connections already there are still in slow start then on a long path, so the rate keeps
 * growing and so does the count: overshooting costs little, undershooting a long path a lot. */
static int64_t step_ms(const par *p)
{
    return max64(RZ_FETCH_STEP_MIN_MS, 2 * p->rtt_ms);
}

/* Once a step: grow while the aggregate rate grows, settle when it does not, probe one more
 * after a refusal's hold. See fetch.h. */
static void step(par *p, int64_t now)
{
    double rate = rate_over(p, step_ms(p) / 2); /* its second half */
    int64_t left = p->v.total - p->written;
    int64_t min_left_ms = max64(RZ_FETCH_GROW_MIN_LEFT_MS, 8 * p->rtt_ms);
    int room = (int)min64(p->limit, max64(1, left / p->chunk_floor));
    int worth = rate > 0 && (double)left * 1000 / rate > (double)min_left_ms;

    p->next_step_ms = now + step_ms(p);
    if (rate <= 0)
        return;
    if (p->growing) {
        if (!worth || p->want >= room) {
            p->growing = 0;
        } else if (p->step_rate <= 0 || rate >= p->step_rate * (100 + RZ_FETCH_GROW_GAIN) / 100) {
            p->step_rate = rate;
            p->step_want = p->want;
            p->want = (int)min64(2 * (int64_t)p->want, room);
        } else {
            /* No gain: the count that carries what was measured, with a margin. */
            int n = (int)ceil(p->step_want * rate / p->step_rate * 1.25);
            p->want = n < p->step_want ? p->step_want : (n > p->want ? p->want : n);
            p->growing = 0;
        }
    } else if (p->refused && worth && now >= p->hold_until_ms && p->want == p->limit &&
               p->limit < p->cap && busy(p) == p->want && receiving(p, NULL) == p->want) {
        p->limit++; /* a probe: refused again, it costs one round trip */
        p->want++;
        p->hold_until_ms = now + p->hold_ms;
    }
}

/* Housekeeping at least every RZ_FETCH_TICK_MS: rates, the step, work for idle slots, hash,
 * progress. Nonzero: stop (fallback, failure or the caller's hook). */
static int on_tick(int64_t done, int64_t total, void *payload)
{
    par *p = payload;
    int64_t now = rz_now_ms();
    int at = p->hist_n % HISTORY;

    (void)done;
    (void)total;
    p->last_tick_ms = now;
    p->hist_ms[at] = now;
    p->hist_bytes[at] = p->written;
    p->hist_n++;
    if (!p->failed && !p->fallback && now >= p->next_step_ms)
        step(p, now);
    fill(p, now);
    if (!p->failed && !p->fallback)
        hash_prefix(p, now + HASH_TICK_MS);
    if (p->failed || p->fallback)
        return 1;
    if (p->progress && p->progress(p->written, p->v.total, p->payload) != 0)
        p->stopped = 1;
    return p->stopped;
}

/* ---- setting up and driving ------------------------------------------------------------------ */

/* The range requests' headers: the caller's (without credentials for another origin) and
 * If-Range. */
static int build_headers(par *p)
{
    const struct curl_slist *item = rz_stream_headers_for(p->s, p->range_url);
    char if_range[RZ_HTTP_VALUE_MAX + 16];
    struct curl_slist *more;

    for (; item; item = item->next) {
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
    for (i = 0; p->slots && i < p->cap; i++) {
        slot *r = &p->slots[i];
        if (r->easy) {
            slot_unplug(p, r);
            curl_easy_cleanup(r->easy);
        }
    }
    curl_slist_free_all(p->headers);
    free(p->range_url);
    free(p->buf);
    free(p->pool);
    free(p->slots);
    free(p);
}

/* Whether parallel mode applies to s's accepted answer; *out_cap the connections at most,
 * *out_min the smallest file that may use them. */
static int applies(const rz_stream_view *v, int *out_cap, int64_t *out_min)
{
    long long min = rz_env_ll("REMOTEZOO_PARALLEL_MIN_BYTES", RZ_FETCH_PARALLEL_MIN_BYTES, 1,
                              (long long)1 << 62);
    int n =
        (int)rz_env_ll("REMOTEZOO_CONNECTIONS", RZ_FETCH_CONNECTIONS, 1, RZ_FETCH_CONNECTIONS_MAX);

    *out_cap = n;
    *out_min = min;
    return n > 1 && v->status == 200 && v->total >= min && v->total >= n &&
           strcasecmp(v->accept_ranges, "bytes") == 0 && v->validator[0];
}

/* Our own loop once slot 0 is no longer the stream: drive the ranges until all are in. */
static int drive(par *p, rz_error *err)
{
    for (;;) {
        CURLMsg *msg;
        CURLMcode mc;
        int running = 0, left = 0;

        if (p->fallback || p->failed || (p->n_pool == 0 && busy(p) == 0))
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

/* Slot 0 streams connection #1's answer until its range is written (taking the ranges that
 * follow it while nobody else has), then the stream is halted. 0, or -1 with err set. */
static int stream_slot0(par *p, rz_error *err)
{
    slot *z = &p->slots[0];
    rz_error read_err;

    while (!p->failed && !p->fallback && (z->pos < z->end || stream_extend(p, z))) {
        const void *data = NULL;
        size_t len = 0, off = 0;
        rz_error_init(&read_err);
        if (rz_stream_read(p->s, &data, &len, &read_err) < 0) {
            if (!p->failed && !p->fallback) {
                *err = read_err;
                return -1;
            }
            break;
        }
        if (rz_stream_restarted(p->s) || len == 0) {
            set_fallback(p); /* a 200 to its resume, or too short: one connection it is */
            break;
        }
        while (off < len && !p->failed && (z->pos < z->end || stream_extend(p, z))) {
            size_t take =
                (int64_t)(len - off) < z->end - z->pos ? len - off : (size_t)(z->end - z->pos);
            if (slot_write(p, z, (const char *)data + off, take) < 0)
                break;
            off += take;
        }
    }
    rz_stream_halt(p->s); /* its connection closes; slot 0 asks for ranges like the others */
    p->closed_ms = rz_now_ms();
    z->state = SLOT_IDLE;
    if (!p->failed && !p->fallback && busy(p) < p->want && take_work(p, z, rz_now_ms()))
        slot_ask(p, z);
    return 0;
}

int rz_fetch_parallel(rz_stream *s, rz_writeback *wb, const char *tmp_path, rz_sha256 *hash,
                      const rz_fetch_opts *opts, int64_t *out_written, rz_error *err)
{
    rz_stream_view v;
    par *p = NULL;
    int64_t min = 0, now = rz_now_ms();
    int cap = 0, i, result = -1;

    *out_written = 0;
    rz_stream_view_get(s, &v);
    if (!applies(&v, &cap, &min))
        return RZ_PARALLEL_NOT_USED;
    if (!(p = calloc(1, sizeof(*p))) || !(p->slots = calloc((size_t)cap, sizeof(slot))))
        goto nomem;
    rz_error_init(&p->err);
    p->s = s;
    p->v = v;
    p->cap = p->limit = cap;
    if (!(p->range_url = strdup(rz_stream_effective_url(s))) ||
        (hash && !(p->buf = malloc(HASH_BUF))) || build_headers(p) < 0)
        goto nomem;
    p->multi = v.multi;
    p->wb = wb;
    p->fd = wb->fd;
    p->tmp = tmp_path;
    p->hash = hash;
    p->progress = opts ? opts->progress : NULL;
    p->payload = opts ? opts->payload : NULL;
    p->chunk_floor = min64(RZ_FETCH_CHUNK_MIN, max64(1, min / RZ_FETCH_CONNECTIONS_START));
    p->rtt_ms = v.rtt_ms > 0 ? v.rtt_ms : 0;
    p->hold_ms = RZ_FETCH_REFUSAL_HOLD_MS;
    p->growing = 1;
    p->want = 1;
    p->last_tick_ms = now;
    p->next_step_ms = now + step_ms(p);
    p->hist_ms[0] = now;
    p->hist_n = 1;
    for (i = 0; i < cap; i++)
        p->slots[i].p = p;
    p->slots[0].state = SLOT_STREAM; /* all of the file, until others join */
    p->slots[0].end = v.total;
    p->slots[0].since_ms = now;
    if (v.total >= RZ_FETCH_PARALLEL_EARLY * min) /* big enough to start ranges at once */
        p->want = cap < RZ_FETCH_CONNECTIONS_START ? cap : RZ_FETCH_CONNECTIONS_START;
    rz_stream_hooks(s, on_tick, on_other_done, p);
    fill(p, now);

    if (stream_slot0(p, err) < 0)
        goto done;
    if (!p->failed && !p->fallback && drive(p, err) < 0)
        goto done;
    if (!p->failed && !p->fallback)
        hash_prefix(p, 0); /* what is left; read back from the page cache */
    if (!p->failed && !p->fallback &&
        (p->written != v.total || p->hashed != (hash ? v.total : 0))) {
        /* Cannot happen: every byte is written, in the pool or in a slot's range. */
        rz_error_set(&p->err, RZ_E_DOWNLOAD, "download of %s holds %lld of %lld bytes; try again",
                     v.shown_url, (long long)p->written, (long long)v.total);
        p->failed = 1;
    }
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
