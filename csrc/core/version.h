/* version.h - model versions: ordering, full names and filenames. Plain C, no allocation
 * except where a function says "caller frees with free()".
 *
 * Ordering is distutils' LooseVersion where LooseVersion is defined: a version is split into
 * runs of ASCII digits (compared as unbounded integers), runs of lowercase ASCII letters, and
 * runs of anything else except '.', which only separates; components are compared in order,
 * str against str bytewise, and a version that is a prefix of another is smaller. Where
 * LooseVersion raises (a number against a string at the same position) numbers sort first, so
 * the order is total. A model without a version counts as "0.0.0".
 */
#ifndef RZ_VERSION_H
#define RZ_VERSION_H

#include <stddef.h>

/* <0, 0 or >0 as a is older than, equal to, or newer than b. NULL means "0.0.0". */
int rz_version_compare(const char *a, const char *b);

/* The index in versions[0..n) of the newest version (the first of equal ones), or -1 if n is
 * 0. NULL entries mean "no version". */
long rz_version_latest(const char *const *versions, size_t n);

/* Full model name: base_name if version is NULL, else
 * "<base_name without extension>@<version><extension>". Caller frees with free(); NULL if out
 * of memory. */
char *rz_model_full_name(const char *base_name, const char *version);

/* Model filename: base_filename if version is NULL, else "<stem>-v<version><ext>".
 * Caller frees with free(); NULL if out of memory. */
char *rz_model_filename(const char *base_filename, const char *version);

/* Offset of the extension of path as os.path.splitext sees it (the last '.' of the last
 * component, unless that component is all leading dots before it); strlen(path) if none. */
size_t rz_splitext(const char *path);

#endif
