// objects.c - a client's side of the object store: put and get, modules
// registered by their SHA-256, and arguments too large to travel inline.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - The store connection is made on first use, from what the scheduler's
//   WELCOME said (addresses, password): bulk data never goes through the
//   scheduler.
// - A module is registered by its SHA-256: a TTL refresh (EXPIRE) when the
//   store has it, else one SET NX of its bytes. The client remembers the
//   short names of the modules it registered, and rewrites "name/kernel"
//   into "<sha256>/kernel" before a job leaves: the scheduler and workers
//   know modules by hash only.
// - Top-level arguments larger than the scheduler's inline limit (ndarray,
//   bytes, str) are put into the store under the job's namespace and
//   travel as refs.
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clientimpl.h"

// The largest module a client registers: far above any sane shared object,
// far below what would strain the store.
#define S_MODULE_MAX_BYTES (1u << 30)

// Open the node's tier, if a worker of the cluster on this node made one:
// then large puts stay on the node, and tasks here read them in place.
static void
s_open_tier(sl_client *c)
{
    char errbuf[SL_ERRSTR_LEN], node[SL_NODE_NAME_MAX + 1];
    sl__node_name(node, sizeof(node));
    sl__tier_opts o = {.cluster = c->node.cluster, .node = node};
    sl_err rv = sl__tier_open(&c->tier, &o, errbuf);
    if (rv == SL_OK) {
        c->node.tier = c->tier;
    } else if (rv != SL_ENOTFOUND) {
        sl__log_warn("not using this node's object tier: %s", errbuf);
    }
}

sl_err
sl__client_store(sl_client *c, sl__store **out)
{
    if (c->store == NULL) {
        char errbuf[SL_ERRSTR_LEN];
        if (!c->welcomed) {
            return sl__client_err(c, SL_ECLOSED,
                                  "not connected to a scheduler");
        }
        if (sl__store_connect(&c->store, &c->store_where.opts, errbuf) !=
            SL_OK) {
            return sl__client_err(c, SL_ESTORE, "%s", errbuf);
        }
        if (sl__node_init(&c->node, c->store, NULL) != SL_OK) {
            sl_err rv = sl__client_err(c, SL_ESTORE, "%s", c->node.errstr);
            sl__store_destroy(&c->store);
            return rv;
        }
        s_open_tier(c);
    }
    *out = c->store;
    return SL_OK;
}

sl_err
sl__client_node(sl_client *c, sl__node **out)
{
    sl__store *store;
    sl_err rv = sl__client_store(c, &store);
    *out = rv == SL_OK ? &c->node : NULL;
    return rv;
}

void
sl__client_delete_prefix(sl_client *c, const char *prefix)
{
    sl__node *node = NULL;
    if (sl__client_node(c, &node) == SL_OK &&
        sl__node_delete_prefix(node, prefix) != SL_OK) {
        sl__log_warn("cannot free objects %s*: %s", prefix, node->errstr);
    }
}

sl_err
sl_put(sl_client *c, const sl_value *v, sl_value **ref_out)
{
    sl__node *node = NULL;
    sl_err rv;
    if (c == NULL || v == NULL || ref_out == NULL) {
        return SL_EINVAL;
    }
    if ((rv = sl__client_node(c, &node)) != SL_OK) {
        return rv;
    }
    char key[SL_STORE_KEY_LEN];
    sl__store_object_key(key, c->session, ++c->put_seq);
    c->put_objects = true;
    if ((rv = sl__node_put_value(node, key, v, 0, ref_out)) != SL_OK) {
        return sl__client_err(c, rv, "%s", node->errstr);
    }
    return SL_OK;
}

sl_err
sl_delete(sl_client *c, const sl_value *ref)
{
    sl__node *node = NULL;
    char prefix[SL_STORE_KEY_LEN];
    if (c == NULL || sl_value_type(ref) != SL_REF) {
        return SL_EINVAL;
    }
    sl_err rv = sl__client_node(c, &node);
    if (rv != SL_OK) {
        return rv;
    }
    // Only this session's puts: a job's objects go with the job.
    sl__store_session_prefix(prefix, c->session);
    const char *key = sl_ref_key(ref);
    if (strncmp(key, prefix, strlen(prefix)) != 0) {
        return sl__client_err(c, SL_EINVAL,
                              "delete %s: not an object this client put", key);
    }
    if ((rv = sl__node_delete(node, key)) != SL_OK) {
        return sl__client_err(c, rv, "delete %s: %s", key, node->errstr);
    }
    return SL_OK;
}

sl_err
sl_cluster_tiers_get(sl_client *c, sl_node_tier *out, size_t max, size_t *n)
{
    sl__node *node = NULL;
    if (c == NULL || n == NULL || (out == NULL && max > 0)) {
        return SL_EINVAL;
    }
    sl_err rv = sl__client_node(c, &node);
    if (rv != SL_OK) {
        return rv;
    }
    sl__node_tier *t = max > 0 ? calloc(max, sizeof(*t)) : NULL;
    if (max > 0 && t == NULL) {
        return sl__client_err(c, SL_ENOMEM, "out of memory");
    }
    if ((rv = sl__node_tiers(node, t, max, n, 10)) != SL_OK) {
        free(t);
        return sl__client_err(c, rv, "object tiers: %s", node->errstr);
    }
    for (size_t i = 0; i < max && i < *n; i++) {
        sl__strlcpy(out[i].node, t[i].node, sizeof(out[i].node));
        out[i].objects = t[i].objects;
        out[i].bytes = t[i].bytes;
        out[i].budget = t[i].budget;
        out[i].reported_s = (double) t[i].reported_s;
    }
    free(t);
    return SL_OK;
}

sl_value *
sl_value_new_ndarray_shared(sl_client *c, sl_dtype dtype, int ndim,
                            const int64_t *shape)
{
    sl__node *node = NULL;
    sl_value *v = NULL;
    if (c != NULL && sl__client_node(c, &node) == SL_OK && node->tier != NULL) {
        v = sl__value_new_ndarray_with(dtype, ndim, shape,
                                       sl__node_alloc_ndarray, node);
    }
    return v != NULL ? v : sl_value_new_ndarray(dtype, ndim, shape, NULL);
}

sl_err
sl_get(sl_client *c, const sl_value *ref, sl_value **out)
{
    sl__node *node = NULL;
    sl_err rv;
    if (c == NULL || sl_value_type(ref) != SL_REF || out == NULL) {
        return SL_EINVAL;
    }
    if ((rv = sl__client_node(c, &node)) != SL_OK) {
        return rv;
    }
    if ((rv = sl__node_get_value(node, ref, &c->limits, out)) != SL_OK) {
        return sl__client_err(c, rv, "get %s: %s", sl_ref_key(ref),
                              node->errstr);
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
        return sl__client_err(c, errno == ENOENT ? SL_EINVAL : SL_EIO,
                              "module %s: %s", path, strerror(errno));
    }
    sl_err rv = SL_OK;
    uint8_t *buf = NULL;
    size_t got = 0;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 4 ||
        (uint64_t) st.st_size > S_MODULE_MAX_BYTES) {
        rv = sl__client_err(c, SL_EINVAL,
                            "module %s: not a regular file of 4 bytes to 1 GiB",
                            path);
    } else if ((buf = malloc((size_t) st.st_size)) == NULL) {
        rv = sl__client_err(c, SL_ENOMEM, "module %s: out of memory", path);
    }
    while (rv == SL_OK && got < (size_t) st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t) st.st_size - got);
        if (n <= 0 && !(n < 0 && errno == EINTR)) {
            rv = sl__client_err(c, SL_EIO, "module %s: cannot read it: %s",
                                path, n == 0 ? "it shrank" : strerror(errno));
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
    sl__client_module *m = c->modules;
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
    sl_err rv = sl__client_store(c, &store);
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
        return sl__client_err(c, rv, "module %s: %s", mod->name,
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
        return c != NULL ? sl__client_err(c, SL_EINVAL, "register needs a path")
                         : SL_EINVAL;
    }
    sl_err rv = s_read_file(c, path, &buf, &len);
    if (rv != SL_OK) {
        return rv;
    }
    static const char elf_magic[4] = {0x7f, 'E', 'L', 'F'};
    if (memcmp(buf, elf_magic, sizeof(elf_magic)) != 0) {
        free(buf);
        return sl__client_err(c, SL_EINVAL,
                              "module %s: not a shared object (no ELF header)",
                              path);
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

// A hash in capitals is made small; anything that names no module stays
// as it is.
sl_err
sl__client_function_resolve(sl_client *c, const char *function,
                            char out[SL_FUNCTION_MAX])
{
    const char *slash = strchr(function, '/');
    size_t len = slash != NULL ? (size_t) (slash - function) : 0;
    bool hex = len == SL_SHA256_HEX_LEN;
    for (size_t i = 0; hex && i < len; i++) {
        hex = isxdigit((unsigned char) function[i]) != 0;
    }
    const char *hash = NULL;
    for (sl__client_module *m = c->modules; !hex && slash != NULL && m != NULL;
         m = m->next) {
        if (strlen(m->name) == len && memcmp(m->name, function, len) == 0) {
            hash = m->hash;
        }
    }
    if (slash != NULL && !hex && hash == NULL) {
        return sl__client_err(
            c, SL_ENOTFOUND,
            "unknown module '%.*s' in '%s': register it with "
            "sl_module_register first, or name it by its SHA-256",
            (int) len, function, function);
    }
    size_t total =
        hash != NULL ? strlen(hash) + strlen(slash) : strlen(function);
    if (total == 0 || total >= SL_FUNCTION_MAX) {
        return sl__client_err(c, SL_EINVAL,
                              "function name must be 1 to 255 bytes");
    }
    sl__fmt(out, SL_FUNCTION_MAX, "%s%s", hash != NULL ? hash : function,
            hash != NULL ? slash : "");
    for (size_t i = 0; hex && i < len; i++) {
        out[i] = (char) tolower((unsigned char) out[i]);
    }
    return SL_OK;
}

// ---------------------------------------------------------------------
// Arguments.

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
s_pack_stored(sl_client *c, sl__client_job *job, size_t index, const char *name,
              const sl_value *v)
{
    sl__node *node = NULL;
    sl_value *ref = NULL;
    sl_err rv = sl__client_node(c, &node);
    if (rv != SL_OK) {
        return rv;
    }
    char key[SL_STORE_KEY_LEN + 128];
    sl__store_job_prefix(key, job->id);
    size_t len = strlen(key);
    sl__fmt(key + len, sizeof(key) - len, "a%zu.%.100s", index, name);
    job->stored_objects = true;
    if ((rv = sl__node_put_value(node, key, v, 0, &ref)) != SL_OK) {
        return sl__client_err(c, rv, "put argument %s of task %zu: %s", name,
                              index, node->errstr);
    }
    rv = sl__value_pack(&c->w, ref);
    sl_value_destroy(&ref);
    return rv;
}

sl_err
sl__client_pack_arg(sl_client *c, sl__client_job *job, size_t index,
                    const sl_value *arg)
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
