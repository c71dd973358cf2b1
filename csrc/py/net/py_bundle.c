/* py_bundle.c - remotezoo._net's glue for bundles and `doctor`: write_archive (net/pack.h)
 * and tls_defaults (net/ca_bundle.h). The work runs with the GIL released; Ctrl-C stops it
 * (py_progress.h). */
#include "py/net/py_bundle.h"

#include <curl/curl.h>

#include "net/ca_bundle.h"
#include "net/pack.h"
#include "py/engine_state.h"
#include "py/py_error.h"
#include "py/py_progress.h"
#include "py/py_util.h"

PyDoc_STRVAR(write_archive_doc,
             "write_archive(archive_path, items) -> None\n\n"
             "Write a tar archive (.tar.zst, .tar.gz, .tar.xz or .tar) of items, a sequence of\n"
             "(name in the archive, path on disk), atomically (csrc/net/pack.h).");

static PyObject *write_archive(PyObject *module, PyObject *args)
{
    PyObject *archive = NULL, *seq, *held = NULL, *out = NULL;
    PyObject **names = NULL, **paths = NULL; /* owned bytes objects, two per item */
    rz_pack_item *items = NULL;
    rz_py_progress bridge;
    Py_ssize_t n = 0, i;
    rz_error err;
    int rc;

    if (!PyArg_ParseTuple(args, "O&O:write_archive", PyUnicode_FSConverter, &archive, &seq))
        return NULL;
    /* A tuple copy: the items are borrowed from it while their bytes are made. */
    if (!(held = rz_py_tuple_copy(seq)))
        goto done;
    n = PyTuple_Size(held);
    items = PyMem_Calloc((size_t)n + 1, sizeof(*items));
    names = PyMem_Calloc((size_t)n + 1, sizeof(*names));
    paths = PyMem_Calloc((size_t)n + 1, sizeof(*paths));
    if (!items || !names || !paths) {
        PyErr_NoMemory();
        goto done;
    }
    for (i = 0; i < n; i++) {
        PyObject *item = PyTuple_GetItem(held, i); /* borrowed from held */
        const char *name;
        if (!item || !PyTuple_Check(item) || PyTuple_Size(item) != 2 ||
            !PyUnicode_Check(PyTuple_GetItem(item, 0))) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "items must be (name, path) tuples");
            goto done;
        }
        if (!(names[i] = rz_py_utf8(PyTuple_GetItem(item, 0), &name, NULL)) ||
            !PyUnicode_FSConverter(PyTuple_GetItem(item, 1), &paths[i]))
            goto done;
        items[i].name = name; /* borrowed from names[i] */
        items[i].path = PyBytes_AsString(paths[i]);
    }
    rz_error_init(&err);
    rz_py_progress_begin(&bridge, NULL, NULL);
    rc = rz_pack(PyBytes_AsString(archive), items, (size_t)n, rz_py_progress_check, &bridge, &err);
    if (rz_py_progress_end(&bridge) == 0) {
        if (rc == 0)
            out = Py_NewRef(Py_None);
        else
            rz_py_raise(rz_engine_core(module), &err);
    }
done:
    for (i = 0; names && paths && i < n; i++) {
        Py_XDECREF(names[i]);
        Py_XDECREF(paths[i]);
    }
    PyMem_Free(names);
    PyMem_Free(paths);
    PyMem_Free(items);
    Py_XDECREF(held);
    Py_DECREF(archive);
    return out;
}

PyDoc_STRVAR(tls_defaults_doc,
             "tls_defaults() -> dict\n\n"
             "What TLS transfers use (net/ca_bundle.h, the rule every download follows): {'ssl':\n"
             "libcurl's TLS library, 'cainfo': the CA bundle file or None, 'capath': the CA\n"
             "directory or None}, for `remotezoo doctor`.");

static PyObject *tls_defaults(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    rz_ca_locations ca;

    if (rz_ca_locations_for(&ca, "https:", NULL) < 0)
        ca.file = ca.dir = NULL; /* none found: both None, which doctor reports */
    return Py_BuildValue("{s:z,s:z,s:z}", "ssl", v->ssl_version, "cainfo", ca.file, "capath",
                         ca.dir);
}

PyMethodDef rz_py_bundle_methods[] = {
    {"write_archive", write_archive, METH_VARARGS, write_archive_doc},
    {"tls_defaults", tls_defaults, METH_NOARGS, tls_defaults_doc},
    {NULL, NULL, 0, NULL},
};
