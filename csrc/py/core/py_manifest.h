/* py_manifest.h - remotezoo._core's manifests and versions: parse_manifest, load_manifest,
 * version_compare, model_names. */
#ifndef RZ_PY_MANIFEST_H
#define RZ_PY_MANIFEST_H

#include "py/state.h"

extern PyMethodDef rz_py_manifest_methods[]; /* NULL-terminated; module.c adds them */

#endif
