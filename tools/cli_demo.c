/*
 * cli_demo.c -- 'crease demo': the Baarle experiment.  One-hidden-layer
 * ReLU networks of several widths and deep narrow ones, trained with the
 * same budget on the Belgian / Dutch border around Baarle, compared by
 * balanced accuracy beside their exact linear-region counts; one table,
 * pictures of every network, the curves, the table as CSV and Markdown.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* The default experiment: the budget of 'crease train' (40 epochs) for
 * every net.  Measured with the cpu backend (avx512) on the 2-core
 * development machine while other jobs kept its load average near 3.7:
 * 2m 47s wall, 110 s of CPU (2-1024-2 alone 74 s of training,
 * 2-32-32-32-32-2 15 s, counting and drawing the 285,670 regions of
 * 2-1024-2 about 10 s).  With an older, slower cpu plugin and a load of 6
 * to 7 it took 8m 08s.  --quick: 36 s on the busy machine. */
#define DEMO_WIDTHS "8,32,128,512,1024"
#define DEMO_DEEP "4x8,4x16,4x32"
#define DEMO_EPOCHS 40
/* --quick: about a minute. */
#define DEMO_QUICK_WIDTHS "16,64,256"
#define DEMO_QUICK_DEEP "4x8,4x16"
#define DEMO_QUICK_EPOCHS 10

#define DEMO_OUT "crease-demo"
#define DEMO_MAX_NETS 32
#define DEMO_MAX_WIDTH 65536
#define DEMO_MAX_DEEP_WIDTH 4096
/* Limits of the region walk for one net: a user's list may hold nets
 * whose regions run into the millions. */
#define DEMO_MAX_CELLS 5000000
#define DEMO_REGION_SECONDS 120.0

enum {
    DOPT_DEVICE = 1, DOPT_EPOCHS, DOPT_SEED, DOPT_OUT, DOPT_QUICK, DOPT_WIDTHS, DOPT_DEEP,
    DOPT_MAP
};

static const cli_optdef demo_opts[] = {
    {"--device", 1, DOPT_DEVICE},
    {"--epochs", 1, DOPT_EPOCHS},
    {"--seed", 1, DOPT_SEED},
    {"--out", 1, DOPT_OUT},
    {"--quick", 0, DOPT_QUICK},
    {"--widths", 1, DOPT_WIDTHS},
    {"--deep", 1, DOPT_DEEP},
    {"--map", 1, DOPT_MAP},
    {NULL, 0, 0}
};

void cli_help_demo(void)
{
    crease_train_opts t;
    cli_baarle_train_defaults(&t);
    printf("usage: crease demo [OPTIONS]\n"
           "\n"
           "The Baarle experiment: is depth worth more than width?  The border between\n"
           "Belgium and the Netherlands around Baarle-Hertog / Baarle-Nassau, with its\n"
           "exclaves, is a 2-D classification task (858,619 labelled pixels, built in).\n"
           "The demo trains one-hidden-layer ReLU networks of several widths and deep\n"
           "narrow ones with equal budgets (same epochs, batch %d, Adam, lr %g, %s\n"
           "schedule, seed), counts each one's linear regions exactly, and prints one\n"
           "table: parameters, neurons, balanced accuracy, accuracy, regions, the upper\n"
           "bound on regions for the architecture, training time.  Its last lines say\n"
           "whether the best deep narrow network beats every one-hidden-layer width\n"
           "with as many or more parameters.\n"
           "\n"
           "  --widths LIST        hidden widths of the one-hidden-layer networks,\n"
           "                       comma-separated, or none (default %s)\n"
           "  --deep LIST          deep networks, comma-separated, each LAYERSxWIDTH\n"
           "                       (4x32 is 2-32-32-32-32-2) or its hidden widths\n"
           "                       (32-16-8), or none (default %s)\n"
           "  --epochs N           epochs for every network (default %d)\n"
           "  --quick              a smaller run of about a minute: widths %s,\n"
           "                       deep %s, %d epochs\n"
           "  --seed N             seed of the initial weights and of the shuffling\n"
           "                       (default %llu)\n"
           "  --device NAME        cpu:0, opencl:1, opencl:gpu ... (default\n"
           "                       $CREASE_DEVICE, else cpu:0)\n"
           "  --out DIR            output directory, created if missing (default\n"
           "                       ./%s)\n"
           "  --map FILE.png       background of the decision pictures (default: the\n"
           "                       built-in Baarle label mask)\n"
           "  -h, --help           show this help\n"
           "\n"
           "Written into the output directory, per network SPEC (e.g. 2-512-2):\n"
           "  SPEC.safetensors     the trained model (crease eval, crease regions)\n"
           "  SPEC-decision.png    its decision boundary over the map\n"
           "  SPEC-regions.png     its linear regions, each its own colour\n"
           "  SPEC-layers.png      its regions after each hidden layer\n"
           "and curves-shallow.png, curves-deep.png (loss and balanced accuracy per\n"
           "epoch), results.csv and results.md (the table).  Progress goes to stderr;\n"
           "Ctrl-C stops after the current step and prints the table so far.\n",
           t.batch, (double)t.lr, t.schedule == CREASE_SCHED_COSINE ? "cosine" : "constant",
           DEMO_WIDTHS, DEMO_DEEP, DEMO_EPOCHS, DEMO_QUICK_WIDTHS, DEMO_QUICK_DEEP,
           DEMO_QUICK_EPOCHS, (unsigned long long)t.seed, DEMO_OUT);
}

/* ------------------------------------------------------------ the list */

typedef struct demo_net {
    char spec[384];
    int deep;          /* more than one hidden layer */
    int hidden;
    int widths[CREASE_REGIONS_MAX_HIDDEN];
    int neurons;
    size_t params;
    double upper;      /* bound on the regions of the architecture */
    cli_run run;
    int trained;       /* the run finished (maybe interrupted) */
    crease_regions_result reg;
    int counted;       /* reg holds a count (complete or not) */
    double extra_s;    /* region count and pictures */
    int pictures;      /* pictures written */
    char *model, *decision, *regions, *layers;
} demo_net;

/* Parses one --widths or --deep item into net; a malformed item is a
 * usage error. */
static void parse_width_item(const char *item, demo_net *n)
{
    char *end;
    if (!isdigit((unsigned char)item[0]))
        cli_usage_error("--widths: '%s' is not a positive whole number", item);
    long w = strtol(item, &end, 10);
    if (*end)
        cli_usage_error("--widths: '%s' is not a positive whole number", item);
    if (w < 1 || w > DEMO_MAX_WIDTH)
        cli_usage_error("--widths: %s is out of 1..%d", item, DEMO_MAX_WIDTH);
    n->deep = 0;
    n->hidden = 1;
    n->widths[0] = (int)w;
}

static void parse_deep_item(const char *item, demo_net *n)
{
    const char *x = strchr(item, 'x');
    n->deep = 1;
    if (x) {
        char *end;
        if (!isdigit((unsigned char)item[0]) || !isdigit((unsigned char)x[1]))
            cli_usage_error("--deep: '%s' is not LAYERSxWIDTH, like 4x32", item);
        long l = strtol(item, &end, 10);
        if (end != x)
            cli_usage_error("--deep: '%s' is not LAYERSxWIDTH, like 4x32", item);
        long w = strtol(x + 1, &end, 10);
        if (*end)
            cli_usage_error("--deep: '%s' is not LAYERSxWIDTH, like 4x32", item);
        if (l < 2 || l > CREASE_REGIONS_MAX_HIDDEN)
            cli_usage_error("--deep: '%s': a deep network has 2 to %d hidden layers", item,
                            CREASE_REGIONS_MAX_HIDDEN);
        if (w < 1 || w > DEMO_MAX_DEEP_WIDTH)
            cli_usage_error("--deep: '%s': the width must be in 1..%d", item,
                            DEMO_MAX_DEEP_WIDTH);
        n->hidden = (int)l;
        for (int i = 0; i < n->hidden; i++)
            n->widths[i] = (int)w;
        return;
    }
    n->hidden = 0;
    const char *p = item;
    for (;;) {
        char *end;
        if (!isdigit((unsigned char)*p))
            cli_usage_error("--deep: '%s' is neither LAYERSxWIDTH (4x32) nor hidden widths "
                            "(32-16-8)",
                            item);
        long w = strtol(p, &end, 10);
        if (w < 1 || w > DEMO_MAX_DEEP_WIDTH)
            cli_usage_error("--deep: '%s': widths must be in 1..%d", item, DEMO_MAX_DEEP_WIDTH);
        if (n->hidden == CREASE_REGIONS_MAX_HIDDEN)
            cli_usage_error("--deep: '%s' has more than %d hidden layers", item,
                            CREASE_REGIONS_MAX_HIDDEN);
        n->widths[n->hidden++] = (int)w;
        if (*end == '\0')
            break;
        if (*end != '-')
            cli_usage_error("--deep: '%s' is neither LAYERSxWIDTH (4x32) nor hidden widths "
                            "(32-16-8)",
                            item);
        p = end + 1;
    }
    if (n->hidden < 2)
        cli_usage_error("--deep: '%s' has one hidden layer; list it under --widths", item);
}

/* Appends the items of a comma-separated list to nets[*count]. */
static void parse_list(const char *opt, const char *list, int deep, demo_net *nets, int *count)
{
    if (strcmp(list, "none") == 0)
        return;
    const char *p = list;
    for (;;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char item[128];
        if (len == 0)
            cli_usage_error("%s '%s': empty item", opt, list);
        if (len >= sizeof item)
            cli_usage_error("%s: item '%.*s...' is too long", opt, 20, p);
        memcpy(item, p, len);
        item[len] = '\0';
        if (*count >= DEMO_MAX_NETS)
            cli_usage_error("%s: at most %d networks in all", opt, DEMO_MAX_NETS);
        demo_net *n = &nets[*count];
        memset(n, 0, sizeof *n);
        if (deep)
            parse_deep_item(item, n);
        else
            parse_width_item(item, n);
        /* spec, neurons, parameters */
        size_t o = (size_t)snprintf(n->spec, sizeof n->spec, "2");
        int prev = 2;
        n->params = 0;
        for (int i = 0; i < n->hidden; i++) {
            o += (size_t)snprintf(n->spec + o, sizeof n->spec - o, "-%d", n->widths[i]);
            n->neurons += n->widths[i];
            n->params += (size_t)prev * (size_t)n->widths[i] + (size_t)n->widths[i];
            prev = n->widths[i];
        }
        snprintf(n->spec + o, sizeof n->spec - o, "-2");
        n->params += (size_t)prev * 2 + 2;
        for (int i = 0; i < *count; i++)
            if (strcmp(nets[i].spec, n->spec) == 0)
                cli_usage_error("%s: %s is listed twice", opt, n->spec);
        crease_regions_bounds(2, n->hidden, n->widths, CREASE_ACT_RELU, &n->upper, NULL);
        (*count)++;
        if (!e)
            break;
        p = e + 1;
    }
}

/* Table order: the one-hidden-layer nets by width, then the deep ones by
 * parameters. */
static int net_order(const void *pa, const void *pb)
{
    const demo_net *a = pa, *b = pb;
    if (a->deep != b->deep)
        return a->deep - b->deep;
    if (a->params != b->params)
        return a->params < b->params ? -1 : 1;
    return strcmp(a->spec, b->spec);
}

static char *out_file(const char *dir, const char *spec, const char *suffix)
{
    size_t ls = strlen(spec), lx = strlen(suffix);
    char *name = malloc(ls + lx + 1);
    if (!name)
        return NULL;
    memcpy(name, spec, ls);
    memcpy(name + ls, suffix, lx + 1);
    char *p = cli_path_join(dir, name);
    free(name);
    return p;
}

/* Appends ", s" (or s to an empty list), cutting at cap. */
static void list_append(char *list, size_t cap, const char *s)
{
    size_t o = strlen(list);
    if (o && o + 2 < cap) {
        memcpy(list + o, ", ", 3);
        o += 2;
    }
    size_t n = strlen(s);
    if (o + n >= cap)
        n = cap - o - 1;
    memcpy(list + o, s, n);
    list[o + n] = '\0';
}

/* ------------------------------------------------------------ output */

/* Balanced accuracy in hundredths of a percent, as printed. */
static long bal_hundredths(const demo_net *n)
{
    return lround(10000.0 * n->run.final.balanced_accuracy);
}

static const char *fmt_regions(char *buf, size_t len, const demo_net *n)
{
    char c[32];
    if (!n->counted)
        snprintf(buf, len, "-");
    else if (!n->reg.complete)
        snprintf(buf, len, ">%s", cli_fmt_count(c, sizeof c, n->reg.regions));
    else
        cli_fmt_count(buf, len, n->reg.regions);
    return buf;
}

/* A bound in at most 10 characters: "12,345,678", else "7.83e+10". */
static const char *fmt_bound(char *buf, size_t len, double v)
{
    if (v < 1e8)
        return cli_fmt_big(buf, len, v);
    if (isinf(v))
        snprintf(buf, len, "> 1e308");
    else
        snprintf(buf, len, "%.3g", v);
    return buf;
}

/* "12.3s" below 1000 s, else as cli_fmt_duration. */
static const char *fmt_train(char *buf, size_t len, double s)
{
    if (s < 999.95)
        snprintf(buf, len, "%.1fs", s < 0 ? 0 : s);
    else
        cli_fmt_duration(buf, len, s);
    return buf;
}

/* The table, 79 columns wide for specs of up to 15 characters. */
static void print_table(FILE *f, demo_net *const *t, int count)
{
    fprintf(f, "%-15s %7s %7s %8s %8s %10s %10s %7s\n", "", "", "", "balanced", "", "", "upper",
            "train");
    fprintf(f, "%-15s %7s %7s %8s %8s %10s %10s %7s\n", "model", "params", "neurons",
            "accuracy", "accuracy", "regions", "bound", "time");
    for (int i = 0; i < count; i++) {
        const demo_net *n = t[i];
        char p[32], ne[32], ba[32], ac[32], rg[32], ub[32], tt[32];
        if (i > 0 && n->deep != t[i - 1]->deep)
            fputc('\n', f);
        snprintf(ba, sizeof ba, "%.2f%%", 100 * n->run.final.balanced_accuracy);
        snprintf(ac, sizeof ac, "%.2f%%", 100 * n->run.final.accuracy);
        fprintf(f, "%-15s %7s %7s %8s %8s %10s %10s %7s%s\n", n->spec,
                cli_fmt_count(p, sizeof p, n->params),
                cli_fmt_count(ne, sizeof ne, (uint64_t)n->neurons), ba, ac,
                fmt_regions(rg, sizeof rg, n), fmt_bound(ub, sizeof ub, n->upper),
                fmt_train(tt, sizeof tt, n->run.seconds),
                n->run.interrupted ? " (interrupted)" : "");
    }
}

/* The verdict and what it shows, computed from the table, as one
 * paragraph per entry of out (each malloc'd, NULL when absent). */
static void verdict(demo_net *const *t, int count, char *out[3])
{
    out[0] = out[1] = out[2] = NULL;
    const demo_net *best = NULL, *widest = NULL;
    for (int i = 0; i < count; i++) {
        const demo_net *n = t[i];
        if (n->deep && (!best || bal_hundredths(n) > bal_hundredths(best) ||
                        (bal_hundredths(n) == bal_hundredths(best) && n->params < best->params)))
            best = n;
        if (!n->deep && (!widest || n->params > widest->params))
            widest = n;
    }
    char buf[2048], a[32], b[32], c[32], d[32];
    if (!best || !widest) {
        snprintf(buf, sizeof buf, "Only %s networks were trained: no comparison of depth "
                 "and width.", best ? "deep" : "one-hidden-layer");
        out[0] = strdup(buf);
        return;
    }
    /* The one-hidden-layer widths with as many or more parameters. */
    char list[1024] = "";
    int rivals = 0, beaten = 0;
    const demo_net *strongest = NULL;
    for (int i = 0; i < count; i++) {
        const demo_net *n = t[i];
        if (n->deep || n->params < best->params)
            continue;
        rivals++;
        beaten += bal_hundredths(best) > bal_hundredths(n);
        if (!strongest || bal_hundredths(n) > bal_hundredths(strongest))
            strongest = n;
        size_t l = strlen(list);
        snprintf(list + l, sizeof list - l, "%s%s (%s parameters, %.2f%%)",
                 l ? ", " : "", n->spec, cli_fmt_count(a, sizeof a, n->params),
                 100 * n->run.final.balanced_accuracy);
    }
    cli_fmt_count(a, sizeof a, best->params);
    if (rivals == 0) {
        snprintf(buf, sizeof buf,
                 "No comparison: the best deep narrow network, %s (%s parameters, %.2f%% "
                 "balanced accuracy), has more parameters than every one-hidden-layer "
                 "width trained (the widest, %s, has %s); add a wider one with --widths "
                 "to compare.",
                 best->spec, a, 100 * best->run.final.balanced_accuracy, widest->spec,
                 cli_fmt_count(b, sizeof b, widest->params));
        out[0] = strdup(buf);
    } else if (beaten == rivals) {
        int o = snprintf(buf, sizeof buf,
                         "Yes: the best deep narrow network, %s (%s parameters, %.2f%% "
                         "balanced accuracy), beats every one-hidden-layer width with as "
                         "many or more parameters: %s.",
                         best->spec, a, 100 * best->run.final.balanced_accuracy, list);
        /* The smallest deep net that does the same, if another one. */
        const demo_net *small = NULL;
        for (int i = 0; i < count; i++) {
            const demo_net *n = t[i];
            if (!n->deep || n == best || n->params >= best->params)
                continue;
            int r = 0, ok = 1;
            for (int j = 0; j < count; j++) {
                if (t[j]->deep || t[j]->params < n->params)
                    continue;
                r++;
                ok &= bal_hundredths(n) > bal_hundredths(t[j]);
            }
            if (r > 0 && ok && (!small || n->params < small->params))
                small = n;
        }
        if (small && o > 0 && (size_t)o < sizeof buf) {
            int k = 0;
            for (int j = 0; j < count; j++)
                k += !t[j]->deep && t[j]->params >= small->params;
            snprintf(buf + o, sizeof buf - (size_t)o,
                     "  So does %s, with %s parameters and %.2f%%: it beats %s "
                     "one-hidden-layer width%s with as many or more parameters.",
                     small->spec, cli_fmt_count(b, sizeof b, small->params),
                     100 * small->run.final.balanced_accuracy,
                     k == 1 ? "the" : k == 2 ? "both" : "all", k == 1 ? "" : "s");
        }
        out[0] = strdup(buf);
    } else {
        snprintf(buf, sizeof buf,
                 "No: the best deep narrow network, %s (%s parameters, %.2f%% balanced "
                 "accuracy), does not beat every one-hidden-layer width with as many or "
                 "more parameters: %s (%s parameters) reaches %.2f%%.  Here width won; a "
                 "deep network needs enough epochs, and enough neurons per layer, to "
                 "compose its folds.",
                 best->spec, a, 100 * best->run.final.balanced_accuracy, strongest->spec,
                 cli_fmt_count(b, sizeof b, strongest->params),
                 100 * strongest->run.final.balanced_accuracy);
        out[0] = strdup(buf);
    }

    /* In words: folds, regions, bounds.  The one-layer net compared is the
     * strongest rival, or else the widest net. */
    const demo_net *w = strongest ? strongest : widest;
    cli_fmt_big(a, sizeof a, w->upper);
    cli_fmt_big(b, sizeof b, best->upper);
    fmt_regions(c, sizeof c, w);
    fmt_regions(d, sizeof d, best);
    snprintf(buf, sizeof buf,
             "Every ReLU folds the plane along a line.  One hidden layer of n neurons "
             "only adds up n straight lines across the whole square, at most 1 + n + "
             "n(n-1)/2 regions (%s for %s, which used %s).  Each further layer folds the "
             "already folded plane again, so its lines bend where earlier layers folded: "
             "%s, with %d neurons, may have up to %s regions and used %s.",
             a, w->spec, c, best->spec, best->neurons, b, d);
    out[1] = strdup(buf);
    if (best->counted && w->counted && best->reg.complete && w->reg.complete &&
        beaten == rivals && rivals > 0) {
        double per_deep = (double)best->reg.regions / best->neurons;
        double per_wide = (double)w->reg.regions / w->neurons;
        if (best->reg.regions < w->reg.regions) {
            snprintf(buf, sizeof buf,
                     "The deep network wins with fewer regions than %s: what counts is "
                     "not how many pieces a network makes but where their borders go, "
                     "and depth lets them bend along the exclaves.",
                     w->spec);
            out[2] = strdup(buf);
        } else if (per_deep > per_wide) {
            snprintf(buf, sizeof buf,
                     "The deep network made %.1f times as many regions per neuron as %s "
                     "(%.0f against %.0f): depth multiplies regions, width only adds "
                     "lines.",
                     per_deep / per_wide, w->spec, per_deep, per_wide);
            out[2] = strdup(buf);
        }
    }
}

/* Closes f, opened with open_memstream(buf, len), and writes what it holds
 * to path. */
static int write_table(const char *path, FILE *f, char **buf, size_t *len)
{
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    int rc = bad ? cli_error("cannot write the table '%s': out of memory", path)
                 : cli_write_file("table", path, *buf, *len);
    free(*buf);
    return rc;
}

static int write_csv(const char *path, demo_net *const *t, int count, const crease_train_opts *to)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return cli_error("out of memory");
    fprintf(f, "model,hidden_layers,neurons,parameters,epochs,batch,lr,seed,balanced_accuracy,"
               "accuracy,loss,regions,regions_exact,activation_patterns,lower_bound,"
               "upper_bound,train_seconds,regions_and_pictures_seconds\n");
    for (int i = 0; i < count; i++) {
        const demo_net *n = t[i];
        fprintf(f, "%s,%d,%d,%zu,%d,%d,%g,%llu,%.6f,%.6f,%.6f,", n->spec, n->hidden,
                n->neurons, n->params, n->run.epochs_done, to->batch, (double)to->lr,
                (unsigned long long)to->seed, n->run.final.balanced_accuracy,
                n->run.final.accuracy, n->run.final.loss);
        if (n->counted)
            fprintf(f, "%zu,%d,%zu,%.6g,%.6g,", n->reg.regions, n->reg.complete,
                    n->reg.activation_patterns, n->reg.lower_bound, n->reg.upper_bound);
        else
            fprintf(f, ",,,,%.6g,", n->upper);
        fprintf(f, "%.3f,%.3f\n", n->run.seconds, n->extra_s);
    }
    return write_table(path, f, &buf, &len);
}

static int write_md(const char *path, demo_net *const *t, int count, const char *intro,
                    char *const words[3])
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return cli_error("out of memory");
    fprintf(f, "# The Baarle experiment: depth against width\n\n%s\n\n", intro);
    fprintf(f, "| model | parameters | neurons | balanced accuracy | accuracy | regions | "
               "upper bound | training |\n");
    fprintf(f, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (int i = 0; i < count; i++) {
        const demo_net *n = t[i];
        char p[32], rg[32], ub[32], tt[32];
        fprintf(f, "| %s | %s | %d | %.2f%% | %.2f%% | %s | %s | %s%s |\n", n->spec,
                cli_fmt_count(p, sizeof p, n->params), n->neurons,
                100 * n->run.final.balanced_accuracy, 100 * n->run.final.accuracy,
                fmt_regions(rg, sizeof rg, n), fmt_bound(ub, sizeof ub, n->upper),
                fmt_train(tt, sizeof tt, n->run.seconds),
                n->run.interrupted ? " (interrupted)" : "");
    }
    fputc('\n', f);
    for (int i = 0; i < 3; i++)
        if (words[i])
            fprintf(f, "%s\n\n", words[i]);
    fprintf(f, "Regions: the exact number of linear regions on [-1, 1]^2.  Upper bound: "
               "the most regions any weights of the architecture can make (Zaslavsky for "
               "one hidden layer; Serra, Tjandraatmadja & Ramalingam 2018 for deep ones).  "
               "Pictures of each network: `SPEC-decision.png`, `SPEC-regions.png`, "
               "`SPEC-layers.png`.\n");
    return write_table(path, f, &buf, &len);
}

/* One picture of the curves per group, at most 8 runs each. */
static int draw_group_curves(const char *dir, demo_net *const *t, int count, int deep,
                             int *written, char **first)
{
    const cli_run *runs[8];
    const char *labels[8];
    int total = 0;
    for (int i = 0; i < count; i++)
        total += t[i]->deep == deep && t[i]->run.epochs_done > 0;
    int parts = (total + 7) / 8, part = 0, k = 0;
    for (int i = 0; i <= count; i++) {
        if (i < count) {
            if (t[i]->deep != deep || t[i]->run.epochs_done == 0)
                continue;
            runs[k] = &t[i]->run;
            labels[k] = t[i]->spec;
            k++;
        }
        if (k == 8 || (i == count && k > 0)) {
            char name[64], title[160];
            part++;
            if (parts > 1)
                snprintf(name, sizeof name, "curves-%s-%d.png", deep ? "deep" : "shallow", part);
            else
                snprintf(name, sizeof name, "curves-%s.png", deep ? "deep" : "shallow");
            snprintf(title, sizeof title, "Training curves: %s%s",
                     deep ? "deep narrow networks" : "one hidden layer",
                     parts > 1 ? (part == 1 ? " (1)" : " (continued)") : "");
            char *path = cli_path_join(dir, name);
            if (!path)
                return cli_error("out of memory");
            int rc = cli_curves_draw(path, k, runs, labels, title);
            if (rc == CLI_EXIT_OK) {
                if (!*first)
                    *first = path;
                else
                    free(path);
                (*written)++;
            } else {
                free(path);
                return rc;
            }
            k = 0;
        }
    }
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------------ the command */

int cli_cmd_demo(int argc, char **argv)
{
    cli_cmd = "demo";
    if (cli_wants_help(argc, argv)) {
        cli_help_demo();
        return CLI_EXIT_OK;
    }
    crease_train_opts to;
    cli_baarle_train_defaults(&to);
    const char *device = NULL, *out = DEMO_OUT, *map = NULL;
    const char *widths = NULL, *deep = NULL;
    int epochs = -1, quick = 0;
    uint64_t seed = to.seed;

    cli_args a;
    cli_args_init(&a, argc, argv);
    const char *v;
    int id;
    while ((id = cli_args_next(&a, demo_opts, &v)) != CLI_ARG_END) {
        switch (id) {
        case CLI_ARG_POSITIONAL:
            cli_usage_error("unexpected argument '%s'", v);
        case DOPT_DEVICE:
            device = v;
            break;
        case DOPT_EPOCHS:
            epochs = (int)cli_parse_long("--epochs", v, 1, 1000000);
            break;
        case DOPT_SEED:
            seed = cli_parse_u64("--seed", v);
            break;
        case DOPT_OUT:
            out = v;
            break;
        case DOPT_QUICK:
            quick = 1;
            break;
        case DOPT_WIDTHS:
            widths = v;
            break;
        case DOPT_DEEP:
            deep = v;
            break;
        case DOPT_MAP:
            map = v;
            break;
        }
    }
    to.epochs = epochs > 0 ? epochs : quick ? DEMO_QUICK_EPOCHS : DEMO_EPOCHS;
    to.seed = seed;
    to.optimizer = CREASE_OPT_ADAM;

    static demo_net nets[DEMO_MAX_NETS];
    int count = 0;
    parse_list("--widths", widths ? widths : quick ? DEMO_QUICK_WIDTHS : DEMO_WIDTHS, 0, nets,
               &count);
    parse_list("--deep", deep ? deep : quick ? DEMO_QUICK_DEEP : DEMO_DEEP, 1, nets, &count);
    if (count == 0)
        cli_usage_error("--widths none and --deep none leave nothing to train");
    qsort(nets, (size_t)count, sizeof nets[0], net_order);

    if (cli_make_dir("--out", out) != CLI_EXIT_OK)
        return CLI_EXIT_FAIL;
    if (map && access(map, R_OK) != 0)
        return cli_error("cannot read the map '%s': %s", map, strerror(errno));

    int rc = CLI_EXIT_FAIL;
    crease_device *dev = NULL;
    crease_dataset *data = NULL;
    char *csv = NULL, *md = NULL, *curves = NULL;
    char *words[3] = {NULL, NULL, NULL};
    demo_net *table[DEMO_MAX_NETS];
    int trained = 0, interrupted = 0;

    csv = cli_path_join(out, "results.csv");
    md = cli_path_join(out, "results.md");
    if (!csv || !md) {
        rc = cli_error("out of memory");
        goto done;
    }
    for (int i = 0; i < count; i++) {
        demo_net *n = &nets[i];
        n->model = out_file(out, n->spec, ".safetensors");
        n->decision = out_file(out, n->spec, "-decision.png");
        n->regions = out_file(out, n->spec, "-regions.png");
        n->layers = out_file(out, n->spec, "-layers.png");
        if (!n->model || !n->decision || !n->regions || !n->layers) {
            rc = cli_error("out of memory");
            goto done;
        }
    }
    rc = cli_open_device(device, &dev);
    if (rc != CLI_EXIT_OK)
        goto done;
    rc = cli_load_data("baarle", &data);
    if (rc != CLI_EXIT_OK)
        goto done;
    rc = CLI_EXIT_FAIL;

    /* What is about to happen. */
    char buf[1024], n1[32], n2[32], intro[1024];
    char shallow_list[1024] = "", deep_list[1024] = "";
    for (int i = 0; i < count; i++) {
        list_append(nets[i].deep ? deep_list : shallow_list, sizeof shallow_list, nets[i].spec);
    }
    printf("The Baarle experiment: depth against width.\n\n");
    cli_print_row("data", "the Baarle border, %s labelled points, 2 classes",
                  cli_fmt_count(n1, sizeof n1, crease_dataset_size(data)));
    cli_print_row("device", "%s", cli_device_label(buf, sizeof buf, dev));
    snprintf(intro, sizeof intro,
             "every network trains %d epoch%s, batch %d, Adam, lr %g, %s schedule, seed %llu",
             to.epochs, to.epochs == 1 ? "" : "s", to.batch, (double)to.lr,
             to.schedule == CREASE_SCHED_COSINE ? "cosine" : "constant",
             (unsigned long long)seed);
    cli_print_wrapped("equal budgets", intro);
    cli_print_wrapped("one hidden layer", shallow_list[0] ? shallow_list : "none");
    cli_print_wrapped("deep and narrow", deep_list[0] ? deep_list : "none");
    cli_print_row("output", "%s%s", out, out[strlen(out) - 1] == '/' ? "" : "/");
    putchar('\n');
    fflush(stdout);

    cli_catch_interrupt();
    double t_start = cli_now();
    for (int i = 0; i < count; i++) {
        demo_net *n = &nets[i];
        char what[96];
        int uniform = 1;
        for (int k = 1; k < n->hidden; k++)
            uniform &= n->widths[k] == n->widths[0];
        if (n->deep && uniform)
            snprintf(what, sizeof what, "%d hidden layers of %d", n->hidden, n->widths[0]);
        else if (n->deep)
            snprintf(what, sizeof what, "%d hidden layers", n->hidden);
        else
            snprintf(what, sizeof what, "one hidden layer");
        fprintf(stderr, "[%d/%d] %s: %s, %s neurons, %s parameters (%s elapsed)\n", i + 1,
                count, n->spec, what, cli_fmt_count(n1, sizeof n1, (uint64_t)n->neurons),
                cli_fmt_count(n2, sizeof n2, n->params),
                cli_fmt_clock(buf, sizeof buf, cli_now() - t_start));
        fflush(stderr);
        crease_net_opts_default(&n->run.net_opts);
        n->run.spec = n->spec;
        n->run.net_opts.act = CREASE_ACT_RELU;
        n->run.net_opts.seed = seed;
        n->run.train_opts = to;
        n->run.save = n->model;
        n->run.keep_net = 1;
        rc = cli_train_run(dev, data, &n->run);
        if (rc != CLI_EXIT_OK)
            goto done;
        n->trained = 1;
        table[trained++] = n;
        if (n->run.interrupted) {
            interrupted = 1;
            break;
        }

        /* Regions and pictures. */
        double t0 = cli_now();
        cli_progress_status("counting the regions, drawing the pictures...");
        crease_regions_opts ro;
        crease_regions_opts_default(&ro);
        ro.max_cells = DEMO_MAX_CELLS;
        ro.time_limit = DEMO_REGION_SECONDS;
        crease_status s = crease_regions_count(n->run.net, &ro, &n->reg);
        if (s)
            cli_lib_error(s, "warning: cannot count the regions of %s", n->spec);
        else
            n->counted = 1;
        cli_pictures pics = {n->decision, NULL, NULL, map, NULL};
        if (n->counted && n->reg.complete) {
            pics.regions = n->regions;
            pics.layers = n->layers;
        } else if (n->counted) {
            cli_warn("%s has more than %s regions (the walk stopped after %s); its "
                     "region pictures are left out",
                     n->spec, cli_fmt_count(n1, sizeof n1, n->reg.regions),
                     cli_fmt_duration(n2, sizeof n2, n->reg.seconds));
        }
        rc = cli_pictures_draw(n->run.net, &pics, &ro, 0);
        cli_progress_clear();
        if (rc != CLI_EXIT_OK)
            goto done;
        n->pictures = 1 + (pics.regions != NULL) + (pics.layers != NULL);
        crease_net_free(n->run.net);
        n->run.net = NULL;
        n->extra_s = cli_now() - t0;
        char rg[32], tt[32];
        fprintf(stderr, "      %.2f%% balanced accuracy, %s regions; trained in %s, regions "
                        "and pictures %s\n",
                100 * n->run.final.balanced_accuracy, fmt_regions(rg, sizeof rg, n),
                cli_fmt_duration(tt, sizeof tt, n->run.seconds),
                cli_fmt_duration(buf, sizeof buf, n->extra_s));
        fflush(stderr);
        if (cli_interrupted) {
            interrupted = 1;
            break;
        }
    }
    if (trained == 0) {
        rc = CLI_EXIT_INTERRUPTED;
        goto done;
    }

    /* Curves: one picture per group. */
    int curve_files = 0;
    rc = draw_group_curves(out, table, trained, 0, &curve_files, &curves);
    if (rc == CLI_EXIT_OK)
        rc = draw_group_curves(out, table, trained, 1, &curve_files, &curves);
    if (rc != CLI_EXIT_OK)
        goto done;

    /* The table. */
    printf("Balanced accuracy and accuracy over all %s labelled points; regions: the\n"
           "exact count on [-1, 1]^2; upper bound: the most regions any weights of the\n"
           "architecture can make; train time: wall time of the %d epoch%s.\n\n",
           cli_fmt_count(n1, sizeof n1, crease_dataset_size(data)), to.epochs,
           to.epochs == 1 ? "" : "s");
    print_table(stdout, table, trained);
    putchar('\n');
    if (interrupted) {
        printf("Interrupted: no verdict.\n");
    } else {
        verdict(table, trained, words);
        for (int i = 0; i < 3; i++)
            if (words[i]) {
                cli_print_wrapped(i == 0 ? "verdict" : i == 1 ? "what it shows" : "", words[i]);
            }
    }
    fflush(stdout);

    rc = write_csv(csv, table, trained, &to);
    if (rc == CLI_EXIT_OK) {
        char md_intro[1200];
        snprintf(md_intro, sizeof md_intro, "%s labelled points on %s; %s.",
                 cli_fmt_count(n1, sizeof n1, crease_dataset_size(data)),
                 cli_device_label(buf, sizeof buf, dev), intro);
        rc = write_md(md, table, trained, md_intro, words);
    }
    if (rc != CLI_EXIT_OK)
        goto done;
    char tot[32];
    int pictures = curve_files;
    for (int i = 0; i < trained; i++)
        pictures += table[i]->pictures;
    printf("\n");
    cli_print_row("written", "%s%s: results.csv, results.md, %d model%s, %d pictures",
                  out, out[strlen(out) - 1] == '/' ? "" : "/", trained,
                  trained == 1 ? "" : "s", pictures);
    cli_print_row("total time", "%s", cli_fmt_duration(tot, sizeof tot, cli_now() - t_start));
    fflush(stdout);
    rc = interrupted ? CLI_EXIT_INTERRUPTED : CLI_EXIT_OK;

done:
    for (int i = 0; i < count; i++) {
        cli_run_release(&nets[i].run);
        free(nets[i].model);
        free(nets[i].decision);
        free(nets[i].regions);
        free(nets[i].layers);
    }
    for (int i = 0; i < 3; i++)
        free(words[i]);
    free(curves);
    free(csv);
    free(md);
    crease_dataset_free(data);
    crease_device_free(dev);
    return rc;
}
