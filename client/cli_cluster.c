// cli_cluster.c - `starling up`, `down` and `status`: the local cluster
// from the shell.
// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "launch/launch.h"

static int s_cmd_up(int argc, char **argv);
static int s_cmd_down(int argc, char **argv);
static int s_cmd_status(int argc, char **argv);

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
    if (info->dashboard[0] != '\0') {
        printf("  dashboard  %s  (/metrics for Prometheus, /api/status)\n",
               info->dashboard);
    }
    if (info->client_cert[0] != '\0') {
        printf("  keys       %s/keys  (CURVE; clients use client_secret, "
               "the scheduler lets in keys/allowed/*)\n",
               info->home);
    } else {
        printf("  keys       none: --insecure (loopback only)\n");
    }
    printf("  logs       %s/*.log\n", info->home);
}

// What up found and did.
static void
s_print_outcome(const sl__cluster_info *info,
                const sl__cluster_up_report *report)
{
    if (report->outcome == SL_CLUSTER_STARTED) {
        printf("starling: local cluster up under %s\n", info->home);
        return;
    }
    if (report->outcome == SL_CLUSTER_RUNNING) {
        printf("starling: a local cluster is already running under %s\n",
               info->home);
        return;
    }
    printf("starling: repaired the local cluster under %s; started again:\n",
           info->home);
    if (report->redis) {
        printf("  redis-server (pid %d) on %s, %s\n", (int) info->redis_pid,
               info->redis,
               info->settings.aof ? "its data read back from its append-only "
                                    "file"
                                  : "empty (no append-only file: --no-aof)");
    }
    if (report->scheduler) {
        printf("  the scheduler (pid %d) on %s: running clients and workers "
               "reconnect\n",
               (int) info->scheduler_pid, info->scheduler);
    }
    if (report->workers > 0) {
        printf("  %d worker%s in place of those that died\n", report->workers,
               report->workers == 1 ? "" : "s");
    }
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
        {"tier-budget-mb", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const sl__cli_command *cmd = &sl__cli_up;
    int64_t n;
    int c;
    while ((c = sl__cli_getopt(argc, argv, longopts)) != -1) {
        if (c == 'w') {
            if (!sl__parse_int(optarg, 1, SL_CLUSTER_MAX_WORKERS, &n)) {
                return sl__cli_usage_error(
                    cmd, "--workers takes 1 to 1024, not %s", optarg);
            }
            opts->workers = (int) n;
        } else if (c == 's') {
            if (!sl__parse_int(optarg, 1, 4096, &n)) {
                return sl__cli_usage_error(
                    cmd, "--slots takes 1 to 4096, not %s", optarg);
            }
            opts->slots = (int) n;
        } else if (c == 'H') {
            opts->home = optarg;
        } else if (c == 'a') {
            opts->aof = false;
        } else if (c == 'x') {
            if (strcmp(optarg, "process") != 0 &&
                strcmp(optarg, "thread") != 0) {
                return sl__cli_usage_error(
                    cmd,
                    "--executor takes process or thread, "
                    "not %s",
                    optarg);
            }
            opts->executor = optarg;
        } else if (c == 'I') {
            opts->insecure = true;
        } else if (c == 'C') {
            if (!sl__parse_int(optarg, 0, 1 << 30, &n)) {
                return sl__cli_usage_error(
                    cmd, "--cache-mb takes 0 or more, not %s", optarg);
            }
            opts->cache_mb = n > 0 ? (int) n : -1;
        } else if (c == 'T') {
            if (!sl__parse_int(optarg, 0, 1 << 30, &n)) {
                return sl__cli_usage_error(
                    cmd, "--tier-budget-mb takes 0 or more, not %s", optarg);
            }
            opts->tier_budget_mb = n > 0 ? (int) n : -1;
        } else if (c == 'M' && !s_path_set(&opts->module_allow, optarg)) {
            return sl__cli_usage_error(cmd, "--module-allow %s: %s", optarg,
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
        return sl__cli_usage_error(cmd, "unexpected argument %s", argv[optind]);
    }
    return -1;
}

static int
s_cmd_up(int argc, char **argv)
{
    sl__cluster_opts opts = {.aof = true};
    sl__cluster_up_report report;
    char errbuf[SL_ERRSTR_LEN];
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
    sl_err rv = sl__cluster_up(&opts, info, &report, errbuf);
    if (rv != SL_OK) {
        fprintf(stderr, "starling up: %s\n", errbuf);
        fprintf(stderr, "starling up: logs are in %s\n", info->home);
        goto done;
    }
    s_print_outcome(info, &report);
    s_print_cluster(info);
    s_print_home_hint(info->home);
    if (report.outcome != SL_CLUSTER_STARTED &&
        (opts.workers > 0 || opts.slots > 0 || opts.insecure ||
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
    const sl__cli_command *cmd = &sl__cli_down;
    const char *home = NULL;
    char errbuf[SL_ERRSTR_LEN];
    char dir[512];
    int c;
    while ((c = sl__cli_getopt(argc, argv, longopts)) != -1) {
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
        return sl__cli_usage_error(cmd, "unexpected argument %s", argv[optind]);
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

// The nodes' object tiers shown, at most.
#define S_STATUS_TIERS 64

static void
s_status_json(const sl_cluster_status *st, const sl_node_tier *tiers,
              size_t n_tiers)
{
    char a[32], b[32], u[32];
    printf("{\"workers\": %u, \"slots\": %u, \"busy\": %u, \"queued\": %llu, "
           "\"running\": %llu, \"done\": %llu, \"jobs\": %u, "
           "\"tasks_per_s\": %s, \"gflops\": %s, \"uptime_s\": %s, "
           "\"tiers\": [",
           st->workers, st->slots, st->busy, (unsigned long long) st->queued,
           (unsigned long long) st->running, (unsigned long long) st->done,
           st->jobs, sl__cli_json_num(st->tasks_per_s, a, sizeof(a)),
           sl__cli_json_num(st->gflops, b, sizeof(b)),
           sl__cli_json_num(st->uptime_s, u, sizeof(u)));
    for (size_t i = 0; i < n_tiers; i++) {
        // Node names are [A-Za-z0-9._-] (store/tier.h): no escaping.
        printf("%s{\"node\": \"%s\", \"objects\": %llu, \"bytes\": %llu, "
               "\"budget\": %llu}",
               i > 0 ? ", " : "", tiers[i].node,
               (unsigned long long) tiers[i].objects,
               (unsigned long long) tiers[i].bytes,
               (unsigned long long) tiers[i].budget);
    }
    printf("]}\n");
}

static void
s_status_text(const sl_cluster_status *st, const sl_node_tier *tiers,
              size_t n_tiers)
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
    printf("uptime     %s\n", sl__cli_duration(st->uptime_s, up, sizeof(up)));
    for (size_t i = 0; i < n_tiers; i++) {
        const sl_node_tier *t = &tiers[i];
        printf("tier       %s: %llu objects, %.1f of %.0f MiB\n", t->node,
               (unsigned long long) t->objects, (double) t->bytes / (1 << 20),
               (double) t->budget / (1 << 20));
    }
}

// Name on stderr each part of the local cluster under home that does not
// run. Returns how many; *scheduler_runs says whether the scheduler does
// (true also when no cluster is recorded: connecting says so then).
static int
s_status_parts(const char *home, bool *scheduler_runs)
{
    sl__cluster_info *info = calloc(1, sizeof(*info));
    sl__cluster_health *h = calloc(1, sizeof(*h));
    int dead = 0;
    *scheduler_runs = true;
    if (info != NULL && h != NULL && sl__cluster_read(home, info) == SL_OK) {
        sl__cluster_check(info, h);
        const char *fix = "`starling up` restarts it";
        if (!h->redis) {
            fprintf(stderr,
                    "starling status: redis-server (pid %d) is not "
                    "running; %s\n",
                    (int) info->redis_pid, fix);
        }
        if (!h->scheduler) {
            fprintf(stderr,
                    "starling status: the scheduler (pid %d) is not "
                    "running; %s\n",
                    (int) info->scheduler_pid, fix);
        }
        for (int i = 0; i < info->n_workers; i++) {
            if (!h->workers[i]) {
                fprintf(stderr,
                        "starling status: worker %d (pid %d) is not "
                        "running; `starling up` replaces it\n",
                        i, (int) info->worker_pids[i]);
            }
        }
        dead = !h->redis + !h->scheduler + h->workers_dead;
        *scheduler_runs = h->scheduler;
    }
    free(h);
    free(info);
    return dead;
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
    const sl__cli_command *cmd = &sl__cli_status;
    sl__cli_target target = {0};
    bool json = false;
    int c;
    while ((c = sl__cli_getopt(argc, argv, longopts)) != -1) {
        if (c == 'j') {
            json = true;
        } else if (c == 'h') {
            fputs(cmd->usage, stdout);
            return 0;
        } else if (!sl__cli_target_opt(c, &target)) {
            fputs(cmd->usage, stderr);
            return SL_CLI_USAGE;
        }
    }
    if (optind < argc) {
        return sl__cli_usage_error(cmd, "unexpected argument %s", argv[optind]);
    }
    bool scheduler_runs = true;
    int dead = sl__cli_target_local(&target)
                   ? s_status_parts(target.home, &scheduler_runs)
                   : 0;
    if (!scheduler_runs) {
        return 1; // nothing to ask; the parts are named
    }
    sl_client *client = sl__cli_connect(&target, "status");
    sl_cluster_status st;
    if (client == NULL) {
        return 1;
    }
    sl_node_tier tiers[S_STATUS_TIERS];
    size_t n_tiers = 0;
    sl_err rv = sl_cluster_status_get(client, &st);
    if (rv == SL_OK && sl_cluster_tiers_get(client, tiers, S_STATUS_TIERS,
                                            &n_tiers) != SL_OK) {
        fprintf(stderr, "starling status: no object tiers: %s\n",
                sl_client_errstr(client));
        n_tiers = 0;
    }
    n_tiers = n_tiers < S_STATUS_TIERS ? n_tiers : S_STATUS_TIERS;
    if (rv != SL_OK) {
        fprintf(stderr, "starling status: %s: %s\n", sl_strerror(rv),
                sl_client_errstr(client));
    } else if (json) {
        s_status_json(&st, tiers, n_tiers);
    } else {
        s_status_text(&st, tiers, n_tiers);
    }
    sl_client_destroy(&client);
    return rv == SL_OK && dead == 0 ? 0 : 1;
}

const sl__cli_command sl__cli_up = {
    "up", s_cmd_up, "start a local cluster (redis, scheduler, workers)",
    "usage: starling up [--workers N] [--slots S] [--home DIR]\n"
    "                   [--executor process|thread] [--no-aof]\n"
    "                   [--insecure] [--module-allow FILE] [--cache-mb N]\n"
    "                   [--tier-budget-mb N]\n"
    "\n"
    "Start a local cluster: a private redis-server on loopback with a\n"
    "generated password, a starling-scheduler, and N worker processes\n"
    "with S executor slots each. Says where everything listens. When a\n"
    "cluster is already running under the home directory, says so; when\n"
    "parts of it have died, starts those again where they were (Redis on\n"
    "its port, from its append-only file; the scheduler on its endpoints;\n"
    "a worker in place of each dead one), so that running maps and\n"
    "workers reconnect and go on.\n"
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
    "  --tier-budget-mb N   each node's object tier (shared memory for\n"
    "                       large objects) holds up to N MiB (default: a\n"
    "                       quarter of the memory, at most half of\n"
    "                       /dev/shm; 0: no tier)\n"
    "  --help               this text\n"};

const sl__cli_command sl__cli_down = {
    "down", s_cmd_down, "stop the local cluster",
    "usage: starling down [--home DIR]\n"
    "\n"
    "Stop the processes `starling up` started, by the PIDs it recorded\n"
    "(a PID that now runs another program is left alone).\n"
    "\n"
    "  --home DIR   home directory (default $STARLING_HOME, else "
    "~/.starling)\n"
    "  --help       this text\n"};

const sl__cli_command sl__cli_status = {
    "status", s_cmd_status, "the cluster at a glance",
    "usage: starling status [--json] [--home DIR | --scheduler EP]\n"
    "\n"
    "Workers, slots, busy slots, queued, running and finished tasks, jobs,\n"
    "throughput (tasks/s, GFLOPS) and uptime, as the scheduler sees them.\n"
    "For the local cluster, first names on stderr each of its processes\n"
    "that is not running (the exit status is then 1; `starling up` starts\n"
    "them again).\n"
    "\n"
    "  --json          one JSON object on stdout\n"
    "  --home DIR      the local cluster under DIR\n"
    "  --scheduler EP  the scheduler at EP (default $STARLING_SCHEDULER, "
    "else\n"
    "                  the local cluster)\n"
    "  --help          this text\n"};
