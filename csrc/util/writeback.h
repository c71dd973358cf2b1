/* writeback.h - write-back of a file while it is being written (a download), so that the disk works
 * during the transfer, dirty pages stay bounded, and the final fsync has little left to write:
 * every RZ_WRITEBACK_STEP bytes a writer adds are handed to a helper thread, which starts their
 * write-out (sync_file_range) and waits for the disk once more than RZ_WRITEBACK_AHEAD bytes
 * are being written. The writer never waits for the disk, unless RZ_WRITEBACK_QUEUE steps are
 * waiting for the helper (the disk is that far behind). Waiting in the writer's own loop for
 * each step before the next one stalled a 120 MiB/s transfer for ~1 s in 8.5 s on a virtual
 * disk that writes 260-340 MiB/s, and a shared disk stalls a single wait for half a second.
 * Advisory only (sync_file_range on Linux, nothing elsewhere): errors are left to the fsync the
 * caller must still do. Without a helper thread (pthread_create failed) the writer starts the
 * write-out itself and waits for the step RZ_WRITEBACK_AHEAD behind. Several writers (parallel
 * ranges) share one rz_writeback, each with its own cursor, all on the same thread. */
#ifndef RZ_WRITEBACK_H
#define RZ_WRITEBACK_H

#include <pthread.h>
#include <stdint.h>

#define RZ_WRITEBACK_STEP  (8 * 1024 * 1024)
#define RZ_WRITEBACK_AHEAD (64 * 1024 * 1024)
#define RZ_WRITEBACK_QUEUE 16 /* steps */

typedef struct rz_writeback {
    int fd;
    int threaded; /* the helper runs */
    int stop;     /* the helper is to return */
    pthread_t thread;
    pthread_mutex_t lock; /* guards queue and stop */
    pthread_cond_t more;  /* the writer queued a step, or stop */
    pthread_cond_t room;  /* the helper took a step */
    int q_head, q_count;  /* steps written, not yet started: (offset, length), a ring */
    int64_t queue[RZ_WRITEBACK_QUEUE][2];
    int s_head, s_count; /* steps being written out (the helper's, or the writer's without one) */
    int64_t started[RZ_WRITEBACK_AHEAD / RZ_WRITEBACK_STEP + 1][2];
} rz_writeback;

/* Start write-back for fd (which must stay open until rz_writeback_end). */
void rz_writeback_begin(rz_writeback *w, int fd);

/* A writer wrote its bytes up to offset pos; *cursor is where its write-back stands (set it to
 * the writer's first offset before the first call). last: the writer is done, so its bytes
 * short of a whole step are handed on too. */
void rz_writeback_wrote(rz_writeback *w, int64_t *cursor, int64_t pos, int last);

/* Stop the helper and wait for it (it finishes the step it is on; what is queued is left to
 * the fsync). Call it on every path after rz_writeback_begin, before the fsync and the close. */
void rz_writeback_end(rz_writeback *w);

#endif
