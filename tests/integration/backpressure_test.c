// backpressure_test.c - a client that stops reading loses nothing: while
// it does not read, its results wait in the scheduler, and when it reads
// again every one of them arrives, in order, whole. And a client that asks
// for no ACCEPTED gets none.
// SPDX-License-Identifier: MIT
//
// The scheduler runs with --send-hwm 4, so that libzmq's queue for the
// client fills after four messages; the client is a raw DEALER with a
// receive high-water mark of one message and a 4 KiB kernel buffer. A map
// of sys.echo tasks with 3 KiB arguments then sends it about 12 MiB of
// outcomes, far past what the kernel's buffers and libzmq's queues hold.
#define _GNU_SOURCE
#include <starling/starling.h>

#include <unistd.h>

#include "../../serialize/msg.h"
#include "harness.h"
#include "testutil.h"

#define S_TASKS 4000
#define S_ARG_BYTES 3000

static sl__cluster_info s_info;

static void
s_send(zsock_t *sock, sl__mpw *w)
{
    SL_ASSERT(zmq_send(zsock_resolve(sock), w->buf.data, w->buf.size, 0) ==
              (int) w->buf.size);
    sl__mpw_reset(w);
}

// The next message within timeout_ms, or NULL.
static zframe_t *
s_recv(zsock_t *sock, int timeout_ms)
{
    zpoller_t *poller = zpoller_new(sock, NULL);
    zframe_t *f =
        zpoller_wait(poller, timeout_ms) != NULL ? zframe_recv(sock) : NULL;
    zpoller_destroy(&poller);
    return f;
}

static uint32_t
s_type(zframe_t *f, sl__mpr *r)
{
    uint32_t type, nfields;
    char why[SL_ERRSTR_LEN];
    sl__mpr_init(r, zframe_data(f), zframe_size(f));
    SL_PASS(sl__msg_open(r, &type, &nfields, why));
    return type;
}

// Say HELLO on sock and wait for the WELCOME.
static void
s_hello(zsock_t *sock, sl__mpw *w, const char *name)
{
    sl__mpr r;
    sl__msg_hello(w, name, (uint32_t) getpid());
    s_send(sock, w);
    zframe_t *f = s_recv(sock, 5000);
    SL_ASSERT(f != NULL && s_type(f, &r) == SL_MSG_WELCOME);
    zframe_destroy(&f);
}

// The argument of task i: S_ARG_BYTES bytes that say which task it is.
static void
s_arg(uint8_t *buf, uint32_t i)
{
    for (size_t k = 0; k < S_ARG_BYTES; k++) {
        buf[k] = (uint8_t) (i * 31 + k);
    }
}

// Wait until the scheduler has ended at least n tasks since it started.
static void
s_wait_done(uint64_t n)
{
    sl_client *c = NULL;
    sl_cluster_status st = {0};
    SL_PASS(sl_client_connect(&c, s_info.scheduler));
    for (int i = 0; i < 600 && st.done < n; i++) {
        SL_PASS(sl_cluster_status_get(c, &st));
        if (st.done < n) {
            usleep(100 * 1000);
        }
    }
    SL_ASSERT_EQ(st.done, n);
    sl_client_destroy(&c);
}

// One DONE: check and count each outcome into seen.
static uint32_t
s_check_done(sl__mpr *r, uint64_t job, uint8_t *seen)
{
    uint64_t got_job;
    uint32_t n;
    char why[SL_ERRSTR_LEN];
    uint8_t want[S_ARG_BYTES];
    SL_PASS(sl__msg_done_decode(r, &sl__limits_default, &got_job, &n, why));
    SL_ASSERT(got_job == job);
    for (uint32_t k = 0; k < n; k++) {
        sl__outcome o;
        sl__mpr vr;
        sl_value *v = NULL;
        size_t len;
        SL_PASS(sl__msg_outcome_decode(r, &sl__limits_default, false, &o, why));
        SL_ASSERT(o.index < S_TASKS && !seen[o.index]);
        SL_ASSERT_EQ(o.status, SL_WIRE_OK);
        seen[o.index] = 1;
        sl__mpr_init(&vr, o.value, o.value_len);
        SL_PASS(sl__value_decode(&vr, &sl__limits_default, NULL, &v, why));
        const void *bytes = sl_value_bytes(v, &len);
        s_arg(want, o.index);
        SL_ASSERT(len == S_ARG_BYTES && memcmp(bytes, want, len) == 0);
        sl_value_destroy(&v);
    }
    return n;
}

static void
test_slow_client_loses_nothing(void)
{
    sl__mpw w;
    sl__mpr r;
    uint8_t arg[S_ARG_BYTES];
    static uint8_t seen[S_TASKS];
    const uint64_t job = 0x5107c1e47;
    zsock_t *sock = sl__harness_dealer_slow("client");
    SL_ASSERT(sock != NULL);
    sl__mpw_init(&w);
    s_hello(sock, &w, "slow");

    sl__job_opts opts = {0, 3, 0, 0};
    sl__msg_submit_begin(&w, job, "sys.echo", S_TASKS, 0, &opts, S_TASKS);
    for (uint32_t i = 0; i < S_TASKS; i++) {
        s_arg(arg, i);
        msgpack_pack_bin(&w.pk, S_ARG_BYTES);
        msgpack_pack_bin_body(&w.pk, arg, S_ARG_BYTES);
    }
    s_send(sock, &w);
    sl__mpw_fini(&w);

    // Every task ends while the client reads nothing.
    s_wait_done(S_TASKS);
    sleep(1); // and the scheduler has tried to send it all

    uint32_t outcomes = 0, accepted = 0;
    zframe_t *f;
    while (outcomes < S_TASKS && (f = s_recv(sock, 10000)) != NULL) {
        uint32_t type = s_type(f, &r);
        if (type == SL_MSG_ACCEPTED) {
            SL_ASSERT(outcomes == 0); // the order is kept
            accepted++;
        } else {
            SL_ASSERT_EQ(type, SL_MSG_DONE);
            outcomes += s_check_done(&r, job, seen);
        }
        zframe_destroy(&f);
    }
    SL_ASSERT_EQ(accepted, 1);
    SL_ASSERT_EQ(outcomes, S_TASKS);
    zsock_destroy(&sock);

    // The scheduler says that it held messages, and never that one was lost.
    char path[1024], cmd[1200];
    snprintf(path, sizeof(path), "%s/scheduler.log", s_info.home);
    snprintf(cmd, sizeof(cmd), "grep -q 'lost so far' %s", path);
    SL_ASSERT(system(cmd) != 0);
}

// A client that asks for no ACCEPTED (as libstarling does) gets none: the
// DONE is the first thing it hears about its job.
static void
test_no_accepted(void)
{
    sl__mpw w;
    sl__mpr r;
    zsock_t *sock = sl__harness_dealer("client");
    SL_ASSERT(sock != NULL);
    sl__mpw_init(&w);
    s_hello(sock, &w, "quiet");
    sl__job_opts opts = {0, 3, 0, SL_SUBMIT_NO_ACCEPTED};
    sl__msg_submit_begin(&w, 0x9e7, "sys.noop", 1, 0, &opts, 1);
    msgpack_pack_nil(&w.pk);
    s_send(sock, &w);
    zframe_t *f = s_recv(sock, 10000);
    SL_ASSERT(f != NULL);
    SL_ASSERT_EQ(s_type(f, &r), SL_MSG_DONE);
    zframe_destroy(&f);
    sl__mpw_fini(&w);
    zsock_destroy(&sock);
}

int
main(void)
{
    sl__cluster_opts opts = {.workers = 1, .slots = 2, .send_hwm = 4};
    SL_PASS(sl__harness_start_opts(&opts, &s_info));
    SL_RUN(test_slow_client_loses_nothing);
    SL_RUN(test_no_accepted);
    sl__harness_stop();
    return 0;
}
