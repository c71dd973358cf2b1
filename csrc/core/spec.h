/* spec.h - source specs: parse every form shared/SPEC.md accepts and normalise it to the
 * source's identity. Plain C: no Python, no network, no file system access (except getcwd()
 * and $HOME when the caller does not supply them).
 *
 * Accepted forms (anything else is an RZ_E_SOURCE error that quotes the spec, redacted, and
 * lists these forms on one line):
 *
 *   GitHub   https://github.com/<user>/<repo>                 default branch
 *            https://github.com/<user>/<repo>/tree/<ref>      branch or tag; <ref> may hold '/'
 *            https://github.com/<user>/<repo>/commit/<sha>    a commit (4 to 64 hex digits)
 *            <user>/<repo>  and  <user>/<repo>/<ref>          the same, short; <ref> may hold '/'
 *            github.com/<user>/<repo>...                      the URL form without its scheme
 *   archive  http(s)://host/.../x.zip .tar .tar.gz .tgz .tar.bz2 .tbz2 .tbz .tar.bz .tar.xz
 *            .txz .tar.zst .tzst .7z .rar (the extension of the path, case-insensitive; query
 *            and fragment ignored)
 *   local    /abs/path, ./rel, ../rel, ., .., ~, ~/path, file:///abs/path,
 *            file://localhost/abs/path (%XX decoded)
 *
 * Rules and decisions:
 * - The spec is trimmed of surrounding ASCII whitespace; it may not be longer than
 *   RZ_SPEC_MAX_LEN bytes nor contain control characters.
 * - The GitHub server is github_server_url ($GITHUB_SERVER_URL, read by the glue) or
 *   https://github.com. URLs under it (http or https, same host and port, below its path prefix,
 *   e.g. https://ghe.corp/github) are GitHub specs; so are https://github.com (and
 *   www.github.com, and http) URLs even when another server is configured, because SPEC says
 *   "https://github.com means $GITHUB_SERVER_URL when set": their identity then names the
 *   configured server.
 * - On the GitHub server, .../<user>/<repo>, .../<user>/<repo>/tree/<ref> and
 *   .../<user>/<repo>/commit/<sha> are GitHub specs (a repo may be named "x.zip": the two-part
 *   path is a repo whenever its parts are a valid user and repo, so identities re-parse);
 *   any other path ending in an archive extension (.../archive/refs/heads/x.zip, a test
 *   server's /x.tar.gz or /files/dl/x.zip) is an archive spec. Query and fragment of GitHub
 *   URLs are ignored, and their path is %XX-decoded.
 * - User: letters, digits, '-', '_', '.', starting with a letter, digit or '_', at most 39.
 *   Repo: letters, digits, '-', '_', '.', not "." or "..", at most 100, trailing ".git"s
 *   dropped (case-insensitively; a repo named ".git" stays). Both are lowercased (GitHub names are
 * case-insensitive); the ref keeps its case.
 * - Ref (git check-ref-format, simplified): at most 255 bytes; no "..", "//", "@{", space,
 *   control characters or any of ~^:?*[\ ; not "@"; not starting with '-' or '/'; no
 *   component starting with '.'; not ending with '/', '.' or ".lock". Trailing '/' of the whole
 *   spec are dropped first.
 * - Ambiguity: "<user>/<repo>" is always GitHub. A local directory must be written as an
 *   absolute path, or start with "./", "../" or "~/" (or be ".", ".." or "~"), or be a file://
 *   URL; a bare relative path such as "mydir" is refused with that advice. So the choice never
 *   depends on what exists on disk, and existence is not checked here (registration does).
 * - Local paths are made absolute (relative to cwd, '~' from home) and normalised lexically
 *   (no ".", "..", "//" or trailing '/'; ".." at the root stays at the root). "~user" is not
 *   expanded.
 * - Credentials in a URL (user[:password]@host) are refused ("put tokens in GITHUB_TOKEN, not
 *   in the URL") and never echoed.
 *
 * Identities (equal identity = the same source; parsing an identity yields itself):
 *   GitHub   <server>/<user>/<repo>[/tree/<ref>|/commit/<sha>], server normalised (lowercase
 *            scheme and host, no default port, no trailing '/'); in the ref '%', '?' and '#'
 *            are written %25, %3F and %23. "Voxel51/OpenAI-CLIP",
 *            "https://github.com/voxel51/openai-clip/" and "...openai-clip.git" are one.
 *   archive  the URL with scheme and host lowercased, default port removed, fragment dropped,
 *            trailing '/' of the path dropped, an empty query dropped, the query kept.
 *   local    file://<absolute normalised path>, with '%', '?', '#' and ' ' %XX-encoded.
 */
#ifndef RZ_SPEC_H
#define RZ_SPEC_H

#include "util/archive_name.h"
#include "util/error.h"
#include "util/hash.h"

/* Longest spec accepted, in bytes. */
#define RZ_SPEC_MAX_LEN 4096

typedef enum rz_spec_kind { RZ_SPEC_GITHUB, RZ_SPEC_ARCHIVE, RZ_SPEC_LOCAL } rz_spec_kind;

typedef struct rz_spec {
    rz_spec_kind kind;
    char *identity;    /* owned: the normalised spec, the source's identity (see above) */
    char *user;        /* owned: GitHub user, lowercase; NULL for other kinds */
    char *repo;        /* owned: GitHub repo, lowercase, without ".git"; NULL for other kinds */
    char *ref;         /* owned: GitHub branch, tag or sha; NULL = the default branch */
    int ref_is_commit; /* 1 when ref came from .../commit/<sha> (lowercase hex) */
    char *url;         /* owned: archive: the URL to fetch (= identity); else NULL */
    rz_archive_format format; /* archive: its format; else RZ_ARCHIVE_NONE */
    char *local_path;         /* owned: local: absolute, normalised path; else NULL */
    char *slug; /* owned: [a-z0-9_], starts with a letter, at most 64 bytes: a readable name
                 * plus 12 hex digits of FNV-1a 64 of the identity, e.g.
                 * "gh_voxel51_openai_clip_main_1a2b3c4d5e6f"; stable across runs and machines,
                 * for the source's directory and its Python module name */
} rz_spec;

/* What a parse depends on besides the spec. Every member may be NULL. */
typedef struct rz_spec_context {
    const char *github_server_url; /* $GITHUB_SERVER_URL; NULL or "" = https://github.com */
    const char *cwd;               /* base of relative paths; NULL = getcwd() */
    const char *home;              /* what '~' means; NULL = $HOME */
} rz_spec_context;

/* Parse spec (NUL-terminated UTF-8) into *out, which the caller later clears with
 * rz_spec_clear (also after a failure, which leaves *out empty). github_server_url as in
 * rz_spec_context; relative paths are relative to getcwd() and '~' is $HOME. Errors are
 * RZ_E_SOURCE (a malformed spec or GITHUB_SERVER_URL) or RZ_E_NOMEM. */
int rz_spec_parse(rz_spec *out, const char *spec, const char *github_server_url, rz_error *err);

/* As rz_spec_parse with everything it depends on given in ctx (NULL = all defaults). Pure when
 * ctx->cwd and ctx->home are set. */
int rz_spec_parse_in(rz_spec *out, const char *spec, const rz_spec_context *ctx, rz_error *err);

/* Free what s owns and zero it; an already cleared or zeroed s is fine. */
void rz_spec_clear(rz_spec *s);

/* "github", "archive" or "local". Static string. */
const char *rz_spec_kind_name(rz_spec_kind kind);

#endif
