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
#include "util/fsutil.h"

typedef struct rz_home {
    char root[RZ_PATH_MAX];
    char sources[RZ_PATH_MAX];
    char models[RZ_PATH_MAX];
    char locks[RZ_PATH_MAX];
    char index[RZ_PATH_MAX];
    char lock[RZ_PATH_MAX];
    char names[RZ_PATH_MAX]; /* registry.names (names.h) */
    rz_lock_wait wait;       /* how this caller waits for locks (lock.h); zeroed by init */
} rz_home;

/* Fill out with the paths under root and create the directories. Blocking I/O. */
int rz_home_init(rz_home *out, const char *root, rz_error *err);

#endif
