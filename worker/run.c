// run.c - running one task to its outcome.
// SPDX-License-Identifier: MIT
//
// The steps, each of which may end the task with an error instead: find
// the kernel (built in, or a user module loaded now), decode the argument
// (zero-copy: ndarrays may point into t->arg), replace every future in it
// by the result it names (from t->inputs, which the scheduler sent with
// the task: the result inline, or a ref) and every ref by the object it
// names, run the kernel, and encode its result: inline when
// it is at most inline_max bytes, else stored under the task's result key
// with SET NX (the first result of a task wins) and sent as a ref.
#include "run.h"

#include "cache.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Fill t's task fields from g and item, keeping its argument buffer.
static void
s_task_set(sl__run_task *t, const sl__task_group *g, const sl__task_item *item)
{
    uint8_t *buf = t->arg_buf;
    size_t cap = t->arg_cap;
    memset(t, 0, sizeof(*t));
    t->arg_buf = buf;
    t->arg_cap = cap;
    t->job = g->job;
    t->index = item->index;
    t->attempt = item->attempt;
    t->time_limit_ms = g->time_limit_ms;
    size_t n = g->function.len < sizeof(t->function) - 1
                   ? g->function.len
                   : sizeof(t->function) - 1;
    memcpy(t->function, g->function.p, n);
    t->function[n] = '\0';
    // A group's home has at most SL_NODE_NAME_MAX bytes and no NUL.
    n = g->home.len < sizeof(t->home) - 1 ? g->home.len : sizeof(t->home) - 1;
    memcpy(t->home, g->home.p, n);
    t->home[n] = '\0';
    t->arg_len = item->arg_len;
    t->inputs_len = item->inputs_len;
}

void
sl__run_task_init(sl__run_task *t, const sl__task_group *g,
                  const sl__task_item *item)
{
    // The inputs go right after the argument, as in a batch frame: one
    // buffer holds both, and the values decoded from either point into it.
    size_t need = item->arg_len + item->inputs_len;
    need = need > 0 ? need : 1;
    if (t->arg_buf == NULL || t->arg_cap < need) {
        free(t->arg_buf);
        t->arg_buf = sl__xmalloc(need);
        t->arg_cap = need;
    }
    s_task_set(t, g, item);
    memcpy(t->arg_buf, item->arg, item->arg_len);
    if (item->inputs_len > 0) {
        memcpy(t->arg_buf + item->arg_len, item->inputs, item->inputs_len);
        t->inputs = t->arg_buf + item->arg_len;
    }
    t->arg = t->arg_buf;
}

void
sl__run_task_init_view(sl__run_task *t, const sl__task_group *g,
                       const sl__task_item *item)
{
    s_task_set(t, g, item);
    t->arg = item->arg;
    t->inputs = item->inputs;
}

void
sl__run_task_clear(sl__run_task *t)
{
    free(t->value);
    free(t->error);
    t->value = NULL;
    t->error = NULL;
    t->arg = NULL;
    t->arg_len = 0;
    t->inputs = NULL;
    t->inputs_len = 0;
    if (t->arg_cap > SL_RUN_ARG_KEEP) {
        free(t->arg_buf);
        t->arg_buf = NULL;
        t->arg_cap = 0;
    }
}

void
sl__run_task_fini(sl__run_task *t)
{
    sl__run_task_clear(t);
    free(t->arg_buf);
    t->arg_buf = NULL;
    t->arg_cap = 0;
}

void
sl__run_task_fail(sl__run_task *t, uint32_t status, const char *fmt, ...)
{
    char text[SL_TASK_ERROR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    t->status = status;
    free(t->error);
    t->error = sl__xstrdup(text);
}

void
sl__run_task_outcome(const sl__run_task *t, sl__outcome *o)
{
    memset(o, 0, sizeof(*o));
    o->job = t->job;
    o->index = t->index;
    o->attempt = t->attempt;
    o->status = t->status;
    o->value = t->status == SL_WIRE_OK ? t->value : NULL;
    o->value_len = t->status == SL_WIRE_OK ? t->value_len : 0;
    o->error.p = t->error != NULL ? t->error : "";
    o->error.len = t->error != NULL ? (uint32_t) strlen(t->error) : 0;
    o->stats = t->stats;
}

static sl__store *
s_store(sl__runner *self, char *errbuf)
{
    if (self->store == NULL) {
        sl__store_connect(&self->store, self->store_opts, errbuf);
    }
    return self->store;
}

// Objects, over the store and the node's tier (opened on first use; a
// tier that cannot be opened is a warning, and the store serves alone).
static sl__node *
s_node(sl__runner *self, char *errbuf)
{
    sl__store *store = s_store(self, errbuf);
    if (store == NULL) {
        return NULL;
    }
    if (!self->node_ready) {
        if (self->tier == NULL && self->tier_node != NULL &&
            self->tier_node[0] != '\0') {
            sl__tier_opts o = {.cluster = self->tier_cluster,
                               .node = self->tier_node};
            char tbuf[SL_ERRSTR_LEN];
            if (sl__tier_open(&self->tier, &o, tbuf) != SL_OK) {
                sl__log_warn("no object tier: %s", tbuf);
            }
        }
        if (sl__node_init(&self->node, store, self->tier) != SL_OK) {
            sl__strlcpy(errbuf, self->node.errstr, SL_ERRSTR_LEN);
            return NULL;
        }
        self->node_ready = true;
    }
    return &self->node;
}

// The cache's tier mappings this task used, to unpin when it ends: the
// cache keeps them between tasks without their files' flocks, so that a
// released input's pages can go to the tier's pool (store/tier.h). One
// past SL_RUN_PINS stays pinned: safe, only not poolable.
static void
s_pin_note(sl__runner *self, sl__blob *blob)
{
    for (int i = 0; i < self->n_pins; i++) {
        if (self->pins[i] == blob) {
            return;
        }
    }
    if (self->n_pins < SL_RUN_PINS) {
        sl__blob_retain(blob); // the cache may drop it before the end
        self->pins[self->n_pins++] = blob;
    }
}

// Unpin what the task used, once its values are gone: the cache's
// references are the only ones left (and a blob the cache dropped
// meanwhile goes with our reference).
static void
s_unpin_all(sl__runner *self)
{
    for (int i = 0; i < self->n_pins; i++) {
        sl__tier_blob_unpin(self->pins[i]);
        sl__blob_release(&self->pins[i]);
    }
    self->n_pins = 0;
}

// A task's inputs, sorted by (job, index) to be looked up.
typedef struct {
    uint64_t job;     // the task whose result it is
    uint64_t index;   //
    const uint8_t *p; // the result's raw msgpack, in t->inputs
    size_t len;       //
} s_input;

typedef struct {
    s_input *in;    // n of them, sorted; NULL: none
    size_t n;       //
    sl__blob *blob; // the buffer they lie in (values point into it)
    int depth;      // futures resolved inside futures' values, so far
} s_inputs;

static int
s_input_cmp(const void *a, const void *b)
{
    const s_input *x = a, *y = b;
    if (x->job != y->job) {
        return x->job < y->job ? -1 : 1;
    }
    return x->index < y->index ? -1 : x->index > y->index;
}

// Read t->inputs ([job, index, value, ...]) into in, sorted.
static sl_err
s_inputs_read(const sl__run_task *t, const sl__limits *lim, s_inputs *in,
              char *errbuf)
{
    sl__mpr r;
    uint32_t n;
    if (t->inputs == NULL) {
        return SL_OK;
    }
    sl__mpr_init(&r, t->inputs, t->inputs_len);
    if (sl__mpr_array(&r, &n) != 0 || n % 3 != 0) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "malformed task inputs");
        return SL_EPROTO;
    }
    in->n = n / 3;
    in->in = calloc(in->n > 0 ? in->n : 1, sizeof(*in->in));
    if (in->in == NULL) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "out of memory for %zu inputs", in->n);
        return SL_ENOMEM;
    }
    for (size_t i = 0; i < in->n; i++) {
        s_input *x = &in->in[i];
        if (sl__mpr_u64(&r, &x->job) != 0 || sl__mpr_u64(&r, &x->index) != 0 ||
            sl__mpr_skip(&r, lim->max_depth, &x->p, &x->len) != 0) {
            sl__fmt(errbuf, SL_ERRSTR_LEN, "malformed task input %zu", i);
            return SL_EPROTO;
        }
    }
    qsort(in->in, in->n, sizeof(*in->in), s_input_cmp);
    return SL_OK;
}

// Replace the future *v by the result it names, decoded from the task's
// inputs (a ref stays a ref, for the caller to fetch).
static sl_err
s_resolve_future(sl__runner *self, sl_value *v, s_inputs *in, char *errbuf)
{
    s_input key = {v->u.fut.job, v->u.fut.index, NULL, 0};
    const s_input *x =
        in->n > 0 ? bsearch(&key, in->in, in->n, sizeof(*in->in), s_input_cmp)
                  : NULL;
    if (x == NULL) {
        sl__fmt(errbuf, SL_ERRSTR_LEN,
                "the argument names job %016" PRIx64 " task %" PRIu64
                ", whose result did not come with the task",
                key.job, key.index);
        return SL_EPROTO;
    }
    sl_value *got = NULL;
    char dbuf[SL_ERRSTR_LEN];
    if (sl__value_decode_buf(x->p, x->len, &self->limits, in->blob, &got,
                             dbuf) != SL_OK) {
        sl__fmt(errbuf, SL_ERRSTR_LEN,
                "the result of job %016" PRIx64 " task %" PRIu64
                " does not decode: %s",
                key.job, key.index, dbuf);
        return SL_EPROTO;
    }
    sl_value tmp = *v;
    *v = *got;
    *got = tmp;
    sl_value_destroy(&got);
    return SL_OK;
}

// Replace every future below *v by the result it names, and every ref by
// the value it names, fetched from the node's tier or the store.
static sl_err
s_resolve_refs(sl__runner *self, sl_value *v, sl__run_task *t, s_inputs *in,
               char *errbuf)
{
    sl_err rv = SL_OK;
    if (v->type == SL_LIST) {
        for (size_t i = 0; i < v->u.list.n && rv == SL_OK; i++) {
            rv = s_resolve_refs(self, v->u.list.items[i], t, in, errbuf);
        }
        return rv;
    }
    if (v->type == SL_MAP) {
        for (size_t i = 0; i < v->u.map.n && rv == SL_OK; i++) {
            rv = s_resolve_refs(self, v->u.map.vals[i], t, in, errbuf);
        }
        return rv;
    }
    if (v->type == SL_FUTURE) {
        // A result is a kernel's value: it holds no future, unless a peer
        // forged one; bounded all the same.
        if (in->depth >= self->limits.max_depth) {
            sl__fmt(errbuf, SL_ERRSTR_LEN, "futures nested too deep");
            return SL_ELIMIT;
        }
        if ((rv = s_resolve_future(self, v, in, errbuf)) != SL_OK) {
            return rv;
        }
        in->depth++;
        rv = s_resolve_refs(self, v, t, in, errbuf); // its refs, if any
        in->depth--;
        return rv;
    }
    if (v->type != SL_REF) {
        return SL_OK;
    }
    sl__node *node = s_node(self, errbuf);
    if (node == NULL) {
        return SL_ESTORE;
    }
    // From the input cache if this slot fetched (or mapped) the object
    // before, else from the node's tier (mapped in place) or the store.
    sl__blob *blob = NULL;
    size_t off, len;
    bool copied = false;
    bool hit = self->cache != NULL &&
               sl__cache_get(self->cache, v->u.ref.key, &blob, &off, &len);
    // A mapping the cache kept unpinned is pinned again, unless its file
    // was retired meanwhile (the object was released: fetch it again, and
    // the new blob replaces the entry).
    if (hit && node->tier != NULL &&
        !sl__tier_blob_repin(node->tier, blob, v->u.ref.key)) {
        hit = false;
    }
    if (hit) {
        sl__blob_retain(blob);
        s_pin_note(self, blob);
    } else if ((rv = sl__node_get_blob(node, v, &self->limits, &blob, &off,
                                       &len, &copied)) != SL_OK) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot fetch %s: %s", v->u.ref.key,
                node->errstr);
        return rv;
    }
    sl_value *got = NULL;
    rv = sl__store_decode_blob(node->store, v, &self->limits, blob, off, len,
                               &got);
    if (rv == SL_OK && !hit) {
        // Bytes copied here count as read, a mapping as mapped; a hit (the
        // slot's input cache) moved and mapped nothing new.
        if (copied) {
            t->stats.bytes_read += v->u.ref.size;
        } else {
            t->stats.bytes_mapped += v->u.ref.size;
        }
        if (self->cache != NULL) {
            sl__cache_put(self->cache, v->u.ref.key, blob, off, len);
            s_pin_note(self, blob);
        }
    }
    sl__blob_release(&blob);
    if (rv != SL_OK) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot decode %s: %s", v->u.ref.key,
                sl__store_errstr(node->store));
        return rv;
    }
    // Swap the fetched value into the ref's node, then free the ref.
    sl_value tmp = *v;
    *v = *got;
    *got = tmp;
    sl_value_destroy(&got);
    return SL_OK;
}

// Encode the task's result ref as its value.
static sl_err
s_set_ref_value(sl__run_task *t, const sl_value *ref)
{
    void *buf;
    size_t len;
    sl_err rv = ref != NULL ? sl__value_encode(ref, &buf, &len) : SL_ENOMEM;
    if (rv == SL_OK) {
        t->value = buf;
        t->value_len = len;
    }
    return rv;
}

// Where a result goes: the node's tier when the job's client is on this
// node (it maps the result in place), else the store.
static unsigned
s_result_flags(const sl__runner *self, const sl__run_task *t)
{
    char home[sizeof(t->home)];
    sl__tier_node_name(home, sizeof(home), t->home);
    bool here = self->tier_node != NULL && self->tier_node[0] != '\0' &&
                t->home[0] != '\0' && strcmp(home, self->tier_node) == 0;
    return SL_NODE_NX | (here ? 0 : SL_NODE_STORE);
}

// A large ndarray result goes from where its elements lie (to the store
// without a copy; into the tier with one).
static sl_err
s_store_array_result(sl__runner *self, sl__run_task *t, const sl_value *result,
                     char *errbuf)
{
    sl__node *node = s_node(self, errbuf);
    char key[SL_STORE_KEY_LEN];
    sl__store_result_key(key, t->job, t->index);
    sl_value *ref = NULL;
    if (node == NULL ||
        sl__node_put_value(node, key, result, s_result_flags(self, t), &ref) !=
            SL_OK) {
        if (node != NULL) {
            sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot store the result: %s",
                    node->errstr);
        }
        return SL_ESTORE;
    }
    t->stats.bytes_written += ref->u.ref.size;
    sl_err rv = s_set_ref_value(t, ref);
    sl_value_destroy(&ref);
    return rv;
}

static sl_err
s_store_result(sl__runner *self, sl__run_task *t, sl_value *result,
               char *errbuf)
{
    void *buf;
    size_t len;
    if (result->type == SL_NDARRAY && result->u.nd.nbytes >= self->inline_max &&
        result->u.nd.nbytes >= SL_ENCODE_SPLIT_MIN) {
        return s_store_array_result(self, t, result, errbuf);
    }
    sl_err rv = sl__value_encode(result, &buf, &len);
    if (rv != SL_OK) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot encode the result: %s",
                sl_strerror(rv));
        return rv;
    }
    t->stats.bytes_written += len;
    if (len <= self->inline_max) {
        t->value = buf;
        t->value_len = len;
        return SL_OK;
    }
    sl__node *node = s_node(self, errbuf);
    char key[SL_STORE_KEY_LEN];
    sl__store_result_key(key, t->job, t->index);
    sl_value *ref = NULL;
    if (node == NULL ||
        (rv = sl__node_put_encoded(node, key, buf, len, s_result_flags(self, t),
                                   &ref)) != SL_OK) {
        if (node != NULL) {
            sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot store the result: %s",
                    node->errstr);
        }
        free(buf);
        return SL_ESTORE;
    }
    free(buf);
    rv = s_set_ref_value(t, ref);
    sl_value_destroy(&ref);
    return rv;
}

static void
s_blob_keep(void *ctx, void *data)
{
    (void) ctx;
    (void) data; // the task owns the bytes
}

static void
s_run_kernel(sl__runner *self, sl__run_task *t, const sl_kernel_def *k,
             sl_value *args)
{
    sl_task kt;
    char errbuf[SL_ERRSTR_LEN];
    sl__task_init(&kt, t->job, t->index, t->attempt, args);
    // A result that will stay in the node's tier is made there: the
    // kernel's large arrays get shared memory, and the one it returns is
    // sealed where it is.
    sl__node *node = (s_result_flags(self, t) & SL_NODE_STORE) == 0
                         ? s_node(self, errbuf)
                         : NULL;
    if (node != NULL && node->tier != NULL) {
        sl__value_set_ndarray_alloc(sl__node_alloc_ndarray, node,
                                    SL_NODE_TIER_MIN);
    }
    t->stats.start_s = sl__wall();
    sl_err rv = sl__kernel_run(k, &kt);
    t->stats.end_s = sl__wall();
    sl__value_set_ndarray_alloc(NULL, NULL, 0);
    t->stats.flops = kt.flops;
    t->stats.bytes_read += kt.bytes_read;
    t->stats.bytes_written += kt.bytes_written;
    if (rv != SL_OK) {
        sl__run_task_fail(t, SL_WIRE_ERROR, "%s", kt.error);
    } else {
        sl_value *result = sl__task_take_result(&kt);
        if (result == NULL) {
            result = sl_value_new_nil();
        }
        if (s_store_result(self, t, result, errbuf) != SL_OK) {
            sl__run_task_fail(t, SL_WIRE_ERROR, "%s", errbuf);
        } else {
            t->status = SL_WIRE_OK;
        }
        sl_value_destroy(&result);
    }
    sl__task_fini(&kt);
}

// The loader's fetch: the module's bytes from the store, over this
// executor's own connection.
static sl_err
s_fetch_module(void *ctx, const char *hash, void **buf_out, size_t *len_out,
               char errbuf[SL_ERRSTR_LEN])
{
    sl__runner *self = ctx;
    char key[SL_STORE_KEY_LEN];
    sl__store *store = s_store(self, errbuf);
    if (store == NULL) {
        return SL_ESTORE;
    }
    sl__store_module_key(key, hash);
    sl_err rv = sl__store_get(store, key, -1, buf_out, len_out);
    if (rv != SL_OK && rv != SL_ENOTFOUND) {
        sl__strlcpy(errbuf, sl__store_errstr(store), SL_ERRSTR_LEN);
    }
    return rv;
}

// The kernel a task names: built in, or in a user module (loaded now if
// this executor has not loaded it yet).
static sl_err
s_find_kernel(sl__runner *self, const sl__run_task *t,
              const sl_kernel_def **out, char errbuf[SL_ERRSTR_LEN])
{
    if (sl__loader_is_module_function(t->function)) {
        return sl__loader_find(self->loader, t->function, s_fetch_module, self,
                               out, errbuf);
    }
    if ((*out = sl__registry_find(self->registry, t->function)) == NULL) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "unknown function '%s'", t->function);
        return SL_ENOTFOUND;
    }
    return SL_OK;
}

void
sl__runner_run(sl__runner *self, sl__run_task *t)
{
    char errbuf[SL_ERRSTR_LEN];
    sl_value *args = NULL;
    // The inputs lie right after the argument, in the same buffer.
    sl__blob *blob = sl__blob_new((void *) t->arg, t->arg_len + t->inputs_len,
                                  s_blob_keep, NULL);
    s_inputs in = {NULL, 0, blob, 0};
    const sl_kernel_def *k = NULL;
    t->stats.start_s = t->stats.end_s = sl__wall();
    t->stats.bytes_read = t->arg_len + t->inputs_len;
    if (s_find_kernel(self, t, &k, errbuf) != SL_OK) {
        sl__run_task_fail(t, SL_WIRE_ERROR, "%s", errbuf);
    } else if (blob == NULL) {
        sl__run_task_fail(t, SL_WIRE_ERROR, "out of memory");
    } else if (sl__value_decode_buf(t->arg, t->arg_len, &self->limits, blob,
                                    &args, errbuf) != SL_OK) {
        sl__run_task_fail(t, SL_WIRE_ERROR, "%s: malformed argument: %s",
                          t->function, errbuf);
    } else if (s_inputs_read(t, &self->limits, &in, errbuf) != SL_OK ||
               s_resolve_refs(self, args, t, &in, errbuf) != SL_OK) {
        sl__run_task_fail(t, SL_WIRE_ERROR, "%s: %s", t->function, errbuf);
    } else {
        s_run_kernel(self, t, k, args);
    }
    free(in.in);
    sl_value_destroy(&args);
    sl__blob_release(&blob);
    s_unpin_all(self);
}

void
sl__runner_fini(sl__runner *self)
{
    sl__store_destroy(&self->store);
    sl__cache_destroy(&self->cache);
    sl__tier_close(&self->tier);
    self->node_ready = false;
}
