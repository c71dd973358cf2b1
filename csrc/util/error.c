/* error.c - see error.h. */
#include "util/error.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rz_error_init(rz_error *err)
{
    memset(err, 0, sizeof(*err));
}

static void copy_truncated(char *dst, size_t dstlen, const char *src)
{
    snprintf(dst, dstlen, "%s", src ? src : "");
}

/* Messages are one line whatever the names they quote hold (a manifest's base_name may carry a
 * raw newline, an archive entry an escape sequence): ASCII control characters become '?', and so
 * do the bytes of the UTF-8 C1 controls (U+0080..U+009F: U+009B is CSI to many terminals), of
 * the line separators (U+2028, U+2029) and of the bidirectional marks and overrides (U+200E,
 * U+200F, U+202A..U+202E, U+2066..U+2069), which can hide or reorder text. The same set as
 * remotezoo/_log.py's shown(). */
static void one_line(char *message)
{
    unsigned char *p = (unsigned char *)message;

    while (*p) {
        size_t n = 0;
        if (*p < 0x20 || *p == 0x7f)
            n = 1;
        else if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
            n = 2;
        else if (p[0] == 0xe2 && ((p[1] == 0x80 && ((p[2] >= 0xa8 && p[2] <= 0xae) ||
                                                    p[2] == 0x8e || p[2] == 0x8f)) ||
                                  (p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9)))
            n = 3;
        if (n == 0) {
            p++;
            continue;
        }
        memset(p, '?', n);
        p += n;
    }
}

/* What is kept of text for a message or an attribute: every URL in it redacted (rz_redact_text)
 * and, for messages, on one line. dst and src may be the same buffer. */
static void shown(char *dst, size_t dstlen, const char *src)
{
    char redacted[RZ_PATH_MAX];

    rz_redact_text(redacted, sizeof(redacted), src ? src : ""); /* a cut is fine: dst cuts too */
    snprintf(dst, dstlen, "%s", redacted);
}

void rz_error_vformat(char *out, size_t outlen, const char *fmt, va_list ap)
{
    vsnprintf(out, outlen, fmt, ap);
    shown(out, outlen, out);
    one_line(out);
}

int rz_error_vset(rz_error *err, rz_errkind kind, const char *fmt, va_list ap)
{
    if (!err || err->kind != RZ_E_NONE)
        return -1;
    err->kind = kind;
    rz_error_vformat(err->message, sizeof(err->message), fmt, ap);
    return -1;
}

int rz_error_set(rz_error *err, rz_errkind kind, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    rz_error_vset(err, kind, fmt, ap);
    va_end(ap);
    return -1;
}

int rz_error_os(rz_error *err, int errnum, const char *path, const char *fmt, ...)
{
    va_list ap;
    size_t used;

    if (!err || err->kind != RZ_E_NONE)
        return -1;
    err->kind = RZ_E_OS;
    err->sys_errno = errnum;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    used = strlen(err->message);
    snprintf(err->message + used, sizeof(err->message) - used, ": %s", strerror(errnum));
    shown(err->message, sizeof(err->message), err->message);
    one_line(err->message);
    if (path)
        shown(err->path, sizeof(err->path), path);
    return -1;
}

/* Fill the field of err (size bytes) with value unless err is not set, the field is filled
 * (the innermost context wins) or value is NULL; shown: redacted, as messages are. */
static void attach(const rz_error *err, char *field, size_t size, const char *value, int redacted)
{
    if (err->kind == RZ_E_NONE || field[0] != '\0' || !value)
        return;
    if (redacted)
        shown(field, size, value);
    else
        copy_truncated(field, size, value);
}

void rz_error_attach_url(rz_error *err, const char *url)
{
    if (err && err->kind != RZ_E_NONE && err->url[0] == '\0' && url)
        rz_redact_url(err->url, sizeof(err->url), url);
}

void rz_error_attach_field(rz_error *err, const char *field)
{
    if (err)
        attach(err, err->field, sizeof(err->field), field, 0);
}

void rz_error_attach_model(rz_error *err, const char *model)
{
    if (err)
        attach(err, err->model, sizeof(err->model), model, 0);
}

/* A source (its spec or identity) or a path may be a URL: kept redacted, as messages are. */
void rz_error_attach_source(rz_error *err, const char *source)
{
    if (err)
        attach(err, err->source, sizeof(err->source), source, 1);
}

void rz_error_attach_path(rz_error *err, const char *path)
{
    if (err)
        attach(err, err->path, sizeof(err->path), path, 1);
}

/* Appends src[0..n) to out at *pos; returns -1 once out is full. */
static int append(char *out, size_t outlen, size_t *pos, const char *src, size_t n)
{
    if (*pos + n >= outlen) {
        n = outlen - 1 - *pos;
        memcpy(out + *pos, src, n);
        *pos += n;
        out[*pos] = '\0';
        return -1;
    }
    memcpy(out + *pos, src, n);
    *pos += n;
    out[*pos] = '\0';
    return 0;
}

/* 1 if s[0..n) is a host with an optional port as a URL's authority has it: a bracketed IPv6
 * address or letters, digits and "-._~%", then ":" and at least one digit. */
static int is_host_port(const char *s, size_t n)
{
    size_t i = 0;

    if (n > 0 && s[0] == '[') {
        while (i < n && s[i] != ']')
            i++;
        if (i == n)
            return 0;
        i++;
    } else {
        while (i < n && (isalnum((unsigned char)s[i]) || strchr("-._~%", s[i])))
            i++;
        if (i == 0)
            return 0;
    }
    if (i == n)
        return 1;
    if (s[i++] != ':' || i == n)
        return 0;
    while (i < n && isdigit((unsigned char)s[i]))
        i++;
    return i == n;
}

/* The '@' that ends the userinfo of the URL whose authority starts at authority (url[0..len)
 * ends at end), or NULL when there is none. The RFC's authority ends at the first '/', '?' or
 * '#', and its last '@' ends the userinfo. A password holding an unencoded '/', '?' or '#'
 * ("user:pa?ss@host") ends that authority early: then an authority of the form "user:pass"
 * that is no host[:port] (curl refuses such a URL) with an '@' further on is a userinfo up to
 * the last '@' that is followed by a host[:port]. A host:port is one, as curl reads it. */
static const char *userinfo_end(const char *authority, const char *end)
{
    const char *auth_end = authority, *p, *at = NULL;

    while (auth_end < end && !strchr("/?#", *auth_end))
        auth_end++;
    for (p = authority; p < auth_end; p++)
        if (*p == '@')
            at = p;
    if (at || !memchr(authority, ':', (size_t)(auth_end - authority)) ||
        is_host_port(authority, (size_t)(auth_end - authority)))
        return at; /* no "user:password" shape: a path may hold '@' (x@1.0.zip) */
    for (p = end; p-- > auth_end;) {
        const char *host = p + 1, *host_end = host;
        if (*p != '@')
            continue;
        while (host_end < end && !strchr("/?#", *host_end))
            host_end++;
        if (!at)
            at = p; /* no host follows any: the last '@' */
        if (is_host_port(host, (size_t)(host_end - host)))
            return p;
    }
    return at;
}

const char *rz_url_userinfo_end(const char *url)
{
    const char *scheme_end = strstr(url, "://");

    return userinfo_end(scheme_end ? scheme_end + 3 : url, url + strlen(url));
}

/* "k=v&k2" with every value replaced by REDACTED, appended to out at *pos. */
static int redact_params(char *out, size_t outlen, size_t *pos, const char *p, const char *end)
{
    while (p < end) {
        const char *param_end = p, *eq = NULL;
        while (param_end < end && *param_end != '&') {
            if (*param_end == '=' && !eq)
                eq = param_end;
            param_end++;
        }
        if (eq) {
            if (append(out, outlen, pos, p, (size_t)(eq - p) + 1) < 0 ||
                append(out, outlen, pos, "REDACTED", 8) < 0)
                return -1;
        } else if (append(out, outlen, pos, p, (size_t)(param_end - p)) < 0) {
            return -1;
        }
        p = param_end;
        if (p < end && append(out, outlen, pos, p++, 1) < 0)
            return -1;
    }
    return 0;
}

/* url[0..len) redacted, appended to out at *pos. */
static int redact_url_n(char *out, size_t outlen, size_t *pos, const char *url, size_t len)
{
    const char *end = url + len, *authority = url, *at, *query, *fragment, *p;

    for (p = url; p + 2 < end; p++)
        if (p[0] == ':' && p[1] == '/' && p[2] == '/') {
            authority = p + 3;
            break;
        }
    if (append(out, outlen, pos, url, (size_t)(authority - url)) < 0)
        return -1;
    at = userinfo_end(authority, end);
    if (at)
        authority = at + 1;
    query = memchr(authority, '?', (size_t)(end - authority));
    fragment = memchr(authority, '#', (size_t)(end - authority));
    if (query && fragment && fragment < query)
        query = NULL; /* a '?' inside the fragment */
    p = query ? query : fragment ? fragment : end;
    if (append(out, outlen, pos, authority, (size_t)(p - authority)) < 0)
        return -1;
    if (query) {
        const char *query_end = fragment ? fragment : end;
        if (append(out, outlen, pos, "?", 1) < 0 ||
            redact_params(out, outlen, pos, query + 1, query_end) < 0)
            return -1;
    }
    /* A fragment never reaches a server, but "#access_token=..." is a token all the same. */
    if (fragment && (append(out, outlen, pos, "#", 1) < 0 ||
                     redact_params(out, outlen, pos, fragment + 1, end) < 0))
        return -1;
    return 0;
}

int rz_redact_url(char *out, size_t outlen, const char *url)
{
    size_t pos = 0;

    if (outlen == 0)
        return -1;
    out[0] = '\0';
    return redact_url_n(out, outlen, &pos, url, strlen(url));
}

/* Length of the scheme ("https") that ends at text[i] == ':' followed by "//", or 0. */
static size_t scheme_before(const char *text, size_t i)
{
    size_t start = i;

    if (strncmp(text + i, "://", 3) != 0)
        return 0;
    while (start > 0 && (isalnum((unsigned char)text[start - 1]) || strchr("+.-", text[start - 1])))
        start--;
    while (start < i && !isalpha((unsigned char)text[start]))
        start++; /* a scheme starts with a letter */
    return i - start;
}

int rz_redact_text(char *out, size_t outlen, const char *text)
{
    /* The copy is built aside: out may be text itself. */
    char *copy = NULL, local[RZ_PATH_MAX];
    size_t len = strlen(text), pos = 0, done = 0, i;
    int rc = 0;

    if (outlen == 0)
        return -1;
    copy = len < sizeof(local) ? local : malloc(len + 1);
    if (!copy) {
        out[0] = '\0'; /* out of memory: show nothing rather than a secret */
        return -1;
    }
    memcpy(copy, text, len + 1);
    out[0] = '\0';
    for (i = 0; i < len && rc == 0; i++) {
        size_t scheme = copy[i] == ':' ? scheme_before(copy, i) : 0, url_end;
        if (scheme == 0)
            continue;
        url_end = i + 3;
        while (url_end < len && !strchr(" \t\r\n<>`", copy[url_end]))
            url_end++;
        /* Punctuation that ends a sentence or a quotation ends the URL ("of <url>: reason",
         * "spec '<url>' is"); a quote inside stays in it (a password may hold one). */
        while (url_end > i + 3 && strchr(":,;.)'\"", copy[url_end - 1]))
            url_end--;
        rc = append(out, outlen, &pos, copy + done, i - scheme - done);
        if (rc == 0)
            rc = redact_url_n(out, outlen, &pos, copy + i - scheme, url_end - (i - scheme));
        done = url_end;
        i = url_end - 1;
    }
    if (rc == 0)
        rc = append(out, outlen, &pos, copy + done, len - done);
    if (copy != local)
        free(copy);
    return rc;
}
