/*
 * cli_bench.c -- 'crease bench': the same model and the same seeded
 * training on every device found (each variant of the cpu plugin that this
 * processor runs, each OpenCL device), and one table of the results.
 *
 * A process keeps one variant per backend (CREASE_<NAME>_VARIANT forces
 * one), the cpu plugin reads CREASE_NUM_THREADS when it loads, and a
 * driver may crash.  So every target runs in a child process of its own:
 * the crease binary again (/proc/self/exe, else argv[0]), as
 *
 *     crease bench --worker FD TARGET [the user's options]
 *
 * with the variable set.  The worker parses the same options as the
 * parent (so both agree on the settings), trains, and reports on file
 * descriptor FD, one tab-separated line per event:
 *
 *     device  NAME  VARIANT  UNITS  MODEL       the device it opened
 *     setup   SECONDS                            open + warm-up + upload
 *     epoch   E  LOSS  EVAL_LOSS  BAL_ACC  STEP_SECONDS  EVAL_SECONDS  SAMPLES
 *     done    EPOCHS  STEPS  SAMPLES  INTERRUPTED
 *
 * Its stdout and stderr come back through a pipe: the parent passes them
 * on to its own stderr and keeps the last line, the reason shown when the
 * worker fails.  The parent never opens a device itself.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

extern char **environ;

/* ------------------------------------------------------------ settings */

#define BENCH_DEFAULT_EPOCHS 6
#define BENCH_DEFAULT_TARGET 0.97
#define BENCH_DEFAULT_REFERENCE "cpu:0/portable"
#define BENCH_MAX_DEVICE_OPTS 32

enum { FMT_TABLE, FMT_CSV, FMT_JSON };
static const char *const format_names[] = {"table", "csv", "json", NULL};

typedef struct bench_cfg {
    const char *spec;
    crease_net_opts net_opts;
    crease_train_opts train_opts;
    const char *data_src;
    long subsample;
    long threads;            /* 0: the plugin's default */
    const char *devices[BENCH_MAX_DEVICE_OPTS];
    int ndevices;
    const char *reference;   /* NULL: the default */
    double target;
    double timeout;          /* 0: none */
    int format;
} bench_cfg;

enum {
    BOPT_MODEL = 1, BOPT_ACT, BOPT_DATA, BOPT_SUBSAMPLE, BOPT_EPOCHS, BOPT_BATCH, BOPT_LR,
    BOPT_SEED, BOPT_THREADS, BOPT_DEVICE, BOPT_REFERENCE, BOPT_TARGET, BOPT_TIMEOUT, BOPT_FORMAT,
    BOPT_OPTIMIZER, BOPT_SCHEDULE
};

static const cli_optdef bench_opts[] = {
    {"--model", 1, BOPT_MODEL},
    {"--act", 1, BOPT_ACT},
    {"--data", 1, BOPT_DATA},
    {"--subsample", 1, BOPT_SUBSAMPLE},
    {"--epochs", 1, BOPT_EPOCHS},
    {"--batch", 1, BOPT_BATCH},
    {"--lr", 1, BOPT_LR},
    {"--optimizer", 1, BOPT_OPTIMIZER},
    {"--schedule", 1, BOPT_SCHEDULE},
    {"--seed", 1, BOPT_SEED},
    {"--threads", 1, BOPT_THREADS},
    {"--device", 1, BOPT_DEVICE},
    {"--reference", 1, BOPT_REFERENCE},
    {"--target", 1, BOPT_TARGET},
    {"--timeout", 1, BOPT_TIMEOUT},
    {"--format", 1, BOPT_FORMAT},
    {NULL, 0, 0}
};

static void bench_defaults(bench_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->spec = CLI_DEFAULT_SPEC;
    crease_net_opts_default(&c->net_opts);
    cli_baarle_train_defaults(&c->train_opts);
    c->train_opts.epochs = BENCH_DEFAULT_EPOCHS;
    c->data_src = "baarle";
    c->subsample = 1;
    c->target = BENCH_DEFAULT_TARGET;
    c->format = FMT_TABLE;
}

void cli_help_bench(void)
{
    bench_cfg c;
    bench_defaults(&c);
    printf("usage: crease bench [OPTIONS]\n"
           "\n"
           "Trains the same model with the same seed on every device found (each\n"
           "variant of the cpu plugin that this processor runs, each OpenCL device)\n"
           "and prints one table: time per step, samples/s, GFLOP/s, the time to a\n"
           "target balanced accuracy, and how far each loss curve strays from the\n"
           "reference's.  Every target runs in a process of its own, so a crashing\n"
           "driver fails its row, not the bench.\n"
           "\n"
           "Targets:\n"
           "  --device LIST        the targets to run, separated by commas (default:\n"
           "                       all): cpu (every variant), cpu/avx2, cpu:0/portable,\n"
           "                       opencl, opencl:1, opencl:gpu, ...; may be repeated\n"
           "  --reference TARGET   the target the others are compared with; it always\n"
           "                       runs (default %s: plain C)\n"
           "  --threads N          threads of the cpu plugin (default: its own, the\n"
           "                       online CPUs); OpenCL devices are not affected\n"
           "  --timeout SECONDS    stop a target that runs longer; its row fails\n"
           "                       (default: no limit)\n"
           "\n"
           "Model, data and training (as in 'crease train'):\n"
           "  --model SPEC         layer widths IN-H1-...-OUT (default %s)\n"
           "  --act NAME           relu, leaky_relu, tanh or sigmoid (default %s)\n"
           "  --data SOURCE        baarle, FILE.csv or FILE.png (default baarle)\n"
           "  --subsample K        train on every K-th point only (default %ld: all);\n"
           "                       the accuracy is still measured on every point\n"
           "  --epochs N           passes over the training points (default %d)\n"
           "  --batch N            mini-batch size (default %d)\n"
           "  --lr X               learning rate (default %g)\n"
           "  --optimizer NAME     sgd, adam or adamw (default adam)\n"
           "  --schedule NAME      constant, step or cosine (default cosine)\n"
           "  --seed N             seed of the initial weights and of the shuffling\n"
           "                       (default %llu)\n"
           "  --target X           the balanced accuracy to time, 0 < X <= 1\n"
           "                       (default %g)\n"
           "\n"
           "Output:\n"
           "  --format NAME        table, csv (a header, a row per target) or json\n"
           "                       (settings, machine, targets with their curves)\n"
           "                       (default table)\n"
           "  -h, --help           show this help\n"
           "\n"
           "The results go to stdout, the progress to stderr.  Columns:\n"
           "  units      threads of the cpu plugin, compute units of an OpenCL device\n"
           "  set-up     opening the device (OpenCL: building the programs or loading\n"
           "             them from the cache, CLBlast's warm-up), a warm-up run of two\n"
           "             steps, and the upload of the model and the data\n"
           "  ms/step, samples/s\n"
           "             over the training steps alone (evaluation excluded)\n"
           "  GFLOP/s    the dense layers' arithmetic: per sample and IN x OUT layer,\n"
           "             2*IN*OUT forward, 2*IN*OUT for the weight gradient, 2*IN*OUT\n"
           "             for the input gradient (not in the first layer); biases,\n"
           "             activations, the loss and the optimizer are not counted\n"
           "  to X%%      training time until the balanced accuracy over all points,\n"
           "             measured after every epoch, first reached the target (the\n"
           "             epochs in brackets)\n"
           "  bal.acc    the balanced accuracy after the last epoch\n"
           "  loss dev.  max over the epochs of |loss - ref| / ref, the training loss\n"
           "             per epoch against the reference's: float rounding (summation\n"
           "             order, fused multiply-adds) that training amplifies\n"
           "  speed      the reference's time per step over this target's\n"
           "\n"
           "Exit status: 0, or 1 if a target failed (a variant that cannot run here\n"
           "is skipped, not failed), 2 for a bad option, 130 after Ctrl-C (which\n"
           "stops the running target after its current step; the table shows what\n"
           "ran).  Each target gets its own CREASE_CPU_VARIANT (and with --threads\n"
           "CREASE_NUM_THREADS).\n",
           BENCH_DEFAULT_REFERENCE, CLI_DEFAULT_SPEC, cli_act_name(c.net_opts.act), c.subsample,
           c.train_opts.epochs, c.train_opts.batch, (double)c.train_opts.lr,
           (unsigned long long)c.train_opts.seed, c.target);
}

/* Parses the options (parent and worker alike).  Usage errors exit. */
static void bench_parse(bench_cfg *c, int argc, char **argv)
{
    cli_args a;
    cli_args_init(&a, argc, argv);
    const char *v;
    int id;
    uint64_t seed = c->train_opts.seed;
    while ((id = cli_args_next(&a, bench_opts, &v)) != CLI_ARG_END) {
        switch (id) {
        case CLI_ARG_POSITIONAL:
            cli_usage_error("unexpected argument '%s'", v);
        case BOPT_MODEL:
            c->spec = v;
            break;
        case BOPT_ACT:
            c->net_opts.act = cli_act_ids[cli_parse_choice("--act", v, "activation",
                                                           cli_act_names)];
            break;
        case BOPT_DATA:
            cli_data_kind_of("--data", v);
            c->data_src = v;
            break;
        case BOPT_SUBSAMPLE:
            c->subsample = cli_parse_long("--subsample", v, 1, 1000000000L);
            break;
        case BOPT_EPOCHS:
            c->train_opts.epochs = (int)cli_parse_long("--epochs", v, 1, 1000000);
            break;
        case BOPT_BATCH:
            c->train_opts.batch = (int)cli_parse_long("--batch", v, 1, 1 << 24);
            break;
        case BOPT_LR:
            c->train_opts.lr = (float)cli_parse_double("--lr", v, 0, 1, 1e3, 0);
            break;
        case BOPT_SEED:
            seed = cli_parse_u64("--seed", v);
            break;
        case BOPT_OPTIMIZER:
            if (crease_optimizer_parse(v, &c->train_opts.optimizer) != CREASE_OK)
                cli_usage_error("--optimizer: unknown optimizer '%s' (choose sgd, adam or adamw)",
                                v);
            break;
        case BOPT_SCHEDULE:
            if (crease_schedule_parse(v, &c->train_opts.schedule) != CREASE_OK)
                cli_usage_error("--schedule: unknown schedule '%s' (choose constant, step or "
                                "cosine)", v);
            break;
        case BOPT_THREADS:
            c->threads = cli_parse_long("--threads", v, 1, 4096);
            break;
        case BOPT_DEVICE:
            if (c->ndevices == BENCH_MAX_DEVICE_OPTS)
                cli_usage_error("--device given more than %d times; list targets with commas",
                                BENCH_MAX_DEVICE_OPTS);
            c->devices[c->ndevices++] = v;
            break;
        case BOPT_REFERENCE:
            c->reference = v;
            break;
        case BOPT_TARGET:
            c->target = cli_parse_double("--target", v, 0, 1, 1, 0);
            break;
        case BOPT_TIMEOUT:
            c->timeout = cli_parse_double("--timeout", v, 0, 1, 1e9, 0);
            break;
        case BOPT_FORMAT:
            c->format = cli_parse_choice("--format", v, "format", format_names);
            break;
        }
    }
    c->net_opts.seed = seed;
    c->train_opts.seed = seed;
}

/* Walks the layers of a spec that cli_parse_spec accepted: the FLOPs of
 * one training step per sample (see the help text) and the parameters. */
static void spec_costs(const char *spec, double *flop, double *params)
{
    *flop = *params = 0;
    double prev = -1;
    int layer = 0;
    for (const char *p = spec; *p;) {
        char *end;
        double w = (double)strtol(p, &end, 10);
        p = *end == '-' ? end + 1 : end;
        if (prev > 0) {
            *flop += (layer == 0 ? 4.0 : 6.0) * prev * w;
            *params += prev * w + w;
            layer++;
        }
        prev = w;
    }
}

/* Every K-th point of full (K = 1: full itself, not copied). */
static int make_subsample(const crease_dataset *full, long k, crease_dataset **out)
{
    *out = NULL;
    if (k <= 1)
        return CLI_EXIT_OK;
    size_t n = crease_dataset_size(full), m = (n + (size_t)k - 1) / (size_t)k;
    int dim = crease_dataset_dim(full);
    float *x = malloc(m * (size_t)dim * sizeof *x);
    int *y = malloc(m * sizeof *y);
    if (!x || !y) {
        free(x);
        free(y);
        return cli_error("out of memory");
    }
    const float *fx = crease_dataset_x(full);
    const int *fy = crease_dataset_labels(full);
    for (size_t i = 0; i < m; i++) {
        memcpy(x + i * (size_t)dim, fx + i * (size_t)k * (size_t)dim, (size_t)dim * sizeof *x);
        y[i] = fy[i * (size_t)k];
    }
    crease_status s = crease_dataset_new(m, dim, crease_dataset_classes(full), x, y, out);
    free(x);
    free(y);
    if (s)
        return cli_lib_error(s, "cannot make the subsample");
    return CLI_EXIT_OK;
}

/* Labelled points of a data set. */
static size_t labelled(const crease_dataset *d)
{
    size_t n = 0, size = crease_dataset_size(d);
    const int *y = crease_dataset_labels(d);
    for (size_t i = 0; i < size; i++)
        n += y[i] >= 0;
    return n;
}

/* ------------------------------------------------------------ worker */

static int worker_progress(const crease_progress *p, void *user)
{
    (void)p;
    (void)user;
    return cli_interrupted != 0;
}

/* The first `batch` points plus as many as the last, partial batch holds,
 * so that a warm-up epoch runs both step shapes of the real one. */
static int make_warmup(const crease_dataset *train, int batch, crease_dataset **out)
{
    *out = NULL;
    size_t n = crease_dataset_size(train), b = (size_t)batch;
    size_t m = n <= b ? n : b + n % b;
    if (m == 0)
        m = n;
    int dim = crease_dataset_dim(train);
    crease_status s = crease_dataset_new(m, dim, crease_dataset_classes(train),
                                         crease_dataset_x(train), crease_dataset_labels(train),
                                         out);
    if (s)
        return cli_lib_error(s, "cannot make the warm-up data");
    return CLI_EXIT_OK;
}

static int worker(const bench_cfg *c, int fd, const char *target)
{
    char devname[128];
    snprintf(devname, sizeof devname, "%s", target);
    char *slash = strchr(devname, '/');
    const char *want_variant = slash ? slash + 1 : NULL;
    if (slash)
        *slash = '\0';

    FILE *res = fdopen(fd, "w");
    if (!res)
        return cli_error("bench worker: cannot write to file descriptor %d: %s", fd,
                         strerror(errno));
    setvbuf(res, NULL, _IOLBF, 0);

    int rc = CLI_EXIT_FAIL;
    crease_dataset *full = NULL, *sub = NULL, *warm = NULL;
    crease_device *dev = NULL;
    crease_net *net = NULL;
    crease_trainer *tr = NULL;
    crease_status s;

    cli_catch_interrupt();
    if (cli_load_data(c->data_src, &full) != CLI_EXIT_OK)
        goto done;
    if (make_subsample(full, c->subsample, &sub) != CLI_EXIT_OK)
        goto done;
    const crease_dataset *train = sub ? sub : full;
    if (make_warmup(train, c->train_opts.batch, &warm) != CLI_EXIT_OK)
        goto done;
    s = crease_plugins_load();
    if (s) {
        cli_lib_error(s, "no backend plugin could be loaded");
        goto done;
    }

    /* Set-up: open, a warm-up epoch of a throw-away net, the real upload. */
    double t0 = cli_now();
    if (cli_open_device(devname, &dev) != CLI_EXIT_OK)
        goto done;
    const char *got = crease_device_variant(dev);
    if (want_variant && strcmp(got, want_variant) != 0) {
        cli_error("%s: variant '%s' was asked for, the loader chose '%s'", devname,
                  want_variant, got);
        goto done;
    }
    struct crease_device_info info;
    memset(&info, 0, sizeof info);
    info.size = sizeof info;
    crease_device_get_info(dev, &info);
    for (char *p = info.name; *p; p++)
        if (*p == '\t' || *p == '\n')
            *p = ' ';
    fprintf(res, "device\t%s\t%s\t%d\t%.*s\n", crease_device_name(dev), got,
            info.compute_units, (int)sizeof info.name, info.name);

    crease_train_opts to = c->train_opts;
    to.progress = worker_progress;
    to.user = NULL;
    to.report_interval = 1.0;
    {
        crease_train_opts wo = to;
        wo.epochs = 1;
        s = crease_net_new(dev, c->spec, &c->net_opts, &net);
        if (s) {
            cli_lib_error(s, "cannot build the model '%s'", c->spec);
            goto done;
        }
        s = crease_net_train(net, warm, &wo, NULL);
        if (s) {
            cli_lib_error(s, "the warm-up run failed on %s", crease_device_name(dev));
            goto done;
        }
        crease_net_free(net);
        net = NULL;
    }
    if (cli_interrupted) {
        rc = CLI_EXIT_INTERRUPTED;
        goto done;
    }
    s = crease_net_new(dev, c->spec, &c->net_opts, &net);
    if (!s)
        s = crease_trainer_new(net, train, &to, &tr);
    if (s) {
        cli_lib_error(s, "cannot prepare training on %s", crease_device_name(dev));
        goto done;
    }
    fprintf(res, "setup\t%.17g\n", cli_now() - t0);

    size_t n = labelled(train);
    size_t steps_per_epoch = (n + (size_t)to.batch - 1) / (size_t)to.batch;
    int done_epochs = 0, interrupted = 0;
    for (int e = 1; e <= to.epochs; e++) {
        crease_metrics m, em;
        double te = cli_now();
        s = crease_trainer_epoch(tr, &m);
        double dt = cli_now() - te;
        if (s) {
            cli_lib_error(s, "training failed in epoch %d", e);
            goto done;
        }
        if (crease_trainer_epochs_done(tr) < e) {
            interrupted = 1; /* stopped within the epoch: not counted */
            break;
        }
        double tv = cli_now();
        s = crease_net_eval(net, full, &em);
        double ev = cli_now() - tv;
        if (s) {
            cli_lib_error(s, "cannot evaluate the model after epoch %d", e);
            goto done;
        }
        done_epochs = e;
        fprintf(res, "epoch\t%d\t%.17g\t%.17g\t%.17g\t%.17g\t%.17g\t%zu\n", e, m.loss, em.loss,
                em.balanced_accuracy, dt, ev, n);
        if (cli_interrupted) {
            interrupted = e < to.epochs;
            break;
        }
    }
    fprintf(res, "done\t%d\t%zu\t%zu\t%d\n", done_epochs, steps_per_epoch * (size_t)done_epochs,
            n * (size_t)done_epochs, interrupted);
    rc = interrupted ? CLI_EXIT_INTERRUPTED : CLI_EXIT_OK;

done:
    crease_trainer_free(tr);
    crease_net_free(net);
    crease_device_free(dev);
    crease_dataset_free(warm);
    crease_dataset_free(sub);
    crease_dataset_free(full);
    if (fclose(res) != 0 && rc == CLI_EXIT_OK)
        rc = cli_error("bench worker: cannot write the results: %s", strerror(errno));
    return rc;
}

/* ------------------------------------------------------------ targets */

typedef enum {
    ST_PENDING, ST_OK, ST_SKIPPED, ST_FAILED, ST_INTERRUPTED, ST_NOT_RUN
} target_status;

static const char *const status_names[] = {"pending", "ok",          "skipped",
                                           "failed",  "interrupted", "not run"};

typedef struct target {
    char name[160];     /* "cpu:0/avx2", "opencl:0", "cpu/avx512" (no device) */
    char backend[64];
    char variant[64];   /* "" if the backend names none */
    int device;         /* index, -1 for a variant that cannot run here */
    int multi_variant;  /* the backend has several variants: set the variable */
    char model[128];    /* device name */
    char type[16];
    int units;
    int selected, reference;
    target_status status;
    char reason[512];
    /* results */
    double setup_s;
    int have_setup;
    int epochs, cap;
    double *loss, *eval_loss, *bal, *epoch_s, *eval_s;
    size_t steps, samples;
    int done_line;
    double wall_s;
} target;

typedef struct target_list {
    target *t;
    int n;
} target_list;

static void targets_free(target_list *l)
{
    for (int i = 0; i < l->n; i++) {
        free(l->t[i].loss);
        free(l->t[i].eval_loss);
        free(l->t[i].bal);
        free(l->t[i].epoch_s);
        free(l->t[i].eval_s);
    }
    free(l->t);
    l->t = NULL;
    l->n = 0;
}

static target *target_add(target_list *l)
{
    target *nt = realloc(l->t, (size_t)(l->n + 1) * sizeof *nt);
    if (!nt)
        return NULL;
    l->t = nt;
    target *t = &l->t[l->n++];
    memset(t, 0, sizeof *t);
    t->device = -1;
    t->units = -1;
    return t;
}

/* All targets: every runnable variant on every device of its backend, and
 * a skipped row for each variant that cannot run. */
static int list_targets(target_list *l)
{
    int nv = crease_plugin_variant_count();
    for (int i = 0; i < nv; i++) {
        crease_plugin_variant v;
        memset(&v, 0, sizeof v);
        v.size = sizeof v;
        if (crease_plugin_variant_get(i, &v) != CREASE_OK)
            continue;
        int same = 0;
        for (int j = 0; j < nv; j++) {
            crease_plugin_variant w;
            memset(&w, 0, sizeof w);
            w.size = sizeof w;
            if (crease_plugin_variant_get(j, &w) == CREASE_OK && strcmp(w.name, v.name) == 0)
                same++;
        }
        crease_plugin_desc pd;
        memset(&pd, 0, sizeof pd);
        int devices = 0;
        if (v.runnable && v.plugin >= 0 && crease_plugin_get(v.plugin, &pd) == CREASE_OK)
            devices = pd.device_count;
        if (!v.runnable || devices == 0) {
            target *t = target_add(l);
            if (!t)
                return cli_error("out of memory");
            snprintf(t->name, sizeof t->name, "%s%s%s", v.name, *v.variant ? "/" : "",
                     v.variant);
            snprintf(t->backend, sizeof t->backend, "%s", v.name);
            snprintf(t->variant, sizeof t->variant, "%s", v.variant);
            t->multi_variant = same > 1;
            t->status = ST_SKIPPED;
            if (!v.runnable)
                snprintf(t->reason, sizeof t->reason, "%s", v.reason);
            else if (v.plugin < 0)
                snprintf(t->reason, sizeof t->reason, "the %s plugin did not load", v.name);
            else
                snprintf(t->reason, sizeof t->reason, "no %s device found", v.name);
            continue;
        }
        for (int d = 0; d < devices; d++) {
            target *t = target_add(l);
            if (!t)
                return cli_error("out of memory");
            snprintf(t->name, sizeof t->name, "%s:%d%s%s", v.name, d, *v.variant ? "/" : "",
                     v.variant);
            snprintf(t->backend, sizeof t->backend, "%s", v.name);
            snprintf(t->variant, sizeof t->variant, "%s", v.variant);
            t->device = d;
            t->multi_variant = same > 1;
            struct crease_device_info info;
            memset(&info, 0, sizeof info);
            info.size = sizeof info;
            if (crease_plugin_device_info(v.plugin, d, &info) == CREASE_OK) {
                snprintf(t->model, sizeof t->model, "%.*s", (int)sizeof info.name, info.name);
                snprintf(t->type, sizeof t->type, "%.*s", (int)sizeof info.type, info.type);
                t->units = info.compute_units;
            }
        }
    }
    return CLI_EXIT_OK;
}

/* One --device item ("cpu", "cpu/avx2", "opencl:gpu", "cpu:0/portable"):
 * marks the targets it names.  `what` names the option in messages.
 * Returns the number of targets named, or -1 (the error printed). */
static int select_item(target_list *l, const char *item, const char *what, int mark_ref)
{
    char dev[160];
    snprintf(dev, sizeof dev, "%s", item);
    char *slash = strchr(dev, '/');
    const char *variant = slash ? slash + 1 : NULL;
    if (slash)
        *slash = '\0';
    char backend[64];
    int index = -1;
    if (!strchr(dev, ':')) {
        int known = 0;
        for (int i = 0; i < l->n; i++)
            known |= strcasecmp(l->t[i].backend, dev) == 0;
        if (!known) {
            char list[256] = "";
            for (int i = 0; i < l->n; i++) {
                if (strstr(list, l->t[i].backend))
                    continue;
                size_t len = strlen(list);
                snprintf(list + len, sizeof list - len, "%s%s", len ? ", " : "",
                         l->t[i].backend);
            }
            cli_error("%s '%s': no backend '%s' was found (found: %s; see 'crease devices')",
                      what, item, dev, *list ? list : "none");
            return -1;
        }
        snprintf(backend, sizeof backend, "%.63s", dev);
    } else {
        int plugin = -1;
        crease_status s = crease_device_find(dev, &plugin, &index);
        if (s) {
            cli_lib_error(s, "%s '%s'", what, item);
            return -1;
        }
        crease_plugin_desc pd;
        memset(&pd, 0, sizeof pd);
        if (crease_plugin_get(plugin, &pd) != CREASE_OK) {
            cli_lib_error(CREASE_ENODEV, "%s '%s'", what, item);
            return -1;
        }
        snprintf(backend, sizeof backend, "%s", pd.name);
    }
    if (variant) {
        int known = 0;
        char list[256] = "";
        for (int i = 0; i < l->n; i++) {
            if (strcasecmp(l->t[i].backend, backend) != 0)
                continue;
            known |= strcmp(l->t[i].variant, variant) == 0;
            char quoted[80];
            snprintf(quoted, sizeof quoted, "'%s'", l->t[i].variant);
            if (strstr(list, quoted))
                continue;
            size_t len = strlen(list);
            snprintf(list + len, sizeof list - len, "%s%s", len ? ", " : "", quoted);
        }
        if (!known) {
            cli_error("%s '%s': the %s plugin has no variant '%s' (found: %s)", what, item,
                      backend, variant, *list ? list : "none");
            return -1;
        }
    }
    int named = 0;
    for (int i = 0; i < l->n; i++) {
        target *t = &l->t[i];
        if (strcasecmp(t->backend, backend) != 0)
            continue;
        if (variant && strcmp(t->variant, variant) != 0)
            continue;
        /* A variant that cannot run has no device: an index names it too. */
        if (index >= 0 && t->device >= 0 && t->device != index)
            continue;
        if (mark_ref) {
            if (t->device >= 0)
                t->reference = 1;
        } else {
            t->selected = 1;
        }
        named++;
    }
    return named;
}

static int select_targets(target_list *l, const bench_cfg *c)
{
    if (c->ndevices == 0) {
        for (int i = 0; i < l->n; i++)
            l->t[i].selected = 1;
        return CLI_EXIT_OK;
    }
    for (int k = 0; k < c->ndevices; k++) {
        char *copy = strdup(c->devices[k]);
        if (!copy)
            return cli_error("out of memory");
        char *save = NULL;
        for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
            if (select_item(l, item, "--device", 0) < 0) {
                free(copy);
                return CLI_EXIT_FAIL;
            }
        }
        free(copy);
    }
    return CLI_EXIT_OK;
}

/* Marks the reference; it runs even when --device left it out. */
static int choose_reference(target_list *l, const bench_cfg *c)
{
    const char *ref = c->reference ? c->reference : BENCH_DEFAULT_REFERENCE;
    int named;
    if (c->reference) {
        named = select_item(l, ref, "--reference", 1);
        if (named < 0)
            return CLI_EXIT_FAIL;
    } else {
        /* The default: quietly, since a build may lack it. */
        for (int i = 0; i < l->n; i++)
            l->t[i].reference = strcmp(l->t[i].name, ref) == 0;
    }
    int count = 0, first = -1;
    for (int i = 0; i < l->n; i++)
        if (l->t[i].reference) {
            count++;
            if (first < 0)
                first = i;
        }
    if (count > 1) {
        for (int i = 0; i < l->n; i++)
            l->t[i].reference = 0;
        return cli_error("--reference '%s' names %d targets; name one, e.g. %s", ref, count,
                         l->t[first].name);
    }
    if (count == 0 && c->reference)
        return cli_error("--reference '%s' names no target that can run here", ref);
    if (count == 0) {
        /* No cpu:0/portable here: the first runnable target selected. */
        for (int i = 0; i < l->n && first < 0; i++)
            if (l->t[i].selected && l->t[i].status != ST_SKIPPED)
                first = i;
        if (first >= 0) {
            l->t[first].reference = 1;
            cli_warn("no target %s here; %s is the reference", ref, l->t[first].name);
        }
    }
    /* It runs even where --device left it out, unless nothing named runs. */
    int any = 0;
    for (int i = 0; i < l->n; i++)
        any |= l->t[i].selected && l->t[i].status != ST_SKIPPED;
    if (first >= 0 && any)
        l->t[first].selected = 1;
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------------ children */

/* The path of this program, to run it again. */
static char *self_path(void)
{
#ifdef __linux__
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n > 0) {
        buf[n] = '\0';
        if (access(buf, X_OK) == 0)
            return strdup(buf);
    }
#endif
    return cli_program ? strdup(cli_program) : NULL;
}

/* The environment of a child: ours without the variables bench sets,
 * plus this target's. */
typedef struct child_env {
    char **env;
    char *owned[2];
} child_env;

static void child_env_free(child_env *ce)
{
    free(ce->env);
    free(ce->owned[0]);
    free(ce->owned[1]);
    memset(ce, 0, sizeof *ce);
}

static int is_variant_var(const char *e, size_t len)
{
    return len > 15 && strncmp(e, "CREASE_", 7) == 0 && strncmp(e + len - 8, "_VARIANT", 8) == 0;
}

static int child_env_make(child_env *ce, const target *t, const bench_cfg *c)
{
    memset(ce, 0, sizeof *ce);
    size_t n = 0;
    while (environ[n])
        n++;
    ce->env = calloc(n + 3, sizeof *ce->env);
    if (!ce->env)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *e = environ[i];
        const char *eq = strchr(e, '=');
        size_t len = eq ? (size_t)(eq - e) : strlen(e);
        if (is_variant_var(e, len))
            continue;
        if (c->threads > 0 && len == 18 && strncmp(e, "CREASE_NUM_THREADS", 18) == 0)
            continue;
        ce->env[k++] = environ[i];
    }
    if (t->multi_variant && *t->variant) {
        char name[96];
        snprintf(name, sizeof name, "CREASE_%s_VARIANT", t->backend);
        for (char *p = name; *p; p++)
            if (*p >= 'a' && *p <= 'z')
                *p = (char)(*p - 'a' + 'A');
        size_t len = strlen(name) + strlen(t->variant) + 2;
        if (!(ce->owned[0] = malloc(len)))
            return -1;
        snprintf(ce->owned[0], len, "%s=%s", name, t->variant);
        ce->env[k++] = ce->owned[0];
    }
    if (c->threads > 0) {
        if (!(ce->owned[1] = malloc(48)))
            return -1;
        snprintf(ce->owned[1], 48, "CREASE_NUM_THREADS=%ld", c->threads);
        ce->env[k++] = ce->owned[1];
    }
    ce->env[k] = NULL;
    return 0;
}

/* A growing line buffer for one pipe. */
typedef struct linebuf {
    char buf[8192];
    size_t len;
    int eof;
} linebuf;

typedef struct run_state {
    target *t;
    const bench_cfg *cfg;
    int index, count;      /* for the progress lines: [index/count] */
    char last_err[512];
    int tty;
} run_state;

static int is_tty(void)
{
    const char *term = getenv("TERM");
    return isatty(STDERR_FILENO) && !(term && strcmp(term, "dumb") == 0);
}

static void progress(run_state *rs, int final, const char *fmt, ...) CLI_PRINTF(3, 4);
static void progress(run_state *rs, int final, const char *fmt, ...)
{
    char text[512];
    int off = snprintf(text, sizeof text, "[%d/%d] %s  ", rs->index, rs->count, rs->t->name);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text + off, sizeof text - (size_t)off, fmt, ap);
    va_end(ap);
    if (rs->tty && !final) {
        cli_progress_status(text);
        return;
    }
    cli_progress_clear();
    fprintf(stderr, "%s\n", text);
    fflush(stderr);
}

static int grow(target *t)
{
    if (t->epochs < t->cap)
        return 0;
    int cap = t->cap ? 2 * t->cap : 16;
    double **arrs[5] = {&t->loss, &t->eval_loss, &t->bal, &t->epoch_s, &t->eval_s};
    for (int i = 0; i < 5; i++) {
        double *p = realloc(*arrs[i], (size_t)cap * sizeof *p);
        if (!p)
            return -1;
        *arrs[i] = p;
    }
    t->cap = cap;
    return 0;
}

/* One result line from the worker. */
static void result_line(run_state *rs, char *line)
{
    target *t = rs->t;
    char *f[10];
    int nf = 0;
    for (char *p = line; p && nf < 10;) { /* empty fields count */
        f[nf++] = p;
        p = strchr(p, '\t');
        if (p)
            *p++ = '\0';
    }
    if (nf == 0 || !*f[0])
        return;
    if (strcmp(f[0], "device") == 0 && nf >= 4) {
        t->units = atoi(f[3]);
        if (nf >= 5)
            snprintf(t->model, sizeof t->model, "%s", f[4]);
    } else if (strcmp(f[0], "setup") == 0 && nf >= 2) {
        t->setup_s = strtod(f[1], NULL);
        t->have_setup = 1;
        progress(rs, !rs->tty, "set-up %.2fs, training %d epoch%s", t->setup_s,
                 rs->cfg->train_opts.epochs, rs->cfg->train_opts.epochs == 1 ? "" : "s");
    } else if (strcmp(f[0], "epoch") == 0 && nf >= 8) {
        if (grow(t) != 0)
            return;
        int e = t->epochs++;
        t->loss[e] = strtod(f[2], NULL);
        t->eval_loss[e] = strtod(f[3], NULL);
        t->bal[e] = strtod(f[4], NULL);
        t->epoch_s[e] = strtod(f[5], NULL);
        t->eval_s[e] = strtod(f[6], NULL);
        t->samples += (size_t)strtoull(f[7], NULL, 10);
        char rate[32];
        progress(rs, 0, "epoch %d/%d  loss %.4f  bal.acc %6.2f%%  %s samples/s", e + 1,
                 rs->cfg->train_opts.epochs, t->loss[e], 100 * t->bal[e],
                 cli_fmt_rate(rate, sizeof rate,
                              t->epoch_s[e] > 0 ? (double)strtoull(f[7], NULL, 10) / t->epoch_s[e]
                                                : 0));
    } else if (strcmp(f[0], "done") == 0 && nf >= 5) {
        t->steps = (size_t)strtoull(f[2], NULL, 10);
        t->samples = (size_t)strtoull(f[3], NULL, 10);
        t->done_line = 1;
    }
}

/* Output of the worker (stdout and stderr): passed on, last line kept. */
static void err_line(run_state *rs, const char *line)
{
    if (!*line)
        return;
    cli_progress_clear();
    fprintf(stderr, "%s\n", line);
    fflush(stderr);
    const char *p = line;
    if (strncmp(p, "crease: ", 8) == 0)
        p += 8;
    snprintf(rs->last_err, sizeof rs->last_err, "%s", p);
}

/* Reads what is there; calls fn for each complete line.  Returns 0, or 1
 * at the end of the stream. */
static int pump(int fd, linebuf *lb, run_state *rs, int results)
{
    char chunk[4096];
    ssize_t got = read(fd, chunk, sizeof chunk);
    if (got < 0)
        return errno == EINTR || errno == EAGAIN ? 0 : (lb->eof = 1);
    if (got == 0)
        lb->eof = 1;
    for (ssize_t i = 0; i < got; i++) {
        char ch = chunk[i];
        if (ch == '\n' || lb->len == sizeof lb->buf - 1) {
            lb->buf[lb->len] = '\0';
            if (results)
                result_line(rs, lb->buf);
            else
                err_line(rs, lb->buf);
            lb->len = 0;
            if (ch == '\n')
                continue;
        }
        lb->buf[lb->len++] = ch;
    }
    if (lb->eof && lb->len) {
        lb->buf[lb->len] = '\0';
        if (results)
            result_line(rs, lb->buf);
        else
            err_line(rs, lb->buf);
        lb->len = 0;
    }
    return lb->eof;
}

/* Runs one target in a child; fills its results and status. */
static void run_target(target *t, const bench_cfg *cfg, const char *exe, int argc, char **argv,
                       int index, int count)
{
    run_state rs;
    memset(&rs, 0, sizeof rs);
    rs.t = t;
    rs.cfg = cfg;
    rs.index = index;
    rs.count = count;
    rs.tty = is_tty();
    progress(&rs, !rs.tty, "starting on %s", *t->model ? t->model : t->backend);

    int res[2] = {-1, -1}, err[2] = {-1, -1};
    child_env ce;
    int env_bad = child_env_make(&ce, t, cfg);
    char **cargv = calloc((size_t)argc + 6, sizeof *cargv);
    int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (env_bad || !cargv || nullfd < 0 || pipe(res) != 0 || pipe(err) != 0) {
        t->status = ST_FAILED;
        snprintf(t->reason, sizeof t->reason, "cannot start a worker process: %s",
                 errno ? strerror(errno) : "out of memory");
        goto out;
    }
    fcntl(res[0], F_SETFD, FD_CLOEXEC);
    fcntl(err[0], F_SETFD, FD_CLOEXEC);
    char fdarg[16];
    snprintf(fdarg, sizeof fdarg, "%d", 3);
    int k = 0;
    cargv[k++] = (char *)exe;
    cargv[k++] = (char *)"bench";
    cargv[k++] = (char *)"--worker";
    cargv[k++] = fdarg;
    cargv[k++] = t->name;
    for (int i = 0; i < argc; i++)
        cargv[k++] = argv[i];
    cargv[k] = NULL;

    double start = cli_now();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        t->status = ST_FAILED;
        snprintf(t->reason, sizeof t->reason, "cannot start a worker process: %s",
                 strerror(errno));
        goto out;
    }
    if (pid == 0) {
        /* The results on fd 3, stdout and stderr into the other pipe. */
        int r = res[1] == 3 ? 3 : dup2(res[1], 3);
        if (r == 3)
            fcntl(3, F_SETFD, 0);
        if (r != 3 || dup2(nullfd, 0) < 0 || dup2(err[1], 1) < 0 || dup2(err[1], 2) < 0)
            _exit(127);
        environ = ce.env;
        if (strchr(exe, '/'))
            execv(exe, cargv);
        else
            execvp(exe, cargv);
        const char *msg = "crease: cannot run the bench worker: ";
        ssize_t w = write(2, msg, strlen(msg));
        const char *e = strerror(errno);
        w = write(2, e, strlen(e));
        w = write(2, "\n", 1);
        (void)w;
        _exit(127);
    }
    close(res[1]);
    close(err[1]);
    res[1] = err[1] = -1;

    linebuf rl, el;
    rl.len = el.len = 0;
    rl.eof = el.eof = 0;
    int timed_out = 0;
    while (!rl.eof || !el.eof) {
        struct pollfd p[2];
        int np = 0;
        if (!rl.eof)
            p[np++] = (struct pollfd){.fd = res[0], .events = POLLIN};
        if (!el.eof)
            p[np++] = (struct pollfd){.fd = err[0], .events = POLLIN};
        int r = poll(p, (nfds_t)np, 250);
        if (cfg->timeout > 0 && !timed_out && cli_now() - start > cfg->timeout) {
            kill(pid, SIGKILL);
            timed_out = 1;
        }
        if (r <= 0)
            continue;
        for (int i = 0; i < np; i++) {
            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            if (p[i].fd == res[0])
                pump(res[0], &rl, &rs, 1);
            else
                pump(err[0], &el, &rs, 0);
        }
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    t->wall_s = cli_now() - start;

    if (timed_out) {
        t->status = ST_FAILED;
        snprintf(t->reason, sizeof t->reason, "timed out after %gs (--timeout)", cfg->timeout);
    } else if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && t->done_line) {
        t->status = ST_OK;
    } else if (WIFEXITED(st) && WEXITSTATUS(st) == CLI_EXIT_INTERRUPTED) {
        t->status = t->epochs > 0 ? ST_INTERRUPTED : ST_NOT_RUN;
        snprintf(t->reason, sizeof t->reason, "interrupted after %d of %d epochs", t->epochs,
                 cfg->train_opts.epochs);
    } else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGINT) {
        t->status = ST_NOT_RUN;
        snprintf(t->reason, sizeof t->reason, "interrupted");
    } else {
        t->status = ST_FAILED;
        if (WIFSIGNALED(st)) {
            int sig = WTERMSIG(st);
            const char *name = strsignal(sig);
            snprintf(t->reason, sizeof t->reason, "killed by signal %d (%s)%s%.400s", sig,
                     name ? name : "?", *rs.last_err ? ": " : "", rs.last_err);
        } else if (*rs.last_err) {
            snprintf(t->reason, sizeof t->reason, "%s", rs.last_err);
        } else if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
            snprintf(t->reason, sizeof t->reason, "the worker sent no results");
        } else {
            snprintf(t->reason, sizeof t->reason, "the worker exited with status %d",
                     WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        }
    }
    if (t->status == ST_OK) {
        double train = 0;
        for (int e = 0; e < t->epochs; e++)
            train += t->epoch_s[e];
        char rate[32];
        progress(&rs, 1, "done: %d epoch%s, %.3f ms/step, %s samples/s, balanced accuracy %.2f%%",
                 t->epochs, t->epochs == 1 ? "" : "s", t->steps ? 1e3 * train / (double)t->steps : 0,
                 cli_fmt_rate(rate, sizeof rate, train > 0 ? (double)t->samples / train : 0),
                 t->epochs ? 100 * t->bal[t->epochs - 1] : 0);
    } else {
        progress(&rs, 1, "%s%s%s", t->status == ST_FAILED ? "failed: " : "", t->reason,
                 t->status == ST_INTERRUPTED ? " (shown)" : "");
    }

out:
    if (res[0] >= 0)
        close(res[0]);
    if (res[1] >= 0)
        close(res[1]);
    if (err[0] >= 0)
        close(err[0]);
    if (err[1] >= 0)
        close(err[1]);
    if (nullfd >= 0)
        close(nullfd);
    free(cargv);
    child_env_free(&ce);
}

/* ------------------------------------------------------------ results */

typedef struct derived {
    int valid;            /* at least one epoch */
    double train_s, ms_step, sps, gflops;
    int to_epoch;         /* 0: not reached */
    double to_s, best, final_bal, final_loss;
    int has_dev;
    double dev, speed;
    double eval_s;
} derived;

static void derive(const target *t, const target *ref, double fps, double goal, derived *d)
{
    memset(d, 0, sizeof *d);
    if (t->epochs == 0 || (t->status != ST_OK && t->status != ST_INTERRUPTED))
        return;
    d->valid = 1;
    double cum = 0;
    size_t steps = t->steps;
    for (int e = 0; e < t->epochs; e++) {
        cum += t->epoch_s[e];
        d->eval_s += t->eval_s[e];
        if (t->bal[e] > d->best)
            d->best = t->bal[e];
        if (!d->to_epoch && t->bal[e] >= goal) {
            d->to_epoch = e + 1;
            d->to_s = cum;
        }
    }
    d->train_s = cum;
    if (steps == 0 && t->epochs > 0)
        steps = 1;
    d->ms_step = 1e3 * cum / (double)steps;
    d->sps = cum > 0 ? (double)t->samples / cum : 0;
    d->gflops = cum > 0 ? fps * (double)t->samples / cum / 1e9 : 0;
    d->final_bal = t->bal[t->epochs - 1];
    d->final_loss = t->loss[t->epochs - 1];
    if (ref && ref->epochs > 0 && (ref->status == ST_OK || ref->status == ST_INTERRUPTED)) {
        int n = t->epochs < ref->epochs ? t->epochs : ref->epochs;
        for (int e = 0; e < n; e++) {
            if (!(ref->loss[e] != 0))
                continue;
            double dev = fabs(t->loss[e] - ref->loss[e]) / fabs(ref->loss[e]);
            if (!d->has_dev || dev > d->dev || isnan(dev))
                d->dev = dev;
            d->has_dev = 1;
        }
        double rs = 0;
        for (int e = 0; e < ref->epochs; e++)
            rs += ref->epoch_s[e];
        double ref_ms = ref->steps ? 1e3 * rs / (double)ref->steps : 0;
        if (ref_ms > 0 && d->ms_step > 0)
            d->speed = ref_ms / d->ms_step;
    }
}

typedef struct bench_info {
    const bench_cfg *cfg;
    double fps, params;
    size_t points, train_points;
    int classes;
    char cpu[128];
    long cpus;
    char os[256];
    double load;          /* -1: unknown */
    char date[32];
    const char *reference;
} bench_info;

static void machine_info(bench_info *bi, const target_list *l)
{
    bi->cpu[0] = '\0';
    for (int i = 0; i < l->n && !bi->cpu[0]; i++)
        if (strcmp(l->t[i].backend, "cpu") == 0 && l->t[i].model[0])
            snprintf(bi->cpu, sizeof bi->cpu, "%s", l->t[i].model);
    bi->cpus = sysconf(_SC_NPROCESSORS_ONLN);
    struct utsname u;
    if (uname(&u) == 0)
        snprintf(bi->os, sizeof bi->os, "%s %s %s", u.sysname, u.release, u.machine);
    else
        snprintf(bi->os, sizeof bi->os, "unknown");
    bi->load = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        double v;
        if (fscanf(f, "%lf", &v) == 1)
            bi->load = v;
        fclose(f);
    }
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm))
        strftime(bi->date, sizeof bi->date, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* "98.12%" */
static void fmt_pct(char *b, size_t n, double v)
{
    snprintf(b, n, "%.2f%%", 100 * v);
}

enum { CELL = 192 };
enum { COL_TARGET, COL_UNITS, COL_SETUP, COL_MS, COL_SPS, COL_GFLOPS, COL_TO, COL_BAL,
       COL_DEV, COL_SPEED, COL_DEVICE, NCOL };

static void print_table(const bench_info *bi, const target_list *l, const derived *ds,
                        const int *order, int count)
{
    const bench_cfg *c = bi->cfg;
    char n1[32], n2[32], n3[32];
    printf("crease bench: %s (%s, %s parameters), %s: %s points", c->spec,
           cli_act_name(c->net_opts.act), cli_fmt_count(n1, sizeof n1, (uint64_t)bi->params),
           cli_data_label(c->data_src), cli_fmt_count(n2, sizeof n2, bi->points));
    if (c->subsample > 1)
        printf(", training on 1 in %ld (%s)", c->subsample,
               cli_fmt_count(n3, sizeof n3, bi->train_points));
    printf("\n");
    size_t steps = (bi->train_points + (size_t)c->train_opts.batch - 1) /
                   (size_t)c->train_opts.batch;
    printf("training: %d epoch%s of %s steps, batch %d, %s, lr %g, %s schedule, seed "
           "%llu\n",
           c->train_opts.epochs, c->train_opts.epochs == 1 ? "" : "s",
           cli_fmt_count(n1, sizeof n1, steps), c->train_opts.batch,
           crease_optimizer_name(c->train_opts.optimizer), (double)c->train_opts.lr,
           crease_schedule_name(c->train_opts.schedule), (unsigned long long)c->train_opts.seed);
    printf("machine: %s, %ld CPU%s, %s", *bi->cpu ? bi->cpu : "unknown CPU", bi->cpus,
           bi->cpus == 1 ? "" : "s", bi->os);
    if (bi->load >= 0)
        printf(", load %.2f", bi->load);
    printf("; crease %s\n\n", crease_version());

    char head[NCOL][32] = {"target", "units", "set-up", "ms/step", "samples/s", "GFLOP/s", "",
                           "bal.acc", "loss dev.", "speed", "device"};
    snprintf(head[COL_TO], sizeof head[COL_TO], "to %g%%", 100 * c->target);
    static const int right[NCOL] = {0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0};
    char(*cell)[NCOL][CELL] = calloc((size_t)count, sizeof *cell);
    int *span = calloc((size_t)count, sizeof *span);
    if (!cell || !span) {
        free(cell);
        free(span);
        cli_error("out of memory");
        return;
    }
    int width[NCOL];
    for (int j = 0; j < NCOL; j++)
        width[j] = (int)strlen(head[j]);
    int star = 0;
    for (int r = 0; r < count; r++) {
        const target *t = &l->t[order[r]];
        const derived *d = &ds[order[r]];
        snprintf(cell[r][COL_TARGET], CELL, "%s%s", t->name,
                 t->status == ST_INTERRUPTED ? "*" : "");
        star |= t->status == ST_INTERRUPTED;
        if (!d->valid) {
            span[r] = 1;
            int w = (int)strlen(cell[r][COL_TARGET]);
            if (w > width[COL_TARGET])
                width[COL_TARGET] = w;
            continue;
        }
        if (t->units > 0)
            snprintf(cell[r][COL_UNITS], CELL, "%d", t->units);
        else
            snprintf(cell[r][COL_UNITS], CELL, "-");
        snprintf(cell[r][COL_SETUP], CELL, "%.2fs", t->setup_s);
        snprintf(cell[r][COL_MS], CELL, "%.3f", d->ms_step);
        cli_fmt_rate(cell[r][COL_SPS], CELL, d->sps);
        snprintf(cell[r][COL_GFLOPS], CELL, "%.2f", d->gflops);
        if (d->to_epoch)
            snprintf(cell[r][COL_TO], CELL, "%.1fs (%d)", d->to_s, d->to_epoch);
        else
            snprintf(cell[r][COL_TO], CELL, "not reached (best %.2f%%)", 100 * d->best);
        fmt_pct(cell[r][COL_BAL], CELL, d->final_bal);
        if (t->reference)
            snprintf(cell[r][COL_DEV], CELL, "reference");
        else if (d->has_dev)
            snprintf(cell[r][COL_DEV], CELL, "%.1e", d->dev);
        else
            snprintf(cell[r][COL_DEV], CELL, "-");
        if (d->speed > 0)
            snprintf(cell[r][COL_SPEED], CELL, "%.2fx", d->speed);
        else
            snprintf(cell[r][COL_SPEED], CELL, "-");
        snprintf(cell[r][COL_DEVICE], CELL, "%s", t->model);
        for (int j = 0; j < NCOL; j++) {
            int w = (int)strlen(cell[r][j]);
            if (w > width[j])
                width[j] = w;
        }
    }
    for (int j = 0; j < NCOL; j++) {
        if (j == NCOL - 1)
            printf("%s\n", head[j]);
        else
            printf(right[j] ? "%*s  " : "%-*s  ", width[j], head[j]);
    }
    for (int r = 0; r < count; r++) {
        const target *t = &l->t[order[r]];
        if (span[r]) {
            const char *why = t->status == ST_PENDING ? "not run" : status_names[t->status];
            printf("%-*s  %s%s%s\n", width[COL_TARGET], cell[r][COL_TARGET], why,
                   *t->reason ? ": " : "", t->reason);
            continue;
        }
        for (int j = 0; j < NCOL; j++) {
            if (j == NCOL - 1)
                printf("%s\n", cell[r][j]);
            else
                printf(right[j] ? "%*s  " : "%-*s  ", width[j], cell[r][j]);
        }
    }
    printf("\n");
    if (star)
        for (int r = 0; r < count; r++)
            if (l->t[order[r]].status == ST_INTERRUPTED)
                printf("* %s: %s\n", l->t[order[r]].name, l->t[order[r]].reason);
    printf("GFLOP/s: %s FLOP per sample.  to %g%%: training time until the balanced\n"
           "accuracy first reached %g%% (epochs).  loss dev., speed: against %s.\n"
           "See 'crease bench --help' for how each column is measured.\n",
           cli_fmt_count(n1, sizeof n1, (uint64_t)bi->fps), 100 * c->target, 100 * c->target,
           bi->reference ? bi->reference : "a reference that did not run");
    free(cell);
    free(span);
}

/* CSV field: quoted when it must be. */
static void csv_str(const char *s, int last)
{
    if (strpbrk(s, ",\"\n\r")) {
        putchar('"');
        for (const char *p = s; *p; p++) {
            if (*p == '"')
                putchar('"');
            putchar(*p);
        }
        putchar('"');
    } else {
        fputs(s, stdout);
    }
    putchar(last ? '\n' : ',');
}

static void csv_num(int have, double v, int last)
{
    if (have)
        printf("%.9g", v);
    putchar(last ? '\n' : ',');
}

static void print_csv(const bench_info *bi, const target_list *l, const derived *ds,
                      const int *order, int count)
{
    (void)bi;
    printf("target,backend,device,variant,device_name,status,reason,reference,units,setup_s,"
           "epochs,steps,samples,train_s,ms_per_step,samples_per_s,gflops,target_accuracy,"
           "time_to_target_s,epochs_to_target,best_balanced_accuracy,final_balanced_accuracy,"
           "final_loss,max_loss_deviation,speedup,eval_s,wall_s\n");
    for (int r = 0; r < count; r++) {
        const target *t = &l->t[order[r]];
        const derived *d = &ds[order[r]];
        char b[32];
        csv_str(t->name, 0);
        csv_str(t->backend, 0);
        snprintf(b, sizeof b, "%d", t->device);
        csv_str(t->device >= 0 ? b : "", 0);
        csv_str(t->variant, 0);
        csv_str(t->model, 0);
        csv_str(t->status == ST_PENDING ? "not run" : status_names[t->status], 0);
        csv_str(t->reason, 0);
        csv_num(1, t->reference, 0);
        csv_num(t->units > 0, t->units, 0);
        csv_num(t->have_setup, t->setup_s, 0);
        csv_num(d->valid, t->epochs, 0);
        csv_num(d->valid, (double)t->steps, 0);
        csv_num(d->valid, (double)t->samples, 0);
        csv_num(d->valid, d->train_s, 0);
        csv_num(d->valid, d->ms_step, 0);
        csv_num(d->valid, d->sps, 0);
        csv_num(d->valid, d->gflops, 0);
        csv_num(1, bi->cfg->target, 0);
        csv_num(d->to_epoch > 0, d->to_s, 0);
        csv_num(d->to_epoch > 0, d->to_epoch, 0);
        csv_num(d->valid, d->best, 0);
        csv_num(d->valid, d->final_bal, 0);
        csv_num(d->valid, d->final_loss, 0);
        csv_num(d->has_dev, d->dev, 0);
        csv_num(d->speed > 0, d->speed, 0);
        csv_num(d->valid, d->eval_s, 0);
        csv_num(t->wall_s > 0, t->wall_s, 1);
    }
}

static void json_str(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            fputs("\\\"", stdout);
            break;
        case '\\':
            fputs("\\\\", stdout);
            break;
        case '\n':
            fputs("\\n", stdout);
            break;
        case '\r':
            fputs("\\r", stdout);
            break;
        case '\t':
            fputs("\\t", stdout);
            break;
        default:
            if (*p < 0x20)
                printf("\\u%04x", *p);
            else
                putchar(*p);
        }
    }
    putchar('"');
}

/* A number, or null when unknown or not finite. */
static void json_num(int have, double v)
{
    if (have && isfinite(v))
        printf("%.9g", v);
    else
        fputs("null", stdout);
}

static void json_key(const char *k, int first)
{
    printf("%s\"%s\": ", first ? "" : ", ", k);
}

static void json_array(const double *v, int n)
{
    putchar('[');
    for (int i = 0; i < n; i++) {
        if (i)
            fputs(", ", stdout);
        json_num(1, v[i]);
    }
    putchar(']');
}

static void print_json(const bench_info *bi, const target_list *l, const derived *ds,
                       const int *order, int count)
{
    const bench_cfg *c = bi->cfg;
    printf("{\n  \"crease_version\": ");
    json_str(crease_version());
    printf(",\n  \"date\": ");
    json_str(bi->date);
    printf(",\n  \"settings\": {");
    json_key("model", 1);
    json_str(c->spec);
    json_key("act", 0);
    json_str(cli_act_name(c->net_opts.act));
    json_key("parameters", 0);
    json_num(1, bi->params);
    json_key("data", 0);
    json_str(c->data_src);
    json_key("points", 0);
    json_num(1, (double)bi->points);
    json_key("subsample", 0);
    json_num(1, (double)c->subsample);
    json_key("train_points", 0);
    json_num(1, (double)bi->train_points);
    json_key("epochs", 0);
    json_num(1, c->train_opts.epochs);
    json_key("batch", 0);
    json_num(1, c->train_opts.batch);
    json_key("optimizer", 0);
    json_str(crease_optimizer_name(c->train_opts.optimizer));
    json_key("lr", 0);
    printf("%g", (double)c->train_opts.lr);
    json_key("schedule", 0);
    json_str(crease_schedule_name(c->train_opts.schedule));
    json_key("seed", 0);
    json_num(1, (double)c->train_opts.seed);
    json_key("threads", 0);
    json_num(c->threads > 0, (double)c->threads);
    json_key("target_accuracy", 0);
    json_num(1, c->target);
    json_key("flop_per_sample", 0);
    json_num(1, bi->fps);
    json_key("reference", 0);
    if (bi->reference)
        json_str(bi->reference);
    else
        fputs("null", stdout);
    printf("},\n  \"machine\": {");
    json_key("cpu", 1);
    json_str(bi->cpu);
    json_key("cpus", 0);
    json_num(1, (double)bi->cpus);
    json_key("os", 0);
    json_str(bi->os);
    json_key("load_average", 0);
    json_num(bi->load >= 0, bi->load);
    printf("},\n  \"targets\": [");
    for (int r = 0; r < count; r++) {
        const target *t = &l->t[order[r]];
        const derived *d = &ds[order[r]];
        printf("%s\n    {", r ? "," : "");
        json_key("target", 1);
        json_str(t->name);
        json_key("backend", 0);
        json_str(t->backend);
        json_key("device", 0);
        json_num(t->device >= 0, t->device);
        json_key("variant", 0);
        json_str(t->variant);
        json_key("device_name", 0);
        json_str(t->model);
        json_key("device_type", 0);
        json_str(t->type);
        json_key("status", 0);
        json_str(t->status == ST_PENDING ? "not run" : status_names[t->status]);
        json_key("reason", 0);
        json_str(t->reason);
        json_key("reference", 0);
        fputs(t->reference ? "true" : "false", stdout);
        printf(",\n     ");
        json_key("units", 1);
        json_num(t->units > 0, t->units);
        json_key("setup_s", 0);
        json_num(t->have_setup, t->setup_s);
        json_key("epochs", 0);
        json_num(1, t->epochs);
        json_key("steps", 0);
        json_num(1, (double)t->steps);
        json_key("samples", 0);
        json_num(1, (double)t->samples);
        json_key("train_s", 0);
        json_num(d->valid, d->train_s);
        json_key("ms_per_step", 0);
        json_num(d->valid, d->ms_step);
        json_key("samples_per_s", 0);
        json_num(d->valid, d->sps);
        json_key("gflops", 0);
        json_num(d->valid, d->gflops);
        printf(",\n     ");
        json_key("time_to_target_s", 1);
        json_num(d->to_epoch > 0, d->to_s);
        json_key("epochs_to_target", 0);
        json_num(d->to_epoch > 0, d->to_epoch);
        json_key("best_balanced_accuracy", 0);
        json_num(d->valid, d->best);
        json_key("final_balanced_accuracy", 0);
        json_num(d->valid, d->final_bal);
        json_key("final_loss", 0);
        json_num(d->valid, d->final_loss);
        json_key("max_loss_deviation", 0);
        json_num(d->has_dev, d->dev);
        json_key("speedup", 0);
        json_num(d->speed > 0, d->speed);
        json_key("eval_s", 0);
        json_num(d->valid, d->eval_s);
        json_key("wall_s", 0);
        json_num(t->wall_s > 0, t->wall_s);
        printf(",\n     ");
        json_key("loss", 1);
        json_array(t->loss, t->epochs);
        printf(",\n     ");
        json_key("eval_loss", 1);
        json_array(t->eval_loss, t->epochs);
        printf(",\n     ");
        json_key("balanced_accuracy", 1);
        json_array(t->bal, t->epochs);
        printf(",\n     ");
        json_key("epoch_s", 1);
        json_array(t->epoch_s, t->epochs);
        putchar('}');
    }
    printf("\n  ]\n}\n");
}

/* ------------------------------------------------------------ command */

int cli_cmd_bench(int argc, char **argv)
{
    cli_cmd = "bench";
    if (cli_wants_help(argc, argv)) {
        cli_help_bench();
        return CLI_EXIT_OK;
    }
    /* Hidden: crease bench --worker FD TARGET [options] (see the top). */
    int worker_fd = -1;
    const char *worker_target = NULL;
    if (argc >= 1 && strcmp(argv[0], "--worker") == 0) {
        if (argc < 3)
            cli_usage_error("--worker needs a file descriptor and a target");
        worker_fd = (int)cli_parse_long("--worker", argv[1], 0, 1024);
        worker_target = argv[2];
        argc -= 3;
        argv += 3;
    }

    bench_cfg c;
    bench_defaults(&c);
    bench_parse(&c, argc, argv);
    int first, last, count;
    cli_parse_spec("--model", c.spec, &first, &last, &count);
    for (int k = 0; k < c.ndevices; k++) {
        const char *d = c.devices[k];
        size_t len = strlen(d);
        if (d[0] == ',' || (len && d[len - 1] == ',') || strstr(d, ",,"))
            cli_usage_error("--device '%s': empty item", d);
    }
    if (worker_target)
        return worker(&c, worker_fd, worker_target);

    /* The data, to check the model against it before any child runs. */
    crease_dataset *data = NULL;
    target_list l = {NULL, 0};
    derived *ds = NULL;
    int *order = NULL;
    char *exe = NULL;
    int rc = cli_load_data(c.data_src, &data);
    if (rc != CLI_EXIT_OK)
        return rc;
    rc = cli_check_fit(c.spec, first, last, data);
    if (rc != CLI_EXIT_OK)
        goto done;
    bench_info bi;
    memset(&bi, 0, sizeof bi);
    bi.cfg = &c;
    bi.points = labelled(data);
    {
        size_t n = crease_dataset_size(data), m = (n + (size_t)c.subsample - 1) / (size_t)c.subsample;
        const int *y = crease_dataset_labels(data);
        bi.train_points = 0;
        for (size_t i = 0; i < m; i++)
            bi.train_points += y[i * (size_t)c.subsample] >= 0;
    }
    crease_dataset_free(data);
    data = NULL;
    if (bi.train_points == 0) {
        rc = cli_error("--subsample %ld leaves no labelled point to train on", c.subsample);
        goto done;
    }
    spec_costs(c.spec, &bi.fps, &bi.params);

    /* The parent lists every variant; each child forces its own. */
    for (size_t i = 0; environ[i];) {
        const char *e = environ[i];
        const char *eq = strchr(e, '=');
        size_t len = eq ? (size_t)(eq - e) : strlen(e);
        if (is_variant_var(e, len)) {
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)(len < 127 ? len : 127), e);
            unsetenv(name);
            continue; /* environ changed: look at index i again */
        }
        i++;
    }
    crease_status s = crease_plugins_load();
    if (s) {
        cli_lib_error(s, "no backend plugin could be loaded");
        fprintf(stderr, "crease: set CREASE_PLUGIN_PATH to the directory holding the "
                        "crease-*.so plugins, and see 'crease devices'\n");
        rc = CLI_EXIT_FAIL;
        goto done;
    }
    rc = list_targets(&l);
    if (rc == CLI_EXIT_OK)
        rc = select_targets(&l, &c);
    if (rc == CLI_EXIT_OK)
        rc = choose_reference(&l, &c);
    if (rc != CLI_EXIT_OK)
        goto done;

    /* The cpu plugin's threads as the children will have them. */
    for (int i = 0; i < l.n && c.threads > 0; i++)
        if (strcmp(l.t[i].backend, "cpu") == 0 && l.t[i].device >= 0)
            l.t[i].units = (int)c.threads;

    int runnable = 0, shown = 0;
    order = calloc((size_t)l.n + 1, sizeof *order);
    ds = calloc((size_t)l.n + 1, sizeof *ds);
    if (!order || !ds) {
        rc = cli_error("out of memory");
        goto done;
    }
    for (int i = 0; i < l.n; i++) {
        if (!l.t[i].selected)
            continue;
        order[shown++] = i;
        runnable += l.t[i].status != ST_SKIPPED;
    }
    if (runnable == 0) {
        rc = cli_error("no device to benchmark%s: %s", c.ndevices ? " among those named" : "",
                       shown ? "every target named is skipped (see 'crease devices')"
                             : "no target found (see 'crease devices')");
        for (int r = 0; r < shown; r++)
            fprintf(stderr, "crease: %s: skipped: %s\n", l.t[order[r]].name,
                    l.t[order[r]].reason);
        goto done;
    }
    exe = self_path();
    if (!exe) {
        rc = cli_error("cannot find the crease program to run the targets");
        goto done;
    }
    machine_info(&bi, &l);

    cli_catch_interrupt();
    int k = 0;
    for (int r = 0; r < shown; r++) {
        target *t = &l.t[order[r]];
        if (t->status == ST_SKIPPED)
            continue;
        k++;
        if (cli_interrupted) {
            t->status = ST_NOT_RUN;
            snprintf(t->reason, sizeof t->reason, "interrupted");
            continue;
        }
        run_target(t, &c, exe, argc, argv, k, runnable);
    }
    cli_progress_clear();

    const target *ref = NULL;
    for (int i = 0; i < l.n; i++)
        if (l.t[i].reference && l.t[i].epochs > 0 &&
            (l.t[i].status == ST_OK || l.t[i].status == ST_INTERRUPTED))
            ref = &l.t[i];
    bi.reference = ref ? ref->name : NULL;
    for (int i = 0; i < l.n; i++)
        derive(&l.t[i], ref, bi.fps, c.target, &ds[i]);

    if (c.format == FMT_CSV)
        print_csv(&bi, &l, ds, order, shown);
    else if (c.format == FMT_JSON)
        print_json(&bi, &l, ds, order, shown);
    else
        print_table(&bi, &l, ds, order, shown);
    fflush(stdout);

    int failed = 0;
    for (int r = 0; r < shown; r++)
        failed |= l.t[order[r]].status == ST_FAILED;
    rc = cli_interrupted ? CLI_EXIT_INTERRUPTED : failed ? CLI_EXIT_FAIL : CLI_EXIT_OK;

done:
    free(exe);
    free(order);
    free(ds);
    targets_free(&l);
    crease_dataset_free(data);
    return rc;
}
