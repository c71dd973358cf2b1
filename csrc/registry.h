/* registry.h - the on-disk registry under $REMOTEZOO_HOME: where things live, the index of
 * registered sources and their models (registry.json), and the locks that serialise writers.
 *
 * Layout:  <root>/registry.json      the index (written whole: temp file + fsync + rename)
 *          <root>/registry.names     every model's full name, for listing without the index
 *                                    (names.h; written after registry.json, same way)
 *          <root>/.lock              locked by every writer of the index
 *          <root>/sources/<slug>/<generation>/   fetched source trees
 *          <root>/models/<models_subdir>/<model filename>   downloaded models (models.h)
 *          <root>/locks/             registration, folder and model locks (lock.h)
 * Readers never lock: rename() makes every version of registry.json they open complete.
 *
 * The index is cJSON: {"format": 1, "sources": [source, ...], "doomed"?: [mark, ...]}
 * where a source is
 *   {"identity", "spec", "kind": "github"|"archive"|"local", "slug", "tree", "generation",
 *    "ref"?, "sha"?, "registered_at", "manifests": [manifest, ...]}
 * and a manifest is {"dir", "name"?, "module", "models_subdir", "stamp",
 *    "models": [{"name", "base_name", "version"?, "filename", "digest", "tags", "license"?}]}.
 * "tree" is relative to the root for fetched sources, absolute for local ones. "digest" says
 * what a model's download is made from (source.c). "doomed" marks what unregistered sources
 * left to remove: {"slug"} a tree, {"folder"} a models folder (rz_source_sweep). The mark is
 * saved with the change that unregisters, so a process killed before the removal leaves it
 * for the next call.
 * Every field is checked when the file is read, as if it came from the network: a path field
 * that could name another place than the one remotezoo made it for is a refused registry.
 *
 * Models folders: each manifest's models live in <models>/<models_subdir>: its "name" as in
 * FiftyOne, else (no name, or a name whose folder would nest in or around another's) its
 * source's slug. No two registered folders overlap (neither equal nor one inside the other,
 * compared ignoring ASCII case), so removing one never touches another source's models.
 *
 * Lock order: a source's registration lock, then folder locks, then model locks, then the home
 * lock. Downloads, loads and model deletes hold their folder's lock shared; what removes or
 * replaces models of a folder (a registration, the removal of a deleted source's folder) holds
 * it exclusive, and takes several at once without waiting while it holds any (a source's code
 * may hold two folders' locks shared in its own order: loading another source's model).
 */
#ifndef RZ_REGISTRY_H
#define RZ_REGISTRY_H

#include <cjson/cJSON.h>
#include <stdint.h>
#include <sys/file.h> /* LOCK_EX, LOCK_SH */
#include <sys/types.h>

#include "error.h"
#include "lock.h"

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
    rz_lock_wait wait;       /* how this caller waits for locks (lock.h); init zeroes it and
                                sets wait.read_only (rz_home_read_only) */
} rz_home;

/* Fill out with the paths under root and create the directories (not in a read-only home).
 * Blocking I/O. */
int rz_home_init(rz_home *out, const char *root, rz_error *err);

/* 1 if the home at root is read-only: $REMOTEZOO_READ_ONLY is set (not "" or "0"), or root is
 * on a read-only mount (statvfs ST_RDONLY), or this process may not write it (EROFS, EACCES).
 * A read-only home is read without a single write: no directories, lock files, temporary
 * files, index rewrites (local sources are not rescanned) or sweeps; its shared locks hold
 * nothing, and what would write fails on its exclusive lock with an EROFS error that says the
 * cache is read-only (lock.h). */
int rz_home_read_only(const char *root);

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

/* Register entry (stolen, freed on failure too): under the folder locks it needs and the home
 * lock, give each of its manifests its models folder (registry.h), then save the index with
 * entry in place of the source of its identity. Another source whose manifest has the same name
 * (the same folder) is an RZ_E_SOURCE error naming both, unless overwrite: then that source is
 * unregistered and *out_replaced (a new array of the entries removed, caller frees with
 * cJSON_Delete; NULL when none) lists it for rz_source_sweep's tree removal. Before the index
 * names the entry, every model path it could find in a state it did not download is moved
 * aside: of a source registered again, each model whose digest changed or that is gone, and
 * the folders it no longer uses; a folder it newly takes that is already on disk (what a killed
 * deletion left); the folders of the sources it replaces. They are removed after. */
int rz_registry_put_source(cJSON **out_replaced, const rz_home *home, cJSON *entry, int overwrite,
                           rz_error *err);

/* Unregister identity: under the home lock, save the index without it, its models folders and
 * (a fetched source's) slug marked "doomed" for rz_source_sweep to remove once the calls still
 * using them are done. *out is the removed entry (caller frees with cJSON_Delete). A missing
 * source is an RZ_E_SOURCE error. */
int rz_registry_remove_source(cJSON **out, const rz_home *home, const char *identity,
                              rz_error *err);

/* Under the home lock, drop the "doomed" entries of slugs (n of them) from the index. */
int rz_registry_forget_doomed(const rz_home *home, const char *const *slugs, size_t n,
                              rz_error *err);

/* Remove the models folder <models>/<folder> that an unregistered source left ("doomed"):
 * under its lock, exclusive (wait: for the downloads and loads of it still running; else a
 * folder in use is left for a later call, which returns 0), and the home lock, move it aside
 * unless a registration took it again meanwhile, drop its mark, then remove it. */
int rz_registry_clear_doomed_folder(const rz_home *home, const char *folder, int wait,
                                    rz_error *err);

/* The "doomed" array of idx, or NULL. Borrowed. */
cJSON *rz_index_doomed(const rz_index *idx);

/* <tree>[/<dir>]/manifest.json of a local source's manifest entry: what its "stamp" is of. */
int rz_local_manifest_path(char *out, size_t out_len, const cJSON *source, const cJSON *manifest);

/* Absolute path of a source's tree: "tree" joined to root when relative. */
int rz_source_tree_path(char *out, size_t out_len, const rz_home *home, const cJSON *source,
                        rz_error *err);

/* Lock the model at model_path (<locks>/model-<hash>.lock): LOCK_EX to download or delete it,
 * LOCK_SH to run code that reads it. Waits as lock.h says. */
int rz_model_lock(rz_lock *out, const rz_home *home, const char *model_path, int operation,
                  rz_error *err);

/* Lock the models folder <models>/<subdir> (<locks>/folder-<hash>.lock): LOCK_SH to download,
 * load or delete one model of it, LOCK_EX to replace or remove models of it as a whole. */
int rz_folder_lock(rz_lock *out, const rz_home *home, const char *subdir, int operation,
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
