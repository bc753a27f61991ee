// bench.h - the benchmark suite: what the runner gives each benchmark, and
// the benchmarks themselves.
// SPDX-License-Identifier: MIT
//
// A benchmark starts its own cluster (cluster.h), measures starling and a
// baseline in the same run, and records each figure with
// sl__bench_report_add. It returns SL_OK when the run itself worked, also
// if a target was missed; an error (wrong results, a process that died)
// returns another code, with errbuf saying why.
#ifndef SL_BENCH_BENCH_H
#define SL_BENCH_BENCH_H

#include <stdbool.h>
#include <stdio.h>

#include "cluster.h"
#include "report.h"

typedef struct {
    bool quick;               // small sizes: the whole suite in about a minute
    int rounds;               // flops and matmul: starling and the baseline
                              // alternate this often; the best of each counts
    sl__bench_workers shape;  // the cluster of flops, matmul, throughput,
                              // latency and data
    const char *perf_path;    // throughput: `perf record -g` the scheduler
                              // into this file; NULL: no profile
    char bin_dir[512];        // where starling-scheduler and -worker are
    char self[512];           // this program, for its helper modes
    sl__bench_report *report; // where results go
} sl__bench_ctx;

typedef sl_err (*sl__bench_fn)(sl__bench_ctx *ctx, char errbuf[SL_ERRSTR_LEN]);

sl_err sl__bench_flops(sl__bench_ctx *ctx, char errbuf[SL_ERRSTR_LEN]);
sl_err sl__bench_matmul(sl__bench_ctx *ctx, char errbuf[SL_ERRSTR_LEN]);
sl_err sl__bench_throughput(sl__bench_ctx *ctx, char errbuf[SL_ERRSTR_LEN]);
sl_err sl__bench_latency(sl__bench_ctx *ctx, char errbuf[SL_ERRSTR_LEN]);
sl_err sl__bench_scale(sl__bench_ctx *ctx, char errbuf[SL_ERRSTR_LEN]);
sl_err sl__bench_memory(sl__bench_ctx *ctx, char errbuf[SL_ERRSTR_LEN]);
sl_err sl__bench_data(sl__bench_ctx *ctx, char errbuf[SL_ERRSTR_LEN]);

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
