/* net.h - the network and archive engines, as remotezoo._core reaches them.
 *
 * Importing remotezoo, listing models and loading downloaded ones need neither libcurl nor
 * libarchive nor libcrypto, whose ~40 shared libraries cost ~12 ms of dynamic loading at every
 * start. So remotezoo._core links cJSON only, and the engines are a second extension,
 * remotezoo._net (fetch.c, fetch_parallel.c, http_headers.c, sha256.c, extract.c,
 * fetch_tree.c, py_fetch.c, py_extract.c, net_module.c), imported on the first call that needs
 * one. _net hands _core this table through the capsule RZ_NET_CAPSULE; each entry is the
 * function of fetch.h, extract.h or sha256.h named beside it, which says what it promises.
 */
#ifndef RZ_NET_H
#define RZ_NET_H

#include "digest.h"
#include "error.h"
#include "extract.h"
#include "fetch.h"
#include "spec.h"

#define RZ_NET_CAPSULE "remotezoo._net._api"

/* Download url and extract it into dest (which must not exist), stripping the single top-level
 * directory: tar formats stream straight into the extractor, zip goes through
 * <tmpdir>/archive.zip. headers (NULL-terminated lines, or NULL) replace opts' headers.
 * out_sha256 (NULL, or RZ_SHA256_HEX_LEN + 1 bytes) receives the SHA-256 of the archive's bytes,
 * hashed as they stream into the extractor: what an archive source's trust and lock are keyed
 * to. */
int rz_fetch_tree(const char *dest, const char *url, rz_archive_format format,
                  const char *const *headers, const rz_fetch_opts *opts, const char *tmpdir,
                  char *out_sha256, rz_error *err);

typedef struct rz_net_api {
    int (*offline)(void); /* rz_fetch_offline */
    int (*http_get)(rz_response *out, const char *url, const rz_fetch_opts *opts,
                    const char *const *wanted_headers, size_t max_bytes, rz_error *err);
    void (*response_clear)(rz_response *r); /* rz_response_clear */
    int (*fetch_to_file)(const char *url, const char *path, const char *sha256_hex,
                         const rz_fetch_opts *opts, rz_error *err);
    int (*fetch_tree)(const char *dest, const char *url, rz_archive_format format,
                      const char *const *headers, const rz_fetch_opts *opts, const char *tmpdir,
                      char *out_sha256, rz_error *err);
    int (*extract_file)(const char *archive_path, const char *dest_dir, int strip_top_level,
                        const rz_extract_limits *limits, rz_error *err);
    int (*sha256_verify_file)(const char *path, const char *expected_hex, rz_error *err);
    int (*digest_path)(rz_digest *out, const char *path, int flags, rz_digest_check_fn check,
                       void *payload, rz_error *err); /* rz_digest_path */
} rz_net_api;

#endif
