/* net_state.h - remotezoo._net's module state, reached through a static inline accessor (as
 * py/state.h does for _core), so that its glue files need not include net_module.c's symbols.
 * A leaf header. */
#ifndef RZ_NET_STATE_H
#define RZ_NET_STATE_H

#include "py/state.h"

typedef struct rz_net_state {
    PyObject *core; /* remotezoo._core, owned: _net raises its exception types */
} rz_net_state;

/* The remotezoo._core module that remotezoo._net (module) raises errors with. Borrowed. */
static inline PyObject *rz_net_core(PyObject *module)
{
    rz_net_state *st = PyModule_GetState(module);
    assert(st && st->core);
    return st->core;
}

#endif
