/* py_plugin.h - the plugin contract: a source's __init__.py, imported and called through the
 * CPython C API. This is glue (it touches PyObject); callers hold the GIL.
 *
 * A source directory is imported as a package rooted at that directory (so `from .zoo import X`
 * and `import <module>.zoo` work) under a module name unique to the source,
 * "remotezoo._sources.<slug>[_<dirhash>]", registered in sys.modules with its parent package
 * remotezoo._sources, so objects defined by the source pickle into worker processes (whose
 * import of the name is answered by the finder in remotezoo/_sources/__init__.py). The module is
 * imported once per generation of the source and re-imported when the generation changes.
 */
#ifndef RZ_PLUGIN_H
#define RZ_PLUGIN_H

#include "py/state.h"

/* A new ModuleSpec for module_name whose __init__.py is in source_dir; generation is kept in
 * spec.loader_state. Returns a new reference, or NULL with an exception set (a SourceError when
 * there is no __init__.py). */
PyObject *rz_plugin_spec(PyObject *core, const char *module_name, const char *source_dir,
                         const char *generation, const char *identity);

/* The module of a source directory: sys.modules' entry when it is of this generation, else a
 * fresh import (the stale module and its submodules are dropped first). Always through the
 * import system (its per-module locks keep other threads from seeing a half-run __init__.py),
 * with the spec for source_dir handed to the finder through remotezoo._sources._pending. A
 * source directory deleted meanwhile by another process is a ModelNotFoundError. New
 * reference. */
PyObject *rz_plugin_import(PyObject *core, const char *module_name, const char *source_dir,
                           const char *generation, const char *identity);

/* module.<function>(model_name, model_path, **kwargs) with exactly those arguments (kwargs may
 * be NULL). A missing function is a SourceError naming the source, the model and the function.
 * An exception raised by the source's code propagates unchanged, with a note (PEP 678) naming
 * the source and model. New reference. */
PyObject *rz_plugin_call(PyObject *core, PyObject *module, const char *function,
                         const char *identity, const char *model_name, const char *model_path,
                         PyObject *kwargs);

#endif
