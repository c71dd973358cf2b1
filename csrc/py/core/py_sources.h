/* py_sources.h - sources at the module boundary: identities, registration, deletion, listing,
 * and the import specs of their packages. */
#ifndef RZ_PY_SOURCES_H
#define RZ_PY_SOURCES_H

#include "py/state.h"

extern PyMethodDef rz_py_sources_methods[]; /* NULL-terminated; module.c adds them */

#endif
