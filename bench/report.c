// report.c - the results of a benchmark run: human lines, JSON objects,
// CSV rows, and a table at the end.
// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define S_MAX_RESULTS 256

// A result as recorded: owns copies of its strings.
typedef struct {
    sl__bench_result r; // its strings point into the fields below
    char benchmark[32]; // copy of r.benchmark
    char metric[64];    // of r.metric
    char unit[32];      // of r.unit
    char settings[512]; // of r.settings
} s_row;

struct sl__bench_report {
    FILE *csv;                 // appended to, or NULL
    bool json;                 // JSON on stdout, humans on stderr
    char timestamp[32];        // the run's start, ISO 8601 UTC
    s_row rows[S_MAX_RESULTS]; // every result, for the table
    int n_rows;                // in use
};

// ---------------------------------------------------------------------
// Formatting.

static bool
s_has_ratio(const sl__bench_result *r)
{
    return isfinite(r->baseline) && r->baseline != 0 && isfinite(r->value);
}

static double
s_ratio(const sl__bench_result *r)
{
    return s_has_ratio(r) ? r->value / r->baseline : NAN;
}

// "ratio >= 0.97", "value <= 100", or "".
static void
s_target_text(const sl__bench_result *r, char *buf, size_t len)
{
    static const char *what[] = {
        "", "value >=", "value <=", "ratio >=", "ratio <="};
    if (r->goal == SL__BENCH_NO_TARGET) {
        buf[0] = '\0';
        return;
    }
    sl__fmt(buf, len, "%s %.10g", what[r->goal], r->target);
}

// "PASS", "MISS", or "" when there is no target (or nothing to compare).
static const char *
s_verdict(const sl__bench_result *r)
{
    double ratio = s_ratio(r);
    switch (r->goal) {
    case SL__BENCH_VALUE_GE:
        return r->value >= r->target ? "PASS" : "MISS";
    case SL__BENCH_VALUE_LE:
        return r->value <= r->target ? "PASS" : "MISS";
    case SL__BENCH_RATIO_GE:
        return isnan(ratio) ? "" : ratio >= r->target ? "PASS" : "MISS";
    case SL__BENCH_RATIO_LE:
        return isnan(ratio) ? "" : ratio <= r->target ? "PASS" : "MISS";
    default:
        return "";
    }
}

// A number for people: about four significant digits, no exponent for
// the sizes we measure.
static void
s_num(char *buf, size_t len, double v)
{
    double a = fabs(v);
    if (!isfinite(v)) {
        sl__fmt(buf, len, "-");
    } else if (a >= 1000) {
        sl__fmt(buf, len, "%.0f", v);
    } else if (a >= 100) {
        sl__fmt(buf, len, "%.1f", v);
    } else if (a >= 1 || a == 0) {
        sl__fmt(buf, len, "%.2f", v);
    } else {
        sl__fmt(buf, len, "%.3g", v);
    }
}

// A number for files: exact enough to plot, "" when there is none.
static void
s_num_exact(char *buf, size_t len, double v)
{
    if (isfinite(v)) {
        sl__fmt(buf, len, "%.6g", v);
    } else {
        buf[0] = '\0';
    }
}

// ---------------------------------------------------------------------
// The three outputs.

static void
s_print_human(const sl__bench_report *rep, const sl__bench_result *r)
{
    char num[32], value[48], base[48], ratio[32], target[48];
    s_num(num, sizeof(num), r->value);
    sl__fmt(value, sizeof(value), "%s %s", num, r->unit);
    s_num(num, sizeof(num), r->baseline);
    sl__fmt(base, sizeof(base), "%s %s", num,
            isfinite(r->baseline) ? r->unit : "");
    s_num(ratio, sizeof(ratio), s_ratio(r));
    s_target_text(r, target, sizeof(target));
    fprintf(sl__bench_report_out(rep),
            "  %-12s %-34s %16s  baseline %16s  ratio %6s  %-15s %s\n",
            r->benchmark, r->metric, value, base, ratio, target, s_verdict(r));
    fflush(sl__bench_report_out(rep));
}

// Write s as a JSON string body (the caller writes the quotes).
static void
s_json_escape(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            fprintf(f, "\\%c", *p);
        } else if (*p < 0x20) {
            fprintf(f, "\\u%04x", *p);
        } else {
            fputc(*p, f);
        }
    }
}

static void
s_json_number(FILE *f, double v)
{
    if (isfinite(v)) {
        fprintf(f, "%.6g", v);
    } else {
        fprintf(f, "null");
    }
}

// "a=1;b=x" as {"a": 1, "b": "x"}: numbers stay numbers.
static void
s_json_settings(FILE *f, const char *settings)
{
    char *copy = strdup(settings != NULL ? settings : "");
    char *save = NULL;
    bool first = true;
    fputc('{', f);
    for (char *kv = strtok_r(copy, ";", &save); copy != NULL && kv != NULL;
         kv = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(kv, '=');
        const char *v = eq != NULL ? eq + 1 : "";
        if (eq != NULL) {
            *eq = '\0';
        }
        char *end = NULL;
        strtod(v, &end);
        fprintf(f, "%s\"", first ? "" : ", ");
        s_json_escape(f, kv);
        fprintf(f, "\": ");
        if (v[0] != '\0' && *end == '\0') {
            fprintf(f, "%s", v);
        } else {
            fputc('"', f);
            s_json_escape(f, v);
            fputc('"', f);
        }
        first = false;
    }
    fputc('}', f);
    free(copy);
}

static void
s_print_json(const sl__bench_report *rep, const sl__bench_result *r)
{
    char target[48];
    const char *verdict = s_verdict(r);
    s_target_text(r, target, sizeof(target));
    printf("{\"timestamp\": \"%s\", \"benchmark\": \"", rep->timestamp);
    s_json_escape(stdout, r->benchmark);
    printf("\", \"metric\": \"");
    s_json_escape(stdout, r->metric);
    printf("\", \"value\": ");
    s_json_number(stdout, r->value);
    printf(", \"baseline\": ");
    s_json_number(stdout, r->baseline);
    printf(", \"ratio\": ");
    s_json_number(stdout, s_ratio(r));
    printf(", \"unit\": \"");
    s_json_escape(stdout, r->unit);
    printf("\", \"target\": %s%s%s, \"met\": %s, \"settings\": ",
           target[0] ? "\"" : "", target[0] ? target : "null",
           target[0] ? "\"" : "",
           verdict[0] == '\0'             ? "null"
           : strcmp(verdict, "PASS") == 0 ? "true"
                                          : "false");
    s_json_settings(stdout, r->settings);
    printf("}\n");
    fflush(stdout);
}

static void
s_write_csv(const sl__bench_report *rep, const sl__bench_result *r)
{
    char value[32], base[32], ratio[32], target[48];
    if (rep->csv == NULL) {
        return;
    }
    s_num_exact(value, sizeof(value), r->value);
    s_num_exact(base, sizeof(base), r->baseline);
    s_num_exact(ratio, sizeof(ratio), s_ratio(r));
    s_target_text(r, target, sizeof(target));
    fprintf(rep->csv, "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n", rep->timestamp,
            r->benchmark, r->metric, value, base, ratio, r->unit,
            r->settings != NULL ? r->settings : "", target, s_verdict(r));
    fflush(rep->csv);
}

// ---------------------------------------------------------------------
// The report.

// mkdir -p the directory part of path.
static void
s_mkdir_parent(const char *path)
{
    char dir[1024];
    sl__strlcpy(dir, path, sizeof(dir));
    char *slash = strrchr(dir, '/');
    if (slash == NULL) {
        return;
    }
    *slash = '\0';
    for (char *p = dir + 1; *p != '\0'; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(dir, 0755);
            *p = '/';
        }
    }
    mkdir(dir, 0755);
}

static sl_err
s_open_csv(sl__bench_report *rep, const char *path, char *errbuf)
{
    s_mkdir_parent(path);
    rep->csv = fopen(path, "a");
    if (rep->csv == NULL) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot open %s: %s", path,
                strerror(errno));
        return SL_EIO;
    }
    if (ftell(rep->csv) == 0) {
        fprintf(rep->csv, "timestamp,benchmark,metric,value,baseline,ratio,"
                          "unit,settings,target,met\n");
    }
    return SL_OK;
}

sl_err
sl__bench_report_new(sl__bench_report **out, const char *csv_path, bool json,
                     char errbuf[SL_ERRSTR_LEN])
{
    sl__bench_report *rep = calloc(1, sizeof(*rep));
    if (rep == NULL) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "out of memory");
        return SL_ENOMEM;
    }
    rep->json = json;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(rep->timestamp, sizeof(rep->timestamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (csv_path != NULL && s_open_csv(rep, csv_path, errbuf) != SL_OK) {
        sl__bench_report_destroy(&rep);
        return SL_EIO;
    }
    *out = rep;
    return SL_OK;
}

void
sl__bench_report_destroy(sl__bench_report **rep_p)
{
    sl__bench_report *rep = *rep_p;
    if (rep != NULL) {
        if (rep->csv != NULL) {
            fclose(rep->csv);
        }
        free(rep);
        *rep_p = NULL;
    }
}

FILE *
sl__bench_report_out(const sl__bench_report *rep)
{
    return rep->json ? stderr : stdout;
}

static void
s_keep(sl__bench_report *rep, const sl__bench_result *r)
{
    if (rep->n_rows == S_MAX_RESULTS) {
        return; // The table shows the first ones; the CSV has them all.
    }
    s_row *row = &rep->rows[rep->n_rows++];
    row->r = *r;
    sl__strlcpy(row->benchmark, r->benchmark, sizeof(row->benchmark));
    sl__strlcpy(row->metric, r->metric, sizeof(row->metric));
    sl__strlcpy(row->unit, r->unit, sizeof(row->unit));
    sl__strlcpy(row->settings, r->settings != NULL ? r->settings : "",
                sizeof(row->settings));
    row->r.benchmark = row->benchmark;
    row->r.metric = row->metric;
    row->r.unit = row->unit;
    row->r.settings = row->settings;
}

void
sl__bench_report_add(sl__bench_report *rep, const sl__bench_result *r)
{
    s_keep(rep, r);
    s_print_human(rep, r);
    if (rep->json) {
        s_print_json(rep, r);
    }
    s_write_csv(rep, r);
}

void
sl__bench_report_table(const sl__bench_report *rep)
{
    FILE *f = sl__bench_report_out(rep);
    int pass = 0, miss = 0;
    fprintf(f, "\nresults (%s):\n", rep->timestamp);
    for (int i = 0; i < rep->n_rows; i++) {
        const char *v = s_verdict(&rep->rows[i].r);
        pass += strcmp(v, "PASS") == 0;
        miss += strcmp(v, "MISS") == 0;
        s_print_human(rep, &rep->rows[i].r);
    }
    fprintf(f, "%d results: %d targets met, %d missed\n", rep->n_rows, pass,
            miss);
}
