/* digest_module.c - remotezoo._digest: the digests of models and source trees (net/digest.h)
 * for lock files, `cache verify`, bundles and the record of every download. Its own extension,
 * linked with libcrypto only (setup.py), so that a process that downloads a model through its
 * source's own download_model() maps no libcurl or libarchive (remotezoo._net) to record its
 * digest. */
#include "py/engine_state.h"

#include "net/digest.h"
#include "py/py_error.h"
#include "py/py_progress.h"
#include "py/py_util.h"

PyDoc_STRVAR(digest_doc,
             "digest(path, *, follow=True, skip_pycache=False) -> (kind, size, sha256)\n\n"
             "The digest of a file (its SHA-256) or a directory (rz-tree-v1, csrc/net/digest.h):\n"
             "kind 'file' or 'tree', size in bytes (of all files of a tree). follow: a symbolic\n"
             "link at path itself is followed; skip_pycache leaves out __pycache__ directories.");

static PyObject *digest(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"path", "follow", "skip_pycache", NULL};
    PyObject *path = NULL, *out = NULL;
    int follow = 1, skip = 0, rc;
    rz_py_progress bridge;
    rz_digest d;
    rz_error err;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O&|$pp:digest", kwlist, PyUnicode_FSConverter,
                                     &path, &follow, &skip))
        return NULL;
    rz_error_init(&err);
    rz_py_progress_begin(&bridge, NULL, NULL);
    rc = rz_digest_path(&d, PyBytes_AsString(path),
                        (follow ? RZ_DIGEST_FOLLOW : 0) | (skip ? RZ_DIGEST_SKIP_PYCACHE : 0),
                        rz_py_progress_check, &bridge, &err);
    if (rz_py_progress_end(&bridge) == 0) {
        if (rc == 0)
            out = Py_BuildValue("(sKs)", d.is_tree ? "tree" : "file", (unsigned long long)d.size,
                                d.sha256);
        else
            rz_py_raise(rz_engine_core(module), &err);
    }
    Py_DECREF(path);
    return out;
}

static PyMethodDef module_methods[] = {
    {"digest", (PyCFunction)(void (*)(void))digest, METH_VARARGS | METH_KEYWORDS, digest_doc},
    {NULL, NULL, 0, NULL},
};

static void module_free(void *module)
{
    rz_engine_state_clear((PyObject *)module);
}

/* Filled by PyInit__digest for the running CPython (py_util.h, rz_py_module_slots). */
static PyModuleDef_Slot module_slots[4];

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "remotezoo._digest",
    .m_doc = "remotezoo's digests of models and source trees (SHA-256, libcrypto).",
    .m_size = sizeof(rz_engine_state),
    .m_methods = module_methods,
    .m_slots = module_slots,
    .m_traverse = rz_engine_state_traverse,
    .m_clear = rz_engine_state_clear,
    .m_free = module_free,
};

PyMODINIT_FUNC PyInit__digest(void)
{
    rz_py_module_slots(module_slots, rz_engine_state_init);
    return PyModuleDef_Init(&module_def);
}
