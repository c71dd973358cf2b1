/* py_fetch.c - Python glue for fetch.c: download_file(), and http_get() / stream_get() for the
 * source layer and the tests. */
#include "py/net/py_fetch.h"

#include "net/fetch.h"
#include "net/fetch_file.h"
#include "py/engine_state.h"
#include "py/py_error.h"
#include "py/py_progress.h"
#include "py/py_util.h"

/* headers (None or a dict of str to str) -> *out_lines, a new list of the UTF-8 of the
 * "Name: value" lines as bytes (NULL for None) and *out_array, a NULL-terminated array of their
 * text (borrowed from the list; caller frees the array with PyMem_Free, then drops the list).
 * Anything else is a TypeError, a NUL in a name or value a ValueError (C would cut the line there).
 */
static int convert_headers(PyObject *headers, PyObject **out_lines, const char ***out_array)
{
    PyObject *items = NULL, *lines = NULL;
    const char **array = NULL;
    Py_ssize_t i, n;

    *out_lines = NULL;
    *out_array = NULL;
    if (headers == Py_None)
        return 0;
    if (!PyDict_Check(headers)) {
        rz_py_type_error(PyExc_TypeError, "headers must be a dict of str to str, not %U", headers);
        return -1;
    }
    /* A list of pairs of our own: the names and values stay alive while we allocate, even if a
     * finalizer run by an allocation empties the caller's dict. */
    if (!(items = PyDict_Items(headers)))
        return -1;
    n = PyList_Size(items);
    if (!(lines = PyList_New(n)) || !(array = PyMem_Calloc((size_t)n + 1, sizeof(*array)))) {
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        goto fail;
    }
    for (i = 0; i < n; i++) {
        PyObject *pair = PyList_GetItem(items, i); /* borrowed from items, which only we hold */
        PyObject *name = PyTuple_GetItem(pair, 0); /* borrowed from pair (dict items are pairs) */
        PyObject *value = PyTuple_GetItem(pair, 1);
        PyObject *text, *line;
        Py_ssize_t len = 0;
        if (!PyUnicode_Check(name) || !PyUnicode_Check(value)) {
            rz_py_type_error(PyExc_TypeError,
                             PyUnicode_Check(name) ? "headers must be a dict of str to str, not "
                                                     "of str to %U"
                                                   : "headers must be a dict of str to str, not "
                                                     "of %U keys",
                             PyUnicode_Check(name) ? value : name);
            goto fail;
        }
        if (!(text = PyUnicode_FromFormat("%U: %U", name, value)))
            goto fail;
        line = rz_py_utf8(text, &array[i], &len);
        Py_DECREF(text);
        if (!line)
            goto fail;
        PyList_SetItem(lines, i, line); /* steals line, which holds array[i] */
        if ((size_t)len != strlen(array[i])) {
            PyErr_SetString(PyExc_ValueError, "a header name or value contains a NUL character");
            goto fail;
        }
    }
    Py_DECREF(items);
    *out_lines = lines;
    *out_array = array;
    return 0;
fail:
    PyMem_Free(array);
    Py_XDECREF(lines);
    Py_DECREF(items);
    return -1;
}

PyDoc_STRVAR(download_file_doc,
             "download_file(url, path, *, sha256=None, headers=None, progress=None) -> None\n\n"
             "Download url to path atomically (temp file + rename), with retries, resume and\n"
             "an optional sha256 check; see remotezoo.download_file.");

static PyObject *download_file(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"url", "path", "sha256", "headers", "progress", NULL};
    const char *url = NULL, *sha256 = NULL;
    PyObject *path = NULL, *headers = Py_None, *progress = Py_None, *lines = NULL;
    const char **header_array = NULL;
    rz_py_progress prog;
    rz_fetch_opts opts;
    rz_error err;
    int rc;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "sO&|$zOO:download_file", keywords, &url,
                                     PyUnicode_FSConverter, &path, &sha256, &headers, &progress))
        return NULL;
    if (progress != Py_None && !PyCallable_Check(progress)) {
        PyErr_SetString(PyExc_TypeError, "progress must be callable or None");
        goto fail;
    }
    if (convert_headers(headers, &lines, &header_array) < 0)
        goto fail;
    rz_error_init(&err);
    rz_py_progress_begin(&prog, &opts, progress);
    opts.headers = header_array;
    rc = rz_fetch_to_file(NULL, url, PyBytes_AsString(path), sha256, &opts, &err);
    if (rz_py_progress_end(&prog) < 0 || rc < 0) {
        rz_py_raise(rz_engine_core(module), &err);
        goto fail;
    }
    PyMem_Free(header_array);
    Py_XDECREF(lines);
    Py_DECREF(path);
    Py_RETURN_NONE;
fail:
    PyMem_Free(header_array);
    Py_XDECREF(lines);
    Py_DECREF(path);
    return NULL;
}

PyDoc_STRVAR(
    http_get_doc,
    "http_get(url, *, headers=None, wanted=(), max_bytes=1048576) -> (status, body, dict)\n\n"
    "A small GET (rz_http_get): any status is a result; wanted names response headers\n"
    "to return (at most 8). For the source layer and tests.");

static PyObject *http_get(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"url", "headers", "wanted", "max_bytes", NULL};
    const char *url = NULL, **names = NULL;
    PyObject *headers = Py_None, *wanted = Py_None, *held = NULL, *lines = NULL, *values = NULL;
    PyObject *out = NULL;
    const char **header_array = NULL;
    Py_ssize_t max_bytes = 1 << 20, i, n = 0;
    rz_py_progress prog;
    rz_fetch_opts opts;
    rz_response response = {0};
    rz_error err;
    int rc;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "s|$OOn:http_get", keywords, &url, &headers,
                                     &wanted, &max_bytes))
        return NULL;
    if (PyUnicode_Check(wanted) || PyBytes_Check(wanted)) {
        PyErr_SetString(PyExc_TypeError, "wanted must be a sequence of str, not one str");
        return NULL;
    }
    /* names[] borrows from held, a tuple of our own, not from the caller's list: code that can
     * run Python (a headers mapping's items(), a finalizer) could empty that list. */
    if (rz_py_utf8_array(&names, &n, &held, wanted, "wanted") < 0)
        goto done;
    if (n > RZ_HTTP_WANTED_MAX || max_bytes < 0) {
        PyErr_SetString(PyExc_ValueError, "at most 8 wanted headers, and max_bytes >= 0");
        goto done;
    }
    if (convert_headers(headers, &lines, &header_array) < 0)
        goto done;
    rz_error_init(&err);
    rz_py_progress_begin(&prog, &opts, NULL);
    opts.headers = header_array;
    rc = rz_http_get(&response, url, &opts, names, (size_t)max_bytes, &err);
    if (rz_py_progress_end(&prog) < 0 || rc < 0) {
        rz_py_raise(rz_engine_core(module), &err);
        goto done;
    }
    if (!(values = PyDict_New()))
        goto done;
    for (i = 0; i < n; i++) {
        PyObject *v =
            response.header_values[i]
                ? PyUnicode_DecodeLatin1(response.header_values[i],
                                         (Py_ssize_t)strlen(response.header_values[i]), NULL)
                : Py_NewRef(Py_None);
        if (!v || PyDict_SetItemString(values, names[i], v) < 0) {
            Py_XDECREF(v);
            goto done;
        }
        Py_DECREF(v);
    }
    out = Py_BuildValue("(ly#O)", response.status, response.body, (Py_ssize_t)response.body_len,
                        values);
done:
    rz_response_clear(&response);
    PyMem_Free(header_array);
    PyMem_Free(names);
    Py_XDECREF(lines);
    Py_XDECREF(values);
    Py_XDECREF(held);
    return out;
}

PyDoc_STRVAR(stream_get_doc, "stream_get(url) -> (status, bytes, reads)\n\n"
                             "Read url through rz_stream (for tests of the pull stream).");

static PyObject *stream_get(PyObject *module, PyObject *args)
{
    const char *url = NULL;
    rz_stream *s = NULL;
    PyObject *chunks = NULL, *out = NULL, *empty = NULL, *joined = NULL;
    rz_py_progress prog;
    rz_fetch_opts opts;
    const void *data = NULL;
    size_t len = 0;
    Py_ssize_t reads = 0;
    rz_error err;
    int rc;

    if (!PyArg_ParseTuple(args, "s:stream_get", &url) || !(chunks = PyList_New(0)))
        return NULL;
    rz_error_init(&err);
    rz_py_progress_begin(&prog, &opts, NULL);
    rc = rz_stream_open(&s, url, &opts, &err);
    if (rz_py_progress_end(&prog) < 0)
        rc = -1;
    while (rc == 0) {
        PyObject *chunk;
        rz_py_progress_begin(&prog, &opts, NULL);
        rc = rz_stream_read(s, &data, &len, &err);
        if (rz_py_progress_end(&prog) < 0)
            rc = -1;
        if (rc < 0 || len == 0)
            break;
        reads++;
        if (!(chunk = PyBytes_FromStringAndSize(data, (Py_ssize_t)len)) ||
            PyList_Append(chunks, chunk) < 0) {
            Py_XDECREF(chunk);
            goto done;
        }
        Py_DECREF(chunk);
    }
    if (rc < 0) {
        rz_py_raise(rz_engine_core(module), &err);
        goto done;
    }
    if ((empty = PyBytes_FromString("")) &&
        (joined = PyObject_CallMethod(empty, "join", "O", chunks)))
        out = Py_BuildValue("(lOn)", rz_stream_status(s), joined, reads);
done:
    rz_stream_close(s);
    Py_XDECREF(joined);
    Py_XDECREF(empty);
    Py_DECREF(chunks);
    return out;
}

PyMethodDef rz_py_fetch_methods[] = {
    {"download_file", (PyCFunction)(void (*)(void))download_file, METH_VARARGS | METH_KEYWORDS,
     download_file_doc},
    {"http_get", (PyCFunction)(void (*)(void))http_get, METH_VARARGS | METH_KEYWORDS, http_get_doc},
    {"stream_get", stream_get, METH_VARARGS, stream_get_doc},
    {NULL, NULL, 0, NULL},
};
