// observe.h - how the scheduler's loop is seen from outside: the counters
// it keeps for /metrics, the snapshots it publishes, the HTTP server that
// serves them.
// SPDX-License-Identifier: MIT
//
// The loop's side of it. The loop adds to the counters as tasks end
// (sl__stats_task_end, from job.c), and once every SL_OBSERVE_PUBLISH_MS
// its timers publish a snapshot (sl__observe_tick). The HTTP thread
// (http.c) reads only snapshots: nothing it does touches the loop's
// structures, and nothing it does can make the loop wait.
#ifndef SL_SCHEDULER_OBSERVE_H
#define SL_SCHEDULER_OBSERVE_H

#include <stdint.h>

#include "sched.h"
#include "stats.h"

typedef struct sl__http sl__http;

// How often the loop publishes what the endpoints show: a dashboard that
// updates every second sees figures at most this old.
#define SL_OBSERVE_PUBLISH_MS 200

typedef struct {
    sl__stats stats;    // counters since start (loop thread only)
    sl__http *http;     // the server; NULL: none (--http off, or a test)
    int64_t publish_ms; // next snapshot due (sl__mono_ms)
} sl__observe;

// Start the HTTP server that opts->http names (none when it is NULL),
// after publishing a first snapshot, so that it never serves nothing. On
// error errbuf says what was wrong (the address, the token file, the
// bind).
sl_err sl__observe_start(sl__sched *self, char errbuf[SL_ERRSTR_LEN]);
// The address the server listens on, "ADDR:PORT" with the port the
// system chose; NULL without a server. Borrowed from the server.
const char *sl__observe_address(const sl__sched *self);
// Publish a snapshot if one is due at now. Called every loop turn.
void sl__observe_tick(sl__sched *self, int64_t now);
// The time the next snapshot is due, for the loop's poll timeout;
// INT64_MAX without a server.
int64_t sl__observe_due_ms(const sl__sched *self);
// Stop the server (its thread is joined) and drop the last snapshot.
void sl__observe_fini(sl__sched *self);

#endif
