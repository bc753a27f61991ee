// proc_test.c - starting and stopping processes by PID, ports, redis.
// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/proc.h"
#include "testutil.h"

static char s_dir[64];  // this run's temporary directory
static pid_t s_pids[8]; // started and maybe still running, for cleanup
static int s_n_pids;

static int
s_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void
s_cleanup(void)
{
    for (int i = 0; i < s_n_pids; i++) {
        sl__proc_stop(s_pids[i], 1000);
    }
    if (s_dir[0] != '\0') {
        nftw(s_dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
    }
}

static void
s_on_signal(int sig)
{
    for (int i = 0; i < s_n_pids; i++) {
        kill(s_pids[i], SIGKILL);
    }
    _exit(128 + sig);
}

static pid_t
s_spawn(char *const argv[], const char *log_path, bool detach)
{
    char errbuf[SL_ERRSTR_LEN];
    pid_t pid = 0;
    sl_err rv = sl__proc_spawn(&pid, argv, log_path, detach, errbuf);
    if (rv != SL_OK) {
        SL_FAIL_AT("spawn %s: %s: %s", argv[0], sl_strerror(rv), errbuf);
    }
    SL_ASSERT(pid > 0);
    s_pids[s_n_pids++] = pid;
    return pid;
}

static void
s_sleep_ms(int ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

// Whether path holds text, within 2 s.
static bool
s_file_has(const char *path, const char *text)
{
    for (int i = 0; i < 200; i++) {
        char buf[4096] = "";
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            size_t n = fread(buf, 1, sizeof(buf) - 1, f);
            buf[n] = '\0';
            fclose(f);
        }
        if (strstr(buf, text) != NULL) {
            return true;
        }
        s_sleep_ms(10);
    }
    return false;
}

static void
test_spawn_missing_program(void)
{
    char errbuf[SL_ERRSTR_LEN];
    pid_t pid = 0;
    char *path[] = {"/nonexistent/starling-nothing", NULL};
    SL_FAILS(sl__proc_spawn(&pid, path, NULL, false, errbuf), SL_EIO);
    SL_ASSERT_HAS(errbuf, "/nonexistent/starling-nothing");
    SL_ASSERT_HAS(errbuf, "No such file");
    SL_ASSERT_EQ(pid, 0);
    char *name[] = {"starling-no-such-program", NULL};
    SL_FAILS(sl__proc_spawn(&pid, name, NULL, true, errbuf), SL_EIO);
    SL_ASSERT_HAS(errbuf, "No such file");
    // The failed child was reaped: no zombie is left.
    SL_ASSERT(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD);

    char log_path[128];
    sl__fmt(log_path, sizeof(log_path), "%s/no/such/dir/log", s_dir);
    char *sh[] = {"/bin/true", NULL};
    SL_FAILS(sl__proc_spawn(&pid, sh, log_path, false, errbuf), SL_EIO);
    SL_ASSERT_HAS(errbuf, log_path);
    char *none[] = {NULL};
    SL_FAILS(sl__proc_spawn(&pid, none, NULL, false, errbuf), SL_EINVAL);
}

static void
test_spawn_log_detach(void)
{
    char log_path[128];
    sl__fmt(log_path, sizeof(log_path), "%s/child.log", s_dir);
    char *argv[] = {"/bin/sh", "-c",
                    "echo to-stdout; echo to-stderr >&2; exec sleep 30", NULL};
    pid_t pid = s_spawn(argv, log_path, true);
    SL_ASSERT(sl__proc_alive(pid));
    SL_ASSERT_EQ(getsid(pid), pid); // its own session
    SL_ASSERT(s_file_has(log_path, "to-stdout"));
    SL_ASSERT(s_file_has(log_path, "to-stderr"));
    // The shell wrote its lines; the exec of sleep may still be under way.
    for (int i = 0; i < 500 && !sl__proc_is(pid, "sleep"); i++) {
        usleep(10 * 1000);
    }
    SL_ASSERT(sl__proc_is(pid, "sleep"));
    SL_ASSERT(!sl__proc_is(pid, "leep")); // whole names only
    SL_ASSERT(!sl__proc_is(pid, "redis-server"));
    SL_PASS(sl__proc_stop(pid, 2000));
    SL_ASSERT(!sl__proc_alive(pid));
    SL_ASSERT(!sl__proc_is(pid, "sleep"));
    SL_PASS(sl__proc_stop(pid, 2000)); // already gone is fine
}

static void
test_stop_stubborn(void)
{
    // Ignored signals stay ignored across exec: this sleep ignores SIGTERM.
    char *argv[] = {"/bin/sh", "-c", "trap '' TERM; exec sleep 30", NULL};
    pid_t pid = s_spawn(argv, NULL, false);
    s_sleep_ms(100); // let the trap be set
    int64_t t0 = sl__mono_ms();
    SL_PASS(sl__proc_stop(pid, 300));
    int64_t took = sl__mono_ms() - t0;
    SL_ASSERT(took >= 300 && took < 3000);
    SL_ASSERT(!sl__proc_alive(pid));
}

static void
test_alive_reaps_zombies(void)
{
    char *argv[] = {"/bin/true", NULL};
    pid_t pid = s_spawn(argv, NULL, false);
    for (int i = 0; i < 200 && sl__proc_alive(pid); i++) {
        s_sleep_ms(10);
    }
    SL_ASSERT(!sl__proc_alive(pid));
    SL_ASSERT(waitpid(pid, NULL, WNOHANG) == -1 && errno == ECHILD);

    SL_ASSERT(sl__proc_alive(getpid()));
    SL_ASSERT(!sl__proc_alive(0));
    SL_ASSERT(!sl__proc_alive(-1));
    SL_FAILS(sl__proc_stop(0, 10), SL_EINVAL);
    SL_FAILS(sl__proc_stop(-1, 10), SL_EINVAL);
}

static void
test_ports(void)
{
    int port = sl__free_port();
    SL_ASSERT(port > 0 && port < 65536);
    SL_FAILS(sl__wait_port("127.0.0.1", port, 100), SL_ETIMEDOUT);

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t) port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    SL_ASSERT(bind(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0);
    SL_ASSERT(listen(fd, 1) == 0);
    SL_PASS(sl__wait_port("127.0.0.1", port, 1000));
    SL_PASS(sl__wait_port("localhost", port, 1000));
    close(fd);
    SL_FAILS(sl__wait_port("127.0.0.1", 0, 100), SL_EINVAL);
}

static void
test_random_hex(void)
{
    char a[33], b[33];
    sl__random_hex(a, 16);
    sl__random_hex(b, 16);
    SL_ASSERT_EQ(strlen(a), 32);
    for (int i = 0; i < 32; i++) {
        SL_ASSERT(isxdigit((unsigned char) a[i]) && !isupper(a[i]));
    }
    SL_ASSERT(strcmp(a, b) != 0);
    char big[1201];
    sl__random_hex(big, 600);
    SL_ASSERT_EQ(strlen(big), 1200);
}

static void
test_redis_start(void)
{
    char dir[128], errbuf[SL_ERRSTR_LEN], password[33];
    sl__fmt(dir, sizeof(dir), "%s/redis", s_dir);
    sl__random_hex(password, 16);
    sl__redis_opts opts = {dir, sl__free_port(), password, true, NULL};
    pid_t pid = 0;
    SL_PASS(sl__redis_start(&opts, &pid, errbuf));
    s_pids[s_n_pids++] = pid;
    SL_ASSERT(sl__proc_is(pid, "redis-server"));
    SL_ASSERT_EQ(getsid(pid), pid);
    SL_PASS(sl__wait_port("127.0.0.1", opts.port, 1000));

    struct stat st;
    char conf[160];
    sl__fmt(conf, sizeof(conf), "%s/redis.conf", dir);
    SL_ASSERT(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);
    SL_ASSERT(stat(conf, &st) == 0 && (st.st_mode & 0777) == 0600);
    SL_ASSERT(s_file_has(conf, "appendonly yes"));
    SL_ASSERT(s_file_has(conf, "bind 127.0.0.1\n"));

    // A second server on the same port cannot bind: it exits, and the
    // error quotes its log.
    pid_t other = 0;
    SL_FAILS(sl__redis_start(&opts, &other, errbuf), SL_EIO);
    SL_ASSERT_HAS(errbuf, "exited");
    SL_ASSERT_EQ(other, 0);

    SL_PASS(sl__proc_stop(pid, 5000));
    SL_ASSERT(!sl__proc_alive(pid));

    opts.redis_server = "/nonexistent/redis-server";
    SL_FAILS(sl__redis_start(&opts, &other, errbuf), SL_EIO);
    SL_ASSERT_HAS(errbuf, "No such file");
    opts.password = "";
    SL_FAILS(sl__redis_start(&opts, &other, errbuf), SL_EINVAL);
}

int
main(void)
{
    signal(SIGALRM, s_on_signal);
    signal(SIGTERM, s_on_signal);
    signal(SIGINT, s_on_signal);
    alarm(50);
    sl__strlcpy(s_dir, "/tmp/sl_proc_test.XXXXXX", sizeof(s_dir));
    SL_ASSERT(mkdtemp(s_dir) != NULL);
    atexit(s_cleanup);

    SL_RUN(test_spawn_missing_program);
    SL_RUN(test_spawn_log_detach);
    SL_RUN(test_stop_stubborn);
    SL_RUN(test_alive_reaps_zombies);
    SL_RUN(test_ports);
    SL_RUN(test_random_hex);
    SL_RUN(test_redis_start);
    return 0;
}
