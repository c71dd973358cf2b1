/* index.h - registry.json, the index of registered sources and their models: its format, reading
 * and checking it, and the questions asked of it (listing, resolving names, where things are).
 * Writing it is registry.h's job. Readers never lock: rename() makes every version of
 * registry.json they open complete.
 *
 * The index is cJSON: {"format": 1, "sources": [source, ...], "doomed"?: [mark, ...]}
 * where a source is
 *   {"identity", "spec", "kind": "github"|"archive"|"local", "slug", "tree", "generation",
 *    "ref"?, "sha"?, "registered_at", "manifests": [manifest, ...]}
 * and a manifest is {"dir", "name"?, "module", "models_subdir", "stamp",
 *    "models": [{"name", "base_name", "version"?, "filename", "digest", "tags", "license"?}]}.
 * "tree" is relative to the root for fetched sources, absolute for local ones. "digest" says
 * what a model's download is made from (source.c). "stamp" is the text form of a local
 * manifest.json's stamp (util/stamp.h). "doomed" marks what unregistered sources left to
 * remove: {"slug"} a tree, {"folder"} a models folder (rz_source_sweep). The mark is saved with
 * the change that unregisters, so a process killed before the removal leaves it for the next
 * call.
 * Every field is checked when the file is read, as if it came from the network: a path field
 * that could name another place than the one remotezoo made it for is a refused registry.
 *
 * Models folders: each manifest's models live in <models>/<models_subdir>: its "name" as in
 * FiftyOne, else (no name, or a name whose folder would nest in or around another's) its
 * source's slug. No two registered folders overlap (neither equal nor one inside the other,
 * compared ignoring ASCII case), so removing one never touches another source's models.
 */
#ifndef RZ_INDEX_H
#define RZ_INDEX_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "core/home.h"
#include "util/error.h"
#include "util/stamp.h"

#define RZ_INDEX_MAX_BYTES (256u * 1024 * 1024)
#define RZ_MODULE_PREFIX   "remotezoo._sources."

/* A parsed registry.json and the stamp of the file it came from. */
typedef struct rz_index {
    int refs;    /* rz_index_load returns 1; rz_index_ref adds, rz_index_free drops */
    cJSON *root; /* owned */
    rz_stamp file;
} rz_index;

/* Read registry.json (a missing file is an empty index). Caller frees with rz_index_free. */
int rz_index_load(rz_index **out, const rz_home *home, rz_error *err);

/* Another reference to idx, for a holder that outlives the one it got idx from (the glue's
 * cache is replaced while a call still uses the old index). Not atomic: the glue calls both
 * with the GIL held. Returns idx. */
rz_index *rz_index_ref(rz_index *idx);

/* Drop a reference; the last one frees idx. NULL is fine. */
void rz_index_free(rz_index *idx);

/* 1 if registry.json is still the file idx was read from, else 0. One stat(). */
int rz_index_is_current(const rz_index *idx, const rz_home *home);

/* The sources array. Borrowed. */
cJSON *rz_index_sources(const rz_index *idx);

/* The source entry whose identity is identity, or NULL. Borrowed from idx. */
cJSON *rz_index_find_source(const rz_index *idx, const char *identity);

/* The "doomed" array of idx, or NULL. Borrowed. */
cJSON *rz_index_doomed(const rz_index *idx);

/* The "manifests" of a source entry, and the "models" of a manifest entry. Borrowed. */
const cJSON *rz_index_manifests(const cJSON *source);
const cJSON *rz_index_models(const cJSON *manifest);

/* 1 if two models folders are one: their names differ at most in ASCII case (so that they stay
 * apart on a case-insensitive file system too). */
int rz_folders_same(const char *a, const char *b);

/* The models folder (and, after RZ_MODULE_PREFIX, the module name) of the manifest in
 * directory dir ("" for the tree's root) of the source slug when it has no name of its own:
 * "<slug>" or "<slug>_<8 hex digits of the dir's hash>". 0, or -1 when out_len is too small
 * (RZ_SOURCE_SUBDIR_MAX holds any of a valid slug). */
#define RZ_SOURCE_SUBDIR_MAX 128
int rz_source_default_subdir(char *out, size_t out_len, const char *slug, const char *dir);

/* The paths of an index entry, each on the heap (caller frees with free(); NULL with err set,
 * which may be NULL):
 * <tree>[/<dir>]/manifest.json of a local source's manifest entry: what its "stamp" is of; */
char *rz_local_manifest_path(const cJSON *source, const cJSON *manifest, rz_error *err);

/* the absolute path of a source's tree: "tree" joined to root when relative; */
char *rz_source_tree_path(const rz_home *home, const cJSON *source, rz_error *err);

/* the absolute path of a model: <models>/<models_subdir>/<filename>. */
char *rz_model_path(const rz_home *home, const cJSON *manifest, const cJSON *model, rz_error *err);

/* Filters for listing; NULL / 0 means "any". Tags must all match; licenses any. */
typedef struct rz_query {
    const char *const *tags;
    size_t n_tags;
    const char *source; /* identity */
    const char *const *licenses;
    size_t n_licenses;
} rz_query;

typedef struct rz_model_ref {
    const cJSON *source;   /* borrowed from the index */
    const cJSON *manifest; /* borrowed */
    const cJSON *model;    /* borrowed */
} rz_model_ref;

/* Call visit for each model matching q, in index order; a nonzero return stops the walk and is
 * returned. */
typedef int (*rz_model_visit_fn)(const rz_model_ref *ref, void *payload);
int rz_index_each_model(const rz_index *idx, const rz_query *q, rz_model_visit_fn visit,
                        void *payload);

/* Resolve a model name: an exact full name, or a base name meaning its latest version.
 * source (an identity, may be NULL) restricts the search. Two sources offering the same
 * winner is an RZ_E_MODEL_NOT_FOUND error naming both (pass source to choose). */
int rz_index_resolve(rz_model_ref *out, const rz_index *idx, const char *name, const char *source,
                     rz_error *err);

#endif
