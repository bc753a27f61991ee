// msg.c - encoders and decoders of every wire message.
// SPDX-License-Identifier: MIT
//
// Design notes. Encoders pack into an sl__mpw and cannot fail (msgpack-c's
// sbuffer grows as needed). Decoders read with the bounds-checked sl__mpr,
// check each field's type, and fill an errbuf naming the field that was
// wrong; they never allocate.
#include "msg.h"

#include <string.h>

const char *
sl__msg_type_name(uint32_t type)
{
    switch (type) {
    case SL_MSG_HELLO:
        return "HELLO";
    case SL_MSG_SUBMIT:
        return "SUBMIT";
    case SL_MSG_CANCEL:
        return "CANCEL";
    case SL_MSG_STATUS:
        return "STATUS";
    case SL_MSG_BYE:
        return "BYE";
    case SL_MSG_HEARTBEAT:
        return "HEARTBEAT";
    case SL_MSG_RELEASE:
        return "RELEASE";
    case SL_MSG_WELCOME:
        return "WELCOME";
    case SL_MSG_ACCEPTED:
        return "ACCEPTED";
    case SL_MSG_DONE:
        return "DONE";
    case SL_MSG_STATUS_REPLY:
        return "STATUS_REPLY";
    case SL_MSG_ERROR:
        return "ERROR";
    case SL_MSG_READY:
        return "READY";
    case SL_MSG_RESULT:
        return "RESULT";
    case SL_MSG_TASKS:
        return "TASKS";
    case SL_MSG_SHUTDOWN:
        return "SHUTDOWN";
    }
    return "unknown";
}

static sl_err
s_bad(char *errbuf, const char *what)
{
    sl__fmt(errbuf, SL_ERRSTR_LEN, "malformed message: %s", what);
    return SL_EPROTO;
}

static int
s_strv(sl__mpr *r, sl__strv *s)
{
    return sl__mpr_str(r, &s->p, &s->len);
}

// A string or nil (for an absent one).
static int
s_opt_strv(sl__mpr *r, sl__strv *s)
{
    if (sl__mpr_nil(r) == 0) {
        s->p = "";
        s->len = 0;
        return 0;
    }
    return s_strv(r, s);
}

sl_err
sl__msg_open(sl__mpr *r, uint32_t *type, uint32_t *nfields, char *errbuf)
{
    uint32_t n, version;
    *type = 0;
    if (sl__mpr_array(r, &n) != 0 || n < 2) {
        return s_bad(errbuf, "not an array of at least 2");
    }
    if (sl__mpr_u32(r, &version) != 0) {
        return s_bad(errbuf, "version is not an integer");
    }
    if (sl__mpr_u32(r, type) != 0) {
        return s_bad(errbuf, "type is not an integer");
    }
    if (version != SL_PROTOCOL_VERSION) {
        sl__fmt(errbuf, SL_ERRSTR_LEN,
                "unsupported protocol version %u (want %u)", version,
                SL_PROTOCOL_VERSION);
        return SL_EPROTO;
    }
    *nfields = n - 2;
    return SL_OK;
}

void
sl__msg_begin(sl__mpw *w, sl__msg_type type, uint32_t nfields)
{
    msgpack_pack_array(&w->pk, 2 + nfields);
    msgpack_pack_uint32(&w->pk, SL_PROTOCOL_VERSION);
    msgpack_pack_uint32(&w->pk, type);
}

void
sl__msg_hello(sl__mpw *w, const char *name, uint32_t pid)
{
    sl__msg_begin(w, SL_MSG_HELLO, 2);
    sl__mpw_str(w, name);
    msgpack_pack_uint32(&w->pk, pid);
}

void
sl__msg_welcome(sl__mpw *w, const sl__welcome *m)
{
    sl__msg_begin(w, SL_MSG_WELCOME, 5);
    msgpack_pack_uint64(&w->pk, m->session);
    msgpack_pack_uint32(&w->pk, m->heartbeat_ms);
    msgpack_pack_array(&w->pk, m->n_stores);
    for (uint32_t i = 0; i < m->n_stores; i++) {
        sl__mpw_strn(w, m->stores[i].p, m->stores[i].len);
    }
    sl__mpw_strn(w, m->password.p, m->password.len);
    msgpack_pack_uint32(&w->pk, m->inline_max);
}

sl_err
sl__msg_welcome_decode(sl__mpr *r, sl__welcome *m, char *errbuf)
{
    if (sl__mpr_u64(r, &m->session) != 0 ||
        sl__mpr_u32(r, &m->heartbeat_ms) != 0) {
        return s_bad(errbuf, "WELCOME session or heartbeat");
    }
    if (sl__mpr_array(r, &m->n_stores) != 0 || m->n_stores == 0 ||
        m->n_stores > 16) {
        return s_bad(errbuf, "WELCOME stores (1 to 16 expected)");
    }
    for (uint32_t i = 0; i < m->n_stores; i++) {
        if (s_strv(r, &m->stores[i]) != 0) {
            return s_bad(errbuf, "WELCOME store address");
        }
    }
    if (s_strv(r, &m->password) != 0 || sl__mpr_u32(r, &m->inline_max) != 0) {
        return s_bad(errbuf, "WELCOME password or inline_max");
    }
    return SL_OK;
}

void
sl__msg_resubmit_begin(sl__mpw *w, uint64_t job, const char *function,
                       uint64_t total, uint64_t first, const sl__job_opts *opts,
                       const uint8_t *ended, uint32_t n_args, bool deps)
{
    sl__msg_begin(w, SL_MSG_SUBMIT, deps ? 7 : 6);
    msgpack_pack_uint64(&w->pk, job);
    sl__mpw_str(w, function);
    msgpack_pack_uint64(&w->pk, total);
    msgpack_pack_uint64(&w->pk, first);
    msgpack_pack_array(&w->pk, opts->flags != 0 ? 5 : ended != NULL ? 4 : 3);
    msgpack_pack_uint32(&w->pk, opts->time_limit_ms);
    msgpack_pack_uint32(&w->pk, opts->max_attempts);
    msgpack_pack_uint32(&w->pk, opts->priority);
    if (ended != NULL) {
        sl__mpw_bin(w, ended, ((size_t) n_args + 7) / 8);
    } else if (opts->flags != 0) {
        msgpack_pack_nil(&w->pk);
    }
    if (opts->flags != 0) {
        msgpack_pack_uint32(&w->pk, opts->flags);
    }
    msgpack_pack_array(&w->pk, n_args);
}

void
sl__msg_submit_begin(sl__mpw *w, uint64_t job, const char *function,
                     uint64_t total, uint64_t first, const sl__job_opts *opts,
                     uint32_t n_args)
{
    sl__msg_resubmit_begin(w, job, function, total, first, opts, NULL, n_args,
                           false);
}

sl_err
sl__msg_submit_decode(sl__mpr *r, const sl__limits *lim, sl__submit *m,
                      char *errbuf)
{
    uint32_t n;
    if (sl__mpr_u64(r, &m->job) != 0 || m->job == 0) {
        return s_bad(errbuf, "SUBMIT job id");
    }
    if (s_strv(r, &m->function) != 0 || m->function.len == 0 ||
        m->function.len > 255) {
        return s_bad(errbuf, "SUBMIT function name (1 to 255 bytes)");
    }
    if (sl__mpr_u64(r, &m->total) != 0 || sl__mpr_u64(r, &m->first) != 0) {
        return s_bad(errbuf, "SUBMIT total or first");
    }
    uint32_t ended_len = 0;
    m->ended = NULL;
    m->opts.flags = 0;
    if (sl__mpr_array(r, &n) != 0 || n < 3 || n > 5 ||
        sl__mpr_u32(r, &m->opts.time_limit_ms) != 0 ||
        sl__mpr_u32(r, &m->opts.max_attempts) != 0 ||
        sl__mpr_u32(r, &m->opts.priority) != 0) {
        return s_bad(errbuf, "SUBMIT options");
    }
    if (n >= 4 && sl__mpr_nil(r) != 0 &&
        sl__mpr_bin(r, &m->ended, &ended_len) != 0) {
        return s_bad(errbuf, "SUBMIT ended bitmap");
    }
    if (n == 5 && sl__mpr_u32(r, &m->opts.flags) != 0) {
        return s_bad(errbuf, "SUBMIT flags");
    }
    if (sl__mpr_array(r, &m->n_args) != 0) {
        return s_bad(errbuf, "SUBMIT args");
    }
    if (m->ended != NULL && ended_len != ((size_t) m->n_args + 7) / 8) {
        return s_bad(errbuf, "SUBMIT ended bitmap (one bit per task)");
    }
    if (m->n_args > lim->max_tasks) {
        sl__fmt(errbuf, SL_ERRSTR_LEN,
                "SUBMIT of %u tasks, more than the limit of %u", m->n_args,
                lim->max_tasks);
        return SL_ELIMIT;
    }
    if (m->total == 0 || m->total > lim->max_job_tasks) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "job of %llu tasks: must be 1 to %llu",
                (unsigned long long) m->total,
                (unsigned long long) lim->max_job_tasks);
        return SL_ELIMIT;
    }
    if (m->first > m->total || m->n_args > m->total - m->first) {
        return s_bad(errbuf, "SUBMIT chunk beyond the job's total");
    }
    m->args = *r;
    return SL_OK;
}

sl_err
sl__msg_deps_entry(sl__mpr *r, uint32_t max, uint32_t *n, sl__mpr *list,
                   char *errbuf)
{
    uint32_t len;
    *n = 0;
    if (sl__mpr_nil(r) == 0) {
        return SL_OK;
    }
    if (sl__mpr_array(r, &len) != 0 || len % 2 != 0) {
        return s_bad(errbuf, "SUBMIT deps entry (nil, or [job, index, ...])");
    }
    if (len / 2 > max) {
        sl__fmt(errbuf, SL_ERRSTR_LEN,
                "a task names %u futures, more than the limit of %u", len / 2,
                max);
        return SL_ELIMIT;
    }
    *list = *r;
    // Step r past the pairs; sl__msg_dep_next reads them again from list.
    for (uint32_t i = 0; i < len; i++) {
        uint64_t x;
        if (sl__mpr_u64(r, &x) != 0) {
            return s_bad(errbuf, "SUBMIT deps entry (job and index are u64s)");
        }
    }
    *n = len / 2;
    return SL_OK;
}

int
sl__msg_dep_next(sl__mpr *list, uint64_t *job, uint64_t *index)
{
    return sl__mpr_u64(list, job) != 0 || sl__mpr_u64(list, index) != 0 ? -1
                                                                        : 0;
}

void
sl__msg_release(sl__mpw *w, const uint64_t *jobs, uint32_t n)
{
    sl__msg_begin(w, SL_MSG_RELEASE, 1);
    msgpack_pack_array(&w->pk, n);
    for (uint32_t i = 0; i < n; i++) {
        msgpack_pack_uint64(&w->pk, jobs[i]);
    }
}

sl_err
sl__msg_release_decode(sl__mpr *r, const sl__limits *lim, uint32_t *n,
                       char *errbuf)
{
    if (sl__mpr_array(r, n) != 0 || *n > lim->max_tasks) {
        return s_bad(errbuf, "RELEASE jobs");
    }
    return SL_OK;
}

void
sl__msg_accepted(sl__mpw *w, uint64_t job, uint64_t first, uint32_t count)
{
    sl__msg_begin(w, SL_MSG_ACCEPTED, 3);
    msgpack_pack_uint64(&w->pk, job);
    msgpack_pack_uint64(&w->pk, first);
    msgpack_pack_uint32(&w->pk, count);
}

void
sl__msg_error(sl__mpw *w, sl_err code, const char *text, uint64_t job)
{
    sl__msg_begin(w, SL_MSG_ERROR, 3);
    msgpack_pack_uint32(&w->pk, (uint32_t) code);
    sl__mpw_str(w, text);
    msgpack_pack_uint64(&w->pk, job);
}

sl_err
sl__msg_error_decode(sl__mpr *r, sl__error_msg *m, char *errbuf)
{
    if (sl__mpr_u32(r, &m->code) != 0 || s_strv(r, &m->text) != 0 ||
        sl__mpr_u64(r, &m->job) != 0) {
        return s_bad(errbuf, "ERROR fields");
    }
    return SL_OK;
}

void
sl__msg_job(sl__mpw *w, sl__msg_type type, uint64_t job)
{
    sl__msg_begin(w, type, 1);
    msgpack_pack_uint64(&w->pk, job);
}

void
sl__msg_cancel_task(sl__mpw *w, uint64_t job, uint32_t index)
{
    sl__msg_begin(w, SL_MSG_CANCEL, 2);
    msgpack_pack_uint64(&w->pk, job);
    msgpack_pack_uint32(&w->pk, index);
}

void
sl__msg_empty(sl__mpw *w, sl__msg_type type)
{
    sl__msg_begin(w, type, 0);
}

sl_err
sl__msg_job_decode(sl__mpr *r, uint64_t *v, char *errbuf)
{
    if (sl__mpr_u64(r, v) != 0) {
        return s_bad(errbuf, "expected an unsigned integer");
    }
    return SL_OK;
}

void
sl__msg_ready(sl__mpw *w, const sl__ready *m)
{
    sl__msg_begin(w, SL_MSG_READY, 4);
    msgpack_pack_uint32(&w->pk, m->slots);
    msgpack_pack_uint32(&w->pk, m->prefetch);
    sl__mpw_strn(w, m->node.p, m->node.len);
    msgpack_pack_uint32(&w->pk, m->pid);
}

sl_err
sl__msg_ready_decode(sl__mpr *r, sl__ready *m, char *errbuf)
{
    if (sl__mpr_u32(r, &m->slots) != 0 || m->slots == 0 || m->slots > 4096 ||
        sl__mpr_u32(r, &m->prefetch) != 0 || m->prefetch > 4096) {
        return s_bad(errbuf, "READY slots (1 to 4096) or prefetch");
    }
    if (s_strv(r, &m->node) != 0 || sl__mpr_u32(r, &m->pid) != 0) {
        return s_bad(errbuf, "READY node or pid");
    }
    return SL_OK;
}

void
sl__msg_tasks_begin(sl__mpw *w, uint32_t n_groups)
{
    sl__msg_begin(w, SL_MSG_TASKS, 1);
    msgpack_pack_array(&w->pk, n_groups);
}

void
sl__msg_task_group(sl__mpw *w, uint64_t job, const char *function,
                   size_t function_len, uint32_t time_limit_ms,
                   const char *home, size_t home_len, uint32_t n_tasks)
{
    msgpack_pack_array(&w->pk, 5);
    msgpack_pack_uint64(&w->pk, job);
    sl__mpw_strn(w, function, function_len);
    msgpack_pack_uint32(&w->pk, time_limit_ms);
    sl__mpw_strn(w, home, home_len);
    msgpack_pack_array(&w->pk, n_tasks);
}

// A node name: a worker compares it with its own, and a task holds it as
// a C string, so it has no NUL.
bool
sl__msg_home_ok(const char *home, size_t home_len)
{
    return home_len == 0 ||
           (home_len <= SL_NODE_NAME_MAX && memchr(home, 0, home_len) == NULL);
}

void
sl__msg_task_item(sl__mpw *w, const sl__task_item *t)
{
    msgpack_pack_array(&w->pk, t->inputs != NULL ? 4 : 3);
    msgpack_pack_uint32(&w->pk, t->index);
    msgpack_pack_uint32(&w->pk, t->attempt);
    sl__mpw_raw(w, t->arg, t->arg_len);
    if (t->inputs != NULL) {
        sl__mpw_raw(w, t->inputs, t->inputs_len);
    }
}

sl_err
sl__msg_tasks_decode(sl__mpr *r, const sl__limits *lim, uint32_t *n_groups,
                     char *errbuf)
{
    if (sl__mpr_array(r, n_groups) != 0 || *n_groups > lim->max_tasks) {
        return s_bad(errbuf, "TASKS groups");
    }
    return SL_OK;
}

sl_err
sl__msg_task_group_decode(sl__mpr *r, const sl__limits *lim, sl__task_group *g,
                          char *errbuf)
{
    uint32_t n;
    if (sl__mpr_array(r, &n) != 0 || n != 5 || sl__mpr_u64(r, &g->job) != 0 ||
        s_strv(r, &g->function) != 0 ||
        sl__mpr_u32(r, &g->time_limit_ms) != 0 || s_strv(r, &g->home) != 0) {
        return s_bad(errbuf, "TASKS group header");
    }
    if (!sl__msg_home_ok(g->home.p, g->home.len)) {
        sl__fmt(errbuf, SL_ERRSTR_LEN,
                "malformed message: TASKS group home of %u bytes (a node "
                "name: at most %d, no NUL)",
                g->home.len, SL_NODE_NAME_MAX);
        return SL_EPROTO;
    }
    if (sl__mpr_array(r, &g->n_tasks) != 0 || g->n_tasks > lim->max_tasks) {
        return s_bad(errbuf, "TASKS group header");
    }
    return SL_OK;
}

// Step r past a TASKS item's inputs, [job, index, value, ...]: whole
// triples, each value skipped as an argument is. (Skipping the array
// whole would count it as a level of the values' nesting, and refuse a
// result of max_depth levels, which RESULT accepted.) The values are
// decoded where the task runs.
static int
s_inputs_skip(sl__mpr *r, const sl__limits *lim)
{
    uint32_t n;
    if (sl__mpr_array(r, &n) != 0 || n % 3 != 0) {
        return -1;
    }
    for (uint32_t i = 0; i < n / 3; i++) {
        uint64_t job, index;
        if (sl__mpr_u64(r, &job) != 0 || sl__mpr_u64(r, &index) != 0 ||
            sl__mpr_skip(r, lim->max_depth, NULL, NULL) != 0) {
            return -1;
        }
    }
    return 0;
}

sl_err
sl__msg_task_item_decode(sl__mpr *r, const sl__limits *lim, sl__task_item *t,
                         char *errbuf)
{
    uint32_t n;
    t->inputs = NULL;
    t->inputs_len = 0;
    if (sl__mpr_array(r, &n) != 0 || (n != 3 && n != 4) ||
        sl__mpr_u32(r, &t->index) != 0 || sl__mpr_u32(r, &t->attempt) != 0 ||
        sl__mpr_skip(r, lim->max_depth, &t->arg, &t->arg_len) != 0) {
        return s_bad(errbuf, "TASKS item");
    }
    if (n == 4) {
        const uint8_t *start = r->p;
        if (s_inputs_skip(r, lim) != 0) {
            return s_bad(errbuf, "TASKS item inputs");
        }
        t->inputs = start;
        t->inputs_len = (size_t) (r->p - start);
    }
    return SL_OK;
}

void
sl__msg_result_begin(sl__mpw *w, uint32_t n)
{
    sl__msg_begin(w, SL_MSG_RESULT, 1);
    msgpack_pack_array(&w->pk, n);
}

void
sl__msg_outcome(sl__mpw *w, const sl__outcome *o, bool with_job)
{
    msgpack_pack_array(&w->pk, with_job ? 12 : 11);
    if (with_job) {
        msgpack_pack_uint64(&w->pk, o->job);
    }
    msgpack_pack_uint32(&w->pk, o->index);
    msgpack_pack_uint32(&w->pk, o->attempt);
    msgpack_pack_uint32(&w->pk, o->status);
    if (o->value != NULL && o->value_len > 0) {
        sl__mpw_raw(w, o->value, o->value_len);
    } else {
        msgpack_pack_nil(&w->pk);
    }
    if (o->error.len > 0) {
        sl__mpw_strn(w, o->error.p, o->error.len);
    } else {
        msgpack_pack_nil(&w->pk);
    }
    msgpack_pack_double(&w->pk, o->stats.start_s);
    msgpack_pack_double(&w->pk, o->stats.end_s);
    msgpack_pack_double(&w->pk, o->stats.flops);
    msgpack_pack_uint64(&w->pk, o->stats.bytes_read);
    msgpack_pack_uint64(&w->pk, o->stats.bytes_written);
    msgpack_pack_uint64(&w->pk, o->stats.bytes_mapped);
}

sl_err
sl__msg_result_decode(sl__mpr *r, const sl__limits *lim, uint32_t *n,
                      char *errbuf)
{
    if (sl__mpr_array(r, n) != 0 || *n > lim->max_tasks) {
        return s_bad(errbuf, "RESULT list");
    }
    return SL_OK;
}

sl_err
sl__msg_outcome_decode(sl__mpr *r, const sl__limits *lim, bool with_job,
                       sl__outcome *o, char *errbuf)
{
    uint32_t n;
    o->job = 0;
    if (sl__mpr_array(r, &n) != 0 || n != (with_job ? 12u : 11u)) {
        return s_bad(errbuf, "outcome is not an array of the right size");
    }
    if (with_job && sl__mpr_u64(r, &o->job) != 0) {
        return s_bad(errbuf, "outcome job");
    }
    if (sl__mpr_u32(r, &o->index) != 0 || sl__mpr_u32(r, &o->attempt) != 0 ||
        sl__mpr_u32(r, &o->status) != 0 || o->status < SL_WIRE_OK ||
        o->status > SL_WIRE_LOST) {
        return s_bad(errbuf, "outcome index, attempt or status");
    }
    if (sl__mpr_skip(r, lim->max_depth, &o->value, &o->value_len) != 0) {
        return s_bad(errbuf, "outcome value");
    }
    if (s_opt_strv(r, &o->error) != 0) {
        return s_bad(errbuf, "outcome error text");
    }
    if (sl__mpr_f64(r, &o->stats.start_s) != 0 ||
        sl__mpr_f64(r, &o->stats.end_s) != 0 ||
        sl__mpr_f64(r, &o->stats.flops) != 0 ||
        sl__mpr_u64(r, &o->stats.bytes_read) != 0 ||
        sl__mpr_u64(r, &o->stats.bytes_written) != 0 ||
        sl__mpr_u64(r, &o->stats.bytes_mapped) != 0) {
        return s_bad(errbuf, "outcome statistics");
    }
    return SL_OK;
}

void
sl__msg_done_begin(sl__mpw *w, uint64_t job, uint32_t n)
{
    sl__msg_begin(w, SL_MSG_DONE, 2);
    msgpack_pack_uint64(&w->pk, job);
    msgpack_pack_array(&w->pk, n);
}

sl_err
sl__msg_done_decode(sl__mpr *r, const sl__limits *lim, uint64_t *job,
                    uint32_t *n, char *errbuf)
{
    if (sl__mpr_u64(r, job) != 0 || sl__mpr_array(r, n) != 0 ||
        *n > lim->max_tasks) {
        return s_bad(errbuf, "DONE job or list");
    }
    return SL_OK;
}

static void
s_kv_u64(sl__mpw *w, const char *k, uint64_t v)
{
    sl__mpw_str(w, k);
    msgpack_pack_uint64(&w->pk, v);
}

static void
s_kv_f64(sl__mpw *w, const char *k, double v)
{
    sl__mpw_str(w, k);
    msgpack_pack_double(&w->pk, v);
}

void
sl__msg_status_reply(sl__mpw *w, const sl__status *s)
{
    sl__msg_begin(w, SL_MSG_STATUS_REPLY, 1);
    msgpack_pack_map(&w->pk, 11);
    s_kv_u64(w, "workers", s->workers);
    s_kv_u64(w, "slots", s->slots);
    s_kv_u64(w, "busy", s->busy);
    s_kv_u64(w, "jobs", s->jobs);
    s_kv_u64(w, "queued", s->queued);
    s_kv_u64(w, "running", s->running);
    s_kv_u64(w, "done", s->done);
    s_kv_u64(w, "waiting", s->waiting);
    s_kv_f64(w, "tasks_per_s", s->tasks_per_s);
    s_kv_f64(w, "gflops", s->gflops);
    s_kv_f64(w, "uptime_s", s->uptime_s);
}

// A count from a peer's number: NaN and negatives give 0, and too large
// gives max (converting a double out of its type's range is undefined).
static uint64_t
s_count(double d, uint64_t max)
{
    if (!(d > 0)) {
        return 0;
    }
    return d >= (double) max ? max : (uint64_t) d;
}

sl_err
sl__msg_status_reply_decode(sl__mpr *r, sl__status *s, char *errbuf)
{
    uint32_t n;
    memset(s, 0, sizeof(*s));
    if (sl__mpr_map(r, &n) != 0) {
        return s_bad(errbuf, "STATUS_REPLY is not a map");
    }
    for (uint32_t i = 0; i < n; i++) {
        sl__strv k;
        double d;
        if (s_strv(r, &k) != 0 || sl__mpr_f64(r, &d) != 0) {
            return s_bad(errbuf, "STATUS_REPLY entry");
        }
#define S_FIELD(name, value)                                        \
    if (k.len == strlen(#name) && memcmp(k.p, #name, k.len) == 0) { \
        s->name = (value);                                          \
    }
        S_FIELD(workers, (uint32_t) s_count(d, UINT32_MAX))
        S_FIELD(slots, (uint32_t) s_count(d, UINT32_MAX))
        S_FIELD(busy, (uint32_t) s_count(d, UINT32_MAX))
        S_FIELD(jobs, (uint32_t) s_count(d, UINT32_MAX))
        S_FIELD(queued, s_count(d, UINT64_MAX))
        S_FIELD(running, s_count(d, UINT64_MAX))
        S_FIELD(done, s_count(d, UINT64_MAX))
        S_FIELD(waiting, s_count(d, UINT64_MAX))
        S_FIELD(tasks_per_s, d)
        S_FIELD(gflops, d)
        S_FIELD(uptime_s, d)
#undef S_FIELD
    }
    return SL_OK;
}
