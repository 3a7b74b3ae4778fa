/* ops.c -- the ops table of the OpenCL backend.
 *
 * Every op checks its arguments (sizes against the buffers, so a bad call
 * is an EINVAL here and never an out-of-bounds access on the device),
 * enqueues its kernels and returns.  Only buf_read and finish wait for the
 * queue, and buf_write for its own copy (the caller may reuse the host
 * memory at once).  Scalars travel as kernel arguments.  Every 16th
 * command's event is kept until the next such one, so a failure on the
 * device is seen a few ops later (ocl_track) or at the next wait
 * (ocl_sync), and loses the context. */
#include "config.h"

#include "ocl.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <clblast_c.h>

const char *const ocl_kernel_names[K_COUNT] = {
    [K_FILL] = "crease_fill",
    [K_SCALE] = "crease_scale",
    [K_AXPY] = "crease_axpy",
    [K_SCALE_MATRIX] = "crease_scale_matrix",
    [K_BIAS_ADD] = "crease_bias_add",
    [K_BIAS_ACT] = "crease_bias_act",
    [K_ACT_FWD] = "crease_act_fwd",
    [K_ACT_BWD] = "crease_act_bwd",
    [K_GATHER_ROWS] = "crease_gather_rows",
    [K_SUM_STAGE] = "crease_sum_stage",
    [K_REDUCE_COLS] = "crease_reduce_cols",
    [K_SOFTMAX_XENT] = "crease_softmax_xent",
    [K_BCE_LOGITS] = "crease_bce_logits",
    [K_MSE] = "crease_mse",
    [K_CONFUSION_COUNT] = "crease_confusion_count",
    [K_CONFUSION_ADD] = "crease_confusion_add",
    [K_SGD_UPDATE] = "crease_sgd_update",
    [K_ADAM_UPDATE] = "crease_adam_update",
};

/* ------------------------------------------------------------ checks */

#define LOST_CHECK(c)                                                                          \
    do {                                                                                       \
        if ((c)->lost)                                                                         \
            return ocl_lost_error(c);                                                          \
    } while (0)

static int check_buf(crease_ctx *c, const char *op, const char *arg, const crease_buf *b,
                     size_t n_floats)
{
    if (!b)
        return ocl_error(CREASE_EINVAL, "opencl:%d: %s: buffer %s is NULL", c->index, op, arg);
    if (b->magic != OCL_BUF_MAGIC)
        return ocl_error(CREASE_EINVAL, "opencl:%d: %s: %s is not an OpenCL buffer (freed, or "
                         "from another backend)", c->index, op, arg);
    if (n_floats > SIZE_MAX / sizeof(float) || n_floats * sizeof(float) > b->bytes)
        return ocl_error(CREASE_EINVAL,
                         "opencl:%d: %s: buffer %s holds %zu bytes, the op needs %zu floats",
                         c->index, op, arg, b->bytes, n_floats);
    return CREASE_OK;
}

static int check_dim(crease_ctx *c, const char *op, const char *arg, long v)
{
    if (v < 0)
        return ocl_error(CREASE_EINVAL, "opencl:%d: %s: %s = %ld is negative", c->index, op, arg,
                         v);
    return CREASE_OK;
}

static int check_act(crease_ctx *c, const char *op, int act)
{
    if (act < CREASE_ACT_IDENTITY || act > CREASE_ACT_SIGMOID)
        return ocl_error(CREASE_EINVAL, "opencl:%d: %s: unknown activation %d", c->index, op,
                         act);
    return CREASE_OK;
}

#define TRY(expr)                                                                              \
    do {                                                                                       \
        int rc_ = (expr);                                                                      \
        if (rc_)                                                                               \
            return rc_;                                                                        \
    } while (0)

/* ------------------------------------------------------------ launching */

/* Kernel arguments, set in order; the first failure is kept. */
struct kargs {
    crease_ctx *c;
    int kid;
    cl_uint n;
    cl_int err;
    cl_uint bad;
};

static struct kargs args_begin(crease_ctx *c, int kid)
{
    struct kargs a = {c, kid, 0, CL_SUCCESS, 0};
    return a;
}

static void arg_raw(struct kargs *a, size_t size, const void *value)
{
    if (a->err == CL_SUCCESS) {
        cl_int e = clSetKernelArg(a->c->k[a->kid], a->n, size, value);
        if (e != CL_SUCCESS) {
            a->err = e;
            a->bad = a->n;
        }
    }
    a->n++;
}

/* A NULL buffer (or a zero-byte one) becomes a NULL pointer in the kernel. */
static void arg_buf(struct kargs *a, const crease_buf *b)
{
    cl_mem m = b ? b->mem : NULL;
    arg_raw(a, sizeof m, &m);
}

static void arg_mem(struct kargs *a, cl_mem m)
{
    arg_raw(a, sizeof m, &m);
}

static void arg_int(struct kargs *a, int v)
{
    cl_int x = v;
    arg_raw(a, sizeof x, &x);
}

static void arg_u64(struct kargs *a, size_t v)
{
    cl_ulong x = v;
    arg_raw(a, sizeof x, &x);
}

static void arg_float(struct kargs *a, float v)
{
    cl_float x = v;
    arg_raw(a, sizeof x, &x);
}

static void arg_local(struct kargs *a, size_t bytes)
{
    arg_raw(a, bytes, NULL);
}

static size_t round_up(size_t n, size_t m)
{
    return (n + m - 1) / m * m;
}

static int enqueue(struct kargs *a, const char *op, cl_uint dims, const size_t *global,
                   const size_t *local)
{
    crease_ctx *c = a->c;
    if (a->err != CL_SUCCESS)
        return ocl_error(CREASE_EBACKEND, "opencl:%d: %s: clSetKernelArg(%s, %u) failed: %s (%d)",
                         c->index, op, ocl_kernel_names[a->kid], (unsigned)a->bad,
                         ocl_strerror(a->err), (int)a->err);
    cl_event ev = NULL;
    cl_int err =
        clEnqueueNDRangeKernel(c->queue, c->k[a->kid], dims, NULL, global, local, 0, NULL,
                               ocl_want_event(c, &ev));
    if (err != CL_SUCCESS)
        return ocl_call_error(c, op, ocl_kernel_names[a->kid], err);
    ocl_track(c, ev, op);
    return c->lost ? ocl_lost_error(c) : CREASE_OK;
}

/* One work-item per element of n (n > 0), at the kernel's local size. */
static int launch1(struct kargs *a, const char *op, size_t n)
{
    size_t l = a->c->wg[a->kid];
    size_t g = round_up(n, l);
    return enqueue(a, op, 1, &g, &l);
}

/* Grow-only scratch buffers, zero-filled when made: nothing of ours ever
 * reads memory that was not written (which also keeps Oclgrind's
 * --uninitialized check quiet: it loses track of kernel stores past the
 * old size when a buffer number is reused, but not of host writes).  The
 * writes are not blocking; their source is static and lives forever. */
static int ensure(crease_ctx *c, cl_mem *m, size_t *have, size_t bytes, const char *what)
{
    static const unsigned char zeros[1 << 16];
    if (*have >= bytes)
        return CREASE_OK;
    /* grow with some slack so a slowly rising size does not realloc often */
    size_t want = round_up(bytes + bytes / 2, 64);
    if (want > c->dev->info.max_alloc_bytes)
        want = round_up(bytes, sizeof(float));
    cl_mem nm = NULL;
    TRY(ocl_mem_alloc(c, want, what, &nm));
    for (size_t off = 0; off < want; off += sizeof zeros) {
        size_t n = want - off < sizeof zeros ? want - off : sizeof zeros;
        cl_event ev = NULL;
        cl_int err = clEnqueueWriteBuffer(c->queue, nm, CL_FALSE, off, n, zeros, 0, NULL,
                                          ocl_want_event(c, &ev));
        if (err != CL_SUCCESS) {
            ocl_mem_free(c, nm, want);
            return ocl_call_error(c, what, "clEnqueueWriteBuffer", err);
        }
        ocl_track(c, ev, what);
    }
    ocl_mem_free(c, *m, *have);
    *m = nm;
    *have = want;
    return CREASE_OK;
}

/* ------------------------------------------------------------ memory ops */

static int op_buf_alloc(crease_ctx *c, size_t n_bytes, crease_buf **out)
{
    if (!out)
        return ocl_error(CREASE_EINVAL, "opencl: buf_alloc: out is NULL");
    *out = NULL;
    LOST_CHECK(c);
    crease_buf *b = calloc(1, sizeof *b);
    if (!b)
        return ocl_error(CREASE_ENOMEM, "opencl:%d: buf_alloc: out of host memory", c->index);
    if (n_bytes > 0) {
        int rc = ocl_mem_alloc(c, n_bytes, "a buffer", &b->mem);
        if (rc) {
            free(b);
            return rc;
        }
    }
    b->magic = OCL_BUF_MAGIC;
    b->bytes = n_bytes;
    *out = b;
    return CREASE_OK;
}

static void op_buf_free(crease_ctx *c, crease_buf *b)
{
    if (!b || b->magic != OCL_BUF_MAGIC)
        return;
    ocl_mem_free(c, b->mem, b->bytes);
    b->magic = 0;
    free(b);
}

static int check_range(crease_ctx *c, const char *op, const crease_buf *b, size_t off,
                       size_t n)
{
    if (!b || b->magic != OCL_BUF_MAGIC)
        return ocl_error(CREASE_EINVAL, "opencl:%d: %s: not an OpenCL buffer", c->index, op);
    if (off > b->bytes || n > b->bytes - off)
        return ocl_error(CREASE_EINVAL,
                         "opencl:%d: %s: bytes [%zu, %zu + %zu) are outside the buffer of %zu "
                         "bytes",
                         c->index, op, off, off, n, b->bytes);
    return CREASE_OK;
}

static int op_buf_write(crease_ctx *c, crease_buf *dst, size_t off, size_t n, const void *src)
{
    LOST_CHECK(c);
    TRY(check_range(c, "buf_write", dst, off, n));
    if (n == 0)
        return CREASE_OK;
    if (!src)
        return ocl_error(CREASE_EINVAL, "opencl:%d: buf_write: src is NULL", c->index);
    /* Blocking: the caller may reuse src as soon as we return. */
    cl_event ev = NULL;
    cl_int err = clEnqueueWriteBuffer(c->queue, dst->mem, CL_TRUE, off, n, src, 0, NULL,
                                      ocl_want_event(c, &ev));
    if (err != CL_SUCCESS)
        return ocl_call_error(c, "buf_write", "clEnqueueWriteBuffer", err);
    ocl_track(c, ev, "buf_write");
    return c->lost ? ocl_lost_error(c) : CREASE_OK;
}

static int op_buf_read(crease_ctx *c, const crease_buf *src, size_t off, size_t n, void *dst)
{
    LOST_CHECK(c);
    TRY(check_range(c, "buf_read", src, off, n));
    if (n == 0)
        return ocl_sync(c, "buf_read");
    if (!dst)
        return ocl_error(CREASE_EINVAL, "opencl:%d: buf_read: dst is NULL", c->index);
    cl_event ev = NULL;
    cl_int err = clEnqueueReadBuffer(c->queue, src->mem, CL_TRUE, off, n, dst, 0, NULL, &ev);
    if (err != CL_SUCCESS) {
        /* a blocking read of a valid range fails only for earlier work */
        return ocl_mark_lost(c, "buf_read: clEnqueueReadBuffer failed: %s (%d), last command: %s",
                             ocl_strerror(err), (int)err, c->recent_op ? c->recent_op : "none");
    }
    ocl_track(c, ev, "buf_read");
    return ocl_sync(c, "buf_read");
}

static int op_buf_copy(crease_ctx *c, crease_buf *dst, size_t doff, const crease_buf *src,
                       size_t soff, size_t n)
{
    LOST_CHECK(c);
    TRY(check_range(c, "buf_copy", dst, doff, n));
    TRY(check_range(c, "buf_copy", src, soff, n));
    if (n == 0 || (dst == src && doff == soff))
        return CREASE_OK;
    cl_event ev = NULL;
    cl_int err;
    if (dst == src && doff < soff + n && soff < doff + n) {
        /* OpenCL refuses overlapping copies: go through scratch (memmove) */
        TRY(ensure(c, &c->scratch, &c->scratch_bytes, n, "scratch"));
        err = clEnqueueCopyBuffer(c->queue, src->mem, c->scratch, soff, 0, n, 0, NULL,
                                  ocl_want_event(c, &ev));
        if (err != CL_SUCCESS)
            return ocl_call_error(c, "buf_copy", "clEnqueueCopyBuffer", err);
        ocl_track(c, ev, "buf_copy");
        err = clEnqueueCopyBuffer(c->queue, c->scratch, dst->mem, 0, doff, n, 0, NULL,
                                  ocl_want_event(c, &ev));
    } else {
        err = clEnqueueCopyBuffer(c->queue, src->mem, dst->mem, soff, doff, n, 0, NULL,
                                  ocl_want_event(c, &ev));
    }
    if (err != CL_SUCCESS)
        return ocl_call_error(c, "buf_copy", "clEnqueueCopyBuffer", err);
    ocl_track(c, ev, "buf_copy");
    return c->lost ? ocl_lost_error(c) : CREASE_OK;
}

static int op_fill(crease_ctx *c, crease_buf *x, size_t n, float value)
{
    LOST_CHECK(c);
    TRY(check_buf(c, "fill", "x", x, n));
    if (n == 0)
        return CREASE_OK;
    struct kargs a = args_begin(c, K_FILL);
    arg_u64(&a, n);
    arg_float(&a, value);
    arg_buf(&a, x);
    return launch1(&a, "fill", n);
}

static int op_finish(crease_ctx *c)
{
    LOST_CHECK(c);
    return ocl_sync(c, "finish");
}

/* ------------------------------------------------------------ GEMM */

/* C (m x n, stride ld) = beta C, beta == 0 without reading C. */
static int scale_matrix(crease_ctx *c, const char *op, int m, int n, int ld, float beta,
                        crease_buf *cm)
{
    /* 1-D over m*n would need a division per item; this one runs only for
     * k == 0 and on old CLBlast versions, so a 2-D launch of fixed local
     * size 16 x (wg/16) is fine. */
    size_t wg = c->wg[K_SCALE_MATRIX];
    size_t l[2] = {wg >= 16 ? 16 : wg, 1};
    l[1] = wg / l[0];
    size_t g[2] = {round_up((size_t)n, l[0]), round_up((size_t)m, l[1])};
    struct kargs a = args_begin(c, K_SCALE_MATRIX);
    arg_int(&a, m);
    arg_int(&a, n);
    arg_int(&a, ld);
    arg_float(&a, beta);
    arg_buf(&a, cm);
    return enqueue(&a, op, 2, g, l);
}

/* Floats spanned by a row-major rows x cols matrix with row stride ld. */
static size_t span(int rows, int cols, int ld)
{
    if (rows == 0 || cols == 0)
        return 0;
    return (size_t)(rows - 1) * (size_t)ld + (size_t)cols;
}

static int clblast_error(crease_ctx *c, const char *op, CLBlastStatusCode st, int ta, int tb,
                         int m, int n, int k)
{
    /* CLBlast passes OpenCL errors through unchanged */
    if (st > -1000)
        return ocl_call_error(c, op, "CLBlastSgemm", (cl_int)st);
    return ocl_error(CREASE_EBACKEND,
                     "opencl:%d: %s: CLBlastSgemm(ta=%d, tb=%d, m=%d, n=%d, k=%d) failed: %s (%d)",
                     c->index, op, ta, tb, m, n, k, ocl_strerror(st), (int)st);
}

/* The GEMM itself, arguments already checked, m, n, k > 0. */
static int sgemm(crease_ctx *c, const char *op, int ta, int tb, int m, int n, int k,
                 float alpha, const crease_buf *a, int lda, const crease_buf *b, int ldb,
                 float beta, crease_buf *cm, int ldc)
{
    if (beta == 0.0f && c->gemm_prefill)
        TRY(scale_matrix(c, op, m, n, ldc, 0.0f, cm));
    CLBlastTranspose cta = ta ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastTranspose ctb = tb ? CLBlastTransposeYes : CLBlastTransposeNo;
    /* CLBlast allocates a temporary buffer on every call of its indirect
     * (large-matrix) path unless it is given one: keep ours, grow-only. */
    size_t tmp = 0;
    CLBlastStatusCode st = CLBlastSGemmTempBufferSize(
        CLBlastLayoutRowMajor, cta, ctb, (size_t)m, (size_t)n, (size_t)k, 0, (size_t)lda, 0,
        (size_t)ldb, 0, (size_t)ldc, &c->queue, &tmp);
    if (st != CLBlastSuccess)
        return clblast_error(c, op, st, ta, tb, m, n, k);
    cl_event ev = NULL, *evp;
    if (tmp > 0) {
        TRY(ensure(c, &c->gemm_tmp, &c->gemm_tmp_bytes, tmp, "the GEMM temporary buffer"));
        evp = ocl_want_event(c, &ev);
        st = CLBlastSgemmWithTempBuffer(CLBlastLayoutRowMajor, cta, ctb, (size_t)m, (size_t)n,
                                        (size_t)k, alpha, a->mem, 0, (size_t)lda, b->mem, 0,
                                        (size_t)ldb, beta, cm->mem, 0, (size_t)ldc, &c->queue,
                                        evp, c->gemm_tmp);
    } else {
        evp = ocl_want_event(c, &ev);
        st = CLBlastSgemm(CLBlastLayoutRowMajor, cta, ctb, (size_t)m, (size_t)n, (size_t)k, alpha,
                          a->mem, 0, (size_t)lda, b->mem, 0, (size_t)ldb, beta, cm->mem, 0,
                          (size_t)ldc, &c->queue, evp);
    }
    if (st != CLBlastSuccess)
        return clblast_error(c, op, st, ta, tb, m, n, k);
    ocl_track(c, ev, op);
    return c->lost ? ocl_lost_error(c) : CREASE_OK;
}

static int op_gemm(crease_ctx *c, int ta, int tb, int m, int n, int k, float alpha,
                   const crease_buf *a, int lda, const crease_buf *b, int ldb, float beta,
                   crease_buf *cm, int ldc)
{
    static const char op[] = "gemm";
    LOST_CHECK(c);
    TRY(check_dim(c, op, "m", m));
    TRY(check_dim(c, op, "n", n));
    TRY(check_dim(c, op, "k", k));
    if (m == 0 || n == 0)
        return CREASE_OK;
    if (ldc < n)
        return ocl_error(CREASE_EINVAL, "opencl:%d: gemm: ldc = %d < n = %d", c->index, ldc, n);
    TRY(check_buf(c, op, "C", cm, span(m, n, ldc)));
    if (k == 0)
        return scale_matrix(c, op, m, n, ldc, beta, cm);
    int ar = ta ? k : m, ac = ta ? m : k;
    int br = tb ? n : k, bc = tb ? k : n;
    if (lda < ac)
        return ocl_error(CREASE_EINVAL, "opencl:%d: gemm: lda = %d < %d", c->index, lda, ac);
    if (ldb < bc)
        return ocl_error(CREASE_EINVAL, "opencl:%d: gemm: ldb = %d < %d", c->index, ldb, bc);
    TRY(check_buf(c, op, "A", a, span(ar, ac, lda)));
    TRY(check_buf(c, op, "B", b, span(br, bc, ldb)));
    return sgemm(c, op, ta ? 1 : 0, tb ? 1 : 0, m, n, k, alpha, a, lda, b, ldb, beta, cm, ldc);
}

int ocl_gemm_warmup(crease_ctx *c)
{
    /* One 1x1x1 GEMM per transpose case a training step uses (forward
     * x w^T, backward dy w and dy^T x): CLBlast builds its GEMM program and
     * the driver its kernels.  C starts as NaN, so the result also says
     * whether this CLBlast honours "beta == 0: C is not read". */
    crease_buf *ab = NULL, *cb = NULL;
    int rc = op_buf_alloc(c, 2 * sizeof(float), &ab);
    if (!rc)
        rc = op_buf_alloc(c, sizeof(float), &cb);
    static const float one[2] = {1.0f, 1.0f};
    if (!rc)
        rc = op_buf_write(c, ab, 0, sizeof one, one);
    static const int cases[3][2] = {{0, 1}, {0, 0}, {1, 0}};
    float out = 0.0f;
    for (int i = 0; i < 3 && !rc; i++) {
        rc = op_fill(c, cb, 1, NAN);
        if (!rc)
            rc = sgemm(c, "gemm warm-up", cases[i][0], cases[i][1], 1, 1, 1, 1.0f, ab, 1, ab, 1,
                       0.0f, cb, 1);
        if (!rc)
            rc = op_buf_read(c, cb, 0, sizeof out, &out);
        if (!rc && out != 1.0f) {
            if (isnan(out) && !c->gemm_prefill) {
                c->gemm_prefill = 1;
                i--; /* once more, with C zeroed first */
            } else {
                rc = ocl_error(CREASE_EBACKEND,
                               "opencl:%d: CLBlast warm-up GEMM (ta=%d, tb=%d) gave %g, not 1",
                               c->index, cases[i][0], cases[i][1], (double)out);
            }
        }
    }
    op_buf_free(c, ab);
    op_buf_free(c, cb);
    return rc;
}

/* ------------------------------------------------------------ rows and columns */

/* Launch over rows x cols elements as one dimension: one local size per
 * kernel keeps drivers that specialise per size (PoCL) at one compile. */
static int launch_rows_cols(struct kargs *a, const char *op, int rows, int cols)
{
    return launch1(a, op, (size_t)rows * (size_t)cols);
}

static int op_bias_add(crease_ctx *c, int rows, int cols, crease_buf *y, const crease_buf *bias)
{
    static const char op[] = "bias_add";
    LOST_CHECK(c);
    TRY(check_dim(c, op, "rows", rows));
    TRY(check_dim(c, op, "cols", cols));
    if (rows == 0 || cols == 0)
        return CREASE_OK;
    TRY(check_buf(c, op, "y", y, (size_t)rows * cols));
    TRY(check_buf(c, op, "bias", bias, (size_t)cols));
    struct kargs a = args_begin(c, K_BIAS_ADD);
    arg_int(&a, rows);
    arg_int(&a, cols);
    arg_buf(&a, y);
    arg_buf(&a, bias);
    return launch_rows_cols(&a, op, rows, cols);
}

static int op_reduce_rows(crease_ctx *c, int rows, int cols, const crease_buf *x, float beta,
                          crease_buf *out)
{
    static const char op[] = "reduce_rows";
    LOST_CHECK(c);
    TRY(check_dim(c, op, "rows", rows));
    TRY(check_dim(c, op, "cols", cols));
    if (cols == 0)
        return CREASE_OK;
    TRY(check_buf(c, op, "x", x, (size_t)rows * cols));
    TRY(check_buf(c, op, "out", out, (size_t)cols));
    size_t tc = c->red_tc, tr = c->red_tr;
    size_t gx = ((size_t)cols + tc - 1) / tc;
    /* Row groups: enough to keep a device busy when there are few columns,
     * each with at least 8 rows per lane.  A function of the shape and the
     * device's work-group size only, so the summation order is fixed. */
    size_t groups = ((size_t)rows + tr * 8 - 1) / (tr * 8);
    size_t cap = gx >= 256 ? 1 : 256 / gx;
    if (groups > cap)
        groups = cap;
    if (groups > 64)
        groups = 64;
    if (groups < 1)
        groups = 1;
    size_t rpg = ((size_t)rows + groups - 1) / groups;
    if (rpg > 0)
        groups = ((size_t)rows + rpg - 1) / rpg;
    else
        groups = 1;
    size_t local[2] = {tc, tr};
    size_t lbytes = tc * tr * sizeof(float);
    if (groups == 1) {
        size_t global[2] = {gx * tc, tr};
        struct kargs a = args_begin(c, K_REDUCE_COLS);
        arg_int(&a, rows);
        arg_int(&a, cols);
        arg_int(&a, rows);
        arg_buf(&a, x);
        arg_buf(&a, out);
        arg_float(&a, beta);
        arg_local(&a, lbytes);
        return enqueue(&a, op, 2, global, local);
    }
    TRY(ensure(c, &c->scratch, &c->scratch_bytes, groups * (size_t)cols * sizeof(float),
               "scratch"));
    size_t g1[2] = {gx * tc, groups * tr};
    struct kargs a = args_begin(c, K_REDUCE_COLS);
    arg_int(&a, rows);
    arg_int(&a, cols);
    arg_int(&a, (int)rpg);
    arg_buf(&a, x);
    arg_mem(&a, c->scratch);
    arg_float(&a, 0.0f);
    arg_local(&a, lbytes);
    TRY(enqueue(&a, op, 2, g1, local));
    size_t g2[2] = {gx * tc, tr};
    a = args_begin(c, K_REDUCE_COLS);
    arg_int(&a, (int)groups);
    arg_int(&a, cols);
    arg_int(&a, (int)groups);
    arg_mem(&a, c->scratch);
    arg_buf(&a, out);
    arg_float(&a, beta);
    arg_local(&a, lbytes);
    return enqueue(&a, op, 2, g2, local);
}

static int op_sum(crease_ctx *c, size_t n, const crease_buf *x, float beta, crease_buf *out,
                  size_t out_off)
{
    static const char op[] = "sum";
    LOST_CHECK(c);
    TRY(check_buf(c, op, "x", x, n));
    if (out_off == SIZE_MAX)
        return ocl_error(CREASE_EINVAL, "opencl:%d: sum: out_off too large", c->index);
    TRY(check_buf(c, op, "out", out, out_off + 1));
    size_t lanes = c->sum_lanes;
    /* Groups: at least 8 terms per lane, at most 256 partial sums. */
    size_t groups = (n + lanes * 8 - 1) / (lanes * 8);
    if (groups > 256)
        groups = 256;
    if (groups < 1)
        groups = 1;
    size_t chunk = (n + groups - 1) / groups;
    groups = chunk ? (n + chunk - 1) / chunk : 1;
    size_t lbytes = lanes * sizeof(float);
    if (groups == 1) {
        struct kargs a = args_begin(c, K_SUM_STAGE);
        arg_u64(&a, n);
        arg_u64(&a, n);
        arg_buf(&a, x);
        arg_buf(&a, out);
        arg_u64(&a, out_off);
        arg_float(&a, beta);
        arg_local(&a, lbytes);
        return enqueue(&a, op, 1, &lanes, &lanes);
    }
    TRY(ensure(c, &c->scratch, &c->scratch_bytes, groups * sizeof(float), "scratch"));
    size_t g1 = groups * lanes;
    struct kargs a = args_begin(c, K_SUM_STAGE);
    arg_u64(&a, n);
    arg_u64(&a, chunk);
    arg_buf(&a, x);
    arg_mem(&a, c->scratch);
    arg_u64(&a, 0);
    arg_float(&a, 0.0f);
    arg_local(&a, lbytes);
    TRY(enqueue(&a, op, 1, &g1, &lanes));
    a = args_begin(c, K_SUM_STAGE);
    arg_u64(&a, groups);
    arg_u64(&a, groups);
    arg_mem(&a, c->scratch);
    arg_buf(&a, out);
    arg_u64(&a, out_off);
    arg_float(&a, beta);
    arg_local(&a, lbytes);
    return enqueue(&a, op, 1, &lanes, &lanes);
}

static int op_scale(crease_ctx *c, size_t n, float alpha, crease_buf *x)
{
    LOST_CHECK(c);
    TRY(check_buf(c, "scale", "x", x, n));
    if (n == 0)
        return CREASE_OK;
    struct kargs a = args_begin(c, K_SCALE);
    arg_u64(&a, n);
    arg_float(&a, alpha);
    arg_buf(&a, x);
    return launch1(&a, "scale", n);
}

static int op_axpy(crease_ctx *c, size_t n, float alpha, const crease_buf *x, crease_buf *y)
{
    LOST_CHECK(c);
    TRY(check_buf(c, "axpy", "x", x, n));
    TRY(check_buf(c, "axpy", "y", y, n));
    if (n == 0)
        return CREASE_OK;
    struct kargs a = args_begin(c, K_AXPY);
    arg_u64(&a, n);
    arg_float(&a, alpha);
    arg_buf(&a, x);
    arg_buf(&a, y);
    return launch1(&a, "axpy", n);
}

/* ------------------------------------------------------------ activations */

static int op_act_fwd(crease_ctx *c, int act, float alpha, size_t n, const crease_buf *x,
                      crease_buf *y)
{
    LOST_CHECK(c);
    TRY(check_act(c, "act_fwd", act));
    TRY(check_buf(c, "act_fwd", "x", x, n));
    TRY(check_buf(c, "act_fwd", "y", y, n));
    if (n == 0)
        return CREASE_OK;
    struct kargs a = args_begin(c, K_ACT_FWD);
    arg_u64(&a, n);
    arg_int(&a, act);
    arg_float(&a, alpha);
    arg_buf(&a, x);
    arg_buf(&a, y);
    return launch1(&a, "act_fwd", n);
}

static int op_act_bwd(crease_ctx *c, int act, float alpha, size_t n, const crease_buf *y,
                      const crease_buf *dy, crease_buf *dx)
{
    LOST_CHECK(c);
    TRY(check_act(c, "act_bwd", act));
    TRY(check_buf(c, "act_bwd", "y", y, n));
    TRY(check_buf(c, "act_bwd", "dy", dy, n));
    TRY(check_buf(c, "act_bwd", "dx", dx, n));
    if (n == 0)
        return CREASE_OK;
    struct kargs a = args_begin(c, K_ACT_BWD);
    arg_u64(&a, n);
    arg_int(&a, act);
    arg_float(&a, alpha);
    arg_buf(&a, y);
    arg_buf(&a, dy);
    arg_buf(&a, dx);
    return launch1(&a, "act_bwd", n);
}

/* ------------------------------------------------------------ losses */

static int op_softmax_xent(crease_ctx *c, int rows, int cols, const crease_buf *logits,
                           const crease_buf *labels, float grad_scale, crease_buf *grad,
                           crease_buf *loss)
{
    static const char op[] = "softmax_xent";
    LOST_CHECK(c);
    TRY(check_dim(c, op, "rows", rows));
    TRY(check_dim(c, op, "cols", cols));
    if (rows == 0)
        return CREASE_OK;
    if (cols == 0)
        return ocl_error(CREASE_EINVAL, "opencl:%d: softmax_xent: cols = 0", c->index);
    size_t nz = (size_t)rows * cols;
    TRY(check_buf(c, op, "logits", logits, nz));
    TRY(check_buf(c, op, "labels", labels, (size_t)rows));
    if (grad)
        TRY(check_buf(c, op, "grad", grad, nz));
    if (loss)
        TRY(check_buf(c, op, "loss", loss, (size_t)rows));
    if (grad && (grad == logits || grad == labels))
        return ocl_error(CREASE_EINVAL, "opencl:%d: softmax_xent: grad aliases an input",
                         c->index);
    if (!grad && !loss)
        return CREASE_OK;
    struct kargs a = args_begin(c, K_SOFTMAX_XENT);
    arg_int(&a, rows);
    arg_int(&a, cols);
    arg_buf(&a, logits);
    arg_buf(&a, labels);
    arg_float(&a, grad_scale);
    arg_buf(&a, grad);
    arg_buf(&a, loss);
    return launch1(&a, op, (size_t)rows);
}

static int pointwise_loss(crease_ctx *c, int kid, const char *op, size_t n, const crease_buf *p,
                          const crease_buf *t, float grad_scale, crease_buf *grad,
                          crease_buf *loss)
{
    LOST_CHECK(c);
    TRY(check_buf(c, op, "input", p, n));
    TRY(check_buf(c, op, "target", t, n));
    if (grad)
        TRY(check_buf(c, op, "grad", grad, n));
    if (loss)
        TRY(check_buf(c, op, "loss", loss, n));
    if (grad && (grad == p || grad == t))
        return ocl_error(CREASE_EINVAL, "opencl:%d: %s: grad aliases an input", c->index, op);
    if (n == 0 || (!grad && !loss))
        return CREASE_OK;
    struct kargs a = args_begin(c, kid);
    arg_u64(&a, n);
    arg_buf(&a, p);
    arg_buf(&a, t);
    arg_float(&a, grad_scale);
    arg_buf(&a, grad);
    arg_buf(&a, loss);
    return launch1(&a, op, n);
}

static int op_bce_logits(crease_ctx *c, size_t n, const crease_buf *z, const crease_buf *t,
                         float grad_scale, crease_buf *grad, crease_buf *loss)
{
    return pointwise_loss(c, K_BCE_LOGITS, "bce_logits", n, z, t, grad_scale, grad, loss);
}

static int op_mse(crease_ctx *c, size_t n, const crease_buf *p, const crease_buf *t,
                  float grad_scale, crease_buf *grad, crease_buf *loss)
{
    return pointwise_loss(c, K_MSE, "mse", n, p, t, grad_scale, grad, loss);
}

static int op_confusion(crease_ctx *c, int rows, int cols, const crease_buf *logits,
                        const crease_buf *labels, crease_buf *conf)
{
    static const char op[] = "confusion";
    LOST_CHECK(c);
    TRY(check_dim(c, op, "rows", rows));
    TRY(check_dim(c, op, "cols", cols));
    if (cols == 0)
        return ocl_error(CREASE_EINVAL, "opencl:%d: confusion: cols = 0", c->index);
    size_t k = cols == 1 ? 2 : (size_t)cols;
    size_t kk = k * k;
    if (kk > INT_MAX)
        return ocl_error(CREASE_EINVAL, "opencl:%d: confusion: %zu classes are too many",
                         c->index, k);
    TRY(check_buf(c, op, "conf", conf, kk));
    if (rows == 0)
        return CREASE_OK;
    TRY(check_buf(c, op, "logits", logits, (size_t)rows * cols));
    TRY(check_buf(c, op, "labels", labels, (size_t)rows));
    /* the counts start at zero (ensure) and crease_confusion_add puts them
     * back to zero after each call */
    TRY(ensure(c, &c->counts, &c->counts_bytes, kk * sizeof(cl_uint), "confusion counts"));
    struct kargs a = args_begin(c, K_CONFUSION_COUNT);
    arg_int(&a, rows);
    arg_int(&a, cols);
    arg_int(&a, (int)k);
    arg_buf(&a, logits);
    arg_buf(&a, labels);
    arg_mem(&a, c->counts);
    TRY(launch1(&a, op, (size_t)rows));
    a = args_begin(c, K_CONFUSION_ADD);
    arg_int(&a, (int)kk);
    arg_mem(&a, c->counts);
    arg_buf(&a, conf);
    return launch1(&a, op, kk);
}

/* ------------------------------------------------------------ data movement */

static int op_gather_rows(crease_ctx *c, int rows, int cols, const crease_buf *src,
                          const crease_buf *idx, size_t idx_off, crease_buf *dst)
{
    static const char op[] = "gather_rows";
    LOST_CHECK(c);
    TRY(check_dim(c, op, "rows", rows));
    TRY(check_dim(c, op, "cols", cols));
    if (rows == 0 || cols == 0)
        return CREASE_OK;
    if (idx_off > SIZE_MAX / 8)
        return ocl_error(CREASE_EINVAL, "opencl:%d: gather_rows: idx_off too large", c->index);
    /* idx holds uint32 values, 4 bytes like a float */
    TRY(check_buf(c, op, "idx", idx, idx_off + (size_t)rows));
    TRY(check_buf(c, op, "dst", dst, (size_t)rows * cols));
    TRY(check_buf(c, op, "src", src, 0));
    if (dst == src)
        return ocl_error(CREASE_EINVAL, "opencl:%d: gather_rows: dst aliases src", c->index);
    size_t src_rows = src->bytes / sizeof(float) / (size_t)cols;
    struct kargs a = args_begin(c, K_GATHER_ROWS);
    arg_int(&a, rows);
    arg_int(&a, cols);
    arg_u64(&a, src_rows);
    arg_buf(&a, src);
    arg_buf(&a, idx);
    arg_u64(&a, idx_off);
    arg_buf(&a, dst);
    return launch_rows_cols(&a, op, rows, cols);
}

/* ------------------------------------------------------------ optimizers */

static int op_sgd_update(crease_ctx *c, size_t n, crease_buf *w, const crease_buf *grad,
                         crease_buf *v, float lr, float momentum, float weight_decay,
                         int nesterov)
{
    static const char op[] = "sgd_update";
    LOST_CHECK(c);
    TRY(check_buf(c, op, "w", w, n));
    TRY(check_buf(c, op, "grad", grad, n));
    if (momentum != 0.0f)
        TRY(check_buf(c, op, "v", v, n));
    if (n == 0)
        return CREASE_OK;
    struct kargs a = args_begin(c, K_SGD_UPDATE);
    arg_u64(&a, n);
    arg_buf(&a, w);
    arg_buf(&a, grad);
    arg_buf(&a, momentum != 0.0f ? v : NULL);
    arg_float(&a, lr);
    arg_float(&a, momentum);
    arg_float(&a, weight_decay);
    arg_int(&a, nesterov ? 1 : 0);
    return launch1(&a, op, n);
}

static int op_adam_update(crease_ctx *c, size_t n, crease_buf *w, const crease_buf *grad,
                          crease_buf *m, crease_buf *v, float lr, float beta1, float beta2,
                          float eps, float weight_decay, int decoupled, float bc1, float bc2)
{
    static const char op[] = "adam_update";
    LOST_CHECK(c);
    TRY(check_buf(c, op, "w", w, n));
    TRY(check_buf(c, op, "grad", grad, n));
    TRY(check_buf(c, op, "m", m, n));
    TRY(check_buf(c, op, "v", v, n));
    if (!(bc1 > 0.0f) || !(bc2 > 0.0f))
        return ocl_error(CREASE_EINVAL,
                         "opencl:%d: adam_update: bias corrections bc1 = %g, bc2 = %g must be > 0",
                         c->index, (double)bc1, (double)bc2);
    if (n == 0)
        return CREASE_OK;
    struct kargs a = args_begin(c, K_ADAM_UPDATE);
    arg_u64(&a, n);
    arg_buf(&a, w);
    arg_buf(&a, grad);
    arg_buf(&a, m);
    arg_buf(&a, v);
    arg_float(&a, lr);
    arg_float(&a, beta1);
    arg_float(&a, beta2);
    arg_float(&a, eps);
    arg_float(&a, weight_decay);
    arg_int(&a, decoupled ? 1 : 0);
    arg_float(&a, bc1);
    arg_float(&a, bc2);
    return launch1(&a, op, n);
}

/* ------------------------------------------------------------ fused */

/* y = act(x w^T + bias): CLBlast, then one pass for bias and activation. */
static int op_dense_fwd(crease_ctx *c, int act, float alpha, int m, int n, int k,
                        const crease_buf *x, const crease_buf *w, const crease_buf *bias,
                        crease_buf *y)
{
    static const char op[] = "dense_fwd";
    LOST_CHECK(c);
    TRY(check_act(c, op, act));
    TRY(check_dim(c, op, "m", m));
    TRY(check_dim(c, op, "n", n));
    TRY(check_dim(c, op, "k", k));
    if (m == 0 || n == 0)
        return CREASE_OK;
    TRY(check_buf(c, op, "y", y, (size_t)m * n));
    if (bias)
        TRY(check_buf(c, op, "bias", bias, (size_t)n));
    if (k > 0) {
        TRY(check_buf(c, op, "x", x, (size_t)m * k));
        TRY(check_buf(c, op, "w", w, (size_t)n * k));
        TRY(sgemm(c, op, 0, 1, m, n, k, 1.0f, x, k, w, k, 0.0f, y, n));
    } else {
        TRY(scale_matrix(c, op, m, n, n, 0.0f, y));
    }
    struct kargs a = args_begin(c, K_BIAS_ACT);
    arg_int(&a, m);
    arg_int(&a, n);
    arg_int(&a, act);
    arg_float(&a, alpha);
    arg_buf(&a, y);
    arg_buf(&a, bias);
    return launch_rows_cols(&a, op, m, n);
}

const struct crease_ops ocl_ops = {
    .size = sizeof(struct crease_ops),
    .buf_alloc = op_buf_alloc,
    .buf_free = op_buf_free,
    .buf_write = op_buf_write,
    .buf_read = op_buf_read,
    .buf_copy = op_buf_copy,
    .fill = op_fill,
    .finish = op_finish,
    .gemm = op_gemm,
    .bias_add = op_bias_add,
    .reduce_rows = op_reduce_rows,
    .sum = op_sum,
    .scale = op_scale,
    .axpy = op_axpy,
    .act_fwd = op_act_fwd,
    .act_bwd = op_act_bwd,
    .softmax_xent = op_softmax_xent,
    .bce_logits = op_bce_logits,
    .mse = op_mse,
    .confusion = op_confusion,
    .gather_rows = op_gather_rows,
    .sgd_update = op_sgd_update,
    .adam_update = op_adam_update,
    .dense_fwd = op_dense_fwd,
};
