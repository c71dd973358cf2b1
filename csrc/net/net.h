/* net.h - the network and archive engines, as remotezoo._core reaches them.
 *
 * Importing remotezoo, listing models and loading downloaded ones need neither libcurl nor
 * libarchive nor libcrypto, whose ~40 shared libraries cost ~12 ms of dynamic loading at every
 * start. So remotezoo._core links cJSON only, and the engines are a second extension,
 * remotezoo._net (everything in csrc/net/, and its glue in csrc/py/net/), imported on the first
 * call that needs one. _net hands _core this table through the capsule RZ_NET_CAPSULE
 * (py/net/net_module.c); each entry is the function of net/ named beside it, whose header says
 * what it promises. _core's files include this header and the types it names, never call a
 * function of net/ directly: they are not linked into _core (setup.py builds each extension
 * from its own folders).
 */
#ifndef RZ_NET_H
#define RZ_NET_H

#include <stddef.h>

#include "net/digest.h"
#include "net/extract.h"
#include "net/fetch.h"
#include "util/archive_name.h"
#include "util/error.h"

#define RZ_NET_CAPSULE "remotezoo._net._api"

typedef struct rz_net_api {
    int (*offline)(void); /* rz_fetch_offline */
    int (*http_get)(rz_response *out, const char *url, const rz_fetch_opts *opts,
                    const char *const *wanted_headers, size_t max_bytes, rz_error *err);
    void (*response_clear)(rz_response *r); /* rz_response_clear */
    int (*fetch_to_file)(char *out_sha256, const char *url, const char *path,
                         const char *sha256_hex, const rz_fetch_opts *opts,
                         rz_error *err); /* fetch_file.h */
    int (*fetch_tree)(const char *dest, const char *url, rz_archive_format format,
                      const char *const *headers, const rz_fetch_opts *opts, const char *tmpdir,
                      char *out_sha256, rz_error *err); /* fetch_tree.h */
    int (*extract_file)(const char *archive_path, const char *dest_dir, int strip_top_level,
                        const rz_extract_limits *limits, rz_error *err);
    int (*sha256_verify_file)(const char *path, const char *expected_hex, rz_error *err);
    int (*digest_path)(rz_digest *out, const char *path, int flags, rz_digest_check_fn check,
                       void *payload, rz_error *err); /* rz_digest_path */
} rz_net_api;

#endif
