/* version.c - see version.h. */
#include "core/version.h"

#include <stdlib.h>
#include <string.h>

typedef enum { COMPONENT_END, COMPONENT_NUMBER, COMPONENT_STRING } component_kind;

typedef struct component {
    component_kind kind;
    const char *start;
    size_t len;
} component;

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_lower(char c)
{
    return c >= 'a' && c <= 'z';
}

/* Reads the component of *cursor, as LooseVersion's re.split(r'(\d+|[a-z]+|\.)') followed by
 * dropping '' and '.' does; advances *cursor past it. */
static component next_component(const char **cursor)
{
    const char *p = *cursor;
    component c = {COMPONENT_END, p, 0};

    while (*p == '.')
        p++;
    c.start = p;
    if (*p == '\0') {
        c.kind = COMPONENT_END;
    } else if (is_digit(*p)) {
        c.kind = COMPONENT_NUMBER;
        while (is_digit(*p))
            p++;
    } else if (is_lower(*p)) {
        c.kind = COMPONENT_STRING;
        while (is_lower(*p))
            p++;
    } else {
        /* Text the pattern does not match is kept whole up to the next match. */
        c.kind = COMPONENT_STRING;
        while (*p && *p != '.' && !is_digit(*p) && !is_lower(*p))
            p++;
    }
    c.len = (size_t)(p - c.start);
    *cursor = p;
    return c;
}

static int compare_numbers(component a, component b)
{
    int diff;

    while (a.len > 1 && *a.start == '0') {
        a.start++;
        a.len--;
    }
    while (b.len > 1 && *b.start == '0') {
        b.start++;
        b.len--;
    }
    if (a.len != b.len)
        return a.len < b.len ? -1 : 1;
    diff = memcmp(a.start, b.start, a.len);
    return (diff > 0) - (diff < 0);
}

static int compare_strings(component a, component b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int diff = memcmp(a.start, b.start, n);
    if (diff)
        return (diff > 0) - (diff < 0);
    return (a.len > b.len) - (a.len < b.len);
}

int rz_version_compare(const char *a, const char *b)
{
    const char *pa = a ? a : "0.0.0", *pb = b ? b : "0.0.0";

    for (;;) {
        component ca = next_component(&pa), cb = next_component(&pb);
        int diff;

        if (ca.kind == COMPONENT_END || cb.kind == COMPONENT_END)
            return (cb.kind == COMPONENT_END) - (ca.kind == COMPONENT_END);
        if (ca.kind != cb.kind)
            return ca.kind == COMPONENT_NUMBER ? -1 : 1; /* numbers first */
        diff = ca.kind == COMPONENT_NUMBER ? compare_numbers(ca, cb) : compare_strings(ca, cb);
        if (diff)
            return diff;
    }
}

long rz_version_latest(const char *const *versions, size_t n)
{
    long best = -1;
    size_t i;

    for (i = 0; i < n; i++)
        if (best < 0 || rz_version_compare(versions[i], versions[best]) > 0)
            best = (long)i;
    return best;
}

size_t rz_splitext(const char *path)
{
    size_t len = strlen(path);
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    const char *dot = strrchr(name, '.');
    const char *p;

    if (!dot)
        return len;
    for (p = name; p < dot; p++)
        if (*p != '.')
            return (size_t)(dot - path);
    return len; /* ".bashrc", "..x": a leading dot does not start an extension */
}

/* "<stem><infix><version><ext>", the shape of both names. */
static char *insert_version(const char *name, const char *infix, const char *version)
{
    size_t stem = rz_splitext(name), name_len = strlen(name);
    size_t infix_len = strlen(infix), version_len = strlen(version);
    char *out = malloc(name_len + infix_len + version_len + 1);

    if (!out)
        return NULL;
    memcpy(out, name, stem);
    memcpy(out + stem, infix, infix_len);
    memcpy(out + stem + infix_len, version, version_len);
    memcpy(out + stem + infix_len + version_len, name + stem, name_len - stem + 1);
    return out;
}

char *rz_model_full_name(const char *base_name, const char *version)
{
    return version ? insert_version(base_name, "@", version) : strdup(base_name);
}

char *rz_model_filename(const char *base_filename, const char *version)
{
    return version ? insert_version(base_filename, "-v", version) : strdup(base_filename);
}
