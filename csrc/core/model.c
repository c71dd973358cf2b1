/* model.c - see model.h. */
#include "core/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/json.h"
#include "core/registry.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/hash.h"
#include "util/stamp.h"

const char *rz_source_content(const cJSON *source)
{
    const char *kind = rz_json_str(source, "kind");

    if (kind && strcmp(kind, "local") == 0)
        return "local"; /* trusted by the user who registered it, whatever it holds */
    return rz_json_str(source, kind && strcmp(kind, "archive") == 0 ? "archive_sha256" : "sha");
}

int rz_model_info_fill(rz_model_info *out, const rz_home *home, const rz_model_ref *ref,
                       rz_error *err)
{
    const char *dir = rz_json_str(ref->manifest, "dir");
    const char *generation = rz_json_str(ref->source, "generation");
    char *tree = NULL, *init = NULL;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    out->name = rz_json_str(ref->model, "name");
    out->identity = rz_json_str(ref->source, "identity");
    out->kind = rz_json_str(ref->source, "kind");
    out->module_name = rz_json_str(ref->manifest, "module");
    out->folder = rz_json_str(ref->manifest, "models_subdir");
    out->digest = rz_json_str(ref->model, "digest");
    out->content = rz_source_content(ref->source);
    out->tree = rz_json_str(ref->source, "tree_sha256");
    out->manifest = ref->manifest;
    if (!out->name || !out->identity || !out->kind || !out->module_name || !out->folder) {
        rz_error_set(err, RZ_E_SOURCE, "the registry entry of a model is incomplete");
        goto done;
    }
    if (!(tree = rz_source_tree_path(home, ref->source, err)) ||
        !(out->model_path = rz_model_path(home, ref->manifest, ref->model, err)) ||
        !(out->record_path = rz_record_path(home->models, out->model_path, err)) ||
        !(out->source_dir =
              rz_path(err, "%s%s%s", tree, dir && dir[0] ? "/" : "", dir ? dir : "")) ||
        !(out->manifest_path = rz_path(err, "%s/manifest.json", out->source_dir)))
        goto done;
    snprintf(out->generation, sizeof(out->generation), "%s", generation ? generation : "");
    if (strcmp(out->kind, "local") != 0) {
        /* tree is <sources>/<slug>/<generation>/tree */
        if (!(out->generation_dir = strndup(tree, (size_t)(strrchr(tree, '/') - tree)))) {
            rz_error_set(err, RZ_E_NOMEM, "out of memory");
            goto done;
        }
    } else {
        /* Used in place: the code's own files say when it changed. */
        rz_stamp st;
        if (!(init = rz_path(err, "%s/__init__.py", out->source_dir)))
            goto done;
        if (rz_stamp_of(&st, init) == 0 && st.exists)
            rz_stamp_text(out->generation, &st);
    }
    rc = 0;
done:
    free(tree);
    free(init);
    return rc;
}

void rz_model_info_clear(rz_model_info *info)
{
    free(info->source_dir);
    free(info->record_path);
    free(info->model_path);
    free(info->manifest_path);
    free(info->generation_dir);
    memset(info, 0, sizeof(*info));
}

int rz_model_info_current(const rz_index *idx, const rz_home *home, const rz_model_info *info,
                          rz_error *err)
{
    rz_model_ref ref;
    const char *digest;
    char *model_path;
    int same;

    if (rz_index_resolve(&ref, idx, info->name, info->identity, err) < 0) {
        if (err->kind != RZ_E_MODEL_NOT_FOUND)
            return -1;
        rz_error_init(err);
        return 0;
    }
    if (!(model_path = rz_model_path(home, ref.manifest, ref.model, err)))
        return -1;
    /* (a registry written before digests has none: the same absence is the same model) */
    digest = rz_json_str(ref.model, "digest");
    same =
        strcmp(model_path, info->model_path) == 0 &&
        (digest == info->digest || (digest && info->digest && strcmp(digest, info->digest) == 0));
    free(model_path);
    return same;
}

void rz_model_locks_init(rz_model_locks *l)
{
    l->pin = (rz_pin)RZ_PIN_INIT;
    l->folder = (rz_lock)RZ_LOCK_INIT;
    l->model = (rz_lock)RZ_LOCK_INIT;
}

int rz_model_locks_take(rz_model_locks *l, const rz_home *home, const rz_model_info *info,
                        int model_op, rz_error *err)
{
    if (rz_folder_lock(&l->folder, home, info->folder, LOCK_SH, err) < 0)
        return -1;
    return model_op ? rz_model_lock(&l->model, home, info->model_path, model_op, err) : 0;
}

void rz_model_locks_release(rz_model_locks *l)
{
    rz_lock_release(&l->model);
    rz_lock_release(&l->folder);
    rz_generation_unpin(&l->pin);
}

int rz_model_download_begin(rz_model_download *d, const rz_home *home, const rz_model_info *info,
                            rz_error *err)
{
    const char *base = strrchr(info->model_path, '/') + 1; /* <models>/<folder>/<filename> */
    char prefix[64];

    memset(d, 0, sizeof(*d));
    d->tmp_lock = (rz_lock)RZ_LOCK_INIT;
    d->identity = info->identity;
    d->models = home->models;
    d->model_path = info->model_path;
    if (rz_manifest_load(&d->manifest, info->manifest_path, info->identity, err) < 0)
        return -1;
    d->model = rz_manifest_find(d->manifest, info->name);
    if (!d->model)
        return rz_error_set(err, RZ_E_SOURCE,
                            "manifest.json of %s no longer has model '%s'; register the source "
                            "again",
                            info->identity, info->name);
    d->by_manager = d->model->manager != NULL; /* "manager": null is none, as in FiftyOne */
    if (!(d->dir = strndup(info->model_path, (size_t)(base - 1 - info->model_path))))
        return rz_error_set(err, RZ_E_NOMEM, "out of memory");
    if (!(d->folder = rz_path(err, "%s/%s", home->models, info->folder)))
        return -1;
    /* What crashed downloads of this model left: <dir>/.rz-<hash>-*, and trash beside it
     * (models.h). Under the model lock, so no live download owns them. */
    snprintf(prefix, sizeof(prefix), ".rz-%08llx-",
             rz_fnv1a64(info->model_path, strlen(info->model_path)) & 0xffffffffULL);
    rz_trash_sweep(d->dir, prefix);
    rz_trash_sweep(d->dir, RZ_TRASH_PREFIX);
    /* dir may vanish meanwhile: a delete of another source removes empty directories. */
    if (rz_download_tmp(&d->tmp, d->dir, prefix, &d->tmp_lock, err) < 0 ||
        !(d->target = rz_path(err, "%s/%s", d->tmp, base)))
        return -1;
    d->place.tmp = d->tmp;
    d->place.dir = d->dir;
    d->place.base = base;
    d->place.folder = d->folder;
    d->place.filename = info->model_path + strlen(d->folder) + 1;
    d->place.manifest = info->manifest;
    d->place.from_archive =
        d->by_manager && cJSON_IsTrue(rz_json_member(rz_json_member(d->model->manager, "config"),
                                                     "extract_archive"));
    d->place.extras = !d->by_manager;
    return 0;
}

int rz_model_download_fetch(rz_model_download *d, const rz_net_api *net, const rz_fetch_opts *opts,
                            rz_error *err)
{
    const cJSON *config = rz_json_member(d->model->manager, "config");
    const char *url = rz_json_str(config, "url");
    char *archive = NULL, *content = NULL;
    int rc = -1;

    if (!url) {
        rz_error_set(err, RZ_E_SOURCE,
                     "model '%s' of source %s has a manager without config.url; only URL "
                     "managers are supported",
                     d->model->name, d->identity);
        rz_error_attach_field(err, "manager.config.url");
        return -1;
    }
    if (!d->place.from_archive)
        return net->fetch_to_file(NULL, url, d->target, d->model->sha256, opts, err);
    if ((archive = rz_path(err, "%s/.rz-archive", d->tmp)) &&
        (content = rz_path(err, "%s/.rz-content", d->tmp)) &&
        net->fetch_to_file(NULL, url, archive, d->model->sha256, opts, err) == 0) {
        rc = net->extract_file(archive, content, 0, NULL, err); /* default limits */
        unlink(archive);
    }
    free(archive);
    free(content);
    return rc;
}

int rz_model_download_prepare(rz_model_download *d, rz_error *err)
{
    /* a manager download verified its sha256 already (of the file, or of the archive) */
    return rz_download_prepare(&d->place, d->by_manager ? NULL : d->model->sha256, d->model->name,
                               err);
}

int rz_model_download_stage(rz_model_download *d, const char *from, int as_companion, rz_error *err)
{
    d->by_manager = 1; /* nothing of the source's runs; its declared sha256 is not the judge */
    d->place.extras = 0;
    return rz_download_stage(&d->place, from, as_companion, err);
}

int rz_model_download_verify(rz_model_download *d, const rz_net_api *net, rz_error *err)
{
    return d->place.verify ? net->sha256_verify_file(d->place.verify, d->model->sha256, err) : 0;
}

int rz_model_download_finish(rz_model_download *d, const rz_digest *digest, const rz_expect *expect,
                             rz_error *err)
{
    if (rz_expect_check(expect, digest, d->model->name, err) < 0)
        return -1;
    rz_record_remove(d->models, d->model_path);
    if (rz_download_place(&d->place, err) < 0)
        return -1;
    /* The model is in place: without a record it is unrecorded. */
    rz_record_write(d->models, d->model_path, d->model->name, digest, NULL);
    return 0;
}

void rz_model_download_end(rz_model_download *d)
{
    if (d->tmp)
        rz_rmtree(d->tmp, NULL);
    rz_lock_release(&d->tmp_lock); /* after the removal: gc never takes a live download's */
    rz_download_clear(&d->place);
    rz_manifest_free(d->manifest);
    free(d->tmp);
    free(d->target);
    free(d->dir);
    free(d->folder);
    memset(d, 0, sizeof(*d));
    d->tmp_lock = (rz_lock)RZ_LOCK_INIT;
}
