// graph_test.c - tasks that take other tasks' results, against real
// processes (redis-server, the scheduler, two workers of two slots): a
// tree of sums, one result taken by many tasks, a future deep in an
// argument, a chain of jobs, a large
// result that travels as a ref, a failed input that fails its dependents
// transitively without running them, futures that are refused at
// submission, a producer released while its dependents wait, and a
// 100,000-task graph.
// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <starling/starling.h>

#include <cblas.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

static void
s_set(sl_value *m, const char *k, sl_value *v)
{
    SL_PASS(sl_value_map_set(m, k, &v));
}

static void
s_append(sl_value *list, sl_value *v)
{
    SL_PASS(sl_value_list_append(list, &v));
}

// {"values": list}
static sl_value *
s_values(sl_value *list)
{
    sl_value *m = sl_value_new_map();
    s_set(m, "values", list);
    return m;
}

static void
s_destroy_all(sl_value **args, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sl_value_destroy(&args[i]);
    }
}

static void
s_wait(sl_job job)
{
    SL_PASS(sl_wait(s_client, &job, 1, SL_ALL_COMPLETED, 60000));
}

static int64_t
s_int(sl_job job, size_t i)
{
    const sl_result *r = sl_job_result(s_client, job, i);
    if (r->status != SL_TASK_OK) {
        fprintf(stderr, "task %zu: %s\n", i, r->error ? r->error : "?");
    }
    SL_ASSERT_EQ(r->status, SL_TASK_OK);
    const sl_value *v;
    SL_PASS(sl_job_value(s_client, job, i, &v));
    return sl_value_int(v);
}

// Leaves sum pairs; a second job sums the leaves' results by futures,
// in groups of fan_in; a third sums those. Submitted at once, no wait
// between: the scheduler holds each level until the one below has ended.
static void
test_tree_of_sums(void)
{
    enum { LEAVES = 64, FAN = 8 };
    sl_value *leaves[LEAVES], *mid[LEAVES / FAN], *top[1];
    int64_t want = 0;
    for (int i = 0; i < LEAVES; i++) {
        sl_value *l = sl_value_new_list();
        s_append(l, sl_value_new_int(i));
        s_append(l, sl_value_new_int(1000));
        want += i + 1000;
        leaves[i] = s_values(l);
    }
    sl_job j0, j1, j2;
    SL_PASS(sl_map(s_client, "sys.sum", leaves, LEAVES, NULL, &j0));
    for (int g = 0; g < LEAVES / FAN; g++) {
        sl_value *l = sl_value_new_list();
        for (int k = 0; k < FAN; k++) {
            s_append(l, sl_value_new_future(j0, (size_t) (g * FAN + k)));
        }
        mid[g] = s_values(l);
    }
    SL_PASS(sl_map(s_client, "sys.sum", mid, LEAVES / FAN, NULL, &j1));
    sl_value *l = sl_value_new_list();
    for (int g = 0; g < LEAVES / FAN; g++) {
        s_append(l, sl_value_new_future(j1, (size_t) g));
    }
    top[0] = s_values(l);
    SL_PASS(sl_map(s_client, "sys.sum", top, 1, NULL, &j2));
    s_wait(j2);
    SL_ASSERT_EQ(s_int(j2, 0), want);
    s_wait(j1);
    int64_t group0 = 0;
    for (int k = 0; k < FAN; k++) {
        group0 += k + 1000;
    }
    SL_ASSERT_EQ(s_int(j1, 0), group0);
    sl_job_release(s_client, j0);
    sl_job_release(s_client, j1);
    sl_job_release(s_client, j2);
    s_destroy_all(leaves, LEAVES);
    s_destroy_all(mid, LEAVES / FAN);
    s_destroy_all(top, 1);
}

// Many tasks take one result, and a future deep inside an argument is
// replaced where it lies, and so is the same future again elsewhere:
// sys.echo gives back {"a": [i, {"b": 1}], "again": 1}.
static void
test_fan_out_and_depth(void)
{
    enum { N = 300 };
    sl_value *args[N];
    sl_value *first = sl_value_new_list();
    s_append(first, sl_value_new_int(1));
    first = s_values(first);
    sl_job head;
    SL_PASS(sl_call_async(s_client, "sys.sum", first, NULL, &head));
    for (int i = 0; i < N; i++) {
        sl_value *inner = sl_value_new_map();
        s_set(inner, "b", sl_value_new_future(head, 0));
        sl_value *l = sl_value_new_list();
        s_append(l, sl_value_new_int(i));
        s_append(l, inner);
        args[i] = sl_value_new_map();
        s_set(args[i], "a", l);
        s_set(args[i], "again", sl_value_new_future(head, 0)); // twice
    }
    sl_job rest;
    SL_PASS(sl_map(s_client, "sys.echo", args, N, NULL, &rest));
    s_wait(rest);
    for (int i = 0; i < N; i++) {
        SL_ASSERT_EQ(sl_job_result(s_client, rest, (size_t) i)->status,
                     SL_TASK_OK);
        const sl_value *v;
        SL_PASS(sl_job_value(s_client, rest, (size_t) i, &v));
        const sl_value *l = sl_value_map_get(v, "a");
        SL_ASSERT_EQ(sl_value_int(sl_value_list_at(l, 0)), i);
        const sl_value *b = sl_value_map_get(sl_value_list_at(l, 1), "b");
        SL_ASSERT_EQ(sl_value_type(b), SL_INT);
        SL_ASSERT_EQ(sl_value_int(b), 1);
        SL_ASSERT_EQ(sl_value_int(sl_value_map_get(v, "again")), 1);
    }
    sl_job_release(s_client, head);
    sl_job_release(s_client, rest);
    s_destroy_all(args, N);
    sl_value_destroy(&first);
}

// A link of a chain: sys.sum {values: [future(job, index), 1]}.
static sl_value *
s_link(sl_job job, size_t index)
{
    sl_value *l = sl_value_new_list();
    s_append(l, sl_value_new_future(job, index));
    s_append(l, sl_value_new_int(1));
    return s_values(l);
}

// A chain of single-task jobs, each taking the one before, submitted all
// at once: the client is out of the loop.
static void
test_chain_of_jobs(void)
{
    enum { N = 200 };
    sl_job jobs[N];
    sl_value *seed = s_values(sl_value_new_list());
    SL_PASS(sl_call_async(s_client, "sys.sum", seed, NULL, &jobs[0]));
    for (int i = 1; i < N; i++) {
        sl_value *a = s_link(jobs[i - 1], 0);
        SL_PASS(sl_call_async(s_client, "sys.sum", a, NULL, &jobs[i]));
        sl_value_destroy(&a);
    }
    s_wait(jobs[N - 1]);
    SL_ASSERT_EQ(s_int(jobs[N - 1], 0), N - 1);
    for (int i = 0; i < N; i++) {
        sl_job_release(s_client, jobs[i]);
    }
    sl_value_destroy(&seed);
}

// A 64x64 product (32 KiB: stored, and sent to dependents as a ref) taken
// by a second dgemm as its A.
static void
test_large_result_as_input(void)
{
    enum { N = 64 };
    int64_t shape[2] = {N, N};
    sl_value *a = sl_value_new_ndarray(SL_F64, 2, shape, NULL);
    sl_value *b = sl_value_new_ndarray(SL_F64, 2, shape, NULL);
    double *pa = sl_ndarray_data(a), *pb = sl_ndarray_data(b);
    for (int i = 0; i < N * N; i++) {
        pa[i] = (double) (i % 7) - 3;
        pb[i] = (double) (i % 5) * 0.5;
    }
    sl_value *arg = sl_value_new_map();
    s_set(arg, "A", sl_value_copy(a));
    s_set(arg, "B", sl_value_copy(b));
    sl_job p;
    SL_PASS(sl_call_async(s_client, "blas.dgemm", arg, NULL, &p));
    sl_value *arg2 = sl_value_new_map();
    s_set(arg2, "A", sl_value_new_future(p, 0));
    s_set(arg2, "B", sl_value_copy(b));
    sl_job d;
    SL_PASS(sl_call_async(s_client, "blas.dgemm", arg2, NULL, &d));
    // Released at once: its stored result stays for d, which still waits.
    sl_job_release(s_client, p);
    s_wait(d);
    SL_ASSERT_EQ(sl_job_result(s_client, d, 0)->status, SL_TASK_OK);
    const sl_value *got;
    SL_PASS(sl_job_value(s_client, d, 0, &got));
    double *ab = calloc(N * N, sizeof(double));
    double *abb = calloc(N * N, sizeof(double));
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1, pa, N,
                pb, N, 0, ab, N);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1, ab, N,
                pb, N, 0, abb, N);
    const double *pg = sl_ndarray_cdata(got);
    for (int i = 0; i < N * N; i++) {
        SL_ASSERT_NEAR(pg[i], abb[i], 1e-9 * (1 + fabs(abb[i])));
    }
    sl_job_release(s_client, d);
    free(ab);
    free(abb);
    sl_value_destroy(&arg);
    sl_value_destroy(&arg2);
    sl_value_destroy(&a);
    sl_value_destroy(&b);
}

// A failed input fails its dependents without running them, transitively,
// naming the input; a dependent submitted after the failure fails at once.
static void
test_failed_input_fails_dependents(void)
{
    sl_value *bad = sl_value_new_map();
    s_set(bad, "message", sl_value_new_str("broken leaf"));
    sl_job a, b, c, late;
    SL_PASS(sl_call_async(s_client, "sys.fail", bad, NULL, &a));
    sl_value *ab = s_link(a, 0);
    SL_PASS(sl_call_async(s_client, "sys.sum", ab, NULL, &b));
    sl_value *bc = s_link(b, 0);
    SL_PASS(sl_call_async(s_client, "sys.sum", bc, NULL, &c));
    // Each job's outcomes come in its own DONE: c's may come first.
    sl_job all[3] = {a, b, c};
    SL_PASS(sl_wait(s_client, all, 3, SL_ALL_COMPLETED, 60000));
    const sl_result *rb = sl_job_result(s_client, b, 0);
    const sl_result *rc = sl_job_result(s_client, c, 0);
    SL_ASSERT_EQ(rb->status, SL_TASK_FAILED);
    SL_ASSERT_EQ(rc->status, SL_TASK_FAILED);
    char want[128];
    snprintf(want, sizeof(want),
             "input job %016" PRIx64 " task 0 failed: ", a.id);
    SL_ASSERT_HAS(rb->error, want);
    SL_ASSERT_HAS(rb->error, "broken leaf");
    snprintf(want, sizeof(want),
             "input job %016" PRIx64 " task 0 failed: ", b.id);
    SL_ASSERT_HAS(rc->error, want);
    SL_ASSERT_HAS(rc->error, "broken leaf");
    SL_ASSERT_EQ(rb->attempts, 0); // never ran
    SL_PASS(sl_call_async(s_client, "sys.sum", ab, NULL, &late));
    s_wait(late);
    SL_ASSERT_EQ(sl_job_result(s_client, late, 0)->status, SL_TASK_FAILED);
    SL_ASSERT_HAS(sl_job_result(s_client, late, 0)->error, "broken leaf");
    sl_job_release(s_client, a);
    sl_job_release(s_client, b);
    sl_job_release(s_client, c);
    sl_job_release(s_client, late);
    sl_value_destroy(&bad);
    sl_value_destroy(&ab);
    sl_value_destroy(&bc);
}

// Futures of a job the client does not hold, of a task the job does not
// have, or of a later task of the same job, are refused at submission.
static void
test_refused_futures(void)
{
    sl_value *seed = s_values(sl_value_new_list());
    sl_job p, d;
    SL_PASS(sl_call_async(s_client, "sys.sum", seed, NULL, &p));
    sl_value *a = s_link((sl_job){0x1234}, 0);
    SL_FAILS(sl_call_async(s_client, "sys.sum", a, NULL, &d), SL_EINVAL);
    SL_ASSERT_HAS(sl_client_errstr(s_client), "does not hold");
    sl_value_destroy(&a);
    a = s_link(p, 1);
    SL_FAILS(sl_call_async(s_client, "sys.sum", a, NULL, &d), SL_EINVAL);
    SL_ASSERT_HAS(sl_client_errstr(s_client), "which has 1 task");
    sl_value_destroy(&a);
    // A released job is no longer the client's to name.
    s_wait(p);
    sl_job_release(s_client, p);
    a = s_link(p, 0);
    SL_FAILS(sl_call_async(s_client, "sys.sum", a, NULL, &d), SL_EINVAL);
    sl_value_destroy(&a);
    // The scheduler still works for the next job.
    SL_PASS(sl_call_async(s_client, "sys.sum", seed, NULL, &d));
    s_wait(d);
    SL_ASSERT_EQ(s_int(d, 0), 0);
    sl_job_release(s_client, d);
    sl_value_destroy(&seed);
}

// A cancelled dependent frees what it held: its producer, released, goes
// once it has ended; the cluster has no job left over.
static void
test_cancel_and_release_while_waiting(void)
{
    sl_value *slow = sl_value_new_map();
    s_set(slow, "ms", sl_value_new_int(300));
    sl_job p, d;
    SL_PASS(sl_call_async(s_client, "sys.sleep", slow, NULL, &p));
    sl_value *a = s_link(p, 0);
    SL_PASS(sl_call_async(s_client, "sys.sum", a, NULL, &d));
    SL_PASS(sl_job_cancel(s_client, d));
    s_wait(d);
    SL_ASSERT_EQ(sl_job_result(s_client, d, 0)->status, SL_TASK_CANCELLED);
    sl_job_release(s_client, d);
    s_wait(p);
    SL_ASSERT_EQ(sl_job_result(s_client, p, 0)->status, SL_TASK_OK);
    sl_job_release(s_client, p);
    sl_cluster_status st;
    SL_PASS(sl_cluster_status_get(s_client, &st));
    SL_ASSERT_EQ(st.jobs, 0u);
    SL_ASSERT_EQ(st.queued, 0u);
    sl_value_destroy(&a);
    sl_value_destroy(&slow);
}

// 100,000 tasks: 90,000 leaves and 10,000 sums of nine of them each.
static void
test_graph_100k(void)
{
    enum { SUMS = 10000, FAN = 9, LEAVES = SUMS * FAN };
    sl_value **leaves = calloc(LEAVES, sizeof(*leaves));
    sl_value **sums = calloc(SUMS, sizeof(*sums));
    for (int i = 0; i < LEAVES; i++) {
        sl_value *l = sl_value_new_list();
        s_append(l, sl_value_new_int(i));
        leaves[i] = s_values(l);
    }
    double t0 = s_now();
    sl_job j0, j1;
    SL_PASS(sl_map(s_client, "sys.sum", leaves, LEAVES, NULL, &j0));
    for (int g = 0; g < SUMS; g++) {
        sl_value *l = sl_value_new_list();
        for (int k = 0; k < FAN; k++) {
            s_append(l, sl_value_new_future(j0, (size_t) (g * FAN + k)));
        }
        sums[g] = s_values(l);
    }
    SL_PASS(sl_map(s_client, "sys.sum", sums, SUMS, NULL, &j1));
    s_wait(j1);
    double wall = s_now() - t0;
    fprintf(stderr, "   %d tasks (%d with %d futures each) in %.2f s\n",
            LEAVES + SUMS, SUMS, FAN, wall);
    for (int g = 0; g < SUMS; g += 997) {
        int64_t want = 0;
        for (int k = 0; k < FAN; k++) {
            want += g * FAN + k;
        }
        SL_ASSERT_EQ(s_int(j1, (size_t) g), want);
    }
    sl_job_stats st;
    SL_PASS(sl_job_stats_get(s_client, j1, &st));
    SL_ASSERT_EQ(st.ok, (size_t) SUMS);
    sl_job_release(s_client, j0);
    sl_job_release(s_client, j1);
    s_destroy_all(leaves, LEAVES);
    s_destroy_all(sums, SUMS);
    free(leaves);
    free(sums);
}

int
main(void)
{
    SL_PASS(sl__harness_start(2, 2, &s_info));
    SL_PASS(sl_client_connect(&s_client, s_info.scheduler));
    SL_RUN(test_tree_of_sums);
    SL_RUN(test_fan_out_and_depth);
    SL_RUN(test_chain_of_jobs);
    SL_RUN(test_large_result_as_input);
    SL_RUN(test_failed_input_fails_dependents);
    SL_RUN(test_refused_futures);
    SL_RUN(test_cancel_and_release_while_waiting);
    SL_RUN(test_graph_100k);
    sl_client_destroy(&s_client);
    sl__harness_stop();
    return 0;
}
