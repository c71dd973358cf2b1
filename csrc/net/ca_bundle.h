/* ca_bundle.h - the CA certificates libcurl verifies TLS peers with. Plain C.
 *
 * A libcurl built by a Linux distribution knows where its system keeps them; the one linked
 * into the manylinux wheel is built to run on every distribution and knows no place. So the
 * bundle file is
 *   1. the first non-empty of SSL_CERT_FILE, CURL_CA_BUNDLE, REQUESTS_CA_BUNDLE (as curl,
 *      requests and Python's ssl read them), used as given; else
 *   2. libcurl's compiled-in bundle, when it exists on this machine; else
 *   3. the first that exists of the places distributions keep theirs (Debian, Ubuntu, Alpine;
 *      RHEL, Fedora, CentOS; SUSE) — the places Go's crypto/x509 looks;
 * and the directory of hashed certificates is SSL_CERT_DIR, else libcurl's compiled-in one when
 * it exists, else, when no bundle file was found, the first such directory that exists.
 * Neither found: an https URL is an error that says so; a plain http one needs no CA.
 */
#ifndef RZ_CA_BUNDLE_H
#define RZ_CA_BUNDLE_H

#include "util/error.h"

typedef struct rz_ca_locations {
    const char *file; /* for CURLOPT_CAINFO; NULL: none */
    const char *dir;  /* for CURLOPT_CAPATH; NULL: none */
} rz_ca_locations;

/* Where the CA certificates for url are, in *out: set both on the handle, NULL included (a
 * compiled-in default that does not exist here must not stay, or every TLS transfer fails).
 * The strings are the environment's, libcurl's or static: set them before the environment
 * changes. Reads the environment and stats a few paths; no state is kept, so a changed
 * environment counts at the next call. */
int rz_ca_locations_for(rz_ca_locations *out, const char *url, rz_error *err);

#endif
