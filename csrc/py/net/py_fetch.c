/* py_fetch.c - Python glue for fetch.c: download_file(), and http_get() / stream_get() for the
 * source layer and the tests. */
#include "py/net/py_fetch.h"

#include "net/fetch.h"
#include "net/fetch_file.h"
#include "py/net/net_state.h"
#include "py/py_error.h"
#include "py/py_progress.h"
#include "py/py_util.h"

/* headers (None or a dict of str to str) -> *out_lines, a new list of "Name: value" str objects
 * (NULL for None) and *out_array, a NULL-terminated array of their UTF-8 (borrowed from the
 * list; caller frees the array with PyMem_Free, then drops the list). Anything else is a
 * TypeError, a NUL in a name or value a ValueError (C would cut the line there). */
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
        PyErr_Format(PyExc_TypeError, "headers must be a dict of str to str, not %.100s",
                     Py_TYPE(headers)->tp_name);
        return -1;
    }
    /* A list of pairs of our own: the names and values stay alive while we allocate, even if a
     * finalizer run by an allocation empties the caller's dict. */
    if (!(items = PyDict_Items(headers)))
        return -1;
    n = PyList_GET_SIZE(items);
    if (!(lines = PyList_New(n)) || !(array = PyMem_Calloc((size_t)n + 1, sizeof(*array))))
        goto fail;
    for (i = 0; i < n; i++) {
        PyObject *pair = PyList_GET_ITEM(items, i); /* borrowed from items, which only we hold */
        PyObject *name = PyTuple_GET_ITEM(pair, 0); /* borrowed from pair (dict items are pairs) */
        PyObject *value = PyTuple_GET_ITEM(pair, 1);
        PyObject *line;
        Py_ssize_t len = 0;
        if (!PyUnicode_Check(name) || !PyUnicode_Check(value)) {
            PyErr_Format(PyExc_TypeError,
                         "headers must be a dict of str to str, not of %.100s "
                         "to %.100s",
                         Py_TYPE(name)->tp_name, Py_TYPE(value)->tp_name);
            goto fail;
        }
        if (!(line = PyUnicode_FromFormat("%U: %U", name, value)))
            goto fail;
        PyList_SET_ITEM(lines, i, line); /* steals line */
        if (!(array[i] = PyUnicode_AsUTF8AndSize(line, &len)))
            goto fail;
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
    rc = rz_fetch_to_file(url, PyBytes_AS_STRING(path), sha256, &opts, &err);
    if (rz_py_progress_end(&prog) < 0)
        goto fail;
    if (rc < 0) {
        rz_py_raise(rz_net_core(module), &err);
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
    const char *url = NULL, *names[RZ_HTTP_WANTED_MAX + 1] = {NULL};
    PyObject *headers = Py_None, *wanted = NULL, *lines = NULL, *values = NULL, *out = NULL;
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
    if (wanted && (PyUnicode_Check(wanted) || PyBytes_Check(wanted))) {
        PyErr_SetString(PyExc_TypeError, "wanted must be a sequence of str, not one str");
        return NULL;
    }
    /* A tuple of our own, not the caller's list: names[] borrows its items' UTF-8 across code
     * that can run Python (a headers mapping's items(), a finalizer), which could empty a
     * list the caller still holds. */
    if (wanted && !(wanted = rz_py_tuple_copy(wanted)))
        return NULL;
    n = wanted ? PyTuple_GET_SIZE(wanted) : 0;
    if (n > RZ_HTTP_WANTED_MAX || max_bytes < 0) {
        PyErr_SetString(PyExc_ValueError, "at most 8 wanted headers, and max_bytes >= 0");
        goto done;
    }
    for (i = 0; i < n; i++) { /* borrowed from wanted, which lives until done */
        PyObject *item = PyTuple_GET_ITEM(wanted, i);
        Py_ssize_t len = 0;
        if (!PyUnicode_Check(item)) {
            PyErr_Format(PyExc_TypeError, "wanted must be a sequence of str, not of %.100s",
                         Py_TYPE(item)->tp_name);
            goto done;
        }
        if (!(names[i] = PyUnicode_AsUTF8AndSize(item, &len)))
            goto done;
        if ((size_t)len != strlen(names[i])) {
            PyErr_SetString(PyExc_ValueError, "a wanted header name contains a NUL character");
            goto done;
        }
    }
    if (convert_headers(headers, &lines, &header_array) < 0)
        goto done;
    rz_error_init(&err);
    rz_py_progress_begin(&prog, &opts, NULL);
    opts.headers = header_array;
    rc = rz_http_get(&response, url, &opts, names, (size_t)max_bytes, &err);
    if (rz_py_progress_end(&prog) < 0)
        goto done;
    if (rc < 0) {
        rz_py_raise(rz_net_core(module), &err);
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
    Py_XDECREF(lines);
    Py_XDECREF(values);
    Py_XDECREF(wanted);
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
        goto done;
    while (rc == 0) {
        PyObject *chunk;
        rz_py_progress_begin(&prog, &opts, NULL);
        rc = rz_stream_read(s, &data, &len, &err);
        if (rz_py_progress_end(&prog) < 0)
            goto done;
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
        rz_py_raise(rz_net_core(module), &err);
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
