// cluster_env.c - read the record of a local cluster, home/cluster.env.
// SPDX-License-Identifier: MIT
//
// Part of libstarling: a client given no endpoint connects to the local
// cluster's scheduler with the keys this record names. Nothing here starts
// or stops a process; that is the launcher's (client/launch/).
#include "cluster_env.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_PATH_LEN 1024

void
sl__cluster_home(const char *home, char *buf, size_t len)
{
    const char *env = getenv("STARLING_HOME");
    const char *user = getenv("HOME");
    if (home != NULL && home[0] != '\0') {
        sl__strlcpy(buf, home, len);
    } else if (env != NULL && env[0] != '\0') {
        sl__strlcpy(buf, env, len);
    } else if (user != NULL && user[0] != '\0') {
        sl__fmt(buf, len, "%s/.starling", user);
    } else {
        sl__fmt(buf, len, "/tmp/starling-%d/.starling", (int) getuid());
    }
}

static pid_t
s_parse_pid(const char *s, char **end)
{
    long v = strtol(s, end, 10);
    return v > 0 && v <= INT_MAX ? (pid_t) v : 0;
}

static sl_err
s_parse_pids(const char *s, sl__cluster_info *info)
{
    char *end = (char *) s;
    info->n_workers = 0;
    while (*s != '\0') {
        pid_t pid = s_parse_pid(s, &end);
        if (pid == 0 || info->n_workers == SL_CLUSTER_MAX_WORKERS ||
            (*end != ',' && *end != '\0')) {
            return SL_EIO;
        }
        info->worker_pids[info->n_workers++] = pid;
        s = *end == ',' ? end + 1 : end;
    }
    return SL_OK;
}

// Apply one "key=value" line of the settings to st. False for a key that
// is not one of them.
static bool
s_parse_setting(const char *key, const char *value, sl__cluster_settings *st)
{
    if (strcmp(key, "aof") == 0) {
        st->aof = strcmp(value, "no") != 0;
    } else if (strcmp(key, "executor") == 0) {
        sl__strlcpy(st->executor, value, sizeof(st->executor));
    } else if (strcmp(key, "cache_mb") == 0) {
        st->cache_mb = atoi(value);
    } else if (strcmp(key, "prefetch") == 0) {
        st->prefetch = atoi(value);
    } else if (strcmp(key, "tier_budget_mb") == 0) {
        st->tier_budget_mb = atoi(value);
    } else if (strcmp(key, "module_allow") == 0) {
        sl__strlcpy(st->module_allow, value, sizeof(st->module_allow));
    } else if (strcmp(key, "module_cache") == 0) {
        sl__strlcpy(st->module_cache, value, sizeof(st->module_cache));
    } else if (strcmp(key, "max_message") == 0) {
        st->max_message = strtoull(value, NULL, 10);
    } else if (strcmp(key, "max_client_jobs") == 0) {
        st->max_client_jobs = (uint32_t) strtoul(value, NULL, 10);
    } else if (strcmp(key, "client_grace_ms") == 0) {
        st->client_grace_ms = atoi(value);
    } else if (strcmp(key, "send_hwm") == 0) {
        st->send_hwm = atoi(value);
    } else {
        return false;
    }
    return true;
}

// Apply one "key=value" line to info. Unknown keys are ignored, so that a
// newer `up` may record more.
static sl_err
s_parse_line(char *line, sl__cluster_info *info)
{
    char *end = NULL;
    char *eq = strchr(line, '=');
    if (eq == NULL) {
        return line[0] == '\0' || line[0] == '#' ? SL_OK : SL_EIO;
    }
    *eq = '\0';
    const char *key = line;
    const char *value = eq + 1;
    if (strcmp(key, "scheduler") == 0) {
        sl__strlcpy(info->scheduler, value, sizeof(info->scheduler));
    } else if (strcmp(key, "workers") == 0) {
        sl__strlcpy(info->workers_endpoint, value,
                    sizeof(info->workers_endpoint));
    } else if (strcmp(key, "redis") == 0) {
        sl__strlcpy(info->redis, value, sizeof(info->redis));
    } else if (strcmp(key, "dashboard") == 0) {
        sl__strlcpy(info->dashboard, value, sizeof(info->dashboard));
    } else if (strcmp(key, "redis_pid") == 0) {
        info->redis_pid = s_parse_pid(value, &end);
    } else if (strcmp(key, "scheduler_pid") == 0) {
        info->scheduler_pid = s_parse_pid(value, &end);
    } else if (strcmp(key, "worker_pids") == 0) {
        return s_parse_pids(value, info);
    } else if (strcmp(key, "slots") == 0) {
        info->slots = atoi(value);
    } else if (strcmp(key, "client_cert") == 0) {
        sl__strlcpy(info->client_cert, value, sizeof(info->client_cert));
    } else if (strcmp(key, "server_cert") == 0) {
        sl__strlcpy(info->server_cert, value, sizeof(info->server_cert));
    } else {
        s_parse_setting(key, value, &info->settings);
    }
    return SL_OK;
}

sl_err
sl__cluster_read(const char *home, sl__cluster_info *info)
{
    char path[S_PATH_LEN];
    char *line = NULL;
    size_t cap = 0;
    sl_err rv = SL_OK;
    char dir[sizeof(info->home)];
    sl__cluster_home(home, dir, sizeof(dir)); // home may be info->home.
    memset(info, 0, sizeof(*info));
    sl__strlcpy(info->home, dir, sizeof(info->home));
    info->settings.aof = true; // up's default, for a record without it
    sl__fmt(path, sizeof(path), "%s/cluster.env", info->home);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return errno == ENOENT ? SL_ENOTFOUND : SL_EIO;
    }
    while (rv == SL_OK && getline(&line, &cap, f) >= 0) {
        line[strcspn(line, "\r\n")] = '\0';
        rv = s_parse_line(line, info);
    }
    free(line);
    fclose(f);
    if (rv == SL_OK &&
        (info->scheduler[0] == '\0' || info->scheduler_pid == 0)) {
        rv = SL_EIO;
    }
    return rv;
}
