/* model.h - one model, start to end, as plain C: where a resolved model lives, the locks a call
 * on it holds, and its download (lock -> temporary directory -> fetch or the source's code ->
 * verify -> move into place). The glue (py/core/py_models.c) calls these in order with the GIL
 * released, and runs the source's download_model itself between begin and prepare; nothing here
 * knows about Python, so the pipeline can be driven and tested without it.
 *
 * Blocking I/O throughout.
 */
#ifndef RZ_MODEL_H
#define RZ_MODEL_H

#include <cjson/cJSON.h>

#include "core/generation.h"
#include "core/home.h"
#include "core/index.h"
#include "util/lock.h"
#include "core/manifest.h"
#include "core/models.h"
#include "core/records.h"
#include "net/net.h"
#include "util/error.h"
#include "util/stamp.h"

/* What a resolved model is, as C strings (paths absolute, owned, on the heap). */
typedef struct rz_model_info {
    const char *name, *identity, *kind, *module_name; /* borrowed from the index */
    const char *folder, *digest; /* borrowed: the manifest's models_subdir, the model's digest */
    const char *content;         /* what trust is keyed to (rz_source_content). Borrowed */
    const char *tree;            /* the fetched tree's digest (net/digest.h), or NULL. Borrowed */
    const cJSON *manifest;       /* borrowed: the manifest's index entry */
    char *record_path;           /* the model's digest record (records.h) */
    char *source_dir;
    char *model_path;
    char *manifest_path;
    char *generation_dir;               /* a fetched source's <slug>/<generation>, else NULL */
    char generation[RZ_STAMP_TEXT_MAX]; /* a fetched source's generation, a local one's stamp */
} rz_model_info;

/* What trust in the registry's source entry source is keyed to: its commit (GitHub), its
 * archive's sha256, "local"; NULL when not recorded. Borrowed from source. */
const char *rz_source_content(const cJSON *source);

/* Fill out for the model ref names (the index it borrows from must outlive out). Clear out with
 * rz_model_info_clear whatever this returns. */
int rz_model_info_fill(rz_model_info *out, const rz_home *home, const rz_model_ref *ref,
                       rz_error *err);

/* Free the paths of info; a zeroed or cleared one is fine. */
void rz_model_info_clear(rz_model_info *info);

/* 1 if idx (read after info's index) still resolves info's model to the same source, path and
 * digest; 0 if it changed (or is gone); -1 with err set. */
int rz_model_info_current(const rz_index *idx, const rz_home *home, const rz_model_info *info,
                          rz_error *err);

/* What a call that works on one model holds, in registry.h's lock order. */
typedef struct rz_model_locks {
    rz_pin pin;     /* the generation of the source's tree whose code runs */
    rz_lock folder; /* the models folder, shared: no registration replaces models under it */
    rz_lock model;  /* the model: LOCK_EX to download or delete it, LOCK_SH to load it */
} rz_model_locks;

/* Hold nothing. */
void rz_model_locks_init(rz_model_locks *l);

/* Take info's folder lock (shared) and, unless model_op is 0, its model lock (model_op). */
int rz_model_locks_take(rz_model_locks *l, const rz_home *home, const rz_model_info *info,
                        int model_op, rz_error *err);

/* Release what l holds (in reverse order); l holds nothing after. */
void rz_model_locks_release(rz_model_locks *l);

/* A download of one model, under its model lock (LOCK_EX). */
typedef struct rz_model_download {
    const char *identity;  /* borrowed from the info begin was given: the model's source */
    rz_manifest *manifest; /* owned: the model's manifest.json as it is now */
    const rz_model *model; /* borrowed from manifest: the model being downloaded */
    int by_manager;        /* 1: rz_model_download_fetch fetches it; 0: the source's code */
    char *tmp;             /* owned: the private directory it is made in, NULL before begin */
    char *target;          /* owned: <tmp>/<base>, the model_path download_model is given */
    char *dir;             /* owned: the model path's directory */
    char *folder;          /* owned: the source's models folder */
    rz_lock tmp_lock;      /* on tmp, LOCK_EX while the download lives (cache gc) */
    const char *models;     /* borrowed from the home begin was given: <root>/models */
    const char *model_path; /* borrowed from the info begin was given */
    rz_download place;     /* models.h: what the download left, and placing it */
} rz_model_download;

/* Start the download of info's model: read its manifest again (it must still have the model),
 * remove what crashed downloads of it left, and make the private temporary directory beside the
 * model path. rz_model_download_end frees d whatever this returns. */
int rz_model_download_begin(rz_model_download *d, const rz_home *home, const rz_model_info *info,
                            rz_error *err);

/* A model with a "manager": config.url into <tmp>/<base>, or with config.extract_archive into
 * <tmp>/.rz-archive, extracted into <tmp>/.rz-content (models.h says what becomes the model). A
 * declared sha256 is that of the file downloaded. opts: progress and cancel. */
int rz_model_download_fetch(rz_model_download *d, const rz_net_api *net, const rz_fetch_opts *opts,
                            rz_error *err);

/* Find the model in what the download left and check it (rz_download_prepare). After it,
 * d->place.verify names the file a declared sha256 is still to be checked against, or is NULL:
 * then rz_model_download_verify needs no engines of remotezoo._net. */
int rz_model_download_prepare(rz_model_download *d, rz_error *err);

/* A model made elsewhere (a bundle's) instead of a fetch or the source's code: the file or
 * directory from is moved into the download (rz_download_stage); no code, no network. */
int rz_model_download_stage(rz_model_download *d, const char *from, int as_companion,
                            rz_error *err);

/* Check the sha256 a manifest declares (net: needed when d->place.verify is set). */
int rz_model_download_verify(rz_model_download *d, const rz_net_api *net, rz_error *err);

/* Check digest, what arrived (net/digest.h, of d->place.content), against expect (records.h;
 * a lock file's or a bundle's), then put the download into place (rz_download_place): the model
 * counts as downloaded from here. Its digest record goes before the new model arrives and comes
 * back after it (records.h): a kill in between leaves it unrecorded, never wrong. */
int rz_model_download_finish(rz_model_download *d, const rz_digest *digest,
                             const rz_expect *expect, rz_error *err);

/* Remove the temporary directory and free what d holds; d is zeroed. */
void rz_model_download_end(rz_model_download *d);

#endif
