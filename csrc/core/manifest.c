/* manifest.c - see manifest.h. */
#include "core/manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/json.h"
#include "util/fsutil.h"
#include "core/version.h"

/* JSON numbers are doubles: integers are exact up to 2^53, which is where size_bytes stops. */
#define MAX_EXACT_INTEGER 9007199254740992.0

/* What is being validated, for messages: "model 2 ('x')" or "the manifest". */
typedef struct where {
    const char *source;
    long index;            /* model index, or -1 for top-level fields */
    const char *base_name; /* may be NULL */
    rz_error *err;
} where;

/* Sets a ManifestError about field at w and returns -1. */
__attribute__((format(printf, 3, 4))) static int fail_at(const where *w, const char *field,
                                                         const char *fmt, ...)
{
    char detail[512], model[RZ_ERR_NAME_MAX] = "";
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    if (w->index >= 0 && w->base_name)
        snprintf(model, sizeof(model), "model %ld ('%s')", w->index, w->base_name);
    else if (w->index >= 0)
        snprintf(model, sizeof(model), "model %ld", w->index);
    if (field)
        rz_error_set(w->err, RZ_E_MANIFEST, "manifest.json of %s: %s%sfield '%s' %s", w->source,
                     model, model[0] ? ": " : "", field, detail);
    else
        rz_error_set(w->err, RZ_E_MANIFEST, "manifest.json of %s: %s%s%s", w->source, model,
                     model[0] ? ": " : "", detail);
    rz_error_attach_field(w->err, field);
    rz_error_attach_model(w->err, w->base_name ? w->base_name : (model[0] ? model : NULL));
    rz_error_attach_source(w->err, w->source);
    return -1;
}

/* An optional string field: *out is the string or NULL. */
static int optional_string(const char **out, const cJSON *obj, const char *key, const where *w)
{
    const cJSON *item = rz_json_member(obj, key);

    *out = NULL;
    if (!item)
        return 0;
    if (!cJSON_IsString(item) || !item->valuestring)
        return fail_at(w, key, "must be a string");
    *out = item->valuestring;
    return 0;
}

static int string_list(const cJSON *item, const char *key, const where *w)
{
    const cJSON *child;

    if (!cJSON_IsArray(item))
        return fail_at(w, key, "must be a list of strings");
    cJSON_ArrayForEach(child, item)
    {
        if (!cJSON_IsString(child) || !child->valuestring)
            return fail_at(w, key, "must be a list of strings");
    }
    return 0;
}

/* "packages" of requirements (and of its cpu / gpu), in every form eta reads: a list of str,
 * one str (a comma-separated list or a requirements file path), or an entrypoint object
 * {"entrypoint_fcn": str, "entrypoint_args"?: object} naming a function that returns one of
 * those (remotezoo/_requirements.py calls it). */
static int check_packages(const cJSON *obj, const char *key, const where *w)
{
    const cJSON *item = rz_json_member(obj, "packages");

    if (!item || cJSON_IsString(item))
        return 0;
    if (cJSON_IsObject(item)) {
        char field[96];
        const cJSON *fcn = rz_json_member(item, "entrypoint_fcn"),
                    *args = rz_json_member(item, "entrypoint_args");
        snprintf(field, sizeof(field), "%s.entrypoint_fcn", key);
        if (!cJSON_IsString(fcn) || !fcn->valuestring || !fcn->valuestring[0])
            return fail_at(w, field, "must name a function such as 'package.module.fcn'");
        snprintf(field, sizeof(field), "%s.entrypoint_args", key);
        if (args && !cJSON_IsObject(args))
            return fail_at(w, field, "must be an object");
        return 0;
    }
    if (!cJSON_IsArray(item))
        return fail_at(w, key, "must be a list of strings, a string or an entrypoint object");
    return string_list(item, key, w);
}

static int check_requirements(const cJSON *req, const where *w)
{
    static const char *const devices[] = {"cpu", "gpu"};
    char field[64];
    size_t i;

    if (!cJSON_IsObject(req))
        return fail_at(w, "requirements", "must be an object");
    if (check_packages(req, "requirements.packages", w) < 0)
        return -1;
    for (i = 0; i < 2; i++) {
        const cJSON *device = rz_json_member(req, devices[i]), *support;
        if (!device)
            continue;
        snprintf(field, sizeof(field), "requirements.%s", devices[i]);
        if (!cJSON_IsObject(device))
            return fail_at(w, field, "must be an object");
        support = rz_json_member(device, "support");
        snprintf(field, sizeof(field), "requirements.%s.support", devices[i]);
        if (support && !cJSON_IsBool(support))
            return fail_at(w, field, "must be true or false");
        snprintf(field, sizeof(field), "requirements.%s.packages", devices[i]);
        if (check_packages(device, field, w) < 0)
            return -1;
    }
    return 0;
}

static int check_manager(const cJSON *manager, const where *w)
{
    const cJSON *type, *config;

    if (!cJSON_IsObject(manager))
        return fail_at(w, "manager", "must be an object");
    type = rz_json_member(manager, "type");
    if (type && !(cJSON_IsString(type) && type->valuestring))
        return fail_at(w, "manager.type", "must be a string");
    config = rz_json_member(manager, "config");
    if (config && !cJSON_IsObject(config))
        return fail_at(w, "manager.config", "must be an object");
    return 0;
}

/* A relative path that names one place below the models directory, spelled one way
 * (rz_path_is_clean): "acme//zoo", "./acme/zoo" and "acme/zoo/" would otherwise reach the
 * folder of "acme/zoo" under another name. */
static int check_relative_path(const char *path, const char *key, const where *w)
{
    if (path[0] == '\0')
        return fail_at(w, key, "must not be empty");
    if (path[0] == '/')
        return fail_at(w, key, "must be a relative path, not '%s'", path);
    if (!rz_path_is_clean(path))
        return fail_at(w, key,
                       "must be a relative path whose parts are not empty, '.', '..' or "
                       "'.rz-*' ('%s')",
                       path);
    return 0;
}

static int check_sha256(const char *sha, const where *w)
{
    size_t i;

    if (strlen(sha) != 64)
        return fail_at(w, "sha256", "must be 64 hex digits");
    for (i = 0; i < 64; i++)
        if (!((sha[i] >= '0' && sha[i] <= '9') || (sha[i] >= 'a' && sha[i] <= 'f') ||
              (sha[i] >= 'A' && sha[i] <= 'F')))
            return fail_at(w, "sha256", "must be 64 hex digits");
    return 0;
}

static int check_model(rz_model *model, const cJSON *json, long index, const char *source,
                       rz_error *err)
{
    static const char *const plain_strings[] = {"author", "url", "source", "description",
                                                "date_added"};
    where w = {source, index, NULL, err};
    const cJSON *item;
    const char *ignored;
    size_t i;

    if (!cJSON_IsObject(json))
        return fail_at(&w, NULL, "must be an object");
    item = rz_json_member(json, "base_name");
    if (!item)
        return fail_at(&w, "base_name", "is required");
    if (optional_string(&model->base_name, json, "base_name", &w) < 0)
        return -1;
    if (model->base_name[0] == '\0')
        return fail_at(&w, "base_name", "must not be empty");
    w.base_name = model->base_name;
    if (strchr(model->base_name, '@'))
        return fail_at(&w, "base_name", "must not contain '@' (it separates the version)");
    if (optional_string(&model->version, json, "version", &w) < 0 ||
        optional_string(&model->base_filename, json, "base_filename", &w) < 0 ||
        optional_string(&model->license, json, "license", &w) < 0 ||
        optional_string(&model->sha256, json, "sha256", &w) < 0)
        return -1;
    if (model->version && (model->version[0] == '\0' || strpbrk(model->version, "/@")))
        return fail_at(&w, "version", "must be a non-empty string without '/' or '@'");
    if (model->base_filename && check_relative_path(model->base_filename, "base_filename", &w) < 0)
        return -1;
    if (model->sha256 && check_sha256(model->sha256, &w) < 0)
        return -1;
    for (i = 0; i < sizeof(plain_strings) / sizeof(plain_strings[0]); i++)
        if (optional_string(&ignored, json, plain_strings[i], &w) < 0)
            return -1;
    if ((item = rz_json_member(json, "tags")) && string_list(item, "tags", &w) < 0)
        return -1;
    if ((item = rz_json_member(json, "size_bytes"))) {
        double v = item->valuedouble;
        if (!cJSON_IsNumber(item) || v < 0 || v != floor(v) || v > MAX_EXACT_INTEGER)
            return fail_at(&w, "size_bytes", "must be a non-negative integer below 2^53");
    }
    if ((item = rz_json_member(json, "requirements")) && check_requirements(item, &w) < 0)
        return -1;
    if ((model->manager = rz_json_member(json, "manager")) && check_manager(model->manager, &w) < 0)
        return -1;
    if ((item = rz_json_member(json, "default_deployment_config_dict")) && !cJSON_IsObject(item))
        return fail_at(&w, "default_deployment_config_dict", "must be an object");

    model->json = json;
    model->name = rz_model_full_name(model->base_name, model->version);
    if (model->base_filename)
        model->filename = rz_model_filename(model->base_filename, model->version);
    if (!model->name || (model->base_filename && !model->filename))
        return rz_error_set(err, RZ_E_NOMEM, "out of memory");
    return 0;
}

typedef struct rz_named {
    const char *name; /* borrowed */
    size_t index;     /* position in input order */
} rz_named;

static int compare_named(const void *pa, const void *pb)
{
    const rz_named *a = pa, *b = pb;
    int c = strcmp(a->name, b->name);

    return c ? c : (a->index > b->index) - (a->index < b->index);
}

/* The first repeat among v[0..n) (names in input order, index = position), in O(n log n), so
 * a 64 MiB manifest of a million keys or models cannot stall the parse. With by_first, the
 * repeated name whose first occurrence comes first; else the one whose second occurrence
 * does. Returns 1 and sets *out_first and *out_second (positions), or 0. Sorts v. */
static int first_repeat(size_t *out_first, size_t *out_second, rz_named *v, size_t n, int by_first)
{
    size_t start, best_key = (size_t)-1;
    int found = 0;

    qsort(v, n, sizeof(*v), compare_named);
    for (start = 0; start + 1 < n;) {
        size_t end = start + 1;
        while (end < n && strcmp(v[end].name, v[start].name) == 0)
            end++;
        if (end - start >= 2) {
            size_t key = by_first ? v[start].index : v[start + 1].index;
            if (!found || key < best_key) {
                found = 1;
                best_key = key;
                *out_first = v[start].index;
                *out_second = v[start + 1].index;
            }
        }
        start = end;
    }
    return found;
}

/* JSON objects with a repeated key are refused: cJSON keeps both and lookups would see only
 * the first, silently. Depth is bounded by cJSON's nesting limit. */
static int check_duplicate_keys(const cJSON *node, const char *source, rz_error *err)
{
    const cJSON *a;

    if (cJSON_IsObject(node) && node->child && node->child->next) {
        rz_named stack[32], *v = stack;
        size_t n = 0, first = 0, second = 0;
        const char *repeated = NULL;
        for (a = node->child; a; a = a->next)
            n++;
        if (n > sizeof(stack) / sizeof(stack[0]) && !(v = malloc(n * sizeof(*v))))
            return rz_error_set(err, RZ_E_NOMEM, "out of memory");
        n = 0;
        for (a = node->child; a; a = a->next)
            if (a->string) {
                v[n] = (rz_named){a->string, n};
                n++;
            }
        if (first_repeat(&first, &second, v, n, 1))
            for (size_t i = 0; i < n && !repeated; i++)
                if (v[i].index == first)
                    repeated = v[i].name;
        if (v != stack)
            free(v);
        if (repeated) {
            rz_error_set(err, RZ_E_MANIFEST,
                         "manifest.json of %s: duplicate key '%s' in one object", source, repeated);
            rz_error_attach_field(err, repeated);
            rz_error_attach_source(err, source);
            return -1;
        }
    }
    if (cJSON_IsObject(node) || cJSON_IsArray(node))
        for (a = node->child; a; a = a->next)
            if (check_duplicate_keys(a, source, err) < 0)
                return -1;
    return 0;
}

/* A duplicate-key error found inside a model is reported with that model. */
static int check_duplicates_per_model(const cJSON *models, const cJSON *root, const char *source,
                                      rz_error *err)
{
    const cJSON *child;
    long index = 0;

    cJSON_ArrayForEach(child, models)
    {
        if (check_duplicate_keys(child, source, err) < 0) {
            const cJSON *base = cJSON_GetObjectItemCaseSensitive(child, "base_name");
            char model[64];
            snprintf(model, sizeof(model), "model %ld", index);
            rz_error_attach_model(err, cJSON_IsString(base) && base->valuestring ? base->valuestring
                                                                                 : model);
            return -1;
        }
        index++;
    }
    return check_duplicate_keys(root, source, err);
}

/* Offset of the first byte of data[0..len) that is not well-formed UTF-8 (overlongs,
 * surrogates and code points above U+10FFFF included), or len. JSON text is UTF-8 (RFC 8259),
 * and every string of a manifest must become a Python str. */
static size_t utf8_error_offset(const char *data, size_t len)
{
    const unsigned char *s = (const unsigned char *)data;
    size_t i = 0;

    while (i < len) {
        unsigned char c = s[i];
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        unsigned long cp;

        if (n == 0 || i + n > len)
            return i;
        cp = n == 1 ? c : c & (0x7Fu >> n);
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += n;
    }
    return len;
}

/* cJSON decodes "\u0000" into a C string that silently ends there, so two different keys
 * or names could become one: refuse the escape outright (no manifest needs a NUL). */
static int has_escaped_nul(const char *data, size_t len)
{
    size_t i;

    for (i = 0; i + 1 < len; i++) {
        if (data[i] != '\\')
            continue;
        if (data[i + 1] == 'u' && i + 5 < len && memcmp(data + i + 2, "0000", 4) == 0)
            return 1;
        i++; /* skip the escaped character, so "\\\\u0000" is not mistaken for one */
    }
    return 0;
}

/* Offset of the first byte after the JSON value that ends at parse_end which is not JSON
 * whitespace (RFC 8259: space, tab, LF, CR), or len. cJSON stops at the end of the value and
 * would take "{...} junk" or two concatenated documents as the first alone. */
static size_t trailing_offset(const char *data, size_t len, const char *parse_end)
{
    size_t i = (size_t)(parse_end - data);

    while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r'))
        i++;
    return i;
}

void rz_manifest_free(rz_manifest *m)
{
    size_t i;

    if (!m)
        return;
    for (i = 0; i < m->n_models; i++) {
        free(m->models[i].name);
        free(m->models[i].filename);
    }
    free(m->models);
    cJSON_Delete(m->root);
    free(m);
}

int rz_manifest_parse(rz_manifest **out, const char *data, size_t len, const char *source,
                      rz_error *err)
{
    rz_manifest *m = NULL;
    const cJSON *models, *child;
    where w = {source, -1, NULL, err};
    size_t i, j, count;
    const char *parse_end = NULL;

    *out = NULL;
    if (len > RZ_MANIFEST_MAX_BYTES)
        return rz_error_set(err, RZ_E_MANIFEST, "manifest.json of %s is larger than %u MiB", source,
                            RZ_MANIFEST_MAX_BYTES >> 20);
    if (utf8_error_offset(data, len) < len) {
        rz_error_set(err, RZ_E_MANIFEST, "manifest.json of %s is not UTF-8 (near byte %zu)", source,
                     utf8_error_offset(data, len));
        rz_error_attach_source(err, source);
        return -1;
    }
    if (has_escaped_nul(data, len)) {
        rz_error_set(err, RZ_E_MANIFEST, "manifest.json of %s contains \\u0000, which is refused",
                     source);
        rz_error_attach_source(err, source);
        return -1;
    }
    m = calloc(1, sizeof(*m));
    if (!m)
        return rz_error_set(err, RZ_E_NOMEM, "out of memory");
    m->root = cJSON_ParseWithLengthOpts(data, len, &parse_end, 0);
    if (!m->root) {
        size_t offset = parse_end && parse_end >= data ? (size_t)(parse_end - data) : 0;
        rz_error_set(err, RZ_E_MANIFEST, "manifest.json of %s is not valid JSON (near byte %zu)",
                     source, offset);
        rz_error_attach_source(err, source);
        goto fail;
    }
    if (trailing_offset(data, len, parse_end) < len) {
        rz_error_set(err, RZ_E_MANIFEST,
                     "manifest.json of %s has data after its JSON value (at byte %zu)", source,
                     trailing_offset(data, len, parse_end));
        rz_error_attach_source(err, source);
        goto fail;
    }
    if (!cJSON_IsObject(m->root)) {
        fail_at(&w, NULL, "must be a JSON object");
        goto fail;
    }
    if (optional_string(&m->name, m->root, "name", &w) < 0 ||
        optional_string(&m->url, m->root, "url", &w) < 0)
        goto fail;
    if (m->name && check_relative_path(m->name, "name", &w) < 0)
        goto fail;
    models = rz_json_member(m->root, "models");
    if (!models) {
        fail_at(&w, "models", "is required (a list of models)");
        goto fail;
    }
    if (!cJSON_IsArray(models)) {
        fail_at(&w, "models", "must be a list");
        goto fail;
    }
    if (check_duplicates_per_model(models, m->root, source, err) < 0)
        goto fail;
    count = (size_t)cJSON_GetArraySize(models);
    m->models = calloc(count ? count : 1, sizeof(*m->models));
    if (!m->models) {
        rz_error_set(err, RZ_E_NOMEM, "out of memory");
        goto fail;
    }
    i = 0;
    cJSON_ArrayForEach(child, models)
    {
        m->n_models = i + 1; /* so rz_manifest_free frees what check_model allocated */
        if (check_model(&m->models[i], child, (long)i, source, err) < 0)
            goto fail;
        i++;
    }
    if (count > 1) { /* two models with one full name */
        rz_named *v = malloc(count * sizeof(*v));
        size_t first = 0, second = 0;
        int repeat;
        if (!v) {
            rz_error_set(err, RZ_E_NOMEM, "out of memory");
            goto fail;
        }
        for (j = 0; j < count; j++)
            v[j] = (rz_named){m->models[j].name, j};
        repeat = first_repeat(&first, &second, v, count, 0);
        free(v);
        if (repeat) {
            where mw = {source, (long)second, m->models[second].base_name, err};
            fail_at(&mw, m->models[second].version ? "version" : "base_name",
                    "repeats the name '%s' of model %zu", m->models[second].name, first);
            goto fail;
        }
    }
    *out = m;
    return 0;
fail:
    rz_manifest_free(m);
    return -1;
}

int rz_manifest_load(rz_manifest **out, const char *path, const char *source, rz_error *err)
{
    char *data = NULL;
    size_t len = 0;
    struct stat st;
    int fd = -1, rc = -1;

    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rz_error_os(err, errno, path, "cannot open %s", path);
        goto done;
    }
    if (fstat(fd, &st) < 0) {
        rz_error_os(err, errno, path, "cannot stat %s", path);
        goto done;
    }
    if (!S_ISREG(st.st_mode) || (unsigned long long)st.st_size > RZ_MANIFEST_MAX_BYTES) {
        rz_error_set(err, RZ_E_MANIFEST, "%s is not a regular file of at most %u MiB", path,
                     RZ_MANIFEST_MAX_BYTES >> 20);
        rz_error_attach_path(err, path);
        goto done;
    }
    if (rz_read_fd(&data, &len, fd, RZ_MANIFEST_MAX_BYTES, path, err) < 0)
        goto done;
    rc = rz_manifest_parse(out, data, len, source ? source : path, err);
done:
    free(data);
    if (fd >= 0)
        close(fd);
    return rc;
}

const rz_model *rz_manifest_find(const rz_manifest *m, const char *name)
{
    size_t i;

    for (i = 0; i < m->n_models; i++)
        if (strcmp(m->models[i].name, name) == 0)
            return &m->models[i];
    return NULL;
}

int rz_model_has_tag(const rz_model *model, const char *tag)
{
    const cJSON *tags = rz_json_member(model->json, "tags"), *child;

    cJSON_ArrayForEach(child, tags)
    {
        if (cJSON_IsString(child) && strcmp(child->valuestring, tag) == 0)
            return 1;
    }
    return 0;
}
