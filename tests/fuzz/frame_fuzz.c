// frame_fuzz.c - fuzz the decoders of the frames between a worker and its
// executors (worker/frame.h): a frame's length, the init frame, the batch
// frame.
// SPDX-License-Identifier: MIT
//
// Design notes. The first input byte picks the decoder (mod 3: length,
// init, batch); the rest is the buffer, an exact heap copy, so a read past
// it is an ASan report. Oracles:
// - A length is refused exactly when it is over the maximum (the second
//   byte picks one), and otherwise read as the little-endian u32 it is.
// - An accepted init frame names at most SL_STORE_MAX_SHARDS shards, and
//   its options point at its own strings; encoded again and decoded, it
//   gives the same strings.
// - An accepted batch frame holds 1 to SL_FRAME_BATCH_MAX tasks whose
//   arguments lie inside the buffer, each SL_FRAME_ARG_ALIGN-aligned from
//   its start, a task's inputs (if any) right after its argument, the
//   last task's argument or inputs ending where the buffer does. Encoded
//   again from what was decoded, it decodes to the same fields, argument
//   and input bytes.
#include "fuzzutil.h"
#include "worker/frame.h"

static void
s_length(const uint8_t *buf, size_t len)
{
    if (len < 1 + SL_FRAME_HEADER) {
        return;
    }
    size_t max = (size_t) buf[0] << 24, n = 0;
    const uint8_t *hdr = buf + 1;
    uint32_t want = (uint32_t) hdr[0] | (uint32_t) hdr[1] << 8 |
                    (uint32_t) hdr[2] << 16 | (uint32_t) hdr[3] << 24;
    sl_err rv = sl__frame_length(hdr, max, &n);
    SL_FUZZ_CHECK((rv == SL_OK) == (want <= max));
    SL_FUZZ_CHECK(rv != SL_OK || n == want);
    uint8_t again[SL_FRAME_HEADER];
    sl__frame_header(again, want);
    SL_FUZZ_CHECK(memcmp(again, hdr, SL_FRAME_HEADER) == 0);
}

static void
s_init(const uint8_t *buf, size_t len)
{
    sl__frame_init a, b;
    if (sl__frame_init_decode(buf, len, &a) != SL_OK) {
        return;
    }
    SL_FUZZ_CHECK(a.store.opts.n_addrs >= 0 &&
                  a.store.opts.n_addrs <= SL_STORE_MAX_SHARDS);
    SL_FUZZ_CHECK(a.store.opts.password == a.store.password);
    sl__mpw w;
    sl__mpw_init(&w);
    sl__frame_init_encode(&w, &a.store.opts, a.inline_max, a.tier_cluster,
                          a.tier_node);
    SL_FUZZ_CHECK(sl__frame_init_decode(w.buf.data, w.buf.size, &b) == SL_OK);
    SL_FUZZ_CHECK(b.store.opts.n_addrs == a.store.opts.n_addrs);
    SL_FUZZ_CHECK(b.inline_max == a.inline_max);
    SL_FUZZ_CHECK(strcmp(b.tier_cluster, a.tier_cluster) == 0);
    SL_FUZZ_CHECK(strcmp(b.tier_node, a.tier_node) == 0);
    SL_FUZZ_CHECK(strcmp(b.store.password, a.store.password) == 0);
    for (int i = 0; i < a.store.opts.n_addrs; i++) {
        SL_FUZZ_CHECK(a.store.opts.addrs[i] == a.store.addrs[i]);
        SL_FUZZ_CHECK(strcmp(b.store.addrs[i], a.store.addrs[i]) == 0);
    }
    sl__mpw_fini(&w);
}

static void
s_check_batch(const uint8_t *buf, size_t len, const sl__task_group *g,
              const sl__task_item *items)
{
    SL_FUZZ_CHECK(g->n_tasks >= 1 && g->n_tasks <= SL_FRAME_BATCH_MAX);
    SL_FUZZ_CHECK((const uint8_t *) g->function.p >= buf &&
                  (const uint8_t *) g->function.p + g->function.len <=
                      buf + len);
    SL_FUZZ_CHECK((const uint8_t *) g->home.p >= buf &&
                  (const uint8_t *) g->home.p + g->home.len <= buf + len);
    SL_FUZZ_CHECK(g->home.len <= SL_NODE_NAME_MAX &&
                  memchr(g->home.p, 0, g->home.len) == NULL);
    for (uint32_t i = 0; i < g->n_tasks; i++) {
        const sl__task_item *t = &items[i];
        SL_FUZZ_CHECK(t->arg >= buf && t->arg + t->arg_len <= buf + len);
        SL_FUZZ_CHECK((size_t) (t->arg - buf) % SL_FRAME_ARG_ALIGN == 0);
        SL_FUZZ_CHECK((t->inputs == NULL) == (t->inputs_len == 0));
        SL_FUZZ_CHECK(t->inputs == NULL ||
                      (t->inputs == t->arg + t->arg_len &&
                       t->inputs + t->inputs_len <= buf + len));
    }
    const sl__task_item *last = &items[g->n_tasks - 1];
    SL_FUZZ_CHECK(last->arg + last->arg_len + last->inputs_len == buf + len);
}

static void
s_batch(const uint8_t *buf, size_t len)
{
    static sl__task_item a[SL_FRAME_BATCH_MAX], b[SL_FRAME_BATCH_MAX];
    sl__task_group ga, gb;
    char errbuf[SL_ERRSTR_LEN];
    if (sl__frame_batch_decode(buf, len, &ga, a, errbuf) != SL_OK) {
        SL_FUZZ_CHECK(strstr(errbuf, "malformed batch frame") != NULL);
        return;
    }
    s_check_batch(buf, len, &ga, a);
    sl__mpw w;
    sl__mpw_init(&w);
    sl__frame_batch_begin(&w, ga.job, ga.function.p, ga.function.len,
                          ga.time_limit_ms, ga.home.p, ga.home.len, ga.n_tasks);
    for (uint32_t i = 0; i < ga.n_tasks; i++) {
        sl__frame_batch_task(&w, a[i].index, a[i].attempt, a[i].arg_len,
                             a[i].inputs_len);
    }
    for (uint32_t i = 0; i < ga.n_tasks; i++) {
        sl__frame_batch_arg(&w, a[i].arg, a[i].arg_len, a[i].inputs,
                            a[i].inputs_len);
    }
    const uint8_t *again = (const uint8_t *) w.buf.data;
    SL_FUZZ_CHECK(sl__frame_batch_decode(again, w.buf.size, &gb, b, errbuf) ==
                  SL_OK);
    s_check_batch(again, w.buf.size, &gb, b);
    SL_FUZZ_CHECK(gb.job == ga.job && gb.time_limit_ms == ga.time_limit_ms &&
                  gb.n_tasks == ga.n_tasks &&
                  gb.function.len == ga.function.len &&
                  memcmp(gb.function.p, ga.function.p, ga.function.len) == 0 &&
                  gb.home.len == ga.home.len &&
                  memcmp(gb.home.p, ga.home.p, ga.home.len) == 0);
    for (uint32_t i = 0; i < ga.n_tasks; i++) {
        SL_FUZZ_CHECK(b[i].index == a[i].index &&
                      b[i].attempt == a[i].attempt &&
                      b[i].arg_len == a[i].arg_len &&
                      memcmp(b[i].arg, a[i].arg, a[i].arg_len) == 0);
        SL_FUZZ_CHECK(b[i].inputs_len == a[i].inputs_len &&
                      (a[i].inputs_len == 0 ||
                       memcmp(b[i].inputs, a[i].inputs, a[i].inputs_len) == 0));
    }
    sl__mpw_fini(&w);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    uint8_t *buf = sl__fuzz_dup(data + 1, size - 1);
    switch (data[0] % 3) {
    case 0:
        s_length(buf, size - 1);
        break;
    case 1:
        s_init(buf, size - 1);
        break;
    default:
        s_batch(buf, size - 1);
        break;
    }
    free(buf);
    return 0;
}
