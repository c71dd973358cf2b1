/* stamp.c - see stamp.h. */
#include "util/stamp.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void rz_stamp_from_stat(rz_stamp *out, const struct stat *st)
{
    memset(out, 0, sizeof(*out));
    out->exists = 1;
    out->dev = st->st_dev;
    out->ino = st->st_ino;
    out->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    out->size = st->st_size;
}

int rz_stamp_of(rz_stamp *out, const char *path)
{
    struct stat st;

    memset(out, 0, sizeof(*out));
    if (stat(path, &st) < 0)
        return errno == ENOENT ? 0 : -1;
    rz_stamp_from_stat(out, &st);
    return 0;
}

int rz_stamp_equal(const rz_stamp *a, const rz_stamp *b)
{
    if (!a->exists || !b->exists)
        return a->exists == b->exists;
    return a->dev == b->dev && a->ino == b->ino && a->mtime_ns == b->mtime_ns && a->size == b->size;
}

void rz_stamp_text(char out[RZ_STAMP_TEXT_MAX], const rz_stamp *s)
{
    /* Floor division gives back the stat's own seconds and nanoseconds, before 1970 too. */
    int64_t sec = s->mtime_ns / 1000000000, nsec = s->mtime_ns % 1000000000;

    if (nsec < 0) {
        sec--;
        nsec += 1000000000;
    }
    if (!s->exists)
        out[0] = '\0';
    else
        snprintf(out, RZ_STAMP_TEXT_MAX, "%lld.%09ld:%lld", (long long)sec, (long)nsec,
                 (long long)s->size);
}

int rz_stamp_text_is(const char *path, const char *text)
{
    char now[RZ_STAMP_TEXT_MAX];
    rz_stamp st;

    if (!text || rz_stamp_of(&st, path) < 0 || !st.exists)
        return 0;
    rz_stamp_text(now, &st);
    return strcmp(now, text) == 0;
}
