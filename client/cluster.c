// cluster.c - the local cluster: start and stop redis, scheduler, workers.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - Everything lives under one home directory (0700): the lock file, the
//   Redis password (0600), redis/ (config, log, AOF), the scheduler's
//   endpoints file, one log per process, and cluster.env, which is the
//   record of a running cluster. cluster.env is written last and
//   atomically (tmp + rename): when it exists, the cluster it names came
//   up completely.
// - up and down hold an exclusive flock on home/lock, so two of them at
//   once start (or stop) one cluster. The lock file descriptor is
//   close-on-exec and sl__proc_spawn closes the rest, so no daemon
//   inherits the lock.
// - Processes are stopped by the PID that started them. down first checks
//   that a PID still runs the program it recorded: a PID recycled since
//   `up` belongs to someone else and is left alone.
// - When up fails half way, it stops what it has started (its own children,
//   so their PIDs cannot have been recycled) and says why in errbuf, with
//   the last lines of the failing process's log.
// - Keys: home/keys/{scheduler,worker,client}{,_secret} and the allow
//   directory home/keys/allowed/ (the worker and client public
//   certificates) are made by the first `up` and kept, so that a client
//   given copies of them keeps working across `down` and `up`. All the
//   workers share one key: they are one machine's processes.
#include "cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <starling/client.h>

#include "../common/cert.h"
#include "../common/proc.h"

#define SL_CLUSTER_TIMEOUT_MS 30000
#define SL_CLUSTER_STOP_MS 5000
#define SL_CLUSTER_POLL_US 20000
#define SL_CLUSTER_PATH_LEN 1024
// Leaves room for "/worker-1023.log" and friends below SL_CLUSTER_PATH_LEN.
#define SL_CLUSTER_HOME_MAX 400
#define SL_CLUSTER_PASSWORD_BYTES 24

// One run of sl__cluster_up: what it was asked, and what it started.
typedef struct {
    const sl__cluster_opts *opts; // as given
    sl__cluster_info *info;       // filled as processes start
    int workers;                  // worker processes to start
    int slots;                    // slots per worker
    int64_t deadline_ms;          // sl__mono_ms() by which all is up
    char *errbuf;                 // SL_ERRSTR_LEN bytes: why it failed
} s_up;

// ---------------------------------------------------------------------
// Paths and files.

void
sl__cluster_home(const char *home, char *buf, size_t len)
{
    const char *env = getenv("STARLING_HOME");
    const char *user = getenv("HOME");
    if (home != NULL && home[0] != '\0') {
        sl__strlcpy(buf, home, len);
    } else if (env != NULL && env[0] != '\0') {
        sl__strlcpy(buf, env, len);
    } else if (user != NULL && user[0] != '\0') {
        sl__fmt(buf, len, "%s/.starling", user);
    } else {
        sl__fmt(buf, len, "/tmp/starling-%d/.starling", (int) getuid());
    }
}

static void
s_path(char *buf, const char *home, const char *name)
{
    sl__fmt(buf, SL_CLUSTER_PATH_LEN, "%s/%s", home, name);
}

// mkdir -p with mode 0700 for every directory it creates.
static sl_err
s_mkdirs(const char *dir, char errbuf[SL_ERRSTR_LEN])
{
    char path[SL_CLUSTER_PATH_LEN];
    struct stat st;
    sl__strlcpy(path, dir, sizeof(path));
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0') {
            continue;
        }
        char saved = *p;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot create %s: %s", path,
                    strerror(errno));
            return SL_EIO;
        }
        *p = saved;
        if (saved == '\0') {
            break;
        }
    }
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "%s is not a directory", path);
        return SL_EIO;
    }
    return SL_OK;
}

// Take the exclusive lock on home/lock; *fd_out holds it until closed.
static sl_err
s_lock(const char *home, int *fd_out, char errbuf[SL_ERRSTR_LEN])
{
    char path[SL_CLUSTER_PATH_LEN];
    s_path(path, home, "lock");
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

// errbuf = "what (name: last lines of its log)", cut to fit.
static sl_err
s_fail_with_log(s_up *up, sl_err rv, const char *what, const char *log_name)
{
    char path[SL_CLUSTER_PATH_LEN];
    char tail[SL_ERRSTR_LEN];
    size_t used = strlen(what) + strlen(log_name) + 5;
    s_path(path, up->info->home, log_name);
    if (used + 16 < SL_ERRSTR_LEN) {
        s_log_tail(path, tail, SL_ERRSTR_LEN - used);
    } else {
        tail[0] = '\0';
    }
    if (tail[0] == '\0') {
        sl__fmt(up->errbuf, SL_ERRSTR_LEN, "%s (see %s)", what, path);
    } else {
        sl__fmt(up->errbuf, SL_ERRSTR_LEN, "%s (%s: %s)", what, log_name, tail);
    }
    return rv;
}

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

// ---------------------------------------------------------------------
// cluster.env.

static pid_t
s_parse_pid(const char *s, char **end)
{
    long v = strtol(s, end, 10);
    return v > 0 && v <= INT_MAX ? (pid_t) v : 0;
}

static sl_err
s_parse_pids(const char *s, sl__cluster_info *info)
{
    char *end = (char *) s;
    info->n_workers = 0;
    while (*s != '\0') {
        pid_t pid = s_parse_pid(s, &end);
        if (pid == 0 || info->n_workers == SL_CLUSTER_MAX_WORKERS ||
            (*end != ',' && *end != '\0')) {
            return SL_EIO;
        }
        info->worker_pids[info->n_workers++] = pid;
        s = *end == ',' ? end + 1 : end;
    }
    return SL_OK;
}

// Apply one "key=value" line to info. Unknown keys are ignored, so that a
// newer `up` may record more.
static sl_err
s_parse_line(char *line, sl__cluster_info *info)
{
    char *end = NULL;
    char *eq = strchr(line, '=');
    if (eq == NULL) {
        return line[0] == '\0' || line[0] == '#' ? SL_OK : SL_EIO;
    }
    *eq = '\0';
    const char *key = line;
    const char *value = eq + 1;
    if (strcmp(key, "scheduler") == 0) {
        sl__strlcpy(info->scheduler, value, sizeof(info->scheduler));
    } else if (strcmp(key, "workers") == 0) {
        sl__strlcpy(info->workers_endpoint, value,
                    sizeof(info->workers_endpoint));
    } else if (strcmp(key, "redis") == 0) {
        sl__strlcpy(info->redis, value, sizeof(info->redis));
    } else if (strcmp(key, "redis_pid") == 0) {
        info->redis_pid = s_parse_pid(value, &end);
    } else if (strcmp(key, "scheduler_pid") == 0) {
        info->scheduler_pid = s_parse_pid(value, &end);
    } else if (strcmp(key, "worker_pids") == 0) {
        return s_parse_pids(value, info);
    } else if (strcmp(key, "slots") == 0) {
        info->slots = atoi(value);
    } else if (strcmp(key, "client_cert") == 0) {
        sl__strlcpy(info->client_cert, value, sizeof(info->client_cert));
    } else if (strcmp(key, "server_cert") == 0) {
        sl__strlcpy(info->server_cert, value, sizeof(info->server_cert));
    }
    return SL_OK;
}

sl_err
sl__cluster_read(const char *home, sl__cluster_info *info)
{
    char path[SL_CLUSTER_PATH_LEN];
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    sl_err rv = SL_OK;
    char dir[sizeof(info->home)];
    sl__cluster_home(home, dir, sizeof(dir)); // home may be info->home.
    memset(info, 0, sizeof(*info));
    sl__strlcpy(info->home, dir, sizeof(info->home));
    s_path(path, info->home, "cluster.env");
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return errno == ENOENT ? SL_ENOTFOUND : SL_EIO;
    }
    while (rv == SL_OK && (n = getline(&line, &cap, f)) >= 0) {
        line[strcspn(line, "\r\n")] = '\0';
        rv = s_parse_line(line, info);
    }
    free(line);
    fclose(f);
    if (rv == SL_OK &&
        (info->scheduler[0] == '\0' || info->scheduler_pid == 0)) {
        rv = SL_EIO;
    }
    return rv;
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

// Write cluster.env atomically: readers see the old file or the new one.
static sl_err
s_write_env(s_up *up)
{
    const sl__cluster_info *info = up->info;
    char path[SL_CLUSTER_PATH_LEN];
    char tmp[SL_CLUSTER_PATH_LEN];
    s_path(path, info->home, "cluster.env");
    s_path(tmp, info->home, "cluster.env.tmp");
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        sl__fmt(up->errbuf, SL_ERRSTR_LEN, "cannot write %s: %s", tmp,
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
        sl__fmt(up->errbuf, SL_ERRSTR_LEN, "cannot write %s: %s", path,
                strerror(errno));
        unlink(tmp);
        return SL_EIO;
    }
    return SL_OK;
}

// ---------------------------------------------------------------------
// Stopping.

// Whether pid is alive and still runs program name; warns when it is
// alive but now something else.
static bool
s_still_ours(pid_t pid, const char *name)
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

static bool
s_stop_checked(pid_t pid, const char *name)
{
    if (!s_still_ours(pid, name)) {
        return true;
    }
    if (sl__proc_stop(pid, SL_CLUSTER_STOP_MS) != SL_OK) {
        sl__log_warn("could not stop %s (pid %d)", name, (int) pid);
        return false;
    }
    return true;
}

// Stop what info records: workers (all asked at once, then each waited
// for), then the scheduler, then Redis. Returns how many could not be
// stopped.
static int
s_stop_recorded(const sl__cluster_info *info)
{
    int failed = 0;
    bool ours[SL_CLUSTER_MAX_WORKERS];
    for (int i = 0; i < info->n_workers; i++) {
        ours[i] = s_still_ours(info->worker_pids[i], "starling-worker");
        if (ours[i]) {
            kill(info->worker_pids[i], SIGTERM);
        }
    }
    for (int i = 0; i < info->n_workers; i++) {
        if (ours[i] &&
            sl__proc_stop(info->worker_pids[i], SL_CLUSTER_STOP_MS) != SL_OK) {
            sl__log_warn("could not stop starling-worker (pid %d)",
                         (int) info->worker_pids[i]);
            failed++;
        }
    }
    failed += !s_stop_checked(info->scheduler_pid, "starling-scheduler");
    failed += !s_stop_checked(info->redis_pid, "redis-server");
    return failed;
}

// Stop what a failed up started: our own children, so no name checks.
static void
s_stop_started(sl__cluster_info *info)
{
    for (int i = 0; i < info->n_workers; i++) {
        if (info->worker_pids[i] > 0) {
            kill(info->worker_pids[i], SIGTERM);
        }
    }
    for (int i = 0; i < info->n_workers; i++) {
        if (info->worker_pids[i] > 0) {
            sl__proc_stop(info->worker_pids[i], SL_CLUSTER_STOP_MS);
        }
    }
    if (info->scheduler_pid > 0) {
        sl__proc_stop(info->scheduler_pid, SL_CLUSTER_STOP_MS);
    }
    if (info->redis_pid > 0) {
        sl__proc_stop(info->redis_pid, SL_CLUSTER_STOP_MS);
    }
}

static void
s_remove_records(const char *home)
{
    char path[SL_CLUSTER_PATH_LEN];
    s_path(path, home, "cluster.env");
    unlink(path);
    s_path(path, home, "endpoints");
    unlink(path);
    s_path(path, home, "redis.pass");
    unlink(path);
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
    int failed = s_stop_recorded(info);
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
// Starting.

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
        s_stop_recorded(info);
    }
    s_remove_records(home);
    return false;
}

static sl_err
s_write_password(s_up *up, const char *password)
{
    char path[SL_CLUSTER_PATH_LEN];
    s_path(path, up->info->home, "redis.pass");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        sl__fmt(up->errbuf, SL_ERRSTR_LEN, "cannot write %s: %s", path,
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
        sl__fmt(up->errbuf, SL_ERRSTR_LEN, "cannot write %s: %s", path,
                strerror(errno));
        return SL_EIO;
    }
    return SL_OK;
}

// Run redis-server under home/redis on port with password.
static sl_err
s_run_redis(s_up *up, int port, const char *password)
{
    char dir[SL_CLUSTER_PATH_LEN];
    s_path(dir, up->info->home, "redis");
    sl__redis_opts ro = {
        .dir = dir,
        .port = port,
        .password = password,
        .aof = up->opts->aof,
    };
    sl_err rv = sl__redis_start(&ro, &up->info->redis_pid, up->errbuf);
    if (rv == SL_OK) {
        sl__fmt(up->info->redis, sizeof(up->info->redis), "127.0.0.1:%d", port);
    }
    return rv;
}

static sl_err
s_start_redis(s_up *up)
{
    char password[2 * SL_CLUSTER_PASSWORD_BYTES + 1];
    sl_err rv;
    sl__random_hex(password, SL_CLUSTER_PASSWORD_BYTES);
    if ((rv = s_write_password(up, password)) != SL_OK) {
        return rv;
    }
    int port = sl__free_port();
    if (port < 0) {
        sl__fmt(up->errbuf, SL_ERRSTR_LEN, "no free TCP port for Redis");
        return SL_EIO;
    }
    return s_run_redis(up, port, password);
}

// ---------------------------------------------------------------------
// Keys.

// home/keys/name_secret, made (with name) when it is missing.
static sl_err
s_key_make(const char *dir, const char *name, char *errbuf)
{
    char path[SL_CLUSTER_PATH_LEN];
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
    char path[SL_CLUSTER_PATH_LEN];
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
    char dir[SL_CLUSTER_PATH_LEN];
    char allow[SL_CLUSTER_PATH_LEN];
    sl_err rv;
    s_path(dir, home, "keys");
    s_path(allow, home, "keys/allowed");
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
s_keys_start(s_up *up)
{
    sl__cluster_info *info = up->info;
    sl_err rv;
    if (up->opts->insecure) {
        return SL_OK;
    }
    if ((rv = sl__cluster_keys(info->home, up->errbuf)) != SL_OK) {
        return rv;
    }
    s_path(info->client_cert, info->home, "keys/client_secret");
    s_path(info->server_cert, info->home, "keys/scheduler");
    return SL_OK;
}

// ---------------------------------------------------------------------
// Processes.

// Start program with argv (argv[0] resolved here) detached, its output in
// home/log_name, which starts empty so that its tail is about this run.
static sl_err
s_spawn(s_up *up, const char *program, char **argv, const char *log_name,
        pid_t *pid_out)
{
    char exe[SL_CLUSTER_PATH_LEN];
    char log[SL_CLUSTER_PATH_LEN];
    char why[SL_ERRSTR_LEN] = "";
    s_program(up->opts, program, exe, sizeof(exe));
    s_path(log, up->info->home, log_name);
    unlink(log);
    argv[0] = exe;
    sl_err rv = sl__proc_spawn(pid_out, argv, log, true, why);
    if (rv != SL_OK) {
        sl__strlcpy(up->errbuf, why, SL_ERRSTR_LEN); // It names the program.
    }
    return rv;
}

// Start the scheduler on the given endpoints ("tcp://127.0.0.1:*" picks
// free ports; it writes what it bound to home/endpoints).
static sl_err
s_start_scheduler(s_up *up, const char *clients, const char *workers)
{
    char store_pass[SL_CLUSTER_PATH_LEN];
    char endpoints[SL_CLUSTER_PATH_LEN];
    char cert[SL_CLUSTER_PATH_LEN];
    char allow[SL_CLUSTER_PATH_LEN];
    char max_message[32];
    char max_jobs[32];
    s_path(store_pass, up->info->home, "redis.pass");
    s_path(endpoints, up->info->home, "endpoints");
    s_path(cert, up->info->home, "keys/scheduler_secret");
    s_path(allow, up->info->home, "keys/allowed");
    sl__fmt(max_message, sizeof(max_message), "%zu", up->opts->max_message);
    sl__fmt(max_jobs, sizeof(max_jobs), "%u", up->opts->max_client_jobs);
    unlink(endpoints);
    char *argv[24] = {
        NULL,
        "--clients",
        (char *) clients,
        "--workers",
        (char *) workers,
        "--store",
        up->info->redis,
        "--store-password-file",
        store_pass,
        "--endpoints-file",
        endpoints,
    };
    int argc = 11;
    if (!up->opts->insecure) {
        argv[argc++] = "--cert";
        argv[argc++] = cert;
        argv[argc++] = "--allow";
        argv[argc++] = allow;
    }
    if (up->opts->max_message > 0) {
        argv[argc++] = "--max-message";
        argv[argc++] = max_message;
    }
    if (up->opts->max_client_jobs > 0) {
        argv[argc++] = "--max-client-jobs";
        argv[argc++] = max_jobs;
    }
    char grace[16];
    if (up->opts->client_grace_ms > 0) {
        sl__fmt(grace, sizeof(grace), "%d", up->opts->client_grace_ms);
        argv[argc++] = "--client-grace-ms";
        argv[argc++] = grace;
    }
    char hwm[16];
    if (up->opts->send_hwm > 0) {
        sl__fmt(hwm, sizeof(hwm), "%d", up->opts->send_hwm);
        argv[argc++] = "--send-hwm";
        argv[argc++] = hwm;
    }
    argv[argc] = NULL;
    return s_spawn(up, "starling-scheduler", argv, "scheduler.log",
                   &up->info->scheduler_pid);
}

// Read home/endpoints ("clients=EP\nworkers=EP\n") into info. False until
// the scheduler has written it.
// Start the scheduler on two free ports the kernel picks at random, not
// ZeroMQ's "*" (the lowest free port from 49152): a scheduler restarted on
// its port must not find it taken by the next cluster started nearby.
static sl_err s_wait_endpoints(s_up *up);

// A port can be taken between our probe and the scheduler's bind: then
// it exits at once, and we try other ports.
static sl_err
s_start_scheduler_anywhere(s_up *up)
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
        if ((rv = s_start_scheduler(up, clients, workers)) != SL_OK ||
            (rv = s_wait_endpoints(up)) != SL_EIO) {
            return rv; // up, or a failure other ports would not cure
        }
        up->info->scheduler_pid = 0; // it exited: try again
    }
    return rv;
}

static bool
s_read_endpoints(sl__cluster_info *info)
{
    char path[SL_CLUSTER_PATH_LEN];
    char line[512];
    s_path(path, info->home, "endpoints");
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
        }
    }
    fclose(f);
    return info->scheduler[0] != '\0' && info->workers_endpoint[0] != '\0';
}

static sl_err
s_wait_endpoints(s_up *up)
{
    while (!s_read_endpoints(up->info)) {
        if (!sl__proc_alive(up->info->scheduler_pid)) {
            return s_fail_with_log(up, SL_EIO,
                                   "starling-scheduler exited at start",
                                   "scheduler.log");
        }
        if (sl__mono_ms() > up->deadline_ms) {
            return s_fail_with_log(up, SL_ETIMEDOUT,
                                   "starling-scheduler wrote no endpoints",
                                   "scheduler.log");
        }
        usleep(SL_CLUSTER_POLL_US);
    }
    return SL_OK;
}

static sl_err
s_start_worker(s_up *up, int i)
{
    char slots[16], cache_mb[16];
    char name[96];
    char host[64] = "local";
    char log_name[64];
    char cert[SL_CLUSTER_PATH_LEN];
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    sl__fmt(slots, sizeof(slots), "%d", up->slots);
    sl__fmt(name, sizeof(name), "%s/%d", host, i);
    sl__fmt(log_name, sizeof(log_name), "worker-%d.log", i);
    s_path(cert, up->info->home, "keys/worker_secret");
    char *argv[24] = {
        NULL,     "--scheduler", up->info->workers_endpoint, "--slots", slots,
        "--name", name,
    };
    int argc = 7;
    if (!up->opts->insecure) {
        argv[argc++] = "--cert";
        argv[argc++] = cert;
        argv[argc++] = "--server-cert";
        argv[argc++] = up->info->server_cert;
    }
    if (up->opts->module_allow != NULL) {
        argv[argc++] = "--module-allow";
        argv[argc++] = (char *) up->opts->module_allow;
    }
    if (up->opts->executor != NULL) {
        argv[argc++] = "--executor";
        argv[argc++] = (char *) up->opts->executor;
    }
    if (up->opts->cache_mb != 0) {
        sl__fmt(cache_mb, sizeof(cache_mb), "%d",
                up->opts->cache_mb > 0 ? up->opts->cache_mb : 0);
        argv[argc++] = "--cache-mb";
        argv[argc++] = cache_mb;
    }
    argv[argc] = NULL;
    return s_spawn(up, "starling-worker", argv, log_name,
                   &up->info->worker_pids[i]);
}

static sl_err
s_start_workers(s_up *up)
{
    sl_err rv;
    for (int i = 0; i < up->workers; i++) {
        up->info->n_workers = i + 1;
        if ((rv = s_start_worker(up, i)) != SL_OK) {
            up->info->worker_pids[i] = 0;
            return rv;
        }
    }
    return SL_OK;
}

// SL_OK while every process up started still runs; else says which died.
static sl_err
s_check_alive(s_up *up)
{
    char what[64];
    char log_name[64];
    if (!sl__proc_alive(up->info->scheduler_pid)) {
        return s_fail_with_log(up, SL_EIO, "starling-scheduler exited",
                               "scheduler.log");
    }
    for (int i = 0; i < up->info->n_workers; i++) {
        if (!sl__proc_alive(up->info->worker_pids[i])) {
            sl__fmt(what, sizeof(what), "starling-worker %d exited", i);
            sl__fmt(log_name, sizeof(log_name), "worker-%d.log", i);
            return s_fail_with_log(up, SL_EIO, what, log_name);
        }
    }
    return SL_OK;
}

// Poll the scheduler until it counts every worker's slots.
static sl_err
s_poll_slots(s_up *up, sl_client *client)
{
    uint32_t want = (uint32_t) (up->workers * up->slots);
    sl_cluster_status st = {0};
    char what[128];
    sl_err rv;
    for (;;) {
        if ((rv = sl_cluster_status_get(client, &st)) != SL_OK) {
            sl__fmt(what, sizeof(what), "no status from the scheduler: %s",
                    sl_client_errstr(client));
            return s_fail_with_log(up, rv, what, "scheduler.log");
        }
        if (st.workers >= (uint32_t) up->workers && st.slots >= want) {
            return SL_OK;
        }
        if ((rv = s_check_alive(up)) != SL_OK) {
            return rv;
        }
        if (sl__mono_ms() > up->deadline_ms) {
            sl__fmt(what, sizeof(what),
                    "timed out: %u of %u slots (%u of %d workers) connected",
                    st.slots, want, st.workers, up->workers);
            return s_fail_with_log(up, SL_ETIMEDOUT, what, "worker-0.log");
        }
        usleep(SL_CLUSTER_POLL_US);
    }
}

static sl_err
s_wait_slots(s_up *up)
{
    sl_client *client = NULL;
    sl_client_keys keys = {NULL, NULL}; // insecure: none, whatever the env
    if (up->info->client_cert[0] != '\0') {
        keys.client_cert = up->info->client_cert;
        keys.server_cert = up->info->server_cert;
    }
    sl_err rv = sl_client_connect_keys(&client, up->info->scheduler, &keys);
    if (rv != SL_OK) {
        char what[128];
        sl__fmt(what, sizeof(what), "cannot connect to the scheduler: %s",
                sl_strerror(rv));
        return s_fail_with_log(up, rv, what, "scheduler.log");
    }
    rv = s_poll_slots(up, client);
    sl_client_destroy(&client);
    return rv;
}

static sl_err
s_start_all(s_up *up)
{
    sl_err rv;
    if ((rv = s_keys_start(up)) != SL_OK || (rv = s_start_redis(up)) != SL_OK ||
        (rv = s_start_scheduler_anywhere(up)) != SL_OK ||
        (rv = s_start_workers(up)) != SL_OK ||
        (rv = s_wait_slots(up)) != SL_OK || (rv = s_write_env(up)) != SL_OK) {
        return rv;
    }
    return SL_OK;
}

static sl_err
s_up_init(s_up *up, const sl__cluster_opts *opts, sl__cluster_info *info,
          char *errbuf)
{
    int timeout_ms =
        opts->timeout_ms > 0 ? opts->timeout_ms : SL_CLUSTER_TIMEOUT_MS;
    memset(info, 0, sizeof(*info));
    sl__cluster_home(opts->home, info->home, sizeof(info->home));
    up->opts = opts;
    up->info = info;
    up->errbuf = errbuf;
    // One worker process per core by default (DESIGN.md): a worker's main
    // thread, which hands tasks to its slots and gathers their outcomes,
    // is serial, and on this 2-core machine two workers of one slot did
    // 1,130,000 no-op tasks/s where one of two slots did 880,000.
    int cores = sl__ncpus() > 0 ? sl__ncpus() : 1;
    if (opts->workers > 0) {
        up->workers = opts->workers;
        up->slots = opts->slots > 0 ? opts->slots : cores / up->workers;
    } else {
        up->slots = opts->slots > 0 ? opts->slots : 1;
        up->workers = cores / up->slots > 0 ? cores / up->slots : 1;
        if (up->workers > SL_CLUSTER_MAX_WORKERS) {
            up->workers = SL_CLUSTER_MAX_WORKERS;
        }
    }
    up->slots = up->slots > 0 ? up->slots : 1;
    up->deadline_ms = sl__mono_ms() + timeout_ms;
    if (up->workers > SL_CLUSTER_MAX_WORKERS || opts->slots < 0 ||
        opts->workers < 0) {
        sl__fmt(errbuf, SL_ERRSTR_LEN,
                "workers takes 1 to %d, slots a positive number",
                SL_CLUSTER_MAX_WORKERS);
        return SL_EINVAL;
    }
    return SL_OK;
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
    if (strlen(abs) > SL_CLUSTER_HOME_MAX) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "home path longer than %d bytes",
                SL_CLUSTER_HOME_MAX);
        return SL_EINVAL;
    }
    sl__strlcpy(home, abs, len);
    return SL_OK;
}

sl_err
sl__cluster_up(const sl__cluster_opts *opts, sl__cluster_info *info,
               bool *started_out, char errbuf[SL_ERRSTR_LEN])
{
    s_up up;
    int lock = -1;
    sl_err rv;
    errbuf[0] = '\0';
    *started_out = false;
    if ((rv = s_up_init(&up, opts, info, errbuf)) != SL_OK ||
        (rv = s_mkdirs(info->home, errbuf)) != SL_OK ||
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
    info->slots = up.slots;
    if ((rv = s_start_all(&up)) != SL_OK) {
        s_stop_started(info);
        s_remove_records(info->home);
        goto done;
    }
    *started_out = true;
done:
    s_unlock(&lock);
    return rv;
}

// The first steps of a restart: lock home and read the record into info.
static sl_err
s_restart_begin(s_up *up, const sl__cluster_opts *opts, sl__cluster_info *info,
                int *lock, char *errbuf)
{
    sl_err rv;
    errbuf[0] = '\0';
    if ((rv = s_up_init(up, opts, info, errbuf)) != SL_OK ||
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
    up->workers = info->n_workers;
    up->slots = info->slots;
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
    return SL_OK;
}

sl_err
sl__cluster_restart_scheduler(const sl__cluster_opts *opts,
                              sl__cluster_info *info,
                              char errbuf[SL_ERRSTR_LEN])
{
    s_up up;
    int lock = -1;
    sl_err rv = s_restart_begin(&up, opts, info, &lock, errbuf);
    if (rv == SL_OK && (rv = s_check_gone(info->scheduler_pid, "the scheduler",
                                          errbuf)) == SL_OK) {
        char clients[sizeof(info->scheduler)];
        char workers[sizeof(info->workers_endpoint)];
        sl__strlcpy(clients, info->scheduler, sizeof(clients));
        sl__strlcpy(workers, info->workers_endpoint, sizeof(workers));
        info->scheduler[0] = info->workers_endpoint[0] = '\0';
        if ((rv = s_start_scheduler(&up, clients, workers)) == SL_OK &&
            (rv = s_wait_endpoints(&up)) == SL_OK) {
            rv = s_write_env(&up);
        }
    }
    s_unlock(&lock);
    return rv;
}

sl_err
sl__cluster_restart_redis(const sl__cluster_opts *opts, sl__cluster_info *info,
                          char errbuf[SL_ERRSTR_LEN])
{
    s_up up;
    int lock = -1;
    char path[SL_CLUSTER_PATH_LEN];
    char password[256] = "";
    sl_err rv = s_restart_begin(&up, opts, info, &lock, errbuf);
    if (rv == SL_OK) {
        rv = s_check_gone(info->redis_pid, "redis-server", errbuf);
    }
    const char *colon = strrchr(info->redis, ':');
    if (rv == SL_OK) {
        s_path(path, info->home, "redis.pass");
        FILE *f = fopen(path, "r");
        if (f == NULL || fgets(password, sizeof(password), f) == NULL ||
            colon == NULL) {
            sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot read %s or the record",
                    path);
            rv = SL_EIO;
        }
        if (f != NULL) {
            fclose(f);
        }
    }
    if (rv == SL_OK) {
        password[strcspn(password, "\r\n")] = '\0';
        if ((rv = s_run_redis(&up, atoi(colon + 1), password)) == SL_OK) {
            rv = s_write_env(&up);
        }
    }
    s_unlock(&lock);
    return rv;
}

sl_err
sl__cluster_restart_worker(const sl__cluster_opts *opts, sl__cluster_info *info,
                           int i, char errbuf[SL_ERRSTR_LEN])
{
    s_up up;
    int lock = -1;
    sl_err rv = s_restart_begin(&up, opts, info, &lock, errbuf);
    if (rv == SL_OK && (i < 0 || i >= info->n_workers)) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "no worker %d", i);
        rv = SL_EINVAL;
    }
    if (rv == SL_OK &&
        (rv = s_check_gone(info->worker_pids[i], "the worker", errbuf)) ==
            SL_OK &&
        (rv = s_start_worker(&up, i)) == SL_OK) {
        rv = s_write_env(&up);
    }
    s_unlock(&lock);
    return rv;
}
