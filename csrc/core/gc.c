/* gc.c - see gc.h. */
#include "core/gc.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/generation.h"
#include "core/json.h"
#include "util/lock.h"
#include "core/models.h"
#include "core/records.h"
#include "core/registry.h"
#include "core/source.h"
#include "util/buf.h"
#include "util/fsutil.h"

#define RECORD_MAX_BYTES (64u << 10)
#define WALK_MAX_DEPTH   64

typedef struct gc {
    const rz_home *home;
    int apply;
    rz_gc_visit_fn visit;
    void *payload;
    rz_index *idx;
    rz_error *err;
    rz_error *scratch; /* owned: the errors gc ignores (an rz_error is 8 KB: not on the stack) */
} gc;

/* g's scratch error, emptied. */
static rz_error *scratch(gc *g)
{
    rz_error_init(g->scratch);
    return g->scratch;
}

/* name in dir (malloc'd), or NULL when the path does not fit (skipped: no file of ours is that
 * long) or there is no memory. */
static char *join(const char *dir, const char *name)
{
    return rz_path(NULL, "%s/%s", dir, name);
}

static char **list_dir(const char *dir, size_t *out_n);

/* Bytes path takes on disk (allocated blocks of everything below it, links not followed). */
static uint64_t tree_bytes(const char *path, int depth)
{
    struct stat st;
    uint64_t total;
    char **names;
    size_t n = 0;

    if (lstat(path, &st) < 0)
        return 0;
    total = (uint64_t)st.st_blocks * 512;
    if (!S_ISDIR(st.st_mode) || depth > 256 || !(names = list_dir(path, &n)))
        return total;
    for (size_t i = 0; i < n; i++) {
        char *child = join(path, names[i]);
        if (child)
            total += tree_bytes(child, depth + 1);
        free(child);
    }
    rz_names_free(names, n);
    return total;
}

static int report(gc *g, const char *kind, const char *path, uint64_t bytes, const char *state)
{
    rz_garbage item = {kind, path, bytes, state};
    int rc = g->visit(&item, g->payload);

    return rc ? rz_error_set(g->err, RZ_E_CALLBACK, "stopped") : 0;
}

/* A directory its users hold locked: trash, a download's, an import's (models.h). */
static int held_dir(gc *g, const char *kind, const char *path)
{
    uint64_t bytes = tree_bytes(path, 0);
    int free_now = rz_lock_probe(path, RZ_LOCK_OBJECT, &g->home->wait);

    if (free_now < 0)
        return 0; /* gone meanwhile */
    if (!g->apply)
        return report(g, kind, path, bytes, free_now ? "garbage" : "in use");
    return report(g, kind, path, bytes, rz_held_dir_remove(path) == 1 ? "removed" : "in use");
}

/* A lock no process holds (lock.h), found as file (its lock file, or under the files
 * mechanism a marker of it: marker_len long, 0 for none): removed through the lock itself,
 * whose taking also takes over stale markers. */
static int lock_file(gc *g, const char *file, size_t marker_len)
{
    uint64_t bytes = tree_bytes(file, 0);
    rz_lock lock = RZ_LOCK_INIT;
    char *path = marker_len ? strndup(file, marker_len) : strdup(file);
    int probe, rc;
    struct stat st;

    if (!path)
        return rz_error_set(g->err, RZ_E_NOMEM, "out of memory");
    probe = rz_lock_probe(path, 0, &g->home->wait);
    if (probe < 0) {
        rc = 0;
    } else if (!g->apply) {
        rc = report(g, "lock", file, bytes, probe ? "garbage" : "in use");
    } else if (rz_lock_acquire(&lock, path, LOCK_EX, RZ_LOCK_REMOVABLE, &rz_lock_no_wait,
                               scratch(g)) != 0) { /* RZ_LOCK_BUSY: a process holds it */
        rc = report(g, "lock", file, bytes, "in use");
    } else {
        /* Held: no takeover of it runs, so what a killed one left goes too; and under marker
         * files a lock file is no one's (the markers beside its path are the lock). */
        if (marker_len ? lstat(file, &st) == 0 && strchr(file + marker_len + 1, '.') != NULL
                       : lock.mechanism == RZ_LOCK_FILES)
            unlink(file);
        rz_lock_release(&lock); /* the last holder of a removable lock removes its file */
        rc = report(g, "lock", file, bytes, lstat(file, &st) < 0 ? "removed" : "in use");
    }
    free(path);
    return rc;
}

/* The entries of dir (sorted), or NULL when it cannot be read (nothing of it is looked at). */
static char **list_dir(const char *dir, size_t *out_n)
{
    char **names = NULL;

    return rz_list_dir(&names, out_n, dir, NULL) == 0 ? names : NULL;
}

/* ---- sources/ ---- */

static const cJSON *source_of_slug(const rz_index *idx, const char *slug)
{
    const cJSON *source;

    cJSON_ArrayForEach(source, rz_index_sources(idx))
    {
        const char *own = rz_json_str(source, "slug");
        if (own && strcmp(own, slug) == 0)
            return source;
    }
    return NULL;
}

/* The generations of sources/<slug> the index does not name, and what registrations left:
 * under the source's registration lock (taken without waiting), retired as a registration
 * retires them (generation.h): removed unless pinned by a running load. */
static int gc_slug(gc *g, const char *slug)
{
    const cJSON *source = source_of_slug(g->idx, slug);
    const char *keep = source ? rz_json_str(source, "generation") : NULL;
    char *dir = join(g->home->sources, slug), *lock_path = NULL;
    char **names = NULL;
    size_t n = 0, i;
    rz_lock lock = RZ_LOCK_INIT;
    uint64_t *bytes = NULL;
    int locked = 0, busy, rc = 0;

    if (!dir)
        return 0;
    if (!(lock_path = rz_path(NULL, "%s/source-%s.lock", g->home->locks, slug)))
        goto done;
    names = list_dir(dir, &n);
    if (!names || !(bytes = calloc(n, sizeof(*bytes))))
        goto done;
    for (i = 0; i < n; i++) {
        char *path;
        if (keep && strcmp(names[i], keep) == 0)
            continue; /* the generation in use: neither measured nor reported */
        path = join(dir, names[i]);
        bytes[i] = path ? tree_bytes(path, 0) : 0;
        free(path);
    }
    if (g->apply) {
        locked =
            rz_lock_acquire(&lock, lock_path, LOCK_EX, RZ_LOCK_REMOVABLE, &rz_lock_no_wait,
                            scratch(g)) == 0;
        busy = !locked;
        if (locked) {
            rz_generation_retire_others(dir, keep);
            if (!source)
                rmdir(dir); /* fails while a pinned generation waits for its last user */
        }
    } else {
        busy = rz_lock_probe(lock_path, 0, &g->home->wait) == 0;
    }
    for (i = 0; i < n && rc == 0; i++) {
        const char *kind = strncmp(names[i], ".tmp-", 5) == 0 ? "temporary" : "retired";
        char *path;
        struct stat st;
        const char *state;
        if (keep && strcmp(names[i], keep) == 0)
            continue;
        if (!(path = join(dir, names[i])))
            continue;
        if (busy)
            state = "in use"; /* a registration of the source is running */
        else if (g->apply)
            state = lstat(path, &st) == 0 ? "in use" : "removed";
        else
            state = strcmp(kind, "retired") == 0 &&
                            rz_lock_probe(path, RZ_LOCK_OBJECT, &g->home->wait) == 0
                        ? "in use"
                        : "garbage";
        rc = report(g, kind, path, bytes[i], state);
        free(path);
    }
done:
    if (locked)
        rz_lock_release(&lock);
    free(lock_path);
    free(bytes);
    rz_names_free(names, n);
    free(dir);
    return rc;
}

static int gc_sources(gc *g)
{
    size_t n = 0, i;
    char **names = list_dir(g->home->sources, &n);
    int rc = 0;

    for (i = 0; i < n && rc == 0; i++) {
        char *path = join(g->home->sources, names[i]);
        struct stat st;
        if (path && lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            rc = gc_slug(g, names[i]);
        free(path);
    }
    rz_names_free(names, n);
    return rc;
}

/* ---- models/ ---- */

/* The folders below dir (rel below <models>: "" for <models>) that no registered source has,
 * which go whole, and the trash a removal left in dir. A registered folder is not entered: its
 * models may be directories holding any names (gc_model_dirs looks where remotezoo writes). */
static int gc_models_dir(gc *g, const char *dir, const char *rel, int depth)
{
    size_t n = 0, i;
    char **names = list_dir(dir, &n);
    int rc = 0;

    for (i = 0; i < n && rc == 0; i++) {
        char *path = join(dir, names[i]), *child_rel = NULL;
        struct stat st;
        int relation;
        if (!path || lstat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
            free(path);
            continue;
        }
        if (strncmp(names[i], RZ_TRASH_PREFIX, strlen(RZ_TRASH_PREFIX)) == 0) {
            rc = held_dir(g, "trash", path);
        } else if (names[i][0] != '.' &&
                   (child_rel = rz_path(NULL, "%s%s%s", rel, rel[0] ? "/" : "", names[i]))) {
            relation = rz_registry_folder_relation(g->idx, child_rel);
            if (relation == 0) {
                uint64_t bytes = tree_bytes(path, 0);
                const char *state = "garbage";
                if (g->apply) {
                    int removed = rz_registry_clear_orphan_folder(g->home, child_rel, g->err);
                    if (removed < 0) {
                        free(path);
                        free(child_rel);
                        rc = -1;
                        break;
                    }
                    state = removed ? "removed" : "in use";
                }
                rc = report(g, "orphan", path, bytes, state);
            } else if (relation == 1 && depth < WALK_MAX_DEPTH) {
                rc = gc_models_dir(g, path, child_rel, depth + 1); /* around a registered one */
            }
        }
        free(child_rel);
        free(path);
    }
    rz_names_free(names, n);
    return rc;
}

/* 1 if name is a download's directory (<dir>/.rz-<8 hex>-XXXXXX, model.c). */
static int is_download_dir(const char *name)
{
    return strncmp(name, ".rz-", 4) == 0 && strspn(name + 4, "0123456789abcdef") == 8 &&
           name[12] == '-';
}

/* What killed downloads and removals left where they work: the directories of the registered
 * models' paths (a download's directory and its trash are made beside the model path). */
static int gc_model_dirs(gc *g)
{
    const cJSON *source, *manifest, *model;
    char **dirs = NULL;
    size_t n_dirs = 0, cap = 0, i;
    int rc = 0;

    cJSON_ArrayForEach(source, rz_index_sources(g->idx))
    {
        cJSON_ArrayForEach(manifest, cJSON_GetObjectItemCaseSensitive(source, "manifests"))
        {
            cJSON_ArrayForEach(model, cJSON_GetObjectItemCaseSensitive(manifest, "models"))
            {
                char *path = rz_model_path(g->home, manifest, model, NULL);
                if (!path)
                    continue;
                *strrchr(path, '/') = '\0';
                if (n_dirs == cap) {
                    char **grown = realloc(dirs, (cap = cap ? cap * 2 : 64) * sizeof(*dirs));
                    if (!grown) {
                        free(path);
                        goto nomem;
                    }
                    dirs = grown;
                }
                dirs[n_dirs++] = path;
            }
        }
    }
    if (n_dirs > 1)
        qsort(dirs, n_dirs, sizeof(*dirs), rz_compare_names);
    for (i = 0; i < n_dirs && rc == 0; i++) {
        size_t n = 0, j;
        char **names;
        if (i > 0 && strcmp(dirs[i], dirs[i - 1]) == 0)
            continue;
        names = list_dir(dirs[i], &n);
        for (j = 0; j < n && rc == 0; j++) {
            int trash = strncmp(names[j], RZ_TRASH_PREFIX, strlen(RZ_TRASH_PREFIX)) == 0;
            char *child;
            if ((trash || is_download_dir(names[j])) && (child = join(dirs[i], names[j]))) {
                rc = held_dir(g, trash ? "trash" : "temporary", child);
                free(child);
            }
        }
        rz_names_free(names, n);
    }
    rz_names_free(dirs, n_dirs);
    return rc;
nomem:
    rz_names_free(dirs, n_dirs);
    return rz_error_set(g->err, RZ_E_NOMEM, "out of memory");
}

/* The model path a record (records.h) names, on the heap: <models>/<its "path">; NULL for a
 * record that is not one remotezoo writes (garbage too: nothing reads it). */
static char *record_model(const gc *g, const char *record)
{
    char *out = NULL;
    char *text = NULL;
    size_t len;
    cJSON *doc = NULL;
    const char *rel;
    int fd = open(record, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0 || rz_read_fd(&text, &len, fd, RECORD_MAX_BYTES, record, NULL) < 0)
        goto done;
    doc = cJSON_ParseWithLengthOpts(text, len, NULL, 0);
    rel = rz_json_str(doc, "path");
    if (rel && rz_path_is_clean(rel))
        out = rz_path(NULL, "%s/%s", g->home->models, rel);
done:
    if (fd >= 0)
        close(fd);
    cJSON_Delete(doc);
    free(text);
    return out;
}

/* Records of models that are gone: removed under the model's lock (taken without waiting), so
 * a download placing the model and writing its record meanwhile keeps it. */
static int gc_records(gc *g)
{
    char *dir = join(g->home->root, RZ_RECORDS_DIR), **names;
    size_t n = 0, i;
    int rc = 0;

    if (!dir)
        return 0;
    names = list_dir(dir, &n);
    for (i = 0; i < n && rc == 0; i++) {
        char *path = join(dir, names[i]), *model = NULL, *own = NULL;
        struct stat st;
        int valid;
        if (!path)
            continue;
        valid = (model = record_model(g, path)) &&
                (own = rz_record_path(g->home->models, model, NULL)) && strcmp(own, path) == 0;
        if (!valid || lstat(model, &st) < 0) {
            uint64_t bytes = tree_bytes(path, 0);
            const char *state = "garbage";
            if (g->apply) {
                rz_lock lock = RZ_LOCK_INIT;
                rz_home home = *g->home;
                home.wait.try_only = 1;
                state = "in use";
                if (!valid) {
                    if (unlink(path) == 0)
                        state = "removed";
                } else if (rz_model_lock(&lock, &home, model, LOCK_EX, scratch(g)) == 0) {
                    if (lstat(model, &st) < 0 && unlink(path) == 0)
                        state = "removed";
                    rz_lock_release(&lock);
                }
            }
            rc = report(g, "record", path, bytes, state);
        }
        free(path);
        free(model);
        free(own);
    }
    rz_names_free(names, n);
    free(dir);
    return rc;
}

/* ---- the home's own files ---- */

/* The lock a writer of the root's file name holds while its temporary exists: the home lock
 * for the registry's files, a state file's lock (py_state.c) for the others. */
static int temp_owner_lock(char *out, size_t out_len, const gc *g, const char *temp)
{
    const char *tag = strstr(temp, ".tmp-");
    char name[128];

    if (temp[0] != '.' || !tag || (size_t)(tag - temp - 1) >= sizeof(name))
        return -1;
    snprintf(name, sizeof(name), "%.*s", (int)(tag - temp - 1), temp + 1);
    if (!strcmp(name, "registry.json") || !strcmp(name, "registry.names"))
        return snprintf(out, out_len, "%s", g->home->lock) < (int)out_len ? 0 : -1;
    if (strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_.") != strlen(name))
        return -1;
    return snprintf(out, out_len, "%s/state-%s.lock", g->home->locks, name) < (int)out_len ? 0 : -1;
}

static int gc_root(gc *g)
{
    size_t n = 0, i;
    char **names = list_dir(g->home->root, &n);
    int rc = 0;

    for (i = 0; i < n && rc == 0; i++) {
        char *path = join(g->home->root, names[i]), lock_path[RZ_PATH_MAX];
        struct stat st;
        if (!path || lstat(path, &st) < 0) {
            free(path);
            continue;
        }
        if (S_ISDIR(st.st_mode) && strncmp(names[i], ".rz-import-", 11) == 0) {
            rc = held_dir(g, "temporary", path);
        } else if (S_ISREG(st.st_mode) &&
                   temp_owner_lock(lock_path, sizeof(lock_path), g, names[i]) == 0) {
            uint64_t bytes = tree_bytes(path, 0);
            const char *state;
            if (!g->apply) {
                state = rz_lock_probe(lock_path, 0, &g->home->wait) == 0 ? "in use" : "garbage";
            } else {
                rz_lock lock = RZ_LOCK_INIT;
                state = "in use";
                /* the home lock is not removable; a state file's lock is */
                if (rz_lock_acquire(&lock, lock_path, LOCK_EX,
                                    strcmp(lock_path, g->home->lock) ? RZ_LOCK_REMOVABLE : 0,
                                    &rz_lock_no_wait, scratch(g)) == 0) {
                    if (unlink(path) == 0)
                        state = "removed";
                    rz_lock_release(&lock);
                }
            }
            rc = report(g, "temporary", path, bytes, state);
        }
        free(path);
    }
    rz_names_free(names, n);
    return rc;
}

static int gc_locks(gc *g)
{
    size_t n = 0, i;
    char **names = list_dir(g->home->locks, &n);
    int rc = 0;

    for (i = 0; i < n && rc == 0; i++) {
        char *path = join(g->home->locks, names[i]), *base;
        size_t marker = rz_lock_marker_base(names[i]);
        struct stat st;
        /* A lock's markers are judged with the lock: once, where its file is not listed. */
        if (marker && (base = strndup(names[i], marker))) {
            int listed = bsearch(&base, names, n, sizeof(*names), rz_compare_names) != NULL;
            int same = i > 0 && strncmp(names[i - 1], base, marker) == 0 &&
                       rz_lock_marker_base(names[i - 1]) == marker;
            free(base);
            if (listed || same) {
                free(path);
                continue;
            }
        }
        if (path && lstat(path, &st) == 0 && S_ISREG(st.st_mode))
            rc = lock_file(g, path, marker ? strlen(g->home->locks) + 1 + marker : 0);
        free(path);
    }
    rz_names_free(names, n);
    return rc;
}

int rz_gc(const rz_home *home, int apply, rz_gc_visit_fn visit, void *payload, rz_error *err)
{
    gc g = {home, apply, visit, payload, NULL, err, malloc(sizeof(rz_error))};
    int rc = -1;

    if (!g.scratch)
        return rz_error_set(err, RZ_E_NOMEM, "out of memory");
    if (apply && home->wait.read_only) {
        /* nothing of a read-only cache is removed: the lock layer's refusal says so */
        rz_lock refused;
        free(g.scratch);
        return rz_lock_acquire(&refused, home->lock, LOCK_EX, 0, &home->wait, err);
    }
    if (rz_index_load(&g.idx, home, err) < 0) {
        free(g.scratch);
        return -1;
    }
    if (gc_root(&g) == 0 && gc_sources(&g) == 0 && gc_models_dir(&g, home->models, "", 0) == 0 &&
        gc_model_dirs(&g) == 0 && gc_records(&g) == 0)
        rc = 0;
    /* What removals marked "doomed" in the index is gone now (unregistered folders and trees
     * are orphans and retired trees above): the sweep drops the marks. Then the lock files,
     * the last of which this very call may have used. */
    if (rc == 0 && apply)
        rz_source_sweep(home, g.idx);
    if (rc == 0)
        rc = gc_locks(&g);
    rz_index_free(g.idx);
    free(g.scratch);
    return rc;
}
