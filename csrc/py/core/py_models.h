/* py_models.h - models at the module boundary: resolution, listing, and the download / load /
 * delete of a model, through the plugin contract where a source's code runs. */
#ifndef RZ_PY_MODELS_H
#define RZ_PY_MODELS_H

#include "py/state.h"

extern PyMethodDef rz_py_models_methods[]; /* NULL-terminated; module.c adds them */

#endif
