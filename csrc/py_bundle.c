/* py_bundle.c - Python glue of remotezoo._net for bundles and `doctor`: write_archive (pack.h)
 * and tls_defaults. The work runs with the GIL released; Ctrl-C stops it (py_progress.h). */
#include "glue.h"

#include <curl/curl.h>

#include "pack.h"
#include "py_progress.h"

PyDoc_STRVAR(write_archive_doc,
             "write_archive(archive_path, items) -> None\n\n"
             "Write a tar archive (.tar.zst, .tar.gz, .tar.xz or .tar) of items, a sequence of\n"
             "(name in the archive, path on disk), atomically (csrc/pack.h).");

static PyObject *write_archive(PyObject *module, PyObject *args)
{
    PyObject *archive = NULL, *seq, *held = NULL, *out = NULL;
    PyObject **paths = NULL; /* owned bytes objects, one per item */
    rz_pack_item *items = NULL;
    rz_py_progress bridge;
    Py_ssize_t n = 0, i;
    rz_error err;
    int rc;

    if (!PyArg_ParseTuple(args, "O&O:write_archive", PyUnicode_FSConverter, &archive, &seq))
        return NULL;
    /* A tuple copy: the strings below are borrowed from it while the GIL is released. */
    if (!(held = rz_py_tuple_copy(seq)))
        goto done;
    n = PyTuple_GET_SIZE(held);
    items = PyMem_Calloc((size_t)n + 1, sizeof(*items));
    paths = PyMem_Calloc((size_t)n + 1, sizeof(*paths));
    if (!items || !paths) {
        PyErr_NoMemory();
        goto done;
    }
    for (i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(held, i); /* borrowed from held */
        const char *name;
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2 ||
            !(name = PyUnicode_AsUTF8(PyTuple_GET_ITEM(item, 0)))) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "items must be (name, path) tuples");
            goto done;
        }
        if (!PyUnicode_FSConverter(PyTuple_GET_ITEM(item, 1), &paths[i]))
            goto done;
        items[i].name = name; /* borrowed from the str, which held keeps alive */
        items[i].path = PyBytes_AS_STRING(paths[i]);
    }
    rz_error_init(&err);
    rz_py_progress_begin(&bridge, NULL, NULL);
    rc = rz_pack(PyBytes_AS_STRING(archive), items, (size_t)n, rz_py_progress_check, &bridge, &err);
    if (rz_py_progress_end(&bridge) == 0) {
        if (rc == 0)
            out = Py_NewRef(Py_None);
        else
            rz_py_raise(rz_net_core(module), &err);
    }
done:
    for (i = 0; paths && i < n; i++)
        Py_XDECREF(paths[i]);
    PyMem_Free(paths);
    PyMem_Free(items);
    Py_XDECREF(held);
    Py_DECREF(archive);
    return out;
}

PyDoc_STRVAR(tls_defaults_doc,
             "tls_defaults() -> dict\n\n"
             "libcurl's built-in TLS settings: {'ssl': version, 'cainfo': path or None,\n"
             "'capath': path or None}, for `remotezoo doctor`.");

static PyObject *tls_defaults(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    const char *cainfo = v->age >= CURLVERSION_SEVENTH ? v->cainfo : NULL;
    const char *capath = v->age >= CURLVERSION_SEVENTH ? v->capath : NULL;

    return Py_BuildValue("{s:z,s:z,s:z}", "ssl", v->ssl_version, "cainfo", cainfo, "capath",
                         capath);
}

PyMethodDef rz_py_bundle_methods[] = {
    {"write_archive", write_archive, METH_VARARGS, write_archive_doc},
    {"tls_defaults", tls_defaults, METH_NOARGS, tls_defaults_doc},
    {NULL, NULL, 0, NULL},
};
