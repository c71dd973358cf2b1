/* module.c - remotezoo._core: module init (PEP 489 multi-phase), the module state (py/state.h),
 * the exception tree, and the functions of the glue files of csrc/py/core/. */
#include "py/state.h"

#include <stddef.h>
#include <string.h>

#include "py/core/py_cache.h"
#include "py/core/py_index.h"
#include "py/core/py_manifest.h"
#include "py/core/py_models.h"
#include "py/core/py_sources.h"
#include "py/core/py_spec.h"
#include "py/core/py_state.h"
#include "py/py_util.h"

/* One row of the exception tree: where it lives in the state, its name, its bases. */
typedef struct exception_spec {
    size_t offset;          /* offsetof(rz_state, X) */
    const char *name;       /* "remotezoo.X", or "remotezoo.SourceError.X" for a twin (below) */
    size_t base;            /* offsetof of the remotezoo base, or SIZE_MAX for RemoteZooError */
    PyObject *const *extra; /* a second base, read when the row is made: a builtin exception
                               (&PyExc_ValueError) or the slot of an earlier row; or NULL */
    const char *doc;
} exception_spec;

#define RZ_SLOT(field)      offsetof(rz_state, field)
#define RZ_SLOT_AT(st, off) (*(PyObject **)((char *)(st) + (off)))

/* Makes the type of row s, stores it in its slot (the state owns that reference) and exports
 * it: a top-level row as remotezoo._core.X; a twin as an attribute of the class it is nested
 * in (its extra base), with __module__ "remotezoo" and __qualname__ "SourceError.X", so that
 * tracebacks name it so and pickle finds it, as Django's Model.DoesNotExist. 0 or -1. */
static int add_exception(PyObject *module, rz_state *st, const exception_spec *s)
{
    const char *qualname = s->name + strlen("remotezoo.");
    const char *short_name = strrchr(s->name, '.') + 1;
    PyObject *bases = NULL, *type = NULL, *qual = NULL, *owner = NULL;
    int rc = -1;

    if (s->base == SIZE_MAX)
        bases = PyTuple_Pack(1, PyExc_Exception);
    else if (s->extra)
        bases = PyTuple_Pack(2, RZ_SLOT_AT(st, s->base), *s->extra);
    else
        bases = PyTuple_Pack(1, RZ_SLOT_AT(st, s->base));
    if (!bases)
        return -1;
    type = PyErr_NewExceptionWithDoc(s->name, s->doc, bases, NULL);
    Py_DECREF(bases);
    if (!type)
        return -1;
    RZ_SLOT_AT(st, s->offset) = type; /* the state owns this reference */
    if (short_name == qualname)
        return rz_module_add(module, short_name, type);
    assert(s->extra);
    qual = PyUnicode_FromString(qualname);
    owner = PyUnicode_FromString("remotezoo");
    if (qual && owner && PyObject_SetAttrString(type, "__qualname__", qual) == 0 &&
        PyObject_SetAttrString(type, "__module__", owner) == 0)
        rc = PyObject_SetAttrString(*s->extra, short_name, type);
    Py_XDECREF(qual);
    Py_XDECREF(owner);
    return rc;
}

static int add_exceptions(PyObject *module, rz_state *st)
{
    /* The builtin bases make the errors catchable as code written for FiftyOne, requests and
     * huggingface_hub catches them: a bad source or model is a ValueError (FiftyOne's), a
     * failed transfer an OSError and being offline a ConnectionError (requests'), an unmet
     * requirement an ImportError (eta's PackageError). The SourceError twins are raised
     * instead of their first base when a source cannot be fetched: FiftyOne raises ValueError
     * there, and remotezoo keeps the precise type. */
    const exception_spec specs[] = {
        {RZ_SLOT(RemoteZooError), "remotezoo.RemoteZooError", SIZE_MAX, NULL,
         "Base class of every error remotezoo raises."},
        {RZ_SLOT(SourceError), "remotezoo.SourceError", RZ_SLOT(RemoteZooError), &PyExc_ValueError,
         "A source spec is malformed, unknown, or does not hold a valid source."},
        {RZ_SLOT(ManifestError), "remotezoo.ManifestError", RZ_SLOT(RemoteZooError),
         &PyExc_ValueError, "A manifest.json is malformed; .field and .model say where."},
        {RZ_SLOT(ModelNotFoundError), "remotezoo.ModelNotFoundError", RZ_SLOT(RemoteZooError),
         &PyExc_ValueError, "No registered source has a model of that name."},
        {RZ_SLOT(DownloadError), "remotezoo.DownloadError", RZ_SLOT(RemoteZooError), &PyExc_OSError,
         "A transfer failed; .url (credentials removed) says which."},
        {RZ_SLOT(HTTPStatusError), "remotezoo.HTTPStatusError", RZ_SLOT(DownloadError), NULL,
         "The server answered with an error status (.http_status)."},
        {RZ_SLOT(RateLimitError), "remotezoo.RateLimitError", RZ_SLOT(HTTPStatusError), NULL,
         "The server (GitHub) refused because of its rate limit."},
        {RZ_SLOT(ChecksumError), "remotezoo.ChecksumError", RZ_SLOT(DownloadError), NULL,
         "Downloaded bytes do not match the declared sha256."},
        {RZ_SLOT(OfflineError), "remotezoo.OfflineError", RZ_SLOT(DownloadError),
         &PyExc_ConnectionError, "REMOTEZOO_OFFLINE is set and the call needs the network."},
        {RZ_SLOT(ArchiveError), "remotezoo.ArchiveError", RZ_SLOT(RemoteZooError), NULL,
         "An archive cannot be read or extracted."},
        {RZ_SLOT(UnsafeArchiveError), "remotezoo.UnsafeArchiveError", RZ_SLOT(ArchiveError), NULL,
         "An archive entry would escape the destination or is not a plain file, dir or link."},
        {RZ_SLOT(RequirementsError), "remotezoo.RequirementsError", RZ_SLOT(RemoteZooError),
         &PyExc_ImportError, "A model's package requirements are not met."},
        {RZ_SLOT(SourceDownloadError), "remotezoo.SourceError.DownloadError",
         RZ_SLOT(DownloadError), &st->SourceError,
         "A source could not be fetched: a DownloadError that is also a SourceError."},
        {RZ_SLOT(SourceHTTPStatusError), "remotezoo.SourceError.HTTPStatusError",
         RZ_SLOT(HTTPStatusError), &st->SourceError,
         "A source could not be fetched: an HTTPStatusError that is also a SourceError."},
        {RZ_SLOT(SourceRateLimitError), "remotezoo.SourceError.RateLimitError",
         RZ_SLOT(RateLimitError), &st->SourceError,
         "A source could not be fetched: a RateLimitError that is also a SourceError."},
        {RZ_SLOT(SourceOfflineError), "remotezoo.SourceError.OfflineError", RZ_SLOT(OfflineError),
         &st->SourceError,
         "A source could not be fetched: an OfflineError that is also a SourceError."},
        {RZ_SLOT(SourceArchiveError), "remotezoo.SourceError.ArchiveError", RZ_SLOT(ArchiveError),
         &st->SourceError,
         "A source could not be extracted: an ArchiveError that is also a SourceError."},
        {RZ_SLOT(SourceUnsafeArchiveError), "remotezoo.SourceError.UnsafeArchiveError",
         RZ_SLOT(UnsafeArchiveError), &st->SourceError,
         "A source's archive is unsafe: an UnsafeArchiveError that is also a SourceError."},
    };
    const char *attrs[] = {"url", "http_status", "path", "field", "model", "source"};
    size_t i;

    for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
        if (add_exception(module, st, &specs[i]) < 0)
            return -1;
    /* Class-level defaults, so every error has the attributes even when C did not set them. */
    for (i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++)
        if (PyObject_SetAttrString(st->RemoteZooError, attrs[i], Py_None) < 0)
            return -1;
    return 0;
}

static int module_exec(PyObject *module)
{
    rz_state *st = rz_get_state(module);
    PyMethodDef *tables[] = {rz_py_manifest_methods, rz_py_spec_methods, rz_py_sources_methods,
                             rz_py_models_methods,
                             rz_py_state_methods, rz_py_cache_methods};
    size_t i;

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
    Py_VISIT(st->SourceDownloadError);
    Py_VISIT(st->SourceHTTPStatusError);
    Py_VISIT(st->SourceRateLimitError);
    Py_VISIT(st->SourceOfflineError);
    Py_VISIT(st->SourceArchiveError);
    Py_VISIT(st->SourceUnsafeArchiveError);
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
    Py_CLEAR(st->SourceDownloadError);
    Py_CLEAR(st->SourceHTTPStatusError);
    Py_CLEAR(st->SourceRateLimitError);
    Py_CLEAR(st->SourceOfflineError);
    Py_CLEAR(st->SourceArchiveError);
    Py_CLEAR(st->SourceUnsafeArchiveError);
    return 0;
}

static void module_free(void *module)
{
    rz_state *st = PyModule_GetState((PyObject *)module);
    if (st)
        rz_py_index_clear(st);
    module_clear((PyObject *)module);
}

/* Filled by PyInit__core for the running CPython (py_util.h, rz_py_module_slots). */
static PyModuleDef_Slot module_slots[4];

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "remotezoo._core",
    .m_doc = "The C core of remotezoo: manifests, versions, source specs, the registry and the "
             "plugin calls; fetching and extraction are in remotezoo._net.",
    .m_size = sizeof(rz_state),
    .m_slots = module_slots,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyMODINIT_FUNC PyInit__core(void)
{
    rz_py_module_slots(module_slots, module_exec);
    return PyModuleDef_Init(&module_def);
}
