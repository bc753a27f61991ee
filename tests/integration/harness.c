// harness.c - integration tests: a real local cluster in a temporary home.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - One cluster per test process, in file-local state: the atexit handler
//   needs to find it without the test's help.
// - The launcher's watchdog (client/launch/watch.h) is started with the
//   first cluster, while the test is still one thread; the launcher tells
//   it each process it starts, and the harness tells it the home and the
//   test's own processes. If the test dies without sl__harness_stop (a
//   signal, a ctest timeout, an AddressSanitizer report), the watchdog
//   SIGKILLs each process that still runs its program and removes the
//   home.
#include "harness.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../client/launch/watch.h"
#include "../../common/cert.h"
#include "../../common/proc.h"

#define S_HARNESS_TIMEOUT_MS 60000
#define S_HARNESS_KILL_WAIT_MS 5000
#define S_HARNESS_LOG_TAIL 4096
// Processes a test may start besides the cluster's.
#define S_HARNESS_EXTRA 16

static struct {
    bool active;                  // a cluster is up
    char tier_dir[700];           // $STARLING_TIER_DIR of the test, or ""
    bool atexit_set;              // s_atexit is registered
    sl__cluster_info info;        // what sl__cluster_up reported
    pid_t extra[S_HARNESS_EXTRA]; // processes of sl__harness_spawn, or 0
} s_h;

// ---------------------------------------------------------------------
// Logs.

static void
s_dump_log(const char *path)
{
    char buf[S_HARNESS_LOG_TAIL + 1];
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > S_HARNESS_LOG_TAIL ? size - S_HARNESS_LOG_TAIL : 0,
          SEEK_SET);
    size_t n = fread(buf, 1, S_HARNESS_LOG_TAIL, f);
    fclose(f);
    buf[n] = '\0';
    fprintf(stderr, "---- %s%s\n%s\n", path,
            size > S_HARNESS_LOG_TAIL ? " (tail)" : "", buf);
}

// Print the end of every process's log: what a failed test needs to show.
static void
s_dump_logs(const char *home)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/scheduler.log", home);
    s_dump_log(path);
    snprintf(path, sizeof(path), "%s/redis/redis.log", home);
    s_dump_log(path);
    for (int i = 0; i < SL_CLUSTER_MAX_WORKERS; i++) {
        snprintf(path, sizeof(path), "%s/worker-%d.log", home, i);
        if (access(path, F_OK) != 0) {
            break;
        }
        s_dump_log(path);
    }
}

// ---------------------------------------------------------------------
// Start and stop.

// A test that exits without sl__harness_stop (a failed assertion) failed:
// show the logs, then stop.
static void
s_atexit(void)
{
    if (s_h.active) {
        fprintf(stderr, "harness: the test exited with its cluster up; "
                        "logs follow\n");
        s_dump_logs(s_h.info.home);
        sl__harness_stop();
    }
}

sl_err
sl__harness_start(int workers, int slots, sl__cluster_info *info)
{
    sl__cluster_opts opts = {.workers = workers, .slots = slots};
    return sl__harness_start_opts(&opts, info);
}

sl_err
sl__harness_start_opts(const sl__cluster_opts *given, sl__cluster_info *info)
{
    char home[512];
    char errbuf[SL_ERRSTR_LEN];
    sl_err rv;
    if (s_h.active) {
        return SL_EINVAL;
    }
    if ((rv = sl__watch_start()) != SL_OK) {
        fprintf(stderr, "harness: cannot start the watchdog\n");
        return rv;
    }
    if ((rv = sl__watch_dir_new(home, sizeof(home), "starling-test")) !=
        SL_OK) {
        fprintf(stderr, "harness: cannot make a home: %s\n", strerror(errno));
        return rv;
    }
    // The workers inherit this: a test's module cache is its own, never
    // the user's ~/.cache.
    char cache[600];
    snprintf(cache, sizeof(cache), "%s/modules", home);
    setenv("STARLING_MODULE_CACHE", cache, 1);
    // Clients of this test find the cluster (and its keys) here.
    setenv("STARLING_HOME", home, 1);
    // The nodes' object tiers of the test's cluster, on a tmpfs like the
    // real ones (its home when there is no /dev/shm), removed with it.
    if (s_h.tier_dir[0] == '\0' &&
        sl__watch_dir_new_in(s_h.tier_dir, sizeof(s_h.tier_dir), "/dev/shm",
                             "starling-test") != SL_OK) {
        snprintf(s_h.tier_dir, sizeof(s_h.tier_dir), "%s/tiers", home);
    }
    setenv("STARLING_TIER_DIR", s_h.tier_dir, 1);
    unsetenv("STARLING_SCHEDULER");
    unsetenv("STARLING_CLIENT_CERT");
    unsetenv("STARLING_SERVER_CERT");
    sl__cluster_opts opts = *given;
    opts.home = home;
    opts.bin_dir = getenv("STARLING_BIN_DIR");
    opts.timeout_ms = S_HARNESS_TIMEOUT_MS;
    rv = sl__cluster_up(&opts, &s_h.info, NULL, errbuf);
    if (rv != SL_OK) {
        fprintf(stderr, "harness: cluster up failed: %s\n", errbuf);
        s_dump_logs(home);
        sl__watch_dir_remove(home);
        sl__watch_done();
        return rv;
    }
    s_h.active = true;
    if (!s_h.atexit_set) {
        s_h.atexit_set = atexit(s_atexit) == 0;
    }
    *info = s_h.info;
    return SL_OK;
}

void
sl__harness_stop(void)
{
    char errbuf[SL_ERRSTR_LEN];
    if (!s_h.active) {
        return;
    }
    for (int i = 0; i < S_HARNESS_EXTRA; i++) {
        if (s_h.extra[i] > 0) {
            sl__harness_stop_pid(s_h.extra[i], NULL);
        }
    }
    s_h.active = false;
    bool down = sl__cluster_down(s_h.info.home, errbuf) == SL_OK;
    if (!down) {
        // Leave it to the watchdog: it kills what still runs when the
        // test exits.
        fprintf(stderr, "harness: cluster down: %s\n", errbuf);
    }
    sl__watch_dir_remove(s_h.info.home);
    if (strncmp(s_h.tier_dir, "/dev/shm/", 9) == 0) {
        sl__watch_dir_remove(s_h.tier_dir);
    }
    s_h.tier_dir[0] = '\0';
    if (down) {
        sl__watch_done();
    }
    s_h.info.home[0] = '\0';
}

static sl_err s_kill_wait(pid_t pid);

sl_err
sl__harness_kill_worker(int i)
{
    if (!s_h.active || i < 0 || i >= s_h.info.n_workers) {
        return SL_EINVAL;
    }
    return s_kill_wait(s_h.info.worker_pids[i]);
}

// SIGKILL pid and wait until it is gone.
static sl_err
s_kill_wait(pid_t pid)
{
    kill(pid, SIGKILL);
    sl__watch_forget(pid);
    int64_t deadline = sl__mono_ms() + S_HARNESS_KILL_WAIT_MS;
    while (sl__proc_alive(pid)) {
        if (sl__mono_ms() > deadline) {
            return SL_ETIMEDOUT;
        }
        usleep(10000);
    }
    return SL_OK;
}

sl_err
sl__harness_restart(const char *what, int down_ms)
{
    bool redis = strcmp(what, "redis") == 0;
    if (!s_h.active || (!redis && strcmp(what, "scheduler") != 0)) {
        return SL_EINVAL;
    }
    sl_err rv =
        s_kill_wait(redis ? s_h.info.redis_pid : s_h.info.scheduler_pid);
    if (rv != SL_OK) {
        return rv;
    }
    usleep((useconds_t) down_ms * 1000);
    char errbuf[SL_ERRSTR_LEN];
    char home[sizeof(s_h.info.home)];
    sl__strlcpy(home, s_h.info.home, sizeof(home)); // info is rewritten
    // The rest of the options come from the cluster's record.
    sl__cluster_opts opts = {
        .home = home,
        .bin_dir = getenv("STARLING_BIN_DIR"),
    };
    rv = redis ? sl__cluster_restart_redis(&opts, &s_h.info, errbuf)
               : sl__cluster_restart_scheduler(&opts, &s_h.info, errbuf);
    if (rv != SL_OK) {
        fprintf(stderr, "harness: restart %s: %s\n", what, errbuf);
        return rv;
    }
    return SL_OK;
}

sl_err
sl__harness_restart_worker(int i)
{
    if (!s_h.active) {
        return SL_EINVAL;
    }
    char errbuf[SL_ERRSTR_LEN];
    char home[sizeof(s_h.info.home)];
    sl__strlcpy(home, s_h.info.home, sizeof(home)); // info is rewritten
    // The rest of the options come from the cluster's record.
    sl__cluster_opts opts = {
        .home = home,
        .bin_dir = getenv("STARLING_BIN_DIR"),
    };
    sl_err rv = sl__cluster_restart_worker(&opts, &s_h.info, i, errbuf);
    if (rv != SL_OK) {
        fprintf(stderr, "harness: restart worker %d: %s\n", i, errbuf);
        return rv;
    }
    return SL_OK;
}

const sl__cluster_info *
sl__harness_info(void)
{
    return &s_h.info;
}

// ---------------------------------------------------------------------
// Processes of the test's own.

sl_err
sl__harness_spawn(char **argv, const char *log_name, pid_t *pid_out)
{
    char exe[1024];
    char log[1024];
    char errbuf[SL_ERRSTR_LEN];
    const char *bin = getenv("STARLING_BIN_DIR");
    int slot = 0;
    while (slot < S_HARNESS_EXTRA && s_h.extra[slot] != 0) {
        slot++;
    }
    if (!s_h.active || slot == S_HARNESS_EXTRA || bin == NULL) {
        return SL_EINVAL;
    }
    snprintf(exe, sizeof(exe), "%s/%s", bin, argv[0]);
    snprintf(log, sizeof(log), "%s/%s", s_h.info.home, log_name);
    char *prog = argv[0];
    argv[0] = exe;
    sl_err rv = sl__watch_spawn(pid_out, argv, log, false, errbuf);
    argv[0] = prog;
    if (rv != SL_OK) {
        fprintf(stderr, "harness: %s\n", errbuf);
        return rv;
    }
    s_h.extra[slot] = *pid_out;
    return SL_OK;
}

static void
s_extra_forget(pid_t pid)
{
    for (int i = 0; i < S_HARNESS_EXTRA; i++) {
        if (s_h.extra[i] == pid) {
            s_h.extra[i] = 0;
        }
    }
}

sl_err
sl__harness_wait_pid(pid_t pid, int timeout_ms, int *status_out)
{
    pid_t waited = pid;
    if (sl__watch_wait(&waited, timeout_ms, status_out) == SL_ETIMEDOUT) {
        return SL_ETIMEDOUT;
    }
    s_extra_forget(pid);
    return SL_OK;
}

sl_err
sl__harness_stop_pid(pid_t pid, int *status_out)
{
    if (pid <= 0) {
        return SL_EINVAL;
    }
    kill(pid, SIGTERM);
    if (sl__harness_wait_pid(pid, S_HARNESS_KILL_WAIT_MS, status_out) ==
        SL_OK) {
        return SL_OK;
    }
    kill(pid, SIGKILL);
    return sl__harness_wait_pid(pid, S_HARNESS_KILL_WAIT_MS, status_out);
}

static zsock_t *
s_dealer(const char *role, bool slow)
{
    bool worker = strcmp(role, "worker") == 0;
    const char *ep = worker ? s_h.info.workers_endpoint : s_h.info.scheduler;
    char path[1024];
    char errbuf[SL_ERRSTR_LEN];
    zsock_t *sock = zsock_new(ZMQ_DEALER);
    if (!s_h.active || sock == NULL) {
        zsock_destroy(&sock);
        return NULL;
    }
    zsock_set_linger(sock, 0);
    if (slow) { // before the connect, which makes the pipe and the socket
        zsock_set_rcvhwm(sock, 1);
        zsock_set_rcvbuf(sock, 4096);
    }
    if (s_h.info.client_cert[0] != '\0') {
        snprintf(path, sizeof(path), "%s/keys/%s_secret", s_h.info.home,
                 worker ? "worker" : "client");
        if (sl__cert_apply_client(sock, path, s_h.info.server_cert, errbuf) !=
            SL_OK) {
            fprintf(stderr, "harness: %s\n", errbuf);
            zsock_destroy(&sock);
            return NULL;
        }
    }
    if (zsock_connect(sock, "%s", ep) != 0) {
        zsock_destroy(&sock);
    }
    return sock;
}

zsock_t *
sl__harness_dealer(const char *role)
{
    return s_dealer(role, false);
}

zsock_t *
sl__harness_dealer_slow(const char *role)
{
    return s_dealer(role, true);
}

const char *
sl__harness_home(void)
{
    return s_h.active ? s_h.info.home : "";
}
