/*
 * bench_gemm.c -- crease's GEMM (the loaded cpu plugin's ops table) against
 * OpenBLAS cblas_sgemm, in the same run, on the same inputs, with the same
 * thread count.
 *
 *   bench/bench_gemm [--threads 1,2] [--time 0.2] [--only square|mlp|step]
 *                    [--csv] [--settle 0.15] [--rounds 1]
 *
 * Every thread count runs in a child process (this program re-executes
 * itself) because the cpu plugin reads CREASE_NUM_THREADS when it starts its
 * thread pool; OpenBLAS gets openblas_set_num_threads() and
 * OPENBLAS_NUM_THREADS in the same child.
 *
 * What is timed: for crease, `reps` calls of dev->ops->gemm on device
 * buffers followed by one ops->finish; for OpenBLAS, `reps` calls of
 * cblas_sgemm on host arrays holding the same numbers.  Both compute
 * C = op(A) op(B) with alpha 1, beta 0.  Each cell is warmed up, `reps` is
 * chosen so one sample lasts about 2 ms (or one call, if longer), samples
 * are taken until the cell's time budget is spent (at least 3), and the
 * best sample (highest GFLOP/s) of each library is reported.  The crease
 * result is checked against OpenBLAS (normalised max error) so a fast but
 * wrong kernel cannot go unnoticed.
 *
 * This file reaches into src/internal.h for struct crease_device (dev->ops,
 * dev->ctx): benchmarks measure the op itself, without the tensor layer.
 */
#define _POSIX_C_SOURCE 200809L

#include "internal.h"

#include <cblas.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Declared by OpenBLAS's cblas.h; repeated so that another cblas.h (the
 * reference one, which lacks it) still compiles against libopenblas. */
void openblas_set_num_threads(int num_threads);

/* One GEMM call. */
struct call {
    int ta, tb, m, n, k;
};

/* A cell: one GEMM, or (group "step") the sequence of GEMMs that one
 * training step issues, timed as a whole. */
#define MAX_CALLS 16
struct shape {
    const char *group; /* "square", "mlp" or "step" */
    char name[48];
    int ta, tb, m, n, k; /* the single call (ncalls == 1) */
    int ncalls;
    struct call calls[MAX_CALLS];
};

#define MAX_SHAPES 64

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void sleep_s(double s)
{
    if (s <= 0) return;
    struct timespec ts;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

static void *xmalloc(size_t bytes)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64)) {
        fprintf(stderr, "bench_gemm: out of memory (%zu bytes)\n", bytes);
        exit(1);
    }
    return p;
}

/* Deterministic inputs in [-1, 1). */
static void fill_random(float *x, size_t n, uint64_t seed)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        x[i] = (float)((double)(s >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
    }
}

static int add_shape(struct shape *s, int count, const char *group, const char *name, int ta, int tb, int m,
                     int n, int k)
{
    if (count >= MAX_SHAPES) return count;
    s[count].group = group;
    snprintf(s[count].name, sizeof s[count].name, "%s", name);
    s[count].ta = ta;
    s[count].tb = tb;
    s[count].m = m;
    s[count].n = n;
    s[count].k = k;
    s[count].ncalls = 1;
    s[count].calls[0] = (struct call){ta, tb, m, n, k};
    return count + 1;
}

/* The GEMMs of one training step of the dense net `widths` (nw widths) at
 * batch b, in the order src/net.c issues them: forward x W^T per layer,
 * then per layer from the last: weight gradient dY^T X and (except the
 * first layer) input gradient dY W. */
static int add_step(struct shape *s, int count, const int *widths, int nw, int b, const char *label)
{
    if (count >= MAX_SHAPES) return count;
    struct shape *x = &s[count];
    memset(x, 0, sizeof *x);
    x->group = "step";
    snprintf(x->name, sizeof x->name, "%s b%d", label, b);
    for (int l = 0; l + 1 < nw; l++)
        x->calls[x->ncalls++] = (struct call){0, 1, b, widths[l + 1], widths[l]};
    for (int l = nw - 2; l >= 0; l--) {
        x->calls[x->ncalls++] = (struct call){1, 0, widths[l + 1], widths[l], b};
        if (l > 0) x->calls[x->ncalls++] = (struct call){0, 0, b, widths[l], widths[l + 1]};
    }
    x->m = x->calls[0].m; /* for buffer sizing only */
    return count + 1;
}

static int make_shapes(struct shape *s, const char *only)
{
    int c = 0;
    if (!only || !strcmp(only, "square")) {
        static const int sq[] = {64, 128, 256, 512, 1024, 2048};
        for (size_t i = 0; i < sizeof sq / sizeof sq[0]; i++) {
            char nm[48];
            snprintf(nm, sizeof nm, "square %d", sq[i]);
            c = add_shape(s, c, "square", nm, 0, 0, sq[i], sq[i], sq[i]);
        }
    }
    if (!only || !strcmp(only, "mlp")) {
        /* The GEMMs of training 2-32-32-32-32-2 (src/net.c): forward
         * x W^T (tb = 1), weight gradient dY^T X (ta = 1), input gradient
         * dY W. */
        static const int batches[] = {256, 1024, 8192};
        for (size_t i = 0; i < sizeof batches / sizeof batches[0]; i++) {
            int b = batches[i];
            char nm[48];
            snprintf(nm, sizeof nm, "fwd %dx32x32 (tb)", b);
            c = add_shape(s, c, "mlp", nm, 0, 1, b, 32, 32);
            snprintf(nm, sizeof nm, "fwd-in %dx32x2 (tb)", b);
            c = add_shape(s, c, "mlp", nm, 0, 1, b, 32, 2);
            snprintf(nm, sizeof nm, "fwd-out %dx2x32 (tb)", b);
            c = add_shape(s, c, "mlp", nm, 0, 1, b, 2, 32);
            snprintf(nm, sizeof nm, "wgrad 32x32x%d (ta)", b);
            c = add_shape(s, c, "mlp", nm, 1, 0, 32, 32, b);
            snprintf(nm, sizeof nm, "dgrad %dx32x32", b);
            c = add_shape(s, c, "mlp", nm, 0, 0, b, 32, 32);
        }
    }
    if (!only || !strcmp(only, "step")) {
        static const int deep[] = {2, 32, 32, 32, 32, 2}, wide[] = {2, 512, 2};
        static const int batches[] = {256, 1024, 8192};
        for (size_t i = 0; i < sizeof batches / sizeof batches[0]; i++)
            c = add_step(s, c, deep, 6, batches[i], "2-32x4-2");
        c = add_step(s, c, wide, 3, 1024, "2-512-2");
    }
    return c;
}

static double shape_flops(const struct shape *s)
{
    double f = 0;
    for (int i = 0; i < s->ncalls; i++) f += 2.0 * s->calls[i].m * (double)s->calls[i].n * s->calls[i].k;
    return f;
}

/* ------------------------------------------------ measured FMA peak */

/* The core's peak: a register-only loop of independent fused multiply-adds
 * (12 chains, enough to cover the FMA latency on every current x86 core),
 * on the vector width of the plugin variant that was loaded.  GFLOP/s of
 * one thread; 0 when the variant has no such loop here. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define R12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define PEAK_LOOP(T, SET1, FMA, RED)                                                                      \
    T x = SET1(1.0000001f), y = SET1(-1e-7f);                                                              \
    R12(PEAK_DECL)                                                                                         \
    for (long i = 0; i < n; i++) {                                                                         \
        R12(PEAK_FMA)                                                                                      \
        __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5), "+v"(a6),       \
                         "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));                              \
    }                                                                                                      \
    float out[sizeof(T) / sizeof(float)];                                                                  \
    RED(out, a0);                                                                                          \
    return out[0];
#define PEAK_FMA(i) a##i = FMA_(a##i, x, y);

__attribute__((target("avx512f"), noinline)) static float peak_run_avx512(long n)
{
#define PEAK_DECL(i) __m512 a##i = _mm512_set1_ps((float)(i));
#define FMA_ _mm512_fmadd_ps
    PEAK_LOOP(__m512, _mm512_set1_ps, FMA_, _mm512_storeu_ps)
#undef PEAK_DECL
#undef FMA_
}

__attribute__((target("avx2,fma"), noinline)) static float peak_run_avx2(long n)
{
#define PEAK_DECL(i) __m256 a##i = _mm256_set1_ps((float)(i));
#define FMA_ _mm256_fmadd_ps
    PEAK_LOOP(__m256, _mm256_set1_ps, FMA_, _mm256_storeu_ps)
#undef PEAK_DECL
#undef FMA_
}

static double peak_gflops(const char *variant)
{
    float (*fn)(long);
    int lanes;
    if (!strcmp(variant, "avx512") && __builtin_cpu_supports("avx512f")) fn = peak_run_avx512, lanes = 16;
    else if (!strcmp(variant, "avx2") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        fn = peak_run_avx2, lanes = 8;
    else return 0;
    const long n = 1000000;
    double best = 0;
    volatile float sink = 0;
    for (int r = 0; r < 20; r++) {
        double t = now_s();
        sink += fn(n);
        t = now_s() - t;
        double g = (double)n * 12.0 * 2.0 * lanes / t * 1e-9;
        if (g > best) best = g;
    }
    (void)sink;
    return best;
}
#else
static double peak_gflops(const char *variant)
{
    (void)variant;
    return 0;
}
#endif

/* ------------------------------------------------------------ one cell */

struct lib_ctx {
    crease_device *dev;
    crease_buf *a, *b, *c; /* device copies */
    const float *ha, *hb;  /* host inputs */
    float *hc;             /* OpenBLAS output */
};

static void die_crease(const char *what, int st)
{
    fprintf(stderr, "bench_gemm: %s: %s (%s)\n", what, crease_status_str(st), crease_last_error());
    exit(1);
}

static void run_crease(const struct lib_ctx *L, const struct shape *s, int reps)
{
    const struct crease_ops *o = L->dev->ops;
    crease_ctx *c = L->dev->ctx;
    for (int r = 0; r < reps; r++)
        for (int i = 0; i < s->ncalls; i++) {
            const struct call *q = &s->calls[i];
            int lda = q->ta ? q->m : q->k, ldb = q->tb ? q->k : q->n;
            int st = o->gemm(c, q->ta, q->tb, q->m, q->n, q->k, 1.0f, L->a, lda, L->b, ldb, 0.0f, L->c, q->n);
            if (st) die_crease("gemm", st);
        }
    int st = o->finish(c);
    if (st) die_crease("finish", st);
}

static void run_blas(const struct lib_ctx *L, const struct shape *s, int reps)
{
    for (int r = 0; r < reps; r++)
        for (int i = 0; i < s->ncalls; i++) {
            const struct call *q = &s->calls[i];
            int lda = q->ta ? q->m : q->k, ldb = q->tb ? q->k : q->n;
            cblas_sgemm(CblasRowMajor, q->ta ? CblasTrans : CblasNoTrans, q->tb ? CblasTrans : CblasNoTrans,
                        q->m, q->n, q->k, 1.0f, L->ha, lda, L->hb, ldb, 0.0f, L->hc, q->n);
        }
}

typedef void (*run_fn)(const struct lib_ctx *, const struct shape *, int);

/* Best seconds per call over samples of `reps` calls, spending about
 * `budget` seconds (at least 3 samples). */
static double best_time(run_fn fn, const struct lib_ctx *L, const struct shape *s, double budget)
{
    /* warm-up: first-touch of workspaces, thread wake-up, caches */
    double t0 = now_s();
    fn(L, s, 1);
    double one = now_s() - t0;
    t0 = now_s();
    fn(L, s, 1);
    double t1 = now_s() - t0;
    if (t1 < one) one = t1;
    if (one < 1e-7) one = 1e-7;

    /* Short samples (about 2 ms): on a loaded machine a short sample has a
     * fair chance to run without being descheduled, and the best one is
     * kept. */
    double sample = budget / 10.0 < 2e-3 ? budget / 10.0 : 2e-3;
    int reps = (int)(sample / one);
    if (reps < 1) reps = 1;
    if (reps > 1000000) reps = 1000000;
    int samples = (int)(budget / (one * reps));
    if (samples < 3) samples = 3;
    if (samples > 1000) samples = 1000;
    double best = 1e300;
    for (int i = 0; i < samples; i++) {
        double a = now_s();
        fn(L, s, reps);
        double t = (now_s() - a) / reps;
        if (t < best) best = t;
    }
    return best;
}

struct group_stats {
    double log_ratio_sum;
    int count;
    double min_ratio;
};

static int child(int threads, double budget, const char *only, int csv, double settle, int rounds)
{
    openblas_set_num_threads(threads);

    crease_device *dev;
    int st = crease_device_open("cpu:0", &dev);
    if (st) die_crease("crease_device_open(cpu:0)", st);

    struct shape shapes[MAX_SHAPES];
    int ns = make_shapes(shapes, only);
    size_t max_a = 0, max_b = 0, max_c = 0;
    for (int i = 0; i < ns; i++)
        for (int j = 0; j < shapes[i].ncalls; j++) {
            const struct call *q = &shapes[i].calls[j];
            size_t a = (size_t)q->m * q->k, b = (size_t)q->k * q->n, c = (size_t)q->m * q->n;
            if (a > max_a) max_a = a;
            if (b > max_b) max_b = b;
            if (c > max_c) max_c = c;
        }
    float *ha = xmalloc(max_a * sizeof(float)), *hb = xmalloc(max_b * sizeof(float));
    float *hc = xmalloc(max_c * sizeof(float)), *hcc = xmalloc(max_c * sizeof(float));
    fill_random(ha, max_a, 1);
    fill_random(hb, max_b, 2);

    double peak = peak_gflops(crease_device_variant(dev));
    struct lib_ctx L = {dev, NULL, NULL, NULL, ha, hb, hc};
    const struct crease_ops *o = dev->ops;
    if ((st = o->buf_alloc(dev->ctx, max_a * sizeof(float), &L.a)) ||
        (st = o->buf_alloc(dev->ctx, max_b * sizeof(float), &L.b)) ||
        (st = o->buf_alloc(dev->ctx, max_c * sizeof(float), &L.c)))
        die_crease("buf_alloc", st);
    if ((st = o->buf_write(dev->ctx, L.a, 0, max_a * sizeof(float), ha)) ||
        (st = o->buf_write(dev->ctx, L.b, 0, max_b * sizeof(float), hb)))
        die_crease("buf_write", st);

    /* Every round measures every cell once; a cell keeps its best time of
     * all rounds, so a burst of load from other processes spoils one
     * round's sample, not the cell. */
    double best_c[MAX_SHAPES], best_b[MAX_SHAPES], errs[MAX_SHAPES];
    for (int i = 0; i < ns; i++) best_c[i] = best_b[i] = 1e300, errs[i] = 0;
    for (int r = 0; r < rounds; r++) {
        if (rounds > 1) fprintf(stderr, "bench_gemm: %d thread(s), round %d of %d\n", threads, r + 1, rounds);
        for (int i = 0; i < ns; i++) {
            const struct shape *s = &shapes[i];
            /* Let the other library's spinning workers go to sleep first. */
            if (threads > 1) sleep_s(settle);
            double tc = best_time(run_crease, &L, s, budget);
            if (threads > 1) sleep_s(settle);
            double tb = best_time(run_blas, &L, s, budget);
            if (tc < best_c[i]) best_c[i] = tc;
            if (tb < best_b[i]) best_b[i] = tb;

            /* correctness: crease's C against OpenBLAS's C */
            /* (a sequence leaves its last call's C) */
            const struct call *last = &s->calls[s->ncalls - 1];
            size_t cn = (size_t)last->m * last->n;
            if ((st = o->buf_read(dev->ctx, L.c, 0, cn * sizeof(float), hcc))) die_crease("buf_read", st);
            double maxdiff = 0, maxref = 0;
            for (size_t j = 0; j < cn; j++) {
                double d = fabs((double)hcc[j] - (double)hc[j]);
                if (!(d <= maxdiff)) maxdiff = d; /* NaN sticks */
                if (fabs((double)hc[j]) > maxref) maxref = fabs((double)hc[j]);
            }
            double err = maxref > 0 ? maxdiff / maxref : maxdiff;
            if (!(err <= errs[i])) errs[i] = err;
        }
    }

    struct group_stats gs[2] = {{0, 0, 1e300}, {0, 0, 1e300}};
    int nsteps = 0;
    for (int i = 0; i < ns; i++) {
        const struct shape *s = &shapes[i];
        double flops = shape_flops(s), err = errs[i];
        double gc = flops / best_c[i] * 1e-9, gb = flops / best_b[i] * 1e-9, ratio = gc / gb;
        int is_step = !strcmp(s->group, "step");
        nsteps += is_step;
        struct group_stats *g = &gs[strcmp(s->group, "square") ? 1 : 0];
        int counted = !is_step && (strcmp(s->group, "square") || s->m >= 256);
        if (counted) {
            g->log_ratio_sum += log(ratio);
            g->count++;
            if (ratio < g->min_ratio) g->min_ratio = ratio;
        }
        if (csv)
            printf("%s,%s,%d,%d,%d,%d,%d,%d,%.3f,%.3f,%.4f,%.2e,%.2f,%.2f\n", s->group, s->name, s->ta, s->tb,
                   s->m, s->n, s->k, threads, gc, gb, ratio, err, best_c[i] * 1e6, best_b[i] * 1e6);
        else if (!is_step)
            printf("| %-22s | %7d | %9.2f | %9.2f | %6.3f | %8.1e%s |\n", s->name, threads, gc, gb, ratio, err,
                   err > 1e-4 || err != err ? " !" : "");
    }
    if (!csv) {
        if (gs[0].count)
            printf("| geomean square n>=256  | %7d |           |           | %6.3f | min %.3f |\n", threads,
                   exp(gs[0].log_ratio_sum / gs[0].count), gs[0].min_ratio);
        if (gs[1].count)
            printf("| geomean MLP shapes     | %7d |           |           | %6.3f | min %.3f |\n", threads,
                   exp(gs[1].log_ratio_sum / gs[1].count), gs[1].min_ratio);
        if (peak > 0)
            printf("| FMA peak (1 core x %d)  | %7d | %9.2f |           |        |           |\n", threads, threads,
                   peak * threads);
        if (nsteps) {
            printf("\nAll GEMMs of one training step (forward, weight and input gradients), back to back:\n\n");
            printf("| %-22s | %7s | %9s | %9s | %6s | %9s |\n", "net, batch (GEMMs)", "threads", "crease us",
                   "BLAS us", "ratio", "GFLOP/s");
            printf("|------------------------|---------|-----------|-----------|--------|-----------|\n");
            for (int i = 0; i < ns; i++) {
                const struct shape *s = &shapes[i];
                if (strcmp(s->group, "step")) continue;
                char nm[64];
                snprintf(nm, sizeof nm, "%s (%d)", s->name, s->ncalls);
                printf("| %-22s | %7d | %9.2f | %9.2f | %6.3f | %9.2f |\n", nm, threads, best_c[i] * 1e6,
                       best_b[i] * 1e6, best_b[i] / best_c[i], shape_flops(s) / best_c[i] * 1e-9);
            }
            printf("\n");
        }
    }
    fflush(stdout);

    o->buf_free(dev->ctx, L.a);
    o->buf_free(dev->ctx, L.b);
    o->buf_free(dev->ctx, L.c);
    crease_device_free(dev);
    free(ha);
    free(hb);
    free(hc);
    free(hcc);
    return 0;
}

/* ------------------------------------------------------------ driver */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_gemm [--threads LIST] [--time SECONDS] [--only square|mlp|step] [--csv]\n"
            "                  [--settle SECONDS] [--rounds N]\n"
            "  --threads LIST   comma-separated thread counts (default 1,2)\n"
            "  --time SECONDS   time budget per library and cell (default 0.2)\n"
            "  --only GROUP     square sizes, MLP shapes, or the GEMM sequence of whole\n"
            "                   training steps (2-32-32-32-32-2, 2-512-2) only\n"
            "  --csv            machine-readable output\n"
            "  --rounds N       measure every cell N times, spread over the run, and\n"
            "                   keep the best (default 1)\n"
            "  --settle SECONDS pause before each measurement with >1 thread so the\n"
            "                   other library's spinning threads sleep (default 0.15)\n");
}

int main(int argc, char **argv)
{
    const char *threads_list = "1,2", *only = NULL;
    double budget = 0.2, settle = 0.15;
    int csv = 0, child_threads = 0, rounds = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--threads") && v) threads_list = argv[++i];
        else if (!strcmp(a, "--time") && v) budget = atof(argv[++i]);
        else if (!strcmp(a, "--settle") && v) settle = atof(argv[++i]);
        else if (!strcmp(a, "--only") && v) only = argv[++i];
        else if (!strcmp(a, "--csv")) csv = 1;
        else if (!strcmp(a, "--rounds") && v) rounds = atoi(argv[++i]);
        else if (!strcmp(a, "--child") && v) child_threads = atoi(argv[++i]);
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (only && strcmp(only, "square") && strcmp(only, "mlp") && strcmp(only, "step")) {
        usage(stderr);
        return 2;
    }
    if (!(budget > 0)) budget = 0.2;
    if (rounds < 1) rounds = 1;
    if (child_threads > 0) return child(child_threads, budget, only, csv, settle, rounds);

    /* Parent: describe the run, then one child per thread count. */
    crease_device *dev;
    int st = crease_device_open("cpu:0", &dev);
    if (st) die_crease("crease_device_open(cpu:0)", st);
    struct crease_device_info info;
    memset(&info, 0, sizeof info);
    info.size = sizeof info;
    crease_device_get_info(dev, &info);
    if (csv)
        printf("group,shape,ta,tb,m,n,k,threads,crease_gflops,openblas_gflops,ratio,max_rel_err,crease_us,"
               "openblas_us\n");
    else {
        printf("crease %s, device %s, cpu plugin variant \"%s\" (%s)\n", crease_version(),
               crease_device_name(dev), crease_device_variant(dev), info.name);
        printf("C = op(A) op(B), alpha 1, beta 0, row-major; best of samples, %.2f s per library and cell,\n"
               "%d round(s)\n",
               budget, rounds);
        printf("ratio = crease / OpenBLAS (>1: crease faster); err = max|C_crease - C_blas| / max|C_blas|\n\n");
        printf("| %-22s | %7s | %9s | %9s | %6s | %9s |\n", "shape (m x n x k)", "threads", "crease", "OpenBLAS",
               "ratio", "err");
        printf("| %-22s | %7s | %9s | %9s | %6s | %9s |\n", "", "", "GFLOP/s", "GFLOP/s", "", "");
        printf("|------------------------|---------|-----------|-----------|--------|-----------|\n");
    }
    fflush(stdout);
    crease_device_free(dev);

    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len > 0) self[len] = '\0';
    else snprintf(self, sizeof self, "%s", argv[0]);

    int rc = 0;
    char *list = strdup(threads_list);
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        int t = atoi(tok);
        if (t < 1) {
            fprintf(stderr, "bench_gemm: bad thread count \"%s\"\n", tok);
            rc = 2;
            break;
        }
        char ts[16], bs[32], ss[32], rs[16];
        snprintf(ts, sizeof ts, "%d", t);
        snprintf(bs, sizeof bs, "%g", budget);
        snprintf(ss, sizeof ss, "%g", settle);
        snprintf(rs, sizeof rs, "%d", rounds);
        char *args[14];
        int na = 0;
        args[na++] = self;
        args[na++] = "--child";
        args[na++] = ts;
        args[na++] = "--time";
        args[na++] = bs;
        args[na++] = "--settle";
        args[na++] = ss;
        args[na++] = "--rounds";
        args[na++] = rs;
        if (only) {
            args[na++] = "--only";
            args[na++] = (char *)only;
        }
        if (csv) args[na++] = "--csv";
        args[na] = NULL;
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0) {
            perror("bench_gemm: fork");
            rc = 1;
            break;
        }
        if (pid == 0) {
            setenv("CREASE_NUM_THREADS", ts, 1);
            setenv("OPENBLAS_NUM_THREADS", ts, 1);
            setenv("OMP_NUM_THREADS", ts, 1);
            execv(self, args);
            perror("bench_gemm: exec");
            _exit(127);
        }
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        if (WIFSIGNALED(status)) {
            fprintf(stderr, "bench_gemm: the run with %d thread(s) was killed by signal %d\n", t,
                    WTERMSIG(status));
            rc = 1;
        } else if (!WIFEXITED(status) || WEXITSTATUS(status)) {
            fprintf(stderr, "bench_gemm: the run with %d thread(s) failed\n", t);
            rc = 1;
        }
    }
    free(list);
    return rc;
}
