/* py_models.c - models at the module boundary (core/model.h does the work): resolution against
 * the module's cached index, listing, and download / load / delete, which call the source's code
 * (py_plugin.h) between the plain-C steps.
 *
 * Every function takes the home directory (the Python face computes it from REMOTEZOO_HOME) so
 * that the C core holds no environment-derived globals. */
#include "py/core/py_models.h"

#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "core/json.h"
#include "core/model.h"
#include "core/source.h"
#include "py/core/py_index.h"
#include "py/core/py_integrity.h"
#include "py/core/py_plugin.h"
#include "py/py_error.h"
#include "py/py_util.h"

/* A model resolved against a reference to the index it borrows from. */
typedef struct resolved {
    rz_home home;
    rz_index *index; /* a reference held while info is in use, or NULL */
    rz_model_info info;
} resolved;

static PyObject *info_to_python(const rz_model_info *info)
{
    return Py_BuildValue("{s:s,s:s,s:s,s:s,s:O&,s:O&,s:O&,s:z,s:z,s:O&,s:s}", "name", info->name,
                         "source", info->identity, "kind", info->kind, "module", info->module_name,
                         "source_dir", PyUnicode_DecodeFSDefault, info->source_dir, "model_path",
                         PyUnicode_DecodeFSDefault, info->model_path, "manifest_path",
                         PyUnicode_DecodeFSDefault, info->manifest_path, "content", info->content,
                         "tree_sha256", info->tree, "record_path", PyUnicode_DecodeFSDefault,
                         info->record_path, "folder", info->folder);
}

/* The trust gate (py_integrity.h) for info's source, pinned by the caller, before function of
 * the source's code runs. */
static int gate_info(PyObject *gate, const rz_model_info *info, const char *function)
{
    char what[RZ_ERR_NAME_MAX + 64];

    snprintf(what, sizeof(what), "%s() for model '%s'", function, info->name);
    return rz_py_gate(gate, info->identity, info->kind, info->content, info->tree, info->source_dir,
                      what);
}

/* The digest of what the prepared download d will place (records.h), into *out: hashed by
 * remotezoo._digest (libcrypto only: a download through a source's own code maps no _net), or,
 * when verified is the sha256 the model's very file was just checked against, that. -1 with an
 * exception set. */
static int download_digest(rz_digest *out, const rz_download *d, const char *verified)
{
    PyObject *digest_module, *res;
    const char *kind, *sha;
    unsigned long long size;
    struct stat st;

    memset(out, 0, sizeof(*out));
    if (verified && lstat(d->content, &st) == 0 && S_ISREG(st.st_mode)) {
        out->size = (uint64_t)st.st_size;
        for (size_t i = 0; i < RZ_SHA256_HEX_LEN && verified[i]; i++)
            out->sha256[i] =
                (char)(verified[i] >= 'A' && verified[i] <= 'F' ? verified[i] + 32 : verified[i]);
        return 0;
    }
    digest_module = PyImport_ImportModule("remotezoo._digest");
    if (!digest_module)
        return -1;
    res = PyObject_CallMethod(digest_module, "digest", "O&", PyUnicode_DecodeFSDefault, d->content);
    Py_DECREF(digest_module);
    if (!res)
        return -1;
    if (!PyArg_ParseTuple(res, "sKs", &kind, &size, &sha) || strlen(sha) != RZ_SHA256_HEX_LEN) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "remotezoo._digest.digest gave no SHA-256");
        Py_DECREF(res);
        return -1;
    }
    out->is_tree = strcmp(kind, "tree") == 0;
    out->size = size;
    memcpy(out->sha256, sha, RZ_SHA256_HEX_LEN + 1); /* copied before res (their owner) goes */
    Py_DECREF(res);
    return 0;
}

/* Drops what resolve() took; r->info's borrowed strings are invalid afterwards. */
static void resolved_clear(resolved *r)
{
    rz_model_info_clear(&r->info);
    rz_index_free(r->index);
    r->index = NULL;
    rz_home_clear(&r->home);
}

/* Open home and resolve name (and an optional source spec) against the current index. */
static int resolve(resolved *out, PyObject *module, const char *root, const char *name,
                   const char *source_spec, rz_error *err)
{
    rz_home *home = &out->home;
    rz_spec spec = {0};
    rz_model_ref ref;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (rz_py_open_home(home, root, err) < 0 ||
        (source_spec && rz_py_parse_spec(&spec, source_spec, err) < 0))
        goto done;
    /* out->index keeps what out->info borrows alive until resolved_clear. */
    if (!(out->index = rz_py_current_index(module, home, 1, err)))
        goto done;
    if (source_spec && !rz_index_find_source(out->index, spec.identity)) {
        rz_error_set(err, RZ_E_SOURCE, "source %s is not registered", spec.identity);
        rz_error_attach_source(err, spec.identity);
        goto done;
    }
    if (rz_index_resolve(&ref, out->index, name, source_spec ? spec.identity : NULL, err) < 0)
        goto done;
    rc = rz_model_info_fill(&out->info, home, &ref, err);
done:
    rz_spec_clear(&spec);
    if (rc < 0)
        resolved_clear(out);
    return rc;
}

/* resolve, then pin the generation of a fetched source (a local one needs no pin), so that the
 * tree the model's code and manifest come from stays until rz_generation_unpin. A generation
 * retired between reading the index and pinning it means the source was registered again or
 * deleted: resolve again, against the index as it is now. */
static int resolve_pinned(resolved *out, rz_pin *pin, PyObject *module, const char *root,
                          const char *name, const char *source, rz_error *err)
{
    pin->fd = -1;
    for (int attempt = 0; attempt < 8; attempt++) {
        rz_py_progress prog;
        int rc;
        if (resolve(out, module, root, name, source, err) < 0)
            return -1;
        if (!out->info.generation_dir)
            return 0;
        rz_py_blocking_begin(&prog, &out->home, NULL, NULL);
        rc = rz_generation_pin(pin, out->info.generation_dir, &out->home.wait, err);
        if (rz_py_blocking_end(&prog, &out->home) < 0) {
            rz_generation_unpin(pin);
            rc = rz_error_set(err, RZ_E_CALLBACK, "interrupted");
        }
        if (rc != 0) {
            if (rc < 0)
                resolved_clear(out);
            return rc < 0 ? -1 : 0;
        }
        resolved_clear(out);
    }
    rz_error_set(err, RZ_E_SOURCE,
                 "source of model '%s' is being registered again too often to be read; try again",
                 name);
    rz_error_attach_model(err, name);
    return -1;
}

/* Drops what resolve_pinned and lock_model took. */
static void release_model(resolved *r, rz_model_locks *l)
{
    Py_BEGIN_ALLOW_THREADS
        rz_model_locks_release(l);
    Py_END_ALLOW_THREADS
    resolved_clear(r);
}

/* Take the folder lock (shared) and, unless model_op is 0, the model lock of r's model, and
 * check that the index (as it is now, not rescanned: a rescan may wait for the folder lock held
 * here) still says what r says: 1 locked, 0 the model changed meanwhile (everything let go:
 * resolve again), -1 error (everything let go). */
static int lock_model(resolved *r, rz_model_locks *l, PyObject *module, int model_op, rz_error *err)
{
    rz_home *home = &r->home;
    rz_py_progress prog;
    rz_index *now = NULL;
    int rc;

    rz_py_blocking_begin(&prog, home, NULL, NULL);
    rc = rz_model_locks_take(l, home, &r->info, model_op, err);
    if (rz_py_blocking_end(&prog, home) < 0)
        rc = rz_error_set(err, RZ_E_CALLBACK, "interrupted");
    if (rc == 0)
        rc = (now = rz_py_current_index(module, home, 0, err))
                 ? rz_model_info_current(now, home, &r->info, err)
                 : -1;
    rz_index_free(now);
    if (rc != 1)
        release_model(r, l);
    return rc;
}

/* What killed removals left (rz_source_sweep), against r's index: a call that is about to
 * change a model finishes those first. */
static int sweep(resolved *r, rz_error *err)
{
    rz_py_progress prog;

    rz_py_blocking_begin(&prog, &r->home, NULL, NULL);
    rz_source_sweep(&r->home, r->index);
    return rz_py_blocking_end(&prog, &r->home) < 0 ? rz_error_set(err, RZ_E_CALLBACK, "interrupted")
                                                   : 0;
}

/* resolve_pinned, then lock_model; again when the model changed in between. With
 * stop_if_downloaded, a model that is downloaded already returns 2 with nothing locked (a
 * downloaded model takes no lock: a source's load_model may ask for its own model again). */
static int resolve_locked(resolved *out, rz_model_locks *l, PyObject *module, const char *root,
                          const char *name, const char *source, int model_op,
                          int stop_if_downloaded, rz_error *err)
{
    rz_model_locks_init(l);
    for (int attempt = 0; attempt < 8; attempt++) {
        struct stat st;
        int rc;
        if (resolve_pinned(out, &l->pin, module, root, name, source, err) < 0)
            return -1;
        if (stop_if_downloaded && lstat(out->info.model_path, &st) == 0)
            return 2;
        if (model_op == LOCK_EX && sweep(out, err) < 0) {
            release_model(out, l);
            return -1;
        }
        rc = lock_model(out, l, module, model_op, err);
        if (rc != 0)
            return rc < 0 ? -1 : 1;
    }
    rz_error_set(err, RZ_E_SOURCE,
                 "model '%s' is being replaced by registrations too often to be used; try again",
                 name);
    rz_error_attach_model(err, name);
    return -1;
}

PyDoc_STRVAR(resolve_model_doc, "resolve_model(home, name, source) -> dict\n\nWhere model name "
                                "(latest version if unversioned) comes from and lives.");

static PyObject *resolve_model(PyObject *module, PyObject *args)
{
    const char *root, *name, *source;
    resolved r;
    rz_error err;
    PyObject *out;

    if (!PyArg_ParseTuple(args, "ssz:resolve_model", &root, &name, &source))
        return NULL;
    rz_error_init(&err);
    if (resolve(&r, module, root, name, source, &err) < 0)
        return rz_py_raise(module, &err);
    out = info_to_python(&r.info);
    resolved_clear(&r);
    return out;
}

static int collect_name(const rz_model_ref *ref, void *payload)
{
    PyObject *names = payload;
    PyObject *name = PyUnicode_FromString(rz_json_str(ref->model, "name"));
    int rc = name ? PyList_Append(names, name) : -1;
    Py_XDECREF(name);
    return rc;
}

PyDoc_STRVAR(list_models_doc,
             "list_models(home, tags, source, licenses) -> list[str]\n\nSorted full names; tags "
             "and licenses are lists of str or None.");

static PyObject *list_models(PyObject *module, PyObject *args)
{
    const char *root, *source_spec;
    PyObject *tags, *licenses, *tags_held = NULL, *licenses_held = NULL, *names = NULL;
    const char **tag_array = NULL, **license_array = NULL;
    Py_ssize_t n_tags = 0, n_licenses = 0;
    rz_query q = {0};
    rz_spec spec = {0};
    rz_index *idx = NULL;
    rz_home home = RZ_HOME_INIT;
    rz_error err;
    PyObject *out = NULL;

    if (!PyArg_ParseTuple(args, "sOzO:list_models", &root, &tags, &source_spec, &licenses))
        return NULL;
    if ((tags != Py_None && !PyList_Check(tags)) ||
        (licenses != Py_None && !PyList_Check(licenses)))
        return PyErr_Format(PyExc_TypeError, "tags and licenses must be lists or None");
    rz_error_init(&err);
    if ((source_spec && rz_py_parse_spec(&spec, source_spec, &err) < 0) ||
        rz_py_open_home(&home, root, &err) < 0)
        goto raise;
    q.source = spec.identity;
    /* Unfiltered, from registry.names when it is valid: no index to parse. */
    if (!source_spec && tags == Py_None && licenses == Py_None &&
        (out = rz_py_all_names(module, &home, &err)) != NULL)
        goto done;
    if (err.kind != RZ_E_NONE || PyErr_Occurred() ||
        !(idx = rz_py_current_index(module, &home, 1, &err)))
        goto raise;
    if (rz_py_utf8_array(&tag_array, &n_tags, &tags_held, tags, "tags") < 0 ||
        rz_py_utf8_array(&license_array, &n_licenses, &licenses_held, licenses, "licenses") < 0)
        goto done;
    q.tags = tag_array;
    q.n_tags = (size_t)n_tags;
    q.licenses = license_array;
    q.n_licenses = (size_t)n_licenses;
    names = PyList_New(0);
    if (!names || rz_index_each_model(idx, &q, collect_name, names) != 0 || PyList_Sort(names) < 0)
        goto done;
    out = Py_NewRef(names);
    goto done;
raise:
    rz_py_raise(module, &err);
done:
    rz_index_free(idx);
    Py_XDECREF(names);
    PyMem_Free(tag_array);
    PyMem_Free(license_array);
    Py_XDECREF(tags_held);
    Py_XDECREF(licenses_held);
    rz_spec_clear(&spec);
    rz_home_clear(&home);
    return out;
}

typedef struct downloaded_payload {
    const rz_home *home;
    PyObject *out;
} downloaded_payload;

static int collect_downloaded(const rz_model_ref *ref, void *payload)
{
    downloaded_payload *p = payload;
    rz_model_info info;
    rz_error err;
    struct stat st;
    PyObject *item;
    int rc;

    rz_error_init(&err);
    if (rz_model_info_fill(&info, p->home, ref, &err) < 0 || stat(info.model_path, &st) < 0) {
        rz_model_info_clear(&info);
        return 0; /* not downloaded (or not resolvable): not listed */
    }
    item = info_to_python(&info);
    rz_model_info_clear(&info);
    rc = item ? PyList_Append(p->out, item) : -1;
    Py_XDECREF(item);
    return rc;
}

PyDoc_STRVAR(list_downloaded_doc, "list_downloaded(home) -> list[dict]\n\nThe models whose "
                                  "download completed, as resolve_model describes them.");

static PyObject *list_downloaded(PyObject *module, PyObject *args)
{
    const char *root;
    downloaded_payload p = {NULL, NULL};
    rz_index *idx = NULL;
    rz_home home = RZ_HOME_INIT;
    rz_error err;

    if (!PyArg_ParseTuple(args, "s:list_downloaded", &root))
        return NULL;
    rz_error_init(&err);
    if (rz_py_open_home(&home, root, &err) < 0 ||
        !(idx = rz_py_current_index(module, &home, 1, &err))) {
        rz_py_raise(module, &err);
        goto done;
    }
    p.home = &home;
    p.out = PyList_New(0);
    if (p.out && rz_index_each_model(idx, NULL, collect_downloaded, &p) != 0)
        Py_CLEAR(p.out);
done:
    rz_index_free(idx);
    rz_home_clear(&home);
    return p.out;
}

PyDoc_STRVAR(download_model_doc,
             "download_model(home, name, source, overwrite, progress, trust=None, expect=None,\n"
             "               staged=None) -> (dict, bool)\n\n"
             "Download a model unless it is; returns its info and whether it was downloaded now.\n"
             "trust: the gate called before the source's code runs; expect: the digest the\n"
             "download must have; staged: {'path', 'layout'}, a model made elsewhere (a bundle's)\n"
             "to place instead of downloading.");

static PyObject *download_model(PyObject *module, PyObject *args)
{
    const char *root, *name, *source, *verified;
    int overwrite, rc, downloaded = 0, as_companion = 0;
    PyObject *progress, *gate = Py_None, *expect_arg = Py_None, *staged = Py_None;
    PyObject *plugin = NULL, *res = NULL, *out = NULL, *staged_path = NULL;
    const rz_net_api *net = NULL;
    rz_model_download d = {0};
    rz_model_locks locks;
    rz_py_progress prog;
    rz_fetch_opts opts;
    rz_expect expect;
    rz_digest digest;
    resolved r;
    rz_error err;
    struct stat st;

    d.tmp_lock = (rz_lock)RZ_LOCK_INIT;
    if (!PyArg_ParseTuple(args, "sszpO|OOO:download_model", &root, &name, &source, &overwrite,
                          &progress, &gate, &expect_arg, &staged) ||
        rz_py_expect(&expect, expect_arg) < 0 ||
        rz_py_staged(&staged_path, &as_companion, staged) < 0)
        return NULL;
    rz_error_init(&err);
    /* Downloaded already: the rename that completed it is atomic, so there is nothing to wait
     * for and no lock is taken; a source's load_model may ask for its own model again. */
    rc = resolve_locked(&r, &locks, module, root, name, source, LOCK_EX, !overwrite, &err);
    if (rc < 0) {
        Py_XDECREF(staged_path);
        return rz_py_raise(module, &err);
    }
    if (rc == 2 || (!overwrite && lstat(r.info.model_path, &st) == 0))
        goto done; /* downloaded before (perhaps by a process we waited for) */
    Py_BEGIN_ALLOW_THREADS
        rc = rz_model_download_begin(&d, &r.home, &r.info, &err);
    Py_END_ALLOW_THREADS
    if (rc < 0)
        goto fail;
    if (staged_path) {
        /* a model made elsewhere, checked against expect below: no code, no network */
        Py_BEGIN_ALLOW_THREADS
            rc = rz_model_download_stage(&d, PyBytes_AsString(staged_path), as_companion, &err);
        Py_END_ALLOW_THREADS
        if (rc < 0)
            goto fail;
    } else if (d.by_manager) {
        if (!(net = rz_py_net(module)))
            goto fail;
        rz_py_progress_begin(&prog, &opts, progress);
        rc = rz_model_download_fetch(&d, net, &opts, &err);
        if (rz_py_progress_end(&prog) < 0 || rc < 0)
            goto fail;
    } else {
        if (gate_info(gate, &r.info, "download_model") < 0)
            goto fail;
        plugin = rz_plugin_import(module, r.info.module_name, r.info.source_dir, r.info.generation,
                                  r.info.identity);
        res = plugin ? rz_plugin_call(module, plugin, "download_model", r.info.identity,
                                      r.info.name, d.target, NULL)
                     : NULL;
        if (!res)
            goto fail;
    }
    Py_BEGIN_ALLOW_THREADS
        rc = rz_model_download_prepare(&d, &err);
    Py_END_ALLOW_THREADS
    if (rc < 0 || (d.place.verify && !net && !(net = rz_py_net(module))))
        goto fail;
    Py_BEGIN_ALLOW_THREADS
        rc = rz_model_download_verify(&d, net, &err);
    Py_END_ALLOW_THREADS
    if (rc < 0)
        goto fail;
    /* What arrived is hashed unless its file was just checked against a declared sha256 (by
     * the verify above, or by the fetch of a manager's file), then checked against expect. */
    if (staged_path || !d.model->sha256 || d.place.from_archive)
        verified = NULL; /* nothing checked, or the archive's digest, not the model's */
    else if (d.by_manager)
        verified = strcmp(d.place.content, d.place.model) == 0 ? d.model->sha256 : NULL;
    else
        verified =
            d.place.verify && strcmp(d.place.verify, d.place.content) == 0 ? d.model->sha256 : NULL;
    if (download_digest(&digest, &d.place, verified) < 0)
        goto fail;
    Py_BEGIN_ALLOW_THREADS
        rc = rz_model_download_finish(&d, &digest, &expect, &err);
    Py_END_ALLOW_THREADS
    if (rc < 0)
        goto fail;
    downloaded = 1;
done:
    out = Py_BuildValue("(NO)", info_to_python(&r.info), downloaded ? Py_True : Py_False);
    goto cleanup;
fail:
    if (!PyErr_Occurred()) {
        rz_error_attach_model(&err, r.info.name);
        rz_error_attach_source(&err, r.info.identity);
        rz_py_raise(module, &err);
    }
cleanup:
    Py_BEGIN_ALLOW_THREADS
        rz_model_download_end(&d);
    Py_END_ALLOW_THREADS
    Py_XDECREF(res);
    Py_XDECREF(plugin);
    Py_XDECREF(staged_path);
    release_model(&r, &locks);
    return out;
}

PyDoc_STRVAR(load_model_doc,
             "load_model(home, name, source, kwargs, trust=None) -> object\n\nCall the source's "
             "load_model(model_name, model_path, **kwargs) for a downloaded model, once the trust "
             "gate let it.");

static PyObject *load_model(PyObject *module, PyObject *args)
{
    const char *root, *name, *source;
    PyObject *kwargs, *gate = Py_None, *plugin = NULL, *out = NULL;
    rz_model_locks locks;
    resolved r;
    rz_error err;
    struct stat st;

    if (!PyArg_ParseTuple(args, "sszO!|O:load_model", &root, &name, &source, &PyDict_Type, &kwargs,
                          &gate))
        return NULL;
    rz_error_init(&err);
    /* Shared: loads run together, while a delete or a re-download of the model waits for them. */
    if (resolve_locked(&r, &locks, module, root, name, source, LOCK_SH, 0, &err) < 0)
        return rz_py_raise(module, &err);
    if (stat(r.info.model_path, &st) < 0) {
        rz_error_set(&err, RZ_E_MODEL_NOT_FOUND,
                     "model '%s' is not downloaded; download_zoo_model() fetches it", r.info.name);
        rz_error_attach_model(&err, r.info.name);
        rz_py_raise(module, &err);
        goto done;
    }
    if (gate_info(gate, &r.info, "load_model") < 0)
        goto done;
    plugin = rz_plugin_import(module, r.info.module_name, r.info.source_dir, r.info.generation,
                              r.info.identity);
    out = plugin ? rz_plugin_call(module, plugin, "load_model", r.info.identity, r.info.name,
                                  r.info.model_path, kwargs)
                 : NULL;
done:
    Py_XDECREF(plugin);
    release_model(&r, &locks);
    return out;
}

PyDoc_STRVAR(delete_model_doc, "delete_model(home, name, source) -> bool\n\nDelete a downloaded "
                               "model; False if it was not downloaded.");

static PyObject *delete_model(PyObject *module, PyObject *args)
{
    const char *root, *name, *source;
    rz_trash trash = {0};
    rz_model_locks locks;
    resolved r;
    rz_error err;
    int rc;

    if (!PyArg_ParseTuple(args, "ssz:delete_model", &root, &name, &source))
        return NULL;
    rz_error_init(&err);
    if (resolve_locked(&r, &locks, module, root, name, source, LOCK_EX, 0, &err) < 0)
        return rz_py_raise(module, &err);
    /* Aside first (atomic: the model is complete or gone), then removed without the locks. */
    Py_BEGIN_ALLOW_THREADS
        rc = rz_model_move_aside(&trash, r.home.models, r.info.model_path, &err);
    Py_END_ALLOW_THREADS
    release_model(&r, &locks);
    Py_BEGIN_ALLOW_THREADS
        rz_trash_empty(&trash);
    Py_END_ALLOW_THREADS
    if (rc < 0)
        return rz_py_raise(module, &err);
    return PyBool_FromLong(rc);
}

PyMethodDef rz_py_models_methods[] = {
    {"resolve_model", resolve_model, METH_VARARGS, resolve_model_doc},
    {"list_models", list_models, METH_VARARGS, list_models_doc},
    {"list_downloaded", list_downloaded, METH_VARARGS, list_downloaded_doc},
    {"download_model", download_model, METH_VARARGS, download_model_doc},
    {"load_model", load_model, METH_VARARGS, load_model_doc},
    {"delete_model", delete_model, METH_VARARGS, delete_model_doc},
    {NULL, NULL, 0, NULL},
};
