// run.h - running one task: find its kernel, decode its argument, fetch
// the refs in it, run the kernel, and encode (or store) its result.
// SPDX-License-Identifier: MIT
//
// Both executor modes use this: a slot thread of the worker, and an
// executor process (worker/executor.h). Nothing here talks to the
// scheduler; whatever goes wrong ends as the task's outcome.
#ifndef SL_WORKER_RUN_H
#define SL_WORKER_RUN_H

#include "../serialize/msg.h"
#include "../store/node.h"
#include "../store/store.h"
#include "cache.h"
#include "kernel_api.h"
#include "loader.h"
#include "registry.h"

// Cached tier mappings a task may use and have unpinned after it.
#define SL_RUN_PINS 16

// One task and, once run, its outcome.
typedef struct {
    uint64_t job;           // the task: job
    uint32_t index;         // index in the job
    uint32_t attempt;       // attempt number
    uint32_t time_limit_ms; // 0: none
    char function[256];     // "module.kernel" or "<sha256>/<kernel>"
    char home[65];          // the node of the job's client ("": unknown)
    const uint8_t *arg;     // raw msgpack argument: arg_buf, or borrowed
    size_t arg_len;         // its length
    const uint8_t *inputs;  // the results its futures name, right after
                            // the argument ([job, index, value, ...]); or
                            // NULL
    size_t inputs_len;      // their length
    uint8_t *arg_buf;       // owned copy of the argument, kept for reuse
    size_t arg_cap;         // bytes allocated at arg_buf
    uint32_t status;        // outcome: SL_WIRE_*, 0 until run
    uint8_t *value;         // encoded result value (inline or ref), owned
    size_t value_len;       // its length
    char *error;            // error text, owned, or NULL
    sl__task_stats stats;   // times, FLOPs, bytes
} sl__run_task;

// What running a task needs. One per thread or process: the store
// connection is its own; registry and loader may be shared between
// threads (both are safe for that).
typedef struct {
    const sl__registry *registry;     // built-in kernels
    sl__loader *loader;               // user modules
    const sl__store_opts *store_opts; // where the store is
    sl__store *store;                 // connected on first use
    sl__limits limits;                // bounds on decoded values
    uint32_t inline_max;              // larger results go to the store
    sl__cache *cache;                 // objects fetched before; NULL: none
    const char *tier_cluster;         // the node's object tier: cluster
    const char *tier_node;            // id and node name; NULL or "": none
    sl__tier *tier;                   // opened on first use
    sl__node node;                    // objects over store and tier
    bool node_ready;                  // node is set up
    sl__blob *pins[SL_RUN_PINS];      // cached tier mappings this task
    int n_pins;                       // pinned (run.c, s_pin_note)
} sl__runner;

// Fill t from a TASKS group and item (the argument is copied). t is
// zeroed, or was used before and cleared (sl__run_task_clear): its
// argument buffer is then reused when it is large enough, so that a task
// costs no allocation.
void sl__run_task_init(sl__run_task *t, const sl__task_group *g,
                       const sl__task_item *item);
// The same, with the argument borrowed: t->arg is item->arg, which must
// stay valid until t is cleared (an executor's tasks point into the batch
// frame they came in).
void sl__run_task_init_view(sl__run_task *t, const sl__task_group *g,
                            const sl__task_item *item);
// Free t's outcome (result, error) and forget its argument, keeping its
// argument buffer for the next sl__run_task_init; one larger than
// SL_RUN_ARG_KEEP is freed too.
void sl__run_task_clear(sl__run_task *t);
// Free what t owns (argument, result, error); t itself is the caller's.
void sl__run_task_fini(sl__run_task *t);

#define SL_RUN_ARG_KEEP (64u << 10)
// End t with status and a formatted error text.
void sl__run_task_fail(sl__run_task *t, uint32_t status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
// The outcome of t, as RESULT carries it (views into t).
void sl__run_task_outcome(const sl__run_task *t, sl__outcome *o);

// Run t to its outcome. Never fails: errors are t's.
void sl__runner_run(sl__runner *runner, sl__run_task *t);
// Close the store connection and free the cache.
void sl__runner_fini(sl__runner *runner);

#endif
