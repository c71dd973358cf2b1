/* py_progress.c - see py_progress.h. */
#include "py/py_progress.h"

#include <string.h>

#include "util/clock.h"

#define SIGNAL_INTERVAL_MS 100 /* Ctrl-C is seen within this much of a second */
#define REPORT_INTERVAL_MS 250 /* the user's callback runs at most 4 times a second */

/* With the GIL held: call the user's callback. -1 if it raised. */
static int report(rz_py_progress *p)
{
    PyObject *res;

    if (p->callback == Py_None || p->last_done < 0 || p->last_done == p->reported_done)
        return 0;
    p->reported_done = p->last_done;
    if (p->last_total >= 0)
        res = PyObject_CallFunction(p->callback, "LL", (long long)p->last_done,
                                    (long long)p->last_total);
    else
        res = PyObject_CallFunction(p->callback, "LO", (long long)p->last_done, Py_None);
    Py_XDECREF(res);
    return res ? 0 : -1;
}

static int on_progress(int64_t done, int64_t total, void *payload)
{
    rz_py_progress *p = payload;
    int64_t now = rz_now_ms();
    /* The final numbers are reported at once: fetch.c reports them before it renames the
     * file into place, so an exception there still leaves the target as it was. */
    int final = total >= 0 && done == total && done != p->reported_done;
    int due_report =
        p->callback != Py_None && (final || now - p->last_report_ms >= REPORT_INTERVAL_MS);

    if (done >= 0) { /* not a lock wait's check (-1): its numbers are the final report's */
        p->last_done = done;
        p->last_total = total;
    }
    if (p->stopped)
        return 1;
    if (!due_report && now - p->last_signals_ms < p->signal_interval_ms)
        return 0;
    PyEval_RestoreThread(p->saved);
    p->last_signals_ms = now;
    if (PyErr_CheckSignals() < 0)
        p->stopped = 1;
    else if (due_report) {
        p->last_report_ms = now;
        if (report(p) < 0)
            p->stopped = 1;
    }
    p->saved = PyEval_SaveThread();
    return p->stopped;
}

int rz_py_progress_check(void *p)
{
    return on_progress(-1, -1, p);
}

void rz_py_progress_begin(rz_py_progress *p, rz_fetch_opts *opts, PyObject *callback)
{
    memset(p, 0, sizeof(*p));
    p->callback = callback ? callback : Py_None;
    p->signal_interval_ms = SIGNAL_INTERVAL_MS;
    p->last_done = -1;
    p->last_total = -1;
    p->reported_done = -1;
    p->last_signals_ms = p->last_report_ms = rz_now_ms();
    if (opts) {
        memset(opts, 0, sizeof(*opts));
        opts->progress = on_progress;
        opts->payload = p;
    }
    p->saved = PyEval_SaveThread();
}

int rz_py_progress_end(rz_py_progress *p)
{
    PyEval_RestoreThread(p->saved);
    p->saved = NULL;
    if (p->stopped)
        return -1;
    if (report(p) < 0 || PyErr_CheckSignals() < 0)
        return -1;
    return 0;
}
