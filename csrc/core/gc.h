/* gc.h - what in a home is garbage, and its removal (`remotezoo cache gc`).
 *
 * Garbage is what no registered source, downloaded model or live process uses:
 *   temporary  what a killed download (<model dir>/.rz-<hash>-*), registration
 *              (sources/<slug>/.tmp-*), import (.rz-import-*) or index write
 *              (.registry.json.tmp-*, .trust.json.tmp-*) left;
 *   retired    a source tree (sources/<slug>/<generation>) the index no longer names, and the
 *              trees of sources no longer registered;
 *   trash      what a killed removal left (.rz-del-*);
 *   orphan     a models folder no registered source has (a deleted source's models);
 *   record     the digest record (records.h) of a model that is gone;
 *   lock       a lock file (locks/) no process holds.
 * Whoever uses something holds a lock on it, and gc only takes what it can lock without
 * waiting: a download's directory is locked by the download, a source tree by every load
 * that runs its code (generation.h), a registration's temporary by the source's registration
 * lock, a models folder by the downloads and loads in it, a record by its model's lock. Such a
 * thing is "in use" and kept. Without apply nothing is written (a read-only cache works): each
 * thing is reported "garbage" or "in use"; with apply it is removed ("removed") or kept.
 * Blocking I/O: the glue releases the GIL.
 */
#ifndef RZ_GC_H
#define RZ_GC_H

#include <stdint.h>

#include "core/home.h"
#include "util/error.h"

typedef struct rz_garbage {
    const char *kind;  /* see above */
    const char *path;  /* absolute */
    uint64_t bytes;    /* on disk (allocated blocks), measured before removal */
    const char *state; /* "garbage", "removed" or "in use" */
} rz_garbage;

/* Called for each thing found; nonzero stops the walk (and is returned). */
typedef int (*rz_gc_visit_fn)(const rz_garbage *g, void *payload);

int rz_gc(const rz_home *home, int apply, rz_gc_visit_fn visit, void *payload, rz_error *err);

#endif
