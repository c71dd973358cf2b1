/* index.c - see index.h. */
#include "core/index.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/json.h"
#include "core/version.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/hash.h"

#define INDEX_FORMAT 1
#define SLUG_MAX     64 /* spec.h: a slug is at most 64 bytes of [a-z0-9_] */

static int check_index(const cJSON *root, const char *index, rz_error *err);

const cJSON *rz_index_manifests(const cJSON *source)
{
    return cJSON_GetObjectItemCaseSensitive(source, "manifests");
}

const cJSON *rz_index_models(const cJSON *manifest)
{
    return cJSON_GetObjectItemCaseSensitive(manifest, "models");
}

int rz_folders_same(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0;
}

int rz_source_default_subdir(char *out, size_t out_len, const char *slug, const char *dir)
{
    int n = dir && dir[0] ? snprintf(out, out_len, "%s_%08llx", slug,
                                     rz_fnv1a64(dir, strlen(dir)) & 0xffffffffULL)
                          : snprintf(out, out_len, "%s", slug);
    return n < 0 || (size_t)n >= out_len ? -1 : 0;
}

static cJSON *empty_index(void)
{
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    if (!cJSON_AddNumberToObject(root, "format", INDEX_FORMAT) ||
        !cJSON_AddArrayToObject(root, "sources")) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

rz_index *rz_index_ref(rz_index *idx)
{
    idx->refs++;
    return idx;
}

void rz_index_free(rz_index *idx)
{
    if (!idx || --idx->refs > 0)
        return;
    cJSON_Delete(idx->root);
    free(idx);
}

int rz_index_load(rz_index **out, const rz_home *home, rz_error *err)
{
    rz_index *idx = NULL;
    char *data = NULL;
    size_t len = 0;
    struct stat st;
    int fd = -1;

    *out = NULL;
    idx = calloc(1, sizeof(*idx));
    if (!idx)
        return rz_error_set(err, RZ_E_NOMEM, "out of memory");
    idx->refs = 1;
    fd = open(home->index, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        idx->root = empty_index();
        if (!idx->root) {
            rz_error_set(err, RZ_E_NOMEM, "out of memory");
            goto fail;
        }
        *out = idx;
        return 0;
    }
    if (fd < 0 || fstat(fd, &st) < 0) {
        rz_error_os(err, errno, home->index, "cannot read the registry %s", home->index);
        goto fail;
    }
    if ((unsigned long long)st.st_size > RZ_INDEX_MAX_BYTES) {
        rz_error_set(err, RZ_E_SOURCE, "the registry %s is larger than %u MiB", home->index,
                     RZ_INDEX_MAX_BYTES >> 20);
        goto fail;
    }
    rz_stamp_from_stat(&idx->file, &st);
    if (rz_read_fd(&data, &len, fd, (size_t)st.st_size, home->index, err) < 0)
        goto fail;
    idx->root = cJSON_ParseWithLength(data, len);
    if (!idx->root || !cJSON_IsArray(rz_index_sources(idx))) {
        /* Only a foreign or hand-edited file can get here: writes are atomic. */
        rz_error_set(err, RZ_E_SOURCE,
                     "the registry %s is not a remotezoo registry; move it away to start afresh",
                     home->index);
        goto fail;
    }
    if (check_index(idx->root, home->index, err) < 0)
        goto fail;
    free(data);
    close(fd);
    *out = idx;
    return 0;
fail:
    free(data);
    if (fd >= 0)
        close(fd);
    rz_index_free(idx);
    return -1;
}

int rz_index_is_current(const rz_index *idx, const rz_home *home)
{
    rz_stamp now;

    return rz_stamp_of(&now, home->index) == 0 && rz_stamp_equal(&now, &idx->file);
}

cJSON *rz_index_sources(const rz_index *idx)
{
    return cJSON_GetObjectItemCaseSensitive(idx->root, "sources");
}

cJSON *rz_index_find_source(const rz_index *idx, const char *identity)
{
    cJSON *source;

    cJSON_ArrayForEach(source, rz_index_sources(idx))
    {
        const char *id = rz_json_str(source, "identity");
        if (id && strcmp(id, identity) == 0)
            return source;
    }
    return NULL;
}

cJSON *rz_index_doomed(const rz_index *idx)
{
    return cJSON_GetObjectItemCaseSensitive(idx->root, "doomed");
}

/* ---- checking what was read from disk ---- */

/* registry.json is ours, but whoever can write it must not be able to make remotezoo remove or
 * read another place than the ones it made: every field that becomes a path, a module name or a
 * line of registry.names is checked as if it came from the network. */

static int chars_in(const char *s, const char *set, size_t min, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    return s && n >= min && n <= max && strspn(s, set) == n;
}

#define LOWER_DIGITS "abcdefghijklmnopqrstuvwxyz0123456789"
#define HEX          "0123456789abcdef"
#define ALNUM        LOWER_DIGITS "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

/* An absolute path with no empty, "." or ".." component (a local source's directory). */
static int is_clean_absolute(const char *path)
{
    const char *p;

    if (!path || path[0] != '/' || strlen(path) >= RZ_PATH_MAX - 64)
        return 0;
    if (path[1] == '\0')
        return 1;
    for (p = path + 1;; p += strcspn(p, "/") + 1) {
        size_t len = strcspn(p, "/");
        if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        if (!p[len])
            return 1;
    }
}

static int is_clean(const char *path)
{
    return path && strlen(path) < RZ_PATH_MAX - 64 && rz_path_is_clean(path);
}

static int bad_field(const char *index, const char *identity, const char *field, rz_error *err)
{
    rz_error_set(err, RZ_E_SOURCE,
                 "the registry %s is damaged (%s%s%sfield '%s' is not one remotezoo writes); "
                 "move it away to start afresh",
                 index, identity ? "source " : "", identity ? identity : "", identity ? ": " : "",
                 field);
    rz_error_attach_field(err, field);
    return -1;
}

static int check_models(const cJSON *manifest, const char *index, const char *identity,
                        rz_error *err)
{
    const cJSON *model, *tags = NULL, *tag;

    if (!cJSON_IsArray(rz_index_models(manifest)))
        return bad_field(index, identity, "models", err);
    cJSON_ArrayForEach(model, rz_index_models(manifest))
    {
        const cJSON *digest = cJSON_GetObjectItemCaseSensitive(model, "digest");
        /* names are only ever compared and shown, never joined into paths */
        if (!rz_json_str(model, "name") || !rz_json_str(model, "base_name"))
            return bad_field(index, identity, "models.name", err);
        if (!is_clean(rz_json_str(model, "filename")))
            return bad_field(index, identity, "models.filename", err);
        if (digest && !chars_in(rz_json_str(model, "digest"), HEX, 16, 16))
            return bad_field(index, identity, "models.digest", err);
        tags = cJSON_GetObjectItemCaseSensitive(model, "tags");
        cJSON_ArrayForEach(tag, tags)
        {
            if (!cJSON_IsString(tag))
                return bad_field(index, identity, "models.tags", err);
        }
    }
    return 0;
}

static int check_source(const cJSON *source, const char *index, rz_error *err)
{
    const char *identity = rz_json_str(source, "identity"), *kind = rz_json_str(source, "kind");
    const char *slug = rz_json_str(source, "slug"), *tree = rz_json_str(source, "tree");
    const char *generation = rz_json_str(source, "generation"), *sha = rz_json_str(source, "sha");
    const char *archive_sha = rz_json_str(source, "archive_sha256");
    const char *tree_sha = rz_json_str(source, "tree_sha256");
    const cJSON *manifest;
    int local;

    if (!identity || !identity[0])
        return bad_field(index, NULL, "identity", err);
    if (!kind || (strcmp(kind, "github") && strcmp(kind, "archive") && strcmp(kind, "local")))
        return bad_field(index, identity, "kind", err);
    local = strcmp(kind, "local") == 0;
    if (!chars_in(slug, LOWER_DIGITS "_", 1, SLUG_MAX))
        return bad_field(index, identity, "slug", err);
    if (local ? !(generation && strcmp(generation, "local") == 0)
              : !chars_in(generation, ALNUM "-", 1, 64) || generation[0] == '-')
        return bad_field(index, identity, "generation", err);
    if (local) {
        if (!is_clean_absolute(tree))
            return bad_field(index, identity, "tree", err);
    } else {
        /* "sources/<slug>/<generation>/tree", compared piece by piece */
        size_t ls = strlen(slug), lg = strlen(generation);
        if (!tree || strncmp(tree, "sources/", 8) != 0 || strncmp(tree + 8, slug, ls) != 0 ||
            tree[8 + ls] != '/' || strncmp(tree + 9 + ls, generation, lg) != 0 ||
            strcmp(tree + 9 + ls + lg, "/tree") != 0)
            return bad_field(index, identity, "tree", err);
    }
    if (sha && !chars_in(sha, HEX, 40, 40) && !chars_in(sha, HEX, 64, 64))
        return bad_field(index, identity, "sha", err);
    /* what trust and lock files are keyed to (records.h, digest.h): digests, never paths */
    if (archive_sha && !chars_in(archive_sha, HEX, 64, 64))
        return bad_field(index, identity, "archive_sha256", err);
    if (tree_sha && !chars_in(tree_sha, HEX, 64, 64))
        return bad_field(index, identity, "tree_sha256", err);
    if (!cJSON_IsArray(rz_index_manifests(source)))
        return bad_field(index, identity, "manifests", err);
    cJSON_ArrayForEach(manifest, rz_index_manifests(source))
    {
        const char *dir = rz_json_str(manifest, "dir"), *module = rz_json_str(manifest, "module");
        const char *stamp = rz_json_str(manifest, "stamp");
        if (!dir || (dir[0] && !is_clean(dir)))
            return bad_field(index, identity, "dir", err);
        if (!module || strncmp(module, RZ_MODULE_PREFIX, strlen(RZ_MODULE_PREFIX)) != 0 ||
            !chars_in(module + strlen(RZ_MODULE_PREFIX), ALNUM "_", 1, 128))
            return bad_field(index, identity, "module", err);
        if (!is_clean(rz_json_str(manifest, "models_subdir")))
            return bad_field(index, identity, "models_subdir", err);
        if (stamp && !chars_in(stamp, "0123456789.:-", 1, 64))
            return bad_field(index, identity, "stamp", err);
        if (check_models(manifest, index, identity, err) < 0)
            return -1;
    }
    return 0;
}

/* strcasecmp for qsort: folders that are one end up next to each other. */
static int compare_folders(const void *a, const void *b)
{
    return strcasecmp(*(const char *const *)a, *(const char *const *)b);
}

/* No two registered sources share a folder (registry.h), in O(n log n). Nested folders are
 * tolerated (an older remotezoo made them): removals leave a folder in or around a registered
 * one alone (plan_folder). */
static int check_folders(const cJSON *root, const char *index, rz_error *err)
{
    const cJSON *source, *manifest;
    const char **folders = NULL;
    size_t n = 0, cap = 0, i;
    int rc = 0;

    cJSON_ArrayForEach(source, cJSON_GetObjectItemCaseSensitive(root, "sources"))
    {
        cJSON_ArrayForEach(manifest, rz_index_manifests(source))
        {
            if (n == cap) {
                const char **grown = realloc(folders, (cap = cap ? cap * 2 : 64) * sizeof(*grown));
                if (!grown) {
                    free(folders);
                    return rz_error_set(err, RZ_E_NOMEM, "out of memory");
                }
                folders = grown;
            }
            folders[n++] = rz_json_str(manifest, "models_subdir");
        }
    }
    if (n > 1)
        qsort(folders, n, sizeof(*folders), compare_folders);
    for (i = 1; i < n && rc == 0; i++)
        if (rz_folders_same(folders[i - 1], folders[i]))
            rc = bad_field(index, NULL, "models_subdir", err);
    free(folders);
    return rc;
}

static int check_index(const cJSON *root, const char *index, rz_error *err)
{
    const cJSON *source, *doomed = cJSON_GetObjectItemCaseSensitive(root, "doomed"), *mark;

    cJSON_ArrayForEach(source, cJSON_GetObjectItemCaseSensitive(root, "sources"))
    {
        if (check_source(source, index, err) < 0)
            return -1;
    }
    if (doomed && !cJSON_IsArray(doomed))
        return bad_field(index, NULL, "doomed", err);
    cJSON_ArrayForEach(mark, doomed)
    {
        const char *slug = rz_json_str(mark, "slug"), *folder = rz_json_str(mark, "folder");
        if (slug ? !chars_in(slug, LOWER_DIGITS "_", 1, SLUG_MAX) : !is_clean(folder))
            return bad_field(index, NULL, "doomed", err);
    }
    return check_folders(root, index, err);
}

char *rz_local_manifest_path(const cJSON *source, const cJSON *manifest, rz_error *err)
{
    const char *tree = rz_json_str(source, "tree"), *dir = rz_json_str(manifest, "dir");

    if (!tree) {
        rz_error_set(err, RZ_E_SOURCE, "registry entry of %s has no tree",
                     rz_json_str(source, "identity"));
        return NULL;
    }
    return rz_path(err, "%s%s%s/manifest.json", tree, dir && dir[0] ? "/" : "", dir ? dir : "");
}

char *rz_source_tree_path(const rz_home *home, const cJSON *source, rz_error *err)
{
    const char *tree = rz_json_str(source, "tree");

    if (!tree) {
        rz_error_set(err, RZ_E_SOURCE, "registry entry of %s has no tree",
                     rz_json_str(source, "identity"));
        return NULL;
    }
    return tree[0] == '/' ? rz_path(err, "%s", tree) : rz_path(err, "%s/%s", home->root, tree);
}

char *rz_model_path(const rz_home *home, const cJSON *manifest, const cJSON *model, rz_error *err)
{
    const char *subdir = rz_json_str(manifest, "models_subdir");
    const char *filename = rz_json_str(model, "filename");

    if (!subdir || !filename) {
        rz_error_set(err, RZ_E_SOURCE, "registry entry of model %s is incomplete",
                     rz_json_str(model, "name"));
        return NULL;
    }
    return rz_path(err, "%s/%s/%s", home->models, subdir, filename);
}

static int in_list(const char *value, const char *const *list, size_t n)
{
    size_t i;

    for (i = 0; value && i < n; i++)
        if (strcmp(value, list[i]) == 0)
            return 1;
    return 0;
}

/* Whether one of the n licenses wanted is a piece of the model's license split on commas, as
 * FiftyOne matches ("MIT,Apache-2.0" offers "MIT"). Unlike FiftyOne, spaces around a piece and
 * around what is wanted are ignored, so "Apache 2.0, BSD 3-Clause" (as FiftyOne's own manifests
 * write it) also offers "BSD 3-Clause": every FiftyOne match is still a match. */
static int license_matches(const char *license, const char *const *wanted, size_t n)
{
    const char *piece = license;
    size_t i;

    while (piece && *piece) {
        size_t len = strcspn(piece, ",");
        const char *start = piece, *end = piece + len;
        while (start < end && *start == ' ')
            start++;
        while (end > start && end[-1] == ' ')
            end--;
        for (i = 0; i < n; i++) {
            const char *w = wanted[i];
            size_t wlen;
            while (*w == ' ')
                w++;
            wlen = strlen(w);
            while (wlen && w[wlen - 1] == ' ')
                wlen--;
            if (wlen == (size_t)(end - start) && strncmp(start, w, wlen) == 0)
                return 1;
        }
        piece += len + (piece[len] == ',');
    }
    return 0;
}

static int has_all_tags(const cJSON *model, const char *const *tags, size_t n)
{
    const cJSON *model_tags = cJSON_GetObjectItemCaseSensitive(model, "tags"), *tag;
    size_t i;

    for (i = 0; i < n; i++) {
        int found = 0;
        cJSON_ArrayForEach(tag, model_tags)
        {
            if (cJSON_IsString(tag) && strcmp(tag->valuestring, tags[i]) == 0) {
                found = 1;
                break;
            }
        }
        if (!found)
            return 0;
    }
    return 1;
}

int rz_index_each_model(const rz_index *idx, const rz_query *q, rz_model_visit_fn visit,
                        void *payload)
{
    const cJSON *source, *manifest, *model;

    cJSON_ArrayForEach(source, rz_index_sources(idx))
    {
        if (q && q->source && !in_list(rz_json_str(source, "identity"), &q->source, 1))
            continue;
        cJSON_ArrayForEach(manifest, cJSON_GetObjectItemCaseSensitive(source, "manifests"))
        {
            cJSON_ArrayForEach(model, cJSON_GetObjectItemCaseSensitive(manifest, "models"))
            {
                rz_model_ref ref = {source, manifest, model};
                int rc;
                if (q && q->n_tags && !has_all_tags(model, q->tags, q->n_tags))
                    continue;
                if (q && q->n_licenses &&
                    !license_matches(rz_json_str(model, "license"), q->licenses, q->n_licenses))
                    continue;
                rc = visit(&ref, payload);
                if (rc)
                    return rc;
            }
        }
    }
    return 0;
}

typedef struct resolve_state {
    const char *name;
    int by_base_name; /* 0: exact full names; 1: latest of a base name */
    rz_model_ref best;
    rz_model_ref rival; /* another source with an equal best, if any */
    size_t matches;
} resolve_state;

static int resolve_visit(const rz_model_ref *ref, void *payload)
{
    resolve_state *s = payload;
    const char *key = rz_json_str(ref->model, s->by_base_name ? "base_name" : "name");
    int diff;

    if (!key || strcmp(key, s->name) != 0)
        return 0;
    s->matches++;
    if (!s->best.model) {
        s->best = *ref;
        return 0;
    }
    diff = rz_version_compare(rz_json_str(ref->model, "version"),
                              rz_json_str(s->best.model, "version"));
    if (diff > 0) {
        s->best = *ref;
        s->rival.model = NULL;
    } else if (diff == 0 && ref->source != s->best.source && !s->rival.model) {
        s->rival = *ref;
    }
    return 0;
}

int rz_index_resolve(rz_model_ref *out, const rz_index *idx, const char *name, const char *source,
                     rz_error *err)
{
    rz_query q = {NULL, 0, source, NULL, 0};
    resolve_state s = {name, 0, {0}, {0}, 0};

    memset(out, 0, sizeof(*out));
    rz_index_each_model(idx, &q, resolve_visit, &s);
    if (!s.best.model && !strchr(name, '@')) {
        s.by_base_name = 1;
        rz_index_each_model(idx, &q, resolve_visit, &s);
    }
    if (!s.best.model) {
        if (source)
            rz_error_set(err, RZ_E_MODEL_NOT_FOUND, "source %s has no model named '%s'", source,
                         name);
        else
            rz_error_set(err, RZ_E_MODEL_NOT_FOUND,
                         "no registered source has a model named '%s'; list_zoo_models() "
                         "shows the names, register_zoo_model_source() adds sources",
                         name);
        rz_error_attach_model(err, name);
        return -1;
    }
    if (s.rival.model) {
        rz_error_set(err, RZ_E_MODEL_NOT_FOUND,
                     "model '%s' is offered by two sources, %s and %s; name the source to choose",
                     rz_json_str(s.best.model, "name"), rz_json_str(s.best.source, "identity"),
                     rz_json_str(s.rival.source, "identity"));
        rz_error_attach_model(err, name);
        return -1;
    }
    *out = s.best;
    return 0;
}
