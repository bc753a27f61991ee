// launch.c - the launcher: `starling up` (a new cluster, or the dead parts
// of a recorded one started again) and `starling down`; the restarts the
// tests use; workers added and stopped for the benchmarks.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - Everything lives under one home directory (0700): the lock file, the
//   Redis password (0600), redis/ (config, log, AOF), the scheduler's
//   endpoints file, one log per process, and cluster.env, the record of
//   the cluster (record.c). Every operation holds the home's lock, so two
//   of them at once start (or stop) one cluster.
// - When up fails half way through a new cluster, it stops what it has
//   started (its own children, so their PIDs cannot have been recycled)
//   and says why in errbuf, with the last lines of the failing process's
//   log.
// - A recorded cluster is never replaced by `up`: its dead parts are
//   started again as they were, each where the live parts and the running
//   clients look for it (Redis's port and password, over its append-only
//   file; the scheduler's endpoints; a worker's index), with the options
//   the record gives. Every port is checked free before anything starts;
//   one that another program has taken stops the repair with a message
//   that says what to do.
#include "launch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../store/tier.h"
#include "daemons.h"
#include "record.h"
#include "watch.h"

#define S_TIMEOUT_MS 30000
#define S_WORKERS_STOP_MS 10000

// ---------------------------------------------------------------------
// Starting.

static sl_err
s_start_all(sl__launch *l)
{
    sl_err rv;
    sl__record_settings(l->opts, &l->info->settings, true);
    if ((rv = sl__record_keys(l->info, l->opts->insecure, l->errbuf)) !=
            SL_OK ||
        (rv = sl__daemon_redis_start(l)) != SL_OK ||
        (rv = sl__daemon_scheduler_start(l)) != SL_OK ||
        (rv = sl__daemon_workers_start(l)) != SL_OK ||
        (rv = sl__daemon_slots_wait(l)) != SL_OK ||
        (rv = sl__record_write(l->info, l->errbuf)) != SL_OK) {
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

// ---------------------------------------------------------------------
// The parts of a recorded cluster, and starting the dead ones again.

static bool
s_runs(pid_t pid, const char *program)
{
    return pid > 0 && sl__proc_alive(pid) && sl__proc_is(pid, program);
}

void
sl__cluster_check(const sl__cluster_info *info, sl__cluster_health *out)
{
    memset(out, 0, sizeof(*out));
    out->redis = s_runs(info->redis_pid, "redis-server");
    out->scheduler = s_runs(info->scheduler_pid, "starling-scheduler");
    for (int i = 0; i < info->n_workers; i++) {
        out->workers[i] = s_runs(info->worker_pids[i], "starling-worker");
        out->workers_dead += !out->workers[i];
    }
}

bool
sl__cluster_health_whole(const sl__cluster_health *h)
{
    return h->redis && h->scheduler && h->workers_dead == 0;
}

// SL_OK when the port of addr (what) is free to start a part on again;
// else SL_EIO, with errbuf saying who holds it and what to do.
static sl_err
s_port_check(sl__launch *l, const char *addr, const char *what,
             bool nothing_runs)
{
    int port = sl__daemon_port_of(addr);
    if (port < 0 || sl__daemon_port_free(port)) {
        return SL_OK;
    }
    if (nothing_runs) {
        sl__fmt(l->errbuf, SL_ERRSTR_LEN,
                "the cluster recorded in %s/cluster.env is not running, and "
                "port %d (%s) is taken by another program: `starling down` "
                "forgets that cluster, then `starling up` starts a new one "
                "on new ports",
                l->info->home, port, what);
    } else {
        sl__fmt(l->errbuf, SL_ERRSTR_LEN,
                "cannot start %s again: port %d is taken by another program "
                "(`starling down` stops the rest of the cluster, then "
                "`starling up` starts a new one on new ports)",
                what, port);
    }
    return SL_EIO;
}

// Start Redis again on its port, with its password, over its files.
static sl_err
s_redis_again(sl__launch *l)
{
    char password[256] = "";
    int port = sl__daemon_port_of(l->info->redis);
    sl_err rv;
    if (port < 0) {
        sl__fmt(l->errbuf, SL_ERRSTR_LEN, "the record names no Redis port");
        return SL_EIO;
    }
    if ((rv = sl__record_password(l->info->home, password, sizeof(password),
                                  l->errbuf)) != SL_OK) {
        return rv;
    }
    return sl__daemon_redis_run(l, port, password);
}

// Start the scheduler again on its endpoints. On failure the record keeps
// them (and the dead PID), so that it still names the cluster.
static sl_err
s_scheduler_again(sl__launch *l)
{
    sl__cluster_info *info = l->info;
    char clients[sizeof(info->scheduler)];
    char workers[sizeof(info->workers_endpoint)];
    char dashboard[sizeof(info->dashboard)];
    char http[sizeof(info->dashboard)];
    sl__strlcpy(clients, info->scheduler, sizeof(clients));
    sl__strlcpy(workers, info->workers_endpoint, sizeof(workers));
    sl__strlcpy(dashboard, info->dashboard, sizeof(dashboard));
    // Its HTTP server where it was (a record without one: the default).
    bool had_http = sl__daemon_http_of(dashboard, http, sizeof(http));
    sl_err rv =
        sl__daemon_scheduler_run(l, clients, workers, had_http ? http : NULL);
    if (rv != SL_OK) {
        sl__strlcpy(info->scheduler, clients, sizeof(info->scheduler));
        sl__strlcpy(info->workers_endpoint, workers,
                    sizeof(info->workers_endpoint));
        sl__strlcpy(info->dashboard, dashboard, sizeof(info->dashboard));
    }
    return rv;
}

// SL_OK when every port a dead part of h needs is free, before anything
// starts: a cluster half started again helps no one.
static sl_err
s_ports_check(sl__launch *l, const sl__cluster_health *h)
{
    bool nothing_runs =
        !h->redis && !h->scheduler && h->workers_dead == l->info->n_workers;
    sl_err rv = SL_OK;
    if (!h->redis) {
        rv = s_port_check(l, l->info->redis, "Redis's", nothing_runs);
    }
    if (rv == SL_OK && !h->scheduler) {
        rv = s_port_check(l, l->info->scheduler, "the scheduler's for clients",
                          nothing_runs);
    }
    if (rv == SL_OK && !h->scheduler) {
        rv = s_port_check(l, l->info->workers_endpoint,
                          "the scheduler's for workers", nothing_runs);
    }
    char http[sizeof(l->info->dashboard)];
    if (rv == SL_OK && !h->scheduler &&
        sl__daemon_http_of(l->info->dashboard, http, sizeof(http))) {
        rv = s_port_check(l, http, "the scheduler's for HTTP", nothing_runs);
    }
    return rv;
}

// Start the parts h finds dead, in the order they need each other: Redis
// (the scheduler checks its password as it starts), the scheduler, the
// workers. The record is rewritten with what started, whatever fails.
static sl_err
s_repair(sl__launch *l, const sl__cluster_health *h,
         sl__cluster_up_report *report)
{
    sl_err rv = s_ports_check(l, h);
    if (rv != SL_OK) {
        return rv;
    }
    if (!h->redis && (rv = s_redis_again(l)) == SL_OK) {
        report->redis = true;
    }
    if (rv == SL_OK && !h->scheduler && (rv = s_scheduler_again(l)) == SL_OK) {
        report->scheduler = true;
    }
    for (int i = 0; rv == SL_OK && i < l->info->n_workers; i++) {
        if (!h->workers[i] && (rv = sl__daemon_worker_start(l, i)) == SL_OK) {
            report->workers++;
        }
    }
    sl_err wrote = sl__record_write(l->info, l->errbuf);
    if (rv == SL_OK && (rv = wrote) == SL_OK) {
        rv = sl__daemon_slots_wait(l);
    }
    return rv;
}

// The recorded cluster under info->home (read into info): running as it
// is, or repaired.
static sl_err
s_up_recorded(const sl__cluster_opts *opts, sl__cluster_info *info,
              sl__cluster_up_report *report, char *errbuf)
{
    sl__cluster_health *h = malloc(sizeof(*h));
    sl__cluster_opts ropts;
    sl__launch l;
    if (h == NULL) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "out of memory");
        return SL_ENOMEM;
    }
    sl__cluster_check(info, h);
    sl_err rv = SL_OK;
    if (sl__cluster_health_whole(h)) {
        report->outcome = SL_CLUSTER_RUNNING;
    } else {
        report->outcome = SL_CLUSTER_REPAIRED;
        sl__record_opts(info, opts, &ropts);
        int timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : S_TIMEOUT_MS;
        l = (sl__launch){&ropts,
                         info,
                         info->n_workers,
                         info->slots,
                         sl__mono_ms() + timeout_ms,
                         errbuf};
        rv = s_repair(&l, h, report);
    }
    free(h);
    return rv;
}

// Remove the object tiers (store/tier.h) that no live process holds: what
// the processes of a cluster that stopped, or crashed, left in /dev/shm.
static void
s_tiers_clean(void)
{
    char errbuf[SL_ERRSTR_LEN] = "";
    int n = sl__tier_remove_dead(NULL, errbuf);
    if (errbuf[0] != '\0') {
        sl__log_warn("object tiers: %s", errbuf);
    }
    if (n > 0) {
        sl__log_info("removed %d object tier%s that no process used", n,
                     n == 1 ? "" : "s");
    }
}

sl_err
sl__cluster_up(const sl__cluster_opts *opts, sl__cluster_info *info,
               sl__cluster_up_report *report, char errbuf[SL_ERRSTR_LEN])
{
    sl__cluster_up_report ignored;
    sl__launch l;
    int lock = -1;
    sl_err rv;
    report = report != NULL ? report : &ignored;
    memset(report, 0, sizeof(*report));
    errbuf[0] = '\0';
    if ((rv = s_init(&l, opts, info, errbuf)) != SL_OK ||
        (rv = sl__mkdirs(info->home, errbuf)) != SL_OK ||
        (rv = sl__record_home_resolve(info->home, sizeof(info->home),
                                      errbuf)) != SL_OK ||
        (rv = sl__record_lock(info->home, &lock, errbuf)) != SL_OK) {
        goto done;
    }
    char home[sizeof(info->home)];
    sl__strlcpy(home, info->home, sizeof(home));
    if ((rv = sl__cluster_read(home, info)) == SL_OK) {
        rv = s_up_recorded(opts, info, report, errbuf);
        goto done;
    }
    if (rv != SL_ENOTFOUND) {
        sl__log_warn("%s/cluster.env cannot be read; starting a new cluster",
                     home);
        sl__record_remove(home);
    }
    // sl__cluster_read may have filled info from a broken record.
    memset(info, 0, sizeof(*info));
    s_tiers_clean();
    sl__strlcpy(info->home, home, sizeof(info->home));
    info->slots = l.slots;
    if ((rv = s_start_all(&l)) != SL_OK) {
        sl__daemon_stop_started(info);
        sl__record_remove(info->home);
        goto done;
    }
    report->outcome = SL_CLUSTER_STARTED;
done:
    sl__record_unlock(&lock);
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
    if ((rv = sl__record_lock(info->home, &lock, errbuf)) != SL_OK) {
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
    sl__record_remove(info->home);
    s_tiers_clean();
done:
    sl__record_unlock(&lock);
    free(info);
    return rv;
}

// ---------------------------------------------------------------------
// Restarting one part.

// The first steps of a restart: lock home, read the record into info and
// the options it was started with into *ropts (with given's bin_dir and
// timeout); l runs with them.
static sl_err
s_restart_begin(sl__launch *l, const sl__cluster_opts *given,
                sl__cluster_opts *ropts, sl__cluster_info *info, int *lock,
                char *errbuf)
{
    sl_err rv;
    errbuf[0] = '\0';
    if ((rv = s_init(l, given, info, errbuf)) != SL_OK ||
        (rv = sl__record_home_resolve(info->home, sizeof(info->home),
                                      errbuf)) != SL_OK ||
        (rv = sl__record_lock(info->home, lock, errbuf)) != SL_OK) {
        return rv;
    }
    if (sl__cluster_read(info->home, info) != SL_OK) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "no cluster recorded under %s",
                info->home);
        return SL_ENOTFOUND;
    }
    sl__record_opts(info, given, ropts);
    l->opts = ropts;
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
    sl__cluster_opts ropts;
    sl__launch l;
    int lock = -1;
    sl_err rv = s_restart_begin(&l, opts, &ropts, info, &lock, errbuf);
    if (rv == SL_OK &&
        (rv = s_check_gone(info->scheduler_pid, "the scheduler", errbuf)) ==
            SL_OK &&
        (rv = s_scheduler_again(&l)) == SL_OK) {
        rv = sl__record_write(l.info, l.errbuf);
    }
    sl__record_unlock(&lock);
    return rv;
}

sl_err
sl__cluster_restart_redis(const sl__cluster_opts *opts, sl__cluster_info *info,
                          char errbuf[SL_ERRSTR_LEN])
{
    sl__cluster_opts ropts;
    sl__launch l;
    int lock = -1;
    sl_err rv = s_restart_begin(&l, opts, &ropts, info, &lock, errbuf);
    if (rv == SL_OK &&
        (rv = s_check_gone(info->redis_pid, "redis-server", errbuf)) == SL_OK &&
        (rv = s_redis_again(&l)) == SL_OK) {
        rv = sl__record_write(l.info, l.errbuf);
    }
    sl__record_unlock(&lock);
    return rv;
}

sl_err
sl__cluster_restart_worker(const sl__cluster_opts *opts, sl__cluster_info *info,
                           int i, char errbuf[SL_ERRSTR_LEN])
{
    sl__cluster_opts ropts;
    sl__launch l;
    int lock = -1;
    sl_err rv = s_restart_begin(&l, opts, &ropts, info, &lock, errbuf);
    if (rv == SL_OK && (i < 0 || i >= info->n_workers)) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "no worker %d", i);
        rv = SL_EINVAL;
    }
    if (rv == SL_OK &&
        (rv = s_check_gone(info->worker_pids[i], "the worker", errbuf)) ==
            SL_OK &&
        (rv = sl__daemon_worker_start(&l, i)) == SL_OK) {
        rv = sl__record_write(l.info, l.errbuf);
    }
    sl__record_unlock(&lock);
    return rv;
}

// ---------------------------------------------------------------------
// Workers added and taken away.

sl_err
sl__cluster_workers_start(const sl__cluster_opts *opts, sl__cluster_info *info,
                          char errbuf[SL_ERRSTR_LEN])
{
    sl__cluster_opts ropts;
    sl__launch l;
    int lock = -1;
    sl_err rv = s_restart_begin(&l, opts, &ropts, info, &lock, errbuf);
    if (rv == SL_OK && info->n_workers > 0) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "the cluster has workers already");
        rv = SL_EINVAL;
    }
    if (rv == SL_OK && (rv = s_shape(&l, opts)) == SL_OK) {
        // The workers' options are the caller's; the rest the record's.
        ropts.executor = opts->executor;
        ropts.cache_mb = opts->cache_mb;
        ropts.prefetch = opts->prefetch;
        ropts.tier_budget_mb = opts->tier_budget_mb;
        ropts.module_allow = opts->module_allow;
        ropts.module_cache = opts->module_cache;
        sl__record_settings(&ropts, &info->settings, false);
        info->slots = l.slots;
        if ((rv = sl__daemon_workers_start(&l)) == SL_OK) {
            rv = sl__daemon_slots_wait(&l);
        }
        sl_err wrote =
            sl__record_write(l.info, l.errbuf); // the workers that did start
        rv = rv != SL_OK ? rv : wrote;
    }
    sl__record_unlock(&lock);
    return rv;
}

sl_err
sl__cluster_workers_stop(const sl__cluster_opts *opts, sl__cluster_info *info,
                         char errbuf[SL_ERRSTR_LEN])
{
    sl__cluster_opts ropts;
    sl__launch l;
    int lock = -1;
    sl_err rv = s_restart_begin(&l, opts, &ropts, info, &lock, errbuf);
    if (rv == SL_OK) {
        if (sl__daemon_stop_workers(info) > 0) {
            sl__fmt(errbuf, SL_ERRSTR_LEN, "a worker would not stop");
            rv = SL_EIO;
        }
        info->n_workers = 0;
        l.workers = 0;
        sl_err wrote = sl__record_write(l.info, l.errbuf);
        // A worker says BYE as it stops; one that could not is noticed
        // after three heartbeats.
        l.deadline_ms = sl__mono_ms() + S_WORKERS_STOP_MS;
        if (rv == SL_OK && (rv = wrote) == SL_OK) {
            rv = sl__daemon_slots_wait(&l);
        }
    }
    sl__record_unlock(&lock);
    return rv;
}
