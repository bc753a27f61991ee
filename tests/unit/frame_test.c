// frame_test.c - the frames between a worker and its executors, without
// processes: lengths, frames over a socketpair of this process (whole,
// cut short, over the limit), the init frame, and the batch frame, whose
// arguments (and the inputs after them) travel as the scheduler sent
// them; each decoder also fed prefixes and garbage. Then the tasks made
// from them, run by worker/run.c with sys.echo: futures replaced by the
// results their inputs carry, and the errors of inputs that do not.
// SPDX-License-Identifier: MIT
#include "../worker/frame.h"
#include "../worker/run.h"

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../serialize/codec.h"
#include "testutil.h"

// A connected pair: [0] the reader's end, [1] the writer's.
static void
s_pair(int sv[2])
{
    SL_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
}

static void
s_write(int fd, const void *buf, size_t len)
{
    SL_ASSERT(write(fd, buf, len) == (ssize_t) len);
}

static void
test_frame_length(void)
{
    uint8_t hdr[SL_FRAME_HEADER];
    size_t len = 0;
    sl__frame_header(hdr, 0x01020304);
    SL_ASSERT_EQ(hdr[0], 0x04); // little-endian
    SL_ASSERT_EQ(hdr[3], 0x01);
    SL_PASS(sl__frame_length(hdr, 0x01020304, &len));
    SL_ASSERT_EQ(len, 0x01020304);
    SL_FAILS(sl__frame_length(hdr, 0x01020303, &len), SL_ELIMIT);
    sl__frame_header(hdr, 0);
    SL_PASS(sl__frame_length(hdr, 0, &len));
    SL_ASSERT_EQ(len, 0);
}

// Frames of several sizes, the empty one included, arrive as sent and in
// order; the buffer is reused.
static void
test_frame_round_trip(void)
{
    int sv[2];
    s_pair(sv);
    static const size_t sizes[] = {5, 0, 4000, 1, 300};
    uint8_t buf[4000];
    for (size_t i = 0; i < sizeof(buf); i++) {
        buf[i] = (uint8_t) (i * 7 + 1);
    }
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        SL_PASS(sl__frame_send(sv[1], buf, sizes[i]));
    }
    sl__frame f = {0};
    bool eof = true;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        SL_PASS(sl__frame_recv(sv[0], &f, sizeof(buf), 1000, &eof));
        SL_ASSERT(!eof);
        SL_ASSERT_EQ(f.len, sizes[i]);
        SL_ASSERT(f.len == 0 || memcmp(f.data, buf, f.len) == 0);
    }
    SL_ASSERT_EQ(f.cap, 4000);
    // The writer closes at a frame boundary: EOF, told apart.
    close(sv[1]);
    SL_FAILS(sl__frame_recv(sv[0], &f, sizeof(buf), 1000, &eof), SL_EIO);
    SL_ASSERT(eof);
    sl__frame_fini(&f);
    SL_ASSERT(f.data == NULL);
    close(sv[0]);
}

// A frame cut short, in its header or in its payload, is an error and no
// shorter frame; so is a header that does not come in time.
static void
test_frame_truncated(void)
{
    int sv[2];
    sl__frame f = {0};
    bool eof = true;
    s_pair(sv);
    s_write(sv[1], "\x0a\x00", 2); // half a header
    close(sv[1]);
    SL_FAILS(sl__frame_recv(sv[0], &f, 100, 1000, &eof), SL_EIO);
    SL_ASSERT(!eof);
    close(sv[0]);

    s_pair(sv);
    s_write(sv[1],
            "\x0a\x00\x00\x00"
            "abc",
            7); // 3 bytes of 10
    close(sv[1]);
    SL_FAILS(sl__frame_recv(sv[0], &f, 100, 1000, &eof), SL_EIO);
    SL_ASSERT(!eof);
    close(sv[0]);

    s_pair(sv); // nothing at all, the writer still there
    SL_FAILS(sl__frame_recv(sv[0], &f, 100, 50, &eof), SL_EIO);
    SL_ASSERT(!eof);
    close(sv[0]);
    close(sv[1]);
    sl__frame_fini(&f);
}

// A length over the reader's limit is refused before anything is
// allocated for it, however many bytes follow.
static void
test_frame_oversized(void)
{
    int sv[2];
    sl__frame f = {0};
    bool eof = true;
    s_pair(sv);
    s_write(sv[1],
            "\xff\xff\xff\xff"
            "abcd",
            8);
    SL_FAILS(sl__frame_recv(sv[0], &f, 1 << 20, 1000, &eof), SL_EIO);
    SL_ASSERT(!eof);
    SL_ASSERT(f.data == NULL);
    SL_ASSERT_EQ(f.cap, 0);
    close(sv[0]);
    close(sv[1]);

    s_pair(sv); // one byte over
    SL_PASS(sl__frame_send(sv[1], "0123456789", 10));
    SL_FAILS(sl__frame_recv(sv[0], &f, 9, 1000, &eof), SL_EIO);
    SL_ASSERT(f.data == NULL);
    close(sv[0]);
    close(sv[1]);
}

// A peer that is gone: sending fails (and raises no SIGPIPE).
static void
test_frame_send_closed(void)
{
    int sv[2];
    s_pair(sv);
    close(sv[0]);
    SL_FAILS(sl__frame_send(sv[1], "x", 1), SL_EIO);
    close(sv[1]);
}

static void
test_init_round_trip(void)
{
    sl__store_opts store = {0};
    store.addrs[0] = "127.0.0.1:6379";
    store.addrs[1] = "10.0.0.2:6380";
    store.n_addrs = 2;
    store.password = "secret";
    sl__mpw w;
    sl__mpw_init(&w);
    sl__frame_init_encode(&w, &store, 4096, "c0ffee", "node-1");
    sl__frame_init init;
    SL_PASS(sl__frame_init_decode(w.buf.data, w.buf.size, &init));
    SL_ASSERT_EQ(init.store.opts.n_addrs, 2);
    SL_ASSERT_STR(init.store.opts.addrs[0], "127.0.0.1:6379");
    SL_ASSERT_STR(init.store.opts.addrs[1], "10.0.0.2:6380");
    SL_ASSERT_STR(init.store.opts.password, "secret");
    SL_ASSERT(init.store.opts.addrs[1] ==
              init.store.addrs[1]); // its own strings
    SL_ASSERT_EQ(init.inline_max, 4096);
    SL_ASSERT_STR(init.tier_cluster, "c0ffee");
    SL_ASSERT_STR(init.tier_node, "node-1");

    // No password: an empty one; no tier: empty names.
    store.password = NULL;
    store.n_addrs = 1;
    sl__mpw_reset(&w);
    sl__frame_init_encode(&w, &store, 7, "", "");
    SL_PASS(sl__frame_init_decode(w.buf.data, w.buf.size, &init));
    SL_ASSERT_STR(init.store.opts.password, "");
    SL_ASSERT_EQ(init.store.opts.n_addrs, 1);
    SL_ASSERT_STR(init.tier_cluster, "");
    SL_ASSERT_STR(init.tier_node, "");

    // Every prefix is refused (one byte short is a broken message).
    for (size_t n = 0; n < w.buf.size; n++) {
        SL_FAILS(sl__frame_init_decode(w.buf.data, n, &init), SL_EPROTO);
    }
    sl__mpw_fini(&w);
}

// Bytes that are no init frame are refused, whatever they hold.
static void
test_init_garbage(void)
{
    sl__frame_init init;
    uint8_t buf[64];
    unsigned seed = 12;
    SL_FAILS(sl__frame_init_decode("", 0, &init), SL_EPROTO);
    memset(buf, 0xc1, sizeof(buf)); // the byte msgpack never uses
    SL_FAILS(sl__frame_init_decode(buf, sizeof(buf), &init), SL_EPROTO);
    for (int round = 0; round < 10000; round++) {
        size_t n = (size_t) rand_r(&seed) % sizeof(buf);
        for (size_t i = 0; i < n; i++) {
            buf[i] = (uint8_t) rand_r(&seed);
        }
        if (sl__frame_init_decode(buf, n, &init) == SL_OK) {
            SL_ASSERT(init.store.opts.n_addrs <= SL_STORE_MAX_SHARDS);
        }
    }
}

// A blob's free function for bytes the test frees itself.
static void
s_keep(void *ctx, void *data)
{
    (void) ctx;
    (void) data;
}

// A batch of len_i-byte arguments, each followed by in_lens[i] bytes of
// inputs (ins NULL: none), encoded into w (reset first).
static void
s_batch_inputs(sl__mpw *w, uint32_t n, const uint8_t *const *args,
               const size_t *lens, const uint8_t *const *ins,
               const size_t *in_lens)
{
    sl__mpw_reset(w);
    sl__frame_batch_begin(w, 0x1122334455667788ull, "sys.echo", 8, 250,
                          "node-7", 6, n);
    for (uint32_t i = 0; i < n; i++) {
        sl__frame_batch_task(w, 10 + i, 1 + i, lens[i],
                             ins != NULL ? in_lens[i] : 0);
    }
    for (uint32_t i = 0; i < n; i++) {
        sl__frame_batch_arg(w, args[i], lens[i], ins != NULL ? ins[i] : NULL,
                            ins != NULL ? in_lens[i] : 0);
    }
}

// A batch of len_i-byte arguments, encoded into w (reset first).
static void
s_batch(sl__mpw *w, uint32_t n, const uint8_t *const *args, const size_t *lens)
{
    s_batch_inputs(w, n, args, lens, NULL, NULL);
}

// What a decoder must promise of any batch it accepts: 1 to
// SL_FRAME_BATCH_MAX tasks, and arguments inside the buffer, aligned.
static void
s_check_batch(const uint8_t *buf, size_t len, const sl__task_group *g,
              const sl__task_item *items)
{
    SL_ASSERT(g->n_tasks >= 1 && g->n_tasks <= SL_FRAME_BATCH_MAX);
    SL_ASSERT(g->function.p >= (const char *) buf &&
              g->function.p + g->function.len <= (const char *) buf + len);
    SL_ASSERT(g->home.p >= (const char *) buf &&
              g->home.p + g->home.len <= (const char *) buf + len);
    SL_ASSERT(g->home.len <= SL_NODE_NAME_MAX &&
              memchr(g->home.p, 0, g->home.len) == NULL);
    for (uint32_t i = 0; i < g->n_tasks; i++) {
        SL_ASSERT(items[i].arg >= buf &&
                  items[i].arg + items[i].arg_len <= buf + len);
        SL_ASSERT_EQ((items[i].arg - buf) % SL_FRAME_ARG_ALIGN, 0);
        // Inputs, when a task has them, lie right after its argument.
        SL_ASSERT((items[i].inputs == NULL) == (items[i].inputs_len == 0));
        SL_ASSERT(items[i].inputs == NULL ||
                  (items[i].inputs == items[i].arg + items[i].arg_len &&
                   items[i].inputs + items[i].inputs_len <= buf + len));
    }
}

// Arguments come out as they went in, where they lie in the frame, aligned:
// bytes that are no msgpack at all (the frame never reads them), an empty
// one, and lengths around the alignment.
static void
test_batch_round_trip(void)
{
    static const uint8_t junk[] = {0xc1, 0xc1, 0xff, 0x00, 0xdd};
    uint8_t big[300];
    for (size_t i = 0; i < sizeof(big); i++) {
        big[i] = (uint8_t) (i * 31);
    }
    const uint8_t *args[] = {junk, (const uint8_t *) "", big, big + 1, junk};
    const size_t lens[] = {sizeof(junk), 0, 16, sizeof(big) - 1, 1};
    enum { N = 5 };
    sl__mpw w;
    sl__mpw_init(&w);
    s_batch(&w, N, args, lens);
    const uint8_t *buf = (const uint8_t *) w.buf.data;
    sl__task_group g;
    sl__task_item items[SL_FRAME_BATCH_MAX];
    char errbuf[SL_ERRSTR_LEN];
    SL_PASS(sl__frame_batch_decode(buf, w.buf.size, &g, items, errbuf));
    SL_ASSERT(g.job == 0x1122334455667788ull);
    SL_ASSERT_EQ(g.function.len, 8);
    SL_ASSERT(memcmp(g.function.p, "sys.echo", 8) == 0);
    SL_ASSERT_EQ(g.time_limit_ms, 250);
    SL_ASSERT_EQ(g.home.len, 6);
    SL_ASSERT(memcmp(g.home.p, "node-7", 6) == 0);
    SL_ASSERT_EQ(g.n_tasks, N);
    s_check_batch(buf, w.buf.size, &g, items);
    for (uint32_t i = 0; i < N; i++) {
        SL_ASSERT_EQ(items[i].index, 10 + i);
        SL_ASSERT_EQ(items[i].attempt, 1 + i);
        SL_ASSERT_EQ(items[i].arg_len, lens[i]);
        SL_ASSERT(memcmp(items[i].arg, args[i], lens[i]) == 0);
    }
    // The last argument ends the frame.
    SL_ASSERT(items[N - 1].arg + lens[N - 1] == buf + w.buf.size);
    sl__mpw_fini(&w);
}

// The life of an argument from the scheduler's TASKS to the executor: the
// worker takes each argument's bytes out of TASKS (it walks them only to
// find their end), the batch frame carries them, and the executor finds
// them byte for byte the scheduler's, in place. Returns whether the
// ndarray in the argument, decoded once where it lies, is used in place
// (asserting that it is exactly when it would be from a buffer of its
// own). pad_len shifts the ndarray's place in the argument.
static bool
s_argument_life(size_t pad_len)
{
    enum { N = 3 };
    sl__mpw sched, batch;
    sl__mpw_init(&sched);
    sl__mpw_init(&batch);
    char pad[16] = "xxxxxxxxxxxxxxx";
    pad[pad_len] = '\0';
    sl_value *arg = sl_value_new_map();
    sl_value *s = sl_value_new_str(pad), *x;
    int64_t shape[1] = {5};
    double elems[5] = {1, 2, 3, 4, 5};
    SL_PASS(sl_value_map_set(arg, "s", &s));
    x = sl_value_new_ndarray(SL_F64, 1, shape, elems);
    SL_PASS(sl_value_map_set(arg, "x", &x));
    void *enc;
    size_t enc_len;
    SL_PASS(sl__value_encode(arg, &enc, &enc_len));
    sl__msg_tasks_begin(&sched, 1);
    sl__msg_task_group(&sched, 42, "blas.dot", 8, 0, "client-node", 11, N);
    for (uint32_t i = 0; i < N; i++) {
        sl__task_item item = {i, 1, enc, enc_len, NULL, 0};
        sl__msg_task_item(&sched, &item);
    }
    // The worker's side: TASKS read, arguments as the scheduler sent them.
    sl__mpr r;
    uint32_t type, nfields, n_groups;
    sl__task_group g;
    sl__task_item items[SL_FRAME_BATCH_MAX];
    char errbuf[SL_ERRSTR_LEN];
    sl__mpr_init(&r, sched.buf.data, sched.buf.size);
    SL_PASS(sl__msg_open(&r, &type, &nfields, errbuf));
    SL_PASS(sl__msg_tasks_decode(&r, &sl__limits_default, &n_groups, errbuf));
    SL_PASS(sl__msg_task_group_decode(&r, &sl__limits_default, &g, errbuf));
    sl__frame_batch_begin(&batch, g.job, g.function.p, g.function.len,
                          g.time_limit_ms, g.home.p, g.home.len, g.n_tasks);
    for (uint32_t i = 0; i < N; i++) {
        SL_PASS(sl__msg_task_item_decode(&r, &sl__limits_default, &items[i],
                                         errbuf));
        SL_ASSERT_EQ(items[i].arg_len, enc_len);
        sl__frame_batch_task(&batch, items[i].index, items[i].attempt,
                             items[i].arg_len, 0);
    }
    for (uint32_t i = 0; i < N; i++) {
        sl__frame_batch_arg(&batch, items[i].arg, items[i].arg_len, NULL, 0);
    }
    // The executor's side.
    const uint8_t *buf = (const uint8_t *) batch.buf.data;
    SL_PASS(sl__frame_batch_decode(buf, batch.buf.size, &g, items, errbuf));
    SL_ASSERT_EQ(g.n_tasks, N);
    SL_ASSERT(g.job == 42);
    SL_ASSERT_EQ(g.home.len, 11); // the job's client's node, as TASKS gave it
    SL_ASSERT(memcmp(g.home.p, "client-node", 11) == 0);
    for (uint32_t i = 0; i < N; i++) {
        SL_ASSERT_EQ(items[i].arg_len, enc_len);
        SL_ASSERT(memcmp(items[i].arg, enc, enc_len) == 0);
        SL_ASSERT(items[i].arg > buf && items[i].arg < buf + batch.buf.size);
    }
    // Decoded where it lies, and from a buffer of its own.
    uint8_t *own = malloc(enc_len);
    SL_ASSERT(own != NULL);
    memcpy(own, enc, enc_len);
    sl__blob *in_frame =
        sl__blob_new((void *) buf, batch.buf.size, s_keep, NULL);
    sl__blob *in_own = sl__blob_new(own, enc_len, s_keep, NULL);
    sl_value *a = NULL, *b = NULL;
    SL_PASS(sl__value_decode_buf(items[1].arg, items[1].arg_len,
                                 &sl__limits_default, in_frame, &a, errbuf));
    SL_PASS(sl__value_decode_buf(own, enc_len, &sl__limits_default, in_own, &b,
                                 errbuf));
    const uint8_t *pa = sl_ndarray_cdata(sl_value_map_get(a, "x"));
    const uint8_t *pb = sl_ndarray_cdata(sl_value_map_get(b, "x"));
    bool in_place = pa >= buf && pa < buf + batch.buf.size;
    SL_ASSERT_EQ(in_place, pb >= own && pb < own + enc_len);
    if (in_place) {
        SL_ASSERT_EQ(pa - items[1].arg, pb - own);
    }
    SL_ASSERT(memcmp(pa, elems, sizeof(elems)) == 0);
    SL_ASSERT_STR(sl_value_str(sl_value_map_get(a, "s"), NULL), pad);
    sl_value_destroy(&a);
    sl_value_destroy(&b);
    sl__blob_release(&in_frame);
    sl__blob_release(&in_own);
    free(own);
    free(enc);
    sl_value_destroy(&arg);
    sl__mpw_fini(&sched);
    sl__mpw_fini(&batch);
    return in_place;
}

static void
test_batch_carries_scheduler_bytes(void)
{
    int in_place = 0;
    for (size_t pad = 0; pad < 8; pad++) { // the ndarray at each alignment
        in_place += s_argument_life(pad);
    }
    SL_ASSERT(in_place >= 1);
}

// Every prefix of a batch frame is refused, and so are a batch of no task
// or too many, an argument longer than the frame, bytes after the last
// argument, a home that is no node name, and a header without a home.
static void
test_batch_truncated_and_oversized(void)
{
    const uint8_t *args[] = {(const uint8_t *) "\x93\x01\x02\x03",
                             (const uint8_t *) "\xc0"};
    const size_t lens[] = {4, 1};
    sl__mpw w;
    sl__task_group g;
    sl__task_item items[SL_FRAME_BATCH_MAX];
    char errbuf[SL_ERRSTR_LEN];
    sl__mpw_init(&w);
    s_batch(&w, 2, args, lens);
    for (size_t n = 0; n < w.buf.size; n++) {
        SL_FAILS(sl__frame_batch_decode(w.buf.data, n, &g, items, errbuf),
                 SL_EPROTO);
    }
    // One byte more than the arguments.
    sl__mpw_raw(&w, "\x00", 1);
    SL_FAILS(sl__frame_batch_decode(w.buf.data, w.buf.size, &g, items, errbuf),
             SL_EPROTO);
    SL_ASSERT_HAS(errbuf, "after the last argument");

    // An argument that claims more than the frame holds.
    sl__mpw_reset(&w);
    sl__frame_batch_begin(&w, 1, "f", 1, 0, "", 0, 1);
    sl__frame_batch_task(&w, 0, 1, 1000, 0);
    sl__frame_batch_arg(&w, "\xc0", 1, NULL, 0);
    SL_FAILS(sl__frame_batch_decode(w.buf.data, w.buf.size, &g, items, errbuf),
             SL_EPROTO);

    // A batch of no task, and one of SL_FRAME_BATCH_MAX + 1 (written by
    // hand: the encoder refuses to).
    for (uint32_t n = 0; n <= SL_FRAME_BATCH_MAX + 1;
         n += SL_FRAME_BATCH_MAX + 1) {
        sl__mpw_reset(&w);
        msgpack_pack_array(&w.pk, 5);
        msgpack_pack_uint64(&w.pk, 1);
        sl__mpw_str(&w, "f");
        msgpack_pack_uint32(&w.pk, 0);
        sl__mpw_str(&w, "");
        msgpack_pack_array(&w.pk, n);
        for (uint32_t i = 0; i < n; i++) {
            msgpack_pack_array(&w.pk, 3);
            msgpack_pack_uint32(&w.pk, i);
            msgpack_pack_uint32(&w.pk, 1);
            msgpack_pack_uint64(&w.pk, 0);
        }
        SL_FAILS(
            sl__frame_batch_decode(w.buf.data, w.buf.size, &g, items, errbuf),
            SL_EPROTO);
    }

    // A home of 65 bytes, one with a NUL; then the layout before homes,
    // [job, function, time_limit_ms, [tasks]].
    char home[SL_NODE_NAME_MAX + 1];
    memset(home, 'h', sizeof(home));
    for (int bad = 0; bad < 2; bad++) {
        sl__mpw_reset(&w);
        sl__frame_batch_begin(&w, 1, "f", 1, 0, bad ? "a\0b" : home,
                              bad ? 3 : sizeof(home), 1);
        sl__frame_batch_task(&w, 0, 1, 1, 0);
        sl__frame_batch_arg(&w, "\xc0", 1, NULL, 0);
        SL_FAILS(
            sl__frame_batch_decode(w.buf.data, w.buf.size, &g, items, errbuf),
            SL_EPROTO);
        SL_ASSERT_HAS(errbuf, "home");
    }
    sl__mpw_reset(&w);
    msgpack_pack_array(&w.pk, 4);
    msgpack_pack_uint64(&w.pk, 1);
    sl__mpw_str(&w, "f");
    msgpack_pack_uint32(&w.pk, 0);
    msgpack_pack_array(&w.pk, 1);
    msgpack_pack_array(&w.pk, 3);
    msgpack_pack_uint32(&w.pk, 0);
    msgpack_pack_uint32(&w.pk, 1);
    msgpack_pack_uint64(&w.pk, 1);
    sl__mpw_raw(&w, "\xc0", 1);
    SL_FAILS(sl__frame_batch_decode(w.buf.data, w.buf.size, &g, items, errbuf),
             SL_EPROTO);
    SL_ASSERT_HAS(errbuf, "header");
    // And the 64 bytes a home may have are fine.
    sl__mpw_reset(&w);
    sl__frame_batch_begin(&w, 1, "f", 1, 0, home, SL_NODE_NAME_MAX, 1);
    sl__frame_batch_task(&w, 0, 1, 1, 0);
    sl__frame_batch_arg(&w, "\xc0", 1, NULL, 0);
    SL_PASS(sl__frame_batch_decode(w.buf.data, w.buf.size, &g, items, errbuf));
    SL_ASSERT_EQ(g.home.len, SL_NODE_NAME_MAX);
    sl__mpw_fini(&w);
}

// Tasks with inputs among tasks without: each task's inputs come out as
// they went in, right after its argument (the next argument still starts
// aligned), and the last task's inputs end the frame.
static void
test_batch_inputs_round_trip(void)
{
    static const uint8_t a0[] = {0xd4, 0x03, 0x00}, a1[] = {0xc0};
    static const uint8_t in0[] = {0x93, 0x05, 0x00, 0x2a};
    static const uint8_t in2[] = {0x96, 0x05, 0x01, 0xa1,
                                  'x',  0x05, 0x02, 0xc3};
    uint8_t big[40];
    for (size_t i = 0; i < sizeof(big); i++) {
        big[i] = (uint8_t) (i * 13 + 5);
    }
    const uint8_t *args[] = {a0, a1, big, a1, big};
    const size_t lens[] = {sizeof(a0), sizeof(a1), 17, 0, sizeof(big)};
    const uint8_t *ins[] = {in0, NULL, in2, in0, in2};
    const size_t in_lens[] = {sizeof(in0), 0, sizeof(in2), sizeof(in0),
                              sizeof(in2)};
    enum { N = 5 };
    sl__mpw w;
    sl__task_group g;
    sl__task_item items[SL_FRAME_BATCH_MAX];
    char errbuf[SL_ERRSTR_LEN];
    sl__mpw_init(&w);
    s_batch_inputs(&w, N, args, lens, ins, in_lens);
    const uint8_t *buf = (const uint8_t *) w.buf.data;
    SL_PASS(sl__frame_batch_decode(buf, w.buf.size, &g, items, errbuf));
    SL_ASSERT_EQ(g.n_tasks, N);
    s_check_batch(buf, w.buf.size, &g, items);
    for (uint32_t i = 0; i < N; i++) {
        SL_ASSERT_EQ(items[i].index, 10 + i);
        SL_ASSERT_EQ(items[i].arg_len, lens[i]);
        SL_ASSERT(memcmp(items[i].arg, args[i], lens[i]) == 0);
        SL_ASSERT_EQ(items[i].inputs_len, in_lens[i]);
        if (ins[i] == NULL) {
            SL_ASSERT(items[i].inputs == NULL);
        } else {
            SL_ASSERT(items[i].inputs == items[i].arg + lens[i]);
            SL_ASSERT(memcmp(items[i].inputs, ins[i], in_lens[i]) == 0);
        }
    }
    SL_ASSERT(items[N - 1].inputs + in_lens[N - 1] == buf + w.buf.size);
    // Every prefix is refused, and a byte more.
    for (size_t n = 0; n < w.buf.size; n++) {
        uint8_t *p = malloc(n > 0 ? n : 1);
        SL_ASSERT(p != NULL);
        memcpy(p, buf, n);
        SL_FAILS(sl__frame_batch_decode(p, n, &g, items, errbuf), SL_EPROTO);
        free(p);
    }
    sl__mpw_raw(&w, "\x00", 1);
    SL_FAILS(sl__frame_batch_decode(w.buf.data, w.buf.size, &g, items, errbuf),
             SL_EPROTO);
    SL_ASSERT_HAS(errbuf, "after the last argument");
    sl__mpw_fini(&w);
}

// A task entry of [index, attempt, arg_len, inputs_len] written by hand.
static void
s_entry4(sl__mpw *w, uint64_t arg_len, uint64_t inputs_len)
{
    msgpack_pack_array(&w->pk, 4);
    msgpack_pack_uint32(&w->pk, 0);
    msgpack_pack_uint32(&w->pk, 1);
    msgpack_pack_uint64(&w->pk, arg_len);
    msgpack_pack_uint64(&w->pk, inputs_len);
}

// Inputs that claim more than the frame holds (in the entry, or past the
// end of the arguments), an entry of 4 whose inputs_len is 0 (a task
// without inputs has an entry of 3), one of 5, and one whose inputs_len
// is no integer are refused.
static void
test_batch_inputs_refused(void)
{
    sl__mpw w;
    sl__task_group g;
    sl__task_item items[SL_FRAME_BATCH_MAX];
    char errbuf[SL_ERRSTR_LEN];
    sl__mpw_init(&w);
    // inputs_len past the end: of the whole frame, and of the bytes after
    // the argument (the entry's own check passes: the frame is longer).
    for (int k = 0; k < 2; k++) {
        sl__mpw_reset(&w);
        sl__frame_batch_begin(&w, 1, "f", 1, 0, "", 0, 1);
        sl__frame_batch_task(&w, 0, 1, 1, k == 0 ? 1000 : 3);
        sl__frame_batch_arg(&w, "\xc0", 1, "\x90", 1);
        SL_FAILS(
            sl__frame_batch_decode(w.buf.data, w.buf.size, &g, items, errbuf),
            SL_EPROTO);
        SL_ASSERT_HAS(errbuf, k == 0 ? "task entry" : "past its end");
    }
    // The second task's inputs run past the end, the first's are fine.
    sl__mpw_reset(&w);
    sl__frame_batch_begin(&w, 1, "f", 1, 0, "", 0, 2);
    sl__frame_batch_task(&w, 0, 1, 1, 1);
    sl__frame_batch_task(&w, 1, 1, 1, 2);
    sl__frame_batch_arg(&w, "\xc0", 1, "\x90", 1);
    sl__frame_batch_arg(&w, "\xc0", 1, "\x90", 1);
    SL_FAILS(sl__frame_batch_decode(w.buf.data, w.buf.size, &g, items, errbuf),
             SL_EPROTO);
    SL_ASSERT_HAS(errbuf, "past its end");
    // Entries of 4 with inputs_len 0 (and no inputs), of 5, and with a
    // string for inputs_len.
    for (int k = 0; k < 3; k++) {
        sl__mpw_reset(&w);
        sl__frame_batch_begin(&w, 1, "f", 1, 0, "", 0, 1);
        if (k == 0) {
            s_entry4(&w, 1, 0);
        } else if (k == 1) {
            msgpack_pack_array(&w.pk, 5);
            msgpack_pack_uint32(&w.pk, 0);
            msgpack_pack_uint32(&w.pk, 1);
            msgpack_pack_uint64(&w.pk, 1);
            msgpack_pack_uint64(&w.pk, 1);
            msgpack_pack_uint64(&w.pk, 1);
        } else {
            msgpack_pack_array(&w.pk, 4);
            msgpack_pack_uint32(&w.pk, 0);
            msgpack_pack_uint32(&w.pk, 1);
            msgpack_pack_uint64(&w.pk, 1);
            sl__mpw_str(&w, "1");
        }
        sl__frame_batch_arg(&w, "\xc0", 1, k == 1 ? "\x90" : NULL, k == 1);
        SL_FAILS(
            sl__frame_batch_decode(w.buf.data, w.buf.size, &g, items, errbuf),
            SL_EPROTO);
        SL_ASSERT_HAS(errbuf, "task entry");
    }
    // The same entry of 4 with inputs_len 1 is fine: inputs the frame
    // does not read (the task's run decodes them).
    sl__mpw_reset(&w);
    sl__frame_batch_begin(&w, 1, "f", 1, 0, "", 0, 1);
    s_entry4(&w, 1, 1);
    sl__frame_batch_arg(&w, "\xc0", 1, "\xc1", 1);
    SL_PASS(sl__frame_batch_decode(w.buf.data, w.buf.size, &g, items, errbuf));
    SL_ASSERT_EQ(items[0].inputs_len, 1);
    SL_ASSERT_EQ(items[0].inputs[0], 0xc1);
    sl__mpw_fini(&w);
}

// The tasks made from a batch: an executor's borrow their arguments from
// the frame (sl__run_task_init_view), a slot thread's copy them out of
// TASKS (sl__run_task_init); both get the group's home as a C string, and
// a task used again gets the new group's.
static void
test_batch_task_home(void)
{
    const uint8_t *args[] = {(const uint8_t *) "\xc0",
                             (const uint8_t *) "\x92\x01\x02"};
    const size_t lens[] = {1, 3};
    sl__mpw w;
    sl__task_group g;
    sl__task_item items[SL_FRAME_BATCH_MAX];
    char errbuf[SL_ERRSTR_LEN];
    sl__mpw_init(&w);
    s_batch(&w, 2, args, lens);
    SL_PASS(sl__frame_batch_decode(w.buf.data, w.buf.size, &g, items, errbuf));
    sl__run_task ts[2] = {0}, copy = {0};
    for (int i = 0; i < 2; i++) {
        sl__run_task_init_view(&ts[i], &g, &items[i]);
        SL_ASSERT_STR(ts[i].home, "node-7");
        SL_ASSERT_STR(ts[i].function, "sys.echo");
        SL_ASSERT(ts[i].arg == items[i].arg);
    }
    sl__run_task_init(&copy, &g, &items[1]);
    SL_ASSERT_STR(copy.home, "node-7");
    SL_ASSERT(copy.arg != items[1].arg && memcmp(copy.arg, args[1], 3) == 0);
    // The most a home has, and then none.
    char home[SL_NODE_NAME_MAX + 1];
    memset(home, 'h', SL_NODE_NAME_MAX);
    home[SL_NODE_NAME_MAX] = '\0';
    g.home = (sl__strv){home, SL_NODE_NAME_MAX};
    sl__run_task_clear(&copy);
    sl__run_task_init(&copy, &g, &items[0]);
    SL_ASSERT_STR(copy.home, home);
    g.home = (sl__strv){"", 0};
    sl__run_task_clear(&copy);
    sl__run_task_init(&copy, &g, &items[0]);
    SL_ASSERT_STR(copy.home, "");
    for (int i = 0; i < 2; i++) {
        sl__run_task_fini(&ts[i]);
    }
    sl__run_task_fini(&copy);
    sl__mpw_fini(&w);
}

// ---------------------------------------------------------------------
// Futures resolved from a task's inputs (worker/run.c), run to their
// outcome by sl__runner_run with the built-in sys.echo: its argument, with
// every future replaced, is its result. Nothing here holds a ref, so no
// store is needed: the runner's store options name none, and a task that
// reaches for the store fails.

static sl__registry *s_reg;   // the built-in kernels
static sl__store_opts s_none; // no shard: connecting fails at once

static void
s_runner(sl__runner *runner)
{
    memset(runner, 0, sizeof(*runner));
    if (s_reg == NULL) {
        s_reg = sl__registry_new();
        SL_ASSERT(s_reg != NULL);
    }
    runner->registry = s_reg;
    runner->store_opts = &s_none;
    runner->limits = sl__limits_default;
    runner->inline_max = 1 << 20;
}

// Pack v into w; takes v.
static void
s_pack(sl__mpw *w, sl_value *v)
{
    SL_ASSERT(v != NULL);
    SL_PASS(sl__value_pack(w, v));
    sl_value_destroy(&v);
}

// Run sys.echo on arg with these inputs (NULL: none), as a slot thread
// does (the task copied out of TASKS) or as an executor does (in place in
// a batch frame). Returns the decoded result, or NULL with the task's
// error text in err.
static sl_value *
s_echo(const sl_value *arg, const void *inputs, size_t inputs_len,
       bool in_frame, char err[SL_TASK_ERROR_LEN])
{
    sl__runner runner;
    s_runner(&runner);
    void *enc;
    size_t enc_len;
    SL_PASS(sl__value_encode(arg, &enc, &enc_len));
    sl__task_group g = {0x99, {"sys.echo", 8}, 0, {"", 0}, 1};
    sl__task_item item = {3, 1, enc, enc_len, inputs, inputs_len};
    sl__task_item items[SL_FRAME_BATCH_MAX];
    char errbuf[SL_ERRSTR_LEN];
    sl__mpw w;
    sl__mpw_init(&w);
    sl__run_task t = {0};
    if (in_frame) {
        sl__frame_batch_begin(&w, g.job, "sys.echo", 8, 0, "", 0, 1);
        sl__frame_batch_task(&w, 3, 1, enc_len, inputs_len);
        sl__frame_batch_arg(&w, enc, enc_len, inputs, inputs_len);
        SL_PASS(
            sl__frame_batch_decode(w.buf.data, w.buf.size, &g, items, errbuf));
        SL_ASSERT(items[0].inputs_len == inputs_len);
        sl__run_task_init_view(&t, &g, &items[0]);
    } else {
        sl__run_task_init(&t, &g, &item);
    }
    SL_ASSERT(t.inputs_len == inputs_len &&
              (t.inputs == NULL) == (inputs_len == 0));
    sl__runner_run(&runner, &t);
    sl_value *got = NULL;
    err[0] = '\0';
    if (t.status == SL_WIRE_OK) {
        SL_PASS(sl__value_decode_buf(t.value, t.value_len, NULL, NULL, &got,
                                     errbuf));
        SL_ASSERT(t.error == NULL);
    } else {
        SL_ASSERT_EQ(t.status, SL_WIRE_ERROR);
        SL_ASSERT(t.error != NULL);
        sl__strlcpy(err, t.error, SL_TASK_ERROR_LEN);
    }
    SL_ASSERT_EQ(t.stats.bytes_read, enc_len + inputs_len);
    sl__run_task_fini(&t);
    sl__runner_fini(&runner);
    sl__mpw_fini(&w);
    free(enc);
    return got;
}

// Whether a and b encode to the same bytes.
static bool
s_same(const sl_value *a, const sl_value *b)
{
    void *x, *y;
    size_t nx, ny;
    SL_PASS(sl__value_encode(a, &x, &nx));
    SL_PASS(sl__value_encode(b, &y, &ny));
    bool same = nx == ny && memcmp(x, y, nx) == 0;
    free(x);
    free(y);
    return same;
}

// Futures at any depth, two naming the same result, one naming a task of
// another job with the same index, come out as their results; the inputs
// may come in any order; a list in a result stays whole.
static void
test_run_futures_resolved(void)
{
    const uint64_t job = 0x1234, other = UINT64_MAX;
    // {"x": [1, F(job, 0)], "y": F(job, 1), "z": {"deep": [[F(job, 0)]]},
    //  "w": F(other, 1)}
    sl_value *arg = sl_value_new_map();
    sl_value *x = sl_value_new_list(), *inner = sl_value_new_list(),
             *inner2 = sl_value_new_list(), *z = sl_value_new_map();
    sl_value *v = sl_value_new_int(1);
    SL_PASS(sl_value_list_append(x, &v));
    v = sl__value_new_future(job, 0);
    SL_PASS(sl_value_list_append(x, &v));
    SL_PASS(sl_value_map_set(arg, "x", &x));
    v = sl__value_new_future(job, 1);
    SL_PASS(sl_value_map_set(arg, "y", &v));
    v = sl__value_new_future(job, 0);
    SL_PASS(sl_value_list_append(inner2, &v));
    SL_PASS(sl_value_list_append(inner, &inner2));
    SL_PASS(sl_value_map_set(z, "deep", &inner));
    SL_PASS(sl_value_map_set(arg, "z", &z));
    v = sl__value_new_future(other, 1);
    SL_PASS(sl_value_map_set(arg, "w", &v));
    // The results: task 0 a list, task 1 a string, the other job's a
    // float; packed out of order.
    sl__mpw in;
    sl__mpw_init(&in);
    msgpack_pack_array(&in.pk, 9);
    msgpack_pack_uint64(&in.pk, other);
    msgpack_pack_uint64(&in.pk, 1);
    s_pack(&in, sl_value_new_float(2.5));
    msgpack_pack_uint64(&in.pk, job);
    msgpack_pack_uint64(&in.pk, 1);
    s_pack(&in, sl_value_new_str("one"));
    msgpack_pack_uint64(&in.pk, job);
    msgpack_pack_uint64(&in.pk, 0);
    sl_value *r0 = sl_value_new_list();
    v = sl_value_new_str("zero");
    SL_PASS(sl_value_list_append(r0, &v));
    v = sl_value_new_bytes("\x00\x01", 2);
    SL_PASS(sl_value_list_append(r0, &v));
    s_pack(&in, sl_value_copy(r0));
    // What sys.echo must give back.
    sl_value *want = sl_value_new_map();
    x = sl_value_new_list();
    v = sl_value_new_int(1);
    SL_PASS(sl_value_list_append(x, &v));
    v = sl_value_copy(r0);
    SL_PASS(sl_value_list_append(x, &v));
    SL_PASS(sl_value_map_set(want, "x", &x));
    v = sl_value_new_str("one");
    SL_PASS(sl_value_map_set(want, "y", &v));
    inner = sl_value_new_list();
    inner2 = sl_value_new_list();
    z = sl_value_new_map();
    v = sl_value_copy(r0);
    SL_PASS(sl_value_list_append(inner2, &v));
    SL_PASS(sl_value_list_append(inner, &inner2));
    SL_PASS(sl_value_map_set(z, "deep", &inner));
    SL_PASS(sl_value_map_set(want, "z", &z));
    v = sl_value_new_float(2.5);
    SL_PASS(sl_value_map_set(want, "w", &v));
    char err[SL_TASK_ERROR_LEN];
    for (int in_frame = 0; in_frame < 2; in_frame++) {
        sl_value *got = s_echo(arg, in.buf.data, in.buf.size, in_frame, err);
        SL_ASSERT_STR(err, "");
        SL_ASSERT(got != NULL && s_same(got, want));
        sl_value_destroy(&got);
    }
    // Inputs no future names are no error; an argument of no future with
    // no inputs runs as it is.
    sl_value *plain = sl_value_new_int(5);
    sl_value *got = s_echo(plain, in.buf.data, in.buf.size, true, err);
    SL_ASSERT(got != NULL && sl_value_int(got) == 5);
    sl_value_destroy(&got);
    got = s_echo(plain, NULL, 0, false, err);
    SL_ASSERT(got != NULL && sl_value_int(got) == 5);
    sl_value_destroy(&got);
    sl_value_destroy(&plain);
    sl_value_destroy(&r0);
    sl_value_destroy(&want);
    sl_value_destroy(&arg);
    sl__mpw_fini(&in);
}

// A future whose result did not come with the task, no inputs at all for
// a future, inputs that are not [u64, u64, value] triples, and a result
// that does not decode: each ends the task with an error naming it, and
// the kernel does not run.
static void
test_run_futures_errors(void)
{
    sl_value *arg = sl_value_new_list();
    sl_value *f = sl__value_new_future(7, 2);
    SL_PASS(sl_value_list_append(arg, &f));
    static const struct {
        const char *inputs; // raw msgpack; NULL: none
        size_t len;
        const char *says;
    } cases[] = {
        {NULL, 0,
         "job 0000000000000007 task 2, whose result did not come "
         "with the task"},
        {"\x93\x07\x01\x05", 4, "did not come with the task"}, // task 1
        {"\x93\x08\x02\x05", 4, "did not come with the task"}, // job 8
        {"\x90", 1, "did not come with the task"},             // none
        {"\x92\x07\x02", 3, "malformed task inputs"},          // a pair
        {"\xc0", 1, "malformed task inputs"},                  // nil
        {"\x93\xa1x\x02\x05", 5, "malformed task input 0"},    // a str job
        {"\x96\x07\x01\x05\x07\xff\x05", 7, "malformed task input 1"},
        {"\x93\x07\x02\xc1", 4, "malformed task input 0"}, // no msgpack
        {"\x93\x07\x02\x81\x01\x02", 6,
         "the result of job 0000000000000007 task 2 does not decode"},
        {"\x93\x07\x02\xd5\x03\x00\x00", 7, "future payload is not 16 bytes"},
    };
    char err[SL_TASK_ERROR_LEN];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (int in_frame = 0; in_frame < 2; in_frame++) {
            sl_value *got =
                s_echo(arg, cases[i].inputs, cases[i].len, in_frame, err);
            SL_ASSERT(got == NULL);
            SL_ASSERT_HAS(err, "sys.echo: ");
            SL_ASSERT_HAS(err, cases[i].says);
        }
    }
    sl_value_destroy(&arg);
}

// A result that is itself a future (which no kernel returns: a forged
// one) is resolved in turn; one that names itself, or a cycle, ends at
// max_depth with an error, not a stack overflow. A result that is a ref
// stays a ref, for the store to fetch: here there is none, so the task
// fails saying so. A result of nil is nil.
static void
test_run_futures_in_results(void)
{
    sl_value *arg = sl__value_new_future(7, 0);
    char err[SL_TASK_ERROR_LEN];
    sl__mpw in;
    sl__mpw_init(&in);
    msgpack_pack_array(&in.pk, 6);
    msgpack_pack_uint64(&in.pk, 7);
    msgpack_pack_uint64(&in.pk, 0);
    s_pack(&in, sl__value_new_future(7, 1));
    msgpack_pack_uint64(&in.pk, 7);
    msgpack_pack_uint64(&in.pk, 1);
    s_pack(&in, sl_value_new_int(42));
    sl_value *got = s_echo(arg, in.buf.data, in.buf.size, true, err);
    SL_ASSERT(got != NULL && sl_value_int(got) == 42);
    sl_value_destroy(&got);
    for (int cycle = 0; cycle < 2; cycle++) { // 0 -> 0; 0 -> 1 -> 0
        sl__mpw_reset(&in);
        msgpack_pack_array(&in.pk, cycle ? 6 : 3);
        msgpack_pack_uint64(&in.pk, 7);
        msgpack_pack_uint64(&in.pk, 0);
        s_pack(&in, sl__value_new_future(7, cycle ? 1 : 0));
        if (cycle) {
            msgpack_pack_uint64(&in.pk, 7);
            msgpack_pack_uint64(&in.pk, 1);
            s_pack(&in, sl__value_new_future(7, 0));
        }
        SL_ASSERT(s_echo(arg, in.buf.data, in.buf.size, true, err) == NULL);
        SL_ASSERT_HAS(err, "futures nested too deep");
    }
    sl__mpw_reset(&in);
    msgpack_pack_array(&in.pk, 3);
    msgpack_pack_uint64(&in.pk, 7);
    msgpack_pack_uint64(&in.pk, 0);
    s_pack(&in, sl__value_new_ref("sl:j0000000000000007:r0", 100000, 0));
    SL_ASSERT(s_echo(arg, in.buf.data, in.buf.size, false, err) == NULL);
    SL_ASSERT_HAS(err, "store");
    sl__mpw_reset(&in);
    msgpack_pack_array(&in.pk, 3);
    msgpack_pack_uint64(&in.pk, 7);
    msgpack_pack_uint64(&in.pk, 0);
    msgpack_pack_nil(&in.pk);
    got = s_echo(arg, in.buf.data, in.buf.size, false, err);
    SL_ASSERT(got != NULL && sl_value_type(got) == SL_NIL);
    sl_value_destroy(&got);
    sl__mpw_fini(&in);
    sl_value_destroy(&arg);
}

// An ndarray result as an input, after arguments of every length mod 8:
// the task gets the right elements whether the decoder could leave them
// where they lie (aligned there) or had to copy them. Decoded as run.c
// decodes it, with a blob over the frame, it is used in place for some
// of those lengths: inputs follow their argument unpadded, so where an
// input's elements lie depends on the argument's length.
static void
test_run_future_ndarray_input(void)
{
    double elems[6] = {1.5, -2, 3, 4e10, 5, 6};
    int64_t shape[2] = {2, 3};
    sl_value *nd = sl_value_new_ndarray(SL_F64, 2, shape, elems);
    sl__mpw in;
    sl__mpw_init(&in);
    msgpack_pack_array(&in.pk, 3);
    msgpack_pack_uint64(&in.pk, 7);
    msgpack_pack_uint64(&in.pk, 0);
    SL_PASS(sl__value_pack(&in, nd));
    int in_place = 0;
    char err[SL_TASK_ERROR_LEN], errbuf[SL_ERRSTR_LEN];
    for (size_t pad = 0; pad < 8; pad++) {
        char s[8] = "xxxxxxx";
        s[pad] = '\0';
        sl_value *arg = sl_value_new_list();
        sl_value *v = sl_value_new_str(s);
        SL_PASS(sl_value_list_append(arg, &v));
        v = sl__value_new_future(7, 0);
        SL_PASS(sl_value_list_append(arg, &v));
        for (int in_frame = 0; in_frame < 2; in_frame++) {
            sl_value *got =
                s_echo(arg, in.buf.data, in.buf.size, in_frame, err);
            SL_ASSERT_STR(err, "");
            SL_ASSERT(got != NULL && sl_value_list_size(got) == 2);
            SL_ASSERT(s_same(sl_value_list_at(got, 1), nd));
            sl_value_destroy(&got);
        }
        // Where the input's elements lie in a batch frame.
        void *enc;
        size_t enc_len;
        SL_PASS(sl__value_encode(arg, &enc, &enc_len));
        sl__mpw w;
        sl__task_group g;
        sl__task_item items[SL_FRAME_BATCH_MAX];
        sl__mpw_init(&w);
        sl__frame_batch_begin(&w, 1, "sys.echo", 8, 0, "", 0, 1);
        sl__frame_batch_task(&w, 0, 1, enc_len, in.buf.size);
        sl__frame_batch_arg(&w, enc, enc_len, in.buf.data, in.buf.size);
        const uint8_t *buf = (const uint8_t *) w.buf.data;
        SL_PASS(sl__frame_batch_decode(buf, w.buf.size, &g, items, errbuf));
        sl__mpr r;
        uint32_t n;
        uint64_t j, k;
        const uint8_t *p;
        size_t len;
        sl__mpr_init(&r, items[0].inputs, items[0].inputs_len);
        SL_ASSERT(sl__mpr_array(&r, &n) == 0 && sl__mpr_u64(&r, &j) == 0 &&
                  sl__mpr_u64(&r, &k) == 0 &&
                  sl__mpr_skip(&r, 32, &p, &len) == 0);
        sl__blob *blob = sl__blob_new((void *) buf, w.buf.size, s_keep, NULL);
        sl_value *x = NULL;
        SL_PASS(sl__value_decode_buf(p, len, &sl__limits_default, blob, &x,
                                     errbuf));
        const uint8_t *data = sl_ndarray_cdata(x);
        bool here = data >= buf && data < buf + w.buf.size;
        SL_ASSERT(!here || (uintptr_t) data % sizeof(double) == 0);
        SL_ASSERT(memcmp(data, elems, sizeof(elems)) == 0);
        in_place += here;
        sl_value_destroy(&x);
        sl__blob_release(&blob);
        sl__mpw_fini(&w);
        free(enc);
        sl_value_destroy(&arg);
    }
    fprintf(stderr, "   the input's elements lie aligned in %d of 8 frames\n",
            in_place);
    SL_ASSERT(in_place >= 1);
    sl_value_destroy(&nd);
    sl__mpw_fini(&in);
}

// Random bytes, and valid frames (with inputs and without) with bytes
// changed: refused, or accepted with every argument and inputs inside the
// frame.
static void
test_batch_garbage(void)
{
    const uint8_t *args[] = {(const uint8_t *) "\x81\xa1x\x01",
                             (const uint8_t *) "\xc3",
                             (const uint8_t *) "\xa5hello"};
    const size_t lens[] = {4, 1, 6};
    const uint8_t *ins[] = {(const uint8_t *) "\x93\x05\x00\xc3", NULL,
                            (const uint8_t *) "\x90"};
    const size_t in_lens[] = {4, 0, 1};
    sl__mpw w, wi;
    sl__task_group g;
    sl__task_item items[SL_FRAME_BATCH_MAX];
    char errbuf[SL_ERRSTR_LEN];
    uint8_t *buf = malloc(256);
    unsigned seed = 7;
    size_t accepted = 0;
    SL_ASSERT(buf != NULL);
    sl__mpw_init(&w);
    sl__mpw_init(&wi);
    s_batch(&w, 3, args, lens);
    s_batch_inputs(&wi, 3, args, lens, ins, in_lens); // and with inputs
    SL_ASSERT(w.buf.size <= 256 && wi.buf.size <= 256);
    for (int round = 0; round < 20000; round++) {
        size_t n;
        if (round % 2 == 0) { // noise
            n = (size_t) rand_r(&seed) % 256;
            for (size_t i = 0; i < n; i++) {
                buf[i] = (uint8_t) rand_r(&seed);
            }
        } else { // a real frame, one to three bytes changed
            const sl__mpw *real = round % 4 == 1 ? &w : &wi;
            n = real->buf.size;
            memcpy(buf, real->buf.data, n);
            for (int k = 1 + rand_r(&seed) % 3; k > 0; k--) {
                buf[(size_t) rand_r(&seed) % n] = (uint8_t) rand_r(&seed);
            }
        }
        if (sl__frame_batch_decode(buf, n, &g, items, errbuf) == SL_OK) {
            s_check_batch(buf, n, &g, items);
            accepted++;
        } else {
            SL_ASSERT_HAS(errbuf, "malformed batch frame");
        }
    }
    fprintf(stderr, "   %zu of 20000 changed frames still decode\n", accepted);
    free(buf);
    sl__mpw_fini(&w);
    sl__mpw_fini(&wi);
}

int
main(void)
{
    signal(SIGPIPE, SIG_DFL); // sl__frame_send must not raise it
    SL_RUN(test_frame_length);
    SL_RUN(test_frame_round_trip);
    SL_RUN(test_frame_truncated);
    SL_RUN(test_frame_oversized);
    SL_RUN(test_frame_send_closed);
    SL_RUN(test_init_round_trip);
    SL_RUN(test_init_garbage);
    SL_RUN(test_batch_round_trip);
    SL_RUN(test_batch_carries_scheduler_bytes);
    SL_RUN(test_batch_truncated_and_oversized);
    SL_RUN(test_batch_inputs_round_trip);
    SL_RUN(test_batch_inputs_refused);
    SL_RUN(test_batch_task_home);
    SL_RUN(test_batch_garbage);
    SL_RUN(test_run_futures_resolved);
    SL_RUN(test_run_futures_errors);
    SL_RUN(test_run_futures_in_results);
    SL_RUN(test_run_future_ndarray_input);
    sl__registry_destroy(&s_reg);
    return 0;
}
