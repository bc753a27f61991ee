// cluster.c - a private cluster for one benchmark: redis, scheduler and
// workers, started and stopped by PID.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - Every process goes through procs.c, so an interrupted run stops it.
// - The scheduler binds port * on loopback and writes the ports it got to
//   an endpoints file: no race for a port between choosing and binding.
//   Redis needs a port number up front (sl__free_port).
// - A benchmark's cluster is its own: a fresh scheduler has no jobs, no
//   peers and an idle RSS, so benchmarks do not measure each other.
#define _GNU_SOURCE
#include "cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "measure.h"
#include "procs.h"

#define S_PATH_LEN 1024
#define S_STOP_MS 5000
#define S_POLL_US 20000
#define S_START_MS 15000

static void
s_path(char *buf, const sl__bench_cluster *cl, const char *name)
{
    sl__fmt(buf, S_PATH_LEN, "%s/%s", cl->dir, name);
}

// The last line (or what fits in len bytes of it) of the log at path.
static void
s_log_tail(const char *path, char *out, size_t len)
{
    char buf[512];
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > (long) sizeof(buf) - 1 ? size - (long) sizeof(buf) + 1 : 0,
          SEEK_SET);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) {
        buf[--n] = '\0';
    }
    char *nl = strrchr(buf, '\n');
    sl__strlcpy(out, nl != NULL ? nl + 1 : buf, len);
}

// errbuf = "what (log: its last line)".
static sl_err
s_fail(const sl__bench_cluster *cl, sl_err rv, const char *what,
       const char *log_name, char *errbuf)
{
    char path[S_PATH_LEN], tail[160];
    s_path(path, cl, log_name);
    s_log_tail(path, tail, sizeof(tail));
    sl__fmt(errbuf, SL_ERRSTR_LEN, "%s (%s: %s)", what, log_name,
            tail[0] ? tail : "empty");
    return rv;
}

// ---------------------------------------------------------------------
// Redis and the scheduler.

static sl_err
s_write_password(const sl__bench_cluster *cl, char *errbuf)
{
    char path[S_PATH_LEN];
    s_path(path, cl, "redis.pass");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    bool ok = f != NULL && fprintf(f, "%s\n", cl->password) > 0;
    if (f != NULL) {
        ok = fclose(f) == 0 && ok;
    } else if (fd >= 0) {
        close(fd);
    }
    if (!ok) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot write %s: %s", path,
                strerror(errno));
        return SL_EIO;
    }
    return SL_OK;
}

static sl_err
s_start_redis(sl__bench_cluster *cl, char *errbuf)
{
    char dir[S_PATH_LEN];
    int port = sl__free_port();
    if (port < 0) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "no free TCP port for redis-server");
        return SL_EIO;
    }
    sl__random_hex(cl->password, 24);
    s_path(dir, cl, "redis");
    sl__redis_opts opts = {.dir = dir, .port = port, .password = cl->password};
    sl_err rv = sl__bench_redis_start(&opts, &cl->redis, errbuf);
    if (rv == SL_OK) {
        sl__fmt(cl->redis_addr, sizeof(cl->redis_addr), "127.0.0.1:%d", port);
        rv = s_write_password(cl, errbuf);
    }
    return rv;
}

// Read "clients=EP\nworkers=EP\n" as the scheduler wrote it. False until
// it has.
static bool
s_read_endpoints(sl__bench_cluster *cl)
{
    char path[S_PATH_LEN], line[512];
    s_path(path, cl, "endpoints");
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return false;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (strncmp(line, "clients=", 8) == 0) {
            sl__strlcpy(cl->clients_ep, line + 8, sizeof(cl->clients_ep));
        } else if (strncmp(line, "workers=", 8) == 0) {
            sl__strlcpy(cl->workers_ep, line + 8, sizeof(cl->workers_ep));
        }
    }
    fclose(f);
    return cl->clients_ep[0] != '\0' && cl->workers_ep[0] != '\0';
}

static sl_err
s_start_scheduler(sl__bench_cluster *cl, char *errbuf)
{
    char prog[S_PATH_LEN], pass[S_PATH_LEN], eps[S_PATH_LEN], log[S_PATH_LEN];
    sl__fmt(prog, sizeof(prog), "%s/starling-scheduler", cl->bin_dir);
    s_path(pass, cl, "redis.pass");
    s_path(eps, cl, "endpoints");
    s_path(log, cl, "scheduler.log");
    char *argv[] = {prog,
                    "--clients",
                    "tcp://127.0.0.1:*",
                    "--workers",
                    "tcp://127.0.0.1:*",
                    "--store",
                    cl->redis_addr,
                    "--store-password-file",
                    pass,
                    "--endpoints-file",
                    eps,
                    NULL};
    sl_err rv = sl__bench_spawn(&cl->scheduler, argv, log, errbuf);
    int64_t deadline = sl__mono_ms() + S_START_MS;
    while (rv == SL_OK && !s_read_endpoints(cl)) {
        if (!sl__proc_alive(cl->scheduler)) {
            return s_fail(cl, SL_EIO, "starling-scheduler exited",
                          "scheduler.log", errbuf);
        }
        if (sl__mono_ms() > deadline) {
            return s_fail(cl, SL_ETIMEDOUT,
                          "starling-scheduler wrote no endpoints",
                          "scheduler.log", errbuf);
        }
        usleep(S_POLL_US);
    }
    return rv;
}

sl_err
sl__bench_cluster_start(sl__bench_cluster *cl, const char *bin_dir,
                        char errbuf[SL_ERRSTR_LEN])
{
    sl_err rv;
    sl__strlcpy(cl->bin_dir, bin_dir, sizeof(cl->bin_dir));
    if ((rv = sl__bench_dir_new(cl->dir, sizeof(cl->dir), "starling-bench")) !=
        SL_OK) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot make a temporary directory");
        return rv;
    }
    if ((rv = s_start_redis(cl, errbuf)) != SL_OK ||
        (rv = s_start_scheduler(cl, errbuf)) != SL_OK) {
        goto fail;
    }
    if ((rv = sl_client_connect(&cl->client, cl->clients_ep)) != SL_OK) {
        s_fail(cl, rv, "cannot connect to the scheduler", "scheduler.log",
               errbuf);
        goto fail;
    }
    return SL_OK;

fail:
    sl__bench_cluster_stop(cl);
    return rv;
}

// ---------------------------------------------------------------------
// Workers.

static sl_err
s_start_worker(sl__bench_cluster *cl, int i, char *errbuf)
{
    char prog[S_PATH_LEN], cache[S_PATH_LEN], log[S_PATH_LEN];
    char slots[16], prefetch[16], name[32], log_name[32];
    sl__fmt(prog, sizeof(prog), "%s/starling-worker", cl->bin_dir);
    s_path(cache, cl, "modules");
    sl__fmt(log_name, sizeof(log_name), "worker-%d.log", i);
    s_path(log, cl, log_name);
    sl__fmt(slots, sizeof(slots), "%d", cl->shape.slots);
    sl__fmt(prefetch, sizeof(prefetch), "%d", cl->shape.prefetch);
    sl__fmt(name, sizeof(name), "bench-%d", i);
    char *argv[] = {prog,  "--scheduler", cl->workers_ep, "--slots",
                    slots, "--name",      name,           "--module-cache",
                    cache, NULL,          NULL,           NULL,
                    NULL,  NULL};
    int n = 9;
    if (cl->shape.threads) {
        argv[n++] = "--executor";
        argv[n++] = "thread";
    }
    if (cl->shape.prefetch >= 0) { // else the worker's default
        argv[n++] = "--prefetch";
        argv[n++] = prefetch;
    }
    return sl__bench_spawn(&cl->workers[i], argv, log, errbuf);
}

// SL_OK while every worker runs; else which one died, with its log.
static sl_err
s_workers_alive(const sl__bench_cluster *cl, char *errbuf)
{
    char what[64], log_name[32];
    for (int i = 0; i < cl->n_workers; i++) {
        if (!sl__proc_alive(cl->workers[i])) {
            sl__fmt(what, sizeof(what), "worker %d exited", i);
            sl__fmt(log_name, sizeof(log_name), "worker-%d.log", i);
            return s_fail(cl, SL_EIO, what, log_name, errbuf);
        }
    }
    return SL_OK;
}

// Poll the scheduler until it counts want_workers workers and want_slots
// slots.
static sl_err
s_wait_count(sl__bench_cluster *cl, uint32_t want_workers, uint32_t want_slots,
             int timeout_ms, char *errbuf)
{
    int64_t deadline = sl__mono_ms() + timeout_ms;
    sl_cluster_status st = {0};
    sl_err rv;
    for (;;) {
        if ((rv = sl_cluster_status_get(cl->client, &st)) != SL_OK) {
            return s_fail(cl, rv, "no status from the scheduler",
                          "scheduler.log", errbuf);
        }
        if (st.workers == want_workers && st.slots == want_slots) {
            return SL_OK;
        }
        if (want_workers > 0 && (rv = s_workers_alive(cl, errbuf)) != SL_OK) {
            return rv;
        }
        if (sl__mono_ms() > deadline) {
            sl__fmt(errbuf, SL_ERRSTR_LEN,
                    "the scheduler counts %u workers and %u slots after "
                    "%d ms, not %u and %u",
                    st.workers, st.slots, timeout_ms, want_workers, want_slots);
            return SL_ETIMEDOUT;
        }
        usleep(S_POLL_US);
    }
}

sl_err
sl__bench_cluster_workers_start(sl__bench_cluster *cl,
                                const sl__bench_workers *shape, int timeout_ms,
                                char errbuf[SL_ERRSTR_LEN])
{
    sl_err rv = SL_OK;
    if (cl->n_workers > 0 || shape->procs < 1 || shape->slots < 1) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "bad worker shape, or workers running");
        return SL_EINVAL;
    }
    cl->shape = *shape;
    cl->workers = calloc((size_t) shape->procs, sizeof(*cl->workers));
    if (cl->workers == NULL) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "out of memory");
        return SL_ENOMEM;
    }
    for (int i = 0; i < shape->procs && rv == SL_OK; i++) {
        if ((rv = s_start_worker(cl, i, errbuf)) == SL_OK) {
            cl->n_workers = i + 1;
        }
    }
    if (rv != SL_OK) {
        return rv;
    }
    return s_wait_count(cl, (uint32_t) shape->procs,
                        (uint32_t) (shape->procs * shape->slots), timeout_ms,
                        errbuf);
}

sl_err
sl__bench_cluster_workers_stop(sl__bench_cluster *cl,
                               char errbuf[SL_ERRSTR_LEN])
{
    for (int i = 0; i < cl->n_workers; i++) {
        sl__bench_signal(cl->workers[i], SIGTERM);
    }
    for (int i = 0; i < cl->n_workers; i++) {
        sl__bench_stop(&cl->workers[i], S_STOP_MS);
    }
    free(cl->workers);
    cl->workers = NULL;
    cl->n_workers = 0;
    // A worker says BYE as it stops; one that could not is noticed after
    // three heartbeats.
    return cl->client != NULL ? s_wait_count(cl, 0, 0, 10000, errbuf) : SL_OK;
}

void
sl__bench_cluster_stop(sl__bench_cluster *cl)
{
    char errbuf[SL_ERRSTR_LEN];
    sl_client_destroy(&cl->client);
    sl__bench_cluster_workers_stop(cl, errbuf);
    sl__bench_stop(&cl->scheduler, S_STOP_MS);
    sl__bench_stop(&cl->redis, S_STOP_MS);
    sl__bench_dir_remove(cl->dir);
    cl->dir[0] = '\0';
}

double
sl__bench_cluster_workers_cpu_s(const sl__bench_cluster *cl)
{
    double sum = 0;
    for (int i = 0; i < cl->n_workers; i++) {
        double s = sl__bench_tree_cpu_s(cl->workers[i]);
        sum += s > 0 ? s : 0;
    }
    return sum;
}
