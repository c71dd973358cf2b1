/* py_registry.c - sources and models at the module boundary: the cached index, registration,
 * listing, resolution, and the download / load / delete of models through the plugin contract.
 *
 * Every function takes the home directory (the Python face computes it from REMOTEZOO_HOME) so
 * that the C core holds no environment-derived globals. */
#include "glue.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "generation.h"
#include "lock.h"
#include "manifest.h"
#include "models.h"
#include "names.h"
#include "net.h"
#include "plugin.h"
#include "py_progress.h"
#include "registry.h"
#include "source.h"
#include "spec.h"

/* ---- the cached index ---- */

/* Frees a names file kept in the state (st->names, st->all_names). */
static void free_names(rz_names *names, PyObject *tuple)
{
    if (names) {
        rz_names_clear(names);
        PyMem_Free(names);
    }
    Py_XDECREF(tuple);
}

void rz_py_registry_clear(rz_state *st)
{
    free_names(st->names, st->all_names);
    st->names = NULL;
    st->all_names = NULL;
    rz_index_free(st->index);
    st->index = NULL;
    free(st->index_home);
    st->index_home = NULL;
}

/* Between blocking_begin and blocking_end the GIL is released and the lock waits of home run
 * Python's signal handlers through prog (py_progress.h), so Ctrl-C stops them. blocking_end
 * returns -1 when a Python exception is pending (then nothing else is raised). */
static void blocking_begin(rz_py_progress *prog, rz_home *home)
{
    rz_py_progress_begin(prog, NULL, NULL);
    home->wait.cancel = rz_py_progress_check;
    home->wait.payload = prog;
}

static int blocking_end(rz_py_progress *prog, rz_home *home)
{
    home->wait.cancel = NULL;
    home->wait.payload = NULL;
    return rz_py_progress_end(prog);
}

/* Rescans the local sources whose manifest.json changed since they were indexed. Returns 1 if
 * the index file was rewritten, 0 if nothing changed, -1 on error. Local sources are used in
 * place, so this is what keeps their index entries true. */
static int refresh_local_sources(const rz_home *home, const rz_index *idx, rz_error *err)
{
    const cJSON *source, *manifest;
    int changed = 0;

    cJSON_ArrayForEach(source, rz_index_sources(idx))
    {
        const char *kind = rz_json_str(source, "kind"), *tree = rz_json_str(source, "tree");
        int stale = 0;
        if (!kind || strcmp(kind, "local") != 0 || !tree)
            continue;
        cJSON_ArrayForEach(manifest, cJSON_GetObjectItemCaseSensitive(source, "manifests"))
        {
            char path[RZ_PATH_MAX];
            if (rz_local_manifest_path(path, sizeof(path), source, manifest) < 0 ||
                !rz_file_stamp_is(path, rz_json_str(manifest, "stamp"))) {
                stale = 1;
                break;
            }
        }
        if (stale) {
            cJSON *entry = NULL;
            cJSON *replaced = NULL;
            if (rz_source_local_entry(&entry, rz_json_str(source, "identity"),
                                      rz_json_str(source, "spec"), tree,
                                      rz_json_str(source, "slug"), err) < 0 ||
                rz_registry_put_source(&replaced, home, entry, 0, err) < 0)
                return -1;
            cJSON_Delete(replaced); /* none: without overwrite a taken name is refused */
            changed = 1;
        }
    }
    return changed;
}

/* The current index of home, from the module's cache when registry.json did not change. A new
 * reference (caller drops it with rz_index_free): the cache may be replaced by another thread
 * whenever the GIL is released, and the caller's index must stay alive. NULL with err set, or
 * with a Python exception (Ctrl-C) and err untouched. refresh: rescan changed local sources
 * first; a caller that holds a folder lock passes 0, since a rescan may wait for that lock. */
static rz_index *current_index(PyObject *module, rz_home *home, int refresh, rz_error *err)
{
    rz_state *st = rz_get_state(module);
    rz_index *idx = NULL;
    int attempt, rc;

    for (attempt = 0; attempt < 2; attempt++) {
        rz_index_free(idx);
        idx = NULL;
        if (st->index && st->index_home && strcmp(st->index_home, home->root) == 0 &&
            rz_index_is_current(st->index, home)) {
            idx = rz_index_ref(st->index);
        } else {
            char *home_copy = strdup(home->root);
            if (!home_copy) {
                rz_error_set(err, RZ_E_NOMEM, "out of memory");
                return NULL;
            }
            Py_BEGIN_ALLOW_THREADS
                rc = rz_index_load(&idx, home, err);
            Py_END_ALLOW_THREADS
            if (rc < 0) {
                free(home_copy);
                return NULL;
            }
            rz_py_registry_clear(st);
            st->index = rz_index_ref(idx);
            st->index_home = home_copy;
        }
        if (!refresh || home->wait.read_only) /* a read-only index is not rewritten */
            return idx;
        {
            rz_py_progress prog;
            blocking_begin(&prog, home);
            rc = refresh_local_sources(home, idx, err);
            if (blocking_end(&prog, home) < 0) {
                rz_error_init(err); /* the pending exception (Ctrl-C) is what the caller gets */
                rz_error_set(err, RZ_E_CALLBACK, "interrupted");
            }
        }
        if (rc < 0 || err->kind != RZ_E_NONE) {
            rz_index_free(idx);
            return NULL;
        }
        if (rc == 0)
            return idx;
    }
    return idx; /* refreshed once; a second change in between is seen next call */
}

static int open_home(rz_home *out, const char *root, rz_error *err)
{
    int rc;
    Py_BEGIN_ALLOW_THREADS
        rc = rz_home_init(out, root, err);
    Py_END_ALLOW_THREADS
    return rc;
}

/* Parses spec with $GITHUB_SERVER_URL; out must be cleared with rz_spec_clear. */
static int parse_spec(rz_spec *out, const char *text, rz_error *err)
{
    const char *server = getenv("GITHUB_SERVER_URL");
    return rz_spec_parse(out, text, server && server[0] ? server : NULL, err);
}

/* ---- sources ---- */

PyDoc_STRVAR(source_identity_doc, "source_identity(spec) -> str\n\nThe normalised identity of a "
                                  "source spec (raises SourceError if malformed).");

static PyObject *source_identity(PyObject *module, PyObject *args)
{
    const char *text;
    rz_spec spec;
    rz_error err;
    PyObject *out = NULL;

    if (!PyArg_ParseTuple(args, "s:source_identity", &text))
        return NULL;
    rz_error_init(&err);
    if (parse_spec(&spec, text, &err) < 0)
        return rz_py_raise(module, &err);
    out = PyUnicode_FromString(spec.identity);
    rz_spec_clear(&spec);
    return out;
}

PyDoc_STRVAR(register_source_doc,
             "register_source(home, spec, overwrite, progress) -> str\n\nRegister a source; "
             "returns its identity.");

static PyObject *register_source(PyObject *module, PyObject *args)
{
    const char *root, *text;
    int overwrite, rc;
    PyObject *progress;
    const rz_net_api *net = NULL;
    rz_py_progress prog;
    rz_fetch_opts opts;
    rz_home home;
    rz_spec spec;
    rz_error err;
    PyObject *out = NULL;

    if (!PyArg_ParseTuple(args, "sspO:register_source", &root, &text, &overwrite, &progress))
        return NULL;
    rz_error_init(&err);
    if (parse_spec(&spec, text, &err) < 0)
        return rz_py_raise(module, &err);
    if (open_home(&home, root, &err) < 0)
        goto done;
    if (spec.kind != RZ_SPEC_LOCAL && !(net = rz_net(module)))
        goto done_raised;
    rz_py_progress_begin(&prog, &opts, progress);
    home.wait.cancel = rz_py_progress_check; /* lock waits stop for Ctrl-C too */
    home.wait.payload = &prog;
    rc = rz_source_register(&home, net, &spec, text, overwrite, &opts, &err);
    if (blocking_end(&prog, &home) < 0)
        goto done_raised;
    if (rc == 0)
        out = PyUnicode_FromString(spec.identity);
done:
    if (!out && err.kind != RZ_E_NONE)
        rz_py_raise_source(module, &err);
done_raised:
    rz_spec_clear(&spec);
    return out;
}

PyDoc_STRVAR(delete_source_doc, "delete_source(home, spec) -> None\n\nUnregister a source and "
                                "delete its tree and downloaded models.");

static PyObject *delete_source(PyObject *module, PyObject *args)
{
    const char *root, *text;
    rz_home home;
    rz_spec spec;
    rz_error err;
    int rc = -1;

    if (!PyArg_ParseTuple(args, "ss:delete_source", &root, &text))
        return NULL;
    rz_error_init(&err);
    if (parse_spec(&spec, text, &err) < 0)
        return rz_py_raise(module, &err);
    if (open_home(&home, root, &err) == 0) {
        rz_py_progress prog;
        blocking_begin(&prog, &home);
        rc = rz_source_delete(&home, spec.identity, &err);
        if (blocking_end(&prog, &home) < 0) {
            rz_spec_clear(&spec);
            return NULL;
        }
    }
    rz_spec_clear(&spec);
    if (rc < 0)
        return rz_py_raise(module, &err);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(list_sources_doc, "list_sources(home) -> list[dict]\n\nThe registered sources, "
                               "sorted by identity.");

static PyObject *list_sources(PyObject *module, PyObject *args)
{
    static const char *const keys[] = {"identity", "spec", "kind", "ref", "sha", "registered_at"};
    const char *root;
    const cJSON *source;
    rz_index *idx;
    rz_home home;
    rz_error err;
    PyObject *out = NULL, *entry = NULL;

    if (!PyArg_ParseTuple(args, "s:list_sources", &root))
        return NULL;
    rz_error_init(&err);
    if (open_home(&home, root, &err) < 0 || !(idx = current_index(module, &home, 1, &err)))
        return rz_py_raise(module, &err);
    out = PyList_New(0);
    if (!out)
        goto fail;
    cJSON_ArrayForEach(source, rz_index_sources(idx))
    {
        size_t i;
        entry = PyDict_New();
        if (!entry)
            goto fail;
        for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
            const char *value = rz_json_str(source, keys[i]);
            PyObject *v = value ? PyUnicode_FromString(value) : Py_NewRef(Py_None);
            if (!v || PyDict_SetItemString(entry, keys[i], v) < 0) {
                Py_XDECREF(v);
                goto fail;
            }
            Py_DECREF(v);
        }
        if (PyList_Append(out, entry) < 0)
            goto fail;
        Py_CLEAR(entry);
    }
    rz_index_free(idx);
    return out;
fail:
    rz_index_free(idx);
    Py_XDECREF(entry);
    Py_XDECREF(out);
    return NULL;
}

/* ---- models ---- */

/* What a resolved model is, as C strings (paths absolute). */
typedef struct model_info {
    rz_index *index; /* a reference held while the strings below are in use, or NULL */
    const char *name, *identity, *kind, *module_name; /* borrowed from the index */
    const char *folder, *digest; /* borrowed: the manifest's models_subdir, the model's digest */
    const cJSON *manifest;       /* borrowed: the manifest's index entry */
    char source_dir[RZ_PATH_MAX];
    char model_path[RZ_PATH_MAX];
    char manifest_path[RZ_PATH_MAX];
    char generation[128];
    char generation_dir[RZ_PATH_MAX]; /* a fetched source's <slug>/<generation>, else "" */
} model_info;

static int fill_info(model_info *out, const rz_home *home, const rz_model_ref *ref, rz_error *err)
{
    char tree[RZ_PATH_MAX];
    const char *dir = rz_json_str(ref->manifest, "dir");
    const char *generation = rz_json_str(ref->source, "generation");

    out->name = rz_json_str(ref->model, "name");
    out->identity = rz_json_str(ref->source, "identity");
    out->kind = rz_json_str(ref->source, "kind");
    out->module_name = rz_json_str(ref->manifest, "module");
    out->folder = rz_json_str(ref->manifest, "models_subdir");
    out->digest = rz_json_str(ref->model, "digest");
    out->manifest = ref->manifest;
    if (!out->name || !out->identity || !out->kind || !out->module_name || !out->folder)
        return rz_error_set(err, RZ_E_SOURCE, "the registry entry of a model is incomplete");
    if (rz_source_tree_path(tree, sizeof(tree), home, ref->source, err) < 0 ||
        rz_model_path(out->model_path, sizeof(out->model_path), home, ref->manifest, ref->model,
                      err) < 0)
        return -1;
    if (rz_pathf(out->source_dir, sizeof(out->source_dir), err, "%s%s%s", tree,
                 dir && dir[0] ? "/" : "", dir ? dir : "") < 0 ||
        rz_pathf(out->manifest_path, sizeof(out->manifest_path), err, "%s/manifest.json",
                 out->source_dir) < 0)
        return -1;
    snprintf(out->generation, sizeof(out->generation), "%s", generation ? generation : "");
    out->generation_dir[0] = '\0';
    if (strcmp(out->kind, "local") != 0) {
        /* tree is <sources>/<slug>/<generation>/tree */
        snprintf(out->generation_dir, sizeof(out->generation_dir), "%s", tree);
        *strrchr(out->generation_dir, '/') = '\0';
    } else {
        /* Used in place: the code's own files say when it changed. */
        char init[RZ_PATH_MAX];
        struct stat st;
        if (rz_pathf(init, sizeof(init), err, "%s/__init__.py", out->source_dir) < 0)
            return -1;
        if (stat(init, &st) == 0)
            rz_file_stamp(out->generation, sizeof(out->generation), &st);
    }
    return 0;
}

static PyObject *info_to_python(const model_info *info)
{
    return Py_BuildValue("{s:s,s:s,s:s,s:s,s:O&,s:O&,s:O&}", "name", info->name, "source",
                         info->identity, "kind", info->kind, "module", info->module_name,
                         "source_dir", PyUnicode_DecodeFSDefault, info->source_dir, "model_path",
                         PyUnicode_DecodeFSDefault, info->model_path, "manifest_path",
                         PyUnicode_DecodeFSDefault, info->manifest_path);
}

/* Resolve name (and an optional source spec) to info. */
static int resolve(model_info *out, PyObject *module, rz_home *home, const char *name,
                   const char *source_spec, rz_error *err)
{
    rz_spec spec = {0};
    rz_model_ref ref;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (source_spec && parse_spec(&spec, source_spec, err) < 0)
        goto done;
    /* out->index keeps what out borrows alive until info_clear. */
    if (!(out->index = current_index(module, home, 1, err)))
        goto done;
    if (source_spec && !rz_index_find_source(out->index, spec.identity)) {
        rz_error_set(err, RZ_E_SOURCE, "source %s is not registered", spec.identity);
        rz_error_attach_source(err, spec.identity);
        goto done;
    }
    if (rz_index_resolve(&ref, out->index, name, source_spec ? spec.identity : NULL, err) < 0)
        goto done;
    rc = fill_info(out, home, &ref, err);
done:
    rz_spec_clear(&spec);
    if (rc < 0) {
        rz_index_free(out->index);
        out->index = NULL;
    }
    return rc;
}

/* Drops what resolve() took; the info's borrowed strings are invalid afterwards. */
static void info_clear(model_info *info)
{
    rz_index_free(info->index);
    info->index = NULL;
}

/* open_home + resolve: what every per-model function starts with. */
static int open_and_resolve(model_info *out, rz_home *home, PyObject *module, const char *root,
                            const char *name, const char *source, rz_error *err)
{
    return open_home(home, root, err) < 0 ? -1 : resolve(out, module, home, name, source, err);
}

PyDoc_STRVAR(resolve_model_doc, "resolve_model(home, name, source) -> dict\n\nWhere model name "
                                "(latest version if unversioned) comes from and lives.");

static PyObject *resolve_model(PyObject *module, PyObject *args)
{
    const char *root, *name, *source;
    model_info info;
    rz_home home;
    rz_error err;

    if (!PyArg_ParseTuple(args, "ssz:resolve_model", &root, &name, &source))
        return NULL;
    rz_error_init(&err);
    PyObject *out;

    if (open_and_resolve(&info, &home, module, root, name, source, &err) < 0)
        return rz_py_raise(module, &err);
    out = info_to_python(&info);
    info_clear(&info);
    return out;
}

typedef struct list_payload {
    PyObject *names;
} list_payload;

static int collect_name(const rz_model_ref *ref, void *payload)
{
    list_payload *p = payload;
    PyObject *name = PyUnicode_FromString(rz_json_str(ref->model, "name"));
    int rc = name ? PyList_Append(p->names, name) : -1;
    Py_XDECREF(name);
    return rc;
}

/* A list of str as a C array of UTF-8 pointers borrowed from *out_hold, a tuple copy the caller
 * drops after the array (not from the caller's list: a finalizer run by an allocation while the
 * array is in use could empty that list); *out freed with PyMem_Free. */
static int string_array(const char ***out, size_t *out_n, PyObject **out_hold, PyObject *seq)
{
    Py_ssize_t i, n;

    *out = NULL;
    *out_n = 0;
    *out_hold = NULL;
    if (seq == Py_None)
        return 0;
    if (!(seq = *out_hold = rz_py_tuple_copy(seq)))
        return -1;
    n = PyTuple_GET_SIZE(seq);
    *out = PyMem_Calloc((size_t)n + 1, sizeof(char *));
    if (!*out) {
        PyErr_NoMemory();
        return -1;
    }
    for (i = 0; i < n; i++) {
        (*out)[i] = PyUnicode_AsUTF8(PyTuple_GET_ITEM(seq, i)); /* borrowed from the str */
        if (!(*out)[i])
            return -1;
    }
    *out_n = (size_t)n;
    return 0;
}

/* Every registered model's full name, sorted, as a new list: from registry.names (names.h)
 * when it is valid, kept in the state while it stays valid, so a new process needs no index
 * and a warm call is a few stat()s and a copy. NULL with nothing set: not valid, walk the
 * index. NULL with err set or an exception: an error. */
static PyObject *all_names(PyObject *module, const rz_home *home, rz_error *err)
{
    rz_state *st = rz_get_state(module);
    rz_names *names = st->names;
    PyObject *tuple = st->all_names, *out = NULL;
    int valid = 0, rc = 1;

    /* Taken out of the state while the GIL is released; another thread meanwhile reads its
     * own. */
    st->names = NULL;
    st->all_names = NULL;
    if (names && strcmp(names->home, home->names) != 0) {
        free_names(names, tuple);
        names = NULL;
        tuple = NULL;
    }
    Py_BEGIN_ALLOW_THREADS
        valid = names && rz_names_valid(names, home);
    Py_END_ALLOW_THREADS
    if (!valid) {
        free_names(names, tuple);
        tuple = NULL;
        if (!(names = PyMem_Calloc(1, sizeof(*names))))
            return PyErr_NoMemory();
        Py_BEGIN_ALLOW_THREADS
            rc = rz_names_read(names, home, err);
        Py_END_ALLOW_THREADS
        if (rc == 1) {
            snprintf(names->home, sizeof(names->home), "%s", home->names);
            tuple = PyTuple_New((Py_ssize_t)names->n_names);
            for (size_t i = 0; tuple && i < names->n_names; i++) {
                PyObject *name = PyUnicode_FromString(names->names[i]);
                if (!name)
                    Py_CLEAR(tuple);
                else
                    PyTuple_SET_ITEM(tuple, (Py_ssize_t)i, name);
            }
        }
        if (!tuple && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError))
            PyErr_Clear(); /* a damaged file: read the index */
        if (rc != 1 || !tuple) {
            free_names(names, tuple);
            return NULL;
        }
    }
    out = PySequence_List(tuple);
    if (!st->names) {
        st->names = names;
        st->all_names = tuple;
    } else {
        free_names(names, tuple); /* another thread put its own back first */
    }
    return out;
}

PyDoc_STRVAR(list_models_doc,
             "list_models(home, tags, source, licenses) -> list[str]\n\nSorted full names; tags "
             "and licenses are lists of str or None.");

static PyObject *list_models(PyObject *module, PyObject *args)
{
    const char *root, *source_spec;
    PyObject *tags, *licenses, *tags_held = NULL, *licenses_held = NULL;
    rz_query q = {0};
    rz_spec spec = {0};
    int have_spec = 0;
    list_payload p = {NULL};
    rz_index *idx = NULL;
    rz_home home;
    rz_error err;
    PyObject *out = NULL;

    if (!PyArg_ParseTuple(args, "sOzO:list_models", &root, &tags, &source_spec, &licenses))
        return NULL;
    if ((tags != Py_None && !PyList_Check(tags)) ||
        (licenses != Py_None && !PyList_Check(licenses)))
        return PyErr_Format(PyExc_TypeError, "tags and licenses must be lists or None");
    rz_error_init(&err);
    if (source_spec) {
        if (parse_spec(&spec, source_spec, &err) < 0)
            return rz_py_raise(module, &err);
        have_spec = 1;
        q.source = spec.identity;
    }
    if (open_home(&home, root, &err) < 0) {
        rz_py_raise(module, &err);
        goto done;
    }
    /* Unfiltered, from registry.names when it is valid: no index to parse. */
    if (!source_spec && tags == Py_None && licenses == Py_None &&
        (out = all_names(module, &home, &err)) != NULL)
        goto done;
    if (err.kind != RZ_E_NONE || PyErr_Occurred()) {
        if (!PyErr_Occurred())
            rz_py_raise(module, &err);
        goto done;
    }
    if (!(idx = current_index(module, &home, 1, &err))) {
        rz_py_raise(module, &err);
        goto done;
    }
    if (string_array((const char ***)&q.tags, &q.n_tags, &tags_held, tags) < 0 ||
        string_array((const char ***)&q.licenses, &q.n_licenses, &licenses_held, licenses) < 0)
        goto done;
    p.names = PyList_New(0);
    if (!p.names || rz_index_each_model(idx, &q, collect_name, &p) != 0 || PyList_Sort(p.names) < 0)
        goto done;
    out = Py_NewRef(p.names);
done:
    rz_index_free(idx);
    Py_XDECREF(p.names);
    PyMem_Free((void *)q.tags);
    PyMem_Free((void *)q.licenses);
    Py_XDECREF(tags_held);
    Py_XDECREF(licenses_held);
    if (have_spec)
        rz_spec_clear(&spec);
    return out;
}

typedef struct downloaded_payload {
    const rz_home *home;
    PyObject *out;
} downloaded_payload;

static int collect_downloaded(const rz_model_ref *ref, void *payload)
{
    downloaded_payload *p = payload;
    model_info info;
    rz_error err;
    struct stat st;
    PyObject *item;
    int rc;

    rz_error_init(&err);
    if (fill_info(&info, p->home, ref, &err) < 0 || stat(info.model_path, &st) < 0)
        return 0; /* not downloaded (or not resolvable): not listed */
    item = info_to_python(&info);
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
    rz_index *idx;
    rz_home home;
    rz_error err;

    if (!PyArg_ParseTuple(args, "s:list_downloaded", &root))
        return NULL;
    rz_error_init(&err);
    if (open_home(&home, root, &err) < 0 || !(idx = current_index(module, &home, 1, &err)))
        return rz_py_raise(module, &err);
    p.home = &home;
    p.out = PyList_New(0);
    if (p.out && rz_index_each_model(idx, NULL, collect_downloaded, &p) != 0)
        Py_CLEAR(p.out);
    rz_index_free(idx);
    return p.out;
}

/* ---- download ---- */

/* resolve, then pin the generation of a fetched source (a local one needs no pin), so that the
 * tree the model's code and manifest come from stays until rz_generation_unpin. A generation
 * retired between reading the index and pinning it means the source was registered again or
 * deleted: resolve again, against the index as it is now. */
static int resolve_pinned(model_info *out, rz_pin *pin, rz_home *home, PyObject *module,
                          const char *root, const char *name, const char *source, rz_error *err)
{
    pin->fd = -1;
    for (int attempt = 0; attempt < 8; attempt++) {
        rz_py_progress prog;
        int rc;
        if (open_and_resolve(out, home, module, root, name, source, err) < 0)
            return -1;
        if (!out->generation_dir[0])
            return 0;
        blocking_begin(&prog, home);
        rc = rz_generation_pin(pin, out->generation_dir, &home->wait, err);
        if (blocking_end(&prog, home) < 0) {
            rz_generation_unpin(pin);
            rc = rz_error_set(err, RZ_E_CALLBACK, "interrupted");
        }
        if (rc != 0) {
            if (rc < 0)
                info_clear(out);
            return rc < 0 ? -1 : 0;
        }
        info_clear(out);
    }
    rz_error_set(err, RZ_E_SOURCE,
                 "source of model '%s' is being registered again too often to be read; try again",
                 name);
    rz_error_attach_model(err, name);
    return -1;
}

/* What a call that works on one model holds (registry.h's lock order). */
typedef struct model_locks {
    rz_pin pin;     /* the generation of the source's tree whose code runs */
    rz_lock folder; /* the models folder, shared: no registration replaces models under it */
    rz_lock model;  /* the model: LOCK_EX to download or delete it, LOCK_SH to load it */
} model_locks;

static void locks_init(model_locks *l)
{
    l->pin.fd = -1;
    l->folder = (rz_lock)RZ_LOCK_INIT;
    l->model = (rz_lock)RZ_LOCK_INIT;
}

/* Drops what resolve_pinned and lock_model took (in reverse order). */
static void release_model(model_info *info, model_locks *l)
{
    Py_BEGIN_ALLOW_THREADS
        rz_lock_release(&l->model);
        rz_lock_release(&l->folder);
        rz_generation_unpin(&l->pin);
    Py_END_ALLOW_THREADS
    info_clear(info);
}

/* 1 if the index (as it is now, not rescanned: the caller holds a folder lock a rescan may wait
 * for) still resolves info's model to the same source, path and digest; else 0, or -1. */
static int still_resolves(PyObject *module, rz_home *home, const model_info *info, rz_error *err)
{
    rz_index *idx = current_index(module, home, 0, err);
    model_info now;
    rz_model_ref ref;
    int same;

    if (!idx)
        return -1;
    if (rz_index_resolve(&ref, idx, info->name, info->identity, err) < 0) {
        rz_index_free(idx);
        if (err->kind != RZ_E_MODEL_NOT_FOUND)
            return -1;
        rz_error_init(err);
        return 0;
    }
    /* (a registry written before digests has none: the same absence is the same model) */
    same = fill_info(&now, home, &ref, err) == 0 && strcmp(now.model_path, info->model_path) == 0 &&
           (now.digest == info->digest ||
            (now.digest && info->digest && strcmp(now.digest, info->digest) == 0));
    rz_index_free(idx);
    if (err->kind != RZ_E_NONE)
        return -1;
    return same;
}

/* Take the folder lock (shared) and, unless model_op is 0, the model lock of info's model, and
 * check that the index still says what info says: 1 locked, 0 the model changed meanwhile
 * (everything let go: resolve again), -1 error (everything let go). */
static int lock_model(model_info *info, model_locks *l, rz_home *home, PyObject *module,
                      int model_op, rz_error *err)
{
    rz_py_progress prog;
    int rc;

    blocking_begin(&prog, home);
    rc = rz_folder_lock(&l->folder, home, info->folder, LOCK_SH, err);
    if (rc == 0 && model_op)
        rc = rz_model_lock(&l->model, home, info->model_path, model_op, err);
    if (blocking_end(&prog, home) < 0)
        rc = rz_error_set(err, RZ_E_CALLBACK, "interrupted");
    if (rc == 0)
        rc = still_resolves(module, home, info, err);
    if (rc != 1)
        release_model(info, l);
    return rc;
}

/* What killed removals left (rz_source_sweep), against info's index: a call that is about to
 * change a model finishes those first. */
static int sweep(rz_home *home, const model_info *info, rz_error *err)
{
    rz_py_progress prog;

    blocking_begin(&prog, home);
    rz_source_sweep(home, info->index);
    return blocking_end(&prog, home) < 0 ? rz_error_set(err, RZ_E_CALLBACK, "interrupted") : 0;
}

/* resolve_pinned, then lock_model; again when the model changed in between. With
 * stop_if_downloaded, a model that is downloaded already returns 2 with nothing locked (a
 * downloaded model takes no lock: a source's load_model may ask for its own model again). */
static int resolve_locked(model_info *out, model_locks *l, rz_home *home, PyObject *module,
                          const char *root, const char *name, const char *source, int model_op,
                          int stop_if_downloaded, rz_error *err)
{
    locks_init(l);
    for (int attempt = 0; attempt < 8; attempt++) {
        struct stat st;
        int rc;
        if (resolve_pinned(out, &l->pin, home, module, root, name, source, err) < 0)
            return -1;
        if (stop_if_downloaded && lstat(out->model_path, &st) == 0)
            return 2;
        if (model_op == LOCK_EX && sweep(home, out, err) < 0) {
            release_model(out, l);
            return -1;
        }
        rc = lock_model(out, l, home, module, model_op, err);
        if (rc != 0)
            return rc < 0 ? -1 : 1;
    }
    rz_error_set(err, RZ_E_SOURCE,
                 "model '%s' is being replaced by registrations too often to be used; try again",
                 name);
    rz_error_attach_model(err, name);
    return -1;
}

/* Removes what crashed downloads of this model left: <dir>/.rz-<hash>-*, and trash beside it
 * (models.h). Under the model lock, so no live download owns them. */
static void remove_stale_temps(const char *dir, const char *prefix)
{
    rz_trash_sweep(dir, prefix);
    rz_trash_sweep(dir, RZ_TRASH_PREFIX);
}

/* Fetch a model with a "manager": config.url into <tmp>/<base>, or with config.extract_archive
 * into <tmp>/.rz-archive, extracted into <tmp>/.rz-content (models.h says what becomes the
 * model). A declared sha256 is that of the file downloaded. */
static int manager_download(const rz_net_api *net, const rz_model *model, const char *tmp,
                            const char *basename_, const rz_fetch_opts *opts, const char *identity,
                            rz_error *err)
{
    const cJSON *config = rz_json_member(model->manager, "config");
    const char *url = rz_json_str(config, "url");
    const cJSON *extract = rz_json_member(config, "extract_archive");
    char target[RZ_PATH_MAX], content[RZ_PATH_MAX];
    int rc;

    if (!url) {
        rz_error_set(err, RZ_E_SOURCE,
                     "model '%s' of source %s has a manager without config.url; only URL "
                     "managers are supported",
                     model->name, identity);
        rz_error_attach_field(err, "manager.config.url");
        return -1;
    }
    if (!cJSON_IsTrue(extract))
        return rz_pathf(target, sizeof(target), err, "%s/%s", tmp, basename_) < 0
                   ? -1
                   : net->fetch_to_file(url, target, model->sha256, opts, err);
    if (rz_pathf(target, sizeof(target), err, "%s/.rz-archive", tmp) < 0 ||
        rz_pathf(content, sizeof(content), err, "%s/.rz-content", tmp) < 0 ||
        net->fetch_to_file(url, target, model->sha256, opts, err) < 0)
        return -1;
    rc = net->extract_file(target, content, 0, NULL, err); /* default limits */
    unlink(target);
    return rc;
}

PyDoc_STRVAR(download_model_doc,
             "download_model(home, name, source, overwrite, progress) -> (dict, bool)\n\n"
             "Download a model unless it is; returns its info and whether it was downloaded now.");

static PyObject *download_model(PyObject *module, PyObject *args)
{
    const char *root, *name, *source;
    int overwrite, rc, downloaded = 0, is_manager;
    PyObject *progress, *plugin = NULL, *res = NULL, *out = NULL;
    char dir[RZ_PATH_MAX], folder[RZ_PATH_MAX], tmp[RZ_PATH_MAX], target[RZ_PATH_MAX];
    char prefix[64];
    const char *base, *filename;
    rz_manifest *manifest = NULL;
    const rz_model *model;
    const rz_net_api *net;
    rz_download d = {0};
    rz_py_progress prog;
    rz_fetch_opts opts;
    model_locks locks;
    model_info info;
    rz_home home;
    rz_error err;
    struct stat st;
    int have_tmp = 0;

    if (!PyArg_ParseTuple(args, "sszpO:download_model", &root, &name, &source, &overwrite,
                          &progress))
        return NULL;
    rz_error_init(&err);
    /* Downloaded already: the rename that completed it is atomic, so there is nothing to wait
     * for and no lock is taken; a source's load_model may ask for its own model again. */
    rc =
        resolve_locked(&info, &locks, &home, module, root, name, source, LOCK_EX, !overwrite, &err);
    if (rc < 0)
        return rz_py_raise(module, &err);
    if (rc == 2)
        goto done;
    if (!overwrite && lstat(info.model_path, &st) == 0)
        goto done; /* downloaded before (perhaps by a process we waited for) */
    Py_BEGIN_ALLOW_THREADS
        rc = rz_manifest_load(&manifest, info.manifest_path, info.identity, &err);
    Py_END_ALLOW_THREADS
    if (rc < 0)
        goto fail;
    model = rz_manifest_find(manifest, info.name);
    if (!model) {
        rz_error_set(&err, RZ_E_SOURCE,
                     "manifest.json of %s no longer has model '%s'; register the source again",
                     info.identity, info.name);
        goto fail;
    }
    /* model_path is <models>/<folder>/<filename>: it always has a '/' */
    base = strrchr(info.model_path, '/') + 1;
    filename = info.model_path + strlen(home.models) + 1 + strlen(info.folder) + 1;
    snprintf(dir, sizeof(dir), "%.*s", (int)(base - 1 - info.model_path), info.model_path);
    if (rz_pathf(folder, sizeof(folder), &err, "%s/%s", home.models, info.folder) < 0)
        goto fail;
    snprintf(prefix, sizeof(prefix), ".rz-%08llx-",
             rz_fnv1a64(info.model_path, strlen(info.model_path)) & 0xffffffffULL);
    Py_BEGIN_ALLOW_THREADS
        remove_stale_temps(dir, prefix);
        /* dir may vanish meanwhile: a delete of another source removes empty directories. */
        rc = rz_mkdtemp_in(tmp, sizeof(tmp), dir, prefix, &err);
    Py_END_ALLOW_THREADS
    if (rc < 0)
        goto fail;
    have_tmp = 1;
    is_manager = model->manager != NULL; /* "manager": null is no manager, as in FiftyOne */
    if (is_manager) {
        if (!(net = rz_net(module)))
            goto fail_raised;
        rz_py_progress_begin(&prog, &opts, progress);
        rc = manager_download(net, model, tmp, base, &opts, info.identity, &err);
        if (rz_py_progress_end(&prog) < 0)
            goto fail_raised;
        if (rc < 0)
            goto fail;
    } else {
        if (rz_pathf(target, sizeof(target), &err, "%s/%s", tmp, base) < 0)
            goto fail;
        plugin = rz_plugin_import(module, info.module_name, info.source_dir, info.generation,
                                  info.identity);
        if (!plugin)
            goto fail_raised;
        res = rz_plugin_call(module, plugin, "download_model", info.identity, info.name, target,
                             NULL);
        if (!res)
            goto fail_raised;
    }
    d.tmp = tmp;
    d.dir = dir;
    d.base = base;
    d.folder = folder;
    d.filename = filename;
    d.manifest = info.manifest;
    d.from_archive = is_manager && cJSON_IsTrue(rz_json_member(
                                      rz_json_member(model->manager, "config"), "extract_archive"));
    d.extras = !is_manager;
    Py_BEGIN_ALLOW_THREADS
        /* a manager download verified its sha256 already (of the file, or of the archive) */
        rc = rz_download_prepare(&d, is_manager ? NULL : model->sha256, info.name, &err);
    Py_END_ALLOW_THREADS
    if (rc < 0)
        goto fail;
    if (d.verify) {
        if (!(net = rz_net(module)))
            goto fail_raised;
        Py_BEGIN_ALLOW_THREADS
            rc = net->sha256_verify_file(d.verify, model->sha256, &err);
        Py_END_ALLOW_THREADS
        if (rc < 0)
            goto fail;
    }
    Py_BEGIN_ALLOW_THREADS
        rc = rz_download_place(&d, &err);
    Py_END_ALLOW_THREADS
    if (rc < 0)
        goto fail;
    downloaded = 1;
done:
    out = Py_BuildValue("(NO)", info_to_python(&info), downloaded ? Py_True : Py_False);
    goto cleanup;
fail:
    rz_error_attach_model(&err, info.name);
    rz_error_attach_source(&err, info.identity);
    rz_py_raise(module, &err);
fail_raised:
    out = NULL;
cleanup:
    if (have_tmp) {
        rz_error ignored;
        rz_error_init(&ignored);
        Py_BEGIN_ALLOW_THREADS
            rz_rmtree(tmp, &ignored);
        Py_END_ALLOW_THREADS
    }
    rz_download_clear(&d);
    rz_manifest_free(manifest);
    Py_XDECREF(res);
    Py_XDECREF(plugin);
    release_model(&info, &locks);
    return out;
}

PyDoc_STRVAR(load_model_doc,
             "load_model(home, name, source, kwargs) -> object\n\nCall the source's "
             "load_model(model_name, model_path, **kwargs) for a downloaded model.");

static PyObject *load_model(PyObject *module, PyObject *args)
{
    const char *root, *name, *source;
    PyObject *kwargs, *plugin = NULL, *out = NULL;
    model_locks locks;
    model_info info;
    rz_home home;
    rz_error err;
    struct stat st;

    if (!PyArg_ParseTuple(args, "sszO!:load_model", &root, &name, &source, &PyDict_Type, &kwargs))
        return NULL;
    rz_error_init(&err);
    /* Shared: loads run together, while a delete or a re-download of the model waits for them. */
    if (resolve_locked(&info, &locks, &home, module, root, name, source, LOCK_SH, 0, &err) < 0)
        return rz_py_raise(module, &err);
    if (stat(info.model_path, &st) < 0) {
        rz_error_set(&err, RZ_E_MODEL_NOT_FOUND,
                     "model '%s' is not downloaded; download_zoo_model() fetches it", info.name);
        rz_error_attach_model(&err, info.name);
        rz_py_raise(module, &err);
        goto done;
    }
    plugin =
        rz_plugin_import(module, info.module_name, info.source_dir, info.generation, info.identity);
    out = plugin ? rz_plugin_call(module, plugin, "load_model", info.identity, info.name,
                                  info.model_path, kwargs)
                 : NULL;
done:
    Py_XDECREF(plugin);
    release_model(&info, &locks);
    return out;
}

PyDoc_STRVAR(delete_model_doc, "delete_model(home, name, source) -> bool\n\nDelete a downloaded "
                               "model; False if it was not downloaded.");

static PyObject *delete_model(PyObject *module, PyObject *args)
{
    const char *root, *name, *source;
    rz_trash trash = {0};
    model_locks locks;
    model_info info;
    rz_home home;
    rz_error err;
    int rc;

    if (!PyArg_ParseTuple(args, "ssz:delete_model", &root, &name, &source))
        return NULL;
    rz_error_init(&err);
    if (resolve_locked(&info, &locks, &home, module, root, name, source, LOCK_EX, 0, &err) < 0)
        return rz_py_raise(module, &err);
    /* Aside first (atomic: the model is complete or gone), then removed without the locks. */
    Py_BEGIN_ALLOW_THREADS
        rc = rz_model_move_aside(&trash, home.models, info.model_path, &err);
    Py_END_ALLOW_THREADS
    release_model(&info, &locks);
    Py_BEGIN_ALLOW_THREADS
        rz_trash_empty(&trash);
    Py_END_ALLOW_THREADS
    if (rc < 0)
        return rz_py_raise(module, &err);
    return PyBool_FromLong(rc);
}

PyDoc_STRVAR(module_spec_doc,
             "module_spec(home, module_name) -> ModuleSpec | None\n\nThe import spec of a "
             "registered source's package (for the finder of remotezoo._sources).");

static PyObject *module_spec(PyObject *module, PyObject *args)
{
    const char *root, *module_name;
    const cJSON *source, *manifest, *model;
    PyObject *spec;
    rz_index *idx;
    rz_home home;
    rz_error err;

    if (!PyArg_ParseTuple(args, "ss:module_spec", &root, &module_name))
        return NULL;
    rz_error_init(&err);
    if (open_home(&home, root, &err) < 0 || !(idx = current_index(module, &home, 1, &err)))
        return rz_py_raise(module, &err);
    cJSON_ArrayForEach(source, rz_index_sources(idx))
    {
        cJSON_ArrayForEach(manifest, cJSON_GetObjectItemCaseSensitive(source, "manifests"))
        {
            const char *name = rz_json_str(manifest, "module");
            rz_model_ref ref = {source, manifest, NULL};
            model_info info;
            if (!name || strcmp(name, module_name) != 0)
                continue;
            /* fill_info wants a model for its path; any of the manifest's will do. */
            model = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(manifest, "models"), 0);
            ref.model = model;
            if (!model || fill_info(&info, &home, &ref, &err) < 0)
                goto none;
            spec = rz_plugin_spec(module, module_name, info.source_dir, info.generation,
                                  info.identity);
            rz_index_free(idx);
            return spec;
        }
    }
none:
    rz_index_free(idx);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(home_read_only_doc,
             "home_read_only(home) -> bool\n\nWhether the home is read-only: REMOTEZOO_READ_ONLY, "
             "a read-only mount, or no write permission (registry.h, rz_home_read_only).");

static PyObject *home_read_only(PyObject *module, PyObject *args)
{
    const char *root;
    int rc;

    if (!PyArg_ParseTuple(args, "s:home_read_only", &root))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
        rc = rz_home_read_only(root);
    Py_END_ALLOW_THREADS
    return PyBool_FromLong(rc);
}

PyMethodDef rz_py_registry_methods[] = {
    {"home_read_only", home_read_only, METH_VARARGS, home_read_only_doc},
    {"source_identity", source_identity, METH_VARARGS, source_identity_doc},
    {"register_source", register_source, METH_VARARGS, register_source_doc},
    {"delete_source", delete_source, METH_VARARGS, delete_source_doc},
    {"list_sources", list_sources, METH_VARARGS, list_sources_doc},
    {"resolve_model", resolve_model, METH_VARARGS, resolve_model_doc},
    {"list_models", list_models, METH_VARARGS, list_models_doc},
    {"list_downloaded", list_downloaded, METH_VARARGS, list_downloaded_doc},
    {"download_model", download_model, METH_VARARGS, download_model_doc},
    {"load_model", load_model, METH_VARARGS, load_model_doc},
    {"delete_model", delete_model, METH_VARARGS, delete_model_doc},
    {"module_spec", module_spec, METH_VARARGS, module_spec_doc},
    {NULL, NULL, 0, NULL},
};
