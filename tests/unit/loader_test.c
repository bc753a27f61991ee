// loader_test.c - the worker's module loader, with a fake store: loading,
// the disk cache, two versions at once, every way a module can fail, and
// a slow load that holds up no one else.
// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <ctype.h>
#include <ftw.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "serialize/value.h"
#include "testutil.h"
#include "worker/loader.h"
#include "worker/registry.h"

// ---------------------------------------------------------------------
// A fake store: a few objects by hash, and a gate to hold a fetch.

#define S_MAX_OBJECTS 16
#define S_FN_LEN 256 // a function name and its NUL

typedef struct {
    char hash[SL_SHA256_HEX_LEN + 1]; // the name it is fetched by
    uint8_t *bytes;                   // what the fetch returns (owned)
    size_t len;                       // its bytes
    int fetches;                      // times it was fetched
    bool gated;                       // a fetch waits until the gate opens
} s_object;

static s_object s_objects[S_MAX_OBJECTS];
static int s_n_objects;
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t s_cond = PTHREAD_COND_INITIALIZER;
static bool s_gate_open;
static int s_waiting; // fetches held at the gate

static uint8_t *
s_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    SL_ASSERT(f != NULL);
    SL_ASSERT(fseek(f, 0, SEEK_END) == 0);
    *len = (size_t) ftell(f);
    rewind(f);
    uint8_t *buf = malloc(*len);
    SL_ASSERT(fread(buf, 1, *len, f) == *len);
    fclose(f);
    return buf;
}

// Add len bytes under name (NULL: their own hash); returns the object.
static s_object *
s_put(const void *bytes, size_t len, const char *name)
{
    SL_ASSERT(s_n_objects < S_MAX_OBJECTS);
    s_object *o = &s_objects[s_n_objects++];
    o->bytes = malloc(len);
    memcpy(o->bytes, bytes, len);
    o->len = len;
    if (name != NULL) {
        sl__strlcpy(o->hash, name, sizeof(o->hash));
    } else {
        sl__sha256_hex(bytes, len, o->hash);
    }
    return o;
}

static s_object *
s_put_file(const char *path)
{
    size_t len;
    uint8_t *buf = s_read(path, &len);
    s_object *o = s_put(buf, len, NULL);
    free(buf);
    return o;
}

static sl_err
s_fetch(void *ctx, const char *hash, void **buf_out, size_t *len_out,
        char errbuf[SL_ERRSTR_LEN])
{
    (void) ctx;
    pthread_mutex_lock(&s_lock);
    s_object *o = NULL;
    for (int i = 0; i < s_n_objects; i++) {
        if (strcmp(s_objects[i].hash, hash) == 0) {
            o = &s_objects[i];
        }
    }
    if (o != NULL) {
        o->fetches++;
    }
    while (o != NULL && o->gated && !s_gate_open) {
        s_waiting++;
        pthread_cond_broadcast(&s_cond);
        pthread_cond_wait(&s_cond, &s_lock);
        s_waiting--;
    }
    pthread_mutex_unlock(&s_lock);
    if (o == NULL) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "no such object");
        return SL_ENOTFOUND;
    }
    *buf_out = malloc(o->len);
    memcpy(*buf_out, o->bytes, o->len);
    *len_out = o->len;
    return SL_OK;
}

// ---------------------------------------------------------------------
// Helpers.

static char s_dir[64]; // the test's temporary directory

static int
s_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void
s_cleanup(void)
{
    if (s_dir[0] != '\0') {
        chmod(s_dir, 0700);
        nftw(s_dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
    }
    for (int i = 0; i < s_n_objects; i++) {
        free(s_objects[i].bytes);
    }
}

// A fresh cache directory path under the test's directory (not made).
static const char *
s_cache(const char *name)
{
    static char path[128];
    sl__fmt(path, sizeof(path), "%s/%s/modules", s_dir, name);
    return path;
}

static void
s_function(char *buf, const s_object *o, const char *kernel)
{
    sl__fmt(buf, S_FN_LEN, "%s/%s", o->hash, kernel);
}

// Find function's kernel and run it with args; the task's outcome.
static sl_err
s_run(sl__loader *ld, const char *function, sl_value *args, sl_value **out,
      char errbuf[SL_ERRSTR_LEN])
{
    const sl_kernel_def *k = NULL;
    sl_err rv = sl__loader_find(ld, function, s_fetch, NULL, &k, errbuf);
    if (rv != SL_OK) {
        return rv;
    }
    sl_task t;
    sl__task_init(&t, 1, 0, 1, args);
    rv = sl__kernel_run(k, &t);
    if (rv == SL_OK) {
        *out = sl__task_take_result(&t);
    } else {
        sl__strlcpy(errbuf, t.error, SL_ERRSTR_LEN);
    }
    sl__task_fini(&t);
    return rv;
}

static int64_t
s_run_int(sl__loader *ld, const s_object *o, const char *kernel)
{
    char fn[S_FN_LEN], errbuf[SL_ERRSTR_LEN];
    sl_value *v = NULL;
    s_function(fn, o, kernel);
    sl_err rv = s_run(ld, fn, NULL, &v, errbuf);
    if (rv != SL_OK) {
        SL_FAIL_AT("%s: %s: %s", fn, sl_strerror(rv), errbuf);
    }
    int64_t i = sl_value_int(v);
    sl_value_destroy(&v);
    return i;
}

// The error of running o's kernel, which must fail.
static const char *
s_run_error(sl__loader *ld, const s_object *o, const char *kernel)
{
    static char errbuf[SL_ERRSTR_LEN];
    char fn[S_FN_LEN];
    sl_value *v = NULL;
    s_function(fn, o, kernel);
    SL_ASSERT(s_run(ld, fn, NULL, &v, errbuf) != SL_OK);
    SL_ASSERT(v == NULL);
    return errbuf;
}

static mode_t
s_mode(const char *path)
{
    struct stat st;
    SL_ASSERT(stat(path, &st) == 0);
    return st.st_mode & 0777;
}

// ---------------------------------------------------------------------
// Tests.

static s_object *s_v1, *s_v2; // the two builds of testmod
static s_object *s_junk;      // ELF by its first bytes only

// First use fetches and writes the cache; later uses and a new loader on
// the same directory (a restarted worker) fetch nothing.
static void
test_load_then_cache(void)
{
    const char *dir = s_cache("a");
    sl__loader *ld = sl__loader_new(dir);
    SL_ASSERT_STR(sl__loader_dir(ld), dir);
    SL_ASSERT_EQ(s_run_int(ld, s_v1, "version"), 1);
    SL_ASSERT_EQ(s_v1->fetches, 1);
    SL_ASSERT_EQ(s_run_int(ld, s_v1, "version"), 1);
    SL_ASSERT_EQ(s_run_int(ld, s_v1, "whoami"), getpid());
    SL_ASSERT_EQ(s_v1->fetches, 1);
    sl__loader_stats st = sl__loader_stats_get(ld);
    SL_ASSERT_EQ(st.loaded, 1);
    SL_ASSERT_EQ(st.fetched, 1);
    SL_ASSERT_EQ(s_mode(dir), 0700);
    char path[256];
    sl__fmt(path, sizeof(path), "%s/%s.so", dir, s_v1->hash);
    SL_ASSERT_EQ(s_mode(path), 0600);
    sl__loader_destroy(&ld);
    SL_ASSERT(ld == NULL);

    ld = sl__loader_new(dir);
    SL_ASSERT_EQ(s_run_int(ld, s_v1, "version"), 1);
    SL_ASSERT_EQ(s_v1->fetches, 1);
    st = sl__loader_stats_get(ld);
    SL_ASSERT_EQ(st.loaded, 1);
    SL_ASSERT_EQ(st.fetched, 0);
    sl__loader_destroy(&ld);
}

// Two builds of one module, same kernel names, loaded side by side.
static void
test_two_versions(void)
{
    sl__loader *ld = sl__loader_new(s_cache("b"));
    SL_ASSERT_EQ(s_run_int(ld, s_v1, "version"), 1);
    SL_ASSERT_EQ(s_run_int(ld, s_v2, "version"), 2);
    SL_ASSERT_EQ(s_run_int(ld, s_v1, "version"), 1);

    // Arguments are checked against the declared signature, and the
    // ndarray functions resolve against this program.
    char fn[S_FN_LEN], errbuf[SL_ERRSTR_LEN];
    sl_value *args = sl_value_new_map(), *x = sl_value_new_float(1.5);
    sl_value *v = NULL;
    SL_PASS(sl_value_map_set(args, "x", &x));
    s_function(fn, s_v2, "scale");
    SL_PASS(s_run(ld, fn, args, &v, errbuf));
    SL_ASSERT_NEAR(sl_value_float(v), 3.0, 1e-12);
    sl_value_destroy(&v);
    x = sl_value_new_str("three");
    SL_PASS(sl_value_map_set(args, "x", &x));
    SL_FAILS(s_run(ld, fn, args, &v, errbuf), SL_EKERNEL);
    SL_ASSERT_HAS(errbuf, "argument 'x': expected float, got str");
    sl_value_destroy(&args);

    int64_t shape[1] = {4};
    double data[4] = {1, 2, 3, 4.5};
    args = sl_value_new_map();
    x = sl_value_new_ndarray(SL_F64, 1, shape, data);
    SL_PASS(sl_value_map_set(args, "a", &x));
    s_function(fn, s_v1, "vsum");
    SL_PASS(s_run(ld, fn, args, &v, errbuf));
    SL_ASSERT_NEAR(((const double *) sl_ndarray_cdata(v))[0], 10.5, 1e-12);
    sl_value_destroy(&v);
    sl_value_destroy(&args);
    sl__loader_destroy(&ld);
}

static void
test_errors(void)
{
    sl__loader *ld = sl__loader_new(s_cache("c"));
    char fn[S_FN_LEN], errbuf[SL_ERRSTR_LEN];
    const sl_kernel_def *k;

    // Not in the store.
    s_object missing = {.hash = ""};
    sl__sha256_hex("never stored", 12, missing.hash);
    SL_ASSERT_HAS(s_run_error(ld, &missing, "version"), "not in the store");

    // Bytes that do not hash to their name.
    s_object *liar = s_put(s_v2->bytes, s_v2->len, NULL);
    liar->hash[0] = liar->hash[0] == '0' ? '1' : '0';
    SL_ASSERT_HAS(s_run_error(ld, liar, "version"), "hashes to");

    // Not ELF; ELF in name only; no registration symbol; another ABI.
    s_object *text = s_put("just some text", 14, NULL);
    SL_ASSERT_HAS(s_run_error(ld, text, "version"), "no ELF header");
    static const char junk[] = "\x7f"
                               "ELF and then nonsense";
    s_junk = s_put(junk, sizeof(junk) - 1, NULL);
    SL_ASSERT_HAS(s_run_error(ld, s_junk, "version"),
                  "not a loadable shared object");
    s_object *nosym = s_put_file(TESTMOD_NOSYM);
    SL_ASSERT_HAS(s_run_error(ld, nosym, "version"), "\"starling_module\"");
    s_object *abi99 = s_put_file(TESTMOD_ABI99);
    SL_ASSERT_HAS(s_run_error(ld, abi99, "version"), "kernel ABI 99");

    // No such kernel: the message lists the ones there are.
    const char *e = s_run_error(ld, s_v1, "nope");
    SL_ASSERT_HAS(e, "no kernel 'nope'");
    SL_ASSERT_HAS(e, "version, whoami, scale, vsum, fail");

    // A kernel's own failure.
    SL_ASSERT_HAS(s_run_error(ld, s_v2, "fail"), "testmod v2 failed");

    // Names that are not module kernels at all.
    sl__fmt(fn, sizeof(fn), "%s/", s_v1->hash);
    SL_FAILS(sl__loader_find(ld, fn, s_fetch, NULL, &k, errbuf), SL_EINVAL);
    SL_FAILS(sl__loader_find(ld, "abc/version", s_fetch, NULL, &k, errbuf),
             SL_EINVAL);
    SL_ASSERT(!sl__loader_is_module_function("sys.noop"));
    SL_ASSERT(!sl__loader_is_module_function(s_v1->hash));
    SL_ASSERT(sl__loader_is_module_function(fn));

    // Nothing bad was written to the cache.
    char path[256];
    sl__fmt(path, sizeof(path), "%s/%s.so", s_cache("c"), liar->hash);
    SL_ASSERT(access(path, F_OK) != 0);
    sl__fmt(path, sizeof(path), "%s/%s.so", s_cache("c"), text->hash);
    SL_ASSERT(access(path, F_OK) != 0);
    sl__loader_stats st = sl__loader_stats_get(ld);
    SL_ASSERT_EQ(st.failed, 6);
    SL_ASSERT_EQ(st.loaded, 2);
    sl__loader_destroy(&ld);
}

// A bad module is fetched once for many tasks; a missing one each time
// (it may be registered any moment).
static void
test_failures_remembered(void)
{
    sl__loader *ld = sl__loader_new(s_cache("d"));
    SL_ASSERT(s_junk != NULL);
    int before = s_junk->fetches;
    for (int i = 0; i < 5; i++) {
        SL_ASSERT_HAS(s_run_error(ld, s_junk, "version"), "not a loadable");
    }
    SL_ASSERT_EQ(s_junk->fetches, before + 1);

    // A module registered after its first tasks failed runs at once.
    size_t len;
    uint8_t *bytes = s_read(TESTMOD_V1, &len);
    bytes[len - 1] ^= 1; // different bytes, still a loadable module
    s_object late = {.hash = ""};
    sl__sha256_hex(bytes, len, late.hash);
    SL_ASSERT_HAS(s_run_error(ld, &late, "version"), "not in the store");
    SL_ASSERT_HAS(s_run_error(ld, &late, "version"), "not in the store");
    s_object *o = s_put(bytes, len, NULL);
    free(bytes);
    SL_ASSERT_EQ(s_run_int(ld, o, "version"), 1);
    sl__loader_destroy(&ld);
}

// A cached file that does not hash to its name is replaced from the
// store.
static void
test_tampered_cache(void)
{
    const char *dir = s_cache("e");
    sl__loader *ld = sl__loader_new(dir);
    SL_ASSERT_EQ(s_run_int(ld, s_v2, "version"), 2);
    sl__loader_destroy(&ld);
    char path[256];
    sl__fmt(path, sizeof(path), "%s/%s.so", dir, s_v2->hash);
    FILE *f = fopen(path, "r+b");
    SL_ASSERT(f != NULL);
    SL_ASSERT(fseek(f, 100, SEEK_SET) == 0);
    fputc(0x5a, f);
    fclose(f);
    int before = s_v2->fetches;
    ld = sl__loader_new(dir);
    SL_ASSERT_EQ(s_run_int(ld, s_v2, "version"), 2);
    SL_ASSERT_EQ(s_v2->fetches, before + 1);
    SL_ASSERT_EQ(sl__loader_stats_get(ld).refetched, 1);
    sl__loader_destroy(&ld);
}

// A cache directory others may write to is refused, with the reason.
static void
test_cache_dir_checks(void)
{
    char errbuf[SL_ERRSTR_LEN];
    const char *dir = s_cache("f");
    sl__loader *ld = sl__loader_new(dir);
    SL_PASS(sl__loader_check(ld, errbuf));
    SL_ASSERT(chmod(dir, 0777) == 0);
    SL_ASSERT(sl__loader_check(ld, errbuf) != SL_OK);
    SL_ASSERT_HAS(errbuf, "writable by no one else");
    SL_ASSERT_HAS(s_run_error(ld, s_v1, "version"), "mode 777");
    sl__loader_destroy(&ld);

    char buf[256];
    setenv("STARLING_MODULE_CACHE", "/x/cache", 1);
    SL_ASSERT(sl__loader_default_dir(buf, sizeof(buf)));
    SL_ASSERT_STR(buf, "/x/cache");
    unsetenv("STARLING_MODULE_CACHE");
    setenv("XDG_CACHE_HOME", "/x/xdg", 1);
    SL_ASSERT(sl__loader_default_dir(buf, sizeof(buf)));
    SL_ASSERT_STR(buf, "/x/xdg/starling/modules");
    setenv("XDG_CACHE_HOME", "relative", 1); // not absolute: ignored
    setenv("HOME", "/x/home", 1);
    SL_ASSERT(sl__loader_default_dir(buf, sizeof(buf)));
    SL_ASSERT_STR(buf, "/x/home/.cache/starling/modules");
    unsetenv("XDG_CACHE_HOME");
    unsetenv("HOME");
    SL_ASSERT(!sl__loader_default_dir(buf, sizeof(buf)));
    ld = sl__loader_new(NULL);
    SL_ASSERT_HAS(s_run_error(ld, s_v1, "version"), "no module cache");
    sl__loader_destroy(&ld);
}

typedef struct {
    sl__loader *ld; // shared
    s_object *o;    // the module to run
    int64_t got;    // what "version" returned
} s_runner;

static void *
s_runner_main(void *arg)
{
    s_runner *r = arg;
    r->got = s_run_int(r->ld, r->o, "version");
    return NULL;
}

// While one slot's fetch hangs, another slot loads and runs another
// module; a third slot that wants the hanging module waits for it, and
// the module is fetched once.
static void
test_slow_load_blocks_no_one(void)
{
    sl__loader *ld = sl__loader_new(s_cache("g"));
    size_t len;
    uint8_t *bytes = s_read(TESTMOD_V2, &len);
    bytes[len - 1] ^= 2;
    s_object *slow = s_put(bytes, len, NULL);
    free(bytes);
    slow->gated = true;
    s_runner a = {ld, slow, 0}, b = {ld, slow, 0};
    pthread_t ta, tb;
    SL_ASSERT(pthread_create(&ta, NULL, s_runner_main, &a) == 0);
    pthread_mutex_lock(&s_lock);
    while (s_waiting == 0) {
        pthread_cond_wait(&s_cond, &s_lock);
    }
    pthread_mutex_unlock(&s_lock);
    SL_ASSERT(pthread_create(&tb, NULL, s_runner_main, &b) == 0);

    // The fetch of slow is held: another module loads meanwhile.
    SL_ASSERT_EQ(s_run_int(ld, s_v1, "version"), 1);
    pthread_mutex_lock(&s_lock);
    SL_ASSERT_EQ(s_waiting, 1);
    s_gate_open = true;
    pthread_cond_broadcast(&s_cond);
    pthread_mutex_unlock(&s_lock);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    SL_ASSERT_EQ(a.got, 2);
    SL_ASSERT_EQ(b.got, 2);
    SL_ASSERT_EQ(slow->fetches, 1);
    sl__loader_destroy(&ld);
}

// Write text to a file under the test's directory; its path.
static const char *
s_write(const char *name, const char *text)
{
    static char path[128];
    sl__fmt(path, sizeof(path), "%s/%s", s_dir, name);
    FILE *f = fopen(path, "w");
    SL_ASSERT(f != NULL);
    fputs(text, f);
    fclose(f);
    return path;
}

// An allow list lets in the modules it names and no other, before a byte
// is fetched; a list with a line that is not a hash is refused whole.
static void
test_allow_list(void)
{
    char text[512], errbuf[SL_ERRSTR_LEN];
    char upper[SL_SHA256_HEX_LEN + 1];
    for (int i = 0; i <= SL_SHA256_HEX_LEN; i++) {
        upper[i] = (char) toupper((unsigned char) s_v1->hash[i]);
    }
    sl__fmt(text, sizeof(text),
            "# the modules this worker may load\n\n  %s  # testmod v1\n",
            upper);
    const char *list = s_write("list-ok", text);
    sl__loader *ld = sl__loader_new(s_cache("allow"));
    SL_ASSERT_EQ(sl__loader_allowed(ld), SIZE_MAX);
    SL_PASS(sl__loader_allow_file(ld, list, errbuf));
    SL_ASSERT_EQ(sl__loader_allowed(ld), 1);
    SL_ASSERT_EQ(s_run_int(ld, s_v1, "version"), 1);
    int fetches = s_v2->fetches;
    const char *why = s_run_error(ld, s_v2, "version");
    SL_ASSERT_HAS(why, "not in this worker's module allow list");
    SL_ASSERT_HAS(why, s_v2->hash);
    SL_ASSERT_EQ(s_v2->fetches, fetches); // refused before the fetch
    sl__loader_destroy(&ld);

    ld = sl__loader_new(s_cache("allow-bad"));
    list = s_write("list-bad", "# fine\nnot-a-hash\n");
    SL_FAILS(sl__loader_allow_file(ld, list, errbuf), SL_EINVAL);
    SL_ASSERT_HAS(errbuf, "line 2");
    SL_ASSERT_EQ(sl__loader_allowed(ld), SIZE_MAX);
    sl__fmt(text, sizeof(text), "%s extra\n", s_v1->hash);
    list = s_write("list-bad", text);
    SL_FAILS(sl__loader_allow_file(ld, list, errbuf), SL_EINVAL);
    SL_FAILS(sl__loader_allow_file(ld, "/nonexistent/list", errbuf), SL_EIO);
    SL_ASSERT_HAS(errbuf, "/nonexistent/list");
    // An empty list lets nothing in.
    list = s_write("list-empty", "# nothing\n");
    SL_PASS(sl__loader_allow_file(ld, list, errbuf));
    SL_ASSERT_EQ(sl__loader_allowed(ld), 0);
    SL_ASSERT_HAS(s_run_error(ld, s_v1, "version"), "allow list");
    sl__loader_destroy(&ld);
}

int
main(void)
{
    sl__strlcpy(s_dir, "/tmp/sl_loader_test.XXXXXX", sizeof(s_dir));
    SL_ASSERT(mkdtemp(s_dir) != NULL);
    atexit(s_cleanup);
    sl__log_init("loader_test");
    s_v1 = s_put_file(TESTMOD_V1);
    s_v2 = s_put_file(TESTMOD_V2);
    SL_ASSERT(strcmp(s_v1->hash, s_v2->hash) != 0);
    SL_RUN(test_load_then_cache);
    SL_RUN(test_two_versions);
    SL_RUN(test_errors);
    SL_RUN(test_failures_remembered);
    SL_RUN(test_tampered_cache);
    SL_RUN(test_slow_load_blocks_no_one);
    SL_RUN(test_cache_dir_checks);
    SL_RUN(test_allow_list);
    return 0;
}
