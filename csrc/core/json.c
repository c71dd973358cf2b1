/* json.c - see json.h. */
#include "core/json.h"

const char *rz_json_str(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

const cJSON *rz_json_member(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    return cJSON_IsNull(item) ? NULL : item;
}
