/* fuzz_version.c - libFuzzer harness for csrc/core/version.c: rz_version_compare is a total order.
 *
 * The input is split on NUL bytes into up to three versions a, b, c (a missing one is NULL,
 * "0.0.0"). Properties: reflexive (a == a), antisymmetric (sign(a,b) == -sign(b,a)),
 * transitive (a <= b <= c implies a <= c, and equality is transitive), NULL equals "0.0.0",
 * rz_version_latest picks an element no other is newer than, and rz_model_full_name /
 * rz_model_filename never fail on small inputs and embed the version. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/version.h"

static int sign(int x)
{
    return (x > 0) - (x < 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = NULL;
    const char *v[3] = {NULL, NULL, NULL};
    size_t n = 0, start = 0;
    long best = 0;
    char *full = NULL, *filename = NULL;

    buf = malloc(size + 1);
    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    for (size_t i = 0; i <= size && n < 3; i++) {
        if (buf[i] == '\0') {
            v[n++] = buf + start;
            start = i + 1;
        }
    }

    for (int i = 0; i < 3; i++) {
        if (rz_version_compare(v[i], v[i]) != 0)
            abort();
        for (int j = 0; j < 3; j++) {
            if (sign(rz_version_compare(v[i], v[j])) != -sign(rz_version_compare(v[j], v[i])))
                abort();
            for (int k = 0; k < 3; k++) {
                int ij = sign(rz_version_compare(v[i], v[j]));
                int jk = sign(rz_version_compare(v[j], v[k]));
                int ik = sign(rz_version_compare(v[i], v[k]));
                if (ij <= 0 && jk <= 0 && ik > 0)
                    abort();
                if (ij == 0 && jk == 0 && ik != 0)
                    abort();
            }
        }
    }
    if (rz_version_compare(NULL, "0.0.0") != 0 || rz_version_compare("0.0.0", NULL) != 0)
        abort();

    best = rz_version_latest(v, 3);
    if (best < 0 || best > 2)
        abort();
    for (int i = 0; i < 3; i++)
        if (rz_version_compare(v[i], v[best]) > 0)
            abort();

    if (v[0] != NULL && v[1] != NULL) {
        full = rz_model_full_name(v[0], v[1]);
        filename = rz_model_filename(v[0], v[1]);
        if (full == NULL || filename == NULL)
            abort();
        if (strstr(full, v[1]) == NULL || strstr(filename, v[1]) == NULL)
            abort();
        if (rz_splitext(v[0]) > strlen(v[0]))
            abort();
    }
    free(full);
    free(filename);
    free(buf);
    return 0;
}
