/* engine_state.h - the module state of remotezoo._net and remotezoo._digest, the engines'
 * extensions: the _core module whose exception types they raise. Reached through static inline
 * functions (as py/state.h does for _core), which are also the modules' exec, traverse and clear
 * of it. A leaf header. */
#ifndef RZ_ENGINE_STATE_H
#define RZ_ENGINE_STATE_H

#include "py/state.h"

typedef struct rz_engine_state {
    PyObject *core; /* remotezoo._core, owned */
} rz_engine_state;

/* The remotezoo._core module that module raises errors with. Borrowed. */
static inline PyObject *rz_engine_core(PyObject *module)
{
    rz_engine_state *st = PyModule_GetState(module);
    assert(st && st->core);
    return st->core;
}

/* For the module's exec: import remotezoo._core into its state. 0, or -1 with an exception. */
static inline int rz_engine_state_init(PyObject *module)
{
    rz_engine_state *st = PyModule_GetState(module);

    st->core = PyImport_ImportModule("remotezoo._core");
    return st->core ? 0 : -1;
}

static inline int rz_engine_state_traverse(PyObject *module, visitproc visit, void *arg)
{
    rz_engine_state *st = PyModule_GetState(module);
    if (st)
        Py_VISIT(st->core);
    return 0;
}

static inline int rz_engine_state_clear(PyObject *module)
{
    rz_engine_state *st = PyModule_GetState(module);
    if (st)
        Py_CLEAR(st->core);
    return 0;
}

#endif
