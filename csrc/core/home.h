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

#include "core/lock.h"
#include "util/error.h"

/* The paths are owned (malloc), on the heap: a home is passed around on small stacks. */
typedef struct rz_home {
    char *root;
    char *sources;
    char *models;
    char *locks;
    char *index;
    char *lock;
    char *names;       /* registry.names (names.h) */
    rz_lock_wait wait; /* how this caller waits for locks (lock.h); zeroed by init */
} rz_home;

/* Nothing held: rz_home_clear of it is fine. */
#define RZ_HOME_INIT                                                                               \
    {                                                                                              \
        0                                                                                          \
    }

/* Fill out with the paths under root and create the directories. Blocking I/O. Clear out with
 * rz_home_clear whatever this returns. */
int rz_home_init(rz_home *out, const char *root, rz_error *err);

/* Free the paths; out is empty again. */
void rz_home_clear(rz_home *home);

#endif
