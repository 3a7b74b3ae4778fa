/* check_variants.c -- the SIMD variants of the cpu plugin.
 *
 * For every variant built (crease-cpu.so, crease-cpu-avx2.so,
 * crease-cpu-avx512.so, crease-cpu-neon.so) that this processor can run
 * (score() > 0; the others are reported with a SKIP line), the variant is
 * loaded with CREASE_CPU_VARIANT and a set of ops -- GEMM over the shapes
 * that take different code paths (packed blocks, k-split weight gradients,
 * the few-column paths of narrow layers, MLP layers), dense_fwd with every
 * activation, activations, losses, reductions, gather, Adam and SGD -- must
 * agree with the portable variant within the op sweep's limits, with the
 * same NaN/Inf pattern.  And loading without CREASE_CPU_VARIANT must pick
 * the runnable variant with the highest score.
 *
 * The full op sweep (tests/check_ops) sees only the variant the loader
 * picks; `make check-variants` runs it once per runnable variant.
 */
#define _POSIX_C_SOURCE 200809L

#include <check.h>
#include <dirent.h>
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "internal.h"

#include "check_common.h"

#define TOL_EW 1e-7
#define TOL_RED 1e-6
#define TOL_GEMM 5e-4

static const char *const VARIANTS[] = {"portable", "avx2", "avx512", "neon"};
#define NVARIANTS (sizeof VARIANTS / sizeof *VARIANTS)

/* ------------------------------------------------------------ plugin files */

/* The directory of $CREASE_PLUGIN_PATH that holds crease-cpu.so. */
static int cpu_dir(char *out, size_t cap)
{
    const char *path = getenv("CREASE_PLUGIN_PATH");
    if (!path)
        return 0;
    char *copy = strdup(path), *save = NULL;
    int found = 0;
    for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char f[4096];
        snprintf(f, sizeof f, "%s/crease-cpu.so", d);
        FILE *fp = fopen(f, "rb");
        if (fp) {
            fclose(fp);
            snprintf(out, cap, "%s", d);
            found = 1;
        }
    }
    free(copy);
    return found;
}

static void variant_file(const char *dir, const char *v, char *out, size_t cap)
{
    if (!strcmp(v, "portable"))
        snprintf(out, cap, "%s/crease-cpu.so", dir);
    else
        snprintf(out, cap, "%s/crease-cpu-%s.so", dir, v);
}

/* The score a plugin file gives itself: -1 if there is no such file.
 * Only the entry point and score() run, which every variant must allow on
 * any processor. */
static int file_score(const char *file, char *variant, size_t cap)
{
    void *h = dlopen(file, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return -1;
    crease_plugin_entry_fn entry;
    *(void **)&entry = dlsym(h, CREASE_PLUGIN_ENTRY_SYMBOL);
    ck_assert_msg(entry != NULL, "%s: no entry point", file);
    const struct crease_plugin *p = entry();
    ck_assert_msg(p && p->score, "%s: no descriptor", file);
    int s = p->score();
    if (variant)
        snprintf(variant, cap, "%s", p->variant ? p->variant : "");
    dlclose(h);
    return s;
}

/* Loads exactly one cpu variant (or the loader's choice when v is NULL)
 * from dir and opens cpu:0. */
static crease_device *open_variant(const char *dir, const char *v)
{
    setenv("CREASE_PLUGIN_PATH", dir, 1);
    if (v)
        setenv("CREASE_CPU_VARIANT", v, 1);
    else
        unsetenv("CREASE_CPU_VARIANT");
    crease__plugins_reset(0);
    crease_device *d = NULL;
    int st = crease_device_open("cpu:0", &d);
    ck_assert_msg(st == CREASE_OK, "cpu variant %s: %s (%s)", v ? v : "(default)",
                  crease_status_str(st), crease_last_error());
    if (v)
        ck_assert_str_eq(crease_device_variant(d), v);
    return d;
}

/* ------------------------------------------------------------ results */

/* Pass 0 records the portable variant's outputs; later passes compare. */
struct rec {
    char what[128];
    float *v;
    size_t n;
};

#define MAXREC 512
static struct rec recs[MAXREC];
static int nrec, cur, recording;
static const char *variant_now;
static double worst[3]; /* gemm, element-wise, reductions */

static void emit(const char *what, const float *v, size_t n, double tol)
{
    if (recording) {
        ck_assert_int_lt(nrec, MAXREC);
        struct rec *r = &recs[nrec++];
        snprintf(r->what, sizeof r->what, "%s", what);
        r->v = ck_alloc_floats(n);
        memcpy(r->v, v, n * sizeof(float));
        r->n = n;
        return;
    }
    ck_assert_int_lt(cur, nrec);
    struct rec *r = &recs[cur++];
    ck_assert_str_eq(r->what, what);
    ck_assert_uint_eq(r->n, n);
    double *ref = ck_alloc_doubles(n);
    for (size_t i = 0; i < n; i++)
        ref[i] = r->v[i];
    long bad = ck_nonfinite_mismatch(v, ref, n);
    ck_assert_msg(bad < 0, "variant %s: %s: NaN/Inf pattern differs from portable at %ld: %g vs %g",
                  variant_now, what, bad, bad < 0 ? 0.0 : (double)v[bad],
                  bad < 0 ? 0.0 : ref[bad]);
    double e = ck_nmse(v, ref, n);
    free(ref);
    ck_assert_msg(e <= tol, "variant %s: %s: nmse %.3g against portable > %.3g", variant_now,
                  what, e, tol);
    int k = tol == TOL_GEMM ? 0 : tol == TOL_EW ? 1 : 2;
    if (e > worst[k])
        worst[k] = e;
}

/* ------------------------------------------------------------ the ops */

#define OKV(d, call, what)                                                            \
    do {                                                                              \
        int st_ = (call);                                                             \
        ck_assert_msg(st_ == CREASE_OK, "variant %s: %s failed: %s (%s)", variant_now, \
                      what, crease_status_str(st_), crease_last_error());             \
    } while (0)

static float *rand_floats(ck_rng *r, size_t n, float lo, float hi)
{
    float *x = ck_alloc_floats(n);
    ck_fill_uniform(r, x, n, lo, hi);
    return x;
}

static void sprinkle(float *x, size_t n)
{
    static const float special[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 40.0f, -40.0f, 95.0f, -95.0f};
    if (n < 16)
        return;
    for (size_t i = 0; i < sizeof special / sizeof *special; i++)
        x[(i * 2654435761u + 5) % n] = special[i];
}

/* ta, tb, m, n, k, alpha, beta: one shape per path of gemm.c */
static const struct {
    int ta, tb, m, n, k;
    float alpha, beta;
} GEMMS[] = {
    {0, 0, 64, 64, 64, 1.0f, 0.0f},        {0, 0, 515, 515, 515, 1.0f, 0.0f},   /* packed */
    {1, 1, 257, 93, 600, 0.75f, 0.5f},     {0, 0, 300, 257, 129, 1.0f, 1.0f},
    {1, 0, 130, 200, 1100, 1.0f, -0.75f},
    {0, 1, 1024, 32, 32, 1.0f, 0.0f},      {0, 0, 1024, 32, 32, 1.0f, 0.0f},    /* layers */
    {0, 1, 8192, 32, 32, 1.0f, 0.0f},      {0, 1, 1024, 32, 2, 1.0f, 0.0f},
    {0, 1, 1024, 2, 32, 1.0f, 0.0f},       {0, 1, 1000, 3, 37, -0.5f, 0.25f},   /* few columns */
    {0, 1, 77, 1, 200, 1.0f, 0.0f},        {0, 1, 129, 4, 8, 2.0f, 1.0f},
    {1, 0, 32, 32, 1024, 1.0f, 0.0f},      {1, 0, 32, 32, 8192, 1.0f, 0.0f},    /* k-split */
    {1, 0, 2, 32, 1024, 1.0f, 0.0f},       {1, 0, 32, 2, 1024, 1.0f, 0.0f},     /* swapped */
    {1, 0, 61, 3, 700, 2.5f, -0.75f},      {0, 0, 7, 1, 93, 1.0f, 0.5f},
    {1, 1, 1, 257, 1, 1.0f, 1.0f},         {0, 0, 5, 6, 0, 1.0f, 0.5f},
};

static void run_gemms(crease_device *d, ck_rng *r)
{
    for (size_t s = 0; s < sizeof GEMMS / sizeof *GEMMS; s++) {
        int ta = GEMMS[s].ta, tb = GEMMS[s].tb, m = GEMMS[s].m, n = GEMMS[s].n, k = GEMMS[s].k;
        size_t na = (size_t)m * k, nb = (size_t)k * n, nc = (size_t)m * n;
        float *a = rand_floats(r, na, -1, 1), *b = rand_floats(r, nb, -1, 1);
        float *c = rand_floats(r, nc, -1, 1);
        ck_buf A = ck_buf_from(d, a, na), B = ck_buf_from(d, b, nb), C = ck_buf_from(d, c, nc);
        char what[128];
        snprintf(what, sizeof what, "gemm ta=%d tb=%d %dx%dx%d alpha=%g beta=%g", ta, tb, m, n,
                 k, (double)GEMMS[s].alpha, (double)GEMMS[s].beta);
        OKV(d, d->ops->gemm(d->ctx, ta, tb, m, n, k, GEMMS[s].alpha, A.b, ta ? m : (k ? k : 1),
                            B.b, tb ? (k ? k : 1) : n, GEMMS[s].beta, C.b, n),
            what);
        ck_buf_get(&C, c, nc);
        emit(what, c, nc, TOL_GEMM);
        ck_buf_free(&A);
        ck_buf_free(&B);
        ck_buf_free(&C);
        free(a);
        free(b);
        free(c);
    }
    static const int DF[][3] = {{1024, 32, 32}, {1024, 2, 32}, {1024, 32, 2}, {61, 7, 144},
                                {257, 3, 40}};
    for (size_t s = 0; s < sizeof DF / sizeof *DF; s++) {
        int m = DF[s][0], n = DF[s][1], k = DF[s][2];
        float *x = rand_floats(r, (size_t)m * k, -1, 1), *w = rand_floats(r, (size_t)n * k, -1, 1);
        float *bias = rand_floats(r, (size_t)n, -1, 1), *y = ck_alloc_floats((size_t)m * n);
        ck_buf X = ck_buf_from(d, x, (size_t)m * k), W = ck_buf_from(d, w, (size_t)n * k);
        ck_buf Bb = ck_buf_from(d, bias, (size_t)n), Y = ck_buf_new(d, (size_t)m * n, CK_GUARD);
        for (int act = 0; act <= CREASE_ACT_SIGMOID; act++) {
            char what[128];
            snprintf(what, sizeof what, "dense_fwd act=%d %dx%dx%d", act, m, n, k);
            OKV(d, d->ops->dense_fwd(d->ctx, act, act == CREASE_ACT_LEAKY_RELU ? 0.1f : 0.0f, m, n,
                                     k, X.b, W.b, Bb.b, Y.b),
                what);
            ck_buf_get(&Y, y, (size_t)m * n);
            ck_buf_check_guard(&Y, what);
            emit(what, y, (size_t)m * n, TOL_GEMM);
        }
        ck_buf_free(&X);
        ck_buf_free(&W);
        ck_buf_free(&Bb);
        ck_buf_free(&Y);
        free(x);
        free(w);
        free(bias);
        free(y);
    }
}

static void run_elementwise(crease_device *d, ck_rng *r)
{
    const struct crease_ops *o = d->ops;
    static const size_t NS[] = {61, 100003};
    for (size_t s = 0; s < 2; s++) {
        size_t n = NS[s];
        float *x = rand_floats(r, n, -8, 8), *dy = rand_floats(r, n, -2, 2);
        float *y = ck_alloc_floats(n);
        sprinkle(x, n);
        ck_buf X = ck_buf_from(d, x, n), DY = ck_buf_from(d, dy, n);
        ck_buf Y = ck_buf_new(d, n, CK_GUARD), DX = ck_buf_new(d, n, CK_GUARD);
        for (int act = 0; act <= CREASE_ACT_SIGMOID; act++) {
            float al = act == CREASE_ACT_LEAKY_RELU ? 0.125f : 0.0f;
            char what[128];
            snprintf(what, sizeof what, "act_fwd act=%d n=%zu", act, n);
            OKV(d, o->act_fwd(d->ctx, act, al, n, X.b, Y.b), what);
            ck_buf_get(&Y, y, n);
            ck_buf_check_guard(&Y, what);
            emit(what, y, n, TOL_EW);
            /* act_bwd from the portable variant's output, so both get the
             * same input */
            struct rec *ry = &recs[recording ? nrec - 1 : cur - 1];
            ck_buf_put(&Y, ry->v, n);
            snprintf(what, sizeof what, "act_bwd act=%d n=%zu", act, n);
            OKV(d, o->act_bwd(d->ctx, act, al, n, Y.b, DY.b, DX.b), what);
            ck_buf_get(&DX, y, n);
            emit(what, y, n, TOL_EW);
        }
        /* scale, axpy (x holds NaN/Inf) */
        ck_buf_put(&Y, dy, n);
        OKV(d, o->axpy(d->ctx, n, -0.75f, X.b, Y.b), "axpy");
        OKV(d, o->scale(d->ctx, n, 1.5f, Y.b), "scale");
        ck_buf_get(&Y, y, n);
        emit(n > 100 ? "axpy+scale big" : "axpy+scale", y, n, TOL_EW);
        /* bce and mse */
        float *t = rand_floats(r, n, 0, 1);
        for (size_t i = 0; i < n; i += 11)
            t[i] = -1.0f;
        float *z = rand_floats(r, n, -30, 30);
        ck_buf T = ck_buf_from(d, t, n), Z = ck_buf_from(d, z, n);
        OKV(d, o->bce_logits(d->ctx, n, Z.b, T.b, 0.5f, Y.b, DX.b), "bce_logits");
        ck_buf_get(&Y, y, n);
        emit(n > 100 ? "bce grad big" : "bce grad", y, n, TOL_EW);
        ck_buf_get(&DX, y, n);
        emit(n > 100 ? "bce loss big" : "bce loss", y, n, TOL_EW);
        OKV(d, o->mse(d->ctx, n, Z.b, T.b, 0.5f, Y.b, DX.b), "mse");
        ck_buf_get(&Y, y, n);
        emit(n > 100 ? "mse grad big" : "mse grad", y, n, TOL_EW);
        /* sum */
        ck_buf S = ck_buf_new(d, 1, CK_GUARD);
        OKV(d, o->sum(d->ctx, n, DY.b, 0.0f, S.b, 0), "sum");
        float sv;
        ck_buf_get(&S, &sv, 1);
        emit(n > 100 ? "sum big" : "sum", &sv, 1, TOL_RED);
        ck_buf_free(&S);
        ck_buf_free(&T);
        ck_buf_free(&Z);
        free(t);
        free(z);
        ck_buf_free(&X);
        ck_buf_free(&DY);
        ck_buf_free(&Y);
        ck_buf_free(&DX);
        free(x);
        free(dy);
        free(y);
    }
}

static void run_rows(crease_device *d, ck_rng *r)
{
    const struct crease_ops *o = d->ops;
    static const int COLS[] = {1, 2, 7, 32, 93};
    for (size_t s = 0; s < sizeof COLS / sizeof *COLS; s++) {
        int rows = 3000, cols = COLS[s];
        size_t n = (size_t)rows * cols;
        float *z = rand_floats(r, n, -5, 5), *lab = ck_alloc_floats((size_t)rows);
        float *g = ck_alloc_floats(n), *l = ck_alloc_floats((size_t)rows);
        for (int i = 0; i < rows; i++) {
            lab[i] = ck_rng_below(r, 5) == 0 ? -1.0f : (float)ck_rng_below(r, (uint32_t)cols);
            if (i % 13 == 3)
                z[(size_t)i * cols] = 80.0f;
        }
        ck_buf Z = ck_buf_from(d, z, n), L = ck_buf_from(d, lab, (size_t)rows);
        ck_buf G = ck_buf_new(d, n, CK_GUARD), LS = ck_buf_new(d, (size_t)rows, CK_GUARD);
        char what[128];
        snprintf(what, sizeof what, "softmax_xent %dx%d", rows, cols);
        OKV(d, o->softmax_xent(d->ctx, rows, cols, Z.b, L.b, 1.0f / rows, G.b, LS.b), what);
        ck_buf_get(&G, g, n);
        ck_buf_check_guard(&G, what);
        emit(what, g, n, TOL_EW);
        ck_buf_get(&LS, l, (size_t)rows);
        emit(what, l, (size_t)rows, TOL_EW);
        /* reduce_rows and bias_add on the same matrix */
        ck_buf RO = ck_buf_new(d, (size_t)cols, CK_GUARD);
        snprintf(what, sizeof what, "reduce_rows %dx%d", rows, cols);
        OKV(d, o->reduce_rows(d->ctx, rows, cols, Z.b, 0.0f, RO.b), what);
        ck_buf_get(&RO, g, (size_t)cols);
        emit(what, g, (size_t)cols, TOL_RED);
        snprintf(what, sizeof what, "bias_add %dx%d", rows, cols);
        OKV(d, o->bias_add(d->ctx, rows, cols, Z.b, RO.b), what);
        ck_buf_get(&Z, g, n);
        emit(what, g, n, TOL_EW);
        /* gather */
        float *idx = ck_alloc_floats(1000);
        for (int i = 0; i < 1000; i++) {
            uint32_t u = ck_rng_below(r, (uint32_t)rows);
            memcpy(&idx[i], &u, sizeof u);
        }
        ck_buf I = ck_buf_from(d, idx, 1000), GD = ck_buf_new(d, 1000 * (size_t)cols, CK_GUARD);
        snprintf(what, sizeof what, "gather_rows 1000x%d", cols);
        OKV(d, o->gather_rows(d->ctx, 1000, cols, Z.b, I.b, 0, GD.b), what);
        ck_buf_get(&GD, g, 1000 * (size_t)cols);
        emit(what, g, 1000 * (size_t)cols, TOL_EW);
        ck_buf_free(&I);
        ck_buf_free(&GD);
        free(idx);
        ck_buf_free(&RO);
        ck_buf_free(&Z);
        ck_buf_free(&L);
        ck_buf_free(&G);
        ck_buf_free(&LS);
        free(z);
        free(lab);
        free(g);
        free(l);
    }
}

static void run_optim(crease_device *d, ck_rng *r)
{
    const struct crease_ops *o = d->ops;
    size_t n = 100003;
    float *w = rand_floats(r, n, -1, 1), *g = rand_floats(r, n, -1, 1);
    float *m = rand_floats(r, n, -0.1f, 0.1f), *v = rand_floats(r, n, 0, 0.01f);
    float *out = ck_alloc_floats(n);
    for (int dec = 0; dec < 2; dec++) {
        ck_buf W = ck_buf_from(d, w, n), G = ck_buf_from(d, g, n), M = ck_buf_from(d, m, n),
               V = ck_buf_from(d, v, n);
        char what[128];
        snprintf(what, sizeof what, "adam_update decoupled=%d", dec);
        for (int step = 1; step <= 3; step++)
            OKV(d, o->adam_update(d->ctx, n, W.b, G.b, M.b, V.b, 1e-3f, 0.9f, 0.999f, 1e-8f,
                                  dec ? 0.01f : 0.001f, dec, 1.0f - powf(0.9f, (float)step),
                                  1.0f - powf(0.999f, (float)step)),
                what);
        ck_buf_get(&W, out, n);
        emit(what, out, n, TOL_EW);
        ck_buf_get(&V, out, n);
        emit(what, out, n, TOL_EW);
        snprintf(what, sizeof what, "sgd_update nesterov=%d", dec);
        OKV(d, o->sgd_update(d->ctx, n, W.b, G.b, M.b, 0.01f, 0.9f, 1e-4f, dec), what);
        ck_buf_get(&W, out, n);
        emit(what, out, n, TOL_EW);
        ck_buf_free(&W);
        ck_buf_free(&G);
        ck_buf_free(&M);
        ck_buf_free(&V);
    }
    free(w);
    free(g);
    free(m);
    free(v);
    free(out);
}

static void run_all(crease_device *d)
{
    ck_rng r;
    ck_rng_seed(&r, 2024);
    cur = 0;
    run_gemms(d, &r);
    run_elementwise(d, &r);
    run_rows(d, &r);
    run_optim(d, &r);
    if (!recording)
        ck_assert_int_eq(cur, nrec);
}

/* ------------------------------------------------------------ tests */

START_TEST(test_variants_agree)
{
    char dir[4096];
    ck_assert_msg(cpu_dir(dir, sizeof dir), "no crease-cpu.so on CREASE_PLUGIN_PATH=%s",
                  getenv("CREASE_PLUGIN_PATH") ? getenv("CREASE_PLUGIN_PATH") : "(unset)");
    /* the reference: the portable variant */
    crease_device *d = open_variant(dir, "portable");
    recording = 1;
    nrec = 0;
    variant_now = "portable";
    run_all(d);
    crease_device_free(d);
    recording = 0;
    printf("portable: %d results recorded\n", nrec);
    int compared = 0;
    for (size_t v = 1; v < NVARIANTS; v++) {
        char file[4200];
        variant_file(dir, VARIANTS[v], file, sizeof file);
        int score = file_score(file, NULL, 0);
        if (score < 0) {
            printf("SKIP variant %s: not built (no %s)\n", VARIANTS[v], file);
            continue;
        }
        if (score == 0) {
            printf("SKIP variant %s: this processor cannot run it (score 0)\n", VARIANTS[v]);
            continue;
        }
        d = open_variant(dir, VARIANTS[v]);
        variant_now = VARIANTS[v];
        memset(worst, 0, sizeof worst);
        run_all(d);
        crease_device_free(d);
        printf("variant %s (score %d): %d results agree with portable; worst nmse gemm %.2e, "
               "element-wise %.2e, reductions %.2e\n",
               VARIANTS[v], score, nrec, worst[0], worst[1], worst[2]);
        compared++;
    }
    printf("%d SIMD variant%s compared with portable\n", compared, compared == 1 ? "" : "s");
    fflush(stdout);
    for (int i = 0; i < nrec; i++)
        free(recs[i].v);
    nrec = 0;
    crease__plugins_reset(1);
}
END_TEST

START_TEST(test_default_is_best)
{
    char dir[4096];
    ck_assert(cpu_dir(dir, sizeof dir));
    /* every crease-cpu*.so in the directory, scored by itself */
    DIR *dd = opendir(dir);
    ck_assert_ptr_nonnull(dd);
    struct dirent *e;
    int best = 0;
    char best_variant[64] = "";
    while ((e = readdir(dd))) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "crease-cpu", 10) || len < 4 || strcmp(e->d_name + len - 3, ".so"))
            continue;
        char file[4400], variant[64];
        snprintf(file, sizeof file, "%s/%s", dir, e->d_name);
        int s = file_score(file, variant, sizeof variant);
        printf("%s: variant %s, score %d%s\n", e->d_name, variant, s,
               s > 0 ? "" : " (cannot run here)");
        if (s > best) {
            best = s;
            snprintf(best_variant, sizeof best_variant, "%s", variant);
        }
    }
    closedir(dd);
    ck_assert_msg(best > 0, "no runnable cpu variant in %s", dir);
    crease_device *d = open_variant(dir, NULL);
    printf("default choice: %s (best runnable: %s, score %d)\n", crease_device_variant(d),
           best_variant, best);
    fflush(stdout);
    ck_assert_str_eq(crease_device_variant(d), best_variant);
    crease_device_free(d);
    crease__plugins_reset(1);
}
END_TEST

CK_MAIN("variants", NULL, NULL, 600, test_default_is_best, test_variants_agree)
