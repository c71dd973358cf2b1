/* records.c - see records.h. */
#include "core/records.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/clock.h"
#include "util/fsutil.h"
#include "util/hash.h"

/* model_path relative to models, or NULL when it is not below it. */
static const char *relative(const char *models, const char *model_path)
{
    size_t n = strlen(models);

    return strncmp(model_path, models, n) == 0 && model_path[n] == '/' ? model_path + n + 1 : NULL;
}

/* <root>/records: models is <root>/models. */
static char *records_dir(const char *models, rz_error *err)
{
    const char *slash = strrchr(models, '/');

    return rz_path(err, "%.*s/" RZ_RECORDS_DIR, slash ? (int)(slash - models) : 0, models);
}

char *rz_record_path(const char *models, const char *model_path, rz_error *err)
{
    const char *rel = relative(models, model_path);
    char *dir, *out;

    if (!rel) {
        rz_error_set(err, RZ_E_INVALID, "%s is not below %s", model_path, models);
        return NULL;
    }
    if (!(dir = records_dir(models, err)))
        return NULL;
    out = rz_path(err, "%s/%016llx.json", dir, rz_fnv1a64(rel, strlen(rel)));
    free(dir);
    return out;
}

int rz_expect_check(const rz_expect *e, const rz_digest *d, const char *model_name, rz_error *err)
{
    if (!e || !e->set || (e->is_tree == d->is_tree && strcmp(e->sha256, d->sha256) == 0))
        return 0;
    rz_error_set(err, RZ_E_CHECKSUM,
                 "model '%s': the download is a %s of %llu bytes with sha256 %s, but a %s of "
                 "%llu bytes with sha256 %s was expected; nothing was kept",
                 model_name, d->is_tree ? "directory" : "file", (unsigned long long)d->size,
                 d->sha256, e->is_tree ? "directory" : "file", (unsigned long long)e->size,
                 e->sha256);
    rz_error_attach_model(err, model_name);
    return -1;
}

int rz_record_write(const char *models, const char *model_path, const char *model_name,
                    const rz_digest *d, rz_error *err)
{
    const char *rel = relative(models, model_path);
    cJSON *doc = cJSON_CreateObject();
    char *text = NULL, *dir = NULL, *path = NULL, when[RZ_UTC_TEXT_MAX];
    int rc = -1;

    rz_utc_now_text(when);
    if (!doc || !rel || !cJSON_AddNumberToObject(doc, "format", 1) ||
        !cJSON_AddStringToObject(doc, "path", rel) ||
        !cJSON_AddStringToObject(doc, "name", model_name) ||
        !cJSON_AddStringToObject(doc, "kind", d->is_tree ? "tree" : "file") ||
        !cJSON_AddNumberToObject(doc, "size", (double)d->size) ||
        !cJSON_AddStringToObject(doc, "sha256", d->sha256) ||
        !cJSON_AddStringToObject(doc, "recorded_at", when) || !(text = cJSON_Print(doc))) {
        rz_error_set(err, rel ? RZ_E_NOMEM : RZ_E_INVALID, "cannot record the digest of %s",
                     model_path);
        goto done;
    }
    if (!(dir = records_dir(models, err)) || rz_mkdirs(dir, 0755, err) < 0 ||
        !(path = rz_record_path(models, model_path, err)))
        goto done;
    rc = rz_write_atomic(path, text, strlen(text), err);
done:
    free(text);
    free(dir);
    free(path);
    cJSON_Delete(doc);
    return rc;
}

void rz_record_remove(const char *models, const char *model_path)
{
    char *path = rz_record_path(models, model_path, NULL);

    if (path)
        unlink(path);
    free(path);
}
