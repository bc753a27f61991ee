// daemons.h - the processes of a local cluster, one at a time:
// redis-server, the scheduler, a worker; started with their arguments,
// waited for, stopped. Private to client/launch/.
// SPDX-License-Identifier: MIT
#ifndef SL_LAUNCH_DAEMONS_H
#define SL_LAUNCH_DAEMONS_H

#include "launch.h"

#define SL_LAUNCH_PATH_LEN 1024
// Leaves room for "/worker-1023.log" and friends below SL_LAUNCH_PATH_LEN.
#define SL_LAUNCH_HOME_MAX 400

// One run of the launcher (an up, a restart): what it was asked, and what
// it has started so far.
typedef struct {
    const sl__cluster_opts *opts; // as given
    sl__cluster_info *info;       // filled as processes start
    int workers;                  // worker processes to start
    int slots;                    // slots per worker
    int64_t deadline_ms;          // sl__mono_ms() by which all is up
    char *errbuf;                 // SL_ERRSTR_LEN bytes: why it failed
} sl__launch;

// buf (SL_LAUNCH_PATH_LEN bytes) = home/name.
void sl__launch_path(char *buf, const char *home, const char *name);
// l->errbuf = "what (log_name: the last lines of its log)", cut to fit.
// Returns rv.
sl_err sl__launch_fail_with_log(sl__launch *l, sl_err rv, const char *what,
                                const char *log_name);

// Start redis-server under home/redis on a free port with a new password
// (written to home/redis.pass); info->redis and redis_pid say where.
sl_err sl__daemon_redis_start(sl__launch *l);
// Start it on port with password, over the files it had (its AOF).
sl_err sl__daemon_redis_run(sl__launch *l, int port, const char *password);

// Start the scheduler on two free ports and wait until it has bound them;
// info->scheduler, workers_endpoint and scheduler_pid say where.
sl_err sl__daemon_scheduler_start(sl__launch *l);
// Start it on the given endpoints, and its HTTP server on http
// ("ADDR:PORT"; NULL: the scheduler's default, loopback and a free port),
// and wait likewise; info->dashboard then says where HTTP is served.
sl_err sl__daemon_scheduler_run(sl__launch *l, const char *clients,
                                const char *workers, const char *http);

// Start worker i (with l->slots slots) and record its PID in info.
sl_err sl__daemon_worker_start(sl__launch *l, int i);
// Start workers 0 .. l->workers - 1 (info->n_workers counts them).
sl_err sl__daemon_workers_start(sl__launch *l);
// Wait until the scheduler counts l->workers workers and all their slots
// (exactly none when l->workers is 0), while every recorded process runs.
sl_err sl__daemon_slots_wait(sl__launch *l);

// The TCP port at the end of "tcp://host:port" or "host:port"; -1 when
// there is none (an ipc:// endpoint, a "*").
int sl__daemon_port_of(const char *addr);
// The "ADDR:PORT" of a dashboard URL "http://ADDR:PORT/" (info->dashboard)
// into buf of len bytes; false when it is no such URL.
bool sl__daemon_http_of(const char *dashboard, char *buf, size_t len);
// Whether port can be bound on 127.0.0.1 as the scheduler and Redis bind
// it (SO_REUSEADDR: connections of a program that died do not count);
// false when another program listens there.
bool sl__daemon_port_free(int port);

// Whether pid is alive and still runs program name; warns when it is
// alive but now something else.
bool sl__daemon_still_ours(pid_t pid, const char *name);
// Stop what info records: workers (all asked at once, then each waited
// for), then the scheduler, then Redis, each checked to still run its
// program. Returns how many could not be stopped.
int sl__daemon_stop_recorded(const sl__cluster_info *info);
// Stop the workers info records likewise. Returns how many could not be
// stopped.
int sl__daemon_stop_workers(const sl__cluster_info *info);
// Stop what a failed run started: our own children, so no name checks.
void sl__daemon_stop_started(sl__cluster_info *info);

#endif
