// flops.c - aggregate GFLOPS over every slot of the cluster (PyWren's
// benchmark), beside bare OpenBLAS doing the same work on the same cores.
//
// Maps bench.gemm_flops (each task multiplies two random n x n matrices,
// reps times) over tasks = 4 x slots, and reports the job's FLOPs over its
// wall time. The baseline forks one single-threaded OpenBLAS process per
// slot and runs the same number of the same gemms, with no scheduler, once
// before the map and once after.
//
//   starling up && ./flops [--n 2048] [--tasks T] [--reps 1] [--dtype f64]
#include <starling/starling.h>

#include <cblas.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

// One task's work, done bare: allocate, fill, multiply reps times.
static void
bare_gemm(int n, int reps, bool f32, uint64_t seed)
{
    size_t nn = (size_t) n * (size_t) n;
    size_t esize = f32 ? sizeof(float) : sizeof(double);
    void *a = aligned_alloc(64, nn * esize);
    void *b = aligned_alloc(64, nn * esize);
    void *c = aligned_alloc(64, nn * esize);
    for (size_t i = 0; i < nn; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        double x = (double) (seed >> 11) / 9007199254740992.0 - 0.5;
        if (f32) {
            ((float *) a)[i] = (float) x;
            ((float *) b)[i] = (float) -x;
        } else {
            ((double *) a)[i] = x;
            ((double *) b)[i] = -x;
        }
    }
    for (int r = 0; r < reps; r++) {
        if (f32) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n,
                        1.0f, a, n, b, n, 0.0f, c, n);
        } else {
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0,
                        a, n, b, n, 0.0, c, n);
        }
    }
    free(a);
    free(b);
    free(c);
}

// The baseline: procs processes, each single-threaded, share tasks gemms.
static double
bare_seconds(int procs, int tasks, int n, int reps, bool f32)
{
    double t0 = now();
    for (int p = 0; p < procs; p++) {
        pid_t pid = fork();
        if (pid == 0) {
            openblas_set_num_threads(1);
            for (int t = p; t < tasks; t += procs) {
                bare_gemm(n, reps, f32, (uint64_t) t + 1);
            }
            _exit(0);
        }
    }
    for (int p = 0; p < procs; p++) {
        wait(NULL);
    }
    return now() - t0;
}

int
main(int argc, char **argv)
{
    int n = 2048, tasks = 0, reps = 1;
    const char *dtype = "f64";
    static const struct option longopts[] = {
        {"n", required_argument, NULL, 'n'},
        {"tasks", required_argument, NULL, 't'},
        {"reps", required_argument, NULL, 'r'},
        {"dtype", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'n':
            n = atoi(optarg);
            break;
        case 't':
            tasks = atoi(optarg);
            break;
        case 'r':
            reps = atoi(optarg);
            break;
        case 'd':
            dtype = optarg;
            break;
        default:
            fprintf(stderr, "usage: flops [--n N] [--tasks T] [--reps R] "
                            "[--dtype f64|f32]\n");
            return 2;
        }
    }
    bool f32 = strcmp(dtype, "f32") == 0;
    sl_client *c;
    sl_cluster_status cs;
    sl_err rv = sl_client_connect(&c, NULL);
    if (rv != SL_OK || (rv = sl_cluster_status_get(c, &cs)) != SL_OK ||
        cs.slots == 0) {
        fprintf(stderr, "flops: no cluster with slots (%s)\n", sl_strerror(rv));
        return 1;
    }
    if (tasks <= 0) {
        tasks = 4 * (int) cs.slots;
    }

    // The map: one argument map per task.
    sl_value **args = calloc((size_t) tasks, sizeof(*args));
    for (int t = 0; t < tasks; t++) {
        args[t] = sl_value_new_map();
        sl_value *v = sl_value_new_int(n);
        sl_value_map_set(args[t], "n", &v);
        v = sl_value_new_int(reps);
        sl_value_map_set(args[t], "reps", &v);
        v = sl_value_new_str(dtype);
        sl_value_map_set(args[t], "dtype", &v);
    }
    // The baseline runs once before the map and once after it, and the
    // ratio is to their mean. Whichever runs first after memory lay free
    // for a while pays for fresh pages: on a virtual machine that hands
    // free pages back to its host (virtio-balloon free page reporting),
    // faulting them in again costs several times what reusing pages just
    // freed does, and a baseline run only after the map got the pages the
    // executors had just let go.
    double bare_before = bare_seconds((int) cs.slots, tasks, n, reps, f32);
    sl_job job;
    if ((rv = sl_map(c, "bench.gemm_flops", args, (size_t) tasks, NULL,
                     &job)) != SL_OK ||
        (rv = sl_wait(c, &job, 1, SL_ALL_COMPLETED, -1)) != SL_OK) {
        fprintf(stderr, "flops: %s: %s\n", sl_strerror(rv),
                sl_client_errstr(c));
        return 1;
    }
    sl_job_stats st;
    sl_job_stats_get(c, job, &st);
    double want = 2.0 * n * (double) n * n * reps;
    int bad = 0;
    for (int t = 0; t < tasks; t++) {
        const sl_result *r = sl_job_result(c, job, (size_t) t);
        if (r->status != SL_TASK_OK || r->flops != want) {
            fprintf(stderr, "task %d: %s\n", t,
                    r->error ? r->error : "wrong FLOP count");
            bad++;
        }
    }
    printf("starling:  %d tasks of %dx%d %s gemm x%d on %u slots: "
           "%.2f GFLOPS (wall %.2f s, %.1f GFLOPS per slot)\n",
           tasks, n, n, dtype, reps, cs.slots, st.gflops, st.wall_s,
           st.gflops / cs.slots);

    double bare_after = bare_seconds((int) cs.slots, tasks, n, reps, f32);
    double bare = (bare_before + bare_after) / 2;
    double bare_gflops = want * tasks / bare / 1e9;
    printf("bare:      %u single-threaded OpenBLAS processes, same work: "
           "%.2f GFLOPS (wall %.2f s before the map, %.2f s after)\n",
           cs.slots, bare_gflops, bare_before, bare_after);
    printf("ratio:     %.3f\n", st.gflops / bare_gflops);

    sl_job_release(c, job);
    for (int t = 0; t < tasks; t++) {
        sl_value_destroy(&args[t]);
    }
    free(args);
    sl_client_destroy(&c);
    return bad == 0 ? 0 : 1;
}
