/* py_error.h - rz_error to Python exception: the one place the C core's errors become the
 * exception tree of remotezoo._core (module.c makes it). Compiled into both extensions
 * (remotezoo._net raises _core's types too).
 *
 * The one rule of raising at the boundary: a glue function that ran engine work returns
 * rz_py_raise(core, &err) when the engine returned -1 or a Python exception is pending (a
 * callback, a signal handler, a progress bridge's end left one), and nothing else raises:
 *
 *     rc = engine(..., &err);               // the GIL released around it (py_progress.h)
 *     if (rz_py_progress_end(&prog) < 0 || rc < 0)
 *         return rz_py_raise(core, &err);
 *
 * A pending exception is always what the caller gets: it is never replaced by err.
 */
#ifndef RZ_PY_ERROR_H
#define RZ_PY_ERROR_H

#include "py/state.h"
#include "util/error.h"

/* Raise the Python exception for err and return NULL. core is remotezoo._core (from _net or
 * _digest: rz_engine_core). When a Python exception is pending (RZ_E_CALLBACK says a callback left
 * one, or a signal handler ran after the engine failed), it is kept as it is and err is dropped;
 * else err must be set. */
PyObject *rz_py_raise(PyObject *core, const rz_error *err);

/* As rz_py_raise, for a source that could not be fetched or extracted (registration): a
 * DownloadError or ArchiveError (or a subclass) is raised as its SourceError twin, which is
 * both, so `except ValueError` catches it as it catches FiftyOne's error there. */
PyObject *rz_py_raise_source(PyObject *core, const rz_error *err);

#endif
