// testutil.h - the assertions every starling test uses.
// SPDX-License-Identifier: MIT
//
// A test file is one executable: its main() calls SL_RUN(test_x) for each
// test. A failed assertion prints where and the values, and exits 1.
#ifndef SL_TESTS_TESTUTIL_H
#define SL_TESTS_TESTUTIL_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <starling/value.h>

#define SL_FAIL_AT(...)                                 \
    do {                                                \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__); \
        fprintf(stderr, __VA_ARGS__);                   \
        fprintf(stderr, "\n");                          \
        exit(1);                                        \
    } while (0)

#define SL_ASSERT(cond)                                \
    do {                                               \
        if (!(cond)) {                                 \
            SL_FAIL_AT("assertion failed: %s", #cond); \
        }                                              \
    } while (0)

#define SL_ASSERT_EQ(a, b)                                                     \
    do {                                                                       \
        long long sl_a_ = (long long) (a), sl_b_ = (long long) (b);            \
        if (sl_a_ != sl_b_) {                                                  \
            SL_FAIL_AT("%s == %s failed: %lld != %lld", #a, #b, sl_a_, sl_b_); \
        }                                                                      \
    } while (0)

#define SL_ASSERT_NEAR(a, b, tol)                                       \
    do {                                                                \
        double sl_a_ = (double) (a), sl_b_ = (double) (b);              \
        if (!(sl_a_ - sl_b_ <= (tol) && sl_b_ - sl_a_ <= (tol))) {      \
            SL_FAIL_AT("%s ~ %s failed: %.17g vs %.17g", #a, #b, sl_a_, \
                       sl_b_);                                          \
        }                                                               \
    } while (0)

#define SL_ASSERT_STR(a, b)                                                 \
    do {                                                                    \
        const char *sl_a_ = (a), *sl_b_ = (b);                              \
        if (sl_a_ == NULL || sl_b_ == NULL || strcmp(sl_a_, sl_b_) != 0) {  \
            SL_FAIL_AT("%s == %s failed: \"%s\" != \"%s\"", #a, #b,         \
                       sl_a_ ? sl_a_ : "(null)", sl_b_ ? sl_b_ : "(null)"); \
        }                                                                   \
    } while (0)

// The string a contains b.
#define SL_ASSERT_HAS(a, b)                                                  \
    do {                                                                     \
        const char *sl_a_ = (a), *sl_b_ = (b);                               \
        if (sl_a_ == NULL || strstr(sl_a_, sl_b_) == NULL) {                 \
            SL_FAIL_AT("%s contains %s failed: \"%s\" lacks \"%s\"", #a, #b, \
                       sl_a_ ? sl_a_ : "(null)", sl_b_);                     \
        }                                                                    \
    } while (0)

// An sl_err call that must succeed.
#define SL_PASS(call)                                                \
    do {                                                             \
        sl_err sl_rv_ = (call);                                      \
        if (sl_rv_ != SL_OK) {                                       \
            SL_FAIL_AT("%s failed: %s", #call, sl_strerror(sl_rv_)); \
        }                                                            \
    } while (0)

// An sl_err call that must fail with want.
#define SL_FAILS(call, want)                                                  \
    do {                                                                      \
        sl_err sl_rv_ = (call);                                               \
        if (sl_rv_ != (want)) {                                               \
            SL_FAIL_AT("%s returned %s, want %s", #call, sl_strerror(sl_rv_), \
                       sl_strerror(want));                                    \
        }                                                                     \
    } while (0)

#define SL_RUN(test)                       \
    do {                                   \
        fprintf(stderr, "-- %s\n", #test); \
        test();                            \
    } while (0)

// Run fn(arg) in a forked child (30 s at most): its exit status, or 128
// plus the signal that ended it.
static inline int
sl__test_child(void (*fn)(void *), void *arg)
{
    fflush(stderr);
    pid_t pid = fork();
    SL_ASSERT(pid >= 0);
    if (pid == 0) {
        alarm(30);
        fn(arg);
        _exit(0);
    }
    int status = 0;
    SL_ASSERT(waitpid(pid, &status, 0) == pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

#endif
