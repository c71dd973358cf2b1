/* rewrite.c - see rewrite.h. */
#include "net/rewrite.h"

#include <curl/curl.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/env.h"

#define URL_MAX (16 * 1024) /* a rewritten URL longer than this is an error */

typedef struct rule {
    const char *from, *to; /* borrowed from the text the rules were read from */
    size_t from_len, to_len;
} rule;

typedef struct rules {
    rule r[RZ_REWRITE_MAX_RULES];
    size_t n;
    const char *where; /* "REMOTEZOO_URL_REWRITE" or the config file's path, for messages */
} rules;

static int add_rule(rules *out, const char *from, size_t from_len, const char *to, size_t to_len,
                    int line, rz_error *err)
{
    char where[64] = "";

    if (line > 0)
        snprintf(where, sizeof(where), " line %d", line);
    if (from_len == 0 || to_len == 0)
        return rz_error_set(err, RZ_E_INVALID,
                            "%s%s: a URL rewrite rule needs FROM=TO, both non-empty", out->where,
                            where);
    if (!((to_len >= 7 && strncasecmp(to, "http://", 7) == 0) ||
          (to_len >= 8 && strncasecmp(to, "https://", 8) == 0)))
        return rz_error_set(err, RZ_E_INVALID,
                            "%s%s: the URL rewrite rule for '%.*s' must lead to an http:// or "
                            "https:// URL",
                            out->where, where, (int)(from_len > 200 ? 200 : from_len), from);
    if (out->n >= RZ_REWRITE_MAX_RULES)
        return rz_error_set(err, RZ_E_INVALID, "%s: more than %d URL rewrite rules", out->where,
                            RZ_REWRITE_MAX_RULES);
    out->r[out->n++] = (rule){from, to, from_len, to_len};
    return 0;
}

/* Rules of $REMOTEZOO_URL_REWRITE (text). */
static int parse_env(rules *out, const char *text, rz_error *err)
{
    const char *p = text;

    out->where = "REMOTEZOO_URL_REWRITE";
    for (;;) {
        const char *start, *eq;
        size_t len;
        while (*p && isspace((unsigned char)*p))
            p++;
        if (!*p)
            return 0;
        start = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        len = (size_t)(p - start);
        eq = memchr(start, '=', len);
        if (!eq)
            return rz_error_set(err, RZ_E_INVALID,
                                "REMOTEZOO_URL_REWRITE: '%.*s' is not a rule FROM=TO",
                                (int)(len > 200 ? 200 : len), start);
        if (add_rule(out, start, (size_t)(eq - start), eq + 1, (size_t)(start + len - eq - 1), 0,
                     err) < 0)
            return -1;
    }
}

/* A TOML basic string at *p ("..." without escapes): its text and length; *p moves past it. */
static int basic_string(const char **p, const char **out, size_t *out_len)
{
    const char *s = *p, *end;

    if (*s != '"')
        return -1;
    end = strpbrk(s + 1, "\"\\\n");
    if (!end || *end != '"')
        return -1;
    *out = s + 1;
    *out_len = (size_t)(end - s - 1);
    *p = end + 1;
    return 0;
}

static const char *skip_blank(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Rules of the [url_rewrite] table of the config file text (NUL-terminated, borrowed). */
static int parse_config(rules *out, const char *text, rz_error *err)
{
    const char *p = text;
    int line = 0, in_table = 0;

    while (*p) {
        const char *end = strchr(p, '\n'), *from, *to;
        size_t from_len, to_len;
        line++;
        p = skip_blank(p);
        if (*p == '#' || *p == '\n' || *p == '\r' || !*p) {
            /* blank or comment */
        } else if (*p == '[') {
            in_table = strncmp(p, "[url_rewrite]", 13) == 0;
        } else if (in_table) {
            const char *q = p;
            if (basic_string(&q, &from, &from_len) < 0 || *(q = skip_blank(q)) != '=' ||
                basic_string((q = skip_blank(q + 1), &q), &to, &to_len) < 0 ||
                (*(q = skip_blank(q)) && *q != '\n' && *q != '\r' && *q != '#'))
                return rz_error_set(err, RZ_E_INVALID,
                                    "%s line %d: want \"FROM\" = \"TO\" in [url_rewrite] (TOML "
                                    "basic strings, no escapes)",
                                    out->where, line);
            if (add_rule(out, from, from_len, to, to_len, line, err) < 0)
                return -1;
        }
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}

/* The config file's path into out; 0, or -1 when there is no place to look. */
static int config_path(char *out, size_t out_len)
{
    const char *v = rz_env("REMOTEZOO_CONFIG"), *xdg = rz_env("XDG_CONFIG_HOME");
    const char *home = rz_env("HOME");
    int n;

    if (v)
        n = snprintf(out, out_len, "%s", v);
    else if (xdg && xdg[0] == '/')
        n = snprintf(out, out_len, "%s/remotezoo/config.toml", xdg);
    else if (home)
        n = snprintf(out, out_len, "%s/.config/remotezoo/config.toml", home);
    else
        return -1;
    return n < 0 || (size_t)n >= out_len ? -1 : 0;
}

/* The config file's text (caller frees), NULL with *missing set when there is none. */
static char *read_config(const char *path, int *missing, rz_error *err)
{
    char *text = NULL;
    size_t len = 0;
    ssize_t n;
    struct stat st;
    /* O_NONBLOCK: a FIFO put in the file's place must not hang every request. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

    *missing = 0;
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            *missing = 1;
            return NULL;
        }
        rz_error_os(err, errno, path, "cannot read the remotezoo config file %s", path);
        return NULL;
    }
    if (fstat(fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISCHR(st.st_mode))) { /* /dev/null */
        close(fd);
        rz_error_set(err, RZ_E_INVALID, "the remotezoo config file %s is not a regular file", path);
        return NULL;
    }
    if (!(text = malloc(RZ_REWRITE_CONFIG_MAX + 1))) {
        close(fd);
        rz_error_set(err, RZ_E_NOMEM, "out of memory");
        return NULL;
    }
    while (
        len < RZ_REWRITE_CONFIG_MAX &&
        ((n = read(fd, text + len, RZ_REWRITE_CONFIG_MAX - len)) > 0 || (n < 0 && errno == EINTR)))
        len += n > 0 ? (size_t)n : 0;
    if (len == RZ_REWRITE_CONFIG_MAX && read(fd, &(char){0}, 1) > 0) {
        close(fd);
        free(text);
        rz_error_set(err, RZ_E_INVALID, "the remotezoo config file %s is larger than %d bytes",
                     path, RZ_REWRITE_CONFIG_MAX);
        return NULL;
    }
    close(fd);
    text[len] = '\0';
    return text;
}

int rz_url_rewrite(char **out, const char *url, rz_error *err)
{
    const char *env = rz_env("REMOTEZOO_URL_REWRITE");
    char path[4096], *text = NULL;
    const rule *best = NULL;
    rules rs;
    int rc = -1, missing = 0;

    *out = NULL;
    memset(&rs, 0, sizeof(rs));
    if (env) {
        if (parse_env(&rs, env, err) < 0)
            goto done;
    } else if (config_path(path, sizeof(path)) == 0) {
        rs.where = path;
        text = read_config(path, &missing, err);
        if (!text && !missing)
            goto done;
        if (text && parse_config(&rs, text, err) < 0)
            goto done;
    }
    for (size_t i = 0; i < rs.n; i++)
        if (strncmp(url, rs.r[i].from, rs.r[i].from_len) == 0 &&
            (!best || rs.r[i].from_len > best->from_len))
            best = &rs.r[i];
    if (best) {
        size_t rest = strlen(url) - best->from_len;
        if (best->to_len + rest >= URL_MAX) {
            rz_error_set(err, RZ_E_INVALID, "a URL rewritten by %s is longer than %d bytes",
                         rs.where, URL_MAX);
            goto done;
        }
        if (!(*out = malloc(best->to_len + rest + 1))) {
            rz_error_set(err, RZ_E_NOMEM, "out of memory");
            goto done;
        }
        memcpy(*out, best->to, best->to_len);
        memcpy(*out + best->to_len, url + best->from_len, rest + 1);
    }
    rc = 0;
done:
    free(text);
    return rc;
}

int rz_url_same_origin(const char *a, const char *b)
{
    CURLU *ua = curl_url(), *ub = curl_url();
    const CURLUPart what[] = {CURLUPART_SCHEME, CURLUPART_HOST, CURLUPART_PORT};
    int same = ua && ub && curl_url_set(ua, CURLUPART_URL, a, 0) == CURLUE_OK &&
               curl_url_set(ub, CURLUPART_URL, b, 0) == CURLUE_OK;
    size_t i;

    for (i = 0; same && i < sizeof(what) / sizeof(what[0]); i++) {
        char *x = NULL, *y = NULL;
        same = curl_url_get(ua, what[i], &x, CURLU_DEFAULT_PORT) == CURLUE_OK &&
               curl_url_get(ub, what[i], &y, CURLU_DEFAULT_PORT) == CURLUE_OK &&
               strcasecmp(x, y) == 0;
        curl_free(x);
        curl_free(y);
    }
    curl_url_cleanup(ua);
    curl_url_cleanup(ub);
    return same;
}
