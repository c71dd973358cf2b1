/* py_index.h - what the sources and models glue share: the home directory, the module's caches
 * of registry.json and registry.names (in rz_state), source specs with $GITHUB_SERVER_URL, the
 * link to remotezoo._net, and how blocking work waits for locks. Need the GIL. */
#ifndef RZ_PY_INDEX_H
#define RZ_PY_INDEX_H

#include "py/state.h"

#include "core/home.h"
#include "core/index.h"
#include "core/spec.h"
#include "net/net.h"
#include "py/py_progress.h"
#include "util/error.h"

/* rz_home_init with the GIL released. */
int rz_py_open_home(rz_home *out, const char *root, rz_error *err);

/* rz_spec_parse with $GITHUB_SERVER_URL; out must be cleared with rz_spec_clear. */
int rz_py_parse_spec(rz_spec *out, const char *text, rz_error *err);

/* Release the GIL for blocking work on home: rz_py_progress_begin(prog, opts, callback) (both
 * NULL: no numbers to report), and home's lock waits run Python's signal handlers through prog,
 * so Ctrl-C stops them. rz_py_blocking_end re-takes the GIL and returns -1 when a Python
 * exception is pending (then nothing else is raised). */
void rz_py_blocking_begin(rz_py_progress *prog, rz_home *home, rz_fetch_opts *opts,
                          PyObject *callback);
int rz_py_blocking_end(rz_py_progress *prog, rz_home *home);

/* The current index of home, from the module's cache when registry.json did not change. A new
 * reference (caller drops it with rz_index_free): the cache may be replaced by another thread
 * whenever the GIL is released, and the caller's index must stay alive. NULL with err set, or
 * with a Python exception (Ctrl-C; err is then RZ_E_CALLBACK). refresh: rescan changed local
 * sources first (rz_source_refresh_local); a caller that holds a folder lock passes 0, since a
 * rescan may wait for that lock. */
rz_index *rz_py_current_index(PyObject *core, rz_home *home, int refresh, rz_error *err);

/* Every registered model's full name, sorted, as a new list: from registry.names (names.h)
 * when it is valid, kept in the state while it stays valid, so a new process needs no index
 * and a warm call is a few stat()s and a copy. NULL with nothing set: not valid, walk the
 * index. NULL with err set or an exception: an error. */
PyObject *rz_py_all_names(PyObject *core, const rz_home *home, rz_error *err);

/* The engines of remotezoo._net (net.h), importing it on the first call; NULL with an
 * exception set if it cannot be imported. */
const rz_net_api *rz_py_net(PyObject *core);

/* Free the caches of st (module_free). */
void rz_py_index_clear(rz_state *st);

#endif
