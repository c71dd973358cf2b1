/* py_sources.c - sources at the module boundary (core/source.h does the work).
 *
 * Every function takes the home directory (the Python face computes it from REMOTEZOO_HOME) so
 * that the C core holds no environment-derived globals. */
#include "py/core/py_sources.h"

#include <string.h>

#include "core/home.h"
#include "core/json.h"
#include "core/model.h"
#include "core/source.h"
#include "py/core/py_index.h"
#include "py/core/py_plugin.h"
#include "py/py_error.h"

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
    if (rz_py_parse_spec(&spec, text, &err) < 0)
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
    int overwrite, rc = -1;
    PyObject *progress;
    const rz_net_api *net = NULL;
    rz_py_progress prog;
    rz_fetch_opts opts;
    rz_home home = RZ_HOME_INIT;
    rz_spec spec = {0};
    rz_error err;
    PyObject *out = NULL;

    if (!PyArg_ParseTuple(args, "sspO:register_source", &root, &text, &overwrite, &progress))
        return NULL;
    rz_error_init(&err);
    if (rz_py_parse_spec(&spec, text, &err) < 0 || rz_py_open_home(&home, root, &err) < 0)
        goto done;
    if (spec.kind != RZ_SPEC_LOCAL && !(net = rz_py_net(module)))
        goto done;
    rz_py_progress_begin(&prog, &opts, progress);
    home.wait.cancel = rz_py_progress_check; /* lock waits stop for Ctrl-C too */
    home.wait.payload = &prog;
    rc = rz_source_register(&home, net, &spec, text, overwrite, &opts, &err);
    if (rz_py_blocking_end(&prog, &home) < 0)
        rc = -1;
    if (rc == 0)
        out = PyUnicode_FromString(spec.identity);
done:
    if (rc < 0)
        rz_py_raise_source(module, &err);
    rz_spec_clear(&spec);
    rz_home_clear(&home);
    return out;
}

PyDoc_STRVAR(delete_source_doc, "delete_source(home, spec) -> None\n\nUnregister a source and "
                                "delete its tree and downloaded models.");

static PyObject *delete_source(PyObject *module, PyObject *args)
{
    const char *root, *text;
    rz_home home = RZ_HOME_INIT;
    rz_spec spec = {0};
    rz_error err;
    int rc = -1;

    if (!PyArg_ParseTuple(args, "ss:delete_source", &root, &text))
        return NULL;
    rz_error_init(&err);
    if (rz_py_parse_spec(&spec, text, &err) == 0 && rz_py_open_home(&home, root, &err) == 0) {
        rz_py_progress prog;
        rz_py_blocking_begin(&prog, &home);
        rc = rz_source_delete(&home, spec.identity, &err);
        if (rz_py_blocking_end(&prog, &home) < 0)
            rc = -1;
    }
    rz_spec_clear(&spec);
    rz_home_clear(&home);
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
    rz_index *idx = NULL;
    rz_home home = RZ_HOME_INIT;
    rz_error err;
    PyObject *out = NULL, *entry = NULL;

    if (!PyArg_ParseTuple(args, "s:list_sources", &root))
        return NULL;
    rz_error_init(&err);
    idx = rz_py_open_home(&home, root, &err) == 0 ? rz_py_current_index(module, &home, 1, &err)
                                                  : NULL;
    rz_home_clear(&home); /* the index holds all that is needed */
    if (!idx)
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

PyDoc_STRVAR(module_spec_doc,
             "module_spec(home, module_name) -> ModuleSpec | None\n\nThe import spec of a "
             "registered source's package (for the finder of remotezoo._sources).");

static PyObject *module_spec(PyObject *module, PyObject *args)
{
    const char *root, *module_name;
    const cJSON *source, *manifest;
    PyObject *spec = NULL;
    rz_index *idx = NULL;
    rz_home home = RZ_HOME_INIT;
    rz_error err;

    if (!PyArg_ParseTuple(args, "ss:module_spec", &root, &module_name))
        return NULL;
    rz_error_init(&err);
    if (rz_py_open_home(&home, root, &err) < 0 ||
        !(idx = rz_py_current_index(module, &home, 1, &err))) {
        rz_home_clear(&home);
        return rz_py_raise(module, &err);
    }
    cJSON_ArrayForEach(source, rz_index_sources(idx))
    {
        cJSON_ArrayForEach(manifest, rz_index_manifests(source))
        {
            const char *name = rz_json_str(manifest, "module");
            /* rz_model_info_fill wants a model for its paths; any of the manifest's will do. */
            rz_model_ref ref = {source, manifest, cJSON_GetArrayItem(rz_index_models(manifest), 0)};
            rz_model_info info = {0};
            if (!name || strcmp(name, module_name) != 0)
                continue;
            if (ref.model && rz_model_info_fill(&info, &home, &ref, &err) == 0)
                spec = rz_plugin_spec(module, module_name, info.source_dir, info.generation,
                                      info.identity);
            else
                spec = Py_NewRef(Py_None);
            rz_model_info_clear(&info);
            goto done;
        }
    }
    spec = Py_NewRef(Py_None);
done:
    rz_index_free(idx);
    rz_home_clear(&home);
    return spec;
}

PyDoc_STRVAR(home_read_only_doc,
             "home_read_only(home) -> bool\n\nWhether the home is read-only: REMOTEZOO_READ_ONLY, "
             "a read-only mount, or no write permission (home.h, rz_home_read_only).");

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

PyMethodDef rz_py_sources_methods[] = {
    {"home_read_only", home_read_only, METH_VARARGS, home_read_only_doc},
    {"source_identity", source_identity, METH_VARARGS, source_identity_doc},
    {"register_source", register_source, METH_VARARGS, register_source_doc},
    {"delete_source", delete_source, METH_VARARGS, delete_source_doc},
    {"list_sources", list_sources, METH_VARARGS, list_sources_doc},
    {"module_spec", module_spec, METH_VARARGS, module_spec_doc},
    {NULL, NULL, 0, NULL},
};
