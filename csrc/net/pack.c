/* pack.c - see pack.h. */
#include "net/pack.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/archive_name.h"
#include "util/buf.h"
#include "util/fsutil.h"

#define CHUNK     (1u << 20)
#define MAX_DEPTH 512

typedef struct packer {
    struct archive *out;
    struct archive_entry *entry;
    char *buf;    /* CHUNK bytes, owned */
    char *target; /* RZ_PATH_MAX bytes, owned: a link's target (not on the recursion's stack) */
    const char *archive_path;
    int (*check)(void *payload);
    void *payload;
    unsigned long entries;
    rz_error *err;
} packer;

static int archive_failed(packer *p, const char *what)
{
    return rz_error_set(p->err, RZ_E_ARCHIVE, "cannot write %s (%s): %s", p->archive_path, what,
                        archive_error_string(p->out) ? archive_error_string(p->out) : "?");
}

static int checkpoint(packer *p)
{
    if (p->check && p->check(p->payload))
        return rz_error_set(p->err, RZ_E_CALLBACK, "interrupted");
    return 0;
}

/* The header of name for st (and a link's target). */
static int header(packer *p, const char *name, const struct stat *st, const char *target)
{
    archive_entry_clear(p->entry);
    archive_entry_set_pathname(p->entry, name);
    archive_entry_set_mtime(p->entry, st->st_mtime, 0);
    archive_entry_set_uid(p->entry, 0);
    archive_entry_set_gid(p->entry, 0);
    if (S_ISDIR(st->st_mode)) {
        archive_entry_set_filetype(p->entry, AE_IFDIR);
        archive_entry_set_perm(p->entry, 0755);
    } else if (S_ISLNK(st->st_mode)) {
        archive_entry_set_filetype(p->entry, AE_IFLNK);
        archive_entry_set_perm(p->entry, 0777);
        archive_entry_set_symlink(p->entry, target);
    } else {
        archive_entry_set_filetype(p->entry, AE_IFREG);
        archive_entry_set_perm(p->entry, (st->st_mode & S_IXUSR) ? 0755 : 0644);
        archive_entry_set_size(p->entry, st->st_size);
    }
    if (++p->entries % 64 == 0 && checkpoint(p) < 0)
        return -1;
    return archive_write_header(p->out, p->entry) == ARCHIVE_OK ? 0 : archive_failed(p, name);
}

/* The file at path (st: what stat() said of it) as name. open_flags: O_NOFOLLOW refuses a link
 * at path (below an item), 0 follows it as stat() did (an item itself). */
static int add_file(packer *p, const char *name, const char *path, const struct stat *st,
                    int open_flags)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | open_flags), rc = -1;
    off_t left = st->st_size;
    struct stat now;

    if (fd < 0)
        return rz_error_os(p->err, errno, path, "cannot read %s", path);
    if (fstat(fd, &now) < 0 || !S_ISREG(now.st_mode) || now.st_size != st->st_size) {
        rz_error_set(p->err, RZ_E_OS, "%s changed while it was being packed", path);
        goto done;
    }
    if (header(p, name, st, NULL) < 0)
        goto done;
    while (left > 0) {
        ssize_t n = read(fd, p->buf, left < (off_t)CHUNK ? (size_t)left : CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n < 0)
                rz_error_os(p->err, errno, path, "cannot read %s", path);
            else
                rz_error_set(p->err, RZ_E_OS, "%s shrank while it was being packed", path);
            goto done;
        }
        if (archive_write_data(p->out, p->buf, (size_t)n) != n) {
            archive_failed(p, name);
            goto done;
        }
        left -= n;
        if (checkpoint(p) < 0)
            goto done;
    }
    rc = 0;
done:
    close(fd);
    return rc;
}

static int add_path(packer *p, const char *name, const char *path, int follow, int depth);

static int add_dir(packer *p, const char *name, const char *path, const struct stat *st, int depth)
{
    char **names = NULL;
    size_t n = 0, i;
    int rc = -1;

    if (depth > MAX_DEPTH)
        return rz_error_set(p->err, RZ_E_INVALID, "%s is nested too deep", path);
    if (header(p, name, st, NULL) < 0 || rz_list_dir(&names, &n, path, p->err) < 0)
        return -1;
    for (i = 0; i < n; i++) {
        char *child_name, *child_path = NULL;
        if (strcmp(names[i], "__pycache__") == 0)
            continue;
        rc = (child_name = rz_path(p->err, "%s/%s", name, names[i])) &&
                     (child_path = rz_path(p->err, "%s/%s", path, names[i]))
                 ? add_path(p, child_name, child_path, 0, depth + 1)
                 : -1;
        free(child_name);
        free(child_path);
        if (rc < 0)
            goto done;
    }
    rc = 0;
done:
    rz_names_free(names, n);
    return rc;
}

static int add_path(packer *p, const char *name, const char *path, int follow, int depth)
{
    struct stat st;

    if ((follow ? stat(path, &st) : lstat(path, &st)) < 0)
        return rz_error_os(p->err, errno, path, "cannot read %s", path);
    if (S_ISDIR(st.st_mode))
        return add_dir(p, name, path, &st, depth);
    if (S_ISREG(st.st_mode)) /* the item itself may be a link to a file: pack what it leads to */
        return add_file(p, name, path, &st, follow ? 0 : O_NOFOLLOW);
    if (S_ISLNK(st.st_mode)) {
        ssize_t len = readlink(path, p->target, RZ_PATH_MAX - 1);
        if (len < 0)
            return rz_error_os(p->err, errno, path, "cannot read the link %s", path);
        p->target[len] = '\0';
        return header(p, name, &st, p->target);
    }
    return rz_error_set(p->err, RZ_E_INVALID, "%s is neither a file, a directory nor a link", path);
}

static int set_filter(packer *p)
{
    const char *a = p->archive_path;
    size_t suffix;
    int rc;

    switch (rz_archive_suffix(a, strlen(a), 0, &suffix)) {
    case RZ_ARCHIVE_TAR_ZST:
        rc = archive_write_add_filter_zstd(p->out);
        break;
    case RZ_ARCHIVE_TAR_GZ:
        rc = archive_write_add_filter_gzip(p->out);
        break;
    case RZ_ARCHIVE_TAR_XZ:
        rc = archive_write_add_filter_xz(p->out);
        break;
    case RZ_ARCHIVE_TAR:
        rc = archive_write_add_filter_none(p->out);
        break;
    default:
        return rz_error_set(p->err, RZ_E_INVALID,
                            "%s: a bundle is a .tar.zst, .tar.gz, .tar.xz or .tar file", a);
    }
    return rc == ARCHIVE_OK ? 0 : archive_failed(p, "compression");
}

int rz_pack(const char *archive_path, const rz_pack_item *items, size_t n_items,
            int (*check)(void *payload), void *payload, rz_error *err)
{
    packer p = {NULL, NULL, NULL, NULL, archive_path, check, payload, 0, err};
    char *tmp = NULL;
    int fd = -1, rc = -1;
    size_t i;

    for (i = 0; i < n_items; i++)
        if (!rz_path_is_clean(items[i].name))
            return rz_error_set(err, RZ_E_INVALID, "'%s' is not a clean name in an archive",
                                items[i].name);
    if (!(tmp = rz_temp_path_beside(archive_path, ".tmp-", err)))
        goto done;
    if (!(p.buf = malloc(CHUNK)) || !(p.target = malloc(RZ_PATH_MAX)) ||
        !(p.entry = archive_entry_new()) || !(p.out = archive_write_new())) {
        rz_error_set(err, RZ_E_NOMEM, "out of memory");
        goto done;
    }
    if (set_filter(&p) < 0)
        goto done;
    if (archive_write_set_format_pax_restricted(p.out) != ARCHIVE_OK) {
        archive_failed(&p, "format");
        goto done;
    }
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        rz_error_os(err, errno, archive_path, "cannot create a temporary file beside %s",
                    archive_path);
        goto done;
    }
    if (archive_write_open_fd(p.out, fd) != ARCHIVE_OK) {
        archive_failed(&p, "open");
        goto done;
    }
    for (i = 0; i < n_items; i++)
        if (add_path(&p, items[i].name, items[i].path, 1, 0) < 0)
            goto done;
    if (archive_write_close(p.out) != ARCHIVE_OK) {
        archive_failed(&p, "close");
        goto done;
    }
    if (fchmod(fd, 0644) < 0 || fsync(fd) < 0) {
        rz_error_os(err, errno, archive_path, "cannot write %s", archive_path);
        goto done;
    }
    if (rename(tmp, archive_path) < 0) {
        rz_error_os(err, errno, archive_path, "cannot write %s", archive_path);
        goto done;
    }
    free(tmp);
    tmp = NULL; /* renamed: nothing to remove */
    rc = rz_fsync_parent(archive_path, err);
done:
    if (p.out)
        archive_write_free(p.out);
    if (fd >= 0) {
        close(fd);
        if (tmp)
            unlink(tmp);
    }
    free(tmp);
    archive_entry_free(p.entry);
    free(p.buf);
    free(p.target);
    return rc;
}
