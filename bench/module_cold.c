// module_cold.c - the cold start of a user module.
// SPDX-License-Identifier: MIT
//
// Measures, from the client, the time from submitting a task to having its
// result, for:
//   - sys.noop, a built-in kernel: the baseline, the cost of any task;
//   - the first task of a module this worker has never seen: the worker
//     fetches it from the store, checks its SHA-256, writes it into its
//     cache directory and dlopens it (the worker logs each step's time,
//     and the median of those is shown too). The worker has run a task
//     that used the store first, so its connection is made: a new
//     worker's first use of the store costs a few ms more, whatever the
//     task;
//   - the next task of that module: found in memory;
//   - the first task after the worker restarts: found on its disk.
// Each repetition starts a new worker with an empty cache. Two modules: a
// small one, and the same padded to 8 MiB.
//
//   build/bench/bench_module_cold [--reps N]
//
// It starts its own redis-server, scheduler and worker (one slot) on
// loopback, in a temporary directory, through the launcher
// (client/launch/), and stops them by PID.
#define _GNU_SOURCE
#include <starling/starling.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/launch/launch.h"
#include "client/launch/watch.h"

#define S_MAX_REPS 100

typedef struct {
    double noop;     // sys.noop round trip, seconds
    double cold;     // first task of a never-seen module
    double warm;     // the next task of it
    double disk;     // first task after a restart
    double steps[4]; // the worker's fetch, verify, write, open (ms)
} s_sample;

static struct {
    char dir[256];         // temporary directory, the cluster's home
    sl__cluster_info info; // the launcher's record
    sl_client *client;     // connected to the scheduler
} s_b;

// ---------------------------------------------------------------------
// Processes: the launcher's, covered by its watchdog and guard (a Ctrl-C
// or an exit stops them).

static void
s_die(const char *what, const char *why)
{
    fprintf(stderr, "bench_module_cold: %s: %s\n", what, why);
    exit(1);
}

// The launcher's options for the cluster, with one worker of one slot
// whose module cache is cache (NULL: no worker).
static sl__cluster_opts
s_opts(const char *cache)
{
    sl__cluster_opts opts = {
        .home = s_b.dir,
        .bin_dir = STARLING_BIN_DIR,
        .insecure = true,
        .no_workers = cache == NULL,
        .workers = 1,
        .slots = 1,
        .module_cache = cache,
    };
    return opts;
}

static void
s_start_store_and_scheduler(void)
{
    char errbuf[SL_ERRSTR_LEN];
    sl__cluster_opts opts = s_opts(NULL);
    if (sl__watch_dir_new(s_b.dir, sizeof(s_b.dir), "sl_bench_cold") != SL_OK) {
        s_die("mkdtemp", "failed");
    }
    if (sl__cluster_up(&opts, &s_b.info, NULL, errbuf) != SL_OK) {
        s_die("cluster", errbuf);
    }
}

// Start the worker (one slot) and wait until the scheduler has it.
static void
s_start_worker(const char *cache)
{
    char errbuf[SL_ERRSTR_LEN];
    sl__cluster_opts opts = s_opts(cache);
    if (sl__cluster_workers_start(&opts, &s_b.info, errbuf) != SL_OK) {
        s_die("worker", errbuf);
    }
}

static void
s_stop_worker(void)
{
    char errbuf[SL_ERRSTR_LEN];
    sl__cluster_opts opts = s_opts(NULL);
    if (sl__cluster_workers_stop(&opts, &s_b.info, errbuf) != SL_OK) {
        s_die("worker", errbuf);
    }
}

// ---------------------------------------------------------------------
// Measuring.

// Seconds from submitting one task of function to having its result.
static double
s_time_task(const char *function, const sl_value *arg)
{
    sl_job job;
    double t0 = sl__mono();
    if (sl_call_async(s_b.client, function, arg, NULL, &job) != SL_OK ||
        sl_wait(s_b.client, &job, 1, SL_ALL_COMPLETED, 60000) != SL_OK) {
        s_die(function, sl_client_errstr(s_b.client));
    }
    double t = sl__mono() - t0;
    const sl_result *r = sl_job_result(s_b.client, job, 0);
    if (r->status != SL_TASK_OK) {
        s_die(function, r->error);
    }
    sl_job_release(s_b.client, job);
    return t;
}

// The worker's own account of a load from the store, from its log.
static void
s_read_steps(const char *log, double steps[4])
{
    char line[1024];
    FILE *f = fopen(log, "r");
    steps[0] = steps[1] = steps[2] = steps[3] = 0;
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        const char *p = strstr(line, "bytes fetched in");
        if (p != NULL) {
            sscanf(p,
                   "bytes fetched in %lf ms, verified in %lf ms, written in "
                   "%lf ms, opened in %lf ms",
                   &steps[0], &steps[1], &steps[2], &steps[3]);
        }
    }
    if (f != NULL) {
        fclose(f);
    }
}

// A new worker's first tasks: the slot's first task, and its first use of
// the store (an argument too large to travel inline), which connects it.
// Then a module's first task measures the module, not the connection.
static void
s_warm_up(void)
{
    static uint8_t bulk[8192];
    sl_value *arg = sl_value_new_map();
    sl_value *x = sl_value_new_bytes(bulk, sizeof(bulk));
    sl_value_map_set(arg, "x", &x);
    s_time_task("sys.echo", arg);
    sl_value_destroy(&arg);
}

// The worker's log (emptied each time it starts) is read before it starts
// again.
static void
s_measure(const char *fn, int rep, s_sample *out)
{
    char cache[300], log[300];
    sl__fmt(cache, sizeof(cache), "%s/cache%d", s_b.dir, rep);
    sl__fmt(log, sizeof(log), "%s/worker-0.log", s_b.dir);
    s_start_worker(cache);
    s_warm_up();
    out->noop = s_time_task("sys.noop", NULL);
    out->cold = s_time_task(fn, NULL);
    out->warm = s_time_task(fn, NULL);
    s_stop_worker();
    s_read_steps(log, out->steps);
    s_start_worker(cache);
    s_warm_up();
    out->disk = s_time_task(fn, NULL);
    s_stop_worker();
}

static int
s_cmp(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

// The median of field (an offset into s_sample, in doubles) over n.
static double
s_median(const s_sample *s, int n, size_t field)
{
    double v[S_MAX_REPS];
    for (int i = 0; i < n; i++) {
        v[i] = ((const double *) &s[i])[field];
    }
    qsort(v, (size_t) n, sizeof(double), s_cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#define S_FIELD(f) (offsetof(s_sample, f) / sizeof(double))

static void
s_report(const char *label, const sl_module *m, const s_sample *s, int n)
{
    double noop = s_median(s, n, S_FIELD(noop));
    double cold = s_median(s, n, S_FIELD(cold));
    double warm = s_median(s, n, S_FIELD(warm));
    double disk = s_median(s, n, S_FIELD(disk));
    printf("\n%s: %.1f KiB (medians of %d)\n", label, m->size / 1024.0, n);
    printf("  sys.noop, submit to result (baseline)  %8.2f ms   1.0x\n",
           noop * 1e3);
    printf("  first task, module never seen          %8.2f ms %6.1fx\n",
           cold * 1e3, cold / noop);
    printf("    in the worker: fetch %.2f, verify %.2f, write %.2f, "
           "dlopen %.2f ms\n",
           s_median(s, n, S_FIELD(steps[0])), s_median(s, n, S_FIELD(steps[1])),
           s_median(s, n, S_FIELD(steps[2])),
           s_median(s, n, S_FIELD(steps[3])));
    printf("  next task, same module (in memory)     %8.2f ms %6.1fx\n",
           warm * 1e3, warm / noop);
    printf("  first task after a restart (on disk)   %8.2f ms %6.1fx\n",
           disk * 1e3, disk / noop);
}

static void
s_bench(const char *label, const char *path, int reps)
{
    static s_sample samples[S_MAX_REPS];
    sl_module m;
    char fn[SL_FUNCTION_MAX];
    if (sl_module_register(s_b.client, path, &m) != SL_OK ||
        sl_module_function(&m, "one", fn, sizeof(fn)) != SL_OK) {
        s_die(path, sl_client_errstr(s_b.client));
    }
    for (int r = 0; r < reps; r++) {
        s_measure(fn, r, &samples[r]);
    }
    s_report(label, &m, samples, reps);
}

int
main(int argc, char **argv)
{
    int reps = 10;
    if (argc == 3 && strcmp(argv[1], "--reps") == 0) {
        reps = atoi(argv[2]);
    }
    if ((argc != 1 && argc != 3) || reps < 1 || reps > S_MAX_REPS) {
        fprintf(stderr, "usage: bench_module_cold [--reps 1..%d]\n",
                S_MAX_REPS);
        return 2;
    }
    if (sl__watch_guard_install() != SL_OK) {
        s_die("watchdog", "cannot start it");
    }
    s_start_store_and_scheduler();
    if (sl_client_connect(&s_b.client, s_b.info.scheduler) != SL_OK) {
        s_die("connect", sl_client_errstr(s_b.client));
    }
    printf("bench_module_cold --reps %d: 1 worker of 1 slot, redis on "
           "loopback; each repetition a new worker with an empty cache\n",
           reps);
    s_bench("coldmod small", COLDMOD_SMALL, reps);
    s_bench("coldmod padded", COLDMOD_8M, reps);
    sl_client_destroy(&s_b.client);
    char errbuf[SL_ERRSTR_LEN];
    if (sl__cluster_down(s_b.dir, errbuf) != SL_OK) {
        s_die("cluster", errbuf);
    }
    sl__watch_dir_remove(s_b.dir);
    return 0;
}
