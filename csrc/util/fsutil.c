/* fsutil.c - see fsutil.h. */
#include "util/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* One directory on rz_rmtree's way down: its identity, and its name in its parent. */
typedef struct rmtree_level {
    dev_t dev;
    ino_t ino;
    char *name; /* owned; NULL for the root */
} rmtree_level;

static int is_dot_or_dotdot(const char *name)
{
    return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

/* Remove what is in the open directory dir except subdirectories. Sets *out_subdir to the name
 * of the first subdirectory met (a pointer into dir's buffer, valid until the next readdir) with
 * its stat in *out_st, or NULL if none is left. */
static int clear_files(const char **out_subdir, struct stat *out_st, DIR *dir, const char *root,
                       rz_error *err)
{
    struct dirent *de;
    int removed;

    *out_subdir = NULL;
    do {
        removed = 0;
        rewinddir(dir);
        errno = 0;
        while ((de = readdir(dir)) != NULL) {
            if (is_dot_or_dotdot(de->d_name))
                continue;
            if (fstatat(dirfd(dir), de->d_name, out_st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT)
                    continue;
                return rz_error_os(err, errno, root, "cannot remove %s (at %s)", root, de->d_name);
            }
            if (S_ISDIR(out_st->st_mode)) {
                *out_subdir = de->d_name;
                return 0;
            }
            if (unlinkat(dirfd(dir), de->d_name, 0) < 0 && errno != ENOENT)
                return rz_error_os(err, errno, root, "cannot remove %s (at %s)", root, de->d_name);
            removed = 1;
            errno = 0;
        }
        if (errno != 0)
            return rz_error_os(err, errno, root, "cannot read directory while removing %s", root);
    } while (removed); /* a pass that removed something may have missed entries: look again */
    return 0;
}

int rz_rmtree(const char *path, rz_error *err)
{
    rmtree_level *stack = NULL, *grown = NULL;
    size_t depth = 0, cap = 0;
    DIR *dir = NULL;
    int fd = -1, child = -1, parent = -1, rc = -1;
    struct stat st, st2;
    dev_t root_dev;
    const char *subdir;

    if (lstat(path, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        return rz_error_os(err, errno, path, "cannot remove %s", path);
    }
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) < 0 && errno != ENOENT)
            return rz_error_os(err, errno, path, "cannot remove %s", path);
        return 0;
    }
    fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        rz_error_os(err, errno, path, "cannot remove %s", path);
        goto done;
    }
    root_dev = st.st_dev;
    cap = 16;
    stack = calloc(cap, sizeof(*stack));
    if (!stack) {
        rz_error_set(err, RZ_E_NOMEM, "out of memory removing %s", path);
        goto done;
    }
    stack[0].dev = st.st_dev;
    stack[0].ino = st.st_ino;
    depth = 1;
    for (;;) {
        dir = fdopendir(fd);
        if (!dir) {
            rz_error_os(err, errno, path, "cannot read directory while removing %s", path);
            goto done;
        }
        fd = -1; /* owned by dir now */
        if (clear_files(&subdir, &st, dir, path, err) < 0)
            goto done;
        if (subdir) {
            if (st.st_dev != root_dev) {
                rz_error_os(err, EXDEV, path, "refusing to remove %s: %s is a mount point", path,
                            subdir);
                goto done;
            }
            if (depth >= RZ_RMTREE_MAX_DEPTH) {
                rz_error_os(err, ELOOP, path, "cannot remove %s: nested too deep", path);
                goto done;
            }
            if (depth == cap) {
                grown = realloc(stack, 2 * cap * sizeof(*stack));
                if (!grown) {
                    rz_error_set(err, RZ_E_NOMEM, "out of memory removing %s", path);
                    goto done;
                }
                stack = grown;
                cap *= 2;
            }
            child = openat(dirfd(dir), subdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (child < 0 || fstat(child, &st2) < 0 || st2.st_ino != st.st_ino ||
                st2.st_dev != st.st_dev) {
                rz_error_os(err, child < 0 ? errno : EBUSY, path,
                            "cannot remove %s (at %s, changed while removing)", path, subdir);
                goto done;
            }
            stack[depth].dev = st.st_dev;
            stack[depth].ino = st.st_ino;
            stack[depth].name = strdup(subdir);
            if (!stack[depth].name) {
                rz_error_set(err, RZ_E_NOMEM, "out of memory removing %s", path);
                goto done;
            }
            depth++;
            closedir(dir);
            dir = NULL;
            fd = child;
            child = -1;
            continue;
        }
        /* This directory is empty now. */
        if (depth == 1) {
            closedir(dir);
            dir = NULL;
            if (rmdir(path) < 0 && errno != ENOENT) {
                rz_error_os(err, errno, path, "cannot remove %s", path);
                goto done;
            }
            rc = 0;
            goto done;
        }
        parent = openat(dirfd(dir), "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (parent < 0 || fstat(parent, &st2) < 0 || st2.st_dev != stack[depth - 2].dev ||
            st2.st_ino != stack[depth - 2].ino) {
            rz_error_os(err, parent < 0 ? errno : EBUSY, path,
                        "cannot remove %s: a directory was moved while removing", path);
            goto done;
        }
        closedir(dir);
        dir = NULL;
        if (unlinkat(parent, stack[depth - 1].name, AT_REMOVEDIR) < 0 && errno != ENOENT) {
            rz_error_os(err, errno, path, "cannot remove %s (at %s)", path, stack[depth - 1].name);
            goto done;
        }
        free(stack[depth - 1].name);
        stack[depth - 1].name = NULL;
        depth--;
        fd = parent;
        parent = -1;
    }
done:
    if (dir)
        closedir(dir);
    if (fd >= 0)
        close(fd);
    if (child >= 0)
        close(child);
    if (parent >= 0)
        close(parent);
    while (depth > 0) {
        free(stack[depth - 1].name);
        depth--;
    }
    free(stack);
    return rc;
}

int rz_mkdirs(const char *path, mode_t mode, rz_error *err)
{
    char *buf;
    size_t len, i;
    struct stat st;
    int rc = 0;

    if (strlen(path) >= RZ_PATH_MAX)
        return rz_error_os(err, ENAMETOOLONG, path, "cannot create directory %s", path);
    if (!(buf = strdup(path)))
        return rz_error_set(err, RZ_E_NOMEM, "out of memory");
    len = strlen(buf);
    while (len > 1 && buf[len - 1] == '/')
        buf[--len] = '\0';
    for (i = 1; i <= len && rc == 0; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        buf[i] = '\0';
        if (mkdir(buf, mode) < 0) {
            int saved = errno;
            if (saved != EEXIST || stat(buf, &st) < 0 || !S_ISDIR(st.st_mode))
                rc = rz_error_os(err, saved == EEXIST ? ENOTDIR : saved, buf,
                                 "cannot create directory %s", buf);
        }
        if (i < len)
            buf[i] = '/';
    }
    free(buf);
    return rc;
}

int rz_fsync_dir(const char *path, rz_error *err)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        return rz_error_os(err, errno, path, "cannot open directory %s", path);
    if (fsync(fd) < 0 && errno != EINVAL) { /* EINVAL: the file system cannot sync dirs */
        int saved = errno;
        close(fd);
        return rz_error_os(err, saved, path, "cannot sync directory %s", path);
    }
    close(fd);
    return 0;
}

/* Split target into its canonical parent (malloc'd, *out_parent) and its last component
 * (*out_base, pointing into *out_copy, which is malloc'd too). */
static int split_target(char **out_parent, char **out_copy, const char **out_base,
                        const char *target, rz_error *err)
{
    char *copy = NULL, *slash, *parent = NULL;
    size_t len;

    copy = strdup(target);
    if (!copy)
        return rz_error_set(err, RZ_E_NOMEM, "out of memory");
    len = strlen(copy);
    while (len > 1 && copy[len - 1] == '/')
        copy[--len] = '\0';
    slash = strrchr(copy, '/');
    if (slash)
        *slash = '\0';
    *out_base = slash ? slash + 1 : copy;
    if (**out_base == '\0' || strcmp(*out_base, ".") == 0 || strcmp(*out_base, "..") == 0) {
        rz_error_os(err, EINVAL, target, "%s does not name a new directory", target);
        free(copy);
        return -1;
    }
    parent = realpath(slash ? (copy[0] ? copy : "/") : ".", NULL);
    if (!parent) {
        rz_error_os(err, errno, target, "cannot use %s: its parent directory is not usable",
                    target);
        free(copy);
        return -1;
    }
    *out_parent = parent;
    *out_copy = copy;
    return 0;
}

int rz_path_beside(char **out, const char *target, rz_error *err)
{
    char *parent = NULL, *copy = NULL, *path = NULL;
    const char *base;
    size_t size;

    *out = NULL;
    if (split_target(&parent, &copy, &base, target, err) < 0)
        return -1;
    size = strlen(parent) + strlen(base) + 2;
    path = malloc(size);
    if (!path) {
        rz_error_set(err, RZ_E_NOMEM, "out of memory");
    } else {
        snprintf(path, size, "%s%s%s", parent, strcmp(parent, "/") ? "/" : "", base);
        *out = path;
    }
    free(parent);
    free(copy);
    return *out ? 0 : -1;
}

int rz_mkdtemp_in(char **out, const char *dir, const char *prefix, rz_error *err)
{
    *out = NULL;
    for (int attempt = 0;; attempt++) {
        char *path;
        int e;

        if (rz_mkdirs(dir, 0755, err) < 0) {
            if (err->kind == RZ_E_OS && err->sys_errno == ENOENT && attempt < 4) {
                rz_error_init(err); /* a parent vanished between two mkdir()s */
                continue;
            }
            return -1;
        }
        if (!(path = rz_path(err, "%s/%sXXXXXX", dir, prefix)))
            return -1;
        if (mkdtemp(path)) {
            *out = path;
            return 0;
        }
        e = errno;
        free(path);
        if (e != ENOENT || attempt == 4) /* ENOENT: dir vanished (a sweep), made again above */
            return rz_error_os(err, e, dir, "cannot create a temporary directory in %s", dir);
    }
}

int rz_temp_name(char *out, size_t out_len, const char *base, const char *tag)
{
    size_t fixed = 1 + strlen(tag) + 6, keep = strlen(base);
    int cut = 0;

    if (out_len <= RZ_TEMP_NAME_MAX || fixed + 1 > RZ_TEMP_NAME_MAX)
        return -1;
    if (fixed + keep > RZ_TEMP_NAME_MAX) {
        keep = RZ_TEMP_NAME_MAX - fixed - 1; /* room for the '~' */
        cut = 1;
    }
    snprintf(out, out_len, ".%.*s%s%sXXXXXX", (int)keep, base, cut ? "~" : "", tag);
    return 0;
}

int rz_mkdtemp_beside(char **out, const char *target, rz_error *err)
{
    char *parent = NULL, *copy = NULL, *path = NULL, name[RZ_TEMP_NAME_MAX + 1];
    const char *base;
    size_t size;
    int rc = -1;

    *out = NULL;
    if (split_target(&parent, &copy, &base, target, err) < 0)
        return -1;
    if (rz_temp_name(name, sizeof(name), base, ".tmp-") < 0) {
        rz_error_set(err, RZ_E_INVALID, "no temporary name for %s", target);
        goto done;
    }
    size = strlen(parent) + strlen(name) + 2;
    path = malloc(size);
    if (!path) {
        rz_error_set(err, RZ_E_NOMEM, "out of memory");
        goto done;
    }
    snprintf(path, size, "%s/%s", strcmp(parent, "/") ? parent : "", name);
    if (!mkdtemp(path)) {
        rz_error_os(err, errno, target, "cannot create a temporary directory beside %s", target);
        goto done;
    }
    *out = path;
    path = NULL;
    rc = 0;
done:
    free(path);
    free(parent);
    free(copy);
    return rc;
}

int rz_read_fd(char **out, size_t *out_len, int fd, size_t max, const char *path, rz_error *err)
{
    size_t cap = 64 * 1024, len = 0;
    char *data = malloc(cap + 1), *bigger;

    *out = NULL;
    *out_len = 0;
    if (!data)
        return rz_error_set(err, RZ_E_NOMEM, "out of memory");
    for (;;) {
        ssize_t n;

        if (len == cap) {
            if (cap >= max) {
                /* Exactly max bytes is fine: only a byte past it is too many. */
                char probe;
                do
                    n = read(fd, &probe, 1);
                while (n < 0 && errno == EINTR);
                if (n == 0)
                    break;
                free(data);
                if (n < 0)
                    return rz_error_os(err, errno, path, "cannot read %s", path);
                return rz_error_set(err, RZ_E_INVALID, "%s is larger than %zu bytes", path, max);
            }
            cap = cap * 2 > max ? max : cap * 2;
            bigger = realloc(data, cap + 1);
            if (!bigger) {
                free(data);
                return rz_error_set(err, RZ_E_NOMEM, "out of memory");
            }
            data = bigger;
        }
        n = read(fd, data + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            free(data);
            return rz_error_os(err, errno, path, "cannot read %s", path);
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    data[len] = '\0';
    *out = data;
    *out_len = len;
    return 0;
}

char *rz_temp_path_beside(const char *path, const char *tag, rz_error *err)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char name[RZ_TEMP_NAME_MAX + 1];

    if (!base[0] || strcmp(base, ".") == 0 || strcmp(base, "..") == 0 ||
        rz_temp_name(name, sizeof(name), base, tag) < 0) {
        rz_error_set(err, RZ_E_INVALID, "cannot write %s: not a file path", path);
        return NULL;
    }
    return rz_path(err, "%.*s%s", slash ? (int)(slash - path + 1) : 0, path, name);
}

int rz_fsync_parent(const char *path, rz_error *err)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    int rc;

    if (!slash)
        return rz_fsync_dir(".", err);
    if (!(dir = slash == path ? strdup("/") : strndup(path, (size_t)(slash - path))))
        return rz_error_set(err, RZ_E_NOMEM, "out of memory");
    rc = rz_fsync_dir(dir, err);
    free(dir);
    return rc;
}

int rz_write_atomic(const char *path, const void *data, size_t len, rz_error *err)
{
    const char *p = data;
    char *tmp;
    int fd = -1, rc = -1;

    if (!(tmp = rz_temp_path_beside(path, ".tmp-", err)))
        return -1;
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        rz_error_os(err, errno, path, "cannot create a temporary file beside %s", path);
        goto done;
    }
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rz_error_os(err, errno, path, "cannot write %s", path);
            goto fail;
        }
        p += n;
        len -= (size_t)n;
    }
    if (fchmod(fd, 0600) < 0 || fsync(fd) < 0) { /* private: see fsutil.h */
        rz_error_os(err, errno, path, "cannot write %s", path);
        goto fail;
    }
    if (close(fd) < 0) {
        fd = -1;
        rz_error_os(err, errno, path, "cannot write %s", path);
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) < 0) {
        rz_error_os(err, errno, path, "cannot replace %s", path);
        goto fail;
    }
    rc = rz_fsync_parent(path, err);
    goto done;
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
done:
    free(tmp);
    return rc;
}

int rz_path_is_clean(const char *path)
{
    if (path[0] == '\0' || path[0] == '/')
        return 0;
    for (;;) {
        size_t len = strcspn(path, "/");
        if (len == 0 || (len == 1 && path[0] == '.') ||
            (len == 2 && path[0] == '.' && path[1] == '.') || strncmp(path, ".rz-", 4) == 0)
            return 0;
        if (path[len] == '\0')
            return 1;
        path += len + 1;
    }
}

int rz_compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int rz_list_dir(char ***out, size_t *out_n, const char *path, rz_error *err)
{
    DIR *d = opendir(path);
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0;

    *out = NULL;
    *out_n = 0;
    if (!d)
        return rz_error_os(err, errno, path, "cannot read directory %s", path);
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n == RZ_LIST_DIR_MAX) {
            closedir(d);
            rz_names_free(names, n);
            return rz_error_set(err, RZ_E_INVALID, "%s has more than %u entries", path,
                                RZ_LIST_DIR_MAX);
        }
        if (n == cap) {
            char **grown = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof(*names));
            if (!grown)
                goto nomem;
            names = grown;
        }
        if (!(names[n] = strdup(de->d_name)))
            goto nomem;
        n++;
    }
    closedir(d);
    if (n > 1) /* qsort(NULL, 0, ...) is undefined */
        qsort(names, n, sizeof(*names), rz_compare_names);
    *out = names;
    *out_n = n;
    return 0;
nomem:
    closedir(d);
    rz_names_free(names, n);
    return rz_error_set(err, RZ_E_NOMEM, "out of memory");
}

void rz_names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}
