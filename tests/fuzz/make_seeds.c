// make_seeds.c - write the seed corpora of the fuzz targets: small valid
// encodings of each value and each message, made with starling's own
// encoders, and a few malformed ones.
// SPDX-License-Identifier: MIT
//
// Usage: make_seeds DIR writes DIR/<target>/NAME, replacing
// files of the same name. The committed corpus is its output:
//     build-fuzz/tests/fuzz/make_seeds tests/fuzz/corpus
// Everything here is deterministic, so a rerun changes no file.
#include <errno.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "fuzzutil.h"
#include "serialize/msg.h"
#include "store/manifest.h"
#include "worker/frame.h"

static const char *s_root; // the output directory

// Hand-written bytes: a name, and a string literal without its NUL.
typedef struct {
    const char *name;
    const char *bytes;
    size_t len;
} s_raw;
#define S_RAW(name, literal)               \
    {                                      \
        name, literal, sizeof(literal) - 1 \
    }

static void
s_mkdir(const char *path)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "make_seeds: mkdir %s: %s\n", path, strerror(errno));
        exit(1);
    }
}

static void
s_write(const char *target, const char *name, const void *buf, size_t len)
{
    char path[4096];
    sl__fmt(path, sizeof(path), "%s/%s/%s", s_root, target, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "make_seeds: cannot write %s\n", path);
        exit(1);
    }
}

static void
s_write_raw(const char *target, const s_raw *raw, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        s_write(target, raw[i].name, raw[i].bytes, raw[i].len);
    }
}

// The mp target reads a depth byte first.
static void
s_write_mp(const char *name, const void *buf, size_t len)
{
    uint8_t out[4096];
    SL_FUZZ_CHECK(len < sizeof(out));
    out[0] = 32;
    memcpy(out + 1, buf, len);
    s_write("mp", name, out, len + 1);
}

// Write v as a value seed (and as an mp seed when mp_name is not NULL);
// takes v.
static void
s_value(const char *name, sl_value *v, const char *mp_name)
{
    void *buf;
    size_t len;
    SL_FUZZ_CHECK(v != NULL);
    SL_FUZZ_CHECK(sl__value_encode(v, &buf, &len) == SL_OK);
    s_write("value", name, buf, len);
    if (mp_name != NULL) {
        s_write_mp(mp_name, buf, len);
    }
    free(buf);
    sl_value_destroy(&v);
}

static sl_value *
s_list(int n, sl_value **items)
{
    sl_value *list = sl_value_new_list();
    for (int i = 0; i < n; i++) {
        SL_FUZZ_CHECK(sl_value_list_append(list, &items[i]) == SL_OK);
    }
    return list;
}

static sl_value *
s_matrix(void)
{
    const float elems[6] = {1, 2, 3, 4, 5, 6};
    return sl_value_new_ndarray(SL_F32, 2, (int64_t[]){2, 3}, elems);
}

// A map of every kind of value, nested once.
static sl_value *
s_mixed(void)
{
    sl_value *map = sl_value_new_map();
    sl_value *items[] = {
        sl_value_new_int(-7),  sl_value_new_float(0.25),
        sl_value_new_str("x"), sl_value_new_bytes("\x00\x01", 2),
        sl_value_new_nil(),
    };
    sl_value *list = s_list(5, items);
    sl_value *ref = sl__value_new_ref("sl:s0000000000000001:1", 4096, 1);
    sl_value *nd = s_matrix();
    SL_FUZZ_CHECK(sl_value_map_set(map, "list", &list) == SL_OK);
    SL_FUZZ_CHECK(sl_value_map_set(map, "ref", &ref) == SL_OK);
    SL_FUZZ_CHECK(sl_value_map_set(map, "a", &nd) == SL_OK);
    return map;
}

// Futures as a client puts them in an argument: in a map, in a list,
// beside other values.
static sl_value *
s_futures(void)
{
    sl_value *map = sl_value_new_map();
    sl_value *items[] = {sl__value_new_future(0xabcdef, 0), sl_value_new_int(2),
                         sl__value_new_future(0x42, 1)};
    sl_value *list = s_list(3, items);
    sl_value *f = sl__value_new_future(0xabcdef, 1);
    SL_FUZZ_CHECK(sl_value_map_set(map, "a", &f) == SL_OK);
    SL_FUZZ_CHECK(sl_value_map_set(map, "list", &list) == SL_OK);
    return map;
}

// depth lists, one inside another, around an int.
static sl_value *
s_nested(int depth)
{
    sl_value *v = sl_value_new_int(1);
    for (int i = 0; i < depth; i++) {
        v = s_list(1, &v);
    }
    return v;
}

static void
s_values(void)
{
    s_value("nil", sl_value_new_nil(), "nil");
    s_value("true", sl_value_new_bool(true), "true");
    s_value("false", sl_value_new_bool(false), NULL);
    s_value("int_0", sl_value_new_int(0), "fixint");
    s_value("int_neg", sl_value_new_int(-33), "int8");
    s_value("int_u16", sl_value_new_int(65535), "uint16");
    s_value("int_i32", sl_value_new_int(-100000), "int32");
    s_value("int_max", sl_value_new_int(INT64_MAX), "uint64");
    s_value("int_min", sl_value_new_int(INT64_MIN), "int64");
    s_value("float", sl_value_new_float(-1.5), "float64");
    s_value("str_empty", sl_value_new_str(""), NULL);
    s_value("str", sl_value_new_str("hello"), "fixstr");
    s_value("str_nul", sl__value_new_strn("a\0b", 3), NULL);
    s_value("str8", sl_value_new_str("a string of more than thirty-one bytes"),
            "str8");
    s_value("bytes_empty", sl_value_new_bytes("", 0), NULL);
    s_value("bytes", sl_value_new_bytes("\xff\x00\x7f", 3), "bin8");
    s_value("ndarray_f32", s_matrix(), "ext8");
    s_value("ndarray_f64_scalar",
            sl_value_new_ndarray(SL_F64, 0, NULL, (double[]){3.5}), "fixext16");
    s_value("ndarray_i32_empty",
            sl_value_new_ndarray(SL_I32, 1, (int64_t[]){0}, NULL), "fixext16b");
    s_value("ndarray_i64_4d",
            sl_value_new_ndarray(SL_I64, 4, (int64_t[]){1, 2, 1, 1},
                                 (int64_t[]){-1, 1}),
            NULL);
    s_value("ref", sl__value_new_ref("sl:j00000000000000ab:r3", 100000, 0),
            NULL);
    s_value("list_empty", sl_value_new_list(), "fixarray_empty");
    s_value("map_empty", sl_value_new_map(), "fixmap_empty");
    s_value("map_mixed", s_mixed(), "fixmap");
    char key[SL_MAP_KEY_MAX + 1];
    memset(key, 'k', SL_MAP_KEY_MAX);
    key[SL_MAP_KEY_MAX] = '\0';
    sl_value *map = sl_value_new_map(), *one = sl_value_new_int(1);
    SL_FUZZ_CHECK(sl_value_map_set(map, key, &one) == SL_OK);
    s_value("map_key_255", map, NULL);
    s_value("nested_32", s_nested(32), "nested_32");
    s_value("future", sl__value_new_future(0xabcdef, 3), NULL);
    s_value("future_max", sl__value_new_future(UINT64_MAX, UINT64_MAX), NULL);
    s_value("futures_nested", s_futures(), NULL);
}

// Hand-written values that the encoder would not write.
static void
s_raw_values(void)
{
    static const s_raw raw[] = {
        S_RAW("float32", "\xca\x3f\xc0\x00\x00"),
        S_RAW("int_wide", "\xd3\x00\x00\x00\x00\x00\x00\x00\x05"),
        S_RAW("map_dup_keys", "\x82\xa1k\x01\xa1k\x02"),
        S_RAW("bad_c1", "\xc1"),
        S_RAW("bad_u64_above_int64", "\xcf\x80\x00\x00\x00\x00\x00\x00\x00"),
        S_RAW("bad_map_int_key", "\x81\x01\x02"),
        S_RAW("bad_map_key_nul", "\x81\xa2k\x00\x01"),
        S_RAW("bad_ext_type", "\xd4\x05\x00"),
        S_RAW("bad_trailing", "\x01\x02"),
        S_RAW("bad_str_truncated", "\xa5hel"),
        S_RAW("bad_array_huge", "\xdd\xff\xff\xff\xff\x01"),
        S_RAW("bad_ndarray_short", "\xd6\x01\x01\x02\x00\x00"),
        S_RAW("bad_future_8", "\xd7\x03\x01\x00\x00\x00\x00\x00\x00\x00"),
        S_RAW("bad_future_17", "\xc7\x11\x03\x01\x00\x00\x00\x00\x00\x00"
                               "\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00"),
    };
    s_write_raw("value", raw, sizeof(raw) / sizeof(raw[0]));
}

// One past each limit: a map key of 256 bytes, 33 levels of lists.
static void
s_values_past_limits(void)
{
    char key[SL_MAP_KEY_MAX + 1];
    memset(key, 'k', sizeof(key));
    sl__mpw w;
    sl__mpw_init(&w);
    msgpack_pack_map(&w.pk, 1);
    sl__mpw_strn(&w, key, sizeof(key));
    msgpack_pack_nil(&w.pk);
    s_write("value", "bad_map_key_256", w.buf.data, w.buf.size);
    sl__mpw_reset(&w);
    sl_value *deep = s_nested(33);
    // The encoder refuses depth 33: write the outer list by hand.
    msgpack_pack_array(&w.pk, 1);
    void *inner;
    size_t len;
    sl_value *v = deep->u.list.items[0];
    SL_FUZZ_CHECK(sl__value_encode(v, &inner, &len) == SL_OK);
    sl__mpw_raw(&w, inner, len);
    s_write("value", "bad_nested_33", w.buf.data, w.buf.size);
    free(inner);
    sl__mpw_fini(&w);
    sl_value_destroy(&deep);
}

// ---------------------------------------------------------------------
// Messages.

static void
s_msg(const char *name, sl__mpw *w)
{
    s_write("msg", name, w->buf.data, w->buf.size);
    sl__mpw_reset(w);
}

static void
s_pack_value(sl__mpw *w, sl_value *v)
{
    SL_FUZZ_CHECK(v != NULL && sl__value_pack(w, v) == SL_OK);
    sl_value_destroy(&v);
}

// A deps entry of n pairs: (job, 0), (job, 1), ...; nil for none.
static void
s_deps_entry(sl__mpw *w, uint64_t job, uint32_t n)
{
    if (n == 0) {
        msgpack_pack_nil(&w->pk);
        return;
    }
    msgpack_pack_array(&w->pk, 2 * n);
    for (uint32_t i = 0; i < n; i++) {
        msgpack_pack_uint64(&w->pk, job);
        msgpack_pack_uint64(&w->pk, i);
    }
}

// What a client sends for futures: SUBMIT with its deps field (the
// futures in the args too), again after a restart, and RELEASE.
static void
s_msgs_futures(sl__mpw *w)
{
    sl__job_opts kept = {0, 1, 0, SL_SUBMIT_KEEP | SL_SUBMIT_NO_ACCEPTED};
    sl__msg_resubmit_begin(w, 0xabcdf0, "sys.echo", 3, 0, &kept, NULL, 3, true);
    s_pack_value(w, sl_value_new_int(1));
    s_pack_value(w, sl__value_new_future(0xabcdef, 0));
    s_pack_value(w, s_futures());
    msgpack_pack_array(&w->pk, 3);
    s_deps_entry(w, 0xabcdef, 0);
    s_deps_entry(w, 0xabcdef, 1);
    msgpack_pack_array(&w->pk, 6);
    uint64_t pairs[6] = {0xabcdef, 0, 0x42, 1, 0xabcdef, 1};
    for (int i = 0; i < 6; i++) {
        msgpack_pack_uint64(&w->pk, pairs[i]);
    }
    s_msg("submit_deps", w);
    const uint8_t ended[1] = {0x01};
    sl__msg_resubmit_begin(w, 0xabcdf0, "sys.echo", 2, 0, &kept, ended, 2,
                           true);
    s_pack_value(w, sl__value_new_future(0xabcdf0, 0));
    s_pack_value(w, sl__value_new_future(0xabcdf0, 0));
    msgpack_pack_array(&w->pk, 2);
    msgpack_pack_array(&w->pk, 0); // an empty entry: no future either
    s_deps_entry(w, 0xabcdf0, 1);
    s_msg("resubmit_deps_ended", w);
    const uint64_t jobs[3] = {0xabcdef, 0x42, UINT64_MAX};
    sl__msg_release(w, jobs, 3);
    s_msg("release", w);
    sl__msg_release(w, NULL, 0);
    s_msg("release_empty", w);
}

static void
s_msgs_client(sl__mpw *w)
{
    sl__msg_hello(w, "client@host", 4242);
    s_msg("hello", w);
    sl__job_opts opts = {1000, 3, 5, 0};
    sl__msg_submit_begin(w, 0xabcdef, "blas.gemm", 3, 0, &opts, 3);
    s_pack_value(w, sl_value_new_int(7));
    s_pack_value(w, s_matrix());
    s_pack_value(w, s_mixed());
    s_msg("submit", w);
    sl__msg_submit_begin(w, 0xabcdef, "sys.echo", 10, 8, &opts, 2);
    s_pack_value(w, sl_value_new_str("a"));
    s_pack_value(w, sl__value_new_ref("sl:j0000000000abcdef:a9.x", 99, 2));
    s_msg("submit_last_chunk", w);
    char name[256];
    memset(name, 'f', 255);
    name[255] = '\0';
    sl__msg_submit_begin(w, 1, name, 1, 0, &opts, 1);
    s_pack_value(w, sl_value_new_nil());
    s_msg("submit_long_function", w);
    // Submitted again after a restart: tasks 0 and 2 ended; with flags.
    sl__job_opts flagged = {0, 3, 0, 3};
    const uint8_t ended[1] = {0x05};
    sl__msg_resubmit_begin(w, 0xabcdef, "sys.echo", 3, 0, &flagged, ended, 3,
                           false);
    for (int i = 0; i < 3; i++) {
        s_pack_value(w, sl_value_new_int(i));
    }
    s_msg("resubmit_ended_flags", w);
    sl__msg_resubmit_begin(w, 0xabcdef, "sys.echo", 3, 0, &flagged, NULL, 1,
                           false);
    s_pack_value(w, sl_value_new_nil());
    s_msg("submit_flags_no_ended", w);
    s_msgs_futures(w);
    sl__msg_cancel_task(w, 0xabcdef, 7);
    s_msg("cancel_task", w);
    sl__msg_job(w, SL_MSG_CANCEL, 0xabcdef);
    s_msg("cancel", w);
    sl__msg_empty(w, SL_MSG_STATUS);
    s_msg("status", w);
    sl__msg_empty(w, SL_MSG_BYE);
    s_msg("bye", w);
    sl__msg_empty(w, SL_MSG_HEARTBEAT);
    s_msg("heartbeat", w);
}

static void
s_msgs_scheduler(sl__mpw *w)
{
    sl__welcome m = {
        .session = 0x1122334455667788,
        .heartbeat_ms = 1000,
        .inline_max = 4096,
        .password = {"secret", 6},
        .n_stores = 2,
        .stores = {{"127.0.0.1:6379", 14}, {"127.0.0.1:6380", 14}},
    };
    sl__msg_welcome(w, &m);
    s_msg("welcome", w);
    // At the limits: 16 stores (an array16), a 255-byte function name.
    for (int i = 2; i < 16; i++) {
        m.stores[i] = m.stores[i % 2];
    }
    m.n_stores = 16;
    sl__msg_welcome(w, &m);
    s_msg("welcome_16_stores", w);
    sl__msg_accepted(w, 0xabcdef, 0, 3);
    s_msg("accepted", w);
    sl__msg_error(w, SL_ENOTFOUND, "unknown worker: send READY", 0);
    s_msg("error", w);
    sl__status s = {4, 16, 3, 2, 100, 12, 5000, 812.5, 33.25, 3600, 7};
    sl__msg_status_reply(w, &s);
    s_msg("status_reply", w);
    sl__msg_empty(w, SL_MSG_SHUTDOWN);
    s_msg("shutdown", w);
}

static void
s_tasks(sl__mpw *w)
{
    void *a, *b;
    size_t alen, blen;
    sl_value *va = sl_value_new_int(3), *vb = s_matrix();
    SL_FUZZ_CHECK(sl__value_encode(va, &a, &alen) == SL_OK);
    SL_FUZZ_CHECK(sl__value_encode(vb, &b, &blen) == SL_OK);
    sl__msg_tasks_begin(w, 2);
    sl__msg_task_group(w, 0xabcdef, "blas.gemm", 9, 0, "node-1", 6, 2);
    sl__msg_task_item(w, &(sl__task_item){0, 1, a, alen, NULL, 0});
    sl__msg_task_item(w, &(sl__task_item){1, 2, b, blen, NULL, 0});
    sl__msg_task_group(w, 0x42, "sys.sleep", 9, 500, "", 0, 1);
    sl__msg_task_item(w, &(sl__task_item){7, 1, a, alen, NULL, 0});
    s_msg("tasks", w);
    // With inputs: the results the futures of an argument name.
    sl__mpw in;
    void *f;
    size_t flen;
    sl_value *vf = s_futures();
    SL_FUZZ_CHECK(sl__value_encode(vf, &f, &flen) == SL_OK);
    sl__mpw_init(&in);
    msgpack_pack_array(&in.pk, 9);
    msgpack_pack_uint64(&in.pk, 0xabcdef);
    msgpack_pack_uint64(&in.pk, 0);
    sl__mpw_raw(&in, a, alen);
    msgpack_pack_uint64(&in.pk, 0xabcdef);
    msgpack_pack_uint64(&in.pk, 1);
    sl__mpw_raw(&in, b, blen);
    msgpack_pack_uint64(&in.pk, 0x42);
    msgpack_pack_uint64(&in.pk, 1);
    s_pack_value(&in, sl__value_new_ref("sl:j0000000000000042:r1", 99999, 1));
    const uint8_t *inputs = (const uint8_t *) in.buf.data;
    sl__msg_tasks_begin(w, 1);
    sl__msg_task_group(w, 0xabcdf0, "sys.echo", 8, 0, "node-1", 6, 3);
    sl__msg_task_item(w, &(sl__task_item){0, 1, f, flen, inputs, in.buf.size});
    sl__msg_task_item(w, &(sl__task_item){1, 1, a, alen, NULL, 0});
    sl__msg_task_item(
        w, &(sl__task_item){2, 2, f, flen, (const uint8_t *) "\x90", 1});
    s_msg("tasks_inputs", w);
    sl__mpw_fini(&in);
    sl_value_destroy(&vf);
    free(f);
    free(a);
    free(b);
    sl_value_destroy(&va);
    sl_value_destroy(&vb);
}

// One OK outcome with a value and one ERROR outcome with a text.
static void
s_outcomes(sl__mpw *w, bool with_job)
{
    void *val;
    size_t len;
    sl_value *v = s_mixed();
    SL_FUZZ_CHECK(sl__value_encode(v, &val, &len) == SL_OK);
    sl__outcome ok = {
        0xabcdef, 0,   1,       SL_WIRE_OK,
        val,      len, {"", 0}, {1.7e9, 1.7e9 + 0.5, 2e6, 100, 200, 300}};
    sl__outcome bad = {0xabcdef,
                       1,
                       3,
                       SL_WIRE_ERROR,
                       NULL,
                       0,
                       {"kernel failed", 13},
                       {1.7e9, 1.7e9, 0, 0, 0, 0}};
    sl__msg_outcome(w, &ok, with_job);
    sl__msg_outcome(w, &bad, with_job);
    free(val);
    sl_value_destroy(&v);
}

static void
s_msgs_worker(sl__mpw *w)
{
    sl__ready r = {4, 4, {"node-1", 6}, 999};
    sl__msg_ready(w, &r);
    s_msg("ready", w);
    sl__ready max = {4096, 4096, {"", 0}, UINT32_MAX};
    sl__msg_ready(w, &max);
    s_msg("ready_max", w);
    sl__msg_result_begin(w, 2);
    s_outcomes(w, true);
    s_msg("result", w);
    sl__outcome lost = {0xabcdef,
                        2,
                        1,
                        SL_WIRE_LOST,
                        NULL,
                        0,
                        {"executor (pid 7) killed by signal 11", 36},
                        {1.7e9, 1.7e9, 0, 0, 0, 0}};
    sl__msg_result_begin(w, 1);
    sl__msg_outcome(w, &lost, true);
    s_msg("result_lost", w);
    sl__msg_done_begin(w, 0xabcdef, 2);
    s_outcomes(w, false);
    s_msg("done", w);
    s_tasks(w);
}

// Messages one past a limit of their decoder, which no encoder refuses.
static void
s_msgs_past_limits(sl__mpw *w)
{
    char name[257];
    memset(name, 'f', 256);
    name[256] = '\0';
    sl__job_opts opts = {0, 0, 0, 0};
    sl__msg_submit_begin(w, 1, name, 1, 0, &opts, 0);
    s_msg("bad_submit_function_256", w);
    sl__ready r = {4097, 0, {"n", 1}, 1};
    sl__msg_ready(w, &r);
    s_msg("bad_ready_slots_4097", w);
    sl__msg_begin(w, SL_MSG_WELCOME, 5);
    msgpack_pack_uint64(&w->pk, 1);
    msgpack_pack_uint32(&w->pk, 1000);
    msgpack_pack_array(&w->pk, 17);
    for (int i = 0; i < 17; i++) {
        sl__mpw_str(w, "127.0.0.1:6379");
    }
    sl__mpw_str(w, "");
    msgpack_pack_uint32(&w->pk, 4096);
    s_msg("bad_welcome_17_stores", w);
    char home[SL_NODE_NAME_MAX + 1];
    memset(home, 'h', sizeof(home));
    sl__msg_tasks_begin(w, 1);
    sl__msg_task_group(w, 1, "sys.noop", 8, 0, home, sizeof(home), 0);
    s_msg("bad_tasks_home_65", w);
}

static void
s_msgs_malformed(void)
{
    static const s_raw raw[] = {
        S_RAW("bad_empty", ""),
        S_RAW("bad_version", "\x92\x02\x04"),
        S_RAW("bad_type_unknown", "\x92\x01\x63"),
        S_RAW("bad_not_array", "\x81\xa1v\x01"),
        S_RAW("bad_submit_first_past_total",
              "\x98\x01\x02\x01\xa3m.k\x02\x03\x93\x00\x00\x00\x90"),
        S_RAW("bad_welcome_no_store", "\x97\x01\x10\x01\x01\x90\xa0\x00"),
        S_RAW("bad_ready_zero_slots", "\x96\x01\x20\x00\x00\xa1n\x01"),
        S_RAW(
            "bad_outcome_status",
            "\x93\x01\x21\x91\x9b\x01\x00\x01\x07\xc0\xc0\x00\x00\x00\x00\x00"),
        S_RAW("bad_tasks_truncated",
              "\x93\x01\x30\x91\x95\x01\xa1\x66\x00\xa0\x92"),
        S_RAW("bad_status_reply_str", "\x93\x01\x13\x81\xa4jobs\xa1x"),
        // A deps entry of an odd count; inputs of a pair; an item of 5;
        // a RELEASE of no array.
        S_RAW("bad_submit_deps_odd",
              "\x99\x01\x02\x01\xa3m.k\x01\x00\x93\x00\x01\x00\x91\xc0"
              "\x91\x91\x01"),
        S_RAW("bad_tasks_inputs_pair",
              "\x93\x01\x30\x91\x95\x01\xa1\x66\x00\xa0\x91\x94\x00\x01"
              "\xc0\x92\x01\x00"),
        S_RAW("bad_tasks_item_5",
              "\x93\x01\x30\x91\x95\x01\xa1\x66\x00\xa0\x91\x95\x00\x01"
              "\xc0\x90\xc0"),
        S_RAW("bad_release_not_array", "\x93\x01\x07\x05"),
        // Float32 statistics in RESULT: valid, but no encoder writes them.
        S_RAW("result_f32_stats", "\x93\x01\x21\x91\x9b\x01\x00\x01\x04\xc0"
                                  "\xc0\xca\x3f\x80\x00\x00\x00\x00\x00\x00"),
    };
    s_write_raw("msg", raw, sizeof(raw) / sizeof(raw[0]));
}

// ---------------------------------------------------------------------
// The msgpack reader: every width of every format.

static void
s_mp(void)
{
    static const s_raw raw[] = {
        S_RAW("neg_fixint", "\xff"),
        S_RAW("uint8", "\xcc\xff"),
        S_RAW("uint32", "\xce\x01\x00\x00\x00"),
        S_RAW("int16", "\xd1\x80\x00"),
        S_RAW("float32", "\xca\x7f\xc0\x00\x00"),
        S_RAW("str16", "\xda\x00\x02hi"),
        S_RAW("str32", "\xdb\x00\x00\x00\x01z"),
        S_RAW("bin16", "\xc5\x00\x01\x00"),
        S_RAW("bin32", "\xc6\x00\x00\x00\x00"),
        S_RAW("fixext1", "\xd4\x01\x00"),
        S_RAW("fixext2", "\xd5\x7f\x00\x01"),
        S_RAW("fixext4", "\xd6\x80\x00\x01\x02\x03"),
        S_RAW("fixext8", "\xd7\x02\x01\x02\x03\x04\x05\x06\x07\x08"),
        S_RAW("ext16", "\xc8\x00\x01\x02\xaa"),
        S_RAW("ext32", "\xc9\x00\x00\x00\x00\x05"),
        S_RAW("array16", "\xdc\x00\x02\xc0\xc3"),
        S_RAW("array32", "\xdd\x00\x00\x00\x01\x90"),
        S_RAW("map16", "\xde\x00\x01\x01\x02"),
        S_RAW("map32", "\xdf\x00\x00\x00\x01\xa0\xc2"),
        S_RAW("sequence", "\x01\xa1x\x92\x80\x90\xc0"),
        S_RAW("bad_c1", "\xc1"),
        S_RAW("bad_truncated_uint64", "\xcf\x00\x00"),
        S_RAW("bad_map_count", "\x82\x01"),
    };
    for (size_t i = 0; i < sizeof(raw) / sizeof(raw[0]); i++) {
        s_write_mp(raw[i].name, raw[i].bytes, raw[i].len);
    }
    // Depth bytes that refuse nesting: 0, and 2 for three levels.
    static const s_raw depth[] = {
        S_RAW("depth_0", "\x00\x91\x01"),
        S_RAW("depth_2_of_3", "\x02\x91\x91\x91\x01"),
    };
    s_write_raw("mp", depth, sizeof(depth) / sizeof(depth[0]));
}

// ---------------------------------------------------------------------
// ext payloads: the control byte, then the payload (see ndarray_fuzz.c).

static void
s_ext(const char *name, uint8_t ctl, sl_value *v)
{
    void *buf;
    size_t len;
    sl__mpr r;
    int8_t type;
    const uint8_t *p;
    uint32_t plen;
    uint8_t out[512];
    SL_FUZZ_CHECK(v != NULL && sl__value_encode(v, &buf, &len) == SL_OK);
    sl__mpr_init(&r, buf, len);
    SL_FUZZ_CHECK(sl__mpr_ext(&r, &type, &p, &plen) == 0);
    SL_FUZZ_CHECK(plen < sizeof(out));
    out[0] = ctl;
    memcpy(out + 1, p, plen);
    s_write("ndarray", name, out, plen + 1);
    free(buf);
    sl_value_destroy(&v);
}

// ctl: bit 0 ref, bits 1-2 header form, bits 3-5 padding.
#define S_CTL(ref, form, pad) ((uint8_t) ((ref) | (form) << 1 | (pad) << 3))

static void
s_ndarrays(void)
{
    s_ext("f32_2x3", S_CTL(0, 0, 0), s_matrix());
    s_ext("f32_2x3_pad4", S_CTL(0, 1, 4), s_matrix());
    s_ext("f64_scalar_pad3", S_CTL(0, 0, 3),
          sl_value_new_ndarray(SL_F64, 0, NULL, (double[]){2.5}));
    s_ext("i32_empty", S_CTL(0, 2, 0),
          sl_value_new_ndarray(SL_I32, 1, (int64_t[]){0}, NULL));
    s_ext("i64_4d_ext32", S_CTL(0, 3, 1),
          sl_value_new_ndarray(SL_I64, 4, (int64_t[]){1, 1, 2, 1},
                               (int64_t[]){5, -5}));
    s_ext("ref", S_CTL(1, 0, 0),
          sl__value_new_ref("sl:s00000000000000ff:1", 1 << 20, 3));
    s_ext("ref_one_byte_key", S_CTL(1, 1, 0), sl__value_new_ref("k", 1, 0));
    static const s_raw raw[] = {
        S_RAW("bad_dtype", "\x00\x05\x00\x00\x00\x00\x00\x00\x00"),
        S_RAW("bad_ndim", "\x00\x01\x05\x00\x00\x00\x00\x00\x00"),
        S_RAW("bad_shape_truncated",
              "\x00\x01\x01\x00\x00\x00\x00\x00\x00\x01"),
        S_RAW("bad_nbytes", "\x00\x03\x01\x00\x00\x00\x00\x00\x00\x02\x00\x00"
                            "\x00\x00\x00\x00\x00"
                            "\x01\x00\x00\x00"),
        S_RAW("bad_dim_huge", "\x00\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00"
                              "\x00\x00\x00\x00\x40"),
        S_RAW("bad_ref_version",
              "\x01\x02\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00"
              "\x00k"),
        S_RAW("bad_ref_key_nul",
              "\x01\x01\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00"
              "\x00k\x00"),
        S_RAW("bad_ref_key_len",
              "\x01\x01\x00\x05\x00\x00\x00\x00\x00\x00\x00\x00"
              "\x00k"),
    };
    s_write_raw("ndarray", raw, sizeof(raw) / sizeof(raw[0]));
}

// A module_fuzz input: control byte, text, NUL, encoded args (takes args).
static void
s_module(const char *name, uint8_t control, const char *text, sl_value *args)
{
    void *enc = NULL;
    size_t enc_len = 0, len = strlen(text);
    SL_FUZZ_CHECK(args != NULL);
    SL_FUZZ_CHECK(sl__value_encode(args, &enc, &enc_len) == SL_OK);
    uint8_t *buf = malloc(len + enc_len + 2);
    SL_FUZZ_CHECK(buf != NULL);
    buf[0] = control;
    memcpy(buf + 1, text, len);
    buf[len + 1] = '\0';
    memcpy(buf + len + 2, enc, enc_len);
    s_write("module", name, buf, len + enc_len + 2);
    free(buf);
    free(enc);
    sl_value_destroy(&args);
}

static sl_value *
s_args(const char *key, sl_value *v, const char *key2, sl_value *v2)
{
    sl_value *m = sl_value_new_map();
    SL_FUZZ_CHECK(sl_value_map_set(m, key, &v) == SL_OK);
    if (key2 != NULL) {
        SL_FUZZ_CHECK(sl_value_map_set(m, key2, &v2) == SL_OK);
    }
    return m;
}

// Module definitions, signatures with arguments, allow lists and kernel
// names (see module_fuzz.c for the layout).
static void
s_modules(void)
{
    static const char hash[] =
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    char text[512];
    s_module("gemm_like", 0,
             "mine\ngemm\nn:int,reps:int?,alpha:float?\nnoop\n-",
             s_args("n", sl_value_new_int(64), "alpha", sl_value_new_int(2)));
    s_module("typed_args", 4, "user\nk\n x : str , y:ndarray ? ,z:any",
             s_args("x", sl_value_new_str("a"), "z", sl_value_new_nil()));
    s_module("wrong_type", 0, "m\nk\nn:int",
             s_args("n", sl_value_new_float(1.5), NULL, NULL));
    s_module("unexpected_arg", 0, "m\nk\nn:int",
             s_args("n", sl_value_new_int(1), "m", sl_value_new_int(2)));
    s_module("builtin_name", 4, "blas\ndgemm\nn:int", sl_value_new_nil());
    s_module("wrong_abi", 1, "m\nk\n", sl_value_new_nil());
    s_module("no_fn", 2, "m\nk\nn:int\nj\n-", sl_value_new_nil());
    s_module("bad_sigs", 0, "m\nk\nn:int,\nj\nn:int,n:float\nq\n1x:int",
             sl_value_new_list());
    s_module("dotted", 0, "m.x\nk.y\n-", sl_value_new_nil());
    sl__fmt(text, sizeof(text), "# modules\n%s\n  %s  # mine\n\n%.40s\n", hash,
            hash, hash);
    s_module("allow_list", 0, text, sl_value_new_nil());
    sl__fmt(text, sizeof(text), "%s/dgemm\n%s/\nsys.noop", hash, hash);
    s_module("function_names", 0, text, sl_value_new_nil());
}

// A manifest_fuzz seed: the manifest of total bytes in chunks of chunk.
static void
s_manifest(const char *name, uint64_t total, uint64_t chunk)
{
    sl__manifest m;
    uint8_t buf[SL_MANIFEST_LEN];
    SL_FUZZ_CHECK(sl__manifest_plan(&m, total, chunk) == SL_OK);
    sl__manifest_encode(&m, buf);
    s_write("manifest", name, buf, sizeof(buf));
}

// Chunk manifests the store writes, and broken ones (see manifest_fuzz.c).
static void
s_manifests(void)
{
    s_manifest("chunks_1001", 1000003, 1000);
    s_manifest("chunks_exact", 3000, 1000);
    s_manifest("lookalike_one_chunk", 25, 4u << 20);
    s_manifest("default_64mib", 64u << 20, 4u << 20);
    s_manifest("most_chunks", UINT32_MAX, 1);
    s_manifest("huge_one_chunk", UINT64_MAX, UINT64_MAX);
    static const s_raw raw[] = {
        S_RAW("bad_truncated", "\xc1SLCK\x01\x00\x00\x00\x09\x00\x00\x00"
                               "\x00\x00\x00\x00\x09\x00\x00\x00\x00\x00"
                               "\x00"),
        S_RAW("bad_count", "\xc1SLCK\x02\x00\x00\x00\x09\x00\x00\x00\x00"
                           "\x00\x00\x00\x09\x00\x00\x00\x00\x00\x00"
                           "\x00"),
        S_RAW("bad_no_bytes", "\xc1SLCK\x02\x00\x00\x00\x00\x00\x00\x00"
                              "\x00\x00\x00\x00\xff\xff\xff\xff\xff\xff"
                              "\xff\xff"),
        S_RAW("bad_magic", "\xc1slck\x01\x00\x00\x00\x09\x00\x00\x00\x00"
                           "\x00\x00\x00\x09\x00\x00\x00\x00\x00\x00"
                           "\x00"),
        // A value of 25 bytes: a string of 24.
        S_RAW("plain_object", "\xb8"
                              "a plain object, 25 bytes"),
    };
    s_write_raw("manifest", raw, sizeof(raw) / sizeof(raw[0]));
}

// A frame_fuzz input: the decoder's byte (0 length, 1 init, 2 batch),
// then the buffer.
static void
s_frame(const char *name, uint8_t which, const void *buf, size_t len)
{
    uint8_t *out = malloc(len + 1);
    SL_FUZZ_CHECK(out != NULL);
    out[0] = which;
    memcpy(out + 1, buf, len);
    s_write("frame", name, out, len + 1);
    free(out);
}

// Frames between a worker and its executors (worker/frame.h).
static void
s_frames(sl__mpw *w)
{
    s_frame("length_ok", 0, "\x01\x10\x00\x00\x00", 5);
    s_frame("length_over", 0, "\x00\xff\xff\xff\xff", 5);
    sl__store_opts store = {.n_addrs = 2, .password = "pw"};
    store.addrs[0] = "127.0.0.1:6379";
    store.addrs[1] = "127.0.0.1:6380";
    sl__mpw_reset(w);
    sl__frame_init_encode(w, &store, 4096, "5eed", "seed-node");
    s_frame("init", 1, w->buf.data, w->buf.size);
    static const char *args[] = {"\xc0", "\x81\xa2ms\xcd\x01\xf4",
                                 "\xc1\xc1 not msgpack"};
    static const size_t lens[] = {1, 7, 14};
    for (uint32_t n = 1; n <= 3; n++) {
        char name[32];
        sl__mpw_reset(w);
        sl__frame_batch_begin(w, 0x0102030405060708ull, "sys.sleep", 9,
                              n == 1 ? 500 : 0, n == 2 ? "" : "node-1",
                              n == 2 ? 0 : 6, n);
        for (uint32_t i = 0; i < n; i++) {
            sl__frame_batch_task(w, i, 1, lens[i], 0);
        }
        for (uint32_t i = 0; i < n; i++) {
            sl__frame_batch_arg(w, args[i], lens[i], NULL, 0);
        }
        sl__fmt(name, sizeof(name), "batch_%u", n);
        s_frame(name, 2, w->buf.data, w->buf.size);
    }
    s_frame("batch_short", 2, w->buf.data, w->buf.size - 1);
    // Tasks with inputs right after their arguments, and one without.
    static const char *ins[] = {"\x93\x01\x00\xc3", NULL,
                                "\x96\x01\x00\x05\x01\x01\xa1x"};
    static const size_t in_lens[] = {4, 0, 8};
    sl__mpw_reset(w);
    sl__frame_batch_begin(w, 0x0102030405060708ull, "sys.echo", 8, 0, "node-1",
                          6, 3);
    for (uint32_t i = 0; i < 3; i++) {
        sl__frame_batch_task(w, i, 1, lens[i], in_lens[i]);
    }
    for (uint32_t i = 0; i < 3; i++) {
        sl__frame_batch_arg(w, args[i], lens[i], ins[i], in_lens[i]);
    }
    s_frame("batch_inputs", 2, w->buf.data, w->buf.size);
    // An entry of 4 whose inputs_len is 0.
    sl__mpw_reset(w);
    sl__frame_batch_begin(w, 1, "f", 1, 0, "", 0, 1);
    msgpack_pack_array(&w->pk, 4);
    msgpack_pack_uint32(&w->pk, 0);
    msgpack_pack_uint32(&w->pk, 1);
    msgpack_pack_uint64(&w->pk, 1);
    msgpack_pack_uint64(&w->pk, 0);
    sl__frame_batch_arg(w, "\xc0", 1, NULL, 0);
    s_frame("bad_batch_inputs_len_0", 2, w->buf.data, w->buf.size);
}

// A tier_fuzz input: the byte of parts to make right, then an object
// file of len bytes of data (header layout: tier.c's s_hdr, as in
// tier_fuzz.c), its data starting at off, expiring at expires.
static void
s_tier_object(const char *name, uint8_t mode, size_t len, uint64_t off,
              int64_t expires, uint32_t flags, bool good_hash)
{
    size_t total = 1 + (size_t) off + len;
    uint8_t *out = calloc(1, total);
    SL_FUZZ_CHECK(out != NULL);
    uint8_t *f = out + 1;
    out[0] = mode;
    for (size_t i = 0; i < len; i++) {
        f[off + i] = (uint8_t) (i * 7 + 3);
    }
    uint32_t version = 1;
    uint64_t hash = XXH3_64bits(f + off, len) ^ (good_hash ? 0 : 1);
    uint64_t n = len;
    memcpy(f, "SLOBJ\0\0\1", 8);
    memcpy(f + 8, &version, 4);
    memcpy(f + 12, &flags, 4);
    memcpy(f + 16, &off, 8);
    memcpy(f + 24, &n, 8);
    memcpy(f + 32, &hash, 8);
    memcpy(f + 40, &expires, 8);
    memcpy(f + 48, "fuzz", 4);
    s_write("tier", name, out, total);
    free(out);
}

// Object files of the tier (store/tier.h), as written and damaged.
static void
s_tier_objects(void)
{
    s_tier_object("good", 0, 100, 256, 0, 0, true);
    s_tier_object("good_empty", 0, 0, 256, 0, 0, true);
    s_tier_object("good_aligned_at_1", 0, 1000, 319, 0, 2, true);
    s_tier_object("good_expires_far", 0, 64, 256, INT64_MAX, 1, true);
    s_tier_object("expired", 0, 64, 256, 1, 0, true);
    s_tier_object("bad_hash", 0, 64, 256, 0, 0, false);
    s_tier_object("bad_hash_restamped", 0x0f, 64, 256, 0, 0, false);
    s_tier_object("bad_offset", 0, 64, 320, 0, 0, true);
    static const s_raw raw[] = {
        S_RAW("empty", ""),
        S_RAW("short", "\x00SLOBJ\x00\x00\x01"),
        S_RAW("stamped_all", "\x1f"),
        S_RAW("stamped_no_hash", "\x17 some data after a header"),
    };
    s_write_raw("tier", raw, sizeof(raw) / sizeof(raw[0]));
}

int
main(int argc, char **argv)
{
    static const char *targets[] = {"value",  "msg",      "mp",    "ndarray",
                                    "module", "manifest", "frame", "tier"};
    char path[4096];
    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds DIR\n");
        return 2;
    }
    s_root = argv[1];
    s_mkdir(s_root);
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        sl__fmt(path, sizeof(path), "%s/%s", s_root, targets[i]);
        s_mkdir(path);
    }
    s_values();
    s_raw_values();
    s_values_past_limits();
    sl__mpw w;
    sl__mpw_init(&w);
    s_msgs_client(&w);
    s_msgs_scheduler(&w);
    s_msgs_worker(&w);
    s_msgs_past_limits(&w);
    s_msgs_malformed();
    s_frames(&w);
    sl__mpw_fini(&w);
    s_mp();
    s_ndarrays();
    s_modules();
    s_manifests();
    s_tier_objects();
    return 0;
}
