// harness.h - integration tests: a real local cluster in a temporary home.
// SPDX-License-Identifier: MIT
//
// A test starts the cluster once, talks to it through info->scheduler, and
// stops it at the end:
//
//     sl__cluster_info info;
//     SL_PASS(sl__harness_start(2, 2, &info));
//     ... sl_client_connect(&c, info.scheduler) ...
//     sl__harness_stop();
//
// The programs come from $STARLING_BIN_DIR (ctest sets it to the build
// directory). The cluster is what `starling up` makes, CURVE keys and all;
// the harness sets $STARLING_HOME to its home, so that sl_client_connect
// finds the keys as it finds a user's local cluster. A test that ends early
// still stops the cluster: an atexit handler covers exit() (a failed
// assertion), and the launcher's watchdog (client/launch/watch.h) kills the
// cluster's processes if the test dies any other way (a signal, a ctest
// timeout).
#ifndef SL_TESTS_HARNESS_H
#define SL_TESTS_HARNESS_H

#include <czmq.h>

#include "../../client/launch/launch.h"

// Start redis, a scheduler and `workers` worker processes with `slots`
// slots each, under a new directory $TMPDIR/starling-test.XXXXXX, and
// return once every slot is connected. *info describes the cluster (a
// copy: the harness keeps its own). On error the logs' tails are printed
// to stderr, nothing is left running, and the directory is removed.
sl_err sl__harness_start(int workers, int slots, sl__cluster_info *info);
// sl__harness_start with more of `up`'s options (executor, aof,
// insecure, max_message, module_allow, ...); home, bin_dir and timeout_ms
// are the harness's.
sl_err sl__harness_start_opts(const sl__cluster_opts *opts,
                              sl__cluster_info *info);
// A DEALER connected to the scheduler's endpoint for role ("client" or
// "worker") with that role's keys from the cluster (none when it is
// insecure): a raw peer, for tests that speak the wire protocol. NULL on
// error. The caller destroys it.
zsock_t *sl__harness_dealer(const char *role);
// The same for a peer that reads slowly: a receive high-water mark of one
// message and a 4 KiB kernel receive buffer, so that what the scheduler
// sends it piles up at the scheduler.
zsock_t *sl__harness_dealer_slow(const char *role);
// Stop the cluster (sl__cluster_down) and remove its directory. Safe to
// call twice, or without a start.
void sl__harness_stop(void);
// SIGKILL worker process i (0-based, in start order) and wait until it is
// gone: for fault tests. SL_EINVAL for a bad index, SL_ETIMEDOUT if it
// outlives 5 s.
sl_err sl__harness_kill_worker(int i);
// SIGKILL the cluster's "scheduler" or "redis", wait down_ms, and start it
// again on the same endpoint (sl__cluster_restart_*): for fault tests.
sl_err sl__harness_restart(const char *what, int down_ms);
// Start worker process i again after it died (sl__harness_kill_worker).
sl_err sl__harness_restart_worker(int i);
// The info the harness holds now (pids change with restarts).
const sl__cluster_info *sl__harness_info(void);
// Start another process of the test: argv[0] names a program of
// $STARLING_BIN_DIR, its output goes to home/log_name. The watchdog kills
// it if the test dies, and sl__harness_stop stops it if the test did not.
sl_err sl__harness_spawn(char **argv, const char *log_name, pid_t *pid_out);
// Stop a process of sl__harness_spawn (SIGTERM, then SIGKILL after 5 s);
// *status_out (may be NULL) gets its exit status as waitpid reports it.
sl_err sl__harness_stop_pid(pid_t pid, int *status_out);
// Wait up to timeout_ms for a process of sl__harness_spawn to exit by
// itself. SL_ETIMEDOUT if it runs on.
sl_err sl__harness_wait_pid(pid_t pid, int timeout_ms, int *status_out);
// The cluster's home directory (its logs are there), or "" when stopped.
const char *sl__harness_home(void);

#endif
