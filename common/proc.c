// proc.c - start and stop the processes of a local cluster, by PID.
// SPDX-License-Identifier: MIT
//
// Design notes. A process is only ever signalled through the PID that
// sl__proc_spawn returned (or that a caller read back from its own state
// file, checked with sl__proc_is): never by name, and never with a PID
// <= 0, which kill(2) would turn into a process group or "everyone".
//
// The child reports a failure between fork and exec (setsid, redirecting
// output, exec itself) through a close-on-exec pipe: the parent reads
// either nothing (the exec succeeded and closed the pipe) or the step that
// failed and its errno. So "redis-server: No such file or directory" is an
// error the caller sees, not only a line in a log.
//
// Between fork and exec the child calls only async-signal-safe functions
// (the parent may have threads); everything that allocates is prepared
// before the fork.
#define _GNU_SOURCE
#include "proc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

// What the child writes to the parent when a step before exec fails.
typedef struct {
    int step;   // an s_step value
    int errnum; // errno of the failed call
} s_child_error;

enum { S_STEP_SETSID = 1, S_STEP_STDIN, S_STEP_OUTPUT, S_STEP_EXEC };

static const char *
s_step_name(int step)
{
    switch (step) {
    case S_STEP_SETSID:
        return "setsid";
    case S_STEP_STDIN:
        return "redirect stdin";
    case S_STEP_OUTPUT:
        return "redirect output";
    default:
        return "exec";
    }
}

static void
s_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

// ---------------------------------------------------------------------
// Spawning.

// Mark every descriptor from 3 up close-on-exec. close_range does it in
// one call on Linux >= 5.11; older kernels get a loop up to the limit the
// parent measured.
static void
s_child_cloexec_all(int max_fd)
{
#ifdef CLOSE_RANGE_CLOEXEC
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0) {
        return;
    }
#endif
    for (int fd = 3; fd < max_fd; fd++) {
        int flags = fcntl(fd, F_GETFD);
        if (flags >= 0) {
            fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
        }
    }
}

// Signals the parent ignores or blocks would stay ignored or blocked in the
// program; give it the defaults.
static void
s_child_reset_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    for (int sig = 1; sig < 32; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP) {
            sigaction(sig, &sa, NULL);
        }
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static void __attribute__((noreturn)) s_child_fail(int report_fd, int step)
{
    s_child_error e = {step, errno};
    ssize_t rc = write(report_fd, &e, sizeof(e));
    (void) rc;
    _exit(127);
}

// dup2 from onto to; when they are the same descriptor (our own stdout
// was closed, so the log landed on 1), dup2 does nothing and the
// close-on-exec flag must be cleared by hand.
static int
s_child_dup(int from, int to)
{
    if (from != to) {
        return dup2(from, to);
    }
    int flags = fcntl(from, F_GETFD);
    return flags < 0 ? -1 : fcntl(from, F_SETFD, flags & ~FD_CLOEXEC);
}

static void __attribute__((noreturn))
s_child(char *const argv[], int log_fd, int null_fd, bool detach, int report_fd,
        int max_fd)
{
    s_child_reset_signals();
    if (detach && setsid() < 0) {
        s_child_fail(report_fd, S_STEP_SETSID);
    }
    if (null_fd >= 0 && s_child_dup(null_fd, STDIN_FILENO) < 0) {
        s_child_fail(report_fd, S_STEP_STDIN);
    }
    if (log_fd >= 0 && (s_child_dup(log_fd, STDOUT_FILENO) < 0 ||
                        s_child_dup(log_fd, STDERR_FILENO) < 0)) {
        s_child_fail(report_fd, S_STEP_OUTPUT);
    }
    s_child_cloexec_all(max_fd);
    execvp(argv[0], argv);
    s_child_fail(report_fd, S_STEP_EXEC);
}

// Read the child's report: SL_OK when the pipe closed empty (the exec
// succeeded). Otherwise the child has exited; reap it.
static sl_err
s_read_report(int report_fd, pid_t pid, const char *program,
              char errbuf[SL_ERRSTR_LEN])
{
    s_child_error e;
    ssize_t n;
    do {
        n = read(report_fd, &e, sizeof(e));
    } while (n < 0 && errno == EINTR);
    if (n == 0) {
        return SL_OK;
    }
    if (n == (ssize_t) sizeof(e)) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot start %s: %s: %s", program,
                s_step_name(e.step), strerror(e.errnum));
    } else {
        sl__fmt(errbuf, SL_ERRSTR_LEN,
                "cannot start %s: no report from the "
                "child (%s)",
                program, n < 0 ? strerror(errno) : "short read");
    }
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    return SL_EIO;
}

static int
s_max_fd(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
        rl.rlim_cur > INT_MAX) {
        return 65536;
    }
    return (int) rl.rlim_cur;
}

sl_err
sl__proc_spawn(pid_t *pid_out, char *const argv[], const char *log_path,
               bool detach, char errbuf[SL_ERRSTR_LEN])
{
    int log_fd = -1, null_fd = -1, report[2] = {-1, -1};
    sl_err rv = SL_EIO;
    errbuf[0] = '\0';
    if (argv == NULL || argv[0] == NULL || argv[0][0] == '\0') {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "no program to start");
        return SL_EINVAL;
    }
    if (log_path != NULL &&
        (log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                       0600)) < 0) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot start %s: open %s: %s", argv[0],
                log_path, strerror(errno));
        goto done;
    }
    // A detached daemon must not read the terminal it was started from.
    if (detach && (null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot start %s: open /dev/null: %s",
                argv[0], strerror(errno));
        goto done;
    }
    if (pipe2(report, O_CLOEXEC) != 0) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot start %s: pipe: %s", argv[0],
                strerror(errno));
        goto done;
    }
    int max_fd = s_max_fd();
    pid_t pid = fork();
    if (pid < 0) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot start %s: fork: %s", argv[0],
                strerror(errno));
        goto done;
    }
    if (pid == 0) {
        s_child(argv, log_fd, null_fd, detach, report[1], max_fd);
    }
    close(report[1]);
    report[1] = -1;
    if ((rv = s_read_report(report[0], pid, argv[0], errbuf)) == SL_OK) {
        *pid_out = pid;
        sl__log_debug("started %s, pid %d", argv[0], (int) pid);
    }

done:
    for (int i = 0; i < 2; i++) {
        if (report[i] >= 0) {
            close(report[i]);
        }
    }
    if (log_fd >= 0) {
        close(log_fd);
    }
    if (null_fd >= 0) {
        close(null_fd);
    }
    return rv;
}

// ---------------------------------------------------------------------
// Watching and stopping.

// The state letter in /proc/<pid>/stat ('Z' for a zombie), or 0.
static char
s_proc_state(pid_t pid)
{
    char path[64], line[512];
    sl__fmt(path, sizeof(path), "/proc/%d/stat", (int) pid);
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        return 0;
    }
    size_t n = fread(line, 1, sizeof(line) - 1, f);
    fclose(f);
    line[n] = '\0';
    // "pid (comm) S ...": comm may hold spaces and parentheses, so look
    // after the last ')'.
    const char *p = strrchr(line, ')');
    return (p != NULL && p[1] == ' ') ? p[2] : 0;
}

bool
sl__proc_alive(pid_t pid)
{
    if (pid <= 0) {
        return false;
    }
    int status;
    pid_t r;
    do {
        r = waitpid(pid, &status, WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == pid) {
        return false; // our child, exited, now reaped
    }
    if (r == 0) {
        return true; // our child, running
    }
    // Not our child: it exists if we may signal it (or may not, EPERM),
    // unless it is a zombie that its own parent has yet to reap.
    if (kill(pid, 0) != 0 && errno != EPERM) {
        return false;
    }
    return s_proc_state(pid) != 'Z';
}

// Poll until pid is gone or the deadline passes.
static bool
s_wait_gone(pid_t pid, int64_t deadline_ms)
{
    for (;;) {
        if (!sl__proc_alive(pid)) {
            return true;
        }
        if (sl__mono_ms() >= deadline_ms) {
            return false;
        }
        s_sleep_ms(10);
    }
}

sl_err
sl__proc_stop(pid_t pid, int timeout_ms)
{
    if (pid <= 0) {
        return SL_EINVAL; // kill(0 or -1) would reach whole groups
    }
    if (!sl__proc_alive(pid)) {
        return SL_OK;
    }
    if (kill(pid, SIGTERM) != 0) {
        if (errno == ESRCH) {
            sl__proc_alive(pid); // reap it if it was ours
            return SL_OK;
        }
        sl__log_warn("cannot stop pid %d: %s", (int) pid, strerror(errno));
        return SL_EIO;
    }
    if (s_wait_gone(pid, sl__mono_ms() + (timeout_ms > 0 ? timeout_ms : 0))) {
        return SL_OK;
    }
    sl__log_warn("pid %d did not exit %d ms after SIGTERM; sending SIGKILL",
                 (int) pid, timeout_ms);
    if (kill(pid, SIGKILL) != 0 && errno != ESRCH) {
        return SL_EIO;
    }
    // SIGKILL cannot be caught, but a process stuck in the kernel (D
    // state) takes its time; do not wait for it forever.
    return s_wait_gone(pid, sl__mono_ms() + 5000) ? SL_OK : SL_ETIMEDOUT;
}

// Whether s (of len bytes) ends with name at a path boundary: "redis-server"
// matches "/usr/bin/redis-server" but not "/usr/bin/my-redis-server".
static bool
s_ends_with(const char *s, size_t len, const char *name)
{
    size_t nlen = strlen(name);
    if (nlen == 0 || nlen > len || memcmp(s + len - nlen, name, nlen) != 0) {
        return false;
    }
    return nlen == len || s[len - nlen - 1] == '/' || name[0] == '/';
}

bool
sl__proc_is(pid_t pid, const char *name)
{
    if (pid <= 0 || name == NULL) {
        return false;
    }
    char path[64], buf[4096];
    sl__fmt(path, sizeof(path), "/proc/%d/cmdline", (int) pid);
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        return false;
    }
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    // argv[0] as exec'd, and its first word: programs that set their
    // process title (redis-server writes "redis-server 127.0.0.1:6379")
    // rewrite argv[0] in place.
    size_t argv0 = strlen(buf);
    size_t word = strcspn(buf, " ");
    return s_ends_with(buf, argv0, name) || s_ends_with(buf, word, name);
}

// ---------------------------------------------------------------------
// Ports and random names.

int
sl__free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    struct sockaddr_in sa;
    socklen_t salen = sizeof(sa);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0; // the kernel picks a free one
    int port = -1;
    if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *) &sa, &salen) == 0) {
        port = ntohs(sa.sin_port);
    }
    close(fd);
    return port;
}

// One non-blocking connect to ai, bounded by wait_ms. True when it was
// accepted.
static bool
s_try_connect(const struct addrinfo *ai, int wait_ms)
{
    int fd =
        socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
               ai->ai_protocol);
    if (fd < 0) {
        return false;
    }
    bool ok = connect(fd, ai->ai_addr, ai->ai_addrlen) == 0;
    if (!ok && errno == EINPROGRESS) {
        struct pollfd pfd = {fd, POLLOUT, 0};
        int err = 0;
        socklen_t elen = sizeof(err);
        ok = poll(&pfd, 1, wait_ms) == 1 &&
             getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 && err == 0;
    }
    close(fd);
    return ok;
}

sl_err
sl__wait_port(const char *host, int port, int timeout_ms)
{
    struct addrinfo hints, *res = NULL;
    char service[16];
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    sl__fmt(service, sizeof(service), "%d", port);
    if (port <= 0 || port > 65535 ||
        getaddrinfo(host, service, &hints, &res) != 0) {
        return SL_EINVAL;
    }
    int64_t deadline = sl__mono_ms() + timeout_ms;
    sl_err rv = SL_ETIMEDOUT;
    for (;;) {
        int64_t left = deadline - sl__mono_ms();
        for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
            if (s_try_connect(ai, left > 0 ? (int) left : 0)) {
                rv = SL_OK;
                goto done;
            }
        }
        if (sl__mono_ms() >= deadline) {
            goto done;
        }
        s_sleep_ms(20);
    }

done:
    freeaddrinfo(res);
    return rv;
}

void
sl__random_hex(char *buf, size_t nbytes)
{
    static const char digits[] = "0123456789abcdef";
    uint8_t bytes[256];
    size_t done = 0;
    while (done < nbytes) {
        size_t want = nbytes - done;
        if (want > sizeof(bytes)) {
            want = sizeof(bytes);
        }
        ssize_t n = getrandom(bytes, want, 0);
        if (n <= 0) {
            // Interrupted or no getrandom: sl__rand64 has a fallback.
            uint64_t r = sl__rand64();
            n = (ssize_t) (want < sizeof(r) ? want : sizeof(r));
            memcpy(bytes, &r, (size_t) n);
        }
        for (ssize_t i = 0; i < n; i++) {
            buf[2 * (done + (size_t) i)] = digits[bytes[i] >> 4];
            buf[2 * (done + (size_t) i) + 1] = digits[bytes[i] & 15];
        }
        done += (size_t) n;
    }
    buf[2 * nbytes] = '\0';
}

// ---------------------------------------------------------------------
// A private redis-server.

// Write s as a double-quoted redis.conf string: redis' config parser
// understands \\, \" and \xHH inside double quotes.
static void
s_conf_quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            fprintf(f, "\\%c", *p);
        } else if (*p < 0x20 || *p >= 0x7f) {
            fprintf(f, "\\x%02x", *p);
        } else {
            fputc(*p, f);
        }
    }
    fputc('"', f);
}

static sl_err
s_redis_write_conf(const sl__redis_opts *opts, const char *dir,
                   const char *conf_path, const char *log_path,
                   char errbuf[SL_ERRSTR_LEN])
{
    // The file holds the password: create it 0600 before writing a byte.
    int fd = open(conf_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f == NULL) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot write %s: %s", conf_path,
                strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return SL_EIO;
    }
    fprintf(f,
            "# Written by starling for a private redis-server.\n"
            "bind 127.0.0.1\nport %d\nrequirepass ",
            opts->port);
    s_conf_quoted(f, opts->password);
    fprintf(f, "\ndir ");
    s_conf_quoted(f, dir);
    fprintf(f,
            "\ndbfilename \"dump.rdb\"\nsave \"\"\nappendonly %s\n"
            "appendfsync everysec\nprotected-mode yes\ndaemonize no\n"
            "logfile ",
            opts->aof ? "yes" : "no");
    s_conf_quoted(f, log_path);
    fputc('\n', f);
    bool failed = ferror(f) != 0;
    if (fclose(f) != 0 || failed) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot write %s: %s", conf_path,
                strerror(errno));
        return SL_EIO;
    }
    return SL_OK;
}

// Create dir (0700) if missing and give its absolute path, which
// redis.conf needs: redis chdirs to "dir" while it reads the file.
static sl_err
s_redis_dir(const char *dir, char abs[PATH_MAX], char errbuf[SL_ERRSTR_LEN])
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot create %s: %s", dir,
                strerror(errno));
        return SL_EIO;
    }
    if (realpath(dir, abs) == NULL) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot resolve %s: %s", dir,
                strerror(errno));
        return SL_EIO;
    }
    return SL_OK;
}

// Whether an INFO server reply names pid as the server's process.
static bool
s_redis_info_pid_is(const redisReply *r, pid_t pid)
{
    char want[48];
    sl__fmt(want, sizeof(want), "\nprocess_id:%d\r", (int) pid);
    return r != NULL && r->type == REDIS_REPLY_STRING &&
           strstr(r->str, want) != NULL;
}

// One attempt at AUTH + PING + INFO. True when our process answered PONG:
// a server that was already on the port (and for some reason has the same
// password) must not pass for ours, which is about to fail to bind.
static bool
s_redis_ping(int port, const char *password, pid_t pid)
{
    struct timeval tv = {0, 500000};
    redisContext *ctx = redisConnectWithTimeout("127.0.0.1", port, tv);
    bool ok = false;
    if (ctx != NULL && ctx->err == 0) {
        redisSetTimeout(ctx, tv);
        redisReply *r = redisCommand(ctx, "AUTH %s", password);
        ok = r != NULL && r->type == REDIS_REPLY_STATUS;
        freeReplyObject(r);
        r = ok ? redisCommand(ctx, "PING") : NULL;
        // While it loads its AOF, redis answers PING with -LOADING.
        ok = r != NULL && r->type == REDIS_REPLY_STATUS &&
             strcmp(r->str, "PONG") == 0;
        freeReplyObject(r);
        r = ok ? redisCommand(ctx, "INFO server") : NULL;
        ok = s_redis_info_pid_is(r, pid);
        freeReplyObject(r);
    }
    redisFree(ctx);
    return ok;
}

// Skip redis' log line prefix "pid:role dd Mon yyyy hh:mm:ss.mmm # ".
static const char *
s_skip_redis_prefix(const char *line)
{
    const char *p = line;
    while (*p >= '0' && *p <= '9') {
        p++;
    }
    if (p == line || p[0] != ':' || p[1] == '\0' || p[2] != ' ') {
        return line;
    }
    for (int spaces = 0; *p != '\0' && *p != '\n'; p++) {
        if (*p == ' ' && ++spaces == 6) {
            return p + 1;
        }
    }
    return line;
}

// The last lines of path (without redis' prefixes), joined with " | ", as
// many whole lines as fit in size-1 bytes: redis' reason comes a line
// before its "aborting".
static void
s_log_tail(const char *path, char *dst, size_t size)
{
    char buf[1024], joined[1024];
    size_t n = 0, j = 0;
    FILE *f = fopen(path, "re");
    dst[0] = '\0';
    if (f == NULL) {
        return;
    }
    long end = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : 0;
    long from = end > (long) sizeof(buf) - 1 ? end - (long) sizeof(buf) + 1 : 0;
    if (fseek(f, from, SEEK_SET) == 0) {
        n = fread(buf, 1, sizeof(buf) - 1, f);
    }
    fclose(f);
    buf[n] = '\0';
    char *save = NULL;
    for (char *line = strtok_r(buf, "\r\n", &save); line != NULL;
         line = strtok_r(NULL, "\r\n", &save)) {
        const char *text = s_skip_redis_prefix(line);
        size_t len = strlen(text);
        if (len == 0 || j + len + 4 > sizeof(joined)) {
            continue;
        }
        if (j > 0) {
            memcpy(joined + j, " | ", 3);
            j += 3;
        }
        memcpy(joined + j, text, len);
        j += len;
    }
    joined[j] = '\0';
    const char *p = joined;
    if (j >= size) {
        p = joined + j - (size - 1);
        const char *sep = strstr(p, " | ");
        p = sep != NULL ? sep + 3 : p;
    }
    sl__strlcpy(dst, p, size);
}

// Wait until the server answers, it dies, or 10 s pass.
static sl_err
s_redis_wait(const sl__redis_opts *opts, pid_t pid, const char *log_path,
             char errbuf[SL_ERRSTR_LEN])
{
    int64_t deadline = sl__mono_ms() + 10000;
    char tail[200];
    for (;;) {
        if (!sl__proc_alive(pid)) {
            s_log_tail(log_path, tail, sizeof(tail));
            sl__fmt(errbuf, SL_ERRSTR_LEN, "redis-server on port %d exited: %s",
                    opts->port, tail[0] ? tail : "(nothing in its log)");
            return SL_EIO;
        }
        if (s_redis_ping(opts->port, opts->password, pid)) {
            return SL_OK;
        }
        if (sl__mono_ms() >= deadline) {
            s_log_tail(log_path, tail, sizeof(tail));
            sl__fmt(errbuf, SL_ERRSTR_LEN,
                    "redis-server on port %d did not answer in 10 s; log: %s",
                    opts->port, tail[0] ? tail : "(empty)");
            return SL_ETIMEDOUT;
        }
        s_sleep_ms(20);
    }
}

sl_err
sl__redis_start(const sl__redis_opts *opts, pid_t *pid_out,
                char errbuf[SL_ERRSTR_LEN])
{
    char dir[PATH_MAX], conf_path[PATH_MAX + 16], log_path[PATH_MAX + 16];
    sl_err rv;
    errbuf[0] = '\0';
    if (opts == NULL || opts->dir == NULL || opts->password == NULL ||
        opts->password[0] == '\0' || opts->port <= 0 || opts->port > 65535) {
        sl__fmt(errbuf, SL_ERRSTR_LEN,
                "redis-server needs a directory, a port and a password");
        return SL_EINVAL;
    }
    if ((rv = s_redis_dir(opts->dir, dir, errbuf)) != SL_OK) {
        return rv;
    }
    sl__fmt(conf_path, sizeof(conf_path), "%s/redis.conf", dir);
    sl__fmt(log_path, sizeof(log_path), "%s/redis.log", dir);
    if ((rv = s_redis_write_conf(opts, dir, conf_path, log_path, errbuf)) !=
        SL_OK) {
        return rv;
    }
    // Its stdout and stderr go to the log too: redis prints a bad
    // config file there, before it opens its logfile.
    const char *program =
        opts->redis_server != NULL ? opts->redis_server : "redis-server";
    char *argv[] = {(char *) program, conf_path, NULL};
    pid_t pid;
    if ((rv = sl__proc_spawn(&pid, argv, log_path, true, errbuf)) != SL_OK) {
        return rv;
    }
    if ((rv = s_redis_wait(opts, pid, log_path, errbuf)) != SL_OK) {
        sl__proc_stop(pid, 2000);
        return rv;
    }
    sl__log_debug("redis-server pid %d on 127.0.0.1:%d, files in %s", (int) pid,
                  opts->port, dir);
    *pid_out = pid;
    return SL_OK;
}
