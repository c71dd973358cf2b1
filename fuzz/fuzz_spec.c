/* fuzz_spec.c - libFuzzer harness for rz_spec_parse_in (csrc/core/spec.c), with a fixed cwd and
 * home so the parse is pure.
 *
 * Properties: a failure is RZ_E_SOURCE or RZ_E_NOMEM with a non-empty one-line message and
 * leaves the spec empty; a success has an identity, a slug of at most 64 bytes of [a-z0-9_]
 * starting with a letter, and parsing the identity again yields the same identity, kind and
 * slug (spec.h: "parsing an identity yields itself"). The first input byte picks the GitHub
 * server (default, or a GitHub Enterprise URL with a path prefix). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/spec.h"

static const char *const servers[] = {NULL, "https://ghe.example.com/github",
                                      "http://127.0.0.1:8080"};

static void check_slug(const char *slug)
{
    size_t n = strlen(slug);

    if (n == 0 || n > 64 || slug[0] < 'a' || slug[0] > 'z')
        abort();
    for (size_t i = 0; i < n; i++) {
        char c = slug[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rz_spec spec = {0};
    rz_spec again = {0};
    rz_error err;
    rz_spec_context ctx = {NULL, "/work/cwd", "/home/fuzz"};
    char *text = NULL;

    if (size == 0)
        return 0;
    ctx.github_server_url = servers[data[0] % (sizeof(servers) / sizeof(servers[0]))];
    text = malloc(size);
    if (text == NULL)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0'; /* embedded NULs just end the spec early */

    rz_error_init(&err);
    if (rz_spec_parse_in(&spec, text, &ctx, &err) < 0) {
        if (err.kind != RZ_E_SOURCE && err.kind != RZ_E_NOMEM)
            abort();
        if (err.message[0] == '\0' || strchr(err.message, '\n') != NULL)
            abort();
        if (spec.identity != NULL || spec.slug != NULL)
            abort();
        goto done;
    }
    if (spec.identity == NULL || spec.slug == NULL)
        abort();
    check_slug(spec.slug);
    rz_error_init(&err);
    if (rz_spec_parse_in(&again, spec.identity, &ctx, &err) < 0)
        abort(); /* an identity must re-parse */
    if (strcmp(again.identity, spec.identity) != 0 || again.kind != spec.kind ||
        strcmp(again.slug, spec.slug) != 0)
        abort();

done:
    rz_spec_clear(&again);
    rz_spec_clear(&spec);
    free(text);
    return 0;
}
