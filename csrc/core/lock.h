/* lock.h - the locks that serialise processes sharing one $REMOTEZOO_HOME, and the one way to
 * wait for them.
 *
 * Today a lock is flock(2) on a file (or, for rz_lock_wait_fd, on any open descriptor). A wait
 * never blocks in the kernel: it polls with a short sleep, so that between two tries the
 * caller's cancel hook can run (the glue runs Python's signal handlers there: Ctrl-C stops a
 * wait), and it gives up after REMOTEZOO_LOCK_TIMEOUT seconds with an error that names the
 * processes holding the lock. Other mechanisms (POSIX record locks, O_EXCL lock files with a
 * heartbeat) can live behind the same functions.
 *
 * Lock files made with RZ_LOCK_REMOVABLE are removed by their last holder: the holder unlinks
 * the file while it holds it exclusively, and a waiter that then gets the lock on the unlinked
 * file sees that the path no longer names its file (inode check after locking) and tries again.
 * Blocking I/O throughout: callers release the GIL.
 */
#ifndef RZ_LOCK_H
#define RZ_LOCK_H

#include <sys/file.h> /* LOCK_EX, LOCK_SH */

#include "util/error.h"

#define RZ_LOCK_TIMEOUT_DEFAULT 3600 /* seconds; REMOTEZOO_LOCK_TIMEOUT overrides, 0 = forever */

/* Called without the GIL, at most every few milliseconds, while a wait goes on; nonzero stops
 * the wait with an RZ_E_CALLBACK error. (py_progress.h's rz_py_progress_check is one.) */
typedef int (*rz_lock_cancel_fn)(void *payload);

/* How a caller waits: its cancel hook (NULL: none) and its payload; try_only: not at all (a
 * busy lock returns RZ_LOCK_BUSY at once, err untouched). A zeroed one is fine. */
typedef struct rz_lock_wait {
    rz_lock_cancel_fn cancel;
    void *payload;
    int try_only;
} rz_lock_wait;

enum { RZ_LOCK_REMOVABLE = 1 };

/* What rz_lock_acquire and rz_lock_wait_fd return for a busy lock with wait->try_only. */
enum { RZ_LOCK_BUSY = 1 };

typedef struct rz_lock {
    int fd;     /* the locked file; -1 when nothing is held */
    int flags;  /* RZ_LOCK_REMOVABLE or 0 */
    char *path; /* owned (malloc) while held */
} rz_lock;

#define RZ_LOCK_INIT                                                                               \
    {                                                                                              \
        -1, 0, NULL                                                                                \
    }

/* Take operation (LOCK_EX or LOCK_SH) on the file path, creating it (never through a symbolic
 * link). Waits as the header says: 0 when taken, RZ_LOCK_BUSY (try_only), or -1 with err set.
 * *out is released with rz_lock_release (also when not taken, where it holds nothing). */
int rz_lock_acquire(rz_lock *out, const char *path, int operation, int flags,
                    const rz_lock_wait *wait, rz_error *err);

/* Release what out holds (nothing is fine), removing a RZ_LOCK_REMOVABLE file when no other
 * process holds it. */
void rz_lock_release(rz_lock *lock);

/* Whether a process holds the lock file path, without waiting and without creating it: 1 free,
 * 0 held, -1 when there is no such file (`cache gc`'s dry run; its removal goes through
 * rz_lock_acquire with try_only and RZ_LOCK_REMOVABLE). */
int rz_lock_probe(const char *path);

/* The same for a directory locked as trash, download and generation directories are (flock on
 * the directory itself): 1 free, 0 held (a live process uses it), -1 gone. */
int rz_lock_probe_dir(const char *path);

/* Take operation on the open descriptor fd, waiting as the header says (0, RZ_LOCK_BUSY or -1);
 * what names fd in messages. For locks on other things than lock files (a source generation's
 * directory). */
int rz_lock_wait_fd(int fd, int operation, const char *what, const rz_lock_wait *wait,
                    rz_error *err);

#endif
