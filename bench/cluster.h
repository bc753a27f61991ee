// cluster.h - a private cluster for one benchmark: a redis-server (loopback,
// generated password), a scheduler and worker processes, in a temporary
// directory, on free ports, stopped by PID.
// SPDX-License-Identifier: MIT
//
//     sl__bench_cluster cl = {0};
//     sl__bench_workers shape = {.procs = 1, .slots = 2, .prefetch = -1};
//     if (sl__bench_cluster_start(&cl, bin_dir, errbuf) != SL_OK ||
//         sl__bench_cluster_workers_start(&cl, &shape, 30000, errbuf) != SL_OK)
//         ...
//     sl_map(cl.client, ...);
//     sl__bench_cluster_stop(&cl);
#ifndef SL_BENCH_CLUSTER_H
#define SL_BENCH_CLUSTER_H

#include <starling/starling.h>

#include <sys/types.h>

#include "common/util.h"

// How many workers, and how big.
typedef struct {
    int procs;    // worker processes
    int slots;    // slots in each
    int prefetch; // each one's --prefetch; -1: the worker's default (= slots)
    bool threads; // --executor thread (else the default, processes)
} sl__bench_workers;

typedef struct {
    char dir[256];           // temporary directory: logs, redis files
    char bin_dir[512];       // where starling-scheduler and -worker are
    char redis_addr[64];     // "127.0.0.1:PORT"
    char password[49];       // the store's password
    char clients_ep[256];    // the scheduler's endpoint for clients
    char workers_ep[256];    // and for workers
    pid_t redis;             // 0 when not running
    pid_t scheduler;         // likewise
    pid_t *workers;          // worker processes running, n_workers of them
    int n_workers;           // in workers
    sl__bench_workers shape; // what sl__bench_cluster_workers_start was given
    sl_client *client;       // connected to the scheduler
} sl__bench_cluster;

// Start redis-server and the scheduler in a new temporary directory and
// connect cl->client (which the cluster owns). No workers yet. cl must be
// zeroed. On error what was started is stopped and errbuf says why.
sl_err sl__bench_cluster_start(sl__bench_cluster *cl, const char *bin_dir,
                               char errbuf[SL_ERRSTR_LEN]);
// Start shape->procs workers of shape->slots slots and wait until the
// scheduler counts every one of their slots, at most timeout_ms. On error
// errbuf says why (with the end of a failing worker's log); the workers
// that started keep running until sl__bench_cluster_stop.
sl_err sl__bench_cluster_workers_start(sl__bench_cluster *cl,
                                       const sl__bench_workers *shape,
                                       int timeout_ms,
                                       char errbuf[SL_ERRSTR_LEN]);
// Stop every worker (all asked at once) and wait until the scheduler counts
// none. SL_ETIMEDOUT when it still counts some after 10 s.
sl_err sl__bench_cluster_workers_stop(sl__bench_cluster *cl,
                                      char errbuf[SL_ERRSTR_LEN]);
// Disconnect the client, stop every process of the cluster and remove its
// directory. Safe on a cluster that is half started, stopped, or zeroed.
void sl__bench_cluster_stop(sl__bench_cluster *cl);

// CPU seconds used by the cluster's worker processes together.
double sl__bench_cluster_workers_cpu_s(const sl__bench_cluster *cl);

#endif
