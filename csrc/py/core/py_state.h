/* py_state.h - small state files of remotezoo's Python face under $REMOTEZOO_HOME (the trust
 * store), changed under the C core's locks. */
#ifndef RZ_PY_STATE_H
#define RZ_PY_STATE_H

#include "py/state.h"

extern PyMethodDef rz_py_state_methods[]; /* NULL-terminated; module.c adds them */

#endif
