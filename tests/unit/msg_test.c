// msg_test.c - every wire message: encode, decode, and refuse bad ones.
// SPDX-License-Identifier: MIT
#include <math.h>

#include "serialize/msg.h"
#include "testutil.h"

// A heap copy of exactly len bytes, so that AddressSanitizer catches any
// read past the end.
static uint8_t *
s_dup(const void *buf, size_t len)
{
    uint8_t *p = malloc(len > 0 ? len : 1);
    SL_ASSERT(p != NULL);
    if (len > 0) {
        memcpy(p, buf, len);
    }
    return p;
}

static bool
s_strv_is(sl__strv v, const char *s)
{
    return v.len == strlen(s) && memcmp(v.p, s, v.len) == 0;
}

// Open the message in w, which must be of type with nfields fields.
static void
s_open(sl__mpw *w, sl__mpr *r, uint32_t type, uint32_t nfields)
{
    uint32_t got_type, got_n;
    char errbuf[SL_ERRSTR_LEN];
    sl__mpr_init(r, w->buf.data, w->buf.size);
    SL_PASS(sl__msg_open(r, &got_type, &got_n, errbuf));
    SL_ASSERT_EQ(got_type, type);
    SL_ASSERT_EQ(got_n, nfields);
}

static sl_err
s_walk_outcomes(sl__mpr *r, const sl__limits *lim, uint32_t n, bool with_job,
                char *errbuf)
{
    for (uint32_t i = 0; i < n; i++) {
        sl__outcome o;
        sl_err rv = sl__msg_outcome_decode(r, lim, with_job, &o, errbuf);
        if (rv != SL_OK) {
            return rv;
        }
    }
    return SL_OK;
}

static sl_err
s_walk_tasks(sl__mpr *r, const sl__limits *lim, char *errbuf)
{
    uint32_t n_groups;
    sl_err rv = sl__msg_tasks_decode(r, lim, &n_groups, errbuf);
    for (uint32_t g = 0; g < n_groups && rv == SL_OK; g++) {
        sl__task_group group;
        rv = sl__msg_task_group_decode(r, lim, &group, errbuf);
        for (uint32_t i = 0; i < group.n_tasks && rv == SL_OK; i++) {
            sl__task_item item;
            rv = sl__msg_task_item_decode(r, lim, &item, errbuf);
        }
    }
    return rv;
}

// SUBMIT's seventh field, as the scheduler reads it: one entry per task,
// each (job, index) pair read (at most max_tasks of them an entry: the
// scheduler has its own bound).
static sl_err
s_walk_deps(sl__mpr *r, uint32_t n_args, const sl__limits *lim, char *errbuf)
{
    uint32_t n;
    if (sl__mpr_array(r, &n) != 0 || n != n_args) {
        return SL_EPROTO;
    }
    for (uint32_t i = 0; i < n; i++) {
        sl__mpr list;
        uint32_t k;
        sl_err rv = sl__msg_deps_entry(r, lim->max_tasks, &k, &list, errbuf);
        for (uint32_t j = 0; j < k && rv == SL_OK; j++) {
            uint64_t job, index;
            rv = sl__msg_dep_next(&list, &job, &index) == 0 ? SL_OK : SL_EPROTO;
        }
        if (rv != SL_OK) {
            return rv;
        }
    }
    return SL_OK;
}

static sl_err
s_walk_submit(sl__mpr *r, uint32_t nfields, const sl__limits *lim, char *errbuf)
{
    sl__submit m;
    sl_err rv = sl__msg_submit_decode(r, lim, &m, errbuf);
    if (rv != SL_OK) {
        return rv;
    }
    for (uint32_t i = 0; i < m.n_args && rv == SL_OK; i++) {
        if (sl__mpr_skip(&m.args, lim->max_depth, NULL, NULL) != 0) {
            rv = SL_EPROTO;
        }
    }
    if (rv == SL_OK && nfields == 7) {
        rv = s_walk_deps(&m.args, m.n_args, lim, errbuf);
    }
    *r = m.args;
    return rv;
}

static sl_err
s_walk_release(sl__mpr *r, const sl__limits *lim, char *errbuf)
{
    uint32_t n;
    sl_err rv = sl__msg_release_decode(r, lim, &n, errbuf);
    for (uint32_t i = 0; i < n && rv == SL_OK; i++) {
        uint64_t job;
        rv = sl__mpr_u64(r, &job) == 0 ? SL_OK : SL_EPROTO;
    }
    return rv;
}

// Decode every field of a message, as its receiver would, and insist that
// nothing is left over.
static sl_err
s_walk_fields(sl__mpr *r, uint32_t type, uint32_t nfields,
              const sl__limits *lim, char *errbuf)
{
    uint64_t u;
    uint32_t n;
    sl__strv s;
    switch (type) {
    case SL_MSG_HELLO:
        return sl__mpr_str(r, &s.p, &s.len) == 0 && sl__mpr_u32(r, &n) == 0
                   ? SL_OK
                   : SL_EPROTO;
    case SL_MSG_WELCOME: {
        sl__welcome m;
        return sl__msg_welcome_decode(r, &m, errbuf);
    }
    case SL_MSG_SUBMIT:
        return s_walk_submit(r, nfields, lim, errbuf);
    case SL_MSG_RELEASE:
        return s_walk_release(r, lim, errbuf);
    case SL_MSG_ACCEPTED:
        return sl__mpr_u64(r, &u) == 0 && sl__mpr_u64(r, &u) == 0 &&
                       sl__mpr_u32(r, &n) == 0
                   ? SL_OK
                   : SL_EPROTO;
    case SL_MSG_ERROR: {
        sl__error_msg m;
        return sl__msg_error_decode(r, &m, errbuf);
    }
    case SL_MSG_CANCEL:
        return sl__msg_job_decode(r, &u, errbuf);
    case SL_MSG_READY: {
        sl__ready m;
        return sl__msg_ready_decode(r, &m, errbuf);
    }
    case SL_MSG_TASKS:
        return s_walk_tasks(r, lim, errbuf);
    case SL_MSG_RESULT: {
        sl_err rv = sl__msg_result_decode(r, lim, &n, errbuf);
        return rv != SL_OK ? rv : s_walk_outcomes(r, lim, n, true, errbuf);
    }
    case SL_MSG_DONE: {
        sl_err rv = sl__msg_done_decode(r, lim, &u, &n, errbuf);
        return rv != SL_OK ? rv : s_walk_outcomes(r, lim, n, false, errbuf);
    }
    case SL_MSG_STATUS_REPLY: {
        sl__status st;
        return sl__msg_status_reply_decode(r, &st, errbuf);
    }
    default: // STATUS, BYE, HEARTBEAT, SHUTDOWN: no fields
        return SL_OK;
    }
}

static sl_err
s_walk(const uint8_t *buf, size_t len, const sl__limits *lim)
{
    sl__mpr r;
    uint32_t type, nfields;
    char errbuf[SL_ERRSTR_LEN];
    sl__mpr_init(&r, buf, len);
    sl_err rv = sl__msg_open(&r, &type, &nfields, errbuf);
    if (rv == SL_OK) {
        rv = s_walk_fields(&r, type, nfields, lim, errbuf);
    }
    if (rv == SL_OK && sl__mpr_left(&r) != 0) {
        rv = SL_EPROTO;
    }
    return rv;
}

// The whole message decodes; every strict prefix of it fails cleanly.
static void
s_check_truncations(const sl__mpw *w)
{
    const uint8_t *buf = (const uint8_t *) w->buf.data;
    size_t len = w->buf.size;
    SL_PASS(s_walk(buf, len, &sl__limits_default));
    for (size_t k = 0; k < len; k++) {
        uint8_t *p = s_dup(buf, k);
        SL_ASSERT(s_walk(p, k, &sl__limits_default) != SL_OK);
        free(p);
    }
}

static void
test_msg_hello(void)
{
    sl__mpw w;
    sl__mpr r;
    sl__strv name;
    uint32_t pid;
    sl__mpw_init(&w);
    sl__msg_hello(&w, "client-7", 4321);
    s_open(&w, &r, SL_MSG_HELLO, 2);
    SL_ASSERT_EQ(sl__mpr_str(&r, &name.p, &name.len), 0);
    SL_ASSERT(s_strv_is(name, "client-7"));
    SL_ASSERT(sl__mpr_u32(&r, &pid) == 0 && pid == 4321);
    SL_ASSERT_EQ(sl__mpr_left(&r), 0);
    s_check_truncations(&w);
    sl__mpw_fini(&w);
}

static void
test_msg_welcome(void)
{
    sl__welcome m = {0}, got;
    static const char *stores[] = {"127.0.0.1:6379", "10.0.0.2:6380", "h:1"};
    m.session = 0xdeadbeefcafef00dull;
    m.heartbeat_ms = 250;
    m.inline_max = 4096;
    m.password = (sl__strv){"s3cret", 6};
    m.n_stores = 3;
    for (int i = 0; i < 3; i++) {
        m.stores[i] = (sl__strv){stores[i], (uint32_t) strlen(stores[i])};
    }
    sl__mpw w;
    sl__mpr r;
    char errbuf[SL_ERRSTR_LEN];
    sl__mpw_init(&w);
    sl__msg_welcome(&w, &m);
    s_open(&w, &r, SL_MSG_WELCOME, 5);
    SL_PASS(sl__msg_welcome_decode(&r, &got, errbuf));
    SL_ASSERT(got.session == m.session);
    SL_ASSERT_EQ(got.heartbeat_ms, 250);
    SL_ASSERT_EQ(got.inline_max, 4096);
    SL_ASSERT(s_strv_is(got.password, "s3cret"));
    SL_ASSERT_EQ(got.n_stores, 3);
    for (int i = 0; i < 3; i++) {
        SL_ASSERT(s_strv_is(got.stores[i], stores[i]));
    }
    SL_ASSERT_EQ(sl__mpr_left(&r), 0);
    s_check_truncations(&w);
    // No store, or more than 16, is refused.
    for (uint32_t n = 0; n <= 17; n += 17) {
        sl__mpw_reset(&w);
        sl__msg_begin(&w, SL_MSG_WELCOME, 5);
        msgpack_pack_uint64(&w.pk, 1);
        msgpack_pack_uint32(&w.pk, 1000);
        msgpack_pack_array(&w.pk, n);
        for (uint32_t i = 0; i < n; i++) {
            sl__mpw_str(&w, "h:1");
        }
        sl__mpw_str(&w, "");
        msgpack_pack_uint32(&w.pk, 0);
        s_open(&w, &r, SL_MSG_WELCOME, 5);
        SL_FAILS(sl__msg_welcome_decode(&r, &got, errbuf), SL_EPROTO);
        SL_ASSERT_HAS(errbuf, "stores");
    }
    sl__mpw_fini(&w);
}

// A SUBMIT of the given args, packed as a client packs them.
static void
s_pack_submit(sl__mpw *w, uint64_t job, const char *function, uint64_t total,
              uint64_t first, sl_value **args, uint32_t n)
{
    sl__job_opts opts = {1500, 3, 7, 0};
    sl__mpw_reset(w);
    sl__msg_submit_begin(w, job, function, total, first, &opts, n);
    for (uint32_t i = 0; i < n; i++) {
        if (args != NULL) {
            SL_PASS(sl__value_pack(w, args[i]));
        } else {
            msgpack_pack_nil(&w->pk);
        }
    }
}

// A SUBMIT sent again after a restart marks the tasks that already ended.
static void
test_msg_resubmit_ended(void)
{
    sl__mpw w;
    sl__mpr r;
    sl__submit m;
    char errbuf[SL_ERRSTR_LEN];
    sl__job_opts o = {0, 3, 0, 0};
    const uint8_t ended[2] = {0x05, 0x01}; // tasks 0, 2 and 8 of 9
    sl__mpw_init(&w);
    sl__msg_resubmit_begin(&w, 9, "sys.noop", 20, 4, &o, ended, 9, false);
    for (int i = 0; i < 9; i++) {
        msgpack_pack_nil(&w.pk);
    }
    s_open(&w, &r, SL_MSG_SUBMIT, 6);
    SL_PASS(sl__msg_submit_decode(&r, &sl__limits_default, &m, errbuf));
    SL_ASSERT_EQ(m.n_args, 9);
    for (uint32_t i = 0; i < 9; i++) {
        SL_ASSERT_EQ(sl__msg_submit_ended(&m, i), i == 0 || i == 2 || i == 8);
    }
    // Without a bitmap nothing has ended.
    sl__mpw_reset(&w);
    sl__msg_submit_begin(&w, 9, "sys.noop", 20, 4, &o, 1);
    msgpack_pack_nil(&w.pk);
    s_open(&w, &r, SL_MSG_SUBMIT, 6);
    SL_PASS(sl__msg_submit_decode(&r, &sl__limits_default, &m, errbuf));
    SL_ASSERT(m.ended == NULL && !sl__msg_submit_ended(&m, 0));
    // A bitmap of the wrong length for the tasks is refused.
    sl__mpw_reset(&w);
    sl__msg_begin(&w, SL_MSG_SUBMIT, 6);
    msgpack_pack_uint64(&w.pk, 9);
    sl__mpw_str(&w, "sys.noop");
    msgpack_pack_uint64(&w.pk, 40);
    msgpack_pack_uint64(&w.pk, 4);
    msgpack_pack_array(&w.pk, 4);
    msgpack_pack_uint32(&w.pk, 0);
    msgpack_pack_uint32(&w.pk, 3);
    msgpack_pack_uint32(&w.pk, 0);
    sl__mpw_bin(&w, ended, 2); // 17 tasks need 3 bytes
    msgpack_pack_array(&w.pk, 17);
    for (int i = 0; i < 17; i++) {
        msgpack_pack_nil(&w.pk);
    }
    s_open(&w, &r, SL_MSG_SUBMIT, 6);
    SL_FAILS(sl__msg_submit_decode(&r, &sl__limits_default, &m, errbuf),
             SL_EPROTO);
    SL_ASSERT_HAS(errbuf, "ended bitmap");
    sl__mpw_fini(&w);
}

static void
test_msg_submit(void)
{
    int64_t shape[] = {2, 2};
    double data[] = {1, 2, 3, 4};
    sl_value *args[3] = {sl_value_new_int(7), sl_value_new_str("x"),
                         sl_value_new_list()};
    sl_value *nd = sl_value_new_ndarray(SL_F64, 2, shape, data);
    SL_PASS(sl_value_list_append(args[2], &nd));
    sl__mpw w;
    sl__mpr r;
    sl__submit m;
    char errbuf[SL_ERRSTR_LEN];
    sl__mpw_init(&w);
    s_pack_submit(&w, 42, "blas.dgemm", 10, 4, args, 3);
    s_open(&w, &r, SL_MSG_SUBMIT, 6);
    SL_PASS(sl__msg_submit_decode(&r, &sl__limits_default, &m, errbuf));
    SL_ASSERT_EQ(m.job, 42);
    SL_ASSERT(s_strv_is(m.function, "blas.dgemm"));
    SL_ASSERT_EQ(m.total, 10);
    SL_ASSERT_EQ(m.first, 4);
    SL_ASSERT_EQ(m.opts.time_limit_ms, 1500);
    SL_ASSERT_EQ(m.opts.max_attempts, 3);
    SL_ASSERT_EQ(m.opts.priority, 7);
    SL_ASSERT_EQ(m.n_args, 3);
    // The scheduler walks the args without decoding them; a worker decodes
    // each raw slice later.
    for (uint32_t i = 0; i < m.n_args; i++) {
        const uint8_t *start;
        size_t len;
        sl_value *v = NULL;
        SL_ASSERT_EQ(
            sl__mpr_skip(&m.args, sl__limits_default.max_depth, &start, &len),
            0);
        SL_PASS(sl__value_decode_buf(start, len, NULL, NULL, &v, errbuf));
        SL_ASSERT_EQ(sl_value_type(v), sl_value_type(args[i]));
        sl_value_destroy(&v);
    }
    SL_ASSERT_EQ(sl__mpr_left(&m.args), 0);
    s_check_truncations(&w);
    // A chunk of no tasks at the very end of a job is valid.
    s_pack_submit(&w, 42, "blas.dgemm", 10, 10, NULL, 0);
    SL_PASS(s_walk((uint8_t *) w.buf.data, w.buf.size, &sl__limits_default));
    for (int i = 0; i < 3; i++) {
        sl_value_destroy(&args[i]);
    }
    sl__mpw_fini(&w);
}

static sl_err
s_submit_rv(sl__mpw *w, const sl__limits *lim, char *errbuf)
{
    sl__mpr r;
    sl__submit m;
    s_open(w, &r, SL_MSG_SUBMIT, 6);
    return sl__msg_submit_decode(&r, lim, &m, errbuf);
}

static void
test_msg_submit_limits(void)
{
    sl__limits lim = sl__limits_default;
    lim.max_tasks = 2;
    lim.max_job_tasks = 100;
    sl__mpw w;
    char errbuf[SL_ERRSTR_LEN];
    sl__mpw_init(&w);
    s_pack_submit(&w, 1, "sys.noop", 10, 0, NULL, 2);
    SL_PASS(s_submit_rv(&w, &lim, errbuf));
    s_pack_submit(&w, 1, "sys.noop", 10, 0, NULL, 3);
    SL_FAILS(s_submit_rv(&w, &lim, errbuf), SL_ELIMIT);
    SL_ASSERT_HAS(errbuf, "limit");
    s_pack_submit(&w, 1, "sys.noop", 0, 0, NULL, 0);
    SL_FAILS(s_submit_rv(&w, &lim, errbuf), SL_ELIMIT);
    s_pack_submit(&w, 1, "sys.noop", 101, 0, NULL, 1);
    SL_FAILS(s_submit_rv(&w, &lim, errbuf), SL_ELIMIT);
    s_pack_submit(&w, 1, "sys.noop", 100, 0, NULL, 1);
    SL_PASS(s_submit_rv(&w, &lim, errbuf));
    // A chunk past the job's end, also where first + n would wrap.
    s_pack_submit(&w, 1, "sys.noop", 10, 9, NULL, 2);
    SL_FAILS(s_submit_rv(&w, &lim, errbuf), SL_EPROTO);
    SL_ASSERT_HAS(errbuf, "beyond");
    s_pack_submit(&w, 1, "sys.noop", 10, 11, NULL, 0);
    SL_FAILS(s_submit_rv(&w, &lim, errbuf), SL_EPROTO);
    s_pack_submit(&w, 1, "sys.noop", 10, UINT64_MAX, NULL, 1);
    SL_FAILS(s_submit_rv(&w, &lim, errbuf), SL_EPROTO);
    // Job 0 is no job; a function name is 1 to 255 bytes.
    s_pack_submit(&w, 0, "sys.noop", 10, 0, NULL, 1);
    SL_FAILS(s_submit_rv(&w, &lim, errbuf), SL_EPROTO);
    s_pack_submit(&w, 1, "", 10, 0, NULL, 1);
    SL_FAILS(s_submit_rv(&w, &lim, errbuf), SL_EPROTO);
    char name[257];
    memset(name, 'f', 256);
    name[256] = '\0';
    s_pack_submit(&w, 1, name, 10, 0, NULL, 1);
    SL_FAILS(s_submit_rv(&w, &lim, errbuf), SL_EPROTO);
    name[255] = '\0';
    s_pack_submit(&w, 1, name, 10, 0, NULL, 1);
    SL_PASS(s_submit_rv(&w, &lim, errbuf));
    // Options must be three unsigned 32-bit numbers.
    sl__mpw_reset(&w);
    sl__msg_begin(&w, SL_MSG_SUBMIT, 6);
    msgpack_pack_uint64(&w.pk, 1);
    sl__mpw_str(&w, "sys.noop");
    msgpack_pack_uint64(&w.pk, 1);
    msgpack_pack_uint64(&w.pk, 0);
    msgpack_pack_array(&w.pk, 3);
    msgpack_pack_uint64(&w.pk, 1ull << 32);
    msgpack_pack_uint32(&w.pk, 1);
    msgpack_pack_uint32(&w.pk, 1);
    msgpack_pack_array(&w.pk, 1);
    msgpack_pack_nil(&w.pk);
    SL_FAILS(s_submit_rv(&w, &lim, errbuf), SL_EPROTO);
    SL_ASSERT_HAS(errbuf, "options");
    // An argument nested past max_depth is refused by the walk.
    sl__mpw_reset(&w);
    sl__job_opts opts = {0, 1, 0, 0};
    sl__msg_submit_begin(&w, 1, "sys.noop", 1, 0, &opts, 1);
    for (int i = 0; i <= lim.max_depth; i++) {
        msgpack_pack_array(&w.pk, 1);
    }
    msgpack_pack_nil(&w.pk);
    SL_FAILS(s_walk((uint8_t *) w.buf.data, w.buf.size, &lim), SL_EPROTO);
    sl__mpw_fini(&w);
}

// A SUBMIT with its seventh field, the futures of each task, as a client
// packs it: the args, then one entry per task, nil or [job, index, ...].
static void
s_pack_submit_deps(sl__mpw *w, uint32_t n, const uint64_t *const *deps,
                   const uint32_t *n_deps)
{
    sl__job_opts opts = {0, 1, 0, SL_SUBMIT_KEEP};
    sl__mpw_reset(w);
    sl__msg_resubmit_begin(w, 77, "sys.echo", 10, 2, &opts, NULL, n, true);
    for (uint32_t i = 0; i < n; i++) {
        msgpack_pack_uint32(&w->pk, i);
    }
    msgpack_pack_array(&w->pk, n);
    for (uint32_t i = 0; i < n; i++) {
        if (n_deps[i] == 0) {
            msgpack_pack_nil(&w->pk);
            continue;
        }
        msgpack_pack_array(&w->pk, 2 * n_deps[i]);
        for (uint32_t k = 0; k < 2 * n_deps[i]; k++) {
            msgpack_pack_uint64(&w->pk, deps[i][k]);
        }
    }
}

// The deps field comes back as packed: after the args, one entry a task,
// each pair read in order; nil and an empty array name no future.
static void
test_msg_submit_deps(void)
{
    static const uint64_t one[] = {5, 0};
    static const uint64_t three[] = {5, 1, UINT64_MAX, UINT64_MAX, 77, 2};
    const uint64_t *const deps[] = {NULL, one, three, NULL};
    const uint32_t n_deps[] = {0, 1, 3, 0};
    sl__mpw w;
    sl__mpr r;
    sl__submit m;
    char errbuf[SL_ERRSTR_LEN];
    sl__mpw_init(&w);
    s_pack_submit_deps(&w, 4, deps, n_deps);
    s_open(&w, &r, SL_MSG_SUBMIT, 7);
    SL_PASS(sl__msg_submit_decode(&r, &sl__limits_default, &m, errbuf));
    SL_ASSERT_EQ(m.n_args, 4);
    SL_ASSERT(m.opts.flags == SL_SUBMIT_KEEP);
    for (uint32_t i = 0; i < m.n_args; i++) {
        uint32_t x;
        SL_ASSERT(sl__mpr_u32(&m.args, &x) == 0 && x == i);
    }
    uint32_t n;
    SL_ASSERT(sl__mpr_array(&m.args, &n) == 0 && n == m.n_args);
    for (uint32_t i = 0; i < n; i++) {
        sl__mpr list;
        uint32_t k = 99;
        SL_PASS(sl__msg_deps_entry(&m.args, 3, &k, &list, errbuf));
        SL_ASSERT_EQ(k, n_deps[i]);
        for (uint32_t j = 0; j < k; j++) {
            uint64_t job, index;
            SL_ASSERT_EQ(sl__msg_dep_next(&list, &job, &index), 0);
            SL_ASSERT(job == deps[i][2 * j] && index == deps[i][2 * j + 1]);
        }
    }
    SL_ASSERT_EQ(sl__mpr_left(&m.args), 0);
    s_check_truncations(&w);
    // An empty array is an entry of no future, like nil.
    sl__mpw_reset(&w);
    msgpack_pack_array(&w.pk, 0);
    sl__mpr_init(&r, w.buf.data, w.buf.size);
    sl__mpr list;
    uint32_t k = 99;
    SL_PASS(sl__msg_deps_entry(&r, 3, &k, &list, errbuf));
    SL_ASSERT_EQ(k, 0);
    SL_ASSERT_EQ(sl__mpr_left(&r), 0);
    sl__mpw_fini(&w);
}

// A deps entry that is not nil or an even array of u64s is refused with
// SL_EPROTO naming the entry; one of more than max pairs with SL_ELIMIT
// naming the limit. Either way no future is counted.
static void
test_msg_submit_deps_malformed(void)
{
    static const struct {
        const char *bytes; // one entry, as msgpack
        size_t len;
        sl_err want;
        const char *says;
    } cases[] = {
        {"\x91\x05", 2, SL_EPROTO, "[job, index, ...]"},   // odd count
        {"\x93\x05\x00\x01", 4, SL_EPROTO, "[job, index"}, // three
        {"\x92\x05\xa1x", 4, SL_EPROTO, "u64s"},           // a string
        {"\x92\x05\xff", 3, SL_EPROTO, "u64s"},            // -1
        {"\x92\x05\xcb\x3f\xf0\0\0\0\0\0\0", 11, SL_EPROTO, "u64s"}, // 1.0
        {"\x92\x05\xc0", 3, SL_EPROTO, "u64s"},       // a nil index
        {"\x92\x91\x05\x01", 4, SL_EPROTO, "u64s"},   // a list
        {"\xa2jb", 3, SL_EPROTO, "deps entry"},       // a string
        {"\x81\x05\x01", 3, SL_EPROTO, "deps entry"}, // a map
        {"\x05", 1, SL_EPROTO, "deps entry"},         // an int
        {"\x92\x05", 2, SL_EPROTO, "deps entry"},     // cut short
        {"\x96\x01\x00\x01\x01\x01\x02", 7, SL_ELIMIT, "limit of 2"},
        {"\x94\x01\x00\x01\x01", 5, SL_OK, ""}, // two pairs: at the limit
    };
    char errbuf[SL_ERRSTR_LEN];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t *p = s_dup(cases[i].bytes, cases[i].len);
        sl__mpr r, list;
        uint32_t k = 99;
        sl__mpr_init(&r, p, cases[i].len);
        errbuf[0] = '\0';
        SL_FAILS(sl__msg_deps_entry(&r, 2, &k, &list, errbuf), cases[i].want);
        SL_ASSERT_HAS(errbuf, cases[i].says);
        SL_ASSERT_EQ(k, cases[i].want == SL_OK ? 2 : 0);
        free(p);
    }
    // In a whole SUBMIT, the walk refuses what the entry refuses, and a
    // field of the wrong number of entries.
    sl__mpw w;
    sl__mpw_init(&w);
    sl__job_opts opts = {0, 1, 0, 0};
    sl__msg_resubmit_begin(&w, 77, "sys.echo", 1, 0, &opts, NULL, 1, true);
    msgpack_pack_nil(&w.pk);
    msgpack_pack_array(&w.pk, 1);
    msgpack_pack_array(&w.pk, 1);
    msgpack_pack_uint64(&w.pk, 5); // a job without its index
    SL_FAILS(s_walk((uint8_t *) w.buf.data, w.buf.size, &sl__limits_default),
             SL_EPROTO);
    sl__mpw_reset(&w);
    sl__msg_resubmit_begin(&w, 77, "sys.echo", 2, 0, &opts, NULL, 2, true);
    msgpack_pack_nil(&w.pk);
    msgpack_pack_nil(&w.pk);
    msgpack_pack_array(&w.pk, 1);
    msgpack_pack_nil(&w.pk);
    SL_FAILS(s_walk((uint8_t *) w.buf.data, w.buf.size, &sl__limits_default),
             SL_EPROTO);
    sl__mpw_fini(&w);
}

static void
test_msg_accepted(void)
{
    sl__mpw w;
    sl__mpr r;
    uint64_t job, first;
    uint32_t count;
    sl__mpw_init(&w);
    sl__msg_accepted(&w, 0xffffffffffull, 4096, 4096);
    s_open(&w, &r, SL_MSG_ACCEPTED, 3);
    SL_ASSERT(sl__mpr_u64(&r, &job) == 0 && job == 0xffffffffffull);
    SL_ASSERT(sl__mpr_u64(&r, &first) == 0 && first == 4096);
    SL_ASSERT(sl__mpr_u32(&r, &count) == 0 && count == 4096);
    s_check_truncations(&w);
    sl__mpw_fini(&w);
}

static void
test_msg_error(void)
{
    sl__mpw w;
    sl__mpr r;
    sl__error_msg m;
    char errbuf[SL_ERRSTR_LEN];
    sl__mpw_init(&w);
    sl__msg_error(&w, SL_ELIMIT, "too many tasks", 99);
    s_open(&w, &r, SL_MSG_ERROR, 3);
    SL_PASS(sl__msg_error_decode(&r, &m, errbuf));
    SL_ASSERT_EQ(m.code, SL_ELIMIT);
    SL_ASSERT(s_strv_is(m.text, "too many tasks"));
    SL_ASSERT_EQ(m.job, 99);
    s_check_truncations(&w);
    // The text is required: nil is malformed.
    sl__mpw_reset(&w);
    sl__msg_begin(&w, SL_MSG_ERROR, 3);
    msgpack_pack_uint32(&w.pk, 1);
    msgpack_pack_nil(&w.pk);
    msgpack_pack_uint64(&w.pk, 0);
    s_open(&w, &r, SL_MSG_ERROR, 3);
    SL_FAILS(sl__msg_error_decode(&r, &m, errbuf), SL_EPROTO);
    sl__mpw_fini(&w);
}

static void
test_msg_cancel_and_empty(void)
{
    sl__mpw w;
    sl__mpr r;
    uint64_t job;
    char errbuf[SL_ERRSTR_LEN];
    sl__mpw_init(&w);
    sl__msg_job(&w, SL_MSG_CANCEL, UINT64_MAX);
    s_open(&w, &r, SL_MSG_CANCEL, 1);
    SL_PASS(sl__msg_job_decode(&r, &job, errbuf));
    SL_ASSERT(job == UINT64_MAX);
    s_check_truncations(&w);
    static const sl__msg_type empty[] = {SL_MSG_STATUS, SL_MSG_BYE,
                                         SL_MSG_HEARTBEAT, SL_MSG_SHUTDOWN};
    for (int i = 0; i < 4; i++) {
        sl__mpw_reset(&w);
        sl__msg_empty(&w, empty[i]);
        SL_ASSERT_EQ(w.buf.size, 3); // 0x92, version, type
        s_open(&w, &r, empty[i], 0);
        SL_ASSERT_EQ(sl__mpr_left(&r), 0);
        s_check_truncations(&w);
    }
    // CANCEL of a negative job.
    sl__mpw_reset(&w);
    sl__msg_begin(&w, SL_MSG_CANCEL, 1);
    msgpack_pack_int64(&w.pk, -1);
    s_open(&w, &r, SL_MSG_CANCEL, 1);
    SL_FAILS(sl__msg_job_decode(&r, &job, errbuf), SL_EPROTO);
    sl__mpw_fini(&w);
}

// RELEASE [[job, ...]]: the ids come back in order; none is fine.
static void
test_msg_release(void)
{
    static const uint64_t jobs[] = {1, 0xabcdef, UINT64_MAX};
    sl__mpw w;
    sl__mpr r;
    uint32_t n;
    char errbuf[SL_ERRSTR_LEN];
    sl__mpw_init(&w);
    sl__msg_release(&w, jobs, 3);
    s_open(&w, &r, SL_MSG_RELEASE, 1);
    SL_PASS(sl__msg_release_decode(&r, &sl__limits_default, &n, errbuf));
    SL_ASSERT_EQ(n, 3);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t job;
        SL_ASSERT(sl__mpr_u64(&r, &job) == 0 && job == jobs[i]);
    }
    SL_ASSERT_EQ(sl__mpr_left(&r), 0);
    s_check_truncations(&w);
    sl__mpw_reset(&w);
    sl__msg_release(&w, NULL, 0);
    s_open(&w, &r, SL_MSG_RELEASE, 1);
    SL_PASS(sl__msg_release_decode(&r, &sl__limits_default, &n, errbuf));
    SL_ASSERT_EQ(n, 0);
    SL_ASSERT_EQ(sl__mpr_left(&r), 0);
    sl__mpw_fini(&w);
}

// A RELEASE whose field is no array, or holds more ids than max_tasks, is
// refused naming RELEASE; an id that is no u64 fails its read.
static void
test_msg_release_malformed(void)
{
    static const uint64_t jobs[] = {1, 2, 3};
    sl__limits lim = sl__limits_default;
    lim.max_tasks = 2;
    sl__mpw w;
    sl__mpr r;
    uint32_t n;
    char errbuf[SL_ERRSTR_LEN];
    sl__mpw_init(&w);
    sl__msg_release(&w, jobs, 3);
    s_open(&w, &r, SL_MSG_RELEASE, 1);
    SL_FAILS(sl__msg_release_decode(&r, &lim, &n, errbuf), SL_EPROTO);
    SL_ASSERT_HAS(errbuf, "RELEASE");
    sl__mpw_reset(&w);
    sl__msg_release(&w, jobs, 2);
    s_open(&w, &r, SL_MSG_RELEASE, 1);
    SL_PASS(sl__msg_release_decode(&r, &lim, &n, errbuf));
    SL_ASSERT_EQ(n, 2);
    for (int form = 0; form < 3; form++) { // nil, a job alone, a map
        sl__mpw_reset(&w);
        sl__msg_begin(&w, SL_MSG_RELEASE, 1);
        if (form == 0) {
            msgpack_pack_nil(&w.pk);
        } else if (form == 1) {
            msgpack_pack_uint64(&w.pk, 5);
        } else {
            msgpack_pack_map(&w.pk, 0);
        }
        s_open(&w, &r, SL_MSG_RELEASE, 1);
        errbuf[0] = '\0';
        SL_FAILS(sl__msg_release_decode(&r, &sl__limits_default, &n, errbuf),
                 SL_EPROTO);
        SL_ASSERT_HAS(errbuf, "RELEASE");
    }
    sl__mpw_reset(&w);
    sl__msg_begin(&w, SL_MSG_RELEASE, 1);
    msgpack_pack_array(&w.pk, 2);
    msgpack_pack_uint64(&w.pk, 5);
    msgpack_pack_int64(&w.pk, -5);
    SL_FAILS(s_walk((uint8_t *) w.buf.data, w.buf.size, &sl__limits_default),
             SL_EPROTO);
    sl__mpw_fini(&w);
}

static void
test_msg_ready(void)
{
    sl__ready m = {8, 4, {"node-a", 6}, 777}, got;
    sl__mpw w;
    sl__mpr r;
    char errbuf[SL_ERRSTR_LEN];
    sl__mpw_init(&w);
    sl__msg_ready(&w, &m);
    s_open(&w, &r, SL_MSG_READY, 4);
    SL_PASS(sl__msg_ready_decode(&r, &got, errbuf));
    SL_ASSERT_EQ(got.slots, 8);
    SL_ASSERT_EQ(got.prefetch, 4);
    SL_ASSERT(s_strv_is(got.node, "node-a"));
    SL_ASSERT_EQ(got.pid, 777);
    s_check_truncations(&w);
    // Slots 1 to 4096, prefetch 0 to 4096.
    static const uint32_t cases[][3] = {
        {0, 0, 0}, {4097, 0, 0}, {1, 4097, 0}, {4096, 4096, 1}, {1, 0, 1}};
    for (int i = 0; i < 5; i++) {
        sl__ready bad = {cases[i][0], cases[i][1], {"n", 1}, 1};
        sl__mpw_reset(&w);
        sl__msg_ready(&w, &bad);
        s_open(&w, &r, SL_MSG_READY, 4);
        SL_FAILS(sl__msg_ready_decode(&r, &got, errbuf),
                 cases[i][2] ? SL_OK : SL_EPROTO);
    }
    sl__mpw_fini(&w);
}

static void
test_msg_tasks(void)
{
    // Arguments as raw msgpack, the way the scheduler forwards them.
    static const uint8_t nil[] = {0xc0};
    static const uint8_t list[] = {0x92, 0x01, 0xa1, 'x'};
    static const uint8_t ref[] = {0xc7, 13, 2, 1, 0, 1, 0, 9,
                                  0,    0,  0, 0, 0, 0, 0, 'k'};
    sl__task_item items[] = {
        {0, 1, nil, sizeof(nil), NULL, 0},
        {5, 2, list, sizeof(list), NULL, 0},
        {UINT32_MAX, 3, ref, sizeof(ref), NULL, 0},
    };
    sl__mpw w;
    sl__mpr r;
    char errbuf[SL_ERRSTR_LEN];
    sl__mpw_init(&w);
    sl__msg_tasks_begin(&w, 2);
    sl__msg_task_group(&w, 1, "sys.noop", 8, 0, "node-a", 6, 2);
    sl__msg_task_item(&w, &items[0]);
    sl__msg_task_item(&w, &items[1]);
    sl__msg_task_group(&w, 2, "bench.gemm_flops", 16, 5000, "", 0, 1);
    sl__msg_task_item(&w, &items[2]);
    s_open(&w, &r, SL_MSG_TASKS, 1);
    uint32_t n_groups;
    sl__task_group g;
    sl__task_item t;
    SL_PASS(sl__msg_tasks_decode(&r, &sl__limits_default, &n_groups, errbuf));
    SL_ASSERT_EQ(n_groups, 2);
    SL_PASS(sl__msg_task_group_decode(&r, &sl__limits_default, &g, errbuf));
    SL_ASSERT_EQ(g.job, 1);
    SL_ASSERT(s_strv_is(g.function, "sys.noop"));
    SL_ASSERT_EQ(g.time_limit_ms, 0);
    SL_ASSERT(s_strv_is(g.home, "node-a"));
    SL_ASSERT_EQ(g.n_tasks, 2);
    for (int i = 0; i < 3; i++) {
        if (i == 2) {
            SL_PASS(
                sl__msg_task_group_decode(&r, &sl__limits_default, &g, errbuf));
            SL_ASSERT_EQ(g.job, 2);
            SL_ASSERT(s_strv_is(g.function, "bench.gemm_flops"));
            SL_ASSERT_EQ(g.time_limit_ms, 5000);
            SL_ASSERT_EQ(g.home.len, 0); // no home: unknown
            SL_ASSERT_EQ(g.n_tasks, 1);
        }
        SL_PASS(sl__msg_task_item_decode(&r, &sl__limits_default, &t, errbuf));
        SL_ASSERT_EQ(t.index, items[i].index);
        SL_ASSERT_EQ(t.attempt, items[i].attempt);
        SL_ASSERT_EQ(t.arg_len, items[i].arg_len);
        SL_ASSERT(memcmp(t.arg, items[i].arg, t.arg_len) == 0);
    }
    SL_ASSERT_EQ(sl__mpr_left(&r), 0);
    s_check_truncations(&w);
    sl__mpw_fini(&w);
}

static void
test_msg_tasks_limits(void)
{
    sl__limits lim = sl__limits_default;
    lim.max_tasks = 2;
    lim.max_depth = 2;
    sl__mpw w;
    sl__mpr r;
    char errbuf[SL_ERRSTR_LEN];
    uint32_t n;
    sl__task_group g;
    sl__task_item t;
    static const uint8_t deep[] = {0x91, 0x91, 0x91, 0xc0};
    sl__mpw_init(&w);
    sl__msg_tasks_begin(&w, 3);
    for (int i = 0; i < 3; i++) {
        msgpack_pack_nil(&w.pk);
    }
    s_open(&w, &r, SL_MSG_TASKS, 1);
    SL_FAILS(sl__msg_tasks_decode(&r, &lim, &n, errbuf), SL_EPROTO);
    sl__mpw_reset(&w);
    sl__msg_tasks_begin(&w, 1);
    sl__msg_task_group(&w, 1, "f", 1, 0, "", 0, 3);
    s_open(&w, &r, SL_MSG_TASKS, 1);
    SL_PASS(sl__msg_tasks_decode(&r, &lim, &n, errbuf));
    SL_FAILS(sl__msg_task_group_decode(&r, &lim, &g, errbuf), SL_EPROTO);
    // An item whose argument nests too deep, or with a field missing.
    sl__mpw_reset(&w);
    sl__task_item item = {0, 1, deep, sizeof(deep), NULL, 0};
    sl__msg_task_item(&w, &item);
    sl__mpr_init(&r, w.buf.data, w.buf.size);
    SL_FAILS(sl__msg_task_item_decode(&r, &lim, &t, errbuf), SL_EPROTO);
    // Inputs whose value nests as deep as an argument may (a result that
    // RESULT took under the same limit), and one deeper.
    static const uint8_t nil[] = {0xc0};
    static const uint8_t in2[] = {0x93, 0x01, 0x00, 0x91, 0x91, 0xc0};
    static const uint8_t in3[] = {0x93, 0x01, 0x00, 0x91, 0x91, 0x91, 0xc0};
    sl__mpw_reset(&w);
    item = (sl__task_item){0, 1, nil, sizeof(nil), in2, sizeof(in2)};
    sl__msg_task_item(&w, &item);
    sl__mpr_init(&r, w.buf.data, w.buf.size);
    SL_PASS(sl__msg_task_item_decode(&r, &lim, &t, errbuf));
    SL_ASSERT_EQ(t.inputs_len, sizeof(in2));
    sl__mpw_reset(&w);
    item = (sl__task_item){0, 1, nil, sizeof(nil), in3, sizeof(in3)};
    sl__msg_task_item(&w, &item);
    sl__mpr_init(&r, w.buf.data, w.buf.size);
    SL_FAILS(sl__msg_task_item_decode(&r, &lim, &t, errbuf), SL_EPROTO);
    sl__mpw_reset(&w);
    msgpack_pack_array(&w.pk, 2);
    msgpack_pack_uint32(&w.pk, 0);
    msgpack_pack_uint32(&w.pk, 1);
    sl__mpr_init(&r, w.buf.data, w.buf.size);
    SL_FAILS(sl__msg_task_item_decode(&r, &lim, &t, errbuf), SL_EPROTO);
    sl__mpw_fini(&w);
}

// Raw msgpack of a task's inputs, [job, index, value, ...], as the
// scheduler packs them (values as their tasks' outcomes carried them).
static void
s_pack_inputs(sl__mpw *w)
{
    sl__mpw_reset(w);
    msgpack_pack_array(&w->pk, 6);
    msgpack_pack_uint64(&w->pk, 0xabcdef);
    msgpack_pack_uint64(&w->pk, 0);
    msgpack_pack_int64(&w->pk, -42);
    msgpack_pack_uint64(&w->pk, UINT64_MAX);
    msgpack_pack_uint64(&w->pk, 7);
    sl_value *v = sl_value_new_str("seven");
    SL_PASS(sl__value_pack(w, v));
    sl_value_destroy(&v);
}

// An item with inputs, [index, attempt, arg, inputs], among items without:
// the inputs come back as the bytes the scheduler packed, where they lie
// in the frame; an item without has none; an empty array is inputs too.
static void
test_msg_tasks_inputs(void)
{
    sl__mpw in, w;
    sl__mpr r;
    char errbuf[SL_ERRSTR_LEN];
    sl__mpw_init(&in);
    sl__mpw_init(&w);
    s_pack_inputs(&in);
    sl_value *arg = sl_value_new_list();
    sl_value *f0 = sl__value_new_future(0xabcdef, 0);
    sl_value *f1 = sl__value_new_future(UINT64_MAX, 7);
    SL_PASS(sl_value_list_append(arg, &f0));
    SL_PASS(sl_value_list_append(arg, &f1));
    void *enc;
    size_t enc_len;
    SL_PASS(sl__value_encode(arg, &enc, &enc_len));
    static const uint8_t nil[] = {0xc0}, empty[] = {0x90};
    const sl__task_item items[] = {
        {0, 1, enc, enc_len, (const uint8_t *) in.buf.data, in.buf.size},
        {1, 1, nil, sizeof(nil), NULL, 0},
        {2, 3, enc, enc_len, empty, sizeof(empty)},
    };
    sl__msg_tasks_begin(&w, 1);
    sl__msg_task_group(&w, 9, "sys.echo", 8, 0, "", 0, 3);
    for (int i = 0; i < 3; i++) {
        sl__msg_task_item(&w, &items[i]);
    }
    uint32_t n;
    sl__task_group g;
    s_open(&w, &r, SL_MSG_TASKS, 1);
    SL_PASS(sl__msg_tasks_decode(&r, &sl__limits_default, &n, errbuf));
    SL_PASS(sl__msg_task_group_decode(&r, &sl__limits_default, &g, errbuf));
    SL_ASSERT_EQ(g.n_tasks, 3);
    const uint8_t *lo = (const uint8_t *) w.buf.data, *hi = lo + w.buf.size;
    for (int i = 0; i < 3; i++) {
        sl__task_item t;
        SL_PASS(sl__msg_task_item_decode(&r, &sl__limits_default, &t, errbuf));
        SL_ASSERT_EQ(t.index, items[i].index);
        SL_ASSERT_EQ(t.attempt, items[i].attempt);
        SL_ASSERT_EQ(t.arg_len, items[i].arg_len);
        SL_ASSERT(memcmp(t.arg, items[i].arg, t.arg_len) == 0);
        SL_ASSERT_EQ(t.inputs_len, items[i].inputs_len);
        SL_ASSERT((t.inputs == NULL) == (items[i].inputs == NULL));
        if (t.inputs != NULL) {
            SL_ASSERT(t.inputs == t.arg + t.arg_len); // right after it
            SL_ASSERT(t.inputs >= lo && t.inputs + t.inputs_len <= hi);
            SL_ASSERT(memcmp(t.inputs, items[i].inputs, t.inputs_len) == 0);
        }
    }
    SL_ASSERT_EQ(sl__mpr_left(&r), 0);
    s_check_truncations(&w);
    free(enc);
    sl_value_destroy(&arg);
    sl__mpw_fini(&in);
    sl__mpw_fini(&w);
}

// Decode one TASKS item of 4 fields whose inputs are the len bytes at p.
static sl_err
s_item_with_inputs(const void *p, size_t len, const sl__limits *lim,
                   char *errbuf)
{
    sl__mpw w;
    sl__mpr r;
    sl__task_item t;
    sl__mpw_init(&w);
    msgpack_pack_array(&w.pk, 4);
    msgpack_pack_uint32(&w.pk, 0);
    msgpack_pack_uint32(&w.pk, 1);
    msgpack_pack_nil(&w.pk);
    sl__mpw_raw(&w, p, len);
    uint8_t *copy = s_dup(w.buf.data, w.buf.size);
    sl__mpr_init(&r, copy, w.buf.size);
    errbuf[0] = '\0';
    sl_err rv = sl__msg_task_item_decode(&r, lim, &t, errbuf);
    SL_ASSERT(rv != SL_OK || sl__mpr_left(&r) == 0);
    free(copy);
    sl__mpw_fini(&w);
    return rv;
}

// Inputs that are not an array of whole triples [u64, u64, value] are
// refused, naming the inputs; so is an item of 5 fields.
static void
test_msg_tasks_inputs_malformed(void)
{
    static const struct {
        const char *bytes;
        size_t len;
    } bad[] = {
        {"\xc0", 1}, // nil
        {"\x80", 1}, // a map
        {"\xa3"
         "abc",
         4},                             // a string
        {"\x05", 1},                     // an int
        {"\x91\x01", 2},                 // one item
        {"\x92\x01\x00", 3},             // a pair
        {"\x94\x01\x00\xc0\x02", 5},     // four
        {"\x93\x01\x00", 3},             // cut short
        {"\x96\x01\x00\xc0\x02\x00", 6}, // the second cut short
        {"\x93\xff\x00\xc0", 4},         // job -1
        {"\x93\x01\xc0\xc0", 4},         // a nil index
    };
    char errbuf[SL_ERRSTR_LEN];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        SL_FAILS(s_item_with_inputs(bad[i].bytes, bad[i].len,
                                    &sl__limits_default, errbuf),
                 SL_EPROTO);
        SL_ASSERT_HAS(errbuf, "TASKS item inputs");
    }
    SL_PASS(s_item_with_inputs("\x90", 1, &sl__limits_default, errbuf));
    SL_PASS(
        s_item_with_inputs("\x93\x01\x00\xc0", 4, &sl__limits_default, errbuf));
    // Five fields.
    sl__mpw w;
    sl__mpr r;
    sl__task_item t;
    sl__mpw_init(&w);
    msgpack_pack_array(&w.pk, 5);
    msgpack_pack_uint32(&w.pk, 0);
    msgpack_pack_uint32(&w.pk, 1);
    msgpack_pack_nil(&w.pk);
    msgpack_pack_array(&w.pk, 0);
    msgpack_pack_nil(&w.pk);
    sl__mpr_init(&r, w.buf.data, w.buf.size);
    SL_FAILS(sl__msg_task_item_decode(&r, &sl__limits_default, &t, errbuf),
             SL_EPROTO);
    SL_ASSERT_HAS(errbuf, "TASKS item");
    sl__mpw_fini(&w);
}

// Decode the one group header of a TASKS in w.
static sl_err
s_group_decode(sl__mpw *w, sl__task_group *g, char *errbuf)
{
    sl__mpr r;
    uint32_t n;
    s_open(w, &r, SL_MSG_TASKS, 1);
    SL_PASS(sl__msg_tasks_decode(&r, &sl__limits_default, &n, errbuf));
    SL_ASSERT_EQ(n, 1);
    return sl__msg_task_group_decode(&r, &sl__limits_default, g, errbuf);
}

// A group's home is a node name: empty, or up to 64 bytes without a NUL.
// A longer one, one with a NUL, one that is no string, and a group of the
// old layout without it are refused.
static void
test_msg_tasks_home(void)
{
    char home[SL_NODE_NAME_MAX + 2];
    memset(home, 'h', sizeof(home));
    sl__mpw w;
    sl__task_group g;
    char errbuf[SL_ERRSTR_LEN];
    sl__mpw_init(&w);
    sl__msg_tasks_begin(&w, 1);
    sl__msg_task_group(&w, 9, "sys.noop", 8, 0, home, SL_NODE_NAME_MAX, 0);
    SL_PASS(s_group_decode(&w, &g, errbuf));
    SL_ASSERT_EQ(g.home.len, SL_NODE_NAME_MAX);
    SL_ASSERT(g.home.p != NULL && memcmp(g.home.p, home, g.home.len) == 0);
    SL_ASSERT_EQ(g.n_tasks, 0);
    sl__mpw_reset(&w);
    sl__msg_tasks_begin(&w, 1);
    sl__msg_task_group(&w, 9, "sys.noop", 8, 0, home, SL_NODE_NAME_MAX + 1, 0);
    SL_FAILS(s_group_decode(&w, &g, errbuf), SL_EPROTO);
    SL_ASSERT_HAS(errbuf, "home of 65 bytes");
    sl__mpw_reset(&w);
    sl__msg_tasks_begin(&w, 1);
    sl__msg_task_group(&w, 9, "sys.noop", 8, 0, "no\0de", 5, 0);
    SL_FAILS(s_group_decode(&w, &g, errbuf), SL_EPROTO);
    SL_ASSERT_HAS(errbuf, "home");
    // nil in its place; and [job, function, time_limit_ms, [items]].
    for (int old = 0; old < 2; old++) {
        sl__mpw_reset(&w);
        sl__msg_tasks_begin(&w, 1);
        msgpack_pack_array(&w.pk, old ? 4 : 5);
        msgpack_pack_uint64(&w.pk, 9);
        sl__mpw_str(&w, "sys.noop");
        msgpack_pack_uint32(&w.pk, 0);
        if (!old) {
            msgpack_pack_nil(&w.pk);
        }
        msgpack_pack_array(&w.pk, 0);
        SL_FAILS(s_group_decode(&w, &g, errbuf), SL_EPROTO);
        SL_ASSERT_HAS(errbuf, "TASKS group header");
    }
    sl__mpw_fini(&w);
}

static void
s_check_outcome(const sl__outcome *got, const sl__outcome *want, bool with_job)
{
    SL_ASSERT_EQ(got->job, with_job ? want->job : 0);
    SL_ASSERT_EQ(got->index, want->index);
    SL_ASSERT_EQ(got->attempt, want->attempt);
    SL_ASSERT_EQ(got->status, want->status);
    if (want->value != NULL) {
        SL_ASSERT_EQ(got->value_len, want->value_len);
        SL_ASSERT(memcmp(got->value, want->value, want->value_len) == 0);
    } else {
        SL_ASSERT(got->value_len == 1 && got->value[0] == 0xc0); // nil
    }
    SL_ASSERT_EQ(got->error.len, want->error.len);
    SL_ASSERT(memcmp(got->error.p, want->error.p, got->error.len) == 0);
    SL_ASSERT(got->stats.start_s == want->stats.start_s);
    SL_ASSERT(got->stats.end_s == want->stats.end_s);
    SL_ASSERT(got->stats.flops == want->stats.flops);
    SL_ASSERT(got->stats.bytes_read == want->stats.bytes_read);
    SL_ASSERT(got->stats.bytes_written == want->stats.bytes_written);
    SL_ASSERT(got->stats.bytes_mapped == want->stats.bytes_mapped);
}

static const uint8_t s_int_value[] = {0xcd, 0x12, 0x34};
static const uint8_t s_ref_value[] = {0xc7, 14, 2, 1, 3, 2, 0,   0,  1,
                                      0,    0,  0, 0, 0, 0, 'a', 'b'};

// One outcome of each status, every field set.
static const sl__outcome s_outcomes[] = {
    {7,
     0,
     1,
     SL_WIRE_OK,
     s_int_value,
     sizeof(s_int_value),
     {"", 0},
     {1700000000.25, 1700000001.5, 2e9, 1024, 8, 1u << 28}},
    {7,
     1,
     2,
     SL_WIRE_OK,
     s_ref_value,
     sizeof(s_ref_value),
     {"", 0},
     {1.0, 2.0, 0, UINT64_MAX, 1ull << 40, UINT64_MAX - 1}},
    {7,
     2,
     1,
     SL_WIRE_ERROR,
     NULL,
     0,
     {"kernel said no", 14},
     {3, 4, 0, 0, 0, 0}},
    {8,
     UINT32_MAX,
     3,
     SL_WIRE_FAILED,
     NULL,
     0,
     {"worker lost", 11},
     {0, 0, 0, 0, 0, 0}},
    {8, 4, 0, SL_WIRE_CANCELLED, NULL, 0, {"cancelled", 9}, {0, 0, 0, 0, 0, 0}},
};
#define S_N_OUTCOMES (sizeof(s_outcomes) / sizeof(s_outcomes[0]))

static void
test_msg_result(void)
{
    sl__mpw w;
    sl__mpr r;
    char errbuf[SL_ERRSTR_LEN];
    uint32_t n;
    sl__outcome o;
    sl__mpw_init(&w);
    sl__msg_result_begin(&w, S_N_OUTCOMES);
    for (size_t i = 0; i < S_N_OUTCOMES; i++) {
        sl__msg_outcome(&w, &s_outcomes[i], true);
    }
    s_open(&w, &r, SL_MSG_RESULT, 1);
    SL_PASS(sl__msg_result_decode(&r, &sl__limits_default, &n, errbuf));
    SL_ASSERT_EQ(n, S_N_OUTCOMES);
    for (size_t i = 0; i < S_N_OUTCOMES; i++) {
        SL_PASS(
            sl__msg_outcome_decode(&r, &sl__limits_default, true, &o, errbuf));
        s_check_outcome(&o, &s_outcomes[i], true);
    }
    SL_ASSERT_EQ(sl__mpr_left(&r), 0);
    s_check_truncations(&w);
    // More outcomes than max_tasks.
    sl__limits lim = sl__limits_default;
    lim.max_tasks = S_N_OUTCOMES - 1;
    s_open(&w, &r, SL_MSG_RESULT, 1);
    SL_FAILS(sl__msg_result_decode(&r, &lim, &n, errbuf), SL_EPROTO);
    sl__mpw_fini(&w);
}

// Statuses outside 1..4, and outcome arrays of the wrong size.
static void
test_msg_outcome_malformed(void)
{
    sl__mpw w;
    sl__mpr r;
    char errbuf[SL_ERRSTR_LEN];
    sl__outcome o, bad = s_outcomes[0];
    sl__mpw_init(&w);
    static const uint32_t statuses[] = {0, SL_WIRE_LOST + 1, UINT32_MAX};
    for (int i = 0; i < 3; i++) {
        bad.status = statuses[i];
        sl__mpw_reset(&w);
        sl__msg_outcome(&w, &bad, true);
        sl__mpr_init(&r, w.buf.data, w.buf.size);
        SL_FAILS(
            sl__msg_outcome_decode(&r, &sl__limits_default, true, &o, errbuf),
            SL_EPROTO);
        SL_ASSERT_HAS(errbuf, "status");
    }
    // A RESULT outcome (with job) read as a DONE one, and the reverse.
    sl__mpw_reset(&w);
    sl__msg_outcome(&w, &s_outcomes[0], true);
    sl__mpr_init(&r, w.buf.data, w.buf.size);
    SL_FAILS(sl__msg_outcome_decode(&r, &sl__limits_default, false, &o, errbuf),
             SL_EPROTO);
    sl__mpw_reset(&w);
    sl__msg_outcome(&w, &s_outcomes[0], false);
    sl__mpr_init(&r, w.buf.data, w.buf.size);
    SL_FAILS(sl__msg_outcome_decode(&r, &sl__limits_default, true, &o, errbuf),
             SL_EPROTO);
    // Error text that is neither a string nor nil.
    sl__mpw_reset(&w);
    msgpack_pack_array(&w.pk, 11);
    msgpack_pack_uint32(&w.pk, 0);
    msgpack_pack_uint32(&w.pk, 1);
    msgpack_pack_uint32(&w.pk, SL_WIRE_ERROR);
    msgpack_pack_nil(&w.pk);
    msgpack_pack_int(&w.pk, 5);
    for (int i = 0; i < 6; i++) {
        msgpack_pack_uint32(&w.pk, 0);
    }
    sl__mpr_init(&r, w.buf.data, w.buf.size);
    SL_FAILS(sl__msg_outcome_decode(&r, &sl__limits_default, false, &o, errbuf),
             SL_EPROTO);
    SL_ASSERT_HAS(errbuf, "error text");
    sl__mpw_fini(&w);
}

static void
test_msg_done(void)
{
    sl__mpw w;
    sl__mpr r;
    char errbuf[SL_ERRSTR_LEN];
    uint64_t job;
    uint32_t n;
    sl__outcome o;
    sl__mpw_init(&w);
    sl__msg_done_begin(&w, 7, 3);
    for (size_t i = 0; i < 3; i++) {
        sl__msg_outcome(&w, &s_outcomes[i], false);
    }
    s_open(&w, &r, SL_MSG_DONE, 2);
    SL_PASS(sl__msg_done_decode(&r, &sl__limits_default, &job, &n, errbuf));
    SL_ASSERT_EQ(job, 7);
    SL_ASSERT_EQ(n, 3);
    for (size_t i = 0; i < 3; i++) {
        SL_PASS(
            sl__msg_outcome_decode(&r, &sl__limits_default, false, &o, errbuf));
        s_check_outcome(&o, &s_outcomes[i], false);
    }
    SL_ASSERT_EQ(sl__mpr_left(&r), 0);
    s_check_truncations(&w);
    sl__limits lim = sl__limits_default;
    lim.max_tasks = 2;
    s_open(&w, &r, SL_MSG_DONE, 2);
    SL_FAILS(sl__msg_done_decode(&r, &lim, &job, &n, errbuf), SL_EPROTO);
    sl__mpw_fini(&w);
}

static void
test_msg_status_reply(void)
{
    sl__status s = {3,          24,    20,    2,      1u << 20, 20,
                    1ull << 40, 123.5, 98.25, 3600.5, 77};
    sl__status got;
    sl__mpw w;
    sl__mpr r;
    char errbuf[SL_ERRSTR_LEN];
    sl__mpw_init(&w);
    sl__msg_status_reply(&w, &s);
    s_open(&w, &r, SL_MSG_STATUS_REPLY, 1);
    SL_PASS(sl__msg_status_reply_decode(&r, &got, errbuf));
    SL_ASSERT_EQ(got.workers, 3);
    SL_ASSERT_EQ(got.slots, 24);
    SL_ASSERT_EQ(got.busy, 20);
    SL_ASSERT_EQ(got.jobs, 2);
    SL_ASSERT_EQ(got.queued, 1u << 20);
    SL_ASSERT_EQ(got.running, 20);
    SL_ASSERT(got.done == 1ull << 40);
    SL_ASSERT(got.tasks_per_s == 123.5);
    SL_ASSERT(got.gflops == 98.25);
    SL_ASSERT(got.uptime_s == 3600.5);
    SL_ASSERT_EQ(got.waiting, 77);
    s_check_truncations(&w);
    sl__mpw_fini(&w);
}

// A newer scheduler may add keys; an odd one may send odd numbers. Counts
// are clamped into their fields' range rather than converted out of range.
static void
test_msg_status_reply_odd(void)
{
    sl__mpw w;
    sl__mpr r;
    sl__status got;
    char errbuf[SL_ERRSTR_LEN];
    sl__mpw_init(&w);
    sl__msg_begin(&w, SL_MSG_STATUS_REPLY, 1);
    msgpack_pack_map(&w.pk, 8);
    sl__mpw_str(&w, "workers");
    msgpack_pack_double(&w.pk, -1.0);
    sl__mpw_str(&w, "slots");
    msgpack_pack_double(&w.pk, 1e30);
    sl__mpw_str(&w, "busy");
    msgpack_pack_double(&w.pk, NAN);
    sl__mpw_str(&w, "queued");
    msgpack_pack_double(&w.pk, 1e300);
    sl__mpw_str(&w, "running");
    msgpack_pack_int64(&w.pk, -5);
    sl__mpw_str(&w, "jobs");
    msgpack_pack_uint32(&w.pk, 6); // integers are numbers too
    sl__mpw_str(&w, "gflops");
    msgpack_pack_double(&w.pk, -2.5);
    sl__mpw_str(&w, "new_field");
    msgpack_pack_uint32(&w.pk, 1);
    s_open(&w, &r, SL_MSG_STATUS_REPLY, 1);
    SL_PASS(sl__msg_status_reply_decode(&r, &got, errbuf));
    SL_ASSERT_EQ(got.workers, 0);
    SL_ASSERT_EQ(got.slots, UINT32_MAX);
    SL_ASSERT_EQ(got.busy, 0);
    SL_ASSERT(got.queued == UINT64_MAX);
    SL_ASSERT_EQ(got.running, 0);
    SL_ASSERT_EQ(got.jobs, 6);
    SL_ASSERT(got.gflops == -2.5);
    SL_ASSERT(got.done == 0 && got.uptime_s == 0); // absent: zero
    // A value that is not a number, and a reply that is not a map.
    sl__mpw_reset(&w);
    sl__msg_begin(&w, SL_MSG_STATUS_REPLY, 1);
    msgpack_pack_map(&w.pk, 1);
    sl__mpw_str(&w, "workers");
    sl__mpw_str(&w, "three");
    s_open(&w, &r, SL_MSG_STATUS_REPLY, 1);
    SL_FAILS(sl__msg_status_reply_decode(&r, &got, errbuf), SL_EPROTO);
    sl__mpw_reset(&w);
    sl__msg_begin(&w, SL_MSG_STATUS_REPLY, 1);
    msgpack_pack_array(&w.pk, 0);
    s_open(&w, &r, SL_MSG_STATUS_REPLY, 1);
    SL_FAILS(sl__msg_status_reply_decode(&r, &got, errbuf), SL_EPROTO);
    sl__mpw_fini(&w);
}

static sl_err
s_open_bytes(const uint8_t *buf, size_t len, uint32_t *type, uint32_t *n,
             char *errbuf)
{
    sl__mpr r;
    uint8_t *p = s_dup(buf, len);
    sl__mpr_init(&r, p, len);
    sl_err rv = sl__msg_open(&r, type, n, errbuf);
    free(p);
    return rv;
}

static void
test_msg_bad_header(void)
{
    uint32_t type, n;
    char errbuf[SL_ERRSTR_LEN];
    // Version 2: refused, but the type is known so the peer can be told.
    static const uint8_t v2[] = {0x93, 0x02, SL_MSG_HELLO, 0xc0};
    SL_FAILS(s_open_bytes(v2, sizeof(v2), &type, &n, errbuf), SL_EPROTO);
    SL_ASSERT_EQ(type, SL_MSG_HELLO);
    SL_ASSERT_HAS(errbuf, "version 2");
    static const uint8_t v0[] = {0x92, 0x00, SL_MSG_BYE};
    SL_FAILS(s_open_bytes(v0, sizeof(v0), &type, &n, errbuf), SL_EPROTO);
    static const uint8_t vbig[] = {0x92, 0xcf, 0, 0, 0, 1, 0, 0, 0, 1, 5};
    SL_FAILS(s_open_bytes(vbig, sizeof(vbig), &type, &n, errbuf), SL_EPROTO);
    SL_ASSERT_EQ(type, 0);
    static const uint8_t vstr[] = {0x92, 0xa1, '1', SL_MSG_BYE};
    SL_FAILS(s_open_bytes(vstr, sizeof(vstr), &type, &n, errbuf), SL_EPROTO);
    SL_ASSERT_HAS(errbuf, "version");
    static const uint8_t tneg[] = {0x92, 0x01, 0xff};
    SL_FAILS(s_open_bytes(tneg, sizeof(tneg), &type, &n, errbuf), SL_EPROTO);
    SL_ASSERT_HAS(errbuf, "type");
    // Not an array of at least two, or nothing at all.
    static const uint8_t one[] = {0x91, 0x01};
    static const uint8_t map[] = {0x81, 0x01, 0x05};
    static const uint8_t c1[] = {0xc1};
    SL_FAILS(s_open_bytes(one, sizeof(one), &type, &n, errbuf), SL_EPROTO);
    SL_FAILS(s_open_bytes(map, sizeof(map), &type, &n, errbuf), SL_EPROTO);
    SL_FAILS(s_open_bytes(c1, sizeof(c1), &type, &n, errbuf), SL_EPROTO);
    SL_FAILS(s_open_bytes(c1, 0, &type, &n, errbuf), SL_EPROTO);
    SL_ASSERT_EQ(type, 0);
    SL_ASSERT_HAS(errbuf, "malformed");
}

// A type this side does not know still opens: the receiver answers ERROR
// naming it.
static void
test_msg_unknown_type(void)
{
    static const uint8_t unknown[] = {0x94, 0x01, 0x63, 0xa1, 'a', 0x02};
    uint32_t type, n;
    char errbuf[SL_ERRSTR_LEN];
    SL_PASS(s_open_bytes(unknown, sizeof(unknown), &type, &n, errbuf));
    SL_ASSERT_EQ(type, 99);
    SL_ASSERT_EQ(n, 2);
    SL_ASSERT_STR(sl__msg_type_name(type), "unknown");
    static const struct {
        uint32_t type;
        const char *name;
    } names[] = {
        {SL_MSG_HELLO, "HELLO"},       {SL_MSG_SUBMIT, "SUBMIT"},
        {SL_MSG_CANCEL, "CANCEL"},     {SL_MSG_STATUS, "STATUS"},
        {SL_MSG_BYE, "BYE"},           {SL_MSG_HEARTBEAT, "HEARTBEAT"},
        {SL_MSG_WELCOME, "WELCOME"},   {SL_MSG_ACCEPTED, "ACCEPTED"},
        {SL_MSG_DONE, "DONE"},         {SL_MSG_STATUS_REPLY, "STATUS_REPLY"},
        {SL_MSG_ERROR, "ERROR"},       {SL_MSG_READY, "READY"},
        {SL_MSG_RESULT, "RESULT"},     {SL_MSG_TASKS, "TASKS"},
        {SL_MSG_SHUTDOWN, "SHUTDOWN"}, {SL_MSG_RELEASE, "RELEASE"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        SL_ASSERT_STR(sl__msg_type_name(names[i].type), names[i].name);
    }
    SL_ASSERT_STR(sl__msg_type_name(0), "unknown");
}

int
main(void)
{
    SL_RUN(test_msg_hello);
    SL_RUN(test_msg_welcome);
    SL_RUN(test_msg_submit);
    SL_RUN(test_msg_resubmit_ended);
    SL_RUN(test_msg_submit_limits);
    SL_RUN(test_msg_submit_deps);
    SL_RUN(test_msg_submit_deps_malformed);
    SL_RUN(test_msg_accepted);
    SL_RUN(test_msg_error);
    SL_RUN(test_msg_cancel_and_empty);
    SL_RUN(test_msg_release);
    SL_RUN(test_msg_release_malformed);
    SL_RUN(test_msg_ready);
    SL_RUN(test_msg_tasks);
    SL_RUN(test_msg_tasks_limits);
    SL_RUN(test_msg_tasks_home);
    SL_RUN(test_msg_tasks_inputs);
    SL_RUN(test_msg_tasks_inputs_malformed);
    SL_RUN(test_msg_result);
    SL_RUN(test_msg_outcome_malformed);
    SL_RUN(test_msg_done);
    SL_RUN(test_msg_status_reply);
    SL_RUN(test_msg_status_reply_odd);
    SL_RUN(test_msg_bad_header);
    SL_RUN(test_msg_unknown_type);
    return 0;
}
