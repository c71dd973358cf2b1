/* compat.h - what the glue needs beyond the limited API of the oldest CPython remotezoo supports
 * (3.9: setup.py builds one abi3 extension for 3.9 and every later CPython), as static inline
 * functions of the stable ABI's own functions. A leaf header, included by state.h. */
#ifndef RZ_COMPAT_H
#define RZ_COMPAT_H

#ifndef Py_NewRef /* 3.9's headers: 3.10 added them, as inline functions over Py_INCREF */
static inline PyObject *rz_new_ref(PyObject *obj)
{
    Py_INCREF(obj);
    return obj;
}
static inline PyObject *rz_xnew_ref(PyObject *obj)
{
    Py_XINCREF(obj);
    return obj;
}
#define Py_NewRef(obj)  rz_new_ref((PyObject *)(obj))
#define Py_XNewRef(obj) rz_xnew_ref((PyObject *)(obj))
#endif

/* PyModule_AddObjectRef (3.10): add value to module as name, the caller keeps its reference. */
static inline int rz_module_add(PyObject *module, const char *name, PyObject *value)
{
    Py_INCREF(value);
    if (PyModule_AddObject(module, name, value) == 0) /* steals value only on success */
        return 0;
    Py_DECREF(value);
    return -1;
}

#endif
