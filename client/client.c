// client.c - libstarling: connect, put/get, map, wait, results.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - One DEALER socket to the scheduler, used only inside API calls (the
//   client has no thread of its own). Every call that waits pumps the
//   socket: DONE batches fill the jobs' result arrays as they arrive.
// - A job is sent as SUBMIT chunks of at most SL_CHUNK_TASKS tasks (or
//   about SL_CHUNK_BYTES), each packed straight from the caller's values.
//   Top-level arguments larger than the scheduler's inline limit (ndarray,
//   bytes, str) are put into the store under the job's namespace first and
//   travel as refs: bulk data never goes through the scheduler.
// - Results arrive decoded; a large one is a ref, fetched from the store
//   only when the program asks for its value, then cached.
// - map_reduce keeps the reduce job here until its map job has ended, then
//   submits it with the map's results (values or refs) as its argument.
// - A module is registered by its SHA-256: a TTL refresh (EXPIRE) when the
//   store has it, else one SET NX of its bytes. The client remembers the
//   short names of the modules it registered, and rewrites "name/kernel"
//   into "<sha256>/kernel" before a job leaves: the scheduler and workers
//   know modules by hash only.
// - Connecting proves three things before it returns: the scheduler let us
//   in (with CURVE, our key is in its allow list: a socket monitor reports
//   a refused handshake, so the caller hears why at once rather than after
//   a timeout), it answered HELLO, and the store it named accepts its
//   password (a short probe; a store that cannot be reached is tried again
//   when first needed).
#include <starling/client.h>

#include <ctype.h>
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/cert.h"
#include "../common/sha256.h"
#include "../serialize/msg.h"
#include "../store/store.h"
#include "cluster_env.h"

#define SL_CHUNK_TASKS 4096
#define SL_CHUNK_BYTES (8u << 20)
#define SL_CONNECT_TIMEOUT_MS 10000
// The store probe at connect: short, so that a store behind a firewall
// does not hold up a client that never needs it.
#define SL_STORE_PROBE_MS 3000
// The largest module a client registers: far above any sane shared object,
// far below what would strain the store.
#define SL_MODULE_MAX_BYTES (1u << 30)

typedef struct {
    sl_result pub;   // what sl_job_result returns
    sl_value *value; // decoded result (a ref until fetched), or NULL
    bool fetched;    // value is the stored object, not its ref
    char *error;     // owned text behind pub.error
} s_result;

// A SUBMIT chunk as sent, kept until its job ends: a scheduler that
// restarts gets the job again from these.
typedef struct {
    uint64_t first; // its first task
    uint32_t n;     // its tasks
    uint8_t *args;  // their packed arguments (a msgpack array body)
    size_t len;     // in bytes
} s_chunk;

typedef struct s_job s_job;
struct s_job {
    uint64_t id;         // job id, also sent to the scheduler
    size_t n;            // tasks
    size_t done;         // tasks ended
    s_result *results;   // n entries
    double submitted;    // monotonic time of submission
    double finished;     // monotonic time of the last outcome
    bool stored_objects; // args or results live in the store
    // A reduce job waits here until its map job has ended.
    bool held;          // not submitted yet
    uint64_t map_id;    // the map job it reduces
    char function[256]; // its function (every job: for resubmission)
    sl__job_opts opts;  // its options
    s_chunk *chunks;    // as submitted; freed when the job ends
    size_t n_chunks;
    unsigned epoch; // the client's epoch when last submitted
    s_job *next;    // list of the client's jobs
};

// A module this client registered, by its short name.
typedef struct s_module s_module;
struct s_module {
    char name[64];                    // short name ("mcpi")
    char hash[SL_SHA256_HEX_LEN + 1]; // its SHA-256 in hex
    s_module *next;                   // list link
};

struct sl_client {
    zsock_t *sock;                              // DEALER to the scheduler
    void *raw;                                  // its libzmq handle
    char endpoint[256];                         // where it connects
    char client_cert[512];                      // our certificate; "": none
    char server_cert[512];                      // the scheduler's
    zsock_t *monitor;                           // handshakes, while joining
    uint64_t session;                           // from WELCOME
    int heartbeat_ms;                           // from WELCOME
    uint32_t inline_max;                        // from WELCOME
    sl__store *store;                           // made on first use
    sl__store_opts store_opts;                  // from WELCOME
    char store_addrs[SL_STORE_MAX_SHARDS][128]; // backing store_opts
    char store_password[256];                   // likewise
    bool welcomed;                              // WELCOME received
    bool rejoining;             // the scheduler forgot us: HELLO sent again
    int64_t hello_ms;           // when the last HELLO went out
    unsigned epoch;             // rejoins begun: jobs of older epochs resubmit
    bool put_objects;           // sl_put was used: clean up at the end
    uint64_t put_seq;           // last object number
    s_job *jobs;                // every job not released
    s_module *modules;          // modules registered, by short name
    sl__mpw w;                  // message writer
    sl__limits limits;          // decoding bounds
    int64_t last_send_ms;       // for heartbeats
    bool got_status;            // a STATUS_REPLY arrived
    sl__status status;          // the last one
    bool closed;                // the scheduler is unreachable
    int spin_max_us;            // sl_client_set_spin; 0: never spin
    int spin_us;                // sl_wait's poll before sleeping, adaptive
    char errstr[SL_ERRSTR_LEN]; // detail of the last error
};

static sl_err s_err(sl_client *c, sl_err rv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static sl_err
s_err(sl_client *c, sl_err rv, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errstr, sizeof(c->errstr), fmt, ap);
    va_end(ap);
    return rv;
}

const char *
sl_client_errstr(const sl_client *c)
{
    return c != NULL ? c->errstr : "no client";
}

// ---------------------------------------------------------------------
// Jobs.

static s_job *
s_job_find(const sl_client *c, uint64_t id)
{
    for (s_job *j = c->jobs; j != NULL; j = j->next) {
        if (j->id == id) {
            return j;
        }
    }
    return NULL;
}

static s_job *
s_job_new(sl_client *c, size_t n)
{
    s_job *job = calloc(1, sizeof(*job));
    if (job == NULL) {
        return NULL;
    }
    job->results = calloc(n > 0 ? n : 1, sizeof(*job->results));
    if (job->results == NULL) {
        free(job);
        return NULL;
    }
    do {
        job->id = sl__rand64();
    } while (s_job_find(c, job->id) != NULL);
    job->n = n;
    job->submitted = sl__mono();
    job->next = c->jobs;
    c->jobs = job;
    return job;
}

static void
s_job_free_chunks(s_job *job)
{
    for (size_t i = 0; i < job->n_chunks; i++) {
        free(job->chunks[i].args);
    }
    free(job->chunks);
    job->chunks = NULL;
    job->n_chunks = 0;
}

static void
s_job_free(s_job **job_p)
{
    s_job *job = *job_p;
    s_job_free_chunks(job);
    for (size_t i = 0; i < job->n; i++) {
        sl_value_destroy(&job->results[i].value);
        free(job->results[i].error);
    }
    free(job->results);
    free(job);
    *job_p = NULL;
}

static void
s_job_unlink(sl_client *c, s_job *job)
{
    for (s_job **pp = &c->jobs; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == job) {
            *pp = job->next;
            return;
        }
    }
}

// Record that task i ended with status and, for a failure, text.
static void
s_task_end(s_job *job, size_t i, sl_task_status status, const char *text)
{
    s_result *r = &job->results[i];
    if (r->pub.status != SL_TASK_PENDING) {
        return;
    }
    r->pub.status = status;
    if (text != NULL && text[0] != '\0') {
        r->error = strdup(text);
        r->pub.error = r->error;
    }
    job->done++;
    job->finished = sl__mono();
    if (job->done == job->n) {
        s_job_free_chunks(job); // no scheduler will need them again
    }
}

// End every pending task of job with status and text.
static void
s_job_fail(s_job *job, sl_task_status status, const char *text)
{
    for (size_t i = 0; i < job->n; i++) {
        s_task_end(job, i, status, text);
    }
}

// ---------------------------------------------------------------------
// The store.

static sl_err
s_store(sl_client *c, sl__store **out)
{
    if (c->store == NULL) {
        char errbuf[SL_ERRSTR_LEN];
        if (!c->welcomed) {
            return s_err(c, SL_ECLOSED, "not connected to a scheduler");
        }
        if (sl__store_connect(&c->store, &c->store_opts, errbuf) != SL_OK) {
            return s_err(c, SL_ESTORE, "%s", errbuf);
        }
    }
    *out = c->store;
    return SL_OK;
}

sl_err
sl_put(sl_client *c, const sl_value *v, sl_value **ref_out)
{
    sl__store *store = NULL;
    sl_err rv;
    if (c == NULL || v == NULL || ref_out == NULL) {
        return SL_EINVAL;
    }
    if ((rv = s_store(c, &store)) != SL_OK) {
        return rv;
    }
    char key[SL_STORE_KEY_LEN];
    sl__store_object_key(key, c->session, ++c->put_seq);
    c->put_objects = true;
    if ((rv = sl__store_put_value(store, key, v, false, ref_out)) != SL_OK) {
        return s_err(c, rv, "put %s: %s", key, sl__store_errstr(store));
    }
    return SL_OK;
}

sl_err
sl_get(sl_client *c, const sl_value *ref, sl_value **out)
{
    sl__store *store = NULL;
    sl_err rv;
    if (c == NULL || sl_value_type(ref) != SL_REF || out == NULL) {
        return SL_EINVAL;
    }
    if ((rv = s_store(c, &store)) != SL_OK) {
        return rv;
    }
    if ((rv = sl__store_get_value(store, ref, &c->limits, out)) != SL_OK) {
        return s_err(c, rv, "get %s: %s", sl_ref_key(ref),
                     rv == SL_ENOTFOUND ? "no such object"
                                        : sl__store_errstr(store));
    }
    return SL_OK;
}

// ---------------------------------------------------------------------
// Modules.

// Read the whole file at path into *buf_out (free() it).
static sl_err
s_read_file(sl_client *c, const char *path, uint8_t **buf_out, size_t *len)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return s_err(c, errno == ENOENT ? SL_EINVAL : SL_EIO, "module %s: %s",
                     path, strerror(errno));
    }
    sl_err rv = SL_OK;
    uint8_t *buf = NULL;
    size_t got = 0;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 4 ||
        (uint64_t) st.st_size > SL_MODULE_MAX_BYTES) {
        rv = s_err(c, SL_EINVAL,
                   "module %s: not a regular file of 4 bytes to 1 GiB", path);
    } else if ((buf = malloc((size_t) st.st_size)) == NULL) {
        rv = s_err(c, SL_ENOMEM, "module %s: out of memory", path);
    }
    while (rv == SL_OK && got < (size_t) st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t) st.st_size - got);
        if (n <= 0 && !(n < 0 && errno == EINTR)) {
            rv = s_err(c, SL_EIO, "module %s: cannot read it: %s", path,
                       n == 0 ? "it shrank" : strerror(errno));
        }
        got += n > 0 ? (size_t) n : 0;
    }
    close(fd);
    if (rv != SL_OK) {
        free(buf);
        return rv;
    }
    *buf_out = buf;
    *len = got;
    return SL_OK;
}

// The short name of the module at path: "dir/libmcpi.so.1" gives "mcpi".
static void
s_module_name(const char *path, const char *hash, char name[64])
{
    const char *base = strrchr(path, '/');
    base = base != NULL ? base + 1 : path;
    if (strncmp(base, "lib", 3) == 0 && base[3] != '\0' && base[3] != '.') {
        base += 3;
    }
    size_t len = strcspn(base, ".");
    if (len == 0) {
        base = hash; // nothing left: the hash's first digits
        len = 12;
    }
    sl__fmt(name, 64, "%.*s", (int) (len < 63 ? len : 63), base);
}

static void
s_module_remember(sl_client *c, const sl_module *mod)
{
    s_module *m = c->modules;
    while (m != NULL && strcmp(m->name, mod->name) != 0) {
        m = m->next;
    }
    if (m == NULL && (m = calloc(1, sizeof(*m))) != NULL) {
        sl__strlcpy(m->name, mod->name, sizeof(m->name));
        m->next = c->modules;
        c->modules = m;
    }
    if (m != NULL) { // out of memory: only the short name is lost
        sl__strlcpy(m->hash, mod->hash, sizeof(m->hash));
    }
}

// Refresh the stored module's TTL, or store it if it is not there.
static sl_err
s_module_upload(sl_client *c, sl_module *mod, const uint8_t *buf, size_t len)
{
    sl__store *store = NULL;
    char key[SL_STORE_KEY_LEN];
    sl_err rv = s_store(c, &store);
    if (rv != SL_OK) {
        return rv;
    }
    sl__store_module_key(key, mod->hash);
    mod->uploaded = false;
    rv = sl__store_touch(store, key, SL_STORE_MODULE_TTL);
    if (rv == SL_ENOTFOUND) {
        rv = sl__store_put_ttl(store, key, buf, len, true, SL_STORE_MODULE_TTL,
                               &mod->uploaded);
    }
    if (rv != SL_OK) {
        return s_err(c, rv, "module %s: %s", mod->name,
                     sl__store_errstr(store));
    }
    return SL_OK;
}

sl_err
sl_module_register(sl_client *c, const char *path, sl_module *out)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    sl_module mod = {0};
    if (c == NULL || path == NULL || out == NULL) {
        return c != NULL ? s_err(c, SL_EINVAL, "register needs a path")
                         : SL_EINVAL;
    }
    sl_err rv = s_read_file(c, path, &buf, &len);
    if (rv != SL_OK) {
        return rv;
    }
    static const char elf_magic[4] = {0x7f, 'E', 'L', 'F'};
    if (memcmp(buf, elf_magic, sizeof(elf_magic)) != 0) {
        free(buf);
        return s_err(c, SL_EINVAL,
                     "module %s: not a shared object (no ELF header)", path);
    }
    sl__sha256_hex(buf, len, mod.hash);
    s_module_name(path, mod.hash, mod.name);
    mod.size = len;
    rv = s_module_upload(c, &mod, buf, len);
    free(buf);
    if (rv == SL_OK) {
        s_module_remember(c, &mod);
        *out = mod;
    }
    return rv;
}

sl_err
sl_module_function(const sl_module *m, const char *kernel, char *buf,
                   size_t size)
{
    if (m == NULL || kernel == NULL || kernel[0] == '\0' ||
        strchr(kernel, '/') != NULL || buf == NULL ||
        !sl__sha256_is_hex(m->hash) ||
        SL_SHA256_HEX_LEN + 1 + strlen(kernel) >= size ||
        SL_SHA256_HEX_LEN + 1 + strlen(kernel) >= SL_FUNCTION_MAX) {
        return SL_EINVAL;
    }
    sl__fmt(buf, size, "%.64s/%s", m->hash, kernel);
    return SL_OK;
}

// The function as the scheduler and workers know it: "name/kernel" of a
// module registered here becomes "<sha256>/kernel"; a hash in capitals is
// made small; anything else stays as it is.
static sl_err
s_function_resolve(sl_client *c, const char *function,
                   char out[SL_FUNCTION_MAX])
{
    const char *slash = strchr(function, '/');
    size_t len = slash != NULL ? (size_t) (slash - function) : 0;
    bool hex = len == SL_SHA256_HEX_LEN;
    for (size_t i = 0; hex && i < len; i++) {
        hex = isxdigit((unsigned char) function[i]) != 0;
    }
    const char *hash = NULL;
    for (s_module *m = c->modules; !hex && slash != NULL && m != NULL;
         m = m->next) {
        if (strlen(m->name) == len && memcmp(m->name, function, len) == 0) {
            hash = m->hash;
        }
    }
    if (slash != NULL && !hex && hash == NULL) {
        return s_err(c, SL_ENOTFOUND,
                     "unknown module '%.*s' in '%s': register it with "
                     "sl_module_register first, or name it by its SHA-256",
                     (int) len, function, function);
    }
    size_t total =
        hash != NULL ? strlen(hash) + strlen(slash) : strlen(function);
    if (total == 0 || total >= SL_FUNCTION_MAX) {
        return s_err(c, SL_EINVAL, "function name must be 1 to 255 bytes");
    }
    sl__fmt(out, SL_FUNCTION_MAX, "%s%s", hash != NULL ? hash : function,
            hash != NULL ? slash : "");
    for (size_t i = 0; hex && i < len; i++) {
        out[i] = (char) tolower((unsigned char) out[i]);
    }
    return SL_OK;
}

// ---------------------------------------------------------------------
// Messages from the scheduler.

static void
s_send(sl_client *c)
{
    if (zmq_send(c->raw, c->w.buf.data, c->w.buf.size, 0) < 0) {
        s_err(c, SL_ECLOSED, "send to %s failed: %s", c->endpoint,
              zmq_strerror(errno));
        return;
    }
    c->last_send_ms = sl__mono_ms();
}

// Take w's bytes as the packed arguments of tasks first..first+n-1.
static s_chunk *
s_job_add_chunk(s_job *job, uint64_t first, uint32_t n, sl__mpw *w)
{
    job->chunks =
        sl__xrealloc(job->chunks, (job->n_chunks + 1) * sizeof(*job->chunks));
    s_chunk *ch = &job->chunks[job->n_chunks++];
    ch->first = first;
    ch->n = n;
    ch->len = w->buf.size;
    ch->args = (uint8_t *) msgpack_sbuffer_release(&w->buf);
    return ch;
}

// Send one chunk of job as SUBMIT, with an ended bitmap when resubmitting.
static void
s_send_chunk(sl_client *c, const s_job *job, const s_chunk *ch,
             const uint8_t *ended)
{
    sl__job_opts opts = job->opts;
    opts.flags |= SL_SUBMIT_NO_ACCEPTED;
    sl__mpw_reset(&c->w);
    sl__msg_resubmit_begin(&c->w, job->id, job->function, job->n, ch->first,
                           &opts, ended, ch->n);
    sl__mpw_raw(&c->w, ch->args, ch->len);
    s_send(c);
}

static void
s_send_hello(sl_client *c)
{
    sl__mpw_reset(&c->w);
    sl__msg_hello(&c->w, "client", (uint32_t) getpid());
    s_send(c);
    c->hello_ms = sl__mono_ms();
}

// Submit again, to a scheduler that restarted, every job of an earlier
// epoch that has tasks without results; the ones with results are marked
// in each chunk's ended bitmap and do not run again.
static void
s_resubmit(sl_client *c)
{
    size_t jobs = 0, tasks = 0;
    uint8_t *ended = NULL;
    for (s_job *job = c->jobs; job != NULL; job = job->next) {
        if (job->held || job->done == job->n || job->epoch == c->epoch) {
            continue;
        }
        job->epoch = c->epoch;
        for (size_t k = 0; k < job->n_chunks; k++) {
            const s_chunk *ch = &job->chunks[k];
            ended = sl__xrealloc(ended, ((size_t) ch->n + 7) / 8);
            memset(ended, 0, ((size_t) ch->n + 7) / 8);
            for (uint32_t i = 0; i < ch->n; i++) {
                if (job->results[ch->first + i].pub.status != SL_TASK_PENDING) {
                    ended[i / 8] |= (uint8_t) (1u << (i % 8));
                }
            }
            s_send_chunk(c, job, ch, ended);
        }
        jobs++;
        tasks += job->n - job->done;
    }
    free(ended);
    sl__log_info("the scheduler at %s restarted: %zu job%s submitted "
                 "again (%zu task%s without results)",
                 c->endpoint, jobs, jobs == 1 ? "" : "s", tasks,
                 tasks == 1 ? "" : "s");
}

// The scheduler does not know us (it restarted): introduce ourselves
// again; the WELCOME that answers resubmits our jobs.
static void
s_rejoin(sl_client *c)
{
    if (c->rejoining) {
        return;
    }
    c->rejoining = true;
    c->welcomed = false;
    c->epoch++;
    s_send_hello(c);
}

static void
s_on_welcome(sl_client *c, sl__mpr *r)
{
    sl__welcome m;
    char errbuf[SL_ERRSTR_LEN];
    if (sl__welcome_decode(r, &m, errbuf) != SL_OK) {
        s_err(c, SL_EPROTO, "scheduler: %s", errbuf);
        return;
    }
    if (c->session == 0) {
        // Objects are named by the first session, for the client's life.
        c->session = m.session;
    }
    c->heartbeat_ms = m.heartbeat_ms > 0 ? (int) m.heartbeat_ms : 1000;
    c->inline_max = m.inline_max;
    c->store_opts.n_addrs = (int) m.n_stores;
    for (uint32_t i = 0; i < m.n_stores; i++) {
        sl__fmt(c->store_addrs[i], sizeof(c->store_addrs[i]), "%.*s",
                (int) m.stores[i].len, m.stores[i].p);
        c->store_opts.addrs[i] = c->store_addrs[i];
    }
    sl__fmt(c->store_password, sizeof(c->store_password), "%.*s",
            (int) m.password.len, m.password.p);
    c->store_opts.password = c->store_password;
    c->welcomed = true;
    if (c->rejoining) {
        c->rejoining = false;
        s_resubmit(c);
    }
}

static void
s_on_outcome(sl_client *c, s_job *job, const sl__outcome *o)
{
    if (o->index >= job->n ||
        job->results[o->index].pub.status != SL_TASK_PENDING) {
        return;
    }
    s_result *r = &job->results[o->index];
    char errbuf[SL_ERRSTR_LEN];
    // LOST never reaches a client from a scheduler of ours: it is a worker's
    // word, which the scheduler turns into a retry or a failure.
    sl_task_status status = o->status <= SL_WIRE_CANCELLED
                                ? (sl_task_status) o->status
                                : SL_TASK_FAILED;
    char text[SL_ERRSTR_LEN + 64];
    sl__fmt(text, sizeof(text), "%.*s", (int) o->error.len, o->error.p);
    if (status == SL_TASK_OK && o->value != NULL &&
        sl__value_decode_buf(o->value, o->value_len, &c->limits, NULL,
                             &r->value, errbuf) != SL_OK) {
        status = SL_TASK_FAILED;
        sl__fmt(text, sizeof(text), "result could not be decoded: %s", errbuf);
    }
    if (sl_value_type(r->value) == SL_REF) {
        job->stored_objects = true;
    }
    r->pub.start_s = o->stats.start_s;
    r->pub.end_s = o->stats.end_s;
    r->pub.flops = o->stats.flops;
    r->pub.bytes_read = o->stats.bytes_read;
    r->pub.bytes_written = o->stats.bytes_written;
    r->pub.attempts = o->attempt;
    s_task_end(job, o->index, status, text);
}

static void
s_on_done(sl_client *c, sl__mpr *r)
{
    uint64_t id;
    uint32_t n;
    char errbuf[SL_ERRSTR_LEN];
    if (sl__done_decode(r, &c->limits, &id, &n, errbuf) != SL_OK) {
        s_err(c, SL_EPROTO, "scheduler: %s", errbuf);
        return;
    }
    s_job *job = s_job_find(c, id);
    for (uint32_t i = 0; i < n && job != NULL; i++) {
        sl__outcome o;
        if (sl__outcome_decode(r, &c->limits, false, &o, errbuf) != SL_OK) {
            s_err(c, SL_EPROTO, "scheduler: %s", errbuf);
            return;
        }
        s_on_outcome(c, job, &o);
    }
}

static void
s_on_error(sl_client *c, sl__mpr *r)
{
    sl__error_msg m;
    char errbuf[SL_ERRSTR_LEN];
    if (sl__error_decode(r, &m, errbuf) != SL_OK) {
        s_err(c, SL_EPROTO, "scheduler: %s", errbuf);
        return;
    }
    if (m.code == SL_ENOTFOUND && m.job == 0 && (c->welcomed || c->rejoining)) {
        s_rejoin(c); // "unknown client": the scheduler restarted
        return;
    }
    char text[SL_ERRSTR_LEN];
    sl__fmt(text, sizeof(text), "scheduler refused: %.*s", (int) m.text.len,
            m.text.p);
    s_err(c, (sl_err) m.code, "%s", text);
    s_job *job = m.job != 0 ? s_job_find(c, m.job) : NULL;
    if (job != NULL) {
        s_job_fail(job, SL_TASK_FAILED, text);
    }
}

static void
s_on_message(sl_client *c, const void *data, size_t len)
{
    sl__mpr r;
    uint32_t type, nfields;
    char errbuf[SL_ERRSTR_LEN];
    sl__mpr_init(&r, data, len);
    if (sl__msg_open(&r, &type, &nfields, errbuf) != SL_OK) {
        s_err(c, SL_EPROTO, "scheduler: %s", errbuf);
        return;
    }
    switch (type) {
    case SL_MSG_WELCOME:
        s_on_welcome(c, &r);
        break;
    case SL_MSG_DONE:
        s_on_done(c, &r);
        break;
    case SL_MSG_ERROR:
        s_on_error(c, &r);
        break;
    case SL_MSG_STATUS_REPLY:
        if (sl__status_decode(&r, &c->status, errbuf) == SL_OK) {
            c->got_status = true;
        }
        break;
    case SL_MSG_ACCEPTED:
    case SL_MSG_HEARTBEAT:
        break;
    default:
        s_err(c, SL_EPROTO, "scheduler sent unexpected message type %u", type);
        break;
    }
}

static void s_submit_ready_reduces(sl_client *c);

// Wait up to timeout_ms for a message, then take every message waiting.
// Returns the number of messages handled.
static int
s_pump(sl_client *c, int timeout_ms)
{
    int handled = 0;
    zmq_pollitem_t item = {c->raw, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, timeout_ms) <= 0) {
        timeout_ms = 0;
    }
    for (;;) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, c->raw, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            break;
        }
        s_on_message(c, zmq_msg_data(&msg), zmq_msg_size(&msg));
        zmq_msg_close(&msg);
        handled++;
    }
    if (c->welcomed && sl__mono_ms() - c->last_send_ms >= c->heartbeat_ms) {
        sl__mpw_reset(&c->w);
        sl__msg_empty(&c->w, SL_MSG_HEARTBEAT);
        s_send(c);
    } else if (c->rejoining && sl__mono_ms() - c->hello_ms >= c->heartbeat_ms) {
        s_send_hello(c); // the scheduler may still be down
    }
    s_submit_ready_reduces(c);
    return handled;
}

// ---------------------------------------------------------------------
// Waiting: spin, then sleep.
//
// On a virtual machine a sleeping process's vCPU halts, and waking it
// again for each of the several hops of a round trip costs more than the
// hops themselves (on the development VM a bare ZeroMQ round trip took
// 37 us with busy vCPUs and 75 us with idle ones). So sl_wait polls the
// socket for a while before it sleeps, as MPI's waits do. How long
// adapts the way Linux's haltpoll governor does: a sleep that ended
// within the limit means a longer poll would have caught the message,
// so the poll doubles; a longer sleep means polling was wasted, so it
// halves, down to none. A job of many tasks, whose DONEs come a
// millisecond apart, soon stops spinning; a program making one call
// after another spins through each round trip.

// Spin no longer than this by default ($STARLING_SPIN_US overrides).
#define S_SPIN_MAX_US 500
// The first poll after no polling.
#define S_SPIN_START_US 50

void
sl_client_set_spin(sl_client *c, int max_us)
{
    if (c != NULL) {
        c->spin_max_us = max_us > 0 ? max_us : 0;
        c->spin_us =
            c->spin_max_us < S_SPIN_START_US ? c->spin_max_us : S_SPIN_START_US;
    }
}

// Poll without sleeping for up to c->spin_us. Returns the number of
// messages handled (0: none came).
static int
s_spin(sl_client *c)
{
    if (c->spin_us <= 0) {
        return 0;
    }
    double end = sl__mono() + c->spin_us * 1e-6;
    int handled = 0;
    do {
        handled = s_pump(c, 0);
        if (handled == 0) {
            sched_yield(); // to whatever shares this CPU and has work
        }
    } while (handled == 0 && sl__mono() < end);
    return handled;
}

// After a sleep of slept seconds that followed a fruitless spin.
static void
s_spin_adapt(sl_client *c, double slept)
{
    if (c->spin_max_us <= 0) {
        return;
    }
    if ((c->spin_us + slept * 1e6) <= c->spin_max_us) {
        int grown =
            c->spin_us < S_SPIN_START_US ? S_SPIN_START_US : c->spin_us * 2;
        c->spin_us = grown < c->spin_max_us ? grown : c->spin_max_us;
    } else {
        c->spin_us = c->spin_us / 2 < S_SPIN_START_US ? 0 : c->spin_us / 2;
    }
}

// ---------------------------------------------------------------------
// Connecting.

static sl_err
s_resolve_endpoint(sl_client *c, const char *endpoint,
                   const sl__cluster_info *cluster)
{
    const char *env = getenv("STARLING_SCHEDULER");
    if (endpoint != NULL && endpoint[0] != '\0') {
        sl__strlcpy(c->endpoint, endpoint, sizeof(c->endpoint));
    } else if (env != NULL && env[0] != '\0') {
        sl__strlcpy(c->endpoint, env, sizeof(c->endpoint));
    } else if (cluster != NULL) {
        sl__strlcpy(c->endpoint, cluster->scheduler, sizeof(c->endpoint));
    } else {
        return s_err(c, SL_ENOTFOUND,
                     "no scheduler given, $STARLING_SCHEDULER unset, "
                     "and no local cluster (run `starling up`)");
    }
    return SL_OK;
}

static sl_err
s_keys_set(sl_client *c, const char *client_cert, const char *server_cert,
           const char *what)
{
    bool has_client = client_cert != NULL && client_cert[0] != '\0';
    bool has_server = server_cert != NULL && server_cert[0] != '\0';
    if (has_client != has_server) {
        return s_err(c, SL_EINVAL,
                     "%s: a client certificate and the scheduler's go "
                     "together (give both, or neither)",
                     what);
    }
    sl__strlcpy(c->client_cert, has_client ? client_cert : "",
                sizeof(c->client_cert));
    sl__strlcpy(c->server_cert, has_server ? server_cert : "",
                sizeof(c->server_cert));
    return SL_OK;
}

// The keys to use: those given, else the environment's, else the local
// cluster's when we connect to its scheduler, else none.
static sl_err
s_resolve_keys(sl_client *c, const sl_client_keys *keys,
               const sl__cluster_info *cluster)
{
    const char *env_client = getenv("STARLING_CLIENT_CERT");
    const char *env_server = getenv("STARLING_SERVER_CERT");
    if (keys != NULL) {
        return s_keys_set(c, keys->client_cert, keys->server_cert,
                          "sl_client_keys");
    }
    if ((env_client != NULL && env_client[0] != '\0') ||
        (env_server != NULL && env_server[0] != '\0')) {
        return s_keys_set(c, env_client, env_server,
                          "$STARLING_CLIENT_CERT and $STARLING_SERVER_CERT");
    }
    if (cluster != NULL && strcmp(cluster->scheduler, c->endpoint) == 0) {
        return s_keys_set(c, cluster->client_cert, cluster->server_cert,
                          "cluster.env");
    }
    return SL_OK;
}

static sl_err
s_resolve(sl_client *c, const char *endpoint, const sl_client_keys *keys)
{
    sl__cluster_info *info = calloc(1, sizeof(*info));
    if (info == NULL) {
        return SL_ENOMEM;
    }
    bool have = sl__cluster_read(NULL, info) == SL_OK;
    sl_err rv = s_resolve_endpoint(c, endpoint, have ? info : NULL);
    if (rv == SL_OK) {
        rv = s_resolve_keys(c, keys, have ? info : NULL);
    }
    free(info);
    return rv;
}

// Make the socket a CURVE client when we have keys; watch its handshakes
// either way. Before it connects.
static sl_err
s_curve_start(sl_client *c)
{
    char errbuf[SL_ERRSTR_LEN];
    char server_key[SL_CERT_KEY_LEN + 1];
    zcert_t *cert = NULL;
    sl_err rv;
    if (c->client_cert[0] != '\0') {
        if ((rv = sl__cert_load_secret(&cert, c->client_cert, errbuf)) !=
                SL_OK ||
            (rv = sl__cert_load_public(server_key, c->server_cert, errbuf)) !=
                SL_OK) {
            zcert_destroy(&cert);
            return s_err(c, rv, "%s", errbuf);
        }
        sl__cert_apply_client(c->sock, cert, server_key);
        zcert_destroy(&cert);
    }
    if ((c->monitor = sl__cert_monitor_new(c->sock, "client",
                                           SL_CERT_HANDSHAKE_EVENTS)) == NULL) {
        return s_err(c, SL_ENOMEM, "cannot watch the socket");
    }
    return SL_OK;
}

// Whether the handshake has failed for good: any refusal, or (with CURVE)
// a second silent failure, which a wrong server key gives.
static sl_err
s_handshake_check(sl_client *c, int *silent)
{
    uint16_t event;
    uint32_t value;
    bool curve = c->client_cert[0] != '\0';
    while (sl__cert_monitor_read(c->monitor, &event, &value)) {
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL &&
            (!curve || ++*silent < 2)) {
            continue; // the scheduler restarting, perhaps: wait and see
        }
        char why[256];
        sl__cert_handshake_why(event, value, curve, why, sizeof(why));
        return s_err(c, SL_EAUTH, "cannot join the scheduler at %s: %s%s%s",
                     c->endpoint, why, curve ? "; our key: " : "",
                     curve ? c->client_cert : "");
    }
    return SL_OK;
}

// Try the store the scheduler named, once and briefly: a password it
// refuses is the caller's error now, not a failed task later.
static sl_err
s_store_probe(sl_client *c)
{
    sl__store_opts probe = c->store_opts;
    sl__store *store = NULL;
    char errbuf[SL_ERRSTR_LEN];
    probe.timeout_ms = SL_STORE_PROBE_MS;
    sl_err rv = sl__store_connect(&store, &probe, errbuf);
    sl__store_destroy(&store);
    if (rv == SL_EAUTH) {
        return s_err(c, rv, "%s (the password the scheduler gave)", errbuf);
    }
    return SL_OK;
}

static sl_err
s_hello(sl_client *c)
{
    int silent = 0;
    sl_err rv;
    s_send_hello(c);
    int64_t deadline = sl__mono_ms() + SL_CONNECT_TIMEOUT_MS;
    while (!c->welcomed) {
        int64_t left = deadline - sl__mono_ms();
        if (left <= 0) {
            return s_err(c, SL_ETIMEDOUT,
                         "no answer from the scheduler at %s in %d s%s",
                         c->endpoint, SL_CONNECT_TIMEOUT_MS / 1000,
                         c->client_cert[0] != '\0'
                             ? " (is the scheduler's certificate right?)"
                             : "");
        }
        s_pump(c, (int) (left < 100 ? left : 100));
        if ((rv = s_handshake_check(c, &silent)) != SL_OK) {
            return rv;
        }
    }
    // In: the monitor has done its job.
    sl__cert_monitor_destroy(c->sock, &c->monitor);
    return s_store_probe(c);
}

sl_err
sl_client_connect(sl_client **out, const char *endpoint)
{
    return sl_client_connect_keys(out, endpoint, NULL);
}

sl_err
sl_client_connect_keys(sl_client **out, const char *endpoint,
                       const sl_client_keys *keys)
{
    sl_err rv = SL_ENOMEM;
    sl_client *c = calloc(1, sizeof(*c));
    if (out == NULL) {
        free(c);
        return SL_EINVAL;
    }
    *out = NULL;
    if (c == NULL) {
        return SL_ENOMEM;
    }
    c->limits = sl__limits_default;
    c->heartbeat_ms = 1000;
    const char *spin = getenv("STARLING_SPIN_US");
    sl_client_set_spin(c, spin != NULL && spin[0] != '\0' ? atoi(spin)
                                                          : S_SPIN_MAX_US);
    sl__mpw_init(&c->w);
    if ((rv = s_resolve(c, endpoint, keys)) != SL_OK) {
        goto fail;
    }
    zsys_set_logstream(NULL);
    // A library leaves the program's signals alone: without this, czmq's
    // first socket installs handlers for SIGINT and SIGTERM that only set
    // a flag, and a program that never reads it can no longer be stopped.
    zsys_handler_set(NULL);
    if ((c->sock = zsock_new(ZMQ_DEALER)) == NULL) {
        rv = s_err(c, SL_ENOMEM, "cannot create a socket");
        goto fail;
    }
    // A routing id of our own, so that the scheduler knows us again after
    // a reconnect (a new connection would otherwise be a new client).
    uint8_t rid[16] = {'c'};
    uint64_t r1 = sl__rand64(), r2 = sl__rand64();
    memcpy(rid + 1, &r1, 8);
    memcpy(rid + 9, &r2, 7);
    zmq_setsockopt(zsock_resolve(c->sock), ZMQ_ROUTING_ID, rid, sizeof(rid));
    zsock_set_linger(c->sock, 1000);
    zsock_set_maxmsgsize(c->sock, (int) c->limits.max_message);
    zsock_set_rcvhwm(c->sock, 0);
    zsock_set_sndhwm(c->sock, 0);
    c->raw = zsock_resolve(c->sock);
    if ((rv = s_curve_start(c)) != SL_OK) {
        goto fail;
    }
    if (zsock_connect(c->sock, "%s", c->endpoint) < 0) {
        rv = s_err(c, SL_EINVAL, "cannot connect to %s: %s", c->endpoint,
                   zmq_strerror(zmq_errno()));
        goto fail;
    }
    if ((rv = s_hello(c)) != SL_OK) {
        goto fail;
    }
    *out = c;
    return SL_OK;

fail:
    sl__log_error("%s", c->errstr);
    sl_client_destroy(&c);
    return rv;
}

static void
s_delete_prefix(sl_client *c, const char *prefix)
{
    sl__store *store = NULL;
    if (s_store(c, &store) == SL_OK &&
        sl__store_delete_prefix(store, prefix) != SL_OK) {
        sl__log_warn("cannot free objects %s*: %s", prefix,
                     sl__store_errstr(store));
    }
}

void
sl_client_destroy(sl_client **c_p)
{
    sl_client *c = c_p != NULL ? *c_p : NULL;
    if (c == NULL) {
        return;
    }
    while (c->jobs != NULL) {
        sl_job_release(c, (sl_job){c->jobs->id});
    }
    if (c->put_objects) {
        char prefix[SL_STORE_KEY_LEN];
        sl__store_session_prefix(prefix, c->session);
        s_delete_prefix(c, prefix);
    }
    if (c->welcomed) {
        sl__mpw_reset(&c->w);
        sl__msg_empty(&c->w, SL_MSG_BYE);
        s_send(c);
    }
    while (c->modules != NULL) {
        s_module *m = c->modules;
        c->modules = m->next;
        free(m);
    }
    sl__cert_monitor_destroy(c->sock, &c->monitor);
    zsock_destroy(&c->sock);
    sl__store_destroy(&c->store);
    sl__mpw_fini(&c->w);
    free(c);
    *c_p = NULL;
}

// ---------------------------------------------------------------------
// Submitting.

static sl_job_opts
s_opts(const sl_job_opts *opts)
{
    sl_job_opts o = {0};
    if (opts != NULL) {
        o = *opts;
    }
    return o;
}

static bool
s_is_bulky(const sl_client *c, const sl_value *v)
{
    size_t size = 0;
    switch (sl_value_type(v)) {
    case SL_NDARRAY:
        size = sl_ndarray_nbytes(v);
        break;
    case SL_BYTES:
        sl_value_bytes(v, &size);
        break;
    case SL_STR:
        sl_value_str(v, &size);
        break;
    default:
        return false;
    }
    return size > c->inline_max;
}

// Put v into the store under the job's namespace, and pack a ref to it.
static sl_err
s_pack_stored(sl_client *c, s_job *job, size_t index, const char *name,
              const sl_value *v)
{
    sl__store *store = NULL;
    sl_value *ref = NULL;
    sl_err rv = s_store(c, &store);
    if (rv != SL_OK) {
        return rv;
    }
    char key[SL_STORE_KEY_LEN + 128];
    sl__store_job_prefix(key, job->id);
    size_t len = strlen(key);
    sl__fmt(key + len, sizeof(key) - len, "a%zu.%.100s", index, name);
    job->stored_objects = true;
    if ((rv = sl__store_put_value(store, key, v, false, &ref)) != SL_OK) {
        return s_err(c, rv, "put argument %s of task %zu: %s", name, index,
                     sl__store_errstr(store));
    }
    rv = sl__value_pack(&c->w, ref);
    sl_value_destroy(&ref);
    return rv;
}

// Pack one task's argument. Bulky top-level values (and bulky entries of a
// top-level map) go to the store and travel as refs.
static sl_err
s_pack_arg(sl_client *c, s_job *job, size_t index, const sl_value *arg)
{
    if (arg == NULL) {
        msgpack_pack_nil(&c->w.pk);
        return SL_OK;
    }
    if (s_is_bulky(c, arg)) {
        return s_pack_stored(c, job, index, "arg", arg);
    }
    if (sl_value_type(arg) != SL_MAP) {
        return sl__value_pack(&c->w, arg);
    }
    size_t n = sl_value_map_size(arg);
    msgpack_pack_map(&c->w.pk, n);
    for (size_t i = 0; i < n; i++) {
        const char *key = sl_value_map_key_at(arg, i);
        const sl_value *v = sl_value_map_value_at(arg, i);
        sl__mpw_str(&c->w, key);
        sl_err rv = s_is_bulky(c, v) ? s_pack_stored(c, job, index, key, v)
                                     : sl__value_pack(&c->w, v);
        if (rv != SL_OK) {
            return rv;
        }
    }
    return SL_OK;
}

static sl_err
s_submit(sl_client *c, s_job *job, const char *function,
         const sl__job_opts *wopts, sl_value *const *args)
{
    size_t first = 0;
    if (job->function != function) {
        sl__strlcpy(job->function, function, sizeof(job->function));
    }
    job->opts = *wopts;
    job->epoch = c->epoch;
    while (first < job->n) {
        size_t count =
            job->n - first < SL_CHUNK_TASKS ? job->n - first : SL_CHUNK_TASKS;
        // Pack args into a scratch buffer first: the chunk may end early
        // when it grows past SL_CHUNK_BYTES.
        sl__mpw_reset(&c->w);
        size_t i = 0;
        for (; i < count && c->w.buf.size < SL_CHUNK_BYTES; i++) {
            sl_err rv = s_pack_arg(c, job, first + i, args[first + i]);
            if (rv != SL_OK) {
                return rv == SL_EINVAL ? s_err(c, rv,
                                               "argument of task %zu nests "
                                               "deeper than the limit",
                                               first + i)
                                       : rv;
            }
        }
        // The packed arguments become the chunk's, kept for resubmission.
        s_chunk *ch = s_job_add_chunk(job, first, (uint32_t) i, &c->w);
        s_send_chunk(c, job, ch, NULL);
        first += i;
    }
    return SL_OK;
}

static sl_err
s_map(sl_client *c, const char *function, sl_value *const *args, size_t n,
      const sl_job_opts *opts, s_job **job_out)
{
    if (c == NULL || function == NULL || (n > 0 && args == NULL) || n == 0) {
        return c != NULL ? s_err(c, SL_EINVAL,
                                 "map needs a function and at "
                                 "least one task")
                         : SL_EINVAL;
    }
    char fn[SL_FUNCTION_MAX];
    sl_err rv = s_function_resolve(c, function, fn);
    if (rv != SL_OK) {
        return rv;
    }
    if (n > c->limits.max_job_tasks) {
        return s_err(c, SL_ELIMIT, "a job has at most %" PRIu64 " tasks",
                     c->limits.max_job_tasks);
    }
    sl_job_opts o = s_opts(opts);
    sl__job_opts wopts = {
        (uint32_t) (o.time_limit_ms > 0 ? o.time_limit_ms : 0),
        (uint32_t) (o.max_attempts > 0 ? o.max_attempts : 3),
        (uint32_t) (o.priority > 0 ? o.priority : 0), o.flags};
    s_job *job = s_job_new(c, n);
    if (job == NULL) {
        return s_err(c, SL_ENOMEM, "out of memory for a job of %zu tasks", n);
    }
    rv = s_submit(c, job, fn, &wopts, args);
    if (rv != SL_OK) {
        // Whatever chunks went out are cancelled; the job is forgotten.
        sl__mpw_reset(&c->w);
        sl__msg_job(&c->w, SL_MSG_CANCEL, job->id);
        s_send(c);
        s_job_unlink(c, job);
        s_job_free(&job);
        return rv;
    }
    *job_out = job;
    return SL_OK;
}

sl_err
sl_map(sl_client *c, const char *function, sl_value *const *args, size_t n,
       const sl_job_opts *opts, sl_job *job_out)
{
    s_job *job;
    sl_err rv = s_map(c, function, args, n, opts, &job);
    if (rv == SL_OK) {
        job_out->id = job->id;
        s_pump(c, 0);
    }
    return rv;
}

sl_err
sl_call_async(sl_client *c, const char *function, const sl_value *arg,
              const sl_job_opts *opts, sl_job *job_out)
{
    sl_value *args[1] = {(sl_value *) arg};
    return sl_map(c, function, args, 1, opts, job_out);
}

sl_err
sl_map_reduce(sl_client *c, const char *map_function, sl_value *const *args,
              size_t n, const char *reduce_function, const sl_job_opts *opts,
              sl_job *job_out)
{
    char reduce_fn[SL_FUNCTION_MAX];
    if (c == NULL || reduce_function == NULL) {
        return c != NULL ? s_err(c, SL_EINVAL, "bad reduce function name")
                         : SL_EINVAL;
    }
    sl_err rv = s_function_resolve(c, reduce_function, reduce_fn);
    if (rv != SL_OK) {
        return rv;
    }
    s_job *map;
    if ((rv = s_map(c, map_function, args, n, opts, &map)) != SL_OK) {
        return rv;
    }
    s_job *reduce = s_job_new(c, 1);
    if (reduce == NULL) {
        return s_err(c, SL_ENOMEM, "out of memory");
    }
    sl_job_opts o = s_opts(opts);
    reduce->held = true;
    reduce->map_id = map->id;
    sl__strlcpy(reduce->function, reduce_fn, sizeof(reduce->function));
    reduce->opts =
        (sl__job_opts){(uint32_t) (o.time_limit_ms > 0 ? o.time_limit_ms : 0),
                       (uint32_t) (o.max_attempts > 0 ? o.max_attempts : 3),
                       (uint32_t) (o.priority > 0 ? o.priority : 0), o.flags};
    job_out->id = reduce->id;
    s_pump(c, 0);
    return SL_OK;
}

// The reduce's argument: {"values": [each map result, in order]}.
static sl_value *
s_reduce_arg(const s_job *map)
{
    sl_value *list = sl_value_new_list();
    sl_value *arg = sl_value_new_map();
    for (size_t i = 0; list != NULL && i < map->n; i++) {
        const sl_value *v = map->results[i].value;
        sl_value *item = v != NULL ? sl_value_copy(v) : sl_value_new_nil();
        if (item == NULL || sl_value_list_append(list, &item) != SL_OK) {
            sl_value_destroy(&item);
            sl_value_destroy(&list);
        }
    }
    if (list == NULL || arg == NULL ||
        sl_value_map_set(arg, "values", &list) != SL_OK) {
        sl_value_destroy(&list);
        sl_value_destroy(&arg);
    }
    return arg;
}

static void
s_submit_reduce(sl_client *c, s_job *reduce, s_job *map)
{
    for (size_t i = 0; i < map->n; i++) {
        const sl_result *r = &map->results[i].pub;
        if (r->status != SL_TASK_OK) {
            char text[SL_ERRSTR_LEN];
            sl__fmt(text, sizeof(text), "map task %zu did not succeed: %s", i,
                    r->error != NULL ? r->error : "no result");
            s_job_fail(reduce, SL_TASK_FAILED, text);
            return;
        }
    }
    sl_value *arg = s_reduce_arg(map);
    if (arg == NULL) {
        s_job_fail(reduce, SL_TASK_FAILED, "out of memory for the reduce");
        return;
    }
    sl_value *args[1] = {arg};
    reduce->submitted = sl__mono();
    if (s_submit(c, reduce, reduce->function, &reduce->opts, args) != SL_OK) {
        s_job_fail(reduce, SL_TASK_FAILED, c->errstr);
    }
    sl_value_destroy(&arg);
}

static void
s_submit_ready_reduces(sl_client *c)
{
    for (s_job *job = c->jobs; job != NULL; job = job->next) {
        if (!job->held) {
            continue;
        }
        s_job *map = s_job_find(c, job->map_id);
        if (map == NULL) {
            job->held = false;
            s_job_fail(job, SL_TASK_FAILED, "its map job was released");
        } else if (map->done == map->n) {
            job->held = false;
            s_submit_reduce(c, job, map);
        }
    }
}

// ---------------------------------------------------------------------
// Waiting and results.

static bool
s_all_done(const sl_client *c, const sl_job *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const s_job *job = s_job_find(c, jobs[i].id);
        if (job != NULL && job->done < job->n) {
            return false;
        }
    }
    return true;
}

static size_t
s_done_sum(const sl_client *c, const sl_job *jobs, size_t n)
{
    size_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        const s_job *job = s_job_find(c, jobs[i].id);
        sum += job != NULL ? job->done : 0;
    }
    return sum;
}

sl_err
sl_wait(sl_client *c, const sl_job *jobs, size_t n_jobs, sl_wait_mode mode,
        int timeout_ms)
{
    if (c == NULL || (n_jobs > 0 && jobs == NULL)) {
        return SL_EINVAL;
    }
    for (size_t i = 0; i < n_jobs; i++) {
        if (s_job_find(c, jobs[i].id) == NULL) {
            return s_err(c, SL_ENOTFOUND, "unknown or released job %016" PRIx64,
                         jobs[i].id);
        }
    }
    size_t start = s_done_sum(c, jobs, n_jobs);
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : sl__mono_ms() + timeout_ms;
    s_pump(c, 0);
    for (;;) {
        if (s_all_done(c, jobs, n_jobs) || mode == SL_ALWAYS ||
            (mode == SL_ANY_COMPLETED && s_done_sum(c, jobs, n_jobs) > start)) {
            return SL_OK;
        }
        int64_t left = deadline - sl__mono_ms();
        if (left <= 0) {
            return SL_ETIMEDOUT;
        }
        if (s_spin(c) == 0) {
            double slept = sl__mono();
            s_pump(c, (int) (left < c->heartbeat_ms ? left : c->heartbeat_ms));
            s_spin_adapt(c, sl__mono() - slept);
        }
    }
}

sl_err
sl_job_cancel(sl_client *c, sl_job job)
{
    s_job *j = c != NULL ? s_job_find(c, job.id) : NULL;
    if (j == NULL) {
        return SL_ENOTFOUND;
    }
    if (j->held) {
        j->held = false;
        s_job_fail(j, SL_TASK_CANCELLED, "cancelled by the client");
        return SL_OK;
    }
    sl__mpw_reset(&c->w);
    sl__msg_job(&c->w, SL_MSG_CANCEL, job.id);
    s_send(c);
    return SL_OK;
}

size_t
sl_job_size(const sl_client *c, sl_job job)
{
    const s_job *j = c != NULL ? s_job_find(c, job.id) : NULL;
    return j != NULL ? j->n : 0;
}

size_t
sl_job_done(const sl_client *c, sl_job job)
{
    const s_job *j = c != NULL ? s_job_find(c, job.id) : NULL;
    return j != NULL ? j->done : 0;
}

const sl_result *
sl_job_result(const sl_client *c, sl_job job, size_t i)
{
    const s_job *j = c != NULL ? s_job_find(c, job.id) : NULL;
    return j != NULL && i < j->n ? &j->results[i].pub : NULL;
}

sl_err
sl_job_value(sl_client *c, sl_job job, size_t i, const sl_value **out)
{
    s_job *j = c != NULL ? s_job_find(c, job.id) : NULL;
    if (j == NULL || i >= j->n) {
        return SL_ENOTFOUND;
    }
    s_result *r = &j->results[i];
    if (r->pub.status == SL_TASK_PENDING) {
        return SL_ENOTREADY;
    }
    if (r->pub.status != SL_TASK_OK) {
        return s_err(c, SL_EKERNEL, "task %zu: %s", i,
                     r->pub.error != NULL ? r->pub.error : "failed");
    }
    if (r->value == NULL && (r->value = sl_value_new_nil()) == NULL) {
        return SL_ENOMEM;
    }
    if (sl_value_type(r->value) == SL_REF && !r->fetched) {
        sl_value *got = NULL;
        sl_err rv = sl_get(c, r->value, &got);
        if (rv != SL_OK) {
            return rv;
        }
        sl_value_destroy(&r->value);
        r->value = got;
        r->fetched = true;
    }
    *out = r->value;
    return SL_OK;
}

sl_err
sl_job_stats_get(const sl_client *c, sl_job job, sl_job_stats *out)
{
    const s_job *j = c != NULL ? s_job_find(c, job.id) : NULL;
    if (j == NULL || out == NULL) {
        return SL_ENOTFOUND;
    }
    memset(out, 0, sizeof(*out));
    out->tasks = j->n;
    out->done = j->done;
    for (size_t i = 0; i < j->n; i++) {
        const sl_result *r = &j->results[i].pub;
        if (r->status == SL_TASK_PENDING) {
            continue;
        }
        out->ok += r->status == SL_TASK_OK;
        out->failed += r->status != SL_TASK_OK;
        out->retried += r->attempts > 1;
        out->task_s += r->end_s > r->start_s ? r->end_s - r->start_s : 0;
        out->flops += r->flops;
        out->bytes_read += r->bytes_read;
        out->bytes_written += r->bytes_written;
    }
    double end = j->done == j->n ? j->finished : sl__mono();
    out->wall_s = end > j->submitted ? end - j->submitted : 0;
    if (out->wall_s > 0) {
        out->tasks_per_s = (double) out->done / out->wall_s;
        out->gflops = out->flops / out->wall_s / 1e9;
    }
    return SL_OK;
}

void
sl_job_release(sl_client *c, sl_job job)
{
    s_job *j = c != NULL ? s_job_find(c, job.id) : NULL;
    if (j == NULL) {
        return;
    }
    if (j->done < j->n && !j->held) {
        sl_job_cancel(c, job);
    }
    if (j->stored_objects) {
        char prefix[SL_STORE_KEY_LEN];
        sl__store_job_prefix(prefix, j->id);
        s_delete_prefix(c, prefix);
    }
    s_job_unlink(c, j);
    s_job_free(&j);
}

sl_err
sl_cluster_status_get(sl_client *c, sl_cluster_status *out)
{
    if (c == NULL || out == NULL) {
        return SL_EINVAL;
    }
    c->got_status = false;
    sl__mpw_reset(&c->w);
    sl__msg_empty(&c->w, SL_MSG_STATUS);
    s_send(c);
    int64_t deadline = sl__mono_ms() + SL_CONNECT_TIMEOUT_MS;
    while (!c->got_status) {
        int64_t left = deadline - sl__mono_ms();
        if (left <= 0) {
            return s_err(c, SL_ETIMEDOUT, "no status from the scheduler at %s",
                         c->endpoint);
        }
        s_pump(c, (int) (left < 100 ? left : 100));
    }
    out->workers = c->status.workers;
    out->slots = c->status.slots;
    out->busy = c->status.busy;
    out->queued = c->status.queued;
    out->running = c->status.running;
    out->done = c->status.done;
    out->jobs = c->status.jobs;
    out->tasks_per_s = c->status.tasks_per_s;
    out->gflops = c->status.gflops;
    out->uptime_s = c->status.uptime_s;
    return SL_OK;
}
