/*
 * crease/backend.h -- the plugin ABI.
 *
 * This header is for backend authors only.  Applications use <crease.h>.
 *
 * A backend plugin is a shared object (built with libtool -module
 * -avoid-version) whose file name starts with "crease-" and that exports
 * exactly one symbol:
 *
 *     const struct crease_plugin *crease_plugin_entry(void);
 *
 * The core dlopen()s every such file on its search path, checks the ABI
 * major version and the struct sizes, asks score() whether the variant can
 * run on this machine, and keeps, per plugin name, the variant with the
 * highest score.
 *
 * Versioning rules
 *   - CREASE_ABI_MAJOR changes when an existing slot changes meaning or
 *     signature.  The core refuses a plugin with another major.
 *   - CREASE_ABI_MINOR grows when slots are appended.  Every table starts
 *     with its own size, so a newer core can run an older plugin: a slot past
 *     the end of a shorter table, or a NULL slot, means "not offered".
 *
 * Conventions for every op
 *   - All tensors are float32, row-major, dense.  Buffers are opaque device
 *     allocations (crease_buf); element counts are in floats unless a
 *     parameter name ends in _bytes.
 *   - Ops are asynchronous with respect to the host except buf_read() and
 *     finish(), which return when all earlier work on the context is done.
 *     Ops on one context execute in the order they are issued.
 *   - Every op returns 0 on success or a negative crease_status.  On failure
 *     the plugin calls host->set_error() with the detail (which call, which
 *     size, the build log...) before returning.
 *   - A plugin must not call exit(), abort() or print to stdout.
 *   - Determinism: the same call with the same inputs on the same device
 *     gives the same bits, whatever the timing or thread count (fixed
 *     work split, fixed combination order).  Training parity and
 *     reproducible loss curves rely on it.
 *   - NaN and Inf propagate as IEEE arithmetic says (relu(NaN) = NaN).
 *   - Invalid data values the device cannot check cheaply (a label out of
 *     range, a gather index past the source) give an undefined result but
 *     never an out-of-bounds access; a backend may return CREASE_EINVAL.
 *   - A context is used by one host thread at a time.
 *   - A process must not fork() while plugins are loaded and then use them
 *     in the child (threaded runtimes such as PoCL hang there).
 */
#ifndef CREASE_BACKEND_H
#define CREASE_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CREASE_ABI_MAJOR 1
#define CREASE_ABI_MINOR 0

/* Status codes shared by the core and the plugins (see crease_status_str). */
enum {
    CREASE_OK = 0,
    CREASE_EINVAL = -1,      /* invalid argument (bad value, shape, name) */
    CREASE_ENOMEM = -2,      /* host or device memory exhausted / too large */
    CREASE_EIO = -3,         /* file could not be read or written */
    CREASE_EFORMAT = -4,     /* malformed file contents */
    CREASE_ENODEV = -5,      /* no such backend or device */
    CREASE_EPLUGIN = -6,     /* plugin could not be loaded or initialised */
    CREASE_EBACKEND = -7,    /* the backend's driver/runtime reported an error */
    CREASE_EUNSUPPORTED = -8,/* operation not offered by this backend */
    CREASE_EDEVICE_LOST = -9 /* an earlier asynchronous error made the device unusable */
};

/* Activation functions understood by act_fwd/act_bwd/dense_fwd. */
enum crease_act {
    CREASE_ACT_IDENTITY = 0,
    CREASE_ACT_RELU = 1,
    CREASE_ACT_LEAKY_RELU = 2, /* y = x > 0 ? x : alpha * x, alpha in [0, 1) */
    CREASE_ACT_TANH = 3,
    CREASE_ACT_SIGMOID = 4
};

typedef struct crease_buf crease_buf;    /* a device allocation, opaque */
typedef struct crease_ctx crease_ctx;    /* an opened device, opaque */

/* Services the core gives every plugin at init time. */
struct crease_host {
    size_t size;
    /* Record detail for the calling thread's last error (printf-style).
     * Returns status so plugins can write `return host->set_error(...)`. */
    int (*set_error)(int status, const char *fmt, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 2, 3)))
#endif
        ;
    /* Diagnostic log line (shown with CREASE_LOG=debug). level: 0 error,
     * 1 warning, 2 info, 3 debug. */
    void (*log)(int level, const char *fmt, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 2, 3)))
#endif
        ;
};

struct crease_device_info {
    size_t size;               /* set by the caller to sizeof(struct ...) */
    char name[128];            /* "AMD EPYC 9R14 (avx2)", "NVIDIA H100" */
    char vendor[64];
    char platform[64];         /* OpenCL platform name; "" for cpu */
    char driver_version[64];
    char language_version[64]; /* "OpenCL C 1.2"; "" for cpu */
    char type[16];             /* "cpu", "gpu", "accelerator", "other" */
    int compute_units;         /* cores / compute units */
    uint64_t global_mem_bytes;
    uint64_t max_alloc_bytes;
    int fp16;                  /* 1 if half precision is supported */
    int fp64;                  /* 1 if double precision is supported */
};

/* The ops table.  Slots marked [optional] may be NULL. */
struct crease_ops {
    size_t size; /* sizeof(struct crease_ops) as the plugin was built */

    /* ---- memory ---- */
    int (*buf_alloc)(crease_ctx *c, size_t n_bytes, crease_buf **out);
    void (*buf_free)(crease_ctx *c, crease_buf *b); /* NULL b is a no-op */
    /* The host memory may be reused as soon as buf_write returns. */
    int (*buf_write)(crease_ctx *c, crease_buf *dst, size_t off_bytes,
                     size_t n_bytes, const void *src);
    /* Blocks until all earlier work is done and the data is in dst. */
    int (*buf_read)(crease_ctx *c, const crease_buf *src, size_t off_bytes,
                    size_t n_bytes, void *dst);
    int (*buf_copy)(crease_ctx *c, crease_buf *dst, size_t dst_off_bytes,
                    const crease_buf *src, size_t src_off_bytes,
                    size_t n_bytes);
    /* x[0..n) = value */
    int (*fill)(crease_ctx *c, crease_buf *x, size_t n, float value);
    /* Wait for all issued work; reports asynchronous errors. */
    int (*finish)(crease_ctx *c);

    /* ---- dense linear algebra ----
     * C = alpha * op(A) * op(B) + beta * C, row-major (like cblas RowMajor).
     * op(A) is m x k: A is stored m x k (ta = 0) or k x m (ta = 1), with
     * row stride lda.  op(B) is k x n likewise, with ldb.  C is m x n with
     * row stride ldc.  beta == 0 means C is not read (NaN in C is ignored).
     * m, n or k may be 1; k == 0 gives C = beta * C. */
    int (*gemm)(crease_ctx *c, int ta, int tb, int m, int n, int k,
                float alpha, const crease_buf *a, int lda,
                const crease_buf *b, int ldb, float beta, crease_buf *cm,
                int ldc);
    /* y[r * cols + j] += bias[j] for r < rows */
    int (*bias_add)(crease_ctx *c, int rows, int cols, crease_buf *y,
                    const crease_buf *bias);
    /* out[j] = beta * out[j] + sum_r x[r * cols + j]; beta == 0: out not read */
    int (*reduce_rows)(crease_ctx *c, int rows, int cols, const crease_buf *x,
                       float beta, crease_buf *out);
    /* out[out_off] = beta * out[out_off] + sum_{i<n} x[i] (accumulated in
     * at least float32 with pairwise or compensated summation) */
    int (*sum)(crease_ctx *c, size_t n, const crease_buf *x, float beta,
               crease_buf *out, size_t out_off);
    /* x *= alpha */
    int (*scale)(crease_ctx *c, size_t n, float alpha, crease_buf *x);
    /* y += alpha * x */
    int (*axpy)(crease_ctx *c, size_t n, float alpha, const crease_buf *x,
                crease_buf *y);

    /* ---- activations ----
     * y = f(x), elementwise over n values; y may be the same buffer as x. */
    int (*act_fwd)(crease_ctx *c, int act, float alpha, size_t n,
                   const crease_buf *x, crease_buf *y);
    /* dx = f'(.) * dy, written in terms of the OUTPUT y of act_fwd
     * (relu/leaky: y > 0; tanh: 1 - y^2; sigmoid: y (1 - y); identity: 1).
     * dx may be the same buffer as dy. */
    int (*act_bwd)(crease_ctx *c, int act, float alpha, size_t n,
                   const crease_buf *y, const crease_buf *dy, crease_buf *dx);

    /* ---- losses ----  Each writes the per-element (or per-row) loss into
     * loss (if not NULL) and grad_scale * d(loss)/d(input) into grad (if
     * not NULL).  grad may not alias the inputs. */
    /* Softmax cross-entropy over rows x cols logits; labels[r] holds the
     * class index as a float.  A row whose label is < 0 is ignored: loss 0,
     * grad 0.  loss[r] = logsumexp(z_r) - z_r[label];
     * grad[r, j] = grad_scale * (softmax(z_r)_j - [j == label]). */
    int (*softmax_xent)(crease_ctx *c, int rows, int cols,
                        const crease_buf *logits, const crease_buf *labels,
                        float grad_scale, crease_buf *grad, crease_buf *loss);
    /* Binary cross-entropy on logits z with targets t in [0, 1]; t < 0 is
     * ignored.  loss[i] = max(z,0) - z t + log1p(exp(-|z|));
     * grad[i] = grad_scale * (sigmoid(z) - t). */
    int (*bce_logits)(crease_ctx *c, size_t n, const crease_buf *z,
                      const crease_buf *t, float grad_scale, crease_buf *grad,
                      crease_buf *loss);
    /* loss[i] = (p - t)^2; grad[i] = grad_scale * 2 (p - t). */
    int (*mse)(crease_ctx *c, size_t n, const crease_buf *p,
               const crease_buf *t, float grad_scale, crease_buf *grad,
               crease_buf *loss);
    /* Confusion counts: conf[label * K + pred] += 1 for every row with
     * label >= 0, where K = (cols == 1 ? 2 : cols), pred = argmax of the
     * row (lowest index wins ties; NaN never wins; an all-NaN row predicts
     * class 0) or, when cols == 1,
     * pred = (z > 0).  conf holds K*K floats and is accumulated into. */
    int (*confusion)(crease_ctx *c, int rows, int cols,
                     const crease_buf *logits, const crease_buf *labels,
                     crease_buf *conf);

    /* ---- data movement ----
     * dst[r * cols + j] = src[idx[idx_off + r] * cols + j], idx is uint32. */
    int (*gather_rows)(crease_ctx *c, int rows, int cols,
                       const crease_buf *src, const crease_buf *idx,
                       size_t idx_off, crease_buf *dst);

    /* ---- optimizers (one parameter tensor of n values) ----
     * SGD: g = grad + wd * w; v = momentum * v + g;
     *      w -= lr * (nesterov ? g + momentum * v : v).
     * With momentum == 0, v is not used and may be NULL (w -= lr * g). */
    int (*sgd_update)(crease_ctx *c, size_t n, crease_buf *w,
                      const crease_buf *grad, crease_buf *v, float lr,
                      float momentum, float weight_decay, int nesterov);
    /* Adam / AdamW.  g = grad + (decoupled ? 0 : wd * w);
     * m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
     * w -= lr * ( (m / bc1) / (sqrt(v / bc2) + eps) + (decoupled ? wd * w : 0) )
     * where bc1 = 1 - b1^t and bc2 = 1 - b2^t are computed by the caller. */
    int (*adam_update)(crease_ctx *c, size_t n, crease_buf *w,
                       const crease_buf *grad, crease_buf *m, crease_buf *v,
                       float lr, float beta1, float beta2, float eps,
                       float weight_decay, int decoupled, float bc1,
                       float bc2);

    /* ---- optional fused ops ---- */
    /* [optional] y = act(x * w^T + bias): x is m x k, w is n x k (PyTorch
     * Linear layout), bias n (NULL: no bias), y m x n. */
    int (*dense_fwd)(crease_ctx *c, int act, float alpha, int m, int n,
                     int k, const crease_buf *x, const crease_buf *w,
                     const crease_buf *bias, crease_buf *y);
};

struct crease_plugin {
    size_t size;          /* sizeof(struct crease_plugin) as built */
    int abi_major;        /* CREASE_ABI_MAJOR */
    int abi_minor;        /* CREASE_ABI_MINOR */
    const char *name;     /* backend name: "cpu", "opencl" */
    const char *variant;  /* "portable", "avx2", "avx512", "neon", "" */
    const char *description;

    /* 0: cannot run on this machine; higher is better.  Must be safe to
     * call on any machine (it must not execute instructions the variant
     * was compiled for). */
    int (*score)(void);
    /* Called once after loading, before anything else.  Returns 0, or a
     * negative status after host->set_error() explaining why (no ICD, no
     * device...).  The host struct outlives the plugin. */
    int (*init)(const struct crease_host *host);
    void (*fini)(void);

    int (*device_count)(void);
    /* info->size is set by the caller; fill up to that size. */
    int (*device_info)(int index, struct crease_device_info *info);
    int (*device_open)(int index, crease_ctx **out);
    void (*device_close)(crease_ctx *c);

    const struct crease_ops *ops;
};

typedef const struct crease_plugin *(*crease_plugin_entry_fn)(void);

#define CREASE_PLUGIN_ENTRY_SYMBOL "crease_plugin_entry"

#ifdef __cplusplus
}
#endif

#endif /* CREASE_BACKEND_H */
