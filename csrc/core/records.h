/* records.h - the digest of each downloaded model, recorded when its download completes, and
 * what a download must match (a lock file's digest, a bundle's).
 *
 * The record of the model at <models>/<rel> is <root>/records/<16 hex digits of rel's FNV-1a>.json
 * (outside the models folders, which keep the layout sources expect), written atomically
 * (fsutil.h) under the model's lock right after the model is placed:
 *
 *     {"format": 1, "path": "<rel>", "name": "<model name>", "kind": "file" | "tree",
 *      "size": N, "sha256": "<64 hex>", "recorded_at": "<UTC ISO 8601>"}
 *
 * with the digest of digest.h (a file's SHA-256, or the tree digest of a directory; a model
 * path that is a link is digested through it). The record goes before a new download is placed
 * and arrives after it, so a kill in between leaves a model without a record (unrecorded, never
 * a wrong digest); it goes when the model is deleted, and `cache gc` removes the records of
 * models gone with their folder. Reading records is the Python face's (remotezoo/_cache.py),
 * which treats anything unexpected (another path or name) as no record.
 */
#ifndef RZ_RECORDS_H
#define RZ_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#include "net/net.h" /* rz_digest (net/digest.h): the engines' table carries its type */
#include "util/error.h"

#define RZ_RECORDS_DIR "records"

/* What a download must be, or nothing (set 0). */
typedef struct rz_expect {
    int set;
    int is_tree;
    uint64_t size;
    char sha256[RZ_SHA256_HEX_LEN + 1];
} rz_expect;

/* The record path of the model at model_path, which is below models (<root>/models), on the
 * heap (caller frees), or NULL with err set. */
char *rz_record_path(const char *models, const char *model_path, rz_error *err);

/* 0 if d is what e expects (or e expects nothing), else an RZ_E_CHECKSUM error naming the
 * model and both digests. */
int rz_expect_check(const rz_expect *e, const rz_digest *d, const char *model_name,
                    rz_error *err);

/* Write the record of model_name's download d at model_path (below models). */
int rz_record_write(const char *models, const char *model_path, const char *model_name,
                    const rz_digest *d, rz_error *err);

/* Remove the record of the model at model_path, if any. Errors are ignored (a record of a
 * model that is gone is harmless: the next download replaces it, `cache gc` removes it). */
void rz_record_remove(const char *models, const char *model_path);

#endif
