// module_fuzz.c - fuzz what a worker reads about a module before it runs
// one of its kernels: the module definition (sl__registry_add), kernel
// signatures against task arguments (sl__signature_check), module kernel
// names (sl__loader_is_module_function) and the module allow list
// (sl__loader_allow_file).
// SPDX-License-Identifier: MIT
//
// Design notes. The input is a control byte, a text up to the first NUL
// byte and, after it, one encoded value: a task's arguments.
//   control bit 0  the module claims another kernel ABI
//   control bit 1  its last kernel has no function
//   control bit 2  the registry already holds the built-in modules
// The text's lines are the module's name, then a kernel name and its
// signature for each kernel ("-" for none). The same text is also read as
// an allow list, from a memfd, and each line as a kernel name. Oracles,
// each against a model written from the comments of starling/kernel.h,
// worker/registry.h and worker/loader.h rather than from the code:
// - A module is registered exactly when the model accepts it; then every
//   kernel is found as "module.kernel", else the registry is as it was.
// - A signature parses exactly when the model's grammar accepts it, and
//   an argument value passes exactly when the model's check passes it.
// - An allow list loads exactly when every line is blank, a comment, or
//   64 hex digits of either case and perhaps a comment, and then it holds
//   one hash per such line; a refusal names the first bad line.
// - A kernel name is a module's exactly when it is 64 lowercase hex digits
//   and a '/' and more.
// Every error text is terminated inside its buffer and says something.
#define _GNU_SOURCE
#include <ctype.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzzutil.h"
#include "worker/loader.h"
#include "worker/registry.h"

#define S_MAX_LINES 80
#define S_MAX_PARAMS 32 // as kernel signatures allow
#define S_NAME_MAX 64   // a name is shorter than this

static int
s_kernel_fn(sl_task *t)
{
    (void) t;
    return 0;
}

// ---------------------------------------------------------------------
// The model.

typedef struct {
    char name[S_NAME_MAX];
    int type; // an sl_type, or -1 for any
    bool optional;
} s_param;

static bool
s_blank(int ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\v' || ch == '\f' ||
           ch == '\r';
}

static void
s_trim(const char **s, const char **e)
{
    while (*s < *e && s_blank((unsigned char) **s)) {
        (*s)++;
    }
    while (*e > *s && s_blank((unsigned char) (*e)[-1])) {
        (*e)--;
    }
}

static bool
s_ident(const char *s, size_t n)
{
    if (n == 0 || n >= S_NAME_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char) s[i];
        bool alpha =
            (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
        if (!alpha && !(i > 0 && ch >= '0' && ch <= '9')) {
            return false;
        }
    }
    return true;
}

static bool
s_type(const char *s, size_t n, int *type)
{
    static const char *const names[] = {"int", "float", "bool",
                                        "str", "bytes", "ndarray",
                                        "ref", "list",  "map"};
    static const sl_type types[] = {SL_INT, SL_FLOAT, SL_BOOL,
                                    SL_STR, SL_BYTES, SL_NDARRAY,
                                    SL_REF, SL_LIST,  SL_MAP};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (strlen(names[i]) == n && memcmp(names[i], s, n) == 0) {
            *type = (int) types[i];
            return true;
        }
    }
    *type = -1;
    return n == 3 && memcmp(s, "any", 3) == 0;
}

// One "name:type?" item between s and e.
static bool
s_item(const char *s, const char *e, s_param *p)
{
    const char *colon = memchr(s, ':', (size_t) (e - s));
    if (colon == NULL) {
        return false;
    }
    const char *ns = s, *ne = colon, *ts = colon + 1, *te = e;
    s_trim(&ns, &ne);
    s_trim(&ts, &te);
    if (!s_ident(ns, (size_t) (ne - ns))) {
        return false;
    }
    memcpy(p->name, ns, (size_t) (ne - ns));
    p->name[ne - ns] = '\0';
    p->optional = te > ts && te[-1] == '?';
    if (p->optional) {
        te--;
        s_trim(&ts, &te);
    }
    return s_type(ts, (size_t) (te - ts), &p->type);
}

// Parse a signature the way kernel.h describes it: blank, or
// comma-separated items, at most S_MAX_PARAMS, no name twice.
static bool
s_model_signature(const char *sig, s_param *params, size_t *n)
{
    const char *s = sig, *e = sig + strlen(sig);
    *n = 0;
    s_trim(&s, &e);
    if (s == e) {
        return true;
    }
    for (const char *item = sig;; (*n)++) {
        const char *comma = strchr(item, ',');
        const char *end = comma != NULL ? comma : item + strlen(item);
        if (*n == S_MAX_PARAMS || !s_item(item, end, &params[*n])) {
            return false;
        }
        for (size_t j = 0; j < *n; j++) {
            if (strcmp(params[j].name, params[*n].name) == 0) {
                return false;
            }
        }
        if (comma == NULL) {
            (*n)++;
            return true;
        }
        item = comma + 1;
    }
}

// The argument check of registry.h: a map (or nil), nothing undeclared,
// every required argument there, each of its type (float takes int).
static bool
s_model_args(const s_param *params, size_t n, const sl_value *args)
{
    sl_type t = sl_value_type(args);
    if (t != SL_MAP && t != SL_NIL) {
        return false;
    }
    size_t keys = t == SL_MAP ? sl_value_map_size(args) : 0;
    for (size_t i = 0; i < keys; i++) {
        const char *key = sl_value_map_key_at(args, i);
        bool declared = false;
        for (size_t j = 0; j < n && !declared; j++) {
            declared = strcmp(params[j].name, key) == 0;
        }
        if (!declared) {
            return false;
        }
    }
    for (size_t j = 0; j < n; j++) {
        const sl_value *v = NULL;
        for (size_t i = 0; i < keys && v == NULL; i++) {
            if (strcmp(sl_value_map_key_at(args, i), params[j].name) == 0) {
                v = sl_value_map_value_at(args, i);
            }
        }
        if (v == NULL) {
            if (!params[j].optional) {
                return false;
            }
            continue;
        }
        sl_type have = sl_value_type(v);
        if (params[j].type != -1 && have != (sl_type) params[j].type &&
            !(params[j].type == SL_FLOAT && have == SL_INT)) {
            return false;
        }
    }
    return true;
}

static bool
s_name_ok(const char *name)
{
    return name[0] != '\0' && strchr(name, '.') == NULL;
}

static bool
s_is_builtin(const char *name)
{
    return strcmp(name, "sys") == 0 || strcmp(name, "blas") == 0 ||
           strcmp(name, "bench") == 0;
}

// Whether registry.h's checks accept the module.
static bool
s_model_module(const sl_module_def *def, bool builtins)
{
    size_t n;
    s_param params[S_MAX_PARAMS];
    if (def->abi_version != SL_KERNEL_ABI_VERSION || !s_name_ok(def->name) ||
        def->n_kernels == 0 || (builtins && s_is_builtin(def->name))) {
        return false;
    }
    for (size_t i = 0; i < def->n_kernels; i++) {
        const sl_kernel_def *k = &def->kernels[i];
        if (!s_name_ok(k->name) || k->fn == NULL ||
            (k->signature != NULL &&
             !s_model_signature(k->signature, params, &n))) {
            return false;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(def->kernels[j].name, k->name) == 0) {
                return false;
            }
        }
    }
    return true;
}

static bool
s_hex(int ch, bool any_case)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
           (any_case && ch >= 'A' && ch <= 'F');
}

// One allow-list line (with its newline, as getline reads it): 1 for a
// hash, 0 for a blank or a comment, -1 for anything else.
static int
s_model_allow_line(const char *line)
{
    const char *p = line;
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    if (*p == '\0' || *p == '#' || *p == '\n' || *p == '\r') {
        return 0;
    }
    for (int i = 0; i < SL_SHA256_HEX_LEN; i++) {
        if (!s_hex((unsigned char) p[i], true)) {
            return -1;
        }
    }
    p += SL_SHA256_HEX_LEN;
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
        p++;
    }
    return *p == '\0' || *p == '#' ? 1 : -1;
}

// ---------------------------------------------------------------------
// The checks.

static void
s_count(const char *module, const sl_kernel_def *k, void *ctx)
{
    (void) module;
    (void) k;
    (*(size_t *) ctx)++;
}

static size_t
s_registry_size(const sl__registry *reg)
{
    size_t n = 0;
    sl__registry_each(reg, s_count, &n);
    return n;
}

static void
s_check_error(sl_err rv, const char *errbuf)
{
    if (rv != SL_OK) {
        SL_FUZZ_CHECK(sl__fuzz_errbuf_ok(errbuf) && errbuf[0] != '\0');
    }
}

static void
s_check_module(const sl_module_def *def, bool builtins)
{
    char errbuf[SL_ERRSTR_LEN];
    sl__registry *reg =
        builtins ? sl__registry_new() : sl__registry_new_empty();
    SL_FUZZ_CHECK(reg != NULL);
    size_t before = s_registry_size(reg);
    sl_err rv = sl__registry_add(reg, def, errbuf);
    s_check_error(rv, errbuf);
    SL_FUZZ_CHECK((rv == SL_OK) == s_model_module(def, builtins));
    SL_FUZZ_CHECK(s_registry_size(reg) ==
                  before + (rv == SL_OK ? def->n_kernels : 0));
    for (size_t i = 0; rv == SL_OK && i < def->n_kernels; i++) {
        char full[2 * S_NAME_MAX + 1024];
        snprintf(full, sizeof(full), "%s.%s", def->name, def->kernels[i].name);
        SL_FUZZ_CHECK(sl__registry_find(reg, full) == &def->kernels[i]);
    }
    sl__registry_destroy(&reg);
}

static void
s_check_signature(const char *sig, const sl_value *args)
{
    char errbuf[SL_ERRSTR_LEN];
    s_param params[S_MAX_PARAMS];
    size_t n;
    bool valid = s_model_signature(sig, params, &n);
    sl_err rv = sl__signature_check(sig, args, errbuf);
    s_check_error(rv, errbuf);
    SL_FUZZ_CHECK(rv == SL_OK || rv == SL_EINVAL);
    bool bad_sig = rv != SL_OK && strncmp(errbuf, "bad signature: ", 15) == 0;
    SL_FUZZ_CHECK(bad_sig == !valid);
    if (valid) {
        SL_FUZZ_CHECK((rv == SL_OK) == s_model_args(params, n, args));
    }
}

static void
s_check_allow_list(const char *text, char lines[][1024], size_t n_lines)
{
    char errbuf[SL_ERRSTR_LEN], path[64];
    int fd = memfd_create("allow", 0);
    SL_FUZZ_CHECK(fd >= 0);
    size_t len = strlen(text);
    SL_FUZZ_CHECK(write(fd, text, len) == (ssize_t) len);
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    // The model reads the lines as getline does: each with its newline.
    size_t hashes = 0, bad = 0;
    for (size_t i = 0; i < n_lines && bad == 0; i++) {
        char line[1026];
        snprintf(line, sizeof(line), "%s%s", lines[i],
                 i + 1 < n_lines ? "\n" : "");
        int kind = s_model_allow_line(line);
        hashes += kind > 0;
        bad = kind < 0 ? i + 1 : 0;
    }
    sl__loader *loader = sl__loader_new("/nonexistent/module-cache");
    sl_err rv = sl__loader_allow_file(loader, path, errbuf);
    s_check_error(rv, errbuf);
    SL_FUZZ_CHECK((rv == SL_OK) == (bad == 0));
    if (rv == SL_OK) {
        SL_FUZZ_CHECK(sl__loader_allowed(loader) == hashes);
    } else {
        char where[64];
        snprintf(where, sizeof(where), ", line %zu:", bad);
        SL_FUZZ_CHECK(strstr(errbuf, where) != NULL);
        SL_FUZZ_CHECK(sl__loader_allowed(loader) == SIZE_MAX);
    }
    sl__loader_destroy(&loader);
    close(fd);
}

static void
s_check_function_name(const char *name)
{
    size_t len = strlen(name);
    bool model = len > SL_SHA256_HEX_LEN && name[SL_SHA256_HEX_LEN] == '/';
    for (size_t i = 0; model && i < SL_SHA256_HEX_LEN; i++) {
        model = s_hex((unsigned char) name[i], false);
    }
    SL_FUZZ_CHECK(sl__loader_is_module_function(name) == model);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char lines[S_MAX_LINES][1024];
    if (size < 1) {
        return 0;
    }
    uint8_t control = data[0];
    const uint8_t *text = data + 1;
    const uint8_t *nul = memchr(text, '\0', size - 1);
    size_t text_len = nul != NULL ? (size_t) (nul - text) : size - 1;
    if (text_len >= sizeof(lines[0]) * 4) {
        return 0; // long enough; keep the executions fast
    }
    char *whole = malloc(text_len + 1);
    SL_FUZZ_CHECK(whole != NULL);
    memcpy(whole, text, text_len);
    whole[text_len] = '\0';

    // Lines, each cut at 1023 bytes; inputs past S_MAX_LINES are skipped.
    size_t n_lines = 0;
    for (const char *p = whole;; n_lines++) {
        const char *nl = strchr(p, '\n');
        size_t n = nl != NULL ? (size_t) (nl - p) : strlen(p);
        if (n_lines == S_MAX_LINES || n >= sizeof(lines[0])) {
            free(whole);
            return 0;
        }
        memcpy(lines[n_lines], p, n);
        lines[n_lines][n] = '\0';
        if (nl == NULL) {
            n_lines++;
            break;
        }
        p = nl + 1;
    }

    // The module: lines[0] its name, then name and signature per kernel.
    sl_kernel_def kernels[S_MAX_LINES / 2];
    size_t n_kernels = 0;
    for (size_t i = 1; i < n_lines; i += 2, n_kernels++) {
        const char *sig = i + 1 < n_lines ? lines[i + 1] : "-";
        kernels[n_kernels] = (sl_kernel_def){
            lines[i], s_kernel_fn, strcmp(sig, "-") == 0 ? NULL : sig, NULL};
    }
    if (n_kernels > 0 && (control & 2)) {
        kernels[n_kernels - 1].fn = NULL;
    }
    sl_module_def def = {(control & 1) ? SL_KERNEL_ABI_VERSION + 1
                                       : SL_KERNEL_ABI_VERSION,
                         lines[0], kernels, n_kernels};
    s_check_module(&def, (control & 4) != 0);

    // The arguments, against every line taken as a signature.
    sl_value *args = NULL;
    char errbuf[SL_ERRSTR_LEN];
    if (nul != NULL) {
        const uint8_t *a = nul + 1;
        size_t a_len = size - (size_t) (a - data);
        uint8_t *copy = sl__fuzz_dup(a, a_len);
        if (sl__value_decode_buf(copy, a_len, NULL, NULL, &args, errbuf) !=
            SL_OK) {
            args = NULL;
        }
        free(copy);
    }
    if (args == NULL) {
        args = sl_value_new_nil();
    }
    for (size_t i = 0; i < n_lines; i++) {
        s_check_signature(lines[i], args);
        s_check_function_name(lines[i]);
    }
    sl_value_destroy(&args);

    s_check_allow_list(whole, lines, n_lines);
    free(whole);
    return 0;
}
