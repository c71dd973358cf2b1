/* py_cache.h - `remotezoo cache gc` at the module boundary (core/gc.h does the work). */
#ifndef RZ_PY_CACHE_H
#define RZ_PY_CACHE_H

#include "py/state.h"

extern PyMethodDef rz_py_cache_methods[]; /* NULL-terminated; module.c adds them */

#endif
