/* py_util.h - small helpers every glue file may use. Need the GIL. */
#ifndef RZ_PY_UTIL_H
#define RZ_PY_UTIL_H

#include "py/state.h"

/* A tuple of seq's items that the caller owns, to borrow from while code that can run Python
 * (a callback, a finalizer run by any allocation) might change seq. A list is copied without
 * PySequence_Tuple, whose copy reads the list's items after allocating the tuple, i.e. after
 * a finalizer may have freed them. New reference, or NULL with an exception. */
PyObject *rz_py_tuple_copy(PyObject *seq);

/* The UTF-8 of the str obj: a new bytes object holding it (the caller keeps it while it uses
 * *out_text, then drops it), *out_text its text and *out_len its length (may be NULL). NULL
 * with an exception: TypeError for what is no str, UnicodeEncodeError for lone surrogates.
 * (PyUnicode_AsUTF8AndSize, which borrows from the str, is in the limited API from 3.10.) */
PyObject *rz_py_utf8(PyObject *obj, const char **out_text, Py_ssize_t *out_len);

/* The items of seq (None: *out NULL, n 0), each a str, as a NULL-terminated array of their UTF-8
 * in *out (caller frees it with PyMem_Free), *out_n of them, borrowed from *out_hold, a new
 * tuple of bytes the caller drops after the array: not from seq, which code that can run Python
 * (a finalizer run by any allocation) might empty meanwhile. An item that is no str is a
 * TypeError, a NUL in one a ValueError, both naming what. -1 with an exception, or 0. */
int rz_py_utf8_array(const char ***out, Py_ssize_t *out_n, PyObject **out_hold, PyObject *seq,
                     const char *what);

/* The bytes of a bytes-like obj (bytes, bytearray, memoryview, ...): a new bytes object (obj
 * itself for bytes), *out_data and *out_len its contents. NULL with a TypeError for anything
 * else. (The buffer protocol is in the limited API from 3.11.) */
PyObject *rz_py_bytes(PyObject *obj, const char **out_data, Py_ssize_t *out_len);

/* Raise exc_type with fmt, whose one %U is the name of obj's type ("int", "OrderedDict").
 * Returns NULL. (Py_TYPE(obj)->tp_name is not in the limited API.) */
PyObject *rz_py_type_error(PyObject *exc_type, const char *fmt, PyObject *obj);

/* The PEP 489 slots of a module for the CPython running it, in out (room for 4): exec, then
 * Py_mod_multiple_interpreters (3.12+: supported, with the main GIL) and Py_mod_gil (3.13+:
 * needed), which an older CPython refuses as unknown slots, so they are chosen here at PyInit
 * time (one abi3 extension serves them all). */
void rz_py_module_slots(PyModuleDef_Slot out[4], int (*exec)(PyObject *));

#endif
