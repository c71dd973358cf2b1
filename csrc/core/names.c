/* names.c - see names.h. */
#include "core/names.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/index.h"
#include "core/json.h"
#include "util/buf.h"
#include "util/fsutil.h"

#define MAGIC "remotezoo-names 1"

/* The text of the file, or NULL (out of memory, larger than a reader reads, or a string it
 * cannot hold). malloc'd. */
static char *names_text(const cJSON *root, const rz_stamp *index)
{
    const cJSON *source, *manifest, *model;
    rz_buf text = RZ_BUF_INIT(RZ_INDEX_MAX_BYTES, RZ_E_INVALID, "registry.names");
    const char **names = NULL;
    size_t n = 0, cap = 0, i;

    if (rz_buf_addf(&text, NULL, "%s %ju %ju %jd %jd\n", MAGIC, (uintmax_t)index->dev,
                    (uintmax_t)index->ino, (intmax_t)index->size, (intmax_t)index->mtime_ns) < 0)
        goto fail;
    /* The local manifests' lines, and the names, sorted after. */
    cJSON_ArrayForEach(source, cJSON_GetObjectItemCaseSensitive(root, "sources"))
    {
        const char *kind = rz_json_str(source, "kind");
        int local = kind && strcmp(kind, "local") == 0;
        cJSON_ArrayForEach(manifest, rz_index_manifests(source))
        {
            const char *stamp = rz_json_str(manifest, "stamp");
            if (local) {
                char *path = rz_local_manifest_path(source, manifest, NULL);
                int bad = !stamp || !path || strchr(path, '\n') ||
                          rz_buf_addf(&text, NULL, "L %s %s\n", stamp, path) < 0;
                free(path);
                if (bad)
                    goto fail;
            }
            cJSON_ArrayForEach(model, rz_index_models(manifest))
            {
                const char *name = rz_json_str(model, "name");
                if (!name || strchr(name, '\n'))
                    goto fail;
                if (n == cap) {
                    const char **grown =
                        realloc(names, (cap = cap ? cap * 2 : 256) * sizeof(*names));
                    if (!grown)
                        goto fail;
                    names = grown;
                }
                names[n++] = name;
            }
        }
    }
    if (n > 0) /* qsort wants a non-NULL array even when empty */
        qsort(names, n, sizeof(*names), rz_compare_names);
    for (i = 0; i < n; i++)
        if (rz_buf_addf(&text, NULL, "N %s\n", names[i]) < 0)
            goto fail;
    free(names);
    return rz_buf_take(&text, NULL);
fail:
    free(names);
    rz_buf_free(&text);
    return NULL;
}

void rz_names_write(const rz_home *home, const cJSON *root)
{
    rz_stamp index;
    char *text = NULL;

    if (rz_stamp_of(&index, home->index) < 0 || !index.exists ||
        !(text = names_text(root, &index)) ||
        rz_write_atomic(home->names, text, strlen(text), NULL) < 0)
        unlink(home->names); /* readers fall back to the index */
    free(text);
}

void rz_names_clear(rz_names *n)
{
    free(n->text);
    free(n->locals);
    free(n->names);
    n->text = NULL;
    n->locals = n->names = NULL;
    n->n_locals = n->n_names = 0;
}

int rz_names_valid(const rz_names *n, const rz_home *home)
{
    rz_stamp now;
    size_t i;

    if (rz_stamp_of(&now, home->index) < 0 || !now.exists || !rz_stamp_equal(&now, &n->index))
        return 0;
    for (i = 0; i < n->n_locals; i++)
        if (!rz_stamp_text_is(n->locals[2 * i], n->locals[2 * i + 1]))
            return 0;
    return 1;
}

/* Split text (NUL-terminated, len bytes) into *out. 1 if it is a well-formed names file, 0 if
 * not, -1 out of memory. */
static int parse(rz_names *out, size_t len, rz_error *err)
{
    char *line = out->text, *end = out->text + len, *next;
    uintmax_t dev, ino;
    intmax_t size, mtime_ns;
    size_t lines = 0, i;

    for (next = line; next < end; next++)
        lines += *next == '\n';
    if (len == 0 || end[-1] != '\n')
        return 0;
    out->locals = calloc(2 * lines + 1, sizeof(*out->locals));
    out->names = calloc(lines + 1, sizeof(*out->names));
    if (!out->locals || !out->names)
        return rz_error_set(err, RZ_E_NOMEM, "out of memory");
    for (i = 0; line < end; i++, line = next + 1) {
        next = memchr(line, '\n', (size_t)(end - line));
        *next = '\0';
        if (i == 0) {
            int used = 0;
            if (sscanf(line, MAGIC " %ju %ju %jd %jd%n", &dev, &ino, &size, &mtime_ns, &used) !=
                    4 ||
                line[used] != '\0')
                return 0;
            out->index.exists = 1;
            out->index.dev = (dev_t)dev;
            out->index.ino = (ino_t)ino;
            out->index.size = (off_t)size;
            out->index.mtime_ns = (int64_t)mtime_ns;
        } else if (line[0] == 'L' && line[1] == ' ' && out->n_names == 0) {
            char *space = strchr(line + 2, ' ');
            size_t len;
            /* read from disk: only a stamp and the absolute path of a manifest.json */
            if (!space || (size_t)(space - line - 2) != strspn(line + 2, "0123456789.:-") ||
                space[1] != '/' || (len = strlen(space + 1)) < 14 ||
                strcmp(space + 1 + len - 14, "/manifest.json") != 0)
                return 0;
            *space = '\0';
            out->locals[2 * out->n_locals] = space + 1;    /* path */
            out->locals[2 * out->n_locals + 1] = line + 2; /* stamp */
            out->n_locals++;
        } else if (line[0] == 'N' && line[1] == ' ') {
            out->names[out->n_names++] = line + 2;
        } else {
            return 0;
        }
    }
    return i > 0;
}

int rz_names_read(rz_names *out, const rz_home *home, rz_error *err)
{
    size_t len = 0;
    int fd, rc;

    rz_names_clear(out);
    fd = open(home->names, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    rc = rz_read_fd(&out->text, &len, fd, RZ_INDEX_MAX_BYTES, home->names, err);
    close(fd);
    if (rc < 0) {
        if (err->kind == RZ_E_NOMEM)
            return -1;
        rz_error_init(err); /* unreadable: read the index */
        return 0;
    }
    rc = parse(out, len, err);
    if (rc == 1 && !rz_names_valid(out, home))
        rc = 0;
    if (rc != 1)
        rz_names_clear(out);
    return rc;
}
