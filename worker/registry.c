// registry.c - the worker's kernels by "module.kernel" name, the check of
// task arguments against kernel signatures, and the call of a kernel.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - The registry is a flat array of (module, kernel) pairs in registration
//   order. A worker has a few dozen kernels, so a linear lookup costs less
//   than hashing the name would.
// - sl__registry_add validates a whole module before it changes anything,
//   so a rejected module leaves the registry as it was. It may move the
//   array: it must not run while slot threads look kernels up.
// - Signatures stay strings (the ABI's form) and are parsed on each check
//   into a table on the stack, without allocating: well under a
//   microsecond for dgemm's seven arguments. Registration parses each one
//   first, so at run time a bad signature can only come from a caller of
//   sl__signature_check that skipped the registry.
#include "registry.h"

#include <assert.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

// Longest argument name a signature may declare, and most arguments.
#define S_NAME_MAX 64
#define S_MAX_PARAMS 32
// A declared type that accepts every value.
#define S_ANY (-1)

typedef struct {
    const sl_module_def *module; // the module the kernel came with
    const sl_kernel_def *kernel; // borrowed from module
} s_entry;

struct sl__registry {
    s_entry *entries; // every kernel, in registration order
    size_t n;         // entries in use
    size_t cap;       // entries allocated
};

// One "name:type" item of a signature.
typedef struct {
    char name[S_NAME_MAX]; // the argument's name, NUL-terminated
    int type;              // an sl_type, or S_ANY
    bool optional;         // declared with a trailing '?'
} s_param;

// A parsed signature (about 2 KiB, on the stack).
typedef struct {
    s_param params[S_MAX_PARAMS]; // in declaration order
    size_t n;                     // params in use
} s_signature;

// ---------------------------------------------------------------------
// Signatures.

static const struct {
    const char *name; // as written in a signature
    int type;         // an sl_type, or S_ANY
} s_types[] = {
    {"int", SL_INT}, {"float", SL_FLOAT}, {"bool", SL_BOOL},
    {"str", SL_STR}, {"bytes", SL_BYTES}, {"ndarray", SL_NDARRAY},
    {"ref", SL_REF}, {"list", SL_LIST},   {"map", SL_MAP},
    {"any", S_ANY},
};

static const char *
s_type_name(int type)
{
    return type == S_ANY ? "any" : sl_type_name((sl_type) type);
}

// The type named by the len bytes at s, or false when there is none.
static bool
s_type_lookup(const char *s, size_t len, int *type)
{
    for (size_t i = 0; i < sizeof(s_types) / sizeof(s_types[0]); i++) {
        if (strlen(s_types[i].name) == len &&
            memcmp(s_types[i].name, s, len) == 0) {
            *type = s_types[i].type;
            return true;
        }
    }
    return false;
}

// Narrow [*start, *end) past blanks on both sides.
static void
s_trim(const char **start, const char **end)
{
    while (*start < *end && isspace((unsigned char) **start)) {
        (*start)++;
    }
    while (*end > *start && isspace((unsigned char) (*end)[-1])) {
        (*end)--;
    }
}

static bool
s_is_identifier(const char *s, size_t len)
{
    if (len == 0 || !(isalpha((unsigned char) s[0]) || s[0] == '_')) {
        return false;
    }
    for (size_t i = 1; i < len; i++) {
        if (!(isalnum((unsigned char) s[i]) || s[i] == '_')) {
            return false;
        }
    }
    return true;
}

// Copy and check the name of an item.
static sl_err
s_param_name(const char *start, const char *end, s_param *p, char *errbuf)
{
    s_trim(&start, &end);
    size_t len = (size_t) (end - start);
    if (len == 0) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "an argument has no name");
        return SL_EINVAL;
    }
    if (len >= S_NAME_MAX || !s_is_identifier(start, len)) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "bad argument name '%.*s'", (int) len,
                start);
        return SL_EINVAL;
    }
    memcpy(p->name, start, len);
    p->name[len] = '\0';
    return SL_OK;
}

// Read the type of an item, with its optional '?'.
static sl_err
s_param_type(const char *start, const char *end, s_param *p, char *errbuf)
{
    s_trim(&start, &end);
    p->optional = end > start && end[-1] == '?';
    if (p->optional) {
        end--;
        s_trim(&start, &end);
    }
    if (start == end) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "argument '%s' has no type", p->name);
        return SL_EINVAL;
    }
    if (!s_type_lookup(start, (size_t) (end - start), &p->type)) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "argument '%s': unknown type '%.*s'",
                p->name, (int) (end - start), start);
        return SL_EINVAL;
    }
    return SL_OK;
}

// Parse the item at *pos into p and move *pos past it and its comma.
// *pos becomes NULL after the last item.
static sl_err
s_param_next(const char **pos, s_param *p, char *errbuf)
{
    const char *start = *pos;
    const char *comma = strchr(start, ',');
    const char *end = comma != NULL ? comma : start + strlen(start);
    const char *colon = memchr(start, ':', (size_t) (end - start));
    *pos = comma != NULL ? comma + 1 : NULL;
    if (colon == NULL) {
        const char *s = start, *e = end;
        s_trim(&s, &e);
        sl__fmt(errbuf, SL_ERRSTR_LEN,
                s == e ? "an empty item" : "item '%.*s' lacks ':type'",
                (int) (e - s), s);
        return SL_EINVAL;
    }
    sl_err rv = s_param_name(start, colon, p, errbuf);
    return rv != SL_OK ? rv : s_param_type(colon + 1, end, p, errbuf);
}

// True when the signature declares no argument (blank).
static bool
s_signature_empty(const char *signature)
{
    const char *start = signature, *end = signature + strlen(signature);
    s_trim(&start, &end);
    return start == end;
}

// The parameter of sig called name, or NULL.
static const s_param *
s_signature_find(const s_signature *sig, const char *name)
{
    for (size_t i = 0; i < sig->n; i++) {
        if (strcmp(sig->params[i].name, name) == 0) {
            return &sig->params[i];
        }
    }
    return NULL;
}

static sl_err
s_signature_items(const char *signature, s_signature *sig, char *errbuf)
{
    for (const char *pos = signature; pos != NULL; sig->n++) {
        if (sig->n == S_MAX_PARAMS) {
            sl__fmt(errbuf, SL_ERRSTR_LEN, "more than %d arguments",
                    S_MAX_PARAMS);
            return SL_EINVAL;
        }
        s_param *p = &sig->params[sig->n];
        sl_err rv = s_param_next(&pos, p, errbuf);
        if (rv != SL_OK) {
            return rv;
        }
        if (s_signature_find(sig, p->name) != NULL) { // an earlier one
            sl__fmt(errbuf, SL_ERRSTR_LEN, "argument '%s' declared twice",
                    p->name);
            return SL_EINVAL;
        }
    }
    return SL_OK;
}

// Parse the whole signature: every item well formed, no name twice.
static sl_err
s_signature_parse(const char *signature, s_signature *sig, char *errbuf)
{
    char why[SL_ERRSTR_LEN];
    sig->n = 0;
    if (s_signature_empty(signature) ||
        s_signature_items(signature, sig, why) == SL_OK) {
        return SL_OK;
    }
    // The reason first: a long signature may be cut short.
    sl__fmt(errbuf, SL_ERRSTR_LEN, "bad signature: %s, in \"%s\"", why,
            signature);
    return SL_EINVAL;
}

static bool
s_type_accepts(int type, const sl_value *v)
{
    sl_type have = sl_value_type(v);
    if (type == S_ANY || have == (sl_type) type) {
        return true;
    }
    return type == SL_FLOAT && have == SL_INT;
}

// Every key of args must be declared: a typo is an error, not a default.
static sl_err
s_check_unexpected(const char *signature, const s_signature *sig,
                   const sl_value *args, char *errbuf)
{
    for (size_t i = 0; i < sl_value_map_size(args); i++) {
        const char *key = sl_value_map_key_at(args, i);
        if (s_signature_find(sig, key) != NULL) {
            continue;
        }
        if (sig->n == 0) {
            sl__fmt(errbuf, SL_ERRSTR_LEN,
                    "unexpected argument '%s' (takes no arguments)", key);
        } else {
            sl__fmt(errbuf, SL_ERRSTR_LEN,
                    "unexpected argument '%s' (takes %s)", key, signature);
        }
        return SL_EINVAL;
    }
    return SL_OK;
}

// Every declared argument present (unless optional) and of its type.
static sl_err
s_check_declared(const s_signature *sig, const sl_value *args, char *errbuf)
{
    for (size_t i = 0; i < sig->n; i++) {
        const s_param *p = &sig->params[i];
        const sl_value *v = sl_value_map_get(args, p->name);
        if (v == NULL && !p->optional) {
            sl__fmt(errbuf, SL_ERRSTR_LEN, "missing argument '%s'", p->name);
            return SL_EINVAL;
        }
        if (v != NULL && !s_type_accepts(p->type, v)) {
            sl__fmt(errbuf, SL_ERRSTR_LEN, "argument '%s': expected %s, got %s",
                    p->name, s_type_name(p->type),
                    sl_type_name(sl_value_type(v)));
            return SL_EINVAL;
        }
    }
    return SL_OK;
}

sl_err
sl__signature_check(const char *signature, const sl_value *args,
                    char errbuf[SL_ERRSTR_LEN])
{
    s_signature sig;
    if (signature == NULL) {
        return SL_OK;
    }
    sl_err rv = s_signature_parse(signature, &sig, errbuf);
    if (rv != SL_OK) {
        return rv;
    }
    sl_type type = sl_value_type(args);
    if (type != SL_MAP && type != SL_NIL) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "arguments must be a map, got %s",
                sl_type_name(type));
        return SL_EINVAL;
    }
    if ((rv = s_check_unexpected(signature, &sig, args, errbuf)) != SL_OK) {
        return rv;
    }
    return s_check_declared(&sig, args, errbuf);
}

// ---------------------------------------------------------------------
// The registry.

sl__registry *
sl__registry_new(void)
{
    const sl_module_def *builtins[] = {&sl__module_sys, &sl__module_blas,
                                       &sl__module_bench};
    char errbuf[SL_ERRSTR_LEN];
    sl__registry *reg = calloc(1, sizeof(*reg));
    for (size_t i = 0;
         reg != NULL && i < sizeof(builtins) / sizeof(builtins[0]); i++) {
        sl_err rv = sl__registry_add(reg, builtins[i], errbuf);
        assert(rv != SL_EINVAL); // a built-in module is well formed
        if (rv != SL_OK) {
            sl__registry_destroy(&reg);
        }
    }
    return reg;
}

sl__registry *
sl__registry_new_empty(void)
{
    return calloc(1, sizeof(sl__registry));
}

void
sl__registry_destroy(sl__registry **reg_p)
{
    if (*reg_p != NULL) {
        free((*reg_p)->entries);
        free(*reg_p);
        *reg_p = NULL;
    }
}

static bool
s_has_module(const sl__registry *reg, const char *name)
{
    for (size_t i = 0; i < reg->n; i++) {
        if (strcmp(reg->entries[i].module->name, name) == 0) {
            return true;
        }
    }
    return false;
}

// A module or kernel name: non-empty, no '.', which separates the two.
static bool
s_name_ok(const char *name)
{
    return name != NULL && name[0] != '\0' && strchr(name, '.') == NULL;
}

static sl_err
s_check_kernel(const sl_module_def *def, size_t i, char *errbuf)
{
    const sl_kernel_def *k = &def->kernels[i];
    char why[SL_ERRSTR_LEN];
    s_signature sig;
    if (!s_name_ok(k->name)) {
        sl__fmt(errbuf, SL_ERRSTR_LEN,
                "module '%s': kernel %zu has a bad name '%s' (empty or "
                "with '.')",
                def->name, i, k->name != NULL ? k->name : "(null)");
        return SL_EINVAL;
    }
    for (size_t j = 0; j < i; j++) {
        if (strcmp(def->kernels[j].name, k->name) == 0) {
            sl__fmt(errbuf, SL_ERRSTR_LEN,
                    "module '%s': kernel '%s' defined twice", def->name,
                    k->name);
            return SL_EINVAL;
        }
    }
    if (k->fn == NULL) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "kernel %s.%s has no function",
                def->name, k->name);
        return SL_EINVAL;
    }
    if (k->signature != NULL &&
        s_signature_parse(k->signature, &sig, why) != SL_OK) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "kernel %s.%s: %s", def->name, k->name,
                why);
        return SL_EINVAL;
    }
    return SL_OK;
}

static sl_err
s_check_module(const sl__registry *reg, const sl_module_def *def, char *errbuf)
{
    if (def->abi_version != SL_KERNEL_ABI_VERSION) {
        sl__fmt(errbuf, SL_ERRSTR_LEN,
                "module '%s' is built for kernel ABI %d; this worker runs "
                "ABI %d",
                def->name != NULL ? def->name : "(null)", def->abi_version,
                SL_KERNEL_ABI_VERSION);
        return SL_EINVAL;
    }
    if (!s_name_ok(def->name)) {
        sl__fmt(errbuf, SL_ERRSTR_LEN,
                "a module has a bad name '%s' (empty or with '.')",
                def->name != NULL ? def->name : "(null)");
        return SL_EINVAL;
    }
    if (def->kernels == NULL || def->n_kernels == 0) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "module '%s' has no kernels", def->name);
        return SL_EINVAL;
    }
    if (s_has_module(reg, def->name)) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "module '%s' is already registered",
                def->name);
        return SL_EINVAL;
    }
    sl_err rv = SL_OK;
    for (size_t i = 0; i < def->n_kernels && rv == SL_OK; i++) {
        rv = s_check_kernel(def, i, errbuf);
    }
    return rv;
}

static sl_err
s_reserve(sl__registry *reg, size_t more, char *errbuf)
{
    size_t cap = reg->cap != 0 ? reg->cap : 16;
    while (cap - reg->n < more) {
        cap *= 2;
    }
    if (cap == reg->cap) {
        return SL_OK;
    }
    s_entry *entries = realloc(reg->entries, cap * sizeof(*entries));
    if (entries == NULL) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "out of memory");
        return SL_ENOMEM;
    }
    reg->entries = entries;
    reg->cap = cap;
    return SL_OK;
}

sl_err
sl__registry_add(sl__registry *reg, const sl_module_def *def,
                 char errbuf[SL_ERRSTR_LEN])
{
    if (def == NULL) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "no module definition");
        return SL_EINVAL;
    }
    sl_err rv = s_check_module(reg, def, errbuf);
    if (rv == SL_OK) {
        rv = s_reserve(reg, def->n_kernels, errbuf);
    }
    for (size_t i = 0; rv == SL_OK && i < def->n_kernels; i++) {
        reg->entries[reg->n++] = (s_entry){def, &def->kernels[i]};
    }
    return rv;
}

const sl_kernel_def *
sl__registry_find(const sl__registry *reg, const char *name)
{
    const char *dot = name != NULL ? strchr(name, '.') : NULL;
    if (dot == NULL) {
        return NULL;
    }
    size_t module_len = (size_t) (dot - name);
    for (size_t i = 0; i < reg->n; i++) {
        const s_entry *e = &reg->entries[i];
        if (strncmp(e->module->name, name, module_len) == 0 &&
            e->module->name[module_len] == '\0' &&
            strcmp(e->kernel->name, dot + 1) == 0) {
            return e->kernel;
        }
    }
    return NULL;
}

void
sl__registry_each(const sl__registry *reg,
                  void (*fn)(const char *module, const sl_kernel_def *k,
                             void *ctx),
                  void *ctx)
{
    for (size_t i = 0; i < reg->n; i++) {
        fn(reg->entries[i].module->name, reg->entries[i].kernel, ctx);
    }
}

// ---------------------------------------------------------------------
// Running a kernel.

sl_err
sl__kernel_run(const sl_kernel_def *k, sl_task *t)
{
    char errbuf[SL_ERRSTR_LEN];
    assert(k != NULL && k->fn != NULL && t != NULL);
    if (sl__signature_check(k->signature, t->args, errbuf) != SL_OK) {
        sl_task_fail(t, "%s", errbuf);
        return SL_EKERNEL;
    }
    int rc = k->fn(t);
    if (rc == 0 && !t->failed) {
        return SL_OK;
    }
    // A kernel that called sl_task_fail has failed, whatever it returned.
    if (!t->failed || t->error[0] == '\0') {
        sl_task_fail(t, "kernel '%s' failed (returned %d) without a message",
                     k->name, rc);
    }
    sl_value_destroy(&t->result);
    return SL_EKERNEL;
}
