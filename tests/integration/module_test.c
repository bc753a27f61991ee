// module_test.c - user kernel modules end to end, against real processes:
// a redis-server, a scheduler and workers on loopback, each worker with a
// cache directory of its own (as if on its own node), all started here in
// a temporary directory and stopped by PID.
//
// The modules are the builds of tests/modules/testmod.c (two versions, one
// without its symbol, one for another ABI): registered by the client, run
// on workers that have never seen them, found again in memory and on disk,
// and every way a module can fail, each as one task's error.
//
// A watchdog process, forked first, is told every process the test starts;
// if the test dies without stopping them (an AddressSanitizer report exits
// at once, skipping atexit), it SIGKILLs them and removes the directory.
// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <starling/starling.h>

#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "common/proc.h"
#include "common/sha256.h"
#include "testutil.h"

#define S_WORKERS 3
#define S_SLOTS 2
#define S_WAIT_MS 60000
#define S_MAX_WATCHED 64

static struct {
    char dir[64];             // the test's temporary directory
    char bin[512];            // where the programs are
    int redis_port;           // on 127.0.0.1
    char password[33];        // the store's
    char clients_ep[64];      // the scheduler's client endpoint
    char workers_ep[64];      // and its worker endpoint
    pid_t redis;              // 0 when not running
    pid_t scheduler;          // likewise
    pid_t workers[S_WORKERS]; // likewise
    pid_t watchdog;           // the watchdog, or 0
    int watch_fd;             // write end of its pipe, or -1
} s_cl = {.watch_fd = -1};

// One message to the watchdog: a process to kill if the test dies.
typedef struct {
    int32_t pid;   // 0: everything is stopped, exit quietly
    char name[28]; // the program it must still be running
} s_watch_msg;

static sl_client *s_client;
static sl_module s_v1, s_v2; // the two versions of testmod

// ---------------------------------------------------------------------
// The cluster.

static void
s_stop_all(void)
{
    for (int i = 0; i < S_WORKERS; i++) {
        if (s_cl.workers[i] > 0) {
            sl__proc_stop(s_cl.workers[i], 5000);
            s_cl.workers[i] = 0;
        }
    }
    if (s_cl.scheduler > 0) {
        sl__proc_stop(s_cl.scheduler, 5000);
        s_cl.scheduler = 0;
    }
    if (s_cl.redis > 0) {
        sl__proc_stop(s_cl.redis, 5000);
        s_cl.redis = 0;
    }
}

static int
s_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

// The watchdog's life: collect processes until the test says it stopped
// them (pid 0) or dies (end of file); then kill what still runs.
static void
s_watchdog_run(int fd)
{
    s_watch_msg list[S_MAX_WATCHED], m;
    int n = 0;
    while (read(fd, &m, sizeof(m)) == (ssize_t) sizeof(m)) {
        if (m.pid == 0) {
            return;
        }
        if (n < S_MAX_WATCHED) {
            list[n++] = m;
        }
    }
    for (int i = 0; i < n; i++) {
        if (sl__proc_alive(list[i].pid) &&
            sl__proc_is(list[i].pid, list[i].name)) {
            kill(list[i].pid, SIGKILL);
        }
    }
    nftw(s_cl.dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
}

// Fork the watchdog: before any thread, in a session of its own, deaf to
// the terminal's signals.
static void
s_watchdog_start(void)
{
    int fds[2];
    SL_ASSERT(pipe(fds) == 0);
    pid_t pid = fork();
    SL_ASSERT(pid >= 0);
    if (pid == 0) {
        close(fds[1]);
        setsid();
        signal(SIGINT, SIG_IGN);
        signal(SIGTERM, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        s_watchdog_run(fds[0]);
        _exit(0);
    }
    close(fds[0]);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    s_cl.watchdog = pid;
    s_cl.watch_fd = fds[1];
}

static void
s_watch(pid_t pid, const char *name)
{
    s_watch_msg m = {.pid = (int32_t) pid};
    sl__strlcpy(m.name, name, sizeof(m.name));
    SL_ASSERT(write(s_cl.watch_fd, &m, sizeof(m)) == (ssize_t) sizeof(m));
}

// Tell the watchdog all is stopped, and wait for it.
static void
s_watchdog_stop(void)
{
    s_watch_msg done = {0};
    if (s_cl.watch_fd < 0) {
        return;
    }
    if (write(s_cl.watch_fd, &done, sizeof(done)) < 0) {
        perror("module_test: watchdog"); // it cleans up after us then
    }
    close(s_cl.watch_fd);
    s_cl.watch_fd = -1;
    waitpid(s_cl.watchdog, NULL, 0);
}

static void
s_cleanup(void)
{
    s_stop_all();
    s_watchdog_stop();
    if (s_cl.dir[0] != '\0' && getenv("STARLING_KEEP_TEST_DIR") == NULL) {
        nftw(s_cl.dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
    }
}

static void
s_on_signal(int sig)
{
    // Async-signal-safe only: kill what we started, by PID.
    pid_t all[] = {s_cl.workers[0], s_cl.workers[1], s_cl.workers[2],
                   s_cl.scheduler, s_cl.redis};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (all[i] > 0) {
            kill(all[i], SIGKILL);
        }
    }
    _exit(128 + sig);
}

static pid_t
s_spawn(char *const argv[], const char *log_name)
{
    char log[256], errbuf[SL_ERRSTR_LEN];
    pid_t pid;
    sl__fmt(log, sizeof(log), "%s/%s.log", s_cl.dir, log_name);
    sl_err rv = sl__proc_spawn(&pid, argv, log, false, errbuf);
    if (rv != SL_OK) {
        SL_FAIL_AT("%s: %s", argv[0], errbuf);
    }
    const char *prog = strrchr(argv[0], '/');
    s_watch(pid, prog != NULL ? prog + 1 : argv[0]);
    return pid;
}

static void
s_start_redis(void)
{
    char dir[128], errbuf[SL_ERRSTR_LEN];
    sl__fmt(dir, sizeof(dir), "%s/redis", s_cl.dir);
    s_cl.redis_port = sl__free_port();
    sl__random_hex(s_cl.password, 16);
    sl__redis_opts opts = {dir, s_cl.redis_port, s_cl.password, false, NULL};
    if (sl__redis_start(&opts, &s_cl.redis, errbuf) != SL_OK) {
        SL_FAIL_AT("redis-server: %s", errbuf);
    }
    s_watch(s_cl.redis, "redis-server");
}

static void
s_start_scheduler(void)
{
    char prog[600], store[64], pwfile[128];
    sl__fmt(prog, sizeof(prog), "%s/starling-scheduler", s_cl.bin);
    sl__fmt(store, sizeof(store), "127.0.0.1:%d", s_cl.redis_port);
    sl__fmt(pwfile, sizeof(pwfile), "%s/password", s_cl.dir);
    FILE *f = fopen(pwfile, "w");
    SL_ASSERT(f != NULL);
    fprintf(f, "%s\n", s_cl.password);
    fclose(f);
    sl__fmt(s_cl.clients_ep, sizeof(s_cl.clients_ep), "tcp://127.0.0.1:%d",
            sl__free_port());
    sl__fmt(s_cl.workers_ep, sizeof(s_cl.workers_ep), "tcp://127.0.0.1:%d",
            sl__free_port());
    char *argv[] = {prog,
                    "--clients",
                    s_cl.clients_ep,
                    "--workers",
                    s_cl.workers_ep,
                    "--store",
                    store,
                    "--store-password-file",
                    pwfile,
                    "--heartbeat-ms",
                    "200",
                    NULL};
    s_cl.scheduler = s_spawn(argv, "scheduler");
}

// Worker i's cache directory: its "node's".
static const char *
s_cache_dir(int i)
{
    static char dirs[S_WORKERS][128];
    sl__fmt(dirs[i], sizeof(dirs[i]), "%s/node%d/cache", s_cl.dir, i);
    return dirs[i];
}

static void
s_start_worker(int i, const char *cache_dir)
{
    char prog[600], slots[8], name[16];
    sl__fmt(prog, sizeof(prog), "%s/starling-worker", s_cl.bin);
    sl__fmt(slots, sizeof(slots), "%d", S_SLOTS);
    sl__fmt(name, sizeof(name), "node%d", i);
    char *argv[] = {
        prog,     "--scheduler", s_cl.workers_ep,  "--slots",          slots,
        "--name", name,          "--module-cache", (char *) cache_dir, NULL};
    s_cl.workers[i] = s_spawn(argv, name);
}

static void
s_stop_worker(int i)
{
    SL_PASS(sl__proc_stop(s_cl.workers[i], 5000));
    s_cl.workers[i] = 0;
}

// Wait until the scheduler sees n workers.
static void
s_wait_workers(uint32_t n)
{
    sl_cluster_status st = {0};
    for (int i = 0; i < 300; i++) {
        SL_PASS(sl_cluster_status_get(s_client, &st));
        if (st.workers == n && st.slots == n * S_SLOTS) {
            return;
        }
        usleep(50 * 1000);
    }
    SL_FAIL_AT("want %u workers, the scheduler has %u", n, st.workers);
}

// A raw, authenticated connection to the store, to look behind the
// client's back.
static redisContext *
s_raw(void)
{
    redisContext *ctx = redisConnect("127.0.0.1", s_cl.redis_port);
    SL_ASSERT(ctx != NULL && ctx->err == 0);
    redisReply *r = redisCommand(ctx, "AUTH %s", s_cl.password);
    SL_ASSERT(r != NULL && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    return ctx;
}

static long long
s_raw_int(const char *cmd, const char *key)
{
    redisContext *ctx = s_raw();
    redisReply *r = redisCommand(ctx, "%s %s", cmd, key);
    SL_ASSERT(r != NULL && r->type == REDIS_REPLY_INTEGER);
    long long v = r->integer;
    freeReplyObject(r);
    redisFree(ctx);
    return v;
}

// Store len bytes under the module key of name, behind the client's back.
static void
s_raw_module(const char *name, const void *bytes, size_t len)
{
    redisContext *ctx = s_raw();
    redisReply *r = redisCommand(ctx, "SET sl:m%s %b", name, bytes, len);
    SL_ASSERT(r != NULL && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    redisFree(ctx);
}

static void
s_write_file(const char *path, const void *bytes, size_t len)
{
    FILE *f = fopen(path, "wb");
    SL_ASSERT(f != NULL && fwrite(bytes, 1, len, f) == len);
    fclose(f);
}

// ---------------------------------------------------------------------
// Jobs.

static sl_value *
s_arg(const char *k, sl_value *v)
{
    sl_value *m = sl_value_new_map();
    SL_PASS(sl_value_map_set(m, k, &v));
    return m;
}

// Map kernel of mod over n tasks of arg (NULL: none); wait.
static sl_job
s_run(const sl_module *mod, const char *kernel, size_t n, const sl_value *arg)
{
    char fn[SL_FUNCTION_MAX];
    SL_PASS(sl_module_function(mod, kernel, fn, sizeof(fn)));
    sl_value **args = calloc(n, sizeof(*args));
    for (size_t i = 0; i < n; i++) {
        args[i] = (sl_value *) arg;
    }
    sl_job job;
    SL_PASS(sl_map(s_client, fn, args, n, NULL, &job));
    free(args);
    SL_PASS(sl_wait(s_client, &job, 1, SL_ALL_COMPLETED, S_WAIT_MS));
    return job;
}

static int64_t
s_int_result(sl_job job, size_t i)
{
    const sl_value *v;
    sl_err rv = sl_job_value(s_client, job, i, &v);
    if (rv != SL_OK) {
        SL_FAIL_AT("task %zu: %s: %s", i, sl_strerror(rv),
                   sl_job_result(s_client, job, i)->error);
    }
    return sl_value_int(v);
}

// Every task of the job returned want.
static void
s_assert_all(sl_job job, int64_t want)
{
    for (size_t i = 0; i < sl_job_size(s_client, job); i++) {
        SL_ASSERT_EQ(s_int_result(job, i), want);
    }
}

// The one task of a job of mod's kernel failed, saying want.
static void
s_assert_fails(const sl_module *mod, const char *kernel, const sl_value *arg,
               const char *want)
{
    sl_job job = s_run(mod, kernel, 1, arg);
    const sl_result *r = sl_job_result(s_client, job, 0);
    SL_ASSERT_EQ(r->status, SL_TASK_ERROR);
    SL_ASSERT_HAS(r->error, want);
    fprintf(stderr, "   %s/%s: %s\n", mod->name, kernel, r->error);
    sl_job_release(s_client, job);
}

static bool
s_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static void
s_module_path(char *buf, size_t size, int worker, const sl_module *mod)
{
    sl__fmt(buf, size, "%s/%s.so", s_cache_dir(worker), mod->hash);
}

// ---------------------------------------------------------------------
// Tests.

// Registration hashes the file and uploads it once.
static void
test_register(void)
{
    char key[96], want[SL_SHA256_HEX_LEN + 1];
    SL_PASS(sl_module_register(s_client, TESTMOD_V1, &s_v1));
    SL_ASSERT(s_v1.uploaded);
    SL_ASSERT_STR(s_v1.name, "testmod_v1");
    SL_ASSERT(s_v1.size > 1000);
    FILE *f = fopen(TESTMOD_V1, "rb");
    uint8_t *bytes = malloc(s_v1.size);
    SL_ASSERT(f != NULL && fread(bytes, 1, s_v1.size, f) == s_v1.size);
    fclose(f);
    sl__sha256_hex(bytes, s_v1.size, want);
    free(bytes);
    SL_ASSERT_STR(s_v1.hash, want);
    sl__fmt(key, sizeof(key), "sl:m%s", s_v1.hash);
    long long ttl = s_raw_int("TTL", key);
    SL_ASSERT(ttl > 29 * 24 * 3600 && ttl <= 30 * 24 * 3600);

    // The same bytes again: nothing uploaded, the TTL renewed.
    redisContext *ctx = s_raw();
    freeReplyObject(redisCommand(ctx, "EXPIRE %s 60", key));
    redisFree(ctx);
    sl_module again;
    SL_PASS(sl_module_register(s_client, TESTMOD_V1, &again));
    SL_ASSERT(!again.uploaded);
    SL_ASSERT_STR(again.hash, s_v1.hash);
    SL_ASSERT(s_raw_int("TTL", key) > 29 * 24 * 3600);

    SL_PASS(sl_module_register(s_client, TESTMOD_V2, &s_v2));
    SL_ASSERT(s_v2.uploaded);
    SL_ASSERT(strcmp(s_v1.hash, s_v2.hash) != 0);

    char fn[SL_FUNCTION_MAX];
    SL_PASS(sl_module_function(&s_v1, "version", fn, sizeof(fn)));
    SL_ASSERT_EQ(strlen(fn), SL_SHA256_HEX_LEN + 8);
    SL_ASSERT(strncmp(fn, s_v1.hash, SL_SHA256_HEX_LEN) == 0);
    SL_ASSERT_STR(fn + SL_SHA256_HEX_LEN, "/version");
    SL_FAILS(sl_module_function(&s_v1, "a/b", fn, sizeof(fn)), SL_EINVAL);
    SL_FAILS(sl_module_function(&s_v1, "", fn, sizeof(fn)), SL_EINVAL);
    SL_FAILS(sl_module_function(&s_v1, "version", fn, 20), SL_EINVAL);

    // What the client can tell at once: no file, not ELF.
    sl_module m;
    SL_FAILS(sl_module_register(s_client, "/nonexistent/libx.so", &m),
             SL_EINVAL);
    char text[128];
    sl__fmt(text, sizeof(text), "%s/notes.txt", s_cl.dir);
    s_write_file(text, "these are not instructions", 26);
    SL_FAILS(sl_module_register(s_client, text, &m), SL_EINVAL);
    SL_ASSERT_HAS(sl_client_errstr(s_client), "no ELF header");
}

// Workers that have never seen the module fetch, verify, cache and load
// it; a module's kernels run with arguments and results of every kind.
static void
test_fresh_workers(void)
{
    for (int i = 0; i < S_WORKERS; i++) {
        char path[256];
        s_module_path(path, sizeof(path), i, &s_v1);
        SL_ASSERT(!s_exists(path));
    }
    // Tasks that take a while, so that every worker gets some.
    enum { N = 24 };
    sl_value *nap = s_arg("ms", sl_value_new_int(60));
    sl_job job = s_run(&s_v1, "version", N, nap);
    s_assert_all(job, 1);
    sl_job_stats st;
    SL_PASS(sl_job_stats_get(s_client, job, &st));
    SL_ASSERT_EQ(st.ok, N);
    fprintf(stderr,
            "   %d tasks of a new module on %d fresh workers: %.0f ms\n", N,
            S_WORKERS, st.wall_s * 1e3);
    sl_job_release(s_client, job);
    sl_value_destroy(&nap);

    for (int i = 0; i < S_WORKERS; i++) {
        char path[256];
        struct stat sb;
        s_module_path(path, sizeof(path), i, &s_v1);
        SL_ASSERT(stat(path, &sb) == 0);
        SL_ASSERT_EQ(sb.st_mode & 0777, 0600);
        SL_ASSERT(stat(s_cache_dir(i), &sb) == 0);
        SL_ASSERT_EQ(sb.st_mode & 0777, 0700);
    }

    // Arguments are checked, floats and ndarrays come back.
    sl_value *arg = s_arg("x", sl_value_new_float(2.5));
    sl_value *factor = sl_value_new_int(4);
    SL_PASS(sl_value_map_set(arg, "factor", &factor));
    job = s_run(&s_v1, "scale", 1, arg);
    const sl_value *v;
    SL_PASS(sl_job_value(s_client, job, 0, &v));
    SL_ASSERT_NEAR(sl_value_float(v), 10.0, 1e-12);
    SL_ASSERT_NEAR(sl_job_result(s_client, job, 0)->flops, 2, 1e-9);
    sl_job_release(s_client, job);
    sl_value_destroy(&arg);

    int64_t shape[1] = {10000};
    sl_value *a = sl_value_new_ndarray(SL_F64, 1, shape, NULL);
    double *x = sl_ndarray_data(a);
    for (int i = 0; i < 10000; i++) {
        x[i] = i;
    }
    arg = s_arg("a", a); // 80 KB: it travels through the store
    job = s_run(&s_v1, "vsum", 1, arg);
    SL_PASS(sl_job_value(s_client, job, 0, &v));
    SL_ASSERT_NEAR(((const double *) sl_ndarray_cdata(v))[0], 49995000.0, 0);
    sl_job_release(s_client, job);
    sl_value_destroy(&arg);
}

// With the module gone from the store, a second job still runs on every
// worker (in memory), and a restarted worker finds it on its disk.
static void
test_cache_hits(void)
{
    char key[96];
    sl__fmt(key, sizeof(key), "sl:m%s", s_v1.hash);
    SL_ASSERT_EQ(s_raw_int("DEL", key), 1);
    sl_value *nap = s_arg("ms", sl_value_new_int(30));
    sl_job job = s_run(&s_v1, "version", 24, nap);
    s_assert_all(job, 1);
    sl_job_release(s_client, job);

    for (int i = 0; i < S_WORKERS; i++) {
        s_stop_worker(i);
    }
    s_wait_workers(0);
    s_start_worker(0, s_cache_dir(0));
    s_wait_workers(1);
    job = s_run(&s_v1, "version", 8, nap);
    s_assert_all(job, 1);
    sl_job_release(s_client, job);
    sl_value_destroy(&nap);

    // A worker on a new node (an empty cache) cannot find it any more;
    // registering again uploads it, and then it runs there too.
    char empty[128];
    sl__fmt(empty, sizeof(empty), "%s/node9/cache", s_cl.dir);
    s_stop_worker(0);
    s_start_worker(0, empty);
    s_wait_workers(1);
    job = s_run(&s_v1, "version", 1, NULL);
    SL_ASSERT_HAS(sl_job_result(s_client, job, 0)->error, "not in the store");
    sl_job_release(s_client, job);
    sl_module again;
    SL_PASS(sl_module_register(s_client, TESTMOD_V1, &again));
    SL_ASSERT(again.uploaded);
    job = s_run(&s_v1, "version", 1, NULL);
    s_assert_all(job, 1);
    sl_job_release(s_client, job);
    for (int i = 1; i < S_WORKERS; i++) {
        s_start_worker(i, s_cache_dir(i));
    }
    s_wait_workers(S_WORKERS);
}

// Every way a module can fail is one task's error; the workers live on.
static void
test_errors(void)
{
    char name[SL_SHA256_HEX_LEN + 1];
    sl_module m = {.name = "raw"};

    // Never registered.
    sl__sha256_hex("never registered", 16, m.hash);
    s_assert_fails(&m, "version", NULL, "not in the store");

    // Bytes that do not hash to their name.
    FILE *f = fopen(TESTMOD_V2, "rb");
    uint8_t *bytes = malloc(s_v2.size);
    SL_ASSERT(f != NULL && fread(bytes, 1, s_v2.size, f) == s_v2.size);
    fclose(f);
    sl__sha256_hex("a name for other bytes", 22, name);
    s_raw_module(name, bytes, s_v2.size);
    sl__strlcpy(m.hash, name, sizeof(m.hash));
    s_assert_fails(&m, "version", NULL, "hashes to");
    free(bytes);

    // Not a shared object: text, then ELF in its first bytes only.
    static const char text[] = "#!/bin/sh\necho not a module\n";
    sl__sha256_hex(text, sizeof(text) - 1, m.hash);
    s_raw_module(m.hash, text, sizeof(text) - 1);
    s_assert_fails(&m, "version", NULL, "no ELF header");
    char path[128];
    sl__fmt(path, sizeof(path), "%s/libfake.so", s_cl.dir);
    static const char fake[] = "\x7f"
                               "ELF, or so it says";
    s_write_file(path, fake, sizeof(fake) - 1);
    SL_PASS(sl_module_register(s_client, path, &m));
    s_assert_fails(&m, "version", NULL, "not a loadable shared object");

    // No registration symbol; another ABI.
    SL_PASS(sl_module_register(s_client, TESTMOD_NOSYM, &m));
    s_assert_fails(&m, "version", NULL, "\"starling_module\"");
    SL_PASS(sl_module_register(s_client, TESTMOD_ABI99, &m));
    s_assert_fails(&m, "version", NULL, "kernel ABI 99");

    // No such kernel; an argument that fails the signature; a kernel
    // that fails.
    s_assert_fails(&s_v1, "nope", NULL, "no kernel 'nope'");
    sl_value *arg = s_arg("x", sl_value_new_str("three"));
    s_assert_fails(&s_v1, "scale", arg, "argument 'x': expected float");
    sl_value_destroy(&arg);
    arg = s_arg("factor", sl_value_new_float(3));
    s_assert_fails(&s_v2, "scale", arg, "missing argument 'x'");
    sl_value_destroy(&arg);
    s_assert_fails(&s_v2, "fail", NULL, "testmod v2 failed on purpose");

    // A short name the client does not know is the client's error.
    sl_job job;
    SL_FAILS(sl_call_async(s_client, "nosuch/version", NULL, NULL, &job),
             SL_ENOTFOUND);
    SL_ASSERT_HAS(sl_client_errstr(s_client), "unknown module 'nosuch'");

    // Every worker is still there, and still runs modules.
    for (int i = 0; i < S_WORKERS; i++) {
        SL_ASSERT(sl__proc_alive(s_cl.workers[i]));
    }
    s_wait_workers(S_WORKERS);
    job = s_run(&s_v2, "version", 12, NULL);
    s_assert_all(job, 2);
    sl_job_release(s_client, job);
}

// Two versions of one module, with the same kernel names, in two jobs at
// once: each job gets its own version's results. One job names its module
// by the short name, the other by hash.
static void
test_two_versions_at_once(void)
{
    enum { N = 200 };
    sl_value *nap = s_arg("ms", sl_value_new_int(2));
    sl_value *args[N];
    for (int i = 0; i < N; i++) {
        args[i] = nap;
    }
    char fn2[SL_FUNCTION_MAX];
    SL_PASS(sl_module_function(&s_v2, "version", fn2, sizeof(fn2)));
    sl_job jobs[2];
    SL_PASS(sl_map(s_client, "testmod_v1/version", args, N, NULL, &jobs[0]));
    SL_PASS(sl_map(s_client, fn2, args, N, NULL, &jobs[1]));
    SL_PASS(sl_wait(s_client, jobs, 2, SL_ALL_COMPLETED, S_WAIT_MS));
    s_assert_all(jobs[0], 1);
    s_assert_all(jobs[1], 2);
    // They did overlap: job 1 began before job 0 had ended.
    double start1 = 1e300, end0 = 0;
    for (int i = 0; i < N; i++) {
        const sl_result *r0 = sl_job_result(s_client, jobs[0], (size_t) i);
        const sl_result *r1 = sl_job_result(s_client, jobs[1], (size_t) i);
        end0 = r0->end_s > end0 ? r0->end_s : end0;
        start1 = r1->start_s < start1 ? r1->start_s : start1;
    }
    SL_ASSERT(start1 < end0);
    sl_job_release(s_client, jobs[0]);
    sl_job_release(s_client, jobs[1]);
    sl_value_destroy(&nap);
}

// The example module, through its example program and directly.
static void
test_example_module(void)
{
    char cmd[1024];
    setenv("STARLING_SCHEDULER", s_cl.clients_ep, 1);
    sl__fmt(cmd, sizeof(cmd), "%s %s 6 >&2", EXAMPLE_MODULE_MAP,
            EXAMPLE_SIM_MODULE);
    SL_ASSERT_EQ(system(cmd), 0);

    sl_module sim;
    SL_PASS(sl_module_register(s_client, EXAMPLE_SIM_MODULE, &sim));
    SL_ASSERT(!sim.uploaded); // the program registered it
    SL_ASSERT_STR(sim.name, "sim");
    sl_value *arg = s_arg("samples", sl_value_new_int(400000));
    sl_job job = s_run(&sim, "pi", 4, arg);
    for (size_t i = 0; i < 4; i++) {
        double pi = 4.0 * (double) s_int_result(job, i) / 400000;
        SL_ASSERT_NEAR(pi, 3.14159, 0.02);
    }
    sl_job_release(s_client, job);
    sl_value_destroy(&arg);
}

int
main(void)
{
    const char *bin = getenv("STARLING_BIN_DIR");
    SL_ASSERT(bin != NULL);
    sl__strlcpy(s_cl.bin, bin, sizeof(s_cl.bin));
    sl__strlcpy(s_cl.dir, "/tmp/sl_module_test.XXXXXX", sizeof(s_cl.dir));
    SL_ASSERT(mkdtemp(s_cl.dir) != NULL);
    s_watchdog_start();
    atexit(s_cleanup);
    signal(SIGALRM, s_on_signal);
    signal(SIGTERM, s_on_signal);
    signal(SIGINT, s_on_signal);
    alarm(280); // before ctest's limit, so that every process is stopped
    sl__log_init("module_test");

    s_start_redis();
    s_start_scheduler();
    for (int i = 0; i < S_WORKERS; i++) {
        s_start_worker(i, s_cache_dir(i));
    }
    SL_PASS(sl_client_connect(&s_client, s_cl.clients_ep));
    s_wait_workers(S_WORKERS);
    SL_RUN(test_register);
    SL_RUN(test_fresh_workers);
    SL_RUN(test_cache_hits);
    SL_RUN(test_errors);
    SL_RUN(test_two_versions_at_once);
    SL_RUN(test_example_module);
    sl_client_destroy(&s_client);
    return 0;
}
