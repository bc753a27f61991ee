// record.h - a local cluster's home: its lock, its record (cluster.env),
// its keys, the options its parts were started with. Private to
// client/launch/.
// SPDX-License-Identifier: MIT
#ifndef SL_LAUNCH_RECORD_H
#define SL_LAUNCH_RECORD_H

#include "launch.h"

// Take the exclusive lock on home/lock; *fd_out holds it until
// sl__record_unlock.
sl_err sl__record_lock(const char *home, int *fd_out,
                       char errbuf[SL_ERRSTR_LEN]);
// Release it (closing the file releases the flock). Accepts -1.
void sl__record_unlock(int *fd_p);
// Make home (which exists) absolute, in place, so that the daemons' paths
// and the record do not depend on the working directory.
sl_err sl__record_home_resolve(char *home, size_t len,
                               char errbuf[SL_ERRSTR_LEN]);

// Write info as home/cluster.env (info->home), atomically: readers see the
// old file or the new one.
sl_err sl__record_write(const sl__cluster_info *info,
                        char errbuf[SL_ERRSTR_LEN]);
// Remove the record and the files that go with it (the endpoints file, the
// Redis password).
void sl__record_remove(const char *home);
// The password `up` gave Redis, from home/redis.pass, into buf.
sl_err sl__record_password(const char *home, char *buf, size_t len,
                           char errbuf[SL_ERRSTR_LEN]);

// Unless insecure, make the keys under info->home (sl__cluster_keys) and
// name the clients' in info.
sl_err sl__record_keys(sl__cluster_info *info, bool insecure,
                       char errbuf[SL_ERRSTR_LEN]);

// What of o the record keeps, into st: the workers' options always,
// Redis's and the scheduler's too when all is true (a new cluster).
void sl__record_settings(const sl__cluster_opts *o, sl__cluster_settings *st,
                         bool all);
// The options the recorded cluster was started with, into *o (which
// borrows info's strings): given says only where the programs are, and
// how long to wait.
void sl__record_opts(const sl__cluster_info *info,
                     const sl__cluster_opts *given, sl__cluster_opts *o);

#endif
