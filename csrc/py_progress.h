/* py_progress.h - the bridge from the C core's progress callback to Python, shared by every
 * glue function that runs a transfer: it releases the GIL for the transfer, and from the
 * callback (called by libcurl's transfer loop, without the GIL) re-takes it at most a few
 * times a second to run Python signal handlers (Ctrl-C) and the user's progress(done, total).
 * A pending exception makes the callback return nonzero, which stops the transfer with
 * RZ_E_CALLBACK; rz_py_raise then keeps the pending exception. */
#ifndef RZ_PY_PROGRESS_H
#define RZ_PY_PROGRESS_H

#include "fetch.h"
#include "glue.h"

typedef struct rz_py_progress {
    PyObject *callback;   /* borrowed: a callable or None */
    PyThreadState *saved; /* while the GIL is released */
    double last_signals;  /* monotonic seconds of the last signal check */
    double last_report;   /* ... and of the last call of callback */
    int64_t last_done;
    int64_t last_total;
    int64_t reported_done; /* done as the callback last saw it */
    int stopped;           /* an exception is pending */
} rz_py_progress;

/* Fill opts (everything zero but the progress hook) and release the GIL. Between begin and end
 * the caller touches no Python object. */
void rz_py_progress_begin(rz_py_progress *p, rz_fetch_opts *opts, PyObject *callback);

/* Re-take the GIL; report the final numbers once. Returns -1 if a Python exception is pending
 * (raised by the callback or a signal handler), else 0. */
int rz_py_progress_end(rz_py_progress *p);

#endif
