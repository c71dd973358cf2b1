/* generation.h - the generations of a fetched source's tree, and who is running code from them.
 *
 * A fetched source lives in <sources>/<slug>/<generation>/tree, and registering it again makes
 * a new generation that the index names instead. A process about to run a source's code
 * (import, download_model, load_model) pins the generation the index named: a shared lock on
 * its directory (lock.h), held until the code returns. Retiring a generation removes it at once
 * when nobody pins it and otherwise marks it retired, for its last pin to remove on the way out. So
 * a tree never disappears under code running from it, and no tree outlives its last user.
 *
 * Removal is rename to ".tmp-old-<generation>" first (atomic: a pinner sees the whole tree or no
 * tree), then rmtree; a ".tmp-*" left by a crash is removed by the next retirement.
 * Blocking I/O throughout: callers release the GIL.
 */
#ifndef RZ_GENERATION_H
#define RZ_GENERATION_H

#include "util/error.h"
#include "util/lock.h"

typedef struct rz_pin {
    int fd;       /* the generation directory, open; -1 when nothing is pinned */
    rz_lock lock; /* on it, LOCK_SH, while fd >= 0 */
    char *dir;    /* owned (malloc) while pinned: its path */
} rz_pin;

/* Pin nothing. */
#define RZ_PIN_INIT                                                                                \
    {                                                                                              \
        -1, RZ_LOCK_INIT, NULL                                                                     \
    }

/* Pin the generation directory dir. Returns 1 when pinned, 0 when dir is gone (retired since
 * the caller read the index: read it again and pin what it names now), -1 with err set. Waits
 * (as lock.h says) while a retirement is removing dir. */
int rz_generation_pin(rz_pin *pin, const char *dir, const rz_lock_wait *wait, rz_error *err);

/* Drop the pin (a pin with fd -1 is fine); the last pin of a retired generation removes it. */
void rz_generation_unpin(rz_pin *pin);

/* Retire every generation in slug_dir except keep (a generation name; NULL retires all), and
 * remove the ".tmp-*" directories no live process uses. Called under the source's registration
 * lock, so no registration of it is in progress. */
void rz_generation_retire_others(const char *slug_dir, const char *keep);

#endif
