// runner.c - starling-bench: the benchmark suite's runner.
// SPDX-License-Identifier: MIT
//
//   starling-bench NAME|all [--quick] [--json] [--csv FILE | --no-csv]
//                  [--workers N] [--slots S] [--prefetch P] [--rounds N]
//                  [--perf FILE]
//
// Each benchmark starts its own cluster, measures starling beside a
// baseline in the same run, prints a line per figure with the ratio and
// the target (PASS or MISS), and appends a CSV row. A missed target is not
// a failure; a run that went wrong (wrong results, errors) is: the exit
// status is then 1. After each benchmark, other_load records how much CPU
// the machine spent on work that was not the run's.
#define _GNU_SOURCE
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "client/launch/watch.h"
#include "measure.h"

typedef struct {
    const char *name;  // on the command line
    sl__bench_fn run;  // the benchmark
    const char *about; // one line for --help
} s_case;

static const s_case s_cases[] = {
    {"flops", sl__bench_flops,
     "aggregate GFLOPS of bench.gemm_flops over every slot vs bare OpenBLAS"},
    {"matmul", sl__bench_matmul,
     "distributed blocked dgemm through the store vs one cblas_dgemm"},
    {"cholesky", sl__bench_cholesky,
     "a tiled Cholesky as one graph of futures vs one LAPACK dpotrf"},
    {"throughput", sl__bench_throughput,
     "sys.noop tasks per second end to end; scheduler CPU per task"},
    {"latency", sl__bench_latency,
     "one task's round trip vs bare ZeroMQ REQ/REP and raw TCP"},
    {"scale", sl__bench_scale,
     "throughput and dispatch latency with 2 .. 10,000 worker slots"},
    {"memory", sl__bench_memory,
     "scheduler RSS with 1,000,000 queued tasks vs idle; bytes per pending "
     "dependent task and per edge"},
    {"data", sl__bench_data,
     "sl_put/sl_get of 1 MiB and 64 MiB vs raw Redis SET/GET; 64 MiB "
     "through the node's object tier vs memcpy"},
    {"shared_input", sl__bench_shared_input,
     "1,000 blas.ddot tasks of one 256 MiB input in the tier: executors map "
     "it, not copy it"},
    {"dag", sl__bench_dag,
     "a chain of 10,000 tasks linked by futures vs one task's round trip; "
     "a tree reduction of 1,000,000 leaves, fan-in 16"},
};

#define S_N_CASES (sizeof(s_cases) / sizeof(s_cases[0]))

// ---------------------------------------------------------------------
// The command line.

static void
s_usage(FILE *f)
{
    fprintf(f, "usage: starling-bench NAME|all [options]\n"
               "\n"
               "Runs starling's benchmarks, each on a private cluster of its "
               "own\n(redis-server, scheduler, workers on loopback), beside "
               "a baseline\nmeasured in the same run.\n\n");
    for (size_t i = 0; i < S_N_CASES; i++) {
        fprintf(f, "  %-12s %s\n", s_cases[i].name, s_cases[i].about);
    }
    fprintf(
        f,
        "\n"
        "  --quick          small sizes (all of them in about a minute)\n"
        "  --json           one JSON object per result on stdout (the "
        "human\n"
        "                   lines then go to stderr)\n"
        "  --csv FILE       append results to FILE (default %s)\n"
        "  --no-csv         write no CSV\n"
        "  --workers N      worker processes of the standard cluster "
        "(default:\n"
        "                   one per core, as starling up starts)\n"
        "  --slots S        slots per worker (default 1)\n"
        "  --prefetch P     each worker's --prefetch (default: the "
        "worker's)\n"
        "  --executor MODE  the workers' --executor, process (default) "
        "or thread\n"
        "  --perf FILE      throughput: perf record -g the scheduler "
        "into FILE\n"
        "  --rounds N       flops, matmul, cholesky: measure starling and the "
        "baseline\n"
        "                   N times each, keep the best (default 2; "
        "quick 1)\n"
        "  --help           this text\n",
        STARLING_DEFAULT_CSV);
}

typedef struct {
    const char *name; // a benchmark, or "all"
    const char *csv;  // NULL: none
    bool json;        // --json
} s_args;

// Parse argv into args and ctx. Returns -1 to go on, else an exit status.
static int
s_parse(int argc, char **argv, s_args *args, sl__bench_ctx *ctx)
{
    static const struct option longopts[] = {
        {"quick", no_argument, NULL, 'q'},
        {"json", no_argument, NULL, 'j'},
        {"csv", required_argument, NULL, 'c'},
        {"no-csv", no_argument, NULL, 'C'},
        {"workers", required_argument, NULL, 'w'},
        {"slots", required_argument, NULL, 's'},
        {"prefetch", required_argument, NULL, 'p'},
        {"executor", required_argument, NULL, 'x'},
        {"perf", required_argument, NULL, 'P'},
        {"rounds", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *prog = "starling-bench";
    int64_t n;
    int opt;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'q':
            ctx->quick = true;
            break;
        case 'j':
            args->json = true;
            break;
        case 'c':
            args->csv = optarg;
            break;
        case 'C':
            args->csv = NULL;
            break;
        case 'w':
            if (!sl__parse_flag(prog, "--workers", optarg, 1, 1024, &n)) {
                return 2;
            }
            ctx->shape.procs = (int) n;
            break;
        case 's':
            if (!sl__parse_flag(prog, "--slots", optarg, 1, 4096, &n)) {
                return 2;
            }
            ctx->shape.slots = (int) n;
            break;
        case 'p':
            if (!sl__parse_flag(prog, "--prefetch", optarg, 0, INT32_MAX, &n)) {
                return 2;
            }
            ctx->shape.prefetch = (int) n;
            break;
        case 'x':
            if (strcmp(optarg, "thread") != 0 &&
                strcmp(optarg, "process") != 0) {
                s_usage(stderr);
                return 2;
            }
            ctx->shape.threads = strcmp(optarg, "thread") == 0;
            break;
        case 'P':
            ctx->perf_path = optarg;
            break;
        case 'r':
            if (!sl__parse_flag(prog, "--rounds", optarg, 1, 1000, &n)) {
                return 2;
            }
            ctx->rounds = (int) n;
            break;
        case 'h':
            s_usage(stdout);
            return 0;
        default:
            s_usage(stderr);
            return 2;
        }
    }
    if (ctx->rounds == 0) {
        ctx->rounds = ctx->quick ? 1 : 2;
    }
    if (optind != argc - 1 || ctx->shape.procs < 1 || ctx->shape.slots < 1 ||
        ctx->shape.prefetch < -1 || ctx->rounds < 1) {
        s_usage(stderr);
        return 2;
    }
    args->name = argv[optind];
    return -1;
}

static const s_case *
s_case_find(const char *name)
{
    for (size_t i = 0; i < S_N_CASES; i++) {
        if (strcmp(s_cases[i].name, name) == 0) {
            return &s_cases[i];
        }
    }
    return NULL;
}

// Where this program and the starling programs are.
static void
s_find_programs(sl__bench_ctx *ctx)
{
    const char *env = getenv("STARLING_BIN_DIR");
    sl__strlcpy(ctx->bin_dir, env != NULL && env[0] ? env : STARLING_BIN_DIR,
                sizeof(ctx->bin_dir));
    ssize_t n = readlink("/proc/self/exe", ctx->self, sizeof(ctx->self) - 1);
    ctx->self[n > 0 ? n : 0] = '\0';
}

// Record how busy the machine was with work that is not this run's while
// benchmark name ran: the machine's busy CPU time less ours (this process
// and its children, every one of which has been reaped by now), in cores.
// The machine may be shared; this says how much a figure may have been
// disturbed.
static void
s_report_other_load(sl__bench_ctx *ctx, const char *name, double busy0,
                    double own0, double t0)
{
    char settings[128];
    double wall = sl__mono() - t0;
    double other =
        (sl__bench_machine_busy_s() - busy0) - (sl__bench_own_cpu_s() - own0);
    sl__bench_settings(ctx, NULL, settings, sizeof(settings));
    sl__bench_settings_add(settings, sizeof(settings), "wall_s=%.1f", wall);
    sl__bench_result r = {name, "other_load", other > 0 ? other / wall : 0,
                          NAN,  "cores",      SL__BENCH_NO_TARGET,
                          0,    settings};
    sl__bench_report_add(ctx->report, &r);
}

// Run one benchmark. True when its run worked (targets aside).
static bool
s_run(sl__bench_ctx *ctx, const s_case *c)
{
    char errbuf[SL_ERRSTR_LEN] = "";
    double t0 = sl__mono();
    double busy0 = sl__bench_machine_busy_s();
    double own0 = sl__bench_own_cpu_s();
    sl__bench_say(ctx, "\n== %s (%s)", c->name, c->about);
    sl_err rv = c->run(ctx, errbuf);
    if (rv != SL_OK) {
        fprintf(stderr, "starling-bench: %s FAILED: %s: %s\n", c->name,
                sl_strerror(rv), errbuf);
        return false;
    }
    s_report_other_load(ctx, c->name, busy0, own0, t0);
    sl__bench_say(ctx, "   (%s took %.1f s)", c->name, sl__mono() - t0);
    return true;
}

static int
s_helper(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[2], "gemm") == 0) {
        return sl__bench_helper_gemm(argc - 3, argv + 3);
    }
    if (argc >= 3 && strcmp(argv[2], "zmq-echo") == 0) {
        return sl__bench_helper_zmq_echo(argc - 3, argv + 3);
    }
    if (argc >= 3 && strcmp(argv[2], "tcp-echo") == 0) {
        return sl__bench_helper_tcp_echo(argc - 3, argv + 3);
    }
    fprintf(stderr, "starling-bench: unknown helper\n");
    return 2;
}

// The command line as given (before getopt reorders argv), into buf.
static void
s_command_line(int argc, char **argv, char *buf, size_t len)
{
    buf[0] = '\0';
    for (int i = 0; i < argc; i++) {
        size_t used = strlen(buf);
        sl__fmt(buf + used, len - used, "%s%s", i ? " " : "", argv[i]);
    }
}

static void
s_say_command(const sl__bench_ctx *ctx, const char *cmd)
{
    const char *coretype = getenv("OPENBLAS_CORETYPE");
    sl__bench_say(ctx, "%s", cmd);
    sl__bench_say(ctx, "%d cores, load %.2f; OPENBLAS_CORETYPE=%s", sl__ncpus(),
                  sl__bench_load(), coretype != NULL ? coretype : "(unset)");
}

int
main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--helper") == 0) {
        return s_helper(argc, argv);
    }
    // The standard cluster is what `starling up` makes: a worker of one
    // slot per core, executor processes.
    sl__bench_ctx ctx = {.shape = {.procs = sl__ncpus() > 0 ? sl__ncpus() : 1,
                                   .slots = 1,
                                   .prefetch = -1,
                                   .threads = false}};
    s_args args = {.csv = STARLING_DEFAULT_CSV};
    char errbuf[SL_ERRSTR_LEN], cmd[1024];
    s_command_line(argc, argv, cmd, sizeof(cmd));
    int status = s_parse(argc, argv, &args, &ctx);
    if (status >= 0) {
        return status;
    }
    const s_case *one = s_case_find(args.name);
    if (one == NULL && strcmp(args.name, "all") != 0) {
        fprintf(stderr, "starling-bench: no benchmark '%s'\n", args.name);
        s_usage(stderr);
        return 2;
    }
    sl__log_init("starling-bench");
    s_find_programs(&ctx);
    if (sl__watch_guard_install() != SL_OK) {
        fprintf(stderr, "starling-bench: cannot install the guard\n");
        return 1;
    }
    if (sl__bench_report_new(&ctx.report, args.csv, args.json, errbuf) !=
        SL_OK) {
        fprintf(stderr, "starling-bench: %s\n", errbuf);
        return 1;
    }
    s_say_command(&ctx, cmd);
    int failed = 0;
    for (size_t i = 0; i < S_N_CASES; i++) {
        if (one == NULL || one == &s_cases[i]) {
            failed += !s_run(&ctx, &s_cases[i]);
        }
    }
    sl__bench_report_table(ctx.report);
    if (failed > 0) {
        fprintf(stderr, "starling-bench: %d benchmark(s) failed to run\n",
                failed);
    }
    sl__bench_report_destroy(&ctx.report);
    return failed > 0 ? 1 : 0;
}
