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
// directory). A test that ends early still stops the cluster: an atexit
// handler covers exit() (a failed assertion), and a watchdog process kills
// the cluster's processes if the test dies any other way (a signal, a
// ctest timeout).
#ifndef SL_TESTS_HARNESS_H
#define SL_TESTS_HARNESS_H

#include "../../client/cluster.h"

// Start redis, a scheduler and `workers` worker processes with `slots`
// slots each, under a new directory $TMPDIR/starling-test-XXXXXX, and
// return once every slot is connected. *info describes the cluster (a
// copy: the harness keeps its own). On error the logs' tails are printed
// to stderr, nothing is left running, and the directory is removed.
sl_err sl__harness_start(int workers, int slots, sl__cluster_info *info);
// The same with more of the cluster's options (workers, slots, executor,
// aof); the harness sets home, bin_dir and timeout_ms itself.
sl_err sl__harness_start_opts(const sl__cluster_opts *opts,
                              sl__cluster_info *info);
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
// The cluster's home directory (its logs are there), or "" when stopped.
const char *sl__harness_home(void);

#endif
