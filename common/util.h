// util.h - small helpers every starling program shares: logging, memory,
// clocks, random ids, strings.
// SPDX-License-Identifier: MIT
#ifndef SL_COMMON_UTIL_H
#define SL_COMMON_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <starling/value.h>

#define SL_ERRSTR_LEN 256

typedef enum {
    SL_LOG_DEBUG = 0,
    SL_LOG_INFO,
    SL_LOG_WARN,
    SL_LOG_ERROR,
} sl__log_level;

// Log lines go to stderr as "time program[pid] level: message". The level
// comes from $STARLING_LOG (debug, info, warn, error; default info).
void sl__log_init(const char *program);
void sl__log(sl__log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
#define sl__log_debug(...) sl__log(SL_LOG_DEBUG, __VA_ARGS__)
#define sl__log_info(...) sl__log(SL_LOG_INFO, __VA_ARGS__)
#define sl__log_warn(...) sl__log(SL_LOG_WARN, __VA_ARGS__)
#define sl__log_error(...) sl__log(SL_LOG_ERROR, __VA_ARGS__)
// Where log lines go: by default one write(2) to stderr each. A program
// may take them instead (to redraw a progress line around them, or to
// drop them): fn gets each whole line, its newline included, and arg.
// NULL: stderr again. A program that embeds libstarling silences the
// library's notices with $STARLING_LOG=error.
typedef void (*sl__log_sink_fn)(const char *line, size_t len, void *arg);
void sl__log_sink_set(sl__log_sink_fn fn, void *arg);

// Allocate or abort: for the daemons, where running out of memory is not a
// condition they can serve through. The library returns SL_ENOMEM instead.
void *sl__xmalloc(size_t size);
void *sl__xcalloc(size_t n, size_t size);
void *sl__xrealloc(void *p, size_t size);
char *sl__xstrdup(const char *s);
// Memory for a large array, 64-byte aligned; free() it, NULL on ENOMEM.
// From SL_HUGE_MIN bytes on it is 2 MiB aligned and marked for transparent
// huge pages (MADV_HUGEPAGE), so that filling it faults once per 2 MiB
// rather than once per 4 KiB page: page faults led the profile of moving
// 64 MiB objects (client, executor and redis alike).
void *sl__alloc_aligned(size_t size);
#define SL_HUGE_MIN (4u << 20)
// Give back a buffer of sl__alloc_aligned (size as asked for; NULL is
// fine). Large ones are kept for the next sl__alloc_aligned of the same
// size, up to SL_POOL_BYTES in all per process, the oldest freed first:
// on the development VM faulting in and zeroing a fresh 64 MiB buffer took
// 17 ms, writing a reused one 2 ms. free() is also right for any of them.
void sl__free_aligned(void *p, size_t size);
#define SL_POOL_BYTES (256u << 20)
// No pool under AddressSanitizer, which could not see a use after free of
// a kept buffer.
#if defined(__SANITIZE_ADDRESS__)
#define SL_POOL_ON 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SL_POOL_ON 0
#endif
#endif
#ifndef SL_POOL_ON
#define SL_POOL_ON 1
#endif

// Seconds on the monotonic clock, and wall-clock Unix seconds.
double sl__mono(void);
double sl__wall(void);
// Milliseconds on the monotonic clock.
int64_t sl__mono_ms(void);

// A random 64-bit number from the kernel's generator, never 0.
uint64_t sl__rand64(void);

// snprintf into a fixed buffer, always terminated.
void sl__strlcpy(char *dst, const char *src, size_t size);
void sl__fmt(char *dst, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

// Write the message into errbuf and return rv: the one line of a function
// that fails with an sl_err and says why in its caller's buffer.
sl_err sl__errf(char errbuf[SL_ERRSTR_LEN], sl_err rv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

// Parse s as a whole decimal integer within [min, max] into *out: no
// leading space, no trailing characters, no overflow, no empty string. false
// (and *out untouched) otherwise. For command-line numbers, where atoi would
// take "12x" as 12 and "x" as 0.
bool sl__parse_int(const char *s, int64_t min, int64_t max, int64_t *out);
// sl__parse_int for the value of a program's flag: when arg is no such
// number, say so on stderr ("PROG: FLAG takes a number from MIN to MAX,
// not ARG") and return false.
bool sl__parse_flag(const char *prog, const char *flag, const char *arg,
                    int64_t min, int64_t max, int64_t *out);

// mkdir -p: make dir and its missing parents, each new one mode 0700.
// SL_OK when dir exists (or was made) and is a directory.
sl_err sl__mkdirs(const char *dir, char errbuf[SL_ERRSTR_LEN]);
// Check that dir (called what in the message: "module cache", "allow
// directory") is a directory, ours, and that none of the mode bits in
// forbidden are set: 022 when no one else may write there, 077 when no one
// else may even enter. SL_EIO when it is missing or not a directory,
// SL_EAUTH when it is someone else's or too open; errbuf then gives its
// mode and owner, and why (if not NULL) after a colon.
sl_err sl__dir_check(const char *what, const char *dir, unsigned forbidden,
                     const char *why, char errbuf[SL_ERRSTR_LEN]);
// sl__mkdirs, then sl__dir_check with 077: no one else may read, write or
// enter it (mode 0700 or tighter).
sl_err sl__dir_private(const char *dir, char errbuf[SL_ERRSTR_LEN]);

// Number of online CPUs, at least 1.
int sl__ncpus(void);

// The longest node name that starling carries (a host name's limit on
// Linux, HOST_NAME_MAX), without its NUL.
#define SL_NODE_NAME_MAX 64
// This node's name, as a client says it in HELLO and a worker without
// --name calls itself: $STARLING_NODE when set and not empty, else the
// host name ("localhost" if there is none), cut to SL_NODE_NAME_MAX bytes
// and to len - 1. So a client and the workers of its node agree on their
// node by default, and $STARLING_NODE names the node where host names do
// not tell nodes apart.
void sl__node_name(char *buf, size_t len);

#endif
