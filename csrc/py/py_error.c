/* py_error.c - see py_error.h. */
#include "py/py_error.h"

#include <string.h>

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

/* The SourceError twin of kind, or NULL for kinds that have none (they are ValueErrors, or not
 * about the source: a full disk stays an OSError). */
static PyObject *source_twin(rz_state *st, rz_errkind kind)
{
    switch (kind) {
    case RZ_E_DOWNLOAD:
        return st->SourceDownloadError;
    case RZ_E_HTTP_STATUS:
        return st->SourceHTTPStatusError;
    case RZ_E_RATE_LIMIT:
        return st->SourceRateLimitError;
    case RZ_E_OFFLINE:
        return st->SourceOfflineError;
    case RZ_E_ARCHIVE:
        return st->SourceArchiveError;
    case RZ_E_UNSAFE_ARCHIVE:
        return st->SourceUnsafeArchiveError;
    default:
        return NULL;
    }
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

/* rz_py_raise and rz_py_raise_source; twin says whether to raise a SourceError twin. */
static PyObject *raise_error(PyObject *module, const rz_error *err, int twin)
{
    rz_state *st = rz_get_state(module);
    PyObject *exc = NULL, *type;

    if (PyErr_Occurred())
        return NULL; /* what a callback or a signal handler raised is what the caller gets */
    assert(err->kind != RZ_E_NONE);
    switch (err->kind) {
    case RZ_E_CALLBACK:
        /* A callback asked to stop without an exception: only Ctrl-C's handler does that. */
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
    type = twin && source_twin(st, err->kind) ? source_twin(st, err->kind)
                                              : exception_type(st, err->kind);
    exc = PyObject_CallFunction(type, "s", err->message);
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
    PyErr_SetObject(type, exc);
done:
    Py_DECREF(exc);
    return NULL;
}

PyObject *rz_py_raise(PyObject *module, const rz_error *err)
{
    return raise_error(module, err, 0);
}

PyObject *rz_py_raise_source(PyObject *module, const rz_error *err)
{
    return raise_error(module, err, 1);
}
