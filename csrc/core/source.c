/* source.c - see source.h. */
#include "core/source.h"

#include <stdarg.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <time.h>
#include <unistd.h>

#include "core/generation.h"
#include "core/json.h"
#include "core/manifest.h"
#include "core/models.h"
#include "core/registry.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/env.h"
#include "util/fsutil.h"
#include "util/stamp.h"

typedef struct scan_state {
    const char *tree;
    const char *identity;
    const char *slug;
    cJSON *out; /* the manifests array being built */
    size_t dirs_seen;
    rz_error *err;
} scan_state;

static int add_string(cJSON *obj, const char *key, const char *value)
{
    return value ? (cJSON_AddStringToObject(obj, key, value) ? 0 : -1) : 0;
}

/* Fields that describe a model without changing what its download is: a source registered
 * again keeps a downloaded model whose entry differs only in these. */
static const char *const metadata_fields[] = {"description", "tags",   "license",     "author",
                                              "date_added",  "source", "requirements"};

/* "digest": 16 hex digits of FNV-1a 64 of the model's manifest entry without its metadata
 * fields and nulls (a null is an absent field), printed by cJSON. It tells whether a
 * registration changed what a model's download is. NULL out of memory. */
static int model_digest(char out[17], const cJSON *json)
{
    cJSON *copy = cJSON_Duplicate(json, 1), *item, *next;
    char *text;

    if (!copy)
        return -1;
    for (size_t i = 0; i < sizeof(metadata_fields) / sizeof(metadata_fields[0]); i++)
        cJSON_DeleteItemFromObjectCaseSensitive(copy, metadata_fields[i]);
    for (item = copy->child; item; item = next) {
        next = item->next;
        if (cJSON_IsNull(item))
            cJSON_Delete(cJSON_DetachItemViaPointer(copy, item));
    }
    text = cJSON_PrintUnformatted(copy);
    cJSON_Delete(copy);
    if (!text)
        return -1;
    snprintf(out, 17, "%016llx", rz_fnv1a64(text, strlen(text)));
    free(text);
    return 0;
}

/* The filename of a model without base_filename: its full name with '/' made '_', so that it
 * is one component; a name that would still not be a clean one (".", "..", ".rz-*") or is too
 * long for a file name gets a hash in its place, so two names never share a file. */
static void fallback_filename(char *out, size_t out_len, const char *name)
{
    char *p;

    snprintf(out, out_len, "%.*s", 200, name);
    for (p = out; *p; p++)
        if (*p == '/')
            *p = '_';
    if (strlen(name) > 200 || !rz_path_is_clean(out))
        snprintf(out, out_len, "model_%016llx", rz_fnv1a64(name, strlen(name)));
}

/* The index's summary of one model: what listing, filtering, resolving and re-registering
 * need. */
static cJSON *model_summary(const rz_model *model)
{
    cJSON *entry = cJSON_CreateObject(), *tags = NULL;
    const cJSON *tag, *src_tags = cJSON_GetObjectItemCaseSensitive(model->json, "tags");
    char fallback[256], digest[17];

    if (!entry || model_digest(digest, model->json) < 0)
        goto fail;
    fallback_filename(fallback, sizeof(fallback), model->name);
    if (add_string(entry, "name", model->name) < 0 ||
        add_string(entry, "base_name", model->base_name) < 0 ||
        add_string(entry, "version", model->version) < 0 ||
        add_string(entry, "filename", model->filename ? model->filename : fallback) < 0 ||
        add_string(entry, "digest", digest) < 0 || add_string(entry, "license", model->license) < 0)
        goto fail;
    tags = cJSON_AddArrayToObject(entry, "tags");
    if (!tags)
        goto fail;
    cJSON_ArrayForEach(tag, src_tags)
    {
        if (!cJSON_AddItemToArray(tags, cJSON_CreateString(tag->valuestring)))
            goto fail;
    }
    return entry;
fail:
    cJSON_Delete(entry);
    return NULL;
}

/* The manifest.json in dir, whose lstat() (a regular file) scan_dir made: st, its stamp. */
static int add_manifest(scan_state *s, const char *dir, const char *rel, const struct stat *st)
{
    char module[RZ_SOURCE_SUBDIR_MAX + 32], subdir[RZ_SOURCE_SUBDIR_MAX];
    char *path = NULL, stamp[RZ_STAMP_TEXT_MAX];
    rz_manifest *m = NULL;
    cJSON *entry = NULL, *models;
    rz_stamp stamped;
    size_t i;
    int rc;

    if (cJSON_GetArraySize(s->out) >= RZ_SCAN_MAX_MANIFESTS)
        return rz_error_set(s->err, RZ_E_SOURCE, "source %s has more than %d manifest.json files",
                            s->identity, RZ_SCAN_MAX_MANIFESTS);
    if (!(path = rz_path(s->err, "%s/manifest.json", dir)))
        return -1;
    rc = rz_manifest_load(&m, path, s->identity, s->err);
    free(path);
    if (rc < 0)
        return -1;
    /* Taken before the read: a change in between makes the next look read it again. */
    rz_stamp_from_stat(&stamped, st);
    rz_stamp_text(stamp, &stamped);
    /* The module is named like the source's own models folder: unique per manifest. */
    if (rz_source_default_subdir(subdir, sizeof(subdir), s->slug, rel) < 0 ||
        snprintf(module, sizeof(module), RZ_MODULE_PREFIX "%s", subdir) >= (int)sizeof(module)) {
        rz_manifest_free(m);
        return rz_error_set(s->err, RZ_E_SOURCE, "source %s: slug too long", s->identity);
    }
    entry = cJSON_CreateObject();
    if (!entry || add_string(entry, "dir", rel) < 0 || add_string(entry, "name", m->name) < 0 ||
        add_string(entry, "module", module) < 0 ||
        add_string(entry, "models_subdir", m->name ? m->name : subdir) < 0 ||
        add_string(entry, "stamp", stamp) < 0 ||
        !(models = cJSON_AddArrayToObject(entry, "models")))
        goto nomem;
    for (i = 0; i < m->n_models; i++) {
        cJSON *summary = model_summary(&m->models[i]);
        if (!summary || !cJSON_AddItemToArray(models, summary)) {
            cJSON_Delete(summary);
            goto nomem;
        }
    }
    if (!cJSON_AddItemToArray(s->out, entry))
        goto nomem;
    rz_manifest_free(m);
    return 0;
nomem:
    cJSON_Delete(entry);
    rz_manifest_free(m);
    return rz_error_set(s->err, RZ_E_NOMEM, "out of memory");
}

/* The path of name in dir, or NULL: out of memory (s->err set), or too long for a path (no
 * directory or manifest of ours can be there: *skip set, nothing set). */
static char *child_path(scan_state *s, const char *dir, const char *name, int *skip)
{
    *skip = strlen(dir) + 1 + strlen(name) >= RZ_PATH_MAX;
    return *skip ? NULL : rz_path(s->err, "%s/%s", dir, name);
}

static int scan_dir(scan_state *s, const char *dir, const char *rel, int depth)
{
    char *path = NULL, *child_rel = NULL;
    char **names = NULL;
    size_t n = 0, i;
    struct stat st;
    int rc = -1, skip, found;

    if (++s->dirs_seen > RZ_SCAN_MAX_DIRS)
        return rz_error_set(s->err, RZ_E_SOURCE, "source %s has more than %d directories",
                            s->identity, RZ_SCAN_MAX_DIRS);
    if (!(path = child_path(s, dir, "manifest.json", &skip)))
        return skip ? 0 : -1;
    found = lstat(path, &st) == 0 && S_ISREG(st.st_mode);
    free(path);
    path = NULL;
    if (found)
        return add_manifest(s, dir, rel, &st);
    if (depth >= RZ_SCAN_MAX_DEPTH)
        return 0;
    if (rz_list_dir(&names, &n, dir, s->err) < 0) /* sorted: a stable order of manifests */
        return -1;
    for (i = 0; i < n; i++) {
        if (names[i][0] == '.' || strcmp(names[i], "__pycache__") == 0)
            continue;
        free(path);
        free(child_rel);
        child_rel = NULL;
        if (!(path = child_path(s, dir, names[i], &skip))) {
            if (skip)
                continue; /* a path too long to be ours */
            goto done;
        }
        if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
            continue; /* files and symlinks */
        /* rel is a suffix of dir: it fits when path does */
        if (!(child_rel = rz_path(s->err, "%s%s%s", rel, rel[0] ? "/" : "", names[i])))
            goto done;
        if (scan_dir(s, path, child_rel, depth + 1) < 0)
            goto done;
    }
    rc = 0;
done:
    free(path);
    free(child_rel);
    rz_names_free(names, n);
    return rc;
}

int rz_source_scan(cJSON **out, const char *tree, const char *identity, const char *slug,
                   rz_error *err)
{
    scan_state s = {tree, identity, slug, cJSON_CreateArray(), 0, err};

    *out = NULL;
    if (!s.out)
        return rz_error_set(err, RZ_E_NOMEM, "out of memory");
    if (scan_dir(&s, tree, "", 0) < 0)
        goto fail;
    if (cJSON_GetArraySize(s.out) == 0) {
        rz_error_set(err, RZ_E_SOURCE,
                     "source %s has no manifest.json; a source is a directory with manifest.json "
                     "and __init__.py",
                     identity);
        rz_error_attach_source(err, identity);
        goto fail;
    }
    *out = s.out;
    return 0;
fail:
    cJSON_Delete(s.out);
    return -1;
}

/* ---- registration ---- */

/* The registry entry of a source (registry.h), manifests stolen. */
static cJSON *new_entry(const char *identity, const char *spec_text, const char *kind,
                        const char *slug, const char *tree, const char *generation, const char *ref,
                        const char *sha, const char *archive_sha256, const char *tree_sha256,
                        cJSON *manifests)
{
    cJSON *entry = cJSON_CreateObject();
    char when[RZ_UTC_TEXT_MAX];

    rz_utc_now_text(when);
    if (!entry || add_string(entry, "identity", identity) < 0 ||
        add_string(entry, "spec", spec_text) < 0 || add_string(entry, "kind", kind) < 0 ||
        add_string(entry, "slug", slug) < 0 || add_string(entry, "tree", tree) < 0 ||
        add_string(entry, "generation", generation) < 0 || add_string(entry, "ref", ref) < 0 ||
        add_string(entry, "sha", sha) < 0 ||
        add_string(entry, "archive_sha256", archive_sha256) < 0 ||
        add_string(entry, "tree_sha256", tree_sha256) < 0 ||
        add_string(entry, "registered_at", when) < 0) {
        cJSON_Delete(entry);
        cJSON_Delete(manifests);
        return NULL;
    }
    cJSON_AddItemToObject(entry, "manifests", manifests);
    return entry;
}

int rz_source_local_entry(cJSON **out, const char *identity, const char *spec_text,
                          const char *path, const char *slug, rz_error *err)
{
    cJSON *manifests = NULL;
    struct stat st;

    *out = NULL;
    if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
        rz_error_set(err, RZ_E_SOURCE, "source %s: %s is not a directory", identity, path);
        rz_error_attach_source(err, identity);
        return -1;
    }
    if (rz_source_scan(&manifests, path, identity, slug, err) < 0)
        return -1;
    /* A local source's generation is re-derived from its files at import time. */
    *out = new_entry(identity, spec_text, "local", slug, path, "local", NULL, NULL, NULL, NULL,
                     manifests);
    return *out ? 0 : rz_error_set(err, RZ_E_NOMEM, "out of memory");
}

/* Percent-encodes what a URL path segment cannot hold, keeping '/' (refs may contain it). */
static int encode_ref(char *out, size_t out_len, const char *ref)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t pos = 0;

    for (; *ref; ref++) {
        unsigned char c = (unsigned char)*ref;
        int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    strchr("-._~/", c);
        if (pos + (plain ? 1 : 3) >= out_len)
            return -1;
        if (plain) {
            out[pos++] = (char)c;
        } else {
            out[pos++] = '%';
            out[pos++] = hex[c >> 4];
            out[pos++] = hex[c & 15];
        }
    }
    out[pos] = '\0';
    return 0;
}

static const char *github_api(void)
{
    const char *api = rz_env("GITHUB_API_URL");
    return api ? api : "https://api.github.com";
}

/* <GITHUB_API_URL>/repos/<user>/<repo>/<what>, what formatted printf-style (caller frees with
 * free(); NULL with err set). */
__attribute__((format(printf, 3, 4))) static char *github_url(const rz_spec *spec, rz_error *err,
                                                              const char *fmt, ...)
{
    rz_buf url = RZ_BUF_INIT(RZ_ERR_URL_MAX - 1, RZ_E_SOURCE, "the GitHub API URL");
    va_list ap;
    int rc;

    if (rz_buf_addf(&url, err, "%s/repos/%s/%s/", github_api(), spec->user, spec->repo) < 0)
        return NULL;
    va_start(ap, fmt);
    rc = rz_buf_vaddf(&url, err, fmt, ap);
    va_end(ap);
    return rc < 0 ? NULL : rz_buf_take(&url, err);
}

/* Request headers for the GitHub API: the token goes here and only here. The fetch layer
 * never forwards Authorization to another host, so the tarball's redirect to the download
 * host does not carry it. */
/* The longest Authorization line sent: servers refuse header lines past 8 KiB (nginx's and
 * GitHub's limit), so a longer GITHUB_TOKEN could not be used anyway: it is an error. */
#define GITHUB_AUTH_MAX 8192

typedef struct github_headers {
    char *auth; /* owned: the Authorization line, or NULL without GITHUB_TOKEN */
    const char *lines[4];
} github_headers;

static void github_headers_clear(github_headers *h)
{
    free(h->auth);
    memset(h, 0, sizeof(*h));
}

/* The API request's headers, with GITHUB_TOKEN when set. A token that cannot be sent as it is
 * (too long, or with spaces or control characters) is an RZ_E_SOURCE error that says so
 * (never quoting it), not a request without it. */
static int github_headers_init(github_headers *h, const char *accept, rz_error *err)
{
    const char *token = rz_env("GITHUB_TOKEN"), *p;
    size_t n = 0, size;

    memset(h, 0, sizeof(*h));
    h->lines[n++] = accept;
    h->lines[n++] = "X-GitHub-Api-Version: 2022-11-28";
    if (token) {
        for (p = token; *p; p++)
            if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
                return rz_error_set(err, RZ_E_SOURCE,
                                    "GITHUB_TOKEN is not a valid token: it contains a space, a "
                                    "control character or a non-ASCII byte");
        /* never through rz_buf: its errors quote what did not fit */
        size = sizeof("Authorization: Bearer ") + strlen(token);
        if (size > GITHUB_AUTH_MAX)
            return rz_error_set(err, RZ_E_SOURCE,
                                "GITHUB_TOKEN is %zu bytes long; HTTP servers accept at most "
                                "about %d",
                                strlen(token), GITHUB_AUTH_MAX - 32);
        if (!(h->auth = malloc(size)))
            return rz_error_set(err, RZ_E_NOMEM, "out of memory");
        snprintf(h->auth, size, "Authorization: Bearer %s", token);
        h->lines[n++] = h->auth;
    }
    h->lines[n] = NULL;
    return 0;
}

/* An error for a GitHub API answer that is not 200: rate limit, not found, refused token. */
static int github_status_error(const rz_spec *spec, const char *url, const rz_response *r,
                               rz_error *err)
{
    const char *remaining = r->header_values[0], *reset = r->header_values[1];
    int has_token = rz_env("GITHUB_TOKEN") != NULL;

    if ((r->status == 403 || r->status == 429) && remaining && strcmp(remaining, "0") == 0) {
        long long when = reset ? strtoll(reset, NULL, 10) : 0;
        char at[64] = "later";
        if (when > 0) {
            time_t t = (time_t)when;
            struct tm tm;
            long long wait = when - (long long)time(NULL);
            gmtime_r(&t, &tm);
            strftime(at, sizeof(at), "at %H:%M:%S UTC", &tm);
            snprintf(at + strlen(at), sizeof(at) - strlen(at), " (in %llds)", wait > 0 ? wait : 0);
        }
        rz_error_set(err, RZ_E_RATE_LIMIT,
                     "GitHub API rate limit exceeded while resolving %s; it resets %s%s",
                     spec->identity, at, has_token ? "" : "; set GITHUB_TOKEN for a higher limit");
    } else if (r->status == 404 || r->status == 422) {
        rz_error_set(err, RZ_E_SOURCE, "GitHub has no repository %s/%s with ref '%s'%s", spec->user,
                     spec->repo, spec->ref ? spec->ref : "(default branch)",
                     has_token ? " visible to GITHUB_TOKEN"
                               : "; if the repository is private, set GITHUB_TOKEN");
    } else if (r->status == 401) {
        rz_error_set(err, RZ_E_SOURCE,
                     "GitHub refused GITHUB_TOKEN (401) for %s; check the token and its scopes",
                     spec->identity);
    } else {
        rz_error_set(err, RZ_E_HTTP_STATUS, "GitHub API answered %ld for %s", r->status,
                     spec->identity);
    }
    err->http_status = r->status;
    rz_error_attach_url(err, url);
    rz_error_attach_source(err, spec->identity);
    return -1;
}

#define SHA_HEX_MAX 64 /* a SHA-256 object name; SHA-1 ones have 40 */

/* Resolve spec's ref (or the default branch) to a commit sha (40 or 64 lowercase hex digits,
 * NUL-terminated) in out. */
static int github_resolve_sha(char out[SHA_HEX_MAX + 1], const rz_net_api *net, const rz_spec *spec,
                              const rz_fetch_opts *base, rz_error *err)
{
    static const char *const wanted[] = {"x-ratelimit-remaining", "x-ratelimit-reset", NULL};
    char ref[3 * 255 + 1]; /* a ref (spec.h) with each byte %XX-encoded */
    char *url = NULL;
    github_headers h = {0};
    rz_fetch_opts opts = *base;
    rz_response r;
    size_t len;
    int rc = -1;

    memset(&r, 0, sizeof(r));
    if (encode_ref(ref, sizeof(ref), spec->ref ? spec->ref : "HEAD") < 0)
        return rz_error_set(err, RZ_E_SOURCE, "ref of %s is too long", spec->identity);
    if (!(url = github_url(spec, err, "commits/%s", ref)) ||
        github_headers_init(&h, "Accept: application/vnd.github.sha", err) < 0)
        goto done;
    opts.headers = h.lines;
    if (net->http_get(&r, url, &opts, wanted, 4096, err) < 0)
        goto done;
    if (r.status != 200) {
        github_status_error(spec, url, &r, err);
        goto done;
    }
    len = r.body_len;
    while (len > 0 &&
           (r.body[len - 1] == '\n' || r.body[len - 1] == '\r' || r.body[len - 1] == ' '))
        len--;
    if ((len != 40 && len != SHA_HEX_MAX) || strspn(r.body, "0123456789abcdef") < len) {
        rz_error_set(err, RZ_E_SOURCE, "GitHub API did not answer a commit sha for %s",
                     spec->identity);
        rz_error_attach_url(err, url);
        goto done;
    }
    memcpy(out, r.body, len);
    out[len] = '\0';
    rc = 0;
done:
    net->response_clear(&r);
    github_headers_clear(&h);
    free(url);
    return rc;
}

/* 1 if removed (an entry, or NULL) has a manifest whose models folder is folder. */
static int has_folder(const cJSON *removed, const char *folder)
{
    const cJSON *manifest;

    cJSON_ArrayForEach(manifest, cJSON_GetObjectItemCaseSensitive(removed, "manifests"))
    {
        const char *own = rz_json_str(manifest, "models_subdir");
        if (own && strcmp(own, folder) == 0)
            return 1;
    }
    return 0;
}

/* Remove the tree of the unregistered source slug (rz_source_sweep) under its registration
 * lock, so that a registration of it in progress (its temporary tree lives in the same
 * directory) finishes first instead of losing its tree under it; one that registered it again
 * keeps it. Without wait, a registration in progress leaves it for a later sweep. 1 when the
 * tree is gone (or registered again): its mark can go. */
static int remove_tree(const rz_home *home, const char *slug, int wait)
{
    char *path = rz_path(NULL, "%s/source-%s.lock", home->locks, slug);
    char *slug_dir = rz_path(NULL, "%s/%s", home->sources, slug);
    rz_lock_wait how = home->wait;
    rz_lock lock = RZ_LOCK_INIT;
    rz_index *now = NULL;
    int registered = 1, gone;
    struct stat st;

    how.try_only = !wait;
    if (!path || !slug_dir ||
        rz_lock_acquire(&lock, path, LOCK_EX, RZ_LOCK_REMOVABLE, &how, NULL)) {
        free(path);
        free(slug_dir);
        return 0;
    }
    if (rz_index_load(&now, home, NULL) == 0) {
        const cJSON *source;
        registered = 0;
        cJSON_ArrayForEach(source, rz_index_sources(now))
        {
            const char *other = rz_json_str(source, "slug");
            registered |= other && strcmp(other, slug) == 0;
        }
    }
    rz_index_free(now);
    if (!registered) {
        rz_generation_retire_others(slug_dir, NULL);
        rmdir(slug_dir); /* fails while a pinned generation waits for its last user */
    }
    rz_lock_release(&lock);
    gone = registered || (lstat(slug_dir, &st) < 0 && errno == ENOENT);
    free(path);
    free(slug_dir);
    return gone;
}

/* rz_source_sweep; what belongs to removed (the entry just unregistered, or NULL) is waited
 * for instead of left for later. */
static void sweep(const rz_home *home, const rz_index *idx, const cJSON *removed)
{
    const char *removed_slug = rz_json_str(removed, "slug");
    const char **gone = NULL;
    size_t n = 0, cap = (size_t)cJSON_GetArraySize(rz_index_doomed(idx));
    const cJSON *mark;

    rz_trash_sweep(home->models, RZ_TRASH_PREFIX);
    if (cap == 0 || !(gone = calloc(cap, sizeof(*gone))))
        return;
    cJSON_ArrayForEach(mark, rz_index_doomed(idx))
    {
        const char *folder = rz_json_str(mark, "folder");
        if (folder) /* models first: their source's code may still be loading them */
            rz_registry_clear_doomed_folder(home, folder, has_folder(removed, folder), NULL);
    }
    cJSON_ArrayForEach(mark, rz_index_doomed(idx))
    {
        const char *slug = rz_json_str(mark, "slug");
        if (slug && remove_tree(home, slug, removed_slug && strcmp(slug, removed_slug) == 0))
            gone[n++] = slug;
    }
    if (n > 0)
        rz_registry_forget_doomed(home, gone, n, NULL);
    free(gone);
}

void rz_source_sweep(const rz_home *home, const rz_index *idx)
{
    if (home->wait.read_only)
        return; /* nothing is removed from a read-only cache */
    sweep(home, idx, NULL);
}

/* rz_registry_put_source, then the sweep of what it replaced. */
static int put_and_sweep(const rz_home *home, cJSON *entry, int overwrite, rz_error *err)
{
    cJSON *replaced = NULL;
    rz_index *idx = NULL;

    if (rz_registry_put_source(&replaced, home, entry, overwrite, err) < 0)
        return -1;
    cJSON_Delete(replaced); /* their trees are "doomed" in the index now */
    if (rz_index_load(&idx, home, NULL) == 0)
        sweep(home, idx, NULL);
    rz_index_free(idx);
    return 0;
}

/* 1 if text is a commit sha: 40 or 64 lowercase hex digits. */
static int is_sha(const char *text)
{
    size_t n = text ? strlen(text) : 0;
    return (n == 40 || n == SHA_HEX_MAX) && strspn(text, "0123456789abcdef") == n;
}

/* The tree at tree, fetched for spec: its digest into out, checked against pin's. */
static int check_tree(char out[RZ_SHA256_HEX_LEN + 1], const rz_net_api *net, const rz_spec *spec,
                      const char *tree, const rz_source_pin *pin, rz_error *err)
{
    rz_digest d;

    if (net->digest_path(&d, tree, RZ_DIGEST_SKIP_PYCACHE, NULL, NULL, err) < 0)
        return -1;
    memcpy(out, d.sha256, sizeof(d.sha256));
    if (!pin->tree_sha256 || strcmp(pin->tree_sha256, d.sha256) == 0)
        return 0;
    rz_error_set(err, RZ_E_SOURCE,
                 "source %s: the fetched tree has digest %s, but %s was expected (a lock file or "
                 "bundle); nothing was registered",
                 spec->identity, d.sha256, pin->tree_sha256);
    rz_error_attach_source(err, spec->identity);
    return -1;
}

int rz_source_register(const rz_home *home, const rz_net_api *net, const rz_spec *spec,
                       const char *spec_text, int overwrite, const rz_source_pin *pin_arg,
                       const rz_fetch_opts *fetch_opts, rz_error *err)
{
    static const rz_source_pin none = {NULL, NULL, NULL, NULL, NULL};
    const rz_source_pin *pin = pin_arg ? pin_arg : &none;
    char sha[SHA_HEX_MAX + 1] = "", generation[128];
    char *lock_path = NULL, *url = NULL, *slug_dir = NULL, *tmp = NULL, *tree = NULL;
    char *final_dir = NULL, *rel_tree = NULL;
    char archive_sha[RZ_SHA256_HEX_LEN + 1] = "", tree_sha[RZ_SHA256_HEX_LEN + 1] = "";
    const char *prev_sha = NULL, *current = NULL;
    cJSON *entry = NULL, *manifests = NULL;
    rz_index *idx = NULL;
    github_headers h = {0};
    rz_lock lock = RZ_LOCK_INIT;
    int put = 0, rc = -1;

    if (spec->kind == RZ_SPEC_LOCAL) {
        if (rz_source_local_entry(&entry, spec->identity, spec_text, spec->local_path, spec->slug,
                                  err) < 0)
            return -1;
        return put_and_sweep(home, entry, overwrite, err);
    }
    /* One fetch per source at a time: a process that waited here finds the source registered
     * by the one before it and does nothing (unless it asked to overwrite). */
    if (!(lock_path = rz_path(err, "%s/source-%s.lock", home->locks, spec->slug)) ||
        rz_lock_acquire(&lock, lock_path, LOCK_EX, RZ_LOCK_REMOVABLE, &home->wait, err) < 0)
        goto done;
    if (rz_index_load(&idx, home, err) < 0)
        goto done;
    {
        const cJSON *existing = rz_index_find_source(idx, spec->identity);
        if (existing && !overwrite) {
            rc = 0;
            goto done;
        }
        if (existing) {
            prev_sha = rz_json_str(existing, "sha");
            current = rz_json_str(existing, "generation");
        }
    }
    if ((pin->at_sha && !is_sha(pin->at_sha)) || (pin->expect_sha && !is_sha(pin->expect_sha)) ||
        (pin->tree_from && (!pin->tree_sha256 || (spec->kind == RZ_SPEC_GITHUB && !pin->at_sha)))) {
        rz_error_set(err, RZ_E_INVALID, "source %s: a malformed pin", spec->identity);
        goto done;
    }
    if (!pin->tree_from && net->offline()) {
        rz_error_set(err, RZ_E_OFFLINE,
                     "REMOTEZOO_OFFLINE is set: cannot fetch source %s (unset it to go online)",
                     spec->identity);
        rz_error_attach_source(err, spec->identity);
        goto done;
    }
    if (spec->kind == RZ_SPEC_GITHUB) {
        if (pin->at_sha)
            snprintf(sha, sizeof(sha), "%s", pin->at_sha); /* the commit itself, not the ref */
        else if (github_resolve_sha(sha, net, spec, fetch_opts, err) < 0)
            goto done;
        if (pin->expect_sha && strcmp(pin->expect_sha, sha) != 0) {
            rz_error_set(err, RZ_E_SOURCE,
                         "source %s: ref '%s' now names commit %s, but commit %s was expected (a "
                         "lock file); nothing was fetched",
                         spec->identity, spec->ref ? spec->ref : "(default branch)", sha,
                         pin->expect_sha);
            rz_error_attach_source(err, spec->identity);
            goto done;
        }
        if (prev_sha && strcmp(prev_sha, sha) == 0) {
            rc = 0; /* the ref still names the commit we have */
            goto done;
        }
        if (!(url = github_url(spec, err, "tarball/%s", sha)) ||
            github_headers_init(&h, "Accept: application/vnd.github+json", err) < 0)
            goto done;
    } else if (!(url = strdup(spec->url))) {
        rz_error_set(err, RZ_E_NOMEM, "out of memory");
        goto done;
    }
    if (!(slug_dir = rz_path(err, "%s/%s", home->sources, spec->slug)))
        goto done;
    /* What killed registrations left, and old generations whose last users have gone. */
    rz_generation_retire_others(slug_dir, current);
    /* slug_dir may vanish meanwhile: the last user of a deleted source's tree removes it. */
    if (rz_mkdtemp_in(&tmp, slug_dir, ".tmp-", err) < 0 || !(tree = rz_path(err, "%s/tree", tmp)))
        goto done;
    if (pin->tree_from) {
        /* a tree made elsewhere (a bundle's, checked by digest below): moved in whole */
        if (rename(pin->tree_from, tree) < 0) {
            rz_error_os(err, errno, pin->tree_from, "cannot move %s into the sources of %s",
                        pin->tree_from, spec->identity);
            goto done;
        }
        if (pin->archive_sha256)
            snprintf(archive_sha, sizeof(archive_sha), "%s", pin->archive_sha256);
    } else if (net->fetch_tree(tree, url,
                               spec->kind == RZ_SPEC_GITHUB ? RZ_ARCHIVE_TAR_GZ : spec->format,
                               spec->kind == RZ_SPEC_GITHUB ? h.lines : NULL, fetch_opts, tmp,
                               spec->kind == RZ_SPEC_ARCHIVE ? archive_sha : NULL, err) < 0) {
        rz_error_attach_source(err, spec->identity);
        goto done;
    } else if (pin->archive_sha256 && strcmp(pin->archive_sha256, archive_sha) != 0) {
        rz_error_set(err, RZ_E_SOURCE,
                     "source %s: the archive has sha256 %s, but %s was expected (a lock file); "
                     "nothing was registered",
                     spec->identity, archive_sha, pin->archive_sha256);
        rz_error_attach_source(err, spec->identity);
        goto done;
    }
    if (check_tree(tree_sha, net, spec, tree, pin, err) < 0 ||
        rz_source_scan(&manifests, tree, spec->identity, spec->slug, err) < 0)
        goto done;
    /* <sha12>-<the temp dir's random part>: unique, and says which commit it holds. */
    snprintf(generation, sizeof(generation), "%.12s%s%s", sha, sha[0] ? "-" : "",
             strrchr(tmp, '-') + 1);
    if (!(final_dir = rz_path(err, "%s/%s", slug_dir, generation)) ||
        !(rel_tree = rz_path(err, "sources/%s/%s/tree", spec->slug, generation)))
        goto done;
    if (rename(tmp, final_dir) < 0) {
        rz_error_os(err, errno, final_dir, "cannot move the new tree of %s into place",
                    spec->identity);
        goto done;
    }
    free(tmp);
    tmp = NULL; /* moved: final_dir is removed below if it is not registered */
    entry = new_entry(spec->identity, spec_text, rz_spec_kind_name(spec->kind), spec->slug,
                      rel_tree, generation, spec->ref, sha[0] ? sha : NULL,
                      archive_sha[0] ? archive_sha : NULL, tree_sha, manifests);
    manifests = NULL; /* stolen by new_entry */
    if (!entry) {
        rz_error_set(err, RZ_E_NOMEM, "out of memory");
        rz_rmtree(final_dir, NULL);
        goto done;
    }
    {
        cJSON *replaced = NULL;
        if (rz_registry_put_source(&replaced, home, entry, overwrite, err) < 0) {
            rz_rmtree(final_dir, NULL); /* not referenced by the index */
            goto done;
        }
        cJSON_Delete(replaced); /* their trees are "doomed" in the index: the sweep below */
        put = 1;
    }
    /* The index names the new generation only: the old one goes when its users have. */
    rz_generation_retire_others(slug_dir, generation);
    rc = 0;
done:
    if (tmp)
        rz_rmtree(tmp, NULL);
    cJSON_Delete(manifests);
    rz_index_free(idx);
    rz_lock_release(&lock); /* before the sweep, which takes other sources' locks */
    if (put) {
        if (rz_index_load(&idx, home, NULL) == 0)
            sweep(home, idx, NULL);
        rz_index_free(idx);
    }
    github_headers_clear(&h);
    free(lock_path);
    free(url);
    free(slug_dir);
    free(tmp);
    free(tree);
    free(final_dir);
    free(rel_tree);
    return rc;
}

int rz_source_delete(const rz_home *home, const char *identity, rz_error *err)
{
    cJSON *removed = NULL;
    rz_index *idx = NULL;

    /* The source's models folders go aside with the index change, then away. */
    if (rz_registry_remove_source(&removed, home, identity, err) < 0)
        return -1;
    /* From here the source is gone for every reader; what follows is cleanup of its tree,
     * waiting for a registration of it in progress. */
    if (rz_index_load(&idx, home, NULL) == 0)
        sweep(home, idx, removed);
    rz_index_free(idx);
    cJSON_Delete(removed);
    return 0;
}

int rz_source_refresh_local(const rz_home *home, const rz_index *idx, rz_error *err)
{
    const cJSON *source, *manifest;
    int changed = 0;

    cJSON_ArrayForEach(source, rz_index_sources(idx))
    {
        const char *kind = rz_json_str(source, "kind"), *tree = rz_json_str(source, "tree");
        int stale = 0;
        if (!kind || strcmp(kind, "local") != 0 || !tree)
            continue;
        cJSON_ArrayForEach(manifest, rz_index_manifests(source))
        {
            char *path = rz_local_manifest_path(source, manifest, NULL);
            stale = !path || !rz_stamp_text_is(path, rz_json_str(manifest, "stamp"));
            free(path);
            if (stale)
                break;
        }
        if (stale) {
            cJSON *entry = NULL;
            cJSON *replaced = NULL;
            if (rz_source_local_entry(&entry, rz_json_str(source, "identity"),
                                      rz_json_str(source, "spec"), tree,
                                      rz_json_str(source, "slug"), err) < 0 ||
                rz_registry_put_source(&replaced, home, entry, 0, err) < 0)
                return -1;
            cJSON_Delete(replaced); /* none: without overwrite a taken name is refused */
            changed = 1;
        }
    }
    return changed;
}
