/* py_cache.c - `remotezoo cache gc` at the module boundary (core/gc.h). */
#include "py/core/py_cache.h"

#include "core/gc.h"
#include "py/core/py_index.h"
#include "py/py_error.h"

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
    if ((rc = rz_py_open_home(&home, root, &err)) == 0) {
        rz_py_blocking_begin(&prog, &home, NULL, NULL);
        rc = rz_gc(&home, apply, collect, &f, &err);
        if (rz_py_blocking_end(&prog, &home) < 0)
            rc = -1;
    }
    rz_home_clear(&home);
    if (rc < 0) { /* a pending exception (Ctrl-C, a failed append) is what is raised */
        Py_DECREF(f.list);
        return rz_py_raise(module, &err);
    }
    return f.list;
}

PyMethodDef rz_py_cache_methods[] = {
    {"cache_gc", cache_gc, METH_VARARGS, cache_gc_doc},
    {NULL, NULL, 0, NULL},
};
