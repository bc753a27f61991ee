// first_map.c - a first starling program: map, wait, read results, reduce.
//
// Sums the numbers 1..k for k = 1..N, one task each (sys.sum), checks every
// answer, then does the same as a map_reduce whose reduce adds the sums.
//
//   starling up && ./first_map [N]
#include <starling/starling.h>

#include <stdio.h>
#include <stdlib.h>

// The argument of task k: {"values": [1, 2, ..., k]}.
static sl_value *
make_arg(int k)
{
    sl_value *list = sl_value_new_list();
    for (int i = 1; i <= k; i++) {
        sl_value *item = sl_value_new_int(i);
        sl_value_list_append(list, &item);
    }
    sl_value *arg = sl_value_new_map();
    sl_value_map_set(arg, "values", &list);
    return arg;
}

int
main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 100;
    if (n < 1 || n > 100000) {
        fprintf(stderr, "usage: first_map [N, 1..100000]\n");
        return 2;
    }
    sl_client *c;
    sl_err rv = sl_client_connect(&c, NULL);
    if (rv != SL_OK) {
        fprintf(stderr, "connect: %s\n", sl_strerror(rv));
        return 1;
    }
    sl_value **args = calloc((size_t) n, sizeof(*args));
    for (int k = 1; k <= n; k++) {
        args[k - 1] = make_arg(k);
    }

    // 1. A map: one task per argument; wait for all of them.
    sl_job job;
    if ((rv = sl_map(c, "sys.sum", args, (size_t) n, NULL, &job)) != SL_OK ||
        (rv = sl_wait(c, &job, 1, SL_ALL_COMPLETED, 60000)) != SL_OK) {
        fprintf(stderr, "map: %s: %s\n", sl_strerror(rv), sl_client_errstr(c));
        return 1;
    }
    int wrong = 0;
    for (int k = 1; k <= n; k++) {
        const sl_value *v;
        if (sl_job_value(c, job, (size_t) k - 1, &v) != SL_OK ||
            sl_value_int(v) != (int64_t) k * (k + 1) / 2) {
            const sl_result *r = sl_job_result(c, job, (size_t) k - 1);
            fprintf(stderr, "task %d: wrong or failed (%s)\n", k - 1,
                    r->error ? r->error : "wrong value");
            wrong++;
        }
    }
    sl_job_stats st;
    sl_job_stats_get(c, job, &st);
    printf("map of %zu tasks: %zu ok in %.3f s (%.0f tasks/s)\n", st.tasks,
           st.ok, st.wall_s, st.tasks_per_s);
    sl_job_release(c, job);

    // 2. The same sums, then one reduce task over all of them.
    if ((rv = sl_map_reduce(c, "sys.sum", args, (size_t) n, "sys.sum", NULL,
                            &job)) != SL_OK ||
        (rv = sl_wait(c, &job, 1, SL_ALL_COMPLETED, 60000)) != SL_OK) {
        fprintf(stderr, "map_reduce: %s: %s\n", sl_strerror(rv),
                sl_client_errstr(c));
        return 1;
    }
    // sum over k of k(k+1)/2 = n(n+1)(n+2)/6
    int64_t want = (int64_t) n * (n + 1) * (n + 2) / 6;
    const sl_value *total;
    if (sl_job_value(c, job, 0, &total) != SL_OK ||
        sl_value_int(total) != want) {
        const sl_result *r = sl_job_result(c, job, 0);
        fprintf(stderr, "map_reduce: want %lld (%s)\n", (long long) want,
                r->error ? r->error : "wrong value");
        wrong++;
    } else {
        printf("map_reduce: sum of sums = %lld, as expected\n",
               (long long) sl_value_int(total));
    }
    sl_job_release(c, job);

    for (int k = 0; k < n; k++) {
        sl_value_destroy(&args[k]);
    }
    free(args);
    sl_client_destroy(&c);
    return wrong == 0 ? 0 : 1;
}
