/* spec.c - see spec.h. */
#include "core/spec.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/env.h"

/* Cap of every string built here (cwd + spec, %XX-encoded, fits). */
#define RZ_SPEC_OUT_MAX (8 * RZ_SPEC_MAX_LEN)
#define RZ_HOST_MAX     253
#define RZ_USER_MAX     39
#define RZ_REPO_MAX     100
#define RZ_REF_MAX      255
#define RZ_SHA_MIN      4
#define RZ_SHA_MAX      64
#define RZ_SLUG_MAX     64
#define RZ_SLUG_HEX     12
#define RZ_QUOTE_MAX    160 /* bytes of user text quoted in a message */

#define RZ_DEFAULT_SERVER "https://github.com"

#define RZ_SPEC_FORMS                                                                              \
    "https://github.com/<user>/<repo>[/tree/<ref>|/commit/<sha>], <user>/<repo>[/<ref>], an "      \
    "http(s) URL of a .zip, .tar, .tar.gz, .tgz, .tar.bz2, .tbz, .tar.xz, .tar.zst, .7z or .rar "  \
    "archive, or a "                                                                               \
    "local directory (/abs/path, ./rel/path, ~/path or file:///abs/path)"

/* ---- ASCII helpers (locale-independent) ---- */

static int is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int is_alnum(int c)
{
    return is_alpha(c) || is_digit(c);
}

static int is_hex(int c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int hex_value(int c)
{
    if (is_digit(c))
        return c - '0';
    return (c | 0x20) - 'a' + 10;
}

static int to_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

static int is_ctl(int c)
{
    return (c >= 0 && c < 0x20) || c == 0x7f;
}

static int is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Case-insensitive (ASCII) comparison of s[0..n) with the NUL-terminated lit. */
static int equals_nocase(const char *s, size_t n, const char *lit)
{
    size_t i;

    if (strlen(lit) != n)
        return 0;
    for (i = 0; i < n; i++)
        if (to_lower((unsigned char)s[i]) != to_lower((unsigned char)lit[i]))
            return 0;
    return 1;
}

static int ends_with_nocase(const char *s, size_t n, const char *suffix)
{
    size_t m = strlen(suffix);
    return n >= m && equals_nocase(s + n - m, m, suffix);
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- the strings built here: util/buf.h, with the spec's own cap and error ---- */

#define SPEC_BUF RZ_BUF_INIT(RZ_SPEC_OUT_MAX, RZ_E_SOURCE, "the normalised source spec")

/* Appends s[0..n) with each byte of `escape` written as %XX. */
static int add_escaped(rz_buf *b, const char *s, size_t n, const char *escape, rz_error *err)
{
    size_t i, start = 0;

    for (i = 0; i < n; i++) {
        if (!strchr(escape, s[i]) || s[i] == '\0')
            continue;
        if (rz_buf_add(b, s + start, i - start, err) < 0 ||
            rz_buf_addf(b, err, "%%%02X", (unsigned char)s[i]) < 0)
            return -1;
        start = i + 1;
    }
    return rz_buf_add(b, s + start, n - start, err);
}

static char *dup_lower(const char *s, size_t n, rz_error *err)
{
    char *out = malloc(n + 1);
    size_t i;

    if (!out) {
        rz_error_set(err, RZ_E_NOMEM, "out of memory parsing a source spec");
        return NULL;
    }
    for (i = 0; i < n; i++)
        out[i] = (char)to_lower((unsigned char)s[i]);
    out[n] = '\0';
    return out;
}

static char *dup_n(const char *s, size_t n, rz_error *err)
{
    char *out = malloc(n + 1);

    if (!out) {
        rz_error_set(err, RZ_E_NOMEM, "out of memory parsing a source spec");
        return NULL;
    }
    memcpy(out, s, n);
    out[n] = '\0';
    return out;
}

/* ---- messages ---- */

/* Copies s[0..n) into out for a one-line message: control characters as \xNN, cut after
 * RZ_QUOTE_MAX bytes at a UTF-8 character boundary with "...". out needs 16 more bytes. */
static void quote(char *out, size_t outlen, const char *s, size_t n)
{
    size_t pos = 0, i;

    assert(outlen >= RZ_QUOTE_MAX + 16);
    for (i = 0; i < n && s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        /* Past the cap, finish the character at hand: at most 3 continuation bytes (a longer
         * run is not UTF-8 and must not run past out). */
        if (pos >= RZ_QUOTE_MAX && ((c & 0xC0) != 0x80 || pos >= RZ_QUOTE_MAX + 3)) {
            memcpy(out + pos, "...", 3);
            pos += 3;
            break;
        }
        if (is_ctl(c)) {
            snprintf(out + pos, outlen - pos, "\\x%02x", c);
            pos += 4;
        } else {
            out[pos++] = (char)c;
        }
    }
    out[pos] = '\0';
}

/* The spec for a message: credentials and query values removed, then quoted. */
static void quote_spec(char *out, size_t outlen, const char *spec)
{
    char redacted[2 * RZ_QUOTE_MAX + 64];

    rz_redact_url(redacted, sizeof(redacted), spec); /* truncation is fine: quote() cuts */
    quote(out, outlen, redacted, strlen(redacted));
}

/* ---- the parser ---- */

typedef struct server {
    char *base;                 /* owned: "scheme://host[:port][/prefix]", normalised */
    char host[RZ_HOST_MAX + 3]; /* lowercase; [v6] keeps its brackets */
    char port[8];               /* "" when default */
    size_t prefix_off;          /* base + prefix_off is the path prefix, "" or "/a/b" */
} server;

typedef struct parser {
    const char *spec; /* borrowed: as the caller gave it, for messages */
    rz_error *err;    /* borrowed */
    server srv;
    const char *cwd;  /* borrowed; NULL = getcwd() */
    const char *home; /* borrowed; NULL = unknown */
} parser;

/* Sets the one error of a malformed spec: "source spec '<spec>' is not valid: <reason>;
 * accepted forms: ...". Returns -1. */
static int invalid(parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int invalid(parser *ps, const char *fmt, ...)
{
    char shown[RZ_QUOTE_MAX + 16], reason[320];
    va_list ap;

    quote_spec(shown, sizeof(shown), ps->spec);
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    rz_error_set(ps->err, RZ_E_SOURCE, "source spec '%s' is not valid: %s; accepted forms: %s",
                 shown, reason, RZ_SPEC_FORMS);
    rz_error_attach_source(ps->err, shown);
    return -1;
}

static int credentials(parser *ps)
{
    char shown[RZ_QUOTE_MAX + 16];

    quote_spec(shown, sizeof(shown), ps->spec);
    rz_error_set(ps->err, RZ_E_SOURCE,
                 "source spec '%s' has credentials in the URL; put tokens in GITHUB_TOKEN, not "
                 "in the URL",
                 shown);
    rz_error_attach_source(ps->err, shown);
    return -1;
}

/* The parts of an http(s) URL. Pointers are borrowed from the URL. */
typedef struct url_parts {
    char scheme[8];             /* "http" or "https" */
    int has_userinfo;           /* user[:password]@ was present (the parse stops there) */
    char host[RZ_HOST_MAX + 3]; /* lowercase */
    char port[8];               /* decimal, "" when absent or the scheme's default */
    const char *path;           /* raw, "" or starting with '/', without query and fragment */
    size_t path_len;
    const char *query; /* raw, without '?'; NULL when absent */
    size_t query_len;
} url_parts;

/* Splits url (scheme already known to be http or https, case-insensitively) into out. On
 * failure returns -1 with *reason set. */
static int split_url(url_parts *out, const char *url, const char **reason)
{
    const char *p, *auth, *auth_end, *host_end, *q;
    size_t scheme_len = strcspn(url, ":"), host_len, i;
    unsigned long port = 0;

    memset(out, 0, sizeof(*out));
    for (i = 0; i < scheme_len && i < sizeof(out->scheme) - 1; i++)
        out->scheme[i] = (char)to_lower((unsigned char)url[i]);
    auth = url + scheme_len + 3;
    auth_end = auth + strcspn(auth, "/?#");
    if (rz_url_userinfo_end(url)) { /* also "user:pa?ss@host", as messages redact it */
        out->has_userinfo = 1;
        return 0;
    }
    if (*auth == '[') {
        host_end = memchr(auth, ']', (size_t)(auth_end - auth));
        if (!host_end) {
            *reason = "the host's IPv6 address has no closing ']'";
            return -1;
        }
        host_end++;
        for (p = auth + 1; p < host_end - 1; p++)
            if (!is_hex((unsigned char)*p) && *p != ':' && *p != '.') {
                *reason = "the host is not a valid IPv6 address";
                return -1;
            }
    } else {
        host_end = auth;
        while (host_end < auth_end && *host_end != ':')
            host_end++;
        for (p = auth; p < host_end; p++)
            if (!is_alnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != '_') {
                *reason = "the host name has characters a host name cannot have (use punycode "
                          "for international names)";
                return -1;
            }
    }
    host_len = (size_t)(host_end - auth);
    if (host_len == 0 || (*auth == '[' && host_len == 2)) {
        *reason = "the URL has no host";
        return -1;
    }
    if (host_len > RZ_HOST_MAX) {
        *reason = "the host name is too long";
        return -1;
    }
    for (i = 0; i < host_len; i++)
        out->host[i] = (char)to_lower((unsigned char)auth[i]);
    out->host[host_len] = '\0';
    if (host_end < auth_end) {
        if (*host_end != ':') {
            *reason = "the host is followed by something other than a port";
            return -1;
        }
        for (p = host_end + 1; p < auth_end; p++) {
            if (!is_digit((unsigned char)*p) || port > 65535) {
                *reason = "the port is not a number from 1 to 65535";
                return -1;
            }
            port = port * 10 + (unsigned long)(*p - '0');
        }
        if (host_end + 1 < auth_end && (port == 0 || port > 65535)) {
            *reason = "the port is not a number from 1 to 65535";
            return -1;
        }
    }
    if (port && !((port == 80 && strcmp(out->scheme, "http") == 0) ||
                  (port == 443 && strcmp(out->scheme, "https") == 0)))
        snprintf(out->port, sizeof(out->port), "%lu", port);
    out->path = auth_end;
    out->path_len = strcspn(auth_end, "?#");
    q = auth_end + out->path_len;
    if (*q == '?') {
        out->query = q + 1;
        out->query_len = strcspn(q + 1, "#");
    }
    for (p = url; *p; p++)
        if (*p == ' ') {
            *reason = "a URL cannot contain a space (write it as %20)";
            return -1;
        }
    return 0;
}

/* Length of the scheme of s if s starts with "<scheme>://", else 0. */
static size_t scheme_length(const char *s)
{
    size_t i = 0;

    if (!is_alpha((unsigned char)s[0]))
        return 0;
    while (is_alnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.')
        i++;
    return strncmp(s + i, "://", 3) == 0 ? i : 0;
}

static int server_init(parser *ps, const char *server_url)
{
    url_parts u;
    const char *reason = NULL;
    char shown[RZ_QUOTE_MAX + 16];
    size_t scheme_len, path_len;
    rz_buf b = SPEC_BUF;

    if (!server_url || !server_url[0])
        server_url = RZ_DEFAULT_SERVER;
    scheme_len = scheme_length(server_url);
    if (!equals_nocase(server_url, scheme_len, "http") &&
        !equals_nocase(server_url, scheme_len, "https"))
        reason = "it is not an http(s) URL";
    else if (split_url(&u, server_url, &reason) == 0 && u.has_userinfo)
        reason = "it has credentials (put tokens in GITHUB_TOKEN)";
    else if (!reason && (u.query || strchr(server_url, '#')))
        reason = "it has a query or a fragment";
    if (reason) {
        quote_spec(shown, sizeof(shown), server_url);
        rz_error_set(ps->err, RZ_E_SOURCE,
                     "GITHUB_SERVER_URL '%s' is not valid: %s; set it to the server's URL, e.g. "
                     "https://ghe.example.com, or unset it",
                     shown, reason);
        return -1;
    }
    path_len = u.path_len;
    while (path_len > 0 && u.path[path_len - 1] == '/')
        path_len--;
    if (rz_buf_adds(&b, u.scheme, ps->err) < 0 || rz_buf_adds(&b, "://", ps->err) < 0 ||
        rz_buf_adds(&b, u.host, ps->err) < 0)
        goto fail;
    if (u.port[0] && (rz_buf_adds(&b, ":", ps->err) < 0 || rz_buf_adds(&b, u.port, ps->err) < 0))
        goto fail;
    ps->srv.prefix_off = b.len;
    if (rz_buf_add(&b, u.path, path_len, ps->err) < 0)
        goto fail;
    ps->srv.base = rz_buf_take(&b, ps->err);
    if (!ps->srv.base)
        goto fail;
    memcpy(ps->srv.host, u.host, sizeof(u.host));
    memcpy(ps->srv.port, u.port, sizeof(u.port));
    return 0;
fail:
    rz_buf_free(&b);
    return -1;
}

/* 1 if s[0..n) is well-formed UTF-8 (no overlongs, no surrogates, at most U+10FFFF). */
static int valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned char c = s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        unsigned long cp;
        size_t k;
        if (len == 0 || i + len > n)
            return 0;
        cp = len == 1 ? c : c & (0x7F >> len);
        for (k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

/* %XX-decodes s[0..n) onto out; refuses bad escapes, escaped control characters, and a result
 * that is not UTF-8 (it could not be named back in Python or in the identity). */
static int percent_decode(parser *ps, rz_buf *out, const char *s, size_t n)
{
    size_t i;
    char c;

    for (i = 0; i < n; i++) {
        c = s[i];
        if (c == '%') {
            if (i + 2 >= n || !is_hex((unsigned char)s[i + 1]) || !is_hex((unsigned char)s[i + 2]))
                return invalid(ps, "a '%%' in the path is not followed by two hex digits");
            c = (char)(hex_value((unsigned char)s[i + 1]) * 16 +
                       hex_value((unsigned char)s[i + 2]));
            if (is_ctl((unsigned char)c))
                return invalid(ps, "the path encodes a control character");
            i += 2;
        }
        if (rz_buf_add(out, &c, 1, ps->err) < 0)
            return -1;
    }
    if (!valid_utf8((const unsigned char *)out->ptr, out->len))
        return invalid(ps, "the path decodes to bytes that are not UTF-8");
    return 0;
}

/* ---- GitHub ---- */

/* 1 if s[0..n) holds only what GitHub allows in user and repo names: letters, digits, '-',
 * '_' and '.'. */
static int github_name_chars(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (!is_alnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return 0;
    return 1;
}

static int valid_user(const char *s, size_t n)
{
    if (n == 0 || n > RZ_USER_MAX || !(is_alnum((unsigned char)s[0]) || s[0] == '_'))
        return 0;
    return github_name_chars(s, n);
}

static int valid_repo(const char *s, size_t n)
{
    if (n == 0 || n > RZ_REPO_MAX || (n == 1 && s[0] == '.') ||
        (n == 2 && s[0] == '.' && s[1] == '.'))
        return 0;
    return github_name_chars(s, n);
}

/* The length of the repo name repo[0..n) without trailing ".git"s (all of them, so that the
 * identity re-parses to itself), keeping a repo named ".git". */
static size_t repo_length(const char *repo, size_t n)
{
    while (n > 4 && ends_with_nocase(repo, n, ".git"))
        n -= 4;
    return n;
}

/* NULL if ref is a valid ref name, else why not. */
static const char *ref_problem(const char *ref)
{
    size_t n = strlen(ref);
    const char *p;

    if (n == 0)
        return "the ref is empty";
    if (n > RZ_REF_MAX)
        return "the ref is longer than 255 bytes";
    if (strcmp(ref, "@") == 0)
        return "the ref cannot be '@'";
    if (ref[0] == '-')
        return "a ref cannot start with '-'";
    if (ref[0] == '/' || strstr(ref, "//"))
        return "a ref cannot have an empty component ('//')";
    if (strstr(ref, ".."))
        return "a ref cannot contain '..'";
    if (strstr(ref, "@{"))
        return "a ref cannot contain '@{'";
    if (ref[n - 1] == '.' || ends_with_nocase(ref, n, ".lock"))
        return "a ref cannot end with '.' or '.lock'";
    for (p = ref; *p; p++) {
        if (is_ctl((unsigned char)*p) || *p == ' ')
            return "a ref cannot contain spaces or control characters";
        if (strchr("~^:?*[\\", *p))
            return "a ref cannot contain any of ~ ^ : ? * [ \\";
        if (*p == '.' && (p == ref || p[-1] == '/'))
            return "a ref component cannot start with '.'";
    }
    return NULL;
}

static int is_sha(const char *s)
{
    size_t n = strlen(s), i;

    if (n < RZ_SHA_MIN || n > RZ_SHA_MAX)
        return 0;
    for (i = 0; i < n; i++)
        if (!is_hex((unsigned char)s[i]))
            return 0;
    return 1;
}

/* rest is "<user>/<repo>[/...]" with trailing '/' removed. url_form: "..." must be
 * "tree/<ref>" or "commit/<sha>"; else it is the ref itself. */
static int parse_github_rest(parser *ps, rz_spec *out, const char *rest, int url_form)
{
    const char *slash1, *repo, *slash2, *after, *problem;
    size_t user_len, repo_len;
    rz_buf id = SPEC_BUF;

    slash1 = strchr(rest, '/');
    if (!slash1 || slash1[1] == '\0')
        return invalid(ps, "it names no repository (expected <user>/<repo>)");
    user_len = (size_t)(slash1 - rest);
    repo = slash1 + 1;
    slash2 = strchr(repo, '/');
    repo_len = slash2 ? (size_t)(slash2 - repo) : strlen(repo);
    after = slash2 ? slash2 + 1 : NULL;
    if (!valid_user(rest, user_len))
        return invalid(ps, "the GitHub user is not 1 to 39 letters, digits, '-', '_' or '.'");
    repo_len = repo_length(repo, repo_len);
    if (!valid_repo(repo, repo_len))
        return invalid(ps, "the GitHub repo is not 1 to 100 letters, digits, '-', '_' or '.'");
    out->kind = RZ_SPEC_GITHUB;
    out->user = dup_lower(rest, user_len, ps->err);
    out->repo = out->user ? dup_lower(repo, repo_len, ps->err) : NULL;
    if (!out->repo)
        return -1;
    if (after && url_form) {
        if (starts_with(after, "tree/")) {
            after += 5;
        } else if (starts_with(after, "commit/")) {
            after += 7;
            if (!is_sha(after))
                return invalid(ps, "a commit must be 4 to 64 hex digits");
            out->ref_is_commit = 1;
        } else if (strcmp(after, "tree") == 0 || strcmp(after, "commit") == 0) {
            return invalid(ps, "nothing follows /%s", after);
        } else {
            return invalid(ps, "a GitHub URL must be .../<user>/<repo>, .../tree/<ref> or "
                               ".../commit/<sha>");
        }
    }
    if (after) {
        problem = ref_problem(after);
        if (problem)
            return invalid(ps, "%s", problem);
        out->ref = out->ref_is_commit ? dup_lower(after, strlen(after), ps->err)
                                      : dup_n(after, strlen(after), ps->err);
        if (!out->ref)
            return -1;
    }
    if (rz_buf_adds(&id, ps->srv.base, ps->err) < 0 || rz_buf_adds(&id, "/", ps->err) < 0 ||
        rz_buf_adds(&id, out->user, ps->err) < 0 || rz_buf_adds(&id, "/", ps->err) < 0 ||
        rz_buf_adds(&id, out->repo, ps->err) < 0)
        goto fail;
    if (out->ref) {
        if (rz_buf_adds(&id, out->ref_is_commit ? "/commit/" : "/tree/", ps->err) < 0 ||
            add_escaped(&id, out->ref, strlen(out->ref), "%?#", ps->err) < 0)
            goto fail;
    }
    out->identity = rz_buf_take(&id, ps->err);
    if (!out->identity)
        goto fail;
    return 0;
fail:
    rz_buf_free(&id);
    return -1;
}

/* ---- archives ---- */

static int make_archive(parser *ps, rz_spec *out, const url_parts *u, size_t path_len,
                        rz_archive_format format)
{
    rz_buf id = SPEC_BUF;

    if (rz_buf_adds(&id, u->scheme, ps->err) < 0 || rz_buf_adds(&id, "://", ps->err) < 0 ||
        rz_buf_adds(&id, u->host, ps->err) < 0)
        goto fail;
    if (u->port[0] &&
        (rz_buf_adds(&id, ":", ps->err) < 0 || rz_buf_adds(&id, u->port, ps->err) < 0))
        goto fail;
    if (rz_buf_add(&id, u->path, path_len, ps->err) < 0)
        goto fail;
    if (u->query_len && (rz_buf_adds(&id, "?", ps->err) < 0 ||
                         rz_buf_add(&id, u->query, u->query_len, ps->err) < 0))
        goto fail;
    out->kind = RZ_SPEC_ARCHIVE;
    out->format = format;
    out->identity = rz_buf_take(&id, ps->err);
    if (!out->identity)
        goto fail;
    out->url = dup_n(out->identity, strlen(out->identity), ps->err);
    return out->url ? 0 : -1;
fail:
    rz_buf_free(&id);
    return -1;
}

/* ---- http(s) URLs: GitHub or archive ---- */

/* Offset in u->path where "/<user>/..." starts if u is a URL of the GitHub server, else -1. */
static long github_offset(const parser *ps, const url_parts *u)
{
    const char *prefix = ps->srv.base + ps->srv.prefix_off;
    size_t plen = strlen(prefix);

    if (strcmp(u->host, ps->srv.host) == 0 && strcmp(u->port, ps->srv.port) == 0 &&
        u->path_len >= plen && memcmp(u->path, prefix, plen) == 0 &&
        (u->path_len == plen || u->path[plen] == '/'))
        return (long)plen;
    if ((strcmp(u->host, "github.com") == 0 || strcmp(u->host, "www.github.com") == 0) &&
        u->port[0] == '\0')
        return 0;
    return -1;
}

static int parse_http(parser *ps, rz_spec *out, const char *url)
{
    url_parts u;
    const char *reason = NULL, *rest, *s1, *s2 = NULL, *third = NULL;
    size_t path_len, ext_len;
    long off;
    rz_archive_format format;
    rz_buf dec = SPEC_BUF;
    int rc = -1, keyword = 0;

    if (split_url(&u, url, &reason) < 0)
        return invalid(ps, "%s", reason);
    if (u.has_userinfo)
        return credentials(ps);
    path_len = u.path_len;
    while (path_len > 0 && u.path[path_len - 1] == '/')
        path_len--;
    format = rz_archive_suffix(u.path, path_len, 1, &ext_len);
    off = github_offset(ps, &u);
    if (off < 0) {
        if (format != RZ_ARCHIVE_NONE)
            return make_archive(ps, out, &u, path_len, format);
        return invalid(ps,
                       "an http(s) URL must be a repository on the GitHub server (%s) or "
                       "end with an archive extension",
                       ps->srv.base);
    }
    if (percent_decode(ps, &dec, u.path + off, path_len - (size_t)off) < 0)
        goto done;
    rest = dec.ptr && dec.ptr[0] == '/' ? dec.ptr + 1 : "";
    s1 = strchr(rest, '/');
    if (s1)
        s2 = strchr(s1 + 1, '/');
    if (s2)
        third = s2 + 1;
    keyword = third && (starts_with(third, "tree/") || starts_with(third, "commit/") ||
                        strcmp(third, "tree") == 0 || strcmp(third, "commit") == 0);
    if (!keyword && s1 && !s2 && valid_user(rest, (size_t)(s1 - rest)) &&
        valid_repo(s1 + 1, repo_length(s1 + 1, strlen(s1 + 1))))
        rc = parse_github_rest(ps, out, rest, 1); /* .../<user>/<repo>, even "x.zip" */
    else if (!keyword && format != RZ_ARCHIVE_NONE)
        rc = make_archive(ps, out, &u, path_len, format);
    else if (!keyword && s2)
        rc = invalid(ps, "a GitHub URL must be .../<user>/<repo>, .../tree/<ref> or "
                         ".../commit/<sha>");
    else
        rc = parse_github_rest(ps, out, rest, 1);
done:
    rz_buf_free(&dec);
    return rc;
}

/* ---- local paths ---- */

/* Appends the lexically normalised form of the absolute path s[0..n) to out. */
static int normalize_path(parser *ps, rz_buf *out, const char *s, size_t n)
{
    size_t i = 0, start, len;

    assert(n > 0 && s[0] == '/');
    while (i < n) {
        while (i < n && s[i] == '/')
            i++;
        start = i;
        while (i < n && s[i] != '/')
            i++;
        len = i - start;
        if (len == 0 || (len == 1 && s[start] == '.'))
            continue;
        if (len == 2 && s[start] == '.' && s[start + 1] == '.') {
            size_t keep = out->len;
            while (keep > 0 && out->ptr[keep - 1] != '/')
                keep--;
            rz_buf_truncate(out, keep > 0 ? keep - 1 : 0);
            continue;
        }
        if (rz_buf_add(out, "/", 1, ps->err) < 0 || rz_buf_add(out, s + start, len, ps->err) < 0)
            return -1;
    }
    if (out->len == 0 && rz_buf_add(out, "/", 1, ps->err) < 0)
        return -1;
    return 0;
}

/* abs is an absolute path (not normalised). */
static int make_local(parser *ps, rz_spec *out, const char *abs, size_t n)
{
    rz_buf path = SPEC_BUF, id = SPEC_BUF;

    if (normalize_path(ps, &path, abs, n) < 0)
        goto fail;
    if (rz_buf_adds(&id, "file://", ps->err) < 0 ||
        add_escaped(&id, path.ptr, path.len, "%?# ", ps->err) < 0)
        goto fail;
    out->kind = RZ_SPEC_LOCAL;
    out->local_path = rz_buf_take(&path, ps->err);
    if (!out->local_path)
        goto fail;
    out->identity = rz_buf_take(&id, ps->err);
    if (!out->identity)
        goto fail;
    return 0;
fail:
    rz_buf_free(&path);
    rz_buf_free(&id);
    return -1;
}

static int parse_file_url(parser *ps, rz_spec *out, const char *url)
{
    const char *auth = url + 7, *path; /* after "file://" */
    size_t auth_len = strcspn(auth, "/?#"), i;
    rz_buf dec = SPEC_BUF;
    int rc = -1;

    for (i = 0; i < auth_len; i++)
        if (auth[i] == '@')
            return credentials(ps);
    if (auth_len && !equals_nocase(auth, auth_len, "localhost"))
        return invalid(ps, "a file:// URL must name a local path (file:///abs/path)");
    path = auth + auth_len;
    if (*path != '/')
        return invalid(ps, "the file:// URL has no absolute path (file:///abs/path)");
    if (strpbrk(path, "?#"))
        return invalid(ps, "a file:// URL cannot have a query or fragment (write '?' as %%3F "
                           "and '#' as %%23)");
    if (percent_decode(ps, &dec, path, strlen(path)) < 0)
        goto done;
    rc = make_local(ps, out, dec.ptr, dec.len);
done:
    rz_buf_free(&dec);
    return rc;
}

static int parse_path(parser *ps, rz_spec *out, const char *s)
{
    rz_buf abs = SPEC_BUF;
    char *cwd = NULL;
    int rc = -1;

    if (s[0] == '/') {
        if (rz_buf_adds(&abs, s, ps->err) < 0)
            goto done;
    } else if (s[0] == '~') {
        if (s[1] != '\0' && s[1] != '/') {
            rc = invalid(ps, "'~user' is not expanded; write the directory's absolute path");
            goto done;
        }
        if (!ps->home || ps->home[0] != '/') {
            rc = invalid(ps, "'~' cannot be expanded: HOME is not an absolute path");
            goto done;
        }
        if (rz_buf_adds(&abs, ps->home, ps->err) < 0 || rz_buf_adds(&abs, "/", ps->err) < 0 ||
            rz_buf_adds(&abs, s + 1, ps->err) < 0)
            goto done;
    } else {
        const char *base = ps->cwd;
        if (!base) {
            cwd = getcwd(NULL, 0);
            if (!cwd) {
                rz_error_os(ps->err, errno, NULL, "cannot resolve a relative source path");
                goto done;
            }
            base = cwd;
        }
        if (base[0] != '/') {
            rc = invalid(ps, "the current directory is not an absolute path");
            goto done;
        }
        if (rz_buf_adds(&abs, base, ps->err) < 0 || rz_buf_adds(&abs, "/", ps->err) < 0 ||
            rz_buf_adds(&abs, s, ps->err) < 0)
            goto done;
    }
    rc = make_local(ps, out, abs.ptr, abs.len);
done:
    free(cwd);
    rz_buf_free(&abs);
    return rc;
}

/* ---- short forms ---- */

/* True if the first n bytes of s are the GitHub server's authority or github.com. */
static int is_server_authority(const parser *ps, const char *s, size_t n)
{
    char authority[RZ_HOST_MAX + 16];

    if (equals_nocase(s, n, "github.com") || equals_nocase(s, n, "www.github.com"))
        return 1;
    snprintf(authority, sizeof(authority), "%s%s%s", ps->srv.host, ps->srv.port[0] ? ":" : "",
             ps->srv.port);
    return equals_nocase(s, n, authority);
}

static int parse_short(parser *ps, rz_spec *out, char *s)
{
    size_t first_len = strcspn(s, "/"), n;
    const char *at = memchr(s, '@', first_len);
    rz_buf url = SPEC_BUF;
    int rc;

    if (at) {
        if (memchr(at, ':', first_len - (size_t)(at - s)))
            return invalid(ps, "SSH remotes (user@host:path) are not supported");
        return credentials(ps);
    }
    if (s[first_len] == '/' && is_server_authority(ps, s, first_len)) {
        /* "github.com/u/r": the URL without its scheme. */
        if (rz_buf_adds(&url, "https://", ps->err) < 0 || rz_buf_adds(&url, s, ps->err) < 0) {
            rz_buf_free(&url);
            return -1;
        }
        rc = parse_http(ps, out, url.ptr);
        rz_buf_free(&url);
        return rc;
    }
    if (!strchr(s, '/'))
        return invalid(ps, "a local directory must be an absolute path or start with ./, ../ "
                           "or ~/, and a GitHub repo is <user>/<repo>");
    n = strlen(s);
    while (n > 0 && s[n - 1] == '/')
        n--;
    s[n] = '\0';
    return parse_github_rest(ps, out, s, 0);
}

/* ---- slug ---- */

/* Appends s[0..n) to the readable part buf (cap RZ_SLUG_MAX - RZ_SLUG_HEX - 1): lowercase
 * letters and digits kept, runs of anything else become one '_'. */
static void slug_add(char *buf, size_t *pos, const char *s, size_t n)
{
    const size_t cap = RZ_SLUG_MAX - RZ_SLUG_HEX - 2;
    size_t i;

    if (*pos > 0 && buf[*pos - 1] != '_' && *pos < cap)
        buf[(*pos)++] = '_';
    for (i = 0; i < n && *pos < cap; i++) {
        int c = to_lower((unsigned char)s[i]);
        if (is_alnum(c))
            buf[(*pos)++] = (char)c;
        else if (*pos > 0 && buf[*pos - 1] != '_')
            buf[(*pos)++] = '_';
    }
    buf[*pos] = '\0';
}

static int make_slug(rz_spec *out, rz_error *err)
{
    char readable[RZ_SLUG_MAX], slug[RZ_SLUG_MAX + 1];
    size_t pos = 0, ext_len, n;
    const char *base;
    int len;

    readable[0] = '\0';
    switch (out->kind) {
    case RZ_SPEC_GITHUB:
        slug_add(readable, &pos, "gh", 2);
        slug_add(readable, &pos, out->user, strlen(out->user));
        slug_add(readable, &pos, out->repo, strlen(out->repo));
        if (out->ref)
            slug_add(readable, &pos, out->ref,
                     out->ref_is_commit && strlen(out->ref) > 12 ? 12 : strlen(out->ref));
        break;
    case RZ_SPEC_ARCHIVE: {
        const char *host = out->url + strcspn(out->url, ":") + 3;
        const char *path = host + strcspn(host, "/");
        size_t path_len = strcspn(path, "?");
        slug_add(readable, &pos, "url", 3);
        slug_add(readable, &pos, host, strcspn(host, ":/"));
        base = path;
        for (n = 0; n < path_len; n++)
            if (path[n] == '/')
                base = path + n + 1;
        rz_archive_suffix(base, (size_t)(path + path_len - base), 1, &ext_len);
        slug_add(readable, &pos, base, (size_t)(path + path_len - base) - ext_len);
        break;
    }
    case RZ_SPEC_LOCAL:
        slug_add(readable, &pos, "local", 5);
        base = strrchr(out->local_path, '/') + 1;
        slug_add(readable, &pos, base, strlen(base));
        break;
    }
    while (pos > 0 && readable[pos - 1] == '_')
        readable[--pos] = '\0';
    len = snprintf(slug, sizeof(slug), "%s_%012llx", readable,
                   rz_fnv1a64(out->identity, strlen(out->identity)) >> 16);
    if (len < 0 || (size_t)len >= sizeof(slug))
        return rz_error_set(err, RZ_E_SOURCE, "internal error: source slug too long");
    out->slug = dup_n(slug, (size_t)len, err);
    return out->slug ? 0 : -1;
}

/* ---- entry points ---- */

int rz_spec_parse_in(rz_spec *out, const char *spec, const rz_spec_context *ctx, rz_error *err)
{
    parser ps;
    char *s = NULL;
    const char *start, *end;
    size_t len, scheme_len;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    memset(&ps, 0, sizeof(ps));
    ps.spec = spec;
    ps.err = err;
    ps.cwd = ctx ? ctx->cwd : NULL;
    ps.home = ctx && ctx->home ? ctx->home : rz_env("HOME");
    if (server_init(&ps, ctx ? ctx->github_server_url : NULL) < 0)
        goto done;
    len = strnlen(spec, RZ_SPEC_MAX_LEN + 1);
    if (len > RZ_SPEC_MAX_LEN) {
        invalid(&ps, "it is longer than %d bytes", RZ_SPEC_MAX_LEN);
        goto done;
    }
    start = spec;
    end = spec + len;
    while (start < end && is_space((unsigned char)*start))
        start++;
    while (end > start && is_space((unsigned char)end[-1]))
        end--;
    if (start == end) {
        invalid(&ps, "it is empty");
        goto done;
    }
    s = dup_n(start, (size_t)(end - start), err);
    if (!s)
        goto done;
    for (start = s; *start; start++)
        if (is_ctl((unsigned char)*start)) {
            invalid(&ps, "it contains a control character");
            goto done;
        }
    if (!valid_utf8((const unsigned char *)s, strlen(s))) {
        /* Its identity could not be parsed back nor named in Python. */
        invalid(&ps, "it is not UTF-8");
        goto done;
    }
    scheme_len = scheme_length(s);
    if (scheme_len) {
        if (equals_nocase(s, scheme_len, "file"))
            rc = parse_file_url(&ps, out, s);
        else if (equals_nocase(s, scheme_len, "http") || equals_nocase(s, scheme_len, "https"))
            rc = parse_http(&ps, out, s);
        else
            rc = invalid(&ps, "'%.*s://' URLs are not supported",
                         (int)(scheme_len > 16 ? 16 : scheme_len), s);
    } else if (s[0] == '/' || s[0] == '~' || strcmp(s, ".") == 0 || strcmp(s, "..") == 0 ||
               starts_with(s, "./") || starts_with(s, "../")) {
        rc = parse_path(&ps, out, s);
    } else {
        rc = parse_short(&ps, out, s);
    }
    /* The identity is a spec too and must parse back: %XX-encoding (local paths) or a
     * configured server can make it longer than the spec it came from. */
    if (rc == 0 && strlen(out->identity) > RZ_SPEC_MAX_LEN)
        rc = invalid(&ps, "its normalised form is longer than %d bytes", RZ_SPEC_MAX_LEN);
    if (rc == 0)
        rc = make_slug(out, err);
done:
    free(s);
    free(ps.srv.base);
    if (rc < 0)
        rz_spec_clear(out);
    return rc;
}

int rz_spec_parse(rz_spec *out, const char *spec, const char *github_server_url, rz_error *err)
{
    rz_spec_context ctx = {github_server_url, NULL, NULL};
    return rz_spec_parse_in(out, spec, &ctx, err);
}

void rz_spec_clear(rz_spec *s)
{
    free(s->identity);
    free(s->user);
    free(s->repo);
    free(s->ref);
    free(s->url);
    free(s->local_path);
    free(s->slug);
    memset(s, 0, sizeof(*s));
}

const char *rz_spec_kind_name(rz_spec_kind kind)
{
    switch (kind) {
    case RZ_SPEC_GITHUB:
        return "github";
    case RZ_SPEC_ARCHIVE:
        return "archive";
    case RZ_SPEC_LOCAL:
        return "local";
    }
    return "unknown";
}
