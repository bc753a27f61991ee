// cli.c - the `starling` command: a local cluster, its status, a map from
// the shell.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - One subcommand per row of s_commands; each is a function that parses
//   its own options (getopt_long over argv from the subcommand's name on)
//   and returns the exit status: 0 success, 1 failure (a failed task
//   counts), 2 a usage error, 130 interrupted.
// - Results and JSON go to stdout; progress, warnings and errors to
//   stderr, so `--json` output can be piped as it is.
// - `map` gives every task the same argument: it builds one map value and
//   hands sl_map an array of n pointers to it (sl_map encodes the values at
//   once and keeps none of them).
#include <starling/starling.h>

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/cert.h"
#include "../common/proc.h"
#include "../common/util.h"
#include "launch/launch.h"

#define SL_CLI_USAGE 2
#define SL_CLI_INTERRUPTED 130
#define SL_CLI_WAIT_MS 150
#define SL_CLI_ERRORS_SHOWN 5
#define SL_CLI_MAX_TASKS 100000000LL

typedef struct {
    const char *name;                  // the subcommand, as typed
    int (*run)(int argc, char **argv); // argv[0] is the name
    const char *summary;               // one line for `starling --help`
    const char *usage;                 // the whole of `starling NAME --help`
} s_command;

// Options that status and map share: which scheduler to talk to.
typedef struct {
    const char *scheduler; // --scheduler EP, or NULL
    const char *home;      // --home DIR, or NULL
} s_target;

static volatile sig_atomic_t s_interrupts; // SIGINTs received during map

// ---------------------------------------------------------------------
// Small helpers.

// Parse a whole decimal integer in [min, max].
static bool
s_parse_ll(const char *s, long long min, long long max, long long *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (s[0] == '\0' || isspace((unsigned char) s[0]) || *end != '\0' ||
        errno != 0 || v < min || v > max) {
        return false;
    }
    *out = v;
    return true;
}

static bool
s_parse_int(const char *s, int min, int max, int *out)
{
    long long v;
    if (!s_parse_ll(s, min, max, &v)) {
        return false;
    }
    *out = (int) v;
    return true;
}

// getopt_long with our own message for a bad option. Returns the option,
// -1 at the end, or '?' after saying what was wrong.
static int
s_getopt(int argc, char **argv, const struct option *longopts)
{
    opterr = 0;
    int c = getopt_long(argc, argv, "h", longopts, NULL);
    if (c == '?' || c == ':') {
        fprintf(stderr, "starling %s: bad option or missing value: %s\n",
                argv[0], argv[optind - 1]);
        return '?';
    }
    return c;
}

static int s_usage_error(const s_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

// Say what was wrong, then the command's usage; the exit status for it.
static int
s_usage_error(const s_command *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "starling %s: ", cmd->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n\n%s", cmd->usage);
    return SL_CLI_USAGE;
}

// A JSON number: JSON has no inf or nan.
static const char *
s_json_num(double v, char *buf, size_t len)
{
    if (!isfinite(v)) {
        return "null";
    }
    sl__fmt(buf, len, "%.15g", v);
    return buf;
}

// "4.2s", "5m07s", "3h02m", "2d05h".
static const char *
s_duration(double s, char *buf, size_t len)
{
    long t = (long) s;
    if (s < 60) {
        sl__fmt(buf, len, "%.1fs", s);
    } else if (t < 3600) {
        sl__fmt(buf, len, "%ldm%02lds", t / 60, t % 60);
    } else if (t < 86400) {
        sl__fmt(buf, len, "%ldh%02ldm", t / 3600, t % 3600 / 60);
    } else {
        sl__fmt(buf, len, "%ldd%02ldh", t / 86400, t % 86400 / 3600);
    }
    return buf;
}

// ---------------------------------------------------------------------
// Finding and reaching the scheduler.

// Where to connect, and with which keys.
typedef struct {
    char endpoint[256];    // the scheduler's client endpoint
    bool keys_given;       // keys below are the ones to use
    char client_cert[512]; // "": no CURVE
    char server_cert[512];
} s_dest;

// The endpoint and keys of the local cluster under home (NULL: the default
// home).
static bool
s_local_dest(const char *home, s_dest *d)
{
    sl__cluster_info *info = calloc(1, sizeof(*info));
    bool ok = false;
    if (info == NULL) {
        fprintf(stderr, "starling: out of memory\n");
        return false;
    }
    sl_err rv = sl__cluster_read(home, info);
    if (rv == SL_ENOTFOUND) {
        fprintf(stderr,
                "starling: no local cluster under %s: run `starling up`, "
                "or give --scheduler EP (or set STARLING_SCHEDULER)\n",
                info->home);
    } else if (rv != SL_OK) {
        fprintf(stderr, "starling: cannot read %s/cluster.env: %s\n",
                info->home, sl_strerror(rv));
    } else if (!sl__proc_alive(info->scheduler_pid)) {
        fprintf(stderr,
                "starling: the local cluster under %s is not running (its "
                "scheduler, pid %d, is gone): run `starling up`\n",
                info->home, (int) info->scheduler_pid);
    } else {
        sl__strlcpy(d->endpoint, info->scheduler, sizeof(d->endpoint));
        sl__strlcpy(d->client_cert, info->client_cert, sizeof(d->client_cert));
        sl__strlcpy(d->server_cert, info->server_cert, sizeof(d->server_cert));
        d->keys_given = true;
        ok = true;
    }
    free(info);
    return ok;
}

// Where to connect: --scheduler, else --home's cluster, else
// $STARLING_SCHEDULER, else the default home's cluster. A scheduler named
// by endpoint gets the keys that libstarling finds (the environment's, or
// the local cluster's when it is that one); a cluster's, its own.
static bool
s_dest_find(const s_target *t, s_dest *d)
{
    const char *env = getenv("STARLING_SCHEDULER");
    memset(d, 0, sizeof(*d));
    if (t->scheduler != NULL) {
        sl__strlcpy(d->endpoint, t->scheduler, sizeof(d->endpoint));
        return true;
    }
    if (t->home == NULL && env != NULL && env[0] != '\0') {
        sl__strlcpy(d->endpoint, env, sizeof(d->endpoint));
        return true;
    }
    return s_local_dest(t->home, d);
}

static sl_client *
s_connect(const s_target *t, const char *cmd)
{
    s_dest d;
    sl_client *c = NULL;
    if (!s_dest_find(t, &d)) {
        return NULL;
    }
    sl_client_keys keys = {NULL, NULL};
    if (d.client_cert[0] != '\0') {
        keys.client_cert = d.client_cert;
        keys.server_cert = d.server_cert;
    }
    sl_err rv =
        sl_client_connect_keys(&c, d.endpoint, d.keys_given ? &keys : NULL);
    if (rv != SL_OK) {
        fprintf(stderr,
                "starling %s: cannot connect to the scheduler at %s: "
                "%s\n",
                cmd, d.endpoint, sl_strerror(rv));
        return NULL;
    }
    return c;
}

// ---------------------------------------------------------------------
// up and down.

static void
s_print_cluster(const sl__cluster_info *info)
{
    printf("  scheduler  %s  (clients connect here)\n", info->scheduler);
    printf("  workers    %s  (%d worker%s x %d slot%s, pid%s",
           info->workers_endpoint, info->n_workers,
           info->n_workers == 1 ? "" : "s", info->slots,
           info->slots == 1 ? "" : "s", info->n_workers == 1 ? "" : "s");
    for (int i = 0; i < info->n_workers; i++) {
        printf("%s%d", i == 0 ? " " : ",", (int) info->worker_pids[i]);
    }
    printf(")\n");
    printf("  redis      %s  (pid %d, password in %s/redis.pass)\n",
           info->redis, (int) info->redis_pid, info->home);
    if (info->client_cert[0] != '\0') {
        printf("  keys       %s/keys  (CURVE; clients use client_secret, "
               "the scheduler lets in keys/allowed/*)\n",
               info->home);
    } else {
        printf("  keys       none: --insecure (loopback only)\n");
    }
    printf("  logs       %s/*.log\n", info->home);
}

// Tell the user how clients find a cluster under a home of their choice.
static void
s_print_home_hint(const char *home)
{
    char fallback[512];
    sl__cluster_home(NULL, fallback, sizeof(fallback));
    if (strcmp(fallback, home) != 0) {
        printf("  clients find it with STARLING_HOME=%s\n", home);
    }
}

static int s_cmd_up(int argc, char **argv);
static int s_cmd_down(int argc, char **argv);
static int s_cmd_status(int argc, char **argv);
static int s_cmd_map(int argc, char **argv);
static int s_cmd_keygen(int argc, char **argv);

static const s_command s_commands[] = {
    {"up", s_cmd_up, "start a local cluster (redis, scheduler, workers)",
     "usage: starling up [--workers N] [--slots S] [--home DIR]\n"
     "                   [--executor process|thread] [--no-aof]\n"
     "                   [--insecure] [--module-allow FILE] [--cache-mb N]\n"
     "\n"
     "Start a local cluster: a private redis-server on loopback with a\n"
     "generated password, a starling-scheduler, and N worker processes\n"
     "with S executor slots each. Says where everything listens. When a\n"
     "cluster is already running under the home directory, says so.\n"
     "Every connection to the scheduler uses CURVE keys, made under\n"
     "HOME/keys on the first up and kept; HOME/keys/allowed holds the\n"
     "public certificates the scheduler lets in.\n"
     "\n"
     "  --workers N          worker processes (default: one per core, or\n"
     "                       cores / S with --slots)\n"
     "  --slots S            slots per worker (default 1, or cores / N\n"
     "                       with --workers)\n"
     "  --home DIR           home directory (default $STARLING_HOME, else "
     "~/.starling)\n"
     "  --executor MODE      process (default): each slot runs kernels in\n"
     "                       an executor process, killed at a task's time\n"
     "                       limit and replaced when a kernel crashes;\n"
     "                       thread: in the worker's threads (faster, no\n"
     "                       isolation)\n"
     "  --no-aof             no Redis append-only file (by default Redis\n"
     "                       keeps one, fsynced every second, so results\n"
     "                       survive a Redis restart)\n"
     "  --insecure           no CURVE keys (the cluster is on loopback all "
     "the\n"
     "                       same; anyone on this machine may use it)\n"
     "  --module-allow FILE  workers load only the modules whose SHA-256 is "
     "a\n"
     "                       line of FILE\n"
     "  --cache-mb N         each slot keeps the inputs it fetched, up to\n"
     "                       N MiB (default: an eighth of the memory over\n"
     "                       the cores; 0: none)\n"
     "  --help               this text\n"},
    {"down", s_cmd_down, "stop the local cluster",
     "usage: starling down [--home DIR]\n"
     "\n"
     "Stop the processes `starling up` started, by the PIDs it recorded\n"
     "(a PID that now runs another program is left alone).\n"
     "\n"
     "  --home DIR   home directory (default $STARLING_HOME, else "
     "~/.starling)\n"
     "  --help       this text\n"},
    {"status", s_cmd_status, "the cluster at a glance",
     "usage: starling status [--json] [--home DIR | --scheduler EP]\n"
     "\n"
     "Workers, slots, busy slots, queued, running and finished tasks, jobs,\n"
     "throughput (tasks/s, GFLOPS) and uptime, as the scheduler sees them.\n"
     "\n"
     "  --json          one JSON object on stdout\n"
     "  --home DIR      the local cluster under DIR\n"
     "  --scheduler EP  the scheduler at EP (default $STARLING_SCHEDULER, "
     "else\n"
     "                  the local cluster)\n"
     "  --help          this text\n"},
    {"map", s_cmd_map, "run a function over N tasks and report",
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
     "  --help             this text\n"},
    {"keygen", s_cmd_keygen, "make a CURVE key pair (a certificate)",
     "usage: starling keygen [--out DIR] [--force] NAME\n"
     "\n"
     "Make a CURVE key pair: DIR/NAME, the public certificate, and\n"
     "DIR/NAME_secret (mode 0600), both keys. Give the public one away:\n"
     "into the scheduler's allow directory (--allow) for a client or a\n"
     "worker, or to every client and worker for the scheduler's own. Keep\n"
     "the secret one where only its program can read it.\n"
     "\n"
     "  --out DIR   where to write (default: the current directory)\n"
     "  --force     replace NAME and NAME_secret if they exist\n"
     "  --help      this text\n"
     "\n"
     "A client finds its keys in $STARLING_CLIENT_CERT (its NAME_secret)\n"
     "and $STARLING_SERVER_CERT (the scheduler's public certificate); a\n"
     "worker takes --cert and --server-cert; the scheduler --cert and\n"
     "--allow.\n"},
    // bench: the benchmark runner gets its own row (issue: bench).
};

#define SL_CLI_N_COMMANDS (sizeof(s_commands) / sizeof(s_commands[0]))

static const s_command *
s_command_find(const char *name)
{
    for (size_t i = 0; i < SL_CLI_N_COMMANDS; i++) {
        if (strcmp(s_commands[i].name, name) == 0) {
            return &s_commands[i];
        }
    }
    return NULL;
}

static void
s_usage(FILE *out)
{
    fprintf(out, "usage: starling COMMAND [options]\n"
                 "\n"
                 "starling runs a function over thousands of inputs at once, "
                 "on every core.\n"
                 "\n"
                 "Commands:\n");
    for (size_t i = 0; i < SL_CLI_N_COMMANDS; i++) {
        fprintf(out, "  %-8s %s\n", s_commands[i].name, s_commands[i].summary);
    }
    fprintf(out, "\n"
                 "  starling COMMAND --help   that command's options\n"
                 "  starling --version        the version\n");
}

// *path_p = the absolute path of path (malloc'd; an earlier one is freed),
// so that daemons started elsewhere find it. False when it does not exist.
static bool
s_path_set(const char **path_p, const char *path)
{
    free((char *) *path_p);
    *path_p = realpath(path, NULL);
    return *path_p != NULL;
}

// Parse up's options into opts. Returns -1 to go on, else an exit status.
static int
s_up_parse(int argc, char **argv, sl__cluster_opts *opts)
{
    static const struct option longopts[] = {
        {"workers", required_argument, NULL, 'w'},
        {"slots", required_argument, NULL, 's'},
        {"home", required_argument, NULL, 'H'},
        {"no-aof", no_argument, NULL, 'a'},
        {"executor", required_argument, NULL, 'x'},
        {"insecure", no_argument, NULL, 'I'},
        {"module-allow", required_argument, NULL, 'M'},
        {"cache-mb", required_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const s_command *cmd = s_command_find("up");
    int c;
    while ((c = s_getopt(argc, argv, longopts)) != -1) {
        if (c == 'w' &&
            !s_parse_int(optarg, 1, SL_CLUSTER_MAX_WORKERS, &opts->workers)) {
            return s_usage_error(cmd, "--workers takes 1 to 1024, not %s",
                                 optarg);
        } else if (c == 's' && !s_parse_int(optarg, 1, 4096, &opts->slots)) {
            return s_usage_error(cmd, "--slots takes 1 to 4096, not %s",
                                 optarg);
        } else if (c == 'H') {
            opts->home = optarg;
        } else if (c == 'a') {
            opts->aof = false;
        } else if (c == 'x') {
            if (strcmp(optarg, "process") != 0 &&
                strcmp(optarg, "thread") != 0) {
                return s_usage_error(cmd,
                                     "--executor takes process or thread, "
                                     "not %s",
                                     optarg);
            }
            opts->executor = optarg;
        } else if (c == 'I') {
            opts->insecure = true;
        } else if (c == 'C') {
            int mb;
            if (!s_parse_int(optarg, 0, 1 << 30, &mb)) {
                return s_usage_error(cmd, "--cache-mb takes 0 or more, not %s",
                                     optarg);
            }
            opts->cache_mb = mb > 0 ? mb : -1;
        } else if (c == 'M' && !s_path_set(&opts->module_allow, optarg)) {
            return s_usage_error(cmd, "--module-allow %s: %s", optarg,
                                 strerror(errno));
        } else if (c == 'h') {
            fputs(cmd->usage, stdout);
            return 0;
        } else if (c == '?') {
            fputs(cmd->usage, stderr);
            return SL_CLI_USAGE;
        }
    }
    if (optind < argc) {
        return s_usage_error(cmd, "unexpected argument %s", argv[optind]);
    }
    return -1;
}

static int
s_cmd_up(int argc, char **argv)
{
    sl__cluster_opts opts = {.aof = true};
    char errbuf[SL_ERRSTR_LEN];
    bool started = false;
    int rc = s_up_parse(argc, argv, &opts);
    sl__cluster_info *info = rc < 0 ? calloc(1, sizeof(*info)) : NULL;
    if (rc >= 0) {
        goto done;
    }
    rc = 1;
    if (info == NULL) {
        fprintf(stderr, "starling up: out of memory\n");
        goto done;
    }
    sl_err rv = sl__cluster_up(&opts, info, &started, errbuf);
    if (rv != SL_OK) {
        fprintf(stderr, "starling up: %s\n", errbuf);
        fprintf(stderr, "starling up: logs are in %s\n", info->home);
        goto done;
    }
    if (started) {
        printf("starling: local cluster up under %s\n", info->home);
    } else {
        printf("starling: a local cluster is already running under %s\n",
               info->home);
    }
    s_print_cluster(info);
    s_print_home_hint(info->home);
    if (!started && (opts.workers > 0 || opts.slots > 0 || opts.insecure ||
                     opts.module_allow != NULL)) {
        printf("  (--workers, --slots, --insecure and --module-allow apply "
               "to a new cluster: `starling down` first)\n");
    }
    rc = 0;
done:
    free((char *) opts.module_allow);
    free(info);
    return rc;
}

static int
s_cmd_down(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"home", required_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const s_command *cmd = s_command_find("down");
    const char *home = NULL;
    char errbuf[SL_ERRSTR_LEN];
    char dir[512];
    int c;
    while ((c = s_getopt(argc, argv, longopts)) != -1) {
        if (c == 'H') {
            home = optarg;
        } else if (c == 'h') {
            fputs(cmd->usage, stdout);
            return 0;
        } else {
            fputs(cmd->usage, stderr);
            return SL_CLI_USAGE;
        }
    }
    if (optind < argc) {
        return s_usage_error(cmd, "unexpected argument %s", argv[optind]);
    }
    sl__cluster_home(home, dir, sizeof(dir));
    sl_err rv = sl__cluster_down(home, errbuf);
    if (rv == SL_ENOTFOUND) {
        fprintf(stderr, "starling down: %s: nothing to stop\n", errbuf);
        return 0;
    }
    if (rv != SL_OK) {
        fprintf(stderr, "starling down: %s\n", errbuf);
        return 1;
    }
    printf("starling: stopped the local cluster under %s\n", dir);
    return 0;
}

// ---------------------------------------------------------------------
// status.

static void
s_status_json(const sl_cluster_status *st)
{
    char a[32], b[32], u[32];
    printf("{\"workers\": %u, \"slots\": %u, \"busy\": %u, \"queued\": %llu, "
           "\"running\": %llu, \"done\": %llu, \"jobs\": %u, "
           "\"tasks_per_s\": %s, \"gflops\": %s, \"uptime_s\": %s}\n",
           st->workers, st->slots, st->busy, (unsigned long long) st->queued,
           (unsigned long long) st->running, (unsigned long long) st->done,
           st->jobs, s_json_num(st->tasks_per_s, a, sizeof(a)),
           s_json_num(st->gflops, b, sizeof(b)),
           s_json_num(st->uptime_s, u, sizeof(u)));
}

static void
s_status_text(const sl_cluster_status *st)
{
    char up[32];
    printf("workers    %u\n", st->workers);
    printf("slots      %u\n", st->slots);
    printf("busy       %u\n", st->busy);
    printf("queued     %llu\n", (unsigned long long) st->queued);
    printf("running    %llu\n", (unsigned long long) st->running);
    printf("done       %llu\n", (unsigned long long) st->done);
    printf("jobs       %u\n", st->jobs);
    printf("tasks/s    %.1f\n", st->tasks_per_s);
    printf("GFLOPS     %.2f\n", st->gflops);
    printf("uptime     %s\n", s_duration(st->uptime_s, up, sizeof(up)));
}

// Parse the --home and --scheduler options shared by status and map.
static bool
s_target_opt(int c, s_target *t)
{
    if (c == 'H') {
        t->home = optarg;
    } else if (c == 'S') {
        t->scheduler = optarg;
    } else {
        return false;
    }
    return true;
}

static int
s_cmd_status(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"home", required_argument, NULL, 'H'},
        {"scheduler", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const s_command *cmd = s_command_find("status");
    s_target target = {0};
    bool json = false;
    int c;
    while ((c = s_getopt(argc, argv, longopts)) != -1) {
        if (c == 'j') {
            json = true;
        } else if (c == 'h') {
            fputs(cmd->usage, stdout);
            return 0;
        } else if (!s_target_opt(c, &target)) {
            fputs(cmd->usage, stderr);
            return SL_CLI_USAGE;
        }
    }
    if (optind < argc) {
        return s_usage_error(cmd, "unexpected argument %s", argv[optind]);
    }
    sl_client *client = s_connect(&target, "status");
    sl_cluster_status st;
    if (client == NULL) {
        return 1;
    }
    sl_err rv = sl_cluster_status_get(client, &st);
    if (rv != SL_OK) {
        fprintf(stderr, "starling status: %s: %s\n", sl_strerror(rv),
                sl_client_errstr(client));
    } else if (json) {
        s_status_json(&st);
    } else {
        s_status_text(&st);
    }
    sl_client_destroy(&client);
    return rv == SL_OK ? 0 : 1;
}

// ---------------------------------------------------------------------
// map.

typedef struct {
    const char *function;           // what each task runs
    size_t tasks;                   // how many
    bool json;                      // one JSON object on stdout
    s_target target;                // which scheduler
    sl_value *arg;                  // the argument map every task gets (owned)
    const char *module;             // a module (.so) to register first, or NULL
    char resolved[SL_FUNCTION_MAX]; // FUNCTION named through the module
} s_map_opts;

// VALUE of --arg as the most specific type it parses as.
static sl_value *
s_value_parse(const char *s)
{
    long long i;
    char *end = NULL;
    if (s_parse_ll(s, LLONG_MIN, LLONG_MAX, &i)) {
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
s_map_opt(int c, s_map_opts *m, const s_command *cmd)
{
    long long n;
    if (c == 't') {
        if (!s_parse_ll(optarg, 1, SL_CLI_MAX_TASKS, &n)) {
            return s_usage_error(cmd, "--tasks takes 1 to 100000000, not %s",
                                 optarg);
        }
        m->tasks = (size_t) n;
    } else if (c == 'a') {
        if (!s_arg_add(m->arg, optarg)) {
            return s_usage_error(cmd, "--arg takes NAME=VALUE, not %s", optarg);
        }
    } else if (c == 'j') {
        m->json = true;
    } else if (c == 'm') {
        m->module = optarg;
    } else if (c == 'h') {
        fputs(cmd->usage, stdout);
        return 0;
    } else if (!s_target_opt(c, &m->target)) {
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
    const s_command *cmd = s_command_find("map");
    int c, rc;
    while ((c = s_getopt(argc, argv, longopts)) != -1) {
        if ((rc = s_map_opt(c, m, cmd)) >= 0) {
            return rc;
        }
    }
    if (optind >= argc) {
        return s_usage_error(cmd, "which function?");
    }
    m->function = argv[optind++];
    if (optind < argc) {
        return s_usage_error(cmd, "unexpected argument %s", argv[optind]);
    }
    if (m->tasks == 0) {
        return s_usage_error(cmd, "--tasks N is required");
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

// "\r done/total  tasks/s  ETA  GFLOPS" on stderr, overwriting itself.
static void
s_progress_draw(sl_client *c, sl_job job)
{
    sl_job_stats st;
    char eta[32] = "-";
    if (sl_job_stats_get(c, job, &st) != SL_OK) {
        return;
    }
    if (st.tasks_per_s > 0 && st.done < st.tasks) {
        s_duration((double) (st.tasks - st.done) / st.tasks_per_s, eta,
                   sizeof(eta));
    }
    fprintf(stderr, "\r %zu/%zu  %.0f tasks/s  ETA %s  %.2f GFLOPS\033[K",
            st.done, st.tasks, st.tasks_per_s, eta, st.gflops);
    fflush(stderr);
}

static void
s_progress_clear(void)
{
    fprintf(stderr, "\r\033[K");
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
    while ((rv = sl_wait(c, &job, 1, SL_ALL_COMPLETED, SL_CLI_WAIT_MS)) ==
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
    for (size_t i = 0; i < n && shown < SL_CLI_ERRORS_SHOWN; i++) {
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
           s_json_num(st->wall_s, w, sizeof(w)),
           s_json_num(st->tasks_per_s, t, sizeof(t)),
           s_json_num(st->flops, f, sizeof(f)),
           s_json_num(st->gflops, g, sizeof(g)));
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
    if ((client = s_connect(&m.target, "map")) == NULL) {
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

// ---------------------------------------------------------------------
// keygen.

static int
s_cmd_keygen(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"out", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const s_command *cmd = s_command_find("keygen");
    const char *dir = ".";
    bool force = false;
    char key[SL_CERT_KEY_LEN + 1];
    char errbuf[SL_ERRSTR_LEN];
    int c;
    while ((c = s_getopt(argc, argv, longopts)) != -1) {
        if (c == 'o') {
            dir = optarg;
        } else if (c == 'f') {
            force = true;
        } else if (c == 'h') {
            fputs(cmd->usage, stdout);
            return 0;
        } else {
            fputs(cmd->usage, stderr);
            return SL_CLI_USAGE;
        }
    }
    if (optind != argc - 1) {
        return s_usage_error(cmd, "give one NAME");
    }
    const char *name = argv[optind];
    if (!sl__cert_name_ok(name)) {
        return s_usage_error(cmd,
                             "bad NAME %s: 1 to %d of [A-Za-z0-9._-], not "
                             "starting with '.' or ending in _secret",
                             name, SL_CERT_NAME_MAX);
    }
    if (sl__cert_generate(dir, name, force, key, errbuf) != SL_OK) {
        fprintf(stderr, "starling keygen: %s\n", errbuf);
        return 1;
    }
    printf("starling: key pair %s\n", name);
    printf("  public  %s/%s         give it away (public key %s)\n", dir, name,
           key);
    printf("  secret  %s/%s_secret  mode 0600: keep it\n", dir, name);
    return 0;
}

// ---------------------------------------------------------------------

int
main(int argc, char **argv)
{
    sl__log_init("starling");
    if (argc < 2) {
        s_usage(stderr);
        return SL_CLI_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 ||
        (strcmp(name, "help") == 0 && argc == 2)) {
        s_usage(stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("starling %s\n", SL_VERSION_STRING);
        return 0;
    }
    if (strcmp(name, "help") == 0) {
        name = argv[2]; // `starling help map` is `starling map --help`
    }
    const s_command *cmd = s_command_find(name);
    if (cmd == NULL) {
        fprintf(stderr, "starling: unknown command '%s'\n\n", name);
        s_usage(stderr);
        return SL_CLI_USAGE;
    }
    if (strcmp(argv[1], "help") == 0) {
        fputs(cmd->usage, stdout);
        return 0;
    }
    return cmd->run(argc - 1, argv + 1);
}
