/*
 * cli_util.c -- messages, argument parsing and formatting for the crease
 * command-line tool.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

const char *cli_cmd = NULL;
const char *cli_program = NULL;

/* ------------------------------------------------------------ messages */

/* "crease: PREFIX" and the formatted message, after ending a live
 * progress line; the caller ends the line. */
static void vsay(const char *prefix, const char *fmt, va_list ap)
{
    cli_progress_break();
    fprintf(stderr, "crease: %s", prefix);
    vfprintf(stderr, fmt, ap);
}

/* The message of a usage error: "crease: ... (see 'crease CMD --help')". */
static void vusage(const char *fmt, va_list ap)
{
    vsay("", fmt, ap);
    if (cli_cmd)
        fprintf(stderr, " (see 'crease %s --help')\n", cli_cmd);
    else
        fprintf(stderr, " (see 'crease --help')\n");
}

void cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vusage(fmt, ap);
    va_end(ap);
    exit(CLI_EXIT_USAGE);
}

int cli_usage_message(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vusage(fmt, ap);
    va_end(ap);
    return CLI_EXIT_USAGE;
}

int cli_lib_error(crease_status s, const char *fmt, ...)
{
    /* Copy the detail first: it is only valid until the next crease call. */
    char detail[1024];
    const char *e = crease_last_error();
    snprintf(detail, sizeof detail, "%s", e && *e ? e : crease_status_str(s));

    va_list ap;
    va_start(ap, fmt);
    vsay("", fmt, ap);
    va_end(ap);
    fprintf(stderr, ": %s\n", detail);
    return CLI_EXIT_FAIL;
}

int cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay("", fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_EXIT_FAIL;
}

void cli_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay("warning: ", fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* ------------------------------------------------------ argument parsing */

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return (size_t)-1;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *cli_suggest(const char *s, const char *const *names)
{
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    size_t ls = strlen(s);
    for (int i = 0; names[i]; i++) {
        /* A unique prefix of at least 3 characters is a good guess too. */
        size_t d = edit_distance(s, names[i]);
        if (ls >= 3 && strncmp(names[i], s, ls) == 0 && d > 1)
            d = 1;
        if (d < best_d) {
            best_d = d;
            best = names[i];
        }
    }
    /* Allow one edit for short words, two for longer ones. */
    size_t limit = ls <= 4 ? 1 : 2;
    return best_d <= limit ? best : NULL;
}

void cli_args_init(cli_args *a, int argc, char **argv)
{
    a->argc = argc;
    a->argv = argv;
    a->i = 0;
    a->only_positional = 0;
}

int cli_wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
    }
    return 0;
}

static void unknown_option(const char *arg, size_t len, const cli_optdef *defs)
{
    const char *names[64];
    int n = 0;
    for (int i = 0; defs[i].name && n < 63; i++)
        names[n++] = defs[i].name;
    names[n++] = "--help";
    names[n] = NULL;

    char opt[128];
    snprintf(opt, sizeof opt, "%.*s", (int)(len < 120 ? len : 120), arg);
    const char *guess = cli_suggest(opt, names);
    if (guess)
        cli_usage_error("unknown option '%s'; did you mean '%s'?", opt, guess);
    cli_usage_error("unknown option '%s'", opt);
}

int cli_args_next(cli_args *a, const cli_optdef *defs, const char **val)
{
    *val = NULL;
    while (a->i < a->argc) {
        const char *arg = a->argv[a->i++];
        if (a->only_positional || arg[0] != '-' || arg[1] == '\0') {
            *val = arg;
            return CLI_ARG_POSITIONAL;
        }
        if (strcmp(arg, "--") == 0) {
            a->only_positional = 1;
            continue;
        }
        if (arg[1] != '-')
            cli_usage_error("unknown option '%s' (options are written --name)", arg);

        const char *eq = strchr(arg, '=');
        size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
        const cli_optdef *d = NULL;
        for (int i = 0; defs[i].name; i++) {
            if (strlen(defs[i].name) == len && strncmp(defs[i].name, arg, len) == 0) {
                d = &defs[i];
                break;
            }
        }
        if (!d)
            unknown_option(arg, len, defs);
        if (!d->takes_value) {
            if (eq)
                cli_usage_error("%s takes no value", d->name);
            return d->id;
        }
        if (eq) {
            *val = eq + 1;
        } else {
            if (a->i >= a->argc)
                cli_usage_error("%s needs a value", d->name);
            *val = a->argv[a->i++];
        }
        if (**val == '\0')
            cli_usage_error("%s needs a value, got an empty string", d->name);
        return d->id;
    }
    return CLI_ARG_END;
}

long cli_parse_long(const char *opt, const char *s, long lo, long hi)
{
    const char *p = s;
    if (!isdigit((unsigned char)*p) && !((*p == '-' || *p == '+') && isdigit((unsigned char)p[1])))
        cli_usage_error("%s: '%s' is not a whole number", opt, s);
    char *end;
    errno = 0;
    long v = strtol(p, &end, 10);
    if (*end != '\0')
        cli_usage_error("%s: '%s' is not a whole number", opt, s);
    if (errno == ERANGE || v < lo || v > hi)
        cli_usage_error("%s must be between %ld and %ld, not '%s'", opt, lo, hi, s);
    return v;
}

uint64_t cli_parse_u64(const char *opt, const char *s)
{
    const char *p = s;
    if (*p == '+')
        p++;
    if (!isdigit((unsigned char)*p)) {
        if (*p == '-' && isdigit((unsigned char)p[1]))
            cli_usage_error("%s must not be negative, not '%s'", opt, s);
        cli_usage_error("%s: '%s' is not a whole number", opt, s);
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(p, &end, 10);
    if (*end != '\0')
        cli_usage_error("%s: '%s' is not a whole number", opt, s);
    if (errno == ERANGE || v > UINT64_MAX)
        cli_usage_error("%s must be between 0 and %llu, not '%s'", opt,
                        (unsigned long long)UINT64_MAX, s);
    return (uint64_t)v;
}

double cli_parse_double(const char *opt, const char *s, double lo, int lo_open,
                        double hi, int hi_open)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || isspace((unsigned char)*s))
        cli_usage_error("%s: '%s' is not a number", opt, s);
    if (!isfinite(v))
        cli_usage_error("%s: '%s' is not a finite number", opt, s);
    if (errno == ERANGE && v != 0)
        cli_usage_error("%s: '%s' is out of range", opt, s);

    int bad = lo_open ? !(v > lo) : !(v >= lo);
    bad |= hi_open ? !(v < hi) : !(v <= hi);
    if (bad) {
        if (isinf(hi)) {
            cli_usage_error("%s must be %s %g, not '%s'", opt,
                            lo_open ? "greater than" : "at least", lo, s);
        }
        cli_usage_error("%s must be in %c%g, %g%c, not '%s'", opt,
                        lo_open ? '(' : '[', lo, hi, hi_open ? ')' : ']', s);
    }
    return v;
}

int cli_parse_choice(const char *opt, const char *s, const char *what,
                     const char *const *names)
{
    char list[256] = "";
    int n = 0;
    for (int i = 0; names[i]; i++) {
        if (strcmp(s, names[i]) == 0)
            return i;
        n++;
    }
    for (int i = 0; i < n; i++) {
        size_t l = strlen(list);
        snprintf(list + l, sizeof list - l, "%s%s", i == 0 ? "" : (i == n - 1 ? " or " : ", "),
                 names[i]);
    }
    const char *guess = cli_suggest(s, names);
    if (guess)
        cli_usage_error("%s: unknown %s '%s'; did you mean '%s'?", opt, what, s, guess);
    cli_usage_error("%s: unknown %s '%s' (choose %s)", opt, what, s, list);
}

void cli_parse_spec(const char *opt, const char *spec, int *first, int *last,
                    int *count)
{
    const char *p = spec;
    int n = 0;
    long w = 0;
    for (;;) {
        const char *start = p;
        while (*p && *p != '-')
            p++;
        size_t len = (size_t)(p - start);
        if (len == 0)
            cli_usage_error("%s '%s': empty width (write widths like 2-32-32-2)", opt, spec);
        int digits = 1;
        for (size_t i = 0; i < len; i++)
            digits &= isdigit((unsigned char)start[i]) != 0;
        if (!digits)
            cli_usage_error("%s '%s': '%.*s' is not a positive whole number", opt, spec,
                            (int)len, start);
        w = 0;
        for (size_t i = 0; i < len && w <= 1000000; i++)
            w = w * 10 + (start[i] - '0');
        if (w < 1)
            cli_usage_error("%s '%s': widths must be at least 1, not %.*s", opt, spec,
                            (int)len, start);
        if (w > 1000000)
            cli_usage_error("%s '%s': width %.*s is too large (at most 1000000)", opt,
                            spec, (int)len, start);
        if (n == 0)
            *first = (int)w;
        n++;
        if (*p == '\0')
            break;
        p++; /* skip '-' */
    }
    if (n < 2)
        cli_usage_error("%s '%s': needs at least an input and an output width, like 2-32-2",
                        opt, spec);
    *last = (int)w;
    *count = n;
}

/* --------------------------------------------------------- formatting */

const char *cli_fmt_count(char *buf, size_t len, uint64_t n)
{
    char digits[32];
    int nd = snprintf(digits, sizeof digits, "%llu", (unsigned long long)n);
    char out[48];
    int o = 0;
    for (int i = 0; i < nd; i++) {
        if (i > 0 && (nd - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
    snprintf(buf, len, "%s", out);
    return buf;
}

const char *cli_fmt_duration(char *buf, size_t len, double s)
{
    if (!(s >= 0))
        s = 0;
    if (s < 60) {
        snprintf(buf, len, "%.1fs", s);
    } else if (s < 3600) {
        int m = (int)(s / 60);
        snprintf(buf, len, "%dm %04.1fs", m, s - 60.0 * m);
    } else {
        long t = (long)(s + 0.5);
        snprintf(buf, len, "%ldh %02ldm %02lds", t / 3600, t / 60 % 60, t % 60);
    }
    return buf;
}

const char *cli_fmt_clock(char *buf, size_t len, double s)
{
    if (!(s >= 0) || s > 359999)
        s = 359999;
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
    return buf;
}

const char *cli_fmt_bytes(char *buf, size_t len, uint64_t bytes)
{
    static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024 && u < 5) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%llu bytes", (unsigned long long)bytes);
    else
        snprintf(buf, len, "%.1f %s", v, units[u]);
    return buf;
}

const char *cli_fmt_rate(char *buf, size_t len, double r)
{
    if (!(r >= 0))
        r = 0;
    if (r >= 1e9)
        snprintf(buf, len, "%.2fG", r / 1e9);
    else if (r >= 1e6)
        snprintf(buf, len, "%.2fM", r / 1e6);
    else if (r >= 1e3)
        snprintf(buf, len, "%.0fk", r / 1e3);
    else
        snprintf(buf, len, "%.0f", r);
    return buf;
}

const char *cli_fmt_big(char *buf, size_t len, double v)
{
    if (isinf(v) && v > 0)
        snprintf(buf, len, "> 1e308");
    else if (!(v >= 0))
        snprintf(buf, len, "?");
    else if (v < 1e9)
        cli_fmt_count(buf, len, (uint64_t)(v + 0.5));
    else
        snprintf(buf, len, "%.3g", v);
    return buf;
}

void cli_print_row(const char *label, const char *fmt, ...)
{
    va_list ap;
    printf("%-18s ", label);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

void cli_print_wrapped(const char *label, const char *text)
{
    const int indent = 19, width = 79;
    printf("%-18s ", label);
    int col = indent;
    const char *p = text;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        int len = (int)(e - p);
        if (len == 0)
            break;
        if (col > indent && col + 1 + len > width) {
            printf("\n%*s", indent, "");
            col = indent;
        } else if (col > indent) {
            putchar(' ');
            col++;
        }
        printf("%.*s", len, p);
        col += len;
        p = e;
    }
    putchar('\n');
}

double cli_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ------------------------------------------------ data, devices, models */

int cli_check_output_path(const char *what, const char *path)
{
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return cli_error("cannot write the %s '%s': it is a directory", what, path);
    char *dir = strdup(path);
    if (!dir)
        return cli_error("out of memory");
    char *slash = strrchr(dir, '/');
    if (!slash)
        strcpy(dir, ".");
    else if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    int ok = access(dir, W_OK | X_OK) == 0;
    int e = errno;
    free(dir);
    if (!ok)
        return cli_error("cannot write the %s '%s': %s", what, path, strerror(e));
    return CLI_EXIT_OK;
}

int cli_make_dir(const char *opt, const char *dir)
{
    struct stat sb;
    if (stat(dir, &sb) == 0) {
        if (!S_ISDIR(sb.st_mode))
            return cli_error("%s '%s' exists and is not a directory", opt, dir);
        if (access(dir, W_OK | X_OK) != 0)
            return cli_error("cannot write into the directory '%s': %s", dir, strerror(errno));
        return CLI_EXIT_OK;
    }
    if (mkdir(dir, 0777) != 0)
        return cli_error("cannot create the directory '%s': %s", dir, strerror(errno));
    return CLI_EXIT_OK;
}

int cli_write_file(const char *what, const char *path, const char *data, size_t len)
{
    crease_status s = crease_write_file(path, data, len);
    if (s == CREASE_OK)
        return CLI_EXIT_OK;
    if (cli_error_names(path))
        return cli_lib_error(s, "cannot write the %s", what);
    return cli_lib_error(s, "cannot write the %s '%s'", what, path);
}

char *cli_path_join(const char *dir, const char *name)
{
    size_t ld = strlen(dir), n = ld + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s%s%s", dir, ld && dir[ld - 1] == '/' ? "" : "/", name);
    return p;
}

char *cli_path_stem(const char *path, const char *suffix)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base), ls = suffix ? strlen(suffix) : 0;
    if (ls && n > ls && strcasecmp(base + n - ls, suffix) == 0)
        n -= ls;
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, base, n);
        s[n] = '\0';
    }
    return s;
}

const char *cli_act_name(int act)
{
    for (int i = 0; cli_act_names[i]; i++)
        if (cli_act_ids[i] == act)
            return cli_act_names[i];
    return act == CREASE_ACT_IDENTITY ? "identity" : "?";
}

int cli_error_names(const char *s)
{
    const char *e = crease_last_error();
    return e && s && *s && strstr(e, s) != NULL;
}

const char *const cli_act_names[] = {"relu", "leaky_relu", "tanh", "sigmoid", NULL};
const int cli_act_ids[] = {CREASE_ACT_RELU, CREASE_ACT_LEAKY_RELU, CREASE_ACT_TANH,
                           CREASE_ACT_SIGMOID};

static int ends_with(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls > lx && strcasecmp(s + ls - lx, suffix) == 0;
}

cli_data_kind cli_data_kind_of(const char *opt, const char *s)
{
    if (strcmp(s, "baarle") == 0)
        return CLI_DATA_BAARLE;
    if (ends_with(s, ".csv"))
        return CLI_DATA_CSV;
    if (ends_with(s, ".png"))
        return CLI_DATA_PNG;
    cli_usage_error("%s '%s': expected 'baarle', a FILE.csv or a FILE.png label mask", opt, s);
}

const char *cli_data_label(const char *source)
{
    return strcmp(source, "baarle") == 0 ? "baarle (built-in)" : source;
}

int cli_load_data(const char *source, crease_dataset **out)
{
    crease_status s;
    *out = NULL;
    switch (cli_data_kind_of("--data", source)) {
    case CLI_DATA_BAARLE:
        s = crease_dataset_load_baarle(NULL, out);
        if (s)
            return cli_lib_error(s, "cannot load the built-in Baarle data");
        break;
    case CLI_DATA_PNG:
        s = crease_dataset_load_baarle(source, out);
        if (s && cli_error_names(source))
            return cli_lib_error(s, "cannot load the label mask");
        if (s)
            return cli_lib_error(s, "cannot load the label mask '%s'", source);
        break;
    default:
        s = crease_dataset_load_csv(source, out);
        if (s && cli_error_names(source))
            return cli_lib_error(s, "cannot load the CSV data");
        if (s)
            return cli_lib_error(s, "cannot load the CSV file '%s'", source);
        break;
    }
    if (crease_dataset_size(*out) == 0) {
        crease_dataset_free(*out);
        *out = NULL;
        return cli_error("'%s' holds no labelled points", source);
    }
    return CLI_EXIT_OK;
}

int cli_open_device(const char *name, crease_device **out)
{
    *out = NULL;
    crease_status s = crease_plugins_load();
    if (s) {
        cli_lib_error(s, "no backend plugin could be loaded");
        fprintf(stderr, "crease: set CREASE_PLUGIN_PATH to the directory holding the "
                        "crease-*.so plugins, and see 'crease devices'\n");
        return CLI_EXIT_FAIL;
    }
    s = crease_device_open(name, out);
    if (s) {
        const char *env = getenv("CREASE_DEVICE");
        const char *shown = name && *name ? name : env && *env ? env : "cpu:0";
        const char *from = name && *name ? "" : env && *env ? " (from $CREASE_DEVICE)" : "";
        if (cli_error_names(shown) && !*from)
            cli_lib_error(s, "cannot open the device");
        else
            cli_lib_error(s, "cannot open device '%s'%s", shown, from);
        *out = NULL;
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

const char *cli_device_label(char *buf, size_t len, crease_device *dev)
{
    struct crease_device_info info;
    memset(&info, 0, sizeof info);
    info.size = sizeof info;
    if (crease_device_get_info(dev, &info) == CREASE_OK && info.name[0])
        snprintf(buf, len, "%s, %.*s", crease_device_name(dev), (int)sizeof info.name,
                 info.name);
    else
        snprintf(buf, len, "%s (%s)", crease_device_name(dev), crease_device_variant(dev));
    return buf;
}

int cli_load_model(crease_device *dev, const char *path, int act, crease_net **out)
{
    crease_net_opts no;
    crease_net_opts_default(&no);
    if (act >= 0)
        no.act = act;
    crease_status s = crease_net_load(dev, path, act >= 0 ? &no : NULL, out);
    if (s) {
        *out = NULL;
        if (cli_error_names(path))
            return cli_lib_error(s, "cannot load the model");
        return cli_lib_error(s, "cannot load the model '%s'", path);
    }
    int recorded = crease_net_act(*out);
    if (act >= 0 && recorded != act)
        cli_warn("the model file records the activation %s; --act %s ignored",
                 cli_act_name(recorded), cli_act_name(act));
    return CLI_EXIT_OK;
}

void cli_check_outputs(int n, const char *const *opts, const char *const *paths,
                       const char *model)
{
    for (int i = 0; i < n; i++) {
        if (!paths[i])
            continue;
        if (model && strcmp(paths[i], model) == 0)
            cli_usage_error("%s would overwrite the model file '%s'", opts[i], model);
        for (int j = i + 1; j < n; j++)
            if (paths[j] && strcmp(paths[i], paths[j]) == 0)
                cli_usage_error("%s and %s name the same file '%s'", opts[i], opts[j],
                                paths[i]);
    }
}

void cli_print_model_row(const char *spec, int act, size_t params)
{
    char n[32];
    cli_print_row("model", "%s (%s), %s parameters", spec, cli_act_name(act),
                  cli_fmt_count(n, sizeof n, params));
}

void cli_print_data_row(const char *source, const crease_dataset *data)
{
    char n[32];
    cli_print_row("data", "%s: %s labelled points, %d classes", cli_data_label(source),
                  cli_fmt_count(n, sizeof n, crease_dataset_size(data)),
                  crease_dataset_classes(data));
}

void cli_print_metrics(const crease_metrics *m)
{
    cli_print_row("loss", "%.4f", m->loss);
    cli_print_row("accuracy", "%.2f%%", 100 * m->accuracy);
    cli_print_row("balanced accuracy", "%.2f%%", 100 * m->balanced_accuracy);
}

int cli_check_fit(const char *spec, int inputs, int outputs, const crease_dataset *data)
{
    int dim = crease_dataset_dim(data);
    int classes = crease_dataset_classes(data);
    if (inputs != dim) {
        return cli_usage_message("model %s takes %d input%s but the data has %d "
                                 "dimension%s: the first width must be %d",
                                 spec, inputs, inputs == 1 ? "" : "s", dim,
                                 dim == 1 ? "" : "s", dim);
    }
    int ok = outputs == classes || (outputs == 1 && classes <= 2) ||
             (classes == 1 && outputs == 2);
    if (!ok) {
        if (classes == 2)
            return cli_usage_message("model %s has %d outputs but the data has 2 "
                                     "classes: the last width must be 2 (softmax) or 1 "
                                     "(one logit)",
                                     spec, outputs);
        return cli_usage_message("model %s has %d output%s but the data has %d "
                                 "classes: the last width must be %d",
                                 spec, outputs, outputs == 1 ? "" : "s", classes, classes);
    }
    return CLI_EXIT_OK;
}
