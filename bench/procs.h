// procs.h - every process and directory a benchmark run makes, stopped and
// removed by PID and path: at the end, on exit, on SIGINT/SIGTERM/SIGHUP,
// and (through a watchdog process) when the runner itself is killed.
// SPDX-License-Identifier: MIT
//
//     sl__bench_guard_install();            // first thing in main
//     sl__bench_dir_new(dir, sizeof(dir), "starling-bench");
//     sl__bench_spawn(&pid, argv, log, errbuf);
//     ...
//     sl__bench_stop(&pid, 5000);
//     sl__bench_dir_remove(dir);
//
// Nothing is ever signalled by name: other work shares the machine.
#ifndef SL_BENCH_PROCS_H
#define SL_BENCH_PROCS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/proc.h"

// Start the watchdog process, block SIGINT, SIGTERM and SIGHUP in this
// thread (so in every thread started later) and start the guard thread
// that waits for them: it stops every registered process, removes every
// registered directory and exits with 128 + the signal. The same clean-up
// runs at exit(). Call it first in main, while the process has one thread.
sl_err sl__bench_guard_install(void);

// sl__proc_spawn, detached (a Ctrl-C reaches the runner alone, which then
// stops everything in order), with the child registered before the guard
// can act.
sl_err sl__bench_spawn(pid_t *pid_out, char *const argv[], const char *log_path,
                       char errbuf[SL_ERRSTR_LEN]);
// sl__redis_start, with the server registered likewise.
sl_err sl__bench_redis_start(const sl__redis_opts *opts, pid_t *pid_out,
                             char errbuf[SL_ERRSTR_LEN]);
// Send sig to a registered process without waiting: to stop many at once,
// then sl__bench_stop each. Does nothing for an unknown PID.
void sl__bench_signal(pid_t pid, int sig);
// Wait until the registered child *pid_p exits by itself, forget it, set
// *pid_p to 0, and give its wait status in *status_out (may be NULL).
// Polls every 2 ms, so that the guard can still act meanwhile.
sl_err sl__bench_wait(pid_t *pid_p, int *status_out);
// Stop *pid_p (SIGTERM, SIGKILL after timeout_ms), forget it and set
// *pid_p to 0. Accepts a 0 PID.
void sl__bench_stop(pid_t *pid_p, int timeout_ms);

// Make a new directory $TMPDIR/prefix.XXXXXX (default /tmp), mode 0700, into
// buf of len bytes, registered for removal.
sl_err sl__bench_dir_new(char *buf, size_t len, const char *prefix);
// rm -rf dir, and forget it. Accepts "".
void sl__bench_dir_remove(const char *dir);

#endif
