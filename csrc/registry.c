/* registry.c - see registry.h. */
#include "registry.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "names.h"
#include "spec.h"
#include "version.h"

#define INDEX_FORMAT 1

static int join(char *out, size_t out_len, const char *a, const char *b, rz_error *err)
{
    int n = snprintf(out, out_len, "%s/%s", a, b);
    if (n < 0 || (size_t)n >= out_len)
        return rz_error_set(err, RZ_E_INVALID, "path too long: %s/%s", a, b);
    return 0;
}

int rz_home_init(rz_home *out, const char *root, rz_error *err)
{
    memset(out, 0, sizeof(*out));
    if (snprintf(out->root, sizeof(out->root), "%s", root) >= (int)sizeof(out->root))
        return rz_error_set(err, RZ_E_INVALID, "REMOTEZOO_HOME is too long");
    if (join(out->sources, sizeof(out->sources), root, "sources", err) < 0 ||
        join(out->models, sizeof(out->models), root, "models", err) < 0 ||
        join(out->locks, sizeof(out->locks), root, "locks", err) < 0 ||
        join(out->index, sizeof(out->index), root, "registry.json", err) < 0 ||
        join(out->lock, sizeof(out->lock), root, ".lock", err) < 0 ||
        join(out->names, sizeof(out->names), root, "registry.names", err) < 0)
        return -1;
    if (rz_mkdirs(out->sources, 0755, err) < 0 || rz_mkdirs(out->models, 0755, err) < 0 ||
        rz_mkdirs(out->locks, 0755, err) < 0)
        return -1;
    return 0;
}

int rz_lock_acquire(int *out_fd, const char *path, int operation, rz_error *err)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

    *out_fd = -1;
    if (fd < 0)
        return rz_error_os(err, errno, path, "cannot open lock file %s", path);
    while (flock(fd, operation) < 0) {
        if (errno == EINTR)
            continue;
        rz_error_os(err, errno, path, "cannot lock %s", path);
        close(fd);
        return -1;
    }
    *out_fd = fd;
    return 0;
}

void rz_lock_release(int fd)
{
    if (fd >= 0)
        close(fd); /* closing the last descriptor releases the flock */
}

const char *rz_json_str(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(item) ? item->valuestring : NULL;
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

static void record_stat(rz_file_id *out, const struct stat *st)
{
    out->exists = 1;
    out->dev = st->st_dev;
    out->ino = st->st_ino;
    out->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    out->size = st->st_size;
}

int rz_file_id_of(rz_file_id *out, const char *path)
{
    struct stat st;

    memset(out, 0, sizeof(*out));
    if (stat(path, &st) < 0)
        return errno == ENOENT ? 0 : -1;
    record_stat(out, &st);
    return 0;
}

int rz_file_id_equal(const rz_file_id *a, const rz_file_id *b)
{
    if (!a->exists || !b->exists)
        return a->exists == b->exists;
    return a->dev == b->dev && a->ino == b->ino && a->mtime_ns == b->mtime_ns && a->size == b->size;
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
    record_stat(&idx->file, &st);
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
    rz_file_id now;

    return rz_file_id_of(&now, home->index) == 0 && rz_file_id_equal(&now, &idx->file);
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

static int save_index(const rz_home *home, const cJSON *root, rz_error *err)
{
    char *text = cJSON_PrintUnformatted(root);
    int rc;

    if (!text)
        return rz_error_set(err, RZ_E_NOMEM, "out of memory");
    rc = rz_write_atomic(home->index, text, strlen(text), err);
    free(text);
    if (rc == 0)
        rz_names_write(home, root); /* under the home lock, like the index */
    return rc;
}

/* Runs edit on a freshly read index under the home lock, then saves it. */
typedef int (*edit_fn)(rz_index *idx, void *payload, rz_error *err);

static int locked_edit(const rz_home *home, edit_fn edit, void *payload, rz_error *err)
{
    rz_index *idx = NULL;
    int fd = -1, rc = -1;

    if (rz_lock_acquire(&fd, home->lock, LOCK_EX, err) < 0)
        return -1;
    if (rz_index_load(&idx, home, err) < 0 || edit(idx, payload, err) < 0 ||
        save_index(home, idx->root, err) < 0)
        goto done;
    rc = 0;
done:
    rz_index_free(idx);
    rz_lock_release(fd);
    return rc;
}

typedef struct put_payload {
    cJSON *entry; /* owned until inserted */
} put_payload;

/* 1 if models directories a and b overlap: equal, or one is a directory above the other. */
static int subdirs_overlap(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);

    if (la == lb)
        return strcmp(a, b) == 0;
    if (la > lb)
        return subdirs_overlap(b, a);
    return strncmp(a, b, la) == 0 && b[la] == '/';
}

/* The models_subdir of the manifest of source (borrowed) in directory dir, or NULL. */
static const char *subdir_of(const cJSON *source, const char *dir)
{
    const cJSON *manifest;

    cJSON_ArrayForEach(manifest, cJSON_GetObjectItemCaseSensitive(source, "manifests"))
    {
        const char *other = rz_json_str(manifest, "dir");
        if (other && dir && strcmp(other, dir) == 0)
            return rz_json_str(manifest, "models_subdir");
    }
    return NULL;
}

/* 1 if a source other than identity keeps models in a directory overlapping subdir. */
static int subdir_taken(const rz_index *idx, const char *identity, const char *subdir)
{
    const cJSON *source, *manifest;

    cJSON_ArrayForEach(source, rz_index_sources(idx))
    {
        const char *id = rz_json_str(source, "identity");
        if (id && strcmp(id, identity) == 0)
            continue;
        cJSON_ArrayForEach(manifest, cJSON_GetObjectItemCaseSensitive(source, "manifests"))
        {
            const char *other = rz_json_str(manifest, "models_subdir");
            if (other && subdirs_overlap(other, subdir))
                return 1;
        }
    }
    return 0;
}

/* Models live in models/<manifest name>/ as in FiftyOne, but two sources must never share
 * files: a manifest whose directory another source already uses (two branches of one repo,
 * or names like "acme" and "acme/zoo") gets "<name>-<slug>" instead. A source registered again
 * keeps the directories it had, so its downloads stay where they are. */
static int assign_subdirs(const rz_index *idx, const cJSON *old, cJSON *entry, rz_error *err)
{
    const char *identity = rz_json_str(entry, "identity"), *slug = rz_json_str(entry, "slug");
    cJSON *manifest;

    cJSON_ArrayForEach(manifest, cJSON_GetObjectItemCaseSensitive(entry, "manifests"))
    {
        const char *wanted = rz_json_str(manifest, "models_subdir");
        const char *kept = old ? subdir_of(old, rz_json_str(manifest, "dir")) : NULL;
        char unique[1024];
        cJSON *value;

        if (kept)
            wanted = kept;
        else if (wanted && subdir_taken(idx, identity, wanted)) {
            if (snprintf(unique, sizeof(unique), "%s-%s", wanted, slug ? slug : "source") >=
                (int)sizeof(unique))
                return rz_error_set(err, RZ_E_SOURCE, "manifest name of %s is too long", identity);
            wanted = unique;
        }
        if (!wanted)
            continue;
        value = cJSON_CreateString(wanted);
        if (!value || !cJSON_ReplaceItemInObjectCaseSensitive(manifest, "models_subdir", value)) {
            cJSON_Delete(value);
            return rz_error_set(err, RZ_E_NOMEM, "out of memory");
        }
    }
    return 0;
}

static int put_edit(rz_index *idx, void *payload, rz_error *err)
{
    put_payload *p = payload;
    cJSON *sources = rz_index_sources(idx);
    cJSON *old = rz_index_find_source(idx, rz_json_str(p->entry, "identity"));

    if (assign_subdirs(idx, old, p->entry, err) < 0)
        return -1;

    if (old) {
        if (!cJSON_ReplaceItemViaPointer(sources, old, p->entry))
            return rz_error_set(err, RZ_E_NOMEM, "out of memory");
    } else if (!cJSON_AddItemToArray(sources, p->entry)) {
        return rz_error_set(err, RZ_E_NOMEM, "out of memory");
    }
    p->entry = NULL; /* the index owns it now */
    return 0;
}

int rz_registry_put_source(const rz_home *home, cJSON *entry, rz_error *err)
{
    put_payload p = {entry};
    int rc;

    if (!rz_json_str(entry, "identity")) {
        cJSON_Delete(entry);
        return rz_error_set(err, RZ_E_INVALID, "source entry without identity");
    }
    rc = locked_edit(home, put_edit, &p, err);
    cJSON_Delete(p.entry); /* NULL when it was inserted */
    return rc;
}

typedef struct remove_payload {
    const char *identity;
    cJSON *removed;
} remove_payload;

static int remove_edit(rz_index *idx, void *payload, rz_error *err)
{
    remove_payload *p = payload;
    cJSON *old = rz_index_find_source(idx, p->identity);

    if (!old) {
        rz_error_set(err, RZ_E_SOURCE,
                     "source %s is not registered; list_zoo_model_sources() shows those that are",
                     p->identity);
        rz_error_attach_source(err, p->identity);
        return -1;
    }
    p->removed = cJSON_DetachItemViaPointer(rz_index_sources(idx), old);
    return 0;
}

int rz_registry_remove_source(cJSON **out, const rz_home *home, const char *identity, rz_error *err)
{
    remove_payload p = {identity, NULL};

    *out = NULL;
    if (locked_edit(home, remove_edit, &p, err) < 0) {
        cJSON_Delete(p.removed);
        return -1;
    }
    *out = p.removed;
    return 0;
}

int rz_local_manifest_path(char *out, size_t out_len, const cJSON *source, const cJSON *manifest)
{
    const char *tree = rz_json_str(source, "tree"), *dir = rz_json_str(manifest, "dir");

    if (!tree)
        return -1;
    return snprintf(out, out_len, "%s%s%s/manifest.json", tree, dir && dir[0] ? "/" : "",
                    dir ? dir : "") < (int)out_len
               ? 0
               : -1;
}

int rz_source_tree_path(char *out, size_t out_len, const rz_home *home, const cJSON *source,
                        rz_error *err)
{
    const char *tree = rz_json_str(source, "tree");

    if (!tree)
        return rz_error_set(err, RZ_E_SOURCE, "registry entry of %s has no tree",
                            rz_json_str(source, "identity"));
    if (tree[0] == '/') {
        if (snprintf(out, out_len, "%s", tree) >= (int)out_len)
            return rz_error_set(err, RZ_E_INVALID, "path too long: %s", tree);
        return 0;
    }
    return join(out, out_len, home->root, tree, err);
}

int rz_model_lock(int *out_fd, const rz_home *home, const char *model_path, int operation,
                  rz_error *err)
{
    char lock[RZ_PATH_MAX];

    *out_fd = -1;
    if (snprintf(lock, sizeof(lock), "%s/model-%016llx.lock", home->locks,
                 rz_fnv1a64(model_path, strlen(model_path))) >= (int)sizeof(lock))
        return rz_error_set(err, RZ_E_INVALID, "path too long: %s", home->locks);
    return rz_lock_acquire(out_fd, lock, operation, err);
}

int rz_model_path(char *out, size_t out_len, const rz_home *home, const cJSON *manifest,
                  const cJSON *model, rz_error *err)
{
    const char *subdir = rz_json_str(manifest, "models_subdir");
    const char *filename = rz_json_str(model, "filename");
    int n;

    if (!subdir || !filename)
        return rz_error_set(err, RZ_E_SOURCE, "registry entry of model %s is incomplete",
                            rz_json_str(model, "name"));
    n = snprintf(out, out_len, "%s/%s/%s", home->models, subdir, filename);
    if (n < 0 || (size_t)n >= out_len)
        return rz_error_set(err, RZ_E_INVALID, "model path too long for %s", filename);
    return 0;
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
