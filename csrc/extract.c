/* extract.c - see extract.h. */
#include "extract.h"
#include "fsutil.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ACCEPTED_FORMATS  "tar, tar.gz, tar.bz2, tar.xz, tar.zst or zip"
#define SYMLINK_MAX_HOPS  40
#define RESOLVE_MAX       (64u * 1024) /* bytes of a path while resolving a link */
#define CHECK_EVERY_ENTRY 64u
#define CHECK_EVERY_BYTES (1u << 20)
#define READ_BLOCK_BYTES  (64u * 1024)
#define MAP_INITIAL_SLOTS 256u

/* What archive_errno() says for a bad format and for misuse: libarchive's private
 * ARCHIVE_ERRNO_FILE_FORMAT and ARCHIVE_ERRNO_PROGRAMMER on Linux. */
#define LA_ERRNO_FILE_FORMAT EILSEQ
#define LA_ERRNO_PROGRAMMER  EINVAL

/* libarchive's flags for every entry; NO_OVERWRITE is added for all but directories (a directory
 * may come again, or after files inside it). No SECURE_NOABSOLUTEPATHS: see extract.h. */
#define DISK_FLAGS                                                                                 \
    (ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_SECURE_SYMLINKS |               \
     ARCHIVE_EXTRACT_SECURE_NODOTDOT)

typedef enum node_type { NODE_DIR = 1, NODE_FILE, NODE_SYMLINK } node_type;

/* One name of the extracted tree (normalised: relative, no "." or empty components). */
typedef struct node {
    char *key;    /* owned; NULL for an empty slot */
    char *target; /* owned link target for NODE_SYMLINK, else NULL */
    uint64_t hash;
    node_type type;
} node;

/* Open-addressing hash set of the names extracted so far, with their types. */
typedef struct node_map {
    node *slots; /* owned array of cap */
    size_t cap, used;
    size_t bytes; /* key and target bytes held, capped by RZ_EXTRACT_MAX_NAME_BYTES */
} node_map;

typedef struct extract_ctx {
    const char *label; /* the archive, for messages */
    rz_extract_limits limits;
    rz_error *err;
    char *tmp;  /* owned: the temporary directory, absolute and canonical */
    char *path; /* owned: PATH_MAX buffer for tmp + "/" + entry name */
    char *link; /* owned: PATH_MAX buffer for tmp + "/" + hard link target */
    char *name; /* owned: the current entry's normalised name (max_path + 1 bytes) */
    char *aux;  /* owned: scratch of the same size (normalised hard link target) */
    char *raw;  /* owned: the current entry's name as in the archive (same size) */
    node_map map;
    uint64_t bytes;   /* file data so far */
    uint64_t entries; /* entries so far */
    uint64_t next_check_bytes;
} extract_ctx;

void rz_extract_limits_default(rz_extract_limits *out)
{
    memset(out, 0, sizeof(*out));
    out->max_bytes = RZ_EXTRACT_MAX_BYTES;
    out->max_entries = RZ_EXTRACT_MAX_ENTRIES;
    out->max_path = RZ_EXTRACT_MAX_PATH;
}

/* ---- the name map ---------------------------------------------------------------------- */

static uint64_t hash_name(const char *s, size_t len)
{
    uint64_t h = 14695981039346656037ull; /* FNV-1a */
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static node *map_slot(const node_map *map, const char *key, size_t len, uint64_t hash)
{
    size_t i = (size_t)hash & (map->cap - 1);

    for (;;) {
        node *n = &map->slots[i];
        if (!n->key || (n->hash == hash && strlen(n->key) == len && memcmp(n->key, key, len) == 0))
            return n;
        i = (i + 1) & (map->cap - 1);
    }
}

/* The node named key[0..len), or NULL. */
static node *map_find(const node_map *map, const char *key, size_t len)
{
    node *n;

    if (map->cap == 0)
        return NULL;
    n = map_slot(map, key, len, hash_name(key, len));
    return n->key ? n : NULL;
}

static int map_grow(node_map *map, rz_error *err)
{
    node *old = map->slots;
    size_t old_cap = map->cap, i;
    size_t cap = old_cap ? 2 * old_cap : MAP_INITIAL_SLOTS;

    map->slots = calloc(cap, sizeof(*map->slots));
    if (!map->slots) {
        map->slots = old;
        return rz_error_set(err, RZ_E_NOMEM, "out of memory while extracting");
    }
    map->cap = cap;
    for (i = 0; i < old_cap; i++)
        if (old[i].key)
            *map_slot(map, old[i].key, strlen(old[i].key), old[i].hash) = old[i];
    free(old);
    return 0;
}

/* Add key[0..len) (not yet present) with type and a copy of target (symlinks). The caller has
 * checked the byte cap. */
static int map_add(node_map *map, const char *key, size_t len, node_type type, const char *target,
                   rz_error *err)
{
    node *n;
    char *k = NULL, *t = NULL;

    if ((map->used + 1) * 2 > map->cap && map_grow(map, err) < 0)
        return -1;
    k = strndup(key, len);
    t = target ? strdup(target) : NULL;
    if (!k || (target && !t)) {
        free(k);
        free(t);
        return rz_error_set(err, RZ_E_NOMEM, "out of memory while extracting");
    }
    n = map_slot(map, key, len, hash_name(key, len));
    n->key = k;
    n->target = t;
    n->hash = hash_name(key, len);
    n->type = type;
    map->used++;
    map->bytes += len + 1 + (target ? strlen(target) + 1 : 0);
    return 0;
}

static void map_free(node_map *map)
{
    size_t i;

    for (i = 0; i < map->cap; i++) {
        free(map->slots[i].key);
        free(map->slots[i].target);
    }
    free(map->slots);
    memset(map, 0, sizeof(*map));
}

/* ---- checks ---------------------------------------------------------------------------- */

/* The entry's name for a message: long names are shortened to their start and end, so the
 * reason still fits in the message (err->path has the name in full). */
static const char *short_name(char *out, size_t outlen, const char *entry)
{
    size_t len = strlen(entry);

    if (len <= 160)
        return entry;
    snprintf(out, outlen, "%.100s...%s", entry, entry + len - 50);
    return out;
}

static int unsafe(extract_ctx *ctx, const char *entry, const char *fmt, const char *detail)
{
    char why[512], shortened[160];

    snprintf(why, sizeof(why), fmt, detail ? detail : "");
    rz_error_set(ctx->err, RZ_E_UNSAFE_ARCHIVE, "%s: refusing entry '%s': %s", ctx->label,
                 short_name(shortened, sizeof(shortened), entry), why);
    rz_error_attach_path(ctx->err, entry);
    return -1;
}

static int run_check(extract_ctx *ctx)
{
    if (ctx->limits.check && ctx->limits.check(ctx->limits.check_payload) != 0)
        return rz_error_set(ctx->err, RZ_E_CALLBACK, "extraction of %s was interrupted",
                            ctx->label);
    return 0;
}

/* Normalise raw into out (size > strlen(raw)): drop empty and "." components and trailing
 * slashes. Returns 0, or 1 if raw is absolute, 2 if it has a ".." component. */
static int normalise(char *out, const char *raw)
{
    const char *p = raw;
    size_t len = 0;

    if (raw[0] == '/')
        return 1;
    out[0] = '\0';
    while (*p) {
        const char *end = strchrnul(p, '/');
        size_t n = (size_t)(end - p);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return 2;
        if (n > 0 && !(n == 1 && p[0] == '.')) {
            if (len > 0)
                out[len++] = '/';
            memcpy(out + len, p, n);
            len += n;
            out[len] = '\0';
        }
        p = *end ? end + 1 : end;
    }
    return 0;
}

/* A growable path with a hard cap, for resolving links. */
typedef struct pathbuf {
    char s[RESOLVE_MAX];
    size_t len;
    /* The directory that becomes the root when the tree's only top-level directory is
     * stripped (recheck_symlinks), or "" (floor_len 0): ".." from it leaves the final tree. */
    char floor[NAME_MAX + 1];
    size_t floor_len;
} pathbuf;

enum { RESOLVE_INSIDE = 0, RESOLVE_ESCAPES = 1, RESOLVE_LOOPS = 2, RESOLVE_TOO_LONG = 3 };

/* Walk path (relative to the directory cur, "" being the root) component by component, following
 * the links recorded in map, leaving in cur where it ends. Reports whether the walk stays inside
 * the root. Components that do not exist (yet) are taken literally. */
static int walk(pathbuf *cur, const node_map *map, const char *path, int *hops)
{
    const char *p = path;

    if (path[0] == '/')
        return RESOLVE_ESCAPES;
    while (*p) {
        const char *end = strchrnul(p, '/');
        size_t n = (size_t)(end - p);
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            char *slash;
            if (cur->len == 0 || (cur->floor_len > 0 && cur->len == cur->floor_len &&
                                  memcmp(cur->s, cur->floor, cur->floor_len) == 0))
                return RESOLVE_ESCAPES;
            slash = strrchr(cur->s, '/');
            cur->len = slash ? (size_t)(slash - cur->s) : 0;
            cur->s[cur->len] = '\0';
        } else if (n > 0 && !(n == 1 && p[0] == '.')) {
            size_t saved = cur->len;
            const node *link;
            if (cur->len + n + 2 > sizeof(cur->s))
                return RESOLVE_TOO_LONG;
            if (cur->len > 0)
                cur->s[cur->len++] = '/';
            memcpy(cur->s + cur->len, p, n);
            cur->len += n;
            cur->s[cur->len] = '\0';
            link = map_find(map, cur->s, cur->len);
            if (link && link->type == NODE_SYMLINK) {
                int rc;
                if (++*hops > SYMLINK_MAX_HOPS)
                    return RESOLVE_LOOPS;
                cur->len = saved;
                cur->s[saved] = '\0';
                rc = walk(cur, map, link->target, hops);
                if (rc != RESOLVE_INSIDE)
                    return rc;
            }
        }
        p = *end ? end + 1 : end;
    }
    return RESOLVE_INSIDE;
}

/* Check that the link named name (normalised) with target stays inside the root. */
static int check_symlink(extract_ctx *ctx, pathbuf *cur, const char *name, const char *target)
{
    const char *slash = strrchr(name, '/');
    int hops = 0, rc;

    if (target[0] == '\0')
        return unsafe(ctx, name, "symbolic link with an empty target%s", NULL);
    if (target[0] == '/')
        return unsafe(ctx, name, "symbolic link to the absolute path '%s'", target);
    cur->len = slash ? (size_t)(slash - name) : 0;
    memcpy(cur->s, name, cur->len);
    cur->s[cur->len] = '\0';
    rc = walk(cur, &ctx->map, target, &hops);
    if (rc == RESOLVE_ESCAPES)
        return unsafe(ctx, name, "symbolic link to '%s' leads outside the archive's tree", target);
    if (rc == RESOLVE_LOOPS)
        return unsafe(ctx, name, "symbolic link to '%s' loops", target);
    if (rc == RESOLVE_TOO_LONG)
        return unsafe(ctx, name, "symbolic link to '%s' resolves to too long a path", target);
    return 0;
}

/* Record the missing parent directories of name, refusing names below a file or a link. */
static int add_parents(extract_ctx *ctx, const char *name)
{
    const char *slash = name;

    while ((slash = strchr(slash, '/')) != NULL) {
        size_t len = (size_t)(slash - name);
        node *n = map_find(&ctx->map, name, len);
        if (n && n->type == NODE_SYMLINK)
            return unsafe(ctx, name, "it is inside '%s', a symbolic link of the archive", n->key);
        if (n && n->type != NODE_DIR)
            return unsafe(ctx, name, "it is inside '%s', a file of the archive", n->key);
        if (!n && map_add(&ctx->map, name, len, NODE_DIR, NULL, ctx->err) < 0)
            return -1;
        slash++;
    }
    return 0;
}

/* ---- errors from libarchive ------------------------------------------------------------ */

static const char *archive_message(struct archive *a)
{
    const char *msg = archive_error_string(a);
    /* libarchive's gzip reader fails on a cut trailer without a message */
    return msg ? msg : "the data ends early or is damaged";
}

/* A failure of the reading side: a bad or truncated archive (or the stream's own error,
 * already in err, which then wins). */
static int read_error(extract_ctx *ctx, struct archive *in, const char *entry)
{
    if (ctx->entries == 0 && archive_errno(in) == LA_ERRNO_FILE_FORMAT)
        return rz_error_set(ctx->err, RZ_E_ARCHIVE, "%s: not a %s archive (%s)", ctx->label,
                            ACCEPTED_FORMATS, archive_message(in));
    if (entry)
        rz_error_set(ctx->err, RZ_E_ARCHIVE, "%s: corrupt or truncated archive at entry '%s': %s",
                     ctx->label, entry, archive_message(in));
    else
        rz_error_set(ctx->err, RZ_E_ARCHIVE, "%s: corrupt or truncated archive: %s", ctx->label,
                     archive_message(in));
    return -1;
}

/* A failure of the writing side: a file-system error (OSError), or libarchive's own safety
 * checks refusing what ours let through. */
static int disk_error(extract_ctx *ctx, struct archive *disk, const char *entry)
{
    int en = archive_errno(disk);

    if (en > 0 && en != LA_ERRNO_FILE_FORMAT && en != LA_ERRNO_PROGRAMMER)
        return rz_error_os(ctx->err, en, entry, "%s: cannot extract '%s' (%s)", ctx->label, entry,
                           archive_message(disk));
    return unsafe(ctx, entry, "libarchive refused it: %s", archive_message(disk));
}

/* ---- one entry ------------------------------------------------------------------------- */

static int copy_data(extract_ctx *ctx, struct archive *in, struct archive *disk, const char *name)
{
    const void *block;
    size_t len;
    la_int64_t offset;
    uint64_t extent = 0;

    for (;;) {
        int r = archive_read_data_block(in, &block, &len, &offset);
        if (r == ARCHIVE_EOF)
            return 0;
        if (r < ARCHIVE_WARN)
            return read_error(ctx, in, name);
        if (offset < 0)
            return read_error(ctx, in, name);
        /* Count the logical extent, holes of sparse files included. */
        if ((uint64_t)offset + len > extent) {
            uint64_t grow = (uint64_t)offset + len - extent;
            if (grow > ctx->limits.max_bytes - ctx->bytes) {
                char cap[32];
                snprintf(cap, sizeof(cap), "%llu", (unsigned long long)ctx->limits.max_bytes);
                return unsafe(ctx, name, "the archive holds more than %s bytes of data", cap);
            }
            ctx->bytes += grow;
            extent = (uint64_t)offset + len;
        }
        if (ctx->bytes >= ctx->next_check_bytes) {
            ctx->next_check_bytes = ctx->bytes + CHECK_EVERY_BYTES;
            if (run_check(ctx) < 0)
                return -1;
        }
        if (len > 0 && archive_write_data_block(disk, block, len, offset) < ARCHIVE_OK)
            return disk_error(ctx, disk, name);
    }
}

/* The mode to restore for an entry of type, from the archive's perm. */
static mode_t sanitise_mode(node_type type, mode_t perm)
{
    perm &= 0755; /* no setuid/setgid/sticky, no group/other write */
    if (type == NODE_DIR)
        return perm | 0700;
    if (!(perm & 0100))
        perm &= ~(mode_t)0111; /* executable only if the owner may execute it */
    return perm | 0600;
}

/* Join tmp and name into buf (PATH_MAX bytes); refuses paths too long for the file system. */
static int join_tmp(extract_ctx *ctx, char *buf, const char *name, const char *entry)
{
    int n = snprintf(buf, PATH_MAX, "%s/%s", ctx->tmp, name);
    if (n < 0 || n >= PATH_MAX)
        return unsafe(ctx, entry, "its path in the destination would be longer than %s bytes",
                      "PATH_MAX");
    return 0;
}

static int extract_entry(extract_ctx *ctx, struct archive *in, struct archive *disk,
                         struct archive_entry *entry, pathbuf *cur)
{
    const char *raw, *hardlink, *symlink;
    char *name = ctx->name;
    node_type type;
    node *existing;
    size_t name_len;
    int r;

    raw = archive_entry_pathname(entry);
    if (!raw)
        raw = archive_entry_pathname_utf8(entry);
    if (!raw)
        return rz_error_set(ctx->err, RZ_E_ARCHIVE, "%s: an entry has no usable name (after %llu)",
                            ctx->label, (unsigned long long)ctx->entries);
    ctx->entries++;
    if (ctx->entries > ctx->limits.max_entries) {
        char cap[32];
        snprintf(cap, sizeof(cap), "%llu", (unsigned long long)ctx->limits.max_entries);
        return unsafe(ctx, raw, "the archive has more than %s entries", cap);
    }
    if (ctx->entries % CHECK_EVERY_ENTRY == 0 && run_check(ctx) < 0)
        return -1;
    if (strlen(raw) > ctx->limits.max_path) {
        char cap[32];
        snprintf(cap, sizeof(cap), "%zu", ctx->limits.max_path);
        return unsafe(ctx, raw, "its name is longer than %s bytes", cap);
    }
    /* The entry's own name storage is about to be replaced by the destination path. */
    memcpy(ctx->raw, raw, strlen(raw) + 1);
    raw = ctx->raw;
    r = normalise(name, raw);
    if (r == 1)
        return unsafe(ctx, raw, "absolute path%s", NULL);
    if (r == 2)
        return unsafe(ctx, raw, "its name has a '..' component%s", NULL);
    name_len = strlen(name);

    hardlink = archive_entry_hardlink(entry);
    symlink = archive_entry_symlink(entry);
    switch (archive_entry_filetype(entry)) {
    case AE_IFREG:
        type = NODE_FILE;
        break;
    case AE_IFDIR:
        type = NODE_DIR;
        break;
    case AE_IFLNK:
        type = NODE_SYMLINK;
        break;
    case AE_IFCHR:
        return unsafe(ctx, raw, "character device%s", NULL);
    case AE_IFBLK:
        return unsafe(ctx, raw, "block device%s", NULL);
    case AE_IFIFO:
        return unsafe(ctx, raw, "FIFO (named pipe)%s", NULL);
    case AE_IFSOCK:
        return unsafe(ctx, raw, "socket%s", NULL);
    default:
        if (!hardlink)
            return unsafe(ctx, raw, "not a file, directory or link%s", NULL);
        type = NODE_FILE; /* a hard link without a type of its own */
    }
    if (hardlink)
        type = NODE_FILE;
    if (type == NODE_SYMLINK && !symlink)
        return rz_error_set(ctx->err, RZ_E_ARCHIVE, "%s: symbolic link '%s' has no target",
                            ctx->label, raw);
    if (name_len == 0) {
        if (type == NODE_DIR)
            return 0; /* "./": the root itself */
        return unsafe(ctx, raw, "it names the destination itself%s", NULL);
    }
    if (ctx->map.bytes + name_len + (symlink ? strlen(symlink) : 0) > RZ_EXTRACT_MAX_NAME_BYTES)
        return unsafe(ctx, raw, "the archive's names take more than %s", "256 MiB");
    if (add_parents(ctx, name) < 0)
        return -1;
    existing = map_find(&ctx->map, name, name_len);
    if (existing && !(existing->type == NODE_DIR && type == NODE_DIR))
        return unsafe(ctx, raw, "the name appears twice in the archive%s", NULL);
    if (type == NODE_SYMLINK && !hardlink && check_symlink(ctx, cur, name, symlink) < 0)
        return -1;
    if (hardlink) {
        node *target;
        const char *aux = ctx->aux;
        if (strlen(hardlink) > ctx->limits.max_path)
            return unsafe(ctx, raw, "hard link target longer than the name limit%s", NULL);
        r = normalise(ctx->aux, hardlink);
        if (r != 0)
            return unsafe(ctx, raw, "hard link to '%s', outside the archive's tree", hardlink);
        target = map_find(&ctx->map, aux, strlen(aux));
        if (!target || target->type != NODE_FILE)
            return unsafe(ctx, raw,
                          "hard link to '%s', which is not a regular file extracted before it",
                          hardlink);
        if (join_tmp(ctx, ctx->link, aux, raw) < 0)
            return -1;
    }
    if (join_tmp(ctx, ctx->path, name, raw) < 0)
        return -1;
    if (existing) {
        /* A directory again: nothing new to check; libarchive just updates its mode. */
    } else if (map_add(&ctx->map, name, name_len, type, hardlink ? NULL : symlink, ctx->err) < 0) {
        return -1;
    }

    if (type != NODE_SYMLINK || hardlink)
        archive_entry_set_perm(entry, sanitise_mode(type, archive_entry_perm(entry)));
    if (type == NODE_FILE && archive_entry_size_is_set(entry) && archive_entry_size(entry) > 0 &&
        (uint64_t)archive_entry_size(entry) > ctx->limits.max_bytes - ctx->bytes) {
        char cap[32];
        snprintf(cap, sizeof(cap), "%llu", (unsigned long long)ctx->limits.max_bytes);
        return unsafe(ctx, raw, "the archive holds more than %s bytes of data", cap);
    }
    archive_entry_copy_pathname(entry, ctx->path);
    if (hardlink)
        archive_entry_copy_hardlink(entry, ctx->link);
    archive_write_disk_set_options(disk, DISK_FLAGS |
                                             (type == NODE_DIR ? 0 : ARCHIVE_EXTRACT_NO_OVERWRITE));
    if (archive_write_header(disk, entry) < ARCHIVE_WARN)
        return disk_error(ctx, disk, raw);
    if (type == NODE_FILE && archive_entry_size(entry) > 0 && copy_data(ctx, in, disk, raw) < 0)
        return -1;
    if (archive_write_finish_entry(disk) < ARCHIVE_WARN)
        return disk_error(ctx, disk, raw);
    return 0;
}

/* The name of the only top-level entry of the extracted tree when it is a directory (what
 * finish() strips), in out; "" otherwise. */
static int single_top_dir(extract_ctx *ctx, char *out, size_t outlen)
{
    DIR *dir = opendir(ctx->tmp);
    struct dirent *de;
    size_t count = 0;
    struct stat st;
    int fd;

    out[0] = '\0';
    if (!dir)
        return rz_error_os(ctx->err, errno, ctx->tmp, "cannot read %s", ctx->tmp);
    while ((de = readdir(dir)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (++count > 1)
            break;
        snprintf(out, outlen, "%s", de->d_name);
    }
    fd = dirfd(dir);
    if (count != 1 || fstatat(fd, out, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
        out[0] = '\0';
    closedir(dir);
    return 0;
}

/* After the last entry: every link, resolved through all the others, must stay inside -- inside
 * the top-level directory when that is what becomes the tree (strip_top_level): a link "top/up"
 * to ".." is harmless in the archive's tree but would lead out of the stripped one. */
static int recheck_symlinks(extract_ctx *ctx, pathbuf *cur, int strip_top_level)
{
    size_t i;

    cur->floor[0] = '\0';
    if (strip_top_level && single_top_dir(ctx, cur->floor, sizeof(cur->floor)) < 0)
        return -1;
    cur->floor_len = strlen(cur->floor);

    for (i = 0; i < ctx->map.cap; i++) {
        const node *n = &ctx->map.slots[i];
        if (n->key && n->type == NODE_SYMLINK && check_symlink(ctx, cur, n->key, n->target) < 0)
            return -1;
    }
    return 0;
}

/* ---- the whole archive ----------------------------------------------------------------- */

/* A tar archive ends with an end-of-archive marker: at least one 512-byte block of zeros after
 * the last entry. libarchive's tar reader treats a clean end of input between two entries as
 * the end of the archive, so an archive cut there (a download that stopped early, a file
 * copied in part) would extract with entries missing. The reader consumes the marker before it
 * reports ARCHIVE_EOF; without it, nothing was consumed after the last entry (entry_end). */
static int check_end_marker(extract_ctx *ctx, struct archive *in, la_int64_t entry_end)
{
    if ((archive_format(in) & ARCHIVE_FORMAT_BASE_MASK) != ARCHIVE_FORMAT_TAR)
        return 0;
    if (archive_filter_bytes(in, 0) - entry_end >= 512)
        return 0;
    return rz_error_set(ctx->err, RZ_E_ARCHIVE,
                        "%s: truncated archive: the tar data ends after %llu entries without its "
                        "end-of-archive marker",
                        ctx->label, (unsigned long long)ctx->entries);
}

/* dest must be absent or an empty directory. */
static int check_dest(const char *dest, rz_error *err)
{
    struct stat st;
    DIR *dir;
    struct dirent *de;
    int empty = 1;

    if (lstat(dest, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        return rz_error_os(err, errno, dest, "cannot extract into %s", dest);
    }
    if (!S_ISDIR(st.st_mode))
        return rz_error_os(err, EEXIST, dest,
                           "cannot extract into %s (remove it or choose another path)", dest);
    dir = opendir(dest);
    if (!dir)
        return rz_error_os(err, errno, dest, "cannot extract into %s", dest);
    while ((de = readdir(dir)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            empty = 0;
            break;
        }
    closedir(dir);
    if (!empty)
        return rz_error_os(err, ENOTEMPTY, dest,
                           "cannot extract into %s (remove it or choose another path)", dest);
    return 0;
}

/* Rename the finished tree (or its only top-level directory) onto dest. */
static int finish(extract_ctx *ctx, const char *dest, int strip_top_level)
{
    char only[NAME_MAX + 1] = "";
    char *src = NULL;
    size_t size;
    int rc = -1;

    if (strip_top_level && single_top_dir(ctx, only, sizeof(only)) < 0)
        return -1;
    if (only[0]) {
        size = strlen(ctx->tmp) + strlen(only) + 2;
        src = malloc(size);
        if (!src)
            return rz_error_set(ctx->err, RZ_E_NOMEM, "out of memory while extracting");
        snprintf(src, size, "%s/%s", ctx->tmp, only);
    }
    if (!src && chmod(ctx->tmp, 0755) < 0) {
        rz_error_os(ctx->err, errno, ctx->tmp, "cannot set the mode of %s", ctx->tmp);
        goto done;
    }
    if (rename(src ? src : ctx->tmp, dest) < 0) {
        rz_error_os(ctx->err, errno, dest, "cannot move the extracted tree to %s", dest);
        goto done;
    }
    if (src)
        rmdir(ctx->tmp); /* now empty; rz_rmtree in the caller if this fails */
    rc = 0;
done:
    free(src);
    return rc;
}

typedef int (*open_fn)(struct archive *in, void *arg);

static int extract_archive(struct archive *in, open_fn open_in, void *open_arg, const char *label,
                           const char *dest_dir, int strip_top_level,
                           const rz_extract_limits *limits, rz_error *err)
{
    extract_ctx ctx;
    struct archive *disk = NULL;
    struct archive_entry *entry;
    pathbuf *cur = NULL;
    char *dest = NULL, *parent_slash;
    la_int64_t entry_end = 0; /* the archive's uncompressed offset after the last entry */
    int rc = -1, r;

    memset(&ctx, 0, sizeof(ctx));
    ctx.label = label;
    ctx.err = err;
    if (limits)
        ctx.limits = *limits;
    else
        rz_extract_limits_default(&ctx.limits);
    ctx.next_check_bytes = CHECK_EVERY_BYTES;

    if (check_dest(dest_dir, err) < 0 || rz_path_beside(&dest, dest_dir, err) < 0)
        goto done;
    ctx.path = malloc(PATH_MAX);
    ctx.link = malloc(PATH_MAX);
    ctx.name = malloc(ctx.limits.max_path + 1);
    ctx.aux = malloc(ctx.limits.max_path + 1);
    ctx.raw = malloc(ctx.limits.max_path + 1);
    cur = calloc(1, sizeof(*cur));
    disk = archive_write_disk_new();
    if (!ctx.path || !ctx.link || !ctx.name || !ctx.aux || !ctx.raw || !cur || !disk) {
        rz_error_set(err, RZ_E_NOMEM, "out of memory extracting %s", label);
        goto done;
    }
    if (rz_mkdtemp_beside(&ctx.tmp, dest_dir, err) < 0)
        goto done;
    if (open_in(in, open_arg) != ARCHIVE_OK) {
        if (archive_errno(in) > 0 && archive_errno(in) != LA_ERRNO_FILE_FORMAT &&
            archive_errno(in) != LA_ERRNO_PROGRAMMER)
            rz_error_os(err, archive_errno(in), label, "cannot read %s (%s)", label,
                        archive_message(in));
        else
            read_error(&ctx, in, NULL);
        goto done;
    }
    for (;;) {
        r = archive_read_next_header(in, &entry);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            read_error(&ctx, in, NULL);
            goto done;
        }
        if (extract_entry(&ctx, in, disk, entry, cur) < 0)
            goto done;
        /* Consume what is left of the entry (data not written, tar's padding), so the
         * position below is the entry's end: a truncated entry fails here. */
        if (archive_read_data_skip(in) < ARCHIVE_WARN) {
            read_error(&ctx, in, NULL);
            goto done;
        }
        entry_end = archive_filter_bytes(in, 0);
    }
    if (check_end_marker(&ctx, in, entry_end) < 0)
        goto done;
    if (recheck_symlinks(&ctx, cur, strip_top_level) < 0 || run_check(&ctx) < 0)
        goto done;
    if (archive_write_close(disk) < ARCHIVE_WARN) { /* directory modes and times */
        disk_error(&ctx, disk, ctx.tmp);
        goto done;
    }
    if (finish(&ctx, dest, strip_top_level) < 0)
        goto done;
    parent_slash = strrchr(dest, '/');
    if (parent_slash) {
        *parent_slash = '\0';
        rz_fsync_dir(parent_slash == dest ? "/" : dest, err);
        *parent_slash = '/';
    }
    rc = 0;
done:
    archive_write_free(disk); /* applies pending directory fixups inside tmp, harmless */
    if (ctx.tmp) {
        rz_error scratch;
        rz_error_init(&scratch);
        rz_rmtree(ctx.tmp, rc == 0 ? &scratch : err); /* gone already on success */
    }
    map_free(&ctx.map);
    free(ctx.tmp);
    free(ctx.path);
    free(ctx.link);
    free(ctx.name);
    free(ctx.aux);
    free(ctx.raw);
    free(cur);
    free(dest);
    return rc;
}

/* A reader for our formats and filters; zip only when seekable is set. NULL on error. */
static struct archive *new_reader(int with_zip, const char *label, rz_error *err)
{
    struct archive *in = archive_read_new();

    if (!in) {
        rz_error_set(err, RZ_E_NOMEM, "out of memory reading %s", label);
        return NULL;
    }
    /* ARCHIVE_WARN means "through an external program": still fine. */
    if (archive_read_support_filter_gzip(in) < ARCHIVE_WARN ||
        archive_read_support_filter_bzip2(in) < ARCHIVE_WARN ||
        archive_read_support_filter_xz(in) < ARCHIVE_WARN ||
        archive_read_support_filter_zstd(in) < ARCHIVE_WARN ||
        archive_read_support_format_tar(in) != ARCHIVE_OK ||
        (with_zip && archive_read_support_format_zip_seekable(in) != ARCHIVE_OK)) {
        rz_error_set(err, RZ_E_ARCHIVE, "libarchive cannot read %s: %s", label,
                     archive_message(in));
        archive_read_free(in);
        return NULL;
    }
    return in;
}

static int open_file(struct archive *in, void *arg)
{
    return archive_read_open_filename(in, (const char *)arg, READ_BLOCK_BYTES);
}

int rz_extract_file(const char *archive_path, const char *dest_dir, int strip_top_level,
                    const rz_extract_limits *limits, rz_error *err)
{
    struct archive *in = new_reader(1, archive_path, err);
    int rc;

    if (!in)
        return -1;
    rc = extract_archive(in, open_file, (void *)archive_path, archive_path, dest_dir,
                         strip_top_level, limits, err);
    archive_read_free(in);
    return rc;
}

typedef struct stream_src {
    rz_read_fn read;
    void *payload;
    const char *label;
    rz_error *err;
} stream_src;

static la_ssize_t stream_read(struct archive *a, void *client, const void **buff)
{
    stream_src *src = client;
    const void *data = NULL;
    size_t len = 0;

    if (src->read(&data, &len, src->err, src->payload) < 0) {
        rz_error_set(src->err, RZ_E_ARCHIVE, "%s: reading the archive failed", src->label);
        archive_set_error(a, EIO, "%s", src->err->message);
        return -1;
    }
    if (len > (size_t)SSIZE_MAX)
        len = (size_t)SSIZE_MAX; /* cannot happen with real buffers */
    *buff = data;
    return (la_ssize_t)len;
}

static int open_stream(struct archive *in, void *arg)
{
    return archive_read_open(in, arg, NULL, stream_read, NULL);
}

int rz_extract_stream(rz_read_fn read, void *payload, const char *label, const char *dest_dir,
                      int strip_top_level, const rz_extract_limits *limits, rz_error *err)
{
    stream_src src = {read, payload, label, err};
    struct archive *in = new_reader(0, label, err);
    int rc;

    if (!in)
        return -1;
    rc = extract_archive(in, open_stream, &src, label, dest_dir, strip_top_level, limits, err);
    archive_read_free(in);
    return rc;
}
