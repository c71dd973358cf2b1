/* py_integrity.c - see py_integrity.h. */
#include "py_integrity.h"

#include <ctype.h>
#include <string.h>

int rz_py_gate(PyObject *gate, const char *identity, const char *kind, const char *content,
               const char *tree, const char *source_dir, const char *what)
{
    PyObject *res;

    if (!gate || gate == Py_None)
        return 0;
    /* gate is the caller's argument, which its tuple keeps alive for the call. */
    res = PyObject_CallFunction(gate, "sszzO&s", identity, kind, content && content[0] ? content : NULL,
                                tree && tree[0] ? tree : NULL, PyUnicode_DecodeFSDefault,
                                source_dir, what);
    if (!res)
        return -1;
    Py_DECREF(res);
    return 0;
}

int rz_py_expect(rz_expect *out, PyObject *spec)
{
    PyObject *kind, *sha, *size;
    const char *kind_text, *sha_text;
    unsigned long long n;

    memset(out, 0, sizeof(*out));
    if (!spec || spec == Py_None)
        return 0;
    if (!PyDict_Check(spec)) {
        PyErr_SetString(PyExc_TypeError, "expect must be a dict or None");
        return -1;
    }
    /* borrowed from spec, which the caller's arguments keep alive; nothing here runs Python */
    kind = PyDict_GetItemString(spec, "kind");
    sha = PyDict_GetItemString(spec, "sha256");
    size = PyDict_GetItemString(spec, "size");
    if (!kind || !sha || !PyUnicode_Check(kind) || !PyUnicode_Check(sha) ||
        !(kind_text = PyUnicode_AsUTF8(kind)) || !(sha_text = PyUnicode_AsUTF8(sha)) ||
        (strcmp(kind_text, "file") != 0 && strcmp(kind_text, "tree") != 0) ||
        strlen(sha_text) != RZ_SHA256_HEX_LEN ||
        strspn(sha_text, "0123456789abcdef") != RZ_SHA256_HEX_LEN) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError,
                            "expect needs 'kind' ('file' or 'tree') and 'sha256' (64 lowercase hex)");
        return -1;
    }
    n = size && PyLong_Check(size) ? PyLong_AsUnsignedLongLong(size) : 0;
    if (PyErr_Occurred())
        return -1;
    out->set = 1;
    out->is_tree = strcmp(kind_text, "tree") == 0;
    out->size = n;
    memcpy(out->sha256, sha_text, RZ_SHA256_HEX_LEN + 1);
    return 0;
}
