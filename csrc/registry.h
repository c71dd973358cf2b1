/* registry.h - the on-disk registry under $REMOTEZOO_HOME: where things live, the index of
 * registered sources and their models (registry.json), and the lock that serialises writers.
 *
 * Layout:  <root>/registry.json      the index (written whole: temp file + fsync + rename)
 *          <root>/registry.names     every model's full name, for listing without the index
 *                                    (names.h; written after registry.json, same way)
 *          <root>/.lock              flock()ed by every writer of the index
 *          <root>/sources/<slug>/<generation>/   fetched source trees
 *          <root>/models/<manifest name>/<model filename>   downloaded models
 *          <root>/locks/             per-source registration and per-model locks
 * Readers never lock: rename() makes every version of registry.json they open complete.
 *
 * The index is cJSON: {"format": 1, "sources": [source, ...]} where a source is
 *   {"identity", "spec", "kind": "github"|"archive"|"local", "slug", "tree", "generation",
 *    "ref"?, "sha"?, "registered_at", "manifests": [manifest, ...]}
 * and a manifest is {"dir", "name"?, "module", "models_subdir", "stamp",
 *    "models": [{"name", "base_name", "version"?, "filename", "tags", "license"?}, ...]}.
 * "tree" is relative to the root for fetched sources, absolute for local ones.
 */
#ifndef RZ_REGISTRY_H
#define RZ_REGISTRY_H

#include <cjson/cJSON.h>
#include <stdint.h>
#include <sys/file.h> /* LOCK_EX, LOCK_SH */
#include <sys/types.h>

#include "error.h"

#define RZ_PATH_MAX        4096
#define RZ_INDEX_MAX_BYTES (256u * 1024 * 1024)

typedef struct rz_home {
    char root[RZ_PATH_MAX];
    char sources[RZ_PATH_MAX];
    char models[RZ_PATH_MAX];
    char locks[RZ_PATH_MAX];
    char index[RZ_PATH_MAX];
    char lock[RZ_PATH_MAX];
    char names[RZ_PATH_MAX]; /* registry.names (names.h) */
} rz_home;

/* Fill out with the paths under root and create the directories. Blocking I/O. */
int rz_home_init(rz_home *out, const char *root, rz_error *err);

/* flock(operation: LOCK_EX or LOCK_SH) path, creating it; *out_fd is the descriptor to pass
 * to rz_lock_release. Blocks until the lock is free: callers release the GIL. */
int rz_lock_acquire(int *out_fd, const char *path, int operation, rz_error *err);
void rz_lock_release(int fd);

/* What tells one version of a file from another: registry.json is only ever replaced by
 * rename(), so a new version is a new inode. exists is 0 for a missing file. */
typedef struct rz_file_id {
    int exists;
    dev_t dev;
    ino_t ino;
    int64_t mtime_ns;
    off_t size;
} rz_file_id;

/* The identity of path now (exists 0 when it is missing). -1 with errno for other errors. */
int rz_file_id_of(rz_file_id *out, const char *path);

/* 1 if a and b are the same version of a file (or both missing), else 0. */
int rz_file_id_equal(const rz_file_id *a, const rz_file_id *b);

/* A parsed registry.json and the identity of the file it came from. */
typedef struct rz_index {
    int refs;    /* rz_index_load returns 1; rz_index_ref adds, rz_index_free drops */
    cJSON *root; /* owned */
    rz_file_id file;
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

/* The source entry whose identity is identity, or NULL. Borrowed from idx. */
cJSON *rz_index_find_source(const rz_index *idx, const char *identity);

/* The sources array. Borrowed. */
cJSON *rz_index_sources(const rz_index *idx);

/* Under the home lock, replace (or add) the entry of entry's identity and save the index.
 * entry is stolen (freed on failure too). */
int rz_registry_put_source(const rz_home *home, cJSON *entry, rz_error *err);

/* Under the home lock, remove the entry of identity and save; *out is the removed entry
 * (caller frees with cJSON_Delete). A missing source is an RZ_E_SOURCE error. */
int rz_registry_remove_source(cJSON **out, const rz_home *home, const char *identity,
                              rz_error *err);

/* <tree>[/<dir>]/manifest.json of a local source's manifest entry: what its "stamp" is of. */
int rz_local_manifest_path(char *out, size_t out_len, const cJSON *source, const cJSON *manifest);

/* Absolute path of a source's tree: "tree" joined to root when relative. */
int rz_source_tree_path(char *out, size_t out_len, const rz_home *home, const cJSON *source,
                        rz_error *err);

/* Lock the model at model_path (<locks>/model-<hash>.lock): LOCK_EX to download or delete it,
 * LOCK_SH to run code that reads it. Blocks: callers release the GIL. */
int rz_model_lock(int *out_fd, const rz_home *home, const char *model_path, int operation,
                  rz_error *err);

/* Absolute path of a model: <models>/<models_subdir>/<filename>. */
int rz_model_path(char *out, size_t out_len, const rz_home *home, const cJSON *manifest,
                  const cJSON *model, rz_error *err);

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

/* Small string helpers for cJSON objects: the string member or NULL. */
const char *rz_json_str(const cJSON *obj, const char *key);

#endif
