/* py_spec.c - Python glue for spec.c. */
#include "py/core/py_spec.h"

#include <stdlib.h>
#include <string.h>

#include "core/spec.h"
#include "py/py_error.h"
#include "py/py_util.h"
#include "util/env.h"

/* A new str for s (NULL -> None). Paths may hold bytes that are not UTF-8 (from getcwd):
 * they come back as surrogates, as os.fsdecode does. */
static PyObject *str_or_none(const char *s)
{
    if (!s)
        return Py_NewRef(Py_None);
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "surrogateescape");
}

static PyObject *spec_to_python(const rz_spec *s)
{
    const struct {
        const char *key;
        const char *value;
    } fields[] = {
        {"kind", rz_spec_kind_name(s->kind)},
        {"identity", s->identity},
        {"user", s->user},
        {"repo", s->repo},
        {"ref", s->ref},
        {"url", s->url},
        {"format", rz_archive_format_name(s->format)},
        {"local_path", s->local_path},
        {"slug", s->slug},
    };
    PyObject *out = NULL, *value = NULL;
    size_t i;

    out = PyDict_New();
    if (!out)
        return NULL;
    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        value = str_or_none(fields[i].value);
        if (!value || PyDict_SetItemString(out, fields[i].key, value) < 0)
            goto fail;
        Py_CLEAR(value);
    }
    if (PyDict_SetItemString(out, "ref_is_commit", s->ref_is_commit ? Py_True : Py_False) < 0)
        goto fail;
    return out;
fail:
    Py_XDECREF(value);
    Py_DECREF(out);
    return NULL;
}

PyDoc_STRVAR(parse_source_spec_doc,
             "parse_source_spec(spec, github_server_url=<$GITHUB_SERVER_URL>, cwd=None, "
             "home=None) -> dict\n\n"
             "Parse and normalise a source spec (str or os.PathLike). github_server_url defaults\n"
             "to $GITHUB_SERVER_URL (None or '' = https://github.com); relative paths are\n"
             "relative to cwd (default os.getcwd()) and '~' is home (default $HOME).\n"
             "Returns {'kind': 'github'|'archive'|'local', 'identity', 'user', 'repo', 'ref',\n"
             "'ref_is_commit', 'url', 'format', 'local_path', 'slug'}, None where a field does\n"
             "not apply. Raises SourceError for a malformed spec.");

static PyObject *parse_source_spec(PyObject *module, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"spec", "github_server_url", "cwd", "home", NULL};
    PyObject *spec_obj, *server_obj = NULL, *text = NULL, *out = NULL;
    PyObject *spec_utf8 = NULL, *server_utf8 = NULL; /* own spec's and the server's text */
    const char *spec, *cwd = NULL, *home = NULL;
    rz_spec_context ctx = {NULL, NULL, NULL};
    rz_spec parsed = {0};
    Py_ssize_t len;
    rz_error err;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|Ozz:parse_source_spec", kwlist, &spec_obj,
                                     &server_obj, &cwd, &home))
        return NULL;
    rz_error_init(&err);
    text = PyOS_FSPath(spec_obj); /* new reference: str or bytes */
    if (!text)
        return NULL;
    if (!PyUnicode_Check(text)) {
        rz_py_type_error(PyExc_TypeError, "source spec must be str or os.PathLike[str], not %U",
                         spec_obj);
        goto done;
    }
    if (!(spec_utf8 = rz_py_utf8(text, &spec, &len))) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError))
            goto done;
        PyErr_Clear();
        rz_error_set(&err, RZ_E_SOURCE,
                     "source spec is not valid text (it holds lone "
                     "surrogates); write the path or URL in UTF-8");
        rz_py_raise(module, &err);
        goto done;
    }
    if ((size_t)len != strlen(spec)) {
        rz_error_set(&err, RZ_E_SOURCE, "source spec contains a NUL character");
        rz_py_raise(module, &err);
        goto done;
    }
    if (!server_obj) {
        ctx.github_server_url = rz_env("GITHUB_SERVER_URL"); /* borrowed from the environment */
    } else if (server_obj != Py_None) {
        if (!PyUnicode_Check(server_obj)) {
            PyErr_SetString(PyExc_TypeError, "github_server_url must be str or None");
            goto done;
        }
        if (!(server_utf8 = rz_py_utf8(server_obj, &ctx.github_server_url, NULL)))
            goto done;
    }
    ctx.cwd = cwd;
    ctx.home = home;
    if (rz_spec_parse_in(&parsed, spec, &ctx, &err) < 0)
        rz_py_raise(module, &err);
    else
        out = spec_to_python(&parsed);
done:
    rz_spec_clear(&parsed);
    Py_XDECREF(server_utf8);
    Py_XDECREF(spec_utf8);
    Py_DECREF(text);
    return out;
}

PyDoc_STRVAR(redact_doc,
             "redact(text) -> str\n\n"
             "text with every URL in it redacted as remotezoo's messages are: no user:password@,\n"
             "every query and fragment value REDACTED (csrc/util/error.h rz_redact_text).");

static PyObject *redact(PyObject *module, PyObject *arg)
{
    Py_ssize_t len, i, size;
    const char *text;
    char *out;
    PyObject *result, *held;

    if (!PyUnicode_Check(arg))
        return rz_py_type_error(PyExc_TypeError, "redact() takes a str, not %U", arg);
    if (!(held = rz_py_utf8(arg, &text, &len))) /* held owns text */
        return NULL;
    if ((Py_ssize_t)strlen(text) != len) {
        Py_DECREF(held);
        return PyErr_Format(PyExc_ValueError, "redact() takes no NUL characters");
    }
    size = len + 1; /* each '=' may gain "REDACTED" */
    for (i = 0; i < len; i++)
        if (text[i] == '=')
            size += 8;
    if (!(out = PyMem_Malloc((size_t)size))) {
        Py_DECREF(held);
        return PyErr_NoMemory();
    }
    if (rz_redact_text(out, (size_t)size, text) < 0)
        result = PyErr_NoMemory(); /* only a failed allocation of its copy */
    else
        result = PyUnicode_DecodeUTF8(out, (Py_ssize_t)strlen(out), "replace");
    PyMem_Free(out);
    Py_DECREF(held);
    return result;
}

PyMethodDef rz_py_spec_methods[] = {
    {"redact", redact, METH_O, redact_doc},
    {"parse_source_spec", (PyCFunction)(void (*)(void))parse_source_spec,
     METH_VARARGS | METH_KEYWORDS, parse_source_spec_doc},
    {NULL, NULL, 0, NULL},
};
