/* py_extract.h - remotezoo._net's archives: extract_archive and, for tests,
 * _extract_from_chunks. */
#ifndef RZ_PY_EXTRACT_H
#define RZ_PY_EXTRACT_H

#include "py/state.h"

extern PyMethodDef rz_py_extract_methods[]; /* NULL-terminated; net_module.c adds them */

#endif
