// measure.h - what the benchmarks read: percentiles of samples, and a
// process's CPU time and resident memory from /proc.
// SPDX-License-Identifier: MIT
#ifndef SL_BENCH_MEASURE_H
#define SL_BENCH_MEASURE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

// Sort v[0..n-1] in place, ascending: once, before sl__bench_percentile.
void sl__bench_sort(double *v, size_t n);
// The p-th percentile (0 < p <= 100) of sorted v[0..n-1], by the nearest
// rank: the smallest sample with at least p% of the samples at or below
// it. 0 when n is 0.
double sl__bench_percentile(const double *v, size_t n, double p);

// CPU seconds (user + system) that pid's threads have used: the sum of
// /proc/<pid>/task/*/schedstat (nanoseconds; threads that have exited are
// not counted), else utime + stime of /proc/<pid>/stat (every thread, in
// clock ticks of 10 ms). -1 when neither can be read.
double sl__bench_cpu_s(pid_t pid);
// The same for pid and its children that are running now (a worker and
// its executor processes), from /proc/<pid>/task/*/children.
double sl__bench_tree_cpu_s(pid_t pid);
// The resident set (VmRSS) of pid in bytes, from /proc/<pid>/status; -1
// when it cannot be read.
int64_t sl__bench_rss(pid_t pid);
// The memory of pid that is its own, in bytes, -1 where it cannot be
// read: rss_anon is RssAnon of /proc/<pid>/status (resident private
// anonymous pages: what a copy of an object costs), pss is Pss of
// /proc/<pid>/smaps_rollup (resident pages, each shared one divided by the
// number of processes that map it). VmRSS counts a shared page whole in
// every process that maps it, so it cannot tell a mapped object from a
// copied one; these two can.
typedef struct {
    int64_t rss_anon;
    int64_t pss;
} sl__bench_mem;
void sl__bench_mem_get(pid_t pid, sl__bench_mem *out);
// The children of pid that run now, from /proc/<pid>/task/*/children: up
// to max of them into out. Returns how many there are (may be > max).
size_t sl__bench_children(pid_t pid, pid_t *out, size_t max);
// CPU seconds the whole machine has been busy (user, nice, system, irq,
// softirq and steal time of /proc/stat, every core), or -1.
double sl__bench_machine_busy_s(void);
// CPU seconds this process and its reaped children have used (getrusage).
double sl__bench_own_cpu_s(void);
// The one-minute load average of the machine, or -1.
double sl__bench_load(void);

#endif
