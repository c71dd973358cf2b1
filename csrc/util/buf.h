/* buf.h - the one growable buffer: a NUL-terminated string with a hard cap, after curl's dynbuf
 * (docs/internals/DYNBUF.md), for the texts remotezoo builds (a normalised spec, registry.names,
 * an API answer); and rz_path, a path on the heap (never a 4 KB array on the stack).
 *
 * A buffer starts empty (RZ_BUF_INIT) with its cap, the error kind a string
 * that would outgrow it is, and what names it in that error (which never quotes the text: it
 * may hold a secret). An add that fails (out of memory,
 * or past the cap) sets err (which may be NULL: rz_error_set) and frees the buffer: it is empty
 * again, and freeing it again is fine. Nothing here is ever truncated.
 */
#ifndef RZ_BUF_H
#define RZ_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "util/error.h"

typedef struct rz_buf {
    char *ptr;        /* owned: the string, NUL-terminated; NULL while empty */
    size_t len;       /* bytes before the NUL */
    size_t alloc;     /* bytes allocated */
    size_t cap;       /* the most len may become */
    rz_errkind kind;  /* what a string past cap is: RZ_E_INVALID for a path, ... */
    const char *what; /* static: names the string in that error ("path", "source spec") */
} rz_buf;

#define RZ_BUF_INIT(cap, kind, what)                                                               \
    {                                                                                              \
        NULL, 0, 0, (cap), (kind), (what)                                                          \
    }

/* Append n bytes of mem; 0, or -1 with err set (and b freed). */
int rz_buf_add(rz_buf *b, const void *mem, size_t n, rz_error *err);

/* Append the string s. */
int rz_buf_adds(rz_buf *b, const char *s, rz_error *err);

/* Append printf-style. */
int rz_buf_addf(rz_buf *b, rz_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int rz_buf_vaddf(rz_buf *b, rz_error *err, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Cut the string to its first len bytes (len <= b->len). */
void rz_buf_truncate(rz_buf *b, size_t len);

/* The string: "" while empty. Borrowed from b, valid until b changes. */
const char *rz_buf_str(const rz_buf *b);

/* Hand the string over (caller frees with free(); "" when empty, never NULL on success); b is
 * empty after. -1 only when out of memory for an empty string. */
char *rz_buf_take(rz_buf *b, rz_error *err);

/* Free the string; b is empty (its cap, kind and name stay). */
void rz_buf_free(rz_buf *b);

/* A path on the heap, formatted printf-style: at most RZ_PATH_MAX - 1 bytes, else an
 * RZ_E_INVALID "path too long" error quoting its start, never a shorter path. Caller frees with
 * free(); NULL with err set on failure. */
char *rz_path(rz_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
