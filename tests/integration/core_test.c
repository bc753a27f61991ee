// core_test.c - the whole path, end to end, against real processes: a
// redis-server, a scheduler and worker processes on loopback, started in a
// temporary directory by the harness.
// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <starling/starling.h>

#include <cblas.h>
#include <czmq.h>
#include <math.h>
#include <signal.h>
#include <unistd.h>

#include "../serialize/msg.h"
#include "../serialize/value.h"
#include "harness.h"
#include "testutil.h"

static sl__cluster_info s_info;
static sl_client *s_client;

static sl_value *
s_map1(const char *k, sl_value *v)
{
    sl_value *m = sl_value_new_map();
    SL_PASS(sl_value_map_set(m, k, &v));
    return m;
}

static void
s_set(sl_value *m, const char *k, sl_value *v)
{
    SL_PASS(sl_value_map_set(m, k, &v));
}

static sl_value *
s_random_matrix(sl_dtype dtype, int64_t rows, int64_t cols, unsigned seed)
{
    int64_t shape[2] = {rows, cols};
    sl_value *v = sl_value_new_ndarray(dtype, cols > 0 ? 2 : 1, shape, NULL);
    srand(seed);
    for (size_t i = 0; i < sl_ndarray_size(v); i++) {
        double x = (double) rand() / RAND_MAX - 0.5;
        if (dtype == SL_F32) {
            ((float *) sl_ndarray_data(v))[i] = (float) x;
        } else {
            ((double *) sl_ndarray_data(v))[i] = x;
        }
    }
    return v;
}

// Run one task and wait for it.
static const sl_result *
s_call(const char *fn, sl_value *arg, sl_job *job)
{
    SL_PASS(sl_call_async(s_client, fn, arg, NULL, job));
    SL_PASS(sl_wait(s_client, job, 1, SL_ALL_COMPLETED, 60000));
    return sl_job_result(s_client, *job, 0);
}

static void
test_sys_kernels(void)
{
    sl_job job;
    const sl_value *v;
    const sl_result *r = s_call("sys.noop", NULL, &job);
    SL_ASSERT_EQ(r->status, SL_TASK_OK);
    SL_ASSERT_EQ(r->attempts, 1);
    SL_ASSERT(r->end_s >= r->start_s && r->start_s > 1e9);
    sl_job_release(s_client, job);

    sl_value *arg = s_map1("x", sl_value_new_str("hello"));
    r = s_call("sys.echo", arg, &job);
    SL_ASSERT_EQ(r->status, SL_TASK_OK);
    SL_PASS(sl_job_value(s_client, job, 0, &v));
    SL_ASSERT_STR(sl_value_str(sl_value_map_get(v, "x"), NULL), "hello");
    sl_job_release(s_client, job);
    sl_value_destroy(&arg);

    arg = s_map1("ms", sl_value_new_int(50));
    r = s_call("sys.sleep", arg, &job);
    SL_ASSERT_EQ(r->status, SL_TASK_OK);
    SL_ASSERT(r->end_s - r->start_s >= 0.045);
    sl_job_release(s_client, job);
    sl_value_destroy(&arg);

    arg = s_map1("message", sl_value_new_str("boom at 42"));
    r = s_call("sys.fail", arg, &job);
    SL_ASSERT_EQ(r->status, SL_TASK_ERROR);
    SL_ASSERT_HAS(r->error, "boom at 42");
    SL_FAILS(sl_job_value(s_client, job, 0, &v), SL_EKERNEL);
    sl_job_release(s_client, job);
    sl_value_destroy(&arg);
}

static double
s_max_diff(const double *a, const double *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        m = fmax(m, fabs(a[i] - b[i]));
    }
    return m;
}

static void
test_blas_kernels(void)
{
    int m = 37, k = 53, n = 29;
    sl_value *a = s_random_matrix(SL_F64, m, k, 1);
    sl_value *b = s_random_matrix(SL_F64, k, n, 2);
    sl_value *c0 = s_random_matrix(SL_F64, m, n, 3);
    double *want = malloc(sizeof(double) * (size_t) (m * n));
    memcpy(want, sl_ndarray_cdata(c0), sizeof(double) * (size_t) (m * n));
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.5,
                sl_ndarray_cdata(a), k, sl_ndarray_cdata(b), n, 0.5, want, n);

    sl_value *arg = sl_value_new_map();
    s_set(arg, "A", sl_value_copy(a));
    s_set(arg, "B", sl_value_copy(b));
    s_set(arg, "C", sl_value_copy(c0));
    s_set(arg, "alpha", sl_value_new_float(1.5));
    s_set(arg, "beta", sl_value_new_float(0.5));
    sl_job job;
    const sl_value *v;
    const sl_result *r = s_call("blas.dgemm", arg, &job);
    SL_ASSERT_EQ(r->status, SL_TASK_OK);
    SL_ASSERT(r->flops >= 2.0 * m * n * k);
    SL_PASS(sl_job_value(s_client, job, 0, &v));
    SL_ASSERT_EQ(sl_ndarray_dim(v, 0), m);
    SL_ASSERT_EQ(sl_ndarray_dim(v, 1), n);
    SL_ASSERT(s_max_diff(sl_ndarray_cdata(v), want, (size_t) (m * n)) < 1e-12);
    sl_job_release(s_client, job);
    sl_value_destroy(&arg);

    // ddot over vectors large enough to go through the store.
    int64_t len = 100000;
    sl_value *x = s_random_matrix(SL_F64, len, 0, 4);
    sl_value *y = s_random_matrix(SL_F64, len, 0, 5);
    double dot =
        cblas_ddot((int) len, sl_ndarray_cdata(x), 1, sl_ndarray_cdata(y), 1);
    arg = sl_value_new_map();
    s_set(arg, "x", sl_value_copy(x));
    s_set(arg, "y", sl_value_copy(y));
    r = s_call("blas.ddot", arg, &job);
    SL_ASSERT_EQ(r->status, SL_TASK_OK);
    // The client and the workers share a node: its tier holds x and y, and
    // the kernel reads them where they are, without a copy.
    SL_ASSERT(r->bytes_mapped >= 2 * 8 * (uint64_t) len);
    SL_ASSERT(r->bytes_read < 8 * (uint64_t) len);
    SL_PASS(sl_job_value(s_client, job, 0, &v));
    SL_ASSERT_NEAR(sl_value_float(v), dot, 1e-9);
    sl_job_release(s_client, job);

    // daxpy: a large result comes back as a ref and is fetched on demand.
    s_set(arg, "alpha", sl_value_new_float(2.0));
    r = s_call("blas.daxpy", arg, &job);
    SL_ASSERT_EQ(r->status, SL_TASK_OK);
    SL_PASS(sl_job_value(s_client, job, 0, &v));
    SL_ASSERT_EQ(sl_ndarray_dim(v, 0), len);
    double *axpy = malloc(sizeof(double) * (size_t) len);
    memcpy(axpy, sl_ndarray_cdata(y), sizeof(double) * (size_t) len);
    cblas_daxpy((int) len, 2.0, sl_ndarray_cdata(x), 1, axpy, 1);
    SL_ASSERT(s_max_diff(sl_ndarray_cdata(v), axpy, (size_t) len) < 1e-15);
    sl_job_release(s_client, job);
    sl_value_destroy(&arg);

    // dgemv
    sl_value *xv = s_random_matrix(SL_F64, k, 0, 6);
    double *gemv = calloc((size_t) m, sizeof(double));
    cblas_dgemv(CblasRowMajor, CblasNoTrans, m, k, 1.0, sl_ndarray_cdata(a), k,
                sl_ndarray_cdata(xv), 1, 0.0, gemv, 1);
    arg = sl_value_new_map();
    s_set(arg, "A", sl_value_copy(a));
    s_set(arg, "x", sl_value_copy(xv));
    r = s_call("blas.dgemv", arg, &job);
    SL_ASSERT_EQ(r->status, SL_TASK_OK);
    SL_PASS(sl_job_value(s_client, job, 0, &v));
    SL_ASSERT(s_max_diff(sl_ndarray_cdata(v), gemv, (size_t) m) < 1e-12);
    sl_job_release(s_client, job);
    sl_value_destroy(&arg);

    // sgemm with a transpose
    sl_value *af = s_random_matrix(SL_F32, k, m, 7); // A^T stored
    sl_value *bf = s_random_matrix(SL_F32, k, n, 8);
    float *wantf = calloc((size_t) (m * n), sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, n, k, 1.0f,
                sl_ndarray_cdata(af), m, sl_ndarray_cdata(bf), n, 0.0f, wantf,
                n);
    arg = sl_value_new_map();
    s_set(arg, "A", sl_value_copy(af));
    s_set(arg, "B", sl_value_copy(bf));
    s_set(arg, "transa", sl_value_new_bool(true));
    r = s_call("blas.sgemm", arg, &job);
    SL_ASSERT_EQ(r->status, SL_TASK_OK);
    SL_PASS(sl_job_value(s_client, job, 0, &v));
    SL_ASSERT_EQ(sl_ndarray_dtype(v), SL_F32);
    const float *got = sl_ndarray_cdata(v);
    for (int i = 0; i < m * n; i++) {
        SL_ASSERT_NEAR(got[i], wantf[i], 1e-4);
    }
    sl_job_release(s_client, job);
    sl_value_destroy(&arg);

    // bench.gemm_flops counts its FLOPs
    arg = s_map1("n", sl_value_new_int(64));
    s_set(arg, "reps", sl_value_new_int(3));
    r = s_call("bench.gemm_flops", arg, &job);
    SL_ASSERT_EQ(r->status, SL_TASK_OK);
    SL_ASSERT_NEAR(r->flops, 2.0 * 64 * 64 * 64 * 3, 0.5);
    sl_job_release(s_client, job);
    sl_value_destroy(&arg);

    sl_value *objs[] = {a, b, c0, x, y, xv, af, bf};
    for (size_t i = 0; i < sizeof(objs) / sizeof(objs[0]); i++) {
        sl_value_destroy(&objs[i]);
    }
    free(want);
    free(axpy);
    free(gemv);
    free(wantf);
}

// Errors are per task: every other task of the job still succeeds.
static void
test_bad_input_is_per_task(void)
{
    sl_value *args[4];
    args[0] = s_map1("values", sl_value_new_list());
    args[1] = s_map1("values", sl_value_new_str("not a list"));
    args[2] = s_map1("valuez", sl_value_new_list());
    args[3] = s_map1("values", sl_value_new_list());
    sl_value *one = sl_value_new_int(1);
    SL_PASS(sl_value_list_append(
        (sl_value *) sl_value_map_get(args[3], "values"), &one));
    sl_job job;
    SL_PASS(sl_map(s_client, "sys.sum", args, 4, NULL, &job));
    SL_PASS(sl_wait(s_client, &job, 1, SL_ALL_COMPLETED, 60000));
    SL_ASSERT_EQ(sl_job_result(s_client, job, 0)->status, SL_TASK_OK);
    SL_ASSERT_EQ(sl_job_result(s_client, job, 1)->status, SL_TASK_ERROR);
    SL_ASSERT_HAS(sl_job_result(s_client, job, 1)->error, "values");
    SL_ASSERT_EQ(sl_job_result(s_client, job, 2)->status, SL_TASK_ERROR);
    SL_ASSERT_HAS(sl_job_result(s_client, job, 2)->error, "valuez");
    const sl_value *v;
    SL_PASS(sl_job_value(s_client, job, 3, &v));
    SL_ASSERT_EQ(sl_value_int(v), 1);
    sl_job_release(s_client, job);

    // An unknown function names itself; a wrong shape names the shapes.
    sl_value *shape_arg = sl_value_new_map();
    s_set(shape_arg, "A", s_random_matrix(SL_F64, 3, 4, 1));
    s_set(shape_arg, "B", s_random_matrix(SL_F64, 5, 2, 2));
    const sl_result *r = s_call("no.such_function", NULL, &job);
    SL_ASSERT_EQ(r->status, SL_TASK_ERROR);
    SL_ASSERT_HAS(r->error, "no.such_function");
    sl_job_release(s_client, job);
    r = s_call("blas.dgemm", shape_arg, &job);
    SL_ASSERT_EQ(r->status, SL_TASK_ERROR);
    SL_ASSERT_HAS(r->error, "3x4");
    sl_job_release(s_client, job);
    for (int i = 0; i < 4; i++) {
        sl_value_destroy(&args[i]);
    }
    sl_value_destroy(&shape_arg);
}

// Garbage at both scheduler sockets is answered with ERROR and logged;
// the scheduler goes on serving.
static void
test_malformed_messages(void)
{
    zsock_t *peer = sl__harness_dealer("client");
    zsock_t *wpeer = sl__harness_dealer("worker");
    SL_ASSERT(peer != NULL && wpeer != NULL);
    zsock_set_rcvtimeo(peer, 5000);
    zsock_set_rcvtimeo(wpeer, 5000);
    const char *garbage[] = {"", "\xc1", "\x92\x01", "\x93\x07\x02\x00",
                             "\xdd\xff\xff\xff\xff"};
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
        zsock_t *socks[] = {peer, wpeer};
        for (int s = 0; s < 2; s++) {
            zframe_t *f = zframe_new(garbage[i], strlen(garbage[i]));
            SL_ASSERT(zframe_send(&f, socks[s], 0) == 0);
            zframe_t *reply = zframe_recv(socks[s]);
            SL_ASSERT(reply != NULL);
            sl__mpr r;
            uint32_t type, nf;
            char why[SL_ERRSTR_LEN];
            sl__mpr_init(&r, zframe_data(reply), zframe_size(reply));
            SL_PASS(sl__msg_open(&r, &type, &nf, why));
            SL_ASSERT_EQ(type, SL_MSG_ERROR);
            zframe_destroy(&reply);
        }
    }
    // A client that has not said HELLO is told to, whatever it sends.
    sl__mpw uw;
    sl__mpw_init(&uw);
    sl__msg_empty(&uw, SL_MSG_STATUS);
    zframe_t *uf = zframe_new(uw.buf.data, uw.buf.size);
    SL_ASSERT(zframe_send(&uf, peer, 0) == 0);
    zframe_t *ureply = zframe_recv(peer);
    SL_ASSERT(ureply != NULL);
    SL_ASSERT(memmem(zframe_data(ureply), zframe_size(ureply),
                     "unknown client: send HELLO", 26) != NULL);
    zframe_destroy(&ureply);
    sl__mpw_reset(&uw);
    sl__msg_hello(&uw, "raw", 1);
    uf = zframe_new(uw.buf.data, uw.buf.size);
    SL_ASSERT(zframe_send(&uf, peer, 0) == 0);
    ureply = zframe_recv(peer); // WELCOME
    SL_ASSERT(ureply != NULL);
    zframe_destroy(&ureply);

    // A well-formed message of a type this socket does not take.
    sl__mpw_reset(&uw);
    sl__msg_empty(&uw, SL_MSG_TASKS);
    uf = zframe_new(uw.buf.data, uw.buf.size);
    SL_ASSERT(zframe_send(&uf, peer, 0) == 0);
    ureply = zframe_recv(peer);
    SL_ASSERT(ureply != NULL);
    SL_ASSERT(memmem(zframe_data(ureply), zframe_size(ureply),
                     "unexpected message type", 23) != NULL);
    zframe_destroy(&ureply);
    sl__mpw_fini(&uw);

    // A SUBMIT whose argument is truncated: rejected whole, with a reason.
    sl__mpw w;
    sl__mpw_init(&w);
    sl__job_opts o = {0, 3, 0, 0};
    sl__msg_submit_begin(&w, 77, "sys.noop", 2, 0, &o, 2);
    msgpack_pack_nil(&w.pk);
    sl__mpw_raw(&w, "\x92\x01", 2); // an array of 2 with one element
    zframe_t *f = zframe_new(w.buf.data, w.buf.size);
    SL_ASSERT(zframe_send(&f, peer, 0) == 0);
    zframe_t *reply = zframe_recv(peer);
    SL_ASSERT(reply != NULL);
    SL_ASSERT(memmem(zframe_data(reply), zframe_size(reply), "task 1", 6));
    zframe_destroy(&reply);
    sl__mpw_fini(&w);
    zsock_destroy(&peer);
    zsock_destroy(&wpeer);

    // The real client still gets served.
    sl_job job;
    SL_ASSERT_EQ(s_call("sys.noop", NULL, &job)->status, SL_TASK_OK);
    sl_job_release(s_client, job);
}

static void
test_noop_map_100k(void)
{
    size_t n = 100000;
    sl_value **args = calloc(n, sizeof(*args)); // all nil: sys.noop
    sl_job job;
    SL_PASS(sl_map(s_client, "sys.noop", args, n, NULL, &job));
    SL_PASS(sl_wait(s_client, &job, 1, SL_ALL_COMPLETED, 300000));
    sl_job_stats st;
    SL_PASS(sl_job_stats_get(s_client, job, &st));
    SL_ASSERT_EQ(st.tasks, n);
    SL_ASSERT_EQ(st.ok, n);
    SL_ASSERT_EQ(st.failed, 0);
    fprintf(stderr, "   100,000 no-op tasks: %.2f s, %.0f tasks/s\n", st.wall_s,
            st.tasks_per_s);
    sl_job_release(s_client, job);
    free(args);
}

static void
test_map_reduce_and_put_get(void)
{
    // put/get round trip of an ndarray big enough to be chunk-free but
    // far above the inline limit.
    sl_value *big = s_random_matrix(SL_F64, 512, 512, 9);
    sl_value *ref = NULL, *back = NULL;
    SL_PASS(sl_put(s_client, big, &ref));
    SL_ASSERT_EQ(sl_value_type(ref), SL_REF);
    SL_PASS(sl_get(s_client, ref, &back));
    SL_ASSERT(memcmp(sl_ndarray_cdata(back), sl_ndarray_cdata(big),
                     sl_ndarray_nbytes(big)) == 0);

    // map_reduce: sum of ndarrays through refs.
    enum { N = 8 };
    sl_value *args[N];
    for (int i = 0; i < N; i++) {
        sl_value *list = sl_value_new_list();
        sl_value *item = sl_value_copy(ref);
        SL_PASS(sl_value_list_append(list, &item));
        args[i] = s_map1("values", list);
    }
    sl_job job;
    SL_PASS(sl_map_reduce(s_client, "sys.sum", args, N, "sys.sum", NULL, &job));
    SL_PASS(sl_wait(s_client, &job, 1, SL_ALL_COMPLETED, 60000));
    const sl_value *v;
    SL_PASS(sl_job_value(s_client, job, 0, &v));
    const double *sum = sl_ndarray_cdata(v);
    const double *one = sl_ndarray_cdata(big);
    for (size_t i = 0; i < sl_ndarray_size(big); i++) {
        SL_ASSERT_NEAR(sum[i], N * one[i], 1e-12);
    }
    sl_job_release(s_client, job);
    for (int i = 0; i < N; i++) {
        sl_value_destroy(&args[i]);
    }
    // sl_delete frees the object now: the value got earlier stays readable
    // (its mapping is its own), a new get finds nothing; and a ref the
    // client did not put is not its to delete.
    SL_PASS(sl_delete(s_client, ref));
    SL_ASSERT(memcmp(sl_ndarray_cdata(back), sl_ndarray_cdata(big),
                     sl_ndarray_nbytes(big)) == 0);
    sl_value *gone = NULL;
    SL_FAILS(sl_get(s_client, ref, &gone), SL_ENOTFOUND);
    SL_ASSERT(gone == NULL);
    SL_PASS(sl_delete(s_client, ref)); // twice: nothing there, no error
    sl_value *other = sl__value_new_ref("sl:j0000000000000001:r0", 10, 0);
    SL_FAILS(sl_delete(s_client, other), SL_EINVAL);
    SL_ASSERT_HAS(sl_client_errstr(s_client), "not an object this client put");
    sl_value_destroy(&other);
    sl_value_destroy(&big);
    sl_value_destroy(&ref);
    sl_value_destroy(&back);
}

static void
test_wait_modes_and_cancel(void)
{
    enum { N = 40 };
    sl_value *args[N];
    for (int i = 0; i < N; i++) {
        args[i] = s_map1("ms", sl_value_new_int(100));
    }
    sl_job job;
    SL_PASS(sl_map(s_client, "sys.sleep", args, N, NULL, &job));
    SL_PASS(sl_wait(s_client, &job, 1, SL_ALWAYS, 0));
    SL_FAILS(sl_wait(s_client, &job, 1, SL_ALL_COMPLETED, 50), SL_ETIMEDOUT);
    SL_PASS(sl_wait(s_client, &job, 1, SL_ANY_COMPLETED, 30000));
    SL_ASSERT(sl_job_done(s_client, job) >= 1);
    SL_PASS(sl_job_cancel(s_client, job));
    SL_PASS(sl_wait(s_client, &job, 1, SL_ALL_COMPLETED, 30000));
    sl_job_stats st;
    SL_PASS(sl_job_stats_get(s_client, job, &st));
    SL_ASSERT_EQ(st.done, N);
    SL_ASSERT(st.failed > 0); // cancelled ones
    size_t cancelled = 0;
    for (int i = 0; i < N; i++) {
        const sl_result *r = sl_job_result(s_client, job, (size_t) i);
        if (r->status == SL_TASK_CANCELLED) {
            SL_ASSERT_HAS(r->error, "cancelled");
            cancelled++;
        } else {
            SL_ASSERT_EQ(r->status, SL_TASK_OK);
        }
    }
    SL_ASSERT(cancelled > 0);
    sl_job_release(s_client, job);
    SL_FAILS(sl_wait(s_client, &job, 1, SL_ALL_COMPLETED, 0), SL_ENOTFOUND);
    for (int i = 0; i < N; i++) {
        sl_value_destroy(&args[i]);
    }
}

// Forty tasks name one 1 MiB input, twice each: every slot fetches it
// once and then finds it in its input cache (worker/cache.h). Without the
// cache the job would read 80 MiB; with it at most 4 (2 workers x 2 slots).
static void
test_input_cache(void)
{
    enum { N = 40, LEN = 128 * 1024 };
    sl_value *v = s_random_matrix(SL_F64, LEN, 0, 11), *ref;
    double want =
        cblas_ddot(LEN, sl_ndarray_cdata(v), 1, sl_ndarray_cdata(v), 1);
    SL_PASS(sl_put(s_client, v, &ref));
    sl_value *args[N];
    for (int i = 0; i < N; i++) {
        args[i] = s_map1("x", sl_value_copy(ref));
        s_set(args[i], "y", sl_value_copy(ref));
    }
    sl_job job;
    SL_PASS(sl_map(s_client, "blas.ddot", args, N, NULL, &job));
    SL_PASS(sl_wait(s_client, &job, 1, SL_ALL_COMPLETED, 60000));
    for (int i = 0; i < N; i++) {
        const sl_value *got;
        SL_PASS(sl_job_value(s_client, job, (size_t) i, &got));
        SL_ASSERT_NEAR(sl_value_float(got), want, 1e-9 * fabs(want));
    }
    sl_job_stats st;
    SL_PASS(sl_job_stats_get(s_client, job, &st));
    uint64_t size = (uint64_t) LEN * 8;
    fprintf(stderr,
            "   %d tasks mapped %.2f MiB and copied %.2f MiB of a %.2f MiB "
            "input\n",
            N, (double) st.bytes_mapped / (1 << 20),
            (double) st.bytes_read / (1 << 20), (double) size / (1 << 20));
    // The input is in the node's tier: each executor maps it once (its
    // input cache keeps the mapping for the later tasks), and copies none
    // of it (only the tasks' small inline arguments).
    SL_ASSERT(st.bytes_mapped >= size);
    SL_ASSERT(st.bytes_mapped <= 4 * (size + 4096));
    SL_ASSERT(st.bytes_read <= N * 4096);
    sl_job_release(s_client, job);
    for (int i = 0; i < N; i++) {
        sl_value_destroy(&args[i]);
    }
    sl_value_destroy(&ref);
    sl_value_destroy(&v);
}

static double
s_thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

// sl_wait spins before it sleeps (sl_client_set_spin): one short call
// after another still works, and a wait whose messages come a millisecond
// or more apart soon stops spinning instead of burning a core.
static void
test_wait_spin(void)
{
    sl_client_set_spin(s_client, 500);
    for (int i = 0; i < 300; i++) {
        sl_job job;
        SL_ASSERT_EQ(s_call("sys.noop", NULL, &job)->status, SL_TASK_OK);
        sl_job_release(s_client, job);
    }
    enum { N = 600 };
    sl_value *args[N];
    for (int i = 0; i < N; i++) {
        args[i] = s_map1("ms", sl_value_new_int(3));
    }
    sl_job job;
    SL_PASS(sl_map(s_client, "sys.sleep", args, N, NULL, &job));
    double wall0 = sl__mono(), cpu0 = s_thread_cpu_s();
    SL_PASS(sl_wait(s_client, &job, 1, SL_ALL_COMPLETED, 60000));
    double wall = sl__mono() - wall0, cpu = s_thread_cpu_s() - cpu0;
    fprintf(stderr, "   waited %.0f ms for %d sleeps on 4 slots, %.1f ms CPU\n",
            wall * 1e3, N, cpu * 1e3);
    // Spinning through every gap would take half of the wall time or more.
    SL_ASSERT(cpu < 0.25 * wall);
    sl_job_release(s_client, job);
    for (int i = 0; i < N; i++) {
        sl_value_destroy(&args[i]);
    }
    sl_client_set_spin(s_client, 0);
    SL_ASSERT_EQ(s_call("sys.noop", NULL, &job)->status, SL_TASK_OK);
    sl_job_release(s_client, job);
}

// A worker killed with SIGKILL mid-job: its tasks run elsewhere and every
// result is correct.
static void
test_worker_killed_mid_job(void)
{
    enum { N = 60 };
    sl_value *args[N];
    for (int i = 0; i < N; i++) {
        sl_value *list = sl_value_new_list();
        sl_value *item = sl_value_new_int(i);
        SL_PASS(sl_value_list_append(list, &item));
        args[i] = s_map1("values", list);
    }
    // Slow tasks first, so the victim surely holds some when it dies.
    sl_value *sleeps[8];
    for (int i = 0; i < 8; i++) {
        sleeps[i] = s_map1("ms", sl_value_new_int(400));
    }
    sl_job slow, job;
    SL_PASS(sl_map(s_client, "sys.sleep", sleeps, 8, NULL, &slow));
    SL_PASS(sl_map(s_client, "sys.sum", args, N, NULL, &job));
    usleep(150 * 1000);
    sl__harness_kill_worker(0);
    sl_job both[2] = {slow, job};
    SL_PASS(sl_wait(s_client, both, 2, SL_ALL_COMPLETED, 60000));
    size_t retried = 0;
    for (int i = 0; i < N; i++) {
        const sl_value *v;
        SL_PASS(sl_job_value(s_client, job, (size_t) i, &v));
        SL_ASSERT_EQ(sl_value_int(v), i);
    }
    for (int i = 0; i < 8; i++) {
        const sl_result *r = sl_job_result(s_client, slow, (size_t) i);
        SL_ASSERT_EQ(r->status, SL_TASK_OK);
        retried += r->attempts > 1;
    }
    SL_ASSERT(retried > 0);
    fprintf(stderr, "   %zu slow tasks re-ran after the kill\n", retried);
    sl_job_release(s_client, slow);
    sl_job_release(s_client, job);
    for (int i = 0; i < N; i++) {
        sl_value_destroy(&args[i]);
    }
    for (int i = 0; i < 8; i++) {
        sl_value_destroy(&sleeps[i]);
    }
}

static void
test_status(void)
{
    sl_cluster_status st;
    SL_PASS(sl_cluster_status_get(s_client, &st));
    SL_ASSERT_EQ(st.workers, 2);
    SL_ASSERT_EQ(st.slots, 4);
    SL_ASSERT(st.done > 0);
    SL_ASSERT(st.uptime_s > 0);
}

int
main(void)
{
    SL_PASS(sl__harness_start(2, 2, &s_info));
    SL_PASS(sl_client_connect(&s_client, s_info.scheduler));
    SL_RUN(test_sys_kernels);
    SL_RUN(test_blas_kernels);
    SL_RUN(test_bad_input_is_per_task);
    SL_RUN(test_malformed_messages);
    SL_RUN(test_map_reduce_and_put_get);
    SL_RUN(test_wait_modes_and_cancel);
    SL_RUN(test_wait_spin);
    SL_RUN(test_input_cache);
    SL_RUN(test_noop_map_100k);
    SL_RUN(test_status);
    SL_RUN(test_worker_killed_mid_job);
    sl_client_destroy(&s_client);
    sl__harness_stop();
    return 0;
}
