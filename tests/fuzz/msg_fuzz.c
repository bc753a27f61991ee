// msg_fuzz.c - fuzz the whole path of a received frame: sl__msg_open, then
// each decoder of serialize/msg.h as the scheduler, the worker and the
// client run them.
// SPDX-License-Identifier: MIT
//
// Design notes. One frame is handled by every process that could receive
// its type, in the order that process reads it: scheduler/sched.c
// (s_on_message: HELLO, SUBMIT and its args and deps, CANCEL, RELEASE,
// READY, RESULT), worker/worker.c (s_on_sched_msg: WELCOME, TASKS,
// CANCEL, ERROR; and each TASKS argument and input value decoded with a
// blob, as the executor that runs it does) and client/conn.c (s_on_message:
// WELCOME, DONE and each OK value decoded, ERROR, STATUS_REPLY). That runs
// twice, under the default limits and under tight ones. Oracles:
// - Every view a decoder returns (strings, raw values, the args reader)
//   lies inside the frame, and each count obeys the limits it is
//   documented to obey.
// - A decoded WELCOME, READY, ERROR, outcome, STATUS_REPLY, TASKS item,
//   SUBMIT deps entry and RELEASE re-encodes with its encoder and decodes
//   again to the same fields.
// - A deps entry's list reads exactly its count of pairs and ends where
//   the entry does; a TASKS item's inputs lie right after its argument and
//   hold whole [u64, u64, value] triples, each value skipping as an
//   argument does.
#include "fuzzutil.h"
#include "serialize/msg.h"

// The frame being handled, for the bounds checks.
static const uint8_t *s_lo;
static const uint8_t *s_hi;

// The limits of this pass: each frame is handled under the defaults, and
// again under limits small enough for a fuzzer's inputs to break each one.
static const sl__limits *s_lim;

static const sl__limits s_tight = {
    .max_message = 1024,
    .max_depth = 3,
    .max_elems = 4,
    .max_str = 32,
    .max_ndarray = 64,
    .max_tasks = 2,
    .max_job_tasks = 8,
};

static void
s_in_frame(const void *p, size_t len)
{
    const uint8_t *q = p;
    SL_FUZZ_CHECK(q >= s_lo && q <= s_hi && len <= (size_t) (s_hi - q));
}

// A string view lies in the frame; an empty one may be a literal "".
static void
s_strv_in_frame(const sl__strv *s)
{
    if (s->len > 0) {
        s_in_frame(s->p, s->len);
    }
    SL_FUZZ_CHECK(s->p != NULL);
}

// Print a view as the daemons do ("%.*s"), so that ASan sees each byte.
static void
s_print(const sl__strv *s)
{
    char out[SL_ERRSTR_LEN];
    sl__fmt(out, sizeof(out), "%.*s", (int) s->len, s->p);
    SL_FUZZ_CHECK(strlen(out) < sizeof(out));
}

// Open the bytes of w as a message of type; r is left at the first field.
static void
s_reopen(const sl__mpw *w, sl__mpr *r, uint32_t type)
{
    uint32_t got, nfields;
    char errbuf[SL_ERRSTR_LEN];
    sl__mpr_init(r, w->buf.data, w->buf.size);
    SL_FUZZ_CHECK(sl__msg_open(r, &got, &nfields, errbuf) == SL_OK);
    SL_FUZZ_CHECK(got == type);
}

static bool
s_same_strv(const sl__strv *a, const sl__strv *b)
{
    return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

// Decode one argument as a worker does: from its own heap copy, with a
// blob that ndarrays may point into.
static void
s_worker_decode_arg(const uint8_t *arg, size_t len)
{
    uint8_t *copy = sl__fuzz_dup(arg, len);
    sl__blob *blob = sl__blob_new(copy, len, NULL, NULL);
    SL_FUZZ_CHECK(blob != NULL);
    sl_value *args = NULL;
    char errbuf[SL_ERRSTR_LEN];
    sl_err rv = sl__value_decode_buf(copy, len, s_lim, blob, &args, errbuf);
    SL_FUZZ_CHECK((rv == SL_OK) == (args != NULL));
    SL_FUZZ_CHECK(sl__fuzz_errbuf_ok(errbuf));
    sl_value_destroy(&args);
    sl__blob_release(&blob);
}

// ---------------------------------------------------------------------
// The scheduler's side.

static void
s_on_hello(sl__mpr *r)
{
    sl__strv name;
    uint32_t pid;
    if (sl__mpr_str(r, &name.p, &name.len) != 0 || sl__mpr_u32(r, &pid) != 0) {
        return;
    }
    s_strv_in_frame(&name);
    sl__strv shown = {name.p, name.len < 60 ? name.len : 60};
    s_print(&shown);
}

// The most futures one task may name: the scheduler's bound
// (S_TASK_FUTURES_MAX in scheduler/job.c), or a tight one.
static uint32_t
s_futures_max(void)
{
    return s_lim == &s_tight ? 2 : 1u << 20;
}

// A deps entry's n pairs, packed again as a client packs them, read back
// the same.
static void
s_deps_round_trip(sl__mpr list, uint32_t n)
{
    sl__mpw w;
    sl__mpr r, list2, again = list;
    uint32_t n2;
    char why[SL_ERRSTR_LEN];
    sl__mpw_init(&w);
    msgpack_pack_array(&w.pk, 2 * n);
    for (uint32_t k = 0; k < n; k++) {
        uint64_t job, index;
        SL_FUZZ_CHECK(sl__msg_dep_next(&list, &job, &index) == 0);
        msgpack_pack_uint64(&w.pk, job);
        msgpack_pack_uint64(&w.pk, index);
    }
    sl__mpr_init(&r, w.buf.data, w.buf.size);
    SL_FUZZ_CHECK(sl__msg_deps_entry(&r, n, &n2, &list2, why) == SL_OK);
    SL_FUZZ_CHECK(n2 == n && sl__mpr_left(&r) == 0);
    for (uint32_t k = 0; k < n; k++) {
        uint64_t a, b, c, d;
        SL_FUZZ_CHECK(sl__msg_dep_next(&again, &a, &b) == 0);
        SL_FUZZ_CHECK(sl__msg_dep_next(&list2, &c, &d) == 0);
        SL_FUZZ_CHECK(a == c && b == d);
    }
    sl__mpw_fini(&w);
}

// SUBMIT's seventh field at r, as s_deps_check reads it: one entry per
// task, each nil or pairs, every pair read.
static void
s_on_deps(sl__mpr *r, uint32_t n_args)
{
    uint32_t n;
    char why[SL_ERRSTR_LEN];
    if (sl__mpr_array(r, &n) != 0 || n != n_args) {
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        sl__mpr list;
        uint32_t k = 99;
        const uint8_t *before = r->p;
        sl_err rv = sl__msg_deps_entry(r, s_futures_max(), &k, &list, why);
        if (rv != SL_OK) {
            SL_FUZZ_CHECK(rv == SL_EPROTO || rv == SL_ELIMIT);
            SL_FUZZ_CHECK(k == 0 && sl__fuzz_errbuf_ok(why));
            return;
        }
        SL_FUZZ_CHECK(k <= s_futures_max() && r->p > before);
        s_in_frame(before, (size_t) (r->p - before));
        if (k == 0) {
            continue;
        }
        // graph.c reads the pairs again from list: they end with the entry.
        sl__mpr walk = list;
        for (uint32_t j = 0; j < k; j++) {
            uint64_t job, index;
            SL_FUZZ_CHECK(sl__msg_dep_next(&walk, &job, &index) == 0);
        }
        SL_FUZZ_CHECK(walk.p == r->p);
        s_deps_round_trip(list, k);
    }
}

static void
s_on_submit(sl__mpr *r, uint32_t nfields)
{
    sl__submit m;
    char why[SL_ERRSTR_LEN];
    if (sl__msg_submit_decode(r, s_lim, &m, why) != SL_OK) {
        SL_FUZZ_CHECK(sl__fuzz_errbuf_ok(why));
        return;
    }
    SL_FUZZ_CHECK(m.job != 0);
    SL_FUZZ_CHECK(m.function.len >= 1 && m.function.len <= 255);
    s_strv_in_frame(&m.function);
    SL_FUZZ_CHECK(m.total >= 1 && m.total <= s_lim->max_job_tasks);
    SL_FUZZ_CHECK(m.n_args <= s_lim->max_tasks);
    SL_FUZZ_CHECK(m.first <= m.total && m.n_args <= m.total - m.first);
    SL_FUZZ_CHECK(m.args.p == r->p && m.args.end == s_hi);
    // s_submit_args: each arg is kept as (offset, length) into the frame,
    // and later forwarded to a worker, which decodes it.
    for (uint32_t i = 0; i < m.n_args; i++) {
        const uint8_t *before = m.args.p, *start;
        size_t len;
        if (sl__mpr_skip(&m.args, s_lim->max_depth, &start, &len) != 0) {
            SL_FUZZ_CHECK(m.args.p == before);
            return;
        }
        SL_FUZZ_CHECK(start == before && len > 0 && m.args.p == start + len);
        s_in_frame(start, len);
        SL_FUZZ_CHECK((uint64_t) (start - s_lo) <= UINT32_MAX);
        s_worker_decode_arg(start, len);
    }
    if (nfields > 6) {
        s_on_deps(&m.args, m.n_args);
    }
}

static void
s_on_u64(sl__mpr *r)
{
    uint64_t id;
    char why[SL_ERRSTR_LEN];
    if (sl__msg_job_decode(r, &id, why) != SL_OK) {
        SL_FUZZ_CHECK(sl__fuzz_errbuf_ok(why));
    }
}

// RELEASE: the ids as sl__on_release reads them; when all read, packed
// again they read back the same.
static void
s_on_release(sl__mpr *r)
{
    uint32_t n, n2;
    char why[SL_ERRSTR_LEN];
    if (sl__msg_release_decode(r, s_lim, &n, why) != SL_OK) {
        SL_FUZZ_CHECK(sl__fuzz_errbuf_ok(why));
        return;
    }
    SL_FUZZ_CHECK(n <= s_lim->max_tasks && n <= sl__mpr_left(r));
    uint64_t *ids = malloc((n > 0 ? n : 1) * sizeof(*ids));
    SL_FUZZ_CHECK(ids != NULL);
    for (uint32_t i = 0; i < n; i++) {
        if (sl__mpr_u64(r, &ids[i]) != 0) {
            free(ids);
            return;
        }
    }
    sl__mpw w;
    sl__mpr r2;
    sl__mpw_init(&w);
    sl__msg_release(&w, ids, n);
    s_reopen(&w, &r2, SL_MSG_RELEASE);
    SL_FUZZ_CHECK(sl__msg_release_decode(&r2, s_lim, &n2, why) == SL_OK);
    SL_FUZZ_CHECK(n2 == n);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t id;
        SL_FUZZ_CHECK(sl__mpr_u64(&r2, &id) == 0 && id == ids[i]);
    }
    SL_FUZZ_CHECK(sl__mpr_left(&r2) == 0);
    sl__mpw_fini(&w);
    free(ids);
}

static void
s_ready_round_trip(const sl__ready *m)
{
    sl__mpw w;
    sl__mpr r;
    sl__ready m2;
    char why[SL_ERRSTR_LEN];
    sl__mpw_init(&w);
    sl__msg_ready(&w, m);
    s_reopen(&w, &r, SL_MSG_READY);
    SL_FUZZ_CHECK(sl__msg_ready_decode(&r, &m2, why) == SL_OK);
    SL_FUZZ_CHECK(sl__mpr_left(&r) == 0);
    SL_FUZZ_CHECK(m2.slots == m->slots && m2.prefetch == m->prefetch &&
                  m2.pid == m->pid && s_same_strv(&m2.node, &m->node));
    sl__mpw_fini(&w);
}

static void
s_on_ready(sl__mpr *r)
{
    sl__ready m;
    char why[SL_ERRSTR_LEN];
    if (sl__msg_ready_decode(r, &m, why) != SL_OK) {
        SL_FUZZ_CHECK(sl__fuzz_errbuf_ok(why));
        return;
    }
    SL_FUZZ_CHECK(m.slots >= 1 && m.slots <= 4096 && m.prefetch <= 4096);
    s_strv_in_frame(&m.node);
    sl__strv shown = {m.node.p, m.node.len < 60 ? m.node.len : 60};
    s_print(&shown);
    s_ready_round_trip(&m);
}

static void
s_outcome_round_trip(const sl__outcome *o, bool with_job)
{
    sl__mpw w;
    sl__mpr r;
    sl__outcome o2;
    uint32_t n;
    char why[SL_ERRSTR_LEN];
    sl__mpw_init(&w);
    sl__msg_result_begin(&w, 1);
    sl__msg_outcome(&w, o, with_job);
    s_reopen(&w, &r, SL_MSG_RESULT);
    SL_FUZZ_CHECK(sl__msg_result_decode(&r, s_lim, &n, why) == SL_OK && n == 1);
    SL_FUZZ_CHECK(sl__msg_outcome_decode(&r, s_lim, with_job, &o2, why) ==
                  SL_OK);
    SL_FUZZ_CHECK(sl__mpr_left(&r) == 0);
    SL_FUZZ_CHECK(o2.job == o->job && o2.index == o->index &&
                  o2.attempt == o->attempt && o2.status == o->status);
    SL_FUZZ_CHECK(o2.value_len == o->value_len &&
                  memcmp(o2.value, o->value, o->value_len) == 0);
    SL_FUZZ_CHECK(s_same_strv(&o2.error, &o->error));
    SL_FUZZ_CHECK(sl__fuzz_same_bits(o2.stats.start_s, o->stats.start_s) &&
                  sl__fuzz_same_bits(o2.stats.end_s, o->stats.end_s) &&
                  sl__fuzz_same_bits(o2.stats.flops, o->stats.flops) &&
                  o2.stats.bytes_read == o->stats.bytes_read &&
                  o2.stats.bytes_written == o->stats.bytes_written &&
                  o2.stats.bytes_mapped == o->stats.bytes_mapped);
    sl__mpw_fini(&w);
}

// One outcome of a RESULT (with_job) or a DONE. Returns false when it is
// malformed, which ends the message.
static bool
s_outcome(sl__mpr *r, bool with_job, sl__outcome *o)
{
    char why[SL_ERRSTR_LEN];
    if (sl__msg_outcome_decode(r, s_lim, with_job, o, why) != SL_OK) {
        SL_FUZZ_CHECK(sl__fuzz_errbuf_ok(why));
        return false;
    }
    SL_FUZZ_CHECK(with_job || o->job == 0);
    SL_FUZZ_CHECK(o->status >= SL_WIRE_OK && o->status <= SL_WIRE_LOST);
    SL_FUZZ_CHECK(o->value != NULL && o->value_len > 0);
    s_in_frame(o->value, o->value_len);
    s_strv_in_frame(&o->error);
    s_print(&o->error);
    s_outcome_round_trip(o, with_job);
    return true;
}

static void
s_on_result(sl__mpr *r)
{
    uint32_t n;
    char why[SL_ERRSTR_LEN];
    if (sl__msg_result_decode(r, s_lim, &n, why) != SL_OK) {
        SL_FUZZ_CHECK(sl__fuzz_errbuf_ok(why));
        return;
    }
    SL_FUZZ_CHECK(n <= s_lim->max_tasks);
    for (uint32_t i = 0; i < n; i++) {
        sl__outcome o;
        if (!s_outcome(r, true, &o)) {
            return;
        }
    }
}

// ---------------------------------------------------------------------
// The worker's and the client's side.

static void
s_welcome_round_trip(const sl__welcome *m)
{
    sl__mpw w;
    sl__mpr r;
    sl__welcome m2;
    char why[SL_ERRSTR_LEN];
    sl__mpw_init(&w);
    sl__msg_welcome(&w, m);
    s_reopen(&w, &r, SL_MSG_WELCOME);
    SL_FUZZ_CHECK(sl__msg_welcome_decode(&r, &m2, why) == SL_OK);
    SL_FUZZ_CHECK(sl__mpr_left(&r) == 0);
    SL_FUZZ_CHECK(
        m2.session == m->session && m2.heartbeat_ms == m->heartbeat_ms &&
        m2.inline_max == m->inline_max && m2.n_stores == m->n_stores &&
        s_same_strv(&m2.password, &m->password));
    for (uint32_t i = 0; i < m->n_stores; i++) {
        SL_FUZZ_CHECK(s_same_strv(&m2.stores[i], &m->stores[i]));
    }
    sl__mpw_fini(&w);
}

static void
s_on_welcome(sl__mpr *r)
{
    sl__welcome m;
    char why[SL_ERRSTR_LEN];
    if (sl__msg_welcome_decode(r, &m, why) != SL_OK) {
        SL_FUZZ_CHECK(sl__fuzz_errbuf_ok(why));
        return;
    }
    SL_FUZZ_CHECK(m.n_stores >= 1 && m.n_stores <= 16);
    for (uint32_t i = 0; i < m.n_stores; i++) {
        s_strv_in_frame(&m.stores[i]);
        s_print(&m.stores[i]);
    }
    s_strv_in_frame(&m.password);
    s_print(&m.password);
    s_welcome_round_trip(&m);
}

// An item's inputs as run.c's s_inputs_read reads them: whole triples,
// each value decoded as the executor decodes it.
static void
s_item_inputs(const sl__task_item *t)
{
    sl__mpr r;
    uint32_t n;
    s_in_frame(t->inputs, t->inputs_len);
    SL_FUZZ_CHECK(t->inputs == t->arg + t->arg_len && t->inputs_len > 0);
    sl__mpr_init(&r, t->inputs, t->inputs_len);
    SL_FUZZ_CHECK(sl__mpr_array(&r, &n) == 0 && n % 3 == 0);
    for (uint32_t i = 0; i < n / 3; i++) {
        uint64_t job, index;
        const uint8_t *p;
        size_t len;
        SL_FUZZ_CHECK(sl__mpr_u64(&r, &job) == 0 &&
                      sl__mpr_u64(&r, &index) == 0);
        SL_FUZZ_CHECK(sl__mpr_skip(&r, s_lim->max_depth, &p, &len) == 0);
        s_worker_decode_arg(p, len);
    }
    SL_FUZZ_CHECK(sl__mpr_left(&r) == 0);
}

// An item packed again decodes to the same fields and bytes.
static void
s_item_round_trip(const sl__task_item *t)
{
    sl__mpw w;
    sl__mpr r;
    sl__task_item t2;
    char why[SL_ERRSTR_LEN];
    sl__mpw_init(&w);
    sl__msg_task_item(&w, t);
    sl__mpr_init(&r, w.buf.data, w.buf.size);
    SL_FUZZ_CHECK(sl__msg_task_item_decode(&r, s_lim, &t2, why) == SL_OK);
    SL_FUZZ_CHECK(sl__mpr_left(&r) == 0);
    SL_FUZZ_CHECK(t2.index == t->index && t2.attempt == t->attempt &&
                  t2.arg_len == t->arg_len &&
                  memcmp(t2.arg, t->arg, t->arg_len) == 0);
    SL_FUZZ_CHECK((t2.inputs == NULL) == (t->inputs == NULL) &&
                  t2.inputs_len == t->inputs_len);
    SL_FUZZ_CHECK(t->inputs == NULL ||
                  memcmp(t2.inputs, t->inputs, t->inputs_len) == 0);
    sl__mpw_fini(&w);
}

// s_on_tasks and s_item_new: each item's argument is copied out of the
// frame, then decoded by a slot (s_execute).
static void
s_on_tasks(sl__mpr *r)
{
    uint32_t n_groups;
    char why[SL_ERRSTR_LEN];
    if (sl__msg_tasks_decode(r, s_lim, &n_groups, why) != SL_OK) {
        SL_FUZZ_CHECK(sl__fuzz_errbuf_ok(why));
        return;
    }
    SL_FUZZ_CHECK(n_groups <= s_lim->max_tasks);
    for (uint32_t g = 0; g < n_groups; g++) {
        sl__task_group group;
        if (sl__msg_task_group_decode(r, s_lim, &group, why) != SL_OK) {
            return;
        }
        SL_FUZZ_CHECK(group.n_tasks <= s_lim->max_tasks);
        s_strv_in_frame(&group.function);
        // The home a task gets as a C string (sl__run_task_init).
        s_strv_in_frame(&group.home);
        SL_FUZZ_CHECK(group.home.len <= SL_NODE_NAME_MAX &&
                      memchr(group.home.p, 0, group.home.len) == NULL);
        sl__strv shown = {group.function.p,
                          group.function.len < 255 ? group.function.len : 255};
        s_print(&shown);
        for (uint32_t i = 0; i < group.n_tasks; i++) {
            sl__task_item item;
            if (sl__msg_task_item_decode(r, s_lim, &item, why) != SL_OK) {
                return;
            }
            SL_FUZZ_CHECK(item.arg != NULL && item.arg_len > 0);
            s_in_frame(item.arg, item.arg_len);
            s_worker_decode_arg(item.arg, item.arg_len);
            if (item.inputs != NULL) {
                s_item_inputs(&item);
            } else {
                SL_FUZZ_CHECK(item.inputs_len == 0);
            }
            s_item_round_trip(&item);
        }
    }
}

static void
s_error_round_trip(const sl__error_msg *m)
{
    sl__mpw w;
    sl__mpr r;
    sl__error_msg m2;
    char why[SL_ERRSTR_LEN];
    // sl__msg_error takes a C string: a text with a NUL ends there.
    char text[SL_ERRSTR_LEN];
    sl__strv cut = {m->text.p, m->text.len < sizeof(text) - 1
                                   ? m->text.len
                                   : (uint32_t) sizeof(text) - 1};
    memcpy(text, cut.p, cut.len);
    text[cut.len] = '\0';
    cut.len = (uint32_t) strlen(text);
    sl__mpw_init(&w);
    sl__msg_error(&w, (sl_err) m->code, text, m->job);
    s_reopen(&w, &r, SL_MSG_ERROR);
    SL_FUZZ_CHECK(sl__msg_error_decode(&r, &m2, why) == SL_OK);
    SL_FUZZ_CHECK(sl__mpr_left(&r) == 0);
    SL_FUZZ_CHECK(m2.code == m->code && m2.job == m->job &&
                  s_same_strv(&m2.text, &cut));
    sl__mpw_fini(&w);
}

static void
s_on_error(sl__mpr *r)
{
    sl__error_msg m;
    char why[SL_ERRSTR_LEN];
    if (sl__msg_error_decode(r, &m, why) != SL_OK) {
        SL_FUZZ_CHECK(sl__fuzz_errbuf_ok(why));
        return;
    }
    s_strv_in_frame(&m.text);
    s_print(&m.text);
    (void) sl_strerror((sl_err) m.code); // the client reports the code
    s_error_round_trip(&m);
}

// sl__client_job_outcome in client/job.c: an OK outcome's value is decoded
// (no blob).
static void
s_client_decode_value(const sl__outcome *o)
{
    if (o->status != SL_WIRE_OK || o->value == NULL) {
        return;
    }
    sl_value *v = NULL;
    char errbuf[SL_ERRSTR_LEN];
    sl_err rv =
        sl__value_decode_buf(o->value, o->value_len, s_lim, NULL, &v, errbuf);
    SL_FUZZ_CHECK((rv == SL_OK) == (v != NULL));
    SL_FUZZ_CHECK(sl__fuzz_errbuf_ok(errbuf));
    sl_value_destroy(&v);
}

static void
s_on_done(sl__mpr *r)
{
    uint64_t job;
    uint32_t n;
    char why[SL_ERRSTR_LEN];
    if (sl__msg_done_decode(r, s_lim, &job, &n, why) != SL_OK) {
        SL_FUZZ_CHECK(sl__fuzz_errbuf_ok(why));
        return;
    }
    SL_FUZZ_CHECK(n <= s_lim->max_tasks);
    for (uint32_t i = 0; i < n; i++) {
        sl__outcome o;
        if (!s_outcome(r, false, &o)) {
            return;
        }
        s_client_decode_value(&o);
    }
}

static void
s_on_status_reply(sl__mpr *r)
{
    sl__status s, s2;
    sl__mpw w;
    sl__mpr r2;
    char why[SL_ERRSTR_LEN];
    if (sl__msg_status_reply_decode(r, &s, why) != SL_OK) {
        SL_FUZZ_CHECK(sl__fuzz_errbuf_ok(why));
        return;
    }
    // What a client read, a scheduler could have sent: a fixed point.
    sl__mpw_init(&w);
    sl__msg_status_reply(&w, &s);
    s_reopen(&w, &r2, SL_MSG_STATUS_REPLY);
    SL_FUZZ_CHECK(sl__msg_status_reply_decode(&r2, &s2, why) == SL_OK);
    SL_FUZZ_CHECK(sl__mpr_left(&r2) == 0);
    SL_FUZZ_CHECK(memcmp(&s, &s2, sizeof(s)) == 0);
    sl__mpw_fini(&w);
}

// ---------------------------------------------------------------------

static void
s_dispatch(uint32_t type, uint32_t nfields, sl__mpr *r)
{
    switch (type) {
    case SL_MSG_HELLO:
        s_on_hello(r);
        break;
    case SL_MSG_SUBMIT:
        s_on_submit(r, nfields);
        break;
    case SL_MSG_CANCEL:
        s_on_u64(r);
        break;
    case SL_MSG_RELEASE:
        s_on_release(r);
        break;
    case SL_MSG_READY:
        s_on_ready(r);
        break;
    case SL_MSG_RESULT:
        s_on_result(r);
        break;
    case SL_MSG_WELCOME:
        s_on_welcome(r);
        break;
    case SL_MSG_TASKS:
        s_on_tasks(r);
        break;
    case SL_MSG_ERROR:
        s_on_error(r);
        break;
    case SL_MSG_DONE:
        s_on_done(r);
        break;
    case SL_MSG_STATUS_REPLY:
        s_on_status_reply(r);
        break;
    default: // STATUS, BYE, HEARTBEAT, ACCEPTED, SHUTDOWN: no fields read
        break;
    }
}

// Handle the frame at s_lo as every receiver of its type would.
static void
s_handle(void)
{
    sl__mpr r;
    uint32_t type, nfields;
    char why[SL_ERRSTR_LEN];
    sl__mpr_init(&r, s_lo, (size_t) (s_hi - s_lo));
    sl_err rv = sl__msg_open(&r, &type, &nfields, why);
    // The answer to a bad message names its type (s_on_worker_msg).
    char answer[128];
    sl__fmt(answer, sizeof(answer), "unexpected message type %u (%s)", type,
            sl__msg_type_name(type));
    if (rv != SL_OK) {
        SL_FUZZ_CHECK(rv == SL_EPROTO && sl__fuzz_errbuf_ok(why));
        return;
    }
    SL_FUZZ_CHECK(r.p > s_lo && r.p <= s_hi && r.end == s_hi);
    s_dispatch(type, nfields, &r);
    SL_FUZZ_CHECK(r.p >= s_lo && r.p <= s_hi && r.end == s_hi);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_lo = data;
    s_hi = data + size;
    s_lim = &sl__limits_default;
    s_handle();
    s_lim = &s_tight;
    s_handle();
    return 0;
}
