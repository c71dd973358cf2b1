/* ca_bundle.c - see ca_bundle.h. */
#include "net/ca_bundle.h"
#include "util/env.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <strings.h>
#include <unistd.h>

/* The variables users set for a bundle file, in the order the first set one wins. */
static const char *const file_vars[] = {"SSL_CERT_FILE", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE"};

/* Where distributions keep their bundle, most common first. */
static const char *const bundle_files[] = {
    "/etc/ssl/certs/ca-certificates.crt",                /* Debian, Ubuntu, Alpine, Gentoo, Arch */
    "/etc/pki/tls/certs/ca-bundle.crt",                  /* Fedora, RHEL */
    "/etc/ssl/ca-bundle.pem",                            /* openSUSE, SLES */
    "/etc/pki/tls/cacert.pem",                           /* OpenELEC */
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", /* CentOS, RHEL 7+ */
    "/etc/ssl/cert.pem",                                 /* Alpine */
};

/* Directories of certificates named by subject hash (c_rehash), when no bundle file exists. */
static const char *const bundle_dirs[] = {
    "/etc/ssl/certs",     /* SLES 10/11 */
    "/etc/pki/tls/certs", /* Fedora, RHEL */
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int readable(const char *path)
{
    return path && path[0] && access(path, R_OK) == 0;
}

/* The first of paths (n of them) that exists, or NULL. */
static const char *first_readable(const char *const *paths, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (readable(paths[i]))
            return paths[i];
    return NULL;
}

int rz_ca_locations_for(rz_ca_locations *out, const char *url, rz_error *err)
{
    const curl_version_info_data *info = curl_version_info(CURLVERSION_NOW);
    size_t i;

    out->file = NULL;
    for (i = 0; i < COUNT(file_vars) && !out->file; i++)
        out->file = rz_env(file_vars[i]);
    if (!out->file)
        out->file = readable(info->cainfo) ? info->cainfo
                                           : first_readable(bundle_files, COUNT(bundle_files));
    out->dir = rz_env("SSL_CERT_DIR");
    if (!out->dir)
        out->dir = readable(info->capath) ? info->capath
                   : out->file            ? NULL
                                          : first_readable(bundle_dirs, COUNT(bundle_dirs));
    if (out->file || out->dir || strncasecmp(url, "https:", 6) != 0)
        return 0;
    return rz_error_set(err, RZ_E_DOWNLOAD,
                        "no CA certificates to verify TLS peers: none of SSL_CERT_FILE, "
                        "CURL_CA_BUNDLE, REQUESTS_CA_BUNDLE, SSL_CERT_DIR is set and no system "
                        "bundle exists (looked for %s, %s, %s, ...); install your system's "
                        "ca-certificates package or set SSL_CERT_FILE",
                        bundle_files[0], bundle_files[1], bundle_files[2]);
}
