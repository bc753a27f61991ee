// measure.c - percentiles of samples, and CPU time and resident memory of
// a process from /proc.
// SPDX-License-Identifier: MIT
#include "measure.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static int
s_cmp(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

void
sl__bench_sort(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), s_cmp);
}

double
sl__bench_percentile(const double *v, size_t n, double p)
{
    if (n == 0) {
        return 0;
    }
    size_t rank = (size_t) ceil(p / 100.0 * (double) n);
    rank = rank < 1 ? 1 : rank > n ? n : rank;
    return v[rank - 1];
}

// CPU seconds from /proc/<pid>/stat: utime + stime, in clock ticks.
static double
s_cpu_from_stat(pid_t pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    size_t n = fread(line, 1, sizeof(line) - 1, f);
    fclose(f);
    line[n] = '\0';
    // "pid (comm) state ppid ...": comm may hold spaces, so count fields
    // from the last ')'. utime and stime are fields 14 and 15, that is
    // the 11th and 12th after the state (field 3).
    const char *p = strrchr(line, ')');
    unsigned long utime, stime;
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
               &utime, &stime) != 2) {
        return -1;
    }
    return (double) (utime + stime) / (double) sysconf(_SC_CLK_TCK);
}

// CPU seconds from /proc/<pid>/task/*/schedstat: nanoseconds on a CPU,
// summed over the threads that run now.
static double
s_cpu_from_schedstat(pid_t pid)
{
    char dir[64], path[128];
    snprintf(dir, sizeof(dir), "/proc/%d/task", (int) pid);
    DIR *d = opendir(dir);
    if (d == NULL) {
        return -1;
    }
    unsigned long long sum = 0;
    int threads = 0;
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        unsigned long long ns;
        if (e->d_name[0] == '.') {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%.32s/schedstat", dir, e->d_name);
        FILE *f = fopen(path, "r");
        if (f != NULL && fscanf(f, "%llu", &ns) == 1) {
            sum += ns;
            threads++;
        }
        if (f != NULL) {
            fclose(f);
        }
    }
    closedir(d);
    return threads > 0 ? (double) sum * 1e-9 : -1;
}

double
sl__bench_cpu_s(pid_t pid)
{
    double s = s_cpu_from_schedstat(pid);
    return s >= 0 ? s : s_cpu_from_stat(pid);
}

// The value in kB of the line "field: N kB" of path, or -1.
static int64_t
s_kib_field(const char *path, const char *field)
{
    char line[256];
    size_t len = strlen(field);
    long long kib = -1;
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, field, len) == 0 && line[len] == ':' &&
            sscanf(line + len + 1, "%lld", &kib) == 1) {
            break;
        }
    }
    fclose(f);
    return kib < 0 ? -1 : (int64_t) kib * 1024;
}

// Children counted, at most.
#define S_TREE_MAX 4096

double
sl__bench_tree_cpu_s(pid_t pid)
{
    double sum = sl__bench_cpu_s(pid);
    if (sum < 0) {
        return sum;
    }
    pid_t *kids = malloc(S_TREE_MAX * sizeof(*kids));
    size_t n = kids != NULL ? sl__bench_children(pid, kids, S_TREE_MAX) : 0;
    for (size_t i = 0; i < n && i < S_TREE_MAX; i++) {
        double s = sl__bench_cpu_s(kids[i]);
        sum += s > 0 ? s : 0;
    }
    free(kids);
    return sum;
}

int64_t
sl__bench_rss(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
    return s_kib_field(path, "VmRSS");
}

void
sl__bench_mem_get(pid_t pid, sl__bench_mem *out)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
    out->rss_anon = s_kib_field(path, "RssAnon");
    snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int) pid);
    out->pss = s_kib_field(path, "Pss");
}

size_t
sl__bench_children(pid_t pid, pid_t *out, size_t max)
{
    char path[64];
    size_t n = 0;
    snprintf(path, sizeof(path), "/proc/%d/task", (int) pid);
    DIR *d = opendir(path);
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        char children[300];
        int child;
        if (e->d_name[0] == '.') {
            continue;
        }
        snprintf(children, sizeof(children), "/proc/%d/task/%s/children",
                 (int) pid, e->d_name);
        FILE *f = fopen(children, "r");
        while (f != NULL && fscanf(f, "%d", &child) == 1) {
            if (n < max) {
                out[n] = (pid_t) child;
            }
            n++;
        }
        if (f != NULL) {
            fclose(f);
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    return n;
}

double
sl__bench_machine_busy_s(void)
{
    unsigned long long user, nice, sys, idle, iowait, irq, softirq, steal;
    FILE *f = fopen("/proc/stat", "r");
    int got =
        f != NULL
            ? fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user,
                     &nice, &sys, &idle, &iowait, &irq, &softirq, &steal)
            : 0;
    if (f != NULL) {
        fclose(f);
    }
    if (got != 8) {
        return -1;
    }
    return (double) (user + nice + sys + irq + softirq + steal) /
           (double) sysconf(_SC_CLK_TCK);
}

static double
s_rusage_s(int who)
{
    struct rusage ru;
    if (getrusage(who, &ru) != 0) {
        return 0;
    }
    return (double) ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
           (double) ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

double
sl__bench_own_cpu_s(void)
{
    return s_rusage_s(RUSAGE_SELF) + s_rusage_s(RUSAGE_CHILDREN);
}

double
sl__bench_load(void)
{
    double load = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f != NULL) {
        if (fscanf(f, "%lf", &load) != 1) {
            load = -1;
        }
        fclose(f);
    }
    return load;
}
