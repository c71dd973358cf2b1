/* error.h - the one error idiom of the C core.
 *
 * Every fallible function of the plain-C files returns 0 on success or -1 on failure, and on
 * failure fills the caller's rz_error exactly once (the first message set wins; later calls to
 * rz_error_set on an already-set error are no-ops, so a low-level message is never overwritten
 * by a vaguer one further up). The glue turns an rz_error into a Python exception
 * (py/py_error.h, rz_py_raise). Nothing here knows about Python.
 */
#ifndef RZ_ERROR_H
#define RZ_ERROR_H

#include <stdarg.h>
#include <stddef.h>

typedef enum rz_errkind {
    RZ_E_NONE = 0,
    RZ_E_NOMEM,           /* MemoryError */
    RZ_E_OS,              /* OSError; sys_errno and path are set */
    RZ_E_INVALID,         /* ValueError / TypeError from bad arguments */
    RZ_E_SOURCE,          /* SourceError */
    RZ_E_MANIFEST,        /* ManifestError; field and model name what is at fault */
    RZ_E_MODEL_NOT_FOUND, /* ModelNotFoundError */
    RZ_E_DOWNLOAD,        /* DownloadError; url is set, credentials removed */
    RZ_E_HTTP_STATUS,     /* HTTPStatusError; http_status is set */
    RZ_E_RATE_LIMIT,      /* RateLimitError */
    RZ_E_CHECKSUM,        /* ChecksumError: sha256 mismatch */
    RZ_E_OFFLINE,         /* OfflineError: REMOTEZOO_OFFLINE forbids the network */
    RZ_E_ARCHIVE,         /* ArchiveError */
    RZ_E_UNSAFE_ARCHIVE,  /* UnsafeArchiveError; path names the entry */
    RZ_E_REQUIREMENTS,    /* RequirementsError */
    RZ_E_CALLBACK,        /* a callback (the glue's) asked to stop; the glue knows why */
} rz_errkind;

/* The longest path remotezoo makes or accepts, terminator included (Linux's PATH_MAX): the one
 * spelling of a path's size. Paths themselves live on the heap (util/buf.h, rz_path). */
#define RZ_PATH_MAX 4096

#define RZ_ERR_MSG_MAX  1024
#define RZ_ERR_URL_MAX  2048
#define RZ_ERR_NAME_MAX 512

typedef struct rz_error {
    rz_errkind kind;
    int sys_errno;                /* errno for RZ_E_OS, else 0 */
    long http_status;             /* last HTTP status seen, or 0 */
    char message[RZ_ERR_MSG_MAX]; /* one line, for the user */
    char url[RZ_ERR_URL_MAX];     /* the URL at fault, already redacted, or "" */
    char path[RZ_PATH_MAX];       /* the file or archive entry at fault, or "" */
    char field[RZ_ERR_NAME_MAX];  /* the manifest field at fault, or "" */
    char model[RZ_ERR_NAME_MAX];  /* the model at fault, or "" */
    char source[RZ_ERR_NAME_MAX]; /* the source at fault, or "" */
} rz_error;

/* Clear err to "no error". Call before handing it to a function. */
void rz_error_init(rz_error *err);

/* Set kind and a printf-style message unless err is already set. Always returns -1, so a
 * failing function can `return rz_error_set(...)` or `rz_error_set(...); goto fail;`. err may be
 * NULL (here and in rz_error_os) where a caller wants only the -1 (best-effort cleanup). */
int rz_error_set(rz_error *err, rz_errkind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* rz_error_set with a va_list, for functions that take a format of their own. */
int rz_error_vset(rz_error *err, rz_errkind kind, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Format a message into out (outlen bytes) as rz_error_set does: printf-style, every URL
 * redacted, on one line. For the texts the core shows that are no error (a note). */
void rz_error_vformat(char *out, size_t outlen, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* As rz_error_set with RZ_E_OS: appends ": <strerror(errnum)>" and records errnum and path.
 * path may be NULL. */
int rz_error_os(rz_error *err, int errnum, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Attach context to an error that is set (no-op otherwise, or for a NULL err, and never
 * overwrites a field that is already filled, so the innermost context wins). Strings are copied
 * and truncated. */
void rz_error_attach_url(rz_error *err, const char *url); /* redacts credentials first */
void rz_error_attach_path(rz_error *err, const char *path);
void rz_error_attach_field(rz_error *err, const char *field);
void rz_error_attach_model(rz_error *err, const char *model);
void rz_error_attach_source(rz_error *err, const char *source);

/* Copy url into out (size outlen, always NUL-terminated) without what may carry a secret:
 * the user:password@ part is removed and every query or fragment parameter value becomes
 * "REDACTED" (signed CDN and codeload URLs carry tokens there). A password holding an
 * unencoded '/', '?' or '#' is recognised when the text before it cannot be a host[:port]
 * (curl refuses such URLs); "user:123/x@host" reads as host "user", port 123, as curl reads it.
 * Returns 0, or -1 if truncated. */
int rz_redact_url(char *out, size_t outlen, const char *url);

/* The '@' that ends the user[:password] part of url, as rz_redact_url finds it, or NULL. */
const char *rz_url_userinfo_end(const char *url);

/* Copy text into out (out may be text) with every URL in it ("scheme://..." up to a space or
 * angle bracket, less the punctuation or quote that ends it) redacted as rz_redact_url does: the
 * one redaction of every message, attribute, log line and CLI output (remotezoo._core.redact).
 * Returns 0, or -1 if truncated. Every message set through rz_error_set / rz_error_os and every
 * source and path attached is passed through it, so no C error carries a credential whichever file
 * formatted it. */
int rz_redact_text(char *out, size_t outlen, const char *text);

#endif
