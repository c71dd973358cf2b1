/* digest.c - see digest.h. */
#include "net/digest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fsutil.h"

#define READ_CHUNK (1u << 20)

typedef struct walk {
    rz_sha256 *tree;  /* the tree's record stream */
    rz_sha256 *file;  /* one file's bytes, reset per file */
    char *buf;        /* READ_CHUNK bytes, owned */
    char *path;       /* RZ_PATH_MAX bytes, owned: the entry being visited */
    char *target;     /* RZ_PATH_MAX bytes, owned: a link's target (not on the stack of a
                       * recursion RZ_DIGEST_MAX_DEPTH deep) */
    size_t root_len;  /* where the relative path starts in path (after the '/') */
    uint64_t entries; /* visited so far: a checkpoint every 64 */
    int flags;
    rz_digest *out;
    rz_digest_check_fn check;
    void *payload;
    rz_error *err;
} walk;

static int checkpoint(walk *w)
{
    if (w->check && w->check(w->payload))
        return rz_error_set(w->err, RZ_E_CALLBACK, "interrupted");
    return 0;
}

/* The bytes of the file at path into h (open_flags: O_NOFOLLOW refuses a link, 0 follows it);
 * *out_size their number. */
static int hash_file(walk *w, rz_sha256 *h, const char *path, int open_flags, uint64_t *out_size)
{
    return rz_sha256_file(h, out_size, path, open_flags, w->buf, READ_CHUNK, w->check, w->payload,
                          w->err);
}

/* One NUL-terminated field of a record. */
static int field(walk *w, const char *text)
{
    return rz_sha256_update(w->tree, text, strlen(text) + 1, w->err);
}

/* The records of the entries of the directory at w->path (path_len bytes long). */
static int walk_dir(walk *w, size_t path_len, int depth)
{
    char **names = NULL, size_text[32], hex[RZ_SHA256_HEX_LEN + 1];
    size_t n = 0, i;
    int rc = -1;

    if (depth > RZ_DIGEST_MAX_DEPTH)
        return rz_error_set(w->err, RZ_E_INVALID, "%s is nested more than %d levels deep", w->path,
                            RZ_DIGEST_MAX_DEPTH);
    if (rz_list_dir(&names, &n, w->path, w->err) < 0)
        return -1;
    for (i = 0; i < n; i++) {
        size_t len = strlen(names[i]);
        const char *rel;
        struct stat st;
        if (path_len + 1 + len >= RZ_PATH_MAX) {
            rz_error_set(w->err, RZ_E_INVALID, "path too long: %s/%s", w->path, names[i]);
            goto done;
        }
        w->path[path_len] = '/';
        memcpy(w->path + path_len + 1, names[i], len + 1);
        rel = w->path + w->root_len;
        if (lstat(w->path, &st) < 0) {
            rz_error_os(w->err, errno, w->path, "cannot read %s", w->path);
            goto done;
        }
        if (++w->entries % 64 == 0 && checkpoint(w) < 0)
            goto done;
        if (S_ISDIR(st.st_mode)) {
            if ((w->flags & RZ_DIGEST_SKIP_PYCACHE) && strcmp(names[i], "__pycache__") == 0)
                continue;
            if (field(w, "d") < 0 || field(w, rel) < 0 ||
                walk_dir(w, path_len + 1 + len, depth + 1) < 0)
                goto done;
        } else if (S_ISREG(st.st_mode)) {
            uint64_t size;
            if (rz_sha256_reset(w->file, w->err) < 0 ||
                hash_file(w, w->file, w->path, O_NOFOLLOW, &size) < 0 ||
                rz_sha256_final_hex(w->file, hex, w->err) < 0)
                goto done;
            snprintf(size_text, sizeof(size_text), "%llu", (unsigned long long)size);
            w->out->size += size;
            if (field(w, "f") < 0 || field(w, rel) < 0 || field(w, size_text) < 0 ||
                field(w, hex) < 0)
                goto done;
        } else if (S_ISLNK(st.st_mode)) {
            ssize_t got = readlink(w->path, w->target, RZ_PATH_MAX - 1);
            if (got < 0) {
                rz_error_os(w->err, errno, w->path, "cannot read the link %s", w->path);
                goto done;
            }
            w->target[got] = '\0';
            if (field(w, "l") < 0 || field(w, rel) < 0 || field(w, w->target) < 0)
                goto done;
        } else {
            rz_error_set(w->err, RZ_E_INVALID,
                         "%s is neither a file, a directory nor a symbolic link", w->path);
            goto done;
        }
    }
    rc = 0;
done:
    w->path[path_len] = '\0';
    rz_names_free(names, n);
    return rc;
}

int rz_digest_path(rz_digest *out, const char *path, int flags, rz_digest_check_fn check,
                   void *payload, rz_error *err)
{
    walk w = {NULL, NULL, NULL, NULL, NULL, 0, 0, flags, out, check, payload, err};
    struct stat st;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (((flags & RZ_DIGEST_FOLLOW) ? stat(path, &st) : lstat(path, &st)) < 0)
        return rz_error_os(err, errno, path, "cannot read %s", path);
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
        return rz_error_set(err, RZ_E_INVALID, "%s is neither a file nor a directory", path);
    if (strlen(path) >= RZ_PATH_MAX - 1)
        return rz_error_set(err, RZ_E_INVALID, "path too long: %s", path);
    if (rz_sha256_new(&w.file, err) < 0)
        return -1;
    if (!(w.buf = malloc(READ_CHUNK)) || !(w.path = malloc(RZ_PATH_MAX)) ||
        !(w.target = malloc(RZ_PATH_MAX))) {
        rz_error_set(err, RZ_E_NOMEM, "out of memory");
        goto done;
    }
    if (S_ISREG(st.st_mode)) {
        /* A link at path itself, which stat() followed when asked, is followed by open() too. */
        int open_flags = (flags & RZ_DIGEST_FOLLOW) ? 0 : O_NOFOLLOW;
        if (hash_file(&w, w.file, path, open_flags, &out->size) < 0 ||
            rz_sha256_final_hex(w.file, out->sha256, err) < 0)
            goto done;
        rc = 0;
        goto done;
    }
    out->is_tree = 1;
    if (rz_sha256_new(&w.tree, err) < 0)
        goto done;
    snprintf(w.path, RZ_PATH_MAX, "%s", path);
    w.root_len = strlen(path) + 1;
    if (field(&w, "rz-tree-v1") < 0 || walk_dir(&w, strlen(path), 0) < 0 ||
        rz_sha256_final_hex(w.tree, out->sha256, err) < 0)
        goto done;
    rc = 0;
done:
    rz_sha256_free(w.tree);
    rz_sha256_free(w.file);
    free(w.buf);
    free(w.path);
    free(w.target);
    return rc;
}
