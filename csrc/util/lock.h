/* lock.h - the locks that serialise processes sharing one $REMOTEZOO_HOME, and the one way to
 * wait for them.
 *
 * A lock is exclusive (LOCK_EX) or shared (LOCK_SH) and is taken on a path: a lock file that
 * rz_lock_acquire creates, or (RZ_LOCK_OBJECT) an existing file or directory. Three mechanisms
 * stand behind the same functions, for homes on local disks, NFS, Lustre, GPFS and CephFS:
 *   flock   flock(2) on the file (the default);
 *   posix   POSIX record locks (fcntl F_SETLK) on the file, or on "<dir>/.rz-lock" for a
 *           directory. They belong to the process, not the descriptor, so this file keeps one
 *           table per process: one descriptor per locked file, never closed while a thread
 *           holds a lock on it (closing any descriptor would drop them all), and the exclusion
 *           between threads of the process, which the kernel does not give;
 *   files   marker files made with O_EXCL, for file systems where no lock call works: the
 *           holder of an exclusive lock on X has "X.held", each holder of a shared one
 *           "X.shared-<token>" (X is "<dir>/.rz-lock" for a directory). A marker says who made
 *           it (host, pid, boot id, pid namespace); a thread of the holder touches it (through
 *           its descriptor) every quarter of REMOTEZOO_LOCK_STALE seconds (default
 *           RZ_LOCK_STALE_DEFAULT), and a release removes it only if its name still leads to
 *           it (a holder that stalled past the stale time lost it to another). A marker
 *           is stale, and is taken over, when its maker is a process of this host that no
 *           longer runs, or when it was not touched for REMOTEZOO_LOCK_STALE seconds (by the
 *           clock or as this process watched it). A writer makes "X.held" first and then waits
 *           for the shared markers to go; a reader makes its marker and then looks for
 *           "X.held" again, withdrawing if it finds one: of the two, one always sees the
 *           other. A takeover is done by the one process that creates "X.held.takeover".
 * $REMOTEZOO_LOCK chooses: "flock", "posix", "files", or "auto" (the default): flock, then the
 * next mechanism when a lock call fails as unsupported (ENOLCK, EOPNOTSUPP, ENOSYS, EINVAL),
 * for the rest of the process. Every process sharing a home must use one mechanism (where
 * nodes' mounts differ, REMOTEZOO_LOCK=files on all of them).
 * This file is compiled into every extension, each with its own state (mechanism, POSIX table,
 * markers to touch): a file is only ever locked through one of them (a download's temporary
 * file through _net, everything else through _core; _digest locks nothing), and both choose
 * the same mechanism on the same file system.
 *
 * A wait never blocks in the kernel: it polls with a short sleep, so that between two tries
 * the caller's cancel hook can run (the glue runs Python's signal handlers there: Ctrl-C stops
 * a wait), and it gives up after REMOTEZOO_LOCK_TIMEOUT seconds with an error that names who
 * holds the lock (pid from /proc/locks or F_GETLK; host and pid from a marker).
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
#define RZ_LOCK_STALE_DEFAULT   60   /* seconds; REMOTEZOO_LOCK_STALE overrides (1..86400) */

/* Called without the GIL, at most every few milliseconds, while a wait goes on; nonzero stops
 * the wait with an RZ_E_CALLBACK error. (py_progress.h's rz_py_progress_check is one.) */
typedef int (*rz_lock_cancel_fn)(void *payload);

/* How a caller waits: its cancel hook (NULL: none) and its payload; try_only: not at all (a
 * busy lock returns RZ_LOCK_BUSY at once, err untouched); read_only: the locks are of a read-only
 * cache (registry.h), where nothing is written: a shared lock is granted holding nothing (no
 * one changes a read-only cache), an exclusive one is an RZ_E_OS EROFS error that says so. A
 * zeroed one is fine. */
typedef struct rz_lock_wait {
    rz_lock_cancel_fn cancel;
    void *payload;
    int try_only;
    int read_only;
} rz_lock_wait;

enum {
    RZ_LOCK_REMOVABLE = 1, /* a lock file its last holder removes */
    RZ_LOCK_OBJECT = 2,    /* path is an existing file or directory, never created */
};

/* What rz_lock_acquire and rz_lock_convert return for a busy lock with wait->try_only. */
enum { RZ_LOCK_BUSY = 1 };

/* Try once, never wait (try_only), in a writable home: for sweeps of what others left. */
extern const rz_lock_wait rz_lock_no_wait;

enum { RZ_LOCK_FLOCK = 0, RZ_LOCK_POSIX = 1, RZ_LOCK_FILES = 2 };

typedef struct rz_lock {
    int fd;        /* flock: the locked descriptor; files: the marker's; -1 */
    int flags;     /* RZ_LOCK_* */
    int held;      /* LOCK_EX, LOCK_SH, or 0 when nothing is held */
    int mechanism; /* RZ_LOCK_FLOCK, RZ_LOCK_POSIX or RZ_LOCK_FILES, of what is held */
    char *path;    /* owned (malloc) from acquire to release */
    char *marker;  /* files: the marker this lock made; owned */
    void *entry;   /* posix: the process's record of the file (lock.c) */
} rz_lock;

#define RZ_LOCK_INIT                                                                               \
    {                                                                                              \
        -1, 0, 0, 0, NULL, NULL, NULL                                                              \
    }

/* Take operation (LOCK_EX or LOCK_SH) on path: a lock file, created (never through a symbolic
 * link), or with RZ_LOCK_OBJECT an existing file or directory (ENOENT when it is gone). Waits
 * as the header says: 0 when taken, RZ_LOCK_BUSY (try_only), or -1 with err set (err may be
 * NULL where a caller wants only the -1: a best-effort sweep). *out is released with
 * rz_lock_release (also when not taken, where it holds nothing). */
int rz_lock_acquire(rz_lock *out, const char *path, int operation, int flags,
                    const rz_lock_wait *wait, rz_error *err);

/* Drop what lock holds, then take operation on the same path, waiting as wait says (0,
 * RZ_LOCK_BUSY or -1). Not atomic (as flock's conversions are not): of two holders converting
 * at once, one gets it. When not taken lock holds nothing; rz_lock_release is still called. */
int rz_lock_convert(rz_lock *lock, int operation, const rz_lock_wait *wait, rz_error *err);

/* Release what lock holds (nothing is fine), removing a RZ_LOCK_REMOVABLE file when no other
 * process holds it. */
void rz_lock_release(rz_lock *lock);

/* Whether a process holds the lock on path, without waiting (`cache gc`). path is a lock file,
 * never created (under flock and posix a missing one has no holder), or with RZ_LOCK_OBJECT
 * (flags) an existing file or directory. flock, posix: the lock is taken exclusive, try-only,
 * and released at once; files: its markers are judged as a taker judges them, none taken over
 * or removed (a stale one counts as free). 1 free, 0 held (or it cannot be taken), -1 when
 * there is no such file (a lock file under the files mechanism has none: its markers answer).
 * In a read-only cache (wait->read_only) nothing is taken: what exists is free, as no one
 * changes such a cache. */
int rz_lock_probe(const char *path, int flags, const rz_lock_wait *wait);

/* The length of the lock path a lock file name in the same directory belongs to when name is
 * one of the files mechanism's markers (".held", ".shared-<token>", and what a takeover
 * makes: ".held.takeover", ".held.stale-<token>"); 0 when it is not a marker's name. */
size_t rz_lock_marker_base(const char *name);

/* The mechanism new locks of this process use now (RZ_LOCK_*), and its name. */
int rz_lock_mechanism(void);
const char *rz_lock_mechanism_name(int mechanism);

/* Use mechanism, or a later one already in use, for the rest of the process. */
void rz_lock_use_at_least(int mechanism);

#endif
