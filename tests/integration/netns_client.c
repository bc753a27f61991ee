// netns_client.c - the client of the several-nodes test (netns_test.sh):
// one job of slow tasks whose every result is checked.
// SPDX-License-Identifier: MIT
//
//   netns_client --scheduler EP --module PATH [--tasks N] [--ms M]
//
// Registers the test module (tests/modules/testmod.c) and maps its "delay"
// kernel, which returns its argument x after ms milliseconds, over N tasks.
// Task i gets its own x: an int for most tasks, and for every tenth a
// 6,000-byte string (more than inline_max), so that its argument and its
// result travel through Redis. Once every task has ended, each result is
// compared with the x that was sent, and one JSON object goes to stdout:
//
//   {"tasks": N, "ok": N, "wrong": 0, "failed": 0, "retried": R,
//    "max_attempts": A, "wall_s": W}
//
// With --cross KIB it runs on a worker node instead (STARLING_NODE names
// it), to make objects cross nodes: it puts a float64 vector of KIB KiB,
// which stays in its node's tier, and maps two jobs of N tasks over it:
// testmod's vsum_who (its sum, and the worker that ran it), and delay with
// x = the vector (a result as large, kept in the tier of the node that
// made it, or in the store when that is not the client's node). Tasks on
// other nodes get the vector through its node's want list. It checks
// every sum and every returned vector and prints
//
//   {"tasks": N, "ok": N, "wrong": 0, "mapped": M, "copied": C,
//    "key": "<the vector's key>", "workers": "<pid> <pid> ...",
//    "tiers": "<node> <node> ..."}
//
// where M tasks of vsum_who mapped the vector in place, C copied it (from
// the store: they ran on another node, or found no copy on theirs yet;
// the others found it in their slot's input cache), workers lists the
// worker pids that ran vsum_who's tasks, and tiers the nodes whose tier
// (under $STARLING_TIER_DIR) held the vector once the jobs were done,
// before the client's exit released it.
//
// Exit status: 0 when every task ended OK with the right value, 1 when
// not, 2 for a usage error. What went wrong (the first few tasks) goes to
// stderr.
#include <starling/starling.h>

#include <getopt.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_BIG_EVERY 10     // every tenth task's x is a big string
#define S_BIG_LEN 6000     // bytes of a big x: above inline_max (4096)
#define S_WAIT_MS 120000   // the whole job, at most
#define S_ERRORS_SHOWN 5   // wrong tasks described on stderr
#define S_INT_STEP 1000003 // x = i * S_INT_STEP + 7: distinct, not i

typedef struct {
    const char *scheduler; // --scheduler EP
    const char *module;    // --module PATH: a build of testmod
    long tasks;            // --tasks N
    long ms;               // --ms M: each task's sleep
    long cross_kib;        // --cross KIB: the cross-node jobs; 0: not
} s_opts;

// The big x of task i: printable bytes that depend on i and on the place.
static void
s_big_fill(char *buf, long i)
{
    for (size_t j = 0; j < S_BIG_LEN; j++) {
        buf[j] = (char) ('a' + (i * 7 + (long) j * 13) % 26);
    }
    buf[S_BIG_LEN] = '\0';
}

// The argument of task i: {"x": x_i, "ms": ms}.
static sl_value *
s_arg_new(long i, long ms, char *big)
{
    sl_value *x;
    if (i % S_BIG_EVERY == 0) {
        s_big_fill(big, i);
        x = sl_value_new_str(big);
    } else {
        x = sl_value_new_int((int64_t) i * S_INT_STEP + 7);
    }
    sl_value *arg = sl_value_new_map();
    sl_value *nap = sl_value_new_int(ms);
    if (arg == NULL || x == NULL || nap == NULL ||
        sl_value_map_set(arg, "x", &x) != SL_OK ||
        sl_value_map_set(arg, "ms", &nap) != SL_OK) {
        fprintf(stderr, "netns_client: out of memory\n");
        exit(1);
    }
    return arg;
}

// Whether task i's result is its x. On false, why says what was wrong.
static bool
s_value_right(sl_client *c, sl_job job, long i, char *big, char *why,
              size_t why_len)
{
    const sl_value *v;
    sl_err rv = sl_job_value(c, job, (size_t) i, &v);
    if (rv != SL_OK) {
        const sl_result *r = sl_job_result(c, job, (size_t) i);
        snprintf(why, why_len, "no value: %s (%s)", sl_strerror(rv),
                 r != NULL && r->error != NULL ? r->error : "no error text");
        return false;
    }
    if (i % S_BIG_EVERY == 0) {
        size_t len = 0;
        const char *s = sl_value_str(v, &len);
        s_big_fill(big, i);
        if (s == NULL || len != S_BIG_LEN || memcmp(s, big, len) != 0) {
            snprintf(why, why_len, "a %s of %zu bytes, not its 6000-byte x",
                     sl_type_name(sl_value_type(v)), len);
            return false;
        }
        return true;
    }
    int64_t want = (int64_t) i * S_INT_STEP + 7;
    if (sl_value_type(v) != SL_INT || sl_value_int(v) != want) {
        snprintf(why, why_len, "%s %lld, want %lld",
                 sl_type_name(sl_value_type(v)), (long long) sl_value_int(v),
                 (long long) want);
        return false;
    }
    return true;
}

static int
s_usage(void)
{
    fprintf(stderr, "usage: netns_client --scheduler EP --module PATH "
                    "[--tasks N] [--ms M] [--cross KIB]\n");
    return 2;
}

static int
s_parse(int argc, char **argv, s_opts *o)
{
    static const struct option longopts[] = {
        {"scheduler", required_argument, NULL, 's'},
        {"module", required_argument, NULL, 'm'},
        {"tasks", required_argument, NULL, 'n'},
        {"ms", required_argument, NULL, 't'},
        {"cross", required_argument, NULL, 'x'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            o->scheduler = optarg;
            break;
        case 'm':
            o->module = optarg;
            break;
        case 'n':
            o->tasks = strtol(optarg, NULL, 10);
            break;
        case 't':
            o->ms = strtol(optarg, NULL, 10);
            break;
        case 'x':
            o->cross_kib = strtol(optarg, NULL, 10);
            break;
        default:
            return -1;
        }
    }
    bool ok = o->scheduler != NULL && o->module != NULL && o->tasks >= 1 &&
              o->tasks <= 100000 && o->ms >= 0 && o->ms < 10000 &&
              o->cross_kib >= 0 && o->cross_kib <= (1 << 20) &&
              (o->cross_kib == 0 || o->tasks <= 1000);
    return ok ? 0 : -1;
}

// Map delay over the tasks and wait for all of them.
static sl_err
s_run(sl_client *c, const s_opts *o, sl_job *job)
{
    sl_module mod;
    char fn[SL_FUNCTION_MAX];
    sl_err rv;
    if ((rv = sl_module_register(c, o->module, &mod)) != SL_OK ||
        (rv = sl_module_function(&mod, "delay", fn, sizeof(fn))) != SL_OK) {
        return rv;
    }
    sl_value **args = calloc((size_t) o->tasks, sizeof(*args));
    char *big = malloc(S_BIG_LEN + 1);
    if (args == NULL || big == NULL) {
        free(args);
        free(big);
        return SL_ENOMEM;
    }
    for (long i = 0; i < o->tasks; i++) {
        args[i] = s_arg_new(i, o->ms, big);
    }
    rv = sl_map(c, fn, args, (size_t) o->tasks, NULL, job);
    for (long i = 0; i < o->tasks; i++) {
        sl_value_destroy(&args[i]);
    }
    free(args);
    free(big);
    if (rv == SL_OK) {
        fprintf(stderr, "netns_client: %ld tasks of %s submitted\n", o->tasks,
                fn);
        rv = sl_wait(c, job, 1, SL_ALL_COMPLETED, S_WAIT_MS);
    }
    return rv;
}

// Check every result; print the summary. Returns the number of tasks that
// did not end OK with their own x.
static long
s_check(sl_client *c, sl_job job, long tasks)
{
    char *big = malloc(S_BIG_LEN + 1);
    char why[256];
    long wrong = 0;
    uint32_t max_attempts = 0;
    for (long i = 0; big != NULL && i < tasks; i++) {
        const sl_result *r = sl_job_result(c, job, (size_t) i);
        if (r != NULL && r->attempts > max_attempts) {
            max_attempts = r->attempts;
        }
        if (!s_value_right(c, job, i, big, why, sizeof(why))) {
            if (wrong++ < S_ERRORS_SHOWN) {
                fprintf(stderr, "netns_client: task %ld: %s\n", i, why);
            }
        }
    }
    free(big);
    sl_job_stats st;
    sl_job_stats_get(c, job, &st);
    printf("{\"tasks\": %zu, \"ok\": %zu, \"wrong\": %ld, \"failed\": %zu, "
           "\"retried\": %zu, \"max_attempts\": %u, \"wall_s\": %.3f}\n",
           st.tasks, st.ok, wrong, st.failed, st.retried, max_attempts,
           st.wall_s);
    return big == NULL ? tasks : wrong;
}

// ---------------------------------------------------------------------
// --cross: an object of this node read by tasks on others.

// Map fn over the tasks, each {"<name>": ref, "ms": ms}, and wait.
static sl_err
s_map_ref(sl_client *c, const char *fn, const char *name, const sl_value *ref,
          const s_opts *o, sl_job *job)
{
    sl_value **args = calloc((size_t) o->tasks, sizeof(*args));
    sl_err rv = args != NULL ? SL_OK : SL_ENOMEM;
    for (long i = 0; rv == SL_OK && i < o->tasks; i++) {
        sl_value *r = sl_value_copy(ref), *nap = sl_value_new_int(o->ms);
        args[i] = sl_value_new_map();
        if (args[i] == NULL || sl_value_map_set(args[i], name, &r) != SL_OK ||
            sl_value_map_set(args[i], "ms", &nap) != SL_OK) {
            sl_value_destroy(&r);
            sl_value_destroy(&nap);
            rv = SL_ENOMEM;
        }
    }
    if (rv == SL_OK) {
        rv = sl_map(c, fn, args, (size_t) o->tasks, NULL, job);
    }
    for (long i = 0; args != NULL && i < o->tasks; i++) {
        sl_value_destroy(&args[i]);
    }
    free(args);
    if (rv == SL_OK) {
        fprintf(stderr, "netns_client: %ld tasks of %s submitted\n", o->tasks,
                fn);
        rv = sl_wait(c, job, 1, SL_ALL_COMPLETED, S_WAIT_MS);
    }
    return rv;
}

// Task i of job did not end OK: say why (the first few). Returns 1.
static long
s_cross_wrong(long wrong, long i, const char *what)
{
    if (wrong < S_ERRORS_SHOWN) {
        fprintf(stderr, "netns_client: task %ld: %s\n", i, what);
    }
    return 1;
}

// The nodes whose tier holds key, as "<node> <node> ..." into buf: the
// directories <cluster>.<node> of $STARLING_TIER_DIR/starling-<uid>/ that
// have a file named key.
static void
s_tiers_holding(const char *key, char *buf, size_t size)
{
    char pattern[1024];
    glob_t g;
    const char *base = getenv("STARLING_TIER_DIR");
    buf[0] = '\0';
    snprintf(pattern, sizeof(pattern), "%s/starling-%u/*/%s",
             base != NULL ? base : "/dev/shm", (unsigned) getuid(), key);
    if (glob(pattern, 0, NULL, &g) != 0) {
        return;
    }
    for (size_t i = 0; i < g.gl_pathc; i++) {
        char *slash = strrchr(g.gl_pathv[i], '/');
        *slash = '\0';
        const char *dir = strrchr(g.gl_pathv[i], '/') + 1;
        const char *node = strchr(dir, '.'); // cluster ids have no '.'
        if (node != NULL && strlen(buf) + strlen(node + 1) + 2 < size) {
            strcat(buf, buf[0] != '\0' ? " " : "");
            strcat(buf, node + 1);
        }
    }
    globfree(&g);
}

static int
s_cross(sl_client *c, const s_opts *o)
{
    sl_module mod;
    char who_fn[SL_FUNCTION_MAX], delay_fn[SL_FUNCTION_MAX];
    int64_t n = o->cross_kib * 1024 / 8;
    sl_value *vec = sl_value_new_ndarray(SL_F64, 1, &n, NULL), *ref = NULL;
    sl_job who, delay;
    sl_err rv = vec != NULL ? SL_OK : SL_ENOMEM;
    double sum = 0;
    for (int64_t j = 0; vec != NULL && j < n; j++) {
        double x = (double) ((j * 7919) % 100003) - 50000.0;
        ((double *) sl_ndarray_data(vec))[j] = x;
        sum += x;
    }
    if (rv != SL_OK || (rv = sl_module_register(c, o->module, &mod)) != SL_OK ||
        (rv = sl_module_function(&mod, "vsum_who", who_fn, sizeof(who_fn))) !=
            SL_OK ||
        (rv = sl_module_function(&mod, "delay", delay_fn, sizeof(delay_fn))) !=
            SL_OK ||
        (rv = sl_put(c, vec, &ref)) != SL_OK ||
        (rv = s_map_ref(c, who_fn, "a", ref, o, &who)) != SL_OK ||
        (rv = s_map_ref(c, delay_fn, "x", ref, o, &delay)) != SL_OK) {
        fprintf(stderr, "netns_client: %s: %s\n", sl_strerror(rv),
                sl_client_errstr(c));
        sl_value_destroy(&ref);
        sl_value_destroy(&vec);
        return 1;
    }
    long ok = 0, wrong = 0, mapped = 0, copied = 0;
    char workers[1024] = "", tiers[512], why[256];
    for (long i = 0; i < o->tasks; i++) {
        const sl_result *r = sl_job_result(c, who, (size_t) i);
        const sl_value *v;
        if (sl_job_value(c, who, (size_t) i, &v) != SL_OK) {
            wrong += s_cross_wrong(wrong, i, r->error);
            continue;
        }
        double got = sl_value_float(sl_value_map_get(v, "sum"));
        if (got != sum) {
            snprintf(why, sizeof(why), "sum %.17g, want %.17g", got, sum);
            wrong += s_cross_wrong(wrong, i, why);
            continue;
        }
        ok++;
        mapped += r->bytes_mapped >= sl_ref_size(ref);
        copied += r->bytes_read >= sl_ref_size(ref);
        char pid[24];
        snprintf(pid, sizeof(pid), " %lld",
                 (long long) sl_value_int(sl_value_map_get(v, "worker")));
        if (strstr(workers, pid) == NULL &&
            strlen(workers) + strlen(pid) < sizeof(workers)) {
            strcat(workers, pid);
        }
    }
    for (long i = 0; i < o->tasks; i++) {
        const sl_value *v;
        if (sl_job_value(c, delay, (size_t) i, &v) != SL_OK) {
            wrong += s_cross_wrong(wrong, i,
                                   sl_job_result(c, delay, (size_t) i)->error);
        } else if (sl_value_type(v) != SL_NDARRAY ||
                   sl_ndarray_nbytes(v) != sl_ndarray_nbytes(vec) ||
                   memcmp(sl_ndarray_cdata(v), sl_ndarray_cdata(vec),
                          sl_ndarray_nbytes(vec)) != 0) {
            wrong += s_cross_wrong(wrong, i, "delay: not the vector sent");
        } else {
            ok++;
        }
    }
    s_tiers_holding(sl_ref_key(ref), tiers, sizeof(tiers));
    printf("{\"tasks\": %ld, \"ok\": %ld, \"wrong\": %ld, \"mapped\": %ld, "
           "\"copied\": %ld, \"key\": \"%s\", \"workers\": \"%s\", "
           "\"tiers\": \"%s\"}\n",
           2 * o->tasks, ok, wrong, mapped, copied, sl_ref_key(ref),
           workers[0] != '\0' ? workers + 1 : "", tiers);
    sl_job_release(c, who);
    sl_job_release(c, delay);
    sl_value_destroy(&ref);
    sl_value_destroy(&vec);
    return wrong == 0 && ok == 2 * o->tasks ? 0 : 1;
}

int
main(int argc, char **argv)
{
    s_opts o = {.tasks = 1000, .ms = 50};
    if (s_parse(argc, argv, &o) != 0) {
        return s_usage();
    }
    sl_client *c = NULL;
    sl_err rv = sl_client_connect(&c, o.scheduler);
    if (rv != SL_OK) {
        fprintf(stderr, "netns_client: connect %s: %s\n", o.scheduler,
                sl_strerror(rv));
        return 1;
    }
    if (o.cross_kib > 0) {
        int status = s_cross(c, &o);
        sl_client_destroy(&c);
        return status;
    }
    sl_job job;
    if ((rv = s_run(c, &o, &job)) != SL_OK) {
        fprintf(stderr, "netns_client: %s: %s\n", sl_strerror(rv),
                sl_client_errstr(c));
        sl_client_destroy(&c);
        return 1;
    }
    long wrong = s_check(c, job, o.tasks);
    sl_job_release(c, job);
    sl_client_destroy(&c);
    return wrong == 0 ? 0 : 1;
}
