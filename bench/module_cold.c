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
// loopback, in a temporary directory, and stops them by PID.
#define _GNU_SOURCE
#include <starling/starling.h>

#include <ftw.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/proc.h"

#define S_MAX_REPS 100

typedef struct {
    double noop;     // sys.noop round trip, seconds
    double cold;     // first task of a never-seen module
    double warm;     // the next task of it
    double disk;     // first task after a restart
    double steps[4]; // the worker's fetch, verify, write, open (ms)
} s_sample;

static struct {
    char dir[64];        // temporary directory
    int redis_port;      // on 127.0.0.1
    char password[33];   // the store's
    char clients_ep[64]; // scheduler endpoints
    char workers_ep[64];
    pid_t redis;       // 0 when not running
    pid_t scheduler;   // likewise
    pid_t worker;      // likewise
    sl_client *client; // connected to the scheduler
} s_b;

// ---------------------------------------------------------------------
// Processes.

static void
s_die(const char *what, const char *why)
{
    fprintf(stderr, "bench_module_cold: %s: %s\n", what, why);
    exit(1);
}

static int
s_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void
s_cleanup(void)
{
    pid_t *all[] = {&s_b.worker, &s_b.scheduler, &s_b.redis};
    for (size_t i = 0; i < 3; i++) {
        if (*all[i] > 0) {
            sl__proc_stop(*all[i], 5000);
            *all[i] = 0;
        }
    }
    if (s_b.dir[0] != '\0') {
        nftw(s_b.dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
    }
}

static void
s_on_signal(int sig)
{
    pid_t all[] = {s_b.worker, s_b.scheduler, s_b.redis};
    for (size_t i = 0; i < 3; i++) {
        if (all[i] > 0) {
            kill(all[i], SIGKILL);
        }
    }
    _exit(128 + sig);
}

static pid_t
s_spawn(char *const argv[], const char *log)
{
    char errbuf[SL_ERRSTR_LEN];
    pid_t pid;
    if (sl__proc_spawn(&pid, argv, log, false, errbuf) != SL_OK) {
        s_die(argv[0], errbuf);
    }
    return pid;
}

static void
s_start_store_and_scheduler(void)
{
    char dir[128], errbuf[SL_ERRSTR_LEN], prog[256], store[64], pw[128],
        log[128];
    sl__fmt(dir, sizeof(dir), "%s/redis", s_b.dir);
    s_b.redis_port = sl__free_port();
    sl__random_hex(s_b.password, 16);
    sl__redis_opts opts = {dir, s_b.redis_port, s_b.password, false, NULL};
    if (sl__redis_start(&opts, &s_b.redis, errbuf) != SL_OK) {
        s_die("redis-server", errbuf);
    }
    sl__fmt(pw, sizeof(pw), "%s/password", s_b.dir);
    FILE *f = fopen(pw, "w");
    if (f == NULL || fprintf(f, "%s\n", s_b.password) < 0 || fclose(f)) {
        s_die(pw, "cannot write");
    }
    sl__fmt(prog, sizeof(prog), "%s/starling-scheduler", STARLING_BIN_DIR);
    sl__fmt(store, sizeof(store), "127.0.0.1:%d", s_b.redis_port);
    sl__fmt(s_b.clients_ep, sizeof(s_b.clients_ep), "tcp://127.0.0.1:%d",
            sl__free_port());
    sl__fmt(s_b.workers_ep, sizeof(s_b.workers_ep), "tcp://127.0.0.1:%d",
            sl__free_port());
    sl__fmt(log, sizeof(log), "%s/scheduler.log", s_b.dir);
    char *argv[] = {prog,
                    "--clients",
                    s_b.clients_ep,
                    "--workers",
                    s_b.workers_ep,
                    "--store",
                    store,
                    "--store-password-file",
                    pw,
                    NULL};
    s_b.scheduler = s_spawn(argv, log);
}

// Start the worker (one slot) and wait until the scheduler has it.
static void
s_start_worker(const char *cache, const char *log)
{
    char prog[256];
    sl__fmt(prog, sizeof(prog), "%s/starling-worker", STARLING_BIN_DIR);
    char *argv[] = {prog, "--scheduler",    s_b.workers_ep, "--slots",
                    "1",  "--module-cache", (char *) cache, NULL};
    s_b.worker = s_spawn(argv, log);
    for (int i = 0; i < 400; i++) {
        sl_cluster_status st;
        if (sl_cluster_status_get(s_b.client, &st) == SL_OK &&
            st.workers == 1) {
            return;
        }
        usleep(25 * 1000);
    }
    s_die("worker", "did not connect in 10 s");
}

static void
s_stop_worker(void)
{
    sl__proc_stop(s_b.worker, 5000);
    s_b.worker = 0;
    sl_cluster_status st = {.workers = 1};
    while (sl_cluster_status_get(s_b.client, &st) == SL_OK && st.workers) {
        usleep(10 * 1000);
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

static void
s_measure(const char *fn, int rep, s_sample *out)
{
    char cache[128], log[128], log2[128];
    sl__fmt(cache, sizeof(cache), "%s/cache%d", s_b.dir, rep);
    sl__fmt(log, sizeof(log), "%s/worker%d.log", s_b.dir, rep);
    sl__fmt(log2, sizeof(log2), "%s/worker%d.restart.log", s_b.dir, rep);
    s_start_worker(cache, log);
    s_warm_up();
    out->noop = s_time_task("sys.noop", NULL);
    out->cold = s_time_task(fn, NULL);
    out->warm = s_time_task(fn, NULL);
    s_stop_worker();
    s_read_steps(log, out->steps);
    s_start_worker(cache, log2);
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
    sl__strlcpy(s_b.dir, "/tmp/sl_bench_cold.XXXXXX", sizeof(s_b.dir));
    if (mkdtemp(s_b.dir) == NULL) {
        s_die("mkdtemp", "failed");
    }
    atexit(s_cleanup);
    signal(SIGINT, s_on_signal);
    signal(SIGTERM, s_on_signal);
    s_start_store_and_scheduler();
    if (sl_client_connect(&s_b.client, s_b.clients_ep) != SL_OK) {
        s_die("connect", sl_client_errstr(s_b.client));
    }
    printf("bench_module_cold --reps %d: 1 worker of 1 slot, redis on "
           "loopback; each repetition a new worker with an empty cache\n",
           reps);
    s_bench("coldmod small", COLDMOD_SMALL, reps);
    s_bench("coldmod padded", COLDMOD_8M, reps);
    sl_client_destroy(&s_b.client);
    return 0;
}
