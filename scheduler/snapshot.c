// snapshot.c - the scheduler's figures for the HTTP thread, and the board
// the loop publishes them on.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - A snapshot is never changed once published: every reader may render
//   from it without a lock. Its reference count is guarded by the board's
//   mutex, which is only ever held for a pointer swap or a count change,
//   so a reader waits at most that long, and a snapshot is freed by its
//   last holder outside the lock.
// - The loop publishes with pthread_mutex_trylock: the HTTP thread can be
//   preempted while it holds the lock (two cores shared with the workers),
//   and the loop must not wait for it even then. A publication that finds
//   the lock taken is simply tried again a little later (observe.c).
#include "snapshot.h"

#include <stdlib.h>

#include "../common/util.h"

sl__snapshot *
sl__snapshot_new(uint32_t n_workers)
{
    sl__snapshot *snap = sl__xcalloc(
        1, sizeof(*snap) + (size_t) n_workers * sizeof(snap->workers[0]));
    snap->refs = 1;
    snap->n_workers = n_workers;
    return snap;
}

void
sl__snapshot_destroy(sl__snapshot **snap_p)
{
    free(*snap_p);
    *snap_p = NULL;
}

void
sl__board_init(sl__board *b)
{
    pthread_mutex_init(&b->lock, NULL);
    b->latest = NULL;
}

void
sl__board_fini(sl__board *b)
{
    sl__board_release(b, &b->latest);
    pthread_mutex_destroy(&b->lock);
}

bool
sl__board_publish(sl__board *b, sl__snapshot **snap_p)
{
    if (pthread_mutex_trylock(&b->lock) != 0) {
        return false;
    }
    sl__snapshot *old = b->latest;
    b->latest = *snap_p;
    bool last = old != NULL && --old->refs == 0;
    pthread_mutex_unlock(&b->lock);
    *snap_p = NULL;
    if (last) {
        sl__snapshot_destroy(&old);
    }
    return true;
}

sl__snapshot *
sl__board_acquire(sl__board *b)
{
    pthread_mutex_lock(&b->lock);
    sl__snapshot *snap = b->latest;
    if (snap != NULL) {
        snap->refs++;
    }
    pthread_mutex_unlock(&b->lock);
    return snap;
}

void
sl__board_release(sl__board *b, sl__snapshot **snap_p)
{
    sl__snapshot *snap = *snap_p;
    if (snap == NULL) {
        return;
    }
    *snap_p = NULL;
    pthread_mutex_lock(&b->lock);
    bool last = --snap->refs == 0;
    pthread_mutex_unlock(&b->lock);
    if (last) {
        sl__snapshot_destroy(&snap);
    }
}
