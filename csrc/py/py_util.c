/* py_util.c - see py_util.h. */
#include "py/py_util.h"

#include <stdio.h>

/* The slot ids and values of PEP 489 that the limited API of 3.9 does not name. */
#define RZ_MOD_MULTIPLE_INTERPRETERS      3 /* Py_mod_multiple_interpreters, CPython 3.12 */
#define RZ_MOD_MULTIPLE_INTERPRETERS_OK   1 /* Py_MOD_MULTIPLE_INTERPRETERS_SUPPORTED */
#define RZ_MOD_GIL                        4 /* Py_mod_gil, CPython 3.13 */
#define RZ_MOD_GIL_USED                   0 /* Py_MOD_GIL_USED */
#if defined(Py_mod_multiple_interpreters) && defined(Py_mod_gil)
_Static_assert(Py_mod_multiple_interpreters == RZ_MOD_MULTIPLE_INTERPRETERS &&
                   Py_mod_gil == RZ_MOD_GIL,
               "CPython's slot ids");
#endif

PyObject *rz_py_tuple_copy(PyObject *seq)
{
    if (!PyList_Check(seq))
        return PySequence_Tuple(seq);
    for (;;) {
        Py_ssize_t n = PyList_Size(seq), i;
        PyObject *copy = PyTuple_New(n); /* may run a finalizer that changes seq */
        if (!copy)
            return NULL;
        if (PyList_Size(seq) == n) { /* no allocation from here on: nothing else runs */
            for (i = 0; i < n; i++) /* borrowed from seq, at once owned by copy (stolen) */
                PyTuple_SetItem(copy, i, Py_NewRef(PyList_GetItem(seq, i)));
            return copy;
        }
        Py_DECREF(copy); /* seq changed meanwhile: copy what it is now */
    }
}

PyObject *rz_py_utf8(PyObject *obj, const char **out_text, Py_ssize_t *out_len)
{
    PyObject *bytes;
    char *text = NULL;
    Py_ssize_t len = 0;

    if (!PyUnicode_Check(obj))
        return rz_py_type_error(PyExc_TypeError, "expected a str, not %U", obj);
    bytes = PyUnicode_AsUTF8String(obj);
    if (!bytes || PyBytes_AsStringAndSize(bytes, &text, &len) < 0) {
        Py_XDECREF(bytes);
        return NULL;
    }
    *out_text = text; /* owned by bytes */
    if (out_len)
        *out_len = len;
    return bytes;
}

int rz_py_utf8_array(const char ***out, Py_ssize_t *out_n, PyObject **out_hold, PyObject *seq,
                     const char *what)
{
    PyObject *items = NULL, *hold = NULL;
    const char **array = NULL;
    Py_ssize_t i, n;

    *out = NULL;
    *out_n = 0;
    *out_hold = NULL;
    if (seq == Py_None)
        return 0;
    if (!(items = rz_py_tuple_copy(seq)) || (n = PyTuple_Size(items)) < 0 ||
        !(hold = PyTuple_New(n)) || !(array = PyMem_Calloc((size_t)n + 1, sizeof(*array)))) {
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        goto fail;
    }
    for (i = 0; i < n; i++) {
        PyObject *item = PyTuple_GetItem(items, i); /* borrowed from items, which only we hold */
        PyObject *utf8;
        Py_ssize_t len = 0;
        if (!PyUnicode_Check(item)) {
            char fmt[128]; /* what is a name of our own: no '%' in it */
            snprintf(fmt, sizeof(fmt), "%s must be a sequence of str, not of %%U", what);
            rz_py_type_error(PyExc_TypeError, fmt, item);
            goto fail;
        }
        if (!(utf8 = rz_py_utf8(item, &array[i], &len)))
            goto fail;
        PyTuple_SetItem(hold, i, utf8); /* steals utf8, which holds array[i] */
        if ((size_t)len != strlen(array[i])) {
            PyErr_Format(PyExc_ValueError, "%s: a str contains a NUL character", what);
            goto fail;
        }
    }
    Py_DECREF(items);
    *out = array;
    *out_n = n;
    *out_hold = hold;
    return 0;
fail:
    PyMem_Free(array);
    Py_XDECREF(hold);
    Py_XDECREF(items);
    return -1;
}

PyObject *rz_py_bytes(PyObject *obj, const char **out_data, Py_ssize_t *out_len)
{
    PyObject *bytes, *view;
    char *data = NULL;
    Py_ssize_t len = 0;

    if (PyBytes_Check(obj)) {
        bytes = Py_NewRef(obj);
    } else {
        /* A memoryview first: only a bytes-like object makes one (PyBytes_FromObject alone
         * would take a list of ints too). */
        view = PyMemoryView_FromObject(obj);
        bytes = view ? PyBytes_FromObject(view) : NULL;
        Py_XDECREF(view);
    }
    if (!bytes || PyBytes_AsStringAndSize(bytes, &data, &len) < 0) {
        Py_XDECREF(bytes);
        return NULL;
    }
    *out_data = data; /* owned by bytes */
    *out_len = len;
    return bytes;
}

PyObject *rz_py_type_error(PyObject *exc_type, const char *fmt, PyObject *obj)
{
    PyObject *name = PyObject_GetAttrString((PyObject *)Py_TYPE(obj), "__qualname__");

    if (name && !PyUnicode_Check(name)) { /* a metaclass's odd __qualname__ */
        Py_DECREF(name);
        name = PyUnicode_FromString("object");
    }
    if (name) /* else the exception of the lookup (no memory) stands */
        PyErr_Format(exc_type, fmt, name);
    Py_XDECREF(name);
    return NULL;
}

void rz_py_module_slots(PyModuleDef_Slot out[4], int (*exec)(PyObject *))
{
    int major = 3, minor = 0, n = 0;

    sscanf(Py_GetVersion(), "%d.%d", &major, &minor); /* "3.13.0 (main, ...)" */
    out[n].slot = Py_mod_exec;
    out[n++].value = (void *)exec;
    if (major > 3 || minor >= 12) {
        /* No state outside the module's: subinterpreters are fine, with the main GIL (the C
         * core's caches and libcurl's global init rely on it). */
        out[n].slot = RZ_MOD_MULTIPLE_INTERPRETERS;
        out[n++].value = (void *)RZ_MOD_MULTIPLE_INTERPRETERS_OK;
    }
    if (major > 3 || minor >= 13) {
        /* The GIL is needed: the index and names caches of the module state, and the
         * reference counts of a cached index (core/index.h), are guarded by it alone. A
         * free-threaded CPython enables the GIL when it imports remotezoo. */
        out[n].slot = RZ_MOD_GIL;
        out[n++].value = (void *)RZ_MOD_GIL_USED;
    }
    out[n].slot = 0;
    out[n].value = NULL;
}
