/* py_fetch.h - remotezoo._net's transfers: download_file, and http_get / stream_get for the
 * source layer and the tests. */
#ifndef RZ_PY_FETCH_H
#define RZ_PY_FETCH_H

#include "py/state.h"

extern PyMethodDef rz_py_fetch_methods[]; /* NULL-terminated; net_module.c adds them */

#endif
