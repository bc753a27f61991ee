// tier_agent.c - a worker's part in its node's object tier (tier_agent.h).
// SPDX-License-Identifier: MIT
//
// The thread has its own store connection and tier handle (neither is
// shared between threads). It waits on the node's want list a quarter
// second at a time, so that it notices the stop soon, and sweeps the tier
// every S_SWEEP_MS. Every worker of a node runs one: any of them serves a
// want, and sweeps are cheap and safe to repeat.
#include "tier_agent.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_WANT_WAIT_MS 250
#define S_SWEEP_MS 10000
#define S_REPORT_MS 2000 // the tier's usage, for `starling status`

struct sl__tier_agent {
    sl__store *store; // the thread's
    sl__tier *tier;   // the thread's
    sl__node node;
    char node_name[65]; // as the tier names it
    pthread_t thread;
    bool started; // thread runs
    atomic_bool stop;
};

static void *
s_main(void *arg)
{
    sl__tier_agent *a = arg;
    int64_t next_sweep = sl__mono_ms() + S_SWEEP_MS, next_report = 0;
    bool warned = false;
    while (!atomic_load(&a->stop)) {
        bool served = false;
        if (sl__node_serve_want(&a->node, S_WANT_WAIT_MS, &served) != SL_OK) {
            if (!warned) {
                sl__log_warn("object tier: %s", a->node.errstr);
                warned = true; // once until it works again
            }
            struct timespec ts = {0, 250 * 1000000L};
            nanosleep(&ts, NULL);
        } else {
            warned = false;
        }
        int64_t now = sl__mono_ms();
        if (now >= next_report) {
            sl__node_report_tier(&a->node); // errors: as the wants'
            next_report = now + S_REPORT_MS;
        }
        if (now >= next_sweep) {
            size_t removed = sl__tier_sweep(a->tier);
            if (removed > 0) {
                sl__log_info("object tier: swept %zu expired or abandoned "
                             "objects",
                             removed);
            }
            next_sweep = now + S_SWEEP_MS;
        }
    }
    return NULL;
}

sl_err
sl__tier_agent_start(sl__tier_agent **out, const sl__store_opts *store,
                     const char *node, uint64_t budget,
                     char errbuf[SL_ERRSTR_LEN])
{
    sl__tier_agent *a = sl__xcalloc(1, sizeof(*a));
    *out = NULL;
    sl_err rv = sl__store_connect(&a->store, store, errbuf);
    if (rv == SL_OK &&
        (rv = sl__node_init(&a->node, a->store, NULL)) != SL_OK) {
        sl__strlcpy(errbuf, a->node.errstr, SL_ERRSTR_LEN);
    }
    if (rv == SL_OK) {
        sl__tier_opts o = {.cluster = a->node.cluster,
                           .node = node,
                           .budget = budget,
                           .create = true};
        rv = sl__tier_open(&a->tier, &o, errbuf);
    }
    if (rv != SL_OK) {
        sl__tier_agent_stop(&a);
        return rv;
    }
    a->node.tier = a->tier;
    sl__strlcpy(a->node_name, sl__tier_node(a->tier), sizeof(a->node_name));
    sl__tier_sweep(a->tier); // what dead processes left
    if (pthread_create(&a->thread, NULL, s_main, a) != 0) {
        sl__tier_agent_stop(&a);
        return sl__errf(errbuf, SL_ENOMEM, "object tier: no thread");
    }
    a->started = true;
    *out = a;
    return SL_OK;
}

const char *
sl__tier_agent_cluster(const sl__tier_agent *a)
{
    return a->node.cluster;
}

const char *
sl__tier_agent_node(const sl__tier_agent *a)
{
    return a->node_name;
}

const char *
sl__tier_agent_path(const sl__tier_agent *a)
{
    return sl__tier_path(a->tier);
}

void
sl__tier_agent_usage(const sl__tier_agent *a, sl__tier_usage *out)
{
    sl__tier_usage_get(a->tier, out); // atomic reads of the shared page
}

void
sl__tier_agent_stop(sl__tier_agent **a_p)
{
    sl__tier_agent *a = *a_p;
    if (a == NULL) {
        return;
    }
    if (a->started) {
        atomic_store(&a->stop, true);
        pthread_join(a->thread, NULL);
    }
    sl__tier_close(&a->tier);
    sl__store_destroy(&a->store);
    free(a);
    *a_p = NULL;
}
