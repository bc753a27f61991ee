// slots.h - a worker's executor slots: one interface, a table of
// operations, with two backends.
// SPDX-License-Identifier: MIT
//
// worker.c holds the tasks the scheduler sent and decides which run where
// and in what batches; a backend runs them. Where kernels run is the
// backend's business, and worker.c never asks which it has:
//
//   sl__slots_thread   slots_thread.c: a thread per slot, in the worker
//                      (--executor thread): a crashing kernel takes the
//                      worker down, and a running kernel cannot be stopped
//   sl__slots_process  slots_process.c: an executor process per slot
//                      (worker/executor.h), killed at a task's time limit
//                      or to stop it, and replaced when it dies
//
// Nothing outside worker/worker.c and the two backends includes this.
#ifndef SL_WORKER_SLOTS_H
#define SL_WORKER_SLOTS_H

#include <czmq.h>
#include <stdbool.h>

#include "frame.h"
#include "loader.h"
#include "registry.h"
#include "run.h"

// Most tasks in one hand-off: a batch goes to an executor in one frame.
#define SL_SLOTS_BATCH_MAX SL_FRAME_BATCH_MAX

// A task in the worker's hands: queued in its FIFO, or in a slot's batch.
// Batches are lists, by next, in the order their tasks run.
typedef struct sl__slot_task sl__slot_task;
struct sl__slot_task {
    sl__run_task task;    // the task and, once run, its outcome
    int slot;             // the slot it was given to; -1 while queued
    sl__slot_task *next;  // the FIFO's next, then the next of its batch
    const char *stop_why; // a stop that could not stop it: why (static),
                          // else NULL; main thread only
};

// What a backend tells the worker. Every task given to a slot comes back
// exactly once, through ran, ended or requeue; the worker owns it again
// from that call on. The host copies what it keeps of the encoded bytes.
typedef struct {
    void *ctx; // the worker, passed to each
    // it ran: its outcome is encoded (as RESULT carries it, with the job;
    // checked by the backend) in len bytes, or, when encoded is NULL, in
    // it->task. Its run time (it->task.stats) counts in the averages that
    // size batches.
    void (*ran)(void *ctx, sl__slot_task *it, const uint8_t *encoded,
                size_t len);
    // it ended without running to its end (refused, lost with its
    // executor, timed out, stopped): its outcome is in it->task.
    void (*ended)(void *ctx, sl__slot_task *it);
    // The n tasks of batch (a list) have no outcome: their executor went
    // away under them (it died, or was killed to stop another task of the
    // batch), or the slots are being destroyed. Back to the front of the
    // FIFO, in order, uncharged. careful: the executor died under them, so
    // tasks go one at a time for a while and the one that kills it is
    // found.
    void (*requeue)(void *ctx, sl__slot_task *batch, uint32_t n, bool careful);
    // Slot is idle: it may be given a batch again.
    void (*idle)(void *ctx, int slot);
} sl__slots_host;

// What the slots need to run tasks. create copies it; what it points to
// must outlive the slots.
typedef struct {
    int n_slots;                      // 1 to 4096
    const sl__registry *registry;     // built-in kernels
    sl__loader *loader;               // user modules (and their cache dir)
    const char *module_allow;         // the allow list file, or NULL
    const sl__store_opts *store_opts; // where the store is (from WELCOME)
    sl__limits limits;                // bounds on decoded values
    uint32_t inline_max;              // larger results go to the store
    size_t cache_bytes;               // each slot's input cache; 0: none
    const char *tier_cluster;         // the node's object tier: cluster id
    const char *tier_node;            // and node name; NULL or "": none
} sl__slots_config;

typedef struct sl__slots sl__slots; // one backend's slots

// The operations. Each is called from the worker's main thread only.
typedef struct {
    // Where kernels run, for the log: "threads", "executor processes".
    const char *name;
    // Start cfg->n_slots idle slots. On error (errbuf says why) *out is
    // NULL and nothing is left running.
    sl_err (*create)(sl__slots **out, const sl__slots_config *cfg,
                     const sl__slots_host *host, char errbuf[SL_ERRSTR_LEN]);
    // Hand batch (n tasks of one job, 1 to SL_SLOTS_BATCH_MAX, each with
    // its slot field set; a task with a time limit comes alone) to idle
    // slot. The backend owns the tasks until it gives each back through
    // the host; it may do so at once (a time limit it cannot enforce, an
    // executor that cannot start). The host's calls never give work back
    // to the backend from within them.
    void (*give)(sl__slots *s, int slot, sl__slot_task *batch, uint32_t n);
    // Add to items (room for max) what the loop must watch, and return how
    // many; lower *timeout_ms to the nearest deadline.
    int (*poll_items)(sl__slots *s, zmq_pollitem_t *items, int max,
                      int *timeout_ms);
    // After each poll, with the n items poll_items added (revents set, or
    // zero when the poll failed): take the outcomes that arrived and stop
    // the tasks past their time limit.
    void (*collect)(sl__slots *s, const zmq_pollitem_t *items, int n);
    // Stop the running tasks of job: every one, or, with one, the task
    // index. Each stopped task ends CANCELLED with why. Returns how many
    // matching tasks are running and could not be stopped: they run to
    // their end, and then end CANCELLED too, saying they could not be
    // stopped (why must be a static string).
    uint32_t (*stop)(sl__slots *s, uint64_t job, bool one, uint32_t index,
                     const char *why);
    // Stop every slot and free them. Tasks still held go back through
    // requeue, not run (their outcomes, if any, are dropped). Accepts NULL;
    // sets *s_p to NULL.
    void (*destroy)(sl__slots **s_p);
} sl__slots_ops;

extern const sl__slots_ops sl__slots_thread;
extern const sl__slots_ops sl__slots_process;

#endif
