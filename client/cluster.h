// cluster.h - the local cluster: `starling up` and `starling down`.
// SPDX-License-Identifier: MIT
//
// A local cluster lives under a home directory ($STARLING_HOME, default
// ~/.starling, mode 0700): a private redis-server with a generated password
// on loopback, one starling-scheduler, and worker processes. Unless it is
// started insecure, every connection to the scheduler is CURVE: home/keys/
// holds a certificate for the scheduler, one the workers share and one for
// clients, and home/keys/allowed/ the public ones the scheduler lets in
// (made on the first `up`, kept after). `up` writes home/cluster.env, one
// "key=value" a line, saying where everything listens and which PIDs it
// started:
//
//   scheduler=tcp://127.0.0.1:PORT     clients connect here
//   workers=tcp://127.0.0.1:PORT       workers connect here
//   redis=127.0.0.1:PORT
//   redis_pid=PID
//   scheduler_pid=PID
//   worker_pids=PID,PID,...
//   slots=N                            slots per worker process
//   client_cert=HOME/keys/client_secret   (absent when insecure)
//   server_cert=HOME/keys/scheduler
//
// A client given no endpoint (or this scheduler's) reads "scheduler" and
// the keys from it.
#ifndef SL_CLIENT_CLUSTER_H
#define SL_CLIENT_CLUSTER_H

#include <sys/types.h>

#include "../common/util.h"

#define SL_CLUSTER_MAX_WORKERS 1024

typedef struct {
    const char *home;         // NULL: $STARLING_HOME, else ~/.starling
    int workers;              // worker processes; 0: cores / slots (one per
                              // core when slots is 0 too)
    int slots;                // slots per worker; 0: cores / workers with
                              // workers, else 1
    const char *bin_dir;      // where starling-scheduler/-worker are; NULL:
                              // beside /proc/self/exe, else PATH
    bool aof;                 // Redis appendonly (everysec)
    int timeout_ms;           // wait for everything to come up; 0: 30 s
    const char *executor;     // workers' --executor: NULL (their default,
                              // "process") or "thread"
    int client_grace_ms;      // scheduler's --client-grace-ms; 0: its default
    int send_hwm;             // scheduler's --send-hwm; 0: its default
    bool insecure;            // no CURVE keys (loopback only all the same)
    const char *module_allow; // workers' module allow list file, or NULL
    size_t max_message;       // the scheduler's --max-message; 0: its default
    uint32_t max_client_jobs; // its --max-client-jobs; 0: its default
    int cache_mb;             // workers' --cache-mb; 0: their default,
                              // < 0: no input cache
} sl__cluster_opts;

// What cluster.env says.
typedef struct {
    char home[512];
    char scheduler[256];        // client endpoint
    char workers_endpoint[256]; // worker endpoint
    char redis[64];             // host:port
    pid_t redis_pid;
    pid_t scheduler_pid;
    pid_t worker_pids[SL_CLUSTER_MAX_WORKERS];
    int n_workers;
    int slots;
    char client_cert[512]; // clients' certificate (secret); "": insecure
    char server_cert[512]; // the scheduler's public certificate
} sl__cluster_info;

// The home directory that opts (or the environment) selects, into buf.
void sl__cluster_home(const char *home, char *buf, size_t len);

// Make the local cluster's key pairs under home/keys that are missing
// (scheduler, worker, client) and put the workers' and clients' public
// certificates into home/keys/allowed. Keys that exist are kept. `up` does
// this; tests use it to add keys of their own.
sl_err sl__cluster_keys(const char *home, char errbuf[SL_ERRSTR_LEN]);

// Start the local cluster, or find it already running (then *started_out
// is false and info describes the running one). Holds a lock on
// home/lock while it works, so two `up`s at once start one cluster.
// Returns once the scheduler reports every worker's slots connected.
sl_err sl__cluster_up(const sl__cluster_opts *opts, sl__cluster_info *info,
                      bool *started_out, char errbuf[SL_ERRSTR_LEN]);
// Stop exactly what `up` started (by PID, each checked to still be the
// program it was), and remove cluster.env. SL_ENOTFOUND when no cluster
// is recorded under home.
sl_err sl__cluster_down(const char *home, char errbuf[SL_ERRSTR_LEN]);
// Start the scheduler of the cluster under opts->home again, on the
// endpoints it had, after it died or was killed: workers and clients
// reconnect by themselves. Updates cluster.env and *info. SL_EINVAL when
// the recorded scheduler still runs.
sl_err sl__cluster_restart_scheduler(const sl__cluster_opts *opts,
                                     sl__cluster_info *info,
                                     char errbuf[SL_ERRSTR_LEN]);
// Start redis-server again, on its port, with its password and its data
// directory (with aof, what it had written is loaded back).
sl_err sl__cluster_restart_redis(const sl__cluster_opts *opts,
                                 sl__cluster_info *info,
                                 char errbuf[SL_ERRSTR_LEN]);
// Start worker i (0-based, in start order) again, after it died.
sl_err sl__cluster_restart_worker(const sl__cluster_opts *opts,
                                  sl__cluster_info *info, int i,
                                  char errbuf[SL_ERRSTR_LEN]);
// Read home/cluster.env. SL_ENOTFOUND when there is none.
sl_err sl__cluster_read(const char *home, sl__cluster_info *info);

#endif
