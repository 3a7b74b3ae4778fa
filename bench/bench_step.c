/*
 * bench_step.c -- whole training steps with crease, and time to 99 %
 * balanced accuracy on Baarle.  Public API only.
 *
 *   bench/bench_step [--threads T] [--nets LIST] [--batches LIST]
 *                    [--time SECONDS] [--tsv]
 *       Time per training step (gather the batch, forward, softmax
 *       cross-entropy, backward, Adam update) of each net at each batch.
 *       bench/torch_step.py does the same with PyTorch; bench/run-step.sh
 *       runs both and prints the ratios.
 *
 *   bench/bench_step --to99 [--threads T] [--seeds N] [--epochs 40]
 *                    [--lr 3e-3] [--batch 256] [--target 0.99] [-v]
 *       Trains 2-32-32-32-32-2 on the built-in Baarle data set (Adam,
 *       cosine schedule over --epochs), evaluates the whole data set after
 *       every epoch (crease_net_eval) and stops at the first epoch whose
 *       balanced accuracy reaches the target.  -v prints every epoch's
 *       balanced accuracy on stderr.
 *
 * --threads T sets CREASE_NUM_THREADS before the cpu plugin is loaded (the
 * default is the plugin's: $CREASE_NUM_THREADS, else every online CPU).
 *
 * How a step is timed: the data set holds exactly S * batch points
 * (S = max(8, 16384 / batch) steps), so one crease_trainer_epoch runs S
 * full steps; an epoch also shuffles the S * batch indices on the host and
 * uploads them once, which is counted.  After one warm-up epoch, epochs
 * run until --time seconds are spent (at least 3) and the fastest epoch
 * divided by S is the time per step.  The data are uniform random points
 * in (-1, 1)^2 labelled by a circle (the time of a step does not depend
 * on the values); torch_step.py builds the same set.
 */
#define _POSIX_C_SOURCE 200809L

#include <crease.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int check(crease_status st, const char *what)
{
    if (st) {
        const char *d = crease_last_error();
        fprintf(stderr, "bench_step: %s: %s%s%s\n", what, crease_status_str(st), *d ? ": " : "", d);
    }
    return st;
}

/* The synthetic set: the same generator as torch_step.py (a 64-bit LCG,
 * top 24 bits per coordinate), label 1 inside the circle r^2 < 0.5. */
static crease_dataset *synthetic(size_t n)
{
    float *x = malloc(n * 2 * sizeof(float));
    int *y = malloc(n * sizeof(int));
    crease_dataset *d = NULL;
    if (x && y) {
        uint64_t s = 12345;
        for (size_t i = 0; i < n; i++) {
            for (int j = 0; j < 2; j++) {
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                x[2 * i + j] = (float)((double)(s >> 40) / 8388608.0 - 1.0);
            }
            y[i] = x[2 * i] * x[2 * i] + x[2 * i + 1] * x[2 * i + 1] < 0.5f;
        }
        if (check(crease_dataset_new(n, 2, 2, x, y, &d), "crease_dataset_new")) d = NULL;
    }
    free(x);
    free(y);
    return d;
}

static int steps_for(int batch)
{
    int s = 16384 / batch;
    return s < 8 ? 8 : s;
}

/* Seconds per step of net `spec` at `batch`, or a negative value. */
static double time_step(crease_device *dev, const char *spec, int batch, double budget, double *params)
{
    int steps = steps_for(batch);
    crease_dataset *d = synthetic((size_t)steps * (size_t)batch);
    if (!d) return -1;
    crease_net *net = NULL;
    crease_trainer *tr = NULL;
    double best = -1;
    crease_train_opts o;
    crease_train_opts_default(&o);
    o.batch = batch;
    o.lr = 1e-3f;
    o.optimizer = CREASE_OPT_ADAM;
    o.epochs = 1000000;
    if (!check(crease_net_new(dev, spec, NULL, &net), "crease_net_new") &&
        !check(crease_trainer_new(net, d, &o, &tr), "crease_trainer_new")) {
        *params = (double)crease_net_param_count(net);
        if (!check(crease_trainer_epoch(tr, NULL), "crease_trainer_epoch")) { /* warm-up */
            double spent = 0;
            best = 1e300;
            for (int e = 0; e < 3 || spent < budget; e++) {
                double t0 = now_s();
                if (check(crease_trainer_epoch(tr, NULL), "crease_trainer_epoch")) {
                    best = -1;
                    break;
                }
                double t = now_s() - t0;
                spent += t;
                if (t < best) best = t;
                if (e > 10000) break;
            }
            if (best > 0) best /= steps;
        }
    }
    crease_trainer_free(tr);
    crease_net_free(net);
    crease_dataset_free(d);
    return best;
}

static int parse_list(const char *s, char items[][64], int max)
{
    int n = 0;
    while (*s && n < max) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len >= 64) len = 63;
        memcpy(items[n], s, len);
        items[n][len] = '\0';
        if (len) n++;
        if (!e) break;
        s = e + 1;
    }
    return n;
}

static int bench_steps(crease_device *dev, const char *nets, const char *batches, double budget, int tsv,
                       int threads)
{
    char net_list[8][64], batch_list[8][64];
    int nn = parse_list(nets, net_list, 8), nb = parse_list(batches, batch_list, 8);
    if (!tsv) {
        printf("| %-16s | %6s | %7s | %10s | %12s |\n", "net", "batch", "threads", "ms/step", "samples/s");
        printf("|------------------|--------|---------|------------|--------------|\n");
    }
    for (int i = 0; i < nn; i++)
        for (int j = 0; j < nb; j++) {
            int batch = atoi(batch_list[j]);
            if (batch < 1) {
                fprintf(stderr, "bench_step: bad batch \"%s\"\n", batch_list[j]);
                return 2;
            }
            double params = 0;
            double t = time_step(dev, net_list[i], batch, budget, &params);
            if (t < 0) return 1;
            if (tsv)
                printf("crease\t%s\t%d\t%d\t%.6f\n", net_list[i], batch, threads, t * 1e3);
            else
                printf("| %-16s | %6d | %7d | %10.4f | %12.0f |\n", net_list[i], batch, threads, t * 1e3,
                       batch / t);
            fflush(stdout);
        }
    return 0;
}

static int to99(crease_device *dev, int seeds, int epochs, double lr, int batch, double target, int threads,
                int verbose)
{
    crease_dataset *d;
    if (check(crease_dataset_load_baarle(NULL, &d), "crease_dataset_load_baarle")) return 1;
    printf("Baarle, %zu points; 2-32-32-32-32-2, Adam lr %g, batch %d, cosine over %d epochs, %d thread(s);\n"
           "balanced accuracy of the whole set after every epoch, stop at >= %.4g\n\n",
           crease_dataset_size(d), lr, batch, epochs, threads, target);
    printf("| seed | epochs | reached | balanced acc | train s | eval s | total s |\n");
    printf("|------|--------|---------|--------------|---------|--------|---------|\n");
    int rc = 0;
    for (int seed = 1; seed <= seeds && !rc; seed++) {
        crease_net *net = NULL;
        crease_trainer *tr = NULL;
        crease_net_opts no;
        crease_net_opts_default(&no);
        no.seed = (uint64_t)seed;
        crease_train_opts o;
        crease_train_opts_default(&o);
        o.epochs = epochs;
        o.batch = batch;
        o.lr = (float)lr;
        o.optimizer = CREASE_OPT_ADAM;
        o.schedule = CREASE_SCHED_COSINE;
        o.seed = (uint64_t)seed;
        double t0 = now_s(), train = 0, eval = 0;
        crease_metrics m;
        memset(&m, 0, sizeof m);
        int e = 0, reached = 0;
        if (check(crease_net_new(dev, "2-32-32-32-32-2", &no, &net), "crease_net_new") ||
            check(crease_trainer_new(net, d, &o, &tr), "crease_trainer_new"))
            rc = 1;
        while (!rc && e < epochs) {
            double a = now_s();
            if (check(crease_trainer_epoch(tr, NULL), "crease_trainer_epoch")) {
                rc = 1;
                break;
            }
            double b = now_s();
            if (check(crease_net_eval(net, d, &m), "crease_net_eval")) {
                rc = 1;
                break;
            }
            double c = now_s();
            train += b - a;
            eval += c - b;
            e++;
            if (verbose)
                fprintf(stderr, "seed %d epoch %2d: balanced accuracy %.3f%%, loss %.4f, %.1f s\n", seed, e,
                        100 * m.balanced_accuracy, m.loss, now_s() - t0);
            if (m.balanced_accuracy >= target) {
                reached = 1;
                break;
            }
        }
        double total = now_s() - t0;
        if (!rc)
            printf("| %4d | %6d | %7s | %11.3f%% | %7.2f | %6.2f | %7.2f |\n", seed, e, reached ? "yes" : "no",
                   100 * m.balanced_accuracy, train, eval, total);
        fflush(stdout);
        crease_trainer_free(tr);
        crease_net_free(net);
    }
    crease_dataset_free(d);
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_step [--threads T] [--nets LIST] [--batches LIST] [--time SECONDS] [--tsv]\n"
               "       bench_step --info                  (the crease and plugin line only)\n"
               "       bench_step --to99 [--threads T] [--seeds N] [--epochs E] [--lr LR] [--batch B]\n"
               "                  [--target 0.99] [-v]\n"
               "defaults: --nets 2-32-32-32-32-2,2-512-2 --batches 256,1024,8192 --time 1\n"
               "          --seeds 1 --epochs 40 --lr 3e-3 --batch 256\n");
}

int main(int argc, char **argv)
{
    const char *nets = "2-32-32-32-32-2,2-512-2", *batches = "256,1024,8192";
    double budget = 1.0, lr = 3e-3, target = 0.99;
    int tsv = 0, info_only = 0, threads = 0, mode99 = 0, seeds = 1, epochs = 40, batch = 256, verbose = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "--threads") && has) threads = atoi(argv[++i]);
        else if (!strcmp(a, "--nets") && has) nets = argv[++i];
        else if (!strcmp(a, "--batches") && has) batches = argv[++i];
        else if (!strcmp(a, "--time") && has) budget = atof(argv[++i]);
        else if (!strcmp(a, "--tsv")) tsv = 1;
        else if (!strcmp(a, "--info")) info_only = 1;
        else if (!strcmp(a, "--to99")) mode99 = 1;
        else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) verbose = 1;
        else if (!strcmp(a, "--seeds") && has) seeds = atoi(argv[++i]);
        else if (!strcmp(a, "--epochs") && has) epochs = atoi(argv[++i]);
        else if (!strcmp(a, "--lr") && has) lr = atof(argv[++i]);
        else if (!strcmp(a, "--batch") && has) batch = atoi(argv[++i]);
        else if (!strcmp(a, "--target") && has) target = atof(argv[++i]);
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (threads > 0) {
        char t[16];
        snprintf(t, sizeof t, "%d", threads);
        setenv("CREASE_NUM_THREADS", t, 1); /* before the plugin loads */
    }
    crease_device *dev;
    if (check(crease_device_open("cpu:0", &dev), "crease_device_open(cpu:0)")) return 1;
    struct crease_device_info info;
    memset(&info, 0, sizeof info);
    info.size = sizeof info;
    crease_device_get_info(dev, &info);
    if (threads <= 0) {
        const char *e = getenv("CREASE_NUM_THREADS");
        threads = e && atoi(e) > 0 ? atoi(e) : info.compute_units;
    }
    if (info_only)
        printf("crease %s, device %s, cpu plugin variant \"%s\" (%s)\n", crease_version(),
               crease_device_name(dev), crease_device_variant(dev), info.name);
    else if (!tsv)
        printf("crease %s, device %s, cpu plugin variant \"%s\" (%s), %d thread(s)\n\n", crease_version(),
               crease_device_name(dev), crease_device_variant(dev), info.name, threads);
    if (info_only) {
        crease_device_free(dev);
        return 0;
    }
    int rc = mode99 ? to99(dev, seeds, epochs, lr, batch, target, threads, verbose)
                    : bench_steps(dev, nets, batches, budget, tsv, threads);
    crease_device_free(dev);
    return rc;
}
