/* py_index.c - see py_index.h. */
#include "py/core/py_index.h"

#include <stdlib.h>
#include <string.h>

#include "core/names.h"
#include "core/source.h"
#include "util/env.h"

int rz_py_open_home(rz_home *out, const char *root, rz_error *err)
{
    int rc;

    Py_BEGIN_ALLOW_THREADS
        rc = rz_home_init(out, root, err);
    Py_END_ALLOW_THREADS
    return rc;
}

int rz_py_parse_spec(rz_spec *out, const char *text, rz_error *err)
{
    return rz_spec_parse(out, text, rz_env("GITHUB_SERVER_URL"), err);
}

void rz_py_blocking_begin(rz_py_progress *prog, rz_home *home, rz_fetch_opts *opts,
                          PyObject *callback)
{
    rz_py_progress_begin(prog, opts, callback);
    home->wait.cancel = rz_py_progress_check;
    home->wait.payload = prog;
}

int rz_py_blocking_end(rz_py_progress *prog, rz_home *home)
{
    home->wait.cancel = NULL;
    home->wait.payload = NULL;
    return rz_py_progress_end(prog);
}

/* Frees a names file kept in the state (st->names, st->all_names). */
static void free_names(rz_names *names, PyObject *tuple)
{
    if (names) {
        rz_names_clear(names);
        PyMem_Free(names);
    }
    Py_XDECREF(tuple);
}

void rz_py_index_clear(rz_state *st)
{
    free_names(st->names, st->all_names);
    st->names = NULL;
    st->all_names = NULL;
    free(st->names_home);
    st->names_home = NULL;
    rz_index_free(st->index);
    st->index = NULL;
    free(st->index_home);
    st->index_home = NULL;
}

rz_index *rz_py_current_index(PyObject *core, rz_home *home, int refresh, rz_error *err)
{
    rz_state *st = rz_get_state(core);
    rz_index *idx = NULL;
    int attempt, rc;

    for (attempt = 0; attempt < 2; attempt++) {
        rz_index_free(idx);
        idx = NULL;
        if (st->index && st->index_home && strcmp(st->index_home, home->root) == 0 &&
            rz_index_is_current(st->index, home)) {
            idx = rz_index_ref(st->index);
        } else {
            char *home_copy = strdup(home->root);
            if (!home_copy) {
                rz_error_set(err, RZ_E_NOMEM, "out of memory");
                return NULL;
            }
            Py_BEGIN_ALLOW_THREADS
                rc = rz_index_load(&idx, home, err);
            Py_END_ALLOW_THREADS
            if (rc < 0) {
                free(home_copy);
                return NULL;
            }
            rz_py_index_clear(st);
            st->index = rz_index_ref(idx);
            st->index_home = home_copy;
        }
        if (!refresh || home->wait.read_only) /* a read-only index is not rewritten */
            return idx;
        {
            rz_py_progress prog;
            rz_py_blocking_begin(&prog, home, NULL, NULL);
            rc = rz_source_refresh_local(home, idx, err);
            if (rz_py_blocking_end(&prog, home) < 0) {
                rz_error_init(err); /* the pending exception (Ctrl-C) is what the caller gets */
                rz_error_set(err, RZ_E_CALLBACK, "interrupted");
            }
        }
        if (rc < 0 || err->kind != RZ_E_NONE) {
            rz_index_free(idx);
            return NULL;
        }
        if (rc == 0)
            return idx;
    }
    return idx; /* refreshed once; a second change in between is seen next call */
}

PyObject *rz_py_all_names(PyObject *core, const rz_home *home, rz_error *err)
{
    rz_state *st = rz_get_state(core);
    rz_names *names = st->names;
    PyObject *tuple = st->all_names, *out = NULL;
    char *names_home = st->names_home;
    int valid = 0, rc = 1;

    /* Taken out of the state while the GIL is released; another thread meanwhile reads its
     * own. */
    st->names = NULL;
    st->all_names = NULL;
    st->names_home = NULL;
    if (names && strcmp(names_home, home->names) != 0) {
        free_names(names, tuple);
        names = NULL;
        tuple = NULL;
    }
    free(names_home);
    Py_BEGIN_ALLOW_THREADS
        valid = names && rz_names_valid(names, home);
    Py_END_ALLOW_THREADS
    if (!valid) {
        free_names(names, tuple);
        tuple = NULL;
        if (!(names = PyMem_Calloc(1, sizeof(*names))))
            return PyErr_NoMemory();
        Py_BEGIN_ALLOW_THREADS
            rc = rz_names_read(names, home, err);
        Py_END_ALLOW_THREADS
        if (rc == 1) {
            tuple = PyTuple_New((Py_ssize_t)names->n_names);
            for (size_t i = 0; tuple && i < names->n_names; i++) {
                PyObject *name = PyUnicode_FromString(names->names[i]);
                if (!name)
                    Py_CLEAR(tuple);
                else
                    PyTuple_SetItem(tuple, (Py_ssize_t)i, name); /* steals name */
            }
        }
        if (!tuple && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError))
            PyErr_Clear(); /* a damaged file: read the index */
        if (rc != 1 || !tuple) {
            free_names(names, tuple);
            return NULL;
        }
    }
    out = PySequence_List(tuple);
    if (!st->names && (names_home = strdup(home->names))) {
        st->names = names;
        st->all_names = tuple;
        st->names_home = names_home;
    } else {
        free_names(names, tuple); /* another thread put its own back first (or no memory) */
    }
    return out;
}

const rz_net_api *rz_py_net(PyObject *core)
{
    rz_state *st = rz_get_state(core);
    PyObject *net_module, *capsule;

    if (st->net)
        return st->net;
    /* Not PyCapsule_Import: it imports only the top-level package, then looks up "_net" as an
     * attribute, which exists only once something imported the submodule. */
    net_module = PyImport_ImportModule("remotezoo._net");
    capsule = net_module ? PyObject_GetAttrString(net_module, "_api") : NULL;
    if (capsule)
        st->net = PyCapsule_GetPointer(capsule, RZ_NET_CAPSULE);
    Py_XDECREF(capsule);
    Py_XDECREF(net_module);
    return st->net;
}
