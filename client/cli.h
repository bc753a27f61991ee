// cli.h - the `starling` command's parts: one file per group of
// subcommands, and what they share. Private to the command line.
// SPDX-License-Identifier: MIT
//
// cli.c (main, the command table, keygen) calls the commands of
// cli_cluster.c (up, down, status) and cli_map.c (map); they call
// cli_common.c; none calls back up.
#ifndef SL_CLIENT_CLI_H
#define SL_CLIENT_CLI_H

#include <starling/starling.h>

#include <getopt.h>
#include <stdbool.h>

#include "../common/util.h"

#define SL_CLI_USAGE 2
#define SL_CLI_INTERRUPTED 130

typedef struct {
    const char *name;                  // the subcommand, as typed
    int (*run)(int argc, char **argv); // argv[0] is the name
    const char *summary;               // one line for `starling --help`
    const char *usage;                 // the whole of `starling NAME --help`
} sl__cli_command;

// The subcommands, each defined in its file.
extern const sl__cli_command sl__cli_up;     // cli_cluster.c
extern const sl__cli_command sl__cli_down;   // cli_cluster.c
extern const sl__cli_command sl__cli_status; // cli_cluster.c
extern const sl__cli_command sl__cli_map;    // cli_map.c

// Options that status and map share: which scheduler to talk to.
typedef struct {
    const char *scheduler; // --scheduler EP, or NULL
    const char *home;      // --home DIR, or NULL
} sl__cli_target;

// getopt_long with our own message for a bad option. Returns the option,
// -1 at the end, or '?' after saying what was wrong.
int sl__cli_getopt(int argc, char **argv, const struct option *longopts);
// Say what was wrong, then the command's usage; the exit status for it.
int sl__cli_usage_error(const sl__cli_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
// A JSON number into buf (JSON has no inf or nan: "null"). Returns buf or
// a constant.
const char *sl__cli_json_num(double v, char *buf, size_t len);
// "4.2s", "5m07s", "3h02m", "2d05h" into buf; returns buf.
const char *sl__cli_duration(double s, char *buf, size_t len);
// Apply --home (c == 'H') or --scheduler (c == 'S') to t. False for any
// other option.
bool sl__cli_target_opt(int c, sl__cli_target *t);
// Whether t names the local cluster's record (no --scheduler; --home, or
// no $STARLING_SCHEDULER), rather than a scheduler by its endpoint.
bool sl__cli_target_local(const sl__cli_target *t);
// Connect to the scheduler t names: --scheduler, else --home's cluster,
// else $STARLING_SCHEDULER, else the default home's cluster. NULL after
// saying why on stderr (cmd names the subcommand). The caller destroys
// the client.
sl_client *sl__cli_connect(const sl__cli_target *t, const char *cmd);

#endif
