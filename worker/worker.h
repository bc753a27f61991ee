// worker.h - starling-worker: executor slots fed by the scheduler, by
// credit.
// SPDX-License-Identifier: MIT
#ifndef SL_WORKER_WORKER_H
#define SL_WORKER_WORKER_H

#include "../common/util.h"

typedef struct sl__worker sl__worker;

typedef struct {
    const char *scheduler;    // the scheduler's worker endpoint
    int slots;                // executor threads; 0: one per core
    int prefetch;             // tasks held beyond the slots; <0: = slots
    const char *name;         // node name; NULL: the host name
    const char *module_cache; // user modules' cache directory; NULL: the
                              // default (worker/loader.h)
    bool threads;             // run kernels in slot threads, not executor
                              // processes (faster; no time limits, and a
                              // crashing kernel takes the worker down)
} sl__worker_opts;

// Create the worker and connect (ZeroMQ connects in the background; the
// worker announces itself with READY and starts its slots on WELCOME).
sl_err sl__worker_new(sl__worker **out, const sl__worker_opts *opts,
                      char errbuf[SL_ERRSTR_LEN]);
// Serve until SIGINT/SIGTERM or a SHUTDOWN from the scheduler.
void sl__worker_run(sl__worker *self);
void sl__worker_destroy(sl__worker **self_p);

#endif
