// cli.c - the `starling` command: main, the table of subcommands, and
// keygen.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - Each subcommand is a row (an sl__cli_command) in its own file:
//   cli_cluster.c has up, down and status, cli_map.c has map, keygen is
//   here. Each is a function that parses its own options (getopt_long over
//   argv from the subcommand's name on) and returns the exit status: 0
//   success, 1 failure (a failed task counts), 2 a usage error, 130
//   interrupted.
// - Results and JSON go to stdout; progress, warnings and errors to
//   stderr, so `--json` output can be piped as it is.
#include <stdio.h>
#include <string.h>

#include "../common/cert.h"
#include "cli.h"

static int s_cmd_keygen(int argc, char **argv);

static const sl__cli_command s_keygen = {
    "keygen", s_cmd_keygen, "make a CURVE key pair (a certificate)",
    "usage: starling keygen [--out DIR] [--force] NAME\n"
    "\n"
    "Make a CURVE key pair: DIR/NAME, the public certificate, and\n"
    "DIR/NAME_secret (mode 0600), both keys. Give the public one away:\n"
    "into the scheduler's allow directory (--allow) for a client or a\n"
    "worker, or to every client and worker for the scheduler's own. Keep\n"
    "the secret one where only its program can read it.\n"
    "\n"
    "  --out DIR   where to write (default: the current directory)\n"
    "  --force     replace NAME and NAME_secret if they exist\n"
    "  --help      this text\n"
    "\n"
    "A client finds its keys in $STARLING_CLIENT_CERT (its NAME_secret)\n"
    "and $STARLING_SERVER_CERT (the scheduler's public certificate); a\n"
    "worker takes --cert and --server-cert; the scheduler --cert and\n"
    "--allow.\n"};

static const sl__cli_command *const s_commands[] = {
    &sl__cli_up, &sl__cli_down, &sl__cli_status, &sl__cli_map, &s_keygen,
    // bench: the benchmark runner gets its own row (issue: bench).
};

#define S_CLI_N_COMMANDS (sizeof(s_commands) / sizeof(s_commands[0]))

static const sl__cli_command *
s_command_find(const char *name)
{
    for (size_t i = 0; i < S_CLI_N_COMMANDS; i++) {
        if (strcmp(s_commands[i]->name, name) == 0) {
            return s_commands[i];
        }
    }
    return NULL;
}

static void
s_usage(FILE *out)
{
    fprintf(out, "usage: starling COMMAND [options]\n"
                 "\n"
                 "starling runs a function over thousands of inputs at once, "
                 "on every core.\n"
                 "\n"
                 "Commands:\n");
    for (size_t i = 0; i < S_CLI_N_COMMANDS; i++) {
        fprintf(out, "  %-8s %s\n", s_commands[i]->name,
                s_commands[i]->summary);
    }
    fprintf(out, "\n"
                 "  starling COMMAND --help   that command's options\n"
                 "  starling --version        the version\n");
}

// ---------------------------------------------------------------------
// keygen.

static int
s_cmd_keygen(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"out", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const sl__cli_command *cmd = &s_keygen;
    const char *dir = ".";
    bool force = false;
    char key[SL_CERT_KEY_LEN + 1];
    char errbuf[SL_ERRSTR_LEN];
    int c;
    while ((c = sl__cli_getopt(argc, argv, longopts)) != -1) {
        if (c == 'o') {
            dir = optarg;
        } else if (c == 'f') {
            force = true;
        } else if (c == 'h') {
            fputs(cmd->usage, stdout);
            return 0;
        } else {
            fputs(cmd->usage, stderr);
            return SL_CLI_USAGE;
        }
    }
    if (optind != argc - 1) {
        return sl__cli_usage_error(cmd, "give one NAME");
    }
    const char *name = argv[optind];
    if (!sl__cert_name_ok(name)) {
        return sl__cli_usage_error(
            cmd,
            "bad NAME %s: 1 to %d of [A-Za-z0-9._-], not "
            "starting with '.' or ending in _secret",
            name, SL_CERT_NAME_MAX);
    }
    if (sl__cert_generate(dir, name, force, key, errbuf) != SL_OK) {
        fprintf(stderr, "starling keygen: %s\n", errbuf);
        return 1;
    }
    printf("starling: key pair %s\n", name);
    printf("  public  %s/%s         give it away (public key %s)\n", dir, name,
           key);
    printf("  secret  %s/%s_secret  mode 0600: keep it\n", dir, name);
    return 0;
}

// ---------------------------------------------------------------------

int
main(int argc, char **argv)
{
    sl__log_init("starling");
    if (argc < 2) {
        s_usage(stderr);
        return SL_CLI_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 ||
        (strcmp(name, "help") == 0 && argc == 2)) {
        s_usage(stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("starling %s\n", SL_VERSION_STRING);
        return 0;
    }
    if (strcmp(name, "help") == 0) {
        name = argv[2]; // `starling help map` is `starling map --help`
    }
    const sl__cli_command *cmd = s_command_find(name);
    if (cmd == NULL) {
        fprintf(stderr, "starling: unknown command '%s'\n\n", name);
        s_usage(stderr);
        return SL_CLI_USAGE;
    }
    if (strcmp(argv[1], "help") == 0) {
        fputs(cmd->usage, stdout);
        return 0;
    }
    return cmd->run(argc - 1, argv + 1);
}
