/* py_spec.h - remotezoo._core's source specs and redaction: parse_source_spec, redact. */
#ifndef RZ_PY_SPEC_H
#define RZ_PY_SPEC_H

#include "py/state.h"

extern PyMethodDef rz_py_spec_methods[]; /* NULL-terminated; module.c adds them */

#endif
