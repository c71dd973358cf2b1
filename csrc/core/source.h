/* source.h - sources: what makes a fetched or local tree a source (its manifest directories),
 * registering, refreshing and deleting them, and sweeping what removals left.
 *
 * As in FiftyOne, every directory of the tree (the tree's root included) that holds a
 * manifest.json is one source directory, and the search does not descend below it; one repo
 * may publish several. Hidden directories, __pycache__ and symlinks are not entered.
 * Blocking I/O throughout: the glue releases the GIL.
 */
#ifndef RZ_SOURCE_H
#define RZ_SOURCE_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "core/home.h"
#include "core/index.h"
#include "core/spec.h"
#include "net/net.h"
#include "util/error.h"

#define RZ_SCAN_MAX_DEPTH     16
#define RZ_SCAN_MAX_DIRS      20000
#define RZ_SCAN_MAX_MANIFESTS 1000

/* Find and validate the manifests of tree. *out is a new cJSON array of manifest entries as
 * index.h describes them (caller frees with cJSON_Delete). identity names the source in
 * messages; slug makes the module names and the default models subdirectory. No manifest.json
 * anywhere, or an invalid one, is an error and *out stays NULL. */
int rz_source_scan(cJSON **out, const char *tree, const char *identity, const char *slug,
                   rz_error *err);

/* What a registration must find, or where its tree comes from (lock files, bundles); a zeroed
 * one (or NULL) asks for nothing. Every check happens before the source is registered: what
 * fails leaves the registry as it was.
 *   at_sha:      GitHub: fetch this commit (40 or 64 hex), whatever the ref names now
 *   expect_sha:  GitHub: the ref must name this commit, else nothing is fetched
 *   archive_sha256: an archive's bytes must have this digest (with tree_from: recorded as is)
 *   tree_sha256: the fetched tree must have this digest (digest.h, __pycache__ left out)
 *   tree_from:   a directory on the home's file system, moved in as the fetched tree: no network
 *                (with tree_sha256, and at_sha for a GitHub source) */
typedef struct rz_source_pin {
    const char *at_sha;
    const char *expect_sha;
    const char *archive_sha256;
    const char *tree_sha256;
    const char *tree_from;
} rz_source_pin;

/* Registration: make spec's source registered under home (rz_registry_put_source: a manifest
 * name another source provides is refused unless overwrite, which replaces that source). A
 * fetched source's entry records what it was fetched at: "sha" (GitHub), "archive_sha256" (the
 * archive's bytes, hashed as they stream) and "tree_sha256" (the extracted tree); pin (may be
 * NULL) says what they must be.
 *
 * A local source is used in place (its tree is its directory) and rescanned every time.
 * A fetched source (GitHub, archive) is downloaded and extracted into a fresh directory
 * <sources>/<slug>/.tmp-XXXXXX, scanned, renamed to <sources>/<slug>/<generation>, and only
 * then recorded in the index; the previous generation is then retired (generation.h): removed
 * once no process runs code from it.
 * A registered fetched source is not fetched again unless overwrite; with overwrite a GitHub
 * source whose ref still resolves to the recorded sha is not downloaded again.
 * fetch_opts carries progress / cancel; net (net.h) is needed for fetched sources only (NULL is
 * fine for a local one). */
int rz_source_register(const rz_home *home, const rz_net_api *net, const rz_spec *spec,
                       const char *spec_text, int overwrite, const rz_source_pin *pin,
                       const rz_fetch_opts *fetch_opts,
                       rz_error *err);

/* Unregister identity: remove it from the index with its whole models folders
 * (rz_registry_remove_source), then its fetched tree (once no process runs code from it). */
int rz_source_delete(const rz_home *home, const char *identity, rz_error *err);

/* Rescan the local sources of idx (borrowed, recently read) whose manifest.json changed since
 * they were indexed, and register them again: local sources are used in place, so this is what
 * keeps their index entries true. 1 if the index was rewritten, 0 if nothing changed, -1. */
int rz_source_refresh_local(const rz_home *home, const rz_index *idx, rz_error *err);

/* Finish what removals left: the trees of the sources idx (borrowed, recently read) marks
 * "doomed" that no registration is using, and the trash no live process is emptying in the
 * models directory (models.h). Errors are ignored: the next sweep tries again. */
void rz_source_sweep(const rz_home *home, const rz_index *idx);

/* The source entry (a new cJSON object, caller frees with cJSON_Delete) for the local directory
 * path, rescanned: what rz_source_register records for it. */
int rz_source_local_entry(cJSON **out, const char *identity, const char *spec_text,
                          const char *path, const char *slug, rz_error *err);

#endif
