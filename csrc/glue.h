/* glue.h - what the Python-facing files (py_*.c, module.c, net_module.c) share. Only these
 * files include Python.h; the plain-C core (error, manifest, version, fetch, archive, ...)
 * never does.
 *
 * Each py_<area>.c defines one NULL-terminated PyMethodDef array, rz_py_<area>_methods, that
 * module.c adds to remotezoo._core (manifest, spec, registry) or net_module.c to
 * remotezoo._net (fetch, extract) in its exec slot. Errors are raised with _core's exception
 * types from both modules: rz_py_raise takes the _core module.
 */
#ifndef RZ_GLUE_H
#define RZ_GLUE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "error.h"

/* Per-module state (PEP 489): the exception types, one per rz_errkind that has its own. */
typedef struct rz_state {
    PyObject *RemoteZooError;
    PyObject *SourceError;
    PyObject *ManifestError;
    PyObject *ModelNotFoundError;
    PyObject *DownloadError;
    PyObject *HTTPStatusError;
    PyObject *RateLimitError;
    PyObject *ChecksumError;
    PyObject *OfflineError;
    PyObject *ArchiveError;
    PyObject *UnsafeArchiveError;
    PyObject *RequirementsError;
    /* SourceError.X: the twins raised when a source cannot be fetched (rz_py_raise_source) */
    PyObject *SourceDownloadError;
    PyObject *SourceHTTPStatusError;
    PyObject *SourceRateLimitError;
    PyObject *SourceOfflineError;
    PyObject *SourceArchiveError;
    PyObject *SourceUnsafeArchiveError;
    struct rz_index *index;       /* owned: the last registry.json read (py_registry.c), or NULL */
    char *index_home;             /* owned (malloc): the home index was read from */
    struct rz_names *names;       /* owned (PyMem): the last valid registry.names read, or NULL */
    PyObject *all_names;          /* owned: its names as a tuple, or NULL */
    const struct rz_net_api *net; /* remotezoo._net's engines once imported, or NULL */
} rz_state;

/* The state of module (the functions' `self`). Borrowed; never NULL for remotezoo._core. */
rz_state *rz_get_state(PyObject *module);

/* The engines of remotezoo._net (net.h), importing it on the first call; NULL with an
 * exception set if it cannot be imported. Needs the GIL. */
const struct rz_net_api *rz_net(PyObject *module);

/* Raise the Python exception for err (which must be set) and return NULL. module is
 * remotezoo._core (from _net: rz_net_core). RZ_E_CALLBACK means
 * a callback already left a Python exception pending: it is kept as it is. */
PyObject *rz_py_raise(PyObject *module, const rz_error *err);

/* As rz_py_raise, for a source that could not be fetched or extracted (registration): a
 * DownloadError or ArchiveError (or a subclass) is raised as its SourceError twin, which is
 * both, so `except ValueError` catches it as it catches FiftyOne's error there. */
PyObject *rz_py_raise_source(PyObject *module, const rz_error *err);

/* A tuple of seq's items that the caller owns, to borrow from while code that can run Python
 * (a callback, a finalizer run by any allocation) might change seq. A list is copied without
 * PySequence_Tuple, whose copy reads the list's items after allocating the tuple, i.e. after
 * a finalizer may have freed them. New reference, or NULL with an exception. */
PyObject *rz_py_tuple_copy(PyObject *seq);

/* The method tables of the glue files: remotezoo._core's ... */
extern PyMethodDef rz_py_manifest_methods[];
extern PyMethodDef rz_py_spec_methods[];
extern PyMethodDef rz_py_registry_methods[];
extern PyMethodDef rz_py_state_methods[];
extern PyMethodDef rz_py_cache_methods[];
/* ... and remotezoo._net's. */
extern PyMethodDef rz_py_extract_methods[];
extern PyMethodDef rz_py_fetch_methods[];
extern PyMethodDef rz_py_bundle_methods[];

/* The remotezoo._core module that remotezoo._net (module) raises errors with. Borrowed. */
PyObject *rz_net_core(PyObject *module);

/* Frees the cached index and names of the state (py_registry.c); for module_free. */
void rz_py_registry_clear(rz_state *st);

#endif
