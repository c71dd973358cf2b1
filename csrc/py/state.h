/* state.h - remotezoo._core's module state (PEP 489), reached through a static inline accessor
 * as CPython's zlib and _sqlite modules do, so that no glue file needs another glue file to find
 * it. A leaf header: Python.h, compat.h and forward declarations only.
 *
 * Every glue file (csrc/py/) includes Python.h through this header, so PY_SSIZE_T_CLEAN, the
 * limited API (setup.py) and its few shims (compat.h) hold for all of them. remotezoo._net and
 * remotezoo._digest reach _core's state through the _core module they hold (py/engine_state.h) to
 * raise its exception types.
 */
#ifndef RZ_STATE_H
#define RZ_STATE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "py/compat.h"

struct rz_index;
struct rz_names;
struct rz_net_api;

/* The exception types, one per rz_errkind that has its own, and the caches of py_index.c. */
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
    struct rz_index *index;       /* owned: the last registry.json read (py_index.c), or NULL */
    char *index_home;             /* owned (malloc): the home index was read from */
    struct rz_names *names;       /* owned (PyMem): the last valid registry.names read, or NULL */
    char *names_home;             /* owned (malloc): the registry.names path names was read from */
    PyObject *all_names;          /* owned: its names as a tuple, or NULL */
    const struct rz_net_api *net; /* remotezoo._net's engines once imported, or NULL */
} rz_state;

/* The state of remotezoo._core (the functions' `self`). Borrowed; never NULL. */
static inline rz_state *rz_get_state(PyObject *core)
{
    void *state = PyModule_GetState(core);
    assert(state != NULL);
    return (rz_state *)state;
}

#endif
