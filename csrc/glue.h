/* glue.h - what the Python-facing files (py_*.c, module.c) share. Only these files include
 * Python.h; the plain-C core (error, manifest, version, fetch, archive, ...) never does.
 *
 * Each py_<area>.c defines one NULL-terminated PyMethodDef array, rz_py_<area>_methods, that
 * module.c adds to remotezoo._core in its exec slot.
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
    struct rz_index *index; /* owned: the last registry.json read (py_registry.c), or NULL */
    char *index_home;       /* owned (malloc): the home index was read from */
    PyObject *all_names;    /* owned: tuple of every model's full name, sorted, ... */
    struct rz_index *all_names_index; /* ... of this index (a reference held), or NULL */
} rz_state;

/* The state of module (the functions' `self`). Borrowed; never NULL for remotezoo._core. */
rz_state *rz_get_state(PyObject *module);

/* Raise the Python exception for err (which must be set) and return NULL. RZ_E_CALLBACK means
 * a callback already left a Python exception pending: it is kept as it is. */
PyObject *rz_py_raise(PyObject *module, const rz_error *err);

/* The method tables of the glue files. */
extern PyMethodDef rz_py_manifest_methods[];
extern PyMethodDef rz_py_spec_methods[];
extern PyMethodDef rz_py_extract_methods[];
extern PyMethodDef rz_py_fetch_methods[];
extern PyMethodDef rz_py_registry_methods[];

/* Frees the cached index and name list of the state (py_registry.c); for module_free. */
void rz_py_registry_clear(rz_state *st);

#endif
