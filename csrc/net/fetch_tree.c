/* fetch_tree.c - see fetch_tree.h. */
#include "net/fetch_tree.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "net/extract.h"
#include "net/fetch_file.h"
#include "util/buf.h"

/* Adapts an rz_stream to the extractor's pull callback. */
static int stream_read(const void **out_data, size_t *out_len, rz_error *err, void *payload)
{
    return rz_stream_read(payload, out_data, out_len, err);
}

int rz_fetch_tree(const char *dest, const char *url, rz_archive_format format,
                  const char *const *headers, const rz_fetch_opts *base, const char *tmpdir,
                  rz_error *err)
{
    rz_fetch_opts opts = *base;
    rz_extract_limits limits;
    rz_stream *stream = NULL;
    char *archive = NULL;
    int rc;

    opts.headers = headers;
    rz_extract_limits_default(&limits);
    if (format == RZ_ARCHIVE_RAR) {
        char shown[RZ_ERR_URL_MAX];
        rz_redact_url(shown, sizeof(shown), url);
        return rz_error_set(err, RZ_E_ARCHIVE,
                            "%s: RAR archives are not supported (libarchive's RAR reader takes "
                            "an archive cut between two entries for a complete one); publish a "
                            ".zip, .tar.* or .7z",
                            shown);
    }
    if (format != RZ_ARCHIVE_ZIP && format != RZ_ARCHIVE_7Z) {
        if (rz_stream_open(&stream, url, &opts, err) < 0)
            return -1;
        rc = rz_extract_stream(stream_read, stream, url, dest, 1, &limits, err);
        rz_stream_close(stream);
        return rc;
    }
    /* zip and 7z keep their directory at the end: they go through a file. */
    if (!(archive = rz_path(err, "%s/archive.%s", tmpdir, format == RZ_ARCHIVE_ZIP ? "zip" : "7z")))
        return -1;
    rc = rz_fetch_to_file(url, archive, NULL, &opts, err);
    if (rc == 0)
        rc = rz_extract_file(archive, dest, 1, &limits, err);
    unlink(archive);
    free(archive);
    return rc;
}
