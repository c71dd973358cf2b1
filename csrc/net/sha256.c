/* sha256.c - see sha256.h. */
#include "net/sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

struct rz_sha256 {
    EVP_MD_CTX *ctx;
};

int rz_sha256_new(rz_sha256 **out, rz_error *err)
{
    rz_sha256 *h = NULL;

    *out = NULL;
    h = calloc(1, sizeof(*h));
    if (!h)
        return rz_error_set(err, RZ_E_NOMEM, "out of memory for a SHA-256 context");
    h->ctx = EVP_MD_CTX_new();
    if (!h->ctx) {
        free(h);
        return rz_error_set(err, RZ_E_NOMEM, "out of memory for a SHA-256 context");
    }
    if (rz_sha256_reset(h, err) < 0) {
        rz_sha256_free(h);
        return -1;
    }
    *out = h;
    return 0;
}

int rz_sha256_reset(rz_sha256 *h, rz_error *err)
{
    if (EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
        return rz_error_set(err, RZ_E_DOWNLOAD, "OpenSSL cannot start a SHA-256 digest");
    return 0;
}

int rz_sha256_update(rz_sha256 *h, const void *data, size_t len, rz_error *err)
{
    if (EVP_DigestUpdate(h->ctx, data, len) != 1)
        return rz_error_set(err, RZ_E_DOWNLOAD, "OpenSSL failed to update a SHA-256 digest");
    return 0;
}

int rz_sha256_final_hex(rz_sha256 *h, char out[RZ_SHA256_HEX_LEN + 1], rz_error *err)
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0, i;

    if (EVP_DigestFinal_ex(h->ctx, md, &len) != 1 || len * 2 != RZ_SHA256_HEX_LEN)
        return rz_error_set(err, RZ_E_DOWNLOAD, "OpenSSL failed to finish a SHA-256 digest");
    for (i = 0; i < len; i++) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 0xf];
    }
    out[RZ_SHA256_HEX_LEN] = '\0';
    return 0;
}

void rz_sha256_free(rz_sha256 *h)
{
    if (!h)
        return;
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

int rz_sha256_is_hex(const char *hex)
{
    size_t i;

    for (i = 0; i < RZ_SHA256_HEX_LEN; i++)
        if (!strchr("0123456789abcdefABCDEF", hex[i]) || hex[i] == '\0')
            return 0;
    return hex[RZ_SHA256_HEX_LEN] == '\0';
}

int rz_sha256_check(const char *expected_hex, const char *actual_hex, const char *what,
                    rz_error *err)
{
    if (strcasecmp(actual_hex, expected_hex) == 0)
        return 0;
    return rz_error_set(err, RZ_E_CHECKSUM,
                        "sha256 mismatch for %s: expected %s, got %s; the file was not kept", what,
                        expected_hex, actual_hex);
}

int rz_sha256_file(rz_sha256 *h, uint64_t *out_size, const char *path, int open_flags, char *buf,
                   size_t buf_len, int (*check)(void *payload), void *payload, rz_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | open_flags), rc = -1;
    uint64_t size = 0, since_check = 0;

    if (out_size)
        *out_size = 0;
    if (fd < 0)
        return rz_error_os(err, errno, path, "cannot read %s", path);
    for (;;) {
        ssize_t n = read(fd, buf, buf_len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rz_error_os(err, errno, path, "cannot read %s", path);
            goto done;
        }
        if (n == 0)
            break;
        if (rz_sha256_update(h, buf, (size_t)n, err) < 0)
            goto done;
        size += (uint64_t)n;
        since_check += (uint64_t)n;
        if (check && since_check >= buf_len) {
            since_check = 0;
            if (check(payload)) {
                rz_error_set(err, RZ_E_CALLBACK, "interrupted");
                goto done;
            }
        }
    }
    if (out_size)
        *out_size = size;
    rc = 0;
done:
    close(fd);
    return rc;
}

int rz_sha256_verify_file(const char *path, const char *expected_hex, rz_error *err)
{
    const size_t size = 256 * 1024; /* on the heap: a thread's stack may be small */
    char *buf = malloc(size), actual[RZ_SHA256_HEX_LEN + 1];
    rz_sha256 *h = NULL;
    int rc = -1;

    if (!buf)
        return rz_error_set(err, RZ_E_NOMEM, "out of memory");
    if (rz_sha256_new(&h, err) < 0 ||
        rz_sha256_file(h, NULL, path, 0, buf, size, NULL, NULL, err) < 0 ||
        rz_sha256_final_hex(h, actual, err) < 0)
        goto done;
    rc = rz_sha256_check(expected_hex, actual, path, err);
done:
    rz_sha256_free(h);
    free(buf);
    return rc;
}
