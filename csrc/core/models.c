/* models.c - see models.h. */
#include "core/models.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/records.h"
#include "util/archive_name.h"
#include "util/buf.h"
#include "util/fsutil.h"

#define CONTENT ".rz-content" /* an extracted archive, in the download's tmp */
#define LINK    ".rz-link"    /* layout b's symbolic link, made in tmp */

/* ---- trash ---- */

/* A new trash directory in where, locked as a download's is (rz_download_tmp); appended to t. */
static int trash_add(rz_trash *t, const char *where, rz_error *err)
{
    rz_trash_dir *grown = realloc(t->dirs, (t->n_dirs + 1) * sizeof(*t->dirs));

    if (!grown)
        return rz_error_set(err, RZ_E_NOMEM, "out of memory");
    t->dirs = grown;
    if (rz_download_tmp(&t->dirs[t->n_dirs].path, where, RZ_TRASH_PREFIX, &t->dirs[t->n_dirs].lock,
                        err) < 0)
        return -1;
    t->n_dirs++;
    return 0;
}

int rz_trash_move(rz_trash *t, const char *root, const char *path, rz_error *err)
{
    struct stat st;
    const char *slash;
    size_t i = 0;

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : rz_error_os(err, errno, path, "cannot remove %s", path);
    if (t->n_dirs == 0 && trash_add(t, root, err) < 0)
        return -1;
    for (;;) {
        char *to = rz_path(err, "%s/%lu", t->dirs[i].path, t->moved++), *parent;
        int moved = to ? rename(path, to) : -1, saved = errno, rc;
        free(to);
        if (!to)
            return -1;
        if (moved == 0)
            return 1;
        if (saved == ENOENT)
            return 0; /* removed meanwhile */
        if (saved != EXDEV)
            return rz_error_os(err, saved, path, "cannot move %s aside to remove it", path);
        if (++i < t->n_dirs)
            continue;
        /* path is on another file system than every trash so far: one beside it. */
        slash = strrchr(path, '/');
        if (!slash)
            return rz_error_os(err, EXDEV, path, "cannot move %s aside to remove it", path);
        parent = slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
        if (!parent)
            return rz_error_set(err, RZ_E_NOMEM, "out of memory");
        rc = trash_add(t, parent, err);
        free(parent);
        if (rc < 0)
            return -1;
    }
}

/* Layout b's directory beside the model at path: <dir>/<stem> when path is a symbolic link to
 * exactly <stem> and its name is <stem> plus an archive extension. 0 and out set, or -1. */
static char *companion_of(const char *path);

int rz_model_move_aside(rz_trash *t, const char *root, const char *path, rz_error *err)
{
    char *companion = companion_of(path); /* read before the model's link goes */
    int rc = rz_trash_move(t, root, path, err);

    if (rc >= 0 && companion && rz_trash_move(t, root, companion, err) < 0)
        rc = -1;
    free(companion);
    if (rc >= 0)
        rz_record_remove(root, path); /* its digest record (records.h): the model is gone */
    return rc;
}

void rz_trash_empty(rz_trash *t)
{
    for (size_t i = 0; i < t->n_dirs; i++) {
        rz_rmtree(t->dirs[i].path, NULL);
        rz_lock_release(&t->dirs[i].lock);
        free(t->dirs[i].path);
    }
    free(t->dirs);
    memset(t, 0, sizeof(*t));
}

int rz_held_dir_remove(const char *path)
{
    rz_lock lock = RZ_LOCK_INIT;
    struct stat st;
    int rc = 0;

    if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
        return -1;
    /* Busy: a live process is using it. No error to keep: a try waits for nothing, and one
     * that fails leaves the directory as held. */
    if (rz_lock_acquire(&lock, path, LOCK_EX, RZ_LOCK_OBJECT, &rz_lock_no_wait, NULL) == 0)
        rc = rz_rmtree(path, NULL) == 0 ? 1 : -1;
    rz_lock_release(&lock);
    return rc;
}

void rz_trash_sweep(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    struct dirent *de;

    if (!d)
        return;
    while ((de = readdir(d))) {
        char *path;
        if (strncmp(de->d_name, prefix, strlen(prefix)) != 0 ||
            !(path = rz_path(NULL, "%s/%s", dir, de->d_name)))
            continue;
        rz_held_dir_remove(path);
        free(path);
    }
    closedir(d);
}

/* ---- names ---- */

/* The length of name without its archive suffix (util/archive_name.h, with its case, as eta
 * splits a model's archive name), or 0 when it has none (or nothing else). */
static size_t archive_stem_len(const char *name)
{
    size_t len = strlen(name), suffix;

    rz_archive_suffix(name, len, 0, &suffix);
    return suffix && len > suffix ? len - suffix : 0;
}

/* Layout b's directory beside the model at path (caller frees with free()): <dir>/<stem> when
 * path is a symbolic link to exactly <stem> and its name is <stem> plus an archive suffix. NULL
 * otherwise (or out of memory). */
static char *companion_of(const char *path)
{
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    size_t stem = archive_stem_len(base);
    char target[NAME_MAX + 1];
    ssize_t n = readlink(path, target, sizeof(target) - 1);

    if (n <= 0 || stem == 0 || (size_t)n != stem || strncmp(target, base, stem) != 0)
        return NULL;
    return strndup(path, (size_t)(base - path) + stem);
}

/* 1 if name, in the model's directory, is (the first component of) the path of another model
 * of the manifest, or the directory layout b keeps beside one. */
static int taken_by_other_model(const rz_download *d, const char *name)
{
    const cJSON *model;
    /* the model's directory under the folder: filename without its last component */
    const char *last = strrchr(d->filename, '/');
    size_t rel_len = last ? (size_t)(last - d->filename) : 0;

    cJSON_ArrayForEach(model, cJSON_GetObjectItemCaseSensitive(d->manifest, "models"))
    {
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(model, "filename");
        const char *other = cJSON_IsString(item) ? item->valuestring : NULL, *first;
        size_t len;
        if (!other || strcmp(other, d->filename) == 0)
            continue;
        if (rel_len) {
            if (strncmp(other, d->filename, rel_len) != 0 || other[rel_len] != '/')
                continue;
            other += rel_len + 1;
        }
        first = other;
        len = strcspn(first, "/");
        if (strlen(name) == len && strncmp(first, name, len) == 0)
            return 1;
        if (!first[len]) { /* in this very directory: its layout b directory too */
            size_t stem = archive_stem_len(first);
            if (stem && strlen(name) == stem && strncmp(first, name, stem) == 0)
                return 1;
        }
    }
    return 0;
}

/* ---- checks ---- */

/* 1 if the relative path target, read from dir, never goes above dir. */
static int stays_below(const char *target)
{
    long depth = 0;

    while (*target) {
        size_t len = strcspn(target, "/");
        if (len == 2 && target[0] == '.' && target[1] == '.') {
            if (--depth < 0)
                return 0;
        } else if (len > 0 && !(len == 1 && target[0] == '.')) {
            depth++;
        }
        target += len;
        while (*target == '/')
            target++;
    }
    return 1;
}

/* 1 if path is root or below it (both canonical). */
static int is_within(const char *path, const char *root)
{
    size_t n = strlen(root);
    return strncmp(path, root, n) == 0 && (path[n] == '\0' || path[n] == '/' || n == 1);
}

/* Where the symbolic link model (in tmp, to be placed at <dir>/<base>) leads, canonical, into
 * *out (malloc'd): into the folder, or into tmp for an extra file placed with it. */
static int resolve_link(char **out, const rz_download *d, const char *model_name, rz_error *err)
{
    /* a link's target and a directory, each shorter than a path: the two fit */
    rz_buf joined = RZ_BUF_INIT(2 * RZ_PATH_MAX, RZ_E_INVALID, "a link's path");
    const char *base_dir = d->dir, *inside = d->folder;
    char *target = malloc(RZ_PATH_MAX), *real = NULL, *root = NULL;
    ssize_t n = target ? readlink(d->model, target, RZ_PATH_MAX - 1) : 0;
    size_t first;
    struct stat st;
    int rc = -1;

    *out = NULL;
    if (!target)
        return rz_error_set(err, RZ_E_NOMEM, "out of memory");
    if (n < 0) {
        rz_error_os(err, errno, d->model, "cannot read the link of model '%s'", model_name);
        goto done;
    }
    target[n] = '\0';
    first = strcspn(target, "/");
    if (target[0] != '/' && d->extras && stays_below(target)) {
        /* A link to an extra file the download wrote beside the model resolves in tmp now. */
        char name[NAME_MAX + 1];
        snprintf(name, sizeof(name), "%.*s", (int)(first < NAME_MAX ? first : NAME_MAX), target);
        if (rz_buf_addf(&joined, err, "%s/%s", d->tmp, name) < 0)
            goto done;
        if (lstat(rz_buf_str(&joined), &st) == 0 && strcmp(name, d->base) != 0) {
            base_dir = d->tmp;
            inside = d->tmp;
        }
        rz_buf_truncate(&joined, 0);
    }
    if (target[0] == '/' ? rz_buf_adds(&joined, target, err) < 0
                         : rz_buf_addf(&joined, err, "%s/%s", base_dir, target) < 0)
        goto done;
    real = realpath(rz_buf_str(&joined), NULL);
    root = realpath(inside, NULL);
    if (!real || !root) {
        rz_error_set(err, RZ_E_SOURCE,
                     "model '%s' is a symbolic link to %s, which does not exist; a model must be "
                     "a file, a directory, or a link to one inside the source's models folder",
                     model_name, target);
        goto done;
    }
    if (!is_within(real, root)) {
        rz_error_set(err, RZ_E_SOURCE,
                     "model '%s' is a symbolic link to %s, outside the source's models folder; a "
                     "link may only lead to what the source itself downloaded",
                     model_name, target);
        goto done;
    }
    *out = real;
    real = NULL;
    rc = 0;
done:
    rz_buf_free(&joined);
    free(target);
    free(real);
    free(root);
    return rc;
}

/* ---- placing ---- */

static char *join2(const char *a, const char *b, rz_error *err)
{
    size_t size = strlen(a) + strlen(b) + 2;
    char *out = malloc(size);

    if (!out)
        rz_error_set(err, RZ_E_NOMEM, "out of memory");
    else
        snprintf(out, size, "%s/%s", a, b);
    return out;
}

/* Layouts a, b and c of an extracted archive (models.h). */
static int prepare_archive(rz_download *d, const char *model_name, rz_error *err)
{
    char *content = join2(d->tmp, CONTENT, err);
    size_t stem = archive_stem_len(d->base);
    struct stat st;
    int rc = -1;

    if (!content)
        return -1;
    if (!(d->model = join2(content, d->base, err)))
        goto done;
    if (lstat(d->model, &st) == 0) { /* a */
        rc = 0;
        goto done;
    }
    free(d->model);
    d->model = NULL;
    if (stem && stem <= NAME_MAX) { /* b (a longer name is none a file system has) */
        char name[NAME_MAX + 1];
        snprintf(name, sizeof(name), "%.*s", (int)stem, d->base);
        if (!(d->companion = join2(content, name, err)))
            goto done;
        if (lstat(d->companion, &st) == 0) {
            if (taken_by_other_model(d, name)) {
                rz_error_set(err, RZ_E_SOURCE,
                             "the archive of model '%s' unpacks to '%s', which is another "
                             "model's path in the same folder",
                             model_name, name);
                goto done;
            }
            if (!(d->model = join2(d->tmp, LINK, err)))
                goto done;
            if (symlink(name, d->model) < 0) {
                rz_error_os(err, errno, d->model, "cannot create %s", d->model);
                goto done;
            }
            rc = 0;
            goto done;
        }
        free(d->companion);
        d->companion = NULL;
    }
    { /* c: the whole content, which must hold something */
        DIR *dir = opendir(content);
        struct dirent *de;
        int empty = 1;
        while (dir && (de = readdir(dir)))
            if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                empty = 0;
        if (dir)
            closedir(dir);
        if (empty) {
            rz_error_set(err, RZ_E_ARCHIVE, "the archive of model '%s' is empty", model_name);
            goto done;
        }
    }
    d->model = content;
    content = NULL;
    rc = 0;
done:
    free(content);
    return rc;
}

int rz_download_prepare(rz_download *d, const char *sha256, const char *model_name, rz_error *err)
{
    struct stat st;

    d->model = d->companion = d->verify = d->content = NULL;
    if (d->from_archive) {
        if (prepare_archive(d, model_name, err) < 0)
            return -1;
    } else if (!(d->model = join2(d->tmp, d->base, err))) {
        return -1;
    }
    if (lstat(d->model, &st) < 0)
        return rz_error_set(err, RZ_E_SOURCE, "download of model '%s' finished without creating %s",
                            model_name, d->base);
    if (S_ISLNK(st.st_mode) && !d->companion) {
        if (resolve_link(&d->verify, d, model_name, err) < 0)
            return -1;
        if (stat(d->verify, &st) < 0)
            return rz_error_os(err, errno, d->verify, "cannot read %s", d->verify);
    } else if (S_ISREG(st.st_mode) && !(d->verify = strdup(d->model))) {
        return rz_error_set(err, RZ_E_NOMEM, "out of memory");
    }
    d->content = strdup(d->companion ? d->companion : d->verify ? d->verify : d->model);
    if (!d->content)
        return rz_error_set(err, RZ_E_NOMEM, "out of memory");
    if (!sha256) {
        free(d->verify);
        d->verify = NULL;
        return 0;
    }
    if (!S_ISREG(st.st_mode)) {
        rz_error_set(err, RZ_E_CHECKSUM,
                     "model '%s' declares a sha256 but its download is a directory; a sha256 is "
                     "the digest of a file's bytes (for a directory, declare none, or publish it "
                     "as an archive through a manager)",
                     model_name);
        rz_error_attach_field(err, "sha256");
        return -1;
    }
    return 0;
}

/* Rename from onto to, replacing what is there in one step: renameat2's exchange where the
 * file system has it (the old entry then sits at from, inside tmp, and goes with it), else a
 * plain rename, which replaces a file atomically and moves a directory aside first. The system
 * call, not glibc's renameat2 (2.28): the wheel runs on glibc 2.17. */
static int replace(const char *from, const char *to, rz_download *d, rz_error *err)
{
    struct stat st;

    if (syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, RENAME_EXCHANGE) == 0)
        return 0;
    if (errno != ENOENT && errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
        return rz_error_os(err, errno, to, "cannot move the download into %s", to);
    if (lstat(to, &st) == 0 && S_ISDIR(st.st_mode)) {
        char *aside = rz_path(err, "%s/.rz-old-%u", d->tmp, d->replaced++);
        int moved = aside ? rename(to, aside) : -1, saved = errno;
        free(aside);
        if (!aside)
            return -1;
        if (moved < 0)
            return rz_error_os(err, saved, to, "cannot replace %s", to);
    }
    if (rename(from, to) < 0)
        return rz_error_os(err, errno, to, "cannot move the download into %s", to);
    return 0;
}

/* replace(from, <d->dir>/<name>). */
static int replace_in_dir(const char *from, const char *name, rz_download *d, rz_error *err)
{
    char *to = rz_path(err, "%s/%s", d->dir, name);
    int rc = to ? replace(from, to, d, err) : -1;

    free(to);
    return rc;
}

static int place_extras(rz_download *d, rz_error *err)
{
    DIR *dir = opendir(d->tmp);
    struct dirent *de;
    int rc = 0;

    if (!dir)
        return rz_error_os(err, errno, d->tmp, "cannot read %s", d->tmp);
    while (rc == 0 && (de = readdir(dir))) {
        char *from;
        /* "." and "..", remotezoo's own names (.rz-*), the model itself, and the paths of the
         * manifest's other models, which only their own downloads write. */
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            strncmp(de->d_name, ".rz-", 4) == 0 || strcmp(de->d_name, d->base) == 0 ||
            taken_by_other_model(d, de->d_name))
            continue;
        from = rz_path(err, "%s/%s", d->tmp, de->d_name);
        if (!from || replace_in_dir(from, de->d_name, d, err) < 0)
            rc = -1;
        free(from);
    }
    closedir(dir);
    return rc;
}

int rz_download_place(rz_download *d, rz_error *err)
{
    if (d->extras && place_extras(d, err) < 0)
        return -1;
    if (d->companion && replace_in_dir(d->companion, strrchr(d->companion, '/') + 1, d, err) < 0)
        return -1;
    return replace_in_dir(d->model, d->base, d, err); /* last: its arrival marks it downloaded */
}

void rz_download_clear(rz_download *d)
{
    free(d->model);
    free(d->companion);
    free(d->verify);
    free(d->content);
    d->model = d->companion = d->verify = d->content = NULL;
}

int rz_download_stage(rz_download *d, const char *from, int as_companion, rz_error *err)
{
    size_t stem = archive_stem_len(d->base);
    char *content = NULL, *to = NULL;
    int rc = -1;

    if (as_companion && !stem)
        return rz_error_set(err, RZ_E_INVALID,
                            "'%s' has no archive extension: it cannot be a link to a directory",
                            d->base);
    if (!(content = rz_path(err, "%s/" CONTENT, d->tmp)) ||
        !(to = rz_path(err, "%s/%.*s", content, (int)(as_companion ? stem : strlen(d->base)),
                       d->base)))
        goto done;
    if (mkdir(content, 0755) < 0) {
        rz_error_os(err, errno, content, "cannot create %s", content);
        goto done;
    }
    if (rename(from, to) < 0) {
        rz_error_os(err, errno, from, "cannot move %s into the download", from);
        goto done;
    }
    d->from_archive = 1;
    rc = 0;
done:
    free(content);
    free(to);
    return rc;
}

int rz_download_tmp(char **out, const char *dir, const char *prefix, rz_lock *out_lock,
                    rz_error *err)
{
    struct stat st;

    *out = NULL;
    *out_lock = (rz_lock)RZ_LOCK_INIT;
    for (int attempt = 0; attempt < 8; attempt++) {
        int rc;
        if (rz_mkdtemp_in(out, dir, prefix, err) < 0)
            return -1;
        /* `cache gc` or a trash sweep may take it between mkdtemp and the lock (it is then
         * theirs): busy, or already removed (the lock says ENOENT), or removed once locked;
         * each time make another. Only a lock error on a directory still there is ours. */
        rc = rz_lock_acquire(out_lock, *out, LOCK_EX, RZ_LOCK_OBJECT, &rz_lock_no_wait, err);
        if (rc == 0 && lstat(*out, &st) == 0 && S_ISDIR(st.st_mode))
            return 0;
        rz_lock_release(out_lock);
        if (rc < 0 && lstat(*out, &st) == 0) {
            rmdir(*out);
            free(*out);
            *out = NULL;
            return -1;
        }
        if (rc < 0 && err)
            rz_error_init(err); /* the ENOENT of a directory swept away: not an error */
        free(*out);
        *out = NULL;
    }
    return rz_error_set(err, RZ_E_OS, "cannot make a directory %s... in %s", prefix, dir);
}
