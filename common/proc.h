// proc.h - start and stop the processes of a local cluster, by PID.
// SPDX-License-Identifier: MIT
//
// Used by `starling up/down` and by the integration tests. Every process is
// stopped by the PID that started it, never by name: other work may share
// the machine.
#ifndef SL_COMMON_PROC_H
#define SL_COMMON_PROC_H

#include <stdbool.h>
#include <sys/types.h>

#include "util.h"

// Start argv[0] (looked up in PATH when it has no '/') with argv (NULL
// terminated). Its stdout and stderr are appended to log_path (NULL: keep
// ours). With detach, it gets its own session (setsid), so that a terminal's
// Ctrl-C does not reach a daemon that `starling up` left running. The child
// closes every other file descriptor. On error errbuf says why (e.g. the
// program was not found: the child's exec failure is reported here, not
// only in the log).
sl_err sl__proc_spawn(pid_t *pid_out, char *const argv[], const char *log_path,
                      bool detach, char errbuf[SL_ERRSTR_LEN]);
// Whether pid is a live process (a zombie child of ours is reaped and
// counts as dead).
bool sl__proc_alive(pid_t pid);
// SIGTERM pid, wait up to timeout_ms for it to exit, then SIGKILL it.
// Reaps it if it is our child. SL_OK also when it was already gone.
sl_err sl__proc_stop(pid_t pid, int timeout_ms);
// Whether /proc/<pid>/cmdline's program name ends with name: a guard
// against stopping a recycled PID.
bool sl__proc_is(pid_t pid, const char *name);

// A TCP port on 127.0.0.1 that was free a moment ago, or -1.
int sl__free_port(void);
// Wait until host:port accepts a TCP connection. SL_ETIMEDOUT after
// timeout_ms.
sl_err sl__wait_port(const char *host, int port, int timeout_ms);

// Fill buf with 2*nbytes random hex digits and a NUL (buf holds
// 2*nbytes+1).
void sl__random_hex(char *buf, size_t nbytes);

// A private redis-server: bound to 127.0.0.1 only, with a password, its
// files (config, log, AOF) in dir.
typedef struct {
    const char *dir;          // working directory, created 0700 if missing
    int port;                 // TCP port on 127.0.0.1
    const char *password;     // requirepass; must not be empty
    bool aof;                 // appendonly yes, appendfsync everysec
    const char *redis_server; // program; NULL: "redis-server" from PATH
} sl__redis_opts;

// Write dir/redis.conf, start redis-server with it (detached, log in
// dir/redis.log), and wait until it answers an authenticated PING (up to
// 10 s). On error the process (if it started) is stopped and errbuf says
// why.
sl_err sl__redis_start(const sl__redis_opts *opts, pid_t *pid_out,
                       char errbuf[SL_ERRSTR_LEN]);

#endif
