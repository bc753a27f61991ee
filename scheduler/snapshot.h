// snapshot.h - what the scheduler's loop shows the HTTP thread: an
// immutable copy of its figures, and the board it is published on.
// SPDX-License-Identifier: MIT
//
// The loop builds a snapshot from its live state (observe.c), publishes
// it, and never touches it again; the HTTP thread takes the latest one,
// renders from it and gives it back. Neither waits for the other longer
// than a pointer swap, and the loop not even that (sl__board_publish).
#ifndef SL_SCHEDULER_SNAPSHOT_H
#define SL_SCHEDULER_SNAPSHOT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "../serialize/msg.h"
#include "stats.h"

// One ready worker, as the loop saw it.
typedef struct {
    char name[64];    // the name its READY gave (printable ASCII)
    uint32_t pid;     // its process id
    uint32_t slots;   // executor slots
    uint32_t busy;    // slots running a task: its leases, at most slots
    uint32_t leases;  // tasks it holds, running or prefetched
    int64_t heard_ms; // when we last heard from it (sl__mono_ms)
} sl__snapshot_worker;

typedef struct {
    uint32_t refs;      // holders: the board, and readers (board's lock)
    int64_t taken_ms;   // when it was taken (sl__mono_ms)
    double taken_s;     // the same, Unix time
    sl__status status;  // the figures of a STATUS_REPLY
    sl__stats stats;    // the counters since the scheduler started
    uint32_t n_workers; // entries in workers
    sl__snapshot_worker workers[]; // ready workers, in no order
} sl__snapshot;

// A snapshot with room for n_workers workers (n_workers set, the rest
// zero) and one reference: the caller's, until it publishes it or
// destroys it.
sl__snapshot *sl__snapshot_new(uint32_t n_workers);
void sl__snapshot_destroy(sl__snapshot **snap_p);

// The latest snapshot, shared by the loop (which publishes) and the HTTP
// thread (which reads).
typedef struct {
    pthread_mutex_t lock; // guards latest and every snapshot's refs
    sl__snapshot *latest; // the newest published; NULL: none yet
} sl__board;

void sl__board_init(sl__board *b);
// Drop the board's snapshot. No reader may hold one any more.
void sl__board_fini(sl__board *b);
// Make *snap_p the latest: the board takes the caller's reference and
// *snap_p is set to NULL. Never blocks: when a reader holds the lock at
// that moment, it returns false and *snap_p is left to the caller (who
// may try again, or destroy it).
bool sl__board_publish(sl__board *b, sl__snapshot **snap_p);
// The latest snapshot, with a reference for the caller; NULL when none
// was published. Give it back with sl__board_release.
sl__snapshot *sl__board_acquire(sl__board *b);
// Give back a reference of sl__board_acquire; *snap_p is set to NULL. The
// last holder frees the snapshot (outside the lock).
void sl__board_release(sl__board *b, sl__snapshot **snap_p);

#endif
