// cancel_test.c - a cancel stops running tasks, against real processes: on
// a 2-slot cluster running kernels in executor processes, a job of two
// ten-minute sys.sleep tasks cancelled after a second has its executors
// killed, its tasks CANCELLED (no attempt charged) and its slots idle
// within a second, and the next job runs at once; the same when the
// client that submitted them is killed, once its grace period is over; on
// one running kernels in threads, which cannot be stopped, the tasks run
// to their end, then end CANCELLED saying so, and the worker's log says so
// once.
// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <starling/starling.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "testutil.h"

static sl__cluster_info s_info;
static sl_client *s_client;

static double
s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

// The scheduler forgets a vanished client after this (its default is 30 s).
#define S_GRACE_MS 500

static void
s_start(const char *executor)
{
    sl__cluster_opts opts = {.workers = 1,
                             .slots = 2,
                             .executor = executor,
                             .client_grace_ms = S_GRACE_MS};
    SL_PASS(sl__harness_start_opts(&opts, &s_info));
    SL_PASS(sl_client_connect(&s_client, s_info.scheduler));
}

// Sleep until t0 + s (now, if that has passed).
static void
s_sleep_until(double t0, double s)
{
    double left = t0 + s - s_now();
    if (left > 0) {
        usleep((useconds_t) (left * 1e6));
    }
}

static void
s_stop(void)
{
    sl_client_destroy(&s_client);
    sl__harness_stop();
}

// A job of n tasks of sys.sleep for ms each, once both slots run it.
static sl_job
s_sleepers(int n, int64_t ms)
{
    sl_value *args[2];
    SL_ASSERT(n <= 2);
    for (int i = 0; i < n; i++) {
        args[i] = sl_value_new_map();
        sl_value *v = sl_value_new_int(ms);
        SL_PASS(sl_value_map_set(args[i], "ms", &v));
    }
    sl_job job;
    SL_PASS(sl_map(s_client, "sys.sleep", args, (size_t) n, NULL, &job));
    for (int i = 0; i < n; i++) {
        sl_value_destroy(&args[i]);
    }
    sl_cluster_status st;
    double t0 = s_now();
    do {
        usleep(20 * 1000);
        SL_PASS(sl_cluster_status_get(s_client, &st));
        SL_ASSERT(s_now() - t0 < 10);
    } while (st.busy < (uint32_t) n);
    return job;
}

// Seconds until the cluster's slots are all idle (at most limit_s).
static double
s_until_idle(double limit_s)
{
    sl_cluster_status st;
    double t0 = s_now();
    do {
        SL_PASS(sl_cluster_status_get(s_client, &st));
        if (st.busy == 0 && st.running == 0) {
            break;
        }
        usleep(10 * 1000);
    } while (s_now() - t0 < limit_s);
    SL_ASSERT_EQ(st.busy, 0);
    return s_now() - t0;
}

// n tasks of sys.noop complete within timeout_ms.
static void
s_assert_noops(int n, int timeout_ms)
{
    sl_value *args[16] = {0};
    SL_ASSERT(n <= 16);
    sl_job job;
    double t0 = s_now();
    SL_PASS(sl_map(s_client, "sys.noop", args, (size_t) n, NULL, &job));
    SL_PASS(sl_wait(s_client, &job, 1, SL_ALL_COMPLETED, timeout_ms));
    sl_job_stats st;
    SL_PASS(sl_job_stats_get(s_client, job, &st));
    SL_ASSERT_EQ(st.ok, (size_t) n);
    fprintf(stderr, "   then %d sys.noop tasks: %.3f s\n", n, s_now() - t0);
    sl_job_release(s_client, job);
}

// How many lines of the worker's log hold text.
static int
s_log_count(const char *text)
{
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "cat %s/worker-*.log | grep -c '%s'",
             s_info.home, text);
    FILE *p = popen(cmd, "r");
    SL_ASSERT(p != NULL);
    int n = 0;
    SL_ASSERT(fscanf(p, "%d", &n) == 1);
    pclose(p);
    return n;
}

// Executor processes: the running tasks are stopped, their slots idle
// within a second, and they end CANCELLED on their first attempt.
static void
test_cancel_stops_running_tasks(void)
{
    double t0 = s_now();
    sl_job job = s_sleepers(2, 600000);
    s_sleep_until(t0, 1.0);
    SL_PASS(sl_job_cancel(s_client, job));
    double took = s_until_idle(5);
    fprintf(stderr, "   2 running tasks cancelled: slots idle %.3f s later\n",
            took);
    SL_ASSERT(took < 1.0);
    SL_PASS(sl_wait(s_client, &job, 1, SL_ALL_COMPLETED, 5000));
    for (size_t i = 0; i < 2; i++) {
        const sl_result *r = sl_job_result(s_client, job, i);
        SL_ASSERT_EQ(r->status, SL_TASK_CANCELLED);
        SL_ASSERT_HAS(r->error, "cancelled by the client");
        SL_ASSERT_EQ(r->attempts, 1);
    }
    sl_job_release(s_client, job);
    SL_ASSERT(s_log_count("stopped (executor killed by signal 9") >= 1);
    s_assert_noops(10, 3000);
    // Again: the slots' new executors serve the next cancel as well.
    job = s_sleepers(2, 600000);
    SL_PASS(sl_job_cancel(s_client, job));
    SL_ASSERT(s_until_idle(5) < 1.0);
    SL_PASS(sl_wait(s_client, &job, 1, SL_ALL_COMPLETED, 5000));
    sl_job_release(s_client, job);
    s_assert_noops(10, 3000);
}

// A client killed under its running tasks: once its grace period is over,
// the scheduler cancels its jobs and the workers stop their running tasks
// (before, they held their slots to the end). The client is a `starling
// map` process, which finds the cluster through $STARLING_HOME as a user's
// would.
static void
test_vanished_client_tasks_stopped(void)
{
    char starling[1024];
    const char *bin = getenv("STARLING_BIN_DIR");
    snprintf(starling, sizeof(starling), "%s/starling", bin ? bin : ".");
    pid_t pid = fork();
    SL_ASSERT(pid >= 0);
    if (pid == 0) {
        freopen("/dev/null", "w", stdout);
        execl(starling, starling, "map", "sys.sleep", "--tasks", "2", "--arg",
              "ms=600000", (char *) NULL);
        _exit(127);
    }
    sl_cluster_status st;
    double t0 = s_now();
    do {
        usleep(20 * 1000);
        SL_PASS(sl_cluster_status_get(s_client, &st));
        SL_ASSERT(s_now() - t0 < 10);
    } while (st.busy < 2);
    SL_ASSERT_EQ(kill(pid, SIGKILL), 0);
    SL_ASSERT_EQ(waitpid(pid, NULL, 0), pid);
    double took = s_until_idle(S_GRACE_MS / 1000.0 + 5);
    fprintf(stderr,
            "   a client killed under 2 running tasks: slots idle %.3f s "
            "later (grace period %.1f s)\n",
            took, S_GRACE_MS / 1000.0);
    SL_ASSERT(took < S_GRACE_MS / 1000.0 + 1.5);
    s_assert_noops(10, 3000);
}

// Slot threads cannot be stopped: cancelled running tasks run to their end,
// then end CANCELLED with an error that says why their slots stayed busy,
// and the worker's log says so once, however many cancels meet running
// tasks.
static void
test_thread_mode_says_it_cannot_stop(void)
{
    double t0 = s_now();
    sl_job job = s_sleepers(2, 2500);
    s_sleep_until(t0, 1.0);
    SL_PASS(sl_job_cancel(s_client, job));
    SL_PASS(sl_wait(s_client, &job, 1, SL_ALL_COMPLETED, 10000));
    double took = s_now() - t0;
    for (size_t i = 0; i < 2; i++) {
        const sl_result *r = sl_job_result(s_client, job, i);
        SL_ASSERT_EQ(r->status, SL_TASK_CANCELLED);
        SL_ASSERT_HAS(r->error, "cancelled by the client, but it ran to its "
                                "end");
        SL_ASSERT_HAS(r->error, "cannot be stopped");
    }
    fprintf(stderr, "   thread mode, task 0: %s\n",
            sl_job_result(s_client, job, 0)->error);
    SL_ASSERT(took >= 2.4);
    sl_job_release(s_client, job);
    const char *warning = "cannot stop 2 running tasks of job";
    SL_ASSERT_EQ(s_log_count(warning), 1);
    fprintf(stderr,
            "   thread mode: the cancelled tasks ran to their end (%.2f s); "
            "the worker logged \"%s ...\"\n",
            took, warning);
    s_assert_noops(10, 3000);
    job = s_sleepers(2, 500);
    SL_PASS(sl_job_cancel(s_client, job));
    SL_PASS(sl_wait(s_client, &job, 1, SL_ALL_COMPLETED, 10000));
    sl_job_release(s_client, job);
    SL_ASSERT_EQ(s_log_count("cannot stop"), 1); // said once
}

int
main(void)
{
    s_start(NULL); // executor processes, the default
    SL_RUN(test_cancel_stops_running_tasks);
    SL_RUN(test_vanished_client_tasks_stopped);
    s_stop();
    s_start("thread");
    SL_RUN(test_thread_mode_says_it_cannot_stop);
    s_stop();
    return 0;
}
