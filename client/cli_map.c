// cli_map.c - `starling map`: a job from the shell, with a progress line.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - `map` gives every task the same argument: it builds one map value and
//   hands sl_map an array of n pointers to it (sl_map encodes the values at
//   once and keeps none of them).
// - Results and JSON go to stdout; progress, warnings and errors to
//   stderr, so `--json` output can be piped as it is.
#include <ctype.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "conn.h"

#define S_WAIT_MS 150
#define S_ERRORS_SHOWN 5
#define S_MAX_TASKS 100000000LL

static volatile sig_atomic_t s_interrupts; // SIGINTs received during map

static int s_cmd_map(int argc, char **argv);

typedef struct {
    const char *function;           // what each task runs
    size_t tasks;                   // how many
    bool json;                      // one JSON object on stdout
    sl__cli_target target;          // which scheduler
    sl_value *arg;                  // the argument map every task gets (owned)
    const char *module;             // a module (.so) to register first, or NULL
    char resolved[SL_FUNCTION_MAX]; // FUNCTION named through the module
} s_map_opts;

// VALUE of --arg as the most specific type it parses as.
static sl_value *
s_value_parse(const char *s)
{
    int64_t i;
    char *end = NULL;
    if (sl__parse_int(s, INT64_MIN, INT64_MAX, &i)) {
        return sl_value_new_int(i);
    }
    double d = strtod(s, &end);
    if (s[0] != '\0' && !isspace((unsigned char) s[0]) && *end == '\0') {
        return sl_value_new_float(d);
    }
    if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0) {
        return sl_value_new_bool(s[0] == 't');
    }
    return sl_value_new_str(s);
}

// Add "NAME=VALUE" to the argument map.
static bool
s_arg_add(sl_value *map, const char *pair)
{
    const char *eq = strchr(pair, '=');
    char name[256];
    if (eq == NULL || eq == pair || (size_t) (eq - pair) >= sizeof(name)) {
        return false;
    }
    memcpy(name, pair, (size_t) (eq - pair));
    name[eq - pair] = '\0';
    sl_value *v = s_value_parse(eq + 1);
    if (v == NULL || sl_value_map_set(map, name, &v) != SL_OK) {
        sl_value_destroy(&v);
        return false;
    }
    return true;
}

// One option of map. Returns -1 to go on, else an exit status.
static int
s_map_opt(int c, s_map_opts *m, const sl__cli_command *cmd)
{
    int64_t n;
    if (c == 't') {
        if (!sl__parse_int(optarg, 1, S_MAX_TASKS, &n)) {
            return sl__cli_usage_error(
                cmd, "--tasks takes 1 to 100000000, not %s", optarg);
        }
        m->tasks = (size_t) n;
    } else if (c == 'a') {
        if (!s_arg_add(m->arg, optarg)) {
            return sl__cli_usage_error(cmd, "--arg takes NAME=VALUE, not %s",
                                       optarg);
        }
    } else if (c == 'j') {
        m->json = true;
    } else if (c == 'm') {
        m->module = optarg;
    } else if (c == 'h') {
        fputs(cmd->usage, stdout);
        return 0;
    } else if (!sl__cli_target_opt(c, &m->target)) {
        fputs(cmd->usage, stderr);
        return SL_CLI_USAGE;
    }
    return -1;
}

static int
s_map_parse(int argc, char **argv, s_map_opts *m)
{
    static const struct option longopts[] = {
        {"tasks", required_argument, NULL, 't'},
        {"arg", required_argument, NULL, 'a'},
        {"json", no_argument, NULL, 'j'},
        {"module", required_argument, NULL, 'm'},
        {"home", required_argument, NULL, 'H'},
        {"scheduler", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const sl__cli_command *cmd = &sl__cli_map;
    int c, rc;
    while ((c = sl__cli_getopt(argc, argv, longopts)) != -1) {
        if ((rc = s_map_opt(c, m, cmd)) >= 0) {
            return rc;
        }
    }
    if (optind >= argc) {
        return sl__cli_usage_error(cmd, "which function?");
    }
    m->function = argv[optind++];
    if (optind < argc) {
        return sl__cli_usage_error(cmd, "unexpected argument %s", argv[optind]);
    }
    if (m->tasks == 0) {
        return sl__cli_usage_error(cmd, "--tasks N is required");
    }
    return -1;
}

static void
s_on_sigint(int sig)
{
    if (++s_interrupts >= 2) {
        _exit(SL_CLI_INTERRUPTED);
    }
}

static void
s_sigint_catch(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = s_on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
}

// The progress line last drawn ("" when none is on the terminal).
static char s_progress[256];

// "\r done/total  tasks/s  ETA  GFLOPS" on stderr, overwriting itself; and
// that the scheduler is not answering while the client reconnects.
static void
s_progress_draw(sl_client *c, sl_job job)
{
    sl_job_stats st;
    char eta[32] = "-";
    if (sl_job_stats_get(c, job, &st) != SL_OK) {
        return;
    }
    if (st.tasks_per_s > 0 && st.done < st.tasks) {
        sl__cli_duration((double) (st.tasks - st.done) / st.tasks_per_s, eta,
                         sizeof(eta));
    }
    sl__fmt(s_progress, sizeof(s_progress),
            " %zu/%zu  %.0f tasks/s  ETA %s  %.2f GFLOPS%s", st.done, st.tasks,
            st.tasks_per_s, eta, st.gflops,
            sl__client_reconnecting(c)
                ? "  (scheduler not answering; reconnecting)"
                : "");
    fprintf(stderr, "\r%s\033[K", s_progress);
    fflush(stderr);
}

static void
s_progress_clear(void)
{
    fprintf(stderr, "\r\033[K");
    fflush(stderr);
    s_progress[0] = '\0';
}

// While the progress line is on the terminal, a log line (libstarling's:
// the scheduler restarted, not answering, reconnected) goes above it.
static void
s_log_above_progress(const char *line, size_t len, void *arg)
{
    fprintf(stderr, "\r\033[K%.*s", (int) len, line);
    if (s_progress[0] != '\0') {
        fprintf(stderr, "\r%s\033[K", s_progress);
    }
    fflush(stderr);
}

// Wait for the job to end, drawing progress on a terminal. The first
// Ctrl-C cancels the job; the second quits.
static sl_err
s_map_wait(sl_client *c, sl_job job)
{
    bool tty = isatty(STDERR_FILENO);
    bool cancelled = false;
    sl_err rv;
    if (tty) {
        sl__log_sink_set(s_log_above_progress, NULL);
    }
    while ((rv = sl_wait(c, &job, 1, SL_ALL_COMPLETED, S_WAIT_MS)) ==
           SL_ETIMEDOUT) {
        if (s_interrupts > 0 && !cancelled) {
            cancelled = true;
            sl_job_cancel(c, job);
            if (tty) {
                s_progress_clear();
            }
            fprintf(stderr, "starling map: cancelling (Ctrl-C again to "
                            "quit)\n");
        }
        if (tty) {
            s_progress_draw(c, job);
        }
    }
    if (tty) {
        s_progress_clear();
        sl__log_sink_set(NULL, NULL);
    }
    return rv;
}

static const char *
s_status_name(sl_task_status status)
{
    switch (status) {
    case SL_TASK_ERROR:
        return "error";
    case SL_TASK_FAILED:
        return "failed";
    case SL_TASK_CANCELLED:
        return "cancelled";
    default:
        return "ok";
    }
}

// The first few failed tasks and why, on stderr.
static void
s_print_errors(sl_client *c, sl_job job, size_t failed)
{
    size_t shown = 0;
    size_t n = sl_job_size(c, job);
    for (size_t i = 0; i < n && shown < S_ERRORS_SHOWN; i++) {
        const sl_result *r = sl_job_result(c, job, i);
        if (r == NULL || r->status == SL_TASK_OK ||
            r->status == SL_TASK_PENDING) {
            continue;
        }
        fprintf(stderr, "  task %zu: %s: %s\n", i, s_status_name(r->status),
                r->error != NULL ? r->error : "(no detail)");
        shown++;
    }
    if (failed > shown) {
        fprintf(stderr, "  ... and %zu more\n", failed - shown);
    }
}

static void
s_map_json(const sl_job_stats *st)
{
    char w[32], t[32], f[32], g[32];
    printf("{\"tasks\": %zu, \"ok\": %zu, \"failed\": %zu, \"retried\": %zu, "
           "\"wall_s\": %s, \"tasks_per_s\": %s, \"flops\": %s, "
           "\"gflops\": %s}\n",
           st->tasks, st->ok, st->failed, st->retried,
           sl__cli_json_num(st->wall_s, w, sizeof(w)),
           sl__cli_json_num(st->tasks_per_s, t, sizeof(t)),
           sl__cli_json_num(st->flops, f, sizeof(f)),
           sl__cli_json_num(st->gflops, g, sizeof(g)));
}

static void
s_map_text(const s_map_opts *m, const sl_job_stats *st)
{
    char wall[32];
    if (st->wall_s < 1) {
        sl__fmt(wall, sizeof(wall), "%.1f ms", st->wall_s * 1e3);
    } else {
        sl__fmt(wall, sizeof(wall), "%.3f s", st->wall_s);
    }
    printf("%s: %zu task%s, %zu ok, %zu failed, %zu retried\n", m->function,
           st->tasks, st->tasks == 1 ? "" : "s", st->ok, st->failed,
           st->retried);
    printf("wall %s, %.0f tasks/s, %.4g FLOPs, %.2f GFLOPS\n", wall,
           st->tasks_per_s, st->flops, st->gflops);
}

// Summary, errors, exit status.
static int
s_map_report(sl_client *c, sl_job job, const s_map_opts *m)
{
    sl_job_stats st;
    sl_err rv = sl_job_stats_get(c, job, &st);
    if (rv != SL_OK) {
        fprintf(stderr, "starling map: no statistics: %s\n", sl_strerror(rv));
        return 1;
    }
    if (m->json) {
        s_map_json(&st);
    } else {
        s_map_text(m, &st);
    }
    fflush(stdout);
    if (st.failed == 0) {
        return 0;
    }
    s_print_errors(c, job, st.failed);
    fprintf(stderr, "starling map: %zu of %zu tasks of %s failed\n", st.failed,
            st.tasks, m->function);
    return s_interrupts > 0 ? SL_CLI_INTERRUPTED : 1;
}

// Submit the map: n pointers to the one argument value.
static sl_err
s_map_submit(sl_client *c, const s_map_opts *m, sl_job *job)
{
    sl_value **args = malloc(m->tasks * sizeof(*args));
    if (args == NULL) {
        return SL_ENOMEM;
    }
    for (size_t i = 0; i < m->tasks; i++) {
        args[i] = m->arg;
    }
    sl_err rv = sl_map(c, m->function, args, m->tasks, NULL, job);
    free(args);
    return rv;
}

static int
s_map_run(sl_client *c, const s_map_opts *m)
{
    sl_job job;
    sl_err rv = s_map_submit(c, m, &job);
    if (rv != SL_OK) {
        fprintf(stderr, "starling map: cannot submit %s: %s: %s\n", m->function,
                sl_strerror(rv), sl_client_errstr(c));
        return 1;
    }
    s_sigint_catch();
    if ((rv = s_map_wait(c, job)) != SL_OK) {
        fprintf(stderr, "starling map: waiting for %s: %s: %s\n", m->function,
                sl_strerror(rv), sl_client_errstr(c));
        sl_job_release(c, job);
        return 1;
    }
    int rc = s_map_report(c, job, m);
    sl_job_release(c, job);
    return rc;
}

// Register --module and, when FUNCTION is a bare kernel name ("pi"), name
// it through the module. "sim/pi" and "blas.dgemm" pass through as they are.
static int
s_map_module(sl_client *c, s_map_opts *m)
{
    sl_module mod;
    sl_err rv = sl_module_register(c, m->module, &mod);
    if (rv != SL_OK) {
        fprintf(stderr, "starling map: cannot register %s: %s: %s\n", m->module,
                sl_strerror(rv), sl_client_errstr(c));
        return 1;
    }
    if (!m->json) {
        fprintf(stderr, "starling map: module %s (%s), %s\n", mod.name,
                mod.hash, mod.uploaded ? "uploaded" : "already in the store");
    }
    if (strchr(m->function, '/') != NULL || strchr(m->function, '.') != NULL) {
        return -1;
    }
    if (sl_module_function(&mod, m->function, m->resolved,
                           sizeof(m->resolved)) != SL_OK) {
        fprintf(stderr, "starling map: bad kernel name %s\n", m->function);
        return 1;
    }
    m->function = m->resolved;
    return -1;
}

static int
s_cmd_map(int argc, char **argv)
{
    s_map_opts m = {0};
    sl_client *client = NULL;
    int rc = SL_CLI_USAGE;
    if ((m.arg = sl_value_new_map()) == NULL) {
        fprintf(stderr, "starling map: out of memory\n");
        return 1;
    }
    if ((rc = s_map_parse(argc, argv, &m)) >= 0) {
        goto done;
    }
    if ((client = sl__cli_connect(&m.target, "map")) == NULL) {
        rc = 1;
        goto done;
    }
    if (m.module != NULL && (rc = s_map_module(client, &m)) >= 0) {
        goto done;
    }
    rc = s_map_run(client, &m);
done:
    sl_client_destroy(&client);
    sl_value_destroy(&m.arg);
    return rc;
}

const sl__cli_command sl__cli_map = {
    "map", s_cmd_map, "run a function over N tasks and report",
    "usage: starling map FUNCTION --tasks N [--arg NAME=VALUE ...] [--json]\n"
    "                   [--module PATH] [--home DIR | --scheduler EP]\n"
    "\n"
    "Run FUNCTION (e.g. sys.noop, bench.gemm_flops) as N tasks, each with\n"
    "the same argument map, show progress on a terminal, then a summary\n"
    "and the first errors. Exits 1 when any task failed.\n"
    "\n"
    "  --tasks N          number of tasks (required)\n"
    "  --arg NAME=VALUE   an argument; VALUE is an integer, a float, true\n"
    "                     or false when it parses as one, else a string\n"
    "  --module PATH      register this kernel module (.so) first; then\n"
    "                     FUNCTION may be one of its kernels by name\n"
    "  --json             print one JSON object: tasks, ok, failed, "
    "retried,\n"
    "                     wall_s, tasks_per_s, flops, gflops\n"
    "  --home DIR         the local cluster under DIR\n"
    "  --scheduler EP     the scheduler at EP (default "
    "$STARLING_SCHEDULER,\n"
    "                     else the local cluster)\n"
    "  --help             this text\n"};
