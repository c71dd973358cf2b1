/* py_sources.c - sources at the module boundary (core/source.h does the work).
 *
 * Every function takes the home directory (the Python face computes it from REMOTEZOO_HOME) so
 * that the C core holds no environment-derived globals. */
#include "py/core/py_sources.h"

#include <stdlib.h>
#include <string.h>

#include "core/home.h"
#include "core/json.h"
#include "core/model.h"
#include "core/source.h"
#include "py/core/py_index.h"
#include "py/core/py_integrity.h"
#include "py/core/py_plugin.h"
#include "py/py_error.h"
#include "py/py_util.h"

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

PyDoc_STRVAR(
    register_source_doc,
    "register_source(home, spec, overwrite, progress, pin=None) -> str\n\nRegister a "
    "source; returns its identity. pin: {'at_sha', 'expect_sha', 'expect_archive_sha256',\n"
    "'expect_tree_sha256', 'tree_from'} (core/source.h's rz_source_pin), what a lock\n"
    "file or a bundle asks for.");

/* The rz_source_pin of the dict arg (None: nothing asked) into out: its strings borrowed from
 * *out_held, a new list of their UTF-8 bytes the caller drops after the registration (the
 * caller's dict may change while the GIL is released). 0, or -1 with an exception. */
static int parse_pin(rz_source_pin *out, PyObject **out_held, PyObject *arg)
{
    static const char *const keys[] = {"at_sha", "expect_sha", "expect_archive_sha256",
                                       "expect_tree_sha256", "tree_from"};
    const char **fields[] = {&out->at_sha, &out->expect_sha, &out->archive_sha256,
                             &out->tree_sha256, &out->tree_from};

    memset(out, 0, sizeof(*out));
    *out_held = NULL;
    if (arg == Py_None)
        return 0;
    if (!PyDict_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "pin must be a dict or None");
        return -1;
    }
    if (!(*out_held = PyList_New(0)))
        return -1;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        PyObject *value = PyDict_GetItemString(arg, keys[i]); /* borrowed from arg */
        PyObject *utf8;
        int rc;
        if (!value || value == Py_None)
            continue;
        Py_INCREF(value); /* ours while rz_py_utf8 allocates (which can run a finalizer) */
        utf8 = rz_py_utf8(value, fields[i], NULL);
        Py_DECREF(value);
        rc = utf8 ? PyList_Append(*out_held, utf8) : -1;
        Py_XDECREF(utf8); /* the list holds it */
        if (rc < 0) {
            Py_CLEAR(*out_held);
            return -1;
        }
    }
    return 0;
}

static PyObject *register_source(PyObject *module, PyObject *args)
{
    const char *root, *text;
    int overwrite, rc = -1;
    PyObject *progress, *pin_arg = Py_None, *pin_held = NULL;
    const rz_net_api *net = NULL;
    rz_source_pin pin;
    rz_py_progress prog;
    rz_fetch_opts opts;
    rz_home home = RZ_HOME_INIT;
    rz_spec spec = {0};
    rz_error err;
    PyObject *out = NULL;

    if (!PyArg_ParseTuple(args, "sspO|O:register_source", &root, &text, &overwrite, &progress,
                          &pin_arg) ||
        parse_pin(&pin, &pin_held, pin_arg) < 0)
        return NULL;
    rz_error_init(&err);
    if (rz_py_parse_spec(&spec, text, &err) < 0 || rz_py_open_home(&home, root, &err) < 0)
        goto done;
    if (spec.kind != RZ_SPEC_LOCAL && !(net = rz_py_net(module)))
        goto done;
    rz_py_blocking_begin(&prog, &home, &opts, progress); /* lock waits stop for Ctrl-C too */
    rc = rz_source_register(&home, net, &spec, text, overwrite, &pin, &opts, &err);
    if (rz_py_blocking_end(&prog, &home) < 0)
        rc = -1;
    if (rc == 0)
        out = PyUnicode_FromString(spec.identity);
done:
    if (rc < 0)
        rz_py_raise_source(module, &err);
    rz_spec_clear(&spec);
    rz_home_clear(&home);
    Py_XDECREF(pin_held);
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
        rz_py_blocking_begin(&prog, &home, NULL, NULL);
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
                               "sorted by identity; 'content' is what trust in each is keyed to.");

static PyObject *list_sources(PyObject *module, PyObject *args)
{
    static const char *const keys[] = {"identity",    "spec",          "kind",
                                       "ref",         "sha",           "archive_sha256",
                                       "tree_sha256", "registered_at", "content"};
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
    if (!idx) {
        rz_home_clear(&home);
        return rz_py_raise(module, &err);
    }
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
            const char *value = strcmp(keys[i], "content") == 0 ? rz_source_content(source)
                                                                : rz_json_str(source, keys[i]);
            PyObject *v = value ? PyUnicode_FromString(value) : Py_NewRef(Py_None);
            if (!v || PyDict_SetItemString(entry, keys[i], v) < 0) {
                Py_XDECREF(v);
                goto fail;
            }
            Py_DECREF(v);
        }
        { /* where its tree is on disk (cache tools, bundles) */
            char *tree = rz_source_tree_path(&home, source, &err);
            PyObject *v = tree ? PyUnicode_DecodeFSDefault(tree) : NULL;
            int rc = v ? PyDict_SetItemString(entry, "tree", v) : -1;
            free(tree);
            Py_XDECREF(v);
            if (rc < 0) {
                if (!PyErr_Occurred())
                    rz_py_raise(module, &err);
                goto fail;
            }
        }
        if (PyList_Append(out, entry) < 0)
            goto fail;
        Py_CLEAR(entry);
    }
    rz_index_free(idx);
    rz_home_clear(&home);
    return out;
fail:
    rz_index_free(idx);
    rz_home_clear(&home);
    Py_XDECREF(entry);
    Py_XDECREF(out);
    return NULL;
}

PyDoc_STRVAR(module_spec_doc,
             "module_spec(home, module_name, trust=None) -> ModuleSpec | None\n\nThe import spec "
             "of a registered source's package (for the finder of remotezoo._sources), once the "
             "trust gate let its code run.");

static PyObject *module_spec(PyObject *module, PyObject *args)
{
    const char *root, *module_name;
    const cJSON *source, *manifest;
    PyObject *spec = NULL, *gate = Py_None;
    rz_index *idx = NULL;
    rz_home home = RZ_HOME_INIT;
    rz_error err;

    if (!PyArg_ParseTuple(args, "ss|O:module_spec", &root, &module_name, &gate))
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
            if (ref.model && rz_model_info_fill(&info, &home, &ref, &err) == 0) {
                /* the spec names the generation's own directory: its content is what is
                 * checked */
                if (rz_py_gate(gate, info.identity, info.kind, info.content, info.tree,
                               info.source_dir,
                               "import of its package (an object of it unpickled)") == 0)
                    spec = rz_plugin_spec(module, module_name, info.source_dir, info.generation,
                                          info.identity);
            } else {
                spec = Py_NewRef(Py_None);
            }
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
