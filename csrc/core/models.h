/* models.h - downloaded models on disk: putting a finished download into place, moving models
 * and folders aside to remove them, and sweeping what a killed removal left behind.
 *
 * A source's models folder, <models>/<models_subdir>/ (registry.h), holds its models, each at
 * its filename, and the extra files its download_model wrote beside them. A model counts as
 * downloaded when its path exists, so every change of a model is one rename():
 *   - placing: the finished download is renamed (or, when something is there, exchanged with
 *     renameat2(RENAME_EXCHANGE)) onto the model path last, after everything it needs;
 *   - removing: the model (or a whole folder) is renamed aside into a trash directory first and
 *     only then removed, so a kill leaves it either complete or not there;
 *   - a trash directory is locked (lock.h) while it is emptied; what a killed process left is
 *     emptied by the next rz_trash_sweep of its directory.
 * Blocking I/O throughout: the glue releases the GIL.
 */
#ifndef RZ_MODELS_H
#define RZ_MODELS_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "util/error.h"
#include "util/lock.h"

#define RZ_TRASH_PREFIX ".rz-del-"

/* ---- removal: aside first, then removed ---- */

typedef struct rz_trash_dir {
    rz_lock lock; /* on the trash directory, LOCK_EX while it exists */
    char *path;   /* owned */
} rz_trash_dir;

/* Where one caller moves things aside: trash directories named <dir>/.rz-del-XXXXXX, made on
 * first use (another one beside a path on another file system). Zero it to start. */
typedef struct rz_trash {
    rz_trash_dir *dirs; /* owned array */
    size_t n_dirs;
    unsigned long moved; /* names the next entry moved in */
} rz_trash;

/* Move path aside into t, trying a trash directory in root first (root and path on one file
 * system, as <models> and a model are). Returns 1 when moved (path no longer exists), 0 when
 * there was nothing at path, -1 with err set. */
int rz_trash_move(rz_trash *t, const char *root, const char *path, rz_error *err);

/* Move the model at path aside (rz_trash_move), and with it the directory an archive model's
 * layout keeps beside it (rz_download_prepare, layout b); then remove its digest record
 * (records.h; root is the models directory). The model path goes first. */
int rz_model_move_aside(rz_trash *t, const char *root, const char *path, rz_error *err);

/* Remove everything t holds and release it; t is zeroed. Errors are ignored: what is left is
 * swept later. */
void rz_trash_empty(rz_trash *t);

/* Remove the directories in dir named prefix* (RZ_TRASH_PREFIX: trash) that no live process
 * holds locked: what killed processes left. */
void rz_trash_sweep(const char *dir, const char *prefix);

/* Remove the directory path (trash, a download's or an import's directory) unless a live
 * process holds it locked (lock.h, RZ_LOCK_OBJECT): taken without waiting, removed while held.
 * 1 removed, 0 held, -1 gone or not removable. */
int rz_held_dir_remove(const char *path);

/* ---- placing a finished download ---- */

typedef struct rz_download {
    /* Set by the caller: */
    const char *tmp;       /* the download's private directory, made in dir */
    const char *dir;       /* the model path's parent directory */
    const char *base;      /* the model path's last component */
    const char *folder;    /* the source's models folder (dir or above it) */
    const char *filename;  /* the model's filename under folder (its index entry's "filename") */
    const cJSON *manifest; /* borrowed: the index entry of the model's manifest (other models) */
    int from_archive;      /* 1: the download is an archive extracted into <tmp>/.rz-content */
    int extras;            /* 1: what else is in tmp are extra files to place beside the model
                            * (a source's download_model); 0: nothing but the model is placed */
    /* Set by rz_download_prepare, freed by rz_download_clear: */
    char *model;       /* what becomes the model path */
    char *companion;   /* layout b: the directory placed at <dir>/<stem> first, or NULL */
    char *verify;      /* the file a declared sha256 is checked against, or NULL */
    char *content;     /* what the model path's digest is of (records.h): the model, the file or
                        * directory a link leads to, layout b's directory */
    unsigned replaced; /* names the entries rz_download_place moves aside into tmp */
} rz_download;

/* Find the model in what the download left, as the README says:
 *   - a source's download_model or a manager download: <tmp>/<base>;
 *   - an extracted archive: (a) its top-level entry named <base>; else (b) when <base> has an
 *     archive extension (FiftyOne's layout, "x.tar" extracting to "x/"), its top-level entry
 *     named like <base> without it, placed at <dir>/<stem> with the model path a symbolic link
 *     to it; else (c) the archive's whole content as a directory at the model path.
 * Then check it: a symbolic link must resolve inside the source's models folder (to something
 * that exists); with sha256 (declared and not verified yet), a directory is refused (a sha256
 * is the digest of a file's bytes) and d->verify names the file to hash. */
int rz_download_prepare(rz_download *d, const char *sha256, const char *model_name, rz_error *err);

/* Stage a model made elsewhere (a bundle's): move the file or directory from (on the same file
 * system) into the download's tmp as an extracted archive's content, under <base>, or, with
 * as_companion (a model whose path was a link to its directory, layout b), under <base>
 * without its archive extension; d->from_archive is set, so prepare finds the same layout. */
int rz_download_stage(rz_download *d, const char *from, int as_companion, rz_error *err);

/* A download's (an import's, a trash's) private directory: rz_mkdtemp_in(dir, prefix) into *out
 * (caller frees), locked (*out_lock, LOCK_EX on the directory; released by the caller after
 * removing it), so that `cache gc` and rz_trash_sweep know a live one's directory from what a
 * killed one left. */
int rz_download_tmp(char **out, const char *dir, const char *prefix, rz_lock *out_lock,
                    rz_error *err);

/* Put the prepared download into place: the extra files (never onto a path of another model
 * of the manifest), the companion directory, then the model, each replacing what is there
 * atomically. */
int rz_download_place(rz_download *d, rz_error *err);

/* Free what prepare set. */
void rz_download_clear(rz_download *d);

#endif
