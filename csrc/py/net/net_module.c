/* net_module.c - remotezoo._net: the network and archive engines (net.h), kept out of
 * remotezoo._core so that starting remotezoo maps no libcurl, libarchive or libcrypto. It
 * holds the _core module whose exception types it raises, publishes download_file,
 * extract_archive and their helpers, and hands _core the engines' table as a capsule. */
#include "py/engine_state.h"

#include <archive.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "net/digest.h"
#include "net/extract.h"
#include "net/fetch.h"
#include "net/fetch_file.h"
#include "net/fetch_tree.h"
#include "net/net.h"
#include "net/sha256.h"
#include "py/net/py_bundle.h"
#include "py/net/py_extract.h"
#include "py/net/py_fetch.h"
#include "py/py_util.h"

static const rz_net_api engines = {
    .offline = rz_fetch_offline,
    .http_get = rz_http_get,
    .response_clear = rz_response_clear,
    .fetch_to_file = rz_fetch_to_file,
    .fetch_tree = rz_fetch_tree,
    .extract_file = rz_extract_file,
    .sha256_verify_file = rz_sha256_verify_file,
    .digest_path = rz_digest_path,
};

PyDoc_STRVAR(library_versions_doc,
             "library_versions() -> dict\n\n"
             "The runtime versions of the C libraries remotezoo is linked with:\n"
             "{'libcurl': ..., 'libarchive': ..., 'cjson': ...}.");

static PyObject *library_versions(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    const curl_version_info_data *curl = curl_version_info(CURLVERSION_NOW);
    return Py_BuildValue("{s:s,s:s,s:s}", "libcurl", curl->version, "libarchive",
                         archive_version_string(), "cjson", cJSON_Version());
}

static PyMethodDef module_methods[] = {
    {"library_versions", library_versions, METH_NOARGS, library_versions_doc},
    {NULL, NULL, 0, NULL},
};

static int module_exec(PyObject *module)
{
    PyMethodDef *tables[] = {rz_py_fetch_methods, rz_py_extract_methods, rz_py_bundle_methods};
    PyObject *capsule;
    size_t i;

    if (rz_engine_state_init(module) < 0)
        return -1;
    /* Not thread-safe by libcurl's contract; exec runs with the GIL held and curl reference
     * counts the calls, so one per module instance is right. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        PyErr_SetString(PyExc_ImportError, "remotezoo: curl_global_init failed");
        return -1;
    }
    for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
        if (PyModule_AddFunctions(module, tables[i]) < 0)
            return -1;
    /* The table is static and constant: the capsule only points at it. */
    capsule = PyCapsule_New((void *)&engines, RZ_NET_CAPSULE, NULL);
    if (!capsule)
        return -1;
    i = rz_module_add(module, "_api", capsule) < 0;
    Py_DECREF(capsule);
    return i ? -1 : 0;
}

static void module_free(void *module)
{
    rz_engine_state_clear((PyObject *)module);
    curl_global_cleanup();
}

/* Filled by PyInit__net for the running CPython (py_util.h, rz_py_module_slots). */
static PyModuleDef_Slot module_slots[4];

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "remotezoo._net",
    .m_doc = "remotezoo's network and archive engines: libcurl downloads and libarchive "
             "extraction, imported on first use.",
    .m_size = sizeof(rz_engine_state),
    .m_methods = module_methods,
    .m_slots = module_slots,
    .m_traverse = rz_engine_state_traverse,
    .m_clear = rz_engine_state_clear,
    .m_free = module_free,
};

PyMODINIT_FUNC PyInit__net(void)
{
    rz_py_module_slots(module_slots, module_exec);
    return PyModuleDef_Init(&module_def);
}
