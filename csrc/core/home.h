/* home.h - where everything lives under $REMOTEZOO_HOME (the Python face reads the variable and
 * passes the directory in; nothing in C reads it).
 *
 *          <root>/registry.json      the index (index.h; written whole: temp file + rename)
 *          <root>/registry.names     every model's full name, for listing without the index
 *                                    (names.h; written after registry.json, the same way)
 *          <root>/.lock              locked by every writer of the index (registry.h)
 *          <root>/sources/<slug>/<generation>/   fetched source trees (generation.h)
 *          <root>/models/<models_subdir>/<model filename>   downloaded models (models.h)
 *          <root>/locks/             registration, folder and model locks (lock.h)
 */
#ifndef RZ_HOME_H
#define RZ_HOME_H

#include "util/error.h"
#include "util/lock.h"

/* The paths are owned (malloc), on the heap: a home is passed around on small stacks. */
typedef struct rz_home {
    char *root;
    char *sources;
    char *models;
    char *locks;
    char *index;
    char *lock;
    char *names;       /* registry.names (names.h) */
    rz_lock_wait wait; /* how this caller waits for locks (lock.h); init zeroes it and sets
                          wait.read_only (rz_home_read_only) */
} rz_home;

/* Nothing held: rz_home_clear of it is fine. */
#define RZ_HOME_INIT                                                                               \
    {                                                                                              \
        0                                                                                          \
    }

/* Fill out with the paths under root and create the directories (not in a read-only home).
 * Blocking I/O. Clear out with rz_home_clear whatever this returns. */
int rz_home_init(rz_home *out, const char *root, rz_error *err);

/* 1 if the home at root is read-only: $REMOTEZOO_READ_ONLY is set (not "" or "0"), or root is
 * on a read-only mount (statvfs ST_RDONLY), or this process may not write it (EROFS, EACCES).
 * A read-only home is read without a single write: no directories, lock files, temporary
 * files, index rewrites (local sources are not rescanned) or sweeps; its shared locks hold
 * nothing, and what would write fails on its exclusive lock with an EROFS error that says the
 * cache is read-only (lock.h). */
int rz_home_read_only(const char *root);

/* Free the paths; out is empty again. */
void rz_home_clear(rz_home *home);

#endif
