/* py_integrity.c - see py_integrity.h. */
#include "py/core/py_integrity.h"

#include <string.h>

#include "py/py_util.h"

int rz_py_gate(PyObject *gate, const char *identity, const char *kind, const char *content,
               const char *tree, const char *source_dir, const char *what)
{
    PyObject *res;

    if (!gate || gate == Py_None)
        return 0;
    /* gate is the caller's argument, which its tuple keeps alive for the call. */
    res = PyObject_CallFunction(
        gate, "sszzO&s", identity, kind, content && content[0] ? content : NULL,
        tree && tree[0] ? tree : NULL, PyUnicode_DecodeFSDefault, source_dir, what);
    if (!res)
        return -1;
    Py_DECREF(res);
    return 0;
}

int rz_py_expect(rz_expect *out, PyObject *spec)
{
    PyObject *kind, *sha, *size, *kind_utf8 = NULL, *sha_utf8 = NULL;
    const char *kind_text = NULL, *sha_text = NULL;
    unsigned long long n = 0;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (!spec || spec == Py_None)
        return 0;
    if (!PyDict_Check(spec)) {
        PyErr_SetString(PyExc_TypeError, "expect must be a dict or None");
        return -1;
    }
    /* borrowed from spec, which the caller's arguments keep alive; held while we allocate */
    kind = PyDict_GetItemString(spec, "kind");
    sha = PyDict_GetItemString(spec, "sha256");
    size = PyDict_GetItemString(spec, "size");
    Py_XINCREF(kind);
    Py_XINCREF(sha);
    Py_XINCREF(size);
    if (kind && sha && PyUnicode_Check(kind) && PyUnicode_Check(sha))
        (void)((kind_utf8 = rz_py_utf8(kind, &kind_text, NULL)) &&
               (sha_utf8 = rz_py_utf8(sha, &sha_text, NULL)));
    if (!kind_text || !sha_text ||
        (strcmp(kind_text, "file") != 0 && strcmp(kind_text, "tree") != 0) ||
        strlen(sha_text) != RZ_SHA256_HEX_LEN ||
        strspn(sha_text, "0123456789abcdef") != RZ_SHA256_HEX_LEN) {
        if (!PyErr_Occurred())
            PyErr_SetString(
                PyExc_ValueError,
                "expect needs 'kind' ('file' or 'tree') and 'sha256' (64 lowercase hex)");
        goto done;
    }
    if (size && PyLong_Check(size) &&
        (n = PyLong_AsUnsignedLongLong(size)) == (unsigned long long)-1 && PyErr_Occurred())
        goto done;
    out->set = 1;
    out->is_tree = strcmp(kind_text, "tree") == 0;
    out->size = n;
    memcpy(out->sha256, sha_text, RZ_SHA256_HEX_LEN + 1);
    rc = 0;
done:
    Py_XDECREF(kind_utf8);
    Py_XDECREF(sha_utf8);
    Py_XDECREF(kind);
    Py_XDECREF(sha);
    Py_XDECREF(size);
    return rc;
}

int rz_py_staged(PyObject **out_path, int *out_as_companion, PyObject *staged)
{
    PyObject *path, *layout;
    int rc;

    *out_path = NULL;
    *out_as_companion = 0;
    if (staged == Py_None)
        return 0;
    path = PyDict_Check(staged) ? PyDict_GetItemString(staged, "path") : NULL;
    layout = PyDict_Check(staged) ? PyDict_GetItemString(staged, "layout") : NULL;
    if (!path || !layout || !PyUnicode_Check(layout)) {
        PyErr_SetString(PyExc_TypeError, "staged must be {'path': ..., 'layout': ...}");
        return -1;
    }
    *out_as_companion = PyUnicode_CompareWithASCIIString(layout, "link") == 0;
    Py_INCREF(path); /* borrowed from staged: ours while the converter allocates */
    rc = PyUnicode_FSConverter(path, out_path) ? 0 : -1;
    Py_DECREF(path);
    return rc;
}
