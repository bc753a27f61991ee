// main.c - starling-scheduler: parse flags, run the loop.
// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../store/store.h"
#include "sched.h"

// --max-message below this would refuse libstarling's SUBMIT chunks (up to
// about 8 MiB).
#define S_MIN_MESSAGE (16u << 20)

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
            "  --max-message N          largest message a peer may send, "
            "in bytes\n"
            "                           (default 512 MiB, at least 16 MiB)\n"
            "  --max-client-jobs N      jobs one client may have at once "
            "(default 65536)\n"
            "  --send-hwm N             messages queued for one peer before "
            "the\n"
            "                           scheduler holds them (clients) or "
            "drops them\n"
            "                           (workers); default 100000\n"
            "  --http ADDR:PORT         serve /metrics and the JSON "
            "endpoints there\n"
            "                           (default 127.0.0.1:0: loopback, a "
            "free port,\n"
            "                           written to --endpoints-file); "
            "off: none\n"
            "  --http-token-file FILE   requests must send Authorization: "
            "Bearer\n"
            "                           <FILE's first line>; required when "
            "ADDR is\n"
            "                           not loopback\n"
            "\n"
            "Security (whoever reaches the scheduler can run code on every "
            "worker):\n"
            "  --cert FILE              the scheduler's CURVE certificate "
            "(FILE_secret\n"
            "                           from `starling keygen`): clients and "
            "workers\n"
            "                           must then present a key in --allow\n"
            "  --allow DIR              public certificates of the clients "
            "and workers\n"
            "                           let in (re-read when it changes)\n"
            "  --insecure               serve an endpoint that is not "
            "loopback (or an\n"
            "                           abstract ipc socket) without CURVE\n"
            "  --help                   this text\n"
            "\n"
            "An endpoint's port may be * for any free port; see "
            "--endpoints-file.\n"
            "Without --cert, the scheduler serves only loopback TCP and ipc "
            "sockets\n"
            "in directories of mode 0700, unless --insecure.\n");
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

// Whether host is loopback or an address private networks use (RFC 1918,
// RFC 4193, link-local). A name we cannot judge counts as private.
static bool
s_private_host(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1) {
        uint32_t a = ntohl(a4.s_addr);
        return (a >> 24) == 127 || (a >> 24) == 10 ||
               (a >> 20) == ((172u << 4) | 1) ||
               (a >> 16) == (192u << 8 | 168) || (a >> 16) == (169u << 8 | 254);
    }
    if (inet_pton(AF_INET6, host, &a6) == 1) {
        return IN6_IS_ADDR_LOOPBACK(&a6) || IN6_IS_ADDR_LINKLOCAL(&a6) ||
               (a6.s6_addr[0] & 0xfe) == 0xfc;
    }
    return true;
}

// Every client and worker gets the store's password from us: a password
// the store refuses is fatal now, not a mystery in every task later. A
// store that cannot be reached yet is only a warning: peers retry.
static int
s_store_check(const sl__sched_opts *opts)
{
    sl__store_opts so = {.n_addrs = opts->n_stores,
                         .password = opts->store_password,
                         .timeout_ms = 5000};
    for (int i = 0; i < opts->n_stores; i++) {
        char host[128];
        so.addrs[i] = opts->stores[i];
        const char *colon = strrchr(opts->stores[i], ':');
        size_t n = colon != NULL ? (size_t) (colon - opts->stores[i]) : 0;
        sl__fmt(host, sizeof(host), "%.*s", (int) n, opts->stores[i]);
        if (n > 0 && !s_private_host(host)) {
            sl__log_warn("store %s is on a public address: Redis should "
                         "listen on loopback or a private network only",
                         opts->stores[i]);
        }
    }
    sl__store *store = NULL;
    char errbuf[SL_ERRSTR_LEN];
    sl_err rv = sl__store_connect(&store, &so, errbuf);
    sl__store_destroy(&store);
    if (rv == SL_EAUTH) {
        sl__log_error("%s: check --store-password-file", errbuf);
        return 1;
    }
    if (rv != SL_OK) {
        sl__log_warn("%s (clients and workers will try again)", errbuf);
    }
    return 0;
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
        {"max-message", required_argument, NULL, 'M'},
        {"max-client-jobs", required_argument, NULL, 'J'},
        {"send-hwm", required_argument, NULL, 'H'},
        {"cert", required_argument, NULL, 'C'},
        {"allow", required_argument, NULL, 'A'},
        {"insecure", no_argument, NULL, 'I'},
        {"http", required_argument, NULL, 'P'},
        {"http-token-file", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    sl__sched_opts opts = {
        .client_endpoint = "tcp://127.0.0.1:7170",
        .worker_endpoint = "tcp://127.0.0.1:7171",
        .heartbeat_ms = 1000,
        .inline_max = 4096,
        .limits = sl__limits_default,
        .http = "127.0.0.1:0",
    };
    char *stores = NULL;
    char *password = NULL;
    int64_t n;
    int c;
    sl__log_init("starling-scheduler");
    // Fixed thresholds, not glibc's sliding ones: freeing a job's task
    // table (16 MiB for 1,000,000 tasks) would otherwise raise the mmap
    // threshold to 16 MiB and the trim threshold to 32 MiB, and the arena
    // of libzmq's I/O thread, whose top malloc_trim does not shorten, then
    // kept what bursts of messages had grown it to (chaos_test watched
    // the scheduler grow from 9 to 16 MiB over twelve jobs this way).
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    mallopt(M_TRIM_THRESHOLD, 2 << 20);
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
            if (!sl__parse_flag("starling-scheduler", "--heartbeat-ms", optarg,
                                1, INT32_MAX, &n)) {
                return 2;
            }
            opts.heartbeat_ms = (int) n;
            break;
        case 'g':
            if (!sl__parse_flag("starling-scheduler", "--client-grace-ms",
                                optarg, 0, INT32_MAX, &n)) {
                return 2;
            }
            opts.client_grace_ms = (int) n;
            break;
        case 'i':
            if (!sl__parse_flag("starling-scheduler", "--inline-max", optarg, 0,
                                UINT32_MAX, &n)) {
                return 2;
            }
            opts.inline_max = (uint32_t) n;
            break;
        case 'M':
            if (!sl__parse_flag("starling-scheduler", "--max-message (bytes)",
                                optarg, S_MIN_MESSAGE,
                                (int64_t) sl__limits_default.max_message, &n)) {
                return 2;
            }
            opts.limits.max_message = (size_t) n;
            break;
        case 'J':
            if (!sl__parse_flag("starling-scheduler", "--max-client-jobs",
                                optarg, 1, UINT32_MAX, &n)) {
                return 2;
            }
            opts.max_client_jobs = (uint32_t) n;
            break;
        case 'H':
            if (!sl__parse_flag("starling-scheduler", "--send-hwm", optarg, 1,
                                INT32_MAX, &n)) {
                return 2;
            }
            opts.send_hwm = (int) n;
            break;
        case 'C':
            opts.cert = optarg;
            break;
        case 'A':
            opts.allow_dir = optarg;
            break;
        case 'I':
            opts.insecure = true;
            break;
        case 'P':
            opts.http = strcmp(optarg, "off") == 0 ? NULL : optarg;
            break;
        case 'T':
            opts.http_token_file = optarg;
            break;
        case 'h':
            s_usage(stdout);
            return 0;
        default:
            s_usage(stderr);
            return 2;
        }
    }
    if (stores == NULL || s_split_stores(stores, &opts) != 0) {
        fprintf(stderr, "starling-scheduler: --store takes 1 to 16 "
                        "HOST:PORT addresses\n");
        s_usage(stderr);
        return 2;
    }
    opts.store_password = password != NULL ? password : "";
    if (s_store_check(&opts) != 0) {
        free(password);
        return 1;
    }
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
