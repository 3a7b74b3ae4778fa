/* ops.c -- every op of the CPU backend except GEMM, on simd.h vectors.
 *
 * Compiled once per variant.  Element-wise ops are split over the pool in
 * ranges when they are large; every element, the last partial vector
 * included, goes through the same vector code (masked loads and stores at
 * the ends), so where a range is cut never changes a result.  Reductions
 * use a cut that depends on the shape only, accumulate in double, and
 * combine the partials in index order, so they are bit-reproducible for
 * any thread count.
 */
#define _POSIX_C_SOURCE 200809L

#include "cpu.h"
#include "simd.h"
#include "vmath.h"

#include <string.h>

#define GRAIN 4096           /* elements per range task */
#define PAR_CHEAP 16384      /* cheap element-wise ops go parallel from here */
#define PAR_EXPENSIVE 1024   /* ops calling exp/log go parallel from here */
#define GRAIN_EXPENSIVE 1024 /* their elements per range task */
#define SUM_CHUNK 16384      /* fixed piece of sum(); part of its result */

static int need_ctx(const char *op, const crease_ctx *c)
{
    return c ? 0 : cpu_error(CREASE_EINVAL, "cpu %s: context is NULL", op);
}

static inline size_t zmin(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* lanes left from i to e, at most V_LEN */
static inline int lanes(size_t i, size_t e)
{
    return (int)zmin(V_LEN, e - i);
}

/* Arguments of the simple element-wise and row-wise bodies: up to two
 * outputs (x, y), two inputs (cx, cy), one scalar (a) and one integer
 * (act: the activation, or the row length of row-wise ops). */
struct ew {
    float *x, *y;
    const float *cx, *cy;
    float a;
    int act;
};

/* ------------------------------------------------------------ fill */

static void fill_body(void *v, size_t b, size_t e)
{
    const struct ew *w = v;
    float *x = w->x;
    vf a = v_set1(w->a);
    for (size_t i = b; i < e; i += V_LEN)
        v_storep(x + i, a, lanes(i, e));
}

int cpu_op_fill(crease_ctx *c, crease_buf *x, size_t n, float value)
{
    int rc;
    if ((rc = need_ctx("fill", c)) || (rc = cpu_check_buf("fill", "x", x, n)))
        return rc;
    struct ew w = {.x = cpu_f(x), .a = value};
    cpu_parallel_for(c, n, GRAIN, PAR_CHEAP, fill_body, &w);
    return 0;
}

/* ------------------------------------------------------------ bias_add */

static void bias_body(void *v, size_t b, size_t e)
{
    const struct ew *w = v;
    size_t cols = (size_t)w->act;
    const float *bias = w->cx;
    for (size_t r = b; r < e; r++) {
        float *y = w->x + r * cols;
        for (size_t j = 0; j < cols; j += V_LEN) {
            int n = lanes(j, cols);
            v_storep(y + j, v_add(v_loadp(y + j, n), v_loadp(bias + j, n)), n);
        }
    }
}

int cpu_op_bias_add(crease_ctx *c, int rows, int cols, crease_buf *y,
                    const crease_buf *bias)
{
    static const char *op = "bias_add";
    int rc;
    if ((rc = need_ctx(op, c)) || (rc = cpu_check_dim(op, "rows", rows)) ||
        (rc = cpu_check_dim(op, "cols", cols)) ||
        (rc = cpu_check_buf(op, "y", y, (size_t)rows * cols)) ||
        (rc = cpu_check_buf(op, "bias", bias, (size_t)cols)))
        return rc;
    if (cols == 0)
        return 0;
    struct ew w = {.x = cpu_f(y), .cx = cpu_f(bias), .act = cols};
    size_t grain = GRAIN / (size_t)cols + 1;
    cpu_parallel_for(c, (size_t)rows, grain, PAR_CHEAP / (size_t)cols + 1, bias_body, &w);
    return 0;
}

/* ------------------------------------------------------------ reduce_rows */

/* Row pieces of at least 64 rows, at most 64 pieces: the cut depends on the
 * shape alone (and pieces are multiples of 8 rows, the float groups of
 * rr_sum).  Column blocks only bound the work per task. */
#define RR_COLS 4096

struct rr {
    const float *x;
    double *part; /* npieces x cols */
    size_t rows, cols, piece, npieces, ncb;
};

#if V_LEN >= 2
/* Column sums of rows [r0, r1) x columns [j0, j0 + 2 V_LEN), in
 * registers: eight rows at a time summed pairwise in float (three
 * roundings, far inside the op's tolerance), each group of eight then
 * added in double.  Fixed order: the result depends on the shape only. */
#define RR_W (2 * V_LEN)
#define RR_G 8
V_INLINE vf rr_group(const float *x, size_t cols, int w)
{
    vf t[RR_G];
    for (int q = 0; q < RR_G; q++)
        t[q] = w >= V_LEN ? v_load(x + (size_t)q * cols) : v_loadp(x + (size_t)q * cols, w);
    return v_add(v_add(v_add(t[0], t[1]), v_add(t[2], t[3])),
                 v_add(v_add(t[4], t[5]), v_add(t[6], t[7])));
}

V_INLINE void rr_sum(const int full, const float *x, size_t cols, size_t r0, size_t r1,
                     size_t j0, int n, double *out)
{
    vd s0 = vd_zero(), s1 = vd_zero(), s2 = vd_zero(), s3 = vd_zero();
    int w0 = full ? V_LEN : (n < V_LEN ? n : V_LEN), w1 = full ? V_LEN : n - V_LEN;
    size_t i = r0;
    for (; i + RR_G <= r1; i += RR_G) {
        const float *xi = x + i * cols + j0;
        vf t = rr_group(xi, cols, w0);
        s0 = vd_add(s0, vd_lo(t));
        s1 = vd_add(s1, vd_hi(t));
        if (full || w1 > 0) {
            vf u = rr_group(xi + V_LEN, cols, w1);
            s2 = vd_add(s2, vd_lo(u));
            s3 = vd_add(s3, vd_hi(u));
        }
    }
    for (; i < r1; i++) {
        const float *xi = x + i * cols + j0;
        vf t = v_loadp(xi, w0);
        s0 = vd_add(s0, vd_lo(t));
        s1 = vd_add(s1, vd_hi(t));
        if (full || w1 > 0) {
            vf u = v_loadp(xi + V_LEN, w1);
            s2 = vd_add(s2, vd_lo(u));
            s3 = vd_add(s3, vd_hi(u));
        }
    }
    double tmp[RR_W];
    vd_store(tmp, s0);
    vd_store(tmp + V_LEN / 2, s1);
    vd_store(tmp + V_LEN, s2);
    vd_store(tmp + 3 * V_LEN / 2, s3);
    memcpy(out, tmp, (size_t)n * sizeof(double));
}

static void rr_block(const float *x, size_t cols, size_t r0, size_t r1, size_t j0,
                     double *out)
{
    int n = (int)zmin(RR_W, cols - j0);
    if (n == RR_W)
        rr_sum(1, x, cols, r0, r1, j0, n, out);
    else
        rr_sum(0, x, cols, r0, r1, j0, n, out);
}
#endif

static void rr_task(void *v, int t, int tid)
{
    const struct rr *r = v;
    (void)tid;
    size_t pc = (size_t)t % r->npieces, cb = (size_t)t / r->npieces;
    size_t r0 = pc * r->piece, r1 = zmin(r0 + r->piece, r->rows);
    size_t j0 = cb * RR_COLS, j1 = zmin(j0 + RR_COLS, r->cols);
    double *acc = r->part + pc * r->cols;
#if V_LEN >= 2
    for (size_t j = j0; j < j1; j += RR_W)
        rr_block(r->x, r->cols, r0, r1, j, acc + j);
#else
    for (size_t j = j0; j < j1; j++)
        acc[j] = 0.0;
    for (size_t i = r0; i < r1; i++) {
        const float *xi = r->x + i * r->cols;
        for (size_t j = j0; j < j1; j++)
            acc[j] += (double)xi[j];
    }
#endif
}

int cpu_op_reduce_rows(crease_ctx *c, int rows, int cols, const crease_buf *x,
                       float beta, crease_buf *out)
{
    static const char *op = "reduce_rows";
    int rc;
    if ((rc = need_ctx(op, c)) || (rc = cpu_check_dim(op, "rows", rows)) ||
        (rc = cpu_check_dim(op, "cols", cols)) ||
        (rc = cpu_check_buf(op, "x", x, (size_t)rows * cols)) ||
        (rc = cpu_check_buf(op, "out", out, (size_t)cols)))
        return rc;
    if (cols == 0)
        return 0;
    float *o = cpu_f(out);
    if (rows == 0) {
        for (int j = 0; j < cols; j++)
            o[j] = beta == 0.0f ? 0.0f : beta * o[j];
        return 0;
    }
    struct rr r = {.x = cpu_f(x), .rows = (size_t)rows, .cols = (size_t)cols};
    r.piece = ((r.rows + 63) / 64 + 7) & ~(size_t)7;
    if (r.piece < 64)
        r.piece = 64;
    r.npieces = (r.rows + r.piece - 1) / r.piece;
    r.ncb = (r.cols + RR_COLS - 1) / RR_COLS;
    void *ws;
    if ((rc = cpu_scratch(c, r.npieces * r.cols * sizeof(double), &ws)))
        return rc;
    r.part = ws;
    int ntasks = (int)(r.npieces * r.ncb);
    if (r.rows * r.cols >= PAR_CHEAP)
        cpu_pool_run(c->pool, rr_task, &r, ntasks);
    else
        for (int t = 0; t < ntasks; t++)
            rr_task(&r, t, 0);
    for (size_t j = 0; j < r.cols; j++) {
        double s = 0.0;
        for (size_t p = 0; p < r.npieces; p++)
            s += r.part[p * r.cols + j];
        o[j] = beta == 0.0f ? (float)s : (float)((double)beta * o[j] + s);
    }
    return 0;
}

/* ------------------------------------------------------------ sum */

struct sumjob {
    const float *x;
    double *part;
    size_t n;
};

/* interleaved double accumulators in a fixed order: latency hiding, and
 * every float is exact in double */
static double sum_piece(const float *x, size_t n)
{
#if V_LEN >= 2
    vd s0 = vd_zero(), s1 = vd_zero(), s2 = vd_zero(), s3 = vd_zero();
    size_t i = 0;
    for (; i + 2 * V_LEN <= n; i += 2 * V_LEN) {
        vf a = v_load(x + i), b = v_load(x + i + V_LEN);
        s0 = vd_add(s0, vd_lo(a));
        s1 = vd_add(s1, vd_hi(a));
        s2 = vd_add(s2, vd_lo(b));
        s3 = vd_add(s3, vd_hi(b));
    }
    for (; i < n; i += V_LEN) {
        vf a = v_loadp(x + i, lanes(i, n));
        s0 = vd_add(s0, vd_lo(a));
        s1 = vd_add(s1, vd_hi(a));
    }
    double t[V_LEN / 2];
    vd_store(t, vd_add(vd_add(s0, s1), vd_add(s2, s3)));
    double s = 0.0;
    for (int q = 0; q < V_LEN / 2; q++)
        s += t[q];
    return s;
#else
    double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        a0 += x[i];
        a1 += x[i + 1];
        a2 += x[i + 2];
        a3 += x[i + 3];
    }
    for (; i < n; i++)
        a0 += x[i];
    return (a0 + a1) + (a2 + a3);
#endif
}

static void sum_task(void *v, int t, int tid)
{
    const struct sumjob *s = v;
    (void)tid;
    size_t b = (size_t)t * SUM_CHUNK, e = zmin(b + SUM_CHUNK, s->n);
    s->part[t] = sum_piece(s->x + b, e - b);
}

int cpu_op_sum(crease_ctx *c, size_t n, const crease_buf *x, float beta,
               crease_buf *out, size_t out_off)
{
    static const char *op = "sum";
    int rc;
    if ((rc = need_ctx(op, c)) || (rc = cpu_check_buf(op, "x", x, n)))
        return rc;
    if (!out || out_off == SIZE_MAX)
        return cpu_error(CREASE_EINVAL, "cpu sum: out is NULL or out_off is invalid");
    if ((rc = cpu_check_buf(op, "out", out, out_off + 1)))
        return rc;
    size_t np = (n + SUM_CHUNK - 1) / SUM_CHUNK;
    double s = 0.0;
    if (np <= 1) {
        s = sum_piece(cpu_f(x), n);
    } else {
        void *ws;
        if (np > (size_t)INT32_MAX)
            return cpu_error(CREASE_EINVAL, "cpu sum: n = %zu is too large", n);
        if ((rc = cpu_scratch(c, np * sizeof(double), &ws)))
            return rc;
        struct sumjob j = {cpu_f(x), ws, n};
        if (n >= PAR_CHEAP)
            cpu_pool_run(c->pool, sum_task, &j, (int)np);
        else
            for (size_t t = 0; t < np; t++)
                sum_task(&j, (int)t, 0);
        for (size_t p = 0; p < np; p++)
            s += j.part[p];
    }
    float *o = cpu_f(out) + out_off;
    *o = beta == 0.0f ? (float)s : (float)((double)beta * *o + s);
    return 0;
}

/* ------------------------------------------------------------ scale, axpy */

static void scale_body(void *v, size_t b, size_t e)
{
    const struct ew *w = v;
    float *x = w->x;
    vf a = v_set1(w->a);
    for (size_t i = b; i < e; i += V_LEN) {
        int n = lanes(i, e);
        v_storep(x + i, v_mul(a, v_loadp(x + i, n)), n);
    }
}

int cpu_op_scale(crease_ctx *c, size_t n, float alpha, crease_buf *x)
{
    int rc;
    if ((rc = need_ctx("scale", c)) || (rc = cpu_check_buf("scale", "x", x, n)))
        return rc;
    struct ew w = {.x = cpu_f(x), .a = alpha};
    cpu_parallel_for(c, n, GRAIN, PAR_CHEAP, scale_body, &w);
    return 0;
}

static void axpy_body(void *v, size_t b, size_t e)
{
    const struct ew *w = v;
    float *y = w->y;
    const float *x = w->cx;
    vf a = v_set1(w->a);
    for (size_t i = b; i < e; i += V_LEN) {
        int n = lanes(i, e);
        v_storep(y + i, v_fma(a, v_loadp(x + i, n), v_loadp(y + i, n)), n);
    }
}

int cpu_op_axpy(crease_ctx *c, size_t n, float alpha, const crease_buf *x,
                crease_buf *y)
{
    int rc;
    if ((rc = need_ctx("axpy", c)) || (rc = cpu_check_buf("axpy", "x", x, n)) ||
        (rc = cpu_check_buf("axpy", "y", y, n)))
        return rc;
    struct ew w = {.y = cpu_f(y), .cx = cpu_f(x), .a = alpha};
    cpu_parallel_for(c, n, GRAIN, PAR_CHEAP, axpy_body, &w);
    return 0;
}

/* ------------------------------------------------------------ activations */

static void actf_body(void *v, size_t b, size_t e)
{
    const struct ew *w = v;
    const float *x = w->cx;
    float *y = w->y, a = w->a;
    switch (w->act) {
    case CREASE_ACT_IDENTITY:
        if (x != y)
            memcpy(y + b, x + b, (e - b) * sizeof(float));
        break;
    /* one loop per activation: the switch stays out of the loop */
#define ACT_LOOP(ACT)                                                      \
    case ACT:                                                              \
        for (size_t i = b; i < e; i += V_LEN) {                            \
            int n = lanes(i, e);                                           \
            v_storep(y + i, v_act(ACT, a, v_loadp(x + i, n)), n);          \
        }                                                                  \
        break;
        ACT_LOOP(CREASE_ACT_RELU)
        ACT_LOOP(CREASE_ACT_LEAKY_RELU)
        ACT_LOOP(CREASE_ACT_TANH)
        ACT_LOOP(CREASE_ACT_SIGMOID)
#undef ACT_LOOP
    default:
        break;
    }
}

int cpu_op_act_fwd(crease_ctx *c, int act, float alpha, size_t n,
                   const crease_buf *x, crease_buf *y)
{
    static const char *op = "act_fwd";
    int rc;
    if ((rc = need_ctx(op, c)) || (rc = cpu_check_act(op, act, alpha)) ||
        (rc = cpu_check_buf(op, "x", x, n)) || (rc = cpu_check_buf(op, "y", y, n)))
        return rc;
    struct ew w = {.y = cpu_f(y), .cx = cpu_f(x), .a = alpha, .act = act};
    int cheap = act == CREASE_ACT_RELU || act == CREASE_ACT_LEAKY_RELU ||
                act == CREASE_ACT_IDENTITY;
    cpu_parallel_for(c, n, GRAIN, cheap ? PAR_CHEAP : PAR_EXPENSIVE, actf_body, &w);
    return 0;
}

static void actb_body(void *v, size_t b, size_t e)
{
    const struct ew *w = v;
    const float *y = w->cx, *dy = w->cy;
    float *dx = w->x;
    const vf one = v_set1(1.0f), zero = v_zero(), a = v_set1(w->a);
    switch (w->act) {
    case CREASE_ACT_RELU:
        for (size_t i = b; i < e; i += V_LEN) {
            int n = lanes(i, e);
            vf yv = v_loadp(y + i, n), g = v_loadp(dy + i, n);
            v_storep(dx + i, v_sel(v_gt(yv, zero), g, zero), n);
        }
        break;
    case CREASE_ACT_LEAKY_RELU:
        for (size_t i = b; i < e; i += V_LEN) {
            int n = lanes(i, e);
            vf yv = v_loadp(y + i, n), g = v_loadp(dy + i, n);
            v_storep(dx + i, v_sel(v_gt(yv, zero), g, v_mul(a, g)), n);
        }
        break;
    case CREASE_ACT_TANH:
        for (size_t i = b; i < e; i += V_LEN) {
            int n = lanes(i, e);
            vf yv = v_loadp(y + i, n), g = v_loadp(dy + i, n);
            v_storep(dx + i, v_mul(v_sub(one, v_mul(yv, yv)), g), n);
        }
        break;
    case CREASE_ACT_SIGMOID:
        for (size_t i = b; i < e; i += V_LEN) {
            int n = lanes(i, e);
            vf yv = v_loadp(y + i, n), g = v_loadp(dy + i, n);
            v_storep(dx + i, v_mul(v_mul(yv, v_sub(one, yv)), g), n);
        }
        break;
    default:
        if (dx != dy)
            memcpy(dx + b, dy + b, (e - b) * sizeof(float));
        break;
    }
}

int cpu_op_act_bwd(crease_ctx *c, int act, float alpha, size_t n,
                   const crease_buf *y, const crease_buf *dy, crease_buf *dx)
{
    static const char *op = "act_bwd";
    int rc;
    if ((rc = need_ctx(op, c)) || (rc = cpu_check_act(op, act, alpha)) ||
        (rc = cpu_check_buf(op, "y", y, n)) || (rc = cpu_check_buf(op, "dy", dy, n)) ||
        (rc = cpu_check_buf(op, "dx", dx, n)))
        return rc;
    struct ew w = {.x = cpu_f(dx), .cx = cpu_f(y), .cy = cpu_f(dy), .a = alpha, .act = act};
    cpu_parallel_for(c, n, GRAIN, PAR_CHEAP, actb_body, &w);
    return 0;
}

/* ------------------------------------------------------------ losses */

/* A label is ignored (< 0) or an integer class below k; anything else
 * (NaN, fractions, too large) is an error reported before any output is
 * written. */
static int check_labels(const char *op, const float *lab, size_t n, size_t k)
{
    for (size_t r = 0; r < n; r++) {
        float l = lab[r];
        if (l < 0.0f)
            continue;
        if (!(l < (float)k) || l != (float)(size_t)l)
            return cpu_error(CREASE_EINVAL,
                             "cpu %s: label %g of row %zu is not a class index in [0, %zu)",
                             op, (double)l, r, k);
    }
    return 0;
}

/* Softmax cross-entropy of one row, in the form both paths below use:
 *   mx = the row's maximum, e_j = exp(z_j - mx),
 *   s1 = sum of e_j over the entries below mx, plus (ties at mx) - 1,
 *   loss = (mx - z_label) + log1p(s1),  p_j = e_j / (1 + s1).
 * Keeping the 1 of the maximum out of s1 keeps the loss of a confident,
 * right row (s1 tiny) accurate to the last bit. */

/* Rows [b, e) with few columns: V_LEN rows at a time, one row per lane. */
#define XENT_NARROW 16

V_INLINE void xent_narrow_impl(const struct ew *w, size_t b, size_t e, const size_t cols)
{
    const vf zero = v_zero(), one = v_set1(1.0f), scale = v_set1(w->a);
    float zt[XENT_NARROW][V_LEN], lab[V_LEN], zl[V_LEN], out[V_LEN];
    for (size_t r0 = b; r0 < e; r0 += V_LEN) {
        int nrow = lanes(r0, e);
        /* rows into lanes (unused lanes: zeros, label -1) */
        for (int l = 0; l < V_LEN; l++) {
            if (l < nrow) {
                const float *z = w->cx + (r0 + (size_t)l) * cols;
                float lb = w->cy[r0 + (size_t)l];
                for (size_t j = 0; j < cols; j++)
                    zt[j][l] = z[j];
                lab[l] = lb;
                zl[l] = lb >= 0.0f ? z[(size_t)lb] : 0.0f;
            } else {
                for (size_t j = 0; j < cols; j++)
                    zt[j][l] = 0.0f;
                lab[l] = -1.0f;
                zl[l] = 0.0f;
            }
        }
        vf mx = v_load(zt[0]);
        for (size_t j = 1; j < cols; j++) {
            vf z = v_load(zt[j]);
            mx = v_sel(v_gt(z, mx), z, mx);
        }
        vf s1 = zero, ties = zero;
        for (size_t j = 0; j < cols; j++) {
            vf z = v_load(zt[j]);
            vf ej = v_exp(v_sub(z, mx));
            vm top = v_eq(z, mx);
            s1 = v_add(s1, v_sel(top, zero, ej));
            ties = v_add(ties, v_sel(top, one, zero));
            v_store(zt[j], ej);
        }
        s1 = v_add(s1, v_sub(ties, one));
        vm ign = v_lt(v_load(lab), zero);
        if (w->y) {
            vf loss = v_add(v_sub(mx, v_load(zl)), v_log1p_pos(s1));
            v_store(out, v_sel(ign, zero, loss));
            memcpy(w->y + r0, out, (size_t)nrow * sizeof(float));
        }
        if (w->x) {
            vf den = v_add(one, s1);
            for (size_t j = 0; j < cols; j++) {
                vf hot = v_sel(v_eq(v_load(lab), v_set1((float)j)), one, zero);
                vf g = v_mul(scale, v_sub(v_div(v_load(zt[j]), den), hot));
                v_store(zt[j], v_sel(ign, zero, g));
            }
            for (int l = 0; l < nrow; l++) {
                float *g = w->x + (r0 + (size_t)l) * cols;
                for (size_t j = 0; j < cols; j++)
                    g[j] = zt[j][l];
            }
        }
    }
}

/* The binary head (2 columns) is by far the most common: a copy with the
 * column count known, so that the compiler unrolls the transposes. */
static void xent_rows_narrow(const struct ew *w, size_t b, size_t e)
{
    if (w->act == 2)
        xent_narrow_impl(w, b, e, 2);
    else
        xent_narrow_impl(w, b, e, (size_t)w->act);
}

/* Rows with many columns: one row at a time, vectors along the row. */
static void xent_rows_wide(const struct ew *w, size_t b, size_t e)
{
    const size_t cols = (size_t)w->act;
    const vf zero = v_zero(), one = v_set1(1.0f);
    for (size_t r = b; r < e; r++) {
        const float *z = w->cx + r * cols;
        float lab = w->cy[r];
        float *g = w->x ? w->x + r * cols : NULL;
        if (lab < 0.0f) {
            if (g)
                memset(g, 0, cols * sizeof(float));
            if (w->y)
                w->y[r] = 0.0f;
            continue;
        }
        size_t l = (size_t)lab;
        /* row maximum, NaN never winning (as the narrow path's compares) */
        float mxs = z[0];
        for (size_t j = 1; j < cols; j++)
            if (z[j] > mxs)
                mxs = z[j];
        vf mx = v_set1(mxs), s1v = zero, tv = zero;
        for (size_t j = 0; j < cols; j += V_LEN) {
            int n = lanes(j, cols);
            vf zj = v_loadp(z + j, n);
            vf ej = v_exp(v_sub(zj, mx));
            vm top = v_eq(zj, mx);
            if (n < V_LEN) { /* lanes past the row count nothing */
                float keep[V_LEN];
                v_store(keep, one);
                for (int q = n; q < V_LEN; q++)
                    keep[q] = 0.0f;
                vf k = v_load(keep);
                ej = v_mul(ej, k);
                top = v_mand(top, v_gt(k, zero));
            }
            s1v = v_add(s1v, v_sel(top, zero, ej));
            tv = v_add(tv, v_sel(top, one, zero));
            if (g)
                v_storep(g + j, ej, n);
        }
        float s1l[V_LEN], tl[V_LEN];
        v_store(s1l, s1v);
        v_store(tl, tv);
        float s1 = 0.0f, ties = 0.0f;
        for (int q = 0; q < V_LEN; q++) {
            s1 += s1l[q];
            ties += tl[q];
        }
        s1 += ties - 1.0f;
        if (w->y) {
            float lg[V_LEN];
            v_store(lg, v_log1p_pos(v_set1(s1)));
            w->y[r] = (mxs - z[l]) + lg[0];
        }
        if (g) {
            vf den = v_set1(1.0f + s1), scale = v_set1(w->a);
            for (size_t j = 0; j < cols; j += V_LEN) {
                int n = lanes(j, cols);
                v_storep(g + j, v_mul(scale, v_div(v_loadp(g + j, n), den)), n);
            }
            g[l] -= w->a;
        }
    }
}

static void xent_body(void *v, size_t b, size_t e)
{
    const struct ew *w = v;
    if ((size_t)w->act <= XENT_NARROW && V_LEN > 1)
        xent_rows_narrow(w, b, e);
    else
        xent_rows_wide(w, b, e);
}

int cpu_op_softmax_xent(crease_ctx *c, int rows, int cols,
                        const crease_buf *logits, const crease_buf *labels,
                        float grad_scale, crease_buf *grad, crease_buf *loss)
{
    static const char *op = "softmax_xent";
    int rc;
    if ((rc = need_ctx(op, c)) || (rc = cpu_check_dim(op, "rows", rows)) ||
        (rc = cpu_check_dim(op, "cols", cols)))
        return rc;
    if (rows > 0 && cols == 0)
        return cpu_error(CREASE_EINVAL, "cpu softmax_xent: cols = 0");
    size_t nz = (size_t)rows * cols;
    if ((rc = cpu_check_buf(op, "logits", logits, nz)) ||
        (rc = cpu_check_buf(op, "labels", labels, (size_t)rows)) ||
        (grad && (rc = cpu_check_buf(op, "grad", grad, nz))) ||
        (loss && (rc = cpu_check_buf(op, "loss", loss, (size_t)rows))))
        return rc;
    if (grad && (grad == logits || grad == labels))
        return cpu_error(CREASE_EINVAL, "cpu softmax_xent: grad aliases an input");
    if ((rc = check_labels(op, cpu_f(labels), (size_t)rows, (size_t)cols)))
        return rc;
    struct ew w = {.x = grad ? cpu_f(grad) : NULL, .y = loss ? cpu_f(loss) : NULL,
                   .cx = cpu_f(logits), .cy = cpu_f(labels), .a = grad_scale, .act = cols};
    size_t grain = GRAIN_EXPENSIVE / (size_t)(cols ? cols : 1) + 1;
    cpu_parallel_for(c, (size_t)rows, grain, PAR_EXPENSIVE / (size_t)(cols ? cols : 1) + 1,
                     xent_body, &w);
    return 0;
}

static void bce_body(void *v, size_t b, size_t e)
{
    const struct ew *w = v;
    float *grad = w->x, *loss = w->y;
    const float *zs = w->cx, *ts = w->cy;
    const vf zero = v_zero(), scale = v_set1(w->a);
    for (size_t i = b; i < e; i += V_LEN) {
        int n = lanes(i, e);
        vf z = v_loadp(zs + i, n), t = v_loadp(ts + i, n);
        vm ign = v_lt(t, zero);
        if (grad)
            v_storep(grad + i, v_sel(ign, zero, v_mul(scale, v_sub(v_sigmoid(z), t))), n);
        if (loss) {
            /* max(z, 0) - z t + log1p(e^-|z|) */
            vf l = v_sub(v_sel(v_gt(z, zero), z, zero), v_mul(z, t));
            l = v_add(l, v_log1p_pos(v_exp(v_sub(zero, v_abs(z)))));
            v_storep(loss + i, v_sel(ign, zero, l), n);
        }
    }
}

int cpu_op_bce_logits(crease_ctx *c, size_t n, const crease_buf *z,
                      const crease_buf *t, float grad_scale, crease_buf *grad,
                      crease_buf *loss)
{
    static const char *op = "bce_logits";
    int rc;
    if ((rc = need_ctx(op, c)) || (rc = cpu_check_buf(op, "z", z, n)) ||
        (rc = cpu_check_buf(op, "t", t, n)) ||
        (grad && (rc = cpu_check_buf(op, "grad", grad, n))) ||
        (loss && (rc = cpu_check_buf(op, "loss", loss, n))))
        return rc;
    if (grad && (grad == z || grad == t))
        return cpu_error(CREASE_EINVAL, "cpu bce_logits: grad aliases an input");
    struct ew w = {.x = grad ? cpu_f(grad) : NULL, .y = loss ? cpu_f(loss) : NULL,
                   .cx = cpu_f(z), .cy = cpu_f(t), .a = grad_scale};
    cpu_parallel_for(c, n, GRAIN_EXPENSIVE, PAR_EXPENSIVE, bce_body, &w);
    return 0;
}

static void mse_body(void *v, size_t b, size_t e)
{
    const struct ew *w = v;
    float *grad = w->x, *loss = w->y;
    const float *p = w->cx, *t = w->cy;
    const vf two = v_set1(2.0f), scale = v_set1(w->a);
    for (size_t i = b; i < e; i += V_LEN) {
        int n = lanes(i, e);
        vf d = v_sub(v_loadp(p + i, n), v_loadp(t + i, n));
        if (grad)
            v_storep(grad + i, v_mul(scale, v_mul(two, d)), n);
        if (loss)
            v_storep(loss + i, v_mul(d, d), n);
    }
}

int cpu_op_mse(crease_ctx *c, size_t n, const crease_buf *p, const crease_buf *t,
               float grad_scale, crease_buf *grad, crease_buf *loss)
{
    static const char *op = "mse";
    int rc;
    if ((rc = need_ctx(op, c)) || (rc = cpu_check_buf(op, "p", p, n)) ||
        (rc = cpu_check_buf(op, "t", t, n)) ||
        (grad && (rc = cpu_check_buf(op, "grad", grad, n))) ||
        (loss && (rc = cpu_check_buf(op, "loss", loss, n))))
        return rc;
    if (grad && (grad == p || grad == t))
        return cpu_error(CREASE_EINVAL, "cpu mse: grad aliases an input");
    struct ew w = {.x = grad ? cpu_f(grad) : NULL, .y = loss ? cpu_f(loss) : NULL,
                   .cx = cpu_f(p), .cy = cpu_f(t), .a = grad_scale};
    cpu_parallel_for(c, n, GRAIN, PAR_CHEAP, mse_body, &w);
    return 0;
}

int cpu_op_confusion(crease_ctx *c, int rows, int cols, const crease_buf *logits,
                     const crease_buf *labels, crease_buf *conf)
{
    static const char *op = "confusion";
    int rc;
    if ((rc = need_ctx(op, c)) || (rc = cpu_check_dim(op, "rows", rows)) ||
        (rc = cpu_check_dim(op, "cols", cols)))
        return rc;
    if (cols == 0)
        return rows == 0 ? 0 : cpu_error(CREASE_EINVAL, "cpu confusion: cols = 0");
    size_t k = cols == 1 ? 2 : (size_t)cols;
    if ((rc = cpu_check_buf(op, "logits", logits, (size_t)rows * cols)) ||
        (rc = cpu_check_buf(op, "labels", labels, (size_t)rows)) ||
        (rc = cpu_check_buf(op, "conf", conf, k * k)))
        return rc;
    const float *lab = cpu_f(labels), *z = cpu_f(logits);
    if ((rc = check_labels(op, lab, (size_t)rows, k)))
        return rc;
    float *cf = cpu_f(conf);
    /* counts are exact integers in float (below 2^24), so order is free */
    for (size_t r = 0; r < (size_t)rows; r++) {
        if (lab[r] < 0.0f)
            continue;
        size_t l = (size_t)lab[r], pred = 0;
        const float *zr = z + r * (size_t)cols;
        if (cols == 1) {
            pred = zr[0] > 0.0f;
        } else if (cols == 2) {
            /* the common binary head: NaN never wins, ties go to class 0 */
            pred = zr[1] > zr[0] || (zr[0] != zr[0] && zr[1] == zr[1]);
        } else {
            /* lowest index wins ties; NaN never wins (all NaN: class 0) */
            int have = 0;
            float best = 0.0f;
            for (size_t j = 0; j < (size_t)cols; j++) {
                float v = zr[j];
                if (v != v)
                    continue;
                if (!have || v > best) {
                    best = v;
                    pred = j;
                    have = 1;
                }
            }
        }
        cf[l * k + pred] += 1.0f;
    }
    return 0;
}

/* ------------------------------------------------------------ gather */

static void gather_body(void *v, size_t b, size_t e)
{
    const struct ew *w = v;
    size_t cols = (size_t)w->act;
    const uint32_t *idx = (const uint32_t *)(const void *)w->cy;
    const float *src = w->cx;
    float *dst = w->x;
    /* short rows (inputs, labels) by plain copies: memcpy per row costs
     * more than the row */
    /* the source rows are scattered over a large data set: ask for them a
     * few rows ahead */
    const size_t ahead = 16;
    switch (cols) {
    case 1:
        for (size_t r = b; r < e; r++) {
            if (r + ahead < e)
                CPU_PREFETCH(src + idx[r + ahead]);
            dst[r] = src[idx[r]];
        }
        break;
    case 2:
        for (size_t r = b; r < e; r++) {
            if (r + ahead < e)
                CPU_PREFETCH(src + 2 * (size_t)idx[r + ahead]);
            dst[2 * r] = src[2 * (size_t)idx[r]];
            dst[2 * r + 1] = src[2 * (size_t)idx[r] + 1];
        }
        break;
    default:
        for (size_t r = b; r < e; r++) {
            if (r + ahead < e)
                CPU_PREFETCH(src + (size_t)idx[r + ahead] * cols);
            memcpy(dst + r * cols, src + (size_t)idx[r] * cols, cols * sizeof(float));
        }
        break;
    }
}

int cpu_op_gather_rows(crease_ctx *c, int rows, int cols, const crease_buf *src,
                       const crease_buf *idx, size_t idx_off, crease_buf *dst)
{
    static const char *op = "gather_rows";
    int rc;
    if ((rc = need_ctx(op, c)) || (rc = cpu_check_dim(op, "rows", rows)) ||
        (rc = cpu_check_dim(op, "cols", cols)))
        return rc;
    if (!idx || !src || !dst)
        return cpu_error(CREASE_EINVAL, "cpu gather_rows: %s is NULL",
                         !idx ? "idx" : !src ? "src" : "dst");
    if (idx_off > SIZE_MAX - (size_t)rows)
        return cpu_error(CREASE_EINVAL, "cpu gather_rows: idx_off %zu is invalid", idx_off);
    if ((rc = cpu_check_buf(op, "idx", idx, idx_off + (size_t)rows)) ||
        (rc = cpu_check_buf(op, "dst", dst, (size_t)rows * cols)) ||
        (rc = cpu_check_buf(op, "src", src, 0)))
        return rc;
    if (rows == 0 || cols == 0)
        return 0;
    if (dst == src)
        return cpu_error(CREASE_EINVAL, "cpu gather_rows: dst aliases src");
    size_t src_rows = src->bytes / sizeof(float) / (size_t)cols;
    const uint32_t *ix = (const uint32_t *)idx->data + idx_off;
    uint32_t bad = 0;
    for (size_t r = 0; r < (size_t)rows; r++)
        bad |= ix[r] >= src_rows; /* no early exit: a vectorisable scan */
    if (bad)
        for (size_t r = 0; r < (size_t)rows; r++)
            if (ix[r] >= src_rows)
                return cpu_error(CREASE_EINVAL,
                                 "cpu gather_rows: index %u at %zu is past the %zu rows of src",
                                 (unsigned)ix[r], idx_off + r, src_rows);
    struct ew w = {.x = cpu_f(dst), .cx = cpu_f(src), .cy = (const float *)(const void *)ix,
                   .act = cols};
    size_t grain = GRAIN / (size_t)cols + 1;
    cpu_parallel_for(c, (size_t)rows, grain, PAR_CHEAP / (size_t)cols + 1, gather_body, &w);
    return 0;
}

/* ------------------------------------------------------------ optimizers */

struct sgd {
    float *w, *v;
    const float *grad;
    float lr, momentum, wd;
    int nesterov;
};

static void sgd_body(void *arg, size_t b, size_t e)
{
    const struct sgd *o = arg;
    float *w = o->w, *v = o->v;
    const float *gr = o->grad;
    const vf lr = v_set1(o->lr), mom = v_set1(o->momentum), wd = v_set1(o->wd);
    const int use_wd = o->wd != 0.0f, use_mom = o->momentum != 0.0f;
    for (size_t i = b; i < e; i += V_LEN) {
        int n = lanes(i, e);
        vf wi = v_loadp(w + i, n);
        /* wd == 0 skips the term, so an infinite weight stays infinite */
        vf g = v_loadp(gr + i, n);
        if (use_wd)
            g = v_add(g, v_mul(wd, wi));
        vf upd = g;
        if (use_mom) {
            vf vel = v_add(v_mul(mom, v_loadp(v + i, n)), g);
            v_storep(v + i, vel, n);
            upd = o->nesterov ? v_add(g, v_mul(mom, vel)) : vel;
        }
        v_storep(w + i, v_sub(wi, v_mul(lr, upd)), n);
    }
}

int cpu_op_sgd_update(crease_ctx *c, size_t n, crease_buf *w,
                      const crease_buf *grad, crease_buf *v, float lr,
                      float momentum, float weight_decay, int nesterov)
{
    static const char *op = "sgd_update";
    int rc;
    if ((rc = need_ctx(op, c)) || (rc = cpu_check_buf(op, "w", w, n)) ||
        (rc = cpu_check_buf(op, "grad", grad, n)) ||
        (momentum != 0.0f && (rc = cpu_check_buf(op, "v", v, n))))
        return rc;
    struct sgd o = {cpu_f(w), momentum != 0.0f ? cpu_f(v) : NULL, cpu_f(grad), lr, momentum,
                    weight_decay, nesterov != 0};
    cpu_parallel_for(c, n, GRAIN, PAR_CHEAP, sgd_body, &o);
    return 0;
}

struct adam {
    float *w, *m, *v;
    const float *grad;
    float lr, b1, b2, eps, wd, bc1, bc2;
    int decoupled;
};

static void adam_body(void *arg, size_t b, size_t e)
{
    const struct adam *o = arg;
    float *w = o->w, *m = o->m, *v = o->v;
    const float *gr = o->grad;
    const vf lr = v_set1(o->lr), b1 = v_set1(o->b1), b2 = v_set1(o->b2);
    const vf c1 = v_set1(1.0f - o->b1), c2 = v_set1(1.0f - o->b2);
    const vf eps = v_set1(o->eps), wd = v_set1(o->wd);
    const vf bc1 = v_set1(o->bc1), bc2 = v_set1(o->bc2);
    const int l2 = !o->decoupled && o->wd != 0.0f, dec = o->decoupled && o->wd != 0.0f;
    for (size_t i = b; i < e; i += V_LEN) {
        int n = lanes(i, e);
        vf wi = v_loadp(w + i, n);
        vf g = v_loadp(gr + i, n);
        if (l2)
            g = v_add(g, v_mul(wd, wi));
        vf mi = v_add(v_mul(b1, v_loadp(m + i, n)), v_mul(c1, g));
        vf sq = v_add(v_mul(b2, v_loadp(v + i, n)), v_mul(c2, v_mul(g, g)));
        v_storep(m + i, mi, n);
        v_storep(v + i, sq, n);
        vf upd = v_div(v_div(mi, bc1), v_add(v_sqrt(v_div(sq, bc2)), eps));
        if (dec)
            upd = v_add(upd, v_mul(wd, wi));
        v_storep(w + i, v_sub(wi, v_mul(lr, upd)), n);
    }
}

int cpu_op_adam_update(crease_ctx *c, size_t n, crease_buf *w,
                       const crease_buf *grad, crease_buf *m, crease_buf *v,
                       float lr, float beta1, float beta2, float eps,
                       float weight_decay, int decoupled, float bc1, float bc2)
{
    static const char *op = "adam_update";
    int rc;
    if ((rc = need_ctx(op, c)) || (rc = cpu_check_buf(op, "w", w, n)) ||
        (rc = cpu_check_buf(op, "grad", grad, n)) || (rc = cpu_check_buf(op, "m", m, n)) ||
        (rc = cpu_check_buf(op, "v", v, n)))
        return rc;
    if (!(bc1 > 0.0f) || !(bc2 > 0.0f))
        return cpu_error(CREASE_EINVAL,
                         "cpu adam_update: bias corrections bc1 = %g, bc2 = %g must be > 0",
                         (double)bc1, (double)bc2);
    struct adam o = {cpu_f(w), cpu_f(m), cpu_f(v), cpu_f(grad), lr, beta1, beta2, eps,
                     weight_decay, bc1, bc2, decoupled != 0};
    cpu_parallel_for(c, n, GRAIN, PAR_CHEAP, adam_body, &o);
    return 0;
}
