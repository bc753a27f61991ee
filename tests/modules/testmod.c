// testmod.c - a kernel module for the module tests, built several ways
// by tests/CMakeLists.txt:
//   TESTMOD_VERSION=N   what the kernel "version" returns (1 or 2), so
//                       that two builds are two modules with one set of
//                       kernel names
//   TESTMOD_NO_SYMBOL   leave out the "starling_module" symbol
//   TESTMOD_ABI=N       claim kernel ABI version N
// SPDX-License-Identifier: MIT
#include <starling/kernel.h>

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef TESTMOD_VERSION
#define TESTMOD_VERSION 1
#endif
#ifndef TESTMOD_ABI
#define TESTMOD_ABI SL_KERNEL_ABI_VERSION
#endif

// Which build of the module ran, after ms milliseconds.
static int
version(sl_task *t)
{
    int64_t ms = sl_task_arg_int(t, "ms", 0);
    if (ms > 0 && ms < 10000) {
        usleep((useconds_t) ms * 1000);
    }
    sl_value *v = sl_value_new_int(TESTMOD_VERSION);
    return sl_task_set_result(t, &v);
}

// Which worker process ran the task.
static int
whoami(sl_task *t)
{
    sl_value *v = sl_value_new_int((int64_t) getpid());
    return sl_task_set_result(t, &v);
}

// x * factor * version: an argument check, a float result.
static int
scale(sl_task *t)
{
    double x = sl_value_float(sl_task_arg(t, "x"));
    double factor = sl_task_arg_float(t, "factor", 1.0);
    sl_value *v = sl_value_new_float(x * factor * TESTMOD_VERSION);
    sl_task_add_flops(t, 2);
    return sl_task_set_result(t, &v);
}

// The sum of a float64 vector, as a 1-element ndarray: the ndarray half of
// the value API, resolved against the worker like the rest.
static int
vsum(sl_task *t)
{
    const sl_value *a = sl_task_arg(t, "a");
    if (sl_ndarray_dtype(a) != SL_F64) {
        return sl_task_fail(t, "a: want f64, got %s",
                            sl_dtype_name(sl_ndarray_dtype(a)));
    }
    const double *x = sl_ndarray_cdata(a);
    int64_t one = 1;
    sl_value *out = sl_value_new_ndarray(SL_F64, 1, &one, NULL);
    double *sum = sl_ndarray_data(out);
    for (size_t i = 0; i < sl_ndarray_size(a); i++) {
        *sum += x[i];
    }
    sl_task_add_flops(t, (double) sl_ndarray_size(a));
    return sl_task_set_result(t, &out);
}

// The sum of the float64 vector a, after ms milliseconds, and the worker
// process that ran it (the executor's parent; with --executor thread, the
// worker's parent): {"sum": s, "worker": pid}. For the object tier's
// tests, which check where the tasks that read an object ran.
static int
vsum_who(sl_task *t)
{
    const sl_value *a = sl_task_arg(t, "a");
    int64_t ms = sl_task_arg_int(t, "ms", 0);
    if (sl_ndarray_dtype(a) != SL_F64) {
        return sl_task_fail(t, "a: want f64, got %s",
                            sl_dtype_name(sl_ndarray_dtype(a)));
    }
    if (ms > 0 && ms < 10000) {
        usleep((useconds_t) ms * 1000);
    }
    const double *x = sl_ndarray_cdata(a);
    double sum = 0;
    for (size_t i = 0; i < sl_ndarray_size(a); i++) {
        sum += x[i];
    }
    sl_value *out = sl_value_new_map();
    sl_value *s = sl_value_new_float(sum);
    sl_value *who = sl_value_new_int((int64_t) getppid());
    if (out == NULL || sl_value_map_set(out, "sum", &s) != SL_OK ||
        sl_value_map_set(out, "worker", &who) != SL_OK) {
        sl_value_destroy(&out);
        sl_value_destroy(&s);
        sl_value_destroy(&who);
        return sl_task_fail(t, "vsum_who: out of memory");
    }
    sl_task_add_flops(t, (double) sl_ndarray_size(a));
    return sl_task_set_result(t, &out);
}

// Write into the ndarray a, casting its const away, as a buggy kernel
// could: an argument the executor maps from the node's object tier is
// read-only, so this kills the executor (SIGSEGV) and the stored object
// stays as it was. Returns 1 if the write went through (a private copy).
static int
scribble(sl_task *t)
{
    const sl_value *a = sl_task_arg(t, "a");
    if (sl_ndarray_nbytes(a) == 0) {
        return sl_task_fail(t, "scribble: a is no ndarray, or empty");
    }
    volatile uint8_t *p = (volatile uint8_t *) sl_ndarray_cdata(a);
    p[0] = (uint8_t) (p[0] ^ 0xff);
    sl_value *v = sl_value_new_int(1);
    return sl_task_set_result(t, &v);
}

static int
fail(sl_task *t)
{
    return sl_task_fail(t, "testmod v%d failed on purpose", TESTMOD_VERSION);
}

// Crash the executor running it: how = "segv" (default), "abort" or
// "exit", on the first `attempts` attempts (default: every one); a later
// attempt returns its attempt number. For the fault tests.
static int
crash(sl_task *t)
{
    int64_t upto = sl_task_arg_int(t, "attempts", INT32_MAX);
    if ((int64_t) sl_task_attempt(t) > upto) {
        sl_value *v = sl_value_new_int(sl_task_attempt(t));
        return sl_task_set_result(t, &v);
    }
    const char *how = sl_value_str(sl_task_arg(t, "how"), NULL);
    if (how != NULL && strcmp(how, "abort") == 0) {
        abort();
    }
    if (how != NULL && strcmp(how, "exit") == 0) {
        _exit(3);
    }
    raise(SIGSEGV);
    return sl_task_fail(t, "still alive after SIGSEGV");
}

// Burn CPU for ms milliseconds with every signal blocked: only SIGKILL
// stops it early. For the time-limit tests.
static int
spin(sl_task *t)
{
    int64_t ms = sl_task_arg_int(t, "ms", 0);
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, NULL);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    volatile uint64_t x = 0;
    do {
        for (int i = 0; i < 100000; i++) {
            x += (uint64_t) i;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((now.tv_sec - start.tv_sec) * 1000 +
                 (now.tv_nsec - start.tv_nsec) / 1000000 <
             ms);
    (void) x; // read once, so that the busy loop counts as used
    sigprocmask(SIG_UNBLOCK, &all, NULL);
    sl_value *v = sl_value_new_int(ms);
    return sl_task_set_result(t, &v);
}

// Sleep ms (default 50); a task with slow=true sleeps slow_ms instead on
// its first attempt: a straggler, which a backup copy overtakes. Returns
// the attempt that finished.
static int
straggle(sl_task *t)
{
    int64_t ms = sl_task_arg_int(t, "ms", 50);
    const sl_value *slow = sl_task_arg(t, "slow");
    if (slow != NULL && sl_value_bool(slow) && sl_task_attempt(t) == 1) {
        ms = sl_task_arg_int(t, "slow_ms", 20000);
    }
    if (ms > 0 && ms < 600000) {
        usleep((useconds_t) ms * 1000);
    }
    sl_value *v = sl_value_new_int(sl_task_attempt(t));
    return sl_task_set_result(t, &v);
}

// Fail on the first `fails` attempts (default 1), then return the attempt.
static int
flaky(sl_task *t)
{
    if ((int64_t) sl_task_attempt(t) <= sl_task_arg_int(t, "fails", 1)) {
        return sl_task_fail(t, "flaky: failing attempt %u on purpose",
                            sl_task_attempt(t));
    }
    sl_value *v = sl_value_new_int(sl_task_attempt(t));
    return sl_task_set_result(t, &v);
}

// x, after ms milliseconds: a slow kernel whose every result can be
// checked. For the several-nodes test, where tasks must be in flight when
// links are cut and workers killed.
static int
delay(sl_task *t)
{
    int64_t ms = sl_task_arg_int(t, "ms", 0);
    if (ms > 0 && ms < 10000) {
        usleep((useconds_t) ms * 1000);
    }
    sl_value *v = sl_value_copy(sl_task_arg(t, "x"));
    if (v == NULL) {
        return sl_task_fail(t, "delay: out of memory");
    }
    return sl_task_set_result(t, &v);
}

// The executor's end of its socket to the worker: the number after
// --executor-fd on our command line, or -1 (a slot thread).
static int
executor_fd(void)
{
    char args[4096];
    FILE *f = fopen("/proc/self/cmdline", "r");
    size_t n = f != NULL ? fread(args, 1, sizeof(args) - 1, f) : 0;
    if (f != NULL) {
        fclose(f);
    }
    args[n] = '\0';
    for (size_t i = 0; i < n; i += strlen(args + i) + 1) {
        if (strcmp(args + i, "--executor-fd") == 0 && i + 14 < n) {
            return atoi(args + i + 14);
        }
    }
    return -1;
}

static uint8_t *
put_be(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--) {
        *p++ = (uint8_t) (v >> (8 * i));
    }
    return p;
}

static uint8_t *
put_double(uint8_t *p, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof(bits));
    *p++ = 0xcb;
    return put_be(p, bits, 8);
}

// An outcome "OK, nil" for this task, as an executor writes it
// (serialize/PROTOCOL.md: [job, index, attempt, status, value, error,
// start, end, flops, bytes read, bytes written, bytes mapped]).
static uint8_t *
put_outcome(uint8_t *p, sl_task *t)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    double wall = (double) now.tv_sec + (double) now.tv_nsec * 1e-9;
    *p++ = 0x9c;
    *p++ = 0xcf;
    p = put_be(p, sl_task_job_id(t), 8);
    *p++ = 0xce;
    p = put_be(p, sl_task_index(t), 4);
    *p++ = 0xce;
    p = put_be(p, sl_task_attempt(t), 4);
    *p++ = 0x01; // OK
    *p++ = 0xc0; // no value
    *p++ = 0xc0; // no error
    p = put_double(p, wall);
    p = put_double(p, wall);
    p = put_double(p, 0);
    *p++ = 0x00;
    *p++ = 0x00;
    *p++ = 0x00;
    return p;
}

// A kernel that writes into its executor's socket, as a buggy or hostile
// one can: how = "extra", a frame of two outcomes for its one task;
// "garbage", a frame of bytes that are no outcome. Then it returns
// normally. The worker must not trust that executor again.
static int
forge(sl_task *t)
{
    const char *how = sl_task_arg_str(t, "how", "extra");
    int fd = executor_fd();
    if (fd < 0) {
        return sl_task_fail(t, "forge: not in an executor process");
    }
    uint8_t frame[4 + 256], *p = frame + 4;
    if (strcmp(how, "garbage") == 0) {
        memset(p, 0xc1, 64); // the byte msgpack never uses
        p += 64;
    } else {
        p = put_outcome(p, t);
        p = put_outcome(p, t);
    }
    size_t len = (size_t) (p - frame - 4);
    for (int i = 0; i < 4; i++) {
        frame[i] = (uint8_t) (len >> (8 * i));
    }
    if (write(fd, frame, len + 4) != (ssize_t) (len + 4)) {
        return sl_task_fail(t, "forge: cannot write");
    }
    sl_value *v = sl_value_new_int(-1);
    return sl_task_set_result(t, &v);
}

static const sl_kernel_def kernels[] = {
    {"version", version, "ms:int?", "which build of the module this is"},
    {"whoami", whoami, "", "the worker's process id"},
    {"scale", scale, "x:float,factor:float?", "x * factor * version"},
    {"vsum", vsum, "a:ndarray", "the sum of a float64 vector"},
    {"fail", fail, NULL, "fails with a message"},
    {"crash", crash, "how:str?,attempts:int?", "kills its executor"},
    {"spin", spin, "ms:int", "burns CPU with signals blocked"},
    {"straggle", straggle, "ms:int?,slow:bool?,slow_ms:int?",
     "a straggler on its first attempt"},
    {"flaky", flaky, "fails:int?", "fails its first attempts"},
    {"delay", delay, "x:any,ms:int?", "x after ms milliseconds"},
    {"forge", forge, "how:str?", "writes into its executor's socket"},
    {"vsum_who", vsum_who, "a:ndarray,ms:int?",
     "the sum of a float64 vector and the worker's pid"},
    {"scribble", scribble, "a:ndarray", "writes into its argument"},
};

#ifndef TESTMOD_NO_SYMBOL
SL_MODULE_EXPORT const sl_module_def starling_module = {
    TESTMOD_ABI,
    "testmod",
    kernels,
    sizeof(kernels) / sizeof(kernels[0]),
};
#else
// The kernels, exported under another name: the worker must not guess.
SL_MODULE_EXPORT const sl_kernel_def *testmod_kernels = kernels;
#endif
