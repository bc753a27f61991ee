// watch.h - the watchdog: every process and directory a test or a
// benchmark makes, stopped and removed by PID and path even when the
// program that made them dies.
// SPDX-License-Identifier: MIT
//
//     sl__watch_start();                    // first thing, while one thread
//     sl__watch_dir_new(dir, sizeof(dir), "starling-test");
//     sl__watch_spawn(&pid, argv, log, true, errbuf);
//     ...
//     sl__watch_stop(&pid, 5000);
//     sl__watch_dir_remove(dir);
//     sl__watch_done();                     // all is stopped
//
// Once the watchdog runs, the launcher (launch.h) registers every process
// it starts here, so a cluster started by a test or a benchmark is covered
// from its first process on. Without a watchdog (`starling up`, whose
// daemons outlive it) the functions below start and stop processes and
// remember nothing. Nothing is ever signalled by name: other work shares
// the machine.
#ifndef SL_LAUNCH_WATCH_H
#define SL_LAUNCH_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "../../common/proc.h"

// Fork the watchdog process (if it does not run already). From now on
// every process and directory made through this file is told to it; if
// this program dies without sl__watch_done (a signal, a crash, an
// AddressSanitizer report that exits at once), the watchdog SIGKILLs each
// process that still runs the program it was and removes the directories.
// Call it while the process has one thread.
sl_err sl__watch_start(void);
// Whether the watchdog runs.
bool sl__watch_active(void);
// sl__watch_start, then block SIGINT, SIGTERM and SIGHUP in this thread
// (so in every thread started later) and start a guard thread that waits
// for them: it stops every registered process, removes every registered
// directory and exits with 128 + the signal. The same clean-up runs at
// exit(). For a benchmark run; call it first in main.
sl_err sl__watch_guard_install(void);
// Tell the watchdog that everything it was told of is stopped and
// removed, and let it exit; what is still registered is forgotten. The
// next sl__watch_start forks a new one.
void sl__watch_done(void);

// sl__proc_spawn, the child registered before the guard can act.
// detach: a session of its own, so that a terminal's Ctrl-C reaches the
// program that started it alone (which then stops everything in order).
sl_err sl__watch_spawn(pid_t *pid_out, char *const argv[], const char *log_path,
                       bool detach, char errbuf[SL_ERRSTR_LEN]);
// sl__redis_start, with the server registered likewise.
sl_err sl__watch_redis_start(const sl__redis_opts *opts, pid_t *pid_out,
                             char errbuf[SL_ERRSTR_LEN]);
// Send sig to a registered process without waiting: to stop many at once,
// then sl__watch_stop each. Does nothing for a PID it does not know.
void sl__watch_signal(pid_t pid, int sig);
// Wait up to timeout_ms (< 0: for ever) until the child *pid_p exits by
// itself; then forget it, set *pid_p to 0 and give its wait status in
// *status_out (may be NULL). SL_ETIMEDOUT if it runs on. Polls every 2 ms,
// so that the guard can still act meanwhile.
sl_err sl__watch_wait(pid_t *pid_p, int timeout_ms, int *status_out);
// Stop *pid_p (sl__proc_stop: SIGTERM, SIGKILL after timeout_ms), forget
// it and set *pid_p to 0. Accepts a 0 PID. SL_OK when it is gone.
sl_err sl__watch_stop(pid_t *pid_p, int timeout_ms);
// Forget pid, which the caller has seen end (or killed itself).
void sl__watch_forget(pid_t pid);

// Make a new directory $TMPDIR/prefix.XXXXXX (default /tmp), mode 0700,
// into buf of len bytes, registered for removal.
sl_err sl__watch_dir_new(char *buf, size_t len, const char *prefix);
// The same under parent.
sl_err sl__watch_dir_new_in(char *buf, size_t len, const char *parent,
                            const char *prefix);
// rm -rf dir, and forget it. Accepts "".
void sl__watch_dir_remove(const char *dir);

#endif
