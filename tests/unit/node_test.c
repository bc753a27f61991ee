// node_test.c - objects where they live (store/node.c): two nodes' tiers
// in a private directory, over one real redis-server.
// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/proc.h"
#include "serialize/value.h"
#include "store/node.h"
#include "testutil.h"

static struct {
    char dir[64]; // the server's directory, then the tiers' base
    char base[96];
    int port;
    char password[33];
    char addr[32];
    pid_t pid;
} s_r;

static int
s_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    return remove(path);
}

static void
s_cleanup(void)
{
    if (s_r.pid > 0) {
        sl__proc_stop(s_r.pid, 5000);
        s_r.pid = 0;
    }
    if (s_r.dir[0] != '\0') {
        nftw(s_r.dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
        s_r.dir[0] = '\0';
    }
}

static void
s_on_signal(int sig)
{
    if (s_r.pid > 0) {
        kill(s_r.pid, SIGKILL);
    }
    _exit(128 + sig);
}

static sl__store *
s_store(void)
{
    const char *addr = s_r.addr;
    sl__store_opts o = {
        .addrs = {addr}, .n_addrs = 1, .password = s_r.password};
    char errbuf[SL_ERRSTR_LEN];
    sl__store *st = NULL;
    if (sl__store_connect(&st, &o, errbuf) != SL_OK) {
        SL_FAIL_AT("store: %s", errbuf);
    }
    return st;
}

static sl__tier *
s_tier(const char *cluster, const char *node)
{
    sl__tier_opts o = {
        .base = s_r.base, .cluster = cluster, .node = node, .create = true};
    char errbuf[SL_ERRSTR_LEN];
    sl__tier *t = NULL;
    if (sl__tier_open(&t, &o, errbuf) != SL_OK) {
        SL_FAIL_AT("tier: %s", errbuf);
    }
    return t;
}

// A node over a store and a tier of its own.
typedef struct {
    sl__store *store;
    sl__tier *tier;
    sl__node node;
} s_side;

static void
s_side_open(s_side *s, const char *node_name)
{
    s->store = s_store();
    char cluster[33];
    sl__node_cluster_id(s->store, cluster);
    s->tier = node_name != NULL ? s_tier(cluster, node_name) : NULL;
    SL_PASS(sl__node_init(&s->node, s->store, s->tier));
    s->node.want_wait_ms = 5000;
}

static void
s_side_close(s_side *s)
{
    sl__tier_close(&s->tier);
    sl__store_destroy(&s->store);
}

static sl_value *
s_array(size_t n, double seed)
{
    int64_t shape[1] = {(int64_t) n};
    sl_value *v = sl_value_new_ndarray(SL_F64, 1, shape, NULL);
    double *d = sl_ndarray_data(v);
    for (size_t i = 0; i < n; i++) {
        d[i] = seed + (double) i;
    }
    return v;
}

static void
s_check_array(const sl_value *v, size_t n, double seed)
{
    SL_ASSERT_EQ(sl_value_type(v), SL_NDARRAY);
    SL_ASSERT_EQ(sl_ndarray_size(v), n);
    const double *d = sl_ndarray_cdata(v);
    for (size_t i = 0; i < n; i += 997) {
        SL_ASSERT_EQ(d[i], seed + (double) i);
    }
    SL_ASSERT_EQ(d[n - 1], seed + (double) (n - 1));
}

// Whether the store holds a location (not bytes) under key.
static bool
s_located(sl__store *st, const char *key, char node[65])
{
    sl__blob *blob = NULL;
    size_t off, len;
    sl__location loc;
    sl_value *ref = sl__value_new_ref(key, 0, 0);
    SL_PASS(sl__store_get_located(st, ref, NULL, &blob, &off, &len, &loc));
    bool located = blob == NULL;
    if (located && node != NULL) {
        sl__strlcpy(node, loc.node, 65);
    }
    sl__blob_release(&blob);
    sl_value_destroy(&ref);
    return located;
}

static sl_value *
s_get(s_side *s, const sl_value *ref, bool *copied)
{
    sl__blob *blob = NULL;
    size_t off, len;
    sl_value *v = NULL;
    sl_err rv =
        sl__node_get_blob(&s->node, ref, NULL, &blob, &off, &len, copied);
    if (rv != SL_OK) {
        SL_FAIL_AT("get %s: %s: %s", sl_ref_key(ref), sl_strerror(rv),
                   s->node.errstr);
    }
    SL_PASS(sl__store_decode_blob(s->store, ref, NULL, blob, off, len, &v));
    sl__blob_release(&blob);
    return v;
}

static void
test_cluster_id(void)
{
    sl__store *a = s_store(), *b = s_store();
    char x[33], y[33];
    sl__node_cluster_id(a, x);
    sl__node_cluster_id(b, y);
    SL_ASSERT_STR(x, y);
    SL_ASSERT_EQ(strlen(x), 16);
    sl__store_destroy(&a);
    sl__store_destroy(&b);
}

// A large value stays in the tier, a location in the store; a small one,
// or one flagged for the store, goes to the store.
static void
test_where_puts_go(void)
{
    s_side a;
    s_side_open(&a, "a");
    sl_value *big = s_array(100000, 1), *small = s_array(100, 2);
    sl_value *ref = NULL;
    char node[65];
    SL_PASS(sl__node_put_value(&a.node, "sl:t:big", big, 0, &ref));
    SL_ASSERT(sl__tier_has(a.tier, "sl:t:big", NULL));
    SL_ASSERT(s_located(a.store, "sl:t:big", node));
    SL_ASSERT_STR(node, "a");
    bool copied = true;
    sl_value *got = s_get(&a, ref, &copied);
    SL_ASSERT(!copied);
    s_check_array(got, 100000, 1);
    sl_value_destroy(&got);
    sl_value_destroy(&ref);

    SL_PASS(sl__node_put_value(&a.node, "sl:t:small", small, 0, &ref));
    SL_ASSERT(!sl__tier_has(a.tier, "sl:t:small", NULL));
    SL_ASSERT(!s_located(a.store, "sl:t:small", NULL));
    sl_value_destroy(&ref);
    SL_PASS(
        sl__node_put_value(&a.node, "sl:t:remote", big, SL_NODE_STORE, &ref));
    SL_ASSERT(!sl__tier_has(a.tier, "sl:t:remote", NULL));
    SL_ASSERT(!s_located(a.store, "sl:t:remote", NULL));
    got = s_get(&a, ref, &copied);
    SL_ASSERT(copied);
    s_check_array(got, 100000, 1);
    sl_value_destroy(&got);
    sl_value_destroy(&ref);
    sl_value_destroy(&big);
    sl_value_destroy(&small);
    s_side_close(&a);
}

// A task run again after its first result's file went from this tier
// (the location still names this node) keeps its new copy.
static void
test_nx_again_keeps_copy(void)
{
    s_side a;
    s_side_open(&a, "a");
    sl_value *v = s_array(50000, 3), *ref = NULL;
    SL_PASS(sl__node_put_value(&a.node, "sl:t:again", v, SL_NODE_NX, &ref));
    sl_value_destroy(&ref);
    SL_PASS(sl__tier_delete(a.tier, "sl:t:again"));
    SL_ASSERT(s_located(a.store, "sl:t:again", NULL));
    SL_PASS(sl__node_put_value(&a.node, "sl:t:again", v, SL_NODE_NX, &ref));
    SL_ASSERT(sl__tier_has(a.tier, "sl:t:again", NULL));
    bool copied;
    sl_value *got = s_get(&a, ref, &copied);
    s_check_array(got, 50000, 3);
    sl_value_destroy(&got);
    sl_value_destroy(&ref);
    sl_value_destroy(&v);
    s_side_close(&a);
}

// Node a serves its wants in a thread of its own (its own store and tier
// handles, as a worker's tier thread has).
static atomic_bool s_serving;

static void *
s_server(void *arg)
{
    (void) arg;
    s_side a;
    s_side_open(&a, "a");
    while (atomic_load(&s_serving)) {
        sl__node_serve_want(&a.node, 100, NULL);
    }
    s_side_close(&a);
    return NULL;
}

// An object of node a read on node b crosses through the store once: b
// then maps its cached copy.
static void
test_want_crosses(void)
{
    s_side a, b;
    s_side_open(&a, "a");
    s_side_open(&b, "b");
    sl_value *v = s_array(200000, 4), *ref = NULL;
    SL_PASS(sl__node_put_value(&a.node, "sl:t:cross", v, 0, &ref));
    atomic_store(&s_serving, true);
    pthread_t th;
    SL_ASSERT(pthread_create(&th, NULL, s_server, NULL) == 0);
    bool copied = false;
    sl_value *got = s_get(&b, ref, &copied);
    SL_ASSERT(copied);
    s_check_array(got, 200000, 4);
    sl_value_destroy(&got);
    unsigned flags = 0;
    SL_ASSERT(sl__tier_has(b.tier, "sl:t:cross", &flags));
    SL_ASSERT(flags & SL_TIER_CACHED);
    got = s_get(&b, ref, &copied);
    SL_ASSERT(!copied);
    sl_value_destroy(&got);
    // The store has the bytes now; a's copy is marked spilled.
    SL_ASSERT(!s_located(a.store, "sl:t:cross", NULL));
    SL_ASSERT(sl__tier_has(a.tier, "sl:t:cross", &flags));
    SL_ASSERT(flags & SL_TIER_SPILLED);
    atomic_store(&s_serving, false);
    pthread_join(th, NULL);
    sl_value_destroy(&ref);
    // With no one serving a's wants, b waits its want_wait_ms, and says
    // whom it waited for.
    SL_PASS(sl__node_put_value(&a.node, "sl:t:unserved", v, 0, &ref));
    b.node.want_wait_ms = 300;
    sl__blob *blob = NULL;
    size_t off, len;
    SL_FAILS(sl__node_get_blob(&b.node, ref, NULL, &blob, &off, &len, NULL),
             SL_ETIMEDOUT);
    SL_ASSERT_HAS(b.node.errstr, "node a");
    sl_value_destroy(&ref);
    sl_value_destroy(&v);
    s_side_close(&a);
    s_side_close(&b);
}

static void
s_write_first(void *p)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL; // not a sanitizer's report: the signal itself
    sigaction(SIGSEGV, &sa, NULL);
    *(volatile double *) p = 42;
}

// An array made in the tier is sealed where it is: the put copies
// nothing, and its elements are read-only from then on.
static void
test_shared_array(void)
{
    s_side a;
    s_side_open(&a, "a");
    int64_t shape[1] = {100000};
    sl_value *v = sl__value_new_ndarray_with(SL_F64, 1, shape,
                                             sl__node_alloc_ndarray, &a.node);
    SL_ASSERT(v != NULL);
    double *d = sl_ndarray_data(v);
    SL_ASSERT_EQ(d[0], 0.0);
    for (int i = 0; i < 100000; i++) {
        d[i] = 5 + i;
    }
    sl_value *ref = NULL;
    SL_PASS(sl__node_put_value(&a.node, "sl:t:shared", v, 0, &ref));
    SL_ASSERT(sl__tier_has(a.tier, "sl:t:shared", NULL));
    SL_ASSERT_EQ(sl__test_child(s_write_first, d), 128 + SIGSEGV);
    bool copied;
    sl_value *got = s_get(&a, ref, &copied);
    SL_ASSERT(!copied);
    s_check_array(got, 100000, 5);
    sl_value_destroy(&got);
    // Deleted: gone here and in the store.
    SL_PASS(sl__node_delete(&a.node, "sl:t:shared"));
    SL_ASSERT(!sl__tier_has(a.tier, "sl:t:shared", NULL));
    sl__blob *blob = NULL;
    size_t off, len;
    SL_FAILS(sl__node_get_blob(&a.node, ref, NULL, &blob, &off, &len, NULL),
             SL_ENOTFOUND);
    s_check_array(v, 100000, 5); // the writer's view lives on
    sl_value_destroy(&ref);
    sl_value_destroy(&v);
    s_side_close(&a);
}

int
main(void)
{
    signal(SIGALRM, s_on_signal);
    signal(SIGTERM, s_on_signal);
    signal(SIGINT, s_on_signal);
    alarm(110);
    atexit(s_cleanup);
    sl__strlcpy(s_r.dir, "/tmp/sl_node_test.XXXXXX", sizeof(s_r.dir));
    SL_ASSERT(mkdtemp(s_r.dir) != NULL);
    snprintf(s_r.base, sizeof(s_r.base), "%s/tiers", s_r.dir);
    SL_ASSERT(mkdir(s_r.base, 0700) == 0);
    s_r.port = sl__free_port();
    sl__random_hex(s_r.password, 16);
    sl__fmt(s_r.addr, sizeof(s_r.addr), "127.0.0.1:%d", s_r.port);
    sl__redis_opts opts = {s_r.dir, s_r.port, s_r.password, false, NULL};
    char errbuf[SL_ERRSTR_LEN];
    if (sl__redis_start(&opts, &s_r.pid, errbuf) != SL_OK) {
        SL_FAIL_AT("redis-server: %s", errbuf);
    }
    SL_RUN(test_cluster_id);
    SL_RUN(test_where_puts_go);
    SL_RUN(test_nx_again_keeps_copy);
    SL_RUN(test_want_crosses);
    SL_RUN(test_shared_array);
    s_cleanup();
    return 0;
}
