/* fuzz_manifest.c - libFuzzer harness for rz_manifest_parse (csrc/core/manifest.c).
 *
 * Any input must either parse (and then every model has a base_name and a full name, and
 * looking each model up by its full name finds a model of that name) or fail with an
 * RZ_E_MANIFEST / RZ_E_NOMEM error and a non-empty, one-line message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rz_manifest *m = NULL;
    rz_error err;

    rz_error_init(&err);
    if (rz_manifest_parse(&m, (const char *)data, size, "fuzz/manifest.json", &err) < 0) {
        if (err.kind != RZ_E_MANIFEST && err.kind != RZ_E_NOMEM)
            abort();
        if (err.message[0] == '\0' || strchr(err.message, '\n') != NULL)
            abort();
        if (m != NULL)
            abort();
        return 0;
    }
    for (size_t i = 0; i < m->n_models; i++) {
        const rz_model *model = &m->models[i];
        const rz_model *found = NULL;

        if (model->base_name == NULL || model->name == NULL)
            abort();
        found = rz_manifest_find(m, model->name);
        if (found == NULL || strcmp(found->name, model->name) != 0)
            abort();
        (void)rz_model_has_tag(model, "fuzz");
    }
    rz_manifest_free(m);
    return 0;
}
