/* extract.c - see extract.h. */
#include "net/extract.h"
#include "util/fsutil.h"
#include "util/random.h"

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
#include <time.h>
#include <unistd.h>

#define ACCEPTED_FORMATS  "tar, tar.gz, tar.bz2, tar.xz, tar.zst, zip or 7z"
#define SYMLINK_MAX_HOPS  40
#define CHECK_EVERY_ENTRY 64u
#define CHECK_EVERY_BYTES (1u << 20)
#define READ_BLOCK_BYTES  (64u * 1024)
#define MAP_INITIAL_SLOTS 256u
/* Symbolic links are resolved through the archive's other links (at most SYMLINK_MAX_HOPS of
 * them per link), so checking one link may walk more than its own target. All the walking of
 * one extraction is capped at this many bytes of path per byte of names and targets in the
 * archive, plus a constant: a hostile archive of links through links is refused in bounded
 * time, while a real one walks about 2 bytes per byte (each link is checked twice). */
#define WALK_WORK_FACTOR 8u
#define WALK_WORK_BASE   (1u << 20)
#define ROOT             0u /* the node of the extracted tree's root */

/* What archive_errno() says for a bad format and for misuse: libarchive's private
 * ARCHIVE_ERRNO_FILE_FORMAT and ARCHIVE_ERRNO_PROGRAMMER on Linux. */
#define LA_ERRNO_FILE_FORMAT EILSEQ
#define LA_ERRNO_PROGRAMMER  EINVAL

typedef enum node_type { NODE_DIR = 1, NODE_FILE, NODE_SYMLINK } node_type;

/* One name of the extracted tree, stored as its last component below its parent directory's
 * node, so that finding a child costs the length of one component, whatever the depth. */
typedef struct node {
    char *comp;      /* owned: the last component ("" for the root) */
    char *target;    /* owned link target for NODE_SYMLINK, else NULL */
    uint32_t parent; /* the node of the directory holding it (ROOT's is ROOT) */
    uint32_t comp_len;
    node_type type;
    unsigned char on_disk; /* created in the temporary directory */
    uint32_t dir_time;     /* directory entries: 1 + its index in extract_ctx.dir_times */
} node;

/* The names extracted so far: nodes (index = identity, never moved once given out except by
 * realloc of the array: keep indices, not pointers, across map_add) and an open-addressing
 * index of (parent, component) -> node, hashed with a key drawn per extraction, so that an
 * archive cannot be built to collide. */
typedef struct node_map {
    node *nodes; /* owned array of cap_nodes; [ROOT] is the root */
    uint32_t used, cap_nodes;
    uint32_t *slots; /* owned array of cap: node index, 0 = empty (the root is never indexed) */
    size_t cap;
    uint64_t key[2];
    size_t bytes; /* memory held for names (nodes, components, targets), capped */
} node_map;

/* A directory entry's times, applied once nothing more is created inside it. */
typedef struct dir_time {
    uint32_t node;
    struct timespec times[2]; /* atime, mtime */
} dir_time;

typedef struct extract_ctx {
    const char *label; /* the archive, for messages */
    rz_extract_limits limits;
    rz_error *err;
    char *tmp;       /* owned: the temporary directory, absolute and canonical */
    int root_fd;     /* tmp, open; -1 */
    int dir_fd;      /* the directory of the last entry, open, or -1 ... */
    uint32_t dir;    /* ... and its node */
    char *name;      /* owned: the current entry's normalised name (max_path + 1 bytes) */
    char *aux;       /* owned: scratch of the same size (hard link target) */
    char *scratch;   /* owned: scratch of the same size (directory paths) */
    char *raw;       /* owned: the current entry's name as in the archive (same size) */
    uint32_t *chain; /* owned: the nodes of the current name's components (max_path / 2 + 2) */
    node_map map;
    dir_time *dir_times; /* owned: one per directory entry */
    size_t n_dir_times, cap_dir_times;
    uint64_t bytes;      /* file data so far */
    uint64_t entries;    /* entries so far */
    uint64_t name_bytes; /* bytes of every entry's name and link target, repeats included */
    uint64_t walk_work;  /* bytes of path walked by symlink checks */
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

#define ROTL64(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static void sip_round(uint64_t v[4])
{
    v[0] += v[1];
    v[1] = ROTL64(v[1], 13);
    v[1] ^= v[0];
    v[0] = ROTL64(v[0], 32);
    v[2] += v[3];
    v[3] = ROTL64(v[3], 16);
    v[3] ^= v[2];
    v[0] += v[3];
    v[3] = ROTL64(v[3], 21);
    v[3] ^= v[0];
    v[2] += v[1];
    v[1] = ROTL64(v[1], 17);
    v[1] ^= v[2];
    v[2] = ROTL64(v[2], 32);
}

/* SipHash-1-3 of s[0..len) under the map's key, tweaked by the parent's index. */
static uint64_t hash_child(const node_map *map, uint32_t parent, const char *s, size_t len)
{
    uint64_t k0 = map->key[0] ^ ((uint64_t)parent * 0x9e3779b97f4a7c15ull), k1 = map->key[1];
    uint64_t v[4] = {k0 ^ 0x736f6d6570736575ull, k1 ^ 0x646f72616e646f6dull,
                     k0 ^ 0x6c7967656e657261ull, k1 ^ 0x7465646279746573ull};
    uint64_t last = (uint64_t)len << 56, m;
    size_t i, j;

    for (i = 0; i + 8 <= len; i += 8) {
        for (m = 0, j = 0; j < 8; j++)
            m |= (uint64_t)(unsigned char)s[i + j] << (8 * j);
        v[3] ^= m;
        sip_round(v);
        v[0] ^= m;
    }
    for (j = 0; i + j < len; j++)
        last |= (uint64_t)(unsigned char)s[i + j] << (8 * j);
    v[3] ^= last;
    sip_round(v);
    v[0] ^= last;
    v[2] ^= 0xff;
    sip_round(v);
    sip_round(v);
    sip_round(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* The slot of child comp[0..len) of parent: holding it, or the empty slot where it goes. */
static uint32_t *map_slot(const node_map *map, uint32_t parent, const char *comp, size_t len)
{
    size_t i = (size_t)hash_child(map, parent, comp, len) & (map->cap - 1);

    for (;;) {
        uint32_t *slot = &map->slots[i];
        const node *n = &map->nodes[*slot];
        if (*slot == 0 ||
            (n->parent == parent && n->comp_len == len && memcmp(n->comp, comp, len) == 0))
            return slot;
        i = (i + 1) & (map->cap - 1);
    }
}

/* The node of child comp[0..len) of parent, or 0 (never a child: the root). */
static uint32_t map_child(const node_map *map, uint32_t parent, const char *comp, size_t len)
{
    return map->cap ? *map_slot(map, parent, comp, len) : 0;
}

static int map_init(node_map *map, rz_error *err)
{
    if (rz_random_bytes(map->key, sizeof(map->key)) < 0) {
        struct timespec ts; /* no entropy yet (early boot): still not chosen by the archive */
        clock_gettime(CLOCK_REALTIME, &ts);
        map->key[0] = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uintptr_t)map;
        map->key[1] = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull ^ (uintptr_t)&ts;
    }
    map->nodes = calloc(MAP_INITIAL_SLOTS, sizeof(*map->nodes));
    map->slots = calloc(MAP_INITIAL_SLOTS, sizeof(*map->slots));
    if (!map->nodes || !map->slots)
        return rz_error_set(err, RZ_E_NOMEM, "out of memory while extracting");
    map->cap_nodes = MAP_INITIAL_SLOTS;
    map->cap = MAP_INITIAL_SLOTS;
    map->used = 1;
    map->nodes[ROOT].comp = NULL; /* comp_len 0; never compared: the root is not indexed */
    map->nodes[ROOT].type = NODE_DIR;
    map->nodes[ROOT].on_disk = 1;
    return 0;
}

static int map_grow(node_map *map, rz_error *err)
{
    uint32_t *old = map->slots;
    size_t old_cap = map->cap, i;

    map->slots = calloc(2 * old_cap, sizeof(*map->slots));
    if (!map->slots) {
        map->slots = old;
        return rz_error_set(err, RZ_E_NOMEM, "out of memory while extracting");
    }
    map->cap = 2 * old_cap;
    for (i = 0; i < old_cap; i++)
        if (old[i]) {
            const node *n = &map->nodes[old[i]];
            *map_slot(map, n->parent, n->comp, n->comp_len) = old[i];
        }
    free(old);
    return 0;
}

/* Add child comp[0..len) of parent (not present) with type and a copy of target (symlinks);
 * *out is its node. The caller has checked the byte cap (map_cost). */
static int map_add(node_map *map, uint32_t *out, uint32_t parent, const char *comp, size_t len,
                   node_type type, const char *target, rz_error *err)
{
    node *n;
    char *c = NULL, *t = NULL;

    if (((size_t)map->used + 1) * 2 > map->cap && map_grow(map, err) < 0)
        return -1;
    if (map->used == map->cap_nodes) {
        node *bigger;
        if (map->cap_nodes > UINT32_MAX / 2)
            return rz_error_set(err, RZ_E_NOMEM, "too many names while extracting");
        bigger = realloc(map->nodes, 2 * (size_t)map->cap_nodes * sizeof(*bigger));
        if (!bigger)
            return rz_error_set(err, RZ_E_NOMEM, "out of memory while extracting");
        map->nodes = bigger;
        map->cap_nodes *= 2;
    }
    c = strndup(comp, len);
    t = target ? strdup(target) : NULL;
    if (!c || (target && !t)) {
        free(c);
        free(t);
        return rz_error_set(err, RZ_E_NOMEM, "out of memory while extracting");
    }
    *map_slot(map, parent, comp, len) = map->used;
    n = &map->nodes[map->used];
    memset(n, 0, sizeof(*n));
    n->comp = c;
    n->comp_len = (uint32_t)len;
    n->target = t;
    n->parent = parent;
    n->type = type;
    *out = map->used++;
    map->bytes += len + 1 + (target ? strlen(target) + 1 : 0) + sizeof(*n) + 2 * sizeof(uint32_t);
    return 0;
}

static void map_free(node_map *map)
{
    uint32_t i;

    for (i = 0; i < map->used && map->nodes; i++) {
        free(map->nodes[i].comp);
        free(map->nodes[i].target);
    }
    free(map->nodes);
    free(map->slots);
    memset(map, 0, sizeof(*map));
}

/* The path of node i (relative to the tree's root) in out (size len, > 0); names of the map
 * are entry names, so they fit a buffer of max_path + 1 bytes. */
static const char *node_path(const node_map *map, uint32_t i, char *out, size_t len)
{
    size_t at = len - 1;

    out[at] = '\0';
    while (i != ROOT) {
        const node *n = &map->nodes[i];
        if (n->comp_len + 1 > at)
            break; /* cannot happen; keep what fits */
        at -= n->comp_len;
        memcpy(out + at, n->comp, n->comp_len);
        i = n->parent;
        if (i != ROOT)
            out[--at] = '/';
    }
    return out + at;
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

enum { RESOLVE_INSIDE = 0, RESOLVE_ESCAPES, RESOLVE_LOOPS, RESOLVE_TOO_COMPLEX };

/* Where a walk stands: a directory of the map, and how many components that do not exist (yet)
 * it went below it -- nothing below a missing component (or below a file) can be a link, so
 * those are only counted. floor: ".." from this node leaves the tree (the root, or the top
 * directory that strip_top_level makes the root). */
typedef struct walker {
    uint32_t at, missing, floor;
    int hops;
} walker;

/* Walk path from w->at, component by component, following the links recorded in the map.
 * Each step costs the length of one component; the total is capped (WALK_WORK_FACTOR). */
static int walk(extract_ctx *ctx, walker *w, const char *path)
{
    const node_map *map = &ctx->map;
    uint64_t budget = WALK_WORK_FACTOR * ctx->name_bytes + WALK_WORK_BASE;
    const char *p = path;

    if (path[0] == '/')
        return RESOLVE_ESCAPES;
    while (*p) {
        const char *end = strchrnul(p, '/');
        size_t n = (size_t)(end - p);
        ctx->walk_work += n + 1;
        if (ctx->walk_work > budget)
            return RESOLVE_TOO_COMPLEX;
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            if (w->missing > 0)
                w->missing--;
            else if (w->at == ROOT || w->at == w->floor)
                return RESOLVE_ESCAPES;
            else
                w->at = map->nodes[w->at].parent;
        } else if (n > 0 && !(n == 1 && p[0] == '.')) {
            uint32_t child = w->missing ? 0 : map_child(map, w->at, p, n);
            if (!child) {
                w->missing++;
            } else if (map->nodes[child].type == NODE_SYMLINK) {
                int rc;
                if (++w->hops > SYMLINK_MAX_HOPS)
                    return RESOLVE_LOOPS;
                rc = walk(ctx, w, map->nodes[child].target); /* from the link's directory */
                if (rc != RESOLVE_INSIDE)
                    return rc;
            } else if (map->nodes[child].type == NODE_FILE) {
                w->missing++; /* "file/.." fails with ENOTDIR: treated as a missing name */
            } else {
                w->at = child;
            }
        }
        p = *end ? end + 1 : end;
    }
    return RESOLVE_INSIDE;
}

/* Check that a link in directory node dir, named name (for messages), with target stays
 * inside the tree whose root is floor. */
static int check_symlink(extract_ctx *ctx, uint32_t dir, uint32_t floor, const char *name,
                         const char *target)
{
    walker w = {dir, 0, floor, 0};
    int rc;

    if (target[0] == '\0')
        return unsafe(ctx, name, "symbolic link with an empty target%s", NULL);
    if (target[0] == '/')
        return unsafe(ctx, name, "symbolic link to the absolute path '%s'", target);
    rc = walk(ctx, &w, target);
    if (rc == RESOLVE_ESCAPES)
        return unsafe(ctx, name, "symbolic link to '%s' leads outside the archive's tree", target);
    if (rc == RESOLVE_LOOPS)
        return unsafe(ctx, name, "symbolic link to '%s' loops", target);
    if (rc == RESOLVE_TOO_COMPLEX)
        return unsafe(ctx, name,
                      "the archive's symbolic links lead through each other too much to check "
                      "(at '%s')",
                      target);
    return 0;
}

/* The memory a new node for comp_len bytes (and a target) takes, refused past the cap. */
static int map_cost(extract_ctx *ctx, const char *entry, size_t comp_len, const char *target)
{
    size_t more =
        comp_len + 1 + (target ? strlen(target) + 1 : 0) + sizeof(node) + 2 * sizeof(uint32_t);
    if (ctx->map.bytes + more > RZ_EXTRACT_MAX_NAME_BYTES)
        return unsafe(ctx, entry, "the archive's names take more than %s", "256 MiB");
    return 0;
}

/* Find (or record, as directories) the nodes of name's parent directories, in ctx->chain[0..),
 * refusing names below a file or a link; *out_depth is how many there are, *out_leaf where
 * the last component starts. Costs the length of name. */
static int add_parents(extract_ctx *ctx, const char *name, size_t *out_depth, const char **out_leaf)
{
    const char *p = name, *slash;
    uint32_t at = ROOT;
    size_t depth = 0;

    while ((slash = strchr(p, '/')) != NULL) {
        size_t n = (size_t)(slash - p);
        uint32_t child = map_child(&ctx->map, at, p, n);
        if (child && ctx->map.nodes[child].type != NODE_DIR) {
            char *inside = ctx->aux;
            memcpy(inside, name, (size_t)(slash - name));
            inside[slash - name] = '\0';
            if (ctx->map.nodes[child].type == NODE_SYMLINK)
                return unsafe(ctx, name, "it is inside '%s', a symbolic link of the archive",
                              inside);
            return unsafe(ctx, name, "it is inside '%s', a file of the archive", inside);
        }
        if (!child && (map_cost(ctx, name, n, NULL) < 0 ||
                       map_add(&ctx->map, &child, at, p, n, NODE_DIR, NULL, ctx->err) < 0))
            return -1;
        ctx->chain[depth++] = child;
        at = child;
        p = slash + 1;
    }
    *out_depth = depth;
    *out_leaf = p;
    return 0;
}

/* The node of the normalised path (ROOT for ""), or 0 when it is not in the map. */
static uint32_t map_lookup(const node_map *map, const char *path)
{
    const char *p = path;
    uint32_t at = ROOT;

    while (*p) {
        const char *end = strchrnul(p, '/');
        at = map_child(map, at, p, (size_t)(end - p));
        if (!at)
            return 0;
        p = *end ? end + 1 : end;
    }
    return at;
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

/* ---- writing the tree ------------------------------------------------------------------- *
 *
 * Everything is created below ctx->root_fd with openat/mkdirat/symlinkat/linkat, never through
 * a symbolic link (O_NOFOLLOW; no entry is ever below a link of the archive, and nothing else
 * writes into the private temporary directory), with explicit modes (fchmod), so the process
 * umask is neither read nor changed: libarchive's disk writer sets it to 0 for a moment on
 * every entry, which gave files created by other threads meanwhile mode 0666. */

static int os_error(extract_ctx *ctx, const char *entry, const char *what)
{
    int en = errno;
    return rz_error_os(ctx->err, en, entry, "%s: cannot extract '%s' (%s: %s)", ctx->label, entry,
                       what, strerror(en));
}

static void close_dir(extract_ctx *ctx)
{
    if (ctx->dir_fd >= 0 && ctx->dir_fd != ctx->root_fd)
        close(ctx->dir_fd);
    ctx->dir_fd = -1;
}

/* Make the parent directories of the entry (ctx->chain[0..depth), components of name) exist
 * on disk, and leave ctx->dir_fd open on the last one. Costs the entry's depth in system calls
 * at most; nothing when the parent is the previous entry's. */
static int open_parent(extract_ctx *ctx, const char *name, size_t depth)
{
    uint32_t want = depth ? ctx->chain[depth - 1] : ROOT;
    size_t have = depth, i;
    const char *p = name;
    int fd;

    if (ctx->dir_fd >= 0 && ctx->dir == want)
        return 0;
    close_dir(ctx);
    while (have > 0 && !ctx->map.nodes[ctx->chain[have - 1]].on_disk)
        have--;
    /* name's first `have` components exist: open them in one call */
    for (i = 0; i < have; i++)
        p = strchr(p, '/') + 1;
    if (have == 0) {
        fd = ctx->root_fd;
    } else {
        char *prefix = ctx->scratch;
        memcpy(prefix, name, (size_t)(p - 1 - name));
        prefix[p - 1 - name] = '\0';
        fd = openat(ctx->root_fd, prefix, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return os_error(ctx, name, "open its directory");
    }
    for (i = have; i < depth; i++) { /* the missing ones: mkdir, open, mode 0755 */
        const char *end = strchr(p, '/');
        char *comp = ctx->scratch;
        int sub;
        memcpy(comp, p, (size_t)(end - p));
        comp[end - p] = '\0';
        if (mkdirat(fd, comp, 0700) < 0)
            goto fail;
        sub = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0)
            goto fail;
        if (fd != ctx->root_fd)
            close(fd);
        fd = sub;
        if (fchmod(fd, 0755) < 0)
            goto fail;
        ctx->map.nodes[ctx->chain[i]].on_disk = 1;
        p = end + 1;
    }
    ctx->dir_fd = fd;
    ctx->dir = want;
    return 0;
fail:
    os_error(ctx, name, "create its directory");
    if (fd != ctx->root_fd)
        close(fd);
    return -1;
}

/* The entry's times, for futimens/utimensat: UTIME_OMIT for those it does not carry. */
static void entry_times(struct archive_entry *entry, struct timespec out[2])
{
    out[0].tv_nsec = out[1].tv_nsec = UTIME_OMIT;
    if (archive_entry_atime_is_set(entry)) {
        out[0].tv_sec = archive_entry_atime(entry);
        out[0].tv_nsec = archive_entry_atime_nsec(entry);
    }
    if (archive_entry_mtime_is_set(entry)) {
        out[1].tv_sec = archive_entry_mtime(entry);
        out[1].tv_nsec = archive_entry_mtime_nsec(entry);
        if (!archive_entry_atime_is_set(entry))
            out[0] = out[1];
    }
}

/* Copy the entry's data into fd, counting it against the byte cap as it comes. */
static int write_data(extract_ctx *ctx, struct archive *in, int fd, const char *name,
                      struct archive_entry *entry)
{
    const void *block;
    size_t len;
    la_int64_t offset;
    uint64_t extent = 0, size;
    int declared = archive_entry_size_is_set(entry) && archive_entry_size(entry) >= 0;

    size = declared ? (uint64_t)archive_entry_size(entry) : 0;
    for (;;) {
        int r = archive_read_data_block(in, &block, &len, &offset);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN || offset < 0)
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
        if (declared && (uint64_t)offset + len > size)
            return unsafe(ctx, name, "it holds more data than its declared size%s", NULL);
        while (len > 0) {
            ssize_t n = pwrite(fd, block, len, (off_t)offset);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return os_error(ctx, name, "write");
            block = (const char *)block + n;
            len -= (size_t)n;
            offset += n;
        }
    }
    /* A sparse file may end with a hole: its size is the entry's (within the cap). */
    if (size > extent) {
        if (size - extent > ctx->limits.max_bytes - ctx->bytes)
            return unsafe(ctx, name, "the archive holds more than its byte limit%s", NULL);
        ctx->bytes += size - extent;
        if (ftruncate(fd, (off_t)size) < 0)
            return os_error(ctx, name, "write");
    }
    return 0;
}

static int write_file(extract_ctx *ctx, struct archive *in, struct archive_entry *entry,
                      const char *name, const char *leaf, mode_t mode)
{
    struct timespec times[2];
    int fd = openat(ctx->dir_fd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

    if (fd < 0)
        return os_error(ctx, name, "create it");
    entry_times(entry, times);
    if (write_data(ctx, in, fd, name, entry) < 0) {
        close(fd);
        return -1;
    }
    if (fchmod(fd, mode) < 0 || futimens(fd, times) < 0) {
        os_error(ctx, name, "set its mode and time");
        close(fd);
        return -1;
    }
    if (close(fd) < 0)
        return os_error(ctx, name, "write");
    return 0;
}

/* A directory entry: created (or seen again), its mode set now (owner rwx always, so nothing
 * below is blocked), its times once everything is in (set_dir_times). */
static int write_dir(extract_ctx *ctx, struct archive_entry *entry, uint32_t node, const char *name,
                     const char *leaf, mode_t mode)
{
    dir_time *t;
    int fd;

    if (!ctx->map.nodes[node].on_disk && mkdirat(ctx->dir_fd, leaf, 0700) < 0)
        return os_error(ctx, name, "create it");
    ctx->map.nodes[node].on_disk = 1;
    fd = openat(ctx->dir_fd, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fchmod(fd, mode) < 0) {
        os_error(ctx, name, "set its mode");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    if (ctx->map.nodes[node].dir_time) { /* seen before: the last entry's times win */
        entry_times(entry, ctx->dir_times[ctx->map.nodes[node].dir_time - 1].times);
        return 0;
    }
    if (ctx->n_dir_times == ctx->cap_dir_times) {
        size_t cap = ctx->cap_dir_times ? 2 * ctx->cap_dir_times : 64;
        dir_time *bigger = realloc(ctx->dir_times, cap * sizeof(*bigger));
        if (!bigger)
            return rz_error_set(ctx->err, RZ_E_NOMEM, "out of memory while extracting");
        ctx->dir_times = bigger;
        ctx->cap_dir_times = cap;
    }
    t = &ctx->dir_times[ctx->n_dir_times++];
    t->node = node;
    ctx->map.nodes[node].dir_time = (uint32_t)ctx->n_dir_times;
    entry_times(entry, t->times);
    return 0;
}

/* After the last entry: directory times, which creating entries inside them changed. */
static int set_dir_times(extract_ctx *ctx)
{
    size_t i;

    close_dir(ctx);
    for (i = 0; i < ctx->n_dir_times; i++) {
        const char *path =
            node_path(&ctx->map, ctx->dir_times[i].node, ctx->scratch, ctx->limits.max_path + 1);
        if (utimensat(ctx->root_fd, path, ctx->dir_times[i].times, AT_SYMLINK_NOFOLLOW) < 0)
            return os_error(ctx, path, "set its time");
    }
    return 0;
}

/* ---- one entry ------------------------------------------------------------------------- */

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

/* Refuse names whose path in the destination would not fit RZ_PATH_MAX. */
static int check_length(extract_ctx *ctx, const char *name, const char *entry)
{
    if (strlen(ctx->tmp) + 1 + strlen(name) >= RZ_PATH_MAX)
        return unsafe(ctx, entry, "its path in the destination would be longer than %s bytes",
                      "PATH_MAX (4096)");
    return 0;
}

static int extract_entry(extract_ctx *ctx, struct archive *in, struct archive_entry *entry)
{
    const char *raw, *hardlink, *symlink, *leaf = NULL;
    char *name = ctx->name;
    node_type type;
    uint32_t node = 0, existing, parent;
    size_t name_len, depth = 0;
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
    /* libarchive may reuse the name's storage when the entry changes: keep a copy. */
    memcpy(ctx->raw, raw, strlen(raw) + 1);
    raw = ctx->raw;
    hardlink = archive_entry_hardlink(entry);
    symlink = archive_entry_symlink(entry);
    /* Every entry costs time linear in its name and link target: capped in total, repeats
     * (a directory may come again) included. */
    ctx->name_bytes +=
        strlen(raw) + (hardlink ? strlen(hardlink) : 0) + (symlink ? strlen(symlink) : 0);
    if (ctx->name_bytes > RZ_EXTRACT_MAX_NAME_BYTES)
        return unsafe(ctx, raw, "the archive's names take more than %s", "256 MiB");
    r = normalise(name, raw);
    if (r == 1)
        return unsafe(ctx, raw, "absolute path%s", NULL);
    if (r == 2)
        return unsafe(ctx, raw, "its name has a '..' component%s", NULL);
    name_len = strlen(name);

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
    if (check_length(ctx, name, raw) < 0 || add_parents(ctx, name, &depth, &leaf) < 0)
        return -1;
    parent = depth ? ctx->chain[depth - 1] : ROOT;
    existing = map_child(&ctx->map, parent, leaf, strlen(leaf));
    if (existing && !(ctx->map.nodes[existing].type == NODE_DIR && type == NODE_DIR))
        return unsafe(ctx, raw, "the name appears twice in the archive%s", NULL);
    if (type == NODE_SYMLINK && !hardlink && check_symlink(ctx, parent, ROOT, name, symlink) < 0)
        return -1;
    if (hardlink) {
        uint32_t target;
        if (strlen(hardlink) > ctx->limits.max_path)
            return unsafe(ctx, raw, "hard link target longer than the name limit%s", NULL);
        r = normalise(ctx->aux, hardlink);
        if (r != 0)
            return unsafe(ctx, raw, "hard link to '%s', outside the archive's tree", hardlink);
        target = map_lookup(&ctx->map, ctx->aux);
        if (!target || ctx->map.nodes[target].type != NODE_FILE)
            return unsafe(ctx, raw,
                          "hard link to '%s', which is not a regular file extracted before it",
                          hardlink);
    }
    node = existing;
    if (!existing) {
        const char *kept = type == NODE_SYMLINK && !hardlink ? symlink : NULL;
        if (map_cost(ctx, raw, strlen(leaf), kept) < 0 ||
            map_add(&ctx->map, &node, parent, leaf, strlen(leaf), type, kept, ctx->err) < 0)
            return -1;
    }
    if (type == NODE_FILE && !hardlink && archive_entry_size_is_set(entry) &&
        archive_entry_size(entry) > 0 &&
        (uint64_t)archive_entry_size(entry) > ctx->limits.max_bytes - ctx->bytes) {
        char cap[32];
        snprintf(cap, sizeof(cap), "%llu", (unsigned long long)ctx->limits.max_bytes);
        return unsafe(ctx, raw, "the archive holds more than %s bytes of data", cap);
    }

    if (open_parent(ctx, name, depth) < 0)
        return -1;
    if (hardlink) {
        /* The data of a hard link entry, if any, is not written: it would change the file
         * linked to. */
        if (linkat(ctx->root_fd, ctx->aux, ctx->dir_fd, leaf, 0) < 0)
            return os_error(ctx, raw, "create the hard link");
    } else if (type == NODE_SYMLINK) {
        struct timespec times[2];
        entry_times(entry, times);
        if (symlinkat(symlink, ctx->dir_fd, leaf) < 0)
            return os_error(ctx, raw, "create the symbolic link");
        if (utimensat(ctx->dir_fd, leaf, times, AT_SYMLINK_NOFOLLOW) < 0)
            return os_error(ctx, raw, "set its time");
    } else if (type == NODE_DIR) {
        if (write_dir(ctx, entry, node, raw, leaf, sanitise_mode(type, archive_entry_perm(entry))) <
            0)
            return -1;
    } else if (write_file(ctx, in, entry, raw, leaf,
                          sanitise_mode(type, archive_entry_perm(entry))) < 0) {
        return -1;
    }
    ctx->map.nodes[node].on_disk = 1;
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
static int recheck_symlinks(extract_ctx *ctx, int strip_top_level)
{
    char top[NAME_MAX + 1] = "";
    uint32_t floor = ROOT, i;

    if (strip_top_level && single_top_dir(ctx, top, sizeof(top)) < 0)
        return -1;
    if (top[0])
        floor = map_child(&ctx->map, ROOT, top, strlen(top));
    for (i = 1; i < ctx->map.used; i++) {
        const node *n = &ctx->map.nodes[i];
        if (n->type == NODE_SYMLINK &&
            check_symlink(ctx, n->parent, floor,
                          node_path(&ctx->map, i, ctx->scratch, ctx->limits.max_path + 1),
                          n->target) < 0)
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
    struct archive_entry *entry;
    char *dest = NULL, *parent_slash;
    la_int64_t entry_end = 0; /* the archive's uncompressed offset after the last entry */
    int rc = -1, r;

    memset(&ctx, 0, sizeof(ctx));
    ctx.root_fd = ctx.dir_fd = -1;
    ctx.label = label;
    ctx.err = err;
    if (limits)
        ctx.limits = *limits;
    else
        rz_extract_limits_default(&ctx.limits);
    ctx.next_check_bytes = CHECK_EVERY_BYTES;

    if (check_dest(dest_dir, err) < 0 || rz_path_beside(&dest, dest_dir, err) < 0)
        goto done;
    ctx.name = malloc(ctx.limits.max_path + 1);
    ctx.aux = malloc(ctx.limits.max_path + 1);
    ctx.scratch = malloc(ctx.limits.max_path + 1);
    ctx.raw = malloc(ctx.limits.max_path + 1);
    ctx.chain = malloc((ctx.limits.max_path / 2 + 2) * sizeof(*ctx.chain));
    if (!ctx.name || !ctx.aux || !ctx.scratch || !ctx.raw || !ctx.chain) {
        rz_error_set(err, RZ_E_NOMEM, "out of memory extracting %s", label);
        goto done;
    }
    if (map_init(&ctx.map, err) < 0 || rz_mkdtemp_beside(&ctx.tmp, dest_dir, err) < 0)
        goto done;
    ctx.root_fd = open(ctx.tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (ctx.root_fd < 0) {
        rz_error_os(err, errno, ctx.tmp, "cannot open %s", ctx.tmp);
        goto done;
    }
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
        if (extract_entry(&ctx, in, entry) < 0)
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
    if (recheck_symlinks(&ctx, strip_top_level) < 0 || run_check(&ctx) < 0 ||
        set_dir_times(&ctx) < 0)
        goto done;
    if (finish(&ctx, dest, strip_top_level) < 0)
        goto done;
    parent_slash = strrchr(dest, '/');
    if (parent_slash) {
        *parent_slash = '\0';
        /* Best effort: the tree is in place, and failing now would report as failed a call
         * whose result stays. NULL: no error left set behind a success. */
        (void)rz_fsync_dir(parent_slash == dest ? "/" : dest, NULL);
        *parent_slash = '/';
    }
    rc = 0;
done:
    close_dir(&ctx);
    if (ctx.root_fd >= 0)
        close(ctx.root_fd);
    if (ctx.tmp) {
        rz_error scratch;
        rz_error_init(&scratch);
        rz_rmtree(ctx.tmp, rc == 0 ? &scratch : err); /* gone already on success */
    }
    map_free(&ctx.map);
    free(ctx.tmp);
    free(ctx.name);
    free(ctx.aux);
    free(ctx.scratch);
    free(ctx.raw);
    free(ctx.chain);
    free(ctx.dir_times);
    free(dest);
    return rc;
}

/* A reader for our formats and filters; zip and 7z (which need to seek) only when with_zip is
 * set. RAR is not read: libarchive's RAR reader takes a clean end of input between two entries
 * for the end of the archive (RAR's end block is optional), so a truncated RAR would extract
 * with files missing. NULL on error. */
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
        (with_zip && (archive_read_support_format_zip_seekable(in) != ARCHIVE_OK ||
                      archive_read_support_format_7zip(in) != ARCHIVE_OK))) {
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
