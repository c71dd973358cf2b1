/* manifest.h - manifest.json, parsed with cJSON and validated as shared/SPEC.md says.
 *
 * A manifest is {"name"?: str, "url"?: str, "models": [model, ...]}; unknown fields anywhere are
 * kept. Every problem is an RZ_E_MANIFEST error whose message names the source, the model (by
 * index, and by base_name when it has one) and the field; err->field and err->model are set.
 * JSON null in an optional field means "absent", as FiftyOne (eta's Model.from_dict) reads it:
 * code that acts on a model reads its fields through rz_model (or rz_json_member, json.h), never
 * with a bare cJSON lookup that would take a null for a value.
 */
#ifndef RZ_MANIFEST_H
#define RZ_MANIFEST_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "util/error.h"

/* Inputs larger than this are refused before parsing. */
#define RZ_MANIFEST_MAX_BYTES (64u * 1024 * 1024)

typedef struct rz_model {
    const cJSON *json;         /* borrowed from the manifest's root: the model's object */
    const char *base_name;     /* borrowed; never NULL */
    const char *version;       /* borrowed; NULL when the model has none */
    const char *base_filename; /* borrowed; NULL when absent */
    const char *license;       /* borrowed; NULL when absent */
    const char *sha256;        /* borrowed; 64 lowercase hex digits, or NULL */
    const cJSON *manager;      /* borrowed; the "manager" object, NULL when absent or null */
    char *name;                /* owned: the full name (version.h rz_model_full_name) */
    char *filename;            /* owned: version-aware filename, NULL when no base_filename */
} rz_model;

typedef struct rz_manifest {
    cJSON *root;      /* owned */
    const char *name; /* borrowed from root; NULL when absent */
    const char *url;  /* borrowed from root; NULL when absent */
    size_t n_models;
    rz_model *models; /* owned array of n_models */
} rz_manifest;

/* Parse and validate len bytes of JSON. source names the source in messages (a path or URL).
 * On success *out is a new manifest the caller frees with rz_manifest_free. */
int rz_manifest_parse(rz_manifest **out, const char *data, size_t len, const char *source,
                      rz_error *err);

/* Read path (at most RZ_MANIFEST_MAX_BYTES) and parse it as rz_manifest_parse does; source may
 * be NULL to name the path itself. Blocking I/O: the glue releases the GIL around it. */
int rz_manifest_load(rz_manifest **out, const char *path, const char *source, rz_error *err);

/* Free m and everything it owns; NULL is fine. */
void rz_manifest_free(rz_manifest *m);

/* The model whose full name is name, or NULL. */
const rz_model *rz_manifest_find(const rz_manifest *m, const char *name);

/* True if the model declares tag (the manifest's "tags" list). */
int rz_model_has_tag(const rz_model *model, const char *tag);

#endif
