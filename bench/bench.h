// bench.h - the benchmark suite: what the runner gives each benchmark, and
// the benchmarks themselves.
// SPDX-License-Identifier: MIT
//
// A benchmark starts its own cluster (sl__bench_cluster below, through the
// launcher), measures starling and a baseline in the same run, and records
// each figure with sl__bench_report_add. It returns SL_OK when the run
// itself worked, also if a target was missed; an error (wrong results, a
// process that died) returns another code, with errbuf saying why.
//
// The runner (runner.c) calls the benchmarks; they call bench.c (what they
// share) and each other's building blocks below; nothing calls the runner.
#ifndef SL_BENCH_BENCH_H
#define SL_BENCH_BENCH_H

#include <starling/starling.h>

#include <stdbool.h>
#include <stdio.h>

#include "client/launch/launch.h"
#include "report.h"
#include "store/tier.h"

// How many workers, and how big.
typedef struct {
    int procs;    // worker processes
    int slots;    // slots in each
    int prefetch; // each one's --prefetch; -1: the worker's default
    bool threads; // --executor thread (else the default, processes)
} sl__bench_workers;

// A private cluster for one benchmark: a redis-server (loopback, generated
// password), a scheduler and worker processes, started by the launcher in
// a temporary directory, on free ports, without CURVE keys, stopped by PID.
//
//     sl__bench_cluster cl = {0};
//     sl__bench_workers shape = {.procs = 1, .slots = 2, .prefetch = -1};
//     if (sl__bench_cluster_start(&cl, bin_dir, errbuf) != SL_OK ||
//         sl__bench_cluster_workers_start(&cl, &shape, 30000, errbuf) != SL_OK)
//         ...
//     sl_map(cl.client, ...);
//     sl__bench_cluster_stop(&cl);
typedef struct {
    char dir[256];           // its home, a temporary directory
    char bin_dir[512];       // where starling-scheduler and -worker are
    char password[64];       // the store's
    sl__cluster_info info;   // the launcher's record: endpoints, PIDs
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
// CPU seconds used by the cluster's worker processes (and their executors)
// together.
double sl__bench_cluster_workers_cpu_s(const sl__bench_cluster *cl);
// Open the object tier of this node in cl (store/tier.h), the one its
// workers made and a client of this process uses (the cluster's id from
// the store, this node's name), to see where objects went: sl__tier_has
// on a ref's key. SL_ENOTFOUND when there is none (no workers yet, or
// they run without one); errbuf says why. Close it before
// sl__bench_cluster_stop, which removes it.
sl_err sl__bench_cluster_tier_open(const sl__bench_cluster *cl, sl__tier **out,
                                   char errbuf[SL_ERRSTR_LEN]);

typedef struct {
    bool quick;               // small sizes: the whole suite in about a minute
    int rounds;               // flops and matmul: starling and the baseline
                              // alternate this often; the best of each counts
    sl__bench_workers shape;  // the cluster of flops, matmul, throughput,
                              // latency, shared_input and dag
    const char *perf_path;    // throughput: `perf record -g` the scheduler
                              // into this file; NULL: no profile
    char bin_dir[512];        // where starling-scheduler and -worker are
    char self[512];           // this program, for its helper modes
    sl__bench_report *report; // where results go
} sl__bench_ctx;

typedef sl_err (*sl__bench_fn)(sl__bench_ctx *ctx, char errbuf[SL_ERRSTR_LEN]);

sl_err sl__bench_flops(sl__bench_ctx *ctx, char errbuf[SL_ERRSTR_LEN]);
sl_err sl__bench_matmul(sl__bench_ctx *ctx, char errbuf[SL_ERRSTR_LEN]);
sl_err sl__bench_cholesky(sl__bench_ctx *ctx, char errbuf[SL_ERRSTR_LEN]);
sl_err sl__bench_throughput(sl__bench_ctx *ctx, char errbuf[SL_ERRSTR_LEN]);
sl_err sl__bench_latency(sl__bench_ctx *ctx, char errbuf[SL_ERRSTR_LEN]);
sl_err sl__bench_scale(sl__bench_ctx *ctx, char errbuf[SL_ERRSTR_LEN]);
sl_err sl__bench_memory(sl__bench_ctx *ctx, char errbuf[SL_ERRSTR_LEN]);
sl_err sl__bench_data(sl__bench_ctx *ctx, char errbuf[SL_ERRSTR_LEN]);
sl_err sl__bench_shared_input(sl__bench_ctx *ctx, char errbuf[SL_ERRSTR_LEN]);
sl_err sl__bench_dag(sl__bench_ctx *ctx, char errbuf[SL_ERRSTR_LEN]);

// Building blocks the benchmarks share.
// Map n sys.noop tasks on c, wait for every one, check each ended OK, and
// give the time from the map to the last result in *seconds_out
// (throughput.c).
sl_err sl__bench_noop_map(sl_client *c, size_t n, double *seconds_out,
                          char errbuf[SL_ERRSTR_LEN]);
// warmup round trips, then n timed ones into seconds[0..n-1]: a sys.noop
// task submitted with sl_call_async and waited for, one at a time
// (latency.c).
sl_err sl__bench_task_round_trips(sl_client *c, int warmup, double *seconds,
                                  int n, char errbuf[SL_ERRSTR_LEN]);

// Helper modes: the runner runs itself as a bare process for a baseline,
// `starling-bench --helper NAME ARGS...`. Each returns an exit status.
// gemm N REPS TASKS FIRST STRIDE: tasks FIRST, FIRST+STRIDE, ... below
// TASKS of bench.gemm_flops' work, single-threaded OpenBLAS (flops.c).
int sl__bench_helper_gemm(int argc, char **argv);
// zmq-echo PORT, tcp-echo PORT: echo servers on 127.0.0.1 (echo.c).
int sl__bench_helper_zmq_echo(int argc, char **argv);
int sl__bench_helper_tcp_echo(int argc, char **argv);

// Progress lines: to stdout, or stderr with --json.
void sl__bench_say(const sl__bench_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
// "workers=P;slots=S;prefetch=F;executor=E;mode=quick|full;load=L" for
// shape (the machine's load now), into buf of len bytes; benchmarks
// append their own settings.
void sl__bench_settings(const sl__bench_ctx *ctx,
                        const sl__bench_workers *shape, char *buf, size_t len);
// Append ";" and the formatted text to the settings in buf.
void sl__bench_settings_add(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
