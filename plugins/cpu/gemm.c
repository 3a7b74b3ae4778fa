/* gemm.c -- cache-blocked, packed, multithreaded SGEMM and dense_fwd.
 *
 * Structure (the usual one for packed GEMM):
 *   C is cut into blocks of at most MB_MAX x NB_MAX; a task owns a block.
 *   For each k block of KC: the task packs its slice of op(A) into MR-row
 *   slivers and of op(B) into NR-column slivers (this is where the four
 *   transpose cases are absorbed, and where edges are zero-padded), then
 *   runs the MR x NR register-tile kernel over every tile of the block.
 *   The kernel always computes a full tile into a small buffer, and one
 *   non-inlined function merges it into C: so an element's arithmetic is
 *   the same wherever its tile lies, and for any cut of C into blocks.
 *
 * When C is too small to give every thread a block but k is long (weight
 * gradients: 32 x 32 x batch), tasks also split k by KC blocks.  Each
 * writes its raw partial product to a workspace, and the partials are
 * merged into C in k order by the same merge function -- bit-identical to
 * the unsplit computation.  KC is therefore part of the numerical result
 * and must never depend on the thread count.
 */
#define _POSIX_C_SOURCE 200809L

#include "cpu.h"

#include <string.h>

/* Vector width from what the compiler targets: GNU vector types compile
 * to SSE/NEON here, and to AVX/AVX-512 when the file is built with those
 * flags.  Other compilers get plain loops. */
#if defined(__GNUC__) && !defined(CPU_NO_VECTOR_TYPES)
#if defined(__AVX512F__)
#define VL 16
#elif defined(__AVX__)
#define VL 8
#else
#define VL 4
#endif
#define HAVE_VEC 1
typedef float vf __attribute__((vector_size(VL * sizeof(float))));
#else
#define VL 4
#define HAVE_VEC 0
#endif

#define MR 6                /* tile rows: 6 x 2 vector accumulators */
#define NR (2 * VL)         /* tile columns */
#define KC 256              /* k block: fixes the summation order */
#define MB_MAX 120          /* block rows, a multiple of MR: A block ~120 KB */
#define NB_MAX 256          /* block columns, a multiple of NR: B block 256 KB */
#define PAR_MIN_WORK 65536.0 /* m*n*k below this runs on the calling thread */
#define KSPLIT_MAX_FLOATS ((size_t)1 << 21) /* bound on k-split partials */

static inline int cdiv(long a, long b)
{
    return (int)((a + b - 1) / b);
}

static inline int imin(int a, int b)
{
    return a < b ? a : b;
}

/* ------------------------------------------------------------ packing */

/* dst holds ceil(mb/MR) slivers; sliver s is kc x MR: dst[s*MR*kc + p*MR + i]
 * = op(A)[i0 + s*MR + i][p0 + p], zero past the last row. */
static void pack_a(int ta, const float *a, size_t lda, int i0, int mb, int p0,
                   int kc, float *restrict dst)
{
    for (int s = 0; s < mb; s += MR) {
        int mr = imin(MR, mb - s);
        float *d = dst + (size_t)s * kc;
        if (!ta) {
            for (int i = 0; i < mr; i++) {
                const float *src = a + (size_t)(i0 + s + i) * lda + p0;
                for (int p = 0; p < kc; p++)
                    d[p * MR + i] = src[p];
            }
        } else {
            for (int p = 0; p < kc; p++) {
                const float *src = a + (size_t)(p0 + p) * lda + i0 + s;
                for (int i = 0; i < mr; i++)
                    d[p * MR + i] = src[i];
            }
        }
        if (mr < MR)
            for (int p = 0; p < kc; p++)
                for (int i = mr; i < MR; i++)
                    d[p * MR + i] = 0.0f;
    }
}

/* dst[t*NR*kc + p*NR + j] = op(B)[p0 + p][j0 + t*NR + j], zero past the
 * last column. */
static void pack_b(int tb, const float *b, size_t ldb, int j0, int nb, int p0,
                   int kc, float *restrict dst)
{
    for (int s = 0; s < nb; s += NR) {
        int nr = imin(NR, nb - s);
        float *d = dst + (size_t)s * kc;
        if (!tb) {
            if (nr == NR) {
                for (int p = 0; p < kc; p++)
                    memcpy(d + p * NR, b + (size_t)(p0 + p) * ldb + j0 + s,
                           NR * sizeof(float));
            } else {
                for (int p = 0; p < kc; p++) {
                    const float *src = b + (size_t)(p0 + p) * ldb + j0 + s;
                    for (int j = 0; j < nr; j++)
                        d[p * NR + j] = src[j];
                    for (int j = nr; j < NR; j++)
                        d[p * NR + j] = 0.0f;
                }
            }
        } else {
            for (int j = 0; j < nr; j++) {
                const float *src = b + (size_t)(j0 + s + j) * ldb + p0;
                for (int p = 0; p < kc; p++)
                    d[p * NR + j] = src[p];
            }
            for (int p = 0; p < kc && nr < NR; p++)
                for (int j = nr; j < NR; j++)
                    d[p * NR + j] = 0.0f;
        }
    }
}

/* ------------------------------------------------------------ kernel */

/* What the kernel does with its sums s[i][j] = sum_p a[p*MR + i] b[p*NR + j]
 * (p ascending): store them in a tile for merge(), or -- the common case of
 * a whole tile with alpha == 1 and nothing else to apply -- set or add them
 * straight into C, which is exactly what merge() would compute (1 * s is s)
 * without the round trip through memory. */
enum { K_TILE, K_SET, K_ADD };

#if HAVE_VEC
static inline void put(float *t, vf v, int mode)
{
    if (mode == K_ADD) {
        vf c;
        memcpy(&c, t, sizeof c);
        v = c + v;
    }
    memcpy(t, &v, sizeof v);
}

static void kernel(int kc, const float *restrict a, const float *restrict b,
                   float *restrict t, size_t ldt, int mode)
{
    vf z;
    memset(&z, 0, sizeof z);
    vf c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z;
    vf c30 = z, c31 = z, c40 = z, c41 = z, c50 = z, c51 = z;
    for (int p = 0; p < kc; p++) {
        vf b0, b1;
        memcpy(&b0, b, sizeof b0);
        memcpy(&b1, b + VL, sizeof b1);
        float a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3], a4 = a[4], a5 = a[5];
        c00 += b0 * a0;
        c01 += b1 * a0;
        c10 += b0 * a1;
        c11 += b1 * a1;
        c20 += b0 * a2;
        c21 += b1 * a2;
        c30 += b0 * a3;
        c31 += b1 * a3;
        c40 += b0 * a4;
        c41 += b1 * a4;
        c50 += b0 * a5;
        c51 += b1 * a5;
        a += MR;
        b += NR;
    }
#define PUT(i, v0, v1)                          \
    do {                                        \
        put(t + (i) * ldt, v0, mode);           \
        put(t + (i) * ldt + VL, v1, mode);      \
    } while (0)
    PUT(0, c00, c01);
    PUT(1, c10, c11);
    PUT(2, c20, c21);
    PUT(3, c30, c31);
    PUT(4, c40, c41);
    PUT(5, c50, c51);
#undef PUT
}
#else
static void kernel(int kc, const float *restrict a, const float *restrict b,
                   float *restrict t, size_t ldt, int mode)
{
    float acc[MR * NR];
    for (int i = 0; i < MR * NR; i++)
        acc[i] = 0.0f;
    for (int p = 0; p < kc; p++, a += MR, b += NR)
        for (int i = 0; i < MR; i++)
            for (int j = 0; j < NR; j++)
                acc[i * NR + j] += a[i] * b[j];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++)
            t[i * ldt + j] = mode == K_ADD ? t[i * ldt + j] + acc[i * NR + j] : acc[i * NR + j];
}
#endif

/* ------------------------------------------------------------ merge */

/* Merges a raw product tile t (mr x nr, row stride ldt) into C:
 *   first k block: C = alpha t + beta C  (C not read when beta == 0)
 *   later blocks:  C = C + alpha t
 * then, after the last block, C = act(C + bias).  Never inlined, so the
 * direct path and the k-split merge run the very same instructions. */
static CPU_NOINLINE void merge(float *restrict c, size_t ldc,
                               const float *restrict t, size_t ldt, int mr,
                               int nr, float alpha, float beta, int first,
                               const struct cpu_post *post, int j0)
{
    for (int i = 0; i < mr; i++) {
        float *ci = c + (size_t)i * ldc;
        const float *ti = t + (size_t)i * ldt;
        if (!first)
            for (int j = 0; j < nr; j++)
                ci[j] = ci[j] + alpha * ti[j];
        else if (beta == 0.0f)
            for (int j = 0; j < nr; j++)
                ci[j] = alpha * ti[j];
        else
            for (int j = 0; j < nr; j++)
                ci[j] = beta * ci[j] + alpha * ti[j];
        if (post) {
            if (post->bias)
                for (int j = 0; j < nr; j++)
                    ci[j] = ci[j] + post->bias[j0 + j];
            if (post->act != CREASE_ACT_IDENTITY)
                for (int j = 0; j < nr; j++)
                    ci[j] = cpu_act1(post->act, post->alpha, ci[j]);
        }
    }
}

/* ------------------------------------------------------------ driver */

struct gjob {
    int ta, tb, m, n, k;
    float alpha, beta;
    const float *a, *b;
    size_t lda, ldb;
    float *c;
    size_t ldc;
    const struct cpu_post *post;
    int mb, nb;         /* block size */
    int nmb, nnb, nkc;  /* block counts */
    float *part;        /* k-split: nkc raw m x n partials, else NULL */
    struct cpu_tws *tws;
};

static void do_block(const struct gjob *g, int tid, int ib, int jb, int pcb)
{
    int i0 = ib * g->mb, mb = imin(g->mb, g->m - i0);
    int j0 = jb * g->nb, nb = imin(g->nb, g->n - j0);
    int p0 = pcb * KC, kc = imin(KC, g->k - p0);
    float *ap = g->tws[tid].apack, *bp = g->tws[tid].bpack;
    int first = pcb == 0;
    const struct cpu_post *post = pcb == g->nkc - 1 ? g->post : NULL;
    int direct = !g->part && g->alpha == 1.0f && !post && (!first || g->beta == 0.0f);

    pack_a(g->ta, g->a, g->lda, i0, mb, p0, kc, ap);
    pack_b(g->tb, g->b, g->ldb, j0, nb, p0, kc, bp);
    /* jr outside: the B sliver (kc x NR) stays in L1 while A slivers of the
     * block stream from L2 */
    for (int jr = 0; jr < nb; jr += NR) {
        int nr = imin(NR, nb - jr);
        for (int ir = 0; ir < mb; ir += MR) {
            int mr = imin(MR, mb - ir);
            const float *as = ap + (size_t)ir * kc, *bs = bp + (size_t)jr * kc;
            float *cs = g->c + (size_t)(i0 + ir) * g->ldc + j0 + jr;
            if (direct && mr == MR && nr == NR) {
                kernel(kc, as, bs, cs, g->ldc, first ? K_SET : K_ADD);
                continue;
            }
            float tile[MR * NR];
            kernel(kc, as, bs, tile, NR, K_TILE);
            if (g->part) {
                float *d = g->part + ((size_t)pcb * g->m + i0 + ir) * g->n + j0 + jr;
                for (int i = 0; i < mr; i++)
                    memcpy(d + (size_t)i * g->n, tile + i * NR, (size_t)nr * sizeof(float));
            } else {
                merge(cs, g->ldc, tile, NR, mr, nr, g->alpha, g->beta, first, post, j0 + jr);
            }
        }
    }
}

static void task_mn(void *v, int t, int tid)
{
    const struct gjob *g = v;
    int ib = t % g->nmb, jb = t / g->nmb;
    for (int pcb = 0; pcb < g->nkc; pcb++)
        do_block(g, tid, ib, jb, pcb);
}

static void task_ksplit(void *v, int t, int tid)
{
    const struct gjob *g = v;
    int nmn = g->nmb * g->nnb;
    int r = t % nmn;
    do_block(g, tid, r % g->nmb, r / g->nmb, t / nmn);
}

static int ensure_pack(crease_ctx *c)
{
    if (c->tws[0].apack)
        return 0;
    for (int i = 0; i < c->nthreads; i++) {
        float *a = cpu_alloc((size_t)MB_MAX * KC * sizeof(float), "gemm packing");
        float *b = a ? cpu_alloc((size_t)KC * NB_MAX * sizeof(float), "gemm packing") : NULL;
        if (!b) {
            cpu_free(a);
            for (int j = 0; j < i; j++) {
                cpu_free(c->tws[j].apack);
                cpu_free(c->tws[j].bpack);
                c->tws[j].apack = c->tws[j].bpack = NULL;
            }
            return CREASE_ENOMEM;
        }
        c->tws[i].apack = a;
        c->tws[i].bpack = b;
    }
    return 0;
}

int cpu_gemm(crease_ctx *c, int ta, int tb, int m, int n, int k, float alpha,
             const float *a, size_t lda, const float *b, size_t ldb, float beta,
             float *cm, size_t ldc, const struct cpu_post *post)
{
    if (m == 0 || n == 0)
        return 0;
    if (k == 0 || alpha == 0.0f) {
        /* C = beta C: A and B are not read */
        for (int i = 0; i < m; i++) {
            float *ci = cm + (size_t)i * ldc;
            for (int j = 0; j < n; j++)
                ci[j] = beta == 0.0f ? 0.0f : beta * ci[j];
            if (post)
                for (int j = 0; j < n; j++)
                    ci[j] = cpu_act1(post->act, post->alpha,
                                     post->bias ? ci[j] + post->bias[j] : ci[j]);
        }
        return 0;
    }
    int rc = ensure_pack(c);
    if (rc)
        return rc;

    struct gjob g = {
        .ta = ta, .tb = tb, .m = m, .n = n, .k = k, .alpha = alpha, .beta = beta,
        .a = a, .b = b, .lda = lda, .ldb = ldb, .c = cm, .ldc = ldc, .post = post,
        .tws = c->tws,
    };
    g.nkc = cdiv(k, KC);
    int nmb = cdiv(m, MB_MAX), nnb = cdiv(n, NB_MAX);
    int nt = c->nthreads;
    int par = nt > 1 && (double)m * n * k >= PAR_MIN_WORK;
    int ksplit = 0;
    if (par) {
        long target = 3L * nt; /* a few tasks per thread for balance */
        if ((long)nmb * nnb < target && g.nkc >= 2 &&
            (size_t)m * n * (size_t)g.nkc <= KSPLIT_MAX_FLOATS) {
            ksplit = 1;
        } else if ((long)nmb * nnb < target) {
            /* finer blocks, but not so small that packing dominates */
            int want = cdiv(target, nnb);
            int lim = cdiv(m, 4 * MR);
            if (want > nmb)
                nmb = imin(want, lim) > nmb ? imin(want, lim) : nmb;
            if ((long)nmb * nnb < target) {
                want = cdiv(target, nmb);
                lim = cdiv(n, 4 * NR);
                if (want > nnb)
                    nnb = imin(want, lim) > nnb ? imin(want, lim) : nnb;
            }
        }
    }
    /* even blocks, whole tiles */
    g.mb = cdiv(cdiv(m, nmb), MR) * MR;
    g.nmb = cdiv(m, g.mb);
    g.nb = cdiv(cdiv(n, nnb), NR) * NR;
    g.nnb = cdiv(n, g.nb);

    if (ksplit) {
        void *ws;
        rc = cpu_scratch(c, (size_t)m * n * (size_t)g.nkc * sizeof(float), &ws);
        if (rc)
            return rc;
        g.part = ws;
        cpu_pool_run(c->pool, task_ksplit, &g, g.nmb * g.nnb * g.nkc);
        for (int pcb = 0; pcb < g.nkc; pcb++)
            merge(cm, ldc, g.part + (size_t)pcb * m * n, (size_t)n, m, n, alpha, beta,
                  pcb == 0, pcb == g.nkc - 1 ? post : NULL, 0);
        return 0;
    }
    int ntasks = g.nmb * g.nnb;
    if (par)
        cpu_pool_run(c->pool, task_mn, &g, ntasks);
    else
        for (int t = 0; t < ntasks; t++)
            task_mn(&g, t, 0);
    return 0;
}

/* ------------------------------------------------------------ ops */

/* elements spanned by a rows x cols matrix with row stride ld */
static size_t extent(int rows, int cols, int ld)
{
    if (rows == 0 || cols == 0)
        return 0;
    return (size_t)(rows - 1) * (size_t)ld + (size_t)cols;
}

int cpu_op_gemm(crease_ctx *c, int ta, int tb, int m, int n, int k, float alpha,
                const crease_buf *a, int lda, const crease_buf *b, int ldb,
                float beta, crease_buf *cm, int ldc)
{
    static const char *op = "gemm";
    if (!c)
        return cpu_error(CREASE_EINVAL, "cpu gemm: context is NULL");
    if ((ta != 0 && ta != 1) || (tb != 0 && tb != 1))
        return cpu_error(CREASE_EINVAL, "cpu gemm: ta = %d, tb = %d (want 0 or 1)", ta, tb);
    int rc;
    if ((rc = cpu_check_dim(op, "m", m)) || (rc = cpu_check_dim(op, "n", n)) ||
        (rc = cpu_check_dim(op, "k", k)))
        return rc;
    int acols = ta ? m : k, bcols = tb ? k : n;
    if (lda < (acols > 1 ? acols : 1) || ldb < (bcols > 1 ? bcols : 1) ||
        ldc < (n > 1 ? n : 1))
        return cpu_error(CREASE_EINVAL,
                         "cpu gemm: leading dimensions lda=%d ldb=%d ldc=%d too small for "
                         "ta=%d tb=%d m=%d n=%d k=%d",
                         lda, ldb, ldc, ta, tb, m, n, k);
    if ((rc = cpu_check_buf(op, "C", cm, extent(m, n, ldc))))
        return rc;
    if (m > 0 && n > 0 && k > 0 && alpha != 0.0f) {
        if ((rc = cpu_check_buf(op, "A", a, extent(ta ? k : m, acols, lda))) ||
            (rc = cpu_check_buf(op, "B", b, extent(tb ? n : k, bcols, ldb))))
            return rc;
    }
    return cpu_gemm(c, ta, tb, m, n, k, alpha, a ? cpu_f(a) : NULL, (size_t)lda,
                    b ? cpu_f(b) : NULL, (size_t)ldb, beta, cpu_f(cm), (size_t)ldc, NULL);
}

int cpu_op_dense_fwd(crease_ctx *c, int act, float alpha, int m, int n, int k,
                     const crease_buf *x, const crease_buf *w,
                     const crease_buf *bias, crease_buf *y)
{
    static const char *op = "dense_fwd";
    if (!c)
        return cpu_error(CREASE_EINVAL, "cpu dense_fwd: context is NULL");
    int rc;
    if ((rc = cpu_check_act(op, act, alpha)))
        return rc;
    if ((rc = cpu_check_dim(op, "m", m)) || (rc = cpu_check_dim(op, "n", n)) ||
        (rc = cpu_check_dim(op, "k", k)))
        return rc;
    if ((rc = cpu_check_buf(op, "y", y, (size_t)m * n)) ||
        (bias && (rc = cpu_check_buf(op, "bias", bias, (size_t)n))))
        return rc;
    if (m > 0 && n > 0 && k > 0 &&
        ((rc = cpu_check_buf(op, "x", x, (size_t)m * k)) ||
         (rc = cpu_check_buf(op, "w", w, (size_t)n * k))))
        return rc;
    struct cpu_post post = {bias ? cpu_f(bias) : NULL, act, alpha};
    /* y = x w^T: op(B) = w^T, so tb = 1 with ldb = k */
    return cpu_gemm(c, 0, 1, m, n, k, 1.0f, x ? cpu_f(x) : NULL, (size_t)(k > 0 ? k : 1),
                    w ? cpu_f(w) : NULL, (size_t)(k > 0 ? k : 1), 0.0f, cpu_f(y),
                    (size_t)(n > 0 ? n : 1), &post);
}
