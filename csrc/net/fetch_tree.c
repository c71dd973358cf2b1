/* fetch_tree.c - see fetch_tree.h. */
#include "net/fetch_tree.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "net/extract.h"
#include "net/fetch_file.h"
#include "net/sha256.h"
#include "util/buf.h"

/* The stream an extraction reads, hashed on the way (the archive's bytes, as they arrived). */
typedef struct hashed_stream {
    rz_stream *stream;
    rz_sha256 *hash; /* NULL: not hashed */
} hashed_stream;

/* Adapts an rz_stream to the extractor's pull callback. */
static int stream_read(const void **out_data, size_t *out_len, rz_error *err, void *payload)
{
    hashed_stream *s = payload;

    if (rz_stream_read(s->stream, out_data, out_len, err) < 0)
        return -1;
    return s->hash && *out_len ? rz_sha256_update(s->hash, *out_data, *out_len, err) : 0;
}

int rz_fetch_tree(const char *dest, const char *url, rz_archive_format format,
                  const char *const *headers, const rz_fetch_opts *base, const char *tmpdir,
                  char *out_sha256, rz_error *err)
{
    rz_fetch_opts opts = *base;
    rz_extract_limits limits;
    hashed_stream s = {NULL, NULL};
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
        if (out_sha256 && rz_sha256_new(&s.hash, err) < 0)
            return -1;
        rc = rz_stream_open(&s.stream, url, &opts, err);
        if (rc == 0) {
            rc = rz_extract_stream(stream_read, &s, url, dest, 1, &limits, err);
            /* The extractor may stop at the end-of-archive marker: what the server sent after it
             * is part of the file its sha256 is of (as sha256sum would hash it). */
            while (rc == 0 && s.hash) {
                const void *data;
                size_t len;
                if ((rc = stream_read(&data, &len, err, &s)) < 0 || len == 0)
                    break;
            }
            rz_stream_close(s.stream);
        }
        if (rc == 0 && s.hash)
            rc = rz_sha256_final_hex(s.hash, out_sha256, err);
        rz_sha256_free(s.hash);
        return rc;
    }
    /* zip and 7z keep their directory at the end: they go through a file. */
    if (!(archive = rz_path(err, "%s/archive.%s", tmpdir, format == RZ_ARCHIVE_ZIP ? "zip" : "7z")))
        return -1;
    rc = rz_fetch_to_file(out_sha256, url, archive, NULL, &opts, err); /* hashed as written */
    if (rc == 0)
        rc = rz_extract_file(archive, dest, 1, &limits, err);
    unlink(archive);
    free(archive);
    return rc;
}
