// worker.h - starling-worker: executor slots (threads, or executor
// processes: worker/slots.h) fed by the scheduler, by credit.
// SPDX-License-Identifier: MIT
#ifndef SL_WORKER_WORKER_H
#define SL_WORKER_WORKER_H

#include "../common/util.h"

typedef struct sl__worker sl__worker;

// The default prefetch: the scheduler fills it only as far as the job's
// run time makes sense (see scheduler/sched.c, "Credit").
#define SL_WORKER_PREFETCH 256

typedef struct {
    const char *scheduler;    // the scheduler's worker endpoint
    int slots;                // executor slots; 0: one per core
    int prefetch;             // tasks held beyond the slots, at most; <0:
                              // SL_WORKER_PREFETCH, or the slots if more
    const char *name;         // node name; NULL: sl__node_name's
    const char *module_cache; // user modules' cache directory; NULL: the
                              // default (worker/loader.h)
    bool threads;             // run kernels in slot threads, not executor
                              // processes (faster; no time limits, and a
                              // crashing kernel takes the worker down)
    const char *module_allow; // file of the module hashes allowed to load,
                              // one a line; NULL: any module
    const char *cert;         // our CURVE certificate (secret); NULL: none
    const char *server_cert;  // the scheduler's public certificate
    long cache_mb;            // each slot's input cache (worker/cache.h),
                              // MiB; <0: sl__cache_default_budget; 0: none
    long tier_budget_mb;      // the node's object tier (store/tier.h),
                              // MiB; <0: the tier's or the default; 0:
                              // none (every object through the store)
} sl__worker_opts;

// Create the worker and connect (ZeroMQ connects in the background; the
// worker announces itself with READY and starts its slots on WELCOME). On
// error (a certificate or an allow list that cannot be read, a socket)
// errbuf says why.
sl_err sl__worker_new(sl__worker **out, const sl__worker_opts *opts,
                      char errbuf[SL_ERRSTR_LEN]);
// Serve until SIGINT/SIGTERM or a SHUTDOWN from the scheduler: SL_OK. Or
// until the store refuses the password the scheduler gave: SL_EAUTH, after
// logging why (no task could use the store).
sl_err sl__worker_run(sl__worker *self);
void sl__worker_destroy(sl__worker **self_p);

#endif
