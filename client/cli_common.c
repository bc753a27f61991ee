// cli_common.c - what the `starling` subcommands share: parsing numbers
// and options, usage errors, JSON numbers and durations, and finding and
// reaching the scheduler.
// SPDX-License-Identifier: MIT
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/proc.h"
#include "cli.h"
#include "cluster_env.h"

// ---------------------------------------------------------------------
// Small helpers.

int
sl__cli_getopt(int argc, char **argv, const struct option *longopts)
{
    opterr = 0;
    int c = getopt_long(argc, argv, "h", longopts, NULL);
    if (c == '?' || c == ':') {
        fprintf(stderr, "starling %s: bad option or missing value: %s\n",
                argv[0], argv[optind - 1]);
        return '?';
    }
    return c;
}

int
sl__cli_usage_error(const sl__cli_command *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "starling %s: ", cmd->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n\n%s", cmd->usage);
    return SL_CLI_USAGE;
}

const char *
sl__cli_json_num(double v, char *buf, size_t len)
{
    if (!isfinite(v)) {
        return "null";
    }
    sl__fmt(buf, len, "%.15g", v);
    return buf;
}

const char *
sl__cli_duration(double s, char *buf, size_t len)
{
    long t = (long) s;
    if (s < 60) {
        sl__fmt(buf, len, "%.1fs", s);
    } else if (t < 3600) {
        sl__fmt(buf, len, "%ldm%02lds", t / 60, t % 60);
    } else if (t < 86400) {
        sl__fmt(buf, len, "%ldh%02ldm", t / 3600, t % 3600 / 60);
    } else {
        sl__fmt(buf, len, "%ldd%02ldh", t / 86400, t % 86400 / 3600);
    }
    return buf;
}

bool
sl__cli_target_opt(int c, sl__cli_target *t)
{
    if (c == 'H') {
        t->home = optarg;
    } else if (c == 'S') {
        t->scheduler = optarg;
    } else {
        return false;
    }
    return true;
}

// ---------------------------------------------------------------------
// Finding and reaching the scheduler.

// Where to connect, and with which keys.
typedef struct {
    char endpoint[256];    // the scheduler's client endpoint
    bool keys_given;       // keys below are the ones to use
    char client_cert[512]; // "": no CURVE
    char server_cert[512];
} s_dest;

// The endpoint and keys of the local cluster under home (NULL: the default
// home).
static bool
s_local_dest(const char *home, s_dest *d)
{
    sl__cluster_info *info = calloc(1, sizeof(*info));
    bool ok = false;
    if (info == NULL) {
        fprintf(stderr, "starling: out of memory\n");
        return false;
    }
    sl_err rv = sl__cluster_read(home, info);
    if (rv == SL_ENOTFOUND) {
        fprintf(stderr,
                "starling: no local cluster under %s: run `starling up`, "
                "or give --scheduler EP (or set STARLING_SCHEDULER)\n",
                info->home);
    } else if (rv != SL_OK) {
        fprintf(stderr, "starling: cannot read %s/cluster.env: %s\n",
                info->home, sl_strerror(rv));
    } else if (!sl__proc_alive(info->scheduler_pid)) {
        fprintf(stderr,
                "starling: the scheduler of the local cluster under %s "
                "(pid %d) is not running: `starling up` starts it again\n",
                info->home, (int) info->scheduler_pid);
    } else {
        sl__strlcpy(d->endpoint, info->scheduler, sizeof(d->endpoint));
        sl__strlcpy(d->client_cert, info->client_cert, sizeof(d->client_cert));
        sl__strlcpy(d->server_cert, info->server_cert, sizeof(d->server_cert));
        d->keys_given = true;
        ok = true;
    }
    free(info);
    return ok;
}

bool
sl__cli_target_local(const sl__cli_target *t)
{
    const char *env = getenv("STARLING_SCHEDULER");
    return t->scheduler == NULL &&
           (t->home != NULL || env == NULL || env[0] == '\0');
}

// Where to connect: --scheduler, else --home's cluster, else
// $STARLING_SCHEDULER, else the default home's cluster. A scheduler named
// by endpoint gets the keys that libstarling finds (the environment's, or
// the local cluster's when it is that one); a cluster's, its own.
static bool
s_dest_find(const sl__cli_target *t, s_dest *d)
{
    const char *env = getenv("STARLING_SCHEDULER");
    memset(d, 0, sizeof(*d));
    if (sl__cli_target_local(t)) {
        return s_local_dest(t->home, d);
    }
    sl__strlcpy(d->endpoint, t->scheduler != NULL ? t->scheduler : env,
                sizeof(d->endpoint));
    return true;
}

sl_client *
sl__cli_connect(const sl__cli_target *t, const char *cmd)
{
    s_dest d;
    sl_client *c = NULL;
    if (!s_dest_find(t, &d)) {
        return NULL;
    }
    sl_client_keys keys = {NULL, NULL};
    if (d.client_cert[0] != '\0') {
        keys.client_cert = d.client_cert;
        keys.server_cert = d.server_cert;
    }
    sl_err rv =
        sl_client_connect_keys(&c, d.endpoint, d.keys_given ? &keys : NULL);
    if (rv != SL_OK) {
        fprintf(stderr,
                "starling %s: cannot connect to the scheduler at %s: "
                "%s\n",
                cmd, d.endpoint, sl_strerror(rv));
        return NULL;
    }
    return c;
}
