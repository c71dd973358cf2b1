/* names.h - registry.names: the full name of every registered model, sorted, so that a new
 * process lists models without parsing registry.json (20-30 ms for 10,000 models, nearly all of
 * it cJSON building ~100,000 nodes; this file is one read and a split).
 *
 * Every writer of registry.json writes it right after, under the home lock, the same way
 * (temp file, fsync, rename):
 *     remotezoo-names 1 <dev> <ino> <size> <mtime_ns>     the registry.json it was made from
 *     L <stamp> <path>                                     one per local source's manifest.json
 *     N <name>                                             one per model, sorted by strcmp
 * A reader trusts it only while registry.json is still that file and every local manifest
 * still has its stamp (local sources are used in place; a changed one must be rescanned).
 * Anything else (no file, an older registry.json, a crash between the two writes, a changed
 * local manifest, a name the format cannot hold, a malformed file) means: read the index.
 */
#ifndef RZ_NAMES_H
#define RZ_NAMES_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "core/home.h"
#include "util/error.h"
#include "util/stamp.h"

typedef struct rz_names {
    char *text;          /* owned: the file, each line NUL-terminated in place */
    rz_stamp index;      /* the registry.json it lists */
    const char **locals; /* owned array into text: path, stamp, path, stamp, ... */
    size_t n_locals;     /* pairs */
    const char **names;  /* owned array into text, sorted */
    size_t n_names;
} rz_names;

/* Write registry.names for root, the index just saved as home->index. Failure (or a name with a
 * newline) removes the file instead: readers then read the index. */
void rz_names_write(const rz_home *home, const cJSON *root);

/* Read registry.names into *out if it is valid now (rz_names_valid): 1. Not there or not valid:
 * 0 (read the index instead). Out of memory: -1 with err set. Clear *out with rz_names_clear. */
int rz_names_read(rz_names *out, const rz_home *home, rz_error *err);

/* 1 if n still lists the current registry.json and every local manifest keeps its stamp. One
 * stat() of registry.json and one per local manifest. */
int rz_names_valid(const rz_names *n, const rz_home *home);

void rz_names_clear(rz_names *n); /* a zeroed or cleared one is fine */

#endif
