// main.c - starling-scheduler: parse flags, run the loop.
// SPDX-License-Identifier: MIT
#include <czmq.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched.h"

static void
s_usage(FILE *out)
{
    fprintf(out,
            "usage: starling-scheduler --store HOST:PORT[,HOST:PORT...] "
            "[options]\n"
            "\n"
            "The starling scheduler: takes maps from clients, hands tasks to\n"
            "workers by credit, and sends outcomes back in batches.\n"
            "\n"
            "  --clients EP             endpoint for clients "
            "(default tcp://127.0.0.1:7170)\n"
            "  --workers EP             endpoint for workers "
            "(default tcp://127.0.0.1:7171)\n"
            "  --store ADDRS            Redis shards, comma separated "
            "(required)\n"
            "  --store-password-file F  Redis password, first line of F\n"
            "  --endpoints-file F       write the bound endpoints to F\n"
            "  --heartbeat-ms N         heartbeat interval (default 1000); a\n"
            "                           worker silent for 3 is lost\n"
            "  --client-grace-ms N      a client disconnected for N ms loses\n"
            "                           its jobs (default 30000)\n"
            "  --inline-max N           values up to N bytes ride inline "
            "(default 4096)\n"
            "  --help                   this text\n"
            "\n"
            "An endpoint's port may be * for any free port; see "
            "--endpoints-file.\n");
}

static int
s_split_stores(char *list, sl__sched_opts *opts)
{
    for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        if (opts->n_stores == 16) {
            return -1;
        }
        opts->stores[opts->n_stores++] = tok;
    }
    return opts->n_stores > 0 ? 0 : -1;
}

static char *
s_read_password(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return NULL;
    }
    char line[512] = "";
    if (fgets(line, sizeof(line), f) == NULL) {
        line[0] = '\0';
    }
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    return sl__xstrdup(line);
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"clients", required_argument, NULL, 'c'},
        {"workers", required_argument, NULL, 'w'},
        {"store", required_argument, NULL, 's'},
        {"store-password-file", required_argument, NULL, 'p'},
        {"endpoints-file", required_argument, NULL, 'e'},
        {"heartbeat-ms", required_argument, NULL, 'b'},
        {"client-grace-ms", required_argument, NULL, 'g'},
        {"inline-max", required_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    sl__sched_opts opts = {
        .client_endpoint = "tcp://127.0.0.1:7170",
        .worker_endpoint = "tcp://127.0.0.1:7171",
        .heartbeat_ms = 1000,
        .inline_max = 4096,
        .limits = sl__limits_default,
    };
    char *stores = NULL;
    char *password = NULL;
    int c;
    sl__log_init("starling-scheduler");
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            opts.client_endpoint = optarg;
            break;
        case 'w':
            opts.worker_endpoint = optarg;
            break;
        case 's':
            stores = optarg;
            break;
        case 'p':
            if ((password = s_read_password(optarg)) == NULL) {
                fprintf(stderr, "starling-scheduler: cannot read %s\n", optarg);
                return 2;
            }
            break;
        case 'e':
            opts.endpoints_file = optarg;
            break;
        case 'b':
            opts.heartbeat_ms = atoi(optarg);
            break;
        case 'g':
            opts.client_grace_ms = atoi(optarg);
            break;
        case 'i':
            opts.inline_max = (uint32_t) strtoul(optarg, NULL, 10);
            break;
        case 'h':
            s_usage(stdout);
            return 0;
        default:
            s_usage(stderr);
            return 2;
        }
    }
    if (stores == NULL || s_split_stores(stores, &opts) != 0 ||
        opts.heartbeat_ms <= 0 || opts.client_grace_ms < 0) {
        fprintf(stderr, "starling-scheduler: --store takes 1 to 16 "
                        "HOST:PORT addresses; --heartbeat-ms a positive "
                        "number\n");
        s_usage(stderr);
        return 2;
    }
    opts.store_password = password != NULL ? password : "";
    // czmq would otherwise print its own lines on SIGINT; ours is enough.
    zsys_set_logstream(NULL);
    zsys_init();
    sl__sched *sched = NULL;
    char errbuf[SL_ERRSTR_LEN];
    if (sl__sched_new(&sched, &opts, errbuf) != SL_OK) {
        sl__log_error("%s", errbuf);
        free(password);
        return 1;
    }
    sl__sched_run(sched);
    sl__log_info("stopping");
    sl__sched_destroy(&sched);
    free(password);
    zsys_shutdown();
    return 0;
}
