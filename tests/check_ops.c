/* check_ops.c -- the cross-backend op sweep.
 *
 * Every op of every device of every loaded plugin is run over awkward
 * shapes and compared with a naive double-precision reference written
 * here.  Limits are normalised mean squared errors (1e-7 element-wise,
 * 1e-6 reductions, 5e-4 GEMM-like, plus a per-element bound for GEMM so a
 * single wrong element cannot hide in a large matrix), identical NaN/Inf
 * patterns, and a guard zone of sentinel floats after every output that
 * must survive the op.  Optional ops a device does not offer are reported
 * ("SKIP op ...") and not failed.
 */
#define _POSIX_C_SOURCE 200809L

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "internal.h"

#include "check_common.h"

#define TOL_EW 1e-7    /* element-wise ops */
#define TOL_RED 1e-6   /* reductions */
#define TOL_GEMM 5e-4  /* GEMM-like ops (normalised MSE) */
#define TOL_ELEM 2e-3  /* GEMM per element, relative to sum |alpha a b| + |beta c| */

static ck_devices devs;

/* Plugins are loaded and devices opened only in the process that runs a
 * test (Check forks one per test), never in the parent before it forks:
 * driver threads (PoCL's, the cpu pool's) do not survive fork(), and a
 * child would hang on a driver whose threads are gone. */
static void setup(void)
{
    ck_devices_open(&devs);
}

static void teardown(void)
{
    ck_devices_close(&devs);
}

#define FOR_DEVICES(d)                       \
    for (int di_ = 0; di_ < devs.n; di_++)   \
        for (crease_device *d = devs.dev[di_]; d; d = NULL)

/* whether d offers the op; if not, says so (call it once per test) */
#define OFFERED(d, slot) offered((d), CREASE_HAS_OP((d)->ops, slot), #slot)

/* FOR_DEVICES over the devices that offer the op (the others are reported) */
#define FOR_DEVICES_WITH(d, slot) FOR_DEVICES(d) if (OFFERED(d, slot))

static int offered(const crease_device *d, int has, const char *op)
{
    if (!has) {
        printf("SKIP op %s on device %s: not offered\n", op, d->name);
        fflush(stdout);
    }
    return has;
}

static const size_t SIZES[] = {1, 2, 7, 61, 93, 144, 257, 100003};
#define NSIZES (sizeof SIZES / sizeof *SIZES)

/* ck_assert that the op returned OK, with the backend's detail */
#define OK(d, call, what)                                                          \
    do {                                                                           \
        int st_ = (call);                                                          \
        ck_assert_msg(st_ == CREASE_OK, "%s: %s failed: %s (%s)", (d)->name, what, \
                      crease_status_str(st_), crease_last_error());                \
    } while (0)

static void expect_close(const crease_device *d, const char *what, const float *got,
                         const double *ref, size_t n, double tol)
{
    long bad = ck_nonfinite_mismatch(got, ref, n);
    ck_assert_msg(bad < 0, "%s: %s: NaN/Inf pattern differs at %ld: got %g, want %g",
                  d->name, what, bad, bad < 0 ? 0.0 : (double)got[bad],
                  bad < 0 ? 0.0 : ref[bad]);
    double e = ck_nmse(got, ref, n);
    ck_assert_msg(e <= tol, "%s: %s: nmse %.3g > %.3g", d->name, what, e, tol);
}

/* Assertions are checked once per result, not per element: in Check's
 * fork mode every passing assertion also reports to the parent. */
static void expect_exact(const crease_device *d, const char *what, const float *got,
                         const float *want, size_t n)
{
    size_t i = 0;
    while (i < n && memcmp(&got[i], &want[i], sizeof(float)) == 0)
        i++;
    ck_assert_msg(i == n, "%s: %s: element %zu is %g, want %g", d->name, what, i,
                  i < n ? (double)got[i] : 0.0, i < n ? (double)want[i] : 0.0);
}

/* Reads the n floats of the output B into got and checks them against ref
 * (expect_close) and its guard. */
static void expect_output(const crease_device *d, const char *what, const ck_buf *B,
                          float *got, const double *ref, size_t n, double tol)
{
    ck_buf_get(B, got, n);
    ck_buf_check_guard(B, what);
    expect_close(d, what, got, ref, n, tol);
}

/* The same, bit for bit against want (expect_exact). */
static void expect_output_exact(const crease_device *d, const char *what, const ck_buf *B,
                                float *got, const float *want, size_t n)
{
    ck_buf_get(B, got, n);
    ck_buf_check_guard(B, what);
    expect_exact(d, what, got, want, n);
}

/* puts NaN, +-Inf and signed zeros at a few fixed places */
static void sprinkle_nonfinite(float *x, size_t n)
{
    static const float special[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f};
    if (n < 7)
        return;
    for (size_t i = 0; i < 5; i++)
        x[(i * 2654435761u + 3) % n] = special[i];
}

/* ================================================================ devices */

START_TEST(test_devices)
{
    ck_assert_msg(devs.n > 0, "no device to test: %s", crease_last_error());
    ck_devices_print(stdout);
    fflush(stdout);
}
END_TEST

/* ================================================================ memory */

START_TEST(test_memory_roundtrip)
{
    FOR_DEVICES(d)
    {
        const struct crease_ops *o = d->ops;
        ck_rng r = ck_rng_new(1);
        ck_scratch sc = {0};
        size_t n = 1000;
        float *x = ck_scratch_floats(&sc, n), *y = ck_scratch_floats(&sc, n);
        ck_fill_uniform(&r, x, n, -5, 5);
        x[3] = NAN;
        x[4] = -0.0f;
        x[5] = INFINITY;
        ck_buf a = ck_buf_new(d, n, CK_GUARD), b = ck_buf_new(d, n, CK_GUARD);
        ck_buf_put(&a, x, n);
        ck_buf_get(&a, y, n);
        ck_assert_msg(memcmp(x, y, n * sizeof *x) == 0, "%s: write/read not bit-exact", d->name);

        /* partial write at an offset */
        float part[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
        OK(d, o->buf_write(d->ctx, a.b, 100 * sizeof(float), sizeof part, part), "buf_write");
        memcpy(x + 100, part, sizeof part);
        /* copy with offsets, within and across buffers */
        OK(d, o->buf_copy(d->ctx, b.b, 0, a.b, 0, n * sizeof(float)), "buf_copy");
        OK(d, o->buf_copy(d->ctx, b.b, 10 * sizeof(float), a.b, 500 * sizeof(float),
                          77 * sizeof(float)),
           "buf_copy offsets");
        float *want2 = ck_scratch_floats(&sc, n);
        memcpy(want2, x, n * sizeof *x);
        memcpy(want2 + 10, x + 500, 77 * sizeof *x);
        ck_buf_get(&b, y, n);
        expect_exact(d, "buf_copy", y, want2, n);
        OK(d, o->buf_read(d->ctx, a.b, 200 * sizeof(float), 5 * sizeof(float), y), "buf_read");
        expect_exact(d, "buf_read at offset", y, x + 200, 5);
        OK(d, o->finish(d->ctx), "finish");

        /* fill over awkward sizes; the guard shows it stops at n */
        for (size_t s = 0; s < NSIZES; s++) {
            ck_buf f = ck_buf_new(d, SIZES[s], CK_GUARD);
            OK(d, o->fill(d->ctx, f.b, SIZES[s], -2.5f), "fill");
            float *g = ck_alloc_floats(SIZES[s]), *want = ck_alloc_floats(SIZES[s]);
            for (size_t i = 0; i < SIZES[s]; i++)
                want[i] = -2.5f;
            expect_output_exact(d, "fill", &f, g, want, SIZES[s]);
            free(g);
            free(want);
            ck_buf_free(&f);
        }
        o->buf_free(d->ctx, NULL); /* a no-op */
        ck_buf_check_guard(&a, "buf_write");
        ck_buf_check_guard(&b, "buf_copy");
        ck_buf_free(&a);
        ck_buf_free(&b);
        ck_scratch_free(&sc);
    }
}
END_TEST

/* an op that must fail with a negative status and leave a message */
#define EXPECT_FAIL(d, call, what)                                                     \
    do {                                                                               \
        crease__clear_error();                                                         \
        int st_ = (call);                                                              \
        ck_assert_msg(st_ < 0, "%s: %s: expected an error, got %d", (d)->name, what, st_); \
        ck_assert_msg(crease_last_error()[0] != '\0', "%s: %s: error without detail",   \
                      (d)->name, what);                                                \
    } while (0)

START_TEST(test_errors)
{
    FOR_DEVICES(d)
    {
        const struct crease_ops *o = d->ops;
        crease_ctx *c = d->ctx;
        float h[16] = {0};
        ck_buf a = ck_buf_new(d, 10, 0), b = ck_buf_new(d, 10, 0);
        size_t fs = sizeof(float);

        EXPECT_FAIL(d, o->buf_read(c, a.b, 0, 11 * fs, h), "buf_read past the end");
        EXPECT_FAIL(d, o->buf_read(c, a.b, 10 * fs, fs, h), "buf_read at the end");
        EXPECT_FAIL(d, o->buf_read(c, a.b, SIZE_MAX - 3, 8, h), "buf_read offset overflow");
        EXPECT_FAIL(d, o->buf_write(c, a.b, 9 * fs, 2 * fs, h), "buf_write past the end");
        EXPECT_FAIL(d, o->buf_copy(c, a.b, 0, b.b, 5 * fs, 6 * fs), "buf_copy src past end");
        EXPECT_FAIL(d, o->buf_copy(c, a.b, 8 * fs, b.b, 0, 3 * fs), "buf_copy dst past end");
        EXPECT_FAIL(d, o->buf_read(c, NULL, 0, fs, h), "buf_read of NULL");
        /* far beyond any device: a clear error, not a crash */
        crease_buf *huge = NULL;
        EXPECT_FAIL(d, o->buf_alloc(c, (size_t)1 << 62, &huge), "buf_alloc of 2^62 bytes");
        ck_assert_ptr_null(huge);
        EXPECT_FAIL(d, o->fill(c, NULL, 1, 0.0f), "fill NULL");
        EXPECT_FAIL(d, o->fill(c, a.b, 11, 0.0f), "fill past the end");
        EXPECT_FAIL(d, o->scale(c, 1, 2.0f, NULL), "scale NULL");
        EXPECT_FAIL(d, o->axpy(c, 10, 1.0f, NULL, a.b), "axpy NULL x");
        EXPECT_FAIL(d, o->axpy(c, 11, 1.0f, a.b, b.b), "axpy past the end");
        EXPECT_FAIL(d, o->gemm(c, 0, 0, 2, 2, 2, 1.0f, NULL, 2, a.b, 2, 0.0f, b.b, 2),
                    "gemm NULL A");
        EXPECT_FAIL(d, o->gemm(c, 0, 0, 2, 2, 2, 1.0f, a.b, 2, b.b, 2, 0.0f, NULL, 2),
                    "gemm NULL C");
        EXPECT_FAIL(d, o->gemm(c, 0, 0, -1, 2, 2, 1.0f, a.b, 2, b.b, 2, 0.0f, b.b, 2),
                    "gemm m < 0");
        EXPECT_FAIL(d, o->gemm(c, 0, 0, 2, 2, 3, 1.0f, a.b, 2, b.b, 2, 0.0f, b.b, 2),
                    "gemm lda < k");
        EXPECT_FAIL(d, o->gemm(c, 0, 0, 4, 4, 4, 1.0f, a.b, 4, b.b, 4, 0.0f, b.b, 4),
                    "gemm A too small");
        EXPECT_FAIL(d, o->bias_add(c, 3, 4, a.b, b.b), "bias_add y too small");
        EXPECT_FAIL(d, o->reduce_rows(c, 2, 3, a.b, 0.0f, NULL), "reduce_rows NULL out");
        EXPECT_FAIL(d, o->sum(c, 10, a.b, 0.0f, b.b, 10), "sum out_off past the end");
        EXPECT_FAIL(d, o->act_fwd(c, CREASE_ACT_RELU, 0.0f, 11, a.b, b.b), "act_fwd past end");
        EXPECT_FAIL(d, o->sgd_update(c, 10, a.b, NULL, NULL, 0.1f, 0.0f, 0.0f, 0),
                    "sgd_update NULL grad");

        /* the device still works afterwards */
        OK(d, o->fill(c, a.b, 10, 3.0f), "fill after errors");
        ck_buf_get(&a, h, 10);
        for (int i = 0; i < 10; i++)
            ck_assert(h[i] == 3.0f);
        ck_buf_free(&a);
        ck_buf_free(&b);
    }
}
END_TEST

/* ================================================================ GEMM */

struct gemm_stats {
    int cases;
    double worst;
};

/* C = alpha op(A) op(B) + beta C with leading dimensions padded by pad,
 * checked against the double reference.  Padding columns of C (between n
 * and ldc) hold the sentinel and must survive, like the guard after C.
 * beta == 0 puts NaN into C, which must be ignored. */
static void gemm_case(crease_device *d, ck_rng *r, int ta, int tb, int m, int n, int k,
                      float alpha, float beta, int pad, struct gemm_stats *st)
{
    int acols = ta ? m : k, arows = ta ? k : m;
    int bcols = tb ? k : n, brows = tb ? n : k;
    int lda = (acols > 1 ? acols : 1) + pad, ldb = (bcols > 1 ? bcols : 1) + pad;
    int ldc = n + pad;
    size_t na = arows && acols ? (size_t)(arows - 1) * lda + acols : 0;
    size_t nb = brows && bcols ? (size_t)(brows - 1) * ldb + bcols : 0;
    size_t nc = (size_t)(m - 1) * ldc + n;
    ck_scratch sc = {0};
    float *a = ck_scratch_floats(&sc, na), *b = ck_scratch_floats(&sc, nb);
    float *c = ck_scratch_floats(&sc, nc), *got = ck_scratch_floats(&sc, nc);
    ck_fill_uniform(r, a, na, -1, 1);
    ck_fill_uniform(r, b, nb, -1, 1);
    float sent = ck_sentinel();
    for (size_t i = 0; i < nc; i++)
        c[i] = sent;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
            c[(size_t)i * ldc + j] = beta == 0.0f ? NAN : (float)(2 * ck_rng_uniform(r) - 1);

    ck_buf A = ck_buf_from(d, a, na ? na : 1), B = ck_buf_from(d, b, nb ? nb : 1);
    ck_buf C = ck_buf_new(d, nc, CK_GUARD);
    ck_buf_put(&C, c, nc);
    char what[160];
    snprintf(what, sizeof what,
             "gemm ta=%d tb=%d m=%d n=%d k=%d alpha=%g beta=%g lda=%d ldb=%d ldc=%d",
             ta, tb, m, n, k, (double)alpha, (double)beta, lda, ldb, ldc);
    OK(d, d->ops->gemm(d->ctx, ta, tb, m, n, k, alpha, A.b, lda, B.b, ldb, beta, C.b, ldc), what);
    ck_buf_get(&C, got, nc);
    ck_buf_check_guard(&C, what);

    double *ref = ck_scratch_doubles(&sc, (size_t)m * n);
    float *gv = ck_scratch_floats(&sc, (size_t)m * n);
    int bad_i = -1, bad_j = -1, pad_i = -1, pad_j = -1;
    double bad_want = 0;
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
            double s = 0.0, sa = 0.0;
            for (int p = 0; p < k; p++) {
                double av = ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
                double bv = tb ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j];
                s += av * bv;
                sa += fabs(av * bv);
            }
            double cv = beta == 0.0f ? 0.0 : (double)beta * c[(size_t)i * ldc + j];
            double want = (double)alpha * s + cv;
            double bound = TOL_ELEM * (fabs((double)alpha) * sa + fabs(cv)) + 1e-6;
            float g = got[(size_t)i * ldc + j];
            if (!(fabs(g - want) <= bound) && bad_i < 0) {
                bad_i = i;
                bad_j = j;
                bad_want = want;
            }
            ref[(size_t)i * n + j] = want;
            gv[(size_t)i * n + j] = g;
        }
        for (int j = n; j < ldc && i < m - 1; j++) {
            uint32_t u;
            memcpy(&u, &got[(size_t)i * ldc + j], sizeof u);
            if (u != CK_SENTINEL && pad_i < 0) {
                pad_i = i;
                pad_j = j;
            }
        }
    }
    ck_assert_msg(bad_i < 0, "%s: %s: C[%d][%d] = %.9g, want %.9g", d->name, what, bad_i,
                  bad_j, bad_i < 0 ? 0.0 : (double)got[(size_t)bad_i * ldc + bad_j], bad_want);
    ck_assert_msg(pad_i < 0, "%s: %s: wrote C[%d][%d] in the ldc padding", d->name, what,
                  pad_i, pad_j);
    double e = ck_nmse(gv, ref, (size_t)m * n);
    ck_assert_msg(e <= TOL_GEMM, "%s: %s: nmse %.3g", d->name, what, e);
    if (st) {
        st->cases++;
        if (e > st->worst)
            st->worst = e;
    }
    ck_buf_free(&A);
    ck_buf_free(&B);
    ck_buf_free(&C);
    ck_scratch_free(&sc);
}

START_TEST(test_gemm_sweep)
{
    static const int dims[] = {1, 7, 61, 93, 144};
    static const float alphas[] = {1.0f, -0.5f, 2.5f};
    static const float betas[] = {0.0f, 1.0f, -0.75f, 0.5f};
    static const int pads[] = {0, 3, 17};
    FOR_DEVICES_WITH(d, gemm)
    {
        ck_rng r = ck_rng_new(42);
        struct gemm_stats st = {0, 0.0};
        int q = 0;
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int im = 0; im < 5; im++)
                    for (int in = 0; in < 5; in++)
                        for (int ik = 0; ik < 5; ik++, q++)
                            gemm_case(d, &r, ta, tb, dims[im], dims[in], dims[ik],
                                      alphas[q % 3], betas[q % 4], pads[(q / 4) % 3], &st);
        printf("%s: gemm sweep: %d cases, worst nmse %.2e\n", d->name, st.cases, st.worst);
    }
}
END_TEST

/* bigger and MLP-shaped problems: batch x 32 x 32 layers, batch x 2 x 32
 * heads, 32 x 32 x batch weight gradients */
static const int BIG[][5] = {
    /* ta, tb, m, n, k */
    {0, 0, 300, 257, 129},  {0, 1, 300, 257, 129}, {1, 0, 300, 257, 129},
    {1, 1, 300, 257, 129},  {0, 1, 1024, 32, 2},   {0, 1, 1024, 32, 32},
    {0, 1, 1024, 2, 32},    {0, 0, 1024, 32, 32},  {0, 0, 1024, 32, 2},
    {0, 0, 1024, 2, 32},    {1, 0, 32, 32, 1024},  {1, 0, 2, 32, 1024},
    {1, 0, 32, 2, 1024},    {1, 0, 32, 32, 8192},  {1, 0, 2, 32, 8192},
    {0, 1, 8192, 32, 32},   {0, 0, 512, 512, 512}, {1, 1, 257, 93, 600},
};

START_TEST(test_gemm_big)
{
    FOR_DEVICES_WITH(d, gemm)
    {
        ck_rng r = ck_rng_new(7);
        struct gemm_stats st = {0, 0.0};
        for (size_t i = 0; i < sizeof BIG / sizeof *BIG; i++)
            gemm_case(d, &r, BIG[i][0], BIG[i][1], BIG[i][2], BIG[i][3], BIG[i][4],
                      i % 2 ? 1.0f : 0.75f, i % 3 ? 0.0f : 0.5f, i % 4 == 1 ? 5 : 0, &st);
        printf("%s: gemm big/MLP shapes: %d cases, worst nmse %.2e\n", d->name, st.cases,
               st.worst);
    }
}
END_TEST

START_TEST(test_gemm_degenerate)
{
    FOR_DEVICES_WITH(d, gemm)
    {
        const struct crease_ops *o = d->ops;
        float a1 = 1.0f;
        ck_buf A = ck_buf_from(d, &a1, 1), B = ck_buf_from(d, &a1, 1);
        /* k = 0: C = beta C, and C is not read when beta == 0 */
        for (int bz = 0; bz < 2; bz++) {
            int m = 7, n = 9;
            float c[63], got[63], want[63];
            for (int i = 0; i < 63; i++) {
                c[i] = bz ? NAN : (float)i - 30.0f;
                want[i] = bz ? 0.0f : 0.5f * c[i];
            }
            ck_buf C = ck_buf_new(d, 63, CK_GUARD);
            ck_buf_put(&C, c, 63);
            OK(d, o->gemm(d->ctx, 0, 0, m, n, 0, 1.0f, A.b, 1, B.b, n, bz ? 0.0f : 0.5f, C.b, n),
               "gemm k=0");
            expect_output_exact(d, "gemm k=0", &C, got, want, 63);
            ck_buf_free(&C);
        }
        ck_buf_free(&A);
        ck_buf_free(&B);
        /* alpha = 0 with beta != 0, and m = n = k = 1 */
        ck_rng r = ck_rng_new(9);
        gemm_case(d, &r, 0, 0, 5, 6, 7, 0.0f, 1.5f, 0, NULL);
        gemm_case(d, &r, 1, 1, 1, 1, 1, 1.0f, 0.0f, 0, NULL);
        gemm_case(d, &r, 1, 0, 1, 257, 1, -1.0f, 1.0f, 2, NULL);
    }
}
END_TEST

/* runs one GEMM and returns C (m x n, ldc = n) */
static float *gemm_once(crease_device *d, int ta, int tb, int m, int n, int k, float alpha,
                        float beta, uint64_t seed)
{
    ck_rng r = ck_rng_new(seed);
    size_t na = (size_t)m * k, nb = (size_t)k * n, nc = (size_t)m * n;
    float *a = ck_alloc_floats(na), *b = ck_alloc_floats(nb), *c = ck_alloc_floats(nc);
    ck_fill_uniform(&r, a, na, -1, 1);
    ck_fill_uniform(&r, b, nb, -1, 1);
    ck_fill_uniform(&r, c, nc, -1, 1);
    ck_buf A = ck_buf_from(d, a, na), B = ck_buf_from(d, b, nb), C = ck_buf_from(d, c, nc);
    OK(d, d->ops->gemm(d->ctx, ta, tb, m, n, k, alpha, A.b, ta ? m : k, B.b, tb ? k : n, beta,
                       C.b, n),
       "gemm");
    ck_buf_get(&C, c, nc);
    ck_buf_free(&A);
    ck_buf_free(&B);
    ck_buf_free(&C);
    free(a);
    free(b);
    return c;
}

static const int DET[][5] = {
    {0, 0, 300, 257, 129}, {1, 0, 32, 32, 8192}, {0, 1, 1024, 32, 32},
    {1, 0, 2, 32, 4096},   {0, 0, 512, 512, 512},
};

START_TEST(test_gemm_determinism)
{
    FOR_DEVICES_WITH(d, gemm)
    {
        /* both the plain (alpha 1, beta 0) and the general case */
        for (size_t s = 0; s < 2 * (sizeof DET / sizeof *DET); s++) {
            const int *g = DET[s / 2];
            float alpha = s % 2 ? 0.5f : 1.0f, beta = s % 2 ? 0.25f : 0.0f;
            size_t nc = (size_t)g[2] * g[3];
            float *c1 = gemm_once(d, g[0], g[1], g[2], g[3], g[4], alpha, beta, 100 + s);
            float *c2 = gemm_once(d, g[0], g[1], g[2], g[3], g[4], alpha, beta, 100 + s);
            ck_assert_msg(memcmp(c1, c2, nc * sizeof *c1) == 0,
                          "%s: gemm %dx%dx%d (ta=%d tb=%d) differs between two runs", d->name,
                          g[2], g[3], g[4], g[0], g[1]);
            /* the cpu backend promises more: the same bits for any thread
             * count (it opens a fresh context per thread setting) */
            if (!strcmp(d->lp->p->name, "cpu")) {
                static const char *threads[] = {"1", "3"};
                for (int t = 0; t < 2; t++) {
                    setenv("CREASE_NUM_THREADS", threads[t], 1);
                    crease_device *d2 = NULL;
                    ck_assert_int_eq(crease_device_open(d->name, &d2), CREASE_OK);
                    float *c3 =
                        gemm_once(d2, g[0], g[1], g[2], g[3], g[4], alpha, beta, 100 + s);
                    ck_assert_msg(memcmp(c1, c3, nc * sizeof *c1) == 0,
                                  "%s: gemm %dx%dx%d differs with %s threads", d->name, g[2],
                                  g[3], g[4], threads[t]);
                    free(c3);
                    crease_device_free(d2);
                    unsetenv("CREASE_NUM_THREADS");
                }
            }
            free(c1);
            free(c2);
        }
    }
}
END_TEST

/* ================================================================ dense_fwd */

static double ref_act(int act, double alpha, double x)
{
    switch (act) {
    case CREASE_ACT_RELU:
        return x < 0 ? 0.0 : x; /* NaN propagates */
    case CREASE_ACT_LEAKY_RELU:
        return x > 0 ? x : alpha * x;
    case CREASE_ACT_TANH:
        return tanh(x);
    case CREASE_ACT_SIGMOID:
        return 1.0 / (1.0 + exp(-x));
    default:
        return x;
    }
}

static const char *act_names[] = {"identity", "relu", "leaky_relu", "tanh", "sigmoid"};

START_TEST(test_dense_fwd)
{
    static const int shapes[][3] = {{1, 1, 1},     {7, 61, 93},   {61, 7, 144}, {144, 93, 61},
                                    {1024, 32, 2}, {1024, 2, 32}, {257, 32, 32}};
    FOR_DEVICES_WITH(d, dense_fwd)
    {
        ck_rng r = ck_rng_new(11);
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
            size_t nx = (size_t)m * k, nw = (size_t)n * k, ny = (size_t)m * n;
            ck_scratch sc = {0};
            float *x = ck_scratch_floats(&sc, nx), *w = ck_scratch_floats(&sc, nw);
            float *bias = ck_scratch_floats(&sc, n), *y = ck_scratch_floats(&sc, ny);
            double *ref = ck_scratch_doubles(&sc, ny);
            ck_fill_uniform(&r, x, nx, -1, 1);
            ck_fill_uniform(&r, w, nw, -1, 1);
            ck_fill_uniform(&r, bias, n, -1, 1);
            ck_buf X = ck_buf_from(d, x, nx), W = ck_buf_from(d, w, nw);
            ck_buf Bb = ck_buf_from(d, bias, n);
            for (int act = 0; act <= CREASE_ACT_SIGMOID; act++) {
                float alpha = act == CREASE_ACT_LEAKY_RELU ? 0.1f : 0.0f;
                ck_buf Y = ck_buf_new(d, ny, CK_GUARD);
                char what[128];
                snprintf(what, sizeof what, "dense_fwd %s m=%d n=%d k=%d", act_names[act], m, n, k);
                OK(d, d->ops->dense_fwd(d->ctx, act, alpha, m, n, k, X.b, W.b, Bb.b, Y.b), what);
                ck_buf_get(&Y, y, ny);
                ck_buf_check_guard(&Y, what);
                long bad = -1;
                double bad_want = 0;
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++) {
                        double s1 = bias[j], sa = fabs(bias[j]);
                        for (int p = 0; p < k; p++) {
                            double t = (double)x[(size_t)i * k + p] * w[(size_t)j * k + p];
                            s1 += t;
                            sa += fabs(t);
                        }
                        double want = ref_act(act, alpha, s1);
                        double got = y[(size_t)i * n + j];
                        if (!(fabs(got - want) <= TOL_ELEM * sa + 1e-6) && bad < 0) {
                            bad = (long)i * n + j;
                            bad_want = want;
                        }
                        ref[(size_t)i * n + j] = want;
                    }
                ck_assert_msg(bad < 0, "%s: %s: y[%ld] = %.9g, want %.9g", d->name, what, bad,
                              bad < 0 ? 0.0 : (double)y[bad], bad_want);
                expect_close(d, what, y, ref, ny, TOL_GEMM);
                ck_buf_free(&Y);
            }
            ck_buf_free(&X);
            ck_buf_free(&W);
            ck_buf_free(&Bb);
            ck_scratch_free(&sc);
        }
    }
}
END_TEST

/* ================================================================ bias, reductions */

static const int ROWS[] = {1, 2, 7, 61, 257, 3000};
static const int COLS[] = {1, 2, 7, 93, 144};
#define NROWS (sizeof ROWS / sizeof *ROWS)
#define NCOLS (sizeof COLS / sizeof *COLS)

START_TEST(test_bias_add)
{
    FOR_DEVICES_WITH(d, bias_add)
    {
        ck_rng r = ck_rng_new(12);
        for (size_t ir = 0; ir < NROWS; ir++)
            for (size_t ic = 0; ic < NCOLS; ic++) {
                int rows = ROWS[ir], cols = COLS[ic];
                size_t n = (size_t)rows * cols;
                ck_scratch sc = {0};
                float *y = ck_scratch_floats(&sc, n), *b = ck_scratch_floats(&sc, cols);
                double *ref = ck_scratch_doubles(&sc, n);
                ck_fill_uniform(&r, y, n, -3, 3);
                ck_fill_uniform(&r, b, cols, -3, 3);
                sprinkle_nonfinite(y, n);
                for (size_t i = 0; i < n; i++)
                    ref[i] = (double)y[i] + b[i % cols];
                ck_buf Y = ck_buf_new(d, n, CK_GUARD), B = ck_buf_from(d, b, cols);
                ck_buf_put(&Y, y, n);
                char what[96];
                snprintf(what, sizeof what, "bias_add rows=%d cols=%d", rows, cols);
                OK(d, d->ops->bias_add(d->ctx, rows, cols, Y.b, B.b), what);
                expect_output(d, what, &Y, y, ref, n, TOL_EW);
                ck_buf_free(&Y);
                ck_buf_free(&B);
                ck_scratch_free(&sc);
            }
    }
}
END_TEST

START_TEST(test_reduce_rows)
{
    FOR_DEVICES_WITH(d, reduce_rows)
    {
        ck_rng r = ck_rng_new(13);
        for (size_t ir = 0; ir < NROWS; ir++)
            for (size_t ic = 0; ic < NCOLS; ic++)
                for (int bz = 0; bz < 2; bz++) {
                    int rows = ROWS[ir], cols = COLS[ic];
                    float beta = bz ? 0.0f : 0.5f;
                    size_t n = (size_t)rows * cols;
                    ck_scratch sc = {0};
                    float *x = ck_scratch_floats(&sc, n), *o = ck_scratch_floats(&sc, cols);
                    float *o1 = ck_scratch_floats(&sc, cols), *o2 = ck_scratch_floats(&sc, cols);
                    double *ref = ck_scratch_doubles(&sc, cols);
                    ck_fill_uniform(&r, x, n, -1, 1.5f);
                    ck_fill_uniform(&r, o, cols, -2, 2);
                    if (bz)
                        for (int j = 0; j < cols; j++)
                            o[j] = NAN; /* must not be read */
                    for (int j = 0; j < cols; j++) {
                        double s = 0;
                        for (int i = 0; i < rows; i++)
                            s += x[(size_t)i * cols + j];
                        ref[j] = (bz ? 0.0 : (double)beta * o[j]) + s;
                    }
                    ck_buf X = ck_buf_from(d, x, n), O = ck_buf_new(d, cols, CK_GUARD);
                    char what[96];
                    snprintf(what, sizeof what, "reduce_rows rows=%d cols=%d beta=%g", rows, cols,
                             (double)beta);
                    for (int rep = 0; rep < 2; rep++) {
                        ck_buf_put(&O, o, cols);
                        OK(d, d->ops->reduce_rows(d->ctx, rows, cols, X.b, beta, O.b), what);
                        ck_buf_get(&O, rep ? o2 : o1, cols);
                    }
                    ck_buf_check_guard(&O, what);
                    expect_close(d, what, o1, ref, cols, TOL_RED);
                    ck_assert_msg(memcmp(o1, o2, cols * sizeof *o) == 0, "%s: %s not deterministic",
                                  d->name, what);
                    ck_buf_free(&X);
                    ck_buf_free(&O);
                    ck_scratch_free(&sc);
                }
    }
}
END_TEST

START_TEST(test_sum)
{
    static const size_t sizes[] = {1, 2, 7, 61, 93, 144, 257, 100003, (1u << 20) + 7};
    FOR_DEVICES_WITH(d, sum)
    {
        ck_rng r = ck_rng_new(14);
        for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
            for (int v = 0; v < 2; v++) {
                size_t n = sizes[s], off = v ? 5 : 0;
                float beta = v ? 0.25f : 0.0f;
                float *x = ck_alloc_floats(n);
                ck_fill_uniform(&r, x, n, -1, 1.2f);
                double ref = 0, absum = 0;
                for (size_t i = 0; i < n; i++) {
                    ref += x[i];
                    absum += fabs(x[i]);
                }
                float out[6] = {1, 2, 3, 4, 5, 6}, got[6], got2;
                if (!v)
                    out[0] = NAN; /* beta == 0: not read */
                ref += v ? 0.25 * out[off] : 0.0;
                ck_buf X = ck_buf_from(d, x, n), O = ck_buf_new(d, off + 1, CK_GUARD);
                ck_buf_put(&O, out, off + 1);
                char what[96];
                snprintf(what, sizeof what, "sum n=%zu beta=%g out_off=%zu", n, (double)beta, off);
                OK(d, d->ops->sum(d->ctx, n, X.b, beta, O.b, off), what);
                ck_buf_get(&O, got, off + 1);
                ck_buf_check_guard(&O, what);
                expect_exact(d, "sum: floats before out_off", got, out, off);
                ck_assert_msg(fabs(got[off] - ref) <= 1e-6 * absum + 1e-6,
                              "%s: %s = %.9g, want %.9g",
                              d->name, what, (double)got[off], ref);
                /* the same call again gives the same bits */
                ck_buf_put(&O, out, off + 1);
                OK(d, d->ops->sum(d->ctx, n, X.b, beta, O.b, off), what);
                OK(d, d->ops->buf_read(d->ctx, O.b, off * sizeof(float), sizeof got2, &got2), what);
                ck_assert_msg(memcmp(&got2, &got[off], sizeof got2) == 0,
                              "%s: %s not deterministic",
                              d->name, what);
                ck_buf_free(&X);
                ck_buf_free(&O);
                free(x);
            }
        /* 2^24 + 4099 ones: a plain float accumulator stalls at 2^24 */
        size_t n = (1u << 24) + 4099;
        float *x = ck_alloc_floats(n);
        for (size_t i = 0; i < n; i++)
            x[i] = 1.0f;
        ck_buf X = ck_buf_from(d, x, n), O = ck_buf_new(d, 1, CK_GUARD);
        OK(d, d->ops->sum(d->ctx, n, X.b, 0.0f, O.b, 0), "sum of ones");
        float got;
        ck_buf_get(&O, &got, 1);
        ck_assert_msg(fabs(got - (double)n) <= 2.0, "%s: sum of %zu ones = %.1f (needs pairwise or "
                      "compensated summation)", d->name, n, (double)got);
        ck_buf_free(&X);
        ck_buf_free(&O);
        free(x);
    }
}
END_TEST

/* ================================================================ element-wise */

START_TEST(test_scale_axpy)
{
    FOR_DEVICES(d)
    {
        int scale = OFFERED(d, scale), axpy = OFFERED(d, axpy);
        ck_rng r = ck_rng_new(15);
        for (size_t s = 0; s < NSIZES; s++) {
            size_t n = SIZES[s];
            ck_scratch sc = {0};
            float *x = ck_scratch_floats(&sc, n), *y = ck_scratch_floats(&sc, n);
            float *g = ck_scratch_floats(&sc, n), *g2 = ck_scratch_floats(&sc, n);
            double *ref = ck_scratch_doubles(&sc, n);
            ck_fill_uniform(&r, x, n, -4, 4);
            ck_fill_uniform(&r, y, n, -4, 4);
            sprinkle_nonfinite(x, n);
            char what[64];
            if (scale) {
                ck_buf X = ck_buf_new(d, n, CK_GUARD);
                ck_buf_put(&X, x, n);
                snprintf(what, sizeof what, "scale n=%zu", n);
                OK(d, d->ops->scale(d->ctx, n, -1.75f, X.b), what);
                for (size_t i = 0; i < n; i++)
                    ref[i] = -1.75 * x[i];
                expect_output(d, what, &X, g, ref, n, TOL_EW);
                ck_buf_free(&X);
            }
            if (axpy) {
                ck_buf X = ck_buf_from(d, x, n), Y = ck_buf_new(d, n, CK_GUARD);
                ck_buf_put(&Y, y, n);
                snprintf(what, sizeof what, "axpy n=%zu", n);
                OK(d, d->ops->axpy(d->ctx, n, 0.3f, X.b, Y.b), what);
                for (size_t i = 0; i < n; i++)
                    ref[i] = (double)y[i] + (double)0.3f * x[i];
                expect_output(d, what, &Y, g, ref, n, TOL_EW);
                /* y += alpha y with x and y the same buffer */
                OK(d, d->ops->axpy(d->ctx, n, 1.0f, Y.b, Y.b), "axpy in place");
                for (size_t i = 0; i < n; i++)
                    ref[i] = 2.0 * g[i];
                expect_output(d, "axpy in place", &Y, g2, ref, n, TOL_EW);
                ck_buf_free(&X);
                ck_buf_free(&Y);
            }
            ck_scratch_free(&sc);
        }
    }
}
END_TEST

static double ref_act_bwd(int act, double alpha, double y, double dy)
{
    switch (act) {
    case CREASE_ACT_RELU:
        return y > 0 ? dy : 0.0;
    case CREASE_ACT_LEAKY_RELU:
        return y > 0 ? dy : alpha * dy;
    case CREASE_ACT_TANH:
        return (1.0 - y * y) * dy;
    case CREASE_ACT_SIGMOID:
        return y * (1.0 - y) * dy;
    default:
        return dy;
    }
}

START_TEST(test_activations)
{
    FOR_DEVICES(d)
    {
        int fwd = OFFERED(d, act_fwd), bwd = OFFERED(d, act_bwd);
        ck_rng r = ck_rng_new(16);
        for (size_t s = 0; s < NSIZES; s++)
            for (int act = 0; act <= CREASE_ACT_SIGMOID; act++)
                for (int inplace = 0; inplace < 2; inplace++) {
                    size_t n = SIZES[s];
                    float alpha = act == CREASE_ACT_LEAKY_RELU ? 0.125f : 0.0f;
                    ck_scratch sc = {0};
                    float *x = ck_scratch_floats(&sc, n), *y = ck_scratch_floats(&sc, n);
                    float *dy = ck_scratch_floats(&sc, n), *dx = ck_scratch_floats(&sc, n);
                    double *ref = ck_scratch_doubles(&sc, n);
                    ck_fill_uniform(&r, x, n, -6, 6);
                    if (n > 20) {
                        x[10] = 40.0f; /* saturation */
                        x[11] = -40.0f;
                    }
                    sprinkle_nonfinite(x, n);
                    ck_fill_uniform(&r, dy, n, -2, 2);
                    char what[96];
                    snprintf(what, sizeof what, "act_fwd %s n=%zu%s", act_names[act], n,
                             inplace ? " in place" : "");
                    ck_buf X = ck_buf_new(d, n, CK_GUARD);
                    ck_buf_put(&X, x, n);
                    ck_buf Y = inplace ? X : ck_buf_new(d, n, CK_GUARD);
                    if (fwd) {
                        OK(d, d->ops->act_fwd(d->ctx, act, alpha, n, X.b, Y.b), what);
                        for (size_t i = 0; i < n; i++)
                            ref[i] = ref_act(act, alpha, x[i]);
                        expect_output(d, what, &Y, y, ref, n, TOL_EW);
                    } else {
                        for (size_t i = 0; i < n; i++)
                            y[i] = (float)ref_act(act, alpha, x[i]);
                        ck_buf_put(&Y, y, n);
                    }
                    if (bwd) {
                        /* dx from the output y; dy may hold NaN/Inf too */
                        sprinkle_nonfinite(dy, n > 40 ? n / 2 : n);
                        snprintf(what, sizeof what, "act_bwd %s n=%zu%s", act_names[act], n,
                                 inplace ? " in place" : "");
                        ck_buf DY = ck_buf_new(d, n, CK_GUARD);
                        ck_buf_put(&DY, dy, n);
                        ck_buf DX = inplace ? DY : ck_buf_new(d, n, CK_GUARD);
                        OK(d, d->ops->act_bwd(d->ctx, act, alpha, n, Y.b, DY.b, DX.b), what);
                        for (size_t i = 0; i < n; i++)
                            ref[i] = ref_act_bwd(act, alpha, y[i], dy[i]);
                        expect_output(d, what, &DX, dx, ref, n, TOL_EW);
                        if (!inplace)
                            ck_buf_free(&DX);
                        ck_buf_free(&DY);
                    }
                    if (!inplace)
                        ck_buf_free(&Y);
                    ck_buf_free(&X);
                    ck_scratch_free(&sc);
                }
    }
}
END_TEST

/* ================================================================ losses */

START_TEST(test_softmax_xent)
{
    static const int rows_[] = {1, 2, 7, 61, 257, 3000};
    static const int cols_[] = {1, 2, 7, 93};
    FOR_DEVICES_WITH(d, softmax_xent)
    {
        ck_rng r = ck_rng_new(17);
        int q = 0;
        for (size_t ir = 0; ir < sizeof rows_ / sizeof *rows_; ir++)
            for (size_t ic = 0; ic < sizeof cols_ / sizeof *cols_; ic++, q++) {
                int rows = rows_[ir], cols = cols_[ic];
                int want_grad = q % 3 != 2, want_loss = q % 3 != 1;
                size_t n = (size_t)rows * cols;
                float scale = 1.0f / (float)rows;
                ck_scratch sc = {0};
                float *z = ck_scratch_floats(&sc, n), *lab = ck_scratch_floats(&sc, rows);
                float *g = ck_scratch_floats(&sc, n), *l = ck_scratch_floats(&sc, rows);
                double *rg = ck_scratch_doubles(&sc, n), *rl = ck_scratch_doubles(&sc, rows);
                ck_fill_uniform(&r, z, n, -5, 5);
                for (int i = 0; i < rows; i++) {
                    /* about one row in five is unlabelled */
                    lab[i] = ck_rng_below(&r, 5) == 0 ? -1.0f
                                                      : (float)ck_rng_below(&r, (uint32_t)cols);
                    if (i % 13 == 3)
                        z[(size_t)i * cols] = 80.0f; /* exp would overflow unshifted */
                    if (i % 17 == 5)
                        z[(size_t)i * cols + cols - 1] = -80.0f;
                }
                for (int i = 0; i < rows; i++) {
                    const float *zi = z + (size_t)i * cols;
                    if (lab[i] < 0) {
                        rl[i] = 0;
                        for (int j = 0; j < cols; j++)
                            rg[(size_t)i * cols + j] = 0;
                        continue;
                    }
                    double mx = zi[0], s = 0;
                    for (int j = 1; j < cols; j++)
                        mx = zi[j] > mx ? zi[j] : mx;
                    for (int j = 0; j < cols; j++)
                        s += exp(zi[j] - mx);
                    int li = (int)lab[i];
                    rl[i] = mx + log(s) - zi[li];
                    for (int j = 0; j < cols; j++)
                        rg[(size_t)i * cols + j] =
                            (double)scale * (exp(zi[j] - mx) / s - (j == li ? 1.0 : 0.0));
                }
                ck_buf Z = ck_buf_from(d, z, n), L = ck_buf_from(d, lab, rows);
                ck_buf G = ck_buf_new(d, n, CK_GUARD), LS = ck_buf_new(d, rows, CK_GUARD);
                char what[96];
                snprintf(what, sizeof what, "softmax_xent rows=%d cols=%d%s%s", rows, cols,
                         want_grad ? " grad" : "", want_loss ? " loss" : "");
                OK(d, d->ops->softmax_xent(d->ctx, rows, cols, Z.b, L.b, scale,
                                           want_grad ? G.b : NULL, want_loss ? LS.b : NULL),
                   what);
                if (want_grad) {
                    expect_output(d, what, &G, g, rg, n, TOL_EW);
                    int bad = -1;
                    for (int i = 0; i < rows && bad < 0; i++)
                        for (int j = 0; j < cols && lab[i] < 0; j++)
                            if (g[(size_t)i * cols + j] != 0.0f)
                                bad = i;
                    ck_assert_msg(bad < 0, "%s: %s: ignored row %d has a gradient", d->name,
                                  what, bad);
                }
                if (want_loss) {
                    expect_output(d, what, &LS, l, rl, rows, TOL_EW);
                    int bad = -1;
                    for (int i = 0; i < rows && bad < 0; i++)
                        if (lab[i] < 0 && l[i] != 0.0f)
                            bad = i;
                    ck_assert_msg(bad < 0, "%s: %s: ignored row %d has a loss", d->name, what,
                                  bad);
                }
                ck_buf_free(&Z);
                ck_buf_free(&L);
                ck_buf_free(&G);
                ck_buf_free(&LS);
                ck_scratch_free(&sc);
            }
    }
}
END_TEST

START_TEST(test_bce_mse)
{
    FOR_DEVICES(d)
    {
        int bce = OFFERED(d, bce_logits), mse = OFFERED(d, mse);
        ck_rng r = ck_rng_new(18);
        for (size_t s = 0; s < NSIZES; s++)
            for (int v = 0; v < 3; v++) {
                size_t n = SIZES[s];
                int want_grad = v != 2, want_loss = v != 1;
                float scale = 0.5f;
                ck_scratch sc = {0};
                float *z = ck_scratch_floats(&sc, n), *t = ck_scratch_floats(&sc, n);
                float *g = ck_scratch_floats(&sc, n), *l = ck_scratch_floats(&sc, n);
                double *rg = ck_scratch_doubles(&sc, n), *rl = ck_scratch_doubles(&sc, n);
                ck_fill_uniform(&r, z, n, -8, 8);
                ck_fill_uniform(&r, t, n, 0, 1);
                for (size_t i = 0; i < n; i++) {
                    if (i % 11 == 4)
                        t[i] = -1.0f; /* ignored */
                    if (i % 7 == 2)
                        t[i] = (float)(i % 2);
                    if (i % 29 == 9)
                        z[i] = i % 2 ? 60.0f : -60.0f;
                }
                char what[96];
                ck_buf Z = ck_buf_from(d, z, n), T = ck_buf_from(d, t, n);
                ck_buf G = ck_buf_new(d, n, CK_GUARD), L = ck_buf_new(d, n, CK_GUARD);
                if (bce) {
                    for (size_t i = 0; i < n; i++) {
                        double zz = z[i], tt = t[i];
                        if (tt < 0) {
                            rg[i] = rl[i] = 0;
                            continue;
                        }
                        rl[i] = (zz > 0 ? zz : 0) - zz * tt + log1p(exp(-fabs(zz)));
                        rg[i] = scale * (1.0 / (1.0 + exp(-zz)) - tt);
                    }
                    snprintf(what, sizeof what, "bce_logits n=%zu%s%s", n, want_grad ? " grad" : "",
                             want_loss ? " loss" : "");
                    OK(d, d->ops->bce_logits(d->ctx, n, Z.b, T.b, scale, want_grad ? G.b : NULL,
                                             want_loss ? L.b : NULL),
                       what);
                    if (want_grad)
                        expect_output(d, what, &G, g, rg, n, TOL_EW);
                    if (want_loss)
                        expect_output(d, what, &L, l, rl, n, TOL_EW);
                }
                if (mse) {
                    sprinkle_nonfinite(z, n);
                    ck_buf Z2 = ck_buf_from(d, z, n);
                    for (size_t i = 0; i < n; i++) {
                        double dd = (double)z[i] - t[i];
                        rl[i] = dd * dd;
                        rg[i] = scale * 2.0 * dd;
                    }
                    snprintf(what, sizeof what, "mse n=%zu%s%s", n, want_grad ? " grad" : "",
                             want_loss ? " loss" : "");
                    OK(d, d->ops->mse(d->ctx, n, Z2.b, T.b, scale, want_grad ? G.b : NULL,
                                      want_loss ? L.b : NULL),
                       what);
                    if (want_grad)
                        expect_output(d, what, &G, g, rg, n, TOL_EW);
                    if (want_loss)
                        expect_output(d, what, &L, l, rl, n, TOL_EW);
                    ck_buf_free(&Z2);
                }
                ck_buf_free(&Z);
                ck_buf_free(&T);
                ck_buf_free(&G);
                ck_buf_free(&L);
                ck_scratch_free(&sc);
            }
    }
}
END_TEST

START_TEST(test_confusion)
{
    static const int cols_[] = {1, 2, 3, 7};
    FOR_DEVICES_WITH(d, confusion)
    {
        ck_rng r = ck_rng_new(19);
        for (size_t ic = 0; ic < sizeof cols_ / sizeof *cols_; ic++) {
            int rows = 257, cols = cols_[ic], k = cols == 1 ? 2 : cols;
            size_t n = (size_t)rows * cols, kk = (size_t)k * k;
            ck_scratch sc = {0};
            float *z = ck_scratch_floats(&sc, n), *lab = ck_scratch_floats(&sc, rows);
            float *conf = ck_scratch_floats(&sc, kk), *want = ck_scratch_floats(&sc, kk);
            float *got = ck_scratch_floats(&sc, kk);
            /* few distinct values, so ties are common; some NaN (never
             * the argmax, but never a whole row of them) */
            for (size_t i = 0; i < n; i++)
                z[i] = (float)ck_rng_below(&r, 3) - 1.0f;
            for (int i = 0; i < rows; i++) {
                if (cols > 1 && i % 5 == 1)
                    z[(size_t)i * cols + ck_rng_below(&r, (uint32_t)cols - 1)] = NAN;
                if (cols == 1 && i % 9 == 2)
                    z[i] = NAN; /* NaN > 0 is false: predicted 0 */
                lab[i] = i % 10 == 7 ? -1.0f : (float)ck_rng_below(&r, (uint32_t)k);
            }
            for (int i = 0; i < k * k; i++)
                want[i] = conf[i] = (float)(i % 4); /* accumulated into */
            for (int i = 0; i < rows; i++) {
                if (lab[i] < 0)
                    continue;
                const float *zi = z + (size_t)i * cols;
                int pred = 0;
                if (cols == 1) {
                    pred = zi[0] > 0;
                } else {
                    int best = -1;
                    for (int j = 0; j < cols; j++)
                        if (!isnan(zi[j]) && (best < 0 || zi[j] > zi[best]))
                            best = j;
                    pred = best < 0 ? 0 : best;
                }
                want[(int)lab[i] * k + pred] += 1.0f;
            }
            ck_buf Z = ck_buf_from(d, z, n), L = ck_buf_from(d, lab, rows);
            ck_buf C = ck_buf_new(d, kk, CK_GUARD);
            ck_buf_put(&C, conf, kk);
            char what[64];
            snprintf(what, sizeof what, "confusion rows=%d cols=%d", rows, cols);
            OK(d, d->ops->confusion(d->ctx, rows, cols, Z.b, L.b, C.b), what);
            expect_output_exact(d, what, &C, got, want, kk);
            ck_buf_free(&Z);
            ck_buf_free(&L);
            ck_buf_free(&C);
            ck_scratch_free(&sc);
        }
    }
}
END_TEST

/* ================================================================ gather */

START_TEST(test_gather_rows)
{
    static const int cols_[] = {1, 7, 61, 144};
    static const int rows_[] = {1, 7, 61, 257};
    FOR_DEVICES_WITH(d, gather_rows)
    {
        ck_rng r = ck_rng_new(20);
        int src_rows = 93;
        for (size_t ic = 0; ic < sizeof cols_ / sizeof *cols_; ic++)
            for (size_t ir = 0; ir < sizeof rows_ / sizeof *rows_; ir++) {
                int cols = cols_[ic], rows = rows_[ir];
                size_t off = 3 + ir;
                size_t ns = (size_t)src_rows * cols, nd = (size_t)rows * cols;
                ck_scratch sc = {0};
                float *src = ck_scratch_floats(&sc, ns), *got = ck_scratch_floats(&sc, nd);
                float *want = ck_scratch_floats(&sc, nd);
                uint32_t *idx = ck_scratch_alloc(&sc, (off + rows) * sizeof *idx);
                ck_fill_uniform(&r, src, ns, -9, 9);
                for (size_t i = 0; i < off; i++)
                    idx[i] = 0xffffffffu; /* before idx_off: must not be used */
                for (int i = 0; i < rows; i++)
                    idx[off + i] = ck_rng_below(&r, (uint32_t)src_rows);
                idx[off] = (uint32_t)src_rows - 1; /* the last row */
                for (int i = 0; i < rows; i++)
                    memcpy(want + (size_t)i * cols, src + (size_t)idx[off + i] * cols,
                           cols * sizeof(float));
                ck_buf S = ck_buf_from(d, src, ns), D = ck_buf_new(d, nd, CK_GUARD);
                ck_buf I = ck_buf_new(d, off + rows, 0);
                OK(d, d->ops->buf_write(d->ctx, I.b, 0, (off + rows) * sizeof *idx, idx),
                   "buf_write idx");
                char what[96];
                snprintf(what, sizeof what, "gather_rows rows=%d cols=%d idx_off=%zu", rows, cols,
                         off);
                OK(d, d->ops->gather_rows(d->ctx, rows, cols, S.b, I.b, off, D.b), what);
                expect_output_exact(d, what, &D, got, want, nd);
                ck_buf_free(&S);
                ck_buf_free(&D);
                ck_buf_free(&I);
                ck_scratch_free(&sc);
            }
    }
}
END_TEST

/* ================================================================ optimizers */

/* Reads the n weights of W into w and checks its guard, and compares the
 * change of the weights from w0 with the reference's, not the weights: a
 * small error in an update (a missing decay term) is tiny next to the
 * weights themselves. */
static void expect_update(const crease_device *d, const char *what, const ck_buf *W, float *w,
                          const double *w0, const double *ref, size_t n)
{
    ck_buf_get(W, w, n);
    ck_buf_check_guard(W, what);
    ck_scratch sc = {0};
    float *dg = ck_scratch_floats(&sc, n);
    double *dr = ck_scratch_doubles(&sc, n);
    for (size_t i = 0; i < n; i++) {
        dg[i] = (float)((double)w[i] - w0[i]);
        dr[i] = ref[i] - w0[i];
    }
    expect_close(d, what, dg, dr, n, TOL_EW);
    ck_scratch_free(&sc);
}

START_TEST(test_sgd)
{
    /* momentum, weight decay, nesterov */
    static const float cases[][3] = {{0.0f, 0.0f, 0}, {0.0f, 0.1f, 0}, {0.9f, 0.0f, 0},
                                     {0.9f, 0.1f, 0}, {0.9f, 0.1f, 1}};
    FOR_DEVICES_WITH(d, sgd_update)
    {
        ck_rng r = ck_rng_new(21);
        for (size_t s = 0; s < NSIZES; s++)
            for (size_t cs = 0; cs < sizeof cases / sizeof *cases; cs++) {
                size_t n = SIZES[s];
                float mom = cases[cs][0], wd = cases[cs][1], lr = 0.05f;
                int nest = (int)cases[cs][2];
                ck_scratch sc = {0};
                float *w = ck_scratch_floats(&sc, n), *g = ck_scratch_floats(&sc, n);
                float *v = ck_scratch_floats(&sc, n);
                double *rw = ck_scratch_doubles(&sc, n), *rv = ck_scratch_doubles(&sc, n);
                double *w0 = ck_scratch_doubles(&sc, n);
                ck_fill_uniform(&r, w, n, -1, 1);
                for (size_t i = 0; i < n; i++) {
                    w0[i] = rw[i] = w[i];
                    rv[i] = 0;
                    v[i] = 0;
                }
                ck_buf W = ck_buf_new(d, n, CK_GUARD), G = ck_buf_new(d, n, 0);
                ck_buf V = ck_buf_new(d, n, CK_GUARD);
                ck_buf_put(&W, w, n);
                ck_buf_put(&V, v, n);
                char what[96];
                snprintf(what, sizeof what, "sgd_update n=%zu momentum=%g wd=%g nesterov=%d", n,
                         (double)mom, (double)wd, nest);
                for (int step = 0; step < 3; step++) {
                    ck_fill_uniform(&r, g, n, -1, 1);
                    ck_buf_put(&G, g, n);
                    OK(d, d->ops->sgd_update(d->ctx, n, W.b, G.b, mom != 0.0f ? V.b : NULL, lr,
                                             mom, wd, nest),
                       what);
                    for (size_t i = 0; i < n; i++) {
                        double gg = g[i] + (double)wd * rw[i];
                        double upd = gg;
                        if (mom != 0.0f) {
                            rv[i] = (double)mom * rv[i] + gg;
                            upd = nest ? gg + (double)mom * rv[i] : rv[i];
                        }
                        rw[i] -= (double)lr * upd;
                    }
                }
                expect_update(d, what, &W, w, w0, rw, n);
                if (mom != 0.0f)
                    expect_output(d, what, &V, v, rv, n, TOL_EW);
                else
                    ck_buf_check_guard(&V, what);
                ck_buf_free(&W);
                ck_buf_free(&G);
                ck_buf_free(&V);
                ck_scratch_free(&sc);
            }
    }
}
END_TEST

START_TEST(test_adam)
{
    FOR_DEVICES_WITH(d, adam_update)
    {
        ck_rng r = ck_rng_new(22);
        for (size_t s = 0; s < NSIZES; s++)
            for (int dec = 0; dec < 2; dec++)
                for (int wdi = 0; wdi < 2; wdi++) {
                    size_t n = SIZES[s];
                    float lr = 0.01f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
                    float wd = wdi ? 0.1f : 0.0f;
                    ck_scratch sc = {0};
                    float *w = ck_scratch_floats(&sc, n), *g = ck_scratch_floats(&sc, n);
                    float *m = ck_scratch_floats(&sc, n), *v = ck_scratch_floats(&sc, n);
                    double *rw = ck_scratch_doubles(&sc, n), *rm = ck_scratch_doubles(&sc, n);
                    double *w0 = ck_scratch_doubles(&sc, n), *rv = ck_scratch_doubles(&sc, n);
                    ck_fill_uniform(&r, w, n, -1, 1);
                    for (size_t i = 0; i < n; i++) {
                        w0[i] = rw[i] = w[i];
                        rm[i] = rv[i] = 0;
                        m[i] = v[i] = 0;
                    }
                    ck_buf W = ck_buf_new(d, n, CK_GUARD), G = ck_buf_new(d, n, 0);
                    ck_buf M = ck_buf_new(d, n, CK_GUARD), V = ck_buf_new(d, n, CK_GUARD);
                    ck_buf_put(&W, w, n);
                    ck_buf_put(&M, m, n);
                    ck_buf_put(&V, v, n);
                    char what[96];
                    snprintf(what, sizeof what, "adam_update n=%zu %s wd=%g", n,
                             dec ? "adamw" : "adam", (double)wd);
                    for (int t = 1; t <= 3; t++) {
                        float bc1 = 1.0f - powf(b1, (float)t), bc2 = 1.0f - powf(b2, (float)t);
                        ck_fill_uniform(&r, g, n, -1, 1);
                        ck_buf_put(&G, g, n);
                        OK(d, d->ops->adam_update(d->ctx, n, W.b, G.b, M.b, V.b, lr, b1, b2, eps,
                                                  wd, dec, bc1, bc2),
                           what);
                        for (size_t i = 0; i < n; i++) {
                            double gg = g[i] + (dec ? 0.0 : (double)wd * rw[i]);
                            rm[i] = (double)b1 * rm[i] + (1.0 - (double)b1) * gg;
                            rv[i] = (double)b2 * rv[i] + (1.0 - (double)b2) * gg * gg;
                            double upd = (rm[i] / bc1) / (sqrt(rv[i] / bc2) + eps) +
                                         (dec ? (double)wd * rw[i] : 0.0);
                            rw[i] -= (double)lr * upd;
                        }
                    }
                    expect_update(d, what, &W, w, w0, rw, n);
                    expect_output(d, what, &M, m, rm, n, TOL_EW);
                    expect_output(d, what, &V, v, rv, n, TOL_EW);
                    ck_buf_free(&W);
                    ck_buf_free(&G);
                    ck_buf_free(&M);
                    ck_buf_free(&V);
                    ck_scratch_free(&sc);
                }
    }
}
END_TEST

/* ================================================================ main */

int main(void)
{
    Suite *s = suite_create("ops");
    struct {
        const char *name;
        const TTest *test;
    } tests[] = {
        {"devices", test_devices},
        {"memory", test_memory_roundtrip}, {"errors", test_errors},
        {"gemm_sweep", test_gemm_sweep},   {"gemm_big", test_gemm_big},
        {"gemm_degenerate", test_gemm_degenerate},
        {"gemm_determinism", test_gemm_determinism},
        {"dense_fwd", test_dense_fwd},     {"bias_add", test_bias_add},
        {"reduce_rows", test_reduce_rows}, {"sum", test_sum},
        {"scale_axpy", test_scale_axpy},   {"activations", test_activations},
        {"softmax_xent", test_softmax_xent}, {"bce_mse", test_bce_mse},
        {"confusion", test_confusion},     {"gather_rows", test_gather_rows},
        {"sgd", test_sgd},                 {"adam", test_adam},
    };
    /* one test case per op, each with its own timeout */
    for (size_t i = 0; i < sizeof tests / sizeof *tests; i++)
        ck_add_tcase(s, tests[i].name, setup, teardown, 600, CK_TESTS(tests[i].test));
    return ck_run(s);
}
