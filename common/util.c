// util.c - logging, memory, clocks and random ids for every starling program.
// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *s_program = "starling";
static int s_level = -1;
static sl__log_sink_fn s_sink; // NULL: stderr
static void *s_sink_arg;       // for s_sink

static int
s_level_from_env(void)
{
    const char *env = getenv("STARLING_LOG");
    if (env == NULL) {
        return SL_LOG_INFO;
    }
    if (strcmp(env, "debug") == 0) {
        return SL_LOG_DEBUG;
    }
    if (strcmp(env, "warn") == 0) {
        return SL_LOG_WARN;
    }
    if (strcmp(env, "error") == 0) {
        return SL_LOG_ERROR;
    }
    return SL_LOG_INFO;
}

void
sl__log_init(const char *program)
{
    s_program = program;
    s_level = s_level_from_env();
}

void
sl__log(sl__log_level level, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    if (s_level < 0) {
        s_level = s_level_from_env();
    }
    if ((int) level < s_level) {
        return;
    }
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line),
                     "%02d:%02d:%02d.%03ld %s[%d] %s: ", tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, s_program, (int) getpid(),
                     names[level]);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t) n - 1, fmt, ap);
    va_end(ap);
    // One write per line, so that lines of several processes sharing a
    // log file do not interleave.
    size_t len = strlen(line);
    line[len++] = '\n';
    line[len] = '\0';
    if (s_sink != NULL) {
        s_sink(line, len, s_sink_arg);
        return;
    }
    ssize_t rc = write(STDERR_FILENO, line, len);
    (void) rc;
}

void
sl__log_sink_set(sl__log_sink_fn fn, void *arg)
{
    s_sink = fn;
    s_sink_arg = arg;
}

void *
sl__xmalloc(size_t size)
{
    void *p = malloc(size == 0 ? 1 : size);
    if (p == NULL) {
        sl__log_error("out of memory allocating %zu bytes", size);
        abort();
    }
    return p;
}

void *
sl__xcalloc(size_t n, size_t size)
{
    void *p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);
    if (p == NULL) {
        sl__log_error("out of memory allocating %zu x %zu bytes", n, size);
        abort();
    }
    return p;
}

void *
sl__xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size == 0 ? 1 : size);
    if (q == NULL) {
        sl__log_error("out of memory reallocating %zu bytes", size);
        abort();
    }
    return q;
}

char *
sl__xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = sl__xmalloc(n);
    memcpy(d, s, n);
    return d;
}

double
sl__mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

double
sl__wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

int64_t
sl__mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t
sl__rand64(void)
{
    uint64_t r = 0;
    while (r == 0) {
        if (getrandom(&r, sizeof(r), 0) != (ssize_t) sizeof(r)) {
            // getrandom cannot fail for 8 bytes once the pool is ready;
            // fall back to the clock rather than returning a constant.
            r = (uint64_t) (sl__wall() * 1e9) ^ ((uint64_t) getpid() << 32);
        }
    }
    return r;
}

void
sl__strlcpy(char *dst, const char *src, size_t size)
{
    if (size == 0) {
        return;
    }
    size_t n = strlen(src);
    if (n >= size) {
        n = size - 1;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

void
sl__fmt(char *dst, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, size, fmt, ap);
    va_end(ap);
}

sl_err
sl__errf(char errbuf[SL_ERRSTR_LEN], sl_err rv, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, SL_ERRSTR_LEN, fmt, ap);
    va_end(ap);
    return rv;
}

bool
sl__parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (s[0] == '\0' || isspace((unsigned char) s[0]) || *end != '\0' ||
        errno == ERANGE || v < min || v > max) {
        return false;
    }
    *out = v;
    return true;
}

bool
sl__parse_flag(const char *prog, const char *flag, const char *arg, int64_t min,
               int64_t max, int64_t *out)
{
    if (sl__parse_int(arg, min, max, out)) {
        return true;
    }
    fprintf(stderr,
            "%s: %s takes a number from %" PRId64 " to %" PRId64 ", not %s\n",
            prog, flag, min, max, arg);
    return false;
}

sl_err
sl__mkdirs(const char *dir, char errbuf[SL_ERRSTR_LEN])
{
    char path[4096];
    struct stat st;
    if (strlen(dir) >= sizeof(path) || dir[0] == '\0') {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "bad directory name \"%.64s\"", dir);
        return SL_EINVAL;
    }
    sl__strlcpy(path, dir, sizeof(path));
    for (char *p = path + 1;; p++) {
        bool last = *p == '\0';
        if (*p != '/' && !last) {
            continue;
        }
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot make %s: %s", path,
                    strerror(errno));
            return SL_EIO;
        }
        if (last) {
            break;
        }
        *p = '/';
    }
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "%s is not a directory", path);
        return SL_EIO;
    }
    return SL_OK;
}

sl_err
sl__dir_check(const char *what, const char *dir, unsigned forbidden,
              const char *why, char errbuf[SL_ERRSTR_LEN])
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        return sl__errf(errbuf, SL_EIO, "%s %s: %s", what, dir,
                        strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) {
        return sl__errf(errbuf, SL_EIO, "%s %s is not a directory", what, dir);
    }
    if (st.st_uid != geteuid() || (st.st_mode & forbidden) != 0) {
        return sl__errf(errbuf, SL_EAUTH,
                        "%s %s must be ours and %s (it is mode %03o, owner "
                        "%u; we are uid %u)%s%s",
                        what, dir,
                        (forbidden & 044) != 0 ? "closed to everyone else"
                                               : "writable by no one else",
                        (unsigned) (st.st_mode & 0777), (unsigned) st.st_uid,
                        (unsigned) geteuid(), why != NULL ? ": " : "",
                        why != NULL ? why : "");
    }
    return SL_OK;
}

sl_err
sl__dir_private(const char *dir, char errbuf[SL_ERRSTR_LEN])
{
    sl_err rv = sl__mkdirs(dir, errbuf);
    return rv != SL_OK ? rv
                       : sl__dir_check("directory", dir, 077, NULL, errbuf);
}

int
sl__ncpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int) n;
}

void
sl__node_name(char *buf, size_t len)
{
    char host[SL_NODE_NAME_MAX + 1];
    const char *name = getenv("STARLING_NODE");
    if (name == NULL || name[0] == '\0') {
        // glibc refuses a buffer too short for the name; POSIX leaves a
        // name cut to fit unterminated.
        if (gethostname(host, sizeof(host)) != 0) {
            sl__strlcpy(host, "localhost", sizeof(host));
        }
        host[sizeof(host) - 1] = '\0';
        name = host;
    }
    sl__strlcpy(buf, name, len < sizeof(host) ? len : sizeof(host));
}

const char *
sl_strerror(sl_err err)
{
    switch (err) {
    case SL_OK:
        return "success";
    case SL_ENOMEM:
        return "out of memory";
    case SL_EINVAL:
        return "invalid argument";
    case SL_EPROTO:
        return "protocol error";
    case SL_ELIMIT:
        return "limit exceeded";
    case SL_ECLOSED:
        return "connection closed";
    case SL_ETIMEDOUT:
        return "timed out";
    case SL_ESTORE:
        return "object store error";
    case SL_ENOTFOUND:
        return "not found";
    case SL_EKERNEL:
        return "kernel error";
    case SL_ECANCELED:
        return "cancelled";
    case SL_EIO:
        return "I/O error";
    case SL_ENOTREADY:
        return "not ready";
    case SL_EAUTH:
        return "access refused";
    }
    return "unknown error";
}

// Freed large buffers, oldest first, by their rounded size.
#define S_POOL_SLOTS (SL_POOL_ON ? 8 : 1)
static struct {
    void *p;
    size_t size;
} s_pool[S_POOL_SLOTS];
static int s_pool_n;
static size_t s_pool_bytes;
static pthread_mutex_t s_pool_mu = PTHREAD_MUTEX_INITIALIZER;

static size_t
s_huge_round(size_t size)
{
    const size_t huge = 2u << 20;
    return (size + huge - 1) / huge * huge;
}

// Take pool entry i out; the caller holds the lock.
static void *
s_pool_take(int i)
{
    void *p = s_pool[i].p;
    s_pool_bytes -= s_pool[i].size;
    memmove(&s_pool[i], &s_pool[i + 1],
            sizeof(s_pool[0]) * (size_t) (s_pool_n - i - 1));
    s_pool_n--;
    return p;
}

void *
sl__alloc_aligned(size_t size)
{
    if (size < SL_HUGE_MIN) {
        return aligned_alloc(64, size == 0 ? 64 : (size + 63) / 64 * 64);
    }
    size_t rounded = s_huge_round(size);
    void *p = NULL;
    pthread_mutex_lock(&s_pool_mu);
    for (int i = s_pool_n - 1; i >= 0 && p == NULL; i--) {
        if (s_pool[i].size == rounded) {
            p = s_pool_take(i);
        }
    }
    pthread_mutex_unlock(&s_pool_mu);
    if (p == NULL && (p = aligned_alloc(2u << 20, rounded)) != NULL) {
        madvise(p, rounded, MADV_HUGEPAGE); // advice: ignored where unsupported
    }
    return p;
}

void
sl__free_aligned(void *p, size_t size)
{
    if (p == NULL || size < SL_HUGE_MIN || s_huge_round(size) > SL_POOL_BYTES ||
        !SL_POOL_ON) {
        free(p);
        return;
    }
    size_t rounded = s_huge_round(size);
    void *drop[S_POOL_SLOTS + 1];
    int n_drop = 0;
    pthread_mutex_lock(&s_pool_mu);
    while (s_pool_n == S_POOL_SLOTS || s_pool_bytes + rounded > SL_POOL_BYTES) {
        drop[n_drop++] = s_pool_take(0);
    }
    s_pool[s_pool_n].p = p;
    s_pool[s_pool_n].size = rounded;
    s_pool_n++;
    s_pool_bytes += rounded;
    pthread_mutex_unlock(&s_pool_mu);
    for (int i = 0; i < n_drop; i++) {
        free(drop[i]);
    }
}
