/* ops.c -- every op of the CPU backend except GEMM.
 *
 * Element-wise ops are split over the pool in ranges when they are large
 * (a range cut never changes an element's arithmetic).  Reductions use a
 * cut that depends on the shape only, accumulate in double, and combine
 * the partials in index order, so they are bit-reproducible for any
 * thread count.
 */
#define _POSIX_C_SOURCE 200809L

#include "cpu.h"

#include <string.h>

#define GRAIN 16384          /* elements per range task */
#define PAR_CHEAP 65536      /* cheap element-wise ops go parallel from here */
#define PAR_EXPENSIVE 8192   /* ops calling exp/tanh/log go parallel from here */
#define SUM_CHUNK 16384      /* fixed piece of sum(); part of its result */

static int need_ctx(const char *op, const crease_ctx *c)
{
    return c ? 0 : cpu_error(CREASE_EINVAL, "cpu %s: context is NULL", op);
}

/* Arguments of the simple element-wise and row-wise bodies: up to two
 * outputs (x, y), two inputs (cx, cy), one scalar (a) and one integer
 * (act: the activation, or the row length of row-wise ops).  Bodies copy
 * them to locals first: a store through a float pointer could otherwise
 * alias the float members and stop the loops from vectorising. */
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
    float *x = w->x, a = w->a;
    for (size_t i = b; i < e; i++)
        x[i] = a;
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
        for (size_t j = 0; j < cols; j++)
            y[j] = y[j] + bias[j];
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
 * shape alone.  Column blocks only bound the work per task. */
#define RR_COLS 4096

struct rr {
    const float *x;
    double *part; /* npieces x cols */
    size_t rows, cols, piece, npieces, ncb;
};

static void rr_task(void *v, int t, int tid)
{
    const struct rr *r = v;
    (void)tid;
    size_t pc = (size_t)t % r->npieces, cb = (size_t)t / r->npieces;
    size_t r0 = pc * r->piece, r1 = r0 + r->piece < r->rows ? r0 + r->piece : r->rows;
    size_t j0 = cb * RR_COLS, j1 = j0 + RR_COLS < r->cols ? j0 + RR_COLS : r->cols;
    double *acc = r->part + pc * r->cols;
    for (size_t j = j0; j < j1; j++)
        acc[j] = 0.0;
    for (size_t i = r0; i < r1; i++) {
        const float *xi = r->x + i * r->cols;
        for (size_t j = j0; j < j1; j++)
            acc[j] += (double)xi[j];
    }
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
    r.piece = (r.rows + 63) / 64;
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

/* four interleaved double accumulators: latency hiding, fixed order */
static double sum_piece(const float *x, size_t n)
{
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
}

static void sum_task(void *v, int t, int tid)
{
    const struct sumjob *s = v;
    (void)tid;
    size_t b = (size_t)t * SUM_CHUNK, e = b + SUM_CHUNK < s->n ? b + SUM_CHUNK : s->n;
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
        cpu_pool_run(c->pool, sum_task, &j, (int)np);
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
    float *x = w->x, a = w->a;
    for (size_t i = b; i < e; i++)
        x[i] = a * x[i];
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
    float *y = w->y, a = w->a;
    const float *x = w->cx;
    for (size_t i = b; i < e; i++)
        y[i] = y[i] + a * x[i];
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
    int act = w->act;
    switch (act) {
    case CREASE_ACT_RELU:
        for (size_t i = b; i < e; i++)
            y[i] = x[i] < 0.0f ? 0.0f : x[i];
        break;
    case CREASE_ACT_LEAKY_RELU:
        for (size_t i = b; i < e; i++)
            y[i] = x[i] > 0.0f ? x[i] : a * x[i];
        break;
    case CREASE_ACT_IDENTITY:
        if (x != y)
            memcpy(y + b, x + b, (e - b) * sizeof(float));
        break;
    default:
        for (size_t i = b; i < e; i++)
            y[i] = cpu_act1(act, a, x[i]);
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
    float *dx = w->x, a = w->a;
    switch (w->act) {
    case CREASE_ACT_RELU:
        for (size_t i = b; i < e; i++)
            dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
        break;
    case CREASE_ACT_LEAKY_RELU:
        for (size_t i = b; i < e; i++)
            dx[i] = y[i] > 0.0f ? dy[i] : a * dy[i];
        break;
    case CREASE_ACT_TANH:
        for (size_t i = b; i < e; i++)
            dx[i] = (1.0f - y[i] * y[i]) * dy[i];
        break;
    case CREASE_ACT_SIGMOID:
        for (size_t i = b; i < e; i++)
            dx[i] = y[i] * (1.0f - y[i]) * dy[i];
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

static void xent_body(void *v, size_t b, size_t e)
{
    const struct ew *w = v;
    size_t cols = (size_t)w->act;
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
        float mx = z[0];
        for (size_t j = 1; j < cols; j++)
            if (z[j] > mx)
                mx = z[j];
        double s = 0.0;
        if (g) {
            for (size_t j = 0; j < cols; j++) {
                g[j] = expf(z[j] - mx);
                s += g[j];
            }
            float inv = (float)(1.0 / s), scale = w->a;
            for (size_t j = 0; j < cols; j++)
                g[j] = scale * (g[j] * inv - (j == l ? 1.0f : 0.0f));
        } else {
            for (size_t j = 0; j < cols; j++)
                s += expf(z[j] - mx);
        }
        if (w->y)
            w->y[r] = (float)((double)mx + log(s) - (double)z[l]);
    }
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
    size_t grain = GRAIN / (size_t)(cols ? cols : 1) + 1;
    cpu_parallel_for(c, (size_t)rows, grain, PAR_EXPENSIVE / (size_t)(cols ? cols : 1) + 1,
                     xent_body, &w);
    return 0;
}

static void bce_body(void *v, size_t b, size_t e)
{
    const struct ew *w = v;
    float *grad = w->x, *loss = w->y, scale = w->a;
    const float *zs = w->cx, *ts = w->cy;
    for (size_t i = b; i < e; i++) {
        float z = zs[i], t = ts[i];
        if (t < 0.0f) {
            if (grad)
                grad[i] = 0.0f;
            if (loss)
                loss[i] = 0.0f;
            continue;
        }
        if (grad)
            grad[i] = scale * (cpu_act1(CREASE_ACT_SIGMOID, 0.0f, z) - t);
        if (loss)
            loss[i] = (z > 0.0f ? z : 0.0f) - z * t + log1pf(expf(-fabsf(z)));
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
    cpu_parallel_for(c, n, GRAIN, PAR_EXPENSIVE, bce_body, &w);
    return 0;
}

static void mse_body(void *v, size_t b, size_t e)
{
    const struct ew *w = v;
    float *grad = w->x, *loss = w->y, scale = w->a;
    const float *p = w->cx, *t = w->cy;
    for (size_t i = b; i < e; i++) {
        float d = p[i] - t[i];
        if (grad)
            grad[i] = scale * (2.0f * d);
        if (loss)
            loss[i] = d * d;
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
    for (size_t r = b; r < e; r++)
        memcpy(w->x + r * cols, w->cx + (size_t)idx[r] * cols, cols * sizeof(float));
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
    float lr = o->lr, mom = o->momentum, wd = o->wd;
    for (size_t i = b; i < e; i++) {
        /* wd == 0 skips the term, so an infinite weight stays infinite */
        float g = wd != 0.0f ? gr[i] + wd * w[i] : gr[i];
        float upd = g;
        if (mom != 0.0f) {
            float vi = mom * v[i] + g;
            v[i] = vi;
            upd = o->nesterov ? g + mom * vi : vi;
        }
        w[i] = w[i] - lr * upd;
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
    float lr = o->lr, b1 = o->b1, b2 = o->b2, eps = o->eps, wd = o->wd;
    float bc1 = o->bc1, bc2 = o->bc2;
    int dec = o->decoupled;
    for (size_t i = b; i < e; i++) {
        float g = (!dec && wd != 0.0f) ? gr[i] + wd * w[i] : gr[i];
        float mi = b1 * m[i] + (1.0f - b1) * g;
        float vi = b2 * v[i] + (1.0f - b2) * (g * g);
        m[i] = mi;
        v[i] = vi;
        float upd = (mi / bc1) / (sqrtf(vi / bc2) + eps);
        if (dec && wd != 0.0f)
            upd = upd + wd * w[i];
        w[i] = w[i] - lr * upd;
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
    cpu_parallel_for(c, n, GRAIN, PAR_EXPENSIVE, adam_body, &o);
    return 0;
}
