/* fuzz_extract.c - libFuzzer harness for rz_extract_file (csrc/net/extract.c).
 *
 * Each input is written to <work>/in.bin and extracted into <work>/box/dest with small limits
 * and strip_top_level chosen by the input's length. Properties: on failure nothing is left in
 * <work>/box (no dest, no temporary directory); on success <work>/box holds only dest, nothing
 * appeared beside it or in <work> (no escape), and every symbolic link under dest resolves
 * (when it resolves at all) to a path inside dest. The tree is removed after each input. */

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/extract.h"

static char work[PATH_MAX];
static char box[PATH_MAX];
static char dest[PATH_MAX];
static char input[PATH_MAX];
static char real_dest[PATH_MAX];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP || flag == FTW_D)
        return rmdir(path) < 0 ? -1 : 0;
    return unlink(path) < 0 ? -1 : 0;
}

static void remove_tree(const char *path)
{
    struct stat st;

    if (lstat(path, &st) < 0)
        return;
    if (nftw(path, remove_entry, 32, FTW_DEPTH | FTW_PHYS) < 0)
        abort(); /* a tree we cannot remove: modes were not sanitised */
}

/* Number of entries in dir other than "." and "..", and whether only `allowed` (or nothing)
 * is there. */
static int only_entry(const char *dir, const char *allowed_a, const char *allowed_b)
{
    DIR *d = opendir(dir);
    struct dirent *e = NULL;
    int ok = 1;

    if (d == NULL)
        abort();
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if ((allowed_a == NULL || strcmp(e->d_name, allowed_a) != 0) &&
            (allowed_b == NULL || strcmp(e->d_name, allowed_b) != 0))
            ok = 0;
    }
    closedir(d);
    return ok;
}

static int check_link(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    char resolved[PATH_MAX];
    size_t n = strlen(real_dest);

    (void)st;
    (void)ftw;
    if (flag != FTW_SL)
        return 0;
    if (realpath(path, resolved) == NULL)
        return 0; /* dangling inside the tree is allowed */
    if (strncmp(resolved, real_dest, n) != 0 || (resolved[n] != '\0' && resolved[n] != '/'))
        abort(); /* a link that leads out of the extracted tree */
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *tmp = getenv("TMPDIR");

    (void)argc;
    (void)argv;
    if (snprintf(work, sizeof(work), "%s/rzfuzz-extract-XXXXXX", tmp ? tmp : "/tmp") >=
        (int)sizeof(work))
        abort();
    if (mkdtemp(work) == NULL)
        abort();
    snprintf(box, sizeof(box), "%s/box", work);
    snprintf(dest, sizeof(dest), "%s/dest", box);
    snprintf(input, sizeof(input), "%s/in.bin", work);
    if (mkdir(box, 0755) < 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rz_extract_limits limits;
    rz_error err;
    int fd = -1, rc;

    fd = open(input, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        abort();
    if (size > 0 && write(fd, data, size) != (ssize_t)size)
        abort();
    close(fd);

    rz_extract_limits_default(&limits);
    limits.max_bytes = 1u << 20;
    limits.max_entries = 256;
    limits.max_path = 512;
    rz_error_init(&err);
    rc = rz_extract_file(input, dest, (int)(size & 1), &limits, &err);
    if (rc < 0) {
        if (err.kind == RZ_E_NONE || err.message[0] == '\0' || strchr(err.message, '\n'))
            abort();
        if (!only_entry(box, NULL, NULL))
            abort(); /* a failed extraction left something behind */
    } else {
        if (!only_entry(box, "dest", NULL))
            abort(); /* a temporary directory or an escaped entry beside dest */
        if (realpath(dest, real_dest) == NULL)
            abort();
        if (nftw(dest, check_link, 32, FTW_PHYS) < 0)
            abort();
    }
    if (!only_entry(work, "in.bin", "box"))
        abort(); /* something escaped into the work directory */
    remove_tree(dest);
    return 0;
}
