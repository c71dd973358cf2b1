/* py_progress.h - the one bridge between blocking C work and Python, shared by every glue
 * function that runs a transfer or an extraction: it releases the GIL for the work, and from
 * the work's callbacks (called without the GIL) re-takes it at most a few times a second to run
 * Python signal handlers (Ctrl-C) and, for transfers, the user's progress(done, total).
 * A pending exception makes the callback return nonzero, which stops the work with
 * RZ_E_CALLBACK; rz_py_raise then keeps the pending exception. */
#ifndef RZ_PY_PROGRESS_H
#define RZ_PY_PROGRESS_H

#include <stdint.h>

#include "net/fetch.h"
#include "py/state.h"

typedef struct rz_py_progress {
    PyObject *callback;         /* borrowed: a callable or None */
    PyThreadState *saved;       /* while the GIL is released */
    int64_t signal_interval_ms; /* between two looks for signals; begin sets 100 */
    int64_t last_signals_ms;    /* util/clock.h time of the last signal check */
    int64_t last_report_ms;     /* ... and of the last call of callback */
    int64_t last_done;
    int64_t last_total;
    int64_t reported_done; /* done as the callback last saw it */
    int stopped;           /* an exception is pending */
} rz_py_progress;

/* Fill opts (everything zero but the progress hook; NULL when the work is no transfer) and
 * release the GIL. Between begin and end the caller touches no Python object, except between
 * PyEval_RestoreThread(p->saved) and p->saved = PyEval_SaveThread(). */
void rz_py_progress_begin(rz_py_progress *p, rz_fetch_opts *opts, PyObject *callback);

/* A point where Ctrl-C may stop blocking work that reports no numbers (extraction). Called
 * without the GIL; takes it at most every signal_interval_ms. Nonzero: stop. */
int rz_py_progress_check(void *p);

/* Re-take the GIL; report the final numbers once. Returns -1 if a Python exception is pending
 * (raised by the callback or a signal handler), else 0. */
int rz_py_progress_end(rz_py_progress *p);

#endif
