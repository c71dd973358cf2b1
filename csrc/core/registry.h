/* registry.h - changing the registry under $REMOTEZOO_HOME (home.h): registering and
 * unregistering sources in registry.json (index.h says its format), the models folders that
 * changes replace or remove, and the locks that serialise writers.
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
#include <stddef.h>
#include <sys/file.h> /* LOCK_EX, LOCK_SH */

#include "core/home.h"
#include "core/index.h"
#include "util/lock.h"
#include "util/error.h"

/* Register entry (stolen, freed on failure too): under the folder locks it needs and the home
 * lock, give each of its manifests its models folder (index.h), then save the index with
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

/* Remove the models folder <models>/<folder> when no registered source has a folder equal to,
 * in or around it (what a deleted source left whose mark was lost, or `cache gc`'s orphans):
 * under its lock, exclusive, taken without waiting, and the home lock, moved aside, then
 * removed. 1 when removed, 0 when owned or in use (left), -1 with err set. */
int rz_registry_clear_orphan_folder(const rz_home *home, const char *folder, rz_error *err);

/* How folder (a path below <models>) stands to the registered models folders of idx: 2 when it
 * is one of them or inside one, 1 when one of them is inside it, 0 when neither (compared as
 * this header says: ASCII case ignored). */
int rz_registry_folder_relation(const rz_index *idx, const char *folder);

/* Lock the model at model_path (<locks>/model-<hash>.lock): LOCK_EX to download or delete it,
 * LOCK_SH to run code that reads it. Waits as lock.h says. */
int rz_model_lock(rz_lock *out, const rz_home *home, const char *model_path, int operation,
                  rz_error *err);

/* Lock the models folder <models>/<subdir> (<locks>/folder-<hash>.lock): LOCK_SH to download,
 * load or delete one model of it, LOCK_EX to replace or remove models of it as a whole. */
int rz_folder_lock(rz_lock *out, const rz_home *home, const char *subdir, int operation,
                   rz_error *err);

#endif
