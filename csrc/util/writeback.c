/* writeback.c - see writeback.h. */
#include "util/writeback.h"

#include <fcntl.h>
#include <string.h>

/* Start the write-out of (off, len) after waiting for the oldest step being written out, if
 * RZ_WRITEBACK_AHEAD bytes are. Called by the helper, or by the writer without one. */
static void writeback_step(rz_writeback *w, int64_t off, int64_t len)
{
#if defined(__linux__) && defined(SYNC_FILE_RANGE_WRITE)
    const int slots = (int)(sizeof(w->started) / sizeof(w->started[0]));

    while (w->s_count >= slots - 1) {
        (void)sync_file_range(w->fd, w->started[w->s_head][0], w->started[w->s_head][1],
                              SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                  SYNC_FILE_RANGE_WAIT_AFTER);
        w->s_head = (w->s_head + 1) % slots;
        w->s_count--;
    }
    (void)sync_file_range(w->fd, off, len, SYNC_FILE_RANGE_WRITE);
    w->started[(w->s_head + w->s_count) % slots][0] = off;
    w->started[(w->s_head + w->s_count) % slots][1] = len;
    w->s_count++;
#else
    (void)w;
    (void)off;
    (void)len;
#endif
}

static void *writeback_helper(void *payload)
{
    rz_writeback *w = payload;

    pthread_mutex_lock(&w->lock);
    for (;;) {
        int64_t off, len;
        while (!w->stop && w->q_count == 0)
            pthread_cond_wait(&w->more, &w->lock);
        if (w->stop)
            break; /* what is queued is the final fsync's (or no one's) */
        off = w->queue[w->q_head][0];
        len = w->queue[w->q_head][1];
        w->q_head = (w->q_head + 1) % RZ_WRITEBACK_QUEUE;
        w->q_count--;
        pthread_cond_signal(&w->room);
        pthread_mutex_unlock(&w->lock);
        writeback_step(w, off, len); /* may wait for the disk: the writer goes on */
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

void rz_writeback_begin(rz_writeback *w, int fd)
{
    memset(w, 0, sizeof(*w));
    w->fd = fd;
    if (pthread_mutex_init(&w->lock, NULL) != 0)
        return;
    if (pthread_cond_init(&w->more, NULL) != 0) {
        pthread_mutex_destroy(&w->lock);
        return;
    }
    if (pthread_cond_init(&w->room, NULL) != 0) {
        pthread_cond_destroy(&w->more);
        pthread_mutex_destroy(&w->lock);
        return;
    }
    if (pthread_create(&w->thread, NULL, writeback_helper, w) != 0) {
        pthread_cond_destroy(&w->room);
        pthread_cond_destroy(&w->more);
        pthread_mutex_destroy(&w->lock);
        return;
    }
    w->threaded = 1;
}

void rz_writeback_wrote(rz_writeback *w, int64_t *cursor, int64_t pos, int last)
{
    while (pos - *cursor >= RZ_WRITEBACK_STEP || (last && pos > *cursor)) {
        int64_t len = pos - *cursor < RZ_WRITEBACK_STEP ? pos - *cursor : RZ_WRITEBACK_STEP;
        if (w->threaded) {
            pthread_mutex_lock(&w->lock);
            while (w->q_count == RZ_WRITEBACK_QUEUE) /* the disk is that far behind */
                pthread_cond_wait(&w->room, &w->lock);
            w->queue[(w->q_head + w->q_count) % RZ_WRITEBACK_QUEUE][0] = *cursor;
            w->queue[(w->q_head + w->q_count) % RZ_WRITEBACK_QUEUE][1] = len;
            w->q_count++;
            pthread_cond_signal(&w->more);
            pthread_mutex_unlock(&w->lock);
        } else {
            writeback_step(w, *cursor, len);
        }
        *cursor += len;
    }
}

void rz_writeback_end(rz_writeback *w)
{
    if (!w->threaded)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = 1;
    pthread_cond_signal(&w->more);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->room);
    pthread_cond_destroy(&w->more);
    pthread_mutex_destroy(&w->lock);
    w->threaded = 0;
}
