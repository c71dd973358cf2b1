/* error.c - see error.h. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
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
 * raw newline, an archive entry an escape sequence): ASCII control characters become '?'. */
static void one_line(char *message)
{
    for (unsigned char *p = (unsigned char *)message; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            *p = '?';
}

int rz_error_set(rz_error *err, rz_errkind kind, const char *fmt, ...)
{
    va_list ap;

    if (err->kind != RZ_E_NONE)
        return -1;
    err->kind = kind;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    one_line(err->message);
    return -1;
}

int rz_error_os(rz_error *err, int errnum, const char *path, const char *fmt, ...)
{
    va_list ap;
    size_t used;

    if (err->kind != RZ_E_NONE)
        return -1;
    err->kind = RZ_E_OS;
    err->sys_errno = errnum;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    used = strlen(err->message);
    snprintf(err->message + used, sizeof(err->message) - used, ": %s", strerror(errnum));
    one_line(err->message);
    if (path)
        copy_truncated(err->path, sizeof(err->path), path);
    return -1;
}

void rz_error_attach_url(rz_error *err, const char *url)
{
    if (err->kind != RZ_E_NONE && err->url[0] == '\0' && url)
        rz_redact_url(err->url, sizeof(err->url), url);
}

#define RZ_DEFINE_ATTACH(fn, member)                                                               \
    void fn(rz_error *err, const char *value)                                                      \
    {                                                                                              \
        if (err->kind != RZ_E_NONE && err->member[0] == '\0' && value)                             \
            copy_truncated(err->member, sizeof(err->member), value);                               \
    }

RZ_DEFINE_ATTACH(rz_error_attach_path, path)
RZ_DEFINE_ATTACH(rz_error_attach_field, field)
RZ_DEFINE_ATTACH(rz_error_attach_model, model)
RZ_DEFINE_ATTACH(rz_error_attach_source, source)

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

int rz_redact_url(char *out, size_t outlen, const char *url)
{
    const char *scheme_end, *authority, *authority_end, *at, *query, *p;
    size_t pos = 0;

    if (outlen == 0)
        return -1;
    out[0] = '\0';
    scheme_end = strstr(url, "://");
    authority = scheme_end ? scheme_end + 3 : url;
    authority_end = authority + strcspn(authority, "/?#");
    if (append(out, outlen, &pos, url, (size_t)(authority - url)) < 0)
        return -1;
    /* The last '@' of the authority ends the userinfo; drop everything before it. */
    at = NULL;
    for (p = authority; p < authority_end; p++)
        if (*p == '@')
            at = p;
    if (at)
        authority = at + 1;
    query = strchr(authority, '?');
    if (!query)
        return append(out, outlen, &pos, authority, strlen(authority));
    if (append(out, outlen, &pos, authority, (size_t)(query - authority) + 1) < 0)
        return -1;
    p = query + 1;
    while (*p && *p != '#') {
        size_t param_len = strcspn(p, "&#");
        const char *eq = memchr(p, '=', param_len);
        if (eq) {
            if (append(out, outlen, &pos, p, (size_t)(eq - p) + 1) < 0 ||
                append(out, outlen, &pos, "REDACTED", 8) < 0)
                return -1;
        } else if (append(out, outlen, &pos, p, param_len) < 0) {
            return -1;
        }
        p += param_len;
        if (*p == '&') {
            if (append(out, outlen, &pos, "&", 1) < 0)
                return -1;
            p++;
        }
    }
    return 0;
}
