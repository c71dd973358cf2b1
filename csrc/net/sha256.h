/* sha256.h - streaming SHA-256 over OpenSSL's EVP interface. Plain C. */
#ifndef RZ_SHA256_H
#define RZ_SHA256_H

#include "util/error.h"

#include <stddef.h>
#include <stdint.h>

#define RZ_SHA256_HEX_LEN 64

typedef struct rz_sha256 rz_sha256;

/* A fresh hash in *out; caller frees with rz_sha256_free. */
int rz_sha256_new(rz_sha256 **out, rz_error *err);

/* Start over, as if new. */
int rz_sha256_reset(rz_sha256 *h, rz_error *err);

int rz_sha256_update(rz_sha256 *h, const void *data, size_t len, rz_error *err);

/* The digest as 64 lowercase hex digits plus NUL in out. h must be reset before reuse. */
int rz_sha256_final_hex(rz_sha256 *h, char out[RZ_SHA256_HEX_LEN + 1], rz_error *err);

void rz_sha256_free(rz_sha256 *h); /* NULL ok */

/* 1 if hex is exactly 64 hex digits (any case), else 0. */
int rz_sha256_is_hex(const char *hex);

/* 0 if actual_hex equals expected_hex (any case), else an RZ_E_CHECKSUM error naming what. */
int rz_sha256_check(const char *expected_hex, const char *actual_hex, const char *what,
                    rz_error *err);

/* Add the bytes of the file at path to h, read through buf (buf_len bytes); *out_size (may be
 * NULL) their number. open_flags are added to O_RDONLY | O_CLOEXEC (O_NOFOLLOW: a symbolic link
 * at path is an error). check (may be NULL) is called with payload every buf_len bytes read;
 * nonzero stops with an RZ_E_CALLBACK error. Blocking I/O. */
int rz_sha256_file(rz_sha256 *h, uint64_t *out_size, const char *path, int open_flags, char *buf,
                   size_t buf_len, int (*check)(void *payload), void *payload, rz_error *err);

/* Hash the file at path and compare with expected_hex (rz_sha256_check). Blocking I/O. */
int rz_sha256_verify_file(const char *path, const char *expected_hex, rz_error *err);

#endif
