// tier_test.c - the node's object tier against real processes: a client's
// large put read in place by tasks on two workers of its node; object
// files damaged under the workers; a kernel that writes into an argument
// mapped read-only; a put read from another node; results that live only
// in the tier when every worker of the node is killed; a tier smaller
// than what is put into it, with and without a store to spill to.
// (tests/unit/tier_test.c is store/tier.c's unit test.)
// SPDX-License-Identifier: MIT
//
// The harness's workers are on one node (the machine's name, as is the
// client's): the client's puts and the results of its tasks stay in that
// node's tier, under $STARLING_TIER_DIR (a fresh directory in /dev/shm
// the harness makes per cluster). test_other_node_reads adds a worker of
// a node of its own; netns_test has nodes in network namespaces.
#define _GNU_SOURCE
#include <starling/starling.h>

#include <cblas.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <hiredis/hiredis.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../store/manifest.h"
#include "../../store/store.h"
#include "harness.h"
#include "testutil.h"

static sl__cluster_info s_info;
static sl_client *s_client;
static sl_module s_mod;      // tests/modules/testmod.c, version 1
static sl__store *s_store;   // the cluster's Redis, to look at what it holds
static char s_password[256]; // its password

static double
s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

static const char *
s_fn(const char *kernel)
{
    static char buf[128];
    SL_PASS(sl_module_function(&s_mod, kernel, buf, sizeof(buf)));
    return buf;
}

static void
s_set(sl_value *m, const char *k, sl_value *v)
{
    SL_PASS(sl_value_map_set(m, k, &v));
}

// A float64 vector of n elements, element j = seed * 1e6 + j: every byte
// depends on the seed and the place.
static sl_value *
s_vector(int64_t n, int seed)
{
    sl_value *v = sl_value_new_ndarray(SL_F64, 1, &n, NULL);
    SL_ASSERT(v != NULL);
    double *x = sl_ndarray_data(v);
    for (int64_t j = 0; j < n; j++) {
        x[j] = (double) seed * 1e6 + (double) j;
    }
    return v;
}

static double
s_sum(const sl_value *v)
{
    const double *x = sl_ndarray_cdata(v);
    double s = 0;
    for (size_t i = 0; i < sl_ndarray_size(v); i++) {
        s += x[i];
    }
    return s;
}

// a and b are ndarrays of one shape and dtype with the same bytes.
static bool
s_same_array(const sl_value *a, const sl_value *b)
{
    return sl_value_type(a) == SL_NDARRAY && sl_value_type(b) == SL_NDARRAY &&
           sl_ndarray_dtype(a) == sl_ndarray_dtype(b) &&
           sl_ndarray_nbytes(a) == sl_ndarray_nbytes(b) &&
           memcmp(sl_ndarray_cdata(a), sl_ndarray_cdata(b),
                  sl_ndarray_nbytes(a)) == 0;
}

// The path of the object file of key in the test's tiers into buf; false
// when there is none.
static bool
s_object_path(const char *key, char *buf, size_t size)
{
    char pattern[1024];
    glob_t g;
    snprintf(pattern, sizeof(pattern), "%s/starling-%u/*/%s",
             getenv("STARLING_TIER_DIR"), (unsigned) getuid(), key);
    bool found = glob(pattern, 0, NULL, &g) == 0 && g.gl_pathc == 1;
    if (found) {
        snprintf(buf, size, "%s", g.gl_pathv[0]);
    }
    globfree(&g);
    return found;
}

// What the store holds under key is a location (no bytes of the object):
// the object lives in a node's tier alone, the node that *loc names.
static bool
s_located_only(const char *key, sl__location *loc)
{
    void *buf = NULL;
    size_t len = 0;
    bool located = sl__store_get(s_store, key, -1, &buf, &len) == SL_OK &&
                   sl__location_decode(buf, len, loc);
    free(buf);
    return located;
}

// The bytes of the object files in the test's tiers, and how many.
static uint64_t
s_tier_bytes(size_t *objects)
{
    char pattern[1024];
    glob_t g;
    uint64_t bytes = 0;
    snprintf(pattern, sizeof(pattern), "%s/starling-%u/*/*",
             getenv("STARLING_TIER_DIR"), (unsigned) getuid());
    *objects = 0;
    if (glob(pattern, 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++) {
            struct stat st;
            if (stat(g.gl_pathv[i], &st) == 0 && S_ISREG(st.st_mode)) {
                bytes += (uint64_t) st.st_size;
                (*objects)++;
            }
        }
    }
    globfree(&g);
    return bytes;
}

// Map vsum_who over n tasks of {"a": ref, "ms": ms} and wait.
static sl_job
s_map_vsum(const sl_value *ref, int n, int ms, const sl_job_opts *opts)
{
    sl_value *args[64];
    SL_ASSERT(n <= 64);
    for (int i = 0; i < n; i++) {
        args[i] = sl_value_new_map();
        s_set(args[i], "a", sl_value_copy(ref));
        s_set(args[i], "ms", sl_value_new_int(ms));
    }
    sl_job job;
    SL_PASS(sl_map(s_client, s_fn("vsum_who"), args, (size_t) n, opts, &job));
    SL_PASS(sl_wait(s_client, &job, 1, SL_ALL_COMPLETED, 60000));
    for (int i = 0; i < n; i++) {
        sl_value_destroy(&args[i]);
    }
    return job;
}

// Every task of job (vsum_who) ended OK with sum want.
static void
s_assert_sums(sl_job job, double want)
{
    for (size_t i = 0; i < sl_job_size(s_client, job); i++) {
        const sl_result *r = sl_job_result(s_client, job, i);
        if (r->status != SL_TASK_OK) {
            SL_FAIL_AT("task %zu: status %d: %s", i, (int) r->status,
                       r->error != NULL ? r->error : "");
        }
        const sl_value *v;
        SL_PASS(sl_job_value(s_client, job, i, &v));
        SL_ASSERT_NEAR(sl_value_float(sl_value_map_get(v, "sum")), want, 0);
    }
}

// The node's slots work: a small map of vsum_who over a new put is right.
static void
s_assert_serves(void)
{
    sl_value *a = s_vector(1 << 14, 99), *ref;
    SL_PASS(sl_put(s_client, a, &ref));
    sl_job job = s_map_vsum(ref, 8, 0, NULL);
    s_assert_sums(job, s_sum(a));
    sl_job_release(s_client, job);
    sl_value_destroy(&ref);
    sl_value_destroy(&a);
}

// ---------------------------------------------------------------------
// Cluster A: 2 workers of 2 slots, no input cache (each task maps or
// fetches its inputs itself, so its bytes_mapped and bytes_read tell).

// A client's 4 MiB put, read by 16 tasks on both workers of the node: each
// task maps it in place (bytes_mapped is its size; bytes_read only its
// argument, the ref), nothing is copied into the store, and every sum is
// right. The client's own get maps it too.
static void
test_put_read_in_place(void)
{
    enum { N = 16, LEN = 1 << 19 }; // 4 MiB of f64
    sl_value *a = s_vector(LEN, 1), *ref = NULL;
    SL_PASS(sl_put(s_client, a, &ref));
    char path[1024];
    SL_ASSERT(s_object_path(sl_ref_key(ref), path, sizeof(path)));
    uint64_t size = sl_ref_size(ref);
    SL_ASSERT(size >= (uint64_t) LEN * 8);
    sl__location loc;
    SL_ASSERT(s_located_only(sl_ref_key(ref), &loc));
    SL_ASSERT_EQ(loc.size, size);

    double t0 = s_now();
    sl_job job = s_map_vsum(ref, N, 100, NULL);
    double took = s_now() - t0;
    s_assert_sums(job, s_sum(a));
    bool ran_on[2] = {false, false};
    uint64_t max_read = 0;
    for (size_t i = 0; i < N; i++) {
        const sl_result *r = sl_job_result(s_client, job, i);
        SL_ASSERT(r->bytes_mapped >= size);
        SL_ASSERT(r->bytes_read < 4096); // the argument: a ref
        max_read = r->bytes_read > max_read ? r->bytes_read : max_read;
        const sl_value *v;
        SL_PASS(sl_job_value(s_client, job, i, &v));
        int64_t who = sl_value_int(sl_value_map_get(v, "worker"));
        bool known = false;
        for (int w = 0; w < 2; w++) {
            if (who == s_info.worker_pids[w]) {
                ran_on[w] = known = true;
            }
        }
        SL_ASSERT(known);
    }
    SL_ASSERT(ran_on[0] && ran_on[1]);
    sl_job_stats st;
    SL_PASS(sl_job_stats_get(s_client, job, &st));
    SL_ASSERT(st.bytes_mapped >= N * size);
    fprintf(stderr,
            "   %d tasks on 2 workers mapped %.1f MiB in place (%.0f KiB "
            "each), read at most %llu bytes each; %.2f s\n",
            N, (double) st.bytes_mapped / (1 << 20), (double) size / 1024,
            (unsigned long long) max_read, took);
    sl_job_release(s_client, job);

    // The client's get maps the same object.
    sl_value *got = NULL;
    SL_PASS(sl_get(s_client, ref, &got));
    SL_ASSERT(s_same_array(got, a));
    sl_value_destroy(&got);
    sl_value_destroy(&ref);
    sl_value_destroy(&a);
}

// Another user (nobody, 65534) can neither enter the tiers' directory nor
// open an object file in it: a forked child drops to that user and tries.
// Needs root to change users; as another user the test says it is skipped.
static void
test_other_user_refused(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "   skipped: changing users needs root\n");
        return;
    }
    sl_value *a = s_vector(1 << 14, 7), *ref = NULL; // 128 KiB
    SL_PASS(sl_put(s_client, a, &ref));
    char path[1024];
    SL_ASSERT(s_object_path(sl_ref_key(ref), path, sizeof(path)));
    struct stat st;
    SL_ASSERT(stat(path, &st) == 0);
    SL_ASSERT_EQ(st.st_mode & 0777, 0600);
    fflush(stderr);
    pid_t pid = fork();
    SL_ASSERT(pid >= 0);
    if (pid == 0) {
        if (setgroups(0, NULL) != 0 || setgid(65534) != 0 ||
            setuid(65534) != 0) {
            _exit(3);
        }
        int fd = open(path, O_RDONLY);
        // Denied: the directories on the way are 0700 and the file 0600.
        _exit(fd < 0 && errno == EACCES ? 0 : 1);
    }
    int status = 0;
    SL_ASSERT(waitpid(pid, &status, 0) == pid);
    SL_ASSERT(WIFEXITED(status));
    SL_ASSERT_EQ(WEXITSTATUS(status), 0);
    fprintf(stderr, "   user 65534 cannot open %s: EACCES\n", path);
    sl_value_destroy(&ref);
    sl_value_destroy(&a);
}

// Damage the object file at path: "truncate" cuts its last 4 KiB off,
// "flip" inverts its last byte (one of the data's).
static void
s_damage(const char *path, const char *how)
{
    struct stat st;
    SL_ASSERT(stat(path, &st) == 0);
    if (strcmp(how, "truncate") == 0) {
        SL_ASSERT(truncate(path, st.st_size - 4096) == 0);
        return;
    }
    int fd = open(path, O_RDWR);
    SL_ASSERT(fd >= 0);
    uint8_t b;
    SL_ASSERT(pread(fd, &b, 1, st.st_size - 1) == 1);
    b ^= 0xff;
    SL_ASSERT(pwrite(fd, &b, 1, st.st_size - 1) == 1);
    close(fd);
}

// A put whose only copy is a tier file that was damaged (truncated, or a
// data byte changed) before any task read it: the tasks over it end with
// an error that says the object is damaged, at once (not after waiting
// for a node to send it), and the workers serve on. The first reader
// says how (and removes the file); those after it find no file where
// the store says the object lives, and say it may have been damaged.
static void
test_damaged_object(void)
{
    const char *hows[] = {"truncate", "flip"};
    const char *why[] = {"does not match its header (truncated?)",
                         "its bytes do not match its hash"};
    for (int h = 0; h < 2; h++) {
        sl_value *a = s_vector(1 << 16, 10 + h), *ref = NULL;
        SL_PASS(sl_put(s_client, a, &ref));
        char path[1024];
        SL_ASSERT(s_object_path(sl_ref_key(ref), path, sizeof(path)));
        s_damage(path, hows[h]);
        double t0 = s_now();
        sl_job job = s_map_vsum(ref, 4, 0, NULL);
        double took = s_now() - t0;
        const char *first = NULL;
        for (size_t i = 0; i < 4; i++) {
            const sl_result *r = sl_job_result(s_client, job, i);
            SL_ASSERT_EQ(r->status, SL_TASK_ERROR);
            SL_ASSERT_HAS(r->error, sl_ref_key(ref));
            SL_ASSERT_HAS(r->error, "damaged");
            if (strstr(r->error, why[h]) != NULL) {
                first = r->error;
            }
        }
        SL_ASSERT(first != NULL);
        fprintf(stderr, "   %s: 4 tasks failed in %.2f s: %s\n", hows[h], took,
                first);
        SL_ASSERT(took < 10.0);
        sl_job_release(s_client, job);
        sl_value_destroy(&ref);
        sl_value_destroy(&a);
        s_assert_serves();
    }
}

// A kernel that writes into its argument, an object mapped from the
// tier: the write kills its executor (SIGSEGV), each attempt, and the
// task ends FAILED saying so; the object is intact (the client's get, and
// blas.ddot over it, see the bytes it put), and the workers serve on.
static void
test_kernel_writes_argument(void)
{
    sl_value *a = s_vector(1 << 16, 3), *ref = NULL;
    SL_PASS(sl_put(s_client, a, &ref));
    sl_value *arg = sl_value_new_map();
    s_set(arg, "a", sl_value_copy(ref));
    sl_job_opts opts = {.max_attempts = 2};
    sl_job job;
    SL_PASS(sl_map(s_client, s_fn("scribble"), &arg, 1, &opts, &job));
    SL_PASS(sl_wait(s_client, &job, 1, SL_ALL_COMPLETED, 60000));
    const sl_result *r = sl_job_result(s_client, job, 0);
    SL_ASSERT_EQ(r->status, SL_TASK_FAILED);
    SL_ASSERT_EQ(r->attempts, 2);
    SL_ASSERT_HAS(r->error, "killed 2 executors in 2 attempts");
#ifdef __SANITIZE_ADDRESS__
    // AddressSanitizer takes the SIGSEGV, reports the write, and exits 1.
    SL_ASSERT_HAS(r->error, "exited with status 1");
    char cmd[1200];
    snprintf(cmd, sizeof(cmd),
             "cat %s/worker-*.log | grep -q 'caused by a WRITE memory access'",
             s_info.home);
    SL_ASSERT(system(cmd) == 0);
#else
    SL_ASSERT_HAS(r->error, strsignal(SIGSEGV));
#endif
    fprintf(stderr, "   scribble: %s\n", r->error);
    sl_job_release(s_client, job);
    sl_value_destroy(&arg);

    sl_value *got = NULL;
    SL_PASS(sl_get(s_client, ref, &got));
    SL_ASSERT(s_same_array(got, a));
    sl_value_destroy(&got);
    arg = sl_value_new_map();
    s_set(arg, "x", sl_value_copy(ref));
    s_set(arg, "y", sl_value_copy(ref));
    SL_PASS(sl_call_async(s_client, "blas.ddot", arg, NULL, &job));
    SL_PASS(sl_wait(s_client, &job, 1, SL_ALL_COMPLETED, 60000));
    r = sl_job_result(s_client, job, 0);
    SL_ASSERT_EQ(r->status, SL_TASK_OK);
    SL_ASSERT(r->bytes_mapped >= 2 * sl_ref_size(ref));
    const sl_value *v;
    SL_PASS(sl_job_value(s_client, job, 0, &v));
    const double *x = sl_ndarray_cdata(a);
    int n = (int) sl_ndarray_size(a);
    SL_ASSERT_NEAR(sl_value_float(v), cblas_ddot(n, x, 1, x, 1),
                   1e-9 * cblas_ddot(n, x, 1, x, 1));
    sl_job_release(s_client, job);
    sl_value_destroy(&arg);
    for (int i = 0; i < s_info.n_workers; i++) {
        SL_ASSERT(kill(sl__harness_info()->worker_pids[i], 0) == 0);
    }
    sl_value_destroy(&ref);
    sl_value_destroy(&a);
}

// Start a worker of another node ("far", one slot) beside the cluster's
// and wait until the scheduler counts it; its pid into *pid.
static void
s_far_worker_start(pid_t *pid)
{
    char cert[1024];
    snprintf(cert, sizeof(cert), "%s/keys/worker_secret", s_info.home);
    char *argv[] = {"starling-worker",
                    "--scheduler",
                    s_info.workers_endpoint,
                    "--slots",
                    "1",
                    "--name",
                    "far/0",
                    "--cache-mb",
                    "0",
                    "--cert",
                    cert,
                    "--server-cert",
                    s_info.server_cert,
                    NULL};
    SL_PASS(sl__harness_spawn(argv, "worker-far.log", pid));
    sl_cluster_status st;
    double t0 = s_now();
    do {
        usleep(20 * 1000);
        SL_PASS(sl_cluster_status_get(s_client, &st));
        SL_ASSERT(s_now() - t0 < 30);
    } while (st.workers < (uint32_t) s_info.n_workers + 1);
}

// A put of this node read by tasks on a worker of another node (on this
// machine, named "far"): they ask this node for it on its want list, one
// of its workers copies it into the store, and they fetch it (bytes_read,
// not mapped), right, and keep a copy in far's tier. A damaged only copy
// fails far's tasks at once, as it does this node's.
static void
test_other_node_reads(void)
{
    enum { N = 30 };
    pid_t far;
    s_far_worker_start(&far);
    sl_value *a = s_vector(1 << 17, 7), *ref = NULL; // 1 MiB
    SL_PASS(sl_put(s_client, a, &ref));
    sl__location loc;
    SL_ASSERT(s_located_only(sl_ref_key(ref), &loc));
    double t0 = s_now();
    sl_job job = s_map_vsum(ref, N, 50, NULL);
    double took = s_now() - t0;
    s_assert_sums(job, s_sum(a));
    int on_far = 0;
    for (size_t i = 0; i < N; i++) {
        const sl_result *r = sl_job_result(s_client, job, i);
        const sl_value *v;
        SL_PASS(sl_job_value(s_client, job, i, &v));
        if (sl_value_int(sl_value_map_get(v, "worker")) == far) {
            on_far++;
            // Copied: from the store, or from far's tier once cached.
            SL_ASSERT(r->bytes_read >= sl_ref_size(ref) ||
                      r->bytes_mapped >= sl_ref_size(ref));
        } else {
            SL_ASSERT(r->bytes_mapped >= sl_ref_size(ref));
        }
    }
    SL_ASSERT(on_far > 0);
    // The store has its bytes now (the want was served), and far's tier a
    // copy.
    SL_ASSERT(!s_located_only(sl_ref_key(ref), &loc));
    char pattern[1024];
    glob_t g;
    snprintf(pattern, sizeof(pattern), "%s/starling-%u/*.far/%s",
             getenv("STARLING_TIER_DIR"), (unsigned) getuid(), sl_ref_key(ref));
    SL_ASSERT(glob(pattern, 0, NULL, &g) == 0 && g.gl_pathc == 1);
    globfree(&g);
    fprintf(stderr,
            "   %d of %d tasks ran on node far and got the object through "
            "the want list; %.2f s\n",
            on_far, N, took);
    sl_job_release(s_client, job);
    sl_value_destroy(&ref);

    // Its only copy damaged before any task read it: the tasks on this
    // node fail as test_damaged_object's do; one on far asks this node,
    // whose worker finds no copy left and drops the location, so that it
    // fails at once too ("no longer has it"), not after the 60 s a want
    // may wait. Until a task ran on far (the scheduler places them).
    int remote = 0;
    for (int round = 0; round < 5 && remote == 0; round++) {
        SL_PASS(sl_put(s_client, a, &ref));
        char path[1024];
        SL_ASSERT(s_object_path(sl_ref_key(ref), path, sizeof(path)));
        s_damage(path, "truncate");
        t0 = s_now();
        job = s_map_vsum(ref, 20, 0, NULL);
        took = s_now() - t0;
        for (size_t i = 0; i < 20; i++) {
            const sl_result *r = sl_job_result(s_client, job, i);
            SL_ASSERT_EQ(r->status, SL_TASK_ERROR);
            if (strstr(r->error, "node vm, where it lived, no longer has it")) {
                remote++;
            } else if (strstr(r->error, "damaged") == NULL &&
                       strstr(r->error, "no such object") == NULL) {
                SL_FAIL_AT("task %zu: %s", i, r->error);
            }
        }
        fprintf(stderr,
                "   a damaged only copy: 20 tasks failed in %.2f s, %d on "
                "far\n",
                took, remote);
        SL_ASSERT(took < 10.0);
        sl_job_release(s_client, job);
        sl_value_destroy(&ref);
    }
    SL_ASSERT(remote > 0);
    sl_value_destroy(&a);
    SL_PASS(sl__harness_stop_pid(far, NULL));
}

// The argument of task i of the kill test: {"x": a 128 KiB vector of its
// own, "ms": ms}; testmod's delay returns x, a result that stays in the
// tier.
static sl_value *
s_delay_arg(int i, int ms)
{
    sl_value *arg = sl_value_new_map();
    s_set(arg, "x", s_vector(1 << 14, 1000 + i));
    s_set(arg, "ms", sl_value_new_int(ms));
    return arg;
}

// Every worker of the node killed (SIGKILL) in the middle of a job whose
// results are 128 KiB arrays, kept only in the node's tier: the results
// that had arrived are still readable with no worker running (the files
// outlive their writers); the workers started again take the tier over,
// the job completes, and every result is its task's x.
static void
test_workers_killed(void)
{
    enum { N = 48, MS = 150, BEFORE = 8 };
    sl_value *args[N];
    for (int i = 0; i < N; i++) {
        args[i] = s_delay_arg(i, MS);
    }
    sl_job job;
    SL_PASS(sl_map(s_client, s_fn("delay"), args, N, NULL, &job));
    double t0 = s_now();
    while (sl_job_done(s_client, job) < BEFORE) {
        SL_PASS(sl_wait(s_client, &job, 1, SL_ALWAYS, 0));
        SL_ASSERT(s_now() - t0 < 30);
        usleep(5000);
    }
    for (int i = 0; i < s_info.n_workers; i++) {
        SL_PASS(sl__harness_kill_worker(i));
    }
    SL_PASS(sl_wait(s_client, &job, 1, SL_ALWAYS, 0));
    size_t done = sl_job_done(s_client, job);
    SL_ASSERT(done < N);
    // What arrived is in the tier, and nowhere else: read it now, with no
    // worker of the node alive.
    size_t checked = 0;
    for (size_t i = 0; i < N; i++) {
        const sl_result *r = sl_job_result(s_client, job, i);
        if (r->status == SL_TASK_PENDING) {
            continue;
        }
        SL_ASSERT_EQ(r->status, SL_TASK_OK);
        char key[128], path[1024];
        snprintf(key, sizeof(key), "sl:j%016llx:r%zu",
                 (unsigned long long) job.id, i);
        SL_ASSERT(s_object_path(key, path, sizeof(path)));
        sl__location loc;
        SL_ASSERT(s_located_only(key, &loc));
        const sl_value *v;
        SL_PASS(sl_job_value(s_client, job, i, &v));
        SL_ASSERT(s_same_array(v, sl_value_map_get(args[i], "x")));
        checked++;
    }
    SL_ASSERT(checked >= BEFORE);
    fprintf(stderr,
            "   killed both workers with %zu of %d results in (%zu read "
            "back with no worker up)\n",
            done, N, checked);
    for (int i = 0; i < s_info.n_workers; i++) {
        SL_PASS(sl__harness_restart_worker(i));
    }
    s_info = *sl__harness_info();
    SL_PASS(sl_wait(s_client, &job, 1, SL_ALL_COMPLETED, 60000));
    size_t retried = 0;
    for (size_t i = 0; i < N; i++) {
        const sl_result *r = sl_job_result(s_client, job, i);
        SL_ASSERT_EQ(r->status, SL_TASK_OK);
        retried += r->attempts > 1;
        const sl_value *v;
        SL_PASS(sl_job_value(s_client, job, i, &v));
        SL_ASSERT(s_same_array(v, sl_value_map_get(args[i], "x")));
    }
    fprintf(stderr, "   job done %.2f s after submit; %zu tasks re-ran\n",
            s_now() - t0, retried);
    SL_ASSERT(retried > 0);
    sl_job_release(s_client, job);
    for (int i = 0; i < N; i++) {
        sl_value_destroy(&args[i]);
    }
    s_assert_serves();
}

// ---------------------------------------------------------------------
// Cluster B: a 4 MiB tier, 2 workers of 1 slot, no input cache.

#define S_BUDGET_MB 4

// Set Redis's maxmemory (bytes; "0": none): with a limit below what it
// holds, it refuses every write (noeviction).
static void
s_redis_maxmemory(const char *bytes)
{
    char host[64];
    snprintf(host, sizeof(host), "%s", s_info.redis);
    char *colon = strrchr(host, ':');
    SL_ASSERT(colon != NULL);
    *colon = '\0';
    redisContext *r = redisConnect(host, atoi(colon + 1));
    SL_ASSERT(r != NULL && r->err == 0);
    const char *cmds[][4] = {
        {"AUTH", s_password},
        {"CONFIG", "SET", "maxmemory-policy", "noeviction"},
        {"CONFIG", "SET", "maxmemory", bytes},
    };
    int argc[] = {2, 4, 4};
    for (int i = 0; i < 3; i++) {
        redisReply *reply = redisCommandArgv(r, argc[i], cmds[i], NULL);
        SL_ASSERT(reply != NULL && reply->type == REDIS_REPLY_STATUS);
        freeReplyObject(reply);
    }
    redisFree(r);
}

// A full tier whose objects cannot be spilled (Redis refuses writes): a
// put that would pass the budget fails with SL_ELIMIT naming it, and no
// object already in the tier is dropped. Once Redis takes writes again,
// the put goes in (spilling the least recently used) and every object
// reads back right.
static void
test_full_tier_cannot_spill(void)
{
    enum { FIT = 7, LEN = 1 << 16 }; // 7 x 512 KiB fit in 4 MiB, 8 do not
    sl_value *vals[FIT + 1], *refs[FIT + 1];
    for (int i = 0; i <= FIT; i++) {
        vals[i] = s_vector(LEN, 100 + i);
        refs[i] = NULL;
    }
    for (int i = 0; i < FIT; i++) {
        SL_PASS(sl_put(s_client, vals[i], &refs[i]));
    }
    size_t objects;
    s_tier_bytes(&objects);
    SL_ASSERT_EQ(objects, FIT);
    s_redis_maxmemory("1");
    sl_err rv = sl_put(s_client, vals[FIT], &refs[FIT]);
    char why[SL_ERRSTR_LEN];
    snprintf(why, sizeof(why), "%s", sl_client_errstr(s_client));
    s_redis_maxmemory("0");
    fprintf(stderr, "   with Redis refusing writes: %s: %s\n", sl_strerror(rv),
            why);
    SL_ASSERT_EQ(rv, SL_ELIMIT);
    SL_ASSERT_HAS(why, "budget of 4.0 MiB");
    SL_ASSERT_HAS(why, "--tier-budget-mb");
    s_tier_bytes(&objects);
    SL_ASSERT_EQ(objects, FIT);
    SL_PASS(sl_put(s_client, vals[FIT], &refs[FIT]));
    for (int i = 0; i <= FIT; i++) {
        sl_value *got = NULL;
        SL_PASS(sl_get(s_client, refs[i], &got));
        SL_ASSERT(s_same_array(got, vals[i]));
        sl_value_destroy(&got);
        sl_value_destroy(&refs[i]);
        sl_value_destroy(&vals[i]);
    }
}

// 24 puts of 512 KiB (12 MiB) into a 4 MiB tier: each put either lands
// (evicting older objects, which were spilled to the store first) or
// fails with SL_ELIMIT naming the budget; no object is lost. The tier
// stays within its budget; every object put reads back right, from the
// client and from tasks.
static void
test_full_tier(void)
{
    enum { N = 24, LEN = 1 << 16 }; // 512 KiB of f64 each
    sl_value *vals[N], *refs[N];
    int stored = 0, refused = 0;
    for (int i = 0; i < N; i++) {
        vals[i] = s_vector(LEN, 200 + i);
        refs[i] = NULL;
        sl_err rv = sl_put(s_client, vals[i], &refs[i]);
        if (rv == SL_ELIMIT) {
            SL_ASSERT_HAS(sl_client_errstr(s_client), "budget");
            refused++;
            continue;
        }
        SL_PASS(rv);
        stored++;
        size_t objects;
        uint64_t bytes = s_tier_bytes(&objects);
        SL_ASSERT(bytes <= (uint64_t) S_BUDGET_MB << 20);
    }
    size_t objects;
    uint64_t bytes = s_tier_bytes(&objects);
    fprintf(stderr,
            "   %d puts stored, %d refused; the tier holds %zu objects, "
            "%.2f MiB of %d\n",
            stored, refused, objects, (double) bytes / (1 << 20), S_BUDGET_MB);
    SL_ASSERT(stored > 2 * S_BUDGET_MB); // more than the budget went in
    int evicted = 0;
    for (int i = 0; i < N; i++) {
        if (refs[i] == NULL) {
            continue;
        }
        // Each object is in the tier, or its bytes are in the store.
        char path[1024];
        sl__location loc;
        if (!s_object_path(sl_ref_key(refs[i]), path, sizeof(path))) {
            SL_ASSERT(!s_located_only(sl_ref_key(refs[i]), &loc));
            evicted++;
        }
        sl_value *got = NULL;
        SL_PASS(sl_get(s_client, refs[i], &got));
        SL_ASSERT(s_same_array(got, vals[i]));
        sl_value_destroy(&got);
    }
    // (The client's gets of evicted objects cache them again, evicting
    // others, which are checked after.)
    SL_ASSERT(evicted >= stored - 2 * S_BUDGET_MB);
    fprintf(stderr, "   %d were evicted, with their bytes in the store\n",
            evicted);
    // Tasks over every object (the evicted ones come from the store and
    // are cached in the tier again, evicting others).
    sl_value *args[N];
    size_t n = 0;
    for (int i = 0; i < N; i++) {
        if (refs[i] != NULL) {
            args[n] = sl_value_new_map();
            s_set(args[n++], "a", sl_value_copy(refs[i]));
        }
    }
    sl_job job;
    SL_PASS(sl_map(s_client, s_fn("vsum_who"), args, n, NULL, &job));
    SL_PASS(sl_wait(s_client, &job, 1, SL_ALL_COMPLETED, 60000));
    uint64_t copied = 0;
    for (size_t j = 0, i = 0; j < n; j++, i++) {
        while (refs[i] == NULL) {
            i++;
        }
        const sl_result *r = sl_job_result(s_client, job, j);
        if (r->status != SL_TASK_OK) {
            SL_FAIL_AT("task %zu: %s", j, r->error);
        }
        const sl_value *v;
        SL_PASS(sl_job_value(s_client, job, j, &v));
        SL_ASSERT_NEAR(sl_value_float(sl_value_map_get(v, "sum")),
                       s_sum(vals[i]), 0);
        copied += r->bytes_read > sl_ref_size(refs[i]);
        sl_value_destroy(&args[j]);
    }
    fprintf(stderr,
            "   %zu tasks right; %llu read their object from the "
            "store\n",
            n, (unsigned long long) copied);
    SL_ASSERT(copied > 0);
    sl_job_release(s_client, job);
    bytes = s_tier_bytes(&objects);
    SL_ASSERT(bytes <= (uint64_t) S_BUDGET_MB << 20);
    for (int i = 0; i < N; i++) {
        sl_value_destroy(&refs[i]);
        sl_value_destroy(&vals[i]);
    }
}

// A worker's copy of an object that is in the store too (spilled by the
// client's tier, then fetched by a task and kept in the worker's tier)
// damaged: the next task over it falls back to the store and reads it
// right.
static void
test_damaged_copy_falls_back(void)
{
    enum { LEN = 1 << 16 };
    // Fill the tier past its budget, so that older puts are spilled and
    // evicted. (Which ones is not exact: the tier's LRU order is its
    // files' mtimes, which the kernel keeps to a tick of a few ms.)
    sl_value *vals[12], *refs[12];
    for (int i = 0; i < 12; i++) {
        vals[i] = s_vector(LEN, 300 + i);
        SL_PASS(sl_put(s_client, vals[i], &refs[i]));
    }
    char path[1024];
    int e = 0;
    while (e < 12 && s_object_path(sl_ref_key(refs[e]), path, sizeof(path))) {
        e++;
    }
    SL_ASSERT(e < 12);
    // A task fetches it from the store and caches it in the tier.
    sl_job job = s_map_vsum(refs[e], 1, 0, NULL);
    s_assert_sums(job, s_sum(vals[e]));
    SL_ASSERT(sl_job_result(s_client, job, 0)->bytes_read >=
              sl_ref_size(refs[e]));
    sl_job_release(s_client, job);
    SL_ASSERT(s_object_path(sl_ref_key(refs[e]), path, sizeof(path)));
    s_damage(path, "flip");
    job = s_map_vsum(refs[e], 1, 0, NULL);
    s_assert_sums(job, s_sum(vals[e]));
    const sl_result *r = sl_job_result(s_client, job, 0);
    SL_ASSERT(r->bytes_read >= sl_ref_size(refs[e]));
    fprintf(stderr,
            "   a damaged cached copy: the task read %llu bytes from the "
            "store instead\n",
            (unsigned long long) r->bytes_read);
    sl_job_release(s_client, job);
    for (int i = 0; i < 12; i++) {
        sl_value_destroy(&refs[i]);
        sl_value_destroy(&vals[i]);
    }
}

// A worker started again (after a kill) gets the cluster's tier budget:
// the launcher kept it in the cluster's record.
static void
test_restart_keeps_budget(void)
{
    SL_PASS(sl__harness_kill_worker(0));
    SL_PASS(sl__harness_restart_worker(0));
    s_info = *sl__harness_info();
    char path[64], args[4096];
    snprintf(path, sizeof(path), "/proc/%d/cmdline",
             (int) s_info.worker_pids[0]);
    FILE *f = fopen(path, "r");
    SL_ASSERT(f != NULL);
    size_t n = fread(args, 1, sizeof(args) - 1, f);
    fclose(f);
    bool found = false;
    for (size_t i = 0; i + 1 < n; i += strlen(args + i) + 1) {
        if (strcmp(args + i, "--tier-budget-mb") == 0) {
            found = true;
            SL_ASSERT_STR(args + i + strlen(args + i) + 1, "4");
        }
    }
    SL_ASSERT(found);
    s_assert_serves();
}

static void
s_cluster_start(const sl__cluster_opts *opts)
{
    SL_PASS(sl__harness_start_opts(opts, &s_info));
    SL_PASS(sl_client_connect(&s_client, s_info.scheduler));
    SL_PASS(sl_module_register(s_client, TESTMOD_V1, &s_mod));
    char path[1024], errbuf[SL_ERRSTR_LEN];
    snprintf(path, sizeof(path), "%s/redis.pass", s_info.home);
    FILE *f = fopen(path, "r");
    SL_ASSERT(f != NULL && fgets(s_password, sizeof(s_password), f) != NULL);
    fclose(f);
    s_password[strcspn(s_password, "\n")] = '\0';
    sl__store_opts o = {
        .addrs = {s_info.redis}, .n_addrs = 1, .password = s_password};
    if (sl__store_connect(&s_store, &o, errbuf) != SL_OK) {
        SL_FAIL_AT("store: %s", errbuf);
    }
}

static void
s_cluster_stop(void)
{
    sl__store_destroy(&s_store);
    sl_client_destroy(&s_client);
    sl__harness_stop();
}

int
main(void)
{
    double t0 = s_now();
    sl__cluster_opts a = {.workers = 2, .slots = 2, .cache_mb = -1};
    s_cluster_start(&a);
    SL_RUN(test_put_read_in_place);
    SL_RUN(test_other_user_refused);
    SL_RUN(test_damaged_object);
    SL_RUN(test_kernel_writes_argument);
    SL_RUN(test_other_node_reads);
    SL_RUN(test_workers_killed); // last on A: its workers are new
    s_cluster_stop();
    sl__cluster_opts b = {.workers = 2,
                          .slots = 1,
                          .cache_mb = -1,
                          .tier_budget_mb = S_BUDGET_MB};
    s_cluster_start(&b);
    SL_RUN(test_full_tier_cannot_spill); // first: on an empty tier
    SL_RUN(test_full_tier);
    SL_RUN(test_damaged_copy_falls_back);
    SL_RUN(test_restart_keeps_budget);
    s_cluster_stop();
    fprintf(stderr, "tier_test: %.1f s\n", s_now() - t0);
    return 0;
}
