// launch.c - the launcher: `starling up` and `starling down`, and the
// restarts the tests use.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - Everything lives under one home directory (0700): the lock file, the
//   Redis password (0600), redis/ (config, log, AOF), the scheduler's
//   endpoints file, one log per process, and cluster.env, which is the
//   record of a running cluster. cluster.env is written last and
//   atomically (tmp + rename): when it exists, the cluster it names came
//   up completely.
// - Every operation holds an exclusive flock on home/lock, so two of them
//   at once start (or stop) one cluster. The lock file descriptor is
//   close-on-exec and sl__proc_spawn closes the rest, so no daemon
//   inherits the lock.
// - When up fails half way, it stops what it has started (its own children,
//   so their PIDs cannot have been recycled) and says why in errbuf, with
//   the last lines of the failing process's log.
// - Keys: home/keys/{scheduler,worker,client}{,_secret} and the allow
//   directory home/keys/allowed/ (the worker and client public
//   certificates) are made by the first `up` and kept, so that a client
//   given copies of them keeps working across `down` and `up`. All the
//   workers share one key: they are one machine's processes.
#include "launch.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../common/cert.h"
#include "daemons.h"
#include "watch.h"

#define S_TIMEOUT_MS 30000
#define S_WORKERS_STOP_MS 10000

// ---------------------------------------------------------------------
// The lock and the record.

// Take the exclusive lock on home/lock; *fd_out holds it until closed.
static sl_err
s_lock(const char *home, int *fd_out, char errbuf[SL_ERRSTR_LEN])
{
    char path[SL_LAUNCH_PATH_LEN];
    sl__launch_path(path, home, "lock");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot open %s: %s", path,
                strerror(errno));
        return SL_EIO;
    }
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot lock %s: %s", path,
                    strerror(errno));
            close(fd);
            return SL_EIO;
        }
    }
    *fd_out = fd;
    return SL_OK;
}

static void
s_unlock(int *fd_p)
{
    if (*fd_p >= 0) {
        close(*fd_p); // Closing the file releases the flock.
        *fd_p = -1;
    }
}

static void
s_write_pids(FILE *f, const sl__cluster_info *info)
{
    fprintf(f, "worker_pids=");
    for (int i = 0; i < info->n_workers; i++) {
        fprintf(f, "%s%d", i > 0 ? "," : "", (int) info->worker_pids[i]);
    }
    fprintf(f, "\n");
}

// Write cluster.env (its format: cluster_env.h) atomically: readers see
// the old file or the new one.
static sl_err
s_write_env(sl__launch *l)
{
    const sl__cluster_info *info = l->info;
    char path[SL_LAUNCH_PATH_LEN];
    char tmp[SL_LAUNCH_PATH_LEN];
    sl__launch_path(path, info->home, "cluster.env");
    sl__launch_path(tmp, info->home, "cluster.env.tmp");
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        sl__fmt(l->errbuf, SL_ERRSTR_LEN, "cannot write %s: %s", tmp,
                strerror(errno));
        return SL_EIO;
    }
    fprintf(f, "scheduler=%s\nworkers=%s\nredis=%s\n", info->scheduler,
            info->workers_endpoint, info->redis);
    fprintf(f, "redis_pid=%d\nscheduler_pid=%d\n", (int) info->redis_pid,
            (int) info->scheduler_pid);
    s_write_pids(f, info);
    fprintf(f, "slots=%d\n", info->slots);
    if (info->client_cert[0] != '\0') {
        fprintf(f, "client_cert=%s\nserver_cert=%s\n", info->client_cert,
                info->server_cert);
    }
    bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        sl__fmt(l->errbuf, SL_ERRSTR_LEN, "cannot write %s: %s", path,
                strerror(errno));
        unlink(tmp);
        return SL_EIO;
    }
    return SL_OK;
}

static void
s_remove_records(const char *home)
{
    char path[SL_LAUNCH_PATH_LEN];
    sl__launch_path(path, home, "cluster.env");
    unlink(path);
    sl__launch_path(path, home, "endpoints");
    unlink(path);
    sl__launch_path(path, home, "redis.pass");
    unlink(path);
}

// ---------------------------------------------------------------------
// Keys.

// home/keys/name_secret, made (with name) when it is missing.
static sl_err
s_key_make(const char *dir, const char *name, char *errbuf)
{
    char path[SL_LAUNCH_PATH_LEN];
    char key[SL_CERT_KEY_LEN + 1];
    sl__fmt(path, sizeof(path), "%s/%s_secret", dir, name);
    if (access(path, F_OK) == 0) {
        return SL_OK;
    }
    return sl__cert_generate(dir, name, true, key, errbuf);
}

// Put the public certificate of dir/name into the allow directory.
static sl_err
s_key_allow(const char *dir, const char *allow, const char *name, char *errbuf)
{
    char path[SL_LAUNCH_PATH_LEN];
    sl__fmt(path, sizeof(path), "%s/%s", dir, name);
    zcert_t *cert = zcert_load(path);
    if (cert == NULL) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot read certificate %s", path);
        return SL_EIO;
    }
    sl__fmt(path, sizeof(path), "%s/%s", allow, name);
    int rc = zcert_save_public(cert, path);
    zcert_destroy(&cert);
    if (rc != 0) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot write %s", path);
        return SL_EIO;
    }
    return SL_OK;
}

sl_err
sl__cluster_keys(const char *home, char errbuf[SL_ERRSTR_LEN])
{
    char dir[SL_LAUNCH_PATH_LEN];
    char allow[SL_LAUNCH_PATH_LEN];
    sl_err rv;
    sl__launch_path(dir, home, "keys");
    sl__launch_path(allow, home, "keys/allowed");
    if ((rv = sl__dir_private(dir, errbuf)) != SL_OK ||
        (rv = sl__dir_private(allow, errbuf)) != SL_OK ||
        (rv = s_key_make(dir, "scheduler", errbuf)) != SL_OK ||
        (rv = s_key_make(dir, "worker", errbuf)) != SL_OK ||
        (rv = s_key_make(dir, "client", errbuf)) != SL_OK ||
        (rv = s_key_allow(dir, allow, "worker", errbuf)) != SL_OK ||
        (rv = s_key_allow(dir, allow, "client", errbuf)) != SL_OK) {
        return rv;
    }
    return SL_OK;
}

static sl_err
s_keys_start(sl__launch *l)
{
    sl__cluster_info *info = l->info;
    sl_err rv;
    if (l->opts->insecure) {
        return SL_OK;
    }
    if ((rv = sl__cluster_keys(info->home, l->errbuf)) != SL_OK) {
        return rv;
    }
    sl__launch_path(info->client_cert, info->home, "keys/client_secret");
    sl__launch_path(info->server_cert, info->home, "keys/scheduler");
    return SL_OK;
}

// ---------------------------------------------------------------------
// Starting.

static sl_err
s_start_all(sl__launch *l)
{
    sl_err rv;
    if ((rv = s_keys_start(l)) != SL_OK ||
        (rv = sl__daemon_redis_start(l)) != SL_OK ||
        (rv = sl__daemon_scheduler_start(l)) != SL_OK ||
        (rv = sl__daemon_workers_start(l)) != SL_OK ||
        (rv = sl__daemon_slots_wait(l)) != SL_OK ||
        (rv = s_write_env(l)) != SL_OK) {
        return rv;
    }
    return SL_OK;
}

// The shape opts asks for: workers and slots, in l.
static sl_err
s_shape(sl__launch *l, const sl__cluster_opts *opts)
{
    // One worker process per core by default (DESIGN.md): a worker's main
    // thread, which hands tasks to its slots and gathers their outcomes,
    // is serial, and on this 2-core machine two workers of one slot did
    // 1,130,000 no-op tasks/s where one of two slots did 880,000.
    int cores = sl__ncpus() > 0 ? sl__ncpus() : 1;
    if (opts->workers > 0) {
        l->workers = opts->workers;
        l->slots = opts->slots > 0 ? opts->slots : cores / l->workers;
    } else {
        l->slots = opts->slots > 0 ? opts->slots : 1;
        l->workers = cores / l->slots > 0 ? cores / l->slots : 1;
        if (l->workers > SL_CLUSTER_MAX_WORKERS) {
            l->workers = SL_CLUSTER_MAX_WORKERS;
        }
    }
    l->slots = l->slots > 0 ? l->slots : 1;
    if (l->workers > SL_CLUSTER_MAX_WORKERS || opts->slots < 0 ||
        opts->workers < 0) {
        sl__fmt(l->errbuf, SL_ERRSTR_LEN,
                "workers takes 1 to %d, slots a positive number",
                SL_CLUSTER_MAX_WORKERS);
        return SL_EINVAL;
    }
    if (opts->no_workers) {
        l->workers = 0;
    }
    return SL_OK;
}

static sl_err
s_init(sl__launch *l, const sl__cluster_opts *opts, sl__cluster_info *info,
       char *errbuf)
{
    int timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : S_TIMEOUT_MS;
    memset(info, 0, sizeof(*info));
    sl__cluster_home(opts->home, info->home, sizeof(info->home));
    l->opts = opts;
    l->info = info;
    l->errbuf = errbuf;
    l->deadline_ms = sl__mono_ms() + timeout_ms;
    return s_shape(l, opts);
}

// Make home (which exists) absolute, so that the daemons' paths and the
// record do not depend on the working directory.
static sl_err
s_home_resolve(char *home, size_t len, char errbuf[SL_ERRSTR_LEN])
{
    char abs[PATH_MAX];
    if (realpath(home, abs) == NULL) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot resolve %s: %s", home,
                strerror(errno));
        return SL_EIO;
    }
    if (strlen(abs) > SL_LAUNCH_HOME_MAX) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "home path longer than %d bytes",
                SL_LAUNCH_HOME_MAX);
        return SL_EINVAL;
    }
    sl__strlcpy(home, abs, len);
    return SL_OK;
}

// Whether the cluster that cluster.env records is running. A stale record
// (its scheduler gone) has whatever of it still runs stopped.
static bool
s_running(const char *home, sl__cluster_info *info)
{
    sl_err rv = sl__cluster_read(home, info);
    if (rv == SL_ENOTFOUND) {
        return false;
    }
    if (rv == SL_OK && sl__proc_alive(info->scheduler_pid) &&
        sl__proc_is(info->scheduler_pid, "starling-scheduler")) {
        return true;
    }
    sl__log_warn("%s/cluster.env is stale; cleaning up after it", home);
    if (rv == SL_OK) {
        sl__daemon_stop_recorded(info);
    }
    s_remove_records(home);
    return false;
}

sl_err
sl__cluster_up(const sl__cluster_opts *opts, sl__cluster_info *info,
               bool *started_out, char errbuf[SL_ERRSTR_LEN])
{
    sl__launch l;
    int lock = -1;
    sl_err rv;
    errbuf[0] = '\0';
    *started_out = false;
    if ((rv = s_init(&l, opts, info, errbuf)) != SL_OK ||
        (rv = sl__mkdirs(info->home, errbuf)) != SL_OK ||
        (rv = s_home_resolve(info->home, sizeof(info->home), errbuf)) !=
            SL_OK ||
        (rv = s_lock(info->home, &lock, errbuf)) != SL_OK) {
        goto done;
    }
    if (s_running(info->home, info)) {
        goto done; // Already up: info describes it.
    }
    // s_running may have filled info from a stale record.
    char home[sizeof(info->home)];
    sl__strlcpy(home, info->home, sizeof(home));
    memset(info, 0, sizeof(*info));
    sl__strlcpy(info->home, home, sizeof(info->home));
    info->slots = l.slots;
    if ((rv = s_start_all(&l)) != SL_OK) {
        sl__daemon_stop_started(info);
        s_remove_records(info->home);
        goto done;
    }
    *started_out = true;
done:
    s_unlock(&lock);
    return rv;
}

sl_err
sl__cluster_down(const char *home, char errbuf[SL_ERRSTR_LEN])
{
    sl__cluster_info *info = calloc(1, sizeof(*info));
    int lock = -1;
    sl_err rv = SL_ENOMEM;
    errbuf[0] = '\0';
    if (info == NULL) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "out of memory");
        goto done;
    }
    sl__cluster_home(home, info->home, sizeof(info->home));
    if (access(info->home, F_OK) != 0) {
        rv = SL_ENOTFOUND;
        sl__fmt(errbuf, SL_ERRSTR_LEN, "no cluster under %s", info->home);
        goto done;
    }
    if ((rv = s_lock(info->home, &lock, errbuf)) != SL_OK) {
        goto done;
    }
    if ((rv = sl__cluster_read(info->home, info)) != SL_OK) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "%s %s/cluster.env",
                rv == SL_ENOTFOUND ? "no cluster recorded in" : "cannot read",
                info->home);
        goto done;
    }
    int failed = sl__daemon_stop_recorded(info);
    if (failed > 0) {
        rv = SL_EIO;
        sl__fmt(errbuf, SL_ERRSTR_LEN,
                "%d process(es) would not stop; cluster.env kept", failed);
        goto done;
    }
    s_remove_records(info->home);
done:
    s_unlock(&lock);
    free(info);
    return rv;
}

// ---------------------------------------------------------------------
// Restarting one part.

// The first steps of a restart: lock home and read the record into info.
static sl_err
s_restart_begin(sl__launch *l, const sl__cluster_opts *opts,
                sl__cluster_info *info, int *lock, char *errbuf)
{
    sl_err rv;
    errbuf[0] = '\0';
    if ((rv = s_init(l, opts, info, errbuf)) != SL_OK ||
        (rv = s_home_resolve(info->home, sizeof(info->home), errbuf)) !=
            SL_OK ||
        (rv = s_lock(info->home, lock, errbuf)) != SL_OK) {
        return rv;
    }
    if (sl__cluster_read(info->home, info) != SL_OK) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "no cluster recorded under %s",
                info->home);
        return SL_ENOTFOUND;
    }
    l->workers = info->n_workers;
    l->slots = info->slots;
    return SL_OK;
}

// SL_OK when the process to restart is gone; else says that it runs.
static sl_err
s_check_gone(pid_t pid, const char *what, char *errbuf)
{
    if (sl__proc_alive(pid)) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "%s (pid %d) still runs", what,
                (int) pid);
        return SL_EINVAL;
    }
    sl__watch_forget(pid);
    return SL_OK;
}

sl_err
sl__cluster_restart_scheduler(const sl__cluster_opts *opts,
                              sl__cluster_info *info,
                              char errbuf[SL_ERRSTR_LEN])
{
    sl__launch l;
    int lock = -1;
    sl_err rv = s_restart_begin(&l, opts, info, &lock, errbuf);
    if (rv == SL_OK && (rv = s_check_gone(info->scheduler_pid, "the scheduler",
                                          errbuf)) == SL_OK) {
        char clients[sizeof(info->scheduler)];
        char workers[sizeof(info->workers_endpoint)];
        sl__strlcpy(clients, info->scheduler, sizeof(clients));
        sl__strlcpy(workers, info->workers_endpoint, sizeof(workers));
        if ((rv = sl__daemon_scheduler_run(&l, clients, workers)) == SL_OK) {
            rv = s_write_env(&l);
        }
    }
    s_unlock(&lock);
    return rv;
}

// Read the password `up` gave Redis.
static sl_err
s_read_password(sl__launch *l, char *buf, size_t len)
{
    char path[SL_LAUNCH_PATH_LEN];
    sl__launch_path(path, l->info->home, "redis.pass");
    FILE *f = fopen(path, "r");
    bool ok = f != NULL && fgets(buf, (int) len, f) != NULL;
    if (f != NULL) {
        fclose(f);
    }
    if (!ok) {
        sl__fmt(l->errbuf, SL_ERRSTR_LEN, "cannot read %s", path);
        return SL_EIO;
    }
    buf[strcspn(buf, "\r\n")] = '\0';
    return SL_OK;
}

sl_err
sl__cluster_restart_redis(const sl__cluster_opts *opts, sl__cluster_info *info,
                          char errbuf[SL_ERRSTR_LEN])
{
    sl__launch l;
    int lock = -1;
    char password[256] = "";
    sl_err rv = s_restart_begin(&l, opts, info, &lock, errbuf);
    if (rv == SL_OK) {
        rv = s_check_gone(info->redis_pid, "redis-server", errbuf);
    }
    const char *colon = strrchr(info->redis, ':');
    if (rv == SL_OK && colon == NULL) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "the record names no Redis port");
        rv = SL_EIO;
    }
    if (rv == SL_OK &&
        (rv = s_read_password(&l, password, sizeof(password))) == SL_OK &&
        (rv = sl__daemon_redis_run(&l, atoi(colon + 1), password)) == SL_OK) {
        rv = s_write_env(&l);
    }
    s_unlock(&lock);
    return rv;
}

sl_err
sl__cluster_restart_worker(const sl__cluster_opts *opts, sl__cluster_info *info,
                           int i, char errbuf[SL_ERRSTR_LEN])
{
    sl__launch l;
    int lock = -1;
    sl_err rv = s_restart_begin(&l, opts, info, &lock, errbuf);
    if (rv == SL_OK && (i < 0 || i >= info->n_workers)) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "no worker %d", i);
        rv = SL_EINVAL;
    }
    if (rv == SL_OK &&
        (rv = s_check_gone(info->worker_pids[i], "the worker", errbuf)) ==
            SL_OK &&
        (rv = sl__daemon_worker_start(&l, i)) == SL_OK) {
        rv = s_write_env(&l);
    }
    s_unlock(&lock);
    return rv;
}

// ---------------------------------------------------------------------
// Workers added and taken away.

sl_err
sl__cluster_workers_start(const sl__cluster_opts *opts, sl__cluster_info *info,
                          char errbuf[SL_ERRSTR_LEN])
{
    sl__launch l;
    int lock = -1;
    sl_err rv = s_restart_begin(&l, opts, info, &lock, errbuf);
    if (rv == SL_OK && info->n_workers > 0) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "the cluster has workers already");
        rv = SL_EINVAL;
    }
    if (rv == SL_OK && (rv = s_shape(&l, opts)) == SL_OK) {
        info->slots = l.slots;
        if ((rv = sl__daemon_workers_start(&l)) == SL_OK) {
            rv = sl__daemon_slots_wait(&l);
        }
        sl_err wrote = s_write_env(&l); // the workers that did start
        rv = rv != SL_OK ? rv : wrote;
    }
    s_unlock(&lock);
    return rv;
}

sl_err
sl__cluster_workers_stop(const sl__cluster_opts *opts, sl__cluster_info *info,
                         char errbuf[SL_ERRSTR_LEN])
{
    sl__launch l;
    int lock = -1;
    sl_err rv = s_restart_begin(&l, opts, info, &lock, errbuf);
    if (rv == SL_OK) {
        if (sl__daemon_stop_workers(info) > 0) {
            sl__fmt(errbuf, SL_ERRSTR_LEN, "a worker would not stop");
            rv = SL_EIO;
        }
        info->n_workers = 0;
        l.workers = 0;
        sl_err wrote = s_write_env(&l);
        // A worker says BYE as it stops; one that could not is noticed
        // after three heartbeats.
        l.deadline_ms = sl__mono_ms() + S_WORKERS_STOP_MS;
        if (rv == SL_OK && (rv = wrote) == SL_OK) {
            rv = sl__daemon_slots_wait(&l);
        }
    }
    s_unlock(&lock);
    return rv;
}
