/* gemm.c -- packed, cache-blocked, multithreaded SGEMM and dense_fwd.
 *
 * Compiled once per variant (simd.h picks the vectors).  The structure is
 * GotoBLAS/BLIS's, in row-major terms:
 *
 *   for each panel of NC columns of C
 *     for each block of kc values of k
 *       pack the kc x NC panel of op(B) into slivers of NR columns (once,
 *         shared by every thread)
 *       in parallel over blocks of rows of C:
 *         for each sliver of rows (A sliver: rows x kc, stays in L1)
 *           for each B sliver (kc x NR, streams from L2)
 *             micro-kernel: rows x NR register tile, NR = NV vectors
 *
 * The micro-kernel broadcasts one element of op(A) per row and multiplies
 * it into NV vectors of op(B) (fused multiply-add where the ISA has it).
 * It reads op(A) through two strides, so skinny problems need no packing:
 *   - packed A, or A transposed (ta = 1, e.g. weight gradients dY^T X):
 *     element (i, p) at a[p * a_ps + i];
 *   - A as stored (ta = 0, batch x features):  a[i * a_is + p], a few row
 *     pointers (MRD rows per tile).
 * op(B) is read from packed slivers, or straight from B when it is not
 * transposed and its rows are short (MLP layers).  Two more paths serve
 * products with at most 4 columns, where a tile would waste most of its
 * vector lanes: x W^T with few outputs is a row of dot products along k
 * (gemm_dot), and dY^T X with few inputs is computed transposed, its
 * vectors along m (the "swapped" path).  Which path and form is used
 * depends on the shape only.
 *
 * Numerics.  The sums of one k block (kc fixed by the shape: never by the
 * thread count) are accumulated in registers in p order (a tile of one or
 * two rows keeps even and odd p apart and adds the two at the end); C is
 * then
 *   first block:  C = alpha s + beta C      (C not read when beta == 0)
 *   later blocks: C = C + alpha s
 * and after the last block C = act(C + bias) (dense_fwd).  The grid of
 * tiles is fixed by the shape, tasks are whole tiles, and the epilogue is
 * the same code for a tile stored by a kernel and for a merge of partials,
 * so the result does not depend on how C is cut into tasks.  When C is too
 * small to keep the threads busy but k is long (weight gradients: 32 x 32
 * x batch), the k blocks are computed in parallel into separate partials
 * and merged into C in k order by the same epilogue -- bit-identical to the
 * serial loop.  So the same call gives the same bits for any number of
 * threads (the op sweep checks 1 against 3).
 */
#define _POSIX_C_SOURCE 200809L

#include "cpu.h"
#include "simd.h"
#include "vmath.h"

#include <stddef.h>
#include <string.h>

/* ------------------------------------------------------------ tuning */

/* NV vectors per tile row, MR rows per packed/transposed-A tile, MRD rows
 * per tile read straight from row-major A; KC the k block, NC the panel
 * width.  Zen 4 (32 KB L1d, 1 MB L2 per core, 32 MB L3): an A sliver of
 * MR x KC floats (24 KB) stays in L1 while the B slivers of a KC x NC
 * panel stream past it from L2/L3.  KC = 512, NC = 1024 measured best for
 * squares from 512 to 2048 (against 256/384 and 512/768/1536/2048, and
 * MR 8/10/14); the MLP shapes do not care (their k is one block). */
#if V_LEN == 16 /* AVX-512: 32 registers */
#define NV 2
#define MR_DEF 12
#define MRD_DEF 8
#define KC_DEF 512
#define NC_DEF 1024
#elif V_LEN == 8 /* AVX2: 16 registers */
#define NV 2
#define MR_DEF 6
#define MRD_DEF 6
#define KC_DEF 512
#define NC_DEF 1024
#elif V_LEN == 4 && defined(CPU_VARIANT_NEON) /* AArch64: 32 registers */
#define NV 2
#define MR_DEF 12
#define MRD_DEF 8
#define KC_DEF 256
#define NC_DEF 512
#elif V_LEN == 4 /* SSE2 through GNU vectors: 16 registers */
#define NV 2
#define MR_DEF 6
#define MRD_DEF 6
#define KC_DEF 256
#define NC_DEF 512
#else /* plain C */
#define NV 4
#define MR_DEF 4
#define MRD_DEF 4
#define KC_DEF 256
#define NC_DEF 512
#endif

/* overridable for tuning experiments (-DCPU_GEMM_MR=...) */
#ifndef CPU_GEMM_MR
#define CPU_GEMM_MR MR_DEF
#endif
#ifndef CPU_GEMM_MRD
#define CPU_GEMM_MRD MRD_DEF
#endif
#ifndef CPU_GEMM_KC
#define CPU_GEMM_KC KC_DEF
#endif
#ifndef CPU_GEMM_NC
#define CPU_GEMM_NC NC_DEF
#endif
#define MR CPU_GEMM_MR
#define MRD CPU_GEMM_MRD
#define KC CPU_GEMM_KC
#define NC CPU_GEMM_NC
#define NR (NV * V_LEN)
#define MRMAX (MR > MRD ? MR : MRD)

#if NC % NR != 0
#error "NC must be a multiple of NR"
#endif

/* Below this many multiply-adds a GEMM runs on the calling thread: waking
 * the pool costs more than it saves. */
#define PAR_MIN_WORK 131072.0
/* C of at most KSMALL_MN elements uses k blocks of KSMALL_KC. */
#define KSMALL_MN 4096
#define KSMALL_KC 128
/* Bound on the k-split partials (floats). */
#define KSPLIT_MAX_FLOATS ((size_t)1 << 21)
/* op(A) and op(B) are read in place when their rows are at most this many
 * floats long (short rows: no TLB or cache-set trouble from the strides). */
#define DIRECT_LD 128

#define UNROLL _Pragma("GCC unroll 16")

static inline int cdiv(long a, long b)
{
    return (int)((a + b - 1) / b);
}

static inline int imin(int a, int b)
{
    return a < b ? a : b;
}

/* ------------------------------------------------------------ epilogue */

/* What happens to the sums s of one k block (see the top of the file).
 * E_SET and E_ADD are E_GEN's formula for alpha == 1 (and beta == 0 on the
 * first block), written out so the kernels' stores need no tests. */
enum { E_RAW, E_SET, E_ADD, E_GEN };

struct epi {
    int mode;          /* E_RAW: the bare sums (k-split partials) */
    float alpha, beta;
    int first;         /* first k block: C = alpha s + beta C, else C + alpha s */
    const float *bias; /* last block only: per column of C, or NULL */
    int act;           /* last block only: activation, else identity */
    float act_alpha;
};

static void epi_init(struct epi *e, float alpha, float beta, int first,
                     const struct cpu_post *post)
{
    e->mode = alpha != 1.0f ? E_GEN : !first ? E_ADD : beta == 0.0f ? E_SET : E_GEN;
    e->alpha = alpha;
    e->beta = beta;
    e->first = first;
    e->bias = post ? post->bias : NULL;
    e->act = post ? post->act : CREASE_ACT_IDENTITY;
    e->act_alpha = post ? post->alpha : 0.0f;
}

/* The linear part for one vector of w <= V_LEN columns at c. */
V_INLINE vf epi_lin(const struct epi *e, vf s, const float *c, int w)
{
    vf t = e->alpha == 1.0f ? s : v_mul(v_set1(e->alpha), s);
    if (!e->first) {
        t = v_add(v_loadp(c, w), t);
    } else if (e->beta != 0.0f) {
        vf cv = v_loadp(c, w);
        t = e->beta == 1.0f ? v_add(cv, t) : v_fma(v_set1(e->beta), cv, t);
    }
    return t;
}

/* the cheap activations, inline in the kernels */
V_INLINE vf act_cheap(int act, float alpha, vf t)
{
    if (act == CREASE_ACT_RELU)
        return v_sel(v_lt(t, v_zero()), v_zero(), t);
    if (act == CREASE_ACT_LEAKY_RELU)
        return v_sel(v_gt(t, v_zero()), t, v_mul(v_set1(alpha), t));
    return t;
}

static inline int act_is_cheap(int act)
{
    return act == CREASE_ACT_IDENTITY || act == CREASE_ACT_RELU ||
           act == CREASE_ACT_LEAKY_RELU;
}

/* tanh and sigmoid, applied in place after the linear part is stored */
static CPU_NOINLINE void act_rows(float *c, size_t ldc, int rows, int cols, int act,
                                  float alpha)
{
    for (int i = 0; i < rows; i++) {
        float *ci = c + (size_t)i * ldc;
        for (int j = 0; j < cols; j += V_LEN) {
            int w = imin(V_LEN, cols - j);
            v_storep(ci + j, v_act(act, alpha, v_loadp(ci + j, w)), w);
        }
    }
}

/* C (rows x cols, ldc) from the bare sums s (lds), any mode: the same
 * arithmetic as the kernels' stores, for the k-split merge and the
 * kernels' general case */
static CPU_NOINLINE void epi_rows(const struct epi *e, const float *bias, float *c, size_t ldc,
                                  const float *s, size_t lds, int rows, int cols)
{
    for (int i = 0; i < rows; i++) {
        float *ci = c + (size_t)i * ldc;
        const float *si = s + (size_t)i * lds;
        for (int j = 0; j < cols; j += V_LEN) {
            int w = imin(V_LEN, cols - j);
            vf t = v_loadp(si + j, w);
            if (e->mode != E_RAW) {
                t = epi_lin(e, t, ci + j, w);
                if (bias)
                    t = v_add(t, v_loadp(bias + j, w));
                t = act_cheap(e->act, e->act_alpha, t);
            }
            v_storep(ci + j, t, w);
        }
    }
    if (e->mode != E_RAW && !act_is_cheap(e->act))
        act_rows(c, ldc, rows, cols, e->act, e->act_alpha);
}

/* ------------------------------------------------------------ micro-kernel */

struct kargs {
    int kc, nr;         /* k length; valid columns of the tile (<= nv * V_LEN) */
    int ntiles;         /* tiles of R rows, one below the other */
    const float *a;
    ptrdiff_t a_ps;     /* A(i, p) = a[p * a_ps + i]         (strided == 0) */
    ptrdiff_t a_is;     /* A(i, p) = a[i * a_is + p]         (strided == 1) */
    ptrdiff_t a_ts;     /* from one tile's A to the next's */
    const float *b;
    ptrdiff_t b_ps;     /* B(p, j) = b[p * b_ps + j], j < nv * V_LEN readable */
    float *c;           /* first tile; the next is R rows down */
    ptrdiff_t ldc;
    const struct epi *e;
    const float *bias;  /* bias of the tiles' first column, or NULL */
};

/* One tile's stores in mode M (constant after inlining). */
#define KSTORE(M)                                                                  \
    UNROLL for (int i = 0; i < R; i++)                                             \
        UNROLL for (int v = 0; v < nv; v++) {                                      \
            int col = v * V_LEN;                                                   \
            if (col < nr) {                                                        \
                int w = nr - col;                                                  \
                float *cp = c + i * ldc + col;                                     \
                vf t = acc[i][v];                                                  \
                if (M == E_ADD)                                                    \
                    t = v_add(v_loadp(cp, w), t);                                  \
                if (M != E_RAW) {                                                  \
                    if (bias)                                                      \
                        t = v_add(t, v_loadp(bias + col, w));                      \
                    t = act_cheap(act, aa, t);                                     \
                }                                                                  \
                v_storep(cp, t, w);                                                \
            }                                                                      \
        }

/* ntiles tiles of R rows x nv vectors; R and nv are constants after
 * inlining, so the accumulators live in registers. */
V_INLINE void kbody(const int R, const int nv, const int strided, const struct kargs *k)
{
    const struct epi *e = k->e;
    const int nr = k->nr, kc = k->kc, mode = e->mode, act = e->act;
    const float aa = e->act_alpha;
    const float *bias = k->bias;
    const ptrdiff_t ldc = k->ldc, bps = k->b_ps;
    const float *at = k->a;
    float *c = k->c;
    for (int tile = 0; tile < k->ntiles; tile++, at += k->a_ts, c += R * ldc) {
        vf acc[MRMAX][NV];
        UNROLL for (int i = 0; i < R; i++)
            UNROLL for (int v = 0; v < nv; v++)
                acc[i][v] = v_zero();
        const float *b = k->b;
        if (R <= 2) {
            /* one or two rows: too few accumulators to hide the FMA
             * latency, so even and odd p go to separate ones (a fixed
             * order: the result still depends on the shape only) */
            vf acc2[2][NV];
            UNROLL for (int i = 0; i < R; i++)
                UNROLL for (int v = 0; v < nv; v++)
                    acc2[i][v] = v_zero();
            const ptrdiff_t aps = strided ? 1 : k->a_ps, ais = strided ? k->a_is : 1;
            const float *a = at;
            int p = 0;
            for (; p + 1 < kc; p += 2) {
                vf b0[NV], b1[NV];
                UNROLL for (int v = 0; v < nv; v++) {
                    b0[v] = v_load(b + v * V_LEN);
                    b1[v] = v_load(b + bps + v * V_LEN);
                }
                UNROLL for (int i = 0; i < R; i++) {
                    vf a0 = v_set1(a[i * ais]), a1 = v_set1(a[i * ais + aps]);
                    UNROLL for (int v = 0; v < nv; v++) {
                        acc[i][v] = v_fma(a0, b0[v], acc[i][v]);
                        acc2[i][v] = v_fma(a1, b1[v], acc2[i][v]);
                    }
                }
                a += 2 * aps;
                b += 2 * bps;
            }
            if (p < kc) {
                UNROLL for (int i = 0; i < R; i++) {
                    vf a0 = v_set1(a[i * ais]);
                    UNROLL for (int v = 0; v < nv; v++)
                        acc[i][v] = v_fma(a0, v_load(b + v * V_LEN), acc[i][v]);
                }
            }
            UNROLL for (int i = 0; i < R; i++)
                UNROLL for (int v = 0; v < nv; v++)
                    acc[i][v] = v_add(acc[i][v], acc2[i][v]);
        } else if (!strided) {
            const float *a = at;
            const ptrdiff_t aps = k->a_ps;
            for (int p = 0; p < kc; p++) {
                vf bv[NV];
                UNROLL for (int v = 0; v < nv; v++)
                    bv[v] = v_load(b + v * V_LEN);
                UNROLL for (int i = 0; i < R; i++) {
                    vf ai = v_set1(a[i]);
                    UNROLL for (int v = 0; v < nv; v++)
                        acc[i][v] = v_fma(ai, bv[v], acc[i][v]);
                }
                a += aps;
                b += bps;
            }
        } else {
            const float *ar[MRMAX];
            UNROLL for (int i = 0; i < R; i++)
                ar[i] = at + i * k->a_is;
            for (int p = 0; p < kc; p++) {
                vf bv[NV];
                UNROLL for (int v = 0; v < nv; v++)
                    bv[v] = v_load(b + v * V_LEN);
                UNROLL for (int i = 0; i < R; i++) {
                    vf ai = v_set1(ar[i][p]);
                    UNROLL for (int v = 0; v < nv; v++)
                        acc[i][v] = v_fma(ai, bv[v], acc[i][v]);
                }
                b += bps;
            }
        }

        if (mode == E_SET) {
            KSTORE(E_SET)
        } else if (mode == E_ADD) {
            KSTORE(E_ADD)
        } else if (mode == E_RAW) {
            KSTORE(E_RAW)
        } else {
            /* alpha != 1 or beta != 0: rare, through a tile in memory */
            float t[MRMAX * NR];
            UNROLL for (int i = 0; i < R; i++)
                UNROLL for (int v = 0; v < nv; v++)
                    v_store(t + i * NR + v * V_LEN, acc[i][v]);
            epi_rows(e, bias, c, (size_t)ldc, t, NR, R, nr);
            continue;
        }
        if (mode != E_RAW && !act_is_cheap(act))
            act_rows(c, (size_t)ldc, R, nr, act, aa);
    }
}
#undef KSTORE
typedef void (*kern_fn)(const struct kargs *k);

/* Kernels for every tile height: packed/transposed A up to MR rows (k1),
 * A as stored up to MRD rows (k2); "n": one vector of columns. */
#define KDEF1(R)                                                                     \
    static void k1_##R(const struct kargs *k) { kbody(R, NV, 0, k); }               \
    static void k1n_##R(const struct kargs *k) { kbody(R, 1, 0, k); }
#define KDEF2(R)                                                                     \
    static void k2_##R(const struct kargs *k) { kbody(R, NV, 1, k); }               \
    static void k2n_##R(const struct kargs *k) { kbody(R, 1, 1, k); }

#if MR > 14 || MRD > 14 || MR % 2 || MRD % 2
#error "tiles of up to 14 rows, an even number, are instantiated"
#endif
#define KPAIR(D, R1, R2) D(R1) D(R2)
KPAIR(KDEF1, 1, 2)
KPAIR(KDEF1, 3, 4)
KPAIR(KDEF2, 1, 2)
KPAIR(KDEF2, 3, 4)
#if MR > 4
KPAIR(KDEF1, 5, 6)
#define K1_6(s) k1##s##_5, k1##s##_6,
#else
#define K1_6(s)
#endif
#if MR > 6
KPAIR(KDEF1, 7, 8)
#define K1_8(s) k1##s##_7, k1##s##_8,
#else
#define K1_8(s)
#endif
#if MR > 8
KPAIR(KDEF1, 9, 10)
#define K1_10(s) k1##s##_9, k1##s##_10,
#else
#define K1_10(s)
#endif
#if MR > 10
KPAIR(KDEF1, 11, 12)
#define K1_12(s) k1##s##_11, k1##s##_12,
#else
#define K1_12(s)
#endif
#if MR > 12
KPAIR(KDEF1, 13, 14)
#define K1_14(s) k1##s##_13, k1##s##_14,
#else
#define K1_14(s)
#endif
#if MRD > 4
KPAIR(KDEF2, 5, 6)
#define K2_6(s) k2##s##_5, k2##s##_6,
#else
#define K2_6(s)
#endif
#if MRD > 6
KPAIR(KDEF2, 7, 8)
#define K2_8(s) k2##s##_7, k2##s##_8,
#else
#define K2_8(s)
#endif
#if MRD > 8
KPAIR(KDEF2, 9, 10)
#define K2_10(s) k2##s##_9, k2##s##_10,
#else
#define K2_10(s)
#endif
#if MRD > 10
KPAIR(KDEF2, 11, 12)
#define K2_12(s) k2##s##_11, k2##s##_12,
#else
#define K2_12(s)
#endif
#if MRD > 12
KPAIR(KDEF2, 13, 14)
#define K2_14(s) k2##s##_13, k2##s##_14,
#else
#define K2_14(s)
#endif
#define K1ROW(s) {NULL, k1##s##_1, k1##s##_2, k1##s##_3, k1##s##_4, K1_6(s) K1_8(s) K1_10(s) K1_12(s) K1_14(s)}
#define K2ROW(s) {NULL, k2##s##_1, k2##s##_2, k2##s##_3, k2##s##_4, K2_6(s) K2_8(s) K2_10(s) K2_12(s) K2_14(s)}

/* [strided][narrow][rows]; rows above MR (MRD) are never asked for */
static const kern_fn ktab[2][2][MRMAX + 1] = {
    {K1ROW(), K1ROW(n)},
    {K2ROW(), K2ROW(n)},
};

/* ------------------------------------------------------------ packing */

/* A sliver, rows [i0, i0 + mr) x k [p0, p0 + kc): dst[p * mr + i] */
static void pack_a(int ta, const float *a, size_t lda, int i0, int mr, int p0, int kc,
                   float *restrict dst)
{
    if (!ta) {
        for (int i = 0; i < mr; i++) {
            const float *src = a + (size_t)(i0 + i) * lda + p0;
            for (int p = 0; p < kc; p++)
                dst[p * mr + i] = src[p];
        }
    } else {
        for (int p = 0; p < kc; p++)
            memcpy(dst + p * mr, a + (size_t)(p0 + p) * lda + i0, (size_t)mr * sizeof(float));
    }
}

/* B sliver, columns [j0, j0 + nr) x k [p0, p0 + kc): dst[p * NR + j], zero
 * past nr (the kernel reads whole vectors) */
static void pack_b(int tb, const float *b, size_t ldb, int j0, int nr, int p0, int kc,
                   float *restrict dst)
{
    if (!tb) {
        for (int p = 0; p < kc; p++) {
            const float *src = b + (size_t)(p0 + p) * ldb + j0;
            float *d = dst + (size_t)p * NR;
            for (int j = 0; j < NR; j += V_LEN) {
                if (j + V_LEN <= nr)
                    v_store(d + j, v_load(src + j));
                else if (j < nr)
                    v_store(d + j, v_load_n(src + j, nr - j));
                else
                    v_store(d + j, v_zero());
            }
        }
    } else {
        for (int j = 0; j < nr; j++) {
            const float *src = b + (size_t)(j0 + j) * ldb + p0;
            for (int p = 0; p < kc; p++)
                dst[(size_t)p * NR + j] = src[p];
        }
        if (nr < NR)
            for (int p = 0; p < kc; p++)
                for (int j = nr; j < NR; j++)
                    dst[(size_t)p * NR + j] = 0.0f;
    }
}

/* ------------------------------------------------------------ driver */

enum { A_PACK, A_COLS, A_ROWS }; /* packed; a_ps = lda (ta = 1); rows (ta = 0) */

struct gjob {
    int ta, tb, m, n, k;
    const float *a, *b;
    size_t lda, ldb;
    float *c;
    size_t ldc;
    float alpha, beta;
    const struct cpu_post *post;
    int amode;      /* A_PACK, A_COLS or A_ROWS */
    int rs;         /* rows per A sliver: MR, or MRD for A_ROWS */
    int bdirect;    /* op(B) read in place (full slivers) */
    int kcb;        /* k block */
    struct cpu_tws *tws;
    /* current panel and k block */
    int jc, nc, pc, kc;
    const float *bpanel; /* packed panel, or NULL */
    struct epi e;
    /* tasks: row blocks x column blocks of the panel */
    int mb;               /* k-split: rows per task (all of them) */
    int nmb, nnb;         /* tasks: blocks of rows x blocks of columns */
    int msl, nsl;         /* row slivers of C, column slivers of the panel */
    /* k-split */
    int nq;
    float *part; /* nq raw m x n partials */
};

/* Runs every tile of C rows [i0, i1) x columns [j0, j1) (j0 - g->jc a
 * multiple of NR) for k block [pc, pc + kc); out/ldo: where the tiles go. */
/* Points ka at the B sliver of columns [jr, jr + nr) for k block pc: the
 * packed panel, B itself, or (the ragged last sliver of an unpacked B) a
 * copy in bedge, packed when `fresh`. */
static inline void b_sliver(const struct gjob *g, struct kargs *ka, const float *bpanel,
                            float *bedge, int jr, int nr, int pc, int kc, int fresh)
{
    int narrow = nr <= V_LEN;
    if (bpanel) {
        ka->b = bpanel + (size_t)(jr - g->jc) * kc;
        ka->b_ps = NR;
    } else if (g->bdirect && nr == (narrow ? V_LEN : NR)) {
        ka->b = g->b + (size_t)pc * g->ldb + jr;
        ka->b_ps = (ptrdiff_t)g->ldb;
    } else {
        if (fresh)
            pack_b(g->tb, g->b, g->ldb, jr, nr, pc, kc, bedge);
        ka->b = bedge;
        ka->b_ps = NR;
    }
}

/* Runs every tile of C rows [i0, i1) x columns [j0, j1) (j0 - g->jc a
 * multiple of NR) for k block [pc, pc + kc); out/ldo: where the tiles go. */
static void macro(const struct gjob *g, int tid, int i0, int i1, int j0, int j1, int pc,
                  int kc, const float *bpanel, const struct epi *e, float *out,
                  size_t ldo)
{
    struct cpu_tws *w = &g->tws[tid];
    const int rs = g->rs;
    struct kargs ka;
    ka.kc = kc;
    ka.e = e;
    ka.ldc = (ptrdiff_t)ldo;
    ka.a_ps = 1;
    ka.a_is = 1;
    ka.a_ts = 0;
    int strided = g->amode == A_ROWS;
    if (g->amode == A_PACK) {
        /* A sliver outside, packed once and kept in L1 over the B slivers */
        ka.ntiles = 1;
        for (int ir = i0; ir < i1; ir += rs) {
            int mr = imin(rs, i1 - ir);
            pack_a(g->ta, g->a, g->lda, ir, mr, pc, kc, w->apack);
            ka.a = w->apack;
            ka.a_ps = mr;
            for (int jr = j0; jr < j1; jr += NR) {
                int nr = imin(NR, j1 - jr);
                b_sliver(g, &ka, bpanel, w->bedge, jr, nr, pc, kc, ir == i0);
                ka.nr = nr;
                ka.c = out + (size_t)ir * ldo + jr;
                ka.bias = e->bias ? e->bias + jr : NULL;
                ktab[0][nr <= V_LEN][mr](&ka);
            }
        }
        return;
    }
    /* A read in place: B sliver outside (in L1), every row tile inside, in
     * one kernel call per tile height */
    int full = (i1 - i0) / rs, rest = (i1 - i0) % rs;
    for (int jr = j0; jr < j1; jr += NR) {
        int nr = imin(NR, j1 - jr);
        b_sliver(g, &ka, bpanel, w->bedge, jr, nr, pc, kc, 1);
        ka.nr = nr;
        ka.bias = e->bias ? e->bias + jr : NULL;
        for (int part = 0; part < 2; part++) {
            int ir = part ? i0 + full * rs : i0;
            int mr = part ? rest : rs;
            ka.ntiles = part ? 1 : full;
            if (mr == 0 || ka.ntiles == 0)
                continue;
            if (strided) {
                ka.a = g->a + (size_t)ir * g->lda + pc;
                ka.a_is = (ptrdiff_t)g->lda;
                ka.a_ts = (ptrdiff_t)((size_t)rs * g->lda);
            } else {
                ka.a = g->a + (size_t)pc * g->lda + ir;
                ka.a_ps = (ptrdiff_t)g->lda;
                ka.a_ts = rs;
            }
            ka.c = out + (size_t)ir * ldo + jr;
            ktab[strided][nr <= V_LEN][mr](&ka);
        }
    }
}

static void task_rows(void *v, int t, int tid)
{
    const struct gjob *g = v;
    int ib = t % g->nmb, jb = t / g->nmb;
    /* whole slivers, shared out as evenly as they go */
    int i0 = (int)((long)ib * g->msl / g->nmb) * g->rs;
    int i1 = imin(g->m, (int)((long)(ib + 1) * g->msl / g->nmb) * g->rs);
    int j0 = g->jc + (int)((long)jb * g->nsl / g->nnb) * NR;
    int j1 = imin(g->jc + g->nc, g->jc + (int)((long)(jb + 1) * g->nsl / g->nnb) * NR);
    macro(g, tid, i0, i1, j0, j1, g->pc, g->kc, g->bpanel, &g->e, g->c, g->ldc);
}

/* packs slivers [t * per, ...) of the current B panel */
struct bpack_job {
    const struct gjob *g;
    float *dst;
    int per; /* slivers per task */
};

static void task_packb(void *v, int t, int tid)
{
    const struct bpack_job *bj = v;
    const struct gjob *g = bj->g;
    (void)tid;
    int nsl = cdiv(g->nc, NR);
    for (int s = t * bj->per; s < nsl && s < (t + 1) * bj->per; s++) {
        int j = g->jc + s * NR;
        pack_b(g->tb, g->b, g->ldb, j, imin(NR, g->jc + g->nc - j), g->pc, g->kc,
               bj->dst + (size_t)s * NR * g->kc);
    }
}

/* k-split: task t computes k block q for a block of rows, raw, into part q */
static void task_ksplit(void *v, int t, int tid)
{
    const struct gjob *g = v;
    int q = t % g->nq, ib = t / g->nq;
    int i0 = ib * g->mb, i1 = imin(g->m, i0 + g->mb);
    int pc = q * g->kcb, kc = imin(g->kcb, g->k - pc);
    struct epi raw;
    epi_init(&raw, 1.0f, 0.0f, 1, NULL);
    raw.mode = E_RAW;
    const float *bpanel = NULL;
    if (!g->bdirect) {
        /* this task's own copy of the k block of op(B) (n <= NC) */
        float *bp = g->tws[tid].bpanel;
        for (int s = 0; s * NR < g->n; s++)
            pack_b(g->tb, g->b, g->ldb, s * NR, imin(NR, g->n - s * NR), pc, kc,
                   bp + (size_t)s * NR * kc);
        bpanel = bp;
    }
    macro(g, tid, i0, i1, 0, g->n, pc, kc, bpanel, &raw, g->part + (size_t)q * g->m * g->n,
          (size_t)g->n);
}

/* ------------------------------------------------------------ few columns */

/* op(B) stored transposed (tb = 1) with n <= DOT_NMAX columns, A as stored
 * (ta = 0): a Linear layer with few outputs, x W^T.  A register tile would
 * use n of its NR columns; here every output is a dot product along k of a
 * row of A and a row of B, V_LEN of them at once (rows x padded columns),
 * reduced to one vector by v_reduce_lanes.  Each output's arithmetic is the
 * same wherever it lies. */
#define DOT_NMAX 4
#define DOT_KMIN 8

struct djob {
    const struct gjob *g;
    int rpb;   /* rows per block: V_LEN / padded n */
    int per;   /* blocks per task */
    vf bpat;   /* bias of lane l's column, or 0 */
};

V_INLINE void dot_body(const int n, const int full, const struct djob *d, int i, int rows)
{
    const struct gjob *g = d->g;
    const int np = n == 3 ? 4 : n, rpb = V_LEN / np, k = g->k;
    const float *a = g->a + (size_t)i * g->lda;
    const size_t lda = g->lda, ldb = g->ldb;
    /* row by row, k innermost (few live registers); the n sums of a row
     * wait in memory for the block's reduction */
    vf acc[V_LEN];
    UNROLL for (int r = 0; r < rpb; r++) {
        vf s[DOT_NMAX];
        UNROLL for (int j = 0; j < np; j++)
            s[j] = v_zero();
        if (full || r < rows) {
            const float *x = a + (size_t)r * lda;
            for (int p = 0; p < k; p += V_LEN) {
                int w = imin(V_LEN, k - p);
                vf xv = v_loadp(x + p, w);
                UNROLL for (int j = 0; j < n; j++)
                    s[j] = v_fma(xv, v_loadp(g->b + (size_t)j * ldb + p, w), s[j]);
            }
        }
        UNROLL for (int j = 0; j < np; j++)
            acc[r * np + j] = s[j];
    }
    vf t = v_reduce_lanes(acc);
    const struct epi *e = &g->e;
    float *c = g->c + (size_t)i * g->ldc;
    float tmp[V_LEN];
    if (e->mode != E_SET) {
        /* alpha != 1 or beta != 0: the old C, gathered */
        memset(tmp, 0, sizeof tmp);
        if (e->beta != 0.0f)
            for (int r = 0; r < rows; r++)
                for (int j = 0; j < n; j++)
                    tmp[r * np + j] = c[(size_t)r * g->ldc + j];
        t = epi_lin(e, t, tmp, V_LEN);
    }
    if (e->bias)
        t = v_add(t, d->bpat);
    t = act_is_cheap(e->act) ? act_cheap(e->act, e->act_alpha, t) : v_act(e->act, e->act_alpha, t);
    if (full && np == n && g->ldc == (size_t)n) {
        v_store(c, t);
        return;
    }
    v_store(tmp, t);
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < n; j++)
            c[(size_t)r * g->ldc + j] = tmp[r * np + j];
}

#define DOT_CASE(N)                                                                  \
    case N:                                                                          \
        for (; i + d->rpb <= i1; i += d->rpb)                                        \
            dot_body(N, 1, d, i, d->rpb);                                            \
        if (i < i1)                                                                  \
            dot_body(N, 0, d, i, i1 - i);                                            \
        break;

static void task_dot(void *v, int t, int tid)
{
    const struct djob *d = v;
    (void)tid;
    const struct gjob *g = d->g;
    int i = t * d->per * d->rpb, i1 = imin(g->m, i + d->per * d->rpb);
    switch (g->n) {
        DOT_CASE(1)
        DOT_CASE(2)
        DOT_CASE(3)
        DOT_CASE(4)
    default:
        break;
    }
}
#undef DOT_CASE

static void gemm_dot(crease_ctx *c, struct gjob *g, int par)
{
    struct djob d;
    d.g = g;
    int np = g->n == 3 ? 4 : g->n;
    d.rpb = V_LEN / np;
    float bp[V_LEN];
    for (int l = 0; l < V_LEN; l++)
        bp[l] = g->e.bias && l % np < g->n ? g->e.bias[l % np] : 0.0f;
    d.bpat = v_load(bp);
    int blocks = cdiv(g->m, d.rpb);
    int ntasks = par ? imin(blocks, 4 * c->nthreads) : 1;
    d.per = cdiv(blocks, ntasks);
    ntasks = cdiv(blocks, d.per);
    if (ntasks > 1)
        cpu_pool_run(c->pool, task_dot, &d, ntasks);
    else
        task_dot(&d, 0, 0);
}

/* The k-block partials S_q^T (n x m each) of a swapped product, folded into
 * C in k order with the epilogue's arithmetic, vectors along C's rows. */
static void fold_swapped(const struct gjob *g, const float *part)
{
    const int m = g->m, n = g->n, nq = g->nq;
    for (int i0 = 0; i0 < m; i0 += V_LEN) {
        int w = imin(V_LEN, m - i0);
        for (int j = 0; j < n; j++) {
            float tmp[V_LEN];
            vf cur = v_zero();
            for (int q = 0; q < nq; q++) {
                struct epi e;
                epi_init(&e, g->alpha, g->beta, q == 0, q == nq - 1 ? g->post : NULL);
                vf s = v_loadp(part + ((size_t)q * n + j) * m + i0, w);
                if (q == 0) {
                    memset(tmp, 0, sizeof tmp);
                    if (g->beta != 0.0f)
                        for (int l = 0; l < w; l++)
                            tmp[l] = g->c[(size_t)(i0 + l) * g->ldc + j];
                    cur = epi_lin(&e, s, tmp, V_LEN);
                } else {
                    v_store(tmp, cur);
                    cur = epi_lin(&e, s, tmp, V_LEN);
                }
                if (q == nq - 1) {
                    if (e.bias)
                        cur = v_add(cur, v_set1(e.bias[j]));
                    cur = act_is_cheap(e.act) ? act_cheap(e.act, e.act_alpha, cur)
                                              : v_act(e.act, e.act_alpha, cur);
                }
            }
            v_store(tmp, cur);
            for (int l = 0; l < w; l++)
                g->c[(size_t)(i0 + l) * g->ldc + j] = tmp[l];
        }
    }
}

/* Packing space: an A sliver and a B edge sliver per thread, and thread
 * 0's B panel (shared), on the first GEMM of the context; the other
 * threads' panels on the first k-split that packs B.  Kept until the
 * context closes, so a training step never allocates. */
static int ensure_ws(crease_ctx *c, int all_panels)
{
    for (int i = 0; i < c->nthreads; i++) {
        struct cpu_tws *w = &c->tws[i];
        if (!w->apack)
            w->apack = cpu_alloc((size_t)MRMAX * KC * sizeof(float), "gemm packing");
        if (!w->bedge)
            w->bedge = cpu_alloc((size_t)KC * NR * sizeof(float), "gemm packing");
        if (!w->bpanel && (i == 0 || all_panels))
            w->bpanel = cpu_alloc((size_t)KC * NC * sizeof(float), "gemm packing");
        if (!w->apack || !w->bedge || ((i == 0 || all_panels) && !w->bpanel))
            return CREASE_ENOMEM; /* what was allocated is freed with the context */
    }
    return 0;
}

/* C = beta C, then the post ops: k == 0 or alpha == 0 (A, B not read) */
static void scale_only(float *cm, size_t ldc, int m, int n, float beta,
                       const struct cpu_post *post)
{
    for (int i = 0; i < m; i++) {
        float *ci = cm + (size_t)i * ldc;
        for (int j = 0; j < n; j += V_LEN) {
            int w = imin(V_LEN, n - j);
            vf t = beta == 0.0f ? v_zero() : v_mul(v_set1(beta), v_loadp(ci + j, w));
            if (post && post->bias)
                t = v_add(t, v_loadp(post->bias + j, w));
            if (post)
                t = act_cheap(post->act, post->alpha, t);
            v_storep(ci + j, t, w);
        }
    }
    if (post && !act_is_cheap(post->act))
        act_rows(cm, ldc, m, n, post->act, post->alpha);
}

int cpu_gemm(crease_ctx *c, int ta, int tb, int m, int n, int k, float alpha,
             const float *a, size_t lda, const float *b, size_t ldb, float beta,
             float *cm, size_t ldc, const struct cpu_post *post)
{
    if (m == 0 || n == 0)
        return 0;
    if (k == 0 || alpha == 0.0f) {
        scale_only(cm, ldc, m, n, beta, post);
        return 0;
    }
    int rc = ensure_ws(c, 0);
    if (rc)
        return rc;

    struct gjob g;
    memset(&g, 0, sizeof g);
    g.ta = ta, g.tb = tb, g.m = m, g.n = n, g.k = k;
    g.a = a, g.b = b, g.lda = lda, g.ldb = ldb, g.c = cm, g.ldc = ldc;
    g.alpha = alpha, g.beta = beta, g.post = post, g.tws = c->tws;

    /* how to read the operands: a function of the shape alone */
    if (ta && (lda <= DIRECT_LD || n <= NR))
        g.amode = A_COLS;
    else if (!ta && n <= 2 * NR)
        g.amode = A_ROWS;
    else
        g.amode = A_PACK;
    g.rs = g.amode == A_ROWS ? MRD : MR;
    g.bdirect = !tb && (ldb <= DIRECT_LD || m <= g.rs);
    /* small C, long k (weight gradients): short k blocks, so that even a
     * batch of a few hundred gives the k-split pieces to share out (the
     * block is part of the result, so it depends on the shape alone) */
    g.kcb = (long)m * n <= KSMALL_MN ? KSMALL_KC : KC;
    g.nq = cdiv(k, g.kcb);

    int nt = c->nthreads;
    int par = nt > 1 && (double)m * n * k >= PAR_MIN_WORK;

    /* few columns of a transposed B times A as stored: dot products */
    if (V_LEN >= DOT_NMAX && !ta && tb && n <= DOT_NMAX && k >= DOT_KMIN) {
        epi_init(&g.e, alpha, beta, 1, post);
        gemm_dot(c, &g, par);
        return 0;
    }

    /* few columns of B as stored times A transposed (the weight gradient
     * dY^T X of a layer with few inputs): C^T = op(B)^T op(A)^T through the
     * kernels, whose vectors then run along m; k-block partials, folded into
     * C in k order */
    if (ta && !tb && n <= DOT_NMAX && m > 2 * n &&
        (size_t)m * n * (size_t)g.nq <= KSPLIT_MAX_FLOATS) {
        struct gjob sw;
        memset(&sw, 0, sizeof sw);
        sw.ta = 1, sw.tb = 0, sw.m = n, sw.n = m, sw.k = k;
        sw.a = b, sw.lda = ldb, sw.b = a, sw.ldb = lda;
        sw.amode = A_COLS;
        sw.rs = MR;
        sw.bdirect = 1; /* n <= 4 rows of tiles: each element of B' is read once */
        sw.kcb = g.kcb;
        sw.nq = g.nq;
        sw.tws = c->tws;
        sw.mb = n;
        sw.nmb = 1;
        void *ws;
        rc = cpu_scratch(c, (size_t)m * n * (size_t)g.nq * sizeof(float), &ws);
        if (rc)
            return rc;
        sw.part = ws;
        if (par && g.nq > 1)
            cpu_pool_run(c->pool, task_ksplit, &sw, g.nq);
        else
            for (int q = 0; q < g.nq; q++)
                task_ksplit(&sw, q, 0);
        fold_swapped(&g, sw.part);
        return 0;
    }

    /* k-split: C has too few tiles for the threads, k is long */
    long tiles = (long)cdiv(m, g.rs) * cdiv(n, NR);
    if (par && tiles < 2L * nt && g.nq >= 2 && n <= NC &&
        (size_t)m * n * (size_t)g.nq <= KSPLIT_MAX_FLOATS) {
        void *ws;
        rc = cpu_scratch(c, (size_t)m * n * (size_t)g.nq * sizeof(float), &ws);
        if (!rc && !g.bdirect)
            rc = ensure_ws(c, 1);
        if (rc)
            return rc;
        g.part = ws;
        g.mb = m; /* rows are not split: tiles are few */
        g.nmb = 1;
        cpu_pool_run(c->pool, task_ksplit, &g, g.nq);
        for (int q = 0; q < g.nq; q++) {
            struct epi e;
            epi_init(&e, alpha, beta, q == 0, q == g.nq - 1 ? post : NULL);
            epi_rows(&e, e.bias, cm, ldc, g.part + (size_t)q * m * n, (size_t)n, m, n);
        }
        return 0;
    }

    /* tasks: blocks of rows (whole slivers), and if rows are too few for
     * the threads, blocks of columns too */
    int want = par ? 4 * nt : 1;
    g.msl = cdiv(m, g.rs);
    g.nmb = imin(want, g.msl);

    for (g.jc = 0; g.jc < n; g.jc += NC) {
        g.nc = imin(NC, n - g.jc);
        int nsl = g.nsl = cdiv(g.nc, NR);
        g.nnb = par && g.nmb < 2 * nt ? imin(cdiv(want, g.nmb), nsl) : 1;
        for (g.pc = 0; g.pc < k; g.pc += g.kcb) {
            g.kc = imin(g.kcb, k - g.pc);
            g.bpanel = NULL;
            if (!g.bdirect) {
                /* the shared panel lives in thread 0's workspace */
                struct bpack_job bj = {&g, c->tws[0].bpanel, 0};
                int ntp = par && nsl >= 4 ? imin(nsl, 2 * nt) : 1;
                bj.per = cdiv(nsl, ntp);
                ntp = cdiv(nsl, bj.per);
                if (ntp > 1)
                    cpu_pool_run(c->pool, task_packb, &bj, ntp);
                else
                    task_packb(&bj, 0, 0);
                g.bpanel = bj.dst;
            }
            epi_init(&g.e, alpha, beta, g.pc == 0, g.pc + g.kc == k ? post : NULL);
            int ntasks = g.nmb * g.nnb;
            if (par && ntasks > 1)
                cpu_pool_run(c->pool, task_rows, &g, ntasks);
            else
                for (int t = 0; t < ntasks; t++)
                    task_rows(&g, t, 0);
        }
    }
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
