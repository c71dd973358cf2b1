/* buf.c - see buf.h. */
#include "util/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIRST_ALLOC 64

void rz_buf_free(rz_buf *b)
{
    free(b->ptr);
    b->ptr = NULL;
    b->len = b->alloc = 0;
}

/* The error of a string past b's cap. Its text is not quoted: a buffer may hold a secret. */
static int too_long(rz_buf *b, rz_error *err)
{
    rz_error_set(err, b->kind, "%s is too long (over %zu bytes)", b->what, b->cap);
    rz_buf_free(b);
    return -1;
}

/* Make room for n more bytes and the NUL (n fits the cap). */
static int grow(rz_buf *b, size_t n, rz_error *err)
{
    size_t need, alloc;
    char *bigger;

    need = b->len + n + 1;
    if (need <= b->alloc)
        return 0;
    alloc = b->alloc ? b->alloc : FIRST_ALLOC;
    while (alloc < need)
        alloc = alloc > (b->cap + 1) / 2 ? b->cap + 1 : alloc * 2;
    if (!(bigger = realloc(b->ptr, alloc))) {
        rz_buf_free(b);
        return rz_error_set(err, RZ_E_NOMEM, "out of memory");
    }
    b->ptr = bigger;
    b->alloc = alloc;
    return 0;
}

int rz_buf_add(rz_buf *b, const void *mem, size_t n, rz_error *err)
{
    if (n > b->cap - b->len)
        return too_long(b, err);
    if (grow(b, n, err) < 0)
        return -1;
    if (n)
        memcpy(b->ptr + b->len, mem, n);
    b->len += n;
    b->ptr[b->len] = '\0';
    return 0;
}

int rz_buf_adds(rz_buf *b, const char *s, rz_error *err)
{
    return rz_buf_add(b, s, strlen(s), err);
}

int rz_buf_vaddf(rz_buf *b, rz_error *err, const char *fmt, va_list ap)
{
    va_list again;
    int n;

    va_copy(again, ap);
    n = vsnprintf(NULL, 0, fmt, again);
    va_end(again);
    if (n < 0) {
        rz_buf_free(b);
        return rz_error_set(err, RZ_E_INVALID, "cannot format %s", b->what);
    }
    if ((size_t)n > b->cap - b->len)
        return too_long(b, err);
    if (grow(b, (size_t)n, err) < 0)
        return -1;
    vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int rz_buf_addf(rz_buf *b, rz_error *err, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = rz_buf_vaddf(b, err, fmt, ap);
    va_end(ap);
    return rc;
}

void rz_buf_truncate(rz_buf *b, size_t len)
{
    if (len < b->len) {
        b->len = len;
        b->ptr[len] = '\0';
    }
}

const char *rz_buf_str(const rz_buf *b)
{
    return b->ptr ? b->ptr : "";
}

char *rz_buf_take(rz_buf *b, rz_error *err)
{
    char *s;

    if (!b->ptr && rz_buf_add(b, "", 0, err) < 0)
        return NULL;
    s = b->ptr;
    b->ptr = NULL;
    b->len = b->alloc = 0;
    return s;
}

char *rz_path(rz_error *err, const char *fmt, ...)
{
    va_list ap;
    char *path;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        rz_error_set(err, RZ_E_INVALID, "cannot format path");
        return NULL;
    }
    if (n >= RZ_PATH_MAX) { /* a path is shown in errors: its start says which */
        char start[201];
        va_start(ap, fmt);
        vsnprintf(start, sizeof(start), fmt, ap);
        va_end(ap);
        rz_error_set(err, RZ_E_INVALID, "path too long (over %d bytes): %s...", RZ_PATH_MAX - 1,
                     start);
        return NULL;
    }
    if (!(path = malloc((size_t)n + 1))) {
        rz_error_set(err, RZ_E_NOMEM, "out of memory");
        return NULL;
    }
    va_start(ap, fmt);
    vsnprintf(path, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return path;
}
