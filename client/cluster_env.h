// cluster_env.h - the record of a local cluster: home/cluster.env, as
// `starling up` writes it and a client given no endpoint reads it.
// SPDX-License-Identifier: MIT
//
// A local cluster lives under a home directory ($STARLING_HOME, default
// ~/.starling, mode 0700). cluster.env holds one "key=value" a line, saying
// where everything listens, which PIDs run it and how they were started
// (so that a part that died can be started again the same way):
//
//   scheduler=tcp://127.0.0.1:PORT     clients connect here
//   workers=tcp://127.0.0.1:PORT       workers connect here
//   redis=127.0.0.1:PORT
//   dashboard=http://127.0.0.1:PORT/  the scheduler's HTTP endpoints
//                                     (/metrics, /api/...; docs/HTTP.md)
//   redis_pid=PID
//   scheduler_pid=PID
//   worker_pids=PID,PID,...
//   slots=N                            slots per worker process
//   client_cert=HOME/keys/client_secret   (absent when insecure)
//   server_cert=HOME/keys/scheduler
//   aof=yes|no                         and how the parts were started:
//   executor=thread                    (each only when given)
//   cache_mb=N  prefetch=N  module_allow=PATH  module_cache=PATH
//   tier_budget_mb=N
//   max_message=N  max_client_jobs=N  client_grace_ms=N  send_hwm=N
//
// Unknown keys are ignored, so that a newer `up` may record more. This
// file only reads the record (libstarling needs "scheduler" and the keys);
// the launcher (client/launch/) writes it.
#ifndef SL_CLIENT_CLUSTER_ENV_H
#define SL_CLIENT_CLUSTER_ENV_H

#include <sys/types.h>

#include "../common/util.h"

#define SL_CLUSTER_MAX_WORKERS 1024

// How `up` started the parts (its options), so that a part that died is
// started again the same way. Zero: the programs' defaults.
typedef struct {
    bool aof;                 // Redis appendonly (absent from an older
                              // record: yes, up's default)
    char executor[16];        // workers' --executor, or ""
    int cache_mb;             // workers' --cache-mb (< 0: none)
    int prefetch;             // workers' --prefetch (< 0: 0)
    char module_allow[512];   // workers' --module-allow, or ""
    char module_cache[512];   // workers' --module-cache, or ""
    int tier_budget_mb;       // workers' --tier-budget-mb (< 0: 0)
    uint64_t max_message;     // the scheduler's --max-message
    uint32_t max_client_jobs; // its --max-client-jobs
    int client_grace_ms;      // its --client-grace-ms
    int send_hwm;             // its --send-hwm
} sl__cluster_settings;

// What cluster.env says.
typedef struct {
    char home[512];
    char scheduler[256];        // client endpoint
    char workers_endpoint[256]; // worker endpoint
    char redis[64];             // host:port
    char dashboard[96];         // "http://ADDR:PORT/", the scheduler's
                                // HTTP server; "": none
    pid_t redis_pid;
    pid_t scheduler_pid;
    pid_t worker_pids[SL_CLUSTER_MAX_WORKERS];
    int n_workers;
    int slots;
    char client_cert[512]; // clients' certificate (secret); "": insecure
    char server_cert[512]; // the scheduler's public certificate
    sl__cluster_settings settings; // how the parts were started
} sl__cluster_info;

// The home directory that home (or, when it is NULL or "", the
// environment) selects, into buf.
void sl__cluster_home(const char *home, char *buf, size_t len);

// Read home/cluster.env into *info (home as for sl__cluster_home; it may
// be info->home). SL_ENOTFOUND when there is none, SL_EIO when it cannot
// be read or names no scheduler.
sl_err sl__cluster_read(const char *home, sl__cluster_info *info);

#endif
