/* rewrite.h - URL rewrite rules, git's url.<base>.insteadOf: send requests through a site
 * mirror. Plain C.
 *
 * A rule is FROM=TO: a URL that starts with FROM is fetched from TO followed by the rest of
 * it; of several rules that match, the longest FROM wins; a URL is rewritten once (TO is not
 * looked up again). The rules come from
 *   - $REMOTEZOO_URL_REWRITE: rules separated by white space ("FROM=TO FROM2=TO2"; FROM ends
 *     at the first '='). When it is set (not empty: env.h), it is the only source of rules;
 *   - else the [url_rewrite] table of the config file: $REMOTEZOO_CONFIG, else
 *     $XDG_CONFIG_HOME/remotezoo/config.toml, else ~/.config/remotezoo/config.toml (a missing
 *     file is no rules, and so is REMOTEZOO_CONFIG=/dev/null). It is TOML, read in a small
 *     subset: "# comments", "[table]" headers, and in [url_rewrite] lines "FROM" = "TO" of
 *     basic strings without escapes; other tables are left alone.
 *
 * TO must be an http:// or https:// URL. A malformed rule or file (or a path to something
 * other than a regular file or a character device: a FIFO would hang) is an RZ_E_INVALID error
 * naming the variable or file and line, so a typo never sends a request to the wrong place.
 * fetch.c applies the rules to every request, redirect targets included.
 */
#ifndef RZ_REWRITE_H
#define RZ_REWRITE_H

#include "util/error.h"

#define RZ_REWRITE_MAX_RULES  64
#define RZ_REWRITE_CONFIG_MAX (64 * 1024) /* bytes of the config file read */

/* url rewritten by the rules in force now: *out is a new string (caller frees) when a rule
 * matched, NULL when none did. 0, or -1 with err set (a malformed rule or config file; a URL
 * too long once rewritten). */
int rz_url_rewrite(char **out, const char *url, rz_error *err);

/* 1 if a and b have the same scheme, host and port (either unparsable: 0): whether a
 * credential meant for a may go to b. */
int rz_url_same_origin(const char *a, const char *b);

#endif
