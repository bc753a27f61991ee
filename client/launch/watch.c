// watch.c - the watchdog: every process and directory a test or a
// benchmark makes, stopped and removed by PID and path, also when the
// program that made them is interrupted or killed.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - One registry (s_g) of the processes and directories made while the
//   watchdog runs, under one mutex. A spawn holds the mutex from before
//   the fork until the child is registered, so the guard never misses a
//   child that was being started when a signal came.
// - The watchdog process, forked before anything else, is told each PID
//   and directory over a pipe. If the program dies without saying it is
//   done (SIGKILL, a crash), the pipe reaches end of file and the watchdog
//   SIGKILLs each process that still runs the program it was, and removes
//   the directories. The pipe's write end is close-on-exec, so no other
//   child holds it open. The watchdog has its own session and ignores the
//   terminal's signals, so a Ctrl-C or a kill of the program's process
//   group does not take it down with the program.
// - With the guard (benchmarks), SIGINT, SIGTERM and SIGHUP are blocked
//   in every thread (the mask is set before any other thread exists, and
//   threads inherit it) and taken by one guard thread with sigwait:
//   clean-up then runs in a plain thread, where stopping processes and
//   removing files is allowed, not in a signal handler. Children get a
//   clean mask from sl__proc_spawn.
// - A registered process is checked to still run its program before the
//   clean-up signals it: sl__proc_alive reaps a child that died, and its
//   PID may have been given to someone else since.
#define _GNU_SOURCE
#include "watch.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define S_MAX_PROCS 1100 // a cluster of SL_CLUSTER_MAX_WORKERS, and more
#define S_MAX_DIRS 16
#define S_PATH_LEN 256
#define S_GUARD_STOP_MS 3000
#define S_WAIT_POLL_US 2000

enum {
    S_WATCH_DONE = 0, // all is stopped: exit quietly
    S_WATCH_PROC,     // a process to kill if the program dies
    S_WATCH_FORGET,   // that process was stopped
    S_WATCH_DIR,      // a directory to remove if the program dies
    S_WATCH_UNDIR,    // that directory was removed
};

// One message to the watchdog. Smaller than PIPE_BUF: written atomically.
typedef struct {
    int32_t kind;          // S_WATCH_*
    int32_t pid;           // the process, for PROC and FORGET
    char text[S_PATH_LEN]; // program name (PROC) or directory (DIR, UNDIR)
} s_watch_msg;

typedef struct {
    pid_t pid;     // 0: a free entry
    char name[64]; // the program's base name: checked before a kill
} s_proc;

// The registry, and the watchdog's own copy of it.
typedef struct {
    s_proc procs[S_MAX_PROCS];         // processes started
    char dirs[S_MAX_DIRS][S_PATH_LEN]; // directories made ("": free)
} s_list;

static struct {
    pthread_mutex_t lock; // guards every field below
    s_list list;          // what was made while the watchdog runs
    int watch_fd;         // write end of the watchdog's pipe, or -1
    pid_t watchdog;       // the watchdog process, or 0
    bool guarded;         // sl__watch_guard_install ran
} s_g = {.lock = PTHREAD_MUTEX_INITIALIZER, .watch_fd = -1};

// ---------------------------------------------------------------------
// Removing directories.

static int
s_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    remove(path);
    return 0;
}

static void
s_rm_rf(const char *dir)
{
    if (dir[0] != '\0') {
        nftw(dir, s_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
}

// ---------------------------------------------------------------------
// The watchdog process.

static void
s_watch_send(int kind, pid_t pid, const char *text)
{
    s_watch_msg msg = {.kind = kind, .pid = (int32_t) pid};
    sl__strlcpy(msg.text, text != NULL ? text : "", sizeof(msg.text));
    if (s_g.watch_fd >= 0 &&
        write(s_g.watch_fd, &msg, sizeof(msg)) != (ssize_t) sizeof(msg)) {
        fprintf(stderr, "watchdog: cannot reach it\n");
    }
}

// Add a process or a directory to l, or take one off.
static void
s_list_apply(s_list *l, int kind, pid_t pid, const char *text)
{
    for (int i = 0; kind <= S_WATCH_FORGET && i < S_MAX_PROCS; i++) {
        if (kind == S_WATCH_PROC && l->procs[i].pid == 0) {
            l->procs[i].pid = pid;
            sl__strlcpy(l->procs[i].name, text, sizeof(l->procs[i].name));
            return;
        }
        if (kind == S_WATCH_FORGET && l->procs[i].pid == pid) {
            l->procs[i].pid = 0;
            return;
        }
    }
    for (int i = 0; kind >= S_WATCH_DIR && i < S_MAX_DIRS; i++) {
        if (kind == S_WATCH_DIR && l->dirs[i][0] == '\0') {
            sl__strlcpy(l->dirs[i], text, S_PATH_LEN);
            return;
        }
        if (kind == S_WATCH_UNDIR && strcmp(l->dirs[i], text) == 0) {
            l->dirs[i][0] = '\0';
            return;
        }
    }
}

// SIGKILL what l lists (each process only if it still runs its program)
// and remove its directories. How many processes it listed.
static int
s_list_kill(s_list *l)
{
    int n = 0;
    for (int i = 0; i < S_MAX_PROCS; i++) {
        pid_t pid = l->procs[i].pid;
        n += pid > 0;
        if (pid > 0 && sl__proc_is(pid, l->procs[i].name)) {
            kill(pid, SIGKILL);
        }
    }
    for (int i = 0; i < S_MAX_DIRS; i++) {
        s_rm_rf(l->dirs[i]);
    }
    return n;
}

// The watchdog's whole life: keep the list until DONE (exit) or end of
// file (the program died: kill and remove what is listed).
static void __attribute__((noreturn)) s_watchdog_run(int fd)
{
    static s_list list;
    s_watch_msg msg;
    setsid();
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    for (;;) {
        ssize_t got = read(fd, &msg, sizeof(msg));
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got != (ssize_t) sizeof(msg)) {
            break;
        }
        if (msg.kind == S_WATCH_DONE) {
            _exit(0);
        }
        msg.text[S_PATH_LEN - 1] = '\0';
        s_list_apply(&list, msg.kind, msg.pid, msg.text);
    }
    if (s_list_kill(&list) > 0) {
        fprintf(stderr, "watchdog: the program died without stopping its "
                        "processes; killed them\n");
    }
    _exit(0);
}

sl_err
sl__watch_start(void)
{
    int fds[2];
    if (s_g.watch_fd >= 0) {
        return SL_OK;
    }
    if (pipe2(fds, O_CLOEXEC) != 0) {
        return SL_EIO;
    }
    fflush(NULL); // Or the child would write our buffered output again.
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return SL_EIO;
    }
    if (pid == 0) {
        close(fds[1]);
        s_watchdog_run(fds[0]);
    }
    close(fds[0]);
    pthread_mutex_lock(&s_g.lock);
    memset(&s_g.list, 0, sizeof(s_g.list));
    s_g.watch_fd = fds[1];
    s_g.watchdog = pid;
    pthread_mutex_unlock(&s_g.lock);
    return SL_OK;
}

bool
sl__watch_active(void)
{
    return s_g.watch_fd >= 0;
}

// Tell the watchdog to exit quietly, and reap it. Callers hold s_g.lock.
static void
s_done_locked(void)
{
    if (s_g.watch_fd >= 0) {
        s_watch_send(S_WATCH_DONE, 0, NULL);
        close(s_g.watch_fd);
        s_g.watch_fd = -1;
    }
    if (s_g.watchdog > 0) {
        while (waitpid(s_g.watchdog, NULL, 0) < 0 && errno == EINTR) {
        }
        s_g.watchdog = 0;
    }
    memset(&s_g.list, 0, sizeof(s_g.list));
}

void
sl__watch_done(void)
{
    pthread_mutex_lock(&s_g.lock);
    s_done_locked();
    pthread_mutex_unlock(&s_g.lock);
}

// ---------------------------------------------------------------------
// The registry. Callers hold s_g.lock.

static void
s_register(pid_t pid, const char *program)
{
    const char *slash = strrchr(program, '/');
    const char *base = slash != NULL ? slash + 1 : program;
    if (s_g.watch_fd < 0) {
        return; // no watchdog: nothing to remember
    }
    for (int i = 0; i < S_MAX_PROCS; i++) {
        if (s_g.list.procs[i].pid == 0) {
            s_list_apply(&s_g.list, S_WATCH_PROC, pid, base);
            s_watch_send(S_WATCH_PROC, pid, base);
            return;
        }
    }
    // Nothing starts this many: a bug in the program.
    fprintf(stderr, "watchdog: more than %d processes\n", S_MAX_PROCS);
    abort();
}

static s_proc *
s_find(pid_t pid)
{
    for (int i = 0; pid > 0 && i < S_MAX_PROCS; i++) {
        if (s_g.list.procs[i].pid == pid) {
            return &s_g.list.procs[i];
        }
    }
    return NULL;
}

static void
s_forget_locked(pid_t pid)
{
    s_proc *p = s_find(pid);
    if (p != NULL) {
        s_watch_send(S_WATCH_FORGET, p->pid, NULL);
        p->pid = 0;
    }
}

// Stop every registered process (all asked at once, then each waited
// for), remove every registered directory, and let the watchdog go.
static void
s_cleanup_locked(void)
{
    s_proc *procs = s_g.list.procs;
    for (int i = 0; i < S_MAX_PROCS; i++) {
        if (procs[i].pid > 0 && sl__proc_is(procs[i].pid, procs[i].name)) {
            kill(procs[i].pid, SIGTERM);
        } else {
            procs[i].pid = 0;
        }
    }
    for (int i = 0; i < S_MAX_PROCS; i++) {
        if (procs[i].pid > 0) {
            sl__proc_stop(procs[i].pid, S_GUARD_STOP_MS);
        }
    }
    for (int i = 0; i < S_MAX_DIRS; i++) {
        s_rm_rf(s_g.list.dirs[i]);
    }
    s_done_locked();
}

// ---------------------------------------------------------------------
// The guard.

static void
s_atexit(void)
{
    pthread_mutex_lock(&s_g.lock);
    s_cleanup_locked();
    pthread_mutex_unlock(&s_g.lock);
}

static void *
s_guard_main(void *arg)
{
    sigset_t *set = arg;
    int sig = 0;
    while (sigwait(set, &sig) != 0) {
    }
    fprintf(stderr, "\n%s: stopping every process it started\n",
            strsignal(sig));
    pthread_mutex_lock(&s_g.lock); // Held until _exit: the run is over.
    s_cleanup_locked();
    _exit(128 + sig);
}

sl_err
sl__watch_guard_install(void)
{
    static sigset_t set;
    pthread_t guard;
    if (s_g.guarded) {
        return SL_OK;
    }
    if (sl__watch_start() != SL_OK) {
        return SL_EIO;
    }
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0 ||
        pthread_create(&guard, NULL, s_guard_main, &set) != 0) {
        return SL_EIO;
    }
    pthread_detach(guard);
    atexit(s_atexit);
    s_g.guarded = true;
    return SL_OK;
}

// ---------------------------------------------------------------------
// Processes.

sl_err
sl__watch_spawn(pid_t *pid_out, char *const argv[], const char *log_path,
                bool detach, char errbuf[SL_ERRSTR_LEN])
{
    pthread_mutex_lock(&s_g.lock);
    sl_err rv = sl__proc_spawn(pid_out, argv, log_path, detach, errbuf);
    if (rv == SL_OK) {
        s_register(*pid_out, argv[0]);
    }
    pthread_mutex_unlock(&s_g.lock);
    return rv;
}

sl_err
sl__watch_redis_start(const sl__redis_opts *opts, pid_t *pid_out,
                      char errbuf[SL_ERRSTR_LEN])
{
    pthread_mutex_lock(&s_g.lock);
    sl_err rv = sl__redis_start(opts, pid_out, errbuf);
    if (rv == SL_OK) {
        s_register(*pid_out, opts->redis_server != NULL ? opts->redis_server
                                                        : "redis-server");
    }
    pthread_mutex_unlock(&s_g.lock);
    return rv;
}

void
sl__watch_signal(pid_t pid, int sig)
{
    pthread_mutex_lock(&s_g.lock);
    if (s_find(pid) != NULL) {
        kill(pid, sig);
    }
    pthread_mutex_unlock(&s_g.lock);
}

sl_err
sl__watch_stop(pid_t *pid_p, int timeout_ms)
{
    sl_err rv = SL_OK;
    if (*pid_p <= 0) {
        *pid_p = 0;
        return SL_OK;
    }
    pthread_mutex_lock(&s_g.lock);
    rv = sl__proc_stop(*pid_p, timeout_ms);
    s_forget_locked(*pid_p);
    pthread_mutex_unlock(&s_g.lock);
    *pid_p = 0;
    return rv;
}

void
sl__watch_forget(pid_t pid)
{
    pthread_mutex_lock(&s_g.lock);
    s_forget_locked(pid);
    pthread_mutex_unlock(&s_g.lock);
}

sl_err
sl__watch_wait(pid_t *pid_p, int timeout_ms, int *status_out)
{
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : sl__mono_ms() + timeout_ms;
    if (*pid_p <= 0) {
        return SL_EINVAL; // waitpid(0 or -1) would wait for any child
    }
    for (;;) {
        int status = 0;
        pthread_mutex_lock(&s_g.lock);
        pid_t r = waitpid(*pid_p, &status, WNOHANG);
        if (r != 0 && !(r < 0 && errno == EINTR)) {
            s_forget_locked(*pid_p);
            pthread_mutex_unlock(&s_g.lock);
            *pid_p = 0;
            if (status_out != NULL) {
                *status_out = status;
            }
            return r > 0 || errno == ECHILD ? SL_OK : SL_EINVAL;
        }
        pthread_mutex_unlock(&s_g.lock);
        if (sl__mono_ms() >= deadline) {
            return SL_ETIMEDOUT;
        }
        usleep(S_WAIT_POLL_US);
    }
}

// ---------------------------------------------------------------------
// Directories.

sl_err
sl__watch_dir_new(char *buf, size_t len, const char *prefix)
{
    const char *tmp = getenv("TMPDIR");
    return sl__watch_dir_new_in(buf, len, tmp != NULL && tmp[0] ? tmp : "/tmp",
                                prefix);
}

sl_err
sl__watch_dir_new_in(char *buf, size_t len, const char *parent,
                     const char *prefix)
{
    sl__fmt(buf, len, "%s/%s.XXXXXX", parent, prefix);
    if (strlen(buf) >= S_PATH_LEN || mkdtemp(buf) == NULL) {
        buf[0] = '\0';
        return SL_EIO;
    }
    pthread_mutex_lock(&s_g.lock);
    sl_err rv = s_g.watch_fd >= 0 ? SL_ELIMIT : SL_OK;
    for (int i = 0; rv != SL_OK && i < S_MAX_DIRS; i++) {
        if (s_g.list.dirs[i][0] == '\0') {
            s_list_apply(&s_g.list, S_WATCH_DIR, 0, buf);
            s_watch_send(S_WATCH_DIR, 0, buf);
            rv = SL_OK;
        }
    }
    pthread_mutex_unlock(&s_g.lock);
    if (rv != SL_OK) {
        s_rm_rf(buf);
        buf[0] = '\0';
    }
    return rv;
}

void
sl__watch_dir_remove(const char *dir)
{
    if (dir[0] == '\0') {
        return;
    }
    pthread_mutex_lock(&s_g.lock);
    s_rm_rf(dir);
    for (int i = 0; i < S_MAX_DIRS; i++) {
        if (strcmp(s_g.list.dirs[i], dir) == 0) {
            s_watch_send(S_WATCH_UNDIR, 0, s_g.list.dirs[i]);
            s_g.list.dirs[i][0] = '\0';
        }
    }
    pthread_mutex_unlock(&s_g.lock);
}
