// record.c - a local cluster's home: its lock, its record (cluster.env)
// written and removed, its keys, and the options its parts were started
// with.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - cluster.env is written last and atomically (tmp + rename): when it
//   exists, the cluster it names came up completely. It is read by
//   client/cluster_env.c, in libstarling; its format is in cluster_env.h.
// - The lock is an exclusive flock on home/lock. Its file descriptor is
//   close-on-exec and sl__proc_spawn closes the rest, so no daemon
//   inherits the lock.
// - Keys: home/keys/{scheduler,worker,client}{,_secret} and the allow
//   directory home/keys/allowed/ (the worker and client public
//   certificates) are made by the first `up` and kept, so that a client
//   given copies of them keeps working across `down` and `up`. All the
//   workers share one key: they are one machine's processes.
#include "record.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "../../common/cert.h"
#include "daemons.h"

// ---------------------------------------------------------------------
// The lock and the record.

// Take the exclusive lock on home/lock; *fd_out holds it until closed.
sl_err
sl__record_lock(const char *home, int *fd_out, char errbuf[SL_ERRSTR_LEN])
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

void
sl__record_unlock(int *fd_p)
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

// The options the parts were started with, those that were given.
static void
s_write_settings(FILE *f, const sl__cluster_settings *st)
{
    fprintf(f, "aof=%s\n", st->aof ? "yes" : "no");
    if (st->executor[0] != '\0') {
        fprintf(f, "executor=%s\n", st->executor);
    }
    if (st->module_allow[0] != '\0') {
        fprintf(f, "module_allow=%s\n", st->module_allow);
    }
    if (st->module_cache[0] != '\0') {
        fprintf(f, "module_cache=%s\n", st->module_cache);
    }
    const struct {
        const char *key;
        long long value;
    } numbers[] = {
        {"cache_mb", st->cache_mb},
        {"prefetch", st->prefetch},
        {"tier_budget_mb", st->tier_budget_mb},
        {"max_message", (long long) st->max_message},
        {"max_client_jobs", st->max_client_jobs},
        {"client_grace_ms", st->client_grace_ms},
        {"send_hwm", st->send_hwm},
    };
    for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
        if (numbers[i].value != 0) {
            fprintf(f, "%s=%lld\n", numbers[i].key, numbers[i].value);
        }
    }
}

// Write cluster.env (its format: cluster_env.h) atomically: readers see
// the old file or the new one.
sl_err
sl__record_write(const sl__cluster_info *info, char errbuf[SL_ERRSTR_LEN])
{
    char path[SL_LAUNCH_PATH_LEN];
    char tmp[SL_LAUNCH_PATH_LEN];
    sl__launch_path(path, info->home, "cluster.env");
    sl__launch_path(tmp, info->home, "cluster.env.tmp");
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot write %s: %s", tmp,
                strerror(errno));
        return SL_EIO;
    }
    fprintf(f, "scheduler=%s\nworkers=%s\nredis=%s\n", info->scheduler,
            info->workers_endpoint, info->redis);
    if (info->dashboard[0] != '\0') {
        fprintf(f, "dashboard=%s\n", info->dashboard);
    }
    fprintf(f, "redis_pid=%d\nscheduler_pid=%d\n", (int) info->redis_pid,
            (int) info->scheduler_pid);
    s_write_pids(f, info);
    fprintf(f, "slots=%d\n", info->slots);
    if (info->client_cert[0] != '\0') {
        fprintf(f, "client_cert=%s\nserver_cert=%s\n", info->client_cert,
                info->server_cert);
    }
    s_write_settings(f, &info->settings);
    bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot write %s: %s", path,
                strerror(errno));
        unlink(tmp);
        return SL_EIO;
    }
    return SL_OK;
}

void
sl__record_remove(const char *home)
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

sl_err
sl__record_keys(sl__cluster_info *info, bool insecure,
                char errbuf[SL_ERRSTR_LEN])
{
    sl_err rv;
    if (insecure) {
        return SL_OK;
    }
    if ((rv = sl__cluster_keys(info->home, errbuf)) != SL_OK) {
        return rv;
    }
    sl__launch_path(info->client_cert, info->home, "keys/client_secret");
    sl__launch_path(info->server_cert, info->home, "keys/scheduler");
    return SL_OK;
}

// ---------------------------------------------------------------------
// The options a part is started with.

// What of opts the record keeps: the workers' options into st (always),
// Redis's and the scheduler's too when all is true (a new cluster).
void
sl__record_settings(const sl__cluster_opts *o, sl__cluster_settings *st,
                    bool all)
{
    sl__strlcpy(st->executor, o->executor != NULL ? o->executor : "",
                sizeof(st->executor));
    st->cache_mb = o->cache_mb;
    st->prefetch = o->prefetch;
    st->tier_budget_mb = o->tier_budget_mb;
    sl__strlcpy(st->module_allow, o->module_allow ? o->module_allow : "",
                sizeof(st->module_allow));
    sl__strlcpy(st->module_cache, o->module_cache ? o->module_cache : "",
                sizeof(st->module_cache));
    if (all) {
        st->aof = o->aof;
        st->max_message = o->max_message;
        st->max_client_jobs = o->max_client_jobs;
        st->client_grace_ms = o->client_grace_ms;
        st->send_hwm = o->send_hwm;
    }
}

// The options the recorded cluster was started with, into *o (which
// borrows info's strings): given says only where home and the programs
// are, and how long to wait.
void
sl__record_opts(const sl__cluster_info *info, const sl__cluster_opts *given,
                sl__cluster_opts *o)
{
    const sl__cluster_settings *st = &info->settings;
    *o = (sl__cluster_opts){
        .home = info->home,
        .workers = info->n_workers,
        .slots = info->slots,
        .no_workers = info->n_workers == 0,
        .bin_dir = given->bin_dir,
        .aof = st->aof,
        .timeout_ms = given->timeout_ms,
        .executor = st->executor[0] != '\0' ? st->executor : NULL,
        .client_grace_ms = st->client_grace_ms,
        .send_hwm = st->send_hwm,
        .insecure = info->client_cert[0] == '\0',
        .module_allow = st->module_allow[0] != '\0' ? st->module_allow : NULL,
        .max_message = (size_t) st->max_message,
        .max_client_jobs = st->max_client_jobs,
        .cache_mb = st->cache_mb,
        .prefetch = st->prefetch,
        .module_cache = st->module_cache[0] != '\0' ? st->module_cache : NULL,
        .tier_budget_mb = st->tier_budget_mb,
    };
}

// Make home (which exists) absolute, so that the daemons' paths and the
// record do not depend on the working directory.
sl_err
sl__record_home_resolve(char *home, size_t len, char errbuf[SL_ERRSTR_LEN])
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

// Read the password `up` gave Redis.
sl_err
sl__record_password(const char *home, char *buf, size_t len,
                    char errbuf[SL_ERRSTR_LEN])
{
    char path[SL_LAUNCH_PATH_LEN];
    sl__launch_path(path, home, "redis.pass");
    FILE *f = fopen(path, "r");
    bool ok = f != NULL && fgets(buf, (int) len, f) != NULL;
    if (f != NULL) {
        fclose(f);
    }
    if (!ok) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot read %s", path);
        return SL_EIO;
    }
    buf[strcspn(buf, "\r\n")] = '\0';
    return SL_OK;
}
