/* json.h - reading cJSON objects the way remotezoo's files mean them. */
#ifndef RZ_JSON_H
#define RZ_JSON_H

#include <cjson/cJSON.h>

/* obj[key] when it is a string, else NULL. Borrowed from obj. For the index, which remotezoo
 * writes and checks when it reads it (index.h). */
const char *rz_json_str(const cJSON *obj, const char *key);

/* obj[key] by exact key, or NULL when obj is not an object, the key is missing, or its value is
 * JSON null (which a manifest means as absent). Borrowed from obj. For manifests, which others
 * write (manifest.h). */
const cJSON *rz_json_member(const cJSON *obj, const char *key);

#endif
