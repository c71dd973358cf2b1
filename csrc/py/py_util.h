/* py_util.h - small helpers every glue file may use. Need the GIL. */
#ifndef RZ_PY_UTIL_H
#define RZ_PY_UTIL_H

#include "py/state.h"

/* A tuple of seq's items that the caller owns, to borrow from while code that can run Python
 * (a callback, a finalizer run by any allocation) might change seq. A list is copied without
 * PySequence_Tuple, whose copy reads the list's items after allocating the tuple, i.e. after
 * a finalizer may have freed them. New reference, or NULL with an exception. */
PyObject *rz_py_tuple_copy(PyObject *seq);

#endif
