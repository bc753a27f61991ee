// registry_test.c - the task context of kernel.h, kernel signatures, the
// registry of modules, and the guarantees of sl__kernel_run.
// SPDX-License-Identifier: MIT
#include <math.h>

#include "serialize/value.h"
#include "testutil.h"
#include "worker/registry.h"

static void
s_set(sl_value *map, const char *key, sl_value *v)
{
    SL_ASSERT(v != NULL);
    SL_PASS(sl_value_map_set(map, key, &v));
}

// ---------------------------------------------------------------------
// The task context.

static void
test_task_args(void)
{
    sl_value *args = sl_value_new_map();
    s_set(args, "n", sl_value_new_int(5));
    s_set(args, "x", sl_value_new_float(2.5));
    s_set(args, "s", sl_value_new_str("hi"));
    sl_task t;
    sl__task_init(&t, 11, 2, 3, args);
    SL_ASSERT(sl_task_args(&t) == args);
    SL_ASSERT(sl_task_arg(&t, "n") == sl_value_map_get(args, "n"));
    SL_ASSERT(sl_task_arg(&t, "missing") == NULL);
    SL_ASSERT_EQ(sl_task_arg_int(&t, "n", -1), 5);
    SL_ASSERT_EQ(sl_task_arg_int(&t, "missing", -1), -1);
    SL_ASSERT_EQ(sl_task_arg_int(&t, "x", -1), -1); // not an int
    SL_ASSERT_NEAR(sl_task_arg_float(&t, "x", 0), 2.5, 0);
    SL_ASSERT_NEAR(sl_task_arg_float(&t, "n", 0), 5, 0); // an int converts
    SL_ASSERT_NEAR(sl_task_arg_float(&t, "s", 7), 7, 0);
    SL_ASSERT_STR(sl_task_arg_str(&t, "s", "d"), "hi");
    SL_ASSERT_STR(sl_task_arg_str(&t, "n", "d"), "d");
    SL_ASSERT(sl_task_arg_str(&t, "missing", NULL) == NULL);
    SL_ASSERT_EQ(sl_task_job_id(&t), 11);
    SL_ASSERT_EQ(sl_task_index(&t), 2);
    SL_ASSERT_EQ(sl_task_attempt(&t), 3);
    sl__task_fini(&t);

    // Arguments that are not a map have no names.
    sl_value *list = sl_value_new_list();
    sl__task_init(&t, 1, 0, 1, list);
    SL_ASSERT(sl_task_arg(&t, "n") == NULL);
    SL_ASSERT_EQ(sl_task_arg_int(&t, "n", 4), 4);
    sl__task_fini(&t);
    sl__task_init(&t, 1, 0, 1, NULL);
    SL_ASSERT(sl_task_args(&t) == NULL && sl_task_arg(&t, "n") == NULL);
    sl__task_fini(&t);
    sl_value_destroy(&list);
    sl_value_destroy(&args);
}

static void
test_task_result_and_failure(void)
{
    sl_task t;
    sl__task_init(&t, 1, 0, 1, NULL);
    SL_ASSERT(!t.failed && t.error[0] == '\0' && t.result == NULL);
    sl_value *v = sl_value_new_int(1);
    SL_ASSERT_EQ(sl_task_set_result(&t, &v), 0);
    SL_ASSERT(v == NULL);
    v = sl_value_new_int(2); // replaces (and frees) the first
    SL_ASSERT_EQ(sl_task_set_result(&t, &v), 0);
    sl_value *got = sl__task_take_result(&t);
    SL_ASSERT_EQ(sl_value_int(got), 2);
    SL_ASSERT(sl__task_take_result(&t) == NULL);
    sl_value_destroy(&got);

    SL_ASSERT_EQ(sl_task_fail(&t, "n must be positive, got %d", -3), -1);
    SL_ASSERT(t.failed);
    SL_ASSERT_STR(t.error, "n must be positive, got -3");
    SL_ASSERT_EQ(sl_task_fail(&t, "second"), -1); // the last message wins
    SL_ASSERT_STR(t.error, "second");

    // A long message is cut, not overrun.
    char big[4 * SL_TASK_ERROR_LEN];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    sl_task_fail(&t, "%s", big);
    SL_ASSERT_EQ(strlen(t.error), SL_TASK_ERROR_LEN - 1);

    // fini frees a result the task still owns (ASan checks the leak).
    v = sl_value_new_str("left behind");
    sl_task_set_result(&t, &v);
    sl__task_fini(&t);
    SL_ASSERT(t.result == NULL);
}

static void
test_task_counters(void)
{
    sl_task t;
    sl__task_init(&t, 1, 0, 1, NULL);
    sl_task_add_flops(&t, 100);
    sl_task_add_flops(&t, 0.5);
    sl_task_add_flops(&t, -10);      // ignored
    sl_task_add_flops(&t, NAN);      // ignored
    sl_task_add_flops(&t, INFINITY); // ignored
    SL_ASSERT_NEAR(t.flops, 100.5, 0);
    sl_task_add_bytes(&t, 10, 20);
    sl_task_add_bytes(&t, 1, 2);
    SL_ASSERT_EQ(t.bytes_read, 11);
    SL_ASSERT_EQ(t.bytes_written, 22);
    sl__task_fini(&t);
}

// ---------------------------------------------------------------------
// Signatures.

// sl__signature_check(sig, args) must fail with a message containing want.
static void
s_check_fails(const char *sig, const sl_value *args, const char *want)
{
    char errbuf[SL_ERRSTR_LEN] = "";
    SL_FAILS(sl__signature_check(sig, args, errbuf), SL_EINVAL);
    SL_ASSERT_HAS(errbuf, want);
}

static void
test_signature_parse(void)
{
    char errbuf[SL_ERRSTR_LEN];
    const char *good[] = {
        "",
        "   ",
        "n:int",
        "n:int?",
        "n:int,reps:int?,dtype:str?",
        " n : int , m : float ? ",
        "_a1:any,b:bool?,c:bytes,d:ndarray,e:ref,f:list,g:map,h:float,i:str",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        sl_err rv = sl__signature_check(good[i], NULL, errbuf);
        // nil arguments: fine unless a required argument is missing.
        if (rv != SL_OK && strstr(errbuf, "missing argument") == NULL) {
            SL_FAIL_AT("signature \"%s\": %s", good[i], errbuf);
        }
    }
    s_check_fails("n:int,", NULL, "an empty item");
    s_check_fails(",n:int", NULL, "an empty item");
    s_check_fails("a:int,,b:int", NULL, "an empty item");
    s_check_fails("n", NULL, "item 'n' lacks ':type'");
    s_check_fails("n:", NULL, "argument 'n' has no type");
    s_check_fails("n:?", NULL, "argument 'n' has no type");
    s_check_fails(":int", NULL, "an argument has no name");
    s_check_fails("n:integer", NULL, "argument 'n': unknown type 'integer'");
    s_check_fails("n:int??", NULL, "unknown type 'int?'");
    s_check_fails("n:Int", NULL, "unknown type 'Int'");
    s_check_fails("n:int,m:float,n:str", NULL, "argument 'n' declared twice");
    s_check_fails("1n:int", NULL, "bad argument name '1n'");
    s_check_fails("a b:int", NULL, "bad argument name 'a b'");
    s_check_fails("a-b:int", NULL, "bad argument name 'a-b'");
    s_check_fails("a:b:int", NULL, "unknown type 'b:int'");
    char longname[100];
    memset(longname, 'a', 70);
    strcpy(longname + 70, ":int");
    s_check_fails(longname, NULL, "bad argument name");
    char many[40 * 8] = "";
    for (int i = 0; i < 33; i++) {
        sl__fmt(many + strlen(many), sizeof(many) - strlen(many), "%sa%d:int?",
                i > 0 ? "," : "", i);
    }
    s_check_fails(many, NULL, "more than 32 arguments");
    many[strrchr(many, ',') - many] = '\0'; // 32 are fine
    SL_PASS(sl__signature_check(many, NULL, errbuf));
    // The message gives the reason, then the signature.
    s_check_fails("n:int,x:nope", NULL,
                  "bad signature: argument 'x': unknown type 'nope', in "
                  "\"n:int,x:nope\"");
}

static void
test_signature_types(void)
{
    char errbuf[SL_ERRSTR_LEN];
    sl_value *args = sl_value_new_map();
    s_set(args, "i", sl_value_new_int(1));
    s_set(args, "f", sl_value_new_float(1));
    s_set(args, "b", sl_value_new_bool(true));
    s_set(args, "s", sl_value_new_str("x"));
    s_set(args, "y", sl_value_new_bytes("x", 1));
    int64_t two = 2;
    s_set(args, "a", sl_value_new_ndarray(SL_F64, 1, &two, NULL));
    s_set(args, "r", sl__value_new_ref("sl:o:1", 10, 0));
    s_set(args, "l", sl_value_new_list());
    s_set(args, "m", sl_value_new_map());
    s_set(args, "z", sl_value_new_nil());
    const char *sig = "i:int,f:float,b:bool,s:str,y:bytes,a:ndarray,r:ref,"
                      "l:list,m:map,z:any";
    SL_PASS(sl__signature_check(sig, args, errbuf));
    SL_PASS(sl__signature_check(NULL, args, errbuf)); // NULL: anything
    // float accepts an int; int does not accept a float.
    SL_PASS(sl__signature_check("i:float,f:float,b:any,s:any,y:any,a:any,"
                                "r:any,l:any,m:any,z:any",
                                args, errbuf));
    s_check_fails("i:int,f:int,b:any,s:any,y:any,a:any,r:any,l:any,m:any,"
                  "z:any",
                  args, "argument 'f': expected int, got float");
    s_check_fails("i:int,f:float,b:bool,s:bytes,y:bytes,a:ndarray,r:ref,"
                  "l:list,m:map,z:any",
                  args, "argument 's': expected bytes, got str");
    s_check_fails("i:int,f:float,b:bool,s:str,y:bytes,a:ndarray,r:ref,"
                  "l:map,m:map,z:any",
                  args, "argument 'l': expected map, got list");
    // An explicit nil is a value: only any accepts it.
    s_check_fails("i:int,f:float,b:bool,s:str,y:bytes,a:ndarray,r:ref,"
                  "l:list,m:map,z:int?",
                  args, "argument 'z': expected int, got nil");
    sl_value_destroy(&args);
}

static void
test_signature_args(void)
{
    char errbuf[SL_ERRSTR_LEN];
    // nil arguments: fine when every argument is optional.
    SL_PASS(sl__signature_check("", NULL, errbuf));
    SL_PASS(sl__signature_check("a:int?,b:str?", NULL, errbuf));
    sl_value *nil = sl_value_new_nil();
    SL_PASS(sl__signature_check("a:int?", nil, errbuf));
    s_check_fails("a:int?,b:str", nil, "missing argument 'b'");
    sl_value_destroy(&nil);

    sl_value *list = sl_value_new_list();
    s_check_fails("a:int?", list, "arguments must be a map, got list");
    s_check_fails("", list, "arguments must be a map, got list");
    sl_value_destroy(&list);
    sl_value *i = sl_value_new_int(3);
    s_check_fails("a:int?", i, "arguments must be a map, got int");
    sl_value_destroy(&i);

    sl_value *args = sl_value_new_map();
    s_set(args, "nn", sl_value_new_int(4));
    // A typo reports the unknown name first, with the declaration.
    s_check_fails("n:int,reps:int?", args,
                  "unexpected argument 'nn' (takes n:int,reps:int?)");
    s_check_fails("", args, "unexpected argument 'nn' (takes no arguments)");
    s_check_fails("nn:int,A:ndarray", args, "missing argument 'A'");
    SL_PASS(sl__signature_check("nn:int,A:ndarray?", args, errbuf));
    SL_PASS(sl__signature_check(" nn : int ", args, errbuf));
    sl_value_destroy(&args);
}

// ---------------------------------------------------------------------
// The registry.

static int s_calls; // how often s_count ran

static int
s_count(sl_task *t)
{
    s_calls++;
    return 0;
}

static int
s_silent_failure(sl_task *t)
{
    return 3; // fails without a message
}

static int
s_result_then_fail(sl_task *t)
{
    sl_value *v = sl_value_new_str("partial");
    sl_task_set_result(t, &v);
    return sl_task_fail(t, "half done");
}

static int
s_fail_but_zero(sl_task *t)
{
    sl_task_fail(t, "fail called, 0 returned");
    return 0;
}

static const sl_kernel_def s_good_kernels[] = {
    {"count", s_count, "n:int?", "counts its calls"},
    {"silent", s_silent_failure, NULL, "fails without a message"},
    {"partial", s_result_then_fail, NULL, "sets a result, then fails"},
    {"zero", s_fail_but_zero, "", "fails, returns 0"},
};

static const sl_module_def s_good = {SL_KERNEL_ABI_VERSION, "mine",
                                     s_good_kernels, 4};

// Registering def must fail with a message containing want.
static void
s_add_fails(sl__registry *reg, const sl_module_def *def, const char *want)
{
    char errbuf[SL_ERRSTR_LEN] = "";
    SL_FAILS(sl__registry_add(reg, def, errbuf), SL_EINVAL);
    SL_ASSERT_HAS(errbuf, want);
}

static void
s_count_kernels(const char *module, const sl_kernel_def *k, void *ctx)
{
    (*(size_t *) ctx)++;
}

static size_t
s_size(const sl__registry *reg)
{
    size_t n = 0;
    sl__registry_each(reg, s_count_kernels, &n);
    return n;
}

static void
test_registry_add_rejects(void)
{
    sl__registry *reg = sl__registry_new();
    SL_ASSERT(reg != NULL);
    size_t builtins = s_size(reg);
    sl_module_def def = s_good;
    def.abi_version = SL_KERNEL_ABI_VERSION + 1;
    s_add_fails(reg, &def, "module 'mine' is built for kernel ABI 2");
    def = s_good;
    def.name = "my.mod";
    s_add_fails(reg, &def, "bad name 'my.mod'");
    def.name = "";
    s_add_fails(reg, &def, "bad name ''");
    def.name = NULL;
    s_add_fails(reg, &def, "bad name '(null)'");
    def = s_good;
    def.n_kernels = 0;
    s_add_fails(reg, &def, "module 'mine' has no kernels");
    def = s_good;
    def.name = "sys";
    s_add_fails(reg, &def, "module 'sys' is already registered");
    s_add_fails(reg, NULL, "no module definition");

    sl_kernel_def ks[2] = {s_good_kernels[0], s_good_kernels[1]};
    def = (sl_module_def){SL_KERNEL_ABI_VERSION, "bad", ks, 2};
    ks[1].name = "a.b";
    s_add_fails(reg, &def, "module 'bad': kernel 1 has a bad name 'a.b'");
    ks[1].name = "";
    s_add_fails(reg, &def, "kernel 1 has a bad name ''");
    ks[1].name = "count";
    s_add_fails(reg, &def, "module 'bad': kernel 'count' defined twice");
    ks[1].name = "other";
    ks[1].fn = NULL;
    s_add_fails(reg, &def, "kernel bad.other has no function");
    ks[1].fn = s_count;
    ks[1].signature = "n:int,n:int";
    s_add_fails(reg, &def,
                "kernel bad.other: bad signature: argument 'n' declared "
                "twice, in \"n:int,n:int\"");
    ks[1].signature = "n:integer";
    s_add_fails(reg, &def, "unknown type 'integer'");

    // Nothing of a rejected module was added.
    SL_ASSERT_EQ(s_size(reg), builtins);
    SL_ASSERT(sl__registry_find(reg, "bad.count") == NULL);
    sl__registry_destroy(&reg);
    SL_ASSERT(reg == NULL);
    sl__registry_destroy(&reg); // idempotent
}

// Collects "module.kernel" names in order.
typedef struct {
    char names[64][64]; // the names seen
    size_t n;           // how many
} s_seen;

static void
s_collect(const char *module, const sl_kernel_def *k, void *ctx)
{
    s_seen *seen = ctx;
    SL_ASSERT(seen->n < 64);
    sl__fmt(seen->names[seen->n++], 64, "%s.%s", module, k->name);
}

static void
test_registry_add_find_each(void)
{
    char errbuf[SL_ERRSTR_LEN];
    sl__registry *reg = sl__registry_new();
    SL_PASS(sl__registry_add(reg, &s_good, errbuf));
    SL_FAILS(sl__registry_add(reg, &s_good, errbuf), SL_EINVAL);
    SL_ASSERT(sl__registry_find(reg, "mine.count") == &s_good_kernels[0]);
    SL_ASSERT(sl__registry_find(reg, "mine.zero") == &s_good_kernels[3]);
    SL_ASSERT(sl__registry_find(reg, "mine.nope") == NULL);
    SL_ASSERT(sl__registry_find(reg, "min.count") == NULL);
    SL_ASSERT(sl__registry_find(reg, "mine") == NULL);

    s_seen seen = {.n = 0};
    sl__registry_each(reg, s_collect, &seen);
    SL_ASSERT_STR(seen.names[0], "sys.noop"); // registration order
    SL_ASSERT_STR(seen.names[seen.n - 4], "mine.count");
    SL_ASSERT_STR(seen.names[seen.n - 1], "mine.zero");
    bool sys = false, blas = false, bench = false;
    for (size_t i = 0; i < seen.n; i++) {
        sys |= strcmp(seen.names[i], "sys.sum") == 0;
        blas |= strcmp(seen.names[i], "blas.dgemm") == 0;
        bench |= strcmp(seen.names[i], "bench.gemm_flops") == 0;
    }
    SL_ASSERT(sys && blas && bench);
    sl__registry_destroy(&reg);
}

// A module of many kernels makes the registry grow.
static void
test_registry_grows(void)
{
    enum { N = 100 };
    static sl_kernel_def ks[N];
    static char names[N][16];
    for (int i = 0; i < N; i++) {
        sl__fmt(names[i], sizeof(names[i]), "k%d", i);
        ks[i] = (sl_kernel_def){names[i], s_count, NULL, "one of many"};
    }
    sl_module_def def = {SL_KERNEL_ABI_VERSION, "many", ks, N};
    char errbuf[SL_ERRSTR_LEN];
    sl__registry *reg = sl__registry_new();
    size_t builtins = s_size(reg);
    SL_PASS(sl__registry_add(reg, &def, errbuf));
    SL_ASSERT_EQ(s_size(reg), builtins + N);
    SL_ASSERT(sl__registry_find(reg, "many.k99") == &ks[99]);
    SL_ASSERT(sl__registry_find(reg, "sys.noop") != NULL);
    sl__registry_destroy(&reg);
}

// ---------------------------------------------------------------------
// Running kernels.

static void
test_kernel_run(void)
{
    sl_task t;
    sl_value *args = sl_value_new_map();
    s_set(args, "n", sl_value_new_int(1));
    s_calls = 0;
    sl__task_init(&t, 1, 0, 1, args);
    SL_PASS(sl__kernel_run(&s_good_kernels[0], &t));
    SL_ASSERT(!t.failed);
    SL_ASSERT_EQ(s_calls, 1);
    sl__task_fini(&t);

    // A bad argument fails the task without calling the kernel.
    s_set(args, "n", sl_value_new_str("1"));
    sl__task_init(&t, 1, 0, 1, args);
    SL_FAILS(sl__kernel_run(&s_good_kernels[0], &t), SL_EKERNEL);
    SL_ASSERT(t.failed);
    SL_ASSERT_STR(t.error, "argument 'n': expected int, got str");
    SL_ASSERT_EQ(s_calls, 1);
    sl__task_fini(&t);

    // A failure without a message gets one.
    sl__task_init(&t, 1, 0, 1, NULL);
    SL_FAILS(sl__kernel_run(&s_good_kernels[1], &t), SL_EKERNEL);
    SL_ASSERT(t.failed);
    SL_ASSERT_HAS(t.error, "kernel 'silent' failed (returned 3)");
    sl__task_fini(&t);

    // A failed task has no result.
    sl__task_init(&t, 1, 0, 1, NULL);
    SL_FAILS(sl__kernel_run(&s_good_kernels[2], &t), SL_EKERNEL);
    SL_ASSERT_STR(t.error, "half done");
    SL_ASSERT(sl__task_take_result(&t) == NULL);
    sl__task_fini(&t);

    // sl_task_fail fails the task, whatever the kernel returns.
    sl__task_init(&t, 1, 0, 1, NULL);
    SL_FAILS(sl__kernel_run(&s_good_kernels[3], &t), SL_EKERNEL);
    SL_ASSERT_STR(t.error, "fail called, 0 returned");
    sl__task_fini(&t);
    sl_value_destroy(&args);
}

int
main(void)
{
    SL_RUN(test_task_args);
    SL_RUN(test_task_result_and_failure);
    SL_RUN(test_task_counters);
    SL_RUN(test_signature_parse);
    SL_RUN(test_signature_types);
    SL_RUN(test_signature_args);
    SL_RUN(test_registry_add_rejects);
    SL_RUN(test_registry_add_find_each);
    SL_RUN(test_registry_grows);
    SL_RUN(test_kernel_run);
    return 0;
}
