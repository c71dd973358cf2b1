/* py_util.c - see py_util.h. */
#include "py/py_util.h"

PyObject *rz_py_tuple_copy(PyObject *seq)
{
    if (!PyList_Check(seq))
        return PySequence_Tuple(seq);
    for (;;) {
        Py_ssize_t n = PyList_GET_SIZE(seq), i;
        PyObject *copy = PyTuple_New(n); /* may run a finalizer that changes seq */
        if (!copy)
            return NULL;
        if (PyList_GET_SIZE(seq) == n) { /* no allocation from here on: nothing else runs */
            for (i = 0; i < n; i++)
                PyTuple_SET_ITEM(copy, i, Py_NewRef(PyList_GET_ITEM(seq, i)));
            return copy;
        }
        Py_DECREF(copy); /* seq changed meanwhile: copy what it is now */
    }
}
