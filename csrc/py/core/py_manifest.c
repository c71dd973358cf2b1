/* py_manifest.c - Python glue for manifest.c and version.c. */
#include "py/core/py_manifest.h"

#include <math.h>

#include "core/manifest.h"
#include "core/version.h"
#include "py/py_error.h"
#include "py/py_util.h"

/* cJSON -> new Python object. Integral numbers up to 2^53 become int, others float. */
static PyObject *json_to_python(const cJSON *item)
{
    PyObject *out = NULL, *value = NULL;
    const cJSON *child;

    if (cJSON_IsNull(item))
        return Py_NewRef(Py_None);
    if (cJSON_IsTrue(item))
        return Py_NewRef(Py_True);
    if (cJSON_IsFalse(item))
        return Py_NewRef(Py_False);
    if (cJSON_IsNumber(item)) {
        double d = item->valuedouble;
        if (d == floor(d) && fabs(d) <= 9007199254740992.0)
            return PyLong_FromDouble(d);
        return PyFloat_FromDouble(d);
    }
    if (cJSON_IsString(item))
        return PyUnicode_FromString(item->valuestring);
    if (cJSON_IsArray(item)) {
        out = PyList_New(0);
        if (!out)
            return NULL;
        cJSON_ArrayForEach(child, item)
        {
            value = json_to_python(child);
            if (!value || PyList_Append(out, value) < 0)
                goto fail;
            Py_CLEAR(value);
        }
        return out;
    }
    assert(cJSON_IsObject(item));
    out = PyDict_New();
    if (!out)
        return NULL;
    cJSON_ArrayForEach(child, item)
    {
        value = json_to_python(child);
        if (!value || PyDict_SetItemString(out, child->string, value) < 0)
            goto fail;
        Py_CLEAR(value);
    }
    return out;
fail:
    Py_XDECREF(value);
    Py_DECREF(out);
    return NULL;
}

/* {"name": str|None, "url": str|None, "models": [{"name", "filename", "manifest"}, ...]}. */
static PyObject *manifest_to_python(const rz_manifest *m)
{
    PyObject *models = NULL, *entry = NULL, *fields = NULL, *out = NULL;
    size_t i;

    models = PyList_New((Py_ssize_t)m->n_models);
    if (!models)
        return NULL;
    for (i = 0; i < m->n_models; i++) {
        const rz_model *model = &m->models[i];
        fields = json_to_python(model->json);
        if (!fields)
            goto done;
        entry = Py_BuildValue("{s:s,s:z,s:O}", "name", model->name, "filename", model->filename,
                              "manifest", fields);
        Py_CLEAR(fields);
        if (!entry)
            goto done;
        PyList_SetItem(models, (Py_ssize_t)i, entry); /* steals entry */
        entry = NULL;
    }
    out = Py_BuildValue("{s:z,s:z,s:O}", "name", m->name, "url", m->url, "models", models);
done:
    Py_XDECREF(models);
    return out;
}

PyDoc_STRVAR(parse_manifest_doc,
             "parse_manifest(data, source) -> dict\n\n"
             "Validate manifest.json text (str or bytes); source names it in errors.");

static PyObject *parse_manifest(PyObject *module, PyObject *args)
{
    PyObject *text, *held;
    const char *source, *data = NULL;
    Py_ssize_t len = 0;
    rz_manifest *m = NULL;
    rz_error err;
    PyObject *out = NULL;

    if (!PyArg_ParseTuple(args, "Os:parse_manifest", &text, &source))
        return NULL;
    /* held owns data: the UTF-8 of a str, or the bytes of a bytes-like object */
    held = PyUnicode_Check(text) ? rz_py_utf8(text, &data, &len) : rz_py_bytes(text, &data, &len);
    if (!held)
        return NULL;
    rz_error_init(&err);
    if (rz_manifest_parse(&m, data, (size_t)len, source, &err) < 0)
        rz_py_raise(module, &err);
    else
        out = manifest_to_python(m);
    rz_manifest_free(m);
    Py_DECREF(held);
    return out;
}

PyDoc_STRVAR(load_manifest_doc,
             "load_manifest(path, source=None) -> dict\n\n"
             "Read and validate a manifest.json file; source names it in errors.");

static PyObject *load_manifest(PyObject *module, PyObject *args)
{
    PyObject *path_obj = NULL, *out = NULL;
    const char *source = NULL;
    rz_manifest *m = NULL;
    rz_error err;
    int rc;

    if (!PyArg_ParseTuple(args, "O&|z:load_manifest", PyUnicode_FSConverter, &path_obj, &source))
        return NULL;
    rz_error_init(&err);
    Py_BEGIN_ALLOW_THREADS
        rc = rz_manifest_load(&m, PyBytes_AsString(path_obj), source, &err);
    Py_END_ALLOW_THREADS
    if (rc < 0)
        rz_py_raise(module, &err);
    else
        out = manifest_to_python(m);
    rz_manifest_free(m);
    Py_DECREF(path_obj);
    return out;
}

PyDoc_STRVAR(version_compare_doc,
             "version_compare(a, b) -> int\n\n"
             "-1, 0 or 1 as version a is older than, equal to or newer than b (LooseVersion\n"
             "order; numbers before letters where LooseVersion fails; None is '0.0.0').");

static PyObject *version_compare(PyObject *module, PyObject *args)
{
    const char *a, *b;
    int diff;

    if (!PyArg_ParseTuple(args, "zz:version_compare", &a, &b))
        return NULL;
    diff = rz_version_compare(a, b);
    return PyLong_FromLong((diff > 0) - (diff < 0));
}

PyDoc_STRVAR(model_names_doc,
             "model_names(base_name, version, base_filename) -> (name, filename)\n\n"
             "The full model name and the version-aware filename (None without base_filename).");

static PyObject *model_names(PyObject *module, PyObject *args)
{
    const char *base_name, *version, *base_filename;
    char *name = NULL, *filename = NULL;
    PyObject *out = NULL;

    if (!PyArg_ParseTuple(args, "szz:model_names", &base_name, &version, &base_filename))
        return NULL;
    name = rz_model_full_name(base_name, version);
    filename = base_filename ? rz_model_filename(base_filename, version) : NULL;
    if (!name || (base_filename && !filename))
        PyErr_NoMemory();
    else
        out = Py_BuildValue("(sz)", name, filename);
    free(name);
    free(filename);
    return out;
}

PyMethodDef rz_py_manifest_methods[] = {
    {"parse_manifest", parse_manifest, METH_VARARGS, parse_manifest_doc},
    {"load_manifest", load_manifest, METH_VARARGS, load_manifest_doc},
    {"version_compare", version_compare, METH_VARARGS, version_compare_doc},
    {"model_names", model_names, METH_VARARGS, model_names_doc},
    {NULL, NULL, 0, NULL},
};
