/* registry.c - see registry.h. */
#include "core/registry.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/json.h"
#include "core/models.h"
#include "core/names.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/hash.h"

#define LOCK_ATTEMPTS 16 /* a registration that keeps finding more folders to lock gives up */

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
        for (size_t i = 0; i < 2; i++) {
            char *path;
            if (strncmp(de->d_name, prefixes[i], strlen(prefixes[i])) != 0 ||
                !(path = rz_path(NULL, "%s/%s", home->root, de->d_name)))
                continue;
            unlink(path);
            free(path);
        }
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
    char *path = rz_path(err, "%s/%s%s%s", home->models, subdir, filename ? "/" : "",
                         filename ? filename : "");
    int rc = path ? add_string_once(array, path, err) : -1;

    free(path);
    return rc;
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

static int str_equal(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* The folder a manifest of a source registered again keeps: the one its previous entry (old,
 * may be NULL) gave the manifest of the same directory and the same name. NULL if none. */
static const char *kept_folder(const cJSON *old, const cJSON *manifest)
{
    const cJSON *prev;

    cJSON_ArrayForEach(prev, rz_index_manifests(old))
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
        cJSON_ArrayForEach(manifest, rz_index_manifests(source))
        {
            const char *other = rz_json_str(manifest, "models_subdir");
            const char *name = rz_json_str(manifest, "name");
            if (other && (by == BY_OVERLAP ? folders_overlap(other, folder)
                                           : rz_folders_same(other, folder)))
                return source;
            if (by == BY_NAME && name && rz_folders_same(name, folder))
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

    cJSON_ArrayForEach(manifest, rz_index_manifests(entry))
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

    cJSON_ArrayForEach(manifest, rz_index_manifests(source))
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

    cJSON_ArrayForEach(model, rz_index_models(manifest))
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
    char own[RZ_SOURCE_SUBDIR_MAX];
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

    cJSON_ArrayForEach(model, rz_index_models(from))
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
        cJSON_ArrayForEach(m, rz_index_manifests(c->entry))
        {
            if (assign_folder(p, idx, old, c->entry, m, c->overwrite, kept_pass, err) < 0)
                return -1;
        }
    }
    /* The folders of the previous entry: gone, or compared model by model. */
    cJSON_ArrayForEach(manifest, rz_index_manifests(old))
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
    cJSON_ArrayForEach(manifest, rz_index_manifests(c->entry))
    {
        const char *folder = rz_json_str(manifest, "models_subdir");
        if (!manifest_in(old, folder) && plan_folder(p, c->home, idx, identity, folder, err) < 0)
            return -1;
    }
    cJSON_ArrayForEach(source, rz_index_sources(idx))
    {
        if (!in_strings(p->replaced, rz_json_str(source, "identity")))
            continue;
        cJSON_ArrayForEach(manifest, rz_index_manifests(source))
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
    cJSON_ArrayForEach(manifest, rz_index_manifests(source))
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
        if (v && (strcmp(key, "folder") == 0 ? rz_folders_same(v, value) : strcmp(v, value) == 0))
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
    cJSON_ArrayForEach(manifest, rz_index_manifests(c->entry))
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
        char *parent, *slash;
        int moved = rz_trash_move(trash, home->models, item->valuestring, err);
        if (moved < 0)
            return -1;
        if (!moved || !(parent = strdup(item->valuestring)))
            continue; /* the empty parents stay for a later removal */
        while ((slash = strrchr(parent, '/')) && (size_t)(slash - parent) > strlen(home->models)) {
            *slash = '\0';
            if (rmdir(parent) < 0)
                break;
        }
        free(parent);
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
    qsort(sorted, n, sizeof(*sorted), rz_compare_names);
    for (;;) {
        rz_lock_wait try_only = home->wait;
        rz_lock one = RZ_LOCK_INIT;
        size_t busy = n;
        try_only.try_only = 1;
        for (i = 0; i < n && busy == n; i++) {
            int taken = folder_lock(&h->locks[i], home, sorted[i], LOCK_EX, &try_only, err);
            if (taken < 0)
                goto done;
            if (taken == RZ_LOCK_BUSY)
                busy = i;
            else
                h->n = i + 1;
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

/* rz_registry_clear_doomed_folder, or (orphan) rz_registry_clear_orphan_folder. */
static int clear_folder(const rz_home *home, const char *folder, int wait, int orphan,
                        rz_error *err)
{
    rz_lock_wait how = home->wait;
    rz_lock held = RZ_LOCK_INIT, home_lock = RZ_LOCK_INIT;
    rz_trash trash = {0};
    rz_index *idx = NULL;
    int rc;

    /* Exclusive: the downloads and loads that started before the source went finish first. */
    how.try_only = !wait;
    rc = folder_lock(&held, home, folder, LOCK_EX, &how, err);
    if (rc != 0)
        return rc < 0 ? -1 : 0; /* busy: in use, left for a later sweep */
    rc = -1;
    if (rz_lock_acquire(&home_lock, home->lock, LOCK_EX, 0, &home->wait, err) == 0 &&
        rz_index_load(&idx, home, err) == 0) {
        const cJSON *mark, *owner = NULL;
        plan p = {0};
        int doomed = 0;
        cJSON_ArrayForEach(mark, rz_index_doomed(idx))
        {
            const char *v = rz_json_str(mark, "folder");
            doomed |= v && rz_folders_same(v, folder);
        }
        /* Taken again meanwhile: the registration that took it cleared it (plan_folder leaves
         * a folder in or around a registered one alone too). */
        owner = owner_of(idx, NULL, NULL, folder, orphan ? BY_OVERLAP : BY_FOLDER);
        if (orphan) {
            rc = 0; /* a folder in or around a registered one is not an orphan */
            if (!owner && plan_init(&p, err) == 0 &&
                plan_folder(&p, home, idx, NULL, folder, err) == 0 &&
                move_aside(&trash, home, &p, err) == 0)
                rc = 1;
        } else if (!doomed || owner ||
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

int rz_registry_clear_doomed_folder(const rz_home *home, const char *folder, int wait,
                                    rz_error *err)
{
    return clear_folder(home, folder, wait, 0, err);
}

int rz_registry_clear_orphan_folder(const rz_home *home, const char *folder, rz_error *err)
{
    return clear_folder(home, folder, 0, 1, err);
}

int rz_registry_folder_relation(const rz_index *idx, const char *folder)
{
    const cJSON *source, *manifest;
    int relation = 0;

    cJSON_ArrayForEach(source, rz_index_sources(idx))
    {
        cJSON_ArrayForEach(manifest, rz_index_manifests(source))
        {
            const char *own = rz_json_str(manifest, "models_subdir");
            if (!own || !folders_overlap(own, folder))
                continue;
            if (strlen(own) <= strlen(folder))
                return 2; /* folder is a registered one, or inside one */
            relation = 1; /* a registered folder is inside folder */
        }
    }
    return relation;
}
/* <locks>/<kind>-<hash of key>.lock, taken with operation. */
static int lock_by_hash(rz_lock *out, const rz_home *home, const char *kind, const char *key,
                        int operation, const rz_lock_wait *wait, rz_error *err)
{
    char *lock =
        rz_path(err, "%s/%s-%016llx.lock", home->locks, kind, rz_fnv1a64(key, strlen(key)));
    int rc;

    out->fd = -1;
    out->path = NULL;
    if (!lock)
        return -1;
    rc = rz_lock_acquire(out, lock, operation, RZ_LOCK_REMOVABLE, wait, err);
    free(lock);
    return rc;
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
    char *lower = strdup(subdir);
    int rc;

    if (!lower)
        return rz_error_set(err, RZ_E_NOMEM, "out of memory");
    /* One lock for the spellings that are one folder (folders_overlap ignores ASCII case). */
    for (size_t i = 0; lower[i]; i++)
        lower[i] = (char)(lower[i] >= 'A' && lower[i] <= 'Z' ? lower[i] + 32 : lower[i]);
    rc = lock_by_hash(out, home, "folder", lower, operation, wait, err);
    free(lower);
    return rc;
}

int rz_folder_lock(rz_lock *out, const rz_home *home, const char *subdir, int operation,
                   rz_error *err)
{
    return folder_lock(out, home, subdir, operation, &home->wait, err);
}
