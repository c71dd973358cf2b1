/* lock.c - see lock.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "util/lock.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/env.h"
#include "util/random.h"

#define SLEEP_MIN_NS   (1000L * 1000)      /* the first retry comes after 1 ms ... */
#define SLEEP_MAX_NS   (20L * 1000 * 1000) /* ... doubling up to 20 ms between tries */
#define PROC_LOCKS_MAX (1024 * 1024)       /* read at most this much of /proc/locks */
#define HOLDERS_MAX    4                   /* pids named in a timeout message */
#define WHO_MAX        256                 /* "host x pid y" and the like */
#define OWNER_MAX      1024                /* what a marker file may hold */
#define AGAIN_MAX      16                  /* immediate retries (a takeover) before a sleep */
#define DIR_MARKER     "/.rz-lock"         /* a directory's lock file (posix) or marker base */
#define HELD_SUFFIX    ".held"
#define SHARED_SUFFIX  ".shared-"
#define TAKEOVER_SUFF  ".takeover"
#define STALE_INFIX    ".stale-" /* a stale marker renamed aside by its takeover */
#define LOCK_DIR_      0x100 /* lock->flags: the object is a directory */
#define KEEP_FILE_     0x200 /* lock->flags: a release leaves the lock file (a conversion) */
#define PROBE_         0x400 /* lock->flags: rz_lock_probe's; stops where markers are judged */

enum { TAKEN = 0, BUSY = 1, AGAIN = 2, FAILED = -1 };
enum { PROBE_FILES = 2 }; /* take() of a probe: the mechanism is files (rz_lock_probe) */

const rz_lock_wait rz_lock_no_wait = {NULL, NULL, 1, 0};

/* ---- settings ---- */

/* REMOTEZOO_LOCK_TIMEOUT: seconds, 0 for no limit; anything else means the default. */
static long long timeout_seconds(void)
{
    return rz_env_ll("REMOTEZOO_LOCK_TIMEOUT", RZ_LOCK_TIMEOUT_DEFAULT, 0, LLONG_MAX / 1000);
}

static long stale_seconds(void)
{
    return (long)rz_env_ll("REMOTEZOO_LOCK_STALE", RZ_LOCK_STALE_DEFAULT, 1, 86400);
}

/* The wall clock, which file times are on (clock.h's is monotonic: for intervals). */
static double wall_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ns(long ns)
{
    struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
    nanosleep(&ts, NULL); /* EINTR (a signal) just makes the next look come sooner */
}

/* ---- which mechanism ---- */

static int level = -1; /* RZ_LOCK_*; -1 until read from $REMOTEZOO_LOCK */
static int level_auto; /* 1: fall back on unsupported errors */

static const char *const names[] = {"flock", "posix", "files"};

static void read_level(void)
{
    const char *v = rz_env("REMOTEZOO_LOCK");
    int chosen = RZ_LOCK_FLOCK, automatic = 1;

    for (int i = 0; v && i < 3; i++)
        if (strcmp(v, names[i]) == 0) {
            chosen = i;
            automatic = 0;
        }
    __atomic_store_n(&level_auto, automatic, __ATOMIC_RELAXED);
    /* Only the first reader sets it: a fallback another thread made stays. */
    int unset = -1;
    __atomic_compare_exchange_n(&level, &unset, chosen, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

int rz_lock_mechanism(void)
{
    if (__atomic_load_n(&level, __ATOMIC_SEQ_CST) < 0)
        read_level();
    return __atomic_load_n(&level, __ATOMIC_SEQ_CST);
}

const char *rz_lock_mechanism_name(int mechanism)
{
    return mechanism >= 0 && mechanism <= RZ_LOCK_FILES ? names[mechanism] : "?";
}

void rz_lock_use_at_least(int mechanism)
{
    int now = rz_lock_mechanism();
    while (now < mechanism && !__atomic_compare_exchange_n(&level, &now, mechanism, 0,
                                                           __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
        ;
}

/* errno values with which a file system says it has no such locks. */
static int unsupported(int e)
{
    return e == ENOLCK || e == EOPNOTSUPP || e == ENOTSUP || e == ENOSYS || e == EINVAL;
}

/* ---- who holds a lock ---- */

/* Appends to out (size out_len, NUL-terminated) the pids that /proc/locks says hold a lock on
 * the file (dev, ino), as "1234, 5678"; out stays "" where /proc/locks is missing (not Linux).
 * Lines look like "3: FLOCK  ADVISORY  WRITE 1234 08:01:56789 0 EOF"; waiters ("->") skipped. */
static void find_holders(char *out, size_t out_len, dev_t dev, ino_t ino)
{
    char *text = malloc(PROC_LOCKS_MAX + 1), *line, *next;
    size_t len = 0, found = 0;
    ssize_t n;
    int fd;

    out[0] = '\0';
    if (!text)
        return;
    fd = open("/proc/locks", O_RDONLY | O_CLOEXEC);
    while (fd >= 0 && len < PROC_LOCKS_MAX &&
           ((n = read(fd, text + len, PROC_LOCKS_MAX - len)) > 0 || (n < 0 && errno == EINTR)))
        len += n > 0 ? (size_t)n : 0;
    if (fd >= 0)
        close(fd);
    text[len] = '\0';
    for (line = text; line && *line && found < HOLDERS_MAX; line = next) {
        unsigned int maj, min;
        unsigned long long inode;
        long pid;
        int used = 0;
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (strstr(line, "->") ||
            sscanf(line, "%*s %*s %*s %*s %ld %x:%x:%llu%n", &pid, &maj, &min, &inode, &used) != 4)
            continue;
        if (makedev(maj, min) != dev || (ino_t)inode != ino)
            continue;
        snprintf(out + strlen(out), out_len - strlen(out), "%s%ld", found ? ", " : "", pid);
        found++;
    }
    free(text);
}

/* "process 12" or "processes 12, 34" from /proc/locks, into who (WHO_MAX). */
static void who_from_proc(char *who, int fd)
{
    char pids[128] = "";
    struct stat st;

    if (fstat(fd, &st) == 0)
        find_holders(pids, sizeof(pids), st.st_dev, st.st_ino);
    if (pids[0])
        snprintf(who, WHO_MAX, "%s %s", strchr(pids, ',') ? "processes" : "process", pids);
}

/* ---- this process, as a marker names it ---- */

typedef struct owner {
    char host[128];
    char boot[64];
    unsigned long long pidns;
    long pid;
} owner;

static owner me;
static pthread_once_t me_once = PTHREAD_ONCE_INIT;

static void read_first_line(char *out, size_t out_len, const char *path)
{
    FILE *f = fopen(path, "re");

    out[0] = '\0';
    if (f) {
        if (fgets(out, (int)out_len, f))
            out[strcspn(out, "\n")] = '\0';
        fclose(f);
    }
}

static void find_me(void)
{
    struct stat st;

    if (gethostname(me.host, sizeof(me.host)) < 0)
        me.host[0] = '\0';
    me.host[sizeof(me.host) - 1] = '\0';
    me.host[strcspn(me.host, " \n")] = '\0';
    read_first_line(me.boot, sizeof(me.boot), "/proc/sys/kernel/random/boot_id");
    me.boot[strcspn(me.boot, " \n")] = '\0';
    me.pidns = stat("/proc/self/ns/pid", &st) == 0 ? (unsigned long long)st.st_ino : 0;
}

static const owner *self(void)
{
    pthread_once(&me_once, find_me);
    me.pid = (long)getpid(); /* after a fork, the child's */
    return &me;
}

/* ---- flock ---- */

static int open_target(const rz_lock *l, int for_posix)
{
    if (l->flags & RZ_LOCK_OBJECT) {
        if ((l->flags & LOCK_DIR_) && !for_posix)
            return open(l->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (!for_posix)
            return open(l->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    }
    return -2; /* not an object, or posix: the caller opens the lock file */
}

/* The file whose lock stands for l: its path, or "<dir>/.rz-lock" for a directory. */
static int lock_file_path(char *out, size_t out_len, const rz_lock *l)
{
    int n = snprintf(out, out_len, "%s%s", l->path, (l->flags & LOCK_DIR_) ? DIR_MARKER : "");
    if (n < 0 || (size_t)n >= out_len) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

/* 1 if path still names the file fd has open. */
static int still_named(int fd, const char *path)
{
    struct stat held, now;
    return fstat(fd, &held) == 0 && lstat(path, &now) == 0 && held.st_dev == now.st_dev &&
           held.st_ino == now.st_ino;
}

static int flock_try(rz_lock *l, int op, char *who)
{
    if (l->fd < 0) {
        int fd = open_target(l, 0);
        if (fd == -2)
            fd = open(l->path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
            return FAILED;
        l->fd = fd;
    }
    if (flock(l->fd, op | LOCK_NB) < 0) {
        if (errno == EINTR)
            return AGAIN;
        if (errno != EWOULDBLOCK)
            return FAILED;
        who_from_proc(who, l->fd);
        return BUSY;
    }
    /* Its last holder may have removed the file while this waited: the lock is only ours if
     * path still names the file we locked. */
    if ((l->flags & RZ_LOCK_REMOVABLE) && !still_named(l->fd, l->path)) {
        close(l->fd);
        l->fd = -1;
        return AGAIN;
    }
    return TAKEN;
}

static void flock_release(rz_lock *l)
{
    /* Dropped first, then taken exclusive: of two holders releasing at once, the one that tries
     * second finds the file free (a conversion in place could fail for both, each seeing the
     * other's shared lock, and leave the file behind; NFS emulates flock with record locks).
     * Exclusive means no other process holds the file; one that waits for it checks the inode
     * after locking. */
    if ((l->flags & RZ_LOCK_REMOVABLE) && !(l->flags & KEEP_FILE_) &&
        flock(l->fd, LOCK_UN) == 0 && flock(l->fd, LOCK_EX | LOCK_NB) == 0 &&
        still_named(l->fd, l->path))
        unlink(l->path);
    close(l->fd); /* closing the last descriptor releases the flock */
    l->fd = -1;
}

/* ---- POSIX record locks ---- */

typedef struct posix_entry {
    dev_t dev;
    ino_t ino;
    int fd;     /* the one descriptor the locks are taken through */
    int *spare; /* descriptors of the same file opened in a race; closed with the entry */
    size_t n_spare;
    int readers; /* threads of this process holding it shared */
    int writer;  /* 1: a thread holds it exclusive */
    struct posix_entry *next;
} posix_entry;

static pthread_mutex_t table_mutex = PTHREAD_MUTEX_INITIALIZER;
static posix_entry *table;

static posix_entry *table_find(dev_t dev, ino_t ino)
{
    for (posix_entry *e = table; e; e = e->next)
        if (e->dev == dev && e->ino == ino)
            return e;
    return NULL;
}

/* Drop e from the table when no thread holds it; closing its descriptors is safe then. */
static void table_forget_if_unused(posix_entry *e)
{
    posix_entry **p;

    if (e->readers || e->writer)
        return;
    for (p = &table; *p && *p != e; p = &(*p)->next)
        ;
    if (*p)
        *p = e->next;
    close(e->fd);
    for (size_t i = 0; i < e->n_spare; i++)
        close(e->spare[i]);
    free(e->spare);
    free(e);
}

/* The table's entry of the lock file at path, made (and the file created unless it is an
 * object's) when missing. Called with table_mutex held. NULL with errno set. */
static posix_entry *table_entry(const char *path, int create)
{
    struct stat st;
    posix_entry *e;
    int fd;

    /* Looked up by name first: opening and closing a descriptor of a file this process holds
     * locked would drop the locks. */
    if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && (e = table_find(st.st_dev, st.st_ino)))
        return e;
    fd = open(path, O_RDWR | (create ? O_CREAT : 0) | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 && (errno == EACCES || errno == EROFS))
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC); /* enough for LOCK_SH */
    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) < 0) {
        int e2 = errno;
        close(fd);
        errno = e2;
        return NULL;
    }
    if ((e = table_find(st.st_dev, st.st_ino))) { /* named it in between: keep fd open */
        int *grown = realloc(e->spare, (e->n_spare + 1) * sizeof(*grown));
        if (!grown) {
            close(fd); /* only on ENOMEM, and the locks were taken through e->fd */
            errno = ENOMEM;
            return NULL;
        }
        e->spare = grown;
        e->spare[e->n_spare++] = fd;
        return e;
    }
    if (!(e = calloc(1, sizeof(*e)))) {
        close(fd);
        errno = ENOMEM;
        return NULL;
    }
    e->dev = st.st_dev;
    e->ino = st.st_ino;
    e->fd = fd;
    e->next = table;
    table = e;
    return e;
}

static int posix_set(int fd, short type, int *out_pid)
{
    struct flock fl;

    memset(&fl, 0, sizeof(fl));
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    if (fcntl(fd, F_SETLK, &fl) == 0)
        return 0;
    if (out_pid && (errno == EAGAIN || errno == EACCES)) {
        int saved = errno;
        memset(&fl, 0, sizeof(fl));
        fl.l_type = type;
        fl.l_whence = SEEK_SET;
        *out_pid = fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK ? (int)fl.l_pid : 0;
        errno = saved;
    }
    return -1;
}

static int posix_try(rz_lock *l, int op, char *who)
{
    char path[PATH_MAX];
    posix_entry *e;
    int rc = TAKEN, pid = 0;

    if (lock_file_path(path, sizeof(path), l) < 0)
        return FAILED;
    pthread_mutex_lock(&table_mutex);
    e = table_entry(path, !(l->flags & RZ_LOCK_OBJECT) || (l->flags & LOCK_DIR_));
    if (!e) {
        rc = FAILED;
    } else if (e->writer || (op == LOCK_EX && e->readers)) {
        snprintf(who, WHO_MAX, "another thread of this process (%ld)", (long)getpid());
        rc = BUSY;
    } else if (op == LOCK_SH && e->readers) {
        e->readers++; /* the process holds it shared already */
    } else if (posix_set(e->fd, op == LOCK_EX ? F_WRLCK : F_RDLCK, &pid) < 0) {
        if (errno == EAGAIN || errno == EACCES) {
            if (pid > 0)
                snprintf(who, WHO_MAX, "process %d", pid);
            rc = BUSY;
        } else {
            rc = FAILED;
        }
    } else if (op == LOCK_EX) {
        e->writer = 1;
    } else {
        e->readers = 1;
    }
    if (rc == TAKEN && (l->flags & (RZ_LOCK_REMOVABLE | LOCK_DIR_)) && !still_named(e->fd, path)) {
        /* removed by its last holder while this waited: let go, and try the new file */
        if (op == LOCK_EX)
            e->writer = 0;
        else
            e->readers--;
        if (!e->writer && !e->readers)
            posix_set(e->fd, F_UNLCK, NULL);
        rc = AGAIN;
    }
    if (rc == TAKEN) {
        l->entry = e;
    } else if (e) {
        int saved = errno;
        table_forget_if_unused(e);
        errno = saved;
    }
    pthread_mutex_unlock(&table_mutex);
    return rc;
}

static void posix_release(rz_lock *l)
{
    posix_entry *e = l->entry;
    char path[PATH_MAX];

    pthread_mutex_lock(&table_mutex);
    /* A directory's ".rz-lock" goes the same way: nothing is left in it between calls. Dropped
     * first, then taken exclusive, as flock_release does: an upgrade in place keeps the shared
     * lock when it fails, so two readers releasing at once would each see the other and both
     * leave the file. */
    if ((l->flags & (RZ_LOCK_REMOVABLE | LOCK_DIR_)) && !(l->flags & KEEP_FILE_) &&
        e->readers + e->writer == 1 && lock_file_path(path, sizeof(path), l) == 0 &&
        posix_set(e->fd, F_UNLCK, NULL) == 0 && posix_set(e->fd, F_WRLCK, NULL) == 0 &&
        still_named(e->fd, path))
        unlink(path); /* exclusive: no other process holds it; waiters check the inode */
    if (l->held == LOCK_EX)
        e->writer = 0;
    else
        e->readers--;
    if (!e->readers && !e->writer)
        posix_set(e->fd, F_UNLCK, NULL);
    else if (l->held == LOCK_SH && e->readers)
        posix_set(e->fd, F_RDLCK, NULL); /* an upgrade attempt above may have changed it */
    table_forget_if_unused(e);
    pthread_mutex_unlock(&table_mutex);
    l->entry = NULL;
}

/* ---- marker files ---- */

/* The markers this process holds, by descriptor; a thread touches them so that they never look
 * stale. Through the descriptor, not the name: a marker taken over (this process stalled past
 * REMOTEZOO_LOCK_STALE) is no longer the file its name leads to, and the new holder's marker
 * must not be kept alive by this one. */
static pthread_mutex_t beat_mutex = PTHREAD_MUTEX_INITIALIZER;
static int *beats;
static size_t n_beats, cap_beats;
static int beat_started;

static long beat_period_ms; /* a quarter of REMOTEZOO_LOCK_STALE, read when the thread starts */

static void *beat_loop(void *unused)
{
    (void)unused;
    for (;;) {
        sleep_ns(beat_period_ms * 1000000L);
        pthread_mutex_lock(&beat_mutex);
        for (size_t i = 0; i < n_beats; i++)
            futimens(beats[i], NULL);
        pthread_mutex_unlock(&beat_mutex);
    }
    return NULL;
}

static void beat_after_fork(void)
{
    /* The child holds none of its parent's markers, and has no beating thread. */
    pthread_mutex_init(&beat_mutex, NULL);
    pthread_mutex_init(&table_mutex, NULL);
    n_beats = 0;
    beat_started = 0;
    table = NULL; /* POSIX locks are not inherited; the parent's entries are not ours */
}

/* Keep the marker open as fd touched while this process holds it. -1 with errno when the
 * thread that touches cannot start: without it a marker goes stale after REMOTEZOO_LOCK_STALE
 * seconds and a long holder would lose its lock, so that is no lock. */
static int beat_add(int fd)
{
    int rc = -1;

    pthread_mutex_lock(&beat_mutex);
    if (!beat_started) {
        pthread_t t;
        pthread_attr_t attr;
        beat_period_ms = stale_seconds() * 1000 / 4;
        if (beat_period_ms < 100)
            beat_period_ms = 100;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        beat_started = pthread_create(&t, &attr, beat_loop, NULL) == 0;
        pthread_attr_destroy(&attr);
    }
    if (beat_started && n_beats == cap_beats) {
        size_t want = cap_beats ? cap_beats * 2 : 8;
        int *grown = realloc(beats, want * sizeof(*grown));
        if (grown) {
            beats = grown;
            cap_beats = want;
        }
    }
    if (beat_started && n_beats < cap_beats) {
        beats[n_beats++] = fd;
        rc = 0;
    }
    pthread_mutex_unlock(&beat_mutex);
    errno = rc < 0 ? EAGAIN : errno;
    return rc;
}

static void beat_remove(int fd)
{
    pthread_mutex_lock(&beat_mutex);
    for (size_t i = 0; i < n_beats; i++)
        if (beats[i] == fd) {
            beats[i] = beats[--n_beats];
            break;
        }
    pthread_mutex_unlock(&beat_mutex);
}

/* base: the path markers of l are named after (see lock.h). */
static int marker_base(char *out, size_t out_len, const rz_lock *l)
{
    return lock_file_path(out, out_len, l);
}

/* Create marker with O_EXCL and this process's name in it. Its descriptor (the caller closes
 * it), or -1 with errno. */
static int make_marker(const char *marker)
{
    const owner *o = self();
    char text[OWNER_MAX];
    int fd = open(marker, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    int n;

    if (fd < 0)
        return -1;
    n = snprintf(text, sizeof(text), "remotezoo lock\nhost %s\npid %ld\nboot %s\npidns %llu\n",
                 o->host, o->pid, o->boot, o->pidns);
    /* A reader that comes before the text sees an owner it cannot name: alive by its mtime. */
    if (n > 0 && write(fd, text, (size_t)n) < 0) {
        int saved = errno;
        close(fd);
        unlink(marker);
        errno = saved;
        return -1;
    }
    return fd;
}

/* The owner written in the marker open as fd; 0 when read, -1 when it names none (yet). */
static int read_owner(owner *out, int fd)
{
    char text[OWNER_MAX], *line, *next;
    ssize_t n;
    int found = 0;

    memset(out, 0, sizeof(*out));
    if (fd < 0)
        return -1;
    n = pread(fd, text, sizeof(text) - 1, 0);
    if (n <= 0)
        return -1;
    text[n] = '\0';
    for (line = text; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (strncmp(line, "host ", 5) == 0)
            found |= snprintf(out->host, sizeof(out->host), "%s", line + 5) >= 0 ? 1 : 0;
        else if (strncmp(line, "pid ", 4) == 0)
            found |= sscanf(line + 4, "%ld", &out->pid) == 1 ? 2 : 0;
        else if (strncmp(line, "boot ", 5) == 0)
            snprintf(out->boot, sizeof(out->boot), "%s", line + 5);
        else if (strncmp(line, "pidns ", 6) == 0)
            sscanf(line + 6, "%llu", &out->pidns);
    }
    return found == 3 ? 0 : -1;
}

/* What a waiter saw of a marker, to tell when it stops being touched. */
typedef struct watch {
    dev_t dev;
    ino_t ino;
    struct timespec mtime;
    int64_t since_ms; /* rz_now_ms when first seen so */
} watch;

/* Which marker file was judged: its inode and its last touch (a rename changes its ctime, not
 * these). */
typedef struct seen {
    dev_t dev;
    ino_t ino;
    struct timespec mtime;
} seen;

static void seen_of(seen *out, const struct stat *st)
{
    out->dev = st->st_dev;
    out->ino = st->st_ino;
    out->mtime = st->st_mtim;
}

static int seen_same(const seen *a, const struct stat *st)
{
    return a->dev == st->st_dev && a->ino == st->st_ino && a->mtime.tv_sec == st->st_mtim.tv_sec &&
           a->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/* Whether marker is stale: 1 stale (*out_seen says which file was judged), 0 alive (who names
 * its maker), -1 gone. w (may be NULL) remembers the marker across the tries of one wait. */
static int judge(const char *marker, watch *w, seen *out_seen, char *who)
{
    const owner *o = self();
    long stale = stale_seconds();
    struct stat st;
    owner them;
    double age;
    int named, fd;

    /* Opened first: on NFS an open revalidates the file's attributes (close-to-open), so the
     * mtime below is the last touch, not one the client cached up to acregmax seconds ago. */
    fd = open(marker, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0 ? lstat(marker, &st) < 0 : fstat(fd, &st) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    seen_of(out_seen, &st);
    named = read_owner(&them, fd) == 0;
    if (fd >= 0)
        close(fd);
    age = wall_seconds() - ((double)st.st_mtim.tv_sec + (double)st.st_mtim.tv_nsec / 1e9);
    if (who && named)
        snprintf(who, WHO_MAX, "host %s pid %ld (marker %s, touched %.0fs ago)", them.host,
                 them.pid, marker, age < 0 ? 0 : age);
    else if (who)
        snprintf(who, WHO_MAX, "a process still writing marker %s", marker);
    /* A process of this host (same boot, same pid namespace) that no longer runs. */
    if (named && strcmp(them.host, o->host) == 0 && strcmp(them.boot, o->boot) == 0 &&
        them.pidns == o->pidns && them.pid > 0 && kill((pid_t)them.pid, 0) < 0 && errno == ESRCH)
        return 1;
    if (age > (double)stale)
        return 1;
    if (w) {
        int64_t now = rz_now_ms();
        if (w->dev != st.st_dev || w->ino != st.st_ino || w->mtime.tv_sec != st.st_mtim.tv_sec ||
            w->mtime.tv_nsec != st.st_mtim.tv_nsec) {
            w->dev = st.st_dev;
            w->ino = st.st_ino;
            w->mtime = st.st_mtim;
            w->since_ms = now;
        } else if (now - w->since_ms >= (int64_t)stale * 1000) {
            return 1; /* not touched for that long as this process watched (clocks may differ) */
        }
    }
    return 0;
}

/* Remove the stale marker judged as judged, unless it changed since: done by the one process
 * that creates "<marker>.takeover", which looks again before it renames the marker aside. */
static void take_over(const char *marker, const seen *judged)
{
    char mutex[PATH_MAX], aside[PATH_MAX];
    unsigned long long token = 0;
    struct stat st;
    int fd;

    if (snprintf(mutex, sizeof(mutex), "%s%s", marker, TAKEOVER_SUFF) >= (int)sizeof(mutex))
        return;
    if ((fd = make_marker(mutex)) < 0) {
        /* A takeover that its maker did not finish (killed) is itself stale after a while. */
        if (errno == EEXIST && lstat(mutex, &st) == 0 &&
            wall_seconds() - (double)st.st_mtim.tv_sec > (double)stale_seconds())
            unlink(mutex);
        return;
    }
    close(fd);
    if (rz_random_bytes(&token, sizeof(token)) < 0)
        token = (unsigned long long)getpid() * 2654435761ULL ^ (unsigned long long)time(NULL);
    if (lstat(marker, &st) == 0 && seen_same(judged, &st) &&
        snprintf(aside, sizeof(aside), "%s" STALE_INFIX "%016llx", marker, token) < (int)sizeof(aside) &&
        rename(marker, aside) == 0) {
        /* Renamed what was judged, or (a takeover whose mutex was broken) a fresh marker that
         * replaced it: that one goes back unless someone made a new one meanwhile. */
        if (lstat(aside, &st) == 0 && !seen_same(judged, &st))
            (void)!link(aside, marker);
        unlink(aside);
    }
    unlink(mutex);
}

/* "<base>.shared-<16 hex>", new; into out (PATH_MAX). */
static int shared_name(char *out, size_t out_len, const char *base)
{
    unsigned long long token = 0;
    static unsigned long long counter;

    if (rz_random_bytes(&token, sizeof(token)) < 0)
        token = ((unsigned long long)getpid() << 32) ^ (unsigned long long)time(NULL);
    token ^= __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
    return snprintf(out, out_len, "%s%s%016llx", base, SHARED_SUFFIX, token) < (int)out_len ? 0
                                                                                            : -1;
}

/* 1 if a live shared marker of base exists (who names one), 0 if none; with sweep, stale ones
 * are removed (each is its maker's alone, so unlink is enough). -1 with errno. */
static int other_readers(const char *base, int sweep, char *who)
{
    char dir[PATH_MAX], prefix[NAME_MAX + 1], path[PATH_MAX];
    const char *slash = strrchr(base, '/');
    struct dirent *de;
    DIR *d;
    int busy = 0;

    if (snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - base) : 1, slash ? base : ".") >=
            (int)sizeof(dir) ||
        snprintf(prefix, sizeof(prefix), "%s%s", slash ? slash + 1 : base, SHARED_SUFFIX) >=
            (int)sizeof(prefix)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (!(d = opendir(dir[0] ? dir : "/")))
        return -1;
    while (!busy && (de = readdir(d))) {
        seen judged;
        if (strncmp(de->d_name, prefix, strlen(prefix)) != 0 ||
            strchr(de->d_name + strlen(prefix), '.') || /* a ".takeover" or ".stale-" */
            snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
            continue;
        if (judge(path, NULL, &judged, who) == 1) {
            if (sweep)
                unlink(path);
        } else if (lstat(path, &(struct stat){0}) == 0) {
            busy = 1;
        }
    }
    closedir(d);
    return busy;
}

/* Remove the marker this lock made, if its name still leads to it: when this process stalled
 * past REMOTEZOO_LOCK_STALE and another took the lock over, the name is the new holder's. */
static void files_drop(rz_lock *l)
{
    if (l->marker) {
        beat_remove(l->fd);
        if (still_named(l->fd, l->marker))
            unlink(l->marker);
        close(l->fd);
        l->fd = -1;
        free(l->marker);
        l->marker = NULL;
    }
}

/* Hold the marker just made (fd open on it): named in l, touched until files_drop. */
static int files_keep(rz_lock *l, const char *marker, int fd)
{
    if (!(l->marker = strdup(marker))) {
        close(fd);
        unlink(marker);
        errno = ENOMEM;
        return FAILED;
    }
    l->fd = fd;
    if (beat_add(fd) < 0) {
        int saved = errno;
        files_drop(l);
        errno = saved;
        return FAILED;
    }
    return TAKEN;
}

static int files_try(rz_lock *l, int op, watch *w, char *who)
{
    char base[PATH_MAX], held[PATH_MAX], mine[PATH_MAX];
    seen judged;
    int rc, fd;

    if (marker_base(base, sizeof(base), l) < 0 ||
        snprintf(held, sizeof(held), "%s%s", base, HELD_SUFFIX) >= (int)sizeof(held)) {
        errno = ENAMETOOLONG;
        return FAILED;
    }
    if (op == LOCK_EX) {
        if (!l->marker) {
            if ((fd = make_marker(held)) >= 0) {
                if (files_keep(l, held, fd) != TAKEN)
                    return FAILED;
            } else if (errno != EEXIST) {
                return FAILED;
            } else {
                rc = judge(held, w, &judged, who);
                if (rc == 1)
                    take_over(held, &judged);
                return rc == 0 ? BUSY : AGAIN;
            }
        }
        /* "X.held" is ours: the readers that came before it leave, new ones stay out. */
        rc = other_readers(base, 1, who);
        return rc < 0 ? FAILED : rc ? BUSY : TAKEN;
    }
    rc = judge(held, w, &judged, who);
    if (rc == 0)
        return BUSY;
    if (rc == 1) {
        take_over(held, &judged);
        return AGAIN;
    }
    if (shared_name(mine, sizeof(mine), base) < 0) {
        errno = ENAMETOOLONG;
        return FAILED;
    }
    if ((fd = make_marker(mine)) < 0)
        return FAILED;
    /* A writer may have made "X.held" before it saw this marker: then it waits for this one
     * to go, and this one goes. */
    if (judge(held, NULL, &judged, who) == 0) {
        close(fd);
        unlink(mine);
        return BUSY;
    }
    return files_keep(l, mine, fd);
}

/* ---- the common part ---- */

static int try_once(rz_lock *l, int op, watch *w, char *who)
{
    switch (l->mechanism) {
    case RZ_LOCK_FLOCK:
        return flock_try(l, op, who);
    case RZ_LOCK_POSIX:
        return posix_try(l, op, who);
    default:
        return files_try(l, op, w, who);
    }
}

/* Let go of what a wait left (a descriptor, a writer's marker) without holding the lock. */
static void abandon(rz_lock *l)
{
    files_drop(l); /* a marker's descriptor is l->fd */
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
}

static int timed_out(const rz_lock *l, long long limit, const char *who, rz_error *err)
{
    rz_error_set(err, RZ_E_OS,
                 "gave up after %llds waiting for a lock on %s, held by %s; if that process is "
                 "stuck, end it (REMOTEZOO_LOCK_TIMEOUT sets how long to wait, 0 for ever)",
                 limit, l->path, who[0] ? who : "another process");
    if (err) /* NULL: a best-effort caller that wants only the -1 */
        err->sys_errno = ETIMEDOUT;
    rz_error_attach_path(err, l->path);
    return -1;
}

static int take(rz_lock *l, int op, const rz_lock_wait *wait, rz_error *err)
{
    long long limit = timeout_seconds();
    long pause = SLEEP_MIN_NS;
    int64_t start = -1;
    watch w;
    int again = 0;

    memset(&w, 0, sizeof(w));
    for (;;) {
        char who[WHO_MAX] = "";
        int rc;

        l->mechanism = rz_lock_mechanism();
        if ((l->flags & PROBE_) && l->mechanism == RZ_LOCK_FILES)
            return PROBE_FILES; /* reached by a fallback: markers are judged, not taken */
        rc = try_once(l, op, &w, who);
        if (rc == TAKEN) {
            l->held = op;
            return 0;
        }
        if (rc == FAILED) {
            int e = errno;
            abandon(l);
            if (unsupported(e) && l->mechanism < RZ_LOCK_FILES &&
                __atomic_load_n(&level_auto, __ATOMIC_RELAXED)) {
                /* The lock file this try made is of no use where its locks do not work. */
                char made[PATH_MAX];
                if (((l->flags & RZ_LOCK_REMOVABLE) ||
                     ((l->flags & LOCK_DIR_) && l->mechanism == RZ_LOCK_POSIX)) &&
                    lock_file_path(made, sizeof(made), l) == 0)
                    unlink(made);
                rz_lock_use_at_least(l->mechanism + 1);
                continue;
            }
            return rz_error_os(err, e, l->path, "cannot lock %s (REMOTEZOO_LOCK=%s)", l->path,
                               names[l->mechanism]);
        }
        if (rc == AGAIN && ++again < AGAIN_MAX)
            continue;
        again = 0;
        if (wait && wait->try_only) {
            abandon(l);
            return RZ_LOCK_BUSY;
        }
        if (start < 0)
            start = rz_now_ms(); /* only a busy lock costs a clock read */
        if (wait && wait->cancel && wait->cancel(wait->payload)) {
            abandon(l);
            return rz_error_set(err, RZ_E_CALLBACK, "interrupted while waiting for %s", l->path);
        }
        if (limit > 0 && rz_now_ms() - start >= limit * 1000) {
            abandon(l);
            return timed_out(l, limit, who, err);
        }
        sleep_ns(pause);
        if (pause < SLEEP_MAX_NS)
            pause = pause * 2 > SLEEP_MAX_NS ? SLEEP_MAX_NS : pause * 2;
    }
}

int rz_lock_acquire(rz_lock *out, const char *path, int operation, int flags,
                    const rz_lock_wait *wait, rz_error *err)
{
    int rc = -1;

    *out = (rz_lock)RZ_LOCK_INIT;
    if (wait && wait->read_only) {
        if (operation == LOCK_SH)
            return 0; /* nothing held, nothing to release */
        rz_error_set(err, RZ_E_OS,
                     "the remotezoo cache is read-only (REMOTEZOO_READ_ONLY, a read-only mount, "
                     "or no write permission) and is not changed; downloads, registrations and "
                     "deletions need a writable REMOTEZOO_HOME");
        if (err)
            err->sys_errno = EROFS;
        rz_error_attach_path(err, path);
        return -1;
    }
    out->flags = flags & (RZ_LOCK_REMOVABLE | RZ_LOCK_OBJECT);
    out->path = strdup(path);
    if (!out->path)
        return rz_error_set(err, RZ_E_NOMEM, "out of memory");
    if (flags & RZ_LOCK_OBJECT) {
        struct stat st;
        if (lstat(path, &st) < 0) {
            rz_error_os(err, errno, path, "cannot lock %s", path);
            goto fail;
        }
        if (S_ISDIR(st.st_mode))
            out->flags |= LOCK_DIR_;
    }
    if ((rc = take(out, operation, wait, err)) == 0)
        return 0;
fail:
    free(out->path);
    out->path = NULL;
    return rc;
}

/* Drop the lock, keep path and flags. */
static void let_go(rz_lock *l)
{
    if (!l->held)
        return;
    switch (l->mechanism) {
    case RZ_LOCK_FLOCK:
        flock_release(l);
        break;
    case RZ_LOCK_POSIX:
        posix_release(l);
        break;
    default: {
        char base[PATH_MAX];
        files_drop(l);
        /* Shared markers of killed readers are removed by the next writer, or here, so that
         * none stays behind when no writer comes. */
        if (l->held == LOCK_SH && marker_base(base, sizeof(base), l) == 0)
            (void)other_readers(base, 1, NULL);
        break;
    }
    }
    l->held = 0;
}

int rz_lock_convert(rz_lock *lock, int operation, const rz_lock_wait *wait, rz_error *err)
{
    if (!lock->path)
        return rz_error_set(err, RZ_E_INVALID, "rz_lock_convert: nothing to convert");
    lock->flags |= KEEP_FILE_; /* the file stays between the two */
    let_go(lock);
    lock->flags &= ~KEEP_FILE_;
    return take(lock, operation, wait, err);
}

void rz_lock_release(rz_lock *lock)
{
    let_go(lock);
    abandon(lock);
    free(lock->path);
    lock->path = NULL;
}

/* The files mechanism's probe: the markers judged, none taken over or removed (a dry run
 * writes nothing; a stale one counts as free: the next taker takes it over). dir: path is a
 * directory, whose markers are inside it. */
static int files_probe(const char *path, int dir)
{
    char base[PATH_MAX], held[PATH_MAX], who[WHO_MAX];
    seen judged;

    if (snprintf(base, sizeof(base), "%s%s", path, dir ? DIR_MARKER : "") >= (int)sizeof(base) ||
        snprintf(held, sizeof(held), "%s%s", base, HELD_SUFFIX) >= (int)sizeof(held))
        return 0;
    if (judge(held, NULL, &judged, who) == 0)
        return 0;
    return other_readers(base, 0, who) == 0; /* unreadable: held, to be safe */
}

int rz_lock_probe(const char *path, int flags, const rz_lock_wait *wait)
{
    rz_lock l = RZ_LOCK_INIT;
    struct stat st;
    int exists = lstat(path, &st) == 0, dir, rc;

    if (wait && wait->read_only)
        return exists ? 1 : -1;
    if (!exists && ((flags & RZ_LOCK_OBJECT) || rz_lock_mechanism() != RZ_LOCK_FILES))
        return -1;
    dir = exists && (flags & RZ_LOCK_OBJECT) && S_ISDIR(st.st_mode);
    if (rz_lock_mechanism() == RZ_LOCK_FILES)
        return files_probe(path, dir);
    /* An existing lock file is locked as an object: the probe never creates one. */
    l.flags = RZ_LOCK_OBJECT | PROBE_ | (dir ? LOCK_DIR_ : 0);
    if (!(l.path = strdup(path)))
        return 0;
    rc = take(&l, LOCK_EX, &rz_lock_no_wait, NULL);
    rz_lock_release(&l);
    if (rc == PROBE_FILES)
        return files_probe(path, dir);
    if (rc < 0 && lstat(path, &st) < 0)
        return -1; /* gone meanwhile */
    return rc == 0;
}

/* 1 if s is "<n hex digits>" and nothing else. */
static int is_token(const char *s, size_t n)
{
    return strlen(s) == n && strspn(s, "0123456789abcdef") == n;
}

size_t rz_lock_marker_base(const char *name)
{
    const char *held = NULL, *shared = NULL, *at;

    for (at = strstr(name, HELD_SUFFIX); at; at = strstr(at + 1, HELD_SUFFIX))
        held = at;
    for (at = strstr(name, SHARED_SUFFIX); at; at = strstr(at + 1, SHARED_SUFFIX))
        shared = at;
    if (held && held > name) {
        const char *rest = held + strlen(HELD_SUFFIX);
        if (!*rest || strcmp(rest, TAKEOVER_SUFF) == 0 ||
            (strncmp(rest, STALE_INFIX, strlen(STALE_INFIX)) == 0 &&
             is_token(rest + strlen(STALE_INFIX), 16)))
            return (size_t)(held - name);
    }
    if (shared && shared > name && is_token(shared + strlen(SHARED_SUFFIX), 16))
        return (size_t)(shared - name);
    return 0;
}

__attribute__((constructor)) static void lock_init(void)
{
    pthread_atfork(NULL, NULL, beat_after_fork);
}
