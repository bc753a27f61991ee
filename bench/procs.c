// procs.c - every process and directory a benchmark run makes, stopped and
// removed by PID and path, also when the run is interrupted or killed.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - One registry (s_g) of the processes and directories the run made,
//   under one mutex. A spawn holds the mutex from before the fork until
//   the child is registered, so the guard never misses a child that was
//   being started when the signal came.
// - SIGINT, SIGTERM and SIGHUP are blocked in every thread (the mask is
//   set before any other thread exists, and threads inherit it) and
//   taken by one guard thread with sigwait: clean-up then runs in a plain
//   thread, where stopping processes and removing files is allowed, not
//   in a signal handler. Children get a clean mask from sl__proc_spawn.
// - A watchdog process, forked before anything else, is told each PID
//   and directory over a pipe. If the runner dies without saying it is
//   done (SIGKILL, a crash), the pipe reaches end of file and the watchdog
//   SIGKILLs each process that still runs the program it was, and removes
//   the directories. The pipe's write end is close-on-exec, so no other
//   child holds it open.
#define _GNU_SOURCE
#include "procs.h"

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

#define S_MAX_PROCS 1024
#define S_MAX_DIRS 16
#define S_PATH_LEN 256
#define S_GUARD_STOP_MS 3000

enum {
    S_WATCH_DONE = 0, // the run is over: exit quietly
    S_WATCH_PROC,     // a process to kill if the runner dies
    S_WATCH_FORGET,   // that process was stopped
    S_WATCH_DIR,      // a directory to remove if the runner dies
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

static struct {
    pthread_mutex_t lock;              // guards every field below
    s_proc procs[S_MAX_PROCS];         // processes the run started
    char dirs[S_MAX_DIRS][S_PATH_LEN]; // directories it made ("": free)
    int watch_fd;                      // write end of the watchdog's pipe
    bool cleaned;                      // the clean-up has run
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
// The watchdog.

static void
s_watch_send(int kind, pid_t pid, const char *text)
{
    s_watch_msg msg = {.kind = kind, .pid = (int32_t) pid};
    sl__strlcpy(msg.text, text != NULL ? text : "", sizeof(msg.text));
    if (s_g.watch_fd >= 0 &&
        write(s_g.watch_fd, &msg, sizeof(msg)) != (ssize_t) sizeof(msg)) {
        fprintf(stderr, "starling-bench: cannot reach the watchdog\n");
    }
}

// The watchdog's lists: what to kill and remove if the runner dies.
typedef struct {
    s_proc procs[S_MAX_PROCS];
    char dirs[S_MAX_DIRS][S_PATH_LEN];
} s_watch_list;

static void
s_watch_apply(s_watch_list *l, const s_watch_msg *msg)
{
    for (int i = 0; i < S_MAX_PROCS; i++) {
        if (msg->kind == S_WATCH_PROC && l->procs[i].pid == 0) {
            l->procs[i].pid = msg->pid;
            sl__strlcpy(l->procs[i].name, msg->text, sizeof(l->procs[i].name));
            return;
        }
        if (msg->kind == S_WATCH_FORGET && l->procs[i].pid == msg->pid) {
            l->procs[i].pid = 0;
            return;
        }
    }
    for (int i = 0; i < S_MAX_DIRS; i++) {
        if (msg->kind == S_WATCH_DIR && l->dirs[i][0] == '\0') {
            sl__strlcpy(l->dirs[i], msg->text, S_PATH_LEN);
            return;
        }
        if (msg->kind == S_WATCH_UNDIR && strcmp(l->dirs[i], msg->text) == 0) {
            l->dirs[i][0] = '\0';
            return;
        }
    }
}

// The watchdog's whole life: keep the lists until DONE (exit) or end of
// file (the runner died: kill and remove what is listed).
static void __attribute__((noreturn)) s_watchdog_run(int fd)
{
    static s_watch_list list;
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
        s_watch_apply(&list, &msg);
    }
    for (int i = 0; i < S_MAX_PROCS; i++) {
        pid_t pid = list.procs[i].pid;
        if (pid > 0 && sl__proc_is(pid, list.procs[i].name)) {
            kill(pid, SIGKILL);
        }
    }
    for (int i = 0; i < S_MAX_DIRS; i++) {
        s_rm_rf(list.dirs[i]);
    }
    _exit(0);
}

static sl_err
s_watchdog_start(void)
{
    int fds[2];
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
    s_g.watch_fd = fds[1];
    return SL_OK;
}

// ---------------------------------------------------------------------
// The registry. Callers hold s_g.lock.

static void
s_register(pid_t pid, const char *program)
{
    const char *slash = strrchr(program, '/');
    const char *base = slash != NULL ? slash + 1 : program;
    for (int i = 0; i < S_MAX_PROCS; i++) {
        if (s_g.procs[i].pid == 0) {
            s_g.procs[i].pid = pid;
            sl__strlcpy(s_g.procs[i].name, base, sizeof(s_g.procs[i].name));
            s_watch_send(S_WATCH_PROC, pid, base);
            return;
        }
    }
    // A run never starts this many: a bug in the runner.
    fprintf(stderr, "starling-bench: more than %d processes\n", S_MAX_PROCS);
    abort();
}

static s_proc *
s_find(pid_t pid)
{
    for (int i = 0; pid > 0 && i < S_MAX_PROCS; i++) {
        if (s_g.procs[i].pid == pid) {
            return &s_g.procs[i];
        }
    }
    return NULL;
}

// Stop every registered process (all asked at once, then each waited
// for) and remove every registered directory.
static void
s_cleanup_locked(void)
{
    for (int i = 0; i < S_MAX_PROCS; i++) {
        if (s_g.procs[i].pid > 0) {
            kill(s_g.procs[i].pid, SIGTERM);
        }
    }
    for (int i = 0; i < S_MAX_PROCS; i++) {
        if (s_g.procs[i].pid > 0) {
            sl__proc_stop(s_g.procs[i].pid, S_GUARD_STOP_MS);
            s_g.procs[i].pid = 0;
        }
    }
    for (int i = 0; i < S_MAX_DIRS; i++) {
        s_rm_rf(s_g.dirs[i]);
        s_g.dirs[i][0] = '\0';
    }
    if (!s_g.cleaned) {
        s_watch_send(S_WATCH_DONE, 0, NULL);
        s_g.cleaned = true;
    }
}

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
    fprintf(stderr, "\nstarling-bench: %s: stopping every process of the run\n",
            strsignal(sig));
    pthread_mutex_lock(&s_g.lock); // Held until _exit: the run is over.
    s_cleanup_locked();
    _exit(128 + sig);
}

sl_err
sl__bench_guard_install(void)
{
    static sigset_t set;
    pthread_t guard;
    if (s_watchdog_start() != SL_OK) {
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
    return SL_OK;
}

// ---------------------------------------------------------------------
// Processes.

sl_err
sl__bench_spawn(pid_t *pid_out, char *const argv[], const char *log_path,
                char errbuf[SL_ERRSTR_LEN])
{
    pthread_mutex_lock(&s_g.lock);
    sl_err rv = sl__proc_spawn(pid_out, argv, log_path, true, errbuf);
    if (rv == SL_OK) {
        s_register(*pid_out, argv[0]);
    }
    pthread_mutex_unlock(&s_g.lock);
    return rv;
}

sl_err
sl__bench_redis_start(const sl__redis_opts *opts, pid_t *pid_out,
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
sl__bench_signal(pid_t pid, int sig)
{
    pthread_mutex_lock(&s_g.lock);
    if (s_find(pid) != NULL) {
        kill(pid, sig);
    }
    pthread_mutex_unlock(&s_g.lock);
}

void
sl__bench_stop(pid_t *pid_p, int timeout_ms)
{
    pthread_mutex_lock(&s_g.lock);
    s_proc *p = s_find(*pid_p);
    if (p != NULL) {
        sl__proc_stop(p->pid, timeout_ms);
        s_watch_send(S_WATCH_FORGET, p->pid, NULL);
        p->pid = 0;
    }
    pthread_mutex_unlock(&s_g.lock);
    *pid_p = 0;
}

sl_err
sl__bench_wait(pid_t *pid_p, int *status_out)
{
    for (;;) {
        int status = 0;
        pthread_mutex_lock(&s_g.lock);
        s_proc *p = s_find(*pid_p);
        pid_t r = p != NULL ? waitpid(p->pid, &status, WNOHANG) : -1;
        if (r != 0) {
            if (p != NULL) {
                s_watch_send(S_WATCH_FORGET, p->pid, NULL);
                p->pid = 0;
            }
            pthread_mutex_unlock(&s_g.lock);
            *pid_p = 0;
            if (status_out != NULL) {
                *status_out = status;
            }
            return r > 0 ? SL_OK : SL_EINVAL;
        }
        pthread_mutex_unlock(&s_g.lock);
        usleep(2000);
    }
}

// ---------------------------------------------------------------------
// Directories.

sl_err
sl__bench_dir_new(char *buf, size_t len, const char *prefix)
{
    const char *tmp = getenv("TMPDIR");
    sl__fmt(buf, len, "%s/%s.XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp",
            prefix);
    if (strlen(buf) >= S_PATH_LEN || mkdtemp(buf) == NULL) {
        buf[0] = '\0';
        return SL_EIO;
    }
    pthread_mutex_lock(&s_g.lock);
    sl_err rv = SL_ELIMIT;
    for (int i = 0; i < S_MAX_DIRS; i++) {
        if (s_g.dirs[i][0] == '\0') {
            sl__strlcpy(s_g.dirs[i], buf, S_PATH_LEN);
            s_watch_send(S_WATCH_DIR, 0, buf);
            rv = SL_OK;
            break;
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
sl__bench_dir_remove(const char *dir)
{
    if (dir[0] == '\0') {
        return;
    }
    pthread_mutex_lock(&s_g.lock);
    for (int i = 0; i < S_MAX_DIRS; i++) {
        if (strcmp(s_g.dirs[i], dir) == 0) {
            s_rm_rf(s_g.dirs[i]);
            s_watch_send(S_WATCH_UNDIR, 0, s_g.dirs[i]);
            s_g.dirs[i][0] = '\0';
        }
    }
    pthread_mutex_unlock(&s_g.lock);
}
