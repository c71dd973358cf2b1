/* py_cache.c - `remotezoo cache gc` at the module boundary (core/gc.h). */
#include "py/core/py_cache.h"

#include "core/gc.h"
#include "py/py_error.h"
#include "py/py_progress.h"

typedef struct found {
    rz_py_progress *prog; /* the GIL is re-taken to append each item */
    PyObject *list;
} found;

static int collect(const rz_garbage *g, void *payload)
{
    found *f = payload;
    PyObject *item;
    int rc;

    PyEval_RestoreThread(f->prog->saved);
    item = Py_BuildValue("{s:s,s:O&,s:K,s:s}", "kind", g->kind, "path", PyUnicode_DecodeFSDefault,
                         g->path, "bytes", (unsigned long long)g->bytes, "state", g->state);
    rc = item ? PyList_Append(f->list, item) : -1;
    Py_XDECREF(item);
    f->prog->saved = PyEval_SaveThread();
    return rc;
}

PyDoc_STRVAR(cache_gc_doc,
             "cache_gc(home, apply) -> list[dict]\n\n"
             "What in home is garbage (csrc/core/gc.h): {'kind', 'path', 'bytes', 'state'} each;\n"
             "with apply it is removed unless a live process uses it.");

static PyObject *cache_gc(PyObject *module, PyObject *args)
{
    const char *root;
    int apply, rc;
    rz_py_progress prog;
    found f = {&prog, NULL};
    rz_home home = RZ_HOME_INIT;
    rz_error err;

    if (!PyArg_ParseTuple(args, "sp:cache_gc", &root, &apply))
        return NULL;
    if (!(f.list = PyList_New(0)))
        return NULL;
    rz_error_init(&err);
    rz_py_progress_begin(&prog, NULL, NULL);
    rc = rz_home_init(&home, root, &err);
    if (rc == 0) {
        home.wait.cancel = rz_py_progress_check;
        home.wait.payload = &prog;
        rc = rz_gc(&home, apply, collect, &f, &err);
    }
    rz_home_clear(&home);
    if (rz_py_progress_end(&prog) < 0 ||
        (rc < 0 && err.kind == RZ_E_CALLBACK && PyErr_Occurred())) {
        Py_DECREF(f.list);
        return NULL;
    }
    if (rc < 0) {
        Py_DECREF(f.list);
        return rz_py_raise(module, &err);
    }
    return f.list;
}

PyMethodDef rz_py_cache_methods[] = {
    {"cache_gc", cache_gc, METH_VARARGS, cache_gc_doc},
    {NULL, NULL, 0, NULL},
};
