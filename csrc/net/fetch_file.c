/* fetch_file.c - see fetch_file.h. */
#include "net/fetch_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/fetch_parallel.h"
#include "net/fetch_private.h"
#include "net/sha256.h"
#include "util/fsutil.h"
#include "util/lock.h"
#include "util/writeback.h"

/* Removes the temporary files that downloads to the same path killed before they could clean
 * up (SIGKILL, power loss) left: tmp's siblings named like it ("." base ".part-" and 6
 * characters) whose lock (lock.h) can be taken. A live download holds the lock on its
 * temporary file from creation to rename (create_temp), so it is never touched. Best effort. */
static void remove_stale_parts(const char *tmp)
{
    const char *slash = strrchr(tmp, '/');
    const char *name = slash ? slash + 1 : tmp;
    size_t prefix_len = strlen(name) - 6; /* without the XXXXXX */
    char *dir = !slash ? strdup(".") : slash == tmp ? strdup("/") : strndup(tmp, slash - tmp);
    struct dirent *de = NULL;
    DIR *d = dir ? opendir(dir) : NULL;

    while (d && (de = readdir(d))) {
        rz_lock lock = RZ_LOCK_INIT;
        struct stat st;
        char *path;
        if (strlen(de->d_name) != prefix_len + 6 || strncmp(de->d_name, name, prefix_len) != 0 ||
            strcmp(de->d_name, name) == 0 || !(path = rz_path(NULL, "%s/%s", dir, de->d_name)))
            continue;
        if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
            rz_lock_acquire(&lock, path, LOCK_EX, RZ_LOCK_OBJECT, &rz_lock_no_wait, NULL) == 0)
            unlink(path);
        rz_lock_release(&lock);
        free(path);
    }
    if (d)
        closedir(d);
    free(dir);
}

/* Creates the temporary file for path (template in tmp, filled in) and takes its lock (into
 * lock; released after the rename), so remove_stale_parts of another download leaves it alone;
 * retries if such a sweep removed it between creation and locking. Returns the descriptor or
 * -1 with errno set. */
static int create_temp(char *tmp, rz_lock *lock)
{
    size_t len = strlen(tmp);

    for (int attempt = 0; attempt < 8; attempt++) {
        struct stat st;
        rz_error ignored;
        int fd;
        memcpy(tmp + len - 6, "XXXXXX", 6);
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
            return -1;
        rz_error_init(&ignored);
        if (rz_lock_acquire(lock, tmp, LOCK_EX, RZ_LOCK_OBJECT, NULL, &ignored) == 0 &&
            fstat(fd, &st) == 0 && st.st_nlink > 0)
            return fd;
        rz_lock_release(lock);
        close(fd);
    }
    errno = EAGAIN;
    return -1;
}

/* 0666 minus the process umask, read without changing it (umask(2) would race threads). */
static mode_t file_mode(void)
{
    char line[128];
    mode_t mask = 022;
    FILE *f = fopen("/proc/self/status", "re");

    if (f) {
        while (fgets(line, sizeof(line), f))
            if (strncmp(line, "Umask:", 6) == 0) {
                mask = (mode_t)strtol(line + 6, NULL, 8) & 0777;
                break;
            }
        fclose(f);
    }
    return 0666 & ~mask;
}

static int write_all(int fd, const void *data, size_t len, const char *path, rz_error *err)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return rz_error_os(err, errno, path, "cannot write %s", path);
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int rz_fetch_to_file(char *out_sha256, const char *url, const char *path, const char *sha256_hex,
                     const rz_fetch_opts *opts, rz_error *err)
{
    static const char *const want_accept_ranges[] = {"Accept-Ranges", NULL};
    char *tmp = NULL, actual[RZ_SHA256_HEX_LEN + 1];
    rz_stream *s = NULL;
    rz_sha256 *hash = NULL;
    const void *data = NULL;
    size_t n = 0;
    int64_t written = 0, flushed = 0;
    int fd = -1, have_tmp = 0, par = RZ_PARALLEL_NOT_USED;
    rz_lock tmp_lock = RZ_LOCK_INIT;
    rz_writeback wb;

    if (sha256_hex && !rz_sha256_is_hex(sha256_hex)) {
        rz_error_set(err, RZ_E_INVALID, "sha256 for %s must be 64 hex digits", path);
        goto fail;
    }
    if (rz_fetch_check_offline(url, err) < 0)
        goto fail;
    if (!(tmp = rz_temp_path_beside(path, ".part-", err)))
        goto fail;
    fd = create_temp(tmp, &tmp_lock);
    if (fd < 0) {
        rz_error_os(err, errno, path, "cannot create a temporary file beside %s", path);
        goto fail;
    }
    have_tmp = 1;
    rz_writeback_begin(&wb, fd);
    remove_stale_parts(tmp);
    if (fchmod(fd, file_mode()) < 0) {
        rz_error_os(err, errno, tmp, "cannot set the mode of %s", tmp);
        goto fail;
    }
    if ((sha256_hex || out_sha256) && rz_sha256_new(&hash, err) < 0)
        goto fail;
    if (rz_stream_open_file(&s, url, opts, want_accept_ranges, err) < 0)
        goto fail;
    par = rz_fetch_parallel(s, &wb, tmp, hash, opts, &written, err);
    if (par < 0)
        goto fail;
    if (par == RZ_PARALLEL_FALLBACK) { /* start over, on one connection */
        rz_stream_close(s);
        s = NULL;
        written = 0;
        if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
            rz_error_os(err, errno, tmp, "cannot truncate %s", tmp);
            goto fail;
        }
        if (hash && rz_sha256_reset(hash, err) < 0)
            goto fail;
        if (rz_stream_open_file(&s, url, opts, NULL, err) < 0)
            goto fail;
    }
    while (par != RZ_PARALLEL_DONE) {
        if (rz_stream_read(s, &data, &n, err) < 0)
            goto fail;
        if (rz_stream_restarted(s)) {
            written = flushed = 0;
            if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
                rz_error_os(err, errno, tmp, "cannot truncate %s", tmp);
                goto fail;
            }
            if (hash && rz_sha256_reset(hash, err) < 0)
                goto fail;
        }
        if (n == 0)
            break;
        if (write_all(fd, data, n, tmp, err) < 0 ||
            (hash && rz_sha256_update(hash, data, n, err) < 0))
            goto fail;
        written += (int64_t)n;
        rz_writeback_wrote(&wb, &flushed, written, 0);
    }
    if (rz_stream_total(s) >= 0 && written != rz_stream_total(s)) { /* promised; checked again */
        rz_error_set(err, RZ_E_DOWNLOAD, "download of %s holds %lld of %lld bytes; try again",
                     rz_stream_shown_url(s), (long long)written, (long long)rz_stream_total(s));
        goto fail;
    }
    if (hash &&
        (rz_sha256_final_hex(hash, actual, err) < 0 ||
         (sha256_hex && rz_sha256_check(sha256_hex, actual, rz_stream_shown_url(s), err) < 0)))
        goto fail;
    rz_writeback_end(&wb);
    if (fsync(fd) < 0) {
        rz_error_os(err, errno, tmp, "cannot flush %s", tmp);
        goto fail;
    }
    if (opts && opts->progress && opts->progress(written, written, opts->payload) != 0) {
        rz_error_set(err, RZ_E_CALLBACK, "download of %s was stopped", rz_stream_shown_url(s));
        goto fail;
    }
    /* The descriptor (and its lock, see remove_stale_parts) is kept until the rename; its data
     * is on disk already (fsync above), so a late close error is not one. */
    if (rename(tmp, path) < 0) {
        rz_error_os(err, errno, path, "cannot move the download into place at %s", path);
        goto fail;
    }
    rz_lock_release(&tmp_lock);
    close(fd);
    fd = -1;
    /* The rename itself made durable, as rz_write_atomic does; best effort, as the file is in
     * place already and failing now would report as failed a download that stays. */
    (void)rz_fsync_parent(path, NULL);
    if (out_sha256)
        memcpy(out_sha256, actual, sizeof(actual));
    rz_stream_close(s);
    rz_sha256_free(hash);
    free(tmp);
    return 0;
fail:
    if (fd >= 0)
        rz_writeback_end(&wb);
    if (have_tmp)
        unlink(tmp);
    rz_lock_release(&tmp_lock);
    if (fd >= 0)
        close(fd);
    rz_stream_close(s);
    rz_sha256_free(hash);
    free(tmp);
    rz_error_attach_url(err, url);
    return -1;
}
