/* py_bundle.h - remotezoo._net's glue for bundles (net/pack.h) and `doctor`'s TLS defaults. */
#ifndef RZ_PY_BUNDLE_H
#define RZ_PY_BUNDLE_H

#include "py/state.h"

extern PyMethodDef rz_py_bundle_methods[]; /* NULL-terminated; net_module.c adds them */

#endif
