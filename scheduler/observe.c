// observe.c - the loop's side of the HTTP endpoints: a snapshot of its
// figures, published every SL_OBSERVE_PUBLISH_MS from its timers.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - This file reads the loop's live state (sched_impl.h) on the loop's
//   thread, copies what the endpoints show into a new snapshot and hands
//   it to the server. That costs the loop a pass over the peers (workers
//   and clients) every SL_OBSERVE_PUBLISH_MS, and an allocation: nothing
//   per task, and nothing at all without a server.
// - A publication that finds the board's lock held (a reader is taking a
//   reference that very moment) is retried S_RETRY_MS later instead of
//   waiting (snapshot.c).
#include "observe.h"

#include <stdlib.h>

#include "http.h"
#include "sched_impl.h"

#define S_RETRY_MS 5

// Every ready worker, and the STATUS_REPLY's figures (sl__on_status's).
static sl__snapshot *
s_snapshot(sl__sched *self, int64_t now)
{
    sl__snapshot *snap = sl__snapshot_new(self->n_workers);
    uint32_t n = 0;
    for (size_t i = 0; i < self->peers.cap && n < self->n_workers; i++) {
        sl__peer *p = self->peers.keys[i] ? self->peers.vals[i] : NULL;
        if (p == NULL || !p->is_worker || !p->ready) {
            continue;
        }
        sl__snapshot_worker *w = &snap->workers[n++];
        sl__strlcpy(w->name, p->name, sizeof(w->name));
        w->pid = p->pid;
        w->slots = p->slots;
        w->busy = p->n_leases < p->slots ? p->n_leases : p->slots;
        w->leases = p->n_leases;
        w->heard_ms = p->last_recv_ms;
    }
    snap->n_workers = n;
    snap->taken_ms = now;
    snap->taken_s = sl__wall();
    sl__status_fill(self, &snap->status);
    snap->stats = self->observe.stats;
    return snap;
}

sl_err
sl__observe_start(sl__sched *self, char errbuf[SL_ERRSTR_LEN])
{
    if (self->opts.http == NULL) {
        return SL_OK;
    }
    int64_t now = sl__mono_ms();
    sl__snapshot *first = s_snapshot(self, now);
    sl__http_opts o = {self->opts.http, self->opts.http_token_file};
    sl_err rv = sl__http_new(&self->observe.http, &o, &first, errbuf);
    if (rv != SL_OK) {
        return rv;
    }
    self->observe.publish_ms = now + SL_OBSERVE_PUBLISH_MS;
    sl__log_info("http on http://%s/ (/metrics, /api/status, /api/workers)%s",
                 sl__http_address(self->observe.http),
                 sl__http_has_token(self->observe.http) ? ", with a token"
                                                        : "");
    return SL_OK;
}

const char *
sl__observe_address(const sl__sched *self)
{
    return self->observe.http != NULL ? sl__http_address(self->observe.http)
                                      : NULL;
}

void
sl__observe_tick(sl__sched *self, int64_t now)
{
    sl__observe *o = &self->observe;
    if (o->http == NULL || now < o->publish_ms) {
        return;
    }
    sl__snapshot *snap = s_snapshot(self, now);
    if (sl__http_publish(o->http, &snap)) {
        o->publish_ms = now + SL_OBSERVE_PUBLISH_MS;
    } else {
        sl__snapshot_destroy(&snap);
        o->publish_ms = now + S_RETRY_MS;
    }
}

int64_t
sl__observe_due_ms(const sl__sched *self)
{
    return self->observe.http != NULL ? self->observe.publish_ms : INT64_MAX;
}

void
sl__observe_fini(sl__sched *self)
{
    sl__http_destroy(&self->observe.http);
}
