/* module.c - remotezoo._core: module init (PEP 489 multi-phase), module state, the exception
 * tree, and the one function that turns an rz_error into a Python exception. */
#include "glue.h"

#include <archive.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stddef.h>

rz_state *rz_get_state(PyObject *module)
{
    void *state = PyModule_GetState(module);
    assert(state != NULL);
    return (rz_state *)state;
}

/* Sets exc.<name> = value (a new str, or None when value is empty). 0 or -1. */
static int set_str_attr(PyObject *exc, const char *name, const char *value)
{
    PyObject *obj =
        value[0] ? PyUnicode_DecodeUTF8(value, strlen(value), "replace") : Py_NewRef(Py_None);
    int rc;

    if (!obj)
        return -1;
    rc = PyObject_SetAttrString(exc, name, obj);
    Py_DECREF(obj);
    return rc;
}

static PyObject *exception_type(rz_state *st, rz_errkind kind)
{
    switch (kind) {
    case RZ_E_SOURCE:
        return st->SourceError;
    case RZ_E_MANIFEST:
        return st->ManifestError;
    case RZ_E_MODEL_NOT_FOUND:
        return st->ModelNotFoundError;
    case RZ_E_DOWNLOAD:
        return st->DownloadError;
    case RZ_E_HTTP_STATUS:
        return st->HTTPStatusError;
    case RZ_E_RATE_LIMIT:
        return st->RateLimitError;
    case RZ_E_CHECKSUM:
        return st->ChecksumError;
    case RZ_E_OFFLINE:
        return st->OfflineError;
    case RZ_E_ARCHIVE:
        return st->ArchiveError;
    case RZ_E_UNSAFE_ARCHIVE:
        return st->UnsafeArchiveError;
    case RZ_E_REQUIREMENTS:
        return st->RequirementsError;
    default:
        return st->RemoteZooError;
    }
}

PyObject *rz_py_raise(PyObject *module, const rz_error *err)
{
    rz_state *st = rz_get_state(module);
    PyObject *exc = NULL;

    assert(err->kind != RZ_E_NONE);
    switch (err->kind) {
    case RZ_E_CALLBACK:
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_KeyboardInterrupt, err->message);
        return NULL;
    case RZ_E_NOMEM:
        return PyErr_NoMemory();
    case RZ_E_INVALID:
        PyErr_SetString(PyExc_ValueError, err->message);
        return NULL;
    case RZ_E_OS:
        /* OSError(errno, message, filename): picks FileNotFoundError etc. by errno. */
        exc = PyObject_CallFunction(PyExc_OSError, "isz", err->sys_errno, err->message,
                                    err->path[0] ? err->path : NULL);
        if (exc) {
            PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
            Py_DECREF(exc);
        }
        return NULL;
    default:
        break;
    }
    exc = PyObject_CallFunction(exception_type(st, err->kind), "s", err->message);
    if (!exc)
        return NULL;
    if (set_str_attr(exc, "url", err->url) < 0 || set_str_attr(exc, "path", err->path) < 0 ||
        set_str_attr(exc, "field", err->field) < 0 || set_str_attr(exc, "model", err->model) < 0 ||
        set_str_attr(exc, "source", err->source) < 0)
        goto done;
    if (err->http_status) {
        PyObject *status = PyLong_FromLong(err->http_status);
        if (!status || PyObject_SetAttrString(exc, "http_status", status) < 0) {
            Py_XDECREF(status);
            goto done;
        }
        Py_DECREF(status);
    }
    PyErr_SetObject(exception_type(st, err->kind), exc);
done:
    Py_DECREF(exc);
    return NULL;
}

PyDoc_STRVAR(library_versions_doc,
             "library_versions() -> dict\n\n"
             "The runtime versions of the C libraries remotezoo is linked with:\n"
             "{'libcurl': ..., 'libarchive': ..., 'cjson': ...}.");

static PyObject *library_versions(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    const curl_version_info_data *curl = curl_version_info(CURLVERSION_NOW);
    return Py_BuildValue("{s:s,s:s,s:s}", "libcurl", curl->version, "libarchive",
                         archive_version_string(), "cjson", cJSON_Version());
}

static PyMethodDef module_methods[] = {
    {"library_versions", library_versions, METH_NOARGS, library_versions_doc},
    {NULL, NULL, 0, NULL},
};

/* One row of the exception tree: where it lives in the state, its name, its bases. */
typedef struct exception_spec {
    size_t offset;     /* offsetof(rz_state, X) */
    const char *name;  /* "remotezoo.X" */
    size_t base;       /* offsetof of the remotezoo base, or SIZE_MAX for RemoteZooError */
    PyObject *builtin; /* an extra builtin base (ValueError) or NULL */
    const char *doc;
} exception_spec;

#define RZ_SLOT(field)      offsetof(rz_state, field)
#define RZ_SLOT_AT(st, off) (*(PyObject **)((char *)(st) + (off)))

static int add_exceptions(PyObject *module, rz_state *st)
{
    const exception_spec specs[] = {
        {RZ_SLOT(RemoteZooError), "remotezoo.RemoteZooError", SIZE_MAX, NULL,
         "Base class of every error remotezoo raises."},
        {RZ_SLOT(SourceError), "remotezoo.SourceError", RZ_SLOT(RemoteZooError), PyExc_ValueError,
         "A source spec is malformed, unknown, or does not hold a valid source."},
        {RZ_SLOT(ManifestError), "remotezoo.ManifestError", RZ_SLOT(RemoteZooError),
         PyExc_ValueError, "A manifest.json is malformed; .field and .model say where."},
        {RZ_SLOT(ModelNotFoundError), "remotezoo.ModelNotFoundError", RZ_SLOT(RemoteZooError),
         PyExc_ValueError, "No registered source has a model of that name."},
        {RZ_SLOT(DownloadError), "remotezoo.DownloadError", RZ_SLOT(RemoteZooError), NULL,
         "A transfer failed; .url (credentials removed) says which."},
        {RZ_SLOT(HTTPStatusError), "remotezoo.HTTPStatusError", RZ_SLOT(DownloadError), NULL,
         "The server answered with an error status (.http_status)."},
        {RZ_SLOT(RateLimitError), "remotezoo.RateLimitError", RZ_SLOT(HTTPStatusError), NULL,
         "The server (GitHub) refused because of its rate limit."},
        {RZ_SLOT(ChecksumError), "remotezoo.ChecksumError", RZ_SLOT(DownloadError), NULL,
         "Downloaded bytes do not match the declared sha256."},
        {RZ_SLOT(OfflineError), "remotezoo.OfflineError", RZ_SLOT(DownloadError), NULL,
         "REMOTEZOO_OFFLINE is set and the call needs the network."},
        {RZ_SLOT(ArchiveError), "remotezoo.ArchiveError", RZ_SLOT(RemoteZooError), NULL,
         "An archive cannot be read or extracted."},
        {RZ_SLOT(UnsafeArchiveError), "remotezoo.UnsafeArchiveError", RZ_SLOT(ArchiveError), NULL,
         "An archive entry would escape the destination or is not a plain file, dir or link."},
        {RZ_SLOT(RequirementsError), "remotezoo.RequirementsError", RZ_SLOT(RemoteZooError), NULL,
         "A model's package requirements are not met."},
    };
    size_t i;

    for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        const exception_spec *s = &specs[i];
        PyObject *bases = NULL, *type = NULL;
        const char *short_name = strrchr(s->name, '.') + 1;
        int rc;

        if (s->base == SIZE_MAX)
            bases = PyTuple_Pack(1, PyExc_Exception);
        else if (s->builtin)
            bases = PyTuple_Pack(2, RZ_SLOT_AT(st, s->base), s->builtin);
        else
            bases = PyTuple_Pack(1, RZ_SLOT_AT(st, s->base));
        if (!bases)
            return -1;
        type = PyErr_NewExceptionWithDoc(s->name, s->doc, bases, NULL);
        Py_DECREF(bases);
        if (!type)
            return -1;
        RZ_SLOT_AT(st, s->offset) = type; /* the state owns this reference */
        rc = PyModule_AddObjectRef(module, short_name, type);
        if (rc < 0)
            return -1;
    }
    /* Class-level defaults, so every error has the attributes even when C did not set them. */
    {
        const char *attrs[] = {"url", "http_status", "path", "field", "model", "source"};
        for (i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++)
            if (PyObject_SetAttrString(st->RemoteZooError, attrs[i], Py_None) < 0)
                return -1;
    }
    return 0;
}

static int module_exec(PyObject *module)
{
    rz_state *st = rz_get_state(module);
    PyMethodDef *tables[] = {rz_py_manifest_methods, rz_py_fetch_methods, rz_py_extract_methods,
                             rz_py_spec_methods, rz_py_registry_methods};
    size_t i;

    /* Not thread-safe by libcurl's contract; exec runs with the GIL held and curl reference
     * counts the calls, so one per module instance is right. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        PyErr_SetString(PyExc_ImportError, "remotezoo: curl_global_init failed");
        return -1;
    }
    if (add_exceptions(module, st) < 0)
        return -1;
    for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
        if (PyModule_AddFunctions(module, tables[i]) < 0)
            return -1;
    return 0;
}

static int module_traverse(PyObject *module, visitproc visit, void *arg)
{
    rz_state *st = PyModule_GetState(module);
    if (!st)
        return 0;
    Py_VISIT(st->RemoteZooError);
    Py_VISIT(st->SourceError);
    Py_VISIT(st->ManifestError);
    Py_VISIT(st->ModelNotFoundError);
    Py_VISIT(st->DownloadError);
    Py_VISIT(st->HTTPStatusError);
    Py_VISIT(st->RateLimitError);
    Py_VISIT(st->ChecksumError);
    Py_VISIT(st->OfflineError);
    Py_VISIT(st->ArchiveError);
    Py_VISIT(st->UnsafeArchiveError);
    Py_VISIT(st->RequirementsError);
    Py_VISIT(st->all_names);
    return 0;
}

static int module_clear(PyObject *module)
{
    rz_state *st = PyModule_GetState(module);
    if (!st)
        return 0;
    Py_CLEAR(st->RemoteZooError);
    Py_CLEAR(st->SourceError);
    Py_CLEAR(st->ManifestError);
    Py_CLEAR(st->ModelNotFoundError);
    Py_CLEAR(st->DownloadError);
    Py_CLEAR(st->HTTPStatusError);
    Py_CLEAR(st->RateLimitError);
    Py_CLEAR(st->ChecksumError);
    Py_CLEAR(st->OfflineError);
    Py_CLEAR(st->ArchiveError);
    Py_CLEAR(st->UnsafeArchiveError);
    Py_CLEAR(st->RequirementsError);
    return 0;
}

static void module_free(void *module)
{
    rz_state *st = PyModule_GetState((PyObject *)module);
    if (st)
        rz_py_registry_clear(st);
    module_clear((PyObject *)module);
    curl_global_cleanup();
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
    {0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "remotezoo._core",
    .m_doc =
        "The C core of remotezoo: fetching, extraction, manifests, versions, registry, plugins.",
    .m_size = sizeof(rz_state),
    .m_methods = module_methods,
    .m_slots = module_slots,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyMODINIT_FUNC PyInit__core(void)
{
    return PyModuleDef_Init(&module_def);
}
