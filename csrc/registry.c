/* registry.c - see registry.h. */
#include "registry.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fsutil.h"
#include "models.h"
#include "names.h"
#include "source.h"
#include "spec.h"
#include "version.h"

#define INDEX_FORMAT  1
#define SLUG_MAX      64 /* spec.h: a slug is at most 64 bytes of [a-z0-9_] */
#define LOCK_ATTEMPTS 16 /* a registration that keeps finding more folders to lock gives up */

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
    out->wait.read_only = rz_home_read_only(root);
    if (!out->wait.read_only &&
        (rz_mkdirs(out->sources, 0755, err) < 0 || rz_mkdirs(out->models, 0755, err) < 0 ||
         rz_mkdirs(out->locks, 0755, err) < 0))
        return -1;
    return 0;
}

int rz_home_read_only(const char *root)
{
    const char *v = getenv("REMOTEZOO_READ_ONLY");
    struct statvfs vfs;

    if (v && v[0] && strcmp(v, "0") != 0)
        return 1;
    if (statvfs(root, &vfs) == 0 && (vfs.f_flag & ST_RDONLY))
        return 1;
    return access(root, W_OK) < 0 && (errno == EROFS || errno == EACCES);
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

static int check_index(const cJSON *root, const char *index, rz_error *err);

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

/* The temporary files of registry.json and registry.names (rz_write_atomic's, named by
 * rz_temp_name) that a writer killed before its rename left. Under the home lock: no live
 * writer owns one. */
static void remove_stale_index_temps(const rz_home *home)
{
    const char *const files[] = {home->index, home->names};
    char prefixes[2][RZ_TEMP_NAME_MAX + 1];
    DIR *d;
    struct dirent *de;

    for (size_t i = 0; i < 2; i++) {
        if (rz_temp_name(prefixes[i], sizeof(prefixes[i]), strrchr(files[i], '/') + 1, ".tmp-") < 0)
            return;
        prefixes[i][strlen(prefixes[i]) - 6] = '\0'; /* without its "XXXXXX" */
    }
    if (!(d = opendir(home->root)))
        return;
    while ((de = readdir(d))) {
        char path[RZ_PATH_MAX];
        for (size_t i = 0; i < 2; i++)
            if (strncmp(de->d_name, prefixes[i], strlen(prefixes[i])) == 0 &&
                snprintf(path, sizeof(path), "%s/%s", home->root, de->d_name) < (int)sizeof(path))
                unlink(path);
    }
    closedir(d);
}

static int save_index(const rz_home *home, const cJSON *root, rz_error *err)
{
    char *text = cJSON_PrintUnformatted(root);
    int rc;

    remove_stale_index_temps(home);

    if (!text)
        return rz_error_set(err, RZ_E_NOMEM, "out of memory");
    rc = rz_write_atomic(home->index, text, strlen(text), err);
    free(text);
    if (rc == 0)
        rz_names_write(home, root); /* under the home lock, like the index */
    return rc;
}

/* ---- writing: plans, folder locks, the home lock ---- */

static int folder_lock(rz_lock *out, const rz_home *home, const char *subdir, int operation,
                       const rz_lock_wait *wait, rz_error *err);

/* What a change of the index does on disk, worked out from the index under the home lock. */
typedef struct plan {
    cJSON *touched;  /* strings: models_subdirs whose folders it needs exclusive (folder locks) */
    cJSON *models;   /* strings: model paths to move aside before the index changes */
    cJSON *folders;  /* strings: whole models folders to move aside */
    cJSON *replaced; /* strings: identities of other sources the change unregisters */
} plan;

static void plan_clear(plan *p)
{
    cJSON_Delete(p->touched);
    cJSON_Delete(p->models);
    cJSON_Delete(p->folders);
    cJSON_Delete(p->replaced);
    memset(p, 0, sizeof(*p));
}

static int plan_init(plan *p, rz_error *err)
{
    p->touched = cJSON_CreateArray();
    p->models = cJSON_CreateArray();
    p->folders = cJSON_CreateArray();
    p->replaced = cJSON_CreateArray();
    if (!p->touched || !p->models || !p->folders || !p->replaced) {
        plan_clear(p);
        return rz_error_set(err, RZ_E_NOMEM, "out of memory");
    }
    return 0;
}

static int in_strings(const cJSON *array, const char *s)
{
    const cJSON *item;

    cJSON_ArrayForEach(item, array)
    {
        if (cJSON_IsString(item) && strcmp(item->valuestring, s) == 0)
            return 1;
    }
    return 0;
}

/* Append s to array unless it is there. */
static int add_string_once(cJSON *array, const char *s, rz_error *err)
{
    if (in_strings(array, s))
        return 0;
    return cJSON_AddItemToArray(array, cJSON_CreateString(s))
               ? 0
               : rz_error_set(err, RZ_E_NOMEM, "out of memory");
}

/* <models>/<subdir>[/<filename>] appended to array. */
static int add_path_once(cJSON *array, const rz_home *home, const char *subdir,
                         const char *filename, rz_error *err)
{
    char path[RZ_PATH_MAX];

    if (rz_pathf(path, sizeof(path), err, "%s/%s%s%s", home->models, subdir, filename ? "/" : "",
                 filename ? filename : "") < 0)
        return -1;
    return add_string_once(array, path, err);
}

/* Two models folders are one when their names differ at most in ASCII case (so that they stay
 * apart on a case-insensitive file system too); they overlap when one is, or is inside, the
 * other. Both are clean paths (rz_path_is_clean), so comparing spellings compares places. */
static int folders_overlap(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);

    if (la > lb)
        return folders_overlap(b, a);
    return strncasecmp(a, b, la) == 0 && (b[la] == '\0' || b[la] == '/');
}

static int same_folder(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0;
}

static const cJSON *manifests_of(const cJSON *source)
{
    return cJSON_GetObjectItemCaseSensitive(source, "manifests");
}

static const cJSON *models_of(const cJSON *manifest)
{
    return cJSON_GetObjectItemCaseSensitive(manifest, "models");
}

static int str_equal(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* The folder a manifest of a source registered again keeps: the one its previous entry (old,
 * may be NULL) gave the manifest of the same directory and the same name. NULL if none. */
static const char *kept_folder(const cJSON *old, const cJSON *manifest)
{
    const cJSON *prev;

    cJSON_ArrayForEach(prev, manifests_of(old))
    {
        if (str_equal(rz_json_str(prev, "dir"), rz_json_str(manifest, "dir")) &&
            str_equal(rz_json_str(prev, "name"), rz_json_str(manifest, "name")))
            return rz_json_str(prev, "models_subdir");
    }
    return NULL;
}

enum { BY_OVERLAP, BY_FOLDER, BY_NAME };

/* The source other than identity (and those in skip) with a manifest whose folder overlaps
 * folder (BY_OVERLAP), is folder (BY_FOLDER), or whose folder or name is folder (BY_NAME: the
 * name is provided by another source); NULL if none. */
static const cJSON *owner_of(const rz_index *idx, const char *identity, const cJSON *skip,
                             const char *folder, int by)
{
    const cJSON *source, *manifest;

    cJSON_ArrayForEach(source, rz_index_sources(idx))
    {
        const char *id = rz_json_str(source, "identity");
        if (str_equal(id, identity) || in_strings(skip, id))
            continue;
        cJSON_ArrayForEach(manifest, manifests_of(source))
        {
            const char *other = rz_json_str(manifest, "models_subdir");
            const char *name = rz_json_str(manifest, "name");
            if (other && (by == BY_OVERLAP ? folders_overlap(other, folder)
                                           : same_folder(other, folder)))
                return source;
            if (by == BY_NAME && name && same_folder(name, folder))
                return source;
        }
    }
    return NULL;
}

/* 1 if a manifest of entry other than stop whose folder is assigned already (one before stop,
 * or one keeping its folder: those go first) has a folder overlapping folder. */
static int overlaps_own(const cJSON *old, const cJSON *entry, const cJSON *stop, const char *folder)
{
    const cJSON *manifest;
    int before = 1;

    cJSON_ArrayForEach(manifest, manifests_of(entry))
    {
        const char *other = rz_json_str(manifest, "models_subdir");
        if (manifest == stop) {
            before = 0;
            continue;
        }
        if ((before || kept_folder(old, manifest)) && other && folders_overlap(other, folder))
            return 1;
    }
    return 0;
}

static int set_string(cJSON *obj, const char *key, const char *value, rz_error *err)
{
    cJSON *item = cJSON_CreateString(value);

    if (!item || !(cJSON_GetObjectItemCaseSensitive(obj, key)
                       ? cJSON_ReplaceItemInObjectCaseSensitive(obj, key, item)
                       : cJSON_AddItemToObject(obj, key, item))) {
        cJSON_Delete(item);
        return rz_error_set(err, RZ_E_NOMEM, "out of memory");
    }
    return 0;
}

/* The manifest of source whose folder is folder, or NULL. */
static const cJSON *manifest_in(const cJSON *source, const char *folder)
{
    const cJSON *manifest;

    cJSON_ArrayForEach(manifest, manifests_of(source))
    {
        if (str_equal(rz_json_str(manifest, "models_subdir"), folder))
            return manifest;
    }
    return NULL;
}

/* 1 if manifest has a model at filename with digest (a model without one matches nothing). */
static int has_model(const cJSON *manifest, const char *filename, const char *digest)
{
    const cJSON *model;

    cJSON_ArrayForEach(model, models_of(manifest))
    {
        if (str_equal(rz_json_str(model, "filename"), filename))
            return digest && str_equal(rz_json_str(model, "digest"), digest);
    }
    return 0;
}

/* The folder of one manifest of a source being registered: the one its previous registration
 * gave it, else its name, else (no name, or a name overlapping a folder already taken) the
 * source's own. Records in p the sources whose folder equals its name (overwrite replaces
 * them; else that is refused). Kept folders are assigned in a first pass (kept_pass). */
static int assign_folder(plan *p, const rz_index *idx, const cJSON *old, cJSON *entry,
                         cJSON *manifest, int overwrite, int kept_pass, rz_error *err)
{
    const char *identity = rz_json_str(entry, "identity"), *slug = rz_json_str(entry, "slug");
    const char *name = rz_json_str(manifest, "name"), *kept = kept_folder(old, manifest);
    char own[RZ_PATH_MAX];
    const cJSON *other;

    if (kept_pass || kept)
        return kept_pass && kept ? set_string(manifest, "models_subdir", kept, err) : 0;
    if (rz_source_default_subdir(own, sizeof(own), slug, rz_json_str(manifest, "dir")) < 0)
        return rz_error_set(err, RZ_E_SOURCE, "source %s: a manifest's path is too long", identity);
    if (name) {
        while ((other = owner_of(idx, identity, p->replaced, name, BY_NAME))) {
            const char *other_id = rz_json_str(other, "identity");
            if (!overwrite) {
                rz_error_set(err, RZ_E_SOURCE,
                             "source %s: the manifest name '%s' is already provided by source "
                             "%s; pass overwrite=True to replace that source",
                             identity, name, other_id);
                rz_error_attach_source(err, identity);
                return -1;
            }
            if (add_string_once(p->replaced, other_id, err) < 0)
                return -1;
        }
    }
    /* A name nested in or around a folder already taken keeps the models apart in the
     * source's own folder: removing one folder must never reach into another. */
    if (name && !owner_of(idx, identity, p->replaced, name, BY_OVERLAP) &&
        !overlaps_own(old, entry, manifest, name))
        return set_string(manifest, "models_subdir", name, err);
    if (owner_of(idx, identity, p->replaced, own, BY_OVERLAP) ||
        overlaps_own(old, entry, manifest, own)) {
        rz_error_set(err, RZ_E_SOURCE,
                     "source %s: no models folder is free for its manifest%s%s (%s is taken)",
                     identity, name ? " " : "", name ? name : "", own);
        rz_error_attach_source(err, identity);
        return -1;
    }
    return set_string(manifest, "models_subdir", own, err);
}

/* What registering entry again changes in one folder it shares with its previous entry: the
 * models whose (filename, digest) the other side does not have go aside. */
static int plan_models(plan *p, const rz_home *home, const char *folder, const cJSON *from,
                       const cJSON *against, rz_error *err)
{
    const cJSON *model;

    cJSON_ArrayForEach(model, models_of(from))
    {
        const char *filename = rz_json_str(model, "filename");
        if (!filename || has_model(against, filename, rz_json_str(model, "digest")))
            continue;
        if (add_string_once(p->touched, folder, err) < 0 ||
            add_path_once(p->models, home, folder, filename, err) < 0)
            return -1;
    }
    return 0;
}

/* A whole folder goes: exclusive, and aside when it is on disk, unless a source that stays
 * registered (not identity, not one p replaces) has a folder in or around it (a registry of an
 * older remotezoo nested them): that one's models are never removed with it. */
static int plan_folder(plan *p, const rz_home *home, const rz_index *idx, const char *identity,
                       const char *folder, rz_error *err)
{
    if (add_string_once(p->touched, folder, err) < 0)
        return -1;
    if (owner_of(idx, identity, p->replaced, folder, BY_OVERLAP))
        return 0;
    return add_path_once(p->folders, home, folder, NULL, err);
}

typedef struct change {
    const rz_home *home;
    cJSON *entry; /* put: owned until inserted */
    int overwrite;
    const char *identity; /* remove */
    cJSON *removed;       /* entries taken out of the index (owned), or NULL */
} change;

static int plan_put(plan *p, rz_index *idx, change *c, rz_error *err)
{
    const char *identity = rz_json_str(c->entry, "identity");
    const cJSON *old = rz_index_find_source(idx, identity), *source, *manifest;
    cJSON *m;

    for (int kept_pass = 1; kept_pass >= 0; kept_pass--) {
        cJSON_ArrayForEach(m, manifests_of(c->entry))
        {
            if (assign_folder(p, idx, old, c->entry, m, c->overwrite, kept_pass, err) < 0)
                return -1;
        }
    }
    /* The folders of the previous entry: gone, or compared model by model. */
    cJSON_ArrayForEach(manifest, manifests_of(old))
    {
        const char *folder = rz_json_str(manifest, "models_subdir");
        const cJSON *now = folder ? manifest_in(c->entry, folder) : NULL;
        if (folder && !now && plan_folder(p, c->home, idx, identity, folder, err) < 0)
            return -1;
        if (now && (plan_models(p, c->home, folder, manifest, now, err) < 0 ||
                    plan_models(p, c->home, folder, now, manifest, err) < 0))
            return -1;
    }
    /* Folders taken anew: what is on disk there is no download of this entry's. */
    cJSON_ArrayForEach(manifest, manifests_of(c->entry))
    {
        const char *folder = rz_json_str(manifest, "models_subdir");
        if (!manifest_in(old, folder) && plan_folder(p, c->home, idx, identity, folder, err) < 0)
            return -1;
    }
    cJSON_ArrayForEach(source, rz_index_sources(idx))
    {
        if (!in_strings(p->replaced, rz_json_str(source, "identity")))
            continue;
        cJSON_ArrayForEach(manifest, manifests_of(source))
        {
            const char *folder = rz_json_str(manifest, "models_subdir");
            if (folder && plan_folder(p, c->home, idx, identity, folder, err) < 0)
                return -1;
        }
    }
    return 0;
}

static int plan_remove(plan *p, rz_index *idx, change *c, rz_error *err)
{
    if (!rz_index_find_source(idx, c->identity)) {
        rz_error_set(err, RZ_E_SOURCE,
                     "source %s is not registered; list_zoo_model_sources() shows those that are",
                     c->identity);
        rz_error_attach_source(err, c->identity);
        return -1;
    }
    return 0; /* its folders are "doomed": rz_registry_clear_doomed waits for their users */
}

/* Append {key: value} to the index's "doomed" list. */
static int doom(rz_index *idx, const char *key, const char *value, rz_error *err)
{
    cJSON *doomed = cJSON_GetObjectItemCaseSensitive(idx->root, "doomed"), *mark;

    if (!doomed && !(doomed = cJSON_AddArrayToObject(idx->root, "doomed")))
        return rz_error_set(err, RZ_E_NOMEM, "out of memory");
    if (!(mark = cJSON_CreateObject()) || !cJSON_AddStringToObject(mark, key, value) ||
        !cJSON_AddItemToArray(doomed, mark)) {
        cJSON_Delete(mark);
        return rz_error_set(err, RZ_E_NOMEM, "out of memory");
    }
    return 0;
}

/* Take source (an entry of idx) out of the index into c->removed, and mark what it leaves
 * "doomed": its tree (a fetched source), and, unless the caller removes them itself, its models
 * folders. */
static int unregister(rz_index *idx, cJSON *source, change *c, int doom_folders, rz_error *err)
{
    const char *kind = rz_json_str(source, "kind"), *slug = rz_json_str(source, "slug");
    const cJSON *manifest;

    if (!c->removed && !(c->removed = cJSON_CreateArray()))
        return rz_error_set(err, RZ_E_NOMEM, "out of memory");
    if (kind && strcmp(kind, "local") != 0 && slug && doom(idx, "slug", slug, err) < 0)
        return -1;
    cJSON_ArrayForEach(manifest, manifests_of(source))
    {
        const char *folder = rz_json_str(manifest, "models_subdir");
        if (doom_folders && folder && doom(idx, "folder", folder, err) < 0)
            return -1;
    }
    cJSON_AddItemToArray(c->removed, cJSON_DetachItemViaPointer(rz_index_sources(idx), source));
    return 0;
}

/* Drop the "doomed" marks {key: value}: registered again, or removed. */
static void undoom(rz_index *idx, const char *key, const char *value)
{
    cJSON *doomed = cJSON_GetObjectItemCaseSensitive(idx->root, "doomed"), *mark, *next;

    for (mark = doomed ? doomed->child : NULL; mark; mark = next) {
        const char *v = rz_json_str(mark, key);
        next = mark->next;
        if (v && (strcmp(key, "folder") == 0 ? same_folder(v, value) : strcmp(v, value) == 0))
            cJSON_Delete(cJSON_DetachItemViaPointer(doomed, mark));
    }
}

static int edit_put(rz_index *idx, plan *p, change *c, rz_error *err)
{
    cJSON *sources = rz_index_sources(idx), *source, *next;
    const cJSON *manifest;
    cJSON *old = rz_index_find_source(idx, rz_json_str(c->entry, "identity"));

    for (source = sources->child; source; source = next) {
        next = source->next;
        /* their folders are moved aside by this change (plan_put) */
        if (in_strings(p->replaced, rz_json_str(source, "identity")) &&
            unregister(idx, source, c, 0, err) < 0)
            return -1;
    }
    if (old ? !cJSON_ReplaceItemViaPointer(sources, old, c->entry)
            : !cJSON_AddItemToArray(sources, c->entry))
        return rz_error_set(err, RZ_E_NOMEM, "out of memory");
    undoom(idx, "slug", rz_json_str(c->entry, "slug"));
    cJSON_ArrayForEach(manifest, manifests_of(c->entry))
    {
        undoom(idx, "folder", rz_json_str(manifest, "models_subdir"));
    }
    c->entry = NULL; /* the index owns it now */
    return 0;
}

static int edit_remove(rz_index *idx, plan *p, change *c, rz_error *err)
{
    return unregister(idx, rz_index_find_source(idx, c->identity), c, 1, err);
}

/* Move what p says aside into trash: models first (rz_model_move_aside), then folders, whose
 * emptied parents go too (rmdir fails on one that holds anything). */
static int move_aside(rz_trash *trash, const rz_home *home, const plan *p, rz_error *err)
{
    const cJSON *item;

    cJSON_ArrayForEach(item, p->models)
    {
        if (rz_model_move_aside(trash, home->models, item->valuestring, err) < 0)
            return -1;
    }
    cJSON_ArrayForEach(item, p->folders)
    {
        char parent[RZ_PATH_MAX], *slash;
        int moved = rz_trash_move(trash, home->models, item->valuestring, err);
        if (moved < 0)
            return -1;
        snprintf(parent, sizeof(parent), "%s", item->valuestring);
        while (moved && (slash = strrchr(parent, '/')) &&
               (size_t)(slash - parent) > strlen(home->models)) {
            *slash = '\0';
            if (rmdir(parent) < 0)
                break;
        }
    }
    return 0;
}

/* Folder locks held by a change, by models_subdir. */
typedef struct held_folders {
    cJSON *names; /* strings, sorted */
    rz_lock *locks;
    size_t n;
} held_folders;

static void release_folders(held_folders *h)
{
    for (size_t i = 0; i < h->n; i++)
        rz_lock_release(&h->locks[i]);
    free(h->locks);
    cJSON_Delete(h->names);
    memset(h, 0, sizeof(*h));
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* 1 if every folder of wanted is held. */
static int holds_all(const held_folders *h, const cJSON *wanted)
{
    const cJSON *item;

    cJSON_ArrayForEach(item, wanted)
    {
        if (!in_strings(h->names, item->valuestring))
            return 0;
    }
    return 1;
}

/* Release what h holds and take the folders of h and wanted together, exclusive: all of them
 * without waiting, or, when one is busy, none while waiting for that one, then all again. */
static int lock_folders(held_folders *h, const rz_home *home, const cJSON *wanted, rz_error *err)
{
    cJSON *names = cJSON_Duplicate(h->names ? h->names : wanted, 1);
    const char **sorted = NULL;
    const cJSON *item;
    size_t n = 0, i;
    int rc = -1;

    if (!names)
        return rz_error_set(err, RZ_E_NOMEM, "out of memory");
    cJSON_ArrayForEach(item, wanted)
    {
        if (add_string_once(names, item->valuestring, err) < 0)
            goto done;
    }
    release_folders(h);
    h->names = names;
    names = NULL;
    n = (size_t)cJSON_GetArraySize(h->names);
    sorted = calloc(n ? n : 1, sizeof(*sorted));
    h->locks = calloc(n ? n : 1, sizeof(*h->locks));
    if (!sorted || !h->locks) {
        rz_error_set(err, RZ_E_NOMEM, "out of memory");
        goto done;
    }
    i = 0;
    cJSON_ArrayForEach(item, h->names)
    {
        sorted[i++] = item->valuestring;
    }
    qsort(sorted, n, sizeof(*sorted), compare_strings);
    for (;;) {
        rz_lock_wait try_only = home->wait;
        rz_lock one = RZ_LOCK_INIT;
        size_t busy = n;
        try_only.try_only = 1;
        for (i = 0; i < n && busy == n; i++) {
            rz_error e;
            rz_error_init(&e);
            if (folder_lock(&h->locks[i], home, sorted[i], LOCK_EX, &try_only, &e) == 0)
                h->n = i + 1;
            else if (e.kind == RZ_E_OS && e.sys_errno == EWOULDBLOCK)
                busy = i;
            else {
                *err = e;
                goto done;
            }
        }
        if (busy == n)
            break;
        /* Never wait while holding others: a call using that folder may be waiting for one of
         * them (a source's code loading another source's model holds both, in its own order). */
        for (i = 0; i < h->n; i++)
            rz_lock_release(&h->locks[i]);
        h->n = 0;
        if (folder_lock(&one, home, sorted[busy], LOCK_EX, &home->wait, err) < 0)
            goto done;
        rz_lock_release(&one);
    }
    rc = 0;
done:
    free(sorted);
    cJSON_Delete(names);
    return rc;
}

typedef int (*plan_fn)(plan *p, rz_index *idx, change *c, rz_error *err);
typedef int (*edit_fn)(rz_index *idx, plan *p, change *c, rz_error *err);

/* Plan the change on the index read under the home lock; when the plan needs folders not held
 * yet, let go of the home lock, take them (lock order) and plan again. With every folder held,
 * move aside what the plan says, edit the index and save it; then release the locks and remove
 * what was moved aside. */
static int locked_change(const rz_home *home, plan_fn make_plan, edit_fn edit, change *c,
                         rz_error *err)
{
    held_folders held = {0};
    rz_trash trash = {0};
    int rc = -1;

    for (int attempt = 0; attempt < LOCK_ATTEMPTS; attempt++) {
        rz_lock home_lock = RZ_LOCK_INIT;
        rz_index *idx = NULL;
        plan p = {0};
        int ready = 0;
        if (rz_lock_acquire(&home_lock, home->lock, LOCK_EX, 0, &home->wait, err) < 0)
            break;
        if (rz_index_load(&idx, home, err) == 0 && plan_init(&p, err) == 0 &&
            make_plan(&p, idx, c, err) == 0) {
            ready = holds_all(&held, p.touched);
            if (ready)
                rc = move_aside(&trash, home, &p, err) == 0 && edit(idx, &p, c, err) == 0 &&
                             save_index(home, idx->root, err) == 0
                         ? 0
                         : -1;
        }
        rz_lock_release(&home_lock);
        rz_index_free(idx);
        if (ready || err->kind != RZ_E_NONE || lock_folders(&held, home, p.touched, err) < 0) {
            plan_clear(&p);
            goto done;
        }
        plan_clear(&p);
    }
    rz_error_set(err, RZ_E_SOURCE, "the registry keeps changing under this change; try again");
done:
    release_folders(&held);
    rz_trash_empty(&trash); /* after the locks: removing a big model may take long */
    return rc;
}

int rz_registry_put_source(cJSON **out_replaced, const rz_home *home, cJSON *entry, int overwrite,
                           rz_error *err)
{
    change c = {home, entry, overwrite, NULL, NULL};
    int rc;

    *out_replaced = NULL;
    if (!rz_json_str(entry, "identity") || !rz_json_str(entry, "slug")) {
        cJSON_Delete(entry);
        return rz_error_set(err, RZ_E_INVALID, "source entry without identity or slug");
    }
    rc = locked_change(home, plan_put, edit_put, &c, err);
    cJSON_Delete(c.entry); /* NULL when it was inserted */
    if (rc == 0)
        *out_replaced = c.removed;
    else
        cJSON_Delete(c.removed);
    return rc;
}

int rz_registry_remove_source(cJSON **out, const rz_home *home, const char *identity, rz_error *err)
{
    change c = {home, NULL, 0, identity, NULL};

    *out = NULL;
    if (locked_change(home, plan_remove, edit_remove, &c, err) < 0) {
        cJSON_Delete(c.removed);
        return -1;
    }
    *out = cJSON_DetachItemFromArray(c.removed, 0);
    cJSON_Delete(c.removed);
    return 0;
}

cJSON *rz_index_doomed(const rz_index *idx)
{
    return cJSON_GetObjectItemCaseSensitive(idx->root, "doomed");
}

int rz_registry_forget_doomed(const rz_home *home, const char *const *slugs, size_t n,
                              rz_error *err)
{
    rz_lock home_lock = RZ_LOCK_INIT;
    rz_index *idx = NULL;
    int rc = -1;

    if (rz_lock_acquire(&home_lock, home->lock, LOCK_EX, 0, &home->wait, err) < 0)
        return -1;
    if (rz_index_load(&idx, home, err) == 0) {
        for (size_t i = 0; i < n; i++)
            undoom(idx, "slug", slugs[i]);
        rc = save_index(home, idx->root, err);
    }
    rz_index_free(idx);
    rz_lock_release(&home_lock);
    return rc;
}

int rz_registry_clear_doomed_folder(const rz_home *home, const char *folder, int wait,
                                    rz_error *err)
{
    rz_lock_wait how = home->wait;
    rz_lock held = RZ_LOCK_INIT, home_lock = RZ_LOCK_INIT;
    rz_trash trash = {0};
    rz_index *idx = NULL;
    rz_error busy;
    int rc = -1;

    /* Exclusive: the downloads and loads that started before the source went finish first. */
    how.try_only = !wait;
    rz_error_init(&busy);
    if (folder_lock(&held, home, folder, LOCK_EX, &how, &busy) < 0) {
        if (how.try_only && busy.kind == RZ_E_OS && busy.sys_errno == EWOULDBLOCK)
            return 0; /* in use: left for a later sweep */
        *err = busy;
        return -1;
    }
    if (rz_lock_acquire(&home_lock, home->lock, LOCK_EX, 0, &home->wait, err) == 0 &&
        rz_index_load(&idx, home, err) == 0) {
        const cJSON *mark, *owner = NULL;
        plan p = {0};
        int doomed = 0;
        cJSON_ArrayForEach(mark, rz_index_doomed(idx))
        {
            const char *v = rz_json_str(mark, "folder");
            doomed |= v && same_folder(v, folder);
        }
        /* Taken again meanwhile: the registration that took it cleared it (plan_folder leaves
         * a folder in or around a registered one alone too). */
        owner = owner_of(idx, NULL, NULL, folder, BY_FOLDER);
        if (!doomed || owner ||
            (plan_init(&p, err) == 0 && plan_folder(&p, home, idx, NULL, folder, err) == 0 &&
             move_aside(&trash, home, &p, err) == 0)) {
            undoom(idx, "folder", folder);
            rc = doomed ? save_index(home, idx->root, err) : 0;
        }
        plan_clear(&p);
    }
    rz_index_free(idx);
    rz_lock_release(&home_lock);
    rz_lock_release(&held);
    rz_trash_empty(&trash);
    return rc;
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

    if (!cJSON_IsArray(models_of(manifest)))
        return bad_field(index, identity, "models", err);
    cJSON_ArrayForEach(model, models_of(manifest))
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
    const cJSON *manifest;
    int local;

    if (!identity || !identity[0])
        return bad_field(index, NULL, "identity", err);
    if (!kind || (strcmp(kind, "github") && strcmp(kind, "archive") && strcmp(kind, "local")))
        return bad_field(index, identity, "kind", err);
    local = strcmp(kind, "local") == 0;
    if (!chars_in(slug, LOWER_DIGITS "_", 1, SLUG_MAX))
        return bad_field(index, identity, "slug", err);
    if (local ? !str_equal(generation, "local")
              : !chars_in(generation, ALNUM "-", 1, 64) || generation[0] == '-')
        return bad_field(index, identity, "generation", err);
    if (local) {
        if (!is_clean_absolute(tree))
            return bad_field(index, identity, "tree", err);
    } else {
        char want[RZ_PATH_MAX];
        snprintf(want, sizeof(want), "sources/%s/%s/tree", slug, generation);
        if (!str_equal(tree, want))
            return bad_field(index, identity, "tree", err);
    }
    if (sha && !chars_in(sha, HEX, 40, 40) && !chars_in(sha, HEX, 64, 64))
        return bad_field(index, identity, "sha", err);
    if (!cJSON_IsArray(manifests_of(source)))
        return bad_field(index, identity, "manifests", err);
    cJSON_ArrayForEach(manifest, manifests_of(source))
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
        cJSON_ArrayForEach(manifest, manifests_of(source))
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
        if (same_folder(folders[i - 1], folders[i]))
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

/* <locks>/<kind>-<hash of key>.lock, taken with operation. */
static int lock_by_hash(rz_lock *out, const rz_home *home, const char *kind, const char *key,
                        int operation, const rz_lock_wait *wait, rz_error *err)
{
    char lock[RZ_PATH_MAX];

    out->fd = -1;
    out->path = NULL;
    if (rz_pathf(lock, sizeof(lock), err, "%s/%s-%016llx.lock", home->locks, kind,
                 rz_fnv1a64(key, strlen(key))) < 0)
        return -1;
    return rz_lock_acquire(out, lock, operation, RZ_LOCK_REMOVABLE, wait, err);
}

int rz_model_lock(rz_lock *out, const rz_home *home, const char *model_path, int operation,
                  rz_error *err)
{
    return lock_by_hash(out, home, "model", model_path, operation, &home->wait, err);
}

/* rz_folder_lock, waiting as wait says. */
static int folder_lock(rz_lock *out, const rz_home *home, const char *subdir, int operation,
                       const rz_lock_wait *wait, rz_error *err)
{
    char lower[RZ_PATH_MAX];
    size_t i;

    /* One lock for the spellings that are one folder (folders_overlap ignores ASCII case). */
    for (i = 0; subdir[i] && i + 1 < sizeof(lower); i++)
        lower[i] = (char)(subdir[i] >= 'A' && subdir[i] <= 'Z' ? subdir[i] + 32 : subdir[i]);
    lower[i] = '\0';
    return lock_by_hash(out, home, "folder", lower, operation, wait, err);
}

int rz_folder_lock(rz_lock *out, const rz_home *home, const char *subdir, int operation,
                   rz_error *err)
{
    return folder_lock(out, home, subdir, operation, &home->wait, err);
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
