// restart_test.c - the scheduler and Redis restarted under a running
// cluster, against real processes: the scheduler is SIGKILLed in the
// middle of two jobs and started again on its endpoint; workers and the
// client reconnect by themselves, the client submits again what has no
// result, and both jobs complete with every result correct, each seen
// once. Redis is SIGKILLed after results were stored and started again
// from its append-only file: the results are still there, and new jobs
// store theirs.
// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <starling/starling.h>

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "testutil.h"

#define S_BIG 6000 // bytes: a result this large is stored, not inline

static sl__cluster_info s_info;
static sl_client *s_client;

static double
s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

// {"x": a string of S_BIG bytes that names i}: sys.echo gives it back, too
// large to travel inline, so its result goes through the store.
static sl_value *
s_big_arg(int i)
{
    char *text = sl__xmalloc(S_BIG + 1);
    memset(text, 'a' + i % 26, S_BIG);
    int n = snprintf(text, 32, "task %d;", i);
    text[n] = ';';
    text[S_BIG] = '\0';
    sl_value *m = sl_value_new_map();
    sl_value *v = sl_value_new_str(text);
    SL_PASS(sl_value_map_set(m, "x", &v));
    free(text);
    return m;
}

static void
s_check_big(sl_job job, int i)
{
    const sl_value *v;
    char want[32];
    snprintf(want, sizeof(want), "task %d;", i);
    SL_PASS(sl_job_value(s_client, job, (size_t) i, &v));
    size_t len;
    const char *x = sl_value_str(sl_value_map_get(v, "x"), &len);
    SL_ASSERT_EQ(len, (size_t) S_BIG);
    SL_ASSERT(strncmp(x, want, strlen(want)) == 0);
}

static sl_value *
s_sum_arg(int i)
{
    sl_value *list = sl_value_new_list();
    sl_value *item = sl_value_new_int(i);
    SL_PASS(sl_value_list_append(list, &item));
    sl_value *m = sl_value_new_map();
    SL_PASS(sl_value_map_set(m, "values", &list));
    return m;
}

// SIGKILL the scheduler while two jobs run; start it again 300 ms later.
static void
test_scheduler_restart_mid_job(void)
{
    enum { N_SLOW = 200, N_BIG = 300 };
    static sl_value *slow[N_SLOW], *big[N_BIG];
    for (int i = 0; i < N_SLOW; i++) {
        sl_value *m = sl_value_new_map();
        sl_value *ms = sl_value_new_int(20);
        SL_PASS(sl_value_map_set(m, "ms", &ms));
        slow[i] = m;
    }
    for (int i = 0; i < N_BIG; i++) {
        big[i] = i % 2 ? s_big_arg(i) : s_sum_arg(i);
    }
    sl_job jobs[2];
    SL_PASS(sl_map(s_client, "sys.sleep", slow, N_SLOW, NULL, &jobs[0]));
    SL_PASS(sl_map(s_client, "sys.echo", big, N_BIG, NULL, &jobs[1]));
    // Let a quarter of the sleeps end first.
    sl_job_stats before;
    do {
        SL_PASS(sl_wait(s_client, jobs, 2, SL_ANY_COMPLETED, 10000));
        SL_PASS(sl_job_stats_get(s_client, jobs[0], &before));
    } while (before.done < N_SLOW / 4);
    double t0 = s_now();
    SL_PASS(sl__harness_restart("scheduler", 300));
    SL_PASS(sl_wait(s_client, jobs, 2, SL_ALL_COMPLETED, 60000));
    fprintf(stderr,
            "   scheduler killed with %zu of %d sleeps done; both jobs done "
            "%.2f s after the kill\n",
            before.done, N_SLOW, s_now() - t0);
    SL_ASSERT(before.done < N_SLOW); // the kill was mid-job
    sl_job_stats after;
    SL_PASS(sl_job_stats_get(s_client, jobs[0], &after));
    SL_ASSERT_EQ(after.ok, (size_t) N_SLOW);
    for (int i = 0; i < N_SLOW; i++) {
        SL_ASSERT_EQ(sl_job_result(s_client, jobs[0], (size_t) i)->status,
                     SL_TASK_OK);
    }
    for (int i = 0; i < N_BIG; i++) {
        const sl_result *r = sl_job_result(s_client, jobs[1], (size_t) i);
        SL_ASSERT_EQ(r->status, SL_TASK_OK);
        if (i % 2) {
            s_check_big(jobs[1], i);
        } else {
            const sl_value *v;
            SL_PASS(sl_job_value(s_client, jobs[1], (size_t) i, &v));
            const sl_value *vals = sl_value_map_get(v, "values");
            SL_ASSERT_EQ(sl_value_int(sl_value_list_at(vals, 0)), i);
        }
    }
    // The new scheduler forgot nothing it should not keep: no jobs left,
    // both workers back.
    sl_cluster_status st;
    SL_PASS(sl_cluster_status_get(s_client, &st));
    SL_ASSERT_EQ(st.workers, 2u);
    SL_ASSERT_EQ(st.jobs, 0u);
    SL_ASSERT_EQ(st.queued, 0u);
    SL_ASSERT_EQ(st.running, 0u);
    sl_job_release(s_client, jobs[0]);
    sl_job_release(s_client, jobs[1]);
    for (int i = 0; i < N_SLOW; i++) {
        sl_value_destroy(&slow[i]);
    }
    for (int i = 0; i < N_BIG; i++) {
        sl_value_destroy(&big[i]);
    }
}

// Results stored, Redis SIGKILLed and started again from its AOF: the
// results are there, and the workers store new ones.
static void
test_redis_restart(void)
{
    enum { N = 20 };
    sl_value *args[N];
    for (int i = 0; i < N; i++) {
        args[i] = s_big_arg(i);
    }
    sl_job job;
    SL_PASS(sl_map(s_client, "sys.echo", args, N, NULL, &job));
    SL_PASS(sl_wait(s_client, &job, 1, SL_ALL_COMPLETED, 30000));
    // appendfsync everysec: what was written a second ago is on disk.
    usleep(1500 * 1000);
    SL_PASS(sl__harness_restart("redis", 0));
    for (int i = 0; i < N; i++) {
        s_check_big(job, i);
    }
    // Redis restarted again under an idle connection; the next put is of
    // several large chunks, written straight from the array (the store's
    // direct path). The stale connection must cost a reconnect, not the
    // program: a write to it must not raise SIGPIPE.
    SL_PASS(sl__harness_restart("redis", 0));
    int64_t shape[] = {3 * 1024 * 1024 / 8 * 3}; // 9 MiB of f64
    sl_value *arr = sl_value_new_ndarray(SL_F64, 1, shape, NULL), *ref, *back;
    double *d = sl_ndarray_data(arr);
    for (int64_t i = 0; i < shape[0]; i++) {
        d[i] = (double) i;
    }
    SL_PASS(sl_put(s_client, arr, &ref));
    SL_PASS(sl_get(s_client, ref, &back));
    SL_ASSERT_EQ(sl_ndarray_nbytes(back), sl_ndarray_nbytes(arr));
    SL_ASSERT(memcmp(sl_ndarray_cdata(back), d, sl_ndarray_nbytes(arr)) == 0);
    sl_value_destroy(&back);
    sl_value_destroy(&ref);
    sl_value_destroy(&arr);
    sl_job again;
    SL_PASS(sl_map(s_client, "sys.echo", args, N, NULL, &again));
    SL_PASS(sl_wait(s_client, &again, 1, SL_ALL_COMPLETED, 30000));
    for (int i = 0; i < N; i++) {
        SL_ASSERT_EQ(sl_job_result(s_client, again, (size_t) i)->status,
                     SL_TASK_OK);
        s_check_big(again, i);
    }
    sl_job_release(s_client, job);
    sl_job_release(s_client, again);
    for (int i = 0; i < N; i++) {
        sl_value_destroy(&args[i]);
    }
}

int
main(void)
{
    sl__cluster_opts opts = {.workers = 2, .slots = 2, .aof = true};
    SL_PASS(sl__harness_start_opts(&opts, &s_info));
    SL_PASS(sl_client_connect(&s_client, s_info.scheduler));
    SL_RUN(test_scheduler_restart_mid_job);
    SL_RUN(test_redis_restart);
    sl_client_destroy(&s_client);
    sl__harness_stop();
    return 0;
}
