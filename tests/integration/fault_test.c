// fault_test.c - kernels that hang or crash, against real processes: a
// task past its time limit is stopped within a second and fails saying
// so; a kernel that crashes costs its task one attempt and one executor
// process, never the worker; a task that keeps crashing ends FAILED
// naming what killed it, while other tasks go on; a poison task that
// kills an executor under a batch of short tasks costs the others nothing;
// a client that dies
// loses its queued tasks after a grace period; a straggler is overtaken by
// a backup copy; kernel errors are retried only when the job asks; and a
// worker running
// kernels in threads refuses a time limit it cannot enforce.
// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <starling/starling.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "testutil.h"

static sl__cluster_info s_info;
static sl_client *s_client;
static sl_module s_mod; // tests/modules/testmod.c, version 1

static double
s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

static sl_value *
s_map1(const char *k, sl_value *v)
{
    sl_value *m = sl_value_new_map();
    SL_PASS(sl_value_map_set(m, k, &v));
    return m;
}

static const char *
s_fn(const char *kernel)
{
    static char buf[128];
    SL_PASS(sl_module_function(&s_mod, kernel, buf, sizeof(buf)));
    return buf;
}

// Every worker process the cluster started is still running.
static void
s_assert_workers_alive(void)
{
    for (int i = 0; i < s_info.n_workers; i++) {
        SL_ASSERT(kill(s_info.worker_pids[i], 0) == 0);
    }
}

// n tasks of sys.noop complete: the slots are usable.
static void
s_assert_slots_work(int n)
{
    sl_value *args[64];
    SL_ASSERT(n <= 64);
    for (int i = 0; i < n; i++) {
        args[i] = NULL;
    }
    sl_job job;
    SL_PASS(sl_map(s_client, "sys.noop", args, (size_t) n, NULL, &job));
    SL_PASS(sl_wait(s_client, &job, 1, SL_ALL_COMPLETED, 30000));
    sl_job_stats st;
    SL_PASS(sl_job_stats_get(s_client, job, &st));
    SL_ASSERT_EQ(st.ok, (size_t) n);
    sl_job_release(s_client, job);
}

// A CPU-bound kernel with every signal blocked, past its limit: killed
// within a second of the limit, the task fails with "timed out", and the
// slot runs the next task.
static void
test_time_limit(void)
{
    enum { N = 3 };
    sl_value *args[N];
    for (int i = 0; i < N; i++) {
        args[i] = s_map1("ms", sl_value_new_int(i == 0 ? 50 : 20000));
    }
    sl_job_opts opts = {.time_limit_ms = 400};
    sl_job job;
    double t0 = s_now();
    SL_PASS(sl_map(s_client, s_fn("spin"), args, N, &opts, &job));
    SL_PASS(sl_wait(s_client, &job, 1, SL_ALL_COMPLETED, 30000));
    double took = s_now() - t0;
    fprintf(stderr,
            "   2 spinning tasks stopped %.2f s after submit "
            "(limit 0.4 s)\n",
            took);
    SL_ASSERT(took < 0.4 + 1.0);
    const sl_result *r = sl_job_result(s_client, job, 0);
    SL_ASSERT_EQ(r->status, SL_TASK_OK);
    for (int i = 1; i < N; i++) {
        r = sl_job_result(s_client, job, (size_t) i);
        SL_ASSERT_EQ(r->status, SL_TASK_ERROR);
        SL_ASSERT_HAS(r->error, "timed out after 0.4 s");
        SL_ASSERT_EQ(r->attempts, 1);
    }
    sl_job_release(s_client, job);
    for (int i = 0; i < N; i++) {
        sl_value_destroy(&args[i]);
    }
    s_assert_workers_alive();
    s_assert_slots_work(20);
}

// Each task's first run segfaults: every task re-runs once and succeeds;
// the workers live on.
static void
test_crash_costs_one_attempt(void)
{
    enum { N = 8 };
    sl_value *args[N];
    for (int i = 0; i < N; i++) {
        args[i] = s_map1("attempts", sl_value_new_int(1));
    }
    sl_job job;
    SL_PASS(sl_map(s_client, s_fn("crash"), args, N, NULL, &job));
    SL_PASS(sl_wait(s_client, &job, 1, SL_ALL_COMPLETED, 60000));
    for (int i = 0; i < N; i++) {
        const sl_result *r = sl_job_result(s_client, job, (size_t) i);
        SL_ASSERT_EQ(r->status, SL_TASK_OK);
        SL_ASSERT_EQ(r->attempts, 2);
        const sl_value *v;
        SL_PASS(sl_job_value(s_client, job, (size_t) i, &v));
        SL_ASSERT_EQ(sl_value_int(v), 2);
    }
    sl_job_stats st;
    SL_PASS(sl_job_stats_get(s_client, job, &st));
    SL_ASSERT_EQ(st.retried, (size_t) N);
    sl_job_release(s_client, job);
    for (int i = 0; i < N; i++) {
        sl_value_destroy(&args[i]);
    }
    s_assert_workers_alive();
}

// A poison task (it aborts on every run) ends FAILED after max_attempts
// runs, naming the signal; a job running beside it completes.
static void
test_poison_task(void)
{
    sl_value *arg = s_map1("how", sl_value_new_str("abort"));
    sl_job_opts opts = {.max_attempts = 3};
    sl_job poison, noop;
    SL_PASS(sl_map(s_client, s_fn("crash"), &arg, 1, &opts, &poison));
    sl_value *nils[64] = {0};
    SL_PASS(sl_map(s_client, "sys.noop", nils, 64, NULL, &noop));
    sl_job both[2] = {poison, noop};
    SL_PASS(sl_wait(s_client, both, 2, SL_ALL_COMPLETED, 60000));
    const sl_result *r = sl_job_result(s_client, poison, 0);
    SL_ASSERT_EQ(r->status, SL_TASK_FAILED);
    SL_ASSERT_HAS(r->error, "killed 3 executors in 3 attempts");
    SL_ASSERT_HAS(r->error, strsignal(SIGABRT));
    fprintf(stderr, "   poison task: %s\n", r->error);
    sl_job_stats st;
    SL_PASS(sl_job_stats_get(s_client, noop, &st));
    SL_ASSERT_EQ(st.ok, 64u);
    sl_job_release(s_client, poison);
    sl_job_release(s_client, noop);
    sl_value_destroy(&arg);

    // An executor that exits (not a signal) is reported as such.
    arg = s_map1("how", sl_value_new_str("exit"));
    opts.max_attempts = 1;
    SL_PASS(sl_map(s_client, s_fn("crash"), &arg, 1, &opts, &poison));
    SL_PASS(sl_wait(s_client, &poison, 1, SL_ALL_COMPLETED, 60000));
    r = sl_job_result(s_client, poison, 0);
    SL_ASSERT_EQ(r->status, SL_TASK_FAILED);
    SL_ASSERT_HAS(r->error, "killed 1 executor in 1 attempt");
    SL_ASSERT_HAS(r->error, "exited with status 3");
    sl_job_release(s_client, poison);
    sl_value_destroy(&arg);
    s_assert_workers_alive();
    s_assert_slots_work(20);
}

// A poison task among hundreds of short ones of its job: the short ones
// travel to executors in batches, so the poison one kills an executor
// under a batch. The batch runs again, uncharged, one task at a time:
// every other task ends OK on its first attempt, and the poison one alone
// is charged, and ends FAILED after max_attempts.
static void
test_poison_in_batch(void)
{
    enum { N = 600, POISON = 450 };
    sl_value *args[N];
    for (int i = 0; i < N; i++) {
        args[i] = i == POISON ? s_map1("how", sl_value_new_str("abort"))
                              : s_map1("attempts", sl_value_new_int(0));
    }
    sl_job_opts opts = {.max_attempts = 3};
    sl_job job;
    SL_PASS(sl_map(s_client, s_fn("crash"), args, N, &opts, &job));
    SL_PASS(sl_wait(s_client, &job, 1, SL_ALL_COMPLETED, 60000));
    for (int i = 0; i < N; i++) {
        const sl_result *r = sl_job_result(s_client, job, (size_t) i);
        if (i == POISON) {
            SL_ASSERT_EQ(r->status, SL_TASK_FAILED);
            SL_ASSERT_HAS(r->error, "killed 3 executors in 3 attempts");
            continue;
        }
        SL_ASSERT_EQ(r->status, SL_TASK_OK);
        SL_ASSERT_EQ(r->attempts, 1);
    }
    sl_job_release(s_client, job);
    for (int i = 0; i < N; i++) {
        sl_value_destroy(&args[i]);
    }
    // The poison task did meet a batch.
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "cat %s/worker-*.log | grep -q 'under a batch'",
             s_info.home);
    SL_ASSERT(system(cmd) == 0);
    s_assert_workers_alive();
    s_assert_slots_work(20);
}

// A job of 24 short tasks and one straggler (its first attempt sleeps 6 s,
// later ones 50 ms) on 4 slots: with speculation (the default) a backup
// copy overtakes it and the first copy is stopped; with
// SL_JOB_NO_SPECULATION the job waits for the straggler.
static double
s_straggler_job(unsigned flags, int *attempts)
{
    enum { N = 25 };
    sl_value *args[N];
    for (int i = 0; i < N; i++) {
        args[i] = sl_value_new_map();
        sl_value *slow = sl_value_new_bool(i == 3);
        sl_value *slow_ms = sl_value_new_int(6000);
        SL_PASS(sl_value_map_set(args[i], "slow", &slow));
        SL_PASS(sl_value_map_set(args[i], "slow_ms", &slow_ms));
    }
    sl_job_opts opts = {.flags = flags};
    sl_job job;
    double t0 = s_now();
    SL_PASS(sl_map(s_client, s_fn("straggle"), args, N, &opts, &job));
    SL_PASS(sl_wait(s_client, &job, 1, SL_ALL_COMPLETED, 60000));
    double took = s_now() - t0;
    sl_job_stats st;
    SL_PASS(sl_job_stats_get(s_client, job, &st));
    SL_ASSERT_EQ(st.ok, (size_t) N);
    const sl_value *v;
    SL_PASS(sl_job_value(s_client, job, 3, &v));
    *attempts = (int) sl_value_int(v);
    sl_job_release(s_client, job);
    for (int i = 0; i < N; i++) {
        sl_value_destroy(&args[i]);
    }
    return took;
}

static void
test_straggler_backup(void)
{
    int attempt;
    double took = s_straggler_job(0, &attempt);
    fprintf(stderr,
            "   straggler overtaken by attempt %d: job took %.2f s "
            "(straggler alone: 6 s)\n",
            attempt, took);
    SL_ASSERT_EQ(attempt, 2);
    SL_ASSERT(took < 4.0);
    // The first copy was stopped: its slot is free long before its 6 s
    // would have ended.
    sl_cluster_status st;
    double t0 = s_now();
    do {
        usleep(50 * 1000);
        SL_PASS(sl_cluster_status_get(s_client, &st));
    } while (st.busy > 0 && s_now() - t0 < 10);
    fprintf(stderr, "   every slot idle %.2f s after the job\n", s_now() - t0);
    SL_ASSERT_EQ(st.busy, 0u);
    SL_ASSERT(s_now() - t0 < 3.0);

    took = s_straggler_job(SL_JOB_NO_SPECULATION, &attempt);
    fprintf(stderr, "   without speculation: attempt %d, %.2f s\n", attempt,
            took);
    SL_ASSERT_EQ(attempt, 1);
    SL_ASSERT(took >= 6.0);
}

// Kernel errors end a task at once, unless the job asks for retries.
static void
test_retry_errors(void)
{
    sl_value *arg = s_map1("fails", sl_value_new_int(2));
    sl_job job;
    SL_PASS(sl_map(s_client, s_fn("flaky"), &arg, 1, NULL, &job));
    SL_PASS(sl_wait(s_client, &job, 1, SL_ALL_COMPLETED, 30000));
    const sl_result *r = sl_job_result(s_client, job, 0);
    SL_ASSERT_EQ(r->status, SL_TASK_ERROR);
    SL_ASSERT_EQ(r->attempts, 1);
    SL_ASSERT_HAS(r->error, "failing attempt 1");
    sl_job_release(s_client, job);

    sl_job_opts opts = {.flags = SL_JOB_RETRY_ERRORS, .max_attempts = 3};
    SL_PASS(sl_map(s_client, s_fn("flaky"), &arg, 1, &opts, &job));
    SL_PASS(sl_wait(s_client, &job, 1, SL_ALL_COMPLETED, 30000));
    r = sl_job_result(s_client, job, 0);
    SL_ASSERT_EQ(r->status, SL_TASK_OK);
    SL_ASSERT_EQ(r->attempts, 3);
    sl_job_release(s_client, job);

    opts.max_attempts = 2; // not enough: the last error stands
    SL_PASS(sl_map(s_client, s_fn("flaky"), &arg, 1, &opts, &job));
    SL_PASS(sl_wait(s_client, &job, 1, SL_ALL_COMPLETED, 30000));
    r = sl_job_result(s_client, job, 0);
    SL_ASSERT_EQ(r->status, SL_TASK_ERROR);
    SL_ASSERT_HAS(r->error, "failing attempt 2");
    sl_job_release(s_client, job);
    sl_value_destroy(&arg);
}

// A client that dies (SIGKILL, no BYE) with a job queued: once its
// connection has been closed for the grace period (1 s here), its queued
// tasks are cancelled, and the cluster is idle long before the job could
// have run to its end (100 x 500 ms on 4 slots: 12.5 s).
static void
test_client_death(void)
{
    char cli[600];
    snprintf(cli, sizeof(cli), "%s/starling", getenv("STARLING_BIN_DIR"));
    pid_t pid = fork();
    SL_ASSERT(pid >= 0);
    if (pid == 0) {
        execl(cli, "starling", "map", "sys.sleep", "--tasks", "100", "--arg",
              "ms=500", "--scheduler", s_info.scheduler, (char *) NULL);
        _exit(127);
    }
    sl_cluster_status st;
    double t0 = s_now();
    do { // until its job is running
        usleep(50 * 1000);
        SL_PASS(sl_cluster_status_get(s_client, &st));
        SL_ASSERT(s_now() - t0 < 10);
    } while (st.running == 0);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    double killed = s_now();
    do {
        usleep(100 * 1000);
        SL_PASS(sl_cluster_status_get(s_client, &st));
    } while ((st.jobs > 0 || st.queued > 0) && s_now() - killed < 30);
    fprintf(stderr, "   client killed; its job gone %.2f s later (grace 1 s)\n",
            s_now() - killed);
    SL_ASSERT_EQ(st.queued, 0u);
    SL_ASSERT_EQ(st.jobs, 0u);
    SL_ASSERT(s_now() - killed < 6);
    s_assert_slots_work(10);
}

// Workers with --executor thread: a time limit is refused, clearly, and a
// job without one runs.
static void
test_thread_mode_refuses_limits(void)
{
    sl_client_destroy(&s_client);
    sl__harness_stop();
    sl__cluster_opts copts = {.workers = 1, .slots = 2, .executor = "thread"};
    SL_PASS(sl__harness_start_opts(&copts, &s_info));
    SL_PASS(sl_client_connect(&s_client, s_info.scheduler));
    sl_value *arg = s_map1("ms", sl_value_new_int(10));
    sl_job_opts opts = {.time_limit_ms = 1000};
    sl_job job;
    SL_PASS(sl_map(s_client, "sys.sleep", &arg, 1, &opts, &job));
    SL_PASS(sl_wait(s_client, &job, 1, SL_ALL_COMPLETED, 30000));
    const sl_result *r = sl_job_result(s_client, job, 0);
    SL_ASSERT_EQ(r->status, SL_TASK_ERROR);
    SL_ASSERT_HAS(r->error, "cannot enforce a time limit");
    sl_job_release(s_client, job);
    sl_value_destroy(&arg);
    s_assert_slots_work(10);
}

// A kernel that writes into its executor's socket (testmod.forge): two
// outcomes for its one task, or bytes that are no outcome. The worker
// takes the first forged outcome (it checks out), stops the executor that
// sent more than it was given, and serves on; garbage costs the task an
// attempt each time, then fails it, naming why.
static void
test_forged_frames(void)
{
    sl_value *arg = s_map1("how", sl_value_new_str("extra"));
    sl_job job;
    SL_PASS(sl_map(s_client, s_fn("forge"), &arg, 1, NULL, &job));
    SL_PASS(sl_wait(s_client, &job, 1, SL_ALL_COMPLETED, 30000));
    const sl_result *r = sl_job_result(s_client, job, 0);
    SL_ASSERT_EQ(r->status, SL_TASK_OK);
    sl_job_release(s_client, job);
    sl_value_destroy(&arg);
    s_assert_workers_alive();
    s_assert_slots_work(40);

    arg = s_map1("how", sl_value_new_str("garbage"));
    sl_job_opts opts = {.max_attempts = 2};
    SL_PASS(sl_map(s_client, s_fn("forge"), &arg, 1, &opts, &job));
    SL_PASS(sl_wait(s_client, &job, 1, SL_ALL_COMPLETED, 30000));
    r = sl_job_result(s_client, job, 0);
    SL_ASSERT_EQ(r->status, SL_TASK_FAILED);
    SL_ASSERT_EQ(r->attempts, 2);
    SL_ASSERT_HAS(r->error, "malformed outcome");
    sl_job_release(s_client, job);
    sl_value_destroy(&arg);
    s_assert_workers_alive();
    s_assert_slots_work(40);
}

int
main(void)
{
    sl__cluster_opts opts = {.workers = 2, .slots = 2, .client_grace_ms = 1000};
    SL_PASS(sl__harness_start_opts(&opts, &s_info));
    SL_PASS(sl_client_connect(&s_client, s_info.scheduler));
    SL_PASS(sl_module_register(s_client, TESTMOD_V1, &s_mod));
    SL_RUN(test_time_limit);
    SL_RUN(test_crash_costs_one_attempt);
    SL_RUN(test_poison_task);
    SL_RUN(test_poison_in_batch);
    SL_RUN(test_straggler_backup);
    SL_RUN(test_retry_errors);
    SL_RUN(test_client_death);
    SL_RUN(test_forged_frames);
    SL_RUN(test_thread_mode_refuses_limits); // last: a cluster of threads
    sl_client_destroy(&s_client);
    sl__harness_stop();
    return 0;
}
