// daemons.c - the processes of a local cluster, one at a time:
// redis-server, the scheduler, a worker; started, waited for, stopped.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - Every process is started detached (a session of its own, so that a
//   terminal's Ctrl-C does not reach a daemon `up` left running) through
//   watch.h, which registers it with the watchdog when the program runs
//   one. Each writes its output to a log under home, emptied at each start
//   so that its tail is about this run; a failure quotes that tail.
// - Processes are stopped by the PID that started them. A recorded PID is
//   first checked to still run the program it was: a PID recycled since
//   belongs to someone else and is left alone.
// - The scheduler is started on two free ports the kernel picks at
//   random, not ZeroMQ's "*" (the lowest free port from 49152): a
//   scheduler restarted on its port must not find it taken by the next
//   cluster started nearby. It writes what it bound to home/endpoints.
//   Its HTTP server takes a port of the kernel's choosing too (port 0),
//   and is started again on that port, so that a Prometheus scraping it
//   or a browser showing it finds it where it was.
#include "daemons.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <starling/client.h>

#include "watch.h"

#define S_STOP_MS 5000
#define S_POLL_US 20000
#define S_PASSWORD_BYTES 24

void
sl__launch_path(char *buf, const char *home, const char *name)
{
    sl__fmt(buf, SL_LAUNCH_PATH_LEN, "%s/%s", home, name);
}

// ---------------------------------------------------------------------
// Logs.

// The last lines of the file at path that fit in len bytes, on one line
// (newlines shown as " | "). Empty when the file is missing or empty.
static void
s_log_tail(const char *path, char *out, size_t len)
{
    char buf[SL_ERRSTR_LEN];
    size_t want = len < sizeof(buf) ? len - 1 : sizeof(buf) - 1;
    FILE *f = fopen(path, "r");
    out[0] = '\0';
    if (f == NULL || len < 8) {
        if (f != NULL) {
            fclose(f);
        }
        return;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    long from = size > (long) want ? size - (long) want : 0;
    fseek(f, from, SEEK_SET);
    size_t n = fread(buf, 1, want, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) {
        buf[--n] = '\0';
    }
    // Start at a whole line when we cut into the middle of one.
    char *start = buf;
    char *nl = strchr(buf, '\n');
    if (from > 0 && nl != NULL) {
        start = nl + 1;
    }
    size_t j = 0;
    for (char *p = start; *p != '\0' && j + 4 < len; p++) {
        if (*p == '\n') {
            memcpy(out + j, " | ", 3);
            j += 3;
        } else {
            out[j++] = *p;
        }
    }
    out[j] = '\0';
}

sl_err
sl__launch_fail_with_log(sl__launch *l, sl_err rv, const char *what,
                         const char *log_name)
{
    char path[SL_LAUNCH_PATH_LEN];
    char tail[SL_ERRSTR_LEN];
    size_t used = strlen(what) + strlen(log_name) + 5;
    sl__launch_path(path, l->info->home, log_name);
    if (used + 16 < SL_ERRSTR_LEN) {
        s_log_tail(path, tail, SL_ERRSTR_LEN - used);
    } else {
        tail[0] = '\0';
    }
    if (tail[0] == '\0') {
        sl__fmt(l->errbuf, SL_ERRSTR_LEN, "%s (see %s)", what, path);
    } else {
        sl__fmt(l->errbuf, SL_ERRSTR_LEN, "%s (%s: %s)", what, log_name, tail);
    }
    return rv;
}

// ---------------------------------------------------------------------
// Spawning.

// Where program name lives: opts->bin_dir, else beside this executable,
// else just the name, for sl__proc_spawn to find in PATH.
static void
s_program(const sl__cluster_opts *opts, const char *name, char *buf, size_t len)
{
    char exe[PATH_MAX];
    if (opts->bin_dir != NULL && opts->bin_dir[0] != '\0') {
        sl__fmt(buf, len, "%s/%s", opts->bin_dir, name);
        return;
    }
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash != NULL) {
            *slash = '\0';
            sl__fmt(buf, len, "%s/%s", exe, name);
            if (access(buf, X_OK) == 0) {
                return;
            }
        }
    }
    sl__strlcpy(buf, name, len);
}

// Start program with argv (argv[0] resolved here) detached, its output in
// home/log_name, which starts empty so that its tail is about this run.
static sl_err
s_spawn(sl__launch *l, const char *program, char **argv, const char *log_name,
        pid_t *pid_out)
{
    char exe[SL_LAUNCH_PATH_LEN];
    char log[SL_LAUNCH_PATH_LEN];
    char why[SL_ERRSTR_LEN] = "";
    s_program(l->opts, program, exe, sizeof(exe));
    sl__launch_path(log, l->info->home, log_name);
    unlink(log);
    argv[0] = exe;
    sl_err rv = sl__watch_spawn(pid_out, argv, log, true, why);
    if (rv != SL_OK) {
        sl__strlcpy(l->errbuf, why, SL_ERRSTR_LEN); // It names the program.
    }
    return rv;
}

// ---------------------------------------------------------------------
// Redis.

static sl_err
s_write_password(sl__launch *l, const char *password)
{
    char path[SL_LAUNCH_PATH_LEN];
    sl__launch_path(path, l->info->home, "redis.pass");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        sl__fmt(l->errbuf, SL_ERRSTR_LEN, "cannot write %s: %s", path,
                strerror(errno));
        return SL_EIO;
    }
    size_t len = strlen(password);
    // An older file may have had a wider mode: O_CREAT does not change it.
    bool ok = fchmod(fd, 0600) == 0 &&
              write(fd, password, len) == (ssize_t) len &&
              write(fd, "\n", 1) == 1;
    ok = close(fd) == 0 && ok;
    if (!ok) {
        sl__fmt(l->errbuf, SL_ERRSTR_LEN, "cannot write %s: %s", path,
                strerror(errno));
        return SL_EIO;
    }
    return SL_OK;
}

sl_err
sl__daemon_redis_run(sl__launch *l, int port, const char *password)
{
    char dir[SL_LAUNCH_PATH_LEN];
    sl__launch_path(dir, l->info->home, "redis");
    sl__redis_opts ro = {
        .dir = dir,
        .port = port,
        .password = password,
        .aof = l->opts->aof,
    };
    sl_err rv = sl__watch_redis_start(&ro, &l->info->redis_pid, l->errbuf);
    if (rv == SL_OK) {
        sl__fmt(l->info->redis, sizeof(l->info->redis), "127.0.0.1:%d", port);
    }
    return rv;
}

sl_err
sl__daemon_redis_start(sl__launch *l)
{
    char password[2 * S_PASSWORD_BYTES + 1];
    sl_err rv;
    sl__random_hex(password, S_PASSWORD_BYTES);
    if ((rv = s_write_password(l, password)) != SL_OK) {
        return rv;
    }
    int port = sl__free_port();
    if (port < 0) {
        sl__fmt(l->errbuf, SL_ERRSTR_LEN, "no free TCP port for Redis");
        return SL_EIO;
    }
    return sl__daemon_redis_run(l, port, password);
}

// ---------------------------------------------------------------------
// The scheduler.

// Start the scheduler on the given endpoints (http NULL: its default,
// loopback and a free port); it writes what it bound to home/endpoints.
static sl_err
s_scheduler_spawn(sl__launch *l, const char *clients, const char *workers,
                  const char *http)
{
    char store_pass[SL_LAUNCH_PATH_LEN];
    char endpoints[SL_LAUNCH_PATH_LEN];
    char cert[SL_LAUNCH_PATH_LEN];
    char allow[SL_LAUNCH_PATH_LEN];
    char max_message[32], max_jobs[32], grace[16], hwm[16];
    const sl__cluster_opts *o = l->opts;
    sl__launch_path(store_pass, l->info->home, "redis.pass");
    sl__launch_path(endpoints, l->info->home, "endpoints");
    sl__launch_path(cert, l->info->home, "keys/scheduler_secret");
    sl__launch_path(allow, l->info->home, "keys/allowed");
    sl__fmt(max_message, sizeof(max_message), "%zu", o->max_message);
    sl__fmt(max_jobs, sizeof(max_jobs), "%u", o->max_client_jobs);
    sl__fmt(grace, sizeof(grace), "%d", o->client_grace_ms);
    sl__fmt(hwm, sizeof(hwm), "%d", o->send_hwm);
    unlink(endpoints);
    char *argv[32] = {
        NULL,
        "--clients",
        (char *) clients,
        "--workers",
        (char *) workers,
        "--store",
        l->info->redis,
        "--store-password-file",
        store_pass,
        "--endpoints-file",
        endpoints,
    };
    int argc = 11;
    if (!o->insecure) {
        argv[argc++] = "--cert";
        argv[argc++] = cert;
        argv[argc++] = "--allow";
        argv[argc++] = allow;
    }
    if (o->max_message > 0) {
        argv[argc++] = "--max-message";
        argv[argc++] = max_message;
    }
    if (o->max_client_jobs > 0) {
        argv[argc++] = "--max-client-jobs";
        argv[argc++] = max_jobs;
    }
    if (o->client_grace_ms > 0) {
        argv[argc++] = "--client-grace-ms";
        argv[argc++] = grace;
    }
    if (o->send_hwm > 0) {
        argv[argc++] = "--send-hwm";
        argv[argc++] = hwm;
    }
    if (http != NULL) {
        argv[argc++] = "--http";
        argv[argc++] = (char *) http;
    }
    argv[argc] = NULL;
    return s_spawn(l, "starling-scheduler", argv, "scheduler.log",
                   &l->info->scheduler_pid);
}

// Read home/endpoints ("clients=EP\nworkers=EP\n", and "http=ADDR:PORT\n"
// when it serves HTTP) into info. False until the scheduler has written
// it.
static bool
s_read_endpoints(sl__cluster_info *info)
{
    char path[SL_LAUNCH_PATH_LEN];
    char line[512];
    sl__launch_path(path, info->home, "endpoints");
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return false;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (strncmp(line, "clients=", 8) == 0) {
            sl__strlcpy(info->scheduler, line + 8, sizeof(info->scheduler));
        } else if (strncmp(line, "workers=", 8) == 0) {
            sl__strlcpy(info->workers_endpoint, line + 8,
                        sizeof(info->workers_endpoint));
        } else if (strncmp(line, "http=", 5) == 0) {
            sl__fmt(info->dashboard, sizeof(info->dashboard), "http://%s/",
                    line + 5);
        }
    }
    fclose(f);
    return info->scheduler[0] != '\0' && info->workers_endpoint[0] != '\0';
}

// Wait until the scheduler has written its endpoints. SL_EIO when it
// exited first.
static sl_err
s_wait_endpoints(sl__launch *l)
{
    while (!s_read_endpoints(l->info)) {
        if (!sl__proc_alive(l->info->scheduler_pid)) {
            sl__watch_forget(l->info->scheduler_pid);
            return sl__launch_fail_with_log(l, SL_EIO,
                                            "starling-scheduler exited at "
                                            "start",
                                            "scheduler.log");
        }
        if (sl__mono_ms() > l->deadline_ms) {
            return sl__launch_fail_with_log(l, SL_ETIMEDOUT,
                                            "starling-scheduler wrote no "
                                            "endpoints",
                                            "scheduler.log");
        }
        usleep(S_POLL_US);
    }
    return SL_OK;
}

sl_err
sl__daemon_scheduler_run(sl__launch *l, const char *clients,
                         const char *workers, const char *http)
{
    sl_err rv;
    l->info->scheduler[0] = l->info->workers_endpoint[0] = '\0';
    l->info->dashboard[0] = '\0';
    if ((rv = s_scheduler_spawn(l, clients, workers, http)) != SL_OK) {
        return rv;
    }
    return s_wait_endpoints(l);
}

// A port can be taken between our probe and the scheduler's bind: then
// it exits at once, and we try other ports.
sl_err
sl__daemon_scheduler_start(sl__launch *l)
{
    sl_err rv = SL_EIO;
    for (int attempt = 0; attempt < 3; attempt++) {
        char clients[64], workers[64];
        int cp = sl__free_port(), wp = sl__free_port();
        if (cp < 0 || wp < 0 || cp == wp) {
            sl__fmt(clients, sizeof(clients), "tcp://127.0.0.1:*");
            sl__fmt(workers, sizeof(workers), "tcp://127.0.0.1:*");
        } else {
            sl__fmt(clients, sizeof(clients), "tcp://127.0.0.1:%d", cp);
            sl__fmt(workers, sizeof(workers), "tcp://127.0.0.1:%d", wp);
        }
        if ((rv = sl__daemon_scheduler_run(l, clients, workers, NULL)) !=
            SL_EIO) {
            return rv; // up, or a failure other ports would not cure
        }
        l->info->scheduler_pid = 0; // it exited: try again
    }
    return rv;
}

// ---------------------------------------------------------------------
// Workers.

sl_err
sl__daemon_worker_start(sl__launch *l, int i)
{
    char slots[16], cache_mb[16], prefetch[16], tier_mb[16];
    char name[96];
    char host[SL_NODE_NAME_MAX + 1];
    char log_name[64];
    char cert[SL_LAUNCH_PATH_LEN];
    const sl__cluster_opts *o = l->opts;
    sl__node_name(host, sizeof(host)); // its clients' default node, too
    sl__fmt(slots, sizeof(slots), "%d", l->slots);
    sl__fmt(name, sizeof(name), "%s/%d", host, i);
    sl__fmt(log_name, sizeof(log_name), "worker-%d.log", i);
    sl__fmt(cache_mb, sizeof(cache_mb), "%d",
            o->cache_mb > 0 ? o->cache_mb : 0);
    sl__fmt(prefetch, sizeof(prefetch), "%d",
            o->prefetch > 0 ? o->prefetch : 0);
    sl__fmt(tier_mb, sizeof(tier_mb), "%d",
            o->tier_budget_mb > 0 ? o->tier_budget_mb : 0);
    sl__launch_path(cert, l->info->home, "keys/worker_secret");
    char *argv[32] = {
        NULL,     "--scheduler", l->info->workers_endpoint, "--slots", slots,
        "--name", name,
    };
    int argc = 7;
    if (!o->insecure) {
        argv[argc++] = "--cert";
        argv[argc++] = cert;
        argv[argc++] = "--server-cert";
        argv[argc++] = l->info->server_cert;
    }
    if (o->module_allow != NULL) {
        argv[argc++] = "--module-allow";
        argv[argc++] = (char *) o->module_allow;
    }
    if (o->module_cache != NULL) {
        argv[argc++] = "--module-cache";
        argv[argc++] = (char *) o->module_cache;
    }
    if (o->executor != NULL) {
        argv[argc++] = "--executor";
        argv[argc++] = (char *) o->executor;
    }
    if (o->cache_mb != 0) {
        argv[argc++] = "--cache-mb";
        argv[argc++] = cache_mb;
    }
    if (o->prefetch != 0) {
        argv[argc++] = "--prefetch";
        argv[argc++] = prefetch;
    }
    if (o->tier_budget_mb != 0) {
        argv[argc++] = "--tier-budget-mb";
        argv[argc++] = tier_mb;
    }
    argv[argc] = NULL;
    return s_spawn(l, "starling-worker", argv, log_name,
                   &l->info->worker_pids[i]);
}

sl_err
sl__daemon_workers_start(sl__launch *l)
{
    sl_err rv;
    for (int i = 0; i < l->workers; i++) {
        l->info->n_workers = i + 1;
        if ((rv = sl__daemon_worker_start(l, i)) != SL_OK) {
            l->info->worker_pids[i] = 0;
            return rv;
        }
    }
    return SL_OK;
}

// ---------------------------------------------------------------------
// Waiting for the workers.

// SL_OK while every process l started still runs; else says which died.
static sl_err
s_check_alive(sl__launch *l)
{
    char what[64];
    char log_name[64];
    if (!sl__proc_alive(l->info->scheduler_pid)) {
        return sl__launch_fail_with_log(l, SL_EIO, "starling-scheduler exited",
                                        "scheduler.log");
    }
    for (int i = 0; i < l->info->n_workers; i++) {
        if (!sl__proc_alive(l->info->worker_pids[i])) {
            sl__fmt(what, sizeof(what), "starling-worker %d exited", i);
            sl__fmt(log_name, sizeof(log_name), "worker-%d.log", i);
            return sl__launch_fail_with_log(l, SL_EIO, what, log_name);
        }
    }
    return SL_OK;
}

// Whether st is what l waits for: every worker and slot, or none at all.
static bool
s_counted(const sl__launch *l, const sl_cluster_status *st)
{
    uint32_t want = (uint32_t) (l->workers * l->slots);
    if (l->workers == 0) {
        return st->workers == 0 && st->slots == 0;
    }
    return st->workers >= (uint32_t) l->workers && st->slots >= want;
}

// Poll the scheduler until it counts what l waits for.
static sl_err
s_poll_slots(sl__launch *l, sl_client *client)
{
    sl_cluster_status st = {0};
    char what[128];
    sl_err rv;
    for (;;) {
        if ((rv = sl_cluster_status_get(client, &st)) != SL_OK) {
            sl__fmt(what, sizeof(what), "no status from the scheduler: %s",
                    sl_client_errstr(client));
            return sl__launch_fail_with_log(l, rv, what, "scheduler.log");
        }
        if (s_counted(l, &st)) {
            return SL_OK;
        }
        if ((rv = s_check_alive(l)) != SL_OK) {
            return rv;
        }
        if (sl__mono_ms() > l->deadline_ms) {
            sl__fmt(what, sizeof(what),
                    "timed out: %u of %u slots (%u of %d workers) connected",
                    st.slots, (uint32_t) (l->workers * l->slots), st.workers,
                    l->workers);
            return sl__launch_fail_with_log(l, SL_ETIMEDOUT, what,
                                            l->workers > 0 ? "worker-0.log"
                                                           : "scheduler.log");
        }
        usleep(S_POLL_US);
    }
}

sl_err
sl__daemon_slots_wait(sl__launch *l)
{
    sl_client *client = NULL;
    sl_client_keys keys = {NULL, NULL}; // insecure: none, whatever the env
    if (l->info->client_cert[0] != '\0') {
        keys.client_cert = l->info->client_cert;
        keys.server_cert = l->info->server_cert;
    }
    sl_err rv = sl_client_connect_keys(&client, l->info->scheduler, &keys);
    if (rv != SL_OK) {
        char what[128];
        sl__fmt(what, sizeof(what), "cannot connect to the scheduler: %s",
                sl_strerror(rv));
        return sl__launch_fail_with_log(l, rv, what, "scheduler.log");
    }
    rv = s_poll_slots(l, client);
    sl_client_destroy(&client);
    return rv;
}

// ---------------------------------------------------------------------
// Ports.

int
sl__daemon_port_of(const char *addr)
{
    const char *colon = strrchr(addr, ':');
    char *end = NULL;
    long port = colon != NULL ? strtol(colon + 1, &end, 10) : -1;
    if (colon == NULL || end == colon + 1 || *end != '\0' || port <= 0 ||
        port > 65535) {
        return -1;
    }
    return (int) port;
}

bool
sl__daemon_http_of(const char *dashboard, char *buf, size_t len)
{
    const char *start = "http://";
    size_t n = strlen(dashboard);
    if (strncmp(dashboard, start, 7) != 0 || n < 9 || n - 8 >= len ||
        dashboard[n - 1] != '/') {
        return false;
    }
    memcpy(buf, dashboard + 7, n - 8);
    buf[n - 8] = '\0';
    return true;
}

bool
sl__daemon_port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0) {
        return true; // cannot tell: let the program try
    }
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t) port);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    bool free = bind(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0 ||
                errno != EADDRINUSE;
    close(fd);
    return free;
}

// ---------------------------------------------------------------------
// Stopping.

bool
sl__daemon_still_ours(pid_t pid, const char *name)
{
    if (pid <= 0 || !sl__proc_alive(pid)) {
        return false;
    }
    if (!sl__proc_is(pid, name)) {
        sl__log_warn("pid %d is no longer %s; leaving it alone", (int) pid,
                     name);
        return false;
    }
    return true;
}

// Stop pid if it still runs program name. False when it would not stop.
static bool
s_stop_checked(pid_t pid, const char *name)
{
    if (!sl__daemon_still_ours(pid, name)) {
        sl__watch_forget(pid);
        return true;
    }
    if (sl__watch_stop(&pid, S_STOP_MS) != SL_OK) {
        sl__log_warn("could not stop %s (pid %d)", name, (int) pid);
        return false;
    }
    return true;
}

int
sl__daemon_stop_workers(const sl__cluster_info *info)
{
    int failed = 0;
    bool ours[SL_CLUSTER_MAX_WORKERS];
    for (int i = 0; i < info->n_workers; i++) {
        ours[i] =
            sl__daemon_still_ours(info->worker_pids[i], "starling-worker");
        if (ours[i]) {
            kill(info->worker_pids[i], SIGTERM);
        } else {
            sl__watch_forget(info->worker_pids[i]);
        }
    }
    for (int i = 0; i < info->n_workers; i++) {
        pid_t pid = info->worker_pids[i];
        if (ours[i] && sl__watch_stop(&pid, S_STOP_MS) != SL_OK) {
            sl__log_warn("could not stop starling-worker (pid %d)",
                         (int) info->worker_pids[i]);
            failed++;
        }
    }
    return failed;
}

int
sl__daemon_stop_recorded(const sl__cluster_info *info)
{
    int failed = sl__daemon_stop_workers(info);
    failed += !s_stop_checked(info->scheduler_pid, "starling-scheduler");
    failed += !s_stop_checked(info->redis_pid, "redis-server");
    return failed;
}

void
sl__daemon_stop_started(sl__cluster_info *info)
{
    for (int i = 0; i < info->n_workers; i++) {
        if (info->worker_pids[i] > 0) {
            kill(info->worker_pids[i], SIGTERM);
        }
    }
    for (int i = 0; i < info->n_workers; i++) {
        sl__watch_stop(&info->worker_pids[i], S_STOP_MS);
    }
    sl__watch_stop(&info->scheduler_pid, S_STOP_MS);
    sl__watch_stop(&info->redis_pid, S_STOP_MS);
}
