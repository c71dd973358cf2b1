/* py_extract.c - Python glue for extract.c: extract_archive and, for tests, _extract_from_chunks.
 *
 * The extraction runs with the GIL released, through py_progress.h's bridge: its check callback
 * re-takes the GIL at most every check_interval seconds (default 0.1) to run signal handlers,
 * so Ctrl-C stops a long extraction (which then removes what it wrote) with KeyboardInterrupt.
 */
#include "py/net/py_extract.h"

#include "net/extract.h"
#include "py/engine_state.h"
#include "py/py_error.h"
#include "py/py_progress.h"
#include "py/py_util.h"

#define DEFAULT_CHECK_INTERVAL 0.1 /* seconds between two looks for signals */

/* Shared by the callbacks of one extraction. */
typedef struct glue_ctx {
    rz_py_progress bridge; /* the GIL and Ctrl-C, as for transfers */
    double interval;       /* the caller's check_interval */
    PyObject *iter;        /* _extract_from_chunks: the chunks iterator (borrowed) */
    PyObject *current;     /* the bytes of the chunk being read (owned), or NULL */
} glue_ctx;

/* Release the GIL for the extraction; Ctrl-C is looked for every g->interval seconds. */
static void begin(glue_ctx *g)
{
    rz_py_progress_begin(&g->bridge, NULL, NULL);
    g->bridge.signal_interval_ms = (int64_t)(g->interval * 1000);
}

/* Drop the current chunk. Needs the GIL. */
static void release_chunk(glue_ctx *g)
{
    Py_CLEAR(g->current);
}

/* rz_read_fn over a Python iterator of bytes-like objects; empty chunks are skipped. */
static int read_chunk(const void **out_data, size_t *out_len, rz_error *err, void *payload)
{
    glue_ctx *g = payload;
    PyObject *item = NULL;
    int rc = 0;

    *out_data = NULL;
    *out_len = 0;
    PyEval_RestoreThread(g->bridge.saved);
    release_chunk(g);
    for (;;) {
        const char *data = NULL;
        Py_ssize_t len = 0;
        item = PyIter_Next(g->iter);
        if (!item) {
            if (PyErr_Occurred())
                rc = rz_error_set(err, RZ_E_CALLBACK, "reading the archive's chunks failed");
            break;
        }
        g->current = rz_py_bytes(item, &data, &len); /* owned until the next call */
        Py_DECREF(item);
        if (!g->current) {
            rc = rz_error_set(err, RZ_E_CALLBACK, "a chunk is not bytes-like");
            break;
        }
        if (len == 0) {
            Py_CLEAR(g->current);
            continue;
        }
        *out_data = data;
        *out_len = (size_t)len;
        break;
    }
    g->bridge.saved = PyEval_SaveThread();
    return rc;
}

/* None -> keep *out; else a non-negative int. 0 or -1 with an exception (TypeError for what is
 * not an int, ValueError for a negative or too large one). */
static int get_u64(PyObject *obj, const char *what, uint64_t *out)
{
    unsigned long long v;

    if (!obj || obj == Py_None)
        return 0;
    if (!PyLong_Check(obj)) {
        char fmt[96]; /* what is a name of our own: no '%' in it */
        snprintf(fmt, sizeof(fmt), "%s must be an int or None, not %%U", what);
        rz_py_type_error(PyExc_TypeError, fmt, obj);
        return -1;
    }
    v = PyLong_AsUnsignedLongLong(obj);
    if (v == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Format(PyExc_ValueError, "%s must be a non-negative int", what);
        return -1;
    }
    *out = v;
    return 0;
}

/* Fill limits and g from the keyword arguments common to both functions. */
static int parse_limits(rz_extract_limits *limits, glue_ctx *g, PyObject *max_bytes,
                        PyObject *max_entries, PyObject *max_path, double interval)
{
    uint64_t path_cap;

    rz_extract_limits_default(limits);
    path_cap = limits->max_path;
    if (get_u64(max_bytes, "max_bytes", &limits->max_bytes) < 0 ||
        get_u64(max_entries, "max_entries", &limits->max_entries) < 0 ||
        get_u64(max_path, "max_path", &path_cap) < 0)
        return -1;
    if (path_cap > (uint64_t)RZ_EXTRACT_MAX_PATH * 16) {
        PyErr_SetString(PyExc_ValueError, "max_path is too large");
        return -1;
    }
    if (!(interval >= 0 && interval <= 3600)) { /* also NaN */
        PyErr_SetString(PyExc_ValueError, "check_interval must be between 0 and 3600 seconds");
        return -1;
    }
    limits->max_path = (size_t)path_cap;
    limits->check = rz_py_progress_check;
    limits->check_payload = &g->bridge;
    g->interval = interval;
    return 0;
}

PyDoc_STRVAR(extract_archive_doc,
             "extract_archive(archive_path, dest_dir, strip_top_level=True, *, max_bytes=None,\n"
             "                max_entries=None, max_path=None, check_interval=0.1) -> None\n\n"
             "Safely extract a tar(.gz/.bz2/.xz/.zst) or zip file into dest_dir, which must not\n"
             "exist or be empty (see csrc/extract.h). The max_* caps default to 32 GiB,\n"
             "1,000,000 entries and 4096 bytes; check_interval is how often (seconds) signals\n"
             "are looked at.");

static PyObject *extract_archive(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"archive_path", "dest_dir", "strip_top_level", "max_bytes",
                             "max_entries",  "max_path", "check_interval",  NULL};
    PyObject *archive = NULL, *dest = NULL, *max_bytes = NULL, *max_entries = NULL,
             *max_path = NULL, *out = NULL;
    int strip = 1, rc;
    double interval = DEFAULT_CHECK_INTERVAL;
    rz_extract_limits limits;
    glue_ctx g = {0};
    rz_error err;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O&O&|p$OOOd:extract_archive", kwlist,
                                     PyUnicode_FSConverter, &archive, PyUnicode_FSConverter, &dest,
                                     &strip, &max_bytes, &max_entries, &max_path, &interval))
        goto done;
    if (parse_limits(&limits, &g, max_bytes, max_entries, max_path, interval) < 0)
        goto done;
    rz_error_init(&err);
    begin(&g);
    rc = rz_extract_file(PyBytes_AsString(archive), PyBytes_AsString(dest), strip, &limits, &err);
    if (rz_py_progress_end(&g.bridge) < 0 || rc < 0)
        rz_py_raise(rz_engine_core(module), &err); /* what a signal handler raised wins */
    else
        out = Py_NewRef(Py_None);
done:
    Py_XDECREF(archive);
    Py_XDECREF(dest);
    return out;
}

PyDoc_STRVAR(extract_from_chunks_doc,
             "_extract_from_chunks(chunks, dest_dir, strip_top_level=True, *, label='<chunks>',\n"
             "                     max_bytes=None, max_entries=None, max_path=None,\n"
             "                     check_interval=0.1) -> None\n\n"
             "For tests: extract a tar stream read from an iterable of bytes-like chunks, as\n"
             "rz_extract_stream does for downloads. An exception raised by the iterable\n"
             "propagates unchanged.");

static PyObject *extract_from_chunks(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"chunks",      "dest_dir", "strip_top_level", "label", "max_bytes",
                             "max_entries", "max_path", "check_interval",  NULL};
    PyObject *chunks = NULL, *dest = NULL, *max_bytes = NULL, *max_entries = NULL, *max_path = NULL,
             *out = NULL;
    const char *label = "<chunks>";
    int strip = 1, rc;
    double interval = DEFAULT_CHECK_INTERVAL;
    rz_extract_limits limits;
    glue_ctx g = {0};
    rz_error err;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO&|p$sOOOd:_extract_from_chunks", kwlist,
                                     &chunks, PyUnicode_FSConverter, &dest, &strip, &label,
                                     &max_bytes, &max_entries, &max_path, &interval))
        goto done;
    if (parse_limits(&limits, &g, max_bytes, max_entries, max_path, interval) < 0)
        goto done;
    g.iter = PyObject_GetIter(chunks); /* new reference, released below */
    if (!g.iter)
        goto done;
    rz_error_init(&err);
    begin(&g);
    rc = rz_extract_stream(read_chunk, &g, label, PyBytes_AsString(dest), strip, &limits, &err);
    if (rz_py_progress_end(&g.bridge) < 0 || rc < 0)
        rz_py_raise(rz_engine_core(module), &err); /* what a signal handler raised wins */
    else
        out = Py_NewRef(Py_None);
    release_chunk(&g);
done:
    Py_XDECREF(g.iter);
    Py_XDECREF(dest);
    return out;
}

PyMethodDef rz_py_extract_methods[] = {
    {"extract_archive", (PyCFunction)(void (*)(void))extract_archive, METH_VARARGS | METH_KEYWORDS,
     extract_archive_doc},
    {"_extract_from_chunks", (PyCFunction)(void (*)(void))extract_from_chunks,
     METH_VARARGS | METH_KEYWORDS, extract_from_chunks_doc},
    {NULL, NULL, 0, NULL},
};
