// main.c - starling-worker: parse flags, run the worker.
// SPDX-License-Identifier: MIT
#include <cblas.h>
#include <czmq.h>
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "executor.h"
#include "worker.h"

// The program's name in what it says about its flags.
#define S_PROG "starling-worker"

static void
s_usage(FILE *out)
{
    fprintf(out,
            "usage: starling-worker --scheduler EP [options]\n"
            "\n"
            "A starling worker: runs tasks from the scheduler in executor\n"
            "slots. It learns where the object store is from the "
            "scheduler.\n"
            "\n"
            "  --scheduler EP   the scheduler's worker endpoint (required)\n"
            "  --slots N        executor slots (default: one per core)\n"
            "  --prefetch N     tasks held beyond the slots, at most "
            "(default:\n"
            "                   256, or the slots if more; the "
            "scheduler sends\n"
            "                   about 20 ms of work per slot ahead)\n"
            "  --name NAME      this worker's name (default: $STARLING_NODE,\n"
            "                   else the host name); its node is the part\n"
            "                   before a '/', so that host/0 and host/1\n"
            "                   share host's object tier\n"
            "  --executor MODE  where kernels run: 'process' (default), one\n"
            "                   executor process per slot, which the\n"
            "                   worker kills at a task's time limit and\n"
            "                   replaces when a kernel crashes; or\n"
            "                   'thread', slot threads in the worker:\n"
            "                   faster, but a crash takes the worker down\n"
            "                   and tasks with a time limit are refused\n"
            "  --module-cache DIR\n"
            "                   where user modules are cached (default:\n"
            "                   $STARLING_MODULE_CACHE, else\n"
            "                   $XDG_CACHE_HOME/starling/modules, else\n"
            "                   ~/.cache/starling/modules)\n"
            "  --cache-mb N     each slot keeps the inputs it fetched, up to\n"
            "                   N MiB, for later tasks that name them\n"
            "                   (default: an eighth of the memory over the\n"
            "                   cores, or the slots if more; 0: keep none)\n"
            "  --tier-budget-mb N\n"
            "                   the node's object tier (shared memory that\n"
            "                   the node's clients and tasks put large\n"
            "                   objects in and map them from) holds up to\n"
            "                   N MiB; the first worker of a node makes it\n"
            "                   (default: a quarter of the memory, at most\n"
            "                   half of /dev/shm; 0: no tier, every object\n"
            "                   goes through the store)\n"
            "  --module-allow FILE\n"
            "                   load only the modules whose SHA-256 (64 hex\n"
            "                   digits) is a line of FILE\n"
            "  --cert FILE      this worker's CURVE certificate (FILE_secret "
            "from\n"
            "                   `starling keygen`); needs --server-cert\n"
            "  --server-cert FILE\n"
            "                   the scheduler's public certificate\n"
            "  --help           this text\n");
}

// Room for every slot: a slot thread holds three ZeroMQ sockets (czmq
// allows 1,024 a process unless told), an executor process one socket
// pair end (the descriptor limit is often 1,024).
static void
s_raise_limits(int slots, bool threads)
{
    size_t want = (size_t) slots * (threads ? 3 : 1) + 64;
    if (threads) {
        zsys_set_max_sockets(want > 1024 ? want : 1024);
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want + 64) {
        rl.rlim_cur = rl.rlim_max < want + 64 ? rl.rlim_max : want + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"scheduler", required_argument, NULL, 's'},
        {"slots", required_argument, NULL, 'n'},
        {"prefetch", required_argument, NULL, 'p'},
        {"name", required_argument, NULL, 'N'},
        {"module-cache", required_argument, NULL, 'm'},
        {"executor", required_argument, NULL, 'x'},
        {"executor-fd", required_argument, NULL, 'X'},
        {"module-allow", required_argument, NULL, 'a'},
        {"cache-mb", required_argument, NULL, 'c'},
        {"cache-bytes", required_argument, NULL, 'B'},
        {"tier-budget-mb", required_argument, NULL, 'T'},
        {"cert", required_argument, NULL, 'C'},
        {"server-cert", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    sl__worker_opts opts = {
        .prefetch = -1, .cache_mb = -1, .tier_budget_mb = -1};
    size_t cache_bytes = 0; // an executor's, from its worker
    int executor_fd = -1;
    int64_t n;
    int c;
    sl__log_init("starling-worker");
    // Keep freed heap memory instead of handing it back to the kernel after
    // every batch of tasks: perf showed executors spending a fifth of their
    // time growing and shrinking the heap (brk, page faults) for the few
    // hundred KiB a batch of results takes. Big arrays still get mappings
    // of their own, returned when freed.
    mallopt(M_TRIM_THRESHOLD, 16 << 20);
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            opts.scheduler = optarg;
            break;
        case 'n':
            if (!sl__parse_flag(S_PROG, "--slots", optarg, 0, 4096, &n)) {
                return 2;
            }
            opts.slots = (int) n;
            break;
        case 'p':
            if (!sl__parse_flag(S_PROG, "--prefetch", optarg, 0, INT32_MAX,
                                &n)) {
                return 2;
            }
            opts.prefetch = (int) n;
            break;
        case 'N':
            opts.name = optarg;
            break;
        case 'm':
            opts.module_cache = optarg;
            break;
        case 'x':
            if (strcmp(optarg, "thread") != 0 &&
                strcmp(optarg, "process") != 0) {
                fprintf(stderr, "starling-worker: --executor takes 'process' "
                                "or 'thread'\n");
                return 2;
            }
            opts.threads = strcmp(optarg, "thread") == 0;
            break;
        case 'X':
            if (!sl__parse_flag(S_PROG, "--executor-fd", optarg, 0, INT32_MAX,
                                &n)) {
                return 2;
            }
            executor_fd = (int) n;
            break;
        case 'a':
            opts.module_allow = optarg;
            break;
        case 'c':
            if (!sl__parse_flag(S_PROG, "--cache-mb (0: no cache)", optarg, 0,
                                1 << 30, &n)) {
                return 2;
            }
            opts.cache_mb = (long) n;
            break;
        case 'B':
            if (!sl__parse_flag(S_PROG, "--cache-bytes", optarg, 0, INT64_MAX,
                                &n)) {
                return 2;
            }
            cache_bytes = (size_t) n;
            break;
        case 'T':
            if (!sl__parse_flag(S_PROG, "--tier-budget-mb (0: no tier)", optarg,
                                0, 1 << 30, &n)) {
                return 2;
            }
            opts.tier_budget_mb = (long) n;
            break;
        case 'C':
            opts.cert = optarg;
            break;
        case 'S':
            opts.server_cert = optarg;
            break;
        case 'h':
            s_usage(stdout);
            return 0;
        default:
            s_usage(stderr);
            return 2;
        }
    }
    if (executor_fd >= 0) {
        // An executor process, started by a worker (worker/executor.h).
        sl__log_init("starling-executor");
        openblas_set_num_threads(1);
        return sl__executor_main(executor_fd, opts.module_cache,
                                 opts.module_allow, cache_bytes);
    }
    if (opts.scheduler == NULL) {
        fprintf(stderr, "starling-worker: --scheduler is required\n");
        s_usage(stderr);
        return 2;
    }
    // One BLAS thread per slot: the slots are the parallelism.
    openblas_set_num_threads(1);
    zsys_set_logstream(NULL);
    s_raise_limits(opts.slots > 0 ? opts.slots : sl__ncpus(), opts.threads);
    zsys_init();
    sl__worker *worker = NULL;
    char errbuf[SL_ERRSTR_LEN];
    if (sl__worker_new(&worker, &opts, errbuf) != SL_OK) {
        sl__log_error("%s", errbuf);
        return 1;
    }
    sl_err rv = sl__worker_run(worker);
    sl__log_info("stopping");
    sl__worker_destroy(&worker);
    zsys_shutdown();
    return rv == SL_OK ? 0 : 1;
}
