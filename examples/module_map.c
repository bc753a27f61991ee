// module_map.c - run your own kernels: register a module, map over it.
//
// The module is examples/module (libsim.so): Monte-Carlo pi, and a 2-D
// heat stencil. The program estimates pi with a map_reduce of sim/pi, then
// runs a few steps of the stencil on a grid cut into strips, one task a
// strip (each with a halo row above and below), checked against the same
// steps done here.
//
//   starling up && ./module_map build-sim/libsim.so [TASKS]
#include <starling/starling.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 256     // the grid is N x N, its outer ring fixed
#define STRIPS 8  // tasks per stencil step
#define STEPS 10  // stencil steps
#define ALPHA 0.2 // diffusion per step

static sl_value *
arg2(const char *k1, sl_value *v1, const char *k2, sl_value *v2)
{
    sl_value *m = sl_value_new_map();
    sl_value_map_set(m, k1, &v1);
    sl_value_map_set(m, k2, &v2);
    return m;
}

// pi ~ 4 * inside / samples, over tasks of a million samples each.
static int
estimate_pi(sl_client *c, int tasks)
{
    const int64_t samples = 1000000;
    sl_value **args = calloc((size_t) tasks, sizeof(*args));
    for (int i = 0; i < tasks; i++) {
        args[i] = arg2("samples", sl_value_new_int(samples), "seed",
                       sl_value_new_int(i + 1));
    }
    sl_job job;
    const sl_value *sum;
    sl_err rv =
        sl_map_reduce(c, "sim/pi", args, (size_t) tasks, "sys.sum", NULL, &job);
    if (rv == SL_OK) {
        rv = sl_wait(c, &job, 1, SL_ALL_COMPLETED, -1);
    }
    if (rv == SL_OK && (rv = sl_job_value(c, job, 0, &sum)) == SL_OK) {
        double pi = 4.0 * (double) sl_value_int(sum) / (double) samples / tasks;
        printf("pi ~ %.6f (error %.1e) from %d x %lld samples\n", pi,
               fabs(pi - acos(-1.0)), tasks, (long long) samples);
    }
    for (int i = 0; i < tasks; i++) {
        sl_value_destroy(&args[i]);
    }
    free(args);
    if (rv != SL_OK) {
        fprintf(stderr, "pi: %s: %s\n", sl_strerror(rv), sl_client_errstr(c));
        return 1;
    }
    sl_job_release(c, job);
    return 0;
}

// The same step, here: the reference the tasks must match.
static void
local_step(double *u)
{
    static double out[N * N];
    memcpy(out, u, sizeof(out));
    for (int i = 1; i < N - 1; i++) {
        for (int j = 1; j < N - 1; j++) {
            const double *p = u + i * N + j;
            out[i * N + j] =
                *p + ALPHA * (p[-N] + p[N] + p[-1] + p[1] - 4 * *p);
        }
    }
    memcpy(u, out, sizeof(out));
}

// One distributed step: each strip of interior rows goes out with the row
// above and below it; its updated interior comes back into u.
static sl_err
remote_step(sl_client *c, double *u)
{
    const int rows = (N - 2) / STRIPS;
    sl_value *args[STRIPS];
    for (int s = 0; s < STRIPS; s++) {
        int first = 1 + s * rows, count = s + 1 < STRIPS ? rows : N - 1 - first;
        int64_t shape[2] = {count + 2, N};
        args[s] = arg2(
            "grid", sl_value_new_ndarray(SL_F64, 2, shape, u + (first - 1) * N),
            "alpha", sl_value_new_float(ALPHA));
    }
    sl_job job;
    sl_err rv = sl_map(c, "sim/stencil", args, STRIPS, NULL, &job);
    if (rv == SL_OK) {
        rv = sl_wait(c, &job, 1, SL_ALL_COMPLETED, -1);
    }
    for (int s = 0; s < STRIPS && rv == SL_OK; s++) {
        const sl_value *strip;
        int first = 1 + s * rows, count = s + 1 < STRIPS ? rows : N - 1 - first;
        if ((rv = sl_job_value(c, job, (size_t) s, &strip)) == SL_OK) {
            const double *p = sl_ndarray_cdata(strip);
            memcpy(u + first * N, p + N, sizeof(double) * (size_t) (count * N));
        }
    }
    for (int s = 0; s < STRIPS; s++) {
        sl_value_destroy(&args[s]);
    }
    sl_job_release(c, job);
    return rv;
}

static int
run_stencil(sl_client *c)
{
    static double remote[N * N], local[N * N];
    for (int j = 0; j < N; j++) {
        remote[j] = 100.0; // a hot top edge
    }
    memcpy(local, remote, sizeof(local));
    for (int step = 0; step < STEPS; step++) {
        sl_err rv = remote_step(c, remote);
        if (rv != SL_OK) {
            fprintf(stderr, "stencil: %s: %s\n", sl_strerror(rv),
                    sl_client_errstr(c));
            return 1;
        }
        local_step(local);
    }
    double diff = 0;
    for (int i = 0; i < N * N; i++) {
        diff = fmax(diff, fabs(remote[i] - local[i]));
    }
    printf("stencil: %d steps of a %dx%d grid in %d strips; heat at row 3: "
           "%.4f; max difference from a local run: %.1e\n",
           STEPS, N, N, STRIPS, remote[3 * N + N / 2], diff);
    return diff < 1e-9 ? 0 : 1;
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: module_map PATH/libsim.so [TASKS]\n");
        return 2;
    }
    int tasks = argc > 2 ? atoi(argv[2]) : 16;
    sl_client *c;
    sl_module mod;
    sl_err rv = sl_client_connect(&c, NULL);
    if (rv != SL_OK) {
        fprintf(stderr, "connect: %s\n", sl_strerror(rv));
        return 1;
    }
    // Registered by content: the second run uploads nothing.
    if ((rv = sl_module_register(c, argv[1], &mod)) != SL_OK) {
        fprintf(stderr, "register: %s\n", sl_client_errstr(c));
        sl_client_destroy(&c);
        return 1;
    }
    printf("module %s: sha256 %.16s..., %llu bytes, %s\n", mod.name, mod.hash,
           (unsigned long long) mod.size,
           mod.uploaded ? "uploaded" : "already in the store");
    int status = estimate_pi(c, tasks > 0 ? tasks : 16) || run_stencil(c);
    sl_client_destroy(&c);
    return status;
}
