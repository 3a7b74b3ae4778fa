/* cpu.h -- internals of the CPU backend plugin (not installed).
 *
 * The same sources are built into one plugin per instruction set:
 *
 *   crease-cpu.so          "portable"  plain C11 + GNU vector types
 *   crease-cpu-avx2.so     "avx2"      -mavx2 -mfma
 *   crease-cpu-avx512.so   "avx512"    -mavx512f/dq/vl/bw -mfma
 *   crease-cpu-neon.so     "neon"      AArch64 NEON intrinsics
 *
 * Each is linked from two parts.  plugin.c and pool.c (the entry point,
 * score(), init, devices, memory, the thread pool) are compiled with the
 * baseline flags only, so that loading a variant and asking its score()
 * never executes an instruction the processor may lack.  gemm.c and ops.c
 * (everything behind the ops table, reached only after the loader has
 * chosen the variant) are compiled with the variant's flags, into a libtool
 * convenience library of their own.  CPU_VARIANT_<NAME> names the variant
 * to both parts.
 *
 * Numerical contract inside this plugin: every result is a pure function
 * of the inputs and the shape.  Work is cut into tasks by shape only; which
 * thread runs a task never changes its arithmetic, and partial results are
 * always combined in a fixed order.  So results are bit-identical from run
 * to run and for any number of threads (variants differ from each other in
 * the last bits: FMA, vector width, their own exp).
 */
#ifndef CREASE_CPU_H
#define CREASE_CPU_H

#include <crease/backend.h>

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define CPU_HIDDEN __attribute__((visibility("hidden")))
#define CPU_NOINLINE __attribute__((noinline))
#define CPU_UNUSED __attribute__((unused))
#define CPU_PREFETCH(p) __builtin_prefetch(p)
#else
#define CPU_HIDDEN
#define CPU_NOINLINE
#define CPU_UNUSED
#define CPU_PREFETCH(p) ((void)(p))
#endif

#if defined(CPU_VARIANT_AVX512)
#define CPU_VARIANT "avx512"
#elif defined(CPU_VARIANT_AVX2)
#define CPU_VARIANT "avx2"
#elif defined(CPU_VARIANT_NEON)
#define CPU_VARIANT "neon"
#else
#define CPU_VARIANT "portable"
#endif

#define CPU_ALIGN 64 /* buffer and workspace alignment, bytes */

/* ------------------------------------------------------------ buffers */

#define CPU_BUF_MAGIC 0x43505542u /* "CPUB": catches foreign or freed handles */

struct crease_buf {
    uint32_t magic;
    size_t bytes; /* size asked for */
    void *data;   /* CPU_ALIGN-aligned, at least CPU_ALIGN bytes */
};

/* ------------------------------------------------------------ thread pool */

/* A task body: task index in [0, ntasks), tid in [0, threads) names the
 * thread (0 = the caller) and so its private workspace. */
typedef void (*cpu_task_fn)(void *arg, int task, int tid);

struct cpu_pool;

/* nthreads counts the caller; nthreads - 1 workers are started (fewer if
 * thread creation fails, which is not an error).  Returns NULL only when
 * memory is short. */
CPU_HIDDEN struct cpu_pool *cpu_pool_new(int nthreads);
CPU_HIDDEN void cpu_pool_free(struct cpu_pool *p);
CPU_HIDDEN int cpu_pool_threads(const struct cpu_pool *p);
/* Runs fn for every task and returns when all are done.  Tasks are claimed
 * dynamically; correctness must not depend on which thread runs which. */
CPU_HIDDEN void cpu_pool_run(struct cpu_pool *p, cpu_task_fn fn, void *arg,
                             int ntasks);

/* Thread count from $CREASE_NUM_THREADS, else the online CPUs. */
CPU_HIDDEN int cpu_default_threads(void);

/* ------------------------------------------------------------ context */

/* Per-thread GEMM packing space, allocated on the first GEMM of a context
 * and kept (so a training step never allocates). */
struct cpu_tws {
    float *apack;  /* one A sliver */
    float *bedge;  /* one B sliver (the ragged edge of an unpacked B) */
    float *bpanel; /* a k block x NC panel of B (thread 0's is shared) */
};

struct crease_ctx {
    int index;
    int nthreads;
    struct cpu_pool *pool;
    struct cpu_tws *tws; /* nthreads entries, packing buffers on first GEMM */
    void *scratch;       /* grow-only: partial sums of reductions, k-splits */
    size_t scratch_bytes;
};

CPU_HIDDEN extern const struct crease_host *cpu_host;

/* host->set_error when the host gives one; returns status. */
CPU_HIDDEN int cpu_error(int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* 64-byte aligned allocation; NULL and an ENOMEM error naming the size and
 * `what` on failure.  Free with cpu_free. */
CPU_HIDDEN void *cpu_alloc(size_t bytes, const char *what);
CPU_HIDDEN void cpu_free(void *p);
/* Makes c->scratch at least `bytes` long (grow-only). */
CPU_HIDDEN int cpu_scratch(crease_ctx *c, size_t bytes, void **out);

/* Argument checks; each returns 0 or sets an EINVAL error naming op/arg. */
CPU_HIDDEN int cpu_check_buf(const char *op, const char *arg,
                             const crease_buf *b, size_t n_floats);
CPU_HIDDEN int cpu_check_dim(const char *op, const char *arg, long v);
/* A known activation; leaky ReLU's slope in [0, 1), the range in which
 * act_bwd can tell the input's sign from the output's. */
CPU_HIDDEN int cpu_check_act(const char *op, int act, float alpha);

static inline float *cpu_f(const crease_buf *b)
{
    return (float *)b->data;
}

/* Runs body(arg, begin, end) over [0, n) cut into pieces of `grain`, on the
 * pool when n is big enough.  For element-wise work only (the cut does not
 * matter to the result). */
typedef void (*cpu_range_fn)(void *arg, size_t begin, size_t end);
CPU_HIDDEN void cpu_parallel_for(crease_ctx *c, size_t n, size_t grain,
                                 size_t min_parallel, cpu_range_fn body,
                                 void *arg);

/* ------------------------------------------------------------ GEMM */

/* Applied to C after the last k block (dense_fwd): C = act(C + bias). */
struct cpu_post {
    const float *bias; /* n values, or NULL */
    int act;
    float alpha;
};

/* C = alpha op(A) op(B) + beta C (+ post), arguments already validated. */
CPU_HIDDEN int cpu_gemm(crease_ctx *c, int ta, int tb, int m, int n, int k,
                        float alpha, const float *a, size_t lda,
                        const float *b, size_t ldb, float beta, float *cm,
                        size_t ldc, const struct cpu_post *post);

/* ------------------------------------------------------------ ops table */

CPU_HIDDEN int cpu_op_gemm(crease_ctx *c, int ta, int tb, int m, int n, int k,
                           float alpha, const crease_buf *a, int lda,
                           const crease_buf *b, int ldb, float beta,
                           crease_buf *cm, int ldc);
CPU_HIDDEN int cpu_op_dense_fwd(crease_ctx *c, int act, float alpha, int m,
                                int n, int k, const crease_buf *x,
                                const crease_buf *w, const crease_buf *bias,
                                crease_buf *y);

CPU_HIDDEN int cpu_op_fill(crease_ctx *c, crease_buf *x, size_t n, float v);
CPU_HIDDEN int cpu_op_bias_add(crease_ctx *c, int rows, int cols,
                               crease_buf *y, const crease_buf *bias);
CPU_HIDDEN int cpu_op_reduce_rows(crease_ctx *c, int rows, int cols,
                                  const crease_buf *x, float beta,
                                  crease_buf *out);
CPU_HIDDEN int cpu_op_sum(crease_ctx *c, size_t n, const crease_buf *x,
                          float beta, crease_buf *out, size_t out_off);
CPU_HIDDEN int cpu_op_scale(crease_ctx *c, size_t n, float alpha,
                            crease_buf *x);
CPU_HIDDEN int cpu_op_axpy(crease_ctx *c, size_t n, float alpha,
                           const crease_buf *x, crease_buf *y);
CPU_HIDDEN int cpu_op_act_fwd(crease_ctx *c, int act, float alpha, size_t n,
                              const crease_buf *x, crease_buf *y);
CPU_HIDDEN int cpu_op_act_bwd(crease_ctx *c, int act, float alpha, size_t n,
                              const crease_buf *y, const crease_buf *dy,
                              crease_buf *dx);
CPU_HIDDEN int cpu_op_softmax_xent(crease_ctx *c, int rows, int cols,
                                   const crease_buf *logits,
                                   const crease_buf *labels, float grad_scale,
                                   crease_buf *grad, crease_buf *loss);
CPU_HIDDEN int cpu_op_bce_logits(crease_ctx *c, size_t n, const crease_buf *z,
                                 const crease_buf *t, float grad_scale,
                                 crease_buf *grad, crease_buf *loss);
CPU_HIDDEN int cpu_op_mse(crease_ctx *c, size_t n, const crease_buf *p,
                          const crease_buf *t, float grad_scale,
                          crease_buf *grad, crease_buf *loss);
CPU_HIDDEN int cpu_op_confusion(crease_ctx *c, int rows, int cols,
                                const crease_buf *logits,
                                const crease_buf *labels, crease_buf *conf);
CPU_HIDDEN int cpu_op_gather_rows(crease_ctx *c, int rows, int cols,
                                  const crease_buf *src, const crease_buf *idx,
                                  size_t idx_off, crease_buf *dst);
CPU_HIDDEN int cpu_op_sgd_update(crease_ctx *c, size_t n, crease_buf *w,
                                 const crease_buf *grad, crease_buf *v,
                                 float lr, float momentum, float weight_decay,
                                 int nesterov);
CPU_HIDDEN int cpu_op_adam_update(crease_ctx *c, size_t n, crease_buf *w,
                                  const crease_buf *grad, crease_buf *m,
                                  crease_buf *v, float lr, float beta1,
                                  float beta2, float eps, float weight_decay,
                                  int decoupled, float bc1, float bc2);

#endif
