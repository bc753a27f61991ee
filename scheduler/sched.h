// sched.h - starling-scheduler: one thread, one loop, every task's owner
// between SUBMIT and DONE.
// SPDX-License-Identifier: MIT
#ifndef SL_SCHEDULER_SCHED_H
#define SL_SCHEDULER_SCHED_H

#include "../serialize/msg.h"

typedef struct sl__sched sl__sched;

typedef struct {
    const char *client_endpoint; // ROUTER for clients, e.g. tcp://127.0.0.1:*
    const char *worker_endpoint; // ROUTER for workers
    const char *stores[16];      // Redis shards, "host:port", told to peers
    int n_stores;                // 1..16
    const char *store_password;  // told to peers in WELCOME; may be ""
    int heartbeat_ms;            // interval; a worker silent for 3 is lost
    int client_grace_ms;         // a client disconnected this long loses its
                                 // jobs (cancelled); 0: 30 s
    uint32_t inline_max;         // values up to this many bytes ride inline
    const char *endpoints_file;  // write the bound endpoints here, or NULL
    sl__limits limits;           // bounds on what peers send
    uint32_t max_client_jobs;    // jobs one client may have at once; 0:
                                 // SL_SCHED_MAX_CLIENT_JOBS
    const char *cert;            // our CURVE certificate (secret); NULL:
                                 // no CURVE
    const char *allow_dir;       // public certificates of peers let in
    bool insecure; // serve endpoints off this machine without CURVE
    int send_hwm;  // messages libzmq queues per peer; 0: 100,000

    // The HTTP endpoints (observe.h, http.h).
    const char *http;            // where: "ADDR:PORT"; NULL: none
    const char *http_token_file; // their bearer token's file, or NULL
} sl__sched_opts;

// The default of max_client_jobs: a program that calls sl_call_async in a
// loop has a job per call.
#define SL_SCHED_MAX_CLIENT_JOBS 65536

// Start the authenticator (auth.h), check and bind both endpoints, and
// write the endpoints file. On error errbuf says which endpoint (or which
// key) failed and why.
sl_err sl__sched_new(sl__sched **out, const sl__sched_opts *opts,
                     char errbuf[SL_ERRSTR_LEN]);
// Serve until SIGINT/SIGTERM (czmq's zsys_interrupted) or sl__sched_stop.
void sl__sched_run(sl__sched *self);
void sl__sched_stop(sl__sched *self);
void sl__sched_destroy(sl__sched **self_p);

#endif
