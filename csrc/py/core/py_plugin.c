/* py_plugin.c - see py_plugin.h. */
#include "py/core/py_plugin.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "py/py_error.h"
#include "py/py_util.h"
#include "util/buf.h"
#include "util/error.h"

/* exc.add_note(note) on the pending exception, where Python has it (3.11+). Keeps the
 * exception and its traceback as they are. The note is made as messages are: redacted (it names
 * a source), on one line (it names a model). */
__attribute__((format(printf, 1, 2))) static void add_note_to_pending(const char *fmt, ...)
{
    PyObject *type, *exc, *tb, *note = NULL, *res = NULL;
    char text[RZ_ERR_MSG_MAX];
    va_list ap;

    PyErr_Fetch(&type, &exc, &tb);
    if (!type)
        return;
    PyErr_NormalizeException(&type, &exc, &tb);
    va_start(ap, fmt);
    rz_error_vformat(text, sizeof(text), fmt, ap);
    va_end(ap);
    note = PyUnicode_DecodeUTF8(text, (Py_ssize_t)strlen(text), "replace");
    if (note && exc && PyObject_HasAttrString(exc, "add_note"))
        res = PyObject_CallMethod(exc, "add_note", "O", note);
    PyErr_Clear(); /* a failure to annotate must not replace the user's exception */
    Py_XDECREF(res);
    Py_XDECREF(note);
    PyErr_Restore(type, exc, tb); /* steals all three */
}

static PyObject *raise_source_error(PyObject *core, const char *identity, const char *model,
                                    const char *fmt, ...)
{
    rz_error err;
    va_list ap;

    rz_error_init(&err);
    va_start(ap, fmt);
    rz_error_vset(&err, RZ_E_SOURCE, fmt, ap);
    va_end(ap);
    rz_error_attach_source(&err, identity);
    rz_error_attach_model(&err, model);
    return rz_py_raise(core, &err);
}

PyObject *rz_plugin_spec(PyObject *core, const char *module_name, const char *source_dir,
                         const char *generation, const char *identity)
{
    PyObject *util = NULL, *init_path = NULL, *search = NULL, *kwargs = NULL, *fn = NULL;
    PyObject *spec = NULL, *gen = NULL;
    char *path = rz_path(NULL, "%s/__init__.py", source_dir);
    struct stat st;

    if (!path || stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
        free(path);
        return raise_source_error(core, identity, NULL,
                                  "source %s has no __init__.py in %s: it cannot download or "
                                  "load models itself",
                                  identity, source_dir);
    }
    util = PyImport_ImportModule("importlib.util");
    if (!util)
        goto done;
    init_path = PyUnicode_DecodeFSDefault(path);
    search = Py_BuildValue("[O&]", PyUnicode_DecodeFSDefault, source_dir);
    if (!init_path || !search)
        goto done;
    kwargs = Py_BuildValue("{s:O}", "submodule_search_locations", search);
    fn = PyObject_GetAttrString(util, "spec_from_file_location");
    if (!kwargs || !fn)
        goto done;
    {
        PyObject *args = Py_BuildValue("(sO)", module_name, init_path);
        if (!args)
            goto done;
        spec = PyObject_Call(fn, args, kwargs);
        Py_DECREF(args);
    }
    if (!spec)
        goto done;
    gen = PyUnicode_FromString(generation);
    if (!gen || PyObject_SetAttrString(spec, "loader_state", gen) < 0)
        Py_CLEAR(spec);
done:
    Py_XDECREF(gen);
    Py_XDECREF(fn);
    Py_XDECREF(kwargs);
    Py_XDECREF(search);
    Py_XDECREF(init_path);
    Py_XDECREF(util);
    free(path);
    return spec;
}

/* 1 if module (borrowed) was imported from generation, else 0. */
static int is_generation(PyObject *module, const char *generation)
{
    PyObject *spec = PyObject_GetAttrString(module, "__spec__"), *state = NULL;
    int same = 0;

    if (spec)
        state = PyObject_GetAttrString(spec, "loader_state");
    PyErr_Clear();
    same =
        state && PyUnicode_Check(state) && PyUnicode_CompareWithASCIIString(state, generation) == 0;
    Py_XDECREF(state);
    Py_XDECREF(spec);
    return same;
}

/* 1 if module (borrowed) is still being executed by an import (spec._initializing). */
static int is_initializing(PyObject *module)
{
    PyObject *spec = PyObject_GetAttrString(module, "__spec__"), *flag = NULL;
    int initializing;

    if (spec)
        flag = PyObject_GetAttrString(spec, "_initializing");
    PyErr_Clear();
    initializing = flag && PyObject_IsTrue(flag) == 1;
    PyErr_Clear();
    Py_XDECREF(flag);
    Py_XDECREF(spec);
    return initializing;
}

/* Drop module_name and its submodules from sys.modules (borrowed dict). Deleting an entry may
 * run Python (a finalizer) that removes other entries: one already gone is skipped. */
static int forget_modules(PyObject *modules, const char *module_name)
{
    PyObject *keys = PyDict_Keys(modules);
    size_t len = strlen(module_name);
    Py_ssize_t i;

    if (!keys)
        return -1;
    for (i = 0; i < PyList_Size(keys); i++) {
        PyObject *key = PyList_GetItem(keys, i); /* borrowed from keys, which only we hold */
        const char *name = NULL;
        PyObject *utf8 = PyUnicode_Check(key) ? rz_py_utf8(key, &name, NULL) : NULL;
        int ours;
        if (!utf8) {
            PyErr_Clear();
            continue;
        }
        ours = strncmp(name, module_name, len) == 0 && (name[len] == '\0' || name[len] == '.');
        Py_DECREF(utf8);
        if (!ours || PyDict_DelItem(modules, key) == 0)
            continue;
        if (!PyErr_ExceptionMatches(PyExc_KeyError)) {
            Py_DECREF(keys);
            return -1;
        }
        PyErr_Clear();
    }
    Py_DECREF(keys);
    return 0;
}

/* sys.modules[module_name] as a new reference, or NULL (no exception) when absent. A strong
 * reference: looking at the entry runs Python (a __getattr__, a __spec__ property), and that
 * code may replace the entry and free the object it was. */
static PyObject *sys_module(PyObject *modules, const char *module_name)
{
    PyObject *module = PyDict_GetItemString(modules, module_name); /* borrowed, briefly */

    return Py_XNewRef(module);
}

PyObject *rz_plugin_import(PyObject *core, const char *module_name, const char *source_dir,
                           const char *generation, const char *identity)
{
    PyObject *modules = Py_NewRef(PyImport_GetModuleDict()); /* owned: sys.modules */
    PyObject *module = sys_module(modules, module_name);     /* owned */
    PyObject *package = NULL, *pending = NULL, *spec = NULL;
    int current = 0;

    /* Through the import system, not around it, even when the module is in sys.modules: its
     * per-module locks make a second thread wait for the first one's import instead of seeing
     * a half-executed module. For a module already imported this is a lookup. */
    if (module)
        current = is_generation(module, generation) || is_initializing(module);
    if (current)
        goto do_import; /* a module being imported by another thread is never pulled away */
    if (module) {
        Py_CLEAR(module); /* only its presence mattered; the import makes the new one */
        if (forget_modules(modules, module_name) < 0)
            goto done;
    }
    /* The finder of remotezoo._sources takes this spec from _pending before it asks the
     * registry, so the import uses the source directory resolved by the caller even if another
     * process changes the registry meanwhile. */
    spec = rz_plugin_spec(core, module_name, source_dir, generation, identity);
    if (!spec)
        goto done;
    package = PyImport_ImportModule("remotezoo._sources");
    pending = package ? PyObject_GetAttrString(package, "_pending") : NULL;
    if (!pending || PyDict_SetItemString(pending, module_name, spec) < 0)
        goto done;
do_import:
    Py_CLEAR(module);
    module = PyImport_ImportModule(module_name);
    if (!module) {
        struct stat st;
        if (stat(source_dir, &st) < 0) {
            /* Another process deleted or replaced (overwrite) the source since the caller
             * resolved it: that, not the import error it caused, is what happened. */
            rz_error err;
            PyErr_Clear();
            rz_error_init(&err);
            rz_error_set(&err, RZ_E_MODEL_NOT_FOUND,
                         "source %s was replaced or deleted while it was being imported; try "
                         "again",
                         identity);
            rz_error_attach_source(&err, identity);
            rz_py_raise(core, &err);
        } else {
            add_note_to_pending("raised while importing %s of source %s", source_dir, identity);
        }
    }
done:
    /* Compared by address only (never dereferenced), so the borrowed lookup is safe. */
    if (pending && spec && PyDict_Check(pending) &&
        PyDict_GetItemString(pending, module_name) == spec) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        if (PyDict_DelItemString(pending, module_name) < 0)
            PyErr_Clear();
        PyErr_Restore(type, value, tb);
    }
    Py_XDECREF(pending);
    Py_XDECREF(package);
    Py_XDECREF(spec);
    Py_DECREF(modules);
    return module;
}

PyObject *rz_plugin_call(PyObject *core, PyObject *module, const char *function,
                         const char *identity, const char *model_name, const char *model_path,
                         PyObject *kwargs)
{
    PyObject *fn = NULL, *args = NULL, *res = NULL;

    fn = PyObject_GetAttrString(module, function);
    if (!fn && !PyErr_ExceptionMatches(PyExc_AttributeError))
        return NULL;
    PyErr_Clear();
    if (!fn || !PyCallable_Check(fn)) {
        Py_XDECREF(fn);
        return raise_source_error(core, identity, model_name,
                                  "source %s defines no %s() in its __init__.py, which model '%s' "
                                  "needs",
                                  identity, function, model_name);
    }
    args = Py_BuildValue("(sO&)", model_name, PyUnicode_DecodeFSDefault, model_path);
    if (args)
        res = PyObject_Call(fn, args, kwargs);
    if (!res && args)
        add_note_to_pending("raised by %s() of source %s for model '%s'", function, identity,
                            model_name);
    Py_XDECREF(args);
    Py_DECREF(fn);
    return res;
}
