// launch.h - the launcher: start, stop and restart the processes of a
// local cluster (redis-server, starling-scheduler, starling-worker).
// SPDX-License-Identifier: MIT
//
// An internal static library (starling_launch), not part of libstarling:
// the `starling` command (up, down, status), the integration tests'
// harness and the benchmarks start their clusters here. Everything lives
// under a home directory (cluster_env.h): a private redis-server with a
// generated password on loopback, one starling-scheduler, and worker
// processes. Unless it is started insecure, every connection to the
// scheduler is CURVE: home/keys/ holds a certificate for the scheduler,
// one the workers share and one for clients, and home/keys/allowed/ the
// public ones the scheduler lets in (made on the first `up`, kept after).
// `up` writes home/cluster.env, the record of the running cluster.
//
// Processes are started through watch.h: when the program runs a
// watchdog (a test, a benchmark), they are killed with it if it dies.
#ifndef SL_LAUNCH_LAUNCH_H
#define SL_LAUNCH_LAUNCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../cluster_env.h"

typedef struct {
    const char *home;         // NULL: $STARLING_HOME, else ~/.starling
    int workers;              // worker processes; 0: cores / slots (one per
                              // core when slots is 0 too)
    int slots;                // slots per worker; 0: cores / workers with
                              // workers, else 1
    bool no_workers;          // start none (sl__cluster_workers_start later)
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
    int prefetch;             // workers' --prefetch; 0: their default,
                              // < 0: none beyond the slots (--prefetch 0)
    const char *module_cache; // workers' --module-cache; NULL: their
                              // default ($STARLING_MODULE_CACHE, ...)
    int tier_budget_mb;       // workers' --tier-budget-mb; 0: their
                              // default, < 0: no object tier
                              // (--tier-budget-mb 0)
} sl__cluster_opts;

// Make the local cluster's key pairs under home/keys that are missing
// (scheduler, worker, client) and put the workers' and clients' public
// certificates into home/keys/allowed. Keys that exist are kept. `up` does
// this; tests use it to add keys of their own.
sl_err sl__cluster_keys(const char *home, char errbuf[SL_ERRSTR_LEN]);

// What sl__cluster_up found and did.
typedef enum {
    SL_CLUSTER_RUNNING = 0, // the recorded cluster runs, every part of it
    SL_CLUSTER_STARTED,     // none was recorded: a new one was started
    SL_CLUSTER_REPAIRED,    // parts of the recorded one had died: each was
                            // started again where it was
} sl__cluster_outcome;

typedef struct {
    sl__cluster_outcome outcome; // which of the three
    bool redis;                  // REPAIRED: redis-server started again
    bool scheduler;              // REPAIRED: the scheduler started again
    int workers;                 // REPAIRED: workers started again
} sl__cluster_up_report;

// Start the local cluster; or find it running (info describes it); or,
// when the recorded cluster has parts that died, start those again as
// they were: Redis on its port with its password over its append-only
// file, the scheduler on its endpoints, each dead worker with its index,
// all with the options the record gives (opts gives only home, bin_dir
// and timeout_ms then), so that the clients and workers still running
// reconnect. cluster.env is rewritten with the new PIDs. A part whose port
// another program has taken meanwhile cannot be started again: SL_EIO,
// and errbuf says so and what to do. Holds a lock on home/lock while it
// works, so two `up`s at once start one cluster. Returns once the
// scheduler reports every worker's slots connected. *report (may be
// NULL) says which case it was.
sl_err sl__cluster_up(const sl__cluster_opts *opts, sl__cluster_info *info,
                      sl__cluster_up_report *report,
                      char errbuf[SL_ERRSTR_LEN]);
// Which parts of the cluster that info records still run (each PID checked
// to still run its program).
typedef struct {
    bool redis;                           // redis-server runs
    bool scheduler;                       // the scheduler runs
    bool workers[SL_CLUSTER_MAX_WORKERS]; // worker i runs
    int workers_dead;                     // how many of them do not
} sl__cluster_health;
void sl__cluster_check(const sl__cluster_info *info, sl__cluster_health *out);
// Whether every part runs.
bool sl__cluster_health_whole(const sl__cluster_health *h);
// Stop exactly what `up` started (by PID, each checked to still be the
// program it was), and remove cluster.env. SL_ENOTFOUND when no cluster
// is recorded under home.
sl_err sl__cluster_down(const char *home, char errbuf[SL_ERRSTR_LEN]);
// Start the scheduler of the cluster under opts->home again, on the
// endpoints it had, after it died or was killed: workers and clients
// reconnect by themselves. Updates cluster.env and *info. SL_EINVAL when
// the recorded scheduler still runs. This and the two below take home,
// bin_dir and timeout_ms from opts and the rest from the record.
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

// Start opts->workers worker processes of opts->slots slots each (with
// opts's worker options) for the cluster under opts->home, which has none
// (it was started with no_workers, or sl__cluster_workers_stop stopped
// them), and wait until its scheduler counts every slot. Updates
// cluster.env and *info. On error the workers that started keep running
// until sl__cluster_workers_stop or sl__cluster_down.
sl_err sl__cluster_workers_start(const sl__cluster_opts *opts,
                                 sl__cluster_info *info,
                                 char errbuf[SL_ERRSTR_LEN]);
// Stop every worker of the cluster under opts->home (all asked at once)
// and wait until its scheduler counts none. SL_ETIMEDOUT when it still
// counts some after 10 s.
sl_err sl__cluster_workers_stop(const sl__cluster_opts *opts,
                                sl__cluster_info *info,
                                char errbuf[SL_ERRSTR_LEN]);

#endif
